"""The supported torch range (torch >= 2.2, pyproject.toml) against the tested set (constraints.txt).

Tests of features newer than torch 2.2 are gated by probes of plain torch (``conftest.needs``).
On the tested torch every probe must pass, so no gated test is skipped where CI runs."""
from __future__ import annotations

import pytest
import torch

from conftest import (PROBES, TESTED_TORCH, flop_counter_counts_inside_inference_mode,
                      flop_counter_counts_transposed_backward_right, probe)


@pytest.mark.skipif(not TESTED_TORCH, reason=f"torch {torch.__version__} is not the tested set")
@pytest.mark.parametrize("what", sorted(PROBES))
def test_the_tested_torch_runs_every_gated_test(what):
    if what.startswith("torchaudio"):
        pytest.importorskip("torchaudio")
    assert probe(what), f"{what}: a test gated on it would be skipped on the tested torch"


@pytest.mark.skipif(not TESTED_TORCH, reason=f"torch {torch.__version__} is not the tested set")
def test_the_tested_torchs_flop_counter_is_a_reference_wherever_the_tests_use_it():
    # (an older one's is not, where these say so: the comparisons they gate are made in full where CI runs)
    assert flop_counter_counts_transposed_backward_right()
    assert flop_counter_counts_inside_inference_mode()


def test_rules_for_ops_this_torch_lacks_are_skipped_not_registered():
    from torchcount.rules import op_rules
    from torchcount.rules.registry import MissingOp, _AtenOps

    ops = _AtenOps()  # (not the rules' own namespace: this name must not stay in it)
    missing = ops.no_such_op_in_any_torch
    assert isinstance(missing, MissingOp) and isinstance(missing.default, MissingOp)
    assert not any(isinstance(op, MissingOp) for op in op_rules())
    assert ops.mm is torch.ops.aten.mm


def test_dunder_ops_are_ops_too():
    # aten.__lshift__ is an op (``x << 2`` on a tensor); a guard against dunder names had
    # silently dropped its rule
    from torchcount.rules import op_rule_for

    assert op_rule_for(torch.ops.aten.__lshift__.Scalar).name == "elementwise.elementwise"
    assert op_rule_for(torch.ops.aten.__rshift__.Tensor).name == "elementwise.elementwise"


@pytest.mark.skipif(not TESTED_TORCH, reason=f"torch {torch.__version__} is not the tested set")
def test_every_op_the_rules_name_exists_in_the_tested_torch():
    # only the in-place ``name_`` variants that rules/elementwise tries for every op may be absent:
    # any other missing name is a typo or an op torch removed
    from torchcount.rules.registry import MissingOp, aten

    assert [n for n, v in vars(aten).items() if isinstance(v, MissingOp) and not n.endswith("_")] == []


def test_the_fast_path_flag_turned_off_meanwhile_is_put_back():
    # torch 2.2's TransformerEncoderLayer takes its fused path even with hooks, so profile also
    # clears the flag only that path reads; the layer gets it back, also when the forward raises
    import torchcount
    from torch import nn

    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, activation="gelu").eval()
    seen = []
    layer.linear1.register_forward_pre_hook(lambda m, args: seen.append(layer.activation_relu_or_gelu))
    with torch.no_grad():
        report = torchcount.profile(layer, torch.randn(2, 3, 8))
    assert seen == [0] and layer.activation_relu_or_gelu == 2
    assert report.row("linear1").calls == 1  # the unfused path ran: a row per submodule
    with pytest.raises(torchcount.ForwardError), torch.no_grad():
        torchcount.profile(layer, torch.randn(2, 3, 5))  # wrong width
    assert layer.activation_relu_or_gelu == 2


class _Cond(torch.nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))


@pytest.mark.skipif(probe("higher-order ops reaching a dispatch mode as one op"),
                    reason="this torch runs higher-order ops under torchcount's op recording")
def test_an_older_torch_fails_on_a_higher_order_op_with_a_way_out():
    import torchcount

    with pytest.raises(torchcount.ForwardError, match="record_ops=False"):
        torchcount.profile(_Cond(), torch.randn(5))
    report = torchcount.profile(_Cond(), torch.randn(5), record_ops=False, warn=False)
    assert [u.path for u in report.uncounted] == [""]  # the root's own ops: unknown, not zero


def test_the_error_of_an_older_torch_on_a_higher_order_op_says_what_to_do():
    import torchcount

    class Raises(torch.nn.Module):  # what torch 2.5 raises, where this torch may not
        def forward(self, x):
            raise NotImplementedError("There was no rule registered for HOP flex_attention and mode <OpRecorder>")

    with pytest.raises(torchcount.ForwardError, match=r"higher-order op .* record_ops=False\)\)$"):
        torchcount.profile(Raises(), torch.randn(2))
