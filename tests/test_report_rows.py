"""The table's rows add up to the total, also when the root module does work itself."""
import pytest
import torch
from torch import nn

import torchcount
from torchcount.report import visible_rows


class ResidualTop(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4))  # a parameter of the root itself

    def forward(self, x):
        return self.fc(x) + x * self.scale  # one multiplication and one addition per element, in the root


def test_root_self_work_has_a_row_and_rows_add_up():
    report = torchcount.profile(ResidualTop(), torch.randn(2, 4))
    # by hand, batch 2: linear 2·4·4 = 32 MACs (64 FLOPs) + 2·4 = 8 bias adds;
    # root: 8 multiplications + 8 additions
    assert report.total.flops == 64 + 8 + 8 + 8
    root = report.layers[0]
    assert root.path == "" and root.self_cost.mults == 8 and root.self_cost.adds == 8
    shown = visible_rows(report.layers, None)
    ops = sum((r.self_cost if own else r.cost).adds + (r.self_cost if own else r.cost).mults
              + 2 * (r.self_cost if own else r.cost).macs for r, own in shown)
    assert ops == report.total.flops
    params = sum(r.self_params if own else r.params for r, own in shown)
    assert params == 4 * 4 + 4 + 4 == report.total.params


def test_depth_zero_shows_the_root_with_everything():
    report = torchcount.profile(ResidualTop(), torch.randn(2, 4))
    table = report.table(depth=0, columns=["module", "ops"])
    root_line = next(line for line in table.splitlines() if line.startswith("(root)"))
    assert root_line.split()[-1] == f"{64 + 8 + 8 + 8:,}"


def test_pure_container_root_has_no_row():
    report = torchcount.profile(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), torch.randn(1, 3))
    assert [r.path for r in report.layers] == ["0", "1"]


def test_table_refuses_a_negative_depth_and_unknown_columns_and_explains_the_root_by_its_shown_name():
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.randn(1, 4))
    with pytest.raises(ValueError, match="depth must be None or an int ≥ 0, got -1"):
        report.table(depth=-1)
    with pytest.raises(ValueError, match="unknown column.*'bogus'"):
        report.table(columns=["module", "bogus"])
    assert report.explain("(root)") == report.explain("")  # the table's name for the root


class Stack(nn.Module):
    """Layers in a ModuleList (never called itself: the forward calls each layer), as in most
    transformer implementations, and a head."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.ReLU()) for _ in range(3)])
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_a_module_list_gets_a_row_so_that_a_depth_cut_keeps_its_layers():
    report = torchcount.profile(Stack(), torch.randn(2, 4))
    group = report.row("blocks")
    assert group.calls == 0 and group.type == "ModuleList" and group.status == "container"
    assert group.cost.macs == 3 * 2 * 4 * 4 and group.params == 3 * (4 * 4 + 4)
    # every depth's rows add up to the total (at depth 1 the blocks were missing: 3/4 of the MACs)
    for depth in (None, 1, 2, 3):
        rows = visible_rows(report.layers, depth)
        assert sum(((r.self_cost if own else r.cost) for r, own in rows), torchcount.Cost()) == \
            report.total.cost, depth
        assert sum(r.self_params if own else r.params for r, own in rows) == report.total.params, depth
    assert [r.path for r, _ in visible_rows(report.layers, 1)] == ["blocks", "head"]
    assert "blocks" not in [r.path for r, _ in visible_rows(report.layers, None)]  # its layers are the rows
    assert "never called itself" in report.explain("blocks")


def test_a_module_list_is_timed_as_the_sum_of_its_layers():
    report = torchcount.profile(Stack(), torch.randn(2, 4), measure=True, warmup=1, repeat=3)
    group = report.row("blocks")
    layers = [report.row(f"blocks.{i}") for i in range(3)]
    assert group.extra["time_ms"] == pytest.approx(sum(r.extra["time_ms"] for r in layers), rel=0.5)
    d = torchcount.measure.details(report, "blocks")
    for k in range(3):  # per pass the sum is exact
        assert d["inclusive_ns"][k] == sum(torchcount.measure.details(report, r.path)["inclusive_ns"][k]
                                           for r in layers)
