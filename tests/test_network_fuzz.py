"""Randomized differential test of ``profile`` on whole networks, against FlopCounterMode and meta.

Each seed builds a small random network (``build``): a stack of blocks over one of three kinds of
tensor, images (N, C, H, W), sequences (N, C, L) and tokens (N, T, D), with views, permutes and
flattens between kinds. Leaves: Linear (also over a permuted channel axis), Conv1d/2d (groups,
stride, dilation, 'same', zeros/reflect/replicate/circular padding), ConvTranspose1d/2d (output
padding), Batch/Group/Layer/InstanceNorm, max/avg/adaptive pooling, activations, dropout,
F.interpolate, F.pad, slicing, nn.MultiheadAttention (kdim/vdim, bias_kv, zero_attn, masks,
batch_first, need_weights), a direct F.scaled_dot_product_attention, LSTM (proj_size) and GRU
(layers, bidirectional), bmm / matmul / einsum, and functional calls on a module's parameters
(F.linear, addmm, baddbmm, F.conv, F.layer_norm, pooling). Structure: Sequential, ModuleList and
ModuleDict loops, residual adds, torch.cat branches, a module called twice or on two shapes, one
registered in two places or called through an unregistered reference, a never-called module, a
parent flipping its child's training flag. Then maybe an Embedding input (padding_idx, max_norm),
float64, frozen parameters, user hooks; train or eval; grad, no_grad or inference_mode.

The oracles, per network:
  a  ``report.total.ops("2mac")`` equals torch.utils.flop_counter.FlopCounterMode's total, where
     what flop_counter counts inside each LSTM/GRU, MultiheadAttention and SDPA call (0 for LSTM,
     CPU SDPA and eval-mode fused MHA) is replaced by a closed form written here (``special``);
  b  on the meta device: the same cost in every category, parameters and per-row costs. Bytes are
     not compared where docs/performance.md ("Limits of meta counting") says they differ: a direct
     F.scaled_dot_product_attention, and meta kernels returning other strides than the CPU ones,
     so that later ops take another path (both runs' aten ops and module outputs are logged:
     ``meta_bytes_differ``). A network whose BatchNorm(momentum=None) trains cannot run on meta
     (.item()) and is not compared there;
  c  rows add up: the self costs of all rows are the total; table() at every depth; each CSV
     column at every depth sums to the total;
  d  the model is left as found (parameters, buffers, flags, hooks), also after a failure injected
     in a random called module (its forward replaced, a raise after its children ran, a raise on
     its second call), which must raise a ForwardError naming that module's path;
  e  no UncountedWarning and nothing in report.uncounted;
  f  the same network under another grad mode costs the same (bytes not compared where one of the
     two is inference_mode, which runs other kernels: see ``check_grad_modes``).
Default: 400 seeds (about 15 s); ``-m slow``: 2,000 more. A failure names its seed: rerun it with
``check_network(seed)``.

A second generator, ``tests/fuzz_layers.py`` (the "layer zoo": 3-D convolutions, every norm and pooling
module, some thirty activations, transformer layers, cells, packed sequences, parametrizations, hooks
that change inputs, forwards that rebind buffers or leave grad mode off, …), is checked against the
invariants g–m further down (``check_zoo_network(seed)``): 60 networks by default, 2,000 with ``-m slow``;
and a training step of each (``check_zoo_train_step(seed)``): 25 by default, 600 with ``-m slow``.
"""
import copy
import csv
import io
import math
import random
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount.rules import priced_by_its_parts

from conftest import flop_counter_counts_inside_inference_mode, probe
from test_attention import NEGATED_MASK

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # (padding='same' copies, RNN weights)

COST_FIELDS = ("macs", "mults", "adds", "divs", "cmps", "assigns", "transc", "bytes_read", "bytes_written")
OP_FIELDS = COST_FIELDS[:7]
GRAD = {"grad": torch.enable_grad, "no_grad": torch.no_grad, "inference": torch.inference_mode}
MAXC, MAXHW, MAXL, MAXT = 8, 12, 16, 8

# ---- the oracle's closed forms ------------------------------------------------------------------
ORACLE = {}  # while flop_counter_total runs: "mode" (its FlopCounterMode), "delta" (closed − counted)


def special(call, closed):
    """Runs ``call``; under the oracle, what flop_counter counts in it is swapped for ``closed()``."""
    mode = ORACLE.get("mode")
    if mode is None:
        return call()
    before = mode.get_total_flops()
    out = call()
    ORACLE["delta"] += closed() - (mode.get_total_flops() - before)
    return out


def flop_counter_total(model, x, grad_mode):
    m = copy.deepcopy(model)
    ORACLE.update(delta=0)
    # (the reference of an inference_mode profile is counted under no_grad: the same kernels for
    # MultiheadAttention and SDPA, and torch 2.2's flop_counter counts 0 for the composite ops
    # that reach it whole under inference_mode; the newer one breaks them up)
    reference = "no_grad" if grad_mode == "inference" else grad_mode
    try:
        with FlopCounterMode(display=False) as mode, GRAD[reference]():
            ORACLE["mode"] = mode
            m(x)
    finally:
        ORACLE.pop("mode", None)
    return mode.get_total_flops() + ORACLE["delta"]


# ---- the modules -------------------------------------------------------------------------------
class Block(nn.Module):
    """The generator's modules: ``fn(self, x)`` on the parts it registers (modules, parameters,
    values); ``boom`` (the failure injection) raises after that work, its children's included."""

    boom = False

    def __init__(self, name, fn=None, **parts):
        super().__init__()
        self.name, self.fn = name, fn
        for key, part in parts.items():
            setattr(self, key, part)

    def extra_repr(self):
        return self.name

    def forward(self, x):
        y = self.run(x)
        if self.boom:
            raise RuntimeError(f"injected failure in {self.name}")
        return y

    def run(self, x):
        return self.fn(self, x)


def fn(name, f):
    return Block(name, lambda self, x: f(x))


def chain(mods, how):
    """Sequential, or a loop over a ModuleList or ModuleDict."""
    if how == "seq":
        return Block(how, lambda self, x: self.body(x), body=nn.Sequential(*mods))
    return Block(how, run_in_turn, body=nn.ModuleList(mods) if how == "list" else
                 nn.ModuleDict({f"m{i}": m for i, m in enumerate(mods)}))


def run_in_turn(self, x):
    for m in self.body if isinstance(self.body, nn.ModuleList) else self.body.values():
        x = m(x)
    return x


def flip_and_call(self, x):  # flips the child's training flag (and never puts it back)
    self.m.train(not self.m.training)
    return self.m(x)


def channel_linear(c, c2, bias):
    return Block("Linear(permuted)", lambda self, x: self.lin(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2),
                 lin=nn.Linear(c, c2, bias=bias))


def self_similarity(x, how, kind):
    """An attention-like contraction of x, viewed (N, C, L), with itself: bmm, matmul or einsum."""
    z = x.reshape(*x.shape[:2], -1) if kind == "img" else x if kind == "seq" else x.transpose(1, 2)
    if how == "bmm":
        o = torch.bmm(z, torch.softmax(torch.bmm(z.transpose(1, 2), z), dim=-1))
    elif how == "matmul":
        o = torch.matmul(z, torch.matmul(z.transpose(-1, -2), z).sigmoid())
    else:
        o = torch.einsum("ncl,nlm->ncm", z, torch.einsum("ncl,ncm->nlm", z, z).tanh())
    return o.view(x.shape) if kind == "img" else o if kind == "seq" else o.transpose(1, 2)


def functional_ops(self, x):
    """Functional ops on the parameters of ``self``'s Linear, LayerNorm, conv; tensor plumbing."""
    h, w, b = self.name, self.lin.weight, self.lin.bias
    if h == "F.linear":
        return F.linear(x, w, b)
    if h == "addmm":
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w.t()).view(x.shape)
    if h == "baddbmm":
        z = x.reshape(-1, x.shape[-2], x.shape[-1])
        return torch.baddbmm(z, z, w.t().expand(z.shape[0], -1, -1), beta=0.5, alpha=2.0).view(x.shape)
    if h == "F.conv" and self.conv is not None:
        return (F.conv2d if x.dim() == 4 else F.conv1d)(x, self.conv.weight, self.conv.bias)
    if h == "expand_where":
        m = x.mean(dim=-1, keepdim=True).expand_as(x)
        return torch.where(x > m, x, m.repeat(*([1] * x.dim())))
    if h == "F.layer_norm":
        return F.layer_norm(x, x.shape[-1:], self.ln.weight, self.ln.bias)
    if h == "softmax_mul":
        return x * F.softmax(x, dim=-1)
    if h == "F.pool" and self.conv is not None and x.dim() == 4 and min(x.shape[2:]) >= 2:
        return F.interpolate(F.max_pool2d(x, 2), size=x.shape[2:]) + F.adaptive_avg_pool2d(x, 1)
    if h == "F.pool" and self.conv is not None and x.dim() == 3 and x.shape[2] >= 2:
        return F.interpolate(F.avg_pool1d(x, 2), size=x.shape[2:]) + F.adaptive_max_pool1d(x, 1)
    return x.clamp(-1, 1)


class ViaRef(Block):
    """Calls a module registered elsewhere through an unregistered reference."""

    def __init__(self, m):
        super().__init__("via reference")
        object.__setattr__(self, "ref", [m])

    def run(self, x):
        return self.ref[0](x) - x


class BoomLater(Block):
    """Raises on its second call once ``boom_later`` is set (the failure injection)."""

    boom_later = False

    def __init__(self, m):
        super().__init__("fails on second call", m=m)
        self.n = 0

    def run(self, x):
        self.n += 1
        if self.boom_later and self.n >= 2:
            raise RuntimeError("injected failure on the second call")
        return self.m(x)


class MHA(Block):
    def __init__(self, d, heads, kdim, vdim, batch_first, bias_kv, zero_attn, need_weights, self_attn, mask):
        super().__init__("MultiheadAttention")
        self.attn = nn.MultiheadAttention(d, heads, batch_first=batch_first, kdim=kdim, vdim=vdim,
                                          add_bias_kv=bias_kv, add_zero_attn=zero_attn)
        self.kproj = nn.Linear(d, kdim) if kdim != d else None
        self.vproj = nn.Linear(d, vdim) if vdim != d else None
        self.need_weights, self.self_attn, self.mask = need_weights, self_attn, mask

    def run(self, x):  # N, T, D
        n, t, d = x.shape
        a = self.attn
        seq = (lambda z: z) if a.batch_first else (lambda z: z.transpose(0, 1))
        if self.self_attn and self.kproj is None and self.vproj is None:
            q = k = v = seq(x)  # (one tensor: the fused eval-mode path)
        else:
            q, k, v = seq(x), seq(self.kproj(x) if self.kproj else x), seq(self.vproj(x) if self.vproj else x)
        kw = {}
        if self.mask == "causal":
            kw["attn_mask"] = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1)
        elif self.mask == "padding":
            kw["key_padding_mask"] = (torch.arange(t, device=x.device) >= max(t - 1, 1)).expand(n, t)
        s = t + int(a.bias_k is not None) + int(a.add_zero_attn)  # keys: + the bias row, the zero row
        # q, k, v and out projections, then the scores Q·Kᵀ and their product with V (MACs × 2)
        closed = lambda: 2 * n * (2 * t * d * d + t * (a.kdim + a.vdim) * d + 2 * t * s * d)
        out = special(lambda: a(q, k, v, need_weights=self.need_weights, **kw)[0], closed)
        return seq(out)


class SDPA(Block):
    def __init__(self, d, heads, causal, qkv):
        super().__init__("SDPA")
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(d, 3 * d) if qkv else None

    def run(self, x):  # N, T, D
        n, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1) if self.qkv is not None else (x, x, x)
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        closed = lambda: 2 * 2 * n * t * t * d  # Q·Kᵀ and P·V, each N·heads·T·T·(D/heads) MACs
        o = special(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=self.causal), closed)
        return o.transpose(1, 2).reshape(n, t, d)


class RNN(Block):
    def __init__(self, kind, d, hidden, layers, bidir, batch_first, proj):
        super().__init__(kind)
        kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first)
        self.rnn = nn.LSTM(d, hidden, proj_size=proj, **kw) if kind == "LSTM" else nn.GRU(d, hidden, **kw)

    def run(self, x):  # N, T, D
        r = self.rnn
        n, t, d = x.shape
        dirs, h, p = 1 + r.bidirectional, r.hidden_size, r.proj_size
        out_h = p or h

        def closed():  # per step and direction: the gates' matrix products (LSTM 4, GRU 3), a projection
            total = 0
            for layer in range(r.num_layers):
                i = d if layer == 0 else dirs * out_h
                step = 4 * h * (i + out_h) + h * p if self.name == "LSTM" else 3 * h * (i + h)
                total += step * t * n * dirs
            return 2 * total

        out = special(lambda: r(x if r.batch_first else x.transpose(0, 1))[0], closed)
        return out if r.batch_first else out.transpose(0, 1)


class Net(Block):
    def __init__(self, body, head, kind, emb=None):
        super().__init__("net")
        self.emb, self.body, self.head, self.kind = emb, body, head, kind

    def run(self, x):
        y = self.body(self.emb(x) if self.emb is not None else x)
        if self.head is not None:
            y = self.head(y.mean(dim=(2, 3)) if self.kind == "img" else y.mean(dim=2 if self.kind == "seq" else 1))
        return y


# ---- the generator: a shape is ("img", N, C, H, W), ("seq", N, C, L) or ("tok", N, T, D) --------
class Gen:
    def __init__(self, rng):
        self.r, self.pieces = rng, set()

    def use(self, piece):
        self.pieces.add(piece)
        return piece

    def tried(self, m, shape, piece=None):
        """(m, its output shape) if it runs on ``shape`` with a small nonempty output, else None."""
        with torch.no_grad():
            try:
                y = m(torch.zeros(*shape[1:]))
            except Exception:  # (an output too small, a padding too large)
                return None
        if y.numel() == 0 or any(v > 2 * MAXHW for v in y.shape[2:]):
            return None
        if piece:
            self.use(piece)
        return m, (shape[0], *y.shape)

    def conv(self, shape, dims):
        r, (kind, n, c, *sp) = self.r, shape
        for _ in range(20):
            c2 = r.randint(1, MAXC)
            g = r.choice([g for g in range(1, min(c, c2) + 1) if c % g == 0 and c2 % g == 0])
            k, s, d = r.choice([1, 2, 3]), r.choice([1, 1, 2]), r.choice([1, 1, 2])
            mode = r.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
            p = r.choice(["same", 0, 1, 2]) if s == 1 else r.choice([0, 1])
            if mode != "zeros" and any((d * (k - 1) // 2 + 1 if p == "same" else p) >= v for v in sp):
                continue
            cls = nn.Conv1d if dims == 1 else nn.Conv2d
            found = self.tried(cls(c, c2, k, stride=s, padding=p, dilation=d, groups=g, bias=r.random() < 0.7,
                                   padding_mode=mode), shape, f"padding {mode}")
            if found:
                self.use(f"{cls.__name__}(groups)" if g > 1 else cls.__name__)
                return found
        return nn.Identity(), shape

    def conv_transpose(self, shape, dims):
        r, (kind, n, c, *sp) = self.r, shape
        c2 = r.randint(1, MAXC)
        g = r.choice([g for g in range(1, min(c, c2) + 1) if c % g == 0 and c2 % g == 0])
        k, s, d = r.choice([1, 2, 3]), r.choice([1, 2]), r.choice([1, 2])
        cls = nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d
        m = cls(c, c2, k, stride=s, padding=r.choice([0, 1]) if k > 1 else 0, groups=g, dilation=d,
                output_padding=r.randrange(0, max(s, d)), bias=r.random() < 0.7)
        return self.tried(m, shape, cls.__name__) or (nn.Identity(), shape)

    def norm(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        choice = r.choice(["ln", "ln", "bn1"] if kind == "tok" else ["bn", "gn", "ln", "in"])
        if choice.startswith("bn") and n * math.prod(sp) == 1 or choice == "gn" and c * math.prod(sp) == 1:
            choice = "ln"  # (BatchNorm training and GroupNorm need 2 values per channel or group)
        if choice == "bn":
            m = (nn.BatchNorm1d if kind == "seq" else nn.BatchNorm2d)(
                c, affine=r.random() < 0.8, track_running_stats=r.random() < 0.8, momentum=r.choice([0.1, None]))
        elif choice == "bn1":
            m = nn.BatchNorm1d(c)  # tokens: T as channels
        elif choice == "gn":
            groups = [g for g in range(1, c + 1) if c % g == 0 and c // g * math.prod(sp) > 1]
            m = nn.GroupNorm(r.choice(groups), c, affine=r.random() < 0.8)
        elif choice == "in" and sum(sp) > len(sp):
            m = (nn.InstanceNorm1d if kind == "seq" else nn.InstanceNorm2d)(c, affine=r.random() < 0.5)
        elif kind == "tok":
            m = nn.LayerNorm(sp[0], elementwise_affine=r.random() < 0.8, bias=r.random() < 0.8)
        else:
            m = nn.LayerNorm([c, *sp] if r.random() < 0.5 else sp[-1:], elementwise_affine=r.random() < 0.8)
        self.use(type(m).__name__)
        return m, shape

    def pool(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        dims, which = len(sp), r.choice(["Max", "Avg", "AdaptiveMax", "AdaptiveAvg"])
        if which.startswith("Adaptive"):
            out = [r.randint(1, v) for v in sp]
            m = getattr(nn, f"{which}Pool{dims}d")(out if dims == 2 else out[0])
        else:
            k = r.choice([2, 3])
            kw = dict(stride=r.choice([None, 1, 2]), padding=r.choice([0, 1]), ceil_mode=r.random() < 0.3)
            if which == "Max":
                kw["dilation"] = r.choice([1, 1, 2]) if k == 2 else 1
            else:
                kw["count_include_pad"] = r.random() < 0.5
                if dims == 2:
                    kw["divisor_override"] = 3 if r.random() < 0.3 else None
            m = getattr(nn, f"{which}Pool{dims}d")(k, **kw)
        return self.tried(m, shape, type(m).__name__) or (nn.Identity(), shape)

    def act(self, shape):
        which = self.use(self.r.choice(["nn.ReLU", "relu", "gelu", "sigmoid", "tanh", "dropout", "ReLU(inplace)"]))
        fns = {"relu": F.relu, "gelu": F.gelu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
        m = (nn.ReLU() if which == "nn.ReLU" else nn.ReLU(inplace=True) if which == "ReLU(inplace)" else
             nn.Dropout(self.r.choice([0.0, 0.3])) if which == "dropout" else fn(which, fns[which]))
        return m, shape

    def functional(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        which = r.choice(["interpolate", "pad", "slice"] + (["transpose"] if kind == "img" else []))
        if which == "interpolate":
            if kind == "tok":
                return self.act(shape)
            mode = r.choice(["nearest", "linear" if kind == "seq" else "bilinear", "nearest-exact", "area"]
                            + (["bicubic"] if kind == "img" else []))
            a = {"mode": mode}
            if mode in ("linear", "bilinear", "bicubic"):
                a["align_corners"] = r.random() < 0.5
            if r.random() < 0.5:
                a["scale_factor"] = r.choice([2, 0.5, 1.5])
            else:
                a["size"] = tuple(r.randint(1, MAXHW) for _ in sp) if kind == "img" else r.randint(1, MAXL)
            m = fn(f"F.interpolate({mode})", lambda x: F.interpolate(x, **a))
        elif which == "pad":
            pad = tuple(r.randint(0, 2) for _ in range(2 * (len(sp) if kind != "tok" else 1)))
            mode = "constant" if kind == "tok" else r.choice(["constant", "reflect", "replicate", "circular"])
            mode = "constant" if any(p >= min(sp) for p in pad) else mode
            m = fn(f"F.pad({mode})", lambda x: F.pad(x, pad, mode=mode))
        elif which == "slice":
            start, step = r.randint(0, sp[0] - 1), r.choice([1, 2])
            m = fn("slice", lambda x: x[:, :, start:, ::step] if kind == "img" else
                   x[:, :, start::step] if kind == "seq" else x[:, start:, :])
        else:
            m = fn("transpose + contiguous", lambda x: x.transpose(2, 3).contiguous())
        return self.tried(m, shape, m.name) or (nn.Identity(), shape)

    def linear(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        if kind == "img":  # over the channels
            c2 = self.use("Linear(permuted)") and r.randint(1, MAXC)
            return channel_linear(c, c2, r.random() < 0.7), (kind, n, c2, *sp)
        if kind == "seq":  # over the length
            l2 = self.use("Linear") and r.randint(1, MAXL)
            return nn.Linear(sp[0], l2), (kind, n, c, l2)
        e, how = r.randint(2, MAXC), self.use(r.choice(["Linear", "Linear", "matmul", "einsum"]))
        if how == "Linear":
            return nn.Linear(sp[0], e, bias=r.random() < 0.7), (kind, n, c, e)
        contract = (lambda self, x: torch.matmul(x, self.w)) if how == "matmul" else \
            (lambda self, x: torch.einsum("ntd,de->nte", x, self.w))
        return Block(how, contract, w=nn.Parameter(torch.randn(sp[0], e) * 0.1)), (kind, n, c, e)

    def selfsim(self, shape):
        how, kind = self.use(self.r.choice(["bmm", "matmul", "einsum"])), shape[0]
        return fn(how, lambda x: self_similarity(x, how, kind)), shape

    def attention(self, shape):
        r, (_, n, t, d) = self.r, shape
        h = r.choice([h for h in range(1, d + 1) if d % h == 0])
        if r.random() < 0.5:
            self.use("MultiheadAttention")
            return MHA(d, h, kdim=r.choice([d, r.randint(1, MAXC)]), vdim=r.choice([d, r.randint(1, MAXC)]),
                       batch_first=r.random() < 0.5, bias_kv=r.random() < 0.2, zero_attn=r.random() < 0.2,
                       need_weights=r.random() < 0.5, self_attn=r.random() < 0.7,
                       mask=r.choice([None, None, "causal", "padding"])), shape
        self.use("SDPA")
        return SDPA(d, h, causal=r.random() < 0.5, qkv=r.random() < 0.5), shape

    def rnn(self, shape):
        r, (_, n, t, d) = self.r, shape
        kind, hidden = self.use(r.choice(["LSTM", "GRU"])), r.randint(2, 6)
        proj = r.choice([0, 0, r.randint(1, hidden - 1)]) if kind == "LSTM" else 0
        layers, bidir, batch_first = r.choice([1, 2]), r.random() < 0.4, r.random() < 0.5
        return RNN(kind, d, hidden, layers, bidir, batch_first, proj), ("tok", n, t, (proj or hidden) * (1 + bidir))

    def transition(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        if kind == "img" and r.random() < 0.5:
            to_tokens = fn(self.use("flatten + transpose"), lambda x: x.flatten(2).transpose(1, 2))
            return to_tokens, ("tok", n, sp[0] * sp[1], c)
        if kind == "img":
            return fn(self.use("view"), lambda x: x.view(*x.shape[:2], -1)), ("seq", n, c, sp[0] * sp[1])
        if kind == "seq" and r.random() < 0.6:
            return fn(self.use("permute"), lambda x: x.permute(0, 2, 1)), ("tok", n, sp[0], c)
        if kind == "seq":
            return fn(self.use("unsqueeze"), lambda x: x.unsqueeze(-1)), ("img", n, c, sp[0], 1)
        return fn(self.use("transpose"), lambda x: x.transpose(1, 2)), ("seq", n, sp[0], c)

    def leaf(self, shape):
        if shape[0] in ("img", "seq"):
            opts = ["conv"] * 4 + ["conv_transpose", "norm", "norm", "pool", "act", "act", "functional",
                                   "functional", "linear", "selfsim", "transition"]
        else:
            opts = ["linear"] * 3 + ["norm", "act", "attention", "attention", "rnn", "selfsim", "functional",
                                     "transition"]
        which = self.r.choice(opts)
        if which in ("conv", "conv_transpose"):
            return getattr(self, which)(shape, 2 if shape[0] == "img" else 1)
        return getattr(self, which)(shape)

    def keep(self, shape):
        """A module that keeps ``shape`` (for residuals, reuse, sharing)."""
        r, (kind, n, c, *sp) = self.r, shape
        which = r.choice(["conv", "norm", "act", "lin", "attention"] if kind == "tok" else
                         ["conv", "conv", "norm", "act", "lin", "selfsim"])
        if kind != "tok" and which == "conv":
            cls = nn.Conv2d if kind == "img" else nn.Conv1d
            mode = r.choice(["zeros", "circular", "replicate"]) if min(sp) > 1 else "zeros"
            self.use(cls.__name__)
            return cls(c, c, 3, padding=1, groups=r.choice([g for g in range(1, c + 1) if c % g == 0]),
                       padding_mode=mode), shape
        if which in ("norm", "act", "selfsim", "attention"):
            return getattr(self, which)(shape)
        self.use("Linear")
        if kind == "img":
            return channel_linear(c, c, True), shape
        return nn.Linear(sp[0], sp[0]), shape

    def branch_arm(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        if kind != "tok" and r.random() < 0.7:
            c2 = r.randint(1, MAXC)
            return (nn.Conv2d if kind == "img" else nn.Conv1d)(c, c2, 3, padding=1), (kind, n, c2, *sp)
        if kind == "tok" and r.random() < 0.5:
            e = r.randint(1, MAXC)
            return nn.Linear(sp[-1], e), (kind, n, c, e)
        return self.keep(shape)

    def block(self, shape, depth):
        r, (kind, n, c, *sp) = self.r, shape
        if depth <= 0 or r.random() < 0.45:
            return self.leaf(shape)
        what = r.choice(["chain", "chain", "residual", "cat", "twice", "shared", "via reference", "two shapes",
                         "functional ops", "functional ops", "training flip", "unused", "fails on second call"])
        if what not in ("cat", "two shapes"):
            self.use(what)
        d = sp[-1] if kind != "tok" else sp[0]
        if what == "chain":
            mods = []
            for _ in range(r.randint(1, 3)):
                m, shape = self.block(shape, depth - 1)
                mods.append(m)
            return chain(mods, self.use(r.choice(["seq", "list", "dict"]))), shape
        if what == "residual":
            mods, act = [self.keep(shape)[0] for _ in range(r.randint(1, 2))], r.random() < 0.5
            add = lambda self, x: F.relu(self.inner(x) + x) if act else self.inner(x) + x
            return Block(what, add, inner=mods[0] if len(mods) == 1 else nn.Sequential(*mods)), shape
        if what == "cat":
            (a, sa), (b, sb) = self.branch_arm(shape), self.branch_arm(shape)
            dim = 1 if kind != "tok" else -1
            if (sa[3:] == sb[3:]) if kind != "tok" else (sa[:3] == sb[:3]):
                out = list(sa)  # (the shape's channel or feature entry)
                out[2 if kind != "tok" else 3] += sb[2 if kind != "tok" else 3]
                cat = lambda self, x: torch.cat([self.a(x), self.b(x)], dim=dim)
                return Block(self.use(what), cat, a=a, b=b), tuple(out)
            return a, sa
        if what == "two shapes" and kind == "tok":
            two = lambda self, x: self.lin(x) + self.lin(x[:, : max(1, x.shape[1] // 2)]).mean(dim=1, keepdim=True)
            return Block(self.use(what), two, lin=nn.Linear(d, d)), shape
        if what == "functional ops":
            how = self.use(r.choice(["F.linear", "addmm", "baddbmm", "F.conv", "expand_where",
                                     "F.layer_norm", "softmax_mul", "F.pool"]))
            conv = nn.Conv2d(c, c, 1) if kind == "img" else nn.Conv1d(c, c, 1) if kind == "seq" else None
            return Block(how, functional_ops, lin=nn.Linear(d, d), ln=nn.LayerNorm(d), conv=conv), shape
        if what == "unused":
            m, shape = self.block(shape, depth - 1)
            return Block(what, lambda self, x: self.m(x), m=m, unused=nn.Linear(d, 3)), shape
        m, _ = self.keep(shape)
        if what == "via reference":
            held = Block("holder", lambda self, x: self.m(x), m=m)
            return chain([held, ViaRef(m)], r.choice(["seq", "list", "dict"])), shape
        if what == "training flip":
            return Block(what, flip_and_call, m=m), shape
        if what == "shared":  # registered in two places, called from both
            halve, double = (Block("holder", lambda self, x, k=k: self.m(x) * k, m=m) for k in (0.5, 2.0))
            return chain([halve, double], r.choice(["seq", "list"])), shape
        twice = lambda self, x: self.m(self.m(x))
        if what == "fails on second call":
            return Block("twice", twice, m=BoomLater(m)), shape
        return Block("twice", twice, m=m), shape  # (also "two shapes" on images and sequences)


def _scale_hook(m, i, o):
    return o * 1.0 if isinstance(o, torch.Tensor) else None


def build(seed):
    """(model, input, grad mode, the generator: its pieces and its random state). Deterministic."""
    r = random.Random(seed)
    torch.manual_seed(seed)
    g = Gen(r)
    n, start = r.choice([1, 2]), r.choice(["img", "img", "seq", "tok", "emb"])
    shape = (("img", n, r.randint(1, MAXC), r.randint(3, MAXHW), r.randint(3, MAXHW)) if start == "img" else
             ("seq", n, r.randint(1, MAXC), r.randint(3, MAXL)) if start == "seq" else
             ("tok", n, r.randint(2, MAXT), r.choice([2, 4, 6, 8])))
    in_shape, mods = shape, []
    for _ in range(r.randint(2, 6)):
        m, out = g.block(shape, depth=r.randint(0, 3))
        if math.prod(out[1:]) <= 4096:
            mods.append(m)
            shape = out
    head = nn.Linear(shape[2] if shape[0] != "tok" else shape[3], r.randint(1, 5)) if r.random() < 0.5 else None
    top = g.use(r.choice(["seq", "list", "dict", "plain"]))
    body = chain(mods, top) if top != "plain" else nn.Sequential(*mods)
    if start == "emb":
        vocab = r.randint(5, 20)
        emb = nn.Embedding(vocab, in_shape[3], padding_idx=r.choice([None, 0]), max_norm=r.choice([None, None, 1.0]))
        g.use("Embedding(max_norm)" if emb.max_norm else "Embedding")
        model, x = Net(body, head, shape[0], emb), torch.randint(0, vocab, (n, in_shape[2]))
    else:
        model, x = Net(body, head, shape[0]), torch.randn(*in_shape[1:])
    model.train(g.use(r.choice(["train", "eval"])) == "train")
    if r.random() < 0.15:
        model.double()
        x = x.double() if x.is_floating_point() else x
        g.use("float64")
    if r.random() < 0.3:
        for p in model.parameters():
            if r.random() < 0.5:
                p.requires_grad_(False)
        g.use("frozen parameters")
    if r.random() < 0.3:
        modules = list(model.modules())
        for m in r.sample(modules, min(len(modules), r.randint(1, 3))):
            which = r.choice(["forward", "pre", "output"])
            if which == "pre":
                m.register_forward_pre_hook(lambda m, i: None)
            else:
                m.register_forward_hook(_scale_hook if which == "output" else lambda m, i, o: None)
        g.use("user hooks")
    grad_mode = g.use(r.choice(["grad", "grad", "no_grad", "inference"]))
    return model, x, grad_mode, g


# ---- the checks --------------------------------------------------------------------------------
def costs(c):
    return {f: int(getattr(c, f)) for f in COST_FIELDS}


def differing(a, b, fields=COST_FIELDS):
    return {f: (a[f], b[f]) for f in fields if a[f] != b[f]}


def profile(model, x, grad_mode):
    """(report, messages of UncountedWarnings)."""
    with warnings.catch_warnings(record=True) as caught, GRAD[grad_mode]():
        warnings.simplefilter("always")
        report = torchcount.profile(model, x)
    return report, [str(w.message) for w in caught if issubclass(w.category, torchcount.UncountedWarning)]


def snapshot(model):
    state = {}
    for name, m in model.named_modules(remove_duplicate=False):
        state[name] = (m.training, tuple(m._forward_hooks.values()), tuple(m._forward_pre_hooks.values()),
                       "forward" in m.__dict__, tuple(map(id, m._parameters.values())),
                       tuple(map(id, m._buffers.values())))
    values = [(n, t.detach().clone(), t.requires_grad) for n, t in model.named_parameters(remove_duplicate=False)]
    values += [(n, t.clone(), None) for n, t in model.named_buffers(remove_duplicate=False)]
    return state, values


def changes(before, after):
    (modules, values), (modules2, values2) = before, after
    found = [f"module {k!r}" for k in modules if modules[k] != modules2.get(k)]
    found += [f"{a[0]}" for a, b in zip(values, values2) if a[0] != b[0] or a[2] != b[2] or not torch.equal(a[1], b[1])]
    return found + (["a parameter or buffer added or removed"] if len(values) != len(values2) else [])


class OpLog(TorchDispatchMode):
    """The aten ops a forward runs, and the strides of their outputs and of every module call's."""

    def __init__(self):
        super().__init__()
        self.ops, self.module_strides = [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        device = next((a.device.type for a in tree_leaves(args) if isinstance(a, torch.Tensor)), None)
        if priced_by_its_parts(func, device):  # as torchcount's recorder: the parts it records (inference_mode)
            with self:
                return func._op_dk(torch._C.DispatchKey.CompositeImplicitAutograd, *args, **(kwargs or {}))
        out = func(*args, **(kwargs or {}))
        self.ops.append((str(func), strides(out)))
        return out


def strides(value):
    return [t.stride() for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def op_log(model, x, grad_mode):
    log, m = OpLog(), copy.deepcopy(model)
    for mod in m.modules():
        mod.register_forward_hook(lambda mod, i, out: log.module_strides.append(strides(out)))
    with GRAD[grad_mode](), log:
        m(x)
    return log


def meta_bytes_differ(model, x, grad_mode):
    """docs/performance.md, Limits of meta counting: a meta kernel returns other strides than the
    CPU one (GroupNorm, a convolution, MultiheadAttention's slow path for the CPU's fused one), and
    a later op takes another path for them (F.linear, matmul, reshape: a copy on one device only).
    True where the two runs' ops differ and so do the strides of a module's output or of an op
    before the first op that differs."""
    cpu, meta = op_log(model, x, grad_mode), op_log(copy.deepcopy(model).to("meta"), x.to("meta"), grad_mode)
    if [op for op, _ in cpu.ops] == [op for op, _ in meta.ops]:
        return False
    if cpu.module_strides != meta.module_strides:
        return True
    for (op, cpu_strides), (meta_op, meta_strides) in zip(cpu.ops, meta.ops):
        if op != meta_op:
            return False
        if cpu_strides != meta_strides:
            return True
    return False


def check_flop_counter(model, x, grad_mode, report):  # a
    expected = flop_counter_total(model, x, grad_mode)
    if report.total.ops("2mac") != expected:
        return [f"a: total.ops('2mac') {report.total.ops('2mac')} != FlopCounterMode with closed forms {expected}"]
    return []


def check_meta(model, x, grad_mode, g, report):  # b: (failures, what was compared)
    try:
        meta, _ = profile(copy.deepcopy(model).to("meta"), x.to("meta"), grad_mode)
    except torchcount.ForwardError as e:
        failing = model.get_submodule(e.path or "")
        if isinstance(failing, nn.modules.batchnorm._BatchNorm) and failing.momentum is None:
            return [], "no meta"  # a cumulative average: 1 / num_batches_tracked.item(), no value on meta
        raise
    fields, compared = COST_FIELDS, "meta"
    if "SDPA" in g.pieces or meta_bytes_differ(model, x, grad_mode):
        fields, compared = OP_FIELDS, "meta ops"  # documented: every operation count is the same, the bytes differ
    if "SDPA" in g.pieces and NEGATED_MASK:
        # torch 2.2 and 2.5: the math SDPA that meta runs negates a causal or boolean mask first, L·S
        # comparisons that the CPU's fused kernel does not make (docs/guarantees.md, "Which torch")
        fields = tuple(f for f in fields if f != "cmps")
    found = []
    if differing(costs(meta.total.cost), costs(report.total.cost), fields):
        found.append(f"b: meta total (meta, cpu) {differing(costs(meta.total.cost), costs(report.total.cost))}")
    if meta.total.params != report.total.params:
        found.append(f"b: meta params {meta.total.params} != {report.total.params}")
    rows, meta_rows = ({(r.path, r.status): r for r in rep.layers} for rep in (report, meta))
    if rows.keys() != meta_rows.keys():
        found.append(f"b: rows only on one device: {sorted(rows.keys() ^ meta_rows.keys())}")
    for key in rows.keys() & meta_rows.keys():
        a, b = rows[key], meta_rows[key]
        bad = {**differing(costs(b.cost), costs(a.cost), fields), **{
            f"self {k}": v for k, v in differing(costs(b.self_cost), costs(a.self_cost), fields).items()}}
        if bad or (a.params, a.calls) != (b.params, b.calls):
            found.append(f"b: meta row {key} (meta, cpu): {bad}, params {b.params} {a.params}, "
                         f"calls {b.calls} {a.calls}")
    return found, compared


def check_rows(model, report):  # c
    found, total = [], costs(report.total.cost)
    rows = list(report.layers)
    if report.root is not None and not any(r is report.root for r in rows):
        rows.append(report.root)
    summed = {f: sum(costs(r.self_cost)[f] for r in rows) for f in COST_FIELDS}
    if summed != total:
        found.append(f"c: self costs of the rows (sum, total) {differing(summed, total)}")
    if report.root is not None and costs(report.root.cost) != total:
        found.append(f"c: root cost (root, total) {differing(costs(report.root.cost), total)}")
    shared = len(list(model.named_parameters(remove_duplicate=False))) != len(list(model.parameters()))
    for depth in [None] + list(range(max([r.depth for r in report.layers] + [0]) + 1)):
        report.table(depth=depth)
        report.table(depth=depth, convention="worksheet")
        records = list(csv.DictReader(io.StringIO(report.to_csv(depth=depth))))
        summed = {f: sum(int(rec[f]) for rec in records) for f in COST_FIELDS + ("ops", "params")}
        bad = differing(summed, {**total, "ops": report.total.flops, "params": report.total.params},
                        COST_FIELDS + ("ops",) + (() if shared else ("params",)))
        if bad:
            found.append(f"c: CSV at depth {depth}: column sums (csv, total) {bad}")
    return found


def check_grad_modes(model, x, grad_mode, report):  # f
    other = {"grad": "no_grad", "no_grad": "inference", "inference": "grad"}[grad_mode]
    fields = COST_FIELDS
    if "inference" in (grad_mode, other):
        # bytes are those of the kernels that ran, and under inference_mode PyTorch runs others
        # (max_pool2d without its indices, SDPA without its logsumexp): operation counts only.
        # (A composite op priced as a zero op moved 0 bytes there, a real bug: tests/test_ops.py)
        fields = OP_FIELDS
    again, _ = profile(model, x, other)
    bad = differing(costs(again.total.cost), costs(report.total.cost), fields)
    return [f"f: cost under {other} (that, {grad_mode}) {bad}"] if bad else []


def check_failure(model, x, grad_mode, r):  # d, after an injected failure
    called, m = set(), copy.deepcopy(model)
    names = {id(mod): name for name, mod in m.named_modules()}
    for mod in m.modules():
        mod.register_forward_pre_hook(lambda mod, args: called.add(names[id(mod)]))
    with torch.no_grad():
        m(x)
    target, before, found = model.get_submodule(r.choice(sorted(called))), snapshot(model), []
    second_call = [mod for mod in model.modules() if isinstance(mod, BoomLater)]
    if second_call and r.random() < 0.5:
        target, how = r.choice(second_call), "on its second call"
        target.boom_later, target.n = True, 0
    elif isinstance(target, Block) and r.random() < 0.5:
        target.boom, how = True, "after its children"
    else:
        def failing(*args, **kwargs):
            raise RuntimeError("injected")
        target.forward, how = failing, "its forward replaced"
    path = {id(mod): name for name, mod in model.named_modules()}[id(target)]  # its first name: its row's
    try:
        profile(model, x, grad_mode)
        found.append(f"d: no error with a failure injected in {path!r} ({how})")
    except torchcount.ForwardError as e:
        if e.path != path or (path or "root") not in str(e):
            found.append(f"d: ForwardError for {e.path!r} ({str(e)[:150]!r}), failure injected in {path!r} ({how})")
    for attr in ("boom", "boom_later"):
        target.__dict__.pop(attr, None)
    if how == "its forward replaced" and target.__dict__.pop("forward", None) is not failing:
        found.append(f"d: the replaced forward of {path!r} not put back")
    changed = changes(before, snapshot(model))
    return found + ([f"d: changed by the failed profile ({path!r}, {how}): {changed[:5]}"] if changed else [])


def check_network(seed):
    """(failures, what was compared on meta): every invariant of the module docstring on network ``seed``."""
    model, x, grad_mode, g = build(seed)
    try:  # the generator's own check: a network torch cannot run is skipped (a norm over 1 value)
        with GRAD[grad_mode]():
            copy.deepcopy(model)(x)
    except Exception:
        return [], "invalid"
    before = snapshot(model)
    report, uncounted = profile(model, x, grad_mode)
    changed = changes(before, snapshot(model))
    found = [f"d: changed by profile: {changed[:5]}"] if changed else []
    if uncounted or report.uncounted:  # e
        found.append(f"e: uncounted {uncounted} {[(u.path, u.what) for u in report.uncounted]}")
    if report.total.params != sum(p.numel() for p in model.parameters()):
        found.append(f"params {report.total.params} != {sum(p.numel() for p in model.parameters())}")
    found += check_flop_counter(model, x, grad_mode, report)
    found += check_rows(model, report)
    found += check_grad_modes(model, x, grad_mode, report)
    on_meta, compared = check_meta(model, x, grad_mode, g, report)
    found += on_meta + check_failure(model, x, grad_mode, g.r)
    if found:
        found = [f"seed {seed} ({grad_mode}; rerun: check_network({seed})):\n  " + "\n  ".join(found) + f"\n{model}"]
    return found, compared


def check_networks(seeds):
    failures, kinds = [], {"meta": 0, "meta ops": 0, "no meta": 0, "invalid": 0, "raised": 0}
    for seed in seeds:
        try:
            found, kind = check_network(seed)
        except Exception as e:  # (a profile that raised: ParameterModifiedError, a ForwardError on meta)
            found, kind = [f"seed {seed} (rerun: check_network({seed})): {type(e).__name__}: {e}"], "raised"
        failures += found
        kinds[kind] += 1
    if failures:
        pytest.fail(f"{len(failures)} of {len(seeds)} networks wrong; the first:\n\n" + "\n\n".join(failures[:3]),
                    pytrace=False)
    assert kinds["invalid"] <= 0.02 * len(seeds) and kinds["meta"] >= 0.7 * len(seeds), kinds


@pytest.fixture(autouse=True)
def _one_thread(one_thread):  # (conftest's: small tensors run faster on one thread)
    yield


def test_generator_covers_its_pieces():
    pieces = set()
    for seed in range(400):
        pieces |= build(seed)[3].pieces
    expected = {"Conv1d", "Conv2d", "Conv2d(groups)", "padding reflect", "padding circular", "ConvTranspose1d",
                "ConvTranspose2d", "BatchNorm2d", "GroupNorm", "LayerNorm", "InstanceNorm2d", "MaxPool2d",
                "AdaptiveAvgPool1d", "MultiheadAttention", "SDPA", "LSTM", "GRU", "Embedding",
                "Embedding(max_norm)", "einsum", "matmul", "bmm", "residual", "cat", "twice", "shared", "list",
                "dict", "via reference", "training flip", "fails on second call", "F.conv", "F.layer_norm",
                "train", "eval", "grad", "no_grad", "inference", "transpose + contiguous", "float64", "unused",
                "two shapes", "F.pad(circular)", "user hooks", "frozen parameters", "ReLU(inplace)"}
    assert not expected - pieces


@pytest.mark.parametrize("first", range(0, 400, 50))
def test_random_networks(first):
    check_networks(range(first, first + 50))


@pytest.mark.slow
def test_random_networks_many():
    check_networks(range(1000, 3000))


# ---- a second generator: the layer zoo (tests/fuzz_layers.py) ----------------------------------------
# Every invariant below holds for any model:
#   g  the model is left as found: each module's training flag, __dict__ keys (no attribute left
#      behind), hook dicts and parameter/buffer slots (the same objects), the state_dict bit for bit,
#      requires_grad and .grad, torch's CPU random stream and the caller's grad mode; inputs unchanged;
#   h  rows add up in every category (self costs to the total, each row to its own plus its subtree's),
#      the by_type groups too; every module's row has as many calls as its forward ran; nothing
#      uncounted (and coverage 1.0);
#   i  every convention is a weighted sum of the one breakdown (docs/conventions.md's table), per row;
#   j  a second profile gives the same rows and table;
#   k  with record_ops=False a row priced by a rule costs the same (its own part), and a row whose own
#      work is no longer seen (no rule, or hooks of its own) is listed as uncounted, never a silent 0;
#   l  total MACs × 2 = FlopCounterMode's total where it counts the same ops; inside the modules it does
#      not count (see fuzz_layers: RNNs and cells, Bilinear, CPU attention kernels, the fused
#      transformer paths) a closed form of their MACs instead, and inside parametrizations (spectral
#      norm's power iteration is aten.mv) our own rows, and, on a torch whose flop_counter counts 0 for
#      the composite ops an inference_mode region passes it whole (torch 2.2), inside those regions too;
#   m  on the meta device every operation count of every row is the same (bytes may differ where
#      meta kernels return other strides: docs/performance.md); not compared where plain torch cannot
#      run the network on meta (torch 2.2: the non-reentrant checkpoint, torch._weight_norm of either weight_norm, RReLU in
#      eval, ChannelShuffle); nor, there, the L·S comparisons of SDPA's masks (as check_meta's b).
import fuzz_layers  # noqa: E402

ZOO_CONVENTIONS = {"flops": dict(macs=2, mults=1, adds=1, divs=1, cmps=1, transc=1), "macs": dict(macs=1),
                   "torchvision": dict(macs=1), "mults": dict(macs=1, mults=1), "2mac": dict(macs=2),
                   "worksheet": dict(macs=1, mults=1, adds=1, divs=1, cmps=1, assigns=1, transc=1)}
_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks", "_state_dict_pre_hooks",
               "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")


def _bits(t):
    t = t.detach()
    return t.shape, t.dtype, t.stride(), t.reshape(-1).contiguous().view(torch.uint8).clone()


def zoo_snapshot(model, x):
    modules = [(name, m.training, sorted(m.__dict__), [sorted((k, id(v)) for k, v in getattr(m, h).items())
                                                        for h in _HOOK_DICTS],
                [(k, id(v)) for k, v in m._parameters.items()], [(k, id(v)) for k, v in m._buffers.items()])
               for name, m in model.named_modules(remove_duplicate=False)]
    state = [(k, _bits(v)) for k, v in model.state_dict().items()]
    params = [(n, p.requires_grad, p.grad is None) for n, p in model.named_parameters(remove_duplicate=False)]
    return modules, state, params, _bits(torch.random.get_rng_state()), torch.is_grad_enabled(), _bits(x)


def zoo_changes(before, after):
    found = [f"module {a[0]!r}" for a, b in zip(before[0], after[0]) if a != b]
    found += ["modules added or removed"] if len(before[0]) != len(after[0]) else []
    found += [f"state_dict {a[0]!r}" for a, b in zip(before[1], after[1])
              if a[0] != b[0] or a[1][:3] != b[1][:3] or not torch.equal(a[1][3], b[1][3])]
    found += ["state_dict entries added or removed"] if len(before[1]) != len(after[1]) else []
    found += ["requires_grad or .grad"] if before[2] != after[2] else []
    found += ["torch's random stream"] if not torch.equal(before[3][3], after[3][3]) else []
    found += ["grad mode"] if before[4] != after[4] else []
    return found + (["the input"] if not torch.equal(before[5][3], after[5][3]) else [])


def _rows(report):
    return list(report.layers) + ([report.root] if all(r is not report.root for r in report.layers) else [])


def zoo_sums(report):  # h
    found, total = [], costs(report.total.cost)
    rows = _rows(report)
    summed = {f: sum(costs(r.self_cost)[f] for r in rows) for f in COST_FIELDS}
    if summed != total:
        found.append(f"h: self costs of the rows (sum, total) {differing(summed, total)}")
    for r in rows:
        if r.status == "rule":
            continue
        below = [s for s in rows if s is not r and (not r.path or s.path.startswith(r.path + "."))]
        summed = {f: costs(r.self_cost)[f] + sum(costs(s.self_cost)[f] for s in below) for f in COST_FIELDS}
        want = costs(r.tree_cost if r.tree_cost is not None else r.cost)
        if summed != want:
            found.append(f"h: row {r.path!r}: own + its subtree's (sum, row) {differing(summed, want)}")
    groups = {f: sum(int(getattr(g.cost, f)) for g in report.by_type().groups) for f in COST_FIELDS}
    if groups != total:
        found.append(f"h: by_type groups (sum, total) {differing(groups, total)}")
    for r in rows + [report.total]:
        c = costs(r.cost)
        for name, weights in ZOO_CONVENTIONS.items():  # i
            if r.ops(name) != sum(c[k] * w for k, w in weights.items()):
                found.append(f"i: {name} of {getattr(r, 'path', 'the total')!r}: {r.ops(name)}")
    return found


def zoo_calls(m, x, grad_mode, report):  # h: each row's calls, against pre-hooks on a copy of the model
    ran = {}
    names = {}
    for name, mod in m.named_modules():
        names.setdefault(id(mod), name)
        mod.register_forward_pre_hook(lambda mod, args: ran.__setitem__(names[id(mod)], ran.get(names[id(mod)], 0) + 1))
    if not probe("nn.TransformerEncoderLayer leaving its fast path for a hook"):
        for mod in m.modules():  # (torch 2.2 takes it hooks or not; profile turns it off as this does)
            if isinstance(mod, nn.TransformerEncoderLayer):
                mod.activation_relu_or_gelu = 0
    with GRAD[grad_mode]():
        m(x)
    return [f"h: row {r.path!r} ({r.status}): {r.calls} calls, its forward ran {ran.get(r.path, 0)}"
            for r in report.layers if r.status != "covered" and r.calls != ran.get(r.path, 0)]


def zoo_flop_counter(model, m, x, grad_mode, report):  # l (m: a copy of the model)
    outer = []  # the outermost modules flop_counter does not count: a closed form, or our own rows

    def walk(mod, path, seen):
        if id(mod) not in seen:
            seen.add(id(mod))
            if (getattr(mod, "closed", None) is not None or type(mod).__name__ == "ParametrizationList"
                    or isinstance(mod, fuzz_layers.Block) and mod.name == "inference region"
                    and not flop_counter_counts_inside_inference_mode()):  # (torch 2.2's counts 0 there)
                outer.append(path)
                return
            for name, child in mod.named_children():
                walk(child, f"{path}.{name}" if path else name, seen)
    walk(model, "", set())
    ours = report.total.ops("2mac")
    for path in outer:
        if getattr(m.get_submodule(path), "closed", None) is None:
            ours -= report.row(path).ops("2mac")
    inside = [0]
    with FlopCounterMode(display=False) as mode, GRAD["no_grad" if grad_mode == "inference" else grad_mode]():
        for path in outer:
            mod, before = m.get_submodule(path), []

            def pre(mod, args, before=before):
                before.append(mode.get_total_flops())
                if getattr(mod, "closed", None) is not None:
                    inside[0] -= 2 * mod.closed(mod, args[0])
            mod.register_forward_pre_hook(pre)
            mod.register_forward_hook(
                lambda mod, args, out, before=before: inside.__setitem__(0, inside[0] + mode.get_total_flops() - before.pop()))
        try:
            m(x)
        except (AttributeError, AssertionError, RuntimeError):
            # (torch's own failures, not ours: FlopCounterMode's module tracker loses a parametrized
            # weight read inside an inference_mode region, or asserts on an output made without grad
            # inside a forward run with it; the same forward runs without the counter)
            return []
    expected = mode.get_total_flops() - inside[0]
    return [] if ours == expected else [f"l: total.ops('2mac') {ours} != FlopCounterMode's {expected}, its count "
                                        f"inside {outer} replaced by closed forms or our rows"]


def zoo_record_ops(model, x, grad_mode, report, again):  # k
    found, rows = [], {r.path: r for r in again.layers}
    listed = {u.path for u in again.uncounted}
    for r in report.layers:
        other = rows.get(r.path)
        if other is None or costs(r.self_cost) == costs(other.self_cost):
            continue
        hooked = r.module is not None and (r.module._forward_hooks or r.module._forward_pre_hooks)
        if r.status == "rule" and not hooked:
            found.append(f"k: ruled row {r.path!r} with record_ops=False (that, recorded) "
                         f"{differing(costs(other.self_cost), costs(r.self_cost))}")
        elif r.path not in listed:
            found.append(f"k: row {r.path!r}'s own work not seen with record_ops=False, not listed as uncounted")
    return found


def _meta_this_torch_lacks(module) -> bool:
    """Whether ``module`` failed on meta because plain torch cannot run it there (torch 2.2: the
    non-reentrant checkpoint, torch._weight_norm of either weight_norm, RReLU in eval, ChannelShuffle);
    the tested torch runs them all."""
    if isinstance(module, fuzz_layers.Block) and module.name == "checkpoint":
        return not probe("torch.utils.checkpoint on meta")
    legacy = any(type(h).__name__ == "WeightNorm" for h in module._forward_pre_hooks.values())
    if type(module).__name__ == "_WeightNorm" or legacy:
        return not probe("torch._weight_norm on meta")
    if isinstance(module, nn.RReLU) and not module.training:
        return not probe("nn.RReLU in eval on meta")
    if isinstance(module, nn.ChannelShuffle):
        return not probe("aten.channel_shuffle on meta")
    return False


def check_zoo_network(seed):
    model, x, grad_mode, g = fuzz_layers.build(seed)
    try:
        with GRAD[grad_mode]():
            copy.deepcopy(model)(x)
    except Exception:
        return [], "invalid"
    # (copies made before the profile: the legacy weight_norm's weight, computed with grad in a forward,
    # cannot be deep-copied after it; a plain forward leaves it so as well)
    for_calls, for_flop_counter, on_meta = (copy.deepcopy(model) for _ in range(3))
    on_meta = on_meta.to("meta")
    before = zoo_snapshot(model, x)
    report, warned = profile(model, x, grad_mode)
    found = [f"g: changed by profile: {c}" for c in zoo_changes(before, zoo_snapshot(model, x))]
    if warned or report.uncounted or report.coverage != 1.0:
        found.append(f"h: uncounted {[(u.path, u.what) for u in report.uncounted]}")
    found += zoo_sums(report) + zoo_calls(for_calls, x, grad_mode, report)
    second, _ = profile(model, x, grad_mode)  # j
    key = lambda rep: [(r.path, r.status, r.calls, r.params, costs(r.cost), costs(r.self_cost)) for r in rep.layers]
    if key(second) != key(report) or second.table() != report.table():
        found.append("j: a second profile differs")
    before = zoo_snapshot(model, x)  # (zoo_calls' forward of a copy drew from the random stream)
    with GRAD[grad_mode]():
        unrecorded = torchcount.profile(model, x, record_ops=False, warn=False)
    found += [f"g: changed by profile(record_ops=False): {c}" for c in zoo_changes(before, zoo_snapshot(model, x))]
    found += zoo_record_ops(model, x, grad_mode, report, unrecorded) + zoo_flop_counter(model, for_flop_counter, x, grad_mode, report)
    compared = "no meta"
    if "packed" not in g.pieces:  # (pack_padded_sequence reads the lengths' values)
        try:
            meta, _ = profile(on_meta, x.to("meta"), grad_mode)
            compared = "meta"
        except torchcount.ForwardError as e:
            failing = on_meta.get_submodule(e.path or "")
            if not (isinstance(failing, nn.modules.batchnorm._BatchNorm) and failing.momentum is None
                    or _meta_this_torch_lacks(failing)):
                raise  # (a cumulative average reads num_batches_tracked's value: no meta)
        else:
            zero, ours = dict.fromkeys(COST_FIELDS, 0), {r.path: costs(r.cost) for r in _rows(report)}
            theirs = {r.path: costs(r.cost) for r in _rows(meta)}
            # (torch 2.2 and 2.5: the math SDPA meta runs negates a causal mask first, L·S cmps: check_meta's b)
            fields = tuple(f for f in OP_FIELDS if f != "cmps") if "SDPA" in g.pieces and NEGATED_MASK else OP_FIELDS
            found += [f"m: row {p!r} on meta (cpu, meta) {differing(ours.get(p, zero), theirs.get(p, zero), fields)}"
                      for p in sorted(ours.keys() | theirs.keys()) if differing(ours.get(p, zero), theirs.get(p, zero), fields)]
    if found:
        found = [f"seed {seed} ({grad_mode}; rerun: check_zoo_network({seed})):\n  " + "\n  ".join(found[:8])
                 + f"\n{model}"]
    return found, compared


@pytest.mark.filterwarnings("ignore::FutureWarning")  # (the legacy weight_norm is deprecated)
def test_layer_zoo_generator_covers_its_pieces():
    pieces = set()
    for seed in range(300):
        pieces |= fuzz_layers.build(seed)[3].pieces
    expected = {"Conv3d", "ConvTranspose3d", "Conv2d(groups)", "Bilinear", "BatchNorm3d", "InstanceNorm1d", "GroupNorm",
                "RMSNorm", "LocalResponseNorm", "LPPool2d", "FractionalMaxPool2d", "pool+unpool", "AdaptiveMaxPool3d",
                "Upsample", "PixelShuffle", "PixelUnshuffle", "Fold/Unfold", "GLU", "RReLU", "PReLU", "AlphaDropout",
                "Dropout2d", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
                "TransformerDecoderLayer", "SDPA", "RNN", "LSTM", "GRU", "packed", "RNNCell", "LSTMCell", "GRUCell",
                "Embedding", "EmbeddingBag max", "EmbeddingBag sum", "shared", "twice", "two shapes", "functional",
                "no_grad region", "inference region", "checkpoint", "kwargs", "counter", "param spectral_norm",
                "param weight_norm", "param legacy_weight_norm", "param scale", "hook pre-change", "hook kwargs",
                "hook always", "hook calls child", "instance forward", "tied", "rebind buffer", "new slot",
                "toggle requires_grad", "grad off", "frozen", "train", "eval", "grad", "no_grad", "inference",
                "float64"}
    if not probe("nn.RMSNorm"):  # (torch 2.2: the generator leaves it out)
        expected.remove("RMSNorm")
    assert not expected - pieces, expected - pieces


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("first", range(0, 60, 30))
def test_layer_zoo_networks(first):
    failures, kinds = [], {"meta": 0, "no meta": 0, "invalid": 0}
    for seed in range(first, first + 30):
        found, kind = check_zoo_network(seed)
        failures += found
        kinds[kind] += 1
    if failures:
        pytest.fail(f"{len(failures)} of 30 networks wrong; the first:\n\n" + "\n\n".join(failures[:3]), pytrace=False)
    assert kinds["invalid"] <= 1 and kinds["meta"] >= 24, kinds


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_layer_zoo_networks_many():
    failures = [f for seed in range(1000, 3000) for f in check_zoo_network(seed)[0]]
    assert not failures, f"{len(failures)} networks wrong; the first:\n\n" + "\n\n".join(failures[:3])


def zoo_train_step(model, x, opt):  # (gradients zeroed in place first: the step leaves its own)
    opt.zero_grad(set_to_none=False)
    model(x).float().pow(2).mean().backward()
    opt.step()


def _plain(value):
    """A comparable copy: a tensor as its shape, dtype and bytes (bit for bit, NaNs included)."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        return tuple(t.shape), t.dtype, t.reshape(-1).contiguous().view(torch.uint8).tolist()
    return value


def _optimizer_state(opt):
    return ([sorted((k, _plain(v)) for k, v in s.items()) for s in opt.state.values()],
            [sorted((k, v) for k, v in group.items() if k != "params") for group in opt.param_groups])


def check_zoo_train_step(seed):
    """A training step of a layer-zoo network (method=), after one real step (so that the optimizer has
    state and the parameters gradients): counted completely, its rows adding up, and the model, its
    gradients and the optimizer left as found."""
    model, x, _, g = fuzz_layers.build(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params or g.pieces & {"grad off", "toggle requires_grad"}:
        return [], "skipped"
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9) if seed % 2 else torch.optim.Adam(params, lr=1e-3)
    try:
        zoo_train_step(copy.deepcopy(model), x, type(opt)(params, lr=0.1))  # (one torch can run)
        zoo_train_step(model, x, opt)
    except Exception:
        return [], "skipped"
    before, state = zoo_snapshot(model, x), _optimizer_state(opt)
    grads = [_plain(p.grad) for p in params]
    report = torchcount.profile(model, (x, opt), method=zoo_train_step, warn=False)
    found = [f"g: changed by the step's profile: {c}" for c in zoo_changes(before, zoo_snapshot(model, x))]
    if _optimizer_state(opt) != state:
        found.append("g: the optimizer's state not put back")
    if [_plain(p.grad) for p in params] != grads:
        found.append("g: a gradient not put back")
    if not report.complete:
        found.append(f"h: uncounted {sorted({(u.path, u.what) for u in report.uncounted})[:5]}")
    total, rows = costs(report.total.cost), _rows(report)
    summed = {f: sum(costs(r.self_cost)[f] for r in rows) for f in COST_FIELDS}
    if summed != total:
        found.append(f"h: self costs of the rows (sum, total) {differing(summed, total)}")
    if found:
        found = [f"seed {seed} ({type(opt).__name__}; rerun: check_zoo_train_step({seed})):\n  " + "\n  ".join(found)
                 + f"\n{model}"]
    return found, "stepped"


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_layer_zoo_training_steps():
    failures, kinds = [], {"stepped": 0, "skipped": 0}
    for seed in range(25):
        found, kind = check_zoo_train_step(seed)
        failures += found
        kinds[kind] += 1
    assert not failures, f"{len(failures)} steps wrong; the first:\n\n" + "\n\n".join(failures[:3])
    assert kinds["stepped"] >= 15, kinds


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_layer_zoo_training_steps_many():
    failures = [f for seed in range(1000, 1600) for f in check_zoo_train_step(seed)[0]]
    assert not failures, f"{len(failures)} steps wrong; the first:\n\n" + "\n\n".join(failures[:3])
