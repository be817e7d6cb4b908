"""Edge of stability: full-batch gradient descent raises the sharpness to 2/η, then hovers there.

Gradient descent with step size η is stable on a quadratic only if its curvature stays below 2/η. Cohen et
al. (2021) found that on neural networks the sharpness λmax (the top eigenvalue of the training-loss Hessian)
first rises ("progressive sharpening") until it reaches 2/η, and then hovers just above 2/η instead of growing
on, while the training loss keeps falling over long times but non-monotonically over short ones; change η and
the plateau moves with 2/η. Damian et al. (2023) explain the self-stabilization by the cubic term of the loss.

The setting is locuslab/edge-of-stability's ``fc-tanh`` with the square loss, transposed from CIFAR-10 (not
available offline) to MNIST-1D: inputs standardized per feature, a 40-200-200-10 tanh MLP with PyTorch's
default init variance, the loss ``(1/n) Σ_i ½‖f(x_i) − onehot(y_i)‖²`` (the repository's convention: sharpness
scales with it), plain full-batch GD from the same initialization at each step size, and λmax by Lanczos
(``hessian_eigenvalues``, warm-started from the previous eigenvector) every ``probe.every`` steps. ``quick``
uses 1000 examples; the initial sharpness is ≈ 7, and the two step sizes put 2/η at ≈ 2x and 3x of it.

Verdict, per step size (t* = first measurement with λmax ≥ 0.9·2/η):
- progressive sharpening: λmax at t* is ≥ 1.5x its minimum before t*;
- λmax reaches 0.9·2/η at all;
- after t*, the median of λmax/(2/η) lies within 15% of 1 (anchors-repros §6; Cohen et al.: "just above 2/η",
  the README demo hovers at 205-210 for 2/η = 200, i.e. 2.5-5% above, and λmax oscillates around it);
- at least 30% of all measurements lie after t* inside the band [0.85, 1.15]·2/η (the edge lasts);
- the loss keeps falling: its mean over the last 5% of steps is ≤ 0.9x its value at t*;
- but not monotonically: it rises between consecutive steps at least once after t* (before t*, GD at a stable
  step size decreases it monotonically: that count is reported as a control).
Across step sizes: the plateaus follow 2/η, i.e. median λmax/(2/η) differs by at most 15% between them.
A step size whose 2/η is never reached in the budget fails the plateau checks (``-s train.lrs=0.01,0.02``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import torch

from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data import mnist1d
from phenomena.errors import DivergedError
from phenomena.experiment import Control, Entry, RunContext
from phenomena.models import MLP
from phenomena.probes.hessian import EigenResult, hessian_eigenvalues
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training import Every, History, Progress, StopWhen, fit, make_optimizer

REACH = 0.9  # t* = first measurement with lambda_max >= REACH * 2/eta
BAND = (0.85, 1.15)  # "at the edge": lambda_max / (2/eta) in this band
MAX_PLATEAU_DEVIATION = 0.15  # |median lambda_max/(2/eta) after t* - 1|
MIN_SHARPENING = 1.5  # lambda_max at t* / its minimum before t*
MIN_EDGE_SHARE = 0.3  # share of all measurements that lie after t* inside BAND
MAX_LOSS_RATIO = 0.9  # mean loss over the last 5% of steps / loss at t*
MIN_LOSS_INCREASES = 1  # steps after t* at which the loss rises
MAX_PLATEAU_SPREAD = 1.15  # max / min over step sizes of median lambda_max/(2/eta)
COLORS = (PALETTE["train"], PALETTE["test"], PALETTE["theory"], PALETTE["accent"], PALETTE["control"])


@config
class Data:
    num_samples: int = field(
        5000, at_least(20), help="MNIST-1D examples generated (80% train): the package's frozen set (seed 42)"
    )
    n_train: int = field(
        1000, positive, help="the first n_train training examples (locuslab: the first 5k of CIFAR-10)"
    )

    def __post_init__(self):
        top = int(0.8 * self.num_samples)
        require(
            self.n_train <= top,
            f"data.n_train must lie in [1, {top}] (80% of data.num_samples); got {self.n_train}",
        )


@config
class Model:
    width: int = field(200, positive, help="hidden units per layer (fc-tanh: two hidden layers of 200)")
    depth: int = field(2, positive, help="hidden layers")
    activation: str = field("tanh", help="hidden activation")
    weight_std: float = field(
        3**-0.5, positive, help="W ~ N(0, weight_std^2 / fan_in); 3^-0.5 is the variance of nn.Linear's default"
    )
    bias: bool = field(True, help="layers have biases")


@config
class Train:
    lrs: tuple[float, ...] = field(
        (0.1, 0.15), positive, help="step sizes, each trained from the same init; 2/eta = 20 and 13.3"
    )
    steps: int = field(1500, positive, help="GD steps per step size")
    stop_at_train_acc: float = field(
        0.0, between(0, 1, "[]"), help="stop a step size's run once train accuracy exceeds this (0 = never)"
    )

    def __post_init__(self):
        require(len(self.lrs) >= 2, f"train.lrs must be at least two step sizes; got {self.lrs}")
        require(len(set(self.lrs)) == len(self.lrs), f"train.lrs must be distinct; got {self.lrs}")


@config
class Probe:
    every: int = field(20, positive, help="steps between sharpness measurements")
    tol: float = field(1e-2, between(0, 1), help="Lanczos relative residual: |error of lambda_max| <= tol * lambda_max")
    max_hvps: int = field(
        400, at_least(10), help="Hessian-vector products per measurement at most (a warm start needs ~6-15)"
    )


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    probe: Probe = Probe()
    seed: int = field(0, help="the run's seed")


PRESETS = {
    "smoke": Config(
        data=Data(num_samples=1000, n_train=200),
        model=Model(width=64),
        train=Train(lrs=(0.2, 0.3), steps=400),
        probe=Probe(every=20),
    ),
    "quick": Config(),
    # locuslab/edge-of-stability README: `gd.py cifar10-5k fc-tanh mse 0.01 100000 --acc_goal 0.99 --neigs 2
    # --eig_freq 50`: 5000 examples, fc-tanh 200-200, the 1/2-sum square loss, GD until 99% train accuracy,
    # sharpness every 50 steps. Transposed to MNIST-1D (CIFAR-10 is not available): 5000 training examples of
    # 6250 generated, and step sizes that put 2/eta at 2x and 3x the initial sharpness (~7 here) as eta=0.01
    # put 2/eta = 200 at ~2.7x CIFAR's ~75 in the README's demo.
    "paper": Config(
        data=Data(num_samples=6250, n_train=5000),
        train=Train(lrs=(2 / 21, 2 / 14), steps=20_000, stop_at_train_acc=0.99),
        probe=Probe(every=50),
    ),
}
COSTS = {"smoke": "~5 s", "quick": "~1-1.5 min on 2 CPU cores", "paper": "~1 h per step size on CPU"}


def half_squared_error(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``mean_i ½‖outputs_i − onehot(labels_i)‖²``: locuslab's ``SquaredLoss`` divided by n (Cohen et al.)."""
    targets = torch.nn.functional.one_hot(labels, outputs.shape[-1]).to(outputs.dtype)
    return 0.5 * (outputs - targets).pow(2).sum(-1).mean()


def load_data(cfg: Config, cache=None):
    """MNIST-1D's first ``n_train`` training examples, each feature standardized with their statistics."""
    data = mnist1d(num_samples=cfg.data.num_samples, cache_dir=cache).subset(cfg.data.n_train)
    x = data.x_train
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-8)
    return dataclasses.replace(data, x_train=x)


def build_model(cfg: Config, seed: int) -> MLP:
    """The fc-tanh network of ``cfg.model`` on MNIST-1D's 40 inputs, initialized from ``seed``."""
    m = cfg.model
    return MLP(
        40, 10, width=m.width, depth=m.depth, activation=m.activation, bias=m.bias, weight_std=m.weight_std, seed=seed
    )


def train_one(cfg: Config, data, lr: float, seed: int, bar=None) -> History:
    """Full-batch GD at step size ``lr``; logs the per-step ``loss`` and, every ``probe.every`` steps,
    ``sharpness`` (λmax by warm-started Lanczos), ``hvps`` and ``train_acc``."""
    model = build_model(cfg, seed)
    optimizer = make_optimizer("sgd", model.parameters(), lr)
    history = History()
    batch = (data.x_train, data.y_train)
    generator = torch.Generator().manual_seed(seed)
    previous: list[EigenResult] = []

    def record_loss(state) -> None:
        # state.loss is the loss at the weights *before* step `state.step`
        if state.step >= 1:
            value = state.loss.item()
            if not math.isfinite(value):
                raise DivergedError(state.step, value)
            history.log(state.step - 1, {"loss": value})

    def measure(state) -> None:
        res = hessian_eigenvalues(
            state.model,
            half_squared_error,
            batch,
            k=1,
            tol=cfg.probe.tol,
            warm_start=previous[-1] if previous else None,
            max_hvps=cfg.probe.max_hvps,
            generator=generator,
        )
        if len(res.values):
            previous.append(res)
        with torch.no_grad():
            acc = (state.model(data.x_train).argmax(-1) == data.y_train).float().mean().item()
        value = float(res.values[0]) if len(res.values) else math.nan
        history.log(state.step, {"sharpness": value, "hvps": float(res.n_hvps), "train_acc": acc})

    callbacks = [record_loss, Every(cfg.probe.every, measure)]
    if cfg.train.stop_at_train_acc > 0:
        goal = cfg.train.stop_at_train_acc
        callbacks.append(StopWhen(lambda h: h.last("train_acc", 0.0) > goal, f"train accuracy > {goal}"))
    if bar is not None:
        callbacks.append(Progress(bar, show=("sharpness",), every=cfg.probe.every))
    fit(model, data, half_squared_error, optimizer, cfg.train.steps, callbacks=callbacks, history=history)
    return history


def analyze(steps: list[int], sharpness: list[float], loss: list[float], lr: float) -> dict[str, float]:
    """The edge-of-stability statistics of one run: ``steps``/``sharpness`` are the measurements, ``loss`` the
    per-step training loss (index = step). Quantities that need t* are nan when λmax never reaches 0.9·2/η."""
    threshold = 2 / lr
    ratio = [v / threshold for v in sharpness]
    cross = next((i for i, r in enumerate(ratio) if r >= REACH), None)
    tail = max(1, len(loss) // 20)
    out = {
        "lr": lr,
        "threshold": threshold,
        "sharpness_init": sharpness[0],
        "max_ratio": max(ratio),
        "loss_final": sum(loss[-tail:]) / tail,
        "t_cross": math.nan,
        "sharpening": math.nan,
        "plateau_ratio": math.nan,
        "plateau_sharpness": math.nan,
        "edge_share": 0.0,
        "loss_at_cross": math.nan,
        "loss_ratio": math.nan,
        "loss_increases_after": math.nan,
        "loss_increases_before": float(sum(b > a for a, b in zip(loss, loss[1:], strict=False))),
    }
    if cross is None:
        return out
    t = steps[cross]
    post = ratio[cross:]
    rises = [b > a for a, b in zip(loss, loss[1:], strict=False)]
    out.update(
        t_cross=float(t),
        sharpening=sharpness[cross] / min(sharpness[: cross + 1]),
        plateau_ratio=statistics.median(post),
        plateau_sharpness=statistics.median(sharpness[cross:]),
        edge_share=sum(BAND[0] <= r <= BAND[1] for r in post) / len(ratio),
        loss_at_cross=loss[min(t, len(loss) - 1)],
        loss_increases_before=float(sum(rises[:t])),
        loss_increases_after=float(sum(rises[t:])),
    )
    out["loss_ratio"] = out["loss_final"] / out["loss_at_cross"]
    return out


def run(cfg: Config, ctx: RunContext) -> Result:
    data = load_data(cfg, ctx.cache)
    seed = ctx.stream_seed("init")  # the same initialization for every step size
    summary: dict[str, float] = {}
    series: dict[str, Series] = {}
    with ctx.progress(cfg.train.steps * len(cfg.train.lrs), desc="edge of stability") as bar:
        for i, lr in enumerate(cfg.train.lrs, 1):
            history = train_one(cfg, data, lr, seed, bar)
            steps, lam = history.curves["sharpness"]
            loss = history.curves["loss"][1]
            stats = analyze(steps, lam, loss, lr)
            stats.update(
                steps_run=float(len(loss)),
                hvps=sum(history.curves["hvps"][1]),
                final_train_acc=history.last("train_acc"),
            )
            summary.update({f"{k}_{i}": v for k, v in stats.items()})
            series.update(history.series(f"_{i}"))
    plateaus = [summary[f"plateau_ratio_{i}"] for i in range(1, len(cfg.train.lrs) + 1)]
    spread = max(plateaus) / min(plateaus)
    summary["plateau_spread"] = math.nan if any(map(math.isnan, plateaus)) else spread
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    checks = []
    for i, lr in enumerate(result.config.train.lrs, 1):
        at = _at(lr)
        t = s[f"t_cross_{i}"]
        deviation = abs(s[f"plateau_ratio_{i}"] - 1)
        checks += [
            Check(f"{at}: λmax reaches {REACH}·2/η (max λmax·η/2; t* = {_step(t)})", s[f"max_ratio_{i}"], ">=", REACH),
            Check(
                f"{at}: progressive sharpening, λmax at t* / its minimum before",
                s[f"sharpening_{i}"],
                ">=",
                MIN_SHARPENING,
                note=f"at init {s[f'sharpness_init_{i}']:.3g}",
            ),
            Check(
                f"{at}: |median λmax·η/2 after t* − 1|",
                deviation,
                "<=",
                MAX_PLATEAU_DEVIATION,
                note="the sharpness hovers at 2/η instead of growing on",
            ),
            Check(
                f"{at}: share of measurements after t* with λmax·η/2 in [{BAND[0]}, {BAND[1]}]",
                s[f"edge_share_{i}"],
                ">=",
                MIN_EDGE_SHARE,
                note="the edge lasts a large part of the run",
            ),
            Check(
                f"{at}: loss keeps falling, mean over the last 5% of steps / loss at t*",
                s[f"loss_ratio_{i}"],
                "<=",
                MAX_LOSS_RATIO,
            ),
            Check(
                f"{at}: steps after t* at which the loss rises",
                s[f"loss_increases_after_{i}"],
                ">=",
                MIN_LOSS_INCREASES,
                note=f"{s[f'loss_increases_before_{i}']:.0f} before t*",
            ),
        ]
    checks.append(
        Check(
            "plateaus follow 2/η: max / min over η of median λmax·η/2 after t*",
            s["plateau_spread"],
            "<=",
            MAX_PLATEAU_SPREAD,
        )
    )
    return Verdict(tuple(checks))


def figure(result: Result):
    s = result.summary
    fig, axes = subplots(1, 3, width=3.9)
    loss_ax, sharp_ax, ratio_ax = axes[0]
    for i, lr in enumerate(result.config.train.lrs, 1):
        color, label = COLORS[(i - 1) % len(COLORS)], f"η={lr:.3g}"
        steps, values = result.curve(f"loss_{i}")
        loss_ax.plot(steps, values, color=color, linewidth=0.8, label=label)
        steps, values = result.curve(f"sharpness_{i}")
        sharp_ax.plot(steps, values, ".-", color=color, markersize=2.5, linewidth=0.7, label=label)
        sharp_ax.axhline(2 / lr, color=color, linestyle="--", linewidth=0.9, label=f"2/η={2 / lr:.3g}")
        ratio_ax.plot(
            steps, [v * lr / 2 for v in values], ".-", color=color, markersize=2.5, linewidth=0.7, label=label
        )
        if not math.isnan(s[f"t_cross_{i}"]):
            for ax in (loss_ax, sharp_ax, ratio_ax):
                ax.axvline(s[f"t_cross_{i}"], color=color, linestyle=":", linewidth=0.8)
    loss_ax.set(xlabel="step", ylabel="training loss", yscale="log", title="loss (dotted: t*)")
    sharp_ax.set(xlabel="step", ylabel="λmax", title="sharpness and 2/η")
    ratio_ax.axhspan(*BAND, color=PALETTE["control"], alpha=0.15, label=f"band {BAND[0]}-{BAND[1]}")
    ratio_ax.axhline(1.0, color="k", linewidth=0.8)
    ratio_ax.set(xlabel="step", ylabel="λmax / (2/η)", title="sharpness in units of 2/η")
    for ax in (loss_ax, sharp_ax, ratio_ax):
        ax.legend(loc="best")
    cfg = result.config
    fig.suptitle(
        f"edge of stability: full-batch GD, MNIST-1D ({cfg.data.n_train} examples), "
        f"{cfg.model.activation} MLP {cfg.model.depth}x{cfg.model.width}, square loss"
    )
    fig.tight_layout()
    return fig


def _at(lr: float) -> str:
    """How a step size's checks begin: ``η=0.1 (2/η=20)``."""
    return f"η={lr:.4g} (2/η={2 / lr:.3g})"


def _step(value: float) -> str:
    return "never" if math.isnan(value) else f"{int(value)}"


NEVER_REACHED = (0.01, 0.02)  # the control's step sizes: 2/η = 200 and 100, far above the sharpness in budget

ENTRY = Entry(
    name="edge-of-stability",
    summary="full-batch gradient descent raises the sharpness to 2/η, then hovers there",
    papers=(
        "Cohen, Kaur, Li, Kolter, Talwalkar 2021 — Gradient descent on neural networks typically occurs at the "
        "edge of stability",
        "Damian, Nichani, Lee 2023 — Self-stabilization: the implicit bias of gradient descent at the edge of "
        "stability",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    controls=(
        Control(
            "threshold never reached",
            {"train.lrs": NEVER_REACHED},
            must_fail=(
                *(
                    f"{_at(lr)}: {check}"
                    for lr in NEVER_REACHED
                    for check in ("λmax reaches", "|median λmax·η/2 after t* − 1|", "share of measurements after t*")
                ),
                "plateaus follow",
            ),
            why="step sizes so small that 2/η lies far above the sharpness the budget reaches: there is no edge, "
            "so no plateau at 2/η to follow",
        ),
    ),
)
