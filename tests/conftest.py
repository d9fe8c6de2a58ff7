"""Shared helpers for torchcount's tests."""
from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path

import pytest
import torch

import torchcount


class Fn(torch.nn.Module):
    """A module with no rule that runs ``fn`` itself: its ops are priced by op rules."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


class Hidden(torch.nn.Module):
    """Runs ``module``'s forward without registering it: torchcount sees no submodule, so the same
    forward is priced from the aten ops it ran (an independent check of a module rule)."""

    def __init__(self, module):
        super().__init__()
        self._held = [module]

    def forward(self, *args, **kwargs):
        m = self._held[0]
        return type(m).forward(m, *args, **kwargs)


def run(model, *inputs, convention="flops", **kwargs) -> torchcount.Report:
    """Profile ``model`` on ``inputs`` with warnings about uncounted ops silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchcount.UncountedWarning)
        return torchcount.profile(model, inputs if len(inputs) != 1 else inputs[0],
                                  convention=convention, **kwargs)


def ops_cost(fn, *inputs):
    """The total cost of the ops ``fn`` runs on ``inputs`` (an :class:`Fn`), which must all be counted."""
    report = run(Fn(fn), *inputs)
    assert report.complete, report.uncounted
    return report.total.cost


def nonzero_counts(cost) -> dict:
    """A cost's operation counts by category, the categories it has none of left out."""
    from torchcount.cost import OP_CATEGORIES

    return {c: getattr(cost, c) for c in OP_CATEGORIES if getattr(cost, c)}


def ops_counts(fn, *inputs) -> dict:
    """:func:`nonzero_counts` of :func:`ops_cost`."""
    return nonzero_counts(ops_cost(fn, *inputs))


def only(report: torchcount.Report) -> torchcount.Row:
    """The single layer row of a one-module report (or the root for a bare module)."""
    return report.layers[0]


@pytest.fixture
def profile_one():
    """Profile a bare module on one input; return (cost of the module, report)."""
    def _profile(module, *inputs, **kwargs):
        report = run(module, *inputs, **kwargs)
        return report.total.cost, report
    return _profile


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One torch thread for the test (measurements on a small shared machine), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@contextlib.contextmanager
def no_init():
    """Skip weight initialisation (values are irrelevant to counting; it is most of the build
    time of the large RegNets, which must be built on CPU): torch.nn.init's functions return
    their tensor unchanged meanwhile."""
    saved = {n: f for n, f in vars(torch.nn.init).items() if n.endswith("_") and callable(f)
             and not n.startswith("_")}
    try:
        for n in saved:
            setattr(torch.nn.init, n, lambda tensor, *a, **k: tensor)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


# ---- features newer than the oldest supported torch (2.2) ---------------------------------------
def _pinned(package: str) -> str:
    for line in (Path(__file__).resolve().parents[1] / "constraints.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def rope_macs(rotary_class: type, positions: int, head_dim: int) -> int:
    """MACs of a transformers rotary embedding's frequency table (inverse frequencies ⊗ positions) for
    ``positions`` position ids (rows of ``position_ids`` × length): transformers up to 5.17 at least
    wrote it as a matmul with K = 1 (positions·head_dim/2 MACs: a bmm, so counted as MACs), the pinned
    one (constraints.txt) as an element-wise product (multiplications, no MAC). Found running the suite
    on the GPU machine's image, which has transformers 5.17."""
    import inspect

    body = [line for line in inspect.getsource(rotary_class.forward).splitlines()
            if not line.lstrip().startswith("@")]  # (not the decorators)
    return positions * head_dim // 2 if any(" @ " in line for line in body) else 0


#: the torch of the tested set (constraints.txt), where CI runs; an older one is supported too
TESTED_TORCH = torch.__version__.split("+")[0] == _pinned("torch")


@functools.lru_cache(maxsize=None)
def flop_counter_counts_transposed_backward_right() -> bool:
    """Whether this torch's flop_counter prices a transposed convolution's weight gradient right: each
    of an 8×4×3×3 weight's elements meets the 4×3×3 input positions once; torch 2.2's summed over the
    4×7×7 output positions instead (a reference that torch got wrong is no reference there)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as check:
        torch.ops.aten.convolution_backward(torch.randn(4, 4, 7, 7), torch.randn(4, 8, 3, 3),
                                            torch.randn(8, 4, 3, 3), None, [2, 2], [0, 0], [1, 1], True,
                                            [0, 0], 1, [False, True, False])
    return check.get_total_flops() == 2 * (8 * 4 * 3 * 3) * (4 * 3 * 3)


def optimizer_step_hooks_run() -> bool:
    """Whether an optimizer's step runs its step hooks in this process now (not cached: it can change).
    torch 2.2's dynamo strips them from every torch.optim class once it has compiled anything,
    torch.export included (its TorchPatcher unwraps Optimizer.profile_hook_step and marks the step
    hooked, so none is added again); a later torch keeps them."""
    optimizer, ran = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), []
    optimizer.register_step_pre_hook(lambda *_: ran.append(1))
    optimizer.step()
    return ran == [1]


@functools.lru_cache(maxsize=None)
def flop_counter_counts_inside_inference_mode() -> bool:
    """Whether this torch's flop_counter counts a linear run inside an inference_mode region: 2·2·3·4 = 48
    FLOPs. torch 2.2's sees the op aten.linear there undecomposed (no autograd key decomposes it) and
    has no formula for it: 0 (the same for every composite op, conv2d too)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as check, torch.inference_mode():
        torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    return check.get_total_flops() == 2 * 2 * 3 * 4


def _flex_attention():
    from torch.nn.attention.flex_attention import flex_attention
    q = torch.randn(1, 1, 4, 8)
    flex_attention(q, q, q)


def _cond_under_a_dispatch_mode():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Passing(TorchDispatchMode):
        supports_higher_order_operators = True  # as torchcount's recorder (torch 2.2 ignores it)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Passing():
        torch.cond(torch.tensor(True), lambda x: x.sin(), lambda x: x.cos(), (torch.randn(2),))


def _lfilter_loop_dispatched():
    # torchaudio 2.2's lfilter is one C++ op whose recursive loop dispatches no op at all
    from torchaudio.functional import filtering
    assert not isinstance(filtering._lfilter, torch._ops.OpOverloadPacket)


def _fused_optimizers_on_cpu():
    for make in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad):
        w = torch.nn.Parameter(torch.ones(2))
        w.grad = torch.ones(2)
        make([w], lr=0.1, fused=True).step()


def _grad_scaler_on_cpu():
    w = torch.nn.Parameter(torch.ones(2))
    opt, scaler = torch.optim.SGD([w], lr=0.1), torch.amp.GradScaler("cpu")
    scaler.scale(w.sum()).backward()
    scaler.step(opt)
    scaler.update()


def _export_module_stack(**kwargs):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = torch.export.export(model, (torch.randn(1, 2),), **kwargs).module()
    node = next(n for n in gm.graph.nodes if n.op == "call_function" and "linear" in str(n.target))
    assert list(node.meta["nn_module_stack"].values())[-1][0] == "0"


def _grouped_mm_with_offs():
    # (examples/moe_meta.py: its meta kernel takes bfloat16 only, as the CUDA kernel does)
    for device in ("cpu", "meta"):
        bf16 = dict(dtype=torch.bfloat16, device=device)
        offs = torch.tensor([8, 16], dtype=torch.int32, device=device)
        torch._grouped_mm(torch.ones(16, 8, **bf16), torch.ones(2, 8, 8, **bf16), offs=offs)


def _checkpoint_on_meta():
    # torch 2.2's non-reentrant checkpoint looks up torch.<device> for the random state: torch.meta fails
    from torch.utils.checkpoint import checkpoint
    checkpoint(torch.sin, torch.ones(2, device="meta", requires_grad=True), use_reentrant=False)


def _transformer_layer_hooked_leaves_its_fast_path():
    # torch 2.2 takes TransformerEncoderLayer's fused path hooks or not: linear1's pre-hook never runs
    layer = torch.nn.TransformerEncoderLayer(4, 2, 8, batch_first=True).eval()
    ran = []
    layer.linear1.register_forward_pre_hook(lambda m, args: ran.append(m))
    with torch.no_grad():
        layer(torch.randn(1, 3, 4))
    assert ran


def _autocast_per_device_type():
    # torch 2.2 reads autocast state by the CPU's and CUDA's own functions only
    with torch.autocast("xpu", dtype=torch.bfloat16):
        assert torch.is_autocast_enabled("xpu") and torch.get_autocast_dtype("xpu") is torch.bfloat16


_I8 = dict(dtype=torch.int8)
#: what a gated test needs → plain torch running it (no torchcount involved)
PROBES = {
    "nn.RMSNorm": lambda: torch.nn.RMSNorm(4),
    "nn.LPPool3d": lambda: torch.nn.LPPool3d(2, 2),
    "eager flex_attention": _flex_attention,
    "torch._grouped_mm on CPU": lambda: torch._grouped_mm(torch.randn(2, 4, 8), torch.randn(2, 8, 4)),
    "torch._grouped_mm on CPU and meta in bfloat16, with offs": _grouped_mm_with_offs,
    "torch._int_mm on CPU": lambda: torch._int_mm(torch.ones(32, 32, **_I8), torch.ones(32, 32, **_I8)),
    "torch._weight_int8pack_mm on CPU": lambda: torch._weight_int8pack_mm(
        torch.randn(2, 32), torch.ones(8, 32, **_I8), torch.rand(8)),
    "the int4pack ops for CPU": lambda: torch.ops.aten._convert_weight_to_int4pack_for_cpu(
        torch.zeros(32, 64, dtype=torch.int32), 1),
    "torch._scaled_mm with scales on CPU": lambda: torch._scaled_mm(
        torch.randn(16, 32).to(torch.float8_e4m3fn), torch.randn(16, 32).to(torch.float8_e4m3fn).t(),
        torch.tensor(1.0), torch.tensor(1.0), out_dtype=torch.float32),
    "higher-order ops reaching a dispatch mode as one op": _cond_under_a_dispatch_mode,
    "torchaudio's lfilter loop as a dispatched op": _lfilter_loop_dispatched,
    "torch.utils.checkpoint on meta": _checkpoint_on_meta,
    "nn.RReLU in eval on meta": lambda: torch.nn.RReLU().eval()(torch.ones(2, device="meta")),
    "aten.channel_shuffle on meta": lambda: torch.nn.ChannelShuffle(2)(torch.ones(1, 4, 1, 1, device="meta")),
    "nn.TransformerEncoderLayer leaving its fast path for a hook": _transformer_layer_hooked_leaves_its_fast_path,
    "torch._weight_norm on meta": lambda: torch._weight_norm(  # (both weight_norms run it; torch 2.2's
        torch.ones(2, 2, device="meta"), torch.ones(2, 1, device="meta")),  # meta kernel needs dim given)
    "fused optimizers on CPU": _fused_optimizers_on_cpu,
    "AMP's GradScaler on CPU": _grad_scaler_on_cpu,
    "torch._foreach_powsum": lambda: torch._foreach_powsum([torch.ones(2)], 2),
    "torch.export naming each node's module by its path": _export_module_stack,
    "torch.export.export(strict=True)": lambda: _export_module_stack(strict=True),
    "torch.utils._pytree._deregister_pytree_node": lambda: torch.utils._pytree._deregister_pytree_node,
    # (torch.export.save's archive with its example inputs torch.save'd in it, which load reads)
    "torch.export.pt2_archive": lambda: __import__("torch.export.pt2_archive"),
    "torch.library.custom_op": lambda: torch.library.custom_op,
    "autocast on for the xpu device type alone, read per device type": _autocast_per_device_type,
    "torch.nn.attention.sdpa_kernel, the MHA fast-path switch and oneDNN's deterministic flag": lambda: (
        torch.nn.attention.sdpa_kernel, torch.backends.mha.get_fastpath_enabled(), torch.backends.mkldnn.deterministic),
}
_PROBED: dict[str, bool] = {}


def probe(what: str) -> bool:
    """Whether plain torch runs ``PROBES[what]`` here (evaluated once)."""
    if what not in _PROBED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                PROBES[what]()
            _PROBED[what] = True
        except Exception:
            _PROBED[what] = False
    return _PROBED[what]


def needs(what: str) -> pytest.MarkDecorator:
    """Skip a test where torch cannot run ``PROBES[what]``: a feature newer than torch 2.2, the
    oldest supported, or missing from its CPU build. On the tested torch (constraints.txt) every
    probe must pass (tests/test_compat.py), so a gated test is skipped only on an older torch."""
    return pytest.mark.skipif(not probe(what), reason=f"torch {torch.__version__} lacks {what}")


def unexplained_differences(want, got, key_of, allowed: dict, met: set) -> list:
    """The cost categories (bytes too) in which cost ``got`` differs from ``want`` and that no entry of
    ``allowed`` (``key_of(category)`` → (reason, check(want, got))) explains, as (category, got, want);
    the keys that explained one are added to ``met`` (the grad-mode sweeps of OpInfo and ModuleInfo)."""
    from torchcount.cost import CATEGORIES

    out = []
    for category in CATEGORIES:
        w, g = getattr(want, category), getattr(got, category)
        if w == g:
            continue
        key = key_of(category)
        entry = allowed.get(key)
        if entry is not None and entry[1](w, g):
            met.add(key)
        else:
            out.append((category, g, w))
    return out


class RuledBlock(torch.nn.Module):
    """A block with a (test-registered) rule that covers its child: the child's own work is the rule's."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def products_rule(cls):
    """A generator for a fixture: ``cls`` priced whole by a module rule of rows·4·4 MACs (a 4-wide input's
    Linear(4, 4) products, its bias left out on purpose) while the test runs, the rule removed afterwards."""
    from torchcount.cost import Cost, Term
    from torchcount.rules import registry

    @torchcount.module_rule(cls)
    def products(module, call):
        return Cost.of(Term("macs", "products", "rows·4·4", "", call.input.numel // 4 * 16))
    yield cls
    registry._MODULE_RULES.pop(cls)
    registry._lookup_cache.clear()


@pytest.fixture
def ruled_block():
    """:class:`RuledBlock` with its rule registered for the test (:func:`products_rule`)."""
    yield from products_rule(RuledBlock)


FLOOR = "⌊(M − w + 2p)/s⌋ + 1"
#: (keyword arguments of a Conv2d or MaxPool2d, input height×width, its height line, its width line): outputs
#: that are square while one of kernel (window), stride, padding, input size or dilation differs between
#: height and width; convolutions and pooling share the worksheet's output-size formula
SQUARE_OF_ONE_UNEQUAL_DIM = [
    # the kernels alone differ: ⌊(9 − 2)/2⌋ + 1 = ⌊(9 − 3)/2⌋ + 1 = 4
    (dict(kernel_size=(2, 3), stride=2), (9, 9), f"{FLOOR} = ⌊(9 − 2 + 2×0)/2⌋ + 1 = 4",
     f"{FLOOR} = ⌊(9 − 3 + 2×0)/2⌋ + 1 = 4"),
    # the strides alone: ⌊8/3⌋ + 1 = ⌊8/4⌋ + 1 = 3
    (dict(kernel_size=1, stride=(3, 4)), (9, 9), f"{FLOOR} = ⌊(9 − 1 + 2×0)/3⌋ + 1 = 3",
     f"{FLOOR} = ⌊(9 − 1 + 2×0)/4⌋ + 1 = 3"),
    # the paddings alone: ⌊6/3⌋ + 1 = ⌊8/3⌋ + 1 = 3
    (dict(kernel_size=3, stride=3, padding=(0, 1)), (9, 9), f"{FLOOR} = ⌊(9 − 3 + 2×0)/3⌋ + 1 = 3",
     f"{FLOOR} = ⌊(9 − 3 + 2×1)/3⌋ + 1 = 3"),
    # the input sizes alone: ⌊6/3⌋ + 1 = ⌊8/3⌋ + 1 = 3
    (dict(kernel_size=1, stride=3), (7, 9), f"{FLOOR} = ⌊(7 − 1 + 2×0)/3⌋ + 1 = 3",
     f"{FLOOR} = ⌊(9 − 1 + 2×0)/3⌋ + 1 = 3"),
    # the dilations alone: ⌊(9 − 1·1 − 1)/2⌋ + 1 = ⌊(9 − 2·1 − 1)/2⌋ + 1 = 4 (the dilated formula for d = 2)
    (dict(kernel_size=2, stride=2, dilation=(1, 2)), (9, 9), f"{FLOOR} = ⌊(9 − 2 + 2×0)/2⌋ + 1 = 4",
     "⌊(M + 2p − d·(w − 1) − 1)/s⌋ + 1 = ⌊(9 + 2×0 − 2×(2 − 1) − 1)/2⌋ + 1 = 4"),
]


class CountsWeightCasts(torch.nn.Module):
    """A Linear(8, 8) that notes in ``casts``, one entry per forward, how often its (8, 8) weight was cast
    (``aten._to_copy``, as autocast does where its cache holds no copy yet), with a dispatch mode it enters
    itself around the Linear; ``each_call`` (if given) runs first in every forward."""

    def __init__(self, each_call=None):
        super().__init__()
        self.fc, self.casts, self.each_call = torch.nn.Linear(8, 8), [], each_call

    def forward(self, x):
        self.casts.append(0)
        if self.each_call is not None:
            self.each_call()
        with _WeightCasts(self.casts):
            return self.fc(x)


class _WeightCasts(torch.utils._python_dispatch.TorchDispatchMode):
    def __init__(self, casts):
        super().__init__()
        self.casts = casts

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._to_copy.default and args[0].shape == (8, 8):
            self.casts[-1] += 1
        return func(*args, **(kwargs or {}))
