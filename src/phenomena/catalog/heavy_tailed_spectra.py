"""Heavy-tailed spectra: SGD turns a random layer's Marchenko–Pastur spectrum into a heavy-tailed one, and a larger
learning rate (more SGD noise) gives a heavier tail.

Martin & Mahoney (JMLR 2021, "Implicit self-regularization in deep neural networks: evidence from random matrix
theory and implications for learning") look at the empirical spectral density (ESD) of each layer's correlation
matrix X = WᵀW / N. At initialization W is random and its ESD follows the Marchenko–Pastur (MP) law; as training
proceeds, eigenvalues bleed out of the MP bulk, spikes appear, and the ESD of a well-trained layer develops a
power-law tail ρ(λ) ∝ λ^(−α) ("5+1 phases of training"); α falls as training goes on. Their small-scale study
(MiniAlexNet on CIFAR-10, §7) varies the batch size at a fixed learning rate: smaller batches (a larger lr/B, more
SGD noise) give heavier tails. Martin, Peng & Mahoney (2021, "Predicting trends in the quality of state-of-the-art
neural networks without access to training or testing data") use the fitted α as a data-free quality metric
(WeightWatcher: α < 2 over-trained, α > 6 under-trained / random-like).

``quick``: MNIST-1D (4000 samples split 2000 train / 2000 test, the package's frozen generator seed), a 40-512-512-10
ReLU MLP (standard init), plain SGD (no momentum, no weight decay), batch 16, 2000 steps. Two arms start from the
*same* initialization and see the *same* minibatches (a paired comparison): a hot arm with lr 0.1 and a cold arm
with lr 0.02 (lr/B = 1/160 against 1/800). They are trained together by
:func:`phenomena.training.train_ensemble` in segments of ``log_every`` steps (SGD without momentum has no state,
so a segment continues exactly; each segment draws a fresh minibatch permutation), and the 512 × 512 hidden layer
is measured after each segment with :func:`phenomena.probes.weight_spectra.weight_spectrum`: the CSN power-law α
(KS-chosen xmin, no xmax), the KS distance of the ESD to its fitted MP law, and the spikes above the MP edge.
The 512 × 40 and 10 × 512 layers (40 and 10 eigenvalues) are too small for a tail fit and are not judged.
``smoke`` is a 256-wide net for 300 steps (too short for the tail: ``smoke_holds=False``).

Verdict. (1) The layer at init is random: the KS distance between its ESD and the MP law ≤ :data:`MAX_INIT_MP_KS`
and (2) no eigenvalue above the MP edge (spikes, a few Tracy–Widom scales above it). (3) α falls with training: the
hot arm's final α ≤ :data:`MAX_ALPHA_END`. α at init is *not* used as the reference: a 512 × 512 Gaussian ESD fits
α anywhere from ≈ 4.4 to 19 across seeds 100-104 (finite-size "fingers" at the top of the bulk, the probe's
documented pitfall), so a ratio to it would mostly measure that noise; the check compares the end of training with
what no random layer reads (the threshold lies below every random 512 × 512 layer measured). (4) The bulk bleeds
out: the hot arm ends with at least :data:`MIN_SPIKES` spikes above the MP
edge (Martin & Mahoney's "bleeding-out" / "bulk+spikes" phases). (5) More SGD noise, heavier tail: the cold arm's
final α minus the hot arm's ≥ :data:`MIN_ALPHA_GAP`. Both arms take the same number of steps, so the hot arm has
also moved further; (5) is the paper's comparison at a fixed training length, not a claim about equal loss.

Control. "tiny lr, few steps": lr 0.001 and 0.0002, 250 steps: the layer barely moves from its random start, so
its final α stays random-like (3 fails), no spikes leave the bulk (4 fails), and the arms end with the same α
(5 fails), all on measured values.

Calibration (seeds 100-104, quick, one thread; values in ``ENTRY.calibration``): a random 512 × 512 layer fits MP
(KS 0.006, no spikes) but reads α 4.4-19 by the CSN fit; after 2000 steps at lr 0.1 every seed ends at α 3.70-3.92
with 21-24 spikes out of the bulk and 100% training accuracy, while lr 0.02 ends at α 7.3-8.4 with 3 spikes. α is
not monotone: as the first spikes leave the bulk it *rises* (e.g. 6.4 → 13 at step 250, seed 100), then falls
once a tail of ~50-70 eigenvalues forms. The tiny-lr control ends where it started (α 6.3-19, no spikes).
Held out (``phenomena verify``, seeds 0-2): final α 3.71-3.96 (lr 0.1) and 8.05-8.55 (lr 0.02), 22-23 spikes;
the control ends at α 5.29-7.14, 0 spikes, gap −0.01-0.04.

Tried first (seeds 100-102, not calibration, one run each, the 512 × 512 layer unless said): batch 16 vs 256 at lr
0.1 and equal *steps* (3000, width 512, seed 100): α 8.59 → 3.73 (B = 16) and 4.55 (B = 256), the expected order;
at width 256 (2000 steps, seed 100) the order reversed, α 4.19 (B = 16) against 3.78 (B = 128): at equal steps the
large batch also trains further per step, and with only 256 eigenvalues the α noise is ±0.5. The batch arms also
cost 5x more per step (B = 256) and cannot share one ensemble call, so the lr arms (same B, the same lr/B lever)
were kept. Width 256 gives tail fits of only ~20 eigenvalues; width 512 gives 50-70.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from phenomena.config import at_least, config, field, positive, require
from phenomena.data.mnist1d import mnist1d
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models.mlp import MLP
from phenomena.probes.weight_spectra import (
    OVER_TRAINED,
    UNDER_TRAINED,
    WeightSpectrum,
    marchenko_pastur_density,
    weight_spectrum,
)
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.ensemble import train_ensemble

ARMS = ("hot", "cold")  # member 0: the larger lr; member 1: the smaller lr
# Set on calibration seeds 100-104 (quick; see ENTRY.calibration), between the preset's worst value and the
# tiny-lr control's best.
MAX_INIT_MP_KS = 0.02  # KS(ESD at init, MP): 0.0055-0.0064 (the init is shared by preset and control)
# hot arm's final α: preset 3.70-3.92, control 6.34-19.1. Not the midpoint: below the smallest α of any random
# 512 × 512 layer measured (4.43, the init of seed 103; 4.51 the smallest of 30 Gaussian draws, seeds 0-29)
MAX_ALPHA_END = 4.3
MIN_SPIKES = 10  # hot arm's final spikes above the MP edge: preset 21-24, control 0 (the cold arm: 3)
MIN_ALPHA_GAP = 1.5  # α_end(cold) − α_end(hot): preset 3.41-4.58, control −1.91-0.05


@config
class Data:
    num_samples: int = field(4000, at_least(40), help="MNIST-1D samples generated (train + test)")
    train_split: float = field(0.5, positive, help="fraction of the samples in the training set")

    def __post_init__(self):
        require(self.train_split < 1, "data.train_split must be below 1")


@config
class Model:
    width: int = field(512, at_least(16), help="hidden units per layer: the width × width layer's ESD is measured")
    depth: int = field(2, at_least(2), help="hidden layers (≥ 2, so that a width × width layer exists)")


@config
class Train:
    lr: float = field(0.1, positive, help="SGD learning rate of the hot arm (more SGD noise)")
    cold_lr: float = field(0.02, positive, help="SGD learning rate of the cold arm (same init and minibatches)")
    batch_size: int = field(16, positive, help="examples per step (both arms): the noise scale is lr / batch")
    steps: int = field(2000, positive, help="SGD steps per arm")
    log_every: int = field(250, positive, help="measure the spectra every this many steps")

    def __post_init__(self):
        require(self.cold_lr < self.lr, "train.cold_lr must be below train.lr")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (initialization, minibatch order)")


PRESETS = {
    "smoke": Config(model=Model(width=256), train=Train(steps=300, log_every=100)),
    "quick": Config(),
    # not a published setting (Martin & Mahoney trained MiniAlexNet on CIFAR-10): twice the data, 4x the steps
    # (untimed against seeds: COSTS is an estimate from the quick run's per-step cost)
    "full": Config(data=Data(num_samples=8000), train=Train(steps=8000, log_every=500)),
}
COSTS = {"smoke": "~4 s", "quick": "~30 s", "full": "~2.5 min"}


def _hidden(model: torch.nn.Module) -> torch.nn.Linear:
    """The first width × width layer (the second ``nn.Linear``)."""
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)][1]


def train_arms(base: torch.nn.Module, data, lrs: list[float], batch_size: int, steps: int, every: int, order_seed: int):
    """Train copies of ``base``, one per lr, by plain SGD on the same minibatches; yield after every ``every`` steps.

    Segment k (``every`` steps, the last one shorter) is one :func:`~phenomena.training.train_ensemble` call whose
    members all use minibatch seed ``order_seed + k``; SGD without momentum keeps no state, so the segments chain
    exactly. Yields ``(steps done, models, final-step training accuracies)``.
    """
    models = [copy.deepcopy(base) for _ in lrs]
    done, segment = 0, 0
    while done < steps:
        n = min(every, steps - done)
        res = train_ensemble(
            lambda i, ms=models: ms[i],
            list(range(len(lrs))),
            data,
            optimizer="sgd",
            lr=list(lrs),
            steps=n,
            batch_size=batch_size,
            log_every=n,
            order_seeds=[order_seed + segment] * len(lrs),
            evaluate=("train",),  # each segment reads its final training accuracy only
        )
        models, done, segment = res.models, done + n, segment + 1
        yield done, models, [float(a) for a in res.curves["train_acc"][:, -1]]


def run(cfg: Config, ctx: RunContext) -> Result:
    d, t = cfg.data, cfg.train
    data = mnist1d(d.num_samples, d.train_split, cache_dir=ctx.cache)
    base = MLP(40, 10, width=cfg.model.width, depth=cfg.model.depth, seed=ctx.stream_seed("init"))
    init = weight_spectrum(_hidden(base).weight)
    spectra: dict[str, list[WeightSpectrum | None]] = {arm: [init] for arm in ARMS}  # the arms share their init
    steps = [0]
    accs = {arm: math.nan for arm in ARMS}
    arms = train_arms(base, data, [t.lr, t.cold_lr], t.batch_size, t.steps, t.log_every, ctx.stream_seed("order"))
    with ctx.progress(t.steps, desc="SGD arms") as bar:
        for done, models, acc in arms:
            bar.update(done - steps[-1])
            steps.append(done)
            for i, arm in enumerate(ARMS):
                accs[arm] = acc[i]
                w = _hidden(models[i]).weight
                spectra[arm].append(weight_spectrum(w) if torch.isfinite(w).all() else None)
    summary = _summary(spectra, accs)
    series: dict[str, Series] = {}
    for arm in ARMS:
        for key in ("alpha", "n_spikes", "mp_ks_distance", "stable_rank"):
            vals = [float(getattr(s, key)) if s is not None else math.nan for s in spectra[arm]]
            series[f"{key}_{arm}"] = Series(list(steps), vals)
    ends = {"init": init, "end_hot": spectra["hot"][-1], "end_cold": spectra["cold"][-1]}
    for name, s in ends.items():
        if s is not None:
            series[f"eigenvalues_{name}"] = Series(list(range(len(s.eigenvalues))), [float(v) for v in s.eigenvalues])
    return ctx.result(cfg, summary, series)


def _summary(spectra: dict[str, list[WeightSpectrum | None]], accs: dict[str, float]) -> dict[str, float]:
    init = spectra["hot"][0]
    s: dict[str, float] = {
        "init_alpha": init.alpha,
        "init_mp_ks": init.mp_ks_distance,
        "init_spikes": float(init.n_spikes),
        "init_mp_sigma2": init.mp_sigma2,
        "q": init.q,
    }
    for arm in ARMS:
        end = spectra[arm][-1]
        for key in ("alpha", "xmin", "n_tail", "mp_ks_distance", "n_spikes", "stable_rank", "mp_sigma2"):
            s[f"{key}_end_{arm}"] = float(getattr(end, key)) if end is not None else math.nan
        s[f"train_acc_{arm}"] = accs[arm]
    s["spikes_end_hot"], s["spikes_end_cold"] = s.pop("n_spikes_end_hot"), s.pop("n_spikes_end_cold")
    s["alpha_ratio_hot"] = s["alpha_end_hot"] / s["init_alpha"]
    s["alpha_gap"] = s["alpha_end_cold"] - s["alpha_end_hot"]
    return s


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check("random at init: KS(ESD, Marchenko–Pastur)", s["init_mp_ks"], "<=", MAX_INIT_MP_KS),
            Check("random at init: spikes above the MP edge", s["init_spikes"], "<=", 0),
            Check("α falls with training: final α, larger lr", s["alpha_end_hot"], "<=", MAX_ALPHA_END),
            Check("the bulk bleeds out: final spikes above the MP edge", s["spikes_end_hot"], ">=", MIN_SPIKES),
            Check("larger lr, heavier tail: α_end(small lr) − α_end(large lr)", s["alpha_gap"], ">=", MIN_ALPHA_GAP),
        )
    )


TOP_DECADES = 3  # the end-of-training panel shows the ESD over this many decades below λ_max (the tail's range)


def _esd(ax, evals: np.ndarray, lo: float, hi: float, color: str, label: str, log: bool = True) -> None:
    """A histogram of the ESD on [lo, hi] as a density over *all* its eigenvalues (points per bin centre)."""
    bins = np.logspace(math.log10(lo), math.log10(hi), 36) if log else np.linspace(lo, hi, 36)
    counts, edges = np.histogram(evals, bins=bins)
    density = counts / (len(evals) * np.diff(edges))
    centers = np.sqrt(edges[1:] * edges[:-1]) if log else (edges[1:] + edges[:-1]) / 2
    keep = density > 0
    ax.plot(centers[keep], density[keep], "o-", color=color, markersize=3, linewidth=1, label=label)


def _mp(ax, q: float, sigma2: float, lo: float, hi: float, label: str) -> None:
    if not (math.isfinite(sigma2) and sigma2 > 0):
        return
    x = np.linspace(max(lo, 1e-12), hi, 600)
    rho = marchenko_pastur_density(x, q, sigma2)
    keep = rho > 0
    ax.plot(x[keep], rho[keep], "--", color=PALETTE["theory"], linewidth=1.5, label=label)


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 3, width=4.0)
    init_ax, end_ax, alpha_ax = axes[0]
    q = s["q"]
    colors = {"hot": PALETTE["test"], "cold": PALETTE["train"]}
    lrs = {"hot": cfg.train.lr, "cold": cfg.train.cold_lr}
    if "eigenvalues_init" in result.series:
        ev = np.array(result.curve("eigenvalues_init")[1])
        edge = s["init_mp_sigma2"] * (1 + q**-0.5) ** 2
        _esd(init_ax, ev, 0.0, max(ev.max(), edge) * 1.05, "grey", "ESD at init", log=False)
        init_ax.set_yscale("log")
        ylim = init_ax.get_ylim()
        _mp(init_ax, q, s["init_mp_sigma2"], 0.0, edge, "Marchenko–Pastur (σ² fitted)")
        init_ax.set_ylim(ylim[0], ylim[1] * 10)
        init_ax.legend(fontsize=7)
    init_ax.set(
        xlabel="eigenvalue λ of WᵀW/N",
        ylabel="density",
        title=f"init: random (MP KS {s['init_mp_ks']:.3f}, {s['init_spikes']:.0f} spikes)",
    )
    names = [("init", "grey", "init")] + [(f"end_{a}", colors[a], a) for a in ("cold", "hot")]
    present = [n for n in names if f"eigenvalues_{n[0]}" in result.series]
    if present:
        hi = max(max(result.curve(f"eigenvalues_{n}")[1]) for n, _, _ in present) * 1.1
        lo = hi / 10**TOP_DECADES
        for n, color, arm in present:
            ev = np.array(result.curve(f"eigenvalues_{n}")[1])
            label = (
                f"init: α = {s['init_alpha']:.2f}"
                if arm == "init"
                else f"lr {lrs[arm]:g}: α = {s[f'alpha_end_{arm}']:.2f}"
            )
            _esd(end_ax, ev, lo, hi, color, label)
        end_ax.set_xscale("log")
        end_ax.set_yscale("log")
        ylim = end_ax.get_ylim()
        if "eigenvalues_end_hot" in result.series:
            edge = s["mp_sigma2_end_hot"] * (1 + q**-0.5) ** 2
            x = np.logspace(math.log10(lo), math.log10(edge), 200)
            rho = marchenko_pastur_density(x, q, s["mp_sigma2_end_hot"])
            end_ax.plot(
                x[rho > 0],
                rho[rho > 0],
                "--",
                color=PALETTE["theory"],
                linewidth=1.5,
                label=f"MP fit (lr {lrs['hot']:g})",
            )
            a, xmin, n_tail = s["alpha_end_hot"], s["xmin_end_hot"], s["n_tail_end_hot"]
            if math.isfinite(a) and math.isfinite(xmin):
                m = len(result.curve("eigenvalues_end_hot")[1])
                x = np.logspace(math.log10(xmin), math.log10(hi), 50)
                tail = (n_tail / m) * (a - 1) / xmin * (x / xmin) ** (-a)
                end_ax.plot(x, tail, "-", color="black", linewidth=1.5, label=f"power-law fit ∝ λ^−{a:.2f}")
        end_ax.set_ylim(*ylim)
        end_ax.legend(fontsize=7)
    end_ax.set(
        xlabel="eigenvalue λ of WᵀW/N",
        ylabel="density",
        title=f"after {cfg.train.steps} steps: top {TOP_DECADES} decades of the ESD",
    )
    for arm in ARMS:
        steps, alpha = result.curve(f"alpha_{arm}")
        label = f"lr {lrs[arm]:g} (lr/B = {lrs[arm] / cfg.train.batch_size:.4f})"
        alpha_ax.plot(steps, alpha, "o-", color=colors[arm], label=label)
    alpha_ax.axhspan(OVER_TRAINED, UNDER_TRAINED, color=PALETTE["theory"], alpha=0.12, label="WeightWatcher 'ok' 2-6")
    alpha_ax.axhline(MAX_ALPHA_END, color=PALETTE["theory"], linestyle="--", linewidth=1, label="check (3)")
    alpha_ax.set(xlabel="SGD step", ylabel="power-law α of the ESD tail", title="α falls; larger lr, smaller α")
    alpha_ax.legend(fontsize=7)
    w = cfg.model.width
    fig.suptitle(
        f"heavy-tailed spectra: {w}×{w} layer of a 40-{w}×{cfg.model.depth}-10 MLP, MNIST-1D, SGD batch "
        f"{cfg.train.batch_size}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="heavy-tailed-spectra",
    summary="SGD turns a random layer's Marchenko–Pastur spectrum heavy-tailed; more SGD noise, smaller α",
    papers=(
        "Martin & Mahoney 2021 — Implicit self-regularization in deep neural networks: evidence from random matrix "
        "theory and implications for learning",
        "Martin, Peng & Mahoney 2021 — Predicting trends in the quality of state-of-the-art neural networks without "
        "access to training or testing data",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("init_mp_ks", "alpha_end_hot", "alpha_end_cold", "spikes_end_hot", "alpha_gap"),
    controls=(
        Control(
            "tiny lr, few steps",
            {"train.lr": 0.001, "train.cold_lr": 0.0002, "train.steps": 250},
            must_fail=("α falls with training", "the bulk bleeds out", "larger lr, heavier tail"),
            why="a layer that barely moves from its random start keeps its MP spectrum: no spikes, no tail, and "
            "the two arms end with the same α",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 105)),
        note="quick, one thread (a quick run is ~30 s, so seeds 100-104). Preset: init KS(ESD, MP) 0.0055-0.0064 "
        "with 0 spikes; init α 4.43-19.1 (finite-size noise of a random ESD); final α 3.70-3.92 at lr 0.1 and "
        "7.33-8.40 at lr 0.02 (gap 3.41-4.58); final spikes 21-24 at lr 0.1, 3 at lr 0.02; final KS(ESD, MP) "
        "0.050-0.056 at lr 0.1; training accuracy 1.0 (lr 0.1) and 0.87-0.89 (lr 0.02). Tiny lr, few steps "
        "(lr 0.001/0.0002, 250 steps): final α 6.34-19.1 (fails ≤ 4.3 5/5), 0 spikes (fails 5/5), gap −1.91-0.05 "
        "(fails 5/5), final KS(ESD, MP) 0.0055-0.0065 (still MP). The α threshold is set below every random "
        "512 × 512 layer measured (4.43 here at init, 4.51 the smallest of 30 Gaussian draws), not at the midpoint."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "heavy-tailed-spectra --calibration`, AVX-512 kernels): all 5 pass and the control fails 5/5; final α at the "
        "larger lr 3.67-3.97, the gap 3.40-4.62. `observed` holds these values.",
        observed={
            "init_mp_ks": (0.0055, 0.0057, 0.0057, 0.0063, 0.0064),
            "init_spikes": (0.0, 0.0, 0.0, 0.0, 0.0),
            "init_alpha": (6.4307, 19.0883, 16.4937, 4.428, 13.2597),
            "alpha_end_hot": (3.7702, 3.7698, 3.9216, 3.9726, 3.6709),
            "alpha_end_cold": (8.3912, 7.8251, 7.3183, 7.5076, 8.1375),
            "spikes_end_hot": (22.0, 24.0, 22.0, 22.0, 23.0),
            "alpha_gap": (4.621, 4.0553, 3.3966, 3.535, 4.4667),
            "mp_ks_distance_end_hot": (0.0508, 0.0559, 0.0525, 0.0527, 0.0532),
        },
    ),
)
