"""Masked MLPs against true narrow MLPs (same function, same Adam trajectory), and the parameter count."""

import pytest
import torch

from phenomena.errors import UserError
from phenomena.models.masked_mlp import masked_mlp, mlp_parameters
from phenomena.models.mlp import MLP


@pytest.mark.parametrize("depth", [1, 2])
def test_a_masked_mlp_trains_exactly_like_the_narrow_mlp(depth):
    width, wide = 3, 11
    masked = masked_mlp(width, wide, depth, seed=5, in_features=6, classes=4)
    narrow = MLP(6, 4, width=width, depth=depth, seed=0)
    big = [m for m in masked.layers if isinstance(m, torch.nn.Linear)]
    small = [m for m in narrow.layers if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, (b, s) in enumerate(zip(big, small, strict=True)):
            s.weight.copy_(b.weight[: s.out_features, : s.in_features])
            s.bias.copy_(b.bias[: s.out_features])
            assert b.weight.abs().sum() == pytest.approx(s.weight.abs().sum().item())  # nothing outside the block
            if i > 0:  # live weights drawn at fan-in `width`: std about 1/√width
                assert b.weight[: s.out_features, :width].std() > 0.2
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 6, generator=g), torch.randint(0, 4, (64,), generator=g)
    opts = [torch.optim.Adam(m.parameters(), lr=0.05) for m in (masked, narrow)]
    for _ in range(30):
        for m, opt in zip((masked, narrow), opts, strict=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
    assert torch.allclose(masked(x), narrow(x), atol=1e-5)
    assert big[0].weight[width:].abs().max() == 0 and big[-1].weight[:, width:].abs().max() == 0  # dead units stay dead


def test_a_masked_mlp_rejects_a_width_above_the_built_one():
    with pytest.raises(UserError, match="width <= max_width"):
        masked_mlp(12, 8, 2, seed=0)


def test_parameter_count_is_that_of_the_narrow_mlp():
    for width, depth in ((4, 1), (12, 2), (48, 3)):
        assert mlp_parameters(width, depth) == sum(
            p.numel() for p in MLP(40, 10, width=width, depth=depth).parameters()
        )
