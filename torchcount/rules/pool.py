"""Rules for pooling: max / average / LP pooling (1d/2d/3d), adaptive and fractional pooling, as
modules and as the ops ``F.max_pool2d`` and the like dispatch to (the same terms).

Per output element with a window of K elements: max-pooling does K − 1 comparisons;
average pooling K − 1 additions and one division; LP pooling K − 1 additions and one
root, and min(K·outputs, inputs) powers x^p (each input raised once where windows overlap):
p − 1 multiplications each for an integer p, else one transcendental. Windows are counted at
full size (as the worksheet does), including any padded positions.
"""
from __future__ import annotations

import math

from torch import nn

from ..cost import Cost, Term, worked
from ._util import prod, tup
from .registry import aten_ops, module_rule, op_rule

_MAX = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVG = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_LP = tuple(t for t in (getattr(nn, "LPPool1d", None), getattr(nn, "LPPool2d", None),
                         getattr(nn, "LPPool3d", None)) if t is not None)
_ADAPTIVE_MAX = (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_ADAPTIVE_AVG = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_FRACTIONAL = (nn.FractionalMaxPool2d, nn.FractionalMaxPool3d)


#: torch's pooling classes → the number of dims they pool (a subclass pools as its base)
_DIMS: dict[type, int] = {
    nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3,
    nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3,
    nn.AdaptiveMaxPool1d: 1, nn.AdaptiveMaxPool2d: 2, nn.AdaptiveMaxPool3d: 3,
    nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3,
    nn.FractionalMaxPool2d: 2, nn.FractionalMaxPool3d: 3,
    **{t: d for t, d in ((getattr(nn, "LPPool1d", None), 1), (getattr(nn, "LPPool2d", None), 2),
                         (getattr(nn, "LPPool3d", None), 3)) if t is not None},
}


def pooled_dims(m) -> int:
    """The dims the module pools, from the torch class it is (or derives from), never its name
    (another windowed module, a convolution: as many as its kernel has)."""
    for base in type(m).__mro__:
        d = _DIMS.get(base)
        if d is not None:
            return d
    return len(tup(m.kernel_size, 1))


#: (ceil_mode, dilated) → the output size formula and the template of its substituted line
#: (values: M, w, p, s undilated; M, p, d, w, s dilated)
_SIZE_LINES = {
    (False, False): ("⌊(M − w + 2p)/s⌋ + 1", "⌊({} − {} + 2×{})/{}⌋ + 1"),
    (True, False): ("⌈(M − w + 2p)/s⌉ + 1", "⌈({} − {} + 2×{})/{}⌉ + 1"),
    (False, True): ("⌊(M + 2p − d·(w − 1) − 1)/s⌋ + 1", "⌊({} + 2×{} − {}×({} − 1) − 1)/{}⌋ + 1"),
    (True, True): ("⌈(M + 2p − d·(w − 1) − 1)/s⌉ + 1", "⌈({} + 2×{} − {}×({} − 1) − 1)/{}⌉ + 1"),
}


def _size_terms(m, call, d: int) -> list:
    """Output size as torch computes it (dilation, ceil_mode): one line when every pooled dim has
    the same input size and window, else one per dimension ("output height", "output width")."""
    ks, ss = tup(m.kernel_size, d), tup(m.stride or m.kernel_size, d)
    ps, ds = tup(getattr(m, "padding", 0), d), tup(getattr(m, "dilation", 1), d)
    ins, outs = call.input.shape[-d:], call.out.shape[-d:]
    ceil = bool(getattr(m, "ceil_mode", False))
    # (t[1:] == t[:-1]: every entry the same; the common square case costs a few comparisons)
    if ins[1:] == ins[:-1] and outs[1:] == outs[:-1] and ks[1:] == ks[:-1] and ss[1:] == ss[:-1] and \
            ps[1:] == ps[:-1] and ds[1:] == ds[:-1]:
        return [_size_term(ins[0], ks[0], ps[0], ss[0], ds[0], outs[0], ceil, "output size")]
    from .conv import DIM_NAMES

    return [_size_term(ins[i], ks[i], ps[i], ss[i], ds[i], outs[i], ceil, f"output {name}")
            for i, name in enumerate(DIM_NAMES.get(d, ()))]


def _size_term(M, k, p, s, dil, out, ceil: bool, what: str) -> Term | None:
    span = M + 2 * p - dil * (k - 1) - 1
    value = (-(-span // s) if ceil else span // s) + 1
    formula, template = _SIZE_LINES[ceil, dil != 1]
    values = (M, k, p, s) if dil == 1 else (M, p, dil, k, s)
    if ceil and value != out and (value - 1) * s >= M + p:
        # torch drops a last window that would start in the right padding
        formula += " − 1 (last window would start past the input)"
        template += " − 1"
        value -= 1
    if value != out:
        return None  # a shape this formula does not describe: show no wrong arithmetic
    return Term("shape", what, formula, worked(template, *values), out)


@module_rule(*_MAX)
def max_pool(m, call) -> Cost:
    d = pooled_dims(m)
    kernel = tup(m.kernel_size, d)
    out = call.out.numel
    return Cost.of(*_size_terms(m, call, d), window_max_term(kernel, out))


@module_rule(*_AVG)
def avg_pool(m, call) -> Cost:
    d = pooled_dims(m)
    kernel = tup(m.kernel_size, d)
    out = call.out.numel
    return Cost.of(*_size_terms(m, call, d), *window_mean_terms(kernel, out))


@module_rule(*_LP)
def lp_pool(m, call) -> Cost:
    d = pooled_dims(m)
    kernel = tup(m.kernel_size, d)
    out = call.out.numel
    window = prod(kernel)
    integer_p = float(m.norm_type).is_integer()
    # each input raised to p once (windows that overlap share it): as many as the windows hold,
    # at most the input's elements
    raised = min(window * out, call.input.numel)
    powers = Term("mults" if integer_p else "transc", "powers x^p",
                  "min(∏kernel·outputs, inputs)" + ("·(p − 1)" if integer_p else ""),
                  worked("min({}×{}, {})×({} − 1)", kernel, out, call.input.numel, int(m.norm_type)) if integer_p
                  else worked("min({}×{}, {})", kernel, out, call.input.numel),
                  raised * (int(m.norm_type) - 1 if integer_p else 1))
    return Cost.of(
        *_size_terms(m, call, d),
        powers,
        Term("adds", "additions", "(∏kernel − 1)·outputs", worked("({} − 1)×{}", kernel, out), (window - 1) * out),
        Term("transc", "roots (·)^(1/p)", "outputs", out, out),
    )


def window_max_term(kernel, out: int) -> Term:
    """A max over a full window of ∏kernel elements per output."""
    return Term("cmps", "comparisons", "(∏kernel − 1)·outputs", worked("({} − 1)×{}", kernel, out),
                (prod(kernel) - 1) * out)


def window_mean_terms(kernel, out: int) -> tuple[Term, Term]:
    """A mean over a full window of ∏kernel elements per output."""
    return (Term("adds", "additions", "(∏kernel − 1)·outputs", worked("({} − 1)×{}", kernel, out),
                 (prod(kernel) - 1) * out),
            Term("divs", "divisions (mean)", "outputs", out, out))


def _adaptive_window_total(in_sizes, out_sizes) -> int:
    """Σ over output positions of the window size; windows are separable per dim:
    window i of a dim spans [⌊i·In/Out⌋, ⌈(i+1)·In/Out⌉)."""
    total = 1
    for n_in, n_out in zip(in_sizes, out_sizes):
        total *= sum(math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out))
    return total


class _WindowSums:
    """Σwindow written out per pooled dim when shown: ``(3 + 3 + 3)×(2 + 2 + 2 + 2 + 2)`` (a dim of more
    than 8 windows as how many of each size, ``(7×3 + 3×2)``), so a student can check the window total
    without working it out."""

    __slots__ = ("in_sizes", "out_sizes")

    def __init__(self, in_sizes, out_sizes):
        self.in_sizes, self.out_sizes = tuple(in_sizes), tuple(out_sizes)

    def __format__(self, spec: str) -> str:
        parts = []
        for n_in, n_out in zip(self.in_sizes, self.out_sizes):
            windows = [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]
            if n_out <= 1:  # (one window, or none: an output size of 0)
                parts.append(str(windows[0]) if windows else "0")
            elif n_out <= 8:
                parts.append("(" + " + ".join(map(str, windows)) + ")")
            else:  # (many windows: how many of each size, largest first)
                sizes = sorted(set(windows), reverse=True)
                groups = [f"{windows.count(w)}×{w}" for w in sizes]
                parts.append(groups[0] if len(groups) == 1 else "(" + " + ".join(groups) + ")")
        return "×".join(f"({p})" if "×" in p and not p.startswith("(") and len(parts) > 1 else p for p in parts)


def adaptive_window_term(x, out, d: int) -> Term:
    """The line that writes Σwindow out: window i of a dim spans [⌊i·In/Out⌋, ⌈(i+1)·In/Out⌉)."""
    in_sizes, out_sizes = x.shape[-d:], out.shape[-d:]
    return Term("shape", "window sizes summed (window i of a dim spans ⌊i·In/Out⌋ … ⌈(i+1)·In/Out⌉)",
                "Σwindow = Π over dims of Σ windows", worked("{}", _WindowSums(in_sizes, out_sizes)),
                _adaptive_window_total(in_sizes, out_sizes))


def adaptive_windows(x, out, d: int) -> tuple[int, int, int]:
    """(planes, Σwindow over one plane's outputs, outputs) of adaptive pooling of the last ``d``
    dims of ``x`` to those of ``out``."""
    out_sizes = out.shape[-d:]
    planes = prod(out.shape[:-d])  # (N·C, also of an output with no positions)
    return planes, _adaptive_window_total(x.shape[-d:], out_sizes), out.numel


def adaptive_max_term(planes: int, window_total: int, out: int) -> Term:
    return Term("cmps", "comparisons", "planes·Σwindow − outputs",
                worked("{}×{} − {}", planes, window_total, out), planes * window_total - out)


def adaptive_mean_terms(planes: int, window_total: int, out: int) -> tuple[Term, Term]:
    return (Term("adds", "additions", "planes·Σwindow − outputs",
                 worked("{}×{} − {}", planes, window_total, out), planes * window_total - out),
            Term("divs", "divisions (mean)", "outputs", out, out))


@module_rule(*_ADAPTIVE_MAX)
def adaptive_max_pool(m, call) -> Cost:
    d = pooled_dims(m)
    return Cost.of(adaptive_window_term(call.input, call.out, d),
                   adaptive_max_term(*adaptive_windows(call.input, call.out, d)))


@module_rule(*_ADAPTIVE_AVG)
def adaptive_avg_pool(m, call) -> Cost:
    d = pooled_dims(m)
    return Cost.of(adaptive_window_term(call.input, call.out, d), *adaptive_avg_cost(call, d).terms)


def adaptive_avg_cost(call, d: int) -> Cost:
    """Adaptive average pooling of the last ``d`` dims of ``call.input`` to those of ``call.out``
    (also what ``nn.Upsample(mode="area")`` computes: rules/upsample.py)."""
    return Cost.of(*adaptive_mean_terms(*adaptive_windows(call.input, call.out, d)))


@module_rule(*_FRACTIONAL)
def fractional_max_pool(m, call) -> Cost:
    d = 2 if isinstance(m, nn.FractionalMaxPool2d) else 3
    kernel = tup(m.kernel_size, d)
    return Cost.of(window_max_term(kernel, call.out.numel))


@module_rule(nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)
def max_unpool(m, call) -> Cost:
    return Cost()  # a scatter: data movement only


# ---- the pooling ops (what F.max_pool2d, F.avg_pool2d, F.adaptive_*_pool dispatch to) ------
def _op_dims(op) -> int:
    name = op.op.overloadpacket.__name__
    return 3 if "3d" in name else 1 if "1d" in name else 2


@op_rule(*aten_ops("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices",
               "mkldnn_max_pool2d", "quantized_max_pool2d"))
def max_pool_op(op) -> Cost:
    return Cost.of(window_max_term(tup(op.args[1], _op_dims(op)), op.outputs[0].numel))


@op_rule(*aten_ops("fractional_max_pool2d", "fractional_max_pool3d"))
def fractional_max_pool_op(op) -> Cost:
    """``F.fractional_max_pool2d/3d(x, kernel_size, output_size, random_samples)``: a max over a
    kernel-sized window per output, as nn.FractionalMaxPool2d's rule counts it."""
    return Cost.of(window_max_term(tup(op.args[1], _op_dims(op)), op.outputs[0].numel))


@op_rule(*aten_ops("avg_pool1d", "avg_pool2d", "avg_pool3d"))
def avg_pool_op(op) -> Cost:
    return Cost.of(*window_mean_terms(tup(op.args[1], _op_dims(op)), op.outputs[0].numel))


@op_rule(*aten_ops("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
               "adaptive_avg_pool3d"))
def adaptive_avg_pool_op(op) -> Cost:
    return Cost.of(*adaptive_mean_terms(*adaptive_windows(op.inputs[0], op.outputs[0], _op_dims(op))))


@op_rule(*aten_ops("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"))
def adaptive_max_pool_op(op) -> Cost:
    return Cost.of(adaptive_max_term(*adaptive_windows(op.inputs[0], op.outputs[0], _op_dims(op))))
