"""How well a generalization measure ranks a set of trained models by their generalization gap.

Three statistics, from the two large studies of generalization measures:

- :func:`kendall_tau` - Kendall's rank correlation between a measure and the gap over a set of models (Jiang et al.
  2020, "Fantastic generalization measures and where to find them", eq. 2), computed by ``scipy.stats.kendalltau``.
- :func:`granulated_kendall` - Jiang's granulated Kendall coefficient Ψ (eq. 4-5): for each hyper-parameter axis,
  the mean τ over the groups of models in which only that axis varies, then the mean over axes. A measure that
  ranks models well only because it tracks one hyper-parameter (say, depth) scores high τ but low Ψ.
- :func:`sign_error` - Dziugaite, Drouin et al. 2020, "In search of robust measures of generalization" (code:
  ``nitarshan/robust-generalization-measures``): an environment is a pair of hyper-parameter settings that differ
  in one hyper-parameter; the sign-error of a measure there is how often it orders the two settings' models
  against their gaps, each pair of models weighted by :func:`hoeffding_weight`, the probability that the
  finite test set ordered their gaps correctly. The mean over environments is the average case; the max (the
  worst environment) is the robust one, and the whole distribution is reported (its CDF, as in their figures).

:func:`resampled_tau` gives τ-b for many resamples of the models at once (a bootstrap interval, or the null of
shuffled gaps).

A non-finite measure or gap on any model makes the statistic unmeasured (nan), never silently dropped: remove
models that did not converge before ranking, as both papers do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from phenomena.errors import UserError

_VARIANTS = ("a", "b")


def _pairs_of_ties(x: np.ndarray) -> int:
    """How many pairs of entries of ``x`` are equal: Σ c(c−1)/2 over the counts c of its distinct values."""
    _, counts = np.unique(x, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def _tau(x: np.ndarray, y: np.ndarray, variant: str) -> float:
    """Kendall's τ of finite 1-D arrays of equal length ≥ 2 (no validation)."""
    tau_b = float(stats.kendalltau(x, y, variant="b").statistic)
    if variant == "b":
        return tau_b
    # τ-a = (C − D) / N and τ-b = (C − D) / √((N − T_x)(N − T_y)); τ-b is undefined exactly when x or y is
    # constant, and then C = D = 0, so τ-a is 0.
    n = len(x) * (len(x) - 1) // 2
    if not math.isfinite(tau_b):
        return 0.0
    return tau_b * math.sqrt((n - _pairs_of_ties(x)) * (n - _pairs_of_ties(y))) / n


def _vectors(measure: Sequence[float], gap: Sequence[float], who: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        m, g = np.asarray(measure, dtype=float), np.asarray(gap, dtype=float)
    except (TypeError, ValueError):
        raise UserError(f"{who} needs numbers for the measure and the gap") from None
    if m.ndim != 1 or m.shape != g.shape or len(m) < 2:
        raise UserError(
            f"{who} needs a measure and a gap of the same length, one value per model, for at least 2 models "
            f"(got shapes {m.shape} and {g.shape})"
        )
    return m, g


def resampled_tau(measure: np.ndarray, gap: np.ndarray, index: np.ndarray, both: bool) -> np.ndarray:
    """Kendall τ-b of many resamplings at once (vectorized over the rows of ``index``).

    Row r of ``index`` gives the models of resample r: with ``both`` the pairs (measure[i], gap[i]) are resampled
    together (a bootstrap over models; repeated models are tied pairs, as ``scipy.stats.kendalltau`` treats
    them); without it only the gaps are permuted, τ(measure, gap[index[r]]) (the null of a shuffled pairing).

    Args:
        measure, gap: 1-D arrays of the same length n.
        index: integer array (R, n).
        both: resample both (bootstrap) or the gaps only (permutation).

    Returns:
        τ-b per row, shape (R,); nan where a resample makes the measure or the gap constant.

    Example:
        >>> resampled_tau(np.arange(4.0), np.arange(4.0), np.array([[0, 1, 2, 3], [3, 2, 1, 0]]), both=False)
        array([ 1., -1.])
    """
    measure, gap, index = np.asarray(measure, dtype=float), np.asarray(gap, dtype=float), np.asarray(index)
    n = len(measure)
    if measure.ndim != 1 or gap.shape != (n,) or n < 2:
        raise UserError(
            f"resampled_tau needs 1-D measure and gap of one equal length >= 2; got {measure.shape}, {gap.shape}"
        )
    if index.ndim != 2 or index.shape[1] != n or not np.issubdtype(index.dtype, np.integer):
        raise UserError(f"resampled_tau needs an integer index of shape (R, {n}); got {index.dtype} {index.shape}")
    if index.size and (index.min() < 0 or index.max() >= n):
        raise UserError(f"resampled_tau's index must lie in [0, {n})")
    sx = np.sign(measure[:, None] - measure[None, :])
    sy = np.sign(gap[:, None] - gap[None, :])
    rows = index[:, :, None]
    cols = index[:, None, :]
    sy_r = sy[rows, cols]
    sx_r = sx[rows, cols] if both else sx[None]
    num = (sx_r * sy_r).sum((1, 2))
    den = np.sqrt((sx_r**2).sum((1, 2)) * (sy_r**2).sum((1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _check_variant(variant: str, who: str) -> None:
    if variant not in _VARIANTS:
        raise UserError(f"{who}: unknown Kendall variant {variant!r}; choose 'a' or 'b'")


def kendall_tau(measure: Sequence[float], gap: Sequence[float], variant: str = "b") -> float:
    """Kendall's rank correlation between a generalization measure and the generalization gap over models.

    Over the N = n(n−1)/2 pairs of models, with C pairs ordered the same way by measure and gap (concordant)
    and D ordered oppositely (discordant):

    - ``variant="b"`` (default; ``scipy.stats.kendalltau``'s τ-b): (C − D) / √((N − T_m)(N − T_g)), where T_m and
      T_g are the pairs tied in the measure and in the gap. Tied pairs count in neither C nor D and are dropped
      from the normalization of the variable they tie in; τ-b is nan when the measure or the gap is constant.
    - ``variant="a"``: (C − D) / N, Jiang et al.'s eq. 2, (1/(n(n−1))) Σ_{i≠j} sign(μ_i − μ_j)·sign(g_i − g_j).
      Tied pairs count 0 but stay in N, so a constant measure scores 0 rather than nan.

    Without ties the two are equal. Jiang et al. 2020, "Fantastic generalization measures and where to find
    them", §2.

    Args:
        measure: the measure's value on each model.
        gap: each model's generalization gap (test error − train error, or test loss − train loss).
        variant: ``"b"`` (τ-b) or ``"a"`` (τ-a, Jiang's eq. 2).

    Returns:
        τ in [−1, 1]: 1 when the measure orders the models exactly as their gaps do, −1 when exactly reversed; nan
        when any value is non-finite (the τ of the other models would hide a failed measurement), or, for τ-b,
        when the measure or the gap is constant.

    Example:
        >>> kendall_tau([1.0, 2.0, 3.0, 4.0], [0.1, 0.3, 0.2, 0.4])  # 5 concordant pairs, 1 discordant
        0.6666666666666669
    """
    _check_variant(variant, "kendall_tau")
    m, g = _vectors(measure, gap, "kendall_tau")
    if not (np.isfinite(m).all() and np.isfinite(g).all()):
        return math.nan
    return _tau(m, g, variant)


def _table(hparams: Any, n: int, who: str) -> tuple[tuple[str, ...], list[tuple]]:
    """Hyper-parameter names and one tuple of values per model, from columns (a mapping name → values) or rows
    (a sequence of mappings, one per model, all with the same names)."""
    if isinstance(hparams, Mapping):
        names = tuple(str(k) for k in hparams)
        columns = [
            list(v) if isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, str) else None
            for v in hparams.values()
        ]
        if not names or any(c is None or len(c) != n for c in columns):
            got = ", ".join(f"{k}: {'bad' if c is None else len(c)}" for k, c in zip(names, columns, strict=True))
            raise UserError(
                f"{who} needs at least one hyper-parameter, each a sequence of one value per model ({n} models); "
                f"got value counts {got or 'none'}"
            )
        rows = list(zip(*columns, strict=True))
    else:
        rows_in = list(hparams)
        if len(rows_in) != n or not all(isinstance(r, Mapping) for r in rows_in):
            raise UserError(
                f"{who} needs hyper-parameters as a mapping name -> values or as one mapping per model "
                f"({n} models, got {len(rows_in)} rows)"
            )
        names = tuple(str(k) for k in rows_in[0])
        if not names or any(set(map(str, r)) != set(names) for r in rows_in):
            raise UserError(f"{who} needs every model to name the same hyper-parameters, at least one")
        rows = [tuple(r[k] for k in rows_in[0]) for r in rows_in]
    try:
        for r in rows:
            hash(r)
    except TypeError:
        raise UserError(f"{who} needs hashable hyper-parameter values (numbers, strings, tuples)") from None
    return names, rows


@dataclass(frozen=True)
class GranulatedKendall:
    """Jiang et al.'s granulated Kendall coefficient and its parts.

    Attributes:
        psi: Ψ, the mean of the defined per-axis ψ_i (nan when none is defined).
        axes: ψ_i per hyper-parameter: the mean τ over that axis's defined groups (nan when it has none).
        groups: how many groups entered each ψ_i.
    """

    psi: float
    axes: dict[str, float] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)


def granulated_kendall(
    hparams: Any, measure: Sequence[float], gap: Sequence[float], variant: str = "b"
) -> GranulatedKendall:
    """Jiang et al.'s granulated Kendall coefficient Ψ of a measure over a grid of trained models (eq. 4-5).

    For each hyper-parameter axis i, the models are grouped by the values of all the other hyper-parameters, so
    that within a group only axis i varies (and the seed, where several models share all hyper-parameters);
    ψ_i is the mean of :func:`kendall_tau` over the groups, and Ψ the mean of ψ_i over the axes. On a full grid
    this is Jiang's ψ_i = (1/m_i) Σ τ(group), with m_i the number of settings of the other axes.

    A group with fewer than 2 models, or whose τ is undefined (τ-b of a group in which the measure or the gap is
    constant), is skipped; an axis with no defined group (for instance a hyper-parameter that never varies) has
    ψ_i = nan and is left out of Ψ. With ``variant="a"`` (Jiang's own τ) a constant measure within a group counts
    as 0 instead, which is how Jiang's table scores, e.g., the parameter count along the learning-rate axis.
    Hyper-parameter values are grouped by exact equality: round floats that should match.

    Args:
        hparams: each model's hyper-parameters, as a mapping name -> values (one per model) or as one mapping
            name -> value per model.
        measure: the measure's value on each model.
        gap: each model's generalization gap.
        variant: the τ inside each group, ``"b"`` (τ-b) or ``"a"`` (τ-a); see :func:`kendall_tau`.

    Returns:
        :class:`GranulatedKendall` with Ψ, the per-axis ψ_i and the number of groups behind each; every value is
        nan when any measure or gap is non-finite.

    Example:
        >>> r = granulated_kendall({"depth": [1, 1, 2, 2], "lr": [0.1, 0.2, 0.1, 0.2]},
        ...                        measure=[1.0, 2.0, 3.0, 4.0], gap=[0.1, 0.2, 0.4, 0.3])
        >>> r.axes, r.psi  # depth: both groups concordant; lr: one concordant group, one discordant
        ({'depth': 1.0, 'lr': 0.0}, 0.5)
    """
    _check_variant(variant, "granulated_kendall")
    m, g = _vectors(measure, gap, "granulated_kendall")
    names, rows = _table(hparams, len(m), "granulated_kendall")
    if not (np.isfinite(m).all() and np.isfinite(g).all()):
        return GranulatedKendall(math.nan, dict.fromkeys(names, math.nan), dict.fromkeys(names, 0))
    axes: dict[str, float] = {}
    groups: dict[str, int] = {}
    for i, name in enumerate(names):
        taus = [_tau(m[idx], g[idx], variant) for idx in map(np.asarray, _varying_only(rows, i)) if len(idx) >= 2]
        taus = [t for t in taus if math.isfinite(t)]
        groups[name] = len(taus)
        axes[name] = float(np.mean(taus)) if taus else math.nan
    defined = [v for v in axes.values() if math.isfinite(v)]
    return GranulatedKendall(float(np.mean(defined)) if defined else math.nan, axes, groups)


def _varying_only(rows: Sequence[tuple], axis: int) -> list[list[int]]:
    """The indices of ``rows`` grouped by every value but the ``axis``-th: within a group only that axis varies."""
    groups: dict[tuple, list[int]] = {}
    for k, row in enumerate(rows):
        groups.setdefault(row[:axis] + row[axis + 1 :], []).append(k)
    return list(groups.values())


def hoeffding_weight(delta_gap: float | np.ndarray, n_test: int) -> float | np.ndarray:
    """The probability, by Hoeffding's inequality, that two gaps estimated on ``n_test`` test examples each are
    ordered correctly when their estimates differ by ``delta_gap`` (Dziugaite, Drouin et al. 2020).

    Each estimated gap is within ε of its true value with probability at least 1 − 2·exp(−2·n·ε²) (Hoeffding, for
    a loss in [0, 1]); with ε = |Δ|/2 neither estimate crosses the midpoint, so the weight of the pair is
    ``max(0, 1 − 2·exp(−n·Δ²/2))²``: 0 for gaps closer than the test set can resolve, → 1 for distant ones.

    Example:
        >>> round(hoeffding_weight(0.05, 10_000), 6)  # 1 − 2·exp(−12.5), squared
        0.999985
    """
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 1:
        raise UserError(f"hoeffding_weight needs a positive whole number of test examples, got {n_test!r}")
    d = np.abs(np.asarray(delta_gap, dtype=float))
    w = np.maximum(0.0, 1.0 - 2.0 * np.exp(-n_test * d * d / 2.0)) ** 2
    return float(w) if w.ndim == 0 else w


@dataclass(frozen=True)
class SignError:
    """Dziugaite et al.'s sign-error of a measure, per environment (a pair of hyper-parameter settings that differ
    in one hyper-parameter).

    Attributes:
        mean: the mean sign-error over the kept environments (the average case); nan when none is kept.
        max: the largest (the worst environment: the robust measure of the paper); nan when none is kept.
        losses: each kept environment's weighted sign-error, in [0, 1].
        axes: the hyper-parameter that differs in each kept environment.
        settings: each kept environment's two hyper-parameter settings, as tuples in the order of ``names``.
        weights: each kept environment's total weight Σw over its pairs of models.
        ess: each kept environment's effective sample size (Σw)² / Σw².
        names: the hyper-parameter names.
    """

    mean: float
    max: float
    losses: np.ndarray
    axes: tuple[str, ...]
    settings: tuple[tuple[tuple, tuple], ...]
    weights: np.ndarray
    ess: np.ndarray
    names: tuple[str, ...]

    def cdf(self, x: float, axis: str | None = None) -> float:
        """The fraction of kept environments (of one hyper-parameter ``axis``, or all) with sign-error ≤ ``x``;
        nan when there is none."""
        losses = self.losses if axis is None else self.losses[np.asarray(self.axes) == axis]
        return float(np.mean(losses <= x)) if len(losses) else math.nan

    def percentile(self, q: float, axis: str | None = None) -> float:
        """The ``q``-th percentile (0-100) of the environments' sign-errors (of one ``axis``, or all); nan when
        there is none. Dziugaite et al. report the 90th next to the mean and the max."""
        losses = self.losses if axis is None else self.losses[np.asarray(self.axes) == axis]
        return float(np.percentile(losses, q)) if len(losses) else math.nan


def sign_error(
    hparams: Any,
    measure: Sequence[float],
    gap: Sequence[float],
    n_test: int | None,
    *,
    min_weight: float = 0.5,
    min_ess: float = 1.0,
) -> SignError:
    """Dziugaite, Drouin et al.'s (2020) sign-error of a measure over environments of coupled models.

    An environment is a pair of distinct hyper-parameter settings that differ in exactly one hyper-parameter.
    Every pair of models (a, b), a trained with the first setting and b with the second (all seeds of each),
    has sign-error ``(1 − sign(μ_a − μ_b)·sign(g_a − g_b)) / 2``: 0 when the measure orders the two like their
    gaps, 1 when it reverses them, 1/2 on a tie. Its weight is ``w = (hoeffding_weight(|g_a − g_b|, n_test) −
    min_weight)₊`` (pairs whose gaps the test set cannot tell apart get 0), or 1 for every pair when ``n_test`` is
    None. The environment's sign-error is the weighted mean over its pairs; environments with zero total weight
    or an effective sample size (Σw)²/Σw² below ``min_ess`` are dropped. As in the authors' code, but each
    unordered environment is counted once (they count both orders, which changes no mean, max or CDF).

    Args:
        hparams: each model's hyper-parameters, as a mapping name -> values (one per model) or one mapping per
            model; models with equal values on every hyper-parameter are seeds of one setting.
        measure: the measure's value on each model (larger = predicts a larger gap).
        gap: each model's generalization gap.
        n_test: the number of test examples each gap was estimated on, for the Hoeffding weight; None to give
            every pair weight 1 (no Monte-Carlo noise filtering).
        min_weight: the weight subtracted from (and threshold on) each pair's Hoeffding weight; 0.5 in the paper.
        min_ess: the smallest effective sample size of an environment that is kept. The paper uses 12 with many
            seeds per setting; with one model per setting every environment has ESS 1, the default here.

    Returns:
        :class:`SignError`: the mean and max over kept environments and each environment's loss, axis, settings,
        weight and ESS. Every summary is nan and no environment is kept when any measure or gap is non-finite.

    Example:
        >>> r = sign_error({"width": [1, 2, 4]}, measure=[3.0, 1.0, 2.0], gap=[0.3, 0.1, 0.2], n_test=None)
        >>> r.mean, r.max
        (0.0, 0.0)
    """
    m, g = _vectors(measure, gap, "sign_error")
    names, rows = _table(hparams, len(m), "sign_error")
    if n_test is not None:
        hoeffding_weight(0.0, n_test)  # validates n_test
    if not 0 <= min_weight < 1:
        raise UserError(f"sign_error needs 0 <= min_weight < 1, got {min_weight}")
    if not min_ess >= 0:
        raise UserError(f"sign_error needs min_ess >= 0, got {min_ess}")
    seeds: dict[tuple, list[int]] = {}
    for k, row in enumerate(rows):
        seeds.setdefault(row, []).append(k)
    losses: list[float] = []
    axes: list[str] = []
    settings: list[tuple[tuple, tuple]] = []
    weights: list[float] = []
    ess: list[float] = []
    finite = bool(np.isfinite(m).all() and np.isfinite(g).all())
    for i, name in enumerate(names if finite else ()):
        settings_of = list(seeds)
        for group in _varying_only(settings_of, i):
            for s1, s2 in combinations([settings_of[k] for k in group], 2):
                a, b = np.asarray(seeds[s1]), np.asarray(seeds[s2])
                dm, dg = m[a, None] - m[None, b], g[a, None] - g[None, b]
                err = (1.0 - np.sign(dm) * np.sign(dg)) / 2.0
                w = np.ones_like(err) if n_test is None else np.maximum(hoeffding_weight(dg, n_test) - min_weight, 0)
                total, squares = float(w.sum()), float((w * w).sum())
                if total <= 0 or total * total / squares < min_ess:
                    continue
                losses.append(float((w * err).sum() / total))
                axes.append(name)
                settings.append((s1, s2))
                weights.append(total)
                ess.append(total * total / squares)
    arr = np.asarray(losses, dtype=float)
    return SignError(
        mean=float(arr.mean()) if len(arr) else math.nan,
        max=float(arr.max()) if len(arr) else math.nan,
        losses=arr,
        axes=tuple(axes),
        settings=tuple(settings),
        weights=np.asarray(weights, dtype=float),
        ess=np.asarray(ess, dtype=float),
        names=names,
    )
