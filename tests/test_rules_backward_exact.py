"""rules/backward.py's rules at the sizes and arguments tests/test_backward.py does not reach: each op
called directly (or, for a kernel CPU torch cannot run, priced from a hand-built call) and its counts
checked against a closed form with the sizes substituted, or against torch.utils.flop_counter where it
counts the op. Each test here killed a mutant of rules/backward.py that the other tests let survive."""
from __future__ import annotations

import pytest
import torch

from conftest import TESTED_TORCH, ops_cost as cost, nonzero_counts as counts
from torchcount.capture import OpCall, describe
from torchcount.count import price_op

aten = torch.ops.aten


def price(op, *args, out=None, **kwargs):
    """The rule's price of a hand-built call (for a kernel this CPU torch cannot run)."""
    return price_op(OpCall(op, describe(args), describe(kwargs), describe(out)))


def test_adaptive_avg_pool3d_gradient_windows_span_depth_height_and_width():
    """(1, 2, 5, 4, 6) pooled to (3, 2, 4): windows 5 → 3 of 2, 3, 2 (Σ 7), 4 → 2 of 2, 2 (Σ 4), 6 → 4 of
    2, 2, 2, 2 (Σ 8): 2 planes · 7·4·8 = 448 additions, one division per output (2·3·2·4 = 48). Taking
    the op for a 2-d one (windows over the last two dims, depth as planes) gives 2·5·4·8 = 320."""
    x, g = torch.randn(1, 2, 5, 4, 6), torch.randn(1, 2, 3, 2, 4)
    c = cost(lambda g, x: aten._adaptive_avg_pool3d_backward(g, x), g, x)
    assert counts(c) == {"adds": 448, "divs": 48}


def test_fused_rms_norm_gradient_of_a_frozen_weight_leaves_out_the_weight_gradient():
    """``_fused_rms_norm_backward`` with a weight not trained (output_mask [True, False]): the input
    gradient alone, 2×3 rows of D = 8 (48 elements): 4·48 + 3·6 mults, 48 − 6 + 48 adds, 6 divs —
    no 2·48 mults and 48 − 8 adds of dw = Σ g·x·rstd."""
    if not hasattr(aten, "_fused_rms_norm_backward"):
        pytest.skip(f"torch {torch.__version__} has no _fused_rms_norm_backward")
    g, x, w, rstd = torch.empty(2, 3, 8), torch.empty(2, 3, 8), torch.empty(8), torch.empty(2, 3, 1)
    c = price(aten._fused_rms_norm_backward.default, g, x, [8], rstd, w, [True, False], out=(g, None))
    assert counts(c) == {"mults": 4 * 48 + 3 * 6, "adds": 48 - 6 + 48, "divs": 6}


def test_embedding_gradient_scaled_by_frequency_counts_divides_and_scales_each_row():
    """``embedding_dense_backward(grad, indices, num_weights, padding_idx, scale_grad_by_freq=True)``,
    15 indices (3×5) of rows of D = 6, as the CPU kernel computes it: each index counted (15 adds),
    scale = 1/count per index (15 divs), then each row's gradient added in times its scale
    (grad_weight[k].add_(grad[i], scale): 15·6 = 90 mults and 90 adds); without the flag the 90 adds
    alone."""
    ids, g = torch.randint(0, 10, (3, 5)), torch.randn(3, 5, 6)
    c = cost(lambda g, i: aten.embedding_dense_backward(g, i, 10, -1, True), g, ids)
    assert counts(c) == {"adds": 90 + 15, "divs": 15, "mults": 90}
    c = cost(lambda g, i: aten.embedding_dense_backward(g, i, 10, -1, False), g, ids)
    assert counts(c) == {"adds": 90}


def test_embedding_bag_gradient_scaled_by_frequency_divides_and_scales_each_index():
    """The dense gradient of EmbeddingBag(10, 4, scale_grad_by_freq=True), 6 indices in 2 bags, as the
    CPU kernel computes it: each index's scale divided by its count (6 divs; a mean's 1/bag size is 6
    divs more), then its bag's gradient added into its row times that scale (6·4 = 24 mults, 24 adds).
    Unscaled, a sum is the 24 adds alone. (The kernel counts the indices for every bag gradient,
    scaled or not: not counted here either way.)"""
    ids, offsets, w = torch.tensor([1, 2, 1, 3, 1, 2]), torch.tensor([0, 4]), torch.randn(10, 4)
    g = torch.randn(2, 4)
    for mode, scaled, expected in ((0, True, {"divs": 6, "mults": 24, "adds": 24}),
                                   (0, False, {"adds": 24}),
                                   (1, True, {"divs": 12, "mults": 24, "adds": 24}),
                                   (1, False, {"divs": 6, "mults": 24, "adds": 24})):
        _, offset2bag, bag_size, max_idx = aten._embedding_bag(w, ids, offsets, scaled, mode)
        c = price(aten._embedding_bag_backward.default, g, ids, offsets, offset2bag, bag_size, max_idx, 10,
                  scaled, mode, False, None, out=w)
        assert counts(c) == expected, (mode, scaled)
        # run: the same (torch 2.2 recomputes the offsets first, integer additions of its own)
        c = cost(lambda g: aten._embedding_bag_backward(g, ids, offsets, offset2bag, bag_size, max_idx, 10,
                                                        scaled, mode, False, None), g)
        assert (counts(c) if TESTED_TORCH else {"divs": c.divs, "mults": c.mults}) == \
            (expected if TESTED_TORCH else {"divs": expected.get("divs", 0), "mults": expected.get("mults", 0)}), \
            (mode, scaled)


def test_nll_loss_gradient_of_an_input_without_classes_is_priced_at_nothing():
    """An unbatched input of no classes, x (0,), its one target the ignore_index (F.nll_loss runs it,
    giving nan): without a reduction the kernel writes no −w·g (0 // max(0, 1) = 0 rows picked) and
    the op is still priced, with no division by its 0 elements; with a mean, the one negation and the
    one division by Σw."""
    x, t, g, w = torch.randn(0), torch.tensor(-100), torch.tensor(1.0), torch.tensor(0.0)
    c = cost(lambda g, x, w: aten.nll_loss_backward(g, x, t, None, 0, -100, w), g, x, w)
    assert counts(c) == {}
    c = cost(lambda g, x, w: aten.nll_loss_backward(g, x, t, None, 1, -100, w), g, x, w)
    assert counts(c) == {"mults": 1, "divs": 1}


def test_sparse_embedding_bag_gradient_with_sample_weights_scales_each_gathered_row():
    """``_embedding_bag_backward(..., mode=sum, sparse=True, per_sample_weights)``: 7 indices in bags
    of 3, 2, 2, rows of D = 6: each bag's gradient gathered per index (a copy) and times its sample
    weight, 7·6 = 42 mults and nothing else — the op's rule (a hand-built call) and the op run (whole,
    or as torch's decomposition: a gather, then a mul) alike; without sample weights, nothing."""
    ids, offsets, w = torch.tensor([1, 4, 2, 2, 7, 0, 3]), torch.tensor([0, 3, 5]), torch.randn(10, 6)
    psw = torch.rand(7)
    out, offset2bag, bag_size, max_idx = aten._embedding_bag(w, ids, offsets, False, 0, True, psw)
    g = torch.randn_like(out)
    c = price(aten._embedding_bag_backward.default, g, ids, offsets, offset2bag, bag_size, max_idx, 10, False, 0,
              True, psw, out=w)
    assert counts(c) == {"mults": 42}
    c = cost(lambda g: aten._embedding_bag_backward(g, ids, offsets, offset2bag, bag_size, max_idx, 10, False, 0,
                                                    True, psw), g)
    assert (c.mults, c.divs, c.macs) == (42, 0, 0)
    # without sample weights, the bag gradients gathered alone: no arithmetic
    c = price(aten._embedding_bag_backward.default, g, ids, offsets, offset2bag, bag_size, max_idx, 10, False, 0,
              True, None, out=w)
    assert counts(c) == {}


@pytest.mark.skipif(not TESTED_TORCH, reason="the attention kernels' schemas as the tested torch has them")
def test_efficient_attention_kernel_gradient_with_a_bias_and_value_heads_wider_than_the_keys():
    """``_efficient_attention_backward`` (operands (batch, length, heads, dim)), B = 2, H = 3, L = 5,
    S = 7, E = 4, Ev = 6: 6·5·7 = 210 scores. MACs 3·210·4 + 2·210·6 = 5040, which is half of
    torch.utils.flop_counter's sdpa_backward_flop_count; mults 210 (scale) + 210 (·P) + 6·5·6 = 180
    (D = Σ dO·O) = 600; adds 210 (− lse) + 210 (dP − D) + 6·5·(6 − 1) = 150 (D's sums) = 570, and
    210 more with a bias, even a one-element one broadcast over the scores; an empty bias is none."""
    from torch.utils.flop_counter import sdpa_backward_flop_count

    B, H, L, S, E, Ev = 2, 3, 5, 7, 4, 6
    q, k, v = torch.empty(B, L, H, E), torch.empty(B, S, H, E), torch.empty(B, S, H, Ev)
    o = torch.empty(B, L, H, Ev)
    lse, seed = torch.empty(B, H, L), torch.empty(2, dtype=torch.int64)

    def priced(bias):
        return counts(price(aten._efficient_attention_backward.default, o, q, k, v, bias, o, None, None, L, S, lse,
                            0.0, seed, seed, 0, False, out=(q, k, v, None)))

    plain = {"macs": 5040, "mults": 600, "adds": 570, "transc": 210}
    assert priced(None) == priced(torch.empty(0)) == plain
    assert priced(torch.empty(1, 1, 1, 1)) == priced(torch.empty(B, H, L, S)) == dict(plain, adds=570 + 210)
    assert sdpa_backward_flop_count((B, H, L, Ev), (B, H, L, E), (B, H, S, E), (B, H, S, Ev)) == 2 * 5040


def test_nll_loss_gradient_of_a_batch_without_classes_is_priced_at_nothing():
    """A batch of 3 rows of no classes, x (3, 0), every target the ignore_index (torch runs it): no
    row has a class to write −w·g at, 0 mults without a reduction (the rule divided 0 by the 0 classes
    and failed the whole profile); with a sum, the one negation."""
    x, t, w = torch.randn(3, 0), torch.full((3,), -100), torch.tensor(0.0)
    c = cost(lambda g, x: aten.nll_loss_backward(g, x, t, None, 0, -100, w), torch.ones(3), x)
    assert counts(c) == {}
    c = cost(lambda g, x: aten.nll_loss_backward(g, x, t, None, 2, -100, w), torch.tensor(1.0), x)
    assert counts(c) == {"mults": 1}


def test_multi_margin_loss_gradient_of_a_0_d_input_is_one_class():
    """A 0-d input (one sample of one class, its target 0; torch runs it): the constant 1/C once
    (1 div), no class other than the target (0 pairs: no adds, cmps), and its one gradient element
    times grad_output (1 mult)."""
    c = cost(lambda g, x: aten.multi_margin_loss_backward(g, x, torch.tensor(0), 1, 1.0, None, 1), torch.tensor(1.0),
             torch.tensor(0.5))
    assert counts(c) == {"divs": 1, "mults": 1}


def test_convolution_gradient_of_one_output_channel_with_a_bias():
    """A conv of one output channel with a bias (bias_sizes [1], every gradient asked): x (2, 3, 5, 5),
    w (1, 3, 3, 3), grad (2, 1, 3, 3): 18 outputs · 3·3·3 = 486 MACs for the input gradient and 486 for
    the weight's — together half of torch.utils.flop_counter's count (groups 1) — and the bias
    gradient Σ of the 18 output-gradient elements of its one channel, 17 additions."""
    from torch.utils.flop_counter import FlopCounterMode

    x, w, g = torch.randn(2, 3, 5, 5), torch.randn(1, 3, 3, 3), torch.randn(2, 1, 3, 3)
    args = ([1], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, True, True])
    c = cost(lambda g, x, w: aten.convolution_backward(g, x, w, *args), g, x, w)
    assert counts(c) == {"macs": 2 * 486, "adds": 17}
    with FlopCounterMode(display=False) as counter:
        aten.convolution_backward(g, x, w, *args)
    assert counter.get_total_flops() == 2 * (2 * 486)


@pytest.mark.parametrize("bias_sizes", [None, [0]])
def test_convolution_gradient_of_a_bias_asked_for_without_bias_sizes(bias_sizes):
    """A direct call asking for the bias gradient (output_mask[2] True) with bias_sizes None or [0]:
    torch still returns it, the Σ of the output gradient per channel — grad (2, 4, 3, 3), 18 elements
    per channel, 4·(18 − 1) = 68 additions — beside the 2·(72 outputs · 3·3·3) = 2·1,944 MACs."""
    x, w, g = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3), torch.randn(2, 4, 3, 3)
    args = (bias_sizes, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, True, True])
    assert aten.convolution_backward(g, x, w, *args)[2].shape == (4,)   # torch computes it
    c = cost(lambda g, x, w: aten.convolution_backward(g, x, w, *args), g, x, w)
    assert counts(c) == {"macs": 2 * 1944, "adds": 68}


def test_fused_lstm_cell_gradient_without_a_cell_state_gradient():
    """``_thnn_fused_lstm_cell_backward_impl(grad_hy, grad_cy=None, cx, cy, workspace, has_bias)`` (the
    last step's cell state unused: no gradient reaches cy), N = 3, H = 4, the sizes read from cx: the
    missing grad_cy read as zeros, the same arithmetic — 12 tanh, 16·12 mults, 6·12 adds and the bias
    gradient 4·4·(3 − 1) = 32 adds."""
    N, H = 3, 4
    state, gates = torch.empty(N, H), torch.empty(N, 4 * H)
    c = price(aten._thnn_fused_lstm_cell_backward_impl.default, state, None, state, state, gates, True,
              out=(gates, state, torch.empty(4 * H)))
    assert counts(c) == {"transc": 12, "mults": 16 * 12, "adds": 6 * 12 + 32}


@pytest.mark.parametrize("name, extra, per_element", [
    ("mse_loss_backward", (), {"adds": 1, "mults": 2}),
    ("smooth_l1_loss_backward", (1.0,), {"adds": 1, "cmps": 2, "mults": 3, "divs": 1, "assigns": 2}),
    ("huber_loss_backward", (1.0,), {"adds": 1, "cmps": 2, "mults": 4, "assigns": 2}),
    ("soft_margin_loss_backward", (), {"transc": 1, "mults": 5, "adds": 1, "divs": 1}),
])
def test_pointwise_loss_gradient_of_a_target_larger_than_the_input(name, extra, per_element):
    """A direct call whose target (2, 3) is larger than ``self`` (3,) (sum reduction): torch broadcasts
    and returns a (2, 3) gradient, so each per-element term is priced 6 times, not 3 — MSE's
    2·(x − t)·g is 6 differences and 12 multiplications."""
    op = getattr(aten, name)
    x, t = torch.randn(3), torch.randn(2, 3)
    assert op(torch.tensor(1.0), x, t, 2, *extra).shape == (2, 3)        # torch's own result
    c = cost(lambda g, x: op(g, x, t, 2, *extra), torch.tensor(1.0), x)
    assert counts(c) == {k: 6 * v for k, v in per_element.items()}
