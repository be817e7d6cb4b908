"""In-context learning: a transformer trained on prompts of linear-regression examples regresses in context.

Garg, Tsipras, Liang & Valiant (2022) trained a GPT-2-style decoder on prompts (x_1, y_1, …, x_k, y_k, x_q)
with x ~ N(0, I_d), a fresh task w ~ N(0, I_d) per prompt and y = xᵀw, the loss being the squared error of its
prediction at every x position. The trained model predicts y_q for a new w from the prompt alone, and its error
against the number k of in-context examples tracks least squares: the optimal noiseless error max(d − k, 0)/d
(normalized by d, so predicting 0 costs 1), far below 3-nearest-neighbours and the averaging estimator.

``quick`` (d = 5, 11 points per prompt) trains a small decoder (:class:`phenomena.models.icl_transformer
.ICLTransformer`: linear read-in, 2 pre-LN blocks of causal attention + MLP, width 32, 2 heads, linear read-out)
with Adam at 3e-3 on 64 freshly sampled prompts per step for 1,200 steps, then measures the error at each k on
1,000 held-out prompts, with the baselines (:mod:`phenomena.analysis.icl_baselines`) on the same prompts.

This is far less training than the paper's (500k steps, a 12-layer model), and at CPU budget the model is only
part of the way to least squares: on calibration seeds its error/d at k ≥ d + 2 is 0.33-0.39, where least squares
is exactly 0 (a prototype of the 64-wide 3-layer model kept improving with training: 0.17 at k = 10 after 2,400
steps). So the verdict checks what the budget shows, and no more: the model learns to use its context (the error
falls with k, Kendall τ), beats 3-NN and averaging at k = d by a margin, and its error at k ≥ d + 2 is far below
the no-context level 1 (a bound, not agreement with least squares, which ``full`` is meant to approach; not run).
How far the budget is from the claim was measured on seed 0 (one run each, one thread, not used for any threshold):
the quick model trained 6,000 steps plateaus near 0.29 at k ≥ d + 2; Garg et al.'s tiny model (``-s
model.d_model=64 -s model.n_layers=3 -s train.lr=1e-3 -s train.steps=6000``, 165 s CPU) tracks least squares up to
k = d − 1 (0.80, 0.59, 0.53, 0.34 against 0.79, 0.57, 0.47, 0.22 at k = 1-4) and reaches 0.23 at k = d and 0.06 at
k = 10, against 3-NN's 0.89 and 0.59: with capacity and steps the error approaches least squares' curve.
The per-k curves are also logged during training (``error_k_step*`` series, the right panel of the figure).

Controls: with attention restricted to each position itself (``model.attention=diagonal``), nothing passes between
positions: the model can only predict the prior mean, error ≈ 1 at every k, and all four checks fail. With x scaled
by 3 at test (``eval.x_scale=3``; least squares is scale-free) the model leaves its training distribution and its
late error grows about 16-fold (6 against 0.37): the late-error check fails. Every run also evaluates its model
on the held-out prompts with x × 3 (the same draws a run under ``eval.x_scale=3`` makes) and stores the checked values
at both scales (``x_scale_1.late_error``, ``x_scale_3.late_error``, ...), the verdict reading the config's, so
``phenomena verify`` judges this control on the main runs (it is derived). The noisy-label / ridge leg is left
out of the quick verdict (budget); ``data.noise`` > 0 trains and evaluates with noisy labels and adds the ridge
curve (α = σ²), untested beyond the ridge oracle.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.stats import kendalltau

from phenomena.analysis.icl_baselines import (
    averaging_predictions,
    least_squares_predictions,
    nearest_neighbor_predictions,
    normalized_squared_error,
    optimal_noiseless_error,
    ridge_predictions,
)
from phenomena.config import at_least, config, field, positive
from phenomena.data.linear_regression_prompts import linear_regression_prompts
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models.icl_transformer import ICLTransformer
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.optim import Adam

# Set on calibration seeds 100-104 (quick, one thread; ENTRY.calibration), rounded down from the geometric midpoint
# of the preset's worst value and the no-attention control's best.
MAX_LATE_ERROR = 0.6  # mean error/d over k >= d + 2: preset 0.33-0.39, no attention 1.00-1.05, x × 3 5.8-6.6
MAX_RATIO_VS_3NN = 0.75  # model / 3-NN at k = d: preset 0.48-0.56, no attention 1.10-1.13
MAX_RATIO_VS_AVERAGING = 0.55  # model / averaging at k = d: preset 0.36-0.42, no attention 0.81-0.91
MAX_KENDALL_TAU = -0.6  # Kendall τ(k, error): preset -0.96 to -0.78, no attention -0.31 to 0.64
SHIFT = 3.0  # the shift control's x scale at test: every run measures its checks there too
CHECKED = ("late_error", "ratio_vs_3nn_at_d", "ratio_vs_averaging_at_d", "kendall_tau")  # stored per scale


@config
class Data:
    d: int = field(5, at_least(1), help="input dimension")
    n_points: int = field(11, at_least(2), help="(x, y) pairs per prompt: k runs from 0 to n_points − 1")
    noise: float = field(0.0, at_least(0), help="label noise standard deviation (train and test)")


@config
class Model:
    d_model: int = field(32, positive, help="residual width (Garg et al.'s tiny model: 64)")
    n_heads: int = field(2, positive, help="attention heads")
    n_layers: int = field(2, positive, help="blocks (Garg et al.'s tiny model: 3)")
    attention: Literal["causal", "diagonal"] = field("causal", help="diagonal: each position attends only to itself")


@config
class Train:
    steps: int = field(1200, positive, help="Adam steps, each on freshly sampled prompts")
    batch_size: int = field(64, positive, help="prompts per step")
    lr: float = field(3e-3, positive, help="Adam learning rate")
    log_every: int = field(200, positive, help="measure the error against k every this many steps")


@config
class Eval:
    prompts: int = field(1000, positive, help="held-out prompts for the final error curves")
    x_scale: float = field(1.0, positive, help="x multiplied by this at test only (a distribution shift)")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    eval: Eval = Eval()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(train=Train(steps=100, log_every=50), eval=Eval(prompts=200)),
    "quick": Config(),
    # not the paper's setting (theirs: d = 20, 41 points, a 12-layer 256-wide GPT-2, 500k steps with a curriculum):
    # their "tiny" model on the toy task, trained long enough to approach least squares (hours on CPU)
    "full": Config(model=Model(d_model=64, n_layers=3), train=Train(steps=50_000, lr=1e-3, log_every=2500)),
}
COSTS = {"smoke": "~5 s", "quick": "~40-60 s at one thread", "full": "~1 h on CPU (estimated, not run)"}


def error_curve(model: torch.nn.Module, prompts, d: int) -> torch.Tensor:
    """The model's normalized squared error (n_points,) at each k, read at the x positions."""
    with torch.no_grad():
        pred = model(prompts.tokens())[:, 0::2]
    return normalized_squared_error(pred, prompts.y, d)


def run(cfg: Config, ctx: RunContext) -> Result:
    d, n, noise = cfg.data.d, cfg.data.n_points, cfg.data.noise
    model = ICLTransformer(
        d,
        2 * n,
        d_model=cfg.model.d_model,
        n_heads=cfg.model.n_heads,
        n_layers=cfg.model.n_layers,
        attention=cfg.model.attention,
        seed=ctx.stream_seed("init"),
    )
    opt = Adam(model.parameters(), lr=cfg.train.lr, foreach=True)
    g = ctx.generator("prompts")
    monitor = linear_regression_prompts(256, n, d, ctx.generator("monitor"), noise=noise)
    logged: dict[int, list[float]] = {}
    losses: list[float] = []
    with ctx.progress(cfg.train.steps, desc="in-context learning") as bar:
        for step in range(1, cfg.train.steps + 1):
            p = linear_regression_prompts(cfg.train.batch_size, n, d, g, noise=noise)
            loss = (model(p.tokens())[:, 0::2] - p.y).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item() / d)
            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                logged[step] = error_curve(model, monitor, d).tolist()
            bar.update(1)

    def evaluate(x_scale: float):
        """The held-out prompts at ``x_scale`` (the same draws at every scale: a fresh "test" stream) and the
        error curves on them."""
        test = linear_regression_prompts(cfg.eval.prompts, n, d, ctx.generator("test"), noise=noise, x_scale=x_scale)
        curves = {
            "model": error_curve(model, test, d),
            "least_squares": normalized_squared_error(least_squares_predictions(test.x, test.y), test.y, d),
            "nearest_neighbors_3": normalized_squared_error(nearest_neighbor_predictions(test.x, test.y, 3), test.y, d),
            "averaging": normalized_squared_error(averaging_predictions(test.x, test.y), test.y, d),
        }
        return test, curves

    test, curves = evaluate(cfg.eval.x_scale)
    # the shift control (eval.x_scale=3) on the same trained model and prompts, computed as a run under it computes
    # them, so that control is judged on the main runs (it is derived)
    by_scale = {cfg.eval.x_scale: curves}
    if cfg.eval.x_scale != SHIFT:
        by_scale[SHIFT] = evaluate(SHIFT)[1]
        curves["model_x_scale_3"] = by_scale[SHIFT]["model"]
    if noise > 0:
        curves["ridge"] = normalized_squared_error(ridge_predictions(test.x, test.y, noise**2), test.y, d)
    ks = list(range(n))
    series = {name: Series(ks, [float(v) for v in c]) for name, c in curves.items()}
    series["optimal_noiseless"] = Series(ks, [optimal_noiseless_error(d, k) for k in ks])
    for step, curve in logged.items():
        series[f"error_k_step{step}"] = Series(ks, curve)
    series["train_loss"] = Series(list(range(1, len(losses) + 1)), losses)
    s = {**_statistics(curves, d, n), "final_train_loss": float(np.mean(losses[-50:]))}
    for x_scale, scaled in by_scale.items():  # what the verdict reads at each scale ("x_scale_3.late_error")
        stats = _statistics(scaled, d, n)
        s.update({f"{_scale_key(x_scale)}.{key}": stats[key] for key in CHECKED})
    return ctx.result(cfg, s, series)


def _statistics(curves: dict, d: int, n: int) -> dict[str, float]:
    """The summary of one set of error curves: the late error, the ratios at k = d, the trend in k."""
    late = slice(d + 2, n)
    m, ls = curves["model"].numpy(), curves["least_squares"].numpy()
    at_d = min(d, n - 1)
    return {
        "late_error": float(m[late].mean()) if d + 2 < n else math.nan,
        "late_error_least_squares": float(ls[late].mean()) if d + 2 < n else math.nan,
        "error_at_d": float(m[at_d]),
        "ratio_vs_3nn_at_d": float(m[at_d] / curves["nearest_neighbors_3"][at_d]),
        "ratio_vs_averaging_at_d": float(m[at_d] / curves["averaging"][at_d]),
        "kendall_tau": float(kendalltau(list(range(n)), m).statistic) if np.isfinite(m).all() else math.nan,
        "error_at_0": float(m[0]),
    }


def _scale_key(x_scale: float) -> str:
    return f"x_scale_{x_scale:g}"


def verdict(result: Result) -> Verdict:
    # the test scale the config chooses, by name: every run also measures x × 3 (the shift control is derived)
    named = _scale_key(result.config.eval.x_scale)
    s = {key: result.summary[f"{named}.{key}"] for key in CHECKED}
    return Verdict(
        (
            Check(
                "learns in context: mean error/d at k ≥ d + 2 (least squares 0, no context 1)",
                s["late_error"],
                "<=",
                MAX_LATE_ERROR,
            ),
            Check("beats 3-NN at k = d: error ratio", s["ratio_vs_3nn_at_d"], "<=", MAX_RATIO_VS_3NN),
            Check("beats averaging at k = d: error ratio", s["ratio_vs_averaging_at_d"], "<=", MAX_RATIO_VS_AVERAGING),
            Check("the error falls with k: Kendall τ(k, error)", s["kendall_tau"], "<=", MAX_KENDALL_TAU),
        )
    )


def figure(result: Result):
    cfg, s = result.config, result.summary
    fig, axes = subplots(1, 2, width=4.6)
    ax, train_ax = axes[0]
    styles = {
        "model": ("transformer", PALETTE["train"], "-", "o"),
        "least_squares": ("least squares", PALETTE["theory"], "-", None),
        "ridge": ("ridge (α = σ²)", "tab:purple", "-", None),
        "nearest_neighbors_3": ("3-NN", "tab:orange", "-.", None),
        "averaging": ("averaging", "tab:brown", ":", None),
        "optimal_noiseless": ("max(d − k, 0)/d", "black", "--", None),
        "model_x_scale_3": ("transformer, x × 3 at test (error / 9)", PALETTE["control"], "-", "x"),
    }
    for name, (label, color, ls, marker) in styles.items():
        if name in result.series:
            k, v = result.curve(name)
            v = np.array(v) / (9 if name == "model_x_scale_3" else 1)  # on the scale of its own no-context error
            ax.plot(k, v, color=color, linestyle=ls, marker=marker, markersize=3, label=label)
    ax.axvline(cfg.data.d, color="grey", linewidth=0.6)
    ax.set_ylim(-0.05, max(1.6, min(4.0, 1.1 * s["error_at_0"])))
    ax.set(xlabel="in-context examples k", ylabel="squared error / d", title="error vs examples in the prompt")
    ax.legend(fontsize=7)
    steps = sorted(int(n.removeprefix("error_k_step")) for n in result.series if n.startswith("error_k_step"))
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i, step in enumerate(steps):
        k, v = result.curve(f"error_k_step{step}")
        train_ax.plot(k, v, color=cmap(i / max(len(steps) - 1, 1)), label=f"step {step}")
    train_ax.set(xlabel="in-context examples k", ylabel="squared error / d", title="during training", ylim=(0, None))
    train_ax.legend(fontsize=7)
    m = cfg.model
    fig.suptitle(
        f"in-context linear regression: d = {cfg.data.d}, {m.n_layers} layers × {m.d_model}, attention "
        f"{m.attention}, x scale at test {cfg.eval.x_scale:g}, noise {cfg.data.noise:g}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="in-context-learning",
    summary="a small transformer trained on linear-regression prompts regresses in context, beating 3-NN and averaging",
    papers=(
        "Garg, Tsipras, Liang, Valiant 2022 — What can transformers learn in-context? A case study of simple "
        "function classes",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("late_error", "ratio_vs_averaging_at_d", "kendall_tau"),
    controls=(
        Control(
            "no attention across positions",
            {"model.attention": "diagonal"},
            must_fail=("learns in context", "beats 3-NN", "beats averaging", "the error falls with k"),
            why="each position sees only its own token: nothing in the context can inform the prediction",
        ),
        Control(
            "x scaled by 3 at test",
            {"eval.x_scale": 3.0},
            must_fail=("learns in context",),
            why="out of the training distribution the learned algorithm is not least squares, which is scale-free",
            derived=True,
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 105)),
        note="quick, one thread (40-65 s a run on the shared 2-core machine). Preset: mean error/d at k >= d + 2 "
        "0.33-0.39 (least squares 0 to 1e-12), model/3-NN at k = d 0.48-0.56, model/averaging 0.36-0.42, Kendall tau "
        "-0.96 to -0.78: all pass 5/5. Attention only to itself (model.attention=diagonal): late error 1.00-1.05, "
        "ratios 1.10-1.13 and 0.81-0.91, tau -0.31 to 0.64: fails all four checks 5/5. x × 3 at test "
        "(eval.x_scale=3): late error 5.8-6.6 (fails 5/5); it still beats averaging (0.004) and 3-NN 4/5 (0.74-0.81), "
        "which are not claimed for it. Tried first (prototype, not the entry): the 64-wide 3-layer model at Adam 1e-3 "
        "reached 0.17 at k = 10 only after 2,400 steps (~280 s with contention); width 32 / 2 layers at lr 1e-2 did "
        "not learn in 450 steps (error ~1 at every k); a curriculum on the active dimensions (2 -> 5) did not help.",
        observed={
            "late_error": (0.3844, 0.3474, 0.3675, 0.3916, 0.3316),
            "ratio_vs_3nn_at_d": (0.506, 0.5586, 0.4976, 0.4857, 0.4774),
            "ratio_vs_averaging_at_d": (0.3865, 0.4156, 0.3693, 0.3579, 0.3833),
            "kendall_tau": (-0.9636, -0.8909, -0.7818, -0.7818, -0.9273),
        },
    ),
)
