"""Cost rules, one file per family. Importing this package registers them all.

- linear.py: nn.Linear, nn.Bilinear
- conv.py: nn.Conv*/nn.ConvTranspose*
- pool.py: max/avg/LP/adaptive/fractional pooling (modules, and the ops F.max_pool2d & co. run)
- activation.py: ReLU family, GELU, SiLU, …, softmax
- norm.py: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, LocalResponseNorm, RMSNorm
- reshape.py: Identity, Flatten, padding, pixel/channel shuffle, Dropout
- embedding.py: Embedding, EmbeddingBag
- upsample.py: Upsample
- vision.py: torchvision's roi_align (op rule, by name)
- audio.py: torchaudio's IIR filter loop (op rule, by name)
- matmul.py: aten mm/addmm/bmm/baddbmm/convolution (and the cuDNN/MIOpen convolutions), dot/mv, SDPA
  (every backend, and the flash/efficient/cuDNN attention kernels), the fused MultiheadAttention and
  TransformerEncoderLayer fast-path ops, the affine grid (and cuDNN's, with its gradient) (op rules)
- elementwise.py: element-wise arithmetic, comparisons, transcendental ops, activations as ops,
  interpolation, sorting; the known-zero ops (views, indexing, copies, casts, fills)
- reduction.py: sum/mean/max/var/norms, cumsum, softmax, norm ops, losses (op rules)
- fft.py: _fft_r2c/_fft_c2r/_fft_c2c (the FFT convention: docs/coverage.md)
- complex.py: complex arithmetic in real operations (applied after a rule, unless it is complex-aware)
- linalg.py: solve, inv, det, slogdet, Cholesky, LU, triangular solves, Householder QR, lstsq
  (textbook direct algorithms)
- attention.py: nn.MultiheadAttention
- recurrent.py: RNN, LSTM, GRU and their cells (and the fused cell kernels, cuDNN's and MIOpen's
  recurrent ops); sequential steps
- quantized.py: torch.ao.nn.quantized modules and quantized:: ops
- fake_quantize.py: quantization-aware training's fake quantization (FakeQuantize, the fused observer op, LSQ)
- foreach.py: the multi-tensor _foreach_* ops (gradient clipping, optimizers on CUDA), by the per-tensor op's rule
- sparse.py: ops called with sparse operands (sparse·dense products, element-wise ops on the stored
  values, coalescing), which the dense rules never see
- optimizer.py: the fused optimizer kernels of fused=True (_fused_adam_, _fused_adamw_, _fused_sgd_, _fused_adagrad_),
  per element as the CPU kernels compute them, plus their per-tensor scalars
- backward.py: the backward ops of a training step (convolution, activation, softmax, loss, pooling,
  norm and embedding gradients; the recurrent kernels' backward on CPU, cuDNN and MIOpen; cuDNN's grid
  sampler gradient; cuDNN's and MIOpen's CTC loss, loss and gradient in one op)
"""
from . import activation, conv, embedding, linear, matmul, norm, pool, reshape, upsample  # noqa: F401
from . import attention, elementwise, fft, linalg, recurrent, reduction  # noqa: F401
from . import backward  # noqa: F401  (the ops loss.backward() runs, in a profiled training step)
from . import quantized  # noqa: F401  (torch.ao.nn.quantized Linear, dynamic and static)
from . import fake_quantize  # noqa: F401  (quantization-aware training: FakeQuantize and its ops)
from . import foreach  # noqa: F401  (the multi-tensor _foreach_ ops: each as its per-tensor op's rule, summed)
from . import optimizer  # noqa: F401  (the fused optimizer kernels: fused=True)
from . import audio, vision  # noqa: F401  (torchaudio and torchvision ops, by name)
from . import sparse  # noqa: F401  (calls with a sparse operand, priced on what the sparse kernels touch)
from .registry import (  # noqa: F401
    Rule, has_rule, module_rule, module_rules, op_rule, op_rule_for, op_rules, parts_split, priced_by_its_parts,
    rule_for, sparse_op_rule_for, uncounted_why, why_uncounted, zero_ops,
)
