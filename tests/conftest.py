"""Shared helpers for torchcount's tests."""
from __future__ import annotations

import contextlib
import warnings

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
