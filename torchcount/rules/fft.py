"""Op rules for FFTs: ``_fft_r2c``, ``_fft_c2r``, ``_fft_c2c`` (what torch.fft.*, torch.stft,
torch.istft and torchaudio's Spectrogram dispatch to).

The convention (radix-2 Cooley–Tukey, the usual textbook estimate): a complex FFT of size N
has N/2·log2 N butterflies, each one complex multiplication (4 real multiplications,
2 additions) and two complex additions (4 additions), so

    complex FFT:  2·N·log2 N multiplications + 3·N·log2 N additions  = 5·N·log2 N FLOPs
    real FFT:     half of that, N·log2 N multiplications + 1.5·N·log2 N additions = 2.5·N·log2 N

(r2c and c2r alike). N is the product of the transformed dimensions (a d-dimensional FFT
does the same work as one FFT of N = ∏ sizes); the count is per transform, times the number
of transforms in the batch. log2 N is used as is for sizes that are not powers of two
(real libraries use mixed radices with similar constants); totals are rounded to integers.
A normalisation (``norm="ortho"`` or ``"forward"``/``"backward"`` where it scales) costs one
multiplication per real output element, two per complex one (its real and imaginary parts are
each scaled by the real factor, as any complex × real product is counted). The window multiply
of an STFT is a separate ``mul`` op and is counted by the element-wise rules; a window made in the
forward (``hann``, ``hamming``, ``blackman``, ``bartlett``, ``kaiser``) has a rule here.
"""
from __future__ import annotations

import math

from ..cost import Cost, Term, worked
from ._util import prod, schema_arg
from .registry import aten, op_rule


#: real / complex: (multiplications, additions) per N·log2 N, the name, and the two formulas
_FFT_KINDS = {True: (1, 1.5, "real", "transforms·N·log2 N", "transforms·1.5·N·log2 N"),
              False: (2, 3, "complex", "transforms·2·N·log2 N", "transforms·3·N·log2 N")}


def fft_terms(batch: int, sizes: tuple, real: bool, what: str) -> list[Term]:
    N = prod(sizes)
    if N <= 1:
        return []
    nlog = N * math.log2(N)
    mult_k, add_k, label, mult_formula, add_formula = _FFT_KINDS[real]
    # the real FFT's factor 1 is not in its formula, so its line does not write it either
    mults = worked("{}×{}×log2({})", batch, sizes, N) if mult_k == 1 else \
        worked("{}×{}×{}×log2({})", batch, mult_k, sizes, N)
    return [
        Term("mults", f"multiplications ({what}, {label} FFT)", mult_formula, mults, round(batch * mult_k * nlog)),
        Term("adds", f"additions ({what}, {label} FFT)", add_formula,
             worked("{}×{}×{}×log2({})", batch, add_k, sizes, N), round(batch * add_k * nlog)),
    ]


def _fft(op, real: bool) -> Cost:
    name = op.op.overloadpacket.__name__
    dims = op.args[1]
    normalization = op.args[2] if len(op.args) > 2 else 0
    # the full-size signal: the input of r2c/c2c, the output of c2r
    signal = op.outputs[0] if name == "_fft_c2r" else op.inputs[0]
    sizes = tuple(signal.shape[d] for d in dims)
    batch = signal.numel // max(prod(sizes), 1)
    terms = fft_terms(batch, sizes, real, name)
    if normalization:
        out = op.outputs[0]
        n = out.numel
        if out.dtype.is_complex:  # r2c, c2c: a real factor times both parts of each output
            terms.append(Term("mults", "normalisation scaling (complex outputs, both parts)", "2·outputs",
                              worked("2×{}", n), 2 * n))
        else:
            terms.append(Term("mults", "normalisation scaling", "outputs", n, n))
    return Cost.of(*terms)


@op_rule(aten._fft_r2c, aten._fft_c2r, complex_aware=True)
def real_fft(op) -> Cost:
    return _fft(op, real=True)


@op_rule(aten._fft_c2c, complex_aware=True)
def complex_fft(op) -> Cost:
    return _fft(op, real=False)


@op_rule(aten.hann_window, aten.hamming_window)
def cosine_window(op) -> Cost:
    """``hann_window(N)`` / ``hamming_window(N)``: w[n] = α − β·cos(2πn/M) per element (M = N
    when periodic, N − 1 otherwise): one multiplication for the angle, one cosine, one
    multiplication by β and one subtraction. A window of length 1 is a constant (ATen returns ones)."""
    n = op.outputs[0].numel
    if n <= 1:
        return Cost.of()
    return Cost.of(Term("mults", "angles 2πn/M and β·cos", "2·N", worked("2×{}", n), 2 * n),
                   Term("transc", "cosines", "N", n, n),
                   Term("adds", "subtractions α − β·cos", "N", n, n))


def _window_length(op) -> tuple[int, int]:
    """(N, M): the window's length and the divisor of its formulas (N when periodic, N − 1 if not)."""
    n = op.outputs[0].numel
    periodic = schema_arg(op, "periodic", True)
    return n, n if periodic else n - 1


@op_rule(aten.blackman_window)
def blackman_window(op) -> Cost:
    """``blackman_window(N)``: w[n] = 0.42 − 0.5·cos(2πn/M) + 0.08·cos(4πn/M) per element: three
    multiplications for the angles (πn/M, ×2, ×4), two cosines, two for their factors, one
    subtraction and one addition. A window of length 1 is a constant (ATen returns ones)."""
    n, _ = _window_length(op)
    if n <= 1:
        return Cost.of()
    return Cost.of(Term("mults", "angles πn/M, ×2, ×4 and the factors 0.5, 0.08", "5·N", worked("5×{}", n), 5 * n),
                   Term("transc", "cosines", "2·N", worked("2×{}", n), 2 * n),
                   Term("adds", "0.42 − 0.5·cos + 0.08·cos", "2·N", worked("2×{}", n), 2 * n))


@op_rule(aten.bartlett_window)
def bartlett_window(op) -> Cost:
    """``bartlett_window(N)``: w[n] = 2n/M up to the middle, 2 − 2n/M past it (n > M/2): one
    multiplication per element and one subtraction per element past the middle."""
    n, m = _window_length(op)
    if n <= 1:
        return Cost.of()
    past_middle = n - (m // 2 + 1)
    return Cost.of(Term("mults", "ramp 2n/M", "N", n, n),
                   Term("adds", "subtractions 2 − 2n/M past the middle", "N − (⌊M/2⌋ + 1)",
                        worked("{} − ({} + 1)", n, m // 2), past_middle))


@op_rule(aten.kaiser_window)
def kaiser_window(op) -> Cost:
    """``kaiser_window(N, periodic, β)``: w[n] = I0(β·√(1 − (2n/M − 1)²)) / I0(β): per element
    three multiplications (2n/M, the square, β·), two subtractions, a square root, a Bessel I0 and
    a division; I0(β) once."""
    n, _ = _window_length(op)
    if n <= 1:
        return Cost.of()
    return Cost.of(Term("mults", "2n/M, the square and β·√", "3·N", worked("3×{}", n), 3 * n),
                   Term("adds", "subtractions (2n/M − 1, 1 − ·²)", "2·N", worked("2×{}", n), 2 * n),
                   Term("transc", "square roots and I0 per element, I0(β) once", "2·N + 1",
                        worked("2×{} + 1", n), 2 * n + 1),
                   Term("divs", "divisions by I0(β)", "N", n, n))
