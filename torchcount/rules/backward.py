"""Op rules for the backward ops a training step runs (``loss.backward()`` in a profiled method):
the gradients of convolutions, activations, softmax, losses, pooling, normalisation, embeddings,
upsampling and torchvision's roi_align. The matrix products of a Linear's or an attention's
backward are plain ``mm``/``bmm`` and priced by rules/matmul.py.

Each rule prices what the backward formula computes per element, written the way PyTorch's CPU
kernels compute it (n = elements of the gradient produced):

- convolution: the input gradient is a transposed convolution and the weight gradient a
  correlation of the input with the output gradient, each as many MACs as the forward (as
  torch.utils.flop_counter counts them, but for a grouped weight gradient, which it counts as if
  groups were 1); the bias gradient sums the output gradient;
- ReLU (``threshold_backward``): 1 comparison + 1 selection; hardtanh 2 + 1; leaky ReLU 1 + 1
  multiplication + 1 selection; sigmoid g·y·(1 − y): 2 mults + 1 add; tanh g·(1 − y²): 2 mults +
  1 add; SiLU g·s·(1 + x·(1 − s)) with s = 1/(1 + e^−x): 1 exp + 1 div + 3 adds + 3 mults; GELU (erf)
  g·(Φ(x) + x·φ(x)): 2 transcendental + 7 mults + 2 adds (tanh form: 1 + 12 + 5); hardswish
  g·(x/3 + ½) on (−3, 3]: 2 cmps + 1 div + 1 add + 1 mult + 1 selection; hardsigmoid g/6 on (−3, 3):
  2 cmps + 1 mult + 1 selection; ELU (both branches, selected), softplus, mish, log-sigmoid,
  hard/soft shrink, GLU, PReLU, RReLU: see their recipes below;
- fused attention (every SDPA backend's backward): the scores recomputed, dP, dV, dQ, dK
  (3·B·L·S·E + 2·B·L·S·Ev MACs, the five products torch.utils.flop_counter counts) and the softmax
  gradient per score;
- softmax y·(g − Σ(g·y)): 2n mults, n subtractions, the row sums; log-softmax g − exp(y)·Σg: n exps,
  n mults, n subtractions, the row sums;
- MSE 2·(x − t)·g (/n for a mean: one scalar division): 1 add + 2 mults per element; NLL: −g
  (÷ Σw for a mean) once, times the class weight per target row;
- max pooling: each output's gradient added into its argmax; average pooling (adaptive too):
  each divided by the window size and added into every window position; dropout g·mask·scale;
- batch norm: the per-channel sums Σg and Σ(x − μ)·g always (1 sub + 1 mult per element and the
  sums), then the input gradient with batch statistics 3 subs + 2 mults per element, with running
  statistics 1 mult (per-channel scalar products left out); layer norm's input gradient 6 mults
  (3 without a weight) + 2 adds per element and two row sums, its weight gradient 1 sub + 2 mults
  per element and the column sums, its bias gradient the column sums;
- embedding: each looked-up row's gradient added into the weight gradient (an upper bound where an
  index repeats or is the padding index; as for scatter_add, the first value into a zero row is
  counted as an addition; with scale_grad_by_freq each index counted, 1/count per index and 1 mult
  per element more), and the same for the pooling gradients, EmbeddingBag's, nearest
  upsampling's and reflection/replication padding's; the interpolating upsamplings weigh each
  output's gradient into their 2, 4, 8 or 16 taps; the anti-aliased ones into every tap under
  their filter in both dims at once (not in separable passes, as their forward): 2 mults + 1 add
  per tap, planes·Σtaps_h·Σtaps_w;
- group norm and weight norm: as their CPU kernels compute them; smooth L1, Huber, BCE and
  soft-margin losses per element;
- multi-margin loss: per sample and class other than its target 3 adds + 1 cmp (+ 2 mults for
  p = 2, + 1 with a class weight; every class taken as inside the margin, an upper bound, as the
  forward), then N·C mults by the output gradient; CTC loss: the β recursion priced as the
  forward's α (its comparisons mirrored, max(3·S − 1, 0) per step, an upper bound), α + β per
  lattice entry and its log-add into its character's sum (2·S − 1 per step: an upper bound), then (e^lp − e^(Σ + nll − lp))·g per step and class; the exact lattice with
  lengths as lists, full lengths with tensor lengths (an upper bound). multilabel_margin_loss's
  gradient stays uncounted, as its forward: the label pairs it visits depend on the target values;
- oneDNN's LSTM layer (nn.LSTM on CPU): 2·4H·(I + H) MACs per step and sequence (every gradient the
  primitive computes), the cell's gradient per state element, the bias gradient;
- torchvision's roi_align: per output element (channel and bin) and sample the corner weights
  recomputed (4 adds + 4 mults, as the forward prices them), g·w/count (4 mults + 4 divs) and
  4 adds into the corners (with an adaptive grid, ``sampling_ratio ≤ 0``, uncounted, as the forward).
- grid_sample (``grid_sampler_2d_backward``, ``grid_sampler_3d_backward``): as the CPU kernels, the
  grid's gradient always and the input's when asked, bilinear, nearest or bicubic in 2-D, trilinear
  or nearest in 3-D (see the rules); the per-position un-normalisation and weights are the forward's
  (rules/_grid.py).
Sums of n numbers are n − 1 additions, as in the forward rules.
"""
from __future__ import annotations

from ..cost import Cost, Term, worked
from ._grid import corner_weights, cubic_coefficients, unnormalisation
from ._util import prod, reduced, schema_arg, tup
from .elementwise import _aa_taps, recipe_terms
from .pool import adaptive_windows
from .reduction import CTC_CMPS, CTC_CMPS_WHY, ctc_cmps, ctc_forward_terms, ctc_sizes, nll_targets
from .registry import aten_ops, op_rule, zero_ops

_MEAN = 1  # (torch's Reduction enum: 0 none, 1 mean, 2 sum)


def _n(op, index: int = 0) -> int:
    return op.outputs[index].numel if op.outputs else op.inputs[0].numel


def _mask(op, index: int) -> bool:
    mask = schema_arg(op, "output_mask")
    return True if mask is None else bool(mask[index])


# ---- convolution ----------------------------------------------------------------------------
@op_rule(*aten_ops("convolution_backward"))
def convolution_backward(op) -> Cost:
    """``convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
    transposed, output_padding, groups, output_mask)``: the forward's MACs once for the input
    gradient and once for the weight gradient; N·k·∏output additions for the bias gradient."""
    grad, x, w = op.args[0], op.args[1], op.args[2]
    transposed = bool(schema_arg(op, "transposed", False))
    groups = int(schema_arg(op, "groups", 1))
    kernel = tuple(w.shape[2:])
    # the forward's MACs: every output element of the (non-transposed) direction is a dot product of
    # (channels in / groups)·∏kernel; for a transposed conv the roles of input and output swap
    outer, inner = (x, grad) if transposed else (grad, x)
    spatial = len(kernel)
    per_position = (inner.shape[-spatial - 1] // groups) * prod(kernel)
    macs = outer.numel * per_position
    channels = grad.shape[1] if len(grad.shape) > 1 else 1
    n_bias = grad.numel - channels  # Σ over N·∏output per channel: one addition fewer than terms
    terms = []
    if _mask(op, 0):
        terms.append(Term("macs", "multiply-accumulates (input gradient)", "outputs·(c/g)·∏kernel",
                          worked("{}×{}×{}", outer.shape, inner.shape[-spatial - 1] // groups, kernel), macs))
    if _mask(op, 1):
        terms.append(Term("macs", "multiply-accumulates (weight gradient)", "outputs·(c/g)·∏kernel",
                          worked("{}×{}×{}", outer.shape, inner.shape[-spatial - 1] // groups, kernel), macs))
    # bias_sizes only shapes the result: torch sums the output gradient whenever the mask asks,
    # with bias_sizes None or [0] too (autograd never asks without a bias; a direct call may)
    if _mask(op, 2):
        terms.append(Term("adds", "additions (bias gradient: Σ of the output gradient)", "N·k·∏output − k",
                          worked("{} − {}", grad.shape, channels), n_bias))
    return Cost.of(*terms)


# ---- activations ----------------------------------------------------------------------------
_ACTIVATIONS = {
    "threshold_backward": {"cmps": 1, "assigns": 1},               # x > t ? g : 0
    "hardtanh_backward": {"cmps": 2, "assigns": 1},                 # lo < x < hi ? g : 0
    "leaky_relu_backward": {"cmps": 1, "mults": 1, "assigns": 1},   # x > 0 ? g : a·g
    "sigmoid_backward": {"mults": 2, "adds": 1},                    # g·y·(1 − y)
    "tanh_backward": {"mults": 2, "adds": 1},                       # g·(1 − y²)
    "silu_backward": {"transc": 1, "adds": 3, "divs": 1, "mults": 3},  # s = 1/(1 + e^−x): g·s·(1 + x·(1 − s))
    "native_dropout_backward": {"mults": 2},                        # g·mask·scale
    "hardswish_backward": {"cmps": 2, "divs": 1, "adds": 1, "mults": 1, "assigns": 1},  # g·(x/3 + ½) in (−3, 3]
    "hardsigmoid_backward": {"cmps": 2, "mults": 1, "assigns": 1},   # −3 < x < 3 ? g/6 : 0
    # z = e^(βx): βx > threshold ? g : g·z/(z + 1)
    "softplus_backward": {"mults": 2, "cmps": 1, "transc": 1, "adds": 1, "divs": 1, "assigns": 1},
    "hardshrink_backward": {"cmps": 2, "assigns": 1},                # −λ ≤ x ≤ λ ? 0 : g
    "softshrink_backward": {"cmps": 2, "assigns": 1},
    # g·(t + x·s·(1 − t²)), s = 1/(1 + e^−x), t = tanh(log1p(e^x))
    "mish_backward": {"transc": 4, "adds": 3, "divs": 1, "mults": 4},
    # z = e^−|x|: g·(x < 0 ? 1 : 0 − (x < 0 ? 1 : −1)·z/(1 + z)), |x| as abs (1 cmp + 1 selection)
    "log_sigmoid_backward": {"cmps": 2, "assigns": 3, "transc": 1, "adds": 2, "divs": 1, "mults": 2},
}
_GELU = {"none": {"transc": 2, "mults": 7, "adds": 2},   # g·(½(1 + erf(x/√2)) + x·e^(−x²/2)/√(2π))
         "tanh": {"transc": 1, "mults": 12, "adds": 5}}


@op_rule(*aten_ops(*_ACTIVATIONS))
def activation_backward(op) -> Cost:
    name = op.op.overloadpacket.__name__
    return Cost.of(*recipe_terms(_ACTIVATIONS[name], _n(op), name))


@op_rule(*aten_ops("gelu_backward"))
def gelu_backward(op) -> Cost:
    approximate = schema_arg(op, "approximate", "none") or "none"
    return Cost.of(*recipe_terms(_GELU[approximate], _n(op), "gelu_backward"))


# ELU's gradient (CELU's and SELU's too), both branches computed and one selected, as the CPU
# kernel's vectorised loop does: from the output (is_result) x ≤ 0 ? g·c_in·(y + c_neg) : g·c_pos;
# from the input x ≤ 0 ? g·c_in·c_neg·e^(x·c_in) : g·c_pos
_ELU = {True: {"cmps": 1, "mults": 3, "adds": 1, "assigns": 1},
        False: {"cmps": 1, "mults": 5, "transc": 1, "assigns": 1}}


@op_rule(*aten_ops("elu_backward"))
def elu_backward(op) -> Cost:
    """``elu_backward(grad_output, alpha, scale, input_scale, is_result, self_or_result)``."""
    is_result = bool(schema_arg(op, "is_result", False))
    return Cost.of(*recipe_terms(_ELU[is_result], _n(op), "elu_backward" + (" (from the output)" if is_result else "")))


@op_rule(*aten_ops("glu_backward"))
def glu_backward(op) -> Cost:
    """``glu_backward(grad_output, self, dim)``, per element of the output gradient (half the input):
    s = 1/(1 + e^−b) (1 exp, 1 add, 1 div), da = g·s, db = a·s·(1 − s)·g (1 add, 4 mults in all)."""
    n = op.args[0].numel
    return Cost.of(*recipe_terms({"transc": 1, "adds": 2, "divs": 1, "mults": 4}, n, "glu_backward"))


@op_rule(*aten_ops("_prelu_kernel_backward"))
def prelu_backward(op) -> Cost:
    """``_prelu_kernel_backward(grad_output, self, weight)``: per element x > 0 ? g : w·g and
    x > 0 ? 0 : x·g (the weight's gradient, summed to its shape by a separate op)."""
    return Cost.of(*recipe_terms({"cmps": 1, "mults": 2, "assigns": 2}, op.args[1].numel, "_prelu_kernel_backward"))


@op_rule(*aten_ops("rrelu_with_noise_backward"))
def rrelu_backward(op) -> Cost:
    """``rrelu_with_noise_backward(grad_output, self, noise, lower, upper, training, self_is_result)``:
    in training g·noise (the noise holds 1 for x > 0), 1 mult; in eval the leaky ReLU's gradient with
    slope (lower + upper)/2."""
    if bool(schema_arg(op, "training", False)) and float(schema_arg(op, "upper")) != float(schema_arg(op, "lower")):
        return Cost.of(*recipe_terms({"mults": 1}, op.args[0].numel, "rrelu_with_noise_backward: g·noise"))
    return Cost.of(*recipe_terms(_ACTIVATIONS["leaky_relu_backward"], op.args[0].numel, "rrelu_with_noise_backward"))


# ---- attention ------------------------------------------------------------------------------
@op_rule(*aten_ops("_scaled_dot_product_flash_attention_for_cpu_backward",
                   "_scaled_dot_product_flash_attention_backward", "_scaled_dot_product_efficient_attention_backward",
                   "_scaled_dot_product_cudnn_attention_backward"))
def sdpa_backward(op) -> Cost:
    """The fused attention kernels' backward (query, key, value are arguments 1–3): the scores
    recomputed, Q·Kᵀ (B·L·S·E MACs, B = batch × heads), scaled (and masked), P = exp(scores −
    log-sum-exp); dP = dO·Vᵀ and dV = Pᵀ·dO (B·L·S·Ev MACs each); D = Σ dO·O per query row;
    dS = P·(dP − D); dQ = dS·K and dK = dSᵀ·Q (B·L·S·E MACs each): the five products
    torch.utils.flop_counter counts. A causal call is counted at full size, as the forward."""
    q, k, v = (t.shape for t in op.args[1:4])
    masked = schema_arg(op, "attn_mask", schema_arg(op, "attn_bias")) is not None
    return Cost.of(*sdpa_backward_terms(q, k, v, masked))


@op_rule(*aten_ops("_flash_attention_backward", "_efficient_attention_backward", "_cudnn_attention_backward"))
def attention_kernel_backward(op) -> Cost | None:
    """The attention kernels' own backward ops, below the ``_scaled_dot_product_*_backward`` ones
    (seen when called directly, or by nested-tensor attention): the terms of those. Flash's and the
    memory-efficient kernel's operands are (batch, length, heads, dim), cuDNN's (batch, heads, length,
    dim). With cumulative sequence lengths (variable-length batches, packed into one sequence) the
    scores are Σ L_i·S_i, which the lengths' values set: uncounted."""
    from .matmul import attention_kernel_layout

    shapes = attention_kernel_layout(op, op.args[1:4])
    if shapes is None:
        return None
    bias = schema_arg(op, "bias", schema_arg(op, "attn_bias"))
    masked = bias is not None and bias.numel > 0
    return Cost.of(*sdpa_backward_terms(*shapes, masked))


def sdpa_backward_terms(q: tuple, k: tuple, v: tuple, masked: bool) -> list[Term]:
    """The terms of ``sdpa_backward`` for query, key, value shapes (…, L, E), (…, S, E), (…, S, Ev)."""
    *batch, L, E = q
    S, Ev = k[-2], v[-1]
    B = prod(batch)
    scores = B * L * S
    per_score = worked("{}×{}×{}", B, L, S)
    return [
        Term("macs", "scores Q·Kᵀ recomputed", "B·L·S·E", worked("{}×{}×{}×{}", B, L, S, E), scores * E),
        Term("mults", "scaling of the scores", "B·L·S", per_score, scores),
        Term("adds", "mask additions", "B·L·S", per_score, scores) if masked else None,
        Term("adds", "subtractions of the log-sum-exp", "B·L·S", per_score, scores),
        Term("transc", "exponentials (P)", "B·L·S", per_score, scores),
        Term("macs", "dP = dO·Vᵀ", "B·L·S·Ev", worked("{}×{}×{}×{}", B, L, S, Ev), scores * Ev),
        Term("macs", "dV = Pᵀ·dO", "B·L·S·Ev", worked("{}×{}×{}×{}", B, L, S, Ev), scores * Ev),
        Term("mults", "D = Σ dO·O (products)", "B·L·Ev", worked("{}×{}×{}", B, L, Ev), B * L * Ev),
        Term("adds", "D = Σ dO·O (sums)", "B·L·(Ev − 1)", worked("{}×{}×({} − 1)", B, L, Ev), B * L * (Ev - 1)),
        Term("adds", "subtractions dP − D", "B·L·S", per_score, scores),
        Term("mults", "multiplications by P (dS)", "B·L·S", per_score, scores),
        Term("macs", "dQ = dS·K", "B·L·S·E", worked("{}×{}×{}×{}", B, L, S, E), scores * E),
        Term("macs", "dK = dSᵀ·Q", "B·L·S·E", worked("{}×{}×{}×{}", B, L, S, E), scores * E),
    ]


# ---- softmax --------------------------------------------------------------------------------
def _rows(op) -> tuple[int, int]:
    """(rows, n) of a softmax backward over ``dim``."""
    y = op.args[1]
    dim = int(schema_arg(op, "dim", -1))
    n = y.shape[dim] if y.shape else 1
    return y.numel // max(n, 1), n


@op_rule(*aten_ops("_softmax_backward_data"))
def softmax_backward(op) -> Cost:
    """``_softmax_backward_data(grad_output, output, dim, input_dtype)``: y·(g − Σ(g·y)) per row."""
    rows, n = _rows(op)
    rows_n = worked("{}×{}", rows, n)
    return Cost.of(Term("mults", "multiplications g·y", "rows·n", rows_n, rows * n),
                   Term("adds", "additions (row sum of g·y)", "rows·(n − 1)", worked("{}×({} − 1)", rows, n),
                        rows * (n - 1)),
                   Term("adds", "subtractions g − Σ", "rows·n", rows_n, rows * n),
                   Term("mults", "multiplications by y", "rows·n", rows_n, rows * n))


@op_rule(*aten_ops("_log_softmax_backward_data"))
def log_softmax_backward(op) -> Cost:
    """``_log_softmax_backward_data(grad_output, output, dim, input_dtype)``: g − exp(y)·Σg per row."""
    rows, n = _rows(op)
    rows_n = worked("{}×{}", rows, n)
    return Cost.of(Term("adds", "additions (row sum of g)", "rows·(n − 1)", worked("{}×({} − 1)", rows, n),
                        rows * (n - 1)),
                   Term("transc", "exponentials exp(y)", "rows·n", rows_n, rows * n),
                   Term("mults", "multiplications exp(y)·Σg", "rows·n", rows_n, rows * n),
                   Term("adds", "subtractions", "rows·n", rows_n, rows * n))


# ---- losses ---------------------------------------------------------------------------------
def _loss_grad_numel(op) -> int:
    """The elements of a point-wise loss's input gradient: the broadcast of ``self`` and ``target``
    (torch's deprecated resize when a direct call's target is the larger), which the output holds."""
    return op.outputs[0].numel if op.outputs else op.args[1].numel


@op_rule(*aten_ops("mse_loss_backward"))
def mse_loss_backward(op) -> Cost:
    """``mse_loss_backward(grad_output, self, target, reduction)``: 2·(x − t)·g, the factor 2 (and
    1/n for a mean, one scalar division) folded into one constant."""
    n = _loss_grad_numel(op)
    terms = [Term("adds", "differences x − t", "elements", n, n),
             Term("mults", "multiplications (·constant, ·g)", "2·elements", worked("2×{}", n), 2 * n)]
    if int(schema_arg(op, "reduction", _MEAN)) == _MEAN:
        terms.append(Term("divs", "division 2/n (mean)", "1", "1", 1))
    return Cost.of(*terms)


@op_rule(*aten_ops("nll_loss_backward", "nll_loss2d_backward"))
def nll_loss_backward(op) -> Cost:
    """``nll_loss_backward(grad_output, self, target, weight, reduction, ignore_index, total_weight)``:
    a zero gradient with the same −g (÷ Σw for a mean: one scalar division and negation) written at
    each target's class, times the class weight when there is one; without a reduction, −w·g per row."""
    picked = nll_targets(op.args[1])
    reduction = int(schema_arg(op, "reduction", _MEAN))
    if reduction == 0:
        return Cost.of(Term("mults", "multiplications −w·g", "picked", picked, picked))
    terms = [Term("mults", "negation of g (once)", "1", "1", 1)]
    if reduction == _MEAN:
        terms.append(Term("divs", "division by Σw (mean, once)", "1", "1", 1))
    if schema_arg(op, "weight") is not None:
        terms.append(Term("mults", "multiplications by the class weight", "picked", picked, picked))
    return Cost.of(*terms)


def _mean_norm(op, n: int) -> list[Term]:
    """The factor 1/n of a mean reduction, one scalar division."""
    mean = int(schema_arg(op, "reduction", _MEAN)) == _MEAN
    return [Term("divs", "division 1/n (mean, once)", "1", "1", 1)] if mean else []


# the CPU kernels' vectorised loops compute every branch and select (d = x − t; n the norm, 1 or 1/N):
# smooth L1 d ≤ −β ? −n·g : d ≥ β ? n·g : n·d·g/β; Huber d ≤ −δ ? −n·g·δ : d ≥ δ ? n·g·δ : n·d·g
_ROBUST = {"smooth_l1_loss_backward": {"adds": 1, "cmps": 2, "mults": 3, "divs": 1, "assigns": 2},
           "huber_loss_backward": {"adds": 1, "cmps": 2, "mults": 4, "assigns": 2}}


@op_rule(*aten_ops(*_ROBUST))
def robust_loss_backward(op) -> Cost:
    """``smooth_l1_loss_backward(grad_output, self, target, reduction, beta)`` and Huber's."""
    name = op.op.overloadpacket.__name__
    n = _loss_grad_numel(op)
    return Cost.of(*recipe_terms(_ROBUST[name], n, name), *_mean_norm(op, n))


@op_rule(*aten_ops("binary_cross_entropy_backward"))
def bce_backward(op) -> Cost:
    """``binary_cross_entropy_backward(grad_output, self, target, weight, reduction)``:
    g·(x − t)/max((1 − x)·x, ε) per element (2 subs, 2 mults, 1 cmp, 1 div), then times the weight
    and, for a mean, divided by n, each a pass over the elements."""
    n = op.args[1].numel
    terms = recipe_terms({"adds": 2, "mults": 2, "cmps": 1, "divs": 1}, n, "binary_cross_entropy_backward")
    if schema_arg(op, "weight") is not None:
        terms.append(Term("mults", "multiplications by the weight", "elements", n, n))
    if int(schema_arg(op, "reduction", _MEAN)) == _MEAN:
        terms.append(Term("divs", "divisions by n (mean)", "elements", n, n))
    return Cost.of(*terms)


@op_rule(*aten_ops("soft_margin_loss_backward"))
def soft_margin_loss_backward(op) -> Cost:
    """``soft_margin_loss_backward(grad_output, self, target, reduction)``: z = e^(−t·x), then
    −n·t·z/(1 + z)·g: 1 exp, 5 mults (−t, t·x, t·z, ·(−n), ·g), 1 add, 1 div per element."""
    n = _loss_grad_numel(op)
    return Cost.of(*recipe_terms({"transc": 1, "mults": 5, "adds": 1, "divs": 1}, n, "soft_margin_loss_backward"),
                   *_mean_norm(op, n))


@op_rule(*aten_ops("multi_margin_loss_backward"))
def multi_margin_loss_backward(op) -> Cost:
    """``multi_margin_loss_backward(grad_output, self (N, C), target, p, margin, weight, reduction)``,
    as the CPU kernel computes it: the constant c = 1/(N·C) for a mean, 1/C otherwise (one
    division); per sample, for each class other than its target, z = margin − x[y] + x[i] (2 adds),
    z > 0 (1 cmp), its gradient h = c (p = 1) or 2·c·z (p = 2: 2 mults), × weight[y] (1 mult) and
    subtracted from the target's (1 add): every class taken as inside the margin, an upper bound,
    as the forward rule does; then the whole N·C gradient times grad_output (1 mult per element)."""
    x = op.args[1]
    C = x.shape[-1] if x.shape else 1
    samples = x.numel // max(C, 1)
    pairs = samples * (C - 1)
    p = int(schema_arg(op, "p", 1))
    weighted = schema_arg(op, "weight") is not None
    per_pair = worked("{}×({} − 1)", samples, C)
    return Cost.of(
        Term("divs", "division 1/(N·C) or 1/C (once)", "1", "1", 1),
        Term("adds", "additions (z = margin − x[y] + x[i], the target's gradient −= h)", "3·N·(C − 1)",
             worked("3×{}×({} − 1)", samples, C), 3 * pairs),
        Term("cmps", "comparisons z > 0", "N·(C − 1)", per_pair, pairs),
        Term("mults", "multiplications 2·c·z (p = 2)", "2·N·(C − 1)", worked("2×{}×({} − 1)", samples, C), 2 * pairs)
        if p == 2 else None,
        Term("mults", "multiplications by weight[y]", "N·(C − 1)", per_pair, pairs) if weighted else None,
        Term("mults", "multiplications by grad_output", "N·C", worked("{}×{}", samples, C), samples * C))


@op_rule(*aten_ops("_ctc_loss_backward"))
def ctc_loss_backward(op) -> Cost:
    """``_ctc_loss_backward(grad, log_probs (T, B, C), targets, input_lengths, target_lengths,
    neg_log_likelihood, log_alpha, blank, zero_infinity)``, as the CPU kernel computes it, per
    sequence b of T_b steps and target length S_b (2·S_b + 1 lattice states): at its last step the
    two end states' α + β (2 adds; 1 for an empty target); for each earlier step and state, β as
    the forward's α (7 adds, 4 transcendental; the max's comparisons mirrored: none at s = 2·S_b, 1 at
    2·S_b − 1 and at each blank, 2 at each label below, 1 where it repeats the label two states up,
    which only the values tell — max(3·S_b − 1, 0) per step, an upper bound), α + β (1 add), and that
    collected into its
    character's log-sum (a log-add of 2: 1 cmp, 4 adds, 2 exps and a log) — except the first
    blank and the first label of each step, which are copies; each further state is taken as a
    log-add (2·S_b − 1 per step: an upper bound, exact when the target repeats one label; a
    further distinct label, or a sum still −∞, starts with a copy, which only the values tell);
    then per step and class the gradient (e^lp − e^(Σ + nll − lp))·g, Σ the collected log-sum
    (2 exps, 3 adds, 1 mult).
    Guards against −∞ are not counted, as in the forward. With lengths as integer lists the exact
    lattice; with tensor lengths (only shapes reach the rule) every sequence is taken at full
    length T with the longest target, (log_alpha's last dim − 1)/2 (an upper bound), as the
    forward rule does; a sequence zero_infinity zeroes is counted as computed."""
    log_probs, log_alpha = op.args[1], op.args[6]
    T, B, C, pairs = ctc_sizes(log_probs, op.args[3], op.args[4])
    if pairs is not None:
        bound = ""
    else:
        S = (log_alpha.shape[-1] - 1) // 2  # 2·max target length + 1 states
        pairs = [(T, S)] * B
        bound = " (full lengths: an upper bound)"
    return Cost.of(*_ctc_backward_terms(*_ctc_lattice(pairs), C, bound, times_grad=True))


def _ctc_lattice(pairs) -> tuple:
    """Per (T_b, S_b): the lattice entries after the first step, the log-adds into the characters'
    sums (2·S_b − 1 per step, an upper bound), the end states of the last step, the steps, the β
    recursion's comparisons (:func:`~torchcount.rules.reduction.ctc_cmps`, as the α's: an upper bound)."""
    entries = sum(max(t - 1, 0) * (2 * s + 1) for t, s in pairs)
    log_adds = sum(max(t - 1, 0) * max(2 * s - 1, 0) for t, s in pairs)
    ends = sum((2 if s > 0 else 1) for t, s in pairs if t > 0)
    steps = sum(max(t, 0) for t, _ in pairs)
    return entries, log_adds, ends, steps, ctc_cmps(pairs)


def _ctc_backward_terms(entries, log_adds, ends, steps, cmps, C, bound, times_grad, lattice=None, merged=None,
                        grads=None, end_formula="2 per sequence (1: an empty target)", cmp_formula=None,
                        cmp_substituted=None) -> list:
    """``_ctc_loss_backward``'s terms over the counts of :func:`_ctc_lattice`; ``times_grad``: the
    gradient multiplied by the output's gradient (cuDNN's raw gradient is not: a mul of its own)."""
    lattice = lattice or f"E (E lattice entries = Σ_b (T_b − 1)·(2·S_b + 1){bound})"
    merged = merged or f"M (M log-adds = Σ_b (T_b − 1)·max(2·S_b − 1, 0){bound}: an upper bound)"
    grads = grads or f"Σ_b T_b·C{bound}"
    cmp_formula = cmp_formula or f"Σ_b (T_b − 1)·max(3·S_b − 1, 0){bound} ({CTC_CMPS_WHY})"
    return [
        Term("adds", "additions α + β (the end states of the last step)", end_formula, ends, ends),
        # each β entry as rules/reduction.py's _ctc_loss prices an α entry: the max of up to 3
        # (ctc_cmps), 3 subtractions, 3 exps, a log, 4 additions (the exps summed, the max and the log-prob added)
        Term("cmps", "comparisons (max of the successors; an upper bound) (β recursion)", cmp_formula,
             cmps if cmp_substituted is None else cmp_substituted, cmps),
        *[Term(cat, f"{what} (β recursion)", f"{k}·{lattice}", worked("{}×{}", k, entries), k * entries)
          for cat, what, k in (("adds", "additions and subtractions (log-sum-exp, log-prob)", 7),
                               ("transc", "exps and logs (log-sum-exp)", 4))],
        Term("adds", "additions α + β", lattice, entries, entries),
        Term("cmps", "comparisons (log-add: max of 2)", merged, log_adds, log_adds),
        Term("adds", "additions (log-add: 2 subtractions, the sum, the max added back)", f"4·{merged}",
             worked("4×{}", log_adds), 4 * log_adds),
        Term("transc", "exps and logs (log-add)", f"3·{merged}", worked("3×{}", log_adds), 3 * log_adds),
        Term("transc", "exps (e^lp, e^(Σ + nll − lp))", f"2·{grads}", worked("2×{}×{}", steps, C), 2 * steps * C),
        Term("adds", "additions (Σ + nll − lp, the difference)", f"3·{grads}", worked("3×{}×{}", steps, C),
             3 * steps * C),
        Term("mults", "multiplications by grad", grads, worked("{}×{}", steps, C), steps * C) if times_grad else None]


@op_rule(*aten_ops("_cudnn_ctc_loss", "miopen_ctc_loss"))
def gpu_ctc_loss(op) -> Cost:
    """``_cudnn_ctc_loss``/``miopen_ctc_loss(log_probs (T, B, C), targets, input_lengths,
    target_lengths, blank, deterministic, zero_infinity)`` -> (loss, gradient): cuDNN's and MIOpen's
    CTC loss (F.ctc_loss on a GPU when the library takes the call: concatenated int32 targets, blank
    0, labels ≤ 256) computes the loss and the gradient in one call; autograd's
    ``_cudnn_ctc_loss_backward`` only multiplies that gradient by the loss's (a ``mul``, priced as
    such). The libraries' algorithms are not documented: this is priced as the CPU kernels, the
    forward's α recursion and final log-sum-exp (rules/reduction.py, ``_ctc_loss``) plus
    ``_ctc_loss_backward``'s terms but for the multiplication by grad — the same terms, not a
    measurement of the GPU kernels; the softmax cuDNN applies to its input (its
    ``CUDNN_LOSS_NORMALIZATION_SOFTMAX``, the identity on log-probabilities) and the
    ``deterministic`` choice of algorithm are not counted. Lengths as integer lists: the exact
    lattice. As tensors (the ``.Tensor`` overload; only shapes reach the rule, and there is no
    log_alpha output to size the longest target): an upper bound, every sequence at full length T
    and, with L the labels of the targets, the lattice Σ_b (2·S_b + 1) ≤ 2·L + B states per step
    (concatenated targets, Σ_b S_b ≤ L; padded (B, S) targets, L = B·S), the log-adds ≤ 2·L − 1 per
    step, the comparisons of each recursion Σ_b max(3·S_b − 1, 0) ≤ max(3·L − 1, 0) per step (each
    label state at 2, itself an upper bound: see ``_ctc_loss``), 2 end states per sequence."""
    log_probs, targets = op.args[0], op.args[1]
    T, B, C, pairs = ctc_sizes(log_probs, op.args[2], op.args[3])
    if pairs is not None:
        counts = _ctc_lattice(pairs)
        forward = ctc_forward_terms(counts[0], "Σ_b (T_b − 1)·(2·S_b + 1)", counts[0], B, counts[4], CTC_CMPS,
                                    counts[4])
        return Cost.of(*forward, *_ctc_backward_terms(*counts, C, "", times_grad=False))
    L = targets.numel
    bound = ", tensor lengths: an upper bound"
    entries = max(T - 1, 0) * (2 * L + B)
    log_adds = max(T - 1, 0) * max(2 * L - 1, 0)
    substituted = worked("({} − 1)×(2×{} + {})", T, L, B)
    formula = f"(T − 1)·(2·L + B) (L labels in the targets{bound})"
    # Σ_b max(3·S_b − 1, 0) ≤ max(3·L − 1, 0) for Σ_b S_b ≤ L
    cmps = max(T - 1, 0) * max(3 * L - 1, 0)
    cmp_formula = f"(T − 1)·max(3·L − 1, 0) (L labels in the targets{bound}; {CTC_CMPS_WHY})"
    cmp_substituted = worked("({} − 1)×max(3×{} − 1, 0)", T, L)
    forward = ctc_forward_terms(entries, formula, substituted, B, cmps, cmp_formula, cmp_substituted)
    backward = _ctc_backward_terms(
        entries, log_adds, 2 * B if T > 0 else 0, B * T, cmps, C, bound, times_grad=False,
        lattice=f"E (E lattice entries = {formula})",
        merged=f"M (M log-adds = (T − 1)·max(2·L − 1, 0){bound})", grads=f"B·T·C{bound}",
        end_formula=f"2·batch{bound}", cmp_formula=cmp_formula, cmp_substituted=cmp_substituted)
    return Cost.of(*forward, *backward)


# ---- pooling --------------------------------------------------------------------------------
@op_rule(*aten_ops("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
                   "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward",
                   "fractional_max_pool2d_backward", "fractional_max_pool3d_backward"))
def max_pool_backward(op) -> Cost:
    """Each output's gradient added into the input position its max came from."""
    out = op.args[0].numel
    return Cost.of(Term("adds", "additions (into each argmax)", "outputs", out, out))


@op_rule(*aten_ops("avg_pool2d_backward", "avg_pool3d_backward"))
def avg_pool_backward(op) -> Cost:
    """``avg_pool2d_backward(grad_output, self, kernel_size, stride, padding, ceil_mode,
    count_include_pad, divisor_override)``: each output's gradient divided by its window size and
    added into every position of its window."""
    out = op.args[0].numel
    d = 3 if "3d" in op.op.overloadpacket.__name__ else 2
    kernel = tup(op.args[2], d)
    return Cost.of(Term("divs", "divisions (by the window size)", "outputs", out, out),
                   Term("adds", "additions (into each window position)", "∏kernel·outputs",
                        worked("{}×{}", kernel, out), prod(kernel) * out))


@op_rule(*aten_ops("_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward"))
def adaptive_avg_pool_backward(op) -> Cost:
    """Each output's gradient divided by its window size and added into every position of its window
    (the forward's windows: rules/pool.py)."""
    grad, x = op.args[0], op.args[1]
    d = 3 if "3d" in op.op.overloadpacket.__name__ else 2
    planes, window_total, out = adaptive_windows(x, grad, d)
    return Cost.of(Term("divs", "divisions (by the window size)", "outputs", out, out),
                   Term("adds", "additions (into each window position)", "planes·Σwindow",
                        worked("{}×{}", planes, window_total), planes * window_total))


# ---- upsampling and padding -----------------------------------------------------------------
# the interpolating upsamplings' CPU backward: each output's gradient times each tap's weight,
# the product of one λ per dim formed per element (g·h_λ·w_λ in 2-D), added into that input
# position: (taps, mults per tap)
_UPSAMPLE_TAPS = {"upsample_linear1d_backward": (2, 1), "upsample_bilinear2d_backward": (4, 2),
                  "upsample_trilinear3d_backward": (8, 3), "upsample_bicubic2d_backward": (16, 2)}


@op_rule(*aten_ops(*_UPSAMPLE_TAPS))
def upsample_backward(op) -> Cost:
    """``upsample_bilinear2d_backward(grad_output, output_size, input_size, align_corners, …)`` and
    its linear, trilinear and bicubic kin: each output's gradient scattered into its 2, 4, 8 or 16
    taps, weighted (1, 2, 3 and 2 mults per tap: bicubic's weight is y_coeff·x_coeff) and added
    (an upper bound, as for max pooling); bicubic between equal sizes is a copy."""
    name = op.op.overloadpacket.__name__
    grad = op.args[0]
    if name.startswith("upsample_bicubic") and tuple(grad.shape[-2:]) == tuple(op.outputs[0].shape[-2:]):
        return Cost()
    taps, per_tap = _UPSAMPLE_TAPS[name]
    out = grad.numel
    return Cost.of(Term("mults", f"multiplications (weight·g, {taps} taps)", f"{taps * per_tap}·outputs",
                        worked("{}×{}", taps * per_tap, out), taps * per_tap * out),
                   Term("adds", f"additions (into {taps} input positions)", f"{taps}·outputs",
                        worked("{}×{}", taps, out), taps * out))


@op_rule(*aten_ops("_upsample_bilinear2d_aa_backward", "_upsample_bicubic2d_aa_backward"))
def upsample_aa_backward(op) -> Cost:
    """``_upsample_bilinear2d_aa_backward(grad_output, output_size, input_size, align_corners,
    scales_h, scales_w)`` and bicubic's, as the CPU kernel computes it: not in separable passes
    as the forward, but each output's gradient weighed into every input sample under its filter
    in both dims, wx·wy·g (2 mults) added in (1 add; an upper bound, as for max pooling): per
    plane Σtaps_h·Σtaps_w of them, each dim's taps picked as the forward picks them (support 1
    for bilinear, 2 for bicubic, times in/out when downsampling, clipped at the borders;
    ``elementwise._aa_taps``) — a dim that keeps its size is filtered too (about 2 taps per
    output for bilinear, 4 for bicubic). The weights (per output index) are not counted, as in
    the forward."""
    grad = op.args[0]
    input_size = schema_arg(op, "input_size")
    h_in, w_in = int(input_size[-2]), int(input_size[-1])
    h_out, w_out = grad.shape[-2:]
    interp = 4 if "bicubic" in op.op.overloadpacket.__name__ else 2
    align = bool(schema_arg(op, "align_corners", False))
    planes = prod(grad.shape[:-2])
    taps_h = _aa_taps(h_in, h_out, interp, align, schema_arg(op, "scales_h"))
    taps_w = _aa_taps(w_in, w_out, interp, align, schema_arg(op, "scales_w"))
    n = planes * taps_h * taps_w
    per_tap = worked("{}×{}×{}", planes, taps_h, taps_w)
    return Cost.of(Term("mults", "multiplications wx·wy·g (2 per tap)", "2·planes·Σtaps_h·Σtaps_w",
                        worked("2×{}×{}×{}", planes, taps_h, taps_w), 2 * n),
                   Term("adds", "additions (into each tap's input position)", "planes·Σtaps_h·Σtaps_w", per_tap, n))


@op_rule(*aten_ops("upsample_nearest1d_backward", "upsample_nearest2d_backward", "upsample_nearest3d_backward",
                   "_upsample_nearest_exact1d_backward", "_upsample_nearest_exact2d_backward",
                   "_upsample_nearest_exact3d_backward", "reflection_pad1d_backward", "reflection_pad2d_backward",
                   "reflection_pad3d_backward", "replication_pad1d_backward", "replication_pad2d_backward",
                   "replication_pad3d_backward"))
def scatter_add_backward(op) -> Cost:
    """Nearest upsampling and reflection/replication padding: each output's gradient added into the
    one input position it was copied from (an upper bound, as for max pooling)."""
    out = op.args[0].numel
    return Cost.of(Term("adds", "additions (into the source position)", "outputs", worked("{}", op.args[0].shape),
                        out))


@op_rule(*aten_ops("grid_sampler_2d_backward", "cudnn_grid_sampler_backward"))
def grid_sampler_2d_backward(op) -> Cost:
    """``grid_sampler_2d_backward(grad_output (N, C, Ho, Wo), input, grid (N, Ho, Wo, 2),
    interpolation_mode, padding_mode, align_corners, output_mask)``, as the CPU kernel computes it
    (n = N·C·Ho·Wo output elements, P = N·Ho·Wo grid positions). The grid's gradient is computed
    whatever the mask asks (RAFT's detached sampling grid gets one too); the input gradient only
    when asked. Per position, the coordinates un-normalised (2 mults + 1 add per coordinate).
    Bilinear: per position the distances to the four sides (4 adds), the corner weights (4 mults)
    (these per-position lines are the forward's, rules/_grid.py) and the grid gradient's scaling
    (2 mults); per element the input
    gradient w·g into the 4 corners (4 mults + 4 adds, an upper bound: a corner off the map adds
    nothing, which only the grid tells) and, per coordinate, ((ne − nw)·s + (se − sw)·n)·g (3 mults
    + 3 adds), summed over the channels. Nearest: each g added into its source (only when the input
    gradient is asked; the grid's is zero). Bicubic: per position the fractional parts (2 adds), the
    4 cubic coefficients per coordinate (12 mults + 13 adds, as the forward) and their 4
    derivatives (8 mults + 10 adds, as written in the kernel), the scaling (2 mults); per element
    and tap g·cx·cy added into the input gradient (2 mults + 1 add) and, per coordinate, val·g·c′·c
    (3 mults) summed. Padding modes' clipping and reflection are not counted, as in the forward.
    ``cudnn_grid_sampler_backward(input, grid, grad_output)`` (the gradient of cuDNN's sampler, what
    F.grid_sample's backward runs on a GPU with cuDNN: bilinear, zero padding, align_corners=True,
    both gradients) is priced as this bilinear kernel with both gradients asked: cuDNN's own
    arithmetic is not documented."""
    cudnn = op.op.overloadpacket.__name__ == "cudnn_grid_sampler_backward"
    grad, grid = (op.args[2], op.args[1]) if cudnn else (op.args[0], op.args[2])
    mode = int(schema_arg(op, "interpolation_mode", 0))
    n = grad.numel
    positions = grid.numel // 2
    channels = grad.shape[1] if len(grad.shape) > 1 else 1
    wants_input = _mask(op, 0)
    per_element = worked("{}", grad.shape)
    per_position = worked("{}", grid.shape[:-1])
    unnormalise = unnormalisation(2, positions, per_position)
    if mode == 1:  # nearest: the grid's gradient is zero, the input's a scatter of g
        if not wants_input:
            return Cost()
        return Cost.of(*unnormalise, Term("adds", "additions (each g into its source)", "elements", per_element, n))
    # the grid gradient's sums over the channels (and taps): 2 sums of `terms` numbers per position
    terms_per_position = channels * (16 if mode == 2 else 1)
    sums = Term("adds", "additions (grid gradient: Σ over channels, x and y)", "2·(elements·taps − positions)",
                worked("2×({}×{} − {})", n, 16 if mode == 2 else 1, positions),
                2 * (positions * terms_per_position - positions))
    if mode == 0:
        return Cost.of(
            *unnormalise,
            *corner_weights(2, positions, per_position),
            Term("mults", "grid gradient scaling (x and y)", "2·positions", worked("2×{}", per_position),
                 2 * positions),
            Term("mults", "multiplications w·g (input gradient, 4 corners)", "4·elements",
                 worked("4×{}", per_element), 4 * n) if wants_input else None,
            Term("adds", "additions (into the 4 corners)", "4·elements", worked("4×{}", per_element), 4 * n)
            if wants_input else None,
            Term("mults", "multiplications (grid gradient: 3 per coordinate)", "6·elements",
                 worked("6×{}", per_element), 6 * n),
            Term("adds", "subtractions and additions (grid gradient: 3 per coordinate)", "6·elements",
                 worked("6×{}", per_element), 6 * n),
            sums)
    return Cost.of(  # bicubic, 16 taps
        *unnormalise,
        *cubic_coefficients(positions, per_position, derivatives=True),
        Term("mults", "grid gradient scaling (x and y)", "2·positions", worked("2×{}", per_position), 2 * positions),
        Term("mults", "multiplications g·cx·cy (input gradient, 16 taps)", "32·elements",
             worked("32×{}", per_element), 32 * n) if wants_input else None,
        Term("adds", "additions (into the 16 taps)", "16·elements", worked("16×{}", per_element), 16 * n)
        if wants_input else None,
        Term("mults", "multiplications val·g·c′·c (grid gradient, 16 taps, x and y)", "96·elements",
             worked("96×{}", per_element), 96 * n),
        sums)


@op_rule(*aten_ops("grid_sampler_3d_backward"))
def grid_sampler_3d_backward(op) -> Cost:
    """``grid_sampler_3d_backward(grad_output (N, C, Do, Ho, Wo), input, grid (N, Do, Ho, Wo, 3),
    interpolation_mode, padding_mode, align_corners, output_mask)``, as the CPU kernel
    (``grid_sampler_3d_backward_cpu_impl``, a scalar loop) computes it (n = N·C·Do·Ho·Wo output
    elements, P = N·Do·Ho·Wo grid positions). As in 2-D, the grid's gradient is computed whatever
    the mask asks and the input's only when asked; bicubic is not supported in 3-D. Per position,
    whatever the mode and the mask, the three coordinates un-normalised (2 mults + 1 add per
    coordinate). Trilinear: per position the distances to the six faces (6 adds), the 8 corner
    weights, each a product of three distances (16 mults) (as the forward: rules/_grid.py), and the
    grid gradient's scaling (3 mults); per element the input gradient w·g into the 8 corners (8
    mults + 8 adds, an upper bound: a corner off the volume adds nothing, which only the grid
    tells) and, per corner and coordinate, val·d·d′·g (3 mults: the kernel does not factor it as
    the 2-D kernel does), summed over the corners and channels: 3·(8·n − P) adds. Nearest: each g added into its source
    (input gradient only; the grid's is zero). Padding modes' clipping is not counted, as in the
    forward."""
    grad, grid = op.args[0], op.args[2]
    mode = int(schema_arg(op, "interpolation_mode", 0))
    n = grad.numel
    positions = grid.numel // 3
    wants_input = _mask(op, 0)
    per_element = worked("{}", grad.shape)
    per_position = worked("{}", grid.shape[:-1])
    # (the kernel's loop un-normalises every position before it looks at the mode or the mask)
    unnormalise = unnormalisation(3, positions, per_position)
    if mode == 1:  # nearest: the grid's gradient is zero, the input's a scatter of g
        return Cost.of(*unnormalise, Term("adds", "additions (each g into its source)", "elements", per_element, n)
                       if wants_input else None)
    return Cost.of(
        *unnormalise,
        *corner_weights(3, positions, per_position),
        Term("mults", "grid gradient scaling (x, y and z)", "3·positions", worked("3×{}", per_position),
             3 * positions),
        Term("mults", "multiplications w·g (input gradient, 8 corners)", "8·elements", worked("8×{}", per_element),
             8 * n) if wants_input else None,
        Term("adds", "additions (into the 8 corners)", "8·elements", worked("8×{}", per_element), 8 * n)
        if wants_input else None,
        Term("mults", "multiplications val·d·d′·g (grid gradient, 8 corners, x, y and z)", "72·elements",
             worked("72×{}", per_element), 72 * n),
        Term("adds", "additions (grid gradient: Σ over corners and channels, x, y and z)",
             "3·(8·elements − positions)", worked("3×(8×{} − {})", per_element, per_position),
             3 * (8 * n - positions)))


# ---- normalisation --------------------------------------------------------------------------
@op_rule(*aten_ops("native_batch_norm_backward"))
def batch_norm_backward(op) -> Cost:
    """``native_batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean,
    save_invstd, train, eps, output_mask)``, M elements per channel. Whatever the mask, the kernel
    forms Σg and Σ(x − μ)·g per channel (1 sub + 1 mult per element, 2·(M − 1) adds per channel;
    the weight gradient is the latter times invstd, the bias gradient the former). The input
    gradient: with batch statistics (train) dx = (g − Σg/M − (x − μ)·k)·(w·invstd): 3 subs + 2
    mults per element; with running statistics dx = g·(w·invstd): 1 mult."""
    return Cost.of(*_batch_norm_backward_terms(op.args[1], bool(schema_arg(op, "train", True)), _mask(op, 0)))


@op_rule(*aten_ops("cudnn_batch_norm_backward", "miopen_batch_norm_backward"))
def cudnn_batch_norm_backward(op) -> Cost:
    """``cudnn_batch_norm_backward(input, grad_output, weight, running_mean, running_var, save_mean,
    save_var, epsilon, reserveSpace)`` (``miopen_batch_norm_backward``: the same without the reserve):
    BatchNorm's gradient in a training step on a GPU. Autograd calls it only after a forward with
    batch statistics (in eval the gradient goes through ``native_batch_norm_backward``), and the
    kernel forms all three gradients: the terms of ``native_batch_norm_backward`` with train and
    every gradient asked."""
    return Cost.of(*_batch_norm_backward_terms(op.args[0], True, True))


@op_rule(*aten_ops("batch_norm_backward"))
def new_batch_norm_backward(op) -> Cost:
    """``batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean, save_var,
    update, eps, output_mask, reserve)``, the gradient of ``_batch_norm_with_update`` /
    ``_batch_norm_no_update``: its kernels run cuDNN's (or MIOpen's) backward or
    ``native_batch_norm_backward`` with batch statistics when ``update`` is set (or no running
    statistics are given), running statistics otherwise: the same terms."""
    train = bool(schema_arg(op, "update", True)) or schema_arg(op, "running_mean") is None
    return Cost.of(*_batch_norm_backward_terms(op.args[1], train, _mask(op, 0)))


def _batch_norm_backward_terms(x, train: bool, input_gradient: bool) -> list[Term]:
    """The terms of a batch norm's gradient over ``x`` (N, C, …): see ``batch_norm_backward``."""
    n = x.numel
    channels = x.shape[1] if len(x.shape) > 1 else 1
    terms = [Term("adds", "subtractions x − μ", "elements", n, n),
             Term("mults", "multiplications (x − μ)·g", "elements", n, n),
             Term("adds", "additions (Σg and Σ(x − μ)·g per channel)", "2·(elements − channels)",
                  worked("2×({} − {})", n, channels), 2 * (n - channels))]
    if input_gradient:
        if train:
            terms += [Term("adds", "subtractions (input gradient)", "3·elements", worked("3×{}", n), 3 * n),
                      Term("mults", "multiplications (input gradient)", "2·elements", worked("2×{}", n), 2 * n)]
        else:
            terms.append(Term("mults", "multiplications g·(w·invstd)", "elements", n, n))
    return terms


def _normalized_rows(op) -> tuple[int, int, int, bool]:
    """A layer/RMS norm gradient's (elements, D, rows, whether it has a weight): its input's rows of
    D = ∏normalized_shape elements."""
    x = op.args[1]
    n = x.numel
    d = prod(schema_arg(op, "normalized_shape", x.shape[-1:]))
    return n, d, n // max(d, 1), schema_arg(op, "weight") is not None


@op_rule(*aten_ops("native_layer_norm_backward"))
def layer_norm_backward(op) -> Cost:
    """``native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd, weight, bias,
    output_mask)``, rows of D elements. The input gradient, as the kernel computes it: the row sums
    Σ g·w·x and Σ g·w (3 mults per element, 2·(D − 1) adds per row), then dx = rstd·g·w + b·x + c
    (3 mults, 2 adds); without a weight 1 and 2 mults. The weight gradient Σ over rows of
    g·(x − μ)·rstd: 1 sub + 2 mults per element and the column sums; the bias gradient Σ g."""
    n, d, rows, weighted = _normalized_rows(op)
    terms = []
    if _mask(op, 0):
        k = 6 if weighted else 3
        terms += [Term("mults", "multiplications (input gradient)", f"{k}·elements", worked(f"{k}×{{}}", n), k * n),
                  Term("adds", "additions (the two row sums)", "2·(elements − rows)",
                       worked("2×({} − {})", n, rows), 2 * (n - rows)),
                  Term("adds", "additions (input gradient)", "2·elements", worked("2×{}", n), 2 * n)]
    if _mask(op, 1) and weighted:
        terms += [Term("adds", "subtractions x − μ", "elements", n, n),
                  Term("mults", "multiplications ·rstd·g", "2·elements", worked("2×{}", n), 2 * n),
                  reduced("adds", "additions (weight gradient: Σ over rows)", n, d, "elements − D")]
    if _mask(op, 2) and schema_arg(op, "bias") is not None:
        terms.append(reduced("adds", "additions (bias gradient: Σ over rows)", n, d, "elements − D"))
    return Cost.of(*terms)


@op_rule(*aten_ops("_fused_rms_norm_backward"))  # torch >= 2.8, a GPU kernel (no CPU one)
def fused_rms_norm_backward(op) -> Cost:
    """``_fused_rms_norm_backward(grad_out, input, normalized_shape, rstd, weight, output_mask)``,
    rows of D elements, y = x·rstd·w. The input gradient dx = rstd·g·w − x·rstd³·Σ(g·w·x)/D: per
    element g·w (with a weight), ·x for the row sum and 2 mults + 1 subtraction for dx; per row the sum
    (D − 1 adds) and its factor −rstd³/D (3 mults, 1 div). The weight gradient Σ over rows of
    g·x·rstd: 2 mults per element and the column sums. Layer norm's gradient without the mean."""
    n, d, rows, weighted = _normalized_rows(op)
    terms = []
    if _mask(op, 0):
        k = 4 if weighted else 3
        terms += [Term("mults", "multiplications (input gradient)", f"{k}·elements", worked(f"{k}×{{}}", n), k * n),
                  Term("adds", "additions (the row sums)", "elements − rows", worked("{} − {}", n, rows), n - rows),
                  Term("mults", "multiplications (the rows' factor rstd³)", "3·rows", worked("3×{}", rows), 3 * rows),
                  Term("divs", "divisions (the rows' factor /D)", "rows", rows, rows),
                  Term("adds", "subtractions (input gradient)", "elements", n, n)]
    if _mask(op, 1) and weighted:
        terms += [Term("mults", "multiplications g·x·rstd", "2·elements", worked("2×{}", n), 2 * n),
                  reduced("adds", "additions (weight gradient: Σ over rows)", n, d, "elements − D")]
    return Cost.of(*terms)


@op_rule(*aten_ops("native_group_norm_backward"))
def group_norm_backward(op) -> Cost:
    """``native_group_norm_backward(grad_out, input, mean, rstd, weight, N, C, HxW, group,
    output_mask)``, as the CPU kernel computes it. Whatever the mask, per (n, c) the sums
    ds = Σ g·x and db = Σ g over HxW (1 mult per element, 2·(HxW − 1) adds per plane). The input
    gradient: per group Σ ds·γ and Σ db·γ over its channels (2 mults per (n, c) with a weight, the
    adds), the group's constants c2 = (db·μ − ds)·rstd³/M and c3 = −c2·μ − db·rstd/M (8 mults + 2
    adds per group), c1 = rstd·γ per (n, c) (with a weight), then dx = c1·g + c2·x + c3: 2 mults +
    2 adds per element. The weight gradient Σ over n of (ds − db·μ)·rstd (2 mults + 1 sub per
    (n, c)), the bias gradient Σ over n of db."""
    x = op.args[1]
    n = x.numel
    N, C, groups = (int(schema_arg(op, k)) for k in ("N", "C", "group"))
    planes = N * C
    weighted = schema_arg(op, "weight") is not None
    terms = [Term("mults", "multiplications g·x (ds per plane)", "elements", n, n),
             Term("adds", "additions (ds and db: Σ over each plane)", "2·(elements − N·C)",
                  worked("2×({} − {})", n, planes), 2 * (n - planes))]
    if _mask(op, 0):
        ng = N * groups
        if weighted:
            terms += [Term("mults", "multiplications ds·γ, db·γ and c1 = rstd·γ", "3·N·C", worked("3×{}", planes),
                           3 * planes)]
        # (no channel, C = 0: no sum per group, its constants still computed)
        terms += [Term("adds", "additions (Σ ds·γ and Σ db·γ per group)", "2·(N·C − N·G)",
                       worked("2×({} − {})", planes, ng), 2 * (planes - ng)) if planes >= ng else None,
                  Term("mults", "multiplications (c2, c3 per group)", "8·N·G", worked("8×{}", ng), 8 * ng),
                  Term("adds", "additions (c2, c3 per group)", "2·N·G", worked("2×{}", ng), 2 * ng),
                  Term("mults", "multiplications c1·g + c2·x", "2·elements", worked("2×{}", n), 2 * n),
                  Term("adds", "additions (dx = c1·g + c2·x + c3)", "2·elements", worked("2×{}", n), 2 * n)]
    if _mask(op, 1) and weighted:
        terms += [Term("mults", "multiplications (ds − db·μ)·rstd", "2·N·C", worked("2×{}", planes), 2 * planes),
                  Term("adds", "subtractions ds − db·μ", "N·C", planes, planes),
                  reduced("adds", "additions (weight gradient: Σ over N)", planes, C, "N·C − C")]
    if _mask(op, 2):
        terms.append(reduced("adds", "additions (bias gradient: Σ db over N)", planes, C, "N·C − C"))
    return Cost.of(*terms)


@op_rule(*aten_ops("_weight_norm_interface_backward"))
def weight_norm_backward(op) -> Cost:
    """``_weight_norm_interface_backward(grad_w, saved_v, saved_g, saved_norms, dim)``, as the CPU
    kernel computes it, per norm (k of them) over its slice of v: s = Σ g_w·v (1 mult per element,
    the sums), dg = s/‖v‖, a = g/‖v‖, b = a·dg/‖v‖ (3 divs + 1 mult per norm), then
    dv = a·g_w − b·v (2 mults + 1 sub per element)."""
    n, k = op.args[1].numel, op.args[3].numel
    return Cost.of(Term("mults", "multiplications g_w·v", "elements", n, n),
                   Term("adds", "additions (Σ g_w·v per norm)", "elements − norms", worked("{} − {}", n, k), n - k),
                   Term("divs", "divisions (dg, a, b per norm)", "3·norms", worked("3×{}", k), 3 * k),
                   Term("mults", "multiplications a·dg (per norm)", "norms", k, k),
                   Term("mults", "multiplications a·g_w, b·v", "2·elements", worked("2×{}", n), 2 * n),
                   Term("adds", "subtractions a·g_w − b·v", "elements", n, n))


# ---- recurrent ------------------------------------------------------------------------------
# A cell's own gradient per element of the N·H state, from the output and state gradients to the
# gate gradients dG (the products with the weights apart). LSTM, as the reference backward of
# mkldnn/RNN.cpp and CUDA's fused-cell kernel write it (oneDNN's and cuDNN's compute the same):
# tanh(c) recomputed; dc = g_c + dh·o·(1 − tanh²(c)); d(i, g, f, c_prev) = dc·(g, i, c_prev, f);
# do = dh·tanh(c)·o·(1 − o); the gate derivatives σ' = s·(1 − s) three times, tanh' = 1 − g².
# GRU, as CUDA's fused-cell kernel writes it: dz = g·(h − n)·(1 − z)·z, dh_prev (direct) = g·z,
# dn = g·(1 − z)·(1 − n²), dh_n = dn·r, dr = dn·h_n·(1 − r)·r. Elman: g·(1 − y²) (tanh),
# y > 0 ? g : 0 (relu).
_CELL_GRADIENT = {"LSTM": {"transc": 1, "mults": 16, "adds": 6}, "GRU": {"mults": 11, "adds": 5},
                  "RNN_TANH": {"mults": 2, "adds": 1}, "RNN_RELU": {"cmps": 1, "assigns": 1}}
_CELL_NAMES = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "tanh RNN", "RNN_RELU": "relu RNN"}
# the rows of the bias gradients Σ dG that differ: an LSTM's and an Elman cell's two biases get the
# same gradient (one sum, the other a copy); a GRU's differ in the candidate's rows (dn for b_in,
# dn·r for b_hn): 3H + H
_BIAS_ROWS = {"LSTM": 4, "GRU": 4, "RNN_TANH": 1, "RNN_RELU": 1}


def rnn_layer_backward_terms(mode: str, I: int, H: int, P: int, steps: int, weights: bool, bias: bool,
                             label: str = "") -> list[Term]:
    """One layer and direction of a fused recurrent kernel's backward (oneDNN's, cuDNN's, MIOpen's),
    ``steps`` = Σ sequence lengths (T·N unpadded), G gates, hidden state H_h = P with a projection
    (LSTM ``proj_size`` P > 0), else H. The kernel computes the data gradients whatever autograd
    needs: per step and sequence dx = dG·W_ih (G·H·I MACs) and dh_prev = dG·W_hh (G·H·H_h), with a
    projection dh_raw = W_hrᵀ·dh (H·P); dh = g_out + g_h (H_h adds; a GRU adds its direct path
    z⊙dh into dh_prev too, H more); the cell's gradient per state element (_CELL_GRADIENT). With
    ``weights``: dW_ih += dGᵀ·x (G·H·I), dW_hh += dGᵀ·h_prev (G·H·H_h), dW_hr += dh·h_rawᵀ (H·P),
    and with ``bias`` the bias gradients Σ dG over the steps (_BIAS_ROWS·H·(steps − 1) adds)."""
    from .recurrent import _GATES

    G = _GATES[mode]
    H_h = P if P > 0 else H
    terms = [
        Term("macs", f"{label}input gradient dG·W_ih", "G·H·I·steps", worked("{}×{}×{}×{}", G, H, I, steps),
             G * H * I * steps),
        Term("macs", f"{label}recurrent gradient dG·W_hh", "G·H·H_h·steps", worked("{}×{}×{}×{}", G, H, H_h, steps),
             G * H * H_h * steps),
    ]
    if P > 0:
        terms.append(Term("macs", f"{label}projection gradient W_hrᵀ·dh", "H·P·steps", worked("{}×{}×{}", H, P, steps),
                          H * P * steps))
    if weights:
        terms += [Term("macs", f"{label}weight gradient dGᵀ·x", "G·H·I·steps", worked("{}×{}×{}×{}", G, H, I, steps),
                       G * H * I * steps),
                  Term("macs", f"{label}weight gradient dGᵀ·h_prev", "G·H·H_h·steps",
                       worked("{}×{}×{}×{}", G, H, H_h, steps), G * H * H_h * steps)]
        if P > 0:
            terms.append(Term("macs", f"{label}weight gradient dh·h_rawᵀ (projection)", "H·P·steps",
                              worked("{}×{}×{}", H, P, steps), H * P * steps))
    terms.append(Term("adds", f"{label}dh = g_out + g_h", "H_h·steps", worked("{}×{}", H_h, steps), H_h * steps))
    if mode == "GRU":
        terms.append(Term("adds", f"{label}dh_prev = z⊙dh + dG·W_hh", "H·steps", worked("{}×{}", H, steps), H * steps))
    terms += recipe_terms(_CELL_GRADIENT[mode], H * steps, f"{label}{_CELL_NAMES[mode]} cell gradient, per H·steps")
    if weights and bias:
        k = _BIAS_ROWS[mode]
        terms.append(Term("adds", f"{label}additions (bias gradient: Σ dG over the steps)", f"{k}H·(steps − 1)",
                          worked(f"{k}×{{}}×({{}} − 1)", H, steps), k * H * (steps - 1)))
    return terms


@op_rule(*aten_ops("mkldnn_rnn_layer_backward"))
def mkldnn_rnn_layer_backward(op) -> Cost:
    """``mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy, grad_output,
    grad_hy, grad_cy, reverse, mode, hidden_size, …)``: one LSTM layer and direction of oneDNN's
    backward (nn.LSTM's training step on CPU). Its primitive computes every gradient whatever
    autograd needs: per step and sequence, from the gate gradients dG (4H), dx = dG·W_ih (4H·I
    MACs), dh_prev = dG·W_hh (4H·H), dW_ih += dGᵀ·x (4H·I) and dW_hh += dGᵀ·h_prev (4H·H): 2·4H·(I + H)
    MACs per step, the first layer's input gradient and the initial state's included (the
    decomposed path without oneDNN skips those two); dh = g_out + g_h and the cell's gradient per
    state element (1 tanh, 16 mults, 7 adds in all) and the bias gradient Σ dG over the steps (oneDNN
    forms it even without biases; the second bias's is a copy): ``rnn_layer_backward_terms``, which
    prices cuDNN's backward too."""
    x, w_ih, w_hh = op.args[0], op.args[1], op.args[2]
    H = int(schema_arg(op, "hidden_size", w_hh.shape[-1]))
    G = w_ih.shape[0] // max(H, 1)
    if G != 4:  # (oneDNN runs only the LSTM here)
        return None
    steps = prod(x.shape[:-1])  # T·N (oneDNN takes no packed sequence)
    return Cost.of(*rnn_layer_backward_terms("LSTM", w_ih.shape[1], H, 0, steps, True, True))


@op_rule(*aten_ops("_cudnn_rnn_backward", "miopen_rnn_backward"))
def cudnn_rnn_backward(op) -> Cost:
    """``_cudnn_rnn_backward(input, weight, weight_stride0, weight_buf, hx, cx, output, grad_output,
    grad_hy, grad_cy, mode, hidden_size, proj_size, num_layers, batch_first, dropout, train,
    bidirectional, batch_sizes, dropout_state, reserve, output_mask)`` (``miopen_rnn_backward``: the
    same without ``proj_size``): every layer and direction of nn.LSTM/GRU/RNN's training step on a
    GPU. The weights are the flat list the forward took (w_ih, w_hh[, b_ih, b_hh][, w_hr] per
    layer-direction; mode 0 relu RNN, 1 tanh RNN, 2 LSTM, 3 GRU, cuDNN's numbering). PyTorch always
    runs cuDNN's data backward (the weight backward reads its workspace), which forms the input and
    initial-state gradients whatever ``output_mask`` asks, as oneDNN's primitive does; the weight
    gradients only when ``output_mask[3]`` asks for them. Per layer-direction the terms of
    ``rnn_layer_backward_terms`` (an LSTM's equal oneDNN's ``mkldnn_rnn_layer_backward``, layer by
    layer), the layer input I read from w_ih; in training with dropout > 0, the gradient through
    each dropped-out layer output (all but the last) g·mask·scale, as ``native_dropout_backward``."""
    from .recurrent import _mode, cudnn_dropout, cudnn_rnn_args

    x, weights, mode_id, H, P, layers, dirs, per = cudnn_rnn_args(op)
    mask = schema_arg(op, "output_mask")
    want_weights = True if mask is None else bool(mask[3])
    has_bias = per >= 4
    batch_sizes = schema_arg(op, "batch_sizes")
    steps = x.shape[0] if batch_sizes else prod(x.shape[:-1])  # packed: Σ lengths rows; else T·N
    terms = []
    for i in range(layers * dirs):
        w_ih = weights[i * per]
        mode = _mode(w_ih.shape[0] // max(H, 1), mode_id)
        label = f"layer {i // dirs}{', reverse' if i % dirs else ''}: "
        terms += rnn_layer_backward_terms(mode, w_ih.shape[1], H, P, steps, want_weights, has_bias, label)
        if i % dirs == dirs - 1 and i // dirs < layers - 1 and cudnn_dropout(op):
            e = dirs * (P if P > 0 else H) * steps
            terms += recipe_terms(_ACTIVATIONS["native_dropout_backward"], e,
                                  f"layer {i // dirs}: dropout gradient g·mask·scale")
    return Cost.of(*terms)


@op_rule(*aten_ops("_thnn_fused_lstm_cell_backward_impl", "_thnn_fused_lstm_cell_backward"))
def thnn_fused_lstm_cell_backward(op) -> Cost:
    """``_thnn_fused_lstm_cell_backward_impl(grad_hy, grad_cy, cx, cy, workspace, has_bias)``: one
    LSTM cell step's gradient on CUDA (nn.LSTMCell's training step), from the gates the forward kept
    to the gate gradients, per element of the N·H state as the kernel writes it (_CELL_GRADIENT:
    1 tanh, 16 mults, 6 adds; a missing grad_hy or grad_cy is read as zeros, the same arithmetic);
    with ``has_bias`` the bias gradient Σ dG over the batch (4H·(N − 1) adds; the second bias's is
    the same tensor). The products with the weights are ``mm`` calls after it."""
    cx = op.args[2]
    H = cx.shape[-1] if cx.shape else 1
    N = prod(cx.shape[:-1])
    terms = recipe_terms(_CELL_GRADIENT["LSTM"], H * N, "LSTM cell gradient, per N·H")
    if bool(schema_arg(op, "has_bias", False)):
        terms.append(Term("adds", "additions (bias gradient: Σ dG over the batch)", "4H·(N − 1)",
                          worked("4×{}×({} − 1)", H, N), 4 * H * (N - 1)))
    return Cost.of(*terms)


@op_rule(*aten_ops("_thnn_fused_gru_cell_backward"))
def thnn_fused_gru_cell_backward(op) -> Cost:
    """``_thnn_fused_gru_cell_backward(grad_hy, workspace, has_bias)``: one GRU cell step's gradient
    on CUDA (nn.GRUCell's training step), per element of the N·H state as the kernel writes it
    (_CELL_GRADIENT: 11 mults, 5 adds): the input-side gate gradients (dr, dz, dn), the hidden-side
    ones (dr, dz, dn·r) and the direct gradient g·z of the previous state; with ``has_bias`` both
    bias gradients, each Σ over the batch of its 3H gate gradients (2·3H·(N − 1) adds)."""
    g = op.args[0]
    H = g.shape[-1] if g.shape else 1
    N = prod(g.shape[:-1])
    terms = recipe_terms(_CELL_GRADIENT["GRU"], H * N, "GRU cell gradient, per N·H")
    if bool(schema_arg(op, "has_bias", False)):
        terms.append(Term("adds", "additions (bias gradients: Σ over the batch, input and hidden side)",
                          "2·3H·(N − 1)", worked("2×3×{}×({} − 1)", H, N), 6 * H * (N - 1)))
    return Cost.of(*terms)


# ---- embedding ------------------------------------------------------------------------------
@op_rule(*aten_ops("embedding_dense_backward"))
def embedding_backward(op) -> Cost:
    """``embedding_dense_backward(grad_output, indices, num_weights, padding_idx,
    scale_grad_by_freq)``: each looked-up row's gradient added into the weight gradient; with
    ``scale_grad_by_freq``, as the CPU kernel computes it, each index counted first (1 add per
    index), its scale 1/count (1 div per index) and the row's gradient added in times it
    (``grad_weight[k].add_(grad[i], scale)``: 1 mult more per element)."""
    n = op.args[0].numel
    terms = [Term("adds", "additions (each row's gradient into the weight's)", "indices·D",
                  worked("{}", op.args[0].shape), n)]
    if bool(schema_arg(op, "scale_grad_by_freq", False)):
        L = op.args[1].numel
        terms += [Term("adds", "additions (each index counted)", "indices", L, L),
                  Term("divs", "divisions 1/count (per index)", "indices", L, L),
                  Term("mults", "multiplications (each row's gradient by 1/count)", "indices·D",
                       worked("{}", op.args[0].shape), n)]
    return Cost.of(*terms)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


@op_rule(*aten_ops("_embedding_bag_backward", "_embedding_bag_dense_backward", "_embedding_bag_sparse_backward"))
@op_rule(*aten_ops("_embedding_bag_backward", "_embedding_bag_sparse_backward"), sparse=True)  # (sparse=True: its gradient)
def embedding_bag_backward(op) -> Cost:
    """``_embedding_bag_backward(grad, indices, offsets, offset2bag, bag_size, maximum_indices,
    num_weights, scale_grad_by_freq, mode, sparse, per_sample_weights, padding_idx)``, L indices,
    rows of D: as the CPU kernels compute it, dense sum: each index's bag gradient added into its
    row (L·D adds); mean: scaled by 1/bag size (1 div per index, L·D mults) and added; with
    per-sample weights: scaled by the weight and added; max: each bag's gradient added at its
    argmax (B·D adds); with ``scale_grad_by_freq`` each index's scale divided by its count as well
    (1 div per index, and the L·D mults a plain sum otherwise skips). Sparse: the bag gradients
    gathered per index (a copy), times 1/bag size for a mean (B divs, L·D mults), times the
    per-sample weights (L·D mults); torch refuses it scaled by frequency. Padding indices are
    counted too (an upper bound)."""
    grad, indices = op.args[0], op.args[1]
    L, D = indices.numel, grad.shape[-1] if grad.shape else 1
    mode = _BAG_MODES.get(int(schema_arg(op, "mode", 0)), "sum")
    # (older torch splits the op into its dense and sparse halves, which name the choice)
    sparse = bool(schema_arg(op, "sparse", "sparse" in op.op.overloadpacket.__name__))
    weighted = schema_arg(op, "per_sample_weights") is not None
    per_index = worked("{}×{}", L, D)
    if mode == "max":
        return Cost.of(Term("adds", "additions (each bag's gradient at its argmax)", "bags·D",
                            worked("{}", grad.shape), grad.numel))
    if sparse:  # the rows gathered, times 1/their bag's size or the sample weight
        if mode == "mean":
            bags = grad.shape[0] if grad.shape else 1
            return Cost.of(Term("divs", "divisions 1/bag size (per bag)", "bags", bags, bags),
                           Term("mults", "multiplications (by 1/bag size)", "L·D", per_index, L * D))
        return Cost.of(Term("mults", "multiplications by the sample weight", "L·D", per_index, L * D)
                       if weighted else None)
    # (the CPU kernel's scale per index: the sample weight, / its count, / its bag's size; then
    # axpy of the bag's gradient into the index's row)
    by_freq = bool(schema_arg(op, "scale_grad_by_freq", False))
    scaled_by = [what for what, used in (("1/bag size", mode == "mean"), ("the sample weight", weighted),
                                         ("1/count", by_freq)) if used]
    return Cost.of(Term("divs", "divisions 1/bag size (per index)", "L", L, L) if mode == "mean" else None,
                   Term("divs", "divisions by the index's count (per index)", "L", L, L) if by_freq else None,
                   Term("mults", f"multiplications (by {' · '.join(scaled_by)})", "L·D", per_index, L * D)
                   if scaled_by else None,
                   Term("adds", "additions (each index's gradient into its row)", "L·D", per_index, L * D))


@op_rule(*aten_ops("_embedding_bag_per_sample_weights_backward"))
def embedding_bag_per_sample_weights_backward(op) -> Cost:
    """``_embedding_bag_per_sample_weights_backward(grad, weight, indices, …)``: each index's sample
    weight gets the dot product of its bag's gradient and its embedding row, L·D MACs."""
    L, D = op.args[2].numel, op.args[0].shape[-1] if op.args[0].shape else 1
    return Cost.of(Term("macs", "multiply-accumulates (bag gradient · embedding row, per index)", "L·D",
                        worked("{}×{}", L, D), L * D))


# a zero gradient with the selected part's gradient copied in (data movement only)
zero_ops(*aten_ops("select_backward", "slice_backward", "diagonal_backward"))
# masked_scatter's source gradient: the masked elements of grad selected, zeros appended up to the source's
# size (a vision-language model's image features scattered into its text embeddings)
zero_ops(*aten_ops("masked_scatter_backward"))
# a sparse gradient's parts (Embedding(sparse=True)): assembled and read without arithmetic
zero_ops(*aten_ops("_indices", "_values", "indices", "values", "_sparse_coo_tensor_with_dims_and_tensors",
                   "_sparse_coo_tensor_with_dims"))


# ---- torchvision ----------------------------------------------------------------------------
@op_rule("torchvision::_roi_align_backward")
def roi_align_backward(op) -> Cost | None:
    """``torchvision::_roi_align_backward(grad (K, C, ph, pw), rois, spatial_scale, pooled_height,
    pooled_width, batch_size, channels, height, width, sampling_ratio, aligned)``, as the CPU kernel
    computes it: per output element (each channel of each bin) and each of its s·s samples, the
    four corner weights from the fractional position, priced as the forward rule prices them
    (4 subtractions, 4 multiplications) but recomputed per channel (the forward shares them), the
    four shares g·w/count (4 mults, 4 divs) and each added into its corner of the input gradient
    (4 adds; an upper bound: a sample outside the feature map adds nothing, which only the boxes
    tell). The sample positions and the box's bin sizes are not counted, as in the forward. With
    ``sampling_ratio ≤ 0`` the grid adapts to each box's size: uncounted, as the forward."""
    grad = op.args[0]
    ratio = int(schema_arg(op, "sampling_ratio"))
    if ratio <= 0:
        return None  # an adaptive grid: as many samples as each box is large
    k, c, ph, pw = grad.shape
    n = grad.numel * ratio * ratio
    per_sample = worked("{}×{}×{}×{}×{}×{}", k, c, ph, pw, ratio, ratio)
    samples = "K·C·ph·pw·s·s"
    return Cost.of(
        Term("adds", "distances to the four sides (per output element and sample)", f"4·{samples}",
             worked("4×{}", per_sample), 4 * n),
        Term("mults", "corner weights (per output element and sample)", f"4·{samples}", worked("4×{}", per_sample),
             4 * n),
        Term("mults", "multiplications g·w (4 corners)", f"4·{samples}", worked("4×{}", per_sample), 4 * n),
        Term("divs", "divisions by the sample count (4 corners)", f"4·{samples}", worked("4×{}", per_sample), 4 * n),
        Term("adds", "additions (into the 4 corners)", f"4·{samples}", worked("4×{}", per_sample), 4 * n))
