"""Bytes moved (``bytes_read`` / ``bytes_written``): what the arithmetic intensity and the
compute-/memory-bound verdicts rest on. The convention (docs/measure.md): every input and weight a
call reads is read once, every new output written once; a call whose outputs are all views of its
inputs (or the inputs themselves) moves nothing, whether it is a module (nn.Flatten) or an op
(torch.flatten); a look-up reads the rows it picks, not the whole table. Each figure here is
derived by hand; these were found by an audit (data movement in rule-less modules counted 0 bytes,
quantized modules never read their packed weights, EmbeddingBag read its whole table)."""
import csv
import io
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchcount

F32 = 4
I64 = 8


def profile(model, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torchcount.profile(model, inputs, warn=False)


class Fn(nn.Module):
    """A rule-less module whose forward is ``fn(self, *args)`` (priced from the aten ops it runs)."""

    def __init__(self, fn, **children):
        super().__init__()
        self.fn = fn
        for k, v in children.items():
            setattr(self, k, v)

    def forward(self, *args):
        return self.fn(self, *args)


def rw(cost):
    return cost.bytes_read, cost.bytes_written


# ---------------------------------------------------------------------------------------------
# F1. Data-movement ops priced from ops (cat, contiguous/clone, pad, dtype casts, embedding
#     look-ups) count 0 bytes. count.py:104 only adds the default traffic when the op's cost is
#     not zero (`and not cost.is_zero()`), so every "known zero" op of docs/coverage.md:60-66
#     ("Their cost shows only in bytes") shows no cost at all.
# ---------------------------------------------------------------------------------------------
X = (2, 3, 4, 4)  # 96 elements, 384 bytes in fp32


@pytest.mark.parametrize("name, fn, hand", [
    # cat reads both inputs (2·384) and writes the 2×6×4×4 output (768)
    ("cat", lambda m, x: torch.cat([x, x], 1), (2 * 96 * F32, 2 * 96 * F32)),
    # contiguous() of a transposed view is a copy: reads x, writes a new tensor
    ("contiguous", lambda m, x: x.transpose(1, 2).contiguous(), (96 * F32, 96 * F32)),
    # a slice copied: reads the 2×2×4×4 slice, writes it
    ("slice.contiguous", lambda m, x: x[:, :2].contiguous(), (64 * F32, 64 * F32)),
    # F.pad: reads x, writes the 2×3×6×6 output (nn.ZeroPad2d(1) already gives these numbers)
    ("pad", lambda m, x: F.pad(x, (1, 1, 1, 1)), (96 * F32, 2 * 3 * 36 * F32)),
    # a cast: reads fp32, writes fp16
    ("cast", lambda m, x: x.to(torch.float16), (96 * F32, 96 * 2)),
])
def test_data_movement_ops_count_their_bytes(name, fn, hand):
    report = profile(Fn(fn), torch.randn(*X))
    assert rw(report.total.cost) == hand, name


def test_functional_embedding_reads_the_rows_like_nn_embedding():
    # nn.Embedding(100, 16) on 2×5 indices reads 10 int64 indices + 10 rows of 16 fp32 and
    # writes 10×16 fp32 (tests/test_rules_core.py pins this for the module); F.embedding is the
    # same look-up but counts 0 bytes (aten.embedding is a zero op, see F1)
    idx = torch.randint(0, 100, (2, 5))
    hand = (10 * I64 + 10 * 16 * F32, 10 * 16 * F32)
    assert rw(profile(nn.Embedding(100, 16), idx).total.cost) == hand  # passes today
    fe = Fn(lambda m, i: F.embedding(i, m.weight), weight=nn.Parameter(torch.randn(100, 16)))
    assert rw(profile(fe, idx).total.cost) == hand



def test_functional_embedding_with_max_norm_counts_the_renorms_rows():
    # F.embedding(max_norm=…) runs embedding_renorm_ first: it reads the rows it looks at (an upper bound:
    # every look-up a distinct row, at most the table's 4) and the 10 int64 indices, and writes those rows
    # back; then the look-up reads the indices and 10 rows and writes 10×16 fp32, as above
    idx = torch.randint(0, 4, (2, 5))
    fe = Fn(lambda m, i: F.embedding(i, m.weight, max_norm=1.0), weight=nn.Parameter(torch.randn(4, 16)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(fe, idx, warn=False, copy_params=True)  # (the renorm writes the weight)
    renorm = (4 * 16 * F32 + 10 * I64, 4 * 16 * F32)
    lookup = (10 * I64 + 10 * 16 * F32, 10 * 16 * F32)
    assert rw(report.total.cost) == (renorm[0] + lookup[0], renorm[1] + lookup[1])
    # a table of one row: that row read and written once by the renorm, read 10 times by the look-up
    one = Fn(lambda m, i: F.embedding(i, m.weight, max_norm=1.0), weight=nn.Parameter(torch.randn(1, 16)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = torchcount.profile(one, torch.zeros(2, 5, dtype=torch.long), warn=False, copy_params=True)
    assert rw(report.total.cost) == (16 * F32 + 10 * I64 + lookup[0], 16 * F32 + lookup[1])


def test_embedding_of_one_index_reads_one_row_and_the_index():
    # a single look-up (a 0-d index): one int64 index and one row of 16 fp32 read, one row written
    assert rw(profile(nn.Embedding(100, 16), torch.tensor(7)).total.cost) == (I64 + 16 * F32, 16 * F32)
    # no look-up (an empty index): counted (no division by the 0 look-ups), nothing read or written (a rule's
    # 0 and 0 bytes read as "not given" once made it the default traffic: the whole table, 6,400 bytes)
    assert rw(profile(nn.Embedding(100, 16), torch.empty(0, dtype=torch.long)).total.cost) == (0, 0)
    # the same for a layer given an empty batch: its kernel reads no weight
    assert rw(profile(nn.Linear(8, 4), torch.empty(0, 8)).total.cost) == (0, 0)
# ---------------------------------------------------------------------------------------------
# F2. Quantized modules never count their (packed) weights as read. count.py:_walk_tensors adds
#     packed weights to the model's param_bytes (count.py:305) but not to the module's
#     state_bytes (count.py:306 stores `nbytes`, summed from _parameters/_buffers only), and
#     _subtree_state_bytes (count.py:75, used when the module has children, e.g.
#     nnq.Linear._packed_params) sees only parameters()/buffers(). The functional form
#     (qF.linear) does count them (docs/guarantees.md:131-134: "counted as the modules are ...
#     its bytes count as read").
# ---------------------------------------------------------------------------------------------
def _qx(*shape):
    return torch.quantize_per_tensor(torch.randn(*shape), 0.1, 0, torch.quint8)


def test_static_quantized_linear_reads_its_packed_weights():
    import torch.ao.nn.quantized as nnq
    report = profile(nnq.Linear(16, 32), _qx(4, 16))
    # x 4·16 quint8 + W 32·16 qint8 + b 32 fp32 ; out 4·32 quint8
    assert rw(report.total.cost) == (64 + 512 + 32 * F32, 128)


def test_dynamic_quantized_linear_reads_its_packed_weights():
    import torch.ao.nn.quantized.dynamic as nnqd
    report = profile(nnqd.Linear(16, 32), torch.randn(4, 16))
    # x 4·16 fp32 + W 32·16 qint8 + b 32 fp32 ; out 4·32 fp32
    assert rw(report.total.cost) == (64 * F32 + 512 + 32 * F32, 128 * F32)


def test_quantized_conv_reads_its_packed_weights():
    import torch.ao.nn.quantized as nnq
    report = profile(nnq.Conv2d(3, 8, 3), _qx(2, 3, 8, 8))
    # x 2·3·8·8 quint8 + W 8·3·3·3 qint8 + b 8 fp32 ; out 2·8·6·6 quint8
    assert rw(report.total.cost) == (384 + 216 + 8 * F32, 576)


def test_dynamic_quantized_lstm_reads_its_packed_weights():
    import torch.ao.nn.quantized.dynamic as nnqd
    report = profile(nnqd.LSTM(16, 32), torch.randn(7, 2, 16))
    # x 7·2·16 fp32 + W_ih 128·16 + W_hh 128·32 qint8 + b_ih, b_hh 2·128 fp32
    # out 7·2·32 + h_n 2·32 + c_n 2·32 fp32 (same as the float LSTM)
    assert rw(report.total.cost) == (896 + 2048 + 4096 + 2 * 128 * F32, (448 + 64 + 64) * F32)


# ---------------------------------------------------------------------------------------------
# F3. EmbeddingBag reads its whole table, nn.Embedding only the rows looked up.
#     rules/embedding.py:29 (embedding_bag) and :51 (embedding_bag_op) leave the bytes to the
#     default traffic (count.py:136-142 / :104), which adds every weight byte.
# ---------------------------------------------------------------------------------------------
def test_embedding_bag_reads_only_the_rows_looked_up():
    eb = nn.EmbeddingBag(1000, 16, mode="sum")
    idx, offsets = torch.randint(0, 1000, (12,)), torch.tensor([0, 3, 6, 9])
    report = profile(eb, (idx, offsets))
    # indices 12·8 + offsets 4·8 + 12 rows of 16 fp32 ; out 4 bags × 16 fp32
    assert rw(report.total.cost) == (12 * I64 + 4 * I64 + 12 * 16 * F32, 4 * 16 * F32)


def test_functional_embedding_bag_reads_only_the_rows_looked_up():
    m = Fn(lambda s, i, o: F.embedding_bag(i, s.weight, o, mode="sum"), weight=nn.Parameter(torch.randn(1000, 16)))
    report = profile(m, (torch.randint(0, 1000, (12,)), torch.tensor([0, 3, 6, 9])))
    assert report.total.cost.bytes_read == 12 * I64 + 4 * I64 + 12 * 16 * F32



def test_a_view_moves_nothing_as_a_module_and_as_an_op():
    x = torch.randn(*X)
    assert rw(profile(nn.Flatten(), x).total.cost) == (0, 0)
    assert rw(profile(Fn(lambda m, x: torch.flatten(x, 1)), x).total.cost) == (0, 0)
    assert rw(profile(Fn(lambda m, x: x.transpose(1, 2)[:, :1]), x).total.cost) == (0, 0)
    assert rw(profile(nn.Identity(), x).total.cost) == (0, 0)
    assert rw(profile(nn.Dropout(0.5).eval(), x).total.cost) == (0, 0)


def test_gathering_ops_read_what_they_pick():
    x, idx = torch.randn(10, 8), torch.tensor([1, 4, 4])
    # index_select: 3 rows of 8 fp32 read and written, plus the 3 int64 indices
    assert rw(profile(Fn(lambda m, x, i: x.index_select(0, i)), (x, idx)).total.cost) == \
        (3 * 8 * F32 + 3 * I64, 3 * 8 * F32)
    # advanced indexing x[idx]: the same
    assert rw(profile(Fn(lambda m, x, i: x[i]), (x, idx)).total.cost) == (3 * 8 * F32 + 3 * I64, 3 * 8 * F32)


class _SkipConcat(nn.Module):
    """A block whose only own work is a concatenation (DenseNet, U-Net skips)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(x)], 1)


def test_a_parent_whose_own_work_is_data_movement_keeps_its_row_and_the_csv_adds_up():
    x = torch.randn(*X)
    report = profile(nn.Sequential(_SkipConcat()), x)
    block = report.row("0")
    # the cat reads x and the conv's output (2·384) and writes 2×6×4×4 fp32 (768)
    assert rw(block.self_cost) == (2 * 96 * F32, 2 * 96 * F32)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert ("0", "self") in [(r["path"], r["part"]) for r in rows]  # the block's own row is there
    for column, total in (("bytes_read", report.total.cost.bytes_read),
                          ("bytes_written", report.total.cost.bytes_written)):
        assert sum(int(r[column]) for r in rows if r.get(column)) == total


# ---- parametrized weights and packed sequences ------------------------------------------------
def test_weight_norm_weights_read_once():
    from torch.nn.utils.parametrizations import weight_norm
    report = profile(weight_norm(nn.Linear(16, 32)), torch.randn(4, 16))
    # the Linear itself: x 4·16 + the computed w 32·16 + b 32 ; out 4·32
    assert rw(report.root.self_cost) == ((64 + 512 + 32) * F32, 128 * F32)
    # whole model: _weight_norm_interface reads v 32·16 + g 32, writes w 32·16 and the norms 32
    assert rw(report.total.cost) == ((512 + 32 + 64 + 512 + 32) * F32, (512 + 32 + 128) * F32)


def test_low_rank_parametrization_factors_not_read_by_the_linear():
    import torch.nn.utils.parametrize as P

    class LowRank(nn.Module):
        def __init__(self):
            super().__init__()
            self.A = nn.Parameter(torch.randn(256, 4))
            self.B = nn.Parameter(torch.randn(4, 256))

        def forward(self, W):
            return self.A @ self.B

    lin = nn.Linear(256, 256)
    P.register_parametrization(lin, "weight", LowRank())
    report = profile(lin, torch.randn(4, 256))
    # the Linear reads x 4·256 + the computed W 256·256 + b 256 (not `original`, not A and B)
    assert report.root.self_cost.bytes_read == (1024 + 65536 + 256) * F32
    # A and B are read once, by the LowRank row (mm: 2·1024 elements in, 256·256 out)
    assert report.total.cost.bytes_read == (2048 + 1024 + 65536 + 256) * F32


def test_a_cached_parametrization_reads_the_weight_the_size_of_its_original():
    # under parametrize.cached(), with the cache filled before profiling, the parametrization is not
    # called inside the Linear's call: the weight it reads is taken at its original's size, 4·4
    import torch.nn.utils.parametrize as P

    class Double(nn.Module):
        def forward(self, W):
            return W * 2

    lin = nn.Linear(4, 4)
    P.register_parametrization(lin, "weight", Double())
    with P.cached():
        lin.weight  # (fills the cache)
        report = profile(lin, torch.randn(2, 4))
    assert report.root.self_cost.mults == 0  # the cached product: no parametrization ran
    # x 2·4 + the weight 4·4 + b 4 read, out 2·4 written
    assert rw(report.root.self_cost) == ((8 + 16 + 4) * F32, 8 * F32)


def test_lstm_on_packed_sequence_counts_the_sequence():
    from torch.nn.utils.rnn import pack_padded_sequence
    x = torch.randn(7, 2, 16)
    packed = pack_padded_sequence(x, torch.tensor([7, 7]))
    report = profile(nn.LSTM(16, 32), (packed,))
    weights = (4 * 32 * 16 + 4 * 32 * 32 + 2 * 128) * F32
    # the same sequence as the dense call (26,496 / 2,304): data 14·16 read (plus, arguably,
    # batch_sizes 7 int64), packed output 14·32 + h_n + c_n written
    assert report.total.cost.bytes_read in (14 * 16 * F32 + weights, 14 * 16 * F32 + weights + 7 * I64)
    assert report.total.cost.bytes_written == (14 * 32 + 64 + 64) * F32


class KeywordLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32)

    def forward(self, packed):
        return self.lstm(input=packed)


def test_lstm_given_its_packed_sequence_by_keyword_counts_the_sequence():
    """lstm(input=packed) reads and writes what lstm(packed) does: the packed data 14·16 and its 7
    int64 batch sizes read beside the weights, the packed output 14·32 and h_n, c_n (2·32 each)
    written (no positional argument to find the sequence in)."""
    from torch.nn.utils.rnn import pack_padded_sequence
    packed = pack_padded_sequence(torch.randn(7, 2, 16), torch.tensor([7, 7]))
    weights = (4 * 32 * 16 + 4 * 32 * 32 + 2 * 128) * F32
    cost = profile(KeywordLSTM(), (packed,)).row("lstm").self_cost
    assert rw(cost) == (14 * 16 * F32 + 7 * I64 + weights, (14 * 32 + 64 + 64) * F32)


class Unpacks(nn.Module):
    """Pads a packed sequence back into a tensor: priced by a (test's) rule of no bytes of its own."""

    def forward(self, packed):
        return torch.nn.utils.rnn.pad_packed_sequence(packed)[0]


def test_a_ruled_call_given_a_packed_sequence_reads_it_whatever_it_returns():
    """A rule's call on a packed sequence reads its data (the 3 steps of lengths 2 and 1 of 4 features:
    3·4 float32) and its 2 int64 batch sizes, though it returns one tensor, not a tuple or a packed
    sequence; it writes its 2×2×4 padded output."""
    from torch.nn.utils.rnn import pack_padded_sequence
    from torchcount.rules import registry

    @torchcount.module_rule(Unpacks)
    def unpacks(module, call):
        return torchcount.Cost.of(torchcount.Term("assigns", "assignments", "elements", 16, 16))

    packed = pack_padded_sequence(torch.randn(2, 2, 4), torch.tensor([2, 1]))
    try:
        cost = profile(Unpacks(), (packed,)).total.cost
    finally:
        registry._MODULE_RULES.pop(Unpacks, None)
        registry._lookup_cache.clear()
    assert rw(cost) == (3 * 4 * F32 + 2 * I64, 2 * 2 * 4 * F32)


def test_an_expanded_operand_reads_what_it_stores():
    """x * w.expand(64, 1024) is the computation of x * w broadcast: w's 1024 elements are read,
    not 64·1024 (an expanded tensor has stride 0 along the broadcast dimension)."""
    w = nn.Parameter(torch.randn(1, 1024))
    x = torch.randn(64, 1024)
    hand = ((64 * 1024 + 1024) * F32, 64 * 1024 * F32)
    assert rw(profile(Fn(lambda m, x: x * m.w, w=w), x).total.cost) == hand
    assert rw(profile(Fn(lambda m, x: x * m.w.expand(64, 1024), w=w), x).total.cost) == hand


# ---------------------------------------------------------------------------------------------
# In-place writes. An in-place op (relu_, add_, copy_) or one given out= writes into a tensor
# it was given: that write is traffic like any other (the eager kernel stores every element),
# while a view moves nothing. Before, every output that aliased an input was taken for a view:
# ReLU(inplace=True) wrote 0 bytes, dst.copy_(src) and x.fill_(1) moved nothing at all, and
# index_copy_ into a KV cache neither. Writes at indices move only the elements they put.
# ---------------------------------------------------------------------------------------------
N = 96  # elements of X


@pytest.mark.parametrize("name, fn, hand", [
    # clone: reads x, writes N; relu_: reads N, writes N over it (as F.relu would write a new N)
    ("relu_", lambda m, x: F.relu(x.clone(), inplace=True), (2 * N * F32, 2 * N * F32)),
    # add_: reads both operands, writes over the first
    ("add_", lambda m, x: x.clone().add_(x), (3 * N * F32, 2 * N * F32)),
    # empty_like allocates (nothing moved); copy_ reads the source and writes the destination,
    # which it never reads
    ("copy_", lambda m, x: torch.empty_like(x).copy_(x), (N * F32, N * F32)),
    # fill_ writes N and reads nothing
    ("fill_", lambda m, x: x.clone().fill_(1.0), (N * F32, 2 * N * F32)),
    # out=: reads both operands, writes the out tensor (not read)
    ("out=", lambda m, x: torch.add(x, x, out=torch.empty_like(x)), (2 * N * F32, N * F32)),
    # a copy into a slice of a fresh tensor (a 2×4×4 channel): 32 elements read, 32 written
    ("slice copy_", lambda m, x: x.clone()[:, 0].copy_(x[:, 1]), ((N + 32) * F32, (N + 32) * F32)),
    # rrelu_with_noise writes into its noise tensor (made empty by F.rrelu) but never reads it:
    # in training it stores the N random slopes there, in eval (the mean slope) it leaves it alone
    ("rrelu train", lambda m, x: F.rrelu(x, training=True), (N * F32, 2 * N * F32)),
    ("rrelu eval", lambda m, x: F.rrelu(x, training=False), (N * F32, N * F32)),
    # bounds of its own: the call carries 4 arguments (x, noise, lower, upper), training defaulted
    ("rrelu eval, bounds", lambda m, x: F.rrelu(x, 0.1, 0.2, training=False), (N * F32, N * F32)),
    ("rrelu_ train", lambda m, x: F.rrelu_(x.clone(), training=True), (2 * N * F32, 3 * N * F32)),
])
def test_in_place_ops_write_what_they_overwrite(name, fn, hand):
    report = profile(Fn(fn), torch.randn(*X))
    assert rw(report.total.cost) == hand, name


def test_in_place_and_out_of_place_relu_modules_move_the_same_bytes():
    x = torch.randn(*X)
    plain, inplace = (profile(nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU(inplace=flag)).eval(), x) for flag in (False, True))
    assert rw(inplace.row("1").cost) == rw(plain.row("1").cost) == (N * F32, N * F32)
    

def test_circular_padding_counts_the_copies_it_runs():
    # F.pad(mode="circular") runs as new_empty and five copy_ into slices of it: the 4×4 centre,
    # two 6×1 columns, two 1×6 rows (the corners are written twice): per (n, c) plane
    # 16 + 2·6 + 2·6 = 40 elements read and written, over 2·3 planes
    report = profile(Fn(lambda m, x: F.pad(x, (1, 1, 1, 1), mode="circular")), torch.randn(*X))
    assert rw(report.total.cost) == (6 * 40 * F32, 6 * 40 * F32)


CACHE, K, IDX = (100, 8), (2, 8), torch.tensor([3, 7])  # a 3200-byte cache, 2 rows of 8 put into it


@pytest.mark.parametrize("name, fn, hand", [
    # index_copy_ into a cache: reads the 2 indices and the 2 rows, writes the 2 rows
    ("index_copy_", lambda c, k: c.index_copy_(0, IDX, k), (2 * I64 + 16 * F32, 16 * F32)),
    # cache[idx] = k (index_put_): the same
    ("setitem", lambda c, k: c.__setitem__(IDX, k) or c, (2 * I64 + 16 * F32, 16 * F32)),
    # accumulating, it also reads the 16 elements it adds into (and does 16 additions)
    ("index_add_", lambda c, k: c.index_add_(0, IDX, k), (2 * I64 + 32 * F32, 16 * F32)),
    ("index_put_ acc", lambda c, k: c.index_put_((IDX,), k, accumulate=True), (2 * I64 + 32 * F32, 16 * F32)),
    # index_fill_: reads the indices, writes 2 rows of 8
    ("index_fill_", lambda c, k: c.index_fill_(0, IDX, 1.0), (2 * I64, 16 * F32)),
    # scatter_ with a 2×8 index: reads it and the 16 source elements, writes 16
    ("scatter_", lambda c, k: c.scatter_(0, IDX.view(2, 1).repeat(1, 8), k), (2 * I64 + 16 * I64 + 16 * F32,
                                                                              16 * I64 + 16 * F32)),
    # out of place the op copies the cache first: reads it whole and writes a new one
    ("index_copy", lambda c, k: c.index_copy(0, IDX, k), (3200 + 2 * I64 + 16 * F32, 3200)),
])
def test_writes_at_indices_move_only_what_they_put(name, fn, hand):
    report = profile(Fn(lambda m, c, k: fn(c, k)), (torch.zeros(*CACHE), torch.randn(*K)))
    assert rw(report.total.cost) == hand, name
    assert not report.uncounted


def test_a_write_into_a_one_element_tensor_moves_its_one_element():
    # index_put_ into a 1-element float tensor: reads the index (8 bytes) and the value (4), writes the
    # element (4) — its bytes per element are nbytes // numel = 4, not halved
    report = profile(Fn(lambda m, c, i, v: c.index_put_((i,), v)), (torch.zeros(1), torch.tensor([0]), torch.ones(1)))
    assert rw(report.total.cost) == (I64 + F32, F32)


def test_an_op_that_returns_no_tensor_reads_its_operands():
    """torch.equal(x, y) returns a bool, no tensor: nothing written, but its 96 comparisons read both
    96-element float32 operands, 2·384 bytes (the default traffic of an op that computes). Of
    different shapes it compares nothing (ATen answers False from the sizes) and so reads nothing
    either: x with a 96-element y of another shape, 0 bytes."""
    def both(m, x, y):
        torch.equal(x, y)
        return x
    same = profile(Fn(both), (torch.randn(*X), torch.randn(*X))).total.cost
    assert (same.cmps, *rw(same)) == (96, 2 * 96 * F32, 0)
    other = profile(Fn(both), (torch.randn(*X), torch.randn(96))).total.cost
    assert (other.cmps, *rw(other)) == (0, 0, 0)


def test_in_place_views_and_resizes_move_nothing():
    # unsqueeze_, t_, resize_ change a tensor's shape or storage, not its data (their schema says
    # they write self, the inplace_view tag says how): only the clone moves bytes
    report = profile(Fn(lambda m, x: x.clone().unsqueeze_(0).squeeze_(0).resize_(N)), torch.randn(*X))
    assert rw(report.total.cost) == (N * F32, N * F32)


BF16 = 2


def test_autocast_casts_are_counted_in_a_layer_with_a_rule_as_in_its_ops():
    """Under bf16 autocast a Linear reads bf16 copies of its input, weight and bias, made by casts its
    rule does not see (they were missing: the rule counted its input and weights at float32 only, while
    the same Linear priced from its ops, ``Hidden``, counted the casts). Each cast reads the float32
    tensor and writes a bf16 copy, which the layer reads; the output is bf16."""
    from conftest import Hidden

    torch.manual_seed(0)
    layer, x = nn.Linear(64, 32), torch.randn(8, 64)
    stored = (8 * 64 + 32 * 64 + 32) * F32            # x, W, b as the caller holds them
    copies = (8 * 64 + 32 * 64 + 32) * BF16           # their bf16 copies: written by the casts, read by addmm
    out = 8 * 32 * BF16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ruled = profile(layer, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        unruled = profile(Hidden(layer), x)
    assert (ruled.total.cost.bytes_read, ruled.total.cost.bytes_written) == (stored + copies, copies + out)
    assert (unruled.total.cost.bytes_read, unruled.total.cost.bytes_written) == (stored + copies, copies + out)
    assert ruled.total.macs == unruled.total.macs == 8 * 64 * 32
    plain = profile(layer, x)  # (no autocast: no casts)
    assert (plain.total.cost.bytes_read, plain.total.cost.bytes_written) == (stored, 8 * 32 * F32)


def test_autocast_casts_in_a_convolution_and_a_weight_cast_once_per_region():
    """A Conv2d under bf16 autocast: input, weight and bias copies as for a Linear. A Linear called
    twice in one autocast region casts its weight and bias once (autocast caches casts of leaf
    parameters that require grad): the second call casts only its input, as the ops show."""
    conv, x = nn.Conv2d(3, 8, 3), torch.randn(2, 3, 10, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        r = profile(conv, x)
    elems = 2 * 3 * 10 * 10 + 8 * 3 * 3 * 3 + 8
    out = 2 * 8 * 8 * 8 * BF16
    assert (r.total.cost.bytes_read, r.total.cost.bytes_written) == (elems * (F32 + BF16), elems * BF16 + out)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)

        def forward(self, x):
            return self.fc(self.fc(x))

    x = torch.randn(4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        r = profile(Twice(), x)
    first = (4 * 16 * F32 + (16 * 16 + 16) * F32 + (4 * 16 + 16 * 16 + 16) * BF16,  # x, W, b and their copies
             (4 * 16 + 16 * 16 + 16) * BF16 + 4 * 16 * BF16)
    # the second call's input is bf16 already (no cast), its weights come from the cache; the rule
    # still reads them at their stored dtype
    second = (4 * 16 * BF16 + (16 * 16 + 16) * F32, 4 * 16 * BF16)
    assert (r.row("fc").cost.bytes_read, r.row("fc").cost.bytes_written) == \
        (first[0] + second[0], first[1] + second[1])


def test_autocast_casts_do_not_depend_on_what_ran_before_in_the_region():
    """Autocast caches the casts of parameters until its outermost region ends: a forward run before
    profile() in the same region (a warm-up) left the weights cast, and the profile then counted no
    weight cast. Each profile (and each measured pass) starts from an empty cache, as a region's first
    forward does, so the count is the same with or without the warm-up."""
    layer, x = nn.Linear(64, 32), torch.randn(8, 64)
    elems = 8 * 64 + 32 * 64 + 32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cold = profile(layer, x)
        layer(x)
        warm = profile(layer, x)
        again = profile(layer, x)
    for r in (cold, warm, again):
        assert (r.total.cost.bytes_read, r.total.cost.bytes_written) == \
            (elems * (F32 + BF16), elems * BF16 + 8 * 32 * BF16)


def test_autocast_casts_under_inference_mode_and_without_op_recording():
    """Under inference_mode autocast's casts arrive as ``aten.to`` (not decomposed) and are not cached:
    each call casts. With record_ops=False no op is recorded, so a rule counts no cast (documented)."""
    layer, x = nn.Linear(64, 32), torch.randn(8, 64)
    elems = 8 * 64 + 32 * 64 + 32
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        r = profile(layer, x)
        bare = torchcount.profile(layer, x, record_ops=False, warn=False)
    assert (r.total.cost.bytes_read, r.total.cost.bytes_written) == (elems * (F32 + BF16), elems * BF16 + 8 * 32 * BF16)
    assert (bare.total.cost.bytes_read, bare.total.cost.bytes_written) == (elems * F32, 8 * 32 * BF16)
