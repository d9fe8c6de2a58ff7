"""Op rules for torchaudio's own kernels, registered by name (torchaudio need not be imported
for torchcount to load). Spectrograms, mel scales and the DCT reach dispatch as FFT, matmul and
element-wise ops (rules/fft.py and the others); only what torchaudio runs in its own C++ is here.

``_lfilter_core_loop`` — the recursive (IIR) half of ``torchaudio.functional.lfilter``
(``Deemphasis``, ``Loudness``, the biquads): every output sample is its input minus the dot
product of the last n_order outputs with the flipped, normalised ``a`` coefficients (the FIR half
is a grouped conv1d, counted as such). Per sample and channel: n_order MACs and 1 subtraction.

``rnnt_loss_forward`` — ``torchaudio.functional.rnnt_loss`` / ``transforms.RNNTLoss`` on the CPU
(``libtorchaudio/rnnt/cpu/cpu_kernels.h``; torchaudio 2.2 calls the same kernel as the op
``rnnt_loss``, of the same arguments, which also computes the gradient whether or not the logits
require one): logits (B, T, U, D), U the longest target + 1. In one
call it computes, with the loss, the gradient of the logits:

- the log-softmax denominators of all B·T·U lattice points (padding included): per point D − 1
  comparisons (max), D subtractions and exponentials, D − 1 additions, a log and an addition;
- per sequence of T × U points: the log-probs of blank (every point) and of the next label
  (u < U − 1), one subtraction each (made with ``fused_log_softmax=False`` too, then overwritten
  by the raw logits);
- the α and β recursions: T − 1 + U − 1 additions along the edges, and per inner point two
  candidate sums and their log-add lse(x, y) = max + log1p(exp(min − max)) (4 additions,
  1 comparison, 2 transcendental); one more addition for α's score, one negation for the cost;
- the gradient of every logit of the sequence: the cost negated, per point c = α + cost − denom
  (2 additions), per class exp(logit + c + β) (2 additions, 1 exp), and for the blank before the
  last frame and the next label before the last position a second exp(logit + c + β') and the
  subtraction (2 additions, 1 exp), 1 exp and 1 subtraction at the last blank; with
  ``clamp > 0`` 2 comparisons and an assignment per class. Without the fused log-softmax:
  per class 1 or 2 additions (α, and β' on those transitions), exp and a negation.

The lengths are tensors whose values the rule does not see: every sequence is counted at T and
U, the padded sizes: exact when each is as long as the longest (always with B = 1; the kernel
requires T and U − 1 to be the longest lengths), an upper bound otherwise. A target equal to
blank (invalid input) is not followed. On a GPU the same terms are given (the CPU kernel's
arithmetic, not a count of the CUDA kernels).
"""
from __future__ import annotations

from ..cost import Cost, Term, worked
from ._util import schema_arg
from .registry import op_rule


@op_rule("torchaudio::_lfilter_core_loop")
def lfilter_core_loop(op) -> Cost:
    windows, a_flipped = op.args[0], op.args[1]
    samples, order = windows.numel, a_flipped.shape[-1]
    return Cost.of(
        Term("macs", "feedback multiply-accumulates", "samples·n_order", worked("{}×{}", samples, order),
             samples * order),
        Term("adds", "subtractions (input − feedback)", "samples", samples, samples))


@op_rule("torchaudio::rnnt_loss_forward", "torchaudio::rnnt_loss")
def rnnt_loss_forward(op) -> Cost:
    B, T, U, D = op.args[0].shape
    clamp = schema_arg(op, "clamp", -1.0)
    fused = schema_arg(op, "fused_log_softmax", True)
    points, inner = B * T * U, (T - 1) * (U - 1)
    edges = (T - 1) + (U - 1)
    two_exp = (T - 1) * U + T * (U - 1)  # blank before the last frame, next label before the last position
    terms = [
        Term("cmps", "denominators: row max", "B·T·U·(D − 1)", worked("{}×{}×{}×({} − 1)", B, T, U, D),
             points * (D - 1)),
        Term("adds", "denominators: subtractions of the max", "B·T·U·D", worked("{}×{}×{}×{}", B, T, U, D),
             points * D),
        Term("transc", "denominators: exponentials", "B·T·U·D", worked("{}×{}×{}×{}", B, T, U, D), points * D),
        Term("adds", "denominators: row sums", "B·T·U·(D − 1)", worked("{}×{}×{}×({} − 1)", B, T, U, D),
             points * (D - 1)),
        Term("transc", "denominators: log of the sum", "B·T·U", worked("{}×{}×{}", B, T, U), points),
        Term("adds", "denominators: max + log", "B·T·U", worked("{}×{}×{}", B, T, U), points),
        Term("adds", "log-probs of blank and of the next label (logit − denominator)", "B·T·(2·U − 1)",
             worked("{}×{}×(2×{} − 1)", B, T, U), B * T * (2 * U - 1)),
        Term("adds", "α and β: edge sums", "B·2·((T − 1) + (U − 1))", worked("{}×2×(({} − 1) + ({} − 1))", B, T, U),
             B * 2 * edges),
        Term("adds", "α and β: candidate sums, lse's subtraction and addition", "B·2·4·(T − 1)·(U − 1)",
             worked("{}×2×4×({} − 1)×({} − 1)", B, T, U), B * 8 * inner),
        Term("cmps", "α and β: lse's comparison", "B·2·(T − 1)·(U − 1)", worked("{}×2×({} − 1)×({} − 1)", B, T, U),
             B * 2 * inner),
        Term("transc", "α and β: lse's exp and log1p", "B·2·2·(T − 1)·(U − 1)",
             worked("{}×2×2×({} − 1)×({} − 1)", B, T, U), B * 4 * inner),
        Term("adds", "α's score (+ the last blank)", "B", B, B),
        Term("mults", "cost negations (loss and gradient)", "2·B", worked("2×{}", B), 2 * B),
    ]
    if fused:
        terms += [
            Term("adds", "gradient: α + cost − denominator per point", "B·2·T·U", worked("{}×2×{}×{}", B, T, U),
                 B * 2 * T * U),
            Term("adds", "gradient: logit + c + β per class", "B·2·T·U·D", worked("{}×2×{}×{}×{}", B, T, U, D),
                 B * 2 * T * U * D),
            Term("transc", "gradient: exp per class", "B·T·U·D", worked("{}×{}×{}×{}", B, T, U, D), B * T * U * D),
            Term("adds", "gradient: + β' and the subtraction (blank, next label)",
                 "B·2·((T − 1)·U + T·(U − 1))", worked("{}×2×(({} − 1)×{} + {}×({} − 1))", B, T, U, T, U),
                 B * 2 * two_exp),
            Term("transc", "gradient: second exp (blank, next label)", "B·((T − 1)·U + T·(U − 1))",
                 worked("{}×(({} − 1)×{} + {}×({} − 1))", B, T, U, T, U), B * two_exp),
            Term("adds", "gradient: subtraction at the last blank", "B", B, B),
            Term("transc", "gradient: second exp at the last blank", "B", B, B),
        ]
    else:
        terms += [
            Term("adds", "gradient: cost + logit + α (+ β') per class", "B·(2·T·U·D + (T − 1)·U + T·(U − 1))",
                 worked("{}×(2×{}×{}×{} + ({} − 1)×{} + {}×({} − 1))", B, T, U, D, T, U, T, U),
                 B * (2 * T * U * D + two_exp)),
            Term("transc", "gradient: exp per class", "B·T·U·D", worked("{}×{}×{}×{}", B, T, U, D), B * T * U * D),
            Term("mults", "gradient: negation per class", "B·T·U·D", worked("{}×{}×{}×{}", B, T, U, D), B * T * U * D),
        ]
    if clamp > 0:
        terms += [
            Term("cmps", "gradient clamp to [−clamp, clamp]", "2·B·T·U·D", worked("2×{}×{}×{}×{}", B, T, U, D),
                 2 * B * T * U * D),
            Term("assigns", "gradient clamp to [−clamp, clamp]", "B·T·U·D", worked("{}×{}×{}×{}", B, T, U, D),
                 B * T * U * D),
        ]
    return Cost.of(*terms)
