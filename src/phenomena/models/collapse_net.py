"""The network of the neural-collapse entry: an MLP body whose output is the feature ``h``, and a linear head."""

from __future__ import annotations

import math

import torch
from torch import nn

from phenomena.models.layers import ScaledLinear


class CollapseNet(nn.Module):
    """An MLP ``body`` (Linear, BatchNorm, ReLU per hidden layer) whose output is the feature ``h``, and a
    linear classifier ``head`` on it (the W, b of neural collapse).

    Weights are He-scaled Gaussians drawn from ``torch.Generator(seed)`` (the global RNG is never touched); with
    ``batch_norm`` the hidden layers have no bias (it is redundant before BatchNorm).
    """

    def __init__(self, in_features: int, num_classes: int, width: int, depth: int, batch_norm: bool, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        fan = in_features
        for _ in range(depth):
            # He-scaled Gaussian weights; the bias is redundant before BatchNorm
            layers.append(ScaledLinear(fan, width, bias=not batch_norm, weight_std=math.sqrt(2), generator=g))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
            fan = width
        self.body = nn.Sequential(*layers)
        self.head = ScaledLinear(width, num_classes, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
