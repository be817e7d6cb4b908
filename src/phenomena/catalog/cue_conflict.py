"""Cue conflict: a network trained on images whose shape and texture agree decides by the cue that is easier to
decode when the two conflict; randomizing the texture during training moves it toward shape.

Geirhos et al. (2019) showed ImageNet-trained CNNs photographs whose shape says one class and whose texture (via
style transfer) says another: they mostly answer with the texture (shape bias = shape decisions / (shape + texture
decisions) ≈ 0.2 for ResNet-50, against ≈ 0.95 for people), and training on Stylized-ImageNet, where texture is
randomized, raises it. Hermann, Chen & Kornblith (2020) traced the bias to the data rather than the architecture:
when two features both predict the label, networks prefer the one that is more easily extracted (more decodable,
learned sooner), and augmentations that make texture less reliable reduce texture bias.

What this proxy is. A CPU transposition with synthetic 16×16 grayscale images (:mod:`phenomena.data.cue_conflict`):
four classes, each with a shape (a 7×7 glyph: ring, plus, cross, square outline, jittered by up to 3 pixels) and a
texture (a ±1 4×4 tile repeated over the image from a random offset), plus Gaussian pixel noise (σ = 0.35). The
difficulty of a cue is its contrast against the noise: the shape's contrast is fixed at 1 and the texture's is the
knob. In training the two cues always agree; the test set holds every (shape, texture) pair (50 images each), and
shape bias is Geirhos's measure on the conflict pairs, counting only the trials the network answers with one of the
two cues. In each of four arms an ensemble of 4 small CNNs (:class:`phenomena.models.small_cnn.SmallCNN`, 8-16-16
channels of 3×3 convolutions, global average pooling), each with its own initialization, batch order and draw of the
2000 training and the test images, is trained with Adam (lr 3·10⁻³, batch 64) for 200 steps, all members at once
(:func:`phenomena.training.train_ensemble`, its vmap path): texture easier (texture contrast 1.0), equal difficulty
(0.26), shape easier (0.15), and texture easier with a Stylized-ImageNet-like augmentation (75% of the training
images get a texture drawn at random, independent of the label). An arm's shape bias is Geirhos's ratio over the
members' pooled decisions on their conflict images (the per-network values and their spread are reported too). Each
run also measures each cue's decodability alone: an ensemble of the same CNNs trained for 50 steps on images that
carry only that cue, scored on held-out such images (mean and range over the members). ``smoke`` is the same with 2
networks, 1000 images and 60 (20) steps; ``full`` has 8 networks, twice the data and 400 (100) steps.

What it does not reproduce: natural images, style transfer, human observers or their ≈ 0.95; the size of the
ImageNet bias; any claim that CNNs are texture-biased *by architecture* — here, as in Hermann et al., the preferred
cue is set by the data's relative decodability, and the shape-easier arm shows the proxy is not hard-wired to
texture. The augmentation is texture randomization (Geirhos's Stylized-ImageNet idea), not crops or color jitter.
A network trained longer would eventually use both cues; the preference measured is the one after a short budget.

Calibrating "equal difficulty". The equal arm's texture contrast was not tuned until its shape bias was 0.5: it came
from the decodability measurement alone. On seeds 100-109 the 100-step single-cue accuracies were, for shape
(contrast 1): 0.54-0.95, mean 0.764; for texture at 0.2: mean 0.556, at 0.25: 0.743, at 0.3: 0.853. Linear
interpolation of the means puts equal decodability at 0.26. The calibration runs then measured both at 0.26 in
every run (shape 0.615-0.91, texture 0.68-0.84 on seeds 100-104) and found shape bias 0.28-0.64 there (these are
the first, single-network design's numbers; the ensemble's are below).

Verdict. (1) Texture preference when texture is easier: shape bias ≤ :data:`MAX_BIAS_TEXTURE_EASY`. (2) Shape
preference when shape is easier: shape bias ≥ :data:`MIN_BIAS_SHAPE_EASY` (not hard-wired). (3) No strong preference
at equal difficulty: |shape bias − 0.5| ≤ :data:`MAX_EQUAL_DEVIATION`. (4) Texture randomization reduces the
texture preference: shape bias with the augmentation minus without ≥ :data:`MIN_AUG_GAIN`. (5) The networks learn
the task: cue-aligned test accuracy of the texture-easier and shape-easier arms ≥ :data:`MIN_ALIGNED_ACC`.

Controls. The mechanism of (1) and (2) is the difference in difficulty: with both texture contrasts set to the
equal value (0.26) the two arms are the equal arm, and neither preference appears (calibration: 0.43-0.61 in both).
The mechanism of (4) is that the augmentation makes texture unreliable for the label: randomizing the *shape* of
the same fraction of images instead (the same amount of augmentation, applied to the other cue) leaves texture the
reliable cue, and the shape bias stays 0. Each control trains only the arms its checks read (``train.arms``:
texture- and shape-easier, or texture-easier and augmented) and no probe (``train.probes=false``): every arm and
probe draws its images, initialization and batch order from its own seeded streams, so the arms it trains, and the
checked values, are bit for bit those of the control run with every arm.

Calibration (seeds 100-104, quick, one thread; values in ``ENTRY.calibration``): pooled shape bias 0.0 when texture
is easier, 0.89-0.94 when shape is easier, 0.53-0.61 at equal difficulty (single networks there: 0.26-0.83),
+0.45-0.57 with texture randomization; decodability after 50 probe steps, mean over the 4 networks: shape 0.41-0.56,
texture at 0.26 0.37-0.58 (still equal: means 0.49 and 0.50).

Why an ensemble (design change; what failed before). The first design trained ONE network per arm (300 steps, 100
probe steps, batch drawn with replacement). Its equal-difficulty arm was equal only on average: a single network's
single-cue decodability varies a lot from seed to seed (shape 0.54-0.95 on seeds 100-109 against texture 0.68-0.84 at
contrast 0.26), and the equal arm's shape bias followed it: 0.28-0.64 on seeds 100-104 (where its thresholds were
set) and 0.89, 0.68, 0.41, 0.44, 0.30 on seeds 105-109 (extra evidence). Held-out verify on seeds 0-2: every preset
check 3/3 and the shape-randomized control failed 3/3, but the equal-difficulty control failed only 2/3 (seed 1:
equal-arm bias 0.783 ≥ 0.75 although shape and texture decodability were 0.865 and 0.86), below the 80% a control
needs. The claim is about what the architecture and training procedure prefer, not about one draw of initialization
and data, so each arm is now an ensemble of independently initialized networks (each with its own data draw and
batch order) and the bias is measured over their pooled decisions; to pay for the 4 networks the steps went from 300
to 200 and the probe steps from 100 to 50 (the cues are still learned: aligned accuracy 0.80-0.90), and every
threshold was re-set on fresh calibration runs of the new design. Training the 4 members vectorized (vmap) was only
~10% faster than a loop of them at one thread under load (conv and max-pool kernels dominate, not per-op overhead).

Tried first (seed 100, one run each, not calibration seeds' thresholds): noise 0.5 with a 16-32-32 CNN (seeds
100-102): texture preference 0.0 and shape preference 0.90-0.93 at texture contrast 0.15, but the shape was barely
learned (aligned accuracy of the shape-easier arm 0.81-0.88, at contrast 0.22 0.61-0.90) and a run cost ~25 s
at one thread; the 8-16-16 CNN at noise 0.5 learned the shape worse (0.63), and so did lr 6·10⁻³ (0.55). Noise 0.35
with the 8-16-16 CNN learns it (0.76-0.94), so that is the preset; the equal contrast was then re-measured for it.
"""

from __future__ import annotations

from math import nan

import numpy as np
import torch

from phenomena.config import at_least, between, config, field, one_of, positive, require
from phenomena.data.cue_conflict import SHAPE_NAMES, cue_conflict, render_cue_images, shape_bias
from phenomena.data.dataset import Dataset
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models.small_cnn import SmallCNN
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Verdict
from phenomena.training import train_ensemble

ARMS = ("texture_easy", "equal", "shape_easy", "augmented")
# the keys that set the arms apart, and those each arm does not read (RunContext.shared)
ARM_KEYS = ("data.texture_easy", "data.texture_equal", "data.texture_hard", "augment")
NOT_READ_BY_ARM = {
    "texture_easy": ("data.texture_equal", "data.texture_hard", "augment"),
    "equal": ("data.texture_easy", "data.texture_hard", "augment"),
    "shape_easy": ("data.texture_easy", "data.texture_equal", "augment"),
    "augmented": ("data.texture_equal", "data.texture_hard"),
}
# the switches that skip pieces: no piece reads them, so a control that skips some still shares the rest
SKIP_KEYS = ("train.arms", "train.probes")
ARM_LABELS = {
    "texture_easy": "texture easier",
    "equal": "equal difficulty",
    "shape_easy": "shape easier",
    "augmented": "texture easier\n+ texture randomized",
}
CUES = ("texture", "shape")
# Set on calibration seeds 100-104 (quick, 4-network ensembles; a run costs ~40-75 s under load; see ENTRY.calibration):
# between the preset's worst value and its control's best, rounded toward the control from their midpoint.
MAX_BIAS_TEXTURE_EASY = 0.25  # preset 0.0 on all 5; equal-difficulty control 0.45-0.59 (midpoint 0.23)
MIN_BIAS_SHAPE_EASY = 0.74  # preset 0.89-0.94; equal-difficulty control 0.43-0.61 (midpoint 0.749)
MAX_EQUAL_DEVIATION = 0.25  # |bias − 0.5| at equal difficulty: preset 0.03-0.11; the preference arms' 0.39-0.5
MIN_AUG_GAIN = 0.25  # preset 0.45-0.57, shape-randomized control 0.0 on all 5 (kept from the first design)
MIN_ALIGNED_ACC = 0.6  # not a mechanism: preset 0.76-0.94 (chance 0.25); the networks learned the task


@config
class Data:
    classes: int = field(4, between(2, 5, "[]"), help="classes (each has its own shape and texture)")
    n_train: int = field(2000, positive, help="training images (shape and texture agree)")
    n_test_per_pair: int = field(50, positive, help="test images per (shape, texture) pair")
    size: int = field(16, at_least(13), help="image side, pixels")
    noise: float = field(0.35, at_least(0), help="pixel noise standard deviation")
    jitter: int = field(3, at_least(0), help="largest shift of the shape glyph from the centre, pixels")
    shape_contrast: float = field(1.0, positive, help="shape amplitude, the same in every arm")
    texture_easy: float = field(1.0, positive, help="texture amplitude of the texture-easier (and augmented) arm")
    texture_equal: float = field(0.26, positive, help="texture amplitude of equal decodability (from calibration)")
    texture_hard: float = field(0.15, positive, help="texture amplitude of the shape-easier arm")

    def __post_init__(self):
        require(self.size >= 7 + 2 * self.jitter, "data.size must be at least 7 + 2·data.jitter")


@config
class Augment:
    cue: str = field("texture", one_of("texture", "shape"), help="the cue the augmentation randomizes")
    fraction: float = field(0.75, between(0, 1, "[]"), help="fraction of training images whose cue is randomized")


@config
class Model:
    channels: tuple[int, int, int] = field((8, 16, 16), positive, help="channels of the three convolutions")


@config
class Train:
    members: int = field(4, positive, help="independently initialized networks per arm (their decisions are pooled)")
    steps: int = field(200, positive, help="Adam steps per arm")
    probe_steps: int = field(50, positive, help="Adam steps of each single-cue decodability probe")
    lr: float = field(3e-3, positive, help="Adam learning rate")
    batch_size: int = field(64, positive, help="images per step")
    arms: tuple[str, ...] = field(
        ARMS,
        one_of(*ARMS),
        help="the arms trained; the others are skipped and their values unmeasured (each arm draws from its own "
        "streams, so skipping one leaves the rest bit for bit as they were)",
    )
    probes: bool = field(True, help="measure each cue's decodability alone (off: skipped, the values unmeasured)")

    def __post_init__(self):
        require(len(set(self.arms)) == len(self.arms), "train.arms names an arm twice")


@config
class Config:
    data: Data = Data()
    augment: Augment = Augment()
    model: Model = Model()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (images, initialization, batch order)")


PRESETS = {
    "smoke": Config(data=Data(n_train=1000, n_test_per_pair=20), train=Train(members=2, steps=60, probe_steps=20)),
    "quick": Config(),
    # not a published setting (Geirhos et al. used ImageNet and style transfer): twice the data and steps
    "full": Config(data=Data(n_train=4000, n_test_per_pair=100), train=Train(members=8, steps=400, probe_steps=100)),
}
COSTS = {"smoke": "~8 s", "quick": "~40 s", "full": "~4 min"}


def _ensemble_predictions(cfg: Config, datas: list[Dataset], steps: int, ctx: RunContext, stream: str):
    """Train one SmallCNN per member data set at once (:func:`~phenomena.training.train_ensemble`, Adam, the
    vmap path) and return each member's predicted classes on its test set, (M, N_test)."""
    m = len(datas)
    res = train_ensemble(
        lambda s: SmallCNN(datas[0].num_classes, channels=cfg.model.channels, seed=s),
        [ctx.stream_seed(f"init-{stream}-{k}") for k in range(m)],
        datas,
        optimizer="adam",
        lr=cfg.train.lr,
        steps=steps,
        batch_size=cfg.train.batch_size,
        log_every=steps,
        order_seeds=[ctx.stream_seed(f"order-{stream}-{k}") for k in range(m)],
        evaluate=(),  # the decisions on the probe images below are all that is read
    )
    with torch.no_grad():
        return torch.stack([net(d.x_test).argmax(-1) for net, d in zip(res.models, datas, strict=True)])


def _decodability(cfg: Config, cue: str, texture_contrast: float, ctx: RunContext) -> np.ndarray:
    """Each member's held-out accuracy after ``probe_steps`` on images carrying only ``cue`` (its own images)."""
    d = cfg.data
    n_test = d.n_test_per_pair * d.classes
    datas = []
    for k in range(cfg.train.members):
        g = ctx.generator(f"alone-{cue}-{texture_contrast:g}-{k}")
        y = torch.randint(0, d.classes, (d.n_train + n_test,), generator=g)
        none = torch.full_like(y, -1)
        shapes, textures = (y, none) if cue == "shape" else (none, y)
        x = render_cue_images(
            shapes,
            textures,
            size=d.size,
            shape_contrast=d.shape_contrast,
            texture_contrast=texture_contrast,
            noise=d.noise,
            jitter=d.jitter,
            generator=g,
        )
        datas.append(
            Dataset(x[: d.n_train], y[: d.n_train], x[d.n_train :], y[d.n_train :], {"num_classes": d.classes})
        )
    pred = _ensemble_predictions(cfg, datas, cfg.train.probe_steps, ctx, f"probe-{cue}-{texture_contrast:g}")
    return (pred == torch.stack([x.y_test for x in datas])).float().mean(1).numpy()


def _arm_data(cfg: Config, arm: str, seed: int) -> Dataset:
    d = cfg.data
    contrast = {"texture_easy": d.texture_easy, "augmented": d.texture_easy, "equal": d.texture_equal}
    return cue_conflict(
        d.classes,
        d.n_train,
        d.n_test_per_pair,
        size=d.size,
        shape_contrast=d.shape_contrast,
        texture_contrast=contrast.get(arm, d.texture_hard),
        noise=d.noise,
        jitter=d.jitter,
        randomize_cue=cfg.augment.cue if arm == "augmented" else "none",
        randomize_fraction=cfg.augment.fraction if arm == "augmented" else 0.0,
        seed=seed,
    )


def _arm_keys(arm: str, members: int) -> list[str]:
    """The summary keys of one arm, in the order ``run`` fills them (a skipped arm's are all nan)."""
    each = [f"member{k}" for k in range(members)] + ["member_min", "member_max", "member_sd"]
    return [f"aligned_acc_{arm}", f"shape_bias_{arm}", f"cue_decisions_{arm}", *(f"shape_bias_{arm}_{k}" for k in each)]


def run(cfg: Config, ctx: RunContext) -> Result:
    s: dict[str, float] = {}
    d, members = cfg.data, cfg.train.members
    contrasts = {"texture_easy": d.texture_easy, "equal": d.texture_equal, "shape_easy": d.texture_hard}
    arms = [arm for arm in ARMS if arm in cfg.train.arms]
    with ctx.progress(len(arms) + (1 + len(contrasts)) * cfg.train.probes, desc="arms and probes (ensembles)") as bar:
        for arm in ARMS:
            if arm not in arms:  # skipped (a control that reads other arms only): its values are unmeasured
                s.update(dict.fromkeys(_arm_keys(arm, members), nan))
                continue

            def train_arm(arm=arm):
                # every member gets its own draw of the training and test images, initialization and batch order
                datas = [_arm_data(cfg, arm, ctx.stream_seed(f"data-{k}")) for k in range(members)]
                pred = _ensemble_predictions(cfg, datas, cfg.train.steps, ctx, arm)
                texture = torch.stack([x.meta["texture_test"] for x in datas])
                return pred, torch.stack([x.y_test for x in datas]), texture

            # a control that changes only other arms' contrasts or augmentation reuses this arm in a verify
            pred, shape, texture = ctx.shared(f"arm {arm}", cfg, train_arm, ignore=NOT_READ_BY_ARM[arm] + SKIP_KEYS)
            aligned = shape == texture
            aligned_acc = (pred[aligned] == shape[aligned]).float().mean().item()
            # Geirhos's ratio over the members' pooled decisions on the conflict images
            pooled, n_shape, n_texture = shape_bias(pred.flatten(), shape.flatten(), texture.flatten())
            each = np.array([shape_bias(pred[k], shape[k], texture[k])[0] for k in range(members)])
            values = [aligned_acc, pooled, (n_shape + n_texture) / int((~aligned).sum()), *map(float, each)]
            values += [float(each.min()), float(each.max()), float(each.std(ddof=1)) if members > 1 else 0.0]
            s.update(zip(_arm_keys(arm, members), values, strict=True))
            bar.update(1)
        for name, cue, contrast in [("shape", "shape", 0.0)] + [
            (f"texture_{a}", "texture", c) for a, c in contrasts.items()
        ]:
            keys = [f"decodability_{name}{k}" for k in ("", "_min", "_max")]
            if not cfg.train.probes:  # skipped (a control whose checks read no probe): unmeasured
                s.update(dict.fromkeys(keys, nan))
                continue
            # the probe reads its cue and contrast, not the arms': every probe at one contrast is computed once
            acc = ctx.shared(
                f"probe {cue} at contrast {contrast!r}",
                cfg,
                lambda cue=cue, contrast=contrast: _decodability(cfg, cue, contrast, ctx),
                ignore=ARM_KEYS + SKIP_KEYS,
            )
            s.update(zip(keys, (float(acc.mean()), float(acc.min()), float(acc.max())), strict=True))
            bar.update(1)
    s["equal_deviation"] = abs(s["shape_bias_equal"] - 0.5)
    s["aug_gain"] = s["shape_bias_augmented"] - s["shape_bias_texture_easy"]
    s["min_aligned_acc"] = float(np.min([s["aligned_acc_texture_easy"], s["aligned_acc_shape_easy"]]))  # nan if any
    return ctx.result(cfg, s)


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check(
                "texture preference when texture is easier: shape bias",
                s["shape_bias_texture_easy"],
                "<=",
                MAX_BIAS_TEXTURE_EASY,
            ),
            Check(
                "shape preference when shape is easier: shape bias",
                s["shape_bias_shape_easy"],
                ">=",
                MIN_BIAS_SHAPE_EASY,
            ),
            Check(
                "no strong preference at equal difficulty: |shape bias − 0.5|",
                s["equal_deviation"],
                "<=",
                MAX_EQUAL_DEVIATION,
            ),
            Check(
                "texture randomization reduces texture preference: shape bias gain", s["aug_gain"], ">=", MIN_AUG_GAIN
            ),
            Check(
                "the task is learned: cue-aligned test accuracy, min of the two",
                s["min_aligned_acc"],
                ">=",
                MIN_ALIGNED_ACC,
            ),
        )
    )


def _examples(cfg: Config) -> np.ndarray:
    """A grid of example images of the texture-easier and equal arms: row k has shape k; column j texture j."""
    d = cfg.data
    k = d.classes
    rows = []
    for contrast in (d.texture_easy, d.texture_equal):
        shapes = torch.arange(k).repeat_interleave(k)
        textures = torch.arange(k).repeat(k)
        x = render_cue_images(
            shapes,
            textures,
            size=d.size,
            shape_contrast=d.shape_contrast,
            texture_contrast=contrast,
            noise=d.noise,
            jitter=d.jitter,
            generator=torch.Generator().manual_seed(cfg.seed),
        )[:, 0].numpy()
        pad = np.full((k * (d.size + 1), k * (d.size + 1)), np.nan)
        for i in range(k * k):
            r, c = divmod(i, k)
            img = x[i]
            pad[r * (d.size + 1) : r * (d.size + 1) + d.size, c * (d.size + 1) : c * (d.size + 1) + d.size] = (
                img - img.min()
            ) / (np.ptp(img) + 1e-9)
        rows.append(pad)
    return rows


def figure(result: Result):
    s, cfg = result.summary, result.config
    d = cfg.data
    fig, axes = subplots(1, 4, width=3.6, height=3.4)
    grids = _examples(cfg)
    for ax, grid, contrast, name in zip(  # noqa: B905
        axes[0][:2], grids, (d.texture_easy, d.texture_equal), ("texture easier", "equal")
    ):
        ax.imshow(grid, cmap="gray", interpolation="nearest")
        ax.grid(False)
        ax.set_xticks([(d.size + 1) * j + d.size / 2 for j in range(d.classes)], [f"t{j}" for j in range(d.classes)])
        ax.set_yticks(
            [(d.size + 1) * j + d.size / 2 for j in range(d.classes)], [SHAPE_NAMES[j] for j in range(d.classes)]
        )
        ax.set(xlabel="texture class", title=f"{name} (texture contrast {contrast:g})\ndiagonal aligned, rest conflict")
    bias_ax, dec_ax = axes[0][2], axes[0][3]
    for i, arm in enumerate(ARMS):
        value = s[f"shape_bias_{arm}"]
        bias_ax.bar(i, value, color=PALETTE["train"] if arm != "augmented" else PALETTE["accent"], alpha=0.7)
        each = [s[f"shape_bias_{arm}_member{k}"] for k in range(cfg.train.members)]
        bias_ax.plot(
            i + np.linspace(-0.25, 0.25, len(each)),
            each,
            "o",
            color="k",
            markersize=3,
            label="each network" if i == 0 else None,
        )
    bias_ax.axhline(0.5, color=PALETTE["theory"], linestyle="--", linewidth=1, label="no preference")
    bias_ax.axhspan(0.5 - MAX_EQUAL_DEVIATION, 0.5 + MAX_EQUAL_DEVIATION, color=PALETTE["theory"], alpha=0.08)
    bias_ax.set_xticks(range(len(ARMS)), [ARM_LABELS[a] for a in ARMS], fontsize=7, rotation=20)
    for i, arm in enumerate(ARMS):
        bias_ax.text(i, 1.06, f"{s[f'shape_bias_{arm}']:.2f}", ha="center", fontsize=8, fontweight="bold")
    bias_ax.set(
        ylim=(0, 1.35),
        ylabel="shape bias = shape / (shape + texture)",
        title=f"conflict decisions pooled over {cfg.train.members} networks",
    )
    bias_ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    bias_ax.legend(fontsize=7, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 1.0))
    arms = ("texture_easy", "equal", "shape_easy")
    x = np.arange(len(arms))
    for off, names, color, label in (
        (-0.18, ["shape"] * len(arms), PALETTE["test"], "shape alone"),
        (0.18, [f"texture_{a}" for a in arms], PALETTE["train"], "texture alone"),
    ):
        mean = np.array([s[f"decodability_{n}"] for n in names])
        lo = mean - [s[f"decodability_{n}_min"] for n in names]
        hi = np.array([s[f"decodability_{n}_max"] for n in names]) - mean
        dec_ax.bar(x + off, mean, 0.36, color=color, label=label, yerr=[lo, hi], capsize=2, ecolor="k")
    dec_ax.axhline(1 / d.classes, color=PALETTE["control"], linestyle=":", label="chance")
    dec_ax.set_xticks(x, [ARM_LABELS[a] for a in arms], fontsize=7)
    dec_ax.set(
        ylim=(0, 1.25),
        ylabel="held-out accuracy",
        title=f"decodability ({cfg.train.probe_steps} steps on one cue;\nmean, range over networks)",
    )
    dec_ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    dec_ax.legend(fontsize=7, loc="upper center", ncol=3)
    fig.suptitle(
        f"cue conflict: {d.classes} classes, {d.size}×{d.size} images, noise σ = {d.noise:g}, shape contrast "
        f"{d.shape_contrast:g}; CNN, Adam {cfg.train.steps} steps; augmentation randomizes the {cfg.augment.cue} "
        f"of {cfg.augment.fraction:.0%}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="cue-conflict",
    summary="on shape-texture conflict images a CNN follows the easier cue; texture randomization moves it to shape",
    papers=(
        "Geirhos, Rubisch, Michaelis, Bethge, Wichmann, Brendel 2019 — ImageNet-trained CNNs are biased towards "
        "texture; increasing shape bias improves accuracy and robustness",
        "Hermann, Chen, Kornblith 2020 — The origins and prevalence of texture bias in convolutional neural networks",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("shape_bias_texture_easy", "shape_bias_equal", "shape_bias_shape_easy", "aug_gain"),
    controls=(
        Control(
            "equal difficulty",
            # its checks read the texture- and shape-easier arms only: the other arms and the probes are skipped
            {
                "data.texture_easy": 0.26,
                "data.texture_hard": 0.26,
                "train.arms": ("texture_easy", "shape_easy"),
                "train.probes": False,
            },
            must_fail=("texture preference when", "shape preference when"),
            why="with both cues equally decodable in every arm, neither cue is preferred",
        ),
        Control(
            "shape randomized instead",
            # its check reads the augmented and texture-easier arms only: the other arms and the probes are skipped
            {"augment.cue": "shape", "train.arms": ("texture_easy", "augmented"), "train.probes": False},
            must_fail=("texture randomization reduces",),
            why="randomizing the shape of the same fraction of images leaves texture the reliable cue",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 105)),
        note="quick, one thread, ensembles of 4 networks per arm (~40-75 s a run under contention, so seeds "
        "100-104). Preset: pooled shape bias 0.0 when texture is easier (5/5), 0.89-0.94 when shape is easier, "
        "0.53-0.61 at equal difficulty (|bias − 0.5| 0.03-0.11; single networks 0.26-0.83); texture randomization "
        "raises it by 0.45-0.57; cue-aligned accuracy 0.80-0.90. Decodability (50 probe steps, mean of 4): shape "
        "0.41-0.56, texture at 0.26 0.37-0.58. Equal-difficulty control: texture-easier arm 0.45-0.59, shape-easier "
        "arm 0.43-0.61 (fails both 5/5). Shape-randomized control (seeds 100-104, new design): gain 0.0 on "
        "5/5 (fails 5/5; first design also 0.0 on 5/5). DESIGN CHANGE: the first design "
        "trained one network per arm (300 steps, 100 probe steps); its thresholds (0.15, 0.75, 0.3, 0.25, 0.6) were "
        "set on seeds 100-104 where the equal arm's bias was 0.28-0.64, but seeds 105-109 gave 0.89, 0.68, 0.41, "
        "0.44, 0.30, and held-out verify failed the equal-difficulty control on seed 1 (0.783 ≥ 0.75 at "
        "decodability 0.865 vs 0.86: 2/3 < 80%). A single network's preference at equal difficulty is idiosyncratic; "
        "the claim is about the architecture and procedure, so each arm is now 4 networks (own init, data draw, "
        "batch order) with pooled decisions, 200 steps and 50 probe steps, and every threshold was re-set here."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify cue-conflict --calibration`, AVX-512 kernels): every seed passes and "
        "every control fails 5/5; `observed` holds these values.",
        observed={
            "shape_bias_texture_easy": (0.0, 0.0, 0.0, 0.0, 0.0),
            "shape_bias_shape_easy": (0.9406, 0.9236, 0.9348, 0.9354, 0.8886),
            "shape_bias_equal": (0.5309, 0.5485, 0.5522, 0.6075, 0.5972),
            "aug_gain": (0.5446, 0.4438, 0.5315, 0.5153, 0.5739),
            "min_aligned_acc": (0.9013, 0.8325, 0.8737, 0.8725, 0.795),
            "decodability_shape": (0.505, 0.545, 0.4425, 0.5637, 0.4137),
            "decodability_texture_equal": (0.5263, 0.4688, 0.5375, 0.3662, 0.58),
            "shape_bias_equal_member_min": (0.2547, 0.4958, 0.4282, 0.443, 0.5217),
            "shape_bias_equal_member_max": (0.7692, 0.6317, 0.6432, 0.8317, 0.6824),
        },
    ),
)
