"""Acceptance of issue 2: every torchvision classification model whose weights carry
``meta["_ops"]`` — the "torchvision" convention total at the weights' crop size, in G rounded
to 3 decimals, equals ``_ops``; the parameter total equals ``num_params``. In eval mode,
train mode and under ``torch.no_grad()``, on the meta device (no weights are downloaded:
the numbers are the references published with the weights).

torchvision computed ``_ops`` with a dispatch-mode counter of the MACs of aten
convolution/mm/addmm/bmm (pytorch/vision#6936), in eval mode.
"""
from __future__ import annotations

import contextlib
import functools
import re
import warnings

import pytest
import torch
import torchvision
from torchvision.models import get_model, get_model_weights, list_models

import torchcount

from conftest import no_init

# models that would need op rules of issue 3 (attention inside custom modules) to match;
# none is known to today: the aten mm/bmm op rules already price their attention products.
NEEDS_ISSUE_3: dict[str, str] = {}


def _weights():
    out = []
    for name in list_models(module=torchvision.models):
        for w in get_model_weights(name):
            if "_ops" in w.meta:
                out.append((name, w))
    return out


WEIGHTS = _weights()


def build(name: str, weights) -> torch.nn.Module:
    """The architecture exactly as ``get_model(name, weights=weights)`` builds it, on meta."""
    return _build(name, **_build_kwargs(name, weights))


def _build_kwargs(name: str, weights) -> dict:
    kwargs = {}
    if weights.meta["categories"] is not None:  # VGG16 IMAGENET1K_FEATURES has none: 1000 outputs
        kwargs["num_classes"] = len(weights.meta["categories"])
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=False)  # the weights drop the aux heads
    elif name == "inception_v3":
        kwargs.update(aux_logits=True, init_weights=False, transform_input=True)  # kept by the weights
    elif name.startswith("vit_"):
        kwargs["image_size"] = weights.meta["min_size"][0]
    return kwargs


@functools.lru_cache(maxsize=None)
def _build(name: str, **kwargs) -> torch.nn.Module:
    # cached: several weights share one architecture, and profile leaves a model as it found it
    if name.startswith("regnet"):
        # RegNet's constructor reads tensor values: build on CPU, then move to meta
        with no_init():
            return get_model(name, **kwargs).to("meta")
    with torch.device("meta"):
        return get_model(name, **kwargs)


def crop(weights) -> int:
    size = weights.transforms().crop_size
    return size[0] if isinstance(size, (list, tuple)) else size


def params(weights):
    marks = []
    name = weights.__class__.__name__
    if name in NEEDS_ISSUE_3:
        marks.append(pytest.mark.xfail(strict=False, reason=NEEDS_ISSUE_3[name]))
    return marks


CASES = [pytest.param(name, w, id=str(w).replace("_Weights.", ":"), marks=params(w)) for name, w in WEIGHTS]


def family(name: str) -> str:
    """The architecture family of a builder name, sizes left out: resnet18 and resnet152 are
    "resnet#", efficientnet_v2_s "efficientnet_v#_?", convnext_tiny "convnext_?"."""
    name = re.sub(r"\d+(_\d+)?(x\d+d|gf|mf)?", "#", name)
    return re.sub(r"_(t|s|m|l|b|h|tiny|small|base|large)(?=_|$)", "_?", name)


def _cheapest_per_family() -> set:
    cheapest: dict = {}
    for name, w in WEIGHTS:
        key = family(name)
        if key not in cheapest or w.meta["_ops"] < cheapest[key].meta["_ops"]:
            cheapest[key] = w
    return set(cheapest.values())


#: the train-mode and no_grad checks run the family's code paths again, not new rules: in
#: `make test` once per family (its cheapest weights), for every weights with `make test-slow`
#: (2 cores: this file took 125 s with the three profiles of all 115 weights, 77 s so)
TRAIN_CASES = [pytest.param(name, w, id=str(w).replace("_Weights.", ":"),
                            marks=params(w) + ([] if w in _cheapest_per_family() else [pytest.mark.slow]))
               for name, w in WEIGHTS]


_REPORTS: dict = {}


def _profile(model, size, mode: str = "eval"):
    """Profile in ``mode`` ("eval", "train", "no_grad"); cached per (model, crop, mode)."""
    key = (id(model), size, mode)
    if key not in _REPORTS:
        was = model.training
        model.train(mode == "train")
        try:
            with torch.no_grad() if mode == "no_grad" else contextlib.nullcontext():
                _REPORTS[key] = _profile_now(model, size, batch=_batch(model, mode))
            assert torch.is_grad_enabled()
            assert model.training == (mode == "train")  # the training flag was left as it was
        finally:
            model.train(was)
    return _REPORTS[key]


def _batch(model, mode: str) -> int:
    # inception's auxiliary head ends in a BatchNorm on a 1×1 map: in train mode it needs more
    # than one value per channel, so that model alone runs a batch of 2 (its counts are linear
    # in the batch; Swin V2's relative-position MLP, for one, is not)
    return 2 if mode == "train" and isinstance(model, torchvision.models.Inception3) else 1


def _profile_now(model, size, batch=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchcount.UncountedWarning)
        return torchcount.profile(model, torch.empty(batch, 3, size, size, device="meta"),
                                  convention="torchvision")


def test_the_zoo_is_not_empty():
    # torchvision 0.26 publishes _ops for 115 classification weights (80 architectures); guard against a silent empty sweep
    assert len(WEIGHTS) >= 100


@pytest.mark.parametrize("name,weights", CASES)
def test_zoo_matches_torchvision_ops(name, weights):
    model = build(name, weights)
    size = crop(weights)
    report = _profile(model, size, "eval")
    assert report.total.params == weights.meta["num_params"]
    assert round(report.total.flops / 1e9, 3) == weights.meta["_ops"]
    assert report.total.flops == report.total.macs  # the view: conv/linear/matmul MACs only


def test_every_family_runs_its_train_and_no_grad_checks_in_make_test():
    fast = [p for p in TRAIN_CASES if not any(m.name == "slow" for m in p.marks)]
    assert {family(p.values[0]) for p in fast} == {family(name) for name, _ in WEIGHTS}
    assert len(fast) >= 20  # 23 families in torchvision 0.26


@pytest.mark.parametrize("name,weights", TRAIN_CASES)
def test_zoo_train_and_no_grad_match_torchvision_ops(name, weights):
    model = build(name, weights)
    size = crop(weights)
    expected_g, expected_params = weights.meta["_ops"], weights.meta["num_params"]
    assert _profile(model, size, "no_grad").total.macs == _profile(model, size, "eval").total.macs

    train = _profile(model, size, "train")
    assert train.total.params == expected_params
    batch = _batch(model, "train")
    macs = train.total.macs
    if name == "inception_v3":
        # the auxiliary classifier runs only in train mode; torchvision's _ops are eval-mode figures
        assert train.row("AuxLogits").macs > 0
        macs -= train.row("AuxLogits").macs
    assert macs % batch == 0
    assert round(macs / batch / 1e9, 3) == expected_g
