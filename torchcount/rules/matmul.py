"""Op rules for contractions run outside a module rule: mm, addmm, bmm, baddbmm, and the
aten convolution ops (what F.linear, torch.matmul, @, F.conv* dispatch to)."""
from __future__ import annotations

import math

import torch

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg
from .linear import bilinear_macs
from .reshape import dropout_terms
from .registry import aten, op_rule, why_uncounted


@op_rule(aten.mm, aten.addmm, aten.bmm, aten.baddbmm)
def matmul(op) -> Cost:
    """A·B (batch·m·k·n MACs; m·k·n for mm/addmm); ``addmm``/``baddbmm`` compute β·bias + α·(A·B): one addition per
    output (none with β = 0, which ignores the bias), one multiplication per output for α ≠ 1
    and one for β ∉ {0, 1} (GPT-2's and BLOOM's scaled attention scores)."""
    name = op.op.overloadpacket.__name__
    if name in ("addmm", "baddbmm"):  # (β and α: _scaled_sum_terms)
        bias, a, b = op.inputs[:3]
    else:
        (a, b), bias = op.inputs[:2], None
    *batch, m, k = a.shape
    n = b.shape[-1]
    rows = prod(batch) * m
    out = rows * n
    # mm/addmm have no batch: their formula names only the factors the line writes out
    if batch:
        formula, macs, outputs = "batch·m·k·n", worked("{}×{}×{}×{}", batch, m, k, n), "batch·m·n"
    else:
        formula, macs, outputs = "m·k·n", worked("{}×{}×{}", m, k, n), "m·n"
    return Cost.of(
        Term("macs", f"multiply-accumulates ({name})", formula, macs, rows * k * n),
        *(_scaled_sum_terms(op, out, outputs) if bias is not None else ()),
    )


def _scaled_sum_terms(op, out: int, formula: str, product: str = "A·B") -> list:
    """β·M + α·(product), per output: one addition (none with β = 0, which ignores M), one
    multiplication for α ≠ 1 and one for β ∉ {0, 1} (addmm, baddbmm, addmv, addbmm, addr)."""
    beta, alpha = schema_arg(op, "beta", 1), schema_arg(op, "alpha", 1)
    return [
        Term("mults", f"scaling α·({product})", formula, out, out) if alpha != 1 else None,
        Term("mults", "scaling β·M", formula, out, out) if beta not in (0, 1) else None,
        Term("adds", "additions (+ M)", formula, out, out) if beta != 0 else None,
    ]


@op_rule(aten._grouped_mm)
def grouped_mm(op) -> Cost:
    """``torch._grouped_mm`` (Mixture-of-Experts layers: each token through its expert's weight).
    2-D × 3-D with ``offs`` (rows grouped by expert): S·K·N; 3-D × 3-D: G·S·K·N; 3-D × 2-D (the
    columns grouped): S·K·N; 2-D × 2-D (the contraction grouped): S·K·N. Every row is taken as
    computed (the last offset is the number of rows: only shapes reach the rule)."""
    a, b = op.inputs[0], op.inputs[1]
    if len(a.shape) == 3 and len(b.shape) == 2:  # each group's slice of b's columns, same rows
        rows, k, n = a.shape[1], a.shape[2], b.shape[-1]
        formula = "S·K·N (groups split N)"
    else:
        rows, k, n = prod(a.shape[:-1]), a.shape[-1], b.shape[-1]
        formula = "rows·K·N"
    return Cost.of(Term("macs", "multiply-accumulates (grouped mm)", formula, worked("{}×{}×{}", rows, k, n),
                        rows * k * n))


@op_rule(aten.convolution, aten._convolution)
def convolution(op) -> Cost:
    x, w = op.inputs[0], op.inputs[1]
    transposed = bool(op.args[6]) if len(op.args) > 6 else False
    out = op.outputs[0]
    has_bias = len(op.inputs) > 2 and op.args[2] is not None
    spatial = len(w.shape) - 2
    if transposed:
        positions = prod(x.shape[-spatial:]) * (x.shape[0] if len(x.shape) == spatial + 2 else 1)
    else:
        positions = prod(out.shape[-spatial:]) * (out.shape[0] if len(out.shape) == spatial + 2 else 1)
    macs = prod(w.shape) * positions
    return Cost.of(
        Term("macs", "multiply-accumulates (convolution)", "∏weight·positions",
             worked("{}×{}", w.shape, positions), macs),
        Term("adds", "bias additions", "outputs", out.numel, out.numel) if has_bias else None,
    )



@op_rule(aten.cudnn_convolution, aten.cudnn_convolution_transpose, aten.cudnn_convolution_relu,
         aten.cudnn_convolution_add_relu, aten.miopen_convolution, aten.miopen_convolution_transpose,
         aten.miopen_depthwise_convolution, aten.miopen_convolution_relu, aten.miopen_convolution_add_relu)
def gpu_convolution(op) -> Cost:
    """The GPU libraries' convolution ops (what ``aten.convolution`` runs on CUDA/ROCm, seen only when
    called directly): ∏weight MACs per output position (per input position when transposed), as
    ``convolution``; the bias added to every output where one is given (the cuDNN ones take none but
    the fused ``_relu`` forms); ``*_add_relu`` adds α·z (a multiplication per output unless α is 1)
    and both ``*_relu`` take the ReLU (1 comparison + 1 assignment per output)."""
    name = op.op.overloadpacket.__name__
    x, w, out = op.args[0], op.args[1], op.outputs[0]
    spatial = len(w.shape) - 2
    ref = x if "transpose" in name else out
    positions = prod(ref.shape[-spatial:]) * (ref.shape[0] if len(ref.shape) == spatial + 2 else 1)
    n = out.numel
    has_bias = schema_arg(op, "bias") is not None
    terms = [Term("macs", "multiply-accumulates (convolution)", "∏weight·positions",
                  worked("{}×{}", w.shape, positions), prod(w.shape) * positions),
             Term("adds", "bias additions", "outputs", n, n) if has_bias else None]
    if name.endswith("add_relu"):
        alpha = schema_arg(op, "alpha")
        if alpha is not None and alpha != 1:
            terms.append(Term("mults", "multiplications α·z", "outputs", n, n))
        terms.append(Term("adds", "additions of z", "outputs", n, n))
    if name.endswith("relu"):
        terms += [Term("cmps", "ReLU comparisons", "outputs", n, n),
                  Term("assigns", "ReLU assignments", "outputs", n, n)]
    return Cost.of(*terms)

@op_rule(aten.conv_tbc)
def conv_tbc(op) -> Cost:
    """``torch.conv_tbc(x (T, B, C_in), weight (K, C_in, C_out), bias (C_out), pad)``: a 1-D
    convolution in time-batch-channel layout (fairseq's): ∏weight MACs per output position, and
    the bias added to every output."""
    w, out = op.inputs[1], op.outputs[0]
    positions = out.shape[0] * out.shape[1]
    return Cost.of(
        Term("macs", "multiply-accumulates (convolution)", "∏weight·positions",
             worked("{}×{}", w.shape, positions), prod(w.shape) * positions),
        Term("adds", "bias additions", "outputs", out.numel, out.numel))


@op_rule(aten.affine_grid_generator, aten.cudnn_affine_grid_generator)
def affine_grid(op) -> Cost:
    """``F.affine_grid(theta, size)``: every grid point's coordinates are θ times its homogeneous
    base coordinates (x, y, 1) — or (x, y, z, 1) in 3-D: d + 1 MACs per output coordinate.
    ``cudnn_affine_grid_generator(theta, N, C, H, W)`` (F.affine_grid on a GPU with cuDNN: 2-D,
    align_corners=True) is priced alike: its grid (N, H, W, 2) is the same product."""
    out = op.outputs[0]
    d = out.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates (θ·base grid)", "output coordinates·(d + 1)",
                        worked("{}×{}", out.numel, d + 1), out.numel * (d + 1)))


@op_rule(aten.cudnn_affine_grid_generator_backward)
def cudnn_affine_grid_backward(op) -> Cost:
    """``cudnn_affine_grid_generator_backward(grad (N, H, W, 2), N, C, H, W)``: θ's gradient, the
    base grid's transpose times the grid's gradient, (N, 3, H·W)·(N, H·W, 2), as the CPU path
    computes it (``affine_grid_generator_backward``: that ``bmm``): 3 MACs per gradient coordinate,
    as many as the forward."""
    grad = op.args[0]
    d = grad.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates (base gridᵀ·grad)", "grad coordinates·(d + 1)",
                        worked("{}×{}", grad.numel, d + 1), grad.numel * (d + 1)))


@op_rule(aten.linalg_cross)
def cross(op) -> Cost:
    """``torch.linalg.cross``: per 3-vector, 6 multiplications and 3 subtractions."""
    vectors = op.outputs[0].numel // 3
    return Cost.of(Term("mults", "multiplications (cross product)", "6·vectors", worked("6×{}", vectors), 6 * vectors),
                   Term("adds", "subtractions (cross product)", "3·vectors", worked("3×{}", vectors), 3 * vectors))


# ---- composite contractions, which the recorder runs as their parts (mm, bmm): for completeness ----
@op_rule(aten.matmul, aten.linear)
def matmul_general(op) -> Cost:
    a = op.inputs[0]
    out = op.outputs[0]
    k = a.shape[-1]
    is_linear = op.op.overloadpacket is aten.linear
    has_bias = is_linear and schema_arg(op, "bias") is not None
    return Cost.of(
        Term("macs", f"multiply-accumulates ({op.op.overloadpacket.__name__})", "outputs·k",
             worked("{}×{}", out.numel, k), out.numel * k),
        Term("adds", "bias additions", "outputs", out.numel, out.numel) if has_bias else None,
    )


# ---- scaled dot-product attention, every backend ------------------------------------------
_SDPA = [getattr(aten, n) for n in (  # (one this torch lacks is a MissingOp, which registering skips)
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable", "_scaled_dot_product_attention_math",
    "_scaled_dot_product_attention_math_for_mps", "scaled_dot_product_attention",
)]


def sdpa_terms(q: tuple, k: tuple, v: tuple, *, masked: bool, causal: bool, dropout: bool) -> list[Term]:
    """SDPA as its reference ("math") implementation computes it, so that the fused kernels and
    the decomposition PyTorch runs on meta (or with dropout on CPU) cost the same:
    q and k each scaled by √scale (B·(L + S)·E multiplications), scores Q·Kᵀ (B·L·S·E MACs,
    B = batch × heads), one mask addition per score if a mask is given or the call is causal
    (causal: plus L·S assignments building the mask), softmax over S for B·L rows, dropout if
    p > 0 (keep decision, mask scaling, mask multiplication per score), and the weighted sum (B·L·S·Ev MACs). A causal call is counted at full size: the
    masked half of the scores is computed and then discarded by the reference implementation."""
    from .activation import softmax_terms

    *batch, L, E = q
    S, Ev = k[-2], v[-1]
    B = prod(batch)
    scores = B * L * S
    terms = [
        Term("mults", "scaling of q and k by √scale (the scores' scale, as PyTorch applies it)", "B·(L + S)·E", worked("{}×({} + {})×{}", B, L, S, E),
             B * (L + S) * E),
        Term("macs", "scores Q·Kᵀ", "B·L·S·E", worked("{}×{}×{}×{}", B, L, S, E), scores * E),
    ]
    if causal:
        terms.append(Term("assigns", "causal mask construction", "L·S", worked("{}×{}", L, S), L * S))
    if masked or causal:
        terms.append(Term("adds", "mask additions", "B·L·S", worked("{}×{}×{}", B, L, S), scores))
    terms += softmax_terms(B * L, S, rows=("B·L", (B, L)), n_name="S")
    if dropout:
        # as the reference implementation: a keep mask (bernoulli), the mask scaled by 1/(1 − p), applied
        terms += dropout_terms(scores, scores, "attention weights")
    terms.append(Term("macs", "weighted sum A·V", "B·L·S·Ev", worked("{}×{}×{}×{}", B, L, S, Ev), scores * Ev))
    return terms


@op_rule(*_SDPA)
def scaled_dot_product_attention(op) -> Cost:
    q, k, v = (t.shape for t in op.inputs[:3])
    mask = schema_arg(op, "attn_mask", schema_arg(op, "attn_bias"))
    dropout = schema_arg(op, "dropout_p", 0.0) or 0.0
    causal = bool(schema_arg(op, "is_causal", False))
    terms = sdpa_terms(q, k, v, masked=mask is not None, causal=causal, dropout=dropout > 0)
    if op.op.overloadpacket is aten.scaled_dot_product_attention and getattr(mask, "dtype", None) is torch.bool:
        # the composite op makes a boolean mask additive first (one `where`); the recorder runs it as its
        # parts in every grad mode (rules.priced_by_its_parts), where that `where` is an op of its own:
        # met whole only by a caller of this rule, or a torch that gives the op a kernel of its own
        terms.append(Term("assigns", "boolean mask made additive (where)", "mask elements",
                          worked("{}", mask.shape), mask.numel))
    return Cost.of(*terms)



def attention_kernel_layout(op, tensors) -> "tuple | None":
    """Query, key, value shapes of an attention kernel's own op in SDPA's (…, L, E) layout: flash's
    and the memory-efficient kernel's (batch, length, heads, dim) transposed, cuDNN's as given;
    ``None`` for a variable-length call (cumulative sequence lengths given: the scores are
    Σ L_i·S_i, set by the lengths' values)."""
    for name in ("cu_seqlens_q", "cum_seq_q"):
        lengths = schema_arg(op, name)
        if lengths is not None and getattr(lengths, "numel", 0) > 0:
            return None
    shapes = tuple(tuple(t.shape) for t in tensors)
    if "cudnn" in op.op.overloadpacket.__name__:
        return shapes
    if any(len(s) != 4 for s in shapes):
        return None
    return tuple((s[0], s[2], s[1], s[3]) for s in shapes)


@op_rule(aten._flash_attention_forward, aten._efficient_attention_forward, aten._cudnn_attention_forward)
def attention_kernel(op) -> Cost | None:
    """The attention kernels' own forward ops, below the ``_scaled_dot_product_*`` ones (seen when
    called directly, or by nested-tensor attention): SDPA's terms (``sdpa_terms``), the operands
    transposed from (batch, length, heads, dim) for flash and the memory-efficient kernel; a causal
    call (``is_causal``, or the efficient kernel's ``custom_mask_type`` ≠ 0) as SDPA's causal one.
    Variable-length calls (cumulative sequence lengths) are uncounted (``attention_kernel_layout``)."""
    shapes = attention_kernel_layout(op, op.args[:3])
    if shapes is None:
        return None
    bias = schema_arg(op, "bias", schema_arg(op, "attn_bias"))
    causal = bool(schema_arg(op, "is_causal", False)) or bool(schema_arg(op, "custom_mask_type", 0))
    dropout = schema_arg(op, "dropout_p", 0.0) or 0.0
    return Cost.of(*sdpa_terms(*shapes, masked=bias is not None, causal=causal, dropout=dropout > 0))

_FLEX_ATTENTION = getattr(getattr(torch.ops, "higher_order", None), "flex_attention", None)


@op_rule(*([_FLEX_ATTENTION] if _FLEX_ATTENTION is not None else []))
def flex_attention(op) -> Cost:
    """``torch.nn.attention.flex_attention`` run eagerly (a higher-order op; Hugging Face's
    ``attn_implementation="flex_attention"``): the eager implementation computes every score, so
    it is counted as SDPA with a mask (the same terms, so both implementations of a model cost the
    same; grouped key/value heads are attended by every query head), plus the log-sum-exp it
    returns (one log per row, on the softmax's max and sum). A ``score_mod`` / ``mask_mod``
    function's own per-score work is not included: only its code knows it."""
    q, k, v = (t.shape for t in op.inputs[:3])
    *batch, L, _ = q
    rows = prod(batch) * L
    return Cost.of(*sdpa_terms(q, k, v, masked=True, causal=False, dropout=False),
                   Term("transc", "log-sum-exp (log of each row's sum)", "B·L", worked("{}×{}", prod(batch), L), rows))


# ---- integer and low-precision GEMMs (quantized LLM inference: torchao, gpt-fast) ----------
@op_rule(aten._int_mm)
def int_mm(op) -> Cost:
    """int8 × int8 → int32: m·k·n MACs."""
    a, b = op.inputs[0], op.inputs[1]
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates (int8)", "m·k·n", worked("{}×{}×{}", m, k, n), m * k * n))


@op_rule(aten._weight_int8pack_mm)
def weight_int8pack_mm(op) -> Cost:
    """x (rows×k) times an int8 weight (n×k) with a scale per output channel: rows·k·n MACs and
    rows·n multiplications by the scales."""
    x, w = op.inputs[0], op.inputs[1]
    rows, k, n = prod(x.shape[:-1]), x.shape[-1], w.shape[0]
    return Cost.of(Term("macs", "multiply-accumulates (int8 weight)", "rows·k·n", worked("{}×{}×{}", rows, k, n),
                        rows * k * n),
                   Term("mults", "per-channel scales", "rows·n", worked("{}×{}", rows, n), rows * n))


@op_rule(aten._weight_int4pack_mm, aten._weight_int4pack_mm_for_cpu, aten._weight_int4pack_mm_with_scales_and_zeros)
def weight_int4pack_mm(op) -> Cost:
    """x (m×k) times a packed int4 weight with a scale and a zero point per group of k: m·k·n MACs,
    and the weight dequantized on the fly, (q − zero)·scale: k·n multiplications and additions."""
    x, out = op.inputs[0], op.outputs[0]
    m, k, n = prod(x.shape[:-1]), x.shape[-1], out.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates (int4 weight)", "m·k·n", worked("{}×{}×{}", m, k, n), m * k * n),
                   Term("mults", "weight dequantization (·scale)", "k·n", worked("{}×{}", k, n), k * n),
                   Term("adds", "weight dequantization (− zero)", "k·n", worked("{}×{}", k, n), k * n))


@op_rule(aten._scaled_mm)
def scaled_mm(op) -> Cost:
    """fp8 (or int8) A·B with scales: m·k·n MACs, the scales applied once per output (a·b scale
    product folded in: one multiplication), the bias added if given."""
    a, b = op.inputs[0], op.inputs[1]
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    has_bias = schema_arg(op, "bias", None) is not None
    return Cost.of(Term("macs", "multiply-accumulates (scaled mm)", "m·k·n", worked("{}×{}×{}", m, k, n), m * k * n),
                   Term("mults", "output scaling", "m·n", worked("{}×{}", m, n), m * n),
                   Term("adds", "bias additions", "m·n", worked("{}×{}", m, n), m * n) if has_bias else None)


# ---- fused fast paths of nn.MultiheadAttention and nn.TransformerEncoderLayer ---------------
@op_rule(aten._native_multi_head_attention)
def native_multi_head_attention(op) -> Cost:
    from .attention import attention_terms

    q, k, v = (t.shape for t in op.inputs[:3])
    E, H = op.args[3], op.args[4]
    N, L = (q[0], q[1]) if len(q) == 3 else (1, q[0])
    S = k[-2]
    need_weights = bool(schema_arg(op, "need_weights", True))
    return Cost.of(*attention_terms(
        N, L, S, E, H, k[-1], v[-1], in_bias=op.args[6] is not None, out_bias=op.args[8] is not None,
        masked=schema_arg(op, "mask") is not None,
        average_weights=need_weights and bool(schema_arg(op, "average_attn_weights", True)),
        through_sdpa=not need_weights))


@op_rule(aten._transformer_encoder_layer_fwd)
def transformer_encoder_layer_op(op) -> Cost:
    """The eval-mode fused TransformerEncoderLayer: self-attention (attention.attention_terms,
    no weights returned), two residual additions, two LayerNorms, the feed-forward
    Linear → ReLU/GELU → Linear; the same terms the layer's children give in train mode."""
    from .activation import per_element
    from .attention import attention_terms
    from .norm import _affine_terms, _stats_terms

    src = op.inputs[0].shape
    N, L = (src[0], src[1]) if len(src) == 3 else (1, src[0])
    E, H = op.args[1], op.args[2]
    use_gelu = bool(op.args[7])
    ffn = schema_arg(op, "ffn_weight_1")
    F = ffn.shape[0]
    rows = N * L
    terms = attention_terms(N, L, L, E, H, E, E, in_bias=op.args[4] is not None, out_bias=op.args[6] is not None,
                            masked=schema_arg(op, "mask") is not None, average_weights=False, through_sdpa=True)
    terms.append(Term("adds", "residual additions", "2·N·L·E", worked("2×{}×{}", rows, E), 2 * rows * E))
    for _ in range(2):
        terms += _stats_terms(rows, E, "rows") + _affine_terms(rows * E)
    terms += [Term("macs", "feed-forward 1", "N·L·E·F", worked("{}×{}×{}", rows, E, F), rows * E * F),
              Term("adds", "feed-forward 1 bias", "N·L·F", worked("{}×{}", rows, F), rows * F)]
    terms += per_element("gelu" if use_gelu else "relu", rows * F)
    terms += [Term("macs", "feed-forward 2", "N·L·F·E", worked("{}×{}×{}", rows, F, E), rows * F * E),
              Term("adds", "feed-forward 2 bias", "N·L·E", worked("{}×{}", rows, E), rows * E)]
    return Cost.of(*terms)


# ---- vector contractions ------------------------------------------------------------------
@op_rule(aten.dot, aten.vdot)
def dot(op) -> Cost:
    n = op.inputs[0].numel
    return Cost.of(Term("macs", "multiply-accumulates (dot)", "n", n, n))


@op_rule(aten.mv, aten.addmv)
def mv(op) -> Cost:
    name = op.op.overloadpacket.__name__
    mat = op.inputs[1] if name == "addmv" else op.inputs[0]
    m, n = mat.shape
    return Cost.of(Term("macs", f"multiply-accumulates ({name})", "m·n", worked("{}×{}", m, n), m * n),
                   *(_scaled_sum_terms(op, m, "m", "A·v") if name == "addmv" else ()))


@op_rule(aten.addbmm)
def addbmm(op) -> Cost:
    """Σ_b A_b·B_b + bias: the batch sum is part of one contraction of length b·k."""
    bias, a, b = op.inputs[:3]
    batch, m, k = a.shape
    n = b.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates (addbmm)", "b·m·k·n", worked("{}×{}×{}×{}", batch, m, k, n),
                        batch * m * k * n),
                   *_scaled_sum_terms(op, m * n, "m·n", "Σ A_b·B_b"))


@op_rule(aten._cdist_forward)
def cdist(op) -> Cost:
    """Pairwise p-norm distances: the terms of :func:`distance_terms`, one pair per output."""
    p = float(op.args[2] if len(op.args) > 2 else 2.0)
    return Cost.of(*distance_terms(op.outputs[0].numel, op.inputs[0].shape[-1], p))


@op_rule(aten._pdist_forward)
def pdist(op) -> Cost:
    """``F.pdist(x (N, d), p)``: the distances of the N(N − 1)/2 pairs of rows (the output), as cdist."""
    p = float(op.args[1] if len(op.args) > 1 else 2.0)
    return Cost.of(*distance_terms(op.outputs[0].numel, op.inputs[0].shape[-1], p))


@op_rule(aten.dist)
def dist(op) -> Cost:
    """``torch.dist(a, b, p)``: the p-norm of a − b (broadcast): one pair of d = elements."""
    p = op.args[2] if len(op.args) > 2 else op.kwargs.get("p", 2)
    shapes = [t.shape for t in op.inputs[:2]]
    return Cost.of(*distance_terms(1, prod(torch.broadcast_shapes(*shapes)), float(p)))


def distance_terms(pairs: int, d: int, p: float) -> list[Term]:
    """Per pair d subtractions, d |·|^p, d − 1 combining steps and one root. p = 2: squares as
    multiplications, a square root; p = 1: absolute values (comparisons), no root; p = ∞:
    absolute values and d − 1 comparisons for the max, no root; p = 0 (how many coordinates
    differ): d comparisons with 0 and d − 1 additions, no root."""
    power = {2.0: ("mults", "squares"), 1.0: ("cmps", "absolute values"), math.inf: ("cmps", "absolute values"),
             0.0: ("cmps", "comparisons with 0")}.get(p, ("transc", "powers"))
    combine = ("cmps", "comparisons (max)") if p == math.inf else ("adds", "additions")
    return [
        Term("adds", "differences", "pairs·d", worked("{}×{}", pairs, d), pairs * d),
        Term(power[0], power[1], "pairs·d", worked("{}×{}", pairs, d), pairs * d),
        Term(combine[0], combine[1], "pairs·(d − 1)", worked("{}×({} − 1)", pairs, d), pairs * (d - 1)),
        Term("transc", "roots", "pairs", pairs, pairs) if p not in (1.0, 0.0, math.inf) else None,
    ]


@op_rule(aten._euclidean_dist)
def euclidean_dist(op) -> Cost:
    """``cdist`` for p = 2 through a matrix product (more than 25 rows, or ``compute_mode=
    "use_mm…"``): ‖a‖² and ‖b‖² per row (squares and sums), −2·a, then one product of the rows
    padded with the norms, m·n·(d + 2) MACs (it adds the norms in), a clamp at 0 and a square
    root per pair."""
    x1, x2 = op.inputs[:2]
    d = x1.shape[-1]
    batch = prod(x1.shape[:-2])
    m, n = x1.shape[-2], x2.shape[-2]
    rows = batch * (m + n)
    pairs = batch * m * n
    return Cost.of(
        Term("mults", "squares (row norms)", "batch·(m + n)·d", worked("{}×{}", rows, d), rows * d),
        Term("adds", "additions (row norms)", "batch·(m + n)·(d − 1)", worked("{}×({} − 1)", rows, d), rows * (d - 1)),
        Term("mults", "scaling −2·a", "batch·m·d", worked("{}×{}×{}", batch, m, d), batch * m * d),
        Term("macs", "multiply-accumulates (padded product)", "batch·m·n·(d + 2)",
             worked("{}×({} + 2)", pairs, d), pairs * (d + 2)),
        Term("cmps", "clamp at 0", "pairs", pairs, pairs),
        Term("assigns", "clamp at 0", "pairs", pairs, pairs),
        Term("transc", "square roots", "pairs", pairs, pairs),
    )


@op_rule(aten._trilinear)
def trilinear(op) -> Cost | None:
    """``_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim=1)``: the product of the
    three operands, each unsqueezed at its ``expand`` dims, summed over ``sumdim``; F.bilinear's op and
    its backward's. Counted as the kernel computes it (aten/native/Linear.cpp), one slice of the
    unrolled dimension at a time: i1·i2 summed over the sum dims i3 lacks, then that by i3 summed over
    the others. A step that sums is multiply-accumulates, one that sums nothing multiplications (an
    outer product); where the unrolled dimension is itself summed each slice is added into the output
    (the second step's products accumulated: MACs; after a sum of its own, additions). F.bilinear
    (x1 rows×n1, A k×n1×n2, x2 rows×n2) is nn.Bilinear's rows·k·(n1 + 1)·n2 MACs. Operands whose ranks
    do not fit the dims, or a step summing a dim only one of its operands has (summed alone first):
    uncounted."""
    i1, i2, i3 = op.inputs[:3]
    expands = [set(op.args[k]) for k in (3, 4, 5)]
    sumdim = set(op.args[6])
    unroll = op.args[7] if len(op.args) > 7 else op.kwargs.get("unroll_dim", 1)
    total = len(i1.shape) + len(expands[0])
    full = []
    for t, expand in zip((i1, i2, i3), expands):
        if len(t.shape) + len(expand) != total or not all(0 <= d < total for d in expand):
            return None
        sizes = iter(t.shape)
        full.append([1 if d in expand else next(sizes) for d in range(total)])
    if not 0 <= unroll < total:
        return None
    a, b, c = full
    if [sorted(e) for e in expands] == [[1, 3], [0], [1, 2]] and sorted(sumdim) == [2, 3] and total == 4:
        k, n1, n2 = i2.shape  # F.bilinear's call: nn.Bilinear's worked line
        return Cost.of(bilinear_macs(i1.shape[0], n1, n2, k))
    dims = [d for d in range(total) if d != unroll]
    sum12 = [d for d in dims if d in sumdim and d in expands[2]]
    sum23 = [d for d in dims if d in sumdim and d not in expands[2]]

    def step(x, y, sums):  # (the products of one slice, x·y broadcast, and what is left after the sum)
        if any(min(x[d], y[d]) == 1 < max(x[d], y[d]) for d in sums):
            return None, None
        return prod(max(x[d], y[d]) for d in dims), [1 if d in sums else max(x[d], y[d]) for d in range(total)]

    p1, buf = step(a, b, sum12)
    p2, left = step(buf, c, sum23) if buf is not None else (None, None)
    if p2 is None:
        return None
    u = max(a[unroll], b[unroll], c[unroll])
    terms = [Term("macs" if sum12 else "mults", "i1·i2" + (" summed" if sum12 else " (an outer product)"),
                  "slices·∏(i1·i2 dims)", worked("{}×{}", u, p1), u * p1)]
    accumulated = unroll in sumdim
    terms.append(Term("macs" if sum23 or accumulated else "mults",
                      "(i1·i2)·i3" + (" summed" if sum23 else " accumulated over the slices" if accumulated else ""),
                      "slices·∏((i1·i2)·i3 dims)", worked("{}×{}", u, p2), u * p2))
    if sum23 and accumulated:
        kept = prod(left[d] for d in dims)
        terms.append(Term("adds", "each slice added into the output", "slices·∏(output dims)",
                          worked("{}×{}", u, kept), u * kept))
    return Cost.of(*terms)


@op_rule(aten.addr)
def addr(op) -> Cost:
    """β·M + α·(u ⊗ v): one multiplication per output (the outer product) and one addition
    (none with β = 0); α ≠ 1 and β ∉ {0, 1} one multiplication per output each."""
    out = op.outputs[0].numel
    return Cost.of(Term("mults", "outer product u·vᵀ", "outputs", out, out),
                   *_scaled_sum_terms(op, out, "outputs", "u ⊗ v"))


for _uncounted_op in ("aten._flash_attention_forward", "aten._efficient_attention_forward", "aten._cudnn_attention_forward",
              "aten._flash_attention_backward", "aten._efficient_attention_backward", "aten._cudnn_attention_backward"):
    # (attention_kernel_layout: a call with cumulative sequence lengths, or operands of another rank)
    why_uncounted(_uncounted_op, "a variable-length call (cumulative sequence lengths, packed sequences): its scores are "
                         "Σ L_i·S_i over the sequences, which the lengths' values set")
