"""The fused optimizer kernels that ``fused=True`` runs (``torch.optim.Adam/AdamW/SGD/Adagrad``; on
CPU since torch 2.4): ``_fused_adam_``, ``_fused_adamw_``, ``_fused_sgd_``, ``_fused_adagrad_``, with
a float or a tensor learning rate (``.tensor_lr``), and their functional forms (``_fused_adam``, …).
Each updates every parameter of its lists in one pass, so it is priced per element (n: the
elements of all parameters) as the CPU kernel computes it (aten/src/ATen/native/cpu/Fused*Kernel.cpp),
plus the scalars it computes per tensor (t: the tensors of the list) before its loop.

Switches, from the op's arguments: ``grad_scale`` (AMP's unscaling: g/scale, 1 div per element, and
the gradient written back), ``maximize`` (−g: 1 mult, as ``neg``), ``weight_decay`` ≠ 0 (Adam, SGD,
Adagrad: g + λ·p, 1 mult + 1 add; AdamW: p·(1 − lr·λ), 1 mult, its factor once per tensor),
``amsgrad`` (max(v̂, v): 1 cmp), SGD's ``momentum`` ≠ 0 (not on its first step: b·μ + g·(1 − d),
2 mults + 1 add; on the first step b = g, a copy), ``nesterov`` (g + μ·b: 1 mult + 1 add). A
``found_inf`` flag is read (1 cmp per call); if it is set the kernel returns at once, which only the
value tells: the step is counted as run, an upper bound. The step counters are incremented by a
separate ``_foreach_add_`` before the kernel (rules/foreach.py), not here.

Against the same optimizer with ``foreach=True`` (its multi-tensor path, priced op by op by
rules/foreach.py; on CPU without ``capturable``):

- Adam, AdamW: the same per-element work (m.lerp_(g, 1 − β1): 1 mult + 2 adds, in either of the
  kernel's two forms; v·β2 + (1 − β2)·g·g: 3 mults + 1 add; √v̂/√bc2 + ε: 1 sqrt + 1 div + 1 add;
  p − step·m/denominator: 1 mult + 1 div + 1 add). The fused kernel also computes per tensor
  β1^step, β2^step (2 pows), 1 − each, 1 − β1, 1 − β2 (4 adds), √bc2 (1 sqrt), step = lr/bc1
  (1 div), and AdamW's 1 − lr·λ (1 mult + 1 add): counted here; the foreach path computes these in
  Python floats, which no aten op sees, so they are not counted there. The difference is those
  per-tensor terms only.
- SGD: the same, except that with momentum and dampening 0 the kernel still multiplies g by
  1 − d = 1 (1 mult per element more; the foreach path adds g without a factor, alpha=1), and
  computes 1 − d once per tensor (1 add).
- Adagrad: the kernel computes the state sum s + g·g (1 mult + 1 add), √s + ε (1 sqrt + 1 add)
  and p − clr·g/(√s + ε) (1 mult + 1 div + 1 add), where the foreach path runs
  ``addcmul(s, g, g, value=1)`` and ``addcdiv(p, −clr·g, std)`` (value 1), whose rules count the
  multiplication by their value: 2 mults per element fewer here. The kernel's per-tensor
  clr = lr/(1 + (step − 1)·lr_decay) (2 adds + 1 mult + 1 div) is a Python float on the foreach path.

Constants the kernels write inside their loops but that do not change along them (a compiler lifts
them out) are counted once per tensor when a formula needs their value (AdamW's 1 − lr·λ, SGD's
1 − d); two are not counted: Adam's test of which of its two equal-cost lerp forms to use
(|1 − β1| < 0.5) and the sign flips −step, −lr of the vectorised loops (their scalar tails subtract
instead).

Bytes (the in-place forms): one pass, each tensor list read once (parameters, gradients, states,
step counters, and the scale, flag and learning-rate tensors given) and the updated ones written
once (parameters and states; gradients only when unscaled). On its first step SGD writes its
momentum buffers without reading them (b = g). The foreach path reads and writes them once per op it runs, so it moves
more bytes: that is what fusing saves. The functional forms return new tensors: every input read
and every output written (the default traffic of count.py).

AMP's gradient scaler (``torch.amp.GradScaler``) runs two kernels of its own, priced here as the CPU
kernels compute them (aten/src/ATen/native/cpu/AmpGradScalerKernels.cpp): ``unscale_`` (and
``step``'s inf check) ``_amp_foreach_non_finite_check_and_unscale_`` (per gradient element a
finiteness test and g·inv_scale, per tensor the test inv_scale == 1), ``update``
``_amp_update_scale_`` (a few scalar operations, the longest branch counted); see their rules. The
rest of what it runs has rules elsewhere: loss·scale (``mul``, and its backward), inv_scale = 1/scale
(``reciprocal`` in float64, the casts copies), the flags (``full``, summed with ``add``), ``.item()``.
"""
from __future__ import annotations

from ..capture import TensorMeta
from ..cost import Cost, Term, worked
from ._util import schema_arg
from .registry import aten, op_rule


def _elements(what: str, n: int, category: str, k: int = 1) -> Term:
    """k operations of ``category`` per parameter element."""
    return Term(category, what, f"{k}·elements" if k != 1 else "elements", worked("{}×{}", k, n) if k != 1 else n,
                k * n)


def _per_tensor(what: str, t: int, category: str, k: int = 1) -> Term:
    """k operations of ``category`` once per tensor of the list (the kernel's scalars before its loop)."""
    return Term(category, what, f"{k}·tensors" if k != 1 else "tensors", worked("{}×{}", k, t) if k != 1 else t,
                k * t)


def _tensor_list(value) -> list:
    return [] if value is None else [v for v in value if isinstance(v, TensorMeta)]


def _nbytes(tensors: list) -> int:
    return sum(t.nbytes for t in tensors)


def _gradient_terms(n: int, unscaled: bool, maximize: bool) -> list[Term]:
    """What every kernel does to the gradient first: unscale it (AMP) and negate it (maximize)."""
    return [_elements("divisions (gradient unscaled, g/scale)", n, "divs") if unscaled else None,
            _elements("negations (maximize, −g)", n, "mults") if maximize else None]


def _coupled_decay_terms(n: int) -> list[Term]:
    """L2 weight decay added to the gradient: g + λ·p."""
    return [_elements("multiplications (weight decay, λ·p)", n, "mults"),
            _elements("additions (weight decay, g + λ·p)", n, "adds")]


def _found_inf_terms(op) -> list[Term]:
    """The ``found_inf`` flag read once per call (the step is counted as run: an upper bound)."""
    if schema_arg(op, "found_inf") is None:
        return []
    return [Term("cmps", "found_inf test (skip the step?)", "calls", 1, 1)]


def adam_terms(n: int, t: int, *, decoupled: bool, weight_decay: float, amsgrad: bool, maximize: bool,
               unscaled: bool) -> list[Term]:
    """One Adam (``decoupled=False``) or AdamW step of ``n`` elements in ``t`` tensors, as
    adam_math computes it."""
    terms = _gradient_terms(n, unscaled, maximize)
    if weight_decay != 0:
        terms += ([_per_tensor("decay factor 1 − lr·λ (multiplication)", t, "mults"),
                   _per_tensor("decay factor 1 − lr·λ (subtraction)", t, "adds"),
                   _elements("multiplications (decoupled decay, p·(1 − lr·λ))", n, "mults")]
                  if decoupled else _coupled_decay_terms(n))
    terms += [
        _per_tensor("powers β1^step, β2^step", t, "transc", 2),
        _per_tensor("subtractions bc1 = 1 − β1^step, bc2 = 1 − β2^step, 1 − β1, 1 − β2", t, "adds", 4),
        _per_tensor("square roots √bc2", t, "transc"),
        _per_tensor("divisions step = lr/bc1", t, "divs"),
        _elements("multiplications (m + (1 − β1)·(g − m))", n, "mults"),
        _elements("additions (m + (1 − β1)·(g − m))", n, "adds", 2),
        _elements("multiplications (v·β2 + (1 − β2)·g·g)", n, "mults", 3),
        _elements("additions (v·β2 + (1 − β2)·g·g)", n, "adds"),
        _elements("comparisons (amsgrad, max(v̂, v))", n, "cmps") if amsgrad else None,
        _elements("square roots √v", n, "transc"),
        _elements("divisions (√v/√bc2)", n, "divs"),
        _elements("additions (+ ε)", n, "adds"),
        _elements("multiplications (step·m)", n, "mults"),
        _elements("divisions (step·m/denominator)", n, "divs"),
        _elements("additions (p − step·m/denominator)", n, "adds"),
    ]
    return terms


def sgd_terms(n: int, t: int, *, weight_decay: float, momentum: float, nesterov: bool, first_step: bool,
              maximize: bool, unscaled: bool) -> list[Term]:
    """One SGD step of ``n`` elements in ``t`` tensors, as sgd_math computes it."""
    terms = _gradient_terms(n, unscaled, maximize)
    if weight_decay != 0:
        terms += _coupled_decay_terms(n)
    if momentum != 0:
        if not first_step:  # (on the first step the buffer is the gradient: a copy)
            terms += [_per_tensor("subtractions 1 − dampening", t, "adds"),
                      _elements("multiplications (b·μ + g·(1 − d))", n, "mults", 2),
                      _elements("additions (b·μ + g·(1 − d))", n, "adds")]
        if nesterov:
            terms += [_elements("multiplications (nesterov, μ·b)", n, "mults"),
                      _elements("additions (nesterov, g + μ·b)", n, "adds")]
    return terms + [_elements("multiplications (lr·g)", n, "mults"),
                    _elements("additions (p − lr·g)", n, "adds")]


def adagrad_terms(n: int, t: int, *, weight_decay: float, maximize: bool, unscaled: bool) -> list[Term]:
    """One Adagrad step of ``n`` elements in ``t`` tensors, as adagrad_math computes it."""
    terms = _gradient_terms(n, unscaled, maximize)
    if weight_decay != 0:
        terms += _coupled_decay_terms(n)
    return terms + [
        _per_tensor("clr = lr/(1 + (step − 1)·lr_decay): additions", t, "adds", 2),
        _per_tensor("clr: multiplications", t, "mults"),
        _per_tensor("clr: divisions", t, "divs"),
        _elements("multiplications (g·g)", n, "mults"),
        _elements("additions (s + g·g)", n, "adds"),
        _elements("square roots √s", n, "transc"),
        _elements("additions (+ ε)", n, "adds"),
        _elements("multiplications (clr·g)", n, "mults"),
        _elements("divisions (clr·g/std)", n, "divs"),
        _elements("additions (p − clr·g/std)", n, "adds"),
    ]


def _in_place(op) -> bool:
    return op.op.overloadpacket.__name__.endswith("_")


def _one_pass_bytes(op, cost: Cost, read: list, written: list) -> Cost:
    """The in-place kernel's traffic, one pass: the tensors it reads (``read``) read once, the ones it
    updates (``written``) written once. The functional and ``out=`` forms: count.py's default."""
    if not _in_place(op):
        return cost
    return cost.with_bytes(_nbytes(read), _nbytes(written))


def _extra_inputs(op) -> list:
    """The scalar tensors given besides the lists: grad_scale, found_inf, a tensor learning rate."""
    return [v for v in (schema_arg(op, "grad_scale"), schema_arg(op, "found_inf"), schema_arg(op, "lr"))
            if isinstance(v, TensorMeta)]


@op_rule(aten._fused_adam_, aten._fused_adamw_, aten._fused_adam, aten._fused_adamw)
def fused_adam(op) -> Cost:
    """``_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr,
    beta1, beta2, weight_decay, eps, amsgrad, maximize, grad_scale, found_inf)``; AdamW's decays
    the parameter instead of the gradient (module docstring)."""
    params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps = (_tensor_list(a) for a in op.args[:6])
    amsgrad, unscaled = bool(schema_arg(op, "amsgrad")), schema_arg(op, "grad_scale") is not None
    n, t = sum(p.numel for p in params), len(params)
    decoupled = op.op.overloadpacket.__name__.startswith("_fused_adamw")
    cost = Cost.of(*_found_inf_terms(op),
                   *adam_terms(n, t, decoupled=decoupled, weight_decay=schema_arg(op, "weight_decay"),
                               amsgrad=amsgrad, maximize=bool(schema_arg(op, "maximize")), unscaled=unscaled))
    read = params + grads + exp_avgs + exp_avg_sqs + max_sqs + steps + _extra_inputs(op)
    written = params + exp_avgs + exp_avg_sqs + max_sqs + (grads if unscaled else [])
    return _one_pass_bytes(op, cost, read, written)


@op_rule(aten._fused_sgd_, aten._fused_sgd)
def fused_sgd(op) -> Cost:
    """``_fused_sgd_(params, grads, momentum_buffer_list, *, weight_decay, momentum, lr, dampening,
    nesterov, maximize, is_first_step, grad_scale, found_inf)`` (module docstring)."""
    params, grads, buffers = (_tensor_list(a) for a in op.args[:3])
    momentum, first_step = schema_arg(op, "momentum"), bool(schema_arg(op, "is_first_step"))
    unscaled = schema_arg(op, "grad_scale") is not None
    n, t = sum(p.numel for p in params), len(params)
    cost = Cost.of(*_found_inf_terms(op),
                   *sgd_terms(n, t, weight_decay=schema_arg(op, "weight_decay"), momentum=momentum,
                              nesterov=bool(schema_arg(op, "nesterov")), first_step=first_step,
                              maximize=bool(schema_arg(op, "maximize")), unscaled=unscaled))
    buffers = buffers if momentum != 0 else []
    read = params + grads + ([] if first_step else buffers) + _extra_inputs(op)
    written = params + buffers + (grads if unscaled else [])
    return _one_pass_bytes(op, cost, read, written)


@op_rule(aten._fused_adagrad_, aten._fused_adagrad)
def fused_adagrad(op) -> Cost:
    """``_fused_adagrad_(params, grads, state_sums, state_steps, *, lr, lr_decay, weight_decay, eps,
    maximize, grad_scale, found_inf)`` (module docstring). The step counters are read, not written
    (the schema of the float-lr overload marks them written; the kernel only reads them)."""
    params, grads, sums, steps = (_tensor_list(a) for a in op.args[:4])
    unscaled = schema_arg(op, "grad_scale") is not None
    n, t = sum(p.numel for p in params), len(params)
    cost = Cost.of(*_found_inf_terms(op),
                   *adagrad_terms(n, t, weight_decay=schema_arg(op, "weight_decay"),
                                  maximize=bool(schema_arg(op, "maximize")), unscaled=unscaled))
    read = params + grads + sums + steps + _extra_inputs(op)
    written = params + sums + (grads if unscaled else [])
    return _one_pass_bytes(op, cost, read, written)


# ---- AMP's gradient scaler (torch.amp.GradScaler) -------------------------------------------------

@op_rule(aten._amp_foreach_non_finite_check_and_unscale_, aten._amp_foreach_non_finite_check_and_unscale)
def amp_unscale(op) -> Cost:
    """``_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)``: what
    ``GradScaler.unscale_`` (and ``step``'s inf check) runs on each device's gradients of one dtype.
    The CPU kernel (aten/src/ATen/native/cpu/AmpGradScalerKernels.cpp; cuda/AmpKernels.cu's does the
    same per element) visits every element of every gradient once: a finiteness test (1 cmp, as ``isfinite``;
    a non-finite one sets found_inf to 1) and g·inv_scale (1 mult), the product written back (a
    reduced-precision gradient computed in float: conversions are not counted). Per tensor (t) the
    test inv_scale == 1 (1 cmp; the kernel writes it inside its loop, loop-invariant): when it
    holds the kernel writes each element back unmultiplied. Which way it goes is the scale's
    value, which a rule does not see: the multiplication is counted, an upper bound. It is exact
    for ``unscale_`` (inv_scale = 1/scale); a fused optimizer's step makes GradScaler check its
    gradients with a dummy inv_scale of 1 (the kernel then unscales by grad_scale itself), where
    those n multiplications are not done.

    Bytes (in place): one pass, every gradient read and written back (also unmultiplied), inv_scale
    read once; found_inf counted written once (it is written only if a non-finite element is found:
    an upper bound; the kernel does not read it). An empty list returns at once: no arithmetic (its
    bytes stay the flags', as count.py counts a call that a rule gives none). The functional form
    (new gradients and flag): count.py's default traffic."""
    grads = _tensor_list(op.args[0])
    n, t = sum(g.numel for g in grads), len(grads)
    cost = Cost.of(_elements("comparisons (isfinite(g), found_inf set if not)", n, "cmps"),
                   _elements("multiplications (g·inv_scale)", n, "mults"),
                   _per_tensor("comparisons (inv_scale == 1?)", t, "cmps"))
    found_inf, inv_scale = (_tensor_list([schema_arg(op, name)]) for name in ("found_inf", "inv_scale"))
    return _one_pass_bytes(op, cost, grads + inv_scale, grads + found_inf)


@op_rule(aten._amp_update_scale_, aten._amp_update_scale)
def amp_update_scale(op) -> Cost:
    """``_amp_update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor,
    growth_interval)``: ``GradScaler.update``. The CPU kernel (AmpGradScalerKernels.cpp) works on
    three one-element tensors: found_inf tested (1 cmp); if set, scale·backoff_factor and the
    tracker reset; if not, tracker + 1 (1 add) compared with growth_interval (1 cmp), and on
    reaching it scale·growth_factor (1 mult), kept only if finite (1 cmp), the tracker reset. The
    branch taken is the tensors' values, which a rule does not see: the longest is counted (an
    interval completed: 3 cmps + 1 add + 1 mult), an upper bound of the usual step (2 cmps +
    1 add) and of a backed-off one (1 cmp + 1 mult). The stores are bytes, not assignments.

    Bytes (in place): the scale, the tracker and found_inf read once; the scale and the tracker
    written once (an upper bound: the scale is written only when it changes). The functional form:
    count.py's default traffic."""
    cost = Cost.of(Term("cmps", "comparisons (found_inf set?)", "calls", 1, 1),
                   Term("adds", "additions (growth tracker + 1)", "calls", 1, 1),
                   Term("cmps", "comparisons (tracker + 1 == growth_interval?)", "calls", 1, 1),
                   Term("mults", "multiplications (scale·growth_factor; the interval completed: an upper bound)",
                        "calls", 1, 1),
                   Term("cmps", "comparisons (isfinite(new scale)?)", "calls", 1, 1))
    updated = _tensor_list([schema_arg(op, "self"), schema_arg(op, "growth_tracker")])
    return _one_pass_bytes(op, cost, updated + _tensor_list([schema_arg(op, "found_inf")]), updated)
