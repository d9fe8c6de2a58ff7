"""Rules for fake quantization (quantization-aware training, ``torch.ao.quantization``).

A fake-quantize op rounds every element to the integer grid and back, in floating point
(the CPU and CUDA kernels, per element, with ``inv_scale = 1/scale`` computed once):

    q    = round(x·inv_scale) + zero_point
    out  = (min(max(q, quant_min), quant_max) − zero_point)·scale
    mask = (q ≥ quant_min) and (q ≤ quant_max)          (the ``_cachemask`` ops, for the backward)

So per element: 2 multiplications, 2 additions, 1 comparison for the rounding (as ``round``),
2 comparisons and an assignment for the clamp (as ``clamp``), and for the mask 2 comparisons and
their logical and (1 comparison, as ``logical_and``). Per-tensor and per-channel ops cost the
same per element (each element meets its own channel's scale).

``FakeQuantize`` is priced from its ops (its observer's ``aminmax`` and moving averages run as
ops). ``FusedMovingAvgObsFakeQuantize`` runs one fused op, ``_fused_moving_avg_obs_fq_helper``:
the observer (a min and a max over every element, per channel or per tensor, then a moving
average of each and the scale and zero point from them) and the fake quantization with its
mask. Its two switches (``observer_enabled``, ``fake_quant_enabled``) are tensors, so the
module's rule reads them from the module; the op met outside such a module is priced with
both switches on (the default), and says so. ``_LearnableFakeQuantize`` (LSQ) runs
``_fake_quantize_learnable_per_*_affine``: the zero point is rounded and clamped first, then
the elements are fake-quantized; its backward is priced on the in-range path of the kernel
(the common case; an element outside the range costs about the same).
"""
from __future__ import annotations

try:  # torch.ao.quantization is deprecated (torchao takes it over): the op rules stand without it
    from torch.ao.quantization import FusedMovingAvgObsFakeQuantize
except ImportError:  # pragma: no cover - a torch without it
    FusedMovingAvgObsFakeQuantize = None

from ..cost import Cost, Term, worked
from .elementwise import recipe_terms
from .registry import aten_ops, module_rule, op_rule

#: per element: ×1/scale and ×scale; + and − the zero point; round, and the clamp's 2 bounds
_QUANTIZE = {"mults": 2, "adds": 2, "cmps": 3, "assigns": 1}
#: the ``_cachemask`` ops' mask: 2 bounds and their and
_MASK = {"cmps": 3}


def fake_quantize_terms(n: int, mask: bool) -> list[Term]:
    """The terms of fake-quantizing ``n`` elements (with the ``_cachemask`` ops' mask)."""
    return recipe_terms(_QUANTIZE, n, "fake quantize: (clamp(round(x/s) + z) − z)·s") + \
        (recipe_terms(_MASK, n, "mask: q_min ≤ q ≤ q_max") if mask else [])


def observer_terms(n: int, channels: int) -> list[Term]:
    """A moving-average min/max observer over ``n`` elements in ``channels`` channels (1 per
    tensor): a min and a max per channel, each running value moved toward it
    (r + c·(v − r)), and the scale and zero point of each channel from them
    (scale = (max − min)/(q_max − q_min); zero point = q_min − round(min/scale), clamped; the
    symmetric scheme's steps are counted the same)."""
    pairs = n - channels
    return [
        Term("cmps", "comparisons (observer: min and max per channel)", "2·(elements − channels)",
             worked("2×({} − {})", n, channels), 2 * pairs),
        Term("mults", "multiplications (moving averages of min and max)", "2·channels",
             worked("2×{}", channels), 2 * channels),
        Term("adds", "additions (moving averages of min and max)", "4·channels", worked("4×{}", channels),
             4 * channels),
        Term("divs", "divisions (scale, min/scale)", "2·channels", worked("2×{}", channels), 2 * channels),
        Term("adds", "additions (max − min, q_min − round(min/scale))", "2·channels", worked("2×{}", channels),
             2 * channels),
        Term("cmps", "comparisons (round and clamp the zero point)", "3·channels", worked("3×{}", channels),
             3 * channels),
    ]


# (``fake_quantize_per_tensor_affine`` and ``_per_channel_affine`` are composite: their kernel runs the
# ``_cachemask`` form below, mask and all, in every grad mode, inference_mode too)
@op_rule(*aten_ops("fake_quantize_per_tensor_affine_cachemask", "fake_quantize_per_channel_affine_cachemask",
                   "_fake_quantize_per_tensor_affine_cachemask_tensor_qparams"))
def fake_quantize_cachemask(op) -> Cost:
    """(``_tensor_qparams`` has a ``fake_quant_enabled`` tensor; ``torch.fake_quantize_per_tensor_affine``
    with tensor qparams passes it as 1, and any caller is priced as if it were.)"""
    return Cost.of(*fake_quantize_terms(op.inputs[0].numel, mask=True))


def _fused_cost(n: int, channels: int, observer: bool, fake_quant: bool, assumed: str = "") -> Cost:
    """``assumed``: why the switches' values are not known (both are then taken as on), said on
    the first line of each part."""
    observer_part = observer_terms(n, channels) if observer else []
    fake_quant_part = fake_quantize_terms(n, mask=True) if fake_quant else []
    for part, switch in ((observer_part, "observer"), (fake_quant_part, "fake quantization")):
        if assumed and part:
            part[0] = part[0]._replace(what=f"{part[0].what} — {switch} assumed on, {assumed}")
    return Cost.of(*observer_part, *fake_quant_part)


def _fused_channels(x_shape: tuple, ch_axis: int, per_row: bool) -> int:
    return x_shape[ch_axis] if per_row and x_shape else 1


@op_rule(*aten_ops("_fused_moving_avg_obs_fq_helper", "_fused_moving_avg_obs_fq_helper_functional"))
def fused_moving_avg_obs_fake_quant(op) -> Cost:
    x = op.inputs[0]
    args = list(op.args) + [None] * 13
    ch_axis = op.kwargs.get("ch_axis", args[10])
    per_row = bool(op.kwargs.get("per_row_fake_quant", args[11] or False))
    channels = _fused_channels(x.shape, ch_axis or 0, per_row)
    return _fused_cost(x.numel, channels, observer=True, fake_quant=True, assumed="its switch is a tensor")


def _switch_on(module, name: str) -> "bool | None":
    flag = getattr(module, name, None)
    if flag is None or flag.is_meta:  # a meta tensor has no value
        return None
    return bool(flag.reshape(-1)[0].item() == 1)  # the kernel's test: switch == 1


def fused_moving_avg_obs_fake_quantize(m, call) -> Cost:
    x = call.input
    observer, fake_quant = _switch_on(m, "observer_enabled"), _switch_on(m, "fake_quant_enabled")
    channels = _fused_channels(x.shape, m.ch_axis, m.is_per_channel)
    return _fused_cost(x.numel, channels, observer=observer is not False, fake_quant=fake_quant is not False,
                       assumed="a meta tensor has no value" if observer is None or fake_quant is None else "")


if FusedMovingAvgObsFakeQuantize is not None:
    module_rule(FusedMovingAvgObsFakeQuantize)(fused_moving_avg_obs_fake_quantize)


@op_rule(*aten_ops("_fake_quantize_learnable_per_tensor_affine", "_fake_quantize_learnable_per_channel_affine"))
def learnable_fake_quantize(op) -> Cost:
    """LSQ: the zero point rounded and clamped into the integer range, then fake quantization."""
    zero_points = op.inputs[2].numel if len(op.inputs) > 2 else 1
    return Cost.of(
        Term("cmps", "comparisons (round and clamp the zero point)", "3·zero points", worked("3×{}", zero_points),
             3 * zero_points),
        Term("assigns", "assignments (clamp the zero point)", "zero points", zero_points, zero_points),
        *fake_quantize_terms(op.inputs[0].numel, mask=False))


@op_rule(*aten_ops("_fake_quantize_learnable_per_tensor_affine_backward",
                   "_fake_quantize_learnable_per_channel_affine_backward"))
def learnable_fake_quantize_backward(op) -> Cost:
    """Per element (the kernel's in-range path): q = round(x/s) + z; dx = dy·in_range;
    the fake-quantized value (clamp(q) − z)·s; ds = (x̂ − x)·(1/s)·dy·grad_factor; dz = 0.
    Then ds and dz are summed over the elements (per tensor) or per channel."""
    n = op.inputs[1].numel
    zero_points = op.inputs[3].numel if len(op.inputs) > 3 else 1
    return Cost.of(
        Term("mults", "multiplications (x/s, dy·mask, ·s, and the 3 factors of ds)", "6·elements",
             worked("6×{}", n), 6 * n),
        Term("adds", "additions (+ z, − z, x̂ − x)", "3·elements", worked("3×{}", n), 3 * n),
        Term("cmps", "comparisons (round, 2 range tests, clamp)", "5·elements", worked("5×{}", n), 5 * n),
        Term("adds", "additions (sums of ds and dz)", "2·(elements − zero points)",
             worked("2×({} − {})", n, zero_points), 2 * max(n - zero_points, 0)))

