"""The CUDA-only code paths of measure=True, run without a GPU: torch.cuda's events, streams,
synchronisation, allocator statistics and device name are replaced by fakes driven by a virtual
device clock, so every figure is known by hand. (tests/test_measure_cuda.py runs the same paths on
a real device.)"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import torchcount
import torchcount.measure as M
from torchcount.measure import details


class FakeDevice:
    """One virtual GPU: a clock (ns) that modules advance as their 'kernels' run, an allocator."""

    def __init__(self, index: int):
        self.index = index
        self.now_ns = 0
        self.allocated = 1000
        self.peak = 1000
        self.syncs: list[int] = []  # the device index of each torch.cuda.synchronize
        self.records: list[int] = []  # the device index of the stream of each event record
        self.resets = 0


def _index(device) -> int:
    if device is None:
        return 0  # the current device
    if isinstance(device, int):
        return device
    device = torch.device(device)
    return device.index if device.index is not None else 0


@pytest.fixture
def fake_cuda(monkeypatch):
    """A model 'on cuda:1' while cuda:0 is current: the tensors stay on the CPU, measure() sees cuda:1."""
    gpu = FakeDevice(1)

    class Stream:
        def __init__(self, index):
            self.device_index = index

    class Event:
        def __init__(self, enable_timing=False):
            assert enable_timing
            self.t = None
            self.synced = False

        def record(self, stream=None):
            assert stream is not None, "an event recorded on the current device's stream, not the model's"
            gpu.records.append(stream.device_index)
            self.t, self.synced, self.stream = gpu.now_ns, False, stream.device_index

        def elapsed_time(self, other):  # ms, as torch's; both events must have completed
            assert self.synced and other.synced, "elapsed_time before a synchronize of the events' device"
            return (other.t - self.t) / 1e6

    events: list = []

    def make_event(**kw):
        e = Event(**kw)
        events.append(e)
        return e

    def synchronize(device=None):
        gpu.syncs.append(_index(device))
        for e in events:
            if e.t is not None and e.stream == _index(device):
                e.synced = True

    def reset_peak(device=None):
        assert _index(device) == 1
        gpu.resets += 1
        gpu.peak = gpu.allocated

    monkeypatch.setattr(torch.cuda, "Event", make_event)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream(_index(device)))
    monkeypatch.setattr(torch.cuda, "synchronize", synchronize)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: gpu.allocated)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: gpu.peak)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset_peak)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(M, "resolve_device", lambda model, device, inputs=(): torch.device("cuda", 1))
    monkeypatch.setattr(M, "_move", lambda value, device: value)
    return gpu


class Kernel(nn.Module):
    """'Runs' on the fake device: advances its clock by ``ns`` and allocates ``nbytes`` meanwhile."""

    def __init__(self, gpu: FakeDevice, ns: int, nbytes: int = 0, features: int = 0):
        super().__init__()
        self.gpu, self.ns, self.nbytes = gpu, ns, nbytes
        self.linear = nn.Linear(features, features, bias=False) if features else None

    def forward(self, x):
        self.gpu.now_ns += self.ns
        self.gpu.allocated += self.nbytes
        self.gpu.peak = max(self.gpu.peak, self.gpu.allocated)
        self.gpu.allocated -= self.nbytes
        return self.linear(x) if self.linear is not None else x * 2


class Net(nn.Module):
    def __init__(self, gpu):
        super().__init__()
        self.a = Kernel(gpu, 1000, 400)
        self.b = nn.Sequential(Kernel(gpu, 3000, 100), Kernel(gpu, 5000, 900))

    def forward(self, x):
        return self.b(self.a(x))


def test_cuda_path_times_and_peaks_by_hand(fake_cuda):
    """Events recorded on the model's device's stream (cuda:1, cuda:0 being current), read only after
    that device is synchronised, once per pass; per-module peaks folded under nesting."""
    gpu = fake_cuda
    r = torchcount.profile(Net(gpu), torch.randn(2, 2), measure=True, warmup=1, repeat=3, warn=False)
    want = {"": 9000, "a": 1000, "b": 8000, "b.0": 3000, "b.1": 5000}
    for path, ns in want.items():
        assert details(r, path)["inclusive_ns"] == [ns] * 3, path
    assert details(r, "b")["exclusive_ns"] == [0.0] * 3 and details(r, "b.1")["exclusive_ns"] == [5000] * 3
    assert r.row("b.1").extra["time_ms"] == pytest.approx(0.005)
    assert r.extra["plain_ms"] == pytest.approx(0.009) and r.extra["overhead"] == pytest.approx(1.0)
    assert set(gpu.records) == {1}
    # one synchronisation per pass (1 warm-up round and 3 repeats, each a plain and a stamped pass,
    # and the pass that probes the per-call floor), and two around the memory pass, all of cuda:1
    assert gpu.syncs == [1] * (2 * 1 + 2 * 3 + 1 + 2)
    # the memory pass: allocated 1000 before; each module's peak while it ran, its children's included
    peaks = {"a": 1400, "b.0": 1100, "b.1": 1900, "b": 1900, "": 1900}
    for path, peak in peaks.items():
        assert details(r, path)["peak_allocated"] == peak, path
        assert details(r, path)["allocated_at_entry"] == 1000
    assert r.row("a").extra["peak_MiB"] == pytest.approx(1400 / 2**20)
    assert r.extra["memory"] == {"kind": "cuda", "pass_peak_allocated": 1900, "allocated_before": 1000}
    assert gpu.resets == 1 + 5  # before the memory pass, and at every module's entry
    # the device's name picks the H200 row of the peaks table
    assert r.extra["device"] == "cuda:1" and r.extra["device_name"] == "NVIDIA H200"
    assert r.extra["peaks"]["name"] == "H200 SXM 141GB (NVIDIA H200)"
    assert r.extra["peaks"]["bandwidth"] == pytest.approx(4.8e12)
    assert any(line.startswith("memory: peak allocated during the pass") for line in r.extra["footer"])


#: the fake device the traced kernels below advance (symbolic_trace keeps a wrapped function's call)
_TRACED_GPU: list = [None]


@torch.fx.wrap
def _traced_kernel(x, ns):
    gpu = _TRACED_GPU[0]
    gpu.now_ns += ns
    return x * 2


class _TracedKernel(nn.Module):  # (no parameters: the traced GraphModule holds no module at its path)
    def __init__(self, ns: int):
        super().__init__()
        self.ns = ns

    def forward(self, x):
        return _traced_kernel(x, self.ns)


class _TracedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = _TracedKernel(1000)
        self.b = nn.Sequential(_TracedKernel(3000), _TracedKernel(5000))

    def forward(self, x):
        return self.b(self.a(x)) + 1


def test_cuda_path_times_a_graphs_layers_by_hand(fake_cuda):
    """A ``torch.fx.symbolic_trace`` graph of the model above: its layers exist only as the graph's
    spans (no module of the GraphModule runs them), and each is timed by the events its markers
    record, as a module of the eager model is: the same times by hand."""
    _TRACED_GPU[0] = fake_cuda
    try:
        gm = torch.fx.symbolic_trace(_TracedNet())
        assert not hasattr(gm, "a")
        r = torchcount.profile(gm, torch.randn(2, 2), measure=True, warmup=1, repeat=3, warn=False)
    finally:
        _TRACED_GPU[0] = None
    want = {"": 9000, "a": 1000, "b": 8000, "b.0": 3000, "b.1": 5000}
    for path, ns in want.items():
        assert details(r, path)["inclusive_ns"] == [ns] * 3, path
    assert details(r, "b")["exclusive_ns"] == [0.0] * 3
    assert r.row("b.1").extra["time_ms"] == pytest.approx(0.005) and r.row("b.1").type == "_TracedKernel"
    assert set(fake_cuda.records) == {1}


def _tf32_state():
    """Every TF32 setting torch has (legacy flags; torch ≥ 2.9's fp32_precision), 'raises' where
    reading it raises."""
    def read(f):
        try:
            return f()
        except RuntimeError:
            return "raises"
    b = torch.backends
    state = [read(lambda: b.cuda.matmul.allow_tf32), read(lambda: b.cudnn.allow_tf32),
             read(torch.get_float32_matmul_precision)]
    if hasattr(b, "fp32_precision"):
        state += [b.fp32_precision, b.cuda.matmul.fp32_precision, b.cudnn.fp32_precision,
                  b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision]
    return state


@pytest.fixture
def tf32_restored():
    """The process's TF32 settings put back after the test (torch's defaults are assumed found); the
    flags may be set during it, also where torch's test harness (imported by tests/test_opinfo.py)
    froze them with torch.backends.disable_global_flags()."""
    before = _tf32_state()
    with torch.backends.__allow_nonbracketed_mutation():
        yield
        _torch_defaults()
    assert _tf32_state() == before


def _torch_defaults():
    b = torch.backends
    torch.set_float32_matmul_precision("highest")
    b.cudnn.allow_tf32 = True
    if hasattr(b, "fp32_precision"):
        b.fp32_precision = "none"
        b.cudnn.fp32_precision = "none"
        b.cuda.matmul.fp32_precision = "none"
        b.cudnn.conv.fp32_precision = b.cudnn.rnn.fp32_precision = "tf32"


NEW_TF32_API = pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"),
                                  reason="torch < 2.9 has no fp32_precision API")


def test_by_default_a_matmul_follows_the_matmul_switch_not_cudnns(tf32_restored):
    """torch's defaults: matmuls off TF32 (torch.backends.cuda.matmul.allow_tf32 False), cuDNN's
    convolutions and recurrent layers on (cudnn.allow_tf32 True). uses_tf32 and tf32_enabled asked with
    no kind named are the matmuls' switch: False; conv=True or rnn=True: True."""
    from torchcount.measure.peaks import tf32_enabled, uses_tf32

    _torch_defaults()
    cuda = torch.device("cuda", 0)
    assert uses_tf32(cuda) is False and tf32_enabled() is False
    assert uses_tf32(cuda, conv=True) is True and uses_tf32(cuda, rnn=True) is True
    assert tf32_enabled(conv=True) is True and tf32_enabled(rnn=True) is True


@NEW_TF32_API
def test_tf32_set_through_the_new_api_is_read_not_raised(tf32_restored, fake_cuda):
    """torch 2.9+: with TF32 set through torch.backends.cuda.matmul.fp32_precision alone (the API
    PyTorch recommends), reading the legacy allow_tf32 raises ("mix of the legacy and new APIs"), and
    every measured CUDA profile failed after its timed passes. A float32 Linear is then held to the
    H200's dense TF32 peak, 989.4 / 2 = 494.7 TFLOP/s."""
    from torchcount.measure.peaks import uses_tf32

    torch.backends.cuda.matmul.fp32_precision = "tf32"
    with pytest.raises(RuntimeError):
        torch.backends.cuda.matmul.allow_tf32  # (what torchcount read)
    cuda = torch.device("cuda", 1)
    assert uses_tf32(cuda) is True and uses_tf32(cuda, conv=True) is True
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    assert uses_tf32(cuda, conv=True) is False and uses_tf32(cuda) is True
    model = nn.Sequential(Kernel(fake_cuda, 1000, features=4), nn.ReLU())
    r = torchcount.profile(model, torch.randn(2, 4), measure=True, warmup=0, repeat=1, warn=False)
    assert details(r, "0")["peak_flops"] == pytest.approx(494.7e12)
    assert details(r, "1")["peak_flops"] == pytest.approx(67e12)  # no multiply-accumulates: FP32


@NEW_TF32_API
def test_a_recurrent_layer_follows_cudnns_rnn_switch_under_the_new_api(tf32_restored):
    """torch 2.9+ sets cuDNN's convolutions and recurrent layers apart (cudnn.conv / cudnn.rnn
    fp32_precision); an LSTM followed the convolutions' switch. The legacy flag holds for both."""
    from torchcount.measure.peaks import uses_tf32

    cuda = torch.device("cuda", 0)
    torch.backends.cudnn.rnn.fp32_precision = "ieee"  # convolutions keep "tf32"
    assert uses_tf32(cuda, rnn=True) is False and uses_tf32(cuda, conv=True) is True
    torch.backends.cudnn.rnn.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    assert uses_tf32(cuda, rnn=True) is True and uses_tf32(cuda, conv=True) is False
    assert uses_tf32(torch.device("cpu"), rnn=True) is False  # TF32 is CUDA's


@NEW_TF32_API
@pytest.mark.parametrize("setting", [
    "torch.backends.cuda.matmul.fp32_precision = 'tf32'",
    "torch.backends.cudnn.conv.fp32_precision = 'ieee'",
    "torch.backends.fp32_precision = 'tf32'",  # a parent's setting, which outranks the legacy cuDNN flag
    "torch.set_float32_matmul_precision('medium')",
    "pass",  # torch's defaults
])
def test_ceiling_tf32_switch_sets_both_kinds_and_puts_every_setting_back(tf32_restored, setting):
    """The ceiling's FP32 and TF32 runs: inside _tf32(on) both matmuls and convolutions run with TF32
    as asked, whichever API the user set them with, and afterwards every setting reads as before
    (reading the legacy flags raised at entry with the new API; a 'medium' matmul precision came
    back 'high'; a default 'none' came back 'ieee')."""
    from torchcount.measure.ceiling import _tf32
    from torchcount.measure.peaks import tf32_enabled

    exec(setting)
    before = _tf32_state()
    for on in (False, True):
        with _tf32(on):
            assert (tf32_enabled(conv=False), tf32_enabled(conv=True)) == (on, on)
        assert _tf32_state() == before


def test_ceiling_tf32_switch_with_legacy_flags(tf32_restored):
    """The legacy flags alone (all torch ≥ 2.2 have them): set inside, as found after."""
    from torchcount.measure.ceiling import _tf32

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = True
    for on in (False, True):
        with _tf32(on):
            assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (on, on)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, False)


# ---- NVML: which GPU's energy counter is read -----------------------------------------------------
class FakeNVML(types.ModuleType):
    def __init__(self):
        super().__init__("pynvml")
        self.asked = []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByPciBusId(self, bus_id):
        self.asked.append(("pci", bus_id))
        return ("pci", bus_id)

    def nvmlDeviceGetHandleByIndex(self, index):
        self.asked.append(("index", index))
        return ("index", index)


def test_nvml_handle_by_pci_bus_id(monkeypatch):
    """A newer torch (2.11; not 2.2) gives the PCI address: NVML's form domain:bus:device.function in hex."""
    from torchcount.measure import energy

    nvml = FakeNVML()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    props = types.SimpleNamespace(pci_domain_id=0, pci_bus_id=27, pci_device_id=0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    assert energy._nvml_handle(torch.device("cuda", 1)) == (nvml, ("pci", b"00000000:1B:00.0"))


def test_nvml_handle_by_index_follows_cuda_visible_devices(monkeypatch):
    """Without a PCI address (torch 2.2) the handle came from CUDA's index, but NVML numbers every
    GPU of the machine: with CUDA_VISIBLE_DEVICES=2,3 the energy of cuda:1 is NVML's GPU 3, not 1."""
    from torchcount.measure import energy

    nvml = FakeNVML()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: types.SimpleNamespace())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert energy._nvml_handle(torch.device("cuda", 1)) == (nvml, ("index", 3))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert energy._nvml_handle(torch.device("cuda", 1)) == (nvml, ("index", 1))


def test_energy_through_a_fake_nvml_module(monkeypatch):
    """The whole NVML path (import, init, handle, counter) with a module standing for nvidia-ml-py:
    a counter advancing 250 mJ per forward gives 0.25 J per forward; an NVML whose init fails, and
    a missing nvidia-ml-py, are 'unavailable'."""
    from torchcount.measure import energy

    nvml = FakeNVML()
    counter = {"mJ": 5_000}
    nvml.nvmlDeviceGetTotalEnergyConsumption = lambda handle: counter["mJ"]
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: types.SimpleNamespace())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)

    def forward():
        counter["mJ"] += 250
        import time
        time.sleep(0.001)

    e = energy.measure_energy(forward, torch.device("cuda", 0), 0.001, min_seconds=0.02)
    assert e["status"] == "measured" and e["J_per_forward"] == pytest.approx(0.25)
    assert nvml.asked == [("index", 0)]

    def no_library():
        raise OSError("NVML Shared Library Not Found")

    nvml.nvmlInit = no_library
    e = energy.measure_energy(forward, torch.device("cuda", 0), 0.001, min_seconds=0.02)
    assert e["status"] == "unavailable" and "NVML Shared Library Not Found" in e["why"]
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: import raises ImportError
    e = energy.measure_energy(forward, torch.device("cuda", 0), 0.001, min_seconds=0.02)
    assert e["status"] == "unavailable" and "nvidia-ml-py" in e["why"]


# ---- peaks table: names torch.cuda.get_device_name() gives --------------------------------------
@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200"), ("NVIDIA H200 NVL", "H200 NVL"), ("NVIDIA B200", "B200"),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"), ("NVIDIA A100-SXM4-40GB", "A100 SXM 40GB"),
    ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"), ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB"),
    ("NVIDIA GH200 480GB", None), ("NVIDIA GB200", None), ("NVIDIA A10G", None), ("NVIDIA H800", None),
    ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", None), ("NVIDIA H200 MIG 3g.71gb", None),
])
def test_device_names_to_peaks(name, key):
    """GB200's GPU (Grace Blackwell, 1200 W) is not the HGX B200 at 1000 W whose row the table holds,
    as GH200 is not H200: both unknown rather than held to another part's peaks."""
    from torchcount.measure import GPU_PEAKS, lookup

    assert lookup(name) is (GPU_PEAKS[key] if key else None)


# ---- benchmarks/gpu_profile.py ------------------------------------------------------------------
def _gpu_profile():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_profile.py"
    spec = importlib.util.spec_from_file_location("_gpu_profile_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_profile_leaves_are_layers_not_the_root():
    """The root's '(self)' row has path '' and no row starts with '.': it was taken for a leaf, so
    the whole model's inclusive time was listed among 'the slowest layers' and added into the
    torch.profiler agreement sums beside the layers it contains."""
    bench = _gpu_profile()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.ReLU())

        def forward(self, x):
            return self.b(self.a(x) * 2)  # the root's own work: a '(root) (self)' row

    r = torchcount.profile(Model(), torch.randn(2, 4), warn=False)
    assert r.root in r.layers  # (the case at hand)
    assert sorted(row.path for row in bench.leaves(r)) == ["a", "b.0", "b.1"]


def test_gpu_profile_skips_a_model_whose_package_fails_to_import(monkeypatch, tmp_path):
    """A package that is installed but fails on import with another error than ImportError (a
    torchvision built for another torch raises RuntimeError) skipped nothing: the whole run died
    before its first configuration. Now the model is skipped and named, and the rest runs."""
    bench = _gpu_profile()
    import builtins

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        if name == "transformers":  # (whether installed here or not)
            return types.SimpleNamespace(__version__="0")
        return real_import(name, *args, **kwargs)

    ran = []
    monkeypatch.setattr(builtins, "__import__", broken)
    monkeypatch.setattr(bench, "run_one", lambda name, *a, **k: ran.append(name) or (_ for _ in ()).throw(
        RuntimeError("stop here")))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # (main sets 1 on a CPU)
    out = tmp_path / "out"
    bench.main(["--device", "cpu", "--quick", "--models", "resnet50,whisper_tiny_shaped", "--out", f"{out}/"])
    text = next(out.iterdir()).read_text()
    assert "skipped (a package this machine lacks): resnet50 (RuntimeError" in text
    assert ran == ["whisper_tiny_shaped"]


def test_a_mig_slice_has_unknown_peaks_and_says_why(monkeypatch):
    """torch names a MIG slice after its GPU ("NVIDIA A100-SXM4-40GB MIG 1g.5gb"): it was held to the
    whole A100's peaks, though a 1g slice has 1/7 of its SMs, so every %peak read ~7× low."""
    from torchcount.measure import peaks_for

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-40GB MIG 1g.5gb")
    got = peaks_for(torch.device("cuda", 0))
    assert got.kind == "unknown" and got.fp32 is None and "MIG slice" in got.source


def test_ceiling_tf32_switch_where_torch_froze_the_flags(tf32_restored):
    """torch's test harness (torch.testing._internal.common_utils, which tests/test_opinfo.py imports)
    freezes torch.backends' flags: setting cuDNN's then raises outside a flags() context. The
    ceiling's switch sets and puts them back as such a context does."""
    from torchcount.measure.ceiling import _tf32
    from torchcount.measure.peaks import tf32_enabled

    was_frozen = torch.backends.flags_frozen()
    torch.backends.disable_global_flags()
    try:
        with pytest.raises(RuntimeError, match="disable_global_flags"):
            torch.backends.cudnn.allow_tf32 = False
        before = _tf32_state()
        for on in (False, True):
            with _tf32(on):
                assert (tf32_enabled(conv=False), tf32_enabled(conv=True)) == (on, on)
            assert _tf32_state() == before
    finally:
        # (the flag is a global of torch.backends' functions, whose module object is another one)
        torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = not was_frozen


@pytest.mark.parametrize("conv, matmul", [(True, False), (True, True), (False, False)])
def test_footer_names_the_tf32_peak_float32_contractions_are_rated_against(tf32_restored, fake_cuda, conv, matmul):
    """The footer's peak line gives the FP32 figure and, where a TF32 switch is on, the TF32 one the
    contractions of that kind are held to (on the H200, CLI output read 'FP32 67 TFLOP/s' beside a
    convolution at 9.9 TFLOP/s shown as 2.0 % of peak: of TF32's 494.7, which the line did not say)."""
    torch.backends.cudnn.allow_tf32 = conv
    torch.backends.cuda.matmul.allow_tf32 = matmul
    r = torchcount.profile(Net(fake_cuda), torch.randn(2, 2), measure=True, warmup=1, repeat=1, warn=False)
    line = next(line for line in r.extra["footer"] if line.startswith("peaks ("))
    assert "FP32 67 TFLOP/s" in line
    if not conv and not matmul:
        assert "TF32" not in line
    else:
        kinds = ["convolutions", "recurrent layers"] + (["matmuls"] if matmul else [])
        assert f"(float32 {', '.join(kinds)}: TF32, on, 495 TFLOP/s)" in line


def _two_doublings(gpu, last: "nn.Module | None" = None):
    """Net2 of the two tests below: a Linear(512, 512) taking 1000 ns, then two doublings of 2×512
    elements taking 3000 and 5000 ns on the fake clock (then ``last``, where given)."""

    class TimedLinear(nn.Linear):  # (a Linear, priced by its rule, whose call takes 1000 ns)
        def forward(self, x):
            gpu.now_ns += 1000
            return super().forward(x)

    class Net2(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = TimedLinear(512, 512, bias=False)
            self.b = nn.Sequential(Kernel(gpu, 3000), Kernel(gpu, 5000))
            self.c = last

        def forward(self, x):
            y = self.b(self.a(x))
            return self.c(y) if self.c is not None else y

    return Net2()


def _floor_takes(monkeypatch, gpu, ns: int) -> None:
    """The module the per-call floor probes takes ``ns`` on the fake clock."""
    from torchcount.measure import timing

    one_op = timing._OneOp.forward

    def timed(self, x):
        gpu.now_ns += ns
        return one_op(self, x)

    monkeypatch.setattr(timing._OneOp, "forward", timed)


def test_time_by_bound_partitions_the_forward_and_names_a_launch_bound_gpu(fake_cuda, monkeypatch):
    """Each row's own time summed by its bound, as % of the forward. By hand, on the H200 row of the
    peaks table (FP32 67 TFLOP/s, 4.8 TB/s, TF32 off for matmuls): layer ``a`` is a Linear(512, 512)
    on 2 rows taking 1000 ns: 2·2·512² = 1,048,576 FLOPs (15.6 ns at peak) and at least its 1 MiB of
    weights read (218 ns at 4.8 TB/s), so its roofline time is ≥ 10 % of 1000 ns and traffic dominates:
    memory-bound, 1000 of the 9000 ns. ``b.0`` and ``b.1`` double 2×512 elements in 3000 and 5000 ns:
    far from any roofline (1024 FLOPs, 8 KiB: under 2 ns). A call that does next to nothing takes
    2000 ns here, 67 % and 40 % of their times: the calls explain them, overhead-bound, 8000 ns.
    Containers and the root spend no time of their own on the fake clock. A majority of overhead on a
    GPU is called launch-bound (the H200's batch-1 runs)."""
    _floor_takes(monkeypatch, fake_cuda, 2000)
    torch.backends.cuda.matmul.allow_tf32 = False
    r = torchcount.profile(_two_doublings(fake_cuda), torch.randn(2, 512), measure=True, warmup=1, repeat=2,
                           warn=False)
    assert r.extra["call_floor_us"] == pytest.approx(2.0)
    # (a GPU kernel's time holds no host page faults: none are counted or priced)
    assert r.extra["page_faults"] is None and r.extra["fault_cost_us"] is None
    assert details(r, "a")["page_faults"] is None and details(r, "a")["fault_ms"] is None
    assert r.row("a").extra["bound"] == "memory" and r.row("b.1").extra["bound"] == "overhead"
    # a floor per call, or per op a row ran itself where it ran more; a row's whole time adds those of
    # the rows below it: b and its two children; the root's call, a's two ops (a Linear subclass with a
    # forward of its own, priced from what it ran: a transpose and a matmul), b's three
    assert [details(r, p)["fixed_ms"] for p in ("b.1", "a", "b", "")] == pytest.approx([0.002, 0.004, 0.006, 0.012])
    assert r.extra["time_by_bound"] == pytest.approx({"overhead": 100 * 8000 / 9000, "memory": 100 * 1000 / 9000})
    line = next(line for line in r.extra["footer"] if line.startswith("time by bound"))
    assert line.startswith("time by bound (each row's own time; a module call costs 2 µs doing next to "
                           "nothing): overhead 89%, memory 11% — launch-bound")


class SlowIdentity(nn.Identity):
    """No work at all, taking ``ns`` on the fake clock."""

    def __init__(self, gpu: FakeDevice, ns: int):
        super().__init__()
        self.gpu, self.ns = gpu, ns

    def forward(self, x):
        self.gpu.now_ns += self.ns
        return x


def test_a_layer_far_below_its_roofline_whose_calls_are_cheap_is_latency_bound(fake_cuda, monkeypatch):
    """On the H200 row of the peaks table (4.8 TB/s), a doubling of 65,536 float32 elements reads and
    writes 512 KiB: 109 ns, 3.6 % of the 3000 ns it takes on the fake clock (and 2.2 % of 5000), so the
    roofline does not explain it. A call that does next to nothing takes 100 ns here: 3.3 % (2 %) of
    its time, under 5 % (more than 20 floors per call), and less than its 109 ns of work. Neither its
    work nor its call explains its time: latency-bound, as is most of the forward. A row that does
    nothing countable is overhead-bound however long it takes (an Identity given 4000 ns), and so is
    one with less work than a call: a doubling of 1,024 elements (8 KiB, 1.7 ns) given 3000 ns."""
    gpu = fake_cuda
    _floor_takes(monkeypatch, gpu, 100)
    model = nn.Sequential(Kernel(gpu, 3000), SlowIdentity(gpu, 4000), Kernel(gpu, 5000))
    r = torchcount.profile(model, torch.randn(1, 65536), measure=True, warmup=1, repeat=2, warn=False)
    assert [r.row(p).extra["bound"] for p in ("0", "1", "2")] == ["latency", "overhead", "latency"]
    why = details(r, "0")["why"]
    assert why.startswith("roofline time 0.109 µs is 3.6% of the measured 3 µs; its calls' fixed cost 0.1 µs is 3.3%")
    assert "far below the device's rates" in why
    assert r.extra["time_by_bound"] == pytest.approx({"latency": 100 * 8000 / 12000, "overhead": 100 * 4000 / 12000})
    line = next(line for line in r.extra["footer"] if line.startswith("time by bound"))
    assert "latency 67%, overhead 33% — mostly latency: kernels run far below" in line

    # explain puts the measurement beside the worked count: 3000 of 12000 ns; 65,536 multiplications
    # in 3 µs = 21.8 GFLOP/s, 0.0326 % of the FP32 67 TFLOP/s; 524,288 bytes in 3 µs = 175 GB/s
    text = r.explain("0")
    assert text.index("breakdown:") < text.index("measured on NVIDIA H200, median of 2 passes: 0.003 ms "
                                                 "(IQR 0.003–0.003), 25.0% of the forward")
    assert "  21.8 GFLOP/s, 0.0326% of its peak 67 TFLOP/s (float32); 175 GB/s over 524,288 bytes; " \
           "intensity 0.125 FLOP/B" in text
    assert "  bound: latency — roofline time 0.109 µs is 3.6% of the measured 3 µs; its calls' fixed cost " \
           "0.1 µs is 3.3%: neither explains" in text
    assert "its own time" not in text and "its own time 0 ms" in r.explain("")  # (the root's: its children's)
    assert torchcount.load_report(r.to_json()).explain("0").endswith(text[text.index("measured on"):])
    assert "measured on" not in torchcount.profile(model, torch.randn(1, 65536), warn=False).explain("0")

    small = torchcount.profile(Kernel(gpu, 3000), torch.randn(2, 512), measure=True, warmup=1, repeat=2, warn=False)
    assert small.row("").extra["bound"] == "overhead"
    assert "and its work needs less than that: at this size the time goes to what comes with the work" \
        in details(small, "")["why"]


def test_a_row_that_runs_many_small_ops_itself_holds_a_floor_per_op(fake_cuda, monkeypatch):
    """A module's own part made of many small ops (a decoder building its masks between its layers)
    pays a dispatch per op, not one per call. Here 30 additions to 65,536 float32 elements: 15 MiB
    read and written, 3.3 µs at 4.8 TB/s, in 50 µs on the fake clock (6.6 %: far below the roofline).
    With a 100 ns floor, one per op: 3 µs of fixed cost, 6 % of its time, overhead-bound; held to one
    floor per call (0.2 %, under its 3.3 µs of work) it would have been called latency-bound.
    ``own_ops`` counts its ops as recorded; a rule's row records none (the ReLU: 0)."""
    gpu = fake_cuda
    _floor_takes(monkeypatch, gpu, 100)

    class ManySmallOps(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            gpu.now_ns += 50_000
            for _ in range(30):
                x = x + 1
            return self.act(x)

    r = torchcount.profile(ManySmallOps(), torch.randn(1, 65536), measure=True, warmup=1, repeat=2, warn=False)
    root = r.row("")
    assert root.own_ops == 30 and r.row("act").own_ops == 0
    assert details(r, "")["fixed_ms"] == pytest.approx((30 + 1) * 100 / 1e6)  # (its own 30, the ReLU's call)
    assert root.self_extra["bound"] == "overhead"


def test_time_holding_work_no_formula_counts_is_never_latency_bound(fake_cuda, monkeypatch):
    """Two doublings of 65,536 elements in ``b`` (109 ns of work each at 4.8 TB/s, in 3000 and 5000 ns)
    and ``c`` (4000 ns), which adds an eigen-decomposition's sum, an op with no formula (†). With a
    10 ns floor, ``b``'s three calls cost 30 ns, 0.4 % of its time and less than its 218 ns of work:
    latency-bound. The root's 12000 ns are as far from its roofline and its calls and ops as cheap,
    but its time holds c's, which may be that uncounted work's: it keeps the rule without a floor,
    overhead, as c does (a table cut at depth 1 read '(root)' and '1 †' as latency-bound before)."""
    gpu = fake_cuda
    _floor_takes(monkeypatch, gpu, 10)

    class Uncounted(nn.Module):
        def forward(self, x):
            gpu.now_ns += 4000
            return x + torch.linalg.eigvals(x[:, :4].reshape(2, 2)).real.sum()

    model = nn.Sequential(nn.Sequential(Kernel(gpu, 3000), Kernel(gpu, 5000)), Uncounted())
    r = torchcount.profile(model, torch.randn(1, 65536), measure=True, warmup=1, repeat=2, warn=False)
    assert [u.path for u in r.uncounted] == ["1"]
    assert details(r, "")["inclusive_ns"] == [12000] * 2
    assert [r.row(p).extra["bound"] for p in ("", "0", "1")] == ["overhead", "latency", "overhead"]
    assert details(r, "0")["fixed_ms"] == pytest.approx(30 / 1e6) and details(r, "")["fixed_ms"] is None
    assert "fixed cost" not in details(r, "")["why"]


def test_gpu_profile_report_sums_the_layers_by_type():
    """The report's 'By layer type' section is Report.by_type's Markdown: here two Linear layers of
    4·4 + 4 parameters each, one group."""
    bench = _gpu_profile()
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    r = torchcount.profile(model, torch.randn(2, 4), warn=False)
    text = bench._document(["# head"], [], [], [], [], torch.device("cpu"), [("toy, fp32, batch 2", r.by_type())])
    section = text[text.index("## By layer type"):]
    assert "### toy, fp32, batch 2" in section
    line = next(x for x in section.splitlines() if x.startswith("| Linear"))
    assert [c.strip() for c in line.strip("|").split("|")][:4] == ["Linear", "2", "2", "40"]
