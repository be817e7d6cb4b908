"""Lottery tickets: a sparse subnetwork, reset to its initial weights, trains to the dense network's accuracy.

Frankle & Carbin (2019) found, by iterative magnitude pruning (IMP: train, remove the 20% smallest remaining
weights, reset the survivors to their initial values θ_0, retrain; repeat), subnetworks of LeNet-300-100 with
10-20% of the weights that reach the dense network's test accuracy (or better) in as many steps. The same mask
with a fresh random initialization ("random reinit") does worse, and so does a random mask of the same layer
sparsity: the winning ticket is the mask together with its initial weights. Frankle et al. (2020) rewound to
an early θ_k instead of θ_0 for large networks (``-s prune.rewind_step=k``). On MNIST-1D, Greydanus & Kobak's
notebook found tickets beating the dense net by 7-9 points around 90% sparsity.

Here: a LeNet-style MLP 40-300-100-10 (Glorot-normal weights, zero biases) on MNIST-1D, Adam (lr 2e-3, batch
100, 1500 steps per round), IMP with :func:`phenomena.training.imp`: layer-wise pruning of 20% per round
(output layer 10%, Frankle & Carbin's LeNet convention), both controls in every round (same mask with a new
initialization; a random mask of the same per-layer sparsity from the same θ_k). Every round trains with the
same minibatch order. Real MNIST: ``-s data.source=mnist -s data.directory=PATH`` (IDX files, never
downloaded; inputs 784).

Verdict, over the rounds with at most 20% of the weights left (the anchors' setting; means over these rounds,
so one noisy retraining does not decide): the ticket's mean test accuracy is at least the dense network's
minus 0.5 points, and it beats random re-initialization of the same masks by at least 2 points on average. The
ticket vs random-mask margin is reported. ``seeds`` independent IMP runs (each its own initialization, control
draws and minibatch order; the data are shared) are averaged: the verdict reads the seed means, the figure shows
the spread over seeds as bands (min to max). Frankle & Carbin average five trials; ``quick`` runs two. How many
rounds reach <= 20% is a function of the config alone (``rounds_at_most_20pct`` in the summary, 3 in quick):
with none, the means are NaN and both checks fail as unmeasured.

Each round trains the ticket and its two controls at once, as one masked ensemble
(:func:`~phenomena.training.train_ensemble` with ``masks``; they share the minibatch order), which is the math of
three ``fit`` runs rounded differently.

Thresholds (the anchors' -0.5 and +2 points) checked on calibration seeds 100-104 of ``quick`` (each seed is
its own pair of IMP runs): ticket - dense -0.27 to +2.67 points, ticket - reinit +5.6 to +7.9 points; the
declared control, the random mask of the same per-layer sparsity judged as the ticket, measured -7.8 to -10.4
points against dense and -2.6 to -4.6 against reinit (fails both on 5/5). With each arm trained by its own
``fit`` (before the rounds became one ensemble) the same seeds gave +0.08 to +1.65, +5.4 to +8.3, and the
control -7.9 to -10.4 and -2.8 to -3.9: the rounding change re-draws the trajectories, and the closest margin
(ticket - dense on seed 103) moved from 0.58 to 0.23 points above the threshold, which was kept. Issue 19's
re-check (the ensemble step's cross-entropy on another memory layout, again only rounding) moved it to 0.28
points below: that check now holds on 4 of the 5 calibration seeds (``Calibration.note``); the threshold was
kept. Judged on held-out seeds 0-2. Every run trains the random-mask arm and records it judged as the ticket
(``as_ticket.random_mask.*``), so ``phenomena verify`` judges the control on the main runs (a derived control)
instead of training the same arms again.

``paper`` is Frankle & Carbin's LeNet-300-100 on MNIST (source in the preset's comment); it needs the MNIST
files (``-s data.directory=PATH``) and days of CPU. No published number is declared as a reference: their
accuracies are given only as curves (Figures 3-4), at the early-stopping iteration as well as at the end.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data import mnist, mnist1d
from phenomena.data.mnist import mnist_files
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import IMPRound, evaluate, fit, imp, train_ensemble
from phenomena.training.optim import Adam

MAX_REMAINING = 0.2  # the claim is about tickets with at most this fraction of the prunable weights
# The anchors' margins (anchors-repros §4), checked on calibration seeds 100-104 (ENTRY.calibration): the
# smallest ticket - dense was -0.27 points (-0.78 on seed 103 since issue 19's rounding change: 4/5 hold), the
# smallest ticket - reinit +5.6 points.
DENSE_MARGIN = 0.005  # ticket accuracy >= dense - 0.5 points
REINIT_MARGIN = 0.02  # ticket accuracy >= random reinit + 2 points


@config
class Data:
    source: Literal["mnist1d", "mnist"] = field("mnist1d", help="MNIST-1D (generated) or MNIST from data.directory")
    num_samples: int = field(5000, at_least(20), help="MNIST-1D examples (80/20 split)")
    directory: str = field("", help="MNIST's IDX files, for source=mnist (never downloaded): -s data.directory=PATH")
    mnist_train: int | None = field(
        None, positive, help="MNIST: training images kept after a seeded shuffle (Frankle & Carbin: 55,000); none = all"
    )

    def __post_init__(self):
        # An empty directory with source=mnist (the paper preset) is refused when the run starts, in one line.
        if self.directory:
            where = self.directory
            require(Path(where).expanduser().is_dir(), f"data.directory {where} does not exist")


@config
class Model:
    hidden: tuple[int, ...] = field((300, 100), positive, help="hidden layer widths (LeNet-300-100's)")

    def __post_init__(self):
        require(len(self.hidden) >= 1, f"model.hidden must be one or more positive widths; got {self.hidden}")


@config
class Train:
    steps: int = field(1500, positive, help="optimizer steps per IMP round")
    lr: float = field(2e-3, positive, help="Adam learning rate")
    batch_size: int = field(100, positive, help="examples per step")


@config
class Prune:
    rounds: int = field(10, positive, help="IMP rounds (0.8^10: ~11% of the hidden weights left)")
    rate: float = field(0.2, between(0, 1), help="fraction of the remaining weights pruned per round")
    output_factor: float = field(0.5, help="the output layer's rate is this times prune.rate (Frankle & Carbin: half)")
    scope: Literal["layerwise", "global"] = field("layerwise", help="prune per layer or by one global threshold")
    rewind_step: int = field(0, at_least(0), help="reset survivors to θ_k: 0 is θ_0 (Frankle & Carbin), k θ_k")
    controls: tuple[str, ...] = field(
        ("reinit", "random_mask"), help="control arms trained every round: reinit (required), random_mask"
    )

    def __post_init__(self):
        ok = set(self.controls) <= {"reinit", "random_mask"} and "reinit" in self.controls
        require(ok, f"prune.controls must include reinit, from reinit and random_mask; got {self.controls}")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    prune: Prune = Prune()
    ticket: Literal["magnitude", "random_mask"] = field(
        "magnitude", help="random_mask: report the random-mask control as the ticket"
    )
    seeds: int = field(2, positive, help="independent IMP runs, averaged; the figure's bands span them")
    seed: int = field(0, help="the run's seed")

    def __post_init__(self):
        k, steps = self.prune.rewind_step, self.train.steps
        require(k < steps, f"prune.rewind_step must be below train.steps ({steps}); got {k}")
        require(
            self.ticket == "magnitude" or "random_mask" in self.prune.controls,
            "ticket=random_mask needs random_mask in prune.controls",
        )


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=2000),
        model=Model(hidden=(64, 32)),
        train=Train(steps=150),
        prune=Prune(rounds=8, rate=0.2),
    ),
    "quick": Config(),
    # Frankle & Carbin 2019 (ICLR), §2 and Figure 2's table, LeNet-300-100 on MNIST: 784-300-100-10, Glorot
    # init, Adam 1.2e-3, batch 60, 50K iterations per round, 55K training images (5K held out for validation),
    # layer-wise magnitude pruning of 20% per round in the hidden layers and 10% in the output layer, rewind to
    # θ_0, five trials. 20 rounds reach 1.2% of the hidden weights, past the Pm = 3.6% at which their tickets
    # fall back to the dense accuracy (§2). Accuracies are final ones (theirs also at the early-stop iteration).
    # MNIST is never downloaded: run it with -s data.directory=PATH (the IDX files).
    "paper": Config(
        data=Data(source="mnist", mnist_train=55_000),
        train=Train(steps=50_000, lr=1.2e-3, batch_size=60),
        prune=Prune(rounds=20),
        seeds=5,
    ),
}
COSTS = {"smoke": "~10 s", "quick": "~50 s at one thread", "paper": "~5 days on CPU (MNIST), a day on a GPU"}


def unused(cfg: Config) -> tuple[str, ...]:
    """The data keys the other source reads."""
    return ("data.directory", "data.mnist_train") if cfg.data.source == "mnist1d" else ("data.num_samples",)


def build_model(cfg: Config, in_features: int, seed: int) -> nn.Sequential:
    """The LeNet-style MLP: Linear-ReLU blocks of ``cfg.model.hidden``, Glorot-normal weights, zero biases."""
    g = torch.Generator().manual_seed(seed)
    sizes = [in_features, *cfg.model.hidden, 10]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer = nn.Linear(a, b)
        with torch.no_grad():
            nn.init.xavier_normal_(layer.weight, generator=g)
            layer.bias.zero_()
        layers += [layer] if i == len(sizes) - 2 else [layer, nn.ReLU()]
    return nn.Sequential(*layers)


def preflight(cfg: Config) -> None:
    """MNIST is never downloaded: source=mnist needs a directory with its IDX files."""
    if cfg.data.source == "mnist":
        if not cfg.data.directory:
            raise UserError("data.source=mnist needs -s data.directory=PATH (MNIST IDX files, never downloaded)")
        mnist_files(cfg.data.directory)


def run(cfg: Config, ctx: RunContext) -> Result:
    if cfg.data.source == "mnist":
        data = mnist(cfg.data.directory, n_train=cfg.data.mnist_train, seed=ctx.stream_seed("data"))
    else:
        data = mnist1d(cfg.data.num_samples, cache_dir=ctx.cache)
    in_features = data.x_train.shape[1]
    t, p = cfg.train, cfg.prune
    key = "random_mask_test_acc" if cfg.ticket == "random_mask" else "test_acc"
    runs = []  # per seed: ticket accuracy per round (round 0 = dense), control accuracies, remaining fractions
    with ctx.progress(cfg.seeds * (1 + p.rounds * (1 + len(p.controls))), desc="lottery-ticket") as bar:
        for i in range(cfg.seeds):
            order = ctx.stream_seed("batches") + i

            def train_fn(model: nn.Module, rnd: IMPRound, order=order) -> dict[str, float]:
                optimizer = Adam(model.parameters(), lr=t.lr, foreach=True)
                fit(
                    model,
                    data,
                    F.cross_entropy,
                    optimizer,
                    t.steps - rnd.start_step,
                    batch_size=t.batch_size,
                    generator=torch.Generator().manual_seed(order),
                    callbacks=rnd.callbacks,
                )
                bar.update(1)
                _, acc = evaluate(model, data.x_test, data.y_test, F.cross_entropy)
                return {"test_acc": acc, "remaining": 1.0 - rnd.mask.sparsity()}

            def train_round(arms: list[tuple[nn.Module, IMPRound]], order=order) -> list[dict[str, float]]:
                # the ticket and its controls see the same minibatches: one masked ensemble trains them at once
                models = [model for model, _ in arms]
                train_ensemble(
                    models.__getitem__,
                    range(len(arms)),
                    data,
                    optimizer="adam",
                    lr=t.lr,
                    steps=t.steps - arms[0][1].start_step,
                    batch_size=t.batch_size,
                    log_every=t.steps,
                    order_seeds=[order] * len(arms),
                    masks=[rnd.mask for _, rnd in arms],
                    evaluate=(),  # each arm's test accuracy is measured below
                )
                bar.update(len(arms))
                accs = [evaluate(model, data.x_test, data.y_test, F.cross_entropy)[1] for model in models]
                return [
                    {"test_acc": acc, "remaining": 1.0 - rnd.mask.sparsity()}
                    for acc, (_, rnd) in zip(accs, arms, strict=True)
                ]

            rows = imp(
                lambda s: build_model(cfg, in_features, s),
                train_fn,
                p.rounds,
                p.rate,
                rewind=p.rewind_step,
                seed=ctx.stream_seed("init") + i,
                controls=p.controls,
                control_seed=ctx.stream_seed("control") + i,
                scope=p.scope,
                output_factor=p.output_factor,
                train_round=train_round,
            ).table()
            runs.append(
                {
                    "ticket": [rows[0]["test_acc"]] + [r[key] for r in rows[1:]],
                    "magnitude": [r["test_acc"] for r in rows],
                    "remaining": [1.0 - r["sparsity"] for r in rows],
                }
                | {c: [r[f"{c}_test_acc"] for r in rows[1:]] for c in p.controls}
            )
    remaining = runs[0]["remaining"]  # the same for every seed: layer-wise counts do not depend on the weights
    rounds = list(range(len(remaining)))
    series = {"remaining": Series(rounds, remaining)}
    mean = {}
    for name, xs in (("ticket", rounds), *((c, rounds[1:]) for c in p.controls)):
        per_seed = torch.tensor([r[name] for r in runs], dtype=torch.float64)  # (seeds, points)
        mean[name] = per_seed.mean(0).tolist()
        series[name] = Series(xs, mean[name])
        series[f"{name}_lo"] = Series(xs, per_seed.min(0).values.tolist())
        series[f"{name}_hi"] = Series(xs, per_seed.max(0).values.tolist())
    ticket, dense = mean["ticket"], mean["ticket"][0]
    sparse = [i for i in range(1, len(rounds)) if remaining[i] <= MAX_REMAINING]
    summary = {
        "dense_test_acc": dense,
        "final_remaining": remaining[-1],
        "rounds_at_most_20pct": len(sparse),
        "seeds": float(cfg.seeds),
    }
    for i in range(1, len(rounds)):
        summary[f"ticket_test_acc.r{i}"] = ticket[i]
        for c in p.controls:
            summary[f"{c}_test_acc.r{i}"] = mean[c][i - 1]
    # means over the sparse rounds; none (too few rounds) or a non-finite accuracy leaves them NaN: unmeasured
    avg = (lambda xs: sum(xs) / len(xs)) if sparse else (lambda xs: math.nan)
    summary["ticket_test_acc_sparse"] = avg([ticket[i] for i in sparse])
    summary["ticket_minus_dense"] = summary["ticket_test_acc_sparse"] - dense
    for c in p.controls:
        summary[f"ticket_minus_{c}"] = avg([ticket[i] - mean[c][i - 1] for i in sparse])
        # the weakest seed's margin, so that a mean carried by one seed shows (NaN if any seed's is NaN: min()
        # over NaN depends on the order)
        margins = [avg([r["ticket"][i] - r[c][i - 1] for i in sparse]) for r in runs]
        summary[f"ticket_minus_{c}_worst_seed"] = min(margins) if all(map(math.isfinite, margins)) else math.nan
    # each arm judged as the ticket, by name ("as_ticket.random_mask.minus_dense"): the verdict reads the one
    # cfg.ticket names, so the random-mask control is judged on the main runs (it is derived)
    judged = {"magnitude": torch.tensor([r["magnitude"] for r in runs], dtype=torch.float64).mean(0).tolist()}
    if "random_mask" in p.controls:
        judged["random_mask"] = [dense, *mean["random_mask"]]
    for arm, curve in judged.items():
        summary[f"as_ticket.{arm}.minus_dense"] = avg([curve[i] for i in sparse]) - dense
        summary[f"as_ticket.{arm}.minus_reinit"] = avg([curve[i] - mean["reinit"][i - 1] for i in sparse])
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s, arm = result.summary, result.config.ticket
    pct = f"{MAX_REMAINING:.0%}"
    rounds = f"{int(s['rounds_at_most_20pct'])} rounds"  # none: the means are NaN and both checks unmeasured
    checks = [
        Check(
            f"ticket - dense test accuracy, mean over rounds at <= {pct}",
            s[f"as_ticket.{arm}.minus_dense"],
            ">=",
            -DENSE_MARGIN,
            note=f"sparse tickets match the dense network ({rounds})",
        ),
        Check(
            f"ticket - random reinit test accuracy, mean over rounds at <= {pct}",
            s[f"as_ticket.{arm}.minus_reinit"],
            ">=",
            REINIT_MARGIN,
            note="the initial weights matter, not just the mask",
        ),
    ]
    return Verdict(tuple(checks))


def figure(result: Result):
    cfg = result.config
    fig, axes = subplots(1, 1, width=5.5, height=3.8)
    ax = axes[0][0]
    _, remaining = result.curve("remaining")
    label = "random mask (as ticket)" if cfg.ticket == "random_mask" else "ticket (IMP)"
    colors = {"ticket": PALETTE["accent"], "reinit": PALETTE["control"], "random_mask": PALETTE["test"]}
    names = {"ticket": label, "reinit": "same mask, random reinit", "random_mask": "random mask"}
    for c in ("ticket", *cfg.prune.controls):
        rounds, acc = result.curve(c)
        x = [remaining[r] for r in rounds]
        ax.plot(
            x,
            [100 * a for a in acc],
            color=colors[c],
            marker="o" if c == "ticket" else ".",
            linestyle="-" if c == "ticket" else "--",
            label=names[c],
        )
        if f"{c}_lo" in result.series and cfg.seeds > 1:
            ax.fill_between(
                x,
                [100 * a for a in result.curve(f"{c}_lo")[1]],
                [100 * a for a in result.curve(f"{c}_hi")[1]],
                color=colors[c],
                alpha=0.2,
                linewidth=0,
            )
    ax.axhline(
        100 * result.summary["dense_test_acc"],
        color="k",
        linestyle=":",
        linewidth=0.8,
        label="dense" + (f" (mean of {cfg.seeds} seeds; bands: min-max)" if cfg.seeds > 1 else ""),
    )
    ax.axvspan(min(remaining) * 0.9, MAX_REMAINING, color=PALETTE["control"], alpha=0.1, linewidth=0)
    ax.set(xscale="log", xlabel="fraction of prunable weights remaining", ylabel="test accuracy (%)")
    ax.invert_xaxis()
    ax.legend(fontsize="small")
    s = result.summary
    rewind = "θ_0" if cfg.prune.rewind_step == 0 else f"θ_{cfg.prune.rewind_step}"
    fig.suptitle(
        f"lottery tickets ({cfg.data.source}, rewind to {rewind}): at <= 20% weights, ticket - "
        f"dense {100 * s['ticket_minus_dense']:+.1f} pts, - reinit "
        f"{100 * s['ticket_minus_reinit']:+.1f} pts",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="lottery-ticket",
    summary="a sparse subnetwork, reset to its initial weights, trains to the dense network's accuracy",
    papers=(
        "Frankle, Carbin 2019 — The lottery ticket hypothesis: finding sparse, trainable neural networks",
        "Frankle, Dziugaite, Roy, Carbin 2020 — Linear mode connectivity and the lottery ticket hypothesis",
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
    sweep_metrics=("ticket_minus_dense", "ticket_minus_reinit", "ticket_minus_random_mask"),
    controls=(
        Control(
            "random mask",
            {"ticket": "random_mask"},
            must_fail=("ticket - dense", "ticket - random reinit"),
            why="a random mask of the same per-layer sparsity from the same initial weights, judged as the ticket: "
            "without the magnitude-found mask the sparse network falls behind",
            derived=True,
        ),
    ),
    calibration=Calibration(
        seeds=(100, 101, 102, 103, 104),
        note="quick at one thread, each round's arms trained as one masked ensemble; the thresholds are the "
        "anchors' (-0.5 and +2 points), supported on 5/5 (closest: ticket - dense -0.0027 on seed 103). The "
        "random-mask control is judged on the same runs (as_ticket.random_mask.*): it fails both checks on 5/5."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "lottery-ticket --calibration`, AVX-512 kernels): 4 of 5 pass. Seed 103's ticket − dense is −0.0078, below the"
        " −0.005 it must reach (the five seeds now −0.0078 to 0.0213, recorded before as −0.0027 to 0.0267); ticket − "
        "random reinit is 0.054-0.080 (5/5) and the random-mask control fails 5/5. The threshold stays. `observed` "
        "holds these values."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify lottery-ticket --calibration`, AVX-512 kernels): every seed passes and "
        "every control fails 5/5; `observed` holds these values. Ticket minus dense now -0.0023 to 0.0232 (-0.005 "
        "allowed), ticket minus reinit 0.062-0.079.",
        observed={
            "dense_test_acc": (0.651, 0.6405, 0.6585, 0.655, 0.6555),
            "ticket_minus_dense": (0.01767, 0.02317, 0.0005, -0.002333, 0.007),
            "ticket_minus_reinit": (0.0785, 0.07617, 0.07217, 0.06167, 0.07817),
            "ticket_minus_random_mask": (0.113, 0.1038, 0.09767, 0.1005, 0.1015),
            "ticket_minus_reinit_worst_seed": (0.07067, 0.07133, 0.06967, 0.059, 0.06533),
            "as_ticket.random_mask.minus_dense": (-0.09533, -0.08067, -0.09717, -0.1028, -0.0945),
            "as_ticket.random_mask.minus_reinit": (-0.0345, -0.02767, -0.0255, -0.03883, -0.02333),
        },
    ),
)
