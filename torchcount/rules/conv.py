"""Rules for convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d (and lazy variants).

MACs = (weights of one output position's kernel) × (output positions): every output
element of a Conv is a dot product of length (C_in/groups)·∏kernel. A transposed conv
scatters each *input* element through C_out/groups·∏kernel weights, so its MACs use the
input positions (the same figure torch.utils.flop_counter uses).
"""
from __future__ import annotations

from torch import nn

from ..cost import Cost, Term, worked
from ._util import prod, stored
from .registry import module_rule


def _split(shape: tuple, spatial: int) -> tuple[int, int, tuple]:
    """(batch, channels, spatial dims) of a batched or unbatched conv tensor."""
    if len(shape) == spatial + 1:  # unbatched
        return 1, shape[0], tuple(shape[1:])
    return prod(shape[:-spatial - 1]), shape[-spatial - 1], tuple(shape[-spatial:])


#: the worksheet's names of the spatial dims, for a size line per dimension
DIM_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _size_terms(m, in_sizes, out_sizes, transposed: bool) -> list:
    """Output size as the worksheet writes it: one line when every spatial dim has the same
    input size and hyper-parameters (a square image, a square kernel), else one per dimension
    ("output height", "output width")."""
    k, p, s, d = m.kernel_size, m.padding, m.stride, m.dilation
    op = m.output_padding if transposed else (0,) * len(k)
    chosen = False  # a transposed conv called with output_size: torch picks the output padding from it
    if transposed and not isinstance(p, str):
        op_used = tuple(out_sizes[i] - ((in_sizes[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1)
                        for i in range(len(k)))
        chosen, op = op_used != tuple(op), op_used
    # (t[1:] == t[:-1]: every entry the same; the common square case costs a few comparisons)
    if in_sizes[1:] == in_sizes[:-1] and out_sizes[1:] == out_sizes[:-1] and k[1:] == k[:-1] and \
            s[1:] == s[:-1] and d[1:] == d[:-1] and op[1:] == op[:-1] and (isinstance(p, str) or p[1:] == p[:-1]):
        return [_size_term(in_sizes[0], k[0], p if isinstance(p, str) else p[0], s[0], d[0], op[0], out_sizes[0],
                           transposed, "output size", chosen)]
    return [_size_term(in_sizes[i], k[i], p if isinstance(p, str) else p[i], s[i], d[i], op[i], out_sizes[i],
                       transposed, f"output {name}", chosen)
            for i, name in enumerate(DIM_NAMES.get(len(in_sizes), ()))]


def _size_term(M, w, p, s, d, op, out, transposed: bool, what: str, chosen: bool = False) -> Term:
    if isinstance(p, str):  # 'same' keeps the size (stride 1), 'valid' pads nothing
        if p == "same":
            return Term("shape", what, "M (padding 'same')", M, out)
        p = 0
    if transposed:
        return Term("shape", what, "(M − 1)·s − 2p + d·(w − 1) + output_padding + 1" +
                    (" (output_padding as output_size asks)" if chosen else ""),
                    worked("({} − 1)×{} − 2×{} + {}×({} − 1) + {} + 1", M, s, p, d, w, op), out)
    if d == 1:
        return Term("shape", what, "⌊(M − w + 2p)/s⌋ + 1", worked("⌊({} − {} + 2×{})/{}⌋ + 1", M, w, p, s), out)
    return Term("shape", what, "⌊(M + 2p − d·(w − 1) − 1)/s⌋ + 1",
                worked("⌊({} + 2×{} − {}×({} − 1) − 1)/{}⌋ + 1", M, p, d, w, s), out)


@module_rule(nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def conv(m, call) -> Cost:
    return Cost.of(*conv_terms(m, call, stored(m, "bias") is not None))


def conv_terms(m, call, has_bias: bool) -> list:
    """The worked terms of a convolution from its hyper-parameters and the call's shapes (also
    the float arithmetic of a quantized convolution: rules/quantized.py)."""
    spatial = len(m.kernel_size)
    transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
    n, c_in, in_sizes = _split(call.input.shape, spatial)
    _, c_out, out_sizes = _split(call.out.shape, spatial)
    g = m.groups
    kernel = tuple(m.kernel_size)
    weights_per_pos = (c_in // g) * prod(kernel)
    if transposed:
        macs = Term("macs", "multiply-accumulates", "N·c·(k/g)·∏kernel·∏input",
                    worked("{}×{}×{}×{}×{}", n, c_in, c_out // g, kernel, in_sizes),
                    n * c_in * (c_out // g) * prod(kernel) * prod(in_sizes))
    else:
        macs = Term("macs", "multiply-accumulates", "N·k·(c/g)·∏kernel·∏output",
                    worked("{}×{}×{}×{}×{}", n, c_out, c_in // g, kernel, out_sizes),
                    n * c_out * weights_per_pos * prod(out_sizes))
    if transposed:
        params = Term("params", "parameters", "c·(k/g)·∏kernel" + (" + k" if has_bias else ""),
                      worked("{}×{}×{} + {}" if has_bias else "{}×{}×{}", c_in, c_out // g, kernel, c_out),
                      c_in * (c_out // g) * prod(kernel) + c_out * has_bias)
    elif has_bias:
        params = Term("params", "parameters", "((c/g)·∏kernel + 1)·k",
                      worked("(({}×{}) + 1)×{}", c_in // g, kernel, c_out), (weights_per_pos + 1) * c_out)
    else:
        params = Term("params", "parameters", "(c/g)·∏kernel·k",
                      worked("{}×{}×{}", c_in // g, kernel, c_out), weights_per_pos * c_out)
    return [
        *_size_terms(m, in_sizes, out_sizes, transposed),
        params,
        macs,
        Term("adds", "bias additions", "N·k·∏output", worked("{}×{}×{}", n, c_out, out_sizes),
             n * c_out * prod(out_sizes)) if has_bias else None,
    ]
