"""State-space and linear-attention blocks written in plain PyTorch: a Mamba block (selective scan
as a loop over time and as a parallel cumsum/exp form), an S4D layer (its kernel by a complex
Vandermonde product, the long convolution by rfft/irfft), a Hyena operator (FFT long convolution
and element-wise gates), RWKV-4 time mixing (token shift by nn.ZeroPad2d or by slicing, the WKV
recurrence as a loop), RetNet retention (parallel with a decay mask, and recurrent), and linear
attention (elu + 1 features, einsum). Each is profiled whole: coverage complete, every operation
category equal to a closed form written out below by hand (the element-wise recipes and the FFT
convention of docs/coverage.md), and the MACs equal to torch.utils.flop_counter's (FLOPs / 2), which
counts the matrix products and convolutions only. One runs on the meta device, one with measure=True."""
from __future__ import annotations

import copy
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from torchcount.cost import OP_CATEGORIES

from conftest import run

# per-element recipes (docs/coverage.md, the element-wise table), written out here
SILU = {"transc": 1, "adds": 1, "divs": 1, "mults": 1}            # x / (1 + e^−x)
SIGMOID = {"transc": 1, "adds": 1, "divs": 1}                     # 1 / (1 + e^−x)
SOFTPLUS = {"mults": 1, "transc": 2, "adds": 1, "divs": 1, "cmps": 1, "assigns": 1}  # βx > t ? x : log(1 + e^(βx))/β
GELU = {"transc": 1, "mults": 3, "adds": 1}                       # 0.5·x·(1 + erf(x/√2))
GLU = {"transc": 1, "adds": 1, "divs": 1, "mults": 1}             # a·σ(b)
ELU = {"cmps": 1, "transc": 1, "adds": 1, "mults": 1, "assigns": 1}  # x > 0 ? x : α·(e^x − 1)


def ops(**counts) -> Counter:
    return Counter(counts)


def per(recipe: dict, n: int) -> Counter:
    return Counter({k: v * n for k, v in recipe.items()})


def real_fft(transforms: int, n: int) -> Counter:
    """The FFT convention (rules/fft.py): a real FFT of size n is n·log2 n mults + 1.5·n·log2 n adds."""
    nlog = n * math.log2(n)
    return ops(mults=round(transforms * nlog), adds=round(transforms * 1.5 * nlog))


def counted(report) -> dict:
    return {c: getattr(report.total.cost, c) for c in OP_CATEGORIES if getattr(report.total.cost, c)}


def closed(*parts: Counter) -> dict:
    return dict(sum(parts, Counter()))


def profile_and_flop_counter(model, x):
    model.eval()
    xs = x if isinstance(x, tuple) else (x,)
    with torch.no_grad():
        report = run(model, *xs)
        with FlopCounterMode(display=False) as fc:
            model(*xs)
    assert report.complete, report.uncounted
    return report, fc.get_total_flops() // 2


# ---- (a) Mamba --------------------------------------------------------------------------------
class Mamba(nn.Module):
    def __init__(self, d_model=8, d_state=4, d_conv=4, expand=2, dt_rank=2, parallel=False):
        super().__init__()
        d_inner = expand * d_model
        self.d_inner, self.d_state, self.dt_rank, self.parallel = d_inner, d_state, dt_rank, parallel
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.act = nn.SiLU()
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x):                                   # (B, L, d_model)
        L = x.shape[1]
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = self.act(self.conv1d(x.transpose(1, 2))[..., :L].transpose(1, 2))  # causal: pad, cut
        A = -torch.exp(self.A_log)
        delta, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(delta))
        dA = delta.unsqueeze(-1) * A                        # (B, L, D, N)
        dBx = delta.unsqueeze(-1) * B.unsqueeze(2) * x.unsqueeze(-1)
        if self.parallel:   # h_t = e^(S_t) · Σ_{s ≤ t} e^(−S_s)·dBx_s, S the running sum of dA
            S = torch.cumsum(dA, dim=1)
            h = torch.exp(S) * torch.cumsum(dBx * torch.exp(-S), dim=1)
            y = torch.einsum("bldn,bln->bld", h, C)
        else:
            dA = torch.exp(dA)
            h = x.new_zeros(x.shape[0], self.d_inner, self.d_state)
            ys = []
            for t in range(L):
                h = dA[:, t] * h + dBx[:, t]
                ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))
            y = torch.stack(ys, dim=1)
        y = y + x * self.D
        return self.out_proj(y * F.silu(z))


def mamba_closed_form(B, L, d_model, D, N, R, K, parallel):
    T = B * L                                    # tokens
    P = L + K - 1                                # conv outputs before the causal cut
    common = [
        ops(macs=T * d_model * 2 * D),                                  # in_proj
        ops(macs=B * D * K * P, adds=B * D * P),                        # depthwise conv1d, bias
        per(SILU, T * D),                                               # act
        ops(macs=T * D * (R + 2 * N)),                                  # x_proj
        ops(macs=T * R * D, adds=T * D),                                # dt_proj, bias
        ops(transc=D * N, mults=D * N),                                 # A = −exp(A_log)
        per(SOFTPLUS, T * D),                                           # Δ
        ops(mults=3 * T * D * N),                                       # Δ·A, Δ·B·x
        ops(mults=T * D, adds=T * D),                                   # + x·D
        per(SILU, T * D), ops(mults=T * D),                             # · silu(z)
        ops(macs=T * D * d_model),                                      # out_proj
    ]
    if parallel:
        scan = [ops(adds=2 * B * D * N * (L - 1)),                      # two cumsums over L
                ops(transc=2 * T * D * N, mults=T * D * N),             # e^S, e^−S (and −S)
                ops(mults=2 * T * D * N),                               # dBx·e^−S, e^S·(…)
                ops(macs=T * D * N)]                                    # y = h·C
    else:
        scan = [ops(transc=T * D * N),                                  # e^(Δ·A)
                ops(mults=L * B * D * N, adds=L * B * D * N),           # h = dA·h + dBx, per step
                ops(macs=L * B * D * N)]                                # y_t = h·C_t, per step
    return closed(*common, *scan)


@pytest.mark.parametrize("parallel", [False, True], ids=["loop", "cumsum"])
def test_mamba_block(parallel):
    B, L, d_model, N, R, K = 2, 6, 8, 4, 2, 4
    report, fc_macs = profile_and_flop_counter(Mamba(d_model, N, K, 2, R, parallel), torch.randn(B, L, d_model))
    assert counted(report) == mamba_closed_form(B, L, d_model, 2 * d_model, N, R, K, parallel)
    assert report.total.macs == fc_macs
    # the causal conv is priced on the L + K − 1 outputs it computed, before the cut
    assert report.row("conv1d").macs == B * 2 * d_model * K * (L + K - 1)


def test_mamba_minimal_einsums_without_a_summed_index_are_multiplications():
    # mamba-minimal writes Δ·A and Δ·B·x as einsums; with no index summed torch runs them as
    # element-wise products: B·L·D·N multiplications each (two for the three-operand one), no MAC
    B, L, D, N = 2, 6, 16, 4
    delta, A, Bm, x = torch.rand(B, L, D), -torch.rand(D, N), torch.randn(B, L, N), torch.randn(B, L, D)

    class Discretise(nn.Module):
        def forward(self, delta, A, Bm, x):
            return (torch.exp(torch.einsum("bld,dn->bldn", delta, A)),
                    torch.einsum("bld,bln,bld->bldn", delta, Bm, x))

    with torch.backends.opt_einsum.flags(enabled=False):  # left to right: (δ⊗B)·x, B·L·D·N each
        report, fc_macs = profile_and_flop_counter(Discretise(), (delta, A, Bm, x))
    assert counted(report) == {"mults": 3 * B * L * D * N, "transc": B * L * D * N}
    assert report.total.macs == fc_macs == 0
    if torch.backends.opt_einsum.is_available():
        # with opt_einsum installed (torch's default then) the cheaper order runs, and is what is counted:
        # δ·x first (B·L·D), then its outer product with B (B·L·D·N); seen on the GPU machine's image
        report = run(Discretise(), delta, A, Bm, x)
        assert counted(report) == {"mults": 2 * B * L * D * N + B * L * D, "transc": B * L * D * N}


def test_mamba_measured_counts_equal_the_counted_ones():
    model, x = Mamba().eval(), torch.randn(2, 6, 8)
    counted_only = run(model, x)
    measured = run(model, x, measure=True, warmup=1, repeat=3)
    assert counted(measured) == counted(counted_only)
    assert [r.cost for r in measured.layers] == [r.cost for r in counted_only.layers]
    assert all(r.extra["time_ms"] > 0 for r in measured.layers if r.path)


# ---- (b) S4D ----------------------------------------------------------------------------------
class S4D(nn.Module):
    def __init__(self, H=4, N=8):
        super().__init__()
        self.log_dt = nn.Parameter(torch.rand(H) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        self.C = nn.Parameter(torch.randn(H, N // 2, 2))
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2).float().repeat(H, 1))
        self.D = nn.Parameter(torch.randn(H))
        self.activation = nn.GELU()
        self.output_linear = nn.Sequential(nn.Conv1d(H, 2 * H, 1), nn.GLU(dim=-2))

    def kernel(self, L):                            # ZOH discretisation, Vandermonde product
        dt = torch.exp(self.log_dt)
        C = torch.view_as_complex(self.C)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt.unsqueeze(-1)
        K = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)
        C = C * (torch.exp(dtA) - 1.) / A
        return 2 * torch.einsum("hn,hnl->hl", C, torch.exp(K)).real

    def forward(self, u):                           # (B, H, L)
        L = u.size(-1)
        k_f = torch.fft.rfft(self.kernel(L), n=2 * L)
        u_f = torch.fft.rfft(u, n=2 * L)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]
        y = y + u * self.D.unsqueeze(-1)
        return self.output_linear(self.activation(y))


def s4d_closed_form(B, H, n, L):
    """n = N/2 complex modes. Complex arithmetic in real operations (docs/conventions.md):
    complex × real 2 mults, complex + real 1 add, complex × complex 4 mults + 2 adds, complex ÷
    complex 6 mults + 3 adds + 2 divs, complex exp 3 transc + 2 mults, a complex MAC 4 MACs."""
    Hn = H * n
    kernel = [
        ops(transc=H),                                      # dt = exp(log_dt)
        ops(transc=Hn, mults=Hn),                           # −exp(log_A_real)
        ops(mults=2 * Hn), ops(adds=Hn),                    # 1j·A_imag, + (complex + real)
        ops(mults=2 * Hn),                                  # A·dt (complex × real)
        ops(mults=2 * Hn * L),                              # dtA·arange(L) (complex × real)
        ops(transc=3 * Hn, mults=2 * Hn), ops(adds=Hn),     # exp(dtA), − 1
        ops(mults=4 * Hn, adds=2 * Hn),                     # C·(…)
        ops(mults=6 * Hn, adds=3 * Hn, divs=2 * Hn),        # ÷ A
        ops(transc=3 * Hn * L, mults=2 * Hn * L),           # exp(K)
        ops(macs=4 * Hn * L),                               # einsum hn,hnl->hl, complex
        ops(mults=H * L),                                   # 2·(…).real
    ]
    conv = [
        real_fft(H, 2 * L), real_fft(B * H, 2 * L),         # rfft of the kernel and of u, n = 2L
        ops(mults=4 * B * H * (L + 1), adds=2 * B * H * (L + 1)),   # u_f·k_f, L + 1 bins
        real_fft(B * H, 2 * L), ops(mults=B * H * 2 * L),   # irfft, its 1/n on the 2L real outputs
        ops(mults=B * H * L, adds=B * H * L),               # + u·D
        per(GELU, B * H * L),
        ops(macs=B * 2 * H * H * L, adds=B * 2 * H * L),    # Conv1d(H, 2H, 1), bias
        per(GLU, B * H * L),
    ]
    return closed(*kernel, *conv)


def test_s4d_layer():
    B, H, N, L = 2, 4, 8, 16
    report, fc_macs = profile_and_flop_counter(S4D(H, N), torch.randn(B, H, L))
    assert counted(report) == s4d_closed_form(B, H, N // 2, L)
    # flop_counter counts a complex MAC of the Vandermonde einsum as one MAC, torchcount as 4 real ones
    complex_macs = H * (N // 2) * L
    assert report.total.macs == fc_macs + 3 * complex_macs


def test_s4d_on_meta_counts_what_real_tensors_count():
    model, x = S4D().eval(), torch.randn(2, 4, 16)
    with torch.no_grad():
        real = run(model, x)
        meta = run(copy.deepcopy(model).to("meta"), x.to("meta"))
    assert meta.complete
    assert [(r.path, r.cost) for r in meta.layers] == [(r.path, r.cost) for r in real.layers]  # bytes too
    assert meta.total.params == real.total.params


# ---- (c) Hyena --------------------------------------------------------------------------------
class Sin(nn.Module):
    def __init__(self, dim, w=10):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x):
        return torch.sin(self.freq * x)


class Hyena(nn.Module):
    """Order-2 Hyena: in-projection, short depthwise conv, an implicit long filter (an MLP on a
    positional encoding, exponentially modulated), FFT convolution, gates, out-projection.
    ``scale`` puts the FFT size's 1/n on the filter by a division (as the reference code does)
    or by ``norm="forward"``."""

    def __init__(self, d=8, L=16, emb=3, order=16, short=3, scale="divide"):
        super().__init__()
        self.d, self.scale = d, scale
        self.in_proj = nn.Linear(d, 3 * d)
        self.short_filter = nn.Conv1d(3 * d, 3 * d, short, padding=short - 1, groups=3 * d)
        self.filter_mlp = nn.Sequential(nn.Linear(emb, order), Sin(order), nn.Linear(order, d, bias=False))
        self.bias = nn.Parameter(torch.randn(d))
        self.out_proj = nn.Linear(d, d)
        t = torch.linspace(0, 1, L)[None, :, None]
        w = 2 * math.pi * t * torch.arange(1, (emb - 1) // 2 + 1)[None, None] / L
        self.register_buffer("z", torch.cat([t, torch.cos(w), torch.sin(w)], dim=-1))
        self.register_buffer("deltas", torch.linspace(0.3, 1.5, d))

    def forward(self, u):                                   # (B, L, d)
        L = u.size(1)
        u = self.in_proj(u).transpose(1, 2)
        x1, x2, v = self.short_filter(u)[..., :L].split(self.d, dim=1)
        h = self.filter_mlp(self.z[:, :L])                  # (1, L, d)
        h = (h * torch.exp(-self.z[:, :L, :1] * self.deltas.abs()))[0].transpose(0, 1)
        v = v * x2
        n = 2 * L
        if self.scale == "divide":
            k_f = torch.fft.rfft(h, n=n) / n
        else:
            k_f = torch.fft.rfft(h, n=n, norm="forward")
        y = torch.fft.irfft(torch.fft.rfft(v, n=n) * k_f, n=n, norm="forward")[..., :L]
        y = (y + v * self.bias.unsqueeze(-1)) * x1
        return self.out_proj(y.transpose(1, 2))


def hyena_closed_form(B, L, d, emb, order, short, scale):
    T, n, bins = B * L, 2 * L, L + 1
    P = L + short - 1
    # the filter's 1/n on its d·(L + 1) complex bins: complex ÷ real (2 divisions) or, inside the
    # FFT, a real factor times both parts (2 multiplications)
    filter_scale = ops(divs=2 * d * bins) if scale == "divide" else ops(mults=2 * d * bins)
    return closed(
        ops(macs=T * d * 3 * d, adds=T * 3 * d),                    # in_proj
        ops(macs=B * 3 * d * short * P, adds=B * 3 * d * P),        # short depthwise conv, bias
        ops(macs=L * emb * order, adds=L * order),                  # filter MLP: Linear(emb, order)
        ops(mults=L * order, transc=L * order),                     # sin(freq·x)
        ops(macs=L * order * d),                                    # Linear(order, d), no bias
        ops(mults=L), ops(cmps=d, assigns=d),                       # −t, |δ|
        ops(mults=L * d, transc=L * d, ) + ops(mults=L * d),        # −t·|δ|, exp, h·(…)
        ops(mults=B * d * L),                                       # v·x2
        real_fft(d, n), filter_scale,                               # rfft(h) / n
        real_fft(B * d, n),                                         # rfft(v)
        ops(mults=4 * B * d * bins, adds=2 * B * d * bins),         # product of spectra
        real_fft(B * d, n),                                         # irfft, norm="forward": no 1/n
        ops(mults=B * d * L, adds=B * d * L), ops(mults=B * d * L),  # + v·bias, · x1
        ops(macs=T * d * d, adds=T * d),                            # out_proj
    )


@pytest.mark.parametrize("scale", ["divide", "norm"])
def test_hyena_operator(scale):
    B, L, d, emb, order, short = 2, 16, 8, 3, 16, 3
    report, fc_macs = profile_and_flop_counter(Hyena(d, L, emb, order, short, scale), torch.randn(B, L, d))
    assert counted(report) == hyena_closed_form(B, L, d, emb, order, short, scale)
    assert report.total.macs == fc_macs


# ---- (d) RWKV-4 time mixing -------------------------------------------------------------------
class RWKVTimeMix(nn.Module):
    def __init__(self, C=8, shift="pad"):
        super().__init__()
        self.shift = shift
        self.time_shift = nn.ZeroPad2d((0, 0, 1, -1))
        self.time_decay = nn.Parameter(torch.randn(C))
        self.time_first = nn.Parameter(torch.randn(C))
        self.time_mix_k = nn.Parameter(torch.rand(1, 1, C))
        self.time_mix_v = nn.Parameter(torch.rand(1, 1, C))
        self.time_mix_r = nn.Parameter(torch.rand(1, 1, C))
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)

    def forward(self, x):                                   # (B, T, C)
        B, T, C = x.shape
        if self.shift == "pad":
            xx = self.time_shift(x)
        else:
            xx = torch.cat([x.new_zeros(B, 1, C), x[:, :-1]], dim=1)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k, v, r = self.key(xk), self.value(xv), torch.sigmoid(self.receptance(xr))
        w, u = -torch.exp(self.time_decay), self.time_first
        aa, bb, pp = x.new_zeros(B, C), x.new_zeros(B, C), x.new_full((B, C), -1e38)
        ys = []
        for t in range(T):                                  # the WKV recurrence, max-stabilised
            kk, vv = k[:, t], v[:, t]
            ww = u + kk
            p = torch.maximum(pp, ww)
            e1, e2 = torch.exp(pp - p), torch.exp(ww - p)
            ys.append((e1 * aa + e2 * vv) / (e1 * bb + e2))
            ww = w + pp
            p = torch.maximum(ww, kk)
            e1, e2 = torch.exp(ww - p), torch.exp(kk - p)
            aa, bb, pp = e1 * aa + e2 * vv, e1 * bb + e2, p
        return self.output(r * torch.stack(ys, dim=1))


@pytest.mark.parametrize("shift", ["pad", "slice"])
def test_rwkv4_time_mixing(shift):
    B, T, C = 2, 5, 8
    report, fc_macs = profile_and_flop_counter(RWKVTimeMix(C, shift), torch.randn(B, T, C))
    n = B * T * C
    assert counted(report) == closed(
        ops(adds=3 * C),                                    # 1 − μ for k, v, r
        ops(mults=3 * 2 * n, adds=3 * n),                   # x·μ + xx·(1 − μ), three times
        ops(macs=4 * n * C),                                # key, value, receptance, output
        per(SIGMOID, n),
        ops(transc=C, mults=C),                             # w = −exp(decay)
        # per step on B·C: 2 maxima; 4 subtractions and 4 exps; u + k, w + p and 4 additions of
        # the products; 6 multiplications (a and b in y, then their updates); 1 division
        ops(cmps=2 * n, adds=10 * n, transc=4 * n, mults=6 * n, divs=n),
        ops(mults=n),                                       # r·wkv
    )
    assert report.total.macs == fc_macs
    if shift == "pad":   # a negative pad crops: data movement, no arithmetic
        assert counted(run(nn.ZeroPad2d((0, 0, 1, -1)), torch.randn(B, T, C))) == {}


# ---- (e) RetNet retention ---------------------------------------------------------------------
class Retention(nn.Module):
    def __init__(self, d=8, heads=2, recurrent=False):
        super().__init__()
        self.h, self.dk, self.recurrent = heads, d // heads, recurrent
        self.q, self.k, self.v, self.g, self.o = (nn.Linear(d, d, bias=False) for _ in range(5))
        self.norm = nn.GroupNorm(heads, d)
        self.register_buffer("gamma", 1 - 2.0 ** (-5 - torch.arange(heads).float()))

    def forward(self, x):                                   # (B, L, d)
        B, L, d = x.shape
        q = self.q(x).view(B, L, self.h, self.dk).transpose(1, 2)
        k = self.k(x).view(B, L, self.h, self.dk).transpose(1, 2) * self.dk ** -0.5
        v = self.v(x).view(B, L, self.h, self.dk).transpose(1, 2)
        if self.recurrent:                                  # S_t = γ·S_{t−1} + k_tᵀ·v_t, o_t = q_t·S_t
            S, outs = x.new_zeros(B, self.h, self.dk, self.dk), []
            g = self.gamma.view(1, self.h, 1, 1)
            for t in range(L):
                S = g * S + k[:, :, t].unsqueeze(-1) * v[:, :, t].unsqueeze(-2)
                outs.append(q[:, :, t].unsqueeze(-2) @ S)
            o = torch.cat(outs, dim=2)
        else:                                               # (Q·Kᵀ ⊙ D)·V, D[n, m] = γ^(n − m), n ≥ m
            n = torch.arange(L, device=x.device)
            diff = (n[:, None] - n[None, :]).float()
            decay = torch.where(diff >= 0, self.gamma.view(-1, 1, 1) ** diff, torch.zeros((), device=x.device))
            o = ((q @ k.transpose(-1, -2)) * decay) @ v
        o = self.norm(o.transpose(1, 2).reshape(B * L, d)).view(B, L, d)
        return self.o(F.silu(self.g(x)) * o)


@pytest.mark.parametrize("recurrent", [False, True], ids=["parallel", "recurrent"])
def test_retnet_retention(recurrent):
    B, L, d, h = 2, 6, 8, 2
    dk, T = d // h, B * L
    report, fc_macs = profile_and_flop_counter(Retention(d, h, recurrent), torch.randn(B, L, d))
    groups, m = T * h, d // h                               # GroupNorm over (B·L, d): groups of m
    common = [
        ops(macs=5 * T * d * d),                            # q, k, v, g, o
        ops(mults=T * d),                                   # k / √dk
        ops(adds=groups * (m - 1), divs=groups),            # GroupNorm: mean
        ops(adds=T * d, mults=T * d),                       # x − μ, squares
        ops(adds=groups * (m - 1), divs=groups),            # variance
        ops(adds=groups, transc=groups),                    # + eps, rsqrt
        ops(mults=2 * T * d, adds=T * d),                   # · rstd, · γ, + β
        per(SILU, T * d), ops(mults=T * d),                 # silu(g(x)) · o
    ]
    if recurrent:
        form = [ops(mults=2 * L * B * h * dk * dk, adds=L * B * h * dk * dk),  # γ·S, k⊗v, +
                ops(macs=L * B * h * dk * dk)]                                 # q_t·S_t
    else:
        form = [ops(adds=L * L, cmps=L * L),                # n − m, ≥ 0
                ops(transc=h * L * L, assigns=h * L * L),   # γ^(n − m), where
                ops(macs=B * h * L * L * dk),               # Q·Kᵀ
                ops(mults=B * h * L * L),                   # ⊙ D
                ops(macs=B * h * L * L * dk)]               # ·V
    assert counted(report) == closed(*common, *form)
    assert report.total.macs == fc_macs


# ---- (f) linear attention ---------------------------------------------------------------------
class LinearAttention(nn.Module):
    def __init__(self, d=8, heads=2, eps=1e-6):
        super().__init__()
        self.h, self.eps = heads, eps
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        B, L, d = x.shape
        Q = F.elu(self.q(x).view(B, L, self.h, -1)) + 1
        K = F.elu(self.k(x).view(B, L, self.h, -1)) + 1
        V = self.v(x).view(B, L, self.h, -1)
        KV = torch.einsum("nshd,nshm->nhmd", K, V)
        Z = 1 / (torch.einsum("nlhd,nhd->nlh", Q, K.sum(dim=1)) + self.eps)
        return self.o(torch.einsum("nlhd,nhmd,nlh->nlhm", Q, KV, Z).reshape(B, L, d))


def test_linear_attention():
    B, L, d, h = 2, 6, 8, 2
    e, T = d // h, B * L
    report, fc_macs = profile_and_flop_counter(LinearAttention(d, h), torch.randn(B, L, d))
    assert counted(report) == closed(
        ops(macs=4 * T * d * d, adds=4 * T * d),            # q, k, v, o with bias
        per(ELU, 2 * T * d), ops(adds=2 * T * d),           # φ(x) = elu(x) + 1 for Q and K
        ops(macs=B * h * e * L * e),                        # KV = Σ_s k_s ⊗ v_s
        ops(adds=B * h * e * (L - 1)),                      # Σ_s k_s
        ops(macs=B * L * h * e),                            # Q·Σk
        ops(adds=B * L * h),                                # + eps
        ops(divs=B * L * h, mults=B * L * h),               # 1 / (…): Tensor.__rtruediv__ runs reciprocal()·1
        ops(macs=B * h * L * e * e),                        # Q·KV
        ops(mults=B * L * h * e),                           # · Z
    )
    assert report.total.macs == fc_macs
