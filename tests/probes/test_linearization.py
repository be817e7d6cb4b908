"""Oracle tests for the linearised model: explicit Jacobians and models linear in their parameters."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from phenomena.errors import UserError
from phenomena.probes.linearization import LinearizedModel, linearize

F64 = torch.float64


def seeded(build, seed):
    """Build a module from a fixed seed without touching the global RNG state (nn init draws from it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().to(F64)


def mlp(seed=0):
    return seeded(
        lambda: nn.Sequential(nn.Linear(3, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(), nn.Linear(10, 2)), seed
    )


def gen(seed):
    return torch.Generator().manual_seed(seed)


def explicit_jacobian(model, x):
    """(N·K, P) Jacobian of the flattened outputs, one autograd.grad per example and output."""
    ps = list(model.parameters())
    rows = []
    for a in range(len(x)):
        out = model(x[a : a + 1]).reshape(-1)
        for i in range(out.numel()):
            grads = torch.autograd.grad(out[i], ps, retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def perturb(lin, scale, seed):
    g = gen(seed)
    with torch.no_grad():
        for p in lin.params.values():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def flat_delta(lin):
    return torch.cat([(lin.params[n] - lin.params0[n]).reshape(-1) for n in lin.params])


def test_equals_network_at_theta0():
    net = mlp()
    x = torch.randn(7, 3, generator=gen(1), dtype=F64)
    lin = linearize(net)
    assert isinstance(lin, LinearizedModel)
    assert torch.allclose(lin(x), net(x), rtol=0, atol=1e-14)
    assert [n for n, _ in lin.named_parameters()] == [f"network.{n}" for n, _ in net.named_parameters()]


def test_equals_first_order_taylor_from_explicit_jacobian():
    net = mlp()
    x = torch.randn(6, 3, generator=gen(2), dtype=F64)
    lin = linearize(net)
    perturb(lin, 0.3, seed=3)
    expect = net(x).reshape(-1) + explicit_jacobian(net, x) @ flat_delta(lin)
    got = lin(x)
    assert torch.allclose(got.reshape(-1), expect, rtol=0, atol=1e-12)
    # the network itself has moved away from its linearisation: the test is not vacuous
    assert (lin.nonlinear(x).reshape(-1) - expect).abs().max() > 1e-3


def test_gradient_is_jacobian_transpose_times_residual():
    # for L = ½‖f_lin − y‖², ∂L/∂θ = J(θ₀)ᵀ (f_lin − y), at any θ
    net = mlp()
    x, y = torch.randn(5, 3, generator=gen(4), dtype=F64), torch.randn(5, 2, generator=gen(5), dtype=F64)
    lin = linearize(net)
    perturb(lin, 0.2, seed=6)
    out = lin(x)
    (0.5 * ((out - y) ** 2).sum()).backward()
    grad = torch.cat([p.grad.reshape(-1) for p in lin.parameters()])
    expect = explicit_jacobian(net, x).T @ (out.detach() - y).reshape(-1)
    assert torch.allclose(grad, expect, rtol=0, atol=1e-12)


def test_exact_for_a_model_linear_in_its_parameters():
    net = seeded(lambda: nn.Linear(4, 3), 7)
    x = torch.randn(6, 4, generator=gen(8), dtype=F64)
    lin = linearize(net)
    perturb(lin, 2.0, seed=9)
    direct = functional_call(net, {n: p.detach() for n, p in lin.params.items()}, (x,))
    assert torch.allclose(lin(x), direct, rtol=0, atol=1e-12)
    assert (direct - net(x)).abs().max() > 0.1  # θ really moved


def test_sgd_training_reduces_loss_and_leaves_the_network_untouched():
    net = mlp()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(16, 3, generator=gen(10), dtype=F64), torch.randn(16, 2, generator=gen(11), dtype=F64)
    lin = linearize(net)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((lin(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert all(b >= a - 1e-12 for a, b in zip(losses[1:], losses[:-1], strict=True))  # convex, small lr
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert all(torch.equal(lin.params0[k], before[k]) for k in lin.params0)


def test_params0_and_parameter_subset():
    net, other = mlp(0), mlp(1)
    x = torch.randn(4, 3, generator=gen(12), dtype=F64)
    theta0 = {n: p.detach() for n, p in other.named_parameters()}
    assert torch.allclose(linearize(net, theta0)(x), other(x), rtol=0, atol=1e-14)
    lin = linearize(net, params=["4.weight", "4.bias"])  # the readout only: f is linear in it
    assert [n for n, p in lin.named_parameters() if p.requires_grad] == ["network.4.weight", "network.4.bias"]
    perturb(lin, 1.0, seed=13)
    assert torch.allclose(lin(x), lin.nonlinear(x), rtol=0, atol=1e-12)


def test_batchnorm_eval_model():
    net = seeded(lambda: nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)), 14)
    net.eval()
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
    x = torch.randn(5, 3, generator=gen(15), dtype=F64)
    lin = linearize(net)
    assert torch.allclose(lin(x), net(x), rtol=0, atol=1e-14)
    perturb(lin, 0.1, seed=16)
    expect = net(x).reshape(-1) + explicit_jacobian(net, x) @ flat_delta(lin)
    assert torch.allclose(lin(x).reshape(-1), expect, rtol=0, atol=1e-12)


def test_bad_inputs():
    net = mlp()
    with pytest.raises(UserError, match="not linearised"):
        linearize(net, {"9.weight": torch.zeros(1)})
    with pytest.raises(UserError, match="shape"):
        linearize(net, {"0.weight": torch.zeros(2, 2, dtype=F64)})
    with pytest.raises(UserError, match="unknown or frozen"):
        linearize(net, params=["nope"])
