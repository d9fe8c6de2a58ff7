"""Every op in PyTorch's own op database (OpInfo: the sample inputs torch tests each op with),
run through ``torchcount.profile`` inside a module without a rule, so each op is priced by its
op rule. Three checks per sample:

- torchcount never fails where the op itself runs;
- an op without a formula is one of the documented uncounted ops (docs/coverage.md), never a
  silent zero: anything else that ends up uncounted is a gap to close;
- contractions: our MACs, at 2 FLOPs each, are at least what ``torch.utils.flop_counter``
  counts (it prices matmuls, convolutions and attention only), and equal it for the OpInfos that
  are nothing but a contraction (where it counts them: it leaves a dot product and mv at 0).

The first samples of each OpInfo run in ``make test``; every sample, complex inputs and the
other dtypes (half precisions, float64, int64, bool) run as ``slow`` (``make test-slow``)."""
from __future__ import annotations

import itertools
import warnings

import pytest
import torch
import torch.utils._pytree as pytree
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from conftest import TESTED_TORCH, unexplained_differences

pytest.importorskip("expecttest")  # torch.testing._internal needs it
#: torch's own warnings about the sample modules and inputs (deprecations, prototype APIs): noise here
pytestmark = pytest.mark.filterwarnings("ignore")
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402


@pytest.fixture(autouse=True)
def _no_stack_walk_per_sample(monkeypatch):
    """Each ``sample_inputs`` call walks the whole stack with ``inspect.stack()`` looking for a
    ``unittest.TestCase`` test method (to seed by its name and record the sample on it); under pytest
    it finds none and returns None, after reading the source of every frame. That was most of these
    sweeps' time: the two first-sample sweeps took 39 s and 38 s on a 2-core host, and take 2.4 s and
    7.8 s without it. Returning None at once gives the same samples, seeded with torch's fixed
    ``SEED`` as before."""
    from torch.testing._internal import common_utils
    from torch.testing._internal.opinfo import core

    for module in (common_utils, core):
        if hasattr(module, "extract_test_fn"):
            monkeypatch.setattr(module, "extract_test_fn", lambda: None)

#: ops left uncounted on purpose (docs/coverage.md): iterative or value-dependent work
#: (eigen- and singular-value decompositions, pinv, lstsq's SVD drivers, matrix_exp; a polynomial
#: whose degree is a tensor; how many label pairs a multilabel margin compares), and rarely met ops
#: not priced yet (LDL, hash_tensor, histogramdd, a masked index put
#: that accumulates)
KNOWN_UNCOUNTED = {
    "_linalg_svd", "_linalg_eigh", "linalg_eig", "linalg_pinv", "linalg_lstsq", "linalg_matrix_exp",
    "linalg_ldl_factor_ex", "linalg_ldl_solve", "hash_tensor",
    "multilabel_margin_loss_forward", "_unsafe_masked_index_put_accumulate", "_histogramdd_bin_edges", "_histogramdd_from_bin_cts", "_histogramdd_from_bin_tensors",
    *(f"special_{p}_polynomial_{k}" for p in ("chebyshev", "shifted_chebyshev") for k in "tuvw"),
    "special_hermite_polynomial_h", "special_hermite_polynomial_he", "special_laguerre_polynomial_l",
    "special_legendre_polynomial_p", "gcd", "lcm",  # (Euclid's steps depend on the values)
}

#: OpInfos that are one contraction (flop_counter prices all of their work)
CONTRACTIONS = {"mm", "bmm", "addmm", "baddbmm", "matmul", "linear", "nn.functional.linear", "einsum", "tensordot",
                "nn.functional.conv1d", "nn.functional.conv2d", "nn.functional.conv3d",
                "nn.functional.conv_transpose1d", "nn.functional.conv_transpose2d", "nn.functional.conv_transpose3d",
                "nn.functional.scaled_dot_product_attention", "__rmatmul__", "inner"}

_SKIP_WORDS = ("sparse", "nested", "quantize", "_backward", "cuda", "jiterator", "_refs", "mkldnn")


def _opinfos():
    seen, found = set(), []
    for info in op_db:
        name = info.name + ("." + info.variant_test_name if info.variant_test_name else "")
        if name in seen or any(w in name for w in _SKIP_WORDS):
            continue
        seen.add(name)
        found.append((name, info))
    return found


class _Op(nn.Module):
    """A module without a rule whose forward runs the op (the sample's input is the module's)."""

    def __init__(self, info, args, kwargs):
        super().__init__()
        self.info, self.args, self.kw = info, args, kwargs

    def forward(self, x):
        out = self.info.op(x, *self.args, **self.kw)
        if not any(isinstance(t, torch.Tensor) for t in pytree.tree_leaves(out)):
            return x  # a bool or a number (allclose, item): keep a tensor output
        return out


def _samples(info, dtype, n):
    if not info.supports_dtype(dtype, "cpu"):
        return []
    out = []
    for s in itertools.islice(info.sample_inputs("cpu", dtype, requires_grad=False), n):
        leaves = [t for t in pytree.tree_leaves((s.input, s.args, s.kwargs)) if isinstance(t, torch.Tensor)]
        if isinstance(s.input, torch.Tensor) and all(t.layout == torch.strided for t in leaves):
            out.append(s)
    return out


def _sweep(dtype, per_op):
    failures, gaps, under, unequal = [], {}, [], []
    for name, info in _opinfos():
        try:
            samples = _samples(info, dtype, per_op)
        except Exception:  # the OpInfo cannot make samples here (a missing backend)
            continue
        for s in samples:
            clone = pytree.tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, (s.input, s.args, s.kwargs))
            try:
                with FlopCounterMode(display=False) as fc:
                    info.op(clone[0], *clone[1], **clone[2])
            except Exception:
                continue  # the op itself refuses this sample here
            x, args, kwargs = pytree.tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t,
                                              (s.input, s.args, s.kwargs))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    report = torchcount.profile(_Op(info, args, kwargs), (x,), warn=False)
            except Exception as exc:
                failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            for u in report.uncounted:
                packet = u.what.split(".")[1] if u.what.startswith("aten.") else u.what
                if packet not in KNOWN_UNCOUNTED:
                    gaps.setdefault(u.what, set()).add(name)
            flops = fc.get_total_flops()
            if 2 * report.total.macs < flops:
                under.append(f"{name}: 2·MACs {2 * report.total.macs} < flop_counter {flops}")
            # (flop_counter leaves dot and mv at 0, and counts a complex matmul as a real one where
            # we count 4 real MACs per complex MAC, docs/conventions.md; a complex convolution runs
            # as 3 real ones, which both count)
            if name in CONTRACTIONS and flops and not dtype.is_complex and 2 * report.total.macs != flops:
                unequal.append(f"{name}: 2·MACs {2 * report.total.macs} ≠ flop_counter {flops}")
    return failures, gaps, under, unequal


def _check(dtype, per_op):
    with torch.no_grad():
        failures, gaps, under, unequal = _sweep(dtype, per_op)
    assert not failures, failures
    assert not gaps, {op: sorted(names) for op, names in gaps.items()}
    assert not under, under
    assert not unequal, unequal


def test_opinfo_first_samples(one_thread):
    _check(torch.float32, 2)


@pytest.mark.slow
def test_opinfo_every_sample(one_thread):
    _check(torch.float32, 10_000)


@pytest.mark.slow
def test_opinfo_complex(one_thread):
    _check(torch.complex64, 3)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64, torch.int64, torch.bool])
def test_opinfo_other_dtypes(one_thread, dtype):
    _check(dtype, 2)


# ---- grad modes and the meta device count alike ---------------------------------------------------
# Each sample is profiled under no_grad (the reference), under inference_mode, in grad mode with the
# inputs the OpInfo marks as requiring grad (forward only), and under inference_mode on meta (compared
# with the CPU under inference_mode). Every operation category and the uncounted ops must agree, and so
# must bytes, but where PyTorch runs other kernels (docs/coverage.md, Grad modes; docs/performance.md,
# Limits of meta counting). The op's output must also be what it is unprofiled: torchcount runs some
# composite ops itself under inference_mode.

def _more(reference: int, other: int) -> bool:
    return other > reference


def _fewer(reference: int, other: int) -> bool:
    return other < reference


_SAVED_INPUT = "autograd copies the input of the in-place clamp_min_ whose backward needs it"
_SAVED_LERP = "autograd copies the input of the in-place lerp_ (interpolating between ranks) whose backward needs it"
_FOLD = ("matmul folds a ≥3-D operand into one matrix (a copy, then mm/mv) when the other one requires "
         "grad, instead of a bmm over an expanded view")
_SDPA_MASK = "an attn_mask that requires grad sends SDPA to its math path, not the CPU flash kernel"
_CONJ = ("under inference_mode a composite op given a conjugate view (A.mH @ Q) has it materialised "
         "first; autograd mode hands the view to a part that reads it as it is")
_SDPA_META = "on meta SDPA runs its math fallback (docs/performance.md, Limits of meta counting)"
_BN_META = ("an eval-mode native_batch_norm's saved mean and inverse std are empty on the CPU and C "
            "values each on meta")
_QUANTILE_META = "quantile's check that q lies in [0, 1] runs on CPU tensors only: 4 comparisons per q"
#: (OpInfo, mode, category) → (why it may differ from the reference's count, how: a test of (the
#: reference's count, the mode's), the dtype kind it is met with). A bytes entry covers bytes read and
#: written. Every operation count agrees but quantile's on meta.
MODE_DIFFERENCES = {
    **{(name, "grad", "bytes"): (_SAVED_INPUT, _more, "real") for name in (
        "nn.functional.margin_ranking_loss", "nn.functional.hinge_embedding_loss",
        "nn.functional.cosine_embedding_loss")},
    **{(name, "grad", "bytes"): (_FOLD, _more, "real") for name in ("matmul", "__rmatmul__")},
    **{(name, "grad", "bytes"): (_SAVED_LERP, _more, "real") for name in ("quantile", "nanquantile")},
    ("nn.functional.scaled_dot_product_attention", "grad", "bytes"): (_SDPA_MASK, _more, "real"),
    **{(name, "inference", "bytes"): (_CONJ, _more, "complex") for name in ("svd_lowrank", "pca_lowrank")},
    ("nn.functional.scaled_dot_product_attention", "meta", "bytes"): (_SDPA_META, _more, "real"),
    **{(name, "meta", "bytes"): (_BN_META, _more, "real") for name in (
        "native_batch_norm", "_native_batch_norm_legit", "nn.functional.batch_norm")},
    **{(name, "meta", "cmps"): (_QUANTILE_META, _fewer, "real") for name in ("quantile", "nanquantile")},
    **{(name, "meta", "bytes"): (_QUANTILE_META, _fewer, "real") for name in ("quantile", "nanquantile")},
}
#: ops whose output has no defined values (uninitialised memory): only its shape and dtype are compared
_UNDEFINED_OUTPUT = {"empty", "empty_like", "new_empty", "new_empty_strided", "empty_strided", "empty_permuted"}
#: complex ops whose results differ under any dispatch mode (FlopCounterMode too): their kernels' inner
#: ops run with the handling of conjugate views off (docs/coverage.md, Known limits)
_UNDER_ANY_MODE = {"pinverse", "linalg.pinv", "linalg.lstsq"}
_GRAD_MODES = {"no_grad": torch.no_grad, "grad": torch.enable_grad, "inference": torch.inference_mode}


def _copied(tree, device=None):
    """The sample's tensors copied (to ``device``); one that requires grad stays so, as a non-leaf
    (an in-place op may write it)."""
    def copy(t):
        if not isinstance(t, torch.Tensor):
            return t
        c = t.detach().clone() if device is None else t.detach().to(device)
        return c.requires_grad_().clone() if t.requires_grad else c
    return pytree.tree_map(copy, tree)


class _KeptOp(_Op):
    def forward(self, x):
        self.out = self.info.op(x, *self.args, **self.kw)
        return x if not any(isinstance(t, torch.Tensor) for t in pytree.tree_leaves(self.out)) else self.out


def _profiled(name, info, sample, mode, device=None):
    """(cost, uncounted ops) of the sample (input, args, kwargs) profiled in ``mode``, after checking
    that the op's output is the unprofiled one; None where the op itself does not run so."""
    x, args, kwargs = _copied(sample, device)
    with _GRAD_MODES[mode]():
        try:
            torch.default_generator.manual_seed(0)  # (random ops draw the same; torch.manual_seed is slower)
            expected = info.op(*_copied((x,)), *_copied(args), **_copied(kwargs))
        except Exception:
            return None
        model = _KeptOp(info, args, kwargs)
        torch.default_generator.manual_seed(0)
        report = torchcount.profile(model, (x,), warn=False)
    got, want = pytree.tree_leaves(model.out), pytree.tree_leaves(expected)
    assert len(got) == len(want), name
    for g, w in zip(got, want):
        if isinstance(w, torch.Tensor):
            assert (g.shape, g.dtype) == (w.shape, w.dtype), (name, mode)
            if device is None and info.name not in _UNDEFINED_OUTPUT and \
                    not (sample[0].dtype.is_complex and info.name in _UNDER_ANY_MODE):
                torch.testing.assert_close(g, w, equal_nan=True, msg=lambda m: f"{name} ({mode}): {m}")
    return report.total.cost, sorted((u.what, u.calls) for u in report.uncounted)


def _modes_sweep(dtype, per_op):
    unequal, met = [], set()
    for name, info in _opinfos():
        # one set of samples, made with the inputs the OpInfo lets require grad doing so (each call of
        # sample_inputs costs ~10 ms of stack inspection); the other modes run detached copies
        graded = info.supports_autograd and dtype in info.supported_backward_dtypes("cpu")
        try:
            if not info.supports_dtype(dtype, "cpu"):
                continue
            torch.default_generator.manual_seed(0)
            samples = list(itertools.islice(info.sample_inputs("cpu", dtype, requires_grad=graded), per_op))
        except Exception:
            continue
        for k, sample in enumerate(samples):
            leaves = [t for t in pytree.tree_leaves((sample.input, sample.args, sample.kwargs))
                      if isinstance(t, torch.Tensor)]
            if not isinstance(sample.input, torch.Tensor) or any(t.layout != torch.strided for t in leaves):
                continue
            plain = pytree.tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t,
                                    (sample.input, sample.args, sample.kwargs))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = _profiled(name, info, plain, "no_grad")
                if reference is None:
                    continue
                runs = {"inference": _profiled(name, info, plain, "inference"),
                        "meta": _profiled(name, info, plain, "inference", device="meta")}
                if any(t.requires_grad for t in leaves):
                    runs["grad"] = _profiled(name, info, (sample.input, sample.args, sample.kwargs), "grad")
            for mode, run in runs.items():
                # (meta is compared with the CPU under inference_mode, as it runs)
                against = runs["inference"] if mode == "meta" and runs["inference"] is not None else reference
                if run is None:
                    continue
                cost, uncounted = run
                if uncounted != against[1]:
                    unequal.append(f"{name}[{k}] {mode}: uncounted {uncounted}, reference {against[1]}")
                for category, got, want in unexplained_differences(
                        against[0], cost, lambda c: (name, mode, "bytes" if c.startswith("bytes") else c),
                        MODE_DIFFERENCES, met):
                    unequal.append(f"{name}[{k}] {mode}: {category} {got}, reference {want}")
    return unequal, met


def test_grad_modes_agree_first_samples(one_thread):
    unequal, _ = _modes_sweep(torch.float32, 2)
    assert not unequal, unequal


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_grad_modes_agree_every_sample(one_thread, dtype):
    unequal, met = _modes_sweep(dtype, 10_000)
    assert not unequal, unequal
    # every allowance is still needed (a stale one would hide a future difference)
    kind = "complex" if dtype.is_complex else "real"
    stale = {key for key, entry in MODE_DIFFERENCES.items() if entry[2] == kind} - met
    assert not stale or not TESTED_TORCH, sorted(stale)
