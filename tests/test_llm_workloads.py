"""LLM workloads an engineer profiles: decode steps with a KV cache (dynamic and static), eager
flex_attention, generate()'s end-of-sequence check, and the int8/int4 GEMMs of quantized inference.
Every number is derived by hand (``llama_macs``); these were found by an audit: flex_attention
made profile raise, a profiled decode step changed the caller's cache, and index_copy_ (a static
cache's write), isin and the integer GEMMs were listed as uncounted."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import torchcount
from torchcount.profile import _InputObjects, _protect_inputs

from conftest import Fn, needs, rope_macs


def profile(model, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torchcount.profile(model, inputs, convention="macs", warn=False)


def tiny_llama_config(**kw):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    return transformers, transformers.LlamaConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=37, tie_word_embeddings=False, **kw)


def llama_macs(q_len, kv_len, lm_rows=None, d=32, layers=2, hq=4, hkv=2, ffn=37, vocab=99, rope=True):
    """Per layer: q and o (d·hq·dh each), k and v (d·hkv·dh each), SwiGLU (3·d·ffn) per token;
    QKᵀ and A·V (hq·q_len·kv_len·dh each); the LM head on lm_rows tokens; once per forward, the rotary
    table's MACs where the installed transformers computes it as a matmul (``rope_macs``, batch 1)."""
    dh = d // hq
    per_token = d * hq * dh + 2 * d * hkv * dh + hq * dh * d + 3 * d * ffn
    table = 0
    if rope:
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
        table = rope_macs(LlamaRotaryEmbedding, q_len, dh)
    return layers * (q_len * per_token + 2 * hq * q_len * kv_len * dh) + (q_len if lm_rows is None else lm_rows) * d * vocab \
        + table


# ---- F1: flex_attention (a higher-order op) makes profile raise ----------------------------------
@needs("eager flex_attention")
@needs("higher-order ops reaching a dispatch mode as one op")
def test_flex_attention_eager_counts_the_dense_products():
    from torch.nn.attention.flex_attention import flex_attention
    B, H, L, S, E = 1, 2, 16, 16, 8
    q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
    report = profile(Fn(lambda q, k, v: flex_attention(q, k, v)), (q, k, v))
    # eager flex_attention (math_attention) computes every score: QKᵀ and A·V, B·H·L·S·E MACs each
    assert report.total.macs == 2 * B * H * L * S * E == 8192
    assert report.complete, report.uncounted


def test_hugging_face_llama_with_flex_attention_counts_like_sdpa():
    transformers, cfg = tiny_llama_config()
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM._from_config(cfg, attn_implementation="flex_attention").eval()
    with torch.no_grad():
        report = profile(model, {"input_ids": torch.randint(3, 99, (1, 8))})
    assert report.total.macs == llama_macs(8, 8)
    assert llama_macs(8, 8, rope=False) == 139_520


# ---- F2: index_copy_ (HF StaticCache.update) is data movement, not uncounted ------------------------
def test_index_copy_is_a_zero_op():
    report = profile(Fn(lambda c, i, x: c.index_copy_(2, i, x)),
                     (torch.zeros(1, 2, 9, 8), torch.tensor([3]), torch.randn(1, 2, 1, 8)))
    assert report.complete, report.uncounted
    assert report.total.cost.ops == 0


def _static_cache_decode_step(max_cache_len: int):
    """A prefill of 8 tokens into a StaticCache, then one decode step profiled: (report, cache,
    the cache's keys before the profile)."""
    transformers, cfg = tiny_llama_config()
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        cache = transformers.StaticCache(config=cfg, max_cache_len=max_cache_len)
        model(input_ids=torch.randint(3, 99, (1, 8)), past_key_values=cache)
        keys = [layer.keys.clone() for layer in cache.layers]
        report = profile(model, {"input_ids": torch.randint(3, 99, (1, 1)), "past_key_values": cache,
                                 "cache_position": torch.tensor([8])})
    return report, cache, keys


def test_static_cache_decode_step_is_complete():
    report, _, _ = _static_cache_decode_step(32)
    # a static cache is attended over its full length (32 slots, the unused ones masked)
    assert report.total.macs == llama_macs(1, 32)
    assert llama_macs(1, 32, rope=False) == 20_512
    assert report.complete, report.uncounted


# ---- F3: isin (generate()'s EOS check) ----------------------------------------------------------------
def test_isin_counts_its_comparisons():
    report = profile(Fn(lambda a, b: torch.isin(a, b)), (torch.arange(99), torch.tensor([2])))
    assert report.complete, report.uncounted
    assert report.total.cost.cmps == 99 * 1  # each element against each test element


# ---- F4: the int8 GEMMs of quantized LLM inference ----------------------------------------------------
@needs("torch._int_mm on CPU")
def test_int_mm_macs():
    a = torch.randint(-5, 5, (32, 32), dtype=torch.int8)
    b = torch.randint(-5, 5, (32, 64), dtype=torch.int8)
    report = profile(Fn(lambda a, b: torch._int_mm(a, b)), (a, b))
    assert report.total.macs == 32 * 32 * 64
    assert report.complete
    # m ≠ k, so that m·k·n does not pass for k·k·n or m·m·n: (48×32)·(32×64)
    a = torch.randint(-5, 5, (48, 32), dtype=torch.int8)
    assert profile(Fn(lambda a, b: torch._int_mm(a, b)), (a, b)).total.macs == 48 * 32 * 64


@needs("torch._weight_int8pack_mm on CPU")
def test_weight_int8pack_mm_macs():
    w = torch.randint(-128, 127, (64, 32), dtype=torch.int8)
    scales = torch.rand(64)
    report = profile(Fn(lambda x: torch._weight_int8pack_mm(x, w, scales)), (torch.randn(16, 32),))
    assert report.total.macs == 16 * 32 * 64
    assert report.total.cost.mults == 16 * 64  # each output times its channel's scale
    assert report.complete


# ---- F5: profiling a decode step must not change the caller's KV cache ----------------------------------
def test_profiling_a_decode_step_twice_gives_the_same_count_and_leaves_the_cache():
    transformers, cfg = tiny_llama_config()
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    nxt = torch.randint(3, 99, (1, 1))
    with torch.no_grad():
        cache = model(input_ids=torch.randint(3, 99, (1, 8)), use_cache=True).past_key_values
        first = profile(model, {"input_ids": nxt, "past_key_values": cache}).total.macs
        second = profile(model, {"input_ids": nxt, "past_key_values": cache}).total.macs
    assert first == second == llama_macs(1, 9)
    assert llama_macs(1, 9, rope=False) == 17_568
    assert cache.get_seq_length() == 8


def test_profiling_does_not_write_into_a_static_cache():
    _, cache, keys = _static_cache_decode_step(16)
    assert all(torch.equal(k, layer.keys) for k, layer in zip(keys, cache.layers))


@needs("eager flex_attention")
@needs("higher-order ops reaching a dispatch mode as one op")
def test_flex_attention_with_grouped_heads_costs_what_sdpa_does_plus_the_log_sum_exp():
    from torch.nn.attention.flex_attention import flex_attention
    B, Hq, Hkv, L, S, E = 2, 4, 2, 8, 12, 8
    q, k, v = torch.randn(B, Hq, L, E), torch.randn(B, Hkv, S, E), torch.randn(B, Hkv, S, E)
    flex = profile(Fn(lambda q, k, v: flex_attention(q, k, v, enable_gqa=True)), (q, k, v))
    assert flex.complete and flex.total.macs == 2 * B * Hq * L * S * E  # every query head over S keys
    mask = torch.zeros(L, S)
    sdpa = profile(Fn(lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, enable_gqa=True)), (q, k, v))
    extra = flex.total.cost - sdpa.total.cost
    # the same products, scaling, mask and softmax; the log of each row's sum on top (flex's wrapper
    # also builds an empty block mask: a comparison and a selection on a 1-element tensor)
    assert (extra.macs, extra.mults, extra.adds, extra.divs, extra.transc) == (0, 0, 0, 0, B * Hq * L)


def test_isin_with_several_test_elements():
    report = profile(Fn(lambda a, b: torch.isin(a, b)), (torch.arange(10), torch.tensor([1, 2, 3])))
    assert report.complete and report.total.cost.cmps == 10 * 3 + 10 * 2  # tests, then the or of 3 answers
    # one number against a tensor of 4: 4 comparisons, 3 ors (the number's overload)
    report = profile(Fn(lambda b: torch.isin(3, b)), (torch.tensor([1, 2, 3, 4]),))
    assert report.complete and report.total.cost.cmps == 4 + 3


@needs("the int4pack ops for CPU")
def test_weight_int4pack_mm_macs_and_dequantization():
    m, k, n, group = 4, 64, 32, 32
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(torch.randint(0, 16, (n, k), dtype=torch.int32), 1)
    scales_and_zeros = torch.randn(k // group, n, 2)
    report = profile(Fn(lambda x: torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, group, scales_and_zeros)),
                     (torch.randn(m, k),))
    assert report.complete
    c = report.total.cost
    assert (c.macs, c.mults, c.adds) == (m * k * n, k * n, k * n)  # (q − zero)·scale per weight element


@needs("torch._scaled_mm with scales on CPU")
def test_scaled_mm_fp8():
    a = torch.randn(16, 32).to(torch.float8_e4m3fn)
    b = torch.randn(64, 32).to(torch.float8_e4m3fn).t()
    one = torch.tensor(1.0)
    report = profile(Fn(lambda a, b: torch._scaled_mm(a, b, one, one, out_dtype=torch.float32)), (a, b))
    assert report.complete
    assert (report.total.cost.macs, report.total.cost.mults) == (16 * 32 * 64, 16 * 64)


class _Appender(nn.Module):
    """A forward that changes an input object (as a KV cache's update does) and records what it saw."""

    def __init__(self):
        super().__init__()
        self.lengths = []
        self.linear = nn.Linear(4, 4)

    def forward(self, x, state):
        state.items.append(x)
        self.lengths.append(len(state.items))
        return self.linear(x) * len(state.items)


class _State:
    def __init__(self):
        self.items = []


def test_an_input_object_the_forward_changes_is_copied_and_every_measured_pass_sees_it_fresh():
    model, state, x = _Appender(), _State(), torch.randn(2, 4)
    report = torchcount.profile(model, (x, state), measure=True, warmup=1, repeat=2)
    assert state.items == []  # the caller's object is as it was
    assert model.lengths and set(model.lengths) == {1}  # the counting pass and every measured pass: a fresh copy
    assert any(n.startswith("input object(s) copied (deep)") and "_State" in n and "fresh copies" in n
               for n in report.notes)
    plain = torchcount.profile(model, (x,), kwargs={"state": _State()})
    assert not any("fresh copies" in n for n in plain.notes)


def test_an_input_object_that_cannot_be_deep_copied_is_passed_as_it_is():
    """docs/guarantees.md: an input object that cannot be deep-copied (it holds a lock) is passed as
    it is: the forward gets the caller's object, its changes stay there, and no note says it was
    copied; the profile still counts the forward."""
    import threading

    model, state, x = _Appender(), _State(), torch.randn(2, 4)
    state.lock = threading.Lock()
    report = torchcount.profile(model, (x, state))
    assert len(state.items) == 1 and state.items[0] is not x and torch.equal(state.items[0], x)  # (x copied)
    assert not any(n.startswith("input object(s) copied") for n in report.notes)
    assert report.total.macs == 2 * 4 * 4 and report.complete


def _twice_op():
    """A higher-order op of the test's own, torchcount_test_twice(fn, x) = fn(fn(x)): one torchcount has
    neither a rule nor a runner for."""
    from torch._C import DispatchKey
    from torch._ops import HigherOrderOperator

    class Twice(HigherOrderOperator):
        def __init__(self):
            super().__init__("torchcount_test_twice")

        def __call__(self, fn, x):
            return super().__call__(fn, x)

    twice = Twice()
    twice.py_impl(DispatchKey.CompositeExplicitAutograd)(lambda fn, x: fn(fn(x)))
    twice.fallthrough(DispatchKey.AutogradCPU)
    return twice


@needs("higher-order ops reaching a dispatch mode as one op")
def test_a_higher_order_op_without_a_rule_is_listed_not_a_crash():
    """A higher-order op (as flex_attention is) used to make profile raise; without a rule it is listed
    as uncounted, by name (the sum and the comparison after it are counted)."""
    twice = _twice_op()
    report = profile(Fn(lambda x: twice(lambda r: r.sin(), x).sum() > 0), (torch.randn(5),))
    assert [(u.what, u.calls) for u in report.uncounted] == [("torchcount_test_twice", 1)]
    assert (report.total.cost.adds, report.total.cost.cmps, report.total.cost.transc) == (4, 1, 0)


@needs("higher-order ops reaching a dispatch mode as one op")
def test_a_module_a_higher_order_op_without_a_runner_calls_is_counted_by_its_rule():
    """An op torchcount runs as one op (no runner) calls its function inside the recorder's own handler,
    where torch has taken the recording mode off its stack: a module called there switched recording
    off and raised "trying to pop from empty mode stack". twice(lin, x) calls Linear(4, 4) twice on a
    2×4 input: 2 calls of 2·4·4 MACs; the op itself is listed as uncounted."""
    twice = _twice_op()
    lin = nn.Linear(4, 4)
    report = profile(_Holder(lin, lambda x: twice(lambda r: lin(r), x)), (torch.ones(2, 4),))
    row = next(r for r in report.layers if r.path == "lin")
    assert (row.calls, row.cost.macs) == (2, 2 * 2 * 4 * 4)
    assert [(u.what, u.calls) for u in report.uncounted] == [("torchcount_test_twice", 1)]


class _Holder(nn.Module):
    """A module holding ``lin`` (so that it is hooked) and running ``forward`` on its input."""

    def __init__(self, lin: nn.Module, forward):
        super().__init__()
        self.lin, self._forward = lin, forward

    def forward(self, x):
        return self._forward(x)


@needs("higher-order ops reaching a dispatch mode as one op")
def test_control_flow_higher_order_ops_are_counted_as_they_run():
    """torch.cond runs the branch taken, while_loop its body until the condition fails, map the function
    on each slice (torch._higher_order_ops.map): each op of theirs is counted, where each was one
    uncounted op. cond on a 5-vector: the sum (4 adds), the comparison, 5 sines (the true branch);
    while_loop from i = 0 while i < 3: 4 comparisons, 3 increments of i, x·2 three times (3·5 mults);
    map over 4 rows of 3: 12 sines, the rows stacked."""
    from torch._higher_order_ops.map import map as map_rows
    from torch._higher_order_ops.while_loop import while_loop

    x = torch.ones(5)
    report = profile(Fn(lambda x: torch.cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))), (x,))
    assert report.complete and (report.total.cost.adds, report.total.cost.cmps, report.total.cost.transc) == (4, 1, 5)
    report = profile(Fn(lambda x: while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2),
                                             (torch.tensor(0), x))[1]), (x,))
    cost = report.total.cost
    assert report.complete and (cost.cmps, cost.adds, cost.mults) == (4, 3, 15)
    report = profile(Fn(lambda x: map_rows(lambda r: r.sin(), x)), (torch.ones(4, 3),))
    assert report.complete and report.total.cost.transc == 12


class _Branches(nn.Module):
    """torch.cond choosing between two Linear(4, 8) layers (the second's output doubled) by the sign of x's sum."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(4, 8)

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: self.a(x), lambda x: self.b(x) * 2, (x,))


@needs("higher-order ops reaching a dispatch mode as one op")
@pytest.mark.parametrize("sign", [1, -1])
def test_the_layers_a_cond_branch_calls_are_counted_by_their_rules(sign):
    """A module called inside a torch.cond branch runs inside the recorder's own handler, where torch has
    taken the recording mode off its stack: switching recording off around it raised "trying to pop from
    empty mode stack". The branch taken has its layer's row (2·4·8 = 64 MACs, 64 bias adds), the other
    none; the branch's own ops are counted (b's `* 2`: 16 mults); the sum over the 2×4 input (7 adds)
    and the comparison are the root's."""
    from test_state import snapshot

    model = _Branches().eval()
    before = snapshot(model)
    report = torchcount.profile(model, sign * torch.ones(2, 4), warn=False)
    taken, other = ("a", "b") if sign > 0 else ("b", "a")
    rows = {row.path: row for row in report.layers}
    assert (rows[taken].calls, rows[taken].cost.macs, rows[taken].cost.adds) == (1, 64, 16)
    assert rows[other].calls == 0
    assert report.complete
    cost = report.total.cost
    assert (cost.macs, cost.adds, cost.cmps, cost.mults) == (64, 16 + 7, 1, 0 if sign > 0 else 16)
    assert snapshot(model) == before


def test_an_input_object_that_refers_to_the_model_is_copied_without_copying_the_model():
    model, state, x = _Appender(), _State(), torch.randn(2, 4)
    state.owner, state.weight = model, model.linear.weight  # (a context object holding the model)
    seen = []
    model.linear.register_forward_hook(lambda m, a, out: seen.append(m is model.linear))
    torchcount.profile(model, (x, state))
    assert state.items == [] and seen == [True]
    copied = _State()
    copied.owner = model
    args, _ = _protect_inputs((copied,), {}, _InputObjects(model))
    assert args[0] is not copied and args[0].owner is model  # the object copied, the model shared
