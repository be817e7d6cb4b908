"""Neural collapse: trained past zero training error, last-layer features collapse onto a simplex ETF.

Papyan, Han & Donoho (2020) trained classifiers far beyond the epoch where training error first reaches zero
(the start of the terminal phase of training, TPT) and saw four things happen on the training set: the
within-class variability of the penultimate features vanishes relative to the between-class spread (NC1,
``Tr(Σ_W Σ_B⁺)/C``); the centred class means become equinorm and equiangular, a simplex equiangular tight frame
(NC2); the classifier rows align with them (NC3, self-duality); and the network's decision becomes the
nearest-class-centre rule (NC4). Han, Papyan & Donoho (2022) found the same under MSE loss and split that loss
into NC terms plus ``L_⊥``, the part due to the classifier's distance from the least-squares classifier of the
current features, which stays negligible (the "central path"). Fang et al. (2021) showed that with imbalanced
classes the classifiers of the minority classes collapse onto each other ("minority collapse").

``quick``: MNIST-1D, 100 training examples per class (balanced), a 40-128-128-128-10 MLP with BatchNorm (Papyan
et al.'s networks have it), cross-entropy, full-batch gradient descent with momentum 0.9 and weight decay 5e-3,
lr 0.05 divided by 10 at 1/3 and 2/3 of 3000 epochs (Papyan's schedule). The metrics are
``phenomena.probes.collapse`` (Papyan's conventions) on the training features in eval mode, at ~80 probe epochs
(log- and evenly spaced) and at the first zero-error epoch.

How this setting was chosen, recorded because it was chosen after seeing verdicts: Papyan's recipe transposed
to MNIST-1D (minibatch SGD, batch 128, weight decay 5e-4, 350 epochs) failed the NC1 check: NC1 fell only 2-3x
on this data, and ~6.5x in ``full`` (width 512, all 3900 examples), against the 10x asked. Full batches, a 10x
larger weight decay (5e-3) and lr 0.05 (cross-entropy; 0.2 for MSE) were then picked from runs on seeds 0-2.
They are kept because weight decay is the lever of the collapse here (without it NC1 falls only ~2x: the
declared control), and a CPU run has ~45x fewer steps than Papyan's ~137k, so the decay must act faster per
step; full batches remove minibatch noise from the terminal phase. The thresholds were then re-checked on
calibration seeds 100-104 (``ENTRY.calibration``), the classifier-row NC2 thresholds re-set there (see the
constants), and the verdict is judged on held-out seeds 0-2 (``phenomena verify``).

Variants: ``-s train.loss=mse`` (Han et al.; ``train.lr=0`` picks lr 0.2 for MSE, see ``DEFAULT_LR``) and
``-s data.imbalance=100 -s train.weight_decay=0.02`` (Fang et al.: the last 5 classes keep 1/100 of their
examples; minority collapse needs the stronger weight decay — at 5e-3 the minority cosine ends at 0.24, and MSE
at 0.02 does not train). Their extra thresholds (``L_⊥``, minority cosine) were set on seeds 0-2 and have not
been re-checked on calibration seeds; ``phenomena verify`` judges the presets only.

``full`` (not ``paper``: it is not a published setting) is Papyan's optimizer recipe (SGD batch 128, lr 0.0679,
wd 5e-4, 350 epochs) on all of MNIST-1D's training set with a 3x512 MLP. Measured negative result (issue 12's
audit run): at its 10.5k steps NC1 falls ~6.5x, and the preset FAILS the 10x check. Papyan et al. report their
NC metrics only per image data set and network, so no published number exists for this setting and no
reference is declared.

Verdict (balanced): training error is 0 at the end and the TPT covers at least half of the run; NC1 falls ≥ 10x
from the TPT start to the end; equinorm CoV of the class means ≤ 0.1 and of the classifier rows ≤ 0.025;
``Avg|cos + 1/(C−1)|`` of the means ≤ 0.1 and of the classifiers ≤ 0.075; NC3 falls ≥ 3x; NC4 mismatch ≤ 2%;
under MSE also ``L_⊥ / L ≤ 1%``. Imbalanced: training error on the majority classes ≤ 1%; the mean pairwise
cosine of the minority classifiers ≥ 0.5 (an ETF has −1/(C−1)); that of the majority classifiers ≤ −1/(C−1)
(they spread at least as an ETF, into the room the minority leaves).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Literal

import numpy as np
import torch

from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data import digits, mnist1d
from phenomena.data.dataset import Dataset
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models import CollapseNet
from phenomena.probes.collapse import classifier_cosines, mse_decomposition, neural_collapse
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Verdict
from phenomena.training import Every, History, Progress, fit, loss_function, make_optimizer

# Thresholds, checked on quick at calibration seeds 100-104 (ENTRY.calibration; judged on 0-2): TPT starts at
# epoch 112-125 (TPT fraction 0.96); NC1 falls 76-185x; equinorm CoV 0.015-0.022 (means), 0.007-0.012
# (classifiers); Avg|cos + 1/9| 0.037-0.050 (means), 0.025-0.036 (classifiers); NC3 falls 7.4-7.9x; NC4 0.
# The controls on the same seeds: without weight decay NC1 falls 1.7-2.1x and NC3 1.3-1.4x, equinorm CoV 0.22-0.25
# (means) and 0.047-0.055 (classifiers), Avg|cos + 1/9| 0.23 (means) and 0.090-0.10 (classifiers); after 8 epochs
# (no terminal phase) 0.49-0.55, 0.038-0.11, 0.47-0.51, 0.11-0.14, NC4 0.80-0.84.
# The classifier-row thresholds were 0.1, which runs without collapse passed (8 epochs: CoV <= 0.1 on 4 of 5
# seeds; no weight decay: 5 of 5), so they separated nothing; they are now twice the largest calibration value,
# rounded up. MSE (lr 0.2, seeds 0-2, not re-checked): NC1 falls 148-172x, NC3 11-13x, equinorm <= 0.012,
# Avg|cos + 1/9| <= 0.006, L_perp 0.23-0.29% of the loss.
MIN_NC1_FALL = 10.0  # NC1 at the TPT start / at the end (Papyan et al.: orders of magnitude)
MIN_TPT_FRACTION = 0.5  # the terminal phase covers at least this fraction of the epochs ("train far past zero")
MAX_EQUINORM = 0.1  # std/mean of the centred class-mean norms at the end
MAX_EQUINORM_WEIGHTS = 0.025  # std/mean of the classifier-row norms at the end (2 x 0.0116, rounded up)
MAX_EQUIANGULAR = 0.1  # Avg |cos + 1/(C-1)| of the centred class means at the end
MAX_EQUIANGULAR_WEIGHTS = 0.075  # Avg |cos + 1/(C-1)| of the classifier rows at the end (2 x 0.036, rounded up)
MIN_NC3_FALL = 3.0  # NC3 at the TPT start / at the end
MAX_NC4 = 0.02  # classifier vs nearest-class-centre mismatch at the end
MAX_LPERP_FRACTION = 0.01  # MSE: L_perp / (MSE + weight decay of the classifier) at the end; 5.1-5.6% at lr 0.05
# Imbalanced (R = 100, wd 0.02, seeds 0-2): minority cosine 0.998-0.999, majority -0.187 to -0.190, majority
# training error 0 (the one example of each minority class is misclassified: they cannot be told apart). At R = 10
# the minority cosine ends at 0.03, at wd 5e-3 (R = 100) at 0.24; a simplex ETF has -1/9 for every pair.
MIN_MINORITY_COS = 0.5  # mean pairwise cosine of the minority classifiers at the end
MAX_MAJORITY_ERROR = 0.01  # the majority classes are fit: the net trained, it did not just shrink to nothing

# Default learning rates, by (loss, full batch). Full batch: measured on quick (seeds 0-2): cross-entropy at 0.05
# gives NC1 falls of 135-192x; MSE at 0.05 fits late (TPT at epoch 606-746) and its classifier lags the
# least-squares one (L_perp 5.1-5.6% of the loss, NC3 falls only 2.8-3.8x), while MSE at 0.2 gives NC1 falls of
# 148-172x with L_perp 0.23-0.29%. Minibatch: the values Papyan and Han tuned for SGD (demo code).
DEFAULT_LR = {("ce", True): 0.05, ("mse", True): 0.2, ("ce", False): 0.0679, ("mse", False): 0.0184}
NC_KEYS = (
    "nc1",
    "nc2_equinorm_means",
    "nc2_equinorm_weights",
    "nc2_equiangular_means",
    "nc2_equiangular_weights",
    "nc3",
    "nc4",
)


@config
class Data:
    source: Literal["mnist1d", "digits"] = field("mnist1d", help="MNIST-1D, or scikit-learn's 8x8 digits")
    per_class: int = field(100, at_least(2), help="training examples per (majority) class, the first of each class")
    imbalance: float = field(
        1.0, at_least(1), help="R: the minority classes keep per_class / R examples (1 = balanced)"
    )
    minority_classes: int = field(
        5, between(2, 8, "[]"), help="the last k of the 10 classes are the minority ones when imbalance > 1"
    )


@config
class Model:
    width: int = field(128, positive, help="hidden units per layer")
    depth: int = field(3, positive, help="hidden layers; the last one's output (after BatchNorm and ReLU) is h")
    batch_norm: bool = field(True, help="BatchNorm after every hidden linear layer (Papyan et al.'s nets have it)")


@config
class Train:
    loss: Literal["ce", "mse"] = field("ce", help="cross-entropy (Papyan et al.) or MSE (Han et al.)")
    epochs: int = field(3000, positive, help="passes over the training set")
    batch_size: int | None = field(None, positive, help="examples per SGD step; none = full batch (one step per epoch)")
    lr: float = field(
        0.0, at_least(0), help="SGD learning rate; 0 = the measured default for the loss and batch regime"
    )
    momentum: float = field(0.9, between(0, 1, "[)"), help="SGD momentum")
    weight_decay: float = field(5e-3, at_least(0), help="SGD (coupled) weight decay")
    lr_decay_at: tuple[float, ...] = field(
        (1 / 3, 2 / 3), between(0, 1), help="fractions of the run where the lr is multiplied by lr_decay"
    )
    lr_decay: float = field(0.1, between(0, 1, "(]"), help="factor of each lr decay")


@config
class Probe:
    points: int = field(
        80, at_least(4), help="probe epochs: half log-spaced, half even (plus the first zero-error one)"
    )


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    probe: Probe = Probe()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    # digits fits in ~30 epochs and collapses faster at lr 0.1 (NC1 falls 67-93x, seeds 0-3; 6-8x at 0.05)
    "smoke": Config(
        data=Data(source="digits", per_class=30),
        model=Model(width=64),
        train=Train(epochs=1000, lr=0.1),
        probe=Probe(points=30),
    ),
    "quick": Config(),
    # Not the published setting, so "full", not "paper": Papyan, Han & Donoho 2020's optimizer recipe (and their
    # demo code: SGD momentum 0.9, weight decay 5e-4, batch 128, 350 epochs, lr divided by 10 at 1/3 and 2/3,
    # balanced classes; train.lr=0 picks the demo's tuned lr 0.0679 for cross-entropy, 0.0184 for MSE) on all of
    # MNIST-1D's training set (390 per class) with a 3x512 BatchNorm MLP, where they trained ResNets, VGGs and
    # DenseNets on image data sets (the demo: ResNet18 on MNIST). MNIST-1D's 3900 examples give 30 steps per
    # epoch, 10.5k steps in all against ~137k for CIFAR-10's 50k images: measured (audit run), NC1 falls only ~6.5x
    # in the TPT and this preset FAILS the 10x check (a negative result of the recipe at this step budget).
    "full": Config(
        data=Data(per_class=390), model=Model(width=512), train=Train(epochs=350, batch_size=128, weight_decay=5e-4)
    ),
}
COSTS = {"smoke": "~5 s", "quick": "~40 s at one thread", "full": "~2.5 min at one thread"}


def class_counts(per_class: int, imbalance: float, minority: int, num_classes: int = 10) -> list[int]:
    """Training examples per class: ``per_class`` for the majority, ``max(1, round(per_class / R))`` for the
    last ``minority`` classes when ``imbalance`` R > 1."""
    if imbalance == 1:
        return [per_class] * num_classes
    small = max(1, round(per_class / imbalance))
    return [per_class] * (num_classes - minority) + [small] * minority


def load_data(cfg: Config, ctx: RunContext) -> Dataset:
    """The training set cut to ``class_counts`` (the first examples of each class; sets are stored shuffled)."""
    d = cfg.data
    full = mnist1d(cache_dir=ctx.cache) if d.source == "mnist1d" else digits(seed=ctx.stream_seed("data"))
    counts = class_counts(d.per_class, d.imbalance, d.minority_classes, full.num_classes)
    keep = []
    for c, n in enumerate(counts):
        idx = torch.nonzero(full.y_train == c).flatten()
        require(
            len(idx) >= n,
            f"data.per_class={d.per_class} asks for {n} examples of class {c}, but "
            f"{d.source} has {len(idx)}; choose a smaller data.per_class",
        )
        keep.append(idx[:n])
    keep = torch.cat(keep)
    return dataclasses.replace(full, x_train=full.x_train[keep], y_train=full.y_train[keep])


def probe_epochs(epochs: int, points: int) -> list[int]:
    """About ``points`` probe epochs: half log-spaced over [1, epochs] (Papyan's analysis epochs are), half
    evenly spaced, plus epochs 0 and the last one."""
    half = max(2, points // 2)
    logs = np.round(np.logspace(0, np.log10(max(epochs, 1)), half))
    lins = np.round(np.linspace(0, epochs, half + 1))
    return sorted({0, epochs, *(int(e) for e in logs), *(int(e) for e in lins)})


def central_path_ridge(num_classes: int, weight_decay: float) -> float:
    """The λ of :func:`mse_decomposition` whose least-squares classifier is the one our training minimizes.

    The trainer minimizes ``mean_{i,c} (W h_i + b − e_{y_i})_c² + (wd/2)(‖W‖² + ‖b‖²)`` over the classifier (MSE
    averaged over the C outputs too, SGD's coupled weight decay), which is ``(2/C)·f_λ`` with ``λ = C·wd/2``.
    (Han et al.'s demo code takes λ = wd/2 for the same training loss, off by the factor C.)
    """
    return num_classes * weight_decay / 2


def learning_rate(train: Train) -> float:
    """``train.lr``, or where it is 0 the default for its loss and batch regime (:data:`DEFAULT_LR`)."""
    return train.lr or DEFAULT_LR[(train.loss, train.batch_size is None)]


def run(cfg: Config, ctx: RunContext) -> Result:
    data = load_data(cfg, ctx)
    num_classes = data.num_classes
    model = CollapseNet(
        data.x_train.shape[1],
        num_classes,
        cfg.model.width,
        cfg.model.depth,
        cfg.model.batch_norm,
        ctx.stream_seed("init"),
    )
    t = cfg.train
    loss_fn = loss_function(t.loss)
    lr = learning_rate(t)
    optimizer = make_optimizer("sgd", model.parameters(), lr, t.weight_decay, momentum=t.momentum)
    n = data.n_train
    batch = n if t.batch_size is None else min(t.batch_size, n)
    per_epoch = n // batch  # fit draws full minibatches from a fresh permutation once fewer than a batch remain
    steps = t.epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, sorted({max(1, round(f * steps)) for f in t.lr_decay_at}), gamma=t.lr_decay
    )
    schedule = set(probe_epochs(t.epochs, cfg.probe.points))
    minority = cfg.data.minority_classes if cfg.data.imbalance > 1 else 0
    is_minority = (data.y_train >= num_classes - minority, data.y_test >= num_classes - minority)
    ridge = central_path_ridge(num_classes, t.weight_decay)
    history = History()
    tpt: list[int] = []  # the first zero-error epoch, once reached

    def probe(state) -> None:
        epoch = state.step // per_epoch
        if tpt and epoch not in schedule:  # the first zero-error epoch is known: only the scheduled probes remain
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            h = model.body(data.x_train)
            out = model.head(h)
            wrong = out.argmax(1) != data.y_train
            error = float(wrong.float().mean())
            first_zero = error == 0 and not tpt
            if first_zero:
                tpt.append(epoch)
            if epoch in schedule or first_zero:
                with warnings.catch_warnings():
                    # Under minority collapse the minority class means can coincide, which leaves the CDNV
                    # (not used here) undefined at every probe; a NaN NC metric still shows in the summary.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    m = neural_collapse(h, data.y_train, model.head.weight, model.head.bias, num_classes=num_classes)
                right = model(data.x_test).argmax(1) == data.y_test
                row = {
                    "train_error": error,
                    "train_loss": float(loss_fn(out, data.y_train)),
                    "test_acc": float(right.float().mean()),
                    **{k: m[k] for k in NC_KEYS},
                }
                if t.loss == "mse":
                    row.update(mse_decomposition(h, data.y_train, model.head.weight, model.head.bias, ridge))
                if minority:
                    row["cos_majority"], row["cos_minority"] = classifier_cosines(model.head.weight, minority)
                    for group, train_mask, test_mask in (
                        ("majority", ~is_minority[0], ~is_minority[1]),
                        ("minority", *is_minority),
                    ):
                        row[f"train_error_{group}"] = float(wrong[train_mask].float().mean())
                        row[f"test_acc_{group}"] = float(right[test_mask].float().mean())
                history.log(epoch, row)
        model.train(was_training)

    with ctx.progress(steps, desc="neural collapse") as bar:
        callbacks = [Every(per_epoch, probe), Progress(bar, show=("train_error", "nc1"), every=per_epoch)]
        fit(
            model,
            data,
            loss_fn,
            optimizer,
            steps,
            batch_size=batch,
            generator=ctx.generator("batches"),
            callbacks=callbacks,
            scheduler=scheduler,
            history=history,
        )
    series = history.series()
    summary = summarize(history, tpt[0] if tpt else None, t.epochs)
    summary.update(n_train=float(n), steps=float(steps), lr=lr, etf_cosine=-1.0 / (num_classes - 1))
    return ctx.result(cfg, summary, series)


def summarize(history: History, tpt: int | None, epochs: int) -> dict[str, float]:
    """The summary: each probed metric at the TPT start and at the end, the falls, the TPT's length."""
    s: dict[str, float] = {
        "tpt_epoch": math.nan if tpt is None else float(tpt),
        "tpt_fraction": math.nan if tpt is None else (epochs - tpt) / epochs,
    }
    for name, (steps, values) in history.curves.items():
        s[f"{name}_final"] = values[-1]
        s[f"{name}_at_tpt"] = values[steps.index(tpt)] if tpt is not None else math.nan
    s["nc1_fall"] = _ratio(s["nc1_at_tpt"], s["nc1_final"])
    s["nc3_fall"] = _ratio(s["nc3_at_tpt"], s["nc3_final"])
    if "l_perp_final" in s:
        s["l_perp_fraction_final"] = _ratio(s["l_perp_final"], s["total_final"])
    if "cos_minority_final" in s:
        s["angle_minority_deg"] = math.degrees(math.acos(min(1.0, s["cos_minority_final"])))
        s["angle_majority_deg"] = math.degrees(math.acos(max(-1.0, s["cos_majority_final"])))
    return s


def verdict(result: Result) -> Verdict:
    s, cfg = result.summary, result.config
    if cfg.data.imbalance > 1:
        return _imbalanced_verdict(s, cfg)
    tpt = "never" if math.isnan(s["tpt_epoch"]) else f"epoch {int(s['tpt_epoch'])}"
    checks = [
        Check(
            f"training error at the end (the TPT starts at the first zero: {tpt})", s["train_error_final"], "<=", 0.0
        ),
        Check("terminal phase covers this fraction of the epochs", s["tpt_fraction"], ">=", MIN_TPT_FRACTION),
        Check(
            "NC1 fall, Tr(Σ_W Σ_B⁺)/C at TPT start / at the end",
            s["nc1_fall"],
            ">=",
            MIN_NC1_FALL,
            note=f"{s['nc1_at_tpt']:.3g} → {s['nc1_final']:.3g}",
        ),
        Check("NC2 equinorm: CoV of class-mean norms", s["nc2_equinorm_means_final"], "<=", MAX_EQUINORM),
        Check("NC2 equinorm: CoV of classifier norms", s["nc2_equinorm_weights_final"], "<=", MAX_EQUINORM_WEIGHTS),
        Check(
            "NC2 equiangularity: Avg|cos + 1/(C−1)| of class means",
            s["nc2_equiangular_means_final"],
            "<=",
            MAX_EQUIANGULAR,
        ),
        Check(
            "NC2 equiangularity: Avg|cos + 1/(C−1)| of classifiers",
            s["nc2_equiangular_weights_final"],
            "<=",
            MAX_EQUIANGULAR_WEIGHTS,
        ),
        Check(
            "NC3 fall, self-duality distance at TPT start / at the end",
            s["nc3_fall"],
            ">=",
            MIN_NC3_FALL,
            note=f"{s['nc3_at_tpt']:.3g} → {s['nc3_final']:.3g}",
        ),
        Check("NC4: classifier vs nearest-class-centre mismatch", s["nc4_final"], "<=", MAX_NC4),
    ]
    if cfg.train.loss == "mse":
        checks.append(
            Check(
                "MSE central path: L_⊥ / (MSE + wd) at the end",
                s["l_perp_fraction_final"],
                "<=",
                MAX_LPERP_FRACTION,
                note="Han et al. 2022: the classifier stays least-squares optimal",
            )
        )
    return Verdict(tuple(checks))


def _imbalanced_verdict(s: dict[str, float], cfg: Config) -> Verdict:
    """Minority collapse (Fang et al. 2021), judged on the classifier rows at the end."""
    k = cfg.data.minority_classes
    etf, etf_deg = s["etf_cosine"], math.degrees(math.acos(s["etf_cosine"]))
    return Verdict(
        (
            Check(
                f"training error on the {10 - k} majority classes at the end",
                s["train_error_majority_final"],
                "<=",
                MAX_MAJORITY_ERROR,
                note=f"minority classes: {s['train_error_minority_final']:.3g}",
            ),
            Check(
                f"minority collapse: mean pairwise cosine of the {k} minority classifiers",
                s["cos_minority_final"],
                ">=",
                MIN_MINORITY_COS,
                note=f"angle {s['angle_minority_deg']:.0f}° vs the ETF's {etf_deg:.0f}°",
            ),
            Check(
                f"majority classifiers spread at least as an ETF: mean pairwise cosine of the {10 - k}",
                s["cos_majority_final"],
                "<=",
                etf,
                note=f"angle {s['angle_majority_deg']:.0f}°",
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    d, m, t = cfg.data, cfg.model, cfg.train
    fig, axes = subplots(2, 4, width=3.3, height=2.8)
    panels = iter(axes.flat)
    tpt = s["tpt_epoch"]
    colors = (PALETTE["train"], PALETTE["accent"], PALETTE["test"])

    def draw(names_labels, title, ylabel, yscale="log"):
        ax = next(panels)
        for (name, label), color in zip(names_labels, colors, strict=False):
            if name in result.series:
                steps, values = result.curve(name)
                ax.plot(steps, values, color=color, label=label, marker=".", markersize=3, linewidth=1)
        if yscale == "symlog":  # the value 0 occurs: linear below one example's worth
            ax.set_yscale("symlog", linthresh=1 / s["n_train"])
        elif yscale == "log":
            ax.set_yscale("log")
        if not math.isnan(tpt):
            ax.axvspan(tpt, t.epochs, color=PALETTE["control"], alpha=0.15, linewidth=0)
        for fraction in t.lr_decay_at:  # the lr decays
            ax.axvline(fraction * t.epochs, color=PALETTE["control"], linestyle=":", linewidth=0.8)
        ax.set(xlabel="epoch", ylabel=ylabel, title=title)
        if len(names_labels) > 1:
            ax.legend(loc="best")
        return ax

    draw(
        [("train_error", "train error"), ("train_loss", "train loss")],
        "training (TPT shaded, lr decays dotted)",
        "",
        yscale="symlog",
    )
    draw([("nc1", "Tr(Σ_W Σ_B⁺)/C")], "NC1: variability collapse", "NC1")
    draw(
        [("nc2_equinorm_means", "class means"), ("nc2_equinorm_weights", "classifiers")],
        "NC2: equinorm",
        "std/mean of norms",
    )
    draw(
        [("nc2_equiangular_means", "class means"), ("nc2_equiangular_weights", "classifiers")],
        "NC2: equiangularity",
        "Avg|cos + 1/(C−1)|",
    )
    draw([("nc3", "‖W/‖W‖ − M̃/‖M̃‖‖²")], "NC3: self-duality", "NC3")
    draw([("nc4", "mismatch")], "NC4: nearest class centre", "fraction of examples", yscale="symlog")
    if d.imbalance > 1:
        ax = draw(
            [("cos_minority", "minority"), ("cos_majority", "majority")],
            "classifier cosines (Fang et al.)",
            "mean pairwise cos",
            yscale="linear",
        )
        ax.axhline(s["etf_cosine"], color=PALETTE["theory"], linestyle="--", linewidth=0.8, label="simplex ETF")
        ax.legend(loc="best")
        draw(
            [("test_acc_majority", "majority"), ("test_acc_minority", "minority")],
            "test accuracy",
            "accuracy",
            yscale="linear",
        )
        headline = f"minority cosine {s['cos_minority_final']:.3f} (ETF {s['etf_cosine']:.3f})"
    else:
        if t.loss == "mse":
            draw(
                [("l_nc1", "L_NC1"), ("l_nc23", "L_NC2/3"), ("l_perp", "L_⊥")],
                "MSE decomposition (Han et al.)",
                "loss term",
            )
        draw([("test_acc", "test accuracy")], "test accuracy (not checked)", "accuracy", yscale="linear")
        headline = f"NC1 falls {s['nc1_fall']:.3g}x in the TPT"
    for ax in panels:
        ax.axis("off")
    imb = f", minority classes 1/{d.imbalance:g}" if d.imbalance > 1 else ""
    net = f"MLP {m.depth}x{m.width}{' BN' if m.batch_norm else ''}"
    fig.suptitle(
        f"neural collapse: {d.source} {d.per_class}/class{imb}, {net}, {t.loss}, lr {s['lr']:g}, "
        f"wd {t.weight_decay:g} — {headline}"
    )
    fig.tight_layout()
    return fig


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a / b if b > 0 else (math.inf if a > 0 else math.nan)


ENTRY = Entry(
    name="neural-collapse",
    summary="trained past zero training error, last-layer features collapse onto a simplex ETF",
    papers=(
        "Papyan, Han, Donoho 2020 — Prevalence of neural collapse during the terminal phase of deep learning training",
        "Han, Papyan, Donoho 2022 — Neural collapse under MSE loss: proximity to and dynamics on the central path",
        "Fang, He, Long, Su 2021 — Exploring deep neural networks via layer-peeled model: minority collapse in "
        "imbalanced training",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    controls=(
        Control(
            "no weight decay",
            {"train.weight_decay": 0},
            must_fail=("NC1 fall", "NC3 fall"),
            why="without weight decay the net still fits and trains far into the terminal phase, but the features "
            "barely collapse (NC1 falls 1.7-2.1x on quick, 1.5-1.9x on smoke)",
        ),
        Control(
            "no terminal phase",
            {"train.epochs": 8},
            must_fail=("training error at the end", "terminal phase covers", "NC1 fall", "NC3 fall", "NC2", "NC4"),
            why="8 epochs never reach zero training error: there is no terminal phase in which to collapse, and the "
            "class means and classifiers are no simplex ETF",
        ),
    ),
    calibration=Calibration(
        seeds=(100, 101, 102, 103, 104),
        note="quick (cross-entropy) at one thread, and both controls on the same seeds (each fails all the checks it "
        "names on 5/5). The setting (full batch, wd 5e-3, lr 0.05) was chosen earlier on seeds 0-2 after Papyan's "
        "minibatch recipe failed (see the docstring); the classifier-row NC2 thresholds were re-set here to twice "
        "the largest value seen. No weight decay: nc1_fall 2.0769, 2.1106, 2.1088, 1.9909, 1.747; nc3_fall 1.3678, "
        "1.4382, 1.3891, 1.3741, 1.2947. 8 epochs: training error 0.81-0.86, no TPT (NC falls unmeasured), "
        "classifier CoV 0.0811, 0.081, 0.1099, 0.0377, 0.0614.",
        observed={
            "tpt_epoch": (121.0, 125.0, 112.0, 125.0, 124.0),
            "tpt_fraction": (0.9597, 0.9583, 0.9627, 0.9583, 0.9587),
            "nc1_fall": (185.3405, 76.1556, 118.5158, 116.5033, 144.2859),
            "nc2_equinorm_means_final": (0.0186, 0.0201, 0.0148, 0.0176, 0.0224),
            "nc2_equinorm_weights_final": (0.0114, 0.0105, 0.0074, 0.0093, 0.0116),
            "nc2_equiangular_means_final": (0.0382, 0.05, 0.0368, 0.045, 0.0439),
            "nc2_equiangular_weights_final": (0.026, 0.0363, 0.0257, 0.0272, 0.0251),
            "nc3_fall": (7.7554, 7.7082, 7.8729, 7.3559, 7.8784),
            "nc4_final": (0.0, 0.0, 0.0, 0.0, 0.0),
            "train_error_final": (0.0, 0.0, 0.0, 0.0, 0.0),
        },
    ),
)
