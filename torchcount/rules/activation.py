"""Rules for element-wise activations and softmax-like layers.

Each activation has a per-element recipe (how many comparisons, multiplications, … one
output element costs); ``PER_ELEMENT`` is the single table both the module rules here and
the op rules for the same functions use.
"""
from __future__ import annotations

import torch
from torch import nn

from ..cost import CATEGORY_NAMES, Cost, Term, worked
from .registry import module_rule

# category → count per element.  Why each recipe, briefly:
PER_ELEMENT: dict[str, dict[str, int]] = {
    "relu": {"cmps": 1, "assigns": 1},                       # x > 0 ? x : 0
    "relu6": {"cmps": 2, "assigns": 1},                      # clamp to [0, 6]
    "hardtanh": {"cmps": 2, "assigns": 1},
    "threshold": {"cmps": 1, "assigns": 1},
    "leaky_relu": {"cmps": 1, "mults": 1, "assigns": 1},     # x > 0 ? x : a·x
    "prelu": {"cmps": 1, "mults": 1, "assigns": 1},
    "rrelu": {"cmps": 1, "mults": 1, "assigns": 1},
    "elu": {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1},  # a·(exp(x) − 1)
    "celu": {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "divs": 1, "assigns": 1},  # a·(exp(x/a) − 1)
    "selu": {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1},  # elu with λ·α one constant
    "gelu": {"transc": 1, "mults": 3, "adds": 1},            # 0.5·x·(1 + erf(x·1/√2))
    "gelu_tanh": {"transc": 1, "mults": 6, "adds": 2},       # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    "sigmoid": {"transc": 1, "adds": 1, "divs": 1},          # 1 / (1 + exp(−x))
    "silu": {"transc": 1, "adds": 1, "divs": 1, "mults": 1},  # x·sigmoid(x)
    "tanh": {"transc": 1},
    "mish": {"transc": 3, "adds": 1, "mults": 1},            # x·tanh(log(1 + exp(x)))
    "hardswish": {"adds": 1, "cmps": 2, "mults": 1, "divs": 1, "assigns": 1},  # x·relu6(x + 3)/6
    "hardsigmoid": {"adds": 1, "cmps": 2, "divs": 1, "assigns": 1},            # relu6(x + 3)/6
    # βx > threshold ? x : log(1 + exp(βx))/β: the threshold's comparison selects a branch, an
    # assignment as in ReLU or ELU (and softplus_backward's selection)
    "softplus": {"mults": 1, "transc": 2, "adds": 1, "divs": 1, "cmps": 1, "assigns": 1},
    "softsign": {"cmps": 1, "assigns": 1, "adds": 1, "divs": 1},  # x / (1 + |x|), |x| as the abs op counts it
    "tanhshrink": {"transc": 1, "adds": 1},                  # x − tanh(x)
    "softshrink": {"cmps": 2, "adds": 1, "assigns": 1},
    "hardshrink": {"cmps": 2, "assigns": 1},
    "logsigmoid": {"transc": 2, "adds": 1},                  # −log(1 + exp(−x))
    "glu": {"transc": 1, "adds": 1, "divs": 1, "mults": 1},  # a·sigmoid(b), per output element
}

_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardtanh: "hardtanh", nn.Threshold: "threshold",
    nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.RReLU: "rrelu", nn.ELU: "elu",
    nn.CELU: "celu", nn.SELU: "selu", nn.Sigmoid: "sigmoid", nn.SiLU: "silu", nn.Tanh: "tanh",
    nn.Mish: "mish", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid",
    nn.Softplus: "softplus", nn.Softsign: "softsign", nn.Tanhshrink: "tanhshrink",
    nn.Softshrink: "softshrink", nn.Hardshrink: "hardshrink", nn.LogSigmoid: "logsigmoid",
    nn.GLU: "glu",
}


def per_element(recipe: str, n: int, what: str = "elements", shape: "tuple | None" = None) -> list[Term]:
    """Terms for ``n`` elements of the named recipe (one term per category); with ``shape`` (the
    tensor's, whose product is ``n``) the worked line writes it out, as a student checks it:
    ``elements = 1×64×56×56 = 200,704``."""
    lines = _RECIPE_LINES.get((recipe, what))
    if lines is None:  # the words depend on the recipe only: made once, not per call
        lines = _RECIPE_LINES[recipe, what] = [
            (cat, f"{CATEGORY_NAMES[cat]} ({recipe})", f"{k}·{what}" if k != 1 else what, k)
            for cat, k in PER_ELEMENT[recipe].items()]
    count = n if shape is None else shape  # (a tuple is written as its product)
    return [Term(cat, words, formula, worked("{}×{}", k, count) if k != 1 else
                 (n if shape is None else worked("{}", shape)), k * n)
            for cat, words, formula, k in lines]


_RECIPE_LINES: dict[tuple[str, str], list] = {}

#: dtypes of quantized tensors (an eager-mode int8 model's activations)
QUANTIZED_DTYPES = frozenset(getattr(torch, n) for n in ("quint8", "qint8", "qint32", "quint4x2", "quint2x4")
                             if hasattr(torch, n))
#: recipes whose quantized kernels clamp the integers themselves, against the quantized bounds (qrelu,
#: qrelu6, quantized clamp for hardtanh): the output keeps the input's scale, nothing is requantized
_ON_INTEGERS = frozenset({"relu", "relu6", "hardtanh"})


def requantization(recipe: str, out) -> list[Term]:
    """The requantization of an activation run on a quantized tensor: ATen's quantized kernels
    (qsigmoid, qhardsigmoid, qtanh, qhardswish, qelu, qleaky_relu, qgelu, …) dequantize each element,
    apply the float function and quantize the result to the output's scale: one multiplication per
    output element, as ``quantized::hardswish`` and the other quantized rules (rules/quantized.py) count
    it. Empty for a float tensor and for the recipes that clamp the integers (relu, relu6, hardtanh)."""
    if out.dtype not in QUANTIZED_DTYPES or recipe in _ON_INTEGERS:
        return []
    return [Term("mults", "requantization (quantized tensor)", "elements", out.numel, out.numel)]


@module_rule(*_MODULES)
def activation(m, call) -> Cost:
    out = call.out
    recipe = _MODULES[type(m)] if type(m) in _MODULES else _base_recipe(m)
    return Cost.of(*per_element(recipe, out.numel, shape=out.shape), *requantization(recipe, out))


def _base_recipe(m) -> str:
    for cls in type(m).__mro__:
        if cls in _MODULES:
            return _MODULES[cls]
    raise KeyError(type(m).__name__)


@module_rule(nn.GELU)
def gelu(m: nn.GELU, call) -> Cost:
    return Cost.of(*per_element("gelu_tanh" if m.approximate == "tanh" else "gelu", call.out.numel,
                                shape=call.out.shape), *requantization("gelu", call.out))


def softmax_terms(n_rows: int, n: int, log: bool = False, rows: "tuple[str, tuple] | None" = None,
                  n_name: str = "n") -> list[Term]:
    """Numerically stable softmax over rows of length n: max (n − 1 comparisons), x − max
    (n subtractions), n exps, a sum (n − 1 additions), then n divisions — or, for
    log-softmax, one log and n subtractions. ``rows`` = (formula, factors) and ``n_name`` write the
    lines in the caller's symbols (attention's N·H·L rows of S scores) rather than rows and n."""
    r, factors = rows if rows is not None else ("rows", (n_rows,))
    each = "×".join(["{}"] * len(factors))
    rows_n = worked(each + "×{}", *factors, n)  # shared by the terms of rows·n (written out only when shown)
    rows_n1 = worked(each + "×({} − 1)", *factors, n)
    per_row, per_row1 = f"{r}·{n_name}", f"{r}·({n_name} − 1)"
    terms = [
        Term("cmps", "comparisons (row max)", per_row1, rows_n1, n_rows * (n - 1)),
        Term("adds", "subtractions of the max", per_row, rows_n, n_rows * n),
        Term("transc", "exponentials", per_row, rows_n, n_rows * n),
        Term("adds", "additions (row sum)", per_row1, rows_n1, n_rows * (n - 1)),
    ]
    if log:
        terms += [Term("transc", "logarithm of the sum", r, worked(each, *factors) if rows else n_rows, n_rows),
                  Term("adds", "subtractions of the log-sum", per_row, rows_n, n_rows * n)]
    else:
        terms.append(Term("divs", "divisions by the sum", per_row, rows_n, n_rows * n))
    return terms


@module_rule(nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d)
def softmax(m, call) -> Cost:
    shape = call.input.shape
    if isinstance(m, nn.Softmax2d):
        dim = -3
    else:
        dim = m.dim if m.dim is not None else (0 if len(shape) in (0, 1, 3) else 1)  # torch's legacy rule
    n = shape[dim] if shape else 1
    rows = call.input.numel // max(n, 1)
    terms = softmax_terms(rows, n, log=isinstance(m, nn.LogSoftmax))
    if isinstance(m, nn.Softmin):
        terms.insert(0, Term("mults", "negations", "elements", call.input.numel, call.input.numel))
    return Cost.of(*terms)
