"""Rules for quantized modules (``torch.ao.nn.quantized``).

Dynamic quantized Linear (``quantize_dynamic``): the weight is stored as int8 (or fp16),
the input is quantized on the fly per call and the int32 accumulator is dequantized back
to float. The contraction is the same as ``nn.Linear``'s — rows·n·k MACs, in integer
arithmetic — plus:

- the input's range: a min and a max over every element (2 comparisons per element);
- quantizing the input: one multiplication (by 1/scale) per element (rounding and the
  zero point are not counted separately);
- dequantizing the output: one multiplication per output element;
- the float bias: one addition per output element.

For an fp16 dynamic Linear there is no activation quantization: MACs and bias only.
Static quantized Linear (``torch.ao.nn.quantized.Linear``) receives an already quantized
input and requantizes its output: MACs, bias, one multiplication per output element.
Quantized Embedding (``torch.ao.nn.quantized.Embedding``, 8-bit rows with a float scale and
offset per row): each looked-up element is dequantized, q·scale + offset: one multiplication
and one addition per output element.
The packed weights are not ``nn.Parameter``s; ``torchcount.count`` counts them as
(frozen) parameters.
"""
from __future__ import annotations

import torch
from torch.ao.nn.quantized import Embedding as QEmbedding
from torch.ao.nn.quantized import Linear as QLinear
from torch.ao.nn.quantized.dynamic import Linear as DynamicQLinear

from ..cost import Cost, Term, worked
from ._util import prod
from .registry import module_rule


def _weight_bias(m):
    weight, bias = m._weight_bias()
    return weight, bias


def _contraction(m, call) -> tuple[int, int, int, bool, list]:
    weight, bias = _weight_bias(m)
    k, n = weight.shape
    rows = prod(call.input.shape[:-1])
    has_bias = bias is not None
    terms = [
        Term("params", "parameters (packed)", "(n + 1)·k" if has_bias else "n·k",
             worked("({} + 1)×{}" if has_bias else "{}×{}", n, k), (n + has_bias) * k),
        Term("macs", f"multiply-accumulates ({str(weight.dtype).removeprefix('torch.')} weights)",
             "rows·n·k", worked("{}×{}×{}", rows, n, k), rows * n * k),
    ]
    return rows, n, k, has_bias, terms


@module_rule(DynamicQLinear)
def dynamic_quantized_linear(m, call) -> Cost:
    rows, n, k, has_bias, terms = _contraction(m, call)
    quantized = m._packed_params.dtype in (torch.qint8, torch.quint8)
    x = rows * n
    return Cost.of(
        *terms,
        Term("cmps", "input range (min and max)", "2·rows·n", worked("2×{}×{}", rows, n), 2 * x) if quantized else None,
        Term("mults", "input quantization", "rows·n", worked("{}×{}", rows, n), x) if quantized else None,
        Term("mults", "output dequantization", "rows·k", worked("{}×{}", rows, k), rows * k) if quantized else None,
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), rows * k) if has_bias else None,
    )


@module_rule(QLinear)
def quantized_linear(m, call) -> Cost:
    rows, n, k, has_bias, terms = _contraction(m, call)
    return Cost.of(
        *terms,
        Term("adds", "bias additions", "rows·k", worked("{}×{}", rows, k), rows * k) if has_bias else None,
        Term("mults", "output requantization", "rows·k", worked("{}×{}", rows, k), rows * k),
    )


@module_rule(QEmbedding)
def quantized_embedding(m, call) -> Cost:
    out = call.out.numel
    return Cost.of(
        Term("params", "parameters (packed)", "num_embeddings·dim", worked("{}×{}", m.num_embeddings, m.embedding_dim),
             m.num_embeddings * m.embedding_dim),
        Term("mults", "dequantization q·scale", "outputs", out, out),
        Term("adds", "dequantization + offset", "outputs", out, out),
    )
