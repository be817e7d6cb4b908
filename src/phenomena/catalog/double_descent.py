"""Double descent: test error peaks where the model can just interpolate the training set, then falls again.

Belkin et al. (2019) showed the classical U-shaped test-error curve is only the first half: past the
"interpolation threshold", where a model first fits its training set exactly, test error falls again as the model
grows. Their cleanest example is minimum-norm least squares on N random features of n training points: the
error (and the norm of the coefficients) blows up at N = n. Nakkiran et al. (2019) found the same peak in deep
nets, model-wise (width), epoch-wise and sample-wise, strongest with label noise. Greydanus & Kobak (2024)
reproduce the model-wise peak on MNIST-1D with a small MLP on a CPU.

``mode="model"`` (default): MNIST-1D, a 40-h-h-10 ReLU MLP for each width h of a geometric grid, cross-entropy,
SGD with momentum, no weight decay, a fraction of the training labels replaced by uniform draws over all classes
(the notebook's convention), trained long enough to interpolate. The seeds (one label-noise draw and one
initialization each) are trained together, and so is a no-noise control on the same initializations: one
:func:`~phenomena.training.train_ensemble` call per width. ``mode="random-features"``: min-norm least squares
(float64 ``lstsq``) on N random ReLU features of MNIST-1D inputs, one-hot targets, N from 0.1n to 10n.

``mode="epoch"`` (Nakkiran §6: test error against training time falls, rises, falls again): in MNIST-1D MLPs
at CPU budget we did not find it (widths 256 and 512, 20-30% noise, SGD and Adam, 4000-8000 steps, 3 seeds: the
test error fell, then stayed flat to ±1 pp while the noise was memorized), so this mode uses the setting where
theory predicts it (Heckel & Yilmaz 2021; Pezeshki et al. 2022): Gaussian teacher-student linear regression
whose student sees ``epoch.fast`` features at scale 1 and ``epoch.slow`` at scale κ, half the teacher's signal
in each group, Gaussian label noise; full-batch GD from zero on the mean squared error, read exactly in closed
form at log-spaced steps (tests check the closed form against iterated GD and ``train_ensemble``). The fast
features fit first, then fit the noise and the still-unlearned slow signal (test error rises; they are near
their own interpolation threshold, fast ≈ n/2), until the slow ones are learned at ~1/(ηκ²) steps (it falls
again): two bias-variance U-curves at different time scales. Control: the same draws at κ = 1 (one speed, as
Heckel & Yilmaz's per-layer step sizes) give a single U and no second descent.

``mode="sample"`` (Nakkiran §7: more data can hurt): a fixed model near its threshold, n swept. A fixed-width
MNIST-1D MLP did not show it robustly (width 48, 100 epochs, 20% noise: +1.2 pp at its threshold, within the
seed spread; width 32, 200 epochs, 30% noise: none: the learning curve falls too steeply), so this is the
closed-form version: N = ``sample.features`` random ReLU features of MNIST-1D (as ``random-features``) fixed,
min-norm least squares on the first n of a shuffled, noisy training set, n from 0.1N to 10N. For n <= N the fit
interpolates, at n = N just barely, and the test error peaks there. ``sample.ridge > 0`` is the control: ridge
regularization removes the peak (Nakkiran et al. 2021).

Presets: ``paper`` is the MNIST-1D notebook (4000 train / 12000 test, 19 widths geomspace(2, 300), 15% noise,
SGD lr 0.01 momentum 0.9, batch 100, 500 epochs). ``quick`` keeps its data and optimizer, with 20% noise, but
steps at lr 0.05 for 100 epochs over 5 widths a factor 2 apart, 12 to 192 (2 seeds); ``smoke`` runs the same code on 300
examples (too few and too short for the peak: it checks the code path, and its verdict fails). The epoch and
sample modes take their own sections of each preset (quick: n = 400 with 200 fast + 40 slow features, κ = 0.1,
noise std 0.5, 8 draws; N = 400 features, n = 40 to 4000, 3 draws).

Verdict (model-wise): let h* be the first width whose mean training error is below 1%. The most prominent
test-error bump (a width whose error exceeds both the best smaller width's and the largest width's) lies within
one grid step of h*, and exceeds each side by at least 3 percentage points; the no-noise control's most
prominent bump is less than half as high. Random features: the test-error peak lies within one grid step of
N = n and exceeds the best smaller N and the largest N by 3 points; the coefficient norm peaks within one grid
step of N = n too. Epoch-wise, on the mean over draws of the test error relative to the signal variance (1 at
step 0): the valley before the most prominent bump is at least 0.1 below the start (first descent), the peak at
least 0.1 above the valley (rise) and at least 0.1 above the last step (second descent); at least 80% of the
draws show all three on their own; the one-speed control's bump is less than half as high. Sample-wise: the
test-error peak lies within one grid step of n = N, exceeds the best smaller n by 3 points (more data hurts)
and the largest n by 3 points; the coefficient norm peaks within one grid step of n = N.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Literal

import numpy as np
import torch

from phenomena.config import require
from phenomena.data.dataset import Dataset
from phenomena.data.mnist1d import mnist1d
from phenomena.data.noise import with_label_noise
from phenomena.errors import UserError
from phenomena.models.mlp import MLP
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.runner.context import RunContext
from phenomena.training.ensemble import train_ensemble

PAPERS = (
    "Belkin, Hsu, Ma, Mandal 2019 — Reconciling modern machine-learning practice and the classical bias-variance "
    "trade-off",
    "Nakkiran, Kaplun, Bansal, Yang, Barak, Sutskever 2019 — Deep double descent: where bigger models and more "
    "data hurt",
    "Greydanus, Kobak 2024 — Scaling down deep learning with MNIST-1D",
    "Heckel, Yilmaz 2021 — Early stopping in deep networks: double descent and how to eliminate it",
    "Pezeshki, Mitra, Bengio, Lajoie 2022 — Multi-scale feature learning dynamics: insights for double descent",
    "Nakkiran, Venkat, Kakade, Ma 2021 — Optimal regularization can mitigate double descent",
)

FIT_ERROR = 0.01  # "interpolates": mean training error below 1%
MIN_EXCESS_PP = 3.0  # the peak exceeds each side by this many percentage points
MAX_CONTROL_RATIO = 0.5  # the no-noise bump is less than half the noisy one
NOTEBOOK_WIDTHS = (2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 47, 61, 80, 104, 135, 177, 230, 300)  # geomspace(2,300,20)
MODES = ("model", "random-features", "epoch", "sample")


@dataclasses.dataclass(frozen=True)
class Data:
    num_samples: int = 16_000  # MNIST-1D examples generated (train + test)
    train_split: float = 0.25  # the notebook's 4000 train / 12000 test
    n_train: int = 0  # use the first n_train training examples (0 = all)
    noise: float = 0.15  # fraction of training labels redrawn
    noise_mode: Literal["any", "other"] = "any"  # redraw among all classes (notebook) or only wrong ones
    control: bool = True  # also train every width on the clean labels

    def __post_init__(self):
        require(self.num_samples >= 20, f"data.num_samples must be at least 20; got {self.num_samples}")
        require(0 < self.train_split < 1, f"data.train_split must lie in (0, 1); got {self.train_split}")
        require(self.n_train >= 0, f"data.n_train must be >= 0 (0 = all); got {self.n_train}")
        require(0 <= self.noise <= 1, f"data.noise must lie in [0, 1]; got {self.noise}")


@dataclasses.dataclass(frozen=True)
class Model:
    widths: tuple[int, ...] = NOTEBOOK_WIDTHS  # hidden width h, increasing
    depth: int = 2  # hidden layers

    def __post_init__(self):
        require(len(self.widths) >= 3, f"model.widths needs at least 3 widths; got {self.widths}")
        require(all(w >= 1 for w in self.widths), f"model.widths must be positive; got {self.widths}")
        require(all(a < b for a, b in zip(self.widths, self.widths[1:], strict=False)),
                f"model.widths must be strictly increasing; got {self.widths}")  # fmt: skip
        require(self.depth >= 1, f"model.depth must be a positive integer; got {self.depth}")


@dataclasses.dataclass(frozen=True)
class Train:
    epochs: int = 500
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 100
    evals: int = 10  # train/test evaluations per width (the verdict uses the last)

    def __post_init__(self):
        require(self.epochs >= 1, f"train.epochs must be a positive integer; got {self.epochs}")
        require(self.lr > 0, f"train.lr must be positive; got {self.lr}")
        require(0 <= self.momentum < 1, f"train.momentum must lie in [0, 1); got {self.momentum}")
        require(self.batch_size >= 1, f"train.batch_size must be a positive integer; got {self.batch_size}")
        require(self.evals >= 1, f"train.evals must be a positive integer; got {self.evals}")


@dataclasses.dataclass(frozen=True)
class Features:
    """``mode=random-features``: min-norm least squares on random ReLU features."""

    n_train: int = 500  # n: training examples (the threshold is N = n)
    low: float = 0.1  # smallest N / n
    high: float = 10.0  # largest N / n
    points: int = 17  # geometric grid of N (N = n is always added)
    draws: int = 2  # independent feature draws averaged

    def __post_init__(self):
        require(self.n_train >= 10, f"features.n_train must be at least 10; got {self.n_train}")
        require(0 < self.low < 1 < self.high, f"features.low < 1 < features.high is required; got "
                f"{self.low}, {self.high}")  # fmt: skip
        require(self.points >= 3 and self.draws >= 1,
                f"features.points must be >= 3 and features.draws >= 1; got {self.points}, {self.draws}")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Epoch:
    """``mode=epoch``: GD on a linear student whose features come at two scales (fast 1, slow kappa).

    Measured, quick (8 draws; mean curve first descent / rise / second descent, relative to the signal
    variance): seeds 0-2: 0.26 / 0.32 / 0.70, 0.27 / 0.28 / 0.65, 0.26 / 0.29 / 0.64; seeds 0-11 all pass, every
    one of the 96 draws shows all three (per draw >= 0.14 / 0.15 / 0.36); the one-speed control's bump 0.00
    (valley at step 19 ≈ 1/η, peak at 287, the second descent done by ~1e4 ≈ 5/(ηκ²)). The rise needs the fast
    block near its own threshold (fast = n/2): fast = n/4 gave a rise of 0.02-0.03 (fails), fast = 3n/4 a rise
    of 1.2 but the noise it fits outlasts the slow phase (final 1.5 > valley; 1 of 3 seeds fails). Label noise
    makes the bump: with noise 0 the unlearned slow signal alone gives a rise of 0.10-0.12, in 5 of 8 draws
    (fails), as in Nakkiran et al. kappa 0.05: rise 0.38-0.45; kappa 1: no second descent (fails).
    """

    n_train: int = 400  # n training examples
    fast: int = 200  # features at scale 1
    slow: int = 40  # features at scale kappa
    kappa: float = 0.1  # the slow features' scale: learned ~1/kappa² times later
    slow_signal: float = 0.5  # fraction of the teacher's signal variance carried by the slow features
    noise: float = 0.5  # label-noise standard deviation (signal variance 1)
    lr: float = 0.05  # GD step size, on mean((x·w − y)²) / 2
    steps: int = 100_000  # last step (the closed form makes every step equally cheap)
    points: int = 60  # log-spaced steps read
    draws: int = 8  # independent teachers, samples and noise

    def __post_init__(self):
        require(self.n_train >= 2 and self.fast >= 1 and self.slow >= 0,
                f"epoch.n_train must be >= 2, epoch.fast >= 1 and epoch.slow >= 0; got {self.n_train}, "
                f"{self.fast}, {self.slow}")  # fmt: skip
        require(0 < self.kappa <= 1, f"epoch.kappa must lie in (0, 1]; got {self.kappa}")
        require(0 <= self.slow_signal < 1, f"epoch.slow_signal must lie in [0, 1); got {self.slow_signal}")
        require(self.slow > 0 or self.slow_signal == 0, "epoch.slow_signal must be 0 when epoch.slow is 0")
        require(self.noise >= 0 and self.lr > 0, f"epoch.noise must be >= 0 and epoch.lr positive; got "
                f"{self.noise}, {self.lr}")  # fmt: skip
        require(self.steps >= 10 and self.points >= 5 and self.draws >= 1,
                f"epoch.steps must be >= 10, epoch.points >= 5 and epoch.draws >= 1; got {self.steps}, "
                f"{self.points}, {self.draws}")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Sample:
    """``mode=sample``: N random ReLU features fixed, min-norm (or ridge) least squares on n examples.

    Measured, quick (20% noise, 3 draws), seeds 0-2: the peak at n = N = 400 (test error 0.89-0.90, near chance
    0.9), more data hurts by 7.7 / 8.8 / 8.4 pp, the largest n (4000) is 27-28 pp lower, the norm peaks at n = N;
    ~5 s. No label noise: 10.3-10.8 pp (the ill-conditioned fit at n = N amplifies the model's own misfit).
    Ridge 1e-3: 0.1-1.4 pp and the peak moves off n = N (fails), as Nakkiran et al. 2021 predict.
    """

    features: int = 400  # N (the threshold is n = N)
    low: float = 0.1  # smallest n / N
    high: float = 10.0  # largest n / N (n <= the training examples of data.*)
    points: int = 17  # geometric grid of n (n = N is always added)
    draws: int = 3  # independent features, example orders and label-noise draws, averaged
    ridge: float = 0.0  # 0: min-norm; > 0: ridge penalty on ‖β‖² (the control: it removes the peak)

    def __post_init__(self):
        require(self.features >= 2, f"sample.features must be at least 2; got {self.features}")
        require(0 < self.low < 1 < self.high, f"sample.low < 1 < sample.high is required; got "
                f"{self.low}, {self.high}")  # fmt: skip
        require(self.points >= 3 and self.draws >= 1,
                f"sample.points must be >= 3 and sample.draws >= 1; got {self.points}, {self.draws}")  # fmt: skip
        require(self.ridge >= 0, f"sample.ridge must be >= 0; got {self.ridge}")


@dataclasses.dataclass(frozen=True)
class Config:
    mode: Literal["model", "random-features", "epoch", "sample"] = "model"
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    features: Features = Features()
    epoch: Epoch = Epoch()
    sample: Sample = Sample()
    seeds: int = 2  # members per width: each its own label-noise draw and initialization
    seed: int = 0

    def __post_init__(self):
        require(self.seeds >= 1, f"seeds must be a positive integer; got {self.seeds}")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=2000, train_split=0.15, n_train=300, noise=0.15),
        model=Model(widths=(4, 16, 64)),
        train=Train(epochs=30, lr=0.05, evals=2),
        features=Features(n_train=200, points=9, draws=1),
        # too small to be reliable (epoch: passes at seeds 0-2 with rises 0.11-0.41; sample: peak at n = N in 5
        # of 5 seeds, more data hurts by 1.7-5.7 pp): they check the code paths
        epoch=Epoch(n_train=100, fast=50, slow=10, points=30, draws=2),
        sample=Sample(features=50, high=6.0, points=9, draws=2),
        seeds=1,
    ),
    # the notebook's data, noise and optimizer at 5x the step size for a fifth of the epochs, widths a factor 2
    # apart: at this budget the peak (h = 48, ~16% train error) precedes h* (96) by a factor 2, which is two
    # steps of a finer grid (measured with (12, 24, 32, 48, 64, 96, 128, 192): peak 48, h* 96); 20% noise: at
    # 15% the peak cleared the smaller widths by only 1.9 pp (seed 0), at 20% by 5.3 pp (h* 96, peak 48, ~80 s)
    "quick": Config(data=Data(noise=0.2), model=Model(widths=(12, 24, 48, 96, 192)), train=Train(epochs=100, lr=0.05)),
    # Greydanus & Kobak, notebooks/deep-double-descent.ipynb: 16,000 samples split 25/75, widths
    # np.unique(np.geomspace(2, 300, 20, dtype=int)), 15% of labels -> randint(0, 10), SGD lr 0.01 momentum 0.9,
    # batch 100, 500 epochs, one run per width; with and without noise (our control). Epoch and sample modes:
    # no published setting to copy (Heckel & Yilmaz and Pezeshki et al. use the same two-scale construction);
    # 2.5x the quick sizes and more draws (measured: epoch seeds 0-2 rise 0.30-0.33, second descent 0.68-0.69,
    # ~10 s; sample at 15% noise seeds 0-1: peak at n = N, more data hurts by 8.3 / 8.8 pp, ~16 s)
    "paper": Config(
        epoch=Epoch(n_train=1000, fast=500, slow=100, points=100, draws=20), sample=Sample(points=25, draws=10), seeds=1
    ),
}
SWEEP_METRICS = ("h_star", "peak_width", "peak_excess_pp")
COSTS = {
    "smoke": "~5 s",
    "quick": "~1.5 min on 2 CPU cores (epoch ~1 s, sample ~5 s)",
    "paper": "~30-60 min on CPU, minutes on a GPU (epoch ~10 s, sample ~20 s)",
}


# --- model-wise ---


def load_data(cfg: Config, ctx: RunContext) -> Dataset:
    """The MNIST-1D split of ``cfg.data`` (cached in the store), cut to ``n_train`` training rows."""
    d = cfg.data
    data = mnist1d(d.num_samples, d.train_split, cache_dir=ctx.cache)
    return data.subset(n_train=d.n_train or None)


def bump(errors: list[float] | np.ndarray) -> tuple[int, float, float]:
    """The most prominent interior bump of a curve: (index k, excess over the best earlier value, excess over
    the last value), k maximizing ``min(e[k] - min(e[:k]), e[k] - e[-1])`` over 0 < k < len - 1.

    Example: ``bump([0.5, 0.3, 0.45, 0.2])`` is ``(2, 0.15, 0.25)``.
    """
    e = np.asarray(errors, dtype=float)
    best, out = -math.inf, (0, math.nan, math.nan)
    for k in range(1, len(e) - 1):
        left, right = e[k] - e[:k].min(), e[k] - e[-1]
        if min(left, right) > best:
            best, out = min(left, right), (k, float(left), float(right))
    return out


def train_width(job: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One width's ensemble (every seed, noisy and control): final (train error, test error) per member.

    A module-level function of one picklable argument, for :meth:`RunContext.map`; ``job`` is (cfg, width,
    member data sets, init seeds, batch-order seeds, steps, progress bar or None).
    """
    cfg, h, members, inits, orders, steps, bar = job
    t = cfg.train
    res = train_ensemble(
        lambda seed: MLP(40, members[0].num_classes, width=h, depth=cfg.model.depth, seed=seed),
        inits, members, loss="ce", optimizer="sgd", lr=t.lr, momentum=t.momentum, steps=steps,
        batch_size=t.batch_size, log_every=max(steps // t.evals, 1), order_seeds=orders, progress=bar,
    )  # fmt: skip
    return 1 - res.curves["train_acc"][:, -1].numpy(), 1 - res.curves["test_acc"][:, -1].numpy()


def _model_wise(cfg: Config, ctx: RunContext) -> Result:
    data = load_data(cfg, ctx)
    s, t = cfg.seeds, cfg.train
    noisy = [with_label_noise(data, cfg.data.noise, ctx.stream_seed("noise") + i, cfg.data.noise_mode)
             for i in range(s)]  # fmt: skip
    control = cfg.data.control and cfg.data.noise > 0
    members = noisy + ([data] * s if control else [])
    inits = [ctx.stream_seed("init") + i for i in range(s)] * (2 if control else 1)
    orders = [ctx.stream_seed("batches") + i for i in range(s)] * (2 if control else 1)
    steps = t.epochs * max(data.n_train // t.batch_size, 1)
    widths = list(cfg.model.widths)
    final = {k: np.zeros((len(widths), len(members))) for k in ("train", "test")}
    start = time.perf_counter()
    with ctx.progress(steps * len(members) * len(widths), desc="double descent") as bar:
        # one ensemble per width; the widths are independent, so `phenomena run --workers K` spreads them
        jobs = [(cfg, h, members, inits, orders, steps, bar if ctx.workers <= 1 else None) for h in widths]
        d = cfg.model.depth

        def done(j: int, errors: tuple) -> None:
            final["train"][j], final["test"][j] = errors
            if ctx.workers > 1:
                bar.update(steps * len(members))

        ctx.map(train_width, jobs, cost=[(40 + 10 + (d - 1) * h) * h for h in widths], done=done)
    seconds = time.perf_counter() - start

    series: dict[str, Series] = {}
    groups = {"": slice(0, s)} | ({"control_": slice(s, 2 * s)} if control else {})
    for prefix, cols in groups.items():
        for split in ("train", "test"):
            e = final[split][:, cols]
            for suffix, v in (("", e.mean(1)), ("_lo", e.min(1)), ("_hi", e.max(1))):
                series[f"{prefix}{split}_error{suffix}"] = Series(widths, [float(x) for x in v])
    train, test = final["train"][:, :s].mean(1), final["test"][:, :s].mean(1)
    fit = np.flatnonzero(train < FIT_ERROR)
    k_star = int(fit[0]) if len(fit) else None
    k, left, right = bump(test)
    summary = {
        "h_star": float(widths[k_star]) if k_star is not None else math.nan,
        "peak_width": float(widths[k]),
        "peak_test_error": float(test[k]),
        "grid_steps_from_threshold": float(abs(k - k_star)) if k_star is not None else math.nan,
        "peak_excess_left_pp": 100 * left,
        "peak_excess_right_pp": 100 * right,
        "peak_excess_pp": 100 * min(left, right),
        "largest_width_test_error": float(test[-1]),
        "min_train_error": float(train.min()),
        "train_seconds": seconds,
        "steps_per_width": float(steps),
    }
    if control:
        ck, cleft, cright = bump(final["test"][:, s:].mean(1))
        summary |= {"control_peak_width": float(widths[ck]), "control_peak_excess_pp": 100 * max(min(cleft, cright), 0)}
    return Result("double-descent", cfg, summary=summary, series=series)


# --- random features ---


def feature_counts(n: int, low: float, high: float, points: int) -> list[int]:
    """A geometric grid of feature counts from ``low * n`` to ``high * n``, with N = n added; increasing."""
    grid = np.geomspace(low * n, high * n, points).round().astype(int)
    return sorted({max(int(v), 1) for v in grid} | {n})


def min_norm_fit(features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The minimum-norm least-squares coefficients β = Φ⁺ Y (``lstsq`` with the SVD-based ``gelsd`` driver,
    which returns the min-norm solution whether Φ is tall, wide or rank deficient), as in Belkin et al. 2019.

    Example: ``min_norm_fit(torch.eye(2, 3, dtype=torch.float64), torch.ones(2, 1))`` is ``[[1], [1], [0]]``.
    """
    return torch.linalg.lstsq(features, targets, driver="gelsd").solution


def _random_features(cfg: Config, ctx: RunContext) -> Result:
    f = cfg.features
    data = mnist1d(cfg.data.num_samples, cfg.data.train_split, cache_dir=ctx.cache)
    if f.n_train > data.n_train:
        raise UserError(
            f"features.n_train ({f.n_train}) exceeds the {data.n_train} training examples "
            "generated; lower it or raise data.num_samples"
        )
    x, y = data.x_train[: f.n_train].double(), data.y_train[: f.n_train]
    if cfg.data.noise > 0:
        noisy = with_label_noise(data.subset(n_train=f.n_train), cfg.data.noise, ctx.stream_seed("noise"),
                                 cfg.data.noise_mode)  # fmt: skip
        y = noisy.y_train
    xt, yt = data.x_test.double(), data.y_test
    targets = torch.nn.functional.one_hot(y, data.num_classes).double()
    counts = feature_counts(f.n_train, f.low, f.high, f.points)
    err = np.zeros((len(counts), f.draws))
    train_err, norm = np.zeros_like(err), np.zeros_like(err)
    start = time.perf_counter()
    with ctx.progress(len(counts) * f.draws, desc="random features") as bar:
        for d in range(f.draws):
            g = torch.Generator().manual_seed(ctx.stream_seed("features") + d)
            w = torch.randn(x.shape[1], max(counts), generator=g, dtype=torch.float64) / math.sqrt(x.shape[1])
            for j, n_feat in enumerate(counts):
                scale = 1 / math.sqrt(n_feat)  # the kernel Φ Φᵀ stays O(1) as N grows
                phi, phit = torch.relu(x @ w[:, :n_feat]) * scale, torch.relu(xt @ w[:, :n_feat]) * scale
                beta = min_norm_fit(phi, targets)
                err[j, d] = (phit @ beta).argmax(1).ne(yt).double().mean().item()
                train_err[j, d] = (phi @ beta).argmax(1).ne(y).double().mean().item()
                norm[j, d] = beta.norm().item()
                bar.update(1)
    seconds = time.perf_counter() - start
    test, nrm = err.mean(1), norm.mean(1)
    k, left, right = bump(test)
    j_n = counts.index(f.n_train)
    series = {"test_error": Series(counts, test.tolist()), "train_error": Series(counts, train_err.mean(1).tolist()),
              "coef_norm": Series(counts, nrm.tolist()), "test_error_lo": Series(counts, err.min(1).tolist()),
              "test_error_hi": Series(counts, err.max(1).tolist())}  # fmt: skip
    summary = {
        "n_train": float(f.n_train),
        "peak_features": float(counts[k]),
        "peak_test_error": float(test[k]),
        "grid_steps_from_threshold": float(abs(k - j_n)),
        "peak_excess_left_pp": 100 * left,
        "peak_excess_right_pp": 100 * right,
        "peak_excess_pp": 100 * min(left, right),
        "largest_features_test_error": float(test[-1]),
        "norm_peak_features": float(counts[int(np.argmax(nrm))]),
        "norm_grid_steps_from_threshold": float(abs(int(np.argmax(nrm)) - j_n)),
        "norm_at_threshold": float(nrm[j_n]),
        "norm_at_largest": float(nrm[-1]),
        "fit_seconds": seconds,
    }
    return Result("double-descent", cfg, summary=summary, series=series)


# --- the entry points ---


def _variants():
    """The epoch-wise and sample-wise modes' module; imported on use, since it builds on this one's helpers."""
    from phenomena.catalog import _double_descent_variants

    return _double_descent_variants


def run(cfg: Config, ctx: RunContext) -> Result:
    if cfg.mode in ("epoch", "sample"):
        return (_variants().epoch_wise if cfg.mode == "epoch" else _variants().sample_wise)(cfg, ctx)
    return _random_features(cfg, ctx) if cfg.mode == "random-features" else _model_wise(cfg, ctx)


def verdict(result: Result) -> Verdict:
    s = result.summary
    if result.config.mode in ("epoch", "sample"):
        return (_variants().epoch_verdict if result.config.mode == "epoch" else _variants().sample_verdict)(s)
    if result.config.mode == "random-features":
        return Verdict((
            Check(f"test-error peak (N = {s['peak_features']:.0f}) in grid steps from N = n = {s['n_train']:.0f}",
                  s["grid_steps_from_threshold"], "<=", 1),
            Check("peak − best smaller-N test error (pp)", s["peak_excess_left_pp"], ">=", MIN_EXCESS_PP),
            Check("peak − largest-N test error (pp)", s["peak_excess_right_pp"], ">=", MIN_EXCESS_PP),
            Check(f"coefficient-norm peak (N = {s['norm_peak_features']:.0f}) in grid steps from N = n",
                  s["norm_grid_steps_from_threshold"], "<=", 1, note="the min-norm solution is largest at N = n"),
        ))  # fmt: skip
    h_star = "never" if math.isnan(s["h_star"]) else f"{s['h_star']:.0f}"
    checks = [
        Check(f"training error < {FIT_ERROR:.0%} at some width (h* = {h_star})", s["min_train_error"], "<",
              FIT_ERROR, note="the interpolation threshold exists within the grid"),
        Check(f"test-error peak (h = {s['peak_width']:.0f}) in grid steps from h*", s["grid_steps_from_threshold"],
              "<=", 1),
        Check("peak − best smaller-width test error (pp)", s["peak_excess_left_pp"], ">=", MIN_EXCESS_PP),
        Check("peak − largest-width test error (pp)", s["peak_excess_right_pp"], ">=", MIN_EXCESS_PP),
    ]  # fmt: skip
    if "control_peak_excess_pp" in s:
        ratio = s["control_peak_excess_pp"] / s["peak_excess_pp"] if s["peak_excess_pp"] > 0 else math.nan
        checks.append(Check("no-noise bump / noisy bump", ratio, "<", MAX_CONTROL_RATIO,
                            note="label noise makes the peak"))  # fmt: skip
    return Verdict(tuple(checks))


def figure(result: Result):
    s, cfg = result.summary, result.config
    if cfg.mode in ("epoch", "sample"):
        return (_variants().epoch_figure if cfg.mode == "epoch" else _variants().sample_figure)(result)
    fig, axes = subplots(1, 2 if cfg.mode == "random-features" else 1, width=5.0)
    ax = axes[0][0]
    x, test = result.curve("test_error")
    if cfg.mode == "random-features":
        ax.plot(x, test, color=PALETTE["test"], marker="o", ms=3, label="test")
        ax.fill_between(x, result.curve("test_error_lo")[1], result.curve("test_error_hi")[1],
                        color=PALETTE["test"], alpha=0.2, linewidth=0)  # fmt: skip
        ax.plot(x, result.curve("train_error")[1], color=PALETTE["train"], marker="o", ms=3, label="train")
        ax.axvline(s["n_train"], color="k", linestyle=":", linewidth=0.8, label="N = n")
        ax.set(xscale="log", xlabel="random features N", ylabel="error", title="0-1 error")
        ax.legend()
        nx = axes[0][1]
        nx.plot(x, result.curve("coef_norm")[1], color=PALETTE["accent"], marker="o", ms=3)
        nx.axvline(s["n_train"], color="k", linestyle=":", linewidth=0.8)
        nx.set(xscale="log", yscale="log", xlabel="random features N", ylabel="‖β‖", title="coefficient norm")
        fig.suptitle(f"double descent: min-norm random ReLU features, MNIST-1D n = {s['n_train']:.0f}")
    else:
        for prefix, style, tag in (("", "-", f"{cfg.data.noise:.0%} noise"), ("control_", "--", "no noise")):
            if f"{prefix}test_error" not in result.series:
                continue
            for split in ("test", "train"):
                name = f"{prefix}{split}_error"
                color = PALETTE[split] if not prefix else PALETTE["control"]
                ax.plot(x, result.curve(name)[1], color=color, linestyle=style, marker="o", ms=3,
                        label=f"{split}, {tag}", alpha=1 if split == "test" else 0.7)  # fmt: skip
                ax.fill_between(x, result.curve(name + "_lo")[1], result.curve(name + "_hi")[1], color=color,
                                alpha=0.15, linewidth=0)  # fmt: skip
        if not math.isnan(s["h_star"]):
            ax.axvline(s["h_star"], color="k", linestyle=":", linewidth=0.8, label="h* (train error < 1%)")
        ax.set(xscale="log", xlabel="hidden width h", ylabel="error", ylim=(-0.02, None))
        ax.legend(fontsize=7)
        fig.suptitle(
            f"double descent: MNIST-1D MLP, n = {cfg.data.n_train or 'all'}, {cfg.train.epochs} epochs, "
            f"{cfg.seeds} seed(s) — peak at h = {s['peak_width']:.0f}, +{s['peak_excess_pp']:.1f} pp"
        )
    fig.tight_layout()
    return fig
