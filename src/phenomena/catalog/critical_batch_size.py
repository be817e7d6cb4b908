"""Critical batch size: the steps to reach a target loss fall like 1/B up to a critical batch size and level off
above it, when the learning rate is retuned per batch size; the gradient noise scale predicts where.

McCandlish, Kaplan, Amodei et al. (2018) model SGD with the optimal step for each batch size B on a locally
quadratic loss: the steps to a target obey S = S_min (1 + B_crit/B) (equivalently (S/S_min − 1)(E/E_min − 1) = 1
for steps S and examples E = BS), so doubling the batch halves the steps below B_crit (perfect scaling, log-log
slope −1) and buys nothing above it. B_crit is predicted by the gradient noise scale B_simple = tr(Σ)/|G|² (the
batch at which the noise of a mini-batch gradient is as large as the gradient), which grows as the loss falls.
Shallue et al. (2018) measured the same curve across models, with the metaparameters retuned per batch size, and
stressed that without retuning the shape is an artefact.

``quick``: MNIST-1D (2000 samples, 1000 train), a 40-64-64-10 ReLU MLP from one initialization, plain SGD (no
momentum: McCandlish's model is for plain SGD) on the cross-entropy, batch sizes 8, 16, …, 512 and full batch
(1000). Each batch size is one vectorized ``train_ensemble`` call whose members are a grid of 4 learning rates
(factor 2 apart), each stopped at the first logged step whose full training loss is ≤ the target 0.6; the steps
to target S(B) are the best over the grid. The batch sizes run from large to small: full batch has a fixed grid
0.4·2^k, each smaller batch a grid around the previous best (best/4 … best·2: the optimal lr falls as the batch
halves), extended while the best sits at an edge, then refined by the two learning rates a factor √2 either side
of the best (run only up to the best's steps: only a faster run matters), with a budget of 2.5× the previous S
(S(B/2) ≤ 2 S(B) in the model), logged every budget/100 steps (≤ 2.5% resolution). The no-retuning curve uses one
learning rate for every batch, the best one of the smallest batch (Shallue et al.'s warning), and is drawn in the
figure. The gradient noise scale is measured along a separate training run at batch 32 with half that learning
rate (small steps, where McCandlish's local model applies), by the two-batch estimators of McCandlish's Appendix
A.1 (:func:`phenomena.probes.gradient_noise.gradient_noise_scale`, B_small 16, B_big 512, numerator and denominator
averaged separately): at initialization (200 batch pairs), at 10 points until the target (40 pairs), and at the
target as the ratio of the two estimators averaged over the 50 steps from the target on (10 points, 20 pairs each).

Fit: :func:`phenomena.analysis.critical_batch.fit_steps_vs_batch`, least squares of log S on
log S_min + log(1 + B_crit/B), 95% intervals from the covariance (Student t), tested against a brute-force grid
search and on simulated data.

Verdict. (1) Perfect scaling below the knee: the log-log slope of S over the three smallest batch sizes is near −1.
(2) Diminishing returns above it: the slope over the three largest is near 0. (3) B_crit is inside the measured
range (its 95% interval's upper end below the largest batch; its point estimate above the smallest). (4) The
learning-rate grid's best is interior at every batch size. (5) B_simple at the target is within a factor of B_crit.
(6) B_simple grows as the loss falls: B_simple at the target over B_simple at initialization.

Controls. No retuning (``train.retune=false``: the sweep's curve is the one at a single learning rate, the
smallest batch's best): large batches take as many steps as small ones, so the knee moves to the smallest
batches and the small-batch slope is far from −1. No training on the noise run (``noise.lr_scale=0``): the loss
does not fall and B_simple does not grow.

Calibration (seeds 100-104, quick, one thread, 58-76 s per run on 2 cores shared with ~6 other processes, so
inflated): thresholds were fixed before any calibration (not tuned) and the preset passes on 5 of 5 seeds.
Small-batch slope −0.86 to −0.97; large-batch slope −0.09 to −0.21; B_crit 110-123 (upper 95% ends 128-150, inside
8-1000); every best lr interior; B_crit / B_simple at the target 0.25-0.42 (B_simple 291-449: within the factor 10,
2.4-4x above B_crit); B_simple growth from initialization to the target 2.32-5.54. No-retune control (run as
``-s train.retune=false``): |small-batch slope + 1| 0.48-0.55, failing on 5 of 5 seeds (its curve is flat from
batch 32 on, fitted B_crit 10-12).
Noise-run control
(``-s noise.lr_scale=0``): growth 0.93-0.99, failing on 5 of 5 seeds (loss drop 0).

History (what failed, and the reason for each change). A first version (7-lr grid from 0.05 at full batch, budget
4000 logged every 66 steps, 3x budgets) took 110 s a run. With 5 lrs and 2.5x budgets it passed 3/5 on seeds
100-104: the large-batch slope failed on seed 102 (0.44: the full batch took more steps than batch 512, because the
full-batch steps were resolved to 66 steps out of ~130 and the factor-2 grid misses the optimal lr by up to √2); the
no-retune control's |slope + 1| was 0.24-0.66 (failing only 4/5; its single lr was the smallest batch's factor-2
grid best, which jumps by a factor 2 between seeds); the growth check failed on seed 102 (1.88). Now: the full-batch
grid starts at 0.4 with a 500-step budget (5-step resolution, and 29 s of the run's 80 s saved), and the √2
refinement makes the optimal lr and the steps at it a measurement rather than a grid artefact (the no-retune lr is
then 0.14 on every calibration seed). With those, the noise run at the (refined) smallest batch's best lr gave
growth 1.23 on seed 100; at half that lr (``noise.lr_scale=0.5``: the small-step regime of McCandlish's model)
growth was 2.26, 5.31, 3.29, 6.98, 1.68 on 100-104 (4/5), and along the SGD trajectory |G|² fluctuated 2-4x between
neighbouring measurements while the sampling error of the 200-pair value at one point is ~5%: the single-point value
at the target measured where the trajectory stopped rather than the landscape. B_simple at the target is now the
ratio of the two estimators averaged over the 50 steps from the target, as McCandlish et al. average over training
steps (growth 2.32-5.54, above). Earlier still (previous engineer): the noise run at the best lr of batch 32 (0.4)
gave no growth (0.44-0.66): large steps keep the gradient in the sharp directions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from phenomena.analysis.critical_batch import fit_steps_vs_batch, loglog_slope
from phenomena.analysis.rank_correlation import kendall_tau
from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data.mnist1d import mnist1d
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models.mlp import MLP
from phenomena.probes.gradient_noise import gradient_noise_scale
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.ensemble import train_ensemble
from phenomena.training.optim import SGD

# Fixed before calibration (not tuned); calibration values (seeds 100-104) in ENTRY.calibration.
SLOPE_BAND = 0.3  # |small-batch slope + 1|
MAX_FLAT_SLOPE = 0.35  # |large-batch slope|
NOISE_FACTOR = 10.0  # B_simple at the target within [B_crit / f, B_crit · f]
MIN_NOISE_GROWTH = 2.0  # B_simple at the target / early in training


# --- configuration -----------------------------------------------------------------------------------------------


@config
class Data:
    num_samples: int = field(2000, at_least(40), help="MNIST-1D samples generated (train + test)")
    train_split: float = field(0.5, between(0, 1, "()"), help="fraction of the samples in the training set")


@config
class Model:
    width: int = field(64, positive, help="hidden units per layer")
    depth: int = field(2, positive, help="hidden layers")


@config
class Train:
    batches: tuple[int, ...] = field(
        (8, 16, 32, 64, 128, 256, 512, 0), at_least(0), help="batch sizes (0: full batch), increasing, 0 last"
    )
    target: float = field(0.6, positive, help="target training loss (steps to target = first logged step ≤ it)")
    lrs: int = field(4, at_least(3), help="learning rates per batch size (factor 2 apart) before refinement")
    refine: bool = field(True, help="then try the two learning rates a factor √2 either side of the grid's best")
    full_lr0: float = field(0.4, positive, help="smallest learning rate of the full-batch grid")
    max_steps: int = field(500, at_least(10), help="step budget of the first (largest) batch size")
    budget_factor: float = field(2.5, at_least(2), help="budget of each smaller batch: this × the previous S")
    points: int = field(100, at_least(10), help="evaluations per budget (the resolution of steps to target)")
    retune: bool = field(True, help="retune the learning rate per batch size (false: the control's single lr)")

    def __post_init__(self):
        b = list(self.batches)
        require(len(b) >= 4, "train.batches needs at least 4 batch sizes")
        sized = [x for x in b if x > 0]
        require(sized == sorted(set(sized)) and (b[-1] == 0 or b == sized), "train.batches must be increasing")


@config
class Noise:
    batch: int = field(32, positive, help="batch size of the run along which B_simple is measured")
    b_small: int = field(16, positive, help="small batch of the two-batch estimator")
    b_big: int = field(512, positive, help="big batch of the two-batch estimator")
    samples: int = field(40, positive, help="batch pairs per measurement along training")
    final_samples: int = field(200, positive, help="batch pairs for B_simple at initialization and at the target")
    window: int = field(50, at_least(0), help="steps from the target over which B_simple at the target is averaged")
    window_points: int = field(10, at_least(2), help="measurements in that window (final_samples split among them)")
    points: int = field(10, at_least(4), help="measurements along training")
    lr_scale: float = field(0.5, at_least(0), help="× the no-retune lr (small steps; 0: the control, no training)")

    def __post_init__(self):
        require(self.b_small < self.b_big, "noise.b_small must be smaller than noise.b_big")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    noise: Noise = Noise()
    seed: int = field(0, help="the run's seed (initialization, batch order, noise batches)")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=1000),
        model=Model(width=32),
        train=Train(batches=(16, 32, 64, 128, 0), target=1.2, refine=False, points=40),
        noise=Noise(b_big=256, samples=6, final_samples=24, points=4, window=20, window_points=4),
    ),
    "quick": Config(),
    # not a published setting (McCandlish et al. and Shallue et al. trained image and language models): more data,
    # a wider model, a lower target and a finer grid of batch sizes
    "full": Config(
        data=Data(num_samples=8000),
        model=Model(width=128),
        train=Train(batches=(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 0), target=0.4, lrs=5, max_steps=2000),
        noise=Noise(b_big=1024),
    ),
}
COSTS = {"smoke": "~10 s", "quick": "~60 s", "full": "~15 min"}


# --- the run -----------------------------------------------------------------------------------------------------


def _steps_for(data, cfg: Config, init_seed: int, order_seed: int, batch: int, lrs: list[float], budget: int, every=0):
    """Steps to target for each lr (NaN where never reached) at one batch size (0: full batch), logged every
    ``every`` steps (0: budget / train.points)."""
    every = every or max(1, budget // cfg.train.points)
    res = train_ensemble(
        lambda s: MLP(40, 10, width=cfg.model.width, depth=cfg.model.depth, seed=s),
        [init_seed] * len(lrs),
        data,
        lr=lrs,
        steps=budget,
        batch_size=batch or None,
        log_every=every,
        order_seeds=[order_seed] * len(lrs),
        stop_train_loss=cfg.train.target,
        evaluate=("train",),  # only the steps to the target are read: the test set is never evaluated
    )
    return [math.nan if s is None else float(s) for s in res.stopped_at]


def _best(results: dict) -> float | None:
    """The learning rate with the fewest steps (the smaller one on a tie); None when none reached the target."""
    finite = {lr: s for lr, s in results.items() if math.isfinite(s)}
    return min(finite, key=lambda lr: (finite[lr], lr)) if finite else None


def _sweep(data, cfg: Config, init_seed: int, order_seed: int, bar) -> tuple[dict, dict, dict]:
    """Best steps, best lr and whether the best was interior, per batch size, from large to small."""
    t = cfg.train
    best_steps, best_lr, interior = {}, {}, {}
    budget, center = t.max_steps, None
    for batch in reversed(t.batches):
        if center is None:
            lrs = [t.full_lr0 * 2**k for k in range(t.lrs)]
        else:  # the optimal lr falls (at most linearly) as the batch halves: the grid reaches further down
            low = center / 2 ** (t.lrs - 2)
            lrs = [low * 2**k for k in range(t.lrs)]
        every = max(1, budget // t.points)

        def run(lrs, steps=budget, batch=batch, every=every):
            return _steps_for(data, cfg, init_seed, order_seed, batch, lrs, steps, every)

        results = dict(zip(lrs, run(lrs), strict=True))
        for _ in range(3):  # extend the grid while the best is at an edge
            lr_best = _best(results)
            if lr_best is None:
                break
            edge_low, edge_high = lr_best == min(results), lr_best == max(results)
            if not (edge_low or edge_high):
                break
            extra = [lr_best / 2, lr_best / 4] if edge_low else [lr_best * 2, lr_best * 4]
            results.update(zip(extra, run(extra), strict=True))
        lr_best = _best(results)
        if lr_best is None:
            best_steps[batch], best_lr[batch], interior[batch] = math.nan, math.nan, False
            bar.update(1)
            continue
        interior[batch] = min(results) < lr_best < max(results)
        if t.refine:  # a factor-2 grid misses the optimum by up to √2; only a run that beats the best matters
            extra = [lr_best / math.sqrt(2), lr_best * math.sqrt(2)]
            results.update(zip(extra, run(extra, int(results[lr_best])), strict=True))
            lr_best = _best(results)
        best_steps[batch], best_lr[batch] = results[lr_best], lr_best
        budget, center = max(10, int(math.ceil(t.budget_factor * results[lr_best]))), lr_best
        bar.update(1)
    return best_steps, best_lr, interior


def _no_retune(data, cfg: Config, init_seed: int, order_seed: int, lr: float, reference: float) -> dict:
    """Steps to target at one learning rate for every batch size (budget: 1.5× the smallest batch's steps)."""
    budget = max(10, int(math.ceil(1.5 * reference)))
    return {b: _steps_for(data, cfg, init_seed, order_seed, b, [lr], budget)[0] for b in cfg.train.batches}


def _noise_run(data, cfg: Config, init_seed: int, order_seed: int, lr: float, reference: float, gen):
    """Train one model at ``noise.batch`` with plain SGD and measure B_simple along the way until the target."""
    nz = cfg.noise
    model = MLP(40, 10, width=cfg.model.width, depth=cfg.model.depth, seed=init_seed)
    opt = SGD(model.parameters(), lr=lr * nz.lr_scale, foreach=True)
    if nz.lr_scale > 0:  # SGD's progress per step is ∝ lr: the run needs 1/lr_scale as many steps as at lr
        reference = reference / nz.lr_scale
    x, y = data.x_train, data.y_train
    n = x.shape[0]
    every = max(1, int(math.ceil(reference / nz.points)))
    max_steps = int(math.ceil(cfg.train.budget_factor * reference))
    order = torch.Generator().manual_seed(order_seed)
    losses, noise, grad_sq, trace, steps = [], [], [], [], []
    state, step = {"perm": torch.randperm(n, generator=order), "pos": 0}, 0
    while True:
        if step % every == 0:
            with torch.no_grad():
                loss = F.cross_entropy(model(x), y).item()
            k = nz.final_samples if step == 0 else nz.samples  # the start is one end of the growth check
            ns = gradient_noise_scale(model, F.cross_entropy, (x, y), nz.b_small, nz.b_big, k, generator=gen)
            steps.append(step)
            losses.append(loss)
            noise.append(ns.b_simple)
            grad_sq.append(ns.grad_sq)
            trace.append(ns.trace_sigma)
            if loss <= cfg.train.target or step >= max_steps:
                break
        step = _sgd_step(model, opt, x, y, nz.batch, order, state, step)
    # B_simple at the target: McCandlish et al. average the two estimators over training steps, because |G|² at
    # one point of an SGD trajectory fluctuates (by 2-4x between our measurement points, against a 5% sampling
    # error at one point): the measurements are spread over ``noise.window`` steps from the target on
    k = max(2, nz.final_samples // nz.window_points)
    window_g, window_s = [], []
    for j in range(nz.window_points):
        ns = gradient_noise_scale(model, F.cross_entropy, (x, y), nz.b_small, nz.b_big, k, generator=gen)
        window_g.append(ns.grad_sq)
        window_s.append(ns.trace_sigma)
        for _ in range(nz.window // nz.window_points if j < nz.window_points - 1 else 0):
            step = _sgd_step(model, opt, x, y, nz.batch, order, state, step)
    g, tr = np.array(window_g), np.array(window_s)
    b_target = float(tr.mean() / g.mean()) if g.mean() > 0 else math.nan
    cov = np.cov(np.stack([g, tr])) / len(g)  # delta-method standard error of the ratio of the two means
    var = (cov[1, 1] - 2 * b_target * cov[0, 1] + b_target**2 * cov[0, 0]) / g.mean() ** 2 if g.mean() > 0 else 0
    return steps, losses, noise, grad_sq, trace, (b_target, math.sqrt(max(var, 0.0)))


def _sgd_step(model, opt, x, y, batch: int, order, state: dict, step: int) -> int:
    """One plain-SGD step on consecutive slices of a fresh permutation per epoch; returns the new step count."""
    n = x.shape[0]
    if state["pos"] + batch > n:
        state["perm"], state["pos"] = torch.randperm(n, generator=order), 0
    idx = state["perm"][state["pos"] : state["pos"] + batch]
    state["pos"] += batch
    opt.zero_grad()
    F.cross_entropy(model(x[idx]), y[idx]).backward()
    opt.step()
    return step + 1


def run(cfg: Config, ctx: RunContext) -> Result:
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    n = data.n_train
    t = cfg.train
    require(all(b < n for b in t.batches if b), f"train.batches must be below the {n} training examples")
    init_seed, order_seed = ctx.stream_seed("init"), ctx.stream_seed("order")
    smallest = t.batches[0]
    with ctx.progress(len(t.batches) + 2, desc="batch sizes") as bar:

        def sweeps():
            best_steps, best_lr, interior = _sweep(data, cfg, init_seed, order_seed, bar)
            fixed_lr = best_lr[smallest]
            if math.isfinite(fixed_lr):
                plain = _no_retune(data, cfg, init_seed, order_seed, fixed_lr, best_steps[smallest])
            else:
                plain = {b: math.nan for b in t.batches}
            return best_steps, best_lr, interior, plain

        # both curves are measured whatever train.retune (which one is judged) and noise.* say: the controls
        # reuse the main run's in a verify, and "no lr retuning" its noise run too
        best_steps, best_lr, interior, plain = ctx.shared("sweeps", cfg, sweeps, ignore=("train.retune", "noise"))
        bar.update(max(0, len(t.batches) + 1 - bar.n))
        fixed_lr = best_lr[smallest]
        reference = plain.get(cfg.noise.batch, math.nan)
        if math.isfinite(fixed_lr) and math.isfinite(reference):
            noise = ctx.shared(
                "noise run",
                cfg,
                lambda: _noise_run(data, cfg, init_seed, order_seed, fixed_lr, reference, ctx.generator("noise")),
                ignore=("train.retune",),
            )
        else:
            noise = None
        bar.update(1)
    sizes = np.array([b or n for b in t.batches], float)
    retuned = np.array([best_steps[b] for b in t.batches])
    fixed = np.array([plain[b] for b in t.batches])
    judged = retuned if t.retune else fixed
    fit = fit_steps_vs_batch(sizes, judged)
    s: dict[str, float] = {
        "n_train": float(n),
        "s_min": fit.s_min,
        "b_crit": fit.b_crit,
        "s_min_lo": fit.s_min_ci[0],
        "s_min_hi": fit.s_min_ci[1],
        "b_crit_lo": fit.b_crit_ci[0],
        "b_crit_hi": fit.b_crit_ci[1],
        "fit_log_rmse": fit.log_rmse,
        "small_slope": loglog_slope(sizes[:3], judged[:3]),
        "large_slope": loglog_slope(sizes[-3:], judged[-3:]),
        "lr_interior_fraction": float(np.mean([interior[b] for b in t.batches])),
        "fixed_lr": fixed_lr,
    }
    fit_fixed = fit_steps_vs_batch(sizes, fixed)
    s["b_crit_no_retune"], s["s_min_no_retune"] = fit_fixed.b_crit, fit_fixed.s_min
    s["small_slope_no_retune"] = loglog_slope(sizes[:3], fixed[:3])
    series = {
        "steps_retuned": Series(sizes.tolist(), retuned.tolist()),
        "steps_no_retune": Series(sizes.tolist(), fixed.tolist()),
        "best_lr": Series(sizes.tolist(), [best_lr[b] for b in t.batches]),
    }
    if noise is not None:
        steps, losses, b_simple, grad_sq, trace, final = noise
        s["b_simple_target"], s["b_simple_target_stderr"] = final
        early = b_simple[0]  # at initialization, the highest loss
        s["b_simple_early"] = early
        s["noise_growth"] = final[0] / early if early > 0 and math.isfinite(final[0]) else math.nan
        finite = [(lo, b) for lo, b in zip(losses, b_simple, strict=True) if math.isfinite(b)]
        s["tau_loss_noise"] = kendall_tau(*zip(*finite, strict=True)) if len(finite) >= 3 else math.nan
        s["noise_final_loss"] = losses[-1]
        s["noise_loss_drop"] = losses[0] - losses[-1]
        s["b_crit_over_b_simple"] = fit.b_crit / final[0] if final[0] > 0 else math.nan
        series["b_simple"] = Series(steps, b_simple)
        series["noise_loss"] = Series(steps, losses)
        series["grad_sq"] = Series(steps, grad_sq)
        series["trace_sigma"] = Series(steps, trace)
    else:
        for k in ("b_simple_target", "noise_growth", "tau_loss_noise", "b_crit_over_b_simple"):
            s[k] = math.nan
    return ctx.result(cfg, s, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    batches = result.curve("steps_retuned")[0]
    ratio = s["b_crit_over_b_simple"]
    return Verdict(
        (
            Check(
                "perfect scaling below the knee: |small-batch log-log slope + 1|",
                abs(s["small_slope"] + 1),
                "<=",
                SLOPE_BAND,
            ),
            Check(
                "diminishing returns above it: |large-batch log-log slope|", abs(s["large_slope"]), "<=", MAX_FLAT_SLOPE
            ),
            Check("B_crit inside the batches: B_crit / smallest batch", s["b_crit"] / min(batches), ">", 1.0),
            Check("B_crit inside the batches: upper 95% end / largest batch", s["b_crit_hi"] / max(batches), "<", 1.0),
            Check("the best learning rate is interior at every batch size", s["lr_interior_fraction"], ">=", 1.0),
            Check(
                "B_simple at the target predicts B_crit: |log10(B_crit / B_simple)|",
                abs(math.log10(ratio)) if ratio > 0 else math.nan,
                "<=",
                math.log10(NOISE_FACTOR),
            ),
            Check("B_simple grows as the loss falls: at the target / early", s["noise_growth"], ">=", MIN_NOISE_GROWTH),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 3, width=4.0)
    ax, noise_ax, lr_ax = axes[0]
    b, steps = result.curve("steps_retuned")
    b = np.array(b, float)
    _, fixed = result.curve("steps_no_retune")
    ax.loglog(b, steps, "o", color=PALETTE["train"], label="lr retuned per batch")
    ax.loglog(b, fixed, "s--", color=PALETTE["control"], label="one lr (the smallest batch's best)")
    if math.isfinite(s["b_crit"]):
        grid = np.geomspace(b.min(), b.max(), 100)
        fit = fit_steps_vs_batch(b, steps) if cfg.train.retune else None
        if fit is not None:
            ax.loglog(grid, fit.steps(grid), color=PALETTE["theory"], label="S_min(1 + B_crit/B)")
            lo = np.minimum(
                fit.s_min_ci[0] * (1 + fit.b_crit_ci[0] / grid), fit.s_min_ci[0] * (1 + fit.b_crit_ci[1] / grid)
            )
            hi = np.maximum(
                fit.s_min_ci[1] * (1 + fit.b_crit_ci[0] / grid), fit.s_min_ci[1] * (1 + fit.b_crit_ci[1] / grid)
            )
            ax.fill_between(grid, lo, hi, color=PALETTE["theory"], alpha=0.15)
            ax.loglog(grid, steps[0] * b[0] / grid, ":", color="k", label="perfect scaling ∝ 1/B")
        ax.axvline(s["b_crit"], color=PALETTE["theory"], alpha=0.5)
        ax.axvspan(s["b_crit_lo"], min(s["b_crit_hi"], b.max()), color=PALETTE["theory"], alpha=0.07)
    if math.isfinite(s.get("b_simple_target", math.nan)):
        ax.axvline(s["b_simple_target"], color=PALETTE["accent"], linestyle="--", label="B_simple at target")
    ax.set(
        xlabel="batch size B",
        ylabel=f"steps to train loss {cfg.train.target:g}",
        title=f"B_crit = {s['b_crit']:.0f} [{s['b_crit_lo']:.0f}, {s['b_crit_hi']:.0f}]",
    )
    ax.legend(fontsize=7)
    if "b_simple" in result.series:
        _, loss = result.curve("noise_loss")
        _, bs = result.curve("b_simple")
        noise_ax.loglog(loss, bs, "o-", color=PALETTE["accent"], label="B_simple along training")
        noise_ax.errorbar(
            [s["noise_final_loss"]],
            [s["b_simple_target"]],
            yerr=[s.get("b_simple_target_stderr", 0.0)],
            fmt="*",
            markersize=12,
            color=PALETTE["accent"],
            markeredgecolor="k",
            label=f"at the target ({cfg.noise.window}-step average)",
        )
        noise_ax.axhline(s["b_crit"], color=PALETTE["theory"], label="fitted B_crit")
        noise_ax.invert_xaxis()
        noise_ax.set(
            xlabel="training loss (falling →)",
            ylabel="B_simple = tr Σ / |G|²",
            title=f"noise scale grows {s['noise_growth']:.1f}x (τ = {s['tau_loss_noise']:.2f})",
        )
        noise_ax.legend(fontsize=7)
    bl, lrs = result.curve("best_lr")
    lr_ax.loglog(bl, lrs, "o-", color=PALETTE["train"], label="best lr")
    lr_ax.axhline(s["fixed_lr"], color=PALETTE["control"], linestyle="--", label="no-retune lr")
    lr_ax.set(xlabel="batch size B", ylabel="learning rate", title="retuned learning rate")
    lr_ax.legend(fontsize=7)
    fig.suptitle(f"critical batch size: MNIST-1D, {s['n_train']:.0f} train, MLP width {cfg.model.width}, plain SGD")
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="critical-batch-size",
    summary="steps to a target loss fall like 1/B up to a critical batch size, predicted by the gradient noise scale",
    papers=(
        "McCandlish, Kaplan, Amodei et al. 2018 — An empirical model of large-batch training",
        "Shallue, Lee, Antognini, Sohl-Dickstein, Frostig, Dahl 2018 — Measuring the effects of data parallelism on "
        "neural network training",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("b_crit", "s_min", "small_slope", "b_simple_target"),
    controls=(
        Control(
            "no lr retuning",
            {"train.retune": False},
            must_fail=("perfect scaling below the knee",),
            why="at one learning rate large batches take as many steps as small ones: the knee moves to the smallest "
            "batches",
        ),
        Control(
            "no training on the noise run",
            {"noise.lr_scale": 0.0},
            must_fail=("B_simple grows as the loss falls",),
            why="the loss does not fall, so the gradient does not shrink against its noise",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 105)),
        note="quick, one thread, 58-76 s a run (2 shared cores); thresholds fixed before calibration, not tuned; "
        "preset passes 5/5. Control train.retune=false: |small slope + 1| 0.5505, 0.4785, 0.4791, 0.5198, 0.5535 "
        "(fails 5/5). Control noise.lr_scale=0: growth 0.9903, 0.9753, 0.9795, 0.979, 0.933 (fails 5/5)."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "critical-batch-size --calibration`, AVX-512 kernels): all 5 pass and both controls fail 5/5; B_crit 102-124, "
        "B_crit / B_simple 0.23-0.41 (the no-retune and noise values did not move). `observed` holds these values.",
        observed={
            "small_slope": (-0.8711, -0.9154, -0.9423, -0.9731, -0.8834),
            "large_slope": (-0.1079, -0.0236, -0.1071, -0.1343, -0.2101),
            "b_crit": (102.0733, 118.5368, 119.0352, 124.0288, 120.0406),
            "b_crit_hi": (125.0691, 150.1879, 151.696, 148.468, 140.8558),
            "b_crit_over_b_simple": (0.2276, 0.4073, 0.4083, 0.3098, 0.3933),
            "noise_growth": (3.7545, 3.6357, 2.3237, 5.5408, 2.3928),
            "b_simple_target": (448.5208, 291.0295, 291.5444, 400.304, 305.189),
            "small_slope_no_retune": (-0.4495, -0.5215, -0.5209, -0.4802, -0.4465),
        },
    ),
)
