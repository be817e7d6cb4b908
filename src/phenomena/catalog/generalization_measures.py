"""Generalization measures: a zoo of small MLPs trained to the same training loss, and how well each measure of
the trained networks ranks them by their generalization gap.

Jiang, Neyshabur, Mobahi, Krishnan & Bengio (2020, "Fantastic generalization measures and where to find them")
trained thousands of networks over a grid of hyper-parameters, each stopped at training cross-entropy 0.01, and
ranked more than 40 complexity measures by Kendall's τ with the generalization gap and by their granulated
coefficient Ψ (the mean over hyper-parameter axes of τ within groups where only that axis varies). Dziugaite,
Drouin et al. (2020, "In search of robust measures of generalization", code
``nitarshan/robust-generalization-measures``) normalized the measures by the training-set size and asked for
robustness across environments. This entry is the CPU pipeline of that study on MNIST-1D: the measures are those
of :func:`phenomena.probes.measures.generalization_measures` (normalized as Dziugaite's code), the statistics
those of :mod:`phenomena.analysis.rank_correlation`.

``quick``: MNIST-1D (2500 samples, the package's frozen generator: 500 train, the 2000 test samples split in two
halves, one scoring the gap and one held out for the planted oracle), a zoo of 32 ReLU MLPs 40-w×d-10 over
width w ∈ {64, 128}, depth d ∈ {1, 2}, SGD learning rate ∈ {0.05, 0.1}, coupled weight decay ∈ {0, 10⁻⁴} and
label noise ∈ {0, 0.2} (``mode="other"``: every redrawn label is wrong; the test set stays clean), momentum 0.9,
batch 50. One :func:`~phenomena.training.train_ensemble` call per (width, depth, batch) group, each member stopped
at the first logged step (every 25) whose full training cross-entropy is ≤ 0.01 (Jiang's rule; ``stop_train_loss``),
3000 steps at most. The gap is the test error minus the training error (on the labels trained on). Measures are
computed on the whole training set (m = 500) with 5 Monte-Carlo draws per PAC-Bayes σ; the Hessian measures
(λmax, Tr H) and the two-seed inconsistency are left to ``full`` (they cost most).

Verdict: it tests the pipeline, not any measure. (1) Models that met the stopping rule: their share of the zoo.
(2) Every measure is finite on every model that met it (share of finite (model, measure) entries is 1; a model
that never reached the rule is excluded from the ranking, as both papers do). (3) The gap rank-correlates with
label noise: Kendall τ(noise, gap) over the stopped models. (4) A planted oracle scores high: the oracle measure is
the error on the held-out half of the test set minus the training error, computed on the same model as everything
else, so τ(oracle, gap) is high exactly when models and measures are paired right. (5) Shuffled gaps give small
|τ|: for every measure (oracle included), the mean over :data:`PERMUTATIONS` random permutations of the gaps of
|τ(measure, permuted gap)|, the largest over the measures. Each measure's τ (with a 90% bootstrap interval over
the models of the run) and Ψ are reported as data (summary ``tau_<measure>``, ``tau_lo_/tau_hi_<measure>``,
``psi_<measure>``); ``phenomena verify`` gives their spread over seeds.

Controls. (3) claims the mechanism "memorizing wrong labels costs test error": with ``data.noise_labels=kept`` the
noise levels stay on the models (and in τ) but the selected labels keep their true class, so nothing is corrupted
and τ(noise, gap) is measured near 0; that check reads only the trained zoo's gaps, so the control computes no
measure (``measures.compute=false``, about half of a quick run): the measures come after every model is trained and
its errors measured, and draw on streams of their own, so τ(noise, gap) is bit for bit that of a run with them.
(4) claims the pairing of each model with its own measures: with ``analysis.pairing=shuffled`` the measure table
is permuted across models before ranking, and the oracle's τ falls to chance; every run ranks both pairings (the
permutation has a random stream of its own) and stores the checked values of each (``pairing.own.oracle_tau``,
``pairing.shuffled.oracle_tau``, ...), the verdict reading the config's, so ``phenomena verify`` judges this control
on the main runs (it is derived). (5) is a null check (no mechanism) and has no control; (1)-(2) are pipeline sanity
checks with thresholds fixed a priori.

Calibration (seeds 100-104, quick, one thread; values in ``ENTRY.calibration``): 31-32 of 32 models met the
stopping rule, every measure finite on all of them; τ(noise, gap) 0.70-0.72 (placebo noise −0.11-0.06); the
oracle's τ 0.65-0.71 (mis-paired −0.18-−0.03); the shuffled-gap mean |τ| at most 0.105-0.123 over the 15 runs.
Under the placebo the correctly paired oracle still reached only 0.31-0.45: without label noise the zoo's gaps
spread little more than the sampling noise of two 1000-example test halves, so the oracle (and any measure)
ranks them less well; the planted-oracle threshold sits at the midpoint to the mis-paired control, 0.3.

Measured τ with the gap (data, not checks; quick, seeds 100-104, min..max over seeds): PAC-Bayes from
init (pacbayes_init) +0.37..+0.56 and magnitude-aware flatness +0.25..+0.45 rank highest; distance from init
(fro_dist, l2_dist) +0.21..+0.32; path norm +0.13..+0.29; the spectral and Frobenius products and their margin
versions within ±0.15; the inverse margin −0.23..+0.01, parameter count −0.23..−0.09 and GSNR −0.29..−0.17
(negative). With one label-noise axis dominating the gap these τ mostly say which measures see memorized noise;
Ψ (reported per measure) averages within-axis τ and is the fairer statistic. Jiang et al.'s published τ/Ψ per
measure were not read from the paper in this session (the search tool returned only its abstract), so no
published sign is used as a reference.

Quick was first planned at 1000 training examples with widths {128, 512} and weight decay 5·10⁻⁴ (one run, seed 0,
not calibration): weight decay 5·10⁻⁴ kept every member above training CE 0.01 for 4000 steps, and a width-512
group took ~5 min; 500 examples, widths {64, 128} and decay 10⁻⁴ stop (almost) every member within 3000 steps.

``full`` (not a published setting: Jiang trained NiN/CNNs on CIFAR-10/SVHN; not run in this session, its cost is
a guess): 1000 training examples, widths {64, 128, 256}, depths {1, 2}, batch sizes {50, 100}, three noise levels,
the Hessian measures and the two-seed inconsistency (a twin of every model from another initialization; their
disagreement on the unlabeled held-out inputs, as Jiang et al. 2022 use unlabeled test data: on the training set
both twins fit every label and it is 0).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from phenomena.analysis.rank_correlation import granulated_kendall, kendall_tau, resampled_tau
from phenomena.config import at_least, between, config, field, one_of, positive, require
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.models.mlp import MLP
from phenomena.probes.measures import generalization_measures, inconsistency
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.ensemble import train_ensemble

NOISE_LABELS = ("wrong", "kept")
PAIRINGS = ("own", "shuffled")
AXES = ("width", "depth", "batch", "lr", "wd", "noise")
PERMUTATIONS = 200  # random permutations of the gaps for the shuffled-gap check
BOOTSTRAP = 200  # bootstrap resamples of the models for each measure's τ interval
ORACLE = "oracle_heldout_gap"
# Thresholds. The two mechanism checks are set on calibration seeds 100-104 (quick; see ENTRY.calibration) at the
# midpoint between the preset's worst value and its control's best, rounded; the two sanity checks and the null
# check are fixed a priori (values in the comments are the calibration runs, preset and both controls).
MIN_STOPPED = 0.75  # share of the zoo that met the stopping rule (a priori; observed 0.94-1.0)
MIN_FINITE = 1.0  # every (stopped model, measure) entry finite (by definition; observed 1.0)
MIN_NOISE_TAU = 0.4  # τ(noise, gap): preset 0.704-0.723, placebo noise −0.111-0.058
MIN_ORACLE_TAU = 0.3  # τ(oracle, gap): preset 0.647-0.711, mis-paired measures −0.182-−0.026
MAX_SHUFFLED_TAU = 0.25  # a priori ~2.5x the null mean |τ| of 32 models (~0.10); observed 0.105-0.123


@config
class Data:
    num_samples: int = field(2500, at_least(100), help="MNIST-1D samples generated (train + test)")
    train_split: float = field(0.2, between(0, 1, "()"), help="fraction of the samples in the training set")
    noise_labels: str = field(
        "wrong", one_of(*NOISE_LABELS), help="kept: the selected labels keep their true class (placebo noise)"
    )


@config
class Zoo:
    widths: tuple[int, ...] = field((64, 128), positive, help="hidden units per layer")
    depths: tuple[int, ...] = field((1, 2), positive, help="hidden layers")
    batch_sizes: tuple[int, ...] = field((50,), positive, help="minibatch sizes (one ensemble per width×depth×batch)")
    lrs: tuple[float, ...] = field((0.05, 0.1), positive, help="SGD learning rates")
    weight_decays: tuple[float, ...] = field((0.0, 1e-4), at_least(0), help="coupled ℓ2 weight decays")
    noises: tuple[float, ...] = field((0.0, 0.2), between(0, 1, "[)"), help="label-noise levels (fraction redrawn)")

    def __post_init__(self):
        require(len(self.noises) >= 2, "zoo.noises needs at least 2 levels")
        size = len(self.widths) * len(self.depths) * len(self.batch_sizes)
        require(size * len(self.lrs) * len(self.weight_decays) * len(self.noises) >= 6, "the zoo needs >= 6 models")


@config
class Train:
    momentum: float = field(0.9, between(0, 1, "[)"), help="SGD momentum")
    steps: int = field(3000, positive, help="step budget (members stop earlier at the stopping rule)")
    stop_loss: float = field(0.01, positive, help="stop a member once its full training cross-entropy is <= this")
    log_every: int = field(25, positive, help="check the stopping rule every this many steps")


@config
class Measures:
    mc_samples: int = field(5, positive, help="Monte-Carlo draws per σ in the PAC-Bayes bisections")
    search_depth: int = field(10, positive, help="bisection steps of the PAC-Bayes σ")
    curvature: bool = field(False, help="compute λmax and Tr(H) of the training loss")
    inconsistency: bool = field(False, help="train a twin of every model (other init) for the disagreement")
    compute: bool = field(
        True,
        help="compute the measures (false: none, and no twins; the gap, τ(noise, gap) and the planted oracle are "
        "measured as with them: a control whose check reads only τ(noise, gap) skips the rest)",
    )


@config
class Analysis:
    pairing: str = field(
        "own", one_of(*PAIRINGS), help="own: each model with its own measures; shuffled: the table permuted"
    )


@config
class Config:
    data: Data = Data()
    zoo: Zoo = Zoo()
    train: Train = Train()
    measures: Measures = Measures()
    analysis: Analysis = Analysis()
    seed: int = field(0, help="the run's seed (noise draws, initialization, batch order, measure noise)")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=1000),
        zoo=Zoo(widths=(32, 64), depths=(1,), lrs=(0.1,), weight_decays=(0.0, 1e-4), noises=(0.0, 0.3)),
        train=Train(steps=1500),
        measures=Measures(mc_samples=3, search_depth=6),
    ),
    "quick": Config(),
    # not a published setting (Jiang et al. trained CNNs on CIFAR-10/SVHN): a larger MNIST-1D zoo with every measure
    "full": Config(
        data=Data(num_samples=5000),
        zoo=Zoo(widths=(64, 128, 256), batch_sizes=(50, 100), noises=(0.0, 0.1, 0.2)),
        train=Train(steps=6000),
        measures=Measures(mc_samples=10, search_depth=15, curvature=True, inconsistency=True),
    ),
}
COSTS = {"smoke": "~8 s", "quick": "~60 s", "full": "~30 min"}


def _zoo(cfg: Config) -> list[dict]:
    """Every model's hyper-parameters, grouped so that consecutive models share (width, depth, batch)."""
    z = cfg.zoo
    return [
        {"width": w, "depth": d, "batch": b, "lr": lr, "wd": wd, "noise": p}
        for w in z.widths
        for d in z.depths
        for b in z.batch_sizes
        for lr in z.lrs
        for wd in z.weight_decays
        for p in z.noises
    ]


def _error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(-1) != y).float().mean())


def run(cfg: Config, ctx: RunContext) -> Result:
    base = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    half = base.x_test.shape[0] // 2  # test half 1 scores the gap; half 2 is held out for the planted oracle
    x_held, y_held = base.x_test[half:], base.y_test[half:]
    base = dataclasses.replace(base, x_test=base.x_test[:half], y_test=base.y_test[:half])
    zoo = _zoo(cfg)
    noise_seed, init_seed = ctx.stream_seed("noise"), ctx.stream_seed("init")
    datas = []
    for i, h in enumerate(zoo):
        noisy = with_label_noise(base, h["noise"], seed=noise_seed + i, mode="other")
        datas.append(noisy if cfg.data.noise_labels == "wrong" else base)
    t = cfg.train
    trained: list = [None] * len(zoo)
    twins: list = [None] * len(zoo)
    stopped = np.zeros(len(zoo), dtype=bool)
    groups: dict[tuple, list[int]] = {}
    for i, h in enumerate(zoo):
        groups.setdefault((h["width"], h["depth"], h["batch"]), []).append(i)
    copies = 2 if cfg.measures.inconsistency and cfg.measures.compute else 1
    with ctx.progress(copies * len(zoo) * t.steps, desc="model zoo") as bar:
        for (width, depth, batch), idx in groups.items():
            for copy in range(copies):

                def build(seed, width=width, depth=depth):
                    return MLP(40, base.num_classes, width=width, depth=depth, seed=seed)

                res = train_ensemble(
                    build,
                    [init_seed + 100_003 * copy + i for i in idx],
                    [datas[i] for i in idx],
                    lr=[zoo[i]["lr"] for i in idx],
                    weight_decay=[zoo[i]["wd"] for i in idx],
                    momentum=t.momentum,
                    steps=t.steps,
                    batch_size=batch,
                    log_every=t.log_every,
                    stop_train_loss=t.stop_loss,
                    progress=bar,
                    evaluate=("train",),  # the stopping rule; the errors are measured on the stopped models
                )
                for j, i in enumerate(idx):
                    if copy == 0:
                        trained[i] = res.models[j]
                        stopped[i] = res.stopped_at[j] is not None and not res.diverged[j]
                    else:
                        twins[i] = res.models[j]
    gen = ctx.generator("measures")
    rows: list[dict[str, float]] = []
    train_err, test_err, held_err = (np.zeros(len(zoo)) for _ in range(3))
    for i, h in enumerate(zoo):
        model, d = trained[i], datas[i]
        train_err[i] = _error(model, d.x_train, d.y_train)
        test_err[i] = _error(model, base.x_test, base.y_test)
        held_err[i] = _error(model, x_held, y_held)
        if not cfg.measures.compute:  # the errors above are all the gap and the oracle read
            rows.append({})
            continue
        init = MLP(40, base.num_classes, width=h["width"], depth=h["depth"], seed=init_seed + i)
        try:
            values = generalization_measures(
                model,
                init,
                (d.x_train, d.y_train),
                n_samples=cfg.measures.mc_samples,
                search_depth=cfg.measures.search_depth,
                curvature=cfg.measures.curvature,
                generator=gen,
            )
        except Exception:  # a measure that cannot be computed on this model (e.g. zero margin) is unmeasured
            values = {}
        values.pop("train_accuracy", None)
        if twins[i] is not None:  # disagreement on unlabeled held-out inputs (both twins fit the training set)
            values["inconsistency"] = inconsistency(model, twins[i], (x_held, y_held))
        rows.append(values)
    names = sorted({k for r in rows for k in r})
    table = np.array([[r.get(k, math.nan) for k in names] for r in rows], dtype=float).reshape(len(zoo), len(names))
    gap = test_err - train_err
    oracle = held_err - train_err
    names.append(ORACLE)
    table = np.column_stack([table, oracle])
    # the control (analysis.pairing=shuffled): each model ranked with another model's measures. Both pairings are
    # judged in every run (the permutation has a stream of its own), so the control is derived
    perm = torch.randperm(len(zoo), generator=ctx.generator("pairing")).numpy()
    tables = {"own": table, "shuffled": table[perm]}
    table = tables[cfg.analysis.pairing]

    keep = stopped
    s: dict[str, float] = {"models": float(len(zoo)), "stopped": float(keep.sum())}
    s["stopped_share"] = float(keep.mean())
    kept = table[keep]
    s["finite_share"] = float(np.isfinite(kept).mean()) if kept.size else math.nan
    g = gap[keep]
    hp = {a: [zoo[i][a] for i in np.flatnonzero(keep)] for a in AXES}
    noise = np.array(hp["noise"], dtype=float)
    enough = keep.sum() >= 3 and np.isfinite(g).all()
    s["noise_tau"] = kendall_tau(noise, g) if enough and np.ptp(noise) > 0 else math.nan
    s["mean_gap"] = float(g.mean()) if keep.any() else math.nan
    s["mean_train_error"] = float(train_err[keep].mean()) if keep.any() else math.nan
    rng = np.random.default_rng(ctx.stream_seed("statistics"))
    perms = np.array([rng.permutation(len(g)) for _ in range(PERMUTATIONS)]) if enough else None
    boots = np.array([rng.integers(0, len(g), len(g)) for _ in range(BOOTSTRAP)]) if enough else None
    shuffled = []
    for k, name in enumerate(names):
        col = kept[:, k]
        ok = enough and _rankable(col)
        s[f"tau_{name}"] = kendall_tau(col, g) if ok else math.nan
        s[f"psi_{name}"] = granulated_kendall(hp, col, g).psi if ok else math.nan
        if ok:
            bt = resampled_tau(col, g, boots, both=True)
            s[f"tau_lo_{name}"], s[f"tau_hi_{name}"] = (
                float(v) for v in np.quantile(bt[np.isfinite(bt)], [0.05, 0.95])
            )
            shuffled.append(float(np.abs(resampled_tau(col, g, perms, both=False)).mean()))
        else:  # a constant measure has no τ (not a failure: check (2) catches non-finite values)
            s[f"tau_lo_{name}"] = s[f"tau_hi_{name}"] = math.nan
        s[f"shuffled_tau_{name}"] = shuffled[-1] if ok else math.nan
    s["oracle_tau"] = s[f"tau_{ORACLE}"]
    s["max_shuffled_tau"] = float(np.max(shuffled)) if shuffled else math.nan  # over the measures with a τ
    for pairing, paired in tables.items():  # what the verdict reads under each pairing ("pairing.shuffled.oracle_tau")
        s.update({f"pairing.{pairing}.{key}": v for key, v in _paired_checks(paired[keep], g, perms).items()})
    real = [(abs(s[f"tau_{n}"]), n) for n in names[:-1] if math.isfinite(s[f"tau_{n}"])]
    best = max(real)[1] if real else names[0]
    series = {
        "gap": Series(list(range(len(zoo))), [float(v) for v in gap]),
        "noise": Series(list(range(len(zoo))), [float(h["noise"]) for h in zoo]),
        "stopped": Series(list(range(len(zoo))), [float(v) for v in stopped]),
        "oracle": Series(list(range(len(zoo))), [float(v) for v in table[:, -1]]),
        "best_measure": Series(list(range(len(zoo))), [float(v) for v in table[:, names.index(best)]]),
    }
    return ctx.result(cfg, s, series)


def _rankable(col: np.ndarray) -> bool:
    """A measure has a τ over the stopped models: finite on all of them and not constant."""
    return bool(np.isfinite(col).all() and np.ptp(col) > 0)


def _paired_checks(kept: np.ndarray, gap: np.ndarray, perms: np.ndarray | None) -> dict[str, float]:
    """The checked values that depend on which measures each model is paired with, computed as ``run`` computes
    them for its own pairing: ``kept`` is the (stopped model, measure) table, the oracle last; ``perms`` is None
    when too few models stopped for any τ."""
    ranked = [col for col in kept.T if perms is not None and _rankable(col)]
    shuffled = [float(np.abs(resampled_tau(col, gap, perms, both=False)).mean()) for col in ranked]
    oracle = kept[:, -1]
    return {
        "finite_share": float(np.isfinite(kept).mean()) if kept.size else math.nan,
        "oracle_tau": kendall_tau(oracle, gap) if perms is not None and _rankable(oracle) else math.nan,
        "max_shuffled_tau": float(np.max(shuffled)) if shuffled else math.nan,
    }


def _measure_names(summary: dict) -> list[str]:
    return sorted(k[4:] for k in summary if k.startswith("tau_") and not k.startswith(("tau_lo_", "tau_hi_")))


def verdict(result: Result) -> Verdict:
    s = result.summary
    # the pairing the config chooses, by name: every run judges both (the mis-paired control is derived)
    paired = f"pairing.{result.config.analysis.pairing}."
    return Verdict(
        (
            Check("models met the stopping rule: share of the zoo", s["stopped_share"], ">=", MIN_STOPPED),
            Check(
                "every measure finite on every stopped model: share finite",
                s[paired + "finite_share"],
                ">=",
                MIN_FINITE,
            ),
            Check("gap rank-correlates with label noise: τ(noise, gap)", s["noise_tau"], ">=", MIN_NOISE_TAU),
            Check("planted oracle scores high: τ(held-out gap, gap)", s[paired + "oracle_tau"], ">=", MIN_ORACLE_TAU),
            Check(
                f"shuffled gaps give small |τ|: max over measures of mean |τ| ({PERMUTATIONS} permutations)",
                s[paired + "max_shuffled_tau"],
                "<=",
                MAX_SHUFFLED_TAU,
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    fig, axes = subplots(1, 3, width=4.4, height=4.6)
    bar_ax, oracle_ax, best_ax = axes[0]
    names = [n for n in _measure_names(s) if math.isfinite(s.get(f"tau_{n}", math.nan))]
    names.sort(key=lambda n: s[f"tau_{n}"])
    ys = np.arange(len(names))
    taus = np.array([s[f"tau_{n}"] for n in names])
    lo = np.array([s[f"tau_lo_{n}"] for n in names])
    hi = np.array([s[f"tau_hi_{n}"] for n in names])
    bar_ax.errorbar(
        taus,
        ys,
        xerr=[np.clip(taus - lo, 0, None), np.clip(hi - taus, 0, None)],
        fmt="o",
        color=PALETTE["test"],
        ms=4,
        label="τ (90% boot)",
    )
    bar_ax.plot([s[f"psi_{n}"] for n in names], ys, "s", color=PALETTE["train"], ms=3, label="Ψ")
    bar_ax.plot([s[f"shuffled_tau_{n}"] for n in names], ys, "|", color=PALETTE["control"], label="|τ| shuffled gaps")
    bar_ax.axvline(0, color="k", linewidth=0.8)
    bar_ax.set_yticks(ys, names, fontsize=6)
    bar_ax.set(xlabel="Kendall τ / Ψ with the gap", title="measures vs generalization gap")
    bar_ax.legend(fontsize=7, loc="lower right")
    gap = np.array(result.curve("gap")[1])
    noise = np.array(result.curve("noise")[1])
    stopped = np.array(result.curve("stopped")[1]) > 0
    for ax, key, label in (
        (oracle_ax, "oracle", f"planted oracle (τ = {s['oracle_tau']:.2f})"),
        (best_ax, "best_measure", "best real measure by |τ|"),
    ):
        x = np.array(result.curve(key)[1])
        sc = ax.scatter(x[stopped], gap[stopped], c=noise[stopped], cmap="viridis", s=18)
        ax.scatter(x[~stopped], gap[~stopped], marker="x", color=PALETTE["control"], label="did not stop")
        ax.set(xlabel=label, ylabel="generalization gap (test − train error)")
    real = [n for n in names if n != ORACLE]
    if real:
        b = max(real, key=lambda n: abs(s[f"tau_{n}"]))
        best_ax.set_title(f"{b}: τ = {s[f'tau_{b}']:.2f}, Ψ = {s[f'psi_{b}']:.2f}", fontsize=9)
    oracle_ax.set_title(f"gap vs held-out gap; τ(noise, gap) = {s['noise_tau']:.2f}", fontsize=9)
    fig.colorbar(sc, ax=best_ax, label="label noise")
    n = int(cfg.data.num_samples * cfg.data.train_split)
    fig.suptitle(
        f"generalization measures: {int(s['stopped'])}/{int(s['models'])} MLPs on MNIST-1D ({n} train) "
        f"stopped at train CE {cfg.train.stop_loss:g}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="generalization-measures",
    summary="a zoo of MLPs trained to train-CE 0.01: Kendall τ and Ψ of each generalization measure with the gap",
    papers=(
        "Jiang, Neyshabur, Mobahi, Krishnan, Bengio 2020 — Fantastic generalization measures and where to find them",
        "Dziugaite, Drouin, Neal, Rajkumar, Caballero, Wang, Mitliagkas, Roy 2020 — In search of robust measures "
        "of generalization",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("stopped_share", "noise_tau", "oracle_tau", "max_shuffled_tau", "mean_gap"),
    controls=(
        Control(
            "placebo noise",
            {"data.noise_labels": "kept", "measures.compute": False},
            must_fail=("gap rank-correlates with label noise",),
            why="the noise levels stay on the models but no label is changed: nothing wrong is memorized, so the "
            "gap no longer follows the nominal noise",
        ),
        Control(
            "mis-paired measures",
            {"analysis.pairing": "shuffled"},
            must_fail=("planted oracle scores high",),
            why="the measure table is permuted across models: the oracle ranks other models' gaps, at chance",
            derived=True,
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 105)),
        note="quick, one thread (a quick run costs ~50 s, so seeds 100-104). Preset: stopped share 0.969-1.0, "
        "finite share 1.0, τ(noise, gap) 0.704-0.723, oracle τ 0.647-0.711, max shuffled mean |τ| 0.112-0.123. "
        "Placebo noise (data.noise_labels=kept): τ(noise, gap) −0.111-0.058 (fails 5/5 at 0.4), oracle τ "
        "0.308-0.449, stopped share 0.94-1.0. Mis-paired measures (analysis.pairing=shuffled): oracle τ "
        "−0.182-−0.026 (fails 5/5 at 0.3), τ(noise, gap) unchanged. The thresholds of the two mechanism "
        "checks are the midpoints between the preset's worst and the control's best, rounded; the others are "
        "fixed a priori."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "generalization-measures --calibration`, AVX-512 kernels): all 5 pass and both controls fail 5/5; τ(noise, "
        "gap) 0.68-0.72, oracle τ 0.63-0.71, shuffled |τ| at most 0.118. `observed` holds these values.",
        observed={
            "stopped_share": (0.9688, 0.9688, 0.9688, 0.9688, 0.9688),
            "finite_share": (1.0, 1.0, 1.0, 1.0, 1.0),
            "noise_tau": (0.7207, 0.7223, 0.7223, 0.6817, 0.7223),
            "oracle_tau": (0.7072, 0.6298, 0.6269, 0.6384, 0.6891),
            "max_shuffled_tau": (0.1173, 0.1095, 0.1182, 0.1098, 0.1151),
        },
    ),
)
