"""Representation similarity: networks trained from different seeds learn similar layers, more so when wide.

Kornblith, Norouzi, Lee & Hinton (2019) compared the layers of networks that differ only in their random
initialization with centred kernel alignment (CKA). Linear CKA identifies corresponding layers: for each layer of
one network, the most similar layer of another is, in most cases, the layer at the same depth (their "sanity
check", which CCA and SVCCA mostly fail). They also found that wider networks learn more similar representations
(CKA between the same layers of two networks rises with width).

Here MLPs of a narrow and a wide width are trained on scikit-learn's digits from several seeds; for every pair
of seeds, the linear CKA matrix between their hidden layers and logits is computed on the held-out inputs
(minibatch unbiased CKA, Nguyen et al. 2021, :func:`phenomena.probes.similarity.cka_matrix`).

Verdict: in the wide networks each layer of A is most similar to the same layer of B for at least
``MIN_DIAGONAL_HITS`` of (layer, pair) cases; the mean diagonal CKA of the wide pairs exceeds that of the narrow
pairs by at least ``MIN_WIDTH_GAIN``. The narrow networks' diagonal hit rate is reported alongside.
"""

from __future__ import annotations

import itertools

import torch

from phenomena.config import at_least, config, field, positive, require
from phenomena.data import digits
from phenomena.experiment import Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.probes.similarity import cka_matrix
from phenomena.report import subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import evaluate, fit, loss_function, make_optimizer

MIN_DIAGONAL_HITS = 0.75  # "for most layers": 3 of 4 layers, averaged over seed pairs
MIN_WIDTH_GAIN = 0.02  # mean diagonal CKA, wide minus narrow


@config
class Model:
    narrow: int = field(16, positive, help="width of the narrow networks")
    wide: int = field(512, positive, help="width of the wide networks")
    depth: int = field(
        3, positive, help="hidden layers; CKA compares the hidden activations and the logits (depth + 1 layers)"
    )
    activation: str = field("relu", help="hidden activation")

    def __post_init__(self):
        require(self.narrow < self.wide, f"model.narrow must be below model.wide; got {self.narrow} and {self.wide}")


@config
class Train:
    epochs: int = field(30, at_least(0), help="training epochs (0: untrained networks)")
    lr: float = field(1e-3, positive, help="Adam learning rate")
    batch_size: int = field(128, positive, help="examples per step")


@config
class Config:
    model: Model = Model()
    train: Train = Train()
    seeds: int = field(3, at_least(2), help="networks per width; every pair of them is compared")
    cka_batch: int = field(
        120, at_least(4), help="examples per minibatch of the unbiased minibatch CKA (held-out set: 360 digits)"
    )
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(model=Model(narrow=8, wide=256), train=Train(epochs=10), seeds=2),
    "quick": Config(),
    # Kornblith et al. 2019 compare CNNs on CIFAR-10 over 10 seeds (Table 1) and widths 1x-... (Fig. 5); on CPU
    # the MLP analogue: 10 seeds, widths 16 and 2048, 100 epochs.
    "paper": Config(model=Model(narrow=16, wide=2048), train=Train(epochs=100), seeds=10),
}
COSTS = {"smoke": "~2 s", "quick": "~30 s on 2 CPU cores", "paper": "~30 min on CPU"}


def layer_names(depth: int) -> list[str]:
    """Names (in ``model.layers``) of the hidden activations and the logits of an :class:`MLP` of ``depth``."""
    return [f"layers.{2 * i + 1}" for i in range(depth)] + [f"layers.{2 * depth}"]


def diagonal_hits(values: torch.Tensor) -> float:
    """Fraction of rows i whose largest entry is at column i (Kornblith et al.'s correspondence test)."""
    return float((values.argmax(1) == torch.arange(values.shape[0])).double().mean())


def run(cfg: Config, ctx: RunContext) -> Result:
    data = digits(seed=ctx.stream_seed("data"))
    loss_fn = loss_function("ce")
    steps_per_epoch = -(-data.n_train // cfg.train.batch_size)
    names = layer_names(cfg.model.depth)
    batches = [x for x in torch.split(data.x_test, cfg.cka_batch) if len(x) >= 4]
    summary: dict[str, float] = {}
    series: dict[str, Series] = {}
    with ctx.progress(2 * cfg.seeds, desc="representation-similarity") as bar:
        for label, width in (("narrow", cfg.model.narrow), ("wide", cfg.model.wide)):
            nets, accs = [], []
            for k in range(cfg.seeds):
                model = MLP(
                    data.x_train.shape[1],
                    10,
                    width=width,
                    depth=cfg.model.depth,
                    activation=cfg.model.activation,
                    seed=ctx.stream_seed(f"init-{label}-{k}"),
                )
                optimizer = make_optimizer("adam", model.parameters(), cfg.train.lr)
                fit(
                    model,
                    data,
                    loss_fn,
                    optimizer,
                    cfg.train.epochs * steps_per_epoch,
                    batch_size=cfg.train.batch_size,
                    generator=ctx.generator(f"batches-{label}-{k}"),
                )
                model.eval()
                nets.append(model)
                accs.append(evaluate(model, data.x_test, data.y_test, loss_fn)[1])
                bar.update(1)
            mats = [cka_matrix(a, b, batches, names, names).values for a, b in itertools.combinations(nets, 2)]
            mean = torch.stack(mats).mean(0)
            for i in range(len(names)):  # row i of the mean CKA matrix as a series over the layer index j
                series[f"cka_{label}_row{i}"] = Series(list(range(len(names))), mean[i].tolist())
            summary[f"diagonal_hits_{label}"] = sum(diagonal_hits(m) for m in mats) / len(mats)
            summary[f"mean_diag_cka_{label}"] = float(torch.stack([m.diagonal() for m in mats]).mean())
            summary[f"mean_offdiag_cka_{label}"] = float(
                torch.stack([m[~torch.eye(len(names), dtype=torch.bool)] for m in mats]).mean()
            )
            summary[f"test_acc_{label}"] = sum(accs) / len(accs)
    summary["width_gain"] = summary["mean_diag_cka_wide"] - summary["mean_diag_cka_narrow"]
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check(
                "wide nets: each layer most similar to the same layer of another seed (fraction)",
                s["diagonal_hits_wide"],
                ">=",
                MIN_DIAGONAL_HITS,
                note=f"narrow nets: {s['diagonal_hits_narrow']:.2f}",
            ),
            Check(
                "mean diagonal CKA, wide minus narrow",
                s["width_gain"],
                ">=",
                MIN_WIDTH_GAIN,
                note=f"wide {s['mean_diag_cka_wide']:.3f}, narrow {s['mean_diag_cka_narrow']:.3f}",
            ),
        )
    )


def mean_matrix(result: Result, label: str) -> torch.Tensor:
    """The seed-pair-averaged CKA matrix of the ``narrow`` or ``wide`` networks, from the result's series."""
    rows = sorted(
        (k for k in result.series if k.startswith(f"cka_{label}_row")), key=lambda k: int(k[len(f"cka_{label}_row") :])
    )
    return torch.tensor([result.series[k].values for k in rows])


def figure(result: Result):
    cfg = result.config
    s = result.summary
    fig, axes = subplots(1, 2, width=3.6)
    depth = cfg.model.depth
    ticks = [f"h{i + 1}" for i in range(depth)] + ["out"]
    for ax, label, width in zip(axes[0], ("narrow", "wide"), (cfg.model.narrow, cfg.model.wide), strict=True):
        values = mean_matrix(result, label)
        image = ax.imshow(values.numpy(), vmin=0, vmax=1, cmap="magma", origin="lower")
        ax.set_xticks(range(depth + 1), ticks)
        ax.set_yticks(range(depth + 1), ticks)
        ax.grid(False)
        for i in range(depth + 1):
            for j in range(depth + 1):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="k" if values[i, j] > 0.6 else "w",
                )
        ax.set(
            xlabel="layer of net B",
            ylabel="layer of net A" if label == "narrow" else "",
            title=f"width {width}: diag CKA {s[f'mean_diag_cka_{label}']:.2f}",
        )
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="linear CKA")
    fig.suptitle(f"representation similarity across {cfg.seeds} seeds (mean over pairs), digits MLP depth {depth}")
    return fig


ENTRY = Entry(
    name="representation-similarity",
    summary="networks trained from different seeds learn similar layers, more so when wide",
    papers=(
        "Kornblith, Norouzi, Lee, Hinton 2019 — Similarity of neural network representations revisited",
        "Nguyen, Raghu, Kornblith 2021 — Do wide and deep networks learn the same things?",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("diagonal_hits_wide", "mean_diag_cka_wide", "mean_diag_cka_narrow"),
    controls=(
        Control(
            "untrained",
            {"train.epochs": 0},
            must_fail=("wide nets: each layer most similar",),
            why="at initialization every layer of a random ReLU MLP looks alike to CKA: the layer correspondence "
            "is learned",
        ),
    ),
)
