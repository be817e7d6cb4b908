"""Randomized linear algebra on a symmetric matrix seen only through products ``v -> A v`` (torch tensors).

Trace estimators (Hutchinson, Hutch++), a short Lanczos for stochastic Lanczos quadrature, and the
Gaussian smoothing of a quadrature into a density. Kept apart from the model code so each can be checked
against dense matrices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

MatVec = Callable[[Tensor], Tensor]


def rademacher(
    n: int, m: int, generator: torch.Generator | None, dtype: torch.dtype, device: torch.device | str
) -> Tensor:
    """An (n, m) matrix of independent +-1 entries, drawn on the generator's device then moved."""
    gen_device = generator.device if generator is not None else "cpu"
    signs = torch.randint(0, 2, (n, m), generator=generator, device=gen_device)
    return (2 * signs - 1).to(dtype=dtype, device=device)


def hutchinson(
    matvec: MatVec,
    n: int,
    n_probes: int,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device | str,
) -> tuple[float, float]:
    """Hutchinson's estimate of ``tr(A)`` from Rademacher probes, with the standard error of the mean.

    Each ``z^T A z`` is an unbiased sample; the stderr is their sample standard deviation over sqrt(m),
    whose square is unbiased for the estimator's variance ``2(||A||_F^2 - sum_i A_ii^2)/m``.
    """
    samples = []
    for _ in range(n_probes):
        z = rademacher(n, 1, generator, dtype, device)[:, 0]
        samples.append(float(torch.dot(z.double(), matvec(z).double())))
    s = np.asarray(samples)
    return float(s.mean()), float(s.std(ddof=1) / math.sqrt(n_probes))


def hutchpp(
    matvec: MatVec,
    n: int,
    n_probes: int,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device | str,
) -> tuple[float, float]:
    """Hutch++ (Meyer, Musco, Musco & Woodruff 2021, Alg. 1) with an honest standard error.

    The budget is split in thirds: ``A S`` for a Rademacher sketch ``S`` gives an orthonormal ``Q``;
    ``tr(Q^T A Q)`` is computed exactly; Hutchinson on the deflated ``P A P`` (``P = I - Q Q^T``) with the
    remaining probes adds the rest. Given ``Q``, this is an unbiased estimate of ``tr(A)`` (because
    ``tr(A) = tr(Q^T A Q) + tr(P A P)``) whose only randomness is the deflated Hutchinson mean, so the sample
    standard deviation of the deflated samples over sqrt(m3) is an unbiased-in-square standard error,
    conditionally on ``Q`` and hence unconditionally. If the sketch spans all n dimensions the trace is exact
    and the stderr is 0.
    """
    m1 = min(n_probes // 3, n)
    m3 = n_probes - 2 * m1
    sketch = rademacher(n, m1, generator, dtype, device)
    a_s = torch.stack([matvec(sketch[:, j]) for j in range(m1)], dim=1)
    q, _ = torch.linalg.qr(a_s.double())
    a_q = torch.stack([matvec(q[:, j].to(dtype)) for j in range(m1)], dim=1).double()
    head = float(torch.sum(q * a_q))
    if m1 == n:
        return head, 0.0
    g = rademacher(n, m3, generator, torch.float64, device)
    g = g - q @ (q.T @ g)
    samples = np.asarray([float(torch.dot(g[:, j], matvec(g[:, j].to(dtype)).double())) for j in range(m3)])
    return head + float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(m3))


def lanczos(matvec: MatVec, v0: Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Lanczos tridiagonalization ``T = V^T A V`` from ``v0``, with full reorthogonalization.

    A short hand-written Lanczos because SciPy's ``eigsh`` (ARPACK) does not expose the tridiagonal matrix
    that stochastic Lanczos quadrature needs. Every new vector is re-orthogonalized against all previous ones
    (classical Gram-Schmidt, applied twice: "twice is enough"), which prevents the ghost copies of extreme
    eigenvalues that plain Lanczos produces in floating point, at O(steps * n) memory. Stops early when the
    Krylov space becomes invariant (then T's eigenvalues are exact eigenvalues of A).

    Returns:
        ``(alpha, beta)``: T's diagonal (length m <= steps) and off-diagonal (length m - 1), float64.
    """
    n = v0.numel()
    steps = min(steps, n)
    basis = torch.empty((steps, n), dtype=v0.dtype, device=v0.device)
    q = v0 / torch.linalg.vector_norm(v0)
    alphas: list[float] = []
    betas: list[float] = []
    scale = 0.0
    eps = torch.finfo(v0.dtype).eps
    for j in range(steps):
        basis[j] = q
        w = matvec(q).to(v0.dtype)
        scale = max(scale, float(torch.linalg.vector_norm(w)))
        alpha = float(torch.dot(q, w))
        alphas.append(alpha)
        if j == steps - 1:
            break
        w = w - alpha * q - (betas[-1] * basis[j - 1] if j > 0 else 0.0)
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(torch.linalg.vector_norm(w))
        if beta <= 100 * eps * max(scale, 1e-300):
            break
        betas.append(beta)
        q = w / beta
    return np.asarray(alphas), np.asarray(betas)


def gauss_quadrature(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature of a Lanczos run: nodes are T's eigenvalues, weights their squared first components.

    For a unit start vector v, ``sum_j w_j f(node_j)`` matches ``v^T f(A) v`` exactly for polynomials of
    degree < 2m (Golub & Meurant); weights are positive and sum to 1.
    """
    if len(alpha) == 1:
        return alpha.copy(), np.ones(1)
    nodes, vecs = scipy.linalg.eigh_tridiagonal(alpha, beta)
    return nodes, vecs[0] ** 2


def smooth(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """The density ``sum_j w_j N(t; node_j, sigma^2)`` evaluated at every grid point t."""
    z = (grid[:, None] - nodes[None, :]) / sigma
    return (np.exp(-0.5 * z**2) @ weights) / (sigma * math.sqrt(2 * math.pi))
