"""Guarantee 4: clear errors. Each names what went wrong and where."""
import pytest
import torch
from torch import nn

import torchcount
from conftest import needs
from torchcount import CONVENTIONS, ForwardError, RuleError
from torchcount.cost import Cost, Term
from torchcount.export import records


@pytest.mark.parametrize("thing, shown", [
    (lambda x: x, "function"),
    ("resnet18", "str: 'resnet18'"),
    (nn.Linear, "type"),
    (None, "NoneType"),
    ([nn.Linear(2, 2)], "list"),
])
def test_non_module_is_a_type_error_naming_what_was_given(thing, shown):
    with pytest.raises(TypeError, match="torch.nn.Module") as info:
        torchcount.profile(thing, torch.randn(1, 2))
    assert shown in str(info.value)


def test_a_module_class_or_a_builder_given_as_the_model_says_to_build_it():
    with pytest.raises(TypeError, match=r"that is the class, not a model: build one first, Linear\(…\)"):
        torchcount.profile(nn.Linear, torch.randn(1, 2))

    def tiny():
        return nn.Linear(2, 2)

    with pytest.raises(TypeError, match=r"if tiny\(\) builds the model, call it: profile\(tiny\(\), …\)"):
        torchcount.profile(tiny, torch.randn(1, 2))

    def scaled(x, factor=2.0):  # needs an argument: calling it with none, as the hint above says, fails
        return x * factor

    for function, name in ((scaled, "scaled"), (lambda x: x * 2, "<lambda>")):
        with pytest.raises(TypeError) as info:
            torchcount.profile(function, torch.randn(1, 2))
        assert str(info.value).endswith(
            f"; if {name}(…) builds the model, call it with its arguments: profile({name}(…), …); if it computes "
            "on the inputs, call it in the forward of an nn.Module and profile that module")

    def options(*layers, width=4):  # no argument required: may be called as it is
        return nn.Linear(width, width)

    with pytest.raises(TypeError, match=r"if options\(\) builds the model, call it: profile\(options\(\), …\)$"):
        torchcount.profile(options, torch.randn(1, 2))


def test_a_convention_misspelt_is_named_with_the_closest():
    with pytest.raises(ValueError, match=r"unknown convention 'FLOP' \(did you mean 'flops'\?\); valid conventions: flops"):
        torchcount.profile(nn.Linear(2, 2), torch.randn(1, 2), convention="FLOP")
    with pytest.raises(ValueError) as info:  # nothing close: no guess
        torchcount.profile(nn.Linear(2, 2), torch.randn(1, 2), convention="xyz")
    assert "did you mean" not in str(info.value)


@needs("torch.export naming each node's module by its path")
def test_an_exported_program_given_as_the_model_says_to_profile_its_module():
    x = torch.randn(1, 2)
    program = torch.export.export(nn.Linear(2, 2), (x,))
    with pytest.raises(TypeError, match=r"got ExportedProgram: .*profiled as its module: profile\(ep\.module\(\), …\)"):
        torchcount.profile(program, x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.head = nn.Linear(5, 2)  # 6 features in, 5 expected: fails

    def forward(self, x):
        return self.head(self.proj(x))


def test_forward_error_names_the_failing_module_and_its_input_shapes():
    model = nn.Sequential(nn.ReLU(), Block())
    with pytest.raises(ForwardError) as info:
        torchcount.profile(model, torch.randn(3, 8))
    err = info.value
    assert err.path == "1.head"
    assert err.input_shapes == [(3, 6)]
    assert "'1.head'" in str(err) and "Linear" in str(err) and "3×6" in str(err)
    assert isinstance(err.__cause__, RuntimeError)  # the original exception, chained
    assert "mat1 and mat2" in str(err.__cause__)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


class _HandlesThenFails(nn.Module):
    """Tries a Linear on the wrong width, handles its error, then raises one of its own."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(5, 2))

    def forward(self, x):
        try:
            self.inner(x)
        except RuntimeError:
            pass
        raise ValueError("the block's own error")


def test_an_error_handled_inside_the_forward_is_not_blamed_for_a_later_one():
    """The Linear's error was caught: the ValueError is the block's (it was blamed on the Linear)."""
    with pytest.raises(ForwardError, match=r"module '1' \(_HandlesThenFails\) .*ValueError: the block's own") as info:
        torchcount.profile(nn.Sequential(nn.ReLU(), _HandlesThenFails()), torch.randn(3, 8))
    assert info.value.path == "1"
    # an error raised while handling another (or from it) is still the innermost module's
    class Rethrows(_HandlesThenFails):
        def forward(self, x):
            try:
                self.inner(x)
            except RuntimeError as exc:
                raise ValueError("wrapped") from exc
    with pytest.raises(ForwardError, match=r"module 'inner.0' \(Linear\) .*ValueError: wrapped") as info:
        torchcount.profile(Rethrows(), torch.randn(3, 8))
    assert info.value.path == "inner.0"


def _nested():
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Tanh()))


@pytest.mark.parametrize("where, register, stage, path", [
    ("a pre-hook of 2.1", lambda m: m[2][1].register_forward_pre_hook(lambda mod, args: 1 / 0), "pre-hook", "2.1"),
    ("a hook of 2.0", lambda m: m[2][0].register_forward_hook(lambda mod, args, out: 1 / 0), "hook", "2.0"),
    ("a hook of the root", lambda m: m.register_forward_hook(lambda mod, args, out: 1 / 0), "hook", ""),
])
def test_an_error_in_a_users_hook_names_the_hooked_module(where, register, stage, path):
    """The wrappers see forwards only: an error in a hook was blamed on the hooked module's caller
    ('2' for a hook of '2.1'), or, for the root's own hook, said no module had run."""
    model = _nested()
    handle = register(model)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(model, torch.randn(3, 4))
    err = info.value
    assert err.path == path and err.input_shapes == [(3, 4)], where
    assert f"in a forward {stage} of module '{path or '(root)'}'" in str(err) and "ZeroDivisionError" in str(err)
    handle.remove()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_forward_error_in_the_root_module_itself():
    class Root(nn.Module):
        def forward(self, x, y):
            raise KeyError("missing")

    with pytest.raises(ForwardError) as info:
        torchcount.profile(Root(), (torch.randn(2, 3), torch.zeros(4, dtype=torch.long)))
    assert info.value.path == ""
    assert info.value.input_shapes == [(2, 3), (4,)]
    assert "'(root)'" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)


def test_a_torchscript_failure_says_what_went_wrong_first():
    """A TorchScript module's failure comes with the interpreter's traceback of its serialized code, and says
    what went wrong on its last line, which a one-line message cut at 500 characters lost. The error leads
    with that line, then the innermost call the interpreter ran (a convolution given 2 channels, not 3)."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))

        def forward(self, x):
            return self.body(x)

    with pytest.raises(ForwardError) as info:
        torchcount.profile(torch.jit.script(Net()), torch.randn(1, 2, 4, 4))
    message = str(info.value)
    assert message.startswith("forward failed in module '(root)' (RecursiveScriptModule) with input shapes "
                              "1×2×4×4: RuntimeError: Given groups=1, weight of size [4, 3, 3, 3], expected "
                              "input[1, 2, 4, 4] to have 3 channels, but got 2 channels instead"), message
    assert message.endswith(" (in TorchScript, at return F.conv2d(…))") and "<--- HERE" not in message, message
    assert info.value.reason.startswith("RuntimeError: Given groups=1") and info.value.path == ""
    assert isinstance(info.value.__cause__, RuntimeError)


def test_wrong_number_of_arguments_is_a_forward_error():
    with pytest.raises(ForwardError) as info:
        torchcount.profile(nn.Linear(2, 2), (torch.randn(1, 2), torch.randn(1, 2)))
    assert isinstance(info.value.__cause__, TypeError)


class Throwaway(nn.Linear):
    """A subclass with a rule of its own (a broken one), registered only for this test."""


@torchcount.module_rule(Throwaway)
def broken_rule(module, call):
    raise ZeroDivisionError("deliberately broken")


def test_rule_error_names_the_rule_and_the_module():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(Throwaway(4, 2)))
    with pytest.raises(RuleError) as info:
        torchcount.profile(model, torch.randn(3, 4))
    text = str(info.value)
    assert "broken_rule" in text
    assert "'1.0'" in text and "Throwaway" in text and "(3, 4)" in text
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert all(not m._forward_hooks for m in model.modules())


def test_a_rule_returning_a_bad_category_fails_at_the_term():
    with pytest.raises(ValueError, match="unknown cost category 'flops'"):
        Term("flops", "x", "x", "x", 1)


@pytest.mark.parametrize("name", ["FLOPz", "bogus", "", None, 3])
def test_bad_convention_lists_the_valid_ones(name):
    with pytest.raises(ValueError) as info:
        torchcount.profile(nn.Linear(2, 2), torch.randn(1, 2), convention=name)
    for valid in CONVENTIONS:
        assert valid in str(info.value)


def test_bad_convention_fails_before_the_forward_runs():
    calls = []

    class Spy(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    with pytest.raises(ValueError):
        torchcount.profile(Spy(), torch.randn(1), convention="nope")
    assert calls == []


def test_unknown_keyword_without_measure_is_a_type_error_before_the_forward():
    calls = []

    class Spy(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    with pytest.raises(TypeError, match="warmup"):
        torchcount.profile(Spy(), torch.randn(1, 2), warmup=3)
    assert calls == []


def test_uncounted_work_is_reported_never_a_silent_zero():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.special.chebyshev_polynomial_t(x, torch.full_like(x, 3.0))  # no formula: its degree is a tensor

    with pytest.warns(torchcount.UncountedWarning, match="chebyshev"):
        report = torchcount.profile(Odd(), torch.rand(3) + 2)
    assert not report.complete
    assert [u.what for u in report.uncounted] == ["aten.special_chebyshev_polynomial_t.default"]
    assert report.coverage < 1.0


def test_record_ops_off_reports_unpriced_modules_as_uncounted():
    """Without op recording, a module without a rule cannot be priced: not a silent zero."""
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 4))
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x @ self.w)

    model = nn.Sequential(Functional())
    with pytest.warns(torchcount.UncountedWarning):
        report = torchcount.profile(model, torch.randn(3, 4), record_ops=False)
    assert [(u.path, u.type) for u in report.uncounted] == [("0", "Functional")]
    assert report.total.macs == 3 * 4 * 4  # lin only: x @ w was not recorded
    assert not report.complete
    # with op recording (the default) the matmul is priced: 2 × rows·n·k
    assert torchcount.profile(model, torch.randn(3, 4)).total.macs == 2 * 3 * 4 * 4


def test_record_ops_off_marks_a_parents_own_row_as_uncounted():
    """A parent shown for its own part ("0 (self)", its child a row of its own) whose own ops were
    not recorded is marked †, in the table and in the CSV's uncounted column: its 0 there is not a
    count (it showed a plain 0 beside a complete-looking row)."""
    class Gained(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(8))
            self.lin = nn.Linear(8, 8)

        def forward(self, x):
            return x * self.gain + self.lin(x)  # a multiply and an add per element: not recorded

    model = nn.Sequential(Gained())
    report = torchcount.profile(model, torch.randn(2, 8), record_ops=False, warn=False)
    row = report.row("0")
    assert row.status == "partial" and sum(row.uncounted_ops.values()) == 1
    assert report.total.macs == 2 * 8 * 8  # lin only
    own_line = next(line for line in report.table().splitlines() if "0 (self)" in line)
    assert "†" in own_line
    own = next(r for r in records(report)[1] if r["path"] == "0" and r["part"] == "self")
    assert own["uncounted"] == 1
    # recorded (the default), the same row is complete: 16 multiplications and 16 additions
    counted = torchcount.profile(model, torch.randn(2, 8))
    assert counted.complete and counted.row("0").self_cost.mults == 16


class ReturnsNone(nn.Linear):
    """Another throwaway subclass, whose rule forgets to return its Cost."""


@torchcount.module_rule(ReturnsNone)
def forgetful_rule(module, call):
    Cost.of(Term("macs", "x", "x", "x", 1))  # no return


def test_rule_returning_something_else_than_a_cost_is_a_rule_error():
    with pytest.raises(RuleError, match=r"forgetful_rule.*returned NoneType.*'0' \(ReturnsNone\)"):
        torchcount.profile(nn.Sequential(ReturnsNone(2, 2)), torch.randn(1, 2))


@pytest.mark.filterwarnings("ignore::UserWarning")  # nested tensors are a prototype API
def test_a_nested_input_of_four_components_names_all_four_and_of_five_the_first_four_then_an_ellipsis():
    """The error names the ragged shapes given (1×8, 2×8, 3×8, 4×8): four are all named, a fifth (5×8) is
    left to '…' — an ellipsis after exactly four names survived a profile.py mutant."""
    lin = nn.Linear(8, 2)
    for n, named in ((4, "1×8, 2×8, 3×8, 4×8)"), (5, "1×8, 2×8, 3×8, 4×8 …)")):
        nested = torch.nested.nested_tensor([torch.randn(k, 8) for k in range(1, n + 1)])
        with pytest.raises(TypeError) as caught:
            torchcount.profile(lin, nested)
        assert f"(ragged shapes: {named};" in str(caught.value)


@pytest.mark.filterwarnings("ignore::UserWarning")  # nested tensors are a prototype API
@pytest.mark.parametrize("layout", [torch.strided, torch.jagged])
def test_a_nested_tensor_is_a_clear_error_and_the_model_is_left_as_found(layout):
    lin = nn.Linear(8, 16)
    nested = torch.nested.nested_tensor([torch.randn(3, 8), torch.randn(5, 8)], layout=layout)
    # an input: said before the forward runs, with what to do instead (was an internal size error
    # blamed on "before any module ran", or a rule's error about a 'NestedIntNode')
    with pytest.raises(TypeError, match=r"nested tensor \(ragged shapes: 3×8, 5×8\).*to_padded_tensor"):
        torchcount.profile(lin, nested)

    class MakesOne(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 16)

        def forward(self, a, b):
            return self.lin(torch.nested.nested_tensor([a, b], layout=layout))

    model = MakesOne()
    # made inside the forward: the strided layout has no sizes to record (the forward stops, in a
    # named module); the jagged one has a ragged size, which the Linear's rule cannot price
    with pytest.raises((ForwardError, RuleError), match="nested tensor") as caught:
        torchcount.profile(model, (torch.randn(3, 8), torch.randn(5, 8)))
    assert "'(root)' (MakesOne)" in str(caught.value) or "'lin' (Linear)" in str(caught.value)
    for m in (lin, model, model.lin):
        assert "forward" not in m.__dict__ and not m._forward_hooks


@pytest.mark.filterwarnings("ignore::UserWarning")  # sparse CSR is a beta API
def test_a_sparse_input_is_priced_on_its_stored_values_with_a_note():
    """Until 2026-12-03 a layer's rule counted a sparse input as dense (4·8·16 = 512 MACs here, with a
    note); the layer is now priced from the sparse ops it ran (tests/test_sparse.py)."""
    x = torch.zeros(4, 8)
    x[0, 1] = x[2, 5] = 1.0  # 2 non-zeros: a sparse kernel does a fraction of the dense work
    for sparse in (x.to_sparse(), x.to_sparse_csr()):
        report = torchcount.profile(nn.Linear(8, 16), sparse)
        # F.linear's addmm: each of the 2 stored values times a row of Wᵀ (16 MACs), plus the bias on 4×16 outputs
        assert (report.total.macs, report.total.cost.adds, report.coverage) == (2 * 16, 4 * 16, 1.0)
        assert any("priced on the values they store" in n and str(sparse.layout).removeprefix("torch.") in n
                   for n in report.notes)
    assert not any("sparse" in n for n in torchcount.profile(nn.Linear(8, 16), x).notes)


@pytest.mark.filterwarnings("ignore::UserWarning")  # nested tensors are a prototype API
def test_nested_tensors_made_by_an_unseen_encoder_are_listed_as_uncounted():
    # a TransformerEncoder given a padding mask, in eval under no_grad, runs on nested tensors.
    # torchcount turns that off for an encoder it sees; one it cannot see (scripted, or held in a
    # plain list) makes them inside an op-recorded forward: those ops have no shape to record and
    # are listed as uncounted (it used to fail the whole profile)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, 0.0, batch_first=True), 1).eval()
    x, mask = torch.randn(2, 3, 4), torch.tensor([[0, 0, 1], [0, 1, 1]]).bool()
    with torch.no_grad(), pytest.warns(torchcount.UncountedWarning, match="on nested tensors"):
        report = torchcount.profile(torch.jit.script(enc), (x,), kwargs={"src_key_padding_mask": mask})
    assert not report.complete
    assert "aten._transformer_encoder_layer_fwd.default (on nested tensors)" in {u.what for u in report.uncounted}
    # seen, the same encoder is counted whole
    with torch.no_grad():
        seen = torchcount.profile(enc, (x,), kwargs={"src_key_padding_mask": mask}, warn=False)
    assert seen.complete and seen.total.macs > 0


def test_a_shape_given_instead_of_a_tensor_is_named():
    """profile(model, (1, 3, 8, 8)) as torchinfo takes it: the error said 'input shapes none' and
    Python's 'takes 2 positional arguments but 5 were given'."""
    with pytest.raises(torchcount.ForwardError, match=r"no tensor input \(int, int, int, int\).*"
                                                        r"pass torch.randn\(1, 3, 8, 8\) or input_size=\(1, 3, 8, 8\)"):
        torchcount.profile(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 8, 8))


def test_a_non_tensor_input_is_named_by_its_type():
    """Objects the capture keeps as '<type>' strings were all named 'str' in the error."""
    import numpy as np

    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ForwardError, match=r"no tensor input \(generator\)"):
        torchcount.profile(model, (t for t in [torch.randn(1, 4)]))
    with pytest.raises(ForwardError, match=r"no tensor input \(ndarray\).*torch.from_numpy"):
        torchcount.profile(model, np.zeros((1, 4), "float32"))


class _Then(nn.Module):
    """A Linear, then a step whose output depends on the values."""

    def __init__(self, step):
        super().__init__()
        self.proj, self.step = nn.Linear(4, 4), step

    def forward(self, x):
        return self.step(self.proj(x))


_DATA_DEPENDENT = {
    "if on a tensor": lambda y: y if y.sum() > 0 else -y,  # Tensor.item()
    "nonzero": lambda y: y.nonzero(),
    "boolean mask": lambda y: y[y > 0],
    "unique": lambda y: torch.unique(y),
    "tolist": lambda y: torch.tensor(y.tolist()),
    # a tensor made on the CPU in the forward: meta's kernels refuse it (a GPU takes a CPU scalar; SEW-D)
    "cpu scalar in masked_fill": lambda y: y.masked_fill(y > 0, torch.tensor(-1.0)),
    "cpu tensor added": lambda y: y + torch.ones(4),
}
_META_SECTION = 'docs/performance.md, "Counting on the meta device"'


@pytest.mark.parametrize("step", list(_DATA_DEPENDENT.values()), ids=list(_DATA_DEPENDENT))
def test_a_data_dependent_op_on_meta_gets_one_hint_to_the_meta_section(step):
    """On meta, torch's own words for these are long (nonzero's suggests a flag that does not make the
    count right) or say nothing of why: the error adds one line on what meta cannot run, and where
    the docs say what to do. The same model counts on the CPU (the hint is no excuse for a bug)."""
    from pathlib import Path

    assert torchcount.profile(_Then(step), torch.randn(2, 4)).total.macs == 2 * 4 * 4
    with torch.device("meta"):
        model = _Then(step)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(model, torch.empty(2, 4, device="meta"))
    text = str(info.value)
    assert info.value.path == "" and text.count("hint: meta tensors have no values") == 1 and _META_SECTION in text
    # a model without parameters, known to be on meta by its input only
    without_params = _Then(step)
    without_params.proj = nn.Identity()
    with pytest.raises(ForwardError, match="hint: meta tensors have no values"):
        torchcount.profile(without_params, torch.empty(2, 4, device="meta"))
    doc = (Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text()
    assert "\n## Counting on the meta device\n" in doc  # the section the hint names


def test_an_error_that_is_not_metas_gets_no_meta_hint():
    """A wrong input shape on meta fails on the CPU alike, and an error on the CPU that names
    .item() is the model's own: neither gets the hint."""
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ForwardError) as info:
        torchcount.profile(model, torch.empty(2, 5, device="meta"))
    assert "hint: meta" not in str(info.value)

    def refuse(y):
        raise RuntimeError("x.item() is not allowed here")

    with pytest.raises(ForwardError, match=r"item\(\) is not allowed here") as info:
        torchcount.profile(_Then(refuse), torch.randn(2, 4))
    assert "hint: meta" not in str(info.value)


class _SparseGCN(nn.Module):
    """A graph layer: a sparse COO adjacency buffer (3 nodes) times the node features, then a Linear."""

    def __init__(self):
        super().__init__()
        self.register_buffer("adj", torch.sparse_coo_tensor(torch.tensor([[0, 1, 2], [1, 2, 0]]), torch.ones(3),
                                                            (3, 3)))
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(torch.mm(self.adj, x))


@pytest.mark.filterwarnings("ignore::UserWarning")  # (sparse invariant checks)
def test_an_op_without_a_kernel_for_meta_sparse_tensors_gets_the_hint_and_a_users_not_implemented_does_not():
    """On meta, torch.mm of a sparse adjacency raises NotImplementedError "Could not run 'aten::mm' with
    arguments from the 'SparseMeta' backend" (torch 2.11: no word of 'meta tensors'): it needs real values
    (the CPU runs it), so the error carries the meta hint, and the error made of it is one (the command line's
    question: count on the CPU instead?). A NotImplementedError of the model's own (a head left abstract)
    fails on the CPU alike: no hint. Reading the cause of the error made of it as that error, or any
    NotImplementedError or any 'could not run' as meta's, survived profile.py mutants."""
    from torchcount.profile import needs_real_values

    assert torchcount.profile(_SparseGCN(), torch.randn(3, 4)).total.params == 4 * 2 + 2
    with pytest.raises(ForwardError) as info:
        torchcount.profile(_SparseGCN().to("meta"), torch.randn(3, 4, device="meta"))
    text = str(info.value)
    assert "Could not run 'aten::mm' with arguments from the 'SparseMeta' backend" in text
    assert text.count("hint: meta tensors have no values") == 1 and needs_real_values(info.value)

    def abstract(y):
        raise NotImplementedError("this head is left to a subclass")

    for device in ("cpu", "meta"):
        with torch.device(device):
            model = _Then(abstract)
        with pytest.raises(ForwardError, match="this head is left to a subclass") as info:
            torchcount.profile(model, torch.empty(2, 4, device=device))
        assert "hint: meta" not in str(info.value) and not needs_real_values(info.value)


def test_a_model_and_inputs_on_different_devices_get_a_hint_naming_both():
    """A model built on meta given CPU inputs (or the other way round): torch names the first op's two
    devices only; the error names where the weights and the inputs are, and how to bring them together
    (not the meta hint about values, which is not the cause)."""
    with torch.device("meta"):
        on_meta = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with pytest.raises(ForwardError) as info:
        torchcount.profile(on_meta, torch.randn(2, 4))
    assert "the model's weights are on meta, its inputs on cpu" in str(info.value)
    assert "torchcount.make_inputs(shape, device='meta')" in str(info.value)
    with pytest.raises(ForwardError) as info:
        torchcount.profile(nn.Sequential(nn.Linear(4, 4)), torch.empty(2, 4, device="meta"))
    text = str(info.value)
    assert "the model's weights are on cpu, its inputs on meta" in text and "hint: meta" not in text
    # inputs on the model's device that fail for another reason: no device hint
    with pytest.raises(ForwardError) as info:
        torchcount.profile(on_meta, torch.empty(2, 5, device="meta"))
    assert "weights are on" not in str(info.value)


def test_a_list_given_for_several_inputs_gets_a_hint_to_pass_a_tuple():
    """profile(model, [a, b]) gives the forward one argument, the list (a detection model's list of
    images); a forward that wanted two fails on the list: the error says to pass a tuple."""
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, a, b=None):
            return self.lin(a) + (0 if b is None else b)

    with pytest.raises(ForwardError, match=r"a list is one input.*pass a tuple, profile\(model, \(a, b\)\)"):
        torchcount.profile(Two(), [torch.randn(2, 4), torch.randn(2, 4)])
    report = torchcount.profile(Two(), (torch.randn(2, 4), torch.randn(2, 4)))  # (as the hint says)
    assert report.total.macs == 2 * 4 * 4
    with pytest.raises(ForwardError) as info:  # another failure, a tuple given: no such hint
        torchcount.profile(Two(), (torch.randn(2, 5), torch.randn(2, 4)))
    assert "a list is one input" not in str(info.value)


def test_report_views_check_their_arguments():
    """depth was checked by table() alone (to_csv(depth=-1) wrote a header-only CSV, compare and
    the plots raised a TypeError comparing int and str); a path that is not a str raised an
    AttributeError from inside row()."""
    pytest.importorskip("matplotlib")
    from torchcount.analysis.plots import plot_layers, plot_roofline, plot_scaling

    model = nn.Sequential(nn.Linear(4, 4))
    report = torchcount.profile(model, torch.randn(1, 4))
    for depth in (-1, "a", 1.5, True):
        for view in (lambda: report.to_csv(depth=depth), lambda: report.to_dataframe(depth=depth)
                     if _has_pandas() else report.table(depth=depth),
                     lambda: torchcount.compare(report, report, depth=depth), lambda: plot_layers(report, depth=depth)):
            with pytest.raises(ValueError, match="depth must be None or an int ≥ 0"):
                view()
    for path in (None, 0, ["0"]):
        with pytest.raises(TypeError, match="module path, a str"):
            report.explain(path)
    with pytest.raises(TypeError, match="plot_layers expects a torchcount.Report"):
        plot_layers(model)
    with pytest.raises(TypeError, match="plot_roofline expects a torchcount.Report"):
        plot_roofline(model)
    with pytest.raises(TypeError, match="plot_scaling expects the result of torchcount.scaling"):
        plot_scaling(report)
    with pytest.raises(ValueError, match="peak_flops must be a positive number"):
        plot_roofline(report, peak_flops="a")


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def test_a_users_rule_returning_negative_counts_and_rules_registered_for_a_non_op_or_non_module_are_errors():
    """A rule returning MACs −5 gave a table with −5 and a wrong total; op_rule(5) and
    op_rule('aten.mm') registered nothing, silently."""
    class Doubles(nn.Module):
        def forward(self, x):
            return x * 2

    @torchcount.module_rule(Doubles)
    def doubles_rule(module, call):
        return Cost.of(Term("macs", "MACs", "−5", "−5", -5))

    with pytest.raises(RuleError, match=r"doubles_rule' for module '0' \(Doubles\) returned negative counts: macs -5"):
        torchcount.profile(nn.Sequential(Doubles()), torch.randn(2))
    for not_an_op in (5, "aten.mm"):
        with pytest.raises(TypeError, match="op_rule takes aten ops"):
            torchcount.op_rule(not_an_op)
    # a class that is not a module (int), or not a class at all: refused at registration, not a rule
    # registered for a type no module has
    for not_a_module in (int, "Linear", nn.Linear(2, 2)):
        with pytest.raises(TypeError, match="module_rule takes nn.Module subclasses"):
            torchcount.module_rule(not_a_module)
    with pytest.raises(TypeError, match="a module instance, such as Linear"):  # was None, silently
        torchcount.rule_for(nn.Linear)


def test_analyses_say_which_size_or_variant_failed_and_check_their_arguments():
    from torchcount.analysis.scaling import fit_reports

    lin = nn.Linear(8, 8)
    with pytest.raises(ForwardError, match=r"^scaling at T=4: forward failed in module '\(root\)'") as info:
        torchcount.scaling(lin, lambda t: torch.randn(1, t, 8 if t < 4 else 9), [2, 4])
    assert info.value.input_shapes == [(1, 4, 9)]
    with pytest.raises(ForwardError, match=r"^compare, variant B: forward failed"):
        torchcount.compare(lin, nn.Linear(5, 5), torch.randn(1, 8))
    with pytest.raises(TypeError, match="sizes is a list of sizes"):
        torchcount.scaling(lin, lambda t: torch.randn(1, t, 8), 5)
    with pytest.raises(ValueError, match="sizes must be positive numbers"):
        torchcount.scaling(lin, lambda t: torch.randn(1, t, 8), [True, 2])
    for reports in ([], [1, 2]):
        with pytest.raises(TypeError, match="reports are torchcount.Report objects"):
            fit_reports(reports, list(range(1, len(reports) + 1)))
    report = torchcount.profile(lin, torch.randn(1, 8))
    with pytest.raises(TypeError, match="only apply to models"):  # was ignored silently
        torchcount.compare(report, report, inputs_b=torch.randn(1, 8))
    with pytest.raises(TypeError, match="names is a pair of strings"):
        torchcount.compare(report, report, names=("a", "b", "c"))


def test_profile_checks_its_flags_kwargs_and_export_paths():
    lin, x = nn.Linear(2, 2), torch.randn(1, 2)
    with pytest.raises(TypeError, match="kwargs= is a dict"):
        torchcount.profile(lin, x, kwargs=[1])
    with pytest.raises(TypeError, match="record_ops must be True or False"):
        torchcount.profile(lin, x, record_ops="no")
    report = torchcount.profile(lin, x)
    assert report.with_convention("MACS").total.flops == 4  # any case, as the CLI takes it
    with pytest.raises(TypeError, match="path is a file name"):  # 5 was taken as a file descriptor
        report.to_csv(5)
