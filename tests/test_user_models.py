"""Models written the way users write them (not library models): a U-Net, a GRU encoder-decoder
with Bahdanau attention and a hand-written decoder loop, a top-2 Mixture-of-Experts layer. Each
is checked against closed forms written out here and against torch.utils.flop_counter (our MACs
= its FLOPs / 2), and left as found."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from conftest import run


def flop_counter_macs(model, *inputs) -> int:
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() // 2


def state_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()]


def left_as_found(model, before) -> bool:
    tensors, flags = state_of(model)
    return flags == before[1] and all(torch.equal(tensors[k], before[0][k]) for k in tensors)


# ---- a U-Net: two levels, skips by torch.cat, ConvTranspose2d up-sampling, BatchNorm in training --


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, cin=3, classes=2, c=8):
        super().__init__()
        self.enc1, self.enc2 = conv_bn_relu(cin, c), conv_bn_relu(c, 2 * c)
        self.pool = nn.MaxPool2d(2)
        self.bott = conv_bn_relu(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = conv_bn_relu(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = conv_bn_relu(2 * c, c)
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bott(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


def test_unet_convolutions_transposed_convolutions_and_skips_by_closed_form():
    N, C, c, H = 2, 3, 8, 32
    model, x = UNet(C, 2, c), torch.randn(N, C, H, H)
    before = state_of(model)
    report = run(model, x)
    assert report.complete, report.uncounted
    assert left_as_found(model, before)  # the BatchNorms' running statistics too (training mode)

    def conv(cin, cout, h, k=3):  # N·cout·cin·k²·h² MACs (a 'same' convolution)
        return N * cout * cin * k * k * h * h

    def double(cin, cout, h):
        return conv(cin, cout, h) + conv(cout, cout, h)

    # a transposed convolution multiplies every input position by the whole kernel: N·cin·cout·k²·h_in²
    up2, up1 = N * 4 * c * 2 * c * 2 * 2 * (H // 4) ** 2, N * 2 * c * c * 2 * 2 * (H // 2) ** 2
    expected = {
        "enc1": double(C, c, H), "enc2": double(c, 2 * c, H // 2), "bott": double(2 * c, 4 * c, H // 4),
        "up2": up2, "dec2": double(4 * c, 2 * c, H // 2),  # the concatenation doubles dec2's input channels
        "up1": up1, "dec1": double(2 * c, c, H), "head": conv(c, 2, H, k=1),
    }
    for path, macs in expected.items():
        assert report.row(path).macs == macs, path
    assert report.total.macs == sum(expected.values()) == flop_counter_macs(model, x)
    # parameters: the convolutions' weights (bias-free but the two up-samplings and the head), γ and β of each BatchNorm
    convs = sum(9 * i * o for i, o in [(C, c), (c, c), (c, 2 * c), (2 * c, 2 * c), (2 * c, 4 * c), (4 * c, 4 * c),
                                       (4 * c, 2 * c), (2 * c, 2 * c), (2 * c, c), (c, c)])
    norms = 2 * 2 * (c + 2 * c + 4 * c + 2 * c + c)
    ups = (4 * c * 2 * c * 4 + 2 * c) + (2 * c * c * 4 + c) + (c * 2 + 2)
    assert report.total.params == convs + norms + ups == sum(p.numel() for p in model.parameters())
    # the bias of an up-sampling is added to every output: N·cout·h_out²
    assert report.row("up1").cost.adds == N * c * H * H
    # the pool, called on both levels, is one row of 2 calls: (2·2 − 1) comparisons per output
    pool = report.row("pool")
    assert pool.calls == 2 and pool.cost.cmps == 3 * (N * c * (H // 2) ** 2 + N * 2 * c * (H // 4) ** 2)


# ---- a seq2seq GRU with Bahdanau (additive) attention, the decoder a loop of GRUCell steps ------


class BahdanauAttention(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.W = nn.Linear(hidden, hidden, bias=False)
        self.U = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)

    def forward(self, s, enc):  # s: B×H, enc: B×S×H
        scores = self.v(torch.tanh(self.W(s).unsqueeze(1) + self.U(enc))).squeeze(-1)
        weights = F.softmax(scores, dim=-1)
        return torch.bmm(weights.unsqueeze(1), enc).squeeze(1)


class Seq2Seq(nn.Module):
    def __init__(self, vocab, emb, hidden, steps):
        super().__init__()
        self.steps = steps
        self.emb = nn.Embedding(vocab, emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.attn = BahdanauAttention(hidden)
        self.dec_emb = nn.Embedding(vocab, emb)
        self.cell = nn.GRUCell(emb + hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, src, tgt):
        enc, h = self.encoder(self.emb(src))
        s, logits = h[0], []
        for t in range(self.steps):
            context = self.attn(s, enc)
            s = self.cell(torch.cat([self.dec_emb(tgt[:, t]), context], dim=-1), s)
            logits.append(self.out(s))
        return torch.stack(logits, 1)


def test_seq2seq_with_bahdanau_attention_counts_each_decoder_step():
    V, E, H, B, S, T = 50, 16, 32, 2, 7, 5
    model = Seq2Seq(V, E, H, T)
    src, tgt = torch.randint(0, V, (B, S)), torch.randint(0, V, (B, T))
    report = run(model, (src, tgt))
    assert report.complete, report.uncounted
    gru = 3 * H * (E + H) * B * S  # r, z, n gates over the B·S steps of the encoder
    cell = 3 * H * (E + 2 * H) * B  # per step: the input is the embedding and the context
    attn = H * H * B + H * H * B * S + H * B * S + B * S * H  # W·s, U·enc, v·tanh(…), weights·enc (bmm)
    out = H * V * B
    assert report.row("encoder").macs == gru
    for path, per_step in [("cell", cell), ("attn", attn), ("out", out)]:
        row = report.row(path)
        assert (row.calls, row.macs) == (T, T * per_step), path
    assert report.row("attn").self_cost.macs == T * B * S * H  # only the bmm is its own: the rest are its Linears
    assert report.total.macs == gru + T * (cell + attn + out) == flop_counter_macs(model, src, tgt)
    # the attention's own element-wise work per step: the sum and tanh (B·S·H), softmax over S for B rows
    own = report.row("attn").self_cost
    assert own.transc == T * (B * S * H + B * S)  # tanh, and one exp per score
    assert own.divs == T * B * S and own.cmps == T * B * (S - 1)
    params = V * E * 2 + 3 * H * (E + H) + 6 * H + 2 * H * H + H + 3 * H * (E + 2 * H) + 6 * H + H * V + V
    assert report.total.params == params == sum(p.numel() for p in model.parameters())


# ---- a top-2 Mixture-of-Experts layer: torch.topk, one-argument torch.where, index_add_ -------


class MoE(nn.Module):
    def __init__(self, d, hidden, experts, k):
        super().__init__()
        self.k = k
        self.router = nn.Linear(d, experts, bias=False)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
                                     for _ in range(experts))

    def forward(self, x):
        logits = self.router(x)
        weights, chosen = torch.topk(logits, self.k, dim=-1)
        weights = F.softmax(weights, dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(chosen == e)
            if token.numel():
                out.index_add_(0, token, expert(x[token]) * weights[token, slot, None])
        balance = F.softmax(logits, -1).gather(1, chosen).sum() / x.shape[0]
        return out, balance


def test_moe_top2_router_costs_k_experts_per_token_however_the_tokens_are_routed():
    N, d, h, E, k = 16, 32, 64, 4, 2
    model, x = MoE(d, h, E, k), torch.randn(N, d)
    report = run(model, x)
    assert report.complete, report.uncounted
    routed = [report.row(f"experts.{e}.0").input_shapes[0][0] for e in range(E)
              if report.row(f"experts.{e}.0").calls]
    assert sum(routed) == N * k  # every token reaches k experts, whichever they are
    expert_macs = N * k * 2 * d * h  # each routed token through d→h→d
    assert report.total.macs == N * d * E + expert_macs == flop_counter_macs(model, x)
    own = report.root.self_cost  # the router's arithmetic outside the Linears
    selection = N * max(E - 1, E * 1)  # topk, a heap of k = 2 over E: E·⌈log2 2⌉ per token
    softmaxes = N * (k - 1) + N * (E - 1)  # row maxima of the top-k weights and of the balance term
    assert own.cmps == selection + E * N * k + softmaxes  # + chosen == e, N·k per expert
    assert own.mults == N * k * d  # each expert's outputs scaled by its weight
    # index_add_: N·k·d additions; two softmaxes' subtractions and sums; the balance term's sum of N·k
    assert own.adds == N * k * d + (N * k + N * (k - 1)) + (N * E + N * (E - 1)) + (N * k - 1)
    # the same counts in every grad mode: the one-argument where is a look-up (nonzero), no assignment
    with torch.inference_mode():
        assert run(model, x).root.self_cost == own
