"""Scaling laws: test loss falls as a power law in model size and in data, L = L∞ + A·N^−α, and the fit on the
smaller sizes predicts the larger ones; in kernel regression theory fixes the data exponent.

Kaplan et al. (2020) found the test loss of language models falling as a power law in parameters N and data D
over many decades; Hoffmann et al. (2022, "Chinchilla") fitted L(N, D) = E + A/N^α + B/D^β to 400 runs and derived
the compute-optimal allocation; Epoch AI's replication (Besiroglu et al. 2024) refitted the points read off their
figure (:mod:`phenomena.analysis.scaling` reproduces that refit). Bahri, Dyer, Kaplan, Lee & Sharma (2021,
"Explaining neural scaling laws") separate a *resolution-limited* regime (the model or the data resolve the task
ever more finely: a power law with a non-trivial exponent) from a *variance-limited* one (one resource is
saturated: the other brings only finite-size corrections). For kernel regression the data exponent is known:
with eigenvalues λ_k ∝ k^−a and target power v_k² ∝ k^−b (Bordelon, Canatar & Pehlevan 2020; Spigler, Geiger &
Wyart 2020; Cui, Loureiro, Krzakala & Zdeborová 2021; Simon et al. 2023) the ridgeless test error falls as
n^−(b−1) for 1 < b < 2a + 1 (modes k ≲ n are learned, κ ∝ n^−a, the rest are missed: Σ_{k>n} k^−b ∝ n^{1−b}),
saturating at n^−2a beyond (:func:`~phenomena.kernels.learning_curves.learning_curve_exponent`). A fixed ridge δ
changes the law: κ ≈ δ/n, only the modes with λ_k ≳ δ/n are learned, and the exponent becomes (b − 1)/a.

Exact leg (``exact``): Gaussian features z ~ N(0, diag λ), λ_k = k^−a (a = 2) over M = ``modes`` modes, target
f = Σ_k v_k z_k/√λ_k with v_k² = k^−b (b = 2.5: theory exponent 1.5), ridgeless kernel regression on n points
f̂(x) = z(x)ᵀZᵀ(ZZᵀ + δI)⁻¹y. The modes past M act as a ridge (their eigenvalue sum) and as label noise (their target
power), as in :mod:`phenomena.kernels.eigenlearning`; the test MSE is computed in closed form over the test point
and that noise (:func:`~phenomena.kernels.learning_curves.kernel_regression_risk`), on drawn training inputs
(``trials`` draws per n), and compared with :func:`~phenomena.kernels.eigenlearning.eigenlearning_predict`. The
measured curve is fitted with :func:`~phenomena.analysis.scaling.fit_scaling_law` and its α compared with b − 1.

Neural legs: MNIST-1D (10,000 examples: 8,000 train, 2,000 held out), ReLU MLPs with two hidden layers trained
with Adam (lr 3·10⁻³, batch 100, 1200 steps), five seeds per size; each net's loss is its best held-out
cross-entropy along training (logged every 150 steps: early stopping on the held-out set, which is what "trained
to convergence, best validation loss" means here; slightly optimistic as a test loss, equally at every size).
Width sweep (``width``): 12 log-spaced widths 4-48 (N = 234-4810 parameters) on all 8,000 examples. Data sweep
(``data``): width 48, n = 250-8000 training examples; each member's training set is its first n examples tiled to
8,000 rows (an epoch of the tiled set visits each example 8000/n times; a batch may repeat an example). All 90 nets
train in one vectorized :func:`~phenomena.training.train_ensemble`: the width members are width-48 MLPs whose units
past their width are dead (zero in and out weights: ReLU'(0) = 0 keeps them at zero, so each trains exactly as an
MLP of its own width; :func:`~phenomena.models.masked_mlp.masked_mlp`, tested against the narrow MLP). Each sweep's
mean loss is fitted with L∞ + A·x^−α; a percentile bootstrap over the sweep's points gives the 95% interval of α
(:func:`~phenomena.analysis.scaling.bootstrap_fit`), and :func:`~phenomena.analysis.scaling.extrapolation_error`
fits the smaller half (6 widths, 4 data sizes) and predicts the larger half.

Verdict (thresholds in the constants below, set on calibration seeds; non-finite values fail): exact (1) measured
test MSE within :data:`MAX_THEORY_ERROR` of eigenlearning at every n; (2) the fitted exponent within
:data:`MAX_EXPONENT_ERROR` of b − 1. For each of the width and data sweeps: (3) the bootstrap interval of α lies
above 0 (its lower end ≥ :data:`MIN_ALPHA_LOW`); (4) the loss really falls: L(smallest)/L(largest) ≥
:data:`MIN_LOSS_DROP`; (5) the fit on the smaller half predicts each larger point within :data:`MAX_EXTRAPOLATION`
(relative).

Controls. "tiny data": the width sweep on 100 training examples (variance-limited in data: the early-stopped loss
no longer falls with width); the width law's checks (3, 4) fail on the measured losses. It trains no data sweep
(``data.enabled=false``): its checks read the width law alone, and the width members, stacked first in the ensemble,
train bit for bit as beside the data members (seeds 0 and 100: every width value the same). "ridge": δ = 1 in the
exact leg: the measured error still matches eigenlearning, but the exponent falls toward (b − 1)/a = 0.75, so the
exponent check (2) fails.

The real-world example of the fitter: with ``chinchilla.path`` naming Epoch AI's 245 points
(``chinchilla_svg_extracted.csv``, columns ``Model Size``, ``Training FLOP``, ``loss``; D = C/6N; the 5 highest
losses dropped as Epoch do), the 2-D law is fitted and shown in the figure's last panel (Epoch's refit: E = 1.82,
A = 478, B = 2144, α = 0.347, β = 0.367). The default is empty: the panel is skipped, the file is never needed, and
nothing in the verdict depends on it.

Calibration (seeds 100-109, quick, one thread, 21-56 s a run on 2 shared cores, 26 s alone; ``ENTRY.calibration``):
thresholds written down before the first calibration and never moved: exact theory error 0.052-0.126 and
|α − 1.5| ≤ 0.031 (10/10 each); width law α 0.16-0.25, interval lower end 0.157-0.177, drop 1.64-1.76 (10/10 each),
half-fit extrapolation 0.021-0.218 (9/10: seed 109 fails at 0.218); data law α 0.26-0.33, lower end 0.249-0.271,
drop 2.46-2.59, extrapolation 0.009-0.108 (10/10 each). Tiny data (seeds 100-109): drop 0.911-0.983 (the loss
*rises* with width), α's lower end −1.11 to −0.019: both width-law checks fail 10/10. Ridge 1 (seeds 100-109): fitted
α 0.82-0.94 (|α − 1.5| 0.556-0.678, fails 10/10) while the theory error stays 0.035-0.135.

Settings that failed, and what changed (all on calibration seeds or scratch runs, never on 0-2): a one-hidden-
layer MLP saturated at width 32 (loss 1.15 from width 32 to 512 on 4,000 examples: no law to fit), so two hidden
layers; with two seeds per size the 4-point half fits bent over (extrapolation errors 0.19 width, 0.29 data), so
three seeds; the data sweep's smallest size, 125, sat at the initial loss ln 10 (the early-stopped minimum was
step 0), so the sweep starts at 250; with 6 draws at every n the exact leg's smallest sizes scattered (theory error
0.38 on seed 104), so small n get more draws (:func:`draws`).

The width law's half fit, what failed and what changed. The first design (widths 4, 6, 8, 12, 16, 24, 32, 48, three
seeds per size: the half fit on 4 widths) passed every check on seeds 100-104 (width extrapolation 0.091, 0.085,
0.094, 0.139, 0.031) but held out on 2 of 3 seeds: 0.051, 0.105, 0.229 on seeds 0-2; seeds 105-109, run afterwards
for its spread, gave 0.318, 0.098, 0.170, 0.073, 0.074. Diagnosis: 4 noisy points behind a 3-parameter law, a
precision problem, so the sweep was made denser rather than the threshold moved. 12 log-spaced widths with three
seeds (half fit on 6 widths) lowered the typical error but not the tail, on seeds 100-109: 0.049, 0.059, 0.054,
0.257, 0.381, 0.082, 0.065, 0.058, 0.372, 0.078 (3/10 fail). In each failure the half fit put L∞ at 1.19-1.32, just
under the half's own losses, with α 1.0-1.5 (a curve about to saturate), where the passing fits have L∞ 0-0.4 and
α 0.15-0.26 and the full sweep's fit has L∞ near 0: over the half's factor 3.4 in N, L∞ and α are nearly
degenerate, and a wobble of a few hundredths in the mean losses decides between them. Five seeds per size (the mean
loss's noise down by √(5/3); 90 nets in the ensemble) then gave the values above: 0.042, 0.148, 0.023, 0.093, 0.021,
0.024, 0.038, 0.028, 0.084, 0.218; the one failure (seed 109, 0.078 with three seeds) is the same mechanism (half
fit L∞ 1.11, α 0.76), and seed 101 (0.148) is close to it (L∞ 0.98). The check is still the entry's fragile part.

Held-out verification (seeds 0-2, ``phenomena verify scaling-laws --seeds 3 -x serial``, fresh store, this design):
the verdict holds on 3 of 3 seeds, every check 3/3; width extrapolation 0.063, 0.157, 0.029 (the first design's
0.051, 0.105, 0.229), data extrapolation 0.049-0.068, exact α 1.49-1.53; tiny data fails its checks 3/3 (drop
0.943-0.949, lower end −0.043 to −0.026) and ridge 1 fails 3/3 (α 0.83-0.85). Runs took about 20 s each there.

``smoke`` (2,000 MNIST-1D examples, 100 steps, one seed; 4 exact sizes, one draw) checks the code path only.
``full`` (not a published setting) trains longer with more seeds and draws.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

from phenomena.analysis.scaling import bootstrap_fit, extrapolation_error, fit_chinchilla, fit_scaling_law
from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data.mnist1d import mnist1d
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.kernels.eigenlearning import eigenlearning_predict
from phenomena.kernels.learning_curves import kernel_regression_risk, learning_curve_exponent, power_law_problem
from phenomena.models.masked_mlp import masked_mlp, mlp_parameters
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.ensemble import train_ensemble

# Written down from the theory and scratch runs before calibration; confirmed on seeds 100-104 (ENTRY.calibration).
MAX_THEORY_ERROR = 0.35  # |measured / eigenlearning − 1|, worst n (a few draws: the small-n points fluctuate)
MAX_EXPONENT_ERROR = 0.25  # |fitted α − (b − 1)| in the exact leg
MIN_ALPHA_LOW = 0.02  # lower end of α's 95% bootstrap interval
MIN_LOSS_DROP = 1.3  # L(smallest size) / L(largest size)
MAX_EXTRAPOLATION = 0.2  # |predicted / measured − 1| on the larger half, fit on the smaller half
SWEEPS = ("width", "data")
#: L-BFGS-B starts of the neural sweeps' fits (cross-entropies of order 1): 4 of the default grid's 24 starts; on the
#: scratch sweeps they reach the default grid's minimum (same objective to 1e-15) at a seventh of the cost.
NEURAL_GRID = {"a": (0.0, 5.0), "e": (-2.0, 0.0), "alpha": (0.5,)}


@config
class Exact:
    modes: int = field(3000, at_least(10), help="Gaussian feature modes M (the rest act as a ridge and as noise)")
    sizes: tuple[int, ...] = field((20, 40, 80, 160, 320, 640), positive, help="training sizes n (≥ 4), < modes")
    trials: int = field(6, positive, help="draws of the training inputs at the largest n (more at smaller n: draws())")
    a: float = field(2.0, between(1, math.inf, "()"), help="spectrum exponent: λ_k = k^-a")
    b: float = field(2.5, between(1, math.inf, "()"), help="target exponent: v_k² = k^-b (theory: error ∝ n^-(b-1))")
    ridge: float = field(0.0, at_least(0), help="ridge δ added to Z Zᵀ (0: ridgeless, the theory's case)")

    def __post_init__(self):
        require(len(self.sizes) >= 4, f"exact.sizes needs at least 4 sizes (a 3-parameter fit); got {self.sizes}")
        require(all(x < y for x, y in zip(self.sizes, self.sizes[1:], strict=False)), "exact.sizes must increase")
        require(self.sizes[-1] < self.modes, f"exact.sizes must stay below exact.modes ({self.modes})")


@config
class Neural:
    enabled: bool = field(True, help="run the MNIST-1D legs (off: their checks are unmeasured and fail)")
    num_samples: int = field(10_000, at_least(20), help="MNIST-1D examples generated (train + held out)")
    train_split: float = field(0.8, between(0, 1), help="training fraction")
    depth: int = field(2, positive, help="hidden layers")
    steps: int = field(1200, positive, help="Adam steps per net")
    lr: float = field(3e-3, positive, help="Adam learning rate")
    batch_size: int = field(100, positive, help="examples per step")
    log_every: int = field(150, positive, help="steps between held-out evaluations (the best is kept)")
    seeds: int = field(5, positive, help="nets per size (own initialization and batches)")
    resamples: int = field(100, at_least(10), help="bootstrap resamples of each sweep's fit")


@config
class Width:
    widths: tuple[int, ...] = field(
        (4, 5, 6, 8, 10, 12, 16, 19, 24, 31, 38, 48), positive, help="hidden widths, increasing (log-spaced)"
    )
    train_size: int = field(0, at_least(0), help="training examples used (0: all); the tiny-data control sets 100")

    def __post_init__(self):
        require(len(self.widths) >= 6, "width.widths needs at least 6 widths (4 to fit, 2 to predict)")
        require(all(x < y for x, y in zip(self.widths, self.widths[1:], strict=False)), "width.widths must increase")


@config
class DataSweep:
    sizes: tuple[int, ...] = field((250, 500, 1000, 2000, 4000, 8000), positive, help="training sizes n")
    width: int = field(48, positive, help="hidden width of the data sweep's nets")
    enabled: bool = field(
        True,
        help="train the data sweep (off: its law is unmeasured; the width sweep's members are trained as with it, "
        "for a run whose checks read the width law alone, e.g. the tiny-data control)",
    )

    def __post_init__(self):
        require(len(self.sizes) >= 6, "data.sizes needs at least 6 sizes (4 to fit, 2 to predict)")
        require(all(x < y for x, y in zip(self.sizes, self.sizes[1:], strict=False)), "data.sizes must increase")


@config
class Chinchilla:
    path: str = field("", help="Epoch AI's chinchilla_svg_extracted.csv, shown as the fitter's real example ('': skip)")


@config
class Config:
    exact: Exact = Exact()
    neural: Neural = Neural()
    width: Width = Width()
    data: DataSweep = DataSweep()
    chinchilla: Chinchilla = Chinchilla()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(
        exact=Exact(modes=500, sizes=(10, 20, 40, 80), trials=1),
        neural=Neural(num_samples=2000, steps=100, log_every=50, seeds=1, resamples=10),
        width=Width(widths=(4, 8, 16, 24, 32, 48)),
        data=DataSweep(sizes=(25, 50, 100, 200, 400, 1600), width=32),
    ),
    "quick": Config(),
    # not a published setting: more draws, longer training, more seeds
    "full": Config(
        exact=Exact(modes=8000, sizes=(25, 50, 100, 200, 400, 800, 1600), trials=16),
        neural=Neural(steps=3000, seeds=6, resamples=1000),
    ),  # fmt: skip
}
COSTS = {"smoke": "~5 s", "quick": "~30 s", "full": "~8 min"}


def draws(cfg: Exact, n: int) -> int:
    """Draws of the training inputs averaged at size n: ``trials`` at the largest n and more at smaller n,
    trials·max(n)/(4n) (the risk's spread over draws is widest where few modes are learned; small draws are cheap)."""
    return max(cfg.trials, math.ceil(cfg.trials * cfg.sizes[-1] / (4 * n)))


def exact_leg(cfg: Exact, seed: int) -> tuple[dict[str, float], dict[str, Series]]:
    rng = np.random.default_rng(seed)
    lam, v, tail, tail_power = power_law_problem(cfg.modes, cfg.a, cfg.b)
    ridge = tail + cfg.ridge
    ns = list(cfg.sizes)
    measured = np.array(
        [np.mean([kernel_regression_risk(lam, v, n, rng, ridge, tail_power) for _ in range(draws(cfg, n))]) for n in ns]
    )
    theory = np.array([eigenlearning_predict(lam, n, v, noise_variance=tail_power, ridge=ridge).test_mse for n in ns])
    fit = fit_scaling_law(ns, measured)
    theory_fit = fit_scaling_law(ns, theory)
    s = {
        "exact_theory_error": float(np.max(np.abs(measured / theory - 1))),
        "exact_alpha": fit.alpha,
        "exact_alpha_theory": learning_curve_exponent(cfg.a, cfg.b),
        "exact_alpha_eigenlearning": theory_fit.alpha,
        "exact_l_inf": fit.l_inf,
        "exact_A": fit.A,
    }
    s["exact_alpha_error"] = abs(s["exact_alpha"] - s["exact_alpha_theory"])
    series = {
        "exact_measured": Series(ns, [float(x) for x in measured]),
        "exact_theory": Series(ns, [float(x) for x in theory]),
    }
    return s, series


def _cut_index(points: int) -> int:
    """The index of the largest size in the "smaller half" fit: half the points, at least 4 (a 3-parameter fit)."""
    return max(points // 2, 4) - 1


def _tiled(data, n: int):
    """The data set with its training set replaced by its first ``n`` examples tiled to the full length."""
    total = len(data.y_train)
    idx = np.arange(total) % n
    return dataclasses.replace(data, x_train=data.x_train[idx], y_train=data.y_train[idx])


def _best_losses(res, members: int) -> np.ndarray:
    loss = res.curves["test_loss"].numpy()
    with np.errstate(all="ignore"):
        best = np.array([np.nanmin(row) if np.isfinite(row).any() else math.nan for row in loss])
    return best.reshape(members, -1)


def _law(x: np.ndarray, loss: np.ndarray, cfg: Neural, seed: int, name: str) -> tuple[dict[str, float], dict]:
    """Fit, bootstrap and extrapolate one sweep's mean losses (nan everywhere if a loss is not finite)."""
    nan = dict.fromkeys(
        (f"{name}_alpha", f"{name}_alpha_low", f"{name}_alpha_high", f"{name}_l_inf", f"{name}_A"), math.nan
    )
    out = {**nan, f"{name}_drop": float(loss[0] / loss[-1]), f"{name}_extrapolation_error": math.nan}
    if not (np.isfinite(loss).all() and (loss > 0).all()):
        out[f"{name}_drop"] = math.nan
        return out, {}
    boot = bootstrap_fit(x, loss, resamples=cfg.resamples, seed=seed, grid=NEURAL_GRID)
    ext = extrapolation_error(x, loss, cut=float(x[_cut_index(len(x))]), grid=NEURAL_GRID)
    out.update(
        {
            f"{name}_alpha": boot.fit.alpha,
            f"{name}_alpha_low": boot.intervals["alpha"][0],
            f"{name}_alpha_high": boot.intervals["alpha"][1],
            f"{name}_l_inf": boot.fit.l_inf,
            f"{name}_A": boot.fit.A,
            f"{name}_extrapolation_error": ext.max_abs_error,
        }
    )
    # the band: pointwise 2.5-97.5% of the bootstrap laws over a fine grid
    grid = np.geomspace(x[0], x[-1], 40)
    laws = boot.samples["l_inf"][:, None] + boot.samples["A"][:, None] * grid[None] ** -boot.samples["alpha"][:, None]
    lo, hi = np.nanquantile(laws, [0.025, 0.975], axis=0)
    series = {
        f"{name}_fit": Series(grid.tolist(), boot.fit.predict(grid).tolist()),
        f"{name}_band_lo": Series(grid.tolist(), lo.tolist()),
        f"{name}_band_hi": Series(grid.tolist(), hi.tolist()),
        f"{name}_half_fit": Series(grid.tolist(), ext.fit.predict(grid).tolist()),
    }
    return out, series


def neural_legs(cfg: Config, ctx: RunContext) -> tuple[dict[str, float], dict[str, Series]]:
    """Both sweeps in one vectorized ensemble: the width members are masked MLPs of the largest width (exactly
    equivalent to their own width, :func:`~phenomena.models.masked_mlp.masked_mlp`), the data members train on tiled
    subsets."""
    nc = cfg.neural
    data = mnist1d(nc.num_samples, nc.train_split, cache_dir=ctx.cache)
    total = len(data.y_train)
    require(cfg.width.train_size <= total, f"width.train_size ({cfg.width.train_size}) exceeds the training set")
    require(cfg.data.sizes[-1] <= total, f"data.sizes must not exceed the training set ({total})")
    widths, sizes = list(cfg.width.widths), list(cfg.data.sizes) if cfg.data.enabled else []
    max_width = max(widths[-1], cfg.data.width)  # with the data sweep off too: the width members stay as they are
    width_data = _tiled(data, cfg.width.train_size) if cfg.width.train_size else data
    live = [w for w in widths for _ in range(nc.seeds)] + [cfg.data.width] * (len(sizes) * nc.seeds)
    members = [width_data] * (len(widths) * nc.seeds) + [_tiled(data, n) for n in sizes for _ in range(nc.seeds)]
    base = ctx.stream_seed("init") % 2**40
    seeds = [base + m for m in range(len(members))]
    width_of = dict(zip(seeds, live, strict=True))
    with ctx.progress(nc.steps * len(members), desc="scaling laws") as bar:
        res = train_ensemble(
            lambda sd: masked_mlp(width_of[sd], max_width, nc.depth, sd, data.x_train.shape[1], data.num_classes),
            seeds,
            members,
            loss="ce",
            optimizer="adam",
            lr=nc.lr,
            steps=nc.steps,
            batch_size=nc.batch_size,
            log_every=nc.log_every,
            progress=bar,
            evaluate=("test",),  # the best held-out loss is all that is read
        )
    best = _best_losses(res, len(widths) + len(sizes))
    s, series = {}, {}
    params = np.array([mlp_parameters(w, nc.depth, data.x_train.shape[1], data.num_classes) for w in widths], float)
    sweeps = (("width", params, best[: len(widths)]), ("data", np.array(sizes, float), best[len(widths) :]))
    if not cfg.data.enabled:
        s.update(_unmeasured("data"))
        sweeps = sweeps[:1]
    for name, x, per_seed in sweeps:
        mean = per_seed.mean(1)
        out, ser = _law(x, mean, nc, ctx.stream_seed(f"bootstrap-{name}"), name)
        s.update(out)
        series.update(ser)
        series[f"{name}_loss"] = Series(x.tolist(), mean.tolist())
        series[f"{name}_loss_lo"] = Series(x.tolist(), per_seed.min(1).tolist())
        series[f"{name}_loss_hi"] = Series(x.tolist(), per_seed.max(1).tolist())
    return s, series


def load_chinchilla(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch AI's points (N, D = C/6N, loss) from ``chinchilla_svg_extracted.csv``, with the 5 highest losses dropped
    as Epoch's notebook does (245 → 240 points)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    keep = loss < np.sort(loss)[-5]
    return n[keep], c[keep] / (6 * n[keep]), loss[keep]


def chinchilla_leg(path: str) -> tuple[dict[str, float], dict[str, Series]]:
    if not path:
        return {}, {}
    if not Path(path).exists():
        raise UserError(f"chinchilla.path: no file at {path} (leave it empty to skip the Chinchilla panel)")
    n, d, loss = load_chinchilla(path)
    fit = fit_chinchilla(n, d, loss)
    s = {f"chinchilla_{k}": v for k, v in fit.params().items()}
    s["chinchilla_a"] = fit.allocation_exponents[0]
    order = np.argsort(n)
    series = {
        "chinchilla_loss": Series(n[order].tolist(), loss[order].tolist()),
        "chinchilla_tokens": Series(n[order].tolist(), d[order].tolist()),
        "chinchilla_predicted": Series(n[order].tolist(), fit.predict(n[order], d[order]).tolist()),
    }
    return s, series


def _unmeasured(sweep: str) -> dict[str, float]:
    """The summary keys the verdict reads of a sweep that did not run, all nan."""
    return {f"{sweep}_{key}": math.nan for key in ("alpha", "alpha_low", "alpha_high", "drop", "extrapolation_error")}


def run(cfg: Config, ctx: RunContext) -> Result:
    summary, series = exact_leg(cfg.exact, ctx.stream_seed("exact"))
    if cfg.neural.enabled:
        s, ser = neural_legs(cfg, ctx)
        summary.update(s)
        series.update(ser)
    else:
        for name in SWEEPS:
            summary.update(_unmeasured(name))
    s, ser = chinchilla_leg(cfg.chinchilla.path)
    return ctx.result(cfg, {**summary, **s}, {**series, **ser})


def verdict(result: Result) -> Verdict:
    s = result.summary
    checks = [
        Check(
            "exact: measured test MSE vs eigenlearning, worst |ratio − 1|",
            s["exact_theory_error"],
            "<=",
            MAX_THEORY_ERROR,
        ),  # fmt: skip
        Check(
            "exact: fitted exponent matches theory, |α − (b − 1)|",
            s["exact_alpha_error"],
            "<=",
            MAX_EXPONENT_ERROR,
            note=f"theory {s['exact_alpha_theory']:.2f}, fitted {s['exact_alpha']:.2f}",
        ),
    ]
    for name, what in (("width", "parameters N"), ("data", "training examples D")):
        checks += [
            Check(f"{name} law: α's 95% interval above 0 (lower end)", s[f"{name}_alpha_low"], ">=", MIN_ALPHA_LOW),
            Check(f"{name} law: the loss falls over the sweep, L(min)/L(max)", s[f"{name}_drop"], ">=", MIN_LOSS_DROP),
            Check(
                f"{name} law: the smaller half's fit predicts the larger {what}, worst |relative error|",
                s[f"{name}_extrapolation_error"],
                "<=",
                MAX_EXTRAPOLATION,
            ),
        ]
    return Verdict(tuple(checks))


def _sweep_panel(ax, result: Result, name: str, xlabel: str, title: str):
    s = result.summary
    if f"{name}_loss" not in result.series:
        ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center")
        return
    x, mean = result.curve(f"{name}_loss")
    ax.fill_between(
        x, result.curve(f"{name}_loss_lo")[1], result.curve(f"{name}_loss_hi")[1], color=PALETTE["test"], alpha=0.2
    )
    ax.plot(x, mean, "o", color=PALETTE["test"], label="best held-out loss (mean over seeds)")
    if f"{name}_fit" in result.series:
        g, fit = result.curve(f"{name}_fit")
        ax.fill_between(
            g,
            result.curve(f"{name}_band_lo")[1],
            result.curve(f"{name}_band_hi")[1],
            color=PALETTE["theory"],
            alpha=0.15,
            linewidth=0,
        )
        lo, hi = s[f"{name}_alpha_low"], s[f"{name}_alpha_high"]
        label = f"L∞ + A·x^-α, α = {s[f'{name}_alpha']:.2f} [{lo:.2f}, {hi:.2f}]"
        ax.plot(g, fit, "-", color=PALETTE["theory"], label=label)
        ax.plot(
            g,
            result.curve(f"{name}_half_fit")[1],
            ":",
            color=PALETTE["accent"],
            label=f"fit on smaller half (worst error {s[f'{name}_extrapolation_error']:.0%})",
        )
        ax.axvline(x[_cut_index(len(x))], color="k", linewidth=0.5, linestyle=":")
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="cross-entropy", title=title)
    ax.legend(fontsize=7)


def figure(result: Result):
    """(a) width sweep, (b) data sweep, both with the law, its bootstrap band and the half fit; (c) the exact leg
    against eigenlearning; (d) the Chinchilla points and the 2-D fit, when ``chinchilla.path`` was given."""
    cfg, s = result.config, result.summary
    chin = "chinchilla_loss" in result.series
    fig, axes = subplots(1, 4 if chin else 3, width=4.2)
    ax, bx, cx = axes[0][:3]
    tiny = f", {cfg.width.train_size} train" if cfg.width.train_size else ""
    _sweep_panel(ax, result, "width", "parameters N", f"(a) MNIST-1D width sweep{tiny}")
    _sweep_panel(bx, result, "data", "training examples D", f"(b) MNIST-1D data sweep, width {cfg.data.width}")
    n, meas = result.curve("exact_measured")
    _, th = result.curve("exact_theory")
    n = np.asarray(n, float)
    cx.plot(n, th, "--", color=PALETTE["theory"], label="eigenlearning prediction")
    cx.plot(n, meas, "o", color=PALETTE["train"], label=f"measured (fit α = {s['exact_alpha']:.2f})")
    gamma = s["exact_alpha_theory"]
    cx.plot(n, th[0] * (n / n[0]) ** -gamma, ":", color="k", linewidth=1, label=f"∝ n^-{gamma:g} (theory)")
    ridge = "" if cfg.exact.ridge == 0 else f", ridge {cfg.exact.ridge:g}"
    cx.set(xscale="log", yscale="log", xlabel="training points n", ylabel="test MSE",
           title=f"(c) kernel regression, λ_k = k^-{cfg.exact.a:g}, v_k² = k^-{cfg.exact.b:g}{ridge}")  # fmt: skip
    cx.legend(fontsize=7)
    if chin:
        dx = axes[0][3]
        nn, loss = result.curve("chinchilla_loss")
        _, pred = result.curve("chinchilla_predicted")
        _, tokens = result.curve("chinchilla_tokens")
        sc = dx.scatter(nn, loss, c=np.log10(tokens), s=8, cmap="viridis", label="Epoch's Chinchilla points")
        dx.scatter(nn, pred, s=6, marker="+", linewidths=0.6, color="k", label="2-D fit E + A/N^α + B/D^β")
        fig.colorbar(sc, ax=dx, label="log10 tokens D")
        dx.set(xscale="log", xlabel="parameters N", ylabel="loss",
               title=f"(d) Chinchilla: α = {s['chinchilla_alpha']:.3f}, β = {s['chinchilla_beta']:.3f}")  # fmt: skip
        dx.set_xlim(2e7, 4e10)  # over three decades: the report keeps power-of-ten labels (1-2-5 ones crowd here)
        dx.legend(fontsize=7)
    fig.suptitle("scaling laws: loss falls as a power law in model size and data; kernel theory fixes the exponent")
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="scaling-laws",
    summary="test loss falls as a power law in model size and data; the small-size fit predicts the large sizes",
    papers=(
        "Kaplan et al. 2020 — Scaling laws for neural language models",
        "Hoffmann et al. 2022 — Training compute-optimal large language models",
        "Bahri, Dyer, Kaplan, Lee, Sharma 2021 — Explaining neural scaling laws",
        "Bordelon, Canatar, Pehlevan 2020 — Spectrum dependent learning curves in kernel regression",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("exact_alpha", "width_alpha", "data_alpha", "width_extrapolation_error"),
    controls=(
        Control(
            "tiny data",
            # its checks read the width law alone: the data sweep is not trained (data.enabled=false)
            {"width.train_size": 100, "data.enabled": False},
            must_fail=("width law: α's", "width law: the loss falls"),
            why="with 100 training examples the data are the bottleneck (variance-limited): width stops helping",
        ),
        Control(
            "ridge",
            {"exact.ridge": 1.0, "neural.enabled": False},
            must_fail=("exact: fitted exponent",),
            why="a fixed ridge makes κ ≈ δ/n: fewer modes are learned and the exponent falls toward (b − 1)/a",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread, 21-56 s a run (2 shared cores; 26 s on a quiet machine). Thresholds written down "
        "before the first calibration and never moved. Preset on seeds 100-109: every check 10/10 except the width "
        "law's half-fit extrapolation, 9/10 (0.021-0.218; seed 109 fails); exact theory error 0.052-0.126, |α − 1.5| "
        "0.000-0.031; width law α 0.16-0.25, 95% lower end 0.157-0.177, drop 1.64-1.76; data law α 0.26-0.33, lower "
        "end 0.249-0.271, drop 2.46-2.59, extrapolation 0.009-0.108. Tiny data (width.train_size=100): drop "
        "0.911-0.983 and lower end -1.11 to -0.019, both width-law checks fail 10/10 (extrapolation error is not "
        "claimed: 0.09 to 397 on 100-104). Ridge 1 (neural off; the exact leg has its own stream): fitted α "
        "0.82-0.94, exponent error 0.556-0.678, fails 10/10; theory error 0.035-0.135. What failed before: the "
        "first design (8 widths 4-48, three seeds per size, the half fit on 4 widths) passed 5/5 on seeds 100-104 "
        "but held out 2/3 (width extrapolation 0.051, 0.105, 0.229 on seeds 0-2; 0.318, 0.098, 0.170, 0.073, 0.074 "
        "on seeds 105-109): a 4-point 3-parameter half fit. 12 log-spaced widths with three seeds: 3/10 fail on "
        "100-109 (0.257, 0.381, 0.372; the half fit snaps to L∞ 1.2-1.3, α 1.0-1.5: L∞ and α are nearly degenerate "
        "over the half's factor 3.4 in N). 12 widths with five seeds (the design now): 9/10, held out 3/3 (0.063, "
        "0.157, 0.029). Before the exact leg drew more inputs at small n, seed 104's theory error was 0.379."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "scaling-laws --calibration`, AVX-512 kernels): 9 of 10 pass, as before (seed 109's width extrapolation error "
        "0.2175, was 0.2176), and both controls fail 10/10. `observed` holds these values (the old_* ones are the "
        "earlier designs', kept)."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify scaling-laws --calibration`, AVX-512 kernels): as before, the verdict "
        "holds on 9 of 10 (seed 109's width-law half-fit extrapolation error is 0.217, 0.218 before; 0.2 allowed), "
        "and every control fails 10/10; `observed` holds these values.",
        observed={
            "exact_theory_error": (
                0.1263,
                0.05193,
                0.1138,
                0.1138,
                0.1221,
                0.09311,
                0.05978,
                0.08156,
                0.05591,
                0.08664,
            ),
            "exact_alpha": (1.5, 1.515, 1.507, 1.527, 1.531, 1.518, 1.5, 1.49, 1.496, 1.476),
            "width_alpha": (0.1876, 0.1827, 0.2521, 0.1849, 0.1776, 0.1726, 0.2013, 0.1642, 0.1767, 0.1768),
            "width_alpha_low": (0.1567, 0.1772, 0.1659, 0.1674, 0.1708, 0.1652, 0.1688, 0.1606, 0.1683, 0.1683),
            "width_drop": (1.66, 1.759, 1.71, 1.698, 1.696, 1.677, 1.683, 1.635, 1.698, 1.704),
            "width_extrapolation_error": (
                0.04177,
                0.1478,
                0.02321,
                0.09309,
                0.02088,
                0.02304,
                0.03775,
                0.02734,
                0.0835,
                0.2169,
            ),
            "data_alpha": (0.2941, 0.2651, 0.3128, 0.267, 0.2629, 0.2976, 0.2726, 0.271, 0.3242, 0.2576),
            "data_alpha_low": (0.2646, 0.2493, 0.2594, 0.2588, 0.2538, 0.2705, 0.2616, 0.2539, 0.2729, 0.2542),
            "data_drop": (2.539, 2.506, 2.513, 2.526, 2.454, 2.58, 2.587, 2.545, 2.558, 2.505),
            "data_extrapolation_error": (
                0.02312,
                0.05402,
                0.1083,
                0.00795,
                0.03403,
                0.05072,
                0.009282,
                0.02849,
                0.01686,
                0.05,
            ),
            "control_tiny_width_drop": (0.945, 0.9264, 0.9296, 0.966, 0.9618, 0.9107, 0.9592, 0.9489, 0.9832, 0.9219),
            "control_tiny_width_alpha_low": (
                -0.02794,
                -0.03641,
                -0.04042,
                -0.01904,
                -0.02837,
                -0.03498,
                -0.0439,
                -0.04056,
                -1.109,
                -0.04254,
            ),
            "control_ridge_exact_alpha": (0.8466, 0.925, 0.9148, 0.9428, 0.9438, 0.8568, 0.853, 0.8219, 0.8829, 0.9312),
            # earlier designs, kept as the record of what failed (see the module docstring)
            "old_8widths_3seeds_width_extrapolation_error": (
                0.0913,
                0.0847,
                0.0938,
                0.1385,
                0.0309,
                0.3175,
                0.098,
                0.1702,
                0.0732,
                0.0739,
            ),
            "old_12widths_3seeds_width_extrapolation_error": (
                0.0487,
                0.0586,
                0.0544,
                0.2573,
                0.381,
                0.0824,
                0.0645,
                0.0585,
                0.3723,
                0.0779,
            ),
        },  # fmt: skip
    ),
)
