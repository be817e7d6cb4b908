"""probes.dormant_units against hand-built nets whose dead and dormant units are known, and against scores
computed by a manual forward pass."""

import numpy as np
import pytest
import torch
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.dormant import dormancy_scores, dormant_units


def _net(bias: list[float]) -> nn.Sequential:
    """x in [0, 1]^2 → 4 ReLU units with weights (1, 1) and the given biases → one output."""
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.copy_(torch.tensor(bias))
    return net


def test_a_unit_with_a_large_negative_bias_is_dead_and_a_tiny_one_is_dormant_but_alive():
    # unit 0: bias -5 (pre-activation ≤ -3 on [0,1]^2): dead; unit 1: bias -1.99 fires only near (1, 1): its
    # mean activation is tiny next to units 2, 3 (biases 0 and 1): dormant at τ = 0.1 but not dead.
    net = _net([-5.0, -1.99, 0.0, 1.0])
    x = torch.rand(4000, 2, generator=torch.Generator().manual_seed(0))
    (layer,) = dormant_units(net, [x[:2000], x[2000:]], tau=0.1).values()
    assert layer.n_units == 4 and layer.dead_fraction == 0.25
    assert layer.dormant_fraction == 0.5
    assert layer.scores[0] == 0 and 0 < layer.scores[1] < 0.01
    assert dormant_units(net, [x], tau=0.0)["1"].dormant_fraction == 0.25  # τ = 0: only the dead unit


def test_scores_match_a_manual_forward_pass_and_batches_pool():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.LeakyReLU(0.1), nn.Linear(5, 1))
    x = torch.randn(300, 6)
    report = dormant_units(net, [(x[:100], None), (x[100:], None)], tau=0.5)  # DataLoader-style tuples
    with torch.no_grad():
        h1 = torch.relu(net[0](x)).double()
        h2 = nn.functional.leaky_relu(net[2](h1.float()), 0.1).double()
    for name, h in (("1", h1), ("3", h2)):
        a = h.abs().mean(0)
        expected = (a / a.mean()).numpy()
        np.testing.assert_allclose(report[name].scores, expected, rtol=1e-6)
        assert report[name].dormant_fraction == pytest.approx(float((expected <= 0.5).mean()))
        assert report[name].dead_fraction == pytest.approx(float((h <= 0).all(0).double().mean()))


def test_channels_of_a_conv_layer_are_the_units():
    conv = nn.Conv2d(1, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 1.0, -1.0]).view(3, 1, 1, 1))
        conv.bias.zero_()
    net = nn.Sequential(conv, nn.ReLU())
    x = torch.rand(5, 1, 4, 4) + 0.1  # positive: channels 0, 1 active, channel 2 dead
    layer = dormant_units(net, [x])["1"]
    assert layer.n_units == 3 and layer.dead_fraction == pytest.approx(1 / 3)
    np.testing.assert_allclose(layer.scores, [1.5, 1.5, 0.0])


def test_a_silent_layer_scores_zero_and_the_model_mode_is_restored():
    net = _net([-5.0, -5.0, -5.0, -5.0]).train()
    layer = dormant_units(net, [torch.rand(10, 2)])["1"]
    assert layer.dead_fraction == 1 and layer.dormant_fraction == 1 and not layer.scores.any()
    assert net.training
    assert dormancy_scores(np.array([[1.0, 3.0], [0.0, 0.0]])).tolist() == [[0.5, 1.5], [0.0, 0.0]]


def test_bad_arguments_raise():
    net = _net([0.0] * 4)
    with pytest.raises(UserError, match="tau"):
        dormant_units(net, [torch.rand(3, 2)], tau=-1)
    with pytest.raises(UserError, match="no ReLU-family"):
        dormant_units(nn.Linear(2, 2), [torch.rand(3, 2)])
    with pytest.raises(UserError, match="not ReLU-family"):
        dormant_units(net, [torch.rand(3, 2)], layers=["0"])
    with pytest.raises(UserError, match="empty"):
        dormant_units(net, [])
