"""Elementwise activations for the infinite-width kernels, with their dual ("arc-cosine") kernels in closed form.

An activation here is a scalar function phi applied elementwise. Each layer of an infinite-width network needs two
Gaussian expectations of it, for (u, v) ~ N(0, [[k11, k12], [k12, k22]]):

    Sigma    = E[phi(u) phi(v)]        (the NNGP dual)
    Sigmadot = E[phi'(u) phi'(v)]      (the derivative dual, for the NTK)

Closed forms (neural-tangents' ``stax`` convention, anchors-tools.md section 4.2-4.3):

- ``relu``, ``leaky_relu`` (slope ``negative_slope``), ``abs`` are ``ABRelu(a, b)``: phi = a min(x, 0) + b max(x, 0),
  with theta = arccos(k12 / sqrt(k11 k22)):
  Sigma = (a-b)^2/(2 pi) sqrt(k11 k22 - k12^2) + [(a^2+b^2)/2 - (a-b)^2 theta/(2 pi)] k12 (Cho & Saul 2009),
  Sigmadot = (a^2+b^2)/2 - (a-b)^2 theta/(2 pi).
- ``erf`` (phi = erf(x)): Sigma = (2/pi) arcsin(2 k12 / sqrt((1+2k11)(1+2k22))) (Williams 1997) and
  Sigmadot = (4/pi) / sqrt((1+2k11)(1+2k22) - 4 k12^2).
- ``identity``: Sigma = k12, Sigmadot = 1.

Every other activation - a name from ``QUADRATURE_ACTIVATIONS`` or any torch callable - is integrated numerically
by :mod:`phenomena.kernels.quadrature`. A callable must be elementwise and absolutely continuous (its derivative is
taken by autograd; a jump such as ``sign`` has a delta derivative that autograd cannot see).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from phenomena.errors import UserError

DualFn = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
DiagFn = Callable[[Tensor], tuple[Tensor, Tensor]]

CLOSED_FORM_ACTIVATIONS = ("relu", "leaky_relu", "abs", "erf", "identity")
QUADRATURE_ACTIVATIONS = ("tanh", "sigmoid", "gelu", "silu", "softplus", "elu", "selu", "sin", "cos", "mish")

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


@dataclass(frozen=True)
class Activation:
    """An elementwise activation: its function, derivative, and closed-form duals where they exist.

    ``dual(k11, k22, k12)`` and ``diag(k)`` return ``(E[phi phi], E[phi' phi'])``; they are ``None`` for
    activations that need quadrature.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    derivative_fn: Callable[[Tensor], Tensor] | None = None
    dual: DualFn | None = None
    diag: DiagFn | None = None

    @property
    def closed_form(self) -> bool:
        return self.dual is not None

    def value_and_derivative(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(phi(x), phi'(x))`` elementwise; the derivative by autograd when no formula is known."""
        if self.derivative_fn is not None:
            return self.fn(x), self.derivative_fn(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            y = self.fn(xg)
            if y.shape != xg.shape:
                raise UserError(
                    f"activation {self.name!r} must be elementwise (same output shape as input), "
                    f"but mapped shape {tuple(xg.shape)} to {tuple(y.shape)}."
                )
            (g,) = torch.autograd.grad(y.sum(), xg, allow_unused=True)
        if g is None:
            g = torch.zeros_like(x)
        return y.detach(), g


def _abrelu(a: float, b: float) -> tuple[DualFn, DiagFn]:
    """Duals of phi = a min(x, 0) + b max(x, 0), written as neural-tangents' ``_ab_relu`` (arctan2 form)."""
    mean_sq = (a * a + b * b) / 2.0
    jump = (a - b) ** 2 / (2.0 * math.pi)

    def dual(k11: Tensor, k22: Tensor, k12: Tensor) -> tuple[Tensor, Tensor]:
        # Plain k11 k22 - k12^2 (no fused multiply-add) is exactly 0 when k12 = k11 = k22 bitwise.
        root = (k11 * k22 - k12 * k12).clamp_min(0.0).sqrt()
        theta = torch.atan2(root, k12)
        zero = (k11 == 0) | (k22 == 0)
        if bool(zero.any()):
            # 0/0 (a zero-variance input) is filled with theta = pi/2, as neural-tangents does.
            theta = torch.where(zero, math.pi / 2, theta)
        dot = mean_sq - jump * theta
        return torch.addcmul(jump * root, dot, k12), dot

    def diag(k: Tensor) -> tuple[Tensor, Tensor]:
        return mean_sq * k, torch.full_like(k, mean_sq)

    return dual, diag


def _erf_dual(k11: Tensor, k22: Tensor, k12: Tensor) -> tuple[Tensor, Tensor]:
    root = ((1 + 2 * k11) * (1 + 2 * k22) - 4 * k12 * k12).clamp_min(torch.finfo(k12.dtype).tiny).sqrt()
    return (2 / math.pi) * torch.atan2(2 * k12, root), (4 / math.pi) / root


def _erf_diag(k: Tensor) -> tuple[Tensor, Tensor]:
    root = (1 + 4 * k).sqrt()
    return (2 / math.pi) * torch.atan2(2 * k, root), (4 / math.pi) / root


def _identity_dual(k11: Tensor, k22: Tensor, k12: Tensor) -> tuple[Tensor, Tensor]:
    return k12.clone(), torch.ones_like(k12)


def _identity_diag(k: Tensor) -> tuple[Tensor, Tensor]:
    return k.clone(), torch.ones_like(k)


def _gelu_derivative(x: Tensor) -> Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _silu_derivative(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


_QUADRATURE_TABLE: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor] | None]] = {
    "tanh": (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
    "sigmoid": (torch.sigmoid, lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))),
    "gelu": (torch.nn.functional.gelu, _gelu_derivative),
    "silu": (torch.nn.functional.silu, _silu_derivative),
    "softplus": (torch.nn.functional.softplus, torch.sigmoid),
    "elu": (torch.nn.functional.elu, lambda x: torch.where(x > 0, torch.ones_like(x), torch.exp(x))),
    "selu": (
        torch.nn.functional.selu,
        lambda x: _SELU_SCALE * torch.where(x > 0, torch.ones_like(x), _SELU_ALPHA * torch.exp(x)),
    ),
    "sin": (torch.sin, torch.cos),
    "cos": (torch.cos, lambda x: -torch.sin(x)),
    "mish": (torch.nn.functional.mish, None),
}

_ALIASES = {"linear": "identity", "swish": "silu", "leakyrelu": "leaky_relu"}


def resolve_activation(
    activation: str | Callable[[Tensor], Tensor] | Activation, negative_slope: float | None = None
) -> Activation:
    """Turn an activation name, torch callable or :class:`Activation` into an :class:`Activation`.

    Args:
        activation: one of ``CLOSED_FORM_ACTIVATIONS`` or ``QUADRATURE_ACTIVATIONS`` (case-insensitive; "linear"
            and "swish" are aliases), or an elementwise torch callable (derivative by autograd).
        negative_slope: slope for x < 0 of ``leaky_relu`` (default 0.01, as ``torch.nn.LeakyReLU``); an error for
            any other activation.

    Returns:
        The resolved :class:`Activation`.

    Example:
        >>> resolve_activation("relu").closed_form
        True
    """
    if isinstance(activation, Activation):
        if negative_slope is not None:
            raise UserError("negative_slope only applies to activation='leaky_relu'.")
        return activation
    if callable(activation) and not isinstance(activation, str):
        if negative_slope is not None:
            raise UserError("negative_slope only applies to activation='leaky_relu'.")
        name = getattr(activation, "__name__", type(activation).__name__)
        return Activation(name=name, fn=activation)
    if not isinstance(activation, str):
        raise UserError(f"activation must be a name or a torch callable, not {type(activation).__name__}.")
    name = _ALIASES.get(activation.lower(), activation.lower())
    if negative_slope is not None and name != "leaky_relu":
        raise UserError(f"negative_slope only applies to activation='leaky_relu', not {activation!r}.")
    if name == "relu":
        return Activation("relu", torch.relu, lambda x: (x > 0).to(x.dtype), *_abrelu(0.0, 1.0))
    if name == "leaky_relu":
        slope = 0.01 if negative_slope is None else float(negative_slope)
        if not math.isfinite(slope):
            raise UserError(f"negative_slope must be a finite number, got {negative_slope!r}.")
        return Activation(
            "leaky_relu",
            lambda x: torch.where(x > 0, x, slope * x),
            lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope)),
            *_abrelu(slope, 1.0),
        )
    if name == "abs":
        return Activation("abs", torch.abs, torch.sign, *_abrelu(-1.0, 1.0))
    if name == "erf":
        return Activation(
            "erf", torch.erf, lambda x: (2 / math.sqrt(math.pi)) * torch.exp(-x * x), _erf_dual, _erf_diag
        )
    if name == "identity":
        return Activation("identity", lambda x: x, torch.ones_like, _identity_dual, _identity_diag)
    if name in _QUADRATURE_TABLE:
        fn, dfn = _QUADRATURE_TABLE[name]
        return Activation(name, fn, dfn)
    choices = ", ".join(CLOSED_FORM_ACTIVATIONS + QUADRATURE_ACTIVATIONS)
    raise UserError(f"unknown activation {activation!r}; choose one of {choices}, or pass a torch callable.")
