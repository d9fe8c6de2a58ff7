"""rules/attention.py's nn.MultiheadAttention rule against hand counts and against torch itself: the
path torch takes (its fused ``_native_multi_head_attention`` or the Python one, seen by listing the ops
it dispatches) and the matmuls torch.utils.flop_counter counts. Each test was written to fail on a
mutant of torchcount/rules/attention.py that the other tests let pass."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from conftest import run


def _fused_in_torch(mha, args, kwargs, grad: bool) -> bool:
    """Whether plain torch (no torchcount) runs ``mha(*args, **kwargs)`` as its fused
    ``_native_multi_head_attention`` op."""
    seen = []

    class Listing(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket)
            return func(*args, **(kwargs or {}))

    with torch.set_grad_enabled(grad), Listing():
        mha(*args, **kwargs)
    return torch.ops.aten._native_multi_head_attention in seen


N, L, E = 2, 4, 8
CASES = {  # name → (module kwargs, train, query shape, key length, grad enabled, frozen, float mask, device)
    "fused": ({}, False, (N, L, E), L, False, False, False, "cpu"),
    "frozen weights, grad enabled": ({}, False, (N, L, E), L, True, True, False, "cpu"),
    "training": ({}, True, (N, L, E), L, False, False, False, "cpu"),
    "unbatched": ({}, False, (L, E), L, False, False, False, "cpu"),
    "sequence first": ({"batch_first": False}, False, (L, N, E), L, False, False, False, "cpu"),
    "one head": ({"num_heads": 1}, False, (N, L, E), L, False, False, False, "cpu"),
    "cross-attention": ({}, False, (N, L, E), 6, False, False, False, "cpu"),
    "no biases": ({"bias": False}, False, (N, L, E), L, False, False, False, "cpu"),
    "add_bias_kv": ({"add_bias_kv": True}, False, (N, L, E), L, False, False, False, "cpu"),
    "add_zero_attn": ({"add_zero_attn": True}, False, (N, L, E), L, False, False, False, "cpu"),
    "float mask": ({}, False, (N, L, E), L, False, False, True, "cpu"),
    "weights requiring grad, grad enabled": ({}, False, (N, L, E), L, True, False, False, "cpu"),
    "on meta": ({}, False, (N, L, E), L, False, False, False, "meta"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_causal_mask_of_sdpa_is_counted_exactly_where_torch_leaves_the_fused_path(case):
    """``is_causal=True`` with ``need_weights=False`` and no key padding mask: on the Python path torch
    hands SDPA ``is_causal`` and SDPA builds its own causal mask, L·S′ assignments (S′ = S + 1 with
    add_bias_kv or add_zero_attn); the fused path uses the mask given and builds none. A boolean mask
    given is made additive first either way: one assignment per element (L·S); a float one needs none.
    So the rule's assignments are L·S (bool) + L·S′ exactly where torch itself — listed op by op, no
    torchcount involved — does not run ``_native_multi_head_attention``: in training, unbatched,
    sequence-first, with an odd head count, for cross-attention, without biases, with bias_k/bias_v or
    a zero-attention slot, with a float mask, on meta, and with grad enabled while a weight requires it
    (frozen weights under grad keep the fused path). Dropping any one of these conditions from
    ``_fast_path`` survived an attention.py mutant."""
    module_kw, train, q_shape, S, grad, frozen, float_mask, device = CASES[case]
    module_kw = {"embed_dim": E, "num_heads": 2, "batch_first": True, **module_kw}
    mha = nn.MultiheadAttention(**module_kw).train(train)
    if frozen:
        mha.requires_grad_(False)
    q = torch.randn(q_shape)
    kv = q if S == L else torch.randn(q_shape[:-2] + (S, E) if module_kw["batch_first"] or q.dim() == 2
                                      else (S, N, E))
    mask = torch.triu(torch.ones(L, S, dtype=torch.bool), 1)
    if float_mask:
        mask = torch.zeros(L, S).masked_fill(mask, float("-inf"))
    if device != "cpu":
        mha, q, kv, mask = copy.deepcopy(mha).to(device), q.to(device), kv.to(device), mask.to(device)
    kw = {"attn_mask": mask, "is_causal": True, "need_weights": False}
    fused = _fused_in_torch(mha, (q, kv, kv), kw, grad)
    assert fused is (case in ("fused", "frozen weights, grad enabled"))  # torch's own choice
    S_att = S + (module_kw.get("add_bias_kv", False) or module_kw.get("add_zero_attn", False))
    with torch.set_grad_enabled(grad):
        cost = run(mha, q, kv, kv, kwargs=kw).total.cost
    assert cost.assigns == (0 if float_mask else L * S) + (0 if fused else L * S_att)


@pytest.mark.skipif(not hasattr(torch.backends, "mha"), reason="torch.backends.mha is torch ≥ 2.1")
def test_causal_mask_counted_with_the_fast_path_switched_off():
    """``torch.backends.mha.set_fastpath_enabled(False)``: the same eval, no_grad, batch-first causal
    self-attention that torch runs fused otherwise takes the Python path, so SDPA's causal mask counts:
    L·L = 16 assignments for the boolean mask made additive + 16 for SDPA's own."""
    mha = nn.MultiheadAttention(E, 2, batch_first=True).eval()
    x = torch.randn(N, L, E)
    kw = {"attn_mask": torch.triu(torch.ones(L, L, dtype=torch.bool), 1), "is_causal": True, "need_weights": False}
    was = torch.backends.mha.get_fastpath_enabled()
    try:
        for on, assigns in ((True, L * L), (False, 2 * L * L)):
            torch.backends.mha.set_fastpath_enabled(on)
            assert _fused_in_torch(mha, (x, x, x), kw, grad=False) is on
            with torch.no_grad():
                assert run(mha, x, x, x, kwargs=kw).total.cost.assigns == assigns, on
    finally:
        torch.backends.mha.set_fastpath_enabled(was)


def test_is_causal_without_a_mask_on_the_fused_path_adds_no_mask():
    """torch refuses ``is_causal=True`` without an ``attn_mask`` on the Python path ("Need attn_mask if
    specifying the is_causal hint"); its fused eval-mode path takes the call and ignores the hint: no
    mask, so no mask additions. An eval, no_grad, batch-first self-attention of N = 2, L = 4, E = 8,
    H = 2 costs with the hint what it costs without it (the rule counted N·H·L·L = 64 mask additions
    more until 2026-12-07), and the same operations as the forward priced from the ops it ran (the module
    hidden from torchcount: the fused op's rule, whose mask is None)."""
    from conftest import Hidden

    mha = nn.MultiheadAttention(E, 2, batch_first=True).eval()
    x = torch.randn(N, L, E)
    for need_weights in (True, False):
        kw = {"is_causal": True, "need_weights": need_weights}
        assert _fused_in_torch(mha, (x, x, x), kw, grad=False)
        with torch.no_grad():
            hinted = run(mha, x, x, x, kwargs=kw).total.cost
            plain = run(mha, x, x, x, kwargs={"need_weights": need_weights}).total.cost
            ops = run(Hidden(mha), x, x, x, kwargs=kw).total.cost
        assert hinted == plain, need_weights
        assert hinted.ops == ops.ops and hinted.adds == ops.adds, need_weights
    with pytest.raises(RuntimeError, match="Need attn_mask"):  # (what the Python path says)
        mha.train()(x, x, x, is_causal=True)


def test_a_key_padding_mask_turns_the_causal_hint_off():
    """With a key padding mask, ``F.multi_head_attention_forward`` merges it into the attention mask and
    drops ``is_causal`` (the merged mask is no longer causal): SDPA builds no causal mask. Train mode,
    need_weights=False, N = 2, L = 4: the assignments are the boolean masks made additive alone, L·L = 16
    (attention mask) + N·L = 8 (padding mask) = 24, as the ops torch ran count them (the module hidden);
    not 16 more for a causal mask."""
    from conftest import Hidden

    mha = nn.MultiheadAttention(E, 2, batch_first=True).train()
    x = torch.randn(N, L, E)
    kw = {"attn_mask": torch.triu(torch.ones(L, L, dtype=torch.bool), 1), "is_causal": True,
          "key_padding_mask": torch.zeros(N, L, dtype=torch.bool), "need_weights": False}
    assert run(mha, x, x, x, kwargs=kw).total.cost.assigns == L * L + N * L == 24
    assert run(Hidden(mha), x, x, x, kwargs=kw).total.cost.assigns == 24


@pytest.mark.parametrize("missing", ["query", "key"])
def test_a_call_without_query_or_key_is_refused_by_name(missing):
    """The rule called on a call that lacks the query or the key (the rule used directly: torch's own
    forward needs both) raises ValueError naming them, not an AttributeError from a missing shape."""
    from types import SimpleNamespace

    from torchcount.rules.attention import multihead_attention

    x = torch.randn(N, L, E)
    kwargs = {"query": x, "key": x, "value": x}
    del kwargs[missing]
    call = SimpleNamespace(args=(), kwargs=kwargs, training=False, grad_enabled=False)
    with pytest.raises(ValueError, match="called without query/key tensors"):
        multihead_attention(nn.MultiheadAttention(E, 2, batch_first=True), call)


def test_returning_the_weights_keeps_the_mask_given_and_builds_no_causal_one():
    """``is_causal=True`` with the weights returned (need_weights=True, train mode): torch computes the
    weights itself with the mask given (SDPA is not called), so no causal mask is built; the only
    assignments are the boolean (L, L) mask made additive, L·L = 16, as the ops torch ran count them."""
    from conftest import Hidden

    mha = nn.MultiheadAttention(E, 2, batch_first=True).train()
    x = torch.randn(N, L, E)
    kw = {"attn_mask": torch.triu(torch.ones(L, L, dtype=torch.bool), 1), "is_causal": True, "need_weights": True}
    assert run(mha, x, x, x, kwargs=kw).total.cost.assigns == L * L == 16
    assert run(Hidden(mha), x, x, x, kwargs=kw).total.cost.assigns == 16


@pytest.mark.parametrize("add_bias_kv", [False, True])
def test_causal_mask_and_mask_merge_lines_name_the_attended_length(add_bias_kv):
    """Cross-attention of L = 4 queries on S = 6 keys, N = 2, H = 2 (sequence first, train mode): SDPA's
    causal mask is L·S = 4×6 = 24 assignments, the merge of both masks N·H·L·S = 2×2×4×6 = 96 additions;
    with add_bias_kv the attended length is S′ = S + 1 = 7 and the lines say so: L·S′ = 4×7 = 28 and
    N·H·L·S′ = 2×2×4×7 = 112 (one letter, one value)."""
    S = 6
    mha = nn.MultiheadAttention(E, 2, add_bias_kv=add_bias_kv).train()
    q, kv = torch.randn(L, N, E), torch.randn(S, N, E)
    s, name = (S + 1, "S′") if add_bias_kv else (S, "S")
    causal = run(mha, q, kv, kv, kwargs={"attn_mask": torch.zeros(L, S), "is_causal": True, "need_weights": False})
    assert f"causal mask construction (SDPA's is_causal) [assigns, weight 0] = L·{name} = 4×{s} = {4 * s}" \
        in causal.explain(causal.layers[0].path)
    both = run(mha, q, kv, kv, kwargs={"attn_mask": torch.zeros(L, S), "key_padding_mask": torch.zeros(N, S)})
    assert f"mask merge (key padding + attention mask) [adds, weight 1] = N·H·L·{name} = 2×2×4×{s} = {16 * s}" \
        in both.explain(both.layers[0].path)
