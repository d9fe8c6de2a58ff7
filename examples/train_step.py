"""What one training step costs: the forward, then the backward, which computes for every
contraction an input gradient and a weight gradient, each as many MACs as the forward (the first
layer's input gradient is not needed: the images have no gradient). Hence the rule of thumb
"a training step is 3 forwards".

The network is seed 003's small convnet (examples/lenet_params.py: 28×28×1 → conv 5@3×3 → conv
5@3×3×5 → FC 2880→128 → FC 128→10), trained with cross-entropy. The step is a method of the model,
profiled with ``torchcount.profile(model, batch, method="train_step")`` (and, written as a function
outside the model as training code usually has it, with ``method=train_step``: the same count); the parameters' gradients,
the weights the optimizer updated and the optimizer's state (SGD's momentum) are put back afterwards,
so the model trains on as if it had not been profiled. The backward's ops are the root's own work (they run in the method); the
column ``backward_MACs`` says which layer's forward set each of them up.

Run: ``.venv/bin/python examples/train_step.py``
"""
import torch
import torch.nn.functional as F
from torch import nn

import torchcount


class SmallConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(1, 5, 3), nn.Conv2d(5, 5, 3), nn.Flatten(), nn.Linear(2880, 128),
                                    nn.Linear(128, 10))
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)

    def forward(self, x):
        return self.layers(x)

    def train_step(self, x, labels):
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self(x), labels)
        loss.backward()
        self.optimizer.step()  # (no MACs: per weight, a momentum update and a scaled subtraction)
        return loss


def main():
    torch.manual_seed(0)
    model = SmallConvNet()
    batch = (torch.randn(1, 1, 28, 28), torch.tensor([3]))
    forward = torchcount.profile(model, batch[0], convention="macs", name="forward")
    print(forward.table(columns=["#", "module", "type", "output", "MACs"]))
    weights = [p.detach().clone() for p in model.parameters()]
    step = torchcount.profile(model, batch, method="train_step", convention="macs", name="training step")
    backward = step.total.macs - forward.total.macs
    first_input_gradient = forward.row("layers.0").cost.macs
    print(f"\nforward:  {forward.total.macs:,} MACs")
    print(f"backward: {backward:,} MACs = 2 × {forward.total.macs:,} − {first_input_gradient:,} "
          f"(the first convolution's input gradient is not computed)")
    print(f"training step: {step.total.macs:,} MACs = {step.total.macs / forward.total.macs:.2f} forwards; "
          f"coverage {step.coverage:.0%}")
    print(f"gradients put back: {all(p.grad is None for p in model.parameters())}; weights put back: "
          f"{all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))}; "
          f"optimizer state put back: {not model.optimizer.state}\n")
    # the backward's MACs by the layer whose forward set them up (they are counted in the root's row)
    print(step.table(columns=["#", "module", "type", "MACs", "backward_MACs"]))
    # the same step as training code usually has it, a function outside the model: method=train_step
    as_function = torchcount.profile(model, (*batch, model.optimizer), method=train_step, convention="macs")
    print(f"\nas a function, {as_function.model_name}: {as_function.total.macs:,} MACs; weights put back: "
          f"{all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))}")
    return forward, step


def train_step(model, x, labels, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    optimizer.step()
    return loss


if __name__ == "__main__":
    main()
