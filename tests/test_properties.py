"""Guarantee 6: property-based tests. Random layer configurations; every count equals an
independent closed form written out here (output sizes computed from the textbook formula,
not read from torch) and, for convolutions / linear layers / attention projections, the
MACs equal torch.utils.flop_counter's FLOPs / 2 (flop_counter counts no recurrent layer and
no CPU scaled_dot_product_attention, so those are checked against the closed form only).

`make test` runs a few hundred cases (FAST); `make test-slow` runs the same properties
with many more (SLOW)."""
from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount

FAST, SLOW = 1, 12  # multiplier of each property's example budget

BUDGET = [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=pytest.mark.slow)]


def check(prop, strategy, examples: int) -> None:
    settings(max_examples=examples, deadline=None, derandomize=examples <= 100,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])(given(strategy)(prop))()


def prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def profile(model, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torchcount.profile(model, inputs, warn=False)


def flop_counter_flops(model, inputs) -> int:
    with FlopCounterMode(display=False) as counter:
        model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    return counter.get_total_flops()


def conv_out(m, k, s, p, d):
    return (m + 2 * p - d * (k - 1) - 1) // s + 1


def convT_out(m, k, s, p, d, op):
    return (m - 1) * s - 2 * p + d * (k - 1) + op + 1


# ---- convolutions -----------------------------------------------------------------------------


@st.composite
def conv_configs(draw):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    p = draw(st.integers(0, 2))
    n = draw(st.integers(1, 2))
    span = d * (k - 1) + 1
    sizes = [draw(st.integers(max(1, span - 2 * p), span + 6)) for _ in range(dims)]
    bias = draw(st.booleans())
    return dims, groups, c_in, c_out, k, s, d, p, n, sizes, bias


@pytest.mark.parametrize("budget", BUDGET)
def test_conv_matches_closed_form_and_flop_counter(budget):
    def prop(cfg):
        dims, g, c_in, c_out, k, s, d, p, n, sizes, bias = cfg
        conv = (nn.Conv1d, nn.Conv2d)[dims - 1](c_in, c_out, k, stride=s, padding=p, dilation=d,
                                                groups=g, bias=bias)
        x = torch.randn(n, c_in, *sizes)
        out = [conv_out(m, k, s, p, d) for m in sizes]
        macs = n * c_out * (c_in // g) * k ** dims * prod(out)
        report = profile(conv, x)
        assert report.root.output_shapes == [(n, c_out, *out)]
        assert report.total.macs == macs
        assert report.total.cost.adds == (n * c_out * prod(out) if bias else 0)
        assert report.total.params == c_out * (c_in // g) * k ** dims + (c_out if bias else 0)
        assert report.total.macs == flop_counter_flops(conv, x) // 2
        assert report.total.flops == 2 * macs + (n * c_out * prod(out) if bias else 0)

    check(prop, conv_configs(), 80 * budget)


@st.composite
def conv_transpose_configs(draw):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 2]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    op = draw(st.integers(0, max(s, d) - 1))
    p = draw(st.integers(0, 1))
    n = draw(st.integers(1, 2))
    sizes = [draw(st.integers(1, 6)) for _ in range(dims)]
    return dims, groups, c_in, c_out, k, s, d, p, op, n, sizes


@pytest.mark.parametrize("budget", BUDGET)
def test_conv_transpose_matches_closed_form_and_flop_counter(budget):
    def prop(cfg):
        dims, g, c_in, c_out, k, s, d, p, op, n, sizes = cfg
        out = [convT_out(m, k, s, p, d, op) for m in sizes]
        if min(out) < 1:
            return
        conv = (nn.ConvTranspose1d, nn.ConvTranspose2d)[dims - 1](
            c_in, c_out, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
        x = torch.randn(n, c_in, *sizes)
        # every input element is scattered through C_out/g · ∏kernel weights
        macs = n * c_in * (c_out // g) * k ** dims * prod(sizes)
        report = profile(conv, x)
        assert report.root.output_shapes == [(n, c_out, *out)]
        assert report.total.macs == macs
        assert report.total.params == c_in * (c_out // g) * k ** dims + c_out
        assert report.total.macs == flop_counter_flops(conv, x) // 2

    check(prop, conv_transpose_configs(), 50 * budget)


# ---- linear -----------------------------------------------------------------------------------


@st.composite
def linear_configs(draw):
    lead = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    return lead, draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.booleans())


@pytest.mark.parametrize("budget", BUDGET)
def test_linear_matches_closed_form_and_flop_counter(budget):
    def prop(cfg):
        lead, n, k, bias = cfg
        lin = nn.Linear(n, k, bias=bias)
        x = torch.randn(*lead, n)
        rows = prod(lead)
        report = profile(lin, x)
        assert report.total.macs == rows * n * k
        assert report.total.cost.adds == (rows * k if bias else 0)
        assert report.total.params == n * k + (k if bias else 0)
        assert report.total.macs == flop_counter_flops(lin, x) // 2

    check(prop, linear_configs(), 50 * budget)


# ---- pooling ----------------------------------------------------------------------------------


def pool_out(m, k, s, p, d=1, ceil=False):
    span = d * (k - 1) + 1
    if not ceil:
        return (m + 2 * p - span) // s + 1
    out = -(-(m + 2 * p - span) // s) + 1
    if (out - 1) * s >= m + p:  # the last window must start inside the input or left padding
        out -= 1
    return out


@st.composite
def pool_configs(draw):
    dims = draw(st.sampled_from([1, 2]))
    kind = draw(st.sampled_from(["max", "avg"]))
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    d = draw(st.integers(1, 2)) if kind == "max" else 1
    ceil = draw(st.booleans())
    span = d * (k - 1) + 1
    sizes = [draw(st.integers(max(1, span - 2 * p), span + 7)) for _ in range(dims)]
    return dims, kind, k, s, p, d, ceil, sizes, draw(st.integers(1, 2)), draw(st.integers(1, 3))


@pytest.mark.parametrize("budget", BUDGET)
def test_pooling_matches_closed_form(budget):
    def prop(cfg):
        dims, kind, k, s, p, d, ceil, sizes, n, c = cfg
        if kind == "max":
            pool = (nn.MaxPool1d, nn.MaxPool2d)[dims - 1](k, s, p, dilation=d, ceil_mode=ceil)
        else:
            pool = (nn.AvgPool1d, nn.AvgPool2d)[dims - 1](k, s, p, ceil_mode=ceil)
        x = torch.randn(n, c, *sizes)
        out = [pool_out(m, k, s, p, d, ceil) for m in sizes]
        outputs = n * c * prod(out)
        window = k ** dims
        report = profile(pool, x)
        assert report.root.output_shapes == [(n, c, *out)]
        cost = report.total.cost
        if kind == "max":  # (window − 1) comparisons per output
            assert (cost.cmps, cost.adds, cost.divs) == ((window - 1) * outputs, 0, 0)
        else:  # (window − 1) additions and one division per output
            assert (cost.cmps, cost.adds, cost.divs) == (0, (window - 1) * outputs, outputs)
        assert cost.macs == 0

    check(prop, pool_configs(), 60 * budget)


# ---- recurrent --------------------------------------------------------------------------------

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
#: transcendental ops per hidden unit per step: tanh (RNN); 3 sigmoids + 2 tanh (LSTM); 2 sigmoids + 1 tanh (GRU)
TRANSC = {"RNN": 1, "LSTM": 5, "GRU": 3}


@st.composite
def rnn_configs(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    H = draw(st.integers(2, 6))
    proj = draw(st.sampled_from([0, 0, 1, H - 1])) if kind == "LSTM" else 0
    return (kind, draw(st.integers(1, 5)), H, proj, draw(st.integers(1, 3)), draw(st.booleans()),
            draw(st.booleans()), draw(st.booleans()), draw(st.integers(1, 4)), draw(st.integers(1, 3)))


@pytest.mark.parametrize("budget", BUDGET)
def test_recurrent_matches_closed_form(budget):
    def prop(cfg):
        kind, I, H, P, layers, bidir, bias, batch_first, T, N = cfg
        extra = {"proj_size": P} if P else {}
        rnn = getattr(nn, kind)(I, H, num_layers=layers, bidirectional=bidir, bias=bias, batch_first=batch_first,
                                **extra)
        x = torch.randn(N, T, I) if batch_first else torch.randn(T, N, I)
        dirs = 2 if bidir else 1
        G = GATES[kind]
        steps = T * N
        Hh = P or H  # the recurrent state's size (the projection's with proj_size)

        def inputs(layer):
            return I if layer == 0 else Hh * dirs

        # per layer and direction, each step: gates G·H·(I + H_h), then the projection H·P
        macs = sum(dirs * (G * H * (inputs(layer) + Hh) + H * P) * steps for layer in range(layers))
        report = profile(rnn, x)
        cost = report.total.cost
        assert cost.macs == macs
        assert cost.transc == layers * dirs * TRANSC[kind] * H * steps
        per_param = sum(G * H * (inputs(layer) + Hh) + (2 * G * H if bias else 0) + H * P for layer in range(layers))
        assert report.total.params == dirs * per_param

    check(prop, rnn_configs(), 50 * budget)


@st.composite
def cell_configs(draw):
    return (draw(st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"])), draw(st.integers(1, 5)),
            draw(st.integers(1, 6)), draw(st.integers(0, 3)), draw(st.booleans()))


@pytest.mark.parametrize("budget", BUDGET)
def test_recurrent_cells_match_closed_form(budget):
    def prop(cfg):
        kind, I, H, N, bias = cfg
        cell = getattr(nn, kind)(I, H, bias=bias)
        x = torch.randn(N, I) if N else torch.randn(I)  # N = 0: unbatched
        G = GATES[kind.removesuffix("Cell")]
        rows = max(N, 1)
        report = profile(cell, x)
        assert report.total.macs == rows * G * H * (I + H)
        assert report.total.cost.transc == TRANSC[kind.removesuffix("Cell")] * H * rows
        assert report.total.params == G * H * (I + H) + (2 * G * H if bias else 0)

    check(prop, cell_configs(), 30 * budget)


# ---- attention --------------------------------------------------------------------------------


@st.composite
def mha_configs(draw):
    heads = draw(st.integers(1, 3))
    E = heads * draw(st.integers(1, 4))
    return (E, heads, draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 2)),
            draw(st.booleans()), draw(st.booleans()), draw(st.sampled_from([None, 3, 5])),
            draw(st.booleans()), draw(st.booleans()))


@pytest.mark.parametrize("budget", BUDGET)
def test_multihead_attention_matches_closed_form_and_flop_counter(budget):
    def prop(cfg):
        E, H, L, S, N, batch_first, bias, kv, need_weights, train = cfg
        kdim = vdim = kv or E
        mha = nn.MultiheadAttention(E, H, bias=bias, batch_first=batch_first, kdim=kdim, vdim=vdim)
        mha.train(train)
        shape = (lambda n_, l_, e_: (n_, l_, e_)) if batch_first else (lambda n_, l_, e_: (l_, n_, e_))
        q, k, v = torch.randn(*shape(N, L, E)), torch.randn(*shape(N, S, kdim)), torch.randn(*shape(N, S, vdim))
        projections = N * L * E * E + N * S * kdim * E + N * S * vdim * E + N * L * E * E
        products = 2 * N * L * S * E  # Q·Kᵀ and A·V, over all heads
        report = profile(mha, {"query": q, "key": k, "value": v, "need_weights": need_weights})
        assert report.total.macs == projections + products
        assert report.total.params == E * E + kdim * E + vdim * E + E * E + (4 * E if bias else 0)
        if need_weights:  # without weights PyTorch calls SDPA, which flop_counter does not count on CPU
            assert report.total.macs == flop_counter_flops(mha, (q, k, v)) // 2

    check(prop, mha_configs(), 40 * budget)


# ---- random model structures: the table adds up at every depth ------------------------------
WIDTH, ROWS = 4, 2  # every layer maps ROWS×WIDTH to ROWS×WIDTH


class _Chain(nn.Module):
    """Calls its children in order, each ``repeat`` times; ``residual`` adds its input back
    (work of its own: ROWS·WIDTH additions)."""

    def __init__(self, children, repeat: int, residual: bool, as_list: bool):
        super().__init__()
        if as_list:  # a ModuleList of layers, never called itself
            self.items = nn.ModuleList(children)
        else:
            self.items = nn.Sequential(*children)
        self.repeat, self.residual, self.as_list = repeat, residual, as_list

    def forward(self, x):
        y = x
        for _ in range(self.repeat):
            if self.as_list:
                for layer in self.items:
                    y = layer(y)
            else:
                y = self.items(y)
        return x + y if self.residual else y


class _Borrower(nn.Module):
    """Calls a module that lives elsewhere in the tree through a plain reference, then its own layer."""

    def __init__(self, borrowed: nn.Module):
        super().__init__()
        self.refs = [borrowed]
        self.own = nn.Linear(WIDTH, WIDTH, bias=False)

    def forward(self, x):
        return self.own(self.refs[0](x))


@st.composite
def model_structures(draw):
    built: list[nn.Module] = []

    def node(level):
        kinds = ["linear", "linear", "chain", "chain", "borrow", "share"] if level < 4 else ["linear", "share"]
        kind = draw(st.sampled_from(kinds))
        if kind == "borrow" and built:  # called through a plain reference
            module = _Borrower(built[draw(st.integers(0, len(built) - 1))])
        elif kind == "share" and built:  # registered a second time, here
            return built[draw(st.integers(0, len(built) - 1))]
        elif kind == "chain":
            children = [node(level + 1) for _ in range(draw(st.integers(1, 3)))]
            module = _Chain(children, draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans()))
        else:
            module = nn.Linear(WIDTH, WIDTH, bias=draw(st.booleans()))
        built.append(module)
        return module

    root = node(0)
    return root if not isinstance(root, nn.Linear) or built else root


@pytest.mark.parametrize("budget", BUDGET)
def test_random_model_structures_add_up_at_every_depth(budget):
    """Layers in Sequentials and ModuleLists, repeated, with residual adds, modules registered
    twice and modules called through plain references, nested at random: the total equals an
    independent count of the Linear calls (torch's own hooks in a plain forward), the table's
    rows add up to the total at every depth, and the model comes back as it was."""
    from torchcount.report import visible_rows

    def prop(model):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        # an independent count: torch's own hooks on every Linear, in a plain forward
        calls = []
        handles = [m.register_forward_pre_hook(lambda mod, args: calls.append(mod))
                   for m in model.modules() if isinstance(m, nn.Linear)]
        x = torch.randn(ROWS, WIDTH)
        with torch.no_grad():
            model(x)
        for h in handles:
            h.remove()
        report = profile(model, x)
        assert report.total.macs == len(calls) * ROWS * WIDTH * WIDTH
        deepest = max(r.depth for r in report.layers)
        for depth in [None, *range(0, deepest + 1)]:
            rows = visible_rows(report.layers, depth) if depth != 0 else [(report.root, False)]
            shown = sum(((r.self_cost if own else r.cost) for r, own in rows), torchcount.Cost())
            assert shown == report.total.cost, depth
        for key, value in model.state_dict().items():
            assert torch.equal(value, before[key]), key
        for m in model.modules():
            assert "forward" not in m.__dict__ and not m._forward_hooks and not m._forward_pre_hooks

    check(prop, model_structures(), 60 * budget)
