"""Example forgetting: during SGD many examples, once learned, are never forgotten; mislabeled examples are
forgotten often; the counts are a property of the data (stable across seeds); and the never-forgotten examples
can be removed at little cost to generalization.

Toneva, Sordoni, Combes, Trischler, Bengio & Gordon (2019) count, for every training example, its *forgetting
events*: presentations at which the minibatch forward pass (before the update) misclassifies it although the
previous presentation classified it correctly. On MNIST, permuted MNIST and CIFAR-10 a large share of examples is
*unforgettable* (learned once, never forgotten), examples with noisy labels are forgotten far more often than clean
ones, the per-example counts correlate across seeds, and removing the least-forgotten examples from the training
set costs much less test accuracy than removing the same number at random.

``quick``: MNIST-1D (Greydanus & Kobak 2024; 4000 train / 6000 test), of which a marked 10% of the training labels
is flipped to another class; an MLP 40-256-256-10 trained with minibatch SGD (batch 64, lr 0.05, momentum 0.9)
for 20 epochs, twice (different initialization and batch order). Forgetting statistics come from
:class:`phenomena.probes.forgetting.ForgettingTracker`, fed the training forward pass's logits with the minibatch
indices; the ranking is :func:`phenomena.probes.forgetting.rank_by_forgetting` over both runs (never-learned
examples count as the maximum). Removal, on the clean labels as in the paper's CIFAR-10 experiment: two more
tracked runs rank the examples, then from the first one's initialization and batch seed the MLP is retrained on
the training set without the 20% least-forgotten examples, and without 20% chosen at random; each arm is averaged
over ``removal.repeats`` = 3 retrains (own initialization, batch order and random set; ten trainings in all).

Verdict: the unforgettable fraction of the first run is large; the mislabeled examples' mean forgetting score
(Toneva's count, never-learned = maximum) is a multiple of the clean ones'; the Spearman correlation of the two
runs' scores is positive and clear; and removing the least-forgotten 20% costs little test accuracy and beats
random removal by a margin. With the flipped labels kept in the removal experiment (the first design) it did not:
the least-forgotten are clean, so removing them raises the noise fraction (10% → 12.5%) and the retrained model
lost to random removal on 4/5 calibration seeds. Controls: ``data.flip=false`` marks the same subset but keeps its
labels (the forgetting-ratio check fails: label noise is what makes those examples forgettable; it runs with
``removal.enabled=false``, as its check reads only the first tracked run, trained before the removal experiment and
from seeds of its own, so skipping the six retrains leaves that check's values bit for bit the same);
``removal.order=random`` removes a second random 20% in place of the least-forgotten
(the advantage over random removal vanishes).

MNIST-1D is a hard task for an MLP (about 60-70% test accuracy), unlike Toneva's MNIST/CIFAR settings: many
clean examples are memorized rather than generalized, so effects are weaker than in the paper (see the
calibration note).

``full``: real MNIST (``data.source=mnist``), read from a directory the user names (``-s data.directory=PATH``,
IDX files; never downloaded; a missing or empty directory is refused before training). It is close to, not
exactly, Toneva et al.'s MNIST setting (their ``run_mnist.py``: the 60,000 training images, a small CNN of two
5×5 convolutions with dropout and two dense layers, SGD lr 0.01, momentum 0.5, batch 64, 200 epochs, clean
labels). Here: with only the t10k files (the shipped test half) the 10,000 images are split 8000 train / 2000
test (``data.test_fraction``); the network is this entry's MLP 784-256-256-10 (no dropout); their optimizer (SGD
lr 0.01, momentum 0.5, batch 64) for 20 epochs, not 200; 10% of the training labels flipped (their MNIST runs
were clean; noise was their CIFAR-10 experiment); removal as in ``quick``. Its thresholds are quick's (set on
MNIST-1D): a ``full`` verdict is a cross-dataset check, not a calibrated one. Measured on seed 0 (53 s CPU at one
thread, 3 min on 2 shared cores): unforgettable 0.79, flipped/clean score 23.2 (about 93% of the flipped labels are
never learned in 20 epochs at this learning rate and count as the maximum), Spearman 0.85, removal drop 0.002 —
as in the paper, many MNIST examples are never forgotten and the least-forgotten 20% can go at no cost — but
the advantage over random removal is 0.006 (0.932 vs 0.925; spread 0.004 over the three retrains), below quick's
0.010: the verdict FAILS on that check. On MNIST random removal of 20% also costs little (0.933 → 0.925), and
2000 test images resolve accuracies to ~0.006 (binomial sd), so the effect is there in sign but not resolved.

Measurement precision (why the removal setting changed): the first quick setting (4000 train / 1000 test,
``num_samples=5000, train_split=0.8``, one retrained pair per arm) passed the removal-advantage check on only 1/3
held-out seeds 0-2 (advantages 0.043, 0.009, -0.003 against the threshold 0.012, set on calibration seeds 100-104
where the preset gave 0.016-0.033 and the random-removal control -0.026 to 0.008; the other checks and both
controls held 3/3). One retrained pair scored on 1000 test examples resolves a ~0.02 effect only marginally (the
binomial test noise alone is ~0.015 per accuracy). Averaging three retrains per arm on the same 1000 test examples
was not enough (calibration: preset 0.014-0.026, control -0.018 to 0.015, overlapping); the quick setting therefore
also scores on 6000 test examples (``num_samples=10000, train_split=0.4``, same 4000 training examples count), and
all thresholds were re-calibrated on seeds 100-104 (calibration note). Seeds 0-2 were not used for any choice.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from scipy.stats import spearmanr

from phenomena.config import at_least, between, config, field, one_of, positive, require
from phenomena.data.mnist import mnist, mnist_files
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.probes.forgetting import ForgettingTracker, rank_by_forgetting
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.optim import SGD

# Set on calibration seeds 100-104 (quick; see ENTRY.calibration), between the preset's and the controls' values;
# seeds 105-109, added later, fall on the same sides (no threshold changed).
MIN_UNFORGETTABLE = 0.2  # unforgettable fraction (first run): preset 0.31-0.35 (no control)
MIN_NOISY_RATIO = 1.17  # mean score flipped / clean: preset 1.28-1.54, labels-kept control 0.89-1.08 (geometric mid)
MIN_RANK_CORR = 0.3  # Spearman ρ of the two runs' scores: preset 0.43-0.45 (no control)
MAX_REMOVAL_DROP = 0.033  # accuracy drop, least-forgotten 20% removed: preset 0.015-0.028, random removed 0.039-0.047
MIN_REMOVAL_ADVANTAGE = 0.010  # accuracy, least-forgotten removed − random: preset 0.016-0.026, control -0.003-0.005


# the removal experiment's summary keys, in the order removal_experiment returns them (nan when it is off)
REMOVAL_KEYS = (
    "test_acc_full",
    "test_acc_removed",
    "test_acc_random_removed",
    "removal_drop",
    "removal_advantage",
    "removed",
    "removed_unforgettable_fraction",
    "removal_advantage_spread",
)


@config
class Data:
    source: Literal["mnist1d", "mnist"] = field("mnist1d", help="MNIST-1D (generated) or MNIST from data.directory")
    num_samples: int = field(10_000, at_least(100), help="MNIST-1D samples generated (train + test)")
    train_split: float = field(0.4, between(0, 1), help="MNIST-1D: fraction of the samples in the training set")
    directory: str = field("", help="MNIST's IDX files, for source=mnist (never downloaded): -s data.directory=PATH")
    test_fraction: float = field(
        0.2, between(0, 1, "()"), help="MNIST with only the t10k files: fraction of them held out as the test set"
    )
    noise: float = field(0.1, between(0, 1, "[)"), help="fraction of training examples marked (labels flipped)")
    flip: bool = field(True, help="flip the marked labels to another class (false: mark them only, the control)")

    def __post_init__(self):
        # An empty directory with source=mnist (the full preset) is refused when the run starts (preflight).
        if self.directory:
            require(Path(self.directory).expanduser().is_dir(), f"data.directory {self.directory} does not exist")


@config
class Train:
    width: int = field(256, at_least(1), help="hidden units per layer of the MLP")
    depth: int = field(2, at_least(1), help="hidden layers")
    epochs: int = field(20, at_least(2), help="passes over the training set (presentations per example)")
    batch: int = field(64, at_least(1), help="minibatch size")
    lr: float = field(0.05, positive, help="SGD learning rate")
    momentum: float = field(0.9, between(0, 1, "[)"), help="SGD momentum")


@config
class Removal:
    fraction: float = field(0.2, between(0, 1, "()"), help="fraction of the training set removed before retraining")
    order: str = field(
        "forgetting",
        one_of("forgetting", "random"),
        help="'forgetting': remove the least-forgotten; 'random': a random set (control)",
    )
    repeats: int = field(
        3, at_least(1), help="retrains averaged per removal arm (own initialization, batch order and random set)"
    )
    enabled: bool = field(
        True,
        help="run the removal experiment (its retrains and, with flipped labels, the clean-label tracked pair); off: "
        "its summary values are nan and its checks unmeasured (the labels-kept control, whose check reads only the "
        "first tracked run)",
    )


@config
class Config:
    data: Data = Data()
    train: Train = Train()
    removal: Removal = Removal()
    seed: int = field(0, help="the run's seed (marked subset, initializations, batch orders, random removal)")


PRESETS = {
    "smoke": Config(data=Data(num_samples=2500), train=Train(width=128, epochs=10), removal=Removal(repeats=1)),
    "quick": Config(),
    # Real MNIST, not the published setting (docstring): the shipped t10k half split 8000 train / 2000 test, an MLP
    # 784-256-256-10, Toneva's optimizer (SGD lr 0.01, momentum 0.5, batch 64) for 20 epochs, not 200. The entry
    # contract allows only smoke/quick/full/paper, so this is `full`, not a preset named `mnist`.
    # MNIST is never downloaded: run it with -s data.directory=PATH (the IDX files).
    "full": Config(data=Data(source="mnist"), train=Train(lr=0.01, momentum=0.5)),
}
COSTS = {"smoke": "~8 s", "quick": "~15 s", "full": "~2 min"}


def unused(cfg: Config) -> tuple[str, ...]:
    """The data keys the other source reads, and the removal experiment's when it is off."""
    off = () if cfg.removal.enabled else ("removal.fraction", "removal.order", "removal.repeats")
    if cfg.data.source == "mnist1d":
        return ("data.directory", "data.test_fraction", *off)
    return ("data.num_samples", "data.train_split", *off)


def preflight(cfg: Config) -> None:
    """MNIST is never downloaded: source=mnist needs a directory with its IDX files (checked before training)."""
    if cfg.data.source == "mnist":
        if not cfg.data.directory:
            raise UserError("data.source=mnist needs -s data.directory=PATH (MNIST IDX files, never downloaded)")
        mnist_files(cfg.data.directory)


def load_data(cfg: Config, ctx: RunContext):
    """The clean data set: MNIST-1D generated, or MNIST read from ``data.directory``."""
    d = cfg.data
    if d.source == "mnist":
        return mnist(d.directory, test_fraction=d.test_fraction, seed=ctx.stream_seed("data"))
    return mnist1d(d.num_samples, d.train_split, cache_dir=ctx.cache)


def train_run(data, keep: torch.Tensor, cfg: Config, init_seed: int, batch_seed: int, track: bool):
    """Train one MLP on the training rows ``keep``; returns (tracker or None, test accuracy).

    With ``track``, every minibatch's forward-pass logits (before the SGD step) go to a ForgettingTracker."""
    t = cfg.train
    model = MLP(data.x_train.shape[1], data.num_classes, width=t.width, depth=t.depth, seed=init_seed)
    opt = SGD(model.parameters(), lr=t.lr, momentum=t.momentum, foreach=True)
    g = torch.Generator().manual_seed(batch_seed)
    tracker = ForgettingTracker(data.n_train) if track else None
    x, y = data.x_train, data.y_train
    for _ in range(t.epochs):
        for b in keep[torch.randperm(len(keep), generator=g)].split(t.batch):
            out = model(x[b])
            loss = torch.nn.functional.cross_entropy(out, y[b])
            if tracker is not None:
                tracker.update(b, out.detach(), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (model(data.x_test).argmax(1) == data.y_test).double().mean().item()
    return tracker, acc if math.isfinite(acc) else math.nan


def forgetting_pair(data, cfg: Config, init_seed: int, batch_seed: int):
    """Two tracked runs on the whole training set (seeds ``init_seed + i``, ``batch_seed + i``, i = 0, 1):
    ``[(tracker, test accuracy), (tracker, test accuracy)]``."""
    everything = torch.arange(data.n_train)
    return [train_run(data, everything, cfg, init_seed + i, batch_seed + i, track=True) for i in range(2)]


def removal_experiment(cfg: Config, ctx: RunContext, data, clean, tracked, acc_noisy: float, init: int, order: int):
    """Toneva's removal experiment on the clean labels: the full-set run's test accuracy, and the retrained ones'
    without the least-forgotten ``removal.fraction`` and without a random set (summary keys :data:`REMOVAL_KEYS`).

    ``tracked`` is the main run's tracked pair (reused when its labels are the clean ones); ``acc_noisy`` the first
    one's test accuracy, ``init`` and ``order`` its seeds."""
    n = data.n_train
    t1, t2 = tracked
    # The removal experiment runs on the clean labels, as Toneva et al.'s (clean CIFAR-10): with flipped labels
    # kept, removing the least-forgotten raises the noise fraction of what is left (calibration note).
    acc_full, ri, ro = acc_noisy, init, order  # the seeds of the full-set run that the retrained ones are compared with
    if not torch.equal(data.y_train, clean.y_train):
        ri, ro = init + 2, order + 2
        (c1, acc_full), (c2, _) = ctx.shared(
            "tracked pair, clean labels", cfg, lambda: forgetting_pair(clean, cfg, ri, ro), ignore=("removal",)
        )
    else:
        c1, c2 = t1, t2
    k = int(round(cfg.removal.fraction * n))
    if cfg.removal.order == "forgetting":
        ranked, _ = rank_by_forgetting([c1, c2])
        least = ranked[:k]

    def without(idx: torch.Tensor) -> torch.Tensor:
        keep = torch.ones(n, dtype=torch.bool)
        keep[idx] = False
        return torch.nonzero(keep).flatten()

    # One retrained pair on 1000 test examples resolves a ~0.02 effect only marginally (docstring, Status), so each
    # arm is averaged over ``repeats`` retrains; repeat 0 uses the full-set run's seeds, repeat r >= 1 seeds of its
    # own (clear of the four tracked runs'), and every repeat draws its own random set.
    seeds = [(ri, ro) if r == 0 else (ri + 4 + r, ro + 4 + r) for r in range(cfg.removal.repeats)]

    def random_arm() -> list[float]:
        g = ctx.generator("removal")
        return [train_run(clean, without(torch.randperm(n, generator=g)[:k]), cfg, *sr, track=False)[1] for sr in seeds]

    # the random arm does not read which set the other arm removes: the "random removal" control reuses it
    acc_random_r = ctx.shared("random removal arm", cfg, random_arm, ignore=("removal.order",))
    gc = ctx.generator("removal-control")  # the control: a second random set in place of the least-forgotten
    removed_sets = [least if cfg.removal.order == "forgetting" else torch.randperm(n, generator=gc)[:k] for _ in seeds]
    acc_removed_r = [
        train_run(clean, without(rm), cfg, *sr, track=False)[1] for rm, sr in zip(removed_sets, seeds, strict=True)
    ]
    first_removed = removed_sets[0]
    acc_removed, acc_random = float(np.mean(acc_removed_r)), float(np.mean(acc_random_r))
    values = (
        acc_full,
        acc_removed,
        acc_random,
        acc_full - acc_removed,
        acc_removed - acc_random,
        float(k),
        float(c1.unforgettable[first_removed].double().mean()),
        float(np.std(np.subtract(acc_removed_r, acc_random_r))),
    )
    return dict(zip(REMOVAL_KEYS, values, strict=True))


def run(cfg: Config, ctx: RunContext) -> Result:
    d = cfg.data
    clean = load_data(cfg, ctx)
    noisy = with_label_noise(clean, d.noise, ctx.stream_seed("noise"))
    data = noisy if d.flip else dataclasses.replace(clean, meta=noisy.meta)  # the control: marked, labels kept
    n = data.n_train
    marked = torch.zeros(n, dtype=torch.bool)
    if "noisy" in data.meta:
        marked[data.meta["noisy"]] = True
    init, order = ctx.stream_seed("init"), ctx.stream_seed("batches")
    # the tracked runs read nothing of removal.*: a removal control reuses the main run's in a verify
    (t1, acc_noisy), (t2, _) = ctx.shared(
        "tracked pair", cfg, lambda: forgetting_pair(data, cfg, init, order), ignore=("removal",)
    )
    s1, s2 = t1.scores().numpy(), t2.scores().numpy()
    summary = {
        f"{k}_fraction" if k in ("unforgettable", "forgotten", "never_learned") else k: v
        for k, v in t1.summary().items()
    }
    m = marked.numpy()
    summary["mean_score_marked"] = float(s1[m].mean()) if m.any() else math.nan
    summary["mean_score_clean"] = float(s1[~m].mean())
    summary["marked_over_clean"] = (
        summary["mean_score_marked"] / summary["mean_score_clean"] if summary["mean_score_clean"] > 0 else math.nan
    )
    rho = spearmanr(s1, s2)[0]
    summary["rank_correlation"] = float(rho) if np.isfinite(rho) else math.nan
    if cfg.removal.enabled:
        summary.update(removal_experiment(cfg, ctx, data, clean, (t1, t2), acc_noisy, init, order))
    else:  # the labels-kept control: its check reads only the first tracked run (ENTRY.controls)
        summary.update(dict.fromkeys(REMOVAL_KEYS, math.nan))
    summary["test_acc_marked_labels"] = acc_noisy
    top = int(max(s1.max(), 1))
    bins = np.arange(top + 1)
    series = {
        "hist_clean": Series(bins.tolist(), np.bincount(s1[~m].astype(int), minlength=top + 1).tolist()),
        "hist_marked": Series(bins.tolist(), np.bincount(s1[m].astype(int), minlength=top + 1).tolist()),
    }
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check(
                "many examples are never forgotten: unforgettable fraction",
                s["unforgettable_fraction"],
                ">=",
                MIN_UNFORGETTABLE,
            ),
            Check(
                "mislabeled examples are forgotten more: mean score marked / clean",
                s["marked_over_clean"],
                ">=",
                MIN_NOISY_RATIO,
            ),
            Check("forgetting counts are stable across seeds: Spearman ρ", s["rank_correlation"], ">=", MIN_RANK_CORR),
            Check(
                "removing the least-forgotten costs little: test-accuracy drop",
                s["removal_drop"],
                "<=",
                MAX_REMOVAL_DROP,
            ),
            Check(
                "removing the least-forgotten beats random removal: accuracy advantage",
                s["removal_advantage"],
                ">=",
                MIN_REMOVAL_ADVANTAGE,
            ),
        )
    )


def _removal_panel(acc_ax, result: Result):
    """The removal experiment's test accuracies: full set, least-forgotten removed, random removed."""
    s, cfg = result.summary, result.config
    names = [
        "full set",
        f"least-forgotten\n{cfg.removal.fraction:.0%} removed",
        f"random\n{cfg.removal.fraction:.0%} removed",
    ]
    if cfg.removal.order == "random":
        names[1] = f"random (control)\n{cfg.removal.fraction:.0%} removed"
    values = [s["test_acc_full"], s["test_acc_removed"], s["test_acc_random_removed"]]
    acc_ax.bar(names, values, color=[PALETTE["control"], PALETTE["theory"], PALETTE["accent"]])
    for i, v in enumerate(values):
        acc_ax.text(i, v, f"{v:.3f}", ha="center", va="bottom")
    lo = min(values) - 0.05
    acc_ax.set(
        ylim=(max(lo, 0), min(max(values) + 0.03, 1)),
        ylabel="test accuracy",
        title=f"retrained after removal (Spearman ρ across seeds {s['rank_correlation']:.2f})",
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 2, width=4.2)
    hist_ax, acc_ax = axes[0]
    bins, clean = result.curve("hist_clean")
    _, marked = result.curve("hist_marked")
    b = np.asarray(bins, float)
    clean, marked = np.asarray(clean, float), np.asarray(marked, float)
    hist_ax.bar(b - 0.2, clean / max(clean.sum(), 1), width=0.4, color=PALETTE["train"], label="clean labels")
    if marked.sum() > 0:
        label = "flipped labels" if cfg.data.flip else "marked (labels kept)"
        hist_ax.bar(b + 0.2, marked / marked.sum(), width=0.4, color=PALETTE["test"], label=label)
    hist_ax.set(
        xlabel="forgetting events (last bar: never learned counts as the maximum)",
        ylabel="fraction",
        title=f"forgetting events ({s['unforgettable_fraction']:.0%} unforgettable)",
    )
    hist_ax.legend()
    if not cfg.removal.enabled:
        rho = s["rank_correlation"]
        text = f"removal experiment not run (removal.enabled=false)\n\nSpearman ρ across seeds {rho:.2f}"
        acc_ax.text(0.5, 0.5, text, ha="center", va="center")
        acc_ax.set_axis_off()
    else:
        _removal_panel(acc_ax, result)
    source = "MNIST" if cfg.data.source == "mnist" else "MNIST-1D"
    fig.suptitle(
        f"example forgetting: {source}, n = {int(s['presented'])}, {cfg.data.noise:.0%} labels marked, "
        f"MLP {cfg.train.width}×{cfg.train.depth}, {cfg.train.epochs} epochs of SGD"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="example-forgetting",
    summary="many examples are never forgotten during SGD, mislabeled ones often; the least-forgotten can be removed",
    papers=(
        "Toneva, Sordoni, Combes, Trischler, Bengio, Gordon 2019 — An empirical study of example forgetting during "
        "deep neural network learning",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    unused=unused,
    preflight=preflight,
    sweep_metrics=("unforgettable_fraction", "marked_over_clean", "rank_correlation", "removal_advantage"),
    controls=(
        Control(
            "labels kept",
            {"data.flip": False, "removal.enabled": False},  # its check reads only the tracked run (docstring)
            must_fail=("mislabeled examples are forgotten more",),
            why="the marked subset keeps its true labels: nothing makes it more forgettable than the rest",
        ),
        Control(
            "random removal",
            {"removal.order": "random"},
            must_fail=("removing the least-forgotten beats random removal",),
            why="a random set removed in place of the least-forgotten: no advantage over random removal is left",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick (4000 train / 6000 test, removal averaged over 3 retrains per arm), one thread. Thresholds set on "
        "seeds 100-104: preset unforgettable 0.31-0.35, flipped/clean score 1.28-1.54, Spearman 0.43-0.45, removal "
        "drop 0.015-0.028, advantage over random 0.016-0.026; labels-kept control ratio 0.89-1.08 (fails 5/5); "
        "random-removal control advantage -0.003 to 0.005 (fails 5/5), drop 0.039-0.047. Seeds 105-109 (added "
        "later, ~45 s a run on 2 shared cores) left them unchanged: preset unforgettable 0.31-0.34, ratio 1.34-1.52, "
        "Spearman 0.44-0.48, drop 0.003-0.020, advantage 0.017-0.023 (5/5 pass); labels-kept ratio 0.94-1.07 "
        "(fails 5/5); random-removal advantage -0.008 to 0.002 (fails 5/5), drop 0.034-0.045. Earlier settings: "
        "(1) 4000 train / 1000 test, one retrained pair: preset advantage 0.016-0.033, control -0.026 to 0.008, "
        "drop -0.005-0.039 (thresholds 0.012 and 0.05); on held-out seeds 0-2 the advantage passed 1/3 "
        "(0.043, 0.009, -0.003): one pair on 1000 test examples is too noisy for a ~0.02 effect. "
        "(2) same data, 3 retrains per arm: preset advantage 0.014-0.026, control -0.018 to 0.015 (passes 1/5), "
        "still overlapping, hence the 6000-example test set. (0) The first design retrained on the 10%-flipped "
        "labels: advantage -0.048 to 0.019 (1/5 pass), because the least-forgotten are clean and removing them "
        "raises the noise fraction to 12.5%; the removal experiment was moved to the clean labels, as in the paper.",
        observed={
            "unforgettable_fraction": (0.31, 0.3545, 0.3292, 0.3232, 0.3302, 0.323, 0.3115, 0.3075, 0.3167, 0.3375),
            "marked_over_clean": (1.4265, 1.49, 1.2789, 1.4069, 1.5376, 1.3843, 1.4697, 1.3914, 1.5231, 1.3374),
            "rank_correlation": (0.4266, 0.4291, 0.4282, 0.4375, 0.4478, 0.4817, 0.4479, 0.4405, 0.4375, 0.4519),
            "removal_drop": (0.0189, 0.018, 0.0154, 0.0182, 0.0276, 0.0028, 0.0201, 0.0148, 0.0158, 0.0184),
            "removal_advantage": (0.0259, 0.0209, 0.0246, 0.022, 0.0156, 0.0234, 0.0166, 0.0173, 0.0218, 0.0224),
        },
    ),
)
