"""rules/matmul.py's op rules at sizes where each count can be derived by hand (or taken from
torch.utils.flop_counter, 2 FLOPs per MAC): cases the mutation round over the file found no test
pinned."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from torchcount.capture import OpCall, describe
from torchcount.rules.registry import op_rule_for

from conftest import TESTED_TORCH, run, nonzero_counts as counts, ops_counts as ops_of

aten = torch.ops.aten


def priced(op, *args, **kwargs) -> dict:
    """The op's rule called directly on a real call of the op."""
    call = OpCall(op, describe(args), describe(kwargs), describe(op(*args, **kwargs)))
    return counts(op_rule_for(op)(call))


def flop_counter_flops(fn, *xs) -> int:
    with FlopCounterMode(display=False) as fc:
        fn(*xs)
    return fc.get_total_flops()


def test_convolution_op_with_a_bias_adds_it_to_every_output():
    """F.conv2d(x (2, 3, 8, 8), w (4, 3, 3, 3), b (4,)): outputs (2, 4, 6, 6) = 288; MACs ∏weight ·
    positions = 108 · (2·6·6) = 7776 (torch.utils.flop_counter's 2·MACs, which leaves the bias out),
    and one bias addition per output, 288. Without the bias, no addition."""
    x, w, b = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(4)
    assert ops_of(lambda x, w, b: F.conv2d(x, w, b), x, w, b) == {"macs": 7776, "adds": 288}
    assert 2 * 7776 == flop_counter_flops(lambda x, w: F.conv2d(x, w), x, w)
    assert ops_of(lambda x, w: F.conv2d(x, w), x, w) == {"macs": 7776}
    # transposed, with a bias: ∏weight per *input* position, (4·2·3·3)·(1·5·5) = 1800 MACs;
    # outputs (1, 2, 7, 7), (5 − 1) + 3 = 7 per side: 2·49 = 98 bias additions
    xt, wt, bt = torch.randn(1, 4, 5, 5), torch.randn(4, 2, 3, 3), torch.randn(2)
    assert ops_of(lambda x, w, b: F.conv_transpose2d(x, w, b), xt, wt, bt) == {"macs": 1800, "adds": 98}
    assert 2 * 1800 == flop_counter_flops(lambda x, w: F.conv_transpose2d(x, w), xt, wt)


def test_sdpa_composite_op_prices_its_mask_and_dropout_by_hand():
    """aten.scaled_dot_product_attention met whole, q (2, 3, 4, 8), k (2, 3, 5, 8), v (2, 3, 5, 6):
    B = 6, L = 4, S = 5, E = 8, Ev = 6, scores B·L·S = 120. q and k scaled: B·(L + S)·E = 432 mults;
    Q·Kᵀ 120·8 = 960 and A·V 120·6 = 720 MACs (torch.utils.flop_counter: 2·1680); softmax over S for
    B·L = 24 rows: 24·4 = 96 cmps, 120 + 96 adds, 120 exps, 120 divs; a mask one addition per score
    (120); a boolean (4, 5) mask made additive first, one assignment per mask element (20); dropout
    p = 0.5 a draw, a scaling and a multiplication per score (120 cmps, divs, mults)."""
    op = aten.scaled_dot_product_attention.default
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    base = {"mults": 432, "macs": 1680, "cmps": 96, "adds": 216, "transc": 120, "divs": 120}
    assert priced(op, q, k, v) == base
    assert 2 * 1680 == flop_counter_flops(F.scaled_dot_product_attention, q, k, v)
    masked = {**base, "adds": 216 + 120}
    assert priced(op, q, k, v, attn_mask=torch.zeros(4, 5)) == masked
    assert priced(op, q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.bool)) == {**masked, "assigns": 20}
    assert priced(op, q, k, v, dropout_p=0.5) == {**base, "cmps": 96 + 120, "divs": 120 + 120, "mults": 432 + 120}
    # the math op is given the additive mask already: no `where` of its own
    math_op = aten._scaled_dot_product_attention_math.default
    assert priced(math_op, q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.bool)) == masked


def test_pdist_reads_its_p():
    """F.pdist(x (5, 3), p): the 5·4/2 = 10 pairs of rows, d = 3. p = 1: 10·3 = 30 differences and
    30 absolute values (comparisons), 10·2 = 20 additions, no root; p = 2 (the default): 30
    squares and a square root per pair (10) in their place; p = 3: 30 powers and 10 roots."""
    x = torch.randn(5, 3)
    assert ops_of(lambda x: F.pdist(x, p=1), x) == {"adds": 30 + 20, "cmps": 30}
    assert ops_of(lambda x: F.pdist(x), x) == {"adds": 30 + 20, "mults": 30, "transc": 10}
    assert ops_of(lambda x: F.pdist(x, p=3), x) == {"adds": 30 + 20, "transc": 30 + 10}


def test_cudnn_affine_grid_backward_reads_the_coordinate_size_not_the_batch():
    """cudnn_affine_grid_generator_backward(grad (3, 4, 5, 2), N, C, H, W) — a CUDA op, priced here on
    its shapes: θ's gradient, base gridᵀ·grad, 3 MACs per gradient coordinate: 3·4·5·2·(2 + 1) = 360
    (the batch, 3, is not the coordinate size, 2)."""
    op = aten.cudnn_affine_grid_generator_backward.default
    grad = torch.empty(3, 4, 5, 2)
    call = OpCall(op, describe((grad, 3, 1, 4, 5)), {}, describe(torch.empty(3, 2, 3)))
    assert counts(op_rule_for(op)(call)) == {"macs": 360}


def test_fused_multi_head_attention_op_reads_batch_and_length_apart():
    """aten._native_multi_head_attention (nn.MultiheadAttention's fused fast path: eval, no_grad,
    batch-first self-attention) priced on a call with N = 3 ≠ L = 5, E = 8, 2 heads: 4·N·L·E² = 3840
    projection MACs and 2·N·L²·E = 1200 for the scores and the weighted sum, 5040 in all — and every
    count what the module rule gives nn.MultiheadAttention's same call."""
    from torch import nn

    N, L, E = 3, 5, 8
    mha = nn.MultiheadAttention(E, 2, batch_first=True).eval()
    x = torch.randn(N, L, E)
    with torch.no_grad():
        fused = priced(aten._native_multi_head_attention.default, x, x, x, E, 2, mha.in_proj_weight,
                       mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias, need_weights=False)
        module = counts(run(mha, x, x, x, kwargs={"need_weights": False}).total.cost)
    assert fused["macs"] == 4 * N * L * E * E + 2 * N * L * L * E == 5040
    assert fused == module


@pytest.mark.skipif(not TESTED_TORCH, reason="the attention kernels' schemas as the tested torch has them")
def test_attention_kernel_ops_read_their_dropout():
    """Flash's and the memory-efficient kernel's own forward ops (CUDA ops: priced here on their
    shapes), B = 2, 3 heads, L = 5, S = 7, E = 4, (batch, length, heads, dim): dropout_p = 0.5 adds
    what SDPA's dropout does, a draw, a scaling and a multiplication per score, B·H·L·S = 210 each."""
    B, Hh, L, S, E = 2, 3, 5, 7, 4
    qt, kt = torch.empty(B, L, Hh, E), torch.empty(B, S, Hh, E)
    lse, seed = torch.empty(B, Hh, L), torch.empty(2, dtype=torch.int64)

    def direct(op, *args, out):
        return counts(op_rule_for(op)(OpCall(op, describe(args), {}, describe(out))))

    for p in (0.0, 0.5):
        flash = direct(aten._flash_attention_forward.default, qt, kt, kt, None, None, L, S, p, False, False,
                       out=(qt, lse, seed, seed, seed))
        eff = direct(aten._efficient_attention_forward.default, qt, kt, kt, None, None, None, L, S, p, 0, False,
                     out=(qt, lse, seed, seed, L, S))
        assert flash == eff
        if p == 0.0:
            plain = flash
    assert flash == {**plain, "cmps": plain["cmps"] + 210, "divs": plain["divs"] + 210,
                     "mults": plain["mults"] + 210}
