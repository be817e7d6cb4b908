"""Linear layers with explicit parameterizations (standard, NTK, μP) and a token-input variant."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from phenomena.errors import UserError

PARAMETERIZATIONS = ("standard", "ntk", "mup")

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "erf": torch.erf,
    "abs": torch.abs,
    "sin": torch.sin,
    "softplus": F.softplus,
    "leaky_relu": F.leaky_relu,
    "quadratic": torch.square,  # Gromov (2023): phi(z) = z^2 groks modular arithmetic analytically
    "identity": lambda z: z,
}


def activation(name: str):
    """The elementwise function called ``name``; raises UserError listing the known names."""
    if name not in ACTIVATIONS:
        raise UserError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class Activation(nn.Module):
    """An elementwise activation by name, as a module (so it shows in ``named_modules`` for hooks)."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.fn = activation(name)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)

    def extra_repr(self) -> str:
        return self.name


def _scaled(t: torch.Tensor, factor: float) -> torch.Tensor:
    """``t * factor``, spelled as the Scalar overload: the same values, but under ``torch.func.jvp`` (linearized
    networks, NTK products) ``t * factor`` runs through a Python reference decomposition, a fixed cost per call
    larger than the multiplication itself at these sizes; ``aten.mul.Scalar`` stays in C++."""
    return torch.ops.aten.mul.Scalar(t, factor)


class ScaledLinear(nn.Linear):
    """``nn.Linear`` whose effective weight is ``weight_mult * weight`` (and bias ``bias_mult * bias``).

    Parameterizations of a layer with fan-in n (Jacot et al. 2018; Yang & Hu 2021), weight_std σ_w, bias_std σ_b:

    - ``standard``: W ~ N(0, σ_w²/n), b = 0, multipliers 1 (PyTorch's usual form, with Gaussian init);
    - ``ntk``: W, b ~ N(0, 1), multipliers σ_w/√n and σ_b, so the network's NTK has a finite infinite-width limit
      (neural-tangents' ``Dense(W_std, b_std)``);
    - ``mup``: like ``ntk`` for input and hidden layers, but the readout multiplier is σ_w/n (mean-field), so
      features move O(1) with width; with SGD the learning rate must grow ∝ width to stay in that regime.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        parameterization: str = "standard",
        weight_std: float = 1.0,
        bias_std: float = 0.0,
        readout: bool = False,
        generator: torch.Generator | None = None,
        fan_in: int | None = None,
    ):
        super().__init__(in_features, out_features, bias=bias)
        if parameterization not in PARAMETERIZATIONS:
            raise UserError(
                f"unknown parameterization {parameterization!r}; choose one of {', '.join(PARAMETERIZATIONS)}"
            )
        n = fan_in or in_features
        if parameterization == "standard":
            w_std, b_std, self.weight_mult, self.bias_mult = weight_std / math.sqrt(n), bias_std, 1.0, 1.0
        else:
            w_std, b_std, self.bias_mult = 1.0, 1.0, bias_std
            scale = n if (parameterization == "mup" and readout) else math.sqrt(n)
            self.weight_mult = weight_std / scale
        with torch.no_grad():
            self.weight.normal_(0.0, w_std, generator=generator)
            if self.bias is not None:
                self.bias.normal_(0.0, b_std, generator=generator) if b_std > 0 else self.bias.zero_()

    def reset_parameters(self) -> None:
        """Draws nothing while ``nn.Linear.__init__`` runs: every value is then set from ``generator`` above, and
        nn.Linear's own Kaiming draw would only advance the global RNG. Later calls re-draw as ``nn.Linear``."""
        if hasattr(self, "weight_mult"):
            super().reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight if self.weight_mult == 1.0 else _scaled(self.weight, self.weight_mult)
        b = self.bias if (self.bias is None or self.bias_mult == 1.0) else _scaled(self.bias, self.bias_mult)
        return F.linear(x, w, b)


class TokenLinear(ScaledLinear):
    """A linear layer on the concatenated one-hot codes of T tokens from a vocabulary of V, computed by gathering
    columns instead of multiplying by a one-hot matrix.

    Inputs are integer tokens (N, T); the weight is (out, T·V), exactly the weight of ``nn.Linear(T·V, out)`` on
    one-hot inputs, so both give the same outputs and gradients, but the forward costs N·T·out instead of
    N·T·V·out. Initialization uses the one-hot layer's fan-in T·V, so the two are numerically identical.
    """

    def __init__(self, vocab: int, tokens: int, out_features: int, **kwargs):
        super().__init__(vocab * tokens, out_features, **kwargs)
        self.vocab, self.tokens = vocab, tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight if self.weight_mult == 1.0 else _scaled(self.weight, self.weight_mult)
        # (T*V, out): row t*V + v is the code of token v at position t. Gathering whole rows of a contiguous copy
        # (one F.embedding per position, then adds) is bitwise what indexing the strided transpose gives, and
        # faster: 6.1 against 8.3 ms forward and backward for the grokking layer (one thread); one index_select
        # + sum over T took 9.2 ms, F.embedding_bag 8.0 ms.
        rows = w.T.contiguous()
        h = F.embedding(x[:, 0], rows)
        for t in range(1, self.tokens):
            h = h + F.embedding(x[:, t] + t * self.vocab, rows)
        if self.bias is not None:
            h = h + (self.bias if self.bias_mult == 1.0 else _scaled(self.bias, self.bias_mult))
        return h

    def extra_repr(self) -> str:
        return f"vocab={self.vocab}, tokens={self.tokens}, out_features={self.out_features}"
