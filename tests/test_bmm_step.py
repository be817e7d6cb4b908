"""The written-out training step of the bmm ensemble path against autograd on the same stacked parameters."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.models import MLP
from phenomena.training.bmm_step import BmmStep
from phenomena.training.ensemble import _bmm_layers, _forward_fn, _member_loss, _stacked


def _setup(models):
    plan = _bmm_layers(models[0])
    flip = {f"{op[1]}.weight" for op in plan if op[0] == "linear"}
    params, buffers, trainable = _stacked(models, flip)
    return plan, params, buffers, trainable


CASES = {
    "relu MLP, narrow readout": lambda s: MLP(40, 10, width=48, depth=2, seed=s).double(),
    "tanh MLP": lambda s: MLP(12, 3, width=20, depth=3, activation="tanh", seed=s).double(),
    # a first layer with at most SKINNY outputs and more inputs runs transposed: its activation is a transposed view
    "relu MLP, narrow hidden layer": lambda s: MLP(40, 10, width=16, depth=2, seed=s).double(),
    "tanh MLP, narrow hidden layers": lambda s: nn.Sequential(
        nn.Linear(40, 20), nn.Tanh(), nn.Linear(20, 36), nn.Tanh(), nn.Linear(36, 8), nn.Tanh(), nn.Linear(8, 3)
    ).double(),
    "muP multipliers": lambda s: MLP(12, 5, width=64, depth=2, parameterization="mup", seed=s).double(),
    "no biases": lambda s: nn.Sequential(
        nn.Linear(8, 40, bias=False), nn.ReLU(), nn.Linear(40, 4, bias=False)
    ).double(),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batched", [True, False])
def test_losses_and_gradients_match_autograd(case, batched):
    torch.manual_seed(0)
    models = [CASES[case](s) for s in range(3)]
    plan, params, buffers, trainable = _setup(models)
    assert BmmStep.supports(plan, params, trainable, F.cross_entropy)
    fan_in = params[trainable[0]].shape[1]
    classes = next(p for n, p in reversed(params.items()) if n.endswith("weight")).shape[2]
    x = torch.randn(3, 17, fan_in, dtype=torch.float64) if batched else torch.randn(17, fan_in, dtype=torch.float64)
    y = torch.randint(0, classes, (3, 17) if batched else (17,))
    reference = _member_loss(F.cross_entropy, _forward_fn("bmm", models)(params, buffers, x, batched), y, batched)
    grads = torch.autograd.grad(reference.sum(), [params[k] for k in trainable])
    with torch.no_grad():
        losses, mine = BmmStep(plan, params, trainable)(x, y, batched)
    assert torch.allclose(losses, reference.detach(), rtol=1e-12, atol=1e-14)
    for name, a, b in zip(trainable, mine, grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13), name


def test_it_declines_what_it_does_not_write_out():
    gelu = [MLP(8, 3, width=16, depth=2, activation="gelu", seed=s) for s in range(2)]
    plan, params, _, trainable = _setup(gelu)
    assert not BmmStep.supports(plan, params, trainable, F.cross_entropy)
    relu = [MLP(8, 3, width=16, depth=2, seed=s) for s in range(2)]
    plan, params, _, trainable = _setup(relu)
    assert not BmmStep.supports(plan, params, trainable, F.mse_loss)
    assert not BmmStep.supports(plan, params, trainable[:-1], F.cross_entropy)  # a frozen parameter
