"""Shared by the benchmark scripts: the models, the machine description, result writing."""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

RESULTS = Path(__file__).resolve().parent / "results"


def whisper_tiny_shaped():
    """Whisper-tiny's shape from its config (no weights download): d_model 384, 4 encoder and
    4 decoder layers, 6 heads, 80 mel bins, 3000 frames. Returns (model, inputs dict)."""
    from transformers import WhisperConfig, WhisperModel

    cfg = WhisperConfig(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                        decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536,
                        num_mel_bins=80, max_source_positions=1500, vocab_size=51865)
    torch.manual_seed(0)
    model = WhisperModel(cfg).eval()
    inputs = {"input_features": torch.randn(1, 80, 3000),
              "decoder_input_ids": torch.tensor([[50258, 50259, 50359, 50363]])}
    return model, inputs


def vision(name: str):
    import torchvision

    torch.manual_seed(0)
    return getattr(torchvision.models, name)().eval(), torch.randn(1, 3, 224, 224)


class _EveryOp(TorchDispatchMode):
    """A dispatch mode that notes every aten op and runs it: the naive op capture."""

    def __init__(self, log: list):
        super().__init__()
        self.log = log

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.log.append(func)
        return func(*args, **(kwargs or {}))


@contextmanager
def naive_capture(model, every_op: bool) -> Iterator[list]:
    """The issue's yardstick (#7): a Python forward pre-hook and forward hook on every module,
    plus (``every_op``) a dispatch mode seeing every op. The hooks note only the module: keeping
    the inputs or outputs would keep every activation alive and slow the forward itself (measured:
    ResNet-50 ×1.43 instead of ×1.02), which is not the capture's price but a memory effect."""
    log: list = []
    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(lambda mod, args: log.append(mod)))
        handles.append(m.register_forward_hook(lambda mod, args, out: log.append(mod)))
    try:
        if every_op:
            with _EveryOp(log):
                yield log
        else:
            yield log
    finally:
        for h in handles:
            h.remove()


def call(model, inputs):
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def machine() -> dict:
    import tabulate  # noqa: F401

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("torchvision", "torchaudio", "transformers"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = "not installed"
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "versions": versions,
        "load_average_1_5_15": [round(x, 2) for x in load],
    }


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) of one call."""
    w, c = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - w, time.thread_time() - c


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                before: "Callable[[], object] | None" = None) -> dict:
    """Run every function ``repeats`` times, interleaved (A B C A B C …) so that drifting
    machine load hits all of them alike. ``before``, when given, runs untimed before every
    timed call, so that each one starts from the same state (in overhead.py: right after a
    plain forward, whose kernels leave the CPU caches cold for the Python that follows, as
    when a user profiles a model they have just run). Returns per name the median wall and
    CPU seconds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            if before is not None:
                before()
            w, c = timed(fn)
            wall[k].append(w)
            cpu[k].append(c)
    return {k: {"wall_s": statistics.median(wall[k]), "cpu_s": statistics.median(cpu[k]),
                "wall_all": wall[k], "cpu_all": cpu[k]} for k in fns}


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def machine_md(m: dict) -> str:
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
    return (f"- date: {m['date']}\n- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, "
            f"torch threads {m['torch_threads']}; {m['platform']}\n- versions: {v}\n"
            f"- load average (1/5/15 min) when the run started: {m['load_average_1_5_15']}\n")
