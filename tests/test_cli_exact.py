"""The ``torchcount`` command in process: exit codes and the exact words of errors that no other test pinned
(each found by a mutant of cli.py that every other test let through)."""
import pytest

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
