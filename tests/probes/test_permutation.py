"""Oracle tests for permutation matching: a randomly permuted copy is recovered exactly (parameters and
outputs), aligned models compute model_b's function, and brute force over all permutations of a width-4 layer
agrees with weight matching's and activation matching's optima."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from phenomena.errors import UserError
from phenomena.models import MLP
from phenomena.probes.permutation import (
    activation_matching,
    permutation_spec,
    permute,
    random_permutation,
    weight_matching,
)

DT = torch.float64


def mlp(seed, width=8, depth=3, activation="relu"):
    return MLP(5, 3, width=width, depth=depth, activation=activation, bias_std=0.5, seed=seed).to(DT)


def cnn(seed):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 5, 3),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.Conv2d(5, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 7),
        nn.Tanh(),
        nn.Linear(7, 3),
    ).to(DT)
    with torch.no_grad():
        for t in [*model.parameters(), model[1].running_mean]:
            t.copy_(torch.randn(t.shape, generator=g, dtype=DT))
        model[1].running_var.uniform_(0.5, 2.0, generator=g)
    return model.eval()


def cnn_input(n=6, seed=3):
    return torch.randn(n, 2, 6, 6, generator=torch.Generator().manual_seed(seed), dtype=DT)


def mlp_input(n=64, seed=3):
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(seed), dtype=DT)


def assert_same_state(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=0, atol=0)


def test_spec_of_mlp_and_cnn():
    spec = permutation_spec(mlp(0))
    assert [g.name for g in spec] == ["layers.0", "layers.2", "layers.4"]
    assert [k for k, _, _ in spec[1].axes] == ["layers.2.weight", "layers.2.bias", "layers.4.weight"]
    assert spec[1].feature == "layers.3"
    cspec = permutation_spec(cnn(0))
    assert [g.name for g in cspec] == ["0", "3", "7"]
    assert ("1.running_var", 0, None) in cspec[0].axes
    assert cspec[1].axes[-1] == ("7.weight", 1, (7, 6, 4))  # channel-major Flatten: Linear input as (C, H*W)
    assert cspec[1].feature == "5"


@pytest.mark.parametrize("method", ["weight", "activation"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_random_permutation_is_recovered_exactly(method, arch):
    # tanh: a dead ReLU unit has no activation to match, so activation matching could not identify it
    a = mlp(0, activation="tanh") if arch == "mlp" else cnn(0)
    x = mlp_input() if arch == "mlp" else cnn_input(40)
    perms = random_permutation(a, torch.Generator().manual_seed(1))
    assert all(not torch.equal(p, torch.arange(len(p))) for p in perms.values())
    b = permute(a, perms)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-12, atol=1e-12)
    if method == "weight":
        m = weight_matching(a, b, example_input=x)
    else:
        m = activation_matching(a, b, [(x[:20], None), (x[20:], None)], example_input=x)
    for name, p in perms.items():
        assert torch.equal(m.permutations[name], torch.argsort(p))
    assert_same_state(m.model, a)
    with torch.no_grad():
        torch.testing.assert_close(m.model(x), a(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["weight", "activation"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_aligned_model_computes_model_b(method, arch):
    a, b = (mlp(0), mlp(1)) if arch == "mlp" else (cnn(0), cnn(1))
    x = mlp_input() if arch == "mlp" else cnn_input(40)
    b_state = {k: v.clone() for k, v in b.state_dict().items()}
    m = weight_matching(a, b, example_input=x) if method == "weight" else activation_matching(a, b, (x, None))
    assert any(not torch.equal(p, torch.arange(len(p))) for p in m.permutations.values())
    with torch.no_grad():
        torch.testing.assert_close(m.model(x), b(x), rtol=1e-6, atol=1e-6)
    assert all(torch.equal(b.state_dict()[k], b_state[k]) for k in b_state)  # model_b is untouched


def _objective(a, b):
    """Σ <θ_a, θ_b> over all parameters (the unpermuted ones add the same constant to every candidate)."""
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return float(sum((pa[k] * pb[k]).sum() for k in pa).detach())


def test_weight_matching_is_the_brute_force_optimum_for_one_hidden_layer():
    for seed in range(3):
        a, b = mlp(2 * seed, width=4, depth=1), mlp(2 * seed + 1, width=4, depth=1)
        best = max(_objective(a, permute(b, {"layers.0": torch.tensor(p)})) for p in itertools.permutations(range(4)))
        m = weight_matching(a, b)
        assert _objective(a, m.model) == pytest.approx(best, rel=1e-12)
        # the reported objective counts only permuted parameters: it differs from ours by the output bias term
        const = float((a.layers[2].bias * b.layers[2].bias).sum().detach())
        assert m.objective + const == pytest.approx(best, rel=1e-12)


def _manual_objective(a, b, p, q):
    """Σ <θ_a, π(θ_b)> for a 2-hidden-layer MLP, permuting model_b's tensors by hand (no library code)."""
    sa, sb = a.state_dict(), b.state_dict()
    pb = {
        "layers.0.weight": sb["layers.0.weight"][p],
        "layers.0.bias": sb["layers.0.bias"][p],
        "layers.2.weight": sb["layers.2.weight"][q][:, p],
        "layers.2.bias": sb["layers.2.bias"][q],
        "layers.4.weight": sb["layers.4.weight"][:, q],
        "layers.4.bias": sb["layers.4.bias"],
    }
    return float(sum((sa[k] * pb[k]).sum() for k in pb))


def test_weight_matching_two_layers_is_coordinatewise_optimal():
    a, b = mlp(4, width=4, depth=2), mlp(5, width=4, depth=2)
    m = weight_matching(a, b)
    p0, q0 = m.permutations["layers.0"], m.permutations["layers.2"]
    got = _manual_objective(a, b, p0, q0)
    assert got == pytest.approx(_objective(a, m.model), rel=1e-12)
    perms = [torch.tensor(p) for p in itertools.permutations(range(4))]
    assert got <= max(_manual_objective(a, b, p, q) for p in perms for q in perms) + 1e-12
    # a fixed point of coordinate descent: no change of a single group's permutation improves
    assert got == pytest.approx(max(_manual_objective(a, b, p, q0) for p in perms), rel=1e-12)
    assert got == pytest.approx(max(_manual_objective(a, b, p0, q) for q in perms), rel=1e-12)


def test_activation_matching_is_the_brute_force_optimum():
    a, b = mlp(6, width=4, depth=1, activation="tanh"), mlp(7, width=4, depth=1, activation="tanh")
    x = mlp_input(50)
    with torch.no_grad():
        ha, hb = a.features(x).numpy(), b.features(x).numpy()
    corr = np.corrcoef(ha.T, hb.T)[:4, 4:]
    best = max(sum(corr[i, p[i]] for i in range(4)) for p in itertools.permutations(range(4)))
    m = activation_matching(a, b, [(x[:30], None), (x[30:], None)])
    assert m.objective == pytest.approx(best, rel=1e-10)
    p = m.permutations["layers.0"].numpy()
    assert sum(corr[i, p[i]] for i in range(4)) == pytest.approx(best, rel=1e-10)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.fc3(h + torch.relu(self.fc2(h)))


def test_unsupported_models_raise():
    with pytest.raises(UserError, match="registration order"):
        weight_matching(Residual(), Residual())
    with pytest.raises(UserError, match="not supported"):
        permutation_spec(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)))
    with pytest.raises(UserError, match="sits between"):
        permutation_spec(nn.Sequential(nn.Linear(3, 4), nn.Softmax(-1), nn.Linear(4, 2)))
    with pytest.raises(UserError, match="groups"):
        permutation_spec(nn.Sequential(nn.Conv1d(4, 4, 3, groups=2), nn.Conv1d(4, 4, 3)))
    with pytest.raises(UserError, match="no hidden layer"):
        permutation_spec(nn.Sequential(nn.Linear(3, 2), nn.Softmax(-1)))
    with pytest.raises(UserError, match="architecture"):
        weight_matching(mlp(0), mlp(1, width=6))
    with pytest.raises(UserError, match="reorder"):
        permute(mlp(0), {"layers.0": torch.zeros(8, dtype=torch.long)})
