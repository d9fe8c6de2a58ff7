"""Exports of a report: JSON schema and round trip, CSV, Markdown, pandas, HTML.

Expected numbers are the spec's (§1, worked-examples.md) or closed forms written out here.
"""
import csv
import importlib.util
import io
import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import torchcount
from torchcount import export
from test_rules_core import Mystery  # a module running an op nobody has a formula for

ROOT = Path(__file__).resolve().parents[1]


def _load_example(name):
    """examples/<name>.py as a module, without putting examples/ on sys.path (its file names,
    e.g. bottleneck.py, would shadow real packages that pandas looks for)."""
    spec = importlib.util.spec_from_file_location(f"_example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worksheet_alexnet = _load_example("worksheet_alexnet").worksheet_alexnet

# spec §1: (params, ops) per layer of the worksheet network, worksheet convention
SPEC_1 = [(23_296, 73_056_256), (0, 401_408), (0, 150_528), (307_392, 240_995_328), (0, 301_056),
          (0, 112_896), (663_936, 130_131_456), (0, 150_528), (884_992, 173_458_432), (0, 100_352),
          (590_080, 115_655_680), (0, 100_352), (0, 138_240), (0, 0), (0, 0),  # dropout, flatten
          (37_752_832, 37_752_832), (0, 8_192), (0, 0), (16_781_312, 16_781_312), (0, 8_192),
          (4_097_000, 4_097_000)]


@pytest.fixture(scope="module")
def worksheet():
    return torchcount.profile(worksheet_alexnet(), input_size=(1, 3, 227, 227), convention="worksheet",
                              name="worksheet")


class RootMatmul(nn.Module):
    """The root does work itself (x @ w with its own parameter) and calls a child."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3))
        self.head = nn.Sequential(nn.Linear(3, 2))

    def forward(self, x):
        return self.head(x @ self.w)


@pytest.fixture(scope="module")
def mlp():
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Linear(3, 2))
    return torchcount.profile(model, input_size=(1, 4), name="mlp")


# closed forms for the mlp: Linear(4,3): params (4+1)·3 = 15, MACs 4·3 = 12, bias adds 3;
# ReLU on 3 elements: 3 comparisons; Linear(3,2): params (3+1)·2 = 8, MACs 3·2 = 6, bias adds 2.
MLP_PARAMS = 15 + 8
MLP_MACS = 12 + 6
MLP_FLOPS = 2 * MLP_MACS + (3 + 2) + 3  # 2 per MAC + bias adds + ReLU comparisons = 44


# ---- dict / JSON -------------------------------------------------------------------------------
def test_schema_header(worksheet):
    d = worksheet.to_dict()
    assert d["schema"] == "torchcount.report"
    assert d["schema_version"] == 2 == export.SCHEMA_VERSION
    assert d["torchcount_version"] == torchcount.__version__
    assert d["model"] == "worksheet"
    assert d["convention"]["name"] == "worksheet"
    assert d["convention"]["weights"] == {c: 1 for c in ("macs", "mults", "adds", "divs", "cmps", "assigns",
                                                         "transc")}


def test_json_spec_numbers(worksheet):
    d = json.loads(worksheet.to_json())
    assert d["total"]["params"] == 61_100_840
    assert d["total"]["ops"] == 793_400_040
    assert d["total"]["ops_by_convention"]["worksheet"] == 793_400_040
    assert [(r["params"], r["ops"]) for r in d["layers"]] == SPEC_1
    conv0 = d["layers"][0]
    assert conv0["path"] == "0" and conv0["type"] == "Conv2d"
    assert conv0["output_shapes"] == [[1, 64, 56, 56]]
    # conv MACs: k·c·w·h·H_out·W_out = 64·3·11·11·56·56; bias adds 64·56·56
    assert conv0["cost"]["macs"] == 64 * 3 * 11 * 11 * 56 * 56
    assert conv0["cost"]["adds"] == 64 * 56 * 56
    params_term = [t for t in conv0["terms"] if t["category"] == "params"][0]
    assert params_term["value"] == 23_296
    assert d["coverage"]["complete"] is True and d["coverage"]["uncounted"] == []


def test_json_round_trip_is_exact(worksheet, tmp_path):
    path = tmp_path / "r.json"
    text = worksheet.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == worksheet.to_dict()


def test_dict_convention_view(mlp):
    assert mlp.to_dict()["total"]["ops"] == MLP_FLOPS
    d = mlp.to_dict(convention="macs")
    assert d["convention"]["name"] == "macs"
    assert d["total"]["ops"] == MLP_MACS
    assert d["total"]["macs"] == MLP_MACS and d["total"]["params"] == MLP_PARAMS
    assert d["total"]["ops_by_convention"]["2mac"] == 2 * MLP_MACS
    # inclusive vs self: the inner Sequential does nothing itself
    inner = next(r for r in d["layers"] if r["path"] == "0")
    assert inner["macs"] == 12 and inner["self_macs"] == 0 and inner["params"] == 15


def test_ops_by_convention_holds_the_documents_convention(mlp):
    """ops_by_convention listed the built-in conventions only, also when the report was made or
    exported under a convention of one's own: the document's ops had no entry there."""
    nocmp = torchcount.Convention("nocmp", "FLOPs", "flops with comparisons free",
                                  {"macs": 2, "mults": 1, "adds": 1, "divs": 1, "transc": 1})
    nocmp_ops = 2 * MLP_MACS + (3 + 2)  # the flops figure less the 3 ReLU comparisons
    for d in (mlp.to_dict(convention=nocmp), json.loads(mlp.with_convention(nocmp).to_json())):
        by_conv = d["total"]["ops_by_convention"]
        assert by_conv["nocmp"] == d["total"]["ops"] == nocmp_ops
        assert by_conv["flops"] == MLP_FLOPS and by_conv["macs"] == MLP_MACS  # the built-ins stay
        assert list(by_conv) == [*torchcount.CONVENTIONS, "nocmp"]
    # one of your own under a built-in's name: its entry is the document's ops, not the built-in's
    mine = torchcount.Convention("flops", "FLOPs", "2 per MAC only", {"macs": 2})
    d = mlp.to_dict(convention=mine)
    assert d["total"]["ops_by_convention"]["flops"] == d["total"]["ops"] == 2 * MLP_MACS
    assert mlp.to_dict()["total"]["ops_by_convention"] == {
        name: c.ops(mlp.total.cost) for name, c in torchcount.CONVENTIONS.items()}


def test_every_top_level_field_is_documented(worksheet):
    doc = (ROOT / "docs" / "export-schema.md").read_text()
    d = worksheet.to_dict()
    fields = set(d) | {f"total.{k}" for k in d["total"]} | {f"layers[].{k}" for k in d["layers"][0]}
    missing = [f for f in sorted(fields) if f"`{f.split('.')[-1]}`" not in doc]
    assert not missing, f"docs/export-schema.md does not document {missing}"
    assert f"schema_version` | `{export.SCHEMA_VERSION}" in doc.replace("**", "")


def test_jsonable_measurement_values():
    val = {"t": torch.tensor([1.5, 2.0]), "n": torch.tensor(3), "nan": float("nan"),
           "dev": torch.device("cpu"), "dtype": torch.float16, (1, 2): (3, 4)}
    assert export.jsonable(val) == {"t": [1.5, 2.0], "n": 3, "nan": None, "dev": "cpu",
                                    "dtype": "torch.float16", "(1, 2)": [3, 4]}


def test_extra_columns_reach_json_and_csv(mlp):
    import dataclasses
    rows = [dataclasses.replace(r, extra={"time_ms": 0.25 * r.index, "bad": math.inf,
                                          "measure": {"samples": [1, 2]}}) for r in mlp.layers]
    rep = dataclasses.replace(mlp, layers=rows, extra={"device": torch.device("cpu")})
    d = json.loads(rep.to_json())
    assert d["extra"] == {"device": "cpu"}
    assert [r["extra"]["time_ms"] for r in d["layers"]] == [0.25 * r.index for r in rows]
    assert all(r["extra"]["bad"] is None for r in d["layers"])  # inf is not JSON: null
    assert d["layers"][0]["extra"]["measure"] == {"samples": [1, 2]}
    reader = csv.DictReader(io.StringIO(rep.to_csv()))
    assert "measure" not in reader.fieldnames  # nested details: JSON only
    recs = list(reader)
    assert [float(r["time_ms"]) for r in recs] == [0.25 * r.index for r in rows if r.path in
                                                   {x["path"] for x in recs}]


# ---- CSV ----------------------------------------------------------------------------------------
def test_csv_columns_and_spec_rows(worksheet, tmp_path):
    text = worksheet.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == text
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames[:11] == ["index", "path", "type", "depth", "part", "calls", "input_shapes",
                                      "output_shapes", "params", "ops", "convention"]
    for c in ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc", "bytes_read", "bytes_written",
              "activation", "status", "rule"):
        assert c in reader.fieldnames
    rows = list(reader)
    assert [(int(r["params"]), int(r["ops"])) for r in rows] == SPEC_1
    assert rows[0]["input_shapes"] == "1x3x227x227" and rows[0]["output_shapes"] == "1x64x56x56"
    assert {r["convention"] for r in rows} == {"worksheet"}
    assert sum(int(r["ops"]) for r in rows) == 793_400_040


def test_csv_columns_sum_to_totals_with_containers_and_root_work():
    model = RootMatmul()
    rep = torchcount.profile(model, input_size=(1, 4), warn=False)
    rows = list(csv.DictReader(io.StringIO(rep.to_csv(convention="macs"))))
    # root: x @ w = 4·3 MACs, 12 params of its own; head.0: Linear(3,2) 6 MACs, 8 params
    root = [r for r in rows if r["path"] == ""]
    assert len(root) == 1 and root[0]["part"] == "self"
    assert int(root[0]["macs"]) == 12 and int(root[0]["params"]) == 12
    assert sum(int(r["macs"]) for r in rows) == 12 + 6 == rep.total.macs
    assert sum(int(r["params"]) for r in rows) == 12 + 8 == rep.total.params


def test_csv_depth_rolls_up(mlp):
    rows = list(csv.DictReader(io.StringIO(mlp.to_csv(depth=1))))
    assert [(r["path"], r["part"], int(r["macs"]), int(r["params"])) for r in rows] == [
        ("0", "all", 12, 15), ("1", "all", 6, 8)]
    assert sum(int(r["ops"]) for r in rows) == MLP_FLOPS


# ---- Markdown / HTML ----------------------------------------------------------------------------
def test_markdown_table(worksheet):
    md = worksheet.to_markdown(columns=["#", "module", "type", "params", "ops"])
    lines = md.splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    assert re.fullmatch(r"\|[-:|]+\|", table[1])  # header separator
    assert len(table) == 2 + 21 + 1  # header, separator, 21 layers, total
    cells = [c.strip() for c in table[-1].strip("|").split("|")]
    assert cells[2:] == ["", "61,100,840", "793,400,040"]
    assert "ops [worksheet]" in table[0]
    assert lines[0].startswith("**worksheet")
    # a blank line before the table, so Markdown renders it as a table
    assert lines[lines.index(table[0]) - 1] == ""


def test_markdown_depth_and_units(mlp):
    md = mlp.to_markdown(depth=1, units=True, convention="macs")
    body = [ln for ln in md.splitlines() if ln.startswith("|")][2:]
    assert len(body) == 3  # two top-level modules and the total
    assert "18" in body[-1]


def test_html_repr(worksheet):
    h = worksheet._repr_html_()
    assert h.count("<table>") == 1 and "</table>" in h
    assert "61,100,840" in h and "793,400,040" in h
    assert "&#x27;worksheet&#x27;" in h  # text escaped, not raw


# ---- pandas -------------------------------------------------------------------------------------
def test_dataframe(worksheet):
    pd = pytest.importorskip("pandas")
    df = worksheet.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 21
    assert df["params"].sum() == 61_100_840 and df["ops"].sum() == 793_400_040
    assert df.attrs["schema_version"] == 2 and df.attrs["convention"] == "worksheet"
    assert int(df.loc[df["type"] == "ReLU", "ops"].iloc[0]) == 2 * 64 * 56 * 56


def test_dataframe_without_pandas(mlp, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ImportError, match="needs pandas"):
        mlp.to_dataframe()


def test_html_of_a_measured_report_shows_measured_columns(mlp):
    import dataclasses
    rows = [dataclasses.replace(r, extra={"time_ms": 1.5}) for r in mlp.layers]
    h = dataclasses.replace(mlp, layers=rows)._repr_html_()
    assert "time_ms" in h and "1.5" in h
    assert "time_ms" not in mlp._repr_html_()


# ---- dtypes ------------------------------------------------------------------------------------
class _Tokens(nn.Module):
    """int64 token ids and a float mask in; an embedding, then a Linear."""

    def __init__(self):
        super().__init__()
        self.emb, self.fc = nn.Embedding(50, 8), nn.Linear(8, 3)

    def forward(self, ids, mask):
        return self.fc(self.emb(ids) * mask.unsqueeze(-1))


def test_rows_and_exports_carry_the_dtype_each_call_saw():
    """Each row has the dtypes of its first call's inputs and outputs (JSON, CSV, Row, the table's
    ``dtype`` column): int64 ids into the embedding, float32 out; under bf16 autocast the Linear
    receives float32 and computes (returns) bfloat16. Nothing said which dtype a layer ran in."""
    ids, mask = torch.randint(0, 50, (2, 5)), torch.ones(2, 5)
    plain = torchcount.profile(_Tokens(), (ids, mask))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = torchcount.profile(_Tokens(), (ids, mask))
    assert (plain.root.input_dtypes, plain.root.output_dtypes) == (["int64", "float32"], ["float32"])
    assert (plain.row("emb").input_dtypes, plain.row("emb").output_dtypes) == (["int64"], ["float32"])
    assert plain.row("fc").output_dtypes == ["float32"]
    assert (mixed.row("fc").input_dtypes, mixed.row("fc").output_dtypes) == (["float32"], ["bfloat16"])
    assert mixed.root.output_dtypes == ["bfloat16"]
    d = json.loads(mixed.to_json())
    fc = next(x for x in d["layers"] if x["path"] == "fc")
    assert (fc["input_dtypes"], fc["output_dtypes"]) == (["float32"], ["bfloat16"])
    assert d["root"]["input_dtypes"] == ["int64", "float32"]
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(mixed.to_csv()))}
    assert (rows["fc"]["input_dtypes"], rows["fc"]["output_dtypes"]) == ("float32", "bfloat16")
    assert rows[""]["input_dtypes"] == "int64;float32"  # (the root's own multiplication is a row)
    table = mixed.table(columns="module,dtype").splitlines()
    assert any(line.split() == ["fc", "bfloat16"] for line in table)
    assert any(line.split() == ["emb", "float32"] for line in table)
    for dtype, name in ((torch.float16, "float16"), (torch.float64, "float64")):
        r = torchcount.profile(_Tokens().to(dtype), (ids, mask.to(dtype)))
        assert r.row("fc").output_dtypes == [name] and r.row("emb").input_dtypes == ["int64"]
        assert r.total.macs == plain.total.macs == 2 * 5 * 8 * 3


# ---- work with no formula ----------------------------------------------------------------------
def test_a_row_cut_at_a_depth_above_uncounted_work_says_so_in_every_export():
    """Block "1" holds a Linear and a module running an op with no formula. Cut at depth 1, its row
    (a container: no own ops) stands for both; it read "container" with no † in the table, the
    Markdown and the CSV, so its 2·4·4 = 32 MACs + 8 bias adds looked complete."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), Mystery()))
    rep = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert [(u.path, u.calls) for u in rep.uncounted] == [("1.1", 1)]
    block = next(r for r in csv.DictReader(io.StringIO(rep.to_csv(depth=1))) if r["path"] == "1")
    assert (block["status"], int(block["macs"]), int(block["adds"])) == ("container", 32, 8)
    assert block["uncounted"] == "1"  # one call of an op with no formula inside what the row shows
    full = {r["path"]: int(r["uncounted"]) for r in csv.DictReader(io.StringIO(rep.to_csv()))}
    assert full == {"0": 0, "1.0": 0, "1.1": 1}  # the column sums to the uncounted calls
    try:
        import pandas  # noqa: F401  (the dataframe extra; make test-oldest installs none)
    except ImportError:
        pass
    else:
        assert rep.to_dataframe(depth=0)["uncounted"].tolist() == [1]
    rows = {ln.split()[1]: ln for ln in rep.table(depth=1).splitlines()[4:6]}  # "#", then the module
    assert "†" in rows["1"] and "†" not in rows["0"]
    assert "| 1 †" in rep.to_markdown(depth=1)
    assert "mystery.default ×1 in '1.1'" in rep.explain("1")


def test_markdown_escapes_a_pipe_in_a_module_name():
    # a ModuleDict key may hold "|": unescaped, GitHub read 'a|b' as two cells and shifted the row
    model = nn.Sequential()
    model.add_module("a|b", nn.Linear(4, 4))
    model.add_module("c", nn.ReLU())
    md = torchcount.profile(model, torch.randn(2, 4)).to_markdown(columns=["module", "params", "MACs"])
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in table]
    assert {len(c) for c in cells} == {3}
    assert cells[2] == ["a\\|b", "20", "32"]  # (4 + 1)·4 params, 2·4·4 MACs


# ---- reading a JSON export back ----------------------------------------------------------------
class _Shared(nn.Module):
    """A module called twice from its parent, a ModuleList called layer by layer (a group row), and a
    module called from outside its place in the tree (called_from)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.inner = nn.Sequential(nn.ReLU())
        self.inner.add_module("again", self.a)  # (registered in two places: inner calls it too)

    def forward(self, x):
        x = self.a(x) + x  # the root's own add
        for block in self.blocks:
            x = block(x)
        return self.inner(x)


class _Scaled(nn.Module):
    """A parameter registered on a module that has a child: its worked lines list it, then its children's."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return self.lin(x) * self.scale


def _zoo():
    from torchvision.models import resnet18

    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2).eval()
    mine = torchcount.Convention("mine", "units", "3 per MAC", {"macs": 3})
    # a convention of your own under a built-in's name and weights, in units of its own
    own_flops = torchcount.Convention("flops", "GFLOP-ish", "my own wording", dict(torchcount.CONVENTIONS["flops"].weights))
    return {
        "worksheet": torchcount.profile(worksheet_alexnet(), input_size=(1, 3, 227, 227), convention="worksheet",
                                        name="worksheet"),
        "resnet18": torchcount.profile(resnet18().eval(), input_size=(1, 3, 64, 64)),
        "lstm": torchcount.profile(nn.LSTM(8, 16, 2), torch.randn(5, 1, 8)),
        "encoder fast path": torchcount.profile(enc, torch.randn(1, 10, 32)),
        "shared": torchcount.profile(_Shared(), torch.randn(2, 4)),
        "partial": torchcount.profile(Mystery(), torch.randn(3), warn=False),
        "measured": torchcount.profile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(2, 4), measure=True,
                                       warmup=0, repeat=2),
        "own convention": torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), convention=mine),
        "own flops": torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), convention=own_flops),
        # a parameter of its own beside a child's: "params = 4  (scale 4 = 4) (registered on it; 24 with its children)"
        "own parameter": torchcount.profile(_Scaled(), torch.randn(2, 4)),
        # a TorchScript model: its submodules have no rows (their ops are its own), as in the file
        "script": torchcount.profile(torch.jit.script(nn.Sequential(nn.Linear(4, 3), nn.ReLU())), torch.randn(2, 4),
                                     warn=False),
        # a convolution, a BatchNorm (its parameters listed), a module never called, the root's own work
        "conv block": torchcount.profile(_ConvBlock().eval(), torch.randn(1, 3, 8, 8)),
        "lstm proj": torchcount.profile(nn.LSTM(8, 16, 2, bidirectional=True, proj_size=4), torch.randn(5, 1, 8)),
        "gru": torchcount.profile(nn.GRU(8, 16), torch.randn(5, 1, 8)),
        "mha": torchcount.profile(nn.MultiheadAttention(16, 2), (torch.randn(3, 1, 16),) * 3),
    }


class _ConvBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.unused = nn.Linear(2, 2)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc((self.bn(self.conv(x)) + 1).mean((2, 3)))


def test_a_saved_report_carries_each_modules_repr_and_parameter_shapes():
    """explain of a loaded report lacked the module's repr and its parameters' names and shapes (only the
    model gave them): the JSON rows now carry them, one line each. By hand: LSTM(8, 16, 2, bidirectional,
    proj_size=4) has per direction and layer weight_ih 4H×I (I = 8, then 2·4 = 8 from both directions'
    projections), weight_hh 4H×P = 64×4, two biases of 4H = 64, weight_hr P×H = 4×16."""
    zoo = _zoo()
    lstm = zoo["lstm proj"].to_dict()["layers"][0]
    assert lstm["module_repr"] == "LSTM(8, 16, proj_size=4, num_layers=2, bidirectional=True)"
    assert lstm["param_shapes"].startswith("weight_ih_l0 64x8; weight_hh_l0 64x4; bias_ih_l0 64; bias_hh_l0 64; "
                                           "weight_hr_l0 4x16; weight_ih_l0_reverse 64x8; ")
    assert lstm["param_shapes"].endswith("; weight_ih_l1_reverse 64x8; weight_hh_l1_reverse 64x4; "
                                         "bias_ih_l1_reverse 64; bias_hh_l1_reverse 64; weight_hr_l1_reverse 4x16")
    loaded = torchcount.load_report(zoo["lstm proj"].to_json())
    text = loaded.explain("")
    assert text.splitlines()[0] == "(root): LSTM  LSTM(8, 16, proj_size=4, num_layers=2, bidirectional=True)"
    # 4 directions-and-layers × (512 + 256 + 64 + 64 + 64) = 3,840
    assert "  params = 3,840  (weight_ih_l0 64×8 = 512; weight_hh_l0 64×4 = 256; bias_ih_l0 64 = 64; " in text
    # MultiheadAttention's rule prices its out_proj: its parameters are listed with dotted names
    mha = torchcount.load_report(zoo["mha"].to_json()).explain("")
    assert ("params = 1,088  (in_proj_weight 48×16 = 768; in_proj_bias 48 = 48; out_proj.weight 16×16 = 256; "
            "out_proj.bias 16 = 16)") in mha
    rows = {d["path"]: d for d in zoo["conv block"].to_dict()["layers"]}
    assert rows["conv"]["module_repr"] == "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert rows["conv"]["param_shapes"] == "weight 4x3x3x3; bias 4"
    assert rows["unused"]["module_repr"] == "Linear(in_features=2, out_features=2, bias=True)"  # never called
    assert rows[""]["module_repr"] is None and rows[""]["param_shapes"] == ""  # a parent: no repr, none of its own
    loaded = torchcount.load_report(zoo["conv block"].to_json())
    assert "  params = 8  (weight 4 = 4; bias 4 = 4)" in loaded.explain("bn")
    assert loaded.explain("unused").startswith("unused: Linear  Linear(in_features=2, out_features=2, bias=True)\n")
    assert loaded.explain("(root) (self)") == zoo["conv block"].explain("(root) (self)")  # the '+ 1' and the mean
    # a parameter of its own, 0-d: 'scalar', as explain writes it
    scaled = torchcount.profile(_ScalarScaled(), torch.randn(2, 4))
    assert scaled.to_dict()["root"]["param_shapes"] == "scale scalar"
    assert torchcount.load_report(scaled.to_json()).explain("") == scaled.explain("")
    assert "params = 1  (scale scalar = 1) (registered on it; 21 with its children)" in scaled.explain("")


class _ScalarScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return self.lin(x) * self.scale


def test_a_report_saved_before_the_module_fields_loads_and_says_what_it_lacks():
    """A file without module_repr and param_shapes (an earlier torchcount's) still loads; its explanations say
    what is not in it where the model's would show it, rather than leaving it out silently, and it is written
    back without them (so read again, it says the same)."""
    report = torchcount.profile(_ConvBlock().eval(), torch.randn(1, 3, 8, 8))
    old = report.to_dict()
    for d in old["layers"] + [old["root"]]:
        del d["module_repr"], d["param_shapes"]
    loaded = torchcount.load_report(old)
    assert loaded.to_dict() == old
    conv = loaded.explain("conv").splitlines()
    assert conv[0] == ("conv: Conv2d  (its repr is not in the saved file, written by an earlier torchcount: "
                       "profile the model and save it again to have it)")
    assert conv[1:] == report.explain("conv").splitlines()[1:]  # (its params line is the rule's worked line)
    assert ("  params = 8  (their names and shapes are not in the saved file, written by an earlier torchcount: "
            "profile the model and save it again to have it)") in loaded.explain("bn")
    # a parent (rows below it) would show no repr, and the root here has no parameters of its own to list
    assert loaded.explain("") == report.explain("")
    assert "not in the saved file" in loaded.explain("unused").splitlines()[0]


class _BadRepr(nn.Linear):
    def extra_repr(self):
        raise RuntimeError("no repr here")


def test_a_module_whose_repr_fails_is_exported_all_the_same():
    """Every export writes each leaf's repr: a module whose own extra_repr raises made to_json fail; its
    module_repr (and explain's first line) now says what its repr raised."""
    report = torchcount.profile(_BadRepr(4, 3), torch.randn(2, 4))
    assert report.to_dict()["layers"][0]["module_repr"] == "(its repr raised RuntimeError: no repr here)"
    assert report.explain("").splitlines()[0] == "(root): _BadRepr  (its repr raised RuntimeError: no repr here)"
    assert torchcount.load_report(report.to_json()).explain("") == report.explain("")


def test_a_saved_reports_module_fields_of_the_wrong_kind_are_named():
    report = torchcount.profile(_ConvBlock().eval(), torch.randn(1, 3, 8, 8))
    d = report.to_dict()
    d["layers"][1]["param_shapes"] = "weight 4×3"
    with pytest.raises(ValueError, match=r"layers\[1\] \('conv'\): field 'param_shapes' holds 'weight 4×3', not"):
        torchcount.load_report(d)
    d = report.to_dict()
    d["layers"][1]["module_repr"] = 3
    with pytest.raises(ValueError, match=r"layers\[1\] \('conv'\): field 'module_repr' is a number \(3\), not a string or null"):
        torchcount.load_report(d)


def test_the_module_fields_add_at_most_two_lines_a_row_to_the_json():
    """module_repr and param_shapes are one line each in the indented JSON, however many parameters."""
    for name in ("lstm proj", "resnet18"):
        report = _zoo_entry(name)
        d = report.to_dict()
        rows = d["layers"] + [d["root"]]
        for row in rows:
            del row["module_repr"], row["param_shapes"]
        assert len(report.to_json().splitlines()) - len(json.dumps(d, indent=2).splitlines()) == 2 * len(rows)


def _zoo_entry(name):
    if name == "lstm proj":
        return torchcount.profile(nn.LSTM(8, 16, 2, bidirectional=True, proj_size=4), torch.randn(5, 1, 8))
    from torchvision.models import resnet18

    return torchcount.profile(resnet18().eval(), input_size=(1, 3, 64, 64))


def test_a_loaded_report_shows_exports_and_explains_what_was_saved(tmp_path):
    """load_report(to_json()) gives back the report: the same document, table (cut at a depth too, under
    another convention too), CSV, Markdown, and worked lines; from a file, JSON text or the dict."""
    for name, report in _zoo().items():
        path = tmp_path / f"{name}.json"
        report.to_json(path)
        for source in (path, str(path), path.read_text(), report.to_dict()):
            loaded = torchcount.load_report(source)
            assert loaded.to_dict() == report.to_dict(), name
        assert loaded.table() == report.table() and loaded.table(depth=1) == report.table(depth=1), name
        assert loaded.with_convention("macs").table() == report.with_convention("macs").table(), name
        assert loaded.to_csv() == report.to_csv() and loaded.to_markdown() == report.to_markdown(), name
        assert loaded.coverage == report.coverage and loaded.complete == report.complete, name
        columns = ["#", "module", "type", "input", "output", "params", "MACs", "ops", "calls", "activation", "dtype"]
        assert loaded.table(depth=0, columns=columns, units=True) == report.table(depth=0, columns=columns, units=True)
        assert loaded.table(columns=columns) == report.table(columns=columns), name
        assert loaded._repr_html_() == report._repr_html_() and loaded.coverage_text() == report.coverage_text(), name
        assert loaded.header() == report.header() and loaded.footer() == report.footer(), name
        assert [r.path for r in loaded.unit_rows()] == [r.path for r in report.unit_rows()], name
        for row in report.layers:
            # the module's repr and its parameters' names and shapes too, from the file (module_repr, param_shapes)
            assert loaded.explain(row.path) == report.explain(row.path), (name, row.path)
        assert loaded.explain("") == report.explain(""), name
    # spec §1's numbers, read from the file: the first convolution and the whole network
    loaded = torchcount.load_report(tmp_path / "worksheet.json")
    assert [(r.params, r.flops) for r in loaded.layers] == SPEC_1
    assert loaded.total.params == 61_100_840 and loaded.total.flops == 793_400_040
    assert loaded.row("0").macs == 64 * 3 * 11 * 11 * 56 * 56
    assert loaded.with_convention("macs").total.flops == loaded.total.macs  # every category is in the file


def test_a_torchscript_models_worked_lines_are_its_own_ops_as_in_its_file():
    """A scripted Sequential has one row, its own ops: its explanation said 'its own ops, outside its children
    (whose rows hold their cost)' (read from the module, which has children) and the file's did not. By hand:
    Linear(4, 3) on 2 rows is 2·4·3 = 24 MACs, FLOPs 2·24 + 6 bias adds + 6 ReLU comparisons = 60."""
    report = torchcount.profile(torch.jit.script(nn.Sequential(nn.Linear(4, 3), nn.ReLU())), torch.randn(2, 4),
                                warn=False)
    text = report.explain("")
    assert "source: the ops it ran\n" in text and "outside its children" not in text
    assert "FLOPs [flops] = 2×24 + 6 + 6 = 60" in text
    assert torchcount.load_report(report.to_json()).explain("") == text


def test_a_convention_of_your_own_named_as_a_built_in_keeps_its_unit_and_words():
    """Convention("flops", ...) with the built-in's weights but a unit of its own read back as the built-in:
    the table's header said 'FLOPs [flops]', the document the built-in's unit and description."""
    own = torchcount.Convention("flops", "GFLOP-ish", "my own wording", dict(torchcount.CONVENTIONS["flops"].weights))
    report = torchcount.profile(nn.Linear(4, 3), torch.randn(2, 4), convention=own)
    loaded = torchcount.load_report(report.to_json())
    assert loaded.convention == own and loaded.to_dict()["convention"]["unit"] == "GFLOP-ish"
    assert "GFLOP-ish [flops]" in loaded.table() and "my own wording" in loaded.table()
    # the built-in itself is read back as the built-in
    assert torchcount.load_report(report.to_json(convention="flops")).convention is torchcount.CONVENTIONS["flops"]


def test_the_receptive_field_of_a_loaded_report_says_it_needs_the_model():
    """A loaded report has no modules, where a layer's kernel, stride and padding are read: it said 'no
    convolution or pooling layer found' of a saved conv stack."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)).eval()
    report = torchcount.profile(model, torch.randn(1, 1, 8, 8))
    # the report it was saved from: kernel 3, then a 2×2 pool one position apart → 3 + (2 − 1)·1 = 4
    assert [r.rf for r in torchcount.receptive_field(report).rows][-1] == (4, 4)
    with pytest.raises(ValueError, match=r"read from JSON .*receptive_field\(model, x\)"):
        torchcount.receptive_field(torchcount.load_report(report.to_json()))


def test_a_saved_report_compares_with_a_new_profile():
    """compare(saved, new) is compare(original, new): the baseline of a cost regression check. By hand:
    Linear(8, 16) → Linear(8, 4) on 2 rows saves (16 − 4)·8·2 = 192 MACs."""
    old = torchcount.profile(nn.Sequential(nn.Linear(8, 16)), torch.randn(2, 8))
    new = torchcount.profile(nn.Sequential(nn.Linear(8, 4)), torch.randn(2, 8))
    saved = torchcount.load_report(old.to_json())
    direct, via_file = torchcount.compare(old, new), torchcount.compare(saved, new)
    assert via_file.table() == direct.table()
    assert via_file.totals["MACs"].difference == 192 == direct.totals["MACs"].difference
    # FLOPs: 2·256 MACs + 32 bias adds = 544 → 2·64 + 8 = 136: (544 − 136)/544 = 75 %
    assert via_file.reduction == pytest.approx(75.0) == direct.reduction


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(schema="torchcount.comparison"), "not a torchcount report"),
    (lambda d: d.update(schema_version=1), "schema version 1 is not readable.*export the report again"),
    (lambda d: d.update(schema_version=3), "schema version 3 .*written by a newer torchcount"),
    (lambda d: d.update(schema_version=True), "not a torchcount report"),  # (a bool is an int to Python)
    (lambda d: d.update(layers=None), "field 'layers' is null, not an array"),
    (lambda d: d.pop("total"), "field 'total' missing"),
    (lambda d: d["layers"][1].pop("cost"), r"layers\[1\] \('0.0'\): field 'cost' missing"),
    (lambda d: d["layers"][0].update(input_shapes=5), r"layers\[0\] \('0'\): a field holds a value of the wrong kind"),
    # numbers and strings of the wrong kind: a hand-edited file loaded, then failed when shown
    # ("Cannot specify ',' with 's'.", "'int' object has no attribute 'split'")
    (lambda d: d["layers"][1].update(params="120"), r"layers\[1\] \('0.0'\): field 'params' is a string \(\"120\"\), not an integer"),
    (lambda d: d["layers"][1].update(path=3), r"layers\[1\]: field 'path' is a number \(3\), not a string"),
    (lambda d: d["layers"][1].update(depth=None), r"layers\[1\] \('0.0'\): field 'depth' is null, not an integer"),
    (lambda d: d["layers"][1]["terms"][0].update(value="x"), r"layers\[1\] \('0.0'\): a term's field 'value' is a string"),
    (lambda d: d["total"].update(params=True), r"total: field 'params' is true or false \(true\), not an integer"),
    (lambda d: d["coverage"].update(uncounted=[{"path": "", "type": "M", "op": "aten.foo", "calls": "1"}]),
     r"coverage.uncounted\[0\]: field 'calls' is a string"),
    (lambda d: d.update(notes=[3]), "field 'notes' holds a number, not only strings"),
])
def test_a_document_it_cannot_read_is_a_clear_error(mlp, change, message):
    d = mlp.to_dict()
    change(d)
    with pytest.raises(ValueError, match=message):
        torchcount.load_report(d)


def test_a_file_that_is_missing_or_not_json_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read the report"):
        torchcount.load_report(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON in"):
        torchcount.load_report(tmp_path / "bad.json")
    with pytest.raises(TypeError, match="path, JSON text or a dict"):
        torchcount.load_report(42)
    # JSON, but no object: it said "load_report takes a path, JSON text or a dict, got PosixPath"
    for text, kind in (("[1, 2]", "an array"), ("null", "null"), ('"r.json"', "a string")):
        (tmp_path / "other.json").write_text(text)
        with pytest.raises(ValueError, match=f"not a torchcount report in .*: the JSON is {kind}, not an object"):
            torchcount.load_report(tmp_path / "other.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="not JSON in .*not UTF-8 text"):
        torchcount.load_report(tmp_path / "binary.json")


def test_jsonable_dataclasses_and_the_written_file(tmp_path):
    """A dataclass instance becomes a dict of its shown fields (Fit(1, 2, 0.5, 3)); a dataclass class is
    not one (its name, as any other object); to_json(path) writes the text to_json() returns, ending
    in a newline."""
    from torchcount.analysis.scaling import Fit

    assert export.jsonable(Fit(1.0, 2.0, 0.5, 3)) == {"exponent": 1.0, "coefficient": 2.0, "r2": 0.5, "points": 3,
                                                    "note": ""}
    assert export.jsonable(Fit) == str(Fit)
    rep = torchcount.profile(nn.Linear(4, 2), torch.randn(1, 4))
    rep.to_json(tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == rep.to_json() + "\n"


def test_the_by_type_hint_only_for_a_by_type_document():
    """A document with groups and a sort is a --by-type breakdown (the hint says so); one with either
    alone is just not a report."""
    for doc in ({"groups": []}, {"sort": "ops"}, {}):
        with pytest.raises(ValueError, match="not a torchcount report") as info:
            torchcount.load_report(doc)
        assert "by-type" not in str(info.value)
    with pytest.raises(ValueError, match="a --by-type breakdown"):
        torchcount.load_report({"groups": [], "sort": "ops"})


def test_a_loaded_group_rows_members_are_the_called_rows_nearest_below_it():
    """A ModuleList its parent calls block by block: its row's members are the two blocks, not the layers
    inside them too (a block is called; its layers are its own), in the loaded report as in the profiled."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), nn.ReLU()) for _ in range(2))

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    rep = torchcount.profile(Net(), torch.randn(2, 4))
    loaded = torchcount.load_report(rep.to_json())
    for r in (rep, loaded):
        group = next(row for row in r.layers if row.path == "blocks")
        assert group.members == ("blocks.0", "blocks.1")


def test_markdown_is_the_heading_the_table_and_the_notes_once_each():
    """to_markdown: the header's first line in bold, its second line, a blank line, the table's rows (those
    of the GitHub table), a blank line, then each footer line once as a list item — no footer line in the
    table part, no empty line inside it; and the CSV's rule column is each row's rule ('' for none)."""
    rep = torchcount.profile(nn.Sequential(nn.Linear(4, 2), nn.ReLU()), torch.randn(1, 4))
    conv = torchcount.get_convention(rep.convention)
    first, rest = rep.header(conv).split("\n")
    footer = rep.footer(conv)
    assert footer  # (the parameters' line at least)
    table = [line for line in rep.table(tablefmt="github").splitlines() if line.startswith("|")]
    assert rep.to_markdown() == (f"**{first}**  \n{rest}\n\n" + "\n".join(table) + "\n\n"
                                 + "\n".join(f"- {line}" for line in footer) + "\n")
    columns, rows = export.records(rep)
    assert [r["rule"] for r in rows] == [row.rule or "" for row in rep.layers] and rows[0]["rule"]
    assert [r["rule"] for r in csv.DictReader(io.StringIO(rep.to_csv()))] == [r["rule"] for r in rows]


def test_csv_cells_of_extra_values_and_the_html_heading():
    """A string extra is its text in the CSV (not JSON-quoted), None an empty cell, a tensor the JSON of
    its values; the HTML fragment carries the header's two lines, each in its own div."""
    import html

    rep = torchcount.profile(nn.Sequential(nn.Linear(4, 2)), torch.randn(1, 4))
    rep.layers[0].extra.update(bound="memory", nothing=None, t=torch.tensor([1.0, 2.5]))
    row = next(csv.DictReader(io.StringIO(rep.to_csv())))
    assert (row["bound"], row["nothing"], row["t"]) == ("memory", "", "[1.0, 2.5]")
    conv = torchcount.get_convention(rep.convention)
    first, rest = rep.header(conv).split("\n")
    assert export.to_html(rep).startswith(f'<div class="torchcount-report"><div><b>{html.escape(first)}</b></div>'
                                    f'<div>{html.escape(rest)}</div><div style=')
