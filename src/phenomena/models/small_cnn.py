"""A small convolutional classifier for tiny grayscale images."""

from __future__ import annotations

import math

import torch
from torch import nn

from phenomena.errors import UserError


class SmallCNN(nn.Module):
    """Three 3×3 convolutions with ReLU (2×2 max-pooling after the first two), global average pooling, a linear
    readout.

    Args:
        out_features: classes.
        channels: channels of the three convolutions.
        in_channels: image channels.
        seed: initialization uses its own ``torch.Generator(seed)`` (PyTorch's default Kaiming-uniform bounds,
            drawn from it); the global RNG is never touched.

    The pooled features are ``features(x)``; the network is translation-equivariant up to the readout, so a cue
    anywhere in the image reaches it.
    """

    def __init__(self, out_features: int, channels: tuple[int, int, int] = (16, 32, 32), in_channels: int = 1, seed=0):
        super().__init__()
        if out_features < 1 or in_channels < 1 or len(channels) != 3 or min(channels) < 1:
            raise UserError(f"SmallCNN needs positive sizes and three channel counts; got {channels}")
        c1, c2, c3 = channels
        # PyTorch's own initialization draws from the global RNG: fork_rng restores its state afterwards, and every
        # value is then set below from g. (nn.utils.skip_init would avoid the draws, but its meta-device round trip
        # imports sympy on first use: ~2-4 s of a short run.)
        with torch.random.fork_rng(devices=[]):
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, c1, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(c1, c2, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(c2, c3, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            self.readout = nn.Linear(c3, out_features)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    fan_in = m.weight[0].numel()
                    bound = 1 / math.sqrt(fan_in)  # PyTorch's default: kaiming_uniform(a=√5) gives this bound too
                    m.weight.uniform_(-bound, bound, generator=g)
                    m.bias.uniform_(-bound, bound, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.body(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled last-layer features (the input of the readout)."""
        return self.body(x)
