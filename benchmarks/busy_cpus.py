"""What a busy machine does to a measured profile, and what the "busy CPUs" line says of it.

ResNet-18 at batch 2, 128×128, ``profile(measure=True, ceiling=True, warmup=1, repeat=5)``, first on
the idle machine, then beside ``--spinners`` processes spinning in Python (default: one more than the
CPUs this process may use), then idle again, then idle with twice as many torch threads as CPUs.
Per run: the forward's time, how long the process's threads waited for a CPU per forward
(``extra["cpu_wait_ms"]``, from the scheduler's statistics), the time by bound, and whether the
footer's "busy CPUs" line was printed.

    .venv/bin/python benchmarks/busy_cpus.py [--spinners N]

Writes benchmarks/results/busy_cpus.md and busy_cpus.json. Linux (``/proc/self/task/*/schedstat``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import torchcount  # noqa: E402
from torchcount.measure.timing import cpu_wait_ns  # noqa: E402

SPIN = "import time\nt = time.time()\nwhile time.time() - t < 600: pass"


def one_run(label: str, model, x) -> dict:
    r = torchcount.profile(model, x, measure=True, ceiling=True, warmup=1, repeat=5)
    e = r.extra
    busy = [line for line in e["footer"] if line.startswith("busy CPUs: ")]
    return {"run": label, "root_ms": e["root_ms"], "cpu_wait_ms": e["cpu_wait_ms"],
            "cpu_wait_range_ms": e["cpu_wait_range_ms"], "time_by_bound": e["time_by_bound"],
            "busy_line": busy[0] if busy else None}


def main() -> None:
    cpus = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spinners", type=int, default=cpus + 1,
                        help="spinning processes beside the busy run (default: the CPUs this process may use, + 1)")
    args = parser.parse_args()
    if cpu_wait_ns() is None:
        sys.exit("this system keeps no scheduler statistics (/proc/self/task/*/schedstat)")
    import torchvision

    torch.manual_seed(0)
    model, x = torchvision.models.resnet18().eval(), torch.randn(2, 3, 128, 128)
    machine = C.machine()
    runs = [one_run("idle", model, x)]
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.spinners)]
    try:
        time.sleep(0.5)
        runs.append(one_run(f"beside {args.spinners} spinning processes", model, x))
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    time.sleep(0.5)
    runs.append(one_run("idle again", model, x))
    threads = torch.get_num_threads()
    torch.set_num_threads(2 * cpus)  # (more torch threads than CPUs: they wait for each other)
    try:
        runs.append(one_run(f"idle, torch.set_num_threads({2 * cpus})", model, x))
    finally:
        torch.set_num_threads(threads)

    from tabulate import tabulate

    rows = [[r["run"], f"{r['root_ms']:.1f}", f"{r['cpu_wait_ms']:.3g}",
             f"{r['cpu_wait_range_ms'][0]:.3g}–{r['cpu_wait_range_ms'][1]:.3g}",
             ", ".join(f"{b} {v:.0f}%" for b, v in r["time_by_bound"].items() if v >= 0.5),
             "yes" if r["busy_line"] else "no"] for r in runs]
    text = "\n".join([
        "# A busy machine and the measured profile", "", C.machine_md(machine),
        f"ResNet-18, batch 2, 128×128; `profile(measure=True, ceiling=True, warmup=1, repeat=5)`; "
        f"{cpus} CPUs usable.", "",
        tabulate(rows, headers=["run", "forward ms", "waited for a CPU, ms per forward", "range",
                                "time by bound", "'busy CPUs' line"], tablefmt="github"), "",
        *(f"- {r['run']}: {r['busy_line']}" for r in runs if r["busy_line"]), ""])
    print(text)
    (C.RESULTS / "busy_cpus.md").write_text(text)
    C.write_json("busy_cpus.json", {"machine": machine, "spinners": args.spinners, "runs": runs})


if __name__ == "__main__":
    main()
