"""torchcount.state's restoring, read directly from :func:`torchcount.state.preserved` (what it found
and put back, as its :class:`~torchcount.state.Preserved` lists it) and from its helpers: the cases a
mutation round found no test telling apart (a note given for what did not change, a boundary of the
search for schedulers, a setting put back from the wrong field). Each expected value is what the
code in the ``with`` block did, by hand."""
import pytest
import torch
from torch import nn

from torchcount.state import preserved

# (the schedulers here are stepped without an optimizer step before them)
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")


def _sgd_model() -> nn.Module:
    """A Linear(2, 1) with an SGD optimizer (lr 0.1) and a StepLR (γ 0.5 every epoch) as attributes."""
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.scheduler = torch.optim.lr_scheduler.StepLR(model.opt, step_size=1, gamma=0.5)
    return model


def _step(model: nn.Module) -> None:
    """One SGD step on the loss (w·1 + b)²."""
    model.opt.zero_grad()
    model(torch.ones(1, 2)).pow(2).sum().backward()
    model.opt.step()


# ---- notes only for what changed ----

def test_a_method_that_only_steps_is_told_no_regrouping_and_no_conversion():
    """A step that neither adds nor replaces a param group, nor converts a parameter, gets no note of
    either: regrouped_optimizers and restored_data stay empty (a note for every optimizer and every
    parameter would say the method changed them), while the step is told ('SGD ×1') and its gradients
    (the weight's and the bias's, set from None) are put back."""
    model = _sgd_model()
    with preserved(model, method="step") as kept:
        _step(model)
    assert kept.stepped_optimizers == ["SGD ×1"]
    assert kept.regrouped_optimizers == [] and kept.restored_data == []
    assert kept.restored_grads == ["weight", "bias"] and model.weight.grad is None


def test_a_param_group_replaced_by_another_is_put_back():
    """A method that replaces the optimizer's one param group by a new dict (the same number of groups:
    only the objects tell) gets the original dict back, and the optimizer is named."""
    model = _sgd_model()
    group = model.opt.param_groups[0]
    with preserved(model, method="step") as kept:
        model.opt.param_groups[0] = dict(group, lr=1.0)
    assert model.opt.param_groups[0] is group and group["lr"] == 0.1
    assert kept.regrouped_optimizers == ["SGD"]


def test_a_parameter_write_with_a_copy_restores_and_names_only_that_parameter():
    """copy_params=True compares every parameter with its copy, bit for bit: the weight written (+1)
    is put back and named, the bias, left alone, is not."""
    model = nn.Linear(2, 1)
    weight = model.weight.detach().clone()
    with preserved(model, copy_params=True) as kept:
        with torch.no_grad():
            model.weight.add_(1.0)
    assert kept.restored_params == ["weight"]
    assert torch.equal(model.weight, weight)


# ---- optimizers ----

def test_an_optimizer_stepped_twice_is_told_with_its_count():
    """Two steps of the same optimizer in one method: 'SGD ×2' (the first step snapshots it, the
    second only counts), and the parameters are back as before the first."""
    model = _sgd_model()
    weight = model.weight.detach().clone()
    with preserved(model, method="step") as kept:
        _step(model)
        _step(model)
    assert kept.stepped_optimizers == ["SGD ×2"]
    assert torch.equal(model.weight, weight)


def test_a_param_group_added_to_an_optimizer_given_to_the_method_is_removed():
    """An optimizer given to the method as an argument (train_step(x, y, opt)) is the caller's own
    object: a param group the method adds to it (unfreezing a layer) is removed again, and it is named,
    as for one the model holds."""
    model, head = nn.Linear(2, 1), nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    groups = list(opt.param_groups)
    with preserved(model, method="step", inputs=(torch.ones(1, 2), opt)) as kept:
        opt.add_param_group({"params": list(head.parameters()), "lr": 0.01})
        assert len(opt.param_groups) == 2
    assert opt.param_groups == groups and opt.param_groups[0] is groups[0]
    assert kept.regrouped_optimizers == ["SGD"]
