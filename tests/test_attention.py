"""Attention and transformers (issue 3): SDPA on every path, MultiheadAttention, the fused
eval-mode TransformerEncoderLayer, hand-written attention — against closed forms."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchcount
from torchcount.cost import OP_CATEGORIES

from conftest import TESTED_TORCH, Fn, run


def ops_of(cost) -> dict:
    return {c: getattr(cost, c) for c in OP_CATEGORIES}


# ---- SDPA -----------------------------------------------------------------------------
B, H, L, S, E, Ev = 2, 3, 5, 7, 8, 4


def _negates_bool_masks() -> bool:
    """Whether this torch's math SDPA negates a boolean mask before making it additive
    (``logical_not`` then ``where``/``masked_fill``: torch 2.2 and 2.5) or not (one ``where``:
    the tested torch): L·S comparisons more."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Listing(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket)
            return func(*args, **(kwargs or {}))

    q, kv = torch.randn(1, 1, 2, 4), torch.randn(1, 1, 3, 4)  # L ≠ S: the math path, as below
    with Listing():
        F.scaled_dot_product_attention(q, kv, kv, attn_mask=torch.ones(2, 3, dtype=torch.bool))
    return torch.ops.aten.logical_not in seen


NEGATED_MASK = _negates_bool_masks()


def _mha_divides_the_query() -> bool:
    """Whether this torch's ``F.multi_head_attention_forward``, returning the weights, divides the
    query by √(E/H) (torch 2.2) or multiplies it by 1/√(E/H) (the tested torch). The MHA rule counts
    multiplications in either case (docs/guarantees.md, "Which torch"): N·L·E of them."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Listing(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket)
            return func(*args, **(kwargs or {}))

    mha, x = nn.MultiheadAttention(4, 1).train(), torch.randn(2, 1, 4)  # training: not the fast path
    with Listing():
        mha(x, x, x, need_weights=True, average_attn_weights=False)  # (no mean over the heads)
    return torch.ops.aten.div in seen


MHA_DIVIDES_QUERY = _mha_divides_the_query()


def sdpa_expected(masked=False, causal=False):
    rows = B * H * L
    ops = dict.fromkeys(OP_CATEGORIES, 0)
    ops["macs"] = B * H * L * S * E + B * H * L * S * Ev           # scores D·N·M + weighted sum
    ops["mults"] = B * H * (L + S) * E                               # q and k scaled by √scale
    ops["cmps"] = rows * (S - 1)                                     # softmax: row max
    ops["adds"] = rows * S + rows * (S - 1) + (B * H * L * S if masked or causal else 0)
    ops["transc"] = rows * S
    ops["divs"] = rows * S
    ops["assigns"] = L * S if causal else 0
    ops["cmps"] += L * S if causal and NEGATED_MASK else 0  # (an older torch's logical_not)
    return ops


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("kind", ["plain", "causal", "float_mask"])
def test_sdpa_closed_form_on_cpu_kernel_and_meta_decomposition(device, kind):
    # on CPU this is one fused op (_scaled_dot_product_flash_attention_for_cpu); on meta
    # PyTorch runs the reference decomposition (mul, bmm, add, softmax, bmm): same counts
    q = torch.randn(B, H, L, E, device=device)
    k = torch.randn(B, H, S, E, device=device)
    v = torch.randn(B, H, S, Ev, device=device)
    kwargs = {"plain": {}, "causal": {"is_causal": True},
              "float_mask": {"attn_mask": torch.zeros(B, 1, L, S, device=device)}}[kind]
    report = run(Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs)), q, k, v)
    assert report.complete, report.uncounted
    assert ops_of(report.total.cost) == sdpa_expected(masked=kind == "float_mask", causal=kind == "causal")


def test_sdpa_bool_mask():
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, Ev)
    mask = torch.ones(L, S, dtype=torch.bool)
    report = run(Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)), q, k, v)
    expected = sdpa_expected(masked=True)
    expected["assigns"] = L * S  # the bool mask turned into an additive one (torch.where)
    expected["cmps"] += L * S if NEGATED_MASK else 0
    assert ops_of(report.total.cost) == expected
    assert not (TESTED_TORCH and NEGATED_MASK)  # where CI runs, the one-`where` form is the one checked


def test_composite_sdpa_rule_adds_the_where_for_a_bool_mask_only():
    """The rule of the composite ``aten.scaled_dot_product_attention`` (met whole by a caller of the
    rule, or a torch that gives it a kernel): a boolean mask is made additive first, one assignment
    per mask element; a float mask is added as it is (no assignments), as the fused kernels count it."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    op = torch.ops.aten.scaled_dot_product_attention.default
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, Ev)

    def priced(mask, dropout_p=0.0):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return ops_of(op_rule_for(op)(OpCall(op, describe((q, k, v, mask, dropout_p)), {}, describe(out))))

    assert priced(torch.zeros(L, S)) == sdpa_expected(masked=True)
    expected = sdpa_expected(masked=True)
    expected["assigns"] = L * S  # torch.where over the (L, S) mask
    assert priced(torch.ones(L, S, dtype=torch.bool)) == expected
    # dropout on the weights, per score: a keep/drop draw, the mask scaled by 1/(1 − p), applied
    expected, scores = sdpa_expected(masked=True), B * H * L * S
    for category in ("cmps", "divs", "mults"):
        expected[category] += scores
    assert priced(torch.zeros(L, S), 0.5) == expected


def test_padding_mask_alignment_check_compares_each_mask_element():
    """``_nested_tensor_from_mask_left_aligned(t, mask)`` (TransformerEncoder's fast path checks that a
    padding mask is left-aligned): one comparison per element of the (3, 5) mask, 15 — not one per
    element of the (3, 5, 4) input, 60, as it was counted until 2026-12-06."""
    from torchcount.capture import OpCall, describe
    from torchcount.rules.registry import op_rule_for

    op = torch.ops.aten._nested_tensor_from_mask_left_aligned.default
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [True] * 4 + [False]])
    t = torch.randn(3, 5, 4)
    cost = op_rule_for(op)(OpCall(op, describe((t, mask)), {}, describe(op(t, mask))))
    assert {c: v for c, v in ops_of(cost).items() if v} == {"cmps": 15}


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("mask_shape", [(L, S), (B, 1, L, S)])
def test_sdpa_bool_mask_counted_alike_under_inference_mode(mode, mask_shape):
    # under inference_mode the composite aten.scaled_dot_product_attention reaches the recorder
    # whole (no autograd to break it up); run as its parts, it counts the boolean mask made additive
    # (one `where`: an assignment per mask element) as no_grad does, as an op of its own
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, Ev)
    mask = torch.ones(mask_shape, dtype=torch.bool)
    with getattr(torch, mode)():
        report = run(Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)), q, k, v)
    expected = sdpa_expected(masked=True)
    expected["assigns"] = mask.numel()  # L·S, or B·L·S for the (B, 1, L, S) mask
    # (an older torch negates the mask first: a separate op, in both modes)
    expected["cmps"] += mask.numel() if NEGATED_MASK else 0
    assert report.complete, report.uncounted
    assert ops_of(report.total.cost) == expected


def test_hand_written_attention_scores_and_weighted_sum():
    # softmax(Q·Kᵀ/√d)·V written with matmul: D·N·M for the scores and the same for the sum
    D, Nq, M = 16, 10, 12
    q, k, v = torch.randn(Nq, D), torch.randn(M, D), torch.randn(M, D)
    report = run(Fn(lambda q, k, v: torch.softmax(q @ k.T / D ** 0.5, -1) @ v), q, k, v)
    assert report.complete
    assert report.total.macs == 2 * D * Nq * M
    assert report.total.cost.divs == Nq * M + Nq * M  # the /√d and the softmax normalisation


# ---- nn.MultiheadAttention -------------------------------------------------------------
def mha_macs(N, L, S, E, kdim, vdim):
    return N * L * E * E + N * S * kdim * E + N * S * vdim * E + 2 * N * L * S * E + N * L * E * E


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_self_attention_closed_form(batch_first):
    N, T, E, heads = 2, 6, 16, 4
    m = nn.MultiheadAttention(E, heads, batch_first=batch_first)
    x = torch.randn(N, T, E) if batch_first else torch.randn(T, N, E)
    c = run(m, x, x, x).total.cost
    assert c.macs == 4 * N * T * E * E + 2 * N * T * T * E
    rows = N * heads * T
    # biases: in-projection (3·N·T·E) + out-projection (N·T·E); softmax; head average of the weights
    assert c.adds == 3 * N * T * E + N * T * E + rows * T + rows * (T - 1) + (heads - 1) * N * T * T
    assert c.divs == rows * T + N * T * T
    assert c.mults == N * T * E  # q scaled by 1/√(E/H)


def test_mha_cross_attention_kdim_vdim_and_mask():
    N, L, S, E, kdim, vdim, heads = 3, 4, 9, 12, 5, 7, 3
    m = nn.MultiheadAttention(E, heads, kdim=kdim, vdim=vdim, batch_first=True)
    q, k, v = torch.randn(N, L, E), torch.randn(N, S, kdim), torch.randn(N, S, vdim)
    plain = run(m, q, k, v, kwargs={"need_weights": False}).total.cost
    assert plain.macs == mha_macs(N, L, S, E, kdim, vdim)
    masked = run(m, q, k, v, kwargs={"need_weights": False,
                                     "key_padding_mask": torch.zeros(N, S, dtype=torch.bool)}).total.cost
    assert masked.adds - plain.adds == N * heads * L * S  # one addition per score


def test_mha_fast_path_equals_slow_path():
    # eval + no_grad takes the fused _native_multi_head_attention op; train mode the Python path
    N, T, E, heads = 2, 5, 16, 4
    m = nn.MultiheadAttention(E, heads, batch_first=True, dropout=0.0)
    x = torch.randn(N, T, E)
    slow = run(m.train(), x, x, x).total.cost
    with torch.no_grad():
        fast = run(m.eval(), x, x, x).total.cost
    assert ops_of(fast) == ops_of(slow)
    assert fast.macs == 4 * N * T * E * E + 2 * N * T * T * E


def test_mha_is_causal_without_weights_counts_sdpa_causal_mask_on_the_python_path():
    # with is_causal, need_weights=False and no key padding mask, F.multi_head_attention_forward
    # drops attn_mask and calls SDPA with is_causal=True, which builds its own (L, S) causal mask:
    # L·S assignments besides the L·S of the boolean mask made additive. The fused fast path
    # (eval, no_grad, batch-first self-attention) passes the mask given and builds none.
    from conftest import Hidden

    N, L, E, H = 2, 4, 8, 2
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    x = torch.randn(N, L, E)
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
    kw = {"attn_mask": causal, "is_causal": True, "need_weights": False}
    slow = run(mha.train(), x, x, x, kwargs=kw)
    assert slow.total.cost.assigns == L * L + L * L  # bool mask made additive + SDPA's causal mask
    # the same arguments by position (query, key, value, key_padding_mask, need_weights, attn_mask,
    # average_attn_weights, is_causal): the same count
    assert run(mha.train(), x, x, x, None, False, causal, True, True).total.cost == slow.total.cost
    assert ops_of(slow.total.cost) == ops_of(run(Hidden(mha), x, x, x, kwargs=kw).total.cost)
    with torch.no_grad():
        fast = run(mha.eval(), x, x, x, kwargs=kw)
        fast_ops = run(Hidden(mha), x, x, x, kwargs=kw)
    assert fast.total.cost.assigns == L * L
    assert ops_of(fast.total.cost) == ops_of(fast_ops.total.cost)
    meta = run(mha.to("meta"), *(x.to("meta"),) * 3, kwargs={**kw, "attn_mask": causal.to("meta")})
    assert meta.total.cost.assigns == 2 * L * L  # not a fast-path device: the Python path
    # cross-attention with add_bias_kv: the causal mask covers the S + 1 keys
    S = 6
    mha = nn.MultiheadAttention(E, H, add_bias_kv=True).train()
    q, kv = torch.randn(L, N, E), torch.randn(S, N, E)
    mask = torch.zeros(L, S)  # a float mask: nothing to convert
    c = run(mha, q, kv, kv, kwargs={"attn_mask": mask, "is_causal": True, "need_weights": False}).total.cost
    assert c.assigns == L * (S + 1)


def test_causal_decoder_layer_in_training_counts_sdpa_causal_mask():
    # nn.Transformer.generate_square_subsequent_mask is a float mask, so the only assignments are
    # the causal mask SDPA builds for the self-attention: T² per layer
    d, heads, ffn, S, T, N = 16, 2, 32, 6, 5, 2
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, heads, ffn, dropout=0.0, batch_first=True), 2)
    tgt, mem = torch.randn(N, T, d), torch.randn(N, S, d)
    mask = nn.Transformer.generate_square_subsequent_mask(T)
    report = run(dec, tgt, mem, kwargs={"tgt_mask": mask, "tgt_is_causal": True})
    assert report.complete, report.uncounted
    # relu: one assignment per feed-forward element besides
    assert report.total.cost.assigns == 2 * (T * T + N * T * ffn)


# ---- transformer layers ----------------------------------------------------------------
def encoder_macs(layers, T, d, ffn, N=1):
    return layers * N * (4 * T * d * d + 2 * T * T * d + 2 * T * d * ffn)


def test_acceptance_transformer_encoder_eval_no_grad():
    # issue 3 acceptance: 6 layers, d=512, 8 heads, ffn 2048, T=128, eval, no_grad
    T, d, heads, ffn = 128, 512, 8, 2048
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), 6,
                                enable_nested_tensor=False).eval()
    with torch.no_grad():
        report = run(enc, torch.randn(1, T, d))
    assert report.complete, report.uncounted
    assert report.total.macs == 6 * (4 * T * d * d + 2 * T * T * d + 2 * T * d * ffn)


@pytest.mark.parametrize("activation, norm_first", [("relu", False), ("gelu", True)])
def test_fused_encoder_layer_op_equals_the_layer_children(activation, norm_first):
    # PyTorch skips the fused path when forward hooks are attached, so a profiled layer is
    # always priced from its children. The fused op (_transformer_encoder_layer_fwd) runs when
    # an un-hooked layer is called from a module without a rule: here through a closure.
    T, d, heads, ffn, N = 10, 32, 4, 64, 2
    layer = nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True, activation=activation,
                                       norm_first=norm_first).eval()
    x = torch.randn(N, T, d)
    with torch.no_grad():
        fused = run(Fn(lambda t: layer(t)), x)
    children = run(layer, x)
    meta = run(layer.to("meta"), x.to("meta"))
    assert fused.complete and children.complete and meta.complete
    whats = {t.what for r in fused.layers for t in r.terms}
    assert {"feed-forward 1", "feed-forward 2", "scores Q·Kᵀ", "residual additions"} <= whats  # the fused op ran
    assert children.row("self_attn").status == "rule"
    assert ops_of(fused.total.cost) == ops_of(children.total.cost) == ops_of(meta.total.cost)
    assert fused.total.macs == encoder_macs(1, T, d, ffn, N)


def test_decoder_and_full_transformer():
    d, heads, ffn, S, T, N = 32, 4, 64, 12, 7, 2
    dec = nn.TransformerDecoderLayer(d, heads, ffn, batch_first=True).eval()
    tgt, mem = torch.randn(N, T, d), torch.randn(N, S, d)
    with torch.no_grad():
        c = run(dec, tgt, mem).total.cost
    self_attn = 4 * T * d * d + 2 * T * T * d
    cross = 2 * T * d * d + 2 * S * d * d + 2 * T * S * d   # q/out on T, k/v on S
    assert c.macs == N * (self_attn + cross + 2 * T * d * ffn)

    model = nn.Transformer(d, heads, 2, 2, ffn, batch_first=True).eval()
    with torch.no_grad():
        report = run(model, mem, tgt)
    assert report.complete, report.uncounted
    assert report.total.macs == encoder_macs(2, S, d, ffn, N) + 2 * N * (self_attn + cross + 2 * T * d * ffn)


def test_train_eval_no_grad_inference_mode_agree_on_macs():
    T, d, heads, ffn = 8, 16, 2, 32
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.0, batch_first=True), 2,
                                enable_nested_tensor=False)
    x = torch.randn(1, T, d)
    results = [run(enc.train(), x).total.cost, run(enc.eval(), x).total.cost]
    with torch.no_grad():
        results.append(run(enc.eval(), x).total.cost)
    with torch.inference_mode():
        results.append(run(enc.eval(), x).total.cost)
    assert all(ops_of(r) == ops_of(results[0]) for r in results)
    assert results[0].macs == encoder_macs(2, T, d, ffn)


def test_sdpa_dropout_same_as_its_decomposition():
    # with dropout_p > 0, PyTorch on CPU runs the reference decomposition (bernoulli_, div_, mul);
    # on meta too. The rule for the fused kernels (CUDA) uses the same terms.
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, Ev)
    report = run(Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)), q, k, v)
    expected = sdpa_expected()
    scores = B * H * L * S
    expected["cmps"] += scores
    expected["divs"] += scores
    expected["mults"] += scores
    assert ops_of(report.total.cost) == expected
    from torchcount.rules.matmul import sdpa_terms
    from torchcount.cost import Cost
    fused = Cost.of(*sdpa_terms((B, H, L, E), (B, H, S, E), (B, H, S, Ev), masked=False, causal=False, dropout=True))
    assert ops_of(fused) == expected


def test_encoder_with_padding_mask_in_eval_no_grad_is_counted_dense():
    # eval + no_grad + src_key_padding_mask would turn the batch into a nested tensor; torchcount
    # counts the dense computation (every position), the same as with grad enabled, and restores
    # the encoder's use_nested_tensor flag
    T, d, heads, ffn, N = 10, 32, 4, 64, 2
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), 2).eval()
    x = torch.randn(N, T, d)
    mask = torch.zeros(N, T, dtype=torch.bool)
    mask[1, 6:] = True
    with torch.no_grad():
        nograd = run(enc, x, kwargs={"src_key_padding_mask": mask})
    grad = run(enc, x, kwargs={"src_key_padding_mask": mask})
    assert nograd.complete and grad.complete
    assert enc.use_nested_tensor
    assert ops_of(nograd.total.cost) == ops_of(grad.total.cost)
    assert nograd.total.macs == encoder_macs(2, T, d, ffn, N)
    # and says so: PyTorch's own eval run would have skipped the padded positions
    assert any("counted dense, padded positions included" in n for n in nograd.notes)
    assert not any("padded positions" in n for n in grad.notes)
    with torch.no_grad():
        unmasked = run(enc, x)
    assert not any("padded positions" in n for n in unmasked.notes)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_dense_encoder_note_follows_pytorchs_nested_tensor_conditions():
    # PyTorch goes nested in eval when no gradient is recorded: under no_grad, or with grad
    # enabled but no weight of the first layer requiring grad (a frozen encoder); never when
    # src_mask is given too. The note says "counted dense" exactly where PyTorch would have
    # skipped the padded positions.
    from torch.utils._python_dispatch import TorchDispatchMode

    T, d, heads, ffn, N = 6, 16, 2, 32, 2
    x = torch.randn(N, T, d)
    mask = torch.zeros(N, T, dtype=torch.bool)
    mask[1, 4:] = True

    def nested_in_torch(enc, kw):
        seen = []

        class Listing(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                seen.append(func.overloadpacket)
                return func(*args, **(kwargs or {}))

        with Listing():
            enc(x, **kw)
        return torch.ops.aten._nested_tensor_from_mask in seen

    frozen = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), 2).eval()
    frozen.requires_grad_(False)
    both = {"src_key_padding_mask": mask, "mask": torch.zeros(T, T, dtype=torch.bool)}
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), 2).eval()
    for model, kw, grad, nested in ((frozen, {"src_key_padding_mask": mask}, True, True),
                                    (enc, both, False, False)):
        with torch.set_grad_enabled(grad):
            assert nested_in_torch(model, kw) is nested
            report = run(model, x, kwargs=kw)
        assert report.complete, report.uncounted
        assert report.total.macs == encoder_macs(2, T, d, ffn, N)  # dense either way
        assert any("counted dense, padded positions included" in n for n in report.notes) is nested
        assert frozen.use_nested_tensor and enc.use_nested_tensor


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
@pytest.mark.skipif(not hasattr(torch.backends, "mha"), reason="torch.backends.mha is torch ≥ 2.1")
def test_no_dense_encoder_note_with_the_fast_path_switched_off():
    """torch.backends.mha.set_fastpath_enabled(False) switches off the path that runs nested tensors: the
    same eval encoder under no_grad with a padding mask, which is noted 'counted dense' with the fast path
    on, runs dense in PyTorch too (no _nested_tensor_from_mask), so no note — reading the switch the other
    way round (as if it were off whenever it exists) survived a profile.py mutant."""
    from torch.utils._python_dispatch import TorchDispatchMode

    T, d, heads, ffn, N = 6, 16, 2, 32, 2
    x = torch.randn(N, T, d)
    mask = torch.zeros(N, T, dtype=torch.bool)
    mask[1, 4:] = True
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), 2).eval()

    class Listing(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket)
            return func(*args, **(kwargs or {}))

    was = torch.backends.mha.get_fastpath_enabled()
    try:
        for on in (True, False):
            torch.backends.mha.set_fastpath_enabled(on)
            seen = []
            with torch.no_grad():
                with Listing():
                    enc(x, src_key_padding_mask=mask)
                report = run(enc, x, kwargs={"src_key_padding_mask": mask})
            assert (torch.ops.aten._nested_tensor_from_mask in seen) is on
            assert report.total.macs == encoder_macs(2, T, d, ffn, N)
            assert any("counted dense, padded positions included" in n for n in report.notes) is on, report.notes
    finally:
        torch.backends.mha.set_fastpath_enabled(was)


def test_mha_traffic_reads_every_weight_and_writes_its_batch_first_output():
    E, B, L = 32, 2, 5
    mha = nn.MultiheadAttention(E, 4, batch_first=True).eval()
    q = torch.randn(B, L, E)
    report = torchcount.profile(mha, dict(query=q, key=q, value=q, need_weights=False))
    weights = 4 * (3 * E * E + 3 * E + E * E + E)  # in_proj and out_proj (never called, read by the rule)
    assert report.total.cost.bytes_read == weights + 3 * 4 * B * L * E
    assert report.total.cost.bytes_written == 4 * B * L * E  # a transposed view of a new tensor


def test_mha_with_both_masks_adds_their_merge():
    # torch makes both masks additive and sums them into one (N·H, L, S) mask before the scores
    N, L, E, H = 2, 5, 8, 2
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    q = torch.randn(N, L, E)
    attn_mask = torch.zeros(L, L, dtype=torch.bool)
    attn_mask[0, 1] = True
    key_padding_mask = torch.zeros(N, L, dtype=torch.bool)
    key_padding_mask[0, -1] = True
    one = torchcount.profile(mha, (q, q, q), kwargs=dict(attn_mask=attn_mask)).total.cost
    both = torchcount.profile(mha, (q, q, q), kwargs=dict(attn_mask=attn_mask, key_padding_mask=key_padding_mask)).total.cost
    assert both.adds - one.adds == N * H * L * L
    # the boolean key padding mask is made additive first (−inf where True): one assignment per element
    assert both.assigns - one.assigns == N * L
    assert (both - one).ops == N * H * L * L + N * L  # nothing else changes but the bytes of the extra mask
    # the masks passed by position (query, key, value, key_padding_mask, need_weights, attn_mask) cost the same
    assert torchcount.profile(mha, (q, q, q, key_padding_mask, True, attn_mask)).total.cost == both
    # and average_attn_weights=False by position (7th): no head average, as by keyword
    kw = dict(attn_mask=attn_mask, key_padding_mask=key_padding_mask, average_attn_weights=False)
    per_head = torchcount.profile(mha, (q, q, q), kwargs=kw).total.cost
    assert both.adds - per_head.adds == (H - 1) * N * L * L and both.divs - per_head.divs == N * L * L
    assert torchcount.profile(mha, (q, q, q, key_padding_mask, True, attn_mask, False)).total.cost == per_head


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_attention_dropout_in_training(need_weights):
    """dropout=0.5 in training drops out the attention weights, as the Dropout rule counts it: per score
    a keep/drop draw, a noise scaling and a multiplication; N·H·L·S = 2·2·4·4 = 64 scores. The same as
    the ops the layer runs when torchcount cannot see it (SDPA's dropout without the weights)."""
    from conftest import Hidden

    N, L, E, H = 2, 4, 8, 2
    x = torch.randn(N, L, E)
    kw = {"need_weights": need_weights}
    plain = run(nn.MultiheadAttention(E, H, batch_first=True).train(), x, x, x, kwargs=kw).total.cost
    mha = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True).train()
    dropped = run(mha, x, x, x, kwargs=kw).total.cost
    assert {c: v for c, v in ops_of(dropped - plain).items() if v} == {"cmps": 64, "divs": 64, "mults": 64}
    ops = ops_of(dropped)
    assert not (TESTED_TORCH and MHA_DIVIDES_QUERY)  # where CI runs, the rule's multiplications are the ops'
    if need_weights and MHA_DIVIDES_QUERY:  # torch 2.2 divides the query by √(E/H) where the rule counts
        ops["mults"] -= N * L * E           # multiplications: N·L·E = 2·4·8 = 64 of them (with or without
        ops["divs"] += N * L * E            # dropout); nothing else differs
    assert ops == ops_of(run(Hidden(mha), x, x, x, kwargs=kw).total.cost)
    assert run(mha.eval(), x, x, x, kwargs=kw).total.cost == run(
        nn.MultiheadAttention(E, H, batch_first=True).eval(), x, x, x, kwargs=kw).total.cost  # eval: none


def test_attention_scaling_follows_the_path_pytorch_takes():
    # with the weights returned, F.multi_head_attention_forward scales the query by 1/√(E/H)
    # (N·L·E mults); without them (and in every Transformer layer) it runs SDPA, which scales q
    # and k by √ of that each (N·(L + S)·E). The rule follows the path: the same mults as the
    # forward priced from its ops (the module hidden from torchcount), in both cases
    from conftest import Hidden

    N, L, S, E = 2, 3, 5, 8
    mha = nn.MultiheadAttention(E, 2, batch_first=True)
    q, kv = torch.randn(N, L, E), torch.randn(N, S, E)
    for need_weights, scaled in ((True, N * L * E), (False, N * (L + S) * E)):
        kw = {"need_weights": need_weights}
        rule, ops = run(mha, q, kv, kv, kwargs=kw), run(Hidden(mha), q, kv, kv, kwargs=kw)
        r, o = rule.total.cost, ops.total.cost
        assert r.mults + r.divs == o.mults + o.divs, need_weights
        if not (need_weights and MHA_DIVIDES_QUERY):  # (torch 2.2 divides the query by √(E/H))
            assert r.mults == o.mults, need_weights
        else:
            assert (r.mults - o.mults, o.divs - r.divs) == (N * L * E, N * L * E)
        assert [t.value for t in rule.layers[0].terms if "scaling" in t.what] == [scaled]


def test_mha_with_one_head_still_averages_the_returned_weights():
    # need_weights with average_attn_weights: torch takes the mean over the heads dim (mean(dim=1)) for
    # any H, one head too: (H − 1)·N·L·S = 0 additions, but still N·L·S divisions (by H = 1), beside the
    # softmax's N·H·L·S divisions by the row sums
    N, L, S, E = 2, 5, 7, 16
    mha = nn.MultiheadAttention(E, 1)
    q, kv = torch.randn(L, N, E), torch.randn(S, N, E)
    c = run(mha, q, kv, kv).total.cost
    assert c.divs == N * 1 * L * S + N * L * S
    plain = run(mha, q, kv, kv, kwargs={"average_attn_weights": False}).total.cost
    assert c.divs - plain.divs == N * L * S and c.adds == plain.adds


def test_mha_bias_kv_and_zero_attention_name_the_attended_length_apart():
    # add_bias_kv appends one key/value row after the projections, add_zero_attn one zero slot: the
    # projections see S = 7 keys, the scores and the weighted sum S′ = 7 + 2 = 9. The worked lines wrote
    # both as S (N·S·kdim·E = 2×7×6×16 and N·L·S·E = 2×5×9×16 in one explanation)
    N, L, S, E, kdim, vdim, H = 2, 5, 7, 16, 6, 10, 4
    mha = nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, add_bias_kv=True, add_zero_attn=True)
    report = run(mha, torch.randn(L, N, E), torch.randn(S, N, kdim), torch.randn(S, N, vdim))
    assert report.total.macs == N * L * E * E + N * S * (kdim + vdim) * E + 2 * N * L * (S + 2) * E + N * L * E * E
    text = report.explain(report.layers[0].path)
    assert "S′ = S + 2 = 7 + 2 = 9" in text
    assert "N·S·kdim·E = 2×7×6×16" in text and "N·L·S′·E = 2×5×9×16" in text
    assert "N·L·S·E" not in text


def test_attention_softmax_lines_are_written_in_the_attention_symbols():
    """The softmax inside attention read rows·(n − 1) = 20×(5 − 1): a student could not tell that
    rows = N·H·L. They now read N·H·L·(S − 1) = 2×2×5×(5 − 1) (SDPA's: B·L·(S − 1), B the batch
    and head dims), and a bias_k row makes it S′."""

    x = torch.randn(2, 5, 16)
    text = torchcount.profile(nn.MultiheadAttention(16, 2, batch_first=True), (x, x, x)).explain("")
    assert "comparisons (row max) [cmps, weight 1] = N·H·L·(S − 1) = 2×2×5×(5 − 1) = 80" in text
    assert "exponentials [transc, weight 1] = N·H·L·S = 2×2×5×5 = 100" in text
    text = torchcount.profile(nn.MultiheadAttention(16, 2, batch_first=True, add_bias_kv=True), (x, x, x)).explain("")
    assert "divisions by the sum [divs, weight 1] = N·H·L·S′ = 2×2×5×6 = 120" in text

    class Sdpa(nn.Module):
        def forward(self, q):
            return nn.functional.scaled_dot_product_attention(q, q, q)

    text = torchcount.profile(Sdpa(), torch.randn(2, 3, 5, 8)).explain("")
    assert "additions (row sum) [adds, weight 1] = B·L·(S − 1) = 6×5×(5 − 1) = 120" in text
    # a Softmax module keeps the generic symbols
    text = torchcount.profile(nn.Softmax(dim=-1), torch.randn(4, 7)).explain("")
    assert "rows·(n − 1) = 4×(7 − 1) = 24" in text
