"""torchcount.state's promise checked value by value, read from :func:`torchcount.state.preserved`
directly: each test does to a small model what a real forward or training step might, and asserts
the exact state afterwards (the same tensors, their values worked out by hand, the flags, the names
in the notes) against the state before. Each one fails on a mutant of torchcount/state.py that the
rest of the suite let through (named in its docstring)."""
import collections.abc
import dataclasses

import pytest
import torch
from torch import nn

from torchcount import ParameterModifiedError
from torchcount.state import preserved

from conftest import needs, run


def test_gradients_of_a_meta_model_a_backward_accumulates_into_are_not_named():
    """A Linear(2, 1) on the meta device whose parameters hold gradients (from one backward) and a step
    whose backward accumulates into them (each gradient's version 0 → 1): a meta tensor holds no values,
    so there is nothing to put back and nothing is named; each .grad is still the same tensor. (Copying
    the meta gradients as well named both, "weight" and "bias", as gradients put back.)"""
    model = nn.Linear(2, 1, device="meta")
    model(torch.ones(1, 2, device="meta")).sum().backward()
    weight_grad, bias_grad = model.weight.grad, model.bias.grad
    with preserved(model, method="step") as kept:
        model(torch.ones(1, 2, device="meta")).sum().backward()
        assert model.weight.grad is weight_grad and weight_grad._version == 1
    assert kept.restored_grads == []
    assert model.weight.grad is weight_grad and model.bias.grad is bias_grad


def test_a_lazy_batchnorm_is_materialised_and_kept_in_eval_mode():
    """A LazyBatchNorm1d in eval mode (its running_mean and running_var uninitialised buffers) and a
    forward on a batch of 3 × 2: it materialises them as BatchNorm does, zeros and ones of 2 features,
    which are kept, with the weight and bias listed as materialised ('0.weight', '0.bias') and the module
    now a BatchNorm1d. (Copying the uninitialised buffers too raised ValueError on entry.)"""
    model = nn.Sequential(nn.LazyBatchNorm1d()).eval()
    with preserved(model) as kept:
        model(torch.arange(6.0).reshape(3, 2))
    assert kept.lazy == ["0.weight", "0.bias"] and type(model[0]) is nn.BatchNorm1d
    assert model[0].running_mean.tolist() == [0.0, 0.0] and model[0].running_var.tolist() == [1.0, 1.0]
    assert model[0].num_batches_tracked.item() == 0


def test_copy_params_on_a_lazy_model_copies_only_what_is_materialised():
    """``copy_params=True`` on a LazyLinear(→ 3) whose forward (on 2 features) materialises its weight
    (3 × 2) and bias (3): there was nothing to copy of them, nothing is restored, both are listed as
    materialised and keep their new shapes. (Copying the uninitialised parameters raised ValueError.)"""
    model = nn.Sequential(nn.LazyLinear(3))
    with preserved(model, copy_params=True) as kept:
        model(torch.ones(1, 2))
    assert kept.lazy == ["0.weight", "0.bias"] and kept.restored_params == []
    assert model[0].weight.shape == (3, 2) and model[0].bias.shape == (3,)


def test_copy_params_on_a_meta_model_compares_nothing():
    """``copy_params=True`` on a Linear(2, 1) on the meta device, whose forward writes its weight in place
    (version 0 → 1): a meta tensor holds no values, so nothing was copied, nothing is compared or restored,
    and the write is no error (it changed nothing). (Copying meta parameters too made the comparison on
    exit run aten::equal on meta tensors, which raises NotImplementedError.)"""
    model = nn.Sequential(nn.Linear(2, 1, device="meta"))
    with preserved(model, copy_params=True) as kept:
        with torch.no_grad():
            model[0].weight.mul_(2)
    assert kept.restored_params == [] and model[0].weight.is_meta


def test_an_embedding_with_max_norm_on_the_meta_device_is_not_copied():
    """An Embedding(4, 2, max_norm=1) renormalises the rows it looks up in place, so its weight is copied
    and put back by default; on the meta device there are no values to copy: the forward runs, nothing
    is restored, no error. (Copying a meta weight as well made the comparison on exit run aten::equal on
    meta tensors, which raises NotImplementedError.)"""
    model = nn.Sequential(nn.Embedding(4, 2, max_norm=1.0, device="meta"))
    with preserved(model) as kept:
        model(torch.tensor([0, 3], device="meta"))
    assert kept.restored_params == [] and model[0].weight.is_meta


def test_an_embedding_with_max_norm_and_a_lazy_weight_is_left_to_materialise():
    """An Embedding(4, 2, max_norm=1) whose weight the user made an UninitializedParameter (a lazy
    embedding of their own) is not copied, since a lazy parameter has no values yet: a profile that does
    not reach it leaves it uninitialised, named neither as materialised nor as restored. (Copying it
    raised ValueError on entry.)"""
    model = nn.Sequential(nn.Embedding(4, 2, max_norm=1.0))
    model[0].weight = nn.UninitializedParameter()
    with preserved(model) as kept:
        pass
    assert kept.lazy == [] and kept.restored_params == []
    assert isinstance(model[0].weight, nn.UninitializedParameter)


class _Halves(nn.Module):
    """A parametrization w ↦ w / 2 whose right_inverse (w ↦ 2w) registering it set_()s the tensor to."""

    def forward(self, w):
        return w * 0.5

    def right_inverse(self, w):
        return w * 2


class _Triples(nn.Module):
    """A parametrization w ↦ 3w with no right_inverse (registering it leaves the values)."""

    def forward(self, w):
        return 3 * w


def test_a_rewriting_registration_in_an_earlier_pass_is_told_after_a_harmless_one():
    """Two passes (reset_buffers between them) of a forward that parametrizes a Linear's weight: the first
    with w ↦ w / 2, whose right_inverse set_() the weight to 2w (values no copy can undo), the second with
    w ↦ 3w, which has none. Whether the registrations rewrote the values is told by all of them, not the
    last: ParameterModifiedError names fc.weight's parametrization, and the weight holds 2w. (Keeping only
    the last registration's answer let the 2w through with no error.)"""
    from torch.nn.utils import parametrize

    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("fc", nn.Linear(2, 1))
    found = model.fc.weight.detach().clone()
    with pytest.raises(ParameterModifiedError, match=r"registered a parametrization on fc\.weight "
                                                     r"\(torch\.nn\.utils\.parametrize; removed again\), whose right_inverse"):
        with preserved(model) as kept:
            kept.reset_buffers()  # (the first call, before the first pass, notes the buffers' versions)
            parametrize.register_parametrization(model.fc, "weight", _Halves())
            kept.reset_buffers()
            parametrize.register_parametrization(model.fc, "weight", _Triples())
    assert type(model.fc) is nn.Linear and torch.equal(model.fc.weight, 2 * found)


def test_inference_mode_buffers_a_pass_writes_are_put_back_before_the_next_pass():
    """A BatchNorm1d(2) made under ``torch.inference_mode()`` (its buffers inference tensors, which have
    no version counter) in training mode, and a pass inside inference mode on [[0, 1], [2, 3], [4, 5]]
    that moves running_mean to 0.1·[2, 3] = [0.2, 0.3] and num_batches_tracked to 1: reset_buffers puts
    them back to [0, 0] and 0 before the next pass, with no versions to tell it they changed. (Restoring
    only when the versions read differ left them, since neither reading has any.)"""
    with torch.inference_mode():
        model = nn.Sequential(nn.BatchNorm1d(2))
    with preserved(model) as kept:
        kept.reset_buffers()  # (the first call, before the first pass, notes the buffers' versions)
        with torch.inference_mode():
            model(torch.arange(6.0).reshape(3, 2))
        assert torch.allclose(model[0].running_mean, torch.tensor([0.2, 0.3]))
        kept.reset_buffers()
        assert model[0].running_mean.tolist() == [0.0, 0.0] and model[0].running_var.tolist() == [1.0, 1.0]
        assert model[0].num_batches_tracked.item() == 0


@pytest.mark.parametrize("measured", [False, True], ids=["preserved", "measured"])
def test_a_lazy_batchnorm_in_training_mode_keeps_its_statistics_as_materialised(measured):
    """A LazyBatchNorm1d in training mode and a forward on the batch [[0, 1], [2, 3], [4, 5]]: the
    materialisation is kept (running_mean zeros, running_var ones, as BatchNorm1d(2) starts), the
    forward's update of them is not. The update would have left momentum 0.1 of the batch's statistics,
    running_mean 0.1·[2, 3] = [0.2, 0.3], running_var 0.9 + 0.1·4 = [1.3, 1.3] (unbiased variance of
    0, 2, 4 is 4), with num_batches_tracked put back to 0, as a buffer found; and so it was: a lazy
    buffer was in no copy. Through ``profile`` too, counted and measured (one forward per pass)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.LazyBatchNorm1d())
    x = torch.arange(6.0).reshape(3, 2)
    if measured:
        run(model, x, measure=True, warmup=1, repeat=2)
    else:
        with preserved(model) as kept:
            model(x)
            assert torch.allclose(model[0].running_mean, torch.tensor([0.2, 0.3]))
            assert torch.allclose(model[0].running_var, torch.tensor([1.3, 1.3]))
        assert kept.lazy == ["0.weight", "0.bias"]
    assert type(model[0]) is nn.BatchNorm1d and model[0].training
    assert model[0].running_mean.tolist() == [0.0, 0.0] and model[0].running_var.tolist() == [1.0, 1.0]
    assert model[0].num_batches_tracked.item() == 0
    assert dict(model[0]._forward_pre_hooks) == {}


@pytest.mark.parametrize("kind", ["parameter", "buffer"])
def test_a_parametrization_registered_in_an_earlier_pass_only_is_named(kind):
    """A parametrization (w ↦ 3w) registered in the first pass only, on a Linear's weight or on a
    BatchNorm1d's running_mean, and removed between passes by reset_buffers: it is named on exit
    ('0.weight', '0.running_mean'), the module back to its own class. (Only a parameter's was remembered
    across passes: a buffer's went unnamed.)"""
    from torch.nn.utils import parametrize

    model = nn.Sequential(nn.Linear(2, 2) if kind == "parameter" else nn.BatchNorm1d(2))
    name = "weight" if kind == "parameter" else "running_mean"
    tensor = getattr(model[0], name)
    with preserved(model) as kept:
        kept.reset_buffers()  # (the first call, before the first pass, notes the buffers' versions)
        parametrize.register_parametrization(model[0], name, _Triples())
        kept.reset_buffers()
        assert getattr(model[0], name) is tensor
    assert kept.removed_parametrizations == [f"0.{name}"]
    assert type(model[0]) is (nn.Linear if kind == "parameter" else nn.BatchNorm1d)
    assert getattr(model[0], name) is tensor


def test_a_lazy_parameter_the_forward_freezes_before_it_is_materialised_gets_its_flag_back():
    """A forward that sets ``requires_grad = False`` on a LazyLinear's weight and never calls the layer (it
    stays uninitialised): the flag is put back to True, the weight still the same UninitializedParameter
    and not named as materialised. (It was left False: lazy parameters were skipped, since an uninitialised
    one refuses ``requires_grad_()``; calling it on them raised ValueError.)"""
    model = nn.Sequential(nn.LazyLinear(2))
    weight = model[0].weight
    with preserved(model) as kept:
        weight.requires_grad = False
    assert weight.requires_grad and model[0].weight is weight
    assert isinstance(weight, nn.UninitializedParameter) and kept.lazy == []


def test_a_lazy_parameter_a_method_materialises_and_steps_is_put_back_as_materialised():
    """An SGD (lr 0.1) made on a LazyLinear(1)'s parameters before they have a size, and a step method
    that materialises them (a forward on 2 features), backpropagates w·x + b at x = [1, 1] (gradient 1
    each) and steps: afterwards the layer is kept materialised (listed as such) with the values it was
    materialised with, not those minus 0.1, the step told ('SGD ×1'), no error. (A lazy parameter has no
    version at entry, so the step's copy decides; comparing None with the copy's version raised TypeError.)"""
    torch.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with preserved(model, method="step", inputs=[opt]) as kept:
        model(torch.ones(1, 2)).sum().backward()
        materialised = [p.detach().clone() for p in model.parameters()]
        opt.step()
        assert torch.allclose(model[0].bias, materialised[1] - 0.1)
    assert kept.lazy == ["0.weight", "0.bias"] and kept.stepped_optimizers == ["SGD ×1"]
    assert torch.equal(model[0].weight, materialised[0]) and torch.equal(model[0].bias, materialised[1])


def test_a_lazy_weight_the_forward_materialises_then_parametrizes_is_kept_and_unparametrized():
    """A forward that materialises a LazyLinear(1) (on 2 features) and then parametrizes its weight with
    w ↦ 3w (no right_inverse): the materialisation is kept (both listed), the parametrization removed and
    named ('0.weight'), the module a Linear again with the same weight, no error. (The weight had no version
    at entry: accounting for its registration from that None raised TypeError.)"""
    from torch.nn.utils import parametrize

    model = nn.Sequential(nn.LazyLinear(1))
    weight = model[0].weight
    with preserved(model) as kept:
        model(torch.ones(1, 2))
        parametrize.register_parametrization(model[0], "weight", _Triples())
    assert kept.lazy == ["0.weight", "0.bias"] and kept.removed_parametrizations == ["0.weight"]
    assert type(model[0]) is nn.Linear and model[0].weight is weight and weight.shape == (1, 2)


def test_a_forward_that_converts_one_layer_names_only_its_parameters():
    """A forward that converts the first of two Linear(2, 2) layers to float16 (``self[0].half()``), without
    a copy: ParameterModifiedError names 0.weight and 0.bias as converted, and not the second layer's
    parameters, which kept float32. (Counting every parameter with a version as converted named 1.weight
    and 1.bias as well.)"""
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(ParameterModifiedError) as info:
        with preserved(model):
            model[0].half()
    assert "converted parameter(s) 0.weight, 0.bias to another dtype" in str(info.value)
    assert "1.weight" not in str(info.value) and model[1].weight.dtype is torch.float32


def _autocast_settings() -> list:
    """(enabled, dtype) of autocast for the CPU and for CUDA, read through torch's own getters (the
    per-device ones from torch 2.4; torch 2.2 has a CPU pair and a GPU pair)."""
    if hasattr(torch, "get_autocast_dtype"):
        return [(torch.is_autocast_enabled(device), torch.get_autocast_dtype(device)) for device in ("cpu", "cuda")]
    return [(torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()),
            (torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype())]


def _set_autocast(device: str, enabled: bool, dtype: torch.dtype) -> None:
    if hasattr(torch, "set_autocast_dtype"):
        torch.set_autocast_enabled(device, enabled)
        torch.set_autocast_dtype(device, dtype)
    elif device == "cpu":
        torch.set_autocast_cpu_enabled(enabled)
        torch.set_autocast_cpu_dtype(dtype)
    else:
        torch.set_autocast_enabled(enabled)
        torch.set_autocast_gpu_dtype(dtype)


def test_autocast_switches_and_dtypes_the_forward_sets_are_put_back():
    """A forward that turns CPU autocast on with float16 and CUDA autocast on with bfloat16, after its
    Linear ran (no GPU needed to set them): torch's defaults are back afterwards, CPU (off, bfloat16)
    and CUDA (off, float16), both named. (Putting back only the switches left CPU autocast's dtype
    float16, so the caller's next ``torch.autocast("cpu")`` cast to float16; putting back only the
    dtypes left autocast on.)"""
    found = _autocast_settings()
    assert found == [(False, torch.bfloat16), (False, torch.float16)]  # (torch's defaults)

    class SetsAutocast(nn.Linear):
        def forward(self, x):
            y = super().forward(x)
            _set_autocast("cpu", True, torch.float16)
            _set_autocast("cuda", True, torch.bfloat16)
            return y

    model = SetsAutocast(2, 2)
    with preserved(model) as kept:
        model(torch.ones(1, 2))
        assert _autocast_settings() == [(True, torch.float16), (True, torch.bfloat16)]
    assert _autocast_settings() == found
    assert kept.restored_settings == ["autocast (cpu)", "autocast (cuda)"]


def test_a_backend_flag_or_switch_this_torch_lacks_is_left_out():
    """The ``torch.backends`` settings put back are those this torch has: a flag or a getter/setter pair
    it lacks (torch 2.2 has no ``fp32_precision``) is left out of the list rather than read at every
    profile, where reading it raised AttributeError. Checked with names no torch has; the ones it has are
    found where torch keeps them. (Not trying to read the flag took every name as present; a pair with
    one of its two functions missing was taken as present.)"""
    from torchcount.state import _backend_owner, _backend_switch

    assert _backend_owner("cudnn", "benchmark") is torch.backends.cudnn
    assert _backend_owner("", "cudnn") is torch.backends
    assert _backend_owner("cudnn", "no_such_flag") is None
    assert _backend_owner("no_such_backend", "enabled") is None
    name, get, put = _backend_switch("cuda", "flash_sdp_enabled", "enable_flash_sdp")
    assert (name, get, put) == ("torch.backends.cuda.enable_flash_sdp", torch.backends.cuda.flash_sdp_enabled,
                                torch.backends.cuda.enable_flash_sdp)
    assert _backend_switch("cuda", "no_such_getter", "enable_flash_sdp") is None
    assert _backend_switch("cuda", "flash_sdp_enabled", "no_such_setter") is None
    assert _backend_switch("no_such_backend", "flash_sdp_enabled", "enable_flash_sdp") is None


def test_anomaly_mode_and_its_nan_check_the_forward_sets_are_put_back():
    """A forward that turns anomaly detection on with its NaN check off (``set_detect_anomaly(True,
    check_nan=False)``): afterwards both are torch's defaults again, detection off and the check on
    (False, True), named once. (Putting the check back from the detection flag left it off, False.)"""
    found = (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled())
    assert found == (False, True)  # (torch's defaults)

    class SetsAnomaly(nn.Linear):
        def forward(self, x):
            torch.autograd.set_detect_anomaly(True, check_nan=False)
            return super().forward(x)

    model = SetsAnomaly(2, 2)
    with preserved(model) as kept:
        model(torch.ones(1, 2))
        assert (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()) == (True, False)
    assert (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()) == found
    assert kept.restored_settings == ["torch.autograd.set_detect_anomaly"]


def test_a_hook_kept_under_a_name_of_its_own_is_left_with_the_forwards_removed():
    """A hook dict may hold a key that is no handle id (a library's hook put in by hand under a name,
    ``fc._forward_hooks["library"] = hook``): a forward that registers a hook of its own has that one
    removed and named ("fc (forward hook)"), the named one kept, in its place. (Comparing every key with
    the first handle id raised TypeError on the string key.)"""
    def library(module, args, output):
        return None

    model = nn.Sequential()
    model.add_module("fc", nn.Linear(2, 1))
    model.fc._forward_hooks["library"] = library

    with preserved(model) as kept:  # (what the forward does)
        model.fc.register_forward_hook(lambda *args: None)
        model(torch.ones(1, 2))
    assert dict(model.fc._forward_hooks) == {"library": library}
    assert kept.removed_hooks == ["fc (forward hook)"]


def test_data_a_method_rebinds_to_a_view_of_the_same_memory_is_put_back():
    """A method that rebinds a float16 Linear(2, 2)'s weight data to a bfloat16 view of the same memory
    (``p.data = p.data.view(torch.bfloat16)``: same address, same 2 × 2 shape) and its bias data to its
    first element (``p.data[:1]``: same address, shape (1,)): both get their float16 data back, values as
    they were, shape (2,) again, named "weight" and "bias". (Telling a rebinding by the address and the
    shape only, or by the address and the dtype only, left one of them rebound.)"""
    model = nn.Linear(2, 2).half()
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    with preserved(model, method="step") as kept:  # (what the method does)
        model.weight.data = model.weight.data.view(torch.bfloat16)
        model.bias.data = model.bias.data[:1]
        assert model.weight.dtype == torch.bfloat16 and model.bias.shape == (1,)
    assert model.weight.dtype == torch.float16 and torch.equal(model.weight, weight)
    assert model.bias.shape == (2,) and torch.equal(model.bias, bias)
    assert kept.restored_data == ["weight", "bias"]


def test_gradients_a_method_converts_with_the_model_are_put_back_as_float32():
    """A Linear(2, 1) holding the gradients of one backward of sum(w·x + b) at x = (1, 2), which are
    (1, 2) and 1, and a method that converts the model (``self.half()``), which converts each .grad too,
    the same tensor rebound to float16 data (its version unchanged): each .grad is the same tensor again,
    float32, values (1, 2) and 1, named. (Telling a changed gradient by its version only left them
    float16.)"""
    model = nn.Linear(2, 1)
    model(torch.tensor([[1.0, 2.0]])).sum().backward()
    weight_grad, bias_grad = model.weight.grad, model.bias.grad
    with preserved(model, method="step") as kept:  # (what the method does)
        model.half()
        assert model.weight.grad is weight_grad and weight_grad.dtype == torch.float16
    assert model.weight.grad is weight_grad and model.bias.grad is bias_grad
    assert weight_grad.dtype == bias_grad.dtype == torch.float32
    assert weight_grad.tolist() == [[1.0, 2.0]] and bias_grad.tolist() == [1.0]
    assert kept.restored_grads == ["weight", "bias"]


def test_gradients_a_method_sets_to_none_are_put_back_without_a_write():
    """A Linear(2, 1) holding the gradients of one backward at x = (1, 2), (1, 2) and 1, and a method
    that clears them (``zero_grad()``: set to None): each .grad is the same tensor again, values (1, 2)
    and 1, named, and not written (its version as found: nothing to copy back into a tensor the method
    never touched; a write bumps it, and autograd checks that version on the tensors a graph saved).
    (Copying the saved values back whether or not they differed bumped both versions.)"""
    model = nn.Linear(2, 1)
    model(torch.tensor([[1.0, 2.0]])).sum().backward()
    weight_grad, bias_grad = model.weight.grad, model.bias.grad
    versions = (weight_grad._version, bias_grad._version)
    with preserved(model, method="step") as kept:  # (what the method does)
        model.zero_grad(set_to_none=True)
        assert model.weight.grad is None
    assert model.weight.grad is weight_grad and model.bias.grad is bias_grad
    assert weight_grad.tolist() == [[1.0, 2.0]] and bias_grad.tolist() == [1.0]
    assert (weight_grad._version, bias_grad._version) == versions
    assert kept.restored_grads == ["weight", "bias"]


def test_a_legacy_weight_norm_layer_whose_computed_weight_was_deleted_is_preserved():
    """A Linear(2, 1) under the legacy ``torch.nn.utils.weight_norm`` whose computed weight (a plain
    attribute the hook sets before each forward) was deleted (``del lin.weight``): preserved reads the
    hooks' tensors on entry and finds none to keep, with no error; the forward's hook computes it again
    (g · v / ‖v‖ = v, since g = ‖v‖ as weight_norm set it up). (Reading the tensor of every weight-norm
    hook raised KeyError: 'weight'.)"""
    from torch.nn.utils import weight_norm

    lin = weight_norm(nn.Linear(2, 1))
    del lin.weight
    with preserved(lin):
        lin(torch.ones(1, 2))
    assert torch.allclose(lin.weight, lin.weight_v)


# ---- the optimizers, schedulers and scalers a method steps (state.py's _SteppedOptimizers and its snapshots) ----

def _linear(weight, bias) -> nn.Linear:
    """A Linear(2, 1) holding the given weight [[a, b]] and bias [c]."""
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weight])), model.bias.copy_(torch.tensor([bias]))
    return model


def _skip_unless_sgd_step_runs_the_hooks() -> None:
    """These tests see SGD's step by torch's step hooks, which its class's step runs; torch 2.2 strips them
    from the class once dynamo has compiled anything (an earlier test of the suite may have), and state.py
    then wraps the step instead, which other tests check."""
    from torch.optim import Optimizer

    if getattr(torch.optim.SGD.step, "__code__", None) is not Optimizer.profile_hook_step(lambda: None).__code__:
        pytest.skip("SGD's class step runs no step hooks here (torch 2.2 after dynamo compiled something)")


def test_an_optimizer_whose_step_runs_the_hooks_is_left_unwrapped_while_the_method_runs():
    """A Linear(2, 1) (weight [[1, 2]], bias [3]) holding a plain SGD (lr 0.5, no scheduler), whose class's
    step runs torch's step hooks: torchcount sees its step by the hook alone, so while the method runs the
    optimizer is the caller's as it was (its step the class's own, SGD.step, nothing in its __dict__); the
    step (gradients of ones: [[0.5, 1.5]], [2.5]) is seen all the same, told ('SGD ×1') and put back.
    (Wrapping the step of every optimizer found, not only those whose step runs no hooks, survived.)"""
    _skip_unless_sgd_step_runs_the_hooks()
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with preserved(model, method="step") as kept:
        assert model.opt.step.__func__ is torch.optim.SGD.step and "step" not in vars(model.opt)
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        model.opt.step()
        assert model.weight.tolist() == [[0.5, 1.5]] and model.bias.tolist() == [2.5]
    assert kept.stepped_optimizers == ["SGD ×1"]
    assert model.weight.tolist() == [[1.0, 2.0]] and model.bias.tolist() == [3.0]


class _Halving:
    """A LambdaLR factor (0.5 ** epoch) as a callable object whose __dict__, in the scheduler's state_dict,
    holds a value that cannot be compared (== raises): whether such a scheduler changed cannot be told."""

    class _Incomparable:
        def __eq__(self, other):
            raise TypeError("cannot compare")

        __hash__ = object.__hash__

    def __init__(self):
        self.tag = self._Incomparable()

    def __call__(self, epoch):
        return 0.5 ** epoch


def test_a_scheduler_held_twice_is_put_back_and_named_once():
    """A LambdaLR (halving the rate 0.5 each epoch) whose state cannot be compared, so it is put back
    regardless, held under two attributes of the model (``scheduler`` and a list ``schedulers``); the
    method steps it (last_epoch 0 → 1, the rate 0.5 → 0.25): it is put back (last_epoch 0, rate 0.5) and
    named once ('LambdaLR'), not once per place it is held. (Listing every scheduler found without
    looking for it among those found already named it twice.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.scheduler = torch.optim.lr_scheduler.LambdaLR(model.opt, _Halving())
    model.schedulers = [model.scheduler]
    with pytest.warns(UserWarning, match="lr_scheduler.step"):  # (no optimizer step before it)
        with preserved(model, method="step") as kept:
            model.scheduler.step()
            assert model.scheduler.last_epoch == 1 and model.opt.param_groups[0]["lr"] == 0.25
    assert kept.stepped_schedulers == ["LambdaLR"]
    assert model.scheduler.last_epoch == 0 and model.opt.param_groups[0]["lr"] == 0.5


class _Unhooked(torch.optim.SGD):
    """An SGD whose class's step runs no step hooks, as torch 2.2 makes every optimizer class once dynamo
    has compiled anything: torchcount puts a wrapper of its step in the instance's __dict__ while the
    method runs (its constructor hooks the class again: the test strips it after making one)."""


def test_a_scheduler_made_in_the_method_on_an_unhooked_optimizer_sees_its_step():
    """An _Unhooked SGD (lr 0.5; its step wrapped by torchcount while the method runs, with no scheduler's
    mark to carry over) and a method that makes a StepLR (γ 0.5) on it, steps the optimizer and then the
    scheduler, as a training loop does: the scheduler has wrapped the optimizer's step in turn and so saw
    it, and warns of nothing (no "lr_scheduler.step() before optimizer.step()"); its rate 0.25 is the
    method's, the optimizer's 0.5 comes back. (Marking torchcount's wrapper as a scheduler's made the
    scheduler take it for its own and not wrap it, then warn.)"""
    import warnings

    model = _linear([1.0, 2.0], 3.0)
    model.opt = _Unhooked(model.parameters(), lr=0.5)
    _Unhooked.step = torch.no_grad()(torch.optim.SGD.step.__wrapped__)
    with preserved(model, method="step") as kept:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            scheduler = torch.optim.lr_scheduler.StepLR(model.opt, step_size=1, gamma=0.5)
            for p in model.parameters():
                p.grad = torch.ones_like(p)
            model.opt.step()
            scheduler.step()
        assert model.opt.param_groups[0]["lr"] == 0.25
    assert model.opt.param_groups[0]["lr"] == 0.5 and "step" not in vars(model.opt)
    assert kept.stepped_optimizers == ["_Unhooked ×1"]


def test_a_step_the_method_makes_through_the_class_beside_the_wrapper_is_counted():
    """An SGD (lr 0.5) with a StepLR (whose wrapper of its step torchcount wraps in turn while the method
    runs); the method steps it through ``opt.step()`` and then through its class (``SGD.step(opt)``, which
    runs torch's step hook only), with gradients of ones (the bias 3 → 2.5 → 2): both steps are counted
    ('SGD ×2') and the parameters come back ([[1, 2]], [3]). (Leaving the optimizer marked as inside its
    wrapped step after it returned left the second step uncounted.)"""
    _skip_unless_sgd_step_runs_the_hooks()
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.scheduler = torch.optim.lr_scheduler.StepLR(model.opt, step_size=1, gamma=0.5)
    with preserved(model, method="step") as kept:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        model.opt.step()
        torch.optim.SGD.step(model.opt)
        assert model.bias.tolist() == [2.0]
    assert kept.stepped_optimizers == ["SGD ×2"]
    assert model.weight.tolist() == [[1.0, 2.0]] and model.bias.tolist() == [3.0]


def test_an_unhooked_optimizer_the_method_leaves_alone_is_given_back_unwrapped_and_not_named():
    """A Linear(2, 1) holding an _Unhooked SGD (lr 0.5) that the method does not touch: while the method
    runs its step is torchcount's wrapper, in its __dict__; on exit the wrapper is gone (no ``step`` of its
    own, as found) and the optimizer is named nowhere (not stepped, regrouped or retuned). (Leaving the
    wrapper in the __dict__ on close named the optimizer as retuned, the attributes then put back.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = _Unhooked(model.parameters(), lr=0.5)
    _Unhooked.step = torch.no_grad()(torch.optim.SGD.step.__wrapped__)
    with preserved(model, method="step") as kept:
        assert "step" in vars(model.opt)
    assert "step" not in vars(model.opt) and model.opt.param_groups[0]["lr"] == 0.5
    assert kept.stepped_optimizers == [] and kept.regrouped_optimizers == [] and kept.retuned_optimizers == []


class _Keeps:
    """A plain object holding what it is given, to hide an optimizer deeper than torchcount looks."""

    def __init__(self, inner):
        self.inner = inner


def test_a_hidden_optimizer_stepping_data_the_method_rebound_leaves_the_found_data_alone():
    """An SGD (lr 0.5) kept deeper than torchcount looks (model.box.inner.inner.inner: known only by its
    step hook); the method rebinds the weight's data to a doubled copy ([[2, 4]]: ``weight.data = …``) and
    steps (gradients of ones: [[1.5, 3.5]]): the weight gets its own data back, its values as found
    ([[1, 2]]), named as data put back ('weight'), the step told ('SGD ×1'). (Copying the parameters with
    the param groups the step hook snapshots wrote the doubled values into the weight's own data.)"""
    _skip_unless_sgd_step_runs_the_hooks()
    model = _linear([1.0, 2.0], 3.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.box = _Keeps(_Keeps(_Keeps(opt)))
    data = model.weight.data
    with preserved(model, method="step") as kept:
        model.weight.data = model.weight.data * 2
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        opt.step()
        assert model.weight.tolist() == [[1.5, 3.5]] and data.tolist() == [[1.0, 2.0]]
    assert kept.restored_data == ["weight"] and kept.stepped_optimizers == ["SGD ×1"]
    assert model.weight.data_ptr() == data.data_ptr() and model.weight.tolist() == [[1.0, 2.0]]
    assert model.bias.tolist() == [3.0]


def test_an_optimizer_stepped_on_the_meta_device_is_told_and_left_as_found():
    """A Linear(2, 1) on the meta device with an SGD (lr 0.5) and gradients (from one backward); the
    method steps it: a meta tensor holds no values, so nothing is copied or compared (no error), the step
    is told ('SGD ×1') and the parameters are the same meta tensors."""
    model = nn.Linear(2, 1, device="meta")
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(torch.ones(1, 2, device="meta")).sum().backward()
    weight = model.weight
    with preserved(model, method="step") as kept:
        model.opt.step()
    assert kept.stepped_optimizers == ["SGD ×1"] and model.weight is weight and weight.is_meta


def test_an_optimizer_found_only_by_its_step_gets_its_rate_and_state_back():
    """An SGD (lr 0.5, momentum 0.5) kept four levels down (model.box.inner.inner.inner), deeper than the
    owners are searched, so torchcount knows it only by its step hook, which snapshots it at its first
    step. The method steps it with gradients of ones (the bias 3 → 2.5, momentum buffers 1), sets its rate
    to 1.0 and steps again (buffers 0.5·1 + 1 = 1.5: the bias 2.5 − 1.5 = 1): the step's snapshot puts back
    the rate (0.5), the momentum state (none: empty again), the parameters ([[1, 2]], [3]), and the steps
    are told ('SGD ×2'). (Leaving its param groups as the steps left them kept the rate 1.0.)"""
    _skip_unless_sgd_step_runs_the_hooks()
    model = _linear([1.0, 2.0], 3.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.5)
    model.box = _Keeps(_Keeps(_Keeps(opt)))
    with preserved(model, method="step") as kept:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        opt.step()
        opt.param_groups[0]["lr"] = 1.0
        opt.step()
        assert model.bias.tolist() == [1.0] and len(opt.state) == 2
    assert kept.stepped_optimizers == ["SGD ×2"] and kept.retuned_optimizers == []
    assert opt.param_groups[0]["lr"] == 0.5 and len(opt.state) == 0
    assert model.weight.tolist() == [[1.0, 2.0]] and model.bias.tolist() == [3.0]


class _ReadOnlyDefaults(torch.optim.SGD):
    """An SGD whose ``defaults`` is a read-only mapping (a mappingproxy, which ``add_param_group`` reads as
    it reads a dict), not a dict."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        from types import MappingProxyType
        self.defaults = MappingProxyType(dict(self.defaults))


def test_an_optimizer_whose_defaults_are_not_a_dict_has_its_rate_put_back():
    """An optimizer whose defaults are a mappingproxy (nothing torchcount can copy as a dict, or write
    back): the method sets its group's rate 0.5 → 1.0 without a step; afterwards the rate is 0.5 again, the
    defaults the same mapping, and the optimizer is named as retuned ('_ReadOnlyDefaults'), no error.
    (Comparing such defaults with the snapshot that was not taken raised TypeError.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = _ReadOnlyDefaults(model.parameters(), lr=0.5)
    defaults = model.opt.defaults
    with preserved(model, method="step") as kept:
        model.opt.param_groups[0]["lr"] = 1.0
    assert model.opt.param_groups[0]["lr"] == 0.5 and model.opt.defaults is defaults
    assert kept.retuned_optimizers == ["_ReadOnlyDefaults"]


def test_a_param_group_the_method_replaces_by_a_new_dict_is_the_found_one_again():
    """An SGD (lr 0.5) whose only param group the method replaces by a new dict of the same parameters at
    lr 1.0 (``opt.param_groups[0] = {…}``: as many groups as before, one of them another dict): the
    optimizer's list holds the group found again (the same dict, lr 0.5) and the optimizer is named as
    regrouped."""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    group = model.opt.param_groups[0]
    with preserved(model, method="step") as kept:
        model.opt.param_groups[0] = dict(group, lr=1.0)
    assert model.opt.param_groups[0] is group and group["lr"] == 0.5 and len(model.opt.param_groups) == 1
    assert kept.regrouped_optimizers == ["SGD"]


class _StepRaises(nn.Linear):
    """A Linear whose ``step`` is a property that raises (RuntimeError "no step here")."""

    @property
    def step(self):
        raise RuntimeError("no step here")


@pytest.mark.parametrize("name", ["step", "missing"])
def test_a_method_that_cannot_be_read_leaves_its_own_error_to_its_call(name):
    """A method name that reads as an error (a property raising RuntimeError "no step here") or as nothing
    (no attribute ``missing``): nothing it holds can be searched, so nothing is, and ``preserved`` enters
    and exits with no error of its own; reading the method in the block raises its own error, which comes
    through as it was. (Returning None for "nothing held" made entering raise TypeError.)"""
    model = _StepRaises(2, 1)
    error = RuntimeError if name == "step" else AttributeError
    with pytest.raises(error, match="no step here" if name == "step" else "missing"):
        with preserved(model, method=name):
            getattr(model, name)


@needs("AMP's GradScaler on CPU")
def test_a_grad_scaler_the_method_only_unscales_with_gets_its_stages_back():
    """A GradScaler that scaled a loss before the profile (its scale set, no optimizer seen yet: no
    per-optimizer state); the method backpropagates the scaled loss (w·x + b at x = [1, 1]) and unscales
    the SGD's gradients (``unscale_``: that optimizer's stage UNSCALED, its found_inf recorded), with no
    step and no update, so its scale and growth tracker stay as they were: the per-optimizer states are
    empty again (the same dict) and the scaler is named ('GradScaler'). (Telling a changed scaler by its
    attributes and tensors alone, not by the stages, kept the UNSCALED stage, and a later unscale_ of that
    optimizer would raise.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.scaler = torch.amp.GradScaler("cpu")
    model.scaler.scale(torch.ones(()))
    scale, states = model.scaler._scale.clone(), model.scaler._per_optimizer_states
    assert len(states) == 0
    with preserved(model, method="step") as kept:
        model.scaler.scale(model(torch.ones(1, 2)).sum()).backward()
        model.scaler.unscale_(model.opt)
        assert len(states) == 1
    assert kept.updated_scalers == ["GradScaler"]
    assert model.scaler._per_optimizer_states is states and len(states) == 0
    assert torch.equal(model.scaler._scale, scale)
    model.scaler.unscale_(model.opt)  # (no "unscale_() has already been called on this optimizer")


@needs("AMP's GradScaler on CPU")
def test_an_attribute_alone_the_method_sets_on_a_grad_scaler_is_dropped():
    """A GradScaler that scaled a loss before the profile (its scale set); the method sets an attribute of
    its own on it (``scaler.seen = 1``) and nothing else: the attribute is gone afterwards and the scaler is
    named ('GradScaler'). (Telling a changed scaler by its attributes found alone, not by one added, kept
    it.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.scaler = torch.amp.GradScaler("cpu")
    model.scaler.scale(torch.ones(()))
    found = list(vars(model.scaler))
    with preserved(model, method="step") as kept:
        model.scaler.seen = 1
    assert list(vars(model.scaler)) == found and kept.updated_scalers == ["GradScaler"]


def test_momentum_buffers_the_method_zeroes_in_place_without_a_step_come_back():
    """An SGD (lr 0.5, momentum 0.9) stepped once before the profile with gradients of ones (its momentum
    buffers ones: [[1, 1]] and [1]); the method zeroes them in place (a momentum reset) and does not step:
    afterwards each parameter's state is the same dict holding the same buffer, ones again, and the
    optimizer is named as retuned ('SGD'), not as stepped. (Comparing a state not stepped by its keys and
    its items' identity alone, not its tensors' values, left the zeros.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.opt.step()
    states = [model.opt.state[p] for p in model.parameters()]
    buffers = [state["momentum_buffer"] for state in states]
    with preserved(model, method="step") as kept:
        for buffer in buffers:
            buffer.zero_()
    assert all(model.opt.state[p] is state and state["momentum_buffer"] is buffer
               for p, state, buffer in zip(model.parameters(), states, buffers))
    assert buffers[0].tolist() == [[1.0, 1.0]] and buffers[1].tolist() == [1.0]
    assert kept.retuned_optimizers == ["SGD"] and kept.stepped_optimizers == []


def test_state_the_method_sets_on_a_fresh_optimizer_without_a_step_is_dropped():
    """A fresh SGD (lr 0.5, momentum 0.9: no state yet); the method sets a momentum buffer for the weight by
    hand (``opt.state[weight]["momentum_buffer"] = zeros``: a warm start) and does not step: afterwards the
    optimizer's state is empty again, as found, and it is named as retuned ('SGD'). (Telling a changed
    state by its entries found alone, not by entries added, kept the buffer.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    with preserved(model, method="step") as kept:
        model.opt.state[model.weight]["momentum_buffer"] = torch.zeros(1, 2)
    assert len(model.opt.state) == 0 and model.weight not in model.opt.state
    assert kept.retuned_optimizers == ["SGD"]


def test_a_tensor_in_a_list_of_a_param_group_written_in_place_is_put_back():
    """An SGD (lr 0.5) whose param group the caller gave an entry of its own, a list of one tensor
    (``"scales": [tensor([1., 1.])]``: torch keeps a group's extra keys); the method doubles that tensor in
    place and does not step: afterwards the group holds the same list, the same tensor, [1, 1] again, and
    the optimizer is named as retuned ('SGD'). (Copying the tensors of a group's lists only for its
    ``params`` list, or for none of them, left [2, 2].)"""
    model = _linear([1.0, 2.0], 3.0)
    scales = [torch.ones(2)]
    scale = scales[0]
    model.opt = torch.optim.SGD([{"params": list(model.parameters()), "scales": scales}], lr=0.5)
    with preserved(model, method="step") as kept:
        model.opt.param_groups[0]["scales"][0].mul_(2)
        assert scale.tolist() == [2.0, 2.0]
    assert model.opt.param_groups[0]["scales"] is scales and scales[0] is scale and scale.tolist() == [1.0, 1.0]
    assert kept.retuned_optimizers == ["SGD"] and kept.stepped_optimizers == []


def test_a_key_a_method_adds_to_a_param_group_without_a_step_is_removed():
    """An SGD (lr 0.5) whose param group the method marks (``group["warmed_up"] = True``, as a warm-up may)
    without stepping: afterwards the group is the same dict with the keys it had (the mark gone), lr 0.5,
    and the optimizer is named as retuned ('SGD'). (Telling a group as found by the items it had alone,
    not by a key added, kept the mark.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    group = model.opt.param_groups[0]
    keys = list(group)
    with preserved(model, method="step") as kept:
        group["warmed_up"] = True
    assert model.opt.param_groups[0] is group and list(group) == keys and group["lr"] == 0.5
    assert kept.retuned_optimizers == ["SGD"]


def test_a_parameter_the_method_swaps_into_its_group_in_place_comes_back():
    """An SGD (lr 0.5) over a Linear(2, 1)'s weight and bias; the method replaces the bias in the group's
    params list by another tensor, in place (the same list, the same length, 2): afterwards the list holds
    the weight and the bias again and the optimizer is named as retuned ('SGD'). (Comparing a list's items
    by its length and its tensors' values alone missed the swap.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    params = model.opt.param_groups[0]["params"]
    with preserved(model, method="step") as kept:
        params[1] = nn.Parameter(torch.zeros(1))
    assert model.opt.param_groups[0]["params"] is params
    assert len(params) == 2 and params[0] is model.weight and params[1] is model.bias
    assert kept.retuned_optimizers == ["SGD"] and kept.regrouped_optimizers == []


@needs("AMP's GradScaler on CPU")
def test_a_scale_the_method_halves_in_place_is_put_back():
    """A GradScaler whose scale was set before the profile (65536, its default initial scale); the method
    halves it in place (``scaler._scale.mul_(0.5)``: a back-off by hand, no attribute rebound): afterwards
    the scale is the same tensor holding 65536 again and the scaler is named ('GradScaler'). (Telling a
    changed scaler by its attributes' identity and stages alone missed the write.)"""
    model = _linear([1.0, 2.0], 3.0)
    model.scaler = torch.amp.GradScaler("cpu")
    model.scaler.scale(torch.ones(()))
    scale = model.scaler._scale
    assert scale.item() == 65536.0
    with preserved(model, method="step") as kept:
        model.scaler._scale.mul_(0.5)
        assert scale.item() == 32768.0
    assert model.scaler._scale is scale and scale.item() == 65536.0
    assert kept.updated_scalers == ["GradScaler"]


# ---- the thirty-eighth session's round: the restore helpers at the end of state.py ----

class _OwnDict(nn.Module):
    """A module holding a ModuleDict of its own named ``parametrizations`` (not parametrize's: a Linear
    under "weight", no ParametrizationList, or nothing), whose forward caches its input in a buffer it
    registers or in a submodule it adds."""

    def __init__(self, entries: dict, adds: str):
        super().__init__()
        self.parametrizations = nn.ModuleDict(entries)
        self.adds = adds

    def forward(self, x):
        if self.adds == "a buffer":
            self.register_buffer("cache", x)
        else:
            self.cache = nn.Identity()
        return x


@pytest.mark.parametrize("adds", ["a buffer", "a submodule"])
@pytest.mark.parametrize("entries", ["a Linear", "none"])
def test_a_module_dict_of_the_models_own_named_parametrizations_is_left_alone(entries, adds):
    """A model whose own ModuleDict is named 'parametrizations' (holding a Linear, which parametrize never
    puts there, or empty) and whose forward registers a buffer or adds a submodule, 'cache': the buffer is
    removed and named, the submodule kept (as added ones are), and the dict, the same object with the same
    entries, is no parametrization: nothing is named as removed or put back, the model keeps its class,
    which gets no property. (Taking any known entry of such a dict for a ParametrizationList, and looking
    for entries appended to it, iterated the Linear: TypeError on exit; removing a dict found empty, not
    only one the forward added, left the model without it; with the submodule added, the Linear was taken
    for a parametrization the forward removed: a 'weight' property injected into the model's class, named
    as put back, and an empty dict read as a module's children it never listed: TypeError.)"""
    own = type("Own", (_OwnDict,), {})  # (a class of this case's own: a property put on it stays there)
    model = own({"weight": nn.Linear(1, 1)} if entries == "a Linear" else {}, adds)
    found = model.parametrizations
    held = dict(found.items())
    with preserved(model) as kept:
        model(torch.ones(1, 1))
    assert kept.restored_slots == (["cache"] if adds == "a buffer" else [])
    assert kept.removed_parametrizations == [] and kept.restored_parametrizations == []
    assert kept.restored_modules == [] and "weight" not in vars(own)
    assert "cache" not in model._buffers and type(model) is own
    assert model._modules["parametrizations"] is found and dict(found.items()) == held
    assert list(model._modules) == (["parametrizations"] if adds == "a buffer" else ["parametrizations", "cache"])

class _Mixin:
    """A plain mixin: a module class of two bases."""


class _MixedHolder(nn.Module, _Mixin):
    """A module of two bases whose forward adds a ModuleDict named 'parametrizations' itself, holding a
    ParametrizationList (an Identity over a zeros(1) of its own) under "a", as parametrize would."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Identity()

    def forward(self, x):
        from torch.nn.utils.parametrize import ParametrizationList

        self.parametrizations = nn.ModuleDict({"a": ParametrizationList([nn.Identity()], torch.zeros(1))})
        return x


def test_a_parametrizations_dict_added_to_a_module_of_two_bases_is_removed_and_the_class_kept():
    """A module whose class has two bases (nn.Module and a mixin) and whose forward adds a ModuleDict
    named 'parametrizations' of a ParametrizationList: it is removed as one parametrize added, and the
    class (not a Parametrized… class of one base) is kept, with its Identity. (Comparing the class's name with 'Parametrized' + its
    first base's name without checking there is a single base read the name of None: AttributeError.)"""
    model = _MixedHolder()
    inner = model.inner
    with preserved(model):
        model(torch.ones(1))
    assert type(model) is _MixedHolder and model.inner is inner
    assert "parametrizations" not in model._modules


class _OneBaseHolder(nn.Module):
    """A module of one base (nn.Module), not a Parametrized… class, whose forward adds a ModuleDict named
    'parametrizations' itself: holding a ParametrizationList under "a", as _MixedHolder's, or an Identity
    under "cache", which parametrize never puts there."""

    def __init__(self, entry: str):
        super().__init__()
        self.inner = nn.Identity()
        self.entry = entry

    def forward(self, x):
        from torch.nn.utils.parametrize import ParametrizationList

        self.parametrizations = nn.ModuleDict(
            {"a": ParametrizationList([nn.Identity()], torch.zeros(1))} if self.entry == "a parametrization"
            else {"cache": nn.Identity()})
        return x


def test_a_parametrizations_dict_added_to_a_module_of_one_base_is_removed_and_the_class_kept():
    """_OneBaseHolder's dict of a ParametrizationList is removed as one parametrize added ('a' named), and
    its class kept: only a Parametrized… class made for its one base goes back to that base. (Reverting any
    class of one base left the model an nn.Module, its forward gone.)"""
    model = _OneBaseHolder("a parametrization")
    with preserved(model) as kept:
        model(torch.ones(1))
    assert type(model) is _OneBaseHolder and list(model._modules) == ["inner"]
    assert kept.removed_parametrizations == ["a"]


def test_a_parametrizations_dict_added_holding_another_module_is_kept_as_added_submodules_are():
    """_OneBaseHolder's dict of an Identity (no ParametrizationList) is a submodule the forward added,
    kept as added submodules are: the same dict after 'inner', holding the same Identity, nothing named as a
    parametrization. (Removing every dict the forward added, emptied or not, dropped it.)"""
    model = _OneBaseHolder("a submodule")
    with preserved(model) as kept:
        model(torch.ones(1))
        added, cache = model.parametrizations, model.parametrizations.cache
    assert type(model) is _OneBaseHolder and list(model._modules) == ["inner", "parametrizations"]
    assert model._modules["parametrizations"] is added and dict(added.items()) == {"cache": cache}
    assert kept.removed_parametrizations == [] and kept.restored_modules == []


class _Reenters(nn.Sequential):
    """A Sequential whose forward takes its first child out (``_modules.pop``), runs it alone and adds it
    back under its name: the same child, now after the others."""

    def forward(self, x):
        first = self._modules.pop("0")
        x = first(x)
        self.add_module("0", first)
        return x


def test_a_child_the_forward_deletes_and_adds_again_is_put_back_in_its_place():
    """_Reenters(Linear(1, 1), ReLU()): its forward leaves the Linear, the same object, after the ReLU, so
    the Sequential would then run ReLU before Linear. The children are put back in their order, '0' then
    '1' (the same objects), '0' named as put back, and the model computes relu(w·x + b) again: with w = −1,
    b = 0 and x = 1 that is 0 (ReLU first would give −1). (Skipping a module whose children were all the
    same objects, in whatever order, left the Linear last.)"""
    model = _Reenters(nn.Linear(1, 1), nn.ReLU())
    with torch.no_grad():
        model[0].weight.fill_(-1.0)
        model[0].bias.zero_()
    lin, relu = model[0], model[1]
    with preserved(model) as kept:
        model(torch.ones(1, 1))
        assert list(model._modules) == ["1", "0"]
    assert list(model._modules.items()) == [("0", lin), ("1", relu)]
    assert kept.restored_modules == ["0"]
    assert nn.Sequential.forward(model, torch.ones(1, 1)).tolist() == [[0.0]]


class _Holds(nn.Module):
    """Buffers of every element width, each the only one of its dtype and rank (copied on its own): bool
    (1 byte), float16 (2), int32 (4), float64 (8), complex64 (two float32 of 4 bytes), and two 1-D
    bfloat16 ones and two 0-D int64 ones (each pair one flat copy); a forward that reads them only."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mask", torch.tensor([True, False]))
        self.register_buffer("h16", torch.tensor([1.5, -0.0, float("nan")], dtype=torch.float16))
        self.register_buffer("count", torch.tensor([7, -1], dtype=torch.int32))
        self.register_buffer("f64", torch.tensor([[0.25, -0.0]], dtype=torch.float64))
        self.register_buffer("phase", torch.tensor([1 - 2j], dtype=torch.complex64))
        self.register_buffer("b1", torch.tensor([1.0, 2.0], dtype=torch.bfloat16))
        self.register_buffer("b2", torch.tensor([-3.0], dtype=torch.bfloat16))
        self.register_buffer("n1", torch.tensor(5))
        self.register_buffer("n2", torch.tensor(6))

    def forward(self, x):
        return x * self.f64.sum() + self.phase.real


def test_buffers_of_every_width_a_forward_only_reads_are_not_written():
    """The _Holds buffers (1, 2, 4 and 8-byte elements, a complex one, two flat pairs) after a forward that
    reads them: each is the same tensor with the same bits and its version as found (0), since nothing
    was copied back: a copy would bump it to 1, and a caller's graph that saved the buffer would then
    refuse to run backward. (Comparing no tensor of some width bit for bit, which means restoring rather
    than deciding, copied such buffers back every time.)"""
    model = _Holds().eval()
    found = {name: (b, b.clone(), b._version) for name, b in model.named_buffers()}
    with preserved(model):
        model(torch.ones(1))
    for name, b in model.named_buffers():
        tensor, copy, version = found[name]
        assert b is tensor and b._version == version == 0, name
        assert b.dtype == copy.dtype and torch.equal(b.view(-1).view(torch.uint8), copy.view(-1).view(torch.uint8)), name



def _scheduled(extra) -> nn.Module:
    """A Linear(2, 1) with an SGD optimizer and a StepLR (γ 1) that holds ``extra`` as an attribute of its
    own, and so in its state_dict."""
    model = nn.Linear(2, 1)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.scheduler = torch.optim.lr_scheduler.StepLR(model.opt, step_size=1, gamma=1.0)
    model.scheduler.extra = extra
    return model


_NAN = float("nan")


@pytest.mark.parametrize("found", ["tensor", "nan", "nested", "dict"])
def test_a_scheduler_whose_state_the_method_leaves_alone_is_not_named(found):
    """A StepLR holding, in its state, a tensor [1, NaN], a float NaN, a list [1, (2.0, NaN)] or a dict
    {"k": [1]}, and a method that leaves the scheduler alone: its state equals the copy taken on entry
    (a NaN kept is the same NaN), so nothing is loaded into it and it is not named; the value is the same
    object. (Comparing NaN as unequal, or a state branch answering None, named it as stepped.)"""
    extra = {"tensor": torch.tensor([1.0, _NAN]), "nan": _NAN, "nested": [1, (2.0, _NAN)],
             "dict": {"k": [1]}}[found]
    model = _scheduled(extra)
    with preserved(model, method="step") as kept:
        pass
    assert kept.stepped_schedulers == [] and model.scheduler.extra is extra


@pytest.mark.parametrize("found, set_to", [
    (torch.tensor([0.0]), torch.tensor([-0.0])),  # (equal as floats, not as bits)
    (torch.tensor([0.0]), torch.tensor([0], dtype=torch.int32)),  # (the same bits, another dtype)
    (torch.tensor([1.0]), 1.0),
    (1.0, torch.tensor([1.0])),
    ({"k": 1, "j": 2}, {"k": 1}),
    ([1, 2], (1, 2)),
    ([1, 2, 3], [1, 2]),
    ([1, 2], [1, 3]),
    (1.0, _NAN),
    (_NAN, 1.0),
], ids=["-0.0 for 0.0", "int32 0 for float 0.0", "a float for a tensor", "a tensor for a float", "a key fewer",
        "a tuple for a list", "an item fewer", "another item", "NaN for 1.0", "1.0 for NaN"])
def test_a_scheduler_whose_state_the_method_changes_is_put_back_and_named(found, set_to):
    """A StepLR holding a value in its state that the method replaces with one that differs only in
    what the comparison must see: the bits of a zero (−0.0), the dtype of the same bits (int32 0), a tensor
    for an equal float or back, a key or an item fewer (the rest equal), a tuple for the list with the same
    items, another last item, NaN for 1.0 or back. Each is a change: the scheduler is named ('StepLR') and
    its state loaded from the copy taken on entry, the value as found again. (A comparison that missed any
    one of these left the method's value.)"""
    model = _scheduled(found)
    with preserved(model, method="step") as kept:
        model.scheduler.extra = set_to
    assert kept.stepped_schedulers == ["StepLR"]
    now = model.scheduler.extra
    assert type(now) is type(found)
    if isinstance(found, torch.Tensor):
        assert now.dtype == found.dtype and now.view(torch.int32).tolist() == found.view(torch.int32).tolist()
    elif found != found:
        assert now != now
    else:
        assert now == found


def test_a_scheduler_holding_a_numpy_array_with_a_nan_that_the_method_leaves_alone_is_not_named():
    """A NumPy array [1, NaN] in a scheduler's state, left alone: the same NaN is the same state, as in a
    tensor or a float (its list form compared with ==, NaN != NaN, named the scheduler as stepped and
    loaded its state again)."""
    numpy = pytest.importorskip("numpy")
    extra = numpy.array([1.0, _NAN])
    model = _scheduled(extra)
    with preserved(model, method="step") as kept:
        pass
    assert kept.stepped_schedulers == [] and model.scheduler.extra is extra


def test_a_scheduler_holding_an_empty_array_of_another_shape_is_put_back():
    """A StepLR holding a NumPy array of shape (0, 2) that the method replaces with one of shape (0, 3):
    both list as [], but the shapes differ, so the scheduler is named and the (0, 2) array put back."""
    numpy = pytest.importorskip("numpy")
    model = _scheduled(numpy.zeros((0, 2)))
    with preserved(model, method="step") as kept:
        model.scheduler.extra = numpy.zeros((0, 3))
    assert kept.stepped_schedulers == ["StepLR"] and model.scheduler.extra.shape == (0, 2)


class _SparseBuffers(nn.Module):
    """Two 1-D sparse COO float buffers of 4 entries (index 1 → 2.0, and index 3 → −1.0) whose forward
    doubles the first in place."""

    def __init__(self):
        super().__init__()
        self.register_buffer("s1", torch.sparse_coo_tensor([[1]], [2.0], (4,)))
        self.register_buffer("s2", torch.sparse_coo_tensor([[3]], [-1.0], (4,)))

    def forward(self, x):
        self.s1.mul_(2)
        return x + self.s1.to_dense() + self.s2.to_dense()


def test_sparse_buffers_of_one_dtype_and_rank_are_each_put_back():
    """_SparseBuffers: the first buffer, doubled by the forward (index 1 → 4.0), is put back, [0, 2, 0, 0]
    dense, and the second is [0, 0, 0, −1], both the same tensors, still sparse. (Sparse tensors have no
    flat copy: grouping the two by device, dtype and rank as strided ones are, instead of copying each,
    failed on exit.)"""
    model = _SparseBuffers()
    s1, s2 = model.s1, model.s2
    with preserved(model):
        model(torch.zeros(4))
        assert model.s1.to_dense().tolist() == [0.0, 4.0, 0.0, 0.0]
    assert model.s1 is s1 and model.s2 is s2 and s1.is_sparse and s2.is_sparse
    assert s1.to_dense().tolist() == [0.0, 2.0, 0.0, 0.0] and s2.to_dense().tolist() == [0.0, 0.0, 0.0, -1.0]


def test_an_in_place_write_and_a_conversion_are_told_in_one_error_joined_by_and():
    """A forward that adds 1 to the first Linear's weight in place and converts the second Linear to
    float64: ParameterModifiedError names both, in that order, joined by " and ": the whole message read
    as the user does."""
    model = nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 1))
    with pytest.raises(ParameterModifiedError) as error:
        with preserved(model):
            with torch.no_grad():
                model[0].weight.add_(1)
            model[1].double()
    assert str(error.value) == (
        "the forward pass modified parameter(s) 0.weight in place and converted parameter(s) 1.weight, 1.bias "
        "to another dtype (.half(), .to()); torchcount cannot restore them (profile(..., copy_params=True) keeps "
        "a copy and restores them)")


@pytest.mark.skipif(not hasattr(BaseException, "add_note"), reason="exception notes need Python 3.11")
def test_an_in_place_write_by_a_forward_that_then_fails_is_told_on_its_error():
    """A forward that doubles a Linear's weight in place and then raises: the user's error comes out
    (not ParameterModifiedError, which would hide it), carrying the note that says what could not be
    put back, word for word as the error of a forward that completes would say it; the weight stays
    doubled (0.5 → 1.0), as the note warns."""
    model = nn.Sequential(nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.fill_(0.5)
    with pytest.raises(ValueError) as error:
        with preserved(model):
            with torch.no_grad():
                model[0].weight.mul_(2)
            raise ValueError("boom")
    assert str(error.value) == "boom" and error.value.__notes__ == [
        "torchcount: the forward pass modified parameter(s) 0.weight in place; torchcount cannot restore them "
        "(profile(..., copy_params=True) keeps a copy and restores them)"]
    assert model[0].weight.item() == 1.0


# ---- the thirty-ninth session's round (helper A): where schedulers and scalers are looked for, and put back ----


def _stepped_lr() -> "torch.optim.lr_scheduler.StepLR":
    """A StepLR (γ 0.5 every epoch) over an SGD (lr 0.1) of a tensor of its own, held by nothing else."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
@pytest.mark.parametrize("given, found", [("itself", True), ("in a list", True), ("a list in a list", True),
                                          ("a list in a list in a list", False)])
def test_a_scheduler_given_to_the_method_is_looked_for_two_levels_into_the_lists_holding_it(given, found):
    """A StepLR given to the method as an argument, itself or in lists: ``[s]`` and ``[[s]]`` hold it one
    and two levels down, where it is found and put back (last_epoch 0 again after the method's step made
    it 1) and named ('StepLR'); ``[[[s]]]`` holds it three levels down, where it is not looked for, and it
    keeps epoch 1, unnamed (docs/guarantees.md: two levels down at most). (Searching an argument with no
    __dict__ zero levels or three levels deep, instead of two, missed [[s]] or found [[[s]]].)"""
    scheduler = _stepped_lr()
    argument = {"itself": scheduler, "in a list": [scheduler], "a list in a list": [[scheduler]],
                "a list in a list in a list": [[[scheduler]]]}[given]
    with preserved(nn.Linear(2, 1), method="step", inputs=(torch.ones(1, 2), argument)) as kept:
        scheduler.step()
        assert scheduler.last_epoch == 1
    assert kept.stepped_schedulers == (["StepLR"] if found else [])
    assert scheduler.last_epoch == (0 if found else 1)


class _Schedules:
    """A class whose class attribute holds a StepLR (set by the test)."""

    scheduler = None


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
@pytest.mark.parametrize("where", ["an argument", "an attribute of the model"])
def test_a_scheduler_a_class_holds_as_a_class_attribute_is_not_looked_for(where):
    """A StepLR held as a class attribute (``_Schedules.scheduler``), the class given to the method as an
    argument or kept as an attribute of the model: a class's attributes are not searched (docs/guarantees.md:
    one held "through ... a class attribute ... is not found and keeps what the method set"), so the method's
    step (last_epoch 0 → 1) stays and nothing is named. (Searching a class given as an argument as a plain
    object, or taking a class kept by the model for a plain object, found it and put it back.)"""
    scheduler = _Schedules.scheduler = _stepped_lr()
    model = nn.Linear(2, 1)
    inputs = (torch.ones(1, 2),)
    if where == "an argument":
        inputs += (_Schedules,)
    else:
        model.schedules = _Schedules
    try:
        with preserved(model, method="step", inputs=inputs) as kept:
            scheduler.step()
        assert kept.stepped_schedulers == [] and scheduler.last_epoch == 1
    finally:
        _Schedules.scheduler = None


class _Items(collections.abc.Mapping):
    """A read-only mapping that is not a dict, holding the items it is given."""

    def __init__(self, items):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


@pytest.mark.parametrize("change", ["a tensor for an array", "a float NaN for a NumPy one",
                                    "a NumPy NaN for a float one", "a dict for a mapping"])
def test_a_scheduler_value_replaced_by_one_a_looser_comparison_takes_as_equal_is_put_back(change):
    """A StepLR holding, in its state, a value that the method replaces by one a looser comparison would take
    as the same: the NumPy array [1, 2] by the float64 tensor [1, 2] (the same shape, the same list form), a
    NumPy float32 NaN by a float NaN or back (both NaN, one of them not a float), a Mapping {"k": 1} that is
    not a dict by the dict {"k": 1} (the same keys and items). Each is a change: the scheduler is named
    ('StepLR') and the value put back as found, of its type. (Comparing a tensor with an array by its list
    form, a float NaN with a NaN of any type, or a dict with any mapping by its keys and items, kept the
    method's value.)"""
    numpy = pytest.importorskip("numpy")
    found, set_to = {
        "a tensor for an array": (numpy.array([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64)),
        "a float NaN for a NumPy one": (numpy.float32("nan"), _NAN),
        "a NumPy NaN for a float one": (_NAN, numpy.float32("nan")),
        "a dict for a mapping": (_Items({"k": 1}), {"k": 1}),
    }[change]
    model = _scheduled(found)
    with preserved(model, method="step") as kept:
        model.scheduler.extra = set_to
    now = model.scheduler.extra
    assert kept.stepped_schedulers == ["StepLR"] and type(now) is type(found)
    if isinstance(found, numpy.ndarray):
        assert now.tolist() == [1.0, 2.0]
    elif isinstance(found, _Items):
        assert dict(now) == {"k": 1}
    else:
        assert now != now


def test_a_scheduler_holding_a_python_array_left_alone_is_not_named():
    """A StepLR holding a Python ``array.array('d', [1, 2])`` (it has a tolist() but no shape or dtype: not
    a NumPy array) that the method leaves alone: equal to the copy taken on entry, so it is not named and
    is the same object. (Taking any value with one of shape, dtype or tolist for a NumPy array read its
    missing shape, and put it back regardless.)"""
    import array

    extra = array.array("d", [1.0, 2.0])
    model = _scheduled(extra)
    with preserved(model, method="step") as kept:
        pass
    assert kept.stepped_schedulers == [] and model.scheduler.extra is extra


@dataclasses.dataclass
class _Spec:
    """A tensor's description of the user's (a shape and a dtype, no values: no tolist)."""

    shape: tuple
    dtype: torch.dtype


@dataclasses.dataclass
class _Typed:
    """A value of the user's with a dtype and a tolist(), and no shape."""

    dtype: torch.dtype
    values: list

    def tolist(self):
        return list(self.values)


@pytest.mark.parametrize("extra", [_Spec((2, 3), torch.float32), _Typed(torch.float32, [1.0, 2.0])],
                         ids=["shape and dtype", "dtype and tolist"])
def test_a_scheduler_holding_an_object_with_some_of_an_arrays_attributes_left_alone_is_not_named(extra):
    """A StepLR holding an object of the user's with some but not all of a NumPy array's shape, dtype and
    tolist() (a spec with a shape (2, 3) and a dtype float32; a value with a dtype and a tolist() [1, 2]),
    left alone by the method: equal (==) to the copy taken on entry, so it is not named and is the same
    object. (Taking it for an array by two of the three read the one it lacks, and put it back.)"""
    model = _scheduled(extra)
    with preserved(model, method="step") as kept:
        pass
    assert kept.stepped_schedulers == [] and model.scheduler.extra is extra


# ---- the fortieth session's round (helper A): buffers without a flat copy, and the notes' words ----


class _Opaque(torch.Tensor):
    """A tensor subclass of the user's that cannot be joined with others (``torch.cat``, ``torch.stack``
    and flattening refuse it: TypeError) nor viewed as another dtype."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.cat, torch.stack, torch._C._nn.flatten_dense_tensors) or \
                func is torch.Tensor.view and len(args) == 2 and isinstance(args[1], torch.dtype):
            return NotImplemented
        return super().__torch_function__(func, types, args, kwargs or {})


class _OpaqueBuffers(nn.Module):
    """Two 1-D float32 _Opaque buffers, [1, 2] and [3] (one device, dtype and rank: one group, whose flat
    copy fails), and a forward that doubles both in place or only reads them."""

    def __init__(self, writes: bool):
        super().__init__()
        self.register_buffer("u", torch.tensor([1.0, 2.0]).as_subclass(_Opaque))
        self.register_buffer("v", torch.tensor([3.0]).as_subclass(_Opaque))
        self.writes = writes

    def forward(self, x):
        if self.writes:
            self.u.mul_(2)
            self.v.mul_(2)
        return x * self.v


@pytest.mark.parametrize("writes", [True, False], ids=["doubled", "read"])
def test_buffers_of_a_subclass_that_cannot_be_joined_are_copied_one_by_one(writes):
    """_OpaqueBuffers: their flat copy fails, so each is copied on its own. Doubled by the forward ([2, 4],
    [6] inside), they come back [1, 2] and [3], the same tensors, still _Opaque; only read, they are
    compared by value (no integer view of them) and found unchanged, so nothing is copied back: each
    version stays 0. (Dropping the one-by-one copy when the flat one fails left them doubled; a value
    comparison answering None copied unchanged ones back, version 1.)"""
    model = _OpaqueBuffers(writes)
    u, v = model.u, model.v
    with preserved(model):
        model(torch.ones(1))
        assert u.tolist() == ([2.0, 4.0] if writes else [1.0, 2.0])
    assert model.u is u and model.v is v and type(u) is _Opaque and type(v) is _Opaque
    assert u.tolist() == [1.0, 2.0] and v.tolist() == [3.0]
    if not writes:
        assert u._version == 0 and v._version == 0


class _QuantizedBuffers(nn.Module):
    """Two 1-D qint8 buffers quantized at different scales: [1, 2] at 0.5 (integers 2, 4) and [0.25, −0.75]
    at 0.25 (1, −3), and a forward that overwrites both with 4s in place (or only reads them)."""

    def __init__(self, writes: bool):
        super().__init__()
        self.register_buffer("a", torch.quantize_per_tensor(torch.tensor([1.0, 2.0]), 0.5, 0, torch.qint8))
        self.register_buffer("b", torch.quantize_per_tensor(torch.tensor([0.25, -0.75]), 0.25, 0, torch.qint8))
        self.writes = writes

    def forward(self, x):
        if self.writes:
            self.a.copy_(torch.quantize_per_tensor(torch.full((2,), 4.0), 0.5, 0, torch.qint8))
            self.b.copy_(torch.quantize_per_tensor(torch.full((2,), 4.0), 0.25, 0, torch.qint8))
        return x + self.a.dequantize() + self.b.dequantize()


@pytest.mark.parametrize("writes", [True, False], ids=["overwritten", "read"])
def test_quantized_buffers_of_two_scales_come_back_as_found(writes):
    """_QuantizedBuffers after a forward that overwrites them with 4s, or only reads them: each is the same
    tensor, [1, 2] at scale 0.5 and [0.25, −0.75] at scale 0.25 (its integers 2, 4 and 1, −3); read only,
    neither is copied back (version 0). (Comparing a quantized tensor through an integer view of it crashed
    the process, a segmentation fault, on leaving even a forward that wrote nothing; joined with the other
    into one flat copy, the second was requantized at the first's scale 0.5 and came back [0, −1].)"""
    model = _QuantizedBuffers(writes)
    a, b = model.a, model.b
    with preserved(model):
        model(torch.zeros(2))
    assert model.a is a and model.b is b
    assert a.dequantize().tolist() == [1.0, 2.0] and a.q_scale() == 0.5 and a.int_repr().tolist() == [2, 4]
    assert b.dequantize().tolist() == [0.25, -0.75] and b.q_scale() == 0.25 and b.int_repr().tolist() == [1, -3]
    if not writes:
        assert a._version == 0 and b._version == 0


def test_every_kind_of_module_hook_a_forward_registers_is_removed_and_named():
    """A forward that registers one hook of each kind torch keeps per module on its Linear '0' (forward pre-,
    forward, backward pre-, backward, state_dict pre-, state_dict, load_state_dict pre- and post-hook): all
    eight are removed, each dict empty again, and named in that order, each under its own kind, as
    "0 (forward pre-hook)" … "0 (load_state_dict post-hook)". (A kind's name changed read as another kind
    in the note.)"""

    def hook(*args, **kwargs):
        return None

    model = nn.Sequential(nn.Linear(2, 2))
    lin = model[0]
    with preserved(model) as kept:
        lin.register_forward_pre_hook(hook)
        lin.register_forward_hook(hook)
        lin.register_full_backward_pre_hook(hook)
        lin.register_full_backward_hook(hook)
        lin.register_state_dict_pre_hook(hook)
        lin._register_state_dict_hook(hook)
        lin._register_load_state_dict_pre_hook(hook)
        lin.register_load_state_dict_post_hook(hook)
    kinds = ["forward pre-hook", "forward hook", "backward pre-hook", "backward hook", "state_dict pre-hook",
             "state_dict hook", "load_state_dict pre-hook", "load_state_dict post-hook"]
    assert kept.removed_hooks == [f"0 ({kind})" for kind in kinds]
    for name in ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks",
                 "_state_dict_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks",
                 "_load_state_dict_post_hooks"):
        assert len(getattr(lin, name)) == 0, name


def test_a_legacy_spectral_norms_three_hooks_a_forward_removes_are_put_back_and_named():
    """A forward that folds a legacy spectral_norm on Linear '0' (remove_spectral_norm: its forward pre-hook
    and state_dict hook deleted, the slots replaced by a plain weight) and deletes its load_state_dict
    pre-hook too (which remove_spectral_norm means to, but misses once torch wraps it): the three hooks are
    put back, the same objects, and named in that order: "0 (forward pre-hook)", "0 (state_dict hook)",
    "0 (load_state_dict pre-hook)"."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the legacy spectral_norm is deprecated in newer torch)
        model = nn.Sequential(nn.utils.spectral_norm(nn.Linear(3, 3)))
    lin = model[0]
    found = [dict(lin._forward_pre_hooks), dict(lin._state_dict_hooks), dict(lin._load_state_dict_pre_hooks)]
    assert [len(hooks) for hooks in found] == [1, 1, 1]
    with preserved(model) as kept:
        nn.utils.remove_spectral_norm(lin)
        lin._load_state_dict_pre_hooks.clear()
    assert kept.restored_hooks == ["0 (forward pre-hook)", "0 (state_dict hook)", "0 (load_state_dict pre-hook)"]
    assert [dict(lin._forward_pre_hooks), dict(lin._state_dict_hooks), dict(lin._load_state_dict_pre_hooks)] == found


def _process_settings() -> tuple:
    return (torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_num_threads(),
            torch.is_autocast_cache_enabled())


def _set_process_settings(found: tuple) -> None:
    torch.set_default_dtype(found[0])
    torch.use_deterministic_algorithms(found[1], warn_only=found[2])
    torch.set_num_threads(found[3])
    torch.set_autocast_cache_enabled(found[4])


def test_process_settings_a_forward_changes_are_put_back_and_named_by_their_setters():
    """A forward that sets the default dtype to float64, deterministic algorithms on (warn only), one thread
    more and autocast's weight cache off: each is put back as found and named by the torch call that sets
    it, in torchcount's order: "torch.set_default_dtype", "torch.use_deterministic_algorithms",
    "torch.set_num_threads", "torch.set_autocast_cache_enabled". (A setter's name changed read as no torch
    call in the note.)"""
    found = _process_settings()
    try:
        with preserved(nn.Linear(1, 1)) as kept:
            torch.set_default_dtype(torch.float64)
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.set_num_threads(found[3] + 1)
            torch.set_autocast_cache_enabled(not found[4])
        assert kept.restored_settings == ["torch.set_default_dtype", "torch.use_deterministic_algorithms",
                                          "torch.set_num_threads", "torch.set_autocast_cache_enabled"]
        assert _process_settings() == found
    finally:
        _set_process_settings(found)


@dataclasses.dataclass
class _Shaped:
    """A value of the user's with a shape and a tolist() but no dtype (not a NumPy array), equal (==) to
    another only if all three fields are."""

    shape: tuple
    values: list
    label: str

    def tolist(self):
        return list(self.values)


def test_a_scheduler_holding_an_object_with_a_shape_and_a_tolist_is_compared_by_its_own_equality():
    """A StepLR holding a _Shaped((2,), [1, 2], 'warm') whose label the method sets to 'cold' in place: the
    same shape and list form, but not equal by its own ==, so a change: the scheduler is named ('StepLR')
    and the value put back, labelled 'warm'. (Taking a value with a shape and a tolist() for a NumPy array,
    without its dtype, compared only those and kept 'cold'.)"""
    model = _scheduled(_Shaped((2,), [1.0, 2.0], "warm"))
    with preserved(model, method="step") as kept:
        model.scheduler.extra.label = "cold"
    assert kept.stepped_schedulers == ["StepLR"] and model.scheduler.extra == _Shaped((2,), [1.0, 2.0], "warm")


@pytest.mark.parametrize("where, name", [
    ("cudnn", "enabled"), ("cudnn", "benchmark"), ("cudnn", "deterministic"), ("cudnn", "allow_tf32"),
    ("cuda.matmul", "allow_fp16_reduced_precision_reduction"), ("cuda.matmul", "allow_bf16_reduced_precision_reduction"),
    ("mkldnn", "enabled"), ("mkldnn", "deterministic"), ("cuda.matmul", "allow_fp16_accumulation"),
    ("", "fp32_precision"), ("cuda.matmul", "fp32_precision"), ("cudnn.conv", "fp32_precision"),
    ("cudnn.rnn", "fp32_precision"), ("mkldnn.matmul", "fp32_precision"), ("mkldnn.conv", "fp32_precision"),
    ("mkldnn.rnn", "fp32_precision")])
def test_a_torch_backends_flag_a_forward_flips_is_put_back_and_named_by_its_path(where, name, monkeypatch):
    """A forward that flips one torch.backends flag (a switch to its negation, an fp32_precision to "tf32",
    or "ieee" where it was "tf32"): it is put back as found and named alone, by its path, as
    "torch.backends.cudnn.enabled" (skipped where this torch lacks the flag: torch 2.2 has no mkldnn
    deterministic mode, fp16 accumulation or fp32_precision API). (A part of a flag's path changed looked
    for a flag this torch does not have, and left the forward's value; the root precision's empty part
    as another read "torch.backends..fp32_precision" or no flag.)"""
    owner = torch.backends
    for part in filter(None, where.split(".")):
        owner = getattr(owner, part, None)
    try:
        found = getattr(owner, name)
    except (AttributeError, RuntimeError):
        pytest.skip(f"torch {torch.__version__} has no readable torch.backends.{where}.{name}")
    flipped = (not found) if isinstance(found, bool) else ("tf32" if found != "tf32" else "ieee")
    # (torch.testing's common_utils, which other tests import, freezes the cudnn and mkldnn flags,
    # torch.backends.disable_global_flags(): set directly they raise; thawed for this test alone, in the
    # module's own globals, since torch ≥ 2.9 puts a wrapper of the module in sys.modules)
    monkeypatch.setitem(torch.backends.flags_frozen.__globals__, "__allow_nonbracketed_mutation_flag", True)
    try:
        with preserved(nn.Linear(1, 1)) as kept:
            setattr(owner, name, flipped)
            assert getattr(owner, name) == flipped
        assert kept.restored_settings == [f"torch.backends.{where + '.' if where else ''}{name}"]
        assert getattr(owner, name) == found
    finally:
        setattr(owner, name, found)


class _NestedBuffers(nn.Module):
    """Two nested-tensor buffers (torch.nested.nested_tensor, strided layout: no one shape, no flat copy):
    [[1, 2], [3]] and [[5], [6, 7]], and a forward that doubles the first in place."""

    def __init__(self):
        super().__init__()
        self.register_buffer("n1", torch.nested.nested_tensor([torch.tensor([1.0, 2.0]), torch.tensor([3.0])]))
        self.register_buffer("n2", torch.nested.nested_tensor([torch.tensor([5.0]), torch.tensor([6.0, 7.0])]))

    def forward(self, x):
        self.n1.mul_(2)
        return x


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors is in prototype stage")
def test_nested_tensor_buffers_a_forward_doubles_come_back_as_found():
    """_NestedBuffers after a forward that doubles the first ([[2, 4], [6]] inside): both are the same
    tensors, [[1, 2], [3]] and [[5], [6, 7]] again. (Reading a nested tensor's shape, which torch refuses,
    to see whether the forward resized it failed on leaving with RuntimeError "NestedTensorImpl doesn't
    support sizes", and the buffer stayed doubled.)"""
    model = _NestedBuffers()
    n1, n2 = model.n1, model.n2
    with preserved(model):
        model(torch.zeros(1))
        assert [t.tolist() for t in n1.unbind()] == [[2.0, 4.0], [6.0]]
    assert model.n1 is n1 and model.n2 is n2
    assert [t.tolist() for t in n1.unbind()] == [[1.0, 2.0], [3.0]]
    assert [t.tolist() for t in n2.unbind()] == [[5.0], [6.0, 7.0]]


@pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"), reason="torch < 2.9 has no fp32_precision API")
def test_cudnns_fp32_precision_a_forward_sets_is_put_back_and_named(monkeypatch):
    """A forward that sets cuDNN's fp32_precision to "tf32" (this torch moves cuda.matmul's with it, which
    is put back and named as well): it reads as found again and "torch.backends.cudnn.fp32_precision" is
    among the settings named. (A part of its path changed dropped the flag, and left "tf32".)"""
    cudnn = torch.backends.cudnn
    found = cudnn.fp32_precision
    flipped = "tf32" if found != "tf32" else "ieee"
    monkeypatch.setitem(torch.backends.flags_frozen.__globals__, "__allow_nonbracketed_mutation_flag", True)  # (as above)
    try:
        with preserved(nn.Linear(1, 1)) as kept:
            cudnn.fp32_precision = flipped
        assert "torch.backends.cudnn.fp32_precision" in kept.restored_settings
        assert cudnn.fp32_precision == found
    finally:
        cudnn.fp32_precision = found


class _AddsToOwnDict(nn.Module):
    """A module holding a ModuleDict of its own named ``parametrizations`` (a Linear under "weight", not
    parametrize's), whose forward adds an nn.Identity to it under "extra" (a submodule added)."""

    def __init__(self):
        super().__init__()
        self.parametrizations = nn.ModuleDict({"weight": nn.Linear(1, 1)})

    def forward(self, x):
        self.parametrizations["extra"] = nn.Identity()
        return x


def test_a_submodule_a_forward_adds_to_the_models_own_dict_named_parametrizations_is_kept_and_not_named():
    """_AddsToOwnDict: the Identity the forward adds is kept, as submodules a forward adds are
    (docs/guarantees.md), the dict the same object holding "weight" (the same Linear) and "extra", and no
    parametrization is named as removed. (Every entry of a dict named 'parametrizations' that was not
    there before was taken for a ParametrizationList the forward registered: the Identity was deleted and
    named in removed_parametrizations as 'extra'.)"""
    model = _AddsToOwnDict()
    found, lin = model.parametrizations, model.parametrizations["weight"]
    with preserved(model) as kept:
        model(torch.ones(1, 1))
    assert kept.removed_parametrizations == [] and kept.restored_modules == []
    assert model.parametrizations is found and list(found.keys()) == ["weight", "extra"]
    assert found["weight"] is lin and type(found["extra"]) is nn.Identity and type(model) is _AddsToOwnDict


# ---- the forty-first session's round (helper B): the attention switches, other process-wide settings ----


@pytest.mark.parametrize("getter, setter", [
    ("cuda.flash_sdp_enabled", "cuda.enable_flash_sdp"),
    ("cuda.mem_efficient_sdp_enabled", "cuda.enable_mem_efficient_sdp"),
    ("cuda.math_sdp_enabled", "cuda.enable_math_sdp"), ("cuda.cudnn_sdp_enabled", "cuda.enable_cudnn_sdp"),
    ("cuda.fp16_bf16_reduction_math_sdp_allowed", "cuda.allow_fp16_bf16_reduction_math_sdp"),
    ("mha.get_fastpath_enabled", "mha.set_fastpath_enabled")])
def test_an_attention_switch_a_forward_flips_is_put_back_and_named_by_its_setter(getter, setter):
    """A forward that flips one of scaled-dot-product attention's kernel switches, or nn.MultiheadAttention's
    fast path (a getter and a setter function of torch.backends each; no GPU needed to set them): it reads as
    found again and is the one setting named, by its setter's path, as "torch.backends.cuda.enable_math_sdp"
    (skipped where this torch lacks the pair: torch 2.2 has no fast-path switch). (A part of a switch's path,
    or its getter's or setter's name, changed found no such pair: the switch was not read, and kept the
    forward's value.)"""
    owner = getattr(torch.backends, getter.partition(".")[0], None)  # (torch 2.2 has no torch.backends.mha)
    get = getattr(owner, getter.partition(".")[2], None)
    put = getattr(owner, setter.partition(".")[2], None)
    if get is None or put is None:
        pytest.skip(f"torch {torch.__version__} has no torch.backends.{getter} and {setter}")
    found = get()
    assert isinstance(found, bool)
    try:
        with preserved(nn.Linear(1, 1)) as kept:
            put(not found)
            assert get() is (not found)
        assert kept.restored_settings == [f"torch.backends.{setter}"]
        assert get() is found
    finally:
        put(found)


def test_the_math_kernel_switched_off_by_a_forward_is_told_in_the_profiles_note():
    """torchcount.profile of a Linear whose forward switches scaled-dot-product attention's math kernel off
    (``torch.backends.cuda.enable_math_sdp(False)``, the switch torch 2.2 has too): the kernel is on again
    afterwards, and the profile's note reads, whole, "the forward changed torch's process-wide setting(s)
    torch.backends.cuda.enable_math_sdp; put back as found"."""
    import torchcount

    class MathOff(nn.Linear):
        def forward(self, x):
            torch.backends.cuda.enable_math_sdp(False)
            return super().forward(x)

    assert torch.backends.cuda.math_sdp_enabled()  # (torch's default)
    try:
        report = torchcount.profile(MathOff(2, 2), torch.ones(1, 2))
        assert torch.backends.cuda.math_sdp_enabled()
    finally:
        torch.backends.cuda.enable_math_sdp(True)
    assert [note for note in report.notes if "process-wide" in note] == [
        "the forward changed torch's process-wide setting(s) torch.backends.cuda.enable_math_sdp; put back as found"]


def _onednn_precisions() -> tuple:
    """oneDNN's own fp32_precision, its matmul, conv and rnn leaves', and the float32 matmul precision
    ("unreadable" where torch.get_float32_matmul_precision() raises, as it does once they differ)."""
    m = torch.backends.mkldnn
    try:
        matmul = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = "unreadable"
    return m.fp32_precision, m.matmul.fp32_precision, m.conv.fp32_precision, m.rnn.fp32_precision, matmul


@pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"), reason="torch < 2.9 has no fp32_precision API")
@pytest.mark.parametrize("frozen", [False, True], ids=["thawed", "frozen"])
def test_onednns_own_fp32_precision_a_forward_sets_apart_is_put_back_and_named_alone(frozen, monkeypatch):
    """A forward that sets oneDNN's own fp32_precision to "bf16" (``torch.backends.mkldnn.set_flags``, what a
    ``mkldnn.flags(fp32_precision="bf16")`` region entered and never left calls), set apart from the top one,
    ``torch.backends.fp32_precision``, which stays "none" (its three leaves read "bf16" with it, and
    torch.get_float32_matmul_precision() raises): afterwards oneDNN's precision and its leaves read "none"
    again and the matmul precision "highest" (torch's defaults), and "torch.backends.mkldnn.fp32_precision"
    is the one setting named; the same with torch.backends' flags frozen (disable_global_flags, which
    torch's leaves ignore too). (Put back through its property, which in torch 2.11 sets the top precision
    instead, it was named with its three leaves as put back and all four still read "bf16"; the flag
    dropped from the list: the same.)"""
    # (torch's defaults for this test alone: torch.set_float32_matmul_precision("highest"), as other tests put
    # it back, leaves oneDNN's and CUDA's matmul leaves "ieee", set apart from their parents)
    leaves = (torch.backends.mkldnn.matmul, torch.backends.cuda.matmul)
    before = [leaf.fp32_precision for leaf in leaves]
    for leaf in leaves:
        leaf.fp32_precision = "none"
    # (frozen or thawed for this test alone, in torch.backends' own globals: see the flag test above)
    monkeypatch.setitem(torch.backends.flags_frozen.__globals__, "__allow_nonbracketed_mutation_flag", not frozen)
    assert torch.backends.flags_frozen() is frozen
    found = _onednn_precisions()
    assert found == ("none", "none", "none", "none", "highest")  # (torch's defaults)
    top = torch.backends.fp32_precision
    try:
        with preserved(nn.Linear(1, 1)) as kept:
            torch.backends.mkldnn.set_flags(_fp32_precision="bf16")
            assert _onednn_precisions() == ("bf16", "bf16", "bf16", "bf16", "unreadable")
            assert torch.backends.fp32_precision == top == "none"
        assert kept.restored_settings == ["torch.backends.mkldnn.fp32_precision"]
        assert _onednn_precisions() == found
    finally:
        torch.backends.mkldnn.set_flags(_fp32_precision=found[0])
        for leaf, precision in zip(leaves, before):
            leaf.fp32_precision = precision


def test_an_sdpa_kernel_region_with_set_priority_entered_and_never_left_is_put_back_whole():
    """A forward that enters ``sdpa_kernel([SDPBackend.MATH, SDPBackend.FLASH_ATTENTION], set_priority=True)``
    and never leaves it (the region held by the model, so that it is not closed when collected): the
    memory-efficient and cuDNN kernels and the out-of-tree devices' overrideable backend, which it switched
    off, are on again, and the kernels' order of preference, math (0) and flash (1) first inside, is the one
    found again; the four are named, in that order (skipped where this torch has no priority order). (The
    overrideable backend and the order, which torch.backends has no functions for, were not read: they kept
    the region's.)"""
    get_order = getattr(torch._C, "_get_sdp_priority_order", None)
    if get_order is None or not hasattr(torch._C, "_get_overrideable_sdp_enabled"):
        pytest.skip(f"torch {torch.__version__} has no order of preference for its attention kernels")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    cuda = torch.backends.cuda

    def switches():
        return (cuda.flash_sdp_enabled(), cuda.mem_efficient_sdp_enabled(), cuda.math_sdp_enabled(),
                cuda.cudnn_sdp_enabled(), torch._C._get_overrideable_sdp_enabled(), get_order())

    found = switches()
    assert found[:5] == (True, True, True, True, True)  # (torch's defaults)
    regions = []
    try:
        with preserved(nn.Linear(1, 1)) as kept:
            regions.append(sdpa_kernel([SDPBackend.MATH, SDPBackend.FLASH_ATTENTION], set_priority=True))
            regions[0].__enter__()
            assert switches() == (True, False, True, False, False, [0, 1, *(b for b in found[5] if b not in (0, 1))])
        assert kept.restored_settings == [
            "torch.backends.cuda.enable_mem_efficient_sdp", "torch.backends.cuda.enable_cudnn_sdp",
            "torch.nn.attention.sdpa_kernel (the overrideable backend)", "torch.nn.attention.sdpa_kernel (set_priority)"]
        assert switches() == found
    finally:
        if regions:
            regions[0].__exit__(None, None, None)


def test_a_parametrizations_dict_the_forward_rebinds_to_a_copy_is_named_as_a_rebound_submodule_only():
    """A forward that rebinds its Linear's ``parametrizations`` (w ↦ 3w on weight) to a new ModuleDict holding
    the same ParametrizationList (``nn.ModuleDict(dict(lin.parametrizations))``): afterwards the Linear holds
    its own dict again, the same list in it, its parametrized class and its weight property, which reads
    3 × original, and the one thing named is the rebound submodule, "0.parametrizations". (The list, in a
    dict not there before, was taken for one the forward registered: removed, put back, and named both as a
    parametrization registered and removed and as one removed and put back.)"""
    from torch.nn.utils import parametrize

    model = nn.Sequential(nn.Linear(1, 1))
    lin = model[0]
    parametrize.register_parametrization(lin, "weight", _Triples())
    cls, found, plist = type(lin), lin.parametrizations, lin.parametrizations.weight
    with preserved(model) as kept:
        lin.parametrizations = nn.ModuleDict(dict(lin.parametrizations))
        assert lin.parametrizations is not found and lin.parametrizations.weight is plist
    assert (kept.removed_parametrizations, kept.restored_parametrizations) == ([], [])
    assert kept.restored_modules == ["0.parametrizations"]
    assert type(lin) is cls and lin.parametrizations is found and list(found.keys()) == ["weight"]
    assert found.weight is plist and isinstance(vars(cls).get("weight"), property)
    assert torch.equal(lin.weight, 3 * plist.original)


def test_the_entries_saying_how_a_removed_hook_is_called_go_with_it():
    """A forward that registers on its Linear a forward pre-hook with_kwargs=True, a forward hook
    with_kwargs=True and always_call=True, and a process-wide forward hook always_call=True (and
    with_kwargs=True where torch has it: torch 2.2 has not): afterwards the Linear's five hook dicts and
    torch's process-wide ones are empty again, as found — the hooks and the entries that say how each is
    called, which RemovableHandle.remove() drops with the hook — and the three hooks are named, as
    "(root) (forward pre-hook)", "(root) (forward hook)" and torch's dict. (A flag dict's name changed left
    the removed hook's entry in it.)"""
    import inspect

    import torch.nn.modules.module as module_globals

    names = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks", "_forward_hooks_with_kwargs",
             "_forward_hooks_always_called")
    process = [getattr(module_globals, name) for name in ("_global_forward_hooks", "_global_forward_hooks_always_called",
                                                          "_global_forward_hooks_with_kwargs") if hasattr(module_globals, name)]
    options = {"always_call": True}
    if "with_kwargs" in inspect.signature(nn.modules.module.register_module_forward_hook).parameters:
        options["with_kwargs"] = True
    lin = nn.Linear(1, 1)
    assert [dict(getattr(lin, name)) for name in names] == [{}] * 5 and [dict(d) for d in process] == [{}] * len(process)
    with preserved(lin) as kept:
        lin.register_forward_pre_hook(lambda *args: None, with_kwargs=True)
        lin.register_forward_hook(lambda *args: None, with_kwargs=True, always_call=True)
        nn.modules.module.register_module_forward_hook(lambda *args: None, **options)
        assert [len(getattr(lin, name)) for name in names] == [1] * 5 and [len(d) for d in process] == [1] * len(process)
    assert [dict(getattr(lin, name)) for name in names] == [{}] * 5 and [dict(d) for d in process] == [{}] * len(process)
    assert kept.removed_hooks == ["(root) (forward pre-hook)", "(root) (forward hook)",
                                  "torch.nn.modules.module._global_forward_hooks"]


def test_every_process_wide_module_hook_a_forward_registers_is_removed_and_named():
    """A forward that registers one hook of each of torch's seven process-wide module kinds
    (``register_module_forward_pre_hook``, ``…_forward_hook``, ``…_full_backward_pre_hook``,
    ``…_full_backward_hook``, ``…_buffer_registration_hook``, ``…_module_registration_hook``,
    ``…_parameter_registration_hook``): afterwards torch's seven dicts are as found again, and each is named
    once, by its name in torch.nn.modules.module, in that order. (A dict's name changed left its hook
    registered, to run on every module of the process.)"""
    import torch.nn.modules.module as module_globals

    kinds = ("forward_pre", "forward", "backward_pre", "backward", "buffer_registration", "module_registration",
             "parameter_registration")
    registers = (module_globals.register_module_forward_pre_hook, module_globals.register_module_forward_hook,
                 module_globals.register_module_full_backward_pre_hook, module_globals.register_module_full_backward_hook,
                 module_globals.register_module_buffer_registration_hook,
                 module_globals.register_module_module_registration_hook,
                 module_globals.register_module_parameter_registration_hook)
    hooks = [getattr(module_globals, f"_global_{kind}_hooks") for kind in kinds]
    found = [dict(d) for d in hooks]
    with preserved(nn.Linear(1, 1)) as kept:
        for register in registers:
            register(lambda *args: None)
        assert [len(d) - len(f) for d, f in zip(hooks, found)] == [1] * 7
    assert [dict(d) for d in hooks] == found
    assert kept.removed_hooks == [f"torch.nn.modules.module._global_{kind}_hooks" for kind in kinds]


@needs("AMP's GradScaler on CPU")
def test_a_grad_scaler_stage_the_method_advances_from_unscaled_to_stepped_is_put_back():
    """A GradScaler whose scaled loss (w·x + b at x = [1, 1]: gradients of ones once unscaled) the caller
    backpropagated and unscaled before the profile (the SGD's per-optimizer entry already there, its stage
    UNSCALED); the method steps the SGD (lr 0.5) through the scaler, with no update (stage STEPPED): after
    it the stage is UNSCALED again in the same dict, the scaler is named ('GradScaler') and the parameters
    are as found, so the caller's own ``scaler.step`` then steps them to [[0.5, 1.5]], [2.5] (no "step()
    has already been called since the last update()"). (Comparing the per-optimizer states by their keys
    alone, not each one's stage, left it STEPPED.)"""
    from torch.amp.grad_scaler import OptState

    model = _linear([1.0, 2.0], 3.0)
    model.opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.scaler = torch.amp.GradScaler("cpu")
    model.scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    model.scaler.unscale_(model.opt)
    states = model.scaler._per_optimizer_states
    assert [state["stage"] for state in states.values()] == [OptState.UNSCALED]
    with preserved(model, method="step") as kept:
        model.scaler.step(model.opt)
        assert [state["stage"] for state in states.values()] == [OptState.STEPPED]
    assert kept.updated_scalers == ["GradScaler"]
    assert model.scaler._per_optimizer_states is states
    assert [state["stage"] for state in states.values()] == [OptState.UNSCALED]
    assert model.weight.tolist() == [[1.0, 2.0]] and model.bias.tolist() == [3.0]
    model.scaler.step(model.opt)
    assert model.weight.tolist() == [[0.5, 1.5]] and model.bias.tolist() == [2.5]
