"""The epoch-wise and sample-wise modes of the double-descent entry (``mode="epoch"``, ``mode="sample"``).

They live here only to keep ``double_descent.py`` short; its docstring describes them, its ``Config`` holds their
settings (``epoch.*``, ``sample.*``), and its ``run``, ``verdict`` and ``figure`` hand these modes to this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from phenomena.catalog.double_descent import MAX_CONTROL_RATIO, MIN_EXCESS_PP, bump, feature_counts, min_norm_fit
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.errors import DivergedError, UserError
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.runner.context import RunContext

if TYPE_CHECKING:
    from phenomena.catalog.double_descent import Config

# Epoch-wise margins, in units of the signal variance ‖w*‖² (the test error at step 0 is 1). Quick preset, seeds
# 0-11 (96 draws): first descent >= 0.22, rise >= 0.26, second descent >= 0.56 on the mean curve, and >= 0.14,
# 0.15, 0.36 in every single draw; the one-speed control's bump 0.00, and without label noise the rise is
# 0.10-0.12 in only 5 of 8 draws (see Epoch in double_descent.py). A tenth of the signal variance separates them.
MIN_EPOCH_EXCESS = 0.1
MIN_DRAWS_WITH_BUMP = 0.8  # fraction of draws whose own curve shows first descent, rise and second descent


# --- epoch-wise: gradient descent on a linear student with fast and slow features ---


def log_steps(last: int, points: int) -> list[int]:
    """Step 0, then about ``points`` log-spaced steps from 1 to ``last`` (distinct integers, increasing)."""
    return [0, *sorted({int(round(v)) for v in np.geomspace(1, last, points)})]


def gd_least_squares(x: torch.Tensor, y: torch.Tensor, lr: float, steps: Sequence[int]) -> torch.Tensor:
    """The weights of full-batch gradient descent on ``mean((x @ w - y)²) / 2`` from ``w = 0``, at ``steps``.

    Exact, in closed form: with ``H = xᵀx / n = V diag(λ) Vᵀ`` and ``b = xᵀy / n``, step t has
    ``w_t = V diag((1 − (1 − lr·λ)^t) / λ) Vᵀ b``; directions with λ = 0 get no gradient and stay 0. Batched
    over leading axes: ``x`` (..., n, d), ``y`` (..., n) give (..., len(steps), d). It diverges (inf or nan)
    where ``lr·λ_max > 2``, as GD does. The run uses this in float64; tests check it against iterated GD and
    against :func:`~phenomena.training.train_ensemble`.

    Example: for ``x = [[1, 0], [0, 2]]`` (n = 2), ``y = [1, 2]``: λ = (0.5, 2), b = (0.5, 2), and with lr 0.5
    step 1 is ``lr·b = [0.25, 1]``, step 2 ``[0.4375, 1]`` (the λ = 2 direction is solved in one step).
    """
    n = x.shape[-2]
    lam, vecs = torch.linalg.eigh(x.mT @ x / n)
    coef = (vecs.mT @ (x.mT @ y.unsqueeze(-1) / n)).squeeze(-1)  # b in the eigenbasis, (..., d)
    t = torch.as_tensor(list(steps), dtype=x.dtype).unsqueeze(-1)  # (T, 1)
    z = (lr * lam).unsqueeze(-2)  # (..., 1, d)
    # 1 − (1 − z)^t without cancellation for small z (slow directions have z ~ 1e-4): −expm1(t·log1p(−z))
    decayed = torch.where(z < 1, -torch.expm1(t * torch.log1p(-z.clamp(max=1 - 1e-12))), 1 - (1 - z) ** t)
    null = lam.abs() <= 1e-12 * lam.abs().amax(-1, keepdim=True)
    gain = torch.where(null.unsqueeze(-2), 0.0, decayed / torch.where(null, 1.0, lam).unsqueeze(-2))
    return (gain * coef.unsqueeze(-2)) @ vecs.mT


def _two_scale_errors(cfg: Config, ctx: RunContext, steps: list[int]) -> dict[str, np.ndarray]:
    """Relative test and train error (D, T) of GD on the two-scale data, and of the one-speed control."""
    e = cfg.epoch
    d, g = e.fast + e.slow, ctx.generator("teacher")
    teacher = torch.randn(e.draws, d, generator=g, dtype=torch.float64)
    teacher[:, : e.fast] *= math.sqrt((1 - e.slow_signal) / e.fast)
    teacher[:, e.fast :] *= math.sqrt(e.slow_signal / e.slow) if e.slow else 0.0
    z = torch.randn(e.draws, e.n_train, d, generator=g, dtype=torch.float64)
    y = (z @ teacher.unsqueeze(-1)).squeeze(-1) + e.noise * torch.randn(e.draws, e.n_train, generator=g,
                                                                       dtype=torch.float64)  # fmt: skip
    signal = teacher.pow(2).sum(-1, keepdim=True)  # ‖w*‖²: the test error of the zero predictor
    out = {}
    for prefix, kappa in (("", e.kappa), ("control_", 1.0)):
        scales = torch.cat([torch.ones(e.fast), torch.full((e.slow,), kappa)]).double()
        x = z * scales  # the student sees the slow coordinates shrunk by kappa; the teacher uses z
        w = gd_least_squares(x, y, e.lr, steps)  # (D, T, d)
        # z is isotropic, so the test error E[(x·w − z·w*)²] is ‖scales ⊙ w − w*‖² exactly (noise excluded)
        out[f"{prefix}test"] = ((w * scales - teacher.unsqueeze(1)).pow(2).sum(-1) / signal).numpy()
        out[f"{prefix}train"] = ((x @ w.mT - y.unsqueeze(-1)).pow(2).mean(-2) / signal).numpy()
    bad = ~np.isfinite(np.stack(list(out.values()))).all((0, 1))  # GD diverges where lr·λ_max > 2
    if bad.any():
        raise DivergedError(steps[int(np.argmax(bad))], math.inf, hint="a smaller epoch.lr")
    return out


def epoch_wise(cfg: Config, ctx: RunContext) -> Result:
    """``mode="epoch"``: test error against GD steps (log-spaced) on two-scale linear data, with the control."""
    e = cfg.epoch
    steps = log_steps(e.steps, e.points)
    start = time.perf_counter()
    with ctx.progress(1, desc="epoch-wise double descent") as bar:
        err = _two_scale_errors(cfg, ctx, steps)
        bar.update(1)
    seconds = time.perf_counter() - start
    series = {}
    for name, v in err.items():  # mean over draws, and the band of the draws
        for suffix, values in (("", v.mean(0)), ("_lo", v.min(0)), ("_hi", v.max(0))):
            series[f"{name}_error{suffix}"] = Series(steps, values.tolist())
    test = err["test"].mean(0)
    k, rise, second = bump(test)
    valley = int(np.argmin(test[:k])) if k > 0 else 0

    def shows_it(curve: np.ndarray) -> bool:
        j, left, right = bump(curve)
        return min(curve[0] - curve[:j].min(), left, right) >= MIN_EPOCH_EXCESS

    _, cleft, cright = bump(err["control_test"].mean(0))
    summary = {
        "valley_step": float(steps[valley]),
        "valley_test_error": float(test[valley]),
        "peak_step": float(steps[k]),
        "peak_test_error": float(test[k]),
        "final_test_error": float(test[-1]),
        "first_descent": float(test[0] - test[valley]),
        "rise": float(rise),
        "second_descent": float(second),
        "draws_with_bump": float(np.mean([shows_it(c) for c in err["test"]])),
        "control_bump": float(max(min(cleft, cright), 0.0)),
        "control_final_test_error": float(err["control_test"].mean(0)[-1]),
        "fast_time": 1 / e.lr,  # time constants of the two feature groups' population curvatures 1 and kappa²
        "slow_time": 1 / (e.lr * e.kappa**2),
        "fit_seconds": seconds,
    }
    return Result("double-descent", cfg, summary=summary, series=series)


def epoch_verdict(s: dict) -> Verdict:
    """First descent, rise, second descent (each >= a tenth of the signal variance), robust over draws, and
    absent from the one-speed control."""
    bump_size = min(s["rise"], s["second_descent"])
    ratio = s["control_bump"] / bump_size if bump_size > 0 else math.nan
    return Verdict((
        Check(f"first descent: initial − valley test error (step {s['valley_step']:.0f})", s["first_descent"], ">=",
              MIN_EPOCH_EXCESS, note="relative to the signal variance"),
        Check(f"rise: peak (step {s['peak_step']:.0f}) − valley test error", s["rise"], ">=", MIN_EPOCH_EXCESS,
              note="the fast features fit the noise"),
        Check("second descent: peak − final test error", s["second_descent"], ">=", MIN_EPOCH_EXCESS,
              note="the slow features are learned"),
        Check("draws showing all three", s["draws_with_bump"], ">=", MIN_DRAWS_WITH_BUMP),
        Check("one-speed control bump / bump", ratio, "<", MAX_CONTROL_RATIO,
              note="features learned at one speed: a single U, no second descent"),
    ))  # fmt: skip


def epoch_figure(result: Result):
    """Relative test and train error against GD steps (log x), draws as bands, the control, the two phases."""
    s, e = result.summary, result.config.epoch
    fig, axes = subplots(1, 1, width=7.5, height=3.6)
    ax = axes[0][0]
    for prefix, color, style, tag in (("", PALETTE["test"], "-", f"κ = {e.kappa:g}"),
                                      ("control_", PALETTE["control"], "--", "control κ = 1")):  # fmt: skip
        for split, alpha in (("test", 1.0), ("train", 0.6)):
            name = f"{prefix}{split}_error"
            x, v = result.curve(name)
            c = PALETTE["train"] if (split == "train" and not prefix) else color
            ax.plot(x[1:], v[1:], color=c, linestyle=style if split == "test" else ":", alpha=alpha,
                    label=f"{split}, {tag}")  # fmt: skip
            ax.fill_between(x[1:], result.curve(name + "_lo")[1][1:], result.curve(name + "_hi")[1][1:], color=c,
                            alpha=0.15, linewidth=0)  # fmt: skip
    ax.plot([s["valley_step"], s["peak_step"]], [s["valley_test_error"], s["peak_test_error"]], "o",
            color=PALETTE["accent"], ms=5, label="valley, peak")  # fmt: skip
    for t, tag in ((s["fast_time"], "1/η"), (s["slow_time"], "1/(ηκ²)")):
        ax.axvline(t, color="k", linestyle=":", linewidth=0.8)
        ax.annotate(f" {tag}", (t, 0.02), xycoords=("data", "axes fraction"), ha="left", va="bottom", fontsize=7)
    ax.set(xscale="log", xlabel="gradient-descent step (= epoch)", ylabel="error / signal variance",
           ylim=(0, None))  # fmt: skip
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"epoch-wise double descent: linear student, {e.fast} fast + {e.slow} slow features (κ = {e.kappa:g}),"
                 f" n = {e.n_train}, noise σ = {e.noise:g}, {e.draws} draws\nrise +{s['rise']:.2f}, second descent "
                 f"−{s['second_descent']:.2f} (relative to the signal variance)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


# --- sample-wise: min-norm random features at fixed N, n swept across N ---


def ridge_fit(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge coefficients ``argmin ‖Φβ − Y‖² + ridge·‖β‖²`` = (ΦᵀΦ + ridge·I)⁻¹ΦᵀY, any shape of Φ; ``ridge=0``
    is the minimum-norm least-squares fit (:func:`min_norm_fit`). Solved as least squares on Φ stacked over
    √ridge·I, which is better conditioned than the normal equations.

    Example: ``ridge_fit(torch.eye(2, dtype=torch.float64), torch.ones(2, 1), 1.0)`` is ``[[0.5], [0.5]]``.
    """
    if ridge == 0:
        return min_norm_fit(features, targets)
    p = features.shape[1]
    eye = math.sqrt(ridge) * torch.eye(p, dtype=features.dtype)
    return min_norm_fit(torch.cat([features, eye]), torch.cat([targets, targets.new_zeros(p, targets.shape[1])]))


def sample_wise(cfg: Config, ctx: RunContext) -> Result:
    """``mode="sample"``: N random ReLU features fixed, the first n of a shuffled (noisy) training set fit."""
    s = cfg.sample
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    counts = feature_counts(s.features, s.low, s.high, s.points)
    if counts[-1] > data.n_train:
        raise UserError(
            f"sample.high × sample.features = {counts[-1]} exceeds the {data.n_train} training "
            "examples generated; lower sample.high or sample.features, or raise data.num_samples"
        )
    xt, yt = data.x_test.double(), data.y_test
    err = np.zeros((len(counts), s.draws))
    train_err, norm = np.zeros_like(err), np.zeros_like(err)
    scale = 1 / math.sqrt(s.features)  # the kernel Φ Φᵀ stays O(1), as in mode="random-features"
    start = time.perf_counter()
    with ctx.progress(len(counts) * s.draws, desc="sample-wise double descent") as bar:
        for d in range(s.draws):
            g = torch.Generator().manual_seed(ctx.stream_seed("samples") + d)
            order = torch.randperm(data.n_train, generator=g)  # which n examples: the first n of this order
            noisy = with_label_noise(data, cfg.data.noise, ctx.stream_seed("noise") + d, cfg.data.noise_mode)
            x, y = data.x_train[order].double(), noisy.y_train[order]
            w = torch.randn(x.shape[1], s.features, generator=g, dtype=torch.float64) / math.sqrt(x.shape[1])
            phit = torch.relu(xt @ w) * scale
            for j, n in enumerate(counts):
                phi = torch.relu(x[:n] @ w) * scale
                beta = ridge_fit(phi, torch.nn.functional.one_hot(y[:n], data.num_classes).double(), s.ridge)
                err[j, d] = (phit @ beta).argmax(1).ne(yt).double().mean().item()
                train_err[j, d] = (phi @ beta).argmax(1).ne(y[:n]).double().mean().item()
                norm[j, d] = beta.norm().item()
                bar.update(1)
    seconds = time.perf_counter() - start
    test, nrm, train = err.mean(1), norm.mean(1), train_err.mean(1)
    k, left, right = bump(test)
    j_n, j_norm = counts.index(s.features), int(np.argmax(nrm))
    fits = [c for c, t in zip(counts, train, strict=True) if t < 0.01]
    series = {"test_error": Series(counts, test.tolist()), "train_error": Series(counts, train.tolist()),
              "coef_norm": Series(counts, nrm.tolist()), "test_error_lo": Series(counts, err.min(1).tolist()),
              "test_error_hi": Series(counts, err.max(1).tolist())}  # fmt: skip
    summary = {
        "features": float(s.features),
        "peak_samples": float(counts[k]),
        "peak_test_error": float(test[k]),
        "grid_steps_from_threshold": float(abs(k - j_n)),
        "peak_excess_left_pp": 100 * left,
        "peak_excess_right_pp": 100 * right,
        "peak_excess_pp": 100 * min(left, right),
        "largest_samples_test_error": float(test[-1]),
        "largest_n_fit": float(max(fits)) if fits else math.nan,  # 0-1 train error < 1% (MSE fit exact: n <= N)
        "norm_peak_samples": float(counts[j_norm]),
        "norm_grid_steps_from_threshold": float(abs(j_norm - j_n)),
        "fit_seconds": seconds,
    }
    return Result("double-descent", cfg, summary=summary, series=series)


def sample_verdict(s: dict) -> Verdict:
    """The test-error peak sits at n = N, more data hurts there, and the coefficient norm peaks there too."""
    return Verdict((
        Check(f"test-error peak (n = {s['peak_samples']:.0f}) in grid steps from n = N = {s['features']:.0f}",
              s["grid_steps_from_threshold"], "<=", 1),
        Check("more data hurts: peak − best smaller-n test error (pp)", s["peak_excess_left_pp"], ">=",
              MIN_EXCESS_PP),
        Check("peak − largest-n test error (pp)", s["peak_excess_right_pp"], ">=", MIN_EXCESS_PP),
        Check(f"coefficient-norm peak (n = {s['norm_peak_samples']:.0f}) in grid steps from n = N",
              s["norm_grid_steps_from_threshold"], "<=", 1, note="the fit is least stable where it just interpolates"),
    ))  # fmt: skip


def sample_figure(result: Result):
    """Test and train error against n (draws as a band) with n = N marked, and the coefficient norm."""
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 2, width=5.0)
    ax, nx = axes[0][0], axes[0][1]
    x, test = result.curve("test_error")
    ax.plot(x, test, color=PALETTE["test"], marker="o", ms=3, label="test")
    ax.fill_between(x, result.curve("test_error_lo")[1], result.curve("test_error_hi")[1], color=PALETTE["test"],
                    alpha=0.2, linewidth=0)  # fmt: skip
    ax.plot(x, result.curve("train_error")[1], color=PALETTE["train"], marker="o", ms=3, label="train")
    for a in (ax, nx):
        a.axvline(s["features"], color="k", linestyle=":", linewidth=0.8, label="n = N")
    ax.set(xscale="log", xlabel="training examples n", ylabel="0-1 error", title="error")
    ax.legend()
    nx.plot(x, result.curve("coef_norm")[1], color=PALETTE["accent"], marker="o", ms=3)
    nx.set(xscale="log", yscale="log", xlabel="training examples n", ylabel="‖β‖", title="coefficient norm")
    ridge = f", ridge {cfg.sample.ridge:g}" if cfg.sample.ridge else ""
    fig.suptitle(f"sample-wise double descent: N = {s['features']:.0f} random ReLU features, MNIST-1D, "
                 f"{cfg.data.noise:.0%} noise{ridge} — peak at n = {s['peak_samples']:.0f}, "
                 f"+{s['peak_excess_left_pp']:.1f} pp over the best smaller n")  # fmt: skip
    fig.tight_layout()
    return fig
