"""Per-layer calls for a ``torch.fx.GraphModule`` whose graph says which module each node came from.

``torch.export.export(model, args).module()`` is one GraphModule: every op of the original forward
is a node of its graph, its submodules only hold the original parameters and buffers under their
dotted names, and modules without any (ReLU, pooling, dropout) are gone. Each node's
``meta["nn_module_stack"]`` names the original modules it ran in, outermost first:
``key → (path, type)``, the key telling two calls of one module apart (``"…@1"``).
``torch.fx.symbolic_trace`` writes the same for the functional ops a module's forward runs (its
leaf modules stay modules, called by ``call_module`` nodes).

For such a GraphModule, the root or any submodule of an eager model (``nn.Sequential(pre,
ep.module())``), the capture runs a copy of its graph with a marker node wherever the innermost
module changes: the marker closes and opens a :class:`~torchcount.capture.Call` per module path
(the GraphModule's own path, then the path its graph names), so each op is recorded into the call
of the module that ran it and the report's rows are the original layers. The copy's code is
generated as the GraphModule's own (the same input flattening, guards and output structure; only
the markers are added); the model is not changed. All of this is done once per profile: an eager
model costs a look at its distinct module types here, and nothing per call.
"""
from __future__ import annotations

import functools
import inspect
import operator
import re
import sys
import threading
from typing import Any, Callable

import torch
from torch import nn

from .capture import _NO_KWARGS, _NONE, Call, _raised_from, describe

_GraphModule = torch.fx.GraphModule


class LayerNames:
    """What a model's graphs say of the original modules whose calls a capture records under other
    modules, all by their paths in the profiled model: ``types``, path → the original type name, for
    the paths whose module here is a holder of parameters, a stand-in or an ``InterpreterModule``
    (its own type says nothing of the layer); ``held``, path → the layer whose ops read the
    parameters of that module, which no node names (MultiheadAttention's ``out_proj``): that layer's
    row holds them, as a rule's row holds the weights its rule reads. ``graphs``: path → the
    :class:`GraphLayers` of each GraphModule there (the root's at ""), whose forward the capture and
    the measured passes run as its graph's copy with markers; empty: every module runs its own."""

    #: (path, original type) of each layer whose graph runs an op in training mode (batch
    #: statistics, dropout): fixed at export, whatever the GraphModule's own ``training`` flag says
    training: tuple = ()
    #: the paths of the modules whose graphs were read (GraphModules, UnflattenedModules), outermost first
    where: tuple = ("",)

    graphs: dict = {}  # (never changed: an instance is given its own)

    def __init__(self, types: dict, held: dict, graphs: "dict | None" = None):
        self.types = types
        self.held = held
        if graphs is not None:
            self.graphs = graphs


class GraphLayers(LayerNames):
    """A GraphModule's layers, and how to run its graph so that their calls are recorded
    (:meth:`captured_forward`). ``prefix``: the GraphModule's path in the profiled model ("" for the
    root), which every path here begins with."""

    def __init__(self, model: nn.Module, codes: list, switches: list, modules: dict, types: dict, held: dict,
                 prefix: str = ""):
        super().__init__(types, held)
        self.model = model
        self.prefix = prefix
        #: per graph copied (the regions' first, the model's last): (its module's type name, source,
        #: globals, the global the code calls each marker by, the global it binds each region's copy by)
        self._codes = codes
        #: per marker: (frames closed, innermost first: number of output values each;
        #: frames opened, outermost first: (key, path, number of input values))
        self._switches = switches
        #: path → the module its calls are recorded under: the GraphModule's submodule at that path
        #: (a holder of the original parameters), or a stand-in for a module the GraphModule lacks
        self.modules = modules

    @property
    def graphs(self) -> dict:  # (not stored: a reference cycle, left to the collector after each profile)
        return {self.prefix: self}

    def captured_forward(self, recorder, forward: Callable) -> Callable:
        """The GraphModule's forward for ``recorder``'s capture (the root's, or a submodule's): the
        graph's copy with its markers, run on the GraphModule itself. ``forward`` (the model's own)
        runs instead in another thread, or once the capture has ended."""
        stack, calls = recorder.stack, recorder.trace.calls
        switches, modules = self._switches, self.modules
        # key → its Call in this run of the graph: a span of it that another module's ops interrupted
        # goes on in it (a run's keys are unique per call: "b", "b@1")
        opened: dict = {}
        grad_enabled = torch.is_grad_enabled

        def switch(index: int, *values):
            closes, opens = switches[index]
            at = 0
            for n in closes:  # (innermost first, as the stack pops)
                call = stack.pop()
                out = values[at:at + n]
                at += n
                call.output = describe(out[0] if n == 1 else out)
            for key, path, n in opens:
                call = opened.get(key)
                if call is None:
                    module = modules[path]
                    parent = stack[-1]
                    call = Call(module, path, len(calls), parent.index, describe(values[at:at + n]), _NO_KWARGS,
                                module.training, grad_enabled())
                    call.unruled = True  # priced from the ops recorded in it, whatever the holder's type
                    opened[key] = call
                    calls.append(call)
                    if parent.children is _NONE:
                        parent.children = []
                    parent.children.append(call)
                at += n
                stack.append(call)

        run_graph = self._compiled(switch)
        model, thread, live = self.model, recorder.thread, recorder.live

        def run(*args, **kwargs):
            if threading.get_ident() != thread or not live[0]:
                return forward(*args, **kwargs)
            depth = len(stack)
            opened.clear()  # (a method may run the forward twice: new calls each time)
            try:
                return run_graph(model, *args, **kwargs)
            except BaseException as exc:
                if len(stack) > depth:  # raised inside a layer: the innermost one open is named
                    call = stack[-1]
                    if call.failed is None:
                        call.failed = exc
                    failure = recorder.failure
                    if failure is None or not _raised_from(exc, failure.failed):
                        recorder.failure = call
                raise
            finally:
                del stack[depth:]

        run.__wrapped__ = forward  # inspect.signature(model.forward) still works
        return run

    def spanned_forward(self, hooks_for: Callable, with_kwargs: bool, live: list, thread: int,
                        forward: Callable) -> Callable:
        """The GraphModule's forward for a measurement pass (``measure.hooks.per_module_hooks``): the graph's
        copy, whose markers call ``pre(module, args)`` as each layer's span opens and
        ``post(module, args, output)`` as it closes (with ``with_kwargs``, ``pre(module, args, kwargs)``
        and ``post(module, args, kwargs, output)``, ``kwargs`` empty), ``hooks_for(path) -> (pre, post)`` as for a module of the eager model. A span
        another layer's ops interrupted and that goes on is a second span of the same path (its
        time adds up in the path's row). A graph that raises closes every span still open, innermost
        first, with ``output`` None while the exception is handled, as a module whose forward
        raised. ``forward`` (the model's own) runs in another thread, or once ``live[0]`` is False."""
        switches, modules = self._switches, self.modules
        hooks = {path: hooks_for(path) for path in modules}
        stack: list = []  # (pre, post, module, args) of each span open, innermost last
        no_kwargs: dict = {}

        def close(post, module, args, output) -> None:
            if with_kwargs:
                post(module, args, no_kwargs, output)
            else:
                post(module, args, output)

        def switch(index: int, *values):
            closes, opens = switches[index]
            at = 0
            for n in closes:
                _, post, module, args = stack.pop()
                out = values[at:at + n]
                at += n
                close(post, module, args, out[0] if n == 1 else out)
            for _, path, n in opens:
                pre, post = hooks[path]
                module, args = modules[path], values[at:at + n]
                at += n
                stack.append((pre, post, module, args))
                if with_kwargs:
                    pre(module, args, no_kwargs)
                else:
                    pre(module, args)

        run_graph = self._compiled(switch)
        model = self.model

        def run(*args, **kwargs):
            if threading.get_ident() != thread or not live[0]:
                return forward(*args, **kwargs)
            depth = len(stack)
            try:
                return run_graph(model, *args, **kwargs)
            except BaseException:
                while len(stack) > depth:  # (innermost first, as a module's would as it propagates)
                    _, post, module, args_in = stack.pop()
                    close(post, module, args_in, None)
                raise

        run.__wrapped__ = forward
        return run

    _compiled_codes = None  # the copies' sources, compiled once: each measured pass runs them with its own switch

    def _compiled(self, switch: Callable) -> Callable:
        """The graph's copy as a function of (the model, its inputs), its markers calling ``switch``."""
        if self._compiled_codes is None:  # (12 ms for ResNet-50's graph: not once per pass)
            self._compiled_codes = [
                (compile(source, f"<torchcount: the graph of {name}, with layer markers>", "exec"), globals_, marker, bind)
                for name, source, globals_, marker, bind in self._codes]
        forwards: dict = {}  # part → its copy (a region's before the graph that calls it)
        for part, (code, globals_, marker, bind) in enumerate(self._compiled_codes):
            namespace = dict(globals_)
            if marker is not None:
                namespace[marker] = switch
            if bind is not None:
                namespace[bind] = _binder(dict(forwards))
            exec(code, namespace)
            forwards[part] = namespace.pop("forward")  # (not left in its own globals: a reference cycle)
        return forwards[len(self._compiled_codes) - 1]


def _binder(forwards: dict) -> Callable:
    """What a copy calls for a region's graph (:func:`_region`): its copy bound to its GraphModule."""
    def bind(part: int, module: nn.Module) -> Callable:
        return functools.partial(forwards[part], module)

    return bind


def graph_layers(model: nn.Module, modules: "list[tuple[str, nn.Module]]") -> "LayerNames | None":
    """What the graphs in ``model`` say of their layers: each GraphModule (the root or a submodule)
    whose nodes carry ``nn_module_stack`` naming modules below it (its :class:`GraphLayers`, in
    ``graphs`` at its path), and each ``UnflattenedModule`` of ``torch.export.unflatten`` (its
    ``InterpreterModule``s' types), every path prefixed by the path of the module whose graph it is;
    None where there is none (and for a graph whose module paths are not in a form read here, or
    whose module has a ``forward`` set on the instance: its work stays its module's).
    ``modules``: ``named_modules()``."""
    unflatten = sys.modules.get("torch.export.unflatten")  # (imported by torch itself where it exists)
    unflattened = getattr(unflatten, "UnflattenedModule", None)
    kinds = (_GraphModule, unflattened) if unflattened is not None else _GraphModule
    # an eager model's whole cost here: its distinct types checked (a set of types costs a quarter of
    # an isinstance per module: 7 against 28 µs on ResNet-50's 151 modules)
    if not any(issubclass(kind, kinds) for kind in {type(module) for _, module in modules}):
        return None
    found: list = []
    graphs_at: list = []  # the paths of the graphs met, read or not
    for path, module in modules:  # (outermost first)
        if not isinstance(module, kinds):
            continue
        if any(not p or path.startswith(p + ".") for p in graphs_at):
            # below a graph read here: its paths are that graph's (a cond's branch, whose nodes name the
            # outer model's modules), and a module it calls is recorded as any module is
            continue
        graphs_at.append(path)
        if "forward" in module.__dict__:
            # a forward the user set on the instance (a wrapper of the graph's): it is what runs, as
            # any module's; its graph's copy would run instead of it
            continue
        if isinstance(module, _GraphModule):
            layers = _graph_module_layers(module, path)
        else:
            below = [(p[len(path) + 1:] if path else p, m) for p, m in modules
                     if not path or p == path or p.startswith(path + ".")]
            layers = _prefixed(_unflattened_layers(below), path)
        if layers is not None:
            found.append((path, layers))
    if not found:
        return None
    if len(found) == 1:
        layers = found[0][1]
        layers.where = (found[0][0],)
        return layers
    merged = LayerNames({k: v for _, layers in found for k, v in layers.types.items()},
                        {k: v for _, layers in found for k, v in layers.held.items()},
                        {k: v for _, layers in found for k, v in layers.graphs.items()})
    merged.training = tuple(t for _, layers in found for t in layers.training)
    merged.where = tuple(path for path, _ in found)
    return merged


def _prefixed(layers: LayerNames, prefix: str) -> LayerNames:
    """``layers`` of the module at ``prefix``, its paths made the profiled model's."""
    if not prefix:
        return layers
    at = _prefixer(prefix)
    return LayerNames({at(p): kind for p, kind in layers.types.items()},
                      {at(p): at(reader) for p, reader in layers.held.items()})


def _prefixer(prefix: str) -> Callable[[str], str]:
    """A path below the module at ``prefix`` (its own: "") → the path in the profiled model."""
    if not prefix:
        return lambda path: path
    return lambda path: f"{prefix}.{path}" if path else prefix


def _unflattened_layers(modules: list) -> LayerNames:
    """``torch.export.unflatten`` rebuilds the module tree: each original module that ran is an
    ``InterpreterModule`` running its part of the graph, so the capture records its calls as any
    module's. Only names are missing: the original types, from its graph's ``nn_module_stack``, and
    the holders whose parameters a layer above reads (``held``)."""
    named: dict[str, str] = {}  # path → type, from every node's stack (a Sequential's own graph only calls)
    held: dict[str, str] = {}
    by_path = dict(modules)
    runs_graph = set()
    for path, module in modules:
        graph = module.__dict__.get("graph")
        if not isinstance(graph, torch.fx.Graph):
            continue
        runs_graph.add(path)
        for node in graph.nodes:
            for value in (node.meta.get("nn_module_stack") or {}).values():
                found, kind = _entry(value)
                if found and found not in named:
                    named[found] = kind
            if node.op == "get_attr" and isinstance(node.target, str) and "." in node.target and path:
                owner = f"{path}.{node.target.rpartition('.')[0]}"
                if type(by_path.get(owner)) is nn.Module and not any(p.startswith(owner + ".") for p in by_path):
                    held[owner] = path
    types = {path: named[path] for path in runs_graph if path in named}
    return LayerNames(types, held)


def _graph_module_layers(model: nn.Module, prefix: str = "") -> "GraphLayers | None":
    """The layers of the GraphModule ``model``, at ``prefix`` in the profiled model (its paths are
    the graph's, relative to ``model``, until the end, where they are prefixed). A region the graph
    runs as a subgraph called by a higher-order op that only sets a mode around it (``torch.no_grad()``,
    autocast: :data:`_WRAPPING`), whose nodes name the layers they ran in as the graph's do, is read
    as a part of the graph: its copy, with markers of its own, is what the op calls."""
    parts: list = []  # [module, nodes, frames_of, entry, regions, attrs] per graph read: its regions first
    if _read(model, model.graph, (), parts) is None:
        return None
    if not any(frames for part in parts for frames in part[2]):
        return None
    at = _prefixer(prefix)

    types: dict[str, str] = {}
    modules: dict[str, nn.Module] = {}
    training: dict = {}
    for _, nodes, frames_of, _, _, _ in parts:
        for frames in frames_of:
            for _, path, kind in frames or ():
                if path in modules:
                    continue
                try:
                    found = model.get_submodule(path)
                except (AttributeError, TypeError):
                    found = None
                if found is None or type(found) is nn.Module:  # a holder of parameters, or no module at all
                    types[path] = kind
                # (a stand-in holds nothing: the row has no parameters, as the original had none)
                modules[path] = found if found is not None else nn.Module().train(model.training)
        for node, frames in zip(nodes, frames_of):
            if frames is not None and node.op == "call_function" and _runs_in_training(node):
                path, kind = (frames[-1][1], frames[-1][2]) if frames else ("", type(model).__name__)
                training.setdefault(path, kind)
    _, nodes, frames_of, _, _, _ = parts[-1]  # the model's own graph
    held = _held(nodes, frames_of, {node: i for i, node in enumerate(nodes)}, set(modules))

    switches: list = []
    codes: list = []
    for owner, nodes, frames_of, entry, regions, attrs in parts:
        markers = _markers(nodes, frames_of, entry, attrs)
        graph = nodes[0].graph
        copy = torch.fx.Graph()
        copy.set_codegen(graph._codegen)  # the same input flattening and output structure as the model's
        env: dict = {}
        for i, node in enumerate(nodes):
            marker = markers.get(i)
            if marker is not None:
                closes, opens = marker
                values = [env[v] for out in closes for v in out] + [env[v] for _, ins in opens for v in ins]
                switches.append(([len(out) for out in closes],
                                 [(key, at(path), len(ins)) for (key, path, _), ins in opens]))
                copy.create_node("call_function", _marker, (len(switches) - 1, *values), name="_torchcount_switch")
            env[node] = copy.node_copy(node, lambda n: env[n])
            region = regions.get(i)
            if region is not None:  # the op calls the region's copy, bound to its GraphModule
                argument, part = region
                args = list(env[node].args)
                with copy.inserting_before(env[node]):
                    args[argument] = copy.create_node("call_function", _region, (part, args[argument]),
                                                      name="_torchcount_region")
                env[node].args = tuple(args)
        code = copy.python_code(root_module="self")
        names = {id(value): name for name, value in code.globals.items()}
        codes.append((type(owner).__name__, code.src, code.globals, names.get(id(_marker)), names.get(id(_region))))
    layers = GraphLayers(model, codes, switches, {at(p): m for p, m in modules.items()},
                         {at(p): kind for p, kind in types.items()},
                         {at(p): at(reader) for p, reader in held.items()}, prefix)
    layers.training = tuple((at(p), kind) for p, kind in training.items())
    return layers


def _read(owner: nn.Module, graph: torch.fx.Graph, entry: tuple, parts: list) -> "int | None":
    """Append to ``parts`` what the markers of ``graph`` (``owner``'s) need, its regions' first (see
    :func:`_graph_module_layers`), and return its index there; None where a module path is in a
    form not read here. ``entry``: the frames open where the graph is called (the model's: none),
    which its output leaves open."""
    nodes = list(graph.nodes)
    frames_of: list = []  # per node: its module frames ((key, path, type name), …), or None: runs nothing
    for node in nodes:
        if node.op in ("placeholder", "get_attr"):  # (an input, a parameter: no work, no frame of its own)
            frames_of.append(None)
            continue
        if node.op == "output":
            frames_of.append(entry)
            continue
        frames = []
        for key, value in (node.meta.get("nn_module_stack") or {}).items():
            path, kind = _entry(value)
            if path is None:
                return None
            if not path or path == _NO_MODULE:  # the root (torch.export names it too)
                continue
            if node.op == "call_module" and not node.target.startswith(path + "."):
                continue  # the module itself, recorded as it is called; or a frame that does not hold it
            frames.append((key, path, kind))
        frames_of.append(tuple(frames))  # (an op the graph gives no module is the root's own)

    attrs = {node for node in nodes if node.op == "get_attr"}  # values the modules hold, not inputs
    position = {node: i for i, node in enumerate(nodes)}
    regions: dict = {}  # node index → (the argument that is the region's GraphModule, its part)
    for i, node in enumerate(nodes):
        if node.op != "call_function" or not any(node.target is op for op in _WRAPPING):
            continue
        found = next(((j, arg) for j, arg in enumerate(node.args) if isinstance(arg, torch.fx.Node)
                      and arg.op == "get_attr" and isinstance(_attribute(owner, arg.target), _GraphModule)), None)
        if found is None:
            continue
        j, arg = found
        region = _attribute(owner, arg.target)
        if not any(n.meta.get("nn_module_stack") for n in region.graph.nodes):
            continue  # (its nodes name no module: its call is recorded as the GraphModule's)
        part = _read(region, region.graph, frames_of[i], parts)
        if part is None:
            return None
        regions[i] = (j, part)
        # the region's inputs, in order, are the op's arguments after it: a parameter or buffer given
        # is one a layer holds, not what it was given
        inputs = [n for n in region.graph.nodes if n.op == "placeholder"]
        parts[part][5].update(p for p, a in zip(inputs, node.args[j + 1:]) if a in attrs)
        for user in node.users:  # (unpacking its output: no work, done where the op ran)
            if user.op == "call_function" and user.target is operator.getitem:
                frames_of[position[user]] = frames_of[i]
    parts.append([owner, nodes, frames_of, entry, regions, attrs])
    return len(parts) - 1


def _markers(nodes: list, frames_of: list, entry: tuple, attrs: set) -> dict:
    """node index → the marker before it: close the frames of the current stack past the common
    prefix (innermost first: the values each returned) and open the node's own past it (each: its
    frame and the values it was given). ``entry``: the frames open as the graph begins."""
    position = {node: i for i, node in enumerate(nodes)}
    markers: dict[int, tuple] = {}
    current: tuple = entry
    began: list[int] = [0] * len(entry)  # the first node of each open frame
    for i, frames in enumerate(frames_of):
        if frames is None or [f[0] for f in frames] == [f[0] for f in current]:
            continue
        common = 0
        while common < min(len(frames), len(current)) and frames[common][0] == current[common][0]:
            common += 1
        closes = []
        for depth in range(len(current) - 1, common - 1, -1):  # (innermost first)
            start = began.pop()
            closes.append(_outputs(nodes, start, i, position, frames_of, current[depth][0]))
        opens = []
        for frame in frames[common:]:
            opens.append((frame, _inputs(nodes, i, frames_of, frame[0], position, attrs)))
            began.append(i)
        markers[i] = (closes, opens)
        current = frames
    return markers


def _attribute(owner: nn.Module, target: str) -> Any:
    """``owner``'s attribute at the dotted ``target`` (a get_attr node's), or None."""
    found: Any = owner
    for name in target.split("."):
        found = getattr(found, name, None)
    return found


#: ops that run in training mode only, whatever their arguments: batch norm that updates its
#: running statistics, the CUDA dropout kernel
_TRAINING_ONLY = ("aten::_batch_norm_with_update", "aten::_batch_norm_with_update_functional", "aten::_fused_dropout")
#: the arguments an op is told its mode by: batch_norm's, dropout's, instance_norm's (True: training)
_MODE_ARGUMENTS = ("training", "train", "use_input_stats")
_argument_names: dict = {}  # an aten op → its schema's argument names (ops are process-wide objects)
#: torch's dropout functions a traced forward may call directly: builtins whose arguments
#: (input, p, train) cannot be bound by name
_BUILTIN_DROPOUTS = tuple(f for f in (getattr(torch, name, None) for name in (
    "dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "native_dropout")) if f is not None)


def _runs_in_training(node: torch.fx.Node) -> bool:
    """Whether an op node runs as only training mode runs it, as the graph fixed its arguments:
    dropout (``train``/``training`` True; a recurrent op's only with a nonzero ``dropout``;
    attention's ``dropout_p`` above 0), rrelu's random slopes, and batch statistics that update
    running ones (``training``/``use_input_stats`` True with a running mean given). A norm without
    running statistics (``BatchNorm(track_running_stats=False)``, ``InstanceNorm`` by default) uses
    batch statistics in eval mode too: not training. The ops of ``torch.nn.functional`` that
    ``symbolic_trace`` records, whose arguments it writes by keyword, are read too."""
    target = node.target
    schema = getattr(target, "_schema", None)
    if schema is not None:
        if schema.name in _TRAINING_ONLY:
            return True
        names = _argument_names.get(target)
        if names is None:
            names = _argument_names[target] = tuple(a.name for a in schema.arguments)
        values = dict(zip(names, node.args), **node.kwargs)
    elif target in _BUILTIN_DROPOUTS:  # (torch.dropout(x, p, train): a builtin, no signature to bind)
        train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train")
        p = node.args[1] if len(node.args) > 1 else node.kwargs.get("p")
        return train is True and not _is_zero(p)
    else:  # a Python function (torch.nn.functional's, as symbolic_trace records them)
        values = node.kwargs
        if not any(values.get(name) is True for name in _MODE_ARGUMENTS) and not values.get("dropout_p"):
            return False
        try:  # (F.batch_norm's running_mean comes by position, F.instance_norm's may be left out)
            bound = inspect.signature(target).bind_partial(*node.args, **node.kwargs)
            bound.apply_defaults()
            values = bound.arguments
        except (TypeError, ValueError):
            pass
        names = tuple(values)
    dropout_p = values.get("dropout_p")
    if isinstance(dropout_p, (int, float)) and dropout_p > 0:
        return True
    if not any(values.get(name) is True for name in _MODE_ARGUMENTS):
        return False
    if "dropout_p" in names:  # (attention told training=True: its mode decides only its dropout, here 0)
        return False
    if _is_zero(values.get("p")):  # dropout of p 0: its input, in either mode (the dropout rule's identity)
        return False
    if "running_mean" in names or "momentum" in names:  # a norm: training if it has running statistics
        return values.get("running_mean") is not None
    dropout = values.get("dropout")  # (a recurrent op's, between its layers)
    return not (isinstance(dropout, (int, float)) and dropout == 0)


def _is_zero(value) -> bool:
    """Whether a graph argument is the number 0 (a node or None is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _held(nodes: list, frames_of: list, position: dict, layers: set) -> dict:
    """Modules no node names whose parameters or buffers only the layers above them read (the
    ``out_proj`` that MultiheadAttention's forward uses without calling it): module path → the
    reading layer's path. Read by the root, or by a layer elsewhere, they stay modules never called."""
    readers: dict[str, set] = {}
    for node in nodes:
        if node.op != "get_attr" or not isinstance(node.target, str):
            continue
        owner = node.target.rpartition(".")[0]
        if not owner or owner in layers or any(p.startswith(owner + ".") for p in layers):
            continue
        found = readers.setdefault(owner, set())
        for user in node.users:
            frames = frames_of[position[user]]
            found.add(frames[-1][1] if frames else "")
    return {owner: next(iter(paths)) for owner, paths in readers.items()
            if len(paths) == 1 and next(iter(paths)) and owner.startswith(next(iter(paths)) + ".")}


def _marker(index: int, *values) -> None:
    """Stands for the switch of a run (bound when the code is compiled for a capture)."""
    raise RuntimeError("torchcount's layer marker run outside a capture")


def _region(index: int, module: nn.Module) -> Callable:
    """Stands for the copy of a region's graph (:data:`_WRAPPING`), the ``index``-th part compiled,
    bound to its GraphModule ``module`` (bound when the code is compiled for a capture)."""
    raise RuntimeError("torchcount's region marker run outside a capture")


#: higher-order ops that call a subgraph once, setting a mode around it (``torch.no_grad()``,
#: autocast), with its arguments: the layers its nodes name are read as the graph's own
_WRAPPING = tuple(op for op in (getattr(getattr(torch.ops, "higher_order", None), name, None)
                                for name in ("wrap_with_set_grad_enabled", "wrap_with_autocast")) if op is not None)


def _outputs(nodes: list, start: int, end: int, position: dict, frames_of: list, key: str) -> list:
    """The values computed in nodes[start:end], a span of the frame ``key``, that a later node outside
    that frame uses: what the module returned. A value only the frame's own later span reads (where
    another module's ops interrupted it) stays inside it, as a module's intermediate values do."""
    found = []
    for node in nodes[start:end]:
        if node.op in ("placeholder", "get_attr"):
            continue
        for user in node.users:
            at = position[user]
            if at >= end and not any(f[0] == key for f in frames_of[at] or ()):
                found.append(node)
                break
    return found


def _inputs(nodes: list, start: int, frames_of: list, key: str, position: dict, attrs: set) -> list:
    """The values the nodes of the frame ``key`` that begins at ``start`` read from before it (not
    parameters or buffers, ``attrs``, which the module holds): what the module was given."""
    found: dict = {}
    for i in range(start, len(nodes)):
        frames = frames_of[i]
        if frames is None:
            continue
        if not any(f[0] == key for f in frames):
            break
        for value in nodes[i].all_input_nodes:
            if position[value] < start and value not in attrs:
                found[value] = None
    return list(found)


#: the frame torch.export's passes give a node they create with no module of its own (the
#: ``sym_size`` that reads a dynamic dimension of an input): the root's, as a node without a frame
_NO_MODULE = "_empty_nn_module_stack_from_metadata_hook"
#: a path in Dynamo's form (torch.export with strict=True, before torch normalised it): L['self'].a[0]
_DYNAMO_ROOT = "L['self']"
_ACCESS = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]|\[\s*['\"]([^'\"]+)['\"]\s*\]")


def _entry(value: Any) -> "tuple[str | None, str]":
    """(dotted path, type name) of one ``nn_module_stack`` entry; path None when it is in a form not
    read here."""
    try:
        path, kind = value
    except (TypeError, ValueError):
        return None, ""
    kind = kind.__name__ if isinstance(kind, type) else str(kind).rpartition(".")[2]
    if not isinstance(path, str):
        return None, kind
    if path.startswith(_DYNAMO_ROOT):
        parts, at, rest = [], 0, path[len(_DYNAMO_ROOT):]
        while at < len(rest):
            match = _ACCESS.match(rest, at)
            if match is None:
                return None, kind
            part = next(g for g in match.groups() if g is not None)
            if part != "_modules":
                parts.append(part)
            at = match.end()
        return ".".join(parts), kind
    if path and not all(p and not any(c in p for c in "[]'\" ()") for p in path.split(".")):
        return None, kind
    return path, kind
