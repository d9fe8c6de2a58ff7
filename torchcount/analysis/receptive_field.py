"""Receptive field, effective stride (jump) and start offset per layer of a conv/pool stack.

For each spatial dimension, through a layer with kernel k, stride s, dilation d and left
padding p (effective kernel k' = d·(k − 1) + 1), the standard recurrence is::

    RF_out    = RF_in + (k' − 1)·jump_in          (spec §3: RF_n = RF_{n−1} + (k_n − 1)·∏_{i<n} s_i)
    jump_out  = jump_in·s                          (distance in input pixels between adjacent outputs)
    start_out = start_in + ((k' − 1)/2 − p)·jump_in

``start`` is the centre of the first output element's receptive field in input coordinates
(0 = centre of the first input element), so it can be negative with padding and is a half
integer for even kernels. Initial state: RF 1, jump 1, start 0.

The recurrence is computed position by position (:class:`Reach`): output x of a layer sees input
positions lo(x)…hi(x). After windows these are affine in x and give the three numbers above. An
upsampling (an interpolation, a transposed convolution, a pixel shuffle) or an adaptive pooling with
uneven windows makes them repeat a pattern instead: the jump becomes a fraction (input positions per
output, on average) and the field's size may depend on the position (the largest is given).

The window each layer applies is per-layer knowledge like a cost rule: one small pure function per
layer type below (:data:`WINDOW_RULES`). Given the model, the data flow is followed through one
traced forward (:class:`_DataFlow`); given a report alone, layers are walked in call order and
which tensor a layer reads is inferred from shapes. Layers the recurrence cannot describe —
global pooling, attention, recurrent layers, anything without a window rule — are reported as
such, never as a number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Any, Callable, Sequence

from tabulate import tabulate
from torch import nn

from ..report import check_tablefmt
from ..rules.pool import pooled_dims  # the dims a conv or pooling layer slides over

# ---------------------------------------------------------------------------------------
# per-layer window rules: module (+ input spatial size) → Window, or a Kind with a reason


@dataclass(frozen=True)
class Window:
    """The sliding window a layer applies, per spatial dimension (``padding`` = left padding)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[int, ...]
    #: a transposed convolution (``padding`` is its ``padding``: it trims the output)
    transposed: bool = False

    @property
    def dims(self) -> int:
        return len(self.kernel)


@dataclass(frozen=True)
class Kind:
    """What a layer does to the receptive field when it is not a sliding window.

    ``kind``: ``"pointwise"`` (RF unchanged), ``"global"`` (every output sees the whole
    input), ``"flatten"`` (spatial layout lost; later layers are global), ``"ops"`` (given the
    model, followed through the ops it runs: an upsampling; from a report alone, unknown) or
    ``"unknown"``."""

    kind: str
    reason: str


def _tup(value, n: int) -> tuple:
    """``value`` per dimension, as ints (``None``, adaptive pooling's "keep this size", kept)."""
    if isinstance(value, (tuple, list)):
        value = tuple(None if v is None else int(v) for v in value)
        return value * n if len(value) == 1 and n > 1 else value
    return (None if value is None else int(value),) * n


def conv_window(m: nn.Module, in_sizes: tuple[int, ...]) -> Window | Kind:
    n = len(m.kernel_size)
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return Window(_tup(m.kernel_size, n), _tup(m.stride, n), _tup(m.dilation, n), _tup(m.padding, n),
                      transposed=True)
    k, s, d = _tup(m.kernel_size, n), _tup(m.stride, n), _tup(m.dilation, n)
    if isinstance(m.padding, str):
        # 'same' pads d·(k−1) in total, the smaller half on the left (as torch does); 'valid' pads 0
        p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d)) if m.padding == "same" else (0,) * n
    else:
        p = _tup(m.padding, n)
    return Window(k, s, d, p)


def pool_window(m: nn.Module, in_sizes: tuple[int, ...]) -> Window | Kind:
    n = pooled_dims(m)
    k = _tup(m.kernel_size, n)
    s = _tup(m.stride if m.stride is not None else m.kernel_size, n)
    d = _tup(getattr(m, "dilation", 1), n)
    p = _tup(getattr(m, "padding", 0), n)
    return Window(k, s, d, p)


def adaptive_pool_window(m: nn.Module, in_sizes: tuple[int, ...]) -> Window | Kind:
    # it pools its own number of dims, the last ones: an AdaptiveAvgPool1d of a B×H×W map pools W alone (it
    # took H's size for W's window too, and gave H a jump it does not have)
    n = pooled_dims(m)
    if 0 < len(in_sizes) < n:
        return Kind("unknown", f"{n}-D adaptive pooling of a tensor with {len(in_sizes)} spatial dimension(s)")
    every_dim = len(in_sizes) <= n  # (none known: the input's field is not a window's either)
    in_sizes = tuple(in_sizes[max(len(in_sizes) - n, 0):])
    out = _tup(m.output_size, n)
    out = tuple(i if o is None else o for o, i in zip(out, in_sizes))
    if all(o == 1 for o in out) and every_dim:
        return Kind("global", "global pooling: every output sees the whole input")
    if all(i % o == 0 for i, o in zip(in_sizes, out)):
        # evenly divisible: a plain window of In/Out with stride In/Out
        k = tuple(i // o for i, o in zip(in_sizes, out))
        return Window(k, k, (1,) * len(k), (0,) * len(k))
    return Kind("ops", f"adaptive pooling {tuple(in_sizes)} → {out}: windows of varying size, followed "
                       f"through the ops it runs, given the model and its inputs")


def pointwise(m: nn.Module, in_sizes) -> Kind:
    return Kind("pointwise", "element-wise or per-position: receptive field unchanged")


def flatten(m: nn.Module, in_sizes) -> Kind:
    return Kind("flatten", "flattens the spatial layout: later layers see the whole input")


def linear(m: nn.Module, in_sizes) -> Kind:
    return Kind("unknown", "linear layer on a spatial tensor (acts along the last dimension)")


def softmax(m: nn.Module, in_sizes) -> Kind:
    if m.dim in (1, -len(in_sizes) - 1):
        return Kind("pointwise", "softmax over channels: per position")
    return Kind("unknown", f"softmax over dim {m.dim}: mixes positions")


def attention(m: nn.Module, in_sizes) -> Kind:
    return Kind("unknown", "attention: each output may depend on every input position "
                           "(no fixed window)")


def recurrent(m: nn.Module, in_sizes) -> Kind:
    return Kind("unknown", "recurrent: output t depends on every input up to t (no fixed window)")


def pixel_unshuffle_window(m: nn.Module, in_sizes) -> Window:
    """Space-to-depth: each output position takes an r×r block of input positions into its channels."""
    r = int(m.downscale_factor)
    return Window((r, r), (r, r), (1, 1), (0, 0))


def upsample(m: nn.Module, in_sizes) -> Kind:
    return Kind("ops", "upsampling: followed through the ops it runs, given the model and its inputs")


_POINTWISE_TYPES: tuple[type, ...] = tuple(
    t for t in (
        nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
        nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
        nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.GroupNorm, nn.LocalResponseNorm,
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU,
        nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
        nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.LogSigmoid,
        nn.Threshold, nn.ChannelShuffle,
    ) if t is not None
)
#: per-position types that act along the channel axis (dim 1): on a permuted tensor they are followed
#: through their ops instead
_CHANNEL_TYPES: tuple[type, ...] = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
    nn.InstanceNorm3d, nn.GroupNorm, nn.LocalResponseNorm, nn.ChannelShuffle)

#: module type → window rule (first matching base class wins, in this order)
WINDOW_RULES: list[tuple[tuple[type, ...], Callable]] = [
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
     conv_window),
    ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
      nn.LPPool1d, nn.LPPool2d, *[t for t in (getattr(nn, "LPPool3d", None),) if t is not None]), pool_window),
    ((nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
      nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d), adaptive_pool_window),
    (_POINTWISE_TYPES, pointwise),
    ((nn.Flatten,), flatten),
    ((nn.Linear, nn.Bilinear), linear),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmin), softmax),
    ((nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
      nn.TransformerEncoder, nn.TransformerDecoder, nn.Transformer), attention),
    ((nn.RNNBase, nn.RNNCellBase), recurrent),
    ((nn.PixelUnshuffle,), pixel_unshuffle_window),
    ((nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, nn.PixelShuffle), upsample),
]


def window_rule_for(module: nn.Module) -> Callable | None:
    """The window rule of ``module``'s type; None for a subclass with a ``forward`` of its own (timm's
    ``Conv2dSame`` pads in its forward and keeps ``padding=0``: its attributes are not its window)."""
    if not type(module).forward.__module__.startswith("torch.nn."):
        return None
    for types, fn in WINDOW_RULES:
        if isinstance(module, types):
            return fn
    return None


# ---------------------------------------------------------------------------------------
# the recurrence, position by position
#
# Along one spatial dimension, a field says which input positions output position x sees: from lo(x) to
# hi(x). After windows, pads and crops these are affine (lo(x) = lo(0) + jump·x, the textbook's case); an
# upsampling or a transposed convolution makes them repeat a pattern instead (nearest ×2: output 2i and
# 2i + 1 both read input i). Both are quasi-affine maps, x ↦ table[x mod period] + shift·(x div period),
# which compose into maps of the same kind; positions beyond a border follow the same pattern (the
# textbook's virtual positions in the padding).

#: a pattern longer than this is not followed (an interpolation by a scale such as 1.37 repeats only
#: after hundreds of positions)
_MAX_PERIOD = 1 << 12


class PatternTooLong(ValueError):
    """A composed field whose pattern repeats only after more than ``_MAX_PERIOD`` positions."""


@dataclass(frozen=True)
class IndexMap:
    """Positions x ↦ ``table[x mod period] + shift·(x div period)`` (Python's floor division, so negative
    x, beyond the first border, continue the pattern)."""

    period: int
    shift: int
    table: tuple[int, ...]

    def __call__(self, x: int) -> int:
        q, r = divmod(x, self.period)
        return self.table[r] + self.shift * q

    @property
    def slope(self):
        """Input positions per output position, on average: the jump (a fraction after an upsampling)."""
        j = Fraction(self.shift, self.period)
        return int(j) if j.denominator == 1 else j

    @property
    def monotone(self) -> bool:
        """Whether a later position never maps before an earlier one."""
        t = self.table
        return all(a <= b for a, b in zip(t, t[1:])) and t[-1] <= t[0] + self.shift

    def after(self, g: "IndexMap") -> "IndexMap":
        """self ∘ g: position x ↦ self(g(x))."""
        if g.shift <= 0:
            raise ValueError("a map of positions that does not advance")
        # g advances by a multiple of self's period after t of its own periods
        t = self.period // gcd(g.shift, self.period)
        period = g.period * t
        if period > _MAX_PERIOD:
            raise PatternTooLong(period)
        return IndexMap(period, self.shift * (g.shift * t // self.period),
                        tuple(self(g(x)) for x in range(period)))


def affine(start: int, step_: int) -> IndexMap:
    """x ↦ start + step·x."""
    return IndexMap(1, step_, (start,))


def _spread(maps: list, pick: Callable) -> IndexMap:
    """Position by position, ``pick`` (min or max) of maps with the same slope."""
    period = 1
    for m in maps:
        period = period * m.period // gcd(period, m.period)
    if period > _MAX_PERIOD:
        raise PatternTooLong(period)
    shift = maps[0].shift * (period // maps[0].period)
    return IndexMap(period, shift, tuple(pick(m(x) for m in maps) for x in range(period)))


@dataclass(frozen=True)
class Reach:
    """The field along one spatial dimension: output position x sees input positions lo(x)…hi(x)."""

    lo: IndexMap
    hi: IndexMap

    def through(self, g_lo: IndexMap, g_hi: IndexMap, gap: int = 1) -> "Reach":
        """After a step whose output x reads its input's positions g_lo(x), g_lo(x) + gap, …, g_hi(x) (both maps
        of one period and shift; ``gap``: a dilation's): the union of their fields."""
        if self.lo.monotone and self.hi.monotone:
            return Reach(self.lo.after(g_lo), self.hi.after(g_hi))  # (the range's ends have the extreme fields)
        # the union over the positions read, which is not its ends' fields where lo or hi goes back (a dilated
        # transposed convolution's taps reach its outputs out of order; a bicubic output at a whole source reads
        # one position, its neighbours four); not the positions in a dilated window's gaps, which it does not read
        lo, hi = self.lo.after(g_lo), self.hi.after(g_hi)  # (for the period and the shift)
        period = lo.period * hi.period // gcd(lo.period, hi.period)
        if period > _MAX_PERIOD:
            raise PatternTooLong(period)
        span = [range(g_lo(x), g_hi(x) + 1, gap) for x in range(period)]
        return Reach(IndexMap(period, lo.shift * (period // lo.period), tuple(min(map(self.lo, r)) for r in span)),
                     IndexMap(period, hi.shift * (period // hi.period), tuple(max(map(self.hi, r)) for r in span)))

    def sizes(self) -> list[int]:
        """The field's size at each position of one whole pattern."""
        period = self.lo.period * self.hi.period // gcd(self.lo.period, self.hi.period)
        return [self.hi(x) - self.lo(x) + 1 for x in range(period)]


@dataclass(frozen=True)
class State:
    """The field of a tensor's elements, one :class:`Reach` per spatial dimension; ``rf``, ``jump`` and
    ``start`` are the textbook's three numbers (``rf`` the largest field where it varies)."""

    reach: tuple[Reach, ...]
    #: the tensor's own positions per dimension, where known: a pattern longer than them (fields merged on a
    #: common grid, whose margins beyond the borders keep each operand's own pattern) counts those alone
    sizes: "tuple[int, ...] | None" = field(default=None, compare=False)

    def _sizes(self, d: int) -> list[int]:
        r, n = self.reach[d], self.sizes[d] if self.sizes is not None else 0
        if 0 < n < r.lo.period * r.hi.period // gcd(r.lo.period, r.hi.period):
            return [r.hi(x) - r.lo(x) + 1 for x in range(n)]
        return r.sizes()  # (every place in the pattern is at one of the tensor's positions)

    @property
    def rf(self) -> tuple[int, ...]:
        return tuple(max(self._sizes(d)) for d in range(len(self.reach)))

    @property
    def jump(self) -> tuple:
        return tuple(r.lo.slope for r in self.reach)

    @property
    def start(self) -> tuple[float, ...]:
        return tuple((r.lo(0) + r.hi(0)) / 2 for r in self.reach)

    def varying(self) -> "str | None":
        """Where the field's size depends on the position (after an upsampling): its range, per dimension."""
        ranges = [(min(s), max(s)) for s in (self._sizes(d) for d in range(len(self.reach)))]
        if all(a == b for a, b in ranges):
            return None
        return "×".join(f"{a}–{b}" if a != b else str(a) for a, b in ranges)


def _transposed_reads(k: int, s: int, d: int, p: int) -> tuple[IndexMap, IndexMap] | None:
    """Which input positions output x of a transposed convolution reads: those i with x = i·s − p + m·d
    for some tap m < k (the first and the last), a pattern of period s; None when some output reads none
    (a stride larger than the kernel's reach: those outputs are the bias alone)."""
    lo, hi = [], []
    for x in range(s):
        taps = [(x + p - m * d) // s for m in range(k) if (x + p - m * d) % s == 0]
        if not taps:
            return None
        lo.append(min(taps))
        hi.append(max(taps))
    return IndexMap(s, 1, tuple(lo)), IndexMap(s, 1, tuple(hi))


def step(state: State, w: Window) -> State:
    """One layer: output x of a window (kernel k, stride s, dilation d, left padding p; k' = d·(k − 1) + 1)
    reads positions x·s − p … x·s − p + k' − 1, which gives the module docstring's recurrence; a transposed
    convolution reads the positions that reach x through its taps."""
    reach = []
    sizes = state.sizes or (None,) * len(state.reach)
    for r, k, s, d, p, n in zip(state.reach, w.kernel, w.stride, w.dilation, w.padding, sizes):
        if w.transposed:
            reads = _transposed_reads(k, s, d, p)
            if reads is None:
                raise ValueError(f"a transposed convolution with stride {s} and kernel {k} (dilation {d}): some "
                                 f"outputs read no input")
            reach.append(_through(r, *reads, n, gap=d // gcd(d, s)))  # (the inputs reaching x: d/gcd(d, s) apart)
        else:
            k_eff = d * (k - 1) + 1
            reach.append(_through(r, affine(-p, s), affine(k_eff - 1 - p, s), n, gap=d))
    return State(tuple(reach))


def initial(dims: int) -> State:
    one = Reach(affine(0, 1), affine(0, 1))
    return State((one,) * dims)


# ---------------------------------------------------------------------------------------
# resizes: interpolations, pixel shuffles, adaptive pooling with uneven windows
#
# Output x reads input positions by a formula of x (PyTorch's, aten/src/ATen/native/UpSample.h and
# AdaptivePooling.h, in exact fractions), which repeats with a period: the reads are IndexMaps too.

_NEAREST = ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d")
_NEAREST_EXACT = ("_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d")
_LINEAR = ("upsample_linear1d", "upsample_bilinear2d", "upsample_trilinear3d")
_CUBIC = ("upsample_bicubic2d",)
_RESIZE_OPS = frozenset((*_NEAREST, *_NEAREST_EXACT, *_LINEAR, *_CUBIC))
_ADAPTIVE_OPS = frozenset(("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d",
                           "adaptive_max_pool3d", "adaptive_avg_pool2d", "adaptive_avg_pool3d"))
#: the largest probe (input × output positions of one dimension) that checks a resize's formula
_PROBE_LIMIT = 1 << 24


def _floor_map(ratio: Fraction, offset: Fraction, add: int = 0, ceil: bool = False) -> IndexMap:
    """x ↦ ⌊ratio·x + offset⌋ + add (⌈…⌉ with ``ceil``), a pattern of period ratio's denominator."""
    period, shift = ratio.denominator, ratio.numerator
    if period > _MAX_PERIOD:
        raise PatternTooLong(period)

    def one(x):
        v = ratio * x + offset
        return (-((-v.numerator) // v.denominator) if ceil else v.numerator // v.denominator) + add
    return IndexMap(period, shift, tuple(one(x) for x in range(period)))


def _resize_reads(name: str, n_in: int, n_out: int, scale, align_corners: bool) -> tuple[IndexMap, IndexMap]:
    """Which input positions output x of a resize reads (first, last), along one dimension: PyTorch's
    formulas, with ``scale`` the scale factor given (else the sizes' ratio)."""
    if align_corners and name not in _NEAREST + _NEAREST_EXACT:
        # (to one position: it reads position 0, as its source 0·ratio; any step beyond it will do)
        ratio = Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(n_in)
    elif scale is not None and scale > 0:
        ratio = Fraction(1 / scale).limit_denominator(_MAX_PERIOD)
    else:
        ratio = Fraction(n_in, n_out)
    if ratio <= 0:
        raise ValueError(f"a resize of {n_in} → {n_out} positions")
    if name in _NEAREST:
        if n_out == n_in:
            ratio = Fraction(1)
        elif n_out == 2 * n_in:
            ratio = Fraction(1, 2)  # (PyTorch's shortcut, whatever the scale given)
        m = _floor_map(ratio, Fraction(0))
        return m, m
    if name in _NEAREST_EXACT:
        m = _floor_map(ratio, ratio / 2)
        return m, m
    # linear and cubic: the source coordinate ratio·(x + ½) − ½ (ratio·x with align_corners)
    offset = Fraction(0) if align_corners else ratio / 2 - Fraction(1, 2)
    if name in _LINEAR:  # its floor and the next position (the same one where it is a whole number)
        return _floor_map(ratio, offset), _floor_map(ratio, offset, ceil=True)
    # cubic: four taps around the floor; a whole-number source reads its own position alone
    lo, hi = _floor_map(ratio, offset, -1), _floor_map(ratio, offset, 2)
    whole = _floor_map(ratio, offset, ceil=True)
    return (IndexMap(lo.period, lo.shift, tuple(w if w == l + 1 else l for l, w in zip(lo.table, whole.table))),
            IndexMap(hi.period, hi.shift, tuple(w if w == h - 2 else h for h, w in zip(hi.table, whole.table))))


def _widened(reads: tuple[IndexMap, IndexMap], slack: int = 1) -> tuple[IndexMap, IndexMap]:
    """``slack`` more positions on each side (for float rounding that PyTorch's kernel makes and exact fractions
    do not: a source coordinate just below a whole number reads the position before it too)."""
    lo, hi = reads
    return (IndexMap(lo.period, lo.shift, tuple(v - slack for v in lo.table)),
            IndexMap(hi.period, hi.shift, tuple(v + slack for v in hi.table)))


def _slack(name: str) -> int:
    """How many positions beyond its formula's a resize reads where float rounding moves a whole source coordinate
    off it: a linear one its next neighbour, a cubic one its two next (the taps around a source just off w:
    w − 2 … w + 1 or w − 1 … w + 2, where the formula reads w alone); a nearest one reads its neighbour
    instead."""
    return 2 if name in _CUBIC else 1


def _adaptive_reads(n_in: int, n_out: int) -> tuple[IndexMap, IndexMap]:
    """Adaptive pooling: output x pools input positions ⌊x·In/Out⌋ … ⌈(x + 1)·In/Out⌉ − 1."""
    ratio = Fraction(n_in, n_out)
    return _floor_map(ratio, Fraction(0)), _floor_map(ratio, ratio, -1, ceil=True)


def _probe_reads(func, args, kwargs, src, out, j: int, n: int) -> "tuple[list, list] | None":
    """The input positions each output position of dimension j (of the op's last n) actually reads, from the
    op itself run on a one-hot probe per input position (the other dimensions of size 1); None when too large."""
    import torch

    n_in, n_out = src.shape[src.dim() - n + j], out.shape[out.dim() - n + j]
    if n_in * n_out > _PROBE_LIMIT:
        return None
    dtype = torch.float64 if src.dtype == torch.float64 else torch.float32
    shape = [1] * n
    shape[j] = n_in
    # (on the tensor's own device, whose kernel may round otherwise; a meta tensor's on the CPU)
    device = src.device if src.device.type != "meta" else torch.device("cpu")
    probe = torch.eye(n_in, dtype=dtype, device=device).reshape(1, n_in, *shape)
    sizes = [1] * n
    sizes[j] = n_out
    new = []
    schema = func._schema.arguments
    for i, a in enumerate(schema):
        v = args[i] if i < len(args) else kwargs.get(a.name, a.default_value if a.has_default_value() else None)
        if i == 0:
            v = probe
        elif a.name == "output_size":
            v = sizes if v is not None else None
        elif a.name == "scale_factors" and v is not None:
            v = [1.0 if k != j else v[j] for k in range(n)]
        elif a.name.startswith("scales"):
            spatial = [s.name for s in schema if s.name.startswith("scales")]
            v = v if spatial.index(a.name) == len(spatial) - n + j else None
        new.append(v)
    weights = func(*new).reshape(n_in, n_out) != 0
    read = weights.any(0)
    if not bool(read.all()):
        return [], []
    first = weights.to(torch.int8).argmax(0)
    last = n_in - 1 - weights.flip(0).to(torch.int8).argmax(0)
    return first.tolist(), last.tolist()


def _within(reads: tuple[IndexMap, IndexMap], probed: tuple[list, list]) -> bool:
    lo, hi = reads
    return all(lo(x) <= a and b <= hi(x) for x, (a, b) in enumerate(zip(*probed)))


def _fitted(reads: tuple[IndexMap, IndexMap], probed: tuple[list, list],
            slack: int = 1) -> "tuple[IndexMap, IndexMap] | None":
    """The formula's reads, but the op's own where they go beyond them: float rounding puts a source coordinate
    just off a whole number, so the op reads a neighbour too (linear, cubic: with a weight of 1e-15), or instead
    (nearest), at some outputs, not at others of the same place in the pattern. The pattern is made as long as
    the output (the op's reads there, the formula's beyond); where that passes ``_MAX_PERIOD``, the places in
    the pattern where some output reads otherwise take both at every output. None where ``slack`` positions
    more do not cover the op's reads. (Widening every output by one on each side made a linear 47 → 91 read
    four positions everywhere, for one output's rounding.)"""
    n_out = len(probed[0])
    off = [x for x, (a, b) in enumerate(zip(*probed)) if a < reads[0](x) or b > reads[1](x)]

    def fit(m: IndexMap, probe: list, pick: Callable) -> IndexMap:
        reps = -(-n_out // m.period)
        whole = m.period * reps <= _MAX_PERIOD  # (one place in the pattern per output)
        table = [m(x) for x in range(m.period * (reps if whole else 1))]
        for x in off:
            q, r = divmod(x, len(table))
            v = probe[x] - m.shift * (len(table) // m.period) * q
            table[r] = v if whole else pick(table[r], v)
        return IndexMap(len(table), m.shift * (len(table) // m.period), tuple(table))

    lo, hi = fit(reads[0], probed[0], min), fit(reads[1], probed[1], max)
    if any(lo(x) < reads[0](x) - slack or hi(x) > reads[1](x) + slack for x in range(max(lo.period, hi.period))):
        return None
    return lo, hi


@dataclass
class RFRow:
    path: str
    type: str
    kind: str  # "window", "pointwise", "global", "flatten", "unknown", "input"
    window: Window | None
    #: None: not known (see note); for "global": the input extent; where the field's size depends on the
    #: position (after an upsampling), the largest (the note gives the range)
    rf: tuple[int, ...] | None
    #: input positions between neighbouring outputs: an int, or a Fraction after an upsampling (on average)
    jump: tuple | None
    start: tuple[float, ...] | None
    note: str = ""
    #: on a "global" row whose whole-input field comes through a global gate or pooled context (a
    #: squeeze-and-excitation block): the field along its windows alone, as a textbook counts it (None elsewhere)
    local_rf: tuple[int, ...] | None = None
    local_jump: tuple | None = None
    #: per spatial dimension, which input positions each output position sees (where ``rf`` is a number)
    reach: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path or "(root)"

    def box(self, position: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """The input positions the output element at ``position`` (its spatial indices) sees: per spatial
        dimension (first, last), in input positions, beyond the input's borders where padding reaches."""
        if self.reach is None:
            raise ValueError(f"layer '{self.name}' has no receptive field to give per position: {self.note}")
        if len(position) != len(self.reach):
            raise ValueError(f"layer '{self.name}': a position needs {len(self.reach)} spatial indices, got "
                             f"{len(position)}")
        return tuple((r.lo(int(x)), r.hi(int(x))) for r, x in zip(self.reach, position))


@dataclass
class ReceptiveFieldReport:
    """Per layer: receptive field, jump and start offset (per spatial dimension)."""

    model_name: str
    dims: int
    input_size: tuple[int, ...]
    rows: list[RFRow] = field(default_factory=list)
    #: how the layers were linked: "data flow" (a model was given: one traced forward) or "shapes"
    #: (a report was given: inferred from shapes, exact for chains and residual blocks only)
    method: str = "data flow"
    #: the torchcount report the layers come from: the one given, or the profile made here of the
    #: model given; with ``annotate``, its rows carry the ``RF``, ``jump`` and ``start`` columns
    report: Any = field(default=None, repr=False, compare=False)

    def row(self, path: str) -> RFRow:
        for r in self.rows:
            if r.path == path:
                return r
        raise KeyError(f"no layer '{path}' in this receptive-field report; layers: "
                       f"{', '.join(repr(r.path) for r in self.rows[:8])}")

    @property
    def rf(self) -> list[tuple[int, ...] | None]:
        return [r.rf for r in self.rows]

    def table(self, tablefmt: str = "simple") -> str:
        check_tablefmt(tablefmt)
        body = []
        for r in self.rows:
            w = r.window
            body.append([
                r.name, r.type,
                _fmt(w.kernel) if w else "", _fmt(w.stride) if w else "", _fmt(w.dilation) if w else "",
                _fmt(w.padding) if w else "",
                _rf_text(r), _fmt(r.jump) if r.jump else "", _fmt(r.start) if r.start else "",
                r.note,
            ])
        text = tabulate(body, headers=["module", "type", "kernel", "stride", "dilation", "pad",
                                       "receptive field", "jump", "start", "note"],
                        tablefmt=tablefmt, disable_numparse=True)
        head = (f"{self.model_name} — receptive field per layer ({self.dims}-D, input "
                f"{_fmt(self.input_size)}); start = centre of the first output's field, "
                f"in input positions")
        if self.method == "shapes":
            head += ("\nfrom the report's shapes alone (which tensor a layer reads is inferred: exact for chains "
                     "and residual blocks); pass the model and its inputs to follow the data flow")
        return head + "\n" + text

    def __str__(self) -> str:
        return self.table()


def _fmt(values: Sequence) -> str:
    def one(v):
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)
    return "×".join(one(v) for v in values)


def _with_varying(note: str, state: State) -> str:
    """The note, and where the field's size depends on the position (after an upsampling), its range."""
    sizes = state.varying()
    if sizes is None:
        return note
    return "; ".join(filter(None, (note, f"the field's size depends on the position: {sizes} (the largest given)")))


def _rf_text(r: RFRow) -> str:
    if r.rf is None:
        return "—"
    text = _fmt(r.rf)
    return f"whole input ({text})" if r.kind == "global" else text


def _spatial(shape: tuple, dims: int) -> tuple[int, ...]:
    return tuple(shape[-dims:]) if len(shape) >= dims else ()


def _left_module(prev_path: str | None, path: str) -> bool:
    """True when the previous layer's enclosing module is not an enclosing module of this layer:
    that module's forward finished in between, where it may have merged branches."""
    if prev_path is None:
        return False
    parent = prev_path.rpartition(".")[0]
    return bool(parent) and not (path == parent or path.startswith(parent + "."))


def _source(shape_in: tuple, prev_out: tuple, state: State, seen: list,
            merge_possible: bool) -> tuple[State | None, str, bool]:
    """Which earlier tensor a layer reads, from shapes alone (the trace keeps no tensor identity).

    A chain reads the previous output. A layer whose input has another shape reads an earlier
    tensor of that shape (a branch, such as a residual's downsample). Right after an enclosing
    module finished (``merge_possible``), it may read a merge of branches (a residual sum sees the
    union of both fields). In both cases the field is the largest among the earlier tensors of
    that shape — exact for chains and residual blocks, an upper bound in general.
    Returns (state, note, ok)."""
    matches = [(st, who) for shape, st, who in seen if shape == shape_in]
    if not matches:
        return None, (f"input {_fmt(shape_in)} is not the shape of any earlier output (last: "
                      f"{_fmt(prev_out)}): not a chain, stopped here"), False
    if len({st.jump for st, _ in matches}) > 1:
        return None, (f"earlier outputs of shape {_fmt(shape_in)} have different jumps: cannot tell "
                      f"which one this layer reads; stopped here"), False
    best, who = max(matches, key=lambda m: (_area(m[0].rf), -matches.index(m)))
    if shape_in == prev_out and (not merge_possible or _area(best.rf) <= _area(state.rf)):
        return state, "", True  # a chain
    if shape_in == prev_out:
        return best, (f"merges branches (e.g. a residual sum): the largest field among earlier outputs "
                      f"of this shape, from '{who}'"), True
    return best, f"branch: reads an earlier output of shape {_fmt(shape_in)} (largest field: '{who}')", True


def _window_term(term) -> bool:
    """Whether a cost term is a convolution's or a pooling window's (rules/matmul.py, rules/pool.py)."""
    return term.formula == "∏weight·positions" or "kernel" in term.formula or "Σwindow" in term.formula


def _area(rf: tuple) -> int:
    n = 1
    for v in rf:
        n *= v
    return n


# ---------------------------------------------------------------------------------------
# the data flow: which tensor each layer reads, followed through one forward pass


@dataclass(frozen=True)
class _Global:
    """A tensor every element of which sees the whole input."""

    reason: str


@dataclass(frozen=True)
class _Unknown:
    """A tensor whose field the recurrence cannot describe."""

    reason: str


def _on_grid(reach: Reach, n: int, jump: Fraction, unit: int = 1) -> Reach:
    """The field along one dimension re-expressed as a pattern that advances by ``jump`` on average, exact at the
    tensor's own n positions: a pattern as long as those positions and margins on both sides, where each
    virtual position (read only as padding by later layers) keeps its own pattern's field. Its period is a
    multiple of ``unit`` (a next step's stride, so that the composed pattern is no longer)."""
    whole = jump.denominator * unit // gcd(jump.denominator, unit)
    for margin in (64, 2):  # (ample for later layers' padding; else the least)
        period = -(-(n + 2 * margin) // whole) * whole
        if period <= _MAX_PERIOD:
            break
    else:
        raise PatternTooLong(period)
    shift = int(jump * period)

    def table(m: IndexMap) -> IndexMap:
        # position r < period − margin is r itself; the last margin holds the first border's virtual ones,
        # r − period
        return IndexMap(period, shift, tuple(m(r) if r < period - margin else m(r - period) + shift
                                             for r in range(period)))

    return Reach(table(reach.lo), table(reach.hi))


def _through(reach: Reach, g_lo: IndexMap, g_hi: IndexMap, n: "int | None", gap: int = 1) -> Reach:
    """``reach.through``; where the composed pattern would be too long and the tensor's n positions are known
    (fields merged on a common grid, then upsampled), the field is first written out at those positions on a
    grid that the step's pattern divides."""
    try:
        return reach.through(g_lo, g_hi, gap)
    except PatternTooLong:
        if not n:
            raise
        return _on_grid(reach, n, Fraction(reach.lo.slope), g_lo.shift).through(g_lo, g_hi, gap)


def _union(states: list, what: str, sizes: tuple):
    """The field of an element computed from the same position of several tensors (a residual sum,
    a channel concatenation, a gate): per dimension the smallest interval holding every field. Fields with
    different average jumps (a skip connection and an upsampling with align_corners=True) are taken at the
    tensors' own positions (``sizes``), on the grid of the simplest jump."""
    unknown = [st for st in states if isinstance(st, _Unknown)]
    if unknown:
        return unknown[0]
    glob = [st for st in states if isinstance(st, _Global)]
    if glob:
        return _Global(f"{what} with a tensor that sees the whole input")
    reaches = [list(st.reach) for st in states]
    try:
        for d in range(len(reaches[0])):
            jumps = [Fraction(r[d].lo.slope) for r in reaches]
            if len(set(jumps)) > 1:
                grid = min(jumps, key=lambda j: (j.denominator, -j))
                for r in reaches:
                    r[d] = _on_grid(r[d], sizes[d], grid)
        return State(tuple(_spread_reach([r[d] for r in reaches], sizes[d])
                           for d in range(len(reaches[0]))))
    except PatternTooLong as exc:
        return _Unknown(f"{what}: the pattern of its fields repeats only every {exc} positions; not followed")


def _spread_reach(reaches: list, n: "int | None") -> Reach:
    """The union of fields with one average jump; where their patterns' periods make one too long, each is
    first written out at the tensor's n positions on one grid."""
    try:
        return Reach(_spread([r.lo for r in reaches], min), _spread([r.hi for r in reaches], max))
    except PatternTooLong:
        if not n:
            raise
        gridded = [_on_grid(r, n, Fraction(r.lo.slope)) for r in reaches]
        return Reach(_spread([r.lo for r in gridded], min), _spread([r.hi for r in gridded], max))


def _unfollowed(exc: ValueError) -> str:
    if isinstance(exc, PatternTooLong):
        return f"the pattern of fields repeats only every {exc} positions: not followed"
    return f"{exc}: not followed"


def _op_name(func) -> str:
    """The name the rules below know an op by: ATen's bare name (``pixel_shuffle``); another library's
    op qualified (``mylib::pixel_shuffle``), so that a custom op named as an ATen one is not taken for it."""
    name = func.overloadpacket.__name__
    return name if func.namespace == "aten" else f"{func.namespace}::{name}"


def _pointwise_op(func) -> bool:
    import torch

    if torch.Tag.pointwise in func.tags:
        return True
    name = _op_name(func)
    if name.endswith("_"):  # an in-place variant (relu_, hardtanh_) is tagged on its out-of-place op
        base = getattr(torch.ops.aten, name[:-1], None)
        return base is not None and any(torch.Tag.pointwise in getattr(base, o).tags for o in base.overloads())
    return name in _PER_POSITION_OPS


#: ops that compute each output position from the same position of their inputs (besides those torch
#: tags pointwise): copies, eval-mode normalisations over channels, dropout
_PER_POSITION_OPS = {
    "clone", "contiguous", "_to_copy", "copy_", "copy", "detach", "alias", "lift_fresh", "dropout",
    "native_dropout", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit", "native_batch_norm",
    "batch_norm", "cudnn_batch_norm", "miopen_batch_norm", "_batch_norm_impl_index", "feature_dropout",
    "alpha_dropout", "where", "masked_fill", "masked_fill_", "clamp", "clamp_", "hardtanh", "hardtanh_",
    # normalisations: their statistics are ignored, as textbooks do (LayerNorm over C×H×W, or over the channels
    # of a channels-last tensor, is per position)
    "native_layer_norm", "layer_norm", "native_group_norm", "group_norm", "instance_norm", "rms_norm",
    "_fused_rms_norm",
}


_PAD_OPS = {"constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
            "replication_pad2d", "replication_pad3d", "circular_pad1d", "circular_pad2d", "circular_pad3d", "_pad_circular"}


#: ops that reduce their input along `dim` (every position, when `dim` holds every spatial dimension)
_REDUCTION_OPS = frozenset((
    "sum", "nansum", "mean", "nanmean", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean",
    "prod", "logsumexp", "linalg_vector_norm", "norm", "argmax", "argmin", "any", "all", "aminmax",
    "count_nonzero", "median", "nanmedian", "mode", "kthvalue"))
#: ops that act along `dim` of one tensor and leave the other dimensions' positions where they are
_ALONG_DIM_OPS = _REDUCTION_OPS | frozenset((
    "_softmax", "_log_softmax", "softmax", "log_softmax", "cumsum", "cumprod", "logcumsumexp", "cummax",
    "cummin", "sort", "topk", "select", "split", "split_with_sizes", "unbind", "narrow", "index_select", "glu"))
#: ops that drop their `dim` (without keepdim for a reduction)
_DROPS_DIM = ("select", "unbind")
#: ops that move, split or merge axes and leave each element where it was in row-major order: a spatial axis
#: keeps its positions wherever it goes (ConvNeXt's NCHW → NHWC permute, ShuffleNet's channel shuffle)
_LAYOUT_OPS = frozenset(("permute", "transpose", "t", "expand", "view", "_unsafe_view", "reshape", "_reshape_alias",
                         "unsqueeze", "squeeze", "flatten", "unflatten"))


def _out_dim_kept(func, args, kwargs, rank: int) -> bool:
    """Whether an op along `dim` keeps its input's rank (keepdim, a softmax, a split), from its arguments."""
    name = _op_name(func)
    if name in _DROPS_DIM:
        return False
    if name in _REDUCTION_OPS:
        schema = func._schema.arguments
        at = next((i for i, a in enumerate(schema) if a.name == "keepdim"), None)
        if at is None:
            return False
        return bool(args[at] if at < len(args) else kwargs.get("keepdim", schema[at].default_value))
    return True


_POOL_OPS = ("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
             "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d")
_WINDOW_OPS = frozenset(("convolution", "pixel_unshuffle", *_POOL_OPS))
#: ops whose rules follow their first argument alone (a layout change, an op along dims, a window, a crop, a pad)
_ONE_SOURCE_OPS = _LAYOUT_OPS | _ALONG_DIM_OPS | _WINDOW_OPS | frozenset(_PAD_OPS) | {"slice"}


def _memory(t) -> Any:
    """What identifies a tensor's memory (its views share it): its storage's address, or where there is none
    (a meta tensor) the tensor its views are views of."""
    try:
        address = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        address = 0
    return address or ("view of", id(t._base if t._base is not None else t))


def _written(func, args, kwargs) -> list:
    """The tensors an in-place op writes (``self`` of ``add_``, ``out=``)."""
    import torch

    found = []
    for i, a in enumerate(func._schema.arguments):
        if a.alias_info is not None and a.alias_info.is_write:
            t = args[i] if i < len(args) else kwargs.get(a.name)
            if isinstance(t, torch.Tensor):
                found.append(t)
    return found


def _reshaped_axes(shape_in: tuple, shape_out: tuple, axes: tuple) -> "tuple | None":
    """Where the axes ``axes`` of a tensor of ``shape_in`` are after a view or reshape to ``shape_out``
    (row-major order): an axis keeps its positions exactly when the output has an axis of the same size
    and the same product of the sizes after it (so (B, C, H, W) → (B, g, C/g, H, W) keeps H and W, and
    (B, H, W, C) → (B, H·W, C) does not). None when one of them is merged with another axis."""
    def inner(shape):
        prods, n = [], 1
        for size in reversed(shape):
            prods.append(n)
            n *= size
        return prods[::-1]

    inner_in, inner_out = inner(shape_in), inner(shape_out)
    found, last = {}, -1
    for a in sorted(axes):  # a reshape keeps the axes' order: match them in order
        j = next((j for j in range(last + 1, len(shape_out))
                  if shape_out[j] == shape_in[a] and inner_out[j] == inner_in[a]), None)
        if j is None:
            return None
        found[a] = last = j
    return tuple(found[a] for a in axes)


class _DataFlow:
    """One forward pass with a wrapper on each layer (a leaf, or a module priced by one rule) and a
    dispatch mode on the ops between them, giving every tensor the field of its elements: a layer
    reads the tensor it is given, a residual sum merges its operands' fields, a functional flatten
    or mean makes every later element see the whole input. A tensor with a field also has the axes
    its spatial dimensions sit at (the last ones, until a permute or a reshape moves them). Tensors
    are kept alive for the pass, so identities are not reused."""

    def __init__(self, dims: int, rank: int, local: bool = False):
        self.dims, self.rank = dims, rank
        #: leave out the operands that see the whole input where a field meets them (a squeeze-and-excitation
        #: gate, a kernel from pooled context): the field along the windows alone
        self.local = local
        self.gated = False  # such a meeting happened
        self.states: dict[int, Any] = {}
        self.axes: dict[int, tuple[int, ...]] = {}  # tensors with a field: the axes of spatial dims 0, 1, …
        self.merged: dict[int, str] = {}  # tensors made by merging fields: how
        self.keep: list = []
        self.quiet = 0  # inside a layer with a rule: its own ops are its rule's business
        self.calls: list[tuple[str, str, Any, Any, Any, str]] = []  # (path, type, rule, state in, out, note)
        self.windowed = False  # a convolution or pooling op ran between the layers (F.conv2d, F.max_pool2d)
        self.clock = 0  # ops seen so far
        self.given: dict[int, int] = {}  # tensors with a field: the op count when it was given
        #: memory whose field an in-place op changed: the op count of that write, and the op
        self.written: dict[Any, tuple[int, str]] = {}
        #: tensors whose channels may see different fields (a concatenation of tensors that do, and what follows
        #: it up to a convolution over all its channels): their field is the union over the channels, which a
        #: pixel shuffle, spreading the channels over positions, would give each position
        self.uneven: set[int] = set()
        #: every layer call's outputs (by id) and the field each was given: a model output that is one of them,
        #: unchanged, has that layer's row (a second head returned before the last layer's output)
        self.layer_outs: dict[int, Any] = {}
        #: the model's output (its first tensor with a field), where ops after the last layer made it: its field
        self.output: Any = None

    # tensors and their fields
    def set(self, t, state, how: str = "", axes: "tuple | None" = None) -> None:
        self.keep.append(t)
        self.given[id(t)] = self.clock
        if isinstance(state, State):
            if axes is None:
                axes = self.standard(t)
            if axes is None:
                state = _Unknown(f"a tensor of {t.dim()} dimensions in a {self.dims}-D stack: not followed")
            else:
                self.axes[id(t)] = axes
                sizes = tuple(t.shape[a] for a in axes)
                if state.sizes != sizes:
                    state = State(state.reach, sizes)
        if not isinstance(state, State):
            self.axes.pop(id(t), None)
        self.states[id(t)] = state
        self.uneven.discard(id(t))
        if how:
            self.merged[id(t)] = how
        else:
            self.merged.pop(id(t), None)

    def tracked(self, t) -> bool:
        """Whether ``t`` has a field. A tensor that shares its memory with one whose field an in-place op
        changed after ``t`` got its own (``v = y.permute(…)``, then ``y += b(x)``; a ``torch.zeros`` buffer
        written through a slice) gets an unknown one: its old field, or none, would be too small."""
        if self.written:
            key = _memory(t)
            if key in self.written:
                when, how = self.written[key]
                if id(t) not in self.states or self.given[id(t)] < when:
                    self.set(t, _Unknown(f"its memory was written in place through a view or its base ({how}): "
                                         f"not followed"))
        return id(t) in self.states

    def joined(self, tensors: list):
        """The field of an element computed from the same position of each of ``tensors`` (a layer given
        several of them); unknown when their spatial axes do not line up."""
        states = [self.states[id(t)] for t in tensors]
        if any(isinstance(st, _Global) for st in states) and any(isinstance(st, State) for st in states):
            self.gated = True
            if self.local:
                tensors, states = self._windows_alone(tensors, states)
        fields = [t for t, st in zip(tensors, states) if isinstance(st, State)]
        if len({(self.axes[id(t)], self.spatial(t)) for t in fields}) > 1:
            return _Unknown(f"a layer reading {len(tensors)} tensors whose positions do not line up: not followed")
        return _union(states, f"a layer reading {len(tensors)} tensors", self.spatial(fields[0]) if fields else ())

    @staticmethod
    def _windows_alone(tensors: list, states: list) -> tuple[list, list]:
        """The operands without those that see the whole input (the local pass)."""
        keep = [(t, st) for t, st in zip(tensors, states) if not isinstance(st, _Global)]
        return [t for t, _ in keep], [st for _, st in keep]

    def standard(self, t) -> "tuple | None":
        """The spatial axes of a tensor in the usual layout: its last ones (N, C, spatial…)."""
        return tuple(range(t.dim() - self.dims, t.dim())) if t.dim() >= self.dims else None

    def spatial(self, t) -> "tuple | None":
        """The sizes of a tensor's spatial dimensions, wherever its axes are; None without a field."""
        axes = self.axes.get(id(t))
        return tuple(t.shape[a] for a in axes) if axes is not None else None

    def _usual(self, t) -> "tuple | None":
        """The spatial sizes of a tensor in the input's layout (its rank, spatial axes last), else None."""
        return tuple(t.shape[-self.dims:]) if t.dim() == self.rank else None

    # the ops between layers
    def op(self, func, args, kwargs, out) -> None:
        import torch
        from torch.utils._pytree import tree_leaves

        name = _op_name(func)
        if name in _WINDOW_OPS:
            self.windowed = True
        self.clock += 1
        ins = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and self.tracked(t)]
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if not ins or not outs:
            return
        written = _written(func, args, kwargs) if func._schema.is_mutable else []
        before = [self.states.get(id(t)) for t in written]
        uneven = self._uneven(name, args, ins)
        for o in outs:
            state, how, axes = self._op_state(func, name, args, kwargs, ins, o)
            if state is not None:
                self.set(o, state, how, axes)
                if uneven:
                    self.uneven.add(id(o))
        for t, old in zip(written, before):
            new = self.states.get(id(t))
            if new != old:
                # y[..., 4:-4] += b(x): the write lands in the base tensor and every other view of it too,
                # where the fields are not followed (a safe "unknown" rather than their old, too small ones)
                self.written[_memory(t)] = (self.clock, name)

    def _uneven(self, name: str, args, ins: list) -> bool:
        """Whether the op's output channels may see different fields: a concatenation of tensors whose fields
        differ, or any op on such a tensor but a convolution over all its channels."""
        states = [self.states.get(id(t)) for t in ins]
        if name in ("cat", "stack") and any(st != states[0] for st in states):
            return True
        return any(id(t) in self.uneven for t in ins) and not (name == "convolution" and len(args) > 8
                                                                and args[8] == 1)

    def _op_state(self, func, name: str, args, kwargs, ins: list, out) -> tuple:
        """(field, how it was merged, spatial axes) of the op's output ``out``."""
        states = [self.states[id(t)] for t in ins]
        unknown = next((st for st in states if isinstance(st, _Unknown)), None)
        if unknown is not None:  # the earlier step's reason, not this op's
            return unknown, "", None
        if all(isinstance(st, _Global) for st in states):
            return states[0], "", None  # (whatever the op: every element already sees the whole input)
        if any(isinstance(st, _Global) for st in states):
            self.gated = True
            if self.local:
                ins, states = self._windows_alone(ins, states)
        if name in _ONE_SOURCE_OPS and not _pointwise_op(func):  # (max.other is element-wise: a merge)
            # the rules below follow the op's first argument; another one computed from the input (a kernel
            # made from a global pooling of it, CondConv's) also reaches every output element
            others = [st for t, st in zip(ins, states) if t is not args[0]]
            if others and all(isinstance(st, _Global) for st in others):
                return _Global(f"{name} with an argument that sees the whole input (e.g. a kernel computed from "
                               f"it)"), "", None
            if others:
                return _Unknown(f"{name} with another argument computed from the input: not followed"), "", None
        moved = self._layout(name, args, out)
        if moved is not None:
            return moved
        along = self._along_dims(func, name, args, kwargs)
        if along is not None:
            return along
        if name == "roll" and len(ins) == 1 and args[0] is ins[0] and isinstance(states[0], State):
            rank, axes = args[0].dim(), self.axes[id(args[0])]
            rolled = {d % rank for d in (args[2] if len(args) > 2 else kwargs.get("dims", ()))}
            if rolled and not rolled & set(axes):  # along the channels or the batch: every position stays
                return states[0], "", axes
            return _Unknown("roll along a spatial dimension (or the flattened tensor) wraps positions around: "
                            "not a window"), "", None
        if (name in _RESIZE_OPS or name in _ADAPTIVE_OPS or name == "pixel_shuffle") and len(ins) == 1 \
                and args[0] is ins[0] and isinstance(states[0], State) \
                and not (name in _ADAPTIVE_OPS and self._usual(out) == (1,) * self.dims):
            return self._resized(func, name, args, kwargs, states[0], args[0], out)
        window = self._window_op(name, args)
        if window is not None:
            src = args[0]
            state = self.states.get(id(src))
            if isinstance(window, Kind):
                return _Unknown(window.reason), "", None
            if not isinstance(state, State):
                return state, "", None
            # (a convolution mixes the channel axis; a pixel unshuffle moves its block into it)
            return self._windowed(state, window, src, name in ("convolution", "pixel_unshuffle"))
        if name == "slice" and len(ins) == 1 and isinstance(states[0], State):
            return self._slice(args, states[0], self.axes[id(ins[0])])
        if name in _PAD_OPS and len(ins) == 1 and isinstance(states[0], State) and id(args[0]) in self.states:
            return self._pad(args, states[0], self.axes[id(args[0])])
        merge = _pointwise_op(func) or name in ("cat", "stack")
        if merge:
            merged = self._merge(name, args, kwargs, ins, states, out)
            if merged is not None:
                return merged
            if any(isinstance(st, _Global) for st in states):
                return _Global(f"{name} with a tensor that sees the whole input"), "", None
        out_sp = self._usual(out)
        if out_sp is None:
            if out.dim() > self.rank:
                return _Unknown(f"{name} raises the rank to {out.dim()}: not followed"), "", None
            src = ins[0]
            if len(ins) == 1 and name in _LAYOUT_OPS and src.dim() >= 2 and out.dim() >= 2 \
                    and out.shape[-1] == src.shape[-1] and src.dim() - 1 not in self.axes.get(id(src), ()):
                # (B, H, W, C) → (B·H·W, C), as F.linear folds a channels-last tensor for its matmul: the
                # positions are still apart, in one axis with the batch, where they are not followed
                return _Unknown(f"{name} folds the positions into one axis ({_fmt(src.shape)} → {_fmt(out.shape)})"
                                f": not followed"), "", None
            if name not in _LAYOUT_OPS and id(src) in self.axes and out.dim() >= src.dim():
                # an op that keeps its operand's rank, as the batched matmul F.linear runs on a channels-last
                # tensor of batch 1 with a weight that needs no gradient ((1, H, W, C) viewed as (H, W, C)):
                # its positions are still apart (it said "whole input")
                return _Unknown(f"{name} of a tensor whose spatial axes are at {self.axes[id(src)]} "
                                f"({_fmt(src.shape)} → {_fmt(out.shape)}): not followed"), "", None
            # a lower rank: flattened, or reduced over positions
            return _Global(f"{name} drops the spatial layout: every later element sees the whole input"), "", None
        if out_sp == (1,) * self.dims and any(self._usual(t) != out_sp for t in ins):
            return _Global(f"{name} reduces over every position"), "", None
        if name in ("new_empty", "new_zeros", "empty_like", "zeros_like"):
            # (F.pad's circular mode: slices of the input copied into a new tensor, whose positions are not followed)
            return _Unknown(f"{name} makes a new {_fmt(out_sp)} tensor that slices of the input are copied into (as "
                            f"F.pad's circular mode does): not followed"), "", None
        return _Unknown(f"{name} changes the spatial layout ({', '.join(_fmt(self.spatial(t) or t.shape) for t in ins)}"
                        f" → {_fmt(out_sp)}); not a window"), "", None

    def _layout(self, name: str, args, out) -> "tuple | None":
        """A permute, transpose, view or reshape of a tensor with a field: the same field, at the axes its
        spatial dimensions moved to; None when it is not such an op or merges a spatial axis away."""
        import torch

        if name not in _LAYOUT_OPS or not args or not isinstance(args[0], torch.Tensor) \
                or id(args[0]) not in self.axes:
            return None
        src, axes = args[0], self.axes[id(args[0])]
        rank = src.dim()
        if name == "permute":
            perm = [d % rank for d in args[1]]
            moved = tuple(perm.index(a) for a in axes)
        elif name == "transpose" or (name == "t" and rank == 2):
            d0, d1 = (args[1] % rank, args[2] % rank) if name == "transpose" else (0, 1)
            moved = tuple(d1 if a == d0 else d0 if a == d1 else a for a in axes)
        elif name == "t":
            moved = axes
        elif name == "expand":  # new axes in front; a spatial size may not grow (checked below)
            moved = tuple(a + out.dim() - rank for a in axes)
        else:
            moved = _reshaped_axes(tuple(src.shape), tuple(out.shape), axes)
        if moved is None or tuple(out.shape[a] for a in moved) != self.spatial(src):
            return None
        return self.states[id(src)], "", moved

    def _merge(self, name: str, args, kwargs, ins: list, states: list, out) -> "tuple | None":
        """An element-wise op, a concatenation or a stack: the union of the operands' fields when their
        spatial axes line up in the output (broadcasting aligns trailing axes); else None."""
        fields = [(t, st) for t, st in zip(ins, states) if isinstance(st, State)]
        if not fields:
            return None
        if name == "stack":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            dim %= out.dim()
        placed = set()
        for t, st in fields:
            axes = self.axes[id(t)]
            moved = tuple(a + (a >= dim) for a in axes) if name == "stack" else \
                tuple(a + out.dim() - t.dim() for a in axes)
            # (an output of lower rank than the operand, as a batch norm's saved statistics: no positions there)
            if any(not 0 <= a < out.dim() for a in moved) or tuple(out.shape[a] for a in moved) != self.spatial(t):
                return None
            placed.add(moved)
        if len(placed) > 1:
            return None
        axes = placed.pop()
        if len(states) == 1:
            return states[0], "", axes
        merged = _union(states, name, tuple(out.shape[a] for a in axes))
        return merged, f"{name} of {len(states)} tensors: the union of their fields", axes

    def _windowed(self, state: State, window: Window, src, mixes_channels: bool) -> tuple:
        """(field, how, axes) after a convolution or pooling window over the last ``window.dims`` axes
        of ``src``, wherever its spatial axes are: a spatial axis outside the window keeps its field, one
        inside it takes that axis's kernel, stride and padding. A convolution also mixes its channel axis
        (the one before the window): a spatial dimension there is not followed."""
        axes = self.axes[id(src)]
        first = src.dim() - window.dims
        if first < 0:
            return _Unknown(f"a {window.dims}-D window on a tensor of {src.dim()} dimensions"), "", None
        if mixes_channels and first - 1 in axes:
            return _Unknown(f"a convolution mixes spatial dimension {axes.index(first - 1)} as its channels: "
                            f"not a window"), "", None
        k, s, d, p = [], [], [], []
        for a in axes:
            i = a - first
            inside = i >= 0
            k.append(window.kernel[i] if inside else 1)
            s.append(window.stride[i] if inside else 1)
            d.append(window.dilation[i] if inside else 1)
            p.append(window.padding[i] if inside else 0)
        try:
            return step(state, Window(tuple(k), tuple(s), tuple(d), tuple(p), window.transposed)), "", axes
        except ValueError as exc:  # (a transposed convolution some of whose outputs read nothing; a long pattern)
            return _Unknown(_unfollowed(exc)), "", None

    def _along_dims(self, func, name: str, args, kwargs):
        """The field after an op that acts along given dimensions of one tensor (a reduction, a softmax, a
        channel split): per position when none of them is spatial (CBAM's mean over channels, a chunk of
        the channels, a sum over channels without keepdim: the spatial axes move up); every position when
        it reduces all of them; else not a window. None: not such an op, or not on a tensor with a field
        (the other rules apply)."""
        import torch

        if name not in _ALONG_DIM_OPS or not args or not isinstance(args[0], torch.Tensor) \
                or id(args[0]) not in self.axes:
            return None
        state, axes = self.states[id(args[0])], self.axes[id(args[0])]
        schema = func._schema.arguments
        at = next((i for i, a in enumerate(schema) if a.name == "dim"), None)
        rank = args[0].dim()
        if at is None:
            return None
        # (a dim left out is its default: split, chunk and unbind along the batch, glu, sort and topk along the last
        # axis; None or [] where it is every dimension, as var's and amax's)
        default = schema[at].default_value if schema[at].has_default_value() else None
        dim = args[at] if at < len(args) else kwargs.get("dim", default)
        dims = range(rank) if dim is None or (isinstance(dim, (list, tuple)) and not dim) else \
            (dim if isinstance(dim, (list, tuple)) else [dim])
        dims = {d % rank for d in dims}
        spatial = set(axes)
        if not dims & spatial:
            if _out_dim_kept(func, args, kwargs, rank):
                return state, "", axes
            return state, "", tuple(a - sum(d < a for d in dims) for a in axes)
        if name in _REDUCTION_OPS and spatial <= dims:
            return _Global(f"{name} reduces over every position"), "", None
        return _Unknown(f"{name} along a spatial dimension: not a window"), "", None

    def _slice(self, args, state: State, axes: tuple) -> tuple:
        dim = (args[1] if len(args) > 1 else 0) % args[0].dim()
        if dim not in axes:
            return state, "", axes  # channels or batch
        d = axes.index(dim)
        size = args[0].shape[dim]
        begin = args[2] if len(args) > 2 and args[2] is not None else 0
        step_ = args[4] if len(args) > 4 else 1
        begin = max(0, begin + size if begin < 0 else begin)
        reach = list(state.reach)
        reach[d] = _through(reach[d], affine(begin, step_), affine(begin, step_), size)
        return State(tuple(reach)), "", axes

    def _pad(self, args, state: State, axes: tuple) -> tuple:
        """F.pad: (left, right) pairs from the last axis backwards; a padded spatial axis shifts its start."""
        pads = list(args[1])
        rank = args[0].dim()
        left = [0] * self.dims
        for i in range(len(pads) // 2):
            if rank - 1 - i in axes:
                left[axes.index(rank - 1 - i)] = pads[2 * i]
        n = self.dims
        return step(state, Window((1,) * n, (1,) * n, (1,) * n, tuple(left))), "", axes

    def _resized(self, func, name: str, args, kwargs, state: State, src, out) -> tuple:
        """(field, how, axes) after a resize of ``src``'s last dimensions: an interpolation (its formula,
        checked against the op's own reads on a probe), a pixel shuffle (output x reads input ⌊x/r⌋, its
        r² channels spread over r×r positions) or an adaptive pooling."""
        axes = self.axes[id(src)]
        n = 2 if name == "pixel_shuffle" else len(out.shape) - 2 if name in _RESIZE_OPS else len(args[1])
        first = src.dim() - n
        if name == "pixel_shuffle" and first - 1 in axes:
            return _Unknown(f"a pixel shuffle moves channels into positions along spatial dimension "
                            f"{axes.index(first - 1)}: not followed"), "", None
        if name == "pixel_shuffle" and id(src) in self.uneven:
            # (each output position sees its own channel's field, not their union, which is all that is known)
            return _Unknown("a pixel shuffle of channels whose fields differ (a concatenation of them): each "
                            "output position sees its own channel's field; not followed"), "", None
        if out.dim() != src.dim():
            return _Unknown(f"{name} changes the rank ({_fmt(src.shape)} → {_fmt(out.shape)}): not followed"), \
                "", None
        schema = [a.name for a in func._schema.arguments]

        def arg(key, default=None):
            if key not in schema:
                return default
            i = schema.index(key)
            return args[i] if i < len(args) else kwargs.get(key, default)

        scales = [a for a in schema if a.startswith("scales")]
        reach = list(state.reach)
        for d, a in enumerate(axes):
            j = a - first
            if j < 0:
                continue  # (a spatial axis before the resized ones keeps its positions)
            n_in, n_out = src.shape[a], out.shape[a]
            try:
                if name == "pixel_shuffle":
                    r = int(args[1])
                    reads = (IndexMap(r, 1, (0,) * r),) * 2
                elif name in _ADAPTIVE_OPS:
                    reads = _adaptive_reads(n_in, n_out)
                else:
                    factors = arg("scale_factors")
                    scale = factors[j] if factors is not None else (
                        arg(scales[len(scales) - n + j]) if scales else None)
                    reads = _resize_reads(name, n_in, n_out, scale, bool(arg("align_corners", False)))
                    probed = _probe_reads(func, args, kwargs, src, out, j, n)
                    if probed is None:  # (too large to probe: the positions more on each side cover float rounding)
                        reads = _widened(reads, _slack(name))
                    elif not probed[0]:
                        return _Unknown(f"{name}: some outputs read no input: not followed"), "", None
                    elif not _within(reads, probed):
                        reads = _fitted(reads, probed, _slack(name))
                        if reads is None:
                            return _Unknown(f"{name} ({n_in} → {n_out} positions) reads other positions than "
                                            f"its formula says: not followed"), "", None
                reach[d] = _through(reach[d], *reads, n_in)
            except ValueError as exc:
                return _Unknown(_unfollowed(exc)), "", None
        return State(tuple(reach)), "", axes

    def _window_op(self, name: str, args):
        """A convolution or pooling called as a function (F.conv2d, F.max_pool2d): its window."""
        if name == "convolution":
            transposed = bool(args[6]) if len(args) > 6 else False
            n = args[1].dim() - 2
            return Window(tuple(args[1].shape[2:]), _tup(args[3], n), _tup(args[5], n), _tup(args[4], n), transposed)
        if name in _POOL_OPS:
            n = int(name[name.index("pool") + 4])
            k = _tup(args[1], n)
            s = _tup(args[2], n) if len(args) > 2 and args[2] else k
            p = _tup(args[3], n) if len(args) > 3 else (0,) * n
            d = _tup(args[4], n) if name.startswith("max") and len(args) > 4 else (1,) * n
            return Window(k, s, d, p)
        if name == "pixel_unshuffle":
            r = int(args[1])
            return Window((r, r), (r, r), (1, 1), (0, 0))
        return None

    # the layers
    def layer(self, path: str, module: nn.Module, ruled: bool, forward: Callable) -> Callable:
        import torch
        from torch.utils._pytree import tree_leaves

        flow = self
        type_rule = window_rule_for(module)

        def traced_forward(*args, **kwargs):
            tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            sources = list({id(t): t for t in tensors if flow.tracked(t)}.values())
            source = sources[0] if sources else None
            state_in = flow.states.get(id(source)) if source is not None else None
            axes_in = flow.axes.get(id(source)) if source is not None else None
            note = flow.merged.get(id(source), "") if source is not None else ""
            if len(sources) > 1 and type_rule is not None:  # (without a rule its ops say what it reads)
                # nn.Bilinear(x1, x2): an output element reads both tensors (it had the first one's field alone)
                state_in = flow.joined(sources)
                note = f"reads {len(sources)} tensors: the union of their fields"
            fn = type_rule
            if fn in (upsample, adaptive_pool_window) and source is not None:
                # an upsampling, or an adaptive pooling with uneven windows: its ops (the interpolation, the
                # adaptive pool) say which positions each output reads
                sizes = flow.spatial(source)
                found = fn(module, sizes) if sizes is not None else None
                if isinstance(found, Kind) and found.kind == "ops":
                    fn = None
            moved = axes_in is not None and axes_in != flow.standard(source)
            unbatched = axes_in is not None and source.dim() != flow.dims + 2
            if (moved or unbatched) and (fn is softmax or (fn is pointwise and isinstance(module, _CHANNEL_TYPES))):
                # a layer whose rule reads the usual layout (a softmax over dim 1, a BatchNorm's channels) on
                # a permuted tensor, or an unbatched one (C×H×W: its dim 1 is H, which a LocalResponseNorm or a
                # ChannelShuffle mixes): followed through the ops it runs instead
                fn = None
            if fn is not None:
                flow.quiet += 1
            try:
                out = forward(*args, **kwargs)
            finally:
                if fn is not None:
                    flow.quiet -= 1
            outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
            if fn is None:  # no window rule: its own ops said what it does
                # (the first output it made, not one of its inputs passed on: torchvision's FPN LastLevelMaxPool
                # returns its input list with the pooled map appended, and its row gave the first input's field)
                given = {id(t) for t in tensors}
                made = [t for t in outs if id(t) not in given] or outs
                state_out = flow.states.get(id(made[0])) if made else None
                rule = Kind("ops", "from the ops it ran")
            else:
                in_sizes = flow.spatial(source) if source is not None and flow.spatial(source) is not None else ()
                try:
                    rule = fn(module, in_sizes)
                except Exception as exc:  # a layer whose attributes are not what its type promises
                    raise ValueError(f"receptive field: cannot read the window of module '{path or '(root)'}' "
                                     f"({type(module).__name__}): {exc}") from exc
                if fn is linear and axes_in is not None and source.dim() - 1 not in axes_in:
                    rule = Kind("pointwise", "linear layer along the channels (the last axis): per position")
                elif fn is linear and isinstance(state_in, _Unknown):
                    # where its input's positions are is not known: the row says the step that lost them (it
                    # said "linear layer on a spatial tensor" for Swin's MLPs over the channels, and for VGG's
                    # classifier after a flatten)
                    rule = Kind("pointwise", "linear layer on a tensor whose positions are not known")
                elif fn is adaptive_pool_window and moved:
                    rule = Kind("unknown", "adaptive pooling of a tensor whose spatial axes are not its last ones")
                state_out, axes_out = flow._through(rule, state_in, source, fn in (conv_window, pixel_unshuffle_window))
                # (a convolution over all the channels gives each their union)
                uneven = any(id(u) in flow.uneven for u in sources) and not (
                    isinstance(module, nn.modules.conv._ConvNd) and module.groups == 1)
                for t in outs:
                    if state_out is None:
                        continue
                    if isinstance(state_out, State) and not (
                            t.dim() == source.dim()
                            and (isinstance(rule, Window) or tuple(t.shape[a] for a in axes_out) == in_sizes)):
                        flow.set(t, _Unknown(f"{type(module).__name__} gives an output of another layout "
                                             f"({_fmt(t.shape)}): not followed"))
                    else:
                        flow.set(t, state_out, axes=axes_out)
                        if uneven:
                            flow.uneven.add(id(t))
            if isinstance(state_out, State) and fn is not None and outs \
                    and isinstance(flow.states.get(id(outs[0])), State):
                state_out = flow.states[id(outs[0])]  # (with the output's own sizes)
            flow.calls.append((path, type(module).__name__, rule, state_in, state_out, note))
            flow.layer_outs.update((id(t), flow.states.get(id(t))) for t in outs)
            return out

        traced_forward.__wrapped__ = forward
        return traced_forward

    def _through(self, rule, state_in, source, mixes_channels: bool) -> tuple:
        """(field, spatial axes) of a layer's output under its window rule."""
        if state_in is None:
            return None, None
        if isinstance(state_in, (_Global, _Unknown)):
            return state_in, None  # (after a flatten every element already sees the whole input: a Linear too)
        axes = self.axes[id(source)]
        if isinstance(rule, Window):
            state, _, axes = self._windowed(state_in, rule, source, mixes_channels)
            return state, axes
        if rule.kind == "pointwise":
            return state_in, axes
        if rule.kind in ("global", "flatten"):
            return _Global(rule.reason), None
        return _Unknown(rule.reason), None


def _traced(model: nn.Module, args: tuple, kwargs: dict, units: list, dims: int, local: bool = False) -> "_DataFlow":
    """One forward with the data flow followed (``local``: along the windows alone)."""
    import torch
    from torch.utils._pytree import tree_leaves, tree_map_only
    from torch.utils._python_dispatch import TorchDispatchMode

    from ..state import preserved

    tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
    # the input with the layers' spatial dimensions (N, C, spatial…; or unbatched C, spatial…), not merely
    # the first one: forward(cond, x) with a 1×3 condition first gave x no field, and no layer a number
    first = next((t for rank in (dims + 2, dims + 1) for t in tensors if t.dim() == rank), tensors[0])
    flow = _DataFlow(dims, first.dim(), local)
    # (the forward gets copies: one that writes its input in place must not change the caller's)
    args, kwargs = tree_map_only(torch.Tensor, lambda t: t.clone(), (args, kwargs))
    for t in tree_leaves((args, kwargs)):
        if isinstance(t, torch.Tensor) and t.dim() == flow.rank:
            flow.set(t, initial(dims))

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, a=(), kw=None):
            result = func(*a, **(kw or {}))
            if not flow.quiet:
                flow.op(func, a, kw or {}, result)
            return result

    from ..capture import forwards_wrapped

    ruled = {id(r.module): r for r in units if r.module is not None}

    def wrap(module: nn.Module, forward: Callable) -> Callable:
        r = ruled[id(module)]
        return flow.layer(r.path, module, r.status == "rule", forward)

    with forwards_wrapped([r.module for r in ruled.values()], wrap), preserved(model), torch.no_grad(), Ops():
        result = model(*args, **kwargs)
    first = next((t for t in tree_leaves(result) if isinstance(t, torch.Tensor) and id(t) in flow.states), None)
    # (a segmentation model's final interpolation to the input's size runs in its own forward, after its last
    # layer: the output's field is in no layer's row; a layer's output returned as it was has that layer's row)
    if first is not None and (id(first) not in flow.layer_outs
                              or flow.layer_outs[id(first)] != flow.states[id(first)]):
        flow.output = flow.states[id(first)]
    return flow


def _by_data_flow(model: nn.Module, args: tuple, kwargs: dict, units: list, dims: int, input_size: tuple,
                  out: "ReceptiveFieldReport", require_window: bool = False) -> dict:
    """Fill ``out.rows`` from one traced forward; returns path → the RF texts of its calls.
    ``require_window``: a ``ValueError`` unless the forward ran a convolution or pooling op."""
    flow = _traced(model, args, kwargs, units, dims)
    if require_window and not flow.windowed:
        # no conv/pool module, and no functional window either (an LSTM, or an MLP on B×T×F, whose last
        # dimension is features, not positions): as for a 2-D input, the analysis does not apply
        raise ValueError(f"{out.model_name}: no convolution or pooling layer found, nor a convolution or "
                         f"pooling op in its forward; the receptive field is defined for conv/pool stacks")
    local_out = [None] * len(flow.calls)
    local = None
    if flow.gated:
        # a field met one that sees the whole input (a squeeze-and-excitation gate): a second pass leaves those
        # operands out, for the field along the windows alone, said beside "whole input"
        local = _traced(model, args, kwargs, units, dims, local=True)
        if [c[0] for c in local.calls] == [c[0] for c in flow.calls]:  # (the same calls: a deterministic forward)
            local_out = [c[4] for c in local.calls]
    texts: dict[str, list] = {}
    seen_calls: dict[str, int] = {}
    for (path, type_name, rule, state_in, state_out, note), alone in zip(flow.calls, local_out):
        k = seen_calls[path] = seen_calls.get(path, 0) + 1
        shown = path if k == 1 else f"{path or '(root)'} (call {k})"
        window = rule if isinstance(rule, Window) else None
        if isinstance(state_out, State):
            kind = "window" if window is not None else ("pointwise" if rule.kind == "pointwise" else "ops")
            row = RFRow(shown, type_name, kind, window, state_out.rf, state_out.jump, state_out.start,
                        _with_varying(note, state_out), reach=state_out.reach)
        elif isinstance(state_out, _Global):
            if isinstance(state_in, _Global):  # (made by a merge: the merge's reason, not "the union of their fields")
                why = state_in.reason if note else "after a global step: sees the whole input"
            else:  # this layer made it global (a global pooling): its reason, not how its input was merged
                why = state_out.reason
            row = RFRow(shown, type_name, "global", window, tuple(input_size) or None, None, None, why)
            if isinstance(alone, State):
                row.local_rf, row.local_jump = alone.rf, alone.jump
                row.note += (f"; along its windows alone, without the gates that see the whole input: "
                             f"{_fmt(alone.rf)}, jump {_fmt(alone.jump)}")
        else:
            if state_in is None:
                # (a diffusion U-Net's time-embedding Linear said "linear layer on a spatial tensor": its rule's
                # reason, about a tensor that has no positions)
                reason = "its input does not come from the model's input"
            elif isinstance(rule, Kind) and rule.kind == "unknown":
                reason = rule.reason  # its own reason first
            elif isinstance(state_in, _Unknown):
                reason = f"after a step the recurrence cannot describe: {state_in.reason}"
            elif isinstance(state_out, _Unknown):
                reason = state_out.reason
            else:
                reason = "its input does not come from the model's input"
            row = RFRow(shown, type_name, "unknown", window, None, None, None, reason)
        out.rows.append(row)
        texts.setdefault(path, []).append(row)
    if flow.output is not None and flow.calls and flow.output != flow.calls[-1][4]:  # (a field of its own)
        out.rows.append(_output_row(flow.output, local.output if flow.gated else None, input_size))
    return texts


def _output_row(state, alone, input_size: tuple) -> RFRow:
    """The model's output, where ops after its last layer made it (an interpolation back to the input's size)."""
    why = "the model's output, after the ops its forward runs after its last layer"
    if isinstance(state, State):
        return RFRow("(output)", "output", "ops", None, state.rf, state.jump, state.start,
                     _with_varying(why, state), reach=state.reach)
    if isinstance(state, _Global):
        row = RFRow("(output)", "output", "global", None, tuple(input_size) or None, None, None,
                    f"{why}: {state.reason}")
        if isinstance(alone, State):
            row.local_rf, row.local_jump = alone.rf, alone.jump
            row.note += (f"; along its windows alone, without the gates that see the whole input: "
                         f"{_fmt(alone.rf)}, jump {_fmt(alone.jump)}")
        return row
    return RFRow("(output)", "output", "unknown", None, None, None, None, f"{why}: {state.reason}")


def receptive_field(model_or_report: Any, inputs: Any = None, *, annotate: bool = True,
                    **profile_options: Any) -> ReceptiveFieldReport:
    """Receptive field, jump and start offset of every layer of a conv/pool stack.

    ``model_or_report``: a :class:`torchcount.Report`, or a model profiled here with ``inputs``
    (or ``input_size=``). Layers are taken in call order. With ``annotate`` the report's rows also
    get ``extra`` columns ``"RF"``, ``"jump"``, ``"start"`` (``report.table(columns=[…, "RF"])``);
    given a model, that report is the profile made here, ``result.report``.
    """
    import torch
    from torch.utils._pytree import tree_leaves

    from ..report import Report

    model = None
    if isinstance(model_or_report, Report):
        if inputs is not None or profile_options:
            raise TypeError("receptive_field(report): inputs and profile options apply to a model only; pass "
                            "the model and its inputs to follow the data flow (a report has shapes alone)")
        report = model_or_report
        if report.method is not None:
            from ..capture import FunctionMethod, method_text

            # (a report's default name already says its method: "ToyLM.generate", "train_step(ToyLM)")
            name, method = report.model_name, report.method
            if isinstance(method, FunctionMethod):
                called = name if name.startswith(f"{method}(") else method_text(name, method)
            else:
                called = f"{name}(...)" if name.endswith(f".{method}") else method_text(name, method)
            raise TypeError(f"receptive_field follows the forward's data flow; this report profiled "
                            f"{called}, not a forward")
        if report.layers and all(r.module is None for r in report.layers):
            # (a report read back from JSON: its conv layers would read as "no convolution found")
            raise ValueError(f"{report.model_name}: this report was read from JSON (torchcount.load_report), "
                             f"whose rows have no modules, and a layer's window (kernel, stride, dilation, "
                             f"padding) is read from its module; pass the model and its inputs: "
                             f"receptive_field(model, x)")
    elif isinstance(model_or_report, nn.Module):
        from ..profile import as_call, make_inputs, model_device, profile

        model = model_or_report
        method = profile_options.get("method")
        if method is not None and (callable(method) or method != "forward"):
            shown = repr(method) if isinstance(method, str) else getattr(method, "__name__", None) or \
                type(method).__name__  # (a function by its name, not its repr with an address)
            raise TypeError(f"receptive_field follows the forward's data flow; method={shown} is not supported")
        if inputs is None and profile_options.get("input_size") is not None:
            device = profile_options.pop("device", None)  # (where the inputs are made: used up here)
            inputs = make_inputs(profile_options.pop("input_size"), profile_options.pop("dtype", torch.float32),
                                 torch.device(device) if device is not None else model_device(model))
        report = profile(model, inputs, warn=False, **profile_options)
    else:
        raise TypeError(f"receptive_field expects a torchcount.Report or an nn.Module, "
                        f"got {type(model_or_report).__name__}")
    units = report.unit_rows()
    if model is not None:
        args, kwargs = as_call(inputs) if inputs is not None else ((), {})
        kwargs = {**kwargs, **(profile_options.get("kwargs") or {})}
    # the model's own input tensors, whose positions the data flow's fields count (a report has its layers' alone)
    given = [tuple(t.shape) for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)] \
        if model is not None else []
    dims = 0
    for r in units:
        fn = window_rule_for(r.module) if r.module is not None else None
        if fn in (conv_window, pool_window, adaptive_pool_window):
            dims = pooled_dims(r.module)
            break
    by_ops_only = False
    ranks = [len(shape) for shape in given if len(shape) > 2]
    if dims == 0 and ranks:
        # (N, C, spatial…): windows may come from functional calls; the input's rank, not the first layer's (a
        # forward whose first layer embeds a 1×3 condition, or takes no tensor, was refused: "no convolution")
        dims = ranks[0] - 2
        by_ops_only = True
    if dims == 0:
        raise ValueError(f"{report.model_name}: no convolution or pooling layer found; the receptive field "
                         f"is defined for conv/pool stacks")
    # the input the windows slide over: the model's input with the spatial rank (N, C, spatial…, or unbatched),
    # else the first layer input with it, not merely the first layer's (forward(cond, x) embedding a 1×3
    # condition first gave "input 3", and a later global layer "whole input (3)"; F.conv2d on 8×8 before the
    # first layer gave "input 6×6")
    shapes = given or [tuple(r.input_shapes[0]) for r in units if r.input_shapes]
    first_in = next((sh for rank in (dims + 2, dims + 1) for sh in shapes if len(sh) == rank),
                    shapes[0] if shapes else ())
    input_size = _spatial(first_in, dims)
    out = ReceptiveFieldReport(report.model_name, dims, input_size, method="shapes" if model is None else "data flow",
                               report=report)
    if model is not None:
        by_path = _by_data_flow(model, args, kwargs, units, dims, input_size, out, require_window=by_ops_only)
        if annotate:
            for r in units:
                calls = by_path.get(r.path, [])
                texts = list(dict.fromkeys(_rf_text(c) for c in calls))
                r.extra["RF"] = " / ".join(texts) if texts else "—"
                jumps = list(dict.fromkeys(_fmt(c.jump) if c.jump else "—" for c in calls))
                r.extra["jump"] = " / ".join(jumps) if jumps else "—"
                starts = list(dict.fromkeys(_fmt(c.start) if c.start else "—" for c in calls))
                r.extra["start"] = " / ".join(starts) if starts else "—"
        return out
    state: State | None = initial(dims)
    mode = "window"  # "window" | "global" | "unknown"
    # modules whose own forward runs a convolution or pooling op between their layers (F.max_pool2d): the
    # report has its cost, not where it ran, so their layers' fields are lower bounds, said (a
    # shape-keeping pool between two convs was silently left out of the field)
    unit_paths = {r.path for r in units}
    windowed_owners = [r.path for r in report.layers if r.path not in unit_paths and r.status != "covered"
                       and any(_window_term(t) for t in r.terms)]
    # every tensor seen so far: (shape, state of its field, who produced it); the model input first
    seen: list[tuple[tuple, State, str]] = [(tuple(first_in), state, "the input")] if first_in else []
    prev_out = tuple(first_in) if first_in else None
    prev_path = None
    for r in units:
        path = r.name
        shape_in = tuple(r.input_shapes[0]) if r.input_shapes else None
        in_sizes = _spatial(shape_in, dims) if shape_in is not None else ()
        fn = window_rule_for(r.module) if r.module is not None else None
        note = ""
        if mode == "window" and shape_in is not None and prev_out is not None:
            state, note, ok = _source(shape_in, prev_out, state, seen, _left_module(prev_path, r.path))
            if not ok:
                mode, state = "unknown", None
        prev_out = tuple(r.output_shapes[0]) if r.output_shapes else None
        prev_path = r.path
        if fn is None:
            rule = Kind("unknown", f"no receptive-field rule for {r.type}")
        else:
            try:
                rule = fn(r.module, in_sizes)
            except Exception as exc:  # a layer whose attributes are not what its type promises
                raise ValueError(f"receptive field: cannot read the window of module '{path}' "
                                 f"({r.type}): {exc}") from exc
        window = rule if isinstance(rule, Window) else None
        if window is not None and window.dims != dims:
            rule = Kind("unknown", f"{window.dims}-D window in a {dims}-D stack")
            window = None
        if window is not None and r.calls > 1:
            rule = Kind("unknown", f"called {r.calls} times (a reused module): its calls are not one layer "
                                   f"of a chain")
            window = None
        if mode == "window" and window is not None:
            try:
                state = step(state, window)
            except ValueError as exc:  # (a transposed convolution some of whose outputs read nothing)
                rule, window = Kind("unknown", _unfollowed(exc)), None
        if mode == "window":
            if window is not None:
                kind = "window"
            elif rule.kind == "pointwise":
                kind = "pointwise"
            elif rule.kind in ("global", "flatten"):
                kind, mode = "global", "global"
                note = note or rule.reason
            else:
                kind, mode, state = "unknown", "unknown", None
                note = note or rule.reason + "; later layers not computed"
        elif mode == "global":
            kind = "global"
            note = note or "after a global layer: sees the whole input"
        else:
            kind = "unknown"
            note = note or (rule.reason if isinstance(rule, Kind) and rule.kind == "unknown"
                            else "after a layer the recurrence cannot describe")
        owner = next((o for o in windowed_owners if o == "" or r.path.startswith(o + ".")), None)
        if kind in ("window", "pointwise") and owner is not None:
            # (its calls may run before this layer or after it: an omitted window only widens the field)
            note = "; ".join(filter(None, (note, (
                f"at least: '{owner or '(root)'}' runs a convolution or pooling op in its own forward, which a "
                f"report does not place among its layers (pass the model and its inputs)"))))
        if kind in ("window", "pointwise"):
            row = RFRow(r.path, r.type, kind, window, state.rf, state.jump, state.start, _with_varying(note, state),
                        reach=state.reach)
        elif kind == "global":
            row = RFRow(r.path, r.type, kind, window, tuple(input_size) or None, None, None, note)
        else:
            row = RFRow(r.path, r.type, kind, window, None, None, None, note)
        out.rows.append(row)
        if mode == "window" and state is not None and prev_out is not None:
            seen.append((prev_out, state, path))
        if annotate:
            r.extra["RF"] = _rf_text(row)
            r.extra["jump"] = _fmt(row.jump) if row.jump else "—"
            r.extra["start"] = _fmt(row.start) if row.start else "—"
    return out


__all__ = ["receptive_field", "ReceptiveFieldReport", "RFRow", "Window", "Kind", "WINDOW_RULES", "step",
           "initial", "State"]
