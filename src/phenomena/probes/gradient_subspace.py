"""How much of the gradient lies in the top Hessian eigenspace, and how stable that subspace is (Gur-Ari,
Roberts & Dyer 2018, "Gradient descent happens in a tiny subspace", arXiv:1812.04754).

- ``gradient_subspace_overlap``: the fraction |P_k g|² / |g|² of the loss gradient g in the span of the top-k
  Hessian eigenvectors (P_k their orthogonal projector), with the per-direction shares and the random
  baseline k/P; the eigenvectors come from the Lanczos probe ``hessian_eigenvalues`` (or a result of it).
- ``subspace_overlap``: Tr(P_a P_b) / k for two k-dimensional subspaces, e.g. the top-k eigenspaces at two
  times (Gur-Ari et al.'s overlap, Sec. 2): 1 for the same subspace, 0 for orthogonal ones.
- ``subspace_fraction``: |P v|² / |v|² for any vector and basis; ``random_subspace``: a uniformly random
  k-dimensional subspace, for the control (a fixed vector's fraction in it, and the overlap of two of them,
  has mean k/P).

Conventions (mean losses, ``batches``, ``params``) are those of ``phenomena.probes.core``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phenomena.errors import UserError
from phenomena.probes.core import (
    FunctionalModel,
    ParamFilter,
    as_batches,
    check_deterministic,
    flat_gradient,
    select_param_names,
)
from phenomena.probes.hessian import EigenResult, hessian_eigenvalues

_DT = torch.float64


@dataclass(frozen=True, eq=False)  # holds tensors: compare fields explicitly
class GradientSubspace:
    """The gradient's share of the top-k Hessian eigenspace.

    Attributes:
        fraction: |P_k g|² / |g|² (NaN when g = 0).
        per_direction: (g · v_i)² / |g|² for each eigenvector v_i, in the order of ``eigen.values``.
        baseline: k / P, the expected fraction in a uniformly random k-dimensional subspace.
        k: the dimension of the subspace (the number of eigenvectors used).
        dim: P, the number of selected parameters.
        gradient: the flat float64 CPU gradient g that was projected.
        eigen: the ``EigenResult`` whose first k vectors span the subspace (pass it to ``subspace_overlap`` or
            back as ``eigen=`` / as ``warm_start`` of ``hessian_eigenvalues`` at a later time).
    """

    fraction: float
    per_direction: np.ndarray
    baseline: float
    k: int
    dim: int
    gradient: Tensor
    eigen: EigenResult

    @property
    def basis(self) -> Tensor:
        """The (k, P) orthonormal basis of the top-k eigenspace (rows)."""
        return self.eigen.vectors[: self.k]


def _basis(value: Any, what: str) -> Tensor:
    """An orthonormal (k, P) float64 basis from an EigenResult, a GradientSubspace or a (k, P) matrix of rows."""
    if isinstance(value, GradientSubspace):
        return value.basis
    if isinstance(value, EigenResult):
        rows = value.vectors
    elif isinstance(value, Tensor | np.ndarray):
        rows = torch.as_tensor(value).detach().to(device="cpu", dtype=_DT)
    else:
        raise UserError(
            f"{what} must be an EigenResult, a GradientSubspace or a (k, P) tensor of basis rows, "
            f"got {type(value).__name__}."
        )
    if rows.ndim == 1:
        rows = rows[None]
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[0] > rows.shape[1]:
        raise UserError(
            f"{what} must hold 1 <= k <= P basis vectors as rows of a (k, P) matrix, got {tuple(rows.shape)}."
        )
    if not torch.isfinite(rows).all():
        raise UserError(f"{what} contains NaN or infinite values.")
    q, r = torch.linalg.qr(rows.T)
    diag = r.diagonal().abs()
    if diag.min() <= 1e-10 * diag.max():
        raise UserError(f"the rows of {what} are linearly dependent; give k independent vectors.")
    return q.T


def subspace_fraction(vector: Tensor | np.ndarray, basis: Any) -> float:
    """|P v|² / |v|²: the share of ``vector``'s squared norm in the span of ``basis``.

    Args:
        vector: a flat vector of length P.
        basis: an ``EigenResult``, a ``GradientSubspace`` or a (k, P) matrix whose rows span the subspace
            (orthonormalized here, so any independent rows will do).

    Returns:
        The fraction in [0, 1]; NaN for the zero vector.

    Example:
        >>> subspace_fraction(torch.tensor([3.0, 4.0, 0.0]), torch.tensor([[1.0, 0.0, 0.0]]))   # 9 / 25
        0.36
    """
    q = _basis(basis, "basis")
    v = torch.as_tensor(vector).detach().to(device="cpu", dtype=_DT)
    if v.ndim != 1 or v.shape[0] != q.shape[1]:
        raise UserError(f"vector must be flat with {q.shape[1]} entries (one per basis column), got {tuple(v.shape)}.")
    norm2 = float(v @ v)
    return float((q @ v).pow(2).sum()) / norm2 if norm2 > 0 else math.nan


def subspace_overlap(a: Any, b: Any) -> float:
    """Tr(P_a P_b) / k = |Q_a Q_bᵀ|²_F / k for two k-dimensional subspaces (Gur-Ari et al. 2018, Sec. 2).

    1 when the subspaces coincide, 0 when they are orthogonal, k/P on average for a uniformly random one.

    Args:
        a, b: each an ``EigenResult`` (its vectors), a ``GradientSubspace`` (its top-k basis) or a (k, P) matrix
            of rows spanning the subspace (orthonormalized here); both of the same k and P.

    Returns:
        The overlap in [0, 1].

    Example:
        >>> e = torch.eye(4, dtype=torch.float64)
        >>> subspace_overlap(e[:2], e[1:3])     # share one of two directions
        0.5
    """
    qa, qb = _basis(a, "a"), _basis(b, "b")
    if qa.shape != qb.shape:
        raise UserError(
            f"the subspaces must have the same (k, P) to be compared, got {tuple(qa.shape)} and {tuple(qb.shape)}."
        )
    for x, y in ((a, b), (b, a)):
        if isinstance(x, EigenResult | GradientSubspace) and isinstance(y, EigenResult | GradientSubspace):
            sx = x.space if isinstance(x, EigenResult) else x.eigen.space
            sy = y.space if isinstance(y, EigenResult) else y.eigen.space
            if sx != sy:
                raise UserError("the two subspaces live on different parameters (names or shapes).")
    return float((qa @ qb.T).pow(2).sum()) / qa.shape[0]


def random_subspace(dim: int, k: int, generator: torch.Generator | None = None) -> Tensor:
    """An orthonormal (k, P) basis of a uniformly (Haar) random k-dimensional subspace of R^P.

    The QR factor of a Gaussian matrix with the signs of R's diagonal fixed (Mezzadri 2007). A fixed unit
    vector's squared share in it follows Beta(k/2, (P−k)/2), mean k/P: the control baseline.

    Example:
        >>> q = random_subspace(100, 3, torch.Generator().manual_seed(0))
        >>> q.shape
        torch.Size([3, 100])
    """
    for name, value in (("dim", dim), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}.")
    if k > dim:
        raise UserError(f"k={k} exceeds the dimension {dim}.")
    q, r = torch.linalg.qr(torch.randn(dim, k, generator=generator, dtype=_DT))
    return (q * torch.sign(r.diagonal())).T


def _gradient(op_space: Any, gradient: Any, model: nn.Module, loss_fn: Callable, batches: Any, params: Any) -> Tensor:
    """The flat float64 gradient: the given one, or that of the example-weighted mean loss over ``batches``."""
    if gradient is not None:
        flat = op_space.flatten(gradient) if isinstance(gradient, Mapping) else torch.as_tensor(gradient)
        if flat.shape != (op_space.dim,):
            raise UserError(f"gradient must have {op_space.dim} entries, got shape {tuple(flat.shape)}.")
        return flat.detach().to(device="cpu", dtype=_DT)
    check_deterministic(model, "gradient_subspace_overlap")
    fm = FunctionalModel(model, select_param_names(model, params))
    data = as_batches(batches)
    total = sum(n for _, _, n in data)
    return sum((n / total) * flat_gradient(fm, loss_fn, x, y) for x, y, n in data).cpu()


def gradient_subspace_overlap(
    model: nn.Module,
    loss_fn: Callable,
    batches: Any,
    k: int,
    *,
    params: ParamFilter = None,
    eigen: EigenResult | None = None,
    gradient: Tensor | Mapping[str, Tensor] | None = None,
    curvature: str = "hessian",
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
) -> GradientSubspace:
    """The fraction |P_k g|² / |g|² of the gradient in the top-k Hessian eigenspace (Gur-Ari et al. 2018).

    The top-k eigenvectors (largest algebraic eigenvalues) of the dataset loss Hessian come from Lanczos
    (``hessian_eigenvalues``, warm-startable), or from ``eigen`` when given; the gradient is that of the same
    data set's mean loss unless ``gradient`` is given (e.g. a mini-batch gradient or an optimizer update).
    Gur-Ari et al. find the fraction near 1 for k = the number of classes after a short initial phase, against
    k/P (``baseline``) for a random subspace. Track the subspace over training with ``subspace_overlap``.

    Args:
        model, loss_fn, batches, params: as for ``hessian_eigenvalues`` (probe conventions of ``probes.core``).
        k: the subspace dimension (1 <= k < P).
        eigen: a result of ``hessian_eigenvalues`` with which="largest" (or "both") and at least k pairs on the
            same parameters, at the same point; then no Lanczos runs.
        gradient: the vector to project (flat or parameter-shaped); default the dataset gradient.
        curvature: "hessian" or "ggn" (the Gauss-Newton part) for the eigenvectors.
        tol, generator: passed to ``hessian_eigenvalues``.

    Returns:
        A ``GradientSubspace`` (fraction, per_direction shares, baseline k/P, the gradient and the eigenpairs).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
        >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
        >>> res = gradient_subspace_overlap(net, F.cross_entropy, (x, y), k=3,
        ...                                 generator=torch.Generator().manual_seed(0))
        >>> res.fraction, res.baseline
        >>> later = gradient_subspace_overlap(net, F.cross_entropy, (x, y), k=3)   # after some training
        >>> subspace_overlap(res, later)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}.")
    if eigen is None:
        eigen = hessian_eigenvalues(
            model,
            loss_fn,
            batches,
            k=k,
            params=params,
            curvature=curvature,
            tol=tol,
            generator=generator,
            start="random",  # a start from the gradient would put the measured vector in the Krylov space
        )
    elif not isinstance(eigen, EigenResult):
        raise UserError(f"eigen must be an EigenResult from hessian_eigenvalues, got {type(eigen).__name__}.")
    elif eigen.which == "smallest":
        raise UserError(
            "eigen holds the most negative eigenpairs (which='smallest'); the top-k subspace needs "
            "which='largest' or 'both'."
        )
    space = eigen.space
    if space.names != tuple(select_param_names(model, params)):
        raise UserError("eigen was computed on different parameters than params selects here.")
    top = len(eigen.values) if eigen.which == "largest" else len(eigen.values) // 2  # "both": k per end
    if top < k:
        raise UserError(f"eigen has {top} top eigenpairs (some may not have converged), fewer than k={k}.")
    g = _gradient(space, gradient, model, loss_fn, batches, params)
    basis = eigen.vectors[:k]
    norm2 = float(g @ g)
    shares = (basis @ g).pow(2).numpy() / norm2 if norm2 > 0 else np.full(k, math.nan)
    return GradientSubspace(float(shares.sum()), shares, k / space.dim, k, space.dim, g, eigen)
