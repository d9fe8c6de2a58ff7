"""The generator of tests/test_network_fuzz.py's second random-network test (``test_layer_zoo_networks``).

A random tree of modules over images (N, C, H, W), volumes (N, C, D, H, W), sequences (N, C, L) and
tokens (N, T, D), with flattens, unflattens and permutes between them. Leaves: Conv1d/2d/3d and
ConvTranspose1d/2d/3d (groups, stride, dilation, 'same', every padding mode, output padding), Linear,
Bilinear, Batch/Instance(track_running_stats)/Group/Layer/RMS/LocalResponse norms, max/avg/LP/
fractional/adaptive pooling (ceil_mode, dilation, divisor_override) and MaxPool + MaxUnpool, some
thirty activations, softmaxes and dropout variants, padding modules, Upsample / F.interpolate,
PixelShuffle/Unshuffle, ChannelShuffle, Fold/Unfold, GLU, Identity; on tokens MultiheadAttention
(kdim/vdim, bias_kv, zero_attn, dropout, causal/float/padding masks, need_weights, averaged or not),
TransformerEncoderLayer / TransformerEncoder (nested tensors enabled or not) / TransformerDecoderLayer
(norm_first, relu/gelu, masks; the fused path in eval under no_grad), a direct SDPA, RNN/LSTM/GRU
(layers, bidirectional, proj_size, dropout, packed sequences of random lengths) and RNN/LSTM/GRU cells
stepped over time; an Embedding or EmbeddingBag (sum/mean/max, offsets, per-sample weights, max_norm)
input. Structure: Sequential (nested), ModuleList/ModuleDict loops, residuals, a module registered at
two places, one called twice or on two shapes, functional code around a child, no_grad and
inference_mode regions inside forward, torch.utils.checkpoint, keyword arguments, dict outputs, user
forward hooks and pre-hooks that change inputs or outputs (with kwargs, always_call), a parent's hook
calling a child, a forward set on the instance, tied weights, parametrizations (a user one,
weight_norm, spectral_norm, the legacy weight_norm), frozen parameters, and forwards that misbehave:
buffers updated in place or rebound, a buffer slot registered in forward, requires_grad flipped, grad
mode switched off and left so. (orthogonal is not generated: its matrix_exp is listed as uncounted.)

Modules whose MACs flop_counter does not count (RNNs and cells, Bilinear's _trilinear, the attention
kernels on CPU, the fused transformer paths) are ``Block``s with a ``closed(self, x)``: the MACs of
one call, written out here.
"""
import math
import random
import types

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.checkpoint import checkpoint

MAXC, MAXS, MAXL, MAXT = 6, 8, 12, 6


class Block(nn.Module):
    closed = None  # fn(self, x) -> MACs of one call, for the modules flop_counter does not count

    def __init__(self, name, fn=None, closed=None, **parts):
        super().__init__()
        self.name, self.fn = name, fn
        if closed is not None:
            self.closed = closed
        for k, v in parts.items():
            setattr(self, k, v)

    def extra_repr(self):
        return self.name

    def forward(self, x):
        return self.fn(self, x)


def fn(name, f):
    return Block(name, lambda self, x: f(x))


class Scale(nn.Module):  # a parametrization
    def forward(self, w):
        return w * 0.5


class Counter(nn.Module):
    """Buffers updated in forward: a step count and an EMA of the input's mean."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("ema", torch.zeros(()))

    def forward(self, x):
        self.steps += 1
        self.ema.mul_(0.9).add_(0.1 * x.detach().mean().to(self.ema.dtype))
        return self.m(x)


class Gen:
    def __init__(self, r):
        self.r, self.pieces = r, set()

    def use(self, p):
        self.pieces.add(p)
        return p

    def tried(self, m, shape, piece=None):
        with torch.no_grad():
            try:
                y = m(torch.zeros(*shape[1:]))
            except Exception:
                return None
        if not isinstance(y, torch.Tensor) or y.numel() == 0 or y.numel() > 3000:
            return None
        if piece:
            self.use(piece)
        return m, (shape[0], *y.shape)

    # ---- leaves --------------------------------------------------------------------------------
    def conv(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        dims = len(sp)
        for _ in range(10):
            c2 = r.randint(1, MAXC)
            g = r.choice([g for g in range(1, min(c, c2) + 1) if c % g == 0 and c2 % g == 0])
            k, s, d = r.choice([1, 2, 3]), r.choice([1, 1, 2]), r.choice([1, 1, 2])
            mode = r.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
            p = r.choice(["same", 0, 1]) if s == 1 else r.choice([0, 1])
            if r.random() < 0.25:
                cls = [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d][dims - 1]
                m = cls(c, c2, k, stride=s, padding=r.choice([0, 1]) if k > 1 else 0, groups=g, dilation=d,
                        output_padding=r.randrange(0, max(s, d)), bias=r.random() < 0.7)
            else:
                cls = [nn.Conv1d, nn.Conv2d, nn.Conv3d][dims - 1]
                m = cls(c, c2, k, stride=s, padding=p, dilation=d, groups=g, bias=r.random() < 0.7,
                        padding_mode=mode)
            found = self.tried(m, shape, cls.__name__ + ("(groups)" if g > 1 else ""))
            if found:
                return found
        return nn.Identity(), shape

    def norm(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        dims = len(sp) if kind != "tok" else 0
        opts = ["bn", "in", "gn", "ln", "lrn"] if kind != "tok" else ["ln", "rms", "ln", "bn1"]
        if "rms" in opts and not hasattr(nn, "RMSNorm"):  # (torch 2.2 has none: nn.RMSNorm came in 2.4)
            opts.remove("rms")
        w = r.choice(opts)
        if w == "bn" and n * math.prod(sp) > 1:
            m = [nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d][dims - 1](
                c, affine=r.random() < 0.8, track_running_stats=r.random() < 0.8, momentum=r.choice([0.1, 0.1, None]))
        elif w == "bn1" and n * sp[0] > 1:
            m = nn.BatchNorm1d(c)
        elif w == "in" and math.prod(sp) > 1:
            m = [nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d][dims - 1](
                c, affine=r.random() < 0.5, track_running_stats=r.random() < 0.5)
        elif w == "gn" and c * math.prod(sp) > 1:
            gs = [g for g in range(1, c + 1) if c % g == 0 and c // g * math.prod(sp) > 1]
            m = nn.GroupNorm(r.choice(gs), c, affine=r.random() < 0.8) if gs else nn.Identity()
        elif w == "lrn":
            m = nn.LocalResponseNorm(r.randint(1, 4))
        elif w == "rms":
            m = nn.RMSNorm(sp[-1], eps=r.choice([None, 1e-5]), elementwise_affine=r.random() < 0.8)
        elif kind == "tok":
            m = nn.LayerNorm(sp[-1], elementwise_affine=r.random() < 0.8, bias=r.random() < 0.8)
        else:
            m = nn.LayerNorm([c, *sp] if r.random() < 0.5 else sp[-1:], elementwise_affine=r.random() < 0.8)
        return self.tried(m, shape, type(m).__name__) or (nn.Identity(), shape)

    def pool(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        dims = len(sp)
        w = r.choice(["Max", "Avg", "AdaptiveMax", "AdaptiveAvg", "LP", "Fractional", "Unpool"])
        if w.startswith("Adaptive"):
            out = [r.randint(1, v + 1) for v in sp]
            m = getattr(nn, f"{w}Pool{dims}d")(out if dims > 1 else out[0])
        elif w == "LP" and dims < 3:
            m = getattr(nn, f"LPPool{dims}d")(r.choice([1, 2, 3.0]), r.choice([1, 2]), stride=r.choice([None, 1]),
                                              ceil_mode=r.random() < 0.3)
        elif w == "Fractional" and dims > 1:
            m = getattr(nn, f"FractionalMaxPool{dims}d")(2, output_size=[max(1, v // 2) for v in sp])
        elif w == "Unpool":
            k = 2
            pool = getattr(nn, f"MaxPool{dims}d")(k, return_indices=True)
            unpool = getattr(nn, f"MaxUnpool{dims}d")(k)
            m = Block("pool+unpool", lambda self, x: self.unpool(*self.pool(x), output_size=x.shape[2:]),
                      pool=pool, unpool=unpool)
        else:
            w = "Max" if w in ("LP", "Fractional") else w
            k = r.choice([2, 3])
            kw = dict(stride=r.choice([None, 1, 2]), padding=r.choice([0, 1]), ceil_mode=r.random() < 0.4)
            if w == "Max":
                kw["dilation"] = r.choice([1, 2])
            else:
                kw["count_include_pad"] = r.random() < 0.5
                if dims > 1 and r.random() < 0.3:
                    kw["divisor_override"] = 3
            m = getattr(nn, f"{w}Pool{dims}d")(k, **kw)
        name = m.name if isinstance(m, Block) else type(m).__name__
        return self.tried(m, shape, name) or (nn.Identity(), shape)

    def act(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        opts = [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6(), nn.LeakyReLU(0.1), nn.ELU(), nn.SELU(), nn.CELU(0.5),
                nn.GELU(), nn.GELU("tanh"), nn.SiLU(), nn.Mish(), nn.Hardswish(), nn.Hardsigmoid(), nn.Hardtanh(),
                nn.Softplus(beta=2, threshold=5), nn.Softsign(), nn.Tanhshrink(), nn.Threshold(0.1, 2.0),
                nn.LogSigmoid(), nn.Sigmoid(), nn.Tanh(), nn.Hardshrink(), nn.Softshrink(), nn.RReLU(),
                nn.PReLU(), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1), nn.Softmin(dim=-1), nn.Identity(),
                nn.Dropout(r.choice([0.0, 0.3])), nn.AlphaDropout(0.2), nn.FeatureAlphaDropout(0.2)]
        if kind != "tok":
            opts.append(nn.PReLU(c))
        if kind == "img":
            opts += [nn.Dropout2d(0.3), nn.Softmax2d()]
        if kind == "vol":
            opts += [nn.Dropout3d(0.3)]
        if kind == "seq":
            opts += [nn.Dropout1d(0.3)]
        if kind == "img":
            pads = [nn.ZeroPad2d(1), nn.ReflectionPad2d(1), nn.ReplicationPad2d((1, 0, 1, 0)), nn.ConstantPad2d(1, 0.5),
                    nn.CircularPad2d(1)]
            opts += pads + ([nn.ChannelShuffle(2)] if c % 2 == 0 else [])
        if kind == "seq":
            opts += [nn.ReflectionPad1d(1), nn.ZeroPad1d((0, 2)), nn.ReplicationPad1d(1), nn.CircularPad1d(1)]
        if kind == "vol":
            opts += [nn.ReplicationPad3d(1), nn.ConstantPad3d(1, 1.0)]
        m = r.choice(opts)
        if r.random() < 0.15:
            m = nn.GLU(dim=-1) if sp[-1] % 2 == 0 else m
        return self.tried(m, shape, type(m).__name__) or (nn.Identity(), shape)

    def upsample(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        dims = len(sp)
        modes = ["nearest", ["linear", "bilinear", "trilinear"][dims - 1]] + (["bicubic"] if dims == 2 else [])
        mode = r.choice(modes)
        kw = {"mode": mode}
        if mode != "nearest":
            kw["align_corners"] = r.random() < 0.5
        if r.random() < 0.5:
            kw["scale_factor"] = r.choice([2, 0.5, 1.5])
        else:
            kw["size"] = tuple(r.randint(1, MAXS) for _ in sp)
        if r.random() < 0.3:
            m = fn(f"interpolate({mode})", lambda x: F.interpolate(x, **kw))
        else:
            m = nn.Upsample(**kw)
        return self.tried(m, shape, "Upsample") or (nn.Identity(), shape)

    def pixel(self, shape):
        r, (kind, n, c, h, w) = self.r, shape
        if h % 2 == 0 and w % 2 == 0 and r.random() < 0.5:
            return self.tried(nn.PixelUnshuffle(2), shape, "PixelUnshuffle") or (nn.Identity(), shape)
        if c % 4 == 0:
            return self.tried(nn.PixelShuffle(2), shape, "PixelShuffle") or (nn.Identity(), shape)
        conv = nn.Conv2d(c, 4, 1)
        return self.tried(nn.Sequential(conv, nn.PixelShuffle(2)), shape, "PixelShuffle") or (nn.Identity(), shape)

    def linear(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        e = r.randint(1, MAXC if kind == "tok" else MAXS)
        if kind == "tok" and r.random() < 0.25:
            m = Block("Bilinear(x, x)", lambda self, x: self.bil(x, x), bil=nn.Bilinear(sp[-1], sp[-1], e,
                                                                                       bias=r.random() < 0.7),
                      closed=lambda self, x: x.numel() // x.shape[-1] * e * (x.shape[-1] + 1) * x.shape[-1])
            return self.tried(m, shape, "Bilinear") or (nn.Identity(), shape)
        m = nn.Linear(sp[-1], e, bias=r.random() < 0.7)
        return self.tried(m, shape, "Linear") or (nn.Identity(), shape)

    def attention(self, shape):
        r, (kind, n, t, d) = self.r, shape
        hs = [h for h in range(1, d + 1) if d % h == 0]
        w = r.choice(["mha", "mha", "enc", "dec", "encoder", "sdpa"])
        if w == "mha":
            kdim, vdim = r.choice([d, r.randint(1, MAXC)]), r.choice([d, r.randint(1, MAXC)])
            mha = nn.MultiheadAttention(d, r.choice(hs), batch_first=r.random() < 0.5, kdim=kdim, vdim=vdim,
                                        add_bias_kv=r.random() < 0.2, add_zero_attn=r.random() < 0.2,
                                        dropout=r.choice([0.0, 0.2]), bias=r.random() < 0.8)
            mask = r.choice([None, "causal", "padding", "float"])
            nw, avg = r.random() < 0.5, r.random() < 0.5
            kp = nn.Linear(d, kdim) if kdim != d else None
            vp = nn.Linear(d, vdim) if vdim != d else None

            def run(self, x):
                a = self.mha
                seq = (lambda z: z) if a.batch_first else (lambda z: z.transpose(0, 1))
                q = seq(x)
                k = seq(self.kp(x)) if self.kp is not None else q
                v = seq(self.vp(x)) if self.vp is not None else q
                kw = {}
                tt = x.shape[1]
                if mask == "causal":
                    kw["attn_mask"] = torch.triu(torch.ones(tt, tt, dtype=torch.bool, device=x.device), 1)
                elif mask == "float":
                    kw["attn_mask"] = torch.zeros(tt, tt, device=x.device, dtype=x.dtype)
                elif mask == "padding":
                    kw["key_padding_mask"] = (torch.arange(tt, device=x.device) >= max(tt - 1, 1)).expand(x.shape[0], tt)
                o = a(q, k, v, need_weights=nw, average_attn_weights=avg, **kw)[0]
                return seq(o)
            def closed(self, x):
                nn_, tt, dd = x.shape
                s = tt + int(self.mha.bias_k is not None) + int(self.mha.add_zero_attn)
                return nn_ * (2 * tt * dd * dd + tt * (kdim + vdim) * dd + 2 * tt * s * dd) + \
                    (nn_ * tt * dd * kdim if kp is not None else 0) + (nn_ * tt * dd * vdim if vp is not None else 0)
            return self.tried(Block("MHA", run, closed=closed, mha=mha, kp=kp, vp=vp), shape, "MultiheadAttention") or (nn.Identity(), shape)
        h = r.choice(hs)
        ff = r.randint(1, 8)
        kw = dict(dim_feedforward=ff, dropout=r.choice([0.0, 0.1]), batch_first=r.random() < 0.5,
                  norm_first=r.random() < 0.5, activation=r.choice(["relu", "gelu"]), bias=r.random() < 0.8)
        mask = r.choice([None, "causal", "padding"])
        if w in ("enc", "encoder"):
            layer = nn.TransformerEncoderLayer(d, h, **kw)
            mod = layer if w == "enc" else nn.TransformerEncoder(layer, num_layers=2,
                                                                 enable_nested_tensor=r.random() < 0.5)

            def run(self, x):
                bf = kw["batch_first"]
                z = x if bf else x.transpose(0, 1)
                tt = x.shape[1]
                a = {}
                if mask == "causal":
                    a["mask"] = nn.Transformer.generate_square_subsequent_mask(tt, device=x.device, dtype=x.dtype)
                    if w == "encoder":
                        a["is_causal"] = True
                elif mask == "padding":
                    a["src_key_padding_mask"] = (torch.arange(tt, device=x.device) >= max(tt - 1, 1)).expand(x.shape[0], tt)
                o = self.t(z, **a)
                return o if bf else o.transpose(0, 1)
            def closed(self, x):
                nn_, tt, dd = x.shape
                return (1 if w == "enc" else 2) * nn_ * (4 * tt * dd * dd + 2 * tt * tt * dd + 2 * tt * dd * ff)
            return self.tried(Block(type(mod).__name__, run, closed=closed, t=mod), shape, type(mod).__name__) or (nn.Identity(), shape)
        if w == "dec":
            layer = nn.TransformerDecoderLayer(d, h, **kw)

            def run(self, x):
                bf = kw["batch_first"]
                z = x if bf else x.transpose(0, 1)
                mem = z[:, : max(1, z.shape[1] // 2)] if bf else z[: max(1, z.shape[0] // 2)]
                tt = x.shape[1]
                a = {}
                if mask == "causal":
                    a["tgt_mask"] = nn.Transformer.generate_square_subsequent_mask(tt, device=x.device, dtype=x.dtype)
                    a["tgt_is_causal"] = True
                elif mask == "padding":
                    a["tgt_key_padding_mask"] = (torch.arange(tt, device=x.device) >= max(tt - 1, 1)).expand(x.shape[0], tt)
                o = self.t(z, mem, **a)
                return o if bf else o.transpose(0, 1)
            def closed(self, x):
                nn_, tt, dd = x.shape
                m = max(1, tt // 2)
                return nn_ * (4 * tt * dd * dd + 2 * tt * tt * dd + 2 * tt * dd * dd + 2 * m * dd * dd
                              + 2 * tt * m * dd + 2 * tt * dd * ff)
            return self.tried(Block("TransformerDecoderLayer", run, closed=closed, t=layer), shape, "TransformerDecoderLayer") or (nn.Identity(), shape)
        causal = r.random() < 0.5

        def run(self, x):
            nn_, tt, dd = x.shape
            q = x.reshape(nn_, tt, h, dd // h).transpose(1, 2)
            return F.scaled_dot_product_attention(q, q, q, is_causal=causal).transpose(1, 2).reshape(nn_, tt, dd)
        return self.tried(Block("SDPA", run, closed=lambda self, x: 2 * x.shape[0] * x.shape[1] ** 2 * x.shape[2]), shape, "SDPA") or (nn.Identity(), shape)

    def rnn(self, shape):
        r, (kind, n, t, d) = self.r, shape
        w = self.use(r.choice(["RNN", "LSTM", "GRU"]))
        hidden = r.randint(2, 5)
        kw = dict(num_layers=r.choice([1, 2]), bidirectional=r.random() < 0.4, batch_first=r.random() < 0.5,
                  bias=r.random() < 0.8, dropout=r.choice([0.0, 0.3]))
        if w == "LSTM" and r.random() < 0.4:
            kw["proj_size"] = r.randint(1, hidden - 1)
        if w == "RNN":
            kw["nonlinearity"] = r.choice(["tanh", "relu"])
        m = getattr(nn, w)(d, hidden, **kw)
        packed = r.random() < 0.4
        lengths = [r.randint(1, t) for _ in range(n)]
        lengths[0] = t

        def run(self, x):
            bf = self.m.batch_first
            z = x if bf else x.transpose(0, 1)
            if packed:
                p = nn.utils.rnn.pack_padded_sequence(z, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
                o, _ = self.m(p)
                o, _ = nn.utils.rnn.pad_packed_sequence(o, batch_first=bf, total_length=x.shape[1])
            else:
                o, _ = self.m(z)
            return o if bf else o.transpose(0, 1)
        def closed(self, x):
            rr = self.m
            gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[w]
            dirs, hh, p = 1 + rr.bidirectional, rr.hidden_size, rr.proj_size
            out_h = p or hh
            steps = sum(lengths) if packed else x.shape[0] * x.shape[1]
            total = 0
            for layer in range(rr.num_layers):
                i = x.shape[2] if layer == 0 else dirs * out_h
                total += steps * dirs * (gates * hh * (i + out_h) + hh * p)
            return total
        if packed:
            self.use("packed")
        return self.tried(Block(w + (" packed" if packed else ""), run, closed=closed, m=m), shape) or (nn.Identity(), shape)

    def cell(self, shape):
        r, (kind, n, t, d) = self.r, shape
        w = self.use(r.choice(["RNNCell", "LSTMCell", "GRUCell"]))
        hidden = r.randint(1, 5)
        m = getattr(nn, w)(d, hidden, bias=r.random() < 0.7)
        batched = r.random() < 0.8

        def run(self, x):
            outs, state = [], None
            for i in range(x.shape[1]):
                xi = x[:, i] if batched else x[0, i]
                state = self.c(xi, state) if state is not None or r2 else self.c(xi)
                outs.append(state[0] if isinstance(state, tuple) else state)
            o = torch.stack(outs, 1 if batched else 0)
            return o if batched else o.unsqueeze(0).expand(x.shape[0], -1, -1)
        r2 = r.random() < 0.5
        gates = {"RNNCell": 1, "LSTMCell": 4, "GRUCell": 3}[w]
        closed = lambda self, x: (x.shape[0] if batched else 1) * x.shape[1] * gates * hidden * (d + hidden)
        return self.tried(Block(w, run, closed=closed, c=m), shape) or (nn.Identity(), shape)

    def transition(self, shape):
        r, (kind, n, c, *sp) = self.r, shape
        if kind == "img":
            w = r.choice(["tok", "seq", "vol"])
            if w == "tok":
                return fn(self.use("flatten+transpose"), lambda x: x.flatten(2).transpose(1, 2)), ("tok", n, sp[0] * sp[1], c)
            if w == "seq":
                return nn.Flatten(2), ("seq", n, c, sp[0] * sp[1])
            return fn("unsqueeze", lambda x: x.unsqueeze(2)), ("vol", n, c, 1, *sp)
        if kind == "vol":
            return nn.Flatten(2, 3), ("img", n, c, sp[0] * sp[1], sp[2])
        if kind == "seq":
            if sp[0] % 2 == 0 and r.random() < 0.4:
                return nn.Unflatten(2, (2, sp[0] // 2)), ("img", n, c, 2, sp[0] // 2)
            return fn(self.use("permute"), lambda x: x.permute(0, 2, 1)), ("tok", n, sp[0], c)
        if r.random() < 0.5 and n > 0:
            return nn.Flatten(0, 1), ("tokflat", n * c, sp[0])  # special: 2-D
        return fn("transpose", lambda x: x.transpose(1, 2)), ("seq", n, sp[0], c)

    def leaf(self, shape):
        kind = shape[0]
        if kind == "tokflat":  # (rows, D): a Linear, then back to tok with T=1
            n, d = shape[1:]
            lin = nn.Linear(d, self.r.randint(1, MAXC))
            return Block("rows", lambda self, x: self.lin(x).unsqueeze(1), lin=lin), ("tok", n, 1, lin.out_features)
        if kind == "img":
            opts = ["conv"] * 3 + ["norm", "norm", "pool", "act", "act", "upsample", "pixel", "linear", "transition"]
        elif kind == "vol":
            opts = ["conv"] * 3 + ["norm", "pool", "act", "upsample", "transition"]
        elif kind == "seq":
            opts = ["conv"] * 3 + ["norm", "pool", "act", "upsample", "linear", "transition"]
        else:
            opts = ["linear"] * 2 + ["norm", "act", "attention", "attention", "rnn", "cell", "transition"]
        return getattr(self, self.r.choice(opts))(shape)

    # ---- structure -------------------------------------------------------------------------------
    def keep(self, shape):
        """A module keeping ``shape``."""
        r, (kind, n, c, *sp) = self.r, shape
        if kind == "tokflat":
            return nn.Identity(), shape
        w = r.choice(["norm", "act", "lin", "conv"] + (["attention"] if kind == "tok" else []))
        if w in ("norm", "act", "attention"):
            m, s = getattr(self, w)(shape)
            if s == shape:
                return m, shape
            return nn.Identity(), shape
        if kind == "tok" or w == "lin":
            return nn.Linear(sp[-1], sp[-1]), shape
        cls = [nn.Conv1d, nn.Conv2d, nn.Conv3d][len(sp) - 1]
        return cls(c, c, 3, padding=1, groups=r.choice([g for g in range(1, c + 1) if c % g == 0]),
                   padding_mode=r.choice(["zeros", "circular", "replicate"]) if min(sp) > 1 else "zeros"), shape

    def block(self, shape, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.4 or shape[0] == "tokflat":
            return self.leaf(shape)
        w = self.use(r.choice(["seq", "nested seq", "list", "dict", "residual", "shared", "twice", "two shapes",
                               "functional", "no_grad region", "inference region", "counter", "param",
                               "hooked", "frozen", "checkpoint", "kwargs", "tuple out", "unfold",
                               "rebind buffer", "new slot", "toggle requires_grad", "grad off", "hook calls child",
                               "instance forward", "tied"]))
        if w in ("rebind buffer", "new slot", "toggle requires_grad", "grad off", "hook calls child",
                 "instance forward", "tied"):
            return self.odd(shape, depth, w)
        if w in ("checkpoint", "kwargs", "tuple out", "unfold"):
            return self.more(shape, depth, w)
        if w in ("seq", "list", "dict", "nested seq"):
            mods = []
            for _ in range(r.randint(1, 3)):
                m, shape = self.block(shape, depth - 1)
                mods.append(m)
            if w == "seq":
                return nn.Sequential(*mods), shape
            if w == "nested seq":
                return nn.Sequential(nn.Sequential(*mods[:1]), nn.Sequential(*mods[1:])), shape
            if w == "list":
                def loop(self, x):
                    for m in self.body:
                        x = m(x)
                    return x
                return Block("list", loop, body=nn.ModuleList(mods)), shape

            def loopd(self, x):
                for k in self.body:
                    x = self.body[k](x)
                return x
            return Block("dict", loopd, body=nn.ModuleDict({f"m{i}": m for i, m in enumerate(mods)})), shape
        if w == "residual":
            m, _ = self.keep(shape)
            return Block(w, lambda self, x: F.relu(self.m(x) + x), m=m), shape
        if w == "shared":
            m, _ = self.keep(shape)
            a = Block("holder", lambda self, x: self.m(x) * 0.5, m=m)
            b = Block("holder", lambda self, x: self.m(x) + 1, m=m)
            return nn.Sequential(a, b), shape
        if w == "twice":
            m, _ = self.keep(shape)
            return Block(w, lambda self, x: self.m(self.m(x)), m=m), shape
        if w == "two shapes":
            kind = shape[0]
            m, _ = self.keep(shape)
            if kind == "tok":
                return Block(w, lambda self, x: self.m(x) + self.m(x[:, : max(1, x.shape[1] // 2)]).mean(1, keepdim=True),
                             m=m), shape
            if isinstance(m, nn.modules.conv._ConvNd) or isinstance(m, nn.Identity):
                def two(self, x):
                    small = x[(slice(None), slice(None)) + tuple(slice(None, None, 2) for _ in x.shape[2:])]
                    return self.m(x) + F.interpolate(self.m(small), size=x.shape[2:])
                return Block(w, two, m=m), shape
            return Block(w, lambda self, x: self.m(x) + self.m(x[:1]), m=m), shape
        if w == "functional":
            m, s = self.block(shape, depth - 1)
            how = r.choice(["scale", "sum", "softmax", "clamp"])

            def run(self, x):
                y = self.m(x * 2.0 if how == "scale" else x)
                if how == "sum":
                    return y + y.mean()
                if how == "softmax":
                    return F.softmax(y, dim=-1) * y
                return y.clamp(-1, 1)
            return Block("functional", run, m=m), s
        if w in ("no_grad region", "inference region"):
            m, s = self.block(shape, depth - 1)
            ctx = torch.no_grad if w == "no_grad region" else torch.inference_mode

            def run(self, x):
                with ctx():
                    y = self.m(x)
                return y.clone()
            return Block(w, run, m=m), s
        if w == "counter":
            m, s = self.block(shape, depth - 1)
            return Counter(m), s
        if w == "param":
            kind, n, c, *sp = shape
            if kind == "tokflat":
                return self.leaf(shape)
            which = r.choice(["scale", "weight_norm", "spectral_norm", "legacy_weight_norm"])
            with torch.no_grad():
                return self.param(shape, which)
        return self.rest(shape, depth, w)

    def param(self, shape, which):
        kind, n, c, *sp = shape
        m = nn.Linear(sp[-1], sp[-1]) if kind == "tok" else [nn.Conv1d, nn.Conv2d, nn.Conv3d][len(sp) - 1](c, c, 1)
        if which == "scale":
            parametrize.register_parametrization(m, "weight", Scale())
        elif which == "weight_norm":
            nn.utils.parametrizations.weight_norm(m)
        elif which == "spectral_norm":
            nn.utils.parametrizations.spectral_norm(m)
        else:
            nn.utils.weight_norm(m)
            which = "legacy_weight_norm"
        self.use("param " + which)
        return m, shape

    def odd(self, shape, depth, w):
        m, s = self.block(shape, depth - 1)
        if w == "rebind buffer":
            b = Block(w, None, m=m)
            b.register_buffer("acc", torch.zeros(()))

            def run(self, x):
                self.acc = self.acc * 0.5 + x.detach().float().mean()
                return self.m(x)
            b.fn = run
            return b, s
        if w == "new slot":
            b = Block(w, None, m=m)

            def run(self, x):
                if "cache" not in self._buffers:
                    self.register_buffer("cache", x.detach()[:1].clone())
                return self.m(x)
            b.fn = run
            return b, s
        if w == "toggle requires_grad":
            b = Block(w, None, m=m)

            def run(self, x):
                for p in self.m.parameters():
                    p.requires_grad_(not p.requires_grad)
                return self.m(x)
            b.fn = run
            return b, s
        if w == "grad off":
            def run(self, x):
                y = self.m(x)
                torch.set_grad_enabled(False)
                return y
            return Block(w, run, m=m), s
        if w == "hook calls child":
            # the parent's forward hook calls a child of its own on the output
            k, _ = self.keep(s)
            b = Block(w, lambda self, x: self.m(x), m=m, post=k)
            b.register_forward_hook(lambda mod, args, out: mod.post(out))
            return b, s
        if w == "instance forward":
            b = Block(w, lambda self, x: self.m(x), m=m)
            b.forward = types.MethodType(lambda self, x: Block.forward(self, x) * 1.5, b)
            return b, s
        # tied: two Linears (or convs) sharing one weight tensor
        kind, n, c, *sp = s
        if kind == "tok":
            a, b2 = nn.Linear(sp[-1], sp[-1]), nn.Linear(sp[-1], sp[-1], bias=False)
        elif kind == "tokflat":
            return m, s
        else:
            cls = [nn.Conv1d, nn.Conv2d, nn.Conv3d][len(sp) - 1]
            a, b2 = cls(c, c, 1), cls(c, c, 1)
        b2.weight = a.weight
        return Block(w, lambda self, x: self.b(self.a(self.m(x))), m=m, a=a, b=b2), s

    def more(self, shape, depth, w):
        r = self.r
        if w == "checkpoint":
            m, s = self.block(shape, depth - 1)
            return Block(w, lambda self, x: checkpoint(self.m, x, use_reentrant=False), m=m), s
        if w == "kwargs":
            m, s = self.block(shape, depth - 1)

            class KW(nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, x, *, scale=1.0, shift=None):
                    y = self.m(x) * scale
                    return y + shift if shift is not None else y
            inner = KW(m)
            r2 = r.random() < 0.5
            return Block(w, lambda self, x: self.k(x, scale=0.5, shift=x.mean()) if r2 else self.k(x), k=inner), s
        if w == "tuple out":
            m, s = self.block(shape, depth - 1)

            class Tup(nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, x):
                    y = self.m(x)
                    return {"y": y, "aux": (y.sum(), [x.shape[0]])}
            return Block(w, lambda self, x: self.t(x)["y"], t=Tup(m)), s
        kind, n, c, *sp = shape
        if kind == "img" and min(sp) >= 2:
            self.use("Fold/Unfold")
            unf, fold = nn.Unfold(2, stride=1), nn.Fold(sp, 2, stride=1)
            return Block(w, lambda self, x: self.fold(self.unf(x)) * 0.25, unf=unf, fold=fold), shape
        return self.leaf(shape)

    def rest(self, shape, depth, w):
        r = self.r
        if w == "hooked":
            m, s = self.block(shape, depth - 1)
            h = r.choice(["pre-change", "post-change", "pre-none", "kwargs", "always"])
            if h == "pre-change":
                m.register_forward_pre_hook(lambda mod, args: (args[0] * 0.5,))
            elif h == "post-change":
                m.register_forward_hook(lambda mod, args, out: out * 2 if isinstance(out, torch.Tensor) else out)
            elif h == "pre-none":
                m.register_forward_pre_hook(lambda mod, args: None)
            elif h == "kwargs":
                m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] + 1,), kwargs), with_kwargs=True)
            else:
                m.register_forward_hook(lambda mod, args, out: out, always_call=True)
            self.use("hook " + h)
            return m, s
        m, s = self.block(shape, depth - 1)  # frozen
        for p in m.parameters():
            p.requires_grad_(False)
        return m, s


class Net(nn.Module):
    def __init__(self, emb, body, head):
        super().__init__()
        self.emb, self.body, self.head = emb, body, head

    def forward(self, x):
        if self.emb is not None:
            x = self.emb(x)
        y = self.body(x)
        return self.head(y.flatten(1)) if self.head is not None else y


def build(seed):
    r = random.Random(seed)
    torch.manual_seed(seed)
    g = Gen(r)
    n = r.choice([1, 2, 3])
    start = r.choice(["img", "img", "vol", "seq", "tok", "emb", "bag"])
    emb = None
    if start == "img":
        shape = ("img", n, r.randint(1, MAXC), r.randint(2, MAXS), r.randint(2, MAXS))
    elif start == "vol":
        shape = ("vol", n, r.randint(1, 4), r.randint(2, 5), r.randint(2, 5), r.randint(2, 5))
    elif start == "seq":
        shape = ("seq", n, r.randint(1, MAXC), r.randint(2, MAXL))
    else:
        shape = ("tok", n, r.randint(1, MAXT), r.choice([2, 4, 6, 3]))
    in_shape = shape
    if start in ("emb", "bag"):
        vocab, d, t = r.randint(4, 12), shape[3], shape[2]
        if start == "emb":
            e = nn.Embedding(vocab, d, padding_idx=r.choice([None, 0]), max_norm=r.choice([None, None, 1.0]),
                             scale_grad_by_freq=r.random() < 0.2)
            emb = e
            g.use("Embedding")
        else:
            mode = r.choice(["sum", "mean", "max"])
            bag = nn.EmbeddingBag(vocab, d, mode=mode, padding_idx=r.choice([None, 0]),
                                  max_norm=r.choice([None, None, 1.0]))
            tokemb = nn.Embedding(vocab, d)
            psw = mode == "sum" and r.random() < 0.5

            def run(self, x):
                w = torch.rand(x.shape, device=x.device) if psw else None
                if r2 < 0.5:
                    b = self.bag(x, per_sample_weights=w)
                else:
                    b = self.bag(x.flatten(), torch.arange(0, x.numel(), x.shape[1], device=x.device),
                                 per_sample_weights=w.flatten() if w is not None else None)
                return self.tok(x) + b.unsqueeze(1)
            r2 = r.random()
            emb = Block("EmbeddingBag", run, bag=bag, tok=tokemb)
            g.use("EmbeddingBag " + mode)
        x = torch.randint(0, vocab, (n, t))
    else:
        x = torch.randn(*shape[1:])
    mods = []
    for _ in range(r.randint(1, 4)):
        m, out = g.block(shape, r.randint(0, 3))
        if math.prod(out[1:]) <= 3000:
            mods.append(m)
            shape = out
    body = nn.Sequential(*mods) if r.random() < 0.7 else mods[0] if len(mods) == 1 else nn.Sequential(*mods)
    head = None
    if r.random() < 0.4:
        head = nn.Linear(math.prod(shape[2:]), r.randint(1, 4))
    model = Net(emb, body, head)
    model.train(g.use(r.choice(["train", "eval"])) == "train")
    if r.random() < 0.2:
        model.double()
        x = x.double() if x.is_floating_point() else x
        g.use("float64")
    grad_mode = g.use(r.choice(["grad", "grad", "no_grad", "inference"]))
    return model, x, grad_mode, g
