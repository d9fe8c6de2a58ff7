"""Every module of PyTorch's own module database (ModuleInfo: the constructor and forward inputs
torch tests each ``nn`` module with), profiled twice: as itself, priced by its module rule, and
hidden from torchcount (run by a wrapper that does not register it), so the same forward is
priced from the aten ops it ran. Per input, in eval mode and, for layers that behave otherwise
in training, in training mode:

- torchcount never fails where the module runs;
- nothing is uncounted but ``multilabel_margin_loss`` (docs/coverage.md);
- the MACs of the rule and of the ops agree: the two paths are independent code, so a rule that
  misses or doubles a contraction shows here (other categories may differ where a rule counts
  the textbook form and PyTorch runs another, e.g. a recurrent cell's two bias additions);
- 2·MACs is never under ``torch.utils.flop_counter``'s count.

The first input of each ModuleInfo runs in ``make test``; all of them as ``slow``."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from conftest import Hidden

pytest.importorskip("expecttest")  # torch.testing._internal needs it
#: torch's own warnings about the sample modules and inputs (deprecations, prototype APIs): noise here
pytestmark = pytest.mark.filterwarnings("ignore")
from torch.testing._internal.common_modules import module_db  # noqa: E402

KNOWN_UNCOUNTED = {"aten.multilabel_margin_loss_forward.default"}
#: layers whose training forward computes something else (batch statistics, running updates, dropout)
TRAIN_TOO = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
             "GroupNorm", "LayerNorm", "RNN", "GRU", "LSTM", "MultiheadAttention", "TransformerEncoderLayer",
             "TransformerDecoderLayer"}


def _cases(per_module):
    for info in module_db:
        try:
            inputs = info.module_inputs_func(info, device="cpu", dtype=torch.float32, requires_grad=False,
                                             training=False)
        except Exception:
            continue
        for i, mi in enumerate(inputs[:per_module]):
            modes = ("eval", "train") if info.module_cls.__name__ in TRAIN_TOO else ("eval",)
            for mode in modes:
                yield f"{info.module_cls.__name__}[{i}] {mode}", info.module_cls, mi, mode


def _sweep(per_module):
    failures, gaps, unequal, under = [], [], [], []
    for name, cls, mi, mode in _cases(per_module):
        c, f = mi.constructor_input, mi.forward_input
        kwargs = {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                  for k, v in c.kwargs.items()}
        try:
            torch.manual_seed(0)
            base = cls(*c.args, **kwargs).train(mode == "train")
            with torch.no_grad():
                base(*copy.deepcopy(tuple(f.args)), **copy.deepcopy(dict(f.kwargs)))  # materialises a lazy module
        except Exception:
            continue  # not runnable here (the module refuses this input on CPU)

        def run(wrap):
            m = copy.deepcopy(base)
            torch.manual_seed(1)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torchcount.profile(wrap(m), copy.deepcopy(tuple(f.args)),
                                          kwargs=copy.deepcopy(dict(f.kwargs)) or None, warn=False)

        try:
            ruled = run(lambda m: m)
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        try:
            hidden = run(Hidden)
        except Exception as exc:
            failures.append(f"{name} (hidden): {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if any("on nested tensors" in u.what for u in hidden.uncounted):
            # a TransformerEncoder given a padding mask in eval runs on nested tensors when torchcount
            # cannot see it (hidden here): listed as uncounted (docs/coverage.md); registered, it is counted
            continue
        missing = {u.what for u in ruled.uncounted} - KNOWN_UNCOUNTED
        if missing:
            gaps.append(f"{name}: {sorted(missing)}")
        if ruled.total.macs != hidden.total.macs:
            unequal.append(f"{name}: rule {ruled.total.macs} MACs, ops {hidden.total.macs}")
        m = copy.deepcopy(base)
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            m(*copy.deepcopy(tuple(f.args)), **copy.deepcopy(dict(f.kwargs)))
        if 2 * ruled.total.macs < fc.get_total_flops():
            under.append(f"{name}: 2·MACs {2 * ruled.total.macs} < flop_counter {fc.get_total_flops()}")
    return failures, gaps, unequal, under


def _check(per_module):
    failures, gaps, unequal, under = _sweep(per_module)
    assert not failures, failures
    assert not gaps, gaps
    assert not unequal, unequal
    assert not under, under


def test_moduleinfo_first_input(one_thread):
    _check(1)


@pytest.mark.slow
def test_moduleinfo_every_input(one_thread):
    _check(10_000)
