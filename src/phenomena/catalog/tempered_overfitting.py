"""Tempered overfitting: interpolating noisy labels costs a bounded factor, set by the spectrum, not zero or all.

Mallinar, Simon, Abedsoltan, Pandit, Belkin & Nakkiran (2022) sort interpolating methods by what fitting label
noise costs as the data grow: *benign* (the test risk tends to the Bayes risk), *tempered* (to a constant factor
above it) or *catastrophic* (without bound). For ridgeless kernel regression the eigenlearning framework (Simon
et al. 2023; :mod:`phenomena.kernels.eigenlearning`) gives the factor in closed form: with pure-noise labels of
variance σ² the test MSE is E₀(n) σ², E₀ = n / (n − Σ L_i²). Power-law spectra λ_k = k^-α are tempered (E₀ → α),
exponential spectra e^{-k/τ} catastrophic (E₀ ≈ n/τ), and λ_k = 1/(k ln² k) benign (E₀ → 1, slowly, like 1 + c/ln n).
Trained networks sit in the middle: MLPs fit to zero training error on noisy labels lose test accuracy roughly in
proportion to the noise, like 1-nearest-neighbour (the classical tempered method), and stay far from chance; at
this sample size early-stopped nets that do not fit the noise lose about as much (control "early-stopped").

Exact leg (``exact``): Gaussian features z ~ N(0, diag λ) with M = ``modes`` modes of each spectrum (α = 2,
τ = 20, and the benign 1/((k+1) ln²(k+1))), n training points labelled by pure noise, the minimum-norm least
squares fit f̂(x) = z(x)ᵀ Zᵀ (Z Zᵀ + δ I)⁻¹ y. The modes past M stand in as a ridge equal to their eigenvalue sum
(the eigenlearning module's rule: modes far below κ act as a ridge; the benign tail 1/ln(M+1) matters, the
power law's 1/M barely, the exponential's not at all), plus the configured ridge δ (0: interpolation). Its
test MSE / σ² = 1 + ‖(ZZᵀ + δ I)⁻¹ Z Λ^{1/2}‖²_F is the risk averaged over the label noise and the test point in
closed form, *measured* on drawn training inputs (averaged over ``trials`` draws), and compared with E₀(n) from
:func:`~phenomena.kernels.eigenlearning.noise_fitting_factor_curve` on the same spectrum and ridge.

Neural leg (``neural``): MNIST-1D (1000 train / 3000 test), a fraction p ∈ {0, 5, …, 30%} of the training labels
moved to another class, a 40-128-128-10 ReLU MLP per (p, seed) trained with Adam (lr 2·10⁻³, batch 100, 800 steps,
all members vectorized by :func:`~phenomena.training.train_ensemble`) to zero training error on the noisy labels;
1-NN on the same noisy labels is the reference.

Verdict. Exact: (1) measured / E₀ within :data:`MAX_THEORY_ERROR` for every spectrum and n; the regime of each
spectrum from the measured trend, with s = the least-squares slope of ln(test MSE/σ² − 1) against ln n and
g = that of ln(test MSE/σ²): (2) power law tempered: |s| ≤ :data:`MAX_TEMPERED_TREND` and (3) an excess
test MSE/σ² − 1 ≥ :data:`MIN_TEMPERED_EXCESS` at the largest n; (4) benign: s ≤ :data:`MAX_BENIGN_TREND` (the
excess falls); (5) exponential catastrophic: g ≥ :data:`MIN_CATASTROPHIC_GROWTH` (grows like a power of n).
Neural: (6) every net interpolates (training error ≤ :data:`FIT_ERROR` on its noisy labels); (7) not
catastrophic: test error at the largest noise ≤ :data:`MAX_NOISY_TEST_ERROR` (chance is 90%). Non-finite values
fail. Reported, not checked: the least-squares slope of the nets' mean test error against the noise
(``neural_slope``), its R² (``neural_r2``) and its ratio to 1-NN's slope (``slope_over_knn``).

Control "ridge": δ = 0.1 (λ₁ = 1) in the exact leg. The fit no longer interpolates, and at the power-law spectrum
the test MSE/σ² falls toward 1 as n grows (E₀ 1.41 → 1.17 over n = 25-200): the tempered checks (2, 3) fail on the
measured values. The ridge does not touch the neural leg.

Control "early-stopped": the same nets, but 20% of each noisy training set is held out and each net is read at the
logged step (every 20) of its best accuracy on those held-out noisy labels (a second, identical training run reads
the test error there; ``replay_mismatch`` records that both runs follow one trajectory). The nets no longer fit the
flipped labels, so (6) fails on measured training errors (0.28-0.56). The noise cost does *not* fall: the
early-stopped slope (0.35-0.40 per unit noise, seeds 100-104) overlaps the interpolating one (0.40-0.49), their
test error at 30% noise is the same (0.71-0.72 against 0.68-0.72), and they sit as close to 1-NN (slope ratio
0.94-1.03). On MNIST-1D with 1000 training points the nets' noise cost is therefore not the cost of interpolating:
a non-interpolating net, which could in principle ignore a minority of flipped labels, pays it too (a likely
reading, not tested here: with 800-1000 examples, fewer right labels cost any learner accuracy). Caveat: the
early-stopped nets still fit part of the noise (seed 0: mean train error 0.14 at 30% flipped, under the flipped
share), so the control removes exact interpolation, not all memorization; a control that fits none (stronger
regularization) was not measured. That is why the slope, its
linearity and the 1-NN ratio were checks (7-9 in the first version, thresholds slope ≥ 0.15, R² ≥ 0.9, ratio
within 2x) and are now reported values: none of them separates interpolation from its removal (the early-stopped
nets pass all three, R² on 4 of 5 seeds), so they are no evidence for the mechanism. What the neural leg does
claim, checked, is that nets interpolate 30% flipped labels (6, with its control) and stay far from chance (7); (7)
is a bound that the early-stopped nets also meet, the "not catastrophic" half of the taxonomy, with no mechanism
control: it rules out a near-chance outcome, which neither the nets nor the control shows here.

Calibration (seeds 100-109, quick; details in ``ENTRY.calibration``): all checks pass 10/10 with margin
(worst: theory error 0.069, power-law |s| 0.037, benign s -0.166, exponential g 0.84, nets' train error 0,
noisiest test error 0.715); the ridge control gives power-law |s| 0.415-0.482 and excess 0.168-0.172 (10/10 fail);
the early-stopped control (seeds 100-104: it trains twice, 20-25 s a run) train error 0.28-0.56 (5/5 fail).
The nets' test error rises 0.40-0.49 per unit noise, 1.0-1.25x 1-NN's rise, far from chance; the early-stopped
nets' rises about as fast (above).

``smoke`` runs a reduced version of both legs (1000 modes, n = 20-80, one draw; 1600 MNIST-1D samples, 400 of
them training, three noise levels, one seed, 300 steps) to check the code path (~1 s of compute; the CLI's start
dominates); its verdict held on seeds 0-2 but with little margin, so it is not claimed. ``full`` (not a published
setting) extends n to 800 over 20,000 modes and the nets to five seeds.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.kernels.eigenlearning import noise_fitting_factor_curve
from phenomena.kernels.learning_curves import kernel_regression_risk
from phenomena.models.mlp import MLP
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.ensemble import train_ensemble

SPECTRA = ("power", "benign", "exponential")
# Thresholds: written down from the theory before calibration; confirmed on seeds 100-109 (ENTRY.calibration).
MAX_THEORY_ERROR = 0.1  # |measured / E0 − 1|, worst over spectra and n
MAX_TEMPERED_TREND = 0.1  # |d ln(E − 1) / d ln n| at the power law
MIN_TEMPERED_EXCESS = 0.5  # E − 1 at the largest n, power law (α = 2: → 1)
MAX_BENIGN_TREND = -0.1  # d ln(E − 1) / d ln n at the benign spectrum
MIN_CATASTROPHIC_GROWTH = 0.5  # d ln E / d ln n at the exponential spectrum
FIT_ERROR = 0.01  # "interpolates"
MAX_NOISY_TEST_ERROR = 0.8  # chance: 0.9


@config
class Exact:
    modes: int = field(4000, at_least(10), help="Gaussian feature modes M drawn per spectrum (the rest act as a ridge)")
    sizes: tuple[int, ...] = field((25, 50, 100, 200), positive, help="training sizes n, increasing, all < modes")
    trials: int = field(4, positive, help="draws of the training inputs averaged per n")
    alpha: float = field(2.0, between(1, math.inf, "()"), help="power-law exponent: λ_k = k^-α (tempered, E0 → α)")
    tau: float = field(20.0, positive, help="exponential scale: λ_k = exp(-k/τ) (catastrophic, E0 ≈ n/τ)")
    ridge: float = field(0.0, at_least(0), help="ridge δ added to Z Zᵀ (0: the min-norm interpolant)")

    def __post_init__(self):
        require(len(self.sizes) >= 2, f"exact.sizes needs at least 2 sizes; got {self.sizes}")
        require(all(a < b for a, b in zip(self.sizes, self.sizes[1:], strict=False)), "exact.sizes must increase")
        require(self.sizes[-1] < self.modes, f"exact.sizes must stay below exact.modes ({self.modes})")


@config
class Neural:
    enabled: bool = field(True, help="run the MNIST-1D leg (off: its checks are unmeasured and fail)")
    num_samples: int = field(4000, at_least(20), help="MNIST-1D examples generated (train + test)")
    train_split: float = field(0.25, between(0, 1), help="training fraction (1000 train / 3000 test)")
    noises: tuple[float, ...] = field(
        (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3), help="label-noise fractions (labels moved to another class)"
    )
    seeds: int = field(2, positive, help="nets per noise level (own noise draw and initialization)")
    width: int = field(128, positive, help="hidden width")
    depth: int = field(2, positive, help="hidden layers")
    steps: int = field(800, positive, help="Adam steps")
    lr: float = field(2e-3, positive, help="Adam learning rate")
    batch_size: int = field(100, positive, help="examples per step")
    early_stop: bool = field(
        False,
        help="the non-interpolating control: hold out val_fraction of the (noisy) training set and report each "
        "net at the logged step of its best validation error, instead of trained to interpolation",
    )
    val_fraction: float = field(0.2, between(0, 1, "()"), help="held-out share of the training set (early_stop)")
    log_every: int = field(20, positive, help="steps between the evaluations early stopping chooses from")

    def __post_init__(self):
        require(len(self.noises) >= 3, f"neural.noises needs at least 3 levels; got {self.noises}")
        require(all(0 <= p < 0.9 for p in self.noises), "neural.noises must lie in [0, 0.9)")


@config
class Config:
    exact: Exact = Exact()
    neural: Neural = Neural()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(
        exact=Exact(modes=1000, sizes=(20, 40, 80), trials=1),
        neural=Neural(num_samples=1600, noises=(0.0, 0.15, 0.3), seeds=1, steps=300),
    ),
    "quick": Config(),
    # not a published setting: a longer size range and more draws/seeds
    "full": Config(exact=Exact(modes=20_000, sizes=(25, 50, 100, 200, 400, 800), trials=8), neural=Neural(seeds=5)),
}
COSTS = {"smoke": "~5 s", "quick": "~20 s", "full": "~5 min"}


def spectrum(name: str, modes: int, alpha: float = 2.0, tau: float = 20.0) -> tuple[np.ndarray, float]:
    """The first ``modes`` eigenvalues of a named spectrum and the eigenvalue sum of its tail past them (the ridge
    that stands in for the tail): ``power`` k^-α, ``benign`` 1/((k+1) ln²(k+1)), ``exponential`` e^{-k/τ}."""
    k = np.arange(1, modes + 1, dtype=np.float64)
    if name == "power":
        # tail sum Σ_{k>M} k^-α ≈ ∫_{M+1/2}^∞ x^-α dx
        return k**-alpha, (modes + 0.5) ** (1 - alpha) / (alpha - 1)
    if name == "benign":
        return 1 / ((k + 1) * np.log(k + 1) ** 2), 1 / math.log(modes + 1.5)  # ∫ dx / (x ln² x) = 1 / ln x
    return np.exp(-k / tau), math.exp(-modes / tau) / math.expm1(1 / tau)


def _slope(x, y) -> tuple[float, float]:
    """Least-squares slope of y on x and the fit's R² (nan when anything is non-finite)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or np.ptp(x) == 0:
        return math.nan, math.nan
    b, a = np.polyfit(x, y, 1)
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum((y - (a + b * x)) ** 2)) / ss if ss > 0 else math.nan
    return float(b), r2


def exact_leg(cfg: Exact, seed: int) -> tuple[dict[str, float], dict[str, Series]]:
    rng = np.random.default_rng(seed)
    s, series = {}, {}
    ns = list(cfg.sizes)
    for name in SPECTRA:
        lam, tail = spectrum(name, cfg.modes, cfg.alpha, cfg.tau)
        measured = np.array(
            [
                np.mean(
                    [
                        kernel_regression_risk(lam, np.zeros(lam.size), n, rng, ridge=tail + cfg.ridge, noise=1.0)
                        for _ in range(cfg.trials)
                    ]
                )
                for n in ns
            ]
        )
        theory = noise_fitting_factor_curve(lam, ns, ridge=tail + cfg.ridge)
        series[f"{name}_measured"] = Series(ns, [float(v) for v in measured])
        series[f"{name}_theory"] = Series(ns, [float(v) for v in theory])
        with np.errstate(divide="ignore", invalid="ignore"):
            s[f"{name}_trend"] = _slope(np.log(ns), np.log(measured - 1))[0]
            s[f"{name}_growth"] = _slope(np.log(ns), np.log(measured))[0]
        s[f"{name}_theory_error"] = float(np.max(np.abs(measured / theory - 1)))
        s[f"{name}_largest_n"] = float(measured[-1])
    s["theory_error"] = float(np.max([s[f"{name}_theory_error"] for name in SPECTRA]))  # nan if any spectrum's is
    return s, series


def neural_leg(cfg: Neural, ctx: RunContext) -> tuple[dict[str, float], dict[str, Series]]:
    data = mnist1d(cfg.num_samples, cfg.train_split, cache_dir=ctx.cache)
    noises = list(cfg.noises)
    members = [
        with_label_noise(data, p, ctx.stream_seed("noise") + 1000 * j + i, "other")
        for j, p in enumerate(noises)
        for i in range(cfg.seeds)
    ]
    inits = [ctx.stream_seed("init") + m for m in range(len(members))]
    if cfg.early_stop:
        # the last val_fraction of each member's noisy training set is held out: the net fits the rest, and the
        # step of its best accuracy on the held-out (noisy) labels is chosen; a second, identical training run
        # (same data, initialization and minibatch order; evaluation does not touch either) reads the test
        # error at that step
        k = max(1, round(cfg.val_fraction * data.n_train))
        fit_sets = [dataclasses.replace(m, x_train=m.x_train[:-k], y_train=m.y_train[:-k]) for m in members]
        val_sets = [
            dataclasses.replace(f, x_test=m.x_train[-k:], y_test=m.y_train[-k:])
            for f, m in zip(fit_sets, members, strict=True)
        ]
        members = fit_sets
    runs = (val_sets, members) if cfg.early_stop else (members,)
    with ctx.progress(cfg.steps * len(members) * len(runs), desc="tempered overfitting") as bar:
        results = [
            train_ensemble(
                lambda seed: MLP(40, data.num_classes, width=cfg.width, depth=cfg.depth, seed=seed),
                inits,
                sets,
                loss="ce",
                optimizer="adam",
                lr=cfg.lr,
                steps=cfg.steps,
                batch_size=cfg.batch_size,
                log_every=cfg.log_every if cfg.early_stop else cfg.steps,
                progress=bar,
            )
            for sets in runs
        ]
    res = results[-1]
    rows = np.arange(len(members))
    if cfg.early_stop:
        val_acc = results[0].curves["test_acc"].numpy()
        at = np.where(np.isfinite(val_acc).any(1), np.argmax(np.nan_to_num(val_acc, nan=-1.0), 1), -1)
        stop_steps = np.array(res.steps)[at]
    else:
        at = np.full(len(members), -1)
        stop_steps = np.full(len(members), res.steps[-1])
    train_err = (1 - res.curves["train_acc"].numpy()[rows, at]).reshape(len(noises), cfg.seeds)
    test_err = (1 - res.curves["test_acc"].numpy()[rows, at]).reshape(len(noises), cfg.seeds)
    nearest = torch.cdist(data.x_test, members[0].x_train).argmin(1)  # the inputs every member fits
    knn = np.array([float((m.y_train[nearest] != data.y_test).float().mean()) for m in members])
    knn = knn.reshape(len(noises), cfg.seeds).mean(1)
    test = test_err.mean(1)
    slope, r2 = _slope(noises, test)
    knn_slope, _ = _slope(noises, knn)
    pct = [round(100 * p) for p in noises]
    s = {
        "max_train_error": float(np.max(train_err)) if np.isfinite(train_err).all() else math.nan,
        "neural_slope": slope,
        "neural_r2": r2,
        "knn_slope": knn_slope,
        "slope_over_knn": slope / knn_slope if knn_slope > 0 else math.nan,
        "clean_test_error": float(test[0]),
        "noisiest_test_error": float(test[-1]),
        "mean_stop_step": float(np.mean(stop_steps)),
    }
    if cfg.early_stop:  # the two runs must be one trajectory: their training-set curves agree exactly
        s["replay_mismatch"] = float(
            (results[0].curves["train_acc"] - res.curves["train_acc"]).abs().nan_to_num(0.0).max()
        )
    series = {
        "net_test_error": Series(pct, [float(v) for v in test]),
        "net_test_error_lo": Series(pct, [float(v) for v in test_err.min(1)]),
        "net_test_error_hi": Series(pct, [float(v) for v in test_err.max(1)]),
        "net_train_error": Series(pct, [float(v) for v in train_err.mean(1)]),
        "knn_test_error": Series(pct, [float(v) for v in knn]),
    }
    return s, series


def run(cfg: Config, ctx: RunContext) -> Result:
    summary, series = exact_leg(cfg.exact, ctx.stream_seed("exact"))
    if cfg.neural.enabled:
        s, ser = neural_leg(cfg.neural, ctx)
    else:
        s, ser = (
            dict.fromkeys(
                ("max_train_error", "neural_slope", "neural_r2", "knn_slope", "slope_over_knn", "noisiest_test_error"),
                math.nan,
            ),
            {},
        )
    return ctx.result(cfg, {**summary, **s}, {**series, **ser})


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check("exact: measured test MSE/σ² vs E₀(n): worst |ratio − 1|", s["theory_error"], "<=", MAX_THEORY_ERROR),
            Check(
                "power law tempered: |d ln(E − 1)/d ln n|",
                abs(s["power_trend"]),
                "<=",
                MAX_TEMPERED_TREND,
                note="the excess neither falls nor grows",
            ),
            Check("power law tempered: E − 1 at the largest n", s["power_largest_n"] - 1, ">=", MIN_TEMPERED_EXCESS),
            Check("benign spectrum: d ln(E − 1)/d ln n", s["benign_trend"], "<=", MAX_BENIGN_TREND),
            Check("exponential catastrophic: d ln E/d ln n", s["exponential_growth"], ">=", MIN_CATASTROPHIC_GROWTH),
            Check("neural: nets interpolate the noisy labels (max train error)", s["max_train_error"], "<=", FIT_ERROR),
            Check(
                "neural: not catastrophic (top-noise test error)",
                s["noisiest_test_error"],
                "<=",
                MAX_NOISY_TEST_ERROR,
                note="a bound, not a mechanism: the early-stopped control meets it too",
            ),
        )
    )


def figure(result: Result):
    """(a) measured test MSE/σ² against E₀(n) per spectrum; (b) the nets' and 1-NN's test error against noise."""
    cfg = result.config
    fig, ((ax, bx),) = subplots(1, 2, width=4.6)
    s = result.summary
    colors = {"power": PALETTE["train"], "benign": PALETTE["test"], "exponential": PALETTE["accent"]}
    labels = {
        "power": f"$\\lambda_k = k^{{-{cfg.exact.alpha:g}}}$: tempered",
        "benign": "$\\lambda_k = 1/(k \\ln^2 k)$: benign",
        "exponential": f"$\\lambda_k = e^{{-k/{cfg.exact.tau:g}}}$: catastrophic",
    }
    for name in SPECTRA:
        n, meas = result.curve(f"{name}_measured")
        _, th = result.curve(f"{name}_theory")
        ax.plot(n, th, color=colors[name], linestyle="--", linewidth=1)
        ax.plot(n, meas, "o", color=colors[name], label=labels[name])
    ax.plot([], [], "k--", linewidth=1, label="E₀(n), eigenlearning")
    ax.axhline(1, color="k", linewidth=0.6, linestyle=":")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="training points n",
        ylabel="test MSE / σ²",
        title=f"(a) min-norm LS on pure noise{'' if cfg.exact.ridge == 0 else f', ridge {cfg.exact.ridge:g}'}",
    )
    ax.minorticks_off()
    top = max(max(result.curve(f"{name}_measured")[1]) for name in SPECTRA)
    ys = [y for y in (1, 1.5, 2, 3, 5, 10, 20, 50, 100) if y <= 1.2 * top]
    ax.set_yticks(ys, [f"{y:g}" for y in ys])
    ax.set_xlim(0.8 * cfg.exact.sizes[0], 1.2 * cfg.exact.sizes[-1])
    ax.legend(fontsize=7)
    if "net_test_error" in result.series:
        p, test = result.curve("net_test_error")
        p = np.asarray(p, float)
        bx.fill_between(
            p,
            result.curve("net_test_error_lo")[1],
            result.curve("net_test_error_hi")[1],
            color=PALETTE["test"],
            alpha=0.2,
            linewidth=0,
        )
        bx.plot(p, test, "o-", color=PALETTE["test"], label=f"MLP test (slope {s['neural_slope']:.2f})")
        bx.plot(p, result.curve("net_train_error")[1], "s-", color=PALETTE["train"], ms=3, label="MLP train (noisy)")
        bx.plot(p, np.asarray(p) / 100, ":", color=PALETTE["train"], linewidth=0.8, label="flipped share")
        bx.plot(
            p,
            result.curve("knn_test_error")[1],
            "^--",
            color=PALETTE["theory"],
            label=f"1-NN test (slope {s['knn_slope']:.2f})",
        )
        bx.axhline(0.9, color="k", linewidth=0.8, linestyle=":", label="chance (90%)")
        bx.legend(fontsize=7)
    how = "early-stopped (control)" if cfg.neural.early_stop else "trained to interpolation"
    bx.set(xlabel="label noise (%)", ylabel="error", ylim=(-0.02, 1), title=f"(b) MNIST-1D MLP, {how}")
    fig.suptitle("tempered overfitting: the cost of fitting noise depends on the spectrum")
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="tempered-overfitting",
    summary="interpolating noisy labels is benign, tempered or catastrophic depending on the spectrum; nets temper",
    papers=(
        "Mallinar, Simon, Abedsoltan, Pandit, Belkin, Nakkiran 2022 — Benign, tempered, or catastrophic: a "
        "taxonomy of overfitting",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("theory_error", "power_largest_n", "power_trend", "neural_slope", "slope_over_knn"),
    controls=(
        Control(
            "ridge",
            # the ridge acts on the exact leg only; the neural leg, untouched by it, is not retrained for the control
            {"exact.ridge": 0.1, "neural.enabled": False},
            must_fail=("power law tempered: |d", "power law tempered: E"),
            why="a ridge stops the fit interpolating: at the power law the noise cost falls toward 1 as n grows",
        ),
        Control(
            "early-stopped",
            {"neural.early_stop": True},
            must_fail=("neural: nets interpolate",),
            why="nets read at their best held-out (noisy-label) accuracy do not fit the flipped labels; their noise "
            "cost (slope 0.35-0.40) overlaps the interpolating nets' (0.40-0.49), so no slope check is claimed",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread, 9-13 s a run. The thresholds were written down before any calibration run, from the "
        "theory (E0 at n = 25-200: power law 1.96-2.00, benign 1.35-1.23, exponential 1.75-10) and one scratch "
        "run of the neural leg (not a calibration or held-out seed), and were left unchanged. Preset, 10/10 pass: "
        "theory error 0.023-0.069; power-law trend |s| 0.003-0.037, excess at n = 200 0.990-1.009; benign trend "
        "-0.227 to -0.166; exponential growth 0.840-0.860; nets' max train error 0 on every seed; neural slope "
        "0.395-0.491 per unit noise, R² 0.949-0.998, slope / 1-NN slope 0.99-1.25, test error at 30% noise "
        "0.682-0.715 (chance 0.9). Ridge 0.1 (run with neural.enabled=false; the exact leg draws from its own "
        "stream, so its values are those of the declared control): power-law |s| 0.415-0.482 and excess "
        "0.168-0.172, both tempered checks fail 10/10; the exponential growth check fails too (0.142-0.157); the "
        "theory still matches (0.008-0.040). Early-stopped (neural.early_stop=true, seeds 100-104 only: the "
        "control trains every net twice, 20-25 s a run at one thread, 50-60 s wall on the shared cores): max train "
        "error 0.281-0.560, (6) fails 5/5; its exact leg is the preset's and passes. Its noise slope 0.351-0.397 "
        "(preset 0.395-0.491: they overlap), R² 0.884-0.987, slope / 1-NN 0.938-1.028, clean test error "
        "0.596-0.614 (it fits 800 points), test error at 30% noise 0.706-0.720, mean stop step 216-280 of 800. "
        "The first version checked slope >= 0.15, R² >= 0.9 and a 1-NN fold <= 2; the control passes all three "
        "(R² on 4/5), so they do not separate interpolation from its removal and are now reported, not checked; "
        "no threshold was changed."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "tempered-overfitting --calibration`, AVX-512 kernels): all 10 pass and both controls fail 10/10. `observed` "
        "holds these values, the early-stopped control's now on all ten seeds (the ridge control trains nothing and "
        "did not move)."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify tempered-overfitting --calibration`, AVX-512 kernels): every seed "
        "passes and every control fails 10/10; `observed` holds these values.",
        observed={
            "theory_error": (0.04286, 0.02885, 0.02331, 0.03234, 0.06353, 0.0449, 0.03293, 0.02457, 0.06892, 0.03855),
            "power_trend": (
                0.003066,
                -0.01298,
                0.009747,
                0.01116,
                -0.006574,
                -0.009762,
                0.009925,
                0.02311,
                -0.03703,
                0.007382,
            ),
            "power_largest_n": (1.999, 1.99, 1.996, 1.992, 1.992, 2.008, 1.992, 1.993, 2.001, 2.001),
            "benign_trend": (-0.1784, -0.2003, -0.1917, -0.1906, -0.1965, -0.1659, -0.1714, -0.1929, -0.2175, -0.2265),
            "exponential_growth": (0.8595, 0.8464, 0.8514, 0.8474, 0.8594, 0.8554, 0.8396, 0.8435, 0.8404, 0.8602),
            "neural_slope": (0.476, 0.4938, 0.3967, 0.3963, 0.451, 0.4843, 0.4725, 0.4358, 0.4506, 0.4295),
            "neural_r2": (0.9844, 0.9889, 0.957, 0.9727, 0.9893, 0.9973, 0.9809, 0.9526, 0.9852, 0.9739),
            "slope_over_knn": (1.136, 1.246, 0.9905, 1.043, 1.112, 1.243, 1.212, 1.139, 1.087, 0.9942),
            "noisiest_test_error": (0.704, 0.698, 0.696, 0.6873, 0.7025, 0.715, 0.7013, 0.6828, 0.702, 0.6935),
            "control_power_trend": (
                -0.4456,
                -0.4483,
                -0.4313,
                -0.4333,
                -0.4388,
                -0.4331,
                -0.4323,
                -0.415,
                -0.4824,
                -0.4484,
            ),
            "early_stopped_max_train_error": (
                0.5088,
                0.2812,
                0.5437,
                0.4163,
                0.56,
                0.3725,
                0.5488,
                0.325,
                0.355,
                0.4263,
            ),
            "early_stopped_neural_slope": (
                0.3973,
                0.3656,
                0.3777,
                0.3696,
                0.3379,
                0.3488,
                0.3754,
                0.3604,
                0.381,
                0.3217,
            ),
            "early_stopped_neural_r2": (0.9171, 0.9825, 0.8788, 0.9649, 0.9565, 0.9532, 0.9189, 0.9657, 0.9514, 0.9839),
            "early_stopped_slope_over_knn": (
                1.017,
                0.9811,
                0.9736,
                1.035,
                0.9032,
                0.9464,
                0.9975,
                1.009,
                0.9783,
                0.8163,
            ),
            "early_stopped_noisiest_test_error": (
                0.7102,
                0.7077,
                0.704,
                0.7127,
                0.7195,
                0.7113,
                0.6953,
                0.6997,
                0.7163,
                0.712,
            ),
            "control_power_largest_n": (
                1.1698,
                1.1689,
                1.1699,
                1.1688,
                1.1678,
                1.1717,
                1.1705,
                1.1707,
                1.1713,
                1.1711,
            ),
        },
    ),
)
