"""Head to head: ``profile``'s extra time under two versions of torchcount, in one process.

Ratios from ``overhead.py`` runs minutes apart move by more than most single changes (the
host's speed drifts), so a change is judged here instead: the package at git revision
``--base`` is extracted under another name (``tc_base``) and loaded beside the working
tree's ``torchcount``; each iteration runs a plain forward, one version's ``profile``, a
plain forward, the other version's ``profile`` (alternating which goes first), so that both
see the same host state and each profile starts right after a forward (cold caches, as in
``overhead.py``). The verdict is the median of the paired differences.

    .venv/bin/python benchmarks/head_to_head.py --base HEAD~5 [--models mobilenet_v2,resnet50] [--n 300]

``--models``: torchvision names, ``whisper_tiny`` or ``melspectrogram`` (compare_tools.py's).

Writes benchmarks/results/head_to_head.md and head_to_head.json.
"""
from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402


def load_base(rev: str, into: Path):
    """The ``torchcount`` package at git revision ``rev``, imported as ``tc_base`` (its
    imports are relative, so it runs under another name)."""
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "torchcount"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (into / "torchcount").rename(into / "tc_base")
    sys.path.insert(0, str(into))
    return importlib.import_module("tc_base")


def quartiles(values: list[float]) -> tuple[float, float, float]:
    v = sorted(values)
    return v[len(v) // 4], statistics.median(v), v[3 * len(v) // 4]


def run(name: str, n: int, base, work) -> dict:
    if name == "whisper_tiny":
        model, inputs = C.whisper_tiny_shaped()
    elif name == "melspectrogram":  # (compare_tools.py's: its two modules' ops are recorded)
        import torchaudio

        model = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=80).eval()
        inputs = (torch.randn(1, 16000 * 30),)
    else:
        model, inputs = C.vision(name)
    args, kwargs = (None, inputs) if isinstance(inputs, dict) else (inputs, None)

    def plain():
        C.call(model, inputs)

    def profiler(pkg):
        def profile():
            report = pkg.profile(model, args, kwargs=kwargs, warn=False)
            return report.total.flops, len(report.layers)  # the answer is read inside the timed call
        return profile

    fns = {"base": profiler(base), "work": profiler(work)}
    clock = time.thread_time
    times: dict[str, list[float]] = {"plain": [], "base": [], "work": []}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fns["base"]() != fns["work"]():
            raise SystemExit(f"{name}: the two versions count differently; compare speed only on equal answers")
        for i in range(n):
            first, second = ("base", "work") if i % 2 == 0 else ("work", "base")
            t = clock()
            plain()
            times["plain"].append(clock() - t)
            t = clock()
            fns[first]()
            times[first].append(clock() - t)
            plain()
            t = clock()
            fns[second]()
            times[second].append(clock() - t)
    plain_ms = statistics.median(times["plain"]) * 1e3
    out = {"model": name, "pairs": n, "plain_ms": plain_ms}
    for k in ("base", "work"):
        out[f"{k}_extra_ms"] = quartiles([(b - a) * 1e3 for a, b in zip(times["plain"], times[k])])
        out[f"{k}_ratio"] = statistics.median(times[k]) * 1e3 / plain_ms
    out["difference_ms"] = quartiles([(w - b) * 1e3 for b, w in zip(times["base"], times["work"])])
    out["raw_s"] = times
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="git revision to compare the working tree against")
    ap.add_argument("--models", default="mobilenet_v2,resnet50")
    ap.add_argument("--n", type=int, default=300, help="pairs per model")
    ap.add_argument("--threads", type=int, default=1)
    opts = ap.parse_args(argv)
    torch.set_num_threads(opts.threads)
    base_rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", opts.base], check=True,
                              capture_output=True, text=True).stdout.strip()
    sys.path.insert(0, str(ROOT))
    import torchcount as work
    mach = C.machine()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_base(opts.base, Path(tmp))
        rows = []
        for name in opts.models.split(","):
            r = run(name, opts.n, base, work)
            rows.append(r)
            lo, mid, hi = r["difference_ms"]
            print(f"{name:14s} plain {r['plain_ms']:7.1f} ms | extra {r['base_extra_ms'][1]:6.2f} → "
                  f"{r['work_extra_ms'][1]:6.2f} ms | ratio ×{r['base_ratio']:.3f} → ×{r['work_ratio']:.3f} | "
                  f"paired difference {mid:+.2f} [{lo:+.2f}, {hi:+.2f}] ms", flush=True)
    C.write_json("head_to_head.json", {"machine": mach, "base": base_rev, "results": rows})
    lines = [
        f"# Head to head: `profile` at {base_rev} vs the working tree", "",
        "Produced by `benchmarks/head_to_head.py`: both versions loaded in one process, each profile right "
        "after a plain forward, the two alternating; CPU time of this thread. Extra time = profile − the "
        "plain forward just before it (median); the paired difference is work − base per iteration "
        "(median [quartiles]).", "",
        C.machine_md(mach) + f"- threads: {opts.threads}", "",
        "| model | pairs | plain forward | extra, base → work | ratio, base → work | paired difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lo, mid, hi = r["difference_ms"]
        lines.append(f"| {r['model']} | {r['pairs']} | {r['plain_ms']:.1f} ms | {r['base_extra_ms'][1]:.2f} → "
                     f"{r['work_extra_ms'][1]:.2f} ms | ×{r['base_ratio']:.3f} → ×{r['work_ratio']:.3f} | "
                     f"{mid:+.2f} [{lo:+.2f}, {hi:+.2f}] ms |")
    (C.RESULTS / "head_to_head.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {C.RESULTS / 'head_to_head.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
