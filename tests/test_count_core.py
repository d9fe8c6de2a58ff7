"""count.py's core — pricing a call, its hooks' ops, uncounted calls, rows, chains and the module
tree — on models small enough that every number is worked by hand in the test's docstring."""
import functools

import pytest
import torch
from torch import nn

import torchcount
from conftest import needs

# an op nobody has a formula for (torch.library.Library: torch 2.2 has it too); its own namespace
_LIB = torch.library.Library("torchcount_count_core", "DEF")
_LIB.define("opaque(Tensor x) -> Tensor")
_LIB.impl("opaque", lambda x: x.clone(), "CompositeExplicitAutograd")
OPAQUE = "torchcount_count_core.opaque.default"
_LIB.define("other_opaque(Tensor x) -> Tensor")  # a second one, to tell two uncounted ops apart
_LIB.impl("other_opaque", lambda x: x.clone(), "CompositeExplicitAutograd")
_LIB.define("negative(Tensor x) -> Tensor")  # its rule (a user's, registered below) returns MACs −1
_LIB.impl("negative", lambda x: x.clone(), "CompositeExplicitAutograd")


class Opaque(nn.Module):
    """A leaf with no rule: one op with a formula (x·2) and one without."""

    def forward(self, x):
        return torch.ops.torchcount_count_core.opaque(x * 2)


def test_a_hook_that_runs_an_op_without_a_formula_adds_to_the_calls_own_uncounted_ops():
    """A child Opaque's forward runs opaque once; its forward hook runs it once more: its row lists it
    twice, the forward's and the hook's (not the hook's alone), and its own x·2 (8 multiplications on
    a 2×4 input) is still counted."""
    m = Opaque()
    m.register_forward_hook(lambda mod, args, out: torch.ops.torchcount_count_core.opaque(out))
    report = torchcount.profile(nn.Sequential(m), torch.randn(2, 4), warn=False)
    assert report.row("0").uncounted_ops == {OPAQUE: 2} and report.row("0").status == "partial"
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("0", OPAQUE, 2)]
    assert report.total.cost.mults == 8


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def test_a_nested_call_from_its_own_parent_is_not_called_from_outside():
    """inner.fc is called by inner, its parent: the usual call, so no row says it was called from
    elsewhere and no note says so (reading the path's last part as its parent made every nested
    module one called from outside)."""
    report = torchcount.profile(nn.Sequential(Inner()), torch.randn(2, 4), warn=False)
    assert [(r.path, r.called_from) for r in report.layers] == [("0", ()), ("0.fc", ())]
    assert not any("called from outside" in n for n in report.notes)
    assert all(r.tree_cost is None for r in report.layers)


class Deep(nn.Module):
    """A ModuleList two levels down, never called itself: its parent calls each layer."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Module()
        self.enc.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])

    def forward(self, x):
        for layer in self.enc.layers:
            x = layer(x)
        return x


def test_a_group_row_has_the_depth_of_its_path():
    """enc and enc.layers are never called; each gets a group row at its path's depth (enc 1,
    enc.layers 2, its layers 3), holding both Linears: 2·(2·4·4) = 64 MACs, 2·(16 + 4) = 40 params."""
    report = torchcount.profile(Deep(), torch.randn(2, 4), warn=False)
    rows = [(r.path, r.depth, r.calls, r.cost.macs, r.params) for r in report.layers]
    assert rows == [("enc", 1, 0, 64, 40), ("enc.layers", 2, 0, 64, 40),
                    ("enc.layers.0", 3, 1, 32, 20), ("enc.layers.1", 3, 1, 32, 20)]


def test_a_root_priced_by_a_rule_names_its_rule_and_one_call():
    """An nn.Linear profiled by itself: its one row is the root, priced by the linear rule,
    called once, 2·3·5 = 30 MACs."""
    report = torchcount.profile(nn.Linear(3, 5), torch.randn(2, 3), warn=False)
    assert [(r.path, r.rule, r.calls, r.status, r.cost.macs) for r in report.layers] == \
        [("", "linear.linear", 1, "rule", 30)]


class Clone(nn.Module):
    def forward(self, x):
        return x.clone()


def test_a_copy_of_one_byte_is_a_step():
    """x.clone() of a one-element int8 tensor computes nothing but writes 1 byte of new memory:
    one sequential step (a view, writing nothing, is none)."""
    report = torchcount.profile(Clone(), torch.ones(1, dtype=torch.int8), warn=False)
    assert report.root.self_cost.bytes_written == 1 and report.root.self_cost.is_zero()
    assert report.root.extra["steps"] == 1
    assert any("longest chain: 1 sequential step " in n for n in report.notes)


class Enc(nn.Module):
    """Calls a Linear registered elsewhere (on the root) through a plain reference."""

    def __init__(self, fc):
        super().__init__()
        object.__setattr__(self, "ext", fc)

    def forward(self, x):
        return self.ext(x)


class CrossStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.enc = Enc(self.fc)

    def forward(self, x):
        return self.enc(x)

    def train_step(self, x):
        self(x).sum().backward()


def test_a_call_from_outside_the_tree_with_a_backward_sums_the_backward_by_the_tree():
    """fc (on the root) is called by enc. x needs no gradient, so fc's backward is its weight's
    gradient only: grad_outᵀ (4×2) @ x (2×4), 4·2·4 = 32 MACs (the bias's is a sum). By the tree,
    fc's row holds those 32, enc (nothing below it) 0, the root all 32."""
    report = torchcount.profile(CrossStep(), torch.randn(2, 4), method="train_step", warn=False)
    assert report.row("fc").called_from == ("enc",)
    assert {r.path: r.tree_extra for r in report.layers} == {
        "": {"backward_MACs": 32}, "fc": {"backward_MACs": 32}, "enc": {"backward_MACs": 0}}



class CrossStepWithSpare(CrossStep):
    """CrossStep with a Linear never called (spare)."""

    def __init__(self):
        super().__init__()
        self.spare = nn.Linear(4, 4)


def test_a_module_never_called_has_no_backward_by_the_tree():
    """As above, with spare never called: by the tree it holds no backward, 0 (no row below it ran
    any), beside fc's 32."""
    report = torchcount.profile(CrossStepWithSpare(), torch.randn(2, 4), method="train_step", warn=False)
    assert report.row("spare").status == "not called"
    assert {r.path: r.tree_extra for r in report.layers} == {
        "": {"backward_MACs": 32}, "fc": {"backward_MACs": 32}, "enc": {"backward_MACs": 0},
        "spare": {"backward_MACs": 0}}

class WithSpare(Inner):
    def __init__(self):
        super().__init__()
        self.spare = nn.Linear(4, 2)  # never called


def test_a_module_never_called_has_the_depth_of_its_path():
    """0.spare, never called, gets a row right after its called parent's: depth 2 (two names in its path),
    its 4·2 + 2 = 10 parameters, no work; the total holds them (20 + 10)."""
    report = torchcount.profile(nn.Sequential(WithSpare()), torch.randn(2, 4), warn=False)
    assert [(r.path, r.depth, r.status, r.params, r.cost.macs) for r in report.layers] == [
        ("0", 1, "container", 30, 32), ("0.spare", 2, "not called", 10, 0), ("0.fc", 2, "rule", 20, 32)]
    assert report.total.params == 30


def test_the_roots_own_hooks_add_their_work_to_the_root():
    """A Linear(4, 4) profiled alone with a forward hook doubling its 2×4 output: the root's row and
    the total hold the Linear's 2·4·4 = 32 MACs and the hook's 8 multiplications, its own work."""
    m = nn.Linear(4, 4)
    m.register_forward_hook(lambda mod, args, out: out * 2)
    report = torchcount.profile(m, torch.randn(2, 4), warn=False)
    assert (report.root.cost.macs, report.root.cost.mults) == (32, 8)
    assert (report.root.self_cost.macs, report.root.self_cost.mults) == (32, 8)
    assert (report.total.macs, report.total.cost.mults) == (32, 8)


def test_the_roots_hooks_add_a_step_where_they_compute_and_their_ops_to_the_coverage_count():
    """A Linear(4, 4) profiled alone is 1 step and 1 counted item. A forward hook on it that doubles the
    output computes (8 mults): one more step after the Linear's, 2, and its op is counted beside the
    call, 2 items. A hook that only takes a view computes nothing: still 1 step, and its op is still counted, 2 items. A hook running an op without a formula may compute: 2 steps."""
    def hooked(hook):
        m = nn.Linear(4, 4)
        m.register_forward_hook(hook)
        report = torchcount.profile(m, torch.randn(2, 4), warn=False)
        return report.root.extra["steps"], str(report).splitlines()[1]

    assert hooked(lambda mod, args, out: None) == (1, "coverage: complete (1 module calls and ops counted)")
    assert hooked(lambda mod, args, out: out * 2) == (2, "coverage: complete (2 module calls and ops counted)")
    assert hooked(lambda mod, args, out: out.view(-1)) == (1, "coverage: complete (2 module calls and ops counted)")
    assert hooked(lambda mod, args, out: torch.ops.torchcount_count_core.opaque(out))[0] == 2


def test_a_rule_that_fails_names_the_module_and_says_nothing_of_ragged_inputs():
    """A user's rule that raises on a plain 2×4 input: the error names the rule, the module's path
    and type and the input's shape, and does not blame a nested tensor (no input is ragged)."""
    from torchcount.count import RuleError

    class Boom(nn.Module):
        def forward(self, x):
            return x + 1

    @torchcount.module_rule(Boom)
    def boom(module, call):
        raise ValueError("no formula here")

    with pytest.raises(RuleError) as caught:
        torchcount.profile(nn.Sequential(nn.Identity(), Boom()), torch.randn(2, 4), warn=False)
    message = str(caught.value)
    assert "for module '1' (Boom) with input shapes [(2, 4)]: no formula here" in message
    assert "ragged" not in message


def test_a_ruled_copy_with_a_hook_that_computes_nothing_is_one_step():
    """ZeroPad2d(1) on 1×4×2×2 computes nothing but writes a new 1×4×4×4 tensor (256 bytes): one step.
    Its forward hook only views the output (no work): no step more, and the pad's own step stays 1."""
    pad = nn.ZeroPad2d(1)
    pad.register_forward_hook(lambda mod, args, out: out.view(-1))
    report = torchcount.profile(nn.Sequential(pad), torch.randn(1, 4, 2, 2), warn=False)
    row = report.row("0")
    assert (row.status, row.self_cost.is_zero(), row.self_cost.bytes_written) == ("rule", True, 256)
    assert row.extra["steps"] == 1


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_other_threads_names_six_modules_then_an_ellipsis(n):
    """n Linears the forward runs in a thread pool: each is listed as uncounted, and the note names
    the first six (sorted: l0…l5), then '…' where there are more (7), none where there are not (6)."""
    from concurrent.futures import ThreadPoolExecutor

    class Pool(nn.Module):
        def __init__(self, pool):
            super().__init__()
            self.pool = pool
            for i in range(n):
                setattr(self, f"l{i}", nn.Linear(2, 2))

        def forward(self, x):
            futures = [self.pool.submit(getattr(self, f"l{i}"), x) for i in range(n)]
            return sum(f.result() for f in futures)

    with ThreadPoolExecutor(2) as pool:
        report = torchcount.profile(Pool(pool), torch.randn(1, 2), warn=False)
    assert sorted(u.path for u in report.uncounted) == [f"l{i}" for i in range(n)]
    note = next(line for line in report.notes if "called in another thread" in line)
    assert note.endswith(": l0, l1, l2, l3, l4, l5" + (" …" if n > 6 else ""))


def test_a_call_that_computes_nothing_is_no_step():
    """nn.Identity (priced by its rule, which counts nothing and moves no bytes) is 0 steps, and so
    is the model's longest chain."""
    report = torchcount.profile(nn.Sequential(nn.Identity()), torch.randn(2, 4), warn=False)
    assert (report.row("0").status, report.row("0").extra["steps"]) == ("rule", 0)
    assert any("longest chain: 0 sequential steps " in n for n in report.notes)
    assert not any("pre-hooks" in n for n in report.notes)


def test_a_covered_calls_hook_ops_without_a_formula_are_listed_beside_process_wide_pre_hooks(ruled_block):
    """RuledBlock's rule covers its fc; fc's forward hook runs opaque (no formula) once. With a
    process-wide pre-hook set, fc's row lists both what those hooks may have done unseen (1) and
    the opaque call (1)."""
    from torch.nn.modules.module import register_module_forward_pre_hook

    from torchcount.count import GLOBAL_PRE_HOOKS

    block = ruled_block()
    block.fc.register_forward_hook(lambda mod, args, out: torch.ops.torchcount_count_core.opaque(out))
    handle = register_module_forward_pre_hook(lambda module, args: None)
    try:
        report = torchcount.profile(nn.Sequential(block), torch.randn(2, 4), warn=False)
    finally:
        handle.remove()
    assert report.row("0.fc").uncounted_ops == {GLOBAL_PRE_HOOKS: 1, OPAQUE: 1}
    assert any("process-wide forward pre-hooks are set" in n for n in report.notes)
    assert sorted((u.path, u.what, u.calls) for u in report.uncounted) == [
        ("0.fc", GLOBAL_PRE_HOOKS, 1), ("0.fc", OPAQUE, 1)]


class Twice(nn.Module):
    """n Linears registered under a and again under b."""

    def __init__(self, n):
        super().__init__()
        self.a = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])
        self.b = nn.ModuleList(list(self.a))

    def forward(self, x):
        return sum(layer(x) for layer in self.a)


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_modules_registered_twice_names_six_then_an_ellipsis(n):
    """Each of n Linears (6 parameters each) is registered at a.i and b.i: counted once in the total
    (6·n), and the note names six pairs, then '…' only where there are more (7)."""
    report = torchcount.profile(Twice(n), torch.randn(1, 2), warn=False)
    assert report.total.params == 6 * n
    note = next(line for line in report.notes if "registered in more than one place" in line)
    assert note.endswith("; ".join(f"a.{i} = b.{i}" for i in range(6)) + (" …" if n > 6 else ""))


class AddOne(nn.Module):
    """fc, then one op of its own (x + 1)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + 1


class CallsTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = AddOne()

    def forward(self, x):
        return self.block(self.block(x))


def test_a_container_called_twice_with_its_own_and_its_hooks_ops_is_priced_from_ops():
    """block, called twice, runs one op of its own (the add) and its hook one (×2) per call:
    4 ops of its own, so its row is 'ops', not a bare container; by hand per call 2·4 adds + 2·4
    multiplications, and fc 2·4·4 = 32 MACs."""
    model = CallsTwice()
    model.block.register_forward_hook(lambda mod, args, out: out * 2)
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    row = report.row("block")
    assert (row.calls, row.status, row.own_ops) == (2, "ops", 4)
    assert (row.self_cost.adds, row.self_cost.mults, row.cost.macs) == (16, 16, 64)
    # counted items: block's 4 ops and fc's 2 rule calls (the root ran no op of its own)
    assert (report.counted_items, report.coverage) == (6, 1.0)


def test_a_container_called_once_with_its_own_and_its_hooks_op_is_priced_from_ops():
    """AddOne called once: its add and its hook's ×2 are 2 ops of its own (1 + 1, not 1 − 1), so its
    row is 'ops', not a bare container."""
    block = AddOne()
    block.register_forward_hook(lambda mod, args, out: out * 2)
    report = torchcount.profile(nn.Sequential(block), torch.randn(2, 4), warn=False)
    row = report.row("0")
    assert (row.calls, row.status, row.own_ops, row.self_cost.adds, row.self_cost.mults) == (1, "ops", 2, 8, 8)


class ListAndSibling(nn.Module):
    """l, a ModuleList never called itself, beside l2, a Linear whose path starts with 'l' too."""

    def __init__(self):
        super().__init__()
        self.l = nn.ModuleList([nn.Linear(4, 4)])
        self.l2 = nn.Linear(4, 3)

    def forward(self, x):
        return self.l2(self.l[0](x))


def test_a_groups_cost_is_its_members_not_a_sibling_with_the_same_prefix():
    """Group l holds l.0 only: 2·4·4 = 32 MACs, 20 parameters; l2 (2·4·3 = 24 MACs) is not below it."""
    report = torchcount.profile(ListAndSibling(), torch.randn(2, 4), warn=False)
    assert [(r.path, r.calls, r.cost.macs, r.params) for r in report.layers] == [
        ("l", 0, 32, 20), ("l.0", 1, 32, 20), ("l2", 1, 24, 15)]


class Tied(nn.Module):
    """n pairs of bias-free Linear(3, 3): b{i}.weight is a{i}.weight."""

    def __init__(self, n):
        super().__init__()
        self.a = nn.ModuleList([nn.Linear(3, 3, bias=False) for _ in range(n)])
        self.b = nn.ModuleList([nn.Linear(3, 3, bias=False) for _ in range(n)])
        for a, b in zip(self.a, self.b):
            b.weight = a.weight

    def forward(self, x):
        for a, b in zip(self.a, self.b):
            x = b(a(x))
        return x


@pytest.mark.parametrize("n", [1, 7])
def test_the_note_on_tied_weights_names_them_six_at_most(n):
    """Each tied weight is 9 parameters, once in the total (9·n); the note names each pair, the
    first six and then '…' where there are more (7)."""
    report = torchcount.profile(Tied(n), torch.randn(1, 3), warn=False)
    assert report.total.params == 9 * n
    note = next(line for line in report.notes if "parameters shared between modules" in line)
    assert note.endswith(": " + "; ".join(f"a.{i}.weight = b.{i}.weight" for i in range(min(n, 6)))
                         + (" …" if n > 6 else ""))


def test_a_rule_priced_call_is_one_counted_item():
    """Linear (by its rule: 1 item) then Opaque (its x·2 counted: 1 item; opaque uncounted: 1):
    2 of 3 items counted."""
    report = torchcount.profile(nn.Sequential(nn.Linear(4, 4), Opaque()), torch.randn(2, 4), warn=False)
    assert report.counted_items == 2
    assert report.coverage == pytest.approx(2 / 3)


class CoveredThenOwn(nn.Module):
    """block's rule covers its fc; the root then calls block.fc on its own too."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block.fc(self.block(x))


def test_a_module_covered_first_and_then_called_on_its_own_is_priced_by_its_own_call(ruled_block):
    """fc's first call is covered by RuledBlock's rule (0 of its own), its second is priced by the
    Linear rule: 2·4·4 = 32 MACs; its row says rule linear.linear, 2 calls, and the block's rule
    (rows·4·4 = 32) is the block's."""
    report = torchcount.profile(CoveredThenOwn(ruled_block()), torch.randn(2, 4), warn=False)
    row = report.row("block.fc")
    assert (row.calls, row.status, row.rule, row.cost.macs) == (2, "rule", "linear.linear", 32)
    assert report.row("block").self_cost.macs == 32 and report.total.macs == 64


def test_an_op_without_a_formula_in_the_roots_forward_and_its_hook_is_one_uncounted_entry():
    """Opaque profiled alone: its forward runs opaque once and its own forward hook (outside the
    forward: the root's hooks) once more. The row says 2, and coverage.uncounted has one entry of 2
    calls for the root, as for any other row (it had two of 1, and the footer named it twice)."""
    m = Opaque()
    m.register_forward_hook(lambda mod, args, out: torch.ops.torchcount_count_core.opaque(out))
    report = torchcount.profile(m, torch.randn(2, 4), warn=False)
    assert report.root.uncounted_ops == {OPAQUE: 2}
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", OPAQUE, 2)]
    assert f"† partially counted: {OPAQUE} ×2 in '(root)'" in str(report).splitlines()
    assert report.to_dict()["coverage"]["uncounted"] == [{"path": "", "type": "Opaque", "op": OPAQUE, "calls": 2}]


def test_a_users_op_rule_returning_negative_counts_is_an_error_naming_the_op():
    """A user's op rule is checked as a user's module rule is: MACs −1 would make a table with −1 and
    a wrong total."""
    from torchcount.cost import Cost, Term
    from torchcount.count import RuleError

    @torchcount.op_rule(torch.ops.torchcount_count_core.negative)
    def negative_rule(op):
        return Cost.of(Term("macs", "MACs", "−1", "−1", -1))

    class Negative(nn.Module):
        def forward(self, x):
            return torch.ops.torchcount_count_core.negative(x)

    with pytest.raises(RuleError, match=r"op rule '([\w.]+\.)?negative_rule' for torchcount_count_core\.negative\.default "
                                        r"returned negative counts: macs -1"):
        torchcount.profile(nn.Sequential(Negative()), torch.randn(2), warn=False)


class CallsRefs(nn.Module):
    """Calls n Linears registered on the root through plain references."""

    def __init__(self, layers):
        super().__init__()
        object.__setattr__(self, "refs", list(layers))

    def forward(self, x):
        return sum(layer(x) for layer in self.refs)


class SevenFromOutside(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.l = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])
        self.user = CallsRefs(self.l)

    def forward(self, x):
        return self.user(x)


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_calls_from_outside_the_tree_names_six_then_an_ellipsis(n):
    """user calls each of n Linears registered under l: each row says called from user, and the note
    names six (l.0…l.5), then '…' only where there are more (7). By the tree, l holds their
    n·(1·2·2) = 4·n MACs and user none."""
    report = torchcount.profile(SevenFromOutside(n), torch.randn(1, 2), warn=False)
    assert [report.row(f"l.{i}").called_from for i in range(n)] == [("user",)] * n
    note = next(line for line in report.notes if line.startswith("called from outside their place"))
    assert note.startswith("called from outside their place in the module tree: "
                           + ", ".join(f"l.{i}" for i in range(6)) + (" …;" if n > 6 else ";"))
    assert (report.row("l").tree_cost.macs, report.row("user").tree_cost.macs) == (4 * n, 0)


class KeywordCall(nn.Module):
    """Calls its Linear with the input as a keyword argument: no positional argument at all."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(input=x)


def test_a_ruled_call_given_only_keyword_arguments_has_the_default_traffic():
    """fc(input=x), x 2×4 float32: 2·4·4 = 32 MACs; it reads x (32 bytes), its weight (64) and bias
    (16), 112 bytes, and writes its 2×4 output, 32 bytes."""
    report = torchcount.profile(KeywordCall(), torch.randn(2, 4), warn=False)
    cost = report.row("fc").self_cost
    assert (cost.macs, cost.bytes_read, cost.bytes_written) == (32, 112, 32)


def test_a_container_priced_from_its_ops_has_its_own_step_beside_its_childrens():
    """AddOne runs fc (its rule: 1 step) and then its own add (1 step): a chain of 2, of which 1 is
    its own (the steps column of its own row, where fc has a row too)."""
    report = torchcount.profile(nn.Sequential(AddOne()), torch.randn(2, 4), warn=False)
    row = report.row("0")
    assert (row.status, row.extra["steps"], row.self_extra["steps"]) == ("ops", 2, 1)
    assert report.row("0.fc").extra["steps"] == 1


class CallsGrandchild(nn.Module):
    """Calls a, and then a.fc itself: a.fc's parent a was called, but not by this call."""

    def __init__(self):
        super().__init__()
        self.a = Inner()

    def forward(self, x):
        return self.a.fc(self.a(x))


def test_a_grandchild_the_root_calls_past_its_called_parent_is_called_from_outside():
    """a.fc is called by a (its parent) and by the root, past a: the root's call is from outside its
    place, so a.fc's row says called from '' (the root) and by the tree a holds both of fc's calls,
    2·(2·4·4) = 64 MACs."""
    report = torchcount.profile(CallsGrandchild(), torch.randn(2, 4), warn=False)
    assert report.row("a.fc").called_from == ("",) and report.row("a.fc").calls == 2
    assert report.row("a").tree_cost.macs == 64 and report.row("a").cost.macs == 32


class Double(nn.Module):
    def forward(self, x):
        return x * 2


def test_the_worked_terms_of_a_call_priced_from_its_ops_are_its_own_then_its_hooks():
    """Double (x·2 on 2×4: 8 multiplications) with a hook adding 1 (8 additions): its row's worked
    terms are both, its forward's first, then the hook's, told apart."""
    m = Double()
    m.register_forward_hook(lambda mod, args, out: out + 1)
    report = torchcount.profile(nn.Sequential(m), torch.randn(2, 4), warn=False)
    assert [(t.category, t.what, t.value) for t in report.row("0").terms] == [
        ("mults", "multiplications (mul)", 8), ("adds", "forward hook: additions (add)", 8)]


class Watch(nn.Module):
    """Looks at its input and returns it unchanged (as an observer does), priced by a user's rule."""

    def forward(self, x):
        self.seen = x.max()
        return x


def test_a_ruled_call_that_returns_its_input_unchanged_writes_nothing():
    """Watch's rule counts 8 comparisons on a 2×4 float32 input; it reads the input (32 bytes) and
    returns the input itself: no byte written (only a module whose ``inplace`` is True writes its
    result over the input it returns)."""
    from torchcount.cost import Cost, Term

    @torchcount.module_rule(Watch)
    def watch_rule(module, call):
        return Cost.of(Term("cmps", "comparisons", "n", "", call.input.numel))

    report = torchcount.profile(nn.Sequential(Watch()), torch.randn(2, 4), warn=False)
    cost = report.row("0").self_cost
    assert (cost.cmps, cost.bytes_read, cost.bytes_written) == (8, 32, 0)


class ForwardsSet(nn.Module):
    """n Linears, each with a forward set on the instance (priced from its ops, not its rule)."""

    def __init__(self, n):
        super().__init__()
        self.n = n
        for i in range(n):
            layer = nn.Linear(2, 2)
            layer.forward = functools.partial(nn.Linear.forward, layer)
            setattr(self, f"l{i}", layer)

    def forward(self, x):
        return sum(getattr(self, f"l{i}")(x) for i in range(self.n))


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_layers_priced_from_their_ops_names_six_then_an_ellipsis(n):
    """Each of n Linears with a forward of the instance's own is priced from its ops: 1·2·2 = 4 MACs
    each, 4·n in all; the note names l0…l5, then '…' only where there are more (7)."""
    report = torchcount.profile(ForwardsSet(n), torch.randn(1, 2), warn=False)
    assert report.total.macs == 4 * n
    note = next(line for line in report.notes if line.startswith("priced from the ops they ran"))
    assert note.endswith(": " + ", ".join(f"l{i}" for i in range(6)) + (" …" if n > 6 else ""))


def test_a_ruled_root_with_a_forward_set_on_it_is_named_the_root_in_the_note():
    """A Linear(4, 4) whose instance holds its own forward (its class's, bound by hand) is priced from its
    ops, 2·4·4 = 32 MACs, and the note names it '(root)', as the table does (its path is empty)."""
    m = nn.Linear(4, 4)
    m.forward = functools.partial(nn.Linear.forward, m)
    report = torchcount.profile(m, torch.randn(2, 4), warn=False)
    assert report.total.macs == 32
    assert "priced from the ops they ran, not their type's rule (a forward set on the instance): (root)" \
        in report.notes


def test_a_parameter_registered_twice_on_a_module_with_buffers_counts_once():
    """A BatchNorm1d(4) whose weight is registered again under a second name: 3 parameter slots and 3
    buffers, but 4 + 4 = 8 parameter elements (the weight once), in the total and in its row; buffers
    4 + 4 + 1 = 9 (running mean, variance, num_batches_tracked)."""
    bn = nn.BatchNorm1d(4).eval()
    bn.register_parameter("alias", bn.weight)
    report = torchcount.profile(bn, torch.randn(2, 4), warn=False)
    assert (report.total.params, report.total.buffers, report.root.params, report.root.self_params) == (8, 9, 8, 8)


class Idle(nn.Module):
    """Calls fc; holds n more Linears it never calls."""

    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        for i in range(n):
            setattr(self, f"l{i}", nn.Linear(2, 2))

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_modules_never_called_names_six_then_an_ellipsis(n):
    """fc is called, l0…l(n−1) never: the note names l0…l5, then '…' only where there are more (7); their
    6·n parameters are in the total beside fc's 6."""
    report = torchcount.profile(Idle(n), torch.randn(1, 2), warn=False)
    assert report.total.params == 6 * (n + 1)
    assert ("never called (no work counted; their parameters are in the total and their rows): "
            + ", ".join(f"l{i}" for i in range(6)) + (" …" if n > 6 else "")) in report.notes


class Reentrant(nn.Module):
    """Calls fc, then helper, which calls the root again (a reference it holds, not a submodule) without
    going further: the root is called from inside one of its own submodules."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.helper = ReentrantHelper()
        object.__setattr__(self.helper, "root", self)  # (not registered: no cycle in the module tree)

    def forward(self, x, again=True):
        y = self.fc(x)
        return self.helper(y) if again else y


class ReentrantHelper(nn.Module):
    def forward(self, x):
        return self.root(x, again=False)


def test_a_root_called_again_by_its_own_submodule_is_named_the_root_among_calls_from_outside():
    """The root's second call comes from helper, outside its place at the top of the tree: the note names
    it '(root)'. fc ran in both calls: 2·(2·4·4) = 64 MACs."""
    report = torchcount.profile(Reentrant(), torch.randn(2, 4), warn=False)
    assert report.total.macs == 64
    note = next(line for line in report.notes if line.startswith("called from outside their place"))
    assert note.startswith("called from outside their place in the module tree: (root); ")


class ReadsIdle(nn.Module):
    """Runs F.linear with the weight and bias of each of n Linears it never calls."""

    def __init__(self, n):
        super().__init__()
        self.n = n
        for i in range(n):
            setattr(self, f"l{i}", nn.Linear(2, 2))

    def forward(self, x):
        return sum(nn.functional.linear(x, getattr(self, f"l{i}").weight, getattr(self, f"l{i}").bias)
                   for i in range(self.n))


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_weights_read_above_names_six_then_an_ellipsis(n):
    """n Linears never called, whose weights the root reads itself (1·2·2 = 4 MACs each, in its row):
    each row says read by ''; the note names l0…l5, then '…' only where there are more (7)."""
    report = torchcount.profile(ReadsIdle(n), torch.randn(1, 2), warn=False)
    assert report.root.self_cost.macs == 4 * n
    assert [report.row(f"l{i}").extra.get("weights_read_by") for i in range(n)] == [""] * n
    note = next(line for line in report.notes if line.startswith("never called as modules"))
    assert ": " + ", ".join(f"l{i}" for i in range(6)) + (" …" if n > 6 else "") + " (read by (root))" in note


@pytest.mark.parametrize("k", [3, 4])
def test_the_note_on_weights_read_above_names_three_readers_then_an_ellipsis(k):
    """k blocks in a row, each reading the weights of its own never-called l0 (4 MACs each): the
    note names the idle l0s and their readers sorted, the first three (0, 1, 2), then '…' only where
    there are more (4)."""
    report = torchcount.profile(nn.Sequential(*[ReadsIdle(1) for _ in range(k)]), torch.randn(1, 2), warn=False)
    assert [report.row(f"{i}").self_cost.macs for i in range(k)] == [4] * k
    assert [report.row(f"{i}.l0").extra.get("weights_read_by") for i in range(k)] == [f"{i}" for i in range(k)]
    note = next(line for line in report.notes if line.startswith("never called as modules"))
    assert note.endswith(": " + ", ".join(f"{i}.l0" for i in range(k)) + " (read by 0, 1, 2" + (" …" if k > 3 else "")
                         + ")")


class DoubleWithOpaqueGrad(torch.autograd.Function):
    """x·2 forward; its backward runs opaque (no formula) on the gradient, then ·2."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return torch.ops.torchcount_count_core.opaque(grad) * 2


class OpaqueBackward(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return DoubleWithOpaqueGrad.apply(self.fc(x))

    def train_step(self, x):
        self(x).sum().backward()


def test_a_backward_that_runs_an_op_without_a_formula_breaks_down_the_rest():
    """A training step whose backward runs opaque (no formula) beside fc's weight gradient: the
    backward by layer is fc's grad_outᵀ (4×2) @ x (2×4), 4·2·4 = 32 MACs (x needs no gradient), the
    opaque op is listed once as the root's uncounted op (the backward runs in its row), and the total
    is fc's 32 forward MACs plus those 32, with 16 multiplications (x·2 and grad·2, 8 each)."""
    report = torchcount.profile(OpaqueBackward(), torch.randn(2, 4), method="train_step", warn=False)
    assert report.extra["backward_MACs"] == 32
    assert report.row("fc").extra["backward_MACs"] == 32
    assert [(u.path, u.what, u.calls) for u in report.uncounted] == [("", OPAQUE, 1)]
    assert (report.total.macs, report.total.cost.mults) == (64, 16)


def test_a_ruled_roots_hooks_show_their_worked_terms_where_its_rule_gave_none():
    """A root priced by a user's rule that returns 8 additions and no worked terms, with a forward hook
    doubling its 2×4 output: the row's terms are the hook's one multiplication term (8), as the terms
    of a rule's row always include its hooks'; its cost holds both (8 adds, 8 mults)."""
    from torchcount.cost import Cost

    class PlusOne(nn.Module):
        def forward(self, x):
            return x + 1

    @torchcount.module_rule(PlusOne)
    def plus_one(module, call):
        return Cost(adds=8)

    m = PlusOne()
    m.register_forward_hook(lambda mod, args, out: out * 2)
    row = torchcount.profile(m, torch.randn(2, 4), warn=False).root
    assert row.status == "rule"
    assert [(t.category, t.value) for t in row.terms] == [("mults", 8)]
    assert (row.self_cost.adds, row.self_cost.mults) == (8, 8)


def test_a_roots_own_ops_show_their_worked_terms_then_its_hooks():
    """A root without a rule doubling its Linear's 2×4 output in its forward (8 mults), with a forward hook
    adding 1 (8 adds): its row's worked terms are both, the forward's then the hook's, and explain sums
    them to its own 16 FLOPs, as its cost holds them."""
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x) * 2

    m = Twice()
    m.register_forward_hook(lambda mod, args, out: out + 1)
    report = torchcount.profile(m, torch.randn(2, 4), warn=False)
    assert report.root.status == "ops"
    assert [(t.category, t.value) for t in report.root.terms] == [("mults", 8), ("adds", 8)]
    assert "  FLOPs [flops] = 8 + 8 = 16" in report.explain("").splitlines()


def test_the_roots_hooks_op_without_a_formula_is_listed_apart_from_a_childs_same_op():
    """A Sequential of one Opaque (its forward runs opaque once) with a forward hook on the Sequential
    running opaque once more: two entries of 1 call, the child's at '0' and the root's at '', not one of 2
    (the hook's op belongs to the root's row, not to the child that ran the same op). Opaque alone with a
    hook running another such op: one entry per op, both the root's."""
    m = nn.Sequential(Opaque())
    m.register_forward_hook(lambda mod, args, out: torch.ops.torchcount_count_core.opaque(out))
    report = torchcount.profile(m, torch.randn(2, 4), warn=False)
    assert sorted((u.path, u.what, u.calls) for u in report.uncounted) == [("", OPAQUE, 1), ("0", OPAQUE, 1)]
    assert report.root.uncounted_ops == {OPAQUE: 1}
    # Opaque alone, its hook running another op without a formula: two entries of the root, one per op
    m = Opaque()
    m.register_forward_hook(lambda mod, args, out: torch.ops.torchcount_count_core.other_opaque(out))
    report = torchcount.profile(m, torch.randn(2, 4), warn=False)
    other = "torchcount_count_core.other_opaque.default"
    assert sorted((u.path, u.what, u.calls) for u in report.uncounted) == [("", OPAQUE, 1), ("", other, 1)]


def test_a_ruled_calls_worked_terms_are_its_rules_then_its_hooks():
    """nn.Linear(4, 4) in a Sequential, with a forward hook doubling its 2×4 output: its row's worked
    terms are the rule's (4·4 + 4 = 20 parameters, 2·4·4 = 32 MACs, 2·4 = 8 bias additions), then the
    hook's 8 multiplications, told apart as the hook's."""
    lin = nn.Linear(4, 4)
    lin.register_forward_hook(lambda mod, args, out: out * 2)
    row = torchcount.profile(nn.Sequential(lin), torch.randn(2, 4), warn=False).row("0")
    assert [(t.category, t.value) for t in row.terms] == [("params", 20), ("macs", 32), ("adds", 8), ("mults", 8)]
    assert row.terms[-1].what.startswith("forward hook: ")


def test_a_leaf_priced_from_its_ops_made_its_whole_output():
    """Opaque, a leaf with no rule, makes its 2×4 output itself: its own activation is 8 elements; Inner,
    priced from its (no) ops, returns its fc's output: 0 of its own; fc, a leaf with a rule, 8."""
    report = torchcount.profile(nn.Sequential(Opaque(), Inner()), torch.randn(2, 4), warn=False)
    assert [(r.path, r.self_activation) for r in report.layers] == [("0", 8), ("1", 0), ("1.fc", 8)]


def test_a_report_of_one_row_numbers_it_one():
    """An nn.Linear profiled alone is the table's one row, numbered 1 as a first layer always is (0 is
    the number of a '(root) (self)' row shown above other rows); a root that calls no child but holds
    an unused Linear is that '(root) (self)' row, 0, and the Linear 1."""
    report = torchcount.profile(nn.Linear(4, 4), torch.randn(2, 4), warn=False)
    assert [(r.path, r.index) for r in report.layers] == [("", 1)]

    class Idle(nn.Module):
        def __init__(self):
            super().__init__()
            self.spare = nn.Linear(4, 2)

        def forward(self, x):
            return x * 2

    report = torchcount.profile(Idle(), torch.randn(2, 4), warn=False)
    assert [(r.path, r.index) for r in report.layers] == [("", 0), ("spare", 1)]


class ThenPost(nn.Module):
    """Its forward runs fc; a forward hook on it (the root) runs post on the output, outside the forward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.post = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def test_a_module_the_roots_hook_calls_adds_its_step_to_the_roots():
    """fc, then post called by the root's forward hook: two Linears one after the other, so the root's
    row has 2 steps (its forward's 1 and post's 1) and 2·2·4·4 = 64 MACs, as the longest chain says."""
    model = ThenPost()
    model.register_forward_hook(lambda mod, args, out: mod.post(out))
    report = torchcount.profile(model, torch.randn(2, 4), warn=False)
    assert (report.root.extra["steps"], report.root.cost.macs) == (2, 64)
    assert [(r.path, r.extra["steps"]) for r in report.layers if r.path] == [("fc", 1), ("post", 1)]
    assert any("longest chain: 2 sequential steps " in n for n in report.notes)


class NestedDicts(nn.Module):
    """outer holds a Linear (parameters) and acts, a ModuleDict of a ReLU (none): exported, the graph's
    module holds outer but no acts."""

    def __init__(self):
        super().__init__()
        self.outer = nn.ModuleDict({"lin": nn.Linear(4, 4), "acts": nn.ModuleDict({"relu": nn.ReLU()})})

    def forward(self, x):
        return self.outer["acts"]["relu"](self.outer["lin"](x))


@needs("torch.export naming each node's module by its path")
def test_a_stand_in_for_a_container_the_graph_lacks_leaves_its_parents_row_alone():
    """In ep.module() of NestedDicts, acts gets a stand-in row (its ReLU's 2·4 = 8 comparisons); outer,
    which the graph holds, keeps its own row: its lin's 4·4 + 4 = 20 parameters and 2·4·4 = 32 MACs, the
    ReLU's 8 comparisons, as in the eager model's table (a stand-in in its place had 0 parameters);
    acts holds no parameter, of its own either (0, the stand-in's, which the walk never saw)."""
    import warnings

    model, x = NestedDicts().eval(), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = torch.export.export(model, (x,)).module()
    for report in (torchcount.profile(model, x, warn=False), torchcount.profile(graph, x, warn=False)):
        outer, acts = report.row("outer"), report.row("outer.acts")
        assert (outer.calls, outer.params, outer.cost.macs, outer.cost.cmps) == (0, 20, 32, 8)
        assert (acts.calls, acts.params, acts.self_params, acts.cost.cmps) == (0, 0, 0, 8)


def test_a_ruled_call_whose_hook_computes_is_one_step_more():
    """nn.Linear(4, 4) in a Sequential, with a forward hook doubling its output: the Linear is one step
    and its hook's multiplication, run after it, one more: 2, in its row and the longest chain."""
    lin = nn.Linear(4, 4)
    lin.register_forward_hook(lambda mod, args, out: out * 2)
    report = torchcount.profile(nn.Sequential(lin), torch.randn(2, 4), warn=False)
    assert report.row("0").extra["steps"] == 2
    assert any("longest chain: 2 sequential steps " in n for n in report.notes)


class AddsHeads(nn.Module):
    """Its forward adds n Linears h0, h1, … on the first call (kept, never called)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        for i in range(self.n):
            if not hasattr(self, f"h{i}"):
                setattr(self, f"h{i}", nn.Linear(4, 4))
        return x * 2


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_submodules_the_forward_added_names_six_then_an_ellipsis(n):
    """n Linears the forward adds: the note names h0…h5, then '…' where there are more (7), none where
    there are not (6); their 20 parameters each are in the total."""
    report = torchcount.profile(AddsHeads(n), torch.randn(2, 4), warn=False)
    note = next(t for t in report.notes if t.startswith("submodules added by the forward"))
    assert note == "submodules added by the forward (kept, their parameters counted): h0, h1, h2, h3, h4, h5" \
        + (" …" if n == 7 else "")
    assert report.total.params == 20 * n


class LazyHeads(nn.Module):
    """fc runs; n LazyLinear(3) heads without bias are never called, so their weights are never made."""

    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        for i in range(n):
            setattr(self, f"z{i}", nn.LazyLinear(3, bias=False))

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("n", [6, 7])
def test_the_note_on_lazy_parameters_names_six_then_an_ellipsis(n):
    """n lazy weights never materialised: the note names z0.weight…z5.weight, then '…' where there are
    more (7), none where there are not (6); they count 0, so the total is fc's 4·4 + 4 = 20."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's warning that lazy modules are new
        report = torchcount.profile(LazyHeads(n), torch.randn(2, 4), warn=False)
    note = next(t for t in report.notes if t.startswith("lazy parameters"))
    assert note.endswith("their rows: " + ", ".join(f"z{i}.weight" for i in range(6)) + (" …" if n == 7 else ""))
    assert report.total.params == 20


class _Block(nn.Module):
    """body: a Linear(4, 4), or a Sequential holding it; priced by a user's rule (below)."""

    def __init__(self, nested: bool):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4)) if nested else nn.Linear(4, 4)

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("nested", [False, True], ids=["child", "grandchild"])
def test_a_covered_calls_hook_is_a_step_of_the_ruled_call_that_covers_it(nested):
    """A user's rule prices _Block (1 step: it computes), covering its Linear, whose forward hook doubles
    its output (one more step, after the block's work). The Linear's row shows 1 step (its hook);
    the block's chain is its own step then the hook's: 2, and so the root's and the longest chain's,
    also where the Linear is a grandchild under a covered Sequential. (The block's chain read 1: a ruled call's
    chain left out its covered children's hooks, though docs/analyses.md sums the chain along the calls
    and counts a module's hooks as one more step.)"""
    from torchcount.cost import Cost, Term

    @torchcount.module_rule(_Block)
    def block_rule(module, call):
        return Cost.of(Term("macs", "products", "rows·4·4", "", call.input.numel // 4 * 16))

    block = _Block(nested)
    (block.body[0] if nested else block.body).register_forward_hook(lambda module, args, output: output * 2)
    report = torchcount.profile(nn.Sequential(block), torch.randn(2, 4), warn=False)
    assert report.row("0.body.0" if nested else "0.body").extra["steps"] == 1
    assert report.row("0").extra["steps"] == 2 and report.row("").extra["steps"] == 2
    assert any(n.startswith("longest chain: 2 sequential steps") for n in report.notes)


class Halves(nn.Module):
    """Calls itself on the first half of its rows until one row is left, which it doubles."""

    def forward(self, x):
        return self(x[: len(x) // 2]) if len(x) > 1 else x * 2


def test_a_module_that_calls_itself_is_not_called_from_outside():
    """Halves at 0 on a (4, 2) input calls itself on 2 rows, then 1 row: 3 calls of one row, whose
    work is the last call's 1·2 = 2 multiplications. Its inner calls come from itself (recursion),
    not from outside its place in the tree: no called_from and no note (skipping a call only where
    its caller is both its parent and itself flagged 0 as called from outside by 0)."""
    report = torchcount.profile(nn.Sequential(Halves()), torch.randn(4, 2), warn=False)
    row = report.row("0")
    assert (row.calls, row.cost.mults, row.called_from) == (3, 2, ())
    assert not any("called from outside" in n for n in report.notes)


def test_a_model_half_frozen_has_its_frozen_parameters_apart():
    """Linear(4, 4) frozen (16 + 4 = 20 parameters) then Linear(4, 2) trained (8 + 2 = 10): 30 in
    all, 10 trainable, 20 frozen — frozen is the total less the trainable (every test froze all or
    nothing, where the total alone passes for it)."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    total = torchcount.profile(model, torch.randn(1, 4), warn=False).total
    assert (total.params, total.trainable_params, total.frozen_params) == (30, 10, 20)


_LIB.define("reads_only(Tensor x) -> Tensor")  # its rule (a user's, below) gives the bytes it reads only
_LIB.impl("reads_only", lambda x: x.clone(), "CompositeExplicitAutograd")
_LIB.define("writes_only(Tensor x) -> Tensor")  # … and this one's the bytes it writes only
_LIB.impl("writes_only", lambda x: x.clone(), "CompositeExplicitAutograd")


def test_a_users_op_rule_that_gives_one_side_of_the_traffic_keeps_it():
    """An op rule that sets bytes read (7) and leaves bytes written 0, or sets bytes written (5) and
    leaves bytes read 0, has chosen its traffic: the default (every input read, every new output
    written: 32 and 32 for a 2×4 float32 clone) replaces only a cost with neither. Each rule gives
    one comparison; the two ops in a row: 2 comparisons, 7 bytes read, 5 written."""
    from torchcount.cost import Cost, Term

    @torchcount.op_rule(torch.ops.torchcount_count_core.reads_only)
    def reads_only_rule(op):
        return Cost.of(Term("cmps", "comparisons", "1", "1", 1), bytes_read=7)

    @torchcount.op_rule(torch.ops.torchcount_count_core.writes_only)
    def writes_only_rule(op):
        return Cost.of(Term("cmps", "comparisons", "1", "1", 1), bytes_written=5)

    class Both(nn.Module):
        def forward(self, x):
            return torch.ops.torchcount_count_core.writes_only(torch.ops.torchcount_count_core.reads_only(x))

    cost = torchcount.profile(nn.Sequential(Both()), torch.randn(2, 4), warn=False).row("0").self_cost
    assert (cost.cmps, cost.bytes_read, cost.bytes_written) == (2, 7, 5)


class ReadsOnly(nn.Module):
    def forward(self, x):
        return x * 2


class WritesOnly(nn.Module):
    def forward(self, x):
        return x * 2


def test_a_users_module_rule_that_gives_one_side_of_the_traffic_keeps_it():
    """As for an op rule: a module rule that sets bytes read (7) and not bytes written, or bytes written
    (5) and not bytes read, keeps them; the default (its 2×4 float32 input read, 32 bytes, and its new
    output written, 32) is for a rule that set neither. One comparison each by the rules."""
    from torchcount.cost import Cost, Term
    from torchcount.rules import registry

    @torchcount.module_rule(ReadsOnly)
    def reads_only(module, call):
        return Cost.of(Term("cmps", "comparisons", "1", "1", 1), bytes_read=7)

    @torchcount.module_rule(WritesOnly)
    def writes_only(module, call):
        return Cost.of(Term("cmps", "comparisons", "1", "1", 1), bytes_written=5)

    try:
        report = torchcount.profile(nn.Sequential(ReadsOnly(), WritesOnly()), torch.randn(2, 4), warn=False)
    finally:
        registry._MODULE_RULES.pop(ReadsOnly, None)
        registry._MODULE_RULES.pop(WritesOnly, None)
        registry._lookup_cache.clear()
    assert [(r.path, r.status, r.self_cost.cmps, r.self_cost.bytes_read, r.self_cost.bytes_written)
            for r in report.layers] == [("0", "rule", 1, 7, 0), ("1", "rule", 1, 0, 5)]


def test_a_ruled_call_that_returns_its_childs_output_made_all_of_it(ruled_block):
    """RuledBlock returns what its fc returned, but its rule covers fc's work: the block made its
    whole 2×4 output itself (own activation 8), and fc, covered, made its 8 as well."""
    report = torchcount.profile(nn.Sequential(ruled_block()), torch.randn(2, 4), warn=False)
    assert [(r.path, r.status, r.activation, r.self_activation) for r in report.layers] == [
        ("0", "rule", 8, 8), ("0.fc", "covered", 8, 8)]



class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


class Blocks(nn.Module):
    """A ModuleList of two blocks, each calling its own Linear: the list is never called itself."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_a_groups_members_are_the_called_modules_nearest_below_it():
    """blocks' group row holds blocks.0 and blocks.1, not their Linears as well (each is below a called
    block): its steps are the blocks' 1 + 1 = 2 (each block's chain is its fc's one step), not 4, and
    its cost both Linears' 2·(2·4·4) = 64 MACs. Never called, it ran no step itself: its own steps 0."""
    report = torchcount.profile(Blocks(), torch.randn(2, 4), warn=False)
    group = report.row("blocks")
    assert (group.calls, group.members, group.extra["steps"], group.cost.macs) == (
        0, ("blocks.0", "blocks.1"), 2, 64)
    assert group.self_extra == {"steps": 0}


class PassThrough(nn.Module):
    def forward(self, x):
        return x


def test_a_leaf_that_runs_no_op_is_priced_from_its_ops_not_a_container():
    """A leaf with no rule that returns its input runs no op: priced from its (no) ops, 0 of everything,
    status 'ops'; 'container' is for a module whose work is all its children's, and it has none."""
    row = torchcount.profile(nn.Sequential(PassThrough()), torch.randn(2, 4), warn=False).row("0")
    assert (row.status, row.own_ops, row.self_cost.is_zero()) == ("ops", 0, True)
