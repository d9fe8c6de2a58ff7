"""The torchvision families other than classification against the numbers published with their
weights: ``meta["_ops"]`` (GMACs of aten convolution/mm/addmm/bmm, in G rounded to 3 decimals,
pytorch/vision#6936) and ``meta["num_params"]``. No weights are downloaded: each model is built as
``get_model(name, weights=w)`` builds it (the weights' own overrides: classes, aux heads,
quantization backend) with the state-dict load skipped.

The input is what torchvision's ``get_ops`` (``test/common_extended_utils.py``) fed:
``torch.randn(dims)`` through ``weights.transforms()``, with dims (1, 3, 512, 512); video
(1, 16, 3, 512, 512); optical flow the same 512×512 image twice; detection a list of one
(3, 512, 512) image (the model's own transform then resizes it: 800×800, or 320/300). Hence
segmentation 520×520, video 16 frames at the crop (112 or 224), RAFT 512×512.

- segmentation, video, optical flow: on the meta device, eval, no_grad and train mode;
- quantization: on CPU (a quantized model is converted from a calibrated float model). The
  published ``_ops``/``num_params`` of quantized weights are copies of the float weights'
  (``meta["unquantized"]``): the MACs are the same (the quantized Linear included), but the
  quantized model has fewer parameters (BatchNorm folded into the convolutions' biases, Inception's
  AuxLogits dropped), so its parameter count is checked against its packed weights instead;
- detection: on CPU (NMS and data-dependent shapes do not run on meta). ``_ops`` depends on how
  many RPN proposals and final detections the pretrained model produced on torchvision's random
  input; those counts (inferred from ``_ops``, see ``SEEN``) are forced here.
"""
from __future__ import annotations

import contextlib
import functools
import warnings

import pytest
import torch
import torchvision
from torchvision.models import get_model, get_model_weights, list_models
from torchvision.models._api import WeightsEnum

import torchcount

from conftest import no_init

FAMILIES = ("segmentation", "video", "optical_flow", "quantization", "detection")
META_FAMILIES = ("segmentation", "video", "optical_flow")

# (RPN proposals, final detections) of the pretrained two-stage detectors on torchvision's input,
# inferred from _ops: deterministic part + proposals × (box head + predictor) + detections × (mask or
# keypoint head + predictor) reproduces every published figure to the last digit (REPORT.md)
SEEN = {
    "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1": (0, 0),
    "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1": (0, 0),
    "FasterRCNN_ResNet50_FPN_Weights.COCO_V1": (1000, 0),
    "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1": (1000, 0),
    "MaskRCNN_ResNet50_FPN_Weights.COCO_V1": (1000, 0),
    "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1": (1000, 100),
    "KeypointRCNN_ResNet50_FPN_Weights.COCO_LEGACY": (1000, 0),
    "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1": (1000, 1),
}

# too slow for `make test` (2 cores, about a minute for this file): a CPU build with weight
# initialisation and calibration, a CPU forward at 800×800, or a larger size of a family whose
# smallest member runs here (Swin3D_T). Seconds per case measured on a 2-core machine (build + count)
SLOW = {
    "quantized_resnext101_32x8d": 4, "quantized_resnext101_64x4d": 4,
    "fasterrcnn_resnet50_fpn": 3, "fasterrcnn_resnet50_fpn_v2": 5, "maskrcnn_resnet50_fpn": 3,
    "maskrcnn_resnet50_fpn_v2": 5, "keypointrcnn_resnet50_fpn": 3.5, "fcos_resnet50_fpn": 2,
    "retinanet_resnet50_fpn": 2, "retinanet_resnet50_fpn_v2": 2, "ssd300_vgg16": 2,
    "swin3d_s": 3, "swin3d_b": 4,
}


def _weights(family: str) -> list:
    return [(name, w) for name in list_models(module=getattr(torchvision.models, family))
            for w in get_model_weights(name) if "_ops" in w.meta]


def _cases(families) -> list:
    return [pytest.param(name, w, id=str(w).replace("_Weights.", ":"),
                         marks=[pytest.mark.slow] if name in SLOW else [])
            for family in families for name, w in _weights(family)]


@contextlib.contextmanager
def _no_download():
    """``get_model(name, weights=w)`` without fetching ``w``: the state dict is not loaded."""
    get, load = WeightsEnum.get_state_dict, torch.nn.Module.load_state_dict
    WeightsEnum.get_state_dict = lambda self, *a, **k: {}
    torch.nn.Module.load_state_dict = lambda self, *a, **k: None
    try:
        yield
    finally:
        WeightsEnum.get_state_dict, torch.nn.Module.load_state_dict = get, load


def build(name: str, weights, device: str = "meta") -> torch.nn.Module:
    # meta models are cached (free; one per weights); CPU ones are not (memory, and _force edits them)
    return _build_meta(name, weights) if device == "meta" else _build(name, weights, device)


@functools.lru_cache(maxsize=None)
def _build_meta(name: str, weights) -> torch.nn.Module:
    return _build(name, weights, "meta")


def _build(name: str, weights, device: str) -> torch.nn.Module:
    kwargs = {"quantize": True} if name.startswith("quantized_") else {}
    engine = torch.backends.quantized.engine  # quantize_model sets the backend of the weights
    try:
        with _no_download(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if device == "meta":
                with no_init(), torch.device("meta"):
                    return get_model(name, weights=weights, **kwargs).eval()
            # on CPU weights are initialised: a quantized model's calibration needs finite values
            torch.manual_seed(0)
            return get_model(name, weights=weights, **kwargs).eval()
    finally:
        torch.backends.quantized.engine = engine


def family(name: str) -> str:
    return next(f for f in FAMILIES if name in list_models(module=getattr(torchvision.models, f)))


def tv_inputs(name: str, weights, device: str = "meta") -> tuple:
    """The positional inputs torchvision's get_ops fed (its transforms run on CPU; meta copies)."""
    fam = family(name)
    dims = {"detection": (3, 512, 512), "video": (1, 16, 3, 512, 512)}.get(fam, (1, 3, 512, 512))
    torch.manual_seed(0)
    x = torch.randn(dims)
    move = (lambda t: t) if device == "cpu" else (lambda t: torch.empty(t.shape, device=device))
    preprocess = weights.transforms()
    if fam == "optical_flow":
        return tuple(move(t) for t in preprocess(x, x))
    if fam == "detection":
        return ([move(preprocess(x))],)
    return (move(preprocess(x)),)


def _profile(model, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchcount.UncountedWarning)
        return torchcount.profile(model, inputs, convention="torchvision")


def _g(report) -> float:
    return round(report.total.flops / 1e9, 3)


def test_the_families_are_not_empty():
    # torchvision 0.26: 6 segmentation, 10 video, 8 optical-flow, 14 quantized, 13 detection weights
    assert [len(_weights(f)) for f in FAMILIES] == [6, 10, 8, 14, 13]


def _expected_shape(name, weights) -> tuple:
    fam = family(name)
    if fam == "segmentation":  # resized to the weights' resize_size, not cropped
        return (1, 3, 520, 520)
    if fam == "optical_flow":  # no resize
        return (1, 3, 512, 512)
    crop = weights.transforms().crop_size[0]  # video: (N, C, T, H, W), 16 frames at the crop
    return (1, 3, 16, crop, crop)


def _categories(weights):
    categories = weights.meta.get("categories")  # RAFT's weights have none
    return tuple(categories) if categories else None


@functools.lru_cache(maxsize=None)
def _meta_reports(name: str, categories) -> tuple:
    """(eval, no_grad, train at batch 2) reports of one architecture: weights of one builder with
    the same categories build the same model (RAFT's six weights), so it is profiled once."""
    weights = next(w for w in get_model_weights(name) if _categories(w) == categories)
    model = build(name, weights)
    inputs = tv_inputs(name, weights)
    assert tuple(inputs[0].shape) == _expected_shape(name, weights)
    report = _profile(model, inputs)
    with torch.no_grad():
        no_grad = _profile(model, inputs)
    # train mode at batch 2 (DeepLabV3's ASPP pooling ends in a BatchNorm on a 1×1 map: batch 1
    # cannot train); every count here is linear in the batch
    model.train()
    try:
        train = _profile(model, tuple(torch.cat([x, x]) for x in inputs))
    finally:
        model.eval()
    return report, no_grad, train


@pytest.mark.parametrize("name,weights", _cases(META_FAMILIES))
def test_meta_families_match_torchvision_ops(name, weights):
    report, no_grad, train = _meta_reports(name, _categories(weights))
    assert report.complete, report.coverage_text()
    assert report.total.params == weights.meta["num_params"]
    assert _g(report) == weights.meta["_ops"]
    assert report.total.flops == report.total.macs
    assert no_grad.total.macs == report.total.macs
    assert train.total.macs == 2 * report.total.macs


def _packed_params(model) -> int:
    """Parameters a quantized model stores: packed weights and biases, and any nn.Parameter."""
    n = sum(p.numel() for p in model.parameters())
    for m in model.modules():
        if isinstance(m, (torch.ao.nn.quantized.Conv2d, torch.ao.nn.quantized.Linear)):
            w, b = m._weight_bias()
            n += w.numel() + (0 if b is None else b.numel())
    return n


@pytest.mark.parametrize("name,weights", _cases(["quantization"]))
def test_quantized_models_match_torchvision_ops(name, weights):
    float_weights = weights.meta["unquantized"]
    # the published figures are the float model's
    assert (weights.meta["_ops"], weights.meta["num_params"]) == (float_weights.meta["_ops"],
                                                                    float_weights.meta["num_params"])
    model = build(name, weights, "cpu")
    report = _profile(model, tv_inputs(name, weights, "cpu"))
    assert report.complete, report.coverage_text()
    assert _g(report) == weights.meta["_ops"]
    assert report.total.params == _packed_params(model)
    assert report.total.params < weights.meta["num_params"]  # BatchNorm folded (and AuxLogits dropped)


def _force(model, proposals: int, detections: int) -> None:
    """Make a two-stage detector run ``proposals`` RoIs through its box head and ``detections``
    through its mask/keypoint head, whatever its (random) weights: no box regression (proposals
    are the clipped anchors, never degenerate), nothing suppressed, the first ones kept."""
    rpn, heads = model.rpn, model.roi_heads
    with torch.no_grad():
        for m in (rpn.head.bbox_pred, heads.box_predictor.bbox_pred):
            m.weight.zero_()
            m.bias.zero_()
    rpn.nms_thresh, rpn.score_thresh = 1.0, 0.0
    rpn._post_nms_top_n = dict(rpn._post_nms_top_n, testing=proposals)
    heads.nms_thresh, heads.score_thresh, heads.detections_per_img = 1.0, 0.0, detections


@pytest.mark.parametrize("name,weights", _cases(["detection"]))
def test_detection_matches_torchvision_ops(name, weights):
    model = build(name, weights, "cpu")
    if str(weights) in SEEN:
        _force(model, *SEEN[str(weights)])
    with torch.no_grad():
        report = _profile(model, tv_inputs(name, weights, "cpu"))
    # NMS has no formula (data-dependent); it does no multiply-accumulate
    assert {u.what for u in report.uncounted} <= {"torchvision.nms.default"}
    assert report.total.params == weights.meta["num_params"]
    assert _g(report) == weights.meta["_ops"]
