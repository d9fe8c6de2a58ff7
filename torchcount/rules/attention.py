"""Rules for attention: nn.MultiheadAttention (a module rule), and the shared terms that the
fused op rules in ``matmul.py`` (``_native_multi_head_attention``,
``_transformer_encoder_layer_fwd``) use, so that a layer costs the same whichever path
PyTorch takes (the slow path in train mode or on meta, the fused fast path in eval mode
under no_grad).

Multi-head attention of a query of length L against keys/values of length S, batch N,
embedding E, H heads (head size E/H), the lecture's convention (spec §5):

- input projections: N·L·E·E + N·S·kdim·E + N·S·vdim·E MACs (+ N·(L + 2S)·E bias additions);
- the query is scaled by 1/√(E/H): N·L·E multiplications; without ``need_weights`` (and in every
  Transformer layer) PyTorch runs ``scaled_dot_product_attention``, which scales q and k by
  √(1/√(E/H)) each: N·(L + S)·E;
- an attention mask / key padding mask / causal mask: one addition per score, N·H·L·S; a boolean
  mask is first made additive (−inf where True, ``F._canonical_mask``'s masked_fill): one
  assignment per element of the mask as given; with ``is_causal``, no key padding mask and no
  weights, the Python path hands SDPA ``is_causal`` instead of the mask, and SDPA builds its own
  causal mask (L·S assignments; the fused fast path uses the mask given);
- scores Q·Kᵀ: D·N·M per head and batch, in total N·L·S·E MACs;
- softmax over S for N·H·L rows (activation.softmax_terms);
- the weighted sum A·V: N·L·S·E MACs, the same as the scores;
- output projection: N·L·E·E MACs + N·L·E bias additions;
- ``need_weights`` with ``average_attn_weights``: the head average, (H − 1)·N·L·S additions and
  N·L·S divisions;
- attention dropout in train mode with p > 0: as the Dropout rule, a draw, a noise scaling and a
  multiplication per score.

``bias_k``/``bias_v`` (add_bias_kv) and ``add_zero_attn`` each make the attended length one longer, written S′
(S stays the projected length: one letter, one value).
Parameters stay fixed while the cost grows with L·S: no weights in the attention products.

TransformerEncoderLayer / DecoderLayer / Encoder / Decoder / Transformer have no module rule:
their children (this rule, Linear, LayerNorm, Dropout) and their own residual additions and
activation ops are priced; in eval mode the fused encoder op is priced by
``matmul.transformer_encoder_layer_op`` with the same terms.
"""
from __future__ import annotations

import torch
from torch import nn

from ..cost import Cost, Term, worked
from .activation import softmax_terms
from ._util import stored
from .registry import module_rule
from .reshape import dropout_terms


def attention_terms(N: int, L: int, S: int, E: int, H: int, kdim: int, vdim: int, *,
                    in_bias: bool, out_bias: bool, masked: bool, average_weights: bool,
                    dropout_scores: bool = False, S_att: int | None = None,
                    through_sdpa: bool = False) -> list[Term]:
    """The worked terms of one multi-head attention call (see the module docstring).
    ``S`` is the projected key/value length, ``S_att`` the attended length (S + 1 per
    bias_k/bias_v row or zero-attention slot; default S). ``through_sdpa``: the call does not
    return the weights (``need_weights=False``, and every Transformer layer), and PyTorch runs
    ``scaled_dot_product_attention``, which scales q and k by √(1/√(E/H)) each, as its op rule
    counts; with the weights, the query alone is scaled by 1/√(E/H)."""
    P = S
    S = S if S_att is None else S_att
    scores = N * H * L * S
    # the attended length is another number than the projected one (add_bias_kv, add_zero_attn): it is
    # written S′ wherever it is substituted, so that one letter never stands for two values
    a = "S′" if S != P else "S"
    terms = [Term("shape", "attended key length (S + 1 per bias_k/bias_v row or zero-attention slot)", f"S′ = S + {S - P}",
                  worked("{} + {}", P, S - P), S)] if S != P else []
    terms += [
        Term("macs", "query projection", "N·L·E·E", worked("{}×{}×{}×{}", N, L, E, E), N * L * E * E),
        Term("macs", "key projection", "N·S·kdim·E", worked("{}×{}×{}×{}", N, P, kdim, E), N * P * kdim * E),
        Term("macs", "value projection", "N·S·vdim·E", worked("{}×{}×{}×{}", N, P, vdim, E), N * P * vdim * E),
    ]
    if in_bias:
        terms.append(Term("adds", "projection bias additions", "N·(L + 2·S)·E",
                          worked("{}×({} + 2×{})×{}", N, L, P, E), N * (L + 2 * P) * E))
    if through_sdpa:
        terms.append(Term("mults", "scaling of q and k by √(1/√(E/H)) (the scores' ÷√(E/H), as PyTorch applies it)",
                          f"N·(L + {a})·E",
                          worked("{}×({} + {})×{}", N, L, S, E), N * (L + S) * E))
    else:
        terms.append(Term("mults", "query scaling by 1/√(E/H)", "N·L·E", worked("{}×{}×{}", N, L, E), N * L * E))
    terms.append(Term("macs", "scores Q·Kᵀ", f"N·L·{a}·E", worked("{}×{}×{}×{}", N, L, S, E), N * L * S * E))
    if masked:
        terms.append(Term("adds", "mask additions", f"N·H·L·{a}", worked("{}×{}×{}×{}", N, H, L, S), scores))
    terms += softmax_terms(N * H * L, S, rows=("N·H·L", (N, H, L)), n_name=a)
    if dropout_scores:
        terms += dropout_terms(scores, scores, "attention weights")
    terms.append(Term("macs", "weighted sum A·V", f"N·L·{a}·E", worked("{}×{}×{}×{}", N, L, S, E), N * L * S * E))
    terms.append(Term("macs", "output projection", "N·L·E·E", worked("{}×{}×{}×{}", N, L, E, E), N * L * E * E))
    if out_bias:
        terms.append(Term("adds", "output bias additions", "N·L·E", worked("{}×{}×{}", N, L, E), N * L * E))
    if average_weights:  # torch's mean over the heads dim, one head too (a division by 1: no addition)
        if H > 1:
            terms.append(Term("adds", "head-average additions", f"(H − 1)·N·L·{a}",
                              worked("({} − 1)×{}×{}×{}", H, N, L, S), (H - 1) * N * L * S))
        terms.append(Term("divs", "head-average divisions", f"N·L·{a}", worked("{}×{}×{}", N, L, S), N * L * S))
    return terms


def _arg(call, index: int, name: str, default=None):
    if name in call.kwargs:
        return call.kwargs[name]
    return call.args[index] if len(call.args) > index else default


def _lengths(shape: tuple, batch_first: bool) -> tuple[int, int]:
    """(batch, length) of a (L, N, E) / (N, L, E) / unbatched (L, E) tensor."""
    if len(shape) == 2:
        return 1, shape[0]
    return (shape[0], shape[1]) if batch_first else (shape[1], shape[0])


def _bool_mask_terms(*masks) -> list[Term]:
    """A boolean mask is made additive before the scores (``F._canonical_mask``: zeros, then
    −inf where True): one assignment per element of each boolean mask given."""
    return [Term("assigns", f"{what} made additive (−inf where True)", "mask elements", worked("{}", mask.shape),
                 mask.numel)
            for what, mask in zip(("key padding mask", "attention mask"), masks)
            if mask is not None and getattr(mask, "dtype", None) is torch.bool]


def _fast_path(m: nn.MultiheadAttention, call, query, key, value, key_padding_mask, attn_mask) -> bool:
    """Whether this call took the fused ``_native_multi_head_attention`` path: the checks of
    ``MultiheadAttention.forward`` that a call's shapes and the module tell. Self-attention
    (query, key and value one tensor) is judged by equal shapes, the tensors not being kept;
    autocast is not seen, nor an input that requires grad (torch then takes the Python path in
    eval mode with frozen weights: an ``is_causal`` call without weights is priced without the L·S
    assignments of SDPA's causal mask)."""
    params = (m.in_proj_weight, m.in_proj_bias, m.out_proj.weight, m.out_proj.bias)
    fastpath_enabled = getattr(torch.backends, "mha", None)
    return (
        (fastpath_enabled is None or fastpath_enabled.get_fastpath_enabled())
        and not call.training and len(query.shape) == 3 and m.batch_first and m.num_heads % 2 == 0
        and query.shape == key.shape == getattr(value, "shape", None)
        and m._qkv_same_embed_dim and m.in_proj_weight is not None and m.in_proj_bias is not None
        and m.bias_k is None and m.bias_v is None and not m.add_zero_attn
        and not any(mask is not None and mask.dtype.is_floating_point for mask in (key_padding_mask, attn_mask))
        and m.in_proj_weight.device.type in ("cpu", "cuda")
        and not (call.grad_enabled and any(p is not None and p.requires_grad for p in params)))


@module_rule(nn.MultiheadAttention)
def multihead_attention(m: nn.MultiheadAttention, call) -> Cost:
    query = _arg(call, 0, "query")
    key = _arg(call, 1, "key")
    if query is None or key is None:
        raise ValueError("MultiheadAttention called without query/key tensors")
    N, L = _lengths(query.shape, m.batch_first)
    _, S = _lengths(key.shape, m.batch_first)
    need_weights = _arg(call, 4, "need_weights", True)
    average = _arg(call, 6, "average_attn_weights", True)
    # (is_causal alone is no mask: the Python path refuses it without an attn_mask, the fused path ignores it)
    masked = any(_arg(call, i, n) is not None for i, n in ((3, "key_padding_mask"), (5, "attn_mask")))
    S_att = S + (m.bias_k is not None) + bool(m.add_zero_attn)
    E, H = m.embed_dim, m.num_heads
    terms = attention_terms(
        N, L, S, E, H, m.kdim, m.vdim, in_bias=m.in_proj_bias is not None,
        out_bias=stored(m.out_proj, "bias") is not None, masked=masked,
        average_weights=bool(need_weights) and bool(average),
        dropout_scores=call.training and m.dropout > 0, S_att=S_att, through_sdpa=not need_weights)
    key_padding_mask, attn_mask = _arg(call, 3, "key_padding_mask"), _arg(call, 5, "attn_mask")
    if _arg(call, 7, "is_causal", False) and key_padding_mask is None and not need_weights \
            and not _fast_path(m, call, query, key, _arg(call, 2, "value"), key_padding_mask, attn_mask):
        # F.multi_head_attention_forward drops the mask and hands SDPA is_causal=True, which builds
        # its own causal mask (the SDPA rule's L·S assignments); the fused fast path uses the mask given
        terms.append(Term("assigns", "causal mask construction (SDPA's is_causal)", "L·S′" if S_att != S else "L·S",
                          worked("{}×{}", L, S_att), L * S_att))
    terms += _bool_mask_terms(key_padding_mask, attn_mask)
    if _arg(call, 3, "key_padding_mask") is not None and _arg(call, 5, "attn_mask") is not None:
        # both masks are made additive (−inf where masked) and summed into one before the scores
        merged = N * H * L * S_att
        terms.append(Term("adds", "mask merge (key padding + attention mask)", "N·H·L·S′" if S_att != S else "N·H·L·S",
                          worked("{}×{}×{}×{}", N, H, L, S_att), merged))
    return Cost.of(*terms)
