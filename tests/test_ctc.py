"""CTC loss (speech recognition heads: wav2vec2, conformer CTC) on tiny lattices by hand: the α
recursion of ``_ctc_loss``, the β recursion and gradient of ``_ctc_loss_backward``, nn.CTCLoss
(no module rule: priced from its ops, the reduction included) and a training step with a CTC head.

Per lattice entry after the first step (2·S + 1 states per step): 3 subtractions, 3 exps, a log, 4
additions (7 adds, 4 transc) and the max of the predecessors, whose comparisons the CPU kernel makes by
state s: 0 at s = 0 (1 predecessor), 1 at s = 1 and at each blank (s = 2, 4, …, 2·S: the state two back
is a blank, never taken), 2 at each label state s = 3, 5, …, 2·S − 1 (1 where the label repeats the one
two back, which only the values tell: taken at 2, an upper bound). Per step 2·S + (S − 1) = 3·S − 1
(S ≥ 1; 0 for S = 0, the lone blank), K = Σ_b (T_b − 1)·max(3·S_b − 1, 0) in all; per sequence the
final log-sum-exp of 2 (1 cmp, 4 adds, 3 transc) and the negation (1 mult). The backward: β as α per
entry (its comparisons mirrored, 0 at s = 2·S, 1 at 2·S − 1 and each blank, 2 at each label below: K
again), α + β per entry (1 add), 2·S − 1 log-adds per step into the characters' sums (1 cmp, 4 adds, 3 transc; an upper
bound), α + β at the 2 end states (1 for an empty target), then per step and class 2 exps, 3 adds and
1 mult by grad."""
from __future__ import annotations

import torch
from torch import nn

import torchcount
from conftest import Fn, run

aten = torch.ops.aten


def counts(cost) -> tuple:
    return cost.cmps, cost.adds, cost.transc, cost.mults


def price(fn, *inputs):
    return run(Fn(fn), *inputs).total.cost


def test_tiny_ctc_forward_by_hand():
    # T = 3, one sequence, target [1] (S = 1, 3 states): 2 steps after the first, E = 2·3 = 6 entries;
    # comparisons per step 0 (s = 0) + 1 (s = 1) + 1 (the blank s = 2) = 2 = 3·1 − 1: K = 2·2 = 4
    lp = torch.randn(3, 1, 3).log_softmax(-1)
    c = price(lambda x: aten._ctc_loss(x, torch.tensor([[1]]), [3], [1])[0], lp)
    assert counts(c) == (4 + 1, 7 * 6 + 4, 4 * 6 + 3, 1)
    # a batch of 2: T_b = 4, 3; S_b = 2, 1 (5 and 3 states): E = 3·5 + 2·3 = 21; per step for S = 2:
    # 0 + 1 + 1 + 2 (s = 3, label 2 ≠ label 1: exact here) + 1 = 5 = 3·2 − 1, for S = 1: 2, K = 3·5 + 2·2 = 19
    lp = torch.randn(4, 2, 3).log_softmax(-1)
    c = price(lambda x: aten._ctc_loss(x, torch.tensor([[1, 2], [1, 0]]), [4, 3], [2, 1])[0], lp)
    assert counts(c) == (19 + 2, 7 * 21 + 8, 4 * 21 + 6, 2)
    # the same lengths as tensors: only shapes are recorded, every sequence at T = 4 with the longest
    # target (log_alpha's 2·2 + 1 states): 2·3·5 = 30 entries, K = 2·3·(3·2 − 1) = 30, an upper bound
    c = price(lambda x: aten._ctc_loss(x, torch.tensor([[1, 2], [1, 0]]), torch.tensor([4, 3]),
                                       torch.tensor([2, 1]))[0], lp)
    assert counts(c) == (30 + 2, 7 * 30 + 8, 4 * 30 + 6, 2)
    # a repeated label: target [1, 1] makes 1 comparison at s = 3 (the kernel skips the state two back),
    # 4 per step; the values are not recorded, so the count stays at the bound 3·2 − 1 = 5 per step
    lp = torch.randn(3, 1, 3).log_softmax(-1)
    c = price(lambda x: aten._ctc_loss(x, torch.tensor([[1, 1]]), [3], [2])[0], lp)
    assert c.cmps == 2 * 5 + 1
    # an empty target: the lone blank state has 1 predecessor, no comparison
    c = price(lambda x: aten._ctc_loss(x, torch.tensor([[1]]), [3], [0])[0], lp)
    assert counts(c) == (0 + 1, 7 * 2 + 4, 4 * 2 + 3, 1)


def test_tiny_ctc_backward_by_hand():
    # T = 3, C = 3, target [1]: E = 6 entries, K = 2·(3·1 − 1) = 4 comparisons (β: 0 at s = 2, 1 at s = 1
    # and at the blank s = 0), M = 2·(2·1 − 1) = 2 log-adds, 2 end states, 3·3 = 9 gradients
    lp = torch.randn(3, 1, 3).log_softmax(-1)
    tg = torch.tensor([[1]])
    nll, alpha = aten._ctc_loss(lp, tg, [3], [1])
    c = price(lambda g, x, n, a: aten._ctc_loss_backward(g, x, tg, [3], [1], n, a, 0), torch.ones(1), lp, nll, alpha)
    E, K, M, ends, G = 6, 4, 2, 2, 9
    assert counts(c) == (K + M, ends + 7 * E + E + 4 * M + 3 * G, 4 * E + 3 * M + 2 * G, G)
    # T = 5, C = 4, targets [1, 2] and [] (5 and 1 states), T_b = 5, 4: E = 4·5 + 3·1 = 23,
    # K = 4·(3·2 − 1) + 3·0 = 20, M = 4·3 = 12, ends 2 + 1, gradients (5 + 4)·4 = 36
    lp = torch.randn(5, 2, 4).log_softmax(-1)
    tg = torch.tensor([[1, 2], [0, 0]])
    nll, alpha = aten._ctc_loss(lp, tg, [5, 4], [2, 0])
    c = price(lambda g, x, n, a: aten._ctc_loss_backward(g, x, tg, [5, 4], [2, 0], n, a, 0), torch.ones(2), lp, nll,
              alpha)
    E, K, M, ends, G = 23, 20, 12, 3, 36
    assert counts(c) == (K + M, ends + 7 * E + E + 4 * M + 3 * G, 4 * E + 3 * M + 2 * G, G)


def test_nn_ctc_loss_is_counted_completely_from_its_ops():
    """nn.CTCLoss has no module rule: its ops are priced, ``_ctc_loss`` and the reduction — mean:
    the target lengths clamped to ≥ 1 (1 cmp + 1 assign each), each loss divided by its length, the
    mean (B − 1 adds + 1 div); sum: B − 1 adds."""
    assert torchcount.rules.rule_for(nn.CTCLoss()) is None
    lp = torch.randn(4, 2, 3).log_softmax(-1)
    targets, lengths = torch.tensor([[1, 2], [1, 0]]), ([4, 3], [2, 1])
    E, K = 3 * 5 + 2 * 3, 3 * (3 * 2 - 1) + 2 * (3 * 1 - 1)  # entries, comparisons
    lattice = (K + 2, 7 * E + 8, 4 * E + 6, 2)
    report = run(nn.CTCLoss(), lp, targets, *lengths)
    assert report.complete, report.uncounted
    c = report.total.cost
    assert counts(c) == (lattice[0] + 2, lattice[1] + 1, lattice[2], lattice[3])
    assert (c.divs, c.assigns) == (2 + 1, 2)
    c = run(nn.CTCLoss(reduction="sum"), lp, targets, *lengths).total.cost
    assert counts(c) == (lattice[0], lattice[1] + 1, lattice[2], lattice[3]) and c.divs == 0


class CTCHead(nn.Module):
    """A speech model's CTC head: a frame encoder, a projection to the characters, log-softmax and
    nn.CTCLoss with tensor lengths (the module's usual form), trained one step."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(6, 8)
        self.head = nn.Linear(8, 5)
        self.loss = nn.CTCLoss(zero_infinity=True)

    def forward(self, x):
        return self.head(torch.tanh(self.encoder(x))).log_softmax(-1)

    def train_step(self, x, targets, in_lengths, tg_lengths):
        self.loss(self(x), targets, in_lengths, tg_lengths).backward()


def test_a_training_step_with_a_ctc_head_is_counted_completely():
    from test_backward import _check_step

    torch.manual_seed(0)
    T, B = 6, 2
    report = _check_step(CTCHead().train(), (torch.randn(T, B, 6), torch.tensor([[1, 2, 3], [4, 4, 0]]),
                                             torch.tensor([6, 5]), torch.tensor([3, 2])))
    # the lengths are tensors: both ops at full length T = 6 and the longest target 3 (7 states): an upper bound
    E = B * (T - 1) * 7
    assert report.total.cost.transc >= 4 * E + 4 * E  # α and β (each 4 per entry), besides tanh and the softmax
