"""Complex arithmetic is counted in real operations (torchcount/rules/complex.py).

The independent reference: a complex product written out in real arithmetic. A complex
matrix product A·B is the real block product [[Ar, −Ai], [Ai, Ar]]·[Br; Bi] (4 real
products of the same shapes), which torch.utils.flop_counter counts on real tensors; the
element-wise formulas are the textbook ones (z·w = (ac − bd) + (ad + bc)i: 4 multiplications,
2 additions).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import torchcount
from torchcount import Cost, Term
from torchcount.cost import OP_CATEGORIES

from conftest import Fn, run, nonzero_counts as counts, ops_counts as ops_of

C64 = torch.complex64
N = 30  # elements of the element-wise inputs


def real_flops(fn, *xs) -> int:
    with FlopCounterMode(display=False) as fc:
        fn(*xs)
    return fc.get_total_flops()


def real_block_matmul(a, b):
    """A·B for complex A, B, computed with 4 real matrix products."""
    ar, ai, br, bi = a.real, a.imag, b.real, b.imag
    return torch.complex(ar @ br - ai @ bi, ar @ bi + ai @ br)


@pytest.mark.parametrize("shapes", [[(7, 5), (5, 3)], [(2, 4, 7, 5), (2, 4, 5, 3)]])
def test_complex_matmul_is_four_real_matmuls(shapes):
    a, b = (torch.randn(s, dtype=C64) for s in shapes)
    assert torch.allclose(real_block_matmul(a, b), a @ b, atol=1e-5)  # the reference computes the same
    ours = run(Fn(torch.matmul), a, b).total.cost.macs
    assert 2 * ours == real_flops(real_block_matmul, a, b)


def test_complex_matrix_vector_product():
    a, v = torch.randn(3, 6, dtype=C64), torch.randn(6, dtype=C64)  # (flop_counter has no mv formula)
    assert run(Fn(torch.mv), a, v).total.cost.macs == 4 * 3 * 6


def test_complex_linear_module():
    """(n + 1)·k complex parameters; rows·n·k complex MACs = 4·rows·n·k real MACs, rows·k
    complex bias additions = 2·rows·k real additions."""
    rows, n, k = 6, 4, 3
    model = nn.Linear(n, k, dtype=C64)
    x = torch.randn(rows, n, dtype=C64)
    report = torchcount.profile(model, x)
    assert report.total.params == (n + 1) * k
    assert counts(report.total.cost) == {"macs": 4 * rows * n * k, "adds": 2 * rows * k}
    # the MACs are those of the real computation (the bias add is not a flop_counter op)
    assert 2 * report.total.macs == real_flops(lambda x: real_block_matmul(x, model.weight.detach().T), x)
    text = report.explain("")
    assert "a complex MAC is 4 real MACs" in text and "4·(rows·n·k) = 4×72 = 288" in text


def test_complex_conv1d_module():
    conv = nn.Conv1d(2, 4, 3, bias=False, dtype=C64)
    x = torch.randn(1, 2, 10, dtype=C64)
    macs = 4 * 2 * 3 * 8  # out channels · in channels · kernel · output positions
    assert torchcount.profile(conv, x).total.macs == 4 * macs


@pytest.mark.parametrize("fn, expected", [
    (lambda z, w: z * w, {"mults": 4 * N, "adds": 2 * N}),          # (ac − bd) + (ad + bc)i
    (lambda z, w: z + w, {"adds": 2 * N}),
    (lambda z, w: z - w, {"adds": 2 * N}),
    (lambda z, w: z / w, {"mults": 6 * N, "adds": 3 * N, "divs": 2 * N}),  # z·w̄ / (c² + d²)
    (lambda z, w: z * w.real, {"mults": 2 * N}),                     # complex × real
    (lambda z, w: z / 2.0, {"divs": 2 * N}),                         # complex ÷ real
    (lambda z, w: z + 1, {"adds": N}),                               # only the real part changes
    (lambda z, w: w.real * 1j, {"mults": 2 * N}),                    # real × complex number
    (lambda z, w: -z, {"mults": 2 * N}),                             # both parts negated
    (lambda z, w: z == w.real, {"cmps": 2 * N}),                     # complex vs real: both parts compared
    (lambda z, w: z.abs(), {"mults": 2 * N, "adds": N, "transc": N}),  # √(re² + im²), as before
    # z / |z|: |z| as above, then both parts divided by it
    (lambda z, w: torch.sgn(z), {"mults": 2 * N, "adds": N, "transc": N, "divs": 2 * N}),
    (lambda z, w: torch.exp(z), {"transc": 3 * N, "mults": 2 * N}),  # e^a·(cos b + i·sin b)
    (lambda z, w: z.sum(), {"adds": 2 * (N - 1)}),
    (lambda z, w: z.mean(), {"adds": 2 * (N - 1), "divs": 2}),      # complex sum ÷ a real count
    (lambda z, w: torch.linalg.vector_norm(z), {"mults": 2 * N, "adds": N + N - 1, "transc": 1}),
    # ord 0, how many are nonzero: both parts of each compared with 0, the N flags added up
    (lambda z, w: torch.linalg.vector_norm(z, 0), {"cmps": 2 * N, "adds": N - 1}),
    (lambda z, w: torch.view_as_real(z), {}),                        # no arithmetic, complex or not
])
def test_complex_elementwise_in_real_operations(fn, expected):
    z, w = torch.randn(N, dtype=C64), torch.randn(N, dtype=C64)
    assert ops_of(fn, z, w) == expected


def test_a_summed_cost_is_expanded_by_its_totals():
    """``in_real_ops`` of a sum of costs (no worked terms left) expands the totals: mixed (complex ×
    real) 2 mults → 4, adds unchanged (only the real part), assignments unchanged; complex 2 mults → 8
    mults + 4 adds, 5 adds → 10, so 14 adds."""
    from torchcount.rules.complex import in_real_ops

    summed = Cost.of(Term("adds", "a", "n", 5, 5)) + Cost.of(Term("assigns", "b", "n", 3, 3), Term("mults", "m", "n", 2, 2))
    assert not summed.terms

    def ops(c):
        return {k: getattr(c, k) for k in OP_CATEGORIES if getattr(c, k)}

    assert ops(in_real_ops(summed, "mixed")) == {"mults": 4, "adds": 5, "assigns": 3}
    assert ops(in_real_ops(summed, "complex")) == {"mults": 8, "adds": 14, "assigns": 3}


def test_ffts_keep_their_own_complex_convention():
    """The FFT rules already count complex butterflies in real operations: not expanded again
    (complex FFT of N = 64: 2·N·log2 N multiplications + 3·N·log2 N additions)."""
    z = torch.randn(64, dtype=C64)
    assert ops_of(torch.fft.fft, z) == {"mults": 2 * 64 * 6, "adds": 3 * 64 * 6}


def test_spectral_convolution_fno_style():
    """A Fourier-neural-operator layer: rfft2, a complex channel-mixing einsum on the kept
    modes, irfft2. The einsum is B·modes complex matrix products of (1×Cin)·(Cin×Cout)."""
    B, C_in, C_out, H, W, m = 2, 3, 4, 8, 8, 3

    class Spectral(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(C_in, C_out, m, m, dtype=C64))

        def forward(self, x):
            x_ft = torch.fft.rfft2(x)[:, :, :m, :m]
            return torch.einsum("bixy,ioxy->boxy", x_ft, self.weight)

    report = run(Spectral(), torch.randn(B, C_in, H, W))
    assert report.complete
    assert report.total.macs == 4 * B * C_in * C_out * m * m
    assert report.total.params == C_in * C_out * m * m


def test_user_rules_say_whether_they_price_complex_inputs():
    class Twice(nn.Module):
        def forward(self, x):
            return x + x

    class TwiceAware(Twice):
        pass

    @torchcount.module_rule(Twice)
    def twice(m, call):
        n = call.input.numel
        return Cost.of(Term("adds", "additions", "elements", n, n))

    @torchcount.module_rule(TwiceAware, complex_aware=True)
    def twice_aware(m, call):
        n = call.input.numel
        k = 2 if call.input.dtype.is_complex else 1
        return Cost.of(Term("adds", "additions", "k·elements", k * n, k * n))

    z = torch.randn(5, dtype=C64)
    assert torchcount.profile(Twice(), z).total.cost.adds == 10          # expanded: 2 real additions each
    assert torchcount.profile(TwiceAware(), z).total.cost.adds == 10     # the rule's own count, not 20
    assert torchcount.profile(Twice(), z.real).total.cost.adds == 5


def test_a_rules_cost_is_expanded_once_whatever_its_complex_inputs():
    """A module rule that does not price complex inputs itself, called with two complex operands
    (a + b, 5 complex additions by its rule): each is 2 real additions, 10, expanded once for the
    call, not once per complex input (20)."""
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    @torchcount.module_rule(Add)
    def add(m, call):
        n = call.inputs[0].numel
        return Cost.of(Term("adds", "additions", "elements", n, n))

    z = torch.randn(5, dtype=C64)
    assert torchcount.profile(Add(), (z, z)).total.cost.adds == 10


def test_a_rule_cost_without_worked_lines_is_expanded_too():
    """A rule may return a bare Cost (a sum of costs keeps no worked lines): its fields are
    expanded the same way, 5 complex MACs → 20 real MACs, 3 complex additions → 6."""
    class Bare(nn.Module):
        def forward(self, x):
            return x

    @torchcount.module_rule(Bare)
    def bare(m, call):
        return Cost(macs=5) + Cost(adds=3)

    c = torchcount.profile(Bare(), torch.randn(5, dtype=C64)).total.cost
    assert (c.macs, c.adds) == (20, 6)


def test_complex_mean_lines_say_why_each_count_doubles():
    """mean over the rows of a complex (3, 4): 3·(4 − 1) = 9 complex additions, 2 real ones each (18),
    and 3 divisions of a complex sum by a real count, 2 real divisions each (6) — its own recipe, which
    its line names as the table's are named."""
    report = run(Fn(lambda z: z.mean(1)), torch.randn(3, 4, dtype=C64))
    assert [(t.category, t.what, t.formula, t.value) for t in report.root.terms] == [
        ("adds", "additions (mean); a complex addition is 2 real additions", "2·(inputs − outputs)", 18),
        ("divs", "divisions (mean); complex operands: 2 divisions each", "2·(outputs)", 6)]


@pytest.mark.parametrize("mode, table", [
    ("complex", {"macs": {"macs": 4}, "mults": {"mults": 4, "adds": 2}, "adds": {"adds": 2},
                 "divs": {"mults": 6, "adds": 3, "divs": 2}, "cmps": {"cmps": 2}, "transc": {"transc": 3, "mults": 2},
                 "assigns": {"assigns": 1}}),
    ("mixed", {"macs": {"macs": 2}, "mults": {"mults": 2}, "adds": {"adds": 1}, "divs": {"divs": 2},
               "cmps": {"cmps": 2}, "transc": {"transc": 3, "mults": 2}, "assigns": {"assigns": 1}}),
])
def test_each_complex_operation_in_real_ones_as_the_table_says(mode, table):
    """The module docstring's table, row by row, on 3 operations of each category, from worked terms and
    from bare totals alike: (ac − bd) + (ad + bc)i is 4 mults + 2 adds, z·w̄/|w|² 6 mults + 3 adds + 2
    divs, z·r 2 mults, z/r 2 divs, a comparison both parts, exp e^a·(cos b + i·sin b)."""
    from torchcount.rules.complex import in_real_ops

    for category, real in table.items():
        expected = {c: 3 * k for c, k in real.items()}
        assert counts(in_real_ops(Cost.of(Term(category, "x", "n", 3, 3)), mode)) == expected, category
        bare = Cost.of(Term(category, "x", "n", 2, 2)) + Cost.of(Term(category, "y", "n", 1, 1))
        assert not bare.terms
        assert counts(in_real_ops(bare, mode)) == expected, category


def test_complex_equality_compares_both_parts():
    z, w = torch.randn(N, dtype=C64), torch.randn(N, dtype=C64)
    assert ops_of(lambda a, b: a == b, z, w) == {"cmps": 2 * N}
