"""rules/backward.py's rules at the sizes and arguments tests/test_backward.py does not reach: each op
called directly (or, for a kernel CPU torch cannot run, priced from a hand-built call) and its counts
checked against a closed form with the sizes substituted, or against torch.utils.flop_counter where it
counts the op. Each test here killed a mutant of rules/backward.py that the other tests let survive."""
from __future__ import annotations

import pytest
import torch

from conftest import Fn, run
from torchcount.capture import OpCall, describe
from torchcount.cost import OP_CATEGORIES
from torchcount.count import price_op

aten = torch.ops.aten


def cost(fn, *inputs):
    report = run(Fn(fn), *inputs)
    assert report.complete, report.uncounted
    return report.total.cost


def counts(c) -> dict:
    return {k: getattr(c, k) for k in OP_CATEGORIES if getattr(c, k)}


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
