"""Count a Mixtral-8x7B-shaped Mixture-of-Experts model without its memory, on the ``meta`` device.

The model is ``examples/llama70b_meta.py``'s, imported from it (plain torch modules: nn.Embedding,
nn.Linear, nn.RMSNorm, eager grouped-query attention with rotary embeddings), with a sparse MoE
feed-forward block in place of the dense SwiGLU. It is built under ``torch.device("meta")`` in
bfloat16 (no parameter storage is ever allocated) and profiled with a meta input.

The expert dispatch runs on meta because every shape in it is static. A router (one nn.Linear,
d → E) scores the experts of each token; ``topk`` keeps k of them; the T·k (token, expert) pairs
are sorted by expert, and one ``torch._grouped_mm`` per projection runs every pair's token through
its own expert's weight (``offs``: where each expert's rows end, from a count of the sorted ids).
Each pair costs d·f MACs per projection, so the count is the real per-token work, k experts per
token, whatever the router chose: the total does not depend on the data. (An ``if`` on the
router's choice, ``nonzero`` or a boolean mask per expert — the usual eager MoE loop — cannot run
on meta: their output shapes depend on the data.) ``torch._grouped_mm`` on meta takes bfloat16
only (its meta kernel applies the CUDA kernel's rule), hence the dtype.

Configuration (Mixtral-8x7B's shape): 32 layers, d_model 4096, 32 query heads and 8 key/value
heads (head dim 128), 8 experts per layer of SwiGLU FFN 14336 (gate, up, down), top-2 routing,
vocabulary 32000, RMSNorm, rotary position embeddings, one sequence of 4096 tokens.

Closed form (what the count is checked against)
-----------------------------------------------
Parameters: every layer has attention (q, o: d·d each; k, v: d·h_kv·d_h each), a router (d·E),
E experts (3·d·f each) and two RMSNorm gains (d each); then the embedding V·d, the final norm d
and the lm_head d·V:

    N_total = L·(2·d·d + 2·d·(h_kv·d_h) + d·E + E·3·d·f + 2·d) + 2·V·d + d

A token passes through the attention projections, the router, k of the E experts and the
lm_head. Those are its active linear-layer parameters, one multiply-accumulate each:

    N_active = L·(2·d·d + 2·d·(h_kv·d_h) + d·E + k·3·d·f) + d·V
    F_weights = 2 · N_active · T                 (the router's share: 2·L·d·E·T)

Attention adds QKᵀ and A·V, each T·T·d_h MACs per head, the full T×T scores computed (the causal
mask is added, not skipped, as in an eager implementation):

    F_attention = 4·L·T²·d
    F = F_weights + F_attention

torchcount's total under the ``2mac`` convention (2 per MAC, nothing else) must equal F exactly;
under the default ``flops`` convention it also counts the element-wise work (norms, SiLU, gating,
rotary, softmax of scores and router, top-k, the routing weights, mask and residual additions),
which the closed form leaves out, so there it must agree within 0.5 %.

Run: ``.venv/bin/python examples/moe_meta.py`` (writes benchmarks/results/moe_meta.md). It needs
a torch with ``torch._grouped_mm`` (2.8 or newer).
"""
from __future__ import annotations

import datetime
import platform
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import torchcount

# the Llama example's attention and model shell, from the file beside this one (its folder on the path
# for this import only: left there, it would shadow packages by the other examples' names, such as
# bottleneck, which pandas imports)
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    from llama70b_meta import Attention, Llama
finally:
    sys.path.remove(str(Path(__file__).resolve().parent))

CONFIG = dict(layers=32, d_model=4096, heads=32, kv_heads=8, ffn=14336, experts=8, top_k=2,
              vocab=32000, seq=4096, rope_theta=1e6, eps=1e-5)


class Experts(nn.Module):
    """E SwiGLU experts, their weights stacked as nn.Linear lays them out (out × in per expert)."""

    def __init__(self, experts: int, d: int, f: int):
        super().__init__()
        self.gate_proj = nn.Parameter(torch.empty(experts, f, d))
        self.up_proj = nn.Parameter(torch.empty(experts, f, d))
        self.down_proj = nn.Parameter(torch.empty(experts, d, f))
        for w in (self.gate_proj, self.up_proj, self.down_proj):
            nn.init.normal_(w, std=0.02)

    def forward(self, x, offs):
        """``x``: the (token, expert) pairs' hidden states, sorted by expert; ``offs``: the end of
        each expert's rows. One grouped matrix product per projection: S·d·f MACs each."""
        gate = torch._grouped_mm(x, self.gate_proj.transpose(-2, -1), offs=offs)
        up = torch._grouped_mm(x, self.up_proj.transpose(-2, -1), offs=offs)
        return torch._grouped_mm(F.silu(gate) * up, self.down_proj.transpose(-2, -1), offs=offs)


class SparseMoE(nn.Module):
    """Mixtral's sparse MoE block: softmax router, top-k experts per token, weights renormalised."""

    def __init__(self, d: int, f: int, experts: int, top_k: int):
        super().__init__()
        self.num_experts, self.top_k = experts, top_k
        self.router = nn.Linear(d, experts, bias=False)
        self.experts = Experts(experts, d, f)

    def forward(self, x):
        b, t, d = x.shape
        h = x.reshape(b * t, d)
        probs = F.softmax(self.router(h), dim=-1, dtype=torch.float32)
        weights, chosen = probs.topk(self.top_k, dim=-1)  # (T, k) each
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(h.dtype)
        # the T·k (token, expert) pairs, sorted by expert; offs = where each expert's rows end
        expert_ids, order = torch.sort(chosen.reshape(-1))
        token = order // self.top_k
        per_expert = torch.zeros(self.num_experts, dtype=torch.int32, device=h.device).index_add_(
            0, expert_ids, torch.ones_like(expert_ids, dtype=torch.int32))
        offs = per_expert.cumsum(0, dtype=torch.int32)
        out = self.experts(h[token], offs) * weights.reshape(-1)[order].unsqueeze(-1)
        # each token's k expert outputs, weighted, summed back into its row
        return torch.zeros_like(h).index_add_(0, token, out).view(b, t, d)


class Block(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.attn_norm = nn.RMSNorm(c["d_model"], eps=c["eps"])
        self.attn = Attention(c["d_model"], c["heads"], c["kv_heads"])
        self.moe_norm = nn.RMSNorm(c["d_model"], eps=c["eps"])
        self.moe = SparseMoE(c["d_model"], c["ffn"], c["experts"], c["top_k"])

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.moe(self.moe_norm(x))


class Mixtral(Llama):
    """The Llama example's model (embedding, rotary tables, causal mask, final norm, lm_head) with
    the Mixture-of-Experts block."""
    block = Block


def build(config: dict, device: "str | torch.device" = "meta") -> Mixtral:
    """The model in bfloat16 (``torch._grouped_mm`` on meta takes bfloat16 only), eval mode."""
    with torch.device(device):
        return Mixtral(config).eval().to(torch.bfloat16)


def closed_form(c: dict) -> dict:
    """The closed form of the module docstring, term by term."""
    L, d, f, V, T, E, k = c["layers"], c["d_model"], c["ffn"], c["vocab"], c["seq"], c["experts"], c["top_k"]
    kv = c["kv_heads"] * (d // c["heads"])
    attention = 2 * d * d + 2 * d * kv
    n_total = L * (attention + d * E + E * 3 * d * f + 2 * d) + 2 * V * d + d
    n_active = L * (attention + d * E + k * 3 * d * f) + d * V
    f_weights = 2 * n_active * T
    f_attention = 4 * L * T * T * d
    return {"params": n_total, "active_linear_params": n_active,
            "active_params": n_total - L * (E - k) * 3 * d * f,  # all but the E − k experts a token skips
            "router_flops": 2 * L * d * E * T, "weights_flops": f_weights,
            "attention_flops": f_attention, "flops": f_weights + f_attention}


def main(config: dict = CONFIG, write: bool = True) -> dict:
    t0 = time.perf_counter()
    model = build(config)
    ids = torch.zeros(1, config["seq"], dtype=torch.long, device="meta")
    t1 = time.perf_counter()
    with torch.no_grad():
        report = torchcount.profile(model, ids, name=f"Mixtral-style {config['layers']}-layer MoE (meta)")
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
        "rows": len(report.layers), "report": report,
    }
    print(report.table(depth=2, units=True))
    print()
    for key in ("params", "macs", "flops_2mac", "flops"):
        print(f"{key:12s} {out[key]:>26,}")
    print(f"parameters: {ref['params']:,} in all; {ref['active_params']:,} active per token "
          f"({ref['active_linear_params']:,} of them in linear layers)")
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
        "# Mixtral-8x7B-shaped MoE counted on the meta device", "",
        "Produced by `examples/moe_meta.py`.", "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {cpu}; {platform.platform()}; python {platform.python_version()}, torch {torch.__version__}",
        "- the machine was shared with other processes during the run (times are wall clock)", "",
        f"Config: {c['layers']} layers, d_model {c['d_model']}, {c['heads']} query / {c['kv_heads']} kv heads, "
        f"{c['experts']} SwiGLU experts of FFN {c['ffn']} per layer, top-{c['top_k']} routing, "
        f"vocabulary {c['vocab']}, sequence {c['seq']}, batch 1, bfloat16.", "",
        "| figure | value |", "|---|---:|",
        f"| parameters (torchcount) | {out['params']:,} |",
        f"| parameters (closed form) | {ref['params']:,} |",
        f"| active parameters per token (closed form) | {ref['active_params']:,} |",
        f"| active linear-layer parameters N_active | {ref['active_linear_params']:,} |",
        f"| MACs (torchcount) | {out['macs']:,} |",
        f"| FLOPs, `2mac` convention (torchcount) | {out['flops_2mac']:,} |",
        f"| FLOPs, `flops` convention (torchcount, incl. element-wise) | {out['flops']:,} |",
        f"| closed form: 2·N_active·T | {ref['weights_flops']:,} |",
        f"| of which the router: 2·L·d·E·T | {ref['router_flops']:,} |",
        f"| closed form: 4·L·T²·d (attention) | {ref['attention_flops']:,} |",
        f"| closed form total | {ref['flops']:,} |",
        f"| `2mac` − closed form (relative) | {out['rel_diff_2mac']:+.5%} |",
        f"| `flops` − closed form (relative; budget ±0.5 %) | {out['rel_diff_flops']:+.4%} |",
        f"| build the model on meta | {out['build_s']:.2f} s |",
        f"| count (profile on meta) | {out['count_s']:.2f} s |",
        f"| peak resident memory of the process | {out['peak_rss_gb']:.2f} GiB |",
        f"| coverage | {out['coverage']:.2%} |",
    ]
    if out["uncounted"]:
        lines.append(f"\nUncounted ops at the time of the run: {', '.join(out['uncounted'])}")
    lines += ["", "Per block (default `flops` convention):", "", "```",
              report.table(depth=2, units=True), "```"]
    (res / "moe_meta.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {res / 'moe_meta.md'}")


if __name__ == "__main__":
    main()
    sys.exit(0)
