"""Recurrent layers (issue 3): MACs G·H·(I + H)·T per direction and layer, explicit
bias/activation/update terms, packed sequences, cells, sequential steps."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import torchcount
from conftest import run


def test_acceptance_two_layer_lstm():
    # 2-layer LSTM 256→512 over 100 steps: 4·(I·H + H·H)·T per layer
    I, H, T = 256, 512, 100
    report = run(nn.LSTM(I, H, num_layers=2), torch.randn(T, 1, I))
    assert report.total.macs == 4 * (I * H + H * H) * T + 4 * (H * H + H * H) * T
    assert report.layers[0].extra["steps"] == 2 * T


@pytest.mark.parametrize("cls, G", [(nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 3)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_macs_closed_form(cls, G, bidirectional, batch_first):
    I, H, T, N, layers = 6, 10, 7, 3, 2
    m = cls(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(N, T, I) if batch_first else torch.randn(T, N, I)
    D = 2 if bidirectional else 1
    expected = D * G * H * (I + H) * T * N + D * G * H * (D * H + H) * T * N
    assert run(m, x).total.macs == expected


def test_lstm_terms_are_explicit():
    I, H, T, N = 5, 8, 4, 2
    cost = run(nn.LSTM(I, H), torch.randn(T, N, I)).total.cost
    n = H * T * N
    assert cost.macs == 4 * H * (I + H) * T * N
    # biases b_ih + b_hh (2·4H), W_ih·x + W_hh·h per gate (4H), 3H sigmoids (1 add each),
    # c = f⊙c + i⊙g (1 add)
    assert cost.adds == 2 * 4 * n + 4 * n + 3 * n + n
    assert cost.transc == 3 * n + 2 * n        # 3 sigmoid exps, tanh(g), tanh(c)
    assert cost.divs == 3 * n                  # sigmoid 1/(1 + e^−x)
    assert cost.mults == 3 * n                 # f⊙c, i⊙g, o⊙tanh(c)
    no_bias = run(nn.LSTM(I, H, bias=False), torch.randn(T, N, I)).total.cost
    assert cost.adds - no_bias.adds == 2 * 4 * n


def test_gru_and_rnn_terms():
    I, H, T, N = 5, 8, 4, 2
    n = H * T * N
    gru = run(nn.GRU(I, H), torch.randn(T, N, I)).total.cost
    # GRU, as PyTorch computes it: r, z = σ(W_ih·x + W_hh·h + biases), n = tanh(x_n + r⊙h_n),
    # h' = n + z⊙(h − n): 2H multiplications; additions: biases 2·3H, W_ih·x + W_hh·h for r and z 2H,
    # the sigmoids' 2H, x_n + r⊙h_n, h − n and n + z⊙(…) 3H
    assert gru.mults == 2 * n and gru.transc == 2 * n + n and gru.adds == 2 * 3 * n + 2 * n + 2 * n + 3 * n
    rnn = run(nn.RNN(I, H), torch.randn(T, N, I)).total.cost
    # biases 2H and W_ih·x + W_hh·h H
    assert rnn.macs == H * (I + H) * T * N and rnn.transc == n and rnn.adds == 2 * n + n
    relu = run(nn.RNN(I, H, nonlinearity="relu"), torch.randn(T, N, I)).total.cost
    assert relu.cmps == n and relu.transc == 0


def test_gate_lines_name_the_factors_they_write():
    # the lecture's (I·H + H·H)·T, G times: a line wrote dirs·G·H·(I + H_h)·steps = 1×4×(3 + 4)×5 for
    # an RNN (dirs left out, so G read as 1 and H as 4 the wrong way round) and said "per direction"
    # beside both directions' MACs
    x = torch.randn(5, 1, 3)
    text = run(nn.RNN(3, 4), x, convention="macs").explain("")
    assert "gate multiply-accumulates (layer 0) [macs, weight 1] = G·H·(I + H_h)·steps = 1×4×(3 + 4)×5 = 140" in text
    text = run(nn.LSTM(3, 4), x, convention="macs").explain("")
    assert "= G·H·(I + H_h)·steps = 4×4×(3 + 4)×5 = 560" in text and "dirs" not in text
    text = run(nn.GRU(3, 4, bidirectional=True), x, convention="macs").explain("")
    assert ("gate multiply-accumulates (layer 0, both directions) [macs, weight 1] = "
            "dirs·G·H·(I + H_h)·steps = 2×3×4×(3 + 4)×5 = 840") in text
    assert "per direction" not in text


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_lstm_proj_size():
    I, H, P, T = 6, 12, 4, 5
    m = nn.LSTM(I, H, num_layers=2, proj_size=P)
    macs = run(m, torch.randn(T, 1, I)).total.macs
    # layer 0: 4H(I + P) + H·P per step; layer 1: input is P
    assert macs == (4 * H * (I + P) + H * P) * T + (4 * H * (P + P) + H * P) * T
    # proj_size=1: a state of one feature (not H)
    assert run(nn.LSTM(I, H, proj_size=1), torch.randn(T, 1, I)).total.macs == (4 * H * (I + 1) + H * 1) * T


def test_packed_sequence_counts_live_steps_only():
    I, H = 4, 8
    lengths = [5, 3, 2]
    m = nn.GRU(I, H, batch_first=True)
    packed = pack_padded_sequence(torch.randn(3, 5, I), lengths, batch_first=True)
    report = run(m, (packed,))
    assert report.total.macs == 3 * H * (I + H) * sum(lengths)
    assert report.layers[0].extra["steps"] == max(lengths)


def test_initial_state_changes_nothing():
    I, H, T, N = 4, 8, 6, 2
    m = nn.LSTM(I, H, num_layers=2)
    x = torch.randn(T, N, I)
    h0 = (torch.zeros(2, N, H), torch.zeros(2, N, H))
    given = run(m, (x, h0)).total.cost
    default = run(m, x).total.cost
    assert given.macs == default.macs == 4 * H * (I + H) * T * N + 4 * H * (H + H) * T * N
    assert given.ops == default.ops  # only the bytes read differ (h0 and c0 are read)


@pytest.mark.parametrize("cell, G", [(nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)])
def test_cells_and_a_loop_over_time(cell, G):
    I, H, N, T = 5, 7, 3, 6
    c = cell(I, H)
    assert run(c, torch.randn(N, I)).total.macs == G * H * (I + H) * N

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = cell(I, H)

        def forward(self, xs):
            state = None
            for x in xs:
                state = self.cell(x, state)
            return state

    report = run(Loop(), torch.randn(T, N, I))
    assert report.total.macs == G * H * (I + H) * N * T
    assert report.row("cell").extra["steps"] == T  # one step per call, called T times


def test_longest_chain_note():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
    report = run(model, torch.randn(2, 4))
    assert any("longest chain: 2 sequential steps" in n for n in report.notes)
    rnn = run(nn.GRU(4, 8, num_layers=3), torch.randn(9, 1, 4))
    assert any("longest chain: 27 sequential steps" in n for n in rnn.notes)


def test_no_grad_inference_mode_and_meta_agree():
    I, H, T = 4, 8, 5
    m = nn.LSTM(I, H, bidirectional=True)
    x = torch.randn(T, 2, I)
    base = run(m, x).total.cost
    with torch.no_grad():
        assert run(m, x).total.cost == base
    with torch.inference_mode():
        assert run(m.eval(), x).total.cost == base
    assert run(nn.LSTM(I, H, bidirectional=True, device="meta"), x.to("meta")).total.cost.macs == base.macs


def test_custom_lstm_subclass_priced_from_its_kernel_op_like_the_rule():
    # a subclass that rewrites forward has no rule: the oneDNN kernel op (mkldnn_rnn_layer, one per
    # layer and direction) is priced with the same terms as the nn.LSTM rule
    class MyLSTM(nn.LSTM):
        def forward(self, x):
            return super().forward(x)

    I, H, T, N = 4, 8, 6, 2
    x = torch.randn(T, N, I)
    custom = run(MyLSTM(I, H, num_layers=2, bidirectional=True), x)
    assert custom.complete, custom.uncounted
    by_rule = run(nn.LSTM(I, H, num_layers=2, bidirectional=True), x).total.cost
    assert custom.total.cost.ops == by_rule.ops
    assert custom.total.macs == 2 * 4 * H * (I + H) * T * N + 2 * 4 * H * (2 * H + H) * T * N
    # its sequential steps are read from the kernel ops as the rule reads them from the module: the 2
    # layers run T = 6 steps each one after the other, the directions side by side: 2·6 = 12
    assert custom.root.extra["steps"] == 2 * T == 12
    # without biases: per direction and step 4H·(I + H) MACs, W_ih·x + W_hh·h 4H adds, 3H sigmoids (an
    # exp, an add, a div each), 2H tanh, the updates 3H mults and H adds; no bias additions
    s = 2 * T * N  # both directions
    custom = run(MyLSTM(I, H, bias=False, bidirectional=True), x)
    assert custom.root.status == "ops"
    assert {c: getattr(custom.total.cost, c) for c in ("macs", "adds", "mults", "divs", "transc", "cmps")} == {
        "macs": 4 * H * (I + H) * s, "adds": (4 + 3 + 1) * H * s, "mults": 3 * H * s, "divs": 3 * H * s,
        "transc": 5 * H * s, "cmps": 0}


def test_packing_inside_a_forward_is_a_zero_op():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 8, batch_first=True)

        def forward(self, x, lengths):
            p = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            return nn.utils.rnn.pad_packed_sequence(self.gru(p)[0], batch_first=True)[0]

    report = run(Packed(), torch.randn(3, 5, 4), torch.tensor([5, 3, 2]))
    assert report.complete, report.uncounted
    assert report.total.macs == 3 * 8 * (4 + 8) * (5 + 3 + 2)


@pytest.mark.parametrize("base, G", [(nn.GRU, 3), (nn.RNN, 1)])
def test_custom_gru_rnn_subclasses_decompose_to_the_same_macs(base, G):
    class Sub(base):
        def forward(self, x):
            return super().forward(x)

    I, H, T, N = 4, 8, 5, 2
    report = run(Sub(I, H, num_layers=2, bidirectional=True), torch.randn(T, N, I))
    assert report.complete, report.uncounted
    assert report.total.macs == 2 * G * H * (I + H) * T * N + 2 * G * H * (2 * H + H) * T * N


def test_dropout_between_layers_is_counted_in_training_only():
    # dropout on the output of every layer but the last, as nn.Dropout: a draw, a noise scaling
    # and a multiplication per element, (L − 1)·dirs·H·T·N elements
    L, I, H, T, N = 3, 5, 8, 7, 2
    lstm = nn.LSTM(I, H, num_layers=L, dropout=0.5, bidirectional=True)
    x = torch.randn(T, N, I)
    eval_cost = run(lstm.eval(), x).total.cost
    train_cost = run(lstm.train(), x).total.cost
    elements = (L - 1) * 2 * H * T * N
    assert train_cost.cmps - eval_cost.cmps == elements
    assert train_cost.divs - eval_cost.divs == elements
    assert train_cost.mults - eval_cost.mults == elements
    assert train_cost.macs == eval_cost.macs
    no_dropout = run(nn.LSTM(I, H, num_layers=L, bidirectional=True).train(), x).total.cost
    assert no_dropout == eval_cost


def test_batch_first_output_is_written_memory():
    # batch_first returns a transposed view of the output the LSTM computed: new memory all the
    # same (it was taken for an alias of the input and left out of bytes_written)
    B, T, I, H = 2, 7, 16, 32
    for batch_first, x in ((True, torch.randn(B, T, I)), (False, torch.randn(T, B, I))):
        cost = run(nn.LSTM(I, H, batch_first=batch_first), x).total.cost
        assert cost.bytes_written == 4 * (B * T * H + 2 * B * H), batch_first  # output, h_n, c_n (fp32)


def test_a_parent_shown_by_its_own_part_shows_its_own_steps():
    # the root runs a 5-step GRU, then adds a residual itself: 5 + 1 steps in all, 1 of them its own
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 4)

        def forward(self, x):
            return x + self.rnn(x)[0]

    report = run(Residual(), torch.randn(5, 1, 4))
    assert report.root.extra["steps"] == 6
    assert report.root.shown_extra(True)["steps"] == 1
    line = next(l for l in report.table(columns=["module", "steps"]).splitlines() if "(root) (self)" in l)
    assert line.split()[-1] == "1"



@pytest.mark.parametrize("batch_first, bidirectional", [(False, True), (True, True), (False, False)])
def test_a_subclass_priced_from_its_kernel_ops_runs_the_rules_sequential_steps(batch_first, bidirectional):
    # T·num_layers, as the module rule gives (directions side by side), from the oneDNN kernel's ops
    # (one per layer and direction) of a subclass that rewrites forward; it said 1 step before (one
    # op-priced call). On the CPU only nn.LSTM runs a fused kernel: nn.GRU and nn.RNN run per-step ops.
    # One direction: its forward-direction op holds the T steps (a reverse one would add none).
    class Sub(nn.LSTM):
        def forward(self, x):
            return super().forward(x)

    L, I, H, T, N = 3, 4, 8, 5, 2
    x = torch.randn(N, T, I) if batch_first else torch.randn(T, N, I)
    custom = run(Sub(I, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first), x)
    assert custom.root.status == "ops"
    assert custom.root.extra["steps"] == L * T == 15
    by_rule = run(nn.LSTM(I, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first), x)
    assert by_rule.root.extra["steps"] == 15


def test_a_cells_lines_name_its_rows_n_throughout():
    """A cell runs one step per row of its batch: its gate MACs line says N·G·H·(I + H); the other lines
    said 'steps' for the same N. By hand, GRUCell(3, 4) on 2 rows: bias adds 2·3·4·2 = 48, the r, z sums
    2·4·2 = 16, the updates' adds 3·4·2 = 24."""
    text = run(nn.GRUCell(3, 4), torch.randn(2, 3)).explain("")
    assert "steps" not in text
    for line in ("= 2·G·H·N = 2×3×4×2 = 48", "= 2·H·N = 2×4×2 = 16", "= 3·H·N = 3×4×2 = 24"):
        assert line in text


def test_a_packed_sequence_is_shown_by_its_data():
    """A PackedSequence holds no TensorMeta: the input column was empty and the output showed only the
    hidden states. Its data is Σ lengths rows: 5 + 2 + 3 = 10 steps of 4 features in, 2 directions × 6
    out; h and c are num_layers·directions × N × H = 2×3×6."""
    lstm = nn.LSTM(4, 6, bidirectional=True)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 3, 4), [5, 2, 3], enforce_sorted=False)
    for given, extra in ((packed, []), ((packed, (torch.zeros(2, 3, 6), torch.zeros(2, 3, 6))), [(2, 3, 6)] * 2)):
        row = torchcount.profile(lstm, given).layers[0]
        assert row.input_shapes == [(5 + 2 + 3, 4)] + extra
        assert row.output_shapes == [(5 + 2 + 3, 2 * 6), (2, 3, 6), (2, 3, 6)]
        assert row.input_dtypes == ["float32"] * (1 + len(extra)) and len(row.output_dtypes) == 3
        assert row.activation == 10 * 12


def test_the_summed_products_line_writes_its_gate_count_and_directions():
    """explain's line for adding W_ih·x and W_hh·h per gate element: T·N = 5·2 = 10 steps, H = 8. An LSTM
    sums all 4 gates (4·H·steps = 320 per direction: dirs·… = 640 both ways), a GRU only r and z (its candidate
    keeps them apart: 2·8·10 = 160), an Elman RNN its one pre-activation (H·steps = 80, no '1·')."""
    x = torch.randn(5, 2, 4)
    want = {nn.LSTM(4, 8, bidirectional=True): "layer 0: W_ih·x + W_hh·h (gates i, f, g, o) [adds, weight 1] = "
                                                "dirs·4·H·steps = 2×4×8×10 = 640",
            nn.GRU(4, 8): "layer 0: W_ih·x + W_hh·h (gates r, z) [adds, weight 1] = 2·H·steps = 2×8×10 = 160",
            nn.RNN(4, 8): "layer 0: W_ih·x + W_hh·h (pre-activation) [adds, weight 1] = H·steps = 8×10 = 80"}
    for m, line in want.items():
        assert line in [text.strip() for text in run(m, x).explain("").splitlines()], (type(m).__name__, line)
