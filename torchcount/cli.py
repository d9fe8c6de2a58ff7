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
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import json
import logging
import math
import os
import pickle
import re
import sys
import traceback
import warnings
import zipfile
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
  model.pt2                         a program saved with torch.export.save: its own inputs
                                    when --input is not given
  model.pt                          a TorchScript module saved with torch.jit.save (frozen too);
                                    needs --input
  baseline.json                     a report saved with --format json: read, not run (shown,
                                    explained, compared with --compare, under any --convention)
The callable is called with no arguments (or the literal ones given) and returns an
nn.Module, or a (module, inputs) pair whose inputs are used when --input is not given.
An nn.Module instance or class may be named instead of a function.

MODEL is a saved program's file when it ends in .pt2, .pt, .pth, .ptl or .torchscript (or names an
existing zip archive); the archive's layout says which kind: models/*.json (an older torch's:
serialized_exported_program.json) for torch.export, code/ beside data.pkl for TorchScript. Any other
file, a state_dict or a model pickled with torch.save included, is a usage error saying what it
is: nothing in it is unpickled.

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
                        "package.module:callable, path/to/file.py:callable, or a saved program: model.pt2 "
                        "(torch.export.save) or model.pt (torch.jit.save), or a saved report: baseline.json (--format "
                        "json); see MODEL forms below")
    g = p.add_argument_group("inputs and device")
    g.add_argument("--input", "-i", action="append", metavar="SHAPE[:DTYPE]", default=None,
                   help="shape of one positional input, repeat for several; NAME=SHAPE for a keyword "
                        "input; e.g. --input 1x3x224x224, --input 1x16:int64, --input input_ids=1x16:int64")
    g.add_argument("--method", metavar="NAME[(KEYWORDS)]", default=None,
                   help="profile one call of this method of the model instead of its forward, with optional "
                        "literal keyword arguments, or of a function path/file.py:name (or package.module:name) "
                        "called as name(model, *inputs); e.g. --method 'generate(max_new_tokens=8, "
                        "do_sample=False)'")
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
    g.add_argument("--energy-layers", type=_pos_int, default=None, metavar="N",
                   help="also measure the energy of the N layers that take the most time, each replayed alone on a "
                        "copy of its inputs for at least a second against the same counter (column energy_mJ, per "
                        "forward); e.g. --measure --device cuda --energy --energy-layers 5")
    g = p.add_argument_group("what to show")
    g.add_argument("--convention", "-c", default="flops", metavar="NAME",
                   help="how operations are counted, any case (default flops): "
                        + "; ".join(f"{c.name} = {c.formula()}" for c in CONVENTIONS.values())
                        + " (docs/conventions.md says which to use for which exercise); e.g. --convention worksheet")
    g.add_argument("--depth", "-d", type=_nonneg_int, default=None, metavar="N",
                   help="show modules down to this depth, deeper ones rolled up; e.g. --depth 1")
    g.add_argument("--sort", metavar="COLUMN", default=None,
                   help="sort rows by params, macs, ops, bytes, calls, activation, steps, module, type or a measured "
                        "column, largest first; e.g. --sort ops")
    g.add_argument("--top", type=_pos_int, default=None, metavar="N",
                   help="show only the N largest rows (by --sort, default ops); e.g. --top 10")
    g.add_argument("--columns", metavar="LIST", default=None,
                   help="table columns, comma-separated, from #, module, type, input, output, params, "
                        "macs, ops, share, bytes, calls, activation, dtype, steps and measured columns, or a preset "
                        "(measured); e.g. --columns module,params,ops")
    g.add_argument("--units", action="store_true",
                   help="print 1.23 G instead of 1,234,567,890; e.g. --units")
    g.add_argument("--explain", action="append", metavar="PATH", default=None,
                   help="the worked formula of one layer, numbers substituted (repeatable); "
                        "e.g. --explain features.0")
    g.add_argument("--metric", default=None, metavar="NAME", type=str.lower,
                   choices=("ops", "flops", "macs", "params", "bytes", "time_ms"),
                   help="with --compare: what the per-layer (or, with --by-type, per-type) lines compare: ops "
                        "(default, the convention's), macs, params, bytes (moved) or time_ms (measured: both "
                        "models with --measure, or saved reports of --measure runs); e.g. --compare resnet18 "
                        "--measure --by-type --metric time_ms")
    g.add_argument("--by-type", action="store_true",
                   help="the rows summed by layer type instead of the per-layer table (Conv2d, BatchNorm2d, a "
                        "parent's own work as 'Type (self)'); with --measure, each type's time and share of the "
                        "forward beside its share of the work, sorted by time; --sort (ops, macs, bytes, params, calls, "
                        "layers, time_ms, type) and --top apply; e.g. torchcount mobilenet_v2 --by-type")
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
    g.add_argument("--roofline", metavar="FILE", default=None,
                   help="also save a roofline chart of the measured layers (needs --measure, or a saved report "
                        "of a --measure run; matplotlib): each at its arithmetic intensity and achieved FLOP/s "
                        "under the device's roofs, coloured by its bound; e.g. --measure --ceiling --roofline "
                        "roof.png")
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
    from .profile import random_tensor, seeded_generator

    return random_tensor(shape, dtype, device, seeded_generator(device))


def _make_given(given: list, device) -> tuple[tuple, dict]:
    """(positional, keyword) tensors for the ``--input`` options, drawn in their order from one generator
    seeded 0, as ``profile(input_size=[…])`` draws its list: the same shapes give the same values both ways,
    and two inputs of one shape differ (each was seeded on its own, so they were equal)."""
    from .profile import random_tensor, seeded_generator

    generator = seeded_generator(device)
    made = [(name, random_tensor(shape, dtype, device, generator)) for name, shape, dtype in given]
    return tuple(t for name, t in made if name is None), {name: t for name, t in made if name is not None}


# ---- model resolution --------------------------------------------------------------------------
@dataclasses.dataclass
class Spec:
    text: str
    label: str
    factory: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    default_input: tuple | None = None  # a shape for builder names
    saved: str | None = None  # "export" or "script": a program saved in a file, loaded, not built
    noted: bool = False  # (the note on inputs a program gave is shown once, also when meta falls back to the CPU)


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
        if any(k.arg is None for k in call.keywords):
            raise ValueError("**kwargs")
        # (Python's parser leaves a repeated keyword to the compiler: the last one was taken, silently)
        repeated = next((k.arg for i, k in enumerate(call.keywords) if k.arg in {j.arg for j in call.keywords[:i]}), None)
        if repeated is not None:
            raise UsageError(f"bad arguments in {what} {text!r}: keyword {repeated!r} is given more than once")
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError) as exc:
        # (a SyntaxError's own words, not its place in the text parsed here: '(<unknown>, line 1)')
        reason = exc.msg if isinstance(exc, SyntaxError) and exc.msg else exc
        if isinstance(exc, ValueError) and "malformed node" in str(exc):
            names = [n.id for n in ast.walk(call) if isinstance(n, ast.Name) and n.id != "f"]
            reason = f"{names[0]!r} is not a literal" if names else "not a literal"
        raise UsageError(f"bad arguments in {what} {text!r}: only Python literals are allowed, e.g. "
                         f"{example} ({reason})") from None
    return target, args, kwargs


def parse_method(text: str) -> tuple[str, dict]:
    """``"generate(max_new_tokens=8)"`` → ``("generate", {"max_new_tokens": 8})``: a method name and
    literal keyword arguments (positional ones would be ambiguous beside the --input tensors). A
    function, ``path/file.py:train_step`` or ``package.module:train_step``, is loaded (not called) and
    given as a :class:`~torchcount.capture.FunctionMethod`: called as ``train_step(model, *inputs)``."""
    name, args, kwargs = _split_call(text, "--method", "generate(max_new_tokens=8)")
    if _names_a_callable(name):
        from .capture import FunctionMethod

        try:
            function = _load_callable(name, "--method")
        except (UsageError, ModelError) as exc:  # (the loader's messages are MODEL's too: name the option)
            raise type(exc)(f"--method: {exc}") from exc
        if isinstance(function, type):
            raise UsageError(f"--method {name}: a class, not a function called as function(model, *inputs)")
        method = FunctionMethod(function)
    elif not name.isidentifier():
        raise UsageError(f"--method {text!r}: a method name, optionally with literal keyword arguments, "
                         "e.g. --method 'generate(max_new_tokens=8)', or a function, path/file.py:train_step")
    else:
        method = name
    if args:
        example = _keyword_example(method.function) if ":" in name else "max_new_tokens=8"
        raise UsageError(f"--method {text!r}: give its arguments by keyword (the --input tensors come first), "
                         f"e.g. --method '{name}({example})'")
    return method, kwargs


def _keyword_example(function) -> str:
    """``scale=...`` for a function with a keyword parameter ``scale`` (its first with a default)."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return "keyword=value"
    for p in params:
        if p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return f"{p.name}=..."
    return "keyword=value"


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
    if library == "torchaudio" and name.startswith(("wav2vec2", "hubert", "wavlm")) \
            and not name.startswith("hubert_pretrain"):  # (a pretraining model: its forward takes labels too)
        return (1, 16000)
    return None


def resolve(text: str, option: str = "MODEL") -> Spec:
    """Turn a MODEL argument into something that builds the model (no model built yet); ``option`` (MODEL or
    --compare) names the argument in errors of its call form."""
    if Path(text.strip()).suffix.lower() == ".json":  # a report saved with --format json: read, not run
        return _report_spec(text)
    if _names_a_saved_file(text):
        return _saved_spec(text)
    target, args, kwargs = _split_call(text, option)
    if _names_a_callable(target):
        obj = _load_callable(target, option, text)
        return Spec(text, target.rpartition(":")[2], obj, args, kwargs)
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


def _names_a_callable(target: str) -> bool:
    """``package.module:name`` or ``path/file.py:name``: a colon that is not only a Windows drive's
    (``C:\\models\\net.py`` is a path; ``C:\\models\\net.py:build`` names its callable)."""
    return ":" in target and not re.fullmatch(r"[A-Za-z]:[\\/][^:]*", target)


def _load_callable(target: str, option: str, text: "str | None" = None):
    """The callable ``package.module:name`` or ``path/file.py:name`` names (loaded, not called)."""
    where, _, attr = target.rpartition(":")
    if not where or not attr:
        raise UsageError(f"bad {option} {text or target!r}: expected package.module:callable or path/file.py:callable")
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
        kind = type(obj).__name__
        raise UsageError(f"{where}:{attr} is {'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}, not a callable"
                         + (" or nn.Module" if option in ("MODEL", "--compare") else ""))
    return obj


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


# ---- saved programs: torch.export (.pt2) and TorchScript files --------------------------------------
#: a MODEL with one of these suffixes is a saved program's file (and an error if there is no such file);
#: an existing file of another suffix is one too when it is a zip archive (yolov8n.torchscript)
SAVED_SUFFIXES = (".pt2", ".pt", ".pth", ".ptl", ".torchscript")
ACCEPTED = ("torchcount reads a program saved with torch.export.save (.pt2) or torch.jit.save (TorchScript), "
            "or builds the model from a builder name, package.module:callable or file.py:callable")


def _report_spec(text: str) -> Spec:
    """A Spec for a report saved with ``--format json`` (``torchcount.load_report``): its rows are
    shown, exported and compared as a fresh profile's; nothing is built or run."""
    from .export import load_report

    path = Path(text.strip())
    if path.is_dir():
        raise UsageError(f"{text} is a folder, not a file (a .json MODEL is a report saved with --format json)")
    if not path.is_file():
        raise UsageError(f"no such file: {text} (a .json MODEL is a report saved with --format json)")
    try:
        report = load_report(path)
    except (ValueError, TypeError, KeyError) as exc:
        what = f"not a torchcount report: field {exc.args[0]!r} missing" if isinstance(exc, KeyError) else str(exc)
        raise UsageError(f"{text}: {what}") from None
    return Spec(text, report.model_name, lambda: report, saved="report")


#: what running a model needs, meaningless for a saved report (read, not run)
_RUN_OPTIONS = (("input", "--input"), ("method", "--method"), ("dtype", "--dtype"), ("device", "--device"),
                ("measure", "--measure"), ("receptive_field", "--receptive-field"))


def _check_saved_reports(args, specs: list) -> None:
    """A saved report is read, not run: options that run a model apply only where one is run (the other
    side of --compare, --receptive-field included), and its convention is the one asked for (every
    category is in the file)."""
    reports = [spec for spec in specs if spec is not None and spec.saved == "report"]
    if not reports:
        return
    given = [flag for attr, flag in _RUN_OPTIONS if getattr(args, attr, None) not in (None, False, [])]
    if given and len(reports) == len([s for s in specs if s is not None]):
        raise UsageError(f"{', '.join(given)}: {reports[0].text} is a saved report (read, not run); "
                         f"{'these options apply' if len(given) > 1 else 'this option applies'} to a model")


def _names_a_saved_file(text: str) -> bool:
    path = Path(text.strip())
    if path.suffix.lower() in SAVED_SUFFIXES:
        return True
    try:
        return path.suffix.lower() != ".py" and path.is_file() and zipfile.is_zipfile(path)
    except OSError:  # (a name too long to be a file)
        return False


def _saved_spec(text: str) -> Spec:
    """A Spec for a saved program's file, its kind read from the file's zip layout: nothing in it is
    unpickled or run here, and a file that holds no program is a usage error saying what it is."""
    path = Path(text.strip())
    if path.is_dir():
        raise UsageError(f"{text} is a folder, not a saved program's file; {ACCEPTED}")
    if not path.is_file():
        raise UsageError(f"no such file: {text} ({ACCEPTED})")
    kind, what = _saved_kind(path)
    if kind == "pickle":  # (its description says what to give instead)
        raise UsageError(f"{text} is {what}")
    if kind not in ("export", "script"):
        raise UsageError(f"{text} is {what}; {ACCEPTED}")
    return Spec(text, path.name, _load_saved, saved=kind)  # (build() calls _load_saved itself)


def _saved_kind(path: Path) -> tuple[str, str]:
    """("export" | "script" | another kind, its description), from the names in the archive: torch.export.save
    writes ``<name>/models/<model>.json`` and ``<name>/archive_format`` (recent torch) or
    ``serialized_exported_program.json`` (torch 2.2 and other older ones); torch.jit.save ``<name>/code/…`` beside
    ``<name>/data.pkl``; torch.save ``<name>/data.pkl`` alone."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if not zipfile.is_zipfile(path):
            if not head:
                return "empty", "an empty file"
            if head[:1] == b"\x80":  # pickle's PROTO opcode
                return "pickle", ("a pickle (torch.save's legacy format or pickle.dump: tensors or objects, not a "
                                  "program; torchcount does not unpickle files, which can run code)")
            return "other", ("not a zip archive, so not a file torch.export.save or torch.jit.save writes "
                             "(truncated or corrupt?)")
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            # (the first folder is the archive's own name, whatever the file is called)
            inner = {n.split("/", 1)[1] for n in names if "/" in n} | set(names)
            if "serialized_exported_program.json" in inner or any(
                    n.startswith("models/") and n.endswith(".json") for n in inner):
                return "export", "a torch.export program"
            if "archive_format" in inner:
                return "package", ("a PT2 package without an exported program (an AOTInductor package holds "
                                   "compiled kernels, not a graph of layers: profile the program it was compiled "
                                   "from, saved with torch.export.save)")
            if "data.pkl" in inner and any(n.startswith("code/") for n in inner):
                return "script", "a TorchScript module"
            if "data.pkl" in inner:
                pickled = next(n for n in names if n == "data.pkl" or n.endswith("/data.pkl"))
                return "pickle", _torch_save_contents(archive.read(pickled))
            shown = ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
            return "zip", f"a zip archive of neither layout ({shown})"
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        return "unreadable", f"a file that cannot be read ({_one_line(exc, 120)})"


def _torch_save_contents(data: bytes) -> str:
    """What a torch.save file holds, from the classes its pickle names (read with pickletools: nothing is
    imported or run): only tensors and containers, or objects of a model's classes."""
    classes = _pickled_globals(data)
    plain = ("torch.", "collections.", "builtins.", "__builtin__.", "_codecs.", "copyreg.", "numpy.")
    objects = [c for c in classes if not c.startswith(plain) or c.startswith("torch.nn.")]
    if objects:
        shown = ", ".join(objects[:3]) + (" …" if len(objects) > 3 else "")
        return (f"a model pickled whole with torch.save(model) (of {shown}): torchcount does not unpickle files "
                f"(that runs the code they name); give a file.py:callable that returns the model (it may torch.load "
                f"this file itself), or save the model with torch.export.save or torch.jit.save")
    return ("a state_dict or checkpoint saved with torch.save (tensors by name, without the model's code): "
            "the model cannot be counted from its weights alone; give a file.py:callable that builds it "
            "(the weights are not needed to count it), or save the model with torch.export.save or torch.jit.save")


def _pickled_globals(data: bytes) -> list[str]:
    """``module.name`` of every class or function a pickle refers to (GLOBAL, and STACK_GLOBAL after the
    two strings it takes), in order, each once; a pickle that ends early gives what was read."""
    import pickletools

    found: list[str] = []
    pushed: list = []  # the strings (or None) last pushed, for STACK_GLOBAL
    memo: dict = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(pushed) >= 2 and None not in pushed[-2:]:
                found.append(f"{pushed[-2]}.{pushed[-1]}")
            elif "UNICODE" in op.name or op.name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
                pushed.append(str(arg))
            elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                pushed.append(memo.get(arg))
            elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = pushed[-1] if pushed else None
            elif op.name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            else:
                pushed.append(None)
    except (ValueError, EOFError):  # pragma: no cover - a truncated pickle
        pass
    return list(dict.fromkeys(found))


@contextlib.contextmanager
def _weights_only_loading():
    """torch.load inside torch.export.load made to use its weights-only unpickler (tensors and plain
    containers; no arbitrary objects): torch.export.load unpickles some entries with
    ``weights_only=False``, which can run code a file names. torch reads TORCH_FORCE_WEIGHTS_ONLY_LOAD on
    each call (torch ≥ 2.2). torch.export's own log lines (a traceback of the format it tried first) are
    held back: a file it cannot read is the one-line error the caller raises, with the exception torch
    logged where its own error only points to its log (the handler yielded keeps them)."""
    names = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    before = {name: os.environ.get(name) for name in names}
    loggers = [logging.getLogger(name) for name in ("torch.export", "torch._export")]
    levels = [(lg.level, lg.propagate, lg.handlers) for lg in loggers]
    held = _HeldExceptions()
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    for lg in loggers:  # (not shown, but kept: the reason torch's own error sends the reader to)
        lg.setLevel(logging.WARNING)
        lg.propagate = False
        lg.handlers = [held]
    try:
        yield held
    finally:
        for lg, (level, propagate, handlers) in zip(loggers, levels):
            lg.handlers = handlers
            lg.setLevel(level)
            lg.propagate = propagate
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _HeldExceptions(logging.Handler):
    """The exceptions torch.export logs while it loads a file (``log.warning(…, exc_info=True)``), before
    it raises an error that says only "Please check the warnings above"."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.exceptions: list = []

    def emit(self, record) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.exceptions.append(record.exc_info[1])

    def reason(self) -> "str | None":
        """The last logged exception, its innermost cause: ``NotImplementedError: …``."""
        if not self.exceptions:
            return None
        exc = self.exceptions[-1]
        while (exc.__cause__ or exc.__context__) is not None:
            exc = exc.__cause__ or exc.__context__
        return f"{type(exc).__name__}: {_one_line(exc, 200)}"


class _NotOnMeta(ModelError):
    """A saved program that cannot be put on the meta device (the command then loads it on the CPU)."""


def _load_saved(spec: Spec, device: str, dtype=None):
    """A saved program's module on ``device``, and (torch.export) the call it was exported for."""
    import torch

    if spec.saved == "script":
        try:
            model = torch.jit.load(spec.text.strip(), map_location=device)
        except Exception as exc:  # noqa: BLE001 - torch's reason, on one line
            if device == "meta":  # (a frozen module's constants do not load there: aten::equal has no meta kernel)
                raise _NotOnMeta(f"{spec.label} cannot be loaded on the meta device: {_one_line(exc, 160)}") from exc
            raise UsageError(f"cannot load {spec.text} as a TorchScript module: {_one_line(exc, 240)}") from None
        if dtype is not None:
            model = model.to(dtype)
        return model.eval(), None
    held = None
    try:
        with _weights_only_loading() as held:
            program = torch.export.load(spec.text.strip())
    except Exception as exc:  # noqa: BLE001
        why = _one_line(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)), 240)  # (torch's message has terminal bold)
        logged = held.reason() if held is not None else None
        if logged is not None and "check the warnings above" in why:  # (they are held back: say theirs)
            why = logged
        unregistered = re.search(r"Deserializing ([\w.]+) in pytree is not registered", why)
        if unregistered:
            where = unregistered.group(1).rpartition(".")[0]
            why += (f" (a class of the program's inputs or outputs, which its module registers with torch's "
                    f"pytree when it is imported: give a file.py:callable that imports {where} and returns "
                    f"the loaded program's module and its example inputs)")
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        # (bytes no pickle has: a damaged entry, which the weights-only unpickler words as its own refusal)
        damaged = None if refused else re.search(r"Unsupported operand \d+|String is too long|pickle data was "
                                                 r"truncated|invalid load key[^.\n]*|unsupported persistent id", str(exc))
        if damaged:
            why = f"a pickled entry of it is damaged ({damaged.group(0)}): the file was not loaded"
        elif refused or isinstance(exc, pickle.UnpicklingError) or "weights only load failed" in why.lower():
            why = ("it holds pickled objects other than tensors" + (f" ({refused.group(1)})" if refused else "")
                   + ", which torchcount does not unpickle (unpickling can run code the file names): the file "
                   "was not loaded")
        if "version" in why.lower():
            why += f" (this is torch {torch.__version__}; torch.export's file format changes between versions)"
        raise UsageError(f"cannot load {spec.text} as a torch.export program: {why}") from None
    call = _ProgramCall.of(program, spec.label)  # (on the CPU: the program as saved)
    try:
        module = _program_on(program, device)
    except Exception as exc:  # noqa: BLE001
        if device == "meta":
            raise _NotOnMeta(f"{spec.label} cannot be moved to the meta device: {_one_line(exc, 160)}") from exc
        raise ModelError(f"moving {spec.text} to {device} failed: {type(exc).__name__}: {_one_line(exc, 200)}") from exc
    call.flat = _takes_flat_inputs(module, call.in_spec)
    if dtype is not None:
        module = module.to(dtype)
        call = dataclasses.replace(call, args=_float_to(call.args, dtype), kwargs=_float_to(call.kwargs, dtype))
    # its module refuses .eval(): the graph fixed the mode when it was exported
    return module, dataclasses.replace(call, args=_to(call.args, device), kwargs=_to(call.kwargs, device))


def _program_on(program, device: str):
    """``program.module()`` with its weights, constants and the devices its graph names on ``device``:
    torch.export.passes.move_to_device_pass where torch has it, else the module's tensors moved
    (a device written into the graph, such as ``torch.ones(3, device="cpu")``, then stays)."""
    import torch

    try:
        from torch.export.passes import move_to_device_pass
    except ImportError:
        move_to_device_pass = None
    if move_to_device_pass is not None:
        return move_to_device_pass(program, device).module()
    module = program.module().to(device)
    for m in module.modules():  # (lifted constants: plain tensor attributes in some versions)
        for name, value in list(vars(m).items()):
            if isinstance(value, torch.Tensor) and value.device != torch.device(device):
                setattr(m, name, value.to(device))
    return module


@dataclasses.dataclass
class _ProgramCall:
    """The call a torch.export program was exported for: the inputs it keeps (``ep.example_inputs``,
    in recent torch) or ones made from its input placeholders' shapes and dtypes, how its module takes
    them, and what to tell the user about them."""
    args: tuple
    kwargs: dict
    in_spec: Any  # the pytree spec of (args, kwargs) the program was exported with
    flat: bool  # its module takes the flattened inputs positionally (torch 2.2's ep.module(): arg_0, arg_1, …)
    label: str
    source: str  # "its example inputs" or "its input placeholders' shapes"
    dynamic: list  # "input 1 dim 0", "ids dim 0": the dims the program leaves dynamic
    expected: list  # per leaf: (its label, dtype, the (lowest, highest or None) size of each dim), None if no tensor

    @classmethod
    def of(cls, program, label: str) -> "_ProgramCall":
        import torch
        from torch.utils._pytree import tree_unflatten

        in_spec = program.call_spec.in_spec
        values = {n.name: n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"}
        placeholders = []  # the fake value (a constant: its value) of each user input, in the order of in_spec's leaves
        for spec in program.graph_signature.input_specs:
            if spec.kind.name == "USER_INPUT":
                name = getattr(spec.arg, "name", None)  # (a ConstantArgument has none in torch 2.2)
                placeholders.append(values[name] if name in values else getattr(spec.arg, "value", None))
        leaf_labels = _leaf_labels(in_spec)
        dynamic = [f"{where} dim {i}" for where, val in zip(leaf_labels, placeholders)
                   if isinstance(val, torch.Tensor) for i, d in enumerate(val.shape) if not isinstance(d, int)]
        expected = [(where, val.dtype, [_size_range(d, program.range_constraints) for d in val.shape])
                    if isinstance(val, torch.Tensor) else None for where, val in zip(leaf_labels, placeholders)]
        example = getattr(program, "example_inputs", None)
        if example is not None:
            args, kwargs = example
            source = "its example inputs"
        else:
            leaves = [_placeholder_input(val, where, label) for where, val in zip(leaf_labels, placeholders)]
            args, kwargs = tree_unflatten(leaves, in_spec)
            source = "its input placeholders' shapes and dtypes (random values)"
        return cls(tuple(args), dict(kwargs), in_spec, False, label, source, dynamic, expected)

    def arrange(self, args: tuple, kwargs: dict, given: bool):
        """(inputs, keyword inputs) for profile: the call's structure checked against the program's (a
        mismatch is a usage error, before any forward, showing the --input the program takes)."""
        from torch.utils._pytree import tree_flatten

        args_spec, kwargs_spec = _spec_children(self.in_spec)
        positional = len(_spec_children(args_spec))
        keywords = list(kwargs_spec.context or [])
        if given:
            args, kwargs = self._kept(args, kwargs)
        if given and (len(args) != positional or sorted(kwargs) != sorted(keywords)):
            raise UsageError(f"--input: {self.label} was exported for {_input_flags(self.args, self.kwargs)}; "
                             f"--input gave {len(args)} positional input(s)"
                             + (f" and {', '.join(sorted(kwargs))}" if kwargs else ""))
        kwargs = {k: kwargs[k] for k in keywords}  # (in the program's order: pytree specs compare it)
        leaves, spec = tree_flatten((tuple(args), kwargs))
        if given and spec != self.in_spec:  # (a positional input that is a list or tuple of tensors)
            raise UsageError(f"--input: {self.label} was exported for {_input_flags(self.args, self.kwargs)}, "
                             f"which --input cannot give (an input that is a list or tuple); leave --input out "
                             f"to count it with the program's own inputs")
        if given:
            for leaf, expected in zip(leaves, self.expected):
                self._check_fits(leaf, expected)
        if self.flat:
            return tuple(leaves), None
        if not args:
            return kwargs, None
        return tuple(args), (kwargs or None)

    def _kept(self, args: tuple, kwargs: dict) -> tuple:
        """--input's tensors, with each input --input cannot give (not a tensor: a float, an int, None, which
        torch.export fixes in the graph; a 0-dim tensor) filled in with the value the program was exported
        with; a usage error for --input giving one of them."""
        held = [i for i, value in enumerate(self.args) if _kept_as_exported(value)]
        fixed = {k: v for k, v in self.kwargs.items() if _kept_as_exported(v)}
        given = [(name, fixed[name]) for name in kwargs if name in fixed]
        if held and len(args) == len(self.args):
            given.insert(0, (None, self.args[held[0]]))
        if given:
            name, value = given[0]
            what = _input_value(value, name) if name else f"input {held[0] + 1} = {_input_value(value)}"
            raise UsageError(f"--input: {self.label} was exported with {what}"
                             f"{'' if hasattr(value, 'dim') else ', not a tensor'}: --input cannot give it (leave "
                             f"it out: it keeps that value)")
        if held and len(args) == len(self.args) - len(held):
            rest = iter(args)
            args = tuple(self.args[i] if i in held else next(rest) for i in range(len(self.args)))
        return args, {**kwargs, **fixed}

    def _check_fits(self, tensor, expected) -> None:
        """A usage error for an --input tensor the program's shape constraints reject (a static dim of another
        size, a dynamic one out of its range, another dtype), before the forward checks it."""
        if expected is None or not hasattr(tensor, "shape"):
            return
        where, dtype, ranges = expected
        shape = tuple(tensor.shape)
        wrong = None
        if len(shape) != len(ranges):
            wrong = f"{len(ranges)} dims, not {len(shape)}"
        elif tensor.dtype != dtype and not (tensor.dtype.is_floating_point and dtype.is_floating_point):  # (--dtype)
            wrong = f"dtype {str(dtype).removeprefix('torch.')}, not {str(tensor.dtype).removeprefix('torch.')}"
        else:
            for i, (size, (lowest, highest)) in enumerate(zip(shape, ranges)):
                if lowest == highest and size != lowest:
                    wrong = f"dim {i} of size {lowest}, not {size}"
                elif size < lowest or (highest is not None and size > highest):
                    top = highest if highest is not None else "any size"
                    wrong = f"dim {i} (dynamic) from {lowest} to {top}, not {size}"
                if wrong:
                    break
        if wrong:
            text = "×".join(f"{lo}" if lo == hi else f"[{lo}..{'' if hi is None else hi}]" for lo, hi in ranges)
            raise UsageError(f"--input: {self.label} was exported for {where} of shape {text or '()'} "
                             f"{str(dtype).removeprefix('torch.')}: {wrong}")

    def note(self) -> str:
        text = f"{self.label}: no --input, so {self.source}: {_input_flags(self.args, self.kwargs)}"
        if self.dynamic:
            text += (f"; {', '.join(self.dynamic)} {'is' if len(self.dynamic) == 1 else 'are'} dynamic in the "
                     f"program, counted at the size it was exported with (--input counts another)")
        return text


def _spec_children(spec) -> list:
    """A pytree spec's child specs: ``children()`` where torch has it (2.11 deprecates the
    ``children_specs`` field), the field on older torch (2.2 has no method)."""
    children = getattr(type(spec), "children", None)
    return list(spec.children()) if callable(children) else list(spec.children_specs)


def _takes_flat_inputs(module, in_spec) -> bool:
    """Whether a program's module takes the flattened inputs positionally (torch 2.2: ``forward(arg_0,
    arg_1)``) rather than as the original call, keywords by name."""
    keywords = list(_spec_children(in_spec)[1].context or [])
    if not keywords:
        return False
    try:
        parameters = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    return not all(k in parameters for k in keywords) and not any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _leaf_labels(in_spec) -> list[str]:
    """A name for each input leaf of a program: ``input 1`` (``input 1[0]`` inside a list), ``ids``."""
    from torch.utils._pytree import tree_flatten, tree_unflatten

    marks = [object() for _ in range(in_spec.num_leaves)]
    args, kwargs = tree_unflatten(marks, in_spec)
    labels = {}
    for i, arg in enumerate(args):
        leaves, _ = tree_flatten(arg)
        for j, leaf in enumerate(leaves):
            labels[id(leaf)] = f"input {i + 1}" + (f"[{j}]" if len(leaves) > 1 else "")
    for name, arg in kwargs.items():
        leaves, _ = tree_flatten(arg)
        for j, leaf in enumerate(leaves):
            labels[id(leaf)] = name + (f"[{j}]" if len(leaves) > 1 else "")
    return [labels[id(m)] for m in marks]


def _placeholder_input(val, where: str, label: str):
    """An input like the one a placeholder's fake value describes (shape, dtype; a dynamic dim at its
    hint, the size it was exported with), on the CPU."""
    import torch

    if isinstance(val, torch.SymInt):
        val = _hint(val, f"{where}", label)
    if val is None or isinstance(val, (bool, int, float, str)):
        return val
    if not isinstance(val, torch.Tensor):
        raise UsageError(f"{label}: its input {where} is a {type(val).__name__}, which torchcount cannot make; "
                         f"give the inputs with --input")
    shape = tuple(d if isinstance(d, int) else _hint(d, f"{where} dim {i}", label) for i, d in enumerate(val.shape))
    return make_input(shape, val.dtype, "cpu")


def _size_range(size, ranges: dict) -> tuple:
    """(lowest, highest or None) a program allows for one dim: an int's own size; a dynamic dim's range from
    ``program.range_constraints`` (unbounded: None; a dim that is an expression of others: any size)."""
    if isinstance(size, int):
        return size, size
    found = ranges.get(getattr(getattr(size, "node", None), "expr", None))
    if found is None:
        return 0, None
    try:
        lowest = int(found.lower)
    except (TypeError, ValueError, OverflowError):
        lowest = 0
    try:
        highest = int(found.upper)
    except (TypeError, ValueError, OverflowError, AttributeError):  # (sympy's oo; torch's int_oo: AttributeError)
        highest = None
    return lowest, highest


def _hint(size, where: str, label: str) -> int:
    hint = getattr(getattr(size, "node", None), "hint", None)
    if hint is None:
        raise UsageError(f"{label}: its input {where} is dynamic and the program keeps no example size for it; "
                         f"give the inputs with --input")
    return int(hint)


def _kept_as_exported(value) -> bool:
    """Whether an input of a program is one --input cannot give, which the command keeps as the program was
    exported with: no tensor in it (a float, an int, None: torch.export fixes it in the graph), or a 0-dim
    tensor. (A list of tensors is neither: --input cannot give it, and its shapes may follow the others'.)"""
    import torch
    from torch.utils._pytree import tree_leaves

    if isinstance(value, torch.Tensor):
        return value.dim() == 0
    return not any(isinstance(leaf, torch.Tensor) for leaf in tree_leaves(value))


def _input_value(value, name=None) -> str:
    """``scale=float 2.0``, ``t=a 0-dim int64 tensor``, ``mask=None``: an input as the notes name it."""
    import torch

    prefix = f"{name}=" if name else ""
    if value is None:
        return f"{prefix}None"
    if isinstance(value, torch.Tensor):
        return f"{prefix}a {value.dim()}-dim {str(value.dtype).removeprefix('torch.')} tensor"
    return f"{prefix}{type(value).__name__} {_one_line(repr(value), 40)}"


def _input_flags(args: tuple, kwargs: dict) -> str:
    """The --input options that give these inputs: ``--input 2x3x8x8 --input ids=2x5:int64``; an input
    --input cannot give, in parentheses: ``(scale=float 2.0, not a tensor: kept as exported)``."""
    import torch

    def flag(value, name=None) -> str:
        prefix = f"{name}=" if name else ""
        if isinstance(value, torch.Tensor) and value.dim():
            dtype = "" if value.dtype == torch.float32 else ":" + str(value.dtype).removeprefix("torch.")
            return f"--input {prefix}{'x'.join(map(str, value.shape))}{dtype}"
        if _kept_as_exported(value):
            return f"({_input_value(value, name)}{'' if isinstance(value, torch.Tensor) else ', not a tensor'}: " \
                   f"kept as exported)"
        return f"({_input_value(value, name)}, which --input cannot give)"

    parts = [flag(a) for a in args] + [flag(v, k) for k, v in kwargs.items()]
    return " ".join(parts) if parts else "no inputs"


def build(spec: Spec, device: str, dtype=None):
    """Build the model on ``device``; returns (model, inputs or None). On ``meta``, a builder
    that needs real tensors (regnets initialise from data) is built on the CPU and moved.
    A module the command did not build itself (a named instance, or one a callable returns
    from its module's globals) is counted as a copy on ``device``, never moved in place."""
    import torch
    from torch import nn

    if spec.saved is not None:
        return _load_saved(spec, device, dtype)

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
def _inputs_for(spec: Spec, given: list | None, from_callable: Any, device: str, dtype=None, model=None,
                method=None):
    """(inputs, keyword inputs) for ``profile``."""
    if isinstance(from_callable, _ProgramCall):  # a torch.export program: --input, else the program's own
        if not given:
            if not spec.noted:
                spec.noted = True
                _fail(f"note: {from_callable.note()}")
            return from_callable.arrange(from_callable.args, from_callable.kwargs, given=False)
        return from_callable.arrange(*_make_given(given, device), given=True)
    if spec.saved == "script" and not given:
        raise UsageError(f"{spec.label} is a TorchScript module, which keeps no input shapes: give them with "
                         f"--input ({_script_takes(model)}), e.g. --input 1x3x224x224")
    if given:
        tensors, keywords = _make_given(given, device)
        if not tensors:
            return keywords, None
        return (tensors if len(tensors) > 1 else tensors[0]), (keywords or None)
    if from_callable is not None:
        return from_callable, None
    if spec.default_input is not None:
        return make_input(spec.default_input, dtype or _float32(), device), None
    if spec.label.startswith("raft_"):
        example = "e.g. --input 1x3x224x224 --input 1x3x224x224 (two images)"
    else:  # (an image's shape only for an image model: one SHAPE per input the call takes, as its signature says)
        takes = _takes(model, method) if model is not None else ""
        example = f"one SHAPE[:DTYPE] per input of {takes}" if takes else "e.g. --input 1x3x224x224"
    raise UsageError(f"{spec.label} needs --input ({example}); there is no default input for it")


def _takes(model, method=None) -> str:
    """``HuBERTPretrainModel.forward(waveforms, labels, audio_lengths=…)``: the call the inputs go to (the
    forward, the method profiled, or a function's parameters after the model), from its signature; ''
    where Python cannot read it."""
    from .capture import FunctionMethod

    skip = 0
    if isinstance(method, FunctionMethod):
        function, label, skip = method.function, getattr(method.function, "__name__", "the function"), 1
    else:
        name = method if isinstance(method, str) else "forward"
        function, label = getattr(model, name, None), f"{type(model).__name__}.{name}"
    try:
        parameters = list(inspect.signature(function).parameters.values())[skip:]
    except (TypeError, ValueError):
        return ""
    kinds = inspect.Parameter
    shown = [("*" if p.kind is kinds.VAR_POSITIONAL else "**" if p.kind is kinds.VAR_KEYWORD else "") + p.name
             + ("=…" if p.default is not p.empty else "") for p in parameters]
    return f"{label}({', '.join(shown)})"


def _script_takes(model) -> str:
    """``its forward takes x: Tensor, y: Tensor``, from a TorchScript module's schema."""
    try:
        arguments = model.forward.schema.arguments[1:]  # (the first is the module itself)
    except (AttributeError, RuntimeError):
        return "its forward's arguments are not known"
    return "its forward takes " + (", ".join(f"{a.name}: {a.type}" for a in arguments) or "no inputs")


def _check_script_keywords(model, label: str, positional: int, keywords: dict) -> None:
    """A ``TypeError`` for more positional inputs than a TorchScript forward's schema takes, a keyword it
    has no argument for, or one the positional inputs fill already (Python cannot read a ScriptMethod's
    signature)."""
    try:
        names = [a.name for a in model.forward.schema.arguments[1:]]
    except (AttributeError, RuntimeError):
        return
    if positional > len(names):
        takes = _script_takes(model).removeprefix("its forward takes ")
        raise TypeError(f"{label}'s forward takes {len(names)} input(s) ({takes}), not {positional}")
    for keyword in keywords:
        if keyword not in names:
            close = difflib.get_close_matches(keyword, names[positional:], n=1, cutoff=0.6)
            raise TypeError(f"{label}'s forward takes no keyword argument {keyword!r} (it takes "
                            f"{', '.join(names[positional:]) or 'none'}"
                            + (f"; did you mean {close[0]}?" if close else "") + ")")
        if names.index(keyword) < positional:
            raise TypeError(f"{label}'s forward is given {keyword!r} twice: as its input number "
                            f"{names.index(keyword) + 1} and as a keyword")


def _float32():
    import torch
    return torch.float32


def _profile(spec: Spec, args, device: str, measure_options: dict):
    from .profile import ForwardError, needs_real_values, uncounted_message

    if spec.saved == "report":  # read from its file when resolved
        report = spec.factory()
        if report.uncounted:  # (as profile warns when it makes a partial report)
            _fail(f"note: {uncounted_message(report, report.model_name, ' when it was saved')}")
        return report
    try:
        return _profile_on(spec, args, device, measure_options)
    except _NotOnMeta as exc:  # a saved program that cannot be put on meta: loaded on the CPU instead
        if args.device is not None:
            raise ModelError(f"{exc}; --device cpu counts it on the CPU") from exc
        _fail(f"note: {exc}; counting on the CPU instead")
        return _profile_on(spec, args, "cpu", measure_options)
    except ForwardError as exc:
        # a forward that needs real values (x.item(), data-dependent shapes) cannot run on meta;
        # when meta was our choice, not the user's, count on the CPU instead
        if device != "meta" or args.device is not None:
            raise
        if isinstance(exc.__cause__, TypeError):  # a Python call error (a wrong keyword): the same on any device
            raise
        if spec.saved is not None:
            # a saved program ran where it was saved: a failure on meta is likely meta's (a device its graph
            # names, an op without a meta kernel); if the CPU fails too, its error is the one shown
            report = _profile_on(spec, args, "cpu", measure_options)
            _fail(f"note: {spec.label} could not run on the meta device ({_one_line(exc.reason or exc.__cause__ or exc, 160)}); "
                  f"counted on the CPU instead")
            return report
        if not needs_real_values(exc):  # the model or its inputs are wrong; meta's words are terser than the CPU's
            raise ForwardError(f"{exc} (counted on the meta device, whose kernels say less: --device cpu shows "
                               f"PyTorch's own message)", exc.path, exc.input_shapes, exc.reason) from exc.__cause__
        _fail(f"note: {spec.label} could not run on the meta device ({_one_line(exc.reason or exc.__cause__ or exc, 160)}); "
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
        raise ForwardError(f"{which}: {exc}", exc.path, exc.input_shapes, exc.reason) from exc


def _profile_on(spec: Spec, args, device: str, measure_options: dict):
    from .capture import FunctionMethod
    from .profile import TooManyInputs, _check_keywords, _check_method, _check_positional, _unwrap, as_call, profile
    from .state import ParameterModifiedError

    if spec.saved == "script" and not args.input_parsed:
        device = "cpu"  # (only to name its arguments in the usage error: it loads there, without a note on meta)
    model, from_callable = build(spec, device, args.dtype_parsed)
    method, method_keywords = args.method_parsed
    inputs, keywords = _inputs_for(spec, args.input_parsed, from_callable, device, args.dtype_parsed, model, method)
    clash = sorted(set(method_keywords) & (set(keywords or {}) | set(inputs if isinstance(inputs, dict) else {})))
    if clash:
        raise UsageError(f"{clash[0]} is given both as --input {clash[0]}=… and in --method")
    # as profile checks them (on a DataParallel's module), before any forward: a keyword the method's or
    # the forward's signature cannot take is the command line's mistake (exit 2), not the model's failure
    positional, given = as_call(inputs) if inputs is not None else ((), {})
    root = _unwrap(model)[0]
    try:
        if method is not None:
            _check_method(root, method, len(positional), method_keywords)
        elif method_keywords:  # --method 'forward(k=v)': the forward's keywords, checked as another method's are
            if spec.saved == "script":
                _check_script_keywords(root, spec.label, len(positional), method_keywords)
            else:
                _check_keywords(root.forward, f"{type(root).__name__}.forward()", len(positional),
                                method_keywords, "method='forward': ")
    except (AttributeError, TypeError, ValueError) as exc:  # (more --input tensors than the method takes: theirs)
        raise UsageError(f"{'--input' if isinstance(exc, TooManyInputs) else '--method'}: {exc}") from None
    try:
        if method is not None:
            _check_method(root, method, len(positional), {**given, **(keywords or {})})
        elif spec.saved == "script":
            _check_script_keywords(root, spec.label, len(positional), {**given, **(keywords or {})})
        else:
            _check_positional(root.forward, f"{type(root).__name__}.forward()", len(positional))
            if given or keywords:
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
    if counter is not None and isinstance(method, FunctionMethod):
        method = counter.counted_function
    label = (f"{method}({spec.label})" if isinstance(method, FunctionMethod) else f"{spec.label}.{method}") \
        if method else spec.label
    options = dict(kwargs=keywords, convention=args.convention.lower(), name=label, measure=args.measure,
                   method=method, **measure_options)
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
                                          receptive_field(model, inputs, kwargs=keywords, annotate=False,
                                                          name=options["name"]).table()]
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
    and an instrumented pass per warmup and per repeat, the pass that probes the per-call floor, and
    one memory pass."""
    defaults = {}
    with contextlib.suppress(ImportError, TypeError, ValueError):
        from .measure import measure
        defaults = {k: p.default for k, p in inspect.signature(measure).parameters.items()}
    warmup = options.get("warmup", defaults.get("warmup", 3))
    repeat = options.get("repeat", defaults.get("repeat", 10))
    return 1 + 2 * int(warmup) + 2 * int(repeat) + 1 + 1


class _PassCounter:
    """Counts forward passes of the root module (the hook only increments an int, so timed passes
    are not disturbed by terminal output) and redraws the bar from a thread every 0.2 s. With a
    profiled ``method``, a pass is one call of it (which may run the forward many times): the
    method is wrapped on the instance instead, and put back by :meth:`close`."""

    def __init__(self, bar: "ProgressBar", total: int, model, method: "str | None" = None):
        import threading

        from .capture import FunctionMethod

        self.bar, self.total, self.n = bar, total, 0
        self.model, self.method, self.handle = model, method, None
        if method is None:
            self.handle = model.register_forward_hook(self._hook)
        elif isinstance(method, FunctionMethod):  # a function: counted where it is called, nothing to put back
            function = method.function

            def counted_call(*args, **kwargs):
                self.n += 1
                return function(*args, **kwargs)

            counted_call.__wrapped__ = function  # (its signature, and what it holds, are the function's)
            self.counted_function = type(method)(counted_call, str(method))
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
        elif hasattr(self, "counted_function"):
            pass
        elif self.own is _NOT_SET:
            del self.model.__dict__[self.method]
        else:
            self.model.__dict__[self.method] = self.own
        self.bar(self.total, self.total, "measuring")


_NOT_SET = object()


def _measure_options(args) -> dict:
    if not args.measure:
        if args.warmup is not None or args.repeat is not None or args.ceiling or args.energy or args.energy_layers:
            raise UsageError("--warmup, --repeat, --ceiling, --energy and --energy-layers need --measure")
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
    if args.energy_layers:
        opts["energy_layers"] = args.energy_layers
    progress = _progress_bar()
    if progress is not None:  # a pass counter on the root module (taken out before profile is called)
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
                 "flops": "ops", "share": "share", "bytes": "bytes", "calls": "calls", "activation": "activation",
                 "dtype": "dtype"}


def _columns(text: str | None, report, measured: bool = False) -> list[str] | None:
    presets = _column_presets()
    if text is None:  # the report's own default: the measured preset for a measured report
        return None
    extra = _extra_keys(report)
    if measured:  # a preset's columns are known even where no row has a value (peak_MiB off CUDA: blank)
        extra += [c for preset in presets.values() for c in preset if c not in extra and c not in TABLE_COLUMNS]
    cols = []
    for raw in (c.strip() for c in text.split(",")):
        if not raw:
            continue
        if raw.lower() in presets:  # a preset, alone or among other columns
            if raw.lower() == "measured" and not measured:
                raise UsageError("--columns measured needs --measure, or a report saved from a --measure run (the "
                                 "measured columns are empty without it)")
            cols += [c for c in presets[raw.lower()] if c not in cols]
            continue
        key = TABLE_COLUMNS.get(raw.lower()) or next((k for k in extra if k.lower() == raw.lower()), None)
        if key is None and not measured and raw.lower() in {c.lower() for c in presets["measured"]}:
            raise UsageError(f"--columns {raw} needs --measure, or a report saved from a --measure run (a measured column)")
        if key is None:
            raise UsageError(f"unknown column {raw!r}; columns are: "
                             f"{', '.join(['#', 'module', 'type', 'input', 'output', 'params', 'macs', 'ops', 'share', 'bytes', 'calls', 'activation', 'dtype'] + extra)}")
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
               "bytes": lambda r, own: r.shown_cost(own).bytes,
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
    if k in ("share", "#"):  # (columns of the measured preset too, but no measurement: they said "it needs --measure")
        raise UsageError(f"cannot sort by {key!r}: " + (
            "it is each row's share of the total ops, so --sort ops gives its order" if k == "share"
            else "it is the rows' order without --sort"))
    if any(k == c.lower() for preset in _column_presets().values() for c in preset):
        raise UsageError(f"cannot sort by {key!r}: no row of this report has it"
                         + (" (peak_MiB is measured on CUDA only)" if k == "peak_mib"
                            else " (it needs --measure, or a report saved from a --measure run)"))
    raise UsageError(f"cannot sort by {key!r}; use params, macs, ops, bytes, calls, activation, module, type"
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
        # sorted rows: their figures final (not worked out again by the tree)
        rows.append(dataclasses.replace(row, called_from=(), tree_cost=None))
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
    # (a measured report read from its file is shown as the --measure run that saved it: the measured columns)
    measured = args.measure or any("time_ms" in r.extra for r in report.layers)
    columns = _columns(args.columns, report, measured=measured)
    if args.format == "markdown":
        return export.to_markdown(view, conv, depth, columns, args.units).rstrip("\n")
    return view.table(convention=conv, depth=depth, columns=columns, units=args.units)


def render_by_type(report, args, conv) -> str:
    try:
        breakdown = report.by_type(conv, sort=args.sort, top=args.top)
    except ValueError as exc:  # (a --sort it has no column for)
        raise UsageError(str(exc).replace("by_type sorts by", "--by-type sorts by")
                         .replace("needs profile(..., measure=True)", "needs --measure")) from None
    if args.format == "json":
        return json.dumps(breakdown.to_dict(), indent=2)
    if args.format == "csv":
        return breakdown.to_csv().rstrip("\n")
    if args.format == "markdown":
        return breakdown.to_markdown(args.units).rstrip("\n")
    return breakdown.table(units=args.units)


def _csv_sort_key(key: str, columns: list[str]):
    k = {"module": "path", "name": "path", "flops": "ops"}.get(key.lower(), key.lower())
    if k == "bytes" and {"bytes_read", "bytes_written"} <= set(columns):  # (the table's bytes column: both)
        return lambda r: (0, -(r["bytes_read"] + r["bytes_written"]))
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
    from .export import csv_text
    return csv_text(columns, rows).rstrip("\n")


def render_comparison(a, b, args, conv) -> str:
    from . import export
    from .analysis.compare import compare

    by_type = getattr(args, "by_type", False)
    metric = {"macs": "MACs", "flops": "ops"}.get(args.metric, args.metric or "ops")  # (flops: as --sort names ops)
    try:
        cmp = compare(a, b, convention=conv, depth=args.depth, by="type" if by_type else "path", metric=metric)
    except ValueError as exc:  # (time_ms of a side that was not measured)
        raise UsageError(str(exc).replace("compare: metric='time_ms'", "--metric time_ms")
                         .replace("(profile(..., measure=True))", "(add --measure)")) from None
    # partial: a side's figure leaves out work with no formula (the table's †), so a 0 is a lower bound;
    # summed by type, a line names a type (no type columns)
    if by_type:
        totals = [{"type": f"total {k}", "a": l.a, "b": l.b, "difference": l.difference,
                   "reduction_percent": l.reduction, "partial": l.partial} for k, l in cmp.totals.items()]
        layers = [{"type": l.name, "a": l.a, "b": l.b, "difference": l.difference,
                   "reduction_percent": l.reduction, "partial": l.partial} for l in cmp.layers]
    else:
        totals = [{"module": f"total {k}", "type_a": "", "a": l.a, "type_b": "", "b": l.b,
                   "difference": l.difference, "reduction_percent": l.reduction,
                   "partial": l.partial} for k, l in cmp.totals.items()]
        layers = [{"module": l.name, "type_a": l.type_a, "a": l.a, "type_b": l.type_b, "b": l.b,
                   "difference": l.difference, "reduction_percent": l.reduction, "partial": l.partial}
                  for l in cmp.layers]
        if args.format == "json":  # (each line's module depth, as a report row's; the CSV's columns are as they were)
            layers = [{**line, "depth": l.depth} for line, l in zip(layers, cmp.layers)]
    if args.format == "json":
        # (the totals and per-layer lines of the table and the CSV too: the two reports alone left
        # the layer matching, the partial flags and --depth to be worked out again)
        doc = {"schema": "torchcount.comparison", "schema_version": export.SCHEMA_VERSION,
               "convention": conv.name, "a": export.to_dict(a, conv), "b": export.to_dict(b, conv),
               "reduction_percent": cmp.reduction, "totals": totals, "layers": layers,
               "by": cmp.by, "metric": cmp.metric, "depth": cmp.depth}
        return json.dumps(export.jsonable(doc), indent=2, ensure_ascii=False, allow_nan=False)
    if args.format == "csv":  # (each line says its convention, as a report's CSV does: "total ops" is its count)
        # (the totals' lines say what they are; the layers' figures are the metric's)
        rows = [{**r, "convention": conv.name, "metric": ""} for r in totals] + \
            [{**r, "convention": conv.name, "metric": cmp.metric} for r in layers]
        return _csv_text(list(rows[0]), rows)
    return cmp.table(tablefmt="github" if args.format == "markdown" else "simple", units=args.units)


def roofline(report, path: str, depth: int | None = None) -> str:
    """The measured layers on a roofline, through ``torchcount.analysis.plots.plot_roofline``."""
    try:
        from .analysis.plots import plot_roofline
    except ImportError as exc:
        raise UsageError(f"--roofline needs torchcount.analysis.plots ({exc})") from None
    try:
        plot_roofline(report, path, depth=depth)
    except ImportError as exc:
        raise UsageError(f"--roofline needs matplotlib: pip install 'torchcount[plot]' ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"--roofline {path}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def plot(report, path: str, conv, depth: int | None = None, top: int | None = None, sort: str | None = None,
         by_type: bool = False) -> str:
    """Per-layer chart through ``torchcount.analysis.plots.plot_layers`` (needs matplotlib): the
    rows of the table, also where ``--sort`` chose them by another column than the operations; with
    ``--by-type``, the layer types of its table."""
    try:
        from .analysis.plots import plot_layers
    except ImportError as exc:
        raise UsageError(f"--plot needs torchcount.analysis.plots ({exc})") from None
    rows = None
    if by_type and (sort is not None or top is not None):  # (the groups the --by-type table shows, in its order)
        rows, top = [g.name for g in report.by_type(conv, sort=sort, top=top).shown], None
    elif sort is not None:  # (the table's rows in its order; --top alone: by ops, as plot_layers' own top= picks)
        view, _ = select_rows(report, depth, sort, top, conv)
        rows, top = [r.path if r.path.endswith(" (self)") else r.name for r in view.layers], None
    try:
        plot_layers(report, path, convention=conv, depth=depth, top=top, rows=rows,
                    by="type" if by_type else "path")
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
    if args.method_parsed[0] == "forward" and type(args.method_parsed[0]) is str:  # (the default: named and
        # exported as a forward; a function named forward is a function)
        args.method_parsed = (None, args.method_parsed[1])
    args.input_parsed = [parse_input_arg(t, args.dtype_parsed) for t in args.input] if args.input else None
    named = [name for name, _, _ in args.input_parsed or () if name is not None]
    twice = sorted({n for n in named if named.count(n) > 1})
    if twice:  # the second would replace the first, silently
        raise UsageError(f"--input {twice[0]}=… is given more than once")
    if args.sort is not None and not args.sort.strip():  # (the table sorted by ops, the CSV not at all)
        raise UsageError("--sort is empty; e.g. --sort params")
    if (args.sort is not None or args.top is not None) and args.format == "json" and not args.by_type:
        raise UsageError("--sort/--top apply to table, markdown and csv (and --by-type's JSON); JSON always "
                         "holds every row")
    if args.columns is not None and args.format in ("json", "csv"):
        raise UsageError("--columns applies to table and markdown; csv and json hold every column")
    if args.units and args.format in ("json", "csv"):
        raise UsageError("--units applies to table and markdown; csv and json hold exact integers")
    if args.compare and (args.sort is not None or args.top is not None or args.columns is not None):
        given = "/".join(o for o, v in (("--sort", args.sort), ("--top", args.top), ("--columns", args.columns))
                         if v is not None)
        raise UsageError(f"{given} applies to one model's table; --compare prints totals and "
                         + ("every layer type of both models (--by-type)" if args.by_type else
                            "per-layer lines of both (use --depth to choose the layers)"))
    if args.metric is not None and not args.compare:
        raise UsageError("--metric chooses what --compare's per-layer lines compare; give --compare OTHER_MODEL")
    if args.compare and args.plot:  # (it drew model A alone, and said nothing of B)
        raise UsageError("--plot draws one model's layers; it cannot be combined with --compare (plot each "
                         "model on its own, or give both reports to torchcount.analysis.plots)")
    if args.by_type and (args.depth is not None or args.columns is not None):
        raise UsageError("--by-type sums every row by layer type: it cannot be combined with "
                         + ("--depth" if args.depth is not None else "--columns"))
    if args.receptive_field and args.method_parsed[0] is not None:
        raise UsageError("--receptive-field follows the forward's data flow; it cannot be combined with --method")
    for option, path in (("--output", args.output), ("--plot", args.plot), ("--roofline", args.roofline)):
        if path is not None and not path.strip():  # (an empty name was taken as none given: stdout, no plot)
            raise UsageError(f"{option} is empty; give a file name, e.g. {option} "
                             + ("report.txt" if option == "--output" else "layers.png"))
    for option, path in (("--plot", args.plot), ("--roofline", args.roofline)):
        if path and Path(path).suffix.lower() not in (".png", ".svg", ".pdf"):
            raise UsageError(f"{option} {path}: use a .png, .svg or .pdf file name")
    if args.compare and args.roofline:
        raise UsageError("--roofline draws one model's measured layers; it cannot be combined with --compare")
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
    other = resolve(args.compare, "--compare") if args.compare else None
    _check_saved_reports(args, [spec, other])
    from .analysis.compare import _time_ms

    if args.metric == "time_ms":  # (a saved report is read already: whether it was measured is known now)
        unmeasured = [f"{side} = {s.text}" for side, s in (("A", spec), ("B", other))
                      if s.saved == "report" and _time_ms(s.factory()) is None]
        if unmeasured:
            raise UsageError(f"--metric time_ms compares measured times; the saved report"
                             f"{'s' if len(unmeasured) > 1 else ''} {' and '.join(unmeasured)} "
                             f"{'were' if len(unmeasured) > 1 else 'was'} not measured (save one of a --measure run)")
    if args.metric == "time_ms" and not args.measure and not (spec.saved == "report" and other.saved == "report"):
        raise UsageError("--metric time_ms compares measured times: add --measure (a saved report of a --measure "
                         "run is measured already)")
    if args.roofline and not args.measure and spec.saved != "report":
        raise UsageError("--roofline needs measured layers: add --measure (and --ceiling on a CPU, for its roofs)")
    if args.roofline and spec.saved == "report" and _time_ms(spec.factory()) is None:
        # (known now, as for --metric time_ms: it printed the whole table, or wrote --output, before failing)
        raise UsageError(f"--roofline needs measured layers; the saved report {spec.text} was not measured "
                         "(save one of a --measure run)")
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
    elif args.by_type:
        text = render_by_type(report, args, conv)
    else:
        text = render(report, args, conv)
    explanations = []
    # with --compare, each model that has the layer explains it, labelled (A's alone was explained)
    sides = [("A", args.model, report)] + ([("B", args.compare, other_report)] if other_report is not None else [])
    for path in args.explain or []:
        found, missing = [], []
        for side, name, rep in sides:
            try:  # (with --by-type, PATH names a layer type: its figures as the sum of its layers')
                text_of_side = rep.by_type(conv).explain(path) if args.by_type else rep.explain(path, convention=conv)
            except KeyError as exc:
                missing.append((f"{side}: " if len(sides) > 1 else "") + (exc.args[0] if exc.args else str(exc)))
                continue
            found.append((f"{side} = {name}: " if len(sides) > 1 else "") + text_of_side)
        if not found:  # (each side's names: with --compare, B's are as valid as A's)
            raise UsageError(f"--explain {path!r}: " + "; ".join(missing)) from None
        explanations += found

    rf_texts = getattr(args, "receptive_field_texts", [])
    # (one per model run: a saved report's side has none, so the other's is labelled with its side)
    run_sides = [(side, name) for side, name, s in (("A", args.model, spec), ("B", args.compare, other))
                 if s is not None and s.saved != "report"]
    extras = [*explanations, *((f"{side} = {name}: " if other is not None else "") + rf_text
                               for (side, name), rf_text in zip(run_sides, rf_texts))]
    if args.output:
        # a table's file holds what the command would print (its explanations too); a CSV/JSON/Markdown
        # file holds that format only, the rest going to the free stdout
        body = text + "".join("\n\n" + x for x in extras) if args.format == "table" else text
        try:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # as --plot does
            Path(args.output).write_text(body + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"torchcount: wrote {args.output}", file=sys.stderr)
        if args.format != "table":
            for x in extras:
                print("\n" + x)
    else:
        print(text)
        for x in extras:  # (never mixed into machine-readable stdout)
            print("\n" + x, file=sys.stdout if args.format == "table" else sys.stderr)
    if args.plot:
        plot(report, args.plot, conv, args.depth, args.top, args.sort, args.by_type)
        print(f"torchcount: wrote {args.plot}", file=sys.stderr)
    if args.roofline:
        roofline(report, args.roofline, args.depth)
        print(f"torchcount: wrote {args.roofline}", file=sys.stderr)
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
