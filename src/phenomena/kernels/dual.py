"""The dual kernels of an activation, E[phi(u) phi(v)] and E[phi'(u) phi'(v)], by whichever method is exact enough.

``dual`` is the public entry point (elementwise over broadcastable k11, k22, k12); ``dual_block`` is the kernel-block
form that :func:`phenomena.kernels.fc` uses, with Hermite coefficients computed once per point rather than per pair.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from phenomena.errors import UserError
from phenomena.kernels.activations import Activation, resolve_activation
from phenomena.kernels.quadrature import HermiteSeries, expect_1d, polar_expect, series_dual

METHODS = ("auto", "closed", "series", "quadrature")


def default_tol(dtype: torch.dtype) -> float:
    """Truncation tolerance of the Hermite series, relative to sqrt(E[phi(u)^2] E[phi(v)^2])."""
    return 1e-10 if dtype == torch.float64 else 1e-5


def _rho(k11: Tensor, k22: Tensor, k12: Tensor) -> Tensor:
    denom = (k11.clamp_min(0.0) * k22.clamp_min(0.0)).sqrt()
    # A zero-variance input has correlation 0 with everything (neural-tangents fills 0/0 the same way).
    return torch.where(denom > 0, k12 / denom.clamp_min(torch.finfo(k12.dtype).tiny), 0.0).clamp(-1.0, 1.0)


def dual(
    activation: str | Callable[[Tensor], Tensor] | Activation,
    k11: Tensor,
    k22: Tensor,
    k12: Tensor,
    *,
    method: str = "auto",
    tol: float | None = None,
    negative_slope: float | None = None,
) -> tuple[Tensor, Tensor]:
    """E[phi(u) phi(v)] and E[phi'(u) phi'(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]), elementwise.

    Args:
        activation: a name (see :mod:`phenomena.kernels.activations`) or an elementwise torch callable.
        k11, k22, k12: broadcastable tensors of variances and covariances (a PSD 2x2 matrix per entry).
        method: ``"auto"`` (closed form if known, else Hermite series with a 2-D quadrature fallback for entries
            whose truncation bound exceeds ``tol``), ``"closed"``, ``"series"`` (series only, no fallback: its
            truncation error may exceed ``tol``) or ``"quadrature"`` (the 2-D polar rule for every entry).
        tol: series tolerance relative to sqrt(E[phi(u)^2] E[phi(v)^2]); default 1e-10 (float64), 1e-5 otherwise.
        negative_slope: slope of ``leaky_relu`` for x < 0.

    Returns:
        ``(sigma, sigma_dot)`` with the broadcast shape.

    Example:
        >>> one = torch.ones((), dtype=torch.float64)
        >>> s, d = dual("erf", one, one, 0.6 * one)  # (2/pi) arcsin(1.2/3), (4/pi)/sqrt(9 - 1.44)
        >>> f"{float(s):.6f} {float(d):.6f}"
        '0.261980 0.463073'
    """
    act = resolve_activation(activation, negative_slope)
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    k11, k22, k12 = torch.broadcast_tensors(k11, k22, k12)
    if not k12.is_floating_point():
        raise UserError(f"k11, k22, k12 must be floating-point tensors, got {k12.dtype}.")
    if method in ("auto", "closed") and act.closed_form:
        return act.dual(k11, k22, k12)
    if method == "closed":
        raise UserError(f"activation {act.name!r} has no closed-form dual; use method='auto' or 'quadrature'.")
    shape = k12.shape
    a, b, c = (t.reshape(-1) for t in (k11, k22, k12))
    if method == "quadrature":
        sig, dot = polar_expect(act, a, b, c)
    else:
        tol = default_tol(c.dtype) if tol is None else tol
        sig, dot, bad = series_dual(HermiteSeries.fit(act, a), HermiteSeries.fit(act, b), _rho(a, b, c), tol, False)
        if method == "auto" and bool(bad.any()):
            sig[bad], dot[bad] = polar_expect(act, a[bad], b[bad], c[bad])
    return sig.reshape(shape), dot.reshape(shape)


def dual_diag(activation: Activation, k: Tensor) -> tuple[Tensor, Tensor]:
    """``(E[phi(sqrt(k) z)^2], E[phi'(sqrt(k) z)^2])`` at each variance k: closed form or the 1-D rule."""
    if activation.closed_form:
        return activation.diag(k)
    return expect_1d(activation, k)


def dual_block(
    act: Activation,
    k11: Tensor,
    k22: Tensor,
    k12: Tensor,
    series: tuple[HermiteSeries, HermiteSeries] | None,
    tol: float,
    skip_diagonal: bool = False,
) -> tuple[Tensor, Tensor]:
    """Both duals on a kernel block: ``k11`` per row, ``k22`` per column, ``k12`` of shape (rows, cols).

    ``series`` holds the rows' and columns' Hermite coefficients (``None`` for closed-form activations).
    ``skip_diagonal``: the entries (i, i) will be overwritten by the caller, so they need no accuracy.
    """
    if act.closed_form:
        return act.dual(k11[:, None], k22[None, :], k12)
    if series is None:
        raise ValueError("dual_block needs Hermite series for an activation without a closed form.")
    rho = _rho(k11[:, None], k22[None, :], k12)
    skip = None
    if skip_diagonal:
        skip = torch.zeros_like(rho, dtype=torch.bool)
        skip.diagonal().fill_(True)
    sig, dot, bad = series_dual(series[0], series[1], rho, tol, True, skip)
    if bool(bad.any()):
        i, j = bad.nonzero(as_tuple=True)
        sig[i, j], dot[i, j] = polar_expect(act, k11[i], k22[j], k12[i, j])
    return sig, dot
