"""Random-features double descent: min-norm least squares on N random features peaks at N = n, then falls again.

Belkin et al. (2019) showed the classical U-shaped test-error curve is only the first half: past the
"interpolation threshold", where a model first fits its training set exactly, test error falls again as the model
grows. Their cleanest example is minimum-norm least squares on N random features of n training points: at
N = n the fit just barely interpolates, the coefficients β = Φ⁺Y blow up, and so does the test error; with more
features the minimum-norm interpolant is smoother and the error falls again. (The same peak in trained networks
is the entry ``double-descent``.) A ridge penalty keeps β bounded at N = n and removes the peak (Nakkiran et al.
2021): ``features.ridge > 0`` is the declared control.

Here: MNIST-1D inputs (Greydanus & Kobak 2024), a fraction of the n training labels redrawn uniformly over all
classes, one-hot targets, N random ReLU features relu(x W)/√N with W ~ N(0, 1/40), β by min-norm least squares
(float64 ``lstsq``, the SVD driver) or ridge, N on a fixed geometric grid from 0.1n to 10n (33 sizes, a factor
1.155 apart; N = n is its middle point); the curves are averaged over independent feature draws.

Presets: ``quick`` is n = 500 of the 4000 training examples with 20% noise, 33 sizes of N, 2 feature draws;
``full`` the same at the notebook's 15% noise; ``smoke`` is n = 200 of 300 examples, 9 sizes, 1 draw.

Verdict: (1) the test-error peak N lies within a factor :data:`MAX_PEAK_FOLD` of n, ``max(N / n, n / N)``;
(2, 3) it exceeds the best smaller N and the largest N by 3 points each; (4) the coefficient norm peaks within
the same factor of n. A failed fit (non-finite coefficients) makes its errors nan, and a non-finite value on a
curve leaves its peak unmeasured instead of being skipped. Declared control: ridge 1e-2 (``features.ridge``)
must fail (2) and (4): the error no longer rises over the smaller N, and the bounded coefficients grow with N
instead of peaking at N = n.

Calibration (seeds 100-109, quick; see ``ENTRY.calibration``): the peaks sit at N = n exactly on every seed
(factor 1.00), as the theory says; MAX_PEAK_FOLD = 1.2 admits the grid's nearest neighbours of n (x1.155) and
nothing further. The ridge was chosen on seed 100 among 1e-3, 1e-2, 1e-1: at 1e-3 the peak stays at N = n
(+5.6 pp over the smaller N), at 1e-2 it is gone (+0.3 pp). History: the peak used to be judged "within one
grid step of N = n" on 17 sizes (a factor 1.33 apart); 20% noise was chosen when the entry was written, after
seeing it pass (the notebook's 15% is the ``full`` preset). The verdict is judged on held-out seeds
(``phenomena verify``, seeds 0-2).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from phenomena.analysis import bump, feature_counts, fold, peak, relu_feature_weights, ridge_fit
from phenomena.config import at_least, between, config, field, positive
from phenomena.data.mnist1d import mnist1d, train_size
from phenomena.data.noise import with_label_noise
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.report import error_and_norm_figure
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.losses import predictions

MAX_PEAK_FOLD = 1.2  # the test-error and norm peaks lie within this factor of N = n (one step of the 33-size grid)
MIN_EXCESS_PP = 3.0  # the peak exceeds each side by this many percentage points
CONTROL_RIDGE = 1e-2  # the declared control's ridge penalty


@config
class Data:
    num_samples: int = field(16_000, at_least(20), help="MNIST-1D examples generated (train + test)")
    train_split: float = field(0.25, between(0, 1), help="training fraction: the notebook's 4000 train / 12000 test")
    noise: float = field(0.15, between(0, 1, "[]"), help="fraction of the n training labels redrawn")
    noise_mode: Literal["any", "other"] = field("any", help="redraw among all classes (notebook) or only wrong ones")


@config
class Features:
    n_train: int = field(500, at_least(10), help="n: training examples fit (the threshold is N = n)")
    low: float = field(0.1, between(0, 1), help="smallest N / n")
    high: float = field(10.0, between(1, math.inf), help="largest N / n")
    points: int = field(33, at_least(3), help="geometric grid of N (N = n is always added)")
    draws: int = field(2, positive, help="independent feature draws averaged")
    ridge: float = field(0.0, at_least(0), help="0: min-norm least squares; > 0: ridge penalty on ‖β‖² (the control)")


@config
class Config:
    data: Data = Data()
    features: Features = Features()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=2000, train_split=0.15, noise=0.15), features=Features(n_train=200, points=9, draws=1)
    ),
    "quick": Config(data=Data(noise=0.2)),
    # no published setting to copy (Belkin et al. use random Fourier features of MNIST with n = 10^4): the quick
    # sizes at the notebook's 15% noise
    "full": Config(),
}
COSTS = {"smoke": "~1 s", "quick": "~10 s", "full": "~10 s"}


def unused(cfg: Config) -> tuple[str, ...]:
    """Without label noise there is nothing to redraw."""
    return ("data.noise_mode",) if cfg.data.noise == 0 else ()


def preflight(cfg: Config) -> None:
    """The training examples used must exist: features.n_train <= the generated training set."""
    available = train_size(cfg.data.num_samples, cfg.data.train_split)
    if cfg.features.n_train > available:
        raise UserError(
            f"features.n_train ({cfg.features.n_train}) exceeds the {available} training examples "
            "generated; lower it or raise data.num_samples"
        )


def run(cfg: Config, ctx: RunContext) -> Result:
    f = cfg.features
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    x, y = data.x_train[: f.n_train].double(), data.y_train[: f.n_train]
    if cfg.data.noise > 0:
        noisy = with_label_noise(
            data.subset(n_train=f.n_train), cfg.data.noise, ctx.stream_seed("noise"), cfg.data.noise_mode
        )
        y = noisy.y_train
    xt, yt = data.x_test.double(), data.y_test
    targets = torch.nn.functional.one_hot(y, data.num_classes).double()
    counts = feature_counts(f.n_train, f.low, f.high, f.points)
    err = np.zeros((len(counts), f.draws))
    train_err, norm = np.zeros_like(err), np.zeros_like(err)
    with ctx.progress(len(counts) * f.draws, desc="random features") as bar:
        for d in range(f.draws):
            g = torch.Generator().manual_seed(ctx.stream_seed("features") + d)
            w = relu_feature_weights(x.shape[1], max(counts), g)
            # every N uses the first N of the same features, relu(x W[:, :N]) / √N: rows of relu(Wᵀ xᵀ), scaled
            act, act_test = torch.relu(w.T @ x.T), torch.relu(w.T @ xt.T)  # (N_max, n), (N_max, test)
            for j, n_feat in enumerate(counts):
                scale = 1 / math.sqrt(n_feat)
                phi = act[:n_feat].T * scale
                beta = ridge_fit(phi, targets, f.ridge)
                norm[j, d] = beta.norm().item()
                if not math.isfinite(norm[j, d]):  # a failed fit: argmax would still pick a class (nan errors)
                    err[j, d] = train_err[j, d] = math.nan
                else:
                    # (classes, test) from the contiguous leading rows: the transposed slice's product was 4x slower
                    logits = (beta.T @ act_test[:n_feat]) * scale
                    err[j, d] = predictions(logits, 0).ne(yt).double().mean().item()
                    train_err[j, d] = predictions(phi @ beta, 1).ne(y).double().mean().item()
                bar.update(1)
    test, nrm = err.mean(1), norm.mean(1)
    k, left, right = bump(test)  # None / nan if any value is not finite
    j_norm = peak(nrm)
    n = float(f.n_train)
    peak_features = float(counts[k]) if k is not None else math.nan
    norm_peak = float(counts[j_norm]) if j_norm is not None else math.nan
    j_n = counts.index(f.n_train)
    series = {
        "test_error": Series(counts, test.tolist()),
        "train_error": Series(counts, train_err.mean(1).tolist()),
        "coef_norm": Series(counts, nrm.tolist()),
        "test_error_lo": Series(counts, err.min(1).tolist()),
        "test_error_hi": Series(counts, err.max(1).tolist()),
    }
    summary = {
        "n_train": n,
        "peak_features": peak_features,
        "peak_fold": fold(peak_features, n),
        "peak_test_error": float(test[k]) if k is not None else math.nan,
        "peak_excess_left_pp": 100 * left,
        "peak_excess_right_pp": 100 * right,
        "peak_excess_pp": 100 * min(left, right),
        "largest_features_test_error": float(test[-1]),
        "norm_peak_features": norm_peak,
        "norm_peak_fold": fold(norm_peak, n),
        "norm_at_threshold": float(nrm[j_n]),
        "norm_at_largest": float(nrm[-1]),
    }
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    n = f"{s['n_train']:.0f}"
    return Verdict(
        (
            Check(
                f"test-error peak (N = {s['peak_features']:.0f}) within a factor of n = {n}: max(N / n, n / N)",
                s["peak_fold"],
                "<=",
                MAX_PEAK_FOLD,
            ),
            Check("peak − best smaller-N test error (pp)", s["peak_excess_left_pp"], ">=", MIN_EXCESS_PP),
            Check("peak − largest-N test error (pp)", s["peak_excess_right_pp"], ">=", MIN_EXCESS_PP),
            Check(
                f"coefficient-norm peak (N = {s['norm_peak_features']:.0f}) within a factor of n: max(N / n, n / N)",
                s["norm_peak_fold"],
                "<=",
                MAX_PEAK_FOLD,
                note="the min-norm solution is largest at N = n",
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig = error_and_norm_figure(result, "random features N", s["n_train"], "N = n")
    ridge = f", ridge {cfg.features.ridge:g}" if cfg.features.ridge else ""
    fig.suptitle(f"double descent: min-norm random ReLU features, MNIST-1D n = {s['n_train']:.0f}{ridge}")
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="random-features-double-descent",
    summary="min-norm least squares on N random features peaks at N = n, then falls again",
    papers=(
        "Belkin, Hsu, Ma, Mandal 2019 — Reconciling modern machine-learning practice and the classical "
        "bias-variance trade-off",
        "Nakkiran, Venkat, Kakade, Ma 2021 — Optimal regularization can mitigate double descent",
        "Greydanus, Kobak 2024 — Scaling down deep learning with MNIST-1D",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("peak_features", "peak_excess_pp", "norm_at_threshold"),
    controls=(
        Control(
            "ridge",
            {"features.ridge": CONTROL_RIDGE},
            must_fail=("peak − best smaller-N", "coefficient-norm peak"),
            why="a ridge penalty keeps β bounded at N = n: no peak of the error or the norm (Nakkiran et al. 2021)",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note=(
            "quick, one thread (~30-40 s of CPU per seed): all 10 pass; both peaks at N = n = 500 on every seed; "
            "the bump clears the smaller N by 13.8-15.2 pp and the largest N by 16.5-17.8 pp (3 pp kept). "
            "Declared control ridge 1e-2 on the same seeds: 0.18-0.68 pp over the smaller N (fails 10/10), the norm "
            "largest at the largest N (factor 10, fails 10/10); its test-error peak drifts to N = 67-433 (factor "
            "1.15-7.5: fails 9/10, so it is not among the checks the control must fail)"
        ),
        observed={
            "peak_fold": (1.0,) * 10,
            "peak_test_error": (0.8969, 0.896, 0.8997, 0.8959, 0.8989, 0.9015, 0.8951, 0.896, 0.8962, 0.8964),
            "peak_excess_left_pp": (
                14.9917,
                14.0167,
                15.2333,
                15.2417,
                14.4625,
                14.8625,
                14.6375,
                14.3667,
                13.8292,
                14.0458,
            ),
            "peak_excess_right_pp": (
                16.7958,
                16.95,
                16.6292,
                17.8292,
                16.9042,
                17.7417,
                16.5417,
                16.6708,
                16.8208,
                16.9125,
            ),
            "norm_peak_fold": (1.0,) * 10,
            "ridge_peak_excess_left_pp": (0.3333, 0.675, 0.6333, 0.2208, 0.1792, 0.2583, 0.2875, 0.45, 0.4625, 0.2625),
            "ridge_peak_fold": (7.4627, 2.7322, 1.1547, 4.8544, 4.8544, 1.7794, 2.7322, 1.7794, 3.1646, 3.1646),
            "ridge_norm_peak_fold": (10.0,) * 10,
        },
    ),
    unused=unused,
    preflight=preflight,
)
