"""Sample-wise double descent: at a fixed model size, more training data can raise the test error.

Nakkiran et al. (2019, §7) found that near the interpolation threshold more data can hurt: a fixed model that can
just fit n examples generalizes worse from a few more, because it now barely interpolates them. A fixed-width
MNIST-1D MLP did not show it robustly (width 48, 100 epochs, 20% noise: +1.2 pp at its threshold, within the
seed spread; width 32, 200 epochs, 30% noise: none: the learning curve falls too steeply), so this is the
closed-form version: N = ``sample.features`` random ReLU features of MNIST-1D inputs (as in
``random-features-double-descent``) fixed, min-norm least squares on the first n of a shuffled, noisy training
set, n from 0.1N to 10N. For n <= N the fit interpolates, at n = N just barely, and the test error peaks there.
Ridge regularization removes the peak (Nakkiran et al. 2021): ``sample.ridge > 0`` is the control.

Presets: ``quick`` is N = 400 features, n = 40 to 4000 on a fixed geometric grid of 33 sizes (a factor 1.155
apart; n = N is its middle point), 20% label noise, 3 draws; ``full`` 10 draws at the notebook's 15% noise;
``smoke`` N = 50, n up to 300 on 9 sizes, 2 draws.

Verdict: (1) the test-error peak n lies within a factor :data:`MAX_PEAK_FOLD` of N, ``max(n / N, N / n)``;
(2) it exceeds the best smaller n by 3 points (more data hurts) and (3) the largest n by 3 points; (4) the
coefficient norm peaks within the same factor of N. A failed fit (non-finite coefficients) makes its errors
nan, and a non-finite value on a curve leaves its peak unmeasured instead of being skipped. Declared control:
ridge 1e-2 (``sample.ridge``) must fail (1), (2) and (4).

Calibration (seeds 100-109, quick; see ``ENTRY.calibration``): both peaks sit at n = N exactly on every seed
(factor 1.00); MAX_PEAK_FOLD = 1.2 admits the grid's nearest neighbours of N (x1.155) and nothing further.
The control was ridge 1e-3 until the calibration showed it removes the error peak (more data hurts by
0.6-2.2 pp, fails 10/10) but not the norm peak (still within x1.155 of N on 10/10): at 1e-2 all three fail
10/10. History: the peaks used to be judged "within one grid step of n = N" on 17 sizes (a factor 1.33 apart);
20% noise was chosen when the entry was written, after seeing it pass (the notebook's 15% is ``full``). The
verdict is judged on held-out seeds (``phenomena verify``, seeds 0-2).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from phenomena.analysis import bump, feature_counts, fold, peak, relu_feature_weights, relu_features, ridge_fit
from phenomena.config import at_least, between, config, field, positive
from phenomena.data.mnist1d import mnist1d, train_size
from phenomena.data.noise import with_label_noise
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.report import error_and_norm_figure
from phenomena.result import Check, Result, Series, Verdict

MAX_PEAK_FOLD = 1.2  # the test-error and norm peaks lie within this factor of n = N (one step of the 33-size grid)
MIN_EXCESS_PP = 3.0  # the peak exceeds each side by this many percentage points
CONTROL_RIDGE = 1e-2  # the declared control's ridge penalty


@config
class Data:
    num_samples: int = field(16_000, at_least(20), help="MNIST-1D examples generated (train + test)")
    train_split: float = field(0.25, between(0, 1), help="training fraction: the notebook's 4000 train / 12000 test")
    noise: float = field(0.15, between(0, 1, "[]"), help="fraction of training labels redrawn")
    noise_mode: Literal["any", "other"] = field("any", help="redraw among all classes (notebook) or only wrong ones")


@config
class Sample:
    """N random ReLU features fixed, min-norm (or ridge) least squares on n examples.

    Measured, quick (20% noise, 3 draws), calibration seeds 100-109: the peak at n = N = 400 (test error
    0.89-0.90, near chance 0.9), more data hurts by 7.2-9.6 pp, the largest n (4000) is 27-29 pp lower, the norm
    peaks at n = N; ~8 s. Ridge 1e-2: more data hurts by 0.1-0.8 pp, the error peaks at n = 53-126 and the norm
    at n = 616-711 (all fail), as Nakkiran et al. 2021 predict.
    """

    features: int = field(400, at_least(2), help="N random ReLU features (the threshold is n = N)")
    low: float = field(0.1, between(0, 1), help="smallest n / N")
    high: float = field(10.0, between(1, math.inf), help="largest n / N (n <= the training examples of data.*)")
    points: int = field(33, at_least(3), help="geometric grid of n (n = N is always added)")
    draws: int = field(3, positive, help="independent features, example orders and label-noise draws, averaged")
    ridge: float = field(0.0, at_least(0), help="0: min-norm; > 0: ridge penalty on ‖β‖² (the control)")


@config
class Config:
    data: Data = Data()
    sample: Sample = Sample()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    # too small to be reliable (peak at n = N in 5 of 5 seeds, more data hurts by 1.7-5.7 pp): it checks the code
    "smoke": Config(
        data=Data(num_samples=2000, train_split=0.15, noise=0.15),
        sample=Sample(features=50, high=6.0, points=9, draws=2),
    ),
    "quick": Config(data=Data(noise=0.2)),
    # no published setting to copy: more draws at the notebook's 15% noise
    "full": Config(sample=Sample(draws=10)),
}
COSTS = {"smoke": "~1 s", "quick": "~8 s", "full": "~25 s"}


def unused(cfg: Config) -> tuple[str, ...]:
    """Without label noise there is nothing to redraw."""
    return ("data.noise_mode",) if cfg.data.noise == 0 else ()


def preflight(cfg: Config) -> None:
    """The largest training set must exist: sample.high x sample.features <= the generated training set."""
    s = cfg.sample
    largest = feature_counts(s.features, s.low, s.high, s.points)[-1]
    available = train_size(cfg.data.num_samples, cfg.data.train_split)
    if largest > available:
        raise UserError(
            f"sample.high × sample.features = {largest} exceeds the {available} training "
            "examples generated; lower sample.high or sample.features, or raise data.num_samples"
        )


def run(cfg: Config, ctx: RunContext) -> Result:
    s = cfg.sample
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    counts = feature_counts(s.features, s.low, s.high, s.points)
    xt, yt = data.x_test.double(), data.y_test
    err = np.zeros((len(counts), s.draws))
    train_err, norm = np.zeros_like(err), np.zeros_like(err)
    with ctx.progress(len(counts) * s.draws, desc="sample-wise double descent") as bar:
        for d in range(s.draws):
            g = torch.Generator().manual_seed(ctx.stream_seed("samples") + d)
            order = torch.randperm(data.n_train, generator=g)  # which n examples: the first n of this order
            noisy = with_label_noise(data, cfg.data.noise, ctx.stream_seed("noise") + d, cfg.data.noise_mode)
            x, y = data.x_train[order].double(), noisy.y_train[order]
            w = relu_feature_weights(x.shape[1], s.features, g)
            phit = relu_features(xt, w)
            for j, n in enumerate(counts):
                phi = relu_features(x[:n], w)
                beta = ridge_fit(phi, torch.nn.functional.one_hot(y[:n], data.num_classes).double(), s.ridge)
                norm[j, d] = beta.norm().item()
                if not math.isfinite(norm[j, d]):  # a failed fit: argmax would still pick a class (nan errors)
                    err[j, d] = train_err[j, d] = math.nan
                else:
                    err[j, d] = (phit @ beta).argmax(1).ne(yt).double().mean().item()
                    train_err[j, d] = (phi @ beta).argmax(1).ne(y[:n]).double().mean().item()
                bar.update(1)
    test, nrm, train = err.mean(1), norm.mean(1), train_err.mean(1)
    k, left, right = bump(test)  # None / nan if any value is not finite
    j_norm = peak(nrm)
    big = float(s.features)
    peak_samples = float(counts[k]) if k is not None else math.nan
    norm_peak = float(counts[j_norm]) if j_norm is not None else math.nan
    # the largest n still fit (0-1 train error < 1%; the MSE fit is exact for n <= N); unknown if any is not finite
    fits = [c for c, t in zip(counts, train, strict=True) if t < 0.01] if np.isfinite(train).all() else []
    series = {
        "test_error": Series(counts, test.tolist()),
        "train_error": Series(counts, train.tolist()),
        "coef_norm": Series(counts, nrm.tolist()),
        "test_error_lo": Series(counts, err.min(1).tolist()),
        "test_error_hi": Series(counts, err.max(1).tolist()),
    }
    summary = {
        "features": big,
        "peak_samples": peak_samples,
        "peak_fold": fold(peak_samples, big),
        "peak_test_error": float(test[k]) if k is not None else math.nan,
        "peak_excess_left_pp": 100 * left,
        "peak_excess_right_pp": 100 * right,
        "peak_excess_pp": 100 * min(left, right),
        "largest_samples_test_error": float(test[-1]),
        "largest_n_fit": float(max(fits)) if fits else math.nan,
        "norm_peak_samples": norm_peak,
        "norm_peak_fold": fold(norm_peak, big),
    }
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    """The test-error peak sits at n = N, more data hurts there, and the coefficient norm peaks there too."""
    s = result.summary
    return Verdict(
        (
            Check(
                f"test-error peak (n = {s['peak_samples']:.0f}) within a factor of N = {s['features']:.0f}: "
                "max(n / N, N / n)",
                s["peak_fold"],
                "<=",
                MAX_PEAK_FOLD,
            ),
            Check(
                "more data hurts: peak − best smaller-n test error (pp)", s["peak_excess_left_pp"], ">=", MIN_EXCESS_PP
            ),
            Check("peak − largest-n test error (pp)", s["peak_excess_right_pp"], ">=", MIN_EXCESS_PP),
            Check(
                f"coefficient-norm peak (n = {s['norm_peak_samples']:.0f}) within a factor of N: max(n / N, N / n)",
                s["norm_peak_fold"],
                "<=",
                MAX_PEAK_FOLD,
                note="the fit is least stable where it just interpolates",
            ),
        )
    )


def figure(result: Result):
    """Test and train error against n (draws as a band) with n = N marked, and the coefficient norm."""
    s, cfg = result.summary, result.config
    fig = error_and_norm_figure(result, "training examples n", s["features"], "n = N")
    ridge = f", ridge {cfg.sample.ridge:g}" if cfg.sample.ridge else ""
    fig.suptitle(
        f"sample-wise double descent: N = {s['features']:.0f} random ReLU features, MNIST-1D, "
        f"{cfg.data.noise:.0%} noise{ridge} — peak at n = {s['peak_samples']:.0f}, "
        f"{s['peak_excess_left_pp']:+.1f} pp over the best smaller n"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="sample-wise-double-descent",
    summary="at a fixed model size, more training data can raise the test error",
    papers=(
        "Nakkiran, Kaplun, Bansal, Yang, Barak, Sutskever 2019 — Deep double descent: where bigger models and "
        "more data hurt",
        "Nakkiran, Venkat, Kakade, Ma 2021 — Optimal regularization can mitigate double descent",
        "Greydanus, Kobak 2024 — Scaling down deep learning with MNIST-1D",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,  # N = 50 features: more data hurts by +1.7 pp on smoke seed 1 (threshold 3): pipeline only
    sweep_metrics=("peak_samples", "peak_excess_left_pp", "peak_excess_pp"),
    controls=(
        Control(
            "ridge",
            {"sample.ridge": CONTROL_RIDGE},
            must_fail=("test-error peak", "more data hurts", "coefficient-norm peak"),
            why="a ridge penalty keeps the fit stable at n = N: more data no longer hurts (Nakkiran et al. 2021)",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note=(
            "quick, one thread: all 10 pass, both peaks at n = N = 400 on every seed; more data hurts by "
            "7.2-9.6 pp, the largest n is 27.4-28.8 pp lower (3 pp kept). Declared control ridge 1e-2 on the same "
            "seeds: more data hurts by 0.13-0.75 pp, the error peak a factor 3.2-7.5 from N, the norm peak a "
            "factor 1.54-1.78: each fails 10/10. Ridge 1e-3 (the former control) failed the first two 10/10 and "
            "6/10 but kept the norm peak within x1.155 of N on 10/10"
        ),
        observed={
            "peak_fold": (1.0,) * 10,
            "peak_test_error": (0.9008, 0.8895, 0.9019, 0.8962, 0.8957, 0.8992, 0.8928, 0.8997, 0.8982, 0.8957),
            "peak_excess_left_pp": (9.6167, 7.6833, 8.95, 9.0528, 7.8222, 8.5917, 7.2417, 8.2806, 8.15, 8.95),
            "peak_excess_right_pp": (
                28.8028,
                27.3583,
                28.8389,
                28.6778,
                28.7194,
                28.5417,
                27.4833,
                28.6861,
                28.3444,
                27.925,
            ),
            "norm_peak_fold": (1.0,) * 10,
            "ridge_peak_fold": (6.4516, 5.6338, 6.4516, 4.2105, 5.6338, 3.1746, 4.878, 5.6338, 6.4516, 7.5472),
            "ridge_peak_excess_left_pp": (0.2861, 0.5833, 0.7222, 0.1306, 0.525, 0.1472, 0.3222, 0.5472, 0.4694, 0.75),
            "ridge_norm_peak_fold": (1.54, 1.54, 1.54, 1.7775, 1.7775, 1.7775, 1.7775, 1.7775, 1.54, 1.7775),
        },
    ),
    unused=unused,
    preflight=preflight,
)
