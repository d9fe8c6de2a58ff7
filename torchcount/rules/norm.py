"""Rules for normalisation layers: BatchNorm (train/eval), LayerNorm, GroupNorm,
InstanceNorm, LocalResponseNorm, RMSNorm.

A normalisation with statistics over groups of n elements costs, per group: the mean
(n − 1 additions, 1 division), the centred values (n subtractions), the variance (n
squares, n − 1 additions, 1 division), the inverse std (1 addition of eps, 1 rsqrt);
then per element one multiplication by the inverse std, and with an affine transform one
multiplication and one addition more. In eval mode BatchNorm (and InstanceNorm with
running stats) uses stored statistics (BatchNorm whenever it holds them, as torch does, even with
``track_running_stats`` set False after construction): per channel (InstanceNorm: per instance, below) eps-add
and rsqrt, per element one subtraction and one multiplication (plus the affine pair). In training the running statistics
are updated, (1 − m)·r + m·batch for the mean and the unbiased variance: 5 multiplications and 2
additions per channel. An empty input costs nothing (PyTorch leaves the running statistics as they
are).

InstanceNorm is counted as PyTorch's kernel runs it (``instance_norm`` in ATen's
Normalization.cpp): batch_norm on the (1, N·C, …) view with the running statistics repeated N
times, so with ``track_running_stats`` the eval-mode eps-add and rsqrt, and in training the
running-stat updates, are done for all N·C instances; in training the updated copies are then
averaged over the batch back into C channels. Torch uses an InstanceNorm's own statistics in training
or without ``track_running_stats``, and then updates the running ones wherever it holds them: set False
after construction, the buffers stay, and are updated in eval too (counted so since 2026-12-07).

BatchNorm's training forward also increments its integer ``num_batches_tracked`` counter; that
is bookkeeping of the module, not of the normalisation (``F.batch_norm`` does not run it), and it
is not counted (tests/test_moduleinfo.py allows this one addition).
"""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg, stored
from .registry import aten_ops, module_rule, op_rule, present


def _stats_terms(groups: int, n: int, per: str = "groups", shown=None) -> list[Term]:
    """Statistics over ``groups`` sets of ``n`` elements; ``per`` names the sets in the formulas and
    ``shown`` (a tuple, written as its product) substitutes them (GroupNorm: ``N·G``, ``(2, 3)``)."""
    e = groups * n
    if not e:  # an empty input: nothing is normalised, no statistic computed
        return []
    g = groups if shown is None else shown
    each_less_one, each = worked("{}×({} − 1)", g, n), worked("{}×{}", g, n)
    one = groups if shown is None else worked("{}", shown)
    return [
        Term("adds", "additions (mean)", f"{per}·(n − 1)", each_less_one, groups * (n - 1)),
        Term("divs", "divisions (mean, variance)", f"2·{per}", worked("2×{}", g), 2 * groups),
        Term("adds", "subtractions (x − mean)", f"{per}·n", each, e),
        Term("mults", "squares (variance)", f"{per}·n", each, e),
        Term("adds", "additions (variance)", f"{per}·(n − 1)", each_less_one, groups * (n - 1)),
        Term("adds", "eps additions", per, one, groups),
        Term("transc", "reciprocal square roots", per, one, groups),
        Term("mults", "normalisations (× 1/σ)", "elements", e, e),
    ]


def _running_terms(channels: int, elements: int, per: str = "channels") -> list[Term]:
    """Normalising with stored statistics: eps-add and rsqrt per ``channels`` (named ``per`` in
    the formula), a subtraction and a multiplication per element."""
    if not elements:
        return []
    return [
        Term("adds", "eps additions", per, channels, channels),
        Term("transc", "reciprocal square roots", per, channels, channels),
        Term("adds", "subtractions (x − running mean)", "elements", elements, elements),
        Term("mults", "normalisations (× 1/σ)", "elements", elements, elements),
    ]


def _affine_terms(elements: int) -> list[Term]:
    return [Term("mults", "affine scale (× γ)", "elements", elements, elements),
            Term("adds", "affine shift (+ β)", "elements", elements, elements)]


def _running_update_terms(channels: int, per: str = "channels") -> list[Term]:
    # running = (1 − momentum)·running + momentum·batch, for mean and for (unbiased) variance
    return [Term("mults", "running-stat updates", f"5·{per}", worked("5×{}", channels), 5 * channels),
            Term("adds", "running-stat updates", f"2·{per}", worked("2×{}", channels), 2 * channels)]


def _instance_running_update_terms(channels: int, batch: int) -> list[Term]:
    """InstanceNorm's running-stat update in training, as the kernel runs it: every one of the
    N·C repeated copies is updated (5 multiplications, 2 additions each), then the copies of the
    mean and of the variance are averaged over the batch N back into C channels."""
    instances = channels * batch
    return [*_running_update_terms(instances, "instances"),
            Term("adds", "batch averages of the updated mean and variance", "2·channels·(N − 1)",
                 worked("2×{}×({} − 1)", channels, batch), 2 * channels * (batch - 1)),
            Term("divs", "batch averages (÷ N)", "2·channels", worked("2×{}", channels), 2 * channels)]


@module_rule(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
def batch_norm(m, call) -> Cost:
    shape = call.input.shape
    elements = call.input.numel
    channels = shape[1] if len(shape) > 1 else shape[0]
    # as nn.BatchNorm's forward decides: batch statistics in training, or in eval when it holds none (its
    # track_running_stats set False after construction leaves the buffers, and eval still uses them)
    batch_stats = call.training or m.running_mean is None
    if batch_stats:
        terms = _stats_terms(channels, elements // max(channels, 1), "channels")
        if call.training and m.track_running_stats and m.running_mean is not None and elements:
            terms += _running_update_terms(channels)  # (an empty batch leaves them as they are)
    else:
        terms = _running_terms(channels, elements)
    if m.affine:
        terms += _affine_terms(elements)
    return Cost.of(*terms)


@module_rule(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def instance_norm(m, call) -> Cost:
    shape = call.input.shape
    elements = call.input.numel
    spatial = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}[
        next(t for t in type(m).__mro__ if t in (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d))]
    n = prod(shape[-spatial:])
    channels = shape[-spatial - 1]
    instances = elements // max(n, 1)  # N·C (C without a batch dim)
    # as nn.InstanceNorm's forward decides: its own statistics in training or without track_running_stats,
    # and with them the buffers updated wherever it holds them (track_running_stats set False after
    # construction leaves them, and torch updates them then, in eval too)
    use_input_stats = call.training or not m.track_running_stats  # (what the forward passes F.instance_norm)
    if not use_input_stats:
        # the running statistics repeated N times: eps-add and rsqrt per instance (N·C), as the kernel does
        terms = _running_terms(instances, elements, "instances")
    else:
        terms = _stats_terms(instances, n, "instances")
        if m.running_mean is not None and elements:
            terms += _instance_running_update_terms(channels, instances // max(channels, 1))
    if m.affine:
        terms += _affine_terms(elements)
    return Cost.of(*terms)


@module_rule(nn.LayerNorm)
def layer_norm(m: nn.LayerNorm, call) -> Cost:
    n = prod(m.normalized_shape)
    elements = call.input.numel
    terms = _stats_terms(elements // n, n, "rows")
    if m.elementwise_affine:
        terms += _affine_terms(elements)
        if stored(m, "bias") is None:
            terms.pop()
    return Cost.of(*terms)


@module_rule(nn.GroupNorm)
def group_norm(m: nn.GroupNorm, call) -> Cost:
    shape = call.input.shape
    elements = call.input.numel
    batch = shape[0]
    groups = batch * m.num_groups
    # (N·G statistics: "groups" would read as the layer's own G)
    terms = _stats_terms(groups, elements // groups, "N·G", (batch, m.num_groups))
    if m.affine:
        terms += _affine_terms(elements)
    return Cost.of(*terms)


@module_rule(*present(nn, "RMSNorm"))  # torch >= 2.4
def rms_norm(m: nn.RMSNorm, call) -> Cost:
    return Cost.of(*rms_norm_terms(call.input.numel, prod(m.normalized_shape), stored(m, "weight") is not None))


@op_rule(*aten_ops("_fused_rms_norm"))  # torch >= 2.8
def fused_rms_norm(op) -> Cost:
    """``_fused_rms_norm(input, normalized_shape, weight, eps)``: the one kernel ``F.rms_norm`` (and
    ``nn.RMSNorm``'s forward) runs on a GPU; on CPU it decomposes into the ops the rule below sums.
    RMSNorm's terms; its outputs are the result and the rows' reciprocal RMS."""
    shape = schema_arg(op, "normalized_shape")
    return Cost.of(*rms_norm_terms(op.inputs[0].numel, prod(shape), schema_arg(op, "weight") is not None))


def rms_norm_terms(elements: int, n: int, weighted: bool) -> list[Term]:
    """x / √(mean(x²) + eps) · γ over rows of n elements: a square per element, the mean, the eps,
    a reciprocal square root per row, a normalisation and (with a weight) a scale per element."""
    rows = elements // n
    terms = [
        Term("mults", "squares", "elements", elements, elements),
        Term("adds", "additions (mean of squares)", "rows·(n − 1)", worked("{}×({} − 1)", rows, n), rows * (n - 1)),
        Term("divs", "divisions (mean)", "rows", rows, rows),
        Term("adds", "eps additions", "rows", rows, rows),
        Term("transc", "reciprocal square roots", "rows", rows, rows),
        Term("mults", "normalisations (× 1/rms)", "elements", elements, elements),
    ]
    if weighted:
        terms.append(Term("mults", "affine scale (× γ)", "elements", elements, elements))
    return terms


@module_rule(nn.LocalResponseNorm)
def local_response_norm(m: nn.LocalResponseNorm, call) -> Cost:
    """b = a / (k + α·mean_window(a²))^β, the window spanning ``size`` channels, counted as
    ``F.local_response_norm`` computes it: a square per element, an average pool over the
    window (size − 1 additions and a division by size: padded positions count), a
    multiplication by α, an addition of k, a power and the division of a."""
    e = call.input.numel
    size = m.size
    return Cost.of(
        Term("mults", "squares", "elements", e, e),
        Term("adds", "window sums", "elements·(size − 1)", worked("{}×({} − 1)", e, size), e * (size - 1)),
        Term("divs", "window means (÷ size)", "elements", e, e),
        Term("mults", "scalings (× α)", "elements", e, e),
        Term("adds", "additions of k", "elements", e, e),
        Term("transc", "powers (·)^β", "elements", e, e),
        Term("divs", "divisions (a ÷ ·)", "elements", e, e),
    )
