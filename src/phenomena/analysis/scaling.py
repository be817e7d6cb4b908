"""Scaling-law fits: the 1-D law L(N) = L∞ + A·N^−α and Hoffmann et al.'s (2022) 2-D law
L(N, D) = E + A/N^α + B/D^β, fitted as Hoffmann et al. (Appendix D.2) and Epoch AI's replication (Besiroglu,
Erdil, Barnett, You 2024, "Chinchilla Scaling: A replication attempt") do it, with percentile bootstrap
intervals, the compute-optimal allocation and the error of extrapolating from the smaller sizes.

The fit works in log space: with a = log A, b = log B, e = log E the law is the log-sum-exp
``log L = LSE(a − α log N, b − β log D, e)``, and the objective is the Huber loss (δ = 1e-3) of the
log-residuals ``LSE(...) − log L`` **summed** over the points (a mean shrinks the gradient by the number of points,
and L-BFGS-B then stops on its gradient tolerance long before the optimum). L-BFGS-B runs from every start of a
grid and the start reaching the lowest objective is kept. With residuals much larger than δ the Huber loss is
δ·|r|: the fit is then close to a least-absolute-deviations fit of log L, robust to outlying points.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from phenomena.errors import UserError

#: Hoffmann et al.'s grid of L-BFGS-B starts for the 2-D law (as in Epoch AI's replication): α, β ∈ {0, 0.5, …, 2},
#: e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}; 4500 starts.
HOFFMANN_GRID: dict[str, tuple[float, ...]] = {
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}

#: The default, smaller 2-D grid (27 starts, a 170th of :data:`HOFFMANN_GRID`): every other value of Hoffmann's a, b
#: and e, with both exponents starting at 0.5. On Epoch AI's 240 Chinchilla points it reaches the minimum of the full
#: grid (checked once with all 4500 starts: the same objective to 1e-11; the test compares with Epoch's full-grid
#: result), and it recovers synthetic laws with exponents 0.1-1.5 and constants 0.001-2 exactly.
CHINCHILLA_GRID: dict[str, tuple[float, ...]] = {
    "a": (0.0, 10.0, 20.0),
    "b": (0.0, 10.0, 20.0),
    "e": (-1.0, 0.0, 1.0),
    "alpha": (0.5,),
    "beta": (0.5,),
}

#: The default grid of the 1-D law (a = log A, e = log L∞, α): 24 starts.
SCALING_LAW_GRID: dict[str, tuple[float, ...]] = {
    "a": (0.0, 10.0, 20.0),
    "e": (-2.0, -1.0, 0.0, 1.0),
    "alpha": (0.5, 1.0),
}

_ORDER_1D = ("a", "e", "alpha")
_ORDER_2D = ("a", "b", "e", "alpha", "beta")


def huber_objective(params: Sequence[float], log_x: np.ndarray, log_loss: np.ndarray, delta: float = 1e-3):
    """The summed Huber loss of the log-residuals of a log-sum-exp law, and its gradient.

    With k power terms, ``params`` is ``(c_1, …, c_k, e, p_1, …, p_k)`` (log-coefficients, log-constant,
    exponents), ``log_x`` is (n, k) (the logs of N, D, …) and the prediction is
    ``log L̂ = LSE(c_1 − p_1 log x_1, …, c_k − p_k log x_k, e)``; the objective is
    ``Σ_i huber_δ(log L̂_i − log L_i)`` with ``huber_δ(r) = r²/2`` for ``|r| ≤ δ`` and ``δ(|r| − δ/2)`` beyond,
    as in Hoffmann et al. (2022, App. D.2). Returns ``(value, gradient)``, the form ``scipy.optimize.minimize``
    takes with ``jac=True``.

    Example:
        >>> import numpy as np
        >>> value, grad = huber_objective([0.0, 0.0, 1.0], np.zeros((1, 1)), np.log([2.0]))  # L̂ = 1 + 1 = L
        >>> float(value), float(np.abs(grad).max())
        (0.0, 0.0)
    """
    params = np.asarray(params, dtype=float)
    k = log_x.shape[1]
    cols = log_x.T  # (k, n): reductions over the few terms run along the short, contiguous first axis
    terms = np.empty((k + 1, len(log_loss)))
    terms[:k] = params[:k, None] - params[k + 1 :, None] * cols
    terms[k] = params[k]
    top = terms.max(axis=0)
    expd = np.exp(terms - top)  # a hand-written log-sum-exp: scipy's costs ten times more on a few hundred rows
    total = expd.sum(axis=0)
    r = top + np.log(total) - log_loss
    psi = np.clip(r, -delta, delta)  # huber'(r)
    value = np.dot(psi, r - 0.5 * psi)  # r²/2 inside [−δ, δ], δ(|r| − δ/2) outside
    weights = expd * (psi / total)  # ψ_i · the softmax weight of each term, (k + 1, n)
    grad = np.concatenate([weights.sum(axis=1), -(weights[:k] * cols).sum(axis=1)])
    return float(value), grad


def _positive(name: str, values, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise UserError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise UserError(f"{name} has {len(arr)} values but the sizes have {n}: they must have the same length")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{name} must be finite and positive (a log-space fit), but {name}[{i}] is {arr[i]}")
    return arr


def _check_data(n, loss, d=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    n = _positive("n", n)
    d = None if d is None else _positive("d", d, len(n))
    loss = _positive("loss", loss, len(n))
    need = 6 if d is not None else 4
    if len(n) < need:
        law = "the 2-D law (5 parameters)" if d is not None else "the 1-D law (3 parameters)"
        raise UserError(f"fitting {law} needs at least {need} points, got {len(n)}")
    return n, loss, d


def _grid_starts(grid: Mapping[str, Sequence[float]], order: tuple[str, ...]) -> np.ndarray:
    if set(grid) != set(order):
        raise UserError(f"grid must have exactly the keys {', '.join(order)}; got {', '.join(sorted(grid)) or 'none'}")
    axes = []
    for key in order:
        values = np.atleast_1d(np.asarray(grid[key], dtype=float))
        if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
            raise UserError(f"grid[{key!r}] must be a non-empty sequence of finite numbers, got {grid[key]!r}")
        axes.append(values)
    return np.array(list(itertools.product(*axes)))


def _check_delta(delta: float) -> None:
    if not (np.isfinite(delta) and delta > 0):
        raise UserError(f"delta must be a finite positive number, got {delta}")


def _best_fit(starts: np.ndarray, log_x: np.ndarray, log_loss: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
    """L-BFGS-B from every start; the lowest final objective wins (the first on ties).

    The optimizer runs in centred coordinates, ``c' = c − p·m`` with ``m`` the mean of each log x, so that
    ``c' − p (log x − m)`` is the same term: the same objective and minimum, but without the near-collinearity
    of ``c`` and ``p`` (log N ≈ 20) that makes L-BFGS-B crawl. Its tolerances are tight (``ftol`` 1e-15, ``gtol``
    1e-12): with residuals above δ the summed Huber loss is nearly piecewise linear and the default ``ftol`` stops
    a warm-started refit (a bootstrap resample) before it has moved.
    """
    k = log_x.shape[1]
    mean = log_x.mean(axis=0)
    shift = np.zeros((2 * k + 1, 2 * k + 1))
    shift[:k, k + 1 :] = np.diag(mean)  # c = c' + p·m
    centred, best, best_value = log_x - mean, starts[0], np.inf
    options = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for x0 in starts:
            x0 = x0 - shift @ x0
            res = minimize(huber_objective, x0, (centred, log_loss, delta), "L-BFGS-B", jac=True, options=options)
            if np.isfinite(res.fun) and res.fun < best_value:
                best, best_value = res.x + shift @ res.x, float(res.fun)
    return best, best_value


@dataclass(frozen=True)
class ScalingLawFit:
    """A fitted 1-D law ``L(N) = l_inf + A·N^−alpha``; ``loss`` is the summed Huber objective it reached (nan for a
    law written down by hand).

    Example:
        >>> ScalingLawFit(l_inf=1.0, A=10.0, alpha=0.5).predict([100.0]).tolist()
        [2.0]
    """

    l_inf: float
    A: float
    alpha: float
    loss: float = float("nan")

    def predict(self, n) -> np.ndarray:
        """L(N) at the sizes ``n`` (array-like)."""
        return self.l_inf + self.A * np.asarray(n, dtype=float) ** -self.alpha

    def params(self) -> dict[str, float]:
        """The parameters by name: ``{"l_inf", "A", "alpha"}``."""
        return {"l_inf": self.l_inf, "A": self.A, "alpha": self.alpha}

    def objective(self, n, loss, delta: float = 1e-3) -> float:
        """The summed Huber objective of these parameters on the points ``(n, loss)`` (what the fit minimizes)."""
        n, loss, _ = _check_data(n, loss)
        theta = [np.log(self.A), np.log(self.l_inf), self.alpha]
        return huber_objective(theta, np.log(n)[:, None], np.log(loss), delta)[0]


@dataclass(frozen=True)
class ChinchillaFit:
    """A fitted 2-D law ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022, Eq. 2); ``loss`` is the summed
    Huber objective it reached (nan for published parameters written down by hand).

    Example:
        >>> hoffmann = ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
        >>> round(float(hoffmann.predict(70e9, 1.4e12)), 3)  # Chinchilla itself: 70B parameters, 1.4T tokens
        1.937
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    loss: float = float("nan")

    def predict(self, n, d) -> np.ndarray:
        """L(N, D) at model sizes ``n`` and token counts ``d`` (array-likes that broadcast)."""
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.E + self.A * n**-self.alpha + self.B * d**-self.beta

    def params(self) -> dict[str, float]:
        """The parameters by name: ``{"E", "A", "B", "alpha", "beta"}``."""
        return {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta}

    def objective(self, n, d, loss, delta: float = 1e-3) -> float:
        """The summed Huber objective of these parameters on the points ``(n, d, loss)`` (what the fit minimizes)."""
        n, loss, d = _check_data(n, loss, d)
        theta = [np.log(self.A), np.log(self.B), np.log(self.E), self.alpha, self.beta]
        return huber_objective(theta, np.log(np.stack([n, d], axis=1)), np.log(loss), delta)[0]

    @property
    def allocation_exponents(self) -> tuple[float, float]:
        """``(a, b) = (β/(α+β), α/(α+β))``: N_opt ∝ C^a and D_opt ∝ C^b (Hoffmann et al. 2022, App. D.2)."""
        s = self.alpha + self.beta
        return self.beta / s, self.alpha / s

    def compute_optimal(self, compute) -> tuple[np.ndarray, np.ndarray]:
        """The allocation minimizing L(N, D) under the budget C = 6·N·D FLOP: ``(N_opt, D_opt)`` with
        ``N_opt = G (C/6)^a``, ``D_opt = G^−1 (C/6)^b``, ``G = (αA / (βB))^(1/(α+β))`` (Hoffmann et al. 2022,
        App. D.2, Eq. 4; the same formulas as Epoch AI's replication). Setting the derivative of
        ``A N^−α + B (C/6N)^−β`` in N to zero gives ``N^(α+β) = (αA/(βB)) (C/6)^β``.

        Example:
            >>> n_opt, d_opt = ChinchillaFit(E=1.0, A=1.0, B=1.0, alpha=0.5, beta=0.5).compute_optimal(6e4)
            >>> float(n_opt), float(d_opt)  # equal exponents and coefficients: N = D = sqrt(C/6)
            (100.0, 100.0)
        """
        c = np.asarray(compute, dtype=float)
        if not (np.isfinite(c) & (c > 0)).all():
            raise UserError(f"compute must be finite and positive, got {compute!r}")
        if not (self.alpha > 0 and self.beta > 0):
            raise UserError(f"no compute-optimal allocation: alpha ({self.alpha}) and beta ({self.beta}) must be > 0")
        a, b = self.allocation_exponents
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        return g * (c / 6) ** a, (c / 6) ** b / g


def fit_scaling_law(
    n, loss, *, delta: float = 1e-3, grid: Mapping[str, Sequence[float]] | None = None
) -> ScalingLawFit:
    """Fit ``L(N) = L∞ + A·N^−α`` as ``log L = LSE(a − α log N, e)`` (A = e^a, L∞ = e^e) by minimizing the Huber
    loss (``delta``) of the log-residuals summed over the points, with L-BFGS-B from every start of ``grid``
    (keys ``a``, ``e``, ``alpha``; default :data:`SCALING_LAW_GRID`), keeping the best (Hoffmann et al. 2022,
    App. D.2, reduced to one variable).

    Args:
        n: sizes (model size, data set size, steps …), positive.
        loss: the loss at each size, positive.
        delta: the Huber threshold in log-loss units.
        grid: the starting values of each parameter; every combination is a start.

    Returns:
        A :class:`ScalingLawFit`.

    Example:
        >>> import numpy as np
        >>> n = np.geomspace(1e2, 1e6, 9)
        >>> fit = fit_scaling_law(n, 0.5 + 20 * n**-0.3)
        >>> round(fit.l_inf, 3), round(fit.A, 2), round(fit.alpha, 3)
        (0.5, 20.0, 0.3)
    """
    n, loss, _ = _check_data(n, loss)
    _check_delta(delta)
    starts = _grid_starts(SCALING_LAW_GRID if grid is None else grid, _ORDER_1D)
    theta, value = _best_fit(starts, np.log(n)[:, None], np.log(loss), delta)
    return _power_law_of(theta, value)


def _power_law_of(theta: np.ndarray, value: float) -> ScalingLawFit:
    return ScalingLawFit(l_inf=float(np.exp(theta[1])), A=float(np.exp(theta[0])), alpha=float(theta[2]), loss=value)


def fit_chinchilla(
    n, d, loss, *, delta: float = 1e-3, grid: Mapping[str, Sequence[float]] | None = None
) -> ChinchillaFit:
    """Fit ``L(N, D) = E + A/N^α + B/D^β`` as ``log L = LSE(a − α log N, b − β log D, e)`` (A = e^a, B = e^b,
    E = e^e) by minimizing the Huber loss (``delta``, 1e-3 as Hoffmann et al.) of the log-residuals summed over the
    points, with L-BFGS-B from every start of ``grid`` (keys ``a``, ``b``, ``e``, ``alpha``, ``beta``; default the
    27-start :data:`CHINCHILLA_GRID`; :data:`HOFFMANN_GRID` is the paper's 4500 starts), keeping the best
    (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024).

    Args:
        n: model sizes (parameters), positive.
        d: training tokens, positive (from compute: D = C / (6N)).
        loss: the final loss of each run, positive.
        delta: the Huber threshold in log-loss units.
        grid: the starting values of each parameter; every combination is a start.

    Returns:
        A :class:`ChinchillaFit`.

    Example:
        >>> import numpy as np
        >>> n, d = np.meshgrid(np.geomspace(1e7, 1e10, 5), np.geomspace(1e9, 1e12, 5))
        >>> true = ChinchillaFit(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)
        >>> fit = fit_chinchilla(n.ravel(), d.ravel(), true.predict(n, d).ravel())
        >>> round(fit.E, 3), round(fit.alpha, 3), round(fit.beta, 3)
        (1.8, 0.35, 0.37)
    """
    n, loss, d = _check_data(n, loss, d)
    _check_delta(delta)
    starts = _grid_starts(CHINCHILLA_GRID if grid is None else grid, _ORDER_2D)
    theta, value = _best_fit(starts, np.log(np.stack([n, d], axis=1)), np.log(loss), delta)
    return _chinchilla_of(theta, value)


def _chinchilla_of(theta: np.ndarray, value: float) -> ChinchillaFit:
    a, b, e = np.exp(theta[:3])
    return ChinchillaFit(E=float(e), A=float(a), B=float(b), alpha=float(theta[3]), beta=float(theta[4]), loss=value)


@dataclass(frozen=True)
class BootstrapFit:
    """A fit with percentile bootstrap intervals: ``fit`` (on all points), ``samples`` (name → the refitted value
    of each resample; for the 2-D law also ``a``, the compute-optimal exponent β/(α+β)), ``intervals``
    (name → (low, high)) at confidence ``level``."""

    fit: ScalingLawFit | ChinchillaFit
    samples: dict[str, np.ndarray] = field(repr=False)
    intervals: dict[str, tuple[float, float]]
    level: float


def bootstrap_fit(
    n,
    loss,
    d=None,
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
    delta: float = 1e-3,
    grid: Mapping[str, Sequence[float]] | None = None,
) -> BootstrapFit:
    """Percentile bootstrap intervals of a scaling-law fit: fit all points (the 1-D law, or the 2-D law when ``d``
    is given) from the ``grid`` of starts, then refit ``resamples`` resamples of the points drawn with replacement,
    each from the full-data fit as its single start (as Epoch AI's replication does), and take the
    ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of each parameter.

    Args:
        n: sizes, positive.
        loss: losses, positive.
        d: tokens for the 2-D law, or None for the 1-D law.
        resamples: number of bootstrap resamples (≥ 10).
        level: the confidence level of the intervals, in (0, 1).
        seed: an int seed or a ``numpy.random.Generator`` (the only randomness).
        delta: the Huber threshold.
        grid: the starts of the full-data fit (see :func:`fit_scaling_law`, :func:`fit_chinchilla`).

    Returns:
        A :class:`BootstrapFit`.

    Example:
        >>> import numpy as np
        >>> n = np.geomspace(1e2, 1e6, 12)
        >>> noise = np.exp(np.random.default_rng(0).normal(0, 0.01, 12))
        >>> boot = bootstrap_fit(n, (0.5 + 20 * n**-0.3) * noise, resamples=50, seed=1)
        >>> low, high = boot.intervals["alpha"]
        >>> bool(low < 0.3 < high)
        True
    """
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer) or resamples < 10:
        raise UserError(f"resamples must be an integer of at least 10, got {resamples!r}")
    if not 0 < level < 1:
        raise UserError(f"level must be in (0, 1), got {level}")
    if not isinstance(seed, np.random.Generator | int | np.integer) or isinstance(seed, bool):
        raise UserError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if d is None:
        fit = fit_scaling_law(n, loss, delta=delta, grid=grid)
        n, loss, _ = _check_data(n, loss)
        log_x = np.log(n)[:, None]
        theta0 = np.array([np.log(fit.A), np.log(fit.l_inf), fit.alpha])
    else:
        fit = fit_chinchilla(n, d, loss, delta=delta, grid=grid)
        n, loss, d = _check_data(n, loss, d)
        log_x = np.log(np.stack([n, d], axis=1))
        theta0 = np.array([np.log(fit.A), np.log(fit.B), np.log(fit.E), fit.alpha, fit.beta])
    log_loss = np.log(loss)
    rows = []
    for _ in range(resamples):
        idx = rng.integers(0, len(log_loss), len(log_loss))
        theta, value = _best_fit(theta0[None], log_x[idx], log_loss[idx], delta)
        refit = _power_law_of(theta, value) if d is None else _chinchilla_of(theta, value)
        values = refit.params()
        if d is not None:
            values["a"] = refit.allocation_exponents[0]
        rows.append(values)
    samples = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    q = [(1 - level) / 2, (1 + level) / 2]
    intervals = {key: tuple(float(v) for v in np.quantile(s, q)) for key, s in samples.items()}
    return BootstrapFit(fit=fit, samples=samples, intervals=intervals, level=level)


@dataclass(frozen=True)
class Extrapolation:
    """A fit on the points with ``n <= cut`` judged on the larger ones: ``fit``, the held-out ``n`` (and ``d``),
    their ``loss``, ``predicted`` loss and ``relative_errors`` = (predicted − loss) / loss."""

    fit: ScalingLawFit | ChinchillaFit
    cut: float
    n: np.ndarray
    d: np.ndarray | None
    loss: np.ndarray
    predicted: np.ndarray
    relative_errors: np.ndarray

    @property
    def max_abs_error(self) -> float:
        """The largest |relative error| over the held-out points."""
        return float(np.max(np.abs(self.relative_errors)))

    @property
    def mean_abs_error(self) -> float:
        """The mean |relative error| over the held-out points."""
        return float(np.mean(np.abs(self.relative_errors)))


def extrapolation_error(
    n,
    loss,
    d=None,
    *,
    cut: float,
    delta: float = 1e-3,
    grid: Mapping[str, Sequence[float]] | None = None,
) -> Extrapolation:
    """How well a scaling law fitted on the smaller sizes predicts the larger ones: fit the points with
    ``n <= cut`` (the 1-D law, or the 2-D law when ``d`` is given; the cut is on model size N), predict the points
    with ``n > cut``, and report their relative errors (predicted − measured) / measured.

    Args:
        n: sizes, positive.
        loss: losses, positive.
        d: tokens for the 2-D law, or None for the 1-D law.
        cut: the largest size used for the fit; at least one point must lie above it.
        delta: the Huber threshold.
        grid: the starts of the fit (see :func:`fit_scaling_law`, :func:`fit_chinchilla`).

    Returns:
        An :class:`Extrapolation`.

    Example:
        >>> import numpy as np
        >>> n = np.geomspace(1e2, 1e6, 9)
        >>> ext = extrapolation_error(n, 0.5 + 20 * n**-0.3, cut=1e4)  # fit 5 points, predict 4
        >>> len(ext.n), ext.max_abs_error < 1e-4
        (4, True)
    """
    n, loss, d = _check_data(n, loss, d)
    if not np.isfinite(cut):
        raise UserError(f"cut must be a finite size, got {cut}")
    train = n <= cut
    if train.all():
        raise UserError(f"no point lies above cut={cut:g} (the largest size is {n.max():g}): nothing to extrapolate to")
    if d is None:
        if train.sum() < 4:
            raise UserError(f"only {int(train.sum())} points lie at or below cut={cut:g}; the 1-D fit needs 4")
        fit = fit_scaling_law(n[train], loss[train], delta=delta, grid=grid)
        predicted = fit.predict(n[~train])
    else:
        if train.sum() < 6:
            raise UserError(f"only {int(train.sum())} points lie at or below cut={cut:g}; the 2-D fit needs 6")
        fit = fit_chinchilla(n[train], d[train], loss[train], delta=delta, grid=grid)
        predicted = fit.predict(n[~train], d[~train])
    held = loss[~train]
    return Extrapolation(
        fit=fit,
        cut=float(cut),
        n=n[~train],
        d=None if d is None else d[~train],
        loss=held,
        predicted=predicted,
        relative_errors=(predicted - held) / held,
    )
