"""Guarantee 2: every valid input and output form. A tensor is one argument, a tuple is the
positional arguments, a list is ONE argument, a dict is keyword arguments; nesting and
non-tensor arguments pass through unchanged; any output form is accepted.

Every model below applies an nn.Linear(n, k) to each tensor it gets, so the expected MACs
are Σ rows·n·k over those tensors (written out in each test)."""
from __future__ import annotations

import dataclasses
from collections import namedtuple
from typing import Optional

import pytest
import torch
from torch import nn

import torchcount

N, K = 4, 3


def macs(*rows: int) -> int:
    return sum(r * N * K for r in rows)


class Seen(nn.Module):
    """Records what the forward received, so the test checks what was passed on."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(N, K)
        self.received = None


class One(Seen):
    def forward(self, x):
        self.received = x
        return self.lin(x)


def test_a_tensor_is_one_argument():
    model = One()
    report = torchcount.profile(model, torch.randn(5, N))
    assert report.total.macs == macs(5)
    assert report.row("lin").input_shapes == [(5, N)]


def test_a_tuple_is_the_positional_arguments():
    class Two(Seen):
        def forward(self, x, y):
            return self.lin(x) + self.lin(y)

    report = torchcount.profile(Two(), (torch.randn(2, N), torch.randn(3, 1, N)))
    assert report.total.macs == macs(2, 3)
    assert report.row("lin").calls == 2


def test_a_list_is_one_argument():
    class Many(Seen):
        def forward(self, xs):
            assert isinstance(xs, list)
            return [self.lin(x) for x in xs]

    report = torchcount.profile(Many(), [torch.randn(1, N), torch.randn(2, N), torch.randn(7, N)])
    assert report.total.macs == macs(1, 2, 7)


def test_a_one_element_tuple_unpacks_and_a_namedtuple_does_not():
    report = torchcount.profile(One(), (torch.randn(6, N),))
    assert report.total.macs == macs(6)
    Pair = namedtuple("Pair", "a b")

    class TakesPair(Seen):
        def forward(self, p):
            assert isinstance(p, Pair)
            return self.lin(p.a), self.lin(p.b)

    report = torchcount.profile(TakesPair(), Pair(torch.randn(2, N), torch.randn(5, N)))
    assert report.total.macs == macs(2, 5)


class Keywords(Seen):
    def forward(self, x, mask=None, scale: float = 1.0, mode: str = "a", extra=None):
        self.received = dict(mask=mask, scale=scale, mode=mode, extra=extra)
        y = self.lin(x) * scale
        if mask is not None:
            y = y.masked_fill(~mask, 0.0)
        return y


def test_a_dict_is_keyword_arguments():
    x, mask = torch.randn(2, N), torch.rand(2, K) > 0.5
    model = Keywords()
    report = torchcount.profile(model, {"x": x, "mask": mask, "scale": 2.0, "mode": "b"})
    assert report.total.macs == macs(2)
    assert model.received["scale"] == 2.0 and model.received["mode"] == "b"
    assert torch.equal(model.received["mask"], mask)  # a bool tensor passes through unchanged


def test_any_mapping_is_keyword_arguments():
    """A tokenizer's output is a BatchEncoding, a UserDict (a Mapping, not a dict), given as
    model(**enc): it was passed as one positional argument, and a BERT failed in its embeddings."""
    import collections

    x, mask = torch.randn(2, N), torch.rand(2, K) > 0.5
    model = Keywords()
    report = torchcount.profile(model, collections.UserDict({"x": x, "mask": mask, "scale": 3.0}))
    assert report.total.macs == macs(2)
    assert model.received["scale"] == 3.0 and torch.equal(model.received["mask"], mask)
    transformers = pytest.importorskip("transformers")
    bert = transformers.BertModel(transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=100)).eval()
    enc = transformers.BatchEncoding({"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3).long()})
    assert torchcount.profile(bert, enc).total.cost == torchcount.profile(bert, dict(enc)).total.cost


def test_positional_inputs_plus_kwargs():
    model = Keywords()
    report = torchcount.profile(model, torch.randn(3, N), kwargs={"scale": 0.5, "extra": None})
    assert report.total.macs == macs(3)
    assert model.received["scale"] == 0.5


def test_kwargs_alone():
    report = torchcount.profile(Keywords(), kwargs={"x": torch.randn(4, N)})
    assert report.total.macs == macs(4)


def test_nested_structures_and_non_tensor_arguments():
    class Nested(Seen):
        def forward(self, batch, n_times: int, flag: bool, name: str, nothing=None):
            assert isinstance(batch, dict) and isinstance(batch["pair"], tuple) and isinstance(batch["list"], list)
            assert (n_times, flag, name, nothing) == (2, True, "x", None)
            out = [self.lin(batch["pair"][0]), self.lin(batch["list"][1]["deep"])]
            for _ in range(n_times):
                out.append(self.lin(batch["pair"][1]))
            return out

    inputs = ({"pair": (torch.randn(1, N), torch.randn(2, N)),
               "list": [torch.randn(9), {"deep": torch.randn(3, N)}]}, 2, True, "x", None)
    report = torchcount.profile(Nested(), inputs)
    assert report.total.macs == macs(1, 3, 2, 2)
    assert report.row("lin").calls == 4


def test_integer_and_boolean_inputs():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, N)
            self.lin = nn.Linear(N, K)

        def forward(self, ids, mask):
            assert ids.dtype == torch.long and mask.dtype == torch.bool
            return self.lin(self.emb(ids)).masked_fill(~mask[..., None], 0.0)

    ids = torch.tensor([[1, 2, 3, 9], [0, 0, 5, 6]])
    mask = ids != 0
    ids_before, mask_before = ids.clone(), mask.clone()
    report = torchcount.profile(Tokens(), (ids, mask))
    assert report.total.macs == macs(2 * 4)
    assert report.row("emb").input_shapes == [(2, 4)]
    assert torch.equal(ids, ids_before) and torch.equal(mask, mask_before)


def test_input_size_makes_random_inputs():
    class Two(Seen):
        def forward(self, x, y):
            return self.lin(x), self.lin(y)

    assert torchcount.profile(One(), input_size=(5, N)).total.macs == macs(5)
    assert torchcount.profile(Two(), input_size=[(2, N), (3, N)]).total.macs == macs(2, 3)
    report = torchcount.profile(One().double(), input_size=(2, N), dtype=torch.float64)
    assert report.total.macs == macs(2)


def test_bad_input_forms_are_clear_errors():
    with pytest.raises(ValueError, match="needs inputs"):
        torchcount.profile(One())
    with pytest.raises(ValueError, match="either inputs or input_size"):
        torchcount.profile(One(), torch.randn(1, N), input_size=(1, N))
    with pytest.raises(ValueError, match="non-negative ints"):
        torchcount.profile(One(), input_size=[(1, -4)])
    with pytest.raises(TypeError, match="input_size"):
        torchcount.profile(One(), input_size="1x4")
    # a float or a bool where a size goes: a ValueError naming the shape (was "'int' object is not
    # iterable", or torch's multi-line randn error)
    for bad in [(1, 3, 8.5, 8), (1.0, N), (True, N)]:
        with pytest.raises(ValueError, match=r"input_size: \(.*\) is not a shape of non-negative ints"):
            torchcount.profile(One(), input_size=bad)
    with pytest.raises(TypeError, match="dtype must be a torch.dtype"):
        torchcount.profile(One(), input_size=(1, N), dtype="flot32")


def test_input_size_takes_numpy_sizes_dtype_names_and_integer_dtypes():
    import numpy as np

    assert torchcount.profile(One(), input_size=tuple(np.array([3, N]))).total.macs == macs(3)
    assert torchcount.profile(One(), input_size=(3, N), dtype="float32").total.macs == macs(3)
    # an integer dtype makes 0/1 indices, as the CLI does (randn has no integer kernel)
    emb = nn.Embedding(5, 3)
    report = torchcount.profile(emb, input_size=(2, 6), dtype=torch.int64)
    assert report.row("").input_shapes == [(2, 6)] and report.total.params == 15
    (ids,) = torchcount.make_inputs((2, 6), torch.int64)
    assert ids.dtype == torch.int64 and set(ids.unique().tolist()) <= {0, 1}


# ---- outputs ------------------------------------------------------------------------------


@dataclasses.dataclass
class DataOut:
    logits: torch.Tensor
    hidden: Optional[torch.Tensor] = None
    label: str = "ok"


OUTPUTS = {
    "tensor": lambda y: y,
    "tuple": lambda y: (y, y.sum()),
    "list": lambda y: [y, 3],
    "dict": lambda y: {"logits": y, "n": 1},
    "namedtuple": lambda y: namedtuple("Out", "logits aux")(y, None),
    "dataclass": lambda y: DataOut(y, None),
    "none": lambda y: None,
    "scalar": lambda y: 1.5,
    "nested": lambda y: {"a": [(y, {"b": y})], "c": None},
}


@pytest.mark.parametrize("kind", OUTPUTS)
def test_output_forms(kind):
    class Out(Seen):
        def forward(self, x):
            return OUTPUTS[kind](self.lin(x))

    report = torchcount.profile(Out(), torch.randn(2, N))
    assert report.total.macs == macs(2)
    assert report.row("lin").output_shapes == [(2, K)]


def test_hugging_face_model_output():
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_outputs import BaseModelOutput

    class HF(Seen):
        def forward(self, x):
            return BaseModelOutput(last_hidden_state=self.lin(x), hidden_states=(x,))

    report = torchcount.profile(HF(), torch.randn(3, 5, N))
    assert report.total.macs == macs(3 * 5)
    assert report.root.output_shapes == [(3, 5, K), (3, 5, N)]


def test_namedtuple_and_dict_subclass_inputs_are_protected_and_keep_their_type():
    from collections import OrderedDict

    Batch = namedtuple("Batch", "x y")

    class InPlace(nn.Module):
        def forward(self, batch, extra):
            assert isinstance(batch, Batch) and type(extra) is OrderedDict
            batch.x.add_(1)  # writes its input in place
            extra["z"].mul_(2)
            return batch.x + batch.y + extra["z"]

    b = Batch(torch.zeros(3), torch.ones(3))
    extra = OrderedDict(z=torch.ones(3))
    report = torchcount.profile(InPlace(), (b, extra))
    assert torch.equal(b.x, torch.zeros(3)) and torch.equal(extra["z"], torch.ones(3))
    assert report.root.cost.adds == 3 + 2 * 3  # add_ (3) and two additions of 3 elements


def test_packed_sequence_input():
    from torch.nn.utils.rnn import pack_padded_sequence

    lstm = nn.LSTM(3, 5)
    x = torch.randn(4, 2, 3)  # T=4, N=2
    packed = pack_padded_sequence(x, lengths=[4, 2])
    report = torchcount.profile(lstm, packed)
    assert report.total.macs == 4 * 5 * (3 + 5) * (4 + 2)  # G·H·(I + H)·Σ lengths


def test_a_forward_without_arguments_takes_an_empty_tuple():
    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.seed = nn.Parameter(torch.randn(2, N))
            self.lin = nn.Linear(N, K)

        def forward(self):
            return self.lin(self.seed)

    report = torchcount.profile(Constant(), ())
    assert report.total.macs == macs(2)
    assert report.total.params == 2 * N + N * K + K


def test_a_tensor_given_twice_is_one_tensor_in_the_forward():
    # inputs are copied (so an in-place first layer cannot touch the caller's tensors), but a
    # tensor passed twice stays one tensor: self-attention's mha(x, x, x) takes its fast path on
    # `query is key`, and any forward may test identity (it was two copies, a different forward)
    class Probe(nn.Module):
        def forward(self, a, b, c=None, cache=None):
            self.seen = (a is b, c is a, cache["k"] is a)
            return a + b

    probe, x = Probe(), torch.randn(3)
    torchcount.profile(probe, (x, x), kwargs={"c": x, "cache": {"k": x}}, warn=False)
    assert probe.seen == (True, True, True)
    # still copies: the caller's tensor is not the one the forward got
    class Keeps(nn.Module):
        def forward(self, a):
            self.got = a
            return a * 2

    keeps = Keeps()
    torchcount.profile(keeps, x, warn=False)
    assert keeps.got is not x and torch.equal(keeps.got, x)


def test_a_device_that_would_be_ignored_or_is_not_there_is_an_error():
    """device= without input_size= or measure=True used to be ignored silently, and a device that
    is not there raised torch's driver error from inside make_inputs."""
    x = torch.randn(1, N)
    with pytest.raises(ValueError, match="forward runs where the model is \\(cpu\\)"):
        torchcount.profile(One(), x, device="meta")
    with pytest.raises(ValueError, match="is not a device"):
        torchcount.profile(One(), input_size=(1, N), device="bogus")
    assert torchcount.profile(One(), x, device="cpu").total.macs == macs(1)  # where it is anyway: fine
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available here"):
            torchcount.profile(One(), input_size=(1, N), device="cuda")
