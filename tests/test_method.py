"""``profile(model, inputs, method="generate")``: one call of a method of the model instead of its
forward, such as autoregressive generation. Every forward it makes is counted, the work it does
outside them is the root's own, and the numbers are derived by hand: a greedy toy LM without a
cache (each step re-reads the whole prefix), Hugging Face Whisper with its KV cache (each step one
token; the cross-attention keys and values computed once) and Llama (the prompt at once, then one
token per step)."""
from __future__ import annotations

import copy
import json
import time
import types
import warnings

import pytest
import torch
from torch import nn

import torchcount
from torchcount.cli import main as cli_main

from conftest import TESTED_TORCH, Fn, optimizer_step_hooks_run
from test_state import snapshot

VOCAB, D = 11, 6


class ToyLM(nn.Module):
    """Greedy decoding with no cache: step t runs the forward on all L0 + t tokens so far."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.head = nn.Linear(D, VOCAB, bias=False)

    def forward(self, ids):
        return self.head(self.embed(ids))

    def generate(self, ids, new_tokens: int = 3):
        for _ in range(new_tokens):
            nxt = self(ids)[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
        return ids

    def encode(self, ids):  # never calls the forward
        return self.embed(ids)

    def fails_after_a_forward(self, ids):
        self(ids)
        raise ValueError("boom")

    def fails_in_a_layer(self, ids):
        return self.head(ids)  # token ids straight into the Linear: a dtype error there

    def fails_after_a_handled_error(self, ids):
        try:
            self.head(ids)  # fails in the Linear, and is handled here
        except RuntimeError:
            pass
        raise KeyError("its own error")

    def stream(self, ids, new_tokens: int = 3):  # a streaming generate: its work happens as it is iterated
        for _ in range(new_tokens):
            nxt = self(ids)[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
            yield nxt

    def with_helper(self, ids, helper: nn.Module):  # another model given as an input (assisted generation)
        return self(ids) + helper(ids.float()).sum()

    def waits(self, ids, seconds: float = 0.02):
        time.sleep(seconds)  # the method's own time, outside any forward
        return self(ids)


def profile(model, inputs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torchcount.profile(model, inputs, **kw)


def test_greedy_generation_counts_every_step_by_hand():
    L0, n = 4, 3
    report = profile(ToyLM(), torch.zeros(2, L0, dtype=torch.long), method="generate",
                     kwargs={"new_tokens": n})
    # step t: the head on 2·(L0 + t) tokens, D·VOCAB MACs each; argmax over the last position's VOCAB
    # logits: VOCAB − 1 comparisons per sequence, in generate's own code (the root's own work)
    macs = sum(2 * (L0 + t) * D * VOCAB for t in range(n))
    assert report.total.macs == macs == 2 * 15 * 66
    assert report.row("head").calls == report.row("embed").calls == n
    assert report.root.calls == n  # the forward calls (generate's own call is not one of them)
    assert report.root.self_cost.cmps == n * 2 * (VOCAB - 1)
    assert report.root.self_cost.macs == 0
    assert report.root.output_shapes == [(2, L0 + n)]  # what generate returned
    # steps: embed then head at each of the n steps, and generate's own arithmetic (a call that does
    # any counts 1, docs/coverage.md, "Sequential steps"); the forward calls are the root's own calls, not its children
    assert report.root.extra["steps"] == 2 * n + 1
    assert report.root.self_extra["steps"] == 1
    assert report.coverage == 1.0
    assert any(f"ToyLM.generate(...), not the forward: the root's forward ran {n} times" in note
               for note in report.notes)
    # the table's rows add up to the total: the root's own row is shown
    assert report.layers[0] is report.root
    leaves = [r.cost for r in report.layers[1:]]
    assert sum(leaves, report.root.self_cost).cmps == report.total.cost.cmps == n * 2 * (VOCAB - 1)
    assert sum(leaves, report.root.self_cost).macs == report.total.macs


def test_a_method_counts_what_a_wrapper_module_calling_it_counts():
    """An independent path: the same generate run as the forward of a wrapper (its ops then the wrapper's)."""
    model, ids = ToyLM(), torch.zeros(1, 5, dtype=torch.long)
    by_method = profile(model, ids, method="generate", kwargs={"new_tokens": 4})
    by_wrapper = profile(Fn(lambda x: model.generate(x, 4)), ids)
    assert by_method.total.cost == by_wrapper.total.cost
    assert by_method.total.macs == sum((5 + t) * D * VOCAB for t in range(4))


def test_a_streaming_method_is_iterated_inside_the_profile():
    """A generator does nothing until iterated: it was a clean 0 (no call, no warning)."""
    report = profile(ToyLM(), torch.zeros(1, 4, dtype=torch.long), method="stream", measure=True, repeat=2, warmup=0)
    assert report.total.macs == sum((4 + t) * D * VOCAB for t in range(3))
    assert report.forward_calls == report.root.calls == 3
    assert report.root.output_shapes == [(1, 1)] * 3  # what it yielded
    assert report.row("head").extra["time_ms"] > 0  # the measured passes iterate it too


def test_a_module_given_to_the_method_is_named_in_a_note():
    helper = nn.Linear(4, 1, bias=False)
    report = profile(ToyLM(), torch.zeros(1, 4, dtype=torch.long), method="with_helper", kwargs={"helper": helper})
    # the helper is not hooked: its MACs (4 per position) are the root's own, its weights not in the total
    assert report.root.self_cost.macs == 4 and report.total.params == 2 * VOCAB * D
    assert any("module(s) given as inputs of with_helper: helper=Linear; not part of the profiled model" in note
               for note in report.notes)


def test_a_hugging_face_streamer_is_passed_as_it_is():
    """An input object is copied (a KV cache must not grow), but a streamer is an output channel:
    a copy would leave the caller's empty."""
    pytest.importorskip("transformers")
    from transformers.generation.streamers import BaseStreamer

    class Collect(BaseStreamer):
        def __init__(self):
            self.got = []

        def put(self, value):
            self.got.append(value.tolist())

        def end(self):
            self.got.append("end")

    class Streams(ToyLM):
        def generate(self, ids, streamer, new_tokens=2):
            streamer.put(ids)
            for _ in range(new_tokens):
                ids = torch.cat([ids, self(ids)[:, -1].argmax(-1, keepdim=True)], 1)
                streamer.put(ids[:, -1])
            streamer.end()
            return ids

    streamer = Collect()
    report = profile(Streams(), torch.zeros(1, 4, dtype=torch.long), method="generate", kwargs={"streamer": streamer})
    assert len(streamer.got) == 1 + 2 + 1 and streamer.got[-1] == "end"
    assert not any("copied" in note for note in report.notes)


def test_method_forward_is_the_default():
    model, ids = ToyLM(), torch.zeros(1, 5, dtype=torch.long)
    a, b = profile(model, ids), profile(model, ids, method="forward")
    assert a.total.cost == b.total.cost and a.root.calls == b.root.calls == 1
    assert not any("not the forward" in note for note in b.notes)


def test_a_method_that_never_calls_the_forward():
    report = profile(ToyLM(), torch.zeros(1, 5, dtype=torch.long), method="encode")
    assert report.row("embed").calls == 1
    assert report.row("head").status == "not called"
    assert report.total.macs == 0 and report.total.params == VOCAB * D * 2
    assert any("the root's forward ran 0 times inside it;" in note for note in report.notes)
    # the root was called all the same (its method): not a "never called" row
    assert report.root.calls == 1
    assert "not called" not in report.explain("")
    # so its own ops, unrecorded, are listed as uncounted rather than taken as none
    unrecorded = profile(ToyLM(), torch.zeros(1, 5, dtype=torch.long), method="encode", record_ops=False)
    assert [(u.path, u.calls) for u in unrecorded.uncounted] == [("", 1)]


class _ReluStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).relu()  # the forward's own op: a ReLU outside any child

    def step(self, x):
        return (self(self(x)) * 3).sum()


def test_explain_of_a_method_root_gives_the_figure_of_its_row():
    # the root's row is its own work: the step's ×3 (12 mults) and sum (11 adds), and its forward's
    # own ReLU twice (2·12 comparisons): 47 FLOPs, 12 + 11 + 24 = 47 ops [worksheet] + 24 assignments.
    # explain showed the step's 23 and the inclusive total, never the row's 47
    report = profile(_ReluStep(), torch.randn(3, 4), method="step")
    row = next(r for r in report.layers if r.path == "")
    assert row.self_cost.mults == 12 and row.self_cost.adds == 11 and row.self_cost.cmps == 24
    assert report.table().splitlines()[4].split()[-2] == "47"  # the row "0  (root) (self)  M …  47  17.9%"
    assert "own work (the '(root)' row): 23 of the step call + 24 of its forward's own work = 47 FLOPs [flops]" \
        in report.explain("")
    assert "= 71 ops [worksheet]" in report.explain("", convention="worksheet")  # 23 + 24 cmps + 24 assigns


def test_a_failing_method_is_named_and_the_model_left_as_found():
    model = ToyLM()
    before = snapshot(model)
    with pytest.raises(torchcount.ForwardError, match=r"ToyLM\.fails_after_a_forward\(\.\.\.\) failed outside any "
                                                      r"module's forward with input shapes 1×5: ValueError: boom"):
        profile(model, torch.zeros(1, 5, dtype=torch.long), method="fails_after_a_forward")
    assert snapshot(model) == before
    with pytest.raises(torchcount.ForwardError, match="forward failed in module 'head' \\(Linear\\)"):
        profile(model, torch.zeros(1, 5, dtype=torch.long), method="fails_in_a_layer")
    assert snapshot(model) == before
    # the Linear's error was handled: the KeyError is the method's own (it was blamed on the Linear)
    with pytest.raises(torchcount.ForwardError, match=r"ToyLM\.fails_after_a_handled_error\(\.\.\.\) failed "
                                                      r"outside any module's forward .*KeyError: 'its own error'"):
        profile(model, torch.zeros(1, 5, dtype=torch.long), method="fails_after_a_handled_error")
    assert snapshot(model) == before


def test_bad_method_arguments_are_clear_errors():
    model, ids = ToyLM(), torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(AttributeError, match="method='generat': ToyLM has no attribute 'generat'; did you mean generate"):
        profile(model, ids, method="generat")
    with pytest.raises(AttributeError, match="ToyLM has a Linear, not a method, named 'head'"):
        profile(model, ids, method="head")
    model.nothing = None
    with pytest.raises(AttributeError, match="ToyLM has a NoneType, not a method, named 'nothing'"):
        profile(model, ids, method="nothing")
    del model.nothing
    with pytest.raises(TypeError, match="method= is the name of a method"):
        profile(model, ids, method=ToyLM)
    # the model's own bound method is that method, by name (not a function given the model again)
    assert profile(model, ids, method=model.generate).model_name == "ToyLM.generate"
    # nn.Module's own methods change the model or inspect it: not a computation to profile
    before = snapshot(model)
    with pytest.raises(ValueError, match="'register_forward_hook' is a method of every nn.Module"):
        profile(model, lambda *a: None, method="register_forward_hook")
    assert snapshot(model) == before
    scripted = torch.jit.script(nn.Linear(3, 3))
    with pytest.raises(TypeError, match="TorchScript module, which torchcount profiles through its forward only"):
        profile(scripted, torch.randn(1, 3), method="forward_magic")
    with pytest.raises(TypeError, match="receptive_field follows the forward's data flow"):
        torchcount.receptive_field(model, ids, method="generate")
    with pytest.raises(TypeError, match=r"this report profiled ToyLM\.generate\(\.\.\.\), not a forward"):
        torchcount.receptive_field(profile(model, ids, method="generate"))  # (named once: it read "ToyLM.generate's generate")
    with pytest.raises(TypeError, match=r"this report profiled lm\.generate\(\.\.\.\), not a forward"):
        torchcount.receptive_field(profile(model, ids, method="generate", name="lm"))


def test_a_method_that_fails_while_measured_is_named():
    class FailsLater(ToyLM):
        runs = 0

        def generate(self, ids, new_tokens=2):
            out = super().generate(ids, new_tokens)
            type(self).runs += 1
            if type(self).runs >= 2:  # the counting pass succeeds, the first measured one fails
                raise ValueError("boom")
            return out

    with pytest.raises(torchcount.ForwardError, match=r"generate failed while measuring, .* in FailsLater\.generate"
                                                      r"\(\.\.\.\), outside any module's forward: ValueError: boom"):
        profile(FailsLater(), torch.zeros(1, 4, dtype=torch.long), method="generate", measure=True, warmup=1, repeat=2)


def _fails_on_call(fail_at):
    """A ToyLM whose generate raises outside any module's forward on the calls in ``fail_at`` (1 = the
    counting pass; with warmup=1 the 2nd is the plain warm-up pass, the 3rd the hooked warm-up pass)."""
    class FailsOnCall(ToyLM):
        runs = 0

        def generate(self, ids, new_tokens=2):
            out = super().generate(ids, new_tokens)
            type(self).runs += 1
            if type(self).runs in fail_at:
                raise ValueError(f"boom at call {type(self).runs}")
            return out

    return FailsOnCall()


def test_a_method_failing_in_a_hooked_pass_outside_every_module_is_named_as_the_method():
    """The 3rd call is the hooked warm-up pass: its hooks saw no module fail, so the error is the method's
    own, named as such, not "a pass without hooks" (the hooked pass is no pass without hooks)."""
    with pytest.raises(torchcount.ForwardError, match=r"after the counting pass and 1 measuring pass\(es\) that "
                                                      r"completed .*in FailsOnCall\.generate\(\.\.\.\), outside any "
                                                      r"module's forward: ValueError: boom at call 3"):
        profile(_fails_on_call({3}), torch.zeros(1, 4, dtype=torch.long), method="generate", measure=True,
                warmup=1, repeat=2)


def test_a_method_failing_once_in_a_pass_without_hooks_says_the_hooked_pass_did_not_fail_again():
    """The 2nd call (the plain warm-up pass) fails outside every module; the hooked pass run to find the
    module does not fail, and the traceback holds no module's call: the error says just that, rather than
    blaming the method's own code on a pass that succeeded."""
    with pytest.raises(torchcount.ForwardError, match=r"after the counting pass and 0 measuring pass\(es\) that "
                                                      r"completed \(warm-up ones included\), \(a pass without hooks, "
                                                      r"which did not fail again with hooks\): ValueError: boom at call 2"):
        profile(_fails_on_call({2}), torch.zeros(1, 4, dtype=torch.long), method="generate", measure=True,
                warmup=1, repeat=2)


def test_a_method_failing_in_the_memory_pass_outside_every_module_is_named_as_the_method():
    """warmup=0, repeat=1: the counting pass, a plain and a stamped pass, the floor probes' pass, then the
    memory pass, the 5th call, which is hooked too: a failure there outside every module is the method's own."""
    with pytest.raises(torchcount.ForwardError, match=r"after the counting pass and 3 measuring pass\(es\) that "
                                                      r"completed .*in FailsOnCall\.generate\(\.\.\.\), outside any "
                                                      r"module's forward: ValueError: boom at call 5"):
        profile(_fails_on_call({5}), torch.zeros(1, 4, dtype=torch.long), method="generate", measure=True,
                warmup=0, repeat=1)


def test_sequential_root_with_a_method_and_record_ops_off_lists_the_methods_ops():
    """A Sequential's forward runs no op of its own, but its method does: unrecorded, never a silent 0."""
    class Steps(nn.Sequential):
        def generate(self, x, steps=3):
            for _ in range(steps):
                x = self(x) * 0.5
            return x

    model, x = Steps(nn.Linear(4, 4, bias=False)), torch.randn(1, 4)
    assert profile(model, x, method="generate").root.self_cost.mults == 3 * 4
    unrecorded = profile(model, x, method="generate", record_ops=False)
    assert [(u.path, u.what) for u in unrecorded.uncounted] == [("", "own ops (not recorded: record_ops=False)")]
    assert not unrecorded.complete


def test_a_measured_method_times_each_pass_as_one_call_of_it():
    model = ToyLM()
    report = profile(model, torch.zeros(1, 4, dtype=torch.long), method="generate", measure=True, repeat=2, warmup=0)
    assert report.root.calls == 3 and report.row("head").calls == 3
    # the root's span is the whole generate call; its own time (argmax, cat, the Python loop) is in self_ms
    root, head = report.root.extra, report.row("head").extra
    assert root["time_ms"] >= root["self_ms"] > 0
    assert root["time_ms"] >= head["time_ms"] > 0
    # a method that waits 20 ms outside the forward: that time is the root's own (a lower bound, not a speed)
    waited = profile(model, torch.zeros(1, 4, dtype=torch.long), method="waits", measure=True, repeat=2, warmup=0)
    assert waited.root.extra["self_ms"] >= 20
    assert waited.row("head").extra["time_ms"] < waited.root.extra["time_ms"]
    assert any("waits call without hooks" in line for line in waited.extra["footer"])


def tiny_whisper():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    config = transformers.WhisperConfig(
        vocab_size=100, num_mel_bins=8, encoder_layers=1, decoder_layers=1, d_model=16, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=20,
        max_target_positions=40, decoder_start_token_id=1, eos_token_id=2, pad_token_id=0, bos_token_id=1)
    torch.manual_seed(0)
    return transformers.WhisperForConditionalGeneration(config).eval()


def whisper_generate_macs(steps: int, mels=8, frames=40, d=16, ffn=32, vocab=100, layers=1) -> dict:
    """Encoder once: conv1 (kernel 3, mels → d, every frame), conv2 (kernel 3, stride 2: S = frames/2),
    per layer 4·S·d² + 2·S²·d + 2·S·d·ffn. Decoder, one token per step with a KV cache, step t
    attending to t + 1 positions, per layer: self-attention 4·d² + 2·(t + 1)·d, cross-attention
    queries and output 2·d² + 2·S·d, its keys and values 2·S·d² once (cached), FFN 2·d·ffn; the LM
    head d·vocab per step."""
    S = frames // 2
    encoder = frames * d * mels * 3 + S * d * d * 3 + layers * (4 * S * d * d + 2 * S * S * d + 2 * S * d * ffn)
    decoder = layers * (sum(4 * d * d + 2 * (t + 1) * d + 2 * d * d + 2 * S * d + 2 * d * ffn for t in range(steps))
                        + 2 * S * d * d)
    return {"encoder": encoder, "decoder": decoder, "head": steps * d * vocab}


def test_whisper_generate_with_its_kv_cache_by_hand():
    model, steps = tiny_whisper(), 5
    report = profile(model, torch.randn(1, 8, 40), method="generate",
                     kwargs=dict(max_new_tokens=steps, min_new_tokens=steps, do_sample=False))
    expected = whisper_generate_macs(steps)
    assert report.row("model.encoder").cost.macs == expected["encoder"] == 84_480
    assert report.row("model.decoder").cost.macs == expected["decoder"] == 26_720
    assert report.row("proj_out").cost.macs == expected["head"]
    assert report.total.macs == sum(expected.values())
    assert report.row("model.encoder").calls == 1
    assert report.row("model.decoder").calls == report.root.calls == steps
    assert report.coverage == 1.0


def test_llama_generate_is_a_prefill_then_one_token_per_step_by_hand():
    """Hugging Face Llama's generate: the prompt's L0 tokens at once, then one token per step
    attending to every cached position; the LM head on the last position only."""
    from test_llm_workloads import llama_macs, tiny_llama_config

    transformers, config = tiny_llama_config()
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    L0, n = 5, 4
    report = profile(model, torch.randint(3, 99, (1, L0)), method="generate", convention="macs",
                     kwargs=dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0))
    prefill = llama_macs(L0, L0, lm_rows=1)
    steps = sum(llama_macs(1, L0 + t, lm_rows=1) for t in range(1, n))
    assert report.total.macs == prefill + steps
    assert report.root.calls == report.row("lm_head").calls == n
    assert report.root.output_shapes == [(1, L0 + n)]
    assert report.coverage == 1.0
    # beam search runs every step for each of the beams: 3 sequences where greedy runs 1
    beams = profile(model, torch.randint(3, 99, (1, L0)), method="generate", convention="macs",
                    kwargs=dict(max_new_tokens=n, min_new_tokens=n, num_beams=3, do_sample=False, pad_token_id=0))
    assert beams.total.macs == 3 * (prefill + steps)
    # sampling: the same MACs, and every step's draw (multinomial over the vocabulary) counted
    sampled = profile(model, torch.randint(3, 99, (1, L0)), method="generate", convention="macs",
                      kwargs=dict(max_new_tokens=n, min_new_tokens=n, do_sample=True, top_k=0, pad_token_id=0))
    assert sampled.total.macs == prefill + steps and sampled.complete, sampled.uncounted


def test_cli_method_with_literal_keywords(tmp_path, capsys):
    source = tmp_path / "toy_lm.py"
    source.write_text("import sys\nsys.path.insert(0, %r)\nfrom test_method import ToyLM\n" % str(
        __import__("pathlib").Path(__file__).parent))
    code = cli_main([f"{source}:ToyLM", "--input", "1x4:int64", "--method", "generate(new_tokens=2)",
                     "--device", "cpu", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["root"]["calls"] == 2
    assert out["method"] == "generate" and out["model"] == "ToyLM.generate"
    assert out["total"]["macs"] == (4 + 5) * D * VOCAB
    for bad, says in (("generate(2)", "give its arguments by keyword"), ("generat", "did you mean generate"),
                      ("a.b", "a method name"), ("generate(new_tokens=2", "bad --method 'generate(new_tokens=2': "
                                                 "unbalanced parentheses; e.g. generate(max_new_tokens=8)"),
                      ("to", "is a method of every nn.Module")):
        assert cli_main([f"{source}:ToyLM", "--input", "1x4:int64", "--method", bad]) == 2
        assert says in capsys.readouterr().err
    # --method forward is the forward: named and exported as one
    assert cli_main([f"{source}:ToyLM", "--input", "1x4:int64", "--method", "forward", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] is None and out["model"] == "ToyLM"
    # a DataParallel wrapper from the builder: the method is its module's (as profile finds it)
    wrapped = tmp_path / "wrapped.py"
    wrapped.write_text(source.read_text() + "import torch\ndef build():\n    return torch.nn.DataParallel(ToyLM())\n")
    assert cli_main([f"{wrapped}:build", "--input", "1x4:int64", "--method", "generate(new_tokens=2)",
                     "--device", "cpu", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["forward_calls"] == 2


class _KeywordsLM(ToyLM):
    """A generate with a catch-all for further keywords."""

    def generate(self, ids, new_tokens: int = 3, **options):
        return super().generate(ids, new_tokens)


class _PositionalLM(ToyLM):
    """A generate whose input is positional only."""

    def generate(self, ids, /, new_tokens: int = 3):
        return super().generate(ids, new_tokens)


def test_a_keyword_the_method_cannot_take_is_an_error_before_any_forward(tmp_path, capsys):
    """It raised a TypeError at call time, inside the profile: a ForwardError, the CLI's exit 1 (a model
    error). Now a TypeError naming the method and the keyword before the forward runs, exit 2 in the
    CLI; a method with **kwargs takes any keyword."""
    model, ids = ToyLM(), torch.zeros(1, 4, dtype=torch.long)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(TypeError, match=r"ToyLM.generate\(\) takes no keyword argument 'bogus_kw' \(not a keyword it "
                                        r"takes; it takes new_tokens\)"):
        profile(model, ids, method="generate", kwargs={"bogus_kw": 1})
    with pytest.raises(TypeError, match=r"'new_token' .* did you mean new_tokens\?"):
        profile(model, ids, method="generate", kwargs={"new_token": 1})
    with pytest.raises(TypeError, match=r"ToyLM.generate\(\) is given 'ids' twice: as its input number 1 and as a keyword"):
        profile(model, ids, method="generate", kwargs={"ids": ids})
    assert calls == []  # no forward ran
    with pytest.raises(TypeError, match=r"_PositionalLM.generate\(\) takes no keyword argument 'ids' \(positional only"):
        profile(_PositionalLM(), (), method="generate", kwargs={"ids": ids})
    assert profile(_KeywordsLM(), ids, method="generate", kwargs={"anything": 1, "new_tokens": 2}).forward_calls == 2

    source = tmp_path / "toy_lm.py"
    source.write_text("import sys\nsys.path.insert(0, %r)\nfrom test_method import ToyLM\n" % str(
        __import__("pathlib").Path(__file__).parent))
    for extra, says in ((["--method", "generate(bogus_kw=1)"],
                         "error: --method: method='generate': ToyLM.generate() takes no keyword argument 'bogus_kw'"),
                        (["--input", "mask=1x4", "--method", "generate(new_tokens=1)"],
                         "error: --input: method='generate': ToyLM.generate() takes no keyword argument 'mask'")):
        assert cli_main([f"{source}:ToyLM", "--input", "1x4:int64", *extra]) == 2
        assert says in capsys.readouterr().err
    # the forward's too (no --method): it exited 1, as if the model had failed
    assert cli_main([f"{source}:ToyLM", "--input", "1x4:int64", "--input", "mask=1x4"]) == 2
    assert "error: --input: ToyLM.forward() takes no keyword argument 'mask'" in capsys.readouterr().err


def test_whisper_generate_example_matches_the_closed_form():
    """examples/whisper_generate.py (Whisper-tiny-shaped: 4 + 4 layers, d 384, 3000 frames) at 3 tokens."""
    pytest.importorskip("transformers")
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "examples" / "whisper_generate.py"), "3"], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = whisper_generate_macs(3, mels=80, frames=3000, d=384, ffn=1536, vocab=51865, layers=4)
    for path, key in (("model.encoder", "encoder"), ("model.decoder", "decoder"), ("proj_out", "head")):
        assert f"{path:14} torchcount {expected[key]:>15,} MACs" in result.stdout, result.stdout[-3000:]
    assert "DIFFERENT" not in result.stdout and "coverage: complete" in result.stdout
    assert "the decoder ran 3 times" in result.stdout


def _counted_passes(monkeypatch) -> list:
    """The CLI's progress bar made to appear (a silent one), and the passes its counter saw, appended
    to the list returned when the counter closes."""
    import torchcount.cli as cli

    counted = []

    class Recorder(cli.ProgressBar):
        def __call__(self, done, total, label=""):
            pass

    monkeypatch.setattr(cli, "_progress_bar", lambda: Recorder())
    close = cli._PassCounter.close
    monkeypatch.setattr(cli._PassCounter, "close", lambda self: (counted.append(self.n), close(self)))
    return counted


def test_cli_measure_progress_counts_method_calls_and_puts_the_method_back(tmp_path, capsys, monkeypatch):
    """The progress bar counts passes: one generate call each (it counted the 2 forwards inside it);
    the counting wrapper it sets on the instance is removed afterwards."""
    import torchcount.cli as cli

    source = tmp_path / "toy_lm.py"
    source.write_text("import sys\nsys.path.insert(0, %r)\nfrom test_method import ToyLM\n" % str(
        __import__("pathlib").Path(__file__).parent))
    counted, built = _counted_passes(monkeypatch), []
    build = cli.build
    monkeypatch.setattr(cli, "build", lambda *a, **k: (lambda got: (built.append(got[0]), got)[1])(build(*a, **k)))
    code = cli_main([f"{source}:ToyLM", "--input", "1x4:int64", "--method", "generate(new_tokens=2)",
                     "--measure", "--device", "cpu", "--warmup", "1", "--repeat", "2", "--format", "json"])
    assert code == 0, capsys.readouterr().err
    # counting, warm-up and repeats (plain and timed), the floor-probing pass, memory
    assert counted == [1 + 2 * 1 + 2 * 2 + 1 + 1]
    assert "generate" not in built[0].__dict__
    assert json.loads(capsys.readouterr().out)["forward_calls"] == 2


class TrainStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))

    def train_step(self, x, y):
        loss = nn.functional.mse_loss(self(x), y)
        loss.backward()
        return loss


def test_a_training_step_counts_its_backward_and_puts_the_gradients_back():
    """The backward's matrix products: fc2's input and weight gradients (N·16·4 each), fc1's weight
    gradient (N·8·16; its input needs none), in the root's own row; every .grad as it was found
    (None stays None; an existing gradient, which the backward accumulates into, keeps its values)."""
    model, N = TrainStep(), 32
    x, y = torch.randn(N, 8), torch.randn(N, 4)
    model.fc2.weight.grad = torch.ones(4, 16)
    before = model.fc2.weight.grad
    report = profile(model, (x, y), method="train_step")
    forward = N * (8 * 16 + 16 * 4)
    assert report.root.self_cost.macs == N * 16 * 4 * 2 + N * 8 * 16
    assert report.total.macs == forward + report.root.self_cost.macs
    assert model.fc1.weight.grad is None and model.fc1.bias.grad is None and model.fc2.bias.grad is None
    assert model.fc2.weight.grad is before and torch.equal(before, torch.ones(4, 16))
    assert any("a backward pass set or changed the .grad of 4 parameter(s)" in note for note in report.notes)
    # against torch.utils.flop_counter, which counts the same products (2 FLOPs per MAC)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        TrainStep().train_step(x, y)
    assert counter.get_total_flops() == 2 * report.total.macs


@pytest.mark.parametrize("layers", [4, 5])
def test_the_note_on_gradients_a_backward_set_names_four_then_an_ellipsis(layers):
    """A step whose backward sets the .grad of every weight of four or five bias-free Linear(2, 2): the
    note counts them (4, 5) and names the first four, with '…' after them only where a fifth is left out —
    the ellipsis after exactly four names was pinned by no test (every one had four gradients or fewer)."""
    model = nn.Sequential(*(nn.Linear(2, 2, bias=False) for _ in range(layers)))

    def step(model, x):
        model(x).sum().backward()

    report = profile(model, torch.randn(3, 2), method=step)
    assert all(p.grad is None for p in model.parameters())
    named = "0.weight, 1.weight, 2.weight, 3.weight" + (" …" if layers > 4 else "")
    assert f"a backward pass set or changed the .grad of {layers} parameter(s) ({named}); put back as found" \
        in report.notes, report.notes


# ---- a function as the method: a training step written outside the model ----------------------
def sgd_step_of(optimizer):
    """A training step as user code writes it: a free function given the model first."""
    def train_step(model, x, y):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return train_step


def test_a_function_as_the_method_counts_what_the_models_own_method_counts():
    """``method=train_step`` (a function called as train_step(model, x, y)) counts the same step as
    TrainStep's own method: the forward N·(8·16 + 16·4) MACs, the backward's products fc2's input and
    weight gradients (N·16·4 each) and fc1's weight gradient (N·8·16), and SGD's update of every
    parameter (a multiplication and an addition per element, momentum 0)."""
    torch.manual_seed(0)
    model, N = TrainStep(), 32
    x, y = torch.randn(N, 8), torch.randn(N, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    found = snapshot(model)
    report = profile(model, (x, y), method=sgd_step_of(optimizer))
    assert report.total.macs == N * (8 * 16 + 16 * 4) + N * 16 * 4 * 2 + N * 8 * 16
    assert report.forward_calls == 1 and report.method == "train_step"
    assert report.model_name == "train_step(TrainStep)"
    # the model and the optimizer (its momentum buffers, made by this first step) as they were found
    assert snapshot(model) == found and optimizer.state_dict()["state"] == {}
    assert all(p.grad is None for p in model.parameters())
    assert any("train_step stepped optimizer(s) SGD ×1" in note for note in report.notes)
    assert any("profiled one call of train_step(TrainStep, ...)" in note for note in report.notes)
    # the model's own method, stepping the same kind of optimizer, counts exactly the same
    twin = TrainStep()
    twin.load_state_dict(model.state_dict())
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    twin.step = lambda x, y: sgd_step_of(twin_optimizer)(twin, x, y)
    assert profile(twin, (x, y), method="step").total.cost == report.total.cost
    # read back from its JSON, the report still says it profiled a function
    loaded = torchcount.load_report(report.to_json())
    assert json.loads(report.to_json())["method_is_function"] is True
    assert "the ops train_step(TrainStep, ...) ran outside any module's forward" in loaded.explain("")


def test_a_method_the_model_holds_as_a_function_has_its_optimizer_and_scheduler_put_back():
    """``model.step = step``, a function of the user's holding its SGD and StepLR in its closure (not
    the model's attributes), profiled as method="step": the scheduler it steps was not found, so its
    last_epoch stayed 1 (and under torch 2.2, whose optimizer steps run no hooks once dynamo has
    compiled anything, the SGD's update of every parameter was not put back: ParameterModifiedError).
    Now what the function holds is searched as for a function given as the method: the scheduler back
    at last_epoch 0 and lr 0.1, the parameters and the momentum buffers as found."""
    torch.manual_seed(0)
    model, x, y = TrainStep(), torch.randn(4, 8), torch.randn(4, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    def step(x, y):
        sgd_step_of(optimizer)(model, x, y)
        scheduler.step()

    model.step = step
    found = snapshot(model)
    report = profile(model, (x, y), method="step")
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1
    assert snapshot(model) == found and optimizer.state_dict()["state"] == {}
    assert any("stepped learning-rate scheduler(s) StepLR" in note for note in report.notes)
    assert any("stepped optimizer(s) SGD ×1" in note for note in report.notes)


def test_a_function_method_is_checked_before_any_forward():
    calls = []
    model = TrainStep()
    model.register_forward_pre_hook(lambda *_: calls.append(1))

    def step(model, x, y):
        return model(x)

    with pytest.raises(TypeError, match=r"train_step\(model, input\), which its signature .*missing a required"):
        profile(model, (torch.randn(2, 8),), method=sgd_step_of(torch.optim.SGD(model.parameters(), lr=0.1)))
    with pytest.raises(TypeError, match="takes no keyword argument 'z'"):
        profile(model, (torch.randn(2, 8), torch.randn(2, 4)), kwargs={"z": 1}, method=step)
    with pytest.raises(TypeError, match="a function called as method\\(model, \\*inputs\\), got int"):
        profile(model, torch.randn(2, 8), method=3)
    with pytest.raises(TypeError, match="got Linear"):
        profile(model, torch.randn(2, 8), method=nn.Linear(8, 4))
    assert calls == []

    def forward(model, x):  # a function named forward is still a function given the model
        return model(x) * 2

    report = profile(model, torch.randn(2, 8), method=forward)
    assert report.method == "forward" and report.forward_calls == 1
    assert report.root.self_cost.mults == 2 * 4  # its own × 2


def test_a_measured_function_method():
    model = TrainStep()
    seen = []

    def predict(model, x):
        seen.append(1)
        return model(x).argmax(-1)

    report = profile(model, torch.randn(3, 8), method=predict, measure=True, repeat=2, warmup=1)
    assert report.root.extra["time_ms"] >= report.row("fc1").extra["time_ms"] > 0
    assert any("predict call without hooks" in line for line in report.extra["footer"])
    assert len(seen) > 1 + 1 + 2  # the counted call, the warm-up, the timed passes (and the extra passes)


def test_a_function_methods_closed_over_scheduler_is_put_back():
    """A scheduler the step function holds in its closure (no attribute of the model, no input):
    stepped by the profiled call, it is put back, as one the model holds is."""
    model = TrainStep()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    step = sgd_step_of(optimizer)

    def train_step(model, x, y):
        loss = step(model, x, y)
        scheduler.step()
        return loss

    report = profile(model, (torch.randn(2, 8), torch.randn(2, 4)), method=train_step)
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1
    assert any("train_step stepped learning-rate scheduler(s) StepLR" in note for note in report.notes)


def test_a_scheduler_given_as_an_input_is_put_back():
    """A scheduler passed to the method itself (not held by the model): its epoch counter and the
    optimizer's rate as found (it was searched for among the scheduler's own attributes only)."""
    model = TrainStep()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    model.step_with = lambda x, y, scheduler: (sgd_step_of(optimizer)(model, x, y), scheduler.step())
    report = profile(model, (torch.randn(2, 8), torch.randn(2, 4), scheduler), method="step_with")
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1
    assert any("stepped learning-rate scheduler(s) StepLR" in note for note in report.notes)


def test_a_scheduler_holding_a_tensor_that_the_step_left_alone_is_not_named():
    """A scheduler whose state holds a tensor of several elements (per-group warm-up factors): comparing
    its state_dict with == raised ("Boolean value of Tensor with more than one value is ambiguous"), and
    the scheduler was reloaded and named as stepped by a method that never touched it."""
    class Warmup(torch.optim.lr_scheduler.LambdaLR):
        def __init__(self, optimizer):
            self.factors = torch.tensor([1.0, 0.5])
            super().__init__(optimizer, lambda epoch: 1.0)

    model = TrainStep()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.scheduler = Warmup(optimizer)
    step = sgd_step_of(optimizer)
    report = profile(model, (torch.randn(2, 8), torch.randn(2, 4)), method=lambda m, x, y: step(m, x, y))
    assert not any("scheduler" in note for note in report.notes)
    model.scheduler.factors = torch.tensor([1.0, 0.5])  # (a fresh one: the same values)
    report = profile(model, (torch.randn(2, 8), torch.randn(2, 4)),
                     method=lambda m, x, y: (step(m, x, y), m.scheduler.step()))
    assert model.scheduler.last_epoch == 0
    assert any("stepped learning-rate scheduler(s) Warmup" in note for note in report.notes)


def test_a_scheduled_step_raises_no_scheduler_warning():
    """A step that steps its optimizer and then its scheduler, in the order torch asks for, made
    torch warn "optimizer.step() has been overridden after learning rate scheduler initialization":
    the wrapper that sees the step replaced the scheduler's, whose mark the scheduler's first step
    looks for. The same step with no profile warns nothing; nor does the profiled one now (the
    optimizer and scheduler given as inputs, or held by the model). (torchcount.profile itself: this
    file's profile() silences warnings.)"""
    def scheduled(model, x, y, optimizer, scheduler):
        sgd_step_of(optimizer)(model, x, y)
        scheduler.step()

    def made():
        model = TrainStep()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    x, y = torch.randn(2, 8), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduled(*made()[:1], x, y, *made()[1:])  # (a fresh one, unprofiled: no warning to begin with)
        model, optimizer, scheduler = made()
        torchcount.profile(model, (x, y, optimizer, scheduler), method=scheduled, warn=False)
        model, optimizer, scheduler = made()
        model.optimizer, model.scheduler = optimizer, scheduler
        torchcount.profile(model, (x, y), method=lambda model, x, y: scheduled(model, x, y, model.optimizer,
                                                                              model.scheduler), warn=False)
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1


# ---- where a step function holds its scheduler and scaler: each is put back ---------------------
def scaled_step(model, x, y, optimizer, scheduler, scaler):
    """One AMP training step (the scaler None: unscaled), then the scheduler's step."""
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    scheduler.step()
    return loss


_OPTIMIZER = _SCHEDULER = _SCALER = None  # (set by the test of a step that names them as globals)


def global_step(model, x, y):
    return scaled_step(model, x, y, _OPTIMIZER, _SCHEDULER, _SCALER)


class Trainer:
    """A training loop's object: its step is a bound method, or the object itself is called."""

    def __init__(self, optimizer, scheduler, scaler):
        self.optimizer, self.scheduler, self.scaler = optimizer, scheduler, scaler

    def step(self, model, x, y):
        return scaled_step(model, x, y, self.optimizer, self.scheduler, self.scaler)

    def __call__(self, model, x, y):
        return self.step(model, x, y)


def _holding(holder: str, optimizer, scheduler, scaler):
    """A step function that reaches the three through ``holder``."""
    import functools

    if holder == "global":
        global _OPTIMIZER, _SCHEDULER, _SCALER
        _OPTIMIZER, _SCHEDULER, _SCALER = optimizer, scheduler, scaler
        return global_step
    if holder == "default argument":
        def step(model, x, y, optimizer=optimizer, scheduler=scheduler, scaler=scaler):
            return scaled_step(model, x, y, optimizer, scheduler, scaler)
        return step
    if holder == "keyword-only default":
        def step(model, x, y, *, optimizer=optimizer, scheduler=scheduler, scaler=scaler):
            return scaled_step(model, x, y, optimizer, scheduler, scaler)
        return step
    if holder == "bound method of another object":
        return Trainer(optimizer, scheduler, scaler).step
    if holder == "partial of a bound method":
        return functools.partial(Trainer(optimizer, scheduler, scaler).step)
    if holder == "callable object":
        return Trainer(optimizer, scheduler, scaler)
    if holder == "closed-over helper":  # the function closes over a helper, which closes over the three
        def make(optimizer, scheduler, scaler):
            return lambda model, x, y: scaled_step(model, x, y, optimizer, scheduler, scaler)
        helper = make(optimizer, scheduler, scaler)

        def step(model, x, y):
            return helper(model, x, y)
        return step
    raise AssertionError(holder)


@pytest.mark.parametrize("holder", ["global", "default argument", "keyword-only default",
                                    "bound method of another object", "partial of a bound method",
                                    "callable object", "closed-over helper"])
def test_a_step_functions_scheduler_and_scaler_are_put_back_wherever_it_holds_them(holder):
    """StepLR(step_size=1, gamma=0.5) halves the rate at each step (0.1 → 0.05, last_epoch 0 → 1), and a
    GradScaler(init_scale=1024, growth_interval=1) doubles its scale after a step without inf (1024 →
    2048): none of that, nor Adam's state (made by the first step), stays after the profile."""
    from conftest import probe

    model = TrainStep()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1) \
        if probe("AMP's GradScaler on CPU") else None
    found = snapshot(model)
    try:
        report = profile(model, (torch.randn(2, 8), torch.randn(2, 4)),
                         method=_holding(holder, optimizer, scheduler, scaler))
    finally:
        _holding("global", None, None, None)
    assert snapshot(model) == found and optimizer.state_dict()["state"] == {}
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1
    assert any("stepped learning-rate scheduler(s) StepLR; put back" in note for note in report.notes)
    if scaler is not None:
        assert scaler.get_scale() == 1024.0
        assert any("used AMP gradient scaler(s) GradScaler" in note for note in report.notes)
    # the step itself does as said when run for real
    scaled_step(model, torch.randn(2, 8), torch.randn(2, 4), optimizer, scheduler, scaler)
    assert scheduler.last_epoch == 1 and optimizer.param_groups[0]["lr"] == 0.05
    assert scaler is None or scaler.get_scale() == 2048.0


def test_a_measured_step_function_puts_back_its_global_scheduler():
    """Each measured pass steps the scheduler again (a counting pass, a warm-up, two timed passes and
    the extra ones): afterwards it is where it was, as after counting alone."""
    model = TrainStep()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    try:
        profile(model, (torch.randn(2, 8), torch.randn(2, 4)), method=_holding("global", optimizer, scheduler, None),
                measure=True, repeat=2, warmup=1)
    finally:
        _holding("global", None, None, None)
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1


class _AsyncLM(ToyLM):
    async def agenerate(self, ids):
        return self(ids)

    async def astream(self, ids):  # an async streaming generate
        yield self(ids)


def test_an_async_method_or_function_is_an_error_before_any_forward():
    """An async function (or async generator function: an async streaming decode) cannot be run
    synchronously: a TypeError before the model runs, not a profile of nothing (an async generator's
    body never ran: 0 forward calls, 0 MACs) nor an error from inside the profile."""
    model, ids = _AsyncLM(), torch.tensor([[1, 2, 3]])
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))

    async def step(model, ids):
        return model(ids)

    async def stream(model, ids):
        yield model(ids)

    for method, what in ((step, "async function"), (stream, "async generator function"),
                         ("agenerate", "async function"), ("astream", "async generator function")):
        with pytest.raises(TypeError, match=f"is an {what}"):
            profile(model, ids, method=method)
    assert calls == []
    # one only its result tells (a plain function returning an async generator): an error, not 0 MACs
    with pytest.raises(torchcount.ForwardError, match="is an async generator function"):
        profile(model, ids, method=lambda model, ids: stream(model, ids))


class Twice:
    def __call__(self, model, x):
        return model(x) + model(x)


def test_a_function_methods_name_in_every_form():
    """The report's name is the function's, given the model's type: a partial is named by the function
    it wraps (not "partial"), a bound method by the method, a callable object by its class; a
    TorchScript module's report by the function too (its forward ran twice: 2·N·(8·16 + 16·4) MACs)."""
    import functools

    model, N = TrainStep(), 2
    x = torch.randn(N, 8)

    def scaled(model, x, k=1):
        return model(x) * k

    def twice(model, x):
        return model(x) + model(x)

    report = profile(model, x, method=functools.partial(scaled, k=2))
    assert (report.model_name, report.method) == ("scaled(TrainStep)", "scaled")
    assert "profiled one call of scaled(TrainStep, ...)" in " ".join(report.notes)
    assert profile(model, x, method=Twice()).model_name == "Twice(TrainStep)"
    assert profile(model, x, method=functools.partial(functools.partial(twice))).model_name == "twice(TrainStep)"
    scripted = torch.jit.script(TrainStep())
    report = profile(scripted, x, method=twice)
    assert report.model_name == f"twice({type(scripted).__name__})" and report.forward_calls == 2
    assert report.total.macs == 2 * N * (8 * 16 + 16 * 4)
    assert profile(scripted, x, method=twice, name="mine").model_name == "mine"
    with pytest.raises(TypeError, match=r"method=twice is not supported"):
        torchcount.receptive_field(model, x, method=twice)


def test_modules_a_step_function_holds_are_put_back_as_its_inputs_are():
    """A teacher the step function closes over, or that its trainer object holds (a BatchNorm in
    training mode: a forward moves its running mean off 0 and counts a batch), keeps its state as a
    teacher given as an input does, and its work is counted the same (the root's own row: the model's
    N·4·4 MACs and the teacher's N·4·4); an EMA copy the step writes in place is a
    ParameterModifiedError naming it, and restored bit for bit with copy_params=True."""
    N = 8
    model, x = nn.Linear(4, 4), torch.randn(N, 4)
    teacher = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))

    def distill(model, x):
        return (model(x) - teacher(x)).square().mean()

    def distill_given(model, x, teacher):
        return (model(x) - teacher(x)).square().mean()

    class Distiller:
        def __init__(self, teacher):
            self.teacher = teacher

        def step(self, model, x):
            return (model(x) - self.teacher(x)).square().mean()

    given = profile(model, (x, teacher), method=distill_given)
    assert given.total.macs == 2 * N * 4 * 4
    for method in (distill, Distiller(teacher).step):
        report = profile(model, x, method=method)
        assert teacher[1].num_batches_tracked.item() == 0 and torch.equal(teacher[1].running_mean, torch.zeros(4))
        assert report.total.cost == given.total.cost
        assert any(note.startswith("module(s) held by ") and "Sequential" in note for note in report.notes)

    ema = nn.Linear(4, 4)
    found = ema.weight.detach().clone()

    def ema_step(model, x):
        out = model(x)
        with torch.no_grad():
            for average, p in zip(ema.parameters(), model.parameters()):
                average.mul_(0.9).add_(p, alpha=0.1)
        return out

    with pytest.raises(torchcount.ParameterModifiedError, match=r"ema\.weight"):
        profile(model, x, method=ema_step)
    ema.weight.data.copy_(found)  # (the error says it could not be put back)
    restored = profile(model, x, method=ema_step, copy_params=True)
    assert torch.equal(ema.weight, found)
    # (the note named "the forward", which had not written them)
    assert "the ema_step call wrote parameter(s) in place; restored from the copy: ema.weight, ema.bias" in restored.notes


def test_a_bound_method_of_the_module_a_wrapper_wraps_is_that_method():
    """``method=compiled.generate`` (torch.compile forwards the attribute to the original module) and
    ``method=model.generate`` beside a DataParallel wrapper of ``model`` are ``method="generate"`` of
    the module profiled, not a function called as generate(model, ids) (which fed the model as the
    token ids: a TypeError inside the profile)."""
    model, ids = ToyLM(), torch.tensor([[1, 2, 3]])
    want = profile(model, ids, method="generate")
    compiled = torch.compile(model)
    for wrapper, method in ((compiled, compiled.generate), (nn.DataParallel(model), model.generate)):
        report = profile(wrapper, ids, method=method)
        assert (report.model_name, report.method, report.forward_calls) == ("ToyLM.generate", "generate", 3)
        assert report.total.cost == want.total.cost


class _Unbound:
    """A proxy whose every attribute raises (a request-bound global of a web framework)."""

    def __getattribute__(self, name):
        raise RuntimeError("not bound")


UNBOUND = _Unbound()


def uses_a_proxy(model, x):
    if x is None:
        UNBOUND.run()
    return model(x)


def test_a_step_function_naming_an_uninspectable_global_is_profiled():
    """Searching what a function holds for its scheduler reads the globals it names: one that cannot
    be inspected (isinstance raises) is skipped, not the profile's error; 2·8·4 MACs counted."""
    report = profile(nn.Linear(8, 4), torch.randn(2, 8), method=uses_a_proxy)
    assert report.total.macs == 2 * 8 * 4 and report.forward_calls == 1


def test_cli_method_a_function_from_a_file(tmp_path, capsys, monkeypatch):
    """--method path/file.py:function: the function is loaded (not called) and profiled as
    method=function, called as function(model, *inputs, **keywords); the progress bar counts its calls."""
    steps = tmp_path / "steps.py"
    steps.write_text("def twice(model, x, scale=1.0):\n    return model(x) + model(x) * scale\n")
    code = cli_main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--method", f"{steps}:twice(scale=3.0)",
                     "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["method"] == "twice" and doc["method_is_function"] is True
    assert doc["forward_calls"] == 2
    assert doc["total"]["cost"]["macs"] == 2 * (2 * 8 * 4)  # two forwards of a 2×8 batch through 8 → 4
    assert doc["model"] == "twice(Linear)"
    # measured with the progress bar: a pass is one call of the function
    counted = _counted_passes(monkeypatch)
    assert cli_main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--method", f"{steps}:twice", "--measure",
                     "--warmup", "1", "--repeat", "2", "--format", "json"]) == 0
    assert counted == [1 + 2 * 1 + 2 * 2 + 1 + 1]
    capsys.readouterr()
    for method, message in ((f"{steps}:thrice", "does not define 'thrice'; did you mean twice"),
                            (f"{steps}:twice(x=1)", "given 'x' twice")):
        assert cli_main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--method", method]) == 2
        assert message in capsys.readouterr().err


def test_cli_method_function_that_cannot_be_loaded_names_the_option(tmp_path, capsys):
    """Each way a --method function fails to load is one line naming --method (the loader's messages
    are MODEL's too, and said only 'no such file: …', 'm.py:LIMIT is a int, not a callable'); a file
    that raises while it runs is a model error (exit 1), as for MODEL; positional arguments' example
    uses the function's own keywords, not generate's max_new_tokens."""
    steps = tmp_path / "steps.py"
    steps.write_text("LIMIT = 3\n\ndef twice(model, x, scale=1.0):\n    return model(x) + model(x) * scale\n")
    broken = tmp_path / "broken.py"
    broken.write_text("import torchcount_no_such_module_xyz\n\ndef step(model, x):\n    return model(x)\n")
    cases = [(f"{tmp_path / 'none.py'}:step", 2, "no such file"),
             ("torchcount_no_such_module_xyz:step", 2, "cannot import module 'torchcount_no_such_module_xyz'"),
             (f"{steps}:thrice", 2, "does not define 'thrice'"),
             (f"{steps}:LIMIT", 2, "is an int, not a callable"),
             (f"{broken}:step", 1, "No module named 'torchcount_no_such_module_xyz'"),
             (f"{steps}:twice(2.0)", 2, f"e.g. --method '{steps}:twice(scale=...)'")]
    for method, code, message in cases:
        assert cli_main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--method", method]) == code, method
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
        assert err.startswith("torchcount: error: --method" if code == 2 else "torchcount: model error: --method"), err


# ---- an optimizer given to the step function as an argument ----------------------------------
def _plain_step(model, x, y, optimizer):
    optimizer.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()


def test_an_optimizer_given_as_an_argument_runs_its_own_step_hooks():
    """An optimizer passed to the step function is the caller's own object (put back by its step hook,
    as one the model holds), not a deep copy: a copy kept only what Optimizer.__getstate__ names, so the
    caller's step hooks were dropped and their work went uncounted. The hook here doubles each of the
    Linear(3, 4)'s 12 + 4 parameters once: 16 multiplications more than the same step without it."""
    torch.manual_seed(0)
    x, y = torch.randn(2, 3), torch.randn(2, 4)
    model = nn.Linear(3, 4)
    without = profile(model, (x, y, torch.optim.SGD(model.parameters(), lr=0.1)), method=_plain_step)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ran = []

    def doubled(opt, args, kwargs):
        ran.append(1)
        for p in model.parameters():
            torch.mul(p.detach(), 2)

    optimizer.register_step_post_hook(doubled)
    found = snapshot(model)
    report = profile(model, (x, y, optimizer), method=_plain_step)
    if optimizer_step_hooks_run():
        assert ran == [1]
        assert report.total.cost.mults - without.total.cost.mults == 12 + 4
    else:  # (torch 2.2 once dynamo has compiled anything: no step hook runs, profiled or not)
        assert not TESTED_TORCH and ran == [] and report.total.cost == without.total.cost
    assert snapshot(model) == found and optimizer.state_dict()["state"] == {}


class _Trainer:
    """A user's object handed to the step function, holding its optimizer."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.steps = 0


def _trainer_step(model, x, y, trainer):
    trainer.steps += 1
    return _plain_step(model, x, y, trainer.optimizer)


def test_an_optimizer_inside_an_input_object_is_the_callers_own():
    """An input object is deep-copied (a forward may change it), and the optimizer it held was copied
    with it: the copy kept only what Optimizer.__getstate__ names, so the caller's step hook was
    dropped (its 16 multiplications uncounted) and LBFGS would lose ``_params``. The optimizer is
    shared, as one given directly is, and put back; the object itself is still a copy."""
    torch.manual_seed(0)
    x, y = torch.randn(2, 3), torch.randn(2, 4)
    model = nn.Linear(3, 4)
    without = profile(model, (x, y, _Trainer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))),
                      method=_trainer_step)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ran = []

    def doubled(opt, args, kwargs):
        ran.append(opt)
        for p in model.parameters():
            torch.mul(p.detach(), 2)

    optimizer.register_step_post_hook(doubled)
    trainer, found = _Trainer(optimizer), snapshot(model)
    report = profile(model, (x, y, trainer), method=_trainer_step)
    if optimizer_step_hooks_run():
        assert ran == [optimizer]
        assert report.total.cost.mults - without.total.cost.mults == 12 + 4
    else:  # (torch 2.2 once dynamo has compiled anything: no step hook runs, profiled or not)
        assert not TESTED_TORCH and ran == [] and report.total.cost == without.total.cost
    assert snapshot(model) == found and optimizer.state_dict()["state"] == {} and trainer.steps == 0


def test_lbfgs_given_as_an_argument_steps_and_is_put_back():
    """LBFGS keeps its parameters in ``_params`` (not in Optimizer.__getstate__: a deep copy lost it,
    and its step raised AttributeError) and its history in lists it appends to (they grew from 3 to 7
    entries across a profile): after a profiled step its state is as found, lists and all, and the
    next real step gives what the same step without the profile gives."""
    x, y = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.zeros(4, 2)

    def lbfgs_step(model, x, y, optimizer):
        def closure():
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        return optimizer.step(closure)

    def trained(profiled: bool):
        torch.manual_seed(1)
        model = nn.Linear(3, 2)
        optimizer = torch.optim.LBFGS(model.parameters(), max_iter=4)
        lbfgs_step(model, x, y, optimizer)  # a history to keep: 3 entries in old_dirs, old_stps, ro
        assert len(optimizer.state[optimizer._params[0]]["old_dirs"]) == 3
        if profiled:
            report = profile(model, (x, y, optimizer), method=lbfgs_step)
            assert report.forward_calls == 4  # the closure's forwards, max_iter of them
            assert len(optimizer.state[optimizer._params[0]]["old_dirs"]) == 3
        lbfgs_step(model, x, y, optimizer)
        return [p.detach().clone() for p in model.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(trained(True), trained(False)))


def test_a_submodule_the_step_function_replaces_is_put_back():
    """A function that swaps a layer of the model (a new head before a fine-tuning step) left the
    caller's model holding the fresh, randomly initialised layer, with no note: the model comes back
    with its own fc2 (the same object, weights as found), a note names it, and a submodule the
    function added is kept, as for a forward (docs/guarantees.md)."""
    def new_head(model, x):
        model.fc2 = nn.Linear(16, 4)
        model.extra = nn.Identity()
        return model(x)

    model = TrainStep()
    fc2, found = model.fc2, snapshot(model)
    report = profile(model, torch.randn(2, 8), method=new_head)
    assert model.fc2 is fc2 and list(model._modules) == ["fc1", "fc2", "extra"]
    del model.extra
    assert snapshot(model) == found
    assert any(note.startswith("the new_head call rebound or deleted submodule(s); put back: fc2")
               for note in report.notes)


def test_a_parametrization_the_step_function_registers_is_removed():
    """A function that parametrizes a layer (``register_parametrization(m.fc1, "weight", ...)``) then
    runs the model made profile raise ParameterModifiedError "modified parameter(s) fc1.weight in
    place" (registering set_()s the weight to itself), and left the model parametrized: fc1 of class
    ParametrizedLinear, holding ``parametrizations.weight.original``. The model comes back as found
    (fc1 a Linear, its weight in its slot, the same object, its values), with a note; the same with
    measure=True, whose passes each register it again, and when the step raises afterwards."""
    from torch.nn.utils import parametrize

    def parametrized(model, x):
        parametrize.register_parametrization(model.fc1, "weight", nn.Identity())
        return model(x)

    def parametrized_then_fails(model, x):
        parametrize.register_parametrization(model.fc1, "weight", nn.Identity())
        model(x)
        raise ValueError("after the parametrization")

    for step, options in ((parametrized, {}), (parametrized, {"measure": True, "warmup": 1, "repeat": 2}),
                          (parametrized_then_fails, {})):
        model = TrainStep()
        weight, found = model.fc1.weight, snapshot(model)
        if step is parametrized_then_fails:
            with pytest.raises(torchcount.ForwardError):
                torchcount.profile(model, torch.randn(2, 8), method=step, **options)
        else:
            report = torchcount.profile(model, torch.randn(2, 8), method=step, **options)
            assert any(note.startswith(f"the {step.__name__} call registered parametrization(s) "
                                       "(torch.nn.utils.parametrize) on fc1.weight; removed") for note in report.notes)
        assert type(model.fc1) is nn.Linear and not parametrize.is_parametrized(model.fc1)
        assert model.fc1.weight is weight and list(model.fc1._modules) == []
        assert list(model.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        assert snapshot(model) == found


def test_hooks_the_step_function_registers_are_removed():
    """A function that registers hooks (a forward hook on fc1, a tensor hook on fc2.weight, torch's
    process-wide forward hook) and runs a training step left them registered on the caller's model:
    with measure=True one more of each for every measured pass, each then called in every later
    forward or backward. They are removed, with a note; the model's own hooks stay."""
    calls = []

    def step(model, x, y):
        model.fc1.register_forward_hook(lambda *_: calls.append("fc1"))
        model.fc2.weight.register_hook(lambda g: calls.append("fc2.weight"))
        nn.modules.module.register_module_forward_hook(lambda *_: calls.append("global"))
        return model.train_step(x, y)

    for options in ({}, {"measure": True, "warmup": 1, "repeat": 2}):
        model = TrainStep()
        own = model.fc2.register_forward_hook(lambda *_: calls.append("own"))
        found, globals_found = snapshot(model), dict(nn.modules.module._global_forward_hooks)
        report = torchcount.profile(model, (torch.randn(2, 8), torch.randn(2, 4)), method=step, **options)
        assert snapshot(model) == found and dict(nn.modules.module._global_forward_hooks) == globals_found
        assert not model.fc2.weight._backward_hooks
        assert any(note.startswith("the step call registered hook(s), removed again: fc1 (forward hook), "
                                   "fc2.weight (tensor hook), torch.nn.modules.module._global_forward_hooks")
                   for note in report.notes)
        calls.clear()
        model.train_step(torch.randn(2, 8), torch.randn(2, 4))
        assert calls == ["own"]
        own.remove()


def test_submodules_and_parametrizations_are_put_back_where_modules_hold_ordered_dicts():
    """torch before 2.5 keeps a module's submodules in an OrderedDict, not a dict: the check for a
    TorchScript module's (which cannot be rebound) was ``type(m._modules) is dict``, false for every
    module there, so a replaced layer stayed replaced and a parametrization stayed registered on the
    oldest torch the package supports. Its modules are made as that torch makes them."""
    from collections import OrderedDict

    from torch.nn.utils import parametrize

    def as_older_torch(model):
        for m in model.modules():
            object.__setattr__(m, "_modules", OrderedDict(m._modules))
        return model

    def new_head(model, x):
        model.fc2 = nn.Linear(16, 4)
        return model(x)

    def parametrized(model, x):
        parametrize.register_parametrization(model.fc1, "weight", nn.Identity())
        return model(x)

    model = as_older_torch(TrainStep())
    fc2 = model.fc2
    report = profile(model, torch.randn(2, 8), method=new_head)
    assert model.fc2 is fc2 and any("put back: fc2" in note for note in report.notes)
    model = as_older_torch(TrainStep())
    weight = model.fc1.weight
    profile(model, torch.randn(2, 8), method=parametrized)
    assert type(model.fc1) is nn.Linear and not parametrize.is_parametrized(model.fc1)
    assert model.fc1.weight is weight and list(model.fc1._modules) == []


def test_the_slots_note_names_the_method_that_rebound_a_parameter():
    """The note for a parameter slot put back said "the forward" when a step function had rebound it."""
    model = nn.Sequential(nn.Linear(2, 2))
    bias = model[0].bias

    def step(m, x):
        m[0].bias = nn.Parameter(torch.zeros(2))
        return m(x)

    report = torchcount.profile(model, torch.randn(1, 2), method=step)
    assert "the step call rebound, added or removed parameter/buffer slot(s); put back: 0.bias" in report.notes
    assert model[0].bias is bias


class _StepsItsOptimizer(nn.Module):
    """A layer with an optimizer of its own; ``parametrization``: its weight parametrized
    (torch.nn.utils.parametrizations) as constructed."""

    def __init__(self, parametrization=None, optimizer=torch.optim.Adam):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3, 3)
        if parametrization is not None:
            parametrization(self.lin)
        self.opt = optimizer(self.parameters(), lr=0.1)

    def forward(self, x):
        return self.lin(x)


def _step(model, x):
    model(x).pow(2).sum().backward()
    model.opt.step()
    model.opt.zero_grad()


def _doubled_then_step(model, x):
    model.double()
    _step(model, x.double())


def _folded_then_step(model, x):
    from torch.nn.utils import parametrize

    parametrize.remove_parametrizations(model.lin, "weight")  # (leave_parametrized=True: set_() to its value)
    _step(model, x)


@pytest.mark.parametrize("step, parametrization", [
    (_doubled_then_step, None),
    (_folded_then_step, nn.utils.parametrizations.orthogonal),
    (_folded_then_step, nn.utils.parametrizations.spectral_norm)], ids=["converted", "orthogonal", "spectral_norm"])
@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_parameters_a_method_rebinds_then_steps_get_their_own_data_back(step, parametrization, optimizer):
    """A method that rebinds a parameter's data (``model.double()``; a parametrization's removal, which
    set_()s its original to the parametrized value) and then steps an optimizer left the model
    converted, or the original holding the folded-and-stepped values, silently: the step's copy of
    the parameter, taken after the rebinding (twice: the param group's ``params`` list was copied
    too), was put back over the data _restore_data had just given it back. Each copy now goes back
    into the data the step updated; the parameter keeps its own data, as found, and the next real
    step is the one it would have been."""
    x = torch.randn(4, 3)
    reference, model = _StepsItsOptimizer(parametrization, optimizer), _StepsItsOptimizer(parametrization, optimizer)
    found = snapshot(model)
    torchcount.profile(model, x, method=step, warn=False)
    assert snapshot(model) == found
    _step(reference, x)
    _step(model, x)
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), model.parameters()))


class _Doubled(nn.Module):
    """A parametrization without a right_inverse: registering it set_()s the weight to itself."""

    def forward(self, w):
        return 2 * w


def _registered_then_step(model, x):
    from torch.nn.utils import parametrize

    parametrize.register_parametrization(model.lin, "weight", _Doubled())
    _step(model, x)


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_a_parametrization_registered_before_the_step_is_no_write_of_the_method(optimizer):
    """A method that registers a parametrization (one version: its set_() of the weight to itself, no
    right_inverse) and then steps the optimizer holding that weight: the step's copy is taken at the
    version the registration left, one above the one found, and the registration's version is no write
    of the method's, so the copy puts the weight back (no ParameterModifiedError: reading the removal's
    count in place of the registration's, 0, took the registration for a write before the step). The
    weight is the same tensor with its values as found, the Linear its own class again, and the next
    real step is the one a never-profiled twin takes."""
    x = torch.randn(4, 3)
    reference, model = _StepsItsOptimizer(None, optimizer), _StepsItsOptimizer(None, optimizer)
    weight, found = model.lin.weight, snapshot(model)
    report = torchcount.profile(model, x, method=_registered_then_step, warn=False)
    assert model.lin.weight is weight and type(model.lin) is nn.Linear and snapshot(model) == found
    assert any(f"stepped optimizer(s) {optimizer.__name__} ×1" in note for note in report.notes)
    assert any("registered parametrization(s) (torch.nn.utils.parametrize) on lin.weight" in note
               for note in report.notes)
    _step(reference, x)
    _step(model, x)
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), model.parameters()))


class _Unfreezes(nn.Module):
    """A model whose training step unfreezes its head: it adds the head's parameters to its
    optimizer as a param group of their own (gradual unfreezing), then steps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(3, 3), nn.Linear(3, 3)
        self.opt = torch.optim.SGD(self.body.parameters(), lr=0.1)

    def forward(self, x):
        return self.head(self.body(x))

    def train_step(self, x, step: bool = True):
        self.opt.add_param_group({"params": list(self.head.parameters()), "lr": 0.01})
        if step:
            self(x).pow(2).sum().backward()
            self.opt.step()
            self.opt.zero_grad()


@pytest.mark.parametrize("step", [True, False], ids=["stepped", "not stepped"])
def test_a_param_group_the_method_adds_is_removed(step):
    """A training step that adds a param group to the model's optimizer (unfreezing a layer) left the
    group there: the optimizer's snapshot, taken at its first step, already held it (and, with no
    step, none was taken), so the caller's next real step trained the head it had frozen. The param
    groups the optimizer had are put back (the same list, the same dicts), with a note."""
    model, reference, x = _Unfreezes(), _Unfreezes(), torch.randn(4, 3)
    groups, found = model.opt.param_groups, list(model.opt.param_groups)
    report = torchcount.profile(model, (x, step), method="train_step", warn=False)
    assert model.opt.param_groups is groups and model.opt.param_groups == found and len(found) == 1
    assert all(a is b for a, b in zip(model.opt.param_groups, found))
    assert any("added or removed param groups of optimizer(s) SGD" in note for note in report.notes)
    for m in (model, reference):
        m(x).pow(2).sum().backward()
        m.opt.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))


def test_more_inputs_than_the_method_takes_and_bad_method_text_are_usage_errors(tmp_path, capsys):
    """Three --input tensors for ToyLM.generate(ids, new_tokens) ran the method, whose TypeError exited 1 as
    a model error ('failed outside any module's forward'), as profile(method=) raised a ForwardError: now a
    TypeError naming what the method takes, before any forward (exit 2, '--input'). A keyword given twice in
    --method was taken as its last value, silently; malformed literal text said 'bad arguments in' without
    the option, and Python's '(<unknown>, line 1)'."""
    model, ids = ToyLM(), torch.zeros(1, 4, dtype=torch.long)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(TypeError, match=r"^method='generate': ToyLM.generate\(\) takes 2 positional input\(s\) "
                                        r"\(ids, new_tokens\), not 3$"):
        profile(model, (ids, ids, ids), method="generate")
    assert calls == []  # no forward ran
    # two: the second fills new_tokens, as Python would call it (a default may be given positionally)
    assert profile(_KeywordsLM(), (ids, 2), method="generate").forward_calls == 2

    source = tmp_path / "toy_lm.py"
    source.write_text("import sys\nsys.path.insert(0, %r)\nfrom test_method import ToyLM\n" % str(
        __import__("pathlib").Path(__file__).parent))
    model_args = [f"{source}:ToyLM", "--input", "1x4:int64"]
    for extra, says in (
            (["--input", "1x4:int64", "--input", "1x4:int64", "--method", "generate"],
             "torchcount: error: --input: method='generate': ToyLM.generate() takes 2 positional input(s) "
             "(ids, new_tokens), not 3"),
            (["--input", "1x4:int64", "--input", "1x4:int64", "--method", "generate(new_tokens=1)"],
             "takes 2 positional input(s) (ids, new_tokens), not 3"),
            (["--method", "generate(1, 2)"], "torchcount: error: --method 'generate(1, 2)': give its arguments by "
                                             "keyword (the --input tensors come first)"),
            (["--method", "generate(new_tokens=1, new_tokens=2)"],
             "torchcount: error: bad arguments in --method 'generate(new_tokens=1, new_tokens=2)': keyword "
             "'new_tokens' is given more than once"),
            (["--method", "generate(new_tokens=)"], "torchcount: error: bad arguments in --method "
                                                    "'generate(new_tokens=)': only Python literals are allowed, e.g. "
                                                    "generate(max_new_tokens=8) (invalid syntax)\n"),
            (["--method", "generate(new_tokens=[1, 2)"], "(closing parenthesis ')' does not match opening "
                                                         "parenthesis '[')\n"),
            (["--method", "generate(new_tokens=two)"], "('two' is not a literal)"),
            (["--method", "generate(new_tokens=1, 2)"], "(positional argument follows keyword argument)"),
            # a keyword an --input NAME=… gives too, and one a positional --input fills
            (["--input", "new_tokens=1x1:int64", "--method", "generate(new_tokens=1)"],
             "torchcount: error: new_tokens is given both as --input new_tokens=… and in --method"),
            (["--method", "generate(ids=1)"], "torchcount: error: --method: method='generate': ToyLM.generate() is "
                                              "given 'ids' twice: as its input number 1 and as a keyword")):
        code = cli_main([*model_args, *extra])
        out, err = capsys.readouterr()
        assert code == 2 and out == "", (extra, err)
        assert says in err and "Traceback" not in err and "<unknown>" not in err, (extra, err)
    # MODEL's arguments are read the same way
    assert cli_main(["torch.nn:Linear(8, 4, bias=True, bias=False)", "--input", "2x8"]) == 2
    assert "bad arguments in MODEL 'torch.nn:Linear(8, 4, bias=True, bias=False)': keyword 'bias' is given more " \
           "than once" in capsys.readouterr().err


# ---- a step that writes the parameters before its optimizer's step: SAM ----------------------
def sam_step_of(optimizer, restore: str, rho: float = 0.05):
    """Sharpness-aware minimisation as user code writes it: a first forward and backward, the weights
    moved to w + ε (ε = ρ·g/‖g‖) in place, a second forward and backward there, the weights back to w
    (``p.data = old_p``, as the widely used davda54/sam does, or ``p.sub_(ε)``), then the step."""
    def sam_step(model, x, y):
        nn.functional.mse_loss(model(x), y).backward()
        with torch.no_grad():
            norm = torch.stack([p.grad.norm() for p in model.parameters()]).norm()
            kept = []
            for p in model.parameters():
                eps = p.grad * (rho / norm)
                kept.append((p, p.data.clone(), eps))
                p.add_(eps)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p, old, eps in kept:
                if restore == "rebinds":
                    p.data = old
                else:
                    p.sub_(eps)
        optimizer.step()
        optimizer.zero_grad()
        return loss
    return sam_step


@pytest.mark.parametrize("restore", ["rebinds", "subtracts"])
def test_a_sam_step_that_writes_the_weights_before_its_optimizer_step_is_an_in_place_write(restore):
    """A SAM step writes every parameter in place (w + ε) before the optimizer's first step, whose
    pre-hook copies the parameters only then: that copy is of w + ε − ε (not bit for bit w) or of the
    data the method rebound, while the parameter's own data still holds w + ε. Until 2026-12-06 the
    parameters the step updated were taken as put back by that copy: the model came back at w + ε,
    or a rounding off w, silently. A write before the step is now what any in-place write is: a
    ParameterModifiedError naming the parameters, unless copy_params=True, which restores them bit for
    bit (the next real step then equals a twin's never profiled). Counted: two forwards and two
    backwards, 2 × (N·(8·16 + 16·4) + N·16·4·2 + N·8·16) MACs."""
    torch.manual_seed(0)
    model, N = TrainStep(), 32
    x, y = torch.randn(N, 8), torch.randn(N, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(torchcount.ParameterModifiedError,
                       match=r"modified parameter\(s\) fc1\.weight, fc1\.bias, fc2\.weight, fc2\.bias in place"):
        profile(model, (x, y), method=sam_step_of(optimizer, restore))
    torch.manual_seed(0)
    model, twin = TrainStep(), TrainStep()
    twin.load_state_dict(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    found = snapshot(model)
    report = profile(model, (x, y), method=sam_step_of(optimizer, restore), copy_params=True)
    assert report.total.macs == 2 * (N * (8 * 16 + 16 * 4) + N * 16 * 4 * 2 + N * 8 * 16)
    assert snapshot(model) == found and all(p.grad is None for p in model.parameters())
    assert not optimizer.state
    sam_step_of(optimizer, restore)(model, x, y)
    sam_step_of(torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9), restore)(twin, x, y)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_a_counter_the_step_keeps_in_its_closure_keeps_what_the_method_set():
    """A LambdaLR whose lambda reads an iteration counter the step advances (a user's own Python
    state, as nanoGPT's iter_num): the scheduler's state_dict (last_epoch 0, last rate 0.1) and the
    optimizer's rate come back as found, the counter keeps the method's increment (guarantees.md,
    'Plain Python attributes are not restored'), so the next real step runs at 0.1 / (1 + 2) where a
    never-profiled step would run at 0.1 / (1 + 1)."""
    torch.manual_seed(0)
    model = TrainStep()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    count = {"it": 0}
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 / (1 + count["it"]))
    found = scheduler.state_dict()

    def train_step(model, x, y):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        count["it"] += 1
        scheduler.step()

    report = profile(model, (torch.randn(4, 8), torch.randn(4, 4)), method=train_step)
    assert any("stepped learning-rate scheduler(s) LambdaLR" in note for note in report.notes)
    assert scheduler.state_dict() == found and found["last_epoch"] == 0 and found["_last_lr"] == [0.1]
    assert optimizer.param_groups[0]["lr"] == 0.1 and count["it"] == 1
    train_step(model, torch.randn(4, 8), torch.randn(4, 4))
    assert optimizer.param_groups[0]["lr"] == 0.1 / 3


class KeepsEMA(nn.Module):
    """A model that keeps an EMA copy of its network in a plain list, out of its module tree (not in
    its state_dict, not moved by .to()); its training step runs the copy in train mode (its BatchNorm's
    running statistics move) and, with ``update``, moves the copy's weights halfway to the network's."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
        self._ema = [copy.deepcopy(self.net)]

    def forward(self, x):
        return self.net(x)

    def train_step(self, x, update):
        self(x).square().mean().backward()
        with torch.no_grad():
            self._ema[0](x)
            if update:
                for a, b in zip(self._ema[0].parameters(), self.net.parameters()):
                    a.lerp_(b, 0.5)


def test_an_ema_copy_the_model_keeps_outside_its_module_tree_is_put_back_or_named():
    """Until 2026-12-06 such a copy was not looked for: the step left its running statistics moved
    and its weights updated, with no error. It is now kept as a module the step function holds is:
    its buffers put back (running_mean 0, num_batches_tracked 0, as found), a note naming it, and an
    update of its weights in place a ParameterModifiedError naming them, which copy_params=True
    restores. Counted: the network's forward and the copy's, N·8·4 MACs each, and the first Linear's
    weight gradient (its input needs none), N·8·4: 3·N·8·4."""
    torch.manual_seed(0)
    model, N = KeepsEMA(), 4
    x = torch.randn(N, 8)
    ema = model._ema[0]
    found, found_ema = snapshot(model), snapshot(ema)
    report = profile(model, (x, False), method="train_step")
    assert report.total.macs == 3 * N * 8 * 4
    assert snapshot(ema) == found_ema and snapshot(model) == found
    assert int(ema[1].num_batches_tracked) == 0 and torch.equal(ema[1].running_mean, torch.zeros(4))
    assert any("module(s) the model keeps outside its module tree: _ema[0]=Sequential" in n for n in report.notes)
    with pytest.raises(torchcount.ParameterModifiedError,
                       match=r"modified parameter\(s\) _ema\[0\]\.0\.weight, _ema\[0\]\.0\.bias, _ema\[0\]\.1\.weight"):
        profile(model, (x, True), method="train_step")
    torch.manual_seed(0)
    model = KeepsEMA()
    ema = model._ema[0]
    found_ema = snapshot(ema)
    profile(model, (x, True), method="train_step", copy_params=True)
    assert snapshot(ema) == found_ema


def _runs_the_copy(model, x, ema):
    model(x).square().mean().backward()
    with torch.no_grad():
        ema(x)


def test_an_ema_copy_the_model_keeps_and_the_method_is_given_is_named_once():
    """The same EMA copy the model keeps in its plain list, given to a function method as an argument
    too: it is one of the method's input modules, named by the note of those (a positional one by its
    type, 'Sequential'), and not again as a module the model keeps outside its tree (only modules not
    already guarded are looked for there). Its running statistics come back (mean 0, 0 batches), as
    the model's do."""
    torch.manual_seed(0)
    model, x = KeepsEMA(), torch.randn(4, 8)
    ema = model._ema[0]
    found, found_ema = snapshot(model), snapshot(ema)
    report = profile(model, (x, ema), method=_runs_the_copy)
    assert snapshot(ema) == found_ema and snapshot(model) == found
    assert int(ema[1].num_batches_tracked) == 0 and torch.equal(ema[1].running_mean, torch.zeros(4))
    assert [n for n in report.notes if "module(s) given as inputs" in n][0].startswith(
        "module(s) given as inputs of _runs_the_copy: Sequential;")
    assert not [n for n in report.notes if "keeps outside its module tree" in n]


class ListsItsLayers(nn.Module):
    """A model that also lists its own two Linears in a plain attribute (an order to run them in), as
    well as holding them as submodules."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(4, 2)
        self._order = [self.a, self.b]

    def forward(self, x):
        for layer in self._order:
            x = layer(x)
        return x

    def train_step(self, x):
        self(x).square().mean().backward()


def test_a_plain_list_of_the_models_own_layers_is_no_module_kept_outside_its_tree():
    """The model's own Linears, listed again in a plain attribute, are in its module tree: they are the
    profiled model's rows (a, b) and no module kept outside it is named (only modules not already among
    the model's are looked for there). Counted: the forward, N·(8·4 + 4·2) MACs, and the backward's
    weight gradients of both and the input gradient of b, N·(8·4 + 4·2 + 4·2)."""
    torch.manual_seed(0)
    model, N = ListsItsLayers(), 4
    found = snapshot(model)
    report = profile(model, torch.randn(N, 8), method="train_step")
    assert snapshot(model) == found
    assert not [n for n in report.notes if "keeps outside its module tree" in n]
    assert report.total.macs == N * (8 * 4 + 4 * 2) + N * (8 * 4 + 4 * 2 + 4 * 2)


class KeepsCopiesAround(nn.Module):
    """A model keeping copies of its network outside its module tree in the places optimizers are looked
    for: a list in a dict (two levels), a plain object's attribute and its plain object's (two levels),
    the last of a list of 64 (a short list: searched); and three it keeps where none is looked for: three
    levels down in lists and in plain objects, and in a list of 65. Its step runs the first four in
    train mode (their BatchNorms' running statistics move)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
        self._kept = {"ema": [copy.deepcopy(self.net)]}
        self._trainer = types.SimpleNamespace(ema=copy.deepcopy(self.net), inner=types.SimpleNamespace(
            ema=copy.deepcopy(self.net), deeper=types.SimpleNamespace(ema=copy.deepcopy(self.net))))
        self._short = [None] * 63 + [copy.deepcopy(self.net)]
        self._deep = [[[copy.deepcopy(self.net)]]]
        self._long = [None] * 64 + [copy.deepcopy(self.net)]

    def forward(self, x):
        return self.net(x)

    def copies(self):
        return [self._kept["ema"][0], self._trainer.ema, self._trainer.inner.ema, self._short[63]]

    def train_step(self, x):
        self(x).square().mean().backward()
        with torch.no_grad():
            for copied in self.copies():
                copied(x)


def test_modules_kept_two_levels_down_and_in_short_lists_are_found_and_put_back():
    """A module kept outside the tree is looked for where optimizers are: two levels into dicts and
    lists (_kept['ema'][0]), in plain objects' attributes (_trainer.ema, _trainer.inner.ema), in a list
    of at most 64 items (_short[63]); each named in the note, in the order the model holds them, and its
    running statistics put back (mean 0, 0 batches tracked). Three levels down (_deep[0][0][0],
    _trainer.inner.deeper.ema) or in a list of 65 (_long[64]) none is looked for, and none is named."""
    torch.manual_seed(0)
    model = KeepsCopiesAround()
    found = [snapshot(m) for m in model.copies()]
    report = profile(model, torch.randn(4, 8), method="train_step")
    assert [snapshot(m) for m in model.copies()] == found
    assert all(int(m[1].num_batches_tracked) == 0 and torch.equal(m[1].running_mean, torch.zeros(4))
               for m in model.copies())
    assert [n for n in report.notes if "keeps outside its module tree" in n][0].startswith(
        "module(s) the model keeps outside its module tree: _kept['ema'][0]=Sequential, _trainer.ema=Sequential, "
        "_trainer.inner.ema=Sequential, _short[63]=Sequential; not part of the profiled model")


def _twice_plus_one(model, x):
    return model(model(x)) + 1


def _doubled(model, x):
    return x * 2


@pytest.mark.parametrize("method, runs", [(_twice_plus_one, "ran 2 times inside it (the root row's calls)"),
                                          (_doubled, "ran 0 times inside it")], ids=["twice", "never"])
def test_the_note_on_a_profiled_function_says_how_often_the_forward_ran_and_that_its_own_ops_are_the_roots(method,
                                                                                                           runs):
    """A step function calling a Linear(4, 4) twice: the note says its forward ran 2 times inside the
    call, the root row's calls, and that what the function computed outside any module (its '+ 1') is
    the root's own work; one that only doubles its input says 0 times, with no row's calls to point to."""
    report = torchcount.profile(nn.Linear(4, 4), torch.randn(2, 4), method=method, warn=False)
    name = method.__name__
    assert f"profiled one call of {name}(Linear, ...), not the forward: the root's forward {runs}; what {name} " \
        "computed outside any module is the root's own work" in report.notes


def test_a_ruled_root_profiled_through_a_method_keeps_its_forwards_rule():
    """A Linear subclass's step() calls its forward once, then doubles the result: the root row's rule is
    the rule its forward call was priced by (the Linear's, torchcount.rule_for says so), not the step call's
    (none), and explain names it: 2·4·3 = 24 MACs by the rule, the ×2 is the step's own 6 multiplications."""
    class Scaled(nn.Linear):
        def step(self, x):
            return self(x) * 2

    model = Scaled(4, 3)
    report = profile(model, torch.randn(2, 4), method="step")
    row = report.row("")
    assert row.rule == torchcount.rule_for(model).name == "linear.linear"
    assert (row.calls, row.cost.macs, row.self_cost.mults) == (1, 24, 6)
    assert "what its forward did itself (rule linear.linear, 1 call(s)) is in the total below" in report.explain("")
