"""Cost rules, one file per family. Importing this package registers them all.

- linear.py: nn.Linear, nn.Bilinear
- conv.py: nn.Conv*/nn.ConvTranspose*
- pool.py: max/avg/LP/adaptive/fractional pooling
- activation.py: ReLU family, GELU, SiLU, …, softmax
- norm.py: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, LocalResponseNorm, RMSNorm
- reshape.py: Identity, Flatten, padding, pixel/channel shuffle, Dropout
- embedding.py: Embedding, EmbeddingBag
- upsample.py: Upsample
- matmul.py: aten mm/addmm/bmm/baddbmm/convolution (op rules)
"""
from . import activation, conv, embedding, linear, matmul, norm, pool, reshape, upsample  # noqa: F401
from . import attention, elementwise, fft, recurrent, reduction  # noqa: F401  (op rules and known-zero ops)
from . import quantized  # noqa: F401  (torch.ao.nn.quantized Linear, dynamic and static)
from .registry import (  # noqa: F401
    Rule, has_rule, module_rule, module_rules, op_rule, op_rule_for, op_rules, rule_for, zero_ops,
)
