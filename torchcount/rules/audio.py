"""Op rules for torchaudio's own kernels, registered by name (torchaudio need not be imported
for torchcount to load). Spectrograms, mel scales and the DCT reach dispatch as FFT, matmul and
element-wise ops (rules/fft.py and the others); only what torchaudio runs in its own C++ is here.

``_lfilter_core_loop`` — the recursive (IIR) half of ``torchaudio.functional.lfilter``
(``Deemphasis``, ``Loudness``, the biquads): every output sample is its input minus the dot
product of the last n_order outputs with the flipped, normalised ``a`` coefficients (the FIR half
is a grouped conv1d, counted as such). Per sample and channel: n_order MACs and 1 subtraction.
"""
from __future__ import annotations

from ..cost import Cost, Term, worked
from .registry import op_rule


@op_rule("torchaudio::_lfilter_core_loop")
def lfilter_core_loop(op) -> Cost:
    windows, a_flipped = op.args[0], op.args[1]
    samples, order = windows.numel, a_flipped.shape[-1]
    return Cost.of(
        Term("macs", "feedback multiply-accumulates", "samples·n_order", worked("{}×{}", samples, order),
             samples * order),
        Term("adds", "subtractions (input − feedback)", "samples", samples, samples))
