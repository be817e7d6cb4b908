"""Weight spectra: heavy-tailed self-regularization (Martin & Mahoney 2021) layer by layer, as WeightWatcher does.

For each weight matrix W of a model, with N ≥ M its two dimensions (W is transposed if needed), the empirical
spectral density (ESD) is the set of M eigenvalues of the correlation matrix X = WᵀW / N (Martin & Mahoney,
JMLR 2021, eq. 1). WeightWatcher (``CalculatedContent/WeightWatcher``, ``combined_eigenvalues``) fits the
unnormalized eigenvalues σᵢ² of WᵀW (its ``normalize`` option, which divided by N, was removed in 0.6.5);
the power-law α, its KS distance and the number of tail eigenvalues are invariant to that factor, only ``xmin``
and the eigenvalues themselves are N times smaller here. The 1/N makes the Marchenko–Pastur (MP) law of a random
layer standard: entries of variance σ² give a bulk on [σ²(1 − 1/√Q)², σ²(1 + 1/√Q)²], Q = N/M.

- ``fit_power_law``: the Clauset–Shalizi–Newman (2009) continuous power-law fit: for every candidate xmin (each
  distinct sample but the largest) the MLE α̂ = 1 + n / Σ log(xᵢ/xmin) over the n samples ≥ xmin, and the xmin
  whose fit has the smallest Kolmogorov–Smirnov distance D wins. No upper cutoff (WeightWatcher's default
  ``xmax=None``: fixing xmax at λ_max biases α upward). Same candidates, estimator and D as ``powerlaw.Fit``
  (Alstott et al. 2014) and WeightWatcher's own ``WWFit``, vectorized; the tests check it against
  ``powerlaw.Fit(parameter_ranges={"alpha": [1, None]})``. (powerlaw 2.0's default range α ∈ (0, 3) clips every
  candidate's α at 3 and marks it invalid, so its default fit of a random-like layer, α ≈ 4-10, is wrong.)
- ``weight_spectrum``: one matrix (or a convolution kernel) → ``WeightSpectrum``: ESD, α, xmin, D, tail size,
  spectral norm, stable rank, and an MP fit (σ², bulk edges, KS distance to the MP law, spikes above the edge).
- ``weight_spectra``: every ``nn.Linear`` / ``nn.Conv1d/2d/3d`` of a model (``core.WEIGHT_LAYERS``, module order)
  → {module name: ``WeightSpectrum``}.
- ``marchenko_pastur_density`` / ``marchenko_pastur_cdf``: the MP law of X = WᵀW / N in closed form.

Conventions and pitfalls (WeightWatcher's): α < 2 is read as over-trained (very heavy tail), α > 6 as under-trained
(random-like; such large α are also what finite-size "fingers" at the top of a random ESD produce, so treat them
as "no power-law tail" rather than a precise exponent: a Gaussian 800 × 200 matrix gives α anywhere from ≈ 4 to
14 across seeds); fits need enough eigenvalues: below ``min_evals`` (WeightWatcher's ``analyze`` default, 10; its
README recommends 50) α, xmin, D and the tail size are NaN. WeightWatcher 0.7.7 fits ESDs of fewer than 20
eigenvalues with its own small-N estimator (bias-corrected α, xmin minimizing D − 0.868/√n); here every ESD gets
the CSN fit, so such layers differ from its table.
A convolution kernel (out, in, *k) is, as WeightWatcher's ``conv2D_Wmats``, split into its prod(k) slices
W[:, :, i, ...] of shape (out, in); their eigenvalues are pooled into one ESD (its rescaling of conv slices by
√(prod(k)/2) is not applied: it changes no scale-free quantity). The spectral norm and stable rank of a conv layer
are then those of the pooled slices: max over slices of ‖Wₛ‖₂ and Σₛ‖Wₛ‖_F² / maxₛ‖Wₛ‖₂².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from phenomena.errors import UserError
from phenomena.probes.core import WEIGHT_LAYERS

OVER_TRAINED = 2.0  # WeightWatcher's OVER_TRAINED_THRESH: α below it reads as over-trained
UNDER_TRAINED = 6.0  # WeightWatcher's UNDER_TRAINED_THRESH: α above it reads as under-trained / random-like
_ZERO_RTOL = 1e-10  # eigenvalues below this fraction of λ_max are zeros (rank deficiency) and left out of the fit
_TW_MARGIN = 4.0  # spikes lie this many Tracy-Widom scales above the MP edge (pure noise: P ≈ 1e-4 per layer)
_BLOCK = 1 << 22  # entries per block of the vectorized KS scan


# --- the power-law fit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """A continuous power-law fit p(x) ∝ x^(−α) for x ≥ xmin (Clauset, Shalizi & Newman 2009).

    Attributes:
        alpha: the MLE exponent α̂ = 1 + n / Σ log(xᵢ/xmin) over the tail.
        xmin: the lower cutoff chosen by minimizing the KS distance (or the one given).
        ks_distance: the KS distance D between the tail's empirical CDF and the fitted power law.
        n_tail: the number of samples ≥ xmin that were fitted.
        sigma: the asymptotic standard error (α̂ − 1)/√n_tail.
    """

    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    sigma: float


_NO_FIT = PowerLawFit(math.nan, math.nan, math.nan, 0, math.nan)


def fit_power_law(
    samples: np.ndarray | Tensor, xmin: float | None = None, xmin_range: tuple[float, float] | None = None
) -> PowerLawFit:
    """Fit a continuous power law to positive samples by maximum likelihood, xmin chosen by the KS distance.

    Clauset, Shalizi & Newman 2009 ("Power-law distributions in empirical data", §3): for each candidate xmin
    (every distinct sample but the largest, as ``powerlaw.Fit``), α̂ = 1 + n / Σᵢ log(xᵢ / xmin) over the n
    samples xᵢ ≥ xmin and D = maxᵢ |F̂(xᵢ) − (1 − (xᵢ/xmin)^(1−α̂))|, F̂ the tail's empirical CDF counted below
    each point (``powerlaw``'s and WeightWatcher's convention); the candidate with the smallest D is returned.

    Args:
        samples: 1-D array of positive, finite samples (a torch tensor is converted).
        xmin: fix the lower cutoff instead of scanning (samples below it are ignored).
        xmin_range: restrict the scanned candidates to lo ≤ xmin ≤ hi (WeightWatcher's ``fix_fingers='xmin_peak'``
            passes such a range around the ESD's peak).

    Returns:
        A ``PowerLawFit``; all NaN (n_tail 0) when fewer than two distinct candidates remain.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = (1 - rng.random(5000)) ** (-1 / 1.5)   # Pareto: α = 2.5, xmin = 1
        >>> fit = fit_power_law(x)
        >>> round(fit.alpha, 1), fit.xmin < 1.5
        (2.5, True)
    """
    x = _samples(samples)
    if xmin is not None:
        if not (isinstance(xmin, int | float) and math.isfinite(xmin) and xmin > 0):
            raise UserError(f"xmin must be a positive finite number, got {xmin!r}.")
        x = x[x >= xmin]
        if len(x) < 2 or x[-1] == x[0]:
            return _NO_FIT
        alphas, ds = _scan(x, np.array([0]), float(xmin))
        return _fit(alphas[0], float(xmin), ds[0], len(x))
    lo, hi = -math.inf, math.inf
    if xmin_range is not None:
        if not (len(xmin_range) == 2 and 0 < xmin_range[0] <= xmin_range[1]):
            raise UserError(f"xmin_range must be (lo, hi) with 0 < lo <= hi, got {xmin_range!r}.")
        lo, hi = map(float, xmin_range)
    # candidate i = the first index of each distinct value, the largest value excluded
    first = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])[:-1]
    first = first[(x[first] >= lo) & (x[first] <= hi)]
    if len(first) < 2:
        return _NO_FIT
    alphas, ds = _scan(x, first)
    best = int(np.argmin(ds))
    i = int(first[best])
    return _fit(alphas[best], float(x[i]), ds[best], len(x) - i)


def _samples(samples) -> np.ndarray:
    if isinstance(samples, Tensor):
        samples = samples.detach().cpu().to(torch.float64).numpy()
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"samples must be a 1-D array of numbers, got {type(samples).__name__}.") from None
    if x.ndim != 1 or len(x) == 0:
        raise UserError(f"samples must be a non-empty 1-D array, got shape {x.shape}.")
    if not (np.isfinite(x).all() and (x > 0).all()):
        raise UserError("samples must be positive and finite for a power-law fit.")
    return np.sort(x)


def _fit(alpha: float, xmin: float, d: float, n: int) -> PowerLawFit:
    return PowerLawFit(float(alpha), xmin, float(d), int(n), float((alpha - 1) / math.sqrt(n)))


def _scan(x: np.ndarray, starts: np.ndarray, xmin: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MLE α and KS distance for the tails x[i:], i in ``starts`` (x sorted ascending, x[i] its value's first),
    each with xmin = x[i] (or the given ``xmin`` ≤ x[0] for the single start 0)."""
    n_all = len(x)
    logx = np.log(x)
    logmin = logx[starts] if xmin is None else np.full(len(starts), math.log(xmin))
    suffix = np.cumsum(logx[::-1])[::-1]  # Σ_{j ≥ i} log x_j
    rank = np.searchsorted(x, x, side="left")  # samples strictly below x_j: the CDF "counted below", with ties
    n = (n_all - starts).astype(np.float64)
    alphas = 1 + n / (suffix[starts] - n * logmin)
    ds = np.empty(len(starts))
    rows = max(1, _BLOCK // n_all)
    j = np.arange(n_all)
    for a in range(0, len(starts), rows):
        s, al, nn_ = starts[a : a + rows, None], alphas[a : a + rows, None], n[a : a + rows, None]
        with np.errstate(over="ignore", invalid="ignore"):
            theory = 1 - np.exp((1 - al) * (logx[None, :] - logmin[a : a + rows, None]))
            gap = np.abs(theory - (rank[None, :] - s) / nn_)
        ds[a : a + rows] = np.where(j[None, :] >= s, gap, -np.inf).max(axis=1)
    return alphas, ds


# --- Marchenko-Pastur ----------------------------------------------------------------------------------------


def _mp_check(q: float, sigma2: float) -> tuple[float, float, float]:
    if not (math.isfinite(q) and q >= 1):
        raise UserError(f"the aspect ratio q = N/M must be a finite number >= 1 (N >= M), got {q!r}.")
    if not (math.isfinite(sigma2) and sigma2 > 0):
        raise UserError(f"sigma2 must be a positive finite variance, got {sigma2!r}.")
    return sigma2 * (1 - q**-0.5) ** 2, sigma2 * (1 + q**-0.5) ** 2, 1 / q


def marchenko_pastur_density(x: np.ndarray, q: float, sigma2: float = 1.0) -> np.ndarray:
    """The Marchenko–Pastur density of the eigenvalues of X = WᵀW / N, W an N × M matrix of i.i.d. entries.

    ρ(λ) = √((λ₊ − λ)(λ − λ₋)) / (2π σ² γ λ) on [λ₋, λ₊], λ± = σ²(1 ± √γ)², γ = M/N = 1/q ≤ 1 (Marchenko &
    Pastur 1967; Martin & Mahoney 2021, eq. 8), zero outside.

    Args:
        x: points at which to evaluate it.
        q: the aspect ratio N/M ≥ 1.
        sigma2: the entries' variance σ².

    Returns:
        ρ at ``x`` (same shape).

    Example:
        >>> round(float(marchenko_pastur_density(1.0, q=4.0)), 4)   # γ = 1/4: √(1.25 · 0.75) / (2π · 0.25)
        0.6164
    """
    lo, hi, gamma = _mp_check(q, sigma2)
    x = np.asarray(x, dtype=np.float64)
    inside = (x > lo) & (x < hi)
    xs = np.where(inside, x, 1.0)
    return np.where(inside, np.sqrt(np.clip((hi - xs) * (xs - lo), 0, None)) / (2 * np.pi * sigma2 * gamma * xs), 0.0)


def marchenko_pastur_cdf(x: np.ndarray, q: float, sigma2: float = 1.0) -> np.ndarray:
    """The cumulative distribution of ``marchenko_pastur_density``, in closed form.

    With λ = m − r cos θ (m, r the bulk's centre and half-width), ρ dλ = r² sin²θ / (2πσ²γ (m − r cos θ)) dθ,
    whose integral is elementary: F = r²/(2πσ²γ) [sin θ / r + m θ / r² − (√(m² − r²)/r²) · 2 arctan(√((m+r)/(m−r))
    tan(θ/2))] (the last term vanishes at q = 1, where λ₋ = 0).

    Args:
        x: points at which to evaluate it.
        q: the aspect ratio N/M ≥ 1.
        sigma2: the entries' variance σ².

    Returns:
        F at ``x`` (same shape), 0 below λ₋ and 1 above λ₊.

    Example:
        >>> float(marchenko_pastur_cdf(2.25, q=4.0))
        1.0
    """
    lo, hi, gamma = _mp_check(q, sigma2)
    x = np.asarray(x, dtype=np.float64)
    m, r = (hi + lo) / 2, (hi - lo) / 2
    theta = np.arccos(np.clip((m - x) / r, -1.0, 1.0))
    root = math.sqrt(max(m * m - r * r, 0.0))  # = √(λ₊λ₋) = σ²(1 − γ)
    last = 0.0
    if root > 0:
        last = root / r**2 * 2 * np.arctan(math.sqrt((m + r) / (m - r)) * np.tan(theta / 2))
    f = r**2 / (2 * np.pi * sigma2 * gamma) * (np.sin(theta) / r + m * theta / r**2 - last)
    return np.clip(np.where(x >= hi, 1.0, np.where(x <= lo, 0.0, f)), 0.0, 1.0)


def _mp_fit(evals: np.ndarray, n: int, m: int) -> tuple[float, float, float, int]:
    """σ², KS distance to MP(σ²) and the number of spikes; σ² the mean of the non-spike eigenvalues.

    The mean eigenvalue of X = WᵀW/N is ‖W‖_F²/(NM), the entries' variance (MP's mean is σ²); the eigenvalues
    above the edge plus ``_TW_MARGIN`` Tracy–Widom scales (Johnstone 2001) are spikes and are left out of the
    mean, until the set of spikes is stable.
    """
    q = n / m
    spikes = np.zeros(len(evals), dtype=bool)
    tw = (math.sqrt(n) + math.sqrt(m)) * (1 / math.sqrt(n) + 1 / math.sqrt(m)) ** (1 / 3) / n
    for _ in range(20):
        sigma2 = float(evals[~spikes].mean())
        if not sigma2 > 0:
            return math.nan, math.nan, math.nan, 0
        new = evals > sigma2 * ((1 + q**-0.5) ** 2 + _TW_MARGIN * tw)
        if (new == spikes).all() or new.all():
            break
        spikes = new
    x = np.sort(evals)
    cdf = marchenko_pastur_cdf(x, q, sigma2)
    k = np.arange(len(x))
    ks = float(max(np.max(cdf - k / len(x)), np.max((k + 1) / len(x) - cdf)))
    return sigma2, ks, sigma2 * (1 + q**-0.5) ** 2, int(spikes.sum())


# --- one matrix, one model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightSpectrum:
    """The spectrum of one layer's weight matrix W (N × M after transposing so that N ≥ M).

    Attributes:
        shape: (N, M) of one matrix (of one slice for a convolution).
        n_matrices: how many matrices were pooled (1, or prod(kernel size) for a convolution).
        eigenvalues: the ESD, all eigenvalues of X = WᵀW / N (pooled over slices), ascending.
        alpha, xmin, ks_distance, n_tail, alpha_sigma: the power-law fit of the nonzero eigenvalues
            (``fit_power_law``); NaN (n_tail 0) with fewer than ``min_evals`` eigenvalues.
        spectral_norm: ‖W‖₂ (the unnormalized largest singular value; max over slices for a convolution).
        stable_rank: ‖W‖_F² / ‖W‖₂² (Σ over slices of ‖Wₛ‖_F², over the max ‖Wₛ‖₂², for a convolution).
        mp_sigma2: the entries' variance σ² of the Marchenko–Pastur fit.
        mp_bulk_max: the MP bulk edge σ²(1 + 1/√Q)², Q = N/M (in the units of ``eigenvalues``).
        mp_ks_distance: KS distance between the ESD and MP(Q, σ²): small for a random layer.
        n_spikes: eigenvalues above the edge by more than a few Tracy–Widom scales (0 for a random layer).
    """

    shape: tuple[int, int]
    n_matrices: int
    eigenvalues: np.ndarray
    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    alpha_sigma: float
    spectral_norm: float
    stable_rank: float
    mp_sigma2: float
    mp_bulk_max: float
    mp_ks_distance: float
    n_spikes: int

    @property
    def q(self) -> float:
        """The aspect ratio Q = N/M ≥ 1."""
        return self.shape[0] / self.shape[1]

    @property
    def log_spectral_norm(self) -> float:
        """log10 ‖W‖₂² (WeightWatcher's ``log_spectral_norm``: the log of the largest eigenvalue of WᵀW)."""
        return 2 * math.log10(self.spectral_norm) if self.spectral_norm > 0 else -math.inf

    @property
    def alpha_weighted(self) -> float:
        """α · log10 ‖W‖₂² (WeightWatcher's ``alpha_weighted``, the α̂ of Martin & Mahoney 2021)."""
        return self.alpha * self.log_spectral_norm

    @property
    def quality(self) -> str:
        """WeightWatcher's reading of α: "over-trained" (α < 2), "under-trained" (α > 6), "ok", or "unmeasured"."""
        if not math.isfinite(self.alpha):
            return "unmeasured"
        return "over-trained" if self.alpha < OVER_TRAINED else "under-trained" if self.alpha > UNDER_TRAINED else "ok"


def weight_spectrum(weight: Tensor | np.ndarray, min_evals: int = 10, fix_fingers: bool = False) -> WeightSpectrum:
    """The ESD of one weight matrix (or convolution kernel) with its power-law and Marchenko–Pastur fits.

    Martin & Mahoney 2021 ("Implicit self-regularization in deep neural networks", JMLR), as computed by
    WeightWatcher: eigenvalues of X = WᵀW / N (see the module docstring for the normalization), α by
    ``fit_power_law`` on the nonzero eigenvalues, and an MP fit whose σ² is the mean of the non-spike
    eigenvalues. Computed in float64 on a detached copy.

    Args:
        weight: a 2-D matrix, or a convolution kernel (out, in, *k) whose prod(k) slices (out, in) are pooled.
        min_evals: fewer nonzero eigenvalues than this give a NaN power-law fit (WeightWatcher's default, 10).
        fix_fingers: WeightWatcher's ``fix_fingers='xmin_peak'``: restrict xmin to [0.95, 1.5] × the peak of the
            ESD's log-histogram (100 bins), against the spuriously large α of finite-size "fingers" (the intent of
            WeightWatcher's code, which passes log10 of the lower bound to ``powerlaw`` and so only caps xmin).

    Returns:
        A ``WeightSpectrum``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> s = weight_spectrum(torch.randn(400, 100, generator=g))   # random: MP with Q = 4, σ² = 1
        >>> round(s.mp_bulk_max, 2), s.n_spikes, s.mp_ks_distance < 0.05   # edge (1 + 1/√4)² σ² = 2.25
        (2.26, 0, True)
    """
    if not (isinstance(min_evals, int) and min_evals >= 2):
        raise UserError(f"min_evals must be an integer >= 2, got {min_evals!r}.")
    mats = _slices(weight)
    sv = torch.stack([torch.linalg.svdvals(w) for w in mats])  # (slices, M)
    n, m = mats[0].shape
    evals = np.sort((sv**2).reshape(-1).numpy() / n)
    top = float(sv[:, 0].max())
    stable = float((sv**2).sum() / top**2) if top > 0 else math.nan
    if not evals[-1] > 0:
        raise UserError("the weight matrix is zero, so its spectrum has no scale.")
    nonzero = evals[evals > _ZERO_RTOL * evals[-1]]
    fit = _NO_FIT
    if len(nonzero) >= min_evals:
        fit = fit_power_law(nonzero, xmin_range=_peak_range(nonzero) if fix_fingers else None)
    sigma2, mp_ks, edge, spikes = _mp_fit(evals, n, m)
    return WeightSpectrum(
        shape=(n, m),
        n_matrices=len(mats),
        eigenvalues=evals,
        alpha=fit.alpha,
        xmin=fit.xmin,
        ks_distance=fit.ks_distance,
        n_tail=fit.n_tail,
        alpha_sigma=fit.sigma,
        spectral_norm=top,
        stable_rank=stable,
        mp_sigma2=sigma2,
        mp_bulk_max=edge,
        mp_ks_distance=mp_ks,
        n_spikes=spikes,
    )


def weight_spectra(model: nn.Module, min_evals: int = 10, fix_fingers: bool = False) -> dict[str, WeightSpectrum]:
    """``weight_spectrum`` of every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` weight of a model, in module order.

    The layers are ``phenomena.probes.core.WEIGHT_LAYERS`` (biases excluded, as WeightWatcher); each module is
    visited once, so a layer shared between two places of the model appears once, under its first name. The
    model is not modified.

    Args:
        model: any ``nn.Module``.
        min_evals, fix_fingers: as in ``weight_spectrum``.

    Returns:
        {module name: ``WeightSpectrum``}.

    Example:
        >>> net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10), nn.Conv2d(3, 16, 3))
        >>> {name: (s.shape, s.n_matrices, len(s.eigenvalues)) for name, s in weight_spectra(net).items()}
        {'0': ((256, 64), 1, 64), '2': ((256, 10), 1, 10), '3': ((16, 3), 9, 27)}
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"weight_spectra needs an nn.Module, got {type(model).__name__}.")
    layers = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, WEIGHT_LAYERS)]
    if not layers:
        raise UserError("the model has no nn.Linear or nn.Conv layers, so it has no weight matrices to measure.")
    return {name: weight_spectrum(mod.weight, min_evals, fix_fingers) for name, mod in layers}


def _slices(weight) -> list[Tensor]:
    """The float64 matrices (N × M, N ≥ M) of a matrix or convolution kernel: one, or one per kernel position."""
    if isinstance(weight, np.ndarray):
        weight = torch.from_numpy(weight)
    if not isinstance(weight, Tensor) or weight.ndim < 2 or weight.numel() == 0:
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise UserError(f"weight must be a non-empty matrix or convolution kernel (ndim >= 2), got {shape}.")
    w = weight.detach().cpu().to(torch.float64)
    if not torch.isfinite(w).all():
        raise UserError("the weight contains NaN or infinite values.")
    mats = list(w.reshape(w.shape[0], w.shape[1], -1).permute(2, 0, 1))
    return [t.T if t.shape[0] < t.shape[1] else t for t in mats]


def _peak_range(evals: np.ndarray) -> tuple[float, float]:
    """WeightWatcher's xmin_peak range: [0.95, 1.5] × the left edge of the fullest of 100 log10 bins."""
    counts, edges = np.histogram(np.log10(evals), bins=100)
    peak = 10 ** edges[int(np.argmax(counts))]
    return 0.95 * peak, 1.5 * peak
