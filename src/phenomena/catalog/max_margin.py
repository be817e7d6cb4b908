"""Max-margin direction: gradient descent on the logistic loss over separable data converges in direction to the
hard-margin SVM, at a logarithmic rate.

Soudry, Hoffer, Nacson, Gunasekar & Srebro (2018) proved that for linearly separable data, GD with a small enough
fixed step on the logistic loss (no bias, no regularization) diverges in norm as w(t) = ŵ ln t + ρ(t), ρ bounded,
where ŵ is the hard-margin SVM solution: the loss decays like 1/t, the norm grows like ‖ŵ‖ ln t, and the angle
to ŵ closes only like 1/ln t. So "cos ≈ 1 at the end" is the wrong check: it is slow and easy to fake; this entry
checks the three *rates* against the theory's constants.

``quick``: n = 100 points in d = 10 with labels from a random unit teacher (points closer than 0.1 to its plane
are redrawn, so the data are separable with a margin), full-batch GD on the mean logistic loss at step 1 for
10⁵ steps (float64), logged at log-spaced steps. ŵ comes from the SVM dual (:func:`phenomena.analysis.max_margin
.hard_margin_svm`, tested against the primal solved by SLSQP).

Verdict, over the last two decades of steps (T/100 to T): the log-log slope of the loss is −1 (|slope + 1| small);
the growth of ‖w‖ per unit of ln t, divided by ‖ŵ‖, is 1; angle(w, ŵ) × ln t is constant (the ratio of its values
at T and T/100 is near 1) while the angle itself falls. At T = 10⁵ the rates are still approaching their limits
(the corrections are O(1/ln t)): calibration seeds give slopes of −0.85 to −0.93 and norm rates of 0.77 to 0.86
of ‖ŵ‖, so the tolerances allow for that. Control: the mechanism is an unregularized loss with an exponential tail;
no ℓ2 penalty. With weight decay 10⁻³ the regularized loss has a finite minimizer: the norm stops growing and the
loss stops falling, so the first two checks fail on values they measure (a non-separable control would leave ŵ
undefined, failing them only as unmeasured).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from phenomena.analysis import log_steps
from phenomena.analysis.max_margin import angle, hard_margin_svm
from phenomena.config import at_least, between, config, field, positive
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict

# Set on calibration seeds 100-109 (quick; see ENTRY.calibration), between the preset's largest error and the
# weight-decay control's smallest (0.997 for both rates), rounded down from their geometric midpoints.
MAX_LOSS_SLOPE_ERROR = 0.3  # |loss slope + 1| over the last two decades: preset 0.07-0.15, sqrt(0.152 * 0.997)
MAX_NORM_RATE_ERROR = 0.4  # |(d‖w‖ / d ln t) / ‖ŵ‖ − 1|: preset 0.14-0.23, sqrt(0.232 * 0.998)
MAX_ANGLE_LOG_DRIFT = 0.6  # |ln(angle·ln t at T / at T/100)|: preset 0.04-0.47 (a rate check; the control's 0.50)


@config
class Data:
    n: int = field(100, at_least(2), help="training points")
    d: int = field(10, at_least(2), help="input dimension")
    min_margin: float = field(0.1, at_least(0), help="points closer than this to the teacher's plane are redrawn")
    flip: float = field(0.0, between(0, 0.5, "[)"), help="fraction of labels flipped (> 0: not separable)")


@config
class Train:
    lr: float = field(1.0, positive, help="GD step size on the mean logistic loss")
    weight_decay: float = field(0.0, at_least(0), help="ℓ2 penalty (wd/2)‖w‖² added to the loss (0: the theory's case)")
    steps: int = field(100_000, at_least(100), help="GD steps")
    points: int = field(41, at_least(5), help="log-spaced steps at which w is recorded")


@config
class Config:
    data: Data = Data()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (teacher, points, flips)")


PRESETS = {
    "smoke": Config(train=Train(steps=10_000, points=21)),
    "quick": Config(),
    # not a published setting: Soudry et al.'s Figure 1 is a 2-D illustration; the same rates over 10^6 steps
    "full": Config(train=Train(steps=1_000_000, points=61)),
}
COSTS = {"smoke": "~1 s", "quick": "~3 s", "full": "~30 s"}


def make_data(cfg: Config, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points from N(0, I_d) labelled by a random unit teacher, redrawn within ``min_margin`` of its plane; then a
    ``flip`` fraction of the labels flipped."""
    rng = np.random.default_rng(seed)
    d = cfg.data
    teacher = rng.standard_normal(d.d)
    teacher /= np.linalg.norm(teacher)
    points = np.empty((d.n, d.d))
    for i in range(d.n):
        while True:
            p = rng.standard_normal(d.d)
            if abs(p @ teacher) > d.min_margin:
                points[i] = p
                break
    labels = np.sign(points @ teacher)
    flipped = rng.choice(d.n, size=int(round(d.flip * d.n)), replace=False)
    labels[flipped] *= -1
    return points, labels


def run(cfg: Config, ctx: RunContext) -> Result:
    x, y = make_data(cfg, ctx.stream_seed("data"))
    try:
        w_hat = hard_margin_svm(x, y)
    except UserError:
        w_hat = None  # not separable: no max-margin direction
    xt, yt = torch.tensor(x), torch.tensor(y)
    w = torch.zeros(x.shape[1], dtype=torch.float64)
    record = set(log_steps(cfg.train.steps, cfg.train.points))
    steps, losses, norms, angles = [], [], [], []
    with ctx.progress(cfg.train.steps, desc="max margin") as bar:
        for step in range(1, cfg.train.steps + 1):
            margins = yt * (xt @ w)
            grad = -(xt * (yt * torch.sigmoid(-margins))[:, None]).mean(0) + cfg.train.weight_decay * w
            w -= cfg.train.lr * grad
            if step in record:
                steps.append(step)
                losses.append(torch.nn.functional.softplus(-(yt * (xt @ w))).mean().item())
                norms.append(w.norm().item())
                angles.append(angle(w.numpy(), w_hat) if w_hat is not None else math.nan)
            if step % 1000 == 0:
                bar.update(1000)
    s = _rates(np.array(steps, float), np.array(losses), np.array(norms), np.array(angles))
    s["w_hat_norm"] = float(np.linalg.norm(w_hat)) if w_hat is not None else math.nan
    s["norm_rate_over_w_hat"] = s["norm_rate"] / s["w_hat_norm"]
    s["final_loss"], s["final_angle"] = losses[-1], angles[-1]
    series = {
        "loss": Series(steps, losses),
        "weight_norm": Series(steps, norms),
        "angle_to_svm": Series(steps, angles),
    }
    return ctx.result(cfg, s, series)


def _rates(t: np.ndarray, loss: np.ndarray, norm: np.ndarray, ang: np.ndarray) -> dict[str, float]:
    """Least-squares rates over the last two decades of ``t``: loss slope in log-log, norm growth per ln t, and the
    drift of angle·ln t between T/100 and T."""
    late = t >= t[-1] / 100
    lt = np.log(t[late])
    loss_slope = float(np.polyfit(lt, np.log(loss[late]), 1)[0])
    norm_rate = float(np.polyfit(lt, norm[late], 1)[0])
    first = int(np.argmax(late))
    product_start, product_end = ang[first] * math.log(t[first]), ang[-1] * math.log(t[-1])
    return {
        "loss_slope": loss_slope,
        "norm_rate": norm_rate,
        "angle_log_drift": math.log(product_end / product_start) if product_start > 0 and product_end > 0 else math.nan,
        "angle_fall": ang[-1] / ang[first] if ang[first] > 0 else math.nan,
    }


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check("loss decays like 1/t: |log-log slope + 1|", abs(s["loss_slope"] + 1), "<=", MAX_LOSS_SLOPE_ERROR),
            Check(
                "‖w‖ grows like ‖ŵ‖ ln t: |(d‖w‖/d ln t) / ‖ŵ‖ − 1|",
                abs(s["norm_rate_over_w_hat"] - 1),
                "<=",
                MAX_NORM_RATE_ERROR,
            ),
            Check(
                "angle to ŵ closes like 1/ln t: |ln(angle·ln t, end / T/100)|",
                abs(s["angle_log_drift"]),
                "<=",
                MAX_ANGLE_LOG_DRIFT,
            ),
            Check("the angle falls: angle at T / at T/100", s["angle_fall"], "<", 1.0),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 3, width=3.8)
    loss_ax, norm_ax, angle_ax = axes[0]
    steps, loss = result.curve("loss")
    t = np.array(steps, float)
    loss_ax.loglog(t, loss, color=PALETTE["train"], label="GD")
    loss_ax.loglog(t, loss[-1] * t[-1] / t, color=PALETTE["theory"], linestyle="--", label="∝ 1/t")
    loss_ax.set(xlabel="step t", ylabel="logistic loss", title=f"loss (slope {s['loss_slope']:.2f})")
    loss_ax.legend()
    _, norm = result.curve("weight_norm")
    norm_ax.semilogx(t, norm, color=PALETTE["train"], label="‖w(t)‖")
    if math.isfinite(s["w_hat_norm"]):
        norm_ax.semilogx(
            t,
            norm[-1] + s["w_hat_norm"] * (np.log(t) - math.log(t[-1])),
            color=PALETTE["theory"],
            linestyle="--",
            label="slope ‖ŵ‖ per ln t",
        )
    norm_ax.set(xlabel="step t", ylabel="‖w‖", title="norm grows like ‖ŵ‖ ln t")
    norm_ax.legend()
    _, ang = result.curve("angle_to_svm")
    if np.isfinite(ang).any():
        angle_ax.loglog(t, ang, color=PALETTE["train"], label="angle(w, ŵ)")
        angle_ax.loglog(
            t,
            ang[-1] * math.log(t[-1]) / np.log(np.maximum(t, 2)),
            color=PALETTE["theory"],
            linestyle="--",
            label="∝ 1/ln t",
        )
        angle_ax.legend()
    else:
        angle_ax.text(0.5, 0.5, "not separable: no ŵ", transform=angle_ax.transAxes, ha="center")
    angle_ax.set(xlabel="step t", ylabel="radians", title="direction converges to the SVM")
    d = cfg.data
    fig.suptitle(f"max margin: logistic GD, n = {d.n}, d = {d.d}, {d.flip:.0%} labels flipped, step {cfg.train.lr:g}")
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="max-margin",
    summary="gradient descent on separable data converges in direction to the hard-margin SVM, at a log rate",
    papers=(
        "Soudry, Hoffer, Nacson, Gunasekar, Srebro 2018 — The implicit bias of gradient descent on separable data",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("loss_slope", "norm_rate_over_w_hat", "angle_log_drift"),
    controls=(
        Control(
            "weight decay",
            {"train.weight_decay": 1e-3},
            must_fail=("loss decays like 1/t", "‖w‖ grows like"),
            why="an ℓ2 penalty gives the loss a finite minimizer: the norm stops growing and the loss stops falling",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread. Preset: loss slope -0.85 to -0.93, norm rate 0.77-0.86 of ‖ŵ‖, angle·ln t drift "
        "0.04-0.47, the angle falls 0.37-0.68x over the last two decades. Weight decay 1e-3: |slope + 1| and "
        "|rate − 1| 0.997-0.999 (fails both 10/10). The angle-drift check does not separate the control (0.49-0.52) "
        "and is not claimed as mechanism. A label-flip control was tried first: without ŵ its checks failed only as "
        "unmeasured, so it was replaced.",
        observed={
            "loss_slope": (-0.848, -0.8778, -0.8772, -0.9251, -0.8909, -0.8716, -0.8606, -0.8951, -0.8937, -0.9264),
            "norm_rate_over_w_hat": (0.793, 0.8272, 0.8172, 0.8523, 0.8198, 0.8267, 0.7679, 0.8461, 0.8445, 0.8584),
        },
    ),
)
