"""Implicit low rank: gradient descent on a deep matrix factorization from a small initialization completes a
low-rank matrix from few entries better, and with lower effective rank, than a shallow one and than the
minimum-nuclear-norm completion.

Arora, Cohen, Hu & Luo (2019) fit the observed entries of a low-rank matrix with an end-to-end product
W = W_N ⋯ W_1 of N square factors, trained by gradient descent from a small random initialization on the mean
squared error over the observed entries only. Every depth can interpolate the observations, so which completion
is found is decided by the optimizer's implicit bias. Depth 1 (W itself) never moves the unobserved entries
(their gradient is zero): they stay at the initialization, ≈ 0, and nothing is recovered. Depth 2 was conjectured
to find the minimum-nuclear-norm completion (Gunasekar et al. 2017); Arora et al. show that depth ≥ 3 departs from
it: singular values evolve as σ̇ ∝ σ^{2−2/N}, so large ones grow faster than small ones and the dynamics learn one
component at a time, towards lower rank than any norm minimization explains. In the few-sample regime, where
nuclear-norm minimization fails to recover the matrix, depth 3 still recovers it (their matrix-completion experiments).

Setting (as in the paper's code, ``roosephu/deep_matrix_factorization``): a 100 × 100 ground truth of rank 5,
UVᵀ with Gaussian U, V, scaled to Frobenius norm 100 (unit-rms entries); 2000 entries observed, drawn without
replacement (20% of the matrix, about twice the 975 degrees of freedom of a rank-5 matrix: the regime of the paper
where nuclear norm fails). Factors i.i.d. Gaussian with std init^{1/N}/√n, so the product's Frobenius norm is
≈ init·√n whatever the depth; init = 10⁻³. The optimizer is the paper code's: gradient descent with one global
step size lr/(√v + ε), v the bias-corrected running mean (decay 0.99) of the squared gradient norm of all factors
together — plain gradient directions with an adaptive scalar step (a time change of gradient flow, which gets the
depth-3 net off its saddle at 0 in thousands of steps instead of millions). Training stops when the training MSE
drops below 10⁻⁶ (the paper's threshold) or at the step budget. ``quick`` uses lr 3·10⁻³ (the paper's grid used
10⁻³ and 3·10⁻⁴; ``full`` uses 10⁻³ and adds depth 4); the baseline, argmin ‖X‖_* subject to agreeing exactly
with the observations, is solved by ADMM to a relative residual of 10⁻⁷ with a dual certificate
(:func:`phenomena.analysis.matrix_completion.min_nuclear_norm_completion`; the paper used cvxpy with slack 10⁻³).

Verdict, on the deepest net D and the unobserved entries (relative Frobenius error ‖(W − W*)_Ωᶜ‖ / ‖W*_Ωᶜ‖;
effective rank = exp entropy of the normalized singular values, Roy & Vetterli 2007):

- every net fits its observations (training MSE ≤ 10⁻⁵; not a mechanism claim);
- depth D's test error divided by depth 1's is small (depth 1 leaves the unobserved entries at ≈ 0: ratio ≈ 1
  for a net that learned nothing about them);
- depth D's test error divided by the min-nuclear-norm completion's is small;
- depth D's effective rank is below both depth 1's and the nuclear-norm solution's (ratio to the smaller < 1).

Calibration (quick, seeds 100-109): depth 3 recovers the matrix (test error 0.004-0.014), effective rank 4.97-5.08
(the truth's ≈ 4.9); the nuclear-norm completion has test error 0.17-0.29 and effective rank 7.1-8.7; depth 1 has
test error 1.000 and effective rank 68-72. Depth 2 at this init lands next to the nuclear-norm solution (test error
0.21-0.31, effective rank 8.4-10.1), as Gunasekar et al.'s conjecture says; it is reported and drawn, not checked.
``full`` (seed 0, one run): depth 3 0.0051, depth 4 0.0045 (effective rank 4.99), nuclear norm 0.23, depth 2 0.26.

Control: the mechanism is the small initialization. With init = 1 (factors of spectral norm ≈ 2, the product's
entries ≈ 0.1 against the truth's 1) the random part of the initialization is no longer negligible: gradient
descent still interpolates, but carries a large full-rank component into the solution, so depth 3's error on the
unobserved entries rises to ≈ 0.7 and its effective rank to ≈ 30 — the three depth-advantage checks fail on
measured values, while the fit check still passes. The bias fades well before that: at init 0.1 (quick, seeds
100-102) depth 3's test error is already 0.14-0.23, no better than the nuclear norm's, with effective rank 8.4-9.5.

Smoke (80 × 80, rank 5, 1600 entries: the quick preset's ratio of observations to the 5·(2n − 5) degrees of
freedom, ≈ 2; depths 1 and 3) holds on seeds 0-9 with margin. Tried first: 50 × 50 rank 3 with 600 entries and
lr 10⁻² (depth 3 hit the step budget, test error ratio to the nuclear norm 0.43); 60 × 60 rank 3 with 700 entries
(seed 8: depth 3 also fails, test error 0.52 — too few entries even for depth); 60 × 60 with rank 3-4 and 800-1000
entries (all pass, but the rank ratio reached 0.80-0.83: at small rank the nuclear-norm completion's effective rank
is itself close to the truth's).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from phenomena.analysis import log_steps
from phenomena.analysis.matrix_completion import masked_relative_error, min_nuclear_norm_completion
from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data.low_rank import low_rank_completion
from phenomena.errors import UserError
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.probes.rank import effective_rank
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict

# Set on calibration seeds 100-109 (quick; see ENTRY.calibration) between the preset's worst value and the
# init = 1 control's best, near their geometric midpoints.
MAX_TRAIN_MSE = 1e-5  # every net fits its observations (the runs stop at 1e-6)
MAX_ERROR_RATIO_DEPTH1 = 0.1  # test error depth D / depth 1
MAX_ERROR_RATIO_NUCLEAR = 0.3  # test error depth D / min nuclear norm
MAX_ERANK_RATIO = 0.9  # effective rank depth D / min(depth 1, nuclear norm)


@config
class Data:
    n: int = field(100, at_least(4), help="the ground truth is n × n")
    rank: int = field(5, positive, help="rank of the ground truth UVᵀ (Gaussian U, V; Frobenius norm n)")
    observed: int = field(2000, positive, help="entries observed, drawn without replacement")

    def __post_init__(self):
        require(self.rank < self.n, "data.rank must be below data.n")
        require(self.observed < self.n * self.n, "data.observed must be below data.n²")


@config
class Train:
    depths: tuple[int, ...] = field((1, 2, 3), positive, help="factorization depths N, increasing; 1 and one ≥ 2")
    init_scale: float = field(1e-3, positive, help="init: factors N(0, init^{2/N}/n), so ‖W‖_F ≈ init·√n")
    lr: float = field(3e-3, positive, help="global step lr/(√v + eps), v the running mean of ‖∇‖² (paper: 1e-3)")
    decay: float = field(0.99, between(0, 1, "[)"), help="decay of the running mean v of the squared gradient norm")
    eps: float = field(1e-4, positive, help="added to √v in the step size (the paper's code: 1e-4)")
    max_steps: int = field(60_000, at_least(10), help="step budget per depth")
    train_mse: float = field(1e-6, positive, help="stop once the MSE on the observed entries is below this")
    points: int = field(30, at_least(3), help="log-spaced read-outs of the training curves")

    def __post_init__(self):
        d = self.depths
        require(list(d) == sorted(set(d)), "train.depths must be strictly increasing")
        require(d[0] == 1 and d[-1] >= 2, "train.depths must hold depth 1 and a depth of at least 2")


@config
class Nuclear:
    tol: float = field(1e-7, positive, help="ADMM relative primal/dual residual for the min-nuclear-norm baseline")
    max_iter: int = field(20_000, positive, help="ADMM iteration budget")


@config
class Config:
    data: Data = Data()
    train: Train = Train()
    nuclear: Nuclear = Nuclear()
    seed: int = field(0, help="the run's seed (ground truth, observed set, initializations)")


PRESETS = {
    # 80 × 80, 1600 entries: the same ratio to the rank-5 degrees of freedom (≈ 2) as quick
    "smoke": Config(data=Data(n=80, observed=1600), train=Train(depths=(1, 3), lr=5e-3, max_steps=20_000)),
    "quick": Config(),
    # the paper's matrix-completion setting (Arora et al. 2019: 2000 observations, init 1e-3) with the
    # learning rate of its code's grid (1e-3) and depth 4 added; differs in the nuclear-norm baseline (exact
    # constraints by ADMM rather than cvxpy/SCS with slack 1e-3) and in the step budget (3e5 rather than 1e6)
    "full": Config(train=Train(depths=(1, 2, 3, 4), lr=1e-3, max_steps=300_000, points=40)),
}
COSTS = {"smoke": "~4 s", "quick": "~12 s", "full": "~1 min"}


def make_problem(cfg: Config, ctx: RunContext) -> tuple[np.ndarray, np.ndarray]:
    """The ground truth W* (n × n, rank r, ‖W*‖_F = n) and the boolean mask of observed entries."""
    d = cfg.data
    return low_rank_completion(d.n, d.rank, d.observed, ctx.stream_seed("truth"), ctx.stream_seed("observations"))


def erank(x: np.ndarray) -> float:
    """The effective rank of ``x`` (nan for a non-finite or zero matrix)."""
    try:
        return effective_rank(torch.from_numpy(np.ascontiguousarray(x)))
    except UserError:
        return math.nan


def train_depth(job: dict) -> dict:
    """Train one depth-N factorization on the observed entries; return the end-to-end matrix and its curves."""
    truth, mask, depth, t = job["truth"], job["mask"], job["depth"], job["train"]
    n = truth.shape[0]
    rng = np.random.default_rng(job["seed"])
    factors = [rng.standard_normal((n, n)) * (t.init_scale ** (1 / depth) / math.sqrt(n)) for _ in range(depth)]
    m, unobserved = mask.sum(), ~mask
    record = set(log_steps(t.max_steps, t.points))
    top = job["top"]
    curves: dict[str, list] = {"steps": [], "train_mse": [], "test_error": [], "singular": []}
    v, step, mse = 0.0, 0, math.inf
    while True:
        prefix = [None, factors[0]]  # prefix[j] = W_j ⋯ W_1 (prefix[0] = I, left implicit)
        for w in factors[1:]:
            prefix.append(w @ prefix[-1])
        e2e = prefix[-1]
        residual = np.where(mask, e2e - truth, 0.0)
        mse = float((residual * residual).sum() / m)
        done = not math.isfinite(mse) or mse <= t.train_mse or step >= t.max_steps
        if step in record or done:
            curves["steps"].append(step)
            curves["train_mse"].append(mse)
            finite = np.isfinite(e2e).all()
            curves["test_error"].append(masked_relative_error(e2e, truth, unobserved) if finite else math.nan)
            curves["singular"].append(np.linalg.svd(e2e, compute_uv=False)[:top] if finite else np.full(top, np.nan))
        if done:
            break
        grad_e2e = 2 * residual / m  # d mse / d W
        grads, suffix = [], None  # suffix = W_N ⋯ W_{j+1}
        for j in reversed(range(depth)):
            left = grad_e2e if suffix is None else suffix.T @ grad_e2e
            grads.append(left if prefix[j] is None else left @ prefix[j].T)
            suffix = factors[j] if suffix is None else suffix @ factors[j]
        grads.reverse()
        step += 1
        v = t.decay * v + (1 - t.decay) * sum(float((g * g).sum()) for g in grads)
        lr = t.lr / (math.sqrt(v / (1 - t.decay**step)) + t.eps)
        for w, g in zip(factors, grads, strict=True):
            w -= lr * g
    return {"depth": depth, "e2e": e2e, "steps": step, "train_mse": mse, "curves": curves}


def run(cfg: Config, ctx: RunContext) -> Result:
    truth, mask = make_problem(cfg, ctx)
    unobserved = ~mask
    t = cfg.train
    top = min(cfg.data.rank + 5, cfg.data.n)
    jobs = [
        {"truth": truth, "mask": mask, "depth": d, "train": t, "seed": ctx.stream_seed(f"init-{d}"), "top": top}
        for d in t.depths
    ]
    with ctx.progress(len(jobs) + 1, desc="implicit low rank") as bar:
        nuclear = min_nuclear_norm_completion(truth, mask, tol=cfg.nuclear.tol, max_iter=cfg.nuclear.max_iter)
        bar.update(1)
        # the depths are independent: `phenomena run --workers K` spreads them (the deepest is the slowest)
        nets = ctx.map(train_depth, jobs, cost=[d * d for d in t.depths], done=lambda i, r: bar.update(1))

    summary: dict[str, float] = {
        "erank_truth": erank(truth),
        "test_error_nuclear": masked_relative_error(nuclear.x, truth, unobserved),
        "erank_nuclear": erank(nuclear.x),
        "nuclear_residual": nuclear.residual,
        "nuclear_iterations": float(nuclear.iterations),
        "nuclear_converged": float(nuclear.converged),
        "nuclear_norm_ratio": float(np.linalg.svd(nuclear.x, compute_uv=False).sum())
        / float(np.linalg.svd(truth, compute_uv=False).sum()),
    }
    n = cfg.data.n
    index = list(range(1, n + 1))
    series = {
        "spectrum_truth": Series(index, [float(s) for s in np.linalg.svd(truth, compute_uv=False)]),
        "spectrum_nuclear": Series(index, [float(s) for s in np.linalg.svd(nuclear.x, compute_uv=False)]),
    }
    for net in nets:
        d, e2e = net["depth"], net["e2e"]
        finite = bool(np.isfinite(e2e).all())
        summary[f"test_error_depth{d}"] = masked_relative_error(e2e, truth, unobserved) if finite else math.nan
        summary[f"erank_depth{d}"] = erank(e2e) if finite else math.nan
        summary[f"train_mse_depth{d}"] = net["train_mse"] if math.isfinite(net["train_mse"]) else math.nan
        summary[f"steps_depth{d}"] = float(net["steps"])
        c = net["curves"]
        series[f"train_mse_depth{d}"] = Series(c["steps"], c["train_mse"])
        series[f"test_error_depth{d}"] = Series(c["steps"], c["test_error"])
        spectrum = np.linalg.svd(e2e, compute_uv=False) if finite else np.full(n, np.nan)
        series[f"spectrum_depth{d}"] = Series(index, [float(s) for s in spectrum])
        if d == t.depths[-1]:
            singular = np.array(c["singular"])
            for k in range(top):
                series[f"sv{k + 1}_depth{d}"] = Series(c["steps"], [float(s) for s in singular[:, k]])
    deep = t.depths[-1]
    summary["deepest"] = float(deep)
    summary["max_train_mse"] = float(np.max([summary[f"train_mse_depth{d}"] for d in t.depths]))  # nan if any is
    summary["error_ratio_vs_depth1"] = summary[f"test_error_depth{deep}"] / summary["test_error_depth1"]
    summary["error_ratio_vs_nuclear"] = summary[f"test_error_depth{deep}"] / summary["test_error_nuclear"]
    baseline = float(np.min([summary["erank_depth1"], summary["erank_nuclear"]]))  # nan if either is nan
    summary["erank_ratio"] = summary[f"erank_depth{deep}"] / baseline
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    deep = int(s["deepest"]) if math.isfinite(s.get("deepest", math.nan)) else "D"
    return Verdict(
        (
            Check("the nets fit the observations: max training MSE", s["max_train_mse"], "<=", MAX_TRAIN_MSE),
            Check(
                f"depth beats depth 1: test error depth {deep} / depth 1",
                s["error_ratio_vs_depth1"],
                "<=",
                MAX_ERROR_RATIO_DEPTH1,
            ),
            Check(
                f"depth beats nuclear norm: test error depth {deep} / min-nuclear-norm",
                s["error_ratio_vs_nuclear"],
                "<=",
                MAX_ERROR_RATIO_NUCLEAR,
            ),
            Check(
                f"depth lowers the rank: effective rank depth {deep} / min(depth 1, nuclear norm)",
                s["erank_ratio"],
                "<",
                MAX_ERANK_RATIO,
            ),
        )
    )


def figure(result: Result):
    s, cfg = result.summary, result.config
    depths = list(cfg.train.depths)
    deep = depths[-1]
    fig, axes = subplots(1, 3, width=4.0)
    err_ax, spec_ax, dyn_ax = axes[0]
    colors = [PALETTE["control"], PALETTE["train"], PALETTE["test"], PALETTE["accent"], "#9467bd", "#8c564b"]

    errors = [s[f"test_error_depth{d}"] for d in depths]
    err_ax.semilogy(depths, errors, "o-", color=PALETTE["train"], label="deep factorization (GD)")
    err_ax.axhline(s["test_error_nuclear"], color=PALETTE["theory"], linestyle="--", label="min nuclear norm")
    for d, e, r in zip(depths, errors, (s[f"erank_depth{d}"] for d in depths), strict=True):
        err_ax.annotate(f"erank {r:.1f}", (d, e), textcoords="offset points", xytext=(4, 5), fontsize=7)
    err_ax.annotate(
        f"erank {s['erank_nuclear']:.1f}",
        (depths[-1], s["test_error_nuclear"]),
        textcoords="offset points",
        xytext=(-30, 4),
        fontsize=7,
        color=PALETTE["theory"],
    )
    err_ax.set(
        xlabel="depth N",
        ylabel="relative error on unobserved entries",
        xticks=depths,
        title=f"recovery from {cfg.data.observed} of {cfg.data.n**2} entries",
    )
    err_ax.legend(loc="lower left")

    k = min(4 * cfg.data.rank, cfg.data.n)
    idx, truth = result.curve("spectrum_truth")
    spec_ax.semilogy(idx[:k], truth[:k], "k-", lw=2.5, alpha=0.35, label=f"truth (rank {cfg.data.rank})")
    _, nuc = result.curve("spectrum_nuclear")
    spec_ax.semilogy(idx[:k], nuc[:k], "--", color=PALETTE["theory"], label="min nuclear norm")
    for i, d in enumerate(depths):
        _, sp = result.curve(f"spectrum_depth{d}")
        spec_ax.semilogy(idx[:k], sp[:k], ".-", color=colors[i % len(colors)], ms=3, label=f"depth {d}")
    spec_ax.set_ylim(bottom=1e-4 * truth[0], top=2 * max(truth[0], nuc[0]))  # the truth's zeros sit below
    spec_ax.axvline(cfg.data.rank + 0.5, color="k", alpha=0.3, lw=0.8)
    spec_ax.set(xlabel="index i", ylabel="singular value σᵢ", title="spectra (the truth's σᵢ = 0 for i > rank)")
    spec_ax.legend(fontsize=7)

    for j in range(cfg.data.rank + 5):
        if f"sv{j + 1}_depth{deep}" not in result.series:
            break
        steps, sv = result.curve(f"sv{j + 1}_depth{deep}")
        steps = np.maximum(np.array(steps, float), 1)
        signal = j < cfg.data.rank
        dyn_ax.loglog(
            steps, sv, color=PALETTE["train"] if signal else PALETTE["control"], lw=1.2, alpha=1 if signal else 0.6
        )
    for sigma in truth[: cfg.data.rank]:
        dyn_ax.axhline(sigma, color="k", alpha=0.25, lw=0.8, linestyle=":")
    dyn_ax.plot([], [], color=PALETTE["train"], label=f"σ₁…σ{cfg.data.rank}".translate(_SUB))
    dyn_ax.plot([], [], color=PALETTE["control"], label="next 5")
    dyn_ax.plot([], [], "k:", alpha=0.4, label="truth's σ")
    dyn_ax.set(xlabel="step", ylabel="singular value", title=f"depth {deep}: one component at a time")
    dyn_ax.legend(fontsize=7, loc="center left")
    fig.suptitle(
        f"implicit low rank: {cfg.data.n}×{cfg.data.n} rank-{cfg.data.rank} completion, init {cfg.train.init_scale:g}"
    )
    fig.tight_layout()
    return fig


_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


ENTRY = Entry(
    name="implicit-low-rank",
    summary="deep matrix factorizations from small init complete low-rank matrices beyond the nuclear norm",
    papers=(
        "Arora, Cohen, Hu, Luo 2019 — Implicit regularization in deep matrix factorization",
        "Gunasekar, Woodworth, Bhojanapalli, Neyshabur, Srebro 2017 — Implicit regularization in matrix factorization",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    pieces="depths",
    sweep_metrics=("test_error_depth1", "test_error_nuclear", "error_ratio_vs_nuclear", "erank_ratio"),
    controls=(
        Control(
            "large init",
            {"train.init_scale": 1.0},
            must_fail=("depth beats depth 1", "depth beats nuclear norm", "depth lowers the rank"),
            why="a large random initialization is carried into the interpolant: no bias towards low rank",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread. Preset: test error depth 3 / depth 1 0.0043-0.0139, / nuclear norm 0.019-0.052, "
        "effective-rank ratio 0.58-0.70 (depth 3 4.97-5.08, nuclear norm 7.1-8.7, depth 1 68-72), every net at the "
        "1e-6 stop (max training MSE 9.98e-7 to 1.0e-6); 10/10 pass. Large-init control (init 1): 0.63-0.76, "
        "2.4-4.3 and 3.4-4.4 (depth 3 test error 0.64-0.77, effective rank 28-32): fails the three depth checks "
        "10/10 and still fits (training MSE < 1e-6). Thresholds 0.1 and 0.3 sit near the geometric midpoints of the "
        "preset's worst and the control's best (0.094, 0.35); the rank threshold 0.9 is the claim 'below both' "
        "(< 1) with a 10% margin. Depth 2 (reported, not checked): test error 0.21-0.31 against the nuclear norm's "
        "0.17-0.29, effective rank 8.4-10.1. The smoke setting (80 × 80, 1600 entries, depths 1 and 3) holds on "
        "seeds 0-9 with ratios <= 0.006, <= 0.035 and <= 0.75; n = 60 with rank 3 and 700 entries did not (seed 8: "
        "depth 3 test error 0.52, too few entries for depth 3 as well), and rank 3-4 at n = 60 left the rank ratio "
        "at up to 0.83 (the nuclear-norm completion is closer to the truth's rank there).",
        observed={
            "error_ratio_vs_depth1": (0.0043, 0.0049, 0.005, 0.0057, 0.0139, 0.0054, 0.0071, 0.0062, 0.0045, 0.0077),
            "error_ratio_vs_nuclear": (0.0213, 0.0223, 0.022, 0.0244, 0.0525, 0.0187, 0.042, 0.032, 0.0206, 0.0325),
            "erank_ratio": (0.6568, 0.6368, 0.6255, 0.6209, 0.5959, 0.5813, 0.704, 0.6671, 0.6652, 0.6236),
            "test_error_nuclear": (0.2027, 0.2194, 0.2291, 0.2321, 0.2654, 0.2911, 0.169, 0.1943, 0.2174, 0.2382),
        },
    ),
)
