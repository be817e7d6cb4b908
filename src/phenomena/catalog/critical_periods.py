"""Critical learning periods: a deficit early in training permanently damages a deep linear network's matrix
completion, while the same deficit late does no harm, and a depth-1 model is insensitive to it.

Achille, Rovere & Soatto (2019) found that a deep network trained on blurred images for the first epochs never
recovers its accuracy when the blur is removed, while the same blur late in training is harmless: there is a
critical period early in training. Kleinman, Achille & Soatto (2024) show that the phenomenon needs neither
nonlinearity nor biology: a deep *linear* network completing a low-rank matrix by gradient descent from a small
initialization has one. During the deficit the net sees fewer entries than it can recover the matrix from; its
singular values grow one by one (σ̇ ∝ σ^{2−2/N}, the incremental learning of deep factorizations) and, to fit
the few entries, it learns extra spurious components. Once a component is large, the dynamics are hard to undo:
after the switch to the full set of entries the deep net fits the new ones by adjusting what it has, and keeps
the spurious components instead of returning to the low-rank completion that a net trained on the full set from
the start finds. A short deficit, ending before the components are learned, does no damage; a longer one does,
and the damage saturates. A deficit applied late, once the net has learned the full set, does nothing: the
deficit's entries are a subset of those already fitted, so their gradient is already ≈ 0. Depth 1 (W itself)
has no critical period: its unobserved entries have zero gradient and never move from the initialization,
whatever the schedule, and its observed entries converge to the same values — the coupling of the entries
through the factorization, which is the mechanism, is absent.

Setting (``mjkleinman/CriticalPeriodDeepLinearNets``, ``main-num-examples.py``): an n × n ground truth of rank r,
UVᵀ with Gaussian U, V scaled to Frobenius norm n (:func:`phenomena.data.low_rank.low_rank_completion`);
``observed`` entries drawn without replacement, the deficit's ``deficit_observed`` entries a random subset of
them (nested, as in the reference code). The net is a product W = W_N ⋯ W_1 of square factors with Gaussian
init of std init^{1/N}/√n (‖W‖_F ≈ init·√n), init = 10⁻³, trained by full-batch gradient descent with a fixed
step on ½ × the mean squared error over the entries in use (the reference's loss and optimizer). Each deficit
length T in a grid is trained from ``inits`` (6) independent initializations, all on the same matrix and entries:
the deficit's entries for the first T steps, then the full set for ``recover`` steps (the reference's schedule).
The claim is about the *expected* damage as a function of T, so the checks use the mean final error over the
initializations (their spread is reported: per-init minimum and maximum of each statistic). All schedules ×
initializations are trained together as a batch of independent factorizations (batched float32 matmuls), each
frozen once its schedule ends. The late-deficit run trains
on the full set for ``recover`` steps and then on the deficit's entries for max T steps, to the end. The
reference uses n = 100, r = 5, 1000 then 1250-2000 entries, lr 0.2, T up to 10⁵ and 3·10⁴ steps after the
switch (about 10⁵ steps of 100 × 100 products per T: CPU-hours per grid). ``quick`` is at n = 50, r = 5 (475
degrees of freedom r(2n − r)): 490 entries during the deficit (the reference's 1000/975 ≈ 1.03 ratio) and 850
after (1.8), step 3 (the learning's time scale is ∝ lr·σ/n²; the top curvature ≈ N σ_max^{4/3}/n² ≈ 0.07
keeps it stable); the components are learned in ≈ 600 steps, the grid spans T = 0-3000 and 5000 steps follow
the switch. ``full`` is the reference's matrix (n = 100, 1000 → 1500 entries) at step 1 (5 × the reference's).

Test error: relative Frobenius error on the entries never observed, ‖(W − W*)_Ωᶜ‖ / ‖W*_Ωᶜ‖ (the reference
reports the MSE over all entries; on the unobserved ones depth 1 sits at exactly 1).
"Permanent" is relative to the training budget, as in the reference: after a long deficit the error still creeps
down after the switch (on one calibration seed, T = 3000: from ≈ 0.1 to 0.065 over the 5000 recovery steps),
orders of magnitude slower than the no-deficit net learned the matrix (to 0.004 in ≈ 1500 steps).

Verdict on the judged depth (``train.depth``; depth 1 is always trained too, as the reference curve):

- the deficit damages: mean test error after the longest deficit / with no deficit (T = 0) is large;
- the damage grows with the deficit length: Kendall τ(T, mean test error) over the grid is high (τ-a; pairs whose
  errors agree to 10⁻⁹ relative count as neither concordant nor discordant, so a flat curve has τ = 0 — a measured
  failing value, where scipy's τ-b, ``phenomena.analysis.kendall_tau``, is nan);
- a late deficit does not damage: mean test error of the late-deficit runs / after the same deficit early is small.

Control: depth 1 (``train.depth=1``). Its unobserved entries never move, so its error is the same for every T:
the ratio is exactly 1 and τ = 0 — the three checks fail on measured values.

Calibration (quick, 6 inits, seeds 100-109, one thread): with no deficit depth 3 recovers the matrix (mean test
error 0.0026-0.027); after the longest deficit (3000 steps) its mean error is 0.043-0.26, 3.9-50 × larger; τ(T,
mean error) 0.83-1.0; the late deficit leaves it at 0.028-0.26 × the early deficit's. The single inits spread
widely: per-init τ 0.11-1.0, per-init damage ratio 0.40-86 (seed 105: one init did not recover even without a
deficit), per-init late ratio up to 2.5 — a single init is not a reliable estimate of the expected damage. Depth 1
sits at test error 1.00002 for every T, late included: damage ratio 1, τ 0, late ratio 1 on all 10 seeds.
Thresholds: late ratio 0.5 ≈ √(0.26 · 1), the geometric midpoint of the preset's worst and the control's value;
τ 0.4, about midway between the control's 0 and the preset's worst 0.83 (was 0.25 with one init); damage ratio
2.5 kept from the one-init calibration (the midpoint √3.9 ≈ 2.0 would be looser; 2.5 stays 1.5 × below the worst
calibration seed and 2.5 × above the control).

History. Tried first (one init per T, quick seeds 100-104): 730 entries after the deficit (the reference's
1500/975 ratio, 1.54) — at n = 50 that is too few for depth 3 even without a deficit on some seeds (seed 100:
test error 0.40 at T = 0, seed 103: 0.05), so the damage ratio fell to 1.4-2.3 there (2/5 passed); 850 entries
(ratio 1.8) make the no-deficit baseline recover on every seed, which a critical period needs. The same total
steps for every T (short deficits then get more recovery) and 3000 recovery steps (T = 0 not yet converged, 0.11
on seed 0) were replaced by the reference's fixed recovery after the switch, 5000 steps.

One init per T (float64; calibration seeds 100-109: damage ratio 5.6-141, τ 0.39-0.94, late ratio 0.010-0.24,
thresholds 2.5, 0.25, 0.5) FAILED the held-out verify, 2/3: on seed 1 the final error vs T was non-monotone
(T = 0: 0.008, 100: 0.065, 200: 0.37, 300: 0.59, 400: 0.007, 600: 0.006, 1000: 0.017, 2000: 0.035, 3000: 0.039;
τ = 0): a switch while the components are being learned did more damage than a later one for that
initialization (calibration seed 105 showed the same spike: T = 200: 0.15, T = 300-400: 0.008-0.009, T ≥ 1000:
0.11-0.19). One initialization per T is one noisy, idiosyncratic draw of the damage curve, whereas the paper's
claim is about the expected damage vs deficit length; the design therefore changed to the mean over 6
independent initializations per T (same problem), re-calibrated on seeds 100-109 as above (not a threshold
change on the held-out seeds). Held-out verify (seeds 0-2) with the mean: 3/3 pass (damage ratio 9.9-21, τ
0.83-1.0, late ratio 0.059-0.11; per-init τ down to 0.39), the depth-1 control fails 3/3.

The smoke preset (30 × 30, rank 3, 180 → 310 entries) only proves the pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from phenomena.analysis.matrix_completion import masked_relative_error
from phenomena.config import at_least, config, field, positive, require
from phenomena.data.low_rank import low_rank_completion
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.probes.rank import effective_rank
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict

# Set on calibration seeds 100-109 (quick; see ENTRY.calibration).
MIN_DAMAGE_RATIO = 2.5  # test error after the longest early deficit / with no deficit
MIN_TAU = 0.4  # Kendall τ(T, mean test error): a rising trend; past the critical period the errors plateau
MAX_LATE_RATIO = 0.5  # test error late deficit / early deficit of the same length
TIE_RTOL = 1e-9  # errors closer than this (relative) are ties in τ


@config
class Data:
    n: int = field(50, at_least(4), help="the ground truth is n × n")
    rank: int = field(5, positive, help="rank of the ground truth UVᵀ (Gaussian U, V; Frobenius norm n)")
    observed: int = field(850, positive, help="entries observed after the deficit, drawn without replacement")
    deficit_observed: int = field(490, positive, help="entries observed during the deficit: a subset of those")

    def __post_init__(self):
        require(self.rank < self.n, "data.rank must be below data.n")
        require(self.observed < self.n * self.n, "data.observed must be below data.n²")
        require(self.deficit_observed < self.observed, "data.deficit_observed must be below data.observed")


@config
class Train:
    depth: int = field(3, positive, help="depth N of the judged factorization (depth 1 is always run too)")
    deficits: tuple[int, ...] = field(
        (0, 100, 200, 300, 400, 600, 1000, 2000, 3000), at_least(0), help="deficit lengths T (steps), increasing from 0"
    )
    recover: int = field(5000, at_least(1), help="steps on the full set of entries after the deficit")
    lr: float = field(3.0, positive, help="fixed gradient-descent step on ½·mean squared error (reference: 0.2)")
    init_scale: float = field(1e-3, positive, help="init: factors N(0, init^{2/N}/n), so ‖W‖_F ≈ init·√n")
    inits: int = field(
        6, positive, help="independent initializations per schedule, on the same problem: the checks use the mean"
    )
    points: int = field(60, at_least(3), help="read-outs of the training curves")

    def __post_init__(self):
        d = self.deficits
        require(len(d) >= 3, "train.deficits needs at least 3 lengths")
        require(d[0] == 0 and list(d) == sorted(set(d)), "train.deficits must start at 0 and increase strictly")


@config
class Config:
    data: Data = Data()
    train: Train = Train()
    seed: int = field(0, help="the run's seed (ground truth, observed sets, initialization)")


PRESETS = {
    # 30 × 30 rank 3: 180 → 310 entries, the quick ratios to the 171 degrees of freedom (≈ 1.05 and 1.8)
    "smoke": Config(
        data=Data(n=30, rank=3, observed=310, deficit_observed=180),
        train=Train(deficits=(0, 200, 600, 1000), recover=1500, lr=3.0, points=30),
    ),
    "quick": Config(),
    # the reference's matrix (100 × 100, rank 5, 1000 → 1500 entries), step 1 instead of 0.2
    "full": Config(
        data=Data(n=100, rank=5, observed=1500, deficit_observed=1000),
        train=Train(deficits=(0, 500, 1000, 2000, 3000, 5000, 8000), recover=10_000, lr=1.0, points=80),
    ),
}
COSTS = {"smoke": "~5 s", "quick": "~20 s", "full": "~30 min"}


def train_schedules(
    truth: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray],
    deficit_steps: np.ndarray,
    depth: int,
    t: Train,
    seeds: Sequence[int],
    dtype=np.float64,
) -> dict:
    """Train one depth-N factorization per (initialization, schedule) pair, all as one batch.

    Each seed in ``seeds`` draws one initialization, shared by every schedule. Row k of ``deficit_steps`` is
    (start, stop, end): schedule k uses the deficit mask ``masks[0]`` for start <= step < stop and the full mask
    ``masks[1]`` otherwise, and stops after ``end`` steps (its factors are frozen from then on, so its read-outs
    stay at its final value). Returns the end-to-end matrices (M inits × K schedules × n × n), the read-out steps,
    and the test error (unobserved entries) and training MSE (on the entries in use) of each pair at each read-out
    (read-outs × M × K). The factors are trained in ``dtype`` (the entry uses float32: twice as fast, its
    rounding ~10⁻⁶ relative, far below the errors compared).
    """
    deficit, full = masks
    n, k, m = truth.shape[0], len(deficit_steps), len(seeds)
    order = np.argsort(deficit_steps[:, 2], kind="stable")  # by end, so the schedules still running are a suffix
    # batch index = rank of the schedule's end · M + init
    start, stop, end = (np.repeat(deficit_steps[order, i], m) for i in range(3))
    total = int(end.max())
    per_init = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        per_init.append(
            [rng.standard_normal((n, n)) * (t.init_scale ** (1 / depth) / math.sqrt(n)) for _ in range(depth)]
        )
    factors = [np.tile(np.stack([fs[j] for fs in per_init]), (k, 1, 1)).astype(dtype) for j in range(depth)]
    truth = truth.astype(dtype)
    unobserved = ~full
    # d(½·mean squared error)/dW = residual · mask / |mask|: the weights change only at a schedule's switch
    per_entry = (deficit / deficit.sum())[None].astype(dtype), (full / full.sum())[None].astype(dtype)
    switches = set(start.tolist()) | set(stop.tolist()) | {0}
    record = set(np.unique(np.linspace(0, total, t.points).round().astype(int)).tolist())
    curves: dict[str, list] = {"steps": [], "test_error": [], "train_mse": []}

    def product(ws):
        prefix = [ws[0]]  # prefix[j] = W_{j+1} ⋯ W_1
        for w in ws[1:]:
            prefix.append(w @ prefix[-1])
        return prefix

    for step in range(total + 1):
        if step in switches:
            in_deficit = (start <= step) & (step < stop)
            weight = np.where(in_deficit[:, None, None], *per_entry)
        if step in record:
            e2e = product(factors)[-1]
            finite = np.isfinite(e2e).all(axis=(1, 2))
            diff = e2e - truth
            curves["steps"].append(step)
            curves["train_mse"].append((diff * diff * weight).sum(axis=(1, 2)))
            curves["test_error"].append(
                [masked_relative_error(e2e[i], truth, unobserved) if finite[i] else math.nan for i in range(k * m)]
            )
        lo = int(np.searchsorted(end, step, side="right"))  # the schedules with end > step train; the rest are frozen
        if lo == len(end):
            break
        live = [w[lo:] for w in factors]  # views: updated in place
        prefix = product(live)
        grad = (prefix[-1] - truth) * weight[lo:]
        grads, suffix = [], None  # suffix = W_N ⋯ W_{j+2}
        for j in reversed(range(depth)):
            left = grad if suffix is None else np.swapaxes(suffix, 1, 2) @ grad
            grads.append(left if j == 0 else left @ np.swapaxes(prefix[j - 1], 1, 2))
            suffix = live[j] if suffix is None else suffix @ live[j]
        grads.reverse()
        for w, g in zip(live, grads, strict=True):
            w -= dtype(t.lr) * g
    e2e = product(factors)[-1]
    back = np.argsort(order)  # schedule k sits at rank back[k]
    reads = len(curves["steps"])
    return {
        "e2e": e2e.reshape(k, m, n, n)[back].swapaxes(0, 1),
        "steps": curves["steps"],
        "test_error": np.array(curves["test_error"]).reshape(reads, k, m)[:, back].swapaxes(1, 2),
        "train_mse": np.array(curves["train_mse"]).reshape(reads, k, m)[:, back].swapaxes(1, 2),
    }


def _tau_with_ties(x, y, rtol: float = TIE_RTOL) -> float:
    """Kendall's τ-a of (x, y): (concordant − discordant pairs) / all pairs, with y's ties counted as neither.

    Two y values are tied when they differ by at most ``rtol`` × max |y|, so a flat y (the depth-1 control) gives
    τ = 0, a measured failing value, where τ-b (``phenomena.analysis.kendall_tau``) is nan; nan if any value is
    not finite.

    Example: ``_tau_with_ties([0, 1, 2], [0.1, 0.3, 0.2])`` is 1/3.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    dy = y[:, None] - y[None, :]
    tol = rtol * float(np.abs(y).max())
    sy = np.where(np.abs(dy) <= tol, 0.0, np.sign(dy))
    sx = np.sign(x[:, None] - x[None, :])
    iu = np.triu_indices(len(x), 1)
    return float((sx * sy)[iu].sum() / len(iu[0]))


def _erank(x: np.ndarray) -> float:
    """The effective rank of a finite matrix (Roy & Vetterli; :func:`phenomena.probes.rank.effective_rank`)."""
    return effective_rank(torch.from_numpy(np.ascontiguousarray(x)))


def run(cfg: Config, ctx: RunContext) -> Result:
    d = cfg.data
    truth, full = low_rank_completion(
        d.n, d.rank, d.observed, ctx.stream_seed("truth"), ctx.stream_seed("observations")
    )
    picked = np.flatnonzero(full.ravel())
    chosen = np.random.default_rng(ctx.stream_seed("deficit")).choice(picked, cfg.data.deficit_observed, replace=False)
    deficit = np.zeros(full.size, dtype=bool)
    deficit[chosen] = True
    deficit = deficit.reshape(full.shape)
    t = cfg.train
    longest, total = max(t.deficits), max(t.deficits) + t.recover
    # early deficits [0, T) then `recover` steps (the reference's schedule), then the late one [recover, total)
    schedules = np.array([(0, d, d + t.recover) for d in t.deficits] + [(t.recover, total, total)])
    depths = sorted({1, t.depth})
    init_seed = ctx.stream_seed("init")
    with ctx.progress(len(depths), desc="critical periods") as bar:
        nets = {}
        for d in depths:
            seeds = [init_seed + 1000 * d + i for i in range(t.inits)]
            nets[d] = train_schedules(truth, (deficit, full), schedules, d, t, seeds, np.float32)
            bar.update(1)

    summary: dict[str, float] = {"erank_truth": _erank(truth), "judged_depth": float(t.depth)}
    series: dict[str, Series] = {}
    top = min(cfg.data.rank + 5, cfg.data.n)
    names = [f"T{T}" for T in t.deficits] + ["late"]
    for d, net in nets.items():
        final = net["test_error"][-1]  # inits × schedules
        mean = final.mean(axis=0)  # the expected error: nan if any init's is
        early, late = mean[:-1], mean[-1]
        for i, name in enumerate(names):
            summary[f"test_error_depth{d}_{name}"] = float(mean[i])
            summary[f"test_error_depth{d}_{name}_min"] = float(final[:, i].min())
            summary[f"test_error_depth{d}_{name}_max"] = float(final[:, i].max())
        summary[f"max_train_mse_depth{d}"] = float(np.max(net["train_mse"][-1]))  # nan if any is
        summary[f"damage_ratio_depth{d}"] = float(early[-1] / early[0])
        summary[f"tau_depth{d}"] = _tau_with_ties(t.deficits, early)
        summary[f"late_ratio_depth{d}"] = float(late / early[-1])
        # the spread over initializations: each init's own statistics
        per_init = {
            "damage_ratio": final[:, len(t.deficits) - 1] / final[:, 0],
            "tau": np.array([_tau_with_ties(t.deficits, f[:-1]) for f in final]),
            "late_ratio": final[:, -1] / final[:, len(t.deficits) - 1],
        }
        for key, values in per_init.items():
            summary[f"{key}_depth{d}_init_min"] = float(np.min(values))
            summary[f"{key}_depth{d}_init_max"] = float(np.max(values))
        series[f"final_test_error_depth{d}"] = Series(list(t.deficits), [float(e) for e in early])
        for j, f in enumerate(final):
            series[f"final_test_error_depth{d}_init{j}"] = Series(list(t.deficits), [float(e) for e in f[:-1]])
        curve = net["test_error"].mean(axis=1)  # read-outs × schedules
        for i, name in enumerate(names):
            series[f"test_error_depth{d}_{name}"] = Series(net["steps"], [float(v) for v in curve[:, i]])
        e2e = net["e2e"]
        for i, name in enumerate(names):
            finite = bool(np.isfinite(e2e[:, i]).all())
            sv = np.linalg.svd(e2e[:, i], compute_uv=False)[:, :top].mean(axis=0) if finite else np.full(top, np.nan)
            series[f"singular_depth{d}_{name}"] = Series(list(range(1, top + 1)), [float(v) for v in sv])
            summary[f"erank_depth{d}_{name}"] = float(np.mean([_erank(w) for w in e2e[:, i]])) if finite else math.nan
    d = t.depth
    summary["damage_ratio"] = summary[f"damage_ratio_depth{d}"]
    summary["tau"] = summary[f"tau_depth{d}"]
    summary["late_ratio"] = summary[f"late_ratio_depth{d}"]
    summary["test_error_no_deficit"] = summary[f"test_error_depth{d}_T0"]
    summary["test_error_longest_deficit"] = summary[f"test_error_depth{d}_T{longest}"]
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    d = int(s["judged_depth"]) if math.isfinite(s.get("judged_depth", math.nan)) else "N"
    return Verdict(
        (
            Check(
                f"an early deficit damages depth {d}: test error after the longest deficit / no deficit",
                s["damage_ratio"],
                ">=",
                MIN_DAMAGE_RATIO,
            ),
            Check(
                f"the damage grows with the deficit length: Kendall tau(T, test error depth {d})",
                s["tau"],
                ">=",
                MIN_TAU,
            ),
            Check(
                f"a late deficit does not damage: test error late / early deficit of the same length, depth {d}",
                s["late_ratio"],
                "<=",
                MAX_LATE_RATIO,
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    t = cfg.train
    depths = sorted({1, t.depth})
    deep = t.depth
    fig, axes = subplots(1, 3, width=4.0)
    err_ax, curve_ax, sv_ax = axes[0]
    longest = max(t.deficits)

    for d, color in zip(depths, (PALETTE["control"], PALETTE["train"]), strict=False):
        x, y = result.curve(f"final_test_error_depth{d}")
        err_ax.plot(x, y, "o-", color=color, label=f"depth {d}: [0, T), mean")
        for j in range(t.inits):
            xj, yj = result.curve(f"final_test_error_depth{d}_init{j}")
            err_ax.plot(xj, yj, "-", lw=0.7, alpha=0.3, color=color, label=None if j else f"depth {d}: each init")
        err_ax.plot(
            [longest], [s[f"test_error_depth{d}_late"]], "*", ms=11, color=color, mec="k", mew=0.5,
            label=f"depth {d}: late deficit",
        )  # fmt: skip
    err_ax.set_yscale("log")
    err_ax.set(
        xlabel="deficit length T (steps)",
        ylabel="final error on unobserved entries",
        title=f"{cfg.data.deficit_observed} entries, then {cfg.data.observed} ({t.inits} inits)",
    )
    err_ax.set_ylim(top=300)  # room above depth 1 (at 1) for the legend
    err_ax.legend(fontsize=6, loc="upper center", ncol=2)

    shown = [T for T in t.deficits if T in (0, longest)] + [t.deficits[len(t.deficits) // 2]]
    cmap = [PALETTE["train"], PALETTE["test"], PALETTE["accent"]]
    for T, color in zip(sorted(set(shown)), cmap, strict=False):
        steps, err = result.curve(f"test_error_depth{deep}_T{T}")
        curve_ax.plot(steps, err, color=color, label=f"depth {deep}, T = {T}")
        if T:
            curve_ax.axvline(T, color=color, lw=0.8, linestyle=":")
    steps, err = result.curve(f"test_error_depth{deep}_late")
    curve_ax.plot(steps, err, color="k", alpha=0.5, linestyle="--", label=f"depth {deep}, late deficit")
    curve_ax.axvline(t.recover, color="k", alpha=0.5, lw=0.8, linestyle=":")
    steps, err = result.curve("test_error_depth1_T0")
    curve_ax.plot(steps, err, color=PALETTE["control"], label="depth 1 (any T)")
    curve_ax.set_yscale("log")
    curve_ax.set(
        xlabel="step", ylabel="relative error on unobserved entries", title="mean training curves (: = switch)"
    )
    curve_ax.legend(fontsize=7, loc="lower left")

    for T, color in zip(sorted(set(shown)), cmap, strict=False):
        idx, sv = result.curve(f"singular_depth{deep}_T{T}")
        sv_ax.semilogy(idx, sv, "o-", ms=3, color=color, label=f"T = {T} (erank {s[f'erank_depth{deep}_T{T}']:.1f})")
    idx, sv = result.curve(f"singular_depth{deep}_late")
    sv_ax.semilogy(idx, sv, "x--", ms=4, color="k", alpha=0.5, label="late deficit")
    sv_ax.axvline(cfg.data.rank + 0.5, color="k", alpha=0.3, lw=0.8)
    sv_ax.set(
        xlabel="index i", ylabel="singular value σᵢ (mean over inits)", title=f"depth {deep}: spurious components"
    )
    sv_ax.legend(fontsize=7)
    fig.suptitle(
        f"critical periods: {cfg.data.n}×{cfg.data.n} rank-{cfg.data.rank} completion, init {t.init_scale:g}, "
        f"GD step {t.lr:g}"
    )
    fig.tight_layout()
    return fig


ENTRY = Entry(
    name="critical-periods",
    summary="an early deficit of observed entries permanently damages a deep linear net's matrix completion",
    papers=(
        "Achille, Rovere, Soatto 2019 — Critical learning periods in deep networks",
        "Kleinman, Achille, Soatto 2024 — Critical learning periods emerge even in deep linear networks",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("damage_ratio", "tau", "late_ratio", "test_error_no_deficit", "test_error_longest_deficit"),
    controls=(
        Control(
            "depth 1",
            {"train.depth": 1},
            must_fail=("an early deficit damages", "the damage grows", "a late deficit does not damage"),
            why="depth 1 does not couple the entries: the unobserved ones never move, whatever the schedule",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, 6 inits per T, one thread. Preset (mean over inits): damage ratio 3.9-50, Kendall tau "
        "0.83-1.0, late ratio 0.028-0.26 (mean test error 0.0026-0.027 with no deficit, 0.043-0.26 after 3000 deficit "
        "steps); per-init spread: tau 0.11-1.0, damage ratio 0.40-86, late ratio up to 2.5; 10/10 pass. Depth-1 "
        "control: 1.0, 0.0 and 1.0 on all 10 seeds (the unobserved entries never move), failing the three checks "
        "10/10. Thresholds: late 0.5 at the geometric midpoint, tau 0.4 midway (was 0.25), damage 2.5 kept (midpoint "
        "2.0 would be looser). Replaces the one-init design (damage 5.6-141, tau 0.39-0.94, late 0.010-0.24 on these "
        "seeds), which failed held-out seed 1 (tau 0: a non-monotone single-init curve). With 730 entries after the "
        "deficit the no-deficit net did not recover on seeds 100 and 103: 850 entries used instead.",
        observed={
            "damage_ratio": (15.1787, 17.9691, 28.7309, 16.6698, 19.1656, 3.87, 7.1715, 16.6129, 49.8883, 17.1181),
            "tau": (1.0, 0.9444, 0.9444, 1.0, 1.0, 0.8333, 1.0, 0.9444, 1.0, 0.8889),
            "late_ratio": (0.0755, 0.0695, 0.0426, 0.0817, 0.0532, 0.2645, 0.1714, 0.065, 0.0276, 0.0662),
            "test_error_no_deficit": (0.0051, 0.0056, 0.0035, 0.0026, 0.0137, 0.0271, 0.006, 0.0116, 0.0031, 0.0077),
            "test_error_longest_deficit": (
                0.0774,
                0.1006,
                0.1006,
                0.044,
                0.2619,
                0.1049,
                0.0429,
                0.1934,
                0.1545,
                0.1316,
            ),
            "tau_depth3_init_min": (0.7222, 0.7778, 0.5556, 0.7222, 0.6667, 0.1111, 0.6111, 0.4444, 0.8889, 0.7778),
            "damage_ratio_depth3_init_min": (
                8.0046,
                4.1352,
                15.1097,
                8.3227,
                9.9025,
                0.398,
                3.6156,
                7.4207,
                23.7448,
                8.5343,
            ),
            "late_ratio_depth3_init_max": (
                0.1303,
                0.2662,
                0.0779,
                0.1561,
                0.0992,
                2.4635,
                0.3526,
                0.1357,
                0.0645,
                0.1404,
            ),
        },
    ),
)
