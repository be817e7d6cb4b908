"""Representation similarity: networks trained from different seeds learn similar layers, more so when wide.

Kornblith, Norouzi, Lee & Hinton (2019) compared the layers of networks that differ only in their random
initialization with centred kernel alignment (CKA). Linear CKA identifies corresponding layers: for each layer of
one network, the most similar layer of another is, in most cases, the layer at the same depth (their "sanity
check", which CCA and SVCCA mostly fail). They also found that wider networks learn more similar representations
(CKA between the same layers of two networks rises with width).

Here MLPs of a narrow and a wide width are trained on scikit-learn's digits from several seeds; for every pair
of seeds, the linear CKA matrix between their hidden layers and logits is computed on the held-out inputs
(minibatch unbiased CKA, Nguyen et al. 2021, :class:`phenomena.probes.similarity.MinibatchCKA`).

Verdict (thresholds set on calibration seeds 100-109, judged on other seeds):

- *layer correspondence*: in the wide networks each layer of A is most similar to the same layer of B in at least
  two thirds of the (layer, pair) cases. The calibration seeds gave 0.75-1.0 (in steps of 1/12: 4 layers x 3
  pairs); the threshold 0.75 used before sat exactly on the smallest value, so it is one case lower, 8 of 12.
  The narrow nets (0.25-0.5) and the untrained wide nets (0.25 on every seed: at initialization all hidden
  layers of a random ReLU MLP look alike to CKA) are far below it. A NaN CKA (a constant layer) cannot be
  ranked: the hit rate is then NaN and the check unmeasured, never a hit by ``argmax``.
- *width*: the mean diagonal CKA (same layer, different seeds) of the wide nets exceeds the narrow nets' by at
  least 0.06, half the smallest calibration value (0.125-0.235). The mechanism is the average over units: linear
  CKA sees a layer only through its Gram matrix over inputs, a sum over units whose seed-dependent part shrinks
  like width^(-1/2) (in the limit it is the seed-independent NNGP/NTK kernel). It does not need training: the
  untrained nets show a larger gain (0.50-0.60, most of it in the hidden layers). The control
  ``cka_units=narrow`` keeps the trained wide nets but lets CKA see only as many randomly chosen units of each
  hidden layer as a narrow net has (16 in quick): the average is gone, and wide minus narrow falls to zero or
  below (-0.16 to +0.01 on calibration seeds), while the logits (10 units at both widths, the output of the
  whole population) stay more similar in the wide nets. Every run measures CKA both ways (the same trained nets;
  the second costs a forward pass on the held-out inputs and the CKA matrices), so ``phenomena verify`` judges
  this control on the main runs instead of training them again.

``full`` is not a published setting: Kornblith et al. compare CNNs on CIFAR-10 (Table 1: 10 seeds; Fig. 5: width
multipliers); here the MLP analogue on digits with 10 seeds, widths 16 and 2048 and 100 epochs. No published
number exists for it, so it has no reference.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Literal, get_args

import torch

from phenomena.config import at_least, config, field, one_of, positive, require
from phenomena.data import digits
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.models.layers import ACTIVATIONS
from phenomena.probes.similarity import MinibatchCKA
from phenomena.report import subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import evaluate, fit, loss_function, make_optimizer

CkaUnits = Literal["all", "narrow"]
CKA_UNITS: tuple[CkaUnits, ...] = get_args(CkaUnits)
MIN_DIAGONAL_HITS = 2 / 3  # "for most layers": one (layer, pair) case below the calibration minimum of 9/12
MIN_WIDTH_GAIN = 0.06  # mean diagonal CKA, wide minus narrow: half the calibration minimum (0.125)


@config
class Model:
    narrow: int = field(16, positive, help="width of the narrow networks")
    wide: int = field(512, positive, help="width of the wide networks")
    depth: int = field(
        3, positive, help="hidden layers; CKA compares the hidden activations and the logits (depth + 1 layers)"
    )
    activation: str = field("relu", one_of(*ACTIVATIONS), help="hidden activation")

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
    cka_units: CkaUnits = field(
        "all",
        help="all: CKA sees every unit of a hidden layer; narrow: only as many units as the narrow nets have, "
        "chosen at random per network (the control that removes the average over many units)",
    )
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(model=Model(narrow=8, wide=256), train=Train(epochs=10), seeds=2),
    "quick": Config(),
    # Not a published setting: Kornblith et al. 2019 compare CNNs on CIFAR-10 over 10 seeds (Table 1) and width
    # multipliers (Fig. 5); this is the CPU MLP analogue on digits: 10 seeds, widths 16 and 2048, 100 epochs.
    "full": Config(model=Model(narrow=16, wide=2048), train=Train(epochs=100), seeds=10),
}
COSTS = {"smoke": "~2 s", "quick": "~10-25 s on 1 CPU core", "full": "~30 min on CPU"}
CALIBRATION = Calibration(
    seeds=tuple(range(100, 110)),
    note="quick on seeds 100-109 at one thread: diagonal_hits_wide 0.75-1.0 (the old threshold 0.75 had no margin: "
    "now 2/3); width_gain 0.125-0.235 (threshold 0.06, half the minimum; the old 0.02 was nearly vacuous). "
    "Controls on the same seeds: train.epochs=0 gives diagonal_hits_wide 0.25 on 10/10 (width_gain 0.50-0.60: "
    "the width gain needs no training); cka_units=narrow gives width_gain -0.164 to +0.012, failing on 10/10."
    " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (make_optimizer's Adam, for fit: the "
    "same rule, rounded differently in the last bits, which re-draws the runs; `phenomena verify "
    "representation-similarity --calibration`, AVX-512 kernels): every seed passes and every control fails 10/10; "
    "`observed` holds these values.",
    observed={
        "diagonal_hits_wide": (0.9167, 0.8333, 0.8333, 0.8333, 0.9167, 1.0, 1.0, 0.8333, 0.8333, 0.9167),
        "diagonal_hits_narrow": (0.3333, 0.4167, 0.4167, 0.4167, 0.3333, 0.4167, 0.25, 0.25, 0.3333, 0.5),
        "mean_diag_cka_wide": (0.9797, 0.9791, 0.9766, 0.9802, 0.9806, 0.978, 0.9787, 0.9813, 0.9796, 0.9803),
        "mean_diag_cka_narrow": (0.8241, 0.8545, 0.8115, 0.833, 0.8093, 0.8303, 0.7436, 0.7773, 0.7843, 0.8481),
        "width_gain": (0.1557, 0.1247, 0.1651, 0.1472, 0.1713, 0.1477, 0.2351, 0.204, 0.1954, 0.1322),
    },
)


def layer_names(depth: int) -> list[str]:
    """Names (in ``model.layers``) of the hidden activations and the logits of an :class:`MLP` of ``depth``."""
    return [f"layers.{2 * i + 1}" for i in range(depth)] + [f"layers.{2 * depth}"]


def diagonal_hits(values: torch.Tensor) -> float:
    """Fraction of rows i whose largest entry is at column i (Kornblith et al.'s correspondence test); nan when
    any entry is not finite (an undefined CKA cannot be ranked, and ``argmax`` would rank a NaN first)."""
    if not bool(torch.isfinite(values).all()):
        return math.nan
    return float((values.argmax(1) == torch.arange(values.shape[0])).double().mean())


def representations(
    model: MLP, batches: list[torch.Tensor], depth: int, units: int, generator: torch.Generator
) -> list[list[torch.Tensor]]:
    """Per batch, the hidden activations of ``model`` (each through ``units`` randomly chosen units when
    ``units`` is positive and below the width; the same units on every batch) and its logits."""
    keep = []
    for i in range(depth):
        width = model.layers[2 * i].out_features
        keep.append(torch.randperm(width, generator=generator)[:units] if 0 < units < width else None)
    out = []
    with torch.no_grad():
        for x in batches:
            reps, h = [], x
            for i in range(depth):
                h = model.layers[2 * i + 1](model.layers[2 * i](h))
                reps.append(h if keep[i] is None else h[:, keep[i]])
            reps.append(model.layers[2 * depth](h))
            out.append(reps)
    return out


def cka_between(reps_a: list[list[torch.Tensor]], reps_b: list[list[torch.Tensor]]) -> torch.Tensor:
    """The (layers, layers) linear minibatch CKA matrix of two networks' :func:`representations` (NaN where a
    representation is constant)."""
    acc = MinibatchCKA()
    for a, b in zip(reps_a, reps_b, strict=True):
        acc.update(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a constant layer gives NaN, judged as unmeasured
        return acc.compute()


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
            reps: dict[str, list] = {units: [] for units in CKA_UNITS}
            accs = []
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
                # a fresh generator per choice, of the stream a run with that choice draws from: the same units
                for units in CKA_UNITS:
                    k_units = cfg.model.narrow if units == "narrow" else 0
                    generator = ctx.generator(f"units-{label}-{k}")
                    reps[units].append(representations(model, batches, cfg.model.depth, k_units, generator))
                accs.append(evaluate(model, data.x_test, data.y_test, loss_fn)[1])
                bar.update(1)
            # both choices of cka_units are measured, each named ("mean_diag_cka_wide_cka_units_narrow"), so the
            # narrow-units control is judged on these runs (it is derived); the config's fill the unnamed keys
            for units in CKA_UNITS:
                mats = [cka_between(a, b) for a, b in itertools.combinations(reps[units], 2)]
                measured = _similarities(mats)
                summary.update({f"{key}_{label}_cka_units_{units}": v for key, v in measured.items()})
                if units == cfg.cka_units:
                    summary.update({f"{key}_{label}": v for key, v in measured.items()})
                    mean = torch.stack(mats).mean(0)
                    for i in range(len(names)):  # row i of the mean CKA matrix as a series over the layer index j
                        series[f"cka_{label}_row{i}"] = Series(list(range(len(names))), mean[i].tolist())
            summary[f"test_acc_{label}"] = sum(accs) / len(accs)
    for suffix in ("", *(f"_cka_units_{units}" for units in CKA_UNITS)):
        for gain, key in (("width_gain", "mean_diag_cka"), ("hidden_width_gain", "hidden_diag_cka")):
            summary[f"{gain}{suffix}"] = summary[f"{key}_wide{suffix}"] - summary[f"{key}_narrow{suffix}"]
    return ctx.result(cfg, summary, series)


def _similarities(mats: list[torch.Tensor]) -> dict[str, float]:
    """The summary numbers of the CKA matrices of every pair of seeds at one width."""
    diag = torch.stack([m.diagonal() for m in mats])
    off = ~torch.eye(len(mats[0]), dtype=torch.bool)
    return {
        "diagonal_hits": sum(diagonal_hits(m) for m in mats) / len(mats),
        "mean_diag_cka": float(diag.mean()),
        "hidden_diag_cka": float(diag[:, :-1].mean()),
        "logit_cka": float(diag[:, -1].mean()),
        "mean_offdiag_cka": float(torch.stack([m[off] for m in mats]).mean()),
    }


def verdict(result: Result) -> Verdict:
    s, units = result.summary, f"_cka_units_{result.config.cka_units}"  # every run measures both (derived control)
    return Verdict(
        (
            Check(
                "wide nets: each layer most similar to the same layer of another seed (fraction)",
                s[f"diagonal_hits_wide{units}"],
                ">=",
                MIN_DIAGONAL_HITS,
                note=f"narrow nets: {s[f'diagonal_hits_narrow{units}']:.2f}",
            ),
            Check(
                "mean diagonal CKA, wide minus narrow",
                s[f"width_gain{units}"],
                ">=",
                MIN_WIDTH_GAIN,
                note=f"wide {s[f'mean_diag_cka_wide{units}']:.3f}, narrow {s[f'mean_diag_cka_narrow{units}']:.3f}",
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
        Control(
            "narrow-many units",
            {"cka_units": "narrow"},
            must_fail=("mean diagonal CKA, wide minus narrow",),
            why="CKA sees each hidden layer of the trained wide nets through as many random units as a narrow net "
            "has: without the average over many units the wide nets are no more similar than the narrow ones",
            derived=True,
        ),
    ),
    calibration=CALIBRATION,
)
