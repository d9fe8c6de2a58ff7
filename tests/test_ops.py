"""Op rules (issue 3): element-wise ops, reductions, softmax, norms, FFT, known-zero ops,
and torch.utils.flop_counter as an independent reference for the contractions."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount.cost import OP_CATEGORIES

from conftest import TESTED_TORCH, Fn, needs, run, ops_cost as cost_of, nonzero_counts as counts


X = (2, 3, 4, 5)  # 120 elements
N = 120


@pytest.mark.parametrize("fn, expected", [
    (lambda a, b: a + b, {"adds": N}),
    (lambda a, b: a - b, {"adds": N}),
    (lambda a, b: a * b, {"mults": N}),
    (lambda a, b: a / b, {"divs": N}),
    (lambda a, b: torch.add(a, b, alpha=2), {"adds": N, "mults": N}),
    (lambda a, b: torch.maximum(a, b), {"cmps": N}),
    (lambda a, b: a > b, {"cmps": N}),
    (lambda a, b: torch.where(a > b, a, b), {"cmps": N, "assigns": N}),
    (lambda a, b: torch.addcmul(a, a, b, value=0.5), {"mults": 2 * N, "adds": N}),
    # a + v·b/c: a division, a multiplication and an addition per element (until now only the
    # fused Adam test, through its denominators, pinned addcdiv's recipe)
    (lambda a, b: torch.addcdiv(a, a, b, value=0.5), {"divs": N, "mults": N, "adds": N}),
    # a − ⌊a/b⌋·b: a division, a multiplication and a subtraction per element
    # rsub.Scalar takes α positionally: other − α·a, a multiplication more per element
    (lambda a, b: torch.rsub(a, 2.0, alpha=3), {"adds": N, "mults": N}),
    (lambda a, b: torch.rsub(a, 2.0), {"adds": N}),
    # α is rsub.Scalar's third argument, not its second: 1 − 3·a is still a subtraction and a
    # multiplication per element, though `other` is 1
    (lambda a, b: torch.rsub(a, 1.0, alpha=3), {"adds": N, "mults": N}),
    (torch.remainder, {"divs": N, "mults": N, "adds": N}),
    (torch.fmod, {"divs": N, "mults": N, "adds": N}),
])
def test_binary_elementwise(fn, expected):
    a, b = torch.randn(X), torch.randn(X)
    assert counts(cost_of(fn, a, b)) == expected


def test_broadcast_counts_output_elements():
    # (2,3,4,5) + (5,) → 120 additions, one per output element
    assert counts(cost_of(lambda a, b: a + b, torch.randn(X), torch.randn(5))) == {"adds": N}


@pytest.mark.parametrize("fn, expected", [
    (torch.exp, {"transc": N}), (torch.log, {"transc": N}), (torch.sqrt, {"transc": N}),
    (torch.rsqrt, {"transc": N}), (torch.tanh, {"transc": N}), (torch.erf, {"transc": N}),
    (torch.neg, {"mults": N}), (torch.abs, {"cmps": N, "assigns": N}),
    (lambda x: x ** 2, {"mults": N}), (lambda x: x ** 3, {"mults": 2 * N}),
    # in place, x.pow_(3) is aten.pow_.Scalar (not Tensor_Scalar): the same 2 multiplications
    (lambda x: x.clone().pow_(3), {"mults": 2 * N}),
    (lambda x: x ** 0.7, {"transc": N}),
    # a negative integer power: x^−3 = 1/(x·x·x), 2 multiplications and a division; x^−1 a division
    (lambda x: x ** -3, {"mults": 2 * N, "divs": N}), (lambda x: x ** -1, {"divs": N}), (lambda x: x.clamp(-1, 1), {"cmps": 2 * N, "assigns": N}),
    # one bound: one comparison (and the assignment) per element
    (lambda x: x.clamp(min=0.5), {"cmps": N, "assigns": N}), (lambda x: x.clamp(max=0.5), {"cmps": N, "assigns": N}),
    # activations as ops follow the module recipes: ReLU = 1 comparison + 1 assignment
    (F.relu, {"cmps": N, "assigns": N}),
    (lambda x: F.relu(x, inplace=True), {"cmps": N, "assigns": N}),
    (torch.sigmoid, {"transc": N, "adds": N, "divs": N}),            # 1/(1 + e^−x)
    (F.silu, {"transc": N, "adds": N, "divs": N, "mults": N}),
    (F.gelu, {"transc": N, "mults": 3 * N, "adds": N}),               # 0.5·x·(1 + erf(x/√2))
])
def test_unary_elementwise(fn, expected):
    assert counts(cost_of(fn, torch.randn(X).abs() + 0.1)) == expected


@pytest.mark.parametrize("module", [nn.ReLU(), nn.GELU(), nn.SiLU(), nn.Hardswish(), nn.Sigmoid(), nn.Tanh()])
def test_activation_op_equals_activation_module(module):
    x = torch.randn(X)
    by_module = run(module, x).total.cost
    functional = {nn.ReLU: F.relu, nn.GELU: F.gelu, nn.SiLU: F.silu, nn.Hardswish: F.hardswish,
                  nn.Sigmoid: torch.sigmoid, nn.Tanh: torch.tanh}[type(module)]
    assert counts(cost_of(functional, x)) == counts(by_module)



# every activation of torch.nn.functional, per output element, written from its definition (the
# module recipes of docs/coverage.md), with its in-place form where torch has one
_PRELU_W = torch.full((3,), 0.25)
FUNCTIONAL_ACTIVATIONS = [
    ("relu", F.relu, lambda t: t.relu_(), {"cmps": 1, "assigns": 1}),                  # x > 0 ? x : 0
    ("relu6", F.relu6, lambda t: F.relu6(t, inplace=True), {"cmps": 2, "assigns": 1}),  # clamp to [0, 6]
    ("hardtanh", F.hardtanh, F.hardtanh_, {"cmps": 2, "assigns": 1}),
    ("threshold", lambda t: F.threshold(t, 0.1, 2.0), lambda t: F.threshold_(t, 0.1, 2.0), {"cmps": 1, "assigns": 1}),
    ("leaky_relu", F.leaky_relu, F.leaky_relu_, {"cmps": 1, "mults": 1, "assigns": 1}),  # x > 0 ? x : a·x
    ("prelu", lambda t: F.prelu(t, _PRELU_W.to(t.device)), None, {"cmps": 1, "mults": 1, "assigns": 1}),
    ("rrelu", F.rrelu, F.rrelu_, {"cmps": 1, "mults": 1, "assigns": 1}),               # eval: the mean slope
    ("elu", F.elu, F.elu_, {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1}),  # α·(eˣ − 1)
    ("selu", F.selu, F.selu_, {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1}),
    ("celu", F.celu, F.celu_, {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "divs": 1, "assigns": 1}),
    ("gelu", F.gelu, None, {"transc": 1, "mults": 3, "adds": 1}),                      # 0.5·x·(1 + erf(x/√2))
    ("gelu tanh", lambda t: F.gelu(t, approximate="tanh"), None, {"transc": 1, "mults": 6, "adds": 2}),
    ("silu", F.silu, lambda t: F.silu(t, inplace=True), {"transc": 1, "adds": 1, "divs": 1, "mults": 1}),
    ("mish", F.mish, lambda t: F.mish(t, inplace=True), {"transc": 3, "adds": 1, "mults": 1}),
    ("hardswish", F.hardswish, lambda t: F.hardswish(t, inplace=True),
     {"adds": 1, "cmps": 2, "mults": 1, "divs": 1, "assigns": 1}),                      # x·relu6(x + 3)/6
    ("hardsigmoid", F.hardsigmoid, lambda t: F.hardsigmoid(t, inplace=True),
     {"adds": 1, "cmps": 2, "divs": 1, "assigns": 1}),
    ("sigmoid", torch.sigmoid, torch.sigmoid_, {"transc": 1, "adds": 1, "divs": 1}),   # 1/(1 + e^−x)
    ("tanh", torch.tanh, torch.tanh_, {"transc": 1}),
    ("logsigmoid", F.logsigmoid, None, {"transc": 2, "adds": 1}),                      # −log(1 + e^−x)
    ("softplus", lambda t: F.softplus(t, 2.0, 5.0), None,                               # βx > t ? x : log(1 + e^βx)/β
     {"mults": 1, "transc": 2, "adds": 1, "divs": 1, "cmps": 1, "assigns": 1}),
    ("softsign", F.softsign, None, {"cmps": 1, "assigns": 1, "adds": 1, "divs": 1}),   # x/(1 + |x|)
    ("tanhshrink", F.tanhshrink, None, {"transc": 1, "adds": 1}),                      # x − tanh(x)
    ("softshrink", F.softshrink, None, {"cmps": 2, "adds": 1, "assigns": 1}),
    ("hardshrink", F.hardshrink, None, {"cmps": 2, "assigns": 1}),
]


@pytest.mark.parametrize("name, fn, in_place, per_element", FUNCTIONAL_ACTIVATIONS,
                         ids=[a[0] for a in FUNCTIONAL_ACTIVATIONS])
def test_every_functional_activation_and_its_in_place_form_is_its_recipe(name, fn, in_place, per_element):
    """F.x(t) costs the recipe × N elements, on CPU as on meta; its in-place form costs the same
    operations and, after the clone (N read, N written), reads and writes the N it overwrites."""
    x = torch.randn(X)
    expected = {c: k * N for c, k in per_element.items()}
    assert counts(cost_of(fn, x)) == expected
    if name != "rrelu" or TESTED_TORCH:  # (torch 2.2's meta rrelu fails in its own decomposition)
        assert counts(cost_of(fn, torch.empty(X, device="meta"))) == expected
    if in_place is not None:
        cost = cost_of(lambda t: in_place(t.clone()), x)
        assert counts(cost) == expected
        assert (cost.bytes_read, cost.bytes_written) == (2 * N * 4, 2 * N * 4)


def test_glu_and_softmin_functionals_are_their_recipes():
    # F.glu(·, 1) halves dim 1 (4 → 2): a·σ(b) per output element, 2·2·3·5 = 60 of them
    x = torch.randn(2, 4, 3, 5)
    assert counts(cost_of(lambda t: F.glu(t, 1), x)) == {"transc": 60, "adds": 60, "divs": 60, "mults": 60}
    # F.softmin = softmax(−x): one negation per element, then the softmax over 4 for 30 rows
    rows, n = 30, 4
    assert counts(cost_of(lambda t: F.softmin(t, 1), x)) == {
        "mults": 120, "cmps": rows * (n - 1), "adds": rows * n + rows * (n - 1), "transc": rows * n, "divs": rows * n}

def test_reductions():
    x = torch.randn(X)
    # sum over the last dim: 24 rows of 5 → 24·4 additions
    assert counts(cost_of(lambda t: t.sum(-1), x)) == {"adds": 24 * 4}
    assert counts(cost_of(lambda t: t.sum(), x)) == {"adds": N - 1}
    assert counts(cost_of(lambda t: t.mean((2, 3)), x)) == {"adds": 6 * 19, "divs": 6}
    assert counts(cost_of(lambda t: t.amax(1), x)) == {"cmps": 40 * 2}
    assert counts(cost_of(lambda t: t.argmax(), x)) == {"cmps": N - 1}
    # torch._check_tensor_all (HF's torch_compilable_check) reduces its condition with
    # aten._is_all_true: 120 comparisons x > −10, then 119 more folding them into one
    def check(t):
        torch._check_tensor_all(t > -10)
        return t
    assert counts(cost_of(check, x)) == {"cmps": N + N - 1}
    assert counts(cost_of(lambda t: (t > 0)._is_any_true(), x)) == {"cmps": N + N - 1}
    # cumsum along a dim of 4: 30 lines of 3 additions
    assert counts(cost_of(lambda t: t.cumsum(2), x)) == {"adds": 30 * 3}
    # a 0-d tensor is one line of one element: nothing to add
    assert counts(cost_of(lambda t: t.cumsum(0), torch.tensor(1.5))) == {}
    # ‖x‖₂ over the last dim: 120 squares, 24·4 additions, 24 square roots
    assert counts(cost_of(lambda t: torch.linalg.vector_norm(t, dim=-1), x)) == \
        {"mults": N, "adds": 24 * 4, "transc": 24}
    # variance of 24 groups of 5: mean (4 adds, 1 div), 5 centrings, 5 squares, 4 adds, 1 div
    assert counts(cost_of(lambda t: t.var(-1), x)) == {"adds": 24 * (4 + 5 + 4), "mults": N, "divs": 2 * 24}


def test_softmax_op_matches_module_and_closed_form():
    x = torch.randn(6, 10)
    rows, n = 6, 10
    expected = {"cmps": rows * (n - 1), "adds": rows * n + rows * (n - 1), "transc": rows * n, "divs": rows * n}
    assert counts(cost_of(lambda t: t.softmax(-1), x)) == expected
    assert counts(run(nn.Softmax(-1), x).total.cost) == expected
    log = counts(cost_of(lambda t: F.log_softmax(t, -1), x))
    assert log == {"cmps": rows * (n - 1), "adds": rows * n * 2 + rows * (n - 1), "transc": rows * n + rows}


@pytest.mark.parametrize("module, fn", [
    (nn.LayerNorm(5), lambda m: (lambda x: F.layer_norm(x, (5,), m.weight, m.bias))),
    (nn.GroupNorm(1, 3), lambda m: (lambda x: F.group_norm(x, 1, m.weight, m.bias))),
    (nn.BatchNorm2d(3).eval(), lambda m: (lambda x: F.batch_norm(x, m.running_mean, m.running_var,
                                                                  m.weight, m.bias, False))),
    (nn.BatchNorm2d(3).train(), lambda m: (lambda x: F.batch_norm(x, None, None, m.weight, m.bias, True))),
])
def test_norm_ops_equal_norm_modules(module, fn):
    x = torch.randn(X)
    by_module = counts(run(module, x).total.cost)
    by_ops = counts(cost_of(fn(module), x))
    if module.training and isinstance(module, nn.BatchNorm2d):
        by_module = counts(run(nn.BatchNorm2d(3, track_running_stats=False), x).total.cost)
    assert by_ops == by_module


def test_layer_norm_closed_form():
    # 24 rows of 5: mean 4 adds + 1 div, 5 centrings, 5 squares, 4 adds + 1 div, eps add, rsqrt,
    # 5 normalisations, 5 affine mults, 5 affine adds
    c = counts(cost_of(lambda x: F.layer_norm(x, (5,), torch.ones(5), torch.zeros(5)), torch.randn(X)))
    assert c == {"adds": 24 * (4 + 5 + 4 + 1 + 5), "divs": 24 * 2, "mults": 24 * (5 + 5 + 5), "transc": 24}


def test_group_norm_op_with_a_weight_and_no_bias():
    # F.group_norm on (2, 6, 3, 3), 3 groups: N·G = 6 groups of 2·3·3 = 18 elements — the statistics
    # (17 + 17 adds, 18 + 18 + 1 adds/squares…, as stats(6, 18)), and the scale γ alone (108 mults,
    # no shift: no bias given); its worked lines count whole groups of 18
    x, w = torch.randn(2, 6, 3, 3), torch.ones(6)
    report = run(Fn(lambda x: F.group_norm(x, 3, w)), x)
    e, g, n = 108, 6, 18
    assert counts(report.total.cost) == {"adds": g * (n - 1) * 2 + e + g, "divs": 2 * g, "mults": e + e + e,
                                         "transc": g}
    assert "2×3×(18 − 1)" in [t.substituted for t in report.root.terms]


def test_layer_norm_over_one_element():
    # (3, 4, 1) normalised over its last dim of 1: 12 rows of one element. Per row: the mean's sum
    # has no addition (1 − 1), its division and the variance's (2 divs), 1 centring, 1 square, no
    # variance addition, the eps add and the rsqrt, 1 normalisation — rows are 12, not numel/2
    x = torch.randn(3, 4, 1)
    assert counts(cost_of(lambda x: F.layer_norm(x, (1,)), x)) == \
        {"adds": 12 * (1 + 1), "divs": 12 * 2, "mults": 12 * (1 + 1), "transc": 12}
    # the module rule alike, plus the affine γ·x̂ + β (12 mults, 12 adds); its worked lines count
    # whole rows (12×(1 − 1), not 12.0×(1 − 1))
    report = run(nn.LayerNorm(1), x)
    assert counts(report.total.cost) == {"adds": 12 * 3, "divs": 24, "mults": 12 * 3, "transc": 12}
    assert "additions (mean) [adds, weight 1] = rows·(n − 1) = 12×(1 − 1) = 0" in report.explain("(root)")


@pytest.mark.parametrize("fn", [
    lambda x: x.view(6, 20), lambda x: x.reshape(-1), lambda x: x.permute(3, 2, 1, 0).contiguous(),
    lambda x: x.transpose(0, 1), lambda x: x[:, 1:, ::2], lambda x: x[0], lambda x: x.expand(3, *X),
    lambda x: torch.cat([x, x], 1), lambda x: torch.stack([x, x]), lambda x: x.clone(),
    lambda x: x.to(torch.float64), lambda x: x.flatten(1), lambda x: x.unsqueeze(0).squeeze(0),
    lambda x: x.chunk(2, 1)[0], lambda x: torch.zeros_like(x), lambda x: x.new_ones(3).fill_(2),
    lambda x: x.detach(), lambda x: x.gather(1, torch.zeros(2, 1, 4, 5, dtype=torch.long)),
    lambda x: x.index_select(3, torch.tensor([0, 2])), lambda x: F.pad(x, (1, 1)), lambda x: x.roll(1, 3),
    lambda x: x.flip(0), lambda x: x.repeat(2, 1, 1, 1),
    # dtype and size queries (torch.vander and dtype-generic code call them): no element read
    lambda x: x.to(torch.promote_types(x.dtype, torch.float64)),
    lambda x: x if torch.can_cast(torch.int32, x.dtype) else -x, lambda x: x.to(torch.result_type(x, 1.0)),
    lambda x: x if x.is_same_size(x) else -x,
    # an allocation in a given memory layout (a decomposed training-mode export's dropout mask)
    lambda x: torch.empty_permuted(x.shape, (0, 2, 3, 1)).copy_(x) if hasattr(torch, "empty_permuted") else x,
])
def test_known_zero_ops_are_counted_as_zero(fn):
    report = run(Fn(fn), torch.randn(X))
    assert report.complete, report.uncounted  # listed as known-zero, not uncounted
    assert report.total.cost.is_zero()


def test_unknown_op_is_reported_not_zero():
    report = run(Fn(lambda x: torch.linalg.svd(x)[1]), torch.randn(4, 4))
    assert not report.complete
    assert any("svd" in u.what for u in report.uncounted)


def test_pooling_ops_equal_pooling_modules():
    x = torch.randn(1, 3, 8, 8)
    for module, fn in [(nn.MaxPool2d(2), lambda t: F.max_pool2d(t, 2)),
                       (nn.AvgPool2d(3, 1), lambda t: F.avg_pool2d(t, 3, 1)),
                       (nn.AdaptiveAvgPool2d(3), lambda t: F.adaptive_avg_pool2d(t, 3))]:
        assert counts(cost_of(fn, x)) == counts(run(module, x).total.cost)
    # max-pool 2×2 on 8×8×3: 48 outputs, 3 comparisons each
    assert counts(cost_of(lambda t: F.max_pool2d(t, 2), x)) == {"cmps": 3 * 48}


# ---- contractions against torch.utils.flop_counter (FLOPs = 2·MACs) ------------------
def flop_counter_flops(fn, *xs) -> int:
    with FlopCounterMode(display=False) as fc:
        fn(*xs)
    return fc.get_total_flops()


@pytest.mark.parametrize("fn, shapes", [
    (torch.matmul, [(7, 5), (5, 3)]),
    (torch.matmul, [(2, 4, 7, 5), (5, 3)]),
    (torch.matmul, [(2, 4, 7, 5), (2, 4, 5, 3)]),
    (lambda a, b: torch.einsum("bij,bjk->bik", a, b), [(3, 4, 5), (3, 5, 6)]),
    (lambda a, w: F.linear(a, w, torch.zeros(w.shape[0])), [(2, 9, 16), (8, 16)]),
    (lambda a, w: F.conv2d(a, w, stride=2, padding=1), [(2, 3, 15, 15), (8, 3, 3, 3)]),
    (lambda a, w: F.conv1d(a, w, groups=2), [(1, 4, 20), (6, 2, 5)]),
    (lambda a, w: F.conv_transpose2d(a, w, stride=2), [(1, 4, 5, 5), (4, 3, 3, 3)]),
])
def test_contractions_match_flop_counter(fn, shapes):
    xs = [torch.randn(s) for s in shapes]
    ours = cost_of(fn, *xs).macs
    assert 2 * ours == flop_counter_flops(fn, *xs)


def test_matmul_closed_form():
    # (2, 4, 7, 5) @ (5, 3): 2·4·7 rows, each 5·3 MACs
    assert cost_of(torch.matmul, torch.randn(2, 4, 7, 5), torch.randn(5, 3)).macs == 2 * 4 * 7 * 5 * 3


def test_trilinear_other_than_bilinear_is_left_uncounted():
    """``aten._trilinear`` with F.bilinear's dims is priced as F.bilinear where its operands have
    bilinear's shapes (x1 rows×n1, A k×n1×n2, x2 rows×n2); operands whose ranks do not fit those dims
    (here a 3-D x1) are uncounted (None), not priced with the wrong sizes (its backward's calls:
    tests/test_backward.py)."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    op = torch.ops.aten._trilinear.default
    rule = op_rule_for(op)

    def priced(x1, w, x2):
        return rule(OpCall(op, describe((x1, w, x2, [1, 3], [0], [1, 2], [2, 3])), {}, describe(torch.empty(2, 5))))

    # F.bilinear's shapes: 2 rows, A 5×3×4: rows·k·n1·n2 + rows·k·n2 = 2·5·3·4 + 2·5·4 (bilinear_macs)
    assert priced(torch.randn(2, 3), torch.randn(5, 3, 4), torch.randn(2, 4)).macs == 2 * 5 * 3 * 4 + 2 * 5 * 4
    assert priced(torch.randn(2, 2, 3), torch.randn(5, 3, 4), torch.randn(2, 4)) is None


def test_native_batch_norm_op_in_eval_mode_uses_the_running_statistics():
    """``native_batch_norm(x, w, b, running_mean, running_var, training=False, …)`` (what a direct call
    or an older export runs in eval) normalises with the running statistics, as
    ``_native_batch_norm_legit_no_training``: for (2, 3, 4, 4), n = 96, per channel var + eps (3 adds) and
    its rsqrt (3), per element x − mean (96 adds), × rstd and × γ (192 mults), + β (96 adds)."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    aten = torch.ops.aten
    x, w, b, rm, rv = torch.randn(2, 3, 4, 4), torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)

    def priced(op, *args):
        return counts(op_rule_for(op)(OpCall(op, describe(args), {}, describe(op(*args)))))

    expected = {"adds": 3 + 96 + 96, "mults": 96 + 96, "transc": 3}
    assert priced(aten.native_batch_norm.default, x, w, b, rm, rv, False, 0.1, 1e-5) == expected
    assert priced(aten._native_batch_norm_legit_no_training.default, x, w, b, rm, rv, 0.1, 1e-5) == expected


def test_composite_matmul_and_linear_ops_when_met_whole():
    """``aten.matmul`` / ``aten.linear`` are composite (the recorder sees their mm/addmm parts),
    so only a direct call of their rule prices them whole: outputs·k MACs, and one bias addition
    per output for linear with a bias."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    aten = torch.ops.aten

    def priced(op, *args):
        call = OpCall(op, describe(args), {}, describe(op(*args)))
        return counts(op_rule_for(op)(call))

    a, b = torch.randn(2, 3, 4), torch.randn(4, 5)  # (2, 3, 5) outputs, k = 4: 2·3·5·4 = 120 MACs
    assert priced(aten.matmul.default, a, b) == {"macs": 120}
    x, w, bias = torch.randn(6, 4), torch.randn(7, 4), torch.randn(7)  # 6·7 outputs, k = 4
    assert priced(aten.linear.default, x, w, bias) == {"macs": 6 * 7 * 4, "adds": 6 * 7}
    assert priced(aten.linear.default, x, w) == {"macs": 6 * 7 * 4}


# ---- FFT ---------------------------------------------------------------------------------
def test_rfft_convention():
    # real FFT of N = 512 per row, 6 rows: N·log2 N = 4608 mults and 1.5·N·log2 N = 6912 adds per row
    c = counts(cost_of(lambda x: torch.fft.rfft(x), torch.randn(6, 512)))
    assert c == {"mults": 6 * 512 * 9, "adds": 6 * 512 * 9 * 3 // 2}
    # 2.5·N·log2 N "FLOPs" (every scalar op once) per real transform
    assert sum(c.values()) == 6 * 2.5 * 512 * math.log2(512)


def test_complex_fft_convention():
    # complex FFT of N = 64 (3 transforms): 2·N·log2 N mults + 3·N·log2 N adds = 5·N·log2 N
    c = counts(cost_of(lambda x: torch.fft.fft(x), torch.randn(3, 64, dtype=torch.complex64)))
    assert c == {"mults": 3 * 2 * 64 * 6, "adds": 3 * 3 * 64 * 6}


def test_fft2_counts_one_transform_of_the_product_size():
    # a 2-D real FFT of 16×32 counts as one real FFT of N = 512
    c = counts(cost_of(lambda x: torch.fft.rfft2(x), torch.randn(16, 32)))
    assert c == {"mults": 512 * 9, "adds": 512 * 9 * 3 // 2}


def test_fft_normalisation_scales_both_parts_of_a_complex_output():
    # 6 rows of N = 64; a real factor times each output: 2 mults per complex output (real and
    # imaginary parts), 1 per real output
    x = torch.randn(6, 64)
    fft = 6 * 64 * 6                                   # N·log2 N per real transform
    assert counts(cost_of(lambda x: torch.fft.rfft(x, norm="ortho"), x))["mults"] == fft + 2 * 6 * 33
    assert counts(cost_of(lambda x: torch.fft.rfft(x, norm="forward"), x))["mults"] == fft + 2 * 6 * 33
    assert counts(cost_of(lambda x: torch.fft.rfft(x), x))["mults"] == fft          # "backward": not scaled
    z = torch.randn(6, 64, dtype=torch.complex64)
    assert counts(cost_of(lambda z: torch.fft.ifft(z), z))["mults"] == 2 * fft + 2 * 6 * 64
    y = torch.randn(6, 33, dtype=torch.complex64)
    assert counts(cost_of(lambda y: torch.fft.irfft(y), y))["mults"] == fft + 6 * 64    # real output


def test_stft_window_fft_and_magnitude():
    n_fft, hop, T = 64, 16, 256
    frames = 1 + T // hop  # center=True pads n_fft/2 on each side
    window = torch.hann_window(n_fft)
    c = counts(cost_of(lambda x: torch.stft(x, n_fft, hop, window=window, return_complex=True).abs(),
                       torch.randn(T)))
    bins = n_fft // 2 + 1
    assert c == {"mults": frames * n_fft + frames * n_fft * 6 + 2 * bins * frames,   # window, FFT, |z|
                 "adds": frames * n_fft * 6 * 3 // 2 + bins * frames,
                 "transc": bins * frames}


def test_flop_counter_agrees_with_whole_small_cnn():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3, groups=2), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 10))
    x = torch.randn(2, 3, 10, 10)
    assert 2 * run(model, x).total.macs == flop_counter_flops(model, x)


# ---- interpolation, vector contractions, sorting, scatter -------------------------------
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_interpolate_op_equals_upsample_module(mode):
    x = torch.randn(1, 2, 5, 5)
    by_module = run(nn.Upsample(scale_factor=2, mode=mode), x).total.cost
    assert counts(cost_of(lambda t: F.interpolate(t, scale_factor=2, mode=mode), x)) == counts(by_module)
    if mode == "bilinear":  # 3 interpolation steps of 2 mults + 1 add per output element
        assert by_module.mults == 6 * 2 * 10 * 10 and by_module.adds == 3 * 2 * 10 * 10


def test_vector_contractions():
    v, M = torch.randn(9), torch.randn(7, 9)
    assert counts(cost_of(torch.dot, v, v)) == {"macs": 9}
    assert counts(cost_of(torch.mv, M, v)) == {"macs": 63}
    assert counts(cost_of(lambda b, m, x: torch.addmv(b, m, x), torch.randn(7), M, v)) == {"macs": 63, "adds": 7}
    a, b = torch.randn(3, 4, 5), torch.randn(3, 5, 6)
    assert counts(cost_of(lambda c, a, b: torch.addbmm(c, a, b), torch.randn(4, 6), a, b)) == \
        {"macs": 3 * 4 * 5 * 6, "adds": 4 * 6}
    # cdist p=2 between 4 and 5 points in 3-D: 20 pairs × (3 differences, 3 squares, 2 adds, 1 sqrt)
    assert counts(cost_of(torch.cdist, torch.randn(4, 3), torch.randn(5, 3))) == \
        {"adds": 20 * 3 + 20 * 2, "mults": 20 * 3, "transc": 20}


def test_sort_topk_and_scatter():
    x = torch.randn(6, 16)
    assert counts(cost_of(lambda t: t.sort(-1).values, x)) == {"cmps": 6 * 16 * 4}      # n·⌈log2 n⌉
    assert counts(cost_of(lambda t: t.topk(4, -1).values, x)) == {"cmps": 6 * 16 * 2}   # n·⌈log2 k⌉
    assert counts(cost_of(lambda t: t.topk(1, -1).values, x)) == {"cmps": 6 * 15}       # n − 1
    src = torch.randn(10)
    idx = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    assert counts(cost_of(lambda s: torch.zeros(4).scatter_add(0, idx, s), src)) == {"adds": 10}


def test_segment_reduce_combines_each_segment():
    """Segments of 2, 3 and 1 rows of 4: L − 1 combinations per position, 12 in all (24 inputs, 12
    outputs); a mean divides each output; an initial value is one more combination per output."""
    x, lengths = torch.randn(6, 4), torch.tensor([2, 3, 1])
    assert counts(cost_of(lambda x: torch.segment_reduce(x, "sum", lengths=lengths), x)) == {"adds": 12}
    assert counts(cost_of(lambda x: torch.segment_reduce(x, "mean", lengths=lengths), x)) == {"adds": 12, "divs": 12}
    assert counts(cost_of(lambda x: torch.segment_reduce(x, "max", lengths=lengths, initial=0.0), x)) == {"cmps": 24}
    assert counts(cost_of(lambda x: torch.segment_reduce(x, "prod", lengths=lengths), x)) == {"mults": 12}
    # three empty segments beside one of 2 rows: 4 outputs for 2 inputs per column; the count is a lower
    # bound (4 additions are done) and never negative
    empty = torch.tensor([2, 0, 0, 0])
    assert counts(cost_of(lambda x: torch.segment_reduce(x, "sum", lengths=empty), x[:2])) == {}


def test_multinomial_as_the_kernels_draw():
    """One sample per row (an LLM's next token): max and min over the weights (their check),
    a division by an Exp(1) draw each, an argmax per row; n without replacement: a top-n selection;
    n with replacement: a cumulative sum, a normalisation, a binary search per sample."""
    p = torch.rand(4, 100)
    n = 4 * 100
    assert counts(cost_of(lambda p: torch.multinomial(p, 1), p)) == {"cmps": 2 * (n - 1) + 4 * 99, "divs": n}
    assert counts(cost_of(lambda p: torch.multinomial(p, 3), p)) == {"cmps": 2 * (n - 1) + 4 * 100 * 2, "divs": n}
    assert counts(cost_of(lambda p: torch.multinomial(p, 5, replacement=True), p)) == \
        {"adds": 4 * 99, "divs": n, "cmps": 4 * 5 * 7}  # ⌈log2 101⌉ = 7
    assert counts(cost_of(lambda p: torch.multinomial(p, 1), torch.rand(100))) == {"cmps": 2 * 99 + 99, "divs": 100}
    # one category, 3 draws with replacement: a cumulative sum of one weight (no addition), its
    # normalisation, and per draw a binary search over 1 category — the kernel's loop (while
    # right − left > 0, halving) runs once: ⌈log2(1 + 1)⌉ = 1 comparison, 4·3 in all
    assert counts(cost_of(lambda p: torch.multinomial(p, 3, replacement=True), torch.rand(4, 1))) == \
        {"divs": 4, "cmps": 4 * 3 * 1}
    report = run(Fn(lambda p: torch.multinomial(p, 3, replacement=True)), torch.rand(4, 1))
    assert "4×3×1" in [t.substituted for t in report.root.terms]  # whole rows (numel // c)
    # 4 categories (a power of two): the search halves 4 → 2 → 1 → 0, ⌈log2(4 + 1)⌉ = 3 comparisons per
    # draw (⌈log2 4⌉ = 2 would miss one); cumulative sums 4·3 adds, 16 normalisations
    q = torch.rand(4, 4)
    assert counts(cost_of(lambda p: torch.multinomial(p, 3, replacement=True), q)) == \
        {"adds": 4 * 3, "divs": 16, "cmps": 4 * 3 * 3}
    # one draw with replacement is the exponential trick's argmax, as without (the kernel's test is
    # "!replacement || n == 1"): the check's 2·(16 − 1) and 4·3 comparisons
    assert counts(cost_of(lambda p: torch.multinomial(p, 1, replacement=True), q)) == {"divs": 16, "cmps": 30 + 4 * 3}
    # the aten op called without its replacement argument: no replacement, a top-3 of 4 per row,
    # max(4 − 1, 4·⌈log2 3⌉) = 8 comparisons
    assert counts(cost_of(lambda p: torch.ops.aten.multinomial(p, 3), q)) == {"divs": 16, "cmps": 30 + 4 * 8}


# ---- accumulating index_put / scatter with a reduction / fold: arithmetic, not zero ops ----------
def ops_of(fn, *xs) -> dict:
    report = run(Fn(fn), *xs)
    assert report.uncounted == [] and report.complete
    return counts(report.total.cost)


def test_index_put_with_accumulate_adds_each_value_put():
    a, v = torch.zeros(5, 3), torch.ones(3)
    i = torch.tensor([0, 0, 1, 4])
    # 4 indexed rows of 3, the values broadcast over them: 4·3 additions
    assert ops_of(lambda t: t.index_put((i,), v, accumulate=True), a) == {"adds": 4 * 3}
    assert ops_of(lambda t: t.clone().index_put_((i,), v, accumulate=True), a) == {"adds": 4 * 3}
    assert ops_of(lambda t: t.index_put((i,), v), a) == {}  # a plain write: no arithmetic
    # an index on dim 1 only (dim 0 taken whole): 5 rows × 3 indices = 15 values put
    j = torch.tensor([0, 2, 2])
    assert ops_of(lambda t: torch.ops.aten.index_put(t, [None, j], torch.ones(1), True), a) == {"adds": 5 * 3}
    # a boolean mask selecting 3 rows, with one value per selected element given: 3·3
    mask = torch.tensor([True, False, True, False, True])
    assert ops_of(lambda t: t.index_put((mask,), torch.ones(3, 3), accumulate=True), a) == {"adds": 3 * 3}
    # put with accumulate: one addition per index
    assert ops_of(lambda t: t.put(torch.tensor([0, 0, 1]), torch.ones(3), accumulate=True), torch.zeros(5)) == \
        {"adds": 3}
    assert ops_of(lambda t: t.put(torch.tensor([0, 0, 1]), torch.ones(3)), torch.zeros(5)) == {}


def test_scatter_with_a_reduction_counts_one_op_per_index_element():
    a = torch.zeros(5, 3)
    idx = torch.tensor([[0, 1, 0], [1, 0, 1]])  # 6 index elements; src (4, 3) is larger: only 2·3 used
    src = torch.ones(4, 3)
    assert ops_of(lambda t: t.scatter(0, idx, src, reduce="add"), a) == {"adds": 6}
    assert ops_of(lambda t: t.clone().scatter_(0, idx, src, reduce="multiply"), a) == {"mults": 6}
    assert ops_of(lambda t: t.scatter(0, idx, 2.0, reduce="add"), a) == {"adds": 6}
    assert ops_of(lambda t: t.scatter(0, idx, src), a) == {}      # a plain scatter: no arithmetic
    assert ops_of(lambda t: t.scatter_add(0, idx, src), a) == {"adds": 6}
    # scatter_reduce: sum → additions, prod → multiplications, amax/amin → comparisons
    assert ops_of(lambda t: t.scatter_reduce(0, idx, src, "sum"), a) == {"adds": 6}
    assert ops_of(lambda t: t.scatter_reduce(0, idx, src, "prod"), a) == {"mults": 6}
    assert ops_of(lambda t: t.scatter_reduce(0, idx, src, "amax"), a) == {"cmps": 6}
    assert ops_of(lambda t: t.scatter_reduce(0, idx, src, "amin", include_self=False), a) == {"cmps": 6}
    # mean into a 2×3 tensor: 6 additions, the values per position counted (6 more), the empty
    # positions' counts set to 1 (6 comparisons and assignments), every position divided (6)
    assert ops_of(lambda t: t.scatter_reduce(0, idx, src, "mean"), torch.zeros(2, 3)) == \
        {"adds": 12, "cmps": 6, "assigns": 6, "divs": 6}
    # into a 5×3 tensor: the kernel divides all 15 positions, also those no value reaches
    assert ops_of(lambda t: t.scatter_reduce(0, idx, src, "mean"), a) == {"adds": 12, "cmps": 15, "assigns": 15,
                                                                         "divs": 15}
    # index_reduce: one op per source element (4 rows of 3)
    i = torch.tensor([0, 0, 1, 4])
    assert ops_of(lambda t: t.index_reduce(0, i, src, "amax"), a) == {"cmps": 12}
    assert ops_of(lambda t: t.index_reduce(0, i, src, "prod"), a) == {"mults": 12}
    assert ops_of(lambda t: t.index_add(0, i, src), a) == {"adds": 12}


def test_fold_sums_the_overlapping_blocks():
    # 3×3 blocks at stride 1 into 4×4: 2×2 = 4 blocks of 9 taps; per plane 9·4 taps land on 16
    # positions: 9·4 − 16 additions
    assert ops_of(lambda x: F.fold(x, (4, 4), 3), torch.randn(1, 9, 4)) == {"adds": 9 * 4 - 16}
    # N = 2, C = 2: N·C·∏kernel·L − N·C·H·W
    assert ops_of(lambda x: F.fold(x, (4, 4), 3), torch.randn(2, 2 * 9, 4)) == {"adds": 2 * 2 * (9 * 4 - 16)}
    # its worked line: 2·2 = 4 whole planes (output elements // (4·4)), 2 blocks of 3 taps = 6 per dim
    report = run(Fn(lambda x: F.fold(x, (4, 4), 3)), torch.randn(2, 2 * 9, 4))
    assert [t.substituted for t in report.root.terms] == ["4×(6×6 − 4×4)"]
    assert ops_of(lambda x: F.fold(x, (4, 4), 3), torch.randn(2 * 9, 4)) == {"adds": 2 * (9 * 4 - 16)}
    # padding 1: 4×4 blocks, but taps in the padding are dropped; per dim the 4 positions receive
    # 2, 3, 3, 2 taps: (2 + 3 + 3 + 2)² taps land on 16 positions
    assert ops_of(lambda x: F.fold(x, (4, 4), 3, padding=1), torch.randn(1, 9, 16)) == {"adds": 10 * 10 - 16}
    # non-overlapping blocks (kernel 2, stride 2): a copy, no additions
    assert ops_of(lambda x: F.fold(x, (4, 4), 2, stride=2), torch.randn(1, 4, 4)) == {}
    # F.unfold (im2col) stays a copy
    assert ops_of(lambda x: F.unfold(x, 3), torch.randn(1, 1, 4, 4)) == {}


def test_blackman_bartlett_kaiser_windows_are_counted():
    # the other window factories torch.stft is given (were uncounted); x + window adds 8 more
    x, n = torch.randn(8), 8
    # blackman: 0.42 − 0.5·cos(2πn/M) + 0.08·cos(4πn/M): 5 multiplications, 2 cosines, 2 additions
    assert ops_of(lambda t: t + torch.blackman_window(n), x) == {"mults": 5 * n, "transc": 2 * n, "adds": 2 * n + n}
    # bartlett: 2n/M, then 2 − 2n/M past the middle n > M/2: periodic M = 8 → n = 5, 6, 7;
    # symmetric M = 7 → n = 4, 5, 6, 7
    assert ops_of(lambda t: t + torch.bartlett_window(n), x) == {"mults": n, "adds": 3 + n}
    assert ops_of(lambda t: t + torch.bartlett_window(n, periodic=False), x) == {"mults": n, "adds": 4 + n}
    m = torch.arange(n) / n
    assert torch.allclose(torch.bartlett_window(n), torch.where(m <= 0.5, 2 * m, 2 - 2 * m))
    # kaiser: I0(β·√(1 − (2n/M − 1)²)) / I0(β): 3 multiplications, 2 subtractions, √ and I0, a division;
    # I0(β) once
    assert ops_of(lambda t: t + torch.kaiser_window(n, False, 5.0), x) == {
        "mults": 3 * n, "adds": 2 * n + n, "transc": 2 * n + 1, "divs": n}
    # a window of length 1 is ones
    assert ops_of(lambda t: t + torch.kaiser_window(1), x) == {"adds": n}


def test_interpolate_area_op_equals_upsample_module():
    x = torch.randn(1, 1, 8, 8)
    # 8×8 → 4×4: 16 windows of 2×2: 3 additions and 1 division each
    assert ops_of(lambda t: F.interpolate(t, size=(4, 4), mode="area"), x) == {"adds": 3 * 16, "divs": 16}
    assert counts(run(nn.Upsample(size=(4, 4), mode="area"), x).total.cost) == {"adds": 3 * 16, "divs": 16}


def test_overlap_add_window_and_equal_ops_are_counted():
    # unfold_backward (istft's overlap-add): blocks of 4 with step 2 over 10 positions, 4 blocks
    # per row: 16 taps into 10 positions, 16 − 10 = 6 additions per row
    blocks = torch.randn(3, 4, 4)
    assert ops_of(lambda t: torch.ops.aten.unfold_backward(t, [3, 10], 1, 4, 2), blocks) == {"adds": 3 * 6}
    # hann / hamming: α − β·cos(2πn/M): 2 multiplications, 1 cosine, 1 subtraction per element
    x = torch.randn(8)
    assert ops_of(lambda t: t + torch.hann_window(8), x) == {"mults": 16, "transc": 8, "adds": 8 + 8}
    assert ops_of(lambda t: t + torch.hamming_window(8, periodic=False), x) == {"mults": 16, "transc": 8, "adds": 16}
    # length 1: ATen returns ones, computing nothing (only the broadcast addition is left)
    assert torch.equal(torch.hann_window(1), torch.ones(1)) and torch.equal(torch.hamming_window(1), torch.ones(1))
    assert ops_of(lambda t: t + torch.hann_window(1), x) == ops_of(lambda t: t + torch.hamming_window(1), x) == {"adds": 8}
    # torch.equal: one comparison per element
    assert ops_of(lambda t: t * 1 if torch.equal(t, t) else t, x) == {"cmps": 8, "mults": 8}
    # of different shapes: ATen returns False on the sizes, comparing nothing (it counted 8)
    assert ops_of(lambda t: t * 1 if torch.equal(t, t[:2]) else t, x) == {}


def test_frozen_torchscript_counts_like_the_fused_eager_model():
    # under the profile's dispatch mode TorchScript pools a frozen graph's constants, calling
    # aten.equal on each pair of weight constants (8×3×3×3 and 8): 2·216 = 432 comparisons were
    # counted as the model's. A frozen conv-BN-ReLU is the fused conv: 8·3·3·3·6·6 = 7,776 MACs,
    # 288 bias additions, 288 ReLU comparisons
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).eval()
    frozen = torch.jit.freeze(torch.jit.script(model))
    cost = torchcount.profile(frozen, torch.randn(1, 3, 8, 8)).total.cost
    assert (cost.macs, cost.adds, cost.cmps, cost.mults) == (7776, 288, 288, 0)


def test_istft_and_griffin_lim_are_fully_counted():
    torchaudio = pytest.importorskip("torchaudio")
    spec = torchaudio.transforms.Spectrogram(n_fft=64, hop_length=16, power=None)(torch.randn(1, 512))
    for transform, arg in ((torchaudio.transforms.InverseSpectrogram(n_fft=64, hop_length=16), spec),
                           (torchaudio.transforms.GriffinLim(n_fft=64, hop_length=16, n_iter=2), spec.abs())):
        report = torchcount.profile(transform, arg)
        assert report.complete, [u.what for u in report.uncounted]


def test_losses_follow_their_reduction():
    import torch.nn.functional as F

    a, b = torch.randn(4, 3), torch.randn(4, 3)
    n = 4 * 3
    # mse: a difference and a square per element; "sum" adds them up, "mean" also divides once
    assert ops_of(lambda x: F.mse_loss(x, b, reduction="none"), a) == {"adds": n, "mults": n}
    assert ops_of(lambda x: F.mse_loss(x, b, reduction="sum"), a) == {"adds": n + n - 1, "mults": n}
    assert ops_of(lambda x: F.mse_loss(x, b), a) == {"adds": n + n - 1, "mults": n, "divs": 1}
    # l1 runs as sub, abs (a comparison and an assignment), sum
    assert ops_of(lambda x: F.l1_loss(x, b, reduction="sum"), a) == {"adds": n + n - 1, "cmps": n, "assigns": n}
    # smooth L1 and Huber reach their own CPU kernels whole, whose vectorised loop computes both branches
    # and selects one (BinaryOpsKernel.cpp): z = |a − b| (a subtraction, an absolute value), z ≥ β (a
    # comparison), smooth L1's 0.5·z·z/β (2 mults + 1 div) and z − 0.5·β (1 sub), Huber's 0.5·z·z (2 mults)
    # and δ·(z − 0.5·δ) (1 sub + 1 mult), the blend (an assignment); the constant 0.5·β is not per element.
    # Until 2026-12-06 only the difference and the absolute value were counted
    assert ops_of(lambda x: F.smooth_l1_loss(x, b, reduction="none", beta=0.5), a) == \
        {"adds": 2 * n, "cmps": 2 * n, "mults": 2 * n, "divs": n, "assigns": n}
    assert ops_of(lambda x: F.smooth_l1_loss(x, b), a) == \
        {"adds": 2 * n + n - 1, "cmps": 2 * n, "mults": 2 * n, "divs": n + 1, "assigns": n}
    assert ops_of(lambda x: F.huber_loss(x, b, reduction="sum", delta=2.0), a) == \
        {"adds": 2 * n + n - 1, "cmps": 2 * n, "mults": 3 * n, "assigns": n}
    # nll: one picked log-probability per target (4), summed; mean divides once; class weights
    # multiply each picked value and a weighted mean sums the picked weights too
    t = torch.tensor([0, 1, 2, 0])
    assert ops_of(lambda x: F.nll_loss(x, t, reduction="none"), a) == {}
    assert ops_of(lambda x: F.nll_loss(x, t, reduction="sum"), a) == {"adds": 3}
    assert ops_of(lambda x: F.nll_loss(x, t), a) == {"adds": 3, "divs": 1}
    w = torch.tensor([1.0, 2.0, 0.5])
    assert ops_of(lambda x: F.nll_loss(x, t, weight=w), a) == {"mults": 4, "adds": 3 + 3, "divs": 1}


def test_pow_by_zero_and_the_zero_norm():
    x = torch.randn(2, 5)
    assert ops_of(lambda t: t.pow(0), x) == {}  # ones
    assert ops_of(lambda t: t.pow(1), x) == {}
    # ord 0 counts the non-zero elements of each row: 5 comparisons and 4 additions per row
    assert ops_of(lambda t: torch.linalg.vector_norm(t, ord=0, dim=1), x) == {"cmps": 10, "adds": 8}


def test_roi_align_with_a_fixed_grid_is_counted_and_an_adaptive_one_is_listed():
    torchvision = pytest.importorskip("torchvision")
    x = torch.randn(1, 4, 16, 16)
    boxes = torch.tensor([[0, 1.0, 1.0, 8.0, 8.0], [0, 2.0, 2.0, 10.0, 12.0]])
    fixed = run(Fn(lambda t: torchvision.ops.roi_align(t, boxes, (3, 3), 1.0, sampling_ratio=2)), x)
    bins, samples, c = 2 * 3 * 3, 2 * 3 * 3 * 2 * 2, 4  # K·ph·pw, × s², channels
    assert fixed.complete
    assert counts(fixed.total.cost) == {
        "mults": 4 * samples + 4 * c * samples,  # corner weights; weighted corners per channel
        "adds": 4 * samples + 3 * c * samples + bins * c * (2 * 2 - 1),  # side distances; corner sums; sample sums
        "divs": bins * c,  # the mean of each bin
    }
    with pytest.warns(torchcount.UncountedWarning, match="roi_align"):  # the grid depends on the boxes' sizes
        adaptive = torchcount.profile(Fn(lambda t: torchvision.ops.roi_align(t, boxes, (3, 3), 1.0, -1)), x)
    assert [u.what for u in adaptive.uncounted] == ["torchvision.roi_align.default"]


def test_unique_is_a_sort_and_a_neighbour_pass():
    x = torch.tensor([[1, 2, 2], [1, 2, 2], [0, 0, 4], [3, 3, 3]])  # 12 values, 5 distinct, 3 distinct rows
    # 12 values: 12·⌈log2 12⌉ = 48 sort comparisons + 11 neighbour comparisons
    assert ops_of(lambda t: torch.unique(t).float().sum(), x) == {"cmps": 48 + 11, "adds": 5 - 1}
    # counts: one subtraction per distinct value (5), next to the sort (the sum of 5: 4 adds)
    assert ops_of(lambda t: torch.unique(t, sorted=False, return_counts=True)[1].sum(), x) == \
        {"cmps": 48 + 11, "adds": 5 + 4}
    # rows (dim=0): 4 rows of 3, 4·⌈log2 4⌉·3 = 24 element comparisons to sort, (4 − 1)·3 = 9 to compare
    # neighbours; 3 distinct rows of 3 summed: 8 adds
    assert ops_of(lambda t: torch.unique(t, dim=0).sum(), x) == {"cmps": 24 + 9, "adds": 8}
    # consecutive: 11 neighbour comparisons, 7 runs kept (1 2 1 2 0 4 3): their sum 6 adds;
    # by rows (dim 0): (4 − 1)·3 comparisons, 3 runs of 3 values kept: 8 adds
    assert ops_of(lambda t: torch.unique_consecutive(t).sum(), x) == {"cmps": 11, "adds": 7 - 1}
    assert ops_of(lambda t: torch.unique_consecutive(t, dim=0).sum(), x) == {"cmps": 9, "adds": 9 - 1}
    # with counts: one subtraction per run (7), next to the 11 comparisons; the 7 counts summed: 6 adds
    assert ops_of(lambda t: torch.unique_consecutive(t, return_counts=True)[1].sum(), x) == \
        {"cmps": 11, "adds": 7 + 6}


def test_addmm_and_baddbmm_follow_alpha_and_beta():
    b, m, k, n = 2, 3, 4, 5
    c, a, w = torch.randn(b, m, n), torch.randn(b, m, k), torch.randn(b, k, n)
    macs = b * m * k * n
    out = b * m * n
    assert ops_of(lambda c, a, w: torch.baddbmm(c, a, w), c, a, w) == {"macs": macs, "adds": out}
    # α·(A·B): one multiplication per output (BLOOM's scaled scores)
    assert ops_of(lambda c, a, w: torch.baddbmm(c, a, w, alpha=0.5), c, a, w) == {"macs": macs, "mults": out,
                                                                                  "adds": out}
    # β = 0 ignores the bias: no additions (GPT-2's reorder_and_upcast_attn, ImageGPT)
    assert ops_of(lambda c, a, w: torch.baddbmm(c, a, w, beta=0, alpha=0.5), c, a, w) == {"macs": macs,
                                                                                          "mults": out}
    # β·bias + α·(A·B), the same as the maths written out: 2 multiplications and 1 addition per output
    c2, a2, w2 = torch.randn(m, n), torch.randn(m, k), torch.randn(k, n)
    fused = ops_of(lambda c, a, w: torch.addmm(c, a, w, beta=0.5, alpha=2.0), c2, a2, w2)
    assert fused == ops_of(lambda c, a, w: 0.5 * c + 2.0 * (a @ w), c2, a2, w2) == \
        {"macs": m * k * n, "mults": 2 * m * n, "adds": m * n}


@needs("torch._grouped_mm on CPU")
def test_grouped_mm_of_mixture_of_experts():
    # torch._grouped_mm: every token through its expert's weight (transformers' MoE layers)
    S, K, N, E = 16, 32, 48, 4
    offs = torch.tensor([4, 8, 12, 16], dtype=torch.int32)
    x, w = torch.randn(S, K), torch.randn(E, K, N)
    assert ops_of(lambda x, w, o: torch._grouped_mm(x, w, offs=o), x, w, offs) == {"macs": S * K * N}
    a = torch.randn(E, S, K)  # 3-D × 3-D: a batch of E products
    assert ops_of(lambda a, w: torch._grouped_mm(a, w), a, w) == {"macs": E * S * K * N}
    cols = torch.tensor([8, 16, 32, 40], dtype=torch.int32)  # 3-D × 2-D: the 40 columns split in 4
    assert ops_of(lambda a, b, o: torch._grouped_mm(a, b, offs=o), a, torch.randn(K, 40), cols) == \
        {"macs": S * K * 40}
    inner = torch.tensor([16, 32, 48, 64], dtype=torch.int32)  # 2-D × 2-D: the contraction split in 4
    assert ops_of(lambda a, b, o: torch._grouped_mm(a, b, offs=o), torch.randn(S, 64), torch.randn(64, N),
                  inner) == {"macs": S * 64 * N}


def test_histc():
    x = torch.rand(10)
    # per element: 2 range comparisons, a subtraction, a multiplication and a count
    assert ops_of(lambda t: torch.histc(t, bins=4, min=0, max=1), x) == {"cmps": 20, "adds": 20, "mults": 10}
    # min = max: the data's range first, 2 more comparisons per element
    assert ops_of(lambda t: torch.histc(t, bins=4), x) == {"cmps": 40, "adds": 20, "mults": 10}


@pytest.mark.parametrize("reduction, extra", [("none", {}), ("sum", {"adds": 99}),
                                              ("mean", {"adds": 99, "divs": 1})])
def test_binary_cross_entropy_follows_its_reduction(reduction, extra):
    F = torch.nn.functional
    x, y, w = torch.randn(100), torch.rand(100), torch.rand(100)

    def plus(base):
        return {k: base.get(k, 0) + extra.get(k, 0) for k in {*base, *extra}}

    # on logits: max(x, 0) − x·y + log(1 + exp(−|x|)): 2 cmps, 1 mult, 3 adds, 2 transc per element
    logits = {"cmps": 200, "mults": 100, "adds": 300, "transc": 200}
    assert ops_of(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction), x, y) == plus(logits)
    # a weight: one more mult per element; a pos_weight: 2 mults and 2 adds more
    assert ops_of(lambda x, y, w: F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=w,
                                                                     reduction=reduction), x, y, w) == \
        plus({"cmps": 200, "mults": 400, "adds": 500, "transc": 200})
    # on probabilities: −(y·log p + (1 − y)·log(1 − p)), each log clamped: 2 cmps, 3 mults, 3 adds, 2 logs
    p = torch.rand(100)
    assert ops_of(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction), p, y) == \
        plus({"cmps": 200, "mults": 300, "adds": 300, "transc": 200})


def test_error_checks_are_zero_ops_not_uncounted():
    # linalg ops call _linalg_check_errors on their info codes: it computes nothing the model uses
    from torchcount.rules.registry import ZERO_OP, op_rule_for
    for name in ("_linalg_check_errors", "_assert_async"):
        assert op_rule_for(getattr(torch.ops.aten, name).default) is ZERO_OP, name


# ---- dense linear algebra: the textbook direct algorithms ------------------------------------
def _lu_by_steps(n):
    """LU with partial pivoting of n×n, step by step: (MACs, divisions, pivot comparisons)."""
    return (sum((n - k) ** 2 for k in range(1, n)), sum(n - k for k in range(1, n)), sum(n - k for k in range(1, n)))


def test_linear_algebra_direct_algorithms():
    n, batch, k = 5, 3, 2
    torch.manual_seed(0)
    a = torch.randn(batch, n, n)
    a = a @ a.transpose(-1, -2) + n * torch.eye(n)  # symmetric positive definite: every op applies
    b = torch.randn(batch, n, k)
    lu_macs, lu_divs, lu_cmps = _lu_by_steps(n)
    tri = n * (n - 1) // 2  # MACs of one triangular solve for one right-hand side
    lu = {"macs": batch * lu_macs, "divs": batch * lu_divs, "cmps": batch * lu_cmps}

    def plus(*parts):
        out = {}
        for part in parts:
            for key, v in part.items():
                out[key] = out.get(key, 0) + v
        return out

    rhs = batch * k
    # solve: LU, then L (unit diagonal) and U (÷ diagonal) for each right-hand side
    assert ops_of(torch.linalg.solve, a, b) == plus(lu, {"macs": 2 * rhs * tri, "divs": rhs * n})
    # inv: the same for the n columns of the identity
    assert ops_of(torch.linalg.inv, a) == plus(lu, {"macs": 2 * batch * n * tri, "divs": batch * n * n})
    # det: LU, then the product of U's diagonal
    assert ops_of(torch.linalg.det, a) == plus(lu, {"mults": batch * (n - 1)})
    # a 1×1 matrix: LU has no step (no pivot search, multiplier or update), U's diagonal one entry: no product
    assert ops_of(torch.linalg.det, torch.randn(3, 1, 1)) == {}
    assert ops_of(lambda t: torch.linalg.lu_factor(t)[0], a) == lu
    # a wide 3×5 matrix: p = 3 steps, at step k (1-based) 3 − k multipliers and pivot comparisons,
    # (3 − k)·(5 − k) update MACs: 2 + 1 = 3 divisions and comparisons, 2·4 + 1·3 = 11 MACs
    assert ops_of(lambda t: torch.linalg.lu_factor(t)[0], torch.randn(3, 5)) == {"macs": 11, "divs": 3, "cmps": 3}
    # Cholesky: Σ_j (n − j)·j dot-product MACs = (n³ − n)/6, n roots, n(n − 1)/2 divisions
    chol = {"macs": batch * sum((n - j) * j for j in range(n)), "transc": batch * n, "divs": batch * tri}
    assert ops_of(torch.linalg.cholesky, a) == chol
    factor = torch.linalg.cholesky(a)
    # cholesky_inverse: two triangular solves for the n columns of the identity
    assert ops_of(torch.cholesky_inverse, factor) == {"macs": 2 * batch * n * tri, "divs": 2 * batch * n * n}
    assert ops_of(torch.cholesky_solve, b, factor) == {"macs": 2 * rhs * tri, "divs": 2 * rhs * n}
    assert ops_of(lambda l, y: torch.linalg.solve_triangular(l, y, upper=False), factor, b) == \
        {"macs": rhs * tri, "divs": rhs * n}
    assert ops_of(lambda l, y: torch.linalg.solve_triangular(l, y, upper=False, unitriangular=True), factor, b) == \
        {"macs": rhs * tri}


def _householder_by_steps(m: int, n: int) -> dict:
    """geqrf written out by hand, reflector by reflector (k = 0 … min(m, n) − 1, a column of
    l = m − k entries, c = n − k − 1 columns right of it; a 1-entry reflector is the identity)."""
    out = {"macs": 0, "mults": 0, "adds": 0, "divs": 0, "transc": 0}
    for k in range(min(m, n)):
        l, c = m - k, n - k - 1
        if l < 2:
            continue
        out["macs"] += l + 2 * l * c       # the norm, then w = vᵀC and C −= τ·v·wᵀ
        out["transc"] += 1                  # √ of the norm
        out["adds"] += 2                    # α − β, β − α
        out["divs"] += 2                    # τ, 1/(α − β)
        out["mults"] += (l - 1) + c         # scaling v, τ·w
    return out


def _lapack_qr_flops(m: int, n: int) -> float:
    """LAPACK's own operation count for xGEQRF (testing/matgen dopla.f, m ≥ n): mults + adds."""
    mults = n * ((23 / 6) + m + n / 2 + n * (m - n / 3))
    adds = n * ((5 / 6) + n * (1 / 2 + (m - n / 3)))
    return mults + adds


def test_householder_qr_by_hand_and_against_lapacks_count():
    # 6×4: reflectors of 6, 5, 4, 3 entries with 3, 2, 1, 0 columns right of them
    a = torch.randn(6, 4, dtype=torch.float64)
    assert _householder_by_steps(6, 4) == {"macs": 18 + 64, "mults": 14 + 6, "adds": 8, "divs": 8, "transc": 4}
    assert ops_of(torch.geqrf, a) == _householder_by_steps(6, 4)
    assert ops_of(lambda t: torch.linalg.qr(t, mode="r"), a) == _householder_by_steps(6, 4)
    # the same total as LAPACK's count of its own algorithm, to 0.01 %
    for m, n in [(200, 200), (400, 100)]:
        c = ops_of(torch.geqrf, torch.randn(m, n))
        ours = 2 * c["macs"] + c["mults"] + c["adds"] + c["divs"] + c["transc"]
        assert ours == pytest.approx(_lapack_qr_flops(m, n), rel=1e-4)


def test_forming_and_applying_q():
    m, n, r, batch = 6, 4, 3, 2
    a, b = torch.randn(batch, m, n, dtype=torch.float64), torch.randn(batch, m, r, dtype=torch.float64)
    steps = [(m - k, n - k - 1) for k in range(n)]  # (l, c): all l ≥ 2 here
    form_q = {"macs": batch * sum(2 * l * c for l, c in steps),               # each reflector on the columns right of it
              "mults": batch * sum(c + l - 1 for l, c in steps),            # τ·w, and its column × −τ
              "adds": batch * n}                                            # 1 − τ on the diagonal
    qr = {k: batch * v for k, v in _householder_by_steps(m, n).items()}
    both = {k: qr.get(k, 0) + form_q.get(k, 0) for k in {*qr, *form_q}}
    assert ops_of(torch.linalg.qr, a) == both  # reduced: Q is m×n
    assert ops_of(lambda x, h: torch.linalg.householder_product(x, h), *torch.geqrf(a)) == form_q
    apply_q = {"macs": batch * sum(2 * l * r for l, _ in steps), "mults": batch * n * r}
    assert ops_of(lambda x, h, c: torch.ormqr(x, h, c), *torch.geqrf(a), b) == apply_q
    # from the right, C·Q with C of r rows (r×m): the same work per row of C as per column from the left
    assert ops_of(lambda x, h, c: torch.ormqr(x, h, c, left=False), *torch.geqrf(a), b.mT.contiguous()) == apply_q
    # least squares (QR drivers): QR, Qᵀ·B, then R·x = Qᵀ·b for each right-hand side
    solve = {"macs": batch * r * n * (n - 1) // 2, "divs": batch * r * n}
    expected = {k: qr.get(k, 0) + apply_q.get(k, 0) + solve.get(k, 0) for k in {*qr, *apply_q, *solve}}
    assert ops_of(lambda x, y: torch.linalg.lstsq(x, y, driver="gels").solution, a, b) == expected
    assert ops_of(lambda x, y: torch.linalg.lstsq(x, y).solution, a, b) == expected  # gelsy on a CPU
    report = run(Fn(lambda x, y: torch.linalg.lstsq(x, y, driver="gelsd").solution), a, b)
    assert [u.what for u in report.uncounted] == ["aten.linalg_lstsq.default"]  # SVD-based: iterative


def test_angle_and_polar():
    z = torch.randn(6, dtype=torch.complex64)
    assert ops_of(lambda t: torch.angle(t), z) == {"transc": 6}  # atan2(im, re)
    assert ops_of(lambda t: torch.angle(t), torch.randn(6)) == {"cmps": 6}  # 0 or π
    r, theta = torch.rand(6), torch.randn(6)
    assert ops_of(lambda a, b: torch.view_as_real(torch.polar(a, b)), r, theta) == {"transc": 12, "mults": 12}


def test_cdist_all_paths_and_norms():
    a, b = torch.randn(5, 4), torch.randn(6, 4)
    pairs, d = 5 * 6, 4
    # the direct formula (at most 25 rows): differences, |·|^p, the combining step, a root
    assert ops_of(lambda x, y: torch.cdist(x, y), a, b) == {"adds": pairs * d + pairs * (d - 1),
                                                          "mults": pairs * d, "transc": pairs}
    assert ops_of(lambda x, y: torch.cdist(x, y, p=float("inf")), a, b) == {"adds": pairs * d,
                                                                           "cmps": pairs * d + pairs * (d - 1)}
    assert ops_of(lambda x, y: torch.cdist(x, y, p=0), a, b) == {"adds": pairs * d + pairs * (d - 1),
                                                                "cmps": pairs * d}
    # p = 1: |·| as one comparison each (as the vector norms count it), summed, no root; p = 3: d powers
    # and a root per pair, each a transcendental (docs/coverage.md's cdist line)
    assert ops_of(lambda x, y: torch.cdist(x, y, p=1), a, b) == {"adds": pairs * d + pairs * (d - 1),
                                                                "cmps": pairs * d}
    assert ops_of(lambda x, y: torch.cdist(x, y, p=3), a, b) == {"adds": pairs * d + pairs * (d - 1),
                                                                "transc": pairs * d + pairs}
    # through a matrix product (more than 25 rows): row norms, −2·a, the padded product, clamp, root
    a, b = torch.randn(30, 4), torch.randn(40, 4)
    pairs = 30 * 40
    assert ops_of(lambda x, y: torch.cdist(x, y), a, b) == {
        "mults": 70 * d + 30 * d, "adds": 70 * (d - 1), "macs": pairs * (d + 2),
        "cmps": pairs, "assigns": pairs, "transc": pairs}


def test_outer_products_traces_renorm_and_bilinear():
    u, v, m = torch.randn(4), torch.randn(5), torch.randn(4, 5)
    assert ops_of(torch.addr, m, u, v) == {"mults": 20, "adds": 20}
    assert ops_of(lambda m, u, v: torch.addr(m, u, v, beta=0.5, alpha=2), m, u, v) == {"mults": 60, "adds": 20}
    assert ops_of(torch.trace, torch.randn(5, 7)) == {"adds": 4}
    # renorm of 4 rows of 5 (p = 2): norms (squares, sums, roots), a test and a factor per row, rescaling
    assert ops_of(lambda t: torch.renorm(t, 2, 0, 1.0), m) == {"mults": 20 + 20, "adds": 16, "transc": 4,
                                                               "cmps": 4, "divs": 4}
    # F.bilinear costs what nn.Bilinear does (its aten._trilinear was uncounted)
    x1, x2, w = torch.randn(2, 3), torch.randn(2, 4), torch.randn(5, 3, 4)
    assert ops_of(lambda a, b, c: nn.functional.bilinear(a, b, c), x1, x2, w) == {"macs": 2 * 5 * (3 + 1) * 4}
    # addbmm and addmv follow alpha and beta too
    assert ops_of(lambda c, a, b: torch.addbmm(c, a, b, alpha=2.0), torch.randn(3, 5), torch.randn(2, 3, 4),
                  torch.randn(2, 4, 5)) == {"macs": 2 * 3 * 4 * 5, "mults": 15, "adds": 15}
    assert ops_of(lambda c, a, x: torch.addmv(c, a, x, beta=0), torch.randn(3), torch.randn(3, 4),
                  torch.randn(4)) == {"macs": 12}


def test_random_factories_are_zero_ops():
    from torchcount.rules.registry import ZERO_OP, op_rule_for
    for name in ("exponential", "geometric", "cauchy", "log_normal", "random", "uniform", "normal"):
        assert op_rule_for(getattr(torch.ops.aten, name + "_").default) is ZERO_OP, name


def test_logaddexp_and_logcumsumexp_as_the_kernels_compute_them():
    # logaddexp: max(a, b) + log1p(exp(−|a − b|)) per element: the max and |·| (2 cmps, 1 assign),
    # a − b and m + … (2 adds), the negation (1 mult), exp and log1p (2 transc); logaddexp2 also
    # multiplies by 1/ln 2
    a, b = torch.randn(4), torch.randn(4)
    assert ops_of(torch.logaddexp, a, b) == {"cmps": 8, "assigns": 4, "adds": 8, "mults": 4, "transc": 8}
    assert ops_of(torch.logaddexp2, a, b) == {"cmps": 8, "assigns": 4, "adds": 8, "mults": 8, "transc": 8}
    # logcumsumexp: 4 lines of 8, 7 steps each of log1p(exp(min − max)) + max (ATen's
    # _log_add_exp_helper): 2 cmps, 2 adds, 2 transc per step
    assert ops_of(lambda t: torch.logcumsumexp(t, 1), torch.randn(4, 8)) == {"cmps": 56, "adds": 56, "transc": 56}
    # a 0-d tensor is one line of one element: no step at all
    assert ops_of(lambda t: torch.logcumsumexp(t, 0), torch.tensor(0.5)) == {}


def test_logsumexp_as_its_terms():
    """logsumexp over rows of 8, 4 rows: the max (4·7 comparisons), x − max (32 subtractions), 32 exps,
    their sum (4·7 additions), 4 logs and the max added back (4 additions)."""
    assert ops_of(lambda t: torch.logsumexp(t, -1), torch.randn(4, 8)) == \
        {"cmps": 28, "adds": 32 + 28 + 4, "transc": 32 + 4}


# ---- ops an op sweep found uncounted (2026-12-02): each figure by hand --------------------------
def test_conv_tbc_is_a_1d_convolution_in_time_batch_channel_layout():
    x, w, b = torch.randn(5, 2, 4), torch.randn(3, 4, 6), torch.randn(6)
    # T_out = 5 − 3 + 1 = 3 positions × batch 2, each ∏weight = 3·4·6 = 72 MACs; bias per output (3·2·6)
    assert ops_of(lambda x: torch.conv_tbc(x, w, b), x) == {"macs": 6 * 72, "adds": 36}
    # the same as F.conv1d on (B, C, T), by torch.utils.flop_counter (2 FLOPs per MAC)
    with FlopCounterMode(display=False) as fc:
        F.conv1d(x.permute(1, 2, 0), w.permute(2, 1, 0), b)
    assert 2 * 6 * 72 == fc.get_total_flops()


def test_affine_grid_is_theta_times_homogeneous_coordinates():
    # 2-D: N·H·W·2 coordinates, each θ·(x, y, 1): 3 MACs; 3-D: 4 MACs per coordinate
    assert ops_of(lambda t: F.affine_grid(t, (2, 8, 16, 16), align_corners=False), torch.randn(2, 2, 3)) == \
        {"macs": 2 * 16 * 16 * 2 * 3}
    assert ops_of(lambda t: F.affine_grid(t, (1, 1, 2, 3, 4), align_corners=False), torch.randn(1, 3, 4)) == \
        {"macs": 2 * 3 * 4 * 3 * 4}


def _grid_sample(x, grid, **kw):
    return ops_of(lambda x, g: F.grid_sample(x, g, **kw), x, grid)


@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_2d_forward_by_hand(padding, align):
    """The vectorised CPU kernel (``ApplyGridSample``): per position (shared by the channels) the
    2 coordinates un-normalised (2 mults + 1 add each); per element the interpolation. The padding
    mode's clipping or reflection and align_corners change nothing counted."""
    x, grid = torch.randn(1, 2, 3, 3), torch.rand(1, 2, 2, 2) * 2 - 1
    n, P = 1 * 2 * 2 * 2, 1 * 2 * 2  # 8 output elements, 4 positions
    kw = dict(padding_mode=padding, align_corners=align)
    # bilinear: per position 4 mults + 2 adds (un-normalisation), 4 side distances (adds), 4 corner
    # weights (mults); per element v·w at the 4 corners, summed: 4 mults + 3 adds
    assert _grid_sample(x, grid, mode="bilinear", **kw) == \
        {"mults": 4 * P + 4 * P + 4 * n, "adds": 2 * P + 4 * P + 3 * n} == {"mults": 64, "adds": 48}
    # nearest: the coordinates rounded, the value copied: only the un-normalisation
    assert _grid_sample(x, grid, mode="nearest", **kw) == {"mults": 4 * P, "adds": 2 * P} == {"mults": 16, "adds": 8}
    # bicubic: per position 2 fractional parts (adds), 4 cubic coefficients per coordinate (12 mults
    # + 13 adds each); per element 4 rows of 4 taps, then the 4 rows (5 four-tap sums: 20 mults + 15 adds)
    assert _grid_sample(x, grid, mode="bicubic", **kw) == \
        {"mults": 4 * P + 24 * P + 20 * n, "adds": 2 * P + 2 * P + 26 * P + 15 * n} == {"mults": 272, "adds": 240}


@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_grid_sample_3d_forward_by_hand(padding):
    """The scalar CPU kernel (``grid_sampler_3d_cpu_impl``): per position 3 coordinates un-normalised
    (6 mults + 3 adds); trilinear: 6 face distances, 8 corner weights of 2 mults each, per element 8
    mults + 7 adds (every corner: an upper bound with zero padding); nearest: a copy."""
    x, grid = torch.randn(1, 2, 2, 3, 3), torch.rand(1, 1, 2, 2, 3) * 2 - 1
    n, P = 1 * 2 * 1 * 2 * 2, 1 * 1 * 2 * 2  # 8 output elements, 4 positions
    assert _grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False) == \
        {"mults": 6 * P + 16 * P + 8 * n, "adds": 3 * P + 6 * P + 7 * n} == {"mults": 152, "adds": 92}
    assert _grid_sample(x, grid, mode="nearest", padding_mode=padding, align_corners=False) == \
        {"mults": 6 * P, "adds": 3 * P} == {"mults": 24, "adds": 12}


def test_grid_sample_shares_its_weights_across_channels():
    """Per-position work does not grow with the channels, per-element work does: 2-D bilinear is
    8·P mults + 6·P adds + (4 mults + 3 adds)·C·P; the upsampling recipe (6 mults + 3 adds per
    element, and the per-position weights uncounted) it replaced priced 6·C·P + 4·P mults."""
    grid = torch.rand(2, 5, 3, 2) * 2 - 1
    P = 2 * 5 * 3
    for C in (1, 4, 16):
        got = _grid_sample(torch.randn(2, C, 4, 4), grid, mode="bilinear", align_corners=False)
        assert got == {"mults": 8 * P + 4 * C * P, "adds": 6 * P + 3 * C * P}


def test_cudnn_grid_sampler_is_priced_as_the_bilinear_2d_kernel():
    """``cudnn_grid_sampler(input, grid)`` (F.grid_sample on a GPU with cuDNN: bilinear, zero padding,
    align_corners=True only) costs what grid_sampler_2d costs in bilinear mode."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    x, grid = torch.randn(2, 3, 5, 6), torch.rand(2, 4, 7, 2) * 2 - 1
    n, P = 2 * 3 * 4 * 7, 2 * 4 * 7
    out = torch.empty(2, 3, 4, 7)
    call = OpCall(torch.ops.aten.cudnn_grid_sampler.default, (describe(x), describe(grid)), {}, describe(out))
    got = counts(op_rule_for(call.op)(call))
    assert got == {"mults": 8 * P + 4 * n, "adds": 6 * P + 3 * n}
    assert got == _grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def test_cross_product_and_elementwise_functions():
    assert ops_of(lambda a, b: torch.linalg.cross(a, b), torch.randn(4, 3), torch.randn(4, 3)) == \
        {"mults": 6 * 4, "adds": 3 * 4}
    x = torch.rand(2, 5) + 1
    assert ops_of(lambda t: torch.polygamma(1, t), x) == {"transc": 10}
    # mvlgamma(x, p = 3): 3 lgammas, 2 subtractions, 2 additions and the constant per element
    assert ops_of(lambda t: torch.mvlgamma(t + 2, 3), x) == {"adds": 10 + 5 * 10, "transc": 3 * 10}
    # heaviside: x < 0, x > 0 (2 comparisons) and the value picked
    assert ops_of(lambda t: torch.heaviside(t, torch.tensor(0.5)), x) == {"cmps": 20, "assigns": 10}


@pytest.mark.parametrize("fn", [
    lambda t: torch.diag_embed(t),
    lambda t: torch.block_diag(t, t),
    lambda t: torch.triu_indices(4, 4) + 0 * t.sum().long(),
    lambda t: F.max_unpool2d(t.view(1, 1, 2, 5), torch.arange(10).view(1, 1, 2, 5) * 4, 2, output_size=(4, 10)),
])
def test_data_movement_found_uncounted_is_counted_as_moving_data(fn):
    cost = cost_of(fn, torch.randn(2, 5))
    assert cost.bytes_read + cost.bytes_written > 0


def test_functional_fractional_max_pool_counts_like_the_module():
    x = torch.randn(1, 2, 16, 16)
    module = run(nn.FractionalMaxPool2d(3, output_size=(6, 6)), x).total.cost
    # (3·3 − 1) comparisons per output, 2·6·6 outputs
    assert module.cmps == 8 * 72
    assert ops_of(lambda t: F.fractional_max_pool2d(t, 3, output_size=(6, 6)), x) == {"cmps": 8 * 72}


def test_ctc_loss_counts_the_alpha_lattice():
    T, B, C, S = 10, 2, 5, 4
    lp = torch.randn(T, B, C).log_softmax(2)
    targets = torch.randint(1, C, (B, S))
    per_entry = 7 + 4  # 3 subs + 4 adds, 3 exps + 1 log; after the first step
    # the max's comparisons per step: 0 at s = 0, 1 at s = 1 and each blank, 2 at each label from s = 3
    # (an upper bound: 1 where a label repeats the one two back), 3·S − 1 for S ≥ 1
    final = 1 + 4 + 3 + 1  # per sequence: minus the log-sum-exp of the last 2 entries
    # tensor lengths: only shapes reach the rule, every sequence at full length (the upper bound)
    full = ops_of(lambda x: torch.ops.aten._ctc_loss(x, targets, torch.tensor([T, T]), torch.tensor([S, S]))[0], lp)
    assert sum(full.values()) == B * (T - 1) * ((2 * S + 1) * per_entry + 3 * S - 1) + B * final
    # integer lengths: the exact lattice, Σ (T_b − 1)·(2·S_b + 1)
    exact = ops_of(lambda x: torch.ops.aten._ctc_loss(x, targets, [10, 7], [4, 2])[0], lp)
    assert sum(exact.values()) == (9 * 9 + 6 * 5) * per_entry + 9 * 11 + 6 * 5 + B * final
    assert exact["cmps"] == 9 * (3 * 4 - 1) + 6 * (3 * 2 - 1) + B
    assert exact["transc"] == (9 * 9 + 6 * 5) * 4 + B * 3
    # tensor lengths with the targets concatenated (lengths 4 and 2, 6 labels): the longest target
    # is 4, not the 6 labels in all
    flat = torch.cat([targets[0], targets[1, :2]])
    concat = ops_of(lambda x: torch.ops.aten._ctc_loss(x, flat, torch.tensor([T, T]), torch.tensor([4, 2]))[0], lp)
    assert sum(concat.values()) == B * (T - 1) * ((2 * 4 + 1) * per_entry + 3 * 4 - 1) + B * final
    # and a padded batch wider than its longest target (width 4, lengths 3 and 2) is sized by the 3
    wide = ops_of(lambda x: torch.ops.aten._ctc_loss(x, targets, torch.tensor([T, T]), torch.tensor([3, 2]))[0], lp)
    assert sum(wide.values()) == B * (T - 1) * ((2 * 3 + 1) * per_entry + 3 * 3 - 1) + B * final


def test_embedding_max_norm_renormalisation_is_counted_as_an_upper_bound():
    # 6 look-ups of rows of 4, max_norm with p = 2: per row 4 squares, 3 additions, a square
    # root, a comparison; rescaling (taken for every row: an upper bound) 1 addition (+1e-7),
    # 1 division, 4 multiplications
    rows, d = 6, 4
    hand = {"mults": rows * d * 2, "adds": rows * (d - 1) + rows, "transc": rows, "cmps": rows, "divs": rows}
    cost = run(nn.Embedding(10, d, max_norm=0.5), torch.tensor([[1, 2, 3], [4, 5, 6]])).total.cost
    assert counts(cost) == hand
    # the same terms for F.embedding's embedding_renorm_ op (its weight copied to be put back)
    f = Fn(lambda i: F.embedding(i, w, max_norm=0.5))
    w = nn.Parameter(torch.randn(10, d))
    f.w = w
    report = run(f, torch.tensor([[1, 2, 3], [4, 5, 6]]), copy_params=True)
    assert report.complete and counts(report.total.cost) == hand
    # p = 1: absolute values and powers instead of squares; a 3-row table caps the rows at 3
    cost = run(nn.Embedding(3, d, max_norm=0.5, norm_type=1.0), torch.tensor([0, 1, 2, 0, 1])).total.cost
    assert counts(cost) == {"cmps": 3 * d + 3, "transc": 3 * d + 3, "adds": 3 * (d - 1) + 3, "divs": 3,
                            "mults": 3 * d}


def test_margin_losses():
    x, y = torch.randn(3, 8), torch.tensor([1, 2, 3])
    # soft margin: per element a negation, a product, an exp, a log1p; the mean: 23 adds + 1 div
    assert ops_of(lambda a: F.soft_margin_loss(a, torch.ones(3, 8)), x) == {"mults": 48, "transc": 48, "adds": 23,
                                                                           "divs": 1}
    # multi margin (p = 1): per sample and other class 3 additions and a comparison; per sample a
    # division by C; the mean over 3 samples: 2 adds + 1 div
    assert ops_of(lambda a: F.multi_margin_loss(a, y), x) == {"adds": 3 * 3 * 7 + 2, "cmps": 3 * 7, "divs": 3 + 1}
    # p = 2 squares each term; a class weight multiplies it
    assert ops_of(lambda a: F.multi_margin_loss(a, y, p=2, weight=torch.ones(8), reduction="sum"), x) == \
        {"adds": 3 * 3 * 7 + 2, "cmps": 3 * 7, "mults": 2 * 3 * 7, "divs": 3}


def test_antialiased_interpolation_counts_the_samples_under_its_filter():
    x = torch.randn(6, 3, 10, 20)  # 18 planes
    # 0.5× bilinear: the triangle filter stretched to ±2 samples. Width 20 → 10: output i is
    # centred at 2i + 1 and weighs samples from int(2i − 0.5) to int(2i + 3.5), clipped to the row:
    # 3 + 8·4 + 3 = 38 taps per row, over 18·10 rows; then height 10 → 5: 3 + 3·4 + 3 = 18 taps
    # per column, over 18·10 columns (the width already halved)
    aa = ops_of(lambda t: F.interpolate(t, scale_factor=0.5, mode="bilinear", antialias=True), x)
    assert aa == {"mults": 180 * 38 + 180 * 18, "adds": 180 * (38 - 10) + 180 * (18 - 5)}
    # 20 → 3 (scale 20/3, support ±6.67): 10 + 14 + 10 taps; 10 → 3: 5 + 6 + 5
    assert ops_of(lambda t: F.interpolate(t, size=(3, 3), mode="bilinear", antialias=True), x)["mults"] == \
        18 * 10 * 34 + 18 * 3 * 16
    # only the width changes: one pass
    assert ops_of(lambda t: F.interpolate(t, size=(10, 10), mode="bilinear", antialias=True), x)["mults"] == \
        18 * 10 * 38
    # upsampling 3 → 37 (scale 3/37 < 1: the filter is not stretched, ±1 sample): output i, centred at
    # c = (i + 0.5)·3/37 in float32, weighs samples int(c − 0.5) … int(c + 1.5) − 1, clipped to [0, 3):
    # outputs 0–5 (c < 0.5) and 31–36 (c > 2.5) one sample, output 18 three — its c = 18.5·3/37 = 1.5
    # rounds to 1.4999999 in float32, so int(c − 0.5) = 0 while int(c + 1.5) = 3 (sample 2, at distance
    # 1.0000001, has weight 0 and is multiplied all the same) —, the other 24 two: 6 + 6 + 3 + 48 = 63
    # multiplications, one more than the kernel's non-zero weights
    up = ops_of(lambda t: F.interpolate(t, size=(1, 37), mode="bilinear", antialias=True), torch.randn(1, 1, 1, 3))
    weights = F.interpolate(torch.eye(3).view(1, 1, 3, 3), size=(3, 37), mode="bilinear", antialias=True)
    assert up == {"mults": 63, "adds": 63 - 37} and int((weights != 0).sum()) == 62


@pytest.mark.parametrize("n_in, n_out, mode, align, scale", [
    (20, 3, "bilinear", False, None), (37, 8, "bicubic", False, None), (9, 4, "bilinear", False, None),
    (16, 5, "bicubic", False, None),
    # align_corners: the scale is (n_in − 1)/(n_out − 1) (19/2, 8/3), not n_in/n_out
    (20, 3, "bilinear", True, None), (9, 4, "bicubic", True, None),
    # align_corners to one output: the scale is 0 (no (n_in − 1)/0), the filter unstretched
    (9, 1, "bilinear", True, None),
    # upsampling (scale < 1): the filter is not stretched, ±1 (bilinear) or ±2 (bicubic) samples
    (4, 9, "bilinear", False, None), (5, 16, "bicubic", False, None), (4, 9, "bilinear", True, None),
    # a scale factor given (not recomputed): the scale is 1/0.37 = 2.70, not 10/3 (n_out = ⌊10·0.37⌋)
    (10, 3, "bilinear", False, 0.37), (10, 3, "bicubic", False, 0.37),
])
def test_antialiased_taps_against_the_kernel_weights(n_in, n_out, mode, align, scale):
    # the kernel's weight matrix, read off by resampling the rows of an identity: its non-zero
    # weights are the samples each output weighs (the rule counts these, from the shapes alone)
    size = dict(scale_factor=(1.0, scale)) if scale else dict(size=(n_in, n_out))
    weights = F.interpolate(torch.eye(n_in).view(1, 1, n_in, n_in), mode=mode, align_corners=align,
                            antialias=True, **size)
    assert weights.shape[-1] == n_out
    nonzero = int((weights != 0).sum())
    size = dict(scale_factor=(1.0, scale)) if scale else dict(size=(1, n_out))
    counted = ops_of(lambda t: F.interpolate(t, mode=mode, align_corners=align, antialias=True, **size),
                     torch.randn(1, 1, 1, n_in))
    assert counted["mults"] == nonzero


# ---- found by an OpInfo sweep (every sample of torch's op database, 2026-12-02) -------------------
P = torch.rand(2, 5) * 0.8 + 0.1  # 10 elements in (0.1, 0.9)


@pytest.mark.parametrize("name, fn, expected", [
    ("hypot", lambda t: torch.hypot(t, t), {"mults": 20, "adds": 10, "transc": 10}),        # √(a² + b²)
    ("aminmax", lambda t: torch.aminmax(t), {"cmps": 2 * 9}),                              # two reductions of 10
    ("aminmax dim", lambda t: torch.aminmax(t, dim=1), {"cmps": 2 * 2 * 4}),
    ("frac", lambda t: torch.frac(t), {"cmps": 10, "adds": 10}),                           # x − trunc(x)
    ("nan_to_num", lambda t: torch.nan_to_num(t), {"cmps": 30, "assigns": 10}),
    ("logit", lambda t: torch.logit(t), {"adds": 10, "divs": 10, "transc": 10}),           # log(x / (1 − x))
    ("logit eps", lambda t: torch.logit(t, eps=1e-6), {"adds": 10, "divs": 10, "transc": 10, "cmps": 20,
                                                       "assigns": 10}),
    ("round decimals", lambda t: torch.round(t, decimals=2), {"mults": 10, "cmps": 10, "divs": 10}),
    ("xlogy", lambda t: torch.xlogy(t, t), {"mults": 10, "transc": 10}),
    ("entr", lambda t: torch.special.entr(t), {"cmps": 10, "mults": 20, "transc": 10}),
    ("bessel_j0", lambda t: torch.special.bessel_j0(t), {"transc": 10}),
    ("igamma", lambda t: torch.igamma(t, t), {"transc": 10}),
    ("copysign", lambda t: torch.copysign(t, -t), {"mults": 10, "cmps": 10, "assigns": 10}),  # (−t: 10 mults)
    ("deg2rad", lambda t: torch.deg2rad(t), {"mults": 10}),
    ("ldexp", lambda t: torch.ldexp(t, torch.ones(2, 5, dtype=torch.int32)), {"mults": 10, "transc": 10}),
    ("nextafter", lambda t: torch.nextafter(t, t + 1), {"adds": 20, "cmps": 10}),
    # F.pdist of 4 rows of 5: 6 pairs, each 5 differences, 5 squares, 4 additions, a root
    ("pdist", lambda t: F.pdist(torch.cat([t, t])), {"adds": 6 * 9, "mults": 30, "transc": 6}),
    # a binary search per value over b boundaries: ⌈log2(b + 1)⌉ comparisons, 10 values; b = 8: 4, 7: 3,
    # 1: 1, and none without boundaries (every value in bucket 0)
    ("bucketize", lambda t: torch.bucketize(t, torch.linspace(-1, 1, 8)).float(), {"cmps": 40}),
    ("bucketize-7", lambda t: torch.bucketize(t, torch.linspace(-1, 1, 7)).float(), {"cmps": 30}),
    ("bucketize-1", lambda t: torch.bucketize(t, torch.zeros(1)).float(), {"cmps": 10}),
    ("bucketize-0", lambda t: torch.bucketize(t, torch.zeros(0)).float(), {}),
    ("searchsorted", lambda t: torch.searchsorted(torch.linspace(-1, 1, 8).expand(2, 8).contiguous(), t).float(),
     {"cmps": 40}),
    # p = 1: absolute values (comparisons) for the squares, no root
    ("pdist-1", lambda t: F.pdist(torch.cat([t, t]), p=1), {"adds": 6 * 9, "cmps": 30}),
    # torch.dist: the 2-norm of a − b over 10 elements
    ("dist", lambda t: torch.dist(t, 2 * t), {"mults": 10 + 10, "adds": 10 + 9, "transc": 1}),
    ("allclose", lambda t: torch.tensor(torch.allclose(t, t)), {"cmps": 10 + 9}),
    # mode of each row of 5: a sort (5·⌈log2 5⌉ = 15) and 4 neighbour comparisons, 2 rows
    ("mode", lambda t: torch.mode(t, 1).values, {"cmps": 2 * (15 + 4)}),
    # mode of lines of one element: nothing to sort nor compare
    ("mode-1", lambda t: torch.mode(t.reshape(10, 1), 1).values, {}),
    # integer ops: a shift per element (as the other bitwise ops, 1 cmp); bincount adds each value
    ("shift", lambda t: torch.bitwise_left_shift((t * 10).long(), 1).float(), {"mults": 10, "cmps": 10}),
    ("bincount", lambda t: torch.bincount((t * 10).long().flatten()).float(), {"mults": 10, "adds": 10}),
    # histogram of 10 values in 4 equal bins over the data's range: the histc terms
    ("histogram", lambda t: torch.histogram(t, 4).hist, {"cmps": 40, "adds": 20, "mults": 10}),
    # with 5 edges as a tensor: a binary search (⌈log2 5⌉ = 3 cmps) and a count per value;
    # density: the 4 bins summed (3 adds) and divided (4 divs)
    ("histogram edges", lambda t: torch.histogram(t, torch.linspace(0, 1, 5), density=True).hist,
     {"cmps": 30, "adds": 10 + 3, "divs": 4}),
    ("logspace", lambda t: t + torch.logspace(0, 1, 5, dtype=t.dtype).sum(), {"transc": 5, "adds": 4 + 10}),
])
def test_ops_an_opinfo_sweep_found_miscounted(name, fn, expected):
    assert ops_of(fn, P) == expected, name


def test_view_copies_conjugate_and_legacy_linalg():
    x = torch.randn(4, 4)
    for fn in (lambda t: torch.rot90(t), lambda t: torch.complex(t, t), lambda t: torch.ops.aten.diagonal_copy(t),
               lambda t: torch.ops.aten.t_copy(t)):
        cost = cost_of(fn, x)
        assert cost.is_zero() and cost.bytes_written > 0
    # the conjugate of a complex tensor materialised: one negation per element
    z = torch.randn(4, 4, dtype=torch.complex64)
    assert ops_of(lambda t: torch.ops.aten._conj_physical(t), z) == {"mults": 16}
    # legacy cholesky and triangular_solve cost what their linalg forms cost
    spd = x @ x.T + 4 * torch.eye(4)
    assert ops_of(lambda t: torch.cholesky(t), spd) == ops_of(lambda t: torch.linalg.cholesky(t), spd)
    u, b = torch.triu(spd), torch.randn(4, 2)
    assert ops_of(lambda t: torch.triangular_solve(b, t).solution, u) == \
        ops_of(lambda t: torch.linalg.solve_triangular(t, b, upper=True), u)


@pytest.mark.parametrize("fn, args", [
    (lambda x, w: torch.einsum("nd,de->ne", x, w), ((2, 4), (4, 3))),
    (lambda x, w: F.conv2d(x, w, padding=1), ((1, 2, 6, 6), (5, 2, 3, 3))),
    (lambda x, w: F.conv1d(x, w), ((1, 2, 9), (4, 2, 3))),
    (lambda x, w: F.layer_norm(x, (6,)) * w.sum(), ((3, 6), (1,))),
    (lambda x, w: F.group_norm(x, 2) + w, ((2, 4, 5), (1,))),
    (lambda x, w: F.instance_norm(x) + w, ((2, 3, 5), (1,))),
    (lambda x, w: F.batch_norm(x, torch.zeros(3), torch.ones(3)) + w, ((2, 3, 5), (1,))),
    (lambda x, w: torch.matmul(x, w), ((2, 3, 4), (4, 5))),
    # composite ops with a rule on their name, which inference_mode handed that rule whole: msort
    # sorts along dim 0 (the rule read the last dim), isfinite and isclose are run as their parts
    (lambda x, w: torch.msort(x) * w, ((4, 6), (1,))),
    (lambda x, w: torch.isfinite(x) * w, ((4, 6), (1,))),
    (lambda x, w: torch.isclose(x, w) * w, ((4, 6), (1,))),
])
def test_inference_mode_counts_what_autograd_mode_counts(fn, args):
    """Under torch.inference_mode composite ops (einsum, conv2d, the functional norms) reach the op
    recorder whole, where autograd breaks them up first: they were uncounted (0 MACs, coverage
    partial). They are now counted from their parts, as in grad mode, and as flop_counter counts them."""
    xs = [torch.randn(*shape) for shape in args]
    expected = run(Fn(fn), *xs)
    with FlopCounterMode(display=False) as counter:  # (in grad mode: torch 2.2's counts 0 in inference mode)
        fn(*xs)
    with torch.inference_mode():
        report = run(Fn(fn), *xs)
    assert report.complete, report.uncounted
    assert report.total.cost == expected.total.cost  # every category, bytes included
    assert report.total.ops("2mac") == counter.get_total_flops()


@pytest.mark.parametrize("mode", ["enable_grad", "no_grad", "inference_mode"])
def test_routing_by_one_argument_where_is_a_look_up_in_every_grad_mode(mode):
    """A top-2 MoE router picks each expert's tokens with torch.where(idx == e): the one-argument
    where is nonzero, no arithmetic. Under inference_mode it reached the recorder whole as
    aten.where, whose rule (the three-argument selection) gave it one assignment per token found;
    the comparisons idx == e (N·k per expert) are the only operations."""
    N, k, E = 16, 2, 4
    idx = torch.randn(N, E).topk(k, -1).indices
    routed = Fn(lambda idx: [torch.where(idx == e) for e in range(E)])
    with getattr(torch, mode)():
        report = run(routed, idx)
    assert report.complete, report.uncounted
    assert counts(report.total.cost) == {"cmps": E * N * k}


@pytest.mark.parametrize("fn", [
    lambda x: x.transpose(0, 1).contiguous(), lambda x: x.transpose(0, 1).reshape(-1),
    lambda x: x.transpose(0, 1).flatten(), lambda x: F.pad(x[None], (1, 1), mode="circular"),
])
def test_inference_mode_counts_the_copies_of_composite_zero_ops(fn):
    """contiguous/reshape/flatten of a transposed tensor copy it (3·5 floats read and written);
    under inference_mode they arrived whole and were priced as the views they may be: 0 bytes."""
    x = torch.randn(3, 5)
    expected = run(Fn(fn), x)
    with torch.inference_mode():
        report = run(Fn(fn), x)
    assert report.total.cost == expected.total.cost and report.total.cost.bytes_written >= 15 * 4


class _Kept(nn.Module):
    """Runs ``fn`` and keeps its output (to compare with what the same call returns unprofiled)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        self.out = self.fn(*xs)
        return self.out


@pytest.mark.parametrize("fn", [torch.fft.hfft, torch.fft.hfft2])
def test_inference_mode_runs_a_composite_op_on_a_conjugate_view_as_pytorch_does(fn):
    """fft.hfft is a composite op that conjugates its input (a conjugate view) and runs a c2r transform
    on it; the view is materialised first (a clone). Under inference_mode the recorder runs the composite
    itself, and ran its parts with the dispatcher's conjugate-view handling off: the transform read the
    view as if it were not one, so the model's output changed under the profile (by up to ~13 on a
    5×7 input) and the clone's bytes were missing. Now the output is the unprofiled one, and every
    count, bytes included, is grad mode's."""
    z = torch.randn(5, 7, dtype=torch.complex64)
    with torch.inference_mode():
        expected_out = fn(z)
    model = _Kept(fn)
    with torch.no_grad():
        expected = run(model, z)
    with torch.inference_mode():
        report = run(model, z)
    assert torch.equal(model.out, expected_out)
    assert report.total.cost == expected.total.cost
    # the clone of the conjugate view: 5×7 complex64 read and written once, in both modes
    assert report.total.cost.bytes_written >= 5 * 7 * 8


def test_inference_mode_autocasts_the_parts_of_a_composite_op_as_pytorch_does():
    """einsum has no autocast kernel of its own on the CPU: natively its parts are autocast (the bmm runs
    in bfloat16). Under inference_mode the recorder runs the composite itself, and ran its parts with
    autocast off: the bmm ran in float32 (the model's output changed dtype under the profile) and
    its casts were missing. Bytes by hand: a (2,3,4) and b (2,4,5) read as float32 and written as
    bfloat16, then the bmm reads both in bfloat16 and writes 2×3×5 bfloat16."""
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    model = _Kept(lambda a, b: torch.einsum("bij,bjk->bik", a, b))
    reports = {}
    for mode in ("no_grad", "inference_mode"):
        with getattr(torch, mode)(), torch.autocast("cpu", dtype=torch.bfloat16):
            reports[mode] = run(model, a, b)
        assert model.out.dtype == torch.bfloat16, mode
    cost = reports["inference_mode"].total.cost
    assert cost == reports["no_grad"].total.cost
    assert cost.macs == 2 * 3 * 4 * 5
    assert (cost.bytes_read, cost.bytes_written) == ((24 + 40) * (4 + 2), (24 + 40 + 30) * 2)


@pytest.mark.skipif(not hasattr(F, "rms_norm"), reason="F.rms_norm: torch >= 2.4")
@pytest.mark.parametrize("weighted", [False, True])
def test_inference_mode_runs_rms_norm_on_the_cpu_as_its_parts(weighted):
    """F.rms_norm calls _fused_rms_norm, which has a kernel of its own on CUDA only: on the CPU its
    composite kernel runs (a square, a mean, eps, rsqrt, one or two products), in every mode. Under
    inference_mode the recorder priced it whole, as the one CUDA kernel: for a 3×4 input without
    weight, 48 bytes read and 60 written (the input, the output and the rows' rstd), where the parts
    that run read 180 and write 132."""
    x, w = torch.randn(3, 4), torch.randn(4)
    fn = (lambda x: F.rms_norm(x, (4,), w)) if weighted else (lambda x: F.rms_norm(x, (4,)))
    expected = run(Fn(fn), x)
    with torch.inference_mode():
        report = run(Fn(fn), x)
    assert report.total.cost == expected.total.cost
    # by hand, without weight: x² (48 B read, 48 written), mean (48, 12), + eps in place (12, 12),
    # rsqrt (12, 12), x × rsqrt (48 + 12, 48)
    if not weighted:
        assert (report.total.cost.bytes_read, report.total.cost.bytes_written) == (180, 132) or not TESTED_TORCH


# ---- empty inputs: every count ≥ 0, every worked line evaluates to its value ----------------------
_EMPTY_SHAPES = [(0,), (0, 3), (3, 0), (2, 0, 4)]
_LONG = torch.long


def _nll_ready(x):  # (rows, classes) with at least one class: nll/cross-entropy/multi-margin inputs
    return x.dim() == 2 and x.shape[1] > 0


#: (id, fn of the empty input x, whether to run the backward too); None skips a shape the op cannot take
_EMPTY_OPS = [
    ("sum", lambda x: x.sum(), True), ("sum-dim", lambda x: x.sum(-1), True), ("sum-0", lambda x: x.sum(0), True),
    ("nansum", lambda x: x.nansum(-1), False), ("mean", lambda x: x.mean(), True),
    ("mean-0", lambda x: x.mean(0), True), ("nanmean", lambda x: x.nanmean(-1), False),
    ("prod", lambda x: x.prod(), True), ("prod-dim", lambda x: x.prod(-1), True),
    ("amax-nonempty-dim", lambda x: x.amax(x.dim() - 1) if x.shape[-1] else None, True),
    ("all", lambda x: x.bool().all(), False), ("any-dim", lambda x: x.bool().any(-1), False),
    ("var", lambda x: x.var(), True), ("std-dim", lambda x: x.std(-1), True),
    ("var_mean", lambda x: torch.var_mean(x, -1)[0], True), ("std_mean", lambda x: torch.std_mean(x)[0], True),
    ("vector_norm", lambda x: torch.linalg.vector_norm(x), True),
    ("vector_norm-dim", lambda x: torch.linalg.vector_norm(x, dim=-1), True),
    ("vector_norm-1", lambda x: torch.linalg.vector_norm(x, 1, dim=-1), True),
    ("vector_norm-0", lambda x: torch.linalg.vector_norm(x, 0), False),
    ("vector_norm-3", lambda x: torch.linalg.vector_norm(x, 3), True),
    ("vector_norm-complex", lambda x: torch.linalg.vector_norm(torch.complex(x, x), dim=-1), False),
    ("norm", lambda x: torch.norm(x), True), ("norm-p1", lambda x: x.norm(1), True),
    ("normalize", lambda x: F.normalize(x, dim=-1), True),
    ("_foreach_norm", lambda x: torch._foreach_norm([x, x])[0], False),
    ("_foreach_norm-1", lambda x: torch._foreach_norm([x], 1)[0], False),
    ("cumsum", lambda x: x.cumsum(-1), True), ("cumsum-0", lambda x: x.cumsum(0), True),
    ("cumprod", lambda x: x.cumprod(-1), True), ("logcumsumexp", lambda x: x.logcumsumexp(-1), True),
    ("softmax", lambda x: x.softmax(-1), True), ("softmax-0", lambda x: x.softmax(0), True),
    ("log_softmax", lambda x: x.log_softmax(-1), True),
    ("logsumexp", lambda x: x.logsumexp(-1), True), ("logsumexp-0", lambda x: x.logsumexp(0), True),
    ("layer_norm", lambda x: F.layer_norm(x, x.shape[-1:]), True),
    ("layer_norm-affine", lambda x: F.layer_norm(x, x.shape[-1:], torch.ones(x.shape[-1:], requires_grad=True),
                                                 torch.zeros(x.shape[-1:], requires_grad=True)), True),
    ("group_norm", lambda x: F.group_norm(x, 1) if x.dim() >= 2 else None, True),
    ("group_norm-affine", lambda x: F.group_norm(x, 1, torch.ones(x.shape[1], requires_grad=True),
                                                 torch.zeros(x.shape[1], requires_grad=True)) if x.dim() >= 2 else None,
     True),
    ("batch_norm-train", lambda x: F.batch_norm(x, None, None, training=True) if x.dim() >= 2 and x.shape[1] else None,
     False),
    ("batch_norm-eval", lambda x: F.batch_norm(x, torch.zeros(x.shape[1]), torch.ones(x.shape[1]))
     if x.dim() >= 2 else None, True),
    ("rms_norm", lambda x: F.rms_norm(x, x.shape[-1:]) if hasattr(F, "rms_norm") else None, True),  # torch ≥ 2.4
    ("topk-0", lambda x: x.topk(0, -1)[0], True), ("sort", lambda x: x.sort(-1)[0], True),
    ("sort-0", lambda x: x.sort(0)[0], True), ("argsort", lambda x: x.argsort(-1), False),
    ("unique", lambda x: torch.unique(x), False), ("unique_consecutive", lambda x: torch.unique_consecutive(x), False),
    ("trace", lambda x: x.trace() if x.dim() == 2 else None, False),
    ("renorm", lambda x: x.renorm(2, 0, 1.0) if x.dim() >= 2 else None, True),
    ("count_nonzero", lambda x: torch.count_nonzero(x, -1), False),
    ("allclose", lambda x: torch.tensor(torch.allclose(x, x)), False),
    ("mse_loss", lambda x: F.mse_loss(x, x.detach()), True),
    ("mse_loss-sum", lambda x: F.mse_loss(x, x.detach(), reduction="sum"), True),
    ("l1_loss", lambda x: F.l1_loss(x, x.detach()), True), ("huber_loss", lambda x: F.huber_loss(x, x.detach()), True),
    ("smooth_l1_loss", lambda x: F.smooth_l1_loss(x, x.detach()), True),
    ("binary_cross_entropy", lambda x: F.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid()), True),
    ("bce_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, x.detach(),
                                                                     pos_weight=torch.ones(x.shape[-1:])), True),
    ("soft_margin_loss", lambda x: F.soft_margin_loss(x, x.detach()), True),
    ("nll_loss", lambda x: F.nll_loss(x, torch.zeros(x.shape[0], dtype=_LONG), weight=torch.ones(x.shape[1]))
     if _nll_ready(x) else None, True),
    ("cross_entropy", lambda x: F.cross_entropy(x, torch.zeros(x.shape[0], dtype=_LONG), label_smoothing=0.1)
     if _nll_ready(x) else None, True),
    ("multi_margin_loss", lambda x: F.multi_margin_loss(x, torch.zeros(x.shape[0], dtype=_LONG))
     if _nll_ready(x) else None, True),
    ("embedding_bag-empty-bags", lambda x: F.embedding_bag(torch.zeros(0, dtype=_LONG), torch.randn(5, 3),
                                                           torch.zeros(2, dtype=_LONG), mode="mean") + x.sum(), True),
    ("embedding_bag-max", lambda x: F.embedding_bag(torch.zeros(0, dtype=_LONG), torch.randn(5, 3),
                                                    torch.zeros(2, dtype=_LONG), mode="max") + x.sum(), False),
    ("segment_reduce-sum", lambda x: torch.segment_reduce(x, "sum", lengths=torch.zeros(2, dtype=_LONG))
     if x.shape[0] == 0 else None, True),
    ("segment_reduce-max", lambda x: torch.segment_reduce(x, "max", lengths=torch.zeros(2, dtype=_LONG))
     if x.shape[0] == 0 else None, False),
]


@pytest.mark.parametrize("fn, backward", [pytest.param(fn, bw, id=name) for name, fn, bw in _EMPTY_OPS])
def test_empty_inputs_count_nothing_negative_and_their_worked_lines_evaluate(fn, backward):
    """An op on an empty input, (0,), (0, 3), (3, 0) or (2, 0, 4) (and its backward where it has
    one): every term ≥ 0 (the kernel reduces nothing: an output is the reduction's identity, not
    −outputs operations), every worked line evaluates to its value, the total in every category ≥ 0."""
    from test_worked_terms import evaluate

    ran = absent = 0
    for shape in _EMPTY_SHAPES:
        x = torch.rand(shape, requires_grad=backward)
        try:  # shapes torch itself rejects (a max over an empty dim, …) are not this test's business
            out = fn(x)
        except (RuntimeError, IndexError, ValueError):
            continue
        if out is None:  # (an op this torch lacks: F.rms_norm before 2.4)
            absent += 1
            continue
        step = (lambda t: fn(t).sum().backward()) if backward else fn
        report = run(Fn(step), x)
        for row in (report.root, *report.layers):
            for term in row.terms:
                assert term.value >= 0, (shape, term)
                assert evaluate(term.substituted) == term.value, (shape, term)
        assert all(getattr(report.total.cost, c) >= 0 for c in OP_CATEGORIES), (shape, report.total.cost)
        ran += 1
    if absent == len(_EMPTY_SHAPES):
        pytest.skip(f"torch {torch.__version__} lacks this op")
    assert ran


@pytest.mark.parametrize("fn, make, op, words", [
    (torch.linalg.eigh, lambda: (lambda a: a @ a.T)(torch.randn(5, 5)), "aten._linalg_eigh", "iterative"),
    (torch.linalg.svdvals, lambda: torch.randn(5, 4), "aten._linalg_svd", "iterative"),
    (lambda a: torch.linalg.lstsq(a, a, driver="gelsd").solution, lambda: torch.randn(5, 5), "aten.linalg_lstsq",
     "the QR drivers (gels, gelsy) are counted"),
    (torch.linalg.matrix_exp, lambda: torch.randn(4, 4), "aten.linalg_matrix_exp", "norm"),
    (lambda a: torch.gcd(a, a + 1), lambda: torch.arange(6), "aten.gcd", "Euclid"),
    (lambda a: F.multilabel_margin_loss(a, torch.zeros(3, 4, dtype=torch.long)), lambda: torch.randn(3, 4),
     "aten.multilabel_margin_loss_forward", "targets' values"),
])
def test_an_op_whose_work_the_values_set_is_uncounted_with_a_note_saying_why(fn, make, op, words):
    """No formula, never a silent 0: listed in report.uncounted, and the notes say why there is none."""
    report = run(Fn(fn), make())
    assert [u.what.rsplit(".", 1)[0] for u in report.uncounted] == [op]
    note = [n for n in report.notes if n.startswith(f"{op} ×1 uncounted: ")]
    assert len(note) == 1 and words in note[0]


def test_lstsq_with_a_qr_driver_is_counted_and_says_nothing_of_the_svd_drivers():
    report = run(Fn(lambda a: torch.linalg.lstsq(a, a, driver="gels").solution), torch.randn(5, 5))
    assert report.complete and not [n for n in report.notes if "uncounted" in n]


@pytest.mark.parametrize("degree", [3, "tensor"])
def test_an_orthogonal_polynomial_is_uncounted_with_a_note(degree):
    n = torch.full((4,), 3.0) if degree == "tensor" else degree
    report = run(Fn(lambda x: torch.special.chebyshev_polynomial_t(x, n)), torch.randn(4))
    assert [u.what.rsplit(".", 1)[0] for u in report.uncounted] == ["aten.special_chebyshev_polynomial_t"]
    assert any(note.startswith("aten.special_chebyshev_polynomial_t ×1 uncounted: an orthogonal polynomial")
               for note in report.notes)


def test_topks_worked_line_writes_each_symbol():
    """k of n by a heap of k: n·⌈log2 k⌉ comparisons per line, at least n − 1. By hand, top-4 of 16 in 2
    lines: 2·max(15, 16·2) = 64; the line read "2×32", the max already taken."""
    report = run(Fn(lambda x: torch.topk(x, 4).values), torch.randn(2, 16))
    term = next(t for t in report.root.terms if t.category == "cmps")
    assert (term.formula, term.substituted, term.value) == ("lines·max(n − 1, n·⌈log2 k⌉)", "2×max(15, 16×2)", 64)
