"""The ``torchcount`` command: per-layer params, MACs and FLOPs of a model, from the shell.

    torchcount resnet50 --input 1x3x224x224
    torchcount examples/worksheet_alexnet.py:worksheet_alexnet --input 1x3x227x227 --convention worksheet
    torchcount alexnet --input 1x3x227x227 --format json --output alexnet.json

Exit codes: 0 success; 2 usage error (unknown model, bad shape, missing callable, bad
option value); 1 model error (building it or its forward fails). Errors are one line on
stderr; ``--debug`` adds the Python traceback.

Nothing here counts: the command builds a model and inputs, calls :func:`torchcount.profile`
and shows the report through its views (``Report.table``, ``torchcount.export``).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import io
import json
import math
import os
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

EXIT_OK, EXIT_MODEL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in the command line (exit code 2)."""


class ModelError(Exception):
    """The model could not be built or run (exit code 1)."""


# ---- command line ----------------------------------------------------------------------------
EPILOG = """\
MODEL forms:
  resnet50                          a torchvision builder (torchvision.models.list_models())
  wav2vec2_base                     a torchaudio builder (torchaudio.models)
  'resnet18(num_classes=10)'        builder arguments, Python literals only
  torchaudio.transforms:MelSpectrogram     package.module:callable
  'torchaudio.transforms:MelSpectrogram(n_fft=512, n_mels=32)'
  examples/worksheet_alexnet.py:worksheet_alexnet   path/to/file.py:callable
The callable is called with no arguments (or the literal ones given) and returns an
nn.Module, or a (module, inputs) pair whose inputs are used when --input is not given.
An nn.Module instance or class may be named instead of a function.

The model is put in eval mode. Without --measure or --device it is built on the meta device
(no memory, no weights: a 70-billion-parameter model is counted in seconds); builders that
cannot run on meta are built on the CPU and moved there.

Input shapes: dims separated by 'x' (1x3x224x224), an optional dtype after ':'
(1x16:int64, 2x80x100:float16), NAME= before it for a keyword input (attention_mask=1x16:int64). Float inputs are random normal, integer inputs random 0/1
(valid for any embedding), bool inputs False. Default: 1x3x224x224 for torchvision image
models (1x3x299x299 for inception_v3, 1x3x16x112x112 for video models, 1x3x16x224x224 for s3d, mvit_*, swin3d_*), 1x16000 (one second
at 16 kHz) for torchaudio speech encoders; other models need --input.

Exit codes: 0 ok, 2 usage error, 1 model error (one line on stderr naming the failing module).

Examples:
  torchcount resnet50
  torchcount alexnet --input 1x3x227x227 --format json --output alexnet.json
  torchcount examples/worksheet_alexnet.py:worksheet_alexnet --input 1x3x227x227 --convention worksheet
  torchcount resnet50 --depth 1 --units
  torchcount vit_b_16 --sort ops --top 10 --columns module,type,params,ops,share
  torchcount resnet18 --explain layer1.0.conv1
  torchcount mobilenet_v2 --compare mobilenet_v3_large --convention macs
  torchcount resnet18 --measure --device cpu --warmup 2 --repeat 10
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2
        raise UsageError(f"{message} (see torchcount --help)")


def build_parser() -> argparse.ArgumentParser:
    from .conventions import CONVENTIONS

    p = _Parser(prog="torchcount", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="What every layer of a PyTorch model costs: parameters, MACs, FLOPs under an "
                            "explicit convention, and (with --measure) measured time.",
                epilog=EPILOG)
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="a torchvision/torchaudio builder name (resnet50, wav2vec2_base), "
                        "package.module:callable, or path/to/file.py:callable; see MODEL forms below")
    g = p.add_argument_group("inputs and device")
    g.add_argument("--input", "-i", action="append", metavar="SHAPE[:DTYPE]", default=None,
                   help="shape of one positional input, repeat for several; NAME=SHAPE for a keyword "
                        "input; e.g. --input 1x3x224x224, --input 1x16:int64, --input input_ids=1x16:int64")
    g.add_argument("--method", metavar="NAME[(...)]", default=None,
                   help="profile one call of this method of the model instead of its forward, with optional "
                        "literal keyword arguments; e.g. --method 'generate(max_new_tokens=8, do_sample=False)'")
    g.add_argument("--dtype", metavar="DTYPE", default=None,
                   help="cast the model's floating parameters and buffers, and float inputs without a "
                        "dtype suffix, to DTYPE (changes bytes moved, and measured time); e.g. --dtype bfloat16")
    g.add_argument("--device", metavar="DEV", default=None,
                   help="build and run the model on DEV (cpu, cuda, cuda:1, meta); default meta, or cpu "
                        "with --measure. e.g. --device cuda")
    g.add_argument("--measure", action="store_true",
                   help="also time each layer on the device (a real forward, real weights); "
                        "e.g. --measure --device cuda")
    g.add_argument("--warmup", type=_nonneg_int, default=None, metavar="N",
                   help="untimed forward passes before measuring; e.g. --warmup 3")
    g.add_argument("--repeat", type=_pos_int, default=None, metavar="N",
                   help="timed forward passes; e.g. --repeat 20")
    g.add_argument("--ceiling", action="store_true",
                   help="measure the device's attainable peaks (a large matmul, a 3×3 convolution and a large copy) for "
                        "%%peak and the compute/memory-bound verdict where no vendor peak is known "
                        "(any CPU); e.g. --measure --ceiling")
    g.add_argument("--energy", action="store_true",
                   help="also measure energy per forward and its CO₂e: NVML's board energy counter on an NVIDIA GPU "
                        "(Volta or later), RAPL's package counters on a Linux CPU (often readable only by root); "
                        "elsewhere the report says why it is unavailable; "
                        "e.g. --measure --device cuda --energy")
    g = p.add_argument_group("what to show")
    g.add_argument("--convention", "-c", default="flops", metavar="NAME",
                   help="how operations are counted, any case (default flops): "
                        + "; ".join(f"{c.name} = {c.formula()}" for c in CONVENTIONS.values())
                        + " (docs/conventions.md says which to use for which exercise); e.g. --convention worksheet")
    g.add_argument("--depth", "-d", type=_nonneg_int, default=None, metavar="N",
                   help="show modules down to this depth, deeper ones rolled up; e.g. --depth 1")
    g.add_argument("--sort", metavar="COLUMN", default=None,
                   help="sort rows by params, macs, ops, calls, activation, steps, module, type or a measured "
                        "column, largest first; e.g. --sort ops")
    g.add_argument("--top", type=_pos_int, default=None, metavar="N",
                   help="show only the N largest rows (by --sort, default ops); e.g. --top 10")
    g.add_argument("--columns", metavar="LIST", default=None,
                   help="table columns, comma-separated, from #, module, type, input, output, params, "
                        "macs, ops, share, calls, activation, dtype, steps and measured columns, or a preset "
                        "(measured); e.g. --columns module,params,ops")
    g.add_argument("--units", action="store_true",
                   help="print 1.23 G instead of 1,234,567,890; e.g. --units")
    g.add_argument("--explain", action="append", metavar="PATH", default=None,
                   help="the worked formula of one layer, numbers substituted (repeatable); "
                        "e.g. --explain features.0")
    g.add_argument("--receptive-field", action="store_true",
                   help="also print every layer's receptive field, jump and start, following the data flow "
                        "(conv/pool stacks; torchcount.receptive_field); after a table, or on stderr; "
                        "e.g. torchcount alexnet --receptive-field")
    g.add_argument("--compare", metavar="OTHER_MODEL", default=None,
                   help="profile a second model (any MODEL form, same inputs) and show both side by side "
                        "with the reduction; e.g. --compare mobilenet_v3_large")
    g = p.add_argument_group("output")
    g.add_argument("--format", "-f", choices=("table", "csv", "json", "markdown"), default="table",
                   help="output format (default table); JSON follows docs/export-schema.md; "
                        "e.g. --format json")
    g.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="write the output to FILE instead of stdout; e.g. --output report.csv")
    g.add_argument("--plot", metavar="FILE", default=None,
                   help="also save a chart of the per-layer costs (needs matplotlib); e.g. --plot costs.png")
    g = p.add_argument_group("other")
    g.add_argument("--list-models", action="store_true",
                   help="print the builder names MODEL may be, and exit")
    g.add_argument("--strict", action="store_true",
                   help="exit with code 1 (after the output) when some op had no formula, for CI checks; "
                        "e.g. --strict")
    g.add_argument("--debug", action="store_true", help="show Python tracebacks and warnings in full")
    g.add_argument("--version", action="version", version=f"torchcount {_version()}")
    return p


def _version() -> str:
    from . import __version__
    return __version__


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer ≥ ``minimum``, with a one-line error naming ``what``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}")
        return value
    return parse


_pos_int = _int_at_least(1, "positive")
_nonneg_int = _int_at_least(0, "non-negative")


# ---- input shapes -------------------------------------------------------------------------------
def parse_input(text: str, default_dtype=None):
    """``"1x3x224x224"`` → ``((1, 3, 224, 224), torch.float32)`` (or ``default_dtype``);
    ``"1x16:int64"`` → int64."""
    import torch

    shape_text, _, dtype_text = text.strip().partition(":")
    dims = [d.strip() for d in re.split(r"[x×X*]", shape_text)] if shape_text.strip() else []
    if not dims or not all(d.isascii() and d.isdigit() for d in dims):  # ('²'.isdigit() is True)
        raise UsageError(f"bad input shape {text!r}: expected dims separated by 'x', e.g. 1x3x224x224 "
                         f"or 1x16:int64")
    shape = tuple(int(d) for d in dims)
    if math.prod(shape) >= 2 ** 63:
        raise UsageError(f"bad input shape {text!r}: {math.prod(shape):,} elements is more than a tensor can hold")
    dtype = default_dtype or torch.float32
    if dtype_text:
        dtype = getattr(torch, dtype_text.strip(), None)
        if not isinstance(dtype, torch.dtype):
            raise UsageError(f"bad input dtype {dtype_text!r} in {text!r}: expected a torch dtype such as "
                             f"float32, float16, bfloat16, int64, int32, bool")
        try:  # quantized dtypes (and any other make_input cannot fill) fail here, before the model is built
            make_input((1,), dtype, "cpu")
        except (RuntimeError, NotImplementedError, TypeError) as exc:
            raise UsageError(f"bad input dtype {dtype_text!r} in {text!r}: torchcount cannot make a random "
                             f"input of it ({_one_line(exc, 80)}); give float inputs (a quantized model "
                             f"quantizes them itself), or a file.py:callable returning (model, inputs)") from None
    return shape, dtype


def parse_input_arg(text: str, default_dtype=None):
    """``"1x3x224x224"`` → ``(None, shape, dtype)``; ``"input_ids=1x16:int64"`` → a keyword input."""
    name, eq, rest = text.partition("=")
    if not eq:
        return (None, *parse_input(text, default_dtype))
    if not name.strip().isidentifier():
        raise UsageError(f"bad input {text!r}: a keyword input is NAME=SHAPE, e.g. input_ids=1x16:int64")
    return (name.strip(), *parse_input(rest, default_dtype))


def parse_dtype(text: str | None):
    """``--dtype``: a floating torch dtype name, or None."""
    import torch

    if text is None:
        return None
    dtype = getattr(torch, text.strip(), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise UsageError(f"bad --dtype {text!r}: expected a floating dtype such as float32, float16, bfloat16, "
                         f"float64")
    return dtype


def make_input(shape: tuple, dtype, device):
    """A tensor of ``shape``: normal random values for floating and complex dtypes, 0/1 for
    integers, False for bool. Seeded (0), so that the same command counts the same: a model may
    take another path for other values (Hugging Face skips the attention mask when it is all ones)."""
    import torch

    from .profile import random_tensor

    generator = None if str(device) == "meta" else torch.Generator(device=device).manual_seed(0)
    return random_tensor(shape, dtype, device, generator)


# ---- model resolution --------------------------------------------------------------------------
@dataclasses.dataclass
class Spec:
    text: str
    label: str
    factory: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    default_input: tuple | None = None  # a shape for builder names


def _split_call(text: str, what: str = "MODEL", example: str = "resnet18(num_classes=10)") -> tuple[str, tuple, dict]:
    """``"resnet18(num_classes=10)"`` → ``("resnet18", (), {"num_classes": 10})``; literals only.
    ``what`` and ``example`` name the option in errors."""
    m = re.fullmatch(r"\s*([^()]+?)\s*\((.*)\)\s*", text, flags=re.S)
    if not m:
        if text.count("(") != text.count(")"):
            raise UsageError(f"bad {what} {text!r}: unbalanced parentheses; e.g. {example}")
        return text.strip(), (), {}
    target, inner = m.group(1), m.group(2)
    try:
        call = ast.parse(f"f({inner})", mode="eval").body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "f"):
            raise ValueError("one call, f(...), with literal arguments")  # e.g. 'Linear(4, 5)(6, 7)'
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        if any(k is None for k in kwargs):
            raise ValueError("**kwargs")
    except (SyntaxError, ValueError) as exc:
        reason = exc
        if isinstance(exc, ValueError) and "malformed node" in str(exc):
            names = [n.id for n in ast.walk(call) if isinstance(n, ast.Name) and n.id != "f"]
            reason = f"{names[0]!r} is not a literal" if names else "not a literal"
        raise UsageError(f"bad arguments in {text!r}: only Python literals are allowed, e.g. "
                         f"{example} ({reason})") from None
    return target, args, kwargs


def parse_method(text: str) -> tuple[str, dict]:
    """``"generate(max_new_tokens=8)"`` → ``("generate", {"max_new_tokens": 8})``: a method name and
    literal keyword arguments (positional ones would be ambiguous beside the --input tensors)."""
    name, args, kwargs = _split_call(text, "--method", "generate(max_new_tokens=8)")
    if not name.isidentifier():
        raise UsageError(f"--method {text!r}: a method name, optionally with literal keyword arguments, "
                         "e.g. --method 'generate(max_new_tokens=8)'")
    if args:
        raise UsageError(f"--method {text!r}: give its arguments by keyword (the --input tensors come first), "
                         f"e.g. --method '{name}(max_new_tokens=8)'")
    return name, kwargs


def _builders() -> dict[str, tuple[str, Callable]]:
    """Builder name → (library, callable): torchvision first, then torchaudio."""
    names: dict[str, tuple[str, Callable]] = {}
    with contextlib.suppress(ImportError):
        import torchvision

        for n in torchvision.models.list_models():
            names[n] = ("torchvision", torchvision.models.get_model_builder(n))
    with contextlib.suppress(ImportError):
        import torchaudio.models as tam
        from torch import nn

        for n in dir(tam):
            obj = getattr(tam, n)
            if not n.startswith("_") and n not in names and (
                    inspect.isfunction(obj) or (inspect.isclass(obj) and issubclass(obj, nn.Module))):
                names[n] = ("torchaudio", obj)
    return names


_VIDEO = ("r3d_", "mc3_", "r2plus1d_", "s3d", "mvit_", "swin3d_")
_VIDEO_224 = ("s3d", "mvit_", "swin3d_")  # (their weights' crop; the others are trained at 112)


def _default_input(name: str, library: str) -> tuple | None:
    if library == "torchvision":
        if name.startswith(_VIDEO):
            return (1, 3, 16, 224, 224) if name.startswith(_VIDEO_224) else (1, 3, 16, 112, 112)
        if name.startswith("raft_"):
            return None  # two images
        if name == "inception_v3":
            return (1, 3, 299, 299)
        return (1, 3, 224, 224)
    if library == "torchaudio" and name.startswith(("wav2vec2", "hubert", "wavlm")):
        return (1, 16000)
    return None


def resolve(text: str) -> Spec:
    """Turn a MODEL argument into something that builds the model (no model built yet)."""
    target, args, kwargs = _split_call(text)
    if ":" in target and not re.fullmatch(r"[A-Za-z]:[\\/].*", target):
        where, _, attr = target.rpartition(":")
        if not where or not attr:
            raise UsageError(f"bad MODEL {text!r}: expected package.module:callable or path/file.py:callable")
        module = _import_file(where) if where.endswith(".py") or os.sep in where or "/" in where \
            else _import_module(where)
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]
                close = difflib.get_close_matches(part, names, n=4, cutoff=0.6)
                if close:
                    hint = f"; did you mean {', '.join(close)}?"
                else:  # what the file or module itself defines (not what it imported)
                    own = sorted(n for n in names if getattr(getattr(obj, n), "__module__", None) == module.__name__)
                    hint = f"; it defines: {', '.join(own[:12])}" if own else ""
                raise UsageError(f"{where} does not define {attr!r}{hint}")
            obj = getattr(obj, part)
        if not callable(obj):
            raise UsageError(f"{where}:{attr} is a {type(obj).__name__}, not a callable or nn.Module")
        return Spec(text, attr, obj, args, kwargs)
    builders = _builders()
    if target not in builders:
        close = difflib.get_close_matches(target, list(builders), n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else \
            "; see torchcount --list-models, or give package.module:callable or file.py:callable"
        if target.endswith(".py"):
            hint = f"; a file needs the callable that builds the model: {target}:name"
        raise UsageError(f"unknown model {target!r}{hint}")
    library, fn = builders[target]
    if library == "torchvision" and "weights_backbone" not in (kwargs or {}):
        try:
            takes_backbone = "weights_backbone" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            takes_backbone = False
        if takes_backbone:  # torchvision's detectors default to downloading ImageNet backbone weights
            kwargs = {**(kwargs or {}), "weights_backbone": None}
    return Spec(text, target, fn, args, kwargs, _default_input(target, library))


def _import_module(name: str):
    # `python -m torchcount` has the working directory on sys.path and the console script does
    # not: put it there, so that `torchcount mymodels:net` finds ./mymodels.py either way
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UsageError(f"cannot import module {name!r}: {exc}") from None
        raise ModelError(f"importing {name!r} failed: {type(exc).__name__}: {exc}") from exc
    except UsageError:
        raise
    except Exception as exc:
        raise ModelError(f"importing {name!r} failed: {type(exc).__name__}: {exc}") from exc


def _import_file(path_text: str):
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"no such file: {path_text}")
    name = "_torchcount_user_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path_text} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))  # the file's own imports of its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelError(f"running {path_text} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.pop(0)
    return module


def build(spec: Spec, device: str, dtype=None):
    """Build the model on ``device``; returns (model, inputs or None). On ``meta``, a builder
    that needs real tensors (regnets initialise from data) is built on the CPU and moved.
    A module the command did not build itself (a named instance, or one a callable returns
    from its module's globals) is counted as a copy on ``device``, never moved in place."""
    import torch
    from torch import nn

    def call():
        obj = spec.factory
        if isinstance(obj, nn.Module):
            if spec.args or spec.kwargs:
                raise UsageError(f"{spec.label} is a module instance; it takes no arguments")
            return obj
        try:
            inspect.signature(obj).bind(*spec.args, **spec.kwargs)
        except TypeError as exc:
            raise UsageError(f"{spec.label} cannot be called with "
                             f"{_call_text(spec.args, spec.kwargs)}: {exc}; give arguments as "
                             f"'{spec.label}(name=value)'") from None
        except ValueError:
            pass  # no signature (builtins): just call it
        return obj(*spec.args, **spec.kwargs)

    def attempt(where: str):
        with torch.device(where):
            return call()

    try:
        if isinstance(spec.factory, nn.Module):
            # An instance was made before the command ran, its weights wherever the user put them. It is
            # counted as any model is, on `device` (meta by default: shapes only, no memory) — but as a
            # copy: moving it, casting it (--dtype) or eval() would change the user's object in place
            # (to meta: its weights gone, for the CPU retry after a meta failure and for --compare).
            out = _to(call(), device, copy=True)
        elif device == "meta":
            try:
                built = attempt("meta")  # (a module the callable already held is still on its device)
            except (NotImplementedError, RuntimeError):
                built = attempt("cpu")
            out = _to(built, "meta", copy=_held(spec.factory, built))
        else:
            built = attempt("cpu")
            out = _to(built, device, copy=_held(spec.factory, built))
    except (UsageError, ModelError):
        raise
    except TypeError as exc:
        # a builder that takes **kwargs (torchvision's) passes a misspelt one on to a class that rejects it
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unexpected and unexpected.group(1) in spec.kwargs:
            raise UsageError(f"{spec.label} does not take {unexpected.group(1)!r}: {exc}") from None
        raise ModelError(f"building {spec.text} failed: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise ModelError(f"building {spec.text} failed: {type(exc).__name__}: {exc}") from exc
    inputs = None
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], nn.Module):
        out, inputs = out[0], _to(out[1], device)
    if not isinstance(out, nn.Module):
        raise UsageError(f"{spec.label} returned a {type(out).__name__}; expected an nn.Module or a "
                         f"(module, inputs) pair")
    if dtype is not None:
        out = out.to(dtype)
        inputs = _float_to(inputs, dtype)
    if isinstance(out, torch.fx.GraphModule):
        try:
            out.eval()
        except NotImplementedError:  # torch.export's module(): its graph fixed the mode when it was exported
            pass
        return out, inputs
    return out.eval(), inputs


def _held(factory, built) -> bool:
    """Whether the module a callable returned (alone or as a pair's first item) is one its module
    already held as a global: that one is the user's, to be counted as a copy (``.eval()``, a cast
    or a move would change it in place), not one the call built."""
    module = built[0] if isinstance(built, tuple) and built else built
    return any(value is module for value in getattr(factory, "__globals__", {}).values())


def _float_to(value, dtype):
    """Floating-point tensors anywhere in a nested structure, cast to ``dtype``."""
    import torch
    from torch.utils._pytree import tree_map_only

    return tree_map_only(torch.Tensor, lambda t: t.to(dtype) if t.is_floating_point() else t, value)


def _to(value, device: str, copy: bool = False):
    """Modules and tensors anywhere in a nested structure (a module, or a (module, inputs) pair), on
    ``device``. A module is never moved in place: one with a parameter or buffer elsewhere (or any,
    with ``copy``) is copied; the given one keeps its weights, device, dtype and mode."""
    import torch
    from torch import nn
    from torch.utils._pytree import tree_map_only

    def module_on(m: nn.Module) -> nn.Module:
        tensors = [*m.parameters(), *m.buffers()]
        if not copy and all(t.device == torch.device(device) for t in tensors):
            return m
        return _module_copy(m, tensors).to(device)

    return tree_map_only(torch.Tensor, lambda v: v.to(device), tree_map_only(nn.Module, module_on, value))


def _module_copy(module, tensors: list):
    """``module`` deep-copied, except that its parameters and buffers are new tensor objects sharing
    the originals' storage: the copy's ``.to(device)`` or ``.to(dtype)`` then changes the copy only,
    and costs what moving the module itself would (a module's own ``_apply``, e.g. an RNN's, still runs)."""
    import copy

    from torch import nn

    memo: dict = {}
    for t in tensors:  # (shared and tied ones once: deepcopy's memo keeps them tied in the copy)
        memo[id(t)] = nn.Parameter(t.detach(), t.requires_grad) if isinstance(t, nn.Parameter) else t.detach()
    return copy.deepcopy(module, memo)


def _call_text(args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})" if parts else "no arguments"


# ---- profiling ------------------------------------------------------------------------------
def _inputs_for(spec: Spec, given: list | None, from_callable: Any, device: str, dtype=None):
    """(inputs, keyword inputs) for ``profile``."""
    if given:
        tensors = tuple(make_input(shape, dtype, device) for name, shape, dtype in given if name is None)
        keywords = {name: make_input(shape, dtype, device) for name, shape, dtype in given if name is not None}
        if not tensors:
            return keywords, None
        return (tensors if len(tensors) > 1 else tensors[0]), (keywords or None)
    if from_callable is not None:
        return from_callable, None
    if spec.default_input is not None:
        return make_input(spec.default_input, dtype or _float32(), device), None
    example = "--input 1x3x224x224 --input 1x3x224x224 (two images)" if spec.label.startswith("raft_") \
        else "--input 1x3x224x224"
    raise UsageError(f"{spec.label} needs --input (e.g. {example}); there is no default input for it")


def _float32():
    import torch
    return torch.float32


def _profile(spec: Spec, args, device: str, measure_options: dict):
    from .profile import ForwardError

    try:
        return _profile_on(spec, args, device, measure_options)
    except ForwardError as exc:
        # a forward that needs real values (x.item(), data-dependent shapes) cannot run on meta;
        # when meta was our choice, not the user's, count on the CPU instead
        if device != "meta" or args.device is not None:
            raise
        if isinstance(exc.__cause__, TypeError):  # a Python call error (a wrong keyword): the same on any device
            raise
        if not _needs_real_values(exc):  # the model or its inputs are wrong; meta's words are terser than the CPU's
            raise ForwardError(f"{exc} (counted on the meta device, whose kernels say less: --device cpu shows "
                               f"PyTorch's own message)", exc.path, exc.input_shapes) from exc.__cause__
        _fail(f"note: {spec.label} could not run on the meta device ({_one_line(exc.__cause__ or exc, 160)}); "
              f"counting on the CPU instead")
        return _profile_on(spec, args, "cpu", measure_options)


def _profile_side(spec: Spec, side: str, args, device: str, measure_options: dict, comparing: bool):
    """``_profile``; with ``--compare``, a forward error says which of the two models failed (both may
    run the same ``--input``)."""
    from .profile import ForwardError

    try:
        return _profile(spec, args, device, dict(measure_options))
    except ForwardError as exc:
        if not comparing:
            raise
        which = f"model A ({spec.text})" if side == "A" else f"--compare model B ({spec.text})"
        raise ForwardError(f"{which}: {exc}", exc.path, exc.input_shapes) from exc


def _needs_real_values(exc: BaseException) -> bool:
    """The forward failed because the meta device has no values or no kernel for an op (x.item(),
    data-dependent shapes, an op without a meta/fake implementation such as quantized kernels),
    not because of the model or its inputs (those fail on the CPU alike)."""
    cause = exc.__cause__ or exc
    text = str(exc).lower()
    if "meta" in text and ("should be the same" in text or "expected" in text and "dtype" in text):
        return False  # a dtype mismatch (MetaComplexFloatType vs MetaFloatType): it fails on the CPU alike
    return any(phrase in text for phrase in (
        "cannot be called on meta tensors", "meta tensor", "on the meta device", "'meta' backend",
        "meta backend", "data-dependent", "fake impl", "fake tensor", "meta function", "meta kernel",
        "no meta", "meta implementation", "item()", "copy out of meta",
    )) or (isinstance(cause, NotImplementedError) and "could not run" in text)


def _profile_on(spec: Spec, args, device: str, measure_options: dict):
    from .profile import _check_keywords, _check_method, _unwrap, as_call, profile
    from .state import ParameterModifiedError

    model, from_callable = build(spec, device, args.dtype_parsed)
    inputs, keywords = _inputs_for(spec, args.input_parsed, from_callable, device, args.dtype_parsed)
    method, method_keywords = args.method_parsed
    clash = sorted(set(method_keywords) & (set(keywords or {}) | set(inputs if isinstance(inputs, dict) else {})))
    if clash:
        raise UsageError(f"{clash[0]} is given both as --input {clash[0]}=… and in --method")
    # as profile checks them (on a DataParallel's module), before any forward: a keyword the method's or
    # the forward's signature cannot take is the command line's mistake (exit 2), not the model's failure
    positional, given = as_call(inputs) if inputs is not None else ((), {})
    root = _unwrap(model)[0]
    if method is not None:
        try:
            _check_method(root, method, len(positional), method_keywords)
        except (AttributeError, TypeError, ValueError) as exc:
            raise UsageError(f"--method: {exc}") from None
    try:
        if method is not None:
            _check_method(root, method, len(positional), {**given, **(keywords or {})})
        elif given or keywords:
            _check_keywords(root.forward, f"{type(root).__name__}.forward()", len(positional),
                            {**given, **(keywords or {})})
    except TypeError as exc:
        raise UsageError(f"--input: {exc}") from None
    if method_keywords:
        keywords = {**(keywords or {}), **method_keywords}
    if device == "meta":
        _note_unchecked_dtypes(spec, model, (inputs, keywords))
    bar = measure_options.pop("_bar", None)
    counter = _PassCounter(bar, _expected_passes(measure_options), _unwrap(model)[0] if method else model, method) \
        if bar is not None else None
    options = dict(kwargs=keywords, convention=args.convention.lower(), name=spec.label + (f".{method}" if method
                   else ""), measure=args.measure, method=method, **measure_options)
    try:
        try:
            report = profile(model, inputs, **options)
        except ParameterModifiedError:
            # the model is the command's own (built here, or a copy of a named instance): a forward that
            # writes its parameters is counted all the same, with a copy to compare (the report's notes
            # name what it wrote), instead of an error about a caller's model there is none of
            report = profile(model, inputs, copy_params=True, **options)
    finally:
        if counter is not None:
            counter.close()
    if getattr(args, "receptive_field", False):
        from .analysis.receptive_field import receptive_field

        try:
            # one per model profiled: with --compare, B's used to replace A's
            args.receptive_field_texts = [*getattr(args, "receptive_field_texts", []),
                                          receptive_field(model, inputs, kwargs=keywords, annotate=False).table()]
        except ValueError as exc:  # no conv or pool layer: the analysis does not apply
            raise UsageError(f"--receptive-field: {exc}") from None
    return report


def _note_unchecked_dtypes(spec: Spec, model, inputs) -> None:
    """Meta tensors do not check that a layer's input and weights share a dtype: a float16 input
    to a float32 model is counted there, where a real device raises. Say so (the count itself is
    of what the model would do with matching dtypes)."""
    import torch
    from torch.utils._pytree import tree_leaves

    weights = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    given = sorted({str(t.dtype).removeprefix("torch.") for t in tree_leaves(inputs)
                    if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != weights})
    if weights is not None and given:
        _fail(f"note: {spec.label}: a floating input is {', '.join(given)} and its parameters are "
              f"{str(weights).removeprefix('torch.')}; the meta device does not check dtypes, so this is "
              f"counted, but on a real device such a forward usually fails (--dtype converts the model "
              f"and its inputs together)")


def _expected_passes(options: dict) -> int:
    """Forward passes of one measured profile: the counting pass, then (torchcount.measure) a plain
    and an instrumented pass per warmup and per repeat, and one memory pass."""
    defaults = {}
    with contextlib.suppress(ImportError, TypeError, ValueError):
        from .measure import measure
        defaults = {k: p.default for k, p in inspect.signature(measure).parameters.items()}
    warmup = options.get("warmup", defaults.get("warmup", 3))
    repeat = options.get("repeat", defaults.get("repeat", 10))
    return 1 + 2 * int(warmup) + 2 * int(repeat) + 1


class _PassCounter:
    """Counts forward passes of the root module (the hook only increments an int, so timed passes
    are not disturbed by terminal output) and redraws the bar from a thread every 0.2 s. With a
    profiled ``method``, a pass is one call of it (which may run the forward many times): the
    method is wrapped on the instance instead, and put back by :meth:`close`."""

    def __init__(self, bar: "ProgressBar", total: int, model, method: "str | None" = None):
        import threading

        self.bar, self.total, self.n = bar, total, 0
        self.model, self.method, self.handle = model, method, None
        if method is None:
            self.handle = model.register_forward_hook(self._hook)
        else:
            self.own = model.__dict__.get(method, _NOT_SET)  # (a method set on the instance, to put back)
            run = getattr(model, method)

            def counted(*args, **kwargs):
                self.n += 1
                return run(*args, **kwargs)

            counted.__wrapped__ = run  # (profile reads the method's signature through it)
            model.__dict__[method] = counted
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._draw, daemon=True)
        self.thread.start()

    def _hook(self, *_):
        self.n += 1

    def _draw(self):
        while not self.stop.wait(0.2):
            self.bar(min(self.n, self.total - 1), self.total, "measuring")

    def close(self):
        self.stop.set()
        self.thread.join()
        if self.handle is not None:
            self.handle.remove()
        elif self.own is _NOT_SET:
            del self.model.__dict__[self.method]
        else:
            self.model.__dict__[self.method] = self.own
        self.bar(self.total, self.total, "measuring")


_NOT_SET = object()


def _measure_options(args) -> dict:
    if not args.measure:
        if args.warmup is not None or args.repeat is not None or args.ceiling or args.energy:
            raise UsageError("--warmup, --repeat, --ceiling and --energy need --measure")
        return {}
    opts: dict[str, Any] = {}
    if args.device is not None:
        opts["device"] = args.device
    if args.warmup is not None:
        opts["warmup"] = args.warmup
    if args.repeat is not None:
        opts["repeat"] = args.repeat
    if args.ceiling:
        opts["ceiling"] = True
    if args.energy:
        opts["energy"] = True
    progress = _progress_bar()
    if progress is not None:  # a pass counter on the root module (measure's private option)
        opts["_bar"] = progress
    return opts


class ProgressBar:
    """``bar(done, total, label="")`` draws ``[#####.....] 5/10`` on a terminal's stderr."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.active = False

    def __call__(self, done: int, total: int, label: str = "") -> None:
        total = max(int(total), 1)
        filled = int(self.width * min(done, total) / total)
        self.stream.write(f"\r{label + ' ' if label else ''}[{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{done}/{total}")
        self.active = done < total
        if not self.active:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        if self.active:
            self.stream.write("\n")
            self.stream.flush()
            self.active = False


def _progress_bar() -> ProgressBar | None:
    """A progress bar only when stderr is a terminal (never in pipes, files or CI logs)."""
    try:
        return ProgressBar() if sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None


# ---- views ------------------------------------------------------------------------------------
TABLE_COLUMNS = {"#": "#", "index": "#", "module": "module", "path": "module", "type": "type",
                 "input": "input", "output": "output", "params": "params", "macs": "MACs", "ops": "ops",
                 "flops": "ops", "share": "share", "calls": "calls", "activation": "activation", "dtype": "dtype"}


def _columns(text: str | None, report, measured: bool = False) -> list[str] | None:
    presets = _column_presets()
    if text is None:
        return list(presets["measured"]) if measured and "measured" in presets else None
    extra = _extra_keys(report)
    if measured:  # a preset's columns are known even where no row has a value (peak_MiB off CUDA: blank)
        extra += [c for preset in presets.values() for c in preset if c not in extra and c not in TABLE_COLUMNS]
    cols = []
    for raw in (c.strip() for c in text.split(",")):
        if not raw:
            continue
        if raw.lower() in presets:  # a preset, alone or among other columns
            if raw.lower() == "measured" and not measured:
                raise UsageError("--columns measured needs --measure (the measured columns are empty without it)")
            cols += [c for c in presets[raw.lower()] if c not in cols]
            continue
        key = TABLE_COLUMNS.get(raw.lower()) or next((k for k in extra if k.lower() == raw.lower()), None)
        if key is None and not measured and raw.lower() in {c.lower() for c in presets["measured"]}:
            raise UsageError(f"--columns {raw} needs --measure (a measured column)")
        if key is None:
            raise UsageError(f"unknown column {raw!r}; columns are: "
                             f"{', '.join(['#', 'module', 'type', 'input', 'output', 'params', 'macs', 'ops', 'share', 'calls', 'activation', 'dtype'] + extra)}")
        cols.append(key)
    if not cols:
        raise UsageError("--columns is empty; e.g. --columns module,params,ops")
    return cols


def _column_presets() -> dict:
    try:
        from .report import COLUMN_PRESETS
    except ImportError:
        return {}
    return {k.lower(): v for k, v in COLUMN_PRESETS.items()}


def _extra_keys(report) -> list[str]:
    keys: list[str] = []
    for r in report.layers:
        for k in r.extra:
            if k not in keys:
                keys.append(str(k))
    return keys


def _sort_value(key: str, report, conv) -> Callable:
    k = key.lower()
    numeric = {"params": lambda r, own: r.shown_params(own),
               "macs": lambda r, own: r.shown_cost(own).macs,
               "ops": lambda r, own: conv.ops(r.shown_cost(own)),
               "flops": lambda r, own: conv.ops(r.shown_cost(own)),
               "calls": lambda r, own: r.calls,
               "activation": lambda r, own: r.shown_activation(own)}
    if k in numeric:
        def by_number(pair, value=numeric[k]):
            v = value(*pair)
            return (0, -v) if v is not None else (1, 0)  # (an activation not known: last)
        return by_number
    if k in ("module", "path", "name"):
        return lambda pair: (pair[0].path,)
    if k == "type":
        return lambda pair: (pair[0].type, pair[0].path)
    for extra in _extra_keys(report):
        if extra.lower() == k:
            def by_extra(pair, extra=extra):
                v = _number(pair[0].shown_extra(pair[1]).get(extra))  # a parent's own part: its self time
                return (0, -v) if v is not None else (1, 0)
            return by_extra
    if any(k == c.lower() for preset in _column_presets().values() for c in preset):
        raise UsageError(f"cannot sort by {key!r}: no row of this report has it"
                         + (" (peak_MiB is measured on CUDA only)" if k == "peak_mib" else " (it needs --measure)"))
    raise UsageError(f"cannot sort by {key!r}; use params, macs, ops, calls, activation, module, type"
                     + (f" or {', '.join(_extra_keys(report))}" if _extra_keys(report) else ""))


def _sort_label(key: str, report, conv) -> str:
    """The column ``--sort KEY`` sorted by, as the table heads it: ``-c macs --sort flops`` sorts by
    the convention's column, "MACs [macs]", not by FLOPs; ``--sort PARAMS`` by "params"."""
    k = key.lower()
    if k in ("ops", "flops"):
        return f"{conv.unit} [{conv.name}]"
    if k == "macs":
        return "MACs"
    return next((e for e in _extra_keys(report) if e.lower() == k), k)


def select_rows(report, depth: int | None, sort: str | None, top: int | None, conv):
    """A report whose table shows the rows at ``depth``, sorted, the first ``top`` of them.
    A parent shown for its own work keeps that meaning (named ``path (self)``). Totals are
    unchanged: the share column still relates each row to the whole model."""
    from .report import shown_rows

    if sort is None and top is None:
        return report, depth
    pairs = shown_rows(report, depth)  # the root's own work is a row of report.layers; depth 0: the root
    total_rows = len(pairs)
    pairs = sorted(pairs, key=_sort_value(sort or "ops", report, conv))
    if top is not None:
        pairs = pairs[:top]
    rows = []
    for row, own in pairs:
        if own:
            row = dataclasses.replace(row, path=f"{row.name} (self)", cost=row.self_cost, params=row.self_params,
                                      activation=row.self_activation, extra=row.shown_extra(True), self_extra=None)
        # sorted rows: no tree indentation, and their figures final (not worked out again by the tree)
        rows.append(dataclasses.replace(row, depth=1, called_from=(), tree_cost=None))
    shown = len(rows)
    view = dataclasses.replace(report, layers=rows, notes=list(report.notes))
    if top is not None and shown < total_rows:
        view.notes.append(f"showing the top {shown} of {total_rows} rows by {_sort_label(sort or 'ops', report, conv)}; "
                          f"the total is the whole model's")
    return view, None


def render(report, args, conv) -> str:
    from . import export

    if args.format == "json":
        return export.to_json(report, conv)
    if args.format == "csv":
        columns, rows = export.records(report, conv, args.depth)
        if args.sort or args.top:
            key = _csv_sort_key(args.sort or "ops", columns)
            rows = sorted(rows, key=key)[:args.top] if args.top else sorted(rows, key=key)
        return _csv_text(columns, rows)
    view, depth = select_rows(report, args.depth, args.sort, args.top, conv)
    columns = _columns(args.columns, report, measured=args.measure)
    if args.format == "markdown":
        return export.to_markdown(view, conv, depth, columns, args.units).rstrip("\n")
    return view.table(convention=conv, depth=depth, columns=columns, units=args.units)


def _csv_sort_key(key: str, columns: list[str]):
    k = {"module": "path", "name": "path", "flops": "ops"}.get(key.lower(), key.lower())
    col = next((c for c in columns if c.lower() == k), None)
    if col is None:
        raise UsageError(f"cannot sort by {key!r}; columns are {', '.join(columns)}")
    if col in ("path", "type", "input_shapes", "output_shapes", "part", "status", "rule", "convention",
               "input_dtypes", "output_dtypes"):
        return lambda r: str(r[col])
    return lambda r: (0, -_number(r[col])) if _number(r[col]) is not None else (1, 0)


def _number(value) -> "float | None":
    """A sortable number: an int or a float other than NaN; None otherwise (a blank, a word such as a bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # (NaN orders nothing)
        return None
    return value


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue().rstrip("\n")


def render_comparison(a, b, args, conv) -> str:
    from . import export
    from .analysis.compare import compare

    cmp = compare(a, b, convention=conv, depth=args.depth)
    if args.format == "json":
        doc = {"schema": "torchcount.comparison", "schema_version": export.SCHEMA_VERSION,
               "convention": conv.name, "a": export.to_dict(a, conv), "b": export.to_dict(b, conv),
               "reduction_percent": cmp.reduction}
        return json.dumps(doc, indent=2, ensure_ascii=False)
    if args.format == "csv":
        # partial: a side's figure leaves out work with no formula (the table's †), so a 0 is a lower bound
        incomplete = not (a.complete and b.complete)
        rows = [{"module": f"total {k}", "type_a": "", "a": l.a, "type_b": "", "b": l.b,
                 "difference": l.difference, "reduction_percent": l.reduction,
                 "partial": incomplete and k in ("MACs", "ops", "bytes")} for k, l in cmp.totals.items()]
        rows += [{"module": l.name, "type_a": l.type_a, "a": l.a, "type_b": l.type_b, "b": l.b,
                  "difference": l.difference, "reduction_percent": l.reduction, "partial": l.partial}
                 for l in cmp.layers]
        return _csv_text(list(rows[0]), rows)
    return cmp.table(tablefmt="github" if args.format == "markdown" else "simple")


def plot(report, path: str, conv, depth: int | None = None, top: int | None = None) -> str:
    """Per-layer chart through ``torchcount.analysis.plots.plot_layers`` (needs matplotlib)."""
    try:
        from .analysis.plots import plot_layers
    except ImportError as exc:
        raise UsageError(f"--plot needs torchcount.analysis.plots ({exc})") from None
    try:
        plot_layers(report, path, convention=conv, depth=depth, top=top)
    except ImportError as exc:
        raise UsageError(f"--plot needs matplotlib: pip install 'torchcount[plot]' ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"--plot {path}: {exc}") from None
    except OSError as exc:  # as --output: an unwritable place is the user's to fix
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# ---- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # × and — on a non-UTF-8 terminal
    try:
        return _run(argv)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        _fail(f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:  # `torchcount resnet50 | head`
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - every model error is one line
        if debug:
            traceback.print_exc()
        _fail(f"{_kind(exc)}: {_one_line(exc)}")
        return EXIT_MODEL


def _kind(exc: Exception) -> str:
    from .profile import ForwardError

    if isinstance(exc, ForwardError):
        return "model error"
    if isinstance(exc, ModelError):
        return "model error"
    return f"error ({type(exc).__name__}; rerun with --debug for the traceback)"


def _one_line(exc: BaseException, limit: int = 500) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2:] else cut) + " …"  # at a word, where there is one


def _fail(message: str) -> None:
    sys.stderr.write(f"torchcount: {_one_line(message, 800)}\n")
    sys.stderr.flush()


def _run(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    if args.list_models:
        print("\n".join(f"{lib:12} {name}" for name, (lib, _) in _builders().items()))
        return EXIT_OK
    if args.model is None:
        raise UsageError("MODEL is required, e.g. torchcount resnet50")

    from .conventions import CONVENTIONS, get_convention

    try:
        conv = get_convention(args.convention.lower())  # as --columns and --sort: any case
    except ValueError as exc:
        close = difflib.get_close_matches(args.convention.lower(), list(CONVENTIONS), n=2, cutoff=0.6)
        raise UsageError(str(exc) + (f"; did you mean {' or '.join(close)}?" if close else "")) from None
    args.dtype_parsed = parse_dtype(args.dtype)
    args.method_parsed = parse_method(args.method) if args.method is not None else (None, {})
    if args.method_parsed[0] == "forward":  # (the default: named and exported as a forward)
        args.method_parsed = (None, args.method_parsed[1])
    args.input_parsed = [parse_input_arg(t, args.dtype_parsed) for t in args.input] if args.input else None
    named = [name for name, _, _ in args.input_parsed or () if name is not None]
    twice = sorted({n for n in named if named.count(n) > 1})
    if twice:  # the second would replace the first, silently
        raise UsageError(f"--input {twice[0]}=… is given more than once")
    if args.sort is not None and args.format == "json":
        raise UsageError("--sort/--top apply to table, markdown and csv; JSON always holds every row")
    if args.top is not None and args.format == "json":
        raise UsageError("--sort/--top apply to table, markdown and csv; JSON always holds every row")
    if args.columns is not None and args.format in ("json", "csv"):
        raise UsageError("--columns applies to table and markdown; csv and json hold every column")
    if args.compare and (args.sort is not None or args.top is not None or args.columns is not None):
        raise UsageError("--sort, --top and --columns apply to one model's table; --compare prints totals and "
                         "per-layer lines of both (use --depth to choose the layers)")
    if args.compare and args.plot:  # (it drew model A alone, and said nothing of B)
        raise UsageError("--plot draws one model's layers; it cannot be combined with --compare (plot each "
                         "model on its own, or give both reports to torchcount.analysis.plots)")
    if args.receptive_field and args.method_parsed[0] is not None:
        raise UsageError("--receptive-field follows the forward's data flow; it cannot be combined with --method")
    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot {args.plot}: use a .png, .svg or .pdf file name")
    measure_options = _measure_options(args)
    device = args.device or ("cpu" if args.measure else "meta")
    if args.measure and device == "meta":
        raise UsageError("--measure needs a real device, e.g. --device cpu or --device cuda")
    if device != "meta":
        import torch

        try:
            # as torch names the device of a tensor made there ('cuda' → 'cuda:0', 'cpu:0' → 'cpu'), so
            # that a model already there is recognised as there and not copied
            device = str(torch.empty(0, device=device).device)
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"device {device!r} is not available here: {_one_line(exc, 200)}") from None
        if "device" in measure_options:
            measure_options["device"] = device

    spec = resolve(args.model)
    other = resolve(args.compare) if args.compare else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        progress = measure_options.get("_bar")
        try:
            report = _profile_side(spec, "A", args, device, measure_options, other is not None)
            other_report = _profile_side(other, "B", args, device, measure_options, True) if other else None
        finally:
            if progress is not None:
                progress.close()
    _relay(caught, args.debug)

    if other_report is not None:
        text = render_comparison(report, other_report, args, conv)
    else:
        text = render(report, args, conv)
    explanations = []
    # with --compare, each model that has the layer explains it, labelled (A's alone was explained)
    sides = [("A", args.model, report)] + ([("B", args.compare, other_report)] if other_report is not None else [])
    for path in args.explain or []:
        found, missing = [], None
        for side, name, rep in sides:
            try:
                text_of_side = rep.explain(path, convention=conv)
            except KeyError as exc:
                missing = missing or exc
                continue
            found.append((f"{side} = {name}: " if len(sides) > 1 else "") + text_of_side)
        if not found:
            raise UsageError(missing.args[0] if missing.args else str(missing)) from None
        explanations += found

    if args.output:
        try:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # as --plot does
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"torchcount: wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    # never mixed into machine-readable stdout
    stream = sys.stdout if (args.format == "table" or args.output) else sys.stderr
    for e in explanations:
        print("\n" + e, file=stream)
    rf_texts = getattr(args, "receptive_field_texts", [])
    for side, rf_text in zip("AB", rf_texts):
        label = f"{side} = {args.model if side == 'A' else args.compare}: " if len(rf_texts) > 1 else ""
        print("\n" + label + rf_text, file=stream)
    if args.plot:
        plot(report, args.plot, conv, args.depth, args.top)
        print(f"torchcount: wrote {args.plot}", file=sys.stderr)
    if args.strict:
        for rep in (report, other_report):
            if rep is not None and not rep.complete:
                _fail(f"error: --strict: {rep.model_name} coverage is {rep.coverage_text()}")
                return EXIT_MODEL
    return EXIT_OK


def _relay(caught: list, debug: bool) -> None:
    """Warnings as one short line each on stderr (the full text with --debug)."""
    seen = set()
    for w in caught:
        message = str(w.message)
        if message in seen:
            continue
        seen.add(message)
        if debug:
            sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
        elif issubclass(w.category, UserWarning) and "torchcount" in message:
            _fail(f"note: {message.removeprefix('torchcount: ')}")


if __name__ == "__main__":
    sys.exit(main())
