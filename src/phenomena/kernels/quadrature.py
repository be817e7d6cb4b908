"""Gaussian expectations of an activation with no closed-form dual: a 1-D rule, a Hermite series, a 2-D rule.

Three numerical tools, each chosen for a reason measured on tanh, gelu, elu, softplus and relu:

1. **1-D rule** (``expect_1d``): E[f(sqrt(v) z)] = sum_q w_q [f(sqrt(v) z_q) + f(-sqrt(v) z_q)] with Gauss-Legendre
   nodes z_q on [0, 30] and w_q carrying the N(0, 1) density. Splitting at 0 makes it exact to ~1e-15 for
   activations with a kink at 0 (relu, abs, elu) and for sharp ones (tanh(3x)), where 128-node Gauss-Hermite is
   off by 1e-3 to 1e-4.
2. **Hermite (Mehler) series** (``HermiteSeries``): with h_k the orthonormal probabilists' Hermite polynomials,
   a_k(s) = E[phi(s z) h_k(z)] and rho = k12 / sqrt(k11 k22),

       E[phi(u) phi(v)] = sum_k a_k(sqrt(k11)) a_k(sqrt(k22)) rho^k,

   and the same with phi' for the derivative dual. The coefficients cost O(N) per layer (O(1) when the inputs share
   one norm, as they are grouped by variance); each kernel entry is then
   a short Horner sum, ~100x cheaper than a 2-D rule per entry. Parseval gives the exact tail:
   r(m) = 1 - sum_{k<=m} a_k^2 / E[phi^2], and by Cauchy-Schwarz the truncation error of an entry is at most
   |rho|^(m+1) sqrt(r_1(m) r_2(m)) sqrt(E_1 E_2). Entries whose bound exceeds ``tol`` go to the 2-D rule.
3. **2-D polar rule** (``polar_expect``): (z1, z2) = R (cos a, sin a) turns the pair into u = s1 R cos a and
   v = s2 R cos(a - beta), beta = arccos(rho). The circle is split at the four angles where u or v changes sign,
   Gauss-Legendre in a on each arc and in R on [0, 10] with weight R exp(-R^2/2). Exact (to rounding) for
   positively homogeneous activations (relu, abs, leaky relu) and ~1e-12 for smooth ones at moderate variance
   (tanh at k = 2).
   About 5,000 nodes per entry, so it is the fallback, not the default.

Accuracy degrades for activations whose scale is much finer than the pre-activation standard deviation (tanh at
variance >> 10): then the series does not converge within ``MAX_TERMS`` and the 2-D rule loses digits too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from phenomena.kernels.activations import Activation

HALF_NODES = 256
HALF_LENGTH = 30.0
MAX_TERMS = 160
ANGLE_NODES = 32
RADIAL_NODES = 40
RADIUS = 10.0
# Elements per temporary tensor; bounds memory of the 1-D and 2-D rules on large inputs.
CHUNK_ELEMENTS = 1 << 21


@lru_cache(maxsize=4)
def _half_line(n: int, length: float) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    z = (x + 1.0) * (length / 2.0)
    return z, w * (length / 2.0) * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=4)
def _hermite_basis(n: int, length: float, terms: int) -> np.ndarray:
    """G[q, k] = h_k(z_q) sqrt(w_q); the recurrence runs on the scaled values so that h_k(30) cannot overflow."""
    z, w = _half_line(n, length)
    basis = np.empty((n, terms + 1))
    basis[:, 0] = np.sqrt(w)
    basis[:, 1] = z * basis[:, 0]
    for k in range(1, terms):
        basis[:, k + 1] = (z * basis[:, k] - math.sqrt(k) * basis[:, k - 1]) / math.sqrt(k + 1)
    return basis


def _group(variance: Tensor) -> tuple[Tensor, Tensor] | None:
    """(representatives, index) of float64 variances equal to 2^-40 relative, or None if all differ."""
    if variance.dtype != torch.float64 or variance.ndim != 1 or len(variance) < 2:
        return None
    # Dropping the low 12 of 52 mantissa bits of a nonnegative float64 keeps its order and merges near-equal ones.
    _, inverse = torch.unique(variance.view(torch.int64) >> 12, return_inverse=True)
    groups = int(inverse.max()) + 1
    if groups == len(variance):
        return None
    rep = torch.zeros(groups, dtype=variance.dtype, device=variance.device).scatter_(0, inverse, variance)
    return rep, inverse


def _rule(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    z, w = _half_line(HALF_NODES, HALF_LENGTH)
    return torch.as_tensor(z, dtype=dtype, device=device), torch.as_tensor(w, dtype=dtype, device=device)


def expect_1d(act: Activation, variance: Tensor, kind: str = "dual") -> tuple[Tensor, Tensor]:
    """Gaussian expectations at each variance v (any shape), z ~ N(0, 1), by the split 1-D rule.

    Args:
        act: the activation.
        variance: tensor of variances (clamped at 0).
        kind: ``"dual"`` for ``(E[phi(sqrt(v) z)^2], E[phi'(sqrt(v) z)^2])``; ``"slope"`` for
            ``(E[phi(sqrt(v) z)^2], E[phi phi'(sqrt(v) z) z] / sqrt(v))``, the derivative of the first in v times 2
            (Poole et al. 2016's q-map slope needs it).

    Returns:
        Two tensors shaped like ``variance``.

    Example:
        >>> from phenomena.kernels.activations import resolve_activation
        >>> e, d = expect_1d(resolve_activation("relu"), torch.tensor([2.0], dtype=torch.float64))
        >>> round(float(e), 12), round(float(d), 12)
        (1.0, 0.5)
    """
    flat = variance.reshape(-1).clamp_min(0.0)
    grouped = _group(flat)
    if grouped is not None:
        e1, e2 = expect_1d(act, grouped[0], kind)
        return e1[grouped[1]].reshape(variance.shape), e2[grouped[1]].reshape(variance.shape)
    z, w = _rule(variance.dtype, variance.device)
    # A floor keeps phi(sqrt(v) z) / sqrt(v) finite as v -> 0; it equals phi'(0) z there.
    s = flat.sqrt().clamp_min(1e-150) if kind == "slope" else flat.sqrt()
    out1, out2 = torch.empty_like(flat), torch.empty_like(flat)
    rows = max(1, CHUNK_ELEMENTS // (2 * len(z)))
    for i in range(0, len(flat), rows):
        x = s[i : i + rows, None] * torch.cat([z, -z])[None, :]
        f, df = act.value_and_derivative(x)
        ww = torch.cat([w, w])
        out1[i : i + rows] = (f * f) @ ww
        if kind == "dual":
            out2[i : i + rows] = (df * df) @ ww
        else:
            out2[i : i + rows] = (f * df * torch.cat([z, -z])[None, :]) @ ww / s[i : i + rows]
    return out1.reshape(variance.shape), out2.reshape(variance.shape)


@dataclass
class HermiteSeries:
    """Hermite coefficients of phi and phi' at standard deviations sqrt(k) for a set of points.

    ``a[k, i] = E[phi(s_i z) h_k(z)]`` and ``b[k, i] = E[phi'(s_i z) h_k(z)]`` (degree first, so that each degree is a
    contiguous vector for the Horner loop); ``ra[k, i]`` and ``rb[k, i]`` are the relative Parseval tails after
    degree k. Build with :meth:`fit`.
    """

    a: Tensor
    b: Tensor
    ra: Tensor
    rb: Tensor

    @classmethod
    def fit(cls, act: Activation, variance: Tensor, terms: int = MAX_TERMS) -> HermiteSeries:
        """Coefficients up to degree ``terms`` for each variance in the 1-D tensor ``variance``.

        Variances equal to ~1e-12 relative (float64) share one fit: with normalized inputs every point has the
        same variance up to rounding, and the fit costs O(1) instead of O(N) per layer.
        """
        variance = variance.clamp_min(0.0)
        grouped = _group(variance)
        if grouped is not None:
            return cls.fit(act, grouped[0], terms).take(grouped[1])
        dtype, device = variance.dtype, variance.device
        z, w = _rule(dtype, device)
        basis = torch.as_tensor(_hermite_basis(HALF_NODES, HALF_LENGTH, terms), dtype=dtype, device=device)
        parity = torch.ones(terms + 1, 1, dtype=dtype, device=device)
        parity[1::2] = -1.0
        sw = w.sqrt()
        s = variance.sqrt()
        n = len(s)
        a = torch.empty(terms + 1, n, dtype=dtype, device=device)
        b = torch.empty_like(a)
        ea, eb = torch.empty(n, dtype=dtype, device=device), torch.empty(n, dtype=dtype, device=device)
        rows = max(1, CHUNK_ELEMENTS // (2 * len(z)))
        for i in range(0, n, rows):
            x = s[i : i + rows, None] * z[None, :]
            fp, dp = act.value_and_derivative(x)
            fm, dm = act.value_and_derivative(-x)
            # h_k(-z) = (-1)^k h_k(z): the negative half-line enters with the parity sign.
            a[:, i : i + rows] = basis.T @ (fp * sw).T + parity * (basis.T @ (fm * sw).T)
            b[:, i : i + rows] = basis.T @ (dp * sw).T + parity * (basis.T @ (dm * sw).T)
            ea[i : i + rows] = (fp * fp + fm * fm) @ w
            eb[i : i + rows] = (dp * dp + dm * dm) @ w
        return cls(a, b, _tail(a, ea), _tail(b, eb))

    def take(self, index: Tensor | slice) -> HermiteSeries:
        """The series of a subset of the points."""
        return HermiteSeries(self.a[:, index], self.b[:, index], self.ra[:, index], self.rb[:, index])


def _tail(coef: Tensor, energy: Tensor) -> Tensor:
    tail = (energy - torch.cumsum(coef * coef, dim=0)).clamp_min(0.0)
    return torch.where(energy > 0, tail / energy.clamp_min(torch.finfo(coef.dtype).tiny), 0.0)


def _degree(r1: Tensor, r2: Tensor, absr: Tensor, tol: float) -> tuple[int, bool]:
    """The lowest degree m at which every entry the series can serve at all meets its error bound.

    With R(m) = max r1(m) max r2(m), an entry is within ``tol`` at degree m once |rho|^(m+1) sqrt(R(m)) <= tol.
    Entries beyond what the highest degree can serve are left to the 2-D rule, so they do not raise m.
    Also returns whether every entry is served (then no per-entry bound is needed).
    """
    if absr.numel() == 0 or r1.shape[1] == 0 or r2.shape[1] == 0:
        return 0, True
    root = (r1.amax(dim=1) * r2.amax(dim=1)).sqrt()
    top = r1.shape[0] - 1
    orders = torch.arange(1, top + 2, dtype=absr.dtype, device=absr.device)
    cap = float((tol / root[top]) ** (1.0 / (top + 1))) if float(root[top]) > 0 else math.inf
    worst = float(absr.max())
    everything = worst <= cap
    if not everything:
        served = absr[absr <= cap]
        if served.numel() == 0:
            return 0, False
        worst = float(served.max())
    ok = (worst**orders * root <= tol).nonzero()
    return (int(ok[0]) if len(ok) else top), everything


def _horner(c1: Tensor, c2: Tensor, rho: Tensor, m: int, outer: bool) -> Tensor:
    """sum_{k<=m} c1[k] c2[k] rho^k: an outer product per degree for a block, elementwise for aligned pairs."""
    if outer:
        acc = torch.outer(c1[m], c2[m])
        for k in range(m - 1, -1, -1):
            acc.mul_(rho).addr_(c1[k], c2[k])
        return acc
    acc = c1[m] * c2[m]
    for k in range(m - 1, -1, -1):
        acc.mul_(rho).addcmul_(c1[k], c2[k])
    return acc


def series_dual(
    s1: HermiteSeries, s2: HermiteSeries, rho: Tensor, tol: float, outer: bool, skip: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Both duals from Hermite series, and the mask of entries whose error bound exceeds ``tol``.

    ``outer=True``: ``s1`` has one point per row of the 2-D ``rho`` and ``s2`` one per column (a kernel block).
    ``outer=False``: ``s1``, ``s2`` and the 1-D ``rho`` are aligned pair by pair. ``skip`` marks entries whose
    value the caller will overwrite: they never raise the degree and are never flagged.
    """
    absr = rho.abs()
    chosen = absr if skip is None else absr.masked_fill(skip, 0.0)
    ma, all_a = _degree(s1.ra, s2.ra, chosen, tol)
    mb, all_b = _degree(s1.rb, s2.rb, chosen, tol)
    sig = _horner(s1.a, s2.a, rho, ma, outer)
    dot = _horner(s1.b, s2.b, rho, mb, outer)

    def bad(r1: Tensor, r2: Tensor, m: int, everything: bool) -> Tensor:
        if everything:
            return torch.zeros_like(rho, dtype=torch.bool)
        tails = torch.outer(r1[m], r2[m]) if outer else r1[m] * r2[m]
        return chosen.pow(m + 1) * tails.sqrt() > tol

    return sig, dot, bad(s1.ra, s2.ra, ma, all_a) | bad(s1.rb, s2.rb, mb, all_b)


@lru_cache(maxsize=4)
def _polar_nodes(angle: int, radial: int, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xa, wa = np.polynomial.legendre.leggauss(angle)
    xr, wr = np.polynomial.legendre.leggauss(radial)
    r = (xr + 1.0) * (radius / 2.0)
    return (xa + 1.0) / 2.0, wa / 2.0, r, wr * (radius / 2.0) * r * np.exp(-0.5 * r * r)


def polar_expect(act: Activation, k11: Tensor, k22: Tensor, k12: Tensor) -> tuple[Tensor, Tensor]:
    """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) for each aligned triple of 1-D tensors, by the 2-D polar rule.

    Example:
        >>> from phenomena.kernels.activations import resolve_activation
        >>> one = torch.ones(1, dtype=torch.float64)
        >>> sig, dot = polar_expect(resolve_activation("relu"), one, one, 0.6 * one)
        >>> round(float(sig), 10), round(float(dot), 10)  # (sin t + (pi - t) cos t)/(2 pi), (pi - t)/(2 pi)
        (0.3387737839, 0.3524163823)
    """
    dtype, device = k12.dtype, k12.device
    ta, wa, r, wr = (
        torch.as_tensor(v, dtype=dtype, device=device) for v in _polar_nodes(ANGLE_NODES, RADIAL_NODES, RADIUS)
    )
    s1, s2 = k11.clamp_min(0.0).sqrt(), k22.clamp_min(0.0).sqrt()
    denom = s1 * s2
    rho = torch.where(denom > 0, k12 / denom.clamp_min(torch.finfo(dtype).tiny), 0.0).clamp(-1.0, 1.0)
    beta = torch.arccos(rho)
    sig, dot = torch.empty_like(k12), torch.empty_like(k12)
    per_pair = 4 * len(ta) * len(r)
    rows = max(1, CHUNK_ELEMENTS // per_pair)
    for i in range(0, len(k12), rows):
        bt = beta[i : i + rows, None]
        # Arcs [pi/2, pi/2 + beta] and [pi/2 + beta, 3 pi/2]; the other two are these plus pi, i.e. R -> -R.
        ang = torch.cat([math.pi / 2 + bt * ta, math.pi / 2 + bt + (math.pi - bt) * ta], dim=1)
        wang = torch.cat([bt * wa, (math.pi - bt) * wa], dim=1) / (2.0 * math.pi)
        cu = (s1[i : i + rows, None] * torch.cos(ang))[:, :, None] * r
        cv = (s2[i : i + rows, None] * torch.cos(ang - bt))[:, :, None] * r
        fu, du = act.value_and_derivative(torch.stack([cu, -cu]))
        fv, dv = act.value_and_derivative(torch.stack([cv, -cv]))
        weight = wang[:, :, None] * wr
        sig[i : i + rows] = ((fu * fv).sum(0) * weight).sum((1, 2))
        dot[i : i + rows] = ((du * dv).sum(0) * weight).sum((1, 2))
    return sig, dot
