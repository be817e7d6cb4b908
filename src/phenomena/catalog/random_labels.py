"""Random labels: a network wide enough to memorize fits any labelling of its training set, at every corruption
level, while its test accuracy falls to chance; the noise only costs time, and clean examples are fit first.

Zhang, Bengio, Hardt, Recht & Vinyals (2017) trained standard image classifiers on CIFAR-10 with a fraction p of
the labels replaced by uniform random labels (fixed per run): training accuracy reached 100% for every p up to
p = 1, test accuracy fell linearly to chance, and the time to fit grew only by a small constant factor with p
(reference code: ``pluskid/fitting-random-labels``). Arpit et al. (2017) looked closer: with partial noise,
the clean examples are fit before the noisy ones (the network learns patterns first, then memorizes), and a
network with too little capacity cannot memorize at all.

``quick``: MNIST-1D (4000 samples split 2000 train / 2000 test, the package's frozen generator seed), corruption
levels p = 0, 0.25, 0.5, 0.75, 1 (``round(p·n)`` training labels redrawn uniformly over the ten classes, the
``mode="any"`` convention of Zhang et al., so ~10% of the redrawn labels stay right; the test set stays clean),
one 40-256-256-10 ReLU MLP per level from the same initialization, SGD with momentum 0.9, lr 0.05, batch 100,
no weight decay, evaluated every 10 steps and stopped once every training label is fit (:data:`STOP_ACC`, or at
the 3000-step budget). ``smoke`` is the same on 500 training examples, evaluated every 2 steps
(it fits in ~90 steps: coarser logging quantizes the times too much to compare them). The time to fit is the
first evaluated step with training accuracy ≥ :data:`FIT_ACC`.

Verdict. (1) Fits every level: the smallest final training accuracy over the levels is ≥ :data:`FIT_ACC`.
(2) Test accuracy falls with corruption: clean test accuracy minus the p = 1 one. (3) Time to fit grows with
corruption: Kendall τ between p and the steps to reach :data:`FIT_ACC` (:func:`phenomena.analysis.kendall_tau`).
(4) Random labels take longer: steps to fit at p = 1 over p = 0 (Zhang et al.'s "small constant factor").
(5) Clean before noisy (Arpit et al.): at the partial level :data:`PARTIAL`, the steps the *noisy* examples (those
whose label changed) take to reach :data:`HALF_ACC` training accuracy over the steps the clean ones take.
That test accuracy at p = 1 is chance is reported (``test_acc_random``, drawn with its 99.9% binomial band in the
figure), not checked: with every training label drawn independently of its input, the trained network's test
predictions are independent of the test labels, so the accuracy is chance by construction and a check of it
could fail only by sampling noise (it was check (2) until a review found it could not fail otherwise).

Controls. The mechanism of (1) is capacity: a 40-8-8-10 MLP (width 8) trained for the same budget cannot
memorize the random labels, and the smallest training accuracy is measured far below the threshold. The mechanism
of (2), (4) and (5) is that the clean labels carry a signal the network learns before it memorizes: with the training
inputs shuffled across examples (``data.inputs=shuffled``; Zhang et al.'s random-labels case reached through
the inputs) no label depends on its input, so the "clean" examples are fit no sooner than the noisy ones and the
clean test accuracy is chance too, and every level takes the same time to fit; the network still fits every
level. The τ check (3) is not claimed by that control: over 5 levels a null τ reaches 0.7 by chance on ~5% of
seeds (5 of the 120 orders give τ ≥ 0.8 without ties), and it did at held-out seed 0 (τ = 0.738) when τ was
first declared as must-fail; the ratio (4), set on the same calibration runs, separates the control by a margin
instead (shuffled 0.92-1.07 against the preset's 1.44-1.71). That control trains only the levels its checks
compare, 0, 0.5 and 1 (``data.compared_only``): each level's labels are drawn from its own seed (by its index in
``data.levels``) and its network from the same initialization and batch-order seeds, so those levels, and the
checked values, are bit for bit those of a run of all five.

Calibration (seeds 100-109, quick, one thread; values in ``ENTRY.calibration``): every level reaches 100%
training accuracy; test accuracy falls from 0.53-0.55 to 0.08-0.11 (|acc − 0.1| ≤ 0.0195 against the band's
0.0225); τ(p, steps to fit) 0.80-1.00 with the random labels taking 1.44-1.71x as long as the clean ones (Zhang
et al. report a small constant factor); the noisy half of p = 0.5 reaches 50% 2.7-3.7x later than the clean half.

Tried first (seeds 0, init/label seed 1, one run each, not calibration): Adam full batch on 1000 training
examples, width 256 (lr 1e-3 and 2e-4): every level fit in the same time (340-370 steps at lr 2e-4) and the clean
and noisy examples reached 95% together: MNIST-1D with 1000 examples is itself mostly memorized by an MLP (clean
test accuracy 43%), so the signal barely speeds fitting. SGD on 2000 examples gives the ordering.

``full`` (not a published setting): 4000 training examples, eleven corruption levels 0, 0.1, …, 1 (Zhang et al.'s
Fig. 1b grid), 10⁴ steps at most; seed 0 passes every check (random labels take 1.9× longer, clean examples are fit
3.5× sooner at p = 0.5).
"""

from __future__ import annotations

import dataclasses
import math

import matplotlib
import numpy as np
import torch
from scipy import stats

from phenomena.analysis.rank_correlation import kendall_tau
from phenomena.config import at_least, between, config, field, one_of, positive, require
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models.mlp import MLP
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.optim import SGD
from phenomena.training.trainer import LogMetrics, StopWhen, fit

FIT_ACC = 0.99  # "fits": training accuracy at least this (the time to fit is the first step it is reached)
STOP_ACC = 1.0  # training stops once every training label is fit (or at the step budget)
INPUTS = ("real", "shuffled")
HALF_ACC = 0.5  # the training accuracy the clean and the noisy subsets are timed to
PARTIAL = 0.5  # the partial corruption level at which clean and noisy examples are compared
LEVEL_KEYS = ("train_acc", "test_acc", "steps_to_fit")  # each level's summary keys, suffixed with the level
CHANCE_BAND = 0.999  # two-sided binomial band for "test accuracy at p = 1 is chance"
# Set on calibration seeds 100-109 (quick; see ENTRY.calibration), between the preset's worst value and the
# shuffled-inputs control's best, rounded down from their midpoints.
MIN_TEST_DROP = 0.2  # clean test acc − test acc at p = 1: preset 0.435-0.465, shuffled inputs −0.008-0.030
MIN_TAU = 0.7  # Kendall τ(p, steps to fit), 5 levels: preset 0.80-1.00, shuffled inputs −0.74-0.60
MIN_SLOWDOWN = 1.2  # steps to fit at p = 1 / at p = 0: preset 1.44-1.71, shuffled inputs 0.92-1.07
MIN_NOISY_OVER_CLEAN = 1.7  # steps(noisy ≥ 50%) / steps(clean ≥ 50%): preset 2.71-3.67, shuffled 0.94-1.13


@config
class Data:
    num_samples: int = field(4000, at_least(40), help="MNIST-1D samples generated (train + test)")
    train_split: float = field(0.5, between(0, 1, "()"), help="fraction of the samples in the training set")
    levels: tuple[float, ...] = field(
        (0.0, 0.25, 0.5, 0.75, 1.0), between(0, 1, "[]"), help="label-corruption levels (fraction of labels redrawn)"
    )

    inputs: str = field(
        "real", one_of(*INPUTS), help="shuffled: training inputs permuted across examples (labels carry no signal)"
    )
    compared_only: bool = field(
        False,
        help=f"train only the levels the test-drop, slowdown and clean-before-noisy checks compare (the first, "
        f"{PARTIAL:g} and 1); the others are skipped, and the values over every level (min training accuracy, τ) "
        "are unmeasured. Each level keeps its own label draw, so the trained ones are bit for bit as without it",
    )

    def __post_init__(self):
        require(len(self.levels) >= 3, "data.levels needs at least 3 corruption levels")
        require(1.0 in self.levels and PARTIAL in self.levels, f"data.levels must contain 1.0 and {PARTIAL}")
        require(list(self.levels) == sorted(set(self.levels)), "data.levels must be increasing")


@config
class Model:
    width: int = field(256, positive, help="hidden units per layer (the capacity to memorize)")
    depth: int = field(2, positive, help="hidden layers")


@config
class Train:
    lr: float = field(0.05, positive, help="SGD learning rate")
    momentum: float = field(0.9, between(0, 1, "[)"), help="SGD momentum")
    weight_decay: float = field(0.0, at_least(0), help="coupled ℓ2 weight decay")
    batch_size: int = field(100, positive, help="examples per step")
    steps: int = field(3000, positive, help="step budget per level (training stops once it fits)")
    log_every: int = field(10, positive, help="evaluate every this many steps")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (label draws, initialization, batch order)")


PRESETS = {
    "smoke": Config(data=Data(num_samples=1000), train=Train(steps=1500, log_every=2)),
    "quick": Config(),
    # not a published setting (Zhang et al. trained Inception on CIFAR-10): twice the data, eleven corruption levels
    # as in their Fig. 1b, a longer step budget
    "full": Config(
        data=Data(num_samples=8000, levels=tuple(k / 10 for k in range(11))),
        train=Train(steps=10_000),
    ),
}
COSTS = {"smoke": "~3 s", "quick": "~10 s", "full": "~45 s"}


def _key(p: float) -> str:
    return f"{p:g}"


def run(cfg: Config, ctx: RunContext) -> Result:
    d = cfg.data
    base = mnist1d(d.num_samples, d.train_split, cache_dir=ctx.cache)
    if d.inputs == "shuffled":  # every input moves to another example: no label depends on its input any more
        perm = torch.randperm(base.n_train, generator=ctx.generator("shuffle"))
        base = dataclasses.replace(base, x_train=base.x_train[perm])
    init_seed, label_seed, order_seed = ctx.stream_seed("init"), ctx.stream_seed("labels"), ctx.stream_seed("order")
    summary: dict[str, float] = {}
    series: dict[str, Series] = {}
    with ctx.progress(len(d.levels), desc="corruption levels") as bar:
        for i, p in enumerate(d.levels):
            if d.compared_only and p not in (d.levels[0], PARTIAL, 1.0):  # skipped: unmeasured
                summary.update(dict.fromkeys([f"{n}_{_key(p)}" for n in LEVEL_KEYS], math.nan))
                bar.update(1)
                continue
            data = with_label_noise(base, p, seed=label_seed + i, mode="any")
            noisy = data.y_train != base.y_train  # the labels that changed (a redraw can keep the right one)
            model = MLP(40, 10, width=cfg.model.width, depth=cfg.model.depth, seed=init_seed)
            t = cfg.train
            opt = SGD(model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, foreach=True)

            def measure(m, data=data, noisy=noisy):
                right = m(data.x_train).argmax(-1) == data.y_train
                test = (m(data.x_test).argmax(-1) == data.y_test).float().mean().item()
                out = {"train_acc": right.float().mean().item(), "test_acc": test}
                out["clean_acc"] = right[~noisy].float().mean().item() if (~noisy).any() else math.nan
                out["noisy_acc"] = right[noisy].float().mean().item() if noisy.any() else math.nan
                return out

            history, _ = fit(
                model,
                data,
                torch.nn.functional.cross_entropy,
                opt,
                t.steps,
                batch_size=t.batch_size,
                generator=torch.Generator().manual_seed(order_seed),
                callbacks=[
                    LogMetrics(t.log_every, measure),
                    StopWhen(lambda h: h.last("train_acc") >= STOP_ACC, "fit"),
                ],
            )
            k = _key(p)
            fit_step = history.first_step("train_acc", lambda v: v >= FIT_ACC)
            fit_at = math.nan if fit_step is None else float(fit_step)
            values = (history.last("train_acc"), history.last("test_acc"), fit_at)
            summary.update(zip([f"{n}_{k}" for n in LEVEL_KEYS], values, strict=True))
            names = ("train_acc", "test_acc", "clean_acc", "noisy_acc") if p == PARTIAL else ("train_acc", "test_acc")
            for name in names:
                series[f"{name}_{k}"] = Series(*map(list, history.curves[name]))
            if p == PARTIAL:
                clean = history.first_step("clean_acc", lambda v: v >= HALF_ACC)
                noisy_step = history.first_step("noisy_acc", lambda v: v >= HALF_ACC)
                summary["clean_half_step"] = math.nan if clean is None else float(clean)
                summary["noisy_half_step"] = math.nan if noisy_step is None else float(noisy_step)
            bar.update(1)
    levels = list(d.levels)
    fit_steps = [summary[f"steps_to_fit_{_key(p)}"] for p in levels]
    summary["min_train_acc"] = float(np.min([summary[f"train_acc_{_key(p)}"] for p in levels]))  # nan if any is
    summary["test_acc_random"] = summary["test_acc_1"]
    summary["test_drop"] = summary[f"test_acc_{_key(levels[0])}"] - summary["test_acc_1"]
    summary["chance_band"] = _chance_band(len(base.y_test))
    summary["fit_tau"] = kendall_tau(levels, fit_steps) if all(math.isfinite(s) for s in fit_steps) else math.nan
    summary["fit_slowdown"] = fit_steps[-1] / fit_steps[0] if fit_steps[0] > 0 else math.nan
    c, n = summary["clean_half_step"], summary["noisy_half_step"]
    summary["noisy_over_clean"] = n / c if c > 0 else math.nan
    return ctx.result(cfg, summary, series)


def _chance_band(n_test: int, classes: int = 10) -> float:
    """Half-width of the two-sided :data:`CHANCE_BAND` binomial interval of the accuracy of a chance classifier."""
    lo, hi = stats.binom.interval(CHANCE_BAND, n_test, 1 / classes)
    return float(max(1 / classes - lo / n_test, hi / n_test - 1 / classes))


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check("fits every level: min training accuracy", s["min_train_acc"], ">=", FIT_ACC),
            Check("test accuracy falls: clean − random-label test acc", s["test_drop"], ">=", MIN_TEST_DROP),
            Check("time to fit grows with corruption: Kendall τ(p, steps)", s["fit_tau"], ">=", MIN_TAU),
            Check("random labels take longer: steps to fit, p = 1 / p = 0", s["fit_slowdown"], ">=", MIN_SLOWDOWN),
            Check(
                f"clean before noisy at p = {PARTIAL}: steps to {HALF_ACC:.0%}, noisy / clean",
                s["noisy_over_clean"],
                ">=",
                MIN_NOISY_OVER_CLEAN,
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 3, width=4.0)
    train_ax, test_ax, split_ax = axes[0]
    levels = list(cfg.data.levels)
    cmap = matplotlib.colormaps["viridis"]
    for i, p in enumerate(levels):
        if f"train_acc_{_key(p)}" not in result.series:  # a level skipped by data.compared_only
            continue
        color = cmap(i / max(len(levels) - 1, 1))
        steps, acc = result.curve(f"train_acc_{_key(p)}")
        train_ax.plot(steps, acc, color=color, label=f"p = {p:g} (fit at {s[f'steps_to_fit_{_key(p)}']:.0f})")
    train_ax.axhline(FIT_ACC, color=PALETTE["theory"], linestyle="--", linewidth=1)
    train_ax.set(xlabel="SGD step", ylabel="training accuracy", title="every labelling is fit")
    train_ax.legend(fontsize=7)
    test = [s[f"test_acc_{_key(p)}"] for p in levels]
    test_ax.plot(levels, test, "o-", color=PALETTE["test"], label="test accuracy (end of training)")
    test_ax.plot(levels, [s[f"train_acc_{_key(p)}"] for p in levels], "s-", color=PALETTE["train"], label="train")
    test_ax.plot(levels, [(1 - p) * test[0] + p * 0.1 for p in levels], ":", color=PALETTE["theory"], label="linear")
    band = s["chance_band"]
    test_ax.axhspan(0.1 - band, 0.1 + band, color=PALETTE["theory"], alpha=0.2, label="chance (99.9% band)")
    test_ax.set(xlabel="label corruption p", ylabel="accuracy", ylim=(0, 1.05), title="test accuracy falls to chance")
    test_ax.legend(fontsize=7)
    k = _key(PARTIAL)
    for name, color, label in (("clean_acc", PALETTE["train"], "clean"), ("noisy_acc", PALETTE["test"], "noisy")):
        steps, acc = result.curve(f"{name}_{k}")
        split_ax.plot(steps, acc, color=color, label=f"{label} examples")
    split_ax.axhline(HALF_ACC, color=PALETTE["theory"], linestyle="--", linewidth=1)
    split_ax.set(
        xlabel="SGD step",
        ylabel="training accuracy",
        title=f"p = {PARTIAL:g}: clean first (noisy/clean time {s['noisy_over_clean']:.2f})",
    )
    split_ax.legend(fontsize=7)
    n = int(cfg.data.num_samples * cfg.data.train_split)
    fig.suptitle(
        f"random labels: MNIST-1D, {n} train, MLP 40-{cfg.model.width}×{cfg.model.depth}-10, SGD lr {cfg.train.lr:g}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="random-labels",
    summary="networks fit any labelling; test accuracy falls to chance, noise costs time, clean examples fit first",
    papers=(
        "Zhang, Bengio, Hardt, Recht, Vinyals 2017 — Understanding deep learning requires rethinking generalization",
        "Arpit et al. 2017 — A closer look at memorization in deep networks",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("min_train_acc", "test_acc_random", "fit_tau", "fit_slowdown", "noisy_over_clean"),
    controls=(
        Control(
            "shuffled inputs",
            # its checks compare the first level, 0.5 and 1 only: the levels between are skipped
            {"data.inputs": "shuffled", "data.compared_only": True},
            must_fail=("test accuracy falls", "random labels take longer", "clean before noisy"),
            why="with inputs shuffled across examples no label carries signal: nothing generalizes and clean "
            "examples are just more random labels, fit at the same pace as the noisy ones, at every level",
        ),
        Control(
            "narrow network",
            {"model.width": 8},
            must_fail=("fits every level",),
            why="8 hidden units per layer cannot store 2000 random labels: the random levels are never fit",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread. Preset: min training accuracy 1.0 on all 10; |test acc at p=1 − 0.1| 0.002-0.0195 "
        "(band 0.0225); test drop 0.435-0.465; τ 0.80-1.00; noisy/clean 2.71-3.67; random/clean fit time "
        "1.44-1.71. Shuffled inputs: test drop −0.008-0.030 (fails 10/10), τ −0.74-0.60 (fails 10/10 at 0.7), "
        "noisy/clean 0.94-1.13 (fails 10/10), fit slowdown 0.92-1.07 (fails 10/10 at 1.2), still fits 10/10. "
        "Width 8: min training accuracy 0.21-0.235 "
        "(fails 10/10); τ and noisy/clean unmeasured there (the random levels are never fit). An earlier version "
        "stopped at 99% training accuracy, which made check (1) hold by construction at exactly 0.99-0.991 "
        "(seeds 100-104); it now trains to 100% and the 99% step times the fit. τ was first also a must-fail of "
        "the shuffled control; verify on seeds 0-2 then found the control's τ at 0.738 on seed 0 (a 5-point null "
        "τ ≥ 0.7 has ~5% chance), so the slowdown ratio (threshold from these calibration values) replaced it.",
        observed={
            "min_train_acc": (1.0,) * 10,
            "test_acc_random": (0.104, 0.092, 0.1085, 0.102, 0.0805, 0.0945, 0.098, 0.098, 0.0825, 0.0935),
            "test_drop": (0.446, 0.451, 0.442, 0.4475, 0.465, 0.435, 0.446, 0.4435, 0.4575, 0.45),
            "fit_tau": (0.8, 1.0, 0.9487, 0.9487, 1.0, 0.9487, 0.9487, 0.9487, 0.8, 0.9487),
            "noisy_over_clean": (2.7143, 2.7143, 2.7143, 3.3333, 2.8571, 3.3333, 3.6667, 3.0, 3.3333, 3.1667),
            "fit_slowdown": (1.5667, 1.7143, 1.4375, 1.4375, 1.4839, 1.6, 1.4375, 1.5484, 1.6207, 1.5862),
        },
    ),
)
