"""A fully connected network with a chosen width, depth, activation and parameterization."""

from __future__ import annotations

import torch
from torch import nn

from phenomena.errors import UserError
from phenomena.models.layers import Activation, ScaledLinear, TokenLinear
from phenomena.models.layers import activation as activation_fn


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units, then a linear readout to ``out_features``.

    Args:
        in_features: input dimension (ignored when ``vocab`` is given).
        out_features: outputs (classes or regression targets).
        width, depth: hidden units per layer and number of hidden layers (depth 0 is a linear model).
        activation: a name from ``phenomena.models.ACTIVATIONS`` (relu, tanh, quadratic, ...).
        bias: whether layers have biases.
        parameterization: "standard", "ntk" or "mup" (see :class:`ScaledLinear`).
        weight_std, bias_std: σ_w and σ_b of every layer.
        vocab, tokens: for integer-token inputs (N, tokens), the first layer acts on their concatenated one-hot
            codes by gathering (see :class:`TokenLinear`).
        seed: initialization uses its own ``torch.Generator(seed)``; the global RNG is never touched.

    Layers are ``self.layers`` (an ``nn.Sequential`` alternating linear layers and :class:`Activation`), so
    forward hooks can read any hidden representation; ``features(x)`` returns the last hidden layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 128,
        depth: int = 2,
        activation: str = "relu",
        bias: bool = True,
        parameterization: str = "standard",
        weight_std: float = 1.0,
        bias_std: float = 0.0,
        vocab: int | None = None,
        tokens: int | None = None,
        seed: int = 0,
    ):
        super().__init__()
        _check_sizes(in_features if vocab is None else vocab, out_features, width, depth)
        activation_fn(activation)  # validate the name before building anything
        g = torch.Generator().manual_seed(seed)
        common = dict(parameterization=parameterization, weight_std=weight_std, bias_std=bias_std, generator=g)
        layers: list[nn.Module] = []
        fan = in_features
        for i in range(depth + 1):
            out = width if i < depth else out_features
            readout = i == depth
            if i == 0 and vocab is not None:
                layer = TokenLinear(vocab, tokens or 1, out, bias=bias, readout=readout, **common)
            else:
                layer = ScaledLinear(fan, out, bias=bias, readout=readout, **common)
            layers.append(layer)
            if not readout:
                layers.append(Activation(activation))
            fan = out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden representation (the input of the readout layer)."""
        return self.layers[:-1](x)

    @property
    def readout(self) -> nn.Linear:
        return self.layers[-1]


def _check_sizes(fan_in: int, out: int, width: int, depth: int) -> None:
    for name, value in (("input size", fan_in), ("output size", out), ("width", width)):
        if value < 1:
            raise UserError(f"model {name} must be a positive integer; got {value}")
    if depth < 0:
        raise UserError(f"model depth must be >= 0; got {depth}")
