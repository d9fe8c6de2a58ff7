"""Op rules for element-wise aten ops, and the list of ops that do no arithmetic.

An element-wise op costs a fixed recipe per *output* element (broadcast inputs are
counted at the output size): ``add``/``sub`` one addition, ``mul`` one multiplication,
``div`` one division, a comparison one comparison, ``exp``/``log``/``sqrt``/``tanh``/…
one transcendental op, ``pow`` by an integer n ≥ 2 n − 1 multiplications (by anything
else one transcendental op). Activation functions run as ops (``F.relu``, ``F.gelu``,
``F.silu``, …) use the same per-element table as the activation modules
(``rules.activation.PER_ELEMENT``), so a ReLU costs the same as a module or as an op.
In-place variants (``relu_``, ``add_``, …) cost the same as their functional forms.

Known-zero ops (``zero_ops``) move, reinterpret or create data without arithmetic:
views, reshapes, permutes, slicing, indexing/gather, concatenation, copies, dtype casts,
fills and tensor factories. Their cost shows up only as bytes, never as operations.
Scattering that accumulates is arithmetic, not a zero op: ``index_put``/``put`` with
accumulate=True, ``scatter`` with a reduce=, ``scatter_add``/``scatter_reduce``,
``index_add``/``index_reduce`` (one step per element scattered) and ``col2im`` (``F.fold``
sums overlapping blocks).
"""
from __future__ import annotations

import math
import struct

import torch

from ..cost import CATEGORY_NAMES, Cost, Term, worked
from ._grid import corner_weights, cubic_coefficients, unnormalisation
from ._util import prod, reduced, schema_arg
from .activation import PER_ELEMENT, requantization
from .complex import in_real_ops, op_complex_mode
from .registry import aten, op_rule, why_uncounted, zero_ops
from .reshape import dropout_terms


def _packets(*names: str) -> list:
    """aten packets by name, plus their in-place ``name_`` variants (a name torch lacks gives a
    MissingOp, which registering skips)."""
    found = []
    for name in names:
        for n in (name, name + "_"):
            packet = getattr(aten, n)
            if packet not in found:
                found.append(packet)
    return found


def _base(op) -> str:
    return op.op.overloadpacket.__name__.rstrip("_")


def _out_numel(op) -> int:
    outs = op.outputs
    if outs:
        return outs[0].numel
    # in-place ops return their first argument
    return op.inputs[0].numel if op.inputs else 0


def recipe_terms(recipe: dict[str, int], n: int, label: str) -> list[Term]:
    return [
        Term(cat, f"{CATEGORY_NAMES[cat]} ({label})", f"{k}·elements" if k != 1 else "elements",
             worked("{}×{}", k, n) if k != 1 else n, k * n)
        for cat, k in recipe.items() if k
    ]


# ---- a fixed recipe per output element ----------------------------------------------
_RECIPES: dict[str, dict[str, int]] = {}


def _table(recipe: dict[str, int], *names: str) -> None:
    for name in names:
        _RECIPES[name] = recipe


_table({"adds": 1}, "add", "sub", "rsub", "_add_relu")
_table({"mults": 1}, "mul", "neg", "square")
_table({"divs": 1}, "div", "true_divide", "floor_divide", "reciprocal")
_table({"divs": 1, "mults": 1, "adds": 1}, "remainder", "fmod")            # a − ⌊a/b⌋·b
_table({"mults": 2, "adds": 1}, "addcmul")                                  # a + v·b·c
_table({"divs": 1, "mults": 1, "adds": 1}, "addcdiv")                       # a + v·b/c
_table({"mults": 1, "adds": 2}, "lerp")                                     # a + w·(b − a)
_table({"cmps": 1}, "eq", "ne", "lt", "le", "gt", "ge", "maximum", "minimum", "fmax", "fmin",
       "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf", "isfinite",
       "isposinf", "isneginf", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
       "bitwise_left_shift", "bitwise_right_shift", "__lshift__", "__rshift__",
       "floor", "ceil", "round", "trunc", "signbit", "isclose", "frexp")
_table({"cmps": 1, "adds": 1}, "frac", "nextafter")                          # x − trunc(x); a step to the next float
_table({"cmps": 1, "assigns": 1}, "abs")                                     # x < 0 ? −x : x
_table({"cmps": 2, "assigns": 1}, "sign", "sgn", "clamp", "clip", "heaviside")
_table({"cmps": 3, "assigns": 1}, "nan_to_num")                              # isnan, +inf, −inf, then the value
_table({"cmps": 1, "assigns": 1}, "copysign")
_table({"mults": 1}, "deg2rad", "rad2deg")
_table({"cmps": 1, "assigns": 1}, "clamp_min", "clamp_max")
_table({"assigns": 1}, "where", "masked_fill", "masked_scatter")             # a selection per element
_table({"transc": 1}, "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
       "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh",
       "atanh", "erf", "erfc", "erfinv", "lgamma", "digamma", "special_erfcx", "float_power",
       "sinc", "i0", "polygamma", "igamma", "igammac", "special_i0e", "special_i1", "special_i1e", "special_ndtri",
       "special_log_ndtr", "special_zeta", "special_airy_ai", "special_bessel_j0", "special_bessel_j1",
       "special_bessel_y0", "special_bessel_y1", "special_modified_bessel_i0", "special_modified_bessel_i1",
       "special_modified_bessel_k0", "special_modified_bessel_k1", "special_scaled_modified_bessel_k0",
       "special_scaled_modified_bessel_k1", "special_spherical_bessel_j0")  # special functions: 1 each
_table({"mults": 1, "transc": 1}, "xlogy", "special_xlog1py", "ldexp")       # x·log(y), x·log1p(y), x·2^e
_table({"cmps": 1, "mults": 2, "transc": 1}, "special_entr")                # x > 0 ? −x·log(x) : …
# ATen's kernel: m = max(a, b) (1 cmp), a − b (1 add), |·| (as abs: 1 cmp + 1 assign), its negation
# (1 mult, as neg), exp, log1p (2 transc), m + … (1 add); logaddexp2 runs exp2 and scales the log1p
# by 1/ln 2 (1 mult more). Its guard for two equal infinities is not counted (special-value checks are not)
_table({"cmps": 2, "assigns": 1, "adds": 2, "mults": 1, "transc": 2}, "logaddexp")
_table({"cmps": 2, "assigns": 1, "adds": 2, "mults": 2, "transc": 2}, "logaddexp2")
_table({"mults": 2, "adds": 1, "transc": 1}, "hypot")                       # √(a² + b²)
_table({"cmps": 1}, "bernoulli")   # the keep/drop draw; a decomposed dropout then divides and multiplies
_table({"mults": 1, "adds": 1}, "_masked_scale")

# activations as ops: the same recipes as the modules
_ACTIVATION_OPS = {
    "relu": "relu", "relu6": "relu6", "hardtanh": "hardtanh", "threshold": "threshold",
    "leaky_relu": "leaky_relu", "_prelu_kernel": "prelu", "prelu": "prelu", "rrelu_with_noise": "rrelu",
    # (what a decomposed export runs instead of rrelu_with_noise: the noise returned, not written in place)
    "rrelu_with_noise_functional": "rrelu",
    "elu": "elu", "celu": "celu", "selu": "selu", "sigmoid": "sigmoid", "silu": "silu", "tanh": "tanh",
    "mish": "mish", "hardswish": "hardswish", "hardsigmoid": "hardsigmoid", "softplus": "softplus",
    "softshrink": "softshrink", "hardshrink": "hardshrink", "log_sigmoid_forward": "logsigmoid",
    "glu": "glu",
}


@op_rule(*_packets(*_RECIPES), complex_aware=True)
def elementwise(op) -> Cost:
    name = _base(op)
    mode = op_complex_mode(op)
    if mode is None:
        return _real_elementwise(op, name)
    n = _out_numel(op)
    if name == "abs":  # |z| = √(re² + im²)
        return Cost.of(*recipe_terms({"mults": 2, "adds": 1, "transc": 1}, n, "complex abs"))
    if name in ("sgn", "sign"):  # z / |z|
        return Cost.of(*recipe_terms({"mults": 2, "adds": 1, "transc": 1, "divs": 2}, n, "complex sgn"))
    if name == "neg":  # −z: both parts negated
        mode = "mixed"
    return in_real_ops(_real_elementwise(op, name), mode)


def _real_elementwise(op, name: str) -> Cost:
    alpha = op.kwargs.get("alpha", 1)
    if name in ("add", "sub", "rsub") and len(op.args) > 2 and isinstance(op.args[2], (int, float)):
        alpha = op.args[2]
    if name in ("add", "sub", "rsub") and alpha != 1:  # a + α·b
        return Cost.of(*recipe_terms({"adds": 1, "mults": 1}, _out_numel(op), f"{name} with alpha"))
    if name in ("clamp", "clip"):
        lo = op.kwargs.get("min", op.args[1] if len(op.args) > 1 else None)
        hi = op.kwargs.get("max", op.args[2] if len(op.args) > 2 else None)
        if lo is None or hi is None:  # one bound: one comparison
            return Cost.of(*recipe_terms({"cmps": 1, "assigns": 1}, _out_numel(op), f"{name} (one bound)"))
    return Cost.of(*recipe_terms(_RECIPES[name], _out_numel(op), name))


@op_rule(*_packets(*_ACTIVATION_OPS))
def activation_op(op) -> Cost:
    name = op.op.overloadpacket.__name__
    name = name if name in _ACTIVATION_OPS else name.rstrip("_")
    recipe = _ACTIVATION_OPS[name]
    cost = Cost.of(*recipe_terms(PER_ELEMENT[recipe], _out_numel(op), name),
                   *(requantization(recipe, op.outputs[0]) if op.outputs else ()))
    if name == "rrelu_with_noise":
        # ``noise`` is marked written, but the kernel never reads it: in training it stores each
        # element's slope there, in eval (the mean slope) it leaves it alone
        x, noise = op.inputs[0], op.inputs[1]
        training = op.kwargs.get("training", op.args[4] if len(op.args) > 4 else False)
        cost = cost.with_bytes(x.nbytes, x.nbytes + (noise.nbytes if training else 0))
    return cost


@op_rule(*_packets("angle"), complex_aware=True)
def angle_op(op) -> Cost:
    """The phase of each element: atan2(im, re) for a complex one (1 transc); 0 or π for a real
    one (1 comparison)."""
    complex_input = bool(op.inputs) and op.inputs[0].dtype.is_complex
    return Cost.of(*recipe_terms({"transc": 1} if complex_input else {"cmps": 1}, _out_numel(op), "angle"))


@op_rule(*_packets("polar"), complex_aware=True)
def polar_op(op) -> Cost:
    """r·(cos θ + i·sin θ) per element: 2 transc, 2 mults."""
    return Cost.of(*recipe_terms({"transc": 2, "mults": 2}, _out_numel(op), "polar"))


@op_rule(*_packets("gelu"))
def gelu_op(op) -> Cost:
    approximate = op.kwargs.get("approximate", op.args[1] if len(op.args) > 1 else "none")
    recipe = "gelu_tanh" if approximate == "tanh" else "gelu"
    return Cost.of(*recipe_terms(PER_ELEMENT[recipe], _out_numel(op), recipe),
                   *(requantization(recipe, op.outputs[0]) if op.outputs else ()))


@op_rule(*_packets("pow"))
def pow_op(op) -> Cost:
    n = _out_numel(op)
    overload = op.op._overloadname if hasattr(op.op, "_overloadname") else ""
    if overload.startswith("Tensor_Scalar") or (len(op.args) > 1 and isinstance(op.args[1], (int, float))
                                                and not isinstance(op.args[0], (int, float))):
        e = op.args[1]
        if float(e).is_integer() and 2 <= e <= 16:
            k = int(e) - 1
            return Cost.of(Term("mults", f"multiplications (x^{int(e)})", f"{k}·elements" if k > 1 else "elements",
                                worked("{}×{}", k, n) if k > 1 else n, k * n))
        if e in (0, 1):  # x^1 is x, x^0 is a tensor of ones: no arithmetic
            return Cost()
        if e == 0.5:
            return Cost.of(*recipe_terms({"transc": 1}, n, "x^0.5 (sqrt)"))
        if float(e).is_integer() and -16 <= e <= -1:
            k = int(-e) - 1
            return Cost.of(*recipe_terms({"mults": k, "divs": 1}, n, f"x^{int(e)}"))
    return Cost.of(*recipe_terms({"transc": 1}, n, "pow"))


# ---- known-zero ops: data movement and tensor creation --------------------------------
zero_ops(*_packets(
    # views and reshapes
    "view", "_unsafe_view", "reshape", "_reshape_alias", "view_as", "as_strided", "permute", "transpose",
    "t", "expand", "expand_as", "unsqueeze", "squeeze", "flatten", "unflatten", "movedim", "swapaxes",
    "swapdims", "alias", "detach", "lift_fresh", "lift_fresh_copy", "view_as_real", "view_as_complex",
    "real", "imag", "_conj", "conj", "resolve_conj", "resolve_neg", "unfold", "diagonal", "numpy_T",
    # slicing, indexing, gathering, scattering without arithmetic (index_put, put, scatter,
    # index_copy and index_fill have rules: in place they write only the elements they put, and
    # index_put and put with accumulate=True add; scatter with a reduce= has overload rules)
    "slice", "select", "narrow",
    "masked_select", "slice_scatter", "select_scatter",
    "diagonal_scatter", "as_strided_scatter", "split", "split_with_sizes", "unsafe_split",
    "unsafe_split_with_sizes", "chunk", "unsafe_chunk", "unbind", "tensor_split",
    "tril", "triu", "nonzero", "diag_embed", "block_diag", "max_unpool2d", "max_unpool3d",
    # concatenation, repetition, padding, reordering
    "cat", "stack", "hstack", "vstack", "repeat", "tile", "repeat_interleave", "roll", "flip",
    "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d", "_pad_circular", "pad",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "im2col",
    # copies and casts
    "clone", "contiguous", "copy", "_to_copy", "to", "_copy_from", "_copy_from_and_resize", "type_as",
    # creation and fills
    "empty", "empty_like", "empty_strided", "empty_permuted", "new_empty", "new_empty_strided", "zeros", "zeros_like",
    "new_zeros", "ones", "ones_like", "new_ones", "full", "full_like", "new_full", "fill", "zero",
    "scalar_tensor", "arange", "linspace", "eye", "tensor", "_local_scalar_dense", "item",
    "triu_indices", "tril_indices", "randint_like", "nonzero_static",
    # copies of views (the functionalised forms), rotations, unpacking, assembling
    "diagonal_copy", "expand_copy", "alias_copy", "as_strided_copy", "narrow_copy", "view_copy", "permute_copy",
    "split_copy", "split_with_sizes_copy", "unbind_copy", "unfold_copy", "squeeze_copy", "unsqueeze_copy",
    "transpose_copy", "t_copy", "select_copy", "slice_copy", "detach_copy", "view_as_real_copy",
    "view_as_complex_copy", "indices_copy", "values_copy", "rot90", "lu_unpack", "complex", "_chunk_cat",
    "rand", "rand_like", "randn", "randn_like", "randint", "randperm", "uniform", "normal",
    "exponential", "geometric", "cauchy", "log_normal", "random",
    "resize", "resize_as", "set", "one_hot",
    # queries of dtypes and sizes: no element is read
    "promote_types", "can_cast", "result_type", "is_same_size", "_has_compatible_shallow_copy_type",
    "sym_size", "sym_numel", "sym_stride", "sym_storage_offset",
    # checks that raise or not, computing nothing the model uses (linalg's error codes, asserts)
    "_linalg_check_errors", "_assert_async", "_assert_scalar", "_assert_tensor_metadata",
    "_functional_assert_async",
))


@op_rule(*_packets("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "native_dropout"))
def dropout_op(op) -> Cost:
    """``aten.dropout(x, p, train)`` when it reaches dispatch whole, or the fused
    ``native_dropout`` (p = 0, eval or an empty input: the identity): the terms of the Dropout module
    rule (``reshape.dropout_terms``; a feature dropout draws one per channel, N·C; p = 1 outside
    ``native_dropout``: a multiplication by zero per element)."""
    name = _base(op)
    p = op.args[1] if len(op.args) > 1 else op.kwargs.get("p", 0.5)
    train = op.args[2] if len(op.args) > 2 else op.kwargs.get("train", True)
    if not train or not p:
        return Cost()
    shape, e = op.inputs[0].shape, op.inputs[0].numel
    if not e:
        return Cost()
    noise = prod(shape[:2]) if name.startswith("feature") and len(shape) >= 2 else e
    # (native_dropout at p = 1 still draws its mask and scales by 0: the usual terms)
    return Cost.of(*dropout_terms(noise, e, name, alpha="alpha" in name, p=None if name == "native_dropout" else p))



@op_rule(*_packets("_fused_dropout"))
def fused_dropout_op(op) -> Cost:
    """``_fused_dropout(x, p, generator)``, CUDA's fused dropout kernel (``p`` the probability of
    keeping an element: PyTorch passes 1 − the dropout rate): the Dropout rule's terms, as
    ``native_dropout``; p = 1 keeps everything, an identity."""
    keep = float(schema_arg(op, "p", 1.0))
    if keep >= 1:
        return Cost()
    e = op.inputs[0].numel
    return Cost.of(*dropout_terms(e, e, "_fused_dropout"))

# ---- interpolation and sampling (what F.interpolate / F.grid_sample dispatch to) -----------
def _interpolation(mode: str, n: int, what: str) -> list[Term]:
    from .upsample import interpolation_terms  # (upsample.py is the family's file)

    return interpolation_terms(mode, n, f"{what}, {mode}")


_UPSAMPLE_MODES = {"upsample_linear1d": "linear", "upsample_bilinear2d": "bilinear",
                   "upsample_trilinear3d": "trilinear", "upsample_bicubic2d": "bicubic"}


@op_rule(*_packets(*_UPSAMPLE_MODES))
def upsample_op(op) -> Cost:
    """The nn.Upsample recipes per output element (rules/upsample.py); nearest modes are zero ops."""
    name = op.op.overloadpacket.__name__
    return Cost.of(*_interpolation(_UPSAMPLE_MODES[name], _out_numel(op), name))


def _f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


def _aa_taps(n_in: int, n_out: int, interp_size: int, align_corners: bool, scale_factor) -> int:
    """Σ over the outputs along one dim of the input samples each one weighs, as PyTorch's CPU
    antialiased kernel picks them (``_compute_indices_min_size_weights_aa``, in float32): the
    filter's support is interp_size/2 input samples, stretched by the scale when downsampling."""
    if align_corners:
        scale = _f32((n_in - 1) / (n_out - 1)) if n_out > 1 else 0.0
    else:
        scale = _f32(1.0 / scale_factor) if scale_factor else _f32(n_in / n_out)
    support = _f32(interp_size * 0.5 * scale) if scale >= 1.0 else interp_size * 0.5
    widest = math.ceil(support) * 2 + 1
    taps = 0
    for i in range(n_out):
        center = _f32(scale * (i + 0.5))
        lo = max(int(_f32(center - support) + 0.5), 0)
        taps += min(max(min(int(_f32(center + support) + 0.5), n_in) - lo, 0), widest)
    return taps


@op_rule(*_packets("_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa"))
def upsample_aa_op(op) -> Cost:
    """``F.interpolate(..., antialias=True)``, as the CPU kernel runs it: separable passes, the
    width first (every input row resampled to the output width), then the height, each over a
    dim whose size changes. An output of a pass weighs the input samples under the filter (2
    for bilinear, 4 for bicubic, times the scale when downsampling, fewer at the borders): one
    multiplication per sample weighed, one addition fewer. The weights themselves (per output
    index, not per pixel) are not counted."""
    name = _base(op)
    x, out = op.inputs[0], op.outputs[0]
    interp = 2 if "bilinear" in name else 4
    align = bool(_arg(op, 2, "align_corners", False))
    if op.op._overloadname == "vec":
        factors = _arg(op, 3, "scale_factors") or (None, None)
    else:
        factors = (_arg(op, 3, "scales_h"), _arg(op, 4, "scales_w"))
    (h_in, w_in), (h_out, w_out) = x.shape[-2:], out.shape[-2:]
    planes = prod(x.shape[:-2])
    terms = []
    for label, size_in, size_out, factor, lines in (("width", w_in, w_out, factors[1], planes * h_in),
                                                     ("height", h_in, h_out, factors[0], planes * w_out)):
        if size_in == size_out:
            continue
        taps = _aa_taps(size_in, size_out, interp, align, factor)
        terms += [Term("mults", f"multiplications ({name}, {label} pass)", "lines·Σtaps",
                       worked("{}×{}", lines, taps), lines * taps),
                  Term("adds", f"additions ({name}, {label} pass)", "lines·(Σtaps − outputs)",
                       worked("{}×({} − {})", lines, taps, size_out), lines * (taps - size_out))]
    return Cost.of(*terms)


zero_ops(*_packets("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
                   "_upsample_nearest_exact2d", "_upsample_nearest_exact3d"))


@op_rule(*_packets("grid_sampler_2d", "grid_sampler_3d", "cudnn_grid_sampler"))
def grid_sampler(op) -> Cost:
    """``grid_sampler_2d/3d(input (N, C, *in), grid (N, *out, d), interpolation_mode, padding_mode,
    align_corners)`` and ``cudnn_grid_sampler(input, grid)`` (what F.grid_sample runs on a GPU with
    cuDNN: bilinear, zero padding, align_corners=True only), as the CPU kernels compute them (the
    vectorised 2-D ``ApplyGridSample``, the scalar ``grid_sampler_3d_cpu_impl``), n = N·C·∏out
    output elements, P = N·∏out grid positions. Per position, shared by every channel (rules/_grid.py,
    as the backward prices them): the d coordinates un-normalised (2 mults + 1 add each), then
    bilinear: 4 side distances + 4 corner weights, per element v·w at the 4 corners summed (4 mults
    + 3 adds); trilinear: 6 face distances + 8 corner weights (16 mults), per element 8 mults + 7
    adds (every corner, an upper bound with zero padding: the kernel skips a corner off the volume,
    which only the grid tells); nearest: the coordinates rounded and the value copied (nothing
    more); bicubic: 2 fractional parts + 4 cubic coefficients per coordinate (12 mults + 13 adds
    each), per element 4 rows of 4 taps, then the 4 rows (5 four-tap sums: 20 mults + 15 adds).
    Padding modes' clipping and reflection, floors and index arithmetic are not counted, as in the
    backward."""
    name = _base(op)
    mode = int(schema_arg(op, "interpolation_mode", 0))  # (cudnn_grid_sampler: bilinear only)
    grid, out = op.args[1], op.outputs[0]
    coords = grid.shape[-1]
    n, positions = out.numel, grid.numel // coords
    per_position, per_element = worked("{}", grid.shape[:-1]), worked("{}", out.shape)
    terms = unnormalisation(coords, positions, per_position)
    if mode == 0:
        corners = 2 ** coords
        terms += [*corner_weights(coords, positions, per_position),
                  Term("mults", f"multiplications ({name}: v·w, {corners} corners)", f"{corners}·elements",
                       worked(f"{corners}×{{}}", per_element), corners * n),
                  Term("adds", f"additions ({name}: Σ over {corners} corners)", f"{corners - 1}·elements",
                       worked(f"{corners - 1}×{{}}", per_element), (corners - 1) * n)]
    elif mode == 2:
        terms += [*cubic_coefficients(positions, per_position),
                  Term("mults", f"multiplications ({name}: 4 rows of 4 taps, then the rows)", "20·elements",
                       worked("20×{}", per_element), 20 * n),
                  Term("adds", f"additions ({name}: 5 four-tap sums)", "15·elements",
                       worked("15×{}", per_element), 15 * n)]
    return Cost.of(*terms)


# ---- searching and sorting: comparison counts of the textbook algorithms --------------------
def _lines(op, dim_index: int = 1, default_dim: int = -1) -> tuple[int, int]:
    x = op.inputs[0]
    dim = op.kwargs.get("dim", op.args[dim_index] if len(op.args) > dim_index and
                        isinstance(op.args[dim_index], int) else default_dim)
    n = x.shape[dim] if x.shape else 1
    return x.numel // max(n, 1), n


@op_rule(*_packets("sort", "argsort", "msort"))
def sort_op(op) -> Cost:
    """A comparison sort: n·⌈log2 n⌉ comparisons per line."""
    lines, n = _lines(op)
    k = max(1, math.ceil(math.log2(n))) if n > 1 else 0
    return Cost.of(Term("cmps", "comparisons (sort)", "lines·n·⌈log2 n⌉", worked("{}×{}×{}", lines, n, k),
                        lines * n * k))


def _unique_counts(op, counts_requested: bool) -> "Term | None":
    """``return_counts``: one subtraction per distinct value (the distance between the
    boundaries of its run), known from the size of the counts output."""
    if not counts_requested or len(op.outputs) < 3:
        return None
    u = op.outputs[2].numel
    return Term("adds", "subtractions (counts)", "distinct values", u, u)


def _neighbours(m: int, length: int) -> Term:
    """Each of m values (rows of L) compared with the one before: (m − 1)·L (none of 0 values)."""
    if m == 0:
        return Term("cmps", "comparisons (neighbours)", "max(m − 1, 0)·L", worked("max({} − 1, 0)×{}", m, length), 0)
    return Term("cmps", "comparisons (neighbours)", "(m − 1)·L", worked("({} − 1)×{}", m, length), (m - 1) * length)


@op_rule(aten._unique2, aten.unique_dim)
def unique_op(op) -> Cost:
    """``torch.unique``: sort the values (rows, with ``dim``: a row comparison is up to L element
    comparisons), then compare each with its neighbour: m·⌈log2 m⌉·L + (m − 1)·L comparisons
    (L = 1 without ``dim``; the sort-based algorithm, also for ``sorted=False``)."""
    x = op.inputs[0]
    by_dim = op.op.overloadpacket is aten.unique_dim
    if by_dim:
        dim = op.args[1] if len(op.args) > 1 else op.kwargs["dim"]
        m = x.shape[dim] if x.shape else 1
        length = x.numel // max(m, 1)
        counts = _arg(op, 4, "return_counts", False)
    else:
        m, length = x.numel, 1
        counts = _arg(op, 3, "return_counts", False)
    k = max(1, math.ceil(math.log2(m))) if m > 1 else 0
    return Cost.of(
        Term("cmps", "comparisons (sort)", "m·⌈log2 m⌉·L", worked("{}×{}×{}", m, k, length), m * k * length),
        _neighbours(m, length),
        _unique_counts(op, counts))


@op_rule(aten.unique_consecutive)
def unique_consecutive_op(op) -> Cost:
    """``torch.unique_consecutive``: each value (row, with ``dim``) compared with the one before:
    (m − 1)·L comparisons."""
    x = op.inputs[0]
    dim = _arg(op, 3, "dim", None)
    m = (x.shape[dim] if x.shape else 1) if dim is not None else x.numel
    length = x.numel // max(m, 1) if dim is not None else 1
    return Cost.of(
        _neighbours(m, length),
        _unique_counts(op, _arg(op, 2, "return_counts", False)))


def _selection_per_line(n: int, k: int) -> int:
    """Comparisons to select k of n with a heap of k: n·⌈log2 k⌉, at least n − 1."""
    return max(n - 1, n * math.ceil(math.log2(k)) if k > 1 else n - 1)


@op_rule(*_packets("topk", "kthvalue"))
def topk_op(op) -> Cost:
    """Selection with a heap of k: n·⌈log2 k⌉ comparisons per line (at least n − 1)."""
    x = op.inputs[0]
    k = op.args[1] if len(op.args) > 1 else 1
    dim = op.kwargs.get("dim", op.args[2] if len(op.args) > 2 else -1)
    n = x.shape[dim] if x.shape else 1
    lines = x.numel // max(n, 1)
    per = _selection_per_line(n, k)
    log_k = math.ceil(math.log2(k)) if k > 1 else 0
    # (each symbol written out: "2×max(15, 16×2)", not the max's result alone)
    return Cost.of(Term("cmps", "comparisons (selection)", "lines·max(n − 1, n·⌈log2 k⌉)",
                        worked("{}×max({}, {}×{})", lines, n - 1, n, log_k), lines * per))


@op_rule(*_packets("bucketize", "searchsorted"))
def binary_search(op) -> Cost:
    """A binary search per value: ⌈log2(boundaries + 1)⌉ comparisons (none without boundaries)."""
    name = op.op.overloadpacket.__name__
    tensors = op.inputs
    boundaries, values = (tensors[1], tensors[0]) if name == "bucketize" else (tensors[0], tensors[1] if
                                                                                len(tensors) > 1 else tensors[0])
    b = boundaries.shape[-1] if boundaries.shape else 1
    k = math.ceil(math.log2(b + 1))
    n = op.outputs[0].numel
    return Cost.of(Term("cmps", "comparisons (binary search)", "values·⌈log2(b + 1)⌉", worked("{}×{}", n, k),
                        n * k))


@op_rule(*_packets("multinomial"))
def multinomial(op) -> Cost:
    """``torch.multinomial(p, n)`` as PyTorch's kernels draw: without replacement, or one sample
    per row (how an LLM samples its next token), the exponential trick — the weights checked
    finite and ≥ 0 (a max and a min over all of them), each divided by an Exp(1) draw (the
    draws themselves count as a random factory's: 0), then an argmax per row (one sample) or a
    top-n selection (as ``topk``). With replacement and n > 1: per row the cumulative sum of its
    c weights, each divided by the total, then a binary search per sample
    (⌈log2(c + 1)⌉ comparisons)."""
    p = op.inputs[0]
    samples = op.args[1] if len(op.args) > 1 else op.kwargs.get("num_samples", 1)
    replacement = op.args[2] if len(op.args) > 2 else op.kwargs.get("replacement", False)
    c = p.shape[-1] if p.shape else 1
    rows, n = p.numel // max(c, 1), p.numel
    if replacement and samples > 1:
        k = max(1, math.ceil(math.log2(c + 1)))
        return Cost.of(
            Term("adds", "additions (cumulative sum)", "rows·(c − 1)", worked("{}×({} − 1)", rows, c),
                 rows * max(c - 1, 0)),
            Term("divs", "divisions (normalise)", "rows·c", worked("{}×{}", rows, c), n),
            Term("cmps", "comparisons (binary search per sample)", "rows·samples·⌈log2(c + 1)⌉",
                 worked("{}×{}×{}", rows, samples, k), rows * samples * k))
    per_row = _selection_per_line(c, samples)  # (one sample: the argmax's c − 1)
    return Cost.of(
        Term("cmps", "comparisons (weights checked: max and min)", "2·(elements − 1)", worked("2×({} − 1)", n),
             2 * max(n - 1, 0)),
        Term("divs", "divisions (weight / Exp(1) draw)", "elements", n, n),
        Term("cmps", "comparisons (argmax per row)" if samples == 1 else "comparisons (selection of n per row)",
             "rows·(c − 1)" if samples == 1 else "rows·max(c − 1, c·⌈log2 n⌉)", worked("{}×{}", rows, per_row),
             rows * per_row))


@op_rule(*_packets("histc"))
def histc(op) -> Cost:
    """A histogram of ``bins`` equal bins (MoE routers count tokens per expert with it): per
    element 2 comparisons (inside the range), a subtraction and a multiplication (its bin,
    (x − min)·bins/(max − min)) and an addition (the count); with min = max the range is the
    data's: 2 more comparisons per element (its min and max)."""
    n = op.inputs[0].numel
    lo, hi = _arg(op, 2, "min", 0), _arg(op, 3, "max", 0)
    return Cost.of(*_equal_bins_terms(n, lo == hi))


def _equal_bins_terms(n: int, data_range: bool) -> list[Term]:
    return [
        Term("cmps", "comparisons (range of the data)", "2·elements", worked("2×{}", n), 2 * n) if data_range else None,
        Term("cmps", "comparisons (inside the range)", "2·elements", worked("2×{}", n), 2 * n),
        Term("adds", "subtractions (x − min)", "elements", n, n),
        Term("mults", "multiplications (bin position)", "elements", n, n),
        Term("adds", "additions (counts)", "elements", n, n)]


@op_rule(*_packets("histogram"))
def histogram(op) -> Cost:
    """``torch.histogram(x, bins)``: with a number of equal bins, the ``histc`` terms (the range
    the data's unless ``range`` is given); with the bin edges as a tensor of b edges, a binary
    search per element (⌈log2 b⌉ comparisons) and the count. ``weight`` adds each element's
    weight instead of 1 (the same additions); ``density`` then divides the bins by their sum
    times the bin width (bins − 1 additions, bins divisions)."""
    n = op.inputs[0].numel
    bins = _arg(op, 1, "bins", 100)
    if hasattr(bins, "shape"):  # the edges, as a tensor
        edges = max(bins.numel, 1)
        steps = math.ceil(math.log2(edges)) if edges > 1 else 0
        terms = [Term("cmps", "comparisons (binary search of the edges)", "elements·⌈log2 edges⌉",
                      worked("{}×{}", n, steps), n * steps),
                 Term("adds", "additions (counts)", "elements", n, n)]
        count = edges - 1
    else:
        terms = _equal_bins_terms(n, op.kwargs.get("range") is None)
        count = int(bins)
    if op.kwargs.get("density"):
        terms += [Term("adds", "additions (sum of the bins)", "bins − 1", worked("{} − 1", count), max(count - 1, 0)),
                  Term("divs", "divisions (density)", "bins", count, count)]
    return Cost.of(*terms)


@op_rule(*_packets("logspace"))
def logspace(op) -> Cost:
    """``torch.logspace(start, end, steps, base)``: base^p per point, p spaced as ``linspace``
    places it (free, as linspace's points are)."""
    n = _out_numel(op)
    return Cost.of(Term("transc", "powers base^p", "steps", n, n))


# ---- scattering that accumulates: one op per element scattered ------------------------------
#: reduce= of scatter / scatter_reduce / index_reduce → the category of one accumulation step
_REDUCE_STEP = {"add": "adds", "sum": "adds", "mean": "adds", "multiply": "mults", "prod": "mults",
                "amax": "cmps", "amin": "cmps"}


def _arg(op, i: int, name: str, default=None):
    return op.args[i] if len(op.args) > i else op.kwargs.get(name, default)


def _reduction_terms(op, reduce: str, n: int, what: str, counted: str) -> list[Term]:
    """``n`` accumulation steps of ``reduce`` (one per element scattered into the output). A mean
    then runs what ``scatter_reduce``'s and ``index_reduce``'s general kernels run after the sum
    (TensorAdvancedIndexing.cpp, CPU and CUDA): the values per position counted into a float
    tensor (``count.scatter_add_(…, ones)``: n additions), the empty positions' counts set to 1
    (``count == 0``: a comparison, then an assignment, per output position) and every output
    position divided by its count (``out.div_(count)``: one division per output position, also
    those that received nothing). The CPU fast path for an expanded (broadcast) index along dim 0
    (PyG's message-passing pattern) counts from its sorted index instead and divides only the rows
    that receive a value: fewer, which only the index's values tell."""
    cat = _REDUCE_STEP[reduce]
    terms = [Term(cat, f"{CATEGORY_NAMES[cat]} ({what}, {reduce})", counted, n, n)]
    if reduce == "mean":
        out = op.args[0].numel
        terms += [Term("adds", f"additions ({what}, mean: counting the values per position)", counted, n, n),
                  Term("cmps", f"comparisons ({what}, mean: empty positions, count = 0)", "outputs", out, out),
                  Term("assigns", f"assignments ({what}, mean: an empty position's count set to 1)", "outputs",
                       out, out),
                  Term("divs", f"divisions ({what}, mean: each position by its count)", "outputs", out, out)]
    return terms


def _put_in_place(op, cost: Cost, n: int, accumulates: bool = False) -> Cost:
    """The bytes of ``cost``'s op when it writes ``n`` elements into ``self`` in place
    (``index_put_``, ``scatter_``, ``index_copy_``, a KV cache's ``index_copy_``): it reads its
    other arguments (indices, values) and, when it accumulates, the ``n`` elements it adds into;
    it writes those ``n`` elements, not the whole tensor. Out of place the op copies ``self``
    first: the default traffic (every input read, the new output written), ``cost`` unchanged."""
    if not op.op.overloadpacket.__name__.endswith("_"):
        return cost
    size = op.args[0].nbytes // max(op.args[0].numel, 1)  # bytes per element of self
    read = sum([t.nbytes for t in op.inputs[1:]]) + (n * size if accumulates else 0)
    return cost.with_bytes(read, n * size)


@op_rule(*_packets("scatter", "index_copy", "index_fill"))
def scattered(op) -> Cost:
    """``scatter(self, dim, index, src | value)``, ``index_copy(self, dim, index, source)``,
    ``index_fill(self, dim, index, value)``: no arithmetic, only the bytes of what they put
    (see ``_put_in_place``): one element per index element, per source element, or per index
    entry times the slice it fills."""
    name = _base(op)
    target = op.args[0]
    if name == "scatter":
        n = op.args[2].numel
    elif name == "index_copy":
        n = op.args[3].numel
    else:
        dim = op.args[1] % max(len(target.shape), 1)
        n = op.args[2].numel * (target.numel // max(target.shape[dim], 1) if target.shape else 1)
    return _put_in_place(op, Cost(), n)


@op_rule(*[getattr(packet, overload) for packet in _packets("scatter")
           for overload in ("reduce", "value_reduce", "reduce_out", "value_reduce_out")
           if hasattr(packet, overload)])
def scatter_reduction(op) -> Cost:
    """``scatter(self, dim, index, src | value, reduce="add" | "multiply")``: one addition or
    multiplication per index element (only the index's extent of src is used). A plain scatter
    (no reduce) is a known-zero op: these overload rules are looked up before it."""
    n = op.args[2].numel
    return _put_in_place(op, Cost.of(*_reduction_terms(op, _arg(op, 4, "reduce"), n, _base(op), "index elements")),
                         n, accumulates=True)


@op_rule(*_packets("scatter_add", "scatter_reduce"))
def scatter_accumulate(op) -> Cost:
    """``scatter_add(self, dim, index, src)`` and ``scatter_reduce(self, dim, index, src, reduce)``:
    one step per index element ('sum'/'mean' add, 'prod' multiplies, 'amax'/'amin' compare; a
    mean then counts and divides, see ``_reduction_terms``). With include_self=False the kernel
    first sets each position the index names to the reduction's identity (0, 1, ∓inf: a write, no
    arithmetic) and then combines every value into it: still one step per index element (the first
    value into a position is, as arithmetic, a copy; the kernel combines it all the same).
    PyG's ``scatter(…, reduce="max")`` is ``zeros.scatter_reduce_(…, "amax", include_self=False)``:
    E·F comparisons for E messages of F features."""
    name = _base(op)
    reduce = "add" if name == "scatter_add" else _arg(op, 4, "reduce")
    n = op.args[2].numel
    return _put_in_place(op, Cost.of(*_reduction_terms(op, reduce, n, name, "index elements")), n, accumulates=True)


@op_rule(*_packets("index_add", "index_reduce"))
def index_accumulate(op) -> Cost:
    """``index_add(self, dim, index, source, alpha=1)`` (α ≠ 1: one more multiplication per element)
    and ``index_reduce(self, dim, index, source, reduce)``: one step per source element (a mean
    then counts and divides as ``scatter_reduce``'s, see ``_reduction_terms``)."""
    name = _base(op)
    n = op.args[3].numel
    if name == "index_add":
        alpha = op.kwargs.get("alpha", 1)
        terms = _reduction_terms(op, "add", n, name, "source elements")
        if alpha != 1:
            terms.append(Term("mults", "multiplications (α·source)", "source elements", n, n))
        return _put_in_place(op, Cost.of(*terms), n, accumulates=True)
    return _put_in_place(op, Cost.of(*_reduction_terms(op, _arg(op, 4, "reduce"), n, name, "source elements")),
                         n, accumulates=True)


def _values_put(op) -> tuple[int, object]:
    """How many values ``index_put(self, indices, values)`` writes: the broadcast shape of the
    index tensors times the dims of ``self`` they leave whole. A boolean mask selects a number of
    elements the shapes do not tell: then the values given (exact unless they are broadcast)."""
    target, indices, values = op.args[0], list(op.args[1]), op.args[2]
    if any(t is not None and t.dtype in (torch.bool, torch.uint8) for t in indices):
        return values.numel, values.numel
    shapes = [t.shape for t in indices if t is not None]
    indexed = math.prod(torch.broadcast_shapes(*shapes)) if shapes else 1
    whole = math.prod(size for k, size in enumerate(target.shape) if k >= len(indices) or indices[k] is None)
    return indexed * whole, worked("{}×{}", indexed, whole)


@op_rule(*_packets("index_put", "_index_put_impl", "put"))
def put_accumulate(op) -> Cost:
    """``index_put(self, indices, values, accumulate)`` and ``put(self, index, source, accumulate)``:
    a plain write (no arithmetic) unless accumulate=True, then one addition per value put.
    In place they write (and read, accumulating) only the values put (``_put_in_place``)."""
    accumulate = _arg(op, 3, "accumulate", False)
    name = _base(op)
    if name == "put":
        n, substituted, counted = op.args[1].numel, op.args[1].numel, "index elements"
    else:
        (n, substituted), counted = _values_put(op), \
            "values put: ∏indexed shape·∏dims left whole (a boolean mask: values given)"
    cost = Cost.of(Term("adds", f"additions ({name}, accumulate)", counted, substituted, n)) if accumulate else Cost()
    return _put_in_place(op, cost, n, accumulates=accumulate)


def _overlap(n: int, k: int, d: int = 1, p: int = 0, st: int = 1) -> tuple[int, int]:
    """Blocks of ``k`` taps (dilation ``d``, stride ``st``) over ``n`` positions padded by ``p``:
    (taps landing inside, positions covered). Summing them into the output takes the difference
    in additions (the first tap into a position is a copy)."""
    hits = [0] * n
    for b in range((n + 2 * p - d * (k - 1) - 1) // st + 1):
        for j in range(k):
            pos = b * st + j * d - p
            if 0 <= pos < n:
                hits[pos] += 1
    return sum(hits), sum(1 for h in hits if h)


@op_rule(*_packets("unfold_backward"))
def unfold_backward(op) -> Cost:
    """``unfold_backward(blocks, input_sizes, dim, size, step)``: the blocks of ``Tensor.unfold``
    summed back into a tensor of ``input_sizes`` — an overlap-add (``torch.istft``'s frames,
    Griffin-Lim): taps inside − positions covered, per plane."""
    sizes, dim, size, step = [int(v) for v in op.args[1]], int(op.args[2]), int(op.args[3]), int(op.args[4])
    dim %= len(sizes)
    taps, covered = _overlap(sizes[dim], size, 1, 0, step)
    planes = math.prod(sizes) // max(sizes[dim], 1)
    return Cost.of(Term("adds", "additions (overlap-add)", "planes·(taps inside − positions covered)",
                        worked("{}×({} − {})", planes, taps, covered), planes * (taps - covered)))


@op_rule(*_packets("col2im"))
def col2im(op) -> Cost:
    """``F.fold``: the taps of all blocks are summed into the output; a tap landing in the padding
    is dropped, and the first tap into a position is a copy. Per plane: taps inside − positions
    covered, separable per dim (no padding and every position covered: N·C·∏kernel·L − N·C·H·W)."""
    sizes = [int(v) for v in _arg(op, 1, "output_size")]

    def pair(i, name):
        v = _arg(op, i, name)
        return [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)] * len(sizes)

    kernel, dilation, padding, stride = (pair(2, "kernel_size"), pair(3, "dilation"), pair(4, "padding"),
                                         pair(5, "stride"))
    taps, covered = zip(*[_overlap(n, k, d, p, st) for n, k, d, p, st in zip(sizes, kernel, dilation, padding, stride)])
    planes = op.outputs[0].numel // max(math.prod(sizes), 1)
    value = planes * (math.prod(taps) - math.prod(covered))
    return Cost.of(Term("adds", "additions (fold: overlapping taps)", "planes·(∏taps inside − ∏positions covered)",
                        worked("{}×({} − {})", planes, tuple(taps), tuple(covered)), value))


@op_rule(*[getattr(packet, "decimals") for packet in _packets("round") if hasattr(packet, "decimals")])
def round_decimals(op) -> Cost:
    """``torch.round(x, decimals=d)``: x·10^d rounded, then ÷ 10^d."""
    return Cost.of(*recipe_terms({"mults": 1, "cmps": 1, "divs": 1}, _out_numel(op), "round to decimals"))


@op_rule(*_packets("logit"))
def logit(op) -> Cost:
    """``log(x / (1 − x))``: a subtraction, a division and a log per element; with ``eps`` the
    input is clamped to [eps, 1 − eps] first (2 comparisons and an assignment)."""
    recipe = {"adds": 1, "divs": 1, "transc": 1}
    if _arg(op, 1, "eps") is not None:
        recipe.update(cmps=2, assigns=1)
    return Cost.of(*recipe_terms(recipe, _out_numel(op), "logit"))


@op_rule(*_packets("_conj_physical", "conj_physical"), complex_aware=True)
def conj_physical(op) -> Cost:
    """The conjugate materialised: the imaginary parts negated (a multiplication by −1 each, as
    ``neg``); a real tensor is only copied."""
    if not op.inputs[0].dtype.is_complex:
        return Cost()
    n = _out_numel(op)
    return Cost.of(Term("mults", "negations (imaginary parts)", "elements", n, n))


@op_rule(*_packets("allclose"))
def allclose(op) -> Cost:
    """The ``isclose`` test per element (broadcast), then their conjunction (elements − 1)."""
    n = prod(torch.broadcast_shapes(*[t.shape for t in op.inputs[:2]]))
    return Cost.of(Term("cmps", "comparisons (isclose)", "elements", n, n),
                   reduced("cmps", "conjunction (all)", n, 1, "elements − 1"))


@op_rule(*_packets("bincount"))
def bincount(op) -> Cost:
    """``torch.bincount(x, weights)``: one addition per value counted (its weight added, with
    weights); the bins are allocated zeroed."""
    n = op.inputs[0].numel
    return Cost.of(Term("adds", "additions (counts)", "values", n, n))


@op_rule(*_packets("mvlgamma"))
def mvlgamma(op) -> Cost:
    """``torch.mvlgamma(x, p)`` = a constant + Σ_{i<p} lgamma(x − i/2): per element p − 1
    subtractions, p lgammas, p − 1 additions and the constant added."""
    n, p = _out_numel(op), int(_arg(op, 1, "p"))
    return Cost.of(*recipe_terms({"adds": 2 * p - 1, "transc": p}, n, f"mvlgamma, p = {p}"))


@op_rule(*_packets("count_nonzero"))
def count_nonzero(op) -> Cost:
    n, out = op.inputs[0].numel, op.outputs[0].numel
    return Cost.of(Term("cmps", "comparisons with 0", "inputs", n, n),
                   reduced("adds", "additions (count)", n, out))


@op_rule(*_packets("_nested_tensor_from_mask_left_aligned"))
def mask_left_aligned(op) -> Cost:
    """``_nested_tensor_from_mask_left_aligned(t, mask)``: TransformerEncoder's check that a padding
    mask (N, L) is left-aligned, one comparison per mask element (not per element of the input t)."""
    n = schema_arg(op, "mask").numel
    return Cost.of(Term("cmps", "mask alignment check", "mask elements", n, n))


@op_rule(*_packets("isin"))
def isin_op(op) -> Cost:
    """Each element tested against each test element (m comparisons), the answers or-ed (m − 1):
    the direct algorithm PyTorch runs for a small test set (a large one is sorted first, fewer
    comparisons: this is the upper bound). Generation's end-of-sequence check."""
    # (elements, test_elements): either may be a number (the Scalar_Tensor / Tensor_Scalar overloads)
    n, m = (getattr(a, "numel", 1) for a in op.args[:2])
    return Cost.of(Term("cmps", "comparisons (isin)", "elements·test elements", worked("{}×{}", n, m), n * m),
                   Term("cmps", "or of the answers", "elements·(test elements − 1)", worked("{}×({} − 1)", n, m),
                        n * max(m - 1, 0)))


@op_rule(*_packets("embedding", "index_select", "gather", "take", "index", "_unsafe_index", "_unsafe_masked_index"))
def gathered(op) -> Cost:
    """A look-up (``F.embedding``, ``index_select``, ``gather``, advanced indexing): no arithmetic;
    it reads the elements it picks (as many as it writes) and the indices, not the whole source,
    as nn.Embedding's rule counts its rows."""
    out = op.outputs[0]
    indices = sum(t.nbytes for t in op.inputs[1:])  # (the source is the first argument: self, or the weight)
    return Cost().with_bytes(out.nbytes + indices, out.nbytes)


# ---- profiler markers: torch.optim's step() and every ``record_function`` block dispatch them;
# they mark a time range for a profiler, touching no tensor data
zero_ops(*(getattr(torch.ops.profiler, name) for name in (
    "_record_function_enter", "_record_function_enter_new", "_record_function_exit",
    "_call_end_callbacks_on_jit_fut") if hasattr(torch.ops.profiler, name)))


for _uncounted_op in ("aten.gcd", "aten.lcm"):  # (no rule: see docs/coverage.md)
    why_uncounted(_uncounted_op, "Euclid's algorithm: how many steps it takes depends on the values (no formula)")
for _uncounted_op in [f"aten.special_{kind}_polynomial_{letter}" for kind, letters in
                      (("chebyshev", "tuvw"), ("shifted_chebyshev", "tuvw"), ("hermite", ("h", "he")),
                       ("laguerre", "l"), ("legendre", "p")) for letter in letters]:
    why_uncounted(_uncounted_op, "an orthogonal polynomial by its recurrence, one step per degree: a degree given "
                                 "as a tensor sets the steps per element, and the Chebyshev kernels take shortcuts "
                                 "the values decide (|x| = 1; cos(n·acos x) above degree 6); no formula yet for a "
                                 "degree given as a number either")
