"""The ``torchcount`` command in process: exit codes and the exact words of errors that no other test pinned
(each found by a mutant of cli.py that every other test let through)."""
import io
import sys
import warnings

import pytest
import torch
from torch import nn

from torchcount import cli


def main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_no_arguments_print_the_help_on_stderr_and_exit_2(capsys):
    """`torchcount` alone is a usage error (exit 2, as argparse's own), not a model that failed (1):
    the help goes to stderr, nothing to stdout."""
    code, out, err = main(capsys)
    assert code == cli.EXIT_USAGE == 2
    assert out == "" and err.startswith("usage: torchcount") and "MODEL" in err


def test_measure_on_the_meta_device_is_a_usage_error(capsys):
    """--measure --device meta asks for times of a device that computes nothing: exit 2, before any work."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--device", "meta")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: --measure needs a real device, e.g. --device cpu or --device cuda\n"


@pytest.mark.parametrize("text", ["1a=2x8", " =2x8", "a-b=2x8"])
def test_a_keyword_input_whose_name_is_no_identifier_is_a_usage_error(capsys, text):
    """NAME=SHAPE needs a Python name before the '=': exit 2 (the option is wrong), not 1 (the model failed)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", text)
    assert (code, out) == (2, "")
    assert err == (f"torchcount: error: bad input {text!r}: a keyword input is NAME=SHAPE, "
                   "e.g. input_ids=1x16:int64\n")


@pytest.mark.parametrize("model, reason", [
    ("torch.nn:Linear(4, 5)(6, 7)", "(one call, f(...), with literal arguments)"),  # a call of a call
    ('resnet18(**{"num_classes": 3})', "(**kwargs)"),
    ("resnet18(num_classes=n)", "('n' is not a literal)"),
    ("resnet18(num_classes=[1, x])", "('x' is not a literal)"),
])
def test_arguments_that_are_not_one_call_of_literals_say_why(capsys, model, reason):
    """MODEL's arguments are literals of one call; the error's parenthesis says what is wrong with them:
    a second call, ** unpacking, or the first name that is not a literal."""
    code, out, err = main(capsys, model, "--input", "2x6")
    assert (code, out) == (2, "")
    assert err.startswith(f"torchcount: error: bad arguments in MODEL {model!r}: only Python literals are "
                          "allowed, e.g. resnet18(num_classes=10) ")
    assert err.endswith(f" {reason}\n") and err.count("\n") == 1


def test_a_model_name_close_to_many_builders_suggests_four(capsys):
    """'resnet' is close to resnet18/34/50/101/152 (and more): the error names four of them, each a builder
    --list-models lists, and exits 2."""
    code, out, err = main(capsys, "resnet")
    assert (code, out) == (2, "")
    head, _, names = err.rstrip("\n").partition("; did you mean ")
    assert head == "torchcount: error: unknown model 'resnet'" and names.endswith("?")
    names = names[:-1].split(", ")
    assert len(names) == 4 and all(n.startswith("resnet") for n in names), names
    assert set(names) <= set(cli._builders())


@pytest.mark.parametrize("args, option", [
    (["torch.nn:"], "MODEL"), ([":Linear"], "MODEL"),
    (["torch.nn:Linear(4, 4)", "--input", "2x4", "--compare", "torch.nn:"], "--compare"),
])
def test_a_callable_form_missing_its_module_or_its_name_is_a_usage_error(capsys, args, option):
    """'torch.nn:' and ':Linear' name no callable: exit 2 (what was typed is wrong), not 1; the error names
    the argument that is wrong (--compare's said 'bad MODEL', MODEL itself being fine)."""
    code, out, err = main(capsys, *args)
    bad = args[-1]
    assert (code, out) == (2, "")
    assert err == f"torchcount: error: bad {option} {bad!r}: expected package.module:callable or path/file.py:callable\n"


def test_compares_arguments_that_are_no_literals_name_compare(capsys):
    """The call form's errors of --compare name --compare, as MODEL's name MODEL."""
    code, out, err = main(capsys, "torch.nn:Linear(4, 4)", "--input", "2x4", "--compare", "torch.nn:Linear(4, x)")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: bad arguments in --compare 'torch.nn:Linear(4, x)': only Python literals are "
                   "allowed, e.g. resnet18(num_classes=10) ('x' is not a literal)\n")
    code, out, err = main(capsys, "torch.nn:Linear(4, 4)", "--input", "2x4", "--compare", "torch:float32")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: torch:float32 is a dtype, not a callable or nn.Module\n"


def test_receptive_field_with_a_method_is_a_usage_error(capsys):
    """--receptive-field follows forward's data flow: with --method (any name but forward) it exits 2 before
    building anything."""
    code, out, err = main(capsys, "torch.nn:Linear(4, 4)", "--input", "2x4", "--receptive-field", "--method", "foo")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --receptive-field follows the forward's data flow; it cannot be combined "
                   "with --method\n")


def test_csv_sort_and_top_choose_the_rows(capsys, tmp_path):
    """Embedding(100, 4) → Linear(4, 3) on 2×5 token ids: the Embedding holds 400 params and does no
    arithmetic, the Linear 4·3 + 3 = 15 params and 2·5·4·3 = 120 MACs + 2·5·3 = 30 bias adds = 270 FLOPs.
    So --sort params --top 1 keeps the Embedding, --top 1 alone (by ops) the Linear, --sort type both in
    the order Embedding, Linear."""
    f = tmp_path / "net.py"
    f.write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Embedding(100, 4), nn.Linear(4, 3))\n")
    import csv
    import io

    def rows(*options):
        code, out, err = main(capsys, f"{f}:net", "--input", "2x5:int64", "--format", "csv", *options)
        assert code == 0, err
        return [(r["path"], r["type"], r["params"], r["ops"]) for r in csv.DictReader(io.StringIO(out))]

    assert rows("--sort", "params", "--top", "1") == [("0", "Embedding", "400", "0")]
    assert rows("--top", "1") == [("1", "Linear", "15", "270")]
    assert rows("--sort", "type") == [("0", "Embedding", "400", "0"), ("1", "Linear", "15", "270")]
    assert rows("--sort", "PARAMS") == rows("--sort", "params")


@pytest.mark.parametrize("options", [["--top", "1"], ["--sort", "params"], ["--sort", "params", "--top", "1"]])
def test_json_with_sort_or_top_is_a_usage_error(capsys, options):
    """JSON holds every row: --sort or --top alone with it is refused as both together are (exit 2)."""
    code, out, err = main(capsys, "torch.nn:Linear(4, 4)", "--input", "2x4", "--format", "json", *options)
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --sort/--top apply to table, markdown and csv (and --by-type's JSON); "
                   "JSON always holds every row\n")


def test_a_name_close_to_many_of_a_modules_callables_suggests_four(capsys):
    """'MaxPool' is close to MaxPool1d/2d/3d and MaxUnpool1d/2d/3d: the error names four of those six and
    exits 2."""
    code, out, err = main(capsys, "torch.nn:MaxPool", "--input", "1x2x4")
    assert (code, out) == (2, "")
    head, _, names = err.rstrip("\n").partition("; did you mean ")
    assert head == "torchcount: error: torch.nn does not define 'MaxPool'" and names.endswith("?")
    names = names[:-1].split(", ")
    assert len(names) == 4 and set(names) <= {f"Max{k}{d}d" for k in ("Pool", "Unpool") for d in (1, 2, 3)}, names


class _ClosedPipe(io.TextIOBase):
    """stdout of `torchcount ... | head -1` once head has exited."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_output_pipe_ends_quietly_with_exit_0(capsys, monkeypatch):
    """`torchcount resnet50 | head`: the reader stopping is no error (exit 0, nothing on stderr)."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8"])
    assert code == cli.EXIT_OK == 0
    assert capsys.readouterr().err == ""


_NAMED = """from collections import OrderedDict
from torch import nn

def net():
    return nn.Sequential(OrderedDict([("act", nn.ReLU()), ("fc", nn.Linear(4, 8)), ("tanh", nn.Tanh()),
                                      ("out", nn.Linear(8, 2))]))
"""


@pytest.mark.parametrize("key, order", [
    ("type", ["fc", "out", "act", "tanh"]),          # Linear, Linear (by path), ReLU, Tanh
    ("TYPE", ["fc", "out", "act", "tanh"]),
    ("module", ["act", "fc", "out", "tanh"]),        # by path, alphabetically
    ("name", ["act", "fc", "out", "tanh"]),
    ("path", ["act", "fc", "out", "tanh"]),
    ("ops", ["fc", "out", "tanh", "act"]),           # 216, 102, 24, 12 FLOPs
])
def test_the_table_sorted_by_type_or_module(capsys, tmp_path, key, order):
    """ReLU → Linear(4, 8) → Tanh → Linear(8, 2) on 3×4, the modules named act, fc, tanh, out: FLOPs
    act 3·4 = 12 comparisons, fc 3·4·8 = 96 MACs·2 + 24 bias adds = 216, tanh 3·8 = 24, out 3·8·2 = 48 MACs·2 + 6
    = 102. --sort type orders by type then path, --sort module/name/path by path, --sort ops largest first."""
    f = tmp_path / "named.py"
    f.write_text(_NAMED)
    code, out, err = main(capsys, f"{f}:net", "--input", "3x4", "--sort", key, "--columns", "module,type,ops")
    assert code == 0, err
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("--------")) + 1
    rows = [line.split() for line in lines[start:start + 4]]
    assert [r[0] for r in rows] == order
    ops = {"act": "12", "fc": "216", "tanh": "24", "out": "102"}
    assert all(r[2] == ops[r[0]] for r in rows), rows


class _TwoFloats(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 2)

    def forward(self, x, offset: float, scale: float = 1.0):
        return self.l(x) * scale + offset


def test_a_saved_program_names_its_first_fixed_positional_input_before_a_fixed_keyword(capsys, tmp_path):
    """A program exported with (x, 1.0) and scale=2.0 (both fixed in its graph): --input giving both the
    second positional input and scale= is refused (exit 2) naming the positional one, input 2 = 1.0, as
    --input's inputs are read in order."""
    path = tmp_path / "two.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(_TwoFloats().eval(), (torch.randn(2, 4), 1.0), {"scale": 2.0})
        torch.export.save(program, str(path))
        try:
            torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001  (torch 2.2: 'NoneType' object has no attribute 'name')
            pytest.skip(f"torch {torch.__version__} cannot load the program it saved with a float input: {exc}")
    code, out, err = main(capsys, path, "--input", "2x4", "--input", "3", "--input", "scale=1")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --input: two.pt2 was exported with input 2 = float 1.0, not a tensor: "
                   "--input cannot give it (leave it out: it keeps that value)\n")
    code, out, err = main(capsys, path, "--input", "2x4", "--input", "scale=1")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --input: two.pt2 was exported with scale=float 2.0, not a tensor: "
                   "--input cannot give it (leave it out: it keeps that value)\n")


@pytest.mark.parametrize("args, says", [
    # a file's callable after a Windows drive: the file is looked for (and not found here), not a builder
    ([r"C:\models\net.py:build"], r"no such file: C:\models\net.py"),
    # a drive path alone is a path: no callable named
    ([r"C:\models\net.py"], r"unknown model 'C:\\models\\net.py'; a file needs the callable that builds the "
                            r"model: C:\models\net.py:name"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--method", r"D:/steps/step.py:sgd"],
     "--method: no such file: D:/steps/step.py"),
    (["torch.nn:Linear(8, 4)", "--input", "2x8", "--method", r"D:/steps/step.py"],
     "--method 'D:/steps/step.py': a method name, optionally with literal keyword arguments"),
])
def test_a_windows_drive_colon_is_not_the_callables_colon(capsys, args, says):
    """`C:\\models\\net.py:build` names the callable `build` of the file `C:\\models\\net.py`: the drive's
    colon is part of the path, the last colon separates the callable. (It was read as a builder name,
    'unknown model', because the drive-path test matched any text after the drive, colons included.)"""
    code, out, err = main(capsys, *args)
    assert (code, out) == (2, "")
    assert err.startswith("torchcount: error: " + says)


@pytest.mark.parametrize("option, value, says", [
    ("--top", "abc", "argument --top: expected a positive integer, got 'abc'"),
    ("--warmup", "1.5", "argument --warmup: expected a non-negative integer, got '1.5'"),
    ("--dtype", "floaty", "bad --dtype 'floaty': expected a floating dtype such as float32, float16, bfloat16, "
                          "float64"),
])
def test_an_option_value_that_is_no_number_or_dtype_says_so(capsys, option, value, says):
    """A word where a count or a dtype goes: the option's own one-line error, exit 2 (argparse's generic
    'invalid value' if the check compared the unparsed None; an AttributeError, exit 1, for --dtype)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", option, value)
    assert (code, out) == (2, "")
    assert err.startswith("torchcount: error: " + says)


@pytest.mark.parametrize("signature, example", [
    ("model, x, k=1, /, scale=2.0", "scale=..."),  # a positional-only default cannot be given by keyword
    ("model, x, *, scale=2.0, **extra", "scale=..."),
    ("model, x", "keyword=value"),  # no keyword parameter: a placeholder
])
def test_a_method_function_given_positional_arguments_suggests_its_first_keyword(capsys, tmp_path, signature,
                                                                                 example):
    """--method file.py:step(3): positional arguments would sit beside the --input tensors, so they are
    refused, and the example names the function's first parameter that can be given by keyword."""
    source = tmp_path / "steps.py"
    source.write_text(f"def step({signature}):\n    return model(x)\n")
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--method", f"{source}:step(3)")
    assert (code, out) == (2, "")
    assert err == (f"torchcount: error: --method '{source}:step(3)': give its arguments by keyword (the --input "
                   f"tensors come first), e.g. --method '{source}:step({example})'\n")


def test_an_input_of_two_to_the_63_elements_is_refused_and_one_fewer_is_not():
    """A tensor's element count is a signed 64-bit integer: 2·2⁶² = 2⁶³ elements cannot be held (a usage
    error naming the count), 2⁶³ − 1 = 1·(2⁶³ − 1) can be described (its shape is parsed)."""
    with pytest.raises(cli.UsageError) as caught:
        cli.parse_input(f"2x{2 ** 62}")
    assert str(caught.value) == (f"bad input shape '2x{2 ** 62}': 9,223,372,036,854,775,808 elements is more "
                                 f"than a tensor can hold")
    assert cli.parse_input(f"1x{2 ** 63 - 1}") == ((1, 2 ** 63 - 1), torch.float32)


def test_a_method_function_without_a_signature_suggests_a_placeholder_keyword(capsys):
    """math.hypot has no signature Python can read (a builtin): the example is the placeholder
    'keyword=value', since no parameter name is known."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--method", "math:hypot(3)")
    assert (code, out) == (2, "")
    assert err.endswith("e.g. --method 'math:hypot(keyword=value)'\n")


def test_an_unknown_column_of_a_measured_run_lists_each_column_once(capsys):
    """--measure --columns bogus: the error lists the table's columns, then the report's own (its rows'
    extras: steps and the measured ones), then the measured preset's columns no row holds (peak_MiB,
    measured on CUDA only), each once: the preset's '#', 'module', 'type', 'ops' and 'share' are the
    table's, not listed again."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--measure", "--warmup", "0",
                          "--repeat", "1", "--columns", "bogus")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: unknown column 'bogus'; columns are: #, module, type, input, output, params, "
                   "macs, ops, share, bytes, calls, activation, dtype, steps, time_ms, self_ms, spread_ms, time%, GFLOP/s, "
                   "%peak, AI, bound, act_MiB, param_MiB, peak_MiB\n")


def test_the_measured_preset_without_a_measurement_says_what_it_needs(capsys):
    """--columns measured on a counted run: the measured columns would be empty, so it is a usage error
    saying what gives them, word for word."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--columns", "measured")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --columns measured needs --measure, or a report saved from a --measure run "
                   "(the measured columns are empty without it)\n")


SORT_NET = """\
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, 1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.head(self.act(self.act(self.norm(x))))


def net():
    return Net()
"""


@pytest.mark.parametrize("key, row, label", [
    ("macs", "head", "MACs"),  # Linear(64, 1): 64 MACs; LayerNorm and ReLU have none
    ("ops", "norm", "FLOPs [flops]"),  # LayerNorm(64): no MAC, several ops per element, above the Linear's 129
    ("calls", "act", "calls"),  # the ReLU is called twice, the others once
])
def test_the_top_row_by_macs_ops_or_calls_is_the_one_the_model_makes_largest(capsys, tmp_path, key, row, label):
    """--sort KEY --top 1 on LayerNorm(64) → ReLU twice → Linear(64, 1): each key picks another layer,
    readable from the model, and the note names the column sorted by."""
    source = tmp_path / "sortnet.py"
    source.write_text(SORT_NET)
    code, out, err = main(capsys, f"{source}:net", "--input", "1x64", "--sort", key, "--top", "1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("---"))
    assert lines[head + 1].split()[1] == row and lines[head + 2].split()[0] == "total"
    assert f"showing the top 1 of 3 rows by {label}; the total is the whole model's" in lines


@pytest.mark.parametrize("args, says", [
    (["--sort", "#"], "cannot sort by '#': it is the rows' order without --sort"),
    (["--sort", "bogus"], "cannot sort by 'bogus'; use params, macs, ops, bytes, calls, activation, module, type or steps"),
    (["--columns", " , "], "--columns is empty; e.g. --columns module,params,ops"),
    (["--columns", "module,bogus"], "unknown column 'bogus'; columns are: #, module, type, input, output, params, "
                                    "macs, ops, share, bytes, calls, activation, dtype, steps"),
    (["--measure", "--warmup", "0", "--repeat", "1", "--sort", "peak_MiB"],
     "cannot sort by 'peak_MiB': no row of this report has it (peak_MiB is measured on CUDA only)"),
])
def test_sort_and_column_mistakes_say_what_is_wrong_word_for_word(capsys, args, says):
    """Each refusal's whole line: '#' is the rows' order; an unknown key lists the keys (the report's own
    'steps' among them); an empty --columns gives an example, an unknown column (no measured one: it said
    'needs --measure') lists the columns; peak_MiB, a measured column, is blank on the CPU, so no row can be
    sorted by it."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", *args)
    assert (code, out) == (2, "")
    assert err == f"torchcount: error: {says}\n"


def _documented_examples(text: str) -> list[list[str]]:
    """The argument lists of the `torchcount …` lines of a help epilog or a doc's examples block
    (a trailing `# comment` dropped), the command's own name left out."""
    import shlex

    return [shlex.split(line.split("  #")[0])[1:] for line in text.splitlines()
            if line.strip().startswith("torchcount ")]


def _checked(argv: list[str]):
    """The options parsed as the command parses them, each value the parser leaves as text read by the
    function the command reads it with: an example that would be a usage error raises here."""
    from torchcount.conventions import get_convention

    args = cli.build_parser().parse_args(argv)
    for text in args.input or []:
        cli.parse_input_arg(text)
    if args.method is not None:
        cli.parse_method(args.method)
    cli.parse_dtype(args.dtype)
    if args.convention is not None:
        get_convention(args.convention)
    return args


def test_every_example_the_help_and_docs_cli_md_give_is_a_command_line_the_parser_takes(capsys):
    """Each `torchcount …` line of the help's examples and of docs/cli.md's Examples block, and each
    option's own `e.g.` in the help, parses, its inputs, method, dtype and convention read as the
    command reads them: a misspelt flag or value in an example (a user copies them) fails here."""
    from pathlib import Path

    epilog = _documented_examples(cli.EPILOG)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    block = doc[doc.index("## Examples"):]
    examples = epilog + _documented_examples(block[block.index("```bash"):block.index("```\n", 8)])
    assert len(epilog) == 8 and len(examples) == 8 + 11  # the lines of each, counted by reading them
    for argv in examples:
        assert _checked(argv).model == argv[0], argv
    helps = [a.help for a in cli.build_parser()._actions if a.help and "e.g. " in a.help]
    for text in helps:
        example = text[text.index("e.g. ") + 5:].replace(", --", " --")
        argv = _documented_examples(example if example.startswith("torchcount ") else f"torchcount {example}")[0]
        args = _checked(argv if not argv[0].startswith("-") else ["resnet18", *argv])
        assert args.model is not None, text
    # the input's three examples are read as the shapes they spell
    assert [cli.parse_input_arg(t) for t in _checked(["m", "--input", "1x3x224x224", "--input", "1x16:int64",
                                                       "--input", "input_ids=1x16:int64"]).input] == [
        (None, (1, 3, 224, 224), torch.float32), (None, (1, 16), torch.int64), ("input_ids", (1, 16), torch.int64)]
    # the model's help sends the reader to the epilog's "MODEL forms:" section, which is there
    model_help = next(a.help for a in cli.build_parser()._actions if a.dest == "model")
    assert model_help.endswith("see MODEL forms below") and cli.EPILOG.startswith("MODEL forms:\n")


def test_every_option_is_in_docs_cli_md_as_the_help_names_it():
    """docs/cli.md documents each option under the name and value placeholder `--help` prints
    (`--dtype DTYPE`, `--explain PATH`; each choice of `--format`; the short forms), so a reader of
    either finds the other's wording."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    missing = []
    for action in cli.build_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        long = max(action.option_strings, key=len)
        if action.nargs == 0:  # a flag: named anywhere, `torchcount --list-models` too
            forms = [long] if re.search(rf"{long}(?![\w-])", doc) is None else []
        elif action.metavar:
            forms = [f"`{long} {action.metavar}"]
        else:  # --format's choices are its placeholder
            forms = [f"`{long} {choice}`" for choice in action.choices]
        forms += [f"`{short}" for short in action.option_strings if not short.startswith("--")]
        missing += [form for form in forms if form not in doc]
    assert missing == []


# ---- the fortieth session's round: cli.py ids 1598–1893 (select_rows … _one_line) ----


def test_one_line_joins_the_words_and_cuts_a_long_message_at_a_word_before_the_limit():
    """An error's text on one line: whitespace runs become one space; an empty message is its type's
    name; 500 characters pass whole and 501 are cut to 499 + ' …'; a message of words is cut at the
    last space of those 499 (120 'word's, 599 characters: the 100th is cut there, 99 remain); a space only
    before the middle (250) is not used: the cut is at 499 characters."""
    assert cli._one_line(ValueError("a\n   b\tc ")) == "a b c"
    assert cli._one_line(ValueError("")) == "ValueError"
    assert cli._one_line(ValueError("x" * 500)) == "x" * 500
    assert cli._one_line(ValueError("x" * 501)) == "x" * 499 + " …"
    assert cli._one_line(ValueError(" ".join(["word"] * 120))) == " ".join(["word"] * 99) + " …"
    assert cli._one_line(ValueError("a" * 200 + " " + "b" * 400)) == "a" * 200 + " " + "b" * 298 + " …"


def test_the_kind_of_error_the_command_reports():
    """A failing forward and a model that could not be built are 'model error's; anything else names its
    type and the --debug advice."""
    from torchcount.profile import ForwardError

    assert cli._kind(ForwardError("boom", path="0")) == "model error"
    assert cli._kind(cli.ModelError("no model")) == "model error"
    assert cli._kind(KeyError("k")) == "error (KeyError; rerun with --debug for the traceback)"


def test_a_sortable_number_is_an_int_or_a_float_but_not_a_bool_text_or_nan():
    assert cli._number(3) == 3 and cli._number(2.5) == 2.5 and cli._number(0) == 0
    assert [cli._number(v) for v in (True, False, "3", "", None, float("nan"))] == [None] * 6


def test_csv_rows_sort_numbers_largest_first_and_blanks_last():
    """The CSV's sort: numbers by size, largest first, then a blank (a row without the figure), in the
    order given among blanks: [blank, 0, 5] sorts as 5, 0, blank; text columns sort as text."""
    rows = [{"path": "a", "ops": ""}, {"path": "b", "ops": 0}, {"path": "c", "ops": 5}]
    assert [r["path"] for r in sorted(rows, key=cli._csv_sort_key("ops", ["path", "ops"]))] == ["c", "b", "a"]
    assert [r["path"] for r in sorted(rows[::-1], key=cli._csv_sort_key("module", ["path", "ops"]))] == \
        ["a", "b", "c"]


def _net_file(tmp_path):
    f = tmp_path / "net.py"
    f.write_text("from torch import nn\n\ndef net():\n    return nn.Sequential(nn.Embedding(100, 4), nn.Linear(4, 3))\n")
    return f"{f}:net"


def test_top_as_large_as_the_rows_adds_no_note_and_a_smaller_one_says_what_it_left_out(capsys, tmp_path):
    """Embedding(100, 4) → Linear(4, 3) (two rows; the Linear's 270 FLOPs first by ops): --top 2 or 5
    shows both rows and no 'showing the top' note; --top 1 shows the Linear and says so."""
    net = _net_file(tmp_path)
    for top in ("2", "5"):
        code, out, err = main(capsys, net, "--input", "2x5:int64", "--top", top)
        assert code == 0, err
        assert "showing the top" not in out and "Embedding" in out and "Linear" in out
    code, out, err = main(capsys, net, "--input", "2x5:int64", "--top", "1")
    assert code == 0 and "Embedding" not in out
    assert "showing the top 1 of 2 rows by FLOPs [flops]; the total is the whole model's" in out


def test_markdown_tables_of_the_layers_and_by_type(capsys, tmp_path):
    """--format markdown prints a pipe table: the layers' (Embedding 400 params, Linear 15 params, 120 MACs,
    2·5·(4·3·2 + 3) = 270 FLOPs, total 415 params) and, with --by-type, the types' sorted by ops."""
    net = _net_file(tmp_path)
    code, out, err = main(capsys, net, "--input", "2x5:int64", "--format", "markdown")
    assert code == 0, err
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
    assert rows[0] == ["#", "module", "type", "input", "output", "params", "MACs", "FLOPs [flops]", "share"]
    assert rows[2:] == [["1", "0", "Embedding", "2×5", "2×5×4", "400", "0", "0", "0.0%"],
                        ["2", "1", "Linear", "2×5×4", "2×5×3", "15", "120", "270", "100.0%"],
                        ["", "total", "", "", "", "415", "120", "270", "100.0%"]]
    code, out, err = main(capsys, net, "--input", "2x5:int64", "--format", "markdown", "--by-type")
    assert code == 0, err
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
    assert [r[0] for r in rows[2:]] == ["Linear", "Embedding", "total"]
    assert rows[2][3:6] == ["15", "120", "270"]


def test_every_speech_encoder_builder_gets_one_second_at_16_khz():
    """torchaudio's wav2vec 2.0, HuBERT and WavLM encoders take a waveform sampled at 16 kHz (their bundles'
    sample_rate): each builder name gets one second of it, 1×16000, by default; HuBERT's pretraining models
    (whose forward takes labels too) and the other audio models get none."""
    for name in ("wav2vec2_base", "wav2vec2_large", "wav2vec2_xlsr_300m", "hubert_base", "hubert_large",
                 "wavlm_base", "wavlm_large"):
        assert cli.resolve(name).default_input == (1, 16000), name
    for name in ("hubert_pretrain_base", "conv_tasnet_base", "Wav2Vec2Model"):
        assert cli.resolve(name).default_input is None, name


@pytest.mark.parametrize("call", ["net(3)", "net(bias=False)", "net(3, bias=False)"])
def test_a_module_instance_given_arguments_is_a_usage_error(capsys, tmp_path, call):
    """`file.py:net` naming an nn.Module instance (already built) cannot be called: arguments to it, positional
    or keyword, are a usage error (exit 2) saying so, before anything runs."""
    source = tmp_path / "tc_instance_args.py"
    source.write_text("from torch import nn\nnet = nn.Linear(4, 3)\n")
    code, out, err = main(capsys, f"{source}:{call}", "--input", "2x4")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: net is a module instance; it takes no arguments\n"


@pytest.mark.parametrize("result", ["nn.Linear(4, 3), torch.ones(2, 4), torch.ones(2, 4)",
                                    "torch.ones(2, 4), nn.Linear(4, 3)"])
def test_a_callable_returning_no_module_inputs_pair_is_a_usage_error(capsys, tmp_path, result):
    """A callable's result is a module or a (module, inputs) pair: three items (Linear(4, 3), x, y), or the
    pair reversed (x, Linear(4, 3)), is neither — the third item is not dropped, the tensor not taken for
    the model: exit 2, naming what it returned (a tuple)."""
    source = tmp_path / "tc_not_a_pair.py"
    source.write_text(f"import torch\nfrom torch import nn\n\n\ndef make():\n    return {result}\n")
    code, out, err = main(capsys, f"{source}:make")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: make returned a tuple; expected an nn.Module or a (module, inputs) pair\n"


def test_a_traced_graph_module_is_counted_in_eval_mode_as_the_module_it_was_traced_from(capsys, tmp_path):
    """A callable returning torch.fx.symbolic_trace(Linear(4, 3), Dropout, BatchNorm1d(3)) — a GraphModule, in
    training mode as traced — is put in eval mode as any model is: the same count as the untraced layers in
    eval mode, 84 FLOPs on 2×4 (Linear 2·24 MACs + 6 bias adds; Dropout none; BatchNorm with its running
    statistics 6 elements × 4 (−mean, ×1/std, ×weight, +bias) + 3 (var + eps) + 3 square roots), not the
    training-mode count (dropout's mask, the batch's mean and variance: 141)."""
    import json

    import torchcount

    source = tmp_path / "tc_traced.py"
    source.write_text("import torch\nfrom torch import nn\n\n\ndef layers():\n"
                      "    return nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))\n\n\n"
                      "def traced():\n    return torch.fx.symbolic_trace(layers())\n")
    totals = []
    for name in ("traced", "layers"):
        code, out, err = main(capsys, f"{source}:{name}", "--input", "2x4", "--format", "json")
        assert code == 0, err
        totals.append(json.loads(out)["total"]["ops"])
    layers = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.BatchNorm1d(3)).eval()
    api = torchcount.profile(layers, input_size=(2, 4), warn=False).to_dict()["total"]["ops"]
    assert totals == [api, api] and api == 2 * 24 + 6 + 30, (totals, api)


def test_a_builders_default_input_is_made_in_the_dtype_asked(capsys):
    """resnet18's default input, 1×3×224×224, is made in --dtype's dtype as the model is cast to it: float16,
    so conv1 reads 2 bytes per element (its 3·224·224 input and 64·3·7·7 weights), and there is no note of a
    float32 input meeting float16 weights; without --dtype, float32 — on the CPU too, where values are drawn."""
    import json

    code, out, err = main(capsys, "resnet18", "--dtype", "float16", "--format", "json")
    assert (code, err) == (0, "")
    conv1 = next(layer for layer in json.loads(out)["layers"] if layer["path"] == "conv1")
    assert conv1["input_shapes"] == [[1, 3, 224, 224]]
    assert conv1["cost"]["bytes_read"] == (3 * 224 * 224 + 64 * 3 * 7 * 7) * 2
    spec = cli.resolve("resnet18")
    for dtype, expected in ((None, torch.float32), (torch.float16, torch.float16)):
        x, keywords = cli._inputs_for(spec, None, None, "cpu", dtype)
        assert (tuple(x.shape), x.dtype, x.device.type, keywords) == ((1, 3, 224, 224), expected, "cpu", None)


@pytest.mark.parametrize("names, kind", [
    # torch 2.2's torch.export.save: serialized_exported_program.json, no models/ folder
    (["prog/serialized_exported_program.json", "prog/serialized_state_dict.pt"], "export"),
    # recent torch's: models/<model>.json beside archive_format
    (["prog/archive_format", "prog/models/model.json", "prog/data/weights/model_weights_config.json"], "export"),
    # a PT2 package whose .json is not under models/, or whose models/ holds no .json: no exported program
    (["pkg/archive_format", "pkg/data/aotinductor/model/model_metadata.json"], "package"),
    (["pkg/archive_format", "pkg/models/notes.txt"], "package"),
    # a .json elsewhere in a zip of neither layout
    (["a/config.json", "a/weights.bin"], "zip"),
    # torch.jit.save's: code/ beside data.pkl; code/ without data.pkl is neither layout
    (["m/data.pkl", "m/code/__torch__.py", "m/constants.pkl"], "script"),
    (["m/code/__torch__.py", "m/constants.pkl"], "zip"),
])
def test_a_saved_files_kind_is_read_from_the_names_in_its_archive(capsys, tmp_path, names, kind):
    """A torch.export archive is told by serialized_exported_program.json (torch 2.2's layout) or a .json file
    under models/ (recent torch's), and by nothing else: a .json elsewhere, or a models/ entry that is not
    one, is a PT2 package without a program (with archive_format) or a zip of neither layout; a TorchScript
    archive has code/ and data.pkl (these archives are made by hand, empty entries with those names; nothing
    in them is read). A package is a usage error saying what it holds."""
    import zipfile

    path = tmp_path / "saved.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
    found, what = cli._saved_kind(path)
    assert found == kind, (found, what)
    if kind == "export":
        assert what == "a torch.export program"
    if kind == "zip":
        assert what == f"a zip archive of neither layout ({', '.join(names)})"
    if kind == "package":
        code, out, err = cli.main([str(path)]), *capsys.readouterr()
        assert (code, out) == (2, "")
        assert err == (f"torchcount: error: {path} is a PT2 package without an exported program (an AOTInductor "
                       "package holds compiled kernels, not a graph of layers: profile the program it was compiled "
                       "from, saved with torch.export.save); torchcount reads a program saved with "
                       "torch.export.save (.pt2) or torch.jit.save (TorchScript), or builds the model from a "
                       "builder name, package.module:callable or file.py:callable\n")


def test_a_zip_of_neither_layout_shows_its_first_four_names(tmp_path):
    """A zip archive that is no saved program is described by its first four entries, then ' …' when it has
    more: four are all shown, the fifth of five is not."""
    import zipfile

    for count, shown in ((4, "a/0, a/1, a/2, a/3"), (5, "a/0, a/1, a/2, a/3 …")):
        path = tmp_path / f"neither{count}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for i in range(count):
                archive.writestr(f"a/{i}", b"")
        assert cli._saved_kind(path) == ("zip", f"a zip archive of neither layout ({shown})"), count


def test_a_zip_whose_pickle_is_at_its_top_is_read_from_it(capsys, tmp_path):
    """A zip archive with data.pkl at its top (no folder, as a zip made by hand may have it), whose pickle names
    the class mymodels.Net with a GLOBAL opcode (nothing is unpickled): a usage error saying it is a model
    pickled whole, of mymodels.Net."""
    import zipfile

    path = tmp_path / "whole.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.pkl", b"\x80\x02cmymodels\nNet\nq\x00)\x81q\x01.")
    code, out, err = main(capsys, path)
    assert (code, out) == (2, "")
    assert err.startswith(f"torchcount: error: {path} is a model pickled whole with torch.save(model) (of "
                          "mymodels.Net): torchcount does not unpickle files"), err


def test_a_zip_whose_directory_is_damaged_is_a_file_that_cannot_be_read(capsys, tmp_path):
    """A zip archive whose end record is whole (zipfile.is_zipfile says yes) but whose central directory is
    damaged (its entry's signature PK\\x01\\x02 overwritten): zipfile cannot open it, and the command says the
    file cannot be read, with zipfile's reason, exit 2."""
    import zipfile

    path = tmp_path / "damaged.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("prog/models/model.json", b"{}")
    data = path.read_bytes()
    assert data.count(b"PK\x01\x02") == 1
    path.write_bytes(data.replace(b"PK\x01\x02", b"XX\x01\x02"))
    assert zipfile.is_zipfile(path)
    code, out, err = main(capsys, path)
    assert (code, out) == (2, "")
    assert err == (f"torchcount: error: {path} is a file that cannot be read (Bad magic number for central "
                   "directory); torchcount reads a program saved with torch.export.save (.pt2) or torch.jit.save "
                   "(TorchScript), or builds the model from a builder name, package.module:callable or "
                   "file.py:callable\n"), err


class _TwoLinears(nn.Module):
    """Linear(4, 8), ReLU, Linear(8, 3): params 4·8 + 8 + 8·3 + 3 = 67; on a batch of 2, MACs 2·4·8 + 2·8·3 = 112."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_a_saved_torchscript_module_given_dtype_computes_in_it(capsys, tmp_path):
    """--dtype float64 on a saved TorchScript module casts the module as it does a built one: its 67 parameters
    are 67·8 = 536 bytes (not 67·4 = 268) and its one row reads a float64 input; the MACs do not depend on the
    dtype (112). Without --dtype it stays float32: 268 bytes."""
    import json

    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(_TwoLinears().eval()), str(path))
    code, out, err = main(capsys, path, "--input", "2x4", "--dtype", "float64", "--format", "json", "--convention",
                          "macs")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["total"]["param_bytes"], doc["total"]["macs"]) == (67 * 8, 112)
    assert doc["layers"][0]["input_dtypes"] == ["float64"]
    code, out, err = main(capsys, path, "--input", "2x4", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["param_bytes"] == 67 * 4


def _an_export_archive(tmp_path):
    """A zip archive with a .json under models/, which the command reads as a torch.export program (the tests
    that use it replace torch.export.load, so nothing in it is read)."""
    import zipfile

    path = tmp_path / "prog.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("prog/archive_format", b"")
        archive.writestr("prog/models/model.json", b"{}")
    return path


def test_torchs_error_pointing_to_its_log_is_said_as_it_is_when_nothing_was_logged(capsys, tmp_path, monkeypatch):
    """torch.export.load refusing a file with an error that only points to 'the warnings above', having logged
    no exception while loading: there is no logged reason to give instead, so the usage error (exit 2) gives
    torch's own message, word for word."""
    path = _an_export_archive(tmp_path)

    def refuse(*args, **kwargs):
        raise RuntimeError("Serialization failed. Please check the warnings above")

    monkeypatch.setattr(torch.export, "load", refuse)
    code, out, err = main(capsys, path)
    assert (code, out) == (2, "")
    assert err == (f"torchcount: error: cannot load {path} as a torch.export program: Serialization failed. Please "
                   "check the warnings above\n"), err


class _WithConstant(nn.Module):
    """A Linear plus a plain tensor attribute, which torch.export lifts as a constant of the program."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.k = torch.ones(4)

    def forward(self, x):
        return self.fc(x) + self.k


def test_a_program_is_put_on_a_device_without_move_to_device_pass_constants_and_all(monkeypatch):
    """Where torch has no torch.export.passes.move_to_device_pass (older torch; taken away here), the program's
    module is moved with .to(device), which leaves a lifted constant that is a plain tensor attribute (self.k
    here, in the torch versions that keep it so) where it was: those are moved one by one. On meta every tensor
    of the module is then a meta tensor, the weights and the constant alike, and it runs there."""
    try:
        import torch.export.passes as passes
    except ImportError:  # (torch 2.2 has no torch.export.passes: the fallback is what runs there anyway)
        passes = None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(_WithConstant().eval(), (torch.randn(2, 4),))
    if passes is not None:
        monkeypatch.delattr(passes, "move_to_device_pass", raising=False)
    module = cli._program_on(program, "meta")
    plain = {name: value.device.type for m in module.modules() for name, value in vars(m).items()
             if isinstance(value, torch.Tensor)}
    assert set(plain.values()) <= {"meta"}, plain
    assert {p.device.type for p in module.parameters()} == {"meta"}
    out = module(torch.randn(2, 4, device="meta"))
    assert (out.device.type, tuple(out.shape)) == ("meta", (2, 4))


@pytest.mark.parametrize("refusal, named", [
    # the weights-only unpickler's refusal naming the class (here not an UnpicklingError, nor 'weights only')
    (RuntimeError("Unsupported global: GLOBAL mymodels.Net was not an allowed global by default"), " (mymodels.Net)"),
    # an UnpicklingError that names no class and does not say 'weights only'
    (__import__("pickle").UnpicklingError("an object the unpickler refuses"), ""),
    # torch's 'Weights only load failed' in another exception type, naming no class
    (RuntimeError("Weights only load failed. Re-running with weights_only=False would run code"), ""),
])
def test_each_sign_of_a_refused_pickle_alone_says_the_file_holds_objects_other_than_tensors(
        capsys, tmp_path, monkeypatch, refusal, named):
    """torch.export.load's failure is read as the weights-only unpickler's refusal on any one of its three signs:
    'Unsupported global: GLOBAL <class>' (the class is named), an UnpicklingError, or 'weights only load failed'
    in the message; the usage error (exit 2) then says the file holds pickled objects other than tensors."""
    path = _an_export_archive(tmp_path)

    def refuse(*args, **kwargs):
        raise refusal

    monkeypatch.setattr(torch.export, "load", refuse)
    code, out, err = main(capsys, path)
    assert (code, out) == (2, "")
    assert err == (f"torchcount: error: cannot load {path} as a torch.export program: it holds pickled objects other "
                   f"than tensors{named}, which torchcount does not unpickle (unpickling can run code the file "
                   "names): the file was not loaded\n"), err


class _Rows(nn.Module):
    """Linear(4, 3): on N rows, N·4·3 = 12·N MACs."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def test_a_saved_program_with_a_dynamic_dim_of_no_upper_bound_is_counted_at_any_size(capsys, tmp_path):
    """A program exported with torch.export.Dim("rows"), no max: the range torch keeps for the dim ends at its
    int_oo, whose int() raises an AttributeError (in sympy), which the command let through (exit 1, with or
    without --input). Counted with its own inputs, 5 rows: 5·4·3 = 60 MACs, the note naming the dynamic dim;
    --input 7x4 counts 7·12 = 84 (also with --dtype float64) and 1000x4 12,000 (no upper bound); a static dim of another size (7x5) is
    still a usage error naming it, the dynamic dim shown with no upper end."""
    import json

    path = tmp_path / "rows.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(_Rows().eval(), (torch.randn(5, 4),),
                                      dynamic_shapes={"x": {0: torch.export.Dim("rows")}})
        torch.export.save(program, str(path))
    code, out, err = main(capsys, path, "--format", "json", "--convention", "macs")
    assert code == 0, err
    assert json.loads(out)["total"]["macs"] == 60
    assert "--input 5x4; input 1 dim 0 is dynamic in the program" in err, err
    for rows, dtype in ((7, []), (1000, []), (7, ["--dtype", "float64"])):  # (--dtype: float64 inputs fit)
        code, out, err = main(capsys, path, "--input", f"{rows}x4", *dtype, "--format", "json", "--convention",
                              "macs")
        assert (code, err) == (0, ""), err
        assert json.loads(out)["total"]["macs"] == rows * 12
    code, out, err = main(capsys, path, "--input", "7x5")
    assert (code, out) == (2, "")
    assert err.startswith("torchcount: error: --input: rows.pt2 was exported for input 1 of shape [") and \
        err.endswith("..]×4 float32: dim 1 of size 4, not 5\n"), err


def test_a_programs_dims_are_read_as_ranges_and_its_placeholders_made_at_their_example_sizes():
    """A program exported on x of 3×4 with dim 0 dynamic from 2 to 15 (Dim("b", min=2, max=15)) and y of 5×4 with
    dim 0 dynamic and no upper bound: a dim's range is (2, 15) for x's dim 0, (4, 4) for a static 4, no upper end
    (None) for y's dim 0, and (0, None) for a dim the program's ranges do not hold. An input made from a
    placeholder is at the sizes it was exported with, 3×4 and 5×4 float32 (the dims' hints); a placeholder
    value that is no tensor (a float, an int, None) is itself, any other a usage error naming it; a dynamic
    size with no hint (the program keeps no example size) is a usage error too."""
    from types import SimpleNamespace

    class Two(nn.Module):
        def forward(self, x, y):
            return x.sum(0) + y.sum(0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(Two(), (torch.randn(3, 4), torch.randn(5, 4)), dynamic_shapes={
            "x": {0: torch.export.Dim("b", min=2, max=15)}, "y": {0: torch.export.Dim("c")}})
    x, y = [n.meta["val"] for n in program.graph.nodes if n.op == "placeholder"]
    ranges = program.range_constraints
    assert [cli._size_range(d, ranges) for d in x.shape] == [(2, 15), (4, 4)]
    assert cli._size_range(y.shape[0], ranges)[1] is None and cli._size_range(y.shape[1], ranges) == (4, 4)
    assert cli._size_range(x.shape[0], {}) == (0, None)
    made = [cli._placeholder_input(val, where, "two.pt2") for val, where in ((x, "input 1"), (y, "input 2"))]
    assert [(tuple(t.shape), t.dtype, t.device.type) for t in made] == [((3, 4), torch.float32, "cpu"),
                                                                         ((5, 4), torch.float32, "cpu")]
    for value in (2.0, 3, None):
        assert cli._placeholder_input(value, "input 3", "two.pt2") == value
    with pytest.raises(cli.UsageError) as info:
        cli._placeholder_input([1, 2], "pair", "two.pt2")
    assert str(info.value) == ("two.pt2: its input pair is a list, which torchcount cannot make; give the inputs "
                               "with --input")
    assert cli._hint(SimpleNamespace(node=SimpleNamespace(hint=7)), "x dim 0", "two.pt2") == 7
    with pytest.raises(cli.UsageError) as info:
        cli._hint(SimpleNamespace(node=SimpleNamespace(hint=None)), "x dim 0", "two.pt2")
    assert str(info.value) == ("two.pt2: its input x dim 0 is dynamic and the program keeps no example size for it; "
                               "give the inputs with --input")


def test_a_saved_programs_dynamic_dim_is_checked_against_both_ends_of_its_range(capsys, tmp_path):
    """Linear(4, 3) exported on 3 rows with the rows dynamic from 2 to 15 (Dim("b", min=2, max=15)): --input 2x4
    and 15x4, the two ends, are counted (2·4·3 = 24 and 15·4·3 = 180 MACs); 1x4, below the lowest, and 16x4,
    above the highest, are usage errors naming the range, before any forward."""
    import json

    path = tmp_path / "b.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(_Rows().eval(), (torch.randn(3, 4),),
                                      dynamic_shapes={"x": {0: torch.export.Dim("b", min=2, max=15)}})
        torch.export.save(program, str(path))
    for rows in (2, 15):
        code, out, err = main(capsys, path, "--input", f"{rows}x4", "--format", "json", "--convention", "macs")
        assert (code, err) == (0, ""), err
        assert json.loads(out)["total"]["macs"] == rows * 4 * 3
    for rows in (1, 16):
        code, out, err = main(capsys, path, "--input", f"{rows}x4")
        assert (code, out) == (2, "")
        assert err == (f"torchcount: error: --input: b.pt2 was exported for input 1 of shape [2..15]×4 float32: "
                       f"dim 0 (dynamic) from 2 to 15, not {rows}\n"), err


def test_a_saved_program_with_a_float_input_kept_given_too_few_tensors_is_a_usage_error(capsys, tmp_path):
    """(x + y)·scale exported with x, y of 2×4 and scale the float 2.0, which torch.export fixes in the graph:
    --input 2x4 --input 2x4 gives the two tensors (static: the sizes exported) and keeps the float (2·4 = 8
    additions and 8 multiplications); one --input alone is a usage error saying what the program takes, not a crash while
    filling the float in among too few inputs."""
    import json

    class Scaled(nn.Module):
        def forward(self, x, y, scale: float):
            return (x + y) * scale

    path = tmp_path / "scaled.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(Scaled(), (torch.randn(2, 4), torch.randn(2, 4), 2.0)), str(path))
        try:
            torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001  (torch 2.2: 'NoneType' object has no attribute 'name')
            pytest.skip(f"torch {torch.__version__} cannot load the program it saved with a float input: {exc}")
    code, out, err = main(capsys, path, "--input", "2x4", "--input", "2x4", "--format", "json")
    assert (code, err) == (0, ""), err
    cost = json.loads(out)["total"]["cost"]
    assert (cost["adds"], cost["mults"]) == (8, 8)
    code, out, err = main(capsys, path, "--input", "2x4")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --input: scaled.pt2 was exported for --input 2x4 --input 2x4 (float 2.0, "
                   "not a tensor: kept as exported); --input gave 1 positional input(s)\n"), err


def test_the_inputs_a_program_keeps_as_exported_and_the_input_options_that_give_the_others():
    """An input --input cannot give is kept as exported: a 0-dim tensor, a float, an int, None, a tuple of ints
    (no tensor in it); a tensor of 1 dim or more is given, and a list holding a tensor is neither. The note
    writes each input as the --input that gives it (float32 says no dtype, others ':dtype'), the kept ones and
    the list in parentheses, positional inputs first, then keywords by name; no inputs at all: 'no inputs'."""
    kept = [torch.tensor(2.0), 2.0, 3, None, (1, 2)]
    given = [torch.zeros(3), torch.zeros(2, 3), [torch.zeros(1)]]
    assert [cli._kept_as_exported(v) for v in kept] == [True] * 5
    assert [cli._kept_as_exported(v) for v in given] == [False] * 3
    args = (torch.zeros(2, 3), torch.tensor(2.0))
    kwargs = {"ids": torch.zeros(2, 5, dtype=torch.int64), "scale": 2.0, "mask": None, "pair": [torch.zeros(1)]}
    assert cli._input_flags(args, kwargs) == (
        "--input 2x3 (a 0-dim float32 tensor: kept as exported) --input ids=2x5:int64 "
        "(scale=float 2.0, not a tensor: kept as exported) (mask=None, not a tensor: kept as exported) "
        "(pair=list [tensor([0.])], which --input cannot give)")
    assert cli._input_flags((), {}) == "no inputs"
    assert cli._input_value(torch.tensor(1, dtype=torch.int64), "t") == "t=a 0-dim int64 tensor"


class _RowsPlus(_Rows):
    def forward(self, x, y=None):
        return self.fc(x) + y


def test_a_program_of_keyword_inputs_alone_is_counted_and_a_flat_module_is_given_its_leaves(capsys, tmp_path):
    """A program exported with its one input by keyword (x=5×4, no positional input) is called with that keyword:
    Linear(4, 3) on 5 rows, 5·4·3 = 60 MACs, with its own inputs or --input x=5x4. A program whose module
    takes its inputs flat (torch 2.2's ep.module(): forward(arg_0, arg_1)) is given the leaves in order, x then
    y, as positional inputs and no keywords."""
    import json

    path = tmp_path / "kw.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(_Rows().eval(), (), {"x": torch.randn(5, 4)}), str(path))
        program = torch.export.export(_RowsPlus().eval(), (torch.randn(2, 4),), {"y": torch.randn(2, 3)})
    for given in ([], ["--input", "x=5x4"]):
        code, out, err = main(capsys, path, *given, "--format", "json", "--convention", "macs")
        assert code == 0, err
        assert json.loads(out)["total"]["macs"] == 60, given
    call = cli._ProgramCall.of(program, "plus.pt2")
    x, y = torch.zeros(2, 4), torch.ones(2, 3)
    assert call.arrange((x,), {"y": y}, given=True) == ((x,), {"y": y})
    call.flat = True
    inputs, keywords = call.arrange((x,), {"y": y}, given=True)
    assert keywords is None and len(inputs) == 2 and inputs[0] is x and inputs[1] is y


def test_a_function_method_without_a_progress_bar_is_counted(capsys, tmp_path):
    """--method FILE:twice with no progress bar (stderr not a terminal): the function is called as
    twice(model, x) and runs the forward twice. Linear(8, 4) on 2x8 is 2·8·4 = 64 MACs a forward, so
    128 MACs in all, and 2 forward calls."""
    import json

    step = tmp_path / "step.py"
    step.write_text("def twice(model, x):\n    return model(x) + model(x)\n")
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--method", f"{step}:twice",
                          "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["model"] == "twice(Linear)" and d["forward_calls"] == 2
    assert d["total"]["macs"] == 2 * (2 * 8 * 4)


def test_a_method_keyword_the_method_does_not_take_is_a_method_error(capsys):
    """--method '_forward_impl(bogus=1)': the keyword is --method's mistake, named as such (exit 2),
    checked before any forward."""
    pytest.importorskip("torchvision")
    code, out, err = main(capsys, "torchvision.models:resnet18()", "--input", "1x3x8x8", "--method",
                          "_forward_impl(bogus=1)")
    assert code == 2 and out == ""
    assert err == ("torchcount: error: --method: method='_forward_impl': ResNet._forward_impl() takes no keyword "
                   "argument 'bogus' (not a keyword it takes; it takes none)\n")


_MASKED = '''
import torch.nn as nn


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, mask=None, scale=1.0):
        y = self.fc(x)
        if mask is not None:
            y = y * mask
        return y * scale

    def encode(self, x, scale=1.0):
        return self.fc(x) * scale
'''


def test_input_keywords_and_method_keywords_are_given_together(capsys, tmp_path):
    """Linear(4, 3) on 2×4, its output times a mask, then times a scale: --input mask=2x3 with --method
    'forward(scale=2.0)' gives both keywords, so 2·4·3 = 24 MACs and 2·3 + 2·3 = 12 multiplications (the mask's
    and the scale's); a mask lost on the way would leave 6. A method that takes no mask (encode) given
    --input mask=2x3 is --input's mistake, named before any forward."""
    import json

    path = tmp_path / "masked.py"
    path.write_text(_MASKED)
    code, out, err = main(capsys, f"{path}:Masked", "--input", "2x4", "--input", "mask=2x3", "--method",
                          "forward(scale=2.0)", "--format", "json")
    assert (code, err) == (0, ""), err
    cost = json.loads(out)["total"]["cost"]
    assert (cost["macs"], cost["mults"]) == (24, 12)
    code, out, err = main(capsys, f"{path}:Masked", "--input", "2x4", "--input", "mask=2x3", "--method",
                          "encode(scale=2.0)")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --input: method='encode': Masked.encode() takes no keyword argument 'mask' "
                   "(not a keyword it takes; it takes scale)\n"), err


def test_an_input_keyword_beside_a_positional_input_is_checked_against_the_forward(capsys, tmp_path):
    """With a positional --input beside them, --input keywords are the call's keywords (not its inputs): one
    the forward does not take (bogus) is --input's usage error naming what it takes, before any forward; one
    --method also gives (scale) is named as given twice, also where every --input is a keyword."""
    path = tmp_path / "masked.py"
    path.write_text(_MASKED)
    code, out, err = main(capsys, f"{path}:Masked", "--input", "2x4", "--input", "bogus=2x3")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --input: Masked.forward() takes no keyword argument 'bogus' (not a keyword "
                   "it takes; it takes mask, scale)\n"), err
    code, out, err = main(capsys, f"{path}:Masked", "--input", "2x4", "--input", "scale=1", "--method",
                          "forward(scale=2.0)")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: scale is given both as --input scale=… and in --method\n", err
    # every input a keyword (x=…): they are the call's inputs, and a clash with --method is named all the same
    code, out, err = main(capsys, f"{path}:Masked", "--input", "x=2x4", "--input", "scale=1", "--method",
                          "forward(scale=2.0)")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: scale is given both as --input scale=… and in --method\n", err


def test_a_saved_script_modules_input_keyword_beside_a_positional_input_is_checked(capsys, tmp_path):
    """A saved TorchScript module taking (x, mask=None), given --input 2x4 --input bogus=2x3: the keyword is
    checked against the script's schema before any forward, --input's usage error naming what it takes."""
    from typing import Optional

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x, mask: Optional[torch.Tensor] = None):
            y = self.fc(x)
            if mask is not None:
                y = y * mask
            return y

    path = tmp_path / "masked.pt"
    torch.jit.save(torch.jit.script(Masked()), str(path))
    code, out, err = main(capsys, path, "--input", "2x4", "--input", "bogus=2x3")
    assert (code, out) == (2, "")
    assert err == ("torchcount: error: --input: masked.pt's forward takes no keyword argument 'bogus' (it takes "
                   "mask)\n"), err


BYTES_NET = """\
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()
        self.head = nn.Linear(64, 2, bias=False)

    def forward(self, x):
        return self.head(self.act(x).view(64, 64))


def net():
    return Net()
"""


def test_the_bytes_column_and_sort_key_are_the_rows_counted_traffic(capsys, tmp_path):
    """--columns …,bytes and --sort bytes: on a 1×4096 float32 input the ReLU reads and writes 4,096
    elements (32,768 bytes) for 4,096 FLOPs, the Linear(64, 2) reads 64×64 and its 2×64 weight and
    writes 64×2 (16,384 + 512 + 512 = 17,408 bytes) for 2·64·64·2 = 16,384 FLOPs: by bytes the ReLU
    comes first, by ops the Linear; the total is 50,176 bytes."""
    source = tmp_path / "bytesnet.py"
    source.write_text(BYTES_NET)

    def rows(*options):
        code, out, err = main(capsys, f"{source}:net", "--input", "1x4096", "--columns", "module,ops,bytes", *options)
        assert (code, err) == (0, "")
        lines = out.splitlines()
        head = next(i for i, line in enumerate(lines) if line.startswith("---"))
        return [tuple(line.split()) for line in lines[head + 1:head + 4]]

    assert rows("--sort", "bytes") == [("act", "4,096", "32,768"), ("head", "16,384", "17,408"),
                                       ("total", "20,480", "50,176")]
    assert rows("--sort", "ops")[0][0] == "head"
    assert rows("--sort", "BYTES", "--top", "1")[:2] == [("act", "4,096", "32,768"), ("total", "20,480", "50,176")]


def test_a_csv_sorted_by_bytes_is_in_the_order_of_bytes_read_plus_written(capsys, tmp_path):
    """The CSV has bytes_read and bytes_written, not the table's bytes: --sort bytes orders its rows by
    their sum, the ReLU's 16,384 + 16,384 before the Linear's 16,896 + 512 (BYTES_NET on 1×4096)."""
    import csv

    source = tmp_path / "bytesnet.py"
    source.write_text(BYTES_NET)
    code, out, err = main(capsys, f"{source}:net", "--input", "1x4096", "--format", "csv", "--sort", "bytes")
    assert (code, err) == (0, "")
    rows = [(r["path"], int(r["bytes_read"]), int(r["bytes_written"])) for r in csv.DictReader(io.StringIO(out))]
    assert rows[:2] == [("act", 16_384, 16_384), ("head", 16_896, 512)]
    code, out, err = main(capsys, f"{source}:net", "--input", "1x4096", "--format", "csv", "--sort", "ops")
    assert [r["path"] for r in csv.DictReader(io.StringIO(out))][:2] == ["head", "act"]


def test_the_meta_dtype_note_is_for_floating_inputs_unlike_floating_parameters(capsys):
    """On meta (the default device) a float16 input to Linear(8, 4)'s float32 weights is counted with a note
    naming both dtypes. Token ids (int64) to an Embedding are no floating input, and a ReLU has no parameters
    a float16 input could differ from: neither gets a note (the note said 'a floating input is int64', and
    'its parameters are None')."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8:float16", "--format", "json")
    assert code == 0
    assert err == ("torchcount: note: Linear: a floating input is float16 and its parameters are float32; the meta "
                   "device does not check dtypes, so this is counted, but on a real device such a forward usually "
                   "fails (--dtype converts the model and its inputs together)\n")
    for model, shape in (("torch.nn:Embedding(10, 4)", "2x5:int64"), ("torch.nn:ReLU()", "2x8:float16")):
        code, out, err = main(capsys, model, "--input", shape, "--format", "json")
        assert (code, err) == (0, ""), (model, err)


def test_the_expected_passes_without_the_measure_package_use_its_documented_defaults(monkeypatch):
    """_expected_passes reads warmup and repeat's defaults from measure()'s signature; where torchcount.measure
    cannot be imported it falls back to the same numbers, 3 and 10 (docs/measure.md): 1 counting pass,
    2·3 + 2·10 plain and instrumented passes, the floor-probing pass and the memory pass are 29, and the
    options given still count (warmup 1, repeat 2: 1 + 2 + 4 + 2 = 9)."""
    import inspect

    from torchcount.measure import measure

    defaults = inspect.signature(measure).parameters
    assert (defaults["warmup"].default, defaults["repeat"].default) == (3, 10)
    monkeypatch.setitem(sys.modules, "torchcount.measure", None)  # (import of it raises ImportError)
    assert cli._expected_passes({}) == 1 + 2 * 3 + 2 * 10 + 1 + 1 == 29
    assert cli._expected_passes({"warmup": 1, "repeat": 2}) == 9


def test_warmup_without_measure_is_a_usage_error(capsys):
    """--warmup alone (as --repeat, --ceiling and --energy alone) asks for a measurement that --measure did
    not ask for: exit 2, word for word, before any work (--warmup 0 was counted and exit 0)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--warmup", "0")
    assert (code, out) == (2, "")
    assert err == "torchcount: error: --warmup, --repeat, --ceiling, --energy and --energy-layers need --measure\n"


class _Terminal(io.StringIO):
    """A terminal's stderr: what it shows is the text written up to its last flush."""
    shown = ""

    def isatty(self):
        return True

    def flush(self):
        self.shown = self.getvalue()


def test_on_a_terminal_the_progress_bar_draws_30_cells_on_stderr_and_flushes_each_draw(monkeypatch):
    """With stderr a terminal, _progress_bar gives a bar drawing on it, 30 cells wide: 1 of 2 passes fills
    15 of them. Each draw is flushed, since a line-buffered stderr holds a line that ends in no newline:
    a closed bar that was not full ends its line, shown too."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = cli._progress_bar()
    bar(1, 2, "measuring")
    assert terminal.shown == "\rmeasuring [" + "#" * 15 + "." * 15 + "] 1/2"
    bar.close()
    assert terminal.shown == "\rmeasuring [" + "#" * 15 + "." * 15 + "] 1/2\n" and not bar.active


def test_the_pass_counter_redraws_every_fifth_of_a_second_and_closes_after_a_redraw_under_way(monkeypatch):
    """_PassCounter's thread waits 0.2 s between redraws; close() waits for a redraw under way (here one that
    takes 0.3 s) before it draws the bar full, so the full 4/4 is the last drawn (drawn before it, the late
    0/4 was left on the terminal, the bar open)."""
    import threading
    import time

    waits = []

    class Event(threading.Event):
        def wait(self, timeout=None):
            waits.append((self, timeout))
            return super().wait(timeout)

    monkeypatch.setattr(threading, "Event", Event)  # (the counter's stop event, made once it is patched)
    drawn, redrawing, caller = [], threading.Semaphore(0), threading.get_ident()

    def bar(done, total, label=""):
        if threading.get_ident() != caller:  # a redraw from the counter's thread
            redrawing.release()
            time.sleep(0.3)
        drawn.append((done, total, label))

    counter = cli._PassCounter(bar, 4, nn.Linear(2, 2))
    assert redrawing.acquire(timeout=30)
    counter.close()
    counter.thread.join()  # (where close did not: the late redraw lands before the check)
    assert drawn[0] == (0, 4, "measuring") and drawn[-1] == (4, 4, "measuring")
    assert {timeout for event, timeout in waits if event is counter.stop} == {0.2}


def test_a_function_method_measured_with_the_progress_bar_still_runs_the_function(capsys, monkeypatch, tmp_path):
    """--method FILE:twice --measure on a terminal: the bar's counter wraps the function to count its calls,
    and the wrapped call still runs it, so the count is twice(model, x)'s: 2 forwards of Linear(8, 4) on
    2×8, 2·(2·8·4) = 128 MACs (the wrapper returned without calling it: 0 forwards, 0 MACs)."""
    import json

    monkeypatch.setattr(cli, "_progress_bar", lambda: cli.ProgressBar(io.StringIO()))
    step = tmp_path / "step.py"
    step.write_text("def twice(model, x):\n    return model(x) + model(x)\n")
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--method", f"{step}:twice",
                          "--measure", "--warmup", "0", "--repeat", "1", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert (d["forward_calls"], d["total"]["macs"]) == (2, 2 * (2 * 8 * 4))


_CNN = ("from torch import nn\n\n\ndef cnn():\n"
        "    return nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1),\n"
        "                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))\n")


def test_a_plot_sorted_without_top_draws_the_tables_rows_in_its_order(capsys, tmp_path, monkeypatch):
    """--sort params --plot (no --top) draws every row of the table in the table's order, as --by-type's plot
    does: Conv1d(8, 8, 3) 8·8·3 + 8 = 200 params, Conv1d(2, 8, 3) 2·8·3 + 8 = 56, Linear(8, 2) 18, then the
    parameterless ReLU, pool and Flatten in the model's order (it drew the model's order, 0 to 5)."""
    pytest.importorskip("matplotlib")
    from torchcount.analysis import plots

    source = tmp_path / "tc_plot_sorted.py"
    source.write_text(_CNN)
    drawn, real = [], plots.plot_layers

    def spy(*args, **kwargs):  # the bars' labels, top to bottom
        fig = real(*args, **kwargs)
        ticks = sorted(zip(fig.axes[0].get_yticks(), [t.get_text() for t in fig.axes[0].get_yticklabels()]))
        drawn.append([label for _, label in reversed(ticks)])
        return fig

    monkeypatch.setattr(plots, "plot_layers", spy)
    code, out, err = main(capsys, f"{source}:cnn", "--input", "1x2x32", "--sort", "params", "--columns",
                          "module,params", "--plot", tmp_path / "p.png")
    assert code == 0, err
    table = [line.split()[0] for line in out.splitlines()[4:10]]
    assert table == ["2", "0", "5", "1", "3", "4"] and drawn == [table]


def test_main_without_an_argument_list_reads_the_command_lines_arguments(capsys, monkeypatch):
    """main() as the console script calls it: the arguments after the program's name in sys.argv. Linear(8, 4)
    on 2×8 is 2·8·4 = 64 MACs (from sys.argv[0:] the program's name was read as MODEL, from [2:] --input)."""
    import json

    monkeypatch.setattr(sys, "argv", ["torchcount", "torch.nn:Linear(8, 4)", "--input", "2x8", "--format", "json"])
    code = cli.main()
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert json.loads(out)["total"]["macs"] == 64


def test_an_interrupt_is_exit_130_and_one_line(capsys, monkeypatch):
    """Ctrl-C while counting: exit 130 (128 + SIGINT, as a shell reports it) and the one line saying so."""
    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8")
    assert (code, out, err) == (130, "", "torchcount: interrupted\n")


def test_debug_shows_the_traceback_of_a_usage_error_too_and_errors_are_flushed(capsys, monkeypatch):
    """--debug prints the traceback of a usage error (as of a model error) before its one line; without it the
    line alone is written and flushed at once (stderr may hold what ends in no flush)."""
    code, out, err = main(capsys, "torch.nn:Linear(8, 4)", "--input", "2x8", "--sort", "bogus", "--debug")
    assert (code, out) == (2, "")
    assert err.startswith("Traceback (most recent call last):\n") and "cli.UsageError: cannot sort by 'bogus'" in err
    assert err.endswith("\ntorchcount: error: cannot sort by 'bogus'; use params, macs, ops, bytes, calls, activation, "
                        "module, type or steps\n")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8", "--warmup", "0"]) == 2
    assert terminal.shown == "torchcount: error: --warmup, --repeat, --ceiling, --energy and --energy-layers need --measure\n"


def test_a_table_printed_to_an_ascii_stdout_replaces_what_it_cannot_encode(monkeypatch):
    """On a stdout that cannot encode × (an ASCII terminal) the table is printed with '?' for it, exit 0 (an
    UnicodeEncodeError made it a failed run, exit 1): Linear(8, 4)'s input is 2?8."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)
    assert cli.main(["torch.nn:Linear(8, 4)", "--input", "2x8"]) == 0
    stdout.flush()
    assert " 2?8 " in stdout.buffer.getvalue().decode("ascii")


def test_a_models_warning_is_shown_in_full_with_debug_and_not_without(capsys, tmp_path):
    """A warning the model raises (not torchcount's) is left out of the one-line output; --debug writes it
    whole, category and text, once though the model is run more than once (it was not written at all)."""
    source = tmp_path / "tc_warns.py"
    source.write_text("import warnings\nfrom torch import nn\n\n\nclass Warns(nn.Linear):\n"
                      "    def forward(self, x):\n        warnings.warn('tc_warns: odd input')\n"
                      "        return super().forward(x)\n\n\ndef net():\n    return Warns(8, 4)\n")
    code, out, err = main(capsys, f"{source}:net", "--input", "2x8", "--format", "json")
    assert (code, err) == (0, "")
    code, out, err = main(capsys, f"{source}:net", "--input", "2x8", "--format", "json", "--debug")
    assert code == 0 and err.count("UserWarning: tc_warns: odd input\n") == 1, err
