"""Mean-field signal propagation in deep random networks (Poole et al. 2016; Schoenholz et al. 2017).

Variance convention: weight_var = sigma_w^2 and bias_var = sigma_b^2 with W_ij ~ N(0, sigma_w^2 / n_in) and
b_i ~ N(0, sigma_b^2), pre-activations h^l = W^l phi(h^{l-1}) + b^l and h^1 = W^1 x + b^1. This is neural-tangents'
W_std = sqrt(weight_var), b_std = sqrt(bias_var) (either parameterization: the forward pass has the same law).
With z, z1, z2 ~ N(0, 1) independent:

    q-map      q^l = sigma_w^2 E[phi(sqrt(q^{l-1}) z)^2] + sigma_b^2              -> fixed point q*
    c-map      c^l = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*,  u1 = sqrt(q*) z1,
               u2 = sqrt(q*) (c z1 + sqrt(1 - c^2) z2)                             -> fixed point c*
    chi_1      = sigma_w^2 E[phi'(sqrt(q*) z)^2]  (slope of the c-map at c = 1): ordered < 1 < chaotic
    xi_q       = -1 / ln(dq^l/dq^{l-1} at q*)     = -1/ln(chi_1 + sigma_w^2 E[phi'' phi])
    xi_c       = -1 / ln(sigma_w^2 E[phi'(u1) phi'(u2)] at c*)   (= -1/ln chi_1 when c* = 1)

The expectations are the NNGP duals of :mod:`phenomena.kernels.dual` (closed forms or quadrature), so these maps
are exactly the diagonal and the correlation of ``kernels.fc``'s K recursion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from scipy.optimize import brentq
from torch import Tensor

from phenomena.errors import UserError
from phenomena.kernels.activations import Activation, resolve_activation
from phenomena.kernels.dual import dual, dual_diag
from phenomena.kernels.quadrature import expect_1d

ActivationLike = str | Callable[[Tensor], Tensor] | Activation
_HOMOGENEOUS = ("relu", "leaky_relu", "abs", "identity")
_DIVERGED = 1e12
_VANISHED = 1e-30


def _t(x: float) -> Tensor:
    return torch.tensor([float(x)], dtype=torch.float64)


def _check(weight_var: float, bias_var: float) -> None:
    for name, v in (("weight_var", weight_var), ("bias_var", bias_var)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise UserError(f"{name} must be a finite number >= 0, got {v!r}.")


def q_map(q: float, activation: ActivationLike, weight_var: float, bias_var: float = 0.0) -> float:
    """One step of the length map: sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2.

    Example:
        >>> q_map(1.0, "relu", 2.0)  # relu: E[phi(sqrt(q) z)^2] = q/2
        1.0
    """
    _check(weight_var, bias_var)
    if q < 0 or not math.isfinite(q):
        raise UserError(f"q must be a finite variance >= 0, got {q!r}.")
    act = resolve_activation(activation)
    return weight_var * float(dual_diag(act, _t(q))[0][0]) + bias_var


def q_star(
    activation: ActivationLike, weight_var: float, bias_var: float = 0.0, q0: float = 1.0, max_iter: int = 50
) -> float:
    """The fixed point of the q-map reached from q0 (the stable one; Poole et al. 2016, Fig. 1).

    The map is iterated ``max_iter`` times, then the fixed point is found by Brent's method on a bracket beside
    the iterate. A fixed point below 1e-30 is returned as 0 (e.g. tanh with sigma_w^2 <= 1 and no bias).

    Raises:
        UserError: if the variance grows without bound (e.g. relu with weight_var > 2).

    Example:
        >>> round(q_star("relu", 1.0, 0.5), 10)  # q = q/2 + 0.5
        1.0
    """
    act = resolve_activation(activation)
    _check(weight_var, bias_var)

    def g(q: float) -> float:
        return weight_var * float(dual_diag(act, _t(q))[0][0]) + bias_var - q

    q = float(q0)
    if q < 0 or not math.isfinite(q):
        raise UserError(f"q0 must be a finite variance >= 0, got {q0!r}.")
    # A few plain iterations find the basin of the attracting fixed point and usually converge outright.
    for _ in range(max_iter):
        step = g(q)
        if abs(step) <= 1e-14 * max(1.0, q):
            return q
        if q + step > _DIVERGED:
            raise UserError(
                f"the q-map of {act.name} diverges at weight_var={weight_var}, bias_var={bias_var}: no finite q*."
            )
        q = max(q + step, 0.0)
    # Slow (near-critical) convergence: the iterates are monotone, so the attractor lies beyond q in the
    # direction of motion; bracket it geometrically and finish with Brent's method.
    if g(q) > 0:
        hi = 2 * q + 1.0
        while g(hi) > 0:
            hi *= 2
            if hi > _DIVERGED:
                raise UserError(
                    f"the q-map of {act.name} diverges at weight_var={weight_var}, bias_var={bias_var}: no finite q*."
                )
        return brentq(g, q, hi, xtol=1e-300, rtol=1e-12, maxiter=300)
    lo = q / 4
    while g(lo) <= 0:
        lo /= 4
        if lo < _VANISHED:
            return 0.0
    return brentq(g, lo, q, xtol=1e-300, rtol=1e-12, maxiter=300)


def c_map(
    c: float, activation: ActivationLike, weight_var: float, bias_var: float = 0.0, q: float | None = None
) -> float:
    """One step of the correlation map at variance q (default q*): (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*.

    Example:
        >>> round(c_map(1.0, "tanh", 1.5, 0.05), 12)  # c = 1 is always a fixed point
        1.0
    """
    act = resolve_activation(activation)
    _check(weight_var, bias_var)
    if not -1.0 <= c <= 1.0:
        raise UserError(f"c must be a correlation in [-1, 1], got {c!r}.")
    q = q_star(act, weight_var, bias_var) if q is None else float(q)
    if q <= 0:
        raise UserError("the c-map needs q > 0 (q* = 0 here: all inputs collapse to the same point).")
    if c == 1.0:
        return (weight_var * float(dual_diag(act, _t(q))[0][0]) + bias_var) / q
    sig, _ = dual(act, _t(q), _t(q), _t(c * q))
    return (weight_var * float(sig[0]) + bias_var) / q


def chi1(activation: ActivationLike, weight_var: float, bias_var: float = 0.0, q: float | None = None) -> float:
    """chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2], the slope of the c-map at c = 1 (Schoenholz et al. 2017, eq. 5).

    Example:
        >>> chi1("relu", 2.0)
        1.0
    """
    act = resolve_activation(activation)
    _check(weight_var, bias_var)
    q = _q_or_star(act, weight_var, bias_var, q)
    return weight_var * float(dual_diag(act, _t(q))[1][0])


def c_star(activation: ActivationLike, weight_var: float, bias_var: float = 0.0) -> float:
    """The stable fixed point of the c-map: 1 in the ordered phase (chi_1 <= 1), c* < 1 in the chaotic phase.

    Example:
        >>> c_star("tanh", 0.5)
        1.0
    """
    act = resolve_activation(activation)
    q = q_star(act, weight_var, bias_var)
    if q == 0.0 or chi1(act, weight_var, bias_var, q) <= 1.0:
        return 1.0

    def g(c: float) -> float:
        return c_map(c, act, weight_var, bias_var, q) - c

    # On [0, 1] the c-map is a power series in c with nonnegative coefficients, hence convex: g(0) >= 0,
    # g < 0 just below 1 (slope chi_1 > 1 there), and c* is the only root in between.
    if g(0.0) <= 1e-14:
        return 0.0
    top = 1.0 - 1e-6
    if g(top) >= 0:
        # g >= 0 on [0, c*] (convexity), so c* lies in [top, 1): chi_1 is within rounding of 1 (e.g. at the
        # computed edge of chaos) and c* is 1 to the precision this map can resolve
        return 1.0
    return brentq(g, 0.0, top, xtol=1e-14, rtol=1e-13)


def depth_scales(activation: ActivationLike, weight_var: float, bias_var: float = 0.0) -> tuple[float, float]:
    """(xi_q, xi_c): the depths over which the length and the correlation approach q* and c*.

    Both are -1/ln(slope of the map at its fixed point); inf at criticality (slope 1). The q-map slope is
    sigma_w^2 d/dq E[phi(sqrt(q) z)^2] = sigma_w^2 E[phi phi'(sqrt(q*) z) z] / sqrt(q*) (no phi'' needed).

    Example:
        >>> xi_q, xi_c = depth_scales("relu", 1.0, 0.5)
        >>> round(xi_c, 6) == round(-1 / math.log(0.5), 6)  # chi_1 = 1/2, c* = 1
        True
    """
    act = resolve_activation(activation)
    q = q_star(act, weight_var, bias_var)
    slope_q = weight_var * float(expect_1d(act, _t(q), kind="slope")[1][0])
    c = c_star(act, weight_var, bias_var)
    if c == 1.0 or q == 0.0:
        slope_c = chi1(act, weight_var, bias_var, q)
    else:
        slope_c = weight_var * float(dual(act, _t(q), _t(q), _t(c * q))[1][0])
    return _scale(slope_q), _scale(slope_c)


def _scale(slope: float) -> float:
    if slope <= 0:
        return 0.0
    return math.inf if abs(math.log(slope)) < 1e-12 else -1.0 / math.log(slope)


def edge_of_chaos(
    activation: ActivationLike, bias_var: float = 0.0, bracket: tuple[float, float] = (1e-3, 1e3)
) -> float:
    """The weight variance sigma_w^2 at which chi_1 = 1 for the given bias variance (Brent's method).

    For positively homogeneous activations (relu, leaky_relu, abs, identity) chi_1 = sigma_w^2 E[phi'(z)^2]
    whatever q*, so the answer is 1 / E[phi'(z)^2] (2 for relu); q* is finite there only when bias_var = 0.

    Example:
        >>> round(edge_of_chaos("tanh", 0.05), 3)  # Schoenholz et al. 2017, Fig. 1
        1.761
    """
    act = resolve_activation(activation)
    _check(1.0, bias_var)
    if act.name in _HOMOGENEOUS:
        return 1.0 / float(dual_diag(act, _t(1.0))[1][0])

    def g(wv: float) -> float:
        return chi1(act, wv, bias_var) - 1.0

    lo, hi = bracket
    if g(lo) >= 0 or g(hi) <= 0:
        raise UserError(f"chi_1 - 1 does not change sign for weight_var in {bracket}: no edge of chaos found there.")
    return brentq(g, lo, hi, xtol=1e-12, rtol=1e-10, maxiter=300)


@dataclass(frozen=True)
class SignalPropagation:
    """Everything :func:`signal_propagation` computes for one (activation, weight_var, bias_var)."""

    q_star: float
    c_star: float
    chi1: float
    xi_q: float
    xi_c: float
    phase: str


def signal_propagation(activation: ActivationLike, weight_var: float, bias_var: float = 0.0) -> SignalPropagation:
    """q*, c*, chi_1, the depth scales and the phase ("ordered", "critical" or "chaotic") in one call.

    Example:
        >>> signal_propagation("relu", 2.0).phase
        'critical'
    """
    act = resolve_activation(activation)
    q = q_star(act, weight_var, bias_var)
    x1 = chi1(act, weight_var, bias_var, q)
    xi_q, xi_c = depth_scales(act, weight_var, bias_var)
    phase = "critical" if abs(x1 - 1.0) < 1e-9 else ("ordered" if x1 < 1.0 else "chaotic")
    return SignalPropagation(q, c_star(act, weight_var, bias_var), x1, xi_q, xi_c, phase)


def _q_or_star(act: Activation, weight_var: float, bias_var: float, q: float | None) -> float:
    if q is None:
        return q_star(act, weight_var, bias_var)
    if q < 0 or not math.isfinite(q):
        raise UserError(f"q must be a finite variance >= 0, got {q!r}.")
    return float(q)
