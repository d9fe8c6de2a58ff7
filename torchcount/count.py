"""Count: turn a captured trace into per-call costs, then per-module rows and totals.

Pricing applies what the capture marked on each call (``capture.py`` decides, as it records,
which modules have a rule and which calls a rule covers):
- a module with a rule → the rule (it covers the module's whole forward);
- a module without one → the op rules of the aten ops it ran itself;
- a call inside a ruled module → already covered by that rule.
"""
from __future__ import annotations

import bisect
from collections import Counter
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence
from torch.utils._pytree import tree_leaves

from .capture import Call, OpCall, TensorMeta, Trace, storage_bytes, tensors_in
from .capture import _UNINITIALIZED, _ScriptModule, _runs_no_ops, _written_arguments, own_call
from .conventions import Convention
from .cost import CATEGORIES, ZERO, Cost
from .rules import op_rule_for, rule_for, sparse_op_rule_for, uncounted_why
from .rules.complex import complex_mode, in_real_ops, op_complex_mode


class RuleError(RuntimeError):
    """A rule raised while pricing a call; names the rule and the module."""


class CallCost:
    """The price of one call: what it cost itself, and with everything it called."""

    __slots__ = ("call", "self_cost", "source", "rule", "uncounted_ops", "counted_items", "inclusive", "terms")

    def __init__(self, call: Call, self_cost: Cost, source: str, rule: str | None = None,
                 uncounted_ops: "Counter | None" = None, counted_items: int = 0,
                 inclusive: Cost | None = None):
        self.call = call
        self.self_cost = self_cost
        self.source = source  # "rule" | "ops" | "covered"
        self.rule = rule
        self.uncounted_ops = uncounted_ops if uncounted_ops is not None else _NO_OPS
        self.counted_items = counted_items  # module rules and ops priced (for the coverage figure)
        self.inclusive = inclusive if inclusive is not None else self_cost
        self.terms = ()  # the worked terms of a call priced from its ops (a rule's are in self_cost)

    def __repr__(self) -> str:
        return f"CallCost({self.call!r}, source={self.source!r}, self_cost={self.self_cost!r})"


_NO_OPS: Counter = Counter()  # shared, never modified: most calls have no uncounted op


def _traffic(inputs, outputs, extra_bytes: int = 0) -> tuple[int, int]:
    """Minimal memory traffic: every input (and weight) read once, every new output written once."""
    read = sum([t.nbytes for t in inputs]) + extra_bytes
    written = sum([t.nbytes for t in outputs if not t.aliased])
    return read, written


def _packed_bytes(value, with_batch_sizes: bool = True) -> int:
    """Bytes of the PackedSequences in a described structure: their data, and their batch sizes
    (read by a call; an output's are its input's, not written anew)."""
    if isinstance(value, PackedSequence):
        return sum(storage_bytes(t) for t in (value.data, value.batch_sizes if with_batch_sizes else None)
                   if isinstance(t, torch.Tensor))
    if isinstance(value, (tuple, list)):
        return sum(_packed_bytes(v, with_batch_sizes) for v in value)
    if isinstance(value, dict):
        return sum(_packed_bytes(v, with_batch_sizes) for v in value.values())
    return 0


def _parametrized_state_bytes(module: nn.Module, parametrizations: nn.Module, call: Call,
                              state_bytes: "dict[int, int] | None") -> int:
    """What a parametrized module's call reads besides its inputs: its own tensors and other
    children's, and each parametrized tensor as computed (weight norm's or a low-rank factor's
    product: the output of the parametrization's call, which reads the originals itself), not the
    originals (``parametrizations.weight.original``)."""
    skipped = {id(m) for m in parametrizations.modules()}
    own = sum([state_bytes.get(id(m), 0) if state_bytes is not None else _own_state_bytes(m)
               for m in module.modules() if id(m) not in skipped])
    computed = {id(c.module): c for c in call.children if id(c.module) in skipped}
    for plist in parametrizations.values():
        seen = computed.get(id(plist))
        if seen is not None and seen.outputs:
            own += seen.outputs[0].nbytes
        else:  # cached (parametrize.cached()) or not read by this call: the original's size
            original = getattr(plist, "original", None)
            own += storage_bytes(original) if isinstance(original, torch.Tensor) else 0
    return own


def _numel(t: torch.Tensor) -> int:
    """Elements of a tensor; 0 for a lazy module's parameter or buffer not yet materialised (no size)."""
    return 0 if isinstance(t, _UNINITIALIZED) else t.numel()


def _own_tensors(store: dict) -> list:
    """A module's own parameters or buffers, straight from its dict (``parameters(recurse=False)``
    goes through generator machinery that costs more than the rule itself), without duplicates."""
    return list({id(t): t for t in store.values() if t is not None}.values())


def _own_state_bytes(module: nn.Module) -> int:
    """Bytes of a module's own parameters and buffers (each tensor once)."""
    total, seen = 0, set()
    for store in (module._parameters, module._buffers):
        for t in store.values():
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                total += storage_bytes(t)
    return total


def _subtree_state_bytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer in ``module``'s subtree (each tensor once)."""
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return sum(storage_bytes(t) for t in tensors.values())


def _check_counts(cost: Cost, what: str) -> None:
    """A user's rule returned counts that cannot be: negative (ours are tested not to)."""
    negative = [f"{name} {getattr(cost, name)}" for name in CATEGORIES if getattr(cost, name) < 0]
    if negative:
        raise RuleError(f"{what} returned negative counts: {', '.join(negative)}")


def on_sparse(op: OpCall) -> bool:
    """An op called with a sparse operand (or returning one): priced by its sparse rule only."""
    return _any_sparse(op.inputs, op.outputs)


def _any_sparse(inputs, outputs) -> bool:
    for group in (inputs, outputs):
        for t in group:
            if t.sparse is not None:
                return True
    return False


def price_op(op: OpCall) -> Cost | None:
    rule = sparse_op_rule_for(op.op) if on_sparse(op) else op_rule_for(op.op)
    if rule is None:
        return None
    try:
        cost = rule(op)
    except Exception as exc:
        raise RuleError(f"op rule '{rule.name}' failed on {op.name} with inputs "
                        f"{[tuple(t.shape) for t in op.inputs]}: {exc}") from exc
    if cost is None:  # the rule cannot tell this call's work from its arguments: uncounted
        return None
    if not isinstance(cost, Cost):
        raise RuleError(f"op rule '{rule.name}' returned {type(cost).__name__} for {op.name}; a rule returns a Cost")
    if rule.checked:
        _check_counts(cost, f"op rule '{rule.name}' for {op.name}")
    if not rule.complex_aware:
        for t in op.inputs:
            if t.dtype.is_complex:  # counted as if real: in real operations (rules/complex.py)
                cost = in_real_ops(cost, op_complex_mode(op))
                break
    if cost.bytes_read == 0 and cost.bytes_written == 0:
        writes = _written_arguments(op.op)
        if writes:  # an in-place op (relu_, add_, copy_) or one with out=: it writes into what it was given
            cost = cost.with_bytes(*_in_place_traffic(op, writes, cost.is_zero()))
        elif not cost.is_zero() or not _moves_nothing(op.outputs, op.op):
            # data movement has bytes too (cat, contiguous, pad, a cast, gather): only a view, whose
            # every output looks into an input, and a tensor left uninitialised (empty) move nothing
            cost = cost.with_bytes(*_traffic(op.inputs, op.outputs))
    return cost


def _in_place_traffic(op: OpCall, writes: tuple, overwrites: bool) -> tuple[int, int]:
    """An op that writes into tensors it was given writes each of them once (and any new output),
    and reads its inputs, except a destination it only overwrites: an ``out=`` tensor, and the
    ``self`` of an op that computes nothing (``copy_``, ``fill_``, ``zero_``). ``relu_`` reads
    and writes its input; ``dst.copy_(src)`` reads src and writes dst."""
    written = sum([t.nbytes for t in op.outputs if not t.aliased])
    unread = 0
    for position, name, out in writes:
        value = op.args[position] if position < len(op.args) else op.kwargs.get(name)
        size = sum([t.nbytes for t in tensors_in(value)])
        written += size
        if out or (position == 0 and overwrites):
            unread += size
    return sum([t.nbytes for t in op.inputs]) - unread, written


def _moves_nothing(outputs, op=None) -> bool:
    """Every output aliases an input (a view, the input itself; an op that writes in place is
    told apart before, by ``capture._written_arguments``), or the op only allocates. For an op the
    schema says it (``Tensor(a) self -> Tensor(a)``): under the dispatch mode a view's output is
    not yet marked as one."""
    if all(t.aliased for t in outputs):
        return True
    if outputs and all(t.numel == 0 for t in outputs):  # (an empty result: no row read, none written)
        return True
    if op is None:
        return False
    found = _ALIASING.get(op)
    if found is None:
        schema = getattr(op, "_schema", None)
        returns = schema.returns if schema is not None else ()
        found = _ALIASING[op] = bool(returns) and all(r.alias_info is not None for r in returns) or \
            getattr(op, "overloadpacket", None) in _MOVES_NOTHING
    return found


_ALIASING: dict = {}  # op overload → its outputs alias its inputs, or it only allocates
_MOVES_NOTHING = {getattr(torch.ops.aten, n) for n in (
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",  # allocation: nothing written
    "_unsafe_view",  # a view of a fresh copy (reshape of a non-contiguous tensor: the copy is counted)
) if hasattr(torch.ops.aten, n)}


def autocast_casts(call: Call) -> int:
    """Bytes of the copies that casts made inside a call priced by a rule (and inside the calls its
    rule covers): under autocast a Linear or a convolution reads a bf16/fp16 copy of its input and
    weights, made by ``_to_copy`` ops its rule does not see. Each copy is written once and read once
    by the layer; what each cast read, the stored tensor, is the rule's read of its input or weight.
    (A weight autocast already cast earlier in the same region is reused from its cache: no cast.)
    The capture records these ops only while autocast is on."""
    total = 0
    for op in call.ops:
        if getattr(op.op, "overloadpacket", None) in _CASTS:
            total += sum([t.nbytes for t in op.outputs if not t.aliased])
    for child in call.children:
        if child.covered:
            total += autocast_casts(child)
    return total


_CASTS = {getattr(torch.ops.aten, n) for n in ("_to_copy", "to") if hasattr(torch.ops.aten, n)}


def price_call(call: Call, state_bytes: "dict[int, int] | None" = None, autocast: bool = False) -> CallCost:
    """Price one call. ``state_bytes``: each module's own parameter and buffer bytes by
    ``id(module)``, when the caller has them already (see :func:`_walk_tensors`). ``autocast``:
    autocast was on at some module call (:attr:`Trace.autocast`), so a rule's call may hold the
    casts it made (:func:`autocast_casts`). The ops of the module's own hooks are added to
    whatever priced the call (:func:`_with_hook_ops`)."""
    priced = _price_call(call, state_bytes, autocast)
    return _with_hook_ops(priced) if call.hook_ops else priced


def _with_hook_ops(priced: CallCost) -> CallCost:
    """The call's own cost plus what its module's forward hooks and pre-hooks ran around it
    (``Call.hook_ops``): work outside its rule or its forward's ops, also where an enclosing
    rule covers the call itself. Their worked terms follow the call's own."""
    cost, missing, counted, terms = price_ops(priced.call.hook_ops)
    terms = tuple([t._replace(what="forward hook: " + t.what) for t in terms])  # told apart where shown
    own = priced.self_cost
    total = (own + cost)._replace(terms=own.terms + terms) if priced.source == "rule" else own + cost
    if missing:
        missing = Counter(missing)
        missing.update(priced.uncounted_ops)
    merged = CallCost(priced.call, total, priced.source, priced.rule, missing or priced.uncounted_ops,
                      priced.counted_items + counted)
    merged.terms = priced.terms + terms if priced.source != "rule" else ()
    return merged


def _price_call(call: Call, state_bytes: "dict[int, int] | None", autocast: bool) -> CallCost:
    if call.covered:
        return CallCost(call, ZERO, "covered")
    module = call.module
    # looked up now, not at capture: a lazy module's class is its materialised one only after
    # its first forward (LazyBatchNorm1d → BatchNorm1d). Not under torch.vmap: see capture
    rule = None if call.unruled else rule_for(module)
    if rule is not None and _any_sparse(call.inputs, call.outputs):
        # a module rule prices dense operands (numel elements); torch runs a sparse kernel, whose ops
        # a ruled module does not record
        return CallCost(call, ZERO, "ops", None, Counter({f"{type(module).__name__} (on sparse tensors)": 1}), 0)
    if rule is not None and call.failed is not None:
        # raised, and its caller went on: its rule would price a call that finished, and its ops, which a
        # rule covers, were not recorded, so what it ran before raising is not known
        return CallCost(call, ZERO, "ops", None, Counter({f"{type(module).__name__} (raised an error its caller "
                                                          "handled)": 1}), 0)
    if rule is not None:
        try:
            cost = rule.fn(module, call)
        except Exception as exc:
            ragged = any(not isinstance(d, int) for t in call.inputs for d in t.shape)
            raise RuleError(
                f"rule '{rule.name}' failed for module '{call.path or '(root)'}' "
                f"({type(module).__name__}) with input shapes "
                f"{[tuple(t.shape) for t in call.inputs]}: {exc}"
                + ("; an input has a ragged dimension: a nested tensor, which torchcount does not count "
                   "(profile it padded, or each component)" if ragged else "")) from exc
        if not isinstance(cost, Cost):
            raise RuleError(f"rule '{rule.name}' returned {type(cost).__name__} for module "
                            f"'{call.path or '(root)'}' ({type(module).__name__}); a rule returns a Cost")
        if rule.checked:
            _check_counts(cost, f"rule '{rule.name}' for module '{call.path or '(root)'}' ({type(module).__name__})")
        if not rule.complex_aware:
            for t in call.inputs:
                if t.dtype.is_complex:  # counted as if real: in real operations (rules/complex.py)
                    cost = in_real_ops(cost, complex_mode(call.inputs))
                    break
        if cost.bytes_read == 0 and cost.bytes_written == 0 and not (cost.is_zero() and _moves_nothing(call.outputs)):
            # the rule left the traffic to the default (not for a call that returns its input or a
            # view of it and computes nothing: nn.Identity, nn.Flatten, eval Dropout move no bytes,
            # as the same view run as an op)
            if module._modules:  # the rule covers its children's work too (MHA's out_proj): their weights
                # (and a quantized Linear's packed weights, held by its _packed_params child)
                parametrized = module._modules.get("parametrizations")
                if parametrized is not None and torch.nn.utils.parametrize.is_parametrized(module):
                    own = _parametrized_state_bytes(module, parametrized, call, state_bytes)
                else:
                    own = sum([state_bytes.get(id(m), 0) for m in module.modules()]) if state_bytes is not None \
                        else _subtree_state_bytes(module)
            else:
                own = state_bytes.get(id(module)) if state_bytes is not None else None
            read, written = _traffic(call.inputs, call.outputs, own if own is not None else _own_state_bytes(module))
            if getattr(module, "inplace", False) is True and not cost.is_zero():
                # ReLU(inplace=True): the result is written over the input it returns
                written += sum([t.nbytes for t in call.outputs if t.aliased])
            if call.args and type(call.args[0]) is PackedSequence or type(call.output) in (tuple, PackedSequence):
                # a packed sequence is kept whole (rules read its batch sizes): its tensors are not among
                # the call's described inputs and outputs
                read += _packed_bytes((call.args, call.kwargs))
                written += _packed_bytes(call.output, with_batch_sizes=False)
            cost = cost.with_bytes(read, written)
        if autocast:
            copies = autocast_casts(call)
            if copies:
                cost = cost.with_bytes(cost.bytes_read + copies, cost.bytes_written + copies)
        return CallCost(call, cost, "rule", rule.name, None, 1)
    total, missing, counted, terms = price_ops(call.ops)
    priced = CallCost(call, total, "ops", None, missing, counted)
    if terms:
        priced.terms = terms
    return priced


def price_ops(ops) -> "tuple[Cost, Counter | None, int, tuple]":
    """The summed cost of recorded ops, the ops without a formula (by name), how many were priced,
    and their worked terms in order (a sum keeps no terms; explain shows them)."""
    total = ZERO
    missing: "Counter | None" = None
    counted = 0
    terms: list = []
    for op in ops:
        cost = price_op(op)
        if cost is None:
            if missing is None:
                missing = Counter()
            missing[f"{op.name} (on sparse tensors)" if on_sparse(op) else op.name] += 1
        else:
            total = total + cost
            counted += 1
            if cost.terms:
                terms += cost.terms
    return total, missing, counted, tuple(terms)


#: what ``report.uncounted`` lists for a call covered by an enclosing rule while torch's process-wide
#: forward pre-hooks were set: their work for that call could not be recorded
GLOBAL_PRE_HOOKS = "process-wide forward pre-hooks (not recorded inside a module priced by a rule)"


def price_trace(trace: Trace, state_bytes: "dict[int, int] | None" = None) -> list[CallCost]:
    """Price every call, then fill inclusive costs bottom-up along the call tree."""
    autocast = bool(trace.autocast)
    priced = [price_call(call, state_bytes, autocast) for call in trace.calls]
    if trace.global_pre_hooks:
        # torch's process-wide pre-hooks run before any hook of a module's own (capture._HookWatch):
        # inside a module priced by a rule, what they computed for a covered call was not recorded
        for p in priced:
            if p.source == "covered":
                p.uncounted_ops = Counter({GLOBAL_PRE_HOOKS: 1}) + Counter(p.uncounted_ops)
    for p in reversed(priced):  # children come after their parent in pre-order
        children = p.call.children
        if children:
            inclusive = p.self_cost
            for child in children:
                inclusive = inclusive + priced[child.index].inclusive  # a call's index is its place in the trace
            p.inclusive = inclusive
    return priced


def backward_by_call(trace: Trace) -> "list[int] | None":
    """The MACs of the ops a backward ran (``loss.backward()`` in a profiled method), attributed to
    the module call whose forward created the autograd node that ran them (the innermost call whose
    span of autograd sequence numbers holds the node's); a covered call's go to the ruled call that
    covers it. Indexed like the trace; None when no backward ran. The ops themselves are priced in
    the call that ran the backward (the root's own row): this is a breakdown of that work by layer."""
    nodes = trace.backward_nodes
    if not nodes:
        return None
    calls, spans = trace.calls, trace.spans
    starts = sorted((first, index) for index, (first, end) in spans.items() if end > first)
    keys = [first for first, _ in starts]
    own = [0] * len(calls)
    for call in calls:
        for op in call.ops:
            seq = nodes.get(id(op))
            if seq is None:
                continue
            cost = price_op(op)
            if cost is None or not cost.macs:
                continue
            owner = _creator(seq, keys, starts, spans, calls, call.index)
            own[owner] += cost.macs
    return own


def _creator(seq: int, keys: list, starts: list, spans: dict, calls: list, fallback: int) -> int:
    """The innermost recorded call (not covered by a parent's rule) whose forward created node ``seq``."""
    at = bisect.bisect_right(keys, seq) - 1
    index = starts[at][1] if at >= 0 else None
    while index is not None and not (spans[index][0] <= seq < spans[index][1]):
        index = calls[index].parent_index
        while index is not None and index not in spans:
            index = calls[index].parent_index
    if index is None:
        return fallback
    while calls[index].covered and calls[index].parent_index is not None:
        index = calls[index].parent_index
    return index


def sequential_chains(priced: list[CallCost]) -> list[int]:
    """Steps each call must run one after another (the lecture's parallel vs sequential):
    a call computes something when its cost has arithmetic or writes new memory (a look-up, a
    copy, a concatenation); a view, an eval-mode Dropout or an Identity computes nothing, 0 steps,
    whether a rule prices it (nn.Flatten) or its ops (``x.flatten(1)``). A rule's call that
    computes gives ``rules.recurrent.sequential_steps`` (T·num_layers for a recurrent layer, 1 for
    anything else); a call priced from its ops gives the steps of the fused recurrent kernels it
    ran (``rules.recurrent.op_sequential_steps``), else 1 if it computed anything itself (an op
    without a formula counts as computing), plus its children's chains in call order (an upper
    bound where branches could run in parallel); a covered call gives 0. What the module's own hooks compute is one more step (they run before
    or after its forward, not beside it), a covered call's too: it is added to the chain of the ruled call
    that covers it. Indexed like the trace (``call.index``)."""
    from .rules.recurrent import op_sequential_steps, sequential_steps

    chain = [0] * len(priced)
    for i in range(len(priced) - 1, -1, -1):  # children before parents
        p = priced[i]
        call = p.call
        if p.source == "ops":
            recurrent = sum([op_sequential_steps(op) for op in call.ops])
            # (an op without a formula computed something all the same)
            own = recurrent or (1 if _computes(p.self_cost) or p.uncounted_ops else 0)
            chain[i] = own + sum([chain[c.index] for c in call.children])
            continue  # its hooks' ops are in its self cost, so in its own step
        if not call.hook_ops:
            if p.source == "rule" and _computes(p.self_cost):
                chain[i] = sequential_steps(call.module, call)
        else:
            hooks = price_ops(call.hook_ops)[0]
            if p.source == "rule" and _computes(p.self_cost - hooks):
                chain[i] = sequential_steps(call.module, call)
            if _computes(hooks):
                chain[i] += 1
        if call.children:  # (covered calls: 0, but for what their own hooks compute, after the rule's work)
            chain[i] += sum([chain[c.index] for c in call.children])
    return chain


def _computes(cost: Cost) -> bool:
    """Whether a cost is a step of computation: arithmetic, or new memory written (not a view)."""
    return not cost.is_zero() or cost.bytes_written > 0


def own_activation(call: Call, outputs: tuple, source: str, trace: Trace) -> "int | None":
    """Elements of ``call``'s first output that it made itself (its "(self)" row's ``activation``):
    all of them for a leaf and for a call priced by a rule (or covered by one: its children's work is
    the rule's); 0 where the output is one a child call returned, or a view of one, or its input passed
    on; None where that is not known (its own ops were not recorded: ``record_ops=False``; a layer of a
    torch.export graph, whose calls are spans of the graph: see graph.py)."""
    if not outputs:
        return 0
    if not call.children or source != "ops":
        return outputs[0].numel
    own = trace.first_output_own.get(call.index)
    if own is None:  # (capture checks every call that recorded its own ops and made child calls)
        # a container that runs no op of its own (nn.Sequential) can only pass a child's output on
        return 0 if _runs_no_ops(call.module) else None
    return outputs[0].numel if own and not outputs[0].aliased else 0


def _with_packed(values: tuple, metas: tuple) -> tuple:
    """``metas`` with the data of each PackedSequence among ``values`` (an RNN's arguments, or its
    output and hidden state) in its place: its rows are the steps computed, Σ lengths."""
    flat = [v for v in values for v in (v if type(v) is tuple else (v,))]
    if not any(isinstance(v, PackedSequence) for v in flat):
        return metas
    shown, rest = [], list(metas)
    for v in flat:
        if isinstance(v, PackedSequence):
            shown.append(TensorMeta(tuple(v.data.shape), v.data.dtype))
        else:
            found = tensors_in(v)
            shown.extend(rest[:len(found)])
            del rest[:len(found)]
    return tuple(shown + rest)


def _dtype_name(dtype: torch.dtype) -> str:
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


_DTYPE_NAMES: dict = {}


def _nested_in_itself(call: Call, calls: list[Call]) -> bool:
    at = call.parent_index
    while at is not None:
        parent = calls[at]
        if parent.module is call.module:
            return True
        at = parent.parent_index
    return False


def _packed_params(module: nn.Module) -> list:
    """Weights of quantized modules in ``module``'s subtree, kept packed (not as parameters)."""
    return [t for m in module.modules() for t in _own_packed(m)]


def _own_packed(m: nn.Module) -> list:
    """A quantized module's own packed weights (``[]`` for any other module):
    ``_weight_bias()`` of the module that holds the packed ScriptObject (LinearPackedParams,
    quantized convs; not the Linear around its LinearPackedParams, which would count them
    twice), the weight dicts of a dynamic quantized RNN or cell, an EmbeddingPackedParams' ``_weight()``."""
    # (a TorchScript module's methods are its instance's, not its type's: a scripted quantized model's
    # packed weights were missed, and its parameters read 0)
    cls = m if isinstance(m, _ScriptModule) else type(m)
    if callable(getattr(cls, "_weight_bias", None)):
        if isinstance(getattr(m, "_packed_params", None), torch.ScriptObject):
            return [t for t in m._weight_bias() if t is not None]
        if hasattr(m, "_all_weight_values") or isinstance(getattr(m, "_packed_weight_ih", None), torch.ScriptObject):
            # dynamic quantized RNN or cell: {"weight": {...}, "bias": {...}}
            return [t for group in m._weight_bias().values() for t in group.values() if t is not None]
        return []
    if callable(getattr(cls, "_weight", None)) and isinstance(getattr(m, "_packed_weight", None), torch.ScriptObject):
        return [m._weight()]  # quantized Embedding / EmbeddingBag's packed table
    if cls is m and frozen_script(m):  # its weights are constants of its graph
        return frozen_constants(m).weights
    if cls is m:  # a scripted dynamic quantized RNN or cell does not export _weight_bias: the eager one's reads it
        eager = None
        if hasattr(m, "_all_weight_values"):
            eager = getattr(getattr(_nnqd_rnn(), "RNNBase", None), "_weight_bias", None)
        elif isinstance(getattr(m, "_packed_weight_ih", None), torch.ScriptObject):
            eager = getattr(getattr(_nnqd_rnn(), "RNNCellBase", None), "_weight_bias", None)
        if eager is not None:
            try:
                return [t for group in eager(m).values() for t in group.values() if t is not None]
            except (AttributeError, RuntimeError, TypeError, IndexError):  # another layout: not counted
                return []
    return []


def frozen_script(m: nn.Module) -> bool:
    """A frozen TorchScript module (``torch.jit.freeze``, ``optimize_for_inference``): freezing drops its
    ``training`` attribute from the compiled module. (``.eval()`` on it then sets a Python attribute of
    that name on the wrapper, so ``hasattr(m, "training")`` no longer tells.)"""
    compiled = getattr(m, "_c", None)
    return compiled is not None and isinstance(m, _ScriptModule) and not compiled.hasattr("training")


class FrozenConstants(NamedTuple):
    """What a frozen TorchScript module holds as constants of its graph, and the tensor attributes
    freezing kept: see :func:`frozen_constants`."""

    weights: list
    statistics: list
    folded: list
    buffers: list
    kept: dict
    unnamed: bool = False  # no constant is named after an attribute (a module torch.jit.load read): all are counted


#: the arguments of normalisation ops that take running statistics (batch_norm, instance_norm, …)
_STATISTICS = frozenset({"running_mean", "running_var"})


def frozen_constants(scripted: nn.Module) -> FrozenConstants:
    """The weights of a frozen TorchScript module (``torch.jit.freeze``, ``optimize_for_inference``),
    which freezing turns into constants of its forward graph (it has no parameters left): every tensor
    constant named after an attribute of the module (``self.0.weight``; the MKLDNN copies
    ``optimize_for_inference`` makes; the tensors of a list constant, such as an LSTM's flat weights).
    Those used only as normalisation running statistics (BatchNorm's ``running_mean``/``running_var``,
    buffers in the eager model) are ``statistics``; constants freezing computed itself (a folded
    expression, a transposed copy: no attribute's name) are neither. ``folded``: the names of those
    made by folding one layer into another (``self.0.weight_fused_bn``: a BatchNorm folded into the
    convolution before it), which are weights whatever they were made from (a bias folding made where
    the convolution had none is named after the graph's None value: ``%5_fused_bn``). Equal constants
    are pooled by freezing: one tensor.
    Freezing keeps some tensors as attributes of a submodule it keeps (read by ``prim::GetAttr``): those
    the forward mutates, and others (MultiheadAttention's ``in_proj_weight`` and ``in_proj_bias``). A
    kept parameter of a submodule is among the ``weights``, a kept buffer among the ``buffers`` (a plain
    tensor attribute is neither, as in the eager model; the root's own are its ``_parameters`` and
    ``_buffers``); ``kept``: those tensors by name (``self_attn.in_proj_weight``).
    A frozen module saved with ``torch.jit.save`` and loaded again has lost those names (its constants
    are ``%3``, ``%9``): when no constant is named, every tensor constant is taken as a weight (or a
    statistic), ``unnamed`` says so (a constant freezing computed is then among them)."""
    weights: dict = {}
    statistics: dict = {}
    unnamed: tuple = ({}, {})  # (weights, statistics) of the constants with no attribute's name
    named_constants = False
    buffers: dict = {}
    folded: list = []
    kept: dict = {}
    try:
        graph = scripted.graph
        holders = {next(graph.inputs()).unique(): (scripted._c, "")}  # graph value -> (module, path prefix)
    except (AttributeError, RuntimeError, StopIteration):  # pragma: no cover - a ScriptModule without a forward graph
        return FrozenConstants([], [], [], [], {})

    def walk(block) -> None:
        for node in block.nodes():
            kind = node.kind()
            if kind.startswith("prim::Constant") and node.hasAttribute("value") \
                    and node.kindOf("value") in ("t", "ival"):
                name = node.output().debugName()
                value = node.t("value") if node.kindOf("value") == "t" else node.output().toIValue()
                found = [t for t in ([value] if isinstance(value, torch.Tensor) else tree_leaves(value))
                         if isinstance(t, torch.Tensor)]
                if found:
                    nonlocal named_constants
                    # (a layer's bias that folding made from no bias at all is named after the graph's None
                    # value, %5_fused_bn: a parameter of the frozen graph as the named ones are)
                    fused = "_fused_" in name
                    named = name.startswith("self.") or fused
                    named_constants = named_constants or named
                    statistic = _statistics_only(node.output())
                    into = (statistics if statistic else weights) if named else unnamed[statistic]
                    for t in found:
                        into.setdefault(id(t), t)
                    if fused:
                        folded.append(name.removeprefix("self.") if name.startswith("self.") else f"%{name}")
            elif kind == "prim::GetAttr" and node.input().unique() in holders:
                holder, path = holders[node.input().unique()]
                name = node.s("name")
                try:
                    value = holder.getattr(name)
                except RuntimeError:  # pragma: no cover - an attribute the graph reads but the module lacks
                    continue
                if isinstance(value, torch._C.ScriptModule):
                    holders[node.output().unique()] = (value, f"{path}{name}.")
                elif path and isinstance(value, torch.Tensor):  # (the root's own: in its _parameters, _buffers)
                    if torch._C.ParameterDict(holder).contains(name):
                        weights.setdefault(id(value), value)
                    elif torch._C.BufferDict(holder).contains(name):
                        buffers.setdefault(id(value), value)
                    else:  # a plain tensor attribute: neither, as in the eager model
                        continue
                    kept.setdefault(path + name, value)
            for inner in node.blocks():
                walk(inner)

    walk(graph)
    anonymous = not named_constants and any(unnamed)
    if anonymous:
        weights, statistics = {**unnamed[0], **weights}, {**unnamed[1], **statistics}  # (and the kept ones)
    return FrozenConstants(list(weights.values()), list(statistics.values()), folded,
                           list(buffers.values()), kept, anonymous)


def _statistics_only(value) -> bool:
    """Every use of a graph value is as a normalisation op's running statistics."""
    uses = value.uses()
    for use in uses:
        schema = use.user.schema()
        if schema == "(no schema)":
            return False
        try:
            arguments = torch._C.parse_schema(schema).arguments
        except RuntimeError:  # pragma: no cover - a schema torch cannot parse back
            return False
        if use.offset >= len(arguments) or arguments[use.offset].name not in _STATISTICS:
            return False
    return bool(uses)


def _nnqd_rnn():
    """``torch.ao.nn.quantized.dynamic.modules.rnn`` (None where this torch lacks it)."""
    try:
        from torch.ao.nn.quantized.dynamic.modules import rnn
    except ImportError:  # pragma: no cover
        return None
    return rnn


class _ModelTensors:
    """What one walk over every module's parameters and buffers finds (see :func:`_walk_tensors`)."""

    __slots__ = ("subtree_params", "own_params", "state_bytes", "params", "trainable_params",
                 "param_bytes", "buffers", "buffer_bytes", "shared", "unmaterialised")

    def __init__(self):
        self.subtree_params: dict[int, int] = {}  # by id(module): unique parameters in its subtree
        self.own_params: dict[int, int] = {}  # by id(module): parameters registered on it
        self.state_bytes: dict[int, int] = {}  # by id(module): its own parameter and buffer bytes
        self.params = self.trainable_params = self.param_bytes = 0  # the model's, each tensor once
        self.buffers = self.buffer_bytes = 0
        self.shared = False  # a parameter or a module is held in more than one place
        #: lazy parameters and buffers no forward has materialised (a lazy module never called): their
        #: names; no size is known, so they count as 0 (their module's shape is fixed by its first call)
        self.unmaterialised: list[str] = []


def _walk_tensors(modules: list) -> _ModelTensors:
    """Every module's own and subtree parameter counts (packed quantized weights included), its
    own state bytes (what a rule's call reads besides its inputs), and the model's totals, in one
    walk that touches each tensor once (``modules`` is ``named_modules()``, root first). After a
    forward pass has evicted the tensors' headers from the CPU caches, touching them again per
    priced call and per total costs more than the rest of the walk. Subtree counts are sums
    bottom-up; only a model that shares a parameter between modules is walked with sets, so
    that a shared weight counts once per subtree."""
    found = _ModelTensors()
    own, state_bytes = found.own_params, found.state_bytes
    # quantized modules keep their weights packed, behind _weight_bias() (one check per type)
    packed_types = {cls for cls in {type(m) for _, m in modules} if hasattr(cls, "_weight_bias") or hasattr(cls, "_weight")}
    seen: set = set()
    unpacked: list = []  # packed quantized weights unpacked by this walk, alive until it ends
    shared = False
    for path, m in modules:
        n = nbytes = 0
        local = None  # ids of this module's tensors, when it has several (one registered twice counts once)
        params, buffers = m._parameters, m._buffers
        if len(params) + len(buffers) > 1:
            local = set()
        for store, is_param in ((params, True), (buffers, False)):
            for t in store.values():
                if t is None:
                    continue
                tid = id(t)
                if local is not None:
                    if tid in local:
                        continue
                    local.add(tid)
                try:
                    size = t.numel()
                except ValueError:  # (a lazy module's tensor no forward has materialised: no size yet)
                    if not isinstance(t, _UNINITIALIZED):
                        raise
                    found.unmaterialised += [f"{path}.{k}" if path else k for k, v in store.items() if v is t]
                    continue
                tensor_bytes = storage_bytes(t)
                nbytes += tensor_bytes
                if is_param:
                    n += size
                    if tid in seen:
                        shared = True
                        continue
                    found.params += size
                    found.param_bytes += tensor_bytes
                    if t.requires_grad:
                        found.trainable_params += size
                elif tid in seen:
                    continue
                else:
                    found.buffers += size
                    found.buffer_bytes += tensor_bytes
                seen.add(tid)
        if type(m) in packed_types or isinstance(m, _ScriptModule):  # (a TorchScript module's methods are its own)
            packed = _own_packed(m)  # unpacked afresh by each _weight_bias() call: new tensors
            # kept until the walk ends: a freed one's id can be reused by the next module's
            # weight, which would then be skipped as "shared" and go uncounted
            unpacked.append(packed)
            for t in packed:
                nbytes += t.numel() * t.element_size()  # read by the module's calls, as a weight is
                if id(t) in seen:
                    shared = True
                    continue
                seen.add(id(t))
                n += t.numel()
                found.params += t.numel()
                found.param_bytes += t.numel() * t.element_size()
            if isinstance(m, _ScriptModule) and frozen_script(m):  # its statistics are constants
                frozen = frozen_constants(m)
                statistics = frozen.statistics + frozen.buffers
                unpacked.append(statistics)  # (kept, as the packed weights are: their ids stay theirs)
                for t in statistics:
                    nbytes += t.numel() * t.element_size()
                    if id(t) not in seen:
                        seen.add(id(t))
                        found.buffers += t.numel()
                        found.buffer_bytes += t.numel() * t.element_size()
        state_bytes[id(m)] = nbytes
        own[id(m)] = n
    counts = found.subtree_params
    # a module registered in two places (or twice in one) is listed once by named_modules():
    # the bottom-up sums would then count it twice, or miss it under its second parent
    shared = found.shared = shared or sum([len(m._modules) for _, m in modules]) != len(modules) - 1
    if not shared:
        for _, m in reversed(modules):  # children after parents in named_modules: sum bottom-up
            n = own[id(m)]
            for child in m._modules.values():
                if child is not None:
                    n += counts.get(id(child), 0)
            counts[id(m)] = n
        return found
    tensors_below: dict[int, dict] = {}
    visiting: dict[int, str] = {}  # the modules being visited, by their path

    def visit(m: nn.Module, path: str) -> dict:
        below = tensors_below.get(id(m))
        if below is None:
            if id(m) in visiting:  # (else a RecursionError, with no word of the cause)
                raise ValueError(f"module '{path}' is the {type(m).__name__} at "
                                 f"'{visiting[id(m)] or '(root)'}' it is registered under (a cycle in the module "
                                 "tree, such as a child holding its parent as an attribute): torch's own "
                                 "model.train(), .to() and state_dict() recurse forever on such a model too; "
                                 "keep the reference out of _modules (e.g. in a list or a weakref)")
            visiting[id(m)] = path
            below = {id(t): t for t in (*m._parameters.values(), *_own_packed(m)) if t is not None}
            for name, child in m._modules.items():
                if child is not None:
                    below.update(visit(child, f"{path}.{name}" if path else name))
            del visiting[id(m)]
            tensors_below[id(m)] = below
            counts[id(m)] = sum(_numel(t) for t in below.values())
        return below

    for path, m in modules:
        visit(m, path)
    return found


def _fold_scripted_children(modules: list, found: _ModelTensors, called: set) -> None:
    """A TorchScript child cannot be wrapped: its work is recorded as the own ops of the module
    that calls it — its parent, or the nearest called ancestor past a never-called container (a
    ModuleList) — so its parameters are that module's own too (else no row would show them)."""
    own, counts = found.own_params, found.subtree_params
    by_path = {path: m for path, m in modules}
    for path, m in modules:
        if isinstance(m, _ScriptModule):
            continue
        for name, child in m._modules.items():
            if isinstance(child, _ScriptModule):
                holder = path
                while holder and holder not in called:
                    holder = holder.rpartition(".")[0]
                target = by_path.get(holder, m)
                n = counts.get(id(child), 0)
                own[id(target)] = own.get(id(target), 0) + n
                between = path
                while between != holder:  # the never-called containers on the way hold them no more
                    counts[id(by_path[between])] -= n
                    between = between.rpartition(".")[0]


def _tied_parameters(model: nn.Module) -> list[str]:
    """``"head.weight = emb.weight"`` for each parameter registered on more than one module
    (tied weights). A module reused in two places is one row, so it is not listed."""
    holders: dict[int, list] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        owner, _, attr = name.rpartition(".")
        holders.setdefault(id(p), []).append((name, model.get_submodule(owner) if owner else model, attr))
    tied = []
    for entries in holders.values():
        first, *rest = entries
        names = {first[0]} | {name for name, module, _ in rest if module is not first[1]}
        if len(names) > 1:
            tied.append(" = ".join(sorted(names, key=[e[0] for e in entries].index)))
    return tied


def _registered_twice(model: nn.Module) -> list[str]:
    """``"a.0 = b.0"`` for each module registered under more than one path (with parameters)."""
    paths: dict[int, tuple] = {}
    module_at: dict[str, int] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(m), (m, []))[1].append(path)
        module_at[path] = id(m)
    twice = {key for key, (_, names) in paths.items() if len(names) > 1}
    # the outermost only: a shared block's own submodules are listed twice as well
    return [" = ".join(names) for key, (m, names) in paths.items()
            if key in twice and any(True for _ in m.parameters())
            and not all(module_at.get(n.rpartition(".")[0]) in twice for n in names)]


def _unique_params(module: nn.Module) -> list:
    """Parameters of a module outside the profiled tree (called, but not registered in it)."""
    seen, out = set(), []
    for p in [*module.parameters(), *_packed_params(module)]:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _calls_from_outside(calls: list, rows: list, called: set) -> "dict[str, set] | None":
    """Calls that do not come from the module's parent in the tree — the nearest ancestor of
    its path that was called, past never-called containers such as a ModuleList: a module held
    by a plain reference, registered a second time elsewhere, or reached past its parent. By
    callee path → the callers' paths, also in ``row.called_from`` (None for most models). A
    caller's row holds such calls, and so does the callee's: ``visible_rows`` shows rows by the
    module tree where there are any, so that the table adds up."""
    callers: "dict[str, set] | None" = None
    for c in calls:
        at = c.parent_index
        if at is None:
            continue
        caller = calls[at].path
        parent = c.path.rpartition(".")[0]
        if parent == caller or c.path == caller:  # the usual call, or recursion
            continue
        while parent and parent not in called:  # past never-called containers (a ModuleList)
            parent = parent.rpartition(".")[0]
        if parent != caller:
            if callers is None:
                callers = {}
            callers.setdefault(c.path, set()).add(caller)
    if callers:
        for row in rows:
            if row.path in callers:
                row.called_from = tuple(sorted(callers[row.path]))
    return callers


#: what ``report.uncounted`` lists for a module called in another thread during the forward
OTHER_THREAD = "forward run in another thread (not recorded)"


def _not_counted_in_other_threads(other_threads: dict, layers: list, modules: list, uncounted: list,
                                  notes: list) -> None:
    """Modules the forward ran in other threads (a thread pool): the capture records the
    profiling thread only, so their work is listed as not counted (never a silent 0), and a
    row that would say "not called" says what happened."""
    from .report import Uncounted

    rows = {r.path: r for r in layers}
    types = {p: type(m).__name__ for p, m in modules}
    for path, n in other_threads.items():
        row = rows.get(path)
        if row is not None:
            row.uncounted_ops = {**row.uncounted_ops, OTHER_THREAD: n}
            row.status = "partial"
        uncounted.append(Uncounted(path, types.get(path, "?"), OTHER_THREAD, n))
    named = sorted(p or "(root)" for p in other_threads)
    notes.append("called in another thread during the forward, not counted (torchcount records the thread "
                 "that calls profile; what those calls ran is missing from the rows and the total): "
                 + ", ".join(named[:6]) + (" …" if len(named) > 6 else ""))


def set_tree_costs(layers: list) -> None:
    """Where calls cross the module tree, each row's ``tree_cost``: the own work of every row at
    or below its path (a table cut at a row shows what its submodules did, wherever they were
    called from, so that the shown rows add up to the total)."""
    sums: dict[str, Cost] = {}
    backward: dict[str, int] = {}  # the same sums of each row's own backward_MACs, where tracked
    tracked = any(BACKWARD_MACS in r.extra for r in layers)
    for r in layers:
        if r.calls == 0:
            continue  # a group: its members' own work is theirs
        path = r.path
        own = own_extra(r, BACKWARD_MACS) if tracked else 0
        while True:
            sums[path] = sums.get(path, ZERO) + r.self_cost
            if tracked:
                backward[path] = backward.get(path, 0) + own
            if not path:
                break
            path = path.rpartition(".")[0]
    for r in layers:
        r.tree_cost = sums.get(r.path, ZERO)
        if tracked:
            r.tree_extra = {BACKWARD_MACS: backward.get(r.path, 0)}


#: the column of a training step's backward MACs by layer (``backward_by_call``)
BACKWARD_MACS = "backward_MACs"


def own_extra(row, key: str):
    """A row's own value of an ``extra`` count: ``self_extra``'s where its children's differ, else
    ``extra``'s (a leaf's own is its whole)."""
    if row.self_extra and key in row.self_extra:
        return row.self_extra[key]
    return row.extra.get(key, 0)


def _with_uncalled_rows(layers: list, uncalled: list, called_paths: set, ruled_paths: set, param_counts: dict,
                        own_params: dict, convention, Row) -> list:
    """``layers`` with a row (``calls = 0``) for each module never called itself that matters
    to a table cut at its depth:

    - a group, whose submodules were called (a ``ModuleList`` of layers its parent calls one by
      one, a ``FloatFunctional`` whose methods call its observer): the sum of the called modules
      nearest below it, placed right before the first of them;
    - a module with parameters and no called submodule (unused): no cost, its parameters,
      placed after the row of its nearest called ancestor — unless that ancestor is priced by
      a rule, which reads its weights (MultiheadAttention's ``out_proj``, a quantized Linear's
      packed parameters) and whose row holds its parameters.

    Without them a depth cut drops a ModuleList's layers, and parameters that are in the total
    are in no row."""
    groups = {path: (m, []) for path, m in uncalled}
    for r in layers:
        path = r.path
        while path:  # up to the nearest called ancestor; each uncalled one on the way holds r
            path = path.rpartition(".")[0]
            if path in called_paths or not path:
                break
            group = groups.get(path)
            if group is not None:
                group[1].append(r)
    rows_before: dict[int, list] = {}
    rows_after: dict[str, list] = {}  # by the nearest called ancestor's path
    for path, (m, members) in groups.items():
        params = param_counts.get(id(m), 0)
        if members:
            # the own work of every row below it: its members' costs, but a member called from
            # inside another member (through a reference) once, not in both
            below = path + "."
            cost = sum((r.self_cost for r in layers if r.path.startswith(below)), ZERO)
            extra = {"steps": sum(r.extra.get("steps", 0) for r in members)}
            # its own part (the row a table shows beside its called submodules when it holds parameters
            # of its own, as WavLM's MultiheadAttention whose out_proj is called directly): never called,
            # it did nothing itself; without it the own view would repeat the inclusive values
            own = {"steps": 0}
            if any(BACKWARD_MACS in r.extra for r in layers):  # (the own backward of every row below it)
                extra[BACKWARD_MACS] = sum(own_extra(r, BACKWARD_MACS) for r in layers if r.path.startswith(below))
                own[BACKWARD_MACS] = 0
            row = Row(index=0, path=path, type=type(m).__name__, depth=path.count(".") + 1, calls=0,
                      input_shapes=[], output_shapes=[], params=params,
                      self_params=own_params.get(id(m), 0), cost=cost,
                      self_cost=ZERO, status="container", rule=None, convention=convention,
                      extra=extra, self_extra=own, module=m, members=tuple(r.path for r in members))
            rows_before.setdefault(id(members[0]), []).append(row)
        elif params:
            anchor = _nearest_called_ancestor(path, called_paths)
            if anchor in ruled_paths:
                continue  # a rule reads its weights (out_proj, packed params): that row holds them
            rows_after.setdefault(anchor, []).append(
                Row(index=0, path=path, type=type(m).__name__, depth=path.count(".") + 1, calls=0,
                    input_shapes=[], output_shapes=[], params=params, self_params=own_params.get(id(m), 0),
                    cost=ZERO, self_cost=ZERO, status="not called", rule=None, convention=convention,
                    module=m))
    if not rows_before and not rows_after:
        return layers
    out = []
    for r in layers:
        out.extend(sorted(rows_before.get(id(r), ()), key=lambda g: g.depth))  # outer groups first
        out.append(r)
        if r.path in rows_after and r.calls:
            out.extend(rows_after.pop(r.path))
    for rest in rows_after.values():  # below the root, or below a row not in the table
        out.extend(rest)
    return out


def _nearest_called_ancestor(path: str, called_paths: set) -> str:
    """The path of the nearest module above ``path`` that was called ("" for the root)."""
    while path:
        path = path.rpartition(".")[0]
        if path in called_paths:
            break
    return path


def _weights_read_above(idle: list, trace: Trace, called_paths: set) -> dict[str, str]:
    """The rows of modules never called whose weights their nearest called ancestor most likely reads
    itself: path → that ancestor's path, where the ancestor's own recorded ops take, among their
    inputs, tensors of every one of the module's parameters' shapes (Swin's attention runs
    ``F.linear(x, self.qkv.weight)``; its qkv is never called). Shapes, not identities: the capture
    keeps no tensor (a second look only for these rows, after the pass)."""
    anchors = {}
    for r in idle:
        shapes = {tuple(p.shape) for p in r.module.parameters() if not isinstance(p, _UNINITIALIZED)} \
            if r.module is not None else set()
        if shapes:
            anchors[r.path] = (_nearest_called_ancestor(r.path, called_paths), shapes)
    wanted = {anchor for anchor, _ in anchors.values()}
    seen: dict = {}
    for call in trace.calls:
        if call.path in wanted and call.ops:
            shapes = seen.setdefault(call.path, set())
            for op in call.ops:
                shapes.update(t.shape for t in op.inputs)
    return {path: anchor for path, (anchor, shapes) in anchors.items() if shapes <= seen.get(anchor, set())}


def summarize(model: nn.Module, trace: Trace, convention: Convention, model_name: str | None = None,
              modules: "list[tuple[str, nn.Module]] | None" = None):
    """Group priced calls by module into rows (first-call order) and compute totals.
    ``modules`` is ``list(model.named_modules())`` when the caller already has it."""
    if modules is None:
        modules = list(model.named_modules())
    from .report import Report, Row, Total, Uncounted

    tensors = _walk_tensors(modules)
    added: list[str] = []
    if tensors.shared:  # the rare path, also taken when the forward added or removed a submodule
        current = list(model.named_modules())
        if [m for _, m in current] != [m for _, m in modules]:
            before = {id(m) for _, m in modules}
            added = [p for p, m in current if id(m) not in before]
            modules = current
            tensors = _walk_tensors(modules)
    if trace.scripted:
        _fold_scripted_children(modules, tensors, {c.path for c in trace.calls})
    param_counts, own_params = tensors.subtree_params, tensors.own_params
    priced = price_trace(trace, tensors.state_bytes)
    backward = backward_by_call(trace)
    if backward is not None:  # each call's and everything below it, bottom-up as the costs
        backward_inclusive = list(backward)
        for call in reversed(trace.calls):
            for child in call.children:
                backward_inclusive[call.index] += backward_inclusive[child.index]
    chains = sequential_chains(priced)
    paths = {id(m): p for p, m in modules}
    groups: dict[int, list[CallCost]] = {}
    for p in priced:
        key = id(p.call.module)
        members = groups.get(key)
        if members is None:
            groups[key] = [p]
        else:
            members.append(p)

    rows: list[Row] = []
    uncounted: list[Uncounted] = []
    counted_items = 0
    layer_types = trace.layer_types  # (a GraphModule's layers: the original type, where the module is a holder)
    for members in groups.values():
        head = members[0]
        first = head.call
        module = first.module
        path = paths.get(id(module), first.path)
        # a module called inside a ruled parent (covered) and also on its own: its row stands for the
        # calls priced themselves, whichever came first (its cost sums every call's, the covered ones' 0)
        pricing = head if head.source != "covered" else next((m for m in members if m.source != "covered"), head)
        source = pricing.source
        if len(members) == 1:
            cost, self_cost, missing = head.inclusive, head.self_cost, head.uncounted_ops
            counted_items += head.counted_items
            own_ops = len(first.ops) + len(first.hook_ops)
            steps = chains[first.index]
        else:
            # a module that calls itself (recursion, or a profiled method calling the forward): its inner
            # calls are inside the outer one's inclusive cost and chain
            outer = [m for m in members if not _nested_in_itself(m.call, trace.calls)]
            cost = sum((m.inclusive for m in outer), ZERO)
            self_cost = sum((m.self_cost for m in members), ZERO)
            missing = Counter()
            for m in members:
                missing.update(m.uncounted_ops)
                counted_items += m.counted_items
            own_ops = sum([len(m.call.ops) + len(m.call.hook_ops) for m in members])
            steps = sum(chains[m.call.index] for m in outer)
        if source == "covered":
            status = "covered"
        elif source == "rule":
            status = "rule"
        elif missing:
            status = "partial"
        elif own_ops or not first.children:
            status = "ops"
        else:
            status = "container"
        # a rule's worked terms; for a module priced from its ops (a leaf, or a container's own
        # functional calls: F.relu, a residual add), each op's, kept when they were priced
        # (a covered call's are its hooks' ops, if its module has hooks: see _with_hook_ops)
        terms = pricing.self_cost.terms if source == "rule" else pricing.terms
        outputs = first._outputs if first._outputs is not None else first.outputs
        shown_in = first.inputs
        if isinstance(module, nn.RNNBase):  # a packed sequence's data is shown too (no TensorMeta holds it)
            shown_in, outputs = _with_packed(first.args, shown_in), _with_packed((first.output,), outputs)
        key = id(module)
        method_root = trace.method is not None and module is model
        row = Row(
            index=len(rows), path=path,
            type=layer_types.get(path) or type(module).__name__ if layer_types else type(module).__name__,
            depth=0 if not path else path.count(".") + 1,
            # a profiled method's own call is not one of the root's forward calls, unless it made none:
            # the row was called all the same (calls 0 means never called, everywhere)
            calls=max(len(members) - 1, 1) if method_root else len(members),
            input_shapes=[t.shape for t in shown_in], output_shapes=[t.shape for t in outputs],
            input_dtypes=[_dtype_name(t.dtype) for t in shown_in], output_dtypes=[_dtype_name(t.dtype) for t in outputs],
            params=param_counts[key] if key in param_counts
            else sum(_numel(p) for p in _unique_params(module)),
            self_params=own_params[key] if key in own_params
            else sum(_numel(t) for t in _own_tensors(module._parameters)),
            cost=cost, self_cost=self_cost, status=status, convention=convention,
            # (a profiled method's row: the rule its forward calls were priced by, if any; head is the method's)
            rule=next((m.rule for m in members[1:] if m.rule), None) if method_root else pricing.rule,
            activation=outputs[0].numel if outputs else 0,
            self_activation=own_activation(first, outputs, source, trace), terms=terms,
            uncounted_ops=dict(missing) if missing else {}, extra={"steps": steps}, module=module,
            own_ops=own_ops,
        )
        if backward is not None:  # the backward's MACs this module's forward set up (in the root's row)
            row.extra[BACKWARD_MACS] = sum(backward_inclusive[m.call.index] for m in
                                           (outer if len(members) > 1 else members))
            if any(m.call.children for m in members):  # (a leaf's own is its whole)
                row.self_extra = {**(row.self_extra or {}), BACKWARD_MACS: sum(backward[m.call.index] for m in members)}
        if source == "ops" and first.children:  # its own steps, for where its children are rows too
            # (every call's chain less its children's: what each call did itself, also where this module's
            # calls are nested in one another, directly or through other modules)
            row.self_extra = {**(row.self_extra or {}), "steps": sum([chains[m.call.index] for m in members])
                              - sum([chains[c.index] for m in members for c in m.call.children])}
        rows.append(row)
        if missing:
            for op_name, n in missing.items():
                uncounted.append(Uncounted(path, row.type, op_name, n))

    root_cost = sum((p.inclusive for p in priced if p.call.parent_index is None), ZERO)
    beside = [p for p in priced if p.call.parent_index is None and p.call.module is not model]
    if beside:  # modules the root's own hooks called (outside its forward): inside the root's work
        row = next((r for r in rows if r.module is model), None)
        if row is not None:
            row.cost = row.cost + sum((p.inclusive for p in beside), ZERO)
            # (and their steps, run before or after its forward: the model's chain, as the total row shows)
            row.extra = {**row.extra, "steps": row.extra.get("steps", 0) + sum(chains[p.call.index] for p in beside)}
    hooks_note = None
    stray_steps = 0
    if trace.stray_ops:  # the root's own hooks or __call__ (they run outside its forward): its own work
        hooks_cost, hooks_missing, n, hooks_terms = price_ops(trace.stray_ops)
        counted_items += n
        # what they compute is one more step of the root's, as a module's own hooks are of its chain
        # (sequential_chains); an op without a formula counts as computing
        stray_steps = 1 if _computes(hooks_cost) or hooks_missing else 0
        row = next((r for r in rows if r.module is model), None)
        if row is None:  # a __call__ of its own that never ran the forward: the root's row all the same,
            # holding its submodules' calls and its own ops (the rows add up to the total)
            row = Row(index=0, path="", type=type(model).__name__, depth=0, calls=1, input_shapes=[],
                      output_shapes=[], params=tensors.subtree_params.get(id(model), 0),
                      self_params=tensors.own_params.get(id(model), 0), cost=root_cost, self_cost=ZERO,
                      status="ops", rule=None, convention=convention, self_activation=None,
                      extra={"steps": sum(chains[p.call.index] for p in beside)}, self_extra={"steps": 0},
                      module=model, own_ops=len(trace.stray_ops))
            rows.insert(0, row)
        root_cost = root_cost + hooks_cost
        if row is not None:
            row.cost, row.self_cost = row.cost + hooks_cost, row.self_cost + hooks_cost
            if row.status == "rule" or row.terms:  # its worked terms are shown: the hooks' too
                row.terms = row.terms + hooks_terms
            if stray_steps:
                row.extra = {**row.extra, "steps": row.extra.get("steps", 0) + stray_steps}
                if row.self_extra and "steps" in row.self_extra:
                    row.self_extra = {**row.self_extra, "steps": row.self_extra["steps"] + stray_steps}
            if hooks_missing:
                row.uncounted_ops = dict(Counter(row.uncounted_ops) + hooks_missing)
                row.status = "partial"
                for name, k in hooks_missing.items():  # one entry per row and op, as the row's uncounted_ops
                    at = next((i for i, u in enumerate(uncounted) if u.path == row.path and u.what == name), None)
                    if at is None:
                        uncounted.append(Uncounted(row.path, row.type, name, k))
                    else:
                        uncounted[at] = Uncounted(row.path, row.type, name, uncounted[at].calls + k)
        hooks_note = (f"the root's own __call__ ({type(model).__qualname__}.__call__) and hooks, if any, ran "
                      f"{len(trace.stray_ops)} op(s) outside its forward" if own_call(model) else
                      f"the root's own hooks ran {len(trace.stray_ops)} op(s) around its forward") \
            + ": counted as its own work"
    total = Total(
        params=tensors.params, trainable_params=tensors.trainable_params,
        frozen_params=tensors.params - tensors.trainable_params, buffers=tensors.buffers,
        param_bytes=tensors.param_bytes, buffer_bytes=tensors.buffer_bytes,
        cost=root_cost, convention=convention,
    )
    root_rows = [r for r in rows if r.module is model]
    root = root_rows[0] if root_rows else None
    layers = [r for r in rows if r.module is not model] or rows
    called_paths = {r.path for r in rows}
    callers = _calls_from_outside(trace.calls, rows, called_paths)
    uncalled = [(p, m) for p, m in modules if p and p not in called_paths]
    if trace.layer_held:  # (a GraphModule's holders whose tensors the layer above them read)
        uncalled = [(p, m) for p, m in uncalled if p not in trace.layer_held]
    if trace.scripted:  # a TorchScript module's work and parameters are its caller's
        uncalled = [(p, m) for p, m in uncalled if not isinstance(m, _ScriptModule)]
    if layer_types:  # a graph's layers (ep.module()): a container its forward never called (a ModuleDict)
        # whose layers have no parameters is in no node's stack and held by no module there; it gets
        # the group row an eager model's has all the same, under a stand-in (type Module, no parameters)
        known = {p for p, _ in modules} | called_paths
        missing = {path.rpartition(".")[0] for path in called_paths if "." in path} - known
        while missing:
            uncalled += [(p, nn.Module()) for p in sorted(missing)]
            known |= missing
            missing = {p.rpartition(".")[0] for p in missing if "." in p} - known
    if uncalled:  # a ModuleList of layers (called by its parent, never itself) still gets a row
        ruled_paths = {r.path for r in rows if r.status == "rule"}
        layers = _with_uncalled_rows(layers, uncalled, called_paths, ruled_paths, param_counts, own_params,
                                     convention, Row)
    for i, r in enumerate(layers, start=1):
        r.index = i
    if root is not None and layers[0] is root and len(layers) > 1:
        # the root was the only row called (a forward that runs no child, a method that never runs
        # the forward), and modules never called have rows after it: it is a '(root) (self)' row,
        # index 0 as everywhere else (it read 1, and the rows after it one more than elsewhere)
        for i, r in enumerate(layers):
            r.index = i
    if root is not None and layers[0] is not root and (not root.self_cost.is_zero() or root.self_cost.bytes
                                                       or root.self_params or root.uncounted_ops):
        # work the root does itself (a top-level residual add, a class token) needs a row of its
        # own, or the table's rows would not add up to the total; so does work of its own with no
        # formula (a row marked †, or the CSV's uncounted column would not add up to the coverage's)
        root.index = 0
        layers.insert(0, root)
    if callers:
        set_tree_costs(layers)
    notes = [hooks_note] if hooks_note else []
    if trace.global_pre_hooks:
        notes.append("torch's process-wide forward pre-hooks are set (register_module_forward_pre_hook): the ops "
                     "they run are counted in the calling module's row, and not at all inside a module priced "
                     "by a rule (its covered children are listed as uncounted)")
    if trace.hooked:  # (see capture._HookWatch)
        hooked = {trace.calls[i].path or "(root)" for i in trace.hooked}
        ran = sum(len(trace.calls[i].hook_ops) for i in trace.hooked)
        notes.append(f"forward hooks of {len(hooked)} module(s) ran {ran} op(s) around their forward "
                     f"({', '.join(sorted(hooked)[:3])}{', …' if len(hooked) > 3 else ''}): counted in "
                     "those modules' rows")
    if trace.other_threads:
        _not_counted_in_other_threads(trace.other_threads, layers, modules, uncounted, notes)
    explained = Counter()  # uncounted calls of ops whose rule says why (rules.why_uncounted)
    for u in uncounted:
        why = uncounted_why(u.what)
        if why is not None:
            explained[(u.what.rsplit(".", 1)[0], why)] += u.calls
    for (name, why), calls in explained.items():
        notes.append(f"{name} ×{calls} uncounted: {why}")
    idle = [r for r in layers if r.status == "not called"]  # (none below a rule: see _with_uncalled_rows)
    if idle:
        read = _weights_read_above(idle, trace, called_paths)
        for r in idle:
            if r.path in read:
                r.extra["weights_read_by"] = read[r.path]
        if read:
            readers = sorted({p or "(root)" for p in read.values()})
            notes.append(f"never called as modules; the module above each runs ops on tensors of their parameters' "
                         f"shapes, so it most likely reads their weights itself (F.linear(x, self.qkv.weight)), and "
                         f"that work is in its row: {', '.join(list(read)[:6])}"
                         + (" …" if len(read) > 6 else "") + f" (read by {', '.join(readers[:3])}"
                         + (" …" if len(readers) > 3 else "") + ")")
        idle = [r.path for r in idle if r.path not in read]
    if idle:
        notes.append(f"never called (no work counted; their parameters are in the total and their rows): "
                     f"{', '.join(idle[:6])}" + (" …" if len(idle) > 6 else ""))
    if tensors.unmaterialised:
        lazy = tensors.unmaterialised
        notes.append(f"lazy parameters or buffers never materialised (no forward has called their module, so their "
                     f"sizes are not known yet): counted as 0 in the total and their rows: {', '.join(lazy[:6])}"
                     + (" …" if len(lazy) > 6 else ""))
    if added:
        notes.append(f"submodules added by the forward (kept, their parameters counted): {', '.join(added[:6])}"
                     + (" …" if len(added) > 6 else ""))
    if callers:
        named = sorted(p or "(root)" for p in callers)
        notes.append(f"called from outside their place in the module tree: {', '.join(named[:6])}"
                     + (" …" if len(named) > 6 else "") + "; the table shows each row's work by the module "
                     "tree (what its submodules did, wherever they were called from), so the rows add up; "
                     "a row whose figure differs from what its own calls cost shows no measured columns")
    if trace.unruled:
        by_reason: dict[str, list] = {}
        for path, reason in trace.unruled.items():
            by_reason.setdefault(reason, []).append(path or "(root)")
        for reason, where in by_reason.items():
            where.sort()
            notes.append(f"priced from the ops they ran, not their type's rule ({reason}): "
                         f"{', '.join(where[:6])}" + (" …" if len(where) > 6 else ""))
    twice = _registered_twice(model) if tensors.shared else []
    if twice:
        notes.append("modules registered in more than one place, one row each (at the first path), their "
                     "parameters counted once in the total and in each parent's params: " + "; ".join(twice[:6])
                     + (" …" if len(twice) > 6 else ""))
    tied = _tied_parameters(model) if tensors.shared else []
    if tied:
        notes.append("parameters shared between modules, counted once in the total and in each holder's row "
                     "(so the params column adds up to more than the total): " + "; ".join(tied[:6])
                     + (" …" if len(tied) > 6 else ""))
    longest = sum(chains[p.call.index] for p in priced if p.call.parent_index is None) + stray_steps
    notes.append(f"longest chain: {longest:,} sequential step{'s' if longest != 1 else ''} (layers and recurrent "
                 "time steps, as executed; column 'steps')")
    if backward is not None:
        notes.append(f"backward: {sum(backward):,} MACs, counted in the row that ran it (the root's own); "
                     "column 'backward_MACs' shows which layer's forward set each up (ops without MACs, "
                     "the activations' and norms' gradients, are not broken down)")
    report = Report(model_name or type(model).__name__, convention, layers, root, total, uncounted, counted_items,
                    notes)
    if backward is not None:
        report.extra[BACKWARD_MACS] = sum(backward)  # (the totals row of the column)
    return report
