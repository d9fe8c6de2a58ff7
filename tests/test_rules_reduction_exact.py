"""rules/reduction.py's op rules at sizes where each count can be derived by hand: cases the
mutation round over the file found no test pinned."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import nonzero_counts as counts, ops_counts as ops_of


@pytest.mark.parametrize("ord_, expected", [
    (1, {"cmps": 24, "adds": 20}),                         # |x|, summed: no root
    (2, {"mults": 24, "adds": 20, "transc": 4}),           # x², summed, a square root per row
    (3, {"transc": 24 + 4, "adds": 20}),                   # |x|³, summed, a cube root per row
    (0.5, {"transc": 24 + 4, "adds": 20}),
    (math.inf, {"cmps": 24 + 20}),                         # |x|, then the max
    (-math.inf, {"cmps": 24 + 20}),
    (0, {"cmps": 24, "adds": 20}),                         # x ≠ 0, counted
])
def test_vector_norm_over_rows_by_its_ord(ord_, expected):
    """torch.linalg.vector_norm of a (4, 6) tensor over dim 1 (keepdim or not): 24 inputs, 4
    outputs, so 24 − 4 = 20 combining steps; per input a square (ord 2), an absolute value (ord 1,
    ±∞) or a power (any other ord) — for ord 0 a comparison with 0 — and per output a root for any
    ord but 1, 0 and ±∞."""
    x = torch.randn(4, 6)
    assert ops_of(lambda t: torch.linalg.vector_norm(t, ord_, dim=1), x) == expected
    assert ops_of(lambda t: torch.linalg.vector_norm(t, ord_, dim=1, keepdim=True), x) == expected


def test_vector_norm_over_everything_is_one_output():
    """dim=None on (4, 6): one output, 24 − 1 = 23 additions; ord 2: 24 squares and one root."""
    x = torch.randn(4, 6)
    assert ops_of(lambda t: torch.linalg.vector_norm(t), x) == {"mults": 24, "adds": 23, "transc": 1}
    assert ops_of(lambda t: torch.linalg.vector_norm(t, 1), x) == {"cmps": 24, "adds": 23}


@pytest.mark.parametrize("ord_, expected", [
    (2, {"mults": 48, "adds": 24 + 20, "transc": 4}),            # re² + im² summed, a root per row
    (1, {"mults": 48, "adds": 24 + 20, "transc": 24}),           # the moduli |z| summed
    (3, {"mults": 48, "adds": 24 + 20, "transc": 24 + 24 + 4}),  # |z|, |z|³, summed, a cube root per row
    (math.inf, {"mults": 48, "adds": 24, "transc": 24, "cmps": 20}),  # the moduli, then the max
    (0, {"cmps": 48, "adds": 20}),                                # z ≠ 0 (both parts), counted
])
def test_complex_vector_norm_over_rows_by_its_ord(ord_, expected):
    """torch.linalg.vector_norm of a complex (4, 6) tensor over dim 1: per element re² and im² (48
    multiplications) and their sum (24 additions) — for ord 2 summed as they are, for any other
    ord the modulus √ first (24 roots) — 24 − 4 = 20 combining steps, and a root per row for ord 2
    and 3."""
    z = torch.randn(4, 6, dtype=torch.complex64)
    assert ops_of(lambda t: torch.linalg.vector_norm(t, ord_, dim=1), z) == expected


def test_layer_norm_op_with_a_weight_or_a_bias_alone():
    """F.layer_norm of (2, 3, 4) over the last 4: 6 rows of n = 4 — per row 3 additions for the mean,
    3 for the variance, one eps addition, 2 divisions and a reciprocal square root; per element a
    subtraction, a square and a normalisation: 66 adds, 12 divs, 48 mults, 6 transc. A weight alone
    adds 24 multiplications (× γ), a bias alone 24 additions (+ β)."""
    import torch.nn.functional as F

    x, w, b = torch.randn(2, 3, 4), torch.randn(4), torch.randn(4)
    plain = {"adds": 66, "divs": 12, "mults": 48, "transc": 6}
    assert ops_of(lambda t: F.layer_norm(t, (4,)), x) == plain
    assert ops_of(lambda t, w: F.layer_norm(t, (4,), weight=w), x, w) == {**plain, "mults": 48 + 24}
    assert ops_of(lambda t, b: F.layer_norm(t, (4,), bias=b), x, b) == {**plain, "adds": 66 + 24}


def test_softmax_and_scans_of_a_zero_dimensional_tensor():
    """A 0-d tensor is one line of one element: softmax subtracts the max (1 addition), takes its
    exp (1), sums nothing (0 additions, 0 max comparisons) and divides (1); log-softmax takes the
    exp and the log (2) and subtracts the max and the log-sum (2 additions); a running sum over it
    adds nothing."""
    x = torch.tensor(1.5)
    assert ops_of(lambda t: torch.softmax(t, 0), x) == {"adds": 1, "transc": 1, "divs": 1}
    assert ops_of(lambda t: torch.log_softmax(t, 0), x) == {"adds": 2, "transc": 2}
    assert ops_of(lambda t: torch.cumsum(t, 0), x) == {}


def test_max_and_min_over_a_dim_into_out_tensors_are_reductions():
    """torch.max(x, 1, out=(values, indices)) on (4, 6) is aten.max.dim_max: a reduction of 24
    elements to 4, 24 − 4 = 20 comparisons, as without out= — not the element-wise max(a, b) of 4
    outputs (its out= tensors are tensor inputs too); over every element into out=, 23.
    torch.max(a, b), with or without out=, stays one comparison per output element (24)."""
    x, y = torch.randn(4, 6), torch.randn(4, 6)

    def out(*shape):
        return torch.empty(shape or (4,)), torch.empty(shape or (4,), dtype=torch.long)

    for fn in (torch.max, torch.min):
        assert ops_of(lambda t: fn(t, 1).values, x) == {"cmps": 20}
        assert ops_of(lambda t: fn(t, 1, out=out()).values, x) == {"cmps": 20}
        assert ops_of(lambda t: fn(t, 1, keepdim=True, out=out(4, 1)).values, x) == {"cmps": 20}
        assert ops_of(lambda t: fn(t, out=torch.empty(())), x) == {"cmps": 23}  # all 24 to one (unary_out)
        assert ops_of(lambda a, b: fn(a, b), x, y) == {"cmps": 24}
        assert ops_of(lambda a, b: fn(a, b, out=torch.empty(4, 6)), x, y) == {"cmps": 24}
    # the element-wise overload met by name (aten.max.other), with a broadcast b: 24 outputs
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    op = torch.ops.aten.max.other
    b = torch.randn(6)
    assert counts(op_rule_for(op)(OpCall(op, describe((x, b)), {}, describe(op(x, b))))) == {"cmps": 24}


def test_nll_loss_of_a_batch_without_classes_picks_nothing():
    """F.nll_loss on x (3, 0), every target the ignore_index (torch runs it: zeros, their sum 0, their
    mean 0/0 = nan): no log-probability is picked, so no work but the mean's one division. The rule
    divided the 0 elements by the 0 classes and failed the whole profile (its gradient's rule had the
    same fault)."""
    import torch.nn.functional as F

    x, t = torch.randn(3, 0), torch.full((3,), -100)
    assert ops_of(lambda x, t: F.nll_loss(x, t, reduction="none"), x, t) == {}
    assert ops_of(lambda x, t: F.nll_loss(x, t, reduction="sum"), x, t) == {}
    assert ops_of(lambda x, t: F.nll_loss(x, t), x, t) == {"divs": 1}


@pytest.mark.parametrize("name, extra, per_element", [
    ("mse_loss", (), {"adds": 1, "mults": 1}),
    ("smooth_l1_loss", (1.0,), {"adds": 2, "cmps": 2, "mults": 2, "divs": 1, "assigns": 1}),
    ("huber_loss", (1.0,), {"adds": 2, "cmps": 2, "mults": 3, "assigns": 1}),
])
def test_pointwise_loss_of_a_target_larger_than_the_input(name, extra, per_element):
    """(l1_loss is decomposed into sub/abs/sum, each priced on its own; soft_margin_loss refuses a
    larger target.) A direct call whose target (2, 3) is larger than the input (3,), sum reduction: torch
    broadcasts and computes 6 elements (aten.mse_loss equals ((x − t)²).sum() over the broadcast), so
    each per-element term is 6 times its recipe, and the sum 6 − 1 = 5 additions."""
    op = getattr(torch.ops.aten, name)
    x, t = torch.randn(3), torch.randn(2, 3)
    if name == "mse_loss":
        assert torch.allclose(op(x, t, 2), ((x - t) ** 2).sum())          # torch's own arithmetic
    expected = {k: 6 * v for k, v in per_element.items()}
    expected["adds"] = expected.get("adds", 0) + 5
    assert ops_of(lambda x: op(x, t, 2, *extra), x) == expected
