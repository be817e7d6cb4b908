import cmath
import math

import pytest
import torch

from phenomena.probes.fourier import fourier_ipr


def test_ipr_of_pure_and_mixed_frequencies():
    p = 97
    n = torch.arange(p, dtype=torch.float64)
    assert fourier_ipr(torch.cos(2 * math.pi * 5 * n / p + 0.3)).item() == pytest.approx(1.0)
    two = torch.cos(2 * math.pi * 5 * n / p) + torch.cos(2 * math.pi * 11 * n / p)
    assert fourier_ipr(two).item() == pytest.approx(0.5)  # two equal frequencies: 2 * (1/2)^2


def test_ipr_matches_a_brute_force_dft():
    p = 31
    rows = torch.randn(3, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    power = torch.tensor(
        [
            [
                abs(sum(v * cmath.exp(-2j * math.pi * k * j / p) for j, v in enumerate(row))) ** 2
                for k in range(p // 2 + 1)
            ]
            for row in rows.tolist()
        ],
        dtype=torch.float64,
    )
    expected = (power / power.sum(1, keepdim=True)).pow(2).sum(1)
    assert torch.allclose(fourier_ipr(rows), expected, atol=1e-12)
    assert fourier_ipr(rows).max() < 0.3  # random weights spread over many frequencies


def test_every_probe_name_resolves():
    import typing

    import phenomena.probes as probes

    def usable(x):  # a function, a class, or a type alias such as ParamFilter
        return callable(x) or isinstance(x, type) or typing.get_origin(x) is not None

    assert all(usable(getattr(probes, name)) for name in probes.__all__)
