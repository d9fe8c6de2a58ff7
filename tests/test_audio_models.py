"""torchaudio's models and transforms against independent references (issue: the torchaudio audit).

RNNTLoss: torchaudio's own CPU kernel ``rnnt_loss_forward`` was uncounted. Its count is checked
against a line-by-line Python transcription of ``libtorchaudio/rnnt/cpu/cpu_kernels.h`` that
tallies each scalar operation it performs, and whose loss and gradient are checked against
torchaudio's (so the transcription is the kernel's arithmetic)."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from conftest import Fn, run

torchaudio = pytest.importorskip("torchaudio")


def _rnnt_by_hand(logits, targets, blank, fused=True, clamp=-1.0):
    """The CPU kernel written out for sequences at full length (T, U = targets + 1): returns
    (costs, gradients, tally of scalar operations by category)."""
    n = Counter()
    B, T, U, D = logits.shape
    L = logits.double().tolist()
    costs, grads = [], torch.zeros(B, T, U, D, dtype=torch.float64)

    def lse(x, y):
        n["cmps"] += 1
        n["adds"] += 2
        n["transc"] += 2
        hi, lo = (y, x) if y > x else (x, y)
        return hi + math.log1p(math.exp(lo - hi))

    denom = [[[0.0] * U for _ in range(T)] for _ in range(B)]
    for b in range(B):          # LogSumExp2D over every lattice point
        for t in range(T):
            for u in range(U):
                row = L[b][t][u]
                m = row[0]
                for v in row[1:]:
                    n["cmps"] += 1
                    m = max(m, v)
                s = 0.0
                for j, v in enumerate(row):
                    n["adds"] += 1 + (j > 0)          # v − max, and the running sum (its first term a copy)
                    n["transc"] += 1
                    s += math.exp(v - m)
                n["transc"] += 1
                n["adds"] += 1
                denom[b][t][u] = m + math.log(s)
    for b in range(B):
        tgt = targets[b].tolist()
        skip = [[0.0] * U for _ in range(T)]
        emit = [[0.0] * U for _ in range(T)]
        for t in range(T):      # ComputeLogProbs (the subtractions happen in both modes)
            for u in range(U):
                if u < U - 1:
                    n["adds"] += 1
                    emit[t][u] = L[b][t][u][tgt[u]] - denom[b][t][u]
                n["adds"] += 1
                skip[t][u] = L[b][t][u][blank] - denom[b][t][u]
                if not fused:
                    if u < U - 1:
                        emit[t][u] = L[b][t][u][tgt[u]]
                    skip[t][u] = L[b][t][u][blank]
        alpha = [[0.0] * U for _ in range(T)]
        for t in range(1, T):
            n["adds"] += 1
            alpha[t][0] = alpha[t - 1][0] + skip[t - 1][0]
        for u in range(1, U):
            n["adds"] += 1
            alpha[0][u] = alpha[0][u - 1] + emit[0][u - 1]
        for t in range(1, T):
            for u in range(1, U):
                n["adds"] += 2
                alpha[t][u] = lse(alpha[t - 1][u] + skip[t - 1][u], alpha[t][u - 1] + emit[t][u - 1])
        n["adds"] += 1
        score = alpha[T - 1][U - 1] + skip[T - 1][U - 1]
        beta = [[0.0] * U for _ in range(T)]
        beta[T - 1][U - 1] = skip[T - 1][U - 1]
        for t in range(T - 2, -1, -1):
            n["adds"] += 1
            beta[t][U - 1] = beta[t + 1][U - 1] + skip[t][U - 1]
        for u in range(U - 2, -1, -1):
            n["adds"] += 1
            beta[T - 1][u] = beta[T - 1][u + 1] + emit[T - 1][u]
        for t in range(T - 2, -1, -1):
            for u in range(U - 2, -1, -1):
                n["adds"] += 2
                beta[t][u] = lse(beta[t + 1][u] + skip[t][u], beta[t][u + 1] + emit[t][u])
        n["mults"] += 1
        costs.append(-score)
        n["mults"] += 1
        cost = -beta[0][0]
        for t in range(T):      # ComputeGradientsOneSequence
            for u in range(U):
                if fused:
                    n["adds"] += 2
                    c = alpha[t][u] + cost - denom[b][t][u]
                for d in range(D):
                    if fused:
                        n["adds"] += 1
                        g = L[b][t][u][d] + c
                        n["adds"] += 1
                        n["transc"] += 1
                        first = math.exp(g + beta[t][u])
                        if d == blank and t == T - 1 and u == U - 1:
                            n["transc"] += 1
                            n["adds"] += 1
                            value = first - math.exp(g)
                        elif d == blank and t < T - 1:
                            n["adds"] += 2
                            n["transc"] += 1
                            value = first - math.exp(g + beta[t + 1][u])
                        elif u < U - 1 and d == tgt[u]:
                            n["adds"] += 2
                            n["transc"] += 1
                            value = first - math.exp(g + beta[t][u + 1])
                        else:
                            value = first
                    else:
                        n["adds"] += 1
                        g = cost + L[b][t][u][d]
                        if d == blank and t == T - 1 and u == U - 1:
                            n["adds"] += 1
                            g = g + alpha[t][u]
                        elif d == blank and t < T - 1:
                            n["adds"] += 2
                            g = g + alpha[t][u] + beta[t + 1][u]
                        elif u < U - 1 and d == tgt[u]:
                            n["adds"] += 2
                            g = g + alpha[t][u] + beta[t][u + 1]
                        else:
                            n["adds"] += 1
                            g = -math.inf
                        n["transc"] += 1
                        n["mults"] += 1
                        value = -math.exp(g)
                    if clamp > 0:
                        n["cmps"] += 2
                        n["assigns"] += 1
                        value = max(min(value, clamp), -clamp)
                    grads[b, t, u, d] = value
    return torch.tensor(costs, dtype=torch.float64), grads, n


@pytest.mark.parametrize("B, T, S, D, fused, clamp", [
    (1, 4, 2, 5, True, -1.0), (2, 3, 3, 4, True, -1.0), (1, 5, 1, 3, False, -1.0), (2, 3, 2, 4, True, 0.5),
    (2, 3, 2, 4, False, -1.0), (1, 3, 2, 4, True, 0.0),  # (clamp 0: none, as the kernel reads it)
    (3, 2, 2, 3, True, 0.25),  # a clamp with B ≠ 2 (2·B = B + 2 at B = 2)
])
def test_rnnt_loss_counts_the_kernels_operations(B, T, S, D, fused, clamp):
    logits = torch.randn(B, T, S + 1, D)
    targets = torch.randint(1, D, (B, S), dtype=torch.int32)        # blank = 0, never a target
    lengths, target_lengths = torch.full((B,), T, dtype=torch.int32), torch.full((B,), S, dtype=torch.int32)
    costs, grads, tally = _rnnt_by_hand(logits, targets, 0, fused, clamp)

    # the transcription computes what torchaudio's kernel computes: the loss, and the gradient it returns
    x = logits.clone().requires_grad_(fused)
    out = torchaudio.functional.rnnt_loss(x, targets, lengths, target_lengths, blank=0, clamp=clamp,
                                          reduction="none", fused_log_softmax=fused)
    assert torch.allclose(out.double(), costs, atol=1e-4)
    if fused:
        out.sum().backward()
        assert torch.allclose(x.grad.double(), grads, atol=1e-4)

    loss = Fn(lambda *a: torchaudio.functional.rnnt_loss(*a, blank=0, clamp=clamp, reduction="none",
                                                         fused_log_softmax=fused))
    report = run(loss, logits, targets, lengths, target_lengths)
    assert report.complete, report.uncounted          # was: torchaudio.rnnt_loss_forward uncounted
    # (and torchaudio.rnnt_loss, its name in torchaudio 2.2)
    cost = report.total.cost
    for category in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc"):
        assert getattr(cost, category) == tally[category], category


def test_rnnt_loss_module_closed_form():
    # transforms.RNNTLoss (mean over B = 1): B, T, U, D = 1, 3, 2, 4; P = 6 lattice points, 2 inner ones,
    # (T − 1)·U + T·(U − 1) = 7 transitions with a second exp. Worked out by hand:
    # cmps: 6·3 (row max) + 2·2 (lse) = 22
    # adds: 6·4 + 6·3 + 6 (denominators) + 3·3 (log-probs) + 2·3 (edges) + 2·4·2 (lse) + 1 (score)
    #       + 2·6 + 2·24 + 2·7 + 1 (gradient) = 155; the mean of one cost: 0 adds, 1 division
    # transc: 24 + 6 (denominators) + 2·2·2 (lse) + 24 + 7 + 1 (gradient) = 70; mults: 2 negations
    report = run(torchaudio.transforms.RNNTLoss(blank=0), torch.randn(1, 3, 2, 4),
                 torch.tensor([[2]], dtype=torch.int32), torch.tensor([3], dtype=torch.int32),
                 torch.tensor([1], dtype=torch.int32))
    assert report.complete, report.uncounted
    c = report.total.cost
    assert (c.cmps, c.adds, c.transc, c.mults, c.divs, c.macs) == (22, 155, 70, 2, 1, 0)
