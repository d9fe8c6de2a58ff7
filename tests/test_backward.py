"""The backward ops of a training step (rules/backward.py): each called directly with numbers
checked by hand, then whole training steps (``profile(model, batch, method="train_step")``) counted
completely, their MACs equal to torch.utils.flop_counter's (which counts the same convolution and
matrix-product gradients, 2 FLOPs per MAC)."""
from __future__ import annotations

from math import prod

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchcount

from conftest import TESTED_TORCH, Fn, flop_counter_counts_transposed_backward_right, run, ops_cost as cost

aten = torch.ops.aten


def test_relu_hardtanh_leaky_relu_sigmoid_tanh_gradients_per_element():
    g, x = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    n = 24
    c = cost(lambda g, x: aten.threshold_backward(g, x, 0.0), g, x)
    assert (c.cmps, c.assigns, c.mults) == (n, n, 0)  # x > 0 ? g : 0
    c = cost(lambda g, x: aten.hardtanh_backward(g, x, -1.0, 1.0), g, x)
    assert (c.cmps, c.assigns) == (2 * n, n)
    c = cost(lambda g, x: aten.leaky_relu_backward(g, x, 0.01, False), g, x)
    assert (c.cmps, c.mults, c.assigns) == (n, n, n)
    c = cost(lambda g, y: aten.sigmoid_backward(g, y), g, x)  # g·y·(1 − y)
    assert (c.mults, c.adds) == (2 * n, n)
    c = cost(lambda g, y: aten.tanh_backward(g, y), g, x)  # g·(1 − y²)
    assert (c.mults, c.adds) == (2 * n, n)
    c = cost(lambda g, x: aten.gelu_backward(g, x), g, x)  # g·(½(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π))
    assert (c.transc, c.mults, c.adds) == (2 * n, 7 * n, 2 * n)
    c = cost(lambda g, x: aten.gelu_backward(g, x, approximate="tanh"), g, x)
    assert (c.transc, c.mults, c.adds) == (n, 12 * n, 5 * n)
    c = cost(lambda g, x: aten.silu_backward(g, x), g, x)  # s = 1/(1 + e^−x); g·s·(1 + x·(1 − s))
    assert (c.transc, c.divs, c.adds, c.mults) == (n, n, 3 * n, 3 * n)
    c = cost(lambda g, m: aten.native_dropout_backward(g, m, 2.0), g, x > 0)  # g·mask·scale
    assert c.mults == 2 * n
    c = cost(lambda g, x: aten.hardswish_backward(g, x), g, x)  # −3 < x ≤ 3 ? g·(x/3 + ½) : (x > 3 ? g : 0)
    assert (c.cmps, c.divs, c.adds, c.mults, c.assigns) == (2 * n, n, n, n, n)
    c = cost(lambda g, x: aten.hardsigmoid_backward(g, x), g, x)  # −3 < x < 3 ? g/6 : 0
    assert (c.cmps, c.mults, c.assigns) == (2 * n, n, n)


def test_softmax_and_log_softmax_gradients_by_rows():
    rows, n = 6, 5
    g, y = torch.randn(rows, n), torch.randn(rows, n).softmax(-1)
    c = cost(lambda g, y: aten._softmax_backward_data(g, y, -1, torch.float32), g, y)  # y·(g − Σ g·y)
    assert (c.mults, c.adds) == (2 * rows * n, rows * n + rows * (n - 1))
    c = cost(lambda g, y: aten._log_softmax_backward_data(g, y, -1, torch.float32), g, y.log())  # g − e^y·Σg
    assert (c.transc, c.mults, c.adds) == (rows * n, rows * n, rows * n + rows * (n - 1))


@pytest.mark.skipif(not hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"),
                    reason="this torch has no CPU flash-attention kernel")
def test_fused_attention_gradient():
    """The CPU flash kernel's backward: Q·Kᵀ recomputed, dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K,
    dK = dSᵀ·Q, and the softmax gradient per score (scale, − log-sum-exp, exp, dP − D, ·P) and per
    query row (D = Σ dO·O)."""
    B, H, L, S, E, Ev = 2, 3, 5, 7, 4, 4  # (the flash kernel needs value heads as wide as the keys)
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, Ev)
    out, lse = aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)
    c = cost(lambda g, q, k, v, o, l: aten._scaled_dot_product_flash_attention_for_cpu_backward(g, q, k, v, o, l, 0.0,
                                                                                                 False),
             torch.randn_like(out), q, k, v, out, lse)
    rows, scores = B * H * L, B * H * L * S
    assert c.macs == 3 * scores * E + 2 * scores * Ev
    assert (c.mults, c.adds, c.transc) == (2 * scores + rows * Ev, 2 * scores + rows * (Ev - 1), scores)


def test_loss_gradients():
    x, t = torch.randn(3, 4), torch.randn(3, 4)
    c = cost(lambda g, x, t: aten.mse_loss_backward(g, x, t, 1), torch.tensor(1.0), x, t)  # 2·(x − t)·g/n
    assert (c.adds, c.mults, c.divs) == (12, 24, 1)
    logp, target = torch.randn(5, 7).log_softmax(-1), torch.randint(0, 7, (5,))
    c = cost(lambda g, lp, t, w: aten.nll_loss_backward(g, lp, t, None, 1, -100, w), torch.tensor(1.0), logp, target,
             torch.tensor(5.0))
    assert (c.mults, c.divs) == (1, 1)  # −g/Σw once, written at each target
    c = cost(lambda g, lp, t, cw, w: aten.nll_loss_backward(g, lp, t, cw, 1, -100, w), torch.tensor(1.0), logp,
             target, torch.rand(7), torch.tensor(2.5))
    assert (c.mults, c.divs) == (1 + 5, 1)  # and times the class weight, per target row


def test_pooling_gradients():
    x = torch.randn(1, 2, 6, 6)
    out, idx = aten.max_pool2d_with_indices(x, [2, 2], [2, 2])
    c = cost(lambda g, x, i: aten.max_pool2d_with_indices_backward(g, x, [2, 2], [2, 2], [0, 0], [1, 1], False, i),
             torch.randn_like(out), x, idx)
    assert c.adds == out.numel() == 18  # each output's gradient into its argmax
    g = torch.randn(1, 2, 3, 3)
    c = cost(lambda g, x: aten.avg_pool2d_backward(g, x, [2, 2], [2, 2], [0, 0], False, True, None), g, x)
    assert (c.divs, c.adds) == (18, 4 * 18)
    # the kernel given as one int ([2], as aten.avg_pool2d(x, [2]) passes it on): 2×2 windows still,
    # not 2×2×2
    c = cost(lambda g, x: aten.avg_pool2d_backward(g, x, [2], [], [0, 0], False, True, None), g, x)
    assert (c.divs, c.adds) == (18, 4 * 18)
    # adaptive 5 → 3: windows [0, 2), [1, 4), [3, 5) of sizes 2, 3, 2: Σ = 7 per dim, 49 per plane
    x, g = torch.randn(1, 2, 5, 5), torch.randn(1, 2, 3, 3)
    c = cost(lambda g, x: aten._adaptive_avg_pool2d_backward(g, x), g, x)
    assert (c.divs, c.adds) == (18, 2 * 49)


def test_norm_and_embedding_gradients():
    N, C, H, W = 2, 3, 4, 4
    x, g = torch.randn(N, C, H, W), torch.randn(N, C, H, W)
    mean, invstd, w = torch.zeros(C), torch.ones(C), torch.ones(C)
    n = N * C * H * W
    c = cost(lambda g, x, w, m, s: aten.native_batch_norm_backward(g, x, w, None, None, m, s, True, 1e-5,
                                                                    [True, True, True]), g, x, w, mean, invstd)
    # the sums Σg, Σ(x − μ)·g (1 sub, 1 mult per element, 2·(M − 1) adds per channel), then the input
    # gradient (g − Σg/M − (x − μ)·k)·(w·invstd): 3 subs and 2 mults per element
    assert (c.adds, c.mults) == (n + 2 * (n - C) + 3 * n, n + 2 * n)
    # a BatchNorm on the model's input needs no input gradient: the sums only
    c = cost(lambda g, x, w, m, s: aten.native_batch_norm_backward(g, x, w, None, None, m, s, True, 1e-5,
                                                                    [False, True, True]), g, x, w, mean, invstd)
    assert (c.adds, c.mults) == (n + 2 * (n - C), n)
    # with running statistics (eval): the sums, and dx = g·(w·invstd), 1 mult
    c = cost(lambda g, x, w, m, s: aten.native_batch_norm_backward(g, x, w, m, s, None, None, False, 1e-5,
                                                                    [True, True, False]), g, x, w, mean, invstd)
    assert (c.mults, c.adds) == (n + n, n + 2 * (n - C))
    x, g = torch.randn(4, 8), torch.randn(4, 8)
    mean, rstd, w, b = torch.zeros(4, 1), torch.ones(4, 1), torch.ones(8), torch.zeros(8)
    c = cost(lambda g, x, m, r, w, b: aten.native_layer_norm_backward(g, x, [8], m, r, w, b, [True, True, True]),
             g, x, mean, rstd, w, b)
    n, rows, D = 32, 4, 8
    # input: Σg·w·x, Σg·w and dx = rstd·g·w + b·x + c (6 mults, 2 adds per element, 2 row sums);
    # weight: (x − μ)·rstd·g (1 sub, 2 mults) summed over rows; bias: g summed over rows
    assert (c.mults, c.adds) == (6 * n + 2 * n, 2 * (n - rows) + 2 * n + n + (n - D) + (n - D))
    c = cost(lambda g, x, m, r: aten.native_layer_norm_backward(g, x, [8], m, r, None, None, [True, False, False]),
             g, x, mean, rstd)
    assert (c.mults, c.adds) == (3 * n, 2 * (n - rows) + 2 * n)  # no weight: Σg·x, Σg, dx = rstd·g + b·x + c
    # a frozen bias: the weight gradient without the bias's sum
    c = cost(lambda g, x, m, r, w, b: aten.native_layer_norm_backward(g, x, [8], m, r, w, b, [True, True, False]),
             g, x, mean, rstd, w, b)
    assert (c.mults, c.adds) == (6 * n + 2 * n, 2 * (n - rows) + 2 * n + n + (n - D))
    # a frozen weight (it still scales the input gradient), a trained bias: no (x − μ)·rstd·g, only Σg
    c = cost(lambda g, x, m, r, w, b: aten.native_layer_norm_backward(g, x, [8], m, r, w, b, [True, False, True]),
             g, x, mean, rstd, w, b)
    assert (c.mults, c.adds) == (6 * n, 2 * (n - rows) + 2 * n + (n - D))
    # rows of one element (D = 1, x (12, 1)): 12 rows, so the row sums add nothing (2·(12 − 12));
    # 6·12 + 2·12 mults, 2·12 adds for dx, 12 subtractions x − μ, and the weight's and the bias's
    # column sums 12 − 1 each
    x1, g1 = torch.randn(12, 1), torch.randn(12, 1)
    c = cost(lambda g, x, m, r, w, b: aten.native_layer_norm_backward(g, x, [1], m, r, w, b, [True, True, True]),
             g1, x1, torch.zeros(12, 1), torch.ones(12, 1), torch.ones(1), torch.zeros(1))
    assert (c.mults, c.adds) == (6 * 12 + 2 * 12, 0 + 2 * 12 + 12 + 11 + 11)
    # an empty normalised dim (D = 0, no element): nothing, and no division by D
    c = cost(lambda g, x, m, r: aten.native_layer_norm_backward(g, x, [0], m, r, None, None, [True, False, False]),
             torch.randn(3, 0), torch.randn(3, 0), torch.zeros(3, 1), torch.ones(3, 1))
    assert (c.mults, c.adds, c.divs) == (0, 0, 0)
    # nll_loss without a batch (input (C,)), no reduction: one −w·g for its one target
    c = cost(lambda g, x: aten.nll_loss_backward(g, x, torch.tensor(2), None, 0, -100, torch.tensor(1.0)),
             torch.tensor(1.0), torch.randn(5))
    assert (c.mults, c.adds, c.divs) == (1, 0, 0)
    # ... and of a single class, input (1,): still its one target, one −w·g
    c = cost(lambda g, x: aten.nll_loss_backward(g, x, torch.tensor(0), None, 0, -100, torch.tensor(1.0)),
             torch.tensor(1.0), torch.randn(1))
    assert (c.mults, c.adds, c.divs) == (1, 0, 0)
    ids, g = torch.randint(0, 10, (3, 5)), torch.randn(3, 5, 6)
    c = cost(lambda g, i: aten.embedding_dense_backward(g, i, 10, -1, False), g, ids)
    assert c.adds == 3 * 5 * 6


def test_convolution_gradients_by_hand():
    """Input gradient and weight gradient: the forward's MACs each; the bias gradient Σ of the
    output gradient; what output_mask leaves out is not counted."""
    x, w = torch.randn(2, 4, 8, 8), torch.randn(6, 2, 3, 3)  # groups 2: 2 input channels per group
    out = F.conv2d(x, w, stride=2, padding=1, groups=2)       # 2×6×4×4
    forward_macs = 2 * 6 * 4 * 4 * (2 * 3 * 3)
    c = cost(lambda g, x, w: aten.convolution_backward(g, x, w, [6], [2, 2], [1, 1], [1, 1], False, [0, 0], 2,
                                                        [True, True, True]), torch.randn_like(out), x, w)
    assert (c.macs, c.adds) == (2 * forward_macs, out.numel() - 6)  # the bias: Σ of 2×4×4 per channel
    c = cost(lambda g, x, w: aten.convolution_backward(g, x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 2,
                                                        [False, True, False]), torch.randn_like(out), x, w)
    assert (c.macs, c.adds) == (forward_macs, 0)
    # a frozen bias (bias_sizes given, its gradient not asked for): no bias-gradient sum
    c = cost(lambda g, x, w: aten.convolution_backward(g, x, w, [6], [2, 2], [1, 1], [1, 1], False, [0, 0], 2,
                                                        [True, True, False]), torch.randn_like(out), x, w)
    assert (c.macs, c.adds) == (2 * forward_macs, 0)
    # each of the 6×2×3×3 weights sums its products over the N·∏output = 2×4×4 positions it met:
    # torch.utils.flop_counter counts the grouped weight gradient as if groups were 1 (twice this)
    assert forward_macs == 6 * 2 * 3 * 3 * (2 * 4 * 4)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        aten.convolution_backward(torch.randn_like(out), x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 2,
                                  [False, True, False])
    assert counter.get_total_flops() == 2 * (2 * forward_macs)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            # (groups 1: torch.utils.flop_counter overcounts a grouped weight gradient, see above)
            nn.Conv2d(8, 8, 3, stride=2), nn.GELU(), nn.ConvTranspose2d(8, 4, 3, stride=2),
            nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(4, 5), nn.Tanh())
        self.head = nn.Linear(5, 5)

    def forward(self, x):
        return self.head(self.features(x))

    def train_step(self, x, y):
        loss = F.cross_entropy(self(x), y) + F.mse_loss(torch.sigmoid(self(x)), torch.zeros(x.shape[0], 5))
        loss.backward()
        return loss


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, activation="gelu")
        self.head = nn.Linear(16, 50)

    def forward(self, ids):
        return self.head(self.layer(self.embed(ids)))

    def train_step(self, ids):
        loss = F.cross_entropy(self(ids).flatten(0, 1), ids.flatten())
        loss.backward()
        return loss


@pytest.mark.parametrize("build, inputs", [
    (ConvNet, lambda: (torch.randn(4, 3, 16, 16), torch.randint(0, 5, (4,)))),
    (TinyTransformer, lambda: (torch.randint(0, 50, (2, 7)),)),
], ids=["cnn", "transformer"])
def test_a_training_step_is_counted_completely_and_its_macs_match_flop_counter(build, inputs):
    from torch.utils.flop_counter import FlopCounterMode

    # (ConvNet has a transposed convolution, whose weight gradient torch 2.2's flop_counter overcounts)
    reference_right = flop_counter_counts_transposed_backward_right() or build is not ConvNet

    torch.manual_seed(0)
    model, batch = build().train(), inputs()
    report = torchcount.profile(model, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    with FlopCounterMode(display=False) as counter:
        build().train().train_step(*batch)
    if reference_right:  # (the identity below still checks the backward's MACs on that torch)
        assert counter.get_total_flops() == 2 * report.total.macs
    # every worked line of the step (the backward's among them) evaluates to its value
    from test_worked_terms import evaluate

    lines = [t for row in (report.root, *report.layers) for t in row.terms]
    assert any("gradient" in t.what for t in lines)
    assert [f"{t.what} = {t.substituted}" for t in lines if evaluate(t.substituted) != t.value] == []
    # the backward of every contraction computes an input gradient and a weight gradient, each as
    # many MACs as the forward, except the first convolution's input gradient (the images need none)
    forward = torchcount.profile(model, batch[:1], warn=False).total.macs
    runs = report.forward_calls  # (the ConvNet's step runs its forward twice)
    first_conv = 4 * 8 * 16 * 16 * 3 * 3 * 3 if build is ConvNet else 0
    assert report.total.macs - runs * forward == runs * (2 * forward - first_conv)


class ClassifierStep(nn.Module):
    """A classifier (as ``net``) with a training step: cross-entropy, then its backward."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)

    def train_step(self, x, labels):
        F.cross_entropy(self(x), labels).backward()


def test_the_backward_is_broken_down_by_the_layer_whose_forward_set_it_up():
    """Column backward_MACs: each contraction's gradients where its forward ran: 2 × its forward MACs
    (input and weight gradients), the first convolution's weight gradient only; nothing left in the
    root's own part, and the column sums to the backward's MACs (which the root's own row holds)."""
    model = nn.Sequential(nn.Conv2d(1, 5, 3), nn.Conv2d(5, 5, 3), nn.Flatten(), nn.Linear(2880, 128),
                          nn.Linear(128, 10))

    step = ClassifierStep(model)
    report = torchcount.profile(step, (torch.randn(1, 1, 28, 28), torch.tensor([3])), method="train_step", warn=False)
    forward = {"net.0": 26 * 26 * 5 * 9, "net.1": 24 * 24 * 5 * 45, "net.3": 2880 * 128, "net.4": 128 * 10}
    got = {path: report.row(path).extra["backward_MACs"] for path in forward}
    assert got == {"net.0": forward["net.0"], "net.1": 2 * forward["net.1"], "net.3": 2 * forward["net.3"],
                   "net.4": 2 * forward["net.4"]}
    backward = report.total.macs - sum(forward.values())
    assert report.row("net").extra["backward_MACs"] == report.extra["backward_MACs"] == backward == sum(got.values())
    assert report.root.self_extra["backward_MACs"] == 0
    assert report.root.self_cost.macs == backward  # (the ops themselves are the root's own work)
    assert any(note.startswith(f"backward: {backward:,} MACs") for note in report.notes)
    assert f"backward: {2 * forward['net.3']:,} MACs of gradients this module's forward set up" in \
        report.explain("net.3")
    # a covered child's gradients go to the ruled module that covers it (MultiheadAttention's out_proj)
    mha = TinyTransformer()
    tx = torchcount.profile(mha, (torch.randint(0, 50, (2, 7)),), method="train_step", warn=False)
    attention = tx.row("layer.self_attn")
    assert attention.extra["backward_MACs"] == 2 * attention.cost.macs
    # a forward alone tracks nothing
    assert "backward_MACs" not in torchcount.profile(model, torch.randn(1, 1, 28, 28), warn=False).row("0").extra


def test_the_backward_of_what_a_forward_hook_computed_is_in_the_hooked_layers_column():
    """A forward hook's work is its module's row (capture._HookWatch): so is the backward it sets up.
    The hook's product out @ W (W a constant) costs 2·4·4 MACs forward and the same for its input's
    gradient; the first Linear's weight gradient 2·4·4 (its input needs none), the second's input and
    weight gradients 2·4·4 each."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    w = torch.randn(4, 4)
    model[0].register_forward_hook(lambda module, args, out: out @ w)
    step = ClassifierStep(model)
    report = torchcount.profile(step, (torch.randn(2, 4), torch.tensor([1, 2])), method="train_step", warn=False)
    assert report.row("net.0").macs == 2 * 32
    assert report.row("net.0").extra["backward_MACs"] == 32 + 32  # its weight's gradient, and the hook's
    assert report.row("net.1").extra["backward_MACs"] == 2 * 32
    assert report.extra["backward_MACs"] == 4 * 32 and report.root.self_extra["backward_MACs"] == 0


def test_the_backward_of_a_second_layers_forward_hook_is_its_column_and_the_first_layers_stays_its_own():
    """As above with the hook on the second Linear: the first Linear's weight gradient 2·4·4 = 32 MACs
    (its input needs none) stays its own; the second's input and weight gradients 2·4·4 each and its
    hook's input gradient 2·4·4 are its (96). The hooked call's span starts where its pre-hooks did:
    starting it at 0 or 1 (the recording switch read as an autograd node number) took in the first
    layer's nodes."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    w = torch.randn(4, 4)
    model[1].register_forward_hook(lambda module, args, out: out @ w)
    step = ClassifierStep(model)
    report = torchcount.profile(step, (torch.randn(2, 4), torch.tensor([1, 2])), method="train_step", warn=False)
    assert report.row("net.1").macs == 2 * 32
    assert report.row("net.0").extra["backward_MACs"] == 32
    assert report.row("net.1").extra["backward_MACs"] == 3 * 32
    assert report.extra["backward_MACs"] == 4 * 32 and report.root.self_extra["backward_MACs"] == 0


def _column_sums(report) -> dict:
    from torchcount.report import shown_rows

    return {depth: sum(r.shown_extra(own).get("backward_MACs", 0) for r, own in shown_rows(report, depth))
            for depth in (None, 0, 1, 2, 3)}


class Stack(nn.Module):
    """A ModuleList of layers (a group row at depth 1), one of them also called from the root."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(2)])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x) + self.blocks[0][0](x).sum()  # blocks.0.0 called from outside its block

    def train_step(self, x):
        self(x).square().mean().backward()


def test_the_backward_column_adds_up_at_every_depth():
    report = torchcount.profile(Stack(), torch.randn(4, 8), method="train_step", warn=False)
    total = report.extra["backward_MACs"]
    assert total == report.root.self_cost.macs > 0
    assert set(_column_sums(report).values()) == {total}


class Holder(nn.Module):
    """A module never called itself whose parameter and submodule its parent uses directly, as
    torchaudio's WavLM uses its nn.MultiheadAttention's in_proj_weight and calls its out_proj."""

    def __init__(self):
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.randn(8, 8))
        self.out_proj = nn.Linear(8, 8)


class UsesHolder(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(8, 8)
        self.attention = Holder()

    def forward(self, x):
        return self.attention.out_proj(F.linear(self.pre(x), self.attention.in_proj_weight))

    def train_step(self, x):
        self(x).square().mean().backward()


def test_the_backward_column_adds_up_with_an_uncalled_module_that_holds_parameters():
    """The uncalled module's row (its parameters are its own) stands for its own part in a full
    table beside its called out_proj: it did nothing itself, so its own backward is 0, not its
    out_proj's again."""
    report = torchcount.profile(UsesHolder(), torch.randn(4, 8), method="train_step", warn=False)
    total = report.extra["backward_MACs"]
    assert total == 2 * 4 * 8 * 8 + 2 * 4 * 8 * 8 + 4 * 8 * 8  # out_proj, F.linear: both; pre: its weight
    holder = report.row("attention")
    assert holder.calls == 0 and holder.extra["backward_MACs"] == 2 * 4 * 8 * 8  # out_proj's, inclusive
    assert set(_column_sums(report).values()) == {total}


def test_a_checkpointed_block_recomputed_in_the_backward_is_forward_work_not_backward():
    """Checkpointing re-runs a block's forward inside the backward: that is the block's own work (a
    second call), not a gradient; the backward column holds the gradients only."""
    from torch.utils.checkpoint import checkpoint

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 8))

        def forward(self, x):
            return torch.relu(x @ self.w)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre, self.blk = nn.Linear(8, 8), Block()

        def forward(self, x):
            return checkpoint(self.blk, self.pre(x), use_reentrant=False)

        def train_step(self, x):
            self(x).sum().backward()

    report = torchcount.profile(Net(), torch.randn(4, 8), method="train_step", warn=False)
    # gradients: blk's x @ w (input and weight: 2·4·8·8), pre's weight only (its input needs none)
    assert report.extra["backward_MACs"] == report.root.self_cost.macs == 2 * 4 * 8 * 8 + 4 * 8 * 8
    assert report.row("blk").calls == 2 and report.row("blk").cost.macs == 2 * 4 * 8 * 8  # run twice


def test_a_recomputation_cut_short_in_a_module_with_a_rule_is_priced_from_its_ops():
    """Non-reentrant checkpointing stops its recomputation once it has saved the last tensor the
    backward needs, by raising in the op that saves it: here inside the ReLU module that ends the
    block (as in a ResNet's BasicBlock). That call has no output for its rule: it is priced from the
    op it ran (the capture records the ops of ruled modules run inside a backward), with a note."""
    from torch.utils.checkpoint import checkpoint
    from torch.utils.flop_counter import FlopCounterMode

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = nn.Linear(8, 8)
            self.blk = nn.Sequential(nn.Linear(8, 8), nn.ReLU())

        def forward(self, x):
            return checkpoint(self.blk, self.pre(x), use_reentrant=False)

        def train_step(self, x):
            self(x).sum().backward()

    batch = torch.randn(4, 8)
    report = torchcount.profile(Net(), batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    relu = report.row("blk.1")
    assert relu.calls == 2 and relu.cost.cmps == 2 * 4 * 8  # the forward's and the recomputation's
    assert report.row("blk.0").cost.macs == 2 * 4 * 8 * 8  # run twice
    # gradients: blk.0 input and weight, pre weight only
    assert report.extra["backward_MACs"] == 2 * 4 * 8 * 8 + 4 * 8 * 8
    assert any("cut short inside a backward" in note and "blk.1" in note for note in report.notes)
    with FlopCounterMode(display=False) as counter:
        Net().train_step(batch)
    assert counter.get_total_flops() == 2 * report.total.macs


def test_a_measured_training_step_runs_with_autograd_on():
    """Measured passes run under no_grad by default, where loss.backward() fails: a method that ran a
    backward while counted is measured with autograd on (a note says so); asked for no_grad=True,
    the error says what to do."""
    model, batch = TinyTransformer(), (torch.randint(0, 50, (2, 7)),)
    report = torchcount.profile(model, batch, method="train_step", measure=True, repeat=2, warmup=0, warn=False)
    assert report.root.extra["time_ms"] > 0 and report.row("head").extra["backward_MACs"] == 2 * 2 * 7 * 16 * 50
    assert any("measured with autograd on (no_grad=False)" in note for note in report.notes)
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(torchcount.ForwardError, match=r"measure with no_grad=False\)"):
        torchcount.profile(model, batch, method="train_step", measure=True, repeat=2, warmup=0, no_grad=True,
                           warn=False)


@pytest.mark.parametrize("ending", ["zero_grad", "autograd.grad"])
def test_a_step_that_leaves_no_grad_set_is_still_measured_with_autograd_on(ending):
    """A step ending with zero_grad(), or taking gradients with torch.autograd.grad, leaves every
    .grad as it was: what ran a backward is the counting pass's trace (it raised under no_grad)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x)

        def train_step(self, x, y):
            loss = F.cross_entropy(self(x), y)
            if ending == "zero_grad":
                loss.backward()
                self.zero_grad()
            else:
                return torch.autograd.grad(loss, list(self.parameters()))

    batch = (torch.randn(2, 4), torch.tensor([0, 1]))
    report = torchcount.profile(Net(), batch, method="train_step", measure=True, repeat=2, warmup=0, warn=False)
    assert report.extra["backward_MACs"] == 2 * 3 * 4  # the weight gradient (the input needs none)
    assert report.row("fc").extra["time_ms"] > 0
    assert any("measured with autograd on (no_grad=False)" in note for note in report.notes)


@pytest.mark.parametrize("name", ["vit", "mobilenet_v3_small"])
def test_training_steps_of_torchvision_models_are_counted_completely(name):
    """A ViT's fused attention gradient and MobileNetV3's hardswish/hardsigmoid gradients have rules."""
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = tv.models.VisionTransformer(image_size=32, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16,
                                        mlp_dim=32, num_classes=5) if name == "vit" else \
        tv.models.mobilenet_v3_small(num_classes=5)

    report = torchcount.profile(ClassifierStep(model).train(), (torch.randn(2, 3, 32, 32), torch.tensor([1, 2])),
                                method="train_step", warn=False)
    assert report.complete, report.uncounted
    assert set(_column_sums(report).values()) == {report.extra["backward_MACs"]}


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
def test_lstm_gradient_of_the_onednn_kernel_by_hand():
    """One layer of oneDNN's LSTM backward: per step and sequence dx = dG·W_ih, dW_ih += dGᵀ·x (4H·I
    MACs each), dh_prev = dG·W_hh, dW_hh += dGᵀ·h_prev (4H·H each); the cell's gradient per state
    element (1 tanh, 16 mults, 7 adds); the bias gradient Σ dG over the T·N steps."""
    T, N, I, H = 4, 3, 5, 7
    x, w_ih, w_hh, b_ih, b_hh = (torch.randn(T, N, I), torch.randn(4 * H, I), torch.randn(4 * H, H),
                                 torch.randn(4 * H), torch.randn(4 * H))
    h0, c0 = torch.zeros(N, H), torch.zeros(N, H)
    with torch.enable_grad():  # (the workspace the backward reads is kept only with grad mode on)
        out, hy, cy, ws = aten.mkldnn_rnn_layer(x, w_ih, w_hh, b_ih, b_hh, h0, c0, False, [], 2, H, 1, True, False,
                                                False, True)
    c = cost(lambda g: aten.mkldnn_rnn_layer_backward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, out, hy, cy, g, None, None,
                                                      False, 2, H, 1, True, True, False, [], False, ws),
             torch.randn_like(out))
    steps = T * N
    assert c.macs == 2 * 4 * H * (I + H) * steps
    assert (c.transc, c.mults, c.adds) == (H * steps, 16 * H * steps, 7 * H * steps + 4 * H * (steps - 1))


class SequenceStep(nn.Module):
    """A recurrent classifier's training step (the last step's output into a Linear)."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])

    def train_step(self, x, labels):
        F.cross_entropy(self(x), labels).backward()


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
def test_an_lstm_training_step_with_and_without_onednn(bidirectional):
    """nn.LSTM's training step on CPU runs oneDNN's layer backward, which computes every gradient:
    2·4H·(I + H)·T·N MACs per layer and direction. Without oneDNN the same step runs decomposed ops
    (counted by the matmul rules) that skip what autograd does not need: the first layer's input
    gradient (4H·I·T·N per direction) and the zero initial state's (4H·H·N per layer and
    direction). Both are counted completely and differ by exactly those."""
    T, N, I, H, layers = 4, 3, 5, 7, 2
    dirs = 2 if bidirectional else 1
    torch.manual_seed(0)
    step = SequenceStep(nn.LSTM(I, H, num_layers=layers, batch_first=True, bidirectional=bidirectional))
    batch = (torch.randn(N, T, I), torch.tensor([0, 1, 2]))
    reports = {}
    for enabled in (True, False):
        with torch.backends.mkldnn.flags(enabled=enabled):
            reports[enabled] = torchcount.profile(step, batch, method="train_step", warn=False)
        assert reports[enabled].complete, reports[enabled].uncounted
    onednn, decomposed = (reports[e].extra["backward_MACs"] for e in (True, False))
    inputs = [I] + [dirs * H] * (layers - 1)
    head = 2 * N * dirs * H * 3  # the head's input and weight gradients
    assert onednn == head + sum(dirs * 2 * 4 * H * (i + H) * T * N for i in inputs)
    assert onednn - decomposed == dirs * 4 * H * I * T * N + layers * dirs * 4 * H * H * N
    assert reports[True].total.macs - onednn == reports[False].total.macs - decomposed  # the same forward
    assert _unevaluated(reports[True]) == []


def _unevaluated(report) -> list:
    """The worked lines of a report that do not evaluate to their value (none should)."""
    from test_worked_terms import evaluate

    lines = [t for row in (report.root, *report.layers) for t in row.terms]
    return [f"{t.what} = {t.substituted}" for t in lines if evaluate(t.substituted) != t.value]


def test_group_norm_gradient_by_hand():
    """The CPU kernel: ds = Σ g·x, db = Σ g per plane; per group Σ ds·γ, Σ db·γ and its constants
    c2, c3 (8 mults, 2 adds); dx = c1·g + c2·x + c3; dγ = Σ_n (ds − db·μ)·rstd; dβ = Σ_n db."""
    N, C, H, W, G = 2, 6, 3, 4, 3
    x, g, w, b = torch.randn(N, C, H, W), torch.randn(N, C, H, W), torch.randn(C), torch.randn(C)
    _, mean, rstd = aten.native_group_norm(x, w, b, N, C, H * W, G, 1e-5)
    n, planes, ng = N * C * H * W, N * C, N * G
    c = cost(lambda g, x, m, r, w: aten.native_group_norm_backward(g, x, m, r, w, N, C, H * W, G, [True, True, True]),
             g, x, mean, rstd, w)
    sums = (n, 2 * (n - planes))                                          # (mults, adds) of ds, db
    dx = (3 * planes + 8 * ng + 2 * n, 2 * (planes - ng) + 2 * ng + 2 * n)
    dw, db = (2 * planes, planes + planes - C), (0, planes - C)
    assert (c.mults, c.adds) == tuple(map(sum, zip(sums, dx, dw, db)))
    # no weight, the input gradient only: no multiplications by γ
    c = cost(lambda g, x, m, r: aten.native_group_norm_backward(g, x, m, r, None, N, C, H * W, G,
                                                                [True, False, False]), g, x, mean, rstd)
    assert (c.mults, c.adds) == (n + 8 * ng + 2 * n, 2 * (n - planes) + 2 * (planes - ng) + 2 * ng + 2 * n)
    # a frozen weight (output_mask [True, False, True]): γ still scales the input gradient, no dγ sums
    c = cost(lambda g, x, m, r, w: aten.native_group_norm_backward(g, x, m, r, w, N, C, H * W, G, [True, False, True]),
             g, x, mean, rstd, w)
    assert (c.mults, c.adds) == tuple(map(sum, zip(sums, dx, db)))



class SegmentationStep(nn.Module):
    """A small segmentation net's training step: convolutions with GroupNorm, a strided encoder,
    the decoder upsampled (``mode``) back to the image, a per-pixel cross-entropy."""

    def __init__(self, mode: str = "bilinear"):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(),
                                     nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.GroupNorm(4, 8), nn.SiLU())
        self.up = nn.Upsample(scale_factor=2, mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(self.up(self.encoder(x)))

    def train_step(self, x, labels):
        F.cross_entropy(self(x), labels).backward()


def _check_step(step, batch):
    """A training step counted completely, every worked line evaluating to its value, and its MACs
    equal to torch.utils.flop_counter's (convolutions with groups 1, matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    assert _unevaluated(report) == []
    with FlopCounterMode(display=False) as counter:
        step.train_step(*batch)
    assert counter.get_total_flops() == 2 * report.total.macs
    return report


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_a_group_norm_segmentation_step_is_counted_completely(mode):
    torch.manual_seed(0)
    _check_step(SegmentationStep(mode).train(), (torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8))))


class ImageTokens(nn.Module):
    """A vision-language model's merge: projected image features put at the image tokens' places in the
    text embeddings (``masked_scatter``), as Hugging Face's Qwen2-VL, LLaVA, InternVL do."""

    def __init__(self):
        super().__init__()
        self.embed, self.vision, self.head = nn.Embedding(10, 8), nn.Linear(6, 8), nn.Linear(8, 3)

    def forward(self, ids, patches):
        text = self.embed(ids)
        mask = (ids == 9).unsqueeze(-1).expand_as(text)
        return self.head(text.masked_scatter(mask, self.vision(patches)))

    def train_step(self, ids, patches):
        self(ids, patches).pow(2).mean().backward()


def test_masked_scatter_gradient_moves_data_only():
    """masked_scatter's source gradient selects the masked elements of the gradient and appends zeros
    up to the source's size: no arithmetic. A step through it is counted completely (it was the one
    op left uncounted in the training steps of Hugging Face's vision-language models)."""
    g, mask = torch.randn(2, 5, 4), torch.zeros(2, 5, 4, dtype=torch.bool)
    mask[:, :2] = True  # 16 elements selected, 4 zeros appended for a 5×4 source
    c = cost(lambda g, m: aten.masked_scatter_backward(g, m, [5, 4]), g, mask)
    assert (c.macs, c.mults, c.adds, c.divs, c.cmps, c.assigns, c.transc) == (0,) * 7
    ids = torch.tensor([[9, 9, 1, 2, 3], [9, 9, 4, 5, 6]])  # 4 image tokens: 4 image features of 6 values
    report = _check_step(ImageTokens(), (ids, torch.randn(4, 6)))
    # forward: the projection 4·6·8 and the head 2·5·8·3; backward: the head's two gradients, the projection's
    # weight gradient (its input needs none)
    assert report.total.macs == 4 * 6 * 8 + 2 * 5 * 8 * 3 + 2 * (2 * 5 * 8 * 3) + 4 * 6 * 8


def test_upsampling_and_padding_gradients():
    """Each output's gradient scattered into its source: nearest and padding 1 add; linear 2 taps,
    bilinear 4, trilinear 8, bicubic 16, each weighted (the per-dim λ's multiplied per element) and
    added."""
    g2, g1, g3 = torch.randn(2, 3, 8, 6), torch.randn(2, 3, 8), torch.randn(1, 2, 4, 4, 4)
    n2, n1, n3 = g2.numel(), g1.numel(), g3.numel()
    c = cost(lambda g: aten.upsample_bilinear2d_backward(g, [8, 6], [2, 3, 4, 3], False), g2)
    assert (c.mults, c.adds) == (4 * 2 * n2, 4 * n2)
    c = cost(lambda g: aten.upsample_bicubic2d_backward(g, [8, 6], [2, 3, 4, 3], True), g2)
    assert (c.mults, c.adds) == (16 * 2 * n2, 16 * n2)
    # bicubic between equal sizes (8×6 → 8×6): the kernel copies the gradient, nothing counted
    c = cost(lambda g: aten.upsample_bicubic2d_backward(g, [8, 6], [2, 3, 8, 6], False), g2)
    assert (c.mults, c.adds) == (0, 0)
    c = cost(lambda g: aten.upsample_linear1d_backward(g, [8], [2, 3, 4], False), g1)
    assert (c.mults, c.adds) == (2 * n1, 2 * n1)
    c = cost(lambda g: aten.upsample_trilinear3d_backward(g, [4, 4, 4], [1, 2, 2, 2, 2], False), g3)
    assert (c.mults, c.adds) == (8 * 3 * n3, 8 * n3)
    c = cost(lambda g: aten.upsample_nearest2d_backward(g, [8, 6], [2, 3, 4, 3]), g2)
    assert (c.mults, c.adds) == (0, n2)
    c = cost(lambda g: aten._upsample_nearest_exact3d_backward(g, [4, 4, 4], [1, 2, 2, 2, 2]), g3)
    assert c.adds == n3
    x = torch.randn(2, 3, 6, 4)  # padded by (left 1, right 1, top 1, bottom 1) to 8×6
    c = cost(lambda g, x: aten.reflection_pad2d_backward(g, x, [1, 1, 1, 1]), g2, x)
    assert c.adds == n2
    c = cost(lambda g, x: aten.replication_pad1d_backward(g, x, [2, 2]), g1, torch.randn(2, 3, 4))
    assert c.adds == n1


def test_more_activation_gradients_per_element():
    g, x = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    n = 24
    # ELU, both branches and a selection: from the input x ≤ 0 ? g·c_in·c_neg·e^(x·c_in) : g·c_pos
    c = cost(lambda g, x: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x), g, x)
    assert (c.cmps, c.transc, c.mults, c.assigns) == (n, n, 5 * n, n)
    c = cost(lambda g, y: aten.elu_backward(g, 1.0, 1.0, 1.0, True, y), g, x)  # from y: g·c_in·(y + c_neg)
    assert (c.cmps, c.transc, c.mults, c.adds, c.assigns) == (n, 0, 3 * n, n, n)
    c = cost(lambda g, x: aten.softplus_backward(g, x, 1.0, 20.0), g, x)  # βx > t ? g : g·z/(z + 1), z = e^(βx)
    assert (c.mults, c.cmps, c.transc, c.adds, c.divs, c.assigns) == (2 * n, n, n, n, n, n)
    c = cost(lambda g, x: aten.hardshrink_backward(g, x, 0.5), g, x)
    assert (c.cmps, c.assigns) == (2 * n, n)
    c = cost(lambda g, x: aten.softshrink_backward(g, x, 0.5), g, x)
    assert (c.cmps, c.assigns) == (2 * n, n)
    c = cost(lambda g, x: aten.mish_backward(g, x), g, x)  # g·(t + x·s·(1 − t²))
    assert (c.transc, c.adds, c.divs, c.mults) == (4 * n, 3 * n, n, 4 * n)
    c = cost(lambda g, x, b: aten.log_sigmoid_backward(g, x, b), g, x, aten.log_sigmoid_forward(x)[1])
    assert (c.cmps, c.assigns, c.transc, c.adds, c.divs, c.mults) == (2 * n, 3 * n, n, 2 * n, n, 2 * n)
    # GLU over a 2·4 dim: per output element (half the input) s = σ(b), da = g·s, db = a·s·(1 − s)·g
    c = cost(lambda g, x: aten.glu_backward(g, x, -1), g, torch.randn(2, 3, 8))
    assert (c.transc, c.adds, c.divs, c.mults) == (n, 2 * n, n, 4 * n)
    c = cost(lambda g, x, w: aten._prelu_kernel_backward(g, x, w), g, x, torch.rand(1, 3, 1))
    assert (c.cmps, c.mults, c.assigns) == (n, 2 * n, 2 * n)  # x > 0 ? g : w·g and x > 0 ? 0 : x·g
    c = cost(lambda g, x, z: aten.rrelu_with_noise_backward(g, x, z, 0.1, 0.3, True, False), g, x, torch.rand_like(x))
    assert c.mults == n  # g·noise
    c = cost(lambda g, x, z: aten.rrelu_with_noise_backward(g, x, z, 0.1, 0.3, False, False), g, x, torch.rand_like(x))
    assert (c.cmps, c.mults, c.assigns) == (n, n, n)  # the leaky ReLU's, slope 0.2


def test_weight_norm_gradient_by_hand():
    """Per norm: s = Σ g_w·v, dg = s/‖v‖, a = g/‖v‖, b = a·dg/‖v‖; per element dv = a·g_w − b·v."""
    v, gain = torch.randn(6, 4, 3), torch.rand(6, 1, 1)
    w, norms = aten._weight_norm_interface(v, gain, 0)
    c = cost(lambda gw, v, g, nr: aten._weight_norm_interface_backward(gw, v, g, nr, 0), torch.randn_like(w), v, gain,
             norms)
    n, k = 72, 6
    assert (c.mults, c.adds, c.divs) == (n + k + 2 * n, n - k + n, 3 * k)


class ActivationZoo(nn.Module):
    """A training step through the activations whose gradients have their own rules."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.utils.parametrizations.weight_norm(nn.Linear(6, 16))
        self.acts = nn.ModuleList([nn.ELU(), nn.CELU(0.5), nn.SELU(), nn.Softplus(), nn.Mish(), nn.Hardshrink(),
                                   nn.Softshrink(), nn.LogSigmoid(), nn.PReLU(16), nn.RReLU()])
        self.glu = nn.GLU()
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.fc(x)
        for act in self.acts:
            x = act(x)
        return self.head(self.glu(x))

    def train_step(self, x, labels):
        F.cross_entropy(self(x), labels).backward()


def test_a_training_step_through_many_activations_is_counted_completely():
    torch.manual_seed(0)
    _check_step(ActivationZoo().train(), (torch.randn(4, 6), torch.tensor([0, 1, 2, 0])))


def test_more_loss_gradients():
    x, t = torch.rand(3, 4), torch.rand(3, 4)
    n, one = 12, torch.tensor(1.0)
    # smooth L1: d = x − t; d ≤ −β ? −n·g : d ≥ β ? n·g : n·d·g/β, every branch computed (a mean: 1/N once)
    c = cost(lambda g, x, t: aten.smooth_l1_loss_backward(g, x, t, 1, 1.0), one, x, t)
    assert (c.adds, c.cmps, c.mults, c.divs, c.assigns) == (n, 2 * n, 3 * n, n + 1, 2 * n)
    c = cost(lambda g, x, t: aten.huber_loss_backward(g, x, t, 2, 1.0), one, x, t)  # sum: no 1/N
    assert (c.adds, c.cmps, c.mults, c.divs, c.assigns) == (n, 2 * n, 4 * n, 0, 2 * n)
    # BCE: g·(x − t)/max((1 − x)·x, ε), then ·w and /N, each a pass
    c = cost(lambda g, x, t, w: aten.binary_cross_entropy_backward(g, x, t, w, 1), one, x, t, torch.rand(3, 4))
    assert (c.adds, c.mults, c.cmps, c.divs) == (2 * n, 3 * n, n, 2 * n)
    c = cost(lambda g, x, t: aten.soft_margin_loss_backward(g, x, t, 1), one, x, t.sign())  # −n·t·z/(1 + z)·g
    assert (c.transc, c.mults, c.adds, c.divs) == (n, 5 * n, n, n + 1)


class LossZoo(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(x)

    def train_step(self, x, t):
        y = self(x)
        loss = F.smooth_l1_loss(y, t) + F.huber_loss(y, t, delta=0.5) + F.soft_margin_loss(y, t.sign()) + \
            F.binary_cross_entropy(torch.sigmoid(y), t, weight=torch.rand(5))
        loss.backward()


def test_a_training_step_with_several_losses_is_counted_completely():
    torch.manual_seed(0)
    _check_step(LossZoo(), (torch.randn(3, 4), torch.rand(3, 5)))


def test_embedding_bag_and_fractional_pooling_gradients():
    ids, offsets = torch.tensor([1, 4, 2, 2, 7, 0, 3]), torch.tensor([0, 3, 5])  # bags of 3, 2, 2
    w = torch.randn(10, 6)
    L, D, B = 7, 6, 3

    def bag_cost(mode, sparse=False, psw=None):
        # the kernels themselves: _embedding_bag_backward reaches them whole on recent torch; torch 2.2
        # runs it as its decomposition, which first recomputes the offsets (integer adds of its own)
        out, offset2bag, bag_size, max_idx = aten._embedding_bag(w, ids, offsets, False, mode, sparse, psw)
        offset2bag = torch.tensor([0, 0, 0, 1, 1, 2, 2])  # (a sum's forward leaves it empty for the backward to make)
        if sparse:
            return cost(lambda g: aten._embedding_bag_sparse_backward(g, ids, offsets, offset2bag, bag_size, 10, False,
                                                                      mode, psw), torch.randn_like(out))
        return cost(lambda g: aten._embedding_bag_dense_backward(g, ids, offset2bag, bag_size, max_idx, 10, False,
                                                                 mode, psw), torch.randn_like(out))

    assert bag_cost(0).adds == L * D                                             # sum: into each row
    out, offset2bag, bag_size, max_idx = aten._embedding_bag(w, ids, offsets, False, 0, False, None)
    whole = cost(lambda g: aten._embedding_bag_backward(g, ids, offsets, offset2bag, bag_size, max_idx, 10, False, 0,
                                                        False, None), torch.randn_like(out))
    assert whole.adds >= L * D and whole.macs == whole.mults == 0  # (the same rule, or 2.2's parts)
    c = bag_cost(1)                                                              # mean: ·1/|bag|, then added
    assert (c.divs, c.mults, c.adds) == (L, L * D, L * D)
    assert (bag_cost(0, psw=torch.rand(L)).mults, bag_cost(0, psw=torch.rand(L)).adds) == (L * D, L * D)
    assert bag_cost(2).adds == B * D                                             # max: at each bag's argmax
    c = bag_cost(1, sparse=True)                            # sparse: gathered, ·(1/|bag|) (its decomposition)
    assert (c.divs, c.mults, c.adds) == (B, L * D, 0)
    out, offset2bag, bag_size, max_idx = aten._embedding_bag(w, ids, offsets, False, 1, True, None)
    whole = cost(lambda g: aten._embedding_bag_backward(g, ids, offsets, offset2bag, bag_size, max_idx, 10, False, 1,
                                                        True, None), torch.randn_like(out))
    assert (whole.divs, whole.mults) == (B, L * D)  # whole (its rule), or as the same parts
    psw = torch.rand(L)  # the sample weights' own gradient: bag gradient · embedding row, per index
    out, offset2bag, _, _ = aten._embedding_bag(w, ids, offsets, False, 0, False, psw)
    c = cost(lambda g: aten._embedding_bag_per_sample_weights_backward(g, w, ids, offsets, offset2bag, 0),
             torch.randn_like(out))
    assert c.macs == L * D
    x = torch.randn(1, 2, 7, 7)
    out, idx = aten.fractional_max_pool2d(x, [2, 2], [3, 3], torch.rand(1, 2, 2))
    c = cost(lambda g, x, i: aten.fractional_max_pool2d_backward(g, x, [2, 2], [3, 3], i), torch.randn_like(out), x,
             idx)
    assert c.adds == 18  # each output's gradient into its argmax


class SparseStep(nn.Module):
    """Sparse embeddings (their gradients are sparse tensors: assembled from indices and values)."""

    def __init__(self):
        super().__init__()
        self.embed, self.bag = nn.Embedding(10, 6, sparse=True), nn.EmbeddingBag(10, 6, mode="mean", sparse=True)
        self.head = nn.Linear(6, 3)

    def forward(self, ids):
        return self.head(self.embed(ids).mean(1) + self.bag(ids))

    def train_step(self, ids, labels):
        F.cross_entropy(self(ids), labels).backward()


def test_a_sparse_embedding_step_is_counted_completely():
    _check_step(SparseStep(), (torch.randint(0, 10, (4, 3)), torch.tensor([0, 1, 2, 0])))


def test_multi_margin_loss_gradient_by_hand():
    """Per sample and class other than its target: z = margin − x[y] + x[i] (2 adds), z > 0, the
    gradient h = c or 2·c·z (p = 2), × weight[y], subtracted from the target's (1 add); every class
    taken as inside the margin (an upper bound); then N·C mults by grad_output; c = 1/(N·C) once."""
    x, y = torch.randn(3, 5), torch.tensor([0, 3, 4])
    N, C = 3, 5
    pairs = N * (C - 1)
    c = cost(lambda g, x, y: aten.multi_margin_loss_backward(g, x, y, 1, 1.0, None, 1), torch.tensor(1.0), x, y)
    assert (c.divs, c.adds, c.cmps, c.mults) == (1, 3 * pairs, pairs, N * C)
    c = cost(lambda g, x, y, w: aten.multi_margin_loss_backward(g, x, y, 2, 0.5, w, 0), torch.randn(3), x, y,
             torch.rand(5))
    assert (c.divs, c.adds, c.cmps, c.mults) == (1, 3 * pairs, pairs, 2 * pairs + pairs + N * C)


def test_ctc_loss_gradient_by_hand():
    """β over the lattice as the forward's α (7 adds, 4 transcendental per entry, max(3·S − 1, 0) cmps
    per step: 0 at s = 2·S, 1 at 2·S − 1 and each blank, 2 at each label below, an upper bound), α + β per
    entry, the log-add of each entry into its character's sum but for the first blank and label of
    each step (1 cmp, 4 adds, 3 transcendental; 2·S − 1 per step, an upper bound), α + β at the 2 end
    states of the last step, then (e^lp − e^(Σ + nll − lp))·g per step and class (2 exps, 3 adds, 1 mult)."""
    T, B, C = 5, 2, 6
    lp = torch.randn(T, B, C).log_softmax(-1)

    def ctc(targets, in_lengths, tg_lengths):
        nll, alpha = aten._ctc_loss(lp, targets, in_lengths, tg_lengths)
        return cost(lambda g, lp, nll, alpha: aten._ctc_loss_backward(g, lp, targets, in_lengths, tg_lengths, nll,
                                                                      alpha, 0), torch.ones(B), lp, nll, alpha)

    def expected(E, K, M, ends, G):  # lattice entries, β's comparisons, log-adds, end states, steps × classes
        return K + M, ends + 7 * E + E + 4 * M + 3 * G, 4 * E + 3 * M + 2 * G, G

    # lengths as lists: the exact lattice. T_b = 5, 4; S_b = 2, 3 (2·S_b + 1 = 5, 7 states); comparisons
    # 3·2 − 1 = 5 and 3·3 − 1 = 8 per step (the kernel makes 7 for [3, 3, 4], whose 2nd label repeats the
    # 1st: the values are not recorded, the bound stays)
    c = ctc(torch.tensor([[1, 2, 0], [3, 3, 4]]), [5, 4], [2, 3])
    E, K, M = 4 * 5 + 3 * 7, 4 * 5 + 3 * 8, 4 * (2 * 2 - 1) + 3 * (2 * 3 - 1)
    assert (c.cmps, c.adds, c.transc, c.mults) == expected(E, K, M, 2 + 2, (5 + 4) * C)
    # an empty target: 1 state per step, no comparison, no log-add, 1 end state
    c = ctc(torch.tensor([[1, 2], [0, 0]]), [5, 3], [2, 0])
    E, K, M = 4 * 5 + 2 * 1, 4 * 5, 4 * 3
    assert (c.cmps, c.adds, c.transc, c.mults) == expected(E, K, M, 2 + 1, (5 + 3) * C)
    # lengths as tensors: every sequence at full length T with the longest target (3, from log_alpha's
    # 2·3 + 1 states, though the concatenated targets hold 5 labels): an upper bound
    c = ctc(torch.tensor([1, 2, 3, 3, 4]), torch.tensor([5, 4]), torch.tensor([2, 3]))
    E, K, M = B * (T - 1) * 7, B * (T - 1) * 8, B * (T - 1) * 5
    assert (c.cmps, c.adds, c.transc, c.mults) == expected(E, K, M, 2 * B, B * T * C)


def test_antialiased_upsampling_gradients():
    """Each output's gradient weighed into every tap under its filter in both dims at once,
    wx·wy·g (2 mults) and added: planes·Σtaps_h·Σtaps_w of them."""
    planes = 2 * 3
    # bilinear, 8×12 → 4×6 (scale 2): the triangle stretched to 4 input samples, 3 at either border
    taps_h, taps_w = 4 * 4 - 2, 4 * 6 - 2
    c = cost(lambda g: aten._upsample_bilinear2d_aa_backward(g, [4, 6], [2, 3, 8, 12], False), torch.randn(2, 3, 4, 6))
    assert (c.mults, c.adds) == (2 * planes * taps_h * taps_w, planes * taps_h * taps_w)
    # bicubic, 8×5 → 4×5: the height's filter stretched to 8 samples (j in [2i − 3, 2i + 5)) clipped
    # at the borders, 5, 7, 7, 5; the width keeps its size and is filtered too: j in [i − 1, i + 3),
    # clipped, 3, 4, 4, 3, 2
    taps_h, taps_w = 5 + 7 + 7 + 5, 3 + 4 + 4 + 3 + 2
    c = cost(lambda g: aten._upsample_bicubic2d_aa_backward(g, [4, 5], [2, 3, 8, 5], False), torch.randn(2, 3, 4, 5))
    assert (c.mults, c.adds) == (2 * planes * taps_h * taps_w, planes * taps_h * taps_w)


def test_roi_align_gradient_by_hand():
    """Per output element (channel and bin) and sample: the corner weights recomputed (4 adds,
    4 mults), g·w/count (4 mults, 4 divs), added into the 4 corners; an adaptive grid is uncounted."""
    torchvision = pytest.importorskip("torchvision")  # noqa: F841  (registers torchvision::_roi_align_backward)
    K, C, ph, pw, s = 2, 3, 2, 2, 2
    rois = torch.tensor([[0, 0.0, 0, 4, 4], [1, 1, 1, 6, 5]])
    backward = torch.ops.torchvision._roi_align_backward
    c = cost(lambda g, r: backward(g, r, 1.0, ph, pw, 2, C, 8, 8, s, False), torch.randn(K, C, ph, pw), rois)
    n = K * C * ph * pw * s * s
    assert (c.adds, c.mults, c.divs) == (4 * n + 4 * n, 4 * n + 4 * n, 4 * n)
    report = run(Fn(lambda g, r: backward(g, r, 1.0, ph, pw, 2, C, 8, 8, 0, True)), torch.randn(K, C, ph, pw), rois)
    assert [u.what for u in report.uncounted] == ["torchvision._roi_align_backward.default"]


def test_multilabel_margin_loss_gradient_stays_uncounted():
    """How many label pairs it visits depends on where each target row's −1 ends its labels, which
    only the values tell (as for its forward): listed by name, never a silent 0."""
    x = torch.randn(2, 5, requires_grad=True)
    report = run(Fn(lambda x, t: torch.autograd.grad(F.multilabel_margin_loss(x, t), x)), x,
                 torch.tensor([[0, 3, -1, 0, 0], [1, -1, 0, 0, 0]]))
    assert {u.what for u in report.uncounted} >= {"aten.multilabel_margin_loss_forward.default",
                                                  "aten.multilabel_margin_loss_backward.default"}


class AlignStep(nn.Module):
    """A training step through the ops whose gradients have rules of their own here: a box head's
    roi_align, an anti-aliased resize, a multi-margin loss and a CTC loss."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x, rois):
        from torchvision.ops import roi_align

        y = self.conv(x)
        small = F.interpolate(y, scale_factor=0.5, mode="bicubic", antialias=True)
        boxes = roi_align(y, rois, (2, 2), 1.0, 2) + roi_align(small, rois, (2, 2), 0.5, 2, aligned=True)
        return self.head(boxes.flatten(1))

    def train_step(self, x, rois, labels, targets):
        scores = self(x, rois)
        log_probs = scores.log_softmax(-1).unsqueeze(1).expand(3, 2, 5)  # (T = 3 boxes, B = 2, C = 5)
        loss = F.multi_margin_loss(scores, labels) + F.ctc_loss(log_probs, targets, [3, 2], [2, 1])
        loss.backward()


def test_a_training_step_with_roi_align_antialiasing_and_margin_and_ctc_losses_is_counted_completely():
    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    rois = torch.tensor([[0, 0.0, 0, 4, 4], [1, 1, 1, 6, 5], [0, 2, 2, 7, 7]])
    _check_step(AlignStep(), (torch.randn(2, 3, 8, 8), rois, torch.tensor([0, 3, 4]), torch.tensor([[1, 2], [3, 0]])))


def test_grid_sample_gradient_by_hand():
    """The CPU kernel's backward, n = N·C·Ho·Wo elements, P = N·Ho·Wo positions: the grid's gradient
    whatever the mask asks, the input's when asked; per position the coordinates un-normalised as the
    forward prices them (4 mults + 2 adds)."""
    N, C, Ho, Wo = 2, 3, 4, 7
    n, P = N * C * Ho * Wo, N * Ho * Wo  # 168, 56
    x, grid, g = torch.randn(N, C, 5, 6), torch.rand(N, Ho, Wo, 2) * 2 - 1, torch.randn(N, C, Ho, Wo)

    def c(mode, mask):
        return cost(lambda g, x, gr: aten.grid_sampler_2d_backward(g, x, gr, mode, 0, False, mask), g, x, grid)

    # bilinear: per position 4 side distances, 4 corner weights, 2 scalings; per element w·g into 4
    # corners (4 mults, 4 adds) and per coordinate ((ne − nw)·s + (se − sw)·n)·g (3 mults, 3 adds),
    # summed over the channels: 2·(n − P) adds
    both = c(0, [True, True])
    assert (both.mults, both.adds) == (4 * P + 4 * P + 2 * P + 4 * n + 6 * n, 2 * P + 4 * P + 4 * n + 6 * n + 2 * (n - P))
    assert (both.mults, both.adds) == (2240, 2240)
    grid_only = c(0, [False, True])
    assert (grid_only.mults, grid_only.adds) == (2240 - 4 * n, 2240 - 4 * n)
    assert c(0, [True, False]) == both  # (the kernel computes the grid's gradient anyway)
    # nearest: each g added into its source; the grid's gradient is zero
    nearest = c(1, [True, True])
    assert (nearest.mults, nearest.adds) == (4 * P, 2 * P + n)
    assert (c(1, [False, True]).mults, c(1, [False, True]).adds) == (0, 0)
    # bicubic, 16 taps: per position fractional parts (2 adds), coefficients and derivatives
    # (40 mults, 46 adds), scalings (2 mults); per element g·cx·cy into each tap (32 mults, 16 adds),
    # val·g·c′·c per tap and coordinate (96 mults), summed: 2·(16·n − P) adds
    bicubic = c(2, [True, True])
    assert (bicubic.mults, bicubic.adds) == (4 * P + 40 * P + 2 * P + 32 * n + 96 * n,
                                             2 * P + 2 * P + 46 * P + 16 * n + 2 * (16 * n - P))



def _grid_sample_3d_cost(mode, mask, N=2, C=3, out=(2, 3, 4)):
    x, g = torch.randn(N, C, 3, 4, 5), torch.randn(N, C, *out)
    grid = torch.rand(N, *out, 3) * 2 - 1
    return cost(lambda g, x, gr: aten.grid_sampler_3d_backward(g, x, gr, mode, 0, False, mask), g, x, grid)


def test_grid_sample_3d_gradient_by_hand():
    """The CPU kernel's 3-D backward (a scalar loop), n = N·C·Do·Ho·Wo elements, P = N·Do·Ho·Wo
    positions: every position's three coordinates un-normalised (6 mults + 3 adds) whatever the mode
    and mask; the grid's gradient whatever the mask asks, the input's when asked."""
    N, C, Do, Ho, Wo = 2, 3, 2, 3, 4
    n, P = N * C * Do * Ho * Wo, N * Do * Ho * Wo  # 144, 48
    # trilinear: per position 6 face distances, 8 corner weights of 2 mults, 3 scalings; per element
    # w·g into 8 corners (8 mults, 8 adds) and val·d·d′·g per corner and coordinate (8·3·3 = 72
    # mults), summed over corners and channels: 3·(8·n − P) adds
    both = _grid_sample_3d_cost(0, [True, True])
    assert (both.mults, both.adds) == (6 * P + 16 * P + 3 * P + 8 * n + 72 * n, 3 * P + 6 * P + 8 * n + 3 * (8 * n - P))
    assert (both.mults, both.adds) == (12720, 4896)
    grid_only = _grid_sample_3d_cost(0, [False, True])
    assert (grid_only.mults, grid_only.adds) == (12720 - 8 * n, 4896 - 8 * n)
    assert _grid_sample_3d_cost(0, [True, False]) == both  # (the kernel computes the grid's gradient anyway)
    assert (both.macs, both.divs, both.cmps, both.transc) == (0, 0, 0, 0)
    # nearest: each g added into its source; the grid's gradient is zero, but the loop still
    # un-normalises every position
    nearest = _grid_sample_3d_cost(1, [True, True])
    assert (nearest.mults, nearest.adds) == (6 * P, 3 * P + n) == (288, 288)
    grid_only = _grid_sample_3d_cost(1, [False, True])
    assert (grid_only.mults, grid_only.adds) == (6 * P, 3 * P)


def test_grid_sample_3d_gradient_generalises_the_2d_structure():
    """Where the kernels agree, the 3-D rule is the 2-D rule with a third coordinate and twice the
    corners: un-normalisation 2 mults + 1 add per coordinate and position, the input gradient 1 mult
    + 1 add per corner and element (4 in 2-D, 8 in 3-D), nearest's a scatter of one add per element;
    the grid gradient summed over its terms, coordinates·(terms·n − P) adds (2-D bilinear factors its
    corners into one term per coordinate, 3-D sums 8)."""
    N, C = 2, 3
    x2, g2 = torch.randn(N, C, 5, 6), torch.randn(N, C, 6, 4)
    grid2 = torch.rand(N, 6, 4, 2) * 2 - 1
    n, P = g2.numel(), N * 6 * 4  # the 3-D case below has the same n and P: (2, 3, 4) = 24 positions

    def c2(mode, mask):
        return cost(lambda g, x, gr: aten.grid_sampler_2d_backward(g, x, gr, mode, 0, False, mask), g2, x2, grid2)

    def c3(mode, mask):
        return _grid_sample_3d_cost(mode, mask, N=N, C=C, out=(2, 3, 4))

    for coords, nearest in ((2, c2(1, [True, True])), (3, c3(1, [True, True]))):
        assert (nearest.mults, nearest.adds) == (2 * coords * P, coords * P + n)
    for corners, c in ((4, c2), (8, c3)):
        input_gradient = c(0, [True, True]) - c(0, [False, True])
        assert (input_gradient.mults, input_gradient.adds) == (corners * n, corners * n)
    # the grid gradient's sums: 2-D 2·(n − P) of the 6·n + 2·(n − P) adds per element beyond the
    # per-position lines; 3-D 3·(8·n − P)
    grid2_adds = c2(0, [False, True]).adds - (2 + 4) * P
    grid3_adds = c3(0, [False, True]).adds - (3 + 6) * P
    assert grid2_adds == 6 * n + 2 * (n - P)
    assert grid3_adds == 3 * (8 * n - P)


def _grid_lines(fn, *inputs):
    report = run(Fn(fn), *inputs)
    assert report.complete, report.uncounted
    return {(t.category, t.what, t.formula, t.value) for t in report.root.terms}


@pytest.mark.parametrize("dims, mode", [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1)])
def test_grid_sample_forward_and_backward_price_a_position_alike(dims, mode):
    """The forward's per-position lines (un-normalisation; bilinear/trilinear side distances and
    corner weights; bicubic fractional parts and coefficients) are the backward's, line for line
    (rules/_grid.py builds both); the backward adds only the grid gradient's scaling (and, bicubic,
    the coefficients' derivatives)."""
    N, C, out = 2, 3, (2, 3, 4)[-dims:]
    x = torch.randn(N, C, *(5, 6, 7)[-dims:])
    grid = torch.rand(N, *out, dims) * 2 - 1
    g = torch.randn(N, C, *out)
    sampler = aten.grid_sampler_2d if dims == 2 else aten.grid_sampler_3d
    backward = aten.grid_sampler_2d_backward if dims == 2 else aten.grid_sampler_3d_backward
    forward = _grid_lines(lambda x, gr: sampler(x, gr, mode, 0, False), x, grid)
    per_position = {t for t in forward if t[2].endswith("·positions")}
    assert per_position and all("elements" in t[2] for t in forward - per_position)
    grads = _grid_lines(lambda g, x, gr: backward(g, x, gr, mode, 0, False, [True, True]), g, x, grid)
    assert per_position <= grads
    extra = {t[1] for t in grads - per_position if t[2].endswith("·positions")}
    assert extra == ({"grid gradient scaling (x and y)", "cubic coefficients' derivatives (x and y)"} if mode == 2
                     else set() if mode == 1 else
                     {"grid gradient scaling (x and y)" if dims == 2 else "grid gradient scaling (x, y and z)"})


class SamplerStep(nn.Module):
    """A spatial-transformer step: a conv net predicts an affine grid, grid_sample warps the features
    with it (the grid's gradient flows into the localisation net), as in RAFT's correlation lookup."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.loc = nn.Linear(4 * 8 * 8, 6)
        self.head = nn.Linear(4 * 6 * 5, 3)

    def forward(self, x):
        y = self.conv(x)
        theta = self.loc(y.flatten(1)).view(-1, 2, 3)
        grid = F.affine_grid(theta, [x.shape[0], 4, 6, 5], align_corners=False)
        return self.head(F.grid_sample(y, grid, mode=self.mode, align_corners=False).flatten(1))

    def train_step(self, x, labels):
        F.cross_entropy(self(x), labels).backward()


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_a_grid_sample_training_step_is_counted_completely(mode):
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    step, batch = SamplerStep(mode), (torch.randn(2, 3, 8, 8), torch.tensor([0, 2]))
    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    assert _unevaluated(report) == []
    with FlopCounterMode(display=False) as counter:
        step.train_step(*batch)
    # flop_counter has no formula for the forward's affine_grid_generator (θ times each of the 2×6×5
    # grid points' homogeneous coordinates, 3×2 MACs each); its backward is a bmm it counts
    assert counter.get_total_flops() + 2 * (2 * 6 * 5 * 3 * 2) == 2 * report.total.macs



class VolumeStep(nn.Module):
    """A small 3-D U-Net's training step with an SGD update: Conv3d with BatchNorm3d, InstanceNorm3d
    and GroupNorm, max and average pooling, ``mode`` (trilinear or nearest) upsampling, an affine
    5-D grid predicted from the adaptively pooled features warping them through F.grid_sample
    (bilinear, i.e. trilinear, with trilinear upsampling, else nearest), a ConvTranspose3d decoder
    with a skip connection, a per-voxel cross-entropy."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode
        self.enc1 = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv3d(4, 8, 3, padding=1), nn.InstanceNorm3d(8, affine=True), nn.ReLU())
        self.mid = nn.Sequential(nn.Conv3d(8, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU())
        self.loc = nn.Linear(8, 12)
        self.up = nn.ConvTranspose3d(8, 4, 2, stride=2)
        self.head = nn.Conv3d(8, 3, 1)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)

    def forward(self, x):
        a = self.enc1(x)                                              # 8³
        b = self.enc2(F.max_pool3d(a, 2))                             # 4³
        c = F.interpolate(self.mid(F.avg_pool3d(b, 2)), scale_factor=2, mode=self.mode)  # 2³ → 4³
        theta = self.loc(F.adaptive_avg_pool3d(c, 1).flatten(1)).view(-1, 3, 4)
        grid = F.affine_grid(theta, list(c.shape), align_corners=False)
        c = F.grid_sample(c, grid, mode="bilinear" if self.mode == "trilinear" else "nearest", align_corners=False)
        return self.head(torch.cat([self.up(c), a], 1))

    def train_step(self, x, labels):
        self.optimizer.zero_grad()
        F.cross_entropy(self(x), labels).backward()
        self.optimizer.step()


@pytest.mark.parametrize("mode", ["trilinear", "nearest"])
def test_a_volumetric_unet_training_step_is_counted_completely(mode):
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    step, batch = VolumeStep(mode), (torch.randn(2, 2, 8, 8, 8), torch.randint(0, 3, (2, 8, 8, 8)))
    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    assert _unevaluated(report) == []
    lines = {(t.what, t.formula) for t in report.root.terms}  # the 3-D sampler's gradient among them
    assert ("grid un-normalisation (2 per coordinate)", "6·positions") in lines
    assert (("distances to the six faces", "6·positions") in lines) == (mode == "trilinear")
    if not TESTED_TORCH:
        return  # (torch 2.2's flop_counter overcounts a transposed convolution's backward: 5.35 M, not 1.22 M)
    with FlopCounterMode(display=False) as counter:
        step.train_step(*batch)
    # flop_counter has no formula for the forward's affine_grid_generator (θ times each of the
    # 2×4×4×4 grid points' homogeneous coordinates, 4×3 MACs each); its backward is a bmm it counts
    assert counter.get_total_flops() + 2 * (2 * 4 * 4 * 4 * 4 * 3) == 2 * report.total.macs



class VideoStep(nn.Module):
    """A torchvision video classifier's training step: cross-entropy over its 5 classes, SGD with
    momentum."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def forward(self, x):
        return self.net(x)

    def train_step(self, x, labels):
        self.optimizer.zero_grad()
        F.cross_entropy(self.net(x), labels).backward()
        self.optimizer.step()


@pytest.mark.parametrize("name, shape", [pytest.param("r3d_18", (1, 3, 4, 32, 32), marks=pytest.mark.slow),
                                         ("mc3_18", (1, 3, 4, 32, 32)),
                                         ("r2plus1d_18", (1, 3, 4, 32, 32)), ("swin3d_t", (1, 3, 4, 64, 64))])
def test_video_classifier_training_steps_are_counted_completely(name, shape):
    """Tiny clips (4 frames) through torchvision's 3-D ResNets, R(2+1)D and Video Swin: every op of
    the forward, the backward and the SGD update priced, the MACs equal to flop_counter's (their
    convolutions have one group)."""
    video = pytest.importorskip("torchvision.models.video")
    torch.manual_seed(0)
    step = VideoStep(getattr(video, name)(num_classes=5))
    _check_step(step, (torch.randn(*shape), torch.tensor([3])))


@pytest.mark.slow
def test_an_mvit_training_step_is_counted_completely_on_meta():
    """MViT-B (16×224×224, on the meta device): every op priced; the MACs are flop_counter's less its
    overcount of the depthwise pooling convolutions' weight gradients, which it takes as if groups
    were 1 (groups − 1 times the forward's MACs more per grouped convolution)."""
    from torch.utils.flop_counter import FlopCounterMode

    video = pytest.importorskip("torchvision.models.video")
    step = VideoStep(video.mvit_v1_b(num_classes=5).to("meta"))
    batch = (torch.randn(1, 3, 16, 224, 224, device="meta"), torch.tensor([3], device="meta"))
    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    overcount = 0

    def grouped_forward_macs(m, inputs, out):
        nonlocal overcount
        overcount += (m.groups - 1) * out.numel() * (m.in_channels // m.groups) * prod(m.kernel_size)

    hooks = [m.register_forward_hook(grouped_forward_macs) for m in step.modules()
             if isinstance(m, nn.Conv3d) and m.groups > 1]
    with FlopCounterMode(display=False) as counter:
        step.train_step(*batch)
    for hook in hooks:
        hook.remove()
    assert len(hooks) == 35 and overcount > 0
    assert counter.get_total_flops() // 2 == report.total.macs + overcount


def test_foreach_ops_cost_their_per_tensor_op_on_each_tensor():
    """The multi-tensor ops of gradient clipping and of the optimizers' foreach path (PyTorch's
    default on CUDA): each tensor priced by the per-tensor op's rule."""
    a, b = torch.randn(4, 8), torch.randn(4)
    c = cost(lambda a, b: torch._foreach_mul([a, b], 2.0), a, b)
    assert (c.mults, c.adds) == (32 + 4, 0)
    c = cost(lambda a, b: torch._foreach_norm([a, b]), a, b)  # per tensor: squares, a sum, a root
    assert (c.mults, c.adds, c.transc) == (32 + 4, 31 + 3, 2)
    c = cost(lambda a, b: torch._foreach_addcmul([a, b], [a, b], [a, b], value=0.5), a, b)
    assert (c.mults, c.adds) == (2 * 36, 36)  # a + v·b·c
    # complex tensors are expanded once, by each tensor's op: 4 mults + 2 adds per complex product
    z, w = torch.randn(3, dtype=torch.complex64), torch.randn(2, dtype=torch.complex64)
    assert cost(lambda z, w: torch._foreach_mul([z, w], [z, w]), z, w) == cost(lambda z, w: (z * z, w * w), z, w)
    assert cost(lambda z, w: torch._foreach_mul([z, w], [z, w]), z, w).mults == 4 * 5


class Clipped(nn.Module):
    def __init__(self, foreach: bool):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        self.foreach = foreach

    def forward(self, x):
        return self.layers(x)

    def train_step(self, x):
        self(x).square().sum().backward()
        nn.utils.clip_grad_norm_(self.parameters(), 1.0, foreach=self.foreach)
        nn.utils.clip_grad_value_(self.parameters(), 0.1, foreach=self.foreach)


def test_gradient_clipping_costs_the_same_with_and_without_foreach():
    """The per-tensor loop is the independent reference for the foreach ops."""
    x = torch.randn(5, 8)
    looped = torchcount.profile(Clipped(False), x, method="train_step", warn=False)
    fused = torchcount.profile(Clipped(True), x, method="train_step", warn=False)
    assert looped.complete and fused.complete, fused.uncounted
    costs = [(r.total.cost.mults, r.total.cost.adds, r.total.cost.cmps, r.total.cost.transc) for r in (looped, fused)]
    assert costs[0] == costs[1]


def test_bilinear_backward_trilinear_calls_by_hand():
    """nn.Bilinear's backward runs ``aten._trilinear`` three times, with the roles of its operands
    permuted (they were uncounted; the forward's call alone had a rule). Each is counted as the kernel
    computes it, slice by slice of dim 1 (k): x1 (2×3), A (5×3×4), x2 (2×4), grad (2×5), so b = 2,
    n1 = 3, n2 = 4, k = 5:
      grad x1: per k, grad·A an outer product (b·n1·n2 = 24 mults), then ·x2 summed over n2 (24 MACs),
               the slice added into the output (b·n1 = 6 adds): 120 mults, 120 MACs, 30 adds;
      grad A:  per k, x1·grad (b·n1 = 6 mults), then ·x2 summed over b (b·n1·n2 = 24 MACs): 30, 120;
      grad x2: per k, x1·A summed over n1 (24 MACs), then ·grad accumulated over k (b·n2 = 8 MACs): 160,
               the forward's rows·k·(n1 + 1)·n2."""
    tri = aten._trilinear
    x1, w, x2, g = torch.randn(2, 3), torch.randn(5, 3, 4), torch.randn(2, 4), torch.randn(2, 5)
    c = cost(lambda g, w, x2: tri(g, w, x2, [2, 3], [0], [1, 2], [1, 3]), g, w, x2)
    assert (c.macs, c.mults, c.adds) == (120, 120, 30)
    c = cost(lambda x1, g, x2: tri(x1, g, x2, [1, 3], [2, 3], [1, 2], [0]), x1, g, x2)
    assert (c.macs, c.mults, c.adds) == (120, 30, 0)
    c = cost(lambda x1, w, g: tri(x1, w, g, [1, 3], [0], [2, 3], [1, 2]), x1, w, g)
    assert (c.macs, c.mults, c.adds) == (160, 0, 0)
    c = cost(lambda x1, w, x2: tri(x1, w, x2, [1, 3], [0], [1, 2], [2, 3]), x1, w, x2)  # the forward's
    assert (c.macs, c.mults, c.adds) == (2 * 5 * (3 + 1) * 4, 0, 0)

    # a training step through nn.Bilinear: complete; its backward's MACs are those three calls'
    # (grad x2 as x2 requires grad, grad x1 for the Linear before it) plus the Linear's gradients
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.bil = nn.Linear(3, 3, bias=False), nn.Bilinear(3, 4, 5, bias=False)

        def forward(self, x, y):
            return self.bil(self.lin(x), y)

    def step(model, x, y):
        model(x, y).sum().backward()

    report = torchcount.profile(Net(), (x1, x2.requires_grad_()), method=step)
    assert report.complete, report.uncounted
    # forward 2·3·3 + 160; backward 120 + 120 + 160 (the three calls) + 2·3·3 (the Linear's weight
    # gradient; its input needs none)
    assert report.total.macs == 18 + 160 + 120 + 120 + 160 + 18
