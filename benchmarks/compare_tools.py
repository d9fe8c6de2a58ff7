"""torchcount beside the other counters: MACs and parameters side by side, each under the
tool's own convention, and what counting costs against a plain forward.

Tools: ptflops, fvcore, thop, torchinfo, calflops, torch.utils.flop_counter, torchcount.
Models: ResNet-50, MobileNetV2, ViT-B/16, a 2-layer LSTM, an eval-mode nn.TransformerEncoder,
torchaudio MelSpectrogram, the Whisper-tiny-shaped model (from its config, no download).

The other tools are the ``compare`` extra (``pip install -e ".[compare]"``), not a
dependency of torchcount; a tool that is missing or fails is reported in the results, not
dropped.

Each (tool, model) pair runs in its own Python process: several tools patch
``torch.nn.functional`` or leave attributes on modules, and in one process the results
depended on which tool ran before (flop_counter reported 0 for the TransformerEncoder,
ptflops failed, calflops doubled). Under ``torch.no_grad()``, one torch thread. Count-time ratio = median CPU time of this thread
for the tool's call / median of a plain forward of the same model, interleaved.

    .venv/bin/python benchmarks/compare_tools.py [--repeats 3] [--models resnet50,...] [--tools ...]

Writes benchmarks/results/compare_tools.md and compare_tools.json.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torchcount  # noqa: E402


# ---- models: each returns (model, tuple of positional inputs) ------------------------------
class Whisper(nn.Module):
    """Positional-argument wrapper (some tools cannot pass keyword inputs)."""

    def __init__(self):
        super().__init__()
        self.model, self.example = C.whisper_tiny_shaped()

    def forward(self, input_features, decoder_input_ids):
        return self.model(input_features=input_features,
                          decoder_input_ids=decoder_input_ids).last_hidden_state


def _whisper():
    m = Whisper().eval()
    return m, (m.example["input_features"], m.example["decoder_input_ids"])


def _lstm():
    torch.manual_seed(0)
    return nn.LSTM(256, 512, num_layers=2, batch_first=True).eval(), (torch.randn(1, 100, 256),)


def _encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(512, 8, 2048, batch_first=True)
    return nn.TransformerEncoder(layer, 6, enable_nested_tensor=False).eval(), (torch.randn(1, 128, 512),)


def _mel():
    import torchaudio

    return (torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=80).eval(),
            (torch.randn(1, 16000 * 30),))


MODELS = {
    "resnet50": lambda: (C.vision("resnet50")[0], (torch.randn(1, 3, 224, 224),)),
    "mobilenet_v2": lambda: (C.vision("mobilenet_v2")[0], (torch.randn(1, 3, 224, 224),)),
    "vit_b_16": lambda: (C.vision("vit_b_16")[0], (torch.randn(1, 3, 224, 224),)),
    "lstm_2layer": _lstm,
    "transformer_encoder": _encoder,
    "melspectrogram": _mel,
    "whisper_tiny": _whisper,
}

DESCRIPTIONS = {
    "resnet50": "torchvision ResNet-50, 1×3×224×224",
    "mobilenet_v2": "torchvision MobileNetV2, 1×3×224×224",
    "vit_b_16": "torchvision ViT-B/16, 1×3×224×224",
    "lstm_2layer": "nn.LSTM(256, 512, num_layers=2), 1×100×256",
    "transformer_encoder": "nn.TransformerEncoder(d 512, 8 heads, ffn 2048, 6 layers), eval, 1×128×512",
    "melspectrogram": "torchaudio MelSpectrogram(n_fft 400, hop 160, 80 mels), 30 s at 16 kHz",
    "whisper_tiny": "WhisperModel from WhisperConfig (d 384, 4+4 layers, 6 heads), 80×3000 mels + 4 tokens",
}


# ---- tools: each returns (params, macs, extra text) ----------------------------------------
def t_torchcount(model, inputs):
    r = torchcount.profile(model, inputs, warn=False)
    note = f"flops {r.total.flops / 1e9:.3f} G (2/MAC + 1/other op); coverage {r.coverage:.1%}"
    return r.total.params, r.total.macs, note


def t_flop_counter(model, inputs):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        model(*inputs)
    flops = fc.get_total_flops()
    return sum(p.numel() for p in model.parameters()), flops // 2, f"reports {flops / 1e9:.3f} G FLOPs = 2×MACs"


def t_ptflops(model, inputs):
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(
        model, tuple(inputs[0].shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False,
        input_constructor=lambda _res: {_argname(model, i): x for i, x in enumerate(inputs)} if len(inputs) > 1
        else inputs[0], backend="pytorch")
    return params, macs, "backend 'pytorch' (module hooks + patched functionals)"


def _argname(model, i):
    import inspect

    return list(inspect.signature(model.forward).parameters)[i]


def t_fvcore(model, inputs):
    from fvcore.nn import FlopCountAnalysis, parameter_count

    fca = FlopCountAnalysis(model, inputs)
    fca.unsupported_ops_warnings(False)
    fca.uncalled_modules_warnings(False)
    total = fca.total()
    skipped = sorted(fca.unsupported_ops())
    return parameter_count(model)[""], total, ("'flops' = 1 per MAC; skipped: " + ", ".join(skipped[:5])
                                               + (" …" if len(skipped) > 5 else "")) if skipped else "'flops' = 1 per MAC"


def t_thop(model, inputs):
    from thop import profile

    macs, params = profile(model, inputs=inputs, verbose=False)
    return int(params), int(macs), "module hooks on leaf modules"


def t_torchinfo(model, inputs):
    from torchinfo import summary

    s = summary(model, input_data=list(inputs), verbose=0)
    return s.total_params, s.total_mult_adds, "mult-adds of parameterised leaf modules"


def t_calflops(model, inputs):
    from calflops import calculate_flops

    flops, macs, params = calculate_flops(model, args=list(inputs), print_results=False,
                                          print_detailed=False, output_as_string=False)
    return params, macs, f"reports {flops / 1e9:.3f} G FLOPs"


TOOLS = {
    "torchcount": t_torchcount, "torch.utils.flop_counter": t_flop_counter, "ptflops": t_ptflops,
    "fvcore": t_fvcore, "thop": t_thop, "torchinfo": t_torchinfo, "calflops": t_calflops,
}
CONVENTION = {
    "torchcount": "MACs of contractions (conv, linear, matmul, attention, recurrent gates); "
                  "element-wise work kept separately and shown in its FLOPs",
    "torch.utils.flop_counter": "2 FLOPs per MAC of mm/bmm/conv/SDPA ops; nothing else (shown here ÷2)",
    "ptflops": "MACs; hooks on known modules (conv, linear, BN, activations, pooling, RNN, MHA), "
               "1 per element for BN/activations",
    "fvcore": "1 'flop' per MAC of traced ops; some element-wise ops by handle; unsupported ops skipped",
    "thop": "MACs of known leaf modules; unknown modules and functional calls count 0",
    "torchinfo": "mult-adds ≈ parameters × output positions of leaf modules",
    "calflops": "MACs via patched torch.nn.functional / tensor ops; FLOPs = 2×MACs + element-wise",
}


def run_tool(tool: str, model_name: str, repeats: int) -> dict:
    fn = TOOLS[tool]
    row = {"tool": tool, "model": model_name}
    try:
        model, inputs = MODELS[model_name]()
    except Exception as exc:  # noqa: BLE001
        return {**row, "error": f"model build failed: {type(exc).__name__}: {exc}"}
    sink = io.StringIO()
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        try:
            params, macs, note = fn(model, inputs)
        except Exception as exc:  # noqa: BLE001
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            return {**row, "error": tb[:300]}
        try:
            res = C.interleaved({"plain": lambda: model(*inputs), "tool": lambda: fn(model, inputs)},
                                repeats, warmup=0)
            ratio = res["tool"]["cpu_s"] / res["plain"]["cpu_s"]
            wall_ratio = res["tool"]["wall_s"] / res["plain"]["wall_s"]
            plain_ms = res["plain"]["cpu_s"] * 1e3
        except Exception as exc:  # noqa: BLE001
            ratio = wall_ratio = plain_ms = None
            note += f"; timing failed: {type(exc).__name__}"
    return {**row, "params": int(params) if params is not None else None,
            "macs": int(macs) if macs is not None else None, "note": note,
            "time_ratio_cpu": ratio, "time_ratio_wall": wall_ratio, "plain_cpu_ms": plain_ms}


def _in_subprocess(tool: str, model_name: str, repeats: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", tool, model_name, "--repeats", str(repeats)],
                          capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"tool": tool, "model": model_name, "error": f"process exited {proc.returncode}: {tail[0][:300]}"}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("ptflops", "fvcore", "thop", "torchinfo", "calflops"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "NOT INSTALLED"
    return out


def _g(n):
    return "—" if n is None else f"{n / 1e9:.3f} G" if n >= 1e8 else f"{n / 1e6:.3f} M"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timed runs per (tool, model) (default 3)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from: {', '.join(MODELS)}")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, from: {', '.join(TOOLS)}")
    ap.add_argument("--one", nargs=2, metavar=("TOOL", "MODEL"), help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    torch.set_num_threads(1)
    if opts.one:
        print("RESULT " + json.dumps(run_tool(opts.one[0], opts.one[1], opts.repeats)))
        return 0
    mach = C.machine()
    mach["versions"].update(_versions())
    rows = []
    for model_name in opts.models.split(","):
        for tool in opts.tools.split(","):
            r = _in_subprocess(tool, model_name, opts.repeats)
            rows.append(r)
            print(f"{model_name:20s} {tool:26s} " + (f"ERROR {r['error']}" if "error" in r else
                  f"params {_g(r['params']):>10s} MACs {_g(r['macs']):>10s} ×{r['time_ratio_cpu'] or float('nan'):.2f}"),
                  flush=True)
    C.write_json("compare_tools.json", {"machine": mach, "repeats": opts.repeats, "results": rows})
    lines = ["# torchcount beside the other counters", "",
             "Produced by `benchmarks/compare_tools.py`. MACs and parameters as each tool reports them "
             "(FLOP-reporting tools converted to MACs where their convention is exactly 2 per MAC), and the "
             f"time a count takes relative to a plain forward (median CPU time of this thread over {opts.repeats} "
             "interleaved runs, one torch thread, under `torch.no_grad()`).", "",
             C.machine_md(mach),
             "The machine (2 cores) was shared with other processes during the run: the time ratios use our "
             "thread's CPU time, which they disturb much less than wall time, but treat them as ±20 %.", "",
             "## Conventions", ""]
    lines += [f"- **{t}**: {c}" for t, c in CONVENTION.items()]
    for model_name in opts.models.split(","):
        lines += ["", f"## {model_name}: {DESCRIPTIONS[model_name]}", "",
                  "| tool | params | MACs | count time / forward | notes |", "|---|---:|---:|---:|---|"]
        for r in rows:
            if r["model"] != model_name:
                continue
            if "error" in r:
                lines.append(f"| {r['tool']} | — | — | — | failed: `{r['error'].replace('|', '/')}` |")
                continue
            t = f"×{r['time_ratio_cpu']:.2f}" if r["time_ratio_cpu"] else "—"
            lines.append(f"| {r['tool']} | {r['params']:,} | {r['macs']:,} | {t} | {r['note'].replace('|', '/')} |")
    ratios = {}
    for r in rows:
        if r.get("time_ratio_cpu"):
            ratios.setdefault(r["tool"], []).append(r["time_ratio_cpu"])
    lines += ["", "## Count time / plain forward, across the models", "",
              "| tool | min | median | max |", "|---|---:|---:|---:|"]
    for tool, v in ratios.items():
        lines.append(f"| {tool} | ×{min(v):.2f} | ×{statistics.median(v):.2f} | ×{max(v):.2f} |")
    (C.RESULTS / "compare_tools.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {C.RESULTS / 'compare_tools.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
