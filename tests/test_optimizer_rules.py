"""The fused optimizer kernels of ``fused=True`` (rules/optimizer.py): each op called directly with
numbers checked by hand (nn.Linear(3, 2)'s parameters: a 2×3 weight and 2 biases, n = 8 elements in
t = 2 tensors), then whole training steps with ``fused=True`` against the same steps with
``foreach=True``: equal where the kernels compute the same, and the documented difference where not.
Also the foreach ops those steps and sharded norms run that were uncounted: ``_foreach_powsum``
(rules/reduction.py's ``linalg__powsum``) and ``_foreach_maximum_`` (rules/foreach.py); and AMP's
gradient scaler: its two kernels by hand, and scaled training steps (GradScaler with SGD, fused Adam
and fused SGD; autocast) against the same steps unscaled, the model, optimizer and scaler put back."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import torchcount

from conftest import Fn, needs, run
from test_worked_terms import evaluate


aten = torch.ops.aten
N, T = 8, 2  # elements and tensors of nn.Linear(3, 2)'s parameters
F32 = 4  # bytes per float32


def _parameters():
    torch.manual_seed(0)
    return [torch.randn(2, 3), torch.randn(2)]


def _like(tensors, fill=0.1):
    return [torch.full_like(t, fill) for t in tensors]


def cost(call):
    """The cost of the op ``call()`` makes, run inside a module without a rule: its tensors are made
    outside it (``call`` returns the op and its arguments) and given to the module as inputs, so that
    only the op is priced."""
    op, args, kwargs = call()
    tensors = [t for a in (*args, *kwargs.values()) for t in (a if isinstance(a, list) else [a])
               if isinstance(t, torch.Tensor)]

    def rebuild(*given):  # the same lists and keywords, of the module's inputs
        it = iter(given)

        def take(a):
            return [next(it) for _ in a] if isinstance(a, list) else next(it) if isinstance(a, torch.Tensor) else a

        return op(*[take(a) for a in args], **{k: take(v) for k, v in kwargs.items()})

    report = run(Fn(rebuild), *tensors)
    assert report.complete, report.uncounted
    return report.total.cost


def counts(c) -> tuple:
    return c.mults, c.adds, c.divs, c.cmps, c.transc


def _adam(op=aten._fused_adam_, amsgrad=False, weight_decay=0.0, maximize=False, scaled=False, lr=0.1):
    params = _parameters()
    grads, m, v, steps = _like(params), _like(params), _like(params), [torch.tensor(3.0), torch.tensor(3.0)]
    scale = dict(grad_scale=torch.tensor(2.0), found_inf=torch.tensor(0.0)) if scaled else {}
    return op, (params, grads, m, v, _like(params) if amsgrad else [], steps), dict(
        lr=lr, beta1=0.9, beta2=0.999, weight_decay=weight_decay, eps=1e-8, amsgrad=amsgrad, maximize=maximize, **scale)


@needs("fused optimizers on CPU")
def test_fused_adam_per_element_and_per_tensor():
    # per element: m + (1 − β1)·(g − m) 1 mult + 2 adds; v·β2 + (1 − β2)·g·g 3 mults + 1 add;
    # √v/√bc2 + ε 1 sqrt + 1 div + 1 add; p − step·m/denominator 1 mult + 1 div + 1 add.
    # per tensor: β1^step, β2^step, √bc2 (3 transc); 1 − each, 1 − β1, 1 − β2 (4 adds); lr/bc1 (1 div)
    c = cost(lambda: _adam())
    assert counts(c) == (5 * N, 5 * N + 4 * T, 2 * N + T, 0, N + 3 * T)
    # one pass: parameters, gradients, both moments and the 2 step counters read; the 3 updated written
    assert (c.bytes_read, c.bytes_written) == (4 * N * F32 + T * F32, 3 * N * F32)
    # amsgrad: max(v̂, v) per element, and v̂ read and written; weight decay g + λ·p; maximize −g
    c = cost(lambda: _adam(amsgrad=True, weight_decay=0.1, maximize=True))
    assert counts(c) == (5 * N + N + N, 5 * N + 4 * T + N, 2 * N + T, N, N + 3 * T)
    assert (c.bytes_read, c.bytes_written) == (5 * N * F32 + T * F32, 4 * N * F32)
    # AMP: g/scale per element and the gradient written back; the found_inf flag tested once
    c = cost(lambda: _adam(scaled=True))
    assert counts(c) == (5 * N, 5 * N + 4 * T, 3 * N + T, 1, N + 3 * T)
    assert (c.bytes_read, c.bytes_written) == (4 * N * F32 + T * F32 + 2 * F32, 4 * N * F32)
    # a tensor learning rate: the same arithmetic, its 4 bytes read
    c = cost(lambda: _adam(op=aten._fused_adam_.tensor_lr, lr=torch.tensor(0.1)))
    assert counts(c) == (5 * N, 5 * N + 4 * T, 2 * N + T, 0, N + 3 * T)
    assert c.bytes_read == 4 * N * F32 + T * F32 + F32


@needs("fused optimizers on CPU")
def test_fused_adamw_decays_the_parameter():
    # p·(1 − lr·λ) per element (1 mult), its factor once per tensor (1 mult + 1 add): no add per element
    c = cost(lambda: _adam(op=aten._fused_adamw_, weight_decay=0.01))
    assert counts(c) == (5 * N + N + T, 5 * N + 4 * T + T, 2 * N + T, 0, N + 3 * T)
    # without decay AdamW is Adam
    assert counts(cost(lambda: _adam(op=aten._fused_adamw_))) == counts(cost(lambda: _adam()))


@needs("fused optimizers on CPU")
def test_the_functional_form_costs_the_same_arithmetic():
    c = cost(lambda: _adam(op=aten._fused_adam.default))
    assert counts(c) == counts(cost(lambda: _adam()))
    # it returns new parameters, gradients and moments (5 lists, the empty max_exp_avg_sqs one included)
    assert c.bytes_written == 4 * N * F32


def _sgd(weight_decay=0.0, momentum=0.0, nesterov=False, first_step=False, dampening=0.0, maximize=False):
    params = _parameters()
    grads, buffers = _like(params), _like(params) if momentum else []
    return aten._fused_sgd_, (params, grads, buffers), dict(
        weight_decay=weight_decay, momentum=momentum, lr=0.1, dampening=dampening, nesterov=nesterov,
        maximize=maximize, is_first_step=first_step)


@needs("fused optimizers on CPU")
def test_fused_sgd_per_element():
    c = cost(lambda: _sgd())  # p − lr·g
    assert counts(c) == (N, N, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (2 * N * F32, N * F32)
    # momentum: b·μ + g·(1 − d) 2 mults + 1 add (1 − d once per tensor, 1 add), the buffer read and written
    c = cost(lambda: _sgd(momentum=0.9))
    assert counts(c) == (N + 2 * N, N + N + T, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (3 * N * F32, 2 * N * F32)
    # its first step copies the gradient into the buffer: no arithmetic, the buffer only written
    c = cost(lambda: _sgd(momentum=0.9, first_step=True))
    assert counts(c) == (N, N, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (2 * N * F32, 2 * N * F32)
    # nesterov g + μ·b, weight decay g + λ·p, maximize −g: 1 mult (+ 1 add) each per element
    c = cost(lambda: _sgd(momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True))
    assert counts(c) == (N + 2 * N + N + N + N, N + N + T + N + N, 0, 0, 0)


@needs("fused optimizers on CPU")
def test_fused_sgd_with_momentum_one_reads_and_writes_its_buffers():
    """Momentum 1 (b·1 + g·(1 − d): a plain running sum, which torch allows) is momentum all the same:
    the step of momentum 0.9, b·μ + g·(1 − d) 2 mults + 1 add per element and 1 − d per tensor, with the
    buffers read (3·N floats: parameters, gradients, buffers) and written (2·N: parameters, buffers)."""
    c = cost(lambda: _sgd(momentum=1.0))
    assert counts(c) == (N + 2 * N, N + N + T, 0, 0, 0)
    assert (c.bytes_read, c.bytes_written) == (3 * N * F32, 2 * N * F32)


def _adagrad(weight_decay=0.0, maximize=False):
    params = _parameters()
    grads, sums, steps = _like(params), _like(params), [torch.tensor(3.0), torch.tensor(3.0)]
    return aten._fused_adagrad_, (params, grads, sums, steps), dict(
        lr=0.1, lr_decay=0.0, weight_decay=weight_decay, eps=1e-10, maximize=maximize)


@needs("fused optimizers on CPU")
def test_fused_adagrad_per_element():
    # s + g·g 1 mult + 1 add; √s + ε 1 sqrt + 1 add; p − clr·g/std 1 mult + 1 div + 1 add;
    # per tensor clr = lr/(1 + (step − 1)·lr_decay): 2 adds + 1 mult + 1 div
    c = cost(lambda: _adagrad())
    assert counts(c) == (2 * N + T, 3 * N + 2 * T, N + T, 0, N)
    # parameters, gradients, sums and the step counters read; parameters and sums written
    assert (c.bytes_read, c.bytes_written) == (3 * N * F32 + T * F32, 2 * N * F32)
    c = cost(lambda: _adagrad(weight_decay=0.1, maximize=True))
    assert counts(c) == (2 * N + T + 2 * N, 3 * N + 2 * T + N, N + T, 0, N)


# ---- whole training steps: fused=True against foreach=True ------------------------------------

class Step(nn.Module):
    def __init__(self, make_optimizer):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3, 2)
        self.opt = make_optimizer(self.parameters())

    def forward(self, x):
        return self.fc(x)

    def train_step(self, x):
        self.opt.zero_grad()
        self(x).square().sum().backward()
        self.opt.step()


def _step_counts(name: str, path: str, first: bool = False, **options):
    model = Step(lambda p: getattr(torch.optim, name)(p, lr=0.1, **{path: True}, **options))
    x = torch.randn(4, 3)
    if not first:
        model.train_step(x)  # (a step before: the profiled one is not the first)
    report = torchcount.profile(model, x, method="train_step", warn=False)
    assert report.complete, report.uncounted
    c = report.total.cost
    return {"mults": c.mults, "adds": c.adds, "divs": c.divs, "cmps": c.cmps, "transc": c.transc}


def _minus(a: dict, b: dict) -> dict:
    return {k: a[k] - b[k] for k in a}


_NOTHING = {"mults": 0, "adds": 0, "divs": 0, "cmps": 0, "transc": 0}


@needs("fused optimizers on CPU")
@pytest.mark.parametrize("options", [{}, dict(amsgrad=True, weight_decay=0.1, maximize=True)])
def test_fused_adam_step_is_the_foreach_step_plus_the_kernels_per_tensor_scalars(options):
    """The same per-element work; the kernel's bias corrections (2 pows, 4 subtractions, 1 root and
    1 division per tensor) are Python floats on the foreach path, which no op sees."""
    difference = _minus(_step_counts("Adam", "fused", **options), _step_counts("Adam", "foreach", **options))
    assert difference == {**_NOTHING, "adds": 4 * T, "divs": T, "transc": 3 * T}


@needs("fused optimizers on CPU")
def test_fused_adamw_step_adds_its_decay_factor_per_tensor():
    difference = _minus(_step_counts("AdamW", "fused"), _step_counts("AdamW", "foreach"))  # (λ = 0.01)
    assert difference == {**_NOTHING, "mults": T, "adds": 4 * T + T, "divs": T, "transc": 3 * T}


@needs("fused optimizers on CPU")
@pytest.mark.parametrize("options", [{}, dict(weight_decay=0.1, nesterov=True, momentum=0.9, maximize=True)])
def test_fused_sgd_step_equals_the_foreach_step_without_momentum_or_with_nesterov(options):
    """Without momentum the two compute the same. With momentum (dampening 0) the kernel multiplies the
    gradient by 1 − d = 1 (1 mult per element) and computes 1 − d per tensor; foreach adds it as is."""
    difference = _minus(_step_counts("SGD", "fused", **options), _step_counts("SGD", "foreach", **options))
    momentum = bool(options.get("momentum"))
    assert difference == ({**_NOTHING, "mults": N, "adds": T} if momentum else _NOTHING)


@needs("fused optimizers on CPU")
def test_fused_sgd_first_step_with_momentum_equals_the_foreach_step():
    """On the first step both copy the gradient into the momentum buffer: no arithmetic either way."""
    options = dict(momentum=0.9, dampening=0.5)
    assert _step_counts("SGD", "fused", first=True, **options) == _step_counts("SGD", "foreach", first=True, **options)
    # and with dampening ≠ 0 the later steps compute the same too (foreach multiplies by 1 − d as well)
    difference = _minus(_step_counts("SGD", "fused", **options), _step_counts("SGD", "foreach", **options))
    assert difference == {**_NOTHING, "adds": T}


@needs("fused optimizers on CPU")
@pytest.mark.parametrize("options", [{}, dict(weight_decay=0.1)])
def test_fused_adagrad_step_skips_the_foreach_paths_multiplications_by_one(options):
    """The foreach path's addcmul(s, g, g, value=1) and addcdiv(p, −clr·g, std) (value 1) multiply by
    their value: 2 mults per element the kernel does not do. The kernel computes clr per tensor
    (2 adds + 1 mult + 1 div), a Python float on the foreach path."""
    difference = _minus(_step_counts("Adagrad", "fused", **options), _step_counts("Adagrad", "foreach", **options))
    assert difference == {**_NOTHING, "mults": T - 2 * N, "adds": 2 * T, "divs": T}


@needs("fused optimizers on CPU")
def test_a_fused_training_step_is_counted_completely_and_moves_fewer_bytes():
    x = torch.randn(4, 3)
    reports = {}
    for path in ("fused", "foreach"):
        model = Step(lambda p: torch.optim.Adam(p, lr=0.1, **{path: True}))
        model.train_step(x)
        reports[path] = torchcount.profile(model, x, method="train_step", warn=False)
    fused = reports["fused"]
    assert fused.complete and fused.coverage == 1.0 and not fused.uncounted
    terms = [t for row in fused.layers for t in row.terms]
    assert "divisions (step·m/denominator)" in {t.what for t in terms}  # the fused kernel's own lines
    assert all(evaluate(t.substituted) == t.value for t in terms)  # each worked line adds up
    # one pass over the tensors against one per foreach op
    assert fused.total.cost.bytes < reports["foreach"].total.cost.bytes


@needs("torch._foreach_powsum")
def test_foreach_powsum_is_the_vector_norm_less_its_root():
    a, b = torch.randn(4, 8), torch.randn(5)
    c = run(Fn(lambda a, b: torch._foreach_powsum([a, b], 2)), a, b).total.cost
    assert (c.mults, c.adds, c.transc) == (32 + 5, 31 + 4, 0)  # squares and their sums, no square root
    c = run(Fn(lambda a, b: torch._foreach_powsum([a, b], 3)), a, b).total.cost
    assert (c.transc, c.adds) == (32 + 5, 31 + 4)  # |x|^3 per element
    c = run(Fn(lambda a, b: torch._foreach_powsum([a, b], 1)), a, b).total.cost
    assert (c.cmps, c.adds) == (32 + 5, 31 + 4)  # |x| per element
    # ord 0 is Σ|x|^0 (the element count, zeros included), not the norm's count of non-zeros: a power each
    assert torch._foreach_powsum([torch.tensor([0.0, 2.0])], 0)[0].item() == 2.0
    c = run(Fn(lambda a: torch._foreach_powsum([a], 0)), a).total.cost
    assert (c.transc, c.adds, c.cmps) == (32, 31, 0)
    norm = run(Fn(lambda a: torch.linalg.vector_norm(a, 3)), a).total.cost
    assert norm.transc - 1 == run(Fn(lambda a: torch.linalg._powsum(a, 3)), a).total.cost.transc


def test_foreach_maximum_in_place_is_the_functional_maximum_writing_each_tensor():
    """There is no ``maximum_``: the foreach op (Adam's amsgrad on the foreach path) is priced by
    ``maximum``, one comparison per element, each tensor read with its partner and written back."""
    a, b = torch.randn(4, 8), torch.randn(4)
    c = cost(lambda: (aten._foreach_maximum_.List, ([a, b], [a.clone(), b.clone()]), {}))
    assert (c.cmps, c.bytes_read, c.bytes_written) == (36, 2 * 36 * F32, 36 * F32)


# ---- AMP's gradient scaler (torch.amp.GradScaler) ---------------------------------------------

def _unscale(op=aten._amp_foreach_non_finite_check_and_unscale_, dtype=torch.float32, grads=None):
    grads = [g.to(dtype) for g in _parameters()] if grads is None else grads
    return op, (grads, torch.tensor(0.0), torch.tensor(1 / 1024)), {}


@needs("AMP's GradScaler on CPU")
def test_amp_unscale_tests_and_multiplies_each_gradient_element():
    # per element isfinite(g) (1 cmp) and g·inv_scale (1 mult); per tensor inv_scale == 1? (1 cmp)
    c = cost(lambda: _unscale())
    assert counts(c) == (N, 0, 0, N + T, 0)
    # one pass: every gradient read and written back, inv_scale read, found_inf written (if set: an upper bound)
    assert (c.bytes_read, c.bytes_written) == (N * F32 + F32, N * F32 + F32)
    # bfloat16 gradients are computed in float: the same arithmetic, 2 bytes an element
    c = cost(lambda: _unscale(dtype=torch.bfloat16))
    assert counts(c) == (N, 0, 0, N + T, 0)
    assert (c.bytes_read, c.bytes_written) == (N * 2 + F32, N * 2 + F32)
    # an empty list (a device with no gradients of that dtype): the kernel returns at once
    c = cost(lambda: _unscale(grads=[]))
    assert counts(c) == (0, 0, 0, 0, 0)
    # the functional form: the same arithmetic, new gradients and flag written
    c = cost(lambda: _unscale(op=aten._amp_foreach_non_finite_check_and_unscale.default))
    assert counts(c) == (N, 0, 0, N + T, 0)
    assert c.bytes_written == N * F32 + F32


def _update(op=aten._amp_update_scale_):
    return op, (torch.tensor(65536.0), torch.tensor(1, dtype=torch.int32), torch.tensor(0.0), 2.0, 0.5, 2000), {}


@needs("AMP's GradScaler on CPU")
def test_amp_update_scale_counts_its_longest_branch():
    # found_inf? (1 cmp); tracker + 1 (1 add) == growth_interval? (1 cmp); scale·growth_factor (1 mult),
    # isfinite? (1 cmp): the interval completed, an upper bound of the usual step (2 cmps + 1 add)
    c = cost(lambda: _update())
    assert counts(c) == (1, 1, 0, 3, 0)
    # scale (4 bytes), tracker (int32) and found_inf read; scale and tracker written
    assert (c.bytes_read, c.bytes_written) == (3 * 4, 2 * 4)
    assert counts(cost(lambda: _update(op=aten._amp_update_scale.default))) == (1, 1, 0, 3, 0)


class ScaledStep(Step):
    """A mixed-precision training step: the forward under ``torch.autocast`` (bfloat16 on CPU), the
    loss scaled by a ``GradScaler`` the model holds, the gradients unscaled (``unscale_``, explicit
    or inside ``scaler.step``), the step skipped if one is not finite, the scale updated. Without a
    scaler (``scaled=False``) the same step unscaled."""

    def __init__(self, make_optimizer, scaled=True, autocast=False, unscale=False):
        super().__init__(make_optimizer)
        self.scaler = torch.amp.GradScaler("cpu", enabled=scaled)
        self.autocast, self.unscale = autocast, unscale

    def train_step(self, x):
        self.opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            loss = self(x).float().square().sum()
        self.scaler.scale(loss).backward()
        if self.unscale:
            self.scaler.unscale_(self.opt)
        self.scaler.step(self.opt)
        self.scaler.update()


def _optimizer_state(opt) -> dict:
    return {(i, k): v.detach().clone() for i, s in enumerate(opt.state.values()) for k, v in s.items()
            if isinstance(v, torch.Tensor)}


def _scaler_state(scaler) -> tuple:
    return (id(scaler._scale), scaler._scale.item(), id(scaler._growth_tracker), scaler._growth_tracker.item(),
            dict(scaler._per_optimizer_states), scaler.state_dict())


def _amp_step(make_optimizer, scaled, **options):
    """The op counts of a scaled (or unscaled) step after a real one; and that the profile puts back
    the parameters, the optimizer's state and the scaler's."""
    model = ScaledStep(make_optimizer, scaled=scaled, **options)
    x = torch.randn(4, 3)
    model.train_step(x)
    params = [p.detach().clone() for p in model.parameters()]
    state = _optimizer_state(model.opt)
    scaler = _scaler_state(model.scaler) if scaled else None
    report = torchcount.profile(model, x, method="train_step", warn=False)
    assert report.complete and report.coverage == 1.0, report.uncounted
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), params))
    now = _optimizer_state(model.opt)
    assert now.keys() == state.keys() and all(torch.equal(now[k], state[k]) for k in state)
    if scaled:
        assert _scaler_state(model.scaler) == scaler  # (the growth tracker back at 1, the same tensors)
        assert "used AMP gradient scaler(s) GradScaler" in " ".join(report.notes)
        terms = [t for row in report.layers for t in row.terms]
        assert {"multiplications (g·inv_scale)", "additions (growth tracker + 1)"} <= {t.what for t in terms}
        assert all(evaluate(t.substituted) == t.value for t in terms)  # each worked line adds up
    c = report.total.cost
    return {"mults": c.mults, "adds": c.adds, "divs": c.divs, "cmps": c.cmps, "transc": c.transc}


#: what GradScaler adds to any step: loss·scale and its backward (2 mults); _amp_update_scale_'s
#: longest branch (3 cmps + 1 add + 1 mult)
_SCALE_AND_UPDATE = {"mults": 2 + 1, "adds": 1, "divs": 0, "cmps": 3, "transc": 0}


@needs("AMP's GradScaler on CPU")
@pytest.mark.parametrize("options", [{}, dict(autocast=True), dict(unscale=True, momentum=0.9)])
def test_a_scaled_sgd_step_costs_the_unscaled_step_plus_the_scalers_ops(options):
    """Besides loss·scale, its backward and the update: inv_scale = 1/scale (1 div; in float64, the
    casts are copies), and _amp_foreach_non_finite_check_and_unscale_ on the gradients (1 cmp +
    1 mult per element, 1 cmp per tensor). The same with the forward under autocast and with an
    explicit ``unscale_`` (whose check ``step`` does not repeat)."""
    momentum = options.pop("momentum", 0.0)
    make = lambda p: torch.optim.SGD(p, lr=0.1, momentum=momentum)  # noqa: E731
    difference = _minus(_amp_step(make, True, **options), _amp_step(make, False, **options))
    assert difference == _minus(_SCALE_AND_UPDATE, {**_NOTHING, "mults": -N, "divs": -1, "cmps": -(N + T)})


@needs("fused optimizers on CPU")
@needs("AMP's GradScaler on CPU")
@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_a_scaled_fused_step_unscales_in_the_kernel(name):
    """A fused optimizer takes grad_scale and found_inf (``_step_supports_amp_scaling``): GradScaler
    checks the gradients with a dummy inv_scale of 1 (the check's N multiplications are counted, an
    upper bound: the kernel skips them when inv_scale is 1), sums the found_inf flags (0 + flag:
    1 add) and passes grad_scale = scale·1 (1 mult); the kernel divides each gradient by it (1 div)
    and tests found_inf once (1 cmp); Adam takes found_inf off its step counters (_foreach_sub_:
    1 add per tensor)."""
    make = lambda p: getattr(torch.optim, name)(p, lr=0.1, fused=True)  # noqa: E731
    difference = _minus(_amp_step(make, True), _amp_step(make, False))
    counters = T if name == "Adam" else 0
    assert difference == {"mults": 2 + 1 + 1 + N, "adds": 1 + 1 + counters, "divs": N, "cmps": 3 + N + T + 1,
                          "transc": 0}
