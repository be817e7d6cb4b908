"""Curvature probes: extreme eigenvalues, trace and spectral density of the loss Hessian (or its Gauss-Newton
part), for any ``nn.Module``, matrix-free.

- ``hessian_eigenvalues``: Lanczos with full reorthogonalization on a float64 ``LinearOperator``, stopping at
  the first product where every wanted Ritz pair has converged (SciPy's ``eigsh``, ARPACK's implicit restarts,
  takes over when one basis is not enough); largest algebraic (sharpness), most negative, or both ends;
  warm-startable from a previous result to track sharpness through training; per-layer spectra with
  ``layerwise=True``.
- ``hessian_trace``: Hutchinson or Hutch++ with Rademacher probes and a standard error.
- ``hessian_density``: stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019; Lin, Saad & Yang 2016),
  per-probe nodes and weights plus a smoothed density with a band over probes.

Every function takes ``curvature="hessian"`` or ``"ggn"`` (generalized Gauss-Newton ``J^T H_out J``) and the
shared conventions of ``phenomena.probes.core`` (``batches``, ``params``, mean losses).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.linalg.lapack import dstevd
from scipy.sparse.linalg import ArpackNoConvergence, eigsh
from torch import Tensor, nn

from phenomena.errors import UserError
from phenomena.probes import estimators as est
from phenomena.probes.core import ParamFilter, ParamSpace, group_by_module, select_param_names
from phenomena.probes.operators import CurvatureOperator

_WHICH = {"largest": "LA", "smallest": "SA", "both": "BE"}
DEFAULT_TOL = 1e-2  # hessian_eigenvalues' relative residual tolerance
GRADIENT_START_NOISE = 0.3  # norm of the Gaussian added to the unit gradient in the default start vector
_NOT_FINITE = (
    "a curvature product is not finite (inf or NaN): the loss or its gradient is not finite at these parameters."
)
LANCZOS_BASIS = 20  # hessian_eigenvalues' default largest basis before ARPACK restarts take over


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class EigenResult:
    """Eigenpairs of a curvature operator and how well they converged.

    Attributes:
        values: eigenvalues, float64; descending for "largest" and "both", ascending (most negative first)
            for "smallest".
        vectors: unit eigenvectors as rows of a flat float64 CPU tensor (k, P), in the order of ``values``;
            ``vector(i)`` gives row i as a parameter-shaped dict.
        residuals: ``||H v_i - lambda_i v_i||`` per pair: from the Lanczos relation (no product) when one
            Lanczos basis converged, else recomputed with one fresh product per pair after the solve.
        n_hvps: curvature-vector products used, including any made for the residuals.
        converged: whether ARPACK met ``tol`` for every requested pair within its budget.
        which: "largest", "smallest" or "both".
        space: the parameter names and shapes the vectors live on.
    """

    values: np.ndarray
    vectors: Tensor
    residuals: np.ndarray
    n_hvps: int
    converged: bool
    which: str
    space: ParamSpace

    def vector(self, i: int) -> dict[str, Tensor]:
        """Eigenvector i as a dict parameter name -> tensor of that parameter's shape."""
        return self.space.unflatten(self.vectors[i])


class TraceEstimate(NamedTuple):
    """A trace estimate and its standard error (unpacks as ``estimate, stderr``)."""

    estimate: float
    stderr: float


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class SpectralDensity:
    """A stochastic Lanczos quadrature of a curvature spectrum.

    Attributes:
        nodes, weights: per probe vector, the Gauss quadrature nodes (Ritz values) and weights (summing to 1);
            lengths can differ when a Krylov space became invariant early.
        grid: points where the smoothed density is evaluated.
        density: mean over probes of the Gaussian-smoothed quadratures (integrates to ~1 over the grid).
        density_stderr: standard error of that mean over probe vectors, point by point.
        sigma: the Gaussian smoothing width.
        dim: the number of parameters P.
        n_hvps: curvature-vector products used.
    """

    nodes: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    grid: np.ndarray
    density: np.ndarray
    density_stderr: np.ndarray
    sigma: float
    dim: int
    n_hvps: int

    @property
    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """Density +- 2 standard errors over probe vectors (lower, upper), clipped at 0."""
        half = 2 * self.density_stderr
        return np.clip(self.density - half, 0, None), self.density + half

    def moment(self, p: int) -> TraceEstimate:
        """Estimate of ``tr(H^p) / P`` (exact in expectation for p < 2 * lanczos_steps) with its stderr."""
        per_probe = np.asarray([np.sum(w * x**p) for x, w in zip(self.nodes, self.weights, strict=True)])
        se = per_probe.std(ddof=1) / math.sqrt(len(per_probe)) if len(per_probe) > 1 else float("nan")
        return TraceEstimate(float(per_probe.mean()), float(se))


def hessian_eigenvalues(
    model: nn.Module,
    loss_fn: Callable,
    batches: Any,
    k: int = 5,
    which: str = "largest",
    *,
    params: ParamFilter = None,
    curvature: str = "hessian",
    tol: float = DEFAULT_TOL,
    warm_start: EigenResult | Mapping[str, EigenResult] | None = None,
    v0: Tensor | Mapping[str, Tensor] | None = None,
    max_hvps: int | None = None,
    ncv: int | None = None,
    layerwise: bool = False,
    generator: torch.Generator | None = None,
    start: str = "gradient",
) -> EigenResult | dict[str, EigenResult]:
    """Extreme eigenvalues and eigenvectors of the loss Hessian (or GGN) by Lanczos (ARPACK ``eigsh``).

    "largest" means largest algebraic (the sharpness, not the largest magnitude as power iteration gives),
    "smallest" the most negative, "both" the k largest and the k smallest from one Lanczos run
    (``which="BE"``).
    When 2k (for "both") or k reaches P - 1, ARPACK cannot run and the operator is materialized with P
    products and diagonalized exactly instead.

    Args:
        model, loss_fn, batches, params: see ``hessian_operator``; the loss is the example-weighted mean.
        k: number of eigenpairs (per end for "both").
        which: "largest", "smallest" or "both".
        curvature: "hessian" or "ggn".
        tol: relative residual tolerance: the solve stops once every wanted Ritz pair has
            ``||H v - lambda v|| <= tol * |lambda|``. Eigenvalue errors are far smaller (about residual^2 / gap):
            the default 1e-2 gave relative eigenvalue errors of at most 1.5e-4 (top-1 and top-5, default start) on
            the suite of ``benchmarks/curvature.py`` (two MLPs and a CNN); eigenvector errors are about
            residual / gap, so ask for 1e-4 or less where eigenvectors of close eigenvalues matter. 0 means machine
            precision.
        warm_start: a previous result on the same parameters (a dict of them when ``layerwise``); Lanczos
            starts from the sum of its eigenvectors, so tracking sharpness along training needs few products.
        v0: an explicit start vector (flat or parameter-shaped); default: see ``start``.
        max_hvps: approximate cap on products (ARPACK's restart budget, when restarts are needed, is set from
            it, so the count can exceed it by up to one basis). Unconverged pairs are then dropped,
            ``converged`` is False and a RuntimeWarning is issued.
        ncv: the largest Lanczos basis before ARPACK's restarts take over (and their basis size then);
            default max(2k+1, 20) for the first basis and max(2k+1, 8) for restarts. The first basis stops as
            soon as the wanted pairs converge, so a large one costs nothing when it is not needed; it holds ncv
            float64 vectors of P entries. (k here counts both ends for "both".)
        layerwise: if True, the spectrum of each module's diagonal Hessian block, as a dict module name ->
            result (k clipped to the block size).
        generator: torch generator for the default start vector.
        start: the start vector when neither ``warm_start`` nor ``v0`` is given. "gradient" (default): for
            ``which="largest"``, the unit loss gradient plus a Gaussian of norm ``GRADIENT_START_NOISE`` (0.3) from
            ``generator``; the gradient lies mostly in the top eigenspace (Gur-Ari, Roberts & Dyer 2018), so fewer
            products reach ``tol`` for the top pairs, and the Gaussian keeps every eigenvector in the Krylov
            space. The gradient is free with the cached Hessian graph (see ``hessian_operator``), else one
            backward pass per batch. For "smallest" and "both", and where the gradient is zero or not finite,
            a Gaussian. "random": always a Gaussian from ``generator`` (e.g. to measure how the gradient lies in
            the eigenspace without starting from it).

    Returns:
        An ``EigenResult`` (or a dict of them when ``layerwise``).

    Raises:
        UserError: for bad arguments, and when a curvature product is not finite (the loss or its gradient is inf or
            NaN at these parameters, e.g. after divergence): there is no spectrum to report.

    Example:
        >>> res = hessian_eigenvalues(model, F.cross_entropy, (x, y), k=1)
        >>> res.values[0]                                        # the sharpness
        >>> res = hessian_eigenvalues(model, F.cross_entropy, (x, y), k=1, warm_start=res)  # after a step
    """
    if which not in _WHICH:
        raise UserError(f"unknown which={which!r}; choose 'largest', 'smallest' or 'both'.")
    if not isinstance(k, int) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}.")
    if warm_start is not None and v0 is not None:
        raise UserError("give either warm_start or v0, not both.")
    if max_hvps is not None and max_hvps < 1:
        raise UserError(f"max_hvps must be a positive integer, got {max_hvps!r}.")
    if start not in ("gradient", "random"):
        raise UserError(f"unknown start={start!r}; choose 'gradient' or 'random'.")
    solve = partial(_solve, k=k, which=which, tol=tol, max_hvps=max_hvps, generator=generator, ncv=ncv, start=start)
    if not layerwise:
        if warm_start is not None and not isinstance(warm_start, EigenResult):
            raise UserError("warm_start must be an EigenResult from a previous call (a dict only with layerwise).")
        op = CurvatureOperator(model, loss_fn, batches, params, kind=curvature)
        start = _start_vector(op.space, warm_start, v0)
        return solve(op, start, clip=False)
    if v0 is not None:
        raise UserError("v0 cannot be combined with layerwise=True; use warm_start with a previous layerwise result.")
    if warm_start is not None and not isinstance(warm_start, Mapping):
        raise UserError("with layerwise=True, warm_start must be the dict returned by a previous layerwise call.")
    out = {}
    for module, names in group_by_module(select_param_names(model, params)).items():
        op = CurvatureOperator(model, loss_fn, batches, names, kind=curvature)
        previous = warm_start.get(module) if warm_start is not None else None
        start = _start_vector(op.space, previous, None)
        out[module] = solve(op, start, clip=True)
    return out


def hessian_trace(
    model: nn.Module,
    loss_fn: Callable,
    batches: Any,
    method: str = "hutch++",
    n_probes: int = 99,
    *,
    params: ParamFilter = None,
    curvature: str = "hessian",
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    """Trace of the loss Hessian (or GGN) from ``n_probes`` products with Rademacher probes.

    "hutchinson": the mean of ``z^T H z``; stderr = sample std / sqrt(n_probes).
    "hutch++" (Meyer et al. 2021): a third of the products sketch the top eigenspace, whose trace is taken
    exactly, and Hutchinson runs on the deflated remainder; far lower variance when a few eigenvalues
    dominate, as in trained networks. Its stderr is the Hutchinson stderr of the deflated part, which is
    exact in square given the sketch because the sketch part has no error of its own (see
    ``estimators.hutchpp``). The estimate is unbiased; stderr^2 is unbiased for its variance.

    Returns:
        ``TraceEstimate(estimate, stderr)``.

    Example:
        >>> tr, se = hessian_trace(model, F.cross_entropy, (x, y), n_probes=60,
        ...                        generator=torch.Generator().manual_seed(0))
    """
    methods = {"hutchinson": (est.hutchinson, 2), "hutch++": (est.hutchpp, 4)}
    if method not in methods:
        raise UserError(f"unknown method {method!r}; choose 'hutch++' or 'hutchinson'.")
    fn, minimum = methods[method]
    if not isinstance(n_probes, int) or n_probes < minimum:
        raise UserError(f"{method} needs n_probes >= {minimum} for a standard error, got {n_probes!r}.")
    op = CurvatureOperator(model, loss_fn, batches, params, kind=curvature)
    f = op.fmodel
    return TraceEstimate(*fn(op.apply, op.space.dim, n_probes, generator, f.dtype, f.device))


def hessian_density(
    model: nn.Module,
    loss_fn: Callable,
    batches: Any,
    n_probes: int = 5,
    lanczos_steps: int = 80,
    *,
    params: ParamFilter = None,
    curvature: str = "hessian",
    grid: np.ndarray | None = None,
    n_grid: int = 512,
    sigma: float | None = None,
    generator: torch.Generator | None = None,
) -> SpectralDensity:
    """Spectral density of the loss Hessian (or GGN) by stochastic Lanczos quadrature.

    For each of ``n_probes`` normalized Rademacher vectors v, ``lanczos_steps`` Lanczos steps (with full
    reorthogonalization) give a Gauss quadrature ``{(node_j, w_j)}`` with ``sum_j w_j f(node_j) = v^T f(H) v``
    for polynomials f of degree < 2 * steps; since ``E[v v^T] = I / P``, averaging over probes estimates the
    normalized spectral measure ``(1/P) sum_i delta(lambda_i)`` (Ghorbani et al. 2019, as PyHessian's density,
    with weights ``(e_1^T s_j)^2``). Each quadrature is smoothed by a Gaussian of width ``sigma``.

    Args:
        n_probes: probe vectors (>= 2 for a band); lanczos_steps: steps per probe (clipped to P).
        grid: where to evaluate the density; default ``n_grid`` points spanning the nodes +- 3 sigma.
        sigma: smoothing width; default (largest node - smallest node) / lanczos_steps, the resolution of an
            m-step quadrature.
        generator: torch generator for the probes. Other arguments as in ``hessian_eigenvalues``.

    Returns:
        A ``SpectralDensity`` (per-probe nodes/weights, grid, density, its stderr band, ``moment(p)``).

    Example:
        >>> dens = hessian_density(model, F.cross_entropy, (x, y), n_probes=4, lanczos_steps=60)
        >>> plt.semilogy(dens.grid, dens.density)
    """
    if not isinstance(n_probes, int) or n_probes < 1:
        raise UserError(f"n_probes must be a positive integer, got {n_probes!r}.")
    if not isinstance(lanczos_steps, int) or lanczos_steps < 1:
        raise UserError(f"lanczos_steps must be a positive integer, got {lanczos_steps!r}.")
    if sigma is not None and not sigma > 0:
        raise UserError(f"sigma must be positive, got {sigma!r}.")
    op = CurvatureOperator(model, loss_fn, batches, params, kind=curvature)
    f = op.fmodel
    nodes, weights = [], []
    for _ in range(n_probes):
        v = est.rademacher(op.space.dim, 1, generator, f.dtype, f.device)[:, 0]
        x, w = est.gauss_quadrature(*est.lanczos(op.apply, v, lanczos_steps))
        nodes.append(x)
        weights.append(w)
    lo = min(float(x.min()) for x in nodes)
    hi = max(float(x.max()) for x in nodes)
    if sigma is None:
        sigma = (hi - lo) / min(lanczos_steps, op.space.dim) if hi > lo else max(abs(hi), 1.0) * 1e-3
    grid = np.linspace(lo - 3 * sigma, hi + 3 * sigma, n_grid) if grid is None else np.asarray(grid, np.float64)
    per_probe = np.stack([est.smooth(x, w, grid, sigma) for x, w in zip(nodes, weights, strict=True)])
    stderr = per_probe.std(axis=0, ddof=1) / math.sqrt(n_probes) if n_probes > 1 else np.full(len(grid), np.nan)
    return SpectralDensity(
        tuple(nodes),
        tuple(weights),
        grid,
        per_probe.mean(axis=0),
        stderr,
        float(sigma),
        op.space.dim,
        op.n_products,
    )


def _start_vector(space: ParamSpace, warm_start: EigenResult | None, v0: Any) -> np.ndarray | None:
    """The float64 start vector for Lanczos from a previous result or an explicit vector, or None."""
    if warm_start is not None:
        if warm_start.space != space:
            raise UserError("warm_start was computed on different parameters (names or shapes) than this call.")
        if len(warm_start.values) == 0:
            return None
        return warm_start.vectors.sum(dim=0).numpy()
    if v0 is None:
        return None
    flat = space.flatten(v0) if isinstance(v0, Mapping) else torch.as_tensor(v0)
    if flat.shape != (space.dim,):
        raise UserError(
            f"v0 must have {space.dim} entries (one per selected parameter), got shape {tuple(flat.shape)}."
        )
    return flat.detach().to(device="cpu", dtype=torch.float64).numpy()


def _default_start(op: CurvatureOperator, generator: torch.Generator | None, gradient: bool) -> np.ndarray:
    """A Gaussian from ``generator``; with ``gradient``, the unit loss gradient plus that Gaussian scaled to norm
    ``GRADIENT_START_NOISE`` (the Gaussian alone if the gradient is zero or not finite)."""
    noise = torch.randn(op.space.dim, generator=generator, dtype=torch.float64)
    if not gradient:
        return noise.numpy()
    g = op.gradient().detach().to(device="cpu", dtype=torch.float64)
    norm = torch.linalg.vector_norm(g)
    if not (torch.isfinite(norm) and norm > 0):
        return noise.numpy()
    return (g / norm + GRADIENT_START_NOISE * noise / torch.linalg.vector_norm(noise)).numpy()


def _solve(
    op: CurvatureOperator,
    v0: np.ndarray | None,
    *,
    clip: bool,
    k: int,
    which: str,
    tol: float,
    max_hvps: int | None,
    generator: torch.Generator | None,
    ncv: int | None,
    start: str,
) -> EigenResult:
    n = op.space.dim
    per_end = min(k, n) if clip else k
    wanted = 2 * per_end if which == "both" else per_end
    if wanted > n:
        if not clip:
            raise UserError(f"k={k} asks for {wanted} eigenpairs but the selected parameters have only {n}.")
        wanted = n
    if ncv is not None and not wanted < ncv and wanted < n - 1:
        raise UserError(f"ncv must exceed the number of eigenpairs asked for ({wanted}), got {ncv}.")
    converged, residuals = True, None
    if wanted >= n - 1:
        # ARPACK needs k < P - 1; a dense solve is exact and costs only P products here.
        dense = op.to_dense()
        if not bool(torch.isfinite(dense).all()):  # LAPACK would return nan eigenvalues without a word
            raise UserError(_NOT_FINITE)
        values, vectors = np.linalg.eigh(dense.numpy())
        if which == "both" and wanted < n:
            keep = np.r_[np.arange(per_end), np.arange(n - per_end, n)]
        else:
            keep = np.arange(n - wanted, n) if which == "largest" else np.arange(wanted)
        values, vectors = values[keep], vectors[:, keep]
    else:
        if v0 is None:
            v0 = _default_start(op, generator, gradient=start == "gradient" and which == "largest")
        basis = min(n, ncv if ncv is not None else max(2 * wanted + 1, LANCZOS_BASIS))
        steps = basis if max_hvps is None else min(basis, max_hvps)
        ritz = _lanczos(op, v0, wanted, which, tol, steps)
        values, vectors, residuals = ritz.values, ritz.vectors, ritz.residuals
        left = None if max_hvps is None else max_hvps - op.n_products
        if not ritz.done.all():
            ncv = min(n, ncv if ncv is not None else max(2 * wanted + 1, 8))
            if left is not None and left < ncv:  # the budget is spent: keep the pairs that did converge
                values, vectors, residuals = values[ritz.done], vectors[:, ritz.done], residuals[ritz.done]
                converged = False
            else:  # not converged in one basis: ARPACK's implicit restarts go on from the Ritz vectors
                residuals = None
                maxiter = None if left is None else max(1, -(-(left - ncv) // (ncv - wanted)))
                restart = vectors.sum(axis=1)
                try:
                    values, vectors = eigsh(
                        op, k=wanted, which=_WHICH[which], tol=tol, v0=restart, ncv=ncv, maxiter=maxiter
                    )
                except ArpackNoConvergence as err:
                    values, vectors, converged = err.eigenvalues, err.eigenvectors, False
        if not converged:
            warnings.warn(
                f"Lanczos did not converge within the budget; {len(values)} of {wanted} eigenpairs "
                "converged and are returned.",
                RuntimeWarning,
                stacklevel=3,
            )
    order = np.argsort(values) if which == "smallest" else np.argsort(values)[::-1]
    values = np.asarray(values, dtype=np.float64)[order]
    vecs = torch.from_numpy(np.ascontiguousarray(vectors[:, order].T, dtype=np.float64))
    if residuals is None:  # ARPACK and the dense solve: measured with one more product per pair
        residuals = [
            float(torch.linalg.vector_norm(op.apply(v).double().cpu() - lam * v))
            for lam, v in zip(values, vecs, strict=True)
        ]
    else:
        residuals = np.asarray(residuals)[order]
    return EigenResult(values, vecs, np.asarray(residuals, dtype=np.float64), op.n_products, converged, which, op.space)


@dataclass(frozen=True, eq=False)
class _Ritz:
    """The wanted Ritz pairs of a Lanczos run: values, vectors (columns), residual norms and which converged."""

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    done: np.ndarray


def _lanczos(op: CurvatureOperator, v0: np.ndarray, wanted: int, which: str, tol: float, steps: int) -> _Ritz:
    """Lanczos with full reorthogonalization for up to ``steps`` products, checking the wanted Ritz pairs after
    every product and stopping as soon as each has residual <= tol·|θ|.

    With an orthonormal basis Q (n × j) and tridiagonal T = QᵀHQ, a Ritz pair (θ, Q s) has residual
    ||H Q s − θ Q s|| = β_j |s_j| (the Lanczos relation HQ = QT + β_j q_{j+1} e_jᵀ), so the check costs no product,
    where ARPACK checks only once its whole basis is filled and then recomputes residuals with k more products.
    Classical Gram-Schmidt is applied twice per step (Giraud et al. 2005: twice is enough), which keeps Q
    orthonormal to rounding in float64 even though the products are float32.
    """
    n = v0.shape[0]
    q = np.empty((steps + 1, n))
    q[0] = v0 / np.linalg.norm(v0)
    alphas, betas = np.empty(steps), np.empty(steps)
    floor = np.finfo(np.float64).eps
    for j in range(steps):
        w = op._matvec(q[j])  # the operator's own product: SciPy's matvec wrapper only re-checks shapes
        alphas[j] = q[j] @ w
        for _ in range(2):
            w -= q[: j + 1].T @ (q[: j + 1] @ w)
        betas[j] = np.linalg.norm(w)
        if not (math.isfinite(alphas[j]) and math.isfinite(betas[j])):
            raise UserError(_NOT_FINITE)
        m = j + 1
        if m < min(wanted, n, steps):
            if betas[j] == 0.0:  # an invariant subspace smaller than what is wanted: restart elsewhere
                w = np.random.default_rng(j).standard_normal(n)
                for _ in range(2):
                    w -= q[:m].T @ (q[:m] @ w)
                betas[j], q[m] = 0.0, w / np.linalg.norm(w)
            else:
                q[m] = w / betas[j]
            continue
        theta, s = _eigh_tridiagonal(alphas[:m], betas[: m - 1])
        pick = _wanted_indices(m, min(wanted, m), which)
        residuals = np.abs(betas[j] * s[-1, pick])
        scale = max(np.abs(theta).max(), floor)
        done = residuals <= np.maximum(tol * np.abs(theta[pick]), 8 * floor * scale)
        if done.all() or m in (steps, n) or betas[j] <= floor * scale:
            done = done | (betas[j] <= floor * scale) | (m == n)
            return _Ritz(theta[pick], q[:m].T @ s[:, pick], residuals, done)
        q[m] = w / betas[j]
    raise AssertionError("unreachable: the loop returns at its last step")


def _eigh_tridiagonal(d: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix with diagonal ``d`` and
    off-diagonal ``e``, finite by construction: LAPACK's ``dstevd``, what ``scipy.linalg.eigh_tridiagonal`` calls,
    without its input checks (they cost more than the solve at Lanczos' sizes)."""
    if len(d) == 1:
        return d.copy(), np.ones((1, 1))
    values, vectors, info = dstevd(d, e, compute_v=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dstevd failed (info={info}) on a {len(d)}x{len(d)} tridiagonal matrix")
    return values, vectors


def _wanted_indices(m: int, wanted: int, which: str) -> np.ndarray:
    """Indices of the wanted Ritz values among m ascending ones: the top, the bottom, or both ends."""
    if which == "largest":
        return np.arange(m - wanted, m)
    if which == "smallest":
        return np.arange(wanted)
    top = wanted // 2
    return np.r_[np.arange(wanted - top), np.arange(m - top, m)]
