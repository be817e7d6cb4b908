"""Instability: two runs that share their first k steps end linearly connected once k is large enough.

Garipov et al. (2018) and Draxler et al. (2018) found that independently trained networks are joined by simple
low-loss curves, though not by straight lines. Frankle, Dziugaite, Roy & Carbin (2020) asked when the straight
line works: train one network for k steps, spawn two copies, train both to the end under different SGD noise
(here: different minibatch orders), and measure the error barrier ``max_t err(t) - (err(0) + err(1)) / 2`` on
the straight line between the two ends. The network is "stable" when the barrier is ~0 (they used a ~2%
tolerance): small MNIST networks are stable at initialization, larger ones become stable early in training
(ResNet-20 on CIFAR-10 after ~3% of training), and the barrier falls as k grows.

Here: an MLP 40-256-256-10 on MNIST-1D trained by Adam (lr 1e-2, batch 100) for T steps; one parent run logs
its training state (weights and Adam moments) at each spawn step k; each of two children resumes from that
state and trains T - k further steps with its own minibatch order, so every child ends at step T. (Restarting
Adam's moments at k instead kicks late-spawned children apart: its first steps are ~lr-sized in every
coordinate.) The two children of a pair train as one ensemble (:func:`~phenomena.training.train_ensemble`
resumed from the parent's optimizer state: two ``fit`` runs that load it, up to rounding; ~0.7x their time).
The barrier is on test error along 11 points (Frankle et al.'s definition); ``quick`` spawns three pairs of
children at each k, each pair with its own two minibatch orders, and a barrier is the mean of the three pairs'
barriers (Frankle et al. average three replicates; ``error_barrier_max.k*`` records the largest pair's).
``full`` is a larger CPU run of the same setting, not Frankle et al.'s (their LeNet is stable at initialization;
see its comment).

Verdict (thresholds chosen on calibration seeds 100-104, judged on others; see ``Calibration``):
- the barrier at k = 0 is at least 3 points of error: there is an instability to lose (calibration: 8.1-9.8%);
- the barrier at the largest k is at most 0.25x the one at k = 0 (calibration: 0.07-0.18x) and below 2 points,
  Frankle et al.'s tolerance for "stable" (calibration: 0.60-1.68%);
- the barriers fall roughly monotonically: no barrier exceeds the *smallest* one at an earlier k by more than
  1.5 points (calibration: at most 0.58 points). This is a shape check, not a mechanism claim (no control).
(Calibration of the current code, children trained as ensembles, on AVX-512 kernels; the ranges of the fit-trained
children on AVX2 are in ``Calibration.note``.)

Why three pairs. Until issue 19 ``quick`` measured one pair per k. Its thresholds were set, and its calibration
seeds passed 5/5 with margin, on a CPU with AVX-512 kernels. On an AVX2 CPU (AMD Zen 3) the same code re-draws
the chaotic trajectories, and one pair's barrier at k = 500 ranged from 0.05% to 2.35% over seeds: calibration
seeds 100 and 102 failed (2.35% at k = 500; 0.27x), held-out seed 4 too (2.25%), so 9 of 12 seeds passed (seed
100 passes with ATen's scalar kernels, ``ATEN_CPU_CAPABILITY=default``). The spread is that of one pair of SGD
noise draws, which a verdict on "the barrier at k" should not rest on; the mean of three pairs is what Frankle
et al. report. The thresholds were kept; the calibration and held-out seeds were run again with three pairs
(held-out seeds 0-2 on AVX2: barrier at k = 500 0.22-0.87%, 0.03-0.11x; both controls fail 3/3). It cost the
entry 2.5-3x its time, which training each pair as an ensemble then brought down to ~0.7x.

Controls (each fails its checks on every calibration seed): plain SGD at lr 0.05 is stable from initialization
(as Frankle et al.'s LeNet: barrier at k = 0 is 0.17-0.87%), so there is no instability to lose (its check reads
only k = 0, so the control spawns at k = 0 alone: its children at k = 0 are those of any spawn steps, bit for bit,
and with one k the checks that compare two k are unmeasured); and children that share a single step
(``spawn.steps=0,1``) are still unstable (barrier at k = 1 is 5.3-8.4%, 0.57-1.02x the one at k = 0): stability
comes from training shared before the spawn.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Literal

import matplotlib
import torch
import torch.nn.functional as F

from phenomena.config import at_least, config, field, positive, require
from phenomena.data import mnist1d
from phenomena.errors import DivergedError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.probes.connectivity import interpolation_barrier
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import fit, make_optimizer, train_ensemble

MIN_BARRIER_AT_INIT = 0.03  # error: children spawned at initialization must disagree this much
MAX_FRACTION = 0.25  # barrier at the largest k / barrier at k = 0
STABLE = 0.02  # Frankle et al.'s tolerance for "stable"
MONOTONE_SLACK = 0.015  # a later barrier may exceed an earlier one by this much (noise of one pair)


@config
class Data:
    num_samples: int = field(5000, at_least(20), help="MNIST-1D examples generated, 80/20 split")


@config
class Model:
    width: int = field(256, positive, help="hidden units per layer")
    depth: int = field(2, positive, help="hidden layers")


@config
class Train:
    steps: int = field(1500, positive, help="T: every child ends here")
    lr: float = field(1e-2, positive, help="learning rate")
    batch_size: int = field(100, positive, help="examples per step")
    optimizer: Literal["adam", "sgd"] = field("adam", help="the optimizer of the parent and the children")
    momentum: float = field(0.9, help="SGD momentum (sgd only)")


@config
class Spawn:
    steps: tuple[int, ...] = field((0, 20, 100, 500), at_least(0), help="the spawn steps k, increasing")
    points: int = field(11, at_least(3), help="values of t on [0, 1]")
    pairs: int = field(
        1, positive, help="pairs of children per spawn step, each its own two minibatch orders; a barrier is their mean"
    )

    def __post_init__(self):
        require(len(self.steps) >= 1, "spawn.steps needs at least one value of k")
        require(list(self.steps) == sorted(set(self.steps)), f"spawn.steps must increase; got {self.steps}")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    spawn: Spawn = Spawn()
    seed: int = field(0, help="the run's seed")

    def __post_init__(self):
        last, steps = self.spawn.steps[-1], self.train.steps
        require(last < steps, f"spawn.steps must lie below train.steps ({steps}); got {self.spawn.steps}")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=2000),
        model=Model(width=128),
        train=Train(steps=300, lr=2e-2),
        spawn=Spawn(steps=(0, 150), points=5),
    ),
    # three pairs per spawn step, as Frankle et al. average three replicates: one pair's barrier at k = 500 varies
    # from 0.05% to 2.35% between seeds (see the module docstring)
    "quick": Config(spawn=Spawn(pairs=3)),
    # not the published setting: Frankle et al. 2020's LeNet-300-100 (open_lth mnist_lenet_300_100: 300-100
    # hidden units, SGD lr 0.1, batch 128, 40 epochs ~ 18,750 steps on 60k MNIST) is stable at initialization;
    # this is a larger CPU run of quick's unstable-at-init setting instead: MNIST-1D (4000 training examples,
    # not MNIST), Adam lr 1e-2 at batch 100 (not SGD 0.1 at 128), two hidden layers of 300 (not 300-100),
    # 6000 steps (not ~18,750) and nine spawn steps, 25 points of t.
    "full": Config(
        model=Model(width=300, depth=2),
        train=Train(steps=6000),
        spawn=Spawn(steps=(0, 10, 20, 50, 100, 200, 500, 1000, 2000), points=25, pairs=3),
    ),
}
COSTS = {"smoke": "~3 s", "quick": "~30-45 s at one thread", "full": "~30 min on CPU"}


def error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Classification error, the mean over the batch (Frankle et al.'s barrier is on test error)."""
    return (outputs.argmax(-1) != targets).double().mean()


def run(cfg: Config, ctx: RunContext) -> Result:
    data = mnist1d(cfg.data.num_samples, cache_dir=ctx.cache)
    t, ks = cfg.train, list(cfg.spawn.steps)
    parent = MLP(data.x_train.shape[1], 10, width=cfg.model.width, depth=cfg.model.depth, seed=ctx.stream_seed("init"))
    snapshots: dict[int, tuple[dict, dict]] = {}
    momentum = t.momentum if t.optimizer == "sgd" else 0.0
    optimizer = make_optimizer(t.optimizer, parent.parameters(), t.lr, 0.0, momentum=momentum)

    def snapshot(state) -> None:
        if state.step in ks:  # the whole training state: weights and optimizer moments
            snapshots[state.step] = copy.deepcopy((state.model.state_dict(), optimizer.state_dict()))

    fit(
        parent,
        data,
        F.cross_entropy,
        optimizer,
        ks[-1],
        batch_size=t.batch_size,
        generator=ctx.generator("batches"),
        callbacks=[snapshot],
    )
    test = (data.x_test, data.y_test)
    summary: dict[str, float] = {}
    series: dict[str, Series] = {}
    barriers = []

    def spawn(k: int, names: tuple[str, str]):
        """Two children of the parent's state at step ``k`` (weights and optimizer moments), trained to the end on
        the minibatch orders ``names`` as one ensemble, and the barrier between them."""
        weights, moments = snapshots[k]

        def child(_seed: int) -> torch.nn.Module:
            model = copy.deepcopy(parent)
            model.load_state_dict(weights)
            return model

        res = train_ensemble(
            child,
            range(len(names)),
            data,
            optimizer=t.optimizer,
            lr=t.lr,
            momentum=momentum,
            steps=t.steps - k,
            batch_size=t.batch_size,
            log_every=t.steps - k,
            order_seeds=[ctx.stream_seed(f"batches {name}") for name in names],
            evaluate=(),
            resume=[moments] * len(names),
        )
        if any(res.diverged):
            step = min(a for a in res.diverged_at if a is not None)
            raise DivergedError(k + step, float("nan"))
        return interpolation_barrier(*res.models, F.cross_entropy, test, points=cfg.spawn.points, metric_fn=error)

    with ctx.progress(len(ks) * cfg.spawn.pairs, desc="mode-connectivity") as bar:
        for k in ks:
            paths = []
            for j in range(cfg.spawn.pairs):
                # pair 0 keeps the names it had when a run trained one pair, so its children are the same; the
                # parent's state at step k depends neither on the other spawn steps nor on the number of pairs:
                # a control with other steps (e.g. 0 and 1) reuses the main run's pairs spawned at k = 0 in a verify
                piece = f"children spawned at step {k}" + (f", pair {j}" if j else "")
                names = ("A", "B") if j == 0 else (f"A{j}", f"B{j}")
                pair = functools.partial(spawn, k, names)
                paths.append(ctx.shared(piece, cfg, pair, ignore=("spawn.steps", "spawn.pairs")))
                bar.update(1)
            barrier = sum(p.metric_barrier for p in paths) / len(paths)
            barriers.append(barrier)
            mean_path = sum(p.metric for p in paths) / len(paths)
            series[f"test_error_path.k{k}"] = Series(list(range(cfg.spawn.points)), mean_path.tolist())
            summary[f"error_barrier.k{k}"] = barrier
            summary[f"error_barrier_max.k{k}"] = max(p.metric_barrier for p in paths)
            summary[f"loss_barrier.k{k}"] = sum(p.barrier for p in paths) / len(paths)
            summary[f"test_acc.k{k}"] = 1.0 - float(mean_path[[0, -1]].mean())
    series["error_barrier"] = Series(ks, barriers)
    # with one spawn step there is no later k: what compares two k is unmeasured, not the first k against itself
    late = barriers[-1] if len(ks) > 1 else math.nan
    summary.update(
        barrier_first=barriers[0],
        barrier_last=late,
        fraction=late / barriers[0] if barriers[0] > 0 else math.nan,
        largest_rise=largest_rise(barriers),
    )
    return ctx.result(cfg, summary, series)


def largest_rise(barriers: list[float]) -> float:
    """The largest amount by which a barrier exceeds the *smallest* barrier at an earlier k: the barriers fall
    roughly monotonically when this is small (a fall, then a rise back, counts as the rise). nan if any barrier
    is not finite (unmeasured)."""
    if len(barriers) < 2 or not all(math.isfinite(b) for b in barriers):
        return math.nan
    return max(later - min(barriers[:i]) for i, later in enumerate(barriers) if i > 0)


def verdict(result: Result) -> Verdict:
    s = result.summary
    ks = result.config.spawn.steps
    return Verdict(
        (
            Check(
                f"error barrier when spawned at k = {ks[0]}",
                s["barrier_first"],
                ">=",
                MIN_BARRIER_AT_INIT,
                note="children spawned early end in different basins",
            ),
            Check(
                f"barrier at k = {ks[-1]} / barrier at k = {ks[0]}",
                s["fraction"],
                "<=",
                MAX_FRACTION,
                note="stability emerges during training",
            ),
            Check(
                f"error barrier when spawned at k = {ks[-1]}",
                s["barrier_last"],
                "<",
                STABLE,
                note="stable: linearly connected (Frankle et al.'s 2% tolerance)",
            ),
            Check(
                "largest rise of the barrier over an earlier k",
                s["largest_rise"],
                "<=",
                MONOTONE_SLACK,
                note="the barrier falls roughly monotonically with k",
            ),
        )
    )


def figure(result: Result):
    cfg = result.config
    ks = list(cfg.spawn.steps)
    fig, axes = subplots(1, 2, width=4.2)
    left, right = axes[0]
    steps, values = result.curve("error_barrier")
    left.plot([max(k, 0.5) for k in steps], [100 * v for v in values], color=PALETTE["accent"], marker="o")
    left.axhline(100 * STABLE, color="k", linestyle=":", linewidth=0.8, label="2% (stable)")
    left.set(
        xscale="log",
        xlabel="spawn step k (0 drawn at 0.5)",
        ylabel="test error barrier (%)",
        title="instability vs spawn step",
    )
    left.legend()
    cmap = matplotlib.colormaps["viridis"]
    points = cfg.spawn.points
    for i, k in enumerate(ks):
        idx, err = result.curve(f"test_error_path.k{k}")
        color = cmap(i / max(len(ks) - 1, 1))
        ts = [j / (points - 1) for j in idx]
        right.plot(ts, [100 * e for e in err], color=color, marker=".", label=f"k = {k}")
    right.set(
        xlabel="t (0: child A, 1: child B)", ylabel="test error (%)", title="error along the path (mean over pairs)"
    )
    right.legend()
    s = result.summary
    fig.suptitle(
        f"mode connectivity: MLP {cfg.model.depth}x{cfg.model.width}, {cfg.train.optimizer} lr "
        f"{cfg.train.lr:g}, T = {cfg.train.steps} — barrier {100 * s['barrier_first']:.1f}% at k = "
        f"{ks[0]}, {100 * s['barrier_last']:.1f}% at k = {ks[-1]}"
    )
    fig.tight_layout()
    return fig


def unused(cfg: Config) -> tuple[str, ...]:
    """Momentum is SGD's: an Adam run does not read it."""
    return ("train.momentum",) if cfg.train.optimizer != "sgd" else ()


ENTRY = Entry(
    name="mode-connectivity",
    summary="two runs that share their first k steps end linearly connected once k is large enough",
    papers=(
        "Frankle, Dziugaite, Roy, Carbin 2020 — Linear mode connectivity and the lottery ticket hypothesis",
        "Garipov, Izmailov, Podoprikhin, Vetrov, Wilson 2018 — Loss surfaces, mode connectivity, and fast "
        "ensembling of DNNs",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,  # the k = 150 barrier crosses 2% on smoke seeds 1 and 4 with AVX2 or scalar kernels
    sweep_metrics=("barrier_first", "barrier_last", "fraction"),
    controls=(
        Control(
            "stable from initialization",
            # the check it must fail reads only k = 0, whose children depend on no other spawn step: it spawns there
            # alone (the checks across k are then unmeasured), not at the preset's k, which quick trained for nothing
            {"train.optimizer": "sgd", "train.lr": 0.05, "spawn.steps": (0,)},
            must_fail=("error barrier when spawned at k = 0",),
            why="plain SGD at a small learning rate is stable from the start (as Frankle et al.'s LeNet): children "
            "spawned at k = 0 already end linearly connected, so there is no instability to lose",
        ),
        Control(
            "one shared step",
            {"spawn.steps": (0, 1)},
            must_fail=("barrier at k", "error barrier when spawned at k = 1"),
            why="children that share a single step of training are still unstable: stability needs the training "
            "shared before the spawn",
        ),
    ),
    calibration=Calibration(
        seeds=(100, 101, 102, 103, 104),
        note="quick (three pairs per k, each pair trained as one ensemble) at one thread, AVX-512 kernels (AMD EPYC): "
        "all 5 pass. Thresholds 3% (k = 0), 0.25x, 2% (Frankle et al.'s tolerance) and 1.5 points were set before "
        "these seeds and are supported by them (smallest margins: barrier at k = 500 1.68% < 2%, fraction 0.18 < 0.25, "
        "largest rise 0.58 < 1.5 points; the largest single pair at k = 500 reached 1.95%). Controls on the same "
        "seeds: SGD lr 0.05, spawned at k = 0 and 1, gives barrier at k = 0 of 0.17-0.87% (fails 5/5; its ratio "
        "late/early is noise, 0.69-2.3, so it is not named); spawn.steps=0,1 gives 0.57-1.02x and 5.3-8.4% at k = 1 "
        "(fails 5/5). Before (issue 19), with each child trained by fit, on AVX2 kernels (AMD Zen 3): all 5 passed "
        "(barrier at k = 500 0.67-1.12%, fraction 0.07-0.15, largest rise 0.40 points, k = 0 5.5-9.9%; SGD 0.33-0.98% "
        "at k = 0, one shared step 4.2-5.8% at k = 1). With one pair per k (set and calibrated on AVX-512, where these "
        "seeds gave barrier at k = 500 of 0.35-1.55%), AVX2 kernels gave 2.35% / 0.33x on seed 100 and 1.9% / 0.27x "
        "on seed 102: both failed. The monotonicity rule compares with the smallest earlier barrier (it compared with "
        "the largest before: a rise back after a fall passed)."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "mode-connectivity --calibration`, AVX-512 kernels): all 5 pass and both controls fail 5/5; barrier at k = 0 "
        "7.6-9.9%, at k = 500 0.28-1.82%, their ratio 0.03-0.23. `observed` holds these values."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify mode-connectivity --calibration`, AVX-512 kernels): every seed passes "
        "and every control fails 5/5; `observed` holds these values. Barrier at k = 0 7.2-9.2%, at k = 500 "
        "0.17-1.73%, their ratio 0.02-0.19; the largest rise came closer to its threshold, 1.37 points (seed 101; 1.5"
        " allowed, 1.1 at most before).",
        observed={
            "barrier_first": (0.09233, 0.09233, 0.08483, 0.0815, 0.07233),
            "barrier_last": (0.01033, 0.01733, 0.011, 0.008667, 0.001667),
            "fraction": (0.1119, 0.1877, 0.1297, 0.1063, 0.02304),
            "largest_rise": (0.001333, 0.01367, 0.003667, -0.003333, 0.001),
            "error_barrier.k20": (0.009167, 0.01067, 0.02467, 0.02733, 0.005),
            "error_barrier.k100": (0.009, 0.003667, 0.007333, 0.012, 0.006),
            "error_barrier_max.k500": (0.013, 0.024, 0.0175, 0.0165, 0.0045),
        },
    ),
    unused=unused,
)
