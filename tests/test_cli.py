"""The ``torchcount`` command: the installed console script as a subprocess (each MODEL form,
each format, each error case), plus in-process ``main()`` calls for the cheaper variations.

Expected numbers: spec §1 (worked-examples.md), torchvision's ``weights.meta``, closed forms
written out here, ``torch.utils.flop_counter`` and the Python API on the same model.
"""
import atexit
import csv
import dataclasses
import io
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import torchcount
from torchcount import cli
from conftest import TESTED_TORCH, needs

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = shutil.which("torchcount", path=str(Path(sys.executable).parent)) or shutil.which("torchcount")

# spec §1 (params, ops) per layer, worksheet convention
SPEC_1 = [(23_296, 73_056_256), (0, 401_408), (0, 150_528), (307_392, 240_995_328), (0, 301_056),
          (0, 112_896), (663_936, 130_131_456), (0, 150_528), (884_992, 173_458_432), (0, 100_352),
          (590_080, 115_655_680), (0, 100_352), (0, 138_240), (0, 0), (0, 0),
          (37_752_832, 37_752_832), (0, 8_192), (0, 0), (16_781_312, 16_781_312), (0, 8_192),
          (4_097_000, 4_097_000)]
WORKSHEET = "examples/worksheet_alexnet.py:worksheet_alexnet"

USER_FILE = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.fc = nn.Linear(4, 3)

        def forward(self, ids):
            return self.fc(self.emb(ids))

    def pair():
        return Net(), torch.zeros(2, 5, dtype=torch.long)

    def net():
        return Net()
""")
# Net on 2×5 token ids: Embedding(10, 4) has 40 params, no arithmetic; Linear(4, 3) on 2·5 rows:
# params (4 + 1)·3 = 15, MACs 2·5·4·3 = 120, bias adds 2·5·3 = 30.
NET_PARAMS, NET_MACS, NET_ADDS = 40 + 15, 2 * 5 * 4 * 3, 2 * 5 * 3


def run(*args, cwd=ROOT):
    assert SCRIPT, "the torchcount console script is not installed in this environment"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300, encoding="utf-8")


# Every subprocess of this file, started together (a few at a time) when the first test needs
# one: each costs a Python + torch start-up, so they overlap instead of queueing.
USER_FILE_PATH = Path(tempfile.mkdtemp(prefix="torchcount_cli_")) / "usermodel.py"
# (made when the file is collected, also when its tests are deselected: -m slow)
atexit.register(shutil.rmtree, USER_FILE_PATH.parent, True)
COMMANDS = {
    "worksheet": (WORKSHEET, "--input", "1x3x227x227", "--convention", "worksheet",
                  "--columns", "#,module,type,params,ops"),
    "alexnet_json": ("alexnet", "--input", "1x3x227x227", "--format", "json"),
    "linear_csv": ("torch.nn:Linear(8, 4)", "--input", "2x8", "--format", "csv", "--convention", "macs"),
    "pair_markdown": (f"{USER_FILE_PATH}:pair", "--format", "markdown", "--convention", "2mac",
                      "--columns", "module,type,params,macs,ops"),
    "net_json_file": (f"{USER_FILE_PATH}:net", "--input", "2x5:int64", "--format", "json", "--output",
                      USER_FILE_PATH.with_name("net.json")),
    "wav2vec2": ("wav2vec2_base", "--format", "json", "--convention", "macs"),
    "err_unknown": ("resnt50",),
    "err_shape": ("alexnet", "--input", "1x3xfoo"),
    "err_callable": ("examples/worksheet_alexnet.py:no_such_fn",),
    # 224 instead of 227: the features end at 256×5×5 = 6400, the first Linear expects 9216
    "err_forward": (WORKSHEET, "--input", "1x3x224x224"),
}
_futures = {}


def result(key):
    if not _futures:
        USER_FILE_PATH.write_text(USER_FILE)
        pool = ThreadPoolExecutor(max_workers=3)
        for k, args in COMMANDS.items():
            _futures[k] = pool.submit(run, *args)
        pool.shutdown(wait=False)
    return _futures[key].result()


@pytest.fixture(scope="module", autouse=True)
def _remove_user_file_dir():
    """The temporary folder of USER_FILE_PATH goes once this file's tests are done (after the
    subprocesses that read or write in it)."""
    yield
    for future in _futures.values():
        future.exception()  # waits; a failure was already reported by the test that read it
    shutil.rmtree(USER_FILE_PATH.parent, ignore_errors=True)


def _table_rows(text):
    """(params, ops) of each numbered row of a plain table."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+\S+\s+\S+.*?\s([\d,]+)\s+([\d,]+)\s*$", line)
        if m:
            rows.append((int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))))
    return rows


# ---- subprocess: each MODEL form, each format --------------------------------------------------
def test_worksheet_file_callable_prints_spec_numbers():
    """Acceptance: the file.py:callable form with --convention worksheet prints spec §1."""
    r = result("worksheet")
    assert r.returncode == 0, r.stderr
    total = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("total")][0]
    assert total.split()[1:] == ["61,100,840", "793,400,040"]
    assert _table_rows(r.stdout) == SPEC_1
    assert "convention 'worksheet'" in r.stdout


def test_builder_name_json_matches_python_api_and_torchvision():
    """Acceptance: `torchcount alexnet --input 1x3x227x227 --format json` → 61,100,840 params."""
    import torchvision

    r = result("alexnet_json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 2
    assert d["total"]["params"] == 61_100_840
    assert d["total"]["params"] == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["num_params"]
    with torch.device("meta"):
        model = torchvision.models.alexnet().eval()
    api = torchcount.profile(model, input_size=(1, 3, 227, 227), name="alexnet", warn=False).to_dict()
    assert d["total"] == api["total"]
    assert [(x["path"], x["params"], x["ops"]) for x in d["layers"]] == \
        [(x["path"], x["params"], x["ops"]) for x in api["layers"]]
    # conv1 of torchvision AlexNet on 227: 64 filters 3×11×11, output 56×56 → MACs 64·363·56·56
    conv1 = next(x for x in d["layers"] if x["path"] == "features.0")
    assert conv1["macs"] == 64 * 3 * 11 * 11 * 56 * 56


def test_module_callable_with_literal_args_csv():
    """package.module:callable(args) form, CSV: torch.nn.Linear(8, 4) on a 2×8 input."""
    r = result("linear_csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and rows[0]["type"] == "Linear"
    # params (8 + 1)·4 = 36; MACs 2·8·4 = 64; bias adds 2·4 = 8
    assert (int(rows[0]["params"]), int(rows[0]["macs"]), int(rows[0]["adds"])) == (36, 64, 8)
    assert int(rows[0]["ops"]) == 64 and rows[0]["convention"] == "macs"
    assert rows[0]["input_shapes"] == "2x8"


def test_python_dash_m_runs_the_same_command():
    """``python -m torchcount`` is the console script: the same CSV for the same arguments."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "torchcount", *COMMANDS["linear_csv"]], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=300, encoding="utf-8")
    assert r.returncode == 0, r.stderr
    assert r.stdout == result("linear_csv").stdout and "Linear" in r.stdout


def test_file_callable_returning_module_and_inputs_markdown():
    """(module, inputs) pair: the callable's int64 ids are used; Markdown output."""
    r = result("pair_markdown")
    assert r.returncode == 0, r.stderr
    table = [ln for ln in r.stdout.splitlines() if ln.startswith("|")]
    assert re.fullmatch(r"\|[-:|]+\|", table[1])
    cells = {c[0]: c for c in ([x.strip() for x in ln.strip("|").split("|")] for ln in table[2:])}
    assert cells["emb"][1:] == ["Embedding", "40", "0", "0"]
    # the 2mac convention is torch.utils.flop_counter's: check against it
    from torch.utils.flop_counter import FlopCounterMode

    fc = nn.Linear(4, 3)
    with FlopCounterMode(display=False) as counter:
        fc(torch.randn(2, 5, 4))
    assert cells["fc"][1:] == ["Linear", "15", f"{NET_MACS:,}", f"{counter.get_total_flops():,}"]
    assert cells["total"][2:] == [f"{NET_PARAMS:,}", f"{NET_MACS:,}", f"{2 * NET_MACS:,}"]


def test_file_callable_with_int_dtype_suffix_and_output_file():
    out = USER_FILE_PATH.with_name("net.json")
    r = result("net_json_file")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and f"wrote {out}" in r.stderr
    d = json.loads(out.read_text())
    emb = next(x for x in d["layers"] if x["path"] == "emb")
    assert emb["input_shapes"] == [[2, 5]]
    assert d["total"]["params"] == NET_PARAMS and d["total"]["macs"] == NET_MACS
    # flops convention: 2 per MAC + bias adds
    assert d["total"]["ops"] == 2 * NET_MACS + NET_ADDS


def test_torchaudio_builder_default_input():
    """A torchaudio builder name with its default input (one second at 16 kHz), built on meta."""
    import torchaudio

    r = result("wav2vec2")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    with torch.device("meta"):
        model = torchaudio.models.wav2vec2_base()
    assert d["total"]["params"] == sum(p.numel() for p in model.parameters())
    fe = next(x for x in d["layers"] if x["path"] == "feature_extractor")
    assert fe["input_shapes"] == [[1, 16000]]
    # first conv: 512 filters of width 10, stride 5, no bias, on 16000 samples → 3199 positions
    conv0 = next(x for x in d["layers"] if x["path"] == "feature_extractor.conv_layers.0.conv")
    assert conv0["macs"] == 512 * 10 * ((16000 - 10) // 5 + 1)


def test_torchaudio_builder_without_a_default_input_names_what_it_takes(capsys):
    """HuBERT's pretraining builders were given the speech encoders' waveform and failed in their forward
    (it takes labels too: 'missing 1 required positional argument'); an audio model with no default input
    was told an image's shape (--input 1x3x224x224). Now each is told the inputs its call takes."""
    assert cli.resolve("hubert_base").default_input == (1, 16000)
    for name in ("hubert_pretrain_base", "hubert_pretrain_large", "hubert_pretrain_xlarge"):
        assert cli.resolve(name).default_input is None
    for args, takes in [(["conv_tasnet_base"], "ConvTasNet.forward(input)"),
                        (["squim_subjective_base"], "SquimSubjective.forward(waveform, reference)"),
                        (["torch.nn:Linear(8, 4)"], "Linear.forward(input)"),
                        (["torchaudio.models:DeepSpeech(40)", "--method", "forward"], "DeepSpeech.forward(x)"),
                        (["torchaudio.models:WaveRNN([2, 2], 16, 4)", "--method", "infer"],
                         "WaveRNN.infer(specgram, lengths=…)")]:
        rc, out, err = main(capsys, *args)
        assert rc == 2 and out == ""
        assert f"needs --input (one SHAPE[:DTYPE] per input of {takes}); there is no default input" in err, err


def test_sort_top_explain_table(capsys):
    rc, stdout, err = main(capsys, "resnet18", "--sort", "params", "--top", "3", "--columns", "module,params",
                           "--explain", "fc")
    assert rc == 0, err
    lines = stdout.splitlines()
    rows = [ln.split() for ln in lines if re.match(r"(layer|fc|conv)", ln)]
    # the three largest leaves of resnet18: 3×3 convs 512→512 (512·512·9 = 2,359,296) ×3
    assert [row[1] for row in rows[:3]] == ["2,359,296"] * 3
    assert "showing the top 3 of" in stdout and "rows by params;" in stdout
    # --explain fc: Linear(512, 1000): params (512 + 1)·1000
    assert "params = (n + 1)·k = (512 + 1)×1000 = 513,000" in stdout
    # the column sorted by, as the table heads it (it echoed the key as typed: "by flops" under -c macs)
    rc, stdout, err = main(capsys, "resnet18", "-c", "macs", "--sort", "FLOPS", "--top", "2")
    assert rc == 0, err
    assert "rows by MACs [macs];" in stdout


def test_dtype_column_shows_what_each_layer_computed_in(capsys):
    """--columns dtype: the first call's output dtypes; --dtype bfloat16 casts the model and its float
    input, so the Linear computes in bfloat16; an int64 input suffix is kept."""
    rc, stdout, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--dtype", "bfloat16",
                           "--columns", "module,type,dtype,macs")
    assert rc == 0, err
    assert any(line.split() == ["(root)", "Linear", "bfloat16", "64"] for line in stdout.splitlines()), stdout
    rc, stdout, err = main(capsys, "torch.nn:Embedding(10, 4)", "--input", "2x3:int64", "--format", "csv")
    assert rc == 0, err
    row = next(csv.DictReader(io.StringIO(stdout)))
    assert (row["input_dtypes"], row["output_dtypes"]) == ("int64", "float32")


# ---- subprocess: error cases -------------------------------------------------------------------
@pytest.mark.parametrize("key, code, message", [
    ("err_unknown", 2, "unknown model 'resnt50'; did you mean resnet50"),
    ("err_shape", 2, "bad input shape '1x3xfoo'"),
    ("err_callable", 2, "examples/worksheet_alexnet.py does not define 'no_such_fn'"),
    ("err_forward", 1, "forward failed in module '15' (Linear) with input shapes 1×6400"),
])
def test_errors_one_line_exit_code(key, code, message):
    r = result(key)
    assert r.returncode == code, (r.returncode, r.stderr)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    assert err[0].startswith("torchcount: ") and message in err[0], err[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_help_documents_every_option_with_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--input", "--device", "--measure", "--warmup", "--repeat", "--convention", "--depth",
                "--sort", "--top", "--columns", "--format", "--output", "--plot", "--explain", "--compare",
                "--units", "--debug"):
        assert opt in text, opt
    options = [a for a in cli.build_parser()._actions if a.option_strings and a.dest not in ("help", "version",
                                                                                          "list_models")]
    for action in options:
        assert "e.g." in (action.help or "") or action.dest == "debug", action.dest


# ---- in-process main(): cheap variations -------------------------------------------------------
def main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("shape, message", [
    ("1x3xfoo", "bad input shape"), ("", "bad input shape"), ("1x-3", "bad input shape"),
    ("1x3:float99", "bad input dtype 'float99'"), ("2x8:Linear", "bad input dtype"),
    ("2x8\u00b2", "bad input shape"),  # a superscript two: str.isdigit() says yes, int() says no
    ("99999999x99999x9999x9999", "more than a tensor can hold"),
    ("2x8:quint8", "cannot make a random input"),
])
def test_bad_shapes_in_process(capsys, shape, message):
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", shape)
    assert code == 2 and message in err and err.count("\n") == 1


def test_parse_input():
    assert cli.parse_input("1x3x224x224") == ((1, 3, 224, 224), torch.float32)
    assert cli.parse_input("1×16:int64") == ((1, 16), torch.int64)
    assert cli.parse_input("4:bfloat16") == ((4,), torch.bfloat16)


@pytest.mark.parametrize("args, code, message", [
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--convention", "gflops"], 2, "unknown convention 'gflops'"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--columns", "params,speed"], 2, "unknown column 'speed'"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--columns", "measured"], 2, "--columns measured needs --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--columns", "module,time_ms"], 2, "--columns time_ms needs --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "input=2x8", "--input", "input=1x8"], 2, "--input input=… is given more than once"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--sort", "speed"], 2, "cannot sort by 'speed'"),
    (["resnet18", "--explain", "layer1.0.conv9"], 2, "did you mean 'layer1.0.conv2', 'layer1.0.conv1'"),
    (["raft_small"], 2, "--input 1x3x224x224 --input 1x3x224x224 (two images)"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "-c", "FLOP"], 2, "did you mean flops?"),
    (["resnet18(num_clases=10)"], 2, "resnet18 does not take 'num_clases'"),  # torchvision: **kwargs
    (["torch.nn:Linear(4, 5)(6, 7)", "--input", "2x6"], 2, "bad arguments"),
    (["resnet18(num_classes=x)"], 2, "'x' is not a literal"),
    (["resnet18(num_classes=10"], 2, "unbalanced parentheses"),
    (["torch.nn:Lineer", "--input", "2x8"], 2, "did you mean Linear"),
    (["examples/worksheet_alexnet.py"], 2, "a file needs the callable"),
    (["resnet18", "--compare", "resnet34", "--top", "2"], 2, "--compare prints totals"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--sort", "time_ms"], 2, "no row of this report has it (it needs --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--repeat", "1", "--warmup", "0", "--sort", "peak_MiB"],
     2, "peak_MiB is measured on CUDA only"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--explain", "nope"], 2, "no module 'nope'"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--repeat", "3"], 2, "--warmup, --repeat, --ceiling, --energy and --energy-layers need --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--ceiling"], 2, "--warmup, --repeat, --ceiling, --energy and --energy-layers need --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--energy"], 2, "--warmup, --repeat, --ceiling, --energy and --energy-layers need --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--energy-layers", "2"], 2, "--warmup, --repeat, --ceiling, --energy and --energy-layers need --measure"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--top", "0"], 2, "expected a positive integer"),
    # (an empty file name was taken as none: the table on stdout, no plot drawn, unsaid)
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--output", ""], 2, "--output is empty; give a file name"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--plot", " "], 2, "--plot is empty; give a file name"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--roofline", ""], 2, "--roofline is empty"),
    # (0 layers was taken, with or without --measure, and measured nothing, unsaid)
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--energy-layers", "0"], 2,
     "--energy-layers: expected a positive integer, got '0'"),
    (["torch.nn:Linear(8, 4)"], 2, "needs --input"),
    (["torch.nn:Linear(8, four)", "--input", "2x8"], 2, "only Python literals"),
    (["torch.nn:Linear(8)", "--input", "2x8"], 2, "cannot be called with (8)"),
    (["torch.nn:NoSuch", "--input", "2x8"], 2, "torch.nn does not define 'NoSuch'"),
    (["no_such_pkg.models:net", "--input", "2x8"], 2, "cannot import module 'no_such_pkg.models'"),
    (["missing/file.py:net"], 2, "no such file: missing/file.py"),
    (["torch.nn:Linear(8, 4)", "--input", "2x7"], 1, "forward failed in module '(root)' (Linear)"),
    (["torch.nn:Linear(8, 4)", "--input", "2x7"], 1, "--device cpu shows PyTorch's own message"),
    (["alexnet", "--device", "nodevice"], 2, "device 'nodevice'"),
])
def test_errors_in_process(capsys, args, code, message):
    rc, out, err = main(capsys, *args)
    assert rc == code, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_debug_shows_traceback(capsys):
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x7", "--debug")
    assert rc == 1 and "Traceback" in err and "ForwardError" in err


def test_callable_returning_wrong_type(capsys, tmp_path):
    f = tmp_path / "bad.py"
    f.write_text("def make():\n    return 42\n")
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x2")
    assert rc == 2 and "make returned a int; expected an nn.Module" in err


def test_a_forward_writing_its_parameters_is_counted_with_a_note(capsys, tmp_path):
    """The command's model is its own: a forward that clamps a weight in place (weight clipping) is
    counted, not refused as profile() refuses it for a caller's model (it has no copy to restore)."""
    f = tmp_path / "clamp.py"
    f.write_text("import torch\nfrom torch import nn\n\nclass Clamp(nn.Module):\n"
                 "    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(8, 4)\n\n"
                 "    def forward(self, x):\n        with torch.no_grad():\n"
                 "            self.l.weight.clamp_(-0.1, 0.1)\n        return self.l(x)\n")
    rc, out, err = main(capsys, f"{f}:Clamp", "--input", "2x8", "--device", "cpu", "--convention", "macs")
    assert rc == 0, err
    # the Linear's 2·8·4 = 64 MACs; the clamp of 32 weights: 2 comparisons each, no MAC
    assert re.search(r"total\s+36\s+64\s", out), out
    assert "the forward wrote parameter(s) in place; restored from the copy: l.weight" in out


@needs("torch.export naming each node's module by its path")
def test_a_torch_export_program_is_counted_per_layer(capsys, tmp_path):
    """``ep.module()`` refuses ``.eval()`` (its graph fixed the mode at export): the command counts it as it
    is, a row per original layer; the convolution's MACs by hand, 1·8·6·6·3·3·3 = 7,776."""
    f = tmp_path / "exported.py"
    f.write_text("import torch\nfrom torch import nn\n\ndef exported():\n"
                 "    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten()).eval()\n"
                 "    return torch.export.export(model, (torch.randn(1, 3, 8, 8),)).module()\n")
    rc, out, err = main(capsys, f"{f}:exported", "--input", "1x3x8x8", "--device", "cpu", "--format", "csv")
    assert rc == 0, err
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["0"]["type"], rows["0"]["macs"]) == ("Conv2d", "7776")
    assert (rows["1"]["type"], rows["1"]["cmps"]) == ("ReLU", str(8 * 6 * 6))


def test_csv_sort_top_and_compare(capsys):
    # two Linear variants: 16→16 directly (256 MACs per row) vs 16→4→16 (64 + 64 = 128 per row)
    rc, out, err = main(capsys, "torch.nn:Linear(16, 16, bias=False)", "--input", "1x16",
                        "--compare", "torch.nn:Sequential", "--convention", "macs")
    assert rc == 0, err  # an empty Sequential is the identity: 0 MACs, a 100 % reduction
    assert re.search(r"MACs \[macs\]\s+256\s+0\s+256\s+100\.00 %", out), out
    rc, out, err = main(capsys, "torchvision.models:resnet18", "--format", "csv", "--sort", "macs", "--top", "2",
                        "--input", "1x3x64x64")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and len(rows) == 2
    # resnet18 conv1 on 64×64: 64 filters 3×7×7 over 32×32 outputs; every other conv is smaller
    assert rows[0]["path"] == "conv1" and int(rows[0]["macs"]) == 64 * 3 * 7 * 7 * 32 * 32


def test_compare_json(capsys):
    rc, out, err = main(capsys, "torch.nn:Linear(16, 16, bias=False)", "--input", "1x16", "--compare",
                        "torch.nn:Linear(16, 4, bias=False)", "--convention", "macs", "--format", "json")
    d = json.loads(out)
    assert d["a"]["total"]["macs"] == 256 and d["b"]["total"]["macs"] == 64
    assert d["reduction_percent"] == pytest.approx(75.0)


def test_plot_option(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "p.png"
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--plot", target, "--format", "json")
    assert rc == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {target}" in err
    assert json.loads(out)["total"]["macs"] == 2 * 8 * 4
    # a file name without an image suffix is refused before any work, with nothing on stdout
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--plot", tmp_path / "p.txt")
    assert rc == 2 and out == "" and "use a .png, .svg or .pdf" in err


def test_roofline_option(capsys, tmp_path, monkeypatch):
    """--roofline draws the measured layers (plot_roofline, at --depth) from a --measure run or from a
    saved report of one; without measured layers, beside --compare or with a file name that is no
    image it is a usage error, refused before any work where it can be."""
    pytest.importorskip("matplotlib")
    from torchcount.analysis import plots

    drawn = []
    real = plots.plot_roofline
    monkeypatch.setattr(plots, "plot_roofline", lambda *a, **kw: (drawn.append(kw), real(*a, **kw))[1])
    target, saved = tmp_path / "roof.png", tmp_path / "measured.json"
    rc, out, err = main(capsys, "torch.nn:Linear(64, 64)", "--input", "8x64", "--measure", "--device", "cpu",
                        "--warmup", "1", "--repeat", "2", "--ceiling", "--roofline", target, "--depth", "1",
                        "--format", "json", "--output", saved)
    assert rc == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {target}" in err
    assert drawn == [{"depth": 1}]
    rc, out, err = main(capsys, saved, "--roofline", tmp_path / "again.svg")  # (a saved measured report)
    assert rc == 0, err
    assert (tmp_path / "again.svg").read_text().lstrip().startswith("<?xml")

    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--roofline", target)
    assert rc == 2 and out == "" and "--roofline needs measured layers: add --measure" in err
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--roofline", tmp_path / "r.txt")
    assert rc == 2 and out == "" and "--roofline" in err and "use a .png, .svg or .pdf" in err
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--compare", "torch.nn:Linear(8, 2)",
                        "--roofline", target)
    assert rc == 2 and "cannot be combined with --compare" in err
    rc, _, _ = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--format", "json", "--output",
                    tmp_path / "counted.json")
    rc, out, err = main(capsys, tmp_path / "counted.json", "--roofline", target)  # (a saved count: no times)
    assert rc == 2 and out == "" and "--roofline needs measured layers; the saved report" in err


def test_measure_passes_through_and_counts_passes(capsys, monkeypatch):
    pytest.importorskip("torchcount.measure")
    calls, counted = [], []
    class Recorder(cli.ProgressBar):
        def __call__(self, done, total, label=""):
            calls.append((done, total))

    monkeypatch.setattr(cli, "_progress_bar", lambda: Recorder())
    close = cli._PassCounter.close
    monkeypatch.setattr(cli._PassCounter, "close", lambda self: (counted.append(self.n), close(self)))
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--device", "cpu",
                        "--warmup", "1", "--repeat", "2", "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["total"]["macs"] == 2 * 8 * 4
    assert d["extra"]["device"]  # measured: the report says where
    assert [k for k in ("time_ms",) if k in d["layers"][0]["extra"] or k in d["root"]["extra"]]
    # the bar's total is the real number of forward passes: 1 counting pass, then a plain and an
    # instrumented pass per warm-up (1) and per repeat (2), then the floor-probing pass and one memory pass
    expected = 1 + 2 * 1 + 2 * 2 + 1 + 1
    assert counted == [expected] and calls[-1] == (expected, expected)


def test_ceiling_measures_the_cpu_peaks(capsys):
    """Without --ceiling a CPU has no peak (%peak and bound unknown); with it the peaks are
    measured and every layer gets a %peak and a verdict."""
    pytest.importorskip("torchcount.measure")
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--device", "cpu",
                        "--ceiling", "--warmup", "1", "--repeat", "2", "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["extra"]["peaks"]["kind"] == "measured" and d["extra"]["peaks"]["fp32"] > 0
    layer = d["extra"]["per_layer"][""]
    assert layer["peak_flops"] == d["extra"]["peaks"]["fp32"] and layer["bound"] != "unknown"


def test_energy_is_passed_to_the_measurement(capsys, monkeypatch, tmp_path):
    """--energy asks for energy=True: on a CPU without RAPL counters the report says why it is
    unavailable (never a 0); without it the energy is "not requested"."""
    from torchcount.measure import energy as E

    monkeypatch.setattr(E, "POWERCAP", str(tmp_path))
    base = ("torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--device", "cpu", "--warmup", "0",
            "--repeat", "1", "--format", "json")
    rc, out, err = main(capsys, *base, "--energy")
    assert rc == 0, err
    energy = json.loads(out)["extra"]["energy"]
    assert energy["status"] == "unavailable" and energy["why"]
    rc, out, err = main(capsys, *base)
    assert json.loads(out)["extra"]["energy"] == {"status": "not requested"}
    assert "energy_layers" not in json.loads(out)["extra"]
    # --energy-layers N: the one layer replayed, unavailable here too, and said so
    rc, out, err = main(capsys, *base, "--energy-layers", "1")
    assert rc == 0, err
    extra = json.loads(out)["extra"]
    assert extra["energy_layers"]["layers"] == 1 and extra["energy_layers"]["measured"] == 0
    assert extra["per_layer"][""]["energy"]["status"] == "unavailable"


def test_energy_layers_column_is_in_the_measured_table(capsys, monkeypatch):
    """--energy-layers: the footer points at column energy_mJ, so the default measured table shows it
    (it showed only the preset's columns); the root is named (root) in the footer, as in the table."""
    from torchcount.measure import energy as E

    monkeypatch.setattr(E, "measure_energy", lambda *a, **k: {"status": "measured", "J_per_forward": 0.002,
                                                               "passes": 10, "seconds": 1.0})
    base = ("torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--device", "cpu", "--warmup", "0",
            "--repeat", "1")
    rc, out, err = main(capsys, *base, "--energy-layers", "1")
    assert rc == 0, err
    header = next(line for line in out.splitlines() if line.lstrip().startswith("#"))
    assert "energy_mJ" in header.split()
    assert "per forward): (root) 2 mJ" in out
    rc, out, err = main(capsys, *base)  # (not without it)
    assert "energy_mJ" not in out


def test_progress_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli._progress_bar() is None
    buf = io.StringIO()
    bar = cli.ProgressBar(buf, width=10)
    bar(3, 10, "measure")
    bar(10, 10, "measure")
    assert buf.getvalue() == "\rmeasure [###.......] 3/10\rmeasure [##########] 10/10\n"


def test_compare_spec3_bottleneck(capsys):
    """Spec §3: direct 7×7 conv 250→48 on 54×54 vs 1×1 to 12 then 7×7 to 48, multiplications only:
    54·54·48·250·49 = 1,714,608,000 vs 54·54·12·250 + 54·54·48·12·49 = 91,049,184 → 94.69 %."""
    rc, out, err = main(capsys, "examples/bottleneck.py:direct", "--input", "1x250x54x54",
                        "--compare", "examples/bottleneck.py:bottleneck", "--convention", "mults")
    assert rc == 0, err
    assert 54 * 54 * 48 * 250 * 49 == 1_714_608_000 and 54 * 54 * 12 * 250 + 54 * 54 * 48 * 12 * 49 == 91_049_184
    assert re.search(r"mults \[mults\]\s+1,714,608,000\s+91,049,184\s+1,623,558,816\s+94\.69 %", out), out


RESIDUAL_FILE = """
from torch import nn

class Res(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.fc(x)

def make():
    return nn.Sequential(Res(), nn.Linear(4, 2))
"""


def test_sort_keeps_self_rows_and_sums(capsys, tmp_path):
    """A parent with work of its own (a residual add) is a '(self)' row when its child is shown.
    Closed forms on a 1×4 input, flops convention: 0.fc Linear(4,4): 2·16 MACs + 4 bias adds = 36;
    the residual add in '0': 4; '1' Linear(4,2): 2·8 + 2 = 18; total 58."""
    f = tmp_path / "residual.py"
    f.write_text(RESIDUAL_FILE)
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x4", "--sort", "ops", "--columns", "module,params,ops")
    assert rc == 0, err
    rows = [ln.split() for ln in out.splitlines() if re.match(r"(0|1|total)\b", ln)]
    assert rows == [["0.fc", "20", "36"], ["1", "10", "18"], ["0", "(self)", "0", "4"], ["total", "30", "58"]]
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x4", "--sort", "ops", "--top", "1", "--format", "csv")
    recs = list(csv.DictReader(io.StringIO(out)))
    assert [(r["path"], r["part"], int(r["ops"])) for r in recs] == [("0.fc", "all", 36)]
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x4", "--format", "csv")
    recs = list(csv.DictReader(io.StringIO(out)))
    assert sorted((r["path"], r["part"], int(r["ops"])) for r in recs) == [
        ("0", "self", 4), ("0.fc", "all", 36), ("1", "all", 18)]


def test_sorted_table_shows_root_work_and_adds_up(capsys):
    """TransformerEncoderLayer does work in its own forward (functional calls, no child module): two
    residual additions, 2·L·E = 2·4·8 = 64, and the feed-forward ReLU, L·F = 4·16 = 64 comparisons;
    shown as a '(root) (self)' row, with which the sorted rows add up to the total."""
    rc, out, err = main(capsys, "torch.nn:TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, "
                        "batch_first=True)",
                        "--input", "1x4x8", "--sort", "ops", "--columns", "module,ops")
    assert rc == 0, err
    lines = [ln for ln in out.splitlines()[4:] if re.match(r"\S.*\s[\d,]+$", ln)]
    values = {ln.rsplit(None, 1)[0].strip(): int(ln.rsplit(None, 1)[1].replace(",", "")) for ln in lines}
    assert values["(root) (self)"] == 2 * 4 * 8 + 4 * 16
    assert sum(v for k, v in values.items() if k != "total") == values["total"]


KEYWORD_FILE = """
import torch
from torch import nn

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, a, b=None):
        return self.fc(a) if b is None else self.fc(a) + self.fc(b)

class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        n = int((x > -1e9).sum().item())  # needs real values: fails on the meta device
        return self.fc(x[:, :n])
"""


def test_keyword_inputs_and_meta_fallback(capsys, tmp_path):
    f = tmp_path / "kw.py"
    f.write_text(KEYWORD_FILE)
    # fc runs twice on 2×4: MACs 2·(2·4·3) = 48, and the sum of the two outputs is in the root
    rc, out, err = main(capsys, f"{f}:Two", "--input", "2x4", "--input", "b=2x4", "--format", "json",
                        "--convention", "macs")
    assert rc == 0, err
    d = json.loads(out)
    assert d["total"]["macs"] == 2 * (2 * 4 * 3)
    fc = next(x for x in d["layers"] if x["path"] == "fc")
    assert fc["calls"] == 2
    rc, out, err = main(capsys, f"{f}:Two", "--input", "a=2x4", "--format", "json", "--convention", "macs")
    assert rc == 0 and json.loads(out)["total"]["macs"] == 2 * 4 * 3
    # a forward that calls .item() cannot run on meta: counted on the CPU, with a note
    rc, out, err = main(capsys, f"{f}:DataDependent", "--input", "2x4", "--format", "json", "--convention",
                        "macs")
    assert rc == 0, err
    assert "could not run on the meta device" in err and err.count("\n") == 1
    assert json.loads(out)["total"]["macs"] == 2 * 4 * 3
    # ...but not when the user asked for meta
    rc, out, err = main(capsys, f"{f}:DataDependent", "--input", "2x4", "--device", "meta")
    assert rc == 1 and "forward failed in module '(root)' (DataDependent)" in err


def test_dtype_casts_model_and_default_inputs(capsys):
    # Linear(8, 4) in float16: 36 params × 2 bytes; it reads its 2×8 input (2 bytes each) and its
    # parameters once: 2·8·2 + 36·2 = 104 bytes; writes 2×4 outputs: 16 bytes
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--dtype", "float16", "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["total"]["param_bytes"] == 36 * 2
    assert (d["root"]["cost"]["bytes_read"], d["root"]["cost"]["bytes_written"]) == (2 * 8 * 2 + 36 * 2, 2 * 4 * 2)
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--dtype", "int8")
    assert rc == 2 and "bad --dtype 'int8'" in err


def test_strict_fails_on_uncounted_ops(capsys, tmp_path):
    f = tmp_path / "odd.py"
    f.write_text("import torch\nfrom torch import nn\n\nclass Odd(nn.Module):\n"
                 "    def forward(self, x):\n        return torch.linalg.svdvals(x)\n")
    rc, out, err = main(capsys, f"{f}:Odd", "--input", "4x4", "--format", "json")
    assert rc == 0 and json.loads(out)["coverage"]["complete"] is False  # never a silent 0
    assert "note: no formula for 1 op(s)" in err and "_linalg_svd" in err
    rc, out, err = main(capsys, f"{f}:Odd", "--input", "4x4", "--strict")
    assert rc == 1 and "--strict: Odd coverage is partial" in err.splitlines()[-1]
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--strict")
    assert rc == 0, err


def test_depth_zero_shows_the_whole_model_also_sorted_and_as_csv(capsys, tmp_path):
    # a plain Sequential does no work itself, so its root is not among the table's layers
    (tmp_path / "seq.py").write_text("import torch.nn as nn\n\ndef seq():\n"
                                     "    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))\n")
    model = f"{tmp_path / 'seq.py'}:seq"
    flops = 2 * (4 * 3 + 3 * 2) + (3 + 2) + 3  # 2 per MAC, bias additions, ReLU comparisons
    for extra in ((), ("--sort", "ops"), ("--top", "5")):
        code, out, err = main(capsys, model, "--input", "1x4", "--depth", "0", *extra)
        assert code == 0, err
        assert re.search(rf"\(root\)\s+Sequential.*\b{flops}\b", out), out
    code, out, err = main(capsys, model, "--input", "1x4", "--depth", "0", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["path"], int(r["params"]), int(r["ops"])) for r in rows] == [("", 4 * 3 + 3 + 3 * 2 + 2, flops)]


def test_sorted_rows_of_a_model_with_a_module_held_by_reference_add_up():
    # the sorted view rebuilt its rows' tree sums from rows already cut at the depth
    from torchcount.cli import select_rows
    from torch import nn

    class Caller(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.__dict__["block"] = block  # a plain reference
            self.norm = nn.LayerNorm(8)

        def forward(self, x):
            return self.norm(self.block(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Sequential(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)))
            self.c = Caller(self.a[0])

        def forward(self, x):
            return self.c(x)

    from torchcount.report import visible_rows

    report = torchcount.profile(Model(), torch.randn(2, 8))
    for depth in (None, 1, 2):
        view, shown_depth = select_rows(report, depth, "ops", None, report.convention)
        rows = visible_rows(view.layers, shown_depth)  # what view.table() prints
        assert sum(report.convention.ops(r.self_cost if own else r.cost) for r, own in rows) == \
            report.total.flops, depth


def test_a_model_without_meta_kernels_is_counted_on_the_cpu_with_a_note(tmp_path):
    # a dynamic quantized Linear has no fake/meta kernel: the default meta device gave up
    source = tmp_path / "quant.py"
    source.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def quant():
            model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
            return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    """))
    out = subprocess.run([sys.executable, "-W", "ignore", "-m", "torchcount.cli", f"{source}:quant", "--input", "2x8"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    assert "could not run on the meta device" in out.stderr
    assert re.search(r"total\s+90\s+160\s", out.stdout)  # params 8·8+8 + 8·2+2, MACs 2·8·8 + 2·8·2


def test_video_and_detection_builders_get_inputs_and_weights_that_work_offline():
    """s3d is trained on 224×224 crops (at 112 its pooling fails); torchvision's detectors
    default to downloading ImageNet backbone weights, which the command turns off."""
    assert cli.resolve("s3d").default_input == (1, 3, 16, 224, 224)
    assert cli.resolve("r3d_18").default_input == (1, 3, 16, 112, 112)
    assert cli.resolve("fasterrcnn_mobilenet_v3_large_320_fpn").kwargs == {"weights_backbone": None}
    assert cli.resolve("resnet18").kwargs in ({}, None)


def test_the_measured_preset_among_other_columns(capsys):
    """'--columns module,measured' was an unknown column, and 'peak_MiB', a column of the preset
    (blank off CUDA), was refused by name."""
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--warmup", "0",
                        "--repeat", "1", "--columns", "module,measured")
    assert rc == 0, err
    header = out.splitlines()[2].split()
    assert header[:3] == ["module", "#", "type"] and "time_ms" in header and header.count("module") == 1
    rc, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--warmup", "0",
                        "--repeat", "1", "--columns", "module,peak_MiB")
    assert rc == 0, err
    assert out.splitlines()[2].split() == ["module", "peak_MiB"]


def test_same_command_same_count(capsys):
    """Integer inputs were unseeded 0/1 draws: a BERT-style mask took another path when it came
    out all ones, and one run in six printed another total. Inputs are now seeded."""
    from torchcount.cli import make_input

    a = make_input((4, 64), torch.int64, "cpu")
    assert torch.equal(a, make_input((4, 64), torch.int64, "cpu")) and 0 < int(a.sum()) < a.numel()
    assert torch.equal(make_input((3, 5), torch.float32, "cpu"), make_input((3, 5), torch.float32, "cpu"))
    assert make_input((3, 5), torch.float32, "meta").device.type == "meta"


def test_inputs_are_the_ones_input_size_makes(capsys):
    """Each --input was drawn from its own generator seeded 0, so two of one shape were equal, and differed
    from profile(input_size=[…]), which draws its list from one: now the same values both ways."""
    spec = cli.Spec("m", "m", lambda: None)
    given = [(None, (2, 3), torch.float32), (None, (2, 3), torch.float32), (None, (4,), torch.float32)]
    tensors, keywords = cli._inputs_for(spec, given, None, "cpu")
    expected = torchcount.make_inputs([(2, 3), (2, 3), (4,)])
    assert keywords is None and len(tensors) == 3
    assert all(torch.equal(a, b) for a, b in zip(tensors, expected))
    assert not torch.equal(tensors[0], tensors[1])
    # a named input takes its turn in the order given
    named = [(None, (2, 3), torch.float32), ("mask", (2, 3), torch.float32)]
    x, kw = cli._inputs_for(spec, named, None, "cpu")
    assert torch.equal(kw["mask"], torchcount.make_inputs([(2, 3), (2, 3)])[1])


def test_sort_by_a_share_column(capsys):
    """'time%' held text ('59.2%'), which --sort time% took for 'missing'; it is a number now (59.2),
    and a rate left out (None: above the peak, or no FLOPs) sorts last."""
    rows = [(SimpleNamespace(shown_extra=lambda own, v=v: {"time%": v}), False) for v in (1.5, None, 60.0, 20.5)]
    report = SimpleNamespace(layers=[SimpleNamespace(extra={"time%": 1.0})])
    key = cli._sort_value("time%", report, None)
    assert [r.shown_extra(False)["time%"] for r, _ in sorted(rows, key=key)] == [60.0, 20.5, 1.5, None]
    csv_key = cli._csv_sort_key("%peak", ["path", "%peak"])
    assert [r["%peak"] for r in sorted([{"%peak": 2.0}, {"%peak": None}, {"%peak": 10.0}], key=csv_key)] == \
        [10.0, 2.0, None]


def test_meta_fallback_is_not_taken_for_a_dtype_mismatch():
    """Any error text with 'meta' in it sent the count to the CPU, building the whole model there:
    a complex input to a float conv ('MetaComplexFloatType and MetaFloatType should be the same')
    fails on the CPU alike, after allocating every weight."""
    from torchcount.profile import ForwardError, needs_real_values

    mismatch = ForwardError("forward failed in module 'conv' (Conv2d): RuntimeError: Input type "
                            "(MetaComplexFloatType) and weight type (MetaFloatType) should be the same", "conv")
    assert not needs_real_values(mismatch)
    item = ForwardError("forward failed in module '' (Net): RuntimeError: Tensor.item() cannot be called "
                        "on meta tensors", "")
    assert needs_real_values(item)
    # a CPU tensor made in the forward meets meta tensors (SEW-D's masked_fill with torch.tensor(finfo.min)):
    # nothing to mix on the CPU, so the CPU counts it
    for text in ("Expected `value` to be on same device as `a`", "Tensor on device cpu is not on the expected "
                 "device meta!"):
        assert needs_real_values(ForwardError(f"forward failed in module 'attn' (Attention): RuntimeError: {text}",
                                              "attn"))


def test_a_forward_error_under_measure_is_the_cpus_own(capsys):
    """--measure without --device counts on the CPU: a forward that fails there is the user's error as
    PyTorch gives it, with no meta fallback and no word of the meta device (a 2x5 input to Linear(8, 4):
    mat1 2x5 times the 8x4 weight)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x5", "--measure", "--warmup", "0",
                          "--repeat", "1")
    assert code == 1 and out == ""
    assert err == ("torchcount: model error: forward failed in module '(root)' (Linear) with input shapes 2×5: "
                   "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 8x4)\n")


def test_a_float16_input_to_a_float32_model_on_meta_is_noted(capsys):
    """Meta tensors do not check dtypes: resnet18 on a float16 input was counted with exit 0 and no
    word, where the CPU raises."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8:float16")
    assert code == 0 and "the meta device does not check dtypes" in err
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--dtype", "float16")
    assert code == 0 and "does not check dtypes" not in err


def test_conventions_are_case_insensitive(capsys):
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "-c", "MACS", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["convention"]["name"] == "macs"


def test_console_script_imports_a_module_from_the_working_directory(tmp_path):
    """`python -m torchcount mods:net` found ./mods.py; the console script did not (its sys.path
    lacks the working directory), although docs/cli.md calls the two the same command."""
    (tmp_path / "tc_cwd_models.py").write_text("import torch\n\ndef net():\n    return torch.nn.Linear(4, 3)\n")
    r = run("tc_cwd_models:net", "--input", "2x4", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total"]["params"] == 4 * 3 + 3


def test_receptive_field_on_the_command_line(capsys):
    """Spec §3 could only be done in Python. conv 11, stride 4, pad 2: field 11, jump 4, start
    (11 − 1)/2 − 2 = 3; pool 2/2: 11 + 1·4 = 15, jump 8, start 3 + 0.5·4 = 5."""
    rc, out, err = main(capsys, WORKSHEET, "--input", "1x3x227x227", "--depth", "0", "--receptive-field")
    assert rc == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[out.splitlines().index(
        next(l for l in out.splitlines() if "receptive field per layer" in l)):] if line[:1].isdigit()}
    assert rows["0"][-3:] == ["11×11", "4×4", "3×3"] and rows["2"][-3:] == ["15×15", "8×8", "5×5"]
    assert "worksheet_alexnet — receptive field per layer" in out  # the report's name, not 'Sequential'
    rc, out, err = main(capsys, "torch.nn:Linear(4, 4)", "--input", "2x4", "--receptive-field")
    assert rc == 2 and "--receptive-field: " in err and "no convolution or pooling" in err


INSTANCE_FILE = """
import torch
from torch import nn

torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))  # an instance, weights on the CPU

class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        n = int((x > -1e9).sum().item())  # needs real values: fails on the meta device
        return self.fc(x.reshape(-1)[:n].reshape(x.shape))

data_dependent = DataDependent()
pair_model = nn.Linear(5, 6)

def pair():  # a module the file already holds, not built by the call
    return pair_model, torch.zeros(2, 5)
"""


def test_a_module_instance_is_counted_on_meta_as_a_copy(capsys, tmp_path):
    """`file.py:net` naming an nn.Module instance failed ("Tensor on device cpu is not on the expected
    device meta") unless --device cpu was given: the instance kept its CPU weights, the inputs were
    made on meta. So did a callable returning a module it already held."""
    f = tmp_path / "tc_instances.py"
    f.write_text(INSTANCE_FILE)
    # Linear(4, 3) then ReLU then Linear(3, 2) on a 2×4 input: params 4·3 + 3 + 3·2 + 2 = 23;
    # MACs 2·4·3 + 2·3·2 = 36; flops 2·MACs + bias adds 2·3 + 2·2 + ReLU 2·3 = 88
    for extra in ((), ("--device", "cpu"), ("--dtype", "float16"), ("--compare", f"{f}:net")):
        rc, out, err = main(capsys, f"{f}:net", "--input", "2x4", "--format", "json", *extra)
        assert rc == 0, (extra, err)
        d = json.loads(out)
        d = d["a"] if "a" in d else d
        assert (d["total"]["params"], d["total"]["macs"], d["total"]["ops"]) == (23, 36, 2 * 36 + 6 + 4 + 6), extra
    # the package.module:instance form, with a forward that cannot run on meta: the retry on the CPU
    # needs the instance's real weights, still there after the attempt on meta
    sys.path.insert(0, str(tmp_path))
    try:
        rc, out, err = main(capsys, "tc_instances:data_dependent", "--input", "2x4", "--format", "json",
                            "--convention", "macs")
        assert rc == 0, err
        assert "counting on the CPU instead" in err and json.loads(out)["total"]["macs"] == 2 * 4 * 3
        import tc_instances
        # the user's objects are as they were: weights on the CPU, float32, in training mode
        for m in (tc_instances.net, tc_instances.data_dependent, tc_instances.pair_model):
            assert m.training and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in m.parameters())
        before = tc_instances.net[0].weight.clone()
        rc, out, err = main(capsys, "tc_instances:net", "--input", "2x4", "--dtype", "float64", "--device", "cpu")
        assert rc == 0, err
        assert tc_instances.net[0].weight.dtype == torch.float32 and torch.equal(tc_instances.net[0].weight, before)
        # a callable's (module, inputs) pair whose module exists already: Linear(5, 6) on 2×5,
        # params 5·6 + 6 = 36, MACs 2·5·6 = 60
        rc, out, err = main(capsys, "tc_instances:pair", "--format", "json", "--convention", "macs")
        assert rc == 0, err
        assert (json.loads(out)["total"]["params"], json.loads(out)["total"]["macs"]) == (36, 60)
        assert tc_instances.pair_model.weight.device.type == "cpu" and tc_instances.pair_model.training
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tc_instances", None)


def test_a_device_is_recognised_under_any_of_its_names(capsys, monkeypatch):
    """`--device cpu:0` (like `--device cuda` for a model built on cuda:0) names the device the model
    was built on; compared as written ('cpu:0' ≠ 'cpu'), the model was copied there, doubling its
    memory on a GPU."""
    copies = []
    real_copy = cli._module_copy
    monkeypatch.setattr(cli, "_module_copy", lambda *a: copies.append(a) or real_copy(*a))
    for device in ("cpu", "cpu:0"):
        rc, out, err = main(capsys, "torch.nn:Linear(4, 3)", "--input", "2x4", "--device", device, "--format",
                            "json", "--convention", "macs")
        assert rc == 0, err
        assert json.loads(out)["total"]["macs"] == 2 * 4 * 3, device
    assert copies == []
    rc, out, err = main(capsys, "torch.nn:Linear(4, 3)", "--input", "2x4", "--device", "cpu:0", "--measure",
                        "--warmup", "0", "--repeat", "1", "--format", "json")
    assert rc == 0 and json.loads(out)["extra"]["device"] == "cpu", err
    assert copies == []


def test_a_module_a_callable_already_held_is_counted_as_a_copy_on_its_own_device(capsys, tmp_path):
    """A callable returning a module from its file's globals, already on the asked device: it was
    counted in place, so the CLI's `.eval()` (and `--dtype`'s cast) changed the user's module."""
    f = tmp_path / "tc_held.py"
    f.write_text(INSTANCE_FILE)
    sys.path.insert(0, str(tmp_path))
    try:
        import tc_held
        before = tc_held.pair_model.weight.clone()
        for extra in ((), ("--dtype", "float64")):
            rc, out, err = main(capsys, "tc_held:pair", "--device", "cpu", "--format", "json", "--convention",
                                "macs", *extra)
            assert rc == 0, err
            assert (json.loads(out)["total"]["params"], json.loads(out)["total"]["macs"]) == (36, 60)  # Linear(5, 6), 2 rows
            m = tc_held.pair_model
            assert m.training and m.weight.dtype == torch.float32 and torch.equal(m.weight, before), extra
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tc_held", None)


PARTIAL_FILE = textwrap.dedent("""
    import torch
    from torch import nn

    class Bessel(nn.Module):
        def forward(self, x):
            return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # no formula

    def odd():
        return nn.Sequential(nn.Linear(4, 4), Bessel())

    def plain():
        return nn.Sequential(nn.Linear(4, 4), nn.ReLU())
""")


def test_compare_csv_flags_uncounted_work(capsys, tmp_path):
    # layer 1 of B has no formula: its 0 is a lower bound, flagged, not "100 % saved" against A's ReLU
    # (2 rows × 4 = 8 FLOPs: one comparison each)
    f = tmp_path / "tc_partial_cmp.py"
    f.write_text(PARTIAL_FILE)
    rc, out, err = main(capsys, f"{f}:plain", "--input", "2x4", "--compare", f"{f}:odd", "--format", "csv",
                        "--device", "cpu")
    assert rc == 0, err
    rows = {r["module"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["1"]["a"], rows["1"]["b"], rows["1"]["reduction_percent"], rows["1"]["partial"]) == \
        ("8", "0", "", "True")
    assert rows["0"]["partial"] == "False" and rows["total params"]["partial"] == "False"
    assert rows["total ops"]["partial"] == "True"
    assert {r["convention"] for r in rows.values()} == {"flops"}  # whose ops "total ops" counts
    rc, out, _ = main(capsys, f"{f}:plain", "--input", "2x4", "--compare", f"{f}:odd", "--format", "csv",
                      "--device", "cpu", "--convention", "macs")
    assert {r["convention"] for r in csv.DictReader(io.StringIO(out))} == {"macs"}


def test_compare_forward_error_names_the_model_that_failed(capsys):
    # both models get --input 2x4; only B, a Linear(5, 5), cannot take it
    rc, out, err = main(capsys, "torch.nn:Linear(4, 4)", "--input", "2x4", "--compare", "torch.nn:Linear(5, 5)")
    assert rc == 1
    assert err.startswith("torchcount: model error: --compare model B (torch.nn:Linear(5, 5)): forward failed "
                          "in module '(root)' (Linear) with input shapes 2×4"), err
    rc, out, err = main(capsys, "torch.nn:Linear(5, 5)", "--input", "2x4", "--compare", "torch.nn:Linear(4, 4)")
    assert rc == 1 and "model error: model A (torch.nn:Linear(5, 5)): forward failed" in err, err
    rc, out, err = main(capsys, "torch.nn:Linear(5, 5)", "--input", "2x4")  # alone: as before
    assert rc == 1 and "model error: forward failed in module '(root)'" in err, err


def test_compare_receptive_field_shows_both_models(capsys):
    # A: one 3×3 conv, field 3; B: one 5×5 conv, field 5. B's table used to replace A's
    rc, out, err = main(capsys, "torch.nn:Conv2d(3, 4, 3)", "--input", "1x3x8x8", "--compare",
                        "torch.nn:Conv2d(3, 4, 5)", "--receptive-field")
    assert rc == 0, err
    a = out.index("A = torch.nn:Conv2d(3, 4, 3): Conv2d — receptive field")
    b = out.index("B = torch.nn:Conv2d(3, 4, 5): Conv2d — receptive field")
    assert a < b
    assert re.search(r"\(root\)\s+Conv2d\s+3×3\s+1×1\s+1×1\s+0×0\s+3×3\s+1×1\s+1×1", out[a:b])
    assert re.search(r"\(root\)\s+Conv2d\s+5×5\s+1×1\s+1×1\s+0×0\s+5×5\s+1×1\s+2×2", out[b:])


def test_compare_explains_the_layer_in_each_model_that_has_it(capsys, tmp_path):
    # A: a 3×3 conv, B: a 5×5 conv, both 3 → 4 channels on 1×3×8×8; A's was explained alone before
    rc, out, err = main(capsys, "torch.nn:Conv2d(3, 4, 3)", "--input", "1x3x8x8", "--compare",
                        "torch.nn:Conv2d(3, 4, 5)", "--explain", "", "--convention", "macs")
    assert rc == 0, err
    a = out.index("A = torch.nn:Conv2d(3, 4, 3): (root)")
    b = out.index("B = torch.nn:Conv2d(3, 4, 5): (root)")
    assert a < b
    assert f"= {4 * 3 * 3 * 3 * 6 * 6:,}" in out[a:b]  # k·c·3·3·6·6 = 3,888 MACs
    assert f"= {4 * 3 * 5 * 5 * 4 * 4:,}" in out[b:]  # k·c·5·5·4·4 = 4,800 MACs
    rc, out, err = main(capsys, "torch.nn:Conv2d(3, 4, 3)", "--input", "1x3x8x8", "--compare",
                        "torch.nn:Conv2d(3, 4, 5)", "--explain", "nope")
    assert rc == 2 and "nope" in err
    rc, out, err = main(capsys, "torch.nn:Conv2d(3, 4, 3)", "--input", "1x3x8x8", "--compare",
                        "torch.nn:Conv2d(3, 4, 5)", "--plot", str(tmp_path / "p.png"))
    assert rc == 2 and "--plot draws one model's layers" in err  # it drew A alone, silently


# ---- saved programs: torch.export (.pt2) and TorchScript files ------------------------------------
class _Tagger(nn.Module):
    """A convolution of an image and an embedding of token ids (a keyword input), joined by a Linear. On
    a batch of N: conv N·8·6·6·3·3·3 = 7,776·N MACs, head N·8·4 = 32·N; params 224 + 80 + 36 = 340."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.emb = nn.Embedding(10, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, x, ids=None):
        return self.head(self.conv(x).mean((2, 3)) + self.emb(ids).mean(1))


def _tagger_inputs(n):
    return torch.randn(n, 3, 8, 8), torch.randint(0, 10, (n, 5))


def _save_program(path, example_inputs=True):
    """_Tagger exported for a batch of 2 with the batch dim dynamic (up to 15) and saved; its eager model."""
    torch.manual_seed(0)
    model = _Tagger().eval()
    x, ids = _tagger_inputs(2)
    batch = torch.export.Dim("batch", max=15)  # (torch 2.2's export finds the guard batch < 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's own deprecation warnings)
        program = torch.export.export(model, (x,), {"ids": ids}, dynamic_shapes={"x": {0: batch}, "ids": {0: batch}})
        if not example_inputs and getattr(program, "example_inputs", None) is not None:
            program._example_inputs = None  # (as a torch that keeps none saves it)
        torch.export.save(program, str(path))
    return model


def _csv_rows(out):
    return {r["path"]: r for r in csv.DictReader(io.StringIO(out))}


@pytest.mark.parametrize("example_inputs", [True, False], ids=["example-inputs", "placeholders"])
def test_a_saved_torch_export_program_is_counted_with_its_own_inputs(capsys, tmp_path, example_inputs):
    """``torchcount model.pt2``: torch.export.load, the program's module profiled with the inputs it was
    exported with (its example inputs where torch keeps them, else made from its input placeholders:
    the same shapes), a keyword input among them; a note says which and that the batch dim is dynamic.
    The totals are the eager model's (closed forms above), on every torch (2.2's ep.module() takes the
    keyword input positionally)."""
    path = tmp_path / "tagger.pt2"
    _save_program(path, example_inputs)
    rc, out, err = main(capsys, path, "--format", "json", "--convention", "macs")
    assert rc == 0, err
    total = json.loads(out)["total"]
    assert (total["macs"], total["params"]) == (2 * (7_776 + 32), 340)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = getattr(torch.export.load(str(path)), "example_inputs", None) is not None  # (not in torch 2.2)
    assert kept <= example_inputs
    source = "its example inputs" if kept else "its input placeholders' shapes and dtypes (random values)"
    assert f"note: tagger.pt2: no --input, so {source}" in err
    assert "--input 2x3x8x8 --input ids=2x5:int64; input 1 dim 0, ids dim 0 are dynamic in the program" in err
    assert err.count("\n") == 1  # (one note, also where meta fell back to the CPU: none here)
    # --input overrides them: a batch of 5 within the dynamic range
    rc, out, err = main(capsys, path, "--input", "5x3x8x8", "--input", "ids=5x5:int64", "--format", "json",
                        "--convention", "macs")
    assert rc == 0 and err == "", err
    assert json.loads(out)["total"]["macs"] == 5 * (7_776 + 32)


def test_a_saved_programs_input_structure_is_read_without_deprecated_pytree_fields(capsys, tmp_path):
    """Checking --input against a saved program reads its input spec's children. Torch 2.11 deprecates
    the ``children_specs`` field (a FutureWarning; a later torch may drop it): the command reads them
    with ``children()`` where torch has it. --debug relays every warning raised during the run to stderr,
    so none may name the field; the count is the one closed form above (a batch of 3: 3·(7,776 + 32))."""
    path = tmp_path / "tagger.pt2"
    _save_program(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's own warnings on loading, outside the command's relay)
        rc, out, err = main(capsys, path, "--input", "3x3x8x8", "--input", "ids=3x5:int64", "--format", "json",
                            "--convention", "macs", "--debug")
    assert rc == 0, err
    assert json.loads(out)["total"]["macs"] == 3 * (7_776 + 32)
    assert "children_specs" not in err, err


@needs("torch.export naming each node's module by its path")
def test_a_saved_torch_export_program_has_the_eager_models_rows(capsys, tmp_path):
    """Per original layer, as the Python API counts ep.module(): each eager row's type, parameters and
    MACs at the same path, on the meta device (the default) and on the CPU; the inferred input shapes in
    the input column."""
    model = _save_program(tmp_path / "tagger.pt2")
    torch.manual_seed(0)
    x, ids = _tagger_inputs(2)
    eager = torchcount.profile(model, x, kwargs={"ids": ids})
    for device in ("meta", "cpu"):
        rc, out, err = main(capsys, tmp_path / "tagger.pt2", "--format", "csv", "--device", device)
        assert rc == 0, err
        rows = _csv_rows(out)
        for layer in eager.layers:
            if layer.path:
                row = rows[layer.path]
                assert (row["type"], int(row["params"]), int(row["macs"])) == \
                    (layer.type, layer.params, layer.cost.macs), (device, layer.path)
        assert (rows["conv"]["input_shapes"], rows["emb"]["input_shapes"]) == ("2x3x8x8", "2x5")
        assert int(rows["conv"]["macs"]) == 2 * 7_776


def test_inputs_a_saved_program_was_not_exported_for_are_a_usage_error(capsys, tmp_path):
    """Checked against the program before any forward (exit 2), naming the --input it takes: a missing
    keyword input, an extra positional input, a static dim of another size, a batch beyond the dynamic dim's
    range, a float for ids, integers for the image."""
    path = tmp_path / "tagger.pt2"
    _save_program(path)
    for given, message in [
        (["--input", "2x3x8x8"], "tagger.pt2 was exported for --input 2x3x8x8 --input ids=2x5:int64; "
                                 "--input gave 1 positional input(s)"),
        # one positional input too many, the keyword input right: the count is what is wrong
        (["--input", "2x3x8x8", "--input", "2x3x8x8", "--input", "ids=2x5:int64"],
         "tagger.pt2 was exported for --input 2x3x8x8 --input ids=2x5:int64; --input gave 2 positional input(s) and ids"),
        (["--input", "2x3x8x9", "--input", "ids=2x5:int64"], "×3×8×8 float32: dim 3 of size 8, not 9"),
        (["--input", "2x3x9x9", "--input", "ids=2x5:int64"], "×3×8×8 float32: dim 2 of size 8, not 9"),  # (the first)
        (["--input", "16x3x8x8", "--input", "ids=16x5:int64"], "to 15, not 16"),
        (["--input", "2x3x8x8", "--input", "ids=2x5"], "×5 int64: dtype int64, not float32"),
        (["--input", "2x3x8x8:int64", "--input", "ids=2x5:int64"], "×8 float32: dtype float32, not int64"),
    ]:
        rc, out, err = main(capsys, path, *given)
        assert rc == 2 and out == "" and err.count("\n") == 1, err
        assert message in err, err


class _ScaledTagger(_Tagger):
    """_Tagger with a float keyword input: torch.export fixes it in the graph (a guard: scale == 2.0)."""

    def forward(self, x, ids=None, scale: float = 1.0):
        return super().forward(x, ids) * scale


def test_a_saved_programs_non_tensor_input_keeps_its_exported_value_under_input(capsys, tmp_path):
    """A program exported with a float keyword input (scale=2.0, which its graph fixes): --input gives the
    tensors, at another batch, and scale keeps the value it was exported with (the MACs of a batch of 5:
    5·(7,776 + 32)); the note says so. --input cannot give scale itself (a tensor where the program takes a
    float): a usage error naming it, before any forward (it failed in the program's guard, exit 1)."""
    path = tmp_path / "scaled.pt2"
    torch.manual_seed(0)
    x, ids = _tagger_inputs(2)
    batch = torch.export.Dim("batch", max=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(_ScaledTagger().eval(), (x,), {"ids": ids, "scale": 2.0},
                                      dynamic_shapes={"x": {0: batch}, "ids": {0: batch}, "scale": None})
        torch.export.save(program, str(path))
        try:
            torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001  (torch 2.2: 'NoneType' object has no attribute 'name')
            pytest.skip(f"torch {torch.__version__} cannot load the program it saved with a float input: {exc}")
    rc, out, err = main(capsys, path, "--format", "json", "--convention", "macs")
    assert rc == 0, err
    assert json.loads(out)["total"]["macs"] == 2 * (7_776 + 32)
    assert "--input 2x3x8x8 --input ids=2x5:int64 (scale=float 2.0, not a tensor: kept as exported)" in err
    rc, out, err = main(capsys, path, "--input", "5x3x8x8", "--input", "ids=5x5:int64", "--format", "json",
                        "--convention", "macs")
    assert rc == 0 and err == "", err
    assert json.loads(out)["total"]["macs"] == 5 * (7_776 + 32)
    rc, out, err = main(capsys, path, "--input", "5x3x8x8", "--input", "ids=5x5:int64", "--input", "scale=1")
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert ("--input: scaled.pt2 was exported with scale=float 2.0, not a tensor: --input cannot give it "
            "(leave it out: it keeps that value)") in err


class _Scriptable(nn.Module):
    """Linear(4, 8), ReLU, Linear(8, 3) on a batch of 2: MACs 2·4·8 + 2·8·3 = 112, params 40 + 27 = 67."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.mark.parametrize("frozen", [False, True], ids=["scripted", "frozen"])
def test_a_saved_torchscript_module_is_counted_from_its_ops(capsys, tmp_path, frozen):
    """``torchcount model.pt``: torch.jit.load, one row (a ScriptModule takes no hooks), the totals of the
    eager model (also a frozen one, whose weights are constants of its graph: frozen parameters). A frozen
    module does not load on the meta device (the default): counted on the CPU with a note; with an
    explicit --device meta it is a model error."""
    model = _Scriptable().eval()
    scripted = torch.jit.script(model)
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.freeze(scripted) if frozen else scripted, str(path))
    eager = torchcount.profile(model, torch.randn(2, 4))
    rc, out, err = main(capsys, path, "--input", "x=2x4", "--format", "json")  # (its argument, by name)
    assert rc == 0, err
    doc = json.loads(out)
    assert (doc["total"]["macs"], doc["total"]["params"]) == (eager.total.cost.macs, eager.total.params) == (112, 67)
    assert doc["total"]["frozen_params" if frozen else "trainable_params"] == 67
    assert [row["path"] for row in doc["layers"]] == [""]
    if frozen:
        assert "note: model.pt cannot be loaded on the meta device" in err and "counting on the CPU instead" in err
        rc, out, err = main(capsys, path, "--input", "2x4", "--device", "meta")
        assert rc == 1 and "model error: model.pt cannot be loaded on the meta device" in err
        assert "--device cpu counts it on the CPU" in err
    else:
        assert err == ""
    rc, out, err = main(capsys, path)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert ("model.pt is a TorchScript module, which keeps no input shapes: give them with --input "
            "(its forward takes x: Tensor)") in err
    rc, out, err = main(capsys, path, "--input", "y=2x4")
    assert rc == 2 and "model.pt's forward takes no keyword argument 'y' (it takes x)" in err
    rc, out, err = main(capsys, path, "--input", "2x4", "--input", "2x4")  # (it was exit 1, from the forward)
    assert rc == 2 and "--input: model.pt's forward takes 1 input(s) (x: Tensor), not 2" in err, err
    # a failing forward says what went wrong (the last line of TorchScript's traceback, its message lost
    # under the op recorder: the failing op's), then where, not the start of the traceback
    rc, out, err = main(capsys, path, "--input", "2x5")
    assert rc == 1 and out == "" and err.count("model error") == 1, err
    assert "(RecursiveScriptModule) with input shapes 2×5: RuntimeError: mat1 and mat2 shapes cannot be " \
           "multiplied (2x5 and 4x8) (in TorchScript, at " in err, err


@dataclasses.dataclass
class _TaggerOutput:
    """An output class a library registers with torch's pytree when its module is imported (as
    transformers.modeling_outputs does its ModelOutputs)."""
    logits: torch.Tensor


class _TaggerWithOutput(_Tagger):
    def forward(self, x, ids=None):
        return _TaggerOutput(super().forward(x, ids))


@needs("torch.utils._pytree._deregister_pytree_node")
def test_a_program_whose_output_class_is_not_registered_says_which_and_what_to_do(capsys, tmp_path):
    """torch.export.load cannot rebuild an output class no imported module registered with pytree (a
    Hugging Face model's, in a process that has not imported transformers.modeling_outputs). torch logs
    why and raises "Please check the warnings above", which the command holds back: the usage error
    says torch's reason (the class) and the module a file.py:callable should import."""
    from torch.utils import _pytree

    path = tmp_path / "tagger.pt2"
    _pytree.register_pytree_node(_TaggerOutput, lambda o: ([o.logits], None), lambda v, _: _TaggerOutput(*v),
                                 serialized_type_name=f"{__name__}._TaggerOutput")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, ids = _tagger_inputs(2)
            torch.export.save(torch.export.export(_TaggerWithOutput().eval(), (x,), {"ids": ids}), str(path))
    finally:
        _pytree._deregister_pytree_node(_TaggerOutput)
    # torch's own logger prints to the terminal's stderr (a handler made when torch was imported, which
    # capsys does not see): the lines torch.export logs must not reach it, only the one-line error
    shown = []
    recorder = logging.Handler()
    recorder.emit = shown.append
    logging.getLogger("torch").addHandler(recorder)
    try:
        rc, out, err = main(capsys, path)
    finally:
        logging.getLogger("torch").removeHandler(recorder)
    assert shown == []
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot load {path} as a torch.export program: " in err and "check the warnings above" not in err
    assert f"Deserializing {__name__}._TaggerOutput in pytree is not registered" in err, err
    assert f"give a file.py:callable that imports {__name__} and returns the loaded program's module" in err


def _rewritten(source, target, replace):
    """A copy of the zip archive ``source`` with the entries ``replace`` names given new bytes."""
    import zipfile

    replaced = []
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = replace(name)
            replaced += [name] if data is not None else []
            new.writestr(name, data if data is not None else old.read(name))
    return replaced


class _OpensAFile:
    """Unpickling it calls open(path, "w"): a stand-in for code a pickle can run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_files_that_hold_no_program_are_a_usage_error_saying_what_they_are(capsys, tmp_path):
    """A state_dict, a model pickled whole, a corrupt, an empty and a missing file: exit 2, one line that
    says what the file is and what the command reads; nothing is unpickled. A .pt2 whose stored inputs are
    a pickle that runs code (here: creates a file) is refused by torch's weights-only unpickler, which
    the command forces on inside torch.export.load: the file is not created."""
    model = _Tagger()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    torch.save(model, tmp_path / "whole.pth")
    (tmp_path / "corrupt.pt2").write_bytes(b"not a zip archive")
    (tmp_path / "empty.pt").write_bytes(b"")
    accepted = "torchcount reads a program saved with torch.export.save (.pt2) or torch.jit.save (TorchScript)"
    for name, message in [
        ("weights.pt", "weights.pt is a state_dict or checkpoint saved with torch.save (tensors by name, "
                       "without the model's code)"),
        ("whole.pth", "whole.pth is a model pickled whole with torch.save(model) (of test_cli._Tagger"),
        ("corrupt.pt2", "corrupt.pt2 is not a zip archive, so not a file torch.export.save or torch.jit.save "
                        f"writes (truncated or corrupt?); {accepted}"),
        ("empty.pt", f"empty.pt is an empty file; {accepted}"),
        ("missing.pt2", f"no such file: {tmp_path / 'missing.pt2'} ({accepted}"),
    ]:
        rc, out, err = main(capsys, tmp_path / name)
        assert rc == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
        assert message in err, err
    _save_program(tmp_path / "tagger.pt2")
    marker = tmp_path / "unpickled"
    stored = re.compile(r"(sample_inputs/[^/]+\.pt|serialized_(state_dict|example_inputs)\.(pt|json))$")
    payload = io.BytesIO()
    torch.save(((_OpensAFile(str(marker)),), {}), payload)
    replaced = _rewritten(tmp_path / "tagger.pt2", tmp_path / "evil.pt2",
                          lambda name: payload.getvalue() if stored.search(name) else None)
    assert replaced
    rc, out, err = main(capsys, tmp_path / "evil.pt2")
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert "cannot load" in err and "which torchcount does not unpickle" in err, err
    assert not marker.exists()
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ  # (put back as it was)


def test_help_names_the_saved_program_forms(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "model.pt2" in text and "torch.export.save" in text and "torch.jit.save" in text


def test_compare_json_holds_the_lines_of_the_csv(capsys):
    """The comparison's JSON held the two reports and the total's reduction only: the per-layer
    lines the table and the CSV show (matched by path at --depth, with their partial flags) were lost."""
    args = ("torch.nn:Linear(16, 16, bias=False)", "--input", "1x16", "--compare",
            "torch.nn:Linear(16, 4, bias=False)", "--convention", "macs")
    rc, out, err = main(capsys, *args, "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    rc, out, err = main(capsys, *args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    lines = d["totals"] + d["layers"]
    assert [(r["module"], r["a"], r["b"]) for r in rows] == [(l["module"], str(l["a"]), str(l["b"])) for l in lines]
    # 16·16 against 16·4 MACs: 75 % saved, in the total and in the model's one line
    macs = next(l for l in d["totals"] if l["module"] == "total MACs")
    assert (macs["a"], macs["b"], macs["reduction_percent"]) == (256, 64, pytest.approx(75.0))
    assert [(l["module"], l["a"], l["b"], l["partial"]) for l in d["layers"]] == [("(root)", 256, 64, False)]


def test_plot_draws_the_rows_a_sort_by_params_chose(capsys, tmp_path, monkeypatch):
    """--sort params --top 3 --plot drew the top 3 layers by FLOPs (plot_layers' top=), not the
    rows of the table: Conv1d(8, 8, 3) 200 params, Conv1d(2, 8, 3) 56, Linear(8, 2) 18, where by
    FLOPs the ReLU (256 comparisons) is third."""
    pytest.importorskip("matplotlib")
    from torchcount.analysis import plots

    f = tmp_path / "tc_plot_rows.py"
    f.write_text("from torch import nn\n"
                 "def cnn():\n"
                 "    return nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1),\n"
                 "                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))\n")
    drawn = []
    real = plots.plot_layers

    def spy(*args, **kwargs):
        fig = real(*args, **kwargs)
        ticks = sorted(zip(fig.axes[0].get_yticks(), [t.get_text() for t in fig.axes[0].get_yticklabels()]))
        drawn.append([label for _, label in reversed(ticks)])
        return fig

    monkeypatch.setattr(plots, "plot_layers", spy)
    rc, out, err = main(capsys, f"{f}:cnn", "--input", "1x2x32", "--sort", "params", "--top", "3",
                        "--columns", "module,params", "--plot", tmp_path / "p.png")
    assert rc == 0, err
    table = [line.split()[0] for line in out.splitlines()[4:7]]
    assert table == ["2", "0", "5"] and drawn == [table]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_units_with_csv_or_json_is_a_usage_error(capsys, fmt):
    """--units rounds the table's figures (1.23 G); CSV and JSON hold exact integers, so asking for
    both was silently half ignored: a usage error, as --columns with them is."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--format", fmt, "--units")
    assert code == 2 and out == "" and "--units applies to table and markdown" in err


# ---- a saved report as MODEL ----------------------------------------------------------------------
def test_a_saved_report_is_shown_and_compared_without_running_anything(capsys, tmp_path):
    """MODEL (or --compare) a .json file saved with --format json: its table is the one the profile printed,
    and --compare puts a new model beside it. By hand: Linear(8, 16) → Linear(8, 4) on 2×8 saves
    (16 − 4)·8·2 = 192 MACs."""
    saved = tmp_path / "baseline.json"
    assert main(capsys, "torch.nn:Linear(8, 16)", "--input", "2x8", "--format", "json", "--output", saved)[0] == 0
    code, direct, _ = main(capsys, "torch.nn:Linear(8, 16)", "--input", "2x8", "--convention", "macs")
    code_saved, shown, _ = main(capsys, saved, "--convention", "macs")
    assert code == code_saved == 0 and shown == direct
    code, out, _ = main(capsys, saved, "--compare", "torch.nn:Linear(8, 4)", "--input", "2x8", "--convention", "macs")
    assert code == 0
    macs = next(line for line in out.splitlines() if line.startswith("MACs"))
    assert re.findall(r"\b\d[\d,]*\b", macs)[:3] == ["256", "64", "192"]  # A, B, A − B


@pytest.mark.parametrize("options, message", [
    (["--input", "2x8"], "--input: .* is a saved report"),
    (["--measure"], "--measure: .* is a saved report"),
    (["--receptive-field"], "--receptive-field: .* is a saved report"),
])
def test_running_options_with_a_saved_report_alone_are_usage_errors(capsys, tmp_path, options, message):
    saved = tmp_path / "r.json"
    main(capsys, "torch.nn:Linear(8, 16)", "--input", "2x8", "--format", "json", "--output", saved)
    code, _, err = main(capsys, saved, *options)
    assert code == 2 and re.search(message, err)


@pytest.mark.parametrize("options", [["--columns", "measured"], ["--columns", "module,time_ms"], ["--sort", "time_ms"]])
def test_measured_columns_of_a_saved_report_without_them_say_how_to_get_them(capsys, tmp_path, options):
    """A report saved without --measure has no measured column; the error said only "needs --measure",
    which a saved report refuses (read, not run): it names the other way, a report saved from a --measure run."""
    saved = tmp_path / "r.json"
    main(capsys, "torch.nn:Linear(8, 16)", "--input", "2x8", "--format", "json", "--output", saved)
    code, _, err = main(capsys, saved, *options)
    assert code == 2 and "needs --measure, or a report saved from a --measure run" in err, err


class _Eigenvalues(nn.Module):
    """A Linear, then eigvalsh of a product: an op with no formula."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        return torch.linalg.eigvalsh(y @ y.T)


def test_a_saved_partial_report_says_what_it_leaves_out(capsys, tmp_path):
    """The run that saved a partial report warned "no formula for …" on stderr; showing the saved report
    said nothing but its header: the same note now, naming when, and --strict fails on it as on the run."""
    with pytest.warns(torchcount.UncountedWarning) as caught:
        report = torchcount.profile(_Eigenvalues(), torch.randn(4, 4))
    live = str(caught[0].message)
    assert "aten._linalg_eigh.default" in live
    saved = tmp_path / "partial.json"
    saved.write_text(report.to_json())
    code, out, err = main(capsys, saved)
    assert code == 0 and "†" in out
    coverage = f"coverage {report.coverage:.1%}"
    assert f"note: {live.removeprefix('torchcount: ').replace(coverage, coverage + ' when it was saved')}" in err
    code, _, err = main(capsys, saved, "--strict")
    assert code == 1 and "--strict" in err


def test_a_json_file_that_is_no_report_is_a_usage_error(capsys, tmp_path):
    (tmp_path / "other.json").write_text('{"a": 1}')
    code, _, err = main(capsys, tmp_path / "other.json")
    assert code == 2 and "not a torchcount report" in err
    code, _, err = main(capsys, tmp_path / "none.json")
    assert code == 2 and "no such file" in err
    (tmp_path / "list.json").write_text("[]")  # (said "load_report takes a path, JSON text or a dict, got PosixPath")
    code, _, err = main(capsys, tmp_path / "list.json")
    assert code == 2 and "the JSON is an array, not an object" in err
    (tmp_path / "folder.json").mkdir()  # (said "no such file")
    code, _, err = main(capsys, tmp_path / "folder.json")
    assert code == 2 and "folder.json is a folder, not a file" in err


def test_the_receptive_field_beside_a_saved_report_is_the_run_models(capsys, tmp_path):
    """--receptive-field with a saved report on one side and a model on the other follows the model (it was a
    usage error, though the other running options apply to the model): B's table, labelled with its side.
    By hand: one 5×5 convolution of stride 2 sees 5×5 inputs, its outputs 2 apart, the first centred at 2."""
    saved = tmp_path / "a.json"
    main(capsys, "torch.nn:Conv2d(1, 2, 3)", "--input", "1x1x8x8", "--format", "json", "--output", saved)
    b = "torch.nn:Conv2d(1, 2, 5, stride=2)"
    code, out, err = main(capsys, saved, "--compare", b, "--input", "1x1x8x8", "--receptive-field")
    assert code == 0, err
    assert f"B = {b}: Conv2d — receptive field per layer" in out and out.count("receptive field per layer") == 1
    assert re.search(r"^\(root\) +Conv2d +5×5 +2×2 +1×1 +0×0 +5×5 +2×2 +2×2", out, re.M), out


def test_a_saved_measured_report_shows_its_measured_columns(capsys, tmp_path):
    """A report saved from a --measure run is shown as that run showed it, with the measured columns, and takes
    --columns measured (it said "--columns measured needs --measure" and showed the default columns)."""
    saved = tmp_path / "m.json"
    code, _, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--device", "cpu", "--measure", "--warmup",
                        "0", "--repeat", "1", "--format", "json", "--output", saved)
    assert code == 0, err
    measured_head = ["#", "module", "type", "FLOPs [flops]", "share", "time_ms", "time%", "GFLOP/s", "%peak", "AI",
                     "bound", "peak_MiB"]
    # (by default without the columns no row fills on a CPU with unknown peaks: %peak, bound, peak_MiB)
    for options, shown in (([], [c for c in measured_head if c not in ("%peak", "bound", "peak_MiB")]),
                           (["--columns", "measured"], measured_head)):
        code, out, err = main(capsys, saved, *options)
        assert code == 0, err
        head = out.splitlines()[2]
        assert re.split(r"\s{2,}", head.strip()) == shown, head
    code, out, err = main(capsys, saved, "--columns", "module,time_ms")
    assert code == 0 and "time_ms" in out.splitlines()[2], err


def test_a_tables_output_file_holds_its_explanations_too(capsys, tmp_path):
    """--output FILE with the table: the file holds what the command would have printed, the
    explanation of Linear(8, 4) on a 2×8 batch included (2×4×8 = 64 MACs); they went to stdout
    beside the 'wrote' line. With CSV the file stays CSV, and the explanation goes to stdout."""
    out = tmp_path / "report.txt"
    assert main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--explain", "", "--output", out)[0] == 0
    text = out.read_text()
    assert "multiply-accumulates" in text and "= 64" in text and text.index("total") < text.index("source: rule")
    assert "source: rule" not in capsys.readouterr()[0]
    csv_file = tmp_path / "report.csv"
    code, stdout, _ = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--explain", "", "--format", "csv",
                           "--output", csv_file)
    assert code == 0 and "source: rule" in stdout and "source: rule" not in csv_file.read_text()
    assert list(csv.DictReader(io.StringIO(csv_file.read_text())))[0]["macs"] == "64"


def test_a_keyword_the_forward_cannot_take_in_method_forward_is_a_usage_error(capsys):
    """--method 'forward(k=v)' (the default method, named, with keywords): its keywords went to the forward
    unchecked, so a keyword the forward has no parameter for, or one an --input fills, exited 1 as if the
    model had failed (after building it). As for any other --method: exit 2, before any forward; a keyword
    the forward takes is counted as before (LSTM's hx=None: 4×3×(4 + 3) = 84 MACs per step, 2 steps)."""
    for keywords, says in (("y=1", "Linear.forward() takes no keyword argument 'y'"),
                           ("input=1", "Linear.forward() is given 'input' twice")):
        code, out, err = main(capsys, "torch.nn:Linear(4, 3)", "--input", "2x4", "--method", f"forward({keywords})")
        assert code == 2 and out == "", err
        assert f"error: --method: method='forward': {says}" in err
    code, out, err = main(capsys, "torch.nn:LSTM(4, 3)", "--input", "2x4", "--method", "forward(hx=None)",
                          "--format", "csv")
    assert code == 0, err
    assert list(csv.DictReader(io.StringIO(out)))[0]["macs"] == str(2 * 4 * 3 * (4 + 3))


def test_roofline_of_a_saved_unmeasured_report_is_a_usage_error_before_any_output(capsys, tmp_path):
    """--roofline with a saved report of a run without --measure: the whole table was printed (or --output
    written) and then the usage error came, exit 2 after the output. Now the error comes first, as for a
    model run without --measure: nothing on stdout, no file written."""
    saved = tmp_path / "plain.json"
    assert main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--format", "json", "--output", saved)[0] == 0
    table = tmp_path / "table.txt"
    code, out, err = main(capsys, saved, "--roofline", tmp_path / "r.png", "--output", table)
    assert code == 2 and out == "" and not table.exists() and not (tmp_path / "r.png").exists()
    assert f"--roofline needs measured layers; the saved report {saved} was not measured" in err


def test_more_positional_inputs_than_the_forward_takes_is_a_usage_error(capsys):
    """Two --input for Linear's one-input forward ran the forward, whose TypeError exited 1 as a model error
    ("forward failed in module '(root)'"); a TorchScript forward's count was checked already (exit 2). Now
    the eager forward's too, before any forward; a forward that takes two (Bilinear) is counted as before,
    as the Python API counts it."""
    code, out, err = main(capsys, "torch.nn:Linear(2, 3)", "--input", "1x2", "--input", "1x2")
    assert code == 2 and out == ""
    assert "error: --input: Linear.forward() takes 1 positional input(s) (input), not 2" in err
    code, out, err = main(capsys, "torch.nn:Bilinear(2, 2, 3)", "--input", "1x2", "--input", "1x2", "--format", "csv")
    assert code == 0, err
    api = torchcount.profile(nn.Bilinear(2, 2, 3).eval(), input_size=[(1, 2), (1, 2)])
    assert int(list(csv.DictReader(io.StringIO(out)))[0]["macs"]) == api.total.macs > 0


def test_an_empty_sort_is_a_usage_error_in_every_format(capsys):
    """--sort '' sorted the table by ops (the tree flattened, a '(root) (self)' row added) and left the CSV in
    tree order, silently, where --by-type refused it: a usage error now, in every format, as --columns ''."""
    for options in ([], ["--format", "csv"], ["--format", "markdown"], ["--top", "1"], ["--by-type"]):
        code, out, err = main(capsys, "torch.nn:Linear(2, 3)", "--input", "1x2", "--sort", "", *options)
        assert code == 2 and out == "", (options, out)
        assert "error:" in err and "sort" in err, (options, err)


def test_sorting_by_share_says_what_share_is_not_that_it_needs_measure(capsys, tmp_path):
    """--sort share (a column of every table) said "no row of this report has it (it needs --measure, or a
    report saved from a --measure run)", also for a measured report, where it failed the same: share is each
    row's ops over the total, so the error now says --sort ops gives its order."""
    saved = tmp_path / "m.json"
    assert main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--device", "cpu", "--measure", "--warmup", "0",
                "--repeat", "1", "--format", "json", "--output", saved)[0] == 0
    for model in ("torch.nn:Linear(8, 4)", saved):
        code, out, err = main(capsys, model, *(["--input", "2x8"] if model != saved else []), "--sort", "share")
        assert code == 2 and out == "" and "--measure" not in err, err
        assert "cannot sort by 'share': it is each row's share of the total ops, so --sort ops gives its order" in err


# ---- model loading: the forms MODEL takes, and what a file is --------------------------------------
def test_a_py_file_named_without_a_folder_is_run_as_a_file(capsys, tmp_path, monkeypatch):
    """``net.py:net`` in the working directory names a file by its suffix alone (no folder in it): run as
    a file, not imported as the module 'net.py' (which does not exist). Linear(4, 3) on 2×4: params
    4·3 + 3 = 15, MACs 2·4·3 = 24."""
    (tmp_path / "tc_bare_file.py").write_text("import torch\n\ndef net():\n    return torch.nn.Linear(4, 3)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = main(capsys, "tc_bare_file.py:net", "--input", "2x4", "--format", "json", "--convention", "macs")
    assert code == 0, err
    assert (json.loads(out)["total"]["params"], json.loads(out)["total"]["macs"]) == (15, 24)


def test_a_legacy_torch_save_file_is_said_to_be_a_pickle(capsys, tmp_path):
    """torch.save's legacy format (and pickle.dump) is a bare pickle, not a zip archive: its first byte is
    pickle's PROTO opcode, 0x80, so the usage error says it is a pickle, not that it is corrupt."""
    torch.save({"w": torch.zeros(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert (tmp_path / "legacy.pt").read_bytes()[:1] == b"\x80"
    code, out, err = main(capsys, tmp_path / "legacy.pt")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "legacy.pt is a pickle (torch.save's legacy format or pickle.dump" in err and "corrupt" not in err


def test_the_classes_a_protocol_4_pickle_names_are_read_through_its_memo():
    """Protocol 4 names a class by two strings and STACK_GLOBAL, memoizing each string (MEMOIZE): the
    second class of a module reads the module's name back from the memo (BINGET 1), so reading the memo
    wrong loses collections.Counter here; the third object, a class already named, is read from the memo
    too and listed once. Protocol 2 names each with GLOBAL."""
    import collections
    import pickle

    objects = [collections.OrderedDict(), collections.Counter(), collections.OrderedDict()]
    for protocol in (2, 4):
        assert cli._pickled_globals(pickle.dumps(objects, protocol=protocol)) == \
            ["collections.OrderedDict", "collections.Counter"], protocol


class _OffsetTagger(_Tagger):
    """_Tagger with a second positional input that is a float: torch.export fixes it in the graph."""

    def forward(self, x, offset: float, ids=None):
        return super().forward(x, ids) + offset


def test_a_saved_programs_positional_non_tensor_input_is_kept_between_the_given_ones(capsys, tmp_path):
    """A program exported with a float as its second positional input (offset=1.0): --input gives the two
    tensors, x positional at a batch of 3 and ids by name, and offset keeps its exported value in its place
    (input 2), so the call has the program's 2 positional inputs: 3·(7,776 + 32) MACs. Giving it as well is
    a usage error naming it."""
    path = tmp_path / "offset.pt2"
    torch.manual_seed(0)
    x, ids = _tagger_inputs(2)
    batch = torch.export.Dim("batch", max=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(_OffsetTagger().eval(), (x, 1.0), {"ids": ids},
                                      dynamic_shapes={"x": {0: batch}, "offset": None, "ids": {0: batch}})
        torch.export.save(program, str(path))
        try:
            torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001  (torch 2.2: 'NoneType' object has no attribute 'name')
            assert not TESTED_TORCH, exc
            pytest.skip(f"torch {torch.__version__} cannot load the program it saved with a float input: {exc}")
    rc, out, err = main(capsys, path, "--input", "3x3x8x8", "--input", "ids=3x5:int64", "--format", "json",
                        "--convention", "macs")
    assert rc == 0 and err == "", err
    assert json.loads(out)["total"]["macs"] == 3 * (7_776 + 32)
    rc, out, err = main(capsys, path, "--input", "3x3x8x8", "--input", "2", "--input", "ids=3x5:int64")
    assert rc == 2 and out == "", err
    assert "--input: offset.pt2 was exported with input 2 = float 1.0, not a tensor: --input cannot give it" in err


def test_a_saved_program_that_cannot_be_moved_to_the_device_is_a_model_error(capsys, tmp_path, monkeypatch):
    """A program that loads but cannot be put on the device asked for is the model's failure (exit 1,
    'model error'), not the command line's (exit 2); on meta, the default, it is counted on the CPU instead,
    where it fails the same."""
    path = tmp_path / "tagger.pt2"
    _save_program(path)

    def refuse(program, device):
        raise RuntimeError(f"no room on {device}")

    monkeypatch.setattr(cli, "_program_on", refuse)
    for options in (["--device", "cpu"], []):
        rc, out, err = main(capsys, path, *options)
        assert rc == 1 and out == "", (options, err)
        assert f"model error: moving {path} to cpu failed: RuntimeError: no room on cpu" in err, (options, err)


# ---- input shapes, formats and small helpers ----------------------------------------------------------
def test_a_dtype_torch_cannot_draw_random_values_of_is_refused_before_the_model(capsys):
    """torch.randn has no float8 kernel: an --input of float8_e4m3fn is refused as a usage error naming the
    dtype, found by drawing one element (an empty tensor of it is made without drawing anything, so a probe
    of 0 elements let it through, to fail later as an error of another kind)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8:float8_e4m3fn")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "bad input dtype 'float8_e4m3fn' in '2x8:float8_e4m3fn': torchcount cannot make a random input" in err


def test_one_line_cuts_a_long_message_at_a_word_within_the_limit():
    """A message longer than the limit is cut to at most limit characters, ' …' included: "abcd " × 100
    (499 characters once its ends are stripped) at 499 is kept whole; at 495 it is cut within its first 494
    characters, 98 words and a 99th, at that word: 98 words (489 characters) + ' …' = 491 (cutting at 495
    would keep 99 words, 496 characters, over the limit). A cut with no space in its second half is kept
    as it is (a long path is not cut back to its first word): 'aaaaa bbbbb…' at 12 is 'aaaaa bbbbb …'."""
    text = "abcd " * 100
    assert cli._one_line(text, 499) == text.strip()
    cut = cli._one_line(text, 495)
    assert cut == " ".join(["abcd"] * 98) + " …" and len(cut) == 491
    assert cli._one_line("aaaaa " + "b" * 20, 12) == "aaaaa bbbbb …"
    assert cli._one_line("  \n ") == "str"  # (no words: the exception's type)


def test_the_progress_bar_of_zero_passes_draws_one_empty_step():
    """A total of 0 (nothing to count) is drawn as 0 of 1, not divided by: an empty bar that is still open."""
    buf = io.StringIO()
    bar = cli.ProgressBar(buf, width=4)
    bar(0, 0)
    assert buf.getvalue() == "\r[....] 0/1" and bar.active
    bar.close()
    assert buf.getvalue().endswith("\n") and not bar.active
    fresh = io.StringIO()
    cli.ProgressBar(fresh).close()  # (a bar that never drew writes nothing)
    assert fresh.getvalue() == ""


def test_the_expected_passes_of_a_measured_profile():
    """1 counting pass, a plain and an instrumented pass per warm-up and per repeat, then the floor-probing
    pass and one memory pass: warmup 1, repeat 3 is 1 + 2 + 6 + 1 + 1 = 11 (the in-process test's repeat 2
    read the same with 2 + repeat); measure()'s own defaults when none is given."""
    import inspect

    from torchcount.measure import measure

    assert cli._expected_passes({"warmup": 1, "repeat": 3}) == 11
    assert cli._expected_passes({"warmup": 0, "repeat": 5}) == 1 + 10 + 2
    defaults = inspect.signature(measure).parameters
    assert cli._expected_passes({}) == 1 + 2 * defaults["warmup"].default + 2 * defaults["repeat"].default + 2


def test_csv_sorted_without_top_holds_every_row_in_order(capsys, tmp_path):
    """--format csv --sort ops (no --top) sorts the CSV's rows as the table's: 0.fc 36, 1 18, 0 (self) 4
    (RESIDUAL_FILE's closed forms), not the tree's order."""
    f = tmp_path / "residual.py"
    f.write_text(RESIDUAL_FILE)
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x4", "--sort", "ops", "--format", "csv")
    assert rc == 0, err
    assert [(r["path"], r["part"], int(r["ops"])) for r in csv.DictReader(io.StringIO(out))] == [
        ("0.fc", "all", 36), ("1", "all", 18), ("0", "self", 4)]


def test_every_json_the_command_prints_is_indented_by_two(capsys):
    """A report, its --by-type breakdown and a --compare document are all JSON indented by 2 spaces, as
    torchcount.export.to_json writes a report (the API's to_json and the command's output read alike)."""
    base = ("torch.nn:Linear(8, 4)", "--input", "2x8", "--format", "json")
    for extra in ((), ("--by-type",), ("--compare", "torch.nn:Linear(8, 2)")):
        code, out, err = main(capsys, *base, *extra)
        assert code == 0, (extra, err)
        assert out.splitlines()[1].startswith('  "') and out == json.dumps(json.loads(out), indent=2,
                                                                           ensure_ascii="--by-type" in extra) + "\n", extra


def test_a_missing_plotting_module_is_a_usage_error_saying_what_to_install(capsys, tmp_path, monkeypatch):
    """--plot and --roofline without torchcount.analysis.plots, or without matplotlib (plot_layers and
    plot_roofline raise ImportError): exit 2, what to install, not a model error (exit 1)."""
    from torchcount.analysis import plots

    measured = ("--measure", "--device", "cpu", "--warmup", "0", "--repeat", "1")
    for option, extra in (("--plot", ()), ("--roofline", measured)):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, "torchcount.analysis.plots", None)
            code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", *extra, option, tmp_path / "p.png")
        assert code == 2 and f"error: {option} needs torchcount.analysis.plots" in err, (option, err)
        with monkeypatch.context() as patch:
            def no_matplotlib(*args, **kwargs):
                raise ImportError("No module named 'matplotlib'")

            patch.setattr(plots, "plot_layers", no_matplotlib)
            patch.setattr(plots, "plot_roofline", no_matplotlib)
            code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", *extra, option, tmp_path / "p.png")
        assert code == 2 and f"error: {option} needs matplotlib: pip install 'torchcount[plot]'" in err, (option, err)


def test_a_model_pickled_whole_names_its_first_three_classes(capsys, tmp_path):
    """What a pickle names, in its order, the plain ones (builtins, collections, torch's storage and rebuild
    functions) left out: _Tagger pickled whole names test_cli._Tagger, then its layers' classes Conv2d,
    Embedding, Linear; four, so three are shown and '…' says there are more."""
    torch.save(_Tagger(), tmp_path / "whole.pth")
    code, out, err = main(capsys, tmp_path / "whole.pth")
    assert code == 2 and out == "", err
    assert ("(of test_cli._Tagger, torch.nn.modules.conv.Conv2d, torch.nn.modules.sparse.Embedding …): "
            "torchcount does not unpickle files") in err, err


def test_default_inputs_of_builder_names():
    """The shapes the builders' weights were trained at: 224×224 images, inception_v3 299×299, video clips of
    16 frames at 112×112 (224×224 for s3d, mvit, swin3d), one second at 16 kHz for torchaudio's speech
    encoders; raft takes two images and other torchaudio models have no default."""
    assert cli._default_input("resnet18", "torchvision") == (1, 3, 224, 224)
    assert cli._default_input("inception_v3", "torchvision") == (1, 3, 299, 299)
    assert cli._default_input("r2plus1d_18", "torchvision") == (1, 3, 16, 112, 112)
    assert cli._default_input("mvit_v2_s", "torchvision") == (1, 3, 16, 224, 224)
    assert cli._default_input("raft_large", "torchvision") is None
    assert cli._default_input("hubert_base", "torchaudio") == (1, 16000)
    assert cli._default_input("conformer", "torchaudio") is None
    assert cli._default_input("resnet18", "other") is None


def test_two_saved_reports_with_a_running_option_are_a_usage_error(capsys, tmp_path):
    """Compared with each other, two saved reports run nothing: --input applies to no model (a usage error,
    as with one saved report alone), while beside a model it is that model's."""
    saved = tmp_path / "r.json"
    assert main(capsys, "torch.nn:Linear(8, 16)", "--input", "2x8", "--format", "json", "--output", saved)[0] == 0
    code, out, err = main(capsys, saved, "--compare", saved, "--input", "2x8")
    assert code == 2 and out == "" and f"--input: {saved} is a saved report (read, not run)" in err, err
    code, out, err = main(capsys, saved, "--compare", "torch.nn:Linear(8, 4)", "--input", "2x8")
    assert code == 0, err


def test_top_without_sort_shows_the_largest_rows_by_ops_and_no_option_keeps_the_tree(capsys, tmp_path):
    """Sequential(Linear(4, 3), ReLU, Linear(3, 2)) on 1×4, flops: 0 is 2·12 + 3 = 27, 1 is 3, 2 is
    2·6 + 2 = 14. --top 2 alone sorts by ops: 0 then 2, with the note; without --sort or --top the rows
    keep the model's order, 0, 1, 2; --top 3 sorts all three, with no note that rows are left out."""
    (tmp_path / "seq.py").write_text("import torch.nn as nn\n\ndef seq():\n"
                                     "    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))\n")
    model = f"{tmp_path / 'seq.py'}:seq"

    def rows(out):
        return [line.split() for line in out.splitlines() if re.match(r"\d\s", line)]

    code, out, err = main(capsys, model, "--input", "1x4", "--columns", "module,ops", "--top", "2")
    assert code == 0, err
    assert rows(out) == [["0", "27"], ["2", "14"]]
    assert "showing the top 2 of 3 rows by FLOPs [flops]; the total is the whole model's" in out
    code, out, err = main(capsys, model, "--input", "1x4", "--columns", "module,ops")
    assert code == 0, err
    assert rows(out) == [["0", "27"], ["1", "3"], ["2", "14"]] and "showing the top" not in out
    code, out, err = main(capsys, model, "--input", "1x4", "--columns", "module,ops", "--top", "3")
    assert code == 0, err  # (all 3 rows: sorted, and no note that some are left out)
    assert rows(out) == [["0", "27"], ["2", "14"], ["1", "3"]] and "showing the top" not in out


def test_a_module_whose_own_import_fails_is_a_model_error(capsys, tmp_path, monkeypatch):
    """`tc_needs_dep:net` imports, and its module imports a package that is not installed: the module
    named exists, so that is the model's failure (exit 1, 'importing … failed'), not a name the command
    line got wrong (exit 2, 'cannot import module'), which a package that is missing itself is."""
    (tmp_path / "tc_needs_dep.py").write_text("import tc_no_such_dependency\n\ndef net():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tc_needs_dep", raising=False)
    code, out, err = main(capsys, "tc_needs_dep:net", "--input", "2x4")
    assert code == 1 and out == "", err
    assert "importing 'tc_needs_dep' failed: ModuleNotFoundError: No module named 'tc_no_such_dependency'" in err
    code, out, err = main(capsys, "tc_no_such_package.models:net", "--input", "2x4")
    assert code == 2 and "cannot import module 'tc_no_such_package.models'" in err, err


def test_builder_names_are_torchvision_s_then_torchaudio_s_functions_and_module_classes():
    """torchvision's list_models() names first; then each public function or nn.Module class of
    torchaudio.models (wav2vec2_base, Wav2Vec2Model), not its submodules (wav2vec2) or other objects."""
    torchaudio_models = pytest.importorskip("torchaudio.models")
    import torchvision

    names = cli._builders()
    assert names["resnet18"] == ("torchvision", torchvision.models.get_model_builder("resnet18"))
    assert names["wav2vec2_base"] == ("torchaudio", torchaudio_models.wav2vec2_base)
    assert names["Wav2Vec2Model"] == ("torchaudio", torchaudio_models.Wav2Vec2Model)
    assert "wav2vec2" not in names and not any(n.startswith("_") for n in names)
    assert [lib for lib, _ in names.values()].index("torchaudio") == len(torchvision.models.list_models())


def test_only_torchcount_s_own_user_warnings_are_relayed_as_notes(capsys):
    """Warnings caught while profiling: a UserWarning saying "torchcount" is one 'note:' line (once, though
    raised twice); another library's UserWarning, and a DeprecationWarning that mentions torchcount, are
    not shown without --debug."""
    def caught(message, category):
        return warnings.WarningMessage(message, category, "f.py", 1)

    records = [caught("torchcount: no formula for 1 op(s)", UserWarning), caught("other library", UserWarning),
               caught("torchcount.old is deprecated", DeprecationWarning),
               caught("torchcount: no formula for 1 op(s)", UserWarning)]
    cli._relay(records, debug=False)
    assert capsys.readouterr().err == "torchcount: note: no formula for 1 op(s)\n"


def test_an_explanation_of_one_model_is_not_labelled_with_a_side(capsys):
    """--explain of one model prints its explanation as it is; only beside --compare is each labelled
    'A = MODEL: ' or 'B = MODEL: '."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--explain", "")
    assert code == 0, err
    assert "\n\n(root): Linear  Linear(in_features=8, out_features=4, bias=True)\n" in out and "A = " not in out
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--explain", "", "--compare",
                          "torch.nn:Linear(8, 2)")
    assert code == 0, err
    assert "\n\nA = torch.nn:Linear(8, 4): (root): Linear" in out and "\n\nB = torch.nn:Linear(8, 2): (root): Linear" in out


def test_a_programs_inputs_are_labelled_by_place_and_name_with_an_index_inside_a_list():
    """The labels of a program's input leaves, in in_spec's order: a positional tensor 'input 1', the two
    tensors of a list that is input 2 'input 2[0]' and 'input 2[1]', a keyword list of two 'pair[0]',
    'pair[1]', a keyword tensor 'ids'."""
    from torch.utils._pytree import tree_flatten

    t = torch.zeros(1)
    _, spec = tree_flatten(((t, [t, t]), {"pair": [t, t], "ids": t}))
    assert cli._leaf_labels(spec) == ["input 1", "input 2[0]", "input 2[1]", "pair[0]", "pair[1]", "ids"]


def test_a_keyword_input_alone_the_forward_does_not_take_is_a_usage_error(capsys):
    """--input x=2x8 for Linear, whose forward's one parameter is 'input': exit 2 before any forward,
    naming the parameter, also when the keyword inputs are all the inputs there are; input=2x8 is counted
    (Linear(8, 4) on 2 rows: 2·8·4 = 64 MACs)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "x=2x8")
    assert code == 2 and out == "", err
    assert "error: --input: Linear.forward() takes no keyword argument 'x' (not a keyword it takes; it takes input)" in err
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "input=2x8", "--format", "csv")
    assert code == 0, err
    assert list(csv.DictReader(io.StringIO(out)))[0]["macs"] == "64"


def test_an_unknown_builder_name_suggests_close_names_or_the_list(capsys):
    """A misspelt builder name suggests the close ones (resnt18 → resnet18); a name close to none points
    to --list-models and the other MODEL forms."""
    code, out, err = main(capsys, "resnt18")
    assert code == 2 and "unknown model 'resnt18'; did you mean resnet18" in err, err
    code, out, err = main(capsys, "qqqzzzxxx")
    assert code == 2 and ("unknown model 'qqqzzzxxx'; see torchcount --list-models, or give package.module:callable "
                          "or file.py:callable") in err, err


class _CpuOnes(nn.Module):
    """A Linear plus a tensor its forward makes on a device it names, torch.ones(4, device='cpu')."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + torch.ones(4, device="cpu")


def test_a_saved_program_naming_the_cpu_in_its_graph_is_counted_on_meta(capsys, tmp_path):
    """torch.export writes a device a forward names into the graph; move_to_device_pass rewrites it, so
    the program runs on the meta device like the rest of its tensors, with no fallback to the CPU
    (moving only its weights left the graph's 'cpu' beside meta tensors). Linear(4, 4) on 2×4: 32 MACs."""
    if not hasattr(pytest.importorskip("torch.export.passes"), "move_to_device_pass"):
        pytest.skip(f"torch {torch.__version__} has no move_to_device_pass (its tensors alone are moved)")
    path = tmp_path / "ones.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(_CpuOnes().eval(), (torch.randn(2, 4),)), str(path))
    code, out, err = main(capsys, path, "--input", "2x4", "--format", "csv")
    assert code == 0 and err == "", err
    assert _csv_rows(out)["fc"]["macs"] == "32"


def test_an_input_shape_is_refused_from_2_to_the_63_elements():
    """A tensor holds at most 2⁶³ − 1 elements (its numel is an int64): 7·7·73·127·337·92,737·649,657 =
    2⁶³ − 1 is a shape, 2·2⁶² = 2⁶³ is not."""
    dims = (7, 7, 73, 127, 337, 92_737, 649_657)
    assert math.prod(dims) == 2 ** 63 - 1
    assert cli.parse_input("x".join(map(str, dims))) == (dims, torch.float32)
    with pytest.raises(cli.UsageError, match="9,223,372,036,854,775,808 elements is more than a tensor can hold"):
        cli.parse_input(f"2x{2 ** 62}")


_HELD_LINEAR = nn.Linear(2, 2)


def _returns_the_held_linear():
    return _HELD_LINEAR, torch.zeros(1, 2)


def _builds_a_linear():
    return nn.Linear(2, 2)


def test_a_module_a_callable_holds_as_a_global_is_the_users():
    """_held: a module the callable's globals hold (alone or first in a (module, inputs) pair) is the user's
    (counted as a copy); one the call built is not."""
    assert cli._held(_returns_the_held_linear, _returns_the_held_linear())
    assert cli._held(_returns_the_held_linear, _HELD_LINEAR)
    assert not cli._held(_builds_a_linear, _builds_a_linear())
    assert not cli._held(nn.Linear, nn.Linear(2, 2))  # (a class: no globals of its own)


def test_a_csv_blank_sorts_after_a_zero():
    """--sort on a CSV column: numbers largest first, then blanks (None), a 0 among the numbers."""
    key = cli._csv_sort_key("%peak", ["path", "%peak"])
    rows = [{"%peak": None}, {"%peak": 0}, {"%peak": 5.0}]
    assert [r["%peak"] for r in sorted(rows, key=key)] == [5.0, 0, None]


def test_plot_by_type_sorted_draws_the_types_in_the_tables_order(capsys, tmp_path, monkeypatch):
    """--by-type --sort params --plot draws the layer types of the --by-type table in its order, params
    first: Conv1d (56 + 200 = 256), Linear (18), then the parameterless ones, where plot_layers' own
    order is by ops."""
    pytest.importorskip("matplotlib")
    from torchcount.analysis import plots

    f = tmp_path / "tc_plot_types.py"
    f.write_text("from torch import nn\n"
                 "def cnn():\n"
                 "    return nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1),\n"
                 "                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))\n")
    drawn = []
    monkeypatch.setattr(plots, "plot_layers", lambda *a, **kw: drawn.append(kw["rows"]))
    rc, out, err = main(capsys, f"{f}:cnn", "--input", "1x2x32", "--by-type", "--sort", "params", "--format", "csv",
                        "--plot", tmp_path / "p.png")
    assert rc == 0, err
    table = [r["type"] for r in csv.DictReader(io.StringIO(out))]
    assert table[:2] == ["Conv1d", "Linear"] and drawn == [table]


def test_a_detectors_weights_backbone_given_is_kept():
    """The command turns off a torchvision detector's ImageNet backbone download (weights_backbone=None)
    only where the command line did not give weights_backbone itself."""
    given = cli.resolve("fasterrcnn_mobilenet_v3_large_320_fpn(weights_backbone='DEFAULT')")
    assert given.kwargs == {"weights_backbone": "DEFAULT"}
    assert cli.resolve("fasterrcnn_mobilenet_v3_large_320_fpn(num_classes=3)").kwargs == \
        {"num_classes": 3, "weights_backbone": None}


def test_an_unknown_activation_sorts_after_every_known_one():
    """--sort activation (and a measured column): largest first, a 0 among the numbers, a row whose value
    is not known (None) last."""
    rows = [(SimpleNamespace(shown_activation=lambda own, v=v: v), False) for v in (None, 0, 5)]
    key = cli._sort_value("activation", SimpleNamespace(layers=[]), None)
    assert [r.shown_activation(False) for r, _ in sorted(rows, key=key)] == [5, 0, None]
    # a measured column likewise, by the value of the part shown (a whole row here; its own part would be
    # 100.0): time_ms not known for a row sorts after a 0.0
    rows = [(SimpleNamespace(shown_extra=lambda own, v=v: {"time_ms": 100.0 if own else v}), False)
            for v in (None, 0.0, 2.0)]
    key = cli._sort_value("time_ms", SimpleNamespace(layers=[SimpleNamespace(extra={"time_ms": 1.0})]), None)
    assert [r.shown_extra(False)["time_ms"] for r, _ in sorted(rows, key=key)] == [2.0, 0.0, None]


def test_the_pass_counter_redraws_its_bar_while_passes_run():
    """_PassCounter counts forward passes with a hook and redraws the bar from its thread every 0.2 s
    (at most total − 1 until it is closed), then draws it full and removes its hook."""
    drawn = []
    model = nn.Linear(2, 2)
    counter = cli._PassCounter(lambda done, total, label="": drawn.append((done, total, label)), 4, model)
    for _ in range(5):
        model(torch.zeros(1, 2))
    for _ in range(100):  # (up to 10 s on a loaded machine; one redraw takes 0.2 s)
        if (3, 4, "measuring") in drawn:
            break
        threading.Event().wait(0.1)
    counter.close()
    assert (3, 4, "measuring") in drawn[:-1] and all(done <= 3 for done, _, _ in drawn[:-1])
    assert drawn[-1] == (4, 4, "measuring")
    assert counter.n == 5 and not model._forward_hooks


def test_a_file_callable_imports_its_neighbours_and_leaves_sys_path_as_found(capsys, tmp_path):
    """A file.py:callable runs with its folder first on sys.path, so it imports the modules beside it;
    once it has loaded, sys.path is as it was. Linear(4, 3) built by the neighbour: 15 params."""
    (tmp_path / "tc_neighbour.py").write_text("import torch\n\ndef make():\n    return torch.nn.Linear(4, 3)\n")
    (tmp_path / "tc_main.py").write_text("from tc_neighbour import make\n\ndef net():\n    return make()\n")
    before = list(sys.path)
    try:
        code, out, err = main(capsys, f"{tmp_path / 'tc_main.py'}:net", "--input", "2x4", "--format", "json")
    finally:
        sys.modules.pop("tc_neighbour", None)
    assert code == 0, err
    assert json.loads(out)["total"]["params"] == 15 and sys.path == before


def test_the_classes_a_pickle_names_are_read_through_binput_too():
    """A pickle may memoize the strings STACK_GLOBAL takes with BINPUT (protocol 2's opcode) rather than
    MEMOIZE: written here by hand, and loadable (collections.OrderedDict, then collections.Counter, its
    module's name read back with BINGET 0); both are named."""
    import collections
    import pickle

    def text(s):
        return b"\x8c" + bytes([len(s)]) + s.encode()  # SHORT_BINUNICODE

    data = (b"\x80\x04" + text("collections") + b"q\x00" + text("OrderedDict") + b"q\x01" + b"\x93" + b")R"
            + b"h\x00" + text("Counter") + b"q\x02" + b"\x93" + b")R" + b"\x86.")  # (BINPUT q, BINGET h, TUPLE2)
    assert pickle.loads(data) == (collections.OrderedDict(), collections.Counter())
    assert cli._pickled_globals(data) == ["collections.OrderedDict", "collections.Counter"]


def test_torch_s_own_error_is_said_unless_it_points_to_its_log(capsys, tmp_path, monkeypatch):
    """A .pt2 that torch.export.load refuses: the usage error gives torch's message; the exception torch
    logged while loading replaces it only where that message says no more than 'check the warnings above'."""
    path = tmp_path / "tagger.pt2"
    _save_program(path)

    def load(message):
        def refuse(*args, **kwargs):
            try:
                raise NotImplementedError("format 9 is not known")
            except NotImplementedError:
                logging.getLogger("torch._export.serde").warning("trying another format", exc_info=True)
            raise RuntimeError(message)
        return refuse

    for message, said in (("the archive's version is too new", "the archive's version is too new"),
                          ("Please check the warnings above", "NotImplementedError: format 9 is not known")):
        monkeypatch.setattr(torch.export, "load", load(message))
        code, out, err = main(capsys, path)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"cannot load {path} as a torch.export program: {said}" in err, err


@pytest.mark.filterwarnings("ignore:`treespec.children_specs` is deprecated:FutureWarning")  # (torch ≥ 2.10)
def test_a_programs_module_takes_flat_inputs_only_where_its_forward_names_no_keyword():
    """torch 2.2's ep.module() takes the flattened inputs positionally, forward(arg_0, arg_1): a keyword
    input of the program ('ids') that the forward does not name, and no **kwargs to take it, means flat.
    A forward naming it, or taking **kwargs, takes the call as it was; a program with no keyword input
    is never flat; nor is a forward whose signature cannot be read (the builtin min: inspect raises
    ValueError), which is then given the call as it was."""
    from torch.utils._pytree import tree_flatten

    t = torch.zeros(1)
    _, with_ids = tree_flatten(((t,), {"ids": t}))
    _, positional = tree_flatten(((t,), {}))

    def module(forward):
        return SimpleNamespace(forward=forward)

    assert cli._takes_flat_inputs(module(lambda arg_0, arg_1: None), with_ids)
    assert not cli._takes_flat_inputs(module(lambda x, ids=None: None), with_ids)
    assert not cli._takes_flat_inputs(module(lambda x, **kwargs: None), with_ids)
    assert cli._takes_flat_inputs(module(lambda arg_0, arg_1: None), positional) is False  # (a bool, as annotated)
    assert cli._takes_flat_inputs(module(min), with_ids) is False


def test_plot_of_sorted_rows_names_a_parents_own_part_as_the_table_does(capsys, tmp_path, monkeypatch):
    """--sort ops --top 3 --plot: the rows of the table, RESIDUAL_FILE's 0.fc (36), 1 (18) and 0's own
    residual add '0 (self)' (4), are the rows drawn, the last by its own part, not 0's whole subtree; at
    --depth 0 the whole model's row, '(root)'."""
    from torchcount.analysis import plots

    f = tmp_path / "residual.py"
    f.write_text(RESIDUAL_FILE)
    drawn = []
    monkeypatch.setattr(plots, "plot_layers", lambda *a, **kw: drawn.append(kw["rows"]))
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x4", "--sort", "ops", "--top", "3", "--plot",
                        tmp_path / "p.png")
    assert rc == 0, err
    assert drawn == [["0.fc", "1", "0 (self)"]]
    # at depth 0 the one row is the whole model, named '(root)' as in the table
    rc, out, err = main(capsys, f"{f}:make", "--input", "1x4", "--depth", "0", "--sort", "ops", "--top", "1", "--plot",
                        tmp_path / "p.png")
    assert rc == 0, err
    assert drawn[1:] == [["(root)"]]


def test_a_saved_program_that_fails_on_meta_gives_its_inputs_note_once(capsys, tmp_path, monkeypatch):
    """A saved program without --input whose forward fails on the meta device (here: made to) is counted on
    the CPU: the note on the inputs it was exported with is shown once, then the note that it ran on the CPU;
    2·(7,776 + 32) MACs as on meta."""
    P = sys.modules["torchcount.profile"]  # (the package's 'profile' attribute is the function)
    path = tmp_path / "tagger.pt2"
    _save_program(path)
    real = P.profile

    def meta_fails(model, *args, **kwargs):
        if next(model.parameters()).device.type == "meta":
            raise P.ForwardError("forward failed in module 'conv' (Conv2d): RuntimeError: no meta kernel", "conv",
                                 None, "RuntimeError: no meta kernel")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(P, "profile", meta_fails)
    code, out, err = main(capsys, path, "--format", "json", "--convention", "macs")
    assert code == 0, err
    assert json.loads(out)["total"]["macs"] == 2 * (7_776 + 32)
    notes = err.splitlines()
    assert len(notes) == 2 and notes[0].startswith("torchcount: note: tagger.pt2: no --input, so its"), err
    assert notes[1] == ("torchcount: note: tagger.pt2 could not run on the meta device (RuntimeError: no meta "
                        "kernel); counted on the CPU instead")


def test_a_builder_s_own_type_error_is_a_model_error(capsys, tmp_path):
    """A TypeError inside a callable, not about a keyword the command line gave, is the model's failure (exit
    1, 'building … failed'): one the callable passes itself (nn.Linear(4, 3, bad=1)), or any other; a
    keyword the command line gave that the builder passes on and a class rejects is a usage error (exit 2)."""
    f = tmp_path / "tc_type_errors.py"
    f.write_text("from torch import nn\n\n"
                 "def passes_a_bad_keyword():\n    return nn.Linear(4, 3, bad=1)\n\n"
                 "def fails():\n    raise TypeError('not this way')\n\n"
                 "def passes_on(**kwargs):\n    return nn.Linear(4, 3, **kwargs)\n")
    code, out, err = main(capsys, f"{f}:passes_a_bad_keyword", "--input", "2x4")
    assert code == 1 and out == "", err
    assert f"model error: building {f}:passes_a_bad_keyword failed: TypeError: " in err and "'bad'" in err, err
    code, out, err = main(capsys, f"{f}:fails", "--input", "2x4")
    assert code == 1 and f"model error: building {f}:fails failed: TypeError: not this way" in err, err
    code, out, err = main(capsys, f"{f}:passes_on(bad=1)", "--input", "2x4")
    assert code == 2 and "error: passes_on does not take 'bad'" in err, err


def test_metric_time_ms_beside_a_model_needs_measure(capsys, tmp_path):
    """--metric time_ms compares measured times: a saved report of a --measure run beside a model run
    without --measure is a usage error saying to add --measure (two saved measured reports need none)."""
    saved = tmp_path / "m.json"
    assert main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--device", "cpu", "--measure", "--warmup", "0",
                "--repeat", "1", "--format", "json", "--output", saved)[0] == 0
    code, out, err = main(capsys, saved, "--compare", "torch.nn:Linear(8, 2)", "--input", "2x8", "--metric", "time_ms")
    assert code == 2 and out == "", err
    assert "--metric time_ms compares measured times: add --measure" in err, err
    code, out, err = main(capsys, saved, "--compare", saved, "--metric", "time_ms", "--format", "csv")
    assert code == 0, err
    assert {r["metric"] for r in csv.DictReader(io.StringIO(out))} >= {"time_ms"}


def test_without_a_model_or_with_a_class_for_method_the_command_line_is_wrong(capsys, tmp_path):
    """Two mistakes of the command line, not of a model, so exit 2: options without MODEL ('MODEL is
    required'), and a --method file.py:NAME naming a class (a function is called as function(model, *inputs))."""
    code, out, err = main(capsys, "--format", "json")
    assert code == 2 and out == "" and "MODEL is required, e.g. torchcount resnet50" in err, err
    steps = tmp_path / "tc_steps_class.py"
    steps.write_text("class Step:\n    def __init__(self, model, x):\n        pass\n")
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--method", f"{steps}:Step")
    assert code == 2 and out == "", err
    assert f"--method {steps}:Step: a class, not a function called as function(model, *inputs)" in err, err


def test_a_misspelt_convention_suggests_the_two_closest(capsys):
    """'macts' is close to three conventions by difflib's ratio (2·matches / total length): macs 2·4/9 = 0.89,
    2mac 2·3/9 = 0.67, mults 2·3/10 = 0.60 (the cutoff); the error offers the two closest, not mults."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--convention", "macts")
    assert code == 2 and out == "", err
    assert err.rstrip().endswith("; did you mean macs or 2mac?"), err


def test_a_function_method_without_inputs_names_its_parameters_after_the_model(capsys, tmp_path):
    """--method file.py:step on a model with no default input: the error names the inputs the function takes
    after the model it is given first (step(model, x, *rest, scale=…, **options): x, *rest, scale=…,
    **options), its own name as the label; a method by name shows the class's method (Linear.forward(input))."""
    steps = tmp_path / "tc_steps_takes.py"
    steps.write_text("def step(model, x, *rest, scale=1.0, **options):\n    return model(x) * scale\n")
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--method", f"{steps}:step")
    assert code == 2 and out == "", err
    assert ("needs --input (one SHAPE[:DTYPE] per input of step(x, *rest, scale=…, **options)); there is no "
            "default input for it") in err, err


def test_a_keyword_a_torchscript_input_fills_already_names_its_position(capsys, tmp_path):
    """A TorchScript forward(x) given one --input and --method 'forward(x=…)': x is given twice, as input
    number 1 (the first positional one) and as a keyword; a usage error before any forward."""
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(_Scriptable().eval()), str(path))
    code, out, err = main(capsys, path, "--input", "2x4", "--method", "forward(x=1)")
    assert code == 2 and out == "", err
    assert "model.pt's forward is given 'x' twice: as its input number 1 and as a keyword" in err, err


def test_a_name_a_file_does_not_define_lists_what_the_file_itself_defines(capsys, tmp_path):
    """'zzz' is close to no name of the file (difflib: no suggestion), so the error lists the public callables
    the file defines itself, alpha and beta, sorted; not Linear, which it only imports from torch, nor
    _helper (private) or LIMIT (an int)."""
    f = tmp_path / "tc_defines.py"
    f.write_text("from torch.nn import Linear\n\nLIMIT = 3\n\n\ndef _helper():\n    return 2\n\n\n"
                 "def beta():\n    return Linear(2, 2)\n\n\ndef alpha():\n    return Linear(2, 2)\n")
    code, out, err = main(capsys, f"{f}:zzz", "--input", "1x2")
    assert code == 2 and out == "", err
    assert err.rstrip().endswith(f"{f} does not define 'zzz'; it defines: alpha, beta"), err


@dataclasses.dataclass
class _Box:
    """An input class registered with torch's pytree, so that torch.export takes it (a Box holding x)."""
    x: torch.Tensor


class _BoxedLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, box):
        return self.fc(box.x)


@needs("torch.utils._pytree._deregister_pytree_node")
def test_a_program_that_pickles_an_object_is_not_unpickled_and_names_its_class(capsys, tmp_path):
    """A program exported with a _Box as its example input keeps it pickled in the file: torch's
    weights-only unpickler (which the command makes torch.export.load use) refuses the class, and the usage
    error names it, test_cli._Box, as torch's 'Unsupported global' does (the class stays registered while
    it loads, so that pytree is not what fails)."""
    from torch.utils import _pytree

    path = tmp_path / "boxed.pt2"
    torch.export.register_dataclass(_Box, serialized_type_name=f"{__name__}._Box")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(_BoxedLinear().eval(), (_Box(torch.randn(2, 4)),))
            torch.export.save(program, str(path))
            rc, out, err = main(capsys, path)
    finally:
        _pytree._deregister_pytree_node(_Box)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert (f"cannot load {path} as a torch.export program: it holds pickled objects other than tensors "
            f"({__name__}._Box), which torchcount does not unpickle") in err, err
    assert err.rstrip().endswith("the file was not loaded"), err  # (no word on torch's versions: none is at fault)


@needs("torch.export.pt2_archive")
def test_a_program_whose_pickled_entry_is_damaged_says_so(capsys, tmp_path):
    """A saved program whose torch.save'd entry (its example inputs, which load reads) holds bytes no pickle has ('g' of 'garbage' where the protocol opcode belongs): torch's weights-only
    unpickler words that as its own refusal ('Weights only load failed … Unsupported operand 103'), which
    the command had passed on as "pickled objects other than tensors"; it says the entry is damaged."""
    import zipfile

    good, bad = tmp_path / "good.pt2", tmp_path / "bad.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(nn.Linear(4, 2), (torch.randn(1, 4),)), str(good))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, b"garbage" + data[:10] if name.endswith(".pt") else data)
    assert main(capsys, good)[0] == 0
    rc, out, err = main(capsys, bad)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot load {bad} as a torch.export program: a pickled entry of it is damaged (" in err, err
    assert "Unsupported operand 103)" in err or "invalid load key, 'g')" in err, err
    assert err.rstrip().endswith("the file was not loaded"), err


def test_a_zip_whose_pickle_is_not_its_first_entry_is_read_from_its_pickle(capsys, tmp_path):
    """A zip archive (torch.save's layout: one folder) holding README first, then data.pkl, whose pickle names
    the class mymodels.Net (a GLOBAL opcode; nothing is unpickled): a usage error saying it is a model pickled
    whole, of mymodels.Net, read from data.pkl, not from README."""
    import zipfile

    path = tmp_path / "whole.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("whole/README", "not a pickle\n")
        archive.writestr("whole/data.pkl", b"\x80\x02cmymodels\nNet\nq\x00)\x81q\x01.")
    rc, out, err = main(capsys, path)
    assert rc == 2 and out == "", err
    assert "whole.pth is a model pickled whole with torch.save(model) (of mymodels.Net)" in err, err


def test_a_zip_file_of_any_suffix_but_py_is_read_as_a_saved_program(capsys, tmp_path):
    """A TorchScript file saved as model.bin (a suffix the command does not know) is still read as a saved
    program, being a zip archive: 2·4·8 + 2·8·3 = 112 MACs for _Scriptable on a 2×4 input."""
    path = tmp_path / "model.bin"
    torch.jit.save(torch.jit.script(_Scriptable().eval()), str(path))
    code, out, err = main(capsys, path, "--input", "x=2x4", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["macs"] == 112


def test_a_file_python_cannot_load_and_empty_columns_are_usage_errors(capsys, tmp_path):
    """Mistakes of the command line, exit 2: a file named by its path whose suffix is not Python's
    (model.txt:net: importlib has no loader for it), and --columns ',' (no column named)."""
    f = tmp_path / "model.txt"
    f.write_text("from torch import nn\n\ndef net():\n    return nn.Linear(2, 2)\n")
    code, out, err = main(capsys, f"{f}:net", "--input", "1x2")
    assert code == 2 and out == "" and f"cannot load {f} as Python" in err, err
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--columns", ",")
    assert code == 2 and out == "" and "--columns is empty; e.g. --columns module,params,ops" in err, err


def test_a_program_of_another_archive_version_says_which_torch_reads_it(capsys, tmp_path):
    """A saved program whose archive_version entry reads 99 (as a later torch's file might): torch refuses it
    naming the version, and the usage error adds this torch's version and that the format changes between
    versions. (torch 2.2's archive has no archive_version: its 'version' entry, the schema's major
    version, is the one it checks.)"""
    _save_program(tmp_path / "tagger.pt2")
    replaced = _rewritten(tmp_path / "tagger.pt2", tmp_path / "later.pt2",
                          lambda name: b"99" if name.endswith("/archive_version") else None)
    if not replaced and not TESTED_TORCH:
        replaced = _rewritten(tmp_path / "tagger.pt2", tmp_path / "later.pt2",
                              lambda name: b"99" if name == "version" else None)
    assert len(replaced) == 1
    rc, out, err = main(capsys, tmp_path / "later.pt2")
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot load {tmp_path / 'later.pt2'} as a torch.export program: " in err and "99" in err, err
    assert err.rstrip().endswith(f"(this is torch {torch.__version__}; torch.export's file format changes "
                                 "between versions)"), err


def test_a_saved_program_given_dtype_computes_in_it(capsys, tmp_path):
    """--dtype float64 on a saved program casts its module and its own float inputs: the Tagger's 340
    parameters are 340·8 = 2,720 bytes (not 340·4), its conv reads a float64 image, the embedding's ids
    stay int64; the MACs do not depend on the dtype: 2·(7,776 + 32)."""
    path = tmp_path / "tagger.pt2"
    _save_program(path)
    rc, out, err = main(capsys, path, "--dtype", "float64", "--format", "json", "--convention", "macs")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["total"]["param_bytes"] == 340 * 8 and doc["total"]["macs"] == 2 * (7_776 + 32)
    layers = {row["path"]: row for row in doc["layers"]}
    assert layers["conv"]["input_dtypes"] == ["float64"] and layers["emb"]["input_dtypes"] == ["int64"]


def test_an_output_file_that_cannot_be_written_is_a_usage_error(capsys, tmp_path):
    """--output under a regular file (its folder cannot be made): the command line's mistake, exit 2,
    naming the file; nothing is printed on stdout."""
    (tmp_path / "a_file").write_text("")
    target = tmp_path / "a_file" / "out.json"
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--format", "json", "--output", target)
    assert code == 2 and out == "" and f"error: cannot write {target}: " in err, err
