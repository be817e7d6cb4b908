"""Stepwise learning: a two-layer linear network learns the modes of its task one after another, each along the
closed-form sigmoid of Saxe, McClelland & Ganguli (2014), with plateaus in between.

With whitened inputs the learning dynamics of ŷ = W₂W₁x depend on the data only through Σ_yx = U S Vᵀ. From a small
init each mode's strength a_i = u_iᵀW₂W₁v_i follows τȧ = 2a(s_i − a), so a_i(t) = s_i / (1 + (s_i/a₀ − 1)e^{−2s_i t/τ})
rises from a plateau near a₀ to s_i around t½ = (τ/2s_i) ln(s_i/a₀ − 1): strong modes first, weak modes later, the
loss falling in steps (the closed forms and their derivation: :mod:`phenomena.analysis.deep_linear`). The time
constant of full-batch GD with step η on ½·mean‖y − ŷ‖² is τ = 1/η steps.

``quick``: a rank-4 teacher T = U diag(4, 2, 1, 0.5) Vᵀ (U, V random orthonormal, 8 → 8 dimensions), P = 200 inputs
whitened exactly (XᵀX/P = I), targets Y = XTᵀ; a 64-wide hidden layer; full-batch GD (autograd, float64) at
η = 0.005 (ηs₁ = 0.02: the discrete steps follow the flow) for 4000 steps = 20τ. The init is random, not aligned:
entries N(0, 2a₀/64) with a₀ = 10⁻⁶, so that each mode's effective initial strength ‖W₁v_i + W₂ᵀu_i‖²/4 (the
amplitude of the growing solution of the flow linearized around 0; :func:`~phenomena.analysis.deep_linear
.effective_initial_strength`) is a₀ on average; the theory uses each mode's own value computed from the init
(nothing is fitted). ``smoke``: three modes (4, 2, 1), 2000 steps. ``full``: five modes over a decade
(4 … 0.4), a₀ = 10⁻¹⁰, hidden 128, η = 0.0025, 14 000 steps. Not a published setting (the paper's figures use a
hierarchical toy data set; this is the same theory on a synthetic task with chosen singular values).

Verdict:

- the measured trajectories follow the closed form: max over modes and recorded steps of |a_i(t) − a_i^theory(t)|/s_i;
- the half-learning times match: max over modes of |t½ / t½^theory − 1|, t½ where the measured a_i/s_i crosses 1/2
  (linear interpolation between records); its residual (0.9-1.0% on calibration) is the discretization of the
  flow: a mode grows by ln(1 + ηs) per step, not ηs, i.e. 1% slower for s = 4 at η = 0.005;
- plateaus between modes: min over successive modes of t10(next) / t90(this), the time the next mode reaches 10% of
  its s over the time this one reaches 90% (> 1: the sigmoids do not overlap, the loss has flat steps);
- modes learned in order of singular value, with margin: min over successive modes of t½(next) / t½(this) (the
  theory gives 1.9 for singular values a factor 2 apart at a₀ = 10⁻⁶).

Control (the mechanism is the small init: the time to escape a₀ is what separates the modes): a random init with
a₀ = 1, comparable to the singular values. The modes then rise together from where they start (some already past
s/2, some negative), in about τ/s_max each: no plateaus (t10(next)/t90(this) = 0-0.07) and no ordering
(min t½ ratio 0-1.01), both failing on measured values. Its trajectories also leave the closed form (error 1.4-2.4;
the linearization that gives a₀ does not hold), and t½^theory is undefined for modes with a₀ ≥ s/2 (unmeasured);
neither is claimed for it.

Settings tried: a 32-wide hidden layer (random init, same task, seeds 100-102) left the last mode 2.5-3.5% late
(t½ error 0.018-0.035, trajectory error 0.06-0.12): modes learned earlier suppress the part of a later mode's
hidden vector along their own hidden direction (a fraction O(1/hidden) of its effective a₀); at 64 it is below the
discretization error, and at 256 the random init is indistinguishable from the aligned one (t½ error 0.0086 for
both). Halving η to 0.0025 does not remove that O(1/hidden) lag (it halves the discretization part only). Weaker
controls do not separate: at a₀ = 0.1 the order ratio is still 1.16-1.45 (seeds 100-103), though the plateaus
are gone (0.10-0.19).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from phenomena.analysis.deep_linear import (
    aligned_init,
    effective_initial_strength,
    half_learning_time,
    mode_strength,
    mode_strengths,
)
from phenomena.config import at_least, config, field, positive, require
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict

# Set on calibration seeds 100-109 (quick; see ENTRY.calibration); the large-init control's values in brackets.
MAX_TRAJECTORY_ERROR = 0.1  # of s_i: preset 0.032-0.034 (3x margin) [control 1.4-2.4]
MAX_HALF_TIME_ERROR = 0.03  # preset 0.0086-0.0099, the 1% discretization (3x margin) [control: undefined]
MIN_PLATEAU_RATIO = 1.0  # no overlap of the 10-90% rises: preset 1.31-1.38 [control 0-0.065]
MIN_ORDER_RATIO = 1.35  # preset 1.82-1.89 [control 0-1.01]; sqrt(1.816 * 1.009) = 1.354, rounded down


@config
class Data:
    singular_values: tuple[float, ...] = field(
        (4.0, 2.0, 1.0, 0.5), positive, help="singular values s_i of the task's Σ_yx, one mode each (distinct)"
    )
    n_in: int = field(8, positive, help="input dimension (≥ the number of modes)")
    n_out: int = field(8, positive, help="output dimension (≥ the number of modes)")
    samples: int = field(200, positive, help="training points (inputs whitened exactly: XᵀX/P = I)")

    def __post_init__(self):
        k = len(self.singular_values)
        require(k >= 2, "data.singular_values must name at least two modes (a staircase needs two steps)")
        require(len(set(self.singular_values)) == k, "data.singular_values must be distinct")
        require(self.n_in >= k and self.n_out >= k, "data.n_in and data.n_out must be >= the number of modes")
        require(self.samples >= self.n_in, "data.samples must be >= data.n_in (whitened inputs)")


@config
class Model:
    hidden: int = field(64, positive, help="hidden width of the two-layer linear network ŷ = W₂W₁x")


@config
class Init:
    a0: float = field(1e-6, positive, help="initial strength per mode: the expected ‖W₁v+W₂ᵀu‖²/4 (random) or exact")
    aligned: bool = field(False, help="balanced init aligned with the modes (the closed form's exact setting)")


@config
class Train:
    lr: float = field(0.005, positive, help="full-batch GD step η on ½·mean‖y − ŷ‖² (time constant τ = 1/η)")
    steps: int = field(4000, at_least(10), help="GD steps")
    every: int = field(10, positive, help="record the mode strengths every this many steps")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    init: Init = Init()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (task's singular vectors, inputs, init)")

    def __post_init__(self):
        require(self.model.hidden >= len(self.data.singular_values), "model.hidden must be >= the number of modes")


PRESETS = {
    "smoke": Config(data=Data(singular_values=(4.0, 2.0, 1.0)), train=Train(steps=2000, every=20)),
    "quick": Config(),
    # not a published setting (Saxe et al. show the idea on a hierarchical toy task): five modes over a decade,
    # a smaller init (longer plateaus), a wider hidden layer and a smaller step (closer to the flow)
    "full": Config(
        data=Data(singular_values=(4.0, 2.25, 1.25, 0.7, 0.4)),
        model=Model(hidden=128),
        init=Init(a0=1e-10),
        train=Train(lr=0.0025, steps=14_000, every=20),
    ),
}
COSTS = {"smoke": "~5 s", "quick": "~6 s", "full": "~15 s"}


def make_task(cfg: Config, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whitened inputs X (P, n_in) and targets Y = X Tᵀ of a teacher T = U diag(s) Vᵀ with random orthonormal U, V;
    returns X, Y and the SVD (U, s, V) of the empirical Σ_yx = YᵀX/P (= T up to rounding)."""
    d = cfg.data
    rng = np.random.default_rng(seed)
    k = len(d.singular_values)
    q, _ = np.linalg.qr(rng.standard_normal((d.samples, d.n_in)))
    x = q * math.sqrt(d.samples)
    u0, _ = np.linalg.qr(rng.standard_normal((d.n_out, k)))
    v0, _ = np.linalg.qr(rng.standard_normal((d.n_in, k)))
    y = x @ (v0 * np.asarray(d.singular_values)) @ u0.T
    u, s, vt = np.linalg.svd(y.T @ x / d.samples)
    return x, y, u[:, :k], s[:k], vt[:k].T


def init_weights(cfg: Config, u: np.ndarray, v: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random init with entries N(0, 2a₀/hidden) (so that E‖W₁v + W₂ᵀu‖²/4 = a₀), or the aligned balanced one."""
    rng = np.random.default_rng(seed)
    h, a0 = cfg.model.hidden, cfg.init.a0
    if cfg.init.aligned:
        return aligned_init(u, v, a0, h, rng)
    std = math.sqrt(2 * a0 / h)
    return std * rng.standard_normal((h, cfg.data.n_in)), std * rng.standard_normal((cfg.data.n_out, h))


def train(x, y, w1, w2, lr: float, steps: int, every: int, u, v, bar=None):
    """Full-batch GD on ½·mean‖y − W₂W₁x‖² (float64, autograd); returns the recorded steps, the mode strengths
    (len(steps), k) and the loss at those steps."""
    xt, yt = torch.tensor(x), torch.tensor(y)
    w1t = torch.tensor(w1, requires_grad=True)
    w2t = torch.tensor(w2, requires_grad=True)
    rec_steps, strengths, losses = [], [], []
    for step in range(steps + 1):
        loss = 0.5 * ((yt - xt @ w1t.T @ w2t.T) ** 2).sum(1).mean()
        if step % every == 0 or step == steps:
            rec_steps.append(step)
            losses.append(loss.item())
            with torch.no_grad():
                strengths.append(mode_strengths((w2t @ w1t).numpy(), u, v))
        if step == steps:
            break
        g1, g2 = torch.autograd.grad(loss, (w1t, w2t))
        with torch.no_grad():
            w1t -= lr * g1
            w2t -= lr * g2
        if bar is not None and step % 100 == 0:
            bar.update(100)
    return np.array(rec_steps), np.array(strengths), np.array(losses)


def crossing(steps: np.ndarray, values: np.ndarray, level: float) -> float:
    """The first time ``values`` reaches ``level`` (linear interpolation between records; 0 if it starts there;
    nan if it never does or a non-finite value comes first)."""
    for i, val in enumerate(values):
        if not math.isfinite(val):
            return math.nan
        if val >= level:
            if i == 0:
                return float(steps[0])
            v0 = values[i - 1]
            return float(steps[i - 1] + (level - v0) / (val - v0) * (steps[i] - steps[i - 1]))
    return math.nan


def _later(first: float, second: float) -> float:
    """second / first for crossing times: how many times later the second comes (inf when only the first is at
    0, 1 when both are, nan when either is unmeasured)."""
    if not (math.isfinite(first) and math.isfinite(second)):
        return math.nan
    if first > 0:
        return second / first
    return math.inf if second > 0 else 1.0


def run(cfg: Config, ctx: RunContext) -> Result:
    x, y, u, s, v = make_task(cfg, ctx.stream_seed("data"))
    w1, w2 = init_weights(cfg, u, v, ctx.stream_seed("init"))
    a0 = effective_initial_strength(w1, w2, u, v)
    tau = 1.0 / cfg.train.lr
    with ctx.progress(cfg.train.steps, desc="stepwise") as bar:
        steps, a, loss = train(x, y, w1, w2, cfg.train.lr, cfg.train.steps, cfg.train.every, u, v, bar)
    k = len(s)
    summary: dict[str, float] = {}
    traj_err, half_err, t10, t90, th = [], [], [], [], []
    for i in range(k):
        ratio = a[:, i] / s[i]
        t_half = crossing(steps, ratio, 0.5)
        t10.append(crossing(steps, ratio, 0.1))
        t90.append(crossing(steps, ratio, 0.9))
        th.append(t_half)
        # the closed form holds for any a0 > 0; t½ is a crossing only when a0 < s/2 (else nan: unmeasured)
        theory_half = half_learning_time(s[i], a0[i], tau) if 0 < a0[i] < s[i] / 2 else math.nan
        theory = mode_strength(steps, s[i], a0[i], tau) / s[i] if a0[i] > 0 else np.full(len(steps), np.nan)
        traj_err.append(float(np.max(np.abs(ratio - theory))))  # nan if any value is nan
        half_err.append(abs(t_half / theory_half - 1))
        summary.update(
            {
                f"s_{i + 1}": float(s[i]),
                f"a0_{i + 1}": float(a0[i]),
                f"t_half_{i + 1}": t_half,
                f"t_half_theory_{i + 1}": theory_half,
                f"t10_{i + 1}": t10[-1],
                f"t90_{i + 1}": t90[-1],
            }
        )
    summary["max_trajectory_error"] = float(np.max(traj_err))  # np.max, unlike max, propagates nan
    summary["max_half_time_error"] = float(np.max(half_err))
    # np.min over every pair: a mode that never reached its level (nan) makes the ratio unmeasured, not skipped
    summary["plateau_ratio"] = float(np.min([_later(t90[i], t10[i + 1]) for i in range(k - 1)] or [math.nan]))
    summary["order_ratio"] = float(np.min([_later(th[i], th[i + 1]) for i in range(k - 1)] or [math.nan]))
    summary["final_loss"] = float(loss[-1])
    series = {f"a_{i + 1}": Series(steps.tolist(), a[:, i].tolist()) for i in range(k)}
    series["loss"] = Series(steps.tolist(), loss.tolist())
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check(
                "trajectories follow the closed form: max |a_i(t) − a_i^theory(t)| / s_i",
                s["max_trajectory_error"],
                "<=",
                MAX_TRAJECTORY_ERROR,
            ),
            Check("half-learning times: max |t½ / t½^theory − 1|", s["max_half_time_error"], "<=", MAX_HALF_TIME_ERROR),
            Check(
                "plateaus between modes: min t10(next) / t90(this)",
                s["plateau_ratio"],
                ">=",
                MIN_PLATEAU_RATIO,
            ),
            Check("modes learned in order of s: min t½(next) / t½(this)", s["order_ratio"], ">=", MIN_ORDER_RATIO),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    k = len(cfg.data.singular_values)
    tau = 1.0 / cfg.train.lr
    fig, axes = subplots(1, 2, width=4.8)
    mode_ax, loss_ax = axes[0]
    colors = [PALETTE["train"], PALETTE["accent"], PALETTE["theory"], PALETTE["test"], "#9467bd", "#8c564b", "#e377c2"]
    theory_loss = None
    for i in range(k):
        steps, a = result.curve(f"a_{i + 1}")
        t = np.array(steps, float)
        si, a0 = s[f"s_{i + 1}"], s[f"a0_{i + 1}"]
        color = colors[i % len(colors)]
        mode_ax.plot(t, np.array(a) / si, color=color, linewidth=3, alpha=0.5, label=f"s{i + 1} = {si:.2g}")
        theory = mode_strength(t, si, a0, tau) if a0 > 0 else np.full(len(t), np.nan)
        mode_ax.plot(t, theory / si, color="black", linestyle="--", linewidth=0.9)
        theory_loss = (0 if theory_loss is None else theory_loss) + 0.5 * (si - theory) ** 2
        th = s[f"t_half_theory_{i + 1}"]
        if math.isfinite(th):
            for ax in (mode_ax, loss_ax):
                ax.axvline(th, color=color, linestyle=":", linewidth=1)
    mode_ax.plot([], [], color="black", linestyle="--", linewidth=0.9, label="closed form")
    mode_ax.set(xlabel=f"GD step (τ = 1/η = {tau:g} steps)", ylabel="a_i(t) / s_i", title="mode strengths u_iᵀW₂W₁v_i")
    mode_ax.legend(loc="lower right")
    steps, loss = result.curve("loss")
    loss_ax.semilogy(steps, loss, color=PALETTE["train"], linewidth=3, alpha=0.5, label="train loss")
    if theory_loss is not None:
        loss_ax.semilogy(
            steps, theory_loss, color="black", linestyle="--", linewidth=0.9, label="½Σ(s_i − a_i)², theory"
        )
    finite = [v for v in loss if math.isfinite(v) and v > 0]
    if finite:
        loss_ax.set_ylim(bottom=max(min(finite), finite[0] * 1e-9) / 2)  # the staircase, not float64's floor
    loss_ax.set(xlabel="GD step", ylabel="½ mean ‖y − ŷ‖²", title="loss: a staircase (dotted: theoretical t½)")
    loss_ax.legend(loc="lower left")
    init = "aligned" if cfg.init.aligned else "random"
    fig.suptitle(
        f"stepwise learning: two-layer linear net, hidden {cfg.model.hidden}, {init} init a₀ = {cfg.init.a0:g}, "
        f"plateau ratio {s['plateau_ratio']:.2f}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="stepwise-learning",
    summary="a two-layer linear net learns its task's modes one by one, each on the closed-form sigmoid",
    papers=(
        "Saxe, McClelland, Ganguli 2014 — Exact solutions to the nonlinear dynamics of learning in deep linear "
        "neural networks",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("max_trajectory_error", "max_half_time_error", "plateau_ratio", "order_ratio"),
    controls=(
        Control(
            "large init",
            {"init.a0": 1.0},
            must_fail=("plateaus between modes", "modes learned in order"),
            why="an init comparable to the singular values leaves no plateau to escape: the modes rise together",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread, ~2 s a run. Preset: trajectory error 0.032-0.034 of s_i, t½ error 0.0086-0.0099 "
        "(the discretization of the flow), plateau ratio 1.31-1.38 (closed form at a₀ = 1e-6: 1.37-1.42), order ratio "
        "1.82-1.89 (theory 1.90); 10/10 pass. Large init (init.a0=1): plateau ratio 0-0.065, order ratio 0-1.01 "
        "(fails both 10/10), trajectory error 1.4-2.4, t½ error unmeasured (a₀ ≥ s/2 for some modes). A 32-wide "
        "hidden layer was tried first: trajectory error up to 0.12 on seeds 100-102 (the O(1/hidden) lag of late "
        "modes), hence 64.",
        observed={
            "max_trajectory_error": (0.0323, 0.0329, 0.033, 0.032, 0.0325, 0.0328, 0.0325, 0.033, 0.033, 0.0335),
            "max_half_time_error": (0.0092, 0.0086, 0.0086, 0.0086, 0.0086, 0.0086, 0.0086, 0.0099, 0.0086, 0.0087),
            "plateau_ratio": (1.3819, 1.3448, 1.3656, 1.3449, 1.3064, 1.3205, 1.3253, 1.3476, 1.3708, 1.373),
            "order_ratio": (1.8704, 1.858, 1.8926, 1.8729, 1.8164, 1.8357, 1.8482, 1.8678, 1.871, 1.8682),
        },
    ),
)
