import pytest
import torch
import torch.nn.functional as F

from phenomena.errors import UserError
from phenomena.models import MLP, ScaledLinear, TinyTransformer, TokenLinear


def test_token_linear_equals_linear_on_one_hot_codes():
    torch.manual_seed(0)
    layer = TokenLinear(vocab=7, tokens=3, out_features=5, bias=True, bias_std=0.5)
    x = torch.randint(0, 7, (11, 3))
    one_hot = F.one_hot(x, 7).reshape(11, -1).float()
    dense = F.linear(one_hot, layer.weight, layer.bias)
    out = layer(x)
    assert torch.allclose(out, dense, atol=1e-6)
    g_token = torch.autograd.grad(out.square().sum(), layer.weight)[0]
    g_dense = torch.autograd.grad(F.linear(one_hot, layer.weight, layer.bias).square().sum(), layer.weight)[0]
    assert torch.allclose(g_token, g_dense, atol=1e-5)


@pytest.mark.parametrize("param", ["standard", "ntk", "mup"])
def test_parameterizations_give_the_stated_preactivation_variance(param):
    n = 4000
    x = torch.randn(64, n, dtype=torch.float64)
    hidden = ScaledLinear(
        n, 512, parameterization=param, weight_std=1.5, bias_std=0.0, generator=torch.Generator().manual_seed(1)
    ).double()
    # Var[h] = σ_w² ‖x‖²/n for every parameterization of a hidden layer (within sampling error ~3%)
    expected = 1.5**2 * x.pow(2).sum(1).mean() / n
    assert abs(hidden(x).var().item() / expected.item() - 1) < 0.05
    readout = ScaledLinear(
        n, 512, parameterization=param, weight_std=1.5, readout=True, generator=torch.Generator().manual_seed(2)
    ).double()
    ratio = readout(x).var().item() / expected.item()
    assert abs(ratio - (1 / n if param == "mup" else 1)) < 0.05 * (1 / n if param == "mup" else 1)


def test_mlp_is_seeded_and_checks_sizes():
    a, b = MLP(10, 3, width=8, depth=2, seed=5), MLP(10, 3, width=8, depth=2, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.readout.weight, MLP(10, 3, width=8, depth=2, seed=6).readout.weight)
    assert a.features(torch.randn(4, 10)).shape == (4, 8) and a(torch.randn(4, 10)).shape == (4, 3)
    with pytest.raises(UserError, match="width"):
        MLP(10, 3, width=0)
    with pytest.raises(UserError, match="unknown activation"):
        MLP(10, 3, activation="swishy")
    with pytest.raises(UserError, match="parameterization"):
        MLP(10, 3, parameterization="weird")


def test_transformer_is_causal_and_reads_the_last_position():
    model = TinyTransformer(vocab=10, out_features=9, n_ctx=3, d_model=16, n_heads=4, d_mlp=32, seed=0)
    x = torch.tensor([[1, 2, 9], [1, 2, 9]])
    y = x.clone()
    y[1, 0] = 5  # changing an earlier token changes the last position's output
    out = model(torch.cat([x[:1], y[1:]]))
    assert out.shape == (2, 9) and not torch.allclose(out[0], out[1])
    # causality: the first position's residual stream cannot see later tokens
    h1 = model.embed[x[:, :1]] + model.pos[:1]
    assert torch.allclose(model.blocks[0](h1)[0], model.blocks[0](h1)[1])
    with pytest.raises(UserError, match="divisible"):
        TinyTransformer(vocab=10, out_features=9, d_model=10, n_heads=4)


def test_building_a_seeded_mlp_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    for parameterization in ("standard", "ntk", "mup"):
        MLP(40, 10, width=32, depth=2, seed=1, parameterization=parameterization)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("param", ["ntk", "mup"])
def test_scaled_linear_is_the_linear_map_of_its_scaled_weights_under_every_transform(param):
    # Oracle: F.linear on (weight_mult * W, bias_mult * b) written out, bitwise, in the forward pass, under
    # torch.func.jvp (primal and tangent) and for autograd's gradients
    from torch.func import functional_call, jvp

    layer = ScaledLinear(
        7, 5, parameterization=param, bias_std=0.3, readout=True, generator=torch.Generator().manual_seed(0)
    )
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(1))
    params = {n: p.detach() for n, p in layer.named_parameters()}
    tangent = {n: torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) for n, p in params.items()}

    def explicit(p):
        return torch.nn.functional.linear(x, p["weight"] * layer.weight_mult, p["bias"] * layer.bias_mult)

    def ours(p):
        return functional_call(layer, p, (x,))

    assert layer.weight_mult != 1.0 and layer.bias_mult != 1.0
    assert torch.equal(ours(params), explicit(params))
    for a, b in zip(jvp(ours, (params,), (tangent,)), jvp(explicit, (params,), (tangent,)), strict=True):
        assert torch.equal(a, b)
    leaves = {n: p.clone().requires_grad_() for n, p in params.items()}
    g1 = torch.autograd.grad(ours(leaves).square().sum(), list(leaves.values()))
    g2 = torch.autograd.grad(explicit(leaves).square().sum(), list(leaves.values()))
    assert all(torch.equal(a, b) for a, b in zip(g1, g2, strict=True))
