"""Oracle tests for the empirical kernels: explicit per-example Jacobians by looping autograd.grad."""

import math

import pytest
import torch
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.ntk import (
    empirical_nngp,
    empirical_ntk,
    kernel_alignment,
    kernel_distance,
    kernel_relative_change,
    kernel_velocity,
)

METHODS = ["jacobian", "ntvp", "structured", "auto"]
F64 = torch.float64


def explicit_jacobian(model, x, names=None):
    """(N, K, P) Jacobian, one torch.autograd.grad call per example and output."""
    ps = [p for n, p in model.named_parameters() if p.requires_grad and (names is None or n in names)]
    rows = []
    for a in range(len(x)):
        out = model(x[a : a + 1]).reshape(-1)
        for i in range(out.numel()):
            grads = torch.autograd.grad(out[i], ps, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat(
                    [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, ps, strict=True)]
                )
            )
    return torch.stack(rows).reshape(len(x), -1, rows[0].numel())


def explicit_ntk(model, x1, x2=None, names=None):
    j1 = explicit_jacobian(model, x1, names)
    j2 = j1 if x2 is None else explicit_jacobian(model, x2, names)
    return torch.einsum("aip,bjp->abij", j1, j2)


def assert_close(a, b, tol=1e-10):
    assert a.shape == b.shape
    err = (a - b).abs().max().item()
    assert err <= tol * max(b.abs().max().item(), 1.0), err


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def seeded(build, seed):
    """Build a module from a fixed seed without touching the global RNG state (nn init draws from it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().to(F64)


def mlp(seed=0):
    return seeded(
        lambda: nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 3)), seed
    )


@pytest.fixture(scope="module")
def mlp_case():
    net = mlp()
    x1 = torch.randn(6, 5, generator=gen(1), dtype=F64)
    x2 = torch.randn(5, 5, generator=gen(2), dtype=F64)
    return net, x1, x2, explicit_ntk(net, x1, x2), explicit_ntk(net, x1)


@pytest.mark.parametrize("method", METHODS)
def test_methods_equal_explicit_jacobian(mlp_case, method):
    net, x1, x2, ref12, ref11 = mlp_case
    assert_close(empirical_ntk(net, x1, x2, method=method), ref12)
    assert_close(empirical_ntk(net, x1, method=method), ref11)
    # trace=True is the SUM over logits of the per-logit diagonal
    assert_close(empirical_ntk(net, x1, x2, method=method, trace=True), torch.einsum("abii->ab", ref12))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_batching_gives_identical_results(mlp_case, method, batch_size):
    net, x1, x2, ref12, ref11 = mlp_case
    for trace in (False, True):
        whole = empirical_ntk(net, x1, x2, method=method, trace=trace)
        assert_close(empirical_ntk(net, x1, x2, method=method, trace=trace, batch_size=batch_size), whole, 1e-12)
        sym = empirical_ntk(net, x1, method=method, trace=trace, batch_size=batch_size)
        assert_close(sym, empirical_ntk(net, x1, method=method, trace=trace), 1e-12)
    # the mirrored blocks: Θ(x_b, x_a)_ij = Θ(x_a, x_b)_ji, and the NK x NK matrix is PSD
    flat = empirical_ntk(net, x1, method=method, batch_size=batch_size).permute(0, 2, 1, 3).reshape(18, 18)
    assert_close(flat, flat.T, 1e-12)
    assert torch.linalg.eigvalsh(flat).min() > -1e-10


def test_linear_model_closed_form():
    # f(x) = Wx + b is linear in θ: Θ(x, x')_ij = δ_ij (xᵀx' + 1), whatever W is (root module named "")
    net = seeded(lambda: nn.Linear(4, 3), 8)
    x1, x2 = torch.randn(5, 4, generator=gen(3), dtype=F64), torch.randn(2, 4, generator=gen(4), dtype=F64)
    expect = torch.einsum("ab,ij->abij", x1 @ x2.T + 1, torch.eye(3, dtype=F64))
    for method in METHODS:
        assert_close(empirical_ntk(net, x1, x2, method=method), expect)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(torch.tanh(self.bn(self.fc1(x))))


@pytest.mark.parametrize("method", METHODS)
def test_batchnorm_eval_model(method):
    net = seeded(BNNet, 1).eval()
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
        net.bn.weight.uniform_(0.5, 1.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(5, 4, generator=gen(5), dtype=F64)
    assert_close(empirical_ntk(net, x, method=method), explicit_ntk(net, x))
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert all(not m._forward_hooks for m in net.modules())


def test_batchnorm_in_training_mode_is_refused():
    net = BNNet().to(F64).train()
    with pytest.raises(UserError, match="eval"):
        empirical_ntk(net, torch.randn(4, 4, dtype=F64))


@pytest.mark.parametrize("method", METHODS)
def test_conv_net(method):
    net = seeded(lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(27, 2)), 2)
    x1 = torch.randn(4, 1, 5, 5, generator=gen(6), dtype=F64)
    x2 = torch.randn(3, 1, 5, 5, generator=gen(7), dtype=F64)
    assert_close(empirical_ntk(net, x1, x2, method=method, batch_size=2), explicit_ntk(net, x1, x2))


class Awkward(nn.Module):
    """Linear layers the structured method must not trust: reused, applied per position, bias-free, and a
    weight also used outside its module."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.seq = nn.Linear(4, 5, bias=False)
        self.head = nn.Linear(5, 2)

    def forward(self, x):  # x: (N, 3, 4)
        h = torch.tanh(self.shared(torch.tanh(self.shared(x))))
        h = torch.tanh(self.seq(h)).mean(1)
        return self.head(h) + (h @ self.head.weight.T).sin()


@pytest.mark.parametrize("method", ["structured", "auto"])
def test_structured_falls_back_where_structure_does_not_hold(method):
    net = seeded(Awkward, 3)
    x = torch.randn(4, 3, 4, generator=gen(8), dtype=F64)
    assert_close(empirical_ntk(net, x, method=method), explicit_ntk(net, x))


def test_structured_with_bias_free_layers_and_frozen_bias():
    net = seeded(lambda: nn.Sequential(nn.Linear(3, 6, bias=False), nn.Tanh(), nn.Linear(6, 2)), 4)
    net[2].bias.requires_grad_(False)  # its cotangent is still the probe, but it is not a kernel parameter
    x = torch.randn(5, 3, generator=gen(9), dtype=F64)
    assert_close(empirical_ntk(net, x, method="structured"), explicit_ntk(net, x))


@pytest.mark.parametrize("method", METHODS)
def test_parameter_subsets(mlp_case, method):
    net, x1, x2, _, _ = mlp_case
    names = ["0.weight", "4.bias"]
    assert_close(empirical_ntk(net, x1, x2, method=method, params=names), explicit_ntk(net, x1, x2, names))
    pred = empirical_ntk(net, x1, method=method, params=lambda n: n.endswith("weight"))
    assert_close(pred, explicit_ntk(net, x1, names=["0.weight", "2.weight", "4.weight"]))


def test_output_shapes():
    scalar = seeded(lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1), nn.Flatten(0)), 5)
    x = torch.randn(4, 3, generator=gen(10), dtype=F64)
    k = empirical_ntk(scalar, x, method="jacobian")
    assert k.shape == (4, 4, 1, 1)
    assert_close(k, explicit_ntk(scalar, x))
    grid = seeded(lambda: nn.Sequential(nn.Linear(3, 6), nn.Unflatten(1, (2, 3))), 5)
    assert empirical_ntk(grid, x, method="ntvp").shape == (4, 4, 6, 6)
    assert empirical_ntk(grid, x, trace=True).shape == (4, 4)


def test_bad_inputs():
    net, x = mlp(), torch.randn(3, 5, dtype=F64)
    with pytest.raises(UserError, match="choose one of"):
        empirical_ntk(net, x, method="fast")
    with pytest.raises(UserError, match="batch_size"):
        empirical_ntk(net, x, batch_size=0)
    with pytest.raises(UserError, match="per-example shape"):
        empirical_ntk(net, x, torch.randn(3, 4, dtype=F64))
    with pytest.raises(UserError, match="unknown or frozen"):
        empirical_ntk(net, x, params=["nope.weight"])
    with pytest.raises(UserError, match="dtype"):
        empirical_ntk(net, x.float())
    with pytest.raises(UserError, match="Dropout"):
        empirical_ntk(nn.Sequential(nn.Linear(5, 2), nn.Dropout(0.1)).to(F64), x)


# --- empirical NNGP --------------------------------------------------------------------------------------


def test_nngp_default_is_input_of_last_linear():
    net = seeded(lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)), 6)
    x1, x2 = torch.randn(5, 4, generator=gen(11), dtype=F64), torch.randn(3, 4, generator=gen(12), dtype=F64)
    with torch.no_grad():
        p1, p2 = net[:4](x1), net[:4](x2)
    assert_close(empirical_nngp(net, x1, x2), p1 @ p2.T / 8)
    assert_close(empirical_nngp(net, x1, layer="2"), net[:2](x1).detach() @ net[:2](x1).detach().T / 16)
    assert_close(empirical_nngp(lambda x: net[:2](x), x1, x2), net[:2](x1).detach() @ net[:2](x2).detach().T / 16)
    assert all(not m._forward_hooks for m in net.modules())


class HeadFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(6, 2)  # registered first, called last
        self.body = nn.Linear(3, 6)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def test_nngp_uses_last_called_linear_and_rejects_bad_layers():
    net = seeded(HeadFirst, 7)
    x = torch.randn(4, 3, generator=gen(13), dtype=F64)
    phi = torch.relu(net.body(x)).detach()
    assert_close(empirical_nngp(net, x), phi @ phi.T / 6)
    with pytest.raises(UserError, match="no submodule"):
        empirical_nngp(net, x, layer="tail")
    with pytest.raises(UserError, match="no nn.Linear"):
        empirical_nngp(nn.Tanh(), x)


# --- comparing kernels ------------------------------------------------------------------------------


def test_alignment_closed_forms():
    y = torch.tensor([0, 0, 1, 1])
    Y = nn.functional.one_hot(y).to(F64)
    assert kernel_alignment(Y @ Y.T, y) == pytest.approx(1.0, abs=1e-12)
    assert kernel_alignment(Y @ Y.T, y, centered=False) == pytest.approx(1.0, abs=1e-12)
    eye = torch.eye(4, dtype=F64)
    # uncentred: ⟨I, YYᵀ⟩ = 4, ‖I‖ = 2, ‖YYᵀ‖ = √8; centred: ⟨H, HLH⟩ = 2, ‖H‖ = √3, ‖HLH‖ = 2
    assert kernel_alignment(eye, y, centered=False) == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert kernel_alignment(eye, y) == pytest.approx(1 / math.sqrt(3), abs=1e-12)
    # centring removes a constant offset that inflates the uncentred value
    offset = Y @ Y.T + 10.0
    assert kernel_alignment(offset, y) == pytest.approx(1.0, abs=1e-12)
    assert kernel_alignment(offset, y, centered=False) < 0.99
    # regression targets and a per-logit kernel
    t = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)
    assert kernel_alignment(torch.outer(t, t), t, centered=False) == pytest.approx(1.0, abs=1e-12)
    k4 = torch.einsum("ai,bj->abij", Y, Y)
    assert kernel_alignment(k4, y) == pytest.approx(1.0, abs=1e-12)


def test_alignment_bad_inputs():
    with pytest.raises(UserError, match="undefined"):
        kernel_alignment(torch.eye(3, dtype=F64), torch.tensor([1, 1, 1]))
    with pytest.raises(UserError, match="N = 3"):
        kernel_alignment(torch.eye(3, dtype=F64), torch.tensor([0, 1]))


def test_distance_and_relative_change_closed_forms():
    k = torch.randn(5, 5, generator=gen(14), dtype=F64)
    k = k @ k.T
    assert kernel_distance(k, 3.5 * k) == pytest.approx(0.0, abs=1e-12)
    eye, ones = torch.eye(2, dtype=F64), torch.ones(2, 2, dtype=F64)
    assert kernel_distance(eye, ones) == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-12)
    assert kernel_distance(torch.diag(torch.tensor([1.0, 0.0])), torch.diag(torch.tensor([0.0, 1.0]))) == 1.0
    assert kernel_relative_change(eye, 2 * eye) == pytest.approx(1.0, abs=1e-12)
    assert kernel_relative_change(k, k) == 0.0
    with pytest.raises(UserError, match="same shape"):
        kernel_distance(eye, torch.eye(3, dtype=F64))
    with pytest.raises(UserError, match="zero"):
        kernel_relative_change(torch.zeros(2, 2), eye)


def test_kernel_velocity_between_checkpoints():
    a, b = mlp(0), mlp(1)
    x = torch.randn(4, 5, generator=gen(15), dtype=F64)
    k0 = torch.einsum("abii->ab", explicit_ntk(a, x))
    k1 = torch.einsum("abii->ab", explicit_ntk(b, x))
    out = kernel_velocity(a, b, x, dt=4.0)
    d = 1 - (k0 * k1).sum() / (k0.norm() * k1.norm())
    assert out["distance"] == pytest.approx(d.item(), abs=1e-12)
    assert out["velocity"] == pytest.approx(d.item() / 4, abs=1e-12)
    assert out["relative_change"] == pytest.approx(((k1 - k0).norm() / k0.norm()).item(), abs=1e-12)
    assert kernel_velocity(a, a, x)["distance"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(UserError, match="dt"):
        kernel_velocity(a, b, x, dt=0)
