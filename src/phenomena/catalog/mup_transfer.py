"""μP hyper-parameter transfer: under the maximal-update parameterization the optimal learning rate of an MLP stays
put as the network widens; under the standard parameterization it drifts to smaller values.

Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao (2021, "Tensor Programs V") showed that in μP
the loss-versus-learning-rate curves of networks of different widths share their minimizer (so a learning rate
tuned on a narrow proxy transfers zero-shot to a wide model), and that at a fixed learning rate the wider network
is always better; in the standard parameterization (SP) the optimum moves with width and wide networks become
unstable at learning rates that suit narrow ones (their Figures 1 and 3).

Setting. MNIST-1D (4000 training examples), ReLU MLPs 40 → n → n → 10 with biases, trained with Adam (β = 0.9,
0.999) for a fixed number of minibatch steps; the metric is the training cross-entropy on the whole training set
at the end (the paper's metric for transfer plots). For each width the learning rates of a log₂ grid are one
vectorized ensemble (:func:`phenomena.training.train_ensemble`, per-member lr; every member of a width shares
the initialization and the minibatch order, so the lr curves are paired); widths are the run's pieces.

- SP: TP5's Table 3 SP, the project's ``standard`` MLP: weights N(0, σ_w²/fan_in), zero biases, one global lr.
- μP for Adam, relative to a base width n₀ (the smallest width; r = n / n₀), as the ``mup`` package's
  ``MuReadout`` + ``MuAdam``: input layer and all biases unchanged; hidden weights with SP's init and Adam
  lr / r; readout with SP's init, output multiplier 1/r and (through the multiplier) effective lr / r. At
  n = n₀ the two arms are the same network with the same updates. The project's ``ScaledLinear("mup")`` is
  μP for SGD with one global lr ∝ width, not for Adam (hidden layers need lr ∝ 1/width there, which one global
  lr cannot give), so the entry builds its μP from the ``standard`` MLP: Adam's update of a raw weight w is
  invariant to a multiplier m on it, so a hidden W = m·w with m = 1/r and w = r·W₀ has Adam lr η/r in the
  effective weight, from the same W₀, and a readout W = (1/r)·W₀ has init W₀/r and lr η/r. This holds up to
  Adam's ε, which acts on raw gradients r times smaller than SP's: ε is 10⁻¹² here (both arms), so ε·r stays
  negligible (a test checks the construction against ``torch.optim.Adam`` with per-layer lrs). No change in
  ``models/`` is needed.

The optimum of a width is the vertex of a parabola in log₂ lr through the grid minimum and its two neighbours
(:func:`phenomena.analysis.lr_transfer.optimal_log_lr`); a diverged run is the worst point of its curve, and an
optimum at the grid's edge is unmeasured (nan → the checks that use it fail).

Verdict (quick: widths 16-512, 1.5 decades; lr grid 2⁻¹⁰…2⁻³ in octaves; 300 steps of batch 128):

1. μP transfers: the spread (max − min) of log₂(optimal lr) over the wide widths (``model.transfer_from`` = 64
   up, 4 widths) is at most ``MAX_MUP_SPREAD`` octaves.
2. μP's spread is a fraction of SP's over the same widths (at most ``MAX_SPREAD_RATIO``).
3. SP drifts: the least-squares slope of log₂(optimal lr) against log₂ width over all widths is at most
   ``MAX_SP_SLOPE`` (the optimum falls as the network widens; TP5's Figure 1 left; −1 is Adam-SP's asymptote).
4. μP: wider is better at a fixed lr: at the grid lr nearest the narrowest width's μP optimum, the training
   loss falls from each width to the next; the largest rise is at most ``MAX_MUP_RISE`` (nats). At that lr
   (below the wide widths' optimum) the μP curves of the widest nets nearly coincide, as the limit is reached,
   so μP's rise is a small, noisy number (−0.07…+0.02 on calibration seeds); SP's is +0.1…+0.5 (past its
   stable lr at width 512).

Why the transfer checks skip the narrowest widths: μP's optimum converges as the width grows; it is not flat from
width 16. On calibration seeds its optimum rises by about one octave from width 16 to 64 (e.g. seed 100: 2⁻⁶·¹,
2⁻⁵·³, 2⁻⁴·⁸, then 2⁻⁴·⁶, 2⁻⁴·³, 2⁻⁴·⁴ at 128-512), so over all six widths μP's spread (1.2-2.0 octaves) is
hardly below SP's (1.9-2.9), while over 64-512 it is a fraction of it. A likely reason: Adam's update of a hidden
matrix is not low rank, and its unaligned part moves features by ∝ √n instead of ∝ n, which still matters at
small n and lowers the optimal lr there (SP's drift is weak at the same widths, −0.1 to −0.3 octave per doubling,
and steepens to −0.5…−0.9 from 128 up). The sweep itself still spans 1.5 decades, and check 3 uses all of it.
Tried to remove μP's early drift, none did (seed 100): the readout started at zero (spread 1.41 over 16-512,
slope +0.26), μP's base width 128 instead of 16 (1.49, +0.33), batch 32 with widths 32-1024 (1.34, +0.24;
2.9 min, far over quick's budget: width 1024 alone costs ~100 s at one thread).

``full`` judges the transfer over widths 64-2048, the whole 1.5 decades, with the lr grid widened to 2⁻¹³ (seed 0,
one run: μP's optimum spreads 0.91 octaves over all six widths, SP's 3.3, SP's slope −0.70 octave per doubling;
wider is better at a fixed lr; the verdict passes). With quick's grid (2⁻¹⁰ up) SP's optimum at width 2048 lay
at the grid's edge and was unmeasured.

Control ("SP in the μP arm": ``model.parameterization=standard``): the transfer arm becomes SP, the very network
and updates of the SP arm, so its optimum drifts (checks 1 and 2 fail on the measured spread and a ratio of 1)
and the widest nets are past their stable lr at the narrow optimum (check 4 fails on a measured rise). Check 3
is the in-run contrast of the SP arm and is not claimed by the control.

Tried first (one seed, 300 steps, batch 128): SGD (with or without momentum 0.9) on the project's ``mup`` with
lr ∝ width and on SP. With SGD the SP optimum did not move between widths 32 and 512 at this training length
(it sat at 2⁻³ with momentum, 2⁰ without, at every width: the cross-entropy saturates instead of diverging),
so SGD showed no contrast to transfer against; Adam's SP drift is the strong one (its hidden updates scale
with width). A first μP version kept the readout's SP init (variance 1/n, lr / r): not μP (TP5 needs ≤ 1/n²).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from phenomena.analysis.lr_transfer import optimal_log_lr, optimum_drift, optimum_spread
from phenomena.config import at_least, between, config, field, one_of, positive, require
from phenomena.data import mnist1d
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.models.layers import ScaledLinear
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import train_ensemble

# Set on calibration seeds 100-109 (quick; see ENTRY.calibration) between the preset's worst value and the SP
# control's best: the geometric midpoint for the spreads and their ratio, the arithmetic one for the rise.
MAX_MUP_SPREAD = 1.1  # octaves over widths 64-512: preset 0.45-0.88, control 1.63-1.98 (set at 100-104: 1.12)
MAX_SPREAD_RATIO = 0.7  # μP's spread over SP's, same widths: preset 0.27-0.49, control 1 (the arms are one)
MAX_SP_SLOPE = -0.2  # octaves of lr per doubling of width: SP arm -0.37 to -0.52; half the weakest (no control: 0)
MAX_MUP_RISE = 0.05  # nats: preset -0.066 to +0.016, control +0.097 to +0.52; (0.016 + 0.097) / 2 (see the note)

ARMS = ("sp", "mup")
MUP_ONLY = ("model.parameterization", "model.base_width", "model.readout_zero_init")  # knobs the SP arm never reads


def _increasing(key: str, values: tuple) -> None:
    """At least three values, strictly increasing (an optimum needs a neighbour on each side)."""
    ok = len(values) >= 3 and all(a < b for a, b in zip(values, values[1:], strict=False))
    require(ok, f"{key} needs at least 3 strictly increasing values; got {values}")


@config
class Data:
    num_samples: int = field(5000, at_least(100), help="MNIST-1D examples generated (frozen public set: seed 42)")
    train_split: float = field(0.8, between(0, 1), help="fraction of them in the training set")


@config
class Model:
    widths: tuple[int, ...] = field((16, 32, 64, 128, 256, 512), positive, help="hidden widths, increasing (>= 3)")
    depth: int = field(2, at_least(2), help="hidden layers (>= 2: μP matters for hidden-to-hidden weights)")
    weight_std: float = field(1.0, positive, help="σ_w: every layer's weights start N(0, σ_w²/fan_in)")
    parameterization: str = field(
        "mup", one_of("mup", "standard"), help="the transfer arm: mup (μP for Adam) or standard (the SP control)"
    )
    base_width: int | None = field(None, positive, help="μP's base width n₀ (μP = SP there); none = the narrowest")
    readout_zero_init: bool = field(False, help="μP arm: start the readout weights at zero (TP5's recommendation)")
    transfer_from: int = field(64, positive, help="the transfer checks compare the optima of widths >= this (>= 3)")

    def __post_init__(self):
        _increasing("model.widths", self.widths)
        wide = [w for w in self.widths if w >= self.transfer_from]
        require(len(wide) >= 3, f"model.transfer_from must leave at least 3 widths; got {wide}")


@config
class Train:
    log2_lrs: tuple[float, ...] = field(
        tuple(float(k) for k in range(-10, -2)),
        help="log₂ Adam learning rates, increasing (μP: the hidden and readout lr at the base width)",
    )
    steps: int = field(300, positive, help="Adam steps per run")
    batch_size: int = field(128, positive, help="examples per step")
    eps: float = field(1e-12, positive, help="Adam's ε (small: μP's raw hidden and readout gradients are 1/r of SP's)")

    def __post_init__(self):
        _increasing("train.log2_lrs", self.log2_lrs)


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (initializations and minibatch orders)")


PRESETS = {
    "smoke": Config(model=Model(widths=(8, 16, 32), transfer_from=8), train=Train(steps=100)),
    "quick": Config(),
    # not TP5's setting (CIFAR-10 MLPs of width 256-8192, 20 epochs): quick's grid and budget over widths 64-2048,
    # 1.5 decades that all start above the narrow widths where μP's optimum still moves, every width judged; the
    # grid reaches 2⁻¹³ because SP's optimum at width 2048 lies below quick's 2⁻¹⁰ (seed 0: at the edge, unmeasured)
    "full": Config(
        model=Model(widths=(64, 128, 256, 512, 1024, 2048), transfer_from=64),
        train=Train(log2_lrs=tuple(float(k) for k in range(-13, -2))),
    ),
}
COSTS = {"smoke": "~3 s", "quick": "~35 s at one thread", "full": "~20-30 min at one thread"}


def unused(cfg: Config) -> tuple[str, ...]:
    """μP's own knobs do nothing when the μP arm runs as SP (the control)."""
    return ("model.base_width", "model.readout_zero_init") if cfg.model.parameterization == "standard" else ()


def build_model(width: int, cfg: Config, arm: str, seed: int) -> MLP:
    """The 40 → width → … → 10 MLP of ``arm`` ("sp" or "mup"): SP is the ``standard`` MLP; μP is the same draw
    with r = width / base width and, under one global Adam lr η, hidden weights W = (1/r)·w with w = r·W₀ (SP's
    init, effective lr η/r) and the readout W = (1/r)·W₀ (output multiplier 1/r, effective lr η/r); the input
    layer and the biases are SP's. ``model.parameterization=standard`` makes the μP arm SP (the control)."""
    m = cfg.model
    model = MLP(40, 10, width=width, depth=m.depth, parameterization="standard", weight_std=m.weight_std, seed=seed)
    if arm == "mup" and m.parameterization == "mup":
        r = width / (m.base_width or m.widths[0])
        linears = [layer for layer in model.layers if isinstance(layer, ScaledLinear)]
        with torch.no_grad():
            for layer in linears[1:-1]:  # hidden: SP's init W = (1/r)·(r·W₀), Adam lr / r
                layer.weight.mul_(r)
                layer.weight_mult = 1.0 / r
        linears[-1].weight_mult = 1.0 / r  # readout: output multiplier 1/r on SP's init, hence also Adam lr / r
        if m.readout_zero_init:
            with torch.no_grad():
                linears[-1].weight.zero_()
    return model


def train_width(job: tuple) -> np.ndarray:
    """One arm at one width: one ensemble over the lr grid; the final training loss per lr (nan: diverged).
    A module-level function of one picklable argument for :meth:`RunContext.map`: (cfg, width, arm, init seed,
    order seed, cache folder, progress bar or None)."""
    cfg, width, arm, init_seed, order_seed, cache, bar = job
    t, lrs = cfg.train, [2.0**k for k in cfg.train.log2_lrs]
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=cache)
    res = train_ensemble(
        lambda seed: build_model(width, cfg, arm, seed),
        [init_seed] * len(lrs),
        data,
        loss="ce",
        optimizer="adam",
        lr=lrs,
        eps=t.eps,
        steps=t.steps,
        batch_size=t.batch_size,
        log_every=t.steps,
        order_seeds=[order_seed] * len(lrs),
        progress=bar,
        evaluate=("train",),  # the transfer is judged on the final training loss only
    )
    return res.curves["train_loss"][:, -1].numpy()


def arm_stats(widths: list[int], log2_lrs: list[float], losses: np.ndarray, transfer_from: int) -> dict[str, float]:
    """One arm's [width, lr] training losses: the optimum per width; the spread and drift of the optima over all
    widths and over the wide ones (>= ``transfer_from``); the loss across widths at the grid lr nearest the
    narrowest width's optimum."""
    optima = [optimal_log_lr(log2_lrs, row) for row in losses]
    s = {f"log2_lr_opt_w{w}": o for w, o in zip(widths, optima, strict=True)}
    wide = [k for k, w in enumerate(widths) if w >= transfer_from]
    s["spread"] = optimum_spread(optima)
    s["drift"] = optimum_drift(widths, optima)
    s["spread_wide"] = optimum_spread([optima[k] for k in wide])
    s["drift_wide"] = optimum_drift([widths[k] for k in wide], [optima[k] for k in wide])
    if math.isfinite(optima[0]):
        j = int(np.argmin(np.abs(np.asarray(log2_lrs) - optima[0])))
        fixed = losses[:, j]
        s["fixed_log2_lr"] = float(log2_lrs[j])
        s["max_rise_fixed_lr"] = float(np.diff(fixed).max()) if np.isfinite(fixed).all() else math.nan
        s["widest_over_narrowest_fixed_lr"] = float(fixed[-1] / fixed[0]) if np.isfinite(fixed).all() else math.nan
    else:
        s["fixed_log2_lr"] = s["max_rise_fixed_lr"] = s["widest_over_narrowest_fixed_lr"] = math.nan
    s["best_loss_widest"] = float(np.nanmin(losses[-1])) if np.isfinite(losses[-1]).any() else math.nan
    return s


def run(cfg: Config, ctx: RunContext) -> Result:
    widths, log2_lrs = list(cfg.model.widths), list(cfg.train.log2_lrs)
    mnist1d(
        cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache
    )  # generate (and cache) once before the pieces
    per_arm = len(log2_lrs) * cfg.train.steps * len(widths)
    d = cfg.model.depth
    with ctx.progress(per_arm * len(ARMS), desc="mup transfer") as bar:

        def train_arm(arm: str) -> np.ndarray:
            """The arm's [width, lr] final training losses, the widths spread over ``ctx.workers``."""
            losses = np.full((len(widths), len(log2_lrs)), math.nan)
            jobs = [
                (
                    cfg,
                    w,
                    arm,
                    ctx.stream_seed(f"init{w}"),
                    ctx.stream_seed(f"batches{w}"),
                    ctx.cache,
                    bar if ctx.workers <= 1 else None,
                )
                for w in widths
            ]

            def done(i: int, row: np.ndarray) -> None:
                losses[i] = row
                if ctx.workers > 1:
                    bar.update(per_arm // len(widths))

            ctx.map(train_width, jobs, cost=[(50 + (d - 1) * w) * w for w in widths], done=done)
            return losses

        # SP reads none of μP's knobs: the control (whose μP arm is SP) reuses the main run's SP arm in a verify
        losses = {"sp": ctx.shared("SP arm", cfg, lambda: train_arm("sp"), ignore=MUP_ONLY)}
        bar.update(max(0, per_arm - bar.n))
        if cfg.model.parameterization == "standard":  # the control: the μP arm is SP, trained above
            losses["mup"] = losses["sp"].copy()
        else:
            losses["mup"] = train_arm("mup")
        bar.update(max(0, 2 * per_arm - bar.n))
    summary: dict[str, float] = {}
    series: dict[str, Series] = {}
    for arm in ARMS:
        summary |= {
            f"{arm}/{k}": v for k, v in arm_stats(widths, log2_lrs, losses[arm], cfg.model.transfer_from).items()
        }
        for w, row in zip(widths, losses[arm], strict=True):
            series[f"{arm}/train_loss_w{w}"] = Series(list(range(len(log2_lrs))), [float(v) for v in row])
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check(
                "μP: the optimal lr transfers: spread of log₂ lr* over the wide widths",
                s["mup/spread_wide"],
                "<=",
                MAX_MUP_SPREAD,
            ),
            Check(
                "μP: the spread is a fraction of SP's over the same widths",
                s["mup/spread_wide"] / s["sp/spread_wide"] if s["sp/spread_wide"] > 0 else math.nan,
                "<=",
                MAX_SPREAD_RATIO,
            ),
            Check(
                "SP: the optimal lr drifts: slope of log₂ lr* per doubling of width", s["sp/drift"], "<=", MAX_SP_SLOPE
            ),
            Check(
                "μP: wider is better at a fixed lr: largest loss rise from one width to the next",
                s["mup/max_rise_fixed_lr"],
                "<=",
                MAX_MUP_RISE,
            ),
        )
    )


def figure(result: Result):
    import matplotlib as mpl

    s, cfg = result.summary, result.config
    widths, x = list(cfg.model.widths), np.asarray(cfg.train.log2_lrs, float)
    cmap = mpl.colormaps["viridis"]
    fig, axes = subplots(1, 2, width=5.0, height=4.0, sharey=True)
    is_mup = cfg.model.parameterization == "mup"
    mup_name = "μP (hidden, readout lr ∝ 1/width)" if is_mup else "μP arm run as SP"
    for ax, arm, title in zip(axes[0], ARMS, ("SP (one global lr)", mup_name), strict=True):
        for k, w in enumerate(widths):
            color = cmap(k / max(len(widths) - 1, 1))
            y = np.asarray(result.curve(f"{arm}/train_loss_w{w}")[1], float)
            wide = w >= cfg.model.transfer_from
            ax.plot(x, y, "o-" if wide else "o--", color=color, ms=3, lw=1.5 if wide else 1.0, label=f"width {w}")
            opt = s[f"{arm}/log2_lr_opt_w{w}"]
            if math.isfinite(opt):
                finite = np.isfinite(y)
                ax.plot(opt, np.interp(opt, x[finite], y[finite]), "*", color=color, ms=12, mec="k", mew=0.5)
        if arm == "mup" and math.isfinite(s["mup/fixed_log2_lr"]):
            ax.axvline(s["mup/fixed_log2_lr"], color=PALETTE["control"], lw=5, alpha=0.2, label="fixed lr (check 4)")
        ax.set(
            xlabel="log₂ learning rate" + (" (at the base width)" if arm == "mup" and is_mup else ""),
            title=f"{title}\nlr* spread (widths ≥ {cfg.model.transfer_from}): {s[f'{arm}/spread_wide']:.2f} octaves\n"
            f"slope (all widths): {s[f'{arm}/drift']:+.2f} octave per doubling",
        )
    axes[0][0].set_ylabel("training loss after training (cross-entropy)")
    axes[0][0].set_ylim(0, min(2.45, axes[0][0].get_ylim()[1]))
    handles, labels = axes[0][1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right")
    fig.suptitle(
        f"MNIST-1D, MLP with {cfg.model.depth} hidden layers, Adam {cfg.train.steps} steps\n"
        "★ optimum (parabola in log₂ lr); dashed: narrower than the transfer checks' widths"
    )
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    return fig


ENTRY = Entry(
    name="mup-transfer",
    summary="under μP the optimal learning rate is the same at every width; under SP it drifts",
    papers=(
        "Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao 2021 — Tensor Programs V: Tuning large "
        "neural networks via zero-shot hyperparameter transfer",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("mup/spread_wide", "sp/spread_wide", "sp/drift", "mup/max_rise_fixed_lr"),
    controls=(
        Control(
            "SP in the μP arm",
            {"model.parameterization": "standard"},
            must_fail=("μP: the optimal lr transfers", "μP: the spread is a fraction", "μP: wider is better"),
            why="without μP's per-layer lr and output scaling the transfer arm is SP: its optimum drifts with width",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread, 31-49 s a run. Preset, seeds 100-109: μP's spread over widths 64-512 0.45-0.88 "
        "octaves, its ratio to SP's 0.27-0.49, SP's slope -0.37 to -0.52 per doubling, μP's largest fixed-lr rise "
        "-0.066 to +0.016 nats (all pass 10/10). Control model.parameterization=standard: spread 1.63-1.98, ratio "
        "1, rise +0.097 to +0.52: fails its three checks 10/10. Over all six widths (16-512) μP's spread is "
        "1.18-1.96 and SP's 1.94-2.86: μP's optimum still rises from 16 to 64 (module docstring), hence "
        "transfer_from=64. Thresholds were first set on 100-104 with the rise at 0.02 ('nearly monotone', chosen "
        "by hand); held-out seed 0 then passed it at +0.017, so calibration was extended to 105-109 (seed 108: "
        "+0.016) and the rise threshold re-set by the rule of the other checks to (0.016 + 0.097) / 2 = 0.05."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "mup-transfer --calibration`, AVX-512 kernels): all 10 pass and the control fails 10/10; μP's spread over the "
        "wide widths 0.50-0.91, SP's drift -0.53 to -0.38. `observed` holds these values."
        " Re-checked (issue 19) after per-member Adam moved to torch's fused kernel (the ensemble trainer's step for "
        "members with their own learning rates, the lr grid here: the same rule, rounded differently in the last "
        "bits, which re-draws the runs; `phenomena verify mup-transfer --calibration`, AVX-512 kernels): every seed "
        "passes and the control fails 10/10; `observed` holds these values. The closest margin: μP's spread over "
        "the wide widths reached 0.98 on seed 102 (1.1 allowed; 0.91 at most before).",
        observed={
            "mup/spread_wide": (0.6167, 0.8488, 0.9828, 0.4109, 0.5202, 0.7117, 0.8589, 0.7111, 0.804, 0.764),
            "sp/spread_wide": (1.78, 1.621, 1.894, 1.982, 1.876, 1.776, 1.865, 1.686, 1.721, 1.794),
            "sp/drift": (-0.4294, -0.4825, -0.439, -0.4332, -0.5241, -0.4862, -0.3614, -0.4145, -0.4612, -0.429),
            "mup/max_rise_fixed_lr": (
                -0.03326,
                -0.07774,
                -0.02738,
                -0.004988,
                -0.01453,
                -0.05405,
                -0.04521,
                -0.0559,
                0.01411,
                -0.005036,
            ),
            "mup/spread": (1.744, 1.132, 1.805, 1.864, 1.233, 1.373, 1.986, 1.651, 1.536, 1.668),
            "sp/spread": (2.073, 2.597, 2.124, 2.202, 2.919, 2.631, 1.949, 2.179, 2.22, 2.213),
            "control/mup/max_rise_fixed_lr": (
                0.1066,
                0.2848,
                0.1323,
                0.1401,
                0.5373,
                0.407,
                0.2248,
                0.1241,
                0.1562,
                0.2216,
            ),
        },
    ),
    unused=unused,
    pieces="widths",
)
