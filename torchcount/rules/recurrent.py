"""Rules for recurrent layers: nn.RNN, nn.LSTM (incl. proj_size), nn.GRU and the cells
nn.RNNCell, nn.LSTMCell, nn.GRUCell.

The lecture's count (spec §5): per direction and layer, every time step multiplies the
input (I) and the previous hidden state (H_h) by the gate weights,

    MACs = G·H·(I + H_h)·T        G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n)

(I·H + H·H)·T for an Elman RNN, 4× for an LSTM, 3× for a GRU. For layers above the first
I = H_out·directions; with ``proj_size`` P > 0 an LSTM's recurrent state has size H_h = P and
each step adds H·P MACs of projection. The initial state is multiplied too (zeros when no
``hx`` is given), so a given initial state changes nothing. With a packed sequence, T·N is
replaced by Σ lengths (``data.shape[0]``): only live sequences are computed.

Separate, explicit terms per step and direction (per sequence in the batch), as PyTorch's cells
compute them (aten/src/ATen/native/RNN.cpp):
- biases: both b_ih and b_hh are added, 2·G·H additions (none with ``bias=False``);
- the input's and the hidden state's products are two contractions, W_ih·x and W_hh·h, added
  per gate: G·H additions (RNN, LSTM); a GRU adds them for r and z (2·H), its candidate adds
  x_n to r⊙h_n instead (below);
- gate activations: RNN tanh (or relu) on H; LSTM 3·H sigmoids and H tanh for the gates,
  H tanh of the cell; GRU 2·H sigmoids and H tanh (recipes of activation.PER_ELEMENT);
- element-wise updates: LSTM c = f⊙c + i⊙g, h = o⊙tanh(c): 3·H multiplications, H additions;
  GRU n = tanh(x_n + r⊙h_n), h = n + z⊙(h − n) (PyTorch's form of (1 − z)⊙n + z⊙h):
  2·H multiplications, 3·H additions;
- in training with ``dropout`` > 0: every layer but the last drops out its output, as the
  Dropout rule counts it (one keep/drop comparison and one multiplication per element).

Sequential steps (``sequential_steps``): a recurrent layer cannot run its T steps in
parallel; num_layers stacked layers run one after the other in PyTorch (num_layers·T);
both directions of a bidirectional layer run side by side. A cell is one step.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg
from .activation import PER_ELEMENT
from .registry import aten, module_rule, op_rule, zero_ops
from .reshape import dropout_terms

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _recipe_terms(recipe: str, mult: int, H: int, steps: int, what: str) -> list[Term]:
    """``mult``·H·steps elements of an activation recipe (activation.PER_ELEMENT)."""
    n = mult * H * steps
    m = f"{mult}·" if mult != 1 else ""
    ms = (mult,) if mult != 1 else ()  # a tuple is written as a product: (3, 64, 10) → 3×64×10
    return [Term(cat, f"{what} ({recipe})", f"{k}·{m}H·steps" if k != 1 else f"{m}H·steps",
                 worked("{}", (k, *ms, H, steps) if k != 1 else (*ms, H, steps)), k * n)
            for cat, k in PER_ELEMENT[recipe].items()]


def _step_terms(mode: str, H: int, steps: int, has_bias: bool, label: str) -> list[Term]:
    """Bias, activation and element-wise terms of ``steps`` sequence-steps of one layer-direction."""
    G = _GATES[mode]
    n = H * steps
    terms = []
    if has_bias:
        terms.append(Term("adds", f"{label}bias additions (b_ih + b_hh)", "2·G·H·steps",
                          worked("2×{}×{}×{}", G, H, steps), 2 * G * n))
    terms.append(_sum_of_products_term(mode, H, steps, label))
    if mode == "RNN_TANH":
        terms += _recipe_terms("tanh", 1, H, steps, f"{label}activation")
    elif mode == "RNN_RELU":
        terms += _recipe_terms("relu", 1, H, steps, f"{label}activation")
    elif mode == "LSTM":
        terms += _recipe_terms("sigmoid", 3, H, steps, f"{label}gates i, f, o")
        terms += _recipe_terms("tanh", 2, H, steps, f"{label}gate g and tanh(c)")
        terms += [Term("mults", f"{label}updates f⊙c, i⊙g, o⊙tanh(c)", "3·H·steps", worked("3×{}×{}", H, steps),
                       3 * n),
                  Term("adds", f"{label}update c = f⊙c + i⊙g", "H·steps", worked("{}×{}", H, steps), n)]
    else:  # GRU
        terms += _recipe_terms("sigmoid", 2, H, steps, f"{label}gates r, z")
        terms += _recipe_terms("tanh", 1, H, steps, f"{label}candidate n")
        terms += [Term("mults", f"{label}updates r⊙h_n, z⊙(h − n)", "2·H·steps", worked("2×{}×{}", H, steps),
                       2 * n),
                  Term("adds", f"{label}updates x_n + r⊙h_n, h − n, n + z⊙(h − n)", "3·H·steps",
                       worked("3×{}×{}", H, steps), 3 * n)]
    return terms


def _sum_of_products_term(mode: str, H: int, steps: int, label: str) -> Term:
    """W_ih·x + W_hh·h: the two contractions of a gate are separate (the input's for all steps
    at once, the hidden state's per step), so each gate element adds them: G·H per step; a GRU's
    candidate n keeps them apart (x_n + r⊙h_n, an update), so it adds them for r and z only."""
    k = 2 if mode == "GRU" else _GATES[mode]
    gates = {"GRU": "gates r, z", "LSTM": "gates i, f, g, o"}.get(mode, "pre-activation")
    return Term("adds", f"{label}W_ih·x + W_hh·h ({gates})", f"{k}·H·steps" if k != 1 else "H·steps",
                worked("{}×{}×{}", k, H, steps) if k != 1 else worked("{}×{}", H, steps), k * H * steps)


def _sequence(m: nn.RNNBase, call) -> tuple[int, int]:
    """(sequence-steps computed = Σ lengths over the batch, longest length T)."""
    x = call.args[0] if call.args else call.kwargs.get("input")
    if isinstance(x, PackedSequence):
        return int(x.data.shape[0]), len(x.batch_sizes)
    shape = x.shape
    if len(shape) == 2:  # unbatched (T, I)
        return shape[0], shape[0]
    T, N = (shape[1], shape[0]) if m.batch_first else (shape[0], shape[1])
    return T * N, T


@module_rule(nn.RNN, nn.LSTM, nn.GRU)
def rnn(m: nn.RNNBase, call) -> Cost:
    return Cost.of(*rnn_terms(m, call))


def rnn_terms(m: nn.RNNBase, call) -> list[Term]:
    """The worked terms of a recurrent layer's call (also those of a dynamic quantized
    LSTM/GRU, rules/quantized.py, which has the same hyper-parameters)."""
    mode = m.mode
    G = _GATES[mode]
    H = m.hidden_size
    P = getattr(m, "proj_size", 0) or 0
    H_h = P if P > 0 else H  # the recurrent state's size
    dirs = 2 if m.bidirectional else 1
    steps, _ = _sequence(m, call)
    terms = [Term("shape", "sequence", "steps computed = Σ lengths (N·T unless packed)", steps, steps)]
    # dirs is in a formula only where its line writes it (2×…): a bidirectional layer
    d, dirs_f = (f"{dirs}×", "dirs·") if dirs > 1 else ("", "")
    for layer in range(m.num_layers):
        I = m.input_size if layer == 0 else H_h * dirs
        where = f"layer {layer}" + (", both directions" if dirs > 1 else "")
        terms.append(Term("macs", f"gate multiply-accumulates ({where})", f"{dirs_f}G·H·(I + H_h)·steps",
                          worked(d + "{}×{}×({} + {})×{}", G, H, I, H_h, steps), dirs * G * H * (I + H_h) * steps))
        if P > 0:
            terms.append(Term("macs", f"projection h = W_hr·h ({where})", f"{dirs_f}H·P·steps",
                              worked(d + "{}×{}×{}", H, P, steps), dirs * H * P * steps))
        for t in _step_terms(mode, H, steps, m.bias, f"layer {layer}: "):  # per direction: scaled here
            terms.append(Term(t.category, t.what, f"dirs·{t.formula}" if dirs > 1 else t.formula,
                              worked(d + "{}", t.raw_substituted), dirs * t.value))
        if call.training and m.dropout > 0 and layer < m.num_layers - 1:
            # dropout on this layer's output before the next layer, as the Dropout rule counts it
            e = dirs * H_h * steps
            terms += dropout_terms(e, e, f"dropout, layer {layer} output", p=m.dropout)
    return terms


_CELL_MODE = {nn.RNNCell: None, nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}


@module_rule(nn.RNNCell, nn.LSTMCell, nn.GRUCell)
def rnn_cell(m: nn.RNNCellBase, call) -> Cost:
    mode = next(v for k, v in _CELL_MODE.items() if isinstance(m, k))
    return Cost.of(*cell_terms(m, call, mode))


def cell_terms(m, call, mode: "str | None") -> list[Term]:
    """The worked terms of one step of a cell (``mode`` None: an Elman cell, by its
    ``nonlinearity``); also those of the dynamic quantized cells."""
    if mode is None:
        mode = "RNN_TANH" if m.nonlinearity == "tanh" else "RNN_RELU"
    G = _GATES[mode]
    N = cell_batch(call)
    I, H = m.input_size, m.hidden_size
    return [
        Term("macs", "gate multiply-accumulates", "N·G·H·(I + H)", worked("{}×{}×{}×({} + {})", N, G, H, I, H),
             N * G * H * (I + H)),
        # (a cell's steps are its N rows, one step each: named N in every line, as in the first)
        *[t._replace(formula=t.formula.replace("·steps", "·N")) for t in _step_terms(mode, H, N, m.bias, "")],
    ]


def cell_batch(call) -> int:
    """Sequences a cell's call steps (its input's leading dims)."""
    return prod(call.input.shape[:-1])  # (1 for an unbatched (I,) input: the empty product)


#: recurrent layers whose call runs num_layers·T steps one after another (the dynamic quantized
#: LSTM and GRU add themselves: rules/quantized.py)
SEQUENTIAL_FORWARDS = {nn.RNN.forward, nn.LSTM.forward, nn.GRU.forward}


def sequential_steps(module: nn.Module, call) -> int:
    """Steps that must run one after another in this call (1 for a layer without recurrence)."""
    if type(module).forward in SEQUENTIAL_FORWARDS:
        _, T = _sequence(module, call)
        return module.num_layers * T
    return 1


# ---- the fused recurrent kernels, when a module without a rule runs them ------------------------
# (an nn.LSTM subclass with its own forward, a custom module calling _VF.lstm): the same terms
_MODE_BY_GATES = {4: "LSTM", 3: "GRU"}


def _mode(G: int, mode_id: int) -> str:
    # cuDNN / oneDNN numbering: 0 RNN_RELU, 1 RNN_TANH, 2 LSTM, 3 GRU
    return _MODE_BY_GATES.get(G) or ("RNN_RELU" if mode_id == 0 else "RNN_TANH")


def _layer_terms(w_ih, w_hh, w_hr, H: int, steps: int, has_bias: bool, mode_id: int, label: str) -> list[Term]:
    G = w_ih.shape[0] // H
    I, H_h = w_ih.shape[1], w_hh.shape[1]
    mode = _mode(G, mode_id)
    terms = [Term("macs", f"{label}gate multiply-accumulates", "G·H·(I + H_h)·steps",
                  worked("{}×{}×({} + {})×{}", G, H, I, H_h, steps), G * H * (I + H_h) * steps)]
    if w_hr is not None:
        P = w_hr.shape[0]
        terms.append(Term("macs", f"{label}projection", "H·P·steps", worked("{}×{}×{}", H, P, steps), H * P * steps))
    return terms + _step_terms(mode, H, steps, has_bias, label)


def _steps(x, batch_sizes) -> int:
    return x.shape[0] if batch_sizes else prod(x.shape[:-1])  # packed: Σ lengths rows; else T·N


@op_rule(aten.mkldnn_rnn_layer)
def mkldnn_rnn_layer(op) -> Cost:
    """One layer and direction of the oneDNN (CPU) kernel behind nn.LSTM."""
    x, w_ih, w_hh = op.args[0], op.args[1], op.args[2]
    H, has_bias = op.args[10], bool(op.args[12])
    return Cost.of(*_layer_terms(w_ih, w_hh, None, H, _steps(x, op.args[8]), has_bias, op.args[9], ""))


@op_rule(aten._cudnn_rnn, aten.miopen_rnn)
def cudnn_rnn(op) -> Cost:
    """All layers and directions of the cuDNN kernel (``miopen_rnn``, ROCm's, has the same
    arguments but ``proj_size``; weights as a flat list per layer-direction: w_ih, w_hh[, b_ih,
    b_hh][, w_hr]). In training with ``dropout`` > 0 the kernel drops out every layer's output but
    the last's, as the Dropout rule counts it (and as the module rule does)."""
    x, weights, mode_id, H, P, layers, dirs, per = cudnn_rnn_args(op)
    has_bias = per >= 4
    steps = _steps(x, schema_arg(op, "batch_sizes"))
    terms = []
    for i in range(layers * dirs):
        chunk = weights[i * per:(i + 1) * per]
        w_hr = chunk[-1] if P > 0 else None
        terms += _layer_terms(chunk[0], chunk[1], w_hr, H, steps, has_bias, mode_id,
                              f"layer {i // dirs}{', reverse' if i % dirs else ''}: ")
        if i % dirs == dirs - 1 and i // dirs < layers - 1 and cudnn_dropout(op):
            e = dirs * chunk[1].shape[1] * steps
            terms += dropout_terms(e, e, f"dropout, layer {i // dirs} output")
    return Cost.of(*terms)


def op_sequential_steps(op) -> int:
    """Time steps a fused recurrent kernel runs one after another (0 for any other op), for a
    module priced from its ops (``count.sequential_chains``), as ``sequential_steps`` counts a
    recurrent module: T per layer, directions side by side. ``mkldnn_rnn_layer`` is one layer and
    direction (its reverse direction adds none); ``_cudnn_rnn``/``miopen_rnn`` are all layers. (A
    layer decomposed into per-step ops, as nn.GRU and nn.RNN are on the CPU, is not seen as steps.)"""
    packet = getattr(op.op, "overloadpacket", None)  # (a higher-order op has none)
    if packet is aten.mkldnn_rnn_layer:
        if op.args[7]:  # reverse: beside the forward direction
            return 0
        # time-major whatever batch_first says: nn.LSTM's CPU path transposes a batch-first input first
        return _time_steps(op.args[0], op.args[8], False)
    if packet is aten._cudnn_rnn or packet is aten.miopen_rnn:
        x, layers = op.args[0], int(schema_arg(op, "num_layers"))
        batch_first = bool(schema_arg(op, "batch_first"))
        return layers * _time_steps(x, schema_arg(op, "batch_sizes"), batch_first)
    return 0


def _time_steps(x, batch_sizes, batch_first: bool) -> int:
    if batch_sizes:  # packed: one batch size per time step
        return len(batch_sizes)
    if len(x.shape) < 3:  # unbatched (T, I)
        return x.shape[0]
    return x.shape[1] if batch_first else x.shape[0]


def cudnn_rnn_args(op) -> tuple:
    """(input, flat weights, mode, hidden size H, proj_size P, layers, directions, weights per
    layer-direction) of a ``_cudnn_rnn``/``miopen_rnn`` call or of their backward."""
    x, weights = op.args[0], list(op.args[1])
    mode_id = int(schema_arg(op, "mode"))
    H = int(schema_arg(op, "hidden_size"))
    P = int(schema_arg(op, "proj_size", 0) or 0)
    layers = int(schema_arg(op, "num_layers"))
    dirs = 2 if schema_arg(op, "bidirectional") else 1
    per = len(weights) // (layers * dirs)  # (the op's weight_stride0: the list is every layer-direction's)
    return x, weights, mode_id, H, P, layers, dirs, per


def cudnn_dropout(op) -> bool:
    """Whether a cuDNN/MIOpen recurrent call drops out its layers' outputs (training, p > 0)."""
    return bool(schema_arg(op, "train")) and float(schema_arg(op, "dropout")) > 0


# ---- the fused cells (nn.LSTMCell / nn.GRUCell and the decomposed layers on CUDA) --------------
@op_rule(aten._thnn_fused_lstm_cell, aten._thnn_fused_gru_cell)
def thnn_fused_cell(op) -> Cost:
    """``_thnn_fused_lstm_cell(input_gates, hidden_gates, cx, input_bias, hidden_bias)`` and
    ``_thnn_fused_gru_cell(input_gates, hidden_gates, hx, …)``: the element-wise part of one cell
    step on CUDA (the gate products W_ih·x and W_hh·h are ``mm`` calls before it, priced by the
    matmul rules). Per element of the N·H state, as the kernels compute it, the terms the cell's
    module rule counts besides its MACs (``_step_terms``): both biases added (when given), the two
    products summed per gate (a GRU's candidate keeps them apart), the activations and the
    updates: what the decomposed CPU cell computes with separate ops."""
    mode = "LSTM" if op.op.overloadpacket is aten._thnn_fused_lstm_cell else "GRU"
    state = op.args[2]
    H = state.shape[-1]
    N = prod(state.shape[:-1])
    has_bias = schema_arg(op, "input_bias") is not None
    return Cost.of(*_step_terms(mode, H, N, has_bias, ""))


zero_ops(aten._cudnn_rnn_flatten_weight, aten._cudnn_init_dropout_state)  # weights packed, dropout's RNG state
zero_ops(aten._pack_padded_sequence, aten._pad_packed_sequence)
