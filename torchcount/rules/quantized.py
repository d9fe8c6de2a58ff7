"""Rules for quantized modules (``torch.ao.nn.quantized``).

Dynamic quantized Linear (``quantize_dynamic``): the weight is stored as int8 (or fp16),
the input is quantized on the fly per call and the int32 accumulator is dequantized back
to float. The contraction is the same as ``nn.Linear``'s — rows·n·k MACs, in integer
arithmetic — plus:

- the input's range: a min and a max over every element (2 comparisons per element);
- quantizing the input: one multiplication (by 1/scale) per element (rounding and the
  zero point are not counted separately);
- dequantizing the output: one multiplication per output element;
- the float bias: one addition per output element.

For an fp16 dynamic Linear there is no activation quantization: MACs and bias only.
Static quantized Linear (``torch.ao.nn.quantized.Linear``) receives an already quantized
input and requantizes its output: MACs, bias, one multiplication per output element.
Static quantized convolutions (``Conv{1,2,3}d``, fused ``ConvReLU``), the ``QFunctional``
ops (add, add_relu, mul, cat, matmul), quantized hardswish, the other int8 modules' ops
(sigmoid, leaky_relu, elu, celu, threshold, relu6, clamp, softmax, the norms) and
quantize/dequantize: see below.
Dynamic quantized LSTM / GRU and the RNN/LSTM/GRU cells: the float layer's terms
(rules/recurrent.py), and with int8 weights, for every gate product of every step, what the
dynamic Linear adds: the range of its input (the layer's input and the recurrent state,
2 comparisons per element), their quantization (1 multiplication per element) and the
dequantization of the G·H gate pre-activations of each of the two products (input and
state). fp16 weights: the float terms only.
Quantized Embedding (``torch.ao.nn.quantized.Embedding``, 8-bit rows with a float scale and
offset per row): each looked-up element is dequantized, q·scale + offset: one multiplication
and one addition per output element.
The packed weights are not ``nn.Parameter``s; ``torchcount.count`` counts them as
(frozen) parameters. The quantized convolutions and Linears called as ops (``quantized::conv2d``,
``quantized::linear``, ``linear_dynamic``, … from ``torch.ao.nn.quantized.functional`` or an
FX-lowered model) are priced from their packed weight, which the capture describes
(``capture.PackedWeights``), with the same terms as the modules.
"""
from __future__ import annotations

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
from torch.ao.nn.quantized import Embedding as QEmbedding
from torch.ao.nn.quantized import Linear as QLinear
from torch.ao.nn.quantized import dynamic as nnqd
from torch.ao.nn.quantized.dynamic import Linear as DynamicQLinear

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg
from .activation import per_element, softmax_terms
from .conv import conv_terms
from .norm import _affine_terms, _running_terms, _stats_terms
from .recurrent import _GATES, SEQUENTIAL_FORWARDS, _sequence, _step_terms, cell_batch, cell_terms, rnn_terms
from .registry import module_rule, op_rule, zero_ops

quantized_ops = torch.ops.quantized


def _weight_bias(m):
    weight, bias = m._weight_bias()
    return weight, bias


def _contraction(m, call) -> tuple[int, int, int, bool, list]:
    weight, bias = _weight_bias(m)
    k, n = weight.shape
    rows = prod(call.input.shape[:-1])
    has_bias = bias is not None
    terms = [
        Term("params", "parameters (packed)", "(n + 1)·k" if has_bias else "n·k",
             worked("({} + 1)×{}" if has_bias else "{}×{}", n, k), (n + has_bias) * k),
        Term("macs", f"multiply-accumulates ({str(weight.dtype).removeprefix('torch.')} weights)",
             "rows·n·k", worked("{}×{}×{}", rows, n, k), rows * n * k),
    ]
    return rows, n, k, has_bias, terms


@module_rule(DynamicQLinear)
def dynamic_quantized_linear(m, call) -> Cost:
    rows, n, k, has_bias, terms = _contraction(m, call)
    quantized = m._packed_params.dtype in (torch.qint8, torch.quint8)
    x = rows * n
    return Cost.of(
        *terms,
        Term("cmps", "input range (min and max)", "2·rows·n", worked("2×{}×{}", rows, n), 2 * x) if quantized else None,
        Term("mults", "input quantization", "rows·n", worked("{}×{}", rows, n), x) if quantized else None,
        Term("mults", "output dequantization", "rows·k", worked("{}×{}", rows, k), rows * k) if quantized else None,
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), rows * k) if has_bias else None,
    )


@module_rule(QLinear)
def quantized_linear(m, call) -> Cost:
    rows, n, k, has_bias, terms = _contraction(m, call)
    return Cost.of(
        *terms,
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), rows * k) if has_bias else None,
        Term("mults", "output requantization", "rows·k", worked("{}×{}", rows, k), rows * k),
    )


@module_rule(QEmbedding)
def quantized_embedding(m, call) -> Cost:
    out = call.out.numel
    return Cost.of(
        Term("params", "parameters (packed)", "num_embeddings·dim", worked("{}×{}", m.num_embeddings, m.embedding_dim),
             m.num_embeddings * m.embedding_dim),
        Term("mults", "dequantization q·scale", "outputs", out, out),
        Term("adds", "dequantization + offset", "outputs", out, out),
    )


@module_rule(nnq.EmbeddingBag)
def quantized_embedding_bag(m, call) -> Cost:
    """``torch.ao.nn.quantized.EmbeddingBag`` (8- or 4-bit rows with a float scale and offset per row;
    uncounted until 2026-12-06): each looked-up element dequantized, q·scale + offset (1 mult + 1 add),
    then the float EmbeddingBag's reduction of each bag (rules/embedding.py; per-sample weights 1 mult
    per looked-up element)."""
    from .embedding import bag_terms

    indices = call.input
    lookups, dim = indices.numel, m.embedding_dim
    bags = call.out.shape[0]
    weights = call.args[2] if len(call.args) > 2 else call.kwargs.get("per_sample_weights")
    each = worked("{}×{}", lookups, dim)
    return Cost.of(
        Term("params", "parameters (packed)", "num_embeddings·dim", worked("{}×{}", m.num_embeddings, dim),
             m.num_embeddings * dim),
        Term("mults", "dequantization q·scale", "lookups·dim", each, lookups * dim),
        Term("adds", "dequantization + offset", "lookups·dim", each, lookups * dim),
        *bag_terms(lookups, bags, dim, m.mode, weights is not None),
    )


def _quantization_terms(n_in: int, n_out: int, formula_in: str, formula_out: str, values_in,
                        values_out, label: str) -> list[Term]:
    """Dynamic quantization of ``n_in`` input elements (range and scale) and dequantization of
    ``n_out`` int32 results."""
    return [
        Term("cmps", f"{label}input ranges (min and max)", f"2·{formula_in}", worked("2×{}", values_in), 2 * n_in),
        Term("mults", f"{label}input quantization", formula_in, worked("{}", values_in), n_in),
        Term("mults", f"{label}output dequantization", formula_out, worked("{}", values_out), n_out),
    ]


@module_rule(nnqd.LSTM, nnqd.GRU)
def dynamic_quantized_rnn(m, call) -> Cost:
    terms = rnn_terms(m, call)
    if m.dtype != torch.qint8:  # fp16 weights: no activation quantization
        return Cost.of(*terms)
    G, H, dirs = _GATES[m.mode], m.hidden_size, 2 if m.bidirectional else 1
    steps, _ = _sequence(m, call)
    for layer in range(m.num_layers):
        I = m.input_size if layer == 0 else H * dirs
        terms += _quantization_terms(dirs * (I + H) * steps, 2 * dirs * G * H * steps,
                                     "dirs·(I + H)·steps", "2·dirs·G·H·steps",
                                     (dirs, I + H, steps), (2, dirs, G, H, steps), f"layer {layer}: ")
    return Cost.of(*terms)


SEQUENTIAL_FORWARDS.update({nnqd.LSTM.forward, nnqd.GRU.forward})

_DYNAMIC_CELL_MODE = {nnqd.RNNCell: None, nnqd.LSTMCell: "LSTM", nnqd.GRUCell: "GRU"}


@module_rule(*_DYNAMIC_CELL_MODE)
def dynamic_quantized_cell(m, call) -> Cost:
    mode = next(v for k, v in _DYNAMIC_CELL_MODE.items() if isinstance(m, k))
    terms = cell_terms(m, call, mode)
    if m.weight_dtype != torch.qint8:
        return Cost.of(*terms)
    G = _GATES[mode or "RNN_TANH"]
    N, I, H = cell_batch(call), m.input_size, m.hidden_size
    terms += _quantization_terms(N * (I + H), 2 * N * G * H, "N·(I + H)", "2·N·G·H",
                                 (N, I + H), (2, N, G, H), "")
    return Cost.of(*terms)


# ---- static quantized models (torchvision.models.quantization, convert_fx / convert) --------
# Integer arithmetic is counted like float arithmetic; requantizing an int32 result to 8 bits
# (·scale ratio, + zero point, rounding) is one multiplication per output element.

_QCONV = {nnq.Conv1d: None, nnq.Conv2d: None, nnq.Conv3d: None,
          nniq.ConvReLU1d: "relu", nniq.ConvReLU2d: "relu", nniq.ConvReLU3d: "relu"}


@module_rule(*_QCONV)
def quantized_conv(m, call) -> Cost:
    """A static quantized convolution (``torch.ao.nn.quantized.Conv{1,2,3}d``, and the fused
    ``ConvReLU``): the float convolution's terms (rules/conv.py; the bias is the packed one),
    one requantization per output, and the ReLU's recipe for a fused ConvReLU."""
    _, bias = m._weight_bias()
    outputs = call.out.numel
    relu = _QCONV.get(type(m))
    return Cost.of(
        *conv_terms(m, call, bias is not None),
        Term("mults", "output requantization", "outputs", outputs, outputs),
        *(per_element(relu, outputs, "outputs") if relu else ()),
    )


def _elements(op) -> int:
    return op.outputs[0].numel if op.outputs else 0


@op_rule(quantized_ops.add, quantized_ops.add_relu, quantized_ops.add_scalar, quantized_ops.add_scalar_relu)
def quantized_add(op) -> Cost:
    """``QFunctional.add`` (a residual add between int8 tensors): one addition and one
    requantization per element, and the ReLU's recipe for ``add_relu``."""
    n = _elements(op)
    relu = "relu" in str(op.op)
    return Cost.of(Term("adds", "additions", "elements", n, n),
                   Term("mults", "requantization", "elements", n, n),
                   *(per_element("relu", n) if relu else ()))


@op_rule(quantized_ops.mul, quantized_ops.mul_relu, quantized_ops.mul_scalar)
def quantized_mul(op) -> Cost:
    n = _elements(op)
    return Cost.of(Term("mults", "multiplications", "elements", n, n),
                   Term("mults", "requantization", "elements", n, n),
                   *(per_element("relu", n) if "relu" in str(op.op) else ()))


@op_rule(quantized_ops.cat, quantized_ops.cat_relu)
def quantized_cat(op) -> Cost:
    """Concatenating int8 tensors to one output scale: one requantization per element."""
    n = _elements(op)
    return Cost.of(Term("mults", "requantization", "elements", n, n),
                   *(per_element("relu", n) if "relu" in str(op.op) else ()))


@op_rule(quantized_ops.hardswish)
def quantized_hardswish(op) -> Cost:
    n = _elements(op)
    return Cost.of(*per_element("hardswish", n), Term("mults", "requantization", "elements", n, n))


# PT2E quantization (``convert_pt2e``) leaves a float graph with quantize/dequantize pairs of the
# ``quantized_decomposed`` library (torch.ao.quantization.fx._decomposed, or torchao) around float ops:
# the same arithmetic, priced by the same rules
@op_rule(torch.ops.aten.quantize_per_tensor, torch.ops.aten.quantize_per_channel,
         "quantized_decomposed::quantize_per_tensor", "quantized_decomposed::quantize_per_channel")
def quantize(op) -> Cost:
    """Float → int8: x·(1/scale) + zero point, rounded and clamped — counted as one
    multiplication per element, as the dynamic Linear's input quantization."""
    n = op.inputs[0].numel
    return Cost.of(Term("mults", "quantization (·1/scale)", "elements", n, n))


@op_rule(torch.ops.aten.dequantize,
         "quantized_decomposed::dequantize_per_tensor", "quantized_decomposed::dequantize_per_channel")
def dequantize(op) -> Cost:
    """int8 → float: (q − zero point)·scale, counted as one multiplication per element."""
    n = _elements(op) or op.inputs[0].numel
    return Cost.of(Term("mults", "dequantization (·scale)", "elements", n, n))


# ---- the same as functional ops (torch.ao.nn.quantized.functional, FX-lowered F.linear / F.conv*):
# the packed weights reach the rule described (capture.PackedWeights)

def _packed(op):
    from ..capture import PackedWeights

    return next((a for a in op.args if isinstance(a, PackedWeights)), None)


def _existing(*names: str) -> list:
    return [getattr(quantized_ops, n) for n in names if hasattr(quantized_ops, n)]


@op_rule(*_existing("conv1d", "conv2d", "conv3d", "conv1d_relu", "conv2d_relu", "conv3d_relu",
                    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                    "conv2d_add", "conv2d_add_relu"))
def quantized_conv_op(op) -> "Cost | None":
    """``quantized::conv2d`` (and 1d/3d, ``_relu``, transposed): every weight element times every
    output position (input positions for a transposed one), the bias, one requantization per
    output, the ReLU's recipe for ``_relu`` — as the quantized Conv modules. ``conv2d_add`` (oneDNN's
    fused ``nniq.ConvAdd2d`` / ``ConvAddReLU2d``, uncounted until 2026-12-06) adds the accumulator
    tensor to each output, one addition more."""
    packed = _packed(op)
    if packed is None:
        return None
    weight, out = packed.weight, op.outputs[0]
    x = op.inputs[0]
    # the ops take batched inputs only (N×C×…), and a conv1d's packed weight is a conv2d's of height 1
    # (C_out×C_in×1×k): the positions are the input's or output's dimensions after N and C
    positions = prod((x if packed.transposed else out).shape[2:]) * x.shape[0]
    kernel = prod(weight.shape)
    outputs = out.numel
    return Cost.of(
        Term("macs", "multiply-accumulates", "weight elements·positions", worked("{}×{}", weight.shape, positions),
             kernel * positions),
        Term("adds", "bias additions", "outputs", outputs, outputs) if packed.bias is not None else None,
        Term("adds", "additions of the accumulator (conv + add)", "outputs", outputs, outputs)
        if "_add" in op.op.overloadpacket.__name__ else None,
        Term("mults", "output requantization", "outputs", outputs, outputs),
        *(per_element("relu", outputs, "outputs") if "relu" in str(op.op) else ()),
    )


# oneDNN's fused Linear + activation (``nniq.LinearLeakyReLU``, ``nniq.LinearTanh``; uncounted until 2026-12-06)
_FUSED_LINEAR_ACTIVATION = {"linear_relu": "relu", "linear_leaky_relu": "leaky_relu", "linear_tanh": "tanh",
                            "linear_relu_dynamic": "relu", "linear_relu_dynamic_fp16": "relu"}
_STATIC_LINEAR = _existing("linear", "linear_relu", "linear_leaky_relu", "linear_tanh")
_DYNAMIC_LINEAR = _existing("linear_dynamic", "linear_relu_dynamic", "linear_dynamic_fp16",
                            "linear_relu_dynamic_fp16")


@op_rule(*_STATIC_LINEAR, *_DYNAMIC_LINEAR)
def quantized_linear_op(op) -> "Cost | None":
    """``quantized::linear`` (static: requantized output) and ``linear_dynamic`` (int8: the input's
    range and quantization, the output's dequantization; fp16: neither), as the quantized Linear
    modules."""
    packed = _packed(op)
    if packed is None:
        return None
    k, n = packed.weight.shape
    rows = prod(op.inputs[0].shape[:-1])
    outputs, x = rows * k, rows * n
    name = op.op.overloadpacket.__name__
    dynamic_int8 = "dynamic" in name and "fp16" not in name
    return Cost.of(
        Term("macs", "multiply-accumulates", "rows·n·k", worked("{}×{}×{}", rows, n, k), rows * n * k),
        Term("cmps", "input range (min and max)", "2·rows·n", worked("2×{}×{}", rows, n), 2 * x) if dynamic_int8 else None,
        Term("mults", "input quantization", "rows·n", worked("{}×{}", rows, n), x) if dynamic_int8 else None,
        Term("mults", "output dequantization", "rows·k", worked("{}×{}", rows, k), outputs) if dynamic_int8 else None,
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), outputs) if packed.bias is not None else None,
        Term("mults", "output requantization", "rows·k", worked("{}×{}", rows, k), outputs)
        if name in ("linear", "linear_relu", "linear_leaky_relu", "linear_tanh") else None,
        *(per_element(_FUSED_LINEAR_ACTIVATION[name], outputs, "outputs") if name in _FUSED_LINEAR_ACTIVATION else ()),
    )


# packing a weight for the functional ops (a reordering, once per call of qF.conv2d / qF.linear) and
# reading a quantized tensor's scale or zero point: no arithmetic
zero_ops(*_existing("conv1d_prepack", "conv2d_prepack", "conv3d_prepack", "conv_transpose1d_prepack",
                    "conv_transpose2d_prepack", "conv_transpose3d_prepack", "linear_prepack", "linear_prepack_fp16"),
         *[getattr(torch.ops.aten, n) for n in ("q_scale", "q_zero_point", "q_per_channel_scales",
                                                  "q_per_channel_zero_points", "q_per_channel_axis", "qscheme")
           if hasattr(torch.ops.aten, n)])


# ---- the other eager-mode int8 modules (torch.ao.nn.quantized: LeakyReLU, Sigmoid, ELU, CELU, ReLU6,
# Softmax, LayerNorm, GroupNorm, InstanceNorm, BatchNorm, and QFunctional.matmul) run quantized:: ops of
# their own. Their kernels dequantize, compute in float and quantize the result to the output's scale,
# but for relu6 and clamp, which clamp the integers: the float layer's terms, plus one requantization
# per output element where the kernel requantizes (uncounted until 2026-12-06).
def _requantized(n: int) -> Term:
    return Term("mults", "requantization", "elements", n, n)


_QUANTIZED_ACTIVATIONS = {"sigmoid": "sigmoid", "leaky_relu": "leaky_relu", "elu": "elu", "celu": "celu",
                          "threshold": "threshold", "relu6": "relu6"}


@op_rule(*_existing(*_QUANTIZED_ACTIVATIONS))
def quantized_activation(op) -> Cost:
    """``quantized::sigmoid``, ``leaky_relu``, ``elu``, ``celu``, ``threshold``: the float recipe
    (rules/activation.py) and a requantization per element; ``relu6`` clamps the integers, no
    requantization."""
    name = op.op.overloadpacket.__name__
    n = _elements(op)
    recipe = _QUANTIZED_ACTIVATIONS[name]
    return Cost.of(*per_element(recipe, n), *((_requantized(n),) if recipe != "relu6" else ()))


@op_rule(*_existing("clamp"))
def quantized_clamp(op) -> Cost:
    """``quantized::clamp`` (nnq.Hardtanh, ReLU6's functional form): the bounds quantized once, each
    integer compared with them (2 cmps + 1 assignment, one bound: 1 + 1); no requantization."""
    n = _elements(op)
    lo, hi = schema_arg(op, "min"), schema_arg(op, "max")
    bounds = 2 if lo is not None and hi is not None else 1
    return Cost.of(Term("cmps", "comparisons (clamp)", f"{bounds}·elements" if bounds == 2 else "elements",
                        worked("2×{}", n) if bounds == 2 else n, bounds * n),
                   Term("assigns", "assignments (clamp)", "elements", n, n))


@op_rule(*_existing("softmax"))
def quantized_softmax(op) -> Cost:
    """``quantized::softmax`` (nnq.Softmax): the float softmax over the dimension and a requantization
    per element."""
    x = op.inputs[0]
    dim = int(schema_arg(op, "dim"))
    n = x.shape[dim] if x.shape else 1
    return Cost.of(*softmax_terms(x.numel // max(n, 1), n), _requantized(x.numel))


def _affine(op, elements: int) -> list[Term]:
    weight, bias = schema_arg(op, "weight"), schema_arg(op, "bias")
    return [t for t, given in zip(_affine_terms(elements), (weight, bias)) if given is not None]


@op_rule(*_existing("layer_norm"))
def quantized_layer_norm(op) -> Cost:
    """``quantized::layer_norm`` (nnq.LayerNorm): nn.LayerNorm's terms and a requantization per element."""
    x = op.inputs[0]
    n = prod(schema_arg(op, "normalized_shape"))
    return Cost.of(*_stats_terms(x.numel // max(n, 1), n, "rows"), *_affine(op, x.numel), _requantized(x.numel))


@op_rule(*_existing("group_norm"))
def quantized_group_norm(op) -> Cost:
    """``quantized::group_norm`` (nnq.GroupNorm): nn.GroupNorm's terms and a requantization per element."""
    x = op.inputs[0]
    batch, groups = x.shape[0], int(schema_arg(op, "num_groups"))
    return Cost.of(*_stats_terms(batch * groups, x.numel // max(batch * groups, 1), "N·G", (batch, groups)),
                   *_affine(op, x.numel), _requantized(x.numel))


@op_rule(*_existing("instance_norm"))
def quantized_instance_norm(op) -> Cost:
    """``quantized::instance_norm`` (nnq.InstanceNorm1d/2d/3d: statistics of each instance, no running
    statistics): nn.InstanceNorm's terms and a requantization per element."""
    x = op.inputs[0]
    instances = prod(x.shape[:2])
    return Cost.of(*_stats_terms(instances, x.numel // max(instances, 1), "instances"), *_affine(op, x.numel),
                   _requantized(x.numel))


@op_rule(*_existing("batch_norm", "batch_norm1d", "batch_norm2d", "batch_norm3d", "batch_norm_relu",
                    "batch_norm1d_relu", "batch_norm2d_relu", "batch_norm3d_relu"))
def quantized_batch_norm(op) -> Cost:
    """``quantized::batch_norm2d`` and the others (nnq.BatchNorm2d/3d, the fused BNReLU): eval-mode
    nn.BatchNorm's terms with the running statistics, a requantization per element, the ReLU's recipe
    for ``_relu``."""
    x = op.inputs[0]
    channels = x.shape[1] if len(x.shape) > 1 else x.shape[0]
    n = x.numel
    relu = "relu" in op.op.overloadpacket.__name__
    return Cost.of(*_running_terms(channels, n), *_affine(op, n), _requantized(n),
                   *(per_element("relu", n) if relu else ()))


@op_rule(*_existing("matmul"))
def quantized_matmul(op) -> Cost:
    """``quantized::matmul`` (QFunctional.matmul): every output element a k-long dot product, as
    aten.matmul, and a requantization per output element."""
    a, out = op.inputs[0], op.outputs[0]
    k = a.shape[-1]
    return Cost.of(Term("macs", "multiply-accumulates", "outputs·k", worked("{}×{}", out.numel, k), out.numel * k),
                   _requantized(out.numel))


# ---- dynamic quantized recurrent layers as ops (what an nnqd.LSTM/GRU or cell runs: met priced
# from its ops when the module is not seen, inside TorchScript). The weights are packed objects,
# so the sizes come from the input and the hidden state; the contraction and the gate terms are
# the float layer's (the activation quantization the module rule adds for int8 is not counted:
# the weights' dtype is not in the arguments).
def _quantized_rnn_terms(mode: str, x, batch_sizes, H: int, layers: int, dirs: int,
                         has_bias: bool) -> list[Term]:
    G = _GATES[mode]
    steps = x.shape[0] if batch_sizes is not None else prod(x.shape[:-1])  # packed: Σ lengths; else T·N
    terms = []
    for layer in range(layers):
        I = x.shape[-1] if layer == 0 else H * dirs
        for d in range(dirs):
            label = f"layer {layer}{', reverse' if d else ''}: "
            terms.append(Term("macs", f"{label}gate multiply-accumulates", "G·H·(I + H)·steps",
                              worked("{}×{}×({} + {})×{}", G, H, I, H, steps), G * H * (I + H) * steps))
            terms += _step_terms(mode, H, steps, has_bias, label)
    return terms


@op_rule(*[getattr(torch.ops.aten.quantized_lstm, o) for o in ("input", "data", "input_legacy", "data_legacy")],
         *[getattr(torch.ops.aten.quantized_gru, o) for o in ("input", "data", "input_legacy", "data_legacy")])
def quantized_rnn_op(op) -> Cost:
    """``aten.quantized_lstm`` / ``quantized_gru`` (``.input``: padded, ``.data``: packed): every
    layer and direction, as the nn.LSTM / nn.GRU rule counts them."""
    lstm = op.op.overloadpacket is torch.ops.aten.quantized_lstm
    packed = op.op._overloadname.startswith("data")
    x = op.args[0]
    batch_sizes = op.args[1] if packed else None
    rest = op.args[2:] if packed else op.args[1:]
    hx, has_bias, layers, bidirectional = rest[0], rest[2], rest[3], rest[6]
    h0 = hx[0] if lstm else hx
    dirs = 2 if bidirectional else 1
    return Cost.of(*_quantized_rnn_terms("LSTM" if lstm else "GRU", x, batch_sizes, h0.shape[-1], int(layers), dirs,
                                         bool(has_bias)))


_CELL_OPS = {"quantized_lstm_cell_dynamic": "LSTM", "quantized_gru_cell_dynamic": "GRU",
             "quantized_rnn_tanh_cell_dynamic": "RNN_TANH", "quantized_rnn_relu_cell_dynamic": "RNN_RELU"}


@op_rule(*_existing(*_CELL_OPS))
def quantized_cell_op(op) -> Cost:
    """``quantized::quantized_lstm_cell_dynamic`` and the GRU / RNN cells: one step of N rows,
    as the nn.LSTMCell / GRUCell / RNNCell rule counts it (biases are always given); an empty
    batch (N = 0) computes nothing."""
    mode = _CELL_OPS[op.op.overloadpacket.__name__]
    x = op.args[0]
    h = op.args[1][0] if mode == "LSTM" else op.args[1]
    G, N, I, H = _GATES[mode], prod(x.shape[:-1]), x.shape[-1], h.shape[-1]
    return Cost.of(Term("macs", "gate multiply-accumulates", "G·H·(I + H)·N", worked("{}×{}×({} + {})×{}", G, H, I, H, N),
                        G * H * (I + H) * N),
                   *_step_terms(mode, H, N, True, ""))
