"""rules/norm.py's rules at sizes where each count and each worked line can be derived by hand: cases
the mutation round over the file found no test pinned."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import Hidden, nonzero_counts, run

#: BatchNorm1d(3) of 4×3 with batch statistics, 3 channels of n = 4: means 3·3 additions and 3 divisions,
#: 12 subtractions, 12 squares, 3·3 additions and 3 divisions for the variances, 3 eps-adds, 3 rsqrt,
#: 12 normalisations; the affine pair 12 + 12; no running-stat update
BATCH_STATS = {"adds": 9 + 12 + 9 + 3 + 12, "mults": 12 + 12 + 12, "divs": 6, "transc": 3}
#: the same with the stored statistics: 3 eps-adds, 3 rsqrt, 12 subtractions, 12 normalisations, the affine pair
RUNNING_STATS = {"adds": 3 + 12 + 12, "mults": 12 + 12, "transc": 3}


def _batch_norm(training: bool):
    m = nn.BatchNorm1d(3).train(training)
    m.running_mean.fill_(0.5)
    m.running_var.fill_(2.0)
    return m


def test_batch_norm_in_eval_uses_its_stored_statistics_while_it_holds_them():
    """nn.BatchNorm normalises with batch statistics in eval only when it holds no running statistics
    (``running_mean`` and ``running_var`` None), not when ``track_running_stats`` is set False after
    construction: then torch still uses the stored ones (its output is (x − 0.5)/√(2 + eps)), and
    BatchNorm1d(3) of 4×3 costs 3 eps-adds, 3 rsqrt, 12 subtractions and 12 normalisations, plus the
    affine 12 + 12, as the aten ops of the same forward run unregistered (``Hidden``) do."""
    x = torch.randn(4, 3)
    m = _batch_norm(False)
    m.track_running_stats = False
    assert torch.allclose(m(x), (x - 0.5) / (2.0 + m.eps) ** 0.5)
    assert nonzero_counts(run(m, x).total.cost) == RUNNING_STATS == nonzero_counts(run(Hidden(m), x).total.cost)


@pytest.mark.parametrize("training, flag_off, dropped", [(True, True, False), (True, False, True),
                                                         (False, False, True)])
def test_batch_norm_without_running_statistics_to_update_counts_no_update(training, flag_off, dropped):
    """BatchNorm1d(3) of 4×3 in training with ``track_running_stats`` set False after construction
    (torch passes no running statistics: they stay 0.5), or in training or eval with them set to None:
    batch statistics (torch's own), and no running-stat update (5 multiplications, 2 additions per channel)."""
    x = torch.randn(4, 3)
    m = _batch_norm(training)
    if flag_off:
        m.track_running_stats = False
    if dropped:
        m.running_mean = m.running_var = None
    m(x)
    assert flag_off is False or m.running_mean.tolist() == [0.5] * 3
    assert nonzero_counts(run(m, x).total.cost) == BATCH_STATS


def test_instance_norm_without_running_statistics_normalises_each_instance_in_eval_too():
    """InstanceNorm1d(3) (no running statistics, no affine: torch's defaults) in eval of 2×3×4 uses each
    instance's own statistics, as in training: 2·3 = 6 instances of n = 4, means 6·3 additions and 6
    divisions, 24 subtractions, 24 squares, 6·3 additions and 6 divisions for the variances, 6 eps-adds,
    6 rsqrt, 24 normalisations; as the aten ops of the same forward run unregistered (``Hidden``)."""
    m = nn.InstanceNorm1d(3).eval()
    x = torch.randn(2, 3, 4)
    want = {"adds": 18 + 24 + 18 + 6, "mults": 24 + 24, "divs": 12, "transc": 6}
    assert nonzero_counts(run(m, x).total.cost) == want == nonzero_counts(run(Hidden(m), x).total.cost)


@pytest.mark.parametrize("training", [False, True])
def test_instance_norm_updates_the_running_statistics_it_holds_whenever_it_uses_its_own(training):
    """InstanceNorm1d(3, track_running_stats=True) with the flag then set False: torch normalises each instance
    with its own statistics and, holding the buffers still, updates them in eval as in training (they move).
    2×3×4: the 66 adds, 48 mults, 12 divs, 6 rsqrt of the statistics, plus the update of the 3 running means
    and variances from the batch's 2 instances each, as the aten ops of the same forward run unregistered
    (``Hidden``) count it, and as a training InstanceNorm tracking its statistics costs."""
    x = torch.randn(2, 3, 4)
    m = nn.InstanceNorm1d(3, track_running_stats=True).train(training)
    m.track_running_stats = False
    before = m.running_mean.clone()
    m(x)
    assert not torch.equal(before, m.running_mean)
    tracked = nn.InstanceNorm1d(3, track_running_stats=True).train()
    got = nonzero_counts(run(m, x).total.cost)
    assert got == nonzero_counts(run(Hidden(m), x).total.cost) == nonzero_counts(run(tracked, x).total.cost)
    assert got != {"adds": 66, "mults": 48, "divs": 12, "transc": 6}  # (the statistics alone)
