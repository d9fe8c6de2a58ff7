"""Receptive field, jump and start offset against hand-computed stacks and against an independent
reference: the footprint of an output's gradient on the input (all-ones weights, so every input
position inside the field gets a positive gradient)."""
import random
import warnings
from fractions import Fraction

import pytest
import torch
from torch import nn

import torchcount
from torchcount.analysis import receptive_field

from conftest import needs


def rf_of(model, x):
    return receptive_field(model, x)


def test_spec_section3_kernels_4_4_4_strides_1_2_2():
    # RF_n = RF_{n-1} + (k_n − 1)·∏_{i<n} s_i: 4; 4 + 3·1 = 7; 7 + 3·(1·2) = 13
    m = nn.Sequential(nn.Conv1d(1, 1, 4, stride=1), nn.Conv1d(1, 1, 4, stride=2), nn.Conv1d(1, 1, 4, stride=2))
    rep = rf_of(m, torch.randn(1, 1, 64))
    assert [r.rf for r in rep.rows] == [(4,), (7,), (13,)]
    assert [r.jump for r in rep.rows] == [(1,), (2,), (4,)]
    # start_n = start_{n-1} + ((k − 1)/2 − p)·jump_{n-1}: 1.5; 1.5 + 1.5·1 = 3; 3 + 1.5·2 = 6
    assert [r.start for r in rep.rows] == [(1.5,), (3.0,), (6.0,)]


def test_spec_section3_in_2d():
    m = nn.Sequential(nn.Conv2d(3, 4, 4, stride=1), nn.ReLU(), nn.Conv2d(4, 4, 4, stride=2),
                      nn.Conv2d(4, 4, 4, stride=2))
    rep = rf_of(m, torch.randn(1, 3, 40, 40))
    assert rep.dims == 2
    assert rep.row("3").rf == (13, 13)
    assert rep.row("1").kind == "pointwise" and rep.row("1").rf == (4, 4)  # ReLU: unchanged


def test_padding_and_pooling_hand_computed():
    # conv3 p1: RF 3, start 0 + (1 − 1)·1 = 0; conv3 p1: RF 5, start 0;
    # maxpool 2/2: RF 5 + 1·1 = 6, jump 2, start 0 + (0.5 − 0)·1 = 0.5;
    # conv3 p1: RF 6 + 2·2 = 10, jump 2, start 0.5 + (1 − 1)·2 = 0.5
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(2),
                      nn.Conv2d(2, 2, 3, padding=1))
    rep = rf_of(m, torch.randn(1, 1, 16, 16))
    assert [r.rf[0] for r in rep.rows] == [3, 5, 6, 10]
    assert [r.jump[0] for r in rep.rows] == [1, 1, 2, 2]
    assert [r.start[0] for r in rep.rows] == [0.0, 0.0, 0.5, 0.5]


def test_dilation_wavenet_stack():
    # kernel 2 with dilations 1, 2, 4, 8: effective kernels 2, 3, 5, 9 → RF 2, 4, 8, 16
    m = nn.Sequential(*[nn.Conv1d(1, 1, 2, dilation=d) for d in (1, 2, 4, 8)])
    rep = rf_of(m, torch.randn(1, 1, 64))
    assert [r.rf[0] for r in rep.rows] == [2, 4, 8, 16]
    assert all(r.jump == (1,) for r in rep.rows)


def test_dilation_with_stride_and_same_padding():
    # k3 d2 'same' (k' = 5, pad 2): RF 5, start 0 + (2 − 2) = 0; then k3 s2 p0: RF 5 + 2·1 = 7, jump 2,
    # start 0 + (1 − 0)·1 = 1; then k3 d3 p0 (k' = 7): RF 7 + 6·2 = 19, start 1 + 3·2 = 7
    m = nn.Sequential(nn.Conv1d(1, 1, 3, dilation=2, padding="same"), nn.Conv1d(1, 1, 3, stride=2),
                      nn.Conv1d(1, 1, 3, dilation=3))
    rep = rf_of(m, torch.randn(1, 1, 64))
    assert [r.rf[0] for r in rep.rows] == [5, 7, 19]
    assert [r.jump[0] for r in rep.rows] == [1, 2, 2]
    assert [r.start[0] for r in rep.rows] == [0.0, 1.0, 7.0]


def test_anisotropic_2d():
    # (3, 1) kernel with stride (1, 2) then (1, 5) kernel: RF (3, 1) → (3, 1 + 4·2 = 9)
    m = nn.Sequential(nn.Conv2d(1, 1, (3, 1), stride=(1, 2)), nn.Conv2d(1, 1, (1, 5)))
    rep = rf_of(m, torch.randn(1, 1, 20, 30))
    assert rep.rows[0].rf == (3, 1) and rep.rows[0].jump == (1, 2)
    assert rep.rows[1].rf == (3, 9) and rep.rows[1].jump == (1, 2)


def _footprint(model, length, index):
    """Input positions whose gradient for output[index] is nonzero (first and last)."""
    x = torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)
    y = model(x)
    y[0, 0, index].backward()
    nz = (x.grad[0, 0] != 0).nonzero().flatten().tolist()
    return nz[0], nz[-1]


@pytest.mark.parametrize("seed", range(6))


def test_random_stacks_against_gradient_footprint(seed):
    rng = random.Random(seed)
    layers = []
    for _ in range(rng.randint(2, 4)):
        if rng.random() < 0.7:
            k, s, d, p = rng.randint(1, 4), rng.randint(1, 2), rng.randint(1, 3), rng.randint(0, 2)
            conv = nn.Conv1d(1, 1, k, stride=s, dilation=d, padding=p, bias=False)
            nn.init.ones_(conv.weight)
            layers.append(conv)
        else:
            k = rng.randint(2, 3)
            layers.append(nn.AvgPool1d(k, stride=rng.randint(1, 2), padding=rng.randint(0, k // 2)))
    m = nn.Sequential(*layers).double()
    length = 200
    out_len = m(torch.zeros(1, 1, length, dtype=torch.float64)).shape[-1]
    rep = rf_of(m, torch.zeros(1, 1, length, dtype=torch.float64))
    last = rep.rows[-1]
    rf, jump, start = last.rf[0], last.jump[0], last.start[0]
    i = out_len // 2  # an interior output: its field is not clipped by the borders
    lo, hi = _footprint(m, length, i)
    assert hi - lo + 1 == rf
    assert (lo + hi) / 2 == start + i * jump
    lo2, hi2 = _footprint(m, length, i + 1)
    assert lo2 - lo == jump


def test_global_pooling_and_flatten_say_global():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    rep = rf_of(m, torch.randn(1, 1, 12, 10))
    assert rep.rows[0].rf == (3, 3)
    assert [r.kind for r in rep.rows[1:]] == ["global", "global", "global"]
    assert rep.rows[1].rf == (12, 10)  # the whole input
    assert "global pooling" in rep.rows[1].note
    assert "whole input" in rep.table()


def test_adaptive_pool_that_divides_is_a_window():
    # 12 → 3: windows of 4 with stride 4
    m = nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.AdaptiveMaxPool1d(3))
    rep = rf_of(m, torch.randn(1, 1, 12))
    assert rep.rows[1].rf == (3 + 3,) and rep.rows[1].jump == (4,)


class Permute(nn.Module):
    def forward(self, x):
        return x.transpose(1, 2)


class ConvThenRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3)
        self.perm = Permute()
        self.rnn = nn.GRU(4, 5, batch_first=True)
        self.attn = nn.MultiheadAttention(5, 1, batch_first=True)

    def forward(self, x):
        h = self.perm(self.conv(x))
        h, _ = self.rnn(h)
        return self.attn(h, h, h)[0]


def test_layers_it_cannot_reason_about_say_so():
    rep = receptive_field(ConvThenRNN(), torch.randn(1, 2, 10))
    by = {r.path: r for r in rep.rows}
    assert by["conv"].rf == (3,)
    # a module without a window rule is followed through its ops: a transpose moves the length axis last,
    # where its positions stay (the GRU then reads them as time steps)
    assert by["perm"].kind == "ops" and by["perm"].rf == (3,) and by["perm"].jump == (1,)
    assert by["rnn"].rf is None and by["attn"].rf is None
    assert "recurrent" in by["rnn"].note and "attention" in by["attn"].note
    # each unknown layer gives its own reason
    assert "recurrent" in receptive_field(nn.Sequential(nn.Conv1d(1, 1, 3), nn.RNN(8, 2)),
                                          torch.randn(1, 1, 10)).rows[1].note
    assert "—" in rep.table()


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3)
        self.b = nn.Conv2d(1, 4, 5)

    def forward(self, x):
        return self.a(x)[..., 1:-1, 1:-1] + self.b(x)


def test_a_branch_reads_an_earlier_tensor():
    rep = receptive_field(TwoBranches(), torch.randn(1, 1, 9, 9))
    assert rep.row("a").rf == (3, 3)
    # b reads the model input, not a's output: its own 5×5 field
    assert rep.row("b").rf == (5, 5) and rep.row("b").start == (2.0, 2.0)


class Block(nn.Module):
    """A ResNet basic block with a strided 1×1 downsample on the skip path (1-D)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.c1 = nn.Conv1d(c_in, c_out, 3, stride=2, padding=1, bias=False)
        self.c2 = nn.Conv1d(c_out, c_out, 3, padding=1, bias=False)
        self.down = nn.Conv1d(c_in, c_out, 1, stride=2, bias=False)

    def forward(self, x):
        return self.c2(self.c1(x)) + self.down(x)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(1, 2, 3, padding=1, bias=False)
        self.block = Block(2, 2)
        self.head = nn.Conv1d(2, 1, 3, padding=1, bias=False)

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


def test_residual_block_hand_computed_and_gradient_footprint():
    # stem k3 p1: RF 3; c1 k3 s2 p1: 3 + 2·1 = 5, jump 2; c2 k3 p1: 5 + 2·2 = 9;
    # down 1×1 s2 on the block input: 3, jump 2; the sum sees max(9, 3) = 9; head k3: 9 + 2·2 = 13
    m = TinyResNet().double()
    for p in m.parameters():
        nn.init.ones_(p)
    length = 64
    rep = receptive_field(m, torch.zeros(1, 1, length, dtype=torch.float64))
    by = {r.path: r for r in rep.rows}
    assert [by[p].rf[0] for p in ("stem", "block.c1", "block.c2", "block.down", "head")] == [3, 5, 9, 3, 13]
    assert by["block.down"].jump == (2,)
    assert "union of their fields" in by["head"].note  # it reads the residual sum
    lo, hi = _footprint(m, length, 16)
    assert hi - lo + 1 == 13 and (lo + hi) / 2 == by["head"].start[0] + 16 * by["head"].jump[0]


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3)

    def forward(self, x):
        return self.conv(self.conv(x))


def test_a_reused_module_is_one_step_per_call():
    # each call is a step of the chain: 3, then 3 + 2 = 5
    rep = receptive_field(Twice(), torch.randn(1, 1, 20))
    assert [(r.path, r.rf) for r in rep.rows] == [("conv", (3,)), ("conv (call 2)", (5,))]
    # the profile made here is returned, its row annotated with both calls' values
    assert rep.report.row("conv").extra["RF"] == "3 / 5" and rep.report.row("conv").extra["jump"] == "1"
    assert "3 / 5" in rep.report.table(columns=["module", "RF"])


def test_a_report_with_inputs_is_refused_not_silently_walked_by_shapes():
    report = torchcount.profile(Twice(), torch.randn(1, 1, 20))
    with pytest.raises(TypeError, match="apply to a model only"):
        receptive_field(report, torch.randn(1, 1, 20))
    assert receptive_field(report).report is report


def test_annotates_report_columns_and_accepts_reports():
    m = nn.Sequential(nn.Conv1d(1, 1, 4), nn.Conv1d(1, 1, 4, stride=2), nn.Conv1d(1, 1, 4, stride=2))
    report = torchcount.profile(m, torch.randn(1, 1, 50))
    rep = receptive_field(report)
    assert rep.row("2").rf == (13,)
    assert rep.method == "shapes" and "from the report's shapes alone" in rep.table()
    assert report.row("2").extra["RF"] == "13"
    assert "13" in report.table(columns=["module", "RF", "jump", "start"])


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no convolution or pooling"):
        receptive_field(nn.Sequential(nn.Linear(3, 3)), torch.randn(1, 3))
    with pytest.raises(TypeError, match="Report or an nn.Module"):
        receptive_field("model")


class Reshaper(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv1d(1, 2, 3), nn.Conv1d(1, 1, 3)

    def forward(self, x):
        return self.c2(self.c1(x).reshape(1, 1, -1))


def test_input_from_an_unseen_tensor_stops_the_walk():
    rep = receptive_field(Reshaper(), torch.randn(1, 1, 20))
    assert rep.row("c1").rf == (3,)
    assert rep.row("c2").rf is None and "view changes the spatial layout (18 → 36)" in rep.row("c2").note


class _SubMaxPool2d(nn.MaxPool2d):
    pass


class Pool1d(nn.AvgPool2d):  # a misleading digit in the name: the dims come from the base class
    pass


def test_pool_subclass_keeping_forward_is_a_window_of_its_base_dims():
    # conv3: RF 3; pool 2/2: RF 3 + 1·1 = 4, jump 2; conv3: RF 4 + 2·2 = 8 (as with nn.MaxPool2d)
    for pool in (_SubMaxPool2d(2), Pool1d(2)):
        rep = rf_of(nn.Sequential(nn.Conv2d(1, 1, 3), pool, nn.Conv2d(1, 1, 3)), torch.randn(1, 1, 16, 16))
        assert [r.kind for r in rep.rows] == ["window"] * 3
        assert [r.rf for r in rep.rows] == [(3, 3), (4, 4), (8, 8)]
        assert [r.jump for r in rep.rows] == [(1, 1), (2, 2), (2, 2)]


def test_adaptive_pool_first():
    # 8×8 adaptively pooled to 4×4 is a 2×2 window with stride 2 (it raised: no kernel_size),
    # then a 3×3 conv: RF 2 + (3 − 1)·2 = 6, jump 2
    report = torchcount.receptive_field(nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(1, 1, 3)),
                                        torch.randn(1, 1, 8, 8))
    assert report.dims == 2
    assert [(r.rf, r.jump) for r in report.rows] == [((2, 2), (2, 2)), ((6, 6), (2, 2))]


@needs("nn.LPPool3d")


def test_lp_pool_3d_window():
    # LPPool3d(2, 2) after a 3×3×3 conv: RF 3 + (2 − 1)·1 = 4, jump 2 (it had no window rule)
    report = torchcount.receptive_field(nn.Sequential(nn.Conv3d(1, 1, 3), nn.LPPool3d(2, 2)),
                                        torch.randn(1, 1, 8, 8, 8))
    assert [(r.rf, r.jump) for r in report.rows] == [((3,) * 3, (1,) * 3), ((4,) * 3, (2,) * 3)]


# ---- the data flow (an audit of 2026-12-02: branches, merges, functional calls, reuse) ----------
def _ones(m):
    m = m.double()
    for p in m.parameters():
        nn.init.ones_(p)
    return m


class SumOfBranches(nn.Module):
    """c(a(x) + b(x)): a 5-wide and a 3-wide branch on the same input, merged, then a 3-wide conv."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(1, 1, 5, padding=2, bias=False)
        self.b = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.c = nn.Conv1d(1, 1, 3, bias=False)

    def forward(self, x):
        return self.c(self.a(x) + self.b(x))


class InceptionLike(nn.Module):
    """stem 3 (no padding), branches 1/3/5/7 with 'same' padding concatenated, then a 3-wide conv."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(1, 2, 3, bias=False)
        self.branches = nn.ModuleList(nn.Conv1d(2, 1, k, padding=k // 2, bias=False) for k in (1, 3, 5, 7))
        self.head = nn.Conv1d(4, 1, 3, bias=False)

    def forward(self, x):
        x = self.stem(x)
        return self.head(torch.cat([b(x) for b in self.branches], 1))


@pytest.mark.parametrize("model, expected", [
    # the merge sees the wider branch: 5, then + 2 = 7 (the shapes-only walk gave 9: it chained b after a)
    (SumOfBranches, 7),
    # stem 3; the 7-wide branch: 3 + 6 = 9; head: 9 + 2 = 11 (the shapes-only walk gave 5)
    (InceptionLike, 11),
])


def test_merged_branches_take_the_union_of_their_fields(model, expected):
    m = _ones(model())
    length = 40
    rep = receptive_field(m, torch.zeros(1, 1, length, dtype=torch.float64))
    last = rep.rows[-1]
    assert last.rf == (expected,)
    lo, hi = _footprint(m, length, 10)
    assert hi - lo + 1 == expected and (lo + hi) / 2 == last.start[0] + 10 * last.jump[0]


class TutorialNet(nn.Module):
    """The PyTorch CIFAR-10 tutorial's network: one pooling module called twice, a functional flatten."""

    def __init__(self):
        super().__init__()
        self.conv1, self.pool, self.conv2 = nn.Conv2d(3, 6, 5), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def test_the_cifar_tutorial_net():
    # conv1 5; pool 5 + 1 = 6, jump 2; conv2 6 + 4·2 = 14; pool again 14 + 1·2 = 16, jump 4; after
    # torch.flatten every unit sees the whole 32×32 input (the walk had stopped at the reused pool)
    rep = receptive_field(TutorialNet(), torch.randn(1, 3, 32, 32))
    assert [(r.path, r.rf, r.jump) for r in rep.rows[:4]] == [
        ("conv1", (5, 5), (1, 1)), ("pool", (6, 6), (2, 2)), ("conv2", (14, 14), (2, 2)),
        ("pool (call 2)", (16, 16), (4, 4))]
    assert [(r.path, r.kind, r.rf) for r in rep.rows[4:]] == [("fc1", "global", (32, 32)), ("fc2", "global", (32, 32))]


def test_alexnet_head_after_a_functional_flatten_sees_the_whole_input():
    tv = pytest.importorskip("torchvision")
    with torch.device("meta"):
        m = tv.models.alexnet().eval()
    rep = receptive_field(m, torch.zeros(1, 3, 227, 227, device="meta"))
    assert rep.row("features.10").rf == (163, 163)  # conv5, the published 163
    assert rep.row("classifier.1").kind == "global" and rep.row("classifier.1").rf == (227, 227)


def test_adaptive_pooling_that_keeps_one_size():
    # conv 3×3 on 10×10 → 8×8; AdaptiveMaxPool2d((None, 2)): H kept (window 1), W windows of 4
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveMaxPool2d((None, 2)), nn.Conv2d(2, 2, 1))
    rep = receptive_field(m, torch.randn(1, 1, 10, 10))
    assert (rep.row("1").rf, rep.row("1").jump) == ((3, 6), (1, 4))


class Resized(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.b(nn.functional.interpolate(self.a(x), scale_factor=2))


class Gated(nn.Module):
    """A squeeze-and-excitation gate: every output element depends on the mean over all positions."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4, 4)

    def forward(self, x):
        x = self.conv(x)
        return x * torch.sigmoid(self.fc(x.mean((2, 3))))[:, :, None, None]


class Padded(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return self.conv(nn.functional.pad(x, (2, 2, 2, 2)))


class Functional(nn.Module):
    """Windows from functional calls only (no conv or pool module)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, 1, 3, 3))

    def forward(self, x):
        return nn.functional.max_pool2d(nn.functional.conv2d(x, self.w, dilation=2), 2)


def test_what_happens_between_layers():
    # nearest upsampling ×2 between two convs (a: field 3, jump 2, start 0): b's output x reads the upsampled
    # x − 1 … x + 1, which are a's ⌊(x − 1)/2⌋ … ⌊(x + 1)/2⌋, two of a's positions at every x: 3 + 2 = 5; one input
    # position per output on average (jump 2 / 2); b's x = 0 reads a's −1 and 0, input −3 … 1, centre −1
    resized = receptive_field(Resized(), torch.randn(1, 1, 8, 8))
    b = resized.row("b")
    assert (b.rf, b.jump, b.start, b.note) == ((5, 5), (1, 1), (-1.0, -1.0), "")
    # a gate computed from a mean over all positions: the product sees the whole input
    gated = receptive_field(nn.Sequential(Gated(), nn.Conv2d(4, 1, 3)), torch.randn(1, 1, 8, 8))
    assert gated.row("1").kind == "global"
    # F.pad by 2 on the left: conv 3 no padding starts at -2 + 1 = -1, its field still 3
    padded = receptive_field(Padded(), torch.randn(1, 1, 8, 8))
    assert padded.row("conv").rf == (3, 3) and padded.row("conv").start == (-1.0, -1.0)
    # conv 3 dilated 2: 5; max pool 2: 5 + 1 = 6, jump 2; the module's own ops give its row
    functional = receptive_field(Functional(), torch.randn(1, 1, 20, 20))
    assert (functional.rows[0].rf, functional.rows[0].jump, functional.rows[0].kind) == ((6, 6), (2, 2), "ops")


def test_padding_modules_shift_the_start():
    # (left, right, top, bottom) = (1, 2, 3, 4): the first output sits 3 rows up and 1 column left of
    # the input's first element; a 3×3 conv after it: field 3, start −3 + 1 = −2 and −1 + 1 = 0
    rep = receptive_field(nn.Sequential(nn.ReplicationPad2d((1, 2, 3, 4)), nn.Conv2d(1, 1, 3)),
                          torch.randn(1, 1, 8, 8))
    assert [(r.rf, r.start) for r in rep.rows] == [((1, 1), (-3.0, -1.0)), ((3, 3), (-2.0, 0.0))]


class _SlicedByAten(nn.Module):
    """Slices called as aten ops with their optional arguments left out, as the dispatcher passes them on."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        s = torch.ops.aten.slice.Tensor
        y = s(x[:, 1:])  # the second channel (indexing passes every argument); then the whole batch (the tensor alone)
        y = s(y[..., -10:], 3, 1)  # W: its last 10 of 12 (from 2), then from 1 of those (no end)
        y = s(y, 2, None, 8)  # H from the start (None) to 8
        y = s(y, 3)  # the whole of W (dim alone)
        y = s(y, 2, None, None, 2)  # every second row from the start
        return self.conv(y)


def test_a_slice_without_its_optional_arguments_starts_at_0_with_step_1():
    """torch.ops.aten.slice.Tensor(x, dim[, start=None[, end=None[, step=1]]]) as the dispatcher passes it on, the
    defaults left out (indexing and narrow pass every argument: x[..., 2:] is slice(x, 3, 2, 2⁶³ − 1)). A slice of
    the channels keeps the positions. On a 10×12 input: W's last 10 (from −10 + 12 = 2), then from 1 (x ↦ x + 3);
    H from 0 to 8, then every second row (x ↦ 2x); the 3×3 conv then reads W x + 3 … x + 5 (RF 3, jump 1, start 4)
    and H 2x … 2x + 4 (RF 5, jump 2, start 2): output (0, 0) sees rows 0 … 4 and columns 3 … 5, output (1, 2)
    rows 2 … 6, columns 5 … 7. (A missing start read as 1, a missing dim or start read past the arguments, a
    negative start taken from the end less the size, and a slice of the channels returning nothing survived
    receptive_field.py mutants.)"""
    row = rf_of(_SlicedByAten(), torch.rand(1, 2, 10, 12)).row("conv")
    assert (row.rf, row.jump, row.start) == ((5, 3), (2, 1), (2.0, 4.0))
    assert row.box((0, 0)) == ((0, 4), (3, 5)) and row.box((1, 2)) == ((2, 6), (5, 7))


class _PaddedSome(nn.Module):
    def __init__(self, channels_last: bool):
        super().__init__()
        self.channels_last = channels_last
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, x):
        if not self.channels_last:
            return self.conv(nn.functional.pad(x, (2, 1)))  # W alone: 2 left, 1 right
        y = nn.functional.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 0, 2, 0))  # C by 0, W by 1, H by 2 (on the left)
        return self.conv(y.permute(0, 3, 1, 2))


def test_f_pad_of_some_axes_or_of_moved_axes_shifts_those_alone():
    """F.pad's pairs run from the last axis backwards. (2, 1) on an N×C×H×W map pads W alone: the 3×3 conv's first
    output reads columns −2 … 0 (start −2 + 1 = −1) and rows 0 … 2 (start 1, H unpadded). On the channels-last
    N×H×W×C view, (0, 0, 1, 0, 2, 0) pads C by nothing, W by 1 and H by 2 on the left: rows −2 … 0 (start −1),
    columns −1 … 1 (start 0). RF 3 and jump 1 throughout. (An unpadded spatial axis given a left pad of 1, and
    twice as many pairs read, survived receptive_field.py mutants.)"""
    for channels_last, start in ((False, (1.0, -1.0)), (True, (-1.0, 0.0))):
        row = rf_of(_PaddedSome(channels_last), torch.rand(1, 1, 8, 8)).row("conv")
        assert (row.rf, row.jump, row.start) == ((3, 3), (1, 1), start)
        assert row.box((0, 0)) == tuple((int(c) - 1, int(c) + 1) for c in start)


class _PadAfterBicubic(nn.Module):
    def __init__(self):
        super().__init__()
        self.up, self.conv = nn.Upsample(scale_factor=3, mode="bicubic"), nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.conv(nn.functional.pad(self.up(x), (1, 0, 1, 0)))


def test_f_pad_after_a_field_that_goes_back_shifts_it_position_by_position():
    """Bicubic ×3 (align_corners=False): output x reads source (x + ½)/3 − ½, so 3i reads i − 2 … i + 1, 3i + 1
    (source i, a whole number) reads i alone, 3i + 2 reads i − 1 … i + 2 (the field goes back: 3i + 1 starts after
    3i + 2). F.pad by 1 on the left (top and left) makes x the upsampled x − 1, and the 1×1 conv after it sees,
    at x = 0, 1, 2, 3: −2 … 1, −2 … 1, 0 … 0, −1 … 2: RF 4, jump 1/3, start −0.5. (The pad's 1×1 window given
    dilation 0, which reads nothing where the field goes back, survived a receptive_field.py mutant.)"""
    row = rf_of(_PadAfterBicubic().double(), torch.rand(1, 1, 6, 6, dtype=torch.float64)).row("conv")
    assert (row.rf, row.jump, row.start) == ((4, 4), (Fraction(1, 3),) * 2, (-0.5, -0.5))
    assert [row.box((x, 0)) for x in range(4)] == [((-2, 1), (-2, 1)), ((-2, 1), (-2, 1)), ((0, 0), (-2, 1)),
                                                    ((-1, 2), (-2, 1))]


class WritesThroughAView(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Conv1d(1, 1, 1), nn.Conv1d(1, 1, 9), nn.Conv1d(1, 1, 1)

    def forward(self, x):
        y = self.a(x)
        y[..., 4:-4] += self.b(x)  # the 9-wide field lands in y through a view
        return self.c(y)


class SamePaddingInForward(nn.Conv2d):
    """timm's Conv2dSame: padding=0 as an attribute, TF 'SAME' padding applied in its forward."""

    def __init__(self):
        super().__init__(1, 1, 5, padding=0)

    def forward(self, x):
        return nn.functional.conv2d(nn.functional.pad(x, (2, 2, 2, 2)), self.weight, self.bias)


def test_what_the_fuzzer_found():
    # a write through a view: c's field was reported as 1 (the base kept its old state); not followed now
    rep = receptive_field(WritesThroughAView(), torch.randn(1, 1, 40))
    assert rep.row("c").rf is None and "written in place through a view" in rep.row("c").note
    # a conv subclass that pads in its own forward: its attributes said start 2, the data flow says 0
    rep = receptive_field(nn.Sequential(SamePaddingInForward()), torch.randn(1, 1, 12, 12))
    assert (rep.row("0").rf, rep.row("0").start) == ((5, 5), (0.0, 0.0))


def test_the_spatial_input_need_not_be_the_first():
    # forward(cond, x): a 1×3 condition first, the 1-D signal second. Conv k3 s2 then conv k3:
    # RF 3, jump 2, start 1; then 3 + 2·2 = 7, jump 2, start 1 + 1·2 = 3
    class Conditioned(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.c, self.d = nn.Linear(3, 2), nn.Conv1d(2, 2, 3, stride=2), nn.Conv1d(2, 2, 3)

        def forward(self, cond, x):
            return self.d(self.c(x)) + self.emb(cond)[..., None]

    rf = torchcount.receptive_field(Conditioned(), (torch.randn(1, 3), torch.randn(1, 2, 20)))
    assert rf.row("c").rf == (3,) and rf.row("c").jump == (2,) and rf.row("c").start == (1.0,)
    assert rf.row("d").rf == (7,) and rf.row("d").jump == (2,) and rf.row("d").start == (3.0,)  # were None


def test_a_layer_on_a_tensor_without_positions_says_so():
    # a diffusion U-Net's time embedding: Linear layers on a B×16 tensor made from the timestep, not from the
    # image, whose result is added to every position. Their rows said "linear layer on a spatial tensor"
    class TimeConditioned(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_embedding, self.conv = nn.Sequential(nn.Linear(16, 4), nn.SiLU(), nn.Linear(4, 4)), \
                nn.Conv2d(1, 4, 3)

        def forward(self, x):
            temb = self.time_embedding(torch.full((x.shape[0], 16), 0.5))
            return self.conv(x) + temb[:, :, None, None]

    rf = torchcount.receptive_field(TimeConditioned(), torch.randn(1, 1, 8, 8))
    for path in ("time_embedding.0", "time_embedding.1", "time_embedding.2"):
        assert (rf.row(path).rf, rf.row(path).note) == (None, "its input does not come from the model's input")
    assert rf.row("conv").rf == (3, 3)
    # the sum with the embedding (no field: not from the image) keeps the conv's 3×3, so the output has no row of
    # its own (the embedding, taken for a tensor with a field, made it "whole input")
    assert [r.path for r in rf.rows][-1] == "conv"


def test_a_model_without_windows_on_a_3d_input_is_refused_as_on_a_2d_one():
    # an LSTM on B×T×F ran no convolution or pooling: its last dimension is features, not positions.
    # On a 2-D input this was already a ValueError; on a 3-D one it gave a table of "—"
    for model, x in ((nn.LSTM(8, 16, batch_first=True), torch.randn(1, 5, 8)),
                     (nn.Sequential(nn.Linear(8, 8), nn.ReLU()), torch.randn(1, 5, 8)),
                     (nn.Linear(8, 8), torch.randn(5, 8))):
        with pytest.raises(ValueError, match="no convolution or pooling"):
            torchcount.receptive_field(model, x)

    class Functional(nn.Module):  # a functional window is still followed: conv 3 then pool 2
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(2, 1, 3, 3))

        def forward(self, x):
            return torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(x, self.w)), 2)

    rf = torchcount.receptive_field(Functional(), torch.randn(1, 1, 10, 10))
    assert (rf.rows[-1].rf, rf.rows[-1].jump, rf.rows[-1].start) == ((4, 4), (2, 2), (1.5, 1.5))


def test_the_input_size_is_the_spatial_inputs_when_another_layer_runs_first():
    # the 1×3 condition is embedded before the 1×2×20 signal is convolved; the header and the
    # global pool's "whole input" are the signal's 20 positions (were 3, the condition's features)
    class Conditioned(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.c, self.pool = nn.Linear(3, 2), nn.Conv1d(2, 2, 3, stride=2), nn.AdaptiveAvgPool1d(1)

        def forward(self, cond, x):
            e = self.emb(cond)[..., None]
            return self.pool(self.c(x) + e)

    rf = torchcount.receptive_field(Conditioned(), (torch.randn(1, 3), torch.randn(1, 2, 20)))
    assert rf.input_size == (20,)
    assert rf.row("c").rf == (3,) and rf.row("pool").kind == "global" and rf.row("pool").rf == (20,)
    assert "(1-D, input 20)" in rf.table()


def _footprint_2d(model, x, index):
    """(rows, cols) spanned by the input positions whose gradient for output[index] is nonzero."""
    x = x.clone().requires_grad_(True)
    model(x)[index].backward()
    nz = (x.grad[0].abs().sum(0) != 0).nonzero()
    return tuple(int(nz[:, d].max() - nz[:, d].min()) + 1 for d in range(2))


class _SpatialAttention(nn.Module):
    """CBAM's spatial attention: a 7×7 conv over the mean and the max across channels gates a 3×3 conv."""

    def __init__(self):
        super().__init__()
        self.c1, self.sa, self.c2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(2, 1, 7, padding=3), \
            nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.c1(x)
        pooled = torch.cat([x.mean(1, keepdim=True), torch.max(x, dim=1, keepdim=True)[0]], 1)
        x = torch.softmax(x, dim=1) * torch.sigmoid(self.sa(pooled))
        return self.c2(x)


def test_reductions_and_softmax_over_channels_are_per_position():
    # the mean, max and softmax across channels keep each position: sa 3 + 6 = 9; c2 9 + 2 = 11 (was "—":
    # "mean changes the spatial layout (16×16 → 16×16)")
    torch.manual_seed(0)
    m = _SpatialAttention().double()
    x = torch.randn(1, 4, 24, 24, dtype=torch.float64)
    rep = rf_of(m, x)
    assert (rep.row("sa").rf, rep.row("c2").rf) == ((9, 9), (11, 11))
    assert _footprint_2d(m, x, (0, 0, 12, 12)) == (11, 11)  # an interior output: the field, unclipped


@pytest.mark.parametrize("lower", ["sum over channels", "squeeze the batch"])


def test_a_rank_drop_across_channels_or_batch_is_followed(lower):
    # x.sum(1) is B×H×W, x.squeeze(0) C×H×W, each position its own: c2's field is 3 + 2 = 5, not the
    # whole 16×16 input (a rank drop was once taken for a flatten, then said and not followed); the
    # positions move up an axis, and c2 (unbatched in the second case) slides over them
    class ChannelGate(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            x = self.c1(x)
            if lower == "sum over channels":
                return self.c2(x * x.sum(1).unsqueeze(1))
            return self.c2(x.squeeze(0)).unsqueeze(0)

    torch.manual_seed(0)
    m = ChannelGate().double()
    x = torch.randn(1, 4, 16, 16, dtype=torch.float64)
    assert _footprint_2d(m, x, (0, 0, 8, 8)) == (5, 5)
    row = rf_of(m, x).row("c2")
    assert "whole input" not in rf_of(m, x).table()
    assert row.rf == (5, 5) and row.kind == "window" and row.jump == (1, 1)


def test_a_split_or_glu_across_channels_is_per_position():
    # a gated conv (WaveNet, ConvS2S): c1 3, then c2 3 + 4 = 7, by a chunk and by F.glu over channels
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv1d(4, 8, 3), nn.Conv1d(4, 4, 5)

        def forward(self, x):
            a, b = self.c1(x).chunk(2, dim=1)
            return self.c2(a * torch.sigmoid(b)) + self.c2(nn.functional.glu(self.c1(x), dim=1))

    rep = rf_of(Gated(), torch.randn(1, 4, 32))
    assert [(r.path, r.rf) for r in rep.rows] == [("c1", (3,)), ("c2", (7,)), ("c1 (call 2)", (3,)),
                                                 ("c2 (call 2)", (7,))]


class _SplitByDefault(nn.Module):
    """Conv 3, an op along a dim given none (its default: the batch, or the channels of a channels-last map),
    conv 3."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(2 if how == "glu" else 4, 1, 3)

    def forward(self, x):
        y = self.c1(x)
        if self.how == "chunk":
            a, b = y.chunk(2)  # (the two halves of the batch)
            y = a + b
        elif self.how == "split":
            y = torch.cat(y.split(1))
        elif self.how == "unbind":
            y = torch.stack(y.unbind())
        else:
            y = nn.functional.glu(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (along the last axis: the channels)
        return self.c2(y)


@pytest.mark.parametrize("how", ["chunk", "split", "unbind", "glu"])
def test_an_op_given_no_dim_acts_along_its_default_one(how):
    """x.chunk(2), x.split(1) and x.unbind() run as aten split and unbind with their dim left out: 0, the batch;
    F.glu of a channels-last N×H×W×C map leaves out −1, the channels. Each keeps every position: c1 3, c2 3 + 2 =
    5, jump 1, start 2, as the gradient of an interior output of c2 shows (5×5). They were said to act 'along a
    spatial dimension: not a window' (a dim left out was taken for every dimension, as it is for var() and
    amax())."""
    torch.manual_seed(0)
    m = _SplitByDefault(how).double()
    x = torch.randn(2, 1, 10, 10, dtype=torch.float64)
    row = rf_of(m, x).row("c2")
    assert (row.rf, row.jump, row.start) == ((5, 5), (1, 1), (2.0, 2.0)), row.note
    assert _footprint_2d(m, x, (0, 0, 3, 3)) == (5, 5)


_WINDOW_OPS = {  # a 3×3, stride-1, shape-keeping window run in a forward: each op its own rule's terms
    "max_pool2d": lambda x, w: nn.functional.max_pool2d(x, 3, 1, 1),
    "avg_pool2d": lambda x, w: nn.functional.avg_pool2d(x, 3, 1, 1),
    "conv2d": lambda x, w: nn.functional.conv2d(x, w, padding=1),
}


@pytest.mark.parametrize("op", list(_WINDOW_OPS))


def test_a_report_alone_says_when_a_forward_runs_a_pooling_op_between_its_layers(op):
    # c1 3×3, F.max_pool2d(3, 1, 1) (the shape kept), c2 3×3: 3, 3 + 2 = 5, 5 + 2 = 7. The report has the
    # pool's cost in the root's own work but not where it ran: its 5×5 for c2 is said to be a lower bound.
    # (the window is told by its rule's formula text: each kind of window op pins it)
    class PoolInForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
            self.w = nn.Parameter(torch.randn(4, 4, 3, 3))

        def forward(self, x):
            return self.c2(_WINDOW_OPS[op](self.c1(x), self.w))

    m, x = PoolInForward(), torch.randn(1, 4, 16, 16)
    assert rf_of(m, x).row("c2").rf == (7, 7)
    row = receptive_field(torchcount.profile(m, x)).row("c2")
    assert row.rf == (5, 5) and row.note.startswith("at least: '(root)' runs a convolution or pooling op")


# ---- spatial axes that move: permutes, channel shuffles, channels-last blocks, rank changes -------------
def test_convnext_tiny_by_the_recurrence():
    # stem 4×4/4, then per stage: a 2×2/2 downsample (none in the first) and 7×7 depthwise convs, each
    # inside a channels-last detour (permute, LayerNorm, Linear, GELU, Linear, permute back): every dwconv
    # adds 6·jump. Stage ends: 4 + 3·6·4 = 76; 76 + 4 + 3·6·8 = 224; 224 + 8 + 9·6·16 = 1096;
    # 1096 + 16 + 3·6·32 = 1688 (was "—" after the first permute)
    import torchvision

    rep = rf_of(torchvision.models.convnext_tiny().eval(), torch.randn(1, 3, 64, 64))
    ends = {"features.1.2.block.0": (76, 4), "features.3.2.block.0": (224, 8),
            "features.5.8.block.0": (1096, 16), "features.7.2.block.0": (1688, 32)}
    for path, (rf, jump) in ends.items():
        assert (rep.row(path).rf, rep.row(path).jump) == ((rf, rf), (jump, jump)), path
    # the channels-last layers keep the depthwise conv's field: per position
    for path in ("features.7.2.block.1", "features.7.2.block.2", "features.7.2.block.3", "features.7.2.block.6"):
        assert rep.row(path).rf == (1688, 1688), path
    assert rep.row("classifier.2").kind == "global"
    # the global pooling says why it is global (it said how its input was merged: "add_ of 2 tensors")
    assert rep.row("avgpool").note == "global pooling: every output sees the whole input"


def test_shufflenet_v2_by_the_recurrence():
    # conv1 3×3/2: 3, maxpool 3×3/2: 7 (jump 4); each stage's first unit has a 3×3/2 depthwise conv
    # (+2·jump), the others 3×3/1 (+2·jump): stage 2 15 + 3·16 = 63, stage 3 63 + 16 + 7·32 = 303,
    # stage 4 303 + 32 + 3·64 = 527. A channel shuffle (a rank-5 view, a transpose, a view back) between
    # units keeps every position (was "—" from the first shuffle on)
    import torchvision

    rep = rf_of(torchvision.models.shufflenet_v2_x0_5().eval(), torch.randn(1, 3, 64, 64))
    assert rep.row("maxpool").rf == (7, 7) and rep.row("maxpool").jump == (4, 4)
    assert rep.row("stage2.3.branch2.3").rf == (63, 63)
    assert rep.row("stage3.7.branch2.3").rf == (303, 303)
    assert (rep.row("conv5.0").rf, rep.row("conv5.0").jump) == ((527, 527), (32, 32))
    assert sum(r.rf is None for r in rep.rows) == 0


class _ChannelsLastBlock(nn.Module):
    """A ConvNeXt block written out: a 5×5 depthwise conv, then LayerNorm, Linear, GELU, Linear over the
    channels of a channels-last tensor, a layer scale and a residual sum; a 3×3 conv after it."""

    def __init__(self, c=4):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 5, padding=2, groups=c)
        self.norm, self.up, self.act, self.down = nn.LayerNorm(c), nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))
        self.head = nn.Conv2d(c, c, 3)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.down(self.act(self.up(self.norm(y)))) * self.gamma
        return self.head(x + y.permute(0, 3, 1, 2))


def test_a_channels_last_block_against_the_gradient_footprint():
    torch.manual_seed(0)
    m = _ChannelsLastBlock().double()
    x = torch.randn(1, 4, 24, 24, dtype=torch.float64)
    rep = rf_of(m, x)
    # dw 5, then per position through the channels-last layers; head 5 + 2 = 7
    for path in ("dw", "norm", "up", "act", "down"):
        assert rep.row(path).rf == (5, 5) and rep.row(path).jump == (1, 1), path
    assert rep.row("up").kind == "pointwise"  # (a Linear along the channels, the last axis)
    # a GELU keeps its per-position rule on the permuted tensor (only channel-axis rules, a BatchNorm's, a
    # softmax over dim 1, are followed through their ops there)
    assert rep.row("act").kind == "pointwise"
    assert rep.row("head").rf == (7, 7) and _footprint_2d(m, x, (0, 0, 10, 10)) == (7, 7)


def test_a_layer_norm_is_per_position():
    # LayerNorm over C×H×W (its statistics ignored, as for BatchNorm): 3, 3, then 3 + 2 = 5 (was "—":
    # "native_layer_norm changes the spatial layout (8×8 → 8×8)")
    m = nn.Sequential(nn.Conv2d(2, 4, 3), nn.LayerNorm([4, 8, 8]), nn.Conv2d(4, 4, 3))
    assert rf_of(m, torch.randn(1, 2, 10, 10)).rf == [(3, 3), (3, 3), (5, 5)]


class _Reshaped(nn.Module):
    """Conv 3, a reshape of its 1×C×6×4 output, conv 3."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        channels = 2 if how == "view as channels-last" else 1
        self.c1, self.c2 = nn.Conv2d(1, channels, 3), nn.Conv2d(channels, 1, 3)

    def forward(self, x):
        y = self.c1(x)
        if self.how == "squeeze and back":
            return self.c2(y.squeeze()[None, None])  # 6×4: H and W at axes 0 and 1, then back at 2 and 3
        # a view where a permute was meant: 1×2×6×4 read as 1×6×4×2 keeps the sizes H = 6 and W = 4 in order but
        # not the positions (element (h, w) of channel 0 lands at h·4 + w of the flat 24 per channel, read as row
        # ⌊(h·4 + w)/8⌋, column ⌊((h·4 + w) mod 8)/2⌋): not followed
        return self.c2(y.view(1, 6, 4, 2).permute(0, 3, 1, 2))


def test_a_reshape_keeps_an_axis_where_its_size_and_the_sizes_after_it_match():
    """Conv 3 on 1×1×8×6: 6×4, RF 3, start 1. Squeezed to 6×4 (H and W now axes 0 and 1: each keeps its size and
    the product of the sizes after it, 4 and 1) and unsqueezed back: still followed, conv 3 after it RF 5, jump 1,
    start 2. A view of 1×2×6×4 as 1×6×4×2 gives axes 1 and 2 the sizes 6 and 4, but the products after them are 8
    and 2 (were 4 and 1): the elements moved, and the next conv's row is not a number (said). (Searching from
    axis 1, missing H at axis 0, and matching the sizes alone survived receptive_field.py mutants.)"""
    x = torch.rand(1, 1, 8, 6)
    row = rf_of(_Reshaped("squeeze and back"), x).row("c2")
    assert (row.rf, row.jump, row.start) == ((5, 5), (1, 1), (2.0, 2.0))
    row = rf_of(_Reshaped("view as channels-last"), x).row("c2")
    assert row.rf is None and "changes the spatial layout (6×4 → 4×2)" in row.note, row.note


class _ChannelsLastLinear1d(nn.Module):
    """An unbatched C×L sequence: conv 3, .t() to L×C for a Linear over the channels, .t() back, conv 3."""

    def __init__(self):
        super().__init__()
        self.c1, self.lin, self.c2 = nn.Conv1d(2, 4, 3), nn.Linear(4, 4), nn.Conv1d(4, 1, 3)

    def forward(self, x):
        return self.c2(self.lin(self.c1(x).t()).t())


def test_t_of_an_unbatched_sequence_moves_its_length_axis():
    """On an unbatched 2×10 input (C×L), conv 3: 8 positions, RF 3, start 1. x.t() (aten.t, a rank-2 transpose)
    moves L to axis 0, where the Linear acts along the channels (the last axis): per position, RF 3; .t() puts L
    back at axis 1 and conv 3 after it sees 3 + 2 = 5, jump 1, start 2. (t of a rank-2 tensor keeping its axes,
    which made the rows after it unknown, survived receptive_field.py mutants.)"""
    rep = rf_of(_ChannelsLastLinear1d(), torch.rand(2, 10))
    assert [(r.path, r.rf, r.jump, r.start) for r in rep.rows] == [
        ("c1", (3,), (1,), (1.0,)), ("lin", (3,), (1,), (1.0,)), ("c2", (5,), (1,), (2.0,))]


class _Expanded(nn.Module):
    """Conv 3 to one channel, expanded, conv 3."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.c1, self.c2 = nn.Conv2d(1, 1, 3), nn.Conv2d(3, 1, 3) if how != "a 1×1 map to 6×6" else nn.Conv2d(1, 1, 3)

    def forward(self, x):
        y = self.c1(x)
        if self.how == "to 3 channels":  # (grayscale to RGB)
            y = y.expand(-1, 3, -1, -1)
        elif self.how == "to 3 channels, channels-last":
            y = y.permute(0, 2, 3, 1).expand(1, 6, 6, 3).permute(0, 3, 1, 2)
        else:
            y = y.expand(1, 1, 6, 6)
        return self.c2(y)


def test_expand_keeps_the_positions_unless_a_spatial_axis_grows():
    """Conv 3 on 8×8: 6×6, RF 3. Its single channel expanded to 3 (N×C×H×W, or the channels-last N×H×W×C, where
    the sizes after H and W change from 6·1 to 6·3: the axes still hold their positions): conv 3 after it RF 5,
    jump 1, start 2. Conv 3 on 3×3 is 1×1 (input 0 … 2); expanded to 6×6, every position repeats that one element: not a
    window with a jump, said. (Expand's axes taken as a reshape's, shifted by out.dim() + rank instead of
    out.dim() − rank, and a spatial axis allowed to grow, survived receptive_field.py mutants.)"""
    for how in ("to 3 channels", "to 3 channels, channels-last"):
        row = rf_of(_Expanded(how), torch.rand(1, 1, 8, 8)).row("c2")
        assert (row.rf, row.jump, row.start) == ((5, 5), (1, 1), (2.0, 2.0)), how
    row = rf_of(_Expanded("a 1×1 map to 6×6"), torch.rand(1, 1, 3, 3)).row("c2")
    assert row.rf is None and "expand changes the spatial layout (1×1 → 6×6)" in row.note, row.note


class _Reduced(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.c1, self.c2 = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

    def forward(self, x):
        y = self.c1(x)
        if self.how == "the batch's first":
            return self.c2(y[0])  # (an unbatched 1×6×6 map)
        scale = {"var()": y.var, "amax()": y.amax, "sum(dim=[])": lambda: y.sum(dim=[])}[self.how]()
        return self.c2(y * scale)


def test_a_reduction_without_dims_is_global_and_a_select_of_the_batch_keeps_the_positions():
    """y.var() and y.amax() run with their dim left out (aten.var.correction(y), aten.amax.default(y)) and
    y.sum(dim=[]) with an empty one: each reduces over every element, so c2 reading y times it sees the whole
    input. y[0] selects the batch's first map (aten.select(y, 0, 0)): each position stays its own, H and W move
    to axes 1 and 2, and c2 (unbatched) sees 3 + 2 = 5, jump 1, start 2. (A left-out dim read past the
    arguments, an empty dim list taken as no dims, and dim 0 taken for 'every dim' survived receptive_field.py
    mutants.)"""
    x = torch.rand(1, 1, 8, 8)
    for how in ("var()", "amax()", "sum(dim=[])"):
        row = rf_of(_Reduced(how), x).row("c2")
        assert row.kind == "global" and row.rf == (8, 8), (how, row.note)
    row = rf_of(_Reduced("the batch's first"), x).row("c2")
    assert (row.rf, row.jump, row.start) == ((5, 5), (1, 1), (2.0, 2.0))


class _AlongSpace(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.how = how
        conv = nn.Conv1d if how == "cumsum over the length" else nn.Conv2d
        self.c1, self.c2 = conv(1, 1, 3), conv(1, 1, 3)

    def forward(self, x):
        y = self.c1(x)
        if self.how == "cumsum over the length":
            return self.c2(y.cumsum(-1))  # (output t sums 0 … t: a prefix, neither a window nor the whole input)
        return self.c2(y * y.mean(3, keepdim=True))  # (each row's mean: every column of that row, one row)


@pytest.mark.parametrize("how, op", [("cumsum over the length", "cumsum"), ("mean over W", "mean")])
def test_an_op_along_some_positions_only_is_said_not_whole_input(how, op):
    """A cumulative sum over a sequence's length (the only spatial axis: output t sees inputs 0 … t + 2, a prefix)
    and a mean over W alone (each output sees its own rows, every column) see neither a window nor the whole
    input: c2's row is said, not given a number ('whole input' for the reduction over W, and for any op along
    every spatial axis, survived receptive_field.py mutants)."""
    x = torch.rand(1, 1, 12) if op == "cumsum" else torch.rand(1, 1, 8, 8)
    row = rf_of(_AlongSpace(how), x).row("c2")
    assert row.rf is None and row.kind != "global" and f"{op} along a spatial dimension: not a window" in row.note


def test_windows_over_transposed_axes_take_each_axis_its_own_kernel():
    # a 1×3 pooling of the transposed tensor pools 3 rows (H) and 1 column (W): c1 3×3, then 5×3 with
    # jumps 2×1 (H by the pooling's stride 2), then the last conv 5 + 2·2 = 9 rows, 3 + 2 = 5 columns
    class Transposed(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.pool, self.c2 = nn.Conv2d(1, 1, 3), nn.AvgPool2d((1, 3), (1, 2)), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.c2(self.pool(self.c1(x).transpose(2, 3)).transpose(2, 3))

    m = Transposed().double()
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(1.0)
    x = torch.randn(1, 1, 21, 21, dtype=torch.float64)
    rep = rf_of(m, x)
    assert (rep.row("pool").rf, rep.row("pool").jump) == ((5, 3), (2, 1))
    assert rep.row("c2").rf == (9, 5) and _footprint_2d(m, x, (0, 0, 3, 3)) == (9, 5)


def test_functional_one_d_pooling_is_followed():
    # F.max_pool1d runs as unsqueeze, a 2-D pool, squeeze (it was "raises the rank: not followed"):
    # conv 3, pool 3 + 2·1 = 5 with jump 2, conv 5 + 2·2 = 9
    class Pool1d(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv1d(1, 1, 3, bias=False), nn.Conv1d(1, 1, 3, bias=False)

        def forward(self, x):
            return self.c2(nn.functional.max_pool1d(self.c1(x), 3, 2))

    rep = rf_of(Pool1d(), torch.randn(1, 1, 40))
    assert (rep.row("c2").rf, rep.row("c2").jump) == ((9,), (2,))


def test_a_matmul_over_folded_positions_is_said_not_taken_for_the_whole_input():
    # F.linear on a channels-last tensor folds B·H·W into one axis for its matmul: the positions are
    # still apart, so it is not "whole input" (as a flatten before a classifier is); said, not followed
    class FunctionalLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(2, 4, 3), nn.Conv2d(4, 4, 3)
            self.w = nn.Parameter(torch.randn(4, 4))

        def forward(self, x):
            return self.c2(nn.functional.linear(self.c1(x).permute(0, 2, 3, 1), self.w).permute(0, 3, 1, 2))

    rep = rf_of(FunctionalLinear(), torch.randn(1, 2, 12, 12))
    assert rep.row("c1").rf == (3, 3)
    assert rep.row("c2").rf is None and "folds the positions into one axis" in rep.row("c2").note
    assert "whole input" not in rep.table()


def test_a_convolution_over_a_spatial_axis_as_channels_is_not_a_window():
    # after a permute that puts W where the channels were, a Conv1d mixes every column: not a window
    class Sideways(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 1, 3), nn.Conv1d(8, 2, 3)

        def forward(self, x):
            return self.c2(self.c1(x)[:, 0].transpose(1, 2))  # B×W×H: W as channels, H as length

    rep = rf_of(Sideways(), torch.randn(1, 1, 10, 10))
    assert rep.row("c2").rf is None and "as its channels" in rep.row("c2").note


def _footprint_box(model, x, path, index, spatial_dims=2):
    """Per spatial dimension of ``x`` (its last ones), the first and last input position whose gradient for
    element ``index`` of the output of layer ``path`` (its first call) is nonzero."""
    seen = []

    def keep(module, args, out):
        seen.append(out)
        return out.clone()  # (a later in-place op on the output must not change what is differentiated)

    handle = model.get_submodule(path).register_forward_hook(keep)
    try:
        x = x.clone().requires_grad_(True)
        model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(seen[0][index], x)
    nz = (grad.abs().sum(tuple(range(grad.dim() - spatial_dims))) != 0).nonzero()
    return tuple((int(nz[:, d].min()), int(nz[:, d].max())) for d in range(spatial_dims))


def _box(row, position):
    """The tool's field of the output element at ``position`` (per spatial dim): (first, last) input position."""
    return tuple((row.start[d] + i * row.jump[d] - (row.rf[d] - 1) / 2, row.start[d] + i * row.jump[d] + (row.rf[d] - 1) / 2)
                 for d, i in enumerate(position))


def _positive(model):
    """float64, every weight positive: every input position a layer reads gets a nonzero gradient."""
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) + 0.5)
    return model


class _RowPooling(nn.Module):
    """A 1-D adaptive pooling of the rows of a B×H×W map (the channels summed away): it pools W alone."""

    def __init__(self):
        super().__init__()
        self.c1, self.pool, self.c2 = nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool1d(6), nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.c2(self.pool(self.c1(x).sum(1)).unsqueeze(1))


def test_an_adaptive_pooling_of_fewer_dims_pools_its_own_dims_only():
    # W 12 → 6: a window of 2, stride 2, on W; H keeps the conv's 3, jump 1 (it was 4×4, jump 2×2: H's size
    # taken for W's window, and H given a jump it does not have, so the box of row 9 sat at rows 17…20)
    torch.manual_seed(0)
    m = _positive(_RowPooling())
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    rep = rf_of(m, x)
    row = rep.row("pool")
    assert (row.rf, row.jump, row.start) == ((3, 4), (1, 2), (0, 0.5))
    assert _footprint_box(m, x, "pool", (0, 9, 3), 2) == _box(row, (9, 3)) == ((8, 10), (5, 8))
    assert rep.row("c2").rf == (3, 4)


def test_an_unbatched_input_has_no_channels_at_dim_1():
    # C×H×W: dim 1 is H. A LocalResponseNorm mixes 5 neighbours along its dim 1 (here rows: 5×1, the
    # gradient's rows 4…8 for row 6), a Softmax(dim=1) is along H, a ChannelShuffle permutes rows: none of
    # them is per position as on N×C×H×W (all three said 1×1)
    torch.manual_seed(0)
    lrn = _positive(nn.Sequential(nn.Conv2d(3, 3, 1), nn.LocalResponseNorm(5), nn.Conv2d(3, 3, 1)))
    x = torch.rand(3, 12, 14, dtype=torch.float64)
    row = rf_of(lrn, x).row("1")
    assert row.rf == (5, 1) and _box(row, (6, 7)) == ((4, 8), (7, 7))
    assert _footprint_box(lrn, x, "1", (0, 6, 7), 2) == ((4, 8), (7, 7))
    for layer in (nn.Softmax(dim=1), nn.ChannelShuffle(2)):
        rep = rf_of(nn.Sequential(nn.Conv2d(4, 4, 1), layer, nn.Conv2d(4, 4, 1)), torch.randn(4, 12, 14))
        assert rep.row("1").rf is None and rep.row("2").rf is None, type(layer).__name__
    # batched, the same layers are per position
    rep = rf_of(nn.Sequential(nn.Conv2d(4, 4, 1), nn.Softmax(dim=1), nn.LocalResponseNorm(3), nn.ChannelShuffle(2)),
                torch.randn(1, 4, 12, 14))
    assert rep.rf == [(1, 1)] * 4


class _BilinearOfTwoFields(nn.Module):
    """nn.Bilinear over the channels of two channels-last maps, one seen through a 1×1 conv, one through 9×9."""

    def __init__(self):
        super().__init__()
        self.near, self.far = nn.Conv2d(1, 2, 1), nn.Conv2d(1, 2, 9, padding=4)
        self.mix, self.head = nn.Bilinear(2, 2, 2), nn.Conv2d(2, 1, 1)

    def forward(self, x):
        y = self.mix(self.near(x).permute(0, 2, 3, 1), self.far(x).permute(0, 2, 3, 1))
        return self.head(y.permute(0, 3, 1, 2))


def test_a_layer_given_two_tensors_sees_both_fields():
    # each output reads position (i, j) of both maps: 9×9, centred on (i, j) (it had the first map's 1×1)
    torch.manual_seed(0)
    m = _positive(_BilinearOfTwoFields())
    x = torch.rand(1, 1, 16, 20, dtype=torch.float64)
    rep = rf_of(m, x)
    assert rep.row("mix").rf == rep.row("head").rf == (9, 9)
    assert _footprint_box(m, x, "mix", (0, 8, 10, 0)) == _box(rep.row("mix"), (8, 10)) == ((4, 12), (6, 14))


class _KernelFromTheInput(nn.Module):
    """CondConv-like: the 3×3 kernel of F.conv2d is computed from a global mean of the stem's output."""

    def __init__(self):
        super().__init__()
        self.stem, self.route, self.head = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(2, 2 * 2 * 9), nn.Conv2d(2, 2, 1)

    def forward(self, x):
        y = self.stem(x)
        kernel = self.route(y.mean((2, 3)))[0].view(2, 2, 3, 3)
        return self.head(nn.functional.conv2d(y, kernel, padding=1))


def test_a_convolution_whose_kernel_is_computed_from_the_input_sees_the_whole_input():
    # every output reads the kernel, which reads every position (it was the data's 5×5 alone)
    torch.manual_seed(0)
    m = _positive(_KernelFromTheInput())
    x = torch.rand(1, 1, 16, 20, dtype=torch.float64)
    rep = rf_of(m, x)
    assert rep.row("head").kind == "global" and rep.row("head").rf == (16, 20)
    assert _footprint_box(m, x, "head", (0, 0, 8, 10)) == ((0, 15), (0, 19))


class _BufferWrittenThroughASlice(nn.Module):
    """A torch.zeros buffer (no field: made from nothing) gets b(x) shifted by 3 rows through a slice."""

    def __init__(self):
        super().__init__()
        self.b, self.head = nn.Conv2d(1, 1, 5, padding=2), nn.Conv2d(1, 1, 1)

    def forward(self, x):
        shifted = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
        shifted[:, :, 3:] = self.b(x)[:, :, :-3]
        return self.head(shifted + x)


class _ViewTakenBeforeAnInPlaceSum(nn.Module):
    """v = y.transpose(…) is taken, then y += b(x): v sees b's 7×7 too."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Conv2d(1, 2, 1), nn.Conv2d(1, 2, 7, padding=3), nn.Conv2d(2, 1, 1)

    def forward(self, x):
        y = self.a(x)
        v = y.transpose(2, 3)
        y += self.b(x)
        return self.head(v)


@pytest.mark.parametrize("model", [_BufferWrittenThroughASlice, _ViewTakenBeforeAnInPlaceSum])


def test_memory_written_in_place_through_another_tensor_is_not_followed(model):
    # both heads were given 1×1 (the buffer was taken for a constant, the view kept y's old field), where the
    # gradient spans 6×5 rows×columns (buffer) and 7×7 (view); said now
    torch.manual_seed(0)
    m = _positive(model())
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    row = rf_of(m, x).row("head")
    assert row.rf is None and "written in place through a view or its base" in row.note
    span = tuple(hi - lo + 1 for lo, hi in _footprint_box(m, x, "head", (0, 0, 8, 8)))
    assert span == ((6, 5) if model is _BufferWrittenThroughASlice else (7, 7))
    # on the meta device (tensors without memory: their views are told apart by what they view)
    assert rf_of(m.to("meta"), x.to("meta")).row("head").rf is None


def test_an_in_place_op_that_keeps_the_field_keeps_its_views():
    # relu_ on y leaves every element's field as it was: a view taken before still has it (3, then 3 + 2 = 5)
    class ReluAfterView(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.head = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 1, 3)

        def forward(self, x):
            y = self.a(x)
            v = y.transpose(2, 3)
            y.relu_()
            return self.head(v.transpose(2, 3))

    assert rf_of(ReluAfterView(), torch.randn(1, 1, 12, 12)).row("head").rf == (5, 5)


def test_a_linear_layer_after_a_lost_layout_says_which_step_lost_it():
    # Swin's window partition (a view to rank 6) and VGG's classifier after an upsampling adaptive pooling: the
    # Linear acts on the channels, or on a flattened tensor; its note said "linear layer on a spatial tensor"
    class WindowPartition(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.mlp = nn.Conv2d(1, 4, 2, stride=2), nn.Linear(4, 4)

        def forward(self, x):
            y = self.c(x).permute(0, 2, 3, 1)  # B×8×8×C
            return self.mlp(y.view(1, 2, 4, 2, 4, 4))

    rep = rf_of(WindowPartition(), torch.randn(1, 1, 16, 16))
    assert rep.row("mlp").rf is None and "view raises the rank to 6" in rep.row("mlp").note
    head = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(18, 2))
    rep = rf_of(head, torch.randn(1, 1, 4, 4))
    # (the adaptive pooling 2 → 3 is followed: its outputs pool positions 0, 0…1 and 1 of a field of 3, jump 1:
    # fields 3, 4, 3; the flatten after it makes the Linear see the whole input)
    assert rep.row("1").rf == (4, 4) and rep.row("3").kind == "global" and rep.row("3").rf == (4, 4)


def test_the_memory_format_changes_nothing():
    # channels_last strides, of the input or made in the forward: the same rows (axes are followed by shape)
    class ToChannelsLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = _ChannelsLastBlock()

        def forward(self, x):
            return self.inner(x.to(memory_format=torch.channels_last))

    x = torch.randn(1, 4, 12, 14)
    plain = [(r.path, r.kind, r.rf, r.jump, r.start) for r in rf_of(_ChannelsLastBlock(), x).rows]
    assert plain[-1][2:] == ((7, 7), (1, 1), (1.0, 1.0))
    strided = [(r.path, r.kind, r.rf, r.jump, r.start)
               for r in rf_of(_ChannelsLastBlock(), x.to(memory_format=torch.channels_last)).rows]
    inside = [(r.path.removeprefix("inner."), r.kind, r.rf, r.jump, r.start) for r in rf_of(ToChannelsLast(), x).rows]
    assert plain == strided == inside


def test_a_pixel_unshuffle_is_a_window_of_its_factor():
    # space-to-depth by 2 takes each 2×2 block into the channels: after a 3×3 conv, 3 + 1 = 4 with jump 2;
    # the next 3×3 conv 4 + 2·2 = 8. The module and F.pixel_unshuffle alike (both were "—")
    class Unshuffle(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.functional = functional
            self.c1, self.down, self.c2 = nn.Conv2d(1, 1, 3), nn.PixelUnshuffle(2), nn.Conv2d(4, 1, 3)

        def forward(self, x):
            y = self.c1(x)
            return self.c2(nn.functional.pixel_unshuffle(y, 2) if self.functional else self.down(y))

    x = torch.randn(1, 1, 22, 22, dtype=torch.float64)
    for functional in (False, True):
        m = Unshuffle(functional).double()
        with torch.no_grad():
            for p in m.parameters():
                p.fill_(1.0)
        rep = rf_of(m, x)
        assert (rep.row("c2").rf, rep.row("c2").jump) == ((8, 8), (2, 2)), functional
        assert _footprint_2d(m, x, (0, 0, 3, 3)) == (8, 8)
    assert rf_of(Unshuffle(False).double(), x).row("down").window.kernel == (2, 2)


def test_a_roll_along_the_channels_keeps_every_position():
    # torch.roll over dim 1 permutes channels: c2's field 3 + 2 = 5; over W it wraps around: said
    class Roll(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dim, self.c1, self.c2 = dim, nn.Conv2d(2, 4, 3), nn.Conv2d(4, 4, 3)

        def forward(self, x):
            return self.c2(torch.roll(self.c1(x), 1, self.dim))

    x = torch.randn(1, 2, 12, 12)
    assert rf_of(Roll(1), x).row("c2").rf == (5, 5)
    row = rf_of(Roll(3), x).row("c2")
    assert row.rf is None and "wraps positions around" in row.note


def test_a_batched_matmul_over_a_batch_of_one_is_said_not_taken_for_the_whole_input():
    # F.linear with a weight that needs no gradient (a frozen or constant one), on a non-contiguous
    # channels-last tensor of batch 1, runs as a view to H×W×C and a bmm over H: each output element still
    # reads one position (c2's gradient footprint: 5×5 of the 12×12 input), so "whole input" was wrong
    class ConstantLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 1, 3)
            self.register_buffer("w", torch.rand(4, 4) + 0.5)

        def forward(self, x):
            return self.c2(nn.functional.linear(self.c1(x).permute(0, 2, 3, 1), self.w).permute(0, 3, 1, 2))

    model = _positive(ConstantLinear())
    x = torch.ones(1, 1, 12, 12, dtype=torch.float64)
    assert _footprint_box(model, x, "c2", (0, 0, 4, 4)) == ((4, 8), (4, 8))  # 3 + 2: not the whole input
    row = rf_of(model, x).row("c2")
    assert row.kind == "unknown" and "bmm" in row.note and "not followed" in row.note


def test_a_batch_norm_of_a_tensor_whose_axes_moved_is_followed():
    # BatchNorm2d over the W axis of a transposed tensor runs batch_norm, whose saved statistics (1-D) have
    # no positions: it raised IndexError; per position (eval), so c2 sees c1's 3 + 2 = 5 (its footprint)
    class BatchNormOverW(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.bn, self.c2 = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(10), nn.Conv2d(4, 1, 3)

        def forward(self, x):
            return self.c2(self.bn(self.c1(x).transpose(1, 3)).transpose(1, 3))

    model = _positive(BatchNormOverW())
    x = torch.ones(1, 1, 12, 12, dtype=torch.float64)
    rep = rf_of(model, x)
    assert rep.row("bn").kind == "ops" and rep.row("c2").rf == (5, 5)
    assert _box(rep.row("c2"), (4, 4)) == _footprint_box(model, x, "c2", (0, 0, 4, 4)) == ((4, 8), (4, 8))


class _Gated(nn.Module):
    """3×3 conv, a squeeze-and-excitation gate (a global mean, a 1×1 conv, a sigmoid, a product), 3×3 conv."""

    def __init__(self):
        super().__init__()
        self.c1, self.fc, self.c2 = nn.Conv2d(2, 4, 3), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3)

    def forward(self, x):
        y = self.c1(x)
        return self.c2(y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True))))


def test_behind_a_gate_the_field_along_the_windows_alone_is_said_too():
    # after the gate every element sees the whole input (the gradient reaches all of it), and that stays the
    # row's field; beside it, the field along the windows alone, as a textbook counts it: 3 + 2 = 5
    torch.manual_seed(0)
    m = _Gated().double()
    x = torch.randn(1, 2, 12, 12, dtype=torch.float64)
    assert _footprint_2d(m, x, (0, 0, 4, 4)) == (12, 12)
    row = rf_of(m, x).row("c2")
    assert row.kind == "global" and row.rf == (12, 12)
    assert (row.local_rf, row.local_jump) == ((5, 5), (1, 1)) and "along its windows alone" in row.note
    # without the gate, the same network's field
    assert rf_of(nn.Sequential(m.c1, m.c2), x).row("1").rf == row.local_rf
    # no gate, no second figure
    assert all(r.local_rf is None for r in rf_of(nn.Sequential(m.c1, m.c2), x).rows)


def test_mobilenet_v3_along_its_windows_is_the_same_network_without_its_gates():
    # every row after the first squeeze-and-excitation block is "whole input"; the field along the windows
    # alone equals the field of the same network with its SqueezeExcitation blocks made identities (639×639)
    import torchvision
    from torchvision.ops.misc import SqueezeExcitation

    x = torch.randn(1, 3, 64, 64)
    rep = rf_of(torchvision.models.mobilenet_v3_small().eval(), x)
    plain = torchvision.models.mobilenet_v3_small().eval()
    for module in list(plain.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, SqueezeExcitation):
                setattr(module, name, nn.Identity())
    without = {r.path: r for r in rf_of(plain, x).rows}
    local = [r for r in rep.rows if r.local_rf is not None]
    assert len(local) > 50 and all(r.kind == "global" for r in local)
    assert all((r.local_rf, r.local_jump) == (without[r.path].rf, without[r.path].jump) for r in local)
    assert rep.row("features.12.2").local_rf == (639, 639)


# ---- upsampling: fields position by position ------------------------------------------------------------
class _TinyUNet(nn.Module):
    """conv 3 (pad 1) → max-pool 2 → conv 3 (pad 1) → upsample ×2 → cat with the first conv's output → conv 3."""

    def __init__(self, mode="nearest", align_corners=None):
        super().__init__()
        self.a, self.p, self.b = nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode=mode, align_corners=align_corners)
        self.c = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x):
        e = self.a(x)
        return self.c(torch.cat([e, self.up(self.b(self.p(e)))], 1))


def _every_element_inside_its_box(model, x, path, positions):
    """Each element's gradient footprint against the row's box for its position: inside it, and equal to it
    for an element whose box lies inside the input (the fields here have no padding inside them there)."""
    row = rf_of(model, x).row(path)
    size = x.shape[2:]
    for position in positions:
        got = _footprint_box(model, x, path, (0, 0, *position))
        box = row.box(position)
        assert all(lo <= g0 and g1 <= hi for (g0, g1), (lo, hi) in zip(got, box)), (path, position, got, box)
        if all(0 <= lo and hi < n for (lo, hi), n in zip(box, size)):
            assert got == box, (path, position, got, box)
    return row


@pytest.mark.parametrize("mode, rf_up, start_up, rf_c, start_c", [
    # b: 4 + 2·2 = 8, jump 2, start 0.5. Nearest: the upsampled x is b's ⌊x/2⌋ (8, jump 1 on average, start 0.5);
    # c's x − 1 … x + 1 are b's ⌊(x − 1)/2⌋ … ⌊(x + 1)/2⌋, two positions 2 apart: 8 + 2 = 10; x = 0 reads b's −1
    # and 0, input −5 … 4: start −0.5
    ("nearest", 8, 0.5, 10, -0.5),
    # bilinear (align_corners False): the source coordinate (x + ½)/2 − ½ = (2x − 1)/4 is never whole, so the
    # upsampled x reads b's ⌊(2x − 1)/4⌋ and the next one: 8 + 2 = 10, x = 0 at b's −1, 0 (start −0.5); c's
    # window reads b's ⌊(2x − 3)/4⌋ … ⌈(2x + 1)/4⌉, three positions: 8 + 4 = 12, x = 0: −5 … 6, start 0.5
    ("bilinear", 10, -0.5, 12, 0.5),
])


def test_a_u_net_through_its_upsampling(mode, rf_up, start_up, rf_c, start_c):
    model = _positive(_TinyUNet(mode, False if mode == "bilinear" else None))
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    rep = rf_of(model, x)
    up, c = rep.row("up"), rep.row("c")
    assert (up.rf, up.jump, up.start, up.kind) == ((rf_up,) * 2, (1, 1), (start_up,) * 2, "ops")
    assert (c.rf, c.jump, c.start) == ((rf_c,) * 2, (1, 1), (start_c,) * 2)
    assert "union of their fields" in c.note and "depends on the position" not in c.note
    _every_element_inside_its_box(model, x, "c", [(i, j) for i in (0, 1, 6, 7, 15) for j in (0, 5, 8)])


def test_transposed_convolutions_take_fractional_jumps():
    # ConvTranspose k4 s2 p1 (DCGAN's): output x gets input i where x = 2i − 1 + m, m < 4, so i from ⌈(x − 2)/2⌉
    # to ⌊(x + 1)/2⌋, two positions at every x: field 2, jump 1/2, x = 0 reads −1 … 0 (start −0.5). A second one
    # reads two adjacent positions of the first: both inside one field of the input at y = 4k, … (sizes 2, 3, 3,
    # 2, repeating): field 3 at most, jump 1/4
    from fractions import Fraction

    model = _positive(nn.Sequential(nn.ConvTranspose2d(1, 1, 4, 2, 1), nn.ConvTranspose2d(1, 1, 4, 2, 1)))
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    rep = rf_of(model, x)
    first, second = rep.row("0"), rep.row("1")
    assert (first.rf, first.jump, first.start) == ((2, 2), (Fraction(1, 2),) * 2, (-0.5, -0.5))
    assert first.window.transposed and first.window.kernel == (4, 4)
    assert (second.rf, second.jump) == ((3, 3), (Fraction(1, 4),) * 2)
    assert "depends on the position: 2–3×2–3" in second.note
    assert [second.box((y, 0))[0] for y in range(4)] == [(-1, 0), (-1, 1), (-1, 1), (0, 1)]
    _every_element_inside_its_box(model, x, "1", [(i, j) for i in range(0, 24, 3) for j in (0, 1, 2, 3, 11)])
    assert rep.table().count("1/4") == 2  # (the jump column shows the fraction)
    # a report alone walks the same chain (its windows are the modules'); a stride larger than the taps reach is
    # said there too
    shapes = receptive_field(torchcount.profile(model, x))
    assert [(r.rf, r.jump, r.start) for r in shapes.rows] == [(r.rf, r.jump, r.start) for r in rep.rows]
    gaps = receptive_field(torchcount.profile(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 2, stride=3)),
                                              torch.rand(1, 1, 8, 8)))
    assert gaps.row("1").rf is None and "some outputs read no input" in gaps.row("1").note


def test_a_dilated_transposed_convolution_reaches_its_outputs_out_of_order():
    # k3 s3 d2 p2: output x = 3i − 2 + 2m reads one input i: 0, 1, 0, 1, 2, 1, 2, 3, 2, … (i goes back), so a
    # 3-wide window over it reads i 0…1, 0…1, 0…2, …: after a conv 3 (field 3), fields 4 and 5. The window's
    # ends alone (i(x) and i(x + 2)) would give 0…0 at x = 0: too small
    model = _positive(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 3, stride=3, dilation=2, padding=2),
                                    nn.Conv2d(1, 1, 3)))
    x = torch.rand(1, 1, 9, 9, dtype=torch.float64)
    row = _every_element_inside_its_box(model, x, "2", [(i, j) for i in range(0, 18, 2) for j in (0, 1, 2)])
    assert row.rf == (5, 5) and row.box((0, 0)) == ((0, 3), (0, 3)) and "4–5×4–5" in row.note


def test_pixel_shuffle_and_uneven_adaptive_pooling():
    from fractions import Fraction

    # a pixel shuffle by 2 puts conv 3's position ⌊x/2⌋ at x: field 3, jump 1/2; a conv 3 after it reads two of
    # them at every x: 4, x = 0 at 0 … 3 (start 1.5)
    shuffled = _positive(nn.Sequential(nn.Conv2d(1, 4, 3), nn.PixelShuffle(2), nn.Conv2d(1, 1, 3)))
    x = torch.rand(1, 1, 10, 10, dtype=torch.float64)
    row = _every_element_inside_its_box(shuffled, x, "2", [(i, j) for i in range(13) for j in (0, 7)])
    assert (row.rf, row.jump, row.start) == ((4, 4), (Fraction(1, 2),) * 2, (1.5, 1.5))
    # adaptive pooling 14 → 5 pools ⌊14x/5⌋ … ⌈14(x + 1)/5⌉ − 1: 0…2, 2…5, 5…8, 8…11, 11…13 (3 or 4 positions) of
    # a conv 3: fields 5 or 6, jump 14/5; 14 → 7 divides: a window of 2, field 4, jump 2
    pooled = _positive(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d((5, 7))))
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    row = _every_element_inside_its_box(pooled, x, "1", [(i, j) for i in range(5) for j in range(7)])
    assert (row.rf, row.jump) == ((6, 4), (Fraction(14, 5), 2)) and "5–6×4" in row.note
    assert [row.box((i, 0))[0] for i in range(5)] == [(0, 4), (2, 7), (5, 10), (8, 13), (11, 15)]

    # interpolate(mode="area") runs as an adaptive average pooling: 12 → 9 pools 2 positions of a conv 3 at every x
    # (⌊4x/3⌋ … ⌈4(x + 1)/3⌉ − 1), a conv 3 after it 4 or 5 (x = 0: 0…3; x = 1: 1…5): fields 6 or 7
    class Area(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.b(nn.functional.interpolate(self.a(x), size=(9, 12), mode="area"))

    x = torch.rand(1, 1, 14, 14, dtype=torch.float64)
    row = _every_element_inside_its_box(_positive(Area()), x, "b", [(i, j) for i in range(7) for j in (0, 4)])
    assert (row.rf, row.jump) == ((7, 5), (Fraction(4, 3), 1)) and "6–7×5" in row.note


def test_what_upsampling_cannot_give_a_number_for():
    # (align_corners=True, whose decoder's average jump differs from the skip's: followed, see below; a report
    # alone cannot merge them)
    # a transposed convolution with stride 3 and kernel 2: every third output reads no input (the bias alone)
    rep = rf_of(nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 2, stride=3)), torch.rand(1, 1, 8, 8))
    assert rep.row("1").rf is None and "some outputs read no input" in rep.row("1").note
    # with align_corners, a resize to one position reads position 0 (its source is 0·(In − 1)/(Out − 1)): after a
    # conv 3, input 0 … 2 (it said "a resize of 6 → 1 positions")
    one = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(size=(1, 6), mode="bilinear", align_corners=True))
    assert rf_of(one, torch.rand(1, 1, 8, 8)).row("1").box((0, 0)) == ((0, 2), (0, 2))
    # an antialiased interpolation (its filter's width depends on the scale) is said
    class Antialiased(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.b(nn.functional.interpolate(self.a(x), scale_factor=0.5, mode="bilinear", antialias=True))

    rep = rf_of(Antialiased(), torch.rand(1, 1, 14, 14))
    assert rep.row("b").rf is None and "_upsample_bilinear2d_aa" in rep.row("b").note
    # a report alone has no ops to follow an upsampling through
    shapes = receptive_field(torchcount.profile(_TinyUNet(), torch.rand(1, 1, 16, 16)))
    assert shapes.row("up").rf is None and "upsampling" in shapes.row("up").note


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "cubic"])


def test_the_resize_formulas_are_the_ops_own_reads(mode):
    # the formulas (exact fractions) against the positions PyTorch's kernel reads, for sizes up and down, by a
    # scale or a size, with both align_corners. They may differ only where the exact source coordinate is a
    # whole number (float arithmetic lands beside it and reads a neighbour with a weight near 0) or where PyTorch
    # clamps at the border; the reads the flow uses (the formula's, fitted to the op's) cover the op's everywhere
    from fractions import Fraction

    from torchcount.analysis.receptive_field import _fitted, _probe_reads, _resize_reads, _within

    op = {"nearest": "upsample_nearest1d", "nearest-exact": "_upsample_nearest_exact1d",
          "linear": "upsample_linear1d", "cubic": "upsample_bicubic2d"}[mode]
    func = getattr(torch.ops.aten, op).default
    exact = differ = 0
    for n_in in (3, 7, 16):
        for n_out, scale in ((2 * n_in, 2.0), (3 * n_in, 3.0), (n_in * 5 // 2, 2.5), (13, None),
                             (max(n_in // 2, 2), 0.5)):
            for align in ((False, True) if mode in ("linear", "cubic") else (False,)):
                cubic = mode == "cubic"
                src = torch.zeros((1, 1, 1, n_in) if cubic else (1, 1, n_in))
                args = [src, [1, n_out] if cubic else [n_out]] + ([align] if mode in ("linear", "cubic") else []) \
                    + ([None, scale] if cubic else [scale])
                out = func(*args)
                probed = _probe_reads(func, args, {}, src, out, 1 if cubic else 0, 2 if cubic else 1)
                formula = _resize_reads(op, n_in, n_out, scale, align)
                covering = formula if _within(formula, probed) else _fitted(formula, probed, 2 if cubic else 1)
                assert covering is not None, (mode, n_in, n_out, scale, align)
                ratio = Fraction(n_in - 1, n_out - 1) if align else \
                    Fraction(1, 1) / Fraction(scale) if scale else Fraction(n_in, n_out)
                for x, read in enumerate(zip(*probed)):
                    assert covering[0](x) <= read[0] and read[1] <= covering[1](x), (mode, n_in, n_out, scale, align, x)
                    coordinate = ratio * x if align or mode == "nearest" else ratio * (x + Fraction(1, 2)) - \
                        (0 if mode == "nearest-exact" else Fraction(1, 2))
                    inside = [min(max(f(x), 0), n_in - 1) for f in formula]
                    if tuple(inside) == read:
                        exact += 1
                    else:
                        assert coordinate.denominator == 1 or not 0 <= coordinate <= n_in - 1, \
                            (mode, n_in, n_out, scale, align, x, inside, read)
                        differ += 1
    assert exact > 150 and differ < exact / 10


def test_the_examples_u_net_against_the_gradient_footprint():
    # examples/receptive_field.py's U-Net: 44×44 at the output, 40 or 44 by position after the second up; every
    # element checked lies inside its box, and equals it where the box lies inside the input
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "examples" / "receptive_field.py"
    spec = importlib.util.spec_from_file_location("receptive_field_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model = _positive(example.UNet(c=2))
    x = torch.rand(1, 1, 48, 48, dtype=torch.float64)
    row = _every_element_inside_its_box(model, x, "dec2.0", [(i, 23) for i in range(20, 28)])
    assert sorted({hi - lo + 1 for (lo, hi), _ in (row.box((i, 0)) for i in range(8))}) == [40, 44]
    assert _every_element_inside_its_box(model, x, "out", [(i, 24) for i in range(21, 27)]).rf == (44, 44)


def _reads(n_in: int, n_out: int, x: int, dims: int = 1, **how) -> list:
    """The input positions output x of F.interpolate along one dimension reads (a nonzero weight), from the op on
    one-hots (with ``dims`` 2, 1×n_in ones)."""
    import torch.nn.functional as F

    eye = torch.eye(n_in, dtype=torch.float64)
    if dims == 2:
        y = F.interpolate(eye.view(n_in, 1, 1, n_in), size=(1, n_out), **how)[:, 0, 0]
    else:
        y = F.interpolate(eye.view(n_in, 1, n_in), size=n_out, **how)[:, 0]
    return y[:, x].nonzero().flatten().tolist()


def test_an_interpolation_that_float_rounding_makes_read_a_neighbour_reads_it_there_alone():
    # linear 47 → 91: output x reads its source 47·(2x + 1)/182 − ½ (floor and ceiling): two positions, one
    # where the source is whole (x = 45: 23). PyTorch's float source there is just above 23: it reads 24 too,
    # with a weight of 4e-15. Field 2, as everywhere else (each output was widened by one on each side: 4)
    assert _reads(47, 91, 45, mode="linear") == [23, 24]
    m = nn.Sequential(nn.Conv1d(1, 1, 1), nn.Upsample(size=91, mode="linear")).double()
    row = rf_of(m, torch.randn(1, 1, 47, dtype=torch.float64)).row("1")
    assert (row.rf, row.jump, row.start, row.note) == ((2,), (Fraction(47, 91),), (-0.5,), "")
    # align_corners 57 → 87: source 28x/43, whole at x = 0, 43 and 86 (0, 28, 56). The float one is just above
    # 28 at x = 43 (it reads 29 too) and exact at 0 and 86, the same place in the pattern: fields 1–2, and
    # x = 0 reads 0 alone (widening that place everywhere made it read 0 … 1: start 0.5)
    ac = dict(mode="linear", align_corners=True)
    assert (_reads(57, 87, 0, **ac), _reads(57, 87, 43, **ac), _reads(57, 87, 86, **ac)) == ([0], [28, 29], [56])
    m = nn.Sequential(nn.Conv1d(1, 1, 1), nn.Upsample(size=87, **ac)).double()
    row = rf_of(m, torch.randn(1, 1, 57, dtype=torch.float64)).row("1")
    assert (row.rf, row.jump, row.start) == ((2,), (Fraction(28, 43),), (0.0,)) and "1–2" in row.note
    # bicubic 15 → 29: source 15·(2x + 1)/58 − ½, four taps around it, or its own position where it is whole
    # (x = 14: 7). The float source there is just above 7: all four taps, 6 … 9, two more than 7 on one side
    # (which was once refused: "reads other positions than its formula says"); followed, field 4 everywhere
    assert _reads(15, 29, 14, 2, mode="bicubic") == [6, 7, 8, 9]
    m = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Upsample(size=(1, 29), mode="bicubic")).double()
    row = rf_of(m, torch.randn(1, 1, 1, 15, dtype=torch.float64)).row("1")
    assert (row.rf, row.jump, row.note) == ((1, 4), (1, Fraction(15, 29)), "")
    # nearest-exact 14 → 23 (2-D): output x reads ⌊(x + ½)·14/23⌋, one position; at x = 11 that is 7, and the
    # float product is just below: it reads 6 instead. Field 1 everywhere, 6 … 6 there (it said 1–2: 6 … 7)
    assert (_reads(14, 23, 10, 2, mode="nearest-exact"), _reads(14, 23, 11, 2, mode="nearest-exact")) == ([6], [6])
    m = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Upsample(size=(1, 23), mode="nearest-exact")).double()
    row = rf_of(m, torch.randn(1, 1, 1, 14, dtype=torch.float64)).row("1")
    assert (row.rf, row.jump, row.note) == ((1, 1), (1, Fraction(14, 23)), "")


def test_an_interpolation_whose_formula_misses_the_ops_reads_by_more_than_its_slack_is_not_followed(monkeypatch):
    """The op's own reads on the probe, not the formula, have the last word: with the nearest formula made to read
    ⌊x/2⌋ + 3 (a wrong formula), nearest ×2 on 6 positions reads ⌊x/2⌋, 3 positions off, beyond its slack of 1:
    said, not followed (the field of the formula's 3 … 8 would be a wrong number)."""
    import sys
    rf_module = sys.modules["torchcount.analysis.receptive_field"]
    formula = rf_module._resize_reads

    def three_off(*a):
        return tuple(rf_module.IndexMap(m.period, m.shift, tuple(v + 3 for v in m.table)) for m in formula(*a))
    monkeypatch.setattr(rf_module, "_resize_reads", three_off)
    m = nn.Sequential(nn.Conv1d(1, 1, 1), nn.Upsample(scale_factor=2, mode="nearest"))
    row = rf_of(m, torch.rand(1, 1, 6)).row("1")
    assert row.rf is None and "upsample_nearest1d (6 → 12 positions) reads other positions than its formula says" \
        in row.note


def test_a_dilated_window_after_a_bicubic_upsampling_sees_its_taps_not_its_gaps():
    # bicubic ×3: output x reads source (x − 1)/3: x = 3i + 1 reads input i alone, x = 3i reads i − 2 … i + 1,
    # x = 3i + 2 reads i − 1 … i + 2. A 2-tap conv of dilation 3 reads x and x + 3, the same place in that
    # pattern: at 3i + 1, inputs i and i + 1 (field 2); at 3i, i − 2 … i + 2, at 3i + 2, i − 1 … i + 3 (5);
    # output 0 sees −2 … 2 (start 0). (The positions between its taps, which read four, made every field 4–5.)
    m = nn.Sequential(nn.Upsample(scale_factor=3, mode="bicubic"), nn.Conv2d(1, 1, 2, dilation=3)).double()
    nn.init.ones_(m[1].weight)
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    row = rf_of(m, x).row("1")
    assert (row.rf, row.jump, row.start) == ((5, 5), (Fraction(1, 3),) * 2, (0.0, 0.0)) and "2–5×2–5" in row.note
    assert _footprint_2d(m, x, (0, 0, 1, 1)) == (2, 2)  # (output 1: inputs 0 and 1)
    # a transposed convolution of dilation 3 (stride 1): output x is reached from x and x − 3, the same place in
    # the pattern too: fields 2–5 as well; output 0 sees −3 … 1 (start −1)
    t = nn.Sequential(nn.Upsample(scale_factor=3, mode="bicubic"), nn.ConvTranspose2d(1, 1, 2, dilation=3)).double()
    nn.init.ones_(t[1].weight)
    row = rf_of(t, x).row("1")
    assert (row.rf, row.start) == ((5, 5), (-1.0, -1.0)) and "2–5×2–5" in row.note
    assert _footprint_2d(t, x, (0, 0, 4, 4)) == (2, 2)  # (output 4: from 4 and 1, inputs 1 and 0)


class _CatShuffle(nn.Module):
    """A 3×3 conv's channel and three copies of the input, concatenated, then a pixel shuffle ×2 (``mix``: a 1×1
    conv over the four channels between them) and a 1×1 conv."""

    def __init__(self, mix: bool):
        super().__init__()
        self.c3, self.mix, self.shuffle = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(4, 4, 1) if mix else nn.Identity(), \
            nn.PixelShuffle(2)
        self.head = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.head(self.shuffle(self.mix(torch.cat([self.c3(x), x, x, x], 1))))


def test_a_pixel_shuffle_of_channels_with_different_fields_is_not_followed():
    # output (2i + a, 2j + b) of the shuffle is channel 2a + b at (i, j): the conv's 3×3 at (0, 0), one input
    # position at the three others. No field per position holds both (it gave every output the union, 3×3)
    torch.manual_seed(0)
    m = _CatShuffle(mix=False).double()
    for c in (m.c3, m.head):
        nn.init.ones_(c.weight)
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    assert (_footprint_2d(m, x, (0, 0, 4, 4)), _footprint_2d(m, x, (0, 0, 5, 5))) == ((3, 3), (1, 1))
    row = rf_of(m, x).row("head")
    assert row.rf is None and "a pixel shuffle of channels whose fields differ" in row.note
    # a 1×1 conv over the four channels gives each the union: followed (3×3 at every position, jump ½)
    row = rf_of(_CatShuffle(mix=True).double(), x).row("head")
    assert (row.rf, row.jump, row.note) == ((3, 3), (Fraction(1, 2),) * 2, "")


class _Segmenter(nn.Module):
    """Two stride-2 convolutions, then a bilinear interpolation back to the input's size in the model's own
    forward (as torchvision's FCN and DeepLab heads end)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 1, 3, 2, 1), nn.Conv2d(1, 1, 3, 2, 1)

    def forward(self, x):
        return nn.functional.interpolate(self.b(self.a(x)), size=x.shape[2:], mode="bilinear")


def test_the_models_output_after_its_last_layer_has_a_row():
    # b: 3 + 2·2 = 7, jump 4, start 0. The ×4 interpolation's source (x + ½)/4 − ½ = (2x − 3)/8 is never whole:
    # each output reads 2 of b's positions, 4 apart: 7 + 4 = 11, jump 1; x = 0 reads b's −1 and 0: −7 … 3, start −2
    model = _positive(_Segmenter())
    x = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    rep = rf_of(model, x)
    out = rep.rows[-1]
    assert (out.path, out.rf, out.jump, out.start) == ("(output)", (11, 11), (1, 1), (-2.0, -2.0))
    assert "after its last layer" in out.note and rep.row("b").rf == (7, 7)
    for position in [(5, 9), (16, 16), (20, 3)]:
        x1 = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x1)[(0, 0, *position)], x1)
        nz = grad[0, 0].nonzero()
        got = tuple((int(nz[:, d].min()), int(nz[:, d].max())) for d in range(2))
        box = out.box(position)
        inside = all(0 <= lo and hi < 32 for lo, hi in box)
        assert got == box if inside else all(lo <= g0 and g1 <= hi for (g0, g1), (lo, hi) in zip(got, box)), position
    # no such row where the output is the last layer's
    assert rf_of(nn.Sequential(model.a, model.b), x).rows[-1].path == "1"


def test_a_u_net_with_align_corners_merges_its_skip_on_the_common_grid():
    # align_corners=True from 8 to 16: output x reads b's positions ⌊7x/15⌋ and ⌈7x/15⌉ (b: field 8, jump 2), an
    # average jump of 14/15 that the skip's (1) does not share. The concatenation is taken at its own 16
    # positions: c's x − 1 … x + 1 reach b's ⌊7(x − 1)/15⌋ … ⌈7(x + 1)/15⌉, 3 positions at x = 0 (−1 … 1) and
    # x = 15 (6 … 8), 2 at x = 1 (0 … 1): fields 8 + 2·2 = 12 and 10; the skip's 5 lies inside them
    model = _positive(_TinyUNet("bilinear", True))
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    rep = rf_of(model, x)
    assert rep.row("up").jump == (Fraction(14, 15),) * 2
    c = _every_element_inside_its_box(model, x, "c", [(i, j) for i in range(16) for j in (0, 7)])
    assert (c.rf, c.jump) == ((12, 12), (1, 1)) and "10–12×10–12" in c.note
    assert [c.box((i, 0))[0][1] - c.box((i, 0))[0][0] + 1 for i in (0, 1, 15)] == [12, 10, 12]
    # a report alone does not follow the upsampling: said
    shapes = receptive_field(torchcount.profile(model, x))
    assert shapes.row("c").rf is None


def test_a_pattern_too_long_to_compose_is_first_written_out_at_the_tensors_positions():
    # a field stored with a long pattern (3,001 positions, as merges on a common grid make them) through a nearest
    # ×2 upsampling would repeat only every 6,002 positions; at the tensor's own 100 positions it is written out on
    # a short grid first, and each output x still sees x's source ⌊x/2⌋ exactly
    from torchcount.analysis.receptive_field import IndexMap, PatternTooLong, Reach, _through

    long = IndexMap(3001, 3001, tuple(range(3001)))  # (x ↦ x, in a pattern of 3,001)
    upsample = IndexMap(2, 1, (0, 0))  # (x ↦ ⌊x/2⌋)
    with pytest.raises(PatternTooLong):
        _through(Reach(long, long), upsample, upsample, None)
    out = _through(Reach(long, long), upsample, upsample, 100)
    assert out.lo.period < 1000 and all(out.lo(x) == out.hi(x) == x // 2 for x in range(200))


def test_a_window_step_writes_a_pattern_too_long_to_compose_out_at_the_tensors_positions():
    """step() passes the tensor's own sizes on to the composition: a field stored with a pattern of 3,001 positions
    (x ↦ x, as merges on a common grid make them) through a transposed convolution k2 s2 (output x = 2i + m, m < 2:
    it reads i = ⌊x/2⌋ alone) would repeat only every 6,002 positions; known to have 100 positions, the field is
    written out on a short grid first and output x still sees input ⌊x/2⌋ exactly (field 1, jump 1/2). Without
    the sizes it is too long. (step ignoring the state's sizes survived a receptive_field.py mutant.)"""
    from torchcount.analysis.receptive_field import IndexMap, PatternTooLong, Reach, State, Window, step

    long = IndexMap(3001, 3001, tuple(range(3001)))
    tconv = Window((2,), (2,), (1,), (0,), transposed=True)
    with pytest.raises(PatternTooLong):
        step(State((Reach(long, long),)), tconv)
    out = step(State((Reach(long, long),), sizes=(100,)), tconv)
    assert out.reach[0].lo.period < 1000 and out.rf == (1,) and out.jump == (Fraction(1, 2),)
    assert all(out.reach[0].lo(x) == out.reach[0].hi(x) == x // 2 for x in range(200))


def test_a_circular_pad_in_a_forward_says_what_it_does():
    # F.pad(mode="circular") runs as a new tensor that slices of the input are copied into: not followed, and said
    # so (the note read "new_empty changes the spatial layout")
    class Circular(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.a(nn.functional.pad(x, (1, 1, 1, 1), mode="circular"))

    row = rf_of(Circular(), torch.randn(1, 1, 8, 8)).row("a")
    assert row.rf is None and "copied into (as F.pad's circular mode does)" in row.note


def test_a_layer_that_passes_its_input_on_gives_the_field_of_what_it_made():
    # torchvision's FPN LastLevelMaxPool returns its input list with a pooled map appended: its row is the pooled
    # map's (conv 3: field 3, jump 1; a 1-wide max pool of stride 2: 3, jump 2), not the input's it passes on
    class AppendsAPool(nn.Module):
        def forward(self, x):
            return [x, nn.functional.max_pool2d(x, 1, 2)]

    rep = rf_of(nn.Sequential(nn.Conv2d(1, 1, 3), AppendsAPool()), torch.randn(1, 1, 12, 12))
    assert (rep.row("1").rf, rep.row("1").jump, rep.row("1").kind) == ((3, 3), (2, 2), "ops")


def test_upsampling_on_the_meta_device_gives_the_cpus_fields():
    # the interpolations' probe runs on the CPU for a meta tensor (a meta kernel computes no values)
    x = torch.rand(1, 1, 16, 16)
    cpu = rf_of(_TinyUNet("bilinear", True), x)
    with torch.device("meta"):
        model = _TinyUNet("bilinear", True)
    meta = rf_of(model, x.to("meta"))
    assert [(r.path, r.rf, r.jump, r.start, r.note) for r in meta.rows] == \
        [(r.path, r.rf, r.jump, r.start, r.note) for r in cpu.rows]
    assert meta.row("c").rf == (12, 12)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_upsampling_on_cuda_against_the_gradient_footprint(mode):
    # the probe runs the CUDA kernel itself: every element of the U-Net's last conv inside its box, equal where
    # the box lies inside the input
    model = _positive(_TinyUNet(mode, False if mode != "nearest" else None)).cuda()
    x = torch.rand(1, 1, 20, 20, dtype=torch.float64, device="cuda")
    _every_element_inside_its_box(model, x, "c", [(i, j) for i in range(20) for j in (0, 9)])


def test_a_second_output_returned_as_its_layer_made_it_has_no_output_row():
    # a model returning (a's output, b's output): its first output is a's, unchanged, whose field (3) is a's row;
    # an "(output)" row said "after the ops its forward runs after its last layer" with a's 3×3, though no op ran
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            y = self.a(x)
            return y, self.b(y)

    rep = rf_of(TwoHeads(), torch.rand(1, 1, 12, 12))
    assert [(r.path, r.rf) for r in rep.rows] == [("a", (3, 3)), ("b", (5, 5))]


def test_valid_padding_and_a_pooling_without_a_padding_attribute_hand_computed():
    """Conv 3×3 'valid': RF 3, jump 1, start (3 − 1)/2 = 1; LPPool2d kernel 3 stride 2 (it has no padding
    attribute: 0): RF 3 + 2·1 = 5, jump 2, start 1 + 1·1 = 2; conv 3×3 'valid': RF 5 + 2·2 = 9, jump 2,
    start 2 + 1·2 = 4 — in both dimensions."""
    m = nn.Sequential(nn.Conv2d(1, 1, 3, padding="valid"), nn.LPPool2d(2, 3, stride=2),
                      nn.Conv2d(1, 1, 3, padding="valid"))
    rep = rf_of(m, torch.rand(1, 1, 21, 21))
    assert [(r.rf, r.jump, r.start) for r in rep.rows] == [
        ((3, 3), (1, 1), (1.0, 1.0)), ((5, 5), (2, 2), (2.0, 2.0)), ((9, 9), (2, 2), (4.0, 4.0))]


def test_an_adaptive_pooling_of_fewer_dims_takes_the_last_dims_sizes():
    """_RowPooling on a 24×12 map: AdaptiveAvgPool1d(6) pools W alone, 12 → 6: a window of 12/6 = 2, stride
    2 (H's 24/6 = 4 is not its window); H keeps the 3×3 conv's field: RF 3×4, jump 1×2, start 0×0.5."""
    row = rf_of(_RowPooling(), torch.rand(1, 1, 24, 12)).row("pool")
    assert (row.rf, row.jump, row.start) == ((3, 4), (1, 2), (0, 0.5))


def test_a_nearest_resize_to_the_same_size_keeps_the_field():
    """Conv 3 (RF 3, jump 1, start 1), then a nearest resize 14 → 14: each output reads its own position
    (PyTorch's shortcut for equal sizes): RF 3, jump 1, start 1. The table's first line is its heading,
    the next its column names."""
    m = nn.Sequential(nn.Conv1d(1, 1, 3), nn.Upsample(size=14, mode="nearest"))
    rep = rf_of(m, torch.rand(1, 1, 16))
    assert [(r.rf, r.jump, r.start) for r in rep.rows] == [((3,), (1,), (1.0,))] * 2
    lines = rep.table().splitlines()
    assert "receptive field per layer" in lines[0] and lines[1].split()[:2] == ["module", "type"]


def test_a_2d_adaptive_pooling_of_a_1d_map_is_said_not_followed():
    """nn.AdaptiveAvgPool2d((2, 3)) on a 1-D network's (N, C, L) tensor takes it as an unbatched (C, H, W) map:
    it pools the channels too, and the first of its two sizes (2) is not L's. Said, not followed (pairing 2 with
    L gave a window of 12/2 = 6 along L, RF 3 + 5 = 8, where the pooling reads 12/3 = 4)."""
    m = nn.Sequential(nn.Conv1d(1, 4, 3), nn.AdaptiveAvgPool2d((2, 3)))
    x = torch.rand(1, 1, 14)
    for rep in (rf_of(m, x), receptive_field(torchcount.profile(m, x))):
        assert rep.row("0").rf == (3,)
        row = rep.row("1")
        assert row.rf is None and "2-D adaptive pooling of a tensor with 1 spatial dimension(s)" in row.note


def test_adaptive_pooling_from_a_report_alone_divides_or_says_so():
    """From a report's shapes alone: conv 3 on 10×10 (8×8: RF 3, jump 1, start 1), AdaptiveAvgPool2d(4): 8/4 = 2
    divides, a window 2 stride 2: RF 3 + 1 = 4, jump 2, start 1 + ½ = 1.5, as with the model. On 9×9 (7×7)
    to 3, the windows 0–2, 2–4, 4–6 (⌊7x/3⌋ … ⌈7(x + 1)/3⌉ − 1) are followed with the model, RF 3 + 2 = 5,
    jump 7/3, start (0 + 4)/2 = 2; the report alone says it is not a window (7 mod 3 = 1 is not 0: a window of
    ⌊7/3⌋ = 2 would be wrong)."""
    for n, o, want in ((10, 4, ((4, 4), (2, 2), (1.5, 1.5))), (9, 3, ((5, 5), (Fraction(7, 3),) * 2, (2.0, 2.0)))):
        m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(o))
        x = torch.rand(1, 1, n, n)
        row = rf_of(m, x).row("1")
        assert (row.rf, row.jump, row.start) == want
        shapes = receptive_field(torchcount.profile(m, x)).row("1")
        if n % 2 == 0:
            assert (shapes.rf, shapes.jump, shapes.start) == want
        else:
            assert shapes.rf is None and "windows of varying size" in shapes.note


@pytest.mark.parametrize("n, jump, unit, margin", [(16, 1, 1, 64), (101, Fraction(2, 3), 1, 64), (1001, 1, 3, 64),
                                                   (3968, 1, 1, 64), (4092, 1, 1, 2)])
def test_a_field_on_a_common_grid_is_exact_at_its_positions_and_margins(n, jump, unit, margin):
    """_on_grid writes a field (here align_corners 8 → 16's reads, ⌊14x/15⌋ … ⌈14x/15⌉, jump 14/15) on a grid of
    another jump: at the tensor's n positions and 64 more on each side (2 where n + 128 positions would pass
    4,096: 4,092 + 2·2 = 4,096; 3,968 + 2·64 = 4,096 keeps 64) each position keeps its own field, negative ones
    too; the pattern's average step is the grid's jump (2/3 needs a period that 3 divides) and its period a
    multiple of ``unit`` (a next step's stride, 3: 1,001 + 128 = 1,129 rounds up to 1,131)."""
    from torchcount.analysis.receptive_field import Reach, _floor_map, _on_grid

    field = Reach(_floor_map(Fraction(14, 15), Fraction(0)), _floor_map(Fraction(14, 15), Fraction(0), ceil=True))
    got = _on_grid(field, n, Fraction(jump), unit)
    assert got.lo.slope == jump and got.lo.period % unit == 0 and got.lo.period <= 4096
    assert all(got.lo(x) == 14 * x // 15 and got.hi(x) == -(-14 * x // 15) for x in range(-margin, n + margin))


def test_a_union_whose_patterns_are_too_long_together_is_first_written_out_at_the_tensors_positions():
    """Two fields of jump 1: x ↦ x in a pattern of 3,001 positions, and x ↦ x … x + (x mod 2) (period 2). Their
    union position by position repeats only every 6,002: with the tensor's 100 positions known it is written
    out on a grid first, x … x + (x mod 2) at every position (and the margins, −64 … 163); without, said."""
    from torchcount.analysis.receptive_field import IndexMap, PatternTooLong, Reach, _spread_reach

    long = IndexMap(3001, 3001, tuple(range(3001)))
    odd = Reach(IndexMap(1, 1, (0,)), IndexMap(2, 2, (0, 2)))
    with pytest.raises(PatternTooLong):
        _spread_reach([Reach(long, long), odd], None)
    got = _spread_reach([Reach(long, long), odd], 100)
    assert all((got.lo(x), got.hi(x)) == (x, x + x % 2) for x in range(-64, 164))


def test_a_layer_reading_two_tensors_one_not_followed_says_why():
    """nn.Bilinear(a, b) with a after a circular pad (not followed) and b a 3×3 conv (RF 3): the union of the
    two is not known, and the row gives a's reason."""
    import torch.nn.functional as F

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.bil = nn.Conv2d(1, 3, 3), nn.Conv2d(1, 3, 3, padding=1), nn.Bilinear(3, 3, 2)

        def forward(self, x):
            a = self.a(F.pad(x, (1, 1, 1, 1), mode="circular")).permute(0, 2, 3, 1)
            return self.bil(a, self.b(x).permute(0, 2, 3, 1))

    rep = rf_of(Two(), torch.rand(1, 1, 8, 8))
    assert rep.row("b").rf == (3, 3)
    assert rep.row("bil").rf is None and "as F.pad's circular mode does" in rep.row("bil").note


def test_a_field_that_goes_back_through_a_window_takes_the_union_over_the_positions_read():
    """Output y of a window of 2 reads y and y + 1. A field whose first position goes back (lo: 1, 0, 3, 2, …,
    period 2; hi: x + 1) gives lo min(lo(y), lo(y + 1)) = 2⌊y/2⌋ (0, 0, 2, 2: not lo(y) alone, 1 at y = 0) and
    hi max(y + 1, y + 2) = y + 2; one whose last position goes back (lo: x − 1; hi: 2, 1, 4, 3, …) gives lo
    y − 1 and hi max(hi(y), hi(y + 1)) = 2⌈y/2⌉ + 2 (2, 4, 4, 6); one rising within its period but back across it (lo = hi:
    −2, 1, 0, 3, …) gives lo 2⌈y/2⌉ − 2 and hi 2⌊y/2⌋ + 1, not its ends' (−2, 1, 0, 3 and 1, 0, 3, 2). Each advances by 2 every 2 positions (the one
    of period 1 too, taken on the other's period), negative positions too."""
    from torchcount.analysis.receptive_field import IndexMap, Reach, affine

    back_lo = Reach(IndexMap(2, 2, (1, 0)), affine(1, 1)).through(affine(0, 1), affine(1, 1))
    assert all((back_lo.lo(y), back_lo.hi(y)) == (2 * (y // 2), y + 2) for y in range(-6, 12))
    back_hi = Reach(affine(-1, 1), IndexMap(2, 2, (2, 1))).through(affine(0, 1), affine(1, 1))
    assert all((back_hi.lo(y), back_hi.hi(y)) == (y - 1, 2 * -(-y // 2) + 2) for y in range(-6, 12))
    # rising within its period, back across it (−2, 1, 0, 3, …): lo min −2, 0, 0, 2, hi max 1, 1, 3, 3
    across = Reach(IndexMap(2, 2, (-2, 1)), IndexMap(2, 2, (-2, 1))).through(affine(0, 1), affine(1, 1))
    assert all((across.lo(y), across.hi(y)) == (2 * -(-y // 2) - 2, 2 * (y // 2) + 1) for y in range(-6, 12))
    assert back_lo.lo.slope == back_lo.hi.slope == back_hi.lo.slope == back_hi.hi.slope == 1


def test_a_pattern_of_4096_positions_is_followed_and_one_longer_is_not():
    """docs/analyses.md: patterns are followed up to 4,096 positions. A map x ↦ x of period 4,096 composed
    after x ↦ x, spread with x ↦ x, and a field going back (lo: 1, 0, 3, 2, …: x + 1 at even x, x − 1 at odd)
    read through it each keep that period and their values; with a period of 4,097 each is refused."""
    from torchcount.analysis.receptive_field import IndexMap, PatternTooLong, Reach, _floor_map, _spread, affine

    back = Reach(IndexMap(2, 2, (1, 0)), affine(1, 1))
    for n in (4096, 4097):
        long = IndexMap(n, n, tuple(range(n)))
        steps = ((lambda: affine(0, 1).after(long), lambda x: x), (lambda: _spread([long, affine(0, 1)], min),
                                                                    lambda x: x),
                 (lambda: back.through(long, long).lo, lambda x: x + 1 if x % 2 == 0 else x - 1))
        for make, want in steps:
            if n == 4096:
                m = make()
                assert m.period == 4096 and all(m(x) == want(x) for x in range(-3, 9000, 7))
            else:
                with pytest.raises(PatternTooLong):
                    make()
    assert _floor_map(Fraction(4095, 4096), Fraction(0)).period == 4096  # (a nearest 4,095 → 4,096)
    with pytest.raises(PatternTooLong):
        _floor_map(Fraction(4096, 4097), Fraction(0))
    with pytest.raises(ValueError, match="does not advance"):  # (a step whose every output reads one position)
        affine(0, 1).after(affine(3, 0))


def test_a_pooling_given_one_size_for_two_dims_uses_it_for_both():
    """nn.MaxPool2d((3,), stride=(2,), padding=(1,)) pools 3×3 windows with stride 2 (torch repeats a 1-tuple):
    after a 3×3 conv (RF 3, jump 1, start 1) RF 3 + 2·1 = 5, jump 2, start 1 + (1 − 1)·1 = 1 in both dims, with
    the model and from a report alone."""
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d((3,), stride=(2,), padding=(1,)))
    x = torch.rand(1, 1, 12, 12)
    for rep in (rf_of(m, x), receptive_field(torchcount.profile(m, x))):
        row = rep.row("1")
        assert (row.rf, row.jump, row.start) == ((5, 5), (2, 2), (1.0, 1.0))


@pytest.mark.parametrize("dim", [None, 2, -1])
def test_a_stack_of_two_branches_is_the_union_of_their_fields(dim):
    """a: conv 3 (x … x + 2), b: conv 5 padding 1 (x − 1 … x + 3), stacked — torch.stack's default dim 0 (the
    spatial axes move from 2, 3 to 3, 4), dim 2 (H's own axis: H moves to 3, W to 4) or −1 (after them: they
    stay) — and brought back to 4 dims: the union x − 1 … x + 3; then conv c 3: RF 5 + 2 = 7, jump 1,
    start 1 + 1 = 2 in both dims."""
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 5, padding=1)
            self.c = nn.Conv2d(1 if dim is None else 2, 1, 3)

        def forward(self, x):
            if dim is None:
                return self.c(torch.stack([self.a(x), self.b(x)]).flatten(0, 1))
            if dim == -1:
                return self.c(torch.stack([self.a(x), self.b(x)], dim).permute(0, 4, 1, 2, 3).flatten(1, 2))
            return self.c(torch.stack([self.a(x), self.b(x)], dim).flatten(1, 2))

    c = rf_of(Stack(), torch.rand(1, 1, 10, 10)).row("c")
    assert (c.rf, c.jump, c.start) == ((7, 7), (1, 1), (2.0, 2.0))


def test_a_resize_too_large_to_probe_widens_its_formula_by_its_slack():
    """Where input × output positions of a dimension pass 2²⁴ (4,097 × 4,097), the op is not probed and its
    formula's reads widen by 1 position on each side (linear), 2 (cubic). Conv 3 (RF 3, start 1), then linear
    4,097 → 4,097 (source x, whole: x alone): x − 1 … x + 1, RF 3 + 2 = 5, jump 1, start 1; or bicubic 8,194 →
    4,097 along H (source 2x + ½, never whole: taps 2x − 1 … 2x + 2): 2x − 3 … 2x + 4, RF 3 + 7 = 10, jump 2,
    start 1 + ½ = 1.5 (W, 2 → 2, probed: its own position, RF 3, start 1)."""
    m = nn.Sequential(nn.Conv1d(1, 1, 3), nn.Upsample(size=4097, mode="linear"))
    row = rf_of(m, torch.rand(1, 1, 4099)).row("1")
    assert (row.rf, row.jump, row.start) == ((5,), (1,), (1.0,))
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(size=(4097, 2), mode="bicubic"))
    row = rf_of(m, torch.rand(1, 1, 8196, 4)).row("1")
    assert (row.rf, row.jump, row.start) == ((10, 3), (2, 1), (1.5, 1.0))


class _Functional(nn.Module):
    """Conv a (3×3), then ``how`` between it and the next layer, c."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.a = nn.Conv2d(1, 1 if how == "expand" else 2 if how != "bilinear" else 3, 3)
        self.b = nn.Conv2d(1, 2, 5, padding=1) if how.startswith("cat") else nn.Conv2d(1, 3, 3)
        self.c = {"max_pool": nn.Conv2d(2, 1, 3), "avg_pool": nn.Conv2d(2, 1, 3), "expand": nn.Conv2d(3, 1, 3),
                  "adaptive_1": nn.Conv2d(2, 1, 1), "amax": nn.Conv2d(2, 1, 1), "cat_conv": nn.Conv2d(4, 4, 1),
                  "cat_grouped": nn.Conv2d(4, 4, 1, groups=2), "bilinear": nn.Bilinear(3, 3, 2)}[how]

    def forward(self, x):
        a, how = self.a(x), self.how
        if how == "max_pool":
            return self.c(nn.functional.max_pool2d(a, 3, padding=1))
        if how == "avg_pool":
            return self.c(nn.functional.avg_pool2d(a, 2))
        if how == "expand":
            return self.c(a.expand(-1, 3, -1, -1))
        if how == "adaptive_1":
            return self.c(nn.functional.adaptive_max_pool2d(a, 1))
        if how == "amax":
            return self.c(a.amax((2, 3), keepdim=True))
        if how.startswith("cat"):
            # (the 1×1 convolution called as a function, an op between layers)
            merged = torch.cat([a, self.b(x)], 1)
            return nn.functional.pixel_shuffle(nn.functional.conv2d(merged, self.c.weight, groups=self.c.groups), 2)
        return self.c(a.permute(0, 2, 3, 1), self.b(x).permute(0, 3, 2, 1))


@pytest.mark.parametrize("how, want", [
    # F.max_pool2d(k 3, padding 1) with no stride: stride 3; after conv 3 (RF 3, start 1): RF 5, jump 3,
    # start 1 + (1 − 1)·1 = 1; conv 3: RF 5 + 2·3 = 11, start 1 + 1·3 = 4
    ("max_pool", ((11, 11), (3, 3), (4.0, 4.0))),
    # F.avg_pool2d(k 2): stride 2, RF 4, jump 2, start 1.5; conv 3: RF 4 + 2·2 = 8, start 1.5 + 2 = 3.5
    ("avg_pool", ((8, 8), (2, 2), (3.5, 3.5))),
    # one channel expanded to 3 (same rank, same positions): conv 3 after conv 3: RF 5, start 2
    ("expand", ((5, 5), (1, 1), (2.0, 2.0))),
    # a functional adaptive max pooling to 1×1, a max over H and W: every later element sees the whole input
    ("adaptive_1", None), ("amax", None),
    # cat of conv 3 (x … x + 2) and conv 5 padding 1 (x − 1 … x + 3), F.conv2d 1×1 over all 4 channels (each sees
    # the union), pixel shuffle 2 (output x reads ⌊x/2⌋): RF 5, jump ½, start (−1 + 3)/2 = 1
    ("cat_conv", ((5, 5), (Fraction(1, 2),) * 2, (1.0, 1.0))),
    # a grouped 1×1 conv keeps each half's own field: the shuffle is not followed
    ("cat_grouped", "channels whose fields differ"),
    # nn.Bilinear of a (H, W, C) and b (W, H, C): their positions do not line up
    ("bilinear", "do not line up")])
def test_ops_between_layers_by_hand(how, want):
    """Functional windows and ops that no test read: a pooling's default stride, expand keeping the
    positions, global reductions, the channels a convolution mixes after an uneven concatenation, and a layer
    reading two tensors whose spatial axes differ."""
    row = rf_of(_Functional(how), torch.rand(1, 1, 20, 20)).rows[-1]
    if want is None:
        assert row.kind == "global" or "sees the whole input" in row.note
        assert row.jump is None
    elif isinstance(want, str):
        assert row.rf is None and want in row.note
    else:
        assert (row.rf, row.jump, row.start) == want


@pytest.mark.parametrize("functional", [False, True])
def test_a_pixel_unshuffle_is_a_window_of_its_factor(functional):
    """Conv 3 (RF 3, jump 1, start 1), then a pixel unshuffle by 2 (output x gathers inputs 2x, 2x + 1): RF
    3 + 1 = 4, jump 2 (an int), start 1 + ½ = 1.5, as a module (also from a report alone) or F.pixel_unshuffle."""
    class F_(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return nn.functional.pixel_unshuffle(self.a(x), 2)

    m = F_() if functional else nn.Sequential(nn.Conv2d(1, 1, 3), nn.PixelUnshuffle(2))
    x = torch.rand(1, 1, 10, 10)
    reps = [rf_of(m, x)] + ([] if functional else [receptive_field(torchcount.profile(m, x))])
    for rep in reps:
        row = rep.rows[-1]
        assert (row.rf, row.jump, row.start) == ((4, 4), (2, 2), (1.5, 1.5))
        assert all(type(j) is int for j in row.jump)


@pytest.mark.parametrize("size, scale, align_corners, want_jump", [
    (10, None, None, Fraction(4, 5)),  # nearest 8 → 10: output x reads ⌊4x/5⌋
    (None, 2.05, None, Fraction(1, 2)),  # nearest ×2.05 of 10 is 20 = 2·10: ⌊x/2⌋ (PyTorch's ×2 shortcut)
    (2, None, True, 4)])  # linear with align_corners 5 → 2: positions 0 and 4
def test_resizes_reading_one_position_each(size, scale, align_corners, want_jump):
    """Conv 3 on 10 (or 7 for the align_corners one) positions, then a resize whose every output reads one
    position of it: RF 3, start 1, and the jump of its reads."""
    mode = "linear" if align_corners else "nearest"
    up = nn.Upsample(size=size, scale_factor=scale, mode=mode, align_corners=align_corners)
    rows = rf_of(nn.Sequential(nn.Conv1d(1, 1, 3), up), torch.rand(1, 1, 7 if align_corners else 10)).rows
    assert (rows[-1].rf, rows[-1].jump, rows[-1].start) == ((3,), (want_jump,), (1.0,))


def test_the_largest_field_counts_the_tensors_own_positions_alone():
    """A field of sizes 3, 5, 3, 5, … (period 2) on a tensor of 1 position is 3 there; of 2 or more, 5."""
    from torchcount.analysis.receptive_field import IndexMap, Reach, State

    r = Reach(IndexMap(2, 2, (0, 0)), IndexMap(2, 2, (2, 4)))
    assert [State((r,), sizes=(n,)).rf for n in (1, 2, 7)] == [(3,), (5,), (5,)]
    assert State((r,)).rf == (5,)


class _DownBlock(nn.Module):
    """A ResNet basic block with a downsample: conv1 3 stride 2, conv2 3, and a 1×1 stride-2 downsample of the
    block's input with its batch norm (called after conv2, as torchvision's), summed."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(1, 1, 3, padding=1)
        self.downsample = nn.Sequential(nn.Conv2d(1, 1, 1, stride=2), nn.BatchNorm2d(1))

    def forward(self, x):
        return self.conv2(self.conv1(x)) + self.downsample(x)


def test_a_residual_block_with_a_downsample_from_the_reports_shapes_alone():
    """stem conv 3 p1: RF 3, jump 1, start 0; conv1 3 s2 p1: 3 + 2 = 5, jump 2, start 0; conv2 3 p1: 5 + 2·2 = 9,
    jump 2; the downsample (1×1 s2) reads the stem's 16×16 output, not conv2's 8×8 ("branch"): RF 3, jump 2, and
    its batch norm reads it (a chain inside the downsample, not a merge with conv2's larger field: 3); the head conv 3 p1 after the block reads their sum, the larger field ("merges branches"): 9 + 2·2 = 13,
    jump 2, start 0 — the same as the data flow gives (chaining the downsample after conv2 gave 9, jump 4,
    then 17)."""
    m = nn.Sequential()
    m.add_module("stem", nn.Conv2d(1, 1, 3, padding=1))
    m.add_module("block", _DownBlock())
    m.add_module("head", nn.Conv2d(1, 1, 3, padding=1))
    x = torch.rand(1, 1, 16, 16)
    want = [("stem", (3, 3), (1, 1)), ("block.conv1", (5, 5), (2, 2)), ("block.conv2", (9, 9), (2, 2)),
            ("block.downsample.0", (3, 3), (2, 2)), ("block.downsample.1", (3, 3), (2, 2)),
            ("head", (13, 13), (2, 2))]
    for rep in (rf_of(m, x), receptive_field(torchcount.profile(m, x))):
        assert [(r.path, r.rf, r.jump) for r in rep.rows] == want
        assert all(r.start == (0.0, 0.0) for r in rep.rows)
    shapes = receptive_field(torchcount.profile(m, x))
    assert "branch" in shapes.row("block.downsample.0").note and "merges branches" in shapes.row("head").note
    assert shapes.row("block.downsample.1").note == ""


def test_a_resize_by_a_scale_per_dimension_reads_by_each_dims_own_scale():
    """Conv 3 on 10×10 (8×8), nearest by (3, 1.6): H 8 → 24 reads ⌊x/3⌋ (jump 1/3), W 8 → 12 reads ⌊x/1.6⌋ =
    ⌊5x/8⌋ (the scale given: jump 5/8, not the sizes' 8/12 = 2/3; PyTorch's reads 0, 0, 1, 1, 2, 3, 3, 4, 5, 5,
    6, 6); RF 3, start 1."""
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=(3, 1.6), mode="nearest"))
    row = rf_of(m, torch.rand(1, 1, 10, 10)).row("1")
    assert (row.rf, row.jump, row.start) == ((3, 3), (Fraction(1, 3), Fraction(5, 8)), (1.0, 1.0))


def test_a_3d_resize_by_a_scale_per_dimension_reads_by_each_dims_own_scale():
    """As in 2-D, over (D, H, W): conv 3 on 4×10×10 (2×8×8), nearest by (1, 3, 1.6): D 2 → 2 keeps its positions,
    H 8 → 24 reads ⌊x/3⌋ (jump 1/3), W 8 → 12 reads ⌊x/1.6⌋ = ⌊5x/8⌋ (jump 5/8); RF 3, start 1. Taking scales_w
    for H and scales_h for W (the index of dimension j among the op's scales_d, scales_h, scales_w counted from the
    end, which in 2-D picks the same) reads ⌊x/1.6⌋ along H, 23 → 14 where the op reads 7: not followed."""
    m = nn.Sequential(nn.Conv3d(1, 1, 3), nn.Upsample(scale_factor=(1, 3, 1.6), mode="nearest"))
    row = rf_of(m, torch.rand(1, 1, 4, 10, 10)).row("1")
    assert (row.rf, row.jump, row.start) == ((3, 3, 3), (1, Fraction(1, 3), Fraction(5, 8)), (1.0, 1.0, 1.0))


class _RankOneTransposed(nn.Module):
    """Conv1d 3, then the map's one row alone (rank 1) transposed by t(), which leaves a rank-1 tensor as it
    is, then back to 1×1×L and Conv1d 3."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3)

    def forward(self, x):
        return self.c2(self.c1(x)[0, 0].t()[None, None])


def test_t_of_a_rank_one_map_keeps_its_axis():
    """t() of a rank-1 tensor is that tensor (torch swaps nothing below rank 2), so the field goes on: two
    convolutions of 3, RF 3 then 5, jump 1, start 1 then 2. (Taking t() for a swap of axes 0 and 1 at
    any rank read an axis a rank-1 tensor lacks.)"""
    rep = rf_of(_RankOneTransposed(), torch.randn(1, 1, 12))
    assert [r.rf for r in rep.rows] == [(3,), (5,)]
    assert [r.jump for r in rep.rows] == [(1,), (1,)]
    assert [r.start for r in rep.rows] == [(1.0,), (2.0,)]


class _KernelFromAPatch(nn.Module):
    """F.conv2d(y, y[:, :, :3, :3]): the kernel is a patch of the stem's output (a field of its own, 5×5 at the
    corner), not a global pooling of it."""

    def __init__(self):
        super().__init__()
        self.stem, self.head = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 1)

    def forward(self, x):
        y = self.stem(x)
        return self.head(nn.functional.conv2d(y, y[:, :, :3, :3]))


def test_a_convolution_whose_kernel_is_a_patch_of_the_input_is_not_followed_nor_said_whole_input():
    """Output (5, 5) of the 3×3 convolution reads stem positions 5…7 and the kernel's 0…2: input rows and columns
    0…4 and 5…9, a field that is no window (nor the whole 14×14 input: its gradient stops at 9). Said not
    followed, not "whole input" (as a kernel from a global pooling is)."""
    torch.manual_seed(0)
    m = _positive(_KernelFromAPatch())
    x = torch.rand(1, 1, 14, 14, dtype=torch.float64)
    assert _footprint_box(m, x, "head", (0, 0, 5, 5)) == ((0, 9), (0, 9))
    row = rf_of(m, x).row("head")
    assert row.kind == "unknown" and row.rf is None
    assert "convolution with another argument computed from the input: not followed" in row.note


class _Ignores(nn.Module):
    """A layer without a window rule given two tensors that reads the first alone."""

    def forward(self, a, b):
        return a * 2


class _GivenTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.keep = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 5, padding=1), _Ignores()

    def forward(self, x):
        return self.keep(self.a(x), self.b(x))


def test_a_layer_without_a_rule_given_two_tensors_has_the_field_its_ops_read_and_no_union_note():
    """_Ignores(a(x), b(x)) returns 2·a(x): the field of a's 3×3 conv alone (its gradient: rows and columns 4…6 for
    output (4, 4)), not the union with b's 5×5; its row says no union (its ops said what it reads)."""
    m = _positive(_GivenTwo())
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    assert _footprint_box(m, x, "keep", (0, 0, 4, 4)) == ((4, 6), (4, 6))
    row = rf_of(m, x).row("keep")
    assert (row.rf, row.jump, row.start) == ((3, 3), (1, 1), (1.0, 1.0))
    assert "union" not in row.note and "reads 2 tensors" not in row.note


def test_a_roll_without_dims_rolls_the_flattened_tensor_and_is_said():
    """torch.roll(y, 1) with no dims shifts the flattened tensor by one: y's (r, 0) moves to (r, 1) and (r, W − 1)
    to (r + 1, 0), a wrap that is no window; said, as a roll along W is (it is not a roll along the channels)."""
    class Roll(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.c2(torch.roll(self.c1(x), 1))

    row = rf_of(Roll(), torch.randn(1, 1, 12, 12)).row("c2")
    assert row.rf is None and "(or the flattened tensor) wraps positions around" in row.note


def test_a_resize_to_one_position_per_dimension_reads_position_0():
    """Nearest 10 → 1 (after a conv 3 on 12×12) reads the source ⌊10·0⌋ = 0: input 0 … 2 per dimension (its
    gradient says so), a field of 3, not the whole input (an adaptive pooling to 1×1 is)."""
    m = _positive(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(size=(1, 1), mode="nearest")))
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    assert _footprint_box(m, x, "1", (0, 0, 0, 0)) == ((0, 2), (0, 2))
    row = rf_of(m, x).row("1")
    assert row.kind == "ops" and row.rf == (3, 3) and row.box((0, 0)) == ((0, 2), (0, 2))


def test_a_layer_without_a_rule_that_returns_its_input_written_in_place_has_its_field():
    """A module whose forward runs clamp_ on its input and returns it (no window rule: its ops are followed): the
    conv 3's field, as the input it wrote (it said "its input does not come from the model's input")."""
    class ClampInPlace(nn.Module):
        def forward(self, x):
            return x.clamp_(min=0)

    row = rf_of(nn.Sequential(nn.Conv2d(1, 1, 3), ClampInPlace()), torch.randn(1, 1, 8, 8)).row("1")
    assert (row.kind, row.rf, row.jump, row.start) == ("ops", (3, 3), (1, 1), (1.0, 1.0))


def test_a_linear_layer_over_the_last_spatial_axis_is_said_not_per_position():
    """nn.Linear(8, 8) on the N×C×H×W output of a conv 3 mixes the 8 positions of W: its output at column 0 reads
    every column (its gradient spans 0 … 9 of the 10 input columns), no window; said, not taken for a Linear
    over the channels."""
    m = _positive(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Linear(8, 8)))
    x = torch.rand(1, 1, 10, 10, dtype=torch.float64)
    assert _footprint_box(m, x, "1", (0, 0, 4, 0)) == ((4, 6), (0, 9))
    row = rf_of(m, x).row("1")
    assert row.kind == "unknown" and row.rf is None and "linear layer on a spatial tensor" in row.note


class _RowsAsChannels(nn.Module):
    """A conv 3's one channel dropped (B×H×W: H where the channels were), then a functional 1-D window along W:
    a pooling (which leaves the channel axis alone) or a convolution (which mixes it)."""

    def __init__(self, conv: bool):
        super().__init__()
        self.c1, self.head, self.conv = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 1), conv
        self.w = nn.Parameter(torch.rand(8, 8, 3) + 0.5)

    def forward(self, x):
        t = self.c1(x)[:, 0]
        t = nn.functional.conv1d(t, self.w) if self.conv else nn.functional.avg_pool1d(t, 3, 1)
        return self.head(t[:, None])


def test_a_functional_window_with_a_spatial_axis_at_the_channels_pools_it_alone_and_a_convolution_mixes_it():
    """avg_pool1d(3) of the B×H×W map pools W: 3 + 2 = 5 columns, H kept (3 rows), start (1, 2) — output (4, 2) reads
    rows 4…6 and columns 2…6 by its gradient; a conv1d over it mixes every row: said, not a window."""
    m = _positive(_RowsAsChannels(conv=False))
    x = torch.rand(1, 1, 10, 10, dtype=torch.float64)
    assert _footprint_box(m, x, "head", (0, 0, 4, 2)) == ((4, 6), (2, 6))
    row = rf_of(m, x).row("head")
    assert (row.rf, row.jump, row.start) == ((3, 5), (1, 1), (1.0, 2.0))
    row = rf_of(_RowsAsChannels(conv=True), torch.rand(1, 1, 10, 10)).row("head")
    assert row.rf is None and "a convolution mixes spatial dimension 0 as its channels" in row.note


def test_a_pixel_shuffle_after_a_per_position_layer_is_followed_and_after_a_depthwise_one_of_a_cat_is_not():
    """Conv 3 → ReLU → pixel shuffle ×2 → conv 3: as without the ReLU, 4, jump ½, start 1.5 (a ReLU does not make
    the channels' fields differ). A concatenation of a conv 3's channel and three of the input's, then a depthwise
    1×1 conv (each channel its own field still), then the shuffle: not followed, as without the depthwise conv."""
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.PixelShuffle(2), nn.Conv2d(1, 1, 3))
    row = rf_of(m, torch.rand(1, 1, 10, 10)).row("3")
    assert (row.rf, row.jump, row.start) == ((4, 4), (Fraction(1, 2),) * 2, (1.5, 1.5))

    class CatDepthwiseShuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.c3, self.dw = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(4, 4, 1, groups=4)
            self.shuffle, self.head = nn.PixelShuffle(2), nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return self.head(self.shuffle(self.dw(torch.cat([self.c3(x), x, x, x], 1))))

    row = rf_of(CatDepthwiseShuffle(), torch.rand(1, 1, 6, 6)).row("head")
    assert row.rf is None and "a pixel shuffle of channels whose fields differ" in row.note


def test_a_sum_of_a_map_and_its_transpose_is_said_not_a_window_nor_whole_input():
    """y + yᵀ (a conv 3's 10×10 map): output (1, 6) reads y at (1, 6) and (6, 1), input rows and columns 1…8 by its
    gradient, two windows apart, not the whole 12×12 input; the operands' positions do not line up: said."""
    class PlusTranspose(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.head = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 1)

        def forward(self, x):
            y = self.c1(x)
            return self.head(y + y.transpose(2, 3))

    m = _positive(PlusTranspose())
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    assert _footprint_box(m, x, "head", (0, 0, 1, 6)) == ((1, 8), (1, 8))
    row = rf_of(m, x).row("head")
    assert row.kind == "unknown" and "add changes the spatial layout" in row.note and "whole input" not in row.note


def test_a_where_choosing_between_misaligned_maps_by_a_global_test_sees_the_whole_input():
    """torch.where(mean(y) > 0, y, yᵀ): which map each output takes depends on every position (the mean), so every
    output sees the whole input (though y and yᵀ alone do not line up)."""
    class Choose(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.head = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 1)

        def forward(self, x):
            y = self.c1(x)
            return self.head(torch.where(y.mean((1, 2, 3), keepdim=True) > 0, y, y.transpose(2, 3)))

    row = rf_of(Choose(), torch.rand(1, 1, 12, 12)).row("head")
    assert (row.kind, row.rf) == ("global", (12, 12))



@pytest.mark.parametrize("op", ["median", "nanmedian", "mode", "kthvalue"])
def test_a_median_mode_or_kthvalue_along_one_spatial_axis_is_said_not_whole_input(op):
    """The median (mode, 2nd smallest value) of a conv 3's map along H keeps W's columns apart: a Conv1d 3 after it
    reads columns 0…4 of the input at its output 0 (changing column 11 leaves it as it was), not the whole input
    (it said "whole input (12×12)": an op it did not know dropping the rank was taken for a flatten). Said, as a
    sum along H is. Along the channels (keepdim) every position stays: a conv 3 after it, 3 + 2 = 5."""
    def reduce(y, dim, keepdim=False):
        return (y.kthvalue(2, dim, keepdim) if op == "kthvalue" else getattr(y, op)(dim, keepdim)).values

    class AlongH(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 1, 3), nn.Conv1d(1, 1, 3)

        def forward(self, x):
            return self.c2(reduce(self.c1(x), 2))

    torch.manual_seed(0)
    m = AlongH()
    x = torch.rand(1, 1, 12, 12)
    far = x.clone()
    far[..., 11] += 1
    with torch.no_grad():
        assert torch.equal(m(x)[..., 0], m(far)[..., 0])
    row = rf_of(m, x).row("c2")
    assert row.kind == "unknown" and f"{op} along a spatial dimension: not a window" in row.note

    class AlongC(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 3, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.c2(reduce(self.c1(x), 1, keepdim=True))

    assert rf_of(AlongC(), x).row("c2").rf == (5, 5)


def test_a_flatten_of_a_channels_last_map_before_a_classifier_sees_the_whole_input():
    """(B, H, W, C) flattened to B × H·W·C, then a Linear: each output reads every position, the whole input, as
    after a flatten of B × C × H × W (it is no fold of the positions into the batch, which is not followed)."""
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 6 * 6, 3)

        def forward(self, x):
            return self.fc(self.c1(x).permute(0, 2, 3, 1).flatten(1))

    row = rf_of(Head(), torch.rand(1, 1, 8, 8)).row("fc")
    assert (row.kind, row.rf) == ("global", (8, 8))


def test_a_scale_of_0_is_not_given_and_a_resize_of_one_position_with_align_corners_is_refused():
    """ATen takes a scale ≤ 0 for none (its compute_scales_value): the sizes' ratio. Nearest 3 → 7 given scale 0
    reads ⌊3x/7⌋ (0, 0, 0, 1, 1, 2, 2), as the op itself does. A linear resize of 1 position with align_corners
    reads position 0 at every output: positions that do not advance, refused (its caller says not followed)."""
    from torchcount.analysis.receptive_field import _resize_reads

    op = torch.ops.aten.upsample_nearest1d.default
    y = op(torch.eye(3, dtype=torch.float64).view(3, 1, 3), [7], 0.0)[:, 0]
    assert [int(y[:, x].argmax()) for x in range(7)] == [0, 0, 0, 1, 1, 2, 2]
    lo, hi = _resize_reads("upsample_nearest1d", 3, 7, 0.0, False)
    assert [lo(x) for x in range(7)] == [hi(x) for x in range(7)] == [0, 0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="a resize of 1 → 4 positions"):
        _resize_reads("upsample_linear1d", 1, 4, None, True)


def test_a_model_resizing_one_position_with_align_corners_says_it_is_not_followed():
    """The caller of the refusal above: conv 3 on 3×8 leaves 1×6, bilinear with align_corners to 4×6 reads H's one
    position at every output (source 0·(1 − 1)/(4 − 1)); the row after it says "a resize of 1 → 4 positions: not
    followed", no number."""
    class OneRowUp(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return self.b(nn.functional.interpolate(self.a(x), size=(4, 6), mode="bilinear", align_corners=True))

    row = rf_of(OneRowUp(), torch.rand(1, 1, 3, 8)).row("b")
    assert row.rf is None and "a resize of 1 → 4 positions: not followed" in row.note


def test_an_uneven_adaptive_pooling_of_an_unbatched_map_resizes_both_dims():
    """As batched (test_pixel_shuffle_and_uneven_adaptive_pooling): conv 3 on an unbatched 1×16×16 map (14×14),
    adaptive pooling to 5×7: H pools 3 or 4 of the conv's positions (fields 5 or 6, jump 14/5), W 2 (field 4,
    jump 2); output (0, 0) sees 0…4 × 0…3, output (1, 0) rows 2…7."""
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d((5, 7)))
    row = rf_of(m, torch.rand(1, 16, 16)).row("1")
    assert (row.rf, row.jump) == ((6, 4), (Fraction(14, 5), 2))
    assert (row.box((0, 0)), row.box((1, 0))) == (((0, 4), (0, 3)), ((2, 7), (0, 3)))


def test_a_pixel_shuffle_with_a_spatial_axis_at_its_channels_is_not_followed():
    """A conv's 4×8×8 map permuted to N×H×C×W, then pixel_shuffle(2): H (8 rows) is the shuffle's channel axis,
    spread over the output's positions: said, not followed."""
    class Sideways(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.head = nn.Conv2d(1, 4, 3), nn.Conv2d(2, 1, 1)

        def forward(self, x):
            return self.head(nn.functional.pixel_shuffle(self.c1(x).permute(0, 2, 1, 3), 2))

    row = rf_of(Sideways(), torch.rand(1, 1, 10, 10)).row("head")
    assert row.rf is None and "a pixel shuffle moves channels into positions along spatial dimension 0" in row.note


def test_an_upsampling_of_channels_with_different_fields_takes_their_union():
    """cat(conv 3(x), x) → nearest ×2: output y reads position ⌊y/2⌋ of every channel, whose union is the conv's
    3×3 (unlike a pixel shuffle, which spreads the channels over positions): field 3, jump ½, start 0 (padding 1)."""
    class CatUp(nn.Module):
        def __init__(self):
            super().__init__()
            self.c3, self.up = nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x):
            return self.up(torch.cat([self.c3(x), x], 1))

    row = rf_of(CatUp(), torch.rand(1, 1, 6, 6)).row("up")
    assert (row.rf, row.jump, row.start) == ((3, 3), (Fraction(1, 2),) * 2, (0.0, 0.0))


def test_a_report_with_profile_options_is_refused():
    rep = torchcount.profile(nn.Sequential(nn.Conv2d(1, 1, 3)), torch.rand(1, 1, 8, 8))
    with pytest.raises(TypeError, match="inputs and profile options apply to a model only"):
        receptive_field(rep, input_size=(1, 1, 8, 8))


def test_method_forward_is_the_forward_and_followed():
    """method="forward" names the forward itself, so it is followed like no method at all: one Conv2d 3×3 on
    6×6 has a 3×3 field, jump 1, start 1 (the centre of output 0's field, inputs 0..2); any other method is
    refused (tests/test_method.py)."""
    rf = torchcount.receptive_field(nn.Conv2d(1, 1, 3), torch.randn(1, 1, 6, 6), method="forward")
    (row,) = rf.rows
    assert (row.rf, row.jump, row.start) == ((3, 3), (1, 1), (1, 1))


class _ResizeOfWAndChannels(nn.Module):
    """A conv's 2×6×6 map permuted to N×H×W×C, then resized over its last two axes (W and the channels): H sits
    just before the resized axes and keeps its positions."""

    def __init__(self, resize, channels_out):
        super().__init__()
        self.a, self.b, self.resize = nn.Conv2d(1, 2, 3), nn.Conv2d(channels_out, 1, 3), resize

    def forward(self, x):
        return self.b(self.resize(self.a(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_a_resize_of_a_channels_last_map_keeps_the_axis_before_it(mode):
    """Nearest ×2 over (W, C) of the 1×6×6×2 map: W's output x reads a's ⌊x/2⌋ (both modes: ⌊(x + ½)/2⌋ is
    ⌊x/2⌋), H is not resized. b (3×3) then sees along H conv 3 · conv 3: 5, jump 1, start 2; along W b's x reads
    a's ⌊x/2⌋ … ⌊x/2⌋ + 1, the input's ⌊x/2⌋ … ⌊x/2⌋ + 3: 4, jump ½, start 1.5. The gradient footprint agrees
    at three outputs. (A pixel shuffle's refusal of an axis before its own, taken for every resize, said "not
    followed"; the axis before them resized by the last scale, 2 on 6 → 6 positions, read other positions than
    nearest-exact's formula says.)"""
    model = _ResizeOfWAndChannels(lambda y: nn.functional.interpolate(y, scale_factor=2, mode=mode), 4)
    row = rf_of(model, torch.rand(1, 1, 8, 8)).row("b")
    assert (row.rf, row.jump, row.start) == ((5, 4), (1, Fraction(1, 2)), (2.0, 1.5))
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    for position in [(1, 1), (2, 3), (2, 4)]:
        assert _footprint_box(_positive(model), x, "b", (0, 0, *position)) == row.box(position)


def test_an_adaptive_pooling_of_a_channels_last_map_keeps_the_axis_before_it():
    """Adaptive pooling to (4, 2) over (W, C) of the 1×6×6×2 map: W's output x pools a's ⌊1.5x⌋ … ⌈1.5(x + 1)⌉ − 1
    (0–1, 1–2, 3–4, 4–5), H is not pooled. b (3×3) sees along H 5, jump 1, start 2; along W its x = 0 reads
    pooled 0…2, a's 0…4, the input's 0…6: 7, jump 3/2, start 3; the gradient footprint agrees."""
    model = _ResizeOfWAndChannels(lambda y: nn.functional.adaptive_avg_pool2d(y, (4, 2)), 2)
    row = rf_of(model, torch.rand(1, 1, 8, 8)).row("b")
    assert (row.rf, row.jump, row.start) == ((5, 7), (1, Fraction(3, 2)), (2.0, 3.0))
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    for position in [(0, 0), (2, 1)]:
        assert _footprint_box(_positive(model), x, "b", (0, 0, *position)) == row.box(position)


def test_an_op_on_a_one_position_map_is_not_taken_for_a_reduction_over_every_position():
    """A 3×3 conv of stride 3 on 5×5 makes a 1×1 map that sees the input's 0…2 × 0…2 alone; a flip of it (no rule
    follows it) is said, not "whole input (5×5)": the gradient of b's output is zero at rows and columns 3 and 4.
    (Any op with a 1×1 output was taken for a reduction over every position, whatever its input's size.)"""
    class FlipOfOnePosition(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 2, 3, stride=3), nn.Conv2d(2, 1, 1)

        def forward(self, x):
            return self.b(self.a(x).flip(-1))

    model = FlipOfOnePosition()
    row = rf_of(model, torch.rand(1, 1, 5, 5)).row("b")
    assert row.kind == "unknown" and "flip changes the spatial layout" in row.note
    assert _footprint_box(_positive(model), torch.rand(1, 1, 5, 5, dtype=torch.float64), "b", (0, 0, 0, 0)) \
        == ((0, 2), (0, 2))


def test_a_model_given_an_input_size_is_followed_on_inputs_made_of_it():
    """receptive_field(model, input_size=…) makes the inputs as profile does (float32 on the model's device, or
    the dtype given), and the traced forward reads those same inputs: a Conv2d 3×3 on 8×8 has field 3×3, jump 1,
    start 1, and the forward saw a 1×1×8×8 tensor of that dtype in the profile and in the trace. Neither inputs
    nor input_size, or both, is profile's error."""
    class Recorded(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.seen = nn.Conv2d(1, 1, 3), []

        def forward(self, x):
            self.seen.append((x.dtype, tuple(x.shape)))
            return self.c(x)

    for model, options, dtype in [(Recorded(), {}, torch.float32),
                                  (Recorded().double(), {"dtype": torch.float64, "device": "cpu"}, torch.float64)]:
        (row,) = receptive_field(model, input_size=(1, 1, 8, 8), **options).rows
        assert (row.rf, row.jump, row.start) == ((3, 3), (1, 1), (1.0, 1.0))
        assert model.seen == [(dtype, (1, 1, 8, 8))] * 2
    with pytest.raises(ValueError, match="needs inputs .* or input_size="):
        receptive_field(Recorded())
    with pytest.raises(ValueError, match="give either inputs or input_size, not both"):
        receptive_field(Recorded(), torch.rand(1, 1, 8, 8), input_size=(1, 1, 6, 6))


def test_a_model_with_an_op_without_a_cost_formula_is_followed_without_a_warning():
    """The profile made here is for the layers' shapes, not their cost: an eigvalsh after a Conv2d 3×3 (no cost
    formula; profile() itself warns of it) gives no UncountedWarning, and the conv's field is 3×3, jump 1."""
    class EigvalsAfterAConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            y = self.c(x)[0, 0, :2, :2]
            return torch.linalg.eigvalsh(y @ y.T)

    x = torch.rand(1, 1, 6, 6)
    with pytest.warns(torchcount.UncountedWarning):
        torchcount.profile(EigvalsAfterAConv(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torchcount.UncountedWarning)
        row = receptive_field(EigvalsAfterAConv(), x).row("c")
    assert (row.rf, row.jump) == ((3, 3), (1, 1))


def test_a_method_refused_is_named_by_its_name_or_its_type():
    """A method other than the forward is refused, named as the user wrote it: a name by its repr, a function by
    its __name__, a callable object without one by its type (never None, nor a repr with an address)."""
    class Twice:
        def __call__(self, model, x):
            return model(x) + model(x)

    def twice(model, x):
        return model(x) + model(x)

    for method, shown in [("generate", "'generate'"), (twice, "twice"), (Twice(), "Twice")]:
        with pytest.raises(TypeError, match=f"method={shown} is not supported"):
            receptive_field(nn.Conv2d(1, 1, 3), torch.rand(1, 1, 6, 6), method=method)


def test_without_a_window_layer_a_report_alone_or_a_model_on_a_1d_input_is_refused():
    """Without a conv or pooling module the stack's dims come from the model's own ops, which a report alone has
    not kept: a report of a Linear + ReLU on 1×5×8 is refused as having no window layer (it walked the report's
    rows as a 1-D stack). A Linear on an 8-vector (rank 1: no spatial dimension at all) is refused the same way,
    before any forward is traced."""
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    refused = "no convolution or pooling layer found; the receptive field is defined for conv/pool stacks"
    with pytest.raises(ValueError, match=refused):
        receptive_field(torchcount.profile(model, torch.randn(1, 5, 8)))
    with pytest.raises(ValueError, match=refused):
        receptive_field(model, torch.randn(8))


def test_a_one_d_stack_of_functional_windows_is_followed():
    """As the 2-D one in test_a_model_without_windows_on_a_3d_input_is_refused_as_on_a_2d_one, on an N×C×L input
    (rank 3: one spatial dimension): F.conv1d 3 then F.max_pool1d 2 give RF 3 + 1·1 = 4, jump 2, start 1 + ½ = 1.5
    (it was refused as having no window, the rank taken for a 2-D stack's only)."""
    class Functional1d(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(2, 1, 3))

        def forward(self, x):
            return nn.functional.max_pool1d(torch.relu(nn.functional.conv1d(x, self.w)), 2)

    rf = receptive_field(Functional1d(), torch.randn(1, 1, 10))
    assert rf.dims == 1 and (rf.rows[-1].rf, rf.rows[-1].jump, rf.rows[-1].start) == ((4,), (2,), (1.5,))


def test_profile_options_keywords_reach_the_traced_forward():
    """kwargs= (profile's keyword inputs) are passed to the traced forward too: forward(x, pool=True) runs a 2×2
    max pool after the conv 3, so the head (conv 3) sees 3 + 1·1 + 2·2 = 8, jump 2, start 0 + 1 + ½ + 1·2 = 3.5;
    without the keyword (pool=False), the trace would run another forward than the profile's: 5, jump 1."""
    class MaybePooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.head = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 1, 3)

        def forward(self, x, pool=False):
            y = self.c(x)
            return self.head(nn.functional.max_pool2d(y, 2) if pool else y)

    row = receptive_field(MaybePooled(), torch.rand(1, 1, 12, 12), kwargs={"pool": True}).row("head")
    assert (row.rf, row.jump, row.start) == ((8, 8), (2, 2), (3.5, 3.5))
    row = receptive_field(MaybePooled(), torch.rand(1, 1, 12, 12)).row("head")
    assert (row.rf, row.jump, row.start) == ((5, 5), (1, 1), (2.0, 2.0))


def test_a_report_alone_of_layers_that_run_every_window_has_no_lower_bound_note():
    """The "at least" note is for a module that runs a window op outside its layers: a bare Conv2d (the root is
    the layer, its window term its own) and a module whose forward calls a Conv2d and a ReLU and doubles their
    output (its own work: a multiplication, not a window) have none; the fields are the conv's 3×3, jump 1,
    start 1 (as with the model)."""
    class ConvReLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.act = nn.Conv2d(1, 1, 3), nn.ReLU()

        def forward(self, x):
            return self.act(self.c(x)) * 2

    x = torch.rand(1, 1, 8, 8)
    for model in (nn.Conv2d(1, 1, 3), ConvReLU()):
        rows = receptive_field(torchcount.profile(model, x)).rows
        assert [(r.rf, r.jump, r.start, r.note) for r in rows] == [((3, 3), (1, 1), (1.0, 1.0), "")] * len(rows)


def test_a_report_alone_stays_global_after_a_global_layer_and_names_a_layer_given_no_tensor():
    """From a report alone, which tensor a layer reads is looked up while its fields are windows only: after a
    global pooling, the Flatten and the Linear read tensors no window made (1×2×1×1, 1×2) and are still "whole
    input (12×10)", as with the model; a layer given no tensor at all (a grid made from an int) after a conv is
    said to have no rule (its input shape was looked up: a crash on None)."""
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    rows = receptive_field(torchcount.profile(m, torch.rand(1, 1, 12, 10))).rows
    assert [(r.kind, r.rf) for r in rows] == [("window", (3, 3))] + [("global", (12, 10))] * 3

    class Grid(nn.Module):
        def forward(self, n):
            return torch.ones(1, 1, n, n)

    class GridAfterAConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.grid = nn.Conv2d(1, 1, 3), Grid()

        def forward(self, x):
            y = self.c(x)
            return y * self.grid(y.shape[-1])

    rows = receptive_field(torchcount.profile(GridAfterAConv(), torch.rand(1, 1, 8, 8))).rows
    assert [(r.path, r.kind, r.rf) for r in rows] == [("c", "window", (3, 3)), ("grid", "unknown", None)]
    assert rows[1].note == "no receptive-field rule for Grid; later layers not computed"


def test_the_input_size_of_an_unbatched_signal_after_a_condition_is_the_signals():
    """As test_the_input_size_is_the_spatial_inputs_when_another_layer_runs_first, unbatched: a 3-vector condition
    is embedded before the 2×20 signal (C×L, rank 2 for a 1-D stack) is convolved: the input is the signal's 20
    positions (the condition's 3 is the first input, of rank 1), and the global pool sees "whole input (20)"."""
    class Conditioned(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.c, self.pool = nn.Linear(3, 2), nn.Conv1d(2, 2, 3, stride=2), nn.AdaptiveAvgPool1d(1)

        def forward(self, cond, x):
            e = self.emb(cond)[..., None]
            return self.pool(self.c(x) + e)

    rf = receptive_field(Conditioned(), (torch.rand(3), torch.rand(2, 20)))
    assert rf.input_size == (20,) and (rf.row("c").rf, rf.row("c").jump) == ((3,), (2,))
    assert (rf.row("pool").kind, rf.row("pool").rf) == ("global", (20,))


def test_a_report_alone_refuses_a_reused_window_layer_but_not_a_reused_activation():
    """From a report alone, a layer's calls are summed into one row: a conv called twice is not one layer of a
    chain (said: "called 2 times"), while a ReLU called twice is per position whatever its calls. ReLU twice then
    conv 3 with padding 1: RF 1, then 3×3, jump 1, start 0."""
    class Reused(nn.Module):
        def __init__(self, conv_calls):
            super().__init__()
            self.act, self.c, self.conv_calls = nn.ReLU(), nn.Conv2d(1, 1, 3, padding=1), conv_calls

        def forward(self, x):
            x = self.act(self.act(x))
            for _ in range(self.conv_calls):
                x = self.c(x)
            return x

    x = torch.rand(1, 1, 8, 8)
    rows = receptive_field(torchcount.profile(Reused(1), x)).rows
    assert [(r.kind, r.rf, r.jump, r.start) for r in rows] == [("pointwise", (1, 1), (1, 1), (0.0, 0.0)),
                                                               ("window", (3, 3), (1, 1), (0.0, 0.0))]
    row = receptive_field(torchcount.profile(Reused(2), x)).row("c")
    assert row.kind == "unknown" and row.note.startswith("called 2 times (a reused module)")


def test_functional_windows_take_the_models_input_whatever_its_first_layer_reads():
    """Without a conv or pooling module the stack's dims and its input come from the model's own input (1×1×8×8:
    2-D, input 8×8), not from its first layer's: F.conv2d 3×3 then a ReLU module gave "input 6×6" (the ReLU's),
    and a first layer that embeds a 1×3 condition, or takes no tensor at all (a grid made from an int), had the
    model refused ("no convolution or pooling layer found"). Each output sees conv 3's 3×3, jump 1, start 1."""
    class ConvThenReLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.act = nn.Parameter(torch.rand(2, 1, 3, 3)), nn.ReLU()

        def forward(self, x):
            return self.act(nn.functional.conv2d(x, self.w))

    class EmbeddedFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.emb = nn.Parameter(torch.rand(2, 1, 3, 3)), nn.Linear(3, 2)

        def forward(self, cond, x):
            return nn.functional.conv2d(x, self.w) * self.emb(cond)[:, :, None, None]

    class Grid(nn.Module):
        def forward(self, n):
            return torch.ones(1, 1, n, n)

    class GridFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.grid = nn.Parameter(torch.rand(2, 1, 3, 3)), Grid()

        def forward(self, x):
            return nn.functional.conv2d(x * self.grid(x.shape[-1]), self.w)

    x = torch.rand(1, 1, 8, 8)
    for model, inputs, path in [(ConvThenReLU(), x, "act"), (EmbeddedFirst(), (torch.rand(1, 3), x), "(output)"),
                                (GridFirst(), x, "(output)")]:
        rf = receptive_field(model, inputs)
        row = rf.row(path)
        assert (rf.dims, rf.input_size) == (2, (8, 8)) and "(2-D, input 8×8)" in rf.table()
        assert (row.rf, row.jump, row.start) == ((3, 3), (1, 1), (1.0, 1.0))


def test_a_custom_op_named_as_an_aten_op_is_not_taken_for_it():
    """The data flow knows ATen's ops by name; a library's ``tcrf::pixel_shuffle`` that really flips
    its 6×6 input (same size, spacing 1) was taken for ATen's pixel shuffle, and the 1×1 conv after it
    read RF 3×3 with jump ½ (a pixel shuffle's ×2 finer grid). An op of another namespace is not
    followed: the conv before it keeps RF 3, jump 1, start 1; the layer after it is said not to be
    described, naming the op."""
    lib = torch.library.Library("tcrf", "DEF")
    lib.define("pixel_shuffle(Tensor x, int r) -> Tensor")
    lib.impl("pixel_shuffle", lambda x, r: x.flip(-1).clone(), "CompositeExplicitAutograd")

    class Flips(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 1, 1)

        def forward(self, x):
            return self.b(torch.ops.tcrf.pixel_shuffle(self.a(x), 2))

    rows = {r.path: r for r in torchcount.receptive_field(Flips(), torch.rand(1, 1, 8, 8)).rows}
    assert (rows["a"].rf, rows["a"].jump, rows["a"].start) == ((3, 3), (1, 1), (1, 1))
    assert rows["b"].rf is None and rows["b"].jump is None
    assert "tcrf::pixel_shuffle" in rows["b"].note
