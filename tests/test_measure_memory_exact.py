"""measure/memory.py on chosen modules: the activation bytes of a call's new output storages, the
parameter and buffer bytes of a subtree, the module a memory pass failed in, the peaks of a fake
allocator and the process's resident set as /proc gives it. Each expected figure follows by hand from
the tensors' shapes (float32: 4 bytes an element) or from an independent read of /proc, and each test
was written to fail on a mutant of torchcount/measure/memory.py that the other tests let pass."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from torchcount.measure import memory


class _Output:
    """As a transformers ModelOutput: its tensors through to_tuple()."""

    def __init__(self, *tensors):
        self.tensors = tensors

    def to_tuple(self):
        return self.tensors


class _Outputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(5))

    def forward(self, x, y=None):
        a = x * 2
        return {"a": a, "rest": [x[0], a[1], self.w, y[1:], torch.zeros(3)],
                "out": _Output(y + 1), "sparse": torch.ones(2, 2).to_sparse()}


def test_a_calls_activation_bytes_are_its_new_storages_once_each_wherever_they_are_returned():
    """An output dict holding a 4×4 product (64 bytes) and, in a list, a view of the input, a view of
    the product (the same storage: once), the module's own parameter, a view of an input passed by
    keyword, and 3 fresh zeros (12 bytes); an object with to_tuple (a ModelOutput) holding y + 1 (2×2,
    16 bytes); a sparse tensor (no storage: not counted). New: 64 + 12 + 16 = 92 bytes."""
    model = _Outputs()
    with torch.no_grad(), memory.memory_hooks(model, torch.device("cpu")) as results:
        model(torch.ones(4, 4), y=torch.ones(2, 2))
    assert results[""]["act_bytes"] == 92 and results[""]["own_act_bytes"] == 92


def test_state_bytes_are_a_subtrees_unique_parameters_and_buffers():
    """A Linear(2, 3) (6 + 3 float32: 36 bytes) and a BatchNorm1d(3) (weight and bias 24 bytes; running
    mean and variance 24 and num_batches_tracked's int64 8: 32), the Linear's weight tied into a second
    name once more: (60, 32) for the subtree by default, (0, 0) for the Sequential's own; a LazyLinear
    not yet called holds no sized tensor: (0, 0)."""
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    model.tied = model[0]
    assert memory.state_bytes(model) == (60, 32)
    assert memory.state_bytes(model, recurse=False) == (0, 0)
    assert memory.state_bytes(nn.LazyLinear(3)) == (0, 0)


class _Raises(nn.Module):
    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def forward(self, x):
        raise self.exc


class _ReRaises(nn.Module):
    """'a' raises a KeyError, a Linear returns, then the model raises that same KeyError again itself."""

    def __init__(self):
        super().__init__()
        self.a, self.lin = _Raises(KeyError("k")), nn.Linear(2, 2)

    def forward(self, x):
        try:
            self.a(x)
        except KeyError as e:
            caught = e
        self.lin(x)
        raise caught


def test_the_memory_pass_fails_in_the_innermost_module_of_the_exception_that_escaped():
    """FAILED_IN names where the exception that escaped was raised: 'b', not 'a', whose exception of the
    same type was handled; the model itself ('') when it raises again an exception a Linear returned
    after; none where a module returned None with no exception about (its call is recorded: no new
    storage)."""
    from test_measure_timing_exact import Retries, ReturnsNone  # (the same cases failed_in is tested on)

    x = torch.ones(1, 2)
    for model, where in ((Retries(), "b"), (_ReRaises(), "")):
        with torch.no_grad(), memory.memory_hooks(model, torch.device("cpu")) as results:
            with pytest.raises((ValueError, KeyError)):
                model(x)
        assert results[memory.FAILED_IN] == where
    model = nn.Sequential(ReturnsNone())
    with torch.no_grad(), memory.memory_hooks(model, torch.device("cpu")) as results:
        model(x)
    assert memory.FAILED_IN not in results and results["0"]["act_bytes"] == 0


def test_a_module_that_allocates_nothing_peaks_at_nothing(monkeypatch):
    """On CUDA (a fake allocator with nothing allocated, whose peak stays 0): a ReLU's peak and its
    allocated bytes at entry are 0, not the 1 byte a mutant started every peak from."""
    monkeypatch.setattr(memory, "cuda_tracker", lambda device: memory.PeakTracker(lambda: 0, lambda: 0, lambda: None))
    model = nn.Sequential(nn.ReLU())
    with torch.no_grad(), memory.memory_hooks(model, torch.device("cuda")) as results:
        model(torch.ones(2))
    assert (results["0"]["peak"], results["0"]["at_entry"]) == (0, 0)


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="no /proc (not Linux)")
def test_the_resident_set_is_the_one_proc_self_status_gives():
    """current_rss_bytes reads /proc/self/statm's resident pages × the page size: the VmRSS of
    /proc/self/status within 4 MiB (read a moment apart), not statm's shared pages (a torch process's
    libraries alone: hundreds of MiB fewer)."""
    assert abs(memory.current_rss_bytes() - _status_bytes("VmRSS:")) < 4 << 20


def test_resetting_the_peak_rss_brings_it_down_to_the_resident_set(monkeypatch):
    """A 64 MiB tensor written and freed leaves the peak (VmHWM) 64 MiB above the resident set; after
    reset_peak_rss (True where /proc/self/clear_refs takes "5") the peak is the resident set again,
    within 8 MiB. Where it cannot be written: False."""
    try:  # (asked of the system, not of reset_peak_rss: one that wrongly said False would skip this test)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("/proc/self/clear_refs cannot be written here")
    from test_measure import PAGE, _touch_fresh_pages

    # pages fresh from the system, written and unmapped (a freed tensor may reuse pages the process
    # already holds, and then raises no peak: it failed so late in a whole suite under torch 2.2)
    _touch_fresh_pages((64 << 20) // PAGE)
    assert memory.peak_rss_bytes() >= memory.current_rss_bytes() + (60 << 20)
    assert memory.reset_peak_rss() is True
    assert memory.peak_rss_bytes() < memory.current_rss_bytes() + (8 << 20)

    def refuse(path, *args, **kwargs):
        raise PermissionError(path)

    monkeypatch.setattr(memory, "open", refuse, raising=False)
    assert memory.reset_peak_rss() is False
