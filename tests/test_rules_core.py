"""Closed-form tests for every module rule of issue 2 and the core behaviours around them.

Every expected number is written out from the layer's definition (output sizes from the
PyTorch docs' formulas, MACs = kernel weights × output positions, …) or taken from an
independent counter (torch.utils.flop_counter), never from torchcount's own output.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount import Cost, Term

from conftest import Fn, needs, run


def cost_of(module, *inputs, **kw) -> Cost:
    report = run(module, *inputs, **kw)
    assert report.complete, report.uncounted
    return report.total.cost


def counted(cost: Cost) -> dict:
    """The non-zero arithmetic categories of a cost."""
    return {c: getattr(cost, c) for c in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
            if getattr(cost, c)}


def flop_counter_flops(module, *inputs) -> int:
    with FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter.get_total_flops()


def nparams(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# Linear, Bilinear
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    m, x = nn.Linear(5, 3, bias=bias), torch.randn(2, 4, 5)  # 2·4 = 8 rows
    report = run(m, x)
    assert report.total.params == (5 + 1) * 3 if bias else 5 * 3
    assert counted(report.total.cost) == ({"macs": 8 * 5 * 3, "adds": 8 * 3} if bias else {"macs": 8 * 5 * 3})
    assert 2 * report.total.macs == flop_counter_flops(m, x)


def test_linear_unbatched_input():
    assert counted(cost_of(nn.Linear(4, 6), torch.randn(4))) == {"macs": 4 * 6, "adds": 6}


def test_linear_whose_bias_is_a_buffer_beside_a_parametrized_weight():
    # rules._util.stored reads a tensor that is no parameter (a buffer) as the module holds it,
    # with or without parametrizations on another tensor: 3 rows · 4 · 2 = 24 MACs, 3·2 bias adds
    from torch.nn.utils import parametrize

    class Scaled(nn.Module):
        def forward(self, w):
            return 2 * w

    m, x = nn.Linear(4, 2), torch.randn(3, 4)
    bias = m.bias.detach().clone()
    del m.bias
    m.register_buffer("bias", bias)
    assert counted(cost_of(m, x)) == {"macs": 24, "adds": 6}
    parametrize.register_parametrization(m, "weight", Scaled())  # 'bias' not among m.parametrizations
    assert counted(cost_of(m, x)) == {"macs": 24, "adds": 6, "mults": 8}  # + the parametrization's 2·w
    m.bias = None  # a buffer set to None: no bias to add
    assert counted(cost_of(m, x)) == {"macs": 24, "mults": 8}


def test_linear_with_a_tied_weight_of_another_shape():
    # Hugging Face ties Marian's lm_head (built with 3 outputs here) to a 7-row embedding and
    # leaves out_features = 3: F.linear multiplies the 7×5 weight, 2 rows · 5 · 7 MACs
    embedding, head = nn.Embedding(7, 5), nn.Linear(5, 3, bias=False)
    head.weight = embedding.weight
    x = torch.randn(2, 5)
    report = run(head, x)
    assert counted(report.total.cost) == {"macs": 2 * 5 * 7}
    assert 2 * report.total.macs == flop_counter_flops(head, x)


def test_bilinear():
    # y_k = x1ᵀ·A_k·x2 + b_k: x1ᵀ·A_k is n1·n2 MACs, then ·x2 is n2 more, per output feature and row
    m = nn.Bilinear(3, 5, 2)
    report = run(m, (torch.randn(4, 3), torch.randn(4, 5)))
    assert report.total.params == 3 * 5 * 2 + 2 == nparams(m)
    assert counted(report.total.cost) == {"macs": 4 * 2 * (3 * 5 + 5), "adds": 4 * 2}
    # without a bias: 3·5·2 parameters and no additions
    report = run(nn.Bilinear(3, 5, 2, bias=False), (torch.randn(4, 3), torch.randn(4, 5)))
    assert report.total.params == 3 * 5 * 2
    assert counted(report.total.cost) == {"macs": 4 * 2 * (3 * 5 + 5)}


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------
def conv_out(size, k, s, p, d):
    """torch.nn.Conv*d docs: ⌊(M + 2p − d·(k − 1) − 1)/s⌋ + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


CONV_CASES = [
    # dims, c_in, c_out, kernel, stride, padding, dilation, groups, bias, padding_mode, input spatial
    (1, 4, 6, 3, 1, 0, 1, 1, True, "zeros", (11,)),
    (1, 4, 6, 5, 2, 2, 2, 2, False, "reflect", (17,)),
    (1, 4, 8, 3, 1, "same", 3, 4, True, "zeros", (10,)),
    (1, 4, 8, 4, 1, "valid", 1, 1, True, "circular", (10,)),
    (2, 3, 6, 3, 2, 1, 1, 1, True, "zeros", (9, 8)),
    (2, 4, 4, 3, 1, 1, 1, 4, False, "zeros", (7, 7)),          # depthwise
    (2, 4, 6, (3, 5), (2, 1), (1, 2), (2, 1), 2, True, "replicate", (12, 9)),
    (2, 4, 6, 3, 1, "same", 2, 1, True, "reflect", (8, 8)),
    (2, 2, 3, (2, 4), 1, "same", 1, 1, False, "zeros", (6, 7)),  # even kernel: asymmetric 'same'
    (2, 4, 6, 3, 1, "valid", 1, 2, True, "zeros", (6, 6)),
    (3, 2, 4, 3, 1, 1, 1, 1, True, "zeros", (5, 6, 4)),
    (3, 4, 4, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 2, False, "circular", (3, 7, 7)),
    (3, 2, 2, 2, 1, "same", 2, 1, True, "zeros", (5, 5, 5)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}d-k{c[3]}-s{c[4]}-p{c[5]}-d{c[6]}-g{c[7]}-{c[9]}")
def test_conv(case):
    dims, c_in, c_out, k, s, p, d, g, bias, mode, spatial = case
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    m = cls(c_in, c_out, k, stride=s, padding=p, dilation=d, groups=g, bias=bias, padding_mode=mode)
    x = torch.randn(2, c_in, *spatial)
    report = run(m, x)
    ks = k if isinstance(k, tuple) else (k,) * dims
    ss = s if isinstance(s, tuple) else (s,) * dims
    ds = d if isinstance(d, tuple) else (d,) * dims
    if p == "same":
        out = spatial
    elif p == "valid":
        out = tuple(conv_out(M, kk, ss_, 0, dd) for M, kk, ss_, dd in zip(spatial, ks, ss, ds))
    else:
        ps = p if isinstance(p, tuple) else (p,) * dims
        out = tuple(conv_out(M, kk, ss_, pp, dd) for M, kk, ss_, pp, dd in zip(spatial, ks, ss, ps, ds))
    assert report.layers[0].output_shapes[0] == (2, c_out, *out)
    positions = 2 * math.prod(out)
    macs = positions * c_out * (c_in // g) * math.prod(ks)
    assert report.total.params == c_out * (c_in // g) * math.prod(ks) + (c_out if bias else 0) == nparams(m)
    assert counted(report.total.cost) == ({"macs": macs, "adds": positions * c_out} if bias else {"macs": macs})
    assert 2 * report.total.macs == flop_counter_flops(m, x)


def test_conv_unbatched_input():
    m = nn.Conv2d(3, 5, 3)
    assert counted(cost_of(m, torch.randn(3, 6, 6))) == {"macs": 5 * 3 * 9 * 4 * 4, "adds": 5 * 4 * 4}


def convt_out(size, k, s, p, op, d):
    """torch.nn.ConvTranspose*d docs: (M − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


CONVT_CASES = [
    # dims, c_in, c_out, kernel, stride, padding, output_padding, dilation, groups, bias, input spatial
    (1, 4, 6, 3, 1, 0, 0, 1, 1, True, (7,)),
    (1, 4, 6, 4, 2, 1, 1, 1, 2, False, (9,)),
    (2, 3, 6, 3, 2, 1, 1, 1, 1, True, (5, 4)),
    (2, 4, 4, (3, 2), (2, 3), (1, 0), (1, 2), (2, 1), 4, True, (4, 5)),
    (3, 2, 4, 3, 2, 1, 0, 1, 2, False, (3, 4, 2)),
    (3, 2, 2, 2, 1, 0, 0, 2, 1, True, (3, 3, 3)),
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: f"{c[0]}d-k{c[3]}-s{c[4]}-op{c[6]}-d{c[7]}-g{c[8]}")
def test_conv_transpose(case):
    dims, c_in, c_out, k, s, p, op, d, g, bias, spatial = case
    cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[dims]
    m = cls(c_in, c_out, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g, bias=bias)
    x = torch.randn(2, c_in, *spatial)
    report = run(m, x)
    t = lambda v: v if isinstance(v, tuple) else (v,) * dims  # noqa: E731
    out = tuple(convt_out(*a) for a in zip(spatial, t(k), t(s), t(p), t(op), t(d)))
    assert report.layers[0].output_shapes[0] == (2, c_out, *out)
    # each input element is scattered through (c_out/g)·∏kernel weights
    macs = 2 * math.prod(spatial) * c_in * (c_out // g) * math.prod(t(k))
    assert report.total.params == c_in * (c_out // g) * math.prod(t(k)) + (c_out if bias else 0) == nparams(m)
    expected = {"macs": macs, "adds": 2 * c_out * math.prod(out)} if bias else {"macs": macs}
    assert counted(report.total.cost) == expected
    assert 2 * report.total.macs == flop_counter_flops(m, x)



class _ConvTransposeToSize(nn.Module):
    """ConvTranspose2d called with ``output_size``: torch picks the output padding from it."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1)

    def forward(self, x):
        return self.up(x, output_size=[12, 11])


def test_conv_transpose_with_output_size_explains_the_padding_torch_chose():
    # (M − 1)·s − 2p + d·(w − 1) + 1 = (6 − 1)·2 − 2 + 2 + 1 = 11: output_size [12, 11] asks for an output
    # padding of 12 − 11 = 1 in height and 0 in width, which the worked lines must substitute (they wrote
    # the module's output_padding, 0, and a result of 12 that their arithmetic did not give)
    report = run(_ConvTransposeToSize(), torch.randn(1, 3, 6, 6))
    assert report.row("up").output_shapes[0] == (1, 5, 12, 11)
    text = report.explain("up")
    assert "(6 − 1)×2 − 2×1 + 1×(3 − 1) + 1 + 1 = 12" in text
    assert "(6 − 1)×2 − 2×1 + 1×(3 − 1) + 0 + 1 = 11" in text
    assert report.total.macs == 1 * 3 * 5 * 3 * 3 * 6 * 6  # N·c·(k/g)·∏kernel·∏input, unchanged

# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
def pool_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@pytest.mark.parametrize("dims,k,s,p,spatial", [
    (1, 3, 2, 1, (11,)), (2, 2, 2, 0, (8, 6)), (2, 3, 1, 1, (5, 5)), (3, 2, 2, 0, (4, 6, 4)),
])
def test_max_and_avg_pool(dims, k, s, p, spatial):
    x = torch.randn(2, 3, *spatial)
    out = tuple(pool_out(M, k, s, p) for M in spatial)
    n_out = 2 * 3 * math.prod(out)
    window = k ** dims
    mp = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims](k, s, p)
    ap = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[dims](k, s, p)
    report = run(mp, x)
    assert report.layers[0].output_shapes[0] == (2, 3, *out)
    assert counted(report.total.cost) == {"cmps": (window - 1) * n_out}
    assert counted(cost_of(ap, x)) == {"adds": (window - 1) * n_out, "divs": n_out}


def test_a_one_entry_kernel_size_tuple_is_every_dims():
    # torch takes kernel_size=(3,) for a 2-d pool as 3×3 (and stride as the kernel): 6×6 → 2×2 outputs per
    # plane, 2·2·2·2 = 16 outputs; max: 8 comparisons each, avg: 8 additions and a division
    x = torch.randn(2, 2, 6, 6)
    assert nn.MaxPool2d(kernel_size=(3,))(x).shape == (2, 2, 2, 2)
    assert counted(cost_of(nn.MaxPool2d(kernel_size=(3,)), x)) == {"cmps": 16 * 8}
    assert counted(cost_of(nn.AvgPool2d(kernel_size=(3,)), x)) == {"adds": 16 * 8, "divs": 16}
    # F.max_pool2d's op gets the one-entry list as given
    assert counted(cost_of(Fn(lambda t: torch.nn.functional.max_pool2d(t, (3,))), x)) == {"cmps": 16 * 8}


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_lp_pool(dims):
    cls = {1: nn.LPPool1d, 2: nn.LPPool2d, 3: getattr(nn, "LPPool3d", None)}[dims]
    if cls is None:
        pytest.skip("no LPPool3d in this torch")
    x = torch.rand(1, 2, *(4,) * dims)
    n_out = 2 * 2 ** dims  # kernel 2, stride 2: each spatial dim 4 → 2
    window = 2 ** dims
    # (Σ x²)^(1/2): one square per window element, window − 1 additions, one root per output
    assert counted(cost_of(cls(2, 2), x)) == {"mults": window * n_out, "adds": (window - 1) * n_out,
                                               "transc": n_out}
    # p = 3: x³ is two multiplications
    assert cost_of(cls(3, 2), x).mults == 2 * window * n_out
    # p = 1.5: a non-integer power is a transcendental op
    assert cost_of(cls(1.5, 2), x).transc == window * n_out + n_out


def test_adaptive_pool_windows_by_hand():
    # 7 → 3: windows [⌊i·7/3⌋, ⌈(i+1)·7/3⌉) = [0,3) [2,5) [4,7): 3 + 3 + 3 = 9 elements
    x = torch.randn(2, 4, 7, 7)
    planes, out = 2 * 4, 2 * 4 * 3 * 3
    assert counted(cost_of(nn.AdaptiveAvgPool2d(3), x)) == {"adds": planes * 9 * 9 - out, "divs": out}
    assert counted(cost_of(nn.AdaptiveMaxPool2d(3), x)) == {"cmps": planes * 9 * 9 - out}
    # 5 → 3 (1d): [0,2) [1,4) [3,5): 2 + 3 + 2 = 7
    assert counted(cost_of(nn.AdaptiveAvgPool1d(3), torch.randn(1, 2, 5))) == {"adds": 2 * 7 - 6, "divs": 6}
    # global pooling: H·W − 1 additions per plane, one division
    y = torch.randn(1, 3, 4, 5, 6)
    assert counted(cost_of(nn.AdaptiveAvgPool3d(1), y)) == {"adds": 3 * (4 * 5 * 6 - 1), "divs": 3}
    assert counted(cost_of(nn.AdaptiveMaxPool3d((2, 1, 3)), y)) == {"cmps": 3 * (4 * 5 * 6) - 3 * 6}
    assert counted(cost_of(nn.AdaptiveMaxPool1d(2), torch.randn(3, 6))) == {"cmps": 3 * 6 - 3 * 2}


def test_fractional_max_pool():
    x = torch.randn(1, 2, 9, 9)
    assert counted(cost_of(nn.FractionalMaxPool2d(2, output_size=4), x)) == {"cmps": 3 * 2 * 4 * 4}
    y = torch.randn(1, 1, 6, 6, 6)
    assert counted(cost_of(nn.FractionalMaxPool3d(2, output_size=3), y)) == {"cmps": 7 * 27}


# ---------------------------------------------------------------------------------------------
# Activations and softmax
# ---------------------------------------------------------------------------------------------
# per output element, written from each function's definition (see torch.nn docs):
ACTIVATIONS = [
    (nn.ReLU(), {"cmps": 1, "assigns": 1}),                                  # x > 0 ? x : 0
    (nn.ReLU6(), {"cmps": 2, "assigns": 1}),                                 # min(max(x, 0), 6)
    (nn.Hardtanh(), {"cmps": 2, "assigns": 1}),
    (nn.Threshold(0.1, 20.0), {"cmps": 1, "assigns": 1}),
    (nn.LeakyReLU(), {"cmps": 1, "mults": 1, "assigns": 1}),                 # x > 0 ? x : a·x
    (nn.PReLU(), {"cmps": 1, "mults": 1, "assigns": 1}),
    (nn.RReLU(), {"cmps": 1, "mults": 1, "assigns": 1}),
    (nn.ELU(), {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1}),  # a·(exp(x) − 1)
    (nn.CELU(), {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "divs": 1, "assigns": 1}),  # a·(exp(x/a) − 1)
    (nn.SELU(), {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1}),  # λ·α(eˣ − 1), λ·α one constant
    (nn.GELU(), {"transc": 1, "mults": 3, "adds": 1}),                       # 0.5·x·(1 + erf(x/√2))
    (nn.GELU(approximate="tanh"), {"transc": 1, "mults": 6, "adds": 2}),
    (nn.Sigmoid(), {"transc": 1, "adds": 1, "divs": 1}),                     # 1/(1 + exp(−x))
    (nn.SiLU(), {"transc": 1, "adds": 1, "divs": 1, "mults": 1}),            # x·sigmoid(x)
    (nn.Tanh(), {"transc": 1}),
    (nn.Mish(), {"transc": 3, "adds": 1, "mults": 1}),                       # x·tanh(log(1 + exp(x)))
    (nn.Hardswish(), {"adds": 1, "cmps": 2, "mults": 1, "divs": 1, "assigns": 1}),  # x·relu6(x + 3)/6
    (nn.Hardsigmoid(), {"adds": 1, "cmps": 2, "divs": 1, "assigns": 1}),
    # βx > threshold ? x : log(1 + exp(βx))/β: a comparison and an assignment, as ELU's
    (nn.Softplus(), {"mults": 1, "transc": 2, "adds": 1, "divs": 1, "cmps": 1, "assigns": 1}),
    (nn.Softsign(), {"cmps": 1, "assigns": 1, "adds": 1, "divs": 1}),        # x/(1 + |x|), |x| as abs
    (nn.Tanhshrink(), {"transc": 1, "adds": 1}),                             # x − tanh(x)
    (nn.Softshrink(), {"cmps": 2, "adds": 1, "assigns": 1}),
    (nn.Hardshrink(), {"cmps": 2, "assigns": 1}),
    (nn.LogSigmoid(), {"transc": 2, "adds": 1}),                             # −log(1 + exp(−x))
]


@pytest.mark.parametrize("module,per_element", ACTIVATIONS, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_activation_per_element(module, per_element):
    x = torch.randn(2, 3, 5)
    assert counted(cost_of(module, x)) == {c: k * 30 for c, k in per_element.items()}


class _SubSigmoid(nn.Sigmoid):
    pass


class _SubReLU6(nn.ReLU6):
    pass


def test_activation_subclass_keeping_forward_counts_like_its_base():
    # a subclass that keeps its base's forward is its base's recipe (per element, as above): sigmoid
    # 1 exp, 1 add, 1 div; relu6 2 comparisons, 1 assignment; 2·3·5 = 30 elements
    x = torch.randn(2, 3, 5)
    assert counted(cost_of(_SubSigmoid(), x)) == {"transc": 30, "adds": 30, "divs": 30}
    assert counted(cost_of(_SubReLU6(), x)) == {"cmps": 60, "assigns": 30}


def test_glu_counts_output_elements():
    # GLU halves dim −1: a·sigmoid(b) per output element (10 → 5)
    cost = cost_of(nn.GLU(), torch.randn(4, 10))
    assert counted(cost) == {"transc": 20, "adds": 20, "divs": 20, "mults": 20}


def test_every_activation_in_torch_nn_has_a_rule():
    missing = [name for name in nn.modules.activation.__all__
               if name != "MultiheadAttention"  # attention: issue 3
               and torchcount.rule_for(_instance(getattr(nn, name))) is None]
    assert missing == []


def _instance(cls):
    try:
        return cls()
    except TypeError:
        return cls(0.0, 0.0)  # Threshold


def test_relu_inplace_and_flops_convention():
    # flops: comparisons count, the conditional assignment is free; worksheet: both count
    x = torch.randn(1, 4, 4)
    assert run(nn.ReLU(inplace=True), x).total.flops == 16
    assert run(nn.ReLU(), x, convention="worksheet").total.flops == 32


def softmax_expected(rows, n, log=False):
    # max: n − 1 comparisons; x − max: n subtractions; n exps; sum: n − 1 additions;
    # then n divisions (softmax) or one log and n subtractions (log-softmax)
    if log:
        return {"cmps": rows * (n - 1), "adds": rows * n + rows * (n - 1) + rows * n, "transc": rows * n + rows}
    return {"cmps": rows * (n - 1), "adds": rows * n + rows * (n - 1), "transc": rows * n, "divs": rows * n}


def test_softmax_family():
    x = torch.randn(2, 3, 7)
    assert counted(cost_of(nn.Softmax(dim=-1), x)) == softmax_expected(6, 7)
    assert counted(cost_of(nn.Softmax(dim=1), x)) == softmax_expected(14, 3)
    assert counted(cost_of(nn.LogSoftmax(dim=2), x)) == softmax_expected(6, 7, log=True)
    softmin = softmax_expected(6, 7)
    softmin["mults"] = 42  # the negation
    assert counted(cost_of(nn.Softmin(dim=-1), x)) == softmin
    # Softmax2d: over the channel dim of a C×H×W or N×C×H×W input
    assert counted(cost_of(nn.Softmax2d(), torch.randn(2, 5, 3, 4))) == softmax_expected(2 * 12, 5)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("shape, rows, n", [((5,), 1, 5), ((2, 5), 2, 5), ((2, 3, 4), 12, 2), ((2, 3, 4, 5), 40, 3)])
def test_softmax_without_dim_takes_torchs_legacy_dim(shape, rows, n):
    # nn.Softmax() (dim=None) softmaxes dim 0 of a 0-, 1- or 3-d input and dim 1 otherwise (torch's
    # _get_softmax_dim): (5,) one row of 5; (2, 5) 2 rows of 5; (2, 3, 4) over the 2: 12 rows; (2, 3, 4, 5)
    # over the 3: 40 rows
    x = torch.randn(*shape)
    assert torch.equal(nn.Softmax()(x), torch.softmax(x, 0 if len(shape) in (1, 3) else 1))
    assert counted(cost_of(nn.Softmax(), x)) == softmax_expected(rows, n)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------
def stats(groups, n):
    """Batch statistics over `groups` groups of n elements, then × 1/σ per element:
    mean (n − 1 adds, 1 div), x − mean (n adds), variance (n squares, n − 1 adds, 1 div),
    + eps (1 add), rsqrt (1 transc), normalise (n mults)."""
    e = groups * n
    return {"adds": groups * (n - 1) + e + groups * (n - 1) + groups, "divs": 2 * groups,
            "mults": e + e, "transc": groups}


def plus(a, b):
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def affine(e):
    return {"mults": e, "adds": e}


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (4, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (2, 3, 4, 4)), (nn.BatchNorm3d, (2, 3, 2, 3, 2))])
def test_batch_norm_eval_and_train(cls, shape):
    m, x = cls(3), torch.randn(*shape)
    e, c = math.prod(shape), 3
    # eval: stored statistics — per channel eps-add and rsqrt, per element x − μ and × 1/σ, then γ·x + β
    assert counted(cost_of(m.eval(), x)) == plus({"adds": c + e, "transc": c, "mults": e}, affine(e))
    # train: batch statistics per channel over e/c elements, plus the running-stat updates
    # (mean and unbiased variance: r = (1 − m)·r + m·b → 5 multiplications and 2 additions per channel)
    expected = plus(plus(stats(c, e // c), affine(e)), {"mults": 5 * c, "adds": 2 * c})
    assert counted(cost_of(m.train(), x)) == expected
    # without affine and without running stats
    bare = cls(3, affine=False, track_running_stats=False).eval()
    assert counted(cost_of(bare, x)) == stats(c, e // c)


def test_batch_norm_of_one_channel():
    # one channel: the statistics over all 2·3·3 = 18 elements, the affine pair, one running-stat update
    expected = plus(plus(stats(1, 18), affine(18)), {"mults": 5, "adds": 2})
    assert counted(cost_of(nn.BatchNorm2d(1).train(), torch.randn(2, 1, 3, 3))) == expected


def test_batch_norm_train_mode_leaves_running_stats_unchanged():
    m = nn.BatchNorm2d(3).train()
    mean, var, nbt = m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()
    run(m, torch.randn(4, 3, 5, 5) * 7 + 3)
    assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)
    assert torch.equal(m.num_batches_tracked, nbt)
    assert m.training


def test_layer_norm():
    x = torch.randn(2, 5, 6)
    assert counted(cost_of(nn.LayerNorm(6), x)) == plus(stats(10, 6), affine(60))
    assert counted(cost_of(nn.LayerNorm((5, 6), elementwise_affine=False), x)) == stats(2, 30)
    assert counted(cost_of(nn.LayerNorm(6, bias=False), x)) == plus(stats(10, 6), {"mults": 60})


def test_group_norm():
    x = torch.randn(2, 6, 4, 4)
    assert counted(cost_of(nn.GroupNorm(3, 6), x)) == plus(stats(2 * 3, 2 * 16), affine(192))
    assert counted(cost_of(nn.GroupNorm(6, 6, affine=False), x)) == stats(12, 16)


def test_group_norm_explains_its_statistics_per_sample_and_group():
    # GroupNorm(3, 6) on 2×6×4×5: N·G = 2·3 = 6 statistics, each over n = (C/G)·H·W = 2·4·5 = 40 elements.
    # The lines called the 6 statistics "groups" (6×(40 − 1)) beside a layer of 3 groups: written N·G now
    report = run(nn.GroupNorm(3, 6), torch.randn(2, 6, 4, 5))
    text = report.explain(report.layers[0].path)
    assert "additions (mean) [adds, weight 1] = N·G·(n − 1) = 2×3×(40 − 1) = 234" in text
    assert "divisions (mean, variance) [divs, weight 1] = 2·N·G = 2×2×3 = 12" in text
    assert "eps additions [adds, weight 1] = N·G = 2×3 = 6" in text
    assert "groups·" not in text
    # and the other norms name what they normalise over: BatchNorm channels, LayerNorm rows
    bn = run(nn.BatchNorm1d(4).train(), torch.randn(3, 4, 5))
    assert "additions (mean) [adds, weight 1] = channels·(n − 1) = 4×(15 − 1) = 56" in bn.explain(bn.layers[0].path)
    ln = run(nn.LayerNorm(5), torch.randn(2, 3, 5))
    assert "eps additions [adds, weight 1] = rows = 6" in ln.explain(ln.layers[0].path)


@pytest.mark.parametrize("cls,shape", [(nn.InstanceNorm1d, (2, 3, 8)), (nn.InstanceNorm2d, (2, 3, 4, 5)),
                                       (nn.InstanceNorm3d, (1, 3, 2, 3, 4))])
def test_instance_norm(cls, shape):
    x, e = torch.randn(*shape), math.prod(shape)
    planes = shape[0] * 3
    assert counted(cost_of(cls(3), x)) == stats(planes, e // planes)
    assert counted(cost_of(cls(3, affine=True), x)) == plus(stats(planes, e // planes), affine(e))
    # with running statistics, in eval: the kernel normalises the (1, N·C, …) view with the statistics
    # repeated N times, an eps-add and an rsqrt per instance
    tracked = cls(3, track_running_stats=True).eval()
    assert counted(cost_of(tracked, x)) == {"adds": planes + e, "transc": planes, "mults": e}
    # in training: every instance's running copy is updated, then averaged over the batch into C channels
    batch = shape[0]
    update = {"mults": 5 * planes, "adds": 2 * planes + 2 * 3 * (batch - 1), "divs": 2 * 3}
    assert counted(cost_of(tracked.train(), x)) == plus(stats(planes, e // planes), update)


def test_local_response_norm():
    # b = a / (k + α·mean_window(a²))^β: per element a square, size − 1 window additions and a
    # division by size (F.local_response_norm's average pool), × α, + k, a power and a division
    x, e = torch.randn(2, 6, 3, 3), 108
    assert counted(cost_of(nn.LocalResponseNorm(5), x)) == {
        "mults": 2 * e, "adds": e * (5 - 1) + e, "transc": e, "divs": 2 * e}


@needs("nn.RMSNorm")
def test_rms_norm():
    # x / √(mean(x²) + eps) · γ over rows of n = 8
    x = torch.randn(3, 4, 8)
    rows, e = 12, 96
    base = {"mults": e + e, "adds": rows * 7 + rows, "divs": rows, "transc": rows}
    assert counted(cost_of(nn.RMSNorm(8), x)) == plus(base, {"mults": e})
    assert counted(cost_of(nn.RMSNorm(8, elementwise_affine=False), x)) == base



def test_norm_variants_by_hand_on_cpu_and_meta():
    """The configurations the tests above leave out, each from the docs' terms, and the same on meta."""
    import torch.nn.functional as F
    from conftest import Fn
    x, e = torch.randn(2, 3, 4, 4), 96

    def both(module, want):
        assert counted(cost_of(module, x)) == want
        assert counted(cost_of(module.to("meta"), torch.empty(x.shape, device="meta"))) == want

    update = {"mults": 5 * 3, "adds": 2 * 3}  # (1 − m)·r + m·batch for mean and unbiased variance
    # momentum=None (a cumulative average: m = 1/num_batches_tracked) updates as any momentum does;
    # on meta PyTorch's forward cannot read num_batches_tracked (float() of a tensor), so CPU only
    assert counted(cost_of(nn.BatchNorm2d(3, momentum=None).train(), x)) == \
        plus(plus(stats(3, 32), affine(e)), update)
    # SyncBatchNorm in eval (runs on CPU without a process group): BatchNorm's running-statistics terms
    both(nn.SyncBatchNorm(3).eval(), plus({"adds": 3 + e, "transc": 3, "mults": e}, affine(e)))
    # LayerNorm over the last two dims without its bias: 6 rows of 16, the scale only
    both(nn.LayerNorm((4, 4), bias=False), plus(stats(6, 16), {"mults": e}))
    # GroupNorm with one group (a LayerNorm over C·H·W) and with C groups (an InstanceNorm)
    both(nn.GroupNorm(1, 3), plus(stats(2, 48), affine(e)))
    both(nn.GroupNorm(3, 3, affine=False), stats(6, 16))
    # InstanceNorm with both: eval the running statistics per instance (N·C = 6), then γ, β
    both(nn.InstanceNorm2d(3, affine=True, track_running_stats=True).eval(),
         plus({"adds": 6 + e, "transc": 6, "mults": e}, affine(e)))
    # F.instance_norm, priced from its ops (batch_norm on the (1, N·C, 4, 4) view): InstanceNorm2d(3)'s count
    assert counted(cost_of(Fn(lambda t: F.instance_norm(t)), x)) == stats(6, 16)
    # F.normalize(p=2, dim=1): ‖x‖ over 3 channels at 32 positions (96 squares, 32·2 adds, 32 roots),
    # clamped to eps (1 cmp + 1 assignment each), then 96 divisions
    assert counted(cost_of(Fn(lambda t: F.normalize(t, dim=1)), x)) == {
        "mults": e, "adds": 64, "transc": 32, "cmps": 32, "assigns": 32, "divs": e}


@needs("nn.RMSNorm")
def test_rms_norm_over_two_dims_and_its_functional_on_cpu_and_meta():
    # x / √(mean(x²) + eps) · γ over the last two dims, eps given: 6 rows of 16, 96 elements
    import torch.nn.functional as F
    from conftest import Fn
    x, e = torch.randn(2, 3, 4, 4), 96
    want = {"mults": e + e + e, "adds": 6 * 15 + 6, "divs": 6, "transc": 6}
    m = nn.RMSNorm((4, 4), eps=1e-3)
    assert counted(cost_of(m, x)) == want
    assert counted(cost_of(m.to("meta"), torch.empty(x.shape, device="meta"))) == want
    w = torch.ones(4, 4)
    assert counted(cost_of(Fn(lambda t: F.rms_norm(t, (4, 4), w, 1e-3)), x)) == want

# ---------------------------------------------------------------------------------------------
# Dropout, data movement, embeddings, upsampling
# ---------------------------------------------------------------------------------------------
DROPOUTS = [(nn.Dropout(0.3), (2, 3, 4, 8)), (nn.Dropout1d(0.3), (3, 4, 16)), (nn.Dropout2d(0.3), (2, 3, 4, 8)),
            (nn.Dropout3d(0.3), (2, 3, 4, 4, 2)), (nn.AlphaDropout(0.3), (2, 3, 4, 8)),
            (nn.FeatureAlphaDropout(0.3), (2, 3, 4, 8))]  # 192 elements each


@pytest.mark.parametrize("module,shape", DROPOUTS, ids=lambda m: type(m).__name__ if isinstance(m, nn.Module) else "")
def test_dropout_family(module, shape):
    x = torch.randn(*shape)
    assert counted(cost_of(module.eval(), x)) == {}
    # train mode, as PyTorch's reference implementation (and F.dropout on CPU, op by op): a
    # keep/drop draw per noise element — per element, or per channel for Dropout1d/2d/3d and
    # FeatureAlphaDropout (N·C) — the noise scaled by 1/(1 − p), the input multiplied by it
    channel_wise = isinstance(module, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.FeatureAlphaDropout))
    noise = math.prod(shape[:-1] if isinstance(module, nn.Dropout1d) else shape[:2]) if channel_wise else 192
    if isinstance(module, (nn.AlphaDropout, nn.FeatureAlphaDropout)):  # an affine noise: a·(x·mask) + b
        expected = {"cmps": noise, "adds": 2 * noise + 192, "mults": 2 * noise + 192}
    else:
        expected = {"cmps": noise, "divs": noise, "mults": 192}
    assert counted(cost_of(module.train(), x)) == expected

    class Functional(nn.Module):  # the same call through F, priced from the ops it runs
        def forward(self, t):
            kind = {nn.Dropout1d: "dropout1d", nn.Dropout2d: "dropout2d", nn.Dropout3d: "dropout3d",
                    nn.AlphaDropout: "alpha_dropout", nn.FeatureAlphaDropout: "feature_alpha_dropout"}
            return getattr(nn.functional, kind.get(type(module), "dropout"))(t, 0.3, training=True)

    assert counted(cost_of(Functional(), x)) == expected


@pytest.mark.filterwarnings("ignore:dropout")
@pytest.mark.parametrize("module, shape, noise", [
    (nn.Dropout1d(0.3), (3, 16), 3),        # unbatched (C, L): a batch dim of 1 added, C draws
    (nn.Dropout2d(0.3), (3, 4, 5), 3 * 4),  # 3-d: taken as a batched 1-d input (N, C, L), N·C draws
    (nn.Dropout2d(0.3), (3, 4), 3 * 4),     # 2-d (N, C): a draw per element
    (nn.Dropout3d(0.3), (3, 4, 5, 2), 3),   # unbatched (C, D, H, W): C draws
    (nn.Dropout3d(0.3), (2, 3, 4), 2),      # 3-d: a batch dim of 1 added, (1, 2, 3, 4): 2 draws
])
def test_channel_dropout_of_other_input_dims_draws_as_torch_does(module, shape, noise):
    """F.dropout1d/3d add a batch dim of 1 to an input not of 3/5 dims, F.dropout2d adds none (a 3-d
    input is a batched 1-d one, pytorch#77081), then feature dropout draws once per (sample, channel) of
    what it got. The rule said C (the first dim) for Dropout2d on a 3-d input and 1 for a 2-d one and
    for Dropout3d on a 3-d one: 3, 1 and 1 above. The draws are seen in the masks too: positions that
    always drop together share one."""
    x = torch.ones(*shape)
    masks = torch.stack([module.train()(x).flatten() != 0 for _ in range(64)])
    assert len({tuple(c.tolist()) for c in masks.T}) == noise  # (two draws alike in 64 masks at p = 0.3: 0.58⁶⁴ ≈ 10⁻¹⁵)
    e = math.prod(shape)
    assert counted(cost_of(module.train(), x)) == {"cmps": noise, "divs": noise, "mults": e}
    assert counted(cost_of(Fn(lambda t: module(t)), x)) == {"cmps": noise, "divs": noise, "mults": e}
    assert counted(cost_of(nn.Dropout(0.0).train(), x)) == {}


@pytest.mark.parametrize("module,shape", DROPOUTS, ids=lambda m: type(m).__name__ if isinstance(m, nn.Module) else "")
def test_dropout_of_everything_or_of_nothing_draws_no_noise(module, shape):
    """At p = 1 torch's dropout (``_dropout_impl``, every kind) draws no mask: it multiplies the
    input by a zero, one multiplication per element (192 here; the output is all zeros); on an
    empty input it returns the input. The rule counted the draws, the 1/(1 − p) scaling and the
    affine noise of p < 1 for both. The functional call, priced from the ops torch runs
    (``aten.zeros`` and one ``aten.mul``), agrees."""
    module = type(module)(p=1.0).train()
    x = torch.randn(*shape)
    assert not module(x).any()
    assert counted(cost_of(module, x)) == {"mults": 192}
    assert counted(cost_of(Fn(lambda t: module(t)), x)) == {"mults": 192}
    empty = torch.randn(*shape[:2], 0, *shape[3:])  # (N, C, 0, …): N·C channels, no element
    assert counted(cost_of(type(module)(p=0.3).train(), empty)) == {}
    assert counted(cost_of(Fn(lambda t: module(t)), empty)) == {}


def test_lstm_dropout_of_everything_is_a_multiplication_by_zero_per_element():
    """nn.LSTM(dropout=1) in training: between layers torch calls ``at::dropout`` (p = 1: the layer
    output times a zero), so each of the L − 1 = 1 dropped outputs costs T·N·H = 7·2·8 = 112
    multiplications and no draws, on top of the eval-mode cost."""
    lstm = nn.LSTM(5, 8, num_layers=2, dropout=1.0)
    x = torch.randn(7, 2, 5)
    base = counted(cost_of(lstm.eval(), x))
    trained = counted(cost_of(lstm.train(), x))
    assert {k: trained[k] - base.get(k, 0) for k in trained if trained[k] != base.get(k, 0)} == {"mults": 112}


DATA_MOVEMENT = [
    (nn.Identity(), (2, 3, 4), (2, 3, 4)),
    (nn.Flatten(), (2, 3, 4), (2, 12)),
    (nn.Unflatten(1, (2, 6)), (2, 12), (2, 2, 6)),
    (nn.PixelShuffle(2), (1, 8, 3, 3), (1, 2, 6, 6)),
    (nn.PixelUnshuffle(2), (1, 2, 6, 6), (1, 8, 3, 3)),
    (nn.ChannelShuffle(2), (1, 4, 3, 3), (1, 4, 3, 3)),
    (nn.ZeroPad1d(2), (1, 2, 5), (1, 2, 9)),
    (nn.ZeroPad2d((1, 2, 0, 1)), (1, 2, 5, 5), (1, 2, 6, 8)),
    (nn.ZeroPad3d(1), (1, 1, 2, 2, 2), (1, 1, 4, 4, 4)),
    (nn.ConstantPad1d(1, 3.5), (1, 2, 5), (1, 2, 7)),
    (nn.ConstantPad2d(1, 3.5), (1, 2, 5, 5), (1, 2, 7, 7)),
    (nn.ConstantPad3d(1, 3.5), (1, 1, 2, 2, 2), (1, 1, 4, 4, 4)),
    (nn.ReflectionPad1d(2), (1, 2, 5), (1, 2, 9)),
    (nn.ReflectionPad2d(1), (1, 2, 5, 5), (1, 2, 7, 7)),
    (nn.ReflectionPad3d(1), (1, 1, 3, 3, 3), (1, 1, 5, 5, 5)),
    (nn.ReplicationPad1d(2), (1, 2, 5), (1, 2, 9)),
    (nn.ReplicationPad2d(1), (1, 2, 5, 5), (1, 2, 7, 7)),
    (nn.ReplicationPad3d(1), (1, 1, 3, 3, 3), (1, 1, 5, 5, 5)),
    (nn.CircularPad1d(2), (1, 2, 5), (1, 2, 9)),
    (nn.CircularPad2d(1), (1, 2, 5, 5), (1, 2, 7, 7)),
    (nn.CircularPad3d(1), (1, 1, 3, 3, 3), (1, 1, 5, 5, 5)),
]


@pytest.mark.parametrize("module,shape,out", DATA_MOVEMENT, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_data_movement_is_free_and_counted(module, shape, out):
    report = run(module, torch.randn(*shape))
    assert report.complete and report.layers[0].status == "rule"  # counted (as zero), not unknown
    assert report.layers[0].output_shapes[0] == out
    assert counted(report.total.cost) == {}
    assert report.total.flops == 0


def test_embedding():
    m = nn.Embedding(10, 4)
    report = run(m, torch.tensor([[1, 2, 3], [4, 5, 9]]))
    assert report.complete and report.total.params == 40
    assert counted(report.total.cost) == {}
    # a look-up reads only the rows it uses: 6 rows of 4 float32 plus the 6 int64 indices
    assert report.total.cost.bytes_read == 6 * 4 * 4 + 6 * 8
    assert report.total.cost.bytes_written == 6 * 4 * 4


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag(mode):
    m = nn.EmbeddingBag(10, 4, mode=mode)
    # 2 bags of 3 look-ups each: 2 reductions of 3 rows → (6 − 2)·4 pairwise ops
    report = run(m, torch.tensor([[1, 2, 3], [4, 5, 9]]))
    expected = {"cmps" if mode == "max" else "adds": (6 - 2) * 4}
    if mode == "mean":
        expected["divs"] = 2 * 4
    assert counted(report.total.cost) == expected
    # 1-D input with offsets: bags [0, 2) and [2, 7)
    offsets = run(m, (torch.tensor([1, 2, 3, 4, 5, 6, 7]), torch.tensor([0, 2])))
    assert counted(offsets.total.cost)["cmps" if mode == "max" else "adds"] == (7 - 2) * 4


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_functional_embedding_bag_costs_what_the_module_does(mode):
    # F.embedding_bag reaches dispatch as aten._embedding_bag(_forward_only): it was uncounted
    class Functional(nn.Module):
        def __init__(self, weight):
            super().__init__()
            self.weight = nn.Parameter(weight)

        def forward(self, indices, offsets=None, per_sample_weights=None):
            return nn.functional.embedding_bag(indices, self.weight, offsets, mode=mode,
                                               per_sample_weights=per_sample_weights)

    m = nn.EmbeddingBag(10, 4, mode=mode)
    f = Functional(m.weight.detach().clone())
    for inputs in [(torch.tensor([[1, 2, 3], [4, 5, 9]]),),
                   (torch.tensor([1, 2, 3, 4, 5, 6, 7]), torch.tensor([0, 2]))]:
        by_op, by_module = run(f, inputs), run(m, inputs)
        assert by_op.complete and by_op.total.cost.with_bytes(0, 0) == by_module.total.cost.with_bytes(0, 0)
    if mode == "sum":  # per-sample weights: one more mult per element looked up
        weighted = run(f, (torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1]), torch.rand(4)))
        assert counted(weighted.total.cost) == {"mults": 4 * 4, "adds": (4 - 2) * 4}


def test_embedding_bag_per_sample_weights():
    m = nn.EmbeddingBag(10, 4, mode="sum")
    report = run(m, (torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1]), torch.rand(4)))
    assert counted(report.total.cost) == {"mults": 4 * 4, "adds": (4 - 2) * 4}
    # regression: weights given positionally after offsets=None (2-D input) were missed
    two_d = run(m, (torch.tensor([[1, 2], [3, 4]]), None, torch.rand(2, 2)))
    assert counted(two_d.total.cost) == {"mults": 4 * 4, "adds": (4 - 2) * 4}
    as_kwarg = run(m, (torch.tensor([[1, 2], [3, 4]]),), kwargs={"per_sample_weights": torch.rand(2, 2)})
    assert counted(as_kwarg.total.cost) == {"mults": 4 * 4, "adds": (4 - 2) * 4}


@pytest.mark.parametrize("mode,shape,scale,mults,adds,steps", [
    ("nearest", (1, 2, 3, 3), 2, 0, 0, 0),
    ("nearest-exact", (1, 2, 3, 3), 2, 0, 0, 0),
    ("linear", (1, 2, 5), 2, 2, 1, 1),           # a·(1 − t) + b·t
    ("bilinear", (1, 2, 3, 3), 2, 6, 3, 3),      # two rows, then between them: 3 linear steps
    ("bicubic", (1, 2, 3, 3), 2, 20, 15, 5),     # 4 rows of 4 taps, then the 4 results: 5 four-tap sums
    ("trilinear", (1, 1, 2, 2, 2), 2, 14, 7, 7),  # 4 + 2 + 1 linear steps
])
def test_upsample(mode, shape, scale, mults, adds, steps):
    x = torch.randn(*shape)
    out = math.prod(shape) * scale ** (len(shape) - 2)
    report = run(nn.Upsample(scale_factor=scale, mode=mode), x)
    assert report.layers[0].output_shapes[0][2:] == tuple(s * scale for s in shape[2:])
    assert counted(report.total.cost) == ({"mults": mults * out, "adds": adds * out} if mults else {})
    # each line names the steps per output (the linear step, or bicubic's four-tap sum) it counts
    assert [t.what for t in report.layers[0].terms] == ([
        f"multiplications ({mode}: {steps} interpolation step{'s' if steps != 1 else ''})",
        f"additions ({mode}: {steps} interpolation step{'s' if steps != 1 else ''})"] if mults else [])
    assert counted(cost_of(nn.UpsamplingBilinear2d(scale_factor=2), torch.randn(1, 2, 3, 3))) == {
        "mults": 6 * 72, "adds": 3 * 72}
    assert counted(cost_of(nn.UpsamplingNearest2d(scale_factor=2), torch.randn(1, 2, 3, 3))) == {}


# ---------------------------------------------------------------------------------------------
# Lazy variants (materialised by the profiling pass itself)
# ---------------------------------------------------------------------------------------------
def test_lazy_linear_and_conv():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Lazy modules are a new feature" warnings
        lin = nn.LazyLinear(3)
        report = run(lin, torch.randn(2, 5))
        assert report.total.params == (5 + 1) * 3
        assert counted(report.total.cost) == {"macs": 2 * 5 * 3, "adds": 2 * 3}
        conv = nn.LazyConv2d(4, 3)
        report = run(conv, torch.randn(1, 2, 5, 5))
        assert report.total.params == 4 * 2 * 9 + 4
        assert counted(report.total.cost) == {"macs": 4 * 2 * 9 * 3 * 3, "adds": 4 * 3 * 3}
        convt = nn.LazyConvTranspose1d(4, 3)
        report = run(convt, torch.randn(1, 2, 5))
        assert counted(report.total.cost) == {"macs": 5 * 2 * 4 * 3, "adds": 4 * 7}
        bn = nn.LazyBatchNorm2d().eval()
        report = run(bn, torch.randn(2, 3, 2, 2))
        assert report.total.params == 6 and report.total.buffers == 3 + 3 + 1
        assert counted(report.total.cost) == plus({"adds": 3 + 24, "transc": 3, "mults": 24}, affine(24))
        inorm = nn.LazyInstanceNorm1d()  # lazy defaults: affine=True, track_running_stats=True
        # training with running stats, as the kernel runs it: the running copies of the 2·3 instances
        # updated (5·6 mults, 2·6 adds), then averaged per channel (2·3·(2 − 1) additions, 2·3 divisions)
        assert counted(run(inorm, torch.randn(2, 3, 4)).total.cost) == plus(
            plus(stats(6, 4), affine(24)), {"mults": 5 * 6, "adds": 2 * 6 + 2 * 3 * 1, "divs": 2 * 3})


# ---------------------------------------------------------------------------------------------
# Core behaviours: conventions, user rules, repeated calls, sharing, params, table, explain
# ---------------------------------------------------------------------------------------------
def _linear_relu():
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))


def test_conventions_are_views_of_one_breakdown():
    report = run(_linear_relu(), torch.randn(4, 10))
    macs = 4 * 10 * 20 + 4 * 20 * 5     # 1,200
    bias = 4 * 20 + 4 * 5              # 100 additions
    relu = 4 * 20                      # 80 comparisons, 80 assignments
    assert counted(report.total.cost) == {"macs": macs, "adds": bias, "cmps": relu, "assigns": relu}
    expected = {
        "flops": 2 * macs + bias + relu,       # assignments are free
        "macs": macs,
        "torchvision": macs,
        "worksheet": macs + bias + 2 * relu,
        "mults": macs,
        "2mac": 2 * macs,
    }
    assert set(expected) == set(torchcount.CONVENTIONS)
    for name, value in expected.items():
        view = report.with_convention(name)
        assert view.total.flops == value, name
        assert report.total.ops(name) == value and sum(r.ops(name) for r in report.layers) == value, name
        assert sum(r.flops for r in view.layers) == value, name
        assert run(_linear_relu(), torch.randn(4, 10), convention=name).total.flops == value, name
        assert f"{value:,}" in report.table(convention=name)
    assert report.total.flops == expected["flops"]  # with_convention made new views, not changes
    with pytest.raises(ValueError, match="unknown convention 'bogus'"):
        run(_linear_relu(), torch.randn(4, 10), convention="bogus")


def test_each_convention_weighs_every_category_as_documented():
    # one count per category, each a different power of ten, so that each weight reads as one digit: the
    # weights README.md's table gives (flops: 2 per MAC, 1 per other scalar op, assignments free; worksheet:
    # 1 per op of every kind; mults: MACs and multiplications; bytes weigh nothing)
    c = Cost(macs=1, mults=10, adds=100, divs=1_000, cmps=10_000, assigns=100_000, transc=1_000_000,
             bytes_read=3, bytes_written=5)
    expected = {"flops": 1_011_112, "macs": 1, "torchvision": 1, "worksheet": 1_111_111, "mults": 11, "2mac": 2}
    assert set(expected) == set(torchcount.CONVENTIONS)
    for name, value in expected.items():
        assert torchcount.CONVENTIONS[name].ops(c) == value, name


def test_a_convention_of_your_own_is_checked_when_built():
    report = run(_linear_relu(), torch.randn(4, 10))
    macs, bias = 1_200, 100  # as in test_conventions_are_views_of_one_breakdown
    weights = {"macs": 2, "adds": 1}  # a category left out weighs 0: no comparisons
    mine = torchcount.Convention("mine", "FLOPs", "2 per MAC and the bias adds", weights)
    weights["cmps"] = 1  # the convention keeps what it was given
    assert report.total.ops(mine) == 2 * macs + bias == 2_500
    assert report.with_convention(mine).to_dict()["total"]["ops"] == 2_500
    # a misspelt category, a Cost attribute that is not an operation category, a weight that is not
    # a count multiplier: named when the convention is built (they failed later, obscurely, or were
    # weighed silently: {"ops": 1} gave every category weight 1, {"macs": "2"} built a 1,200-char string)
    for bad, match in [({"mac": 2}, "unknown category 'mac'.*macs, mults"),
                       ({"ops": 1}, "unknown category 'ops'"),
                       ({"bytes_read": 1}, "unknown category 'bytes_read'"),
                       ({"macs": "2"}, "weight of 'macs' must be an int"),
                       ({"macs": 1.5}, "weight of 'macs' must be an int"),
                       ({"macs": -1}, "weight of 'macs' must be an int ≥ 0")]:
        with pytest.raises(ValueError, match=match):
            torchcount.Convention("bad", "ops", "", bad)


def test_a_convention_is_hashable_and_its_weights_fixed():
    """Convention was a frozen dataclass holding a dict: hash(conv) raised TypeError, so a convention
    could not be a dict key or in a set; and its checked weights could still be changed in place."""
    import copy
    import pickle

    a = torchcount.Convention("mine", "FLOPs", "2 per MAC and the bias adds", {"macs": 2, "adds": 1})
    b = torchcount.Convention("mine", "FLOPs", "2 per MAC and the bias adds", {"adds": 1, "macs": 2})
    assert a == b and hash(a) == hash(b)  # equal weights in another order: equal, one hash
    assert {a: "x"}[b] == "x" and len({a, b}) == 1
    assert a != torchcount.Convention("mine", "FLOPs", "2 per MAC and the bias adds", {"macs": 2})
    builtins = set(torchcount.CONVENTIONS.values())
    assert len(builtins) == len(torchcount.CONVENTIONS)  # 'macs' and 'torchvision' differ by name
    assert torchcount.get_convention("macs") in builtins
    # the weights are read-only: what was checked when the convention was built stays so
    for change in (lambda w: w.__setitem__("mac", 2), lambda w: w.update(macs=5), lambda w: w.pop("adds"),
                   lambda w: w.clear(), lambda w: w.setdefault("cmps", 1)):
        with pytest.raises(TypeError, match="weights cannot be changed"):
            change(a.weights)
    assert a.weights == {"macs": 2, "adds": 1} and isinstance(a.weights, dict)
    for twin in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a), dataclasses.replace(a)):
        assert twin == a and hash(twin) == hash(a)
    with pytest.raises(TypeError, match="unit must be a str"):
        torchcount.Convention("mine", ["FLOPs"], "", {"macs": 1})
    report = run(_linear_relu(), torch.randn(4, 10))
    assert report.total.ops(a) == 2 * 1_200 + 100  # as in test_a_convention_of_your_own_is_checked_when_built
    assert report.to_dict(convention=a)["convention"]["weights"] == {"macs": 2, "adds": 1}


class Doubler(nn.Module):
    """A user module with no built-in rule: its own children would be priced otherwise."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)

    def forward(self, x):
        return self.inner(x) * 2


def test_user_registered_module_rule():
    @torchcount.module_rule(Doubler)
    def doubler(module, call):
        n = call.out.numel
        return Cost.of(Term("macs", "user MACs", "9·rows", f"9×{n // 3}", 9 * (n // 3)),
                       Term("mults", "doublings", "elements", f"{n}", n))

    report = run(nn.Sequential(Doubler(), nn.ReLU()), torch.randn(4, 3))
    assert counted(report.total.cost) == {"macs": 36, "mults": 12, "cmps": 12, "assigns": 12}
    row = report.row("0")
    assert row.status == "rule" and row.rule.endswith("doubler")
    assert report.row("0.inner").status == "covered"  # inside the user's rule: not counted twice
    assert report.row("0").params == 12


def test_user_rule_with_worked_terms_explains_them():
    """A user rule may give its substituted lines as worked(...) templates or bare numbers;
    explain() writes them out exactly as the equivalent strings would read."""
    class Scaler(nn.Module):
        def forward(self, x):
            return x * 3

    @torchcount.module_rule(Scaler)
    def scaler(module, call):
        rows, n = call.input.shape
        return Cost.of(Term("mults", "scalings", "rows·n", torchcount.worked("{}×{}", rows, n), rows * n),
                       Term("shape", "output size", "(rows, n)", torchcount.worked("{}", call.out.shape), rows))

    report = run(nn.Sequential(Scaler()), torch.randn(5, 7))
    text = report.explain("0")
    assert "scalings [mults, weight 1] = rows·n = 5×7 = 35" in text
    assert "output size = (rows, n) = 5×7 = 5" in text  # a shape tuple is written as a product
    assert report.to_dict()["layers"][0]["terms"][0]["substituted"] == "5×7"


class CallsTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        for _ in range(3):
            x = self.fc(x)
        return x


def test_module_called_n_times_is_one_row():
    report = run(CallsTwice(), torch.randn(2, 6))
    fc = report.row("fc")
    assert [r.path for r in report.layers] == ["fc"]
    assert fc.calls == 3
    assert counted(fc.cost) == {"macs": 3 * 2 * 6 * 6, "adds": 3 * 2 * 6}
    assert fc.params == report.total.params == 6 * 6 + 6


def test_shared_parameter_counted_once():
    a, b = nn.Linear(8, 8), nn.Linear(8, 8)
    b.weight = a.weight  # tied weights, separate biases
    report = run(nn.Sequential(a, b), torch.randn(1, 8))
    assert report.total.params == 64 + 8 + 8
    assert report.row("0").params == report.row("1").params == 72
    assert report.total.macs == 2 * 64
    shared = [n for n in report.notes if n.startswith("parameters shared between modules")]
    assert len(shared) == 1 and "weight" in shared[0]
    # untied, the same two layers get no such note (a negated test wrote it, listing nothing, for any model)
    untied = run(nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8)), torch.randn(1, 8))
    assert untied.total.params == 2 * 72
    assert not any(n.startswith("parameters shared between modules") for n in untied.notes)


def test_a_parameter_registered_twice_in_one_module_is_its_own_once():
    # one 4-element tensor under two names of the same module (and no other tensor there: the walk
    # dedupes within a module only where it holds several): the module's row holds 4 parameters, not 8
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.ones(4))
            self.b = self.a

        def forward(self, x):
            return x * self.a

    report = run(nn.Sequential(Twice(), nn.Linear(4, 2)), torch.randn(1, 4))
    row = report.row("0")
    assert row.params == row.self_params == 4 and report.total.params == 4 + 4 * 2 + 2
    assert row.cost.bytes_read == 4 * (4 + 4)  # x and the tensor once, float32


def test_trainable_frozen_and_buffers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(2, 2))
    for p in model[0].parameters():
        p.requires_grad_(False)
    report = run(model, torch.randn(1, 3, 4, 4))
    conv, bn, lin = 4 * 3 * 9 + 4, 4 + 4, 2 * 2 + 2
    assert (report.total.params, report.total.trainable_params, report.total.frozen_params) == (
        conv + bn + lin, bn + lin, conv)
    assert report.total.buffers == 4 + 4 + 1  # running mean, running var, num_batches_tracked
    assert report.total.param_bytes == 4 * (conv + bn + lin)
    assert not model[0].weight.requires_grad  # left as found
    assert f"{conv:,} frozen" in str(report)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x)) + x  # the residual add is the block's own op


def _nested():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Sequential(Block(), Block()), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 3))


def _column(text: str, header: str) -> list[int]:
    """The integer cells of one column of a tab-separated table, above its totals row."""
    rows = [[cell.strip() for cell in line.split("\t")] for line in text.splitlines() if "\t" in line]
    j = rows[0].index(header)
    values = []
    for cells in rows[1:]:
        if cells[0] == "total":
            break
        values.append(int(cells[j].replace(",", "")))
    return values


@pytest.mark.parametrize("depth", [None, 1, 2, 3])
def test_depth_limited_table_columns_sum_to_the_total(depth):
    report = run(_nested(), torch.randn(1, 3, 5, 5))
    text = report.table(depth=depth, columns=["module", "params", "MACs", "ops"], tablefmt="tsv")
    ops_header = f"{report.convention.unit} [{report.convention.name}]"
    assert sum(_column(text, "params")) == report.total.params
    assert sum(_column(text, "MACs")) == report.total.macs == 25 * 4 * 3 * 9 + 2 * 4 * 4 * 9 * 25 + 100 * 3
    assert sum(_column(text, ops_header)) == report.total.flops
    assert len(_column(text, "params")) >= 1


def test_units_and_thousands_separators():
    report = run(nn.Linear(2000, 1500), torch.randn(500, 2000))
    grouped = report.table()
    assert "3,001,500" in grouped and "1,500,000,000" in grouped  # params, MACs
    human = report.table(units=True)
    assert "3.00 M" in human and "1.50 G" in human and "3.00 G" in human  # flops 2·1.5e9 + 750,000
    assert "1,500,000,000" not in human


def test_activation_column():
    report = run(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), torch.randn(1, 1, 6, 6))
    assert [r.activation for r in report.layers] == [2 * 4 * 4, 2 * 2 * 2]
    text = report.table(columns=["module", "output", "activation"])
    assert "activation" in text and "32" in text


def test_explain_conv_worked_solution():
    model = nn.Sequential(nn.Conv2d(3, 64, 11, stride=4, padding=2))
    text = run(model, torch.randn(1, 3, 227, 227), convention="worksheet").explain("0")
    assert "params = ((c/g)·∏kernel + 1)·k = ((3×11×11) + 1)×64 = 23,296" in text
    assert "⌊(227 − 11 + 2×2)/4⌋ + 1 = 56" in text
    assert "72,855,552 + 200,704 = 73,056,256" in text
    with pytest.raises(KeyError, match="no module 'nope'"):
        run(model, torch.randn(1, 3, 227, 227)).explain("nope")


def _mixed():
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.GELU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 3 * 3, 10), nn.LayerNorm(10), nn.Softmax(-1)).eval()


def test_meta_tensors_give_the_same_numbers():
    real = run(_mixed(), torch.randn(2, 3, 13, 13))
    with torch.device("meta"):
        model = _mixed()
    meta = run(model, torch.empty(2, 3, 13, 13, device="meta"))
    assert [(r.path, r.params, r.output_shapes, counted(r.cost)) for r in meta.layers] == \
        [(r.path, r.params, r.output_shapes, counted(r.cost)) for r in real.layers]
    assert meta.total.cost == real.total.cost and meta.total.params == real.total.params


# an op nobody has a formula for (torch.library.Library rather than custom_op: torch 2.2 has it too)
_MYSTERY = torch.library.Library("torchcount_tests", "DEF")
_MYSTERY.define("mystery(Tensor x) -> Tensor")
_MYSTERY.impl("mystery", lambda x: x.clone(), "CompositeExplicitAutograd")
_MYSTERY.impl("mystery", lambda x: torch.empty_like(x), "Meta")


# two more, priced by rules a test registers as a user would: by the op, and by its qualified name
for _name in ("tripled", "halved"):
    _MYSTERY.define(f"{_name}(Tensor x) -> Tensor")
    _MYSTERY.impl(_name, lambda x: x.clone(), "CompositeExplicitAutograd")


class Mystery(nn.Module):
    """A leaf module with no rule that runs an op nobody has a formula for."""

    def forward(self, x):
        return torch.ops.torchcount_tests.mystery(x)


def test_uncounted_op_is_listed_and_warned_once():
    model = nn.Sequential(nn.Linear(4, 4), Mystery(), Mystery())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = torchcount.profile(model, torch.randn(2, 4))
    uncounted_warnings = [w for w in caught if issubclass(w.category, torchcount.UncountedWarning)]
    assert len(uncounted_warnings) == 1
    assert "torchcount_tests.mystery" in str(uncounted_warnings[0].message)
    assert {(u.path, u.what, u.calls) for u in report.uncounted} == {
        ("1", "torchcount_tests.mystery.default", 1), ("2", "torchcount_tests.mystery.default", 1)}
    assert not report.complete
    assert report.row("1").status == "partial"
    assert "†" in str(report)
    assert report.total.macs == 2 * 4 * 4  # what is known is still counted


def test_a_users_op_rules_registered_by_the_op_and_by_its_qualified_name_price_it():
    ops = torch.ops.torchcount_tests

    @torchcount.op_rule(ops.tripled)
    def tripled(op):
        n = op.inputs[0].numel
        return Cost.of(Term("mults", "x·3", "elements", n, n))

    @torchcount.op_rule("torchcount_tests::halved")
    def halved(op):
        n = op.inputs[0].numel
        return Cost.of(Term("divs", "x/2", "elements", n, n))

    # 2×4 elements, each tripled (1 mult) then halved (1 div)
    report = run(Fn(lambda x: ops.halved(ops.tripled(x))), torch.randn(2, 4))
    assert report.complete and counted(report.total.cost) == {"mults": 8, "divs": 8}


@pytest.mark.parametrize("module,size,line", [
    # regression: explain showed ⌊…⌋ arithmetic that did not give the output size shown
    (nn.MaxPool2d(3, 2, ceil_mode=True), 8, "⌈(8 − 3 + 2×0)/2⌉ + 1 = 4"),                 # ⌈2.5⌉ + 1
    (nn.MaxPool1d(3, 1, dilation=2), 9, "⌊(9 + 2×0 − 2×(3 − 1) − 1)/1⌋ + 1 = 5"),          # 4 + 1
    (nn.MaxPool1d(2, 2, padding=1, ceil_mode=True), 5, "⌈(5 − 2 + 2×1)/2⌉ + 1 − 1 = 3"),  # last window dropped
    (nn.AvgPool1d(4, 3), 11, "⌊(11 − 4 + 2×0)/3⌋ + 1 = 3"),
])
def test_pool_explain_output_size(module, size, line):
    x = torch.randn(1, 1, size) if "1d" in type(module).__name__ else torch.randn(1, 1, size, size)
    report = run(module, x)
    assert report.layers[0].output_shapes[0][-1] == int(line.rsplit("= ", 1)[1])  # torch agrees
    assert line in report.explain(report.layers[0].path)


def test_forward_error_names_the_module_path():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Conv2d(3, 2, 3)))
    with pytest.raises(torchcount.ForwardError, match=r"'1\.0' \(Conv2d\)"):
        run(model, torch.randn(2, 4))
    # every hook is gone, also after a failed forward
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    run(model[0], torch.randn(2, 4))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_explain_linear_worked_solution():
    text = run(nn.Sequential(nn.Linear(9216, 4096)), torch.randn(1, 9216), convention="worksheet").explain("0")
    assert "params = (n + 1)·k = (9216 + 1)×4096 = 37,752,832" in text
    assert "37,748,736 + 4,096 = 37,752,832" in text  # 9216·4096 MACs + 4096 bias adds


LAZY = [
    (nn.LazyLinear(3), nn.Linear(5, 3), (2, 5)),
    (nn.LazyConv1d(4, 3), nn.Conv1d(2, 4, 3), (1, 2, 7)),
    (nn.LazyConv2d(4, 3, stride=2), nn.Conv2d(2, 4, 3, stride=2), (1, 2, 7, 7)),
    (nn.LazyConv3d(4, 2), nn.Conv3d(2, 4, 2), (1, 2, 3, 3, 3)),
    (nn.LazyConvTranspose1d(4, 3), nn.ConvTranspose1d(2, 4, 3), (1, 2, 5)),
    (nn.LazyConvTranspose2d(4, 3, stride=2), nn.ConvTranspose2d(2, 4, 3, stride=2), (1, 2, 4, 4)),
    (nn.LazyConvTranspose3d(4, 2), nn.ConvTranspose3d(2, 4, 2), (1, 2, 2, 2, 2)),
    (nn.LazyBatchNorm1d(), nn.BatchNorm1d(3), (4, 3)),
    (nn.LazyBatchNorm2d(), nn.BatchNorm2d(3), (2, 3, 2, 2)),
    (nn.LazyBatchNorm3d(), nn.BatchNorm3d(3), (2, 3, 2, 2, 2)),
    (nn.LazyInstanceNorm1d(), nn.InstanceNorm1d(3, affine=True, track_running_stats=True), (2, 3, 4)),
    (nn.LazyInstanceNorm2d(), nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4)),
    (nn.LazyInstanceNorm3d(), nn.InstanceNorm3d(3, affine=True, track_running_stats=True), (2, 3, 2, 2, 2)),
]


@pytest.mark.parametrize("lazy,eager,shape", LAZY, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "")
def test_every_lazy_module_counts_like_its_materialised_form(lazy, eager, shape):
    # the lazy module is profiled before it has any parameter shapes; the eager twin (whose rule
    # is checked in closed form above) gives the figures it must end up with
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = torch.randn(*shape)
        got, want = run(lazy, x), run(eager, x)
    assert got.total.params == want.total.params == nparams(eager) > 0
    assert got.total.cost == want.total.cost and not got.total.cost.is_zero()
    assert got.layers[0].output_shapes == want.layers[0].output_shapes


# ---------------------------------------------------------------------------------------------
# Regressions: pooling subclasses, empty embedding bags, Upsample(mode="area")
# ---------------------------------------------------------------------------------------------
class _SubMax2d(nn.MaxPool2d):
    pass


class Pool3d(nn.MaxPool2d):  # a misleading digit in the name: the dims come from the base class
    pass


class _SubAvg3d(nn.AvgPool3d):
    pass


class _SubLP1d(nn.LPPool1d):
    pass


class _SubAdaptiveAvg2d(nn.AdaptiveAvgPool2d):
    pass


class _SubAdaptiveMax1d(nn.AdaptiveMaxPool1d):
    pass


def test_pool_subclass_keeping_forward_counts_like_its_base():
    x = torch.randn(1, 2, 8, 8)
    # kernel 3×3, stride 1: 8 → 6 per dim, 2·6·6 outputs of (9 − 1) comparisons each
    assert counted(cost_of(_SubMax2d(3, stride=1), x)) == {"cmps": (9 - 1) * 2 * 6 * 6}
    assert counted(cost_of(Pool3d(3, stride=1), x)) == {"cmps": (9 - 1) * 2 * 6 * 6}
    # 2×2×2 windows on 4×4×4: 8 outputs of (8 − 1) additions and one division
    assert counted(cost_of(_SubAvg3d(2), torch.randn(1, 1, 4, 4, 4))) == {"adds": 7 * 8, "divs": 8}
    # p = 2, kernel 2 on length 6: 2·3 outputs of 2 squares, 1 addition, 1 root
    assert counted(cost_of(_SubLP1d(2, 2), torch.rand(1, 2, 6))) == {"mults": 2 * 6, "adds": 6, "transc": 6}
    # 8×8 → 2×2: each output averages a 4×4 window: 2·4 outputs of 15 additions and a division
    assert counted(cost_of(_SubAdaptiveAvg2d(2), x)) == {"adds": 2 * 4 * 15, "divs": 2 * 4}
    # 6 → 2: windows of 3: 2 comparisons per output, 2·2 outputs
    assert counted(cost_of(_SubAdaptiveMax1d(2), torch.randn(1, 2, 6))) == {"cmps": 2 * 2 * 2}


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_with_empty_bags_is_never_negative(mode):
    m = nn.EmbeddingBag(10, 4, mode=mode)
    # 4 bags over 2 look-ups ({1, 2}, {}, {}, {}): only shapes reach the rule, so it takes
    # min(bags, lookups) = 2 bags as non-empty: (2 − 2)·4 = 0 pairwise ops, never (2 − 4)·4 = −8
    report = run(m, (torch.tensor([1, 2]), torch.tensor([0, 2, 2, 2])))
    cost = report.total.cost
    assert cost.adds == 0 and cost.cmps == 0 and report.total.flops >= 0
    assert counted(cost) == ({"divs": 2 * 4} if mode == "mean" else {})  # a mean of at most 2 bags
    # 3 bags over 1 look-up ({3}, {}, {}): 0, not (1 − 3)·4
    one = run(m, (torch.tensor([3]), torch.tensor([0, 1, 1]))).total
    assert one.cost.adds == one.cost.cmps == 0 and one.flops >= 0
    # every bag non-empty ([0, 2), [2, 3), [3, 5)): still the exact (lookups − bags)·dim
    full = run(m, (torch.tensor([1, 2, 3, 4, 5]), torch.tensor([0, 2, 3]))).total.cost
    assert counted(full) == {"cmps" if mode == "max" else "adds": (5 - 3) * 4,
                             **({"divs": 3 * 4} if mode == "mean" else {})}


def test_upsample_area_is_adaptive_average_pooling():
    # 8×8 → 4×4: each of the 16 outputs averages a 2×2 window: 3 additions and 1 division
    report = run(nn.Upsample(size=(4, 4), mode="area"), torch.randn(1, 1, 8, 8))
    assert report.layers[0].output_shapes[0] == (1, 1, 4, 4)
    assert counted(report.total.cost) == {"adds": 3 * 16, "divs": 16}
    # 7 → 3 per dim: windows [0,3) [2,5) [4,7), 3 + 3 + 3 = 9 elements per dim: 2 planes of
    # 9·9 summed elements less 9 outputs, one division per output
    x = torch.randn(1, 2, 7, 7)
    assert counted(cost_of(nn.Upsample(size=3, mode="area"), x)) == {"adds": 2 * (81 - 9), "divs": 2 * 9}
    assert cost_of(nn.Upsample(size=3, mode="area"), x) == cost_of(nn.AdaptiveAvgPool2d(3), x)
    # 1-D, upsampling 3 → 6: each output "averages" a window of one element: no additions
    assert counted(cost_of(nn.Upsample(size=6, mode="area"), torch.randn(1, 2, 3))) == {"divs": 2 * 6}
    # 3-D, 4×4×4 → 2×2×2: 8 outputs each averaging a 2×2×2 window, 8·8 − 8 additions, 8 divisions
    assert counted(cost_of(nn.Upsample(size=2, mode="area"), torch.randn(1, 1, 4, 4, 4))) == {"adds": 56, "divs": 8}


def test_with_convention_keeps_the_root_one_row_when_it_works_itself():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return self.lin(x) + x  # the root's own work: a row of the table

    report = run(Residual(), torch.randn(2, 3))
    view = report.with_convention("macs")
    assert report.layers[0] is report.root
    assert view.layers[0] is view.root and view.root.convention.name == "macs"
    assert view.root.flops == view.total.flops == 2 * 3 * 3  # inclusive; its own add is no MAC


def test_explain_a_leaf_that_only_reshapes_is_not_called_a_container():
    class View(nn.Module):
        def forward(self, x):
            return x.view(-1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.view = nn.Linear(4, 4), View()

        def forward(self, x):
            return self.view(self.lin(x))

    report = run(Model(), torch.randn(1, 4))
    text = report.explain("view")
    assert "container" not in text and "no arithmetic" in text and "breakdown: none" in text
    assert "a container: its cost is the sum of its children" in report.explain("")


# ---- found by sweeping torch's module database (ModuleInfo), rule against ops (2026-12-02) -------
def test_functional_batch_norm_in_training_updates_its_running_statistics_as_the_module():
    # F.batch_norm(training=True) with running statistics updates them in place:
    # (1 − m)·r + m·mean and (1 − m)·r + m·var·n/(n − 1), 5C mults and 2C adds, as nn.BatchNorm's rule
    import torch.nn.functional as F
    from conftest import Fn
    x = torch.randn(4, 3, 2, 2)
    module = cost_of(nn.BatchNorm2d(3, affine=False).train(), x)
    f = Fn(lambda t: F.batch_norm(t, torch.zeros(3), torch.ones(3), training=True))
    functional = run(f, x).total.cost
    assert counted(functional) == counted(module) == plus(stats(3, 16), {"mults": 5 * 3, "adds": 2 * 3})
    # without running statistics nothing is updated
    g = Fn(lambda t: F.batch_norm(t, None, None, training=True))
    assert counted(run(g, x).total.cost) == stats(3, 16)


@pytest.mark.parametrize("module, shape", [
    (nn.BatchNorm1d(5).train(), (0, 5, 9)), (nn.BatchNorm1d(5).eval(), (0, 5)), (nn.GroupNorm(2, 4), (2, 4, 0)),
    (nn.LayerNorm(4), (0, 4)), (nn.InstanceNorm1d(3, track_running_stats=True).train(), (2, 3, 0)),
])
def test_normalising_an_empty_tensor_costs_nothing(module, shape):
    # an empty input: no statistic, no normalisation, no running update (PyTorch leaves them)
    cost = cost_of(module, torch.randn(*shape))
    assert counted(cost) == {}


def test_overlapping_lp_pool_raises_each_input_once():
    # LPPool2d(p = 2, kernel 3, stride 1) on 2×6×6: 2·4·4 = 32 outputs whose windows overlap; each
    # of the 72 inputs is squared once (not 9·32 = 288 times), 8 additions per window, a root each
    x = torch.randn(1, 2, 6, 6)
    assert counted(cost_of(nn.LPPool2d(2, 3, stride=1), x)) == {"mults": 72, "adds": 8 * 32, "transc": 32}
    # without overlap (stride = kernel) the windows hold 9·4·2 = 72 of the inputs: the same count
    assert counted(cost_of(nn.LPPool2d(2, 3), x))["mults"] == 9 * 8
    # with gaps (kernel 2, stride 3) only the inputs in a window: 4 per window, 2·2·2 windows
    assert counted(cost_of(nn.LPPool2d(2, 2, stride=3), x))["mults"] == 4 * 8


@pytest.mark.parametrize("pool, x, line", [
    # 7 → 3 rows: windows [0, 3), [2, 5), [4, 7); 10 → 5 columns of 2: 9 × 10 = 90
    (nn.AdaptiveAvgPool2d((3, 5)), torch.randn(1, 8, 7, 10), "(3 + 3 + 3)×(2 + 2 + 2 + 2 + 2) = 90"),
    # 23 → 10: ⌈(i+1)·2.3⌉ − ⌊i·2.3⌋ is 4 for i = 3 ([6, 10)) and i = 6 ([13, 17)), 3 for the other
    # eight (2×4 + 8×3 = 32); 9 → 1: one window of 9
    (nn.AdaptiveMaxPool2d((10, 1)), torch.randn(1, 2, 23, 9), "(2×4 + 8×3)×9 = 288"),
    (nn.AdaptiveAvgPool2d(1), torch.randn(1, 4, 7, 7), "7×7 = 49"),
])
def test_adaptive_pooling_writes_its_window_total_out(pool, x, line):
    """planes·Σwindow − outputs gave Σwindow (8×90 − 120) without showing where 90 came from."""
    text = torchcount.profile(pool, x).explain("")
    assert f"Σwindow = Π over dims of Σ windows = {line}" in text
