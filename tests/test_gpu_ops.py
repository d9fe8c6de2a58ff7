"""GPU-only ops (cuDNN's recurrent backward, CUDA's fused cells, cuDNN's batch norm gradient, the fused
dropout, the GPU libraries' convolutions, the attention kernels' own ops) priced from hand-built
calls on CPU: each against a closed form and, where a CPU path computes the same, against what that
path is priced at. A CUDA test at the end (skipped without a GPU) profiles whole training steps on
the device and compares them with the same steps on CPU."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import torchcount

from conftest import TESTED_TORCH
from test_backward import SequenceStep  # a recurrent classifier's training step
from torchcount.capture import OpCall, describe
from torchcount.cost import OP_CATEGORIES
from torchcount.count import price_op

aten = torch.ops.aten


def counts(cost) -> dict:
    return {c: getattr(cost, c) for c in OP_CATEGORIES if getattr(cost, c)}


def call(op, *args, out=None, **kwargs) -> OpCall:
    return OpCall(op, describe(args), describe(kwargs), describe(out))


def price(op, *args, out=None, **kwargs):
    return price_op(call(op, *args, out=out, **kwargs))


class Recorder(TorchDispatchMode):
    """Every op run under it, as a torchcount OpCall."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.append(OpCall(func, describe(args), describe(kwargs or {}), describe(out)))
        return out


def priced(ops, *names) -> dict:
    """The op counts of the recorded ops named ``names``, summed."""
    total = {}
    for op in ops:
        if op.op.overloadpacket.__name__ in names:
            for c, v in counts(price_op(op)).items():
                total[c] = total.get(c, 0) + v
    return total


# ---- cuDNN's recurrent backward -----------------------------------------------------------------
_MODES = {"RNN_RELU": (0, 1), "RNN_TANH": (1, 1), "LSTM": (2, 4), "GRU": (3, 3)}


def flat_weights(G, I, H, layers, dirs, bias, P) -> list:
    """The flat weights as nn.RNN/LSTM/GRU hand them to cuDNN: w_ih, w_hh[, b_ih, b_hh][, w_hr] per
    layer-direction (G gate blocks; a layer after the first takes the directions' outputs)."""
    H_h, weights = P or H, []
    for layer in range(layers):
        for _ in range(dirs):
            weights += [torch.empty(G * H, I if layer == 0 else H_h * dirs), torch.empty(G * H, H_h)]
            weights += [torch.empty(G * H), torch.empty(G * H)] if bias else []
            weights += [torch.empty(P, H)] if P else []
    return weights


def cudnn_backward_call(mode, I, H, T, N, layers=1, bidirectional=False, bias=True, P=0, mask=(True,) * 4,
                        batch_sizes=(), dropout=0.0, train=True, op=aten._cudnn_rnn_backward.default):
    """A hand-built ``_cudnn_rnn_backward`` call (shapes only) for an nn.RNN/LSTM/GRU configuration."""
    mode_id, G = _MODES[mode]
    dirs = 2 if bidirectional else 1
    H_h = P or H
    weights = flat_weights(G, I, H, layers, dirs, bias, P)
    stride = len(weights) // (layers * dirs)
    x = torch.empty(sum(batch_sizes), I) if batch_sizes else torch.empty(T, N, I)
    rows = x.shape[:-1]
    hx = torch.empty(layers * dirs, N, H_h)
    cx = torch.empty(layers * dirs, N, H) if mode == "LSTM" else None
    out = torch.empty(*rows, dirs * H_h)
    args = [x, weights, stride, torch.empty(0), hx, cx, out, out, hx, cx, mode_id, H, P, layers, False, dropout,
            train, bidirectional, list(batch_sizes), None, torch.empty(0), list(mask)]
    if op is aten.miopen_rnn_backward.default:
        del args[12]  # (no proj_size)
    return call(op, *args, out=(x, hx, cx, weights))


def test_cudnn_lstm_backward_by_hand():
    """Per layer and direction: dx = dG·W_ih, dh_prev = dG·W_hh (the data backward, always), and with
    output_mask[3] dW_ih, dW_hh: 2·4H·(I + H) MACs per step and sequence; the cell's gradient (1 tanh,
    16 mults, 6 adds) and dh = g_out + g_h (1 add) per state element; the bias gradient 4H·(steps − 1)."""
    I, H, T, N = 5, 7, 4, 3
    steps = T * N
    c = price_op(cudnn_backward_call("LSTM", I, H, T, N))
    assert counts(c) == {"macs": 2 * 4 * H * (I + H) * steps, "transc": H * steps, "mults": 16 * H * steps,
                         "adds": 7 * H * steps + 4 * H * (steps - 1)}
    # no weight gradient asked: the data backward only, no bias gradient
    c = price_op(cudnn_backward_call("LSTM", I, H, T, N, mask=(True, True, True, False)))
    assert (c.macs, c.adds) == (4 * H * (I + H) * steps, 7 * H * steps)
    # two layers, bidirectional: the second layer's input is 2H
    c = price_op(cudnn_backward_call("LSTM", I, H, T, N, layers=2, bidirectional=True))
    assert c.macs == 2 * sum(2 * 4 * H * (i + H) * steps for i in (I, 2 * H))
    # proj_size P: the recurrent state is P; the projection's data and weight gradients H·P each
    for P in (3, 1):  # (a projection to 1: the state is 1 wide, not H)
        c = price_op(cudnn_backward_call("LSTM", I, H, T, N, P=P))
        assert c.macs == 2 * 4 * H * (I + P) * steps + 2 * H * P * steps
        assert c.adds == 6 * H * steps + P * steps + 4 * H * (steps - 1)
    # a packed batch: Σ lengths steps; MIOpen's op (no proj_size) prices the same
    packed = cudnn_backward_call("LSTM", I, H, T, N, batch_sizes=(3, 3, 2, 1))
    assert price_op(packed).macs == 2 * 4 * H * (I + H) * 9
    miopen = cudnn_backward_call("LSTM", I, H, T, N, op=aten.miopen_rnn_backward.default)
    assert price_op(miopen) == price_op(cudnn_backward_call("LSTM", I, H, T, N))


def test_cudnn_gru_and_elman_backward_by_hand():
    """GRU: 2·3H·(I + H) MACs per step and sequence, the cell's gradient (11 mults, 5 adds), dh and the
    direct path z⊙dh into dh_prev (2 adds), the bias gradients 4H·(steps − 1) (b_ih's and b_hh's differ
    in the candidate's rows). Elman: 2·H·(I + H), tanh' (2 mults, 1 add) or relu' (1 cmp, 1 assign), dh
    (1 add), H·(steps − 1) bias adds; without biases none."""
    I, H, T, N = 5, 7, 4, 3
    s = T * N
    assert counts(price_op(cudnn_backward_call("GRU", I, H, T, N))) == {
        "macs": 2 * 3 * H * (I + H) * s, "mults": 11 * H * s, "adds": 7 * H * s + 4 * H * (s - 1)}
    assert counts(price_op(cudnn_backward_call("RNN_TANH", I, H, T, N))) == {
        "macs": 2 * H * (I + H) * s, "mults": 2 * H * s, "adds": 2 * H * s + H * (s - 1)}
    assert counts(price_op(cudnn_backward_call("RNN_RELU", I, H, T, N, bias=False))) == {
        "macs": 2 * H * (I + H) * s, "cmps": H * s, "assigns": H * s, "adds": H * s}
    # dropout between layers in training: g·mask·scale on the first layer's output
    c = price_op(cudnn_backward_call("GRU", I, H, T, N, layers=2, dropout=0.5))
    d = price_op(cudnn_backward_call("GRU", I, H, T, N, layers=2))
    assert counts(c - d) == {"mults": 2 * H * s}
    # three layers: the outputs of layers 0 and 1 (not the last) each dropped out, 2·(2·H·s)
    c = price_op(cudnn_backward_call("GRU", I, H, T, N, layers=3, dropout=0.5))
    d = price_op(cudnn_backward_call("GRU", I, H, T, N, layers=3))
    assert counts(c - d) == {"mults": 2 * 2 * H * s}


def cudnn_forward_call(mode, I, H, T, N, layers=1, bidirectional=False, bias=True, P=0, dropout=0.0, train=False,
                       op=aten._cudnn_rnn.default):
    """A hand-built ``_cudnn_rnn`` (forward) call, shapes only, with the flat weights laid out as
    nn.RNN/LSTM/GRU hands them to cuDNN (w_ih, w_hh[, b_ih, b_hh][, w_hr] per layer-direction)."""
    mode_id, G = _MODES[mode]
    dirs = 2 if bidirectional else 1
    H_h = P or H
    weights = flat_weights(G, I, H, layers, dirs, bias, P)
    x, hx = torch.empty(T, N, I), torch.empty(layers * dirs, N, H_h)
    cx = torch.empty(layers * dirs, N, H) if mode == "LSTM" else None
    args = [x, weights, len(weights) // (layers * dirs), None, hx, cx, mode_id, H, P, layers, False, dropout, train,
            bidirectional, [], None]
    if op is aten.miopen_rnn.default:
        del args[8], args[3]  # (no proj_size, no weight_buf)
    return call(op, *args, out=(torch.empty(T, N, dirs * H_h), hx, cx, torch.empty(0), torch.empty(0)))


def test_cudnn_rnn_forward_by_hand():
    """``_cudnn_rnn`` (nn.LSTM/GRU/RNN's one kernel on CUDA: every layer and direction), priced from a
    hand-built call. Per layer-direction and step (steps = T·N): 4H·(I_l + H) MACs, I_l the layer's input
    (I, then 2H bidirectional); both biases 2·4H adds, W_ih·x + W_hh·h 4H adds, 3H sigmoids (1 exp,
    1 add, 1 div each), 2H tanh (the gate g and tanh(c)), c = f⊙c + i⊙g and h = o⊙tanh(c) (3H mults,
    H adds). Dropout in training on every layer's output but the last: per element of the 2H-wide
    output a draw, a scaling and a multiplication."""
    I, H, T, N = 5, 7, 4, 3
    s = T * N
    c = price_op(cudnn_forward_call("LSTM", I, H, T, N, layers=2, bidirectional=True))
    macs = 2 * (4 * H * (I + H) * s + 4 * H * (2 * H + H) * s)
    assert counts(c) == {"macs": macs, "adds": 4 * (8 + 4 + 3 + 1) * H * s, "transc": 4 * 5 * H * s,
                         "divs": 4 * 3 * H * s, "mults": 4 * 3 * H * s}
    d = price_op(cudnn_forward_call("LSTM", I, H, T, N, layers=2, bidirectional=True, dropout=0.5, train=True))
    e = 2 * H * s  # the first layer's output, both directions
    assert counts(d - c) == {"cmps": e, "divs": e, "mults": e}
    # (no dropout outside training, nor after the last layer)
    assert price_op(cudnn_forward_call("LSTM", I, H, T, N, layers=2, bidirectional=True, dropout=0.5)) == c
    # proj_size P: the recurrent state (and the next layer's input) is P wide, + H·P projection MACs
    for P in (3, 1):  # (a projection to one element is a projection too)
        assert price_op(cudnn_forward_call("LSTM", I, H, T, N, P=P)).macs == 4 * H * (I + P) * s + H * P * s
    # GRU without biases: 3H·(I + H) MACs, r and z summed (2H adds), 2H sigmoids and H tanh, the updates
    # 2H mults and 3H adds; an Elman RNN (ReLU): H·(I + H) MACs, 2H bias adds, H sum adds, a ReLU per element
    assert counts(price_op(cudnn_forward_call("GRU", I, H, T, N, bias=False))) == {
        "macs": 3 * H * (I + H) * s, "adds": (2 + 2 + 3) * H * s, "transc": 3 * H * s, "divs": 2 * H * s,
        "mults": 2 * H * s}
    assert counts(price_op(cudnn_forward_call("RNN_RELU", I, H, T, N))) == {
        "macs": H * (I + H) * s, "adds": 3 * H * s, "cmps": H * s, "assigns": H * s}
    # a packed input (Σ lengths rows, one batch size per step): the steps are its rows, 2 + 2 + 1 + 1 = 6, not N·T
    x, hx = torch.empty(6, I), torch.empty(1, 2, H)
    packed = call(aten._cudnn_rnn.default, x, flat_weights(3, I, H, 1, 1, False, 0), 2, None, hx, None, 3, H, 0, 1,
                  False, 0.0, False, False, [2, 2, 1, 1], None, out=(torch.empty(6, H), hx, None, torch.empty(0),
                                                                   torch.empty(0)))
    assert price_op(packed).macs == 3 * H * (I + H) * 6
    # MIOpen's op (no proj_size) prices the same
    assert price_op(cudnn_forward_call("GRU", I, H, T, N, op=aten.miopen_rnn.default)) == \
        price_op(cudnn_forward_call("GRU", I, H, T, N))


def _configs(rnn: nn.RNNBase) -> dict:
    return dict(layers=rnn.num_layers, bidirectional=rnn.bidirectional, bias=rnn.bias)


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
def test_cudnn_lstm_backward_equals_the_cpu_training_step(bidirectional):
    """nn.LSTM's training step on CPU runs oneDNN's layer backward, one op per layer and direction;
    cuDNN's one op for the same configuration is priced the same in every category, and its MACs are
    the step's backward MACs but the head's."""
    T, N, I, H = 4, 3, 5, 7
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, num_layers=2, batch_first=True, bidirectional=bidirectional)
    step = SequenceStep(lstm)
    batch = (torch.randn(N, T, I), torch.tensor([0, 1, 2]))
    with Recorder() as rec:
        step.train_step(*batch)
    cpu = priced(rec.ops, "mkldnn_rnn_layer_backward")
    assert cpu, "the CPU step did not run oneDNN's LSTM"
    gpu = counts(price_op(cudnn_backward_call("LSTM", I, H, T, N, **_configs(lstm))))
    assert gpu == cpu
    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    head = 2 * N * lstm.hidden_size * (2 if bidirectional else 1) * 3  # the head's input and weight gradients
    assert report.extra["backward_MACs"] - head == gpu["macs"]


@pytest.mark.parametrize("mode", ["GRU", "RNN_TANH"])
def test_cudnn_gru_and_rnn_backward_against_the_decomposed_cpu_step(mode):
    """A GRU (or Elman RNN) trains on CPU through decomposed ops (no oneDNN kernel), which autograd
    prunes: the first layer's input gradient (G·H·I·T·N per direction, the batch needs none) and the
    zero initial state's (G·H·H·N per layer and direction) are not computed. cuDNN's data backward
    computes both: its MACs are the CPU step's plus exactly those. (The element-wise terms differ
    legitimately: the decomposed backward runs sigmoid/tanh_backward, mul, add and the per-step
    gradient accumulations as separate ops, where the fused kernel computes the cell's gradient in
    one pass.)"""
    T, N, I, H, layers = 4, 3, 5, 6, 2
    torch.manual_seed(0)
    G = _MODES[mode][1]
    rnn = nn.GRU(I, H, num_layers=layers, batch_first=True) if mode == "GRU" else \
        nn.RNN(I, H, num_layers=layers, batch_first=True)
    step = SequenceStep(rnn)
    batch = (torch.randn(N, T, I), torch.tensor([0, 1, 2]))
    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete, report.uncounted
    head = 2 * N * H * 3
    gpu = price_op(cudnn_backward_call(mode, I, H, T, N, **_configs(rnn)))
    pruned = G * H * I * T * N + layers * G * H * H * N
    assert gpu.macs == report.extra["backward_MACs"] - head + pruned


# ---- CUDA's fused cells ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_fused_cell_forward_equals_the_cell_rule_and_the_cpu_cell(mode, bias):
    """``_thnn_fused_lstm_cell``/``_thnn_fused_gru_cell`` compute a cell step's element-wise part (the
    gate products are mm calls before it): the cell module rule's terms but its MACs, and what the
    decomposed CPU cell's ops (everything but its two linear/mm calls' MACs) are priced at."""
    N, I, H = 3, 5, 4
    G = 4 if mode == "LSTM" else 3
    gates, state = torch.empty(N, G * H), torch.empty(N, H)
    b = (torch.empty(G * H), torch.empty(G * H)) if bias else (None, None)
    op = aten._thnn_fused_lstm_cell.default if mode == "LSTM" else aten._thnn_fused_gru_cell.default
    outs = (state, state, gates) if mode == "LSTM" else (state, gates)
    fused = counts(price(op, gates, gates, state, *b, out=outs))
    cell = (nn.LSTMCell if mode == "LSTM" else nn.GRUCell)(I, H, bias=bias)
    x = torch.randn(N, I)
    report = torchcount.profile(cell, x, warn=False)
    module = counts(report.total.cost)
    assert fused == {k: v for k, v in module.items() if k != "macs"}
    if mode == "LSTM":
        assert counts(price(op, gates, gates, state, *b, out=outs)) == {
            "adds": (2 * 4 * bias + 4 + 1 + 3) * H * N, "transc": 5 * H * N, "mults": 3 * H * N,  # (σ: 1 + e^−x)
            "divs": 3 * H * N}
    # the decomposed CPU cell, op by op
    with Recorder() as rec:
        cell(x)
    cpu = {}
    for o in rec.ops:
        for k, v in counts(price_op(o) or torchcount.cost.Cost()).items():
            cpu[k] = cpu.get(k, 0) + v
    cpu.pop("macs")
    assert fused == cpu


def test_fused_cell_backward_by_hand():
    """LSTM: per state element 1 tanh, 16 mults, 6 adds (dh's sum is a separate add in a cell step),
    the bias gradient Σ dG over the batch 4H·(N − 1). GRU: 11 mults, 5 adds; its two bias gradients
    2·3H·(N − 1)."""
    N, H = 3, 4
    state, gates = torch.empty(N, H), torch.empty(N, 4 * H)
    for op in (aten._thnn_fused_lstm_cell_backward_impl.default, aten._thnn_fused_lstm_cell_backward.default):
        c = price(op, state, state, state, state, gates, True, out=(gates, state, torch.empty(4 * H)))
        assert counts(c) == {"transc": H * N, "mults": 16 * H * N, "adds": 6 * H * N + 4 * H * (N - 1)}
    c = price(aten._thnn_fused_lstm_cell_backward_impl.default, None, state, state, state, gates, False,
              out=(gates, state, None))
    assert counts(c) == {"transc": H * N, "mults": 16 * H * N, "adds": 6 * H * N}
    ws = torch.empty(N, 5 * H)
    c = price(aten._thnn_fused_gru_cell_backward.default, state, ws, True,
              out=(torch.empty(N, 3 * H), torch.empty(N, 3 * H), state, torch.empty(3 * H), torch.empty(3 * H)))
    assert counts(c) == {"mults": 11 * H * N, "adds": 5 * H * N + 6 * H * (N - 1)}


# ---- normalisation, dropout, convolution, attention ---------------------------------------------
@pytest.mark.skipif(not hasattr(torch.ops.aten, "batch_norm_backward"), reason="torch 2.2 has no batch_norm_backward")
def test_cudnn_batch_norm_backward_is_the_native_training_gradient():
    """cuDNN's (and MIOpen's) batch norm backward, called after a forward with batch statistics:
    the native kernel's training gradient (Σg, Σ(x − μ)·g, dx: 5 adds per element (2 of them the
    sums, less one per channel) and 3 mults per element)."""
    N, C, Hh, W = 2, 3, 4, 5
    x, w, stats = torch.empty(N, C, Hh, W), torch.empty(C), torch.empty(C)
    n = x.numel()
    outs = (x, w, w)
    cud = price(aten.cudnn_batch_norm_backward.default, x, x, w, stats, stats, stats, stats, 1e-5, torch.empty(0),
                out=outs)
    assert counts(cud) == {"adds": n + 2 * (n - C) + 3 * n, "mults": n + 2 * n}
    native = price(aten.native_batch_norm_backward.default, x, x, w, stats, stats, stats, stats, True, 1e-5,
                   [True, True, True], out=outs)
    mio = price(aten.miopen_batch_norm_backward.default, x, x, w, stats, stats, stats, stats, 1e-5, out=outs)
    new = price(aten.batch_norm_backward.default, x, x, w, stats, stats, stats, stats, True, 1e-5,
                [True, True, True], torch.empty(0), out=outs)
    assert counts(cud) == counts(native) == counts(mio) == counts(new)
    # batch_norm_backward without update (eval): running statistics, dx = g·(w·invstd)
    new = price(aten.batch_norm_backward.default, x, x, w, stats, stats, stats, stats, False, 1e-5,
                [True, True, True], torch.empty(0), out=outs)
    assert counts(new) == {"adds": n + 2 * (n - C), "mults": 2 * n}
    # a frozen input (output_mask [False, True, True], a first layer's BatchNorm on the data): the
    # sums Σg and Σ(x − μ)·g (n + 2·(n − C) adds, n mults) and no input gradient, as the native op
    mask = [False, True, True]
    new = price(aten.batch_norm_backward.default, x, x, w, stats, stats, stats, stats, True, 1e-5, mask,
                torch.empty(0), out=outs)
    native = price(aten.native_batch_norm_backward.default, x, x, w, stats, stats, stats, stats, True, 1e-5, mask,
                   out=outs)
    assert counts(new) == counts(native) == {"adds": n + 2 * (n - C), "mults": n}


def test_fused_dropout_is_priced_as_native_dropout():
    """``_fused_dropout(x, p)`` takes the probability of keeping: 1 draw, 1 scaling, 1 mult per element
    (of a 3-d x (2, 3, 4): 24 draws, not one per (sample, channel) as ``feature_dropout``'s 2·3)."""
    x = torch.empty(2, 3, 4)
    c = price(aten._fused_dropout.default, x, 0.8, out=(x, x.bool()))
    assert counts(c) == {"cmps": 24, "divs": 24, "mults": 24}
    assert counts(c) == counts(price(aten.native_dropout.default, x, 0.2, True, out=(x, x.bool())))
    assert counts(price(aten.feature_dropout.default, x, 0.2, True, out=x)) == {"cmps": 6, "divs": 6, "mults": 24}
    assert price(aten._fused_dropout.default, x, 1.0, out=(x, x.bool())).is_zero()


def test_dropout_op_at_p_one_multiplies_by_zero_and_native_dropout_still_draws():
    """``aten.dropout``/``alpha_dropout``/``feature_dropout`` met whole at p = 1 are ``_dropout_impl``'s
    ``input * zeros``: one multiplication per element (24 for 2×3×4), no draws; ``native_dropout`` at
    p = 1 (its CPU kernel) still draws its mask and scales by 0: 24 draws, 24 scalings, 24
    multiplications, as at any p. An empty input costs nothing."""
    x = torch.empty(2, 3, 4)
    for op in (aten.dropout.default, aten.alpha_dropout.default, aten.feature_dropout.default):
        assert counts(price(op, x, 1.0, True, out=x)) == {"mults": 24}, op
    assert counts(price(aten.native_dropout.default, x, 1.0, True, out=(x, x.bool()))) == \
        {"cmps": 24, "divs": 24, "mults": 24}
    empty = torch.empty(2, 3, 0)  # 2·3 channels, no element
    assert price(aten.feature_dropout.default, empty, 0.3, True, out=empty).is_zero()


def test_cudnn_rnn_set_up_ops_are_zero_ops():
    """cuDNN's recurrent set-up ops do no arithmetic: ``_cudnn_rnn_flatten_weight`` packs the weights into
    one buffer (a copy) and ``_cudnn_init_dropout_state`` seeds the dropout's RNG state; both are known
    zero-cost ops, not uncounted ones (nor are packing and unpacking a padded sequence)."""
    from torchcount.rules.registry import ZERO_OP, op_rule_for

    for op in (aten._cudnn_rnn_flatten_weight.default, aten._cudnn_init_dropout_state.default,
               aten._pack_padded_sequence.default, aten._pad_packed_sequence.default):
        assert op_rule_for(op) is ZERO_OP, op


def test_gpu_convolutions_by_hand():
    """∏weight MACs per output position (per input position transposed), as aten.convolution; the
    fused forms add the bias, α·z and the ReLU."""
    x, w = torch.empty(2, 4, 8, 8), torch.empty(6, 2, 3, 3)  # groups 2
    out = torch.empty(2, 6, 6, 6)
    macs = 6 * 2 * 9 * 2 * 36
    n = out.numel()
    conv = price(aten.convolution.default, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 2, out=out)
    c = price(aten.cudnn_convolution.default, x, w, [0, 0], [1, 1], [1, 1], 2, False, False, True, out=out)
    assert counts(c) == counts(conv) == {"macs": macs}
    b = torch.empty(6)
    c = price(aten.cudnn_convolution_relu.default, x, w, b, [1, 1], [0, 0], [1, 1], 2, out=out)
    assert counts(c) == {"macs": macs, "adds": n, "cmps": n, "assigns": n}
    c = price(aten.cudnn_convolution_add_relu.default, x, w, out, 0.5, b, [1, 1], [0, 0], [1, 1], 2, out=out)
    assert counts(c) == {"macs": macs, "adds": 2 * n, "mults": n, "cmps": n, "assigns": n}
    c = price(aten.miopen_convolution.default, x, w, b, [0, 0], [1, 1], [1, 1], 2, False, False, out=out)
    assert counts(c) == {"macs": macs, "adds": n}
    # transposed: weight (C_in, C_out/g, k, k), one ∏weight per input position
    wt, y = torch.empty(4, 3, 3, 3), torch.empty(2, 6, 10, 10)
    c = price(aten.cudnn_convolution_transpose.default, x, wt, [0, 0], [0, 0], [1, 1], [1, 1], 2, False, False, True,
              out=y)
    assert counts(c) == counts(price(aten.convolution.default, x, wt, None, [1, 1], [0, 0], [1, 1], True, [0, 0], 2,
                                     out=y)) == {"macs": 4 * 3 * 9 * 2 * 64}


@pytest.mark.skipif(not TESTED_TORCH, reason="the attention kernels' schemas as the tested torch has them")
def test_attention_kernel_ops_are_priced_as_sdpa():
    """Flash's and the memory-efficient kernel's own ops take (batch, length, heads, dim); cuDNN's
    (batch, heads, length, dim): each is priced as the SDPA op over the same attention; a
    variable-length call (cumulative lengths) is uncounted."""
    B, Hh, L, S, E = 2, 3, 5, 7, 4
    q, k = torch.empty(B, Hh, L, E), torch.empty(B, Hh, S, E)
    qt, kt = q.transpose(1, 2), k.transpose(1, 2)
    lse, seed = torch.empty(B, Hh, L), torch.empty(2, dtype=torch.int64)
    sdpa = price(aten._scaled_dot_product_efficient_attention.default, q, k, k, None, False, out=(q, lse, seed, seed))
    flash = price(aten._flash_attention_forward.default, qt, kt, kt, None, None, L, S, 0.0, False, False,
                  out=(qt, lse, seed, seed, seed))
    eff = price(aten._efficient_attention_forward.default, qt, kt, kt, None, None, None, L, S, 0.0, 0, False,
                out=(qt, lse, seed, seed, L, S))
    assert counts(flash) == counts(eff) == counts(sdpa)
    g = torch.empty(B, Hh, L, E)
    sdpa_b = price(aten._scaled_dot_product_efficient_attention_backward.default, g, q, k, k, None, g, lse, seed,
                   seed, 0.0, [True, True, True, False], out=(q, k, k, None))
    flash_b = price(aten._flash_attention_backward.default, g.transpose(1, 2), qt, kt, kt, qt, lse, None, None, L, S,
                    0.0, False, seed, seed, out=(qt, kt, kt))
    eff_b = price(aten._efficient_attention_backward.default, g.transpose(1, 2), qt, kt, kt, None, qt, None, None,
                  L, S, lse, 0.0, seed, seed, 0, False, out=(qt, kt, kt, None))
    cud_b = price(aten._cudnn_attention_backward.default, g, q, k, k, g, lse, seed, seed, torch.empty(0),
                  torch.empty(0), torch.empty(0), L, S, 0.0, False, out=(q, k, k))
    assert counts(flash_b) == counts(eff_b) == counts(cud_b) == counts(sdpa_b)
    assert counts(sdpa_b)["macs"] == 3 * B * Hh * L * S * E + 2 * B * Hh * L * S * E
    packed = torch.empty(12, Hh, E)
    cu = torch.tensor([0, 5, 12], dtype=torch.int32)
    assert price(aten._flash_attention_forward.default, packed, packed, packed, cu, cu, 7, 7, 0.0, False, False,
                 out=(packed, lse, seed, seed, seed)) is None


# ---- cuDNN's grid sampler gradient, affine grid and CTC loss -------------------------------------
def test_cudnn_grid_sampler_backward_is_the_bilinear_cpu_gradient():
    """``cudnn_grid_sampler_backward(input, grid, grad)`` as ``grid_sampler_2d_backward`` bilinear, zero
    padding, align_corners=True, both gradients: per position (P = 40) 4 mults + 2 adds un-normalising,
    4 + 4 corner weights, 2 scalings; per element (n = 120) 4 + 4 into the corners, 6 + 6 for the grid,
    2·(n − P) adds over the channels."""
    x, grid, g = torch.empty(2, 3, 5, 6), torch.empty(2, 4, 5, 2), torch.empty(2, 3, 4, 5)
    c = price(aten.cudnn_grid_sampler_backward.default, x, grid, g, out=(x, grid))
    cpu = price(aten.grid_sampler_2d_backward.default, g, x, grid, 0, 0, True, [True, True], out=(x, grid))
    n, P = 120, 40
    assert counts(c) == counts(cpu) == {"mults": 10 * P + 10 * n, "adds": 6 * P + 10 * n + 2 * (n - P)}


def test_cudnn_affine_grid_generator_and_its_gradient_are_the_cpu_products():
    """θ times each of the N·H·W homogeneous base points (3 MACs per coordinate) forward, and the base
    gridᵀ·grad bmm of the CPU path's ``affine_grid_generator_backward`` backward."""
    theta = torch.randn(2, 2, 3, requires_grad=True)
    grid = torch.empty(2, 4, 5, 2)
    c = price(aten.cudnn_affine_grid_generator.default, theta, 2, 3, 4, 5, out=grid)
    cpu = price(aten.affine_grid_generator.default, theta, [2, 3, 4, 5], True, out=grid)
    assert counts(c) == counts(cpu) == {"macs": 2 * 4 * 5 * 2 * 3}
    with Recorder() as rec:
        F.affine_grid(theta, [2, 3, 4, 5], align_corners=True).backward(torch.ones(2, 4, 5, 2))
    backward = priced(rec.ops, "bmm")
    c = price(aten.cudnn_affine_grid_generator_backward.default, grid, 2, 3, 4, 5, out=theta)
    assert counts(c) == backward == {"macs": 240}


@pytest.mark.skipif(not hasattr(torch.ops.aten, "miopen_ctc_loss"), reason="torch 2.2 has no miopen_ctc_loss")
def test_cudnn_and_miopen_ctc_loss_are_the_cpu_forward_and_gradient():
    """cuDNN's CTC loss returns the loss and the raw gradient: priced as ``_ctc_loss`` plus
    ``_ctc_loss_backward`` but for the T·B·C multiplications by grad, which autograd's
    ``_cudnn_ctc_loss_backward`` does as a mul; the step's total is the CPU step's."""
    T, B, C = 5, 2, 4
    lp = torch.randn(T, B, C).log_softmax(-1)
    tg = torch.tensor([1, 2, 3], dtype=torch.int32)  # concatenated, lengths 2 and 1
    nll, alpha = aten._ctc_loss(lp, tg.long(), [T, T], [2, 1])
    fwd = counts(price(aten._ctc_loss.default, lp, tg.long(), [T, T], [2, 1], out=(nll, alpha)))
    bwd = counts(price(aten._ctc_loss_backward.default, torch.ones(B), lp, tg.long(), [T, T], [2, 1], nll, alpha, 0,
                       False, out=lp))
    cpu = {k: fwd.get(k, 0) + bwd.get(k, 0) for k in set(fwd) | set(bwd)}
    cpu["mults"] -= T * B * C
    for op in (aten._cudnn_ctc_loss.default, aten.miopen_ctc_loss.default):
        assert counts(price(op, lp, tg, [T, T], [2, 1], 0, True, False, out=(nll, lp))) == cpu
    mul = counts(price(aten.mul.Tensor, lp, torch.ones(1, B, 1), out=lp))
    assert mul == {"mults": T * B * C}
    # by hand: E = 4·(5 + 3) = 32 entries, K = 4·((3·2 − 1) + (3·1 − 1)) = 28 comparisons per recursion,
    # M = 4·(3 + 1) = 16 log-adds, 2 + 2 end states, 40 gradients
    E, K, M, ends, G = 32, 28, 16, 4, T * B * C
    assert cpu == {"cmps": K + B + K + M, "adds": 7 * E + 4 * B + ends + 8 * E + 4 * M + 3 * G,
                   "transc": 4 * E + 3 * B + 4 * E + 3 * M + 2 * G, "mults": B}
    # tensor lengths: every sequence at T, Σ_b (2·S_b + 1) ≤ 2·L + B states (L = 3 labels), 2·L − 1 log-adds
    # per step, 3·L − 1 comparisons per step in each recursion: here the lattice is exact (the labels are
    # the targets), the log-adds 4·5 = 20, over by 4, the comparisons 4·8 = 32 per recursion, over by 4
    c = counts(price(aten._cudnn_ctc_loss.Tensor, lp, tg, torch.tensor([T, T]), torch.tensor([2, 1]), 0, True, False,
                     out=(nll, lp)))
    assert c == {**cpu, "cmps": cpu["cmps"] + 4 + 2 * 4, "adds": cpu["adds"] + 16, "transc": cpu["transc"] + 12}
    # no labels (empty targets, L = 0, T = 5): each sequence's lattice is its one blank state, so the
    # tensor lengths' bound is the exact lattice — (T − 1)·(2·0 + B) entries, max(2·0 − 1, 0) = 0
    # log-adds and max(3·0 − 1, 0) = 0 comparisons per step — but for its 2 end states per sequence
    # where there is 1: 2 additions α + β over the CPU step's (3 for a batch of 3). One frame (T = 1;
    # lengths 1 and 0, L = 1): no step after the first, (1 − 1)·… = 0 entries, log-adds and
    # comparisons, and 1 end-state addition over (the sequence without a label)
    for frames, targets, lengths, over in ((5, [], [0, 0], 2), (5, [], [0, 0, 0], 3), (1, [3], [1, 0], 1)):
        B = len(lengths)
        lp = torch.randn(frames, B, C).log_softmax(-1)
        tg = torch.tensor(targets, dtype=torch.int32)
        nll, alpha = aten._ctc_loss(lp, tg.long(), [frames] * B, lengths)
        fwd = counts(price(aten._ctc_loss.default, lp, tg.long(), [frames] * B, lengths, out=(nll, alpha)))
        bwd = counts(price(aten._ctc_loss_backward.default, torch.ones(B), lp, tg.long(), [frames] * B, lengths, nll,
                           alpha, 0, False, out=lp))
        cpu = {k: fwd.get(k, 0) + bwd.get(k, 0) for k in set(fwd) | set(bwd)}
        cpu["mults"] -= frames * B * C
        assert counts(price(aten._cudnn_ctc_loss.default, lp, tg, [frames] * B, lengths, 0, True, False,
                            out=(nll, lp))) == cpu
        c = counts(price(aten._cudnn_ctc_loss.Tensor, lp, tg, torch.tensor([frames] * B), torch.tensor(lengths), 0, True,
                         False, out=(nll, lp)))
        assert c == {**cpu, "adds": cpu["adds"] + over}, frames


# ---- on a GPU -----------------------------------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _step_on(step: nn.Module, batch: tuple, device: str):
    step = step.to(device)
    batch = tuple(t.to(device) for t in batch)
    report = torchcount.profile(step, batch, method="train_step", warn=False)
    assert report.complete and report.coverage == 1.0, (device, report.uncounted)
    return report


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_training_step_on_cuda_matches_cpu(kind):
    """An LSTM's and a GRU's training step on CUDA (cuDNN's forward and backward) are counted
    completely; the LSTM's MACs equal the CPU step's (oneDNN also computes every gradient), the
    GRU's the CPU step's plus the gradients the decomposed CPU backward prunes (the first layer's
    input gradient and the zero initial state's)."""
    T, N, I, H, layers = 6, 4, 5, 8, 2
    torch.manual_seed(0)
    rnn = (nn.LSTM if kind == "LSTM" else nn.GRU)(I, H, num_layers=layers, batch_first=True)
    step = SequenceStep(rnn)
    batch = (torch.randn(N, T, I), torch.tensor([0, 1, 2, 0]))
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        cpu = _step_on(step, batch, "cpu")
        gpu = _step_on(step, batch, "cuda")
    G = 4 if kind == "LSTM" else 3
    pruned = 0 if kind == "LSTM" else G * H * I * T * N + layers * G * H * H * N
    assert gpu.total.macs == cpu.total.macs + pruned
    assert gpu.extra["backward_MACs"] == cpu.extra["backward_MACs"] + pruned


class ConvStep(nn.Module):
    """A small CNN with BatchNorm and dropout: its training step."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 4))

    def forward(self, x):
        return self.net(x)

    def train_step(self, x, labels):
        F.cross_entropy(self(x), labels).backward()


@cuda
@pytest.mark.cuda
def test_cnn_training_step_on_cuda_matches_cpu():
    """A CNN with BatchNorm and dropout trains on CUDA through cuDNN's convolutions and batch norm
    (forward and backward: ``cudnn_batch_norm_backward``, the native training gradient's terms) and
    the fused dropout: counted completely, equal to the CPU step in every category but one. The
    forward is priced by the module rules on both devices; the backward's convolution, batch norm,
    ReLU, pooling and loss gradients compute the same. The dropout's gradient differs legitimately:
    on CPU it is a ``mul`` by the mask that the forward already scaled by 1/(1 − p) (1 mult per
    element), on CUDA ``native_dropout_backward`` g·mask·scale (2): one multiplication more per
    element of the dropped-out tensor (N·8 here)."""
    torch.manual_seed(0)
    batch = (torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3]))
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        cpu = _step_on(ConvStep().train(), batch, "cpu")
        gpu = _step_on(ConvStep().train(), batch, "cuda")
    assert gpu.total.macs == cpu.total.macs
    assert gpu.extra["backward_MACs"] == cpu.extra["backward_MACs"]
    for category in ("adds", "divs", "cmps", "assigns", "transc"):
        assert getattr(gpu.total.cost, category) == getattr(cpu.total.cost, category), category
    assert gpu.total.cost.mults == cpu.total.cost.mults + 4 * 8


def test_worked_lines_of_the_gpu_rules_evaluate_to_their_values():
    """Every worked line of the new rules, on the hand-built calls, evaluates to its value."""
    from test_worked_terms import evaluate

    x, w = torch.empty(2, 4, 8, 8), torch.empty(6, 4, 3, 3)
    state, gates = torch.empty(3, 4), torch.empty(3, 16)
    calls = [cudnn_backward_call(m, 5, 7, 4, 3, layers=2, bidirectional=True, P=3 if m == "LSTM" else 0,
                                 dropout=0.2) for m in _MODES]
    calls += [call(aten._thnn_fused_lstm_cell_backward_impl.default, state, state, state, state, gates, True),
              call(aten._thnn_fused_gru_cell_backward.default, state, torch.empty(3, 20), True),
              call(aten._thnn_fused_lstm_cell.default, gates, gates, state, gates[0], gates[0],
                   out=(state, state, gates)),
              call(aten._fused_dropout.default, state, 0.5, out=(state, state)),
              call(aten.cudnn_grid_sampler_backward.default, x, torch.empty(2, 4, 5, 2), torch.empty(2, 4, 4, 5),
                   out=(x, x)),
              call(aten.cudnn_affine_grid_generator.default, torch.empty(2, 2, 3), 2, 3, 4, 5,
                   out=torch.empty(2, 4, 5, 2)),
              call(aten.cudnn_affine_grid_generator_backward.default, torch.empty(2, 4, 5, 2), 2, 3, 4, 5,
                   out=torch.empty(2, 2, 3)),
              call(aten._cudnn_ctc_loss.default, torch.empty(5, 2, 4), torch.empty(3, dtype=torch.int32), [5, 5],
                   [2, 1], 0, True, False, out=(torch.empty(2), torch.empty(5, 2, 4))),
              call(aten._cudnn_ctc_loss.Tensor, torch.empty(5, 2, 4), torch.empty(3, dtype=torch.int32),
                   torch.tensor([5, 5]), torch.tensor([2, 1]), 0, True, False,
                   out=(torch.empty(2), torch.empty(5, 2, 4))),
              call(aten.cudnn_convolution_add_relu.default, x, w, torch.empty(2, 6, 6, 6), 2.0, torch.empty(6),
                   [1, 1], [0, 0], [1, 1], 1, out=torch.empty(2, 6, 6, 6))]
    assert all(price_op(c).terms for c in calls)
    bad = [f"{t.what} = {t.substituted}" for c in calls for t in price_op(c).terms
           if evaluate(t.substituted) != t.value]
    assert bad == []


@pytest.mark.parametrize("batch_first, packed", [(False, False), (True, False), (False, True)])
def test_cudnn_rnn_forward_runs_num_layers_times_T_sequential_steps(batch_first, packed):
    # a module priced from its ops (an nn.LSTM subclass with its own forward, on CUDA) gets the steps
    # the nn.LSTM rule gives: num_layers·T, directions side by side; T is the packed sequence's number of
    # batch sizes, or the time axis of a padded input (axis 1 when batch_first: cuDNN transposes it itself)
    from torchcount.rules.recurrent import op_sequential_steps

    layers, I, H, T, N = 3, 4, 8, 5, 2
    weights = []
    for layer in range(layers):
        for _ in range(2):
            weights += [torch.empty(4 * H, I if layer == 0 else 2 * H), torch.empty(4 * H, H)]
    batch_sizes = [2, 2, 1, 1, 1] if packed else []
    x = torch.empty(sum(batch_sizes), I) if packed else torch.empty(N, T, I) if batch_first else torch.empty(T, N, I)
    hx = torch.empty(2 * layers, N, H)
    op = call(aten._cudnn_rnn.default, x, weights, 2, None, hx, hx, 2, H, 0, layers, batch_first, 0.0, False, True,
              batch_sizes, None)
    assert op_sequential_steps(op) == layers * T == 15


def test_fused_rms_norm_is_priced_as_rms_norm():
    """``aten._fused_rms_norm``, the one kernel F.rms_norm and nn.RMSNorm run on a GPU (on CPU it
    decomposes before dispatch), priced from a hand-built call: RMSNorm's terms. By hand, 2×3 rows of
    8: squares 48, mean 6·7 adds and 6 divisions, eps 6 adds, 6 rsqrt, normalisation 48 mults and
    the weight's 48."""
    if not hasattr(aten, "_fused_rms_norm"):
        pytest.skip(f"torch {torch.__version__} has no _fused_rms_norm")
    x, w = torch.randn(2, 3, 8), torch.randn(8)
    out = aten._fused_rms_norm(x, [8], w, 1e-6)
    assert counts(price(aten._fused_rms_norm.default, x, [8], w, 1e-6, out=out)) == {
        "mults": 48 + 48 + 48, "adds": 6 * 7 + 6, "divs": 6, "transc": 6}
    assert counts(price(aten._fused_rms_norm.default, x, [8], None, 1e-6, out=out)) == {
        "mults": 48 + 48, "adds": 6 * 7 + 6, "divs": 6, "transc": 6}
    # the same as the module, and as F.rms_norm's decomposition on CPU
    module = torchcount.profile(nn.RMSNorm(8, eps=1e-6), x)
    assert counts(price(aten._fused_rms_norm.default, x, [8], w, 1e-6, out=out)) == counts(module.total.cost)


def test_fused_rms_norm_backward_by_hand():
    """``aten._fused_rms_norm_backward`` (F.rms_norm's gradient on a GPU; no CPU kernel), priced from a
    hand-built call. 2×3 rows of D = 8, y = x·rstd·w: dx = rstd·g·w − x·rstd³·Σ(g·w·x)/D, per element
    g·w, ·x, and 2 mults + 1 subtraction (4 mults, 1 sub), per row the sum's 7 adds and rstd³/D
    (3 mults, 1 div); dw = Σ over the 6 rows of g·x·rstd (2 mults per element, 48 − 8 adds)."""
    if not hasattr(aten, "_fused_rms_norm_backward"):
        pytest.skip(f"torch {torch.__version__} has no _fused_rms_norm_backward")
    g, x, w, rstd = torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.randn(8), torch.rand(2, 3, 1)
    out = (torch.empty(2, 3, 8), torch.empty(8))
    op = aten._fused_rms_norm_backward.default
    assert counts(price(op, g, x, [8], rstd, w, [True, True], out=out)) == {
        "mults": 4 * 48 + 3 * 6 + 2 * 48, "adds": 48 - 6 + 48 + (48 - 8), "divs": 6}
    # input gradient only, no weight: g itself, so 3 mults per element
    assert counts(price(op, g, x, [8], rstd, None, [True, False], out=(out[0], None))) == {
        "mults": 3 * 48 + 3 * 6, "adds": 48 - 6 + 48, "divs": 6}


@cuda
@pytest.mark.cuda
def test_rms_norm_training_step_on_cuda_is_counted_completely():
    """On CUDA F.rms_norm runs ``_fused_rms_norm`` and its gradient ``_fused_rms_norm_backward``, one
    kernel each (on CPU both decompose): a training step through it is counted completely, its
    forward as RMSNorm's terms (the module rule's, on CPU the decomposition's too)."""
    if not hasattr(aten, "_fused_rms_norm_backward"):
        pytest.skip(f"torch {torch.__version__} has no fused RMSNorm kernels")

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(8))

        def forward(self, x):
            return F.rms_norm(x, [8], self.w, 1e-6)

        def train_step(self, x):
            self(x).sum().backward()

    x = torch.randn(2, 3, 8)
    gpu = _step_on(Step(), (x,), "cuda")
    forward = torchcount.profile(nn.RMSNorm(8, eps=1e-6), x)
    assert gpu.total.cost.transc >= forward.total.cost.transc  # (the forward's rsqrt, at least)
