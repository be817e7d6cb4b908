"""Re-basin: two independently trained networks are linearly connected once their hidden units are aligned.

Entezari, Sedghi, Saukh & Neyshabur (2022) conjectured that, once the permutation symmetry of hidden units is
taken into account, SGD solutions from different random initializations lie in one basin: the loss along the
straight line between them has (almost) no barrier, and less so the wider the network. Ainsworth, Hayase &
Srinivasa (2023, "Git Re-Basin") found the permutation by weight matching (a linear assignment per layer,
coordinate descent over layers) and showed the barrier between independently trained MNIST/CIFAR-10 MLPs and
ResNets nearly vanishes after matching, for wide enough networks.

Here: pairs of one-hidden-layer ReLU MLPs on MNIST-1D (16,000 training examples; different initialization
seeds and minibatch orders), one pair per width (16, 128, 1024), trained alike with Adam. For each pair, the
training loss along ``(1 - t) θ_A + t θ_B`` (naive) and along ``(1 - t) θ_A + t π(θ_B)`` (π from
:func:`~phenomena.probes.permutation.weight_matching`, or ``-s match.method=activation`` for activation
matching), 25 points of t as git-re-basin; the barrier is Frankle et al.'s ``max_t L(t) - (L(0) + L(1)) / 2``
(Entezari et al.'s is reported too).

Verdict, at the widest width (thresholds from anchors-repros §8c, supported on calibration seeds 100-104 and
judged on others):
- the naive barrier is at least 0.3 nats: independently initialized nets are not linearly connected as they are
  (calibration 2.7-3.9 nats). Control: both nets from one initialization (only the minibatch orders differ) end
  linearly connected without any alignment, and the check fails;
- matching cuts it to at most 0.25x (calibration 0.062-0.083x). Control: a random permutation of net B's units
  (the same kind of path, without the alignment) leaves the ratio near 1, and the check fails. Every run also
  draws that permutation (from its own stream) and measures its path (``ratio_widest.random``), so ``phenomena
  verify`` judges this control on the main runs instead of training the pairs again.
The barriers and ratios at every width are reported (figure, summary), not checked: see below.

How this setting was chosen (after seeing verdicts, so the verdict is now judged on held-out seeds 0, 1, 2):
Ainsworth et al.'s MNIST MLP (3 hidden layers of 512, Adam 1e-3, batch 500) on 4000 MNIST-1D examples trains
to zero loss and keeps a matched barrier of 0.4x naive (the memorizing solutions are not linearly connected
after matching; an earlier calibration's number, not re-run here), so the check failed; one-hidden-layer MLPs
on 16,000 examples (no memorization: test accuracy 0.80) gave ratios near 0.1 and were kept. A third check,
"the ratio at the widest width is below the one at the narrowest" (wider nets are closer to one basin:
Entezari et al.), was dropped: on the calibration seeds the ratio at width 16 was 0.079-0.158 against
0.062-0.083 at 1024 (a margin of 0.001 on seed 100), not monotone through width 128 (0.092-0.150), and at
widths 4 and 8 it scattered from 0.03 to 0.99 over seeds: with one pair per width the width trend is not
robust here.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data import mnist1d
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.probes.connectivity import interpolation_barrier
from phenomena.probes.permutation import activation_matching, permute, random_permutation, weight_matching
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import train_ensemble

MIN_NAIVE_BARRIER = 0.3  # nats of training loss: the unaligned pair must have a barrier worth removing
MAX_RATIO = 0.25  # matched barrier / naive barrier at the widest width (anchors-repros §8c)


@config
class Data:
    num_samples: int = field(
        20_000, at_least(20), help="MNIST-1D examples generated (train_split of them for training)"
    )
    train_split: float = field(0.8, between(0, 1), help="fraction of the examples used for training")


@config
class Model:
    widths: tuple[int, ...] = field(
        (16, 128, 1024), positive, help="hidden widths, increasing: one pair of networks per width"
    )
    depth: int = field(1, positive, help="hidden layers (at least one, to permute)")

    def __post_init__(self):
        require(len(self.widths) >= 2, f"model.widths needs at least two widths; got {self.widths}")
        ws = self.widths
        require(list(ws) == sorted(set(ws)), f"model.widths must increase; got {ws}")


@config
class Train:
    steps: int = field(3000, positive, help="optimizer steps per network")
    lr: float = field(3e-3, positive, help="learning rate")
    batch_size: int = field(250, positive, help="examples per step")
    optimizer: Literal["adam", "sgd"] = field("adam", help="the optimizer of both networks")
    momentum: float = field(0.9, help="SGD momentum (sgd only)")
    shared_init: bool = field(
        False, help="both nets start from one initialization (only their minibatch orders differ): the control"
    )


@config
class Match:
    method: Literal["weight", "activation", "random"] = field(
        "weight",
        help="how net B's hidden units are aligned to net A's; random: a random permutation, no alignment (the "
        "control)",
    )
    points: int = field(25, at_least(3), help="values of t on [0, 1]")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    match: Match = Match()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=2000),
        model=Model(widths=(8, 64)),
        train=Train(steps=300, lr=1e-2, batch_size=100),
        match=Match(points=9),
    ),
    "quick": Config(),
    # not the published setting: Ainsworth et al.'s MNIST MLP (samuela/git-re-basin, mnist_mlp_train.py) has 3
    # hidden layers of 512, Adam 1e-3, batch 500, 100 epochs on 60k MNIST, one width. This is quick made
    # larger: one hidden layer (on MNIST-1D the 3x512 net memorizes and keeps a barrier: module docstring),
    # MNIST-1D's 16,000 training examples (not MNIST), widths 16 to 4096, 6000 steps of batch 250 (~94 epochs,
    # near their 100), Adam 3e-3 (not 1e-3). Not calibrated (its cost); its checks are quick's.
    "full": Config(model=Model(widths=(16, 64, 256, 1024, 4096)), train=Train(steps=6000)),
}
COSTS = {"smoke": "~3 s", "quick": "~45-70 s at one thread", "full": "~10 min on CPU"}


def run(cfg: Config, ctx: RunContext) -> Result:
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    train = (data.x_train, data.y_train)
    init = ctx.stream_seed("init")
    orders = [ctx.stream_seed("batches A"), ctx.stream_seed("batches B")]
    summary: dict[str, float] = {}
    series: dict[str, Series] = {}
    t = cfg.train
    methods = dict.fromkeys((cfg.match.method, "random"))  # the config's, then the random control's
    with ctx.progress(len(cfg.model.widths), desc="re-basin") as bar:
        for width in cfg.model.widths:

            def build(seed: int, width: int = width) -> torch.nn.Module:
                return MLP(data.x_train.shape[1], 10, width=width, depth=cfg.model.depth, seed=seed)

            res = train_ensemble(
                build,
                [init, init if t.shared_init else init + 1],
                data,
                optimizer=t.optimizer,
                lr=t.lr,
                momentum=t.momentum if t.optimizer == "sgd" else 0.0,
                steps=t.steps,
                batch_size=t.batch_size,
                log_every=t.steps,
                order_seeds=orders,
            )
            a, b = res.models
            naive = interpolation_barrier(a, b, F.cross_entropy, train, points=cfg.match.points)
            # the config's method and the random permutation, each named ("ratio.random.w1024"), so the random
            # control is judged on these runs (it is derived): one more path, cheap next to training the pair
            paths = {
                method: interpolation_barrier(
                    a, _align(method, a, b, train, ctx, width), F.cross_entropy, train, points=cfg.match.points
                )
                for method in methods
            }
            for method, path in paths.items():
                summary[f"matched_barrier.{method}.w{width}"] = path.barrier
                summary[f"ratio.{method}.w{width}"] = _ratio(path.barrier, naive.barrier)
            matched = paths[cfg.match.method]
            idx = list(range(cfg.match.points))  # point i is t = i / (points - 1)
            series[f"naive_loss.w{width}"] = Series(idx, naive.loss.tolist())
            series[f"matched_loss.w{width}"] = Series(idx, matched.loss.tolist())
            summary[f"naive_barrier.w{width}"] = naive.barrier
            summary[f"matched_barrier.w{width}"] = matched.barrier
            summary[f"naive_barrier_entezari.w{width}"] = naive.barrier_entezari
            summary[f"matched_barrier_entezari.w{width}"] = matched.barrier_entezari
            summary[f"ratio.w{width}"] = _ratio(matched.barrier, naive.barrier)
            summary[f"train_acc.w{width}"] = float(res.curves["train_acc"][:, -1].mean())
            summary[f"test_acc.w{width}"] = float(res.curves["test_acc"][:, -1].mean())
            bar.update(1)
    widths = list(cfg.model.widths)
    for name in ("naive_barrier", "matched_barrier", "ratio"):
        series[name] = Series(widths, [summary[f"{name}.w{w}"] for w in widths])
    lo, hi = widths[0], widths[-1]
    summary.update(
        ratio_narrowest=summary[f"ratio.w{lo}"],
        ratio_widest=summary[f"ratio.w{hi}"],
        naive_barrier_widest=summary[f"naive_barrier.w{hi}"],
        matched_barrier_widest=summary[f"matched_barrier.w{hi}"],
    )
    summary.update({f"ratio_widest.{method}": summary[f"ratio.{method}.w{hi}"] for method in methods})
    return ctx.result(cfg, summary, series)


def _align(method: str, a: torch.nn.Module, b: torch.nn.Module, train, ctx: RunContext, width: int):
    """Net B with its hidden units aligned to net A's by ``method`` (each method draws from its own stream)."""
    if method == "weight":
        return weight_matching(a, b, generator=ctx.generator(f"matching {width}")).model
    if method == "activation":
        return activation_matching(a, b, train).model
    # a random permutation: the same kind of path, without the alignment
    return permute(b, random_permutation(b, ctx.generator(f"random permutation {width}")))


def _ratio(matched: float, naive: float) -> float:
    """Matched over naive barrier (nan without a naive barrier)."""
    return matched / naive if naive > 0 else float("nan")


def verdict(result: Result) -> Verdict:
    s = result.summary
    widths = result.config.model.widths
    return Verdict(
        (
            Check(
                f"naive barrier at width {widths[-1]} (nats)",
                s["naive_barrier_widest"],
                ">=",
                MIN_NAIVE_BARRIER,
                note="independently trained nets are not linearly connected as they are",
            ),
            Check(
                f"matched / naive barrier at width {widths[-1]}",
                s[f"ratio_widest.{result.config.match.method}"],  # every run measures random too (derived control)
                "<=",
                MAX_RATIO,
                note="aligning hidden units removes most of the barrier",
            ),
        )
    )


def figure(result: Result):
    cfg = result.config
    widths = cfg.model.widths
    fig, axes = subplots(1, len(widths) + 1, width=3.4)
    row = axes[0]
    points = cfg.match.points
    for ax, width in zip(row, widths, strict=False):
        for kind, color in (("naive", PALETTE["control"]), ("matched", PALETTE["accent"])):
            idx, loss = result.curve(f"{kind}_loss.w{width}")
            ax.plot([i / (points - 1) for i in idx], loss, color=color, marker=".", label=kind)
        ax.set(xlabel="t (0: net A, 1: net B)", ylabel="train loss", title=f"width {width}")
        ax.legend()
    ax = row[-1]
    for kind, color in (("naive_barrier", PALETTE["control"]), ("matched_barrier", PALETTE["accent"])):
        w, v = result.curve(kind)
        ax.plot(w, v, color=color, marker="o", label=kind.replace("_", " "))
    ax.set(xscale="log", xlabel="width", ylabel="barrier (nats)", title="barrier vs width")
    ax.legend()
    s = result.summary
    fig.suptitle(
        f"re-basin ({cfg.match.method} matching): barrier ratio {s['ratio_narrowest']:.2f} at width "
        f"{widths[0]}, {s['ratio_widest']:.2f} at width {widths[-1]}"
    )
    fig.tight_layout()
    return fig


def unused(cfg: Config) -> tuple[str, ...]:
    """Momentum is SGD's: an Adam run does not read it."""
    return ("train.momentum",) if cfg.train.optimizer != "sgd" else ()


ENTRY = Entry(
    name="re-basin",
    summary="two independently trained networks are linearly connected once their hidden units are aligned",
    papers=(
        "Entezari, Sedghi, Saukh, Neyshabur 2022 — The role of permutation invariance in linear mode "
        "connectivity of neural networks",
        "Ainsworth, Hayase, Srinivasa 2023 — Git Re-Basin: merging models modulo permutation symmetries",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("ratio_widest", "naive_barrier_widest", "matched_barrier_widest"),
    controls=(
        Control(
            "random permutation",
            {"match.method": "random"},
            must_fail=("matched / naive barrier",),
            why="net B's units permuted at random instead of matched: the same kind of path without the alignment, "
            "so the barrier stays",
            derived=True,
        ),
        Control(
            "shared initialization",
            {"train.shared_init": True},
            must_fail=("naive barrier",),
            why="both nets from one initialization (different minibatch orders): their units correspond already, "
            "and the naive path has no barrier",
        ),
    ),
    calibration=Calibration(
        seeds=(100, 101, 102, 103, 104),
        note="quick at one thread. Thresholds (anchors-repros §8c) supported with margin: naive barrier 2.7-3.9 "
        "nats >= 0.3, ratio 0.062-0.083 <= 0.25. Controls on the same seeds: a random permutation gives ratios "
        "0.92-1.42 (fails 5/5); one shared initialization gives naive barriers 0.037-0.042 nats (fails 5/5). The "
        "width check (ratio at 1024 < ratio at 16) was dropped: differences -0.095 to -0.001, and at widths 4 "
        "and 8 ratios of 0.03-0.99 (module docstring). The setting itself was chosen after seeing verdicts (the "
        "3x512 net failed): verify judges it on seeds 0-2."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify re-basin "
        "--calibration`, AVX-512 kernels): all 5 pass and both controls fail 5/5; matched / naive barrier at the "
        "widest 0.054-0.079. `observed` holds these values."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify re-basin --calibration`, AVX-512 kernels): every seed passes and every "
        "control fails 5/5; `observed` holds these values.",
        observed={
            "naive_barrier_widest": (2.84, 3.262, 3.848, 2.659, 3.957),
            "matched_barrier_widest": (0.2005, 0.2412, 0.2293, 0.2122, 0.2347),
            "ratio_widest": (0.07059, 0.07393, 0.05958, 0.07982, 0.05932),
            "ratio_narrowest": (0.07882, 0.08999, 0.0874, 0.1464, 0.156),
            "ratio.w128": (0.09146, 0.1109, 0.1466, 0.1092, 0.1277),
            "test_acc.w1024": (0.7993, 0.8044, 0.8094, 0.8077, 0.8011),
        },
    ),
    unused=unused,
)
