"""Theory beside measurement on a GPU: ResNet-50, ViT-B/16 and a Whisper-tiny-shaped model at
several batch sizes in fp32 and bf16, profiled with ``torchcount.profile(..., measure=True)``.

Writes a markdown report (per-model totals: theoretical FLOPs, measured time, achieved TFLOP/s, % of
the datasheet peak, instrumentation overhead, coverage; per-layer tables; the same forwards summed
by layer type, ``Report.by_type``; and the agreement of our
per-layer times with torch.profiler's times for the same layers) to benchmarks/results/.

    .venv/bin/python benchmarks/gpu_profile.py                    # CUDA, full sweep
    .venv/bin/python benchmarks/gpu_profile.py --device cpu --quick   # proves it runs without a GPU
    PYTHONPATH=. python3 benchmarks/gpu_profile.py --out "$OUT/"      # on the lent GPU machine: only
                                                                      # $OUT comes back

The report is rewritten after every configuration, so a run cut short (time, memory) keeps what it
finished; a configuration that fails is recorded with its error and the sweep goes on. A model whose
package is missing (the Whisper-shaped one needs transformers) is skipped, and the report says so.

The torch.profiler comparison wraps each leaf module in a ``record_function`` range (added by our
own hooks, removed afterwards) and sums, per range, the device (kernel) time of everything launched
inside it (on CPU: the range's CPU time). With CUDA activity on, the profiler also reports a GPU-side
copy of each range (same name, its span on the device): only the CPU-side event is read, whose
``device_time_total`` is the kernels' time, so no range is counted twice. Our time is event-to-event on the stream, so it also
contains the gaps between kernels; the profiler's kernel time does not. A ratio above 1 therefore
measures launch gaps, not an error of either tool.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

import torchcount  # noqa: E402
from torchcount.measure.peaks import peaks_for, tf32_enabled  # noqa: E402

FLOPS = torchcount.CONVENTIONS["flops"]


# ---- models ---------------------------------------------------------------------------------
def resnet50():
    import torchvision
    return torchvision.models.resnet50(), lambda b: (torch.randn(b, 3, 224, 224),)


def vit_b_16():
    import torchvision
    return torchvision.models.vit_b_16(), lambda b: (torch.randn(b, 3, 224, 224),)


def whisper_tiny_shaped():
    """Whisper-tiny's shape from its config (no weights): d_model 384, 4+4 layers, 6 heads,
    80 mel bins, 3000 frames (30 s); the decoder gets 32 tokens."""
    from transformers import WhisperConfig, WhisperModel

    cfg = WhisperConfig(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                        decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536,
                        num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                        vocab_size=51865)
    model = WhisperModel(cfg)

    def inputs(b):
        return {"input_features": torch.randn(b, 80, 3000),
                "decoder_input_ids": torch.randint(0, 51865, (b, 32))}
    return model, inputs


MODELS = {"resnet50": resnet50, "vit_b_16": vit_b_16, "whisper_tiny_shaped": whisper_tiny_shaped}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _cast(x, device, dtype):
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
    if isinstance(x, tuple):
        return tuple(_cast(v, device, dtype) for v in x)
    if isinstance(x, dict):
        return {k: _cast(v, device, dtype) for k, v in x.items()}
    return x


def _call(model, inputs):
    return model(**inputs) if isinstance(inputs, dict) else model(*inputs)


# ---- torch.profiler comparison ---------------------------------------------------------------
@contextmanager
def _ranges(model: nn.Module, paths: set[str]):
    """record_function ranges named ``tc:<path>`` around the given modules; removed on exit."""
    from torch.autograd.profiler import record_function

    handles, stack = [], []
    for path, m in model.named_modules():
        if path not in paths:
            continue

        def pre(mod, args, _p=path):
            r = record_function(f"tc:{_p}")
            r.__enter__()
            stack.append(r)

        def post(mod, args, out):
            stack.pop().__exit__(None, None, None)

        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def profiler_times(model, inputs, paths: set[str], device: torch.device, passes: int = 3) -> dict[str, float]:
    """ms per pass per path: kernel (device) time on CUDA, CPU time of the range on CPU."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.no_grad(), _ranges(model, paths):
        _call(model, inputs)
        with profile(activities=acts) as prof:
            for _ in range(passes):
                _call(model, inputs)
            if device.type == "cuda":
                torch.cuda.synchronize()
    out: dict[str, float] = {}
    cpu_side = torch.autograd.DeviceType.CPU
    for evt in prof.events():
        if evt.name.startswith("tc:") and getattr(evt, "device_type", cpu_side) == cpu_side:
            t = evt.device_time_total if device.type == "cuda" else evt.cpu_time_total
            out[evt.name[3:]] = out.get(evt.name[3:], 0.0) + t / 1e3 / passes
    return out


# ---- one configuration ------------------------------------------------------------------------
def leaves(report):
    """The layers with no layer below them (not the root's '(self)' row: its time is the model's)."""
    paths = [r.path for r in report.layers]
    return [r for r in report.layers
            if r is not report.root and not any(p.startswith(r.path + ".") for p in paths)]


def run_one(name, batch, dtype_name, device, warmup, repeat, compare, ceiling=False):
    build = MODELS[name]
    torch.manual_seed(0)
    model, make = build()
    dtype = DTYPES[dtype_name]
    model = model.eval().to(device=device, dtype=dtype)
    inputs = _cast(make(batch), device, dtype)
    report = torchcount.profile(model, inputs, measure=True, warmup=warmup, repeat=repeat, warn=False,
                                name=name, ceiling=ceiling)
    ex = report.extra
    flops = FLOPS.ops(report.total.cost)
    # the model's effective peak: each layer at its own (TF32 convolutions, FP32 matmuls, …), Σ FLOPs ÷
    # Σ FLOPs/peak, as the report rates its root row
    from torchcount.measure import details

    peak = details(report, "").get("peak_flops")
    t = ex["plain_ms"] / 1e3
    total = {"model": name, "batch": batch, "dtype": dtype_name, "GFLOPs": flops / 1e9,
             "plain_ms": ex["plain_ms"], "instrumented_ms": ex["instrumented_ms"],
             "TFLOP/s": flops / t / 1e12 if t > 0 else None,
             "%peak": 100 * flops / t / peak if peak and t > 0 else None,
             "overhead": ex["overhead"], "coverage": ex["time_coverage"],
             "count coverage": report.coverage, "floor µs": ex.get("call_floor_us"),
             # each row's own time by its bound, as the footer's line: where a launch-bound batch goes
             "time by bound": ", ".join(f"{b} {v:.0f}%" for b, v in (ex.get("time_by_bound") or {}).items()
                                        if v >= 0.5)}
    agreement = None
    if compare:
        lv = [r for r in leaves(report) if r.extra.get("time_ms")]
        prof = profiler_times(model, inputs, {r.path for r in lv}, device)
        pairs = [(r, r.extra["time_ms"], prof.get(r.path)) for r in lv if prof.get(r.path)]
        agreement = {"pairs": pairs}
    return report, total, agreement


def fmt(v, spec=".3g"):
    if v is None:
        return "—"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="batch 1, fp32, few repeats (a smoke run)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--top", type=int, default=12, help="layers per per-layer table")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: 1 on CPU — on a shared machine OpenMP threads stall "
                         "waiting for descheduled siblings — unchanged on CUDA)")
    ap.add_argument("--ceiling", action="store_true",
                    help="measure a matmul/copy ceiling and use it as the peak (default on CPU, which has "
                         "no datasheet peak)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run with --device cpu --quick for a smoke run")
    batches = [1] if args.quick else [int(b) for b in args.batches.split(",")]
    dtypes = ["fp32"] if args.quick else args.dtypes.split(",")
    warmup, repeat = (1, 3) if args.quick else (args.warmup, args.repeat)
    models = args.models.split(",")
    threads = args.threads or (1 if device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    ceiling = args.ceiling or device.type == "cpu"

    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "CPU")
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo") as cpuinfo:
                for line in cpuinfo:
                    if line.startswith("model name"):
                        dev_name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    versions = {"torch": torch.__version__}
    if device.type == "cuda":
        versions["CUDA"] = torch.version.cuda
        versions["cuDNN"] = torch.backends.cudnn.version()
    for mod in ("torchvision", "transformers"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = "not installed"
    now = datetime.datetime.now(datetime.timezone.utc)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    peaks = peaks_for(device)
    unknown = [m for m in models if m not in MODELS] + [d for d in dtypes if d not in DTYPES]
    if unknown:
        sys.exit(f"unknown model or dtype: {', '.join(unknown)}; models: {', '.join(MODELS)}; dtypes: "
                 f"{', '.join(DTYPES)}")
    available, skipped = [], []
    for name in models:  # a model whose package is missing is skipped, not the whole run
        try:
            __import__("transformers" if name == "whisper_tiny_shaped" else "torchvision")
            available.append(name)
        except Exception as exc:  # noqa: BLE001 - also a package built for another torch (RuntimeError)
            skipped.append(f"{name} ({type(exc).__name__}: {exc})")
    gpu = []
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu = [f"- GPU memory: {props.total_memory / 2**30:.1f} GiB, {props.multi_processor_count} SMs, "
               f"compute capability {props.major}.{props.minor}",
               f"- TF32: matmul {tf32_enabled(conv=False)}, cuDNN {tf32_enabled(conv=True)} "
               "(float32 convolutions are rated against the TF32 peak when cuDNN's is on, matmuls when "
               "matmul's is; a model's % of peak uses its layers' own peaks, Σ FLOPs ÷ Σ FLOPs/peak)"]
    out = [f"# torchcount measured profile — {device.type.upper()}{' (quick smoke run)' if args.quick else ''}",
           "", f"- date: {now:%Y-%m-%d %H:%M} UTC", f"- device: {dev_name}",
           f"- torch threads: {torch.get_num_threads()}, load average at start: "
           f"{', '.join(f'{x:.2f}' for x in load) if load else 'n/a'}",
           f"- versions: {', '.join(f'{k} {v}' for k, v in versions.items())}, python {platform.python_version()}",
           f"- peaks: {peaks.name} ({peaks.kind}) — {peaks.source}"
           + ("; replaced by a measured ceiling (faster of matmul and 3×3 conv; copy) per configuration" if ceiling else ""),
           *gpu,
           f"- method: median of {repeat} passes after {warmup} warm-up, no_grad, eval mode; "
           "TFLOP/s = theoretical FLOPs ('flops' convention: 2 per MAC + 1 per other op) ÷ the forward "
           "timed without stamps; overhead = with per-module stamps ÷ without; coverage = Σ leaf exclusive "
           "÷ the instrumented forward",
           ]
    if skipped:
        out.append(f"- skipped (a package this machine lacks): {'; '.join(skipped)}")
    if device.type == "cpu":
        out.append("- NOTE: CPU run on a shared machine while other jobs were running: timings are "
                   "disturbed by load and say nothing about GPU behaviour; they prove the script runs. "
                   "torch.profiler's CPU ranges include the profiler's own per-op recording cost, so "
                   "ratios below 1 are expected on CPU.")
    out.append("")
    slug = "".join(c if c.isalnum() else "_" for c in dev_name.lower()).strip("_")[:40] if device.type == "cuda" \
        else device.type
    default_name = f"gpu_profile_{slug}{'_quick' if args.quick else ''}_{now:%Y%m%d}.md"
    if args.out and (args.out.endswith(("/", os.sep)) or Path(args.out).is_dir()):
        path = Path(args.out) / default_name
    else:
        path = Path(args.out) if args.out else ROOT / "results" / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    totals, per_layer, agreement_rows, failures, types = [], [], [], [], []
    configs = [(name, dtype_name, i, b) for name in available for dtype_name in dtypes for i, b in enumerate(batches)]
    for done, (name, dtype_name, i, b) in enumerate(configs, start=1):
        compare = i in (0, len(batches) - 1)  # agreement at both ends: launch-bound and busy
        print(f"[{done}/{len(configs)}] {name} {dtype_name} batch {b} …", flush=True)
        try:
            report, total, agreement = run_one(name, b, dtype_name, device, warmup, repeat, compare, ceiling)
        except Exception as exc:  # noqa: BLE001 - recorded, and the sweep goes on
            failures.append(f"{name} {dtype_name} batch {b}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            print(f"  failed: {failures[-1]}", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            path.write_text(_document(out, totals, per_layer, agreement_rows, failures, device, types) + "\n")
            continue
        totals.append(total)
        if compare:
            top = sorted(leaves(report), key=lambda r: -(r.extra.get("time_ms") or 0))[:args.top]
            # (a rate above the device's peak is left out, None, with bound "invalid": say so in its cells)
            rows = [[r.name, r.type, FLOPS.ops(r.cost) / 1e9, r.extra.get("time_ms"),
                     *(("invalid", "invalid") if r.extra.get("bound") == "invalid" else
                       (r.extra["GFLOP/s"] / 1e3 if r.extra.get("GFLOP/s") is not None else None, r.extra.get("%peak"))),
                     r.extra.get("AI"), r.extra.get("bound")]
                    for r in top]
            per_layer.append((f"{name}, {dtype_name}, batch {b}: the {len(top)} slowest layers", rows))
            # the same forward summed by layer type: each type's time share beside its FLOPs share
            types.append((f"{name}, {dtype_name}, batch {b}", report.by_type(top=args.top)))
            pairs = agreement["pairs"]
            if pairs:
                ratios = [ours / theirs for _, ours, theirs in pairs if theirs > 0]
                sum_ours = sum(o for _, o, _ in pairs)
                sum_theirs = sum(t for _, _, t in pairs)
                big = [(r, o, t) for r, o, t in pairs if o >= 0.05 * max(o for _, o, _ in pairs)]
                agreement_rows.append([
                    f"{name} {dtype_name} b{b}", len(pairs), sum_ours, sum_theirs,
                    sum_ours / sum_theirs if sum_theirs else None,
                    statistics.median(ratios) if ratios else None,
                    statistics.median([o / t for _, o, t in big]) if big else None])
        del report
        if device.type == "cuda":
            torch.cuda.empty_cache()
        path.write_text(_document(out, totals, per_layer, agreement_rows, failures, device, types) + "\n")
    text = _document(out, totals, per_layer, agreement_rows, failures, device, types)
    print(text)
    path.write_text(text + "\n")
    print(f"written: {path}")
    return 1 if failures else 0


def _document(head, totals, per_layer, agreement_rows, failures, device, types=()) -> str:
    out = list(head)
    if failures:
        out += ["## Failed configurations", "", *[f"- {f}" for f in failures], ""]
    out += ["## Totals", "", md_table(
        ["model", "batch", "dtype", "GFLOPs", "time ms (no stamps)", "time ms (stamps)", "TFLOP/s", "% of peak",
         "overhead", "coverage", "count coverage", "floor µs", "time by bound"],
        [[t["model"], t["batch"], t["dtype"], t["GFLOPs"], t["plain_ms"], t["instrumented_ms"], t["TFLOP/s"],
          t["%peak"], t["overhead"], t["coverage"], t["count coverage"], t["floor µs"], t["time by bound"]]
         for t in totals]), ""]
    out += ["## Per layer", ""]
    for title, rows in per_layer:
        out += [f"### {title}", "", md_table(["layer", "type", "GFLOPs", "time ms", "TFLOP/s", "% peak",
                                              "FLOP/B", "bound"], rows), ""]
    if types:  # (Report.by_type of the configurations with per-layer tables)
        out += ["## By layer type", ""]
        for title, breakdown in types:
            out += [f"### {title}", "", breakdown.to_markdown().rstrip("\n"), ""]
    what = "kernel (device) time" if device.type == "cuda" else "CPU time of the range"
    out += ["## Agreement with torch.profiler", "",
            f"Per leaf layer: our median inclusive time vs torch.profiler's {what} inside a record_function "
            "range around the same module (mean of 3 profiled passes). Ratio = ours ÷ profiler's.", "",
            md_table(["config", "layers", "Σ ours ms", "Σ profiler ms", "Σ ratio", "median ratio",
                      "median ratio (layers ≥5% of the slowest)"], agreement_rows), ""]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
