"""scaling(): fitted power laws of cost vs sequence length T — the lecture's table
"complexity vs parameter count, time scaling" (parameters fixed; conv/linear/RNN ∝ T;
attention scores ∝ T²; RNN sequential steps ∝ T)."""
import io
import math
import re

import pytest
import torch
from torch import nn

import torchcount
from torchcount.analysis import scaling
from torchcount.analysis.scaling import Fit, Progress, fit_power_law, fit_reports

SIZES = [8, 16, 32, 64]


def test_fit_power_law_on_exact_laws():
    f = fit_power_law([2, 4, 8, 16], [3 * t ** 2 for t in (2, 4, 8, 16)])
    assert f.exponent == pytest.approx(2.0, abs=1e-12) and f.coefficient == pytest.approx(3.0)
    assert f.r2 == pytest.approx(1.0) and f.law() == "∝ T²"
    assert fit_power_law([1, 10], [7, 7]).exponent == 0.0 and fit_power_law([1, 10], [7, 7]).law() == "fixed"
    # constant up to float rounding: a flat law with r² 1 (it gave r² 0.02 from the rounding's noise)
    flat = fit_power_law([1, 2, 4], [5, 5 + 1e-10, 5])
    assert (flat.exponent, flat.r2, flat.law()) == (0.0, 1.0, "fixed")
    # T·log2 T over 4..64 is not a power law: a slope between 1 and 2, shown as a fraction
    ts = [4, 8, 16, 32, 64]
    f = fit_power_law(ts, [t * math.log2(t) for t in ts])
    assert 1.2 < f.exponent < 1.5 and f.law().startswith("∝ T^1.")
    assert fit_power_law([1, 2], [0, 0]).exponent is None and fit_power_law([1, 2], [0, 0]).note == "zero"
    assert fit_power_law([1, 2], [0, 5]).exponent is None
    assert fit_power_law([3, 3], [1, 2]).note == "too few sizes"


def test_mlp_per_token_params_fixed_compute_linear():
    m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    res = scaling(m, lambda t: torch.randn(1, t, 8), SIZES)
    assert res.get(None, "params").values == [(8 + 1) * 16 + (16 + 1) * 4] * 4
    assert res.exponent(None, "params") == 0.0
    # MACs = T·(8·16 + 16·4), written out
    assert res.get(None, "macs").values == [t * (8 * 16 + 16 * 4) for t in SIZES]
    assert res.exponent(None, "macs") == pytest.approx(1.0, abs=1e-9)
    assert res.exponent("0", "ops") == pytest.approx(1.0, abs=1e-9)
    assert res.exponent("0", "params") == 0.0
    # no recurrence: the chain of sequential steps does not grow with T (three layers, one after another)
    assert res.get(None, "steps").values == [3] * 4 and res.exponent(None, "steps") == 0.0


def test_cnn_1d_compute_linear():
    m = nn.Sequential(nn.Conv1d(4, 8, 5, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1))
    res = scaling(m, lambda t: torch.randn(1, 4, t), SIZES)
    # MACs = prod(W.shape)·T per conv (lecture): 8·4·5·T + 8·8·3·T
    assert res.get(None, "macs").values == [(8 * 4 * 5 + 8 * 8 * 3) * t for t in SIZES]
    assert res.exponent(None, "macs") == pytest.approx(1.0, abs=1e-9)
    assert res.exponent("2", "params") == 0.0


def test_cnn_2d_compute_grows_with_area():
    # a 2-D CNN over a T×T image: MACs ∝ T² (the lecture's CNN 2-D row)
    m = nn.Conv2d(2, 4, 3, padding=1)
    res = scaling(m, lambda t: torch.randn(1, 2, t, t), SIZES)
    assert res.get(None, "macs").values == [4 * 2 * 9 * t * t for t in SIZES]
    assert res.exponent(None, "macs") == pytest.approx(2.0, abs=1e-9)


def test_rnn_compute_linear():
    m = nn.RNN(8, 16, batch_first=True)
    res = scaling(m, lambda t: torch.randn(1, t, 8), SIZES)
    # Elman RNN: (I·H + H·H)·T MACs
    assert res.get(None, "macs").values == [(8 * 16 + 16 * 16) * t for t in SIZES]
    assert res.exponent(None, "macs") == pytest.approx(1.0, abs=0.05)
    assert res.exponent(None, "params") == 0.0


def test_rnn_sequential_steps_linear():
    m = nn.LSTM(4, 8, batch_first=True)
    res = scaling(m, lambda t: torch.randn(1, t, 4), SIZES)
    assert res.get(None, "steps").values == SIZES  # one step per time step, one layer
    assert res.exponent(None, "steps") == pytest.approx(1.0, abs=0.05)
    two = scaling(nn.GRU(4, 8, num_layers=2), lambda t: torch.randn(t, 1, 4), SIZES)
    assert two.get(None, "steps").values == [2 * t for t in SIZES]  # stacked layers run one after another


class Scores(nn.Module):
    """Attention scores only: (X·Wq)(X·Wk)ᵀ — D·N·M MACs for the product (lecture)."""

    def __init__(self, d=16):
        super().__init__()
        self.q, self.k = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)

    def forward(self, x):
        return self.q(x) @ self.k(x).transpose(1, 2)


def test_attention_scores_quadratic():
    res = scaling(Scores(), lambda t: torch.randn(1, t, 16), SIZES)
    # the scores product itself (the module's own matmul): T·T·16
    root = [r for r in res.reports[0].layers + [res.reports[0].root] if r.type == "Scores"][0]
    assert root.self_cost.macs == 8 * 8 * 16
    assert res.exponent("q", "macs") == pytest.approx(1.0, abs=1e-9)
    total = res.get(None, "macs").values
    assert total == [2 * t * 16 * 16 + t * t * 16 for t in SIZES]
    assert 1.0 < res.exponent(None, "macs") < 2.0  # projections ∝ T plus scores ∝ T²


def test_multihead_attention_scores_term_quadratic():
    m = nn.MultiheadAttention(16, 2, batch_first=True)

    def inputs(t):
        x = torch.randn(1, t, 16)
        return (x, x, x)

    res = scaling(m, inputs, SIZES)
    path = res.layer_order[0]
    fits = res.term_fits(path)
    quadratic = {k: f for k, f in fits.items() if k.endswith("[macs]") and abs(f.exponent - 2) <= 0.05}
    linear = {k: f for k, f in fits.items() if k.endswith("[macs]") and abs(f.exponent - 1) <= 0.05}
    assert quadratic, f"no T² contraction term among {list(fits)}"  # scores Q·Kᵀ and A·V
    assert linear  # the projections
    # the layer as a whole is not a single power law: between the two
    e = res.exponent(None, "macs")
    assert 1.05 < e < 1.95
    assert "T²" in res.table()  # the mixed layer's terms are shown with their laws


def test_term_lines_add_up_to_their_row_in_each_column():
    # a layer's term lines, in each column's unit: MAC terms under MACs, every term weighted by the
    # convention under its ops (a [macs] term showed its MACs under FLOPs, so the lines summed to neither)
    m = nn.MultiheadAttention(16, 2, batch_first=True)
    res = scaling(m, lambda t: (torch.randn(1, t, 16),) * 3, [8, 32], convention="flops", progress=False)
    lines = res.table(terms=True).splitlines()
    spans = [match.span() for match in re.finditer(r"-+", lines[2])]  # the columns, from the rule under the header
    headers = [lines[1][a:b].strip() for a, b in spans]
    macs_at, flops_at = headers.index("MACs @T=8"), headers.index("FLOPs @T=8")

    def cell(line, at):
        a, b = spans[at]
        text = line[a:b].strip()
        return int(text.replace(",", "")) if text else 0

    row = next(l for l in lines if l.startswith("(root) (self)"))
    terms = [l for l in lines if l.lstrip().startswith("· ")]
    assert len(terms) > 5 and all(cell(l, flops_at) for l in terms)
    macs = sum(cell(l, macs_at) for l in terms)
    T, E = 8, 16
    assert cell(row, macs_at) == macs == 4 * T * E * E + 2 * T * T * E  # four projections, scores and A·V
    assert cell(row, flops_at) == sum(cell(l, flops_at) for l in terms)


def test_transformer_encoder_table():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 1,
                                enable_nested_tensor=False).eval()
    res = scaling(enc, lambda t: torch.randn(1, t, 16), SIZES)
    assert res.exponent(None, "params") == 0.0
    assert res.exponent("layers.0.linear1", "macs") == pytest.approx(1.0, abs=1e-9)
    assert 1.0 < res.exponent(None, "macs") < 2.0
    assert res.exponent(None, "steps") == 0.0  # attention runs all positions in parallel
    text = res.table(depth=3)
    assert "complexity vs parameter count, time scaling" in text and "fixed" in text and "∝ T" in text


def test_time_series_fitted_when_rows_carry_times():
    reps = [torchcount.profile(nn.Conv1d(1, 2, 3), torch.randn(1, 1, t)) for t in SIZES]
    for t, rep in zip(SIZES, reps):  # stand-in measurements: 0.01 ms per position
        rep.layers[0].extra["time_ms"] = 0.01 * t
        rep.extra["time_ms"] = 0.01 * t + 0.5
    res = fit_reports(reps, SIZES)
    assert res.exponent(reps[0].layers[0].path, "time_ms") == pytest.approx(1.0, abs=1e-9)
    assert res.get(None, "time_ms").values == [0.01 * t + 0.5 for t in SIZES]
    assert "time ms" in res.table()


def test_measure_adds_time_series():
    res = scaling(nn.Conv1d(1, 2, 3), lambda t: torch.randn(1, 1, t), [16, 64], measure=True, repeat=3,
                  warmup=1)
    times = res.get(None, "time_ms").values
    assert len(times) == 2 and all(v is not None and v > 0 for v in times)


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    quiet, loud = io.StringIO(), Tty()
    for stream in (quiet, loud):
        bar = Progress(3, "sweep", stream=stream)
        for i in range(4):
            bar.update(i, f"T={i}")
        bar.close()
    assert quiet.getvalue() == ""
    assert "3/3" in loud.getvalue() and "#" * 24 in loud.getvalue()


def test_bad_arguments():
    m = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="at least two sizes"):
        scaling(m, lambda t: torch.randn(t, 2), [4])

    def broken(t):
        raise RuntimeError("no such size")

    with pytest.raises(ValueError, match=r"make_inputs\(3\) raised RuntimeError: no such size"):
        scaling(m, broken, [3, 4])
    with pytest.raises(ValueError, match="positive"):
        scaling(m, lambda t: torch.randn(t, 2), [0, 2])
    with pytest.raises(KeyError, match="no series"):
        scaling(m, lambda t: torch.randn(t, 2), [2, 4]).get("nope", "macs")


class Bessel(nn.Module):
    def forward(self, x):
        return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # its degree is a tensor: uncounted


def test_partially_counted_layers_are_marked_not_zeroed():
    res = scaling(nn.Sequential(nn.Linear(4, 4), Bessel()), lambda t: torch.randn(1, t, 4), [4, 8])
    assert res.partial == ["1"]
    text = res.table()
    assert "1 †" in text and "total †" in text and "special_chebyshev_polynomial_t" in text
    assert res.get(None, "macs").values == [4 * 4 * 4, 8 * 4 * 4]  # the counted part


def test_sizes_out_of_order_are_shown_smallest_to_largest():
    lin = nn.Linear(8, 8)
    result = torchcount.scaling(lin, lambda T: torch.randn(T, 8), [16, 4, 8])
    assert result.sizes == [4, 8, 16]
    header = next(line for line in result.table().splitlines() if line.startswith("module"))
    assert header.index("@T=4") < header.index("@T=16")
    macs = result.series[(None, "macs")].values
    assert macs == [T * 8 * 8 for T in (4, 8, 16)]  # T·n·k, in the order of the sizes


def test_the_roots_line_is_its_own_work_not_a_copy_of_the_total():
    # the root projects (linear in T) and then forms a T×T score matrix itself (T² MACs): its own
    # line shows the T², the total mixes both, and the root's line is no second copy of the total
    d = 8

    class Scores(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(d, d, bias=False)

        def forward(self, x):
            q = self.proj(x)
            return q @ q.transpose(-1, -2)

    sizes = [4, 8, 16, 32]
    result = scaling(Scores(), lambda T: torch.randn(T, d), sizes)
    own = result.get("", "macs")
    assert own.values == [T * T * d for T in sizes]  # q·qᵀ: T·T dot products of length d
    assert own.fit.law() == "∝ T²"
    assert result.get("", "params").values == [0] * len(sizes)  # the weights are proj's
    assert result.get(None, "macs").values == [T * d * d + T * T * d for T in sizes]
    assert result.get("proj", "macs").fit.law() == "∝ T"
    lines = result.table().splitlines()
    assert any(l.startswith("(root) (self)") for l in lines)
    assert not any(l.startswith("(root) ") and "(self)" not in l for l in lines)


def test_a_layer_not_called_at_some_sizes_ran_no_steps_there():
    """Its MACs were 'zero at some sizes' but its steps were gaps, fitted over the other sizes as
    'fixed'."""
    from torch import nn

    class SkipsSmall(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(4, 4)
            self.extra = nn.Linear(4, 4)

        def forward(self, x):
            x = self.head(x)
            return self.extra(x) if x.shape[0] > 2 else x

    res = torchcount.scaling(SkipsSmall(), lambda n: torch.randn(n, 4), [2, 4, 8])
    assert res.get("extra", "steps").values == [0, 1, 1]
    assert res.get("extra", "steps").fit.note == res.get("extra", "macs").fit.note == "zero at some sizes"


def test_a_block_holding_an_uncounted_layer_is_marked_too():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.odd = nn.Linear(4, 4), Bessel()

        def forward(self, x):
            return self.odd(self.lin(x))

    res = scaling(nn.Sequential(Block(), nn.Linear(4, 4)), lambda t: torch.randn(t, 4), [2, 8], convention="macs")
    assert res.partial == ["0.odd"]
    # the block's figures are inclusive: T·4·4 MACs of its Linear and nothing of its uncounted layer
    assert res.get("0", "macs").values == [2 * 4 * 4, 8 * 4 * 4]
    assert res.is_partial("0") and res.is_partial("0.odd") and res.is_partial(None)
    assert not res.is_partial("0.lin") and not res.is_partial("1") and not res.is_partial("")
    lines = {line.split()[0] + (" †" if " † " in line else ""): line for line in res.table().splitlines()[2:]}
    assert "0 †" in lines and "0.lin" in lines and "1" in lines  # was "0" unmarked


def test_a_layer_not_called_at_some_sizes_took_no_time_there():
    class Branch(nn.Module):  # the conv runs only for long inputs
        def __init__(self):
            super().__init__()
            self.lin, self.conv = nn.Linear(4, 4), nn.Conv1d(4, 4, 1)

        def forward(self, x):
            y = self.lin(x)
            return self.conv(y.T[None])[0].T if x.shape[0] > 4 else y

    sizes = [2, 4, 8, 16]
    reports = [torchcount.profile(Branch(), torch.randn(t, 4)) for t in sizes]
    for t, rep in zip(sizes, reports):  # stand-ins for measure=True: 1 ms per row called, per size unit
        rep.extra["time_ms"] = 3.0 * t
        for row in rep.layers:
            if row.status != "not called":
                row.extra["time_ms"] = float(t)
    res = fit_reports(reports, sizes)
    assert res.get("conv", "macs").values == [0, 0, 8 * 16, 16 * 16]  # T·4·4 where it ran
    assert res.get("conv", "time_ms").values == [0.0, 0.0, 8.0, 16.0]  # was [None, None, 8.0, 16.0]
    assert res.fit("conv", "time_ms").note == "zero at some sizes"  # was e = 1 over two sizes alone
    assert res.fit("lin", "time_ms").exponent == pytest.approx(1.0)


def test_term_fits_give_each_formula_term_its_own_law():
    """docs/analyses.md: MHA as a whole is no power law (its MACs fit e = 1.5 over T = 16, 64, 256),
    but each term is one. By hand, E = 32, batch 1: a projection is T·E·E MACs (∝ T, coefficient 1024),
    the scores Q·Kᵀ and A·V are T·T·E (∝ T², coefficient 32)."""
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    result = scaling(mha, lambda t: (torch.randn(1, t, 32),) * 3, [16, 64, 256], progress=False)
    fits = result.term_fits("")
    for what, exponent, coefficient in [("query projection [macs]", 1, 1024), ("output projection [macs]", 1, 1024),
                                        ("scores Q·Kᵀ [macs]", 2, 32), ("weighted sum A·V [macs]", 2, 32)]:
        assert fits[what].exponent == pytest.approx(exponent) and fits[what].coefficient == pytest.approx(coefficient)
        assert fits[what].law() == ("∝ T" if exponent == 1 else "∝ T²")
    whole = result.fit("", "macs")
    assert whole.law() not in ("∝ T", "∝ T²") and 1.1 < whole.exponent < 1.9
    assert result.term_fits("no.such.layer") == {}


def test_term_lines_a_convention_weighs_zero_are_left_out_and_named():
    """ReLU's assignments weigh 0 under 'flops' and are no MACs: their line was all blanks. Left out, the
    title says which; under 'worksheet' (assignments weigh 1) the line is there: 4·8 = 32 at T = 4."""
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    flops = scaling(model, lambda t: torch.randn(t, 8), [4, 8, 16], progress=False).table(terms=True)
    assert "assign" not in flops.split("\n", 1)[1] and "except those 'flops' weighs 0 (assigns)" in flops
    sheet = scaling(model, lambda t: torch.randn(t, 8), [4, 8, 16], progress=False,
                    convention="worksheet").table(terms=True)
    line = next(l for l in sheet.splitlines() if "[assigns]" in l)
    assert line.split()[-5:-3] == ["32", "128"] and "weighs 0" not in sheet


def test_fit_power_law_r2_of_a_series_off_the_line_by_hand():
    """Sizes 1, 2, 4 and values 1, 4, 4: in units of ln 2, x = 0, 1, 2 and y = 0, 2, 2, so x̄ = 1, ȳ = 4/3,
    Sxx = 2, Sxy = 2: slope 1, intercept 1/3 (c = 2^(1/3)); residuals −1/3, 2/3, −1/3 (SS_res = 2/3) against
    SS_tot = 8/3: r² = 1 − 1/4 = 0.75."""
    f = fit_power_law([1, 2, 4], [1, 4, 4])
    assert f.exponent == pytest.approx(1.0, abs=1e-12) and f.coefficient == pytest.approx(2 ** (1 / 3))
    assert f.r2 == pytest.approx(0.75, abs=1e-12) and f.points == 3
    assert f.text() == "∝ T (e=1.00)"


def test_law_names_cubes_and_fourth_powers_and_says_why_there_is_none():
    for e, law in ((3, "∝ T³"), (4, "∝ T⁴"), (5, "∝ T^5")):
        f = fit_power_law([1, 2, 4], [7 * t ** e for t in (1, 2, 4)])
        assert f.law() == law and f.law("L") == law.replace("T", "L")
    # no law: the reason, in the table's cell as in text()
    zero = fit_power_law([1, 2], [0, 0])
    assert (zero.law(), zero.text()) == ("zero", "zero")
    assert fit_power_law([1, 2], [0, 5]).law() == "zero at some sizes"
    assert Fit(None, None, None, 0).law() == "—" and Fit(None, None, None, 0).text() == "—"
    # within tol of an integer, tol included: 1.25 is ∝ T at tol 0.25, not at 0.2
    assert Fit(1.25, 1.0, 1.0, 2).law(tol=0.25) == "∝ T" and Fit(1.25, 1.0, 1.0, 2).law(tol=0.2) == "∝ T^1.25"


def test_a_size_of_zero_has_no_law():
    """log 0 is not on the axes: a fit over a size 0 (fit_power_law is public; scaling() refuses it)
    gives no exponent rather than a math domain error."""
    f = fit_power_law([0, 1, 2], [1, 2, 3])
    assert f.exponent is None and f.note == "zero at some sizes"


def test_a_layer_whose_path_begins_another_ones_is_not_its_block():
    """Layer "1" of eleven is not the block of layer "10", whose op has no formula: only "10" (and the
    total) are marked partial, "1" is a plain Linear (T·4·4 MACs)."""
    layers = [nn.Linear(4, 4) for _ in range(10)] + [Bessel()]
    res = scaling(nn.Sequential(*layers), lambda t: torch.randn(t, 4), [2, 8], convention="macs")
    assert res.partial == ["10"]
    assert res.is_partial("10") and res.is_partial(None)
    assert not res.is_partial("1") and res.get("1", "macs").values == [2 * 4 * 4, 8 * 4 * 4]
    lines = [line.split()[0] + (" †" if " † " in line else "") for line in res.table().splitlines()[3:]]
    assert lines[:2] == ["0", "1"] and "10 †" in lines


def test_table_default_terms_only_for_a_mixed_law_and_the_values_at_both_ends():
    """terms=None: formula-term lines under the attention (T projections and T² scores, ops ∝ T^1.x) and
    none under the Linear after it, whose ops are ∝ T exactly; depth=1 keeps both depth-1 layers; the
    two value columns are the smallest and the largest size's (Linear(16, 16) on T rows: 256·T MACs)."""
    class AttnThenLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.lin = nn.MultiheadAttention(16, 2, batch_first=True), nn.Linear(16, 16)

        def forward(self, x):
            return self.lin(self.attn(x, x, x)[0])

    res = scaling(AttnThenLinear(), lambda t: torch.randn(1, t, 16), [8, 16, 32], convention="macs")
    assert res.exponent("lin", "ops") == pytest.approx(1.0, abs=1e-9)
    assert 1.05 < res.exponent("attn", "ops") < 1.95
    lines = res.table(depth=1).splitlines()
    names = [line.split()[0] for line in lines[3:] if not line.lstrip().startswith("·")]
    assert names == ["attn", "lin", "total"]  # (the root does nothing itself: no row)
    after = {}
    for line in lines[3:]:
        if line.lstrip().startswith("·"):
            after[current] = after.get(current, 0) + 1
        else:
            current = line.split()[0]
    assert after.get("attn", 0) >= 2 and "lin" not in after and "total" not in after
    lin = next(line for line in lines if line.startswith("lin "))
    assert re.search(r"\s2,048\s+8,192\s+∝ T \(e=1\.00\)", lin), lin  # 256·8 and 256·32
    assert [line.split()[0] for line in res.table(depth=0).splitlines()[3:]] == ["total"]


def test_table_depth_counts_the_root_as_zero_and_terms_false_shows_no_term_lines():
    """Paths '' (the root's own residual add), 'block' (depth 1), 'block.0' and 'block.1' (depth 2): each
    depth keeps exactly the rows at most that deep; terms=False leaves out every term line and the
    header's word on them."""
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

        def forward(self, x):
            return self.block(x) + x

    res = scaling(Residual(), lambda t: torch.randn(t, 4), [2, 8], convention="macs")

    def rows(text):
        return [line.split("  ")[0] for line in text.splitlines()[3:] if not line.lstrip().startswith("·")]

    assert rows(res.table(depth=0)) == ["(root) (self)", "total"]
    assert rows(res.table(depth=1)) == ["(root) (self)", "block", "total"]
    assert rows(res.table(depth=2)) == ["(root) (self)", "block", "block.0", "block.1", "total"]
    for text in (res.table(terms=False), res.table(depth=2, terms=False)):
        assert not any(line.lstrip().startswith("·") for line in text.splitlines()) and "· lines" not in text
    assert "· lines: the layer's formula terms" in res.table(terms=True)


def test_table_prints_fractional_times_and_accepts_sizes_of_one_or_less():
    """A measured time is printed to 3 significant digits (0.08 ms, not 0); sizes need only be positive
    (1 and 0.5 are sizes); the sweep does not warn at every size for a layer with no formula (the table
    marks it)."""
    reps = [torchcount.profile(nn.Conv1d(1, 2, 3), torch.randn(1, 1, t)) for t in SIZES]
    for t, rep in zip(SIZES, reps):  # stand-in measurements: 0.01 ms per position
        rep.layers[0].extra["time_ms"] = 0.01 * t
        rep.extra["time_ms"] = 0.01 * t + 0.5
    total = next(line for line in fit_reports(reps, SIZES).table().splitlines() if line.startswith("total"))
    assert re.search(r"\s0\.58\s+1\.14\s+∝ T\^0\.", total), total  # 0.01·8 + 0.5 and 0.01·64 + 0.5
    res = fit_reports(reps[:2], [0.5, 1])
    # Conv1d(1, 2, 3) unpadded on 8 and 16 positions: 2·3·6 = 36 and 2·3·14 = 84 MACs, one octave apart
    assert res.sizes == [0.5, 1] and res.get(None, "macs").values == [36, 84]
    assert res.exponent(None, "macs") == pytest.approx(math.log2(84 / 36))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", torchcount.UncountedWarning)
        res = scaling(nn.Sequential(nn.Linear(4, 4), Bessel()), lambda t: torch.randn(t, 4), [1, 2])
    assert res.partial == ["1"]


def test_progress_bar_fill_and_elapsed():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progress(4, "sweep", stream=stream)
    bar.update(1, "T=8")  # a quarter of 24 cells
    text = stream.getvalue()
    assert "[" + "#" * 6 + "." * 18 + "] 1/4 T=8 " in text
    elapsed = re.search(r"T=8 (\S+)s", text).group(1)  # seconds since the bar began: "0.0", not "-0.0"
    assert re.fullmatch(r"\d+\.\d", elapsed) and float(elapsed) < 60, elapsed


class _TwoLinears(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_model_steps_are_the_roots_chain_else_the_layers_sum():
    """The total's sequential steps: the root's chain (a, b and its own add, one after another as they
    ran: 3), not the sum over the layers (1 + 1); a root without a steps figure falls back on that sum
    (2), and reports with no steps at all (a Linear then a ReLU: 2 when counted) get no steps series and a note saying why."""
    reps = [torchcount.profile(_TwoLinears(), torch.randn(t, 4)) for t in (2, 8)]
    assert fit_reports(reps, [2, 8]).get(None, "steps").values == [3, 3]
    for rep in reps:
        del rep.root.extra["steps"]
    assert fit_reports(reps, [2, 8]).get(None, "steps").values == [2, 2]
    seq = [torchcount.profile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(t, 4)) for t in (2, 8)]
    assert fit_reports(seq, [2, 8]).get(None, "steps").values == [2, 2]
    for rep in seq:
        for row in [rep.root, *rep.layers]:
            row.extra.pop("steps", None)
    res = fit_reports(seq, [2, 8])
    assert (None, "steps") not in res.series and ("0", "steps") not in res.series
    assert any(note.startswith("sequential steps: not in these reports") for note in res.notes)
    fresh = [torchcount.profile(_TwoLinears(), torch.randn(t, 4)) for t in (2, 8)]
    assert not any(note.startswith("sequential steps") for note in fit_reports(fresh, [2, 8]).notes)


def test_the_models_time_falls_back_on_the_roots_row():
    """A measured time the report-level extra lacks is read from the root's row (stand-ins: 0.1·T ms)."""
    reps = [torchcount.profile(_TwoLinears(), torch.randn(t, 4)) for t in (2, 8)]
    for t, rep in zip((2, 8), reps):
        rep.root.extra["time_ms"] = 0.1 * t
    assert fit_reports(reps, [2, 8]).get(None, "time_ms").values == [0.2, 0.8]


def test_a_layer_with_one_formula_term_has_no_term_series_and_the_total_row_is_the_models_type():
    """Per-term fits only where a layer has several terms: Linear without a bias is its MACs alone (no
    term series), with one its MACs and bias additions (two). The total's row is the model's type, whatever
    name= the sweep was given."""
    res = scaling(nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4)), lambda t: torch.randn(t, 4), [2, 8],
                  name="mine")
    assert res.term_fits("0") == {} and len(res.term_fits("1")) == 2
    assert res.model_name == "mine" and res.get(None, "params").type == "Sequential"
    assert re.search(r"^total\s+Sequential\s", res.table(), re.M)
