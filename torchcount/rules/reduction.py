"""Op rules for reductions, softmax, normalisation ops, cumulative ops and losses.

A reduction of ``n_in`` input elements to ``n_out`` outputs combines ``n_in − n_out``
pairs: ``sum`` that many additions, ``prod`` multiplications, ``amax``/``max``/``argmax``
comparisons; ``mean`` adds one division per output. ``var``/``std`` follow the
normalisation layers: mean, n subtractions, n squares, a sum and a division (and one
square root per output for ``std``). ``linalg_vector_norm`` with ord 2: n squares, the
sum, one square root per output; ``linalg__powsum`` the same without the root. Softmax and the normalisation ops reuse the exact terms of
the softmax and norm *module* rules (``activation.softmax_terms``, ``norm._stats_terms``),
so an op and a module doing the same job cost the same. The pooling ops (``F.max_pool2d``
and the like) are in pool.py, beside the pooling modules.
"""
from __future__ import annotations

import math

import torch

from ..cost import CATEGORY_NAMES, Cost, Term, worked
from ._util import prod, reduced, schema_arg
from .activation import softmax_terms
from .complex import in_real_ops
from .elementwise import recipe_terms
from .norm import _affine_terms, _running_terms, _running_update_terms, _stats_terms
from .registry import aten_ops, op_rule, why_uncounted


def _in_out(op) -> tuple[int, int]:
    n_in = op.inputs[0].numel
    outs = op.outputs
    n_out = outs[0].numel if outs else 1
    return n_in, n_out


def _dim(op, index: int = 1, default=None):
    if "dim" in op.kwargs:
        return op.kwargs["dim"]
    return op.args[index] if len(op.args) > index else default


def _name(op) -> str:
    return op.op.overloadpacket.__name__


def _pairs(op, category: str, what: str) -> Term:
    return reduced(category, f"{what} ({_name(op)})", *_in_out(op))


@op_rule(*aten_ops("sum", "nansum"))
def sum_op(op) -> Cost:
    return Cost.of(_pairs(op, "adds", "additions"))


#: segment_reduce's reduce names (ReductionType.h's get_reduction_enum: "amax"/"amin", which PyG's
#: ``segment`` passes, are "max"/"min")
_SEGMENT_COMBINE = {"sum": ("adds", "additions"), "mean": ("adds", "additions"), "max": ("cmps", "comparisons"),
                    "min": ("cmps", "comparisons"), "amax": ("cmps", "comparisons"), "amin": ("cmps", "comparisons"),
                    "prod": ("mults", "multiplications")}


@op_rule(*aten_ops("segment_reduce"))
def segment_reduce(op) -> "Cost | None":
    """``torch.segment_reduce(data, reduce, lengths=…)``: each segment's L values combined, L − 1
    operations per position (inputs − outputs in all; with ``initial``, one more per output), and
    for a mean a division per output. Exact with an initial value or when no segment is empty;
    without one, each empty segment makes the count one too low per position (a lower bound: inputs −
    outputs charges it L − 1 = −1)."""
    reduce = op.args[1] if len(op.args) > 1 else op.kwargs.get("reduce")
    if reduce not in _SEGMENT_COMBINE:
        return None
    category, what = _SEGMENT_COMBINE[reduce]
    n_in, n_out = _in_out(op)
    has_initial = op.kwargs.get("initial") is not None
    return Cost.of(  # (not _pairs: with empty segments the outputs can outnumber the inputs)
        reduced(category, f"{what} (segment {reduce})", n_in, n_out),
        Term(category, f"{what} (with the initial value)", "outputs", n_out, n_out) if has_initial else None,
        Term("divs", "divisions (segment mean)", "outputs", n_out, n_out) if reduce == "mean" else None)


@op_rule(*aten_ops("_segment_reduce_backward"))
def segment_reduce_backward(op) -> "Cost | None":
    """``_segment_reduce_backward(grad, output, data, reduce, …)``, as the CPU and CUDA kernels compute
    it (n inputs, m outputs): a sum copies each output's gradient to its segment's inputs (no
    arithmetic); a mean divides each output's gradient by its segment's length (m divisions), then
    copies; max/min compare every input with its segment's result (n comparisons; the gradient is
    split among ties, divisions only where a segment has two or more: not counted); prod multiplies
    each gradient by the output (m multiplications), then per input tests it for zero and divides by
    it (n comparisons, n divisions; a zero input takes the product of the others instead, which only
    the values tell)."""
    reduce = op.args[3] if len(op.args) > 3 else op.kwargs.get("reduce")
    if reduce not in _SEGMENT_COMBINE:
        return None
    n, m = op.args[2].numel, op.args[1].numel
    if reduce == "sum":
        return Cost()
    if reduce == "mean":
        return Cost.of(Term("divs", "divisions (gradient by segment length)", "outputs", m, m))
    if reduce != "prod":
        return Cost.of(Term("cmps", f"comparisons (input = segment {reduce}?)", "inputs", n, n))
    return Cost.of(Term("mults", "multiplications (gradient × product)", "outputs", m, m),
                   Term("cmps", "comparisons (input = 0?)", "inputs", n, n),
                   Term("divs", "divisions (by the input)", "inputs", n, n))


@op_rule(*aten_ops("prod"))
def prod_op(op) -> Cost:
    return Cost.of(_pairs(op, "mults", "multiplications"))


@op_rule(*aten_ops("mean", "nanmean"), complex_aware=True)
def mean_op(op) -> Cost:
    _, n_out = _in_out(op)
    cost = Cost.of(_pairs(op, "adds", "additions"),
                   Term("divs", "divisions (mean)", "outputs", n_out, n_out))
    if op.inputs[0].dtype.is_complex:  # complex sums, then each divided by a real count
        return in_real_ops(cost, "complex", {"divs": (("divs", 2),)})
    return cost


# _is_all_true / _is_any_true: all()/any() of a whole bool tensor to one element, run by
# torch._check_tensor_all (Hugging Face's torch_compilable_check on a tensor condition)
@op_rule(*aten_ops("amax", "amin", "argmax", "argmin", "max", "min", "aminmax", "all", "any", "median",
             "nanmedian", "mode", "_is_all_true", "_is_any_true"))
def extremum(op) -> Cost:
    # max(a, b) (the other and out overloads): element-wise. Its second argument is the tensor b; a
    # reduction's out= tensors (max.dim_max's values and indices) are tensors too, but not that argument
    if _name(op) in ("max", "min") and len(op.args) > 1 and hasattr(op.args[1], "shape"):
        n = op.outputs[0].numel
        return Cost.of(Term("cmps", f"comparisons ({_name(op)}, element-wise)", "elements", n, n))
    if _name(op) == "mode":  # each line sorted, then a pass over neighbours counting the runs
        n_in, n_out = _in_out(op)
        n = n_in // max(n_out, 1)
        k = max(1, math.ceil(math.log2(n))) if n > 1 else 0
        return Cost.of(Term("cmps", "comparisons (sort)", "lines·n·⌈log2 n⌉", worked("{}×{}×{}", n_out, n, k),
                            n_out * n * k),
                       reduced("cmps", "comparisons (neighbours)", n_in, n_out))
    if _name(op) == "aminmax":  # two reductions over the same elements
        return Cost.of(_pairs(op, "cmps", "comparisons (min)"), _pairs(op, "cmps", "comparisons (max)"))
    return Cost.of(_pairs(op, "cmps", "comparisons"))


def _var_terms(n_in: int, n_out: int, sqrt: bool) -> list[Term]:
    terms = _stats_terms(n_out, n_in // max(n_out, 1))[:5]  # mean, divisions, centring, squares, sum
    if sqrt:
        terms.append(Term("transc", "square roots (std)", "outputs", n_out, n_out))
    return terms


@op_rule(*aten_ops("var", "std", "var_mean", "std_mean"))
def variance(op) -> Cost:
    n_in, n_out = _in_out(op)
    return Cost.of(*_var_terms(n_in, n_out, sqrt=_name(op).startswith("std")))


@op_rule(*aten_ops("linalg_vector_norm", "norm", "frobenius_norm"), complex_aware=True)
def vector_norm(op) -> Cost:
    n_in, n_out = _in_out(op)
    ord_ = op.kwargs.get("ord", op.kwargs.get("p", op.args[1] if len(op.args) > 1 else 2))
    ord_ = 2 if ord_ is None or isinstance(ord_, (list, tuple)) else ord_
    if n_in == 0:  # the kernel fills the outputs with 0 (∞ for a negative ord): no operation
        return Cost()
    pairs = worked("{} − {}", n_in, n_out)
    if op.inputs[0].dtype.is_complex:  # the norm of the moduli |z| = √(re² + im²), which are real
        return _complex_vector_norm(ord_, n_in, n_out, pairs)
    if ord_ == 0:  # the number of non-zero elements
        return Cost.of(Term("cmps", "comparisons (x ≠ 0)", "inputs", n_in, n_in),
                       Term("adds", "additions (count)", "inputs − outputs", pairs, n_in - n_out))
    if ord_ in (math.inf, -math.inf):
        return Cost.of(Term("cmps", "absolute values", "inputs", n_in, n_in),
                       Term("cmps", "comparisons (max |x|)", "inputs − outputs", pairs, n_in - n_out))
    return Cost.of(*_power_sum_terms(ord_, n_in, n_out, pairs), _root_term(ord_, n_out))


def _power_sum_terms(ord_, n_in: int, n_out: int, pairs) -> list[Term]:
    """Σ|x|^ord over each output's elements (a real input): |x| for ord 1, x² for ord 2, a power for
    any other ord; then inputs − outputs additions."""
    if ord_ == 1:
        each = Term("cmps", "absolute values", "inputs", n_in, n_in)
    elif ord_ == 2:
        each = Term("mults", "squares", "inputs", n_in, n_in)
    else:
        each = Term("transc", f"powers |x|^{ord_}", "inputs", n_in, n_in)
    return [each, Term("adds", "additions", "inputs − outputs", pairs, n_in - n_out)]


def _root_term(ord_, n_out: int) -> "Term | None":
    """The norm's root of each power sum (none for ord 1)."""
    if ord_ == 1:
        return None
    if ord_ == 2:
        return Term("transc", "square roots", "outputs", n_out, n_out)
    return Term("transc", f"roots (·)^(1/{ord_})", "outputs", n_out, n_out)


def _complex_vector_norm(ord_, n_in: int, n_out: int, pairs, root: bool = True) -> Cost:
    squares = [Term("mults", "squares re², im²", "2·inputs", worked("2×{}", n_in), 2 * n_in),
               Term("adds", "additions re² + im²", "inputs", n_in, n_in)]
    if ord_ == 0 and root:
        return Cost.of(Term("cmps", "comparisons (z ≠ 0: both parts)", "2·inputs", worked("2×{}", n_in), 2 * n_in),
                       Term("adds", "additions (count)", "inputs − outputs", pairs, n_in - n_out))
    if ord_ == 2:
        return Cost.of(*squares, Term("adds", "additions", "inputs − outputs", pairs, n_in - n_out),
                       Term("transc", "square roots", "outputs", n_out, n_out) if root else None)
    moduli = [*squares, Term("transc", "square roots |z|", "inputs", n_in, n_in)]
    if ord_ in (math.inf, -math.inf) and root:
        return Cost.of(*moduli, Term("cmps", "comparisons (max |z|)", "inputs − outputs", pairs, n_in - n_out))
    if ord_ == 1:
        return Cost.of(*moduli, Term("adds", "additions", "inputs − outputs", pairs, n_in - n_out))
    return Cost.of(*moduli, Term("transc", f"powers |z|^{ord_}", "inputs", n_in, n_in),
                   Term("adds", "additions", "inputs − outputs", pairs, n_in - n_out),
                   Term("transc", f"roots (·)^(1/{ord_})", "outputs", n_out, n_out) if root else None)


@op_rule(*aten_ops("linalg__powsum"), complex_aware=True)
def power_sum(op) -> Cost:
    """``torch.linalg._powsum(x, ord)`` = Σ|x|^ord, a vector norm without its root (what
    ``_foreach_powsum`` runs per tensor: the partial sums of a norm over shards, which are added
    before the one root is taken). Priced as ``linalg_vector_norm`` less the root: ord 2 a square
    per element, ord 1 an absolute value, any other ord a power. Unlike the norm, ord 0 and ±∞
    are plain powers here (PyTorch computes Σ|x|^0 = the element count, not the non-zeros, and
    Σ|x|^∞, not the max), so they are priced as powers."""
    n_in, n_out = _in_out(op)
    ord_ = schema_arg(op, "ord", 2)
    pairs = worked("{} − {}", n_in, n_out)
    if op.inputs[0].dtype.is_complex:
        return _complex_vector_norm(ord_, n_in, n_out, pairs, root=False)
    return Cost.of(*_power_sum_terms(ord_, n_in, n_out, pairs))


@op_rule(*aten_ops("equal"))
def equal_op(op) -> Cost:
    """``torch.equal(a, b)``: one comparison per element (at most: it may stop at the first
    difference; shapes alone cannot tell). Tensors of different shapes compare nothing: ATen returns
    False on the sizes alone (TorchScript's constant pooling, which runs while a dispatch mode such as
    the profile's is on, calls it on every pair of a frozen graph's weight constants)."""
    n = op.inputs[0].numel
    if len(op.inputs) > 1 and tuple(op.inputs[1].shape) != tuple(op.inputs[0].shape):
        return Cost.of(Term("cmps", "comparisons (equal: the shapes differ, none)", "0", 0, 0))
    return Cost.of(Term("cmps", "comparisons (equal)", "elements", n, n))


@op_rule(*aten_ops("_weight_norm_interface", "_weight_norm"))
def weight_norm(op) -> Cost:
    """``w = g·v/‖v‖`` (weight normalisation, ``parametrizations.weight_norm``): one 2-norm of
    ``v`` per element of ``g`` (over every dim but ``dim``), one division g/‖v‖ each, and
    every element of ``v`` scaled."""
    n_v, n_g = op.inputs[0].numel, op.inputs[1].numel
    return Cost.of(Term("mults", "squares", "elements of v", n_v, n_v),
                   Term("adds", "additions (norms)", "elements of v − norms", worked("{} − {}", n_v, n_g), n_v - n_g),
                   Term("transc", "square roots", "norms (elements of g)", n_g, n_g),
                   Term("divs", "divisions g/‖v‖", "norms", n_g, n_g),
                   Term("mults", "scaling v", "elements of v", n_v, n_v))


def _scan(op, category: str, what: str) -> Cost:
    x = op.inputs[0]
    dim = _dim(op, 1, 0)
    n = x.shape[dim] if x.shape else 1
    lines = x.numel // max(n, 1)
    return Cost.of(Term(category, what, "lines·(n − 1)", worked("{}×({} − 1)", lines, n), lines * (n - 1)))


@op_rule(*aten_ops("cumsum"))
def cumsum(op) -> Cost:
    return _scan(op, "adds", "additions (running sum)")


@op_rule(*aten_ops("logcumsumexp"))
def logcumsumexp(op) -> Cost:
    """A running log-sum-exp: each step folds the next element into the running value as ATen's
    ``_log_add_exp_helper`` does, log1p(exp(min − max)) + max: a min and a max (2 comparisons),
    2 additions and 2 transcendentals (exp, log1p). Its NaN and infinity guards are not counted."""
    x = op.inputs[0]
    dim = _dim(op, 1, 0)
    n = x.shape[dim] if x.shape else 1
    lines = x.numel // max(n, 1)
    substituted = worked("2×{}×({} − 1)", lines, n)
    return Cost.of(*[Term(category, f"{what} (running log-add-exp{which})", "2·lines·(n − 1)", substituted,
                          2 * lines * (n - 1))
                     for category, what, which in (("cmps", "comparisons", ": min and max"), ("adds", "additions", ""),
                                                   ("transc", "transcendental ops", ": exp, log1p"))])


@op_rule(*aten_ops("cumprod"))
def cumprod(op) -> Cost:
    return _scan(op, "mults", "multiplications (running product)")


@op_rule(*aten_ops("cummax", "cummin"))
def cummax(op) -> Cost:
    return _scan(op, "cmps", "comparisons (running extremum)")


def _softmax(op, log: bool) -> Cost:
    x = op.inputs[0]
    dim = _dim(op, 1, -1)
    n = x.shape[dim] if x.shape else 1
    return Cost.of(*softmax_terms(x.numel // max(n, 1), n, log=log))


@op_rule(*aten_ops("_softmax", "softmax", "_safe_softmax", "special_softmax"))
def softmax_op(op) -> Cost:
    return _softmax(op, log=False)


@op_rule(*aten_ops("_log_softmax", "log_softmax", "special_log_softmax"))
def log_softmax_op(op) -> Cost:
    return _softmax(op, log=True)


@op_rule(*aten_ops("logsumexp"))
def logsumexp(op) -> Cost:
    """The max over each output's elements, the exps of the differences summed, the log and the max
    added back; an empty input (no max to take) is summed as it is, 0 per output, and each log taken
    (−∞)."""
    n_in, n_out = _in_out(op)
    if n_in == 0:
        return Cost.of(Term("transc", "logarithms (of the empty sums: −∞)", "outputs", n_out, n_out))
    pairs = worked("{} − {}", n_in, n_out)
    return Cost.of(
        Term("cmps", "comparisons (max)", "inputs − outputs", pairs, n_in - n_out),
        Term("adds", "subtractions of the max", "inputs", n_in, n_in),
        Term("transc", "exponentials", "inputs", n_in, n_in),
        Term("adds", "additions (sum)", "inputs − outputs", pairs, n_in - n_out),
        Term("transc", "logarithms", "outputs", n_out, n_out),
        Term("adds", "additions of the max", "outputs", n_out, n_out),
    )


# ---- normalisation ops (what F.layer_norm, F.batch_norm, F.group_norm dispatch to) -----
def _present(op, index: int) -> bool:
    return len(op.args) > index and op.args[index] is not None


@op_rule(*aten_ops("native_layer_norm"))
def layer_norm_op(op) -> Cost:
    x = op.inputs[0]
    n = prod(op.args[1])
    terms = _stats_terms(x.numel // max(n, 1), n, "rows")
    affine = _affine_terms(x.numel)
    if _present(op, 2):
        terms.append(affine[0])
    if _present(op, 3):
        terms.append(affine[1])
    return Cost.of(*terms)


@op_rule(*aten_ops("native_group_norm"))
def group_norm_op(op) -> Cost:
    x = op.inputs[0]
    n_batch, groups = op.args[3], op.args[6]
    terms = _stats_terms(n_batch * groups, x.numel // max(n_batch * groups, 1), "N·G", (n_batch, groups))
    affine = _affine_terms(x.numel)
    if _present(op, 1):
        terms.append(affine[0])
    if _present(op, 2):
        terms.append(affine[1])
    return Cost.of(*terms)


def _batch_norm(op, training: bool, weight_i: int = 1, bias_i: int = 2) -> Cost:
    x = op.inputs[0]
    channels = x.shape[1] if len(x.shape) > 1 else x.shape[0]
    if training:
        terms = _stats_terms(channels, x.numel // max(channels, 1), "channels")
        if len(op.args) > 3 and hasattr(op.args[3], "shape") and x.numel:  # running statistics given: updated in place (as nn.BatchNorm's rule)
            terms += _running_update_terms(channels)
    else:
        terms = _running_terms(channels, x.numel)
    affine = _affine_terms(x.numel)
    if _present(op, weight_i):
        terms.append(affine[0])
    if _present(op, bias_i):
        terms.append(affine[1])
    return Cost.of(*terms)


@op_rule(*aten_ops("_native_batch_norm_legit_no_training"))
def batch_norm_eval_op(op) -> Cost:
    return _batch_norm(op, training=False)


@op_rule(*aten_ops("_native_batch_norm_legit", "native_batch_norm", "_batch_norm_with_update",
             "_batch_norm_no_update", "cudnn_batch_norm", "miopen_batch_norm",
             "_native_batch_norm_legit_functional"))
def batch_norm_op(op) -> Cost:
    """A batch norm op, told its mode by ``training`` (args[5]) where it has one.
    ``_native_batch_norm_legit_functional`` (a training-mode export after ``run_decompositions``)
    computes the running statistics' update out of place, returning them: the same arithmetic."""
    name = _name(op)
    if name == "_batch_norm_no_update":
        return _batch_norm(op, training=False)
    if name == "_batch_norm_with_update":
        return _batch_norm(op, training=True)
    overload = getattr(op.op, "_overloadname", "")
    if name == "_native_batch_norm_legit" and overload.startswith("no_stats"):
        return _batch_norm(op, training=True)
    training = bool(op.args[5]) if len(op.args) > 5 else True
    return _batch_norm(op, training=training)


@op_rule(*aten_ops("trace"))
def trace(op) -> Cost:
    """The sum of the diagonal: min(rows, cols) − 1 additions."""
    rows, cols = op.inputs[0].shape[-2:]
    n = min(rows, cols)
    return Cost.of(reduced("adds", "additions (diagonal)", n, 1, "min(rows, cols) − 1"))


@op_rule(*aten_ops("renorm"))
def renorm(op) -> Cost:
    """Each slice along ``dim`` rescaled to p-norm ≤ maxnorm: its norm (e powers — squares for
    p = 2, absolute values for p = 1 — e − 1 additions and a root), a comparison with maxnorm,
    a division for the factor, then e multiplications (a slice of e elements)."""
    x = op.inputs[0]
    p, dim = float(op.args[1]), int(op.args[2])
    slices = x.shape[dim] if x.shape else 1
    e = x.numel // max(slices, 1)
    power = {2.0: ("mults", "squares"), 1.0: ("cmps", "absolute values")}.get(p, ("transc", "powers"))
    return Cost.of(
        Term(power[0], f"{power[1]} (norms)", "slices·e", worked("{}×{}", slices, e), slices * e),
        Term("adds", "additions (norms)", "slices·(e − 1)", worked("{}×({} − 1)", slices, e), slices * (e - 1))
        if e > 0 else None,  # (empty slices: each norm 0, no addition)
        Term("transc", "roots (norms)", "slices", slices, slices) if p != 1.0 else None,
        Term("cmps", "comparisons with maxnorm", "slices", slices, slices),
        Term("divs", "scale factors", "slices", slices, slices),
        Term("mults", "rescaling", "slices·e", worked("{}×{}", slices, e), slices * e))


# ---- losses that appear in training scripts ------------------------------------------
#: aten's loss reduction codes
_NONE, _MEAN, _SUM = 0, 1, 2


def _reduction(op, index: int) -> int:
    return int(op.args[index]) if len(op.args) > index else int(op.kwargs.get("reduction", _MEAN))


def _reduce_terms(n: int, reduction: int, what: str) -> list:
    """Summing ``n`` loss terms (``"sum"``, ``"mean"``) and dividing by their count (``"mean"``);
    ``"none"`` returns them as they are."""
    if reduction == _NONE:
        return []
    terms = [reduced("adds", f"additions (sum of {what})", n, 1, f"{what} − 1")]
    if reduction == _MEAN:
        terms.append(Term("divs", "division (mean)", "1", "1", 1))
    return terms


def nll_targets(x) -> int:
    """The targets of an NLL loss on log-probabilities ``x`` ((N, C, …), or (C,) unbatched: one), each
    picking one log-probability; none without classes (every target is then the ignore_index)."""
    classes = x.shape[1] if len(x.shape) > 1 else x.numel
    return x.numel // classes if classes else 0


@op_rule(*aten_ops("nll_loss_forward", "nll_loss2d_forward"))
def nll_loss(op) -> Cost:
    """``nll_loss_forward(input, target, weight, reduction, ignore_index)``: one picked
    log-probability per target; a class weight multiplies each (and a weighted mean divides by
    the sum of the picked weights); then the reduction."""
    x = op.inputs[0]
    picked = nll_targets(x)
    weighted = len(op.args) > 2 and op.args[2] is not None
    reduction = _reduction(op, 3)
    terms = _reduce_terms(picked, reduction, "picked log-probs")
    if weighted:
        terms.insert(0, Term("mults", "class weights", "picked", picked, picked))
        if reduction == _MEAN:
            terms.insert(1, reduced("adds", "additions (sum of picked weights)", picked, 1, "picked − 1"))
    return Cost.of(*terms)


#: per element: BCE on logits, max(x, 0) − x·y + log(1 + exp(−|x|)); on probabilities,
#: −(y·log x + (1 − y)·log(1 − x)) with each log clamped at −100
_BCE = {"binary_cross_entropy_with_logits": {"cmps": 2, "mults": 1, "adds": 3, "transc": 2},
        "binary_cross_entropy": {"cmps": 2, "mults": 3, "adds": 3, "transc": 2}}


@op_rule(*aten_ops("binary_cross_entropy_with_logits", "binary_cross_entropy"))
def bce(op) -> Cost:
    """Binary cross-entropy per element (on logits: 2 cmps, 1 mult, 3 adds, 2 transc; on
    probabilities: 2 clamps, 3 mults, 3 adds, 2 logs); a ``weight`` is one more mult per element,
    a ``pos_weight`` (logits) scales the log term by 1 + (p − 1)·y: 2 mults and 2 adds; then the
    ``reduction``."""
    name = _name(op)
    n = op.inputs[0].numel
    recipe = dict(_BCE[name])
    if schema_arg(op, "weight") is not None:
        recipe["mults"] += 1
    if name == "binary_cross_entropy_with_logits" and schema_arg(op, "pos_weight") is not None:
        recipe["mults"] += 2
        recipe["adds"] += 2
    reduction = schema_arg(op, "reduction", _MEAN)
    return Cost.of(*recipe_terms(recipe, n, "BCE"), *_reduce_terms(n, int(reduction), "elements"))


# smooth L1 and Huber past |a − b|, as the CPU kernels' vectorised loop computes them (BinaryOpsKernel.cpp):
# both branches, then a blend on z ≥ β — smooth L1 0.5·z·z/β and z − 0.5·β, Huber 0.5·z·z and δ·(z − 0.5·δ);
# the constant 0.5·β (0.5·δ) does not change along the loop and is not counted per element
_BRANCHES = {"smooth_l1_loss": {"mults": 2, "divs": 1, "adds": 1, "cmps": 1, "assigns": 1},
             "huber_loss": {"mults": 3, "adds": 1, "cmps": 1, "assigns": 1}}


def _loss_numel(op) -> int:
    """The elements a point-wise loss computes: ``input`` and ``target`` broadcast (a direct call
    may pass a target larger than the input; ``F.*`` expands both first)."""
    return prod(torch.broadcast_shapes(*(t.shape for t in op.inputs[:2])))


@op_rule(*aten_ops("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"))
def pointwise_loss(op) -> Cost:
    """A difference and a square (mse) or an absolute value (l1, smooth l1, huber) per element;
    smooth L1 and Huber then both branches and the selection (``_BRANCHES``); then the reduction
    (``reduction`` is the third argument)."""
    n = _loss_numel(op)
    name = _name(op)
    square = name == "mse_loss"
    branches = _BRANCHES.get(name)
    return Cost.of(Term("adds", "differences", "elements", n, n),
                   Term("mults" if square else "cmps", "squares" if square else "absolute values",
                        "elements", n, n),
                   *(recipe_terms(branches, n, "both branches, the threshold test, the selection")
                     if branches else ()),
                   *_reduce_terms(n, _reduction(op, 2), "elements"))


@op_rule(*aten_ops("soft_margin_loss"))
def soft_margin_loss(op) -> Cost:
    """``log1p(exp(−x·y))`` per element (a negation and a product, an exp and a log1p), then
    the ``reduction``."""
    n = _loss_numel(op)
    return Cost.of(*recipe_terms({"mults": 2, "transc": 2}, n, "soft margin"),
                   *_reduce_terms(n, _reduction(op, 2), "elements"))


@op_rule(*aten_ops("multi_margin_loss"))
def multi_margin_loss(op) -> Cost:
    """``multi_margin_loss(x (N, C), y, p, margin, weight)``: per sample, for each class other
    than its target, z = margin − x[y] + x[i] (2 additions), z > 0 (a comparison), z² for p = 2 and
    × weight[y] (a multiplication each), summed (an addition: every class taken as over the
    margin, an upper bound); the sum divided by C; then the ``reduction``."""
    x = op.inputs[0]
    C = x.shape[-1] if x.shape else 1
    samples = x.numel // max(C, 1)
    pairs = samples * (C - 1)
    recipe = {"adds": 3, "cmps": 1, "mults": (schema_arg(op, "p", 1) == 2) + (schema_arg(op, "weight") is not None)}
    return Cost.of(
        *[Term(cat, f"{CATEGORY_NAMES[cat]} (multi margin)", f"{k}·samples·(C − 1)",
               worked("{}×{}×({} − 1)", k, samples, C), k * pairs) for cat, k in recipe.items() if k],
        Term("divs", "divisions by C", "samples", samples, samples),
        *_reduce_terms(samples, int(schema_arg(op, "reduction", _MEAN)), "samples"))


@op_rule(*aten_ops("_ctc_loss"))
def ctc_loss(op) -> Cost:
    """``_ctc_loss(log_probs (T, B, C), targets, input_lengths, target_lengths, blank)``: the
    forward (alpha) recursion over the lattice of each sequence, 2S + 1 states (S its target
    length) per time step after the first (whose 2 entries are copies of log-probs). Each entry
    is a log-sum-exp of up to 3 predecessors plus the emission's log-prob, as PyTorch computes
    it: 3 subtractions, 3 exps, a log and 4 additions (the 3 exps summed, the max and the log-prob
    added back) and their max, whose comparisons the kernel makes by state s: none at s = 0 (one
    predecessor), 1 at s = 1 and at each blank (s even: its state two back is a blank too, never
    taken), 2 at a label state s ≥ 3 whose label differs from the one two states back and 1 where
    it repeats it — which only the target values tell, so every label from s = 3 is taken at 2:
    max(3·S − 1, 0) per step, an upper bound (the lower, 2·S, were every label a repeat). Each
    sequence's loss is minus the log-sum-exp of its last 2 entries (1 cmp, 4 adds, 2 exps and a
    log, 1 negation). With lengths as integer lists (``F.ctc_loss`` given lists) the exact lattice;
    with tensor lengths only shapes reach the rule, so every sequence is taken at full length T
    with the longest target S (read from the second output, log_alpha, whose last dimension is
    2S + 1: an upper bound). The division by the target lengths and the mean of
    ``reduction="mean"`` are ops of their own."""
    log_probs, targets = op.inputs[0], op.inputs[1]
    T, B, _, pairs = ctc_sizes(log_probs, op.args[2], op.args[3])
    if pairs is not None:
        entries = sum(max(t - 1, 0) * (2 * s + 1) for t, s in pairs)
        formula, substituted = "Σ_b (T_b − 1)·(2·S_b + 1)", entries
        cmps = ctc_cmps(pairs), CTC_CMPS, ctc_cmps(pairs)
    else:
        if len(op.outputs) > 1 and len(op.outputs[1].shape) == 3:
            # log_alpha (B, T, 2·S + 1) is sized by the longest target: concatenated targets hold
            # every sequence's labels, a padded batch may be wider than its longest target
            S = (op.outputs[1].shape[-1] - 1) // 2
        else:
            S = targets.shape[-1] if len(targets.shape) == 2 else targets.numel  # (B, S) padded, or concatenated
        entries = B * max(T - 1, 0) * (2 * S + 1)
        formula = "B·(T − 1)·(2·S + 1) (full lengths: an upper bound)"
        substituted = worked("{}×({} − 1)×(2×{} + 1)", B, T, S)
        cmps = (B * max(T - 1, 0) * max(3 * S - 1, 0), f"B·(T − 1)·max(3·S − 1, 0) (full lengths; {CTC_CMPS_WHY})",
                worked("{}×({} − 1)×max(3×{} − 1, 0)", B, T, S))
    return Cost.of(*ctc_forward_terms(entries, formula, substituted, B, *cmps))


def ctc_sizes(log_probs, input_lengths, target_lengths) -> tuple:
    """A CTC op's T, B and C from its log-probs ((T, B, C), or (T, C) unbatched), and its
    (T_b, S_b) pairs when the lengths are integer lists (exact), None when they are tensors (only
    their shapes reach a rule)."""
    T, C = log_probs.shape[0], log_probs.shape[-1]
    B = log_probs.shape[1] if len(log_probs.shape) == 3 else 1
    if hasattr(input_lengths, "shape") or hasattr(target_lengths, "shape"):
        return T, B, C, None
    return T, B, C, [(int(t), int(s)) for t, s in zip(input_lengths, target_lengths)]


#: the comparisons of the α (and β) recursion's max per step of a sequence with S labels
CTC_CMPS_WHY = ("per step 0 at the end state with 1 neighbour, 1 at its neighbour and at each blank, 2 at each "
                "further label (1 where it repeats the label two states away, which only the values tell): "
                "an upper bound")
CTC_CMPS = f"Σ_b (T_b − 1)·max(3·S_b − 1, 0) ({CTC_CMPS_WHY})"


def ctc_cmps(pairs) -> int:
    """The comparisons of the α recursion's max over sequences of ``(T_b, S_b)``, as the CPU kernel
    makes them per step after the first: none at s = 0, 1 at s = 1 and at each blank, 2 at each label
    state from s = 3 (an upper bound: 1 where the label repeats the one two states back) —
    max(3·S_b − 1, 0). The β recursion's mirror image (none at s = 2·S_b, 1 at 2·S_b − 1 and the
    blanks, 2 at the labels below) counts the same."""
    return sum(max(t - 1, 0) * max(3 * s - 1, 0) for t, s in pairs)


def ctc_forward_terms(entries: int, formula: str, substituted, B: int, cmps: int, cmp_formula: str,
                      cmp_substituted) -> list:
    """The α recursion over ``entries`` lattice entries (their count's ``formula`` and its
    ``substituted`` numbers), its ``cmps`` comparisons (:func:`ctc_cmps`; ``cmp_formula``,
    ``cmp_substituted``) and the final log-sum-exp of ``B`` sequences, as ``_ctc_loss`` prices
    them; cuDNN's and MIOpen's CTC loss (rules/backward.py) price their forward with them too."""
    lattice = f"E (E lattice entries = {formula})"

    def per_entry(k):
        return worked("{}×{}", k, substituted)

    return [
        Term("cmps", "comparisons (max of the predecessors; an upper bound)", cmp_formula, cmp_substituted, cmps),
        Term("adds", "additions and subtractions (log-sum-exp, log-prob)", f"7·{lattice}", per_entry(7), 7 * entries),
        Term("transc", "exps and logs (log-sum-exp)", f"4·{lattice}", per_entry(4), 4 * entries),
        Term("cmps", "final log-sum-exp: max of 2", "batch", B, B),
        Term("adds", "final log-sum-exp: subtractions, sum, max added back", "4·batch", worked("4×{}", B), 4 * B),
        Term("transc", "final log-sum-exp: exps and log", "3·batch", worked("3×{}", B), 3 * B),
        Term("mults", "negations (the loss)", "batch", B, B),
    ]


for _uncounted_op in ("aten.multilabel_margin_loss_forward", "aten.multilabel_margin_loss_backward"):
    why_uncounted(_uncounted_op, "how many (label, other class) pairs it compares depends on the targets' values: each "
                         "sample's labels end at its first −1 (no formula)")
