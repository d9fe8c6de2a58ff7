"""rules/recurrent.py, attention.py, activation.py and embedding.py at sizes where each count can be
derived by hand: cases the mutation round over those files found no test pinned."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchcount

from conftest import run


def counted(cost) -> dict:
    """The non-zero arithmetic categories of a cost."""
    return {c: getattr(cost, c) for c in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc")
            if getattr(cost, c)}


def test_an_unbatched_sequence_is_one_sequence_of_its_first_dim():
    """An unbatched (T, I) = (5, 3) input to nn.LSTM(3, 4): one sequence of T = 5 steps, so
    4·H·(I + H)·T = 4·4·(3 + 4)·5 = 560 MACs and 5 sequential steps (not I = 3 steps, not N = 0)."""
    report = run(nn.LSTM(3, 4), torch.randn(5, 3))
    assert report.total.macs == 4 * 4 * (3 + 4) * 5 == 560
    assert report.layers[0].extra["steps"] == 5


def test_softmax_of_a_scalar_is_one_row_of_one_element():
    """nn.Softmax(dim=0) of a 0-dim tensor: one row of n = 1: no comparison (n − 1 = 0), one
    subtraction of the max, one exp, no addition of the sum, one division — not n = 0 (a row of
    −1 comparisons)."""
    cost = run(nn.Softmax(dim=0), torch.tensor(0.5)).total.cost
    assert counted(cost) == {"adds": 1, "transc": 1, "divs": 1}


def test_softmax_over_an_empty_dim_costs_nothing():
    """nn.Softmax(dim=1) of a (3, 0) tensor (torch returns a (3, 0) tensor): no element, no work —
    the rows are numel // max(n, 1) = 0, not a division by n = 0."""
    report = run(nn.Softmax(dim=1), torch.randn(3, 0))
    assert counted(report.total.cost) == {}
    assert report.complete


def test_softmax_over_a_dim_of_one_has_a_row_per_element():
    """nn.Softmax(dim=1) of a (3, 1) tensor: 3 rows of n = 1: 3 subtractions, 3 exps, 3 divisions,
    no comparison or sum addition (n − 1 = 0 each)."""
    cost = run(nn.Softmax(dim=1), torch.randn(3, 1)).total.cost
    assert counted(cost) == {"adds": 3, "transc": 3, "divs": 3}


def test_an_activation_line_writes_its_count_per_element_only_when_not_one():
    """GELU (erf) of 1×2×3 = 6 elements, 0.5·x·(1 + erf(x/√2)): 3 multiplications per element are
    written 3·elements = 3×1×2×3 = 18; the one exp-like erf and the one addition just elements."""
    text = torchcount.profile(nn.GELU(), torch.randn(1, 2, 3)).explain("")
    assert "multiplications (gelu) [mults, weight 1] = 3·elements = 3×1×2×3 = 18" in text
    assert "transcendental ops (gelu) [transc, weight 1] = elements = 1×2×3 = 6" in text
    assert "additions (gelu) [adds, weight 1] = elements = 1×2×3 = 6" in text


def test_one_head_averages_its_weights_by_divisions_alone():
    """nn.MultiheadAttention(4, 1) returning its weights averaged over H = 1 head: (H − 1)·N·L·S = 0
    additions, so no line for them, and N·L·S = 1·3·3 = 9 divisions (torch's mean over the heads dim)."""
    mha, x = nn.MultiheadAttention(4, 1).train(), torch.randn(3, 1, 4)
    report = run(mha, x, x, x)
    text = report.explain("")
    assert "head-average additions" not in text
    assert "head-average divisions [divs, weight 1] = N·L·S = 1×3×3 = 9" in text
    assert "subtractions of the max [adds, weight 1] = N·H·L·S = 1×1×3×3 = 9" in text  # the softmax's rows N·H·L
    assert report.total.cost.divs == 9 + 9  # the softmax's N·H·L·S = 9 and the head average's 9


def test_a_key_padding_mask_given_by_position_is_a_mask():
    """MultiheadAttention.forward(query, key, value, key_padding_mask, …): a boolean key padding mask
    passed as the fourth positional argument, E = 4, H = 2, L = S = 3, N = 1, weights averaged:
    additions N·(L + 2S)·E = 36 (in-projection biases) + N·H·L·S = 18 (mask) + 18 (softmax's max
    subtracted) + N·H·L·(S − 1) = 12 (row sums) + N·L·E = 12 (out bias) + (H − 1)·N·L·S = 9 (head
    average) = 105; the mask made additive: 3 assignments. The same as given by keyword."""
    mha, x = nn.MultiheadAttention(4, 2).train(), torch.randn(3, 1, 4)
    mask = torch.zeros(1, 3, dtype=torch.bool)
    by_position = run(mha, x, x, x, mask).total.cost
    assert by_position.adds == 36 + 18 + 18 + 12 + 12 + 9 == 105
    assert by_position.assigns == 3
    assert by_position == run(mha, x, x, x, kwargs={"key_padding_mask": mask}).total.cost
    assert run(mha, x, x, x).total.cost.adds == 105 - 18


def test_an_attention_mask_given_by_position_is_a_mask():
    """The sixth positional argument, attn_mask (after key_padding_mask and need_weights): a float
    L×S mask, E = 4, H = 2, L = S = 3, N = 1: the same 105 additions as a key padding mask (its 18 one
    per score), and no assignment (a float mask is additive as given)."""
    mha, x = nn.MultiheadAttention(4, 2).train(), torch.randn(3, 1, 4)
    mask = torch.zeros(3, 3)
    by_position = run(mha, x, x, x, None, True, mask).total.cost
    assert by_position.adds == 105 and by_position.assigns == 0
    assert by_position == run(mha, x, x, x, kwargs={"attn_mask": mask}).total.cost


def test_frozen_weights_take_the_fast_path_with_grad_enabled():
    """In eval mode with grad enabled, MultiheadAttention still takes the fused fast path when no
    weight requires grad (torch checks requires_grad, not the grad mode alone): the causal mask given
    (a boolean L×L mask, made additive: L·L = 16 assignments) is used as it is, and no causal mask
    is built for SDPA (which the Python path would add: 16 more), as the ops it ran count it (operation
    counts: bytes are not compared)."""
    from conftest import Hidden

    N, L, E, H = 2, 4, 8, 2
    mha = nn.MultiheadAttention(E, H, batch_first=True).eval().requires_grad_(False)
    x = torch.randn(N, L, E)
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
    kw = {"attn_mask": causal, "is_causal": True, "need_weights": False}
    assert torch.is_grad_enabled()
    report = run(mha, x, x, x, kwargs=kw)
    assert report.total.cost.assigns == L * L == 16
    assert counted(report.total.cost) == counted(run(Hidden(mha), x, x, x, kwargs=kw).total.cost)


def test_cross_attention_with_the_value_by_keyword():
    """nn.MultiheadAttention(4, 2, kdim=3, vdim=5) of a query of L = 2 against S = 3 keys (N = 1), the
    value passed by keyword: MACs N·L·E·E = 32 (query projection) + N·S·kdim·E = 36 (keys) + N·S·vdim·E
    = 60 (values) + N·L·S·E = 24 (scores) + 24 (weighted sum) + N·L·E·E = 32 (output) = 208, as
    with every tensor by position."""
    mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=5).train()
    q, k, v = torch.randn(2, 1, 4), torch.randn(3, 1, 3), torch.randn(3, 1, 5)
    by_keyword = run(mha, q, k, kwargs={"value": v}).total.cost
    assert by_keyword.macs == 32 + 36 + 60 + 24 + 24 + 32 == 208
    assert by_keyword == run(mha, q, k, v).total.cost


def test_embedding_bag_of_an_empty_table_reads_its_offsets_alone():
    """F.embedding_bag (mode 'mean', its default) of no index into a (0, 3) table, one bag (offsets
    [0]): torch returns one bag of zeros; nothing is looked up, reduced or divided (no bag holds a
    row): 0 operations, 8 bytes read (the one int64 offset), 12 written (1×3 float32). A (5, 3) table,
    4 indices in 2 bags: (4 − 2)·3 = 6 additions, 2·3 = 6 divisions; 4 rows of 12 bytes + 4 and 2
    int64 indices and offsets = 96 read. A (1, 3) table read twice in one bag: (2 − 1)·3 = 3
    additions, 3 divisions, 2·12 + 2·8 + 8 = 48 bytes read (its one row's 12 bytes twice)."""
    from conftest import Fn

    bag = Fn(lambda w, i, o: F.embedding_bag(i, w, o))
    cost = run(bag, torch.empty(0, 3), torch.empty(0, dtype=torch.long), torch.tensor([0])).total.cost
    assert counted(cost) == {}
    assert (cost.bytes_read, cost.bytes_written) == (8, 12)
    cost = run(bag, torch.randn(5, 3), torch.tensor([0, 2, 4, 1]), torch.tensor([0, 3])).total.cost
    assert counted(cost) == {"adds": 6, "divs": 6}
    assert (cost.bytes_read, cost.bytes_written) == (4 * 12 + 4 * 8 + 2 * 8, 2 * 12)
    cost = run(bag, torch.randn(1, 3), torch.tensor([0, 0]), torch.tensor([0])).total.cost
    assert counted(cost) == {"adds": 3, "divs": 3}
    assert (cost.bytes_read, cost.bytes_written) == (2 * 12 + 2 * 8 + 8, 12)


def test_unbatched_attention_is_one_sequence():
    """nn.MultiheadAttention(4, 2) of an unbatched (L, E) = (3, 4) query, key and value: N = 1, so
    MACs 3·(N·L·E·E) = 144 (q, k, v projections) + N·L·S·E = 36 (scores) + 36 (weighted sum) +
    N·L·E·E = 48 (output) = 264, and the weights averaged over H = 2 heads: (H − 1)·N·L·S = 9
    additions, N·L·S = 9 divisions."""
    mha, x = nn.MultiheadAttention(4, 2).train(), torch.randn(3, 4)
    report = run(mha, x, x, x)
    assert report.total.macs == 3 * 48 + 36 + 36 + 48 == 264
    text = report.explain("")
    assert "head-average additions [adds, weight 1] = (H − 1)·N·L·S = (2 − 1)×1×3×3 = 9" in text
    assert "head-average divisions [divs, weight 1] = N·L·S = 1×3×3 = 9" in text


def test_miopen_rnn_runs_num_layers_times_T_sequential_steps():
    """``miopen_rnn`` (ROCm's fused recurrent kernel, cuDNN's arguments but proj_size and weight_buf),
    hand-built for a 2-layer LSTM (I = 4, H = 8) over a batch-first (N, T, I) = (3, 5, 4) input: its
    layers run one after another, T = 5 steps each (axis 1, batch first): 2·5 = 10 sequential steps."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.recurrent import op_sequential_steps

    aten = torch.ops.aten
    layers, I, H, T, N = 2, 4, 8, 5, 3
    weights = []
    for layer in range(layers):
        weights += [torch.empty(4 * H, I if layer == 0 else H), torch.empty(4 * H, H)]
    x, hx = torch.empty(N, T, I), torch.empty(layers, N, H)
    args = (x, weights, 2, hx, hx, 2, H, layers, True, 0.0, False, False, [], None)
    op = OpCall(aten.miopen_rnn.default, describe(args), describe({}), describe((torch.empty(N, T, H),)))
    assert op_sequential_steps(op) == layers * T == 10


def test_odd_heads_take_the_python_path_in_eval_mode():
    """MultiheadAttention's fast path needs an even head count: 3 heads (E = 6) in eval mode under
    no_grad, batch-first self-attention with is_causal and no weights, run the Python path, where
    SDPA builds its own L×L causal mask: L·L = 16 assignments beside the 16 of the boolean mask made
    additive (32), as the ops it ran count them."""
    from conftest import Hidden

    N, L, E, H = 2, 4, 6, 3
    mha = nn.MultiheadAttention(E, H, batch_first=True).eval()
    x = torch.randn(N, L, E)
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
    kw = {"attn_mask": causal, "is_causal": True, "need_weights": False}
    with torch.no_grad():
        report = run(mha, x, x, x, kwargs=kw)
        ops = run(Hidden(mha), x, x, x, kwargs=kw)
    assert report.total.cost.assigns == 2 * L * L == 32
    assert counted(report.total.cost) == counted(ops.total.cost)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_a_projection_line_only_with_proj_size_and_each_gate_line_its_factor():
    """nn.LSTM(3, 4, proj_size=2) over 5 steps: the projection H·P·steps = 4×2×5 = 40 MACs, the gate
    g and tanh(c) 2·H·steps = 2×4×5 = 40 tanh; without proj_size no projection line (not a line of
    0). A GRU's candidate is H·steps = 4×5 = 20 tanh, written without a factor 1."""
    x = torch.randn(5, 1, 3)
    text = run(nn.LSTM(3, 4, proj_size=2), x).explain("")
    assert "projection h = W_hr·h (layer 0) [macs, weight 2] = H·P·steps = 4×2×5 = 40" in text
    assert "layer 0: gate g and tanh(c) (tanh) [transc, weight 1] = 2·H·steps = 2×4×5 = 40" in text
    assert "projection" not in run(nn.LSTM(3, 4), x).explain("")
    text = run(nn.GRU(3, 4), x).explain("")
    assert "layer 0: candidate n (tanh) [transc, weight 1] = H·steps = 4×5 = 20" in text


def test_both_masks_merge_into_one_of_n_times_h_rows():
    """A boolean key padding mask (N, S) and a boolean attention mask (L, S), E = 4, H = 2, L = S = 3,
    N = 1: both made additive (3 + 9 = 12 assignments) and summed into one (N·H, L, S) mask, N·H·L·S
    = 1·2·3·3 = 18 additions (not (N + H)·L·S = 27), on top of the 105 of one mask: 123, as the ops
    the Python path ran count them."""
    from conftest import Hidden

    mha, x = nn.MultiheadAttention(4, 2).train(), torch.randn(3, 1, 4)
    kw = {"key_padding_mask": torch.zeros(1, 3, dtype=torch.bool), "attn_mask": torch.zeros(3, 3, dtype=torch.bool)}
    cost = run(mha, x, x, x, kwargs=kw).total.cost
    assert cost.adds == 105 + 18 == 123
    assert cost.assigns == 3 + 9
    ops = run(Hidden(mha), x, x, x, kwargs=kw).total.cost
    # (the mask's terms; torch 2.2 scales q by a division per element where later versions multiply)
    assert (cost.macs, cost.adds, cost.assigns) == (ops.macs, ops.adds, ops.assigns)


def test_cudnn_dropout_follows_every_layer_but_the_last_one_direction():
    """``_cudnn_rnn`` of a 3-layer unidirectional GRU (I = 5, H = 7) over T·N = 4·3 = 12 steps in training
    with dropout 0.5: layers 0 and 1 drop out their H-wide outputs, 2·7·12 = 168 elements, each a draw
    (cmp), a scaling (div) and a multiplication; the last layer's output none. The same as the module
    rule of nn.GRU(5, 7, num_layers=3, dropout=0.5) in training."""
    from test_gpu_ops import cudnn_forward_call
    from torchcount.count import price_op

    I, H, T, N = 5, 7, 4, 3
    train = price_op(cudnn_forward_call("GRU", I, H, T, N, layers=3, dropout=0.5, train=True))
    plain = price_op(cudnn_forward_call("GRU", I, H, T, N, layers=3, dropout=0.5))
    assert counted(train - plain) == {"cmps": 168, "divs": 168, "mults": 168}
    module = run(nn.GRU(I, H, num_layers=3, dropout=0.5).train(), torch.randn(T, N, I)).total.cost
    assert counted(module) == counted(train)


def test_embedding_with_max_norm_of_an_empty_table_costs_nothing():
    """F.embedding(max_norm=1.0) of no index into a (0, 3) table runs embedding_renorm_ on no row: no
    norm computed, no row rescaled, nothing read or written (0 rows of 0 bytes, not a division of the
    table's 0 bytes by its 0 rows), and the look-up is the 0×3 output."""
    from conftest import Fn

    w, i = torch.empty(0, 3), torch.empty(0, dtype=torch.long)
    report = run(Fn(lambda w, i: F.embedding(i, w, max_norm=1.0)), w, i)
    assert report.complete
    assert counted(report.total.cost) == {}
    assert (report.total.cost.bytes_read, report.total.cost.bytes_written) == (0, 0)


def test_embedding_bag_given_no_per_sample_weights_positionally_multiplies_nothing():
    """nn.EmbeddingBag(10, 4, mode='sum') called as (indices, offsets, None): the third positional argument
    is the per-sample weights, here none, so 4 look-ups in 2 bags cost (4 − 2)·4 = 8 additions and no
    multiplication; given as a tensor in that place, 4·4 = 16 multiplications more."""
    m = nn.EmbeddingBag(10, 4, mode="sum")
    idx, offsets = torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1])
    assert counted(run(m, idx, offsets, None).total.cost) == {"adds": 8}
    assert counted(run(m, idx, offsets, torch.rand(4)).total.cost) == {"mults": 16, "adds": 8}


def test_embedding_bag_op_called_without_a_mode_sums():
    """aten._embedding_bag(weight, indices, offsets) with its mode left out takes the schema's default,
    0, 'sum': 4 indices into a (5, 3) table in 2 bags cost (4 − 2)·3 = 6 additions and no division (a
    mean would add 2·3 = 6); the output is the bags' sums."""
    from conftest import ops_counts

    w, i, o = torch.randn(5, 3), torch.tensor([0, 2, 4, 1]), torch.tensor([0, 3])
    out = torch.ops.aten._embedding_bag(w, i, o)[0]
    assert torch.allclose(out, torch.stack([w[[0, 2, 4]].sum(0), w[1]]))
    assert ops_counts(lambda w, i, o: torch.ops.aten._embedding_bag(w, i, o), w, i, o) == {"adds": 6}
