"""Count a Llama-style 70B model without its memory: everything on the ``meta`` device.

The model is written with plain torch modules (nn.Embedding, nn.Linear, nn.RMSNorm and a
few lines of attention / rotary / SwiGLU code), built under ``torch.device("meta")`` — no
parameter storage is ever allocated — and profiled with a meta input. torchcount's hooks
and op rules read only shapes and dtypes, so the count is the same as on real tensors.

Configuration (Llama-3-70B's shape): 80 layers, d_model 8192, 64 query heads and 8
key/value heads (grouped-query attention, head dim 128), SwiGLU FFN 28672 (gate, up, down),
vocabulary 128256, RMSNorm, rotary position embeddings, one sequence of 4096 tokens.

Closed form (what the count is checked against)
-----------------------------------------------
Every weight matrix W of a linear layer (n_in × n_out parameters) costs one
multiply-accumulate per parameter per token = 2 FLOPs per parameter per token. The
embedding table is a look-up (no arithmetic) and RMSNorm gains are element-wise scales,
so the "weights" term counts the parameters of the linear layers only:

    N_lin = L·(2·d·d + 2·d·(h_kv·d_h) + 3·d·f) + d·V        (q, o; k, v; gate, up, down; lm_head)
    F_weights = 2 · N_lin · T

Attention adds two contractions per layer that have no parameters, QKᵀ (T×d_h by d_h×T per
head) and A·V (T×T by T×d_h per head), each T·T·d_h MACs per head over h heads, with the
full T×T score matrix computed (a causal mask is *added*, not skipped — as in an eager
implementation):

    F_attention = L · 2 · (2 · T² · h · d_h) = 4·L·T²·d           (d = h·d_h)

    F = F_weights + F_attention

torchcount's total under the ``2mac`` convention (2 per MAC, nothing else) must equal F
exactly; under the default ``flops`` convention it also counts the element-wise work
(RMSNorm, SiLU, the gating product, rotary, softmax, mask and residual additions), which
the closed form leaves out, so there it must agree within 0.5 %.

Run: ``.venv/bin/python examples/llama70b_meta.py`` (writes
benchmarks/results/llama70b_meta.md).
"""
from __future__ import annotations

import datetime
import math
import platform
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import torchcount

CONFIG = dict(layers=80, d_model=8192, heads=64, kv_heads=8, ffn=28672, vocab=128256, seq=4096,
              rope_theta=500000.0, eps=1e-5)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, kv_heads: int):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k.repeat_interleave(groups, dim=1)  # grouped-query attention: share each k/v head
        v = v.repeat_interleave(groups, dim=1)
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        attn = F.softmax(scores + mask, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return self.o_proj(out)


class SwiGLU(nn.Module):
    def __init__(self, d: int, f: int):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.attn_norm = nn.RMSNorm(c["d_model"], eps=c["eps"])
        self.attn = Attention(c["d_model"], c["heads"], c["kv_heads"])
        self.mlp_norm = nn.RMSNorm(c["d_model"], eps=c["eps"])
        self.mlp = SwiGLU(c["d_model"], c["ffn"])

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.mlp(self.mlp_norm(x))


class Llama(nn.Module):
    block = Block  # (examples/moe_meta.py's Mixtral is this model with a Mixture-of-Experts block)

    def __init__(self, c: dict):
        super().__init__()
        self.embed = nn.Embedding(c["vocab"], c["d_model"])
        self.layers = nn.ModuleList(self.block(c) for _ in range(c["layers"]))
        self.norm = nn.RMSNorm(c["d_model"], eps=c["eps"])
        self.lm_head = nn.Linear(c["d_model"], c["vocab"], bias=False)
        head_dim = c["d_model"] // c["heads"]
        inv_freq = 1.0 / c["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        positions = torch.arange(c["seq"], dtype=torch.float32)
        angles = torch.outer(positions, inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.register_buffer("mask", torch.full((c["seq"], c["seq"]), float("-inf")).triu(1), persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin, mask = self.cos[:t], self.sin[:t], self.mask[:t, :t]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def closed_form(c: dict) -> dict:
    """The closed form of the module docstring, term by term."""
    L, d, f, V, T = c["layers"], c["d_model"], c["ffn"], c["vocab"], c["seq"]
    d_h = d // c["heads"]
    kv = c["kv_heads"] * d_h
    n_lin = L * (2 * d * d + 2 * d * kv + 3 * d * f) + d * V
    n_params = n_lin + V * d + L * 2 * d + d  # + embedding + 2 RMSNorm gains per layer + final norm
    f_weights = 2 * n_lin * T
    f_attention = 4 * L * T * T * d
    return {"linear_params": n_lin, "params": n_params, "weights_flops": f_weights,
            "attention_flops": f_attention, "flops": f_weights + f_attention}


def main(config: dict = CONFIG, write: bool = True) -> dict:
    t0 = time.perf_counter()
    with torch.device("meta"):
        model = Llama(config).eval()
    ids = torch.zeros(1, config["seq"], dtype=torch.long, device="meta")
    t1 = time.perf_counter()
    with torch.no_grad():
        report = torchcount.profile(model, ids, name=f"Llama-style {config['layers']}-layer (meta)")
    t2 = time.perf_counter()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    ref = closed_form(config)
    counted_2mac = report.with_convention("2mac").total.flops
    counted_flops = report.total.flops
    out = {
        "config": config, "closed_form": ref,
        "params": report.total.params, "macs": report.total.macs,
        "flops_2mac": counted_2mac, "flops": counted_flops,
        "rel_diff_2mac": (counted_2mac - ref["flops"]) / ref["flops"],
        "rel_diff_flops": (counted_flops - ref["flops"]) / ref["flops"],
        "build_s": t1 - t0, "count_s": t2 - t1, "peak_rss_gb": rss_gb,
        "coverage": report.coverage, "uncounted": sorted({u.what for u in report.uncounted}),
        "rows": len(report.layers),
    }
    print(report.table(depth=2, units=True))
    print()
    for k in ("params", "macs", "flops_2mac", "flops"):
        print(f"{k:12s} {out[k]:>26,}")
    print(f"closed form  {ref['flops']:>26,}  (weights {ref['weights_flops']:,} + attention "
          f"{ref['attention_flops']:,})")
    print(f"2mac vs closed form: {out['rel_diff_2mac']:+.4%}; flops vs closed form: {out['rel_diff_flops']:+.4%}")
    print(f"build {out['build_s']:.2f} s, count {out['count_s']:.2f} s, peak RSS {rss_gb:.2f} GiB, "
          f"coverage {report.coverage:.1%}")
    if write:
        _write(out, report)
    return out


def _write(out: dict, report) -> None:
    ref = out["closed_form"]
    c = out["config"]
    res = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    cpu = platform.processor()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        "# Llama-style 70B counted on the meta device", "",
        "Produced by `examples/llama70b_meta.py`.", "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {cpu}; {platform.platform()}; python {platform.python_version()}, torch {torch.__version__}",
        "- the machine was shared with other processes during the run (times are wall clock)", "",
        f"Config: {c['layers']} layers, d_model {c['d_model']}, {c['heads']} query / {c['kv_heads']} kv heads, "
        f"SwiGLU FFN {c['ffn']}, vocabulary {c['vocab']}, sequence {c['seq']}, batch 1.", "",
        "| figure | value |", "|---|---:|",
        f"| parameters (torchcount) | {out['params']:,} |",
        f"| parameters (closed form) | {ref['params']:,} |",
        f"| linear-layer parameters N_lin | {ref['linear_params']:,} |",
        f"| MACs (torchcount) | {out['macs']:,} |",
        f"| FLOPs, `2mac` convention (torchcount) | {out['flops_2mac']:,} |",
        f"| FLOPs, `flops` convention (torchcount, incl. element-wise) | {out['flops']:,} |",
        f"| closed form: 2·N_lin·T | {ref['weights_flops']:,} |",
        f"| closed form: 4·L·T²·d (attention) | {ref['attention_flops']:,} |",
        f"| closed form total | {ref['flops']:,} |",
        f"| `2mac` − closed form (relative) | {out['rel_diff_2mac']:+.5%} |",
        f"| `flops` − closed form (relative; budget ±0.5 %) | {out['rel_diff_flops']:+.4%} |",
        f"| build the model on meta | {out['build_s']:.2f} s |",
        f"| count (profile on meta) | {out['count_s']:.2f} s (budget 10 s) |",
        f"| peak resident memory of the process | {out['peak_rss_gb']:.2f} GiB (budget 2 GB) |",
        f"| coverage | {out['coverage']:.2%} |",
    ]
    if out["uncounted"]:
        lines.append(f"\nUncounted ops at the time of the run: {', '.join(out['uncounted'])}")
    lines += ["", "Per block (default `flops` convention):", "", "```",
              report.table(depth=2, units=True), "```"]
    (res / "llama70b_meta.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {res / 'llama70b_meta.md'}")


if __name__ == "__main__":
    main()
    sys.exit(0)
