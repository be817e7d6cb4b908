"""Grokking: generalization arrives long after the training set has been fit.

Power et al. (2022) trained small transformers on tables of modular arithmetic: training accuracy reached 100%
early, and test accuracy jumped from chance to 100% only much later, with weight decay the strongest lever.
Nanda et al. (2023) showed the network ends up computing addition with a few Fourier frequencies (memorization,
then circuit formation, then cleanup). Gromov (2023) found the same delay in a two-layer MLP with a quadratic
activation trained on MSE, with an analytic solution whose weights are periodic in the tokens.

The default (``quick``) is Gromov's MLP as in the ``d-doshi/Grokking`` code: one-hot inputs (a, b) of
``a + b mod 97``, 500 quadratic units, no biases, MSE on one-hot targets, full-batch AdamW (lr 1e-2, betas
0.9/0.98). With 25% of the table and weight decay 2 it fits the training set in ~20 steps and generalizes only
~8x later; without weight decay it does not generalize within the same budget (check it:
``phenomena run grokking -s train.weight_decay=0``). ``paper`` is Nanda et al.'s one-layer transformer.

Verdict: training accuracy reaches 0.99 (at step t_fit); test accuracy reaches 0.95 (at step t_gen); the delay
t_gen / t_fit is at least 3; the Fourier IPR of the token weights (Nanda et al.'s and Gromov's progress measure:
the network turns periodic in the tokens) at least doubles between t_fit and the end. Reported alongside: the
weight norm over time, the quantity weight decay acts on (Liu et al. 2023's "LU" picture of grokking).
The thresholds are definitions fixed in advance; on calibration seeds 100-109 every check passes with margin
(``ENTRY.calibration``), and ``phenomena verify grokking`` judges them on seeds 0-2 with the weight-decay control,
which must fail the generalization, delay and Fourier checks. A run of ``paper`` (Nanda et al.'s setting) adds a
reference row: t_gen must fall in their cleanup phase, 9.4k-14k steps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from phenomena.config import at_least, between, config, field, one_of, positive
from phenomena.data import modular_arithmetic
from phenomena.experiment import Calibration, Control, Entry, Reference, RunContext
from phenomena.models import MLP, TinyTransformer
from phenomena.models.layers import ACTIVATIONS
from phenomena.probes.fourier import fourier_ipr
from phenomena.report import PALETTE, subplots
from phenomena.result import Check, Result, Verdict
from phenomena.training import (
    LogMetrics,
    Progress,
    StopWhen,
    evaluate,
    fit,
    loss_function,
    make_optimizer,
    save_checkpoint,
    warmup,
)

FIT_ACCURACY = 0.99  # "the training set has been fit"
GEN_ACCURACY = 0.95  # "the network generalizes"
MIN_DELAY = 3.0  # t_gen / t_fit: generalization comes at least this many times later than fitting
MIN_IPR_RISE = 2.0  # Fourier IPR at the end / at t_fit: the weights become sparse in frequency


@config
class Data:
    p: int = field(97, at_least(2), help="the modulus")
    op: Literal["+", "-", "*", "/"] = field("+", help="the operation tabled mod p")
    train_fraction: float = field(0.25, between(0, 1), help="fraction of the p*p table used for training")


@config
class Model:
    kind: Literal["mlp", "transformer"] = field("mlp", help="Gromov's MLP or Nanda et al.'s transformer")
    width: int = field(500, positive, help="MLP hidden units")
    activation: str = field("quadratic", one_of(*ACTIVATIONS), help="MLP activation")
    weight_std: float = field(1.0, positive, help="MLP init: W ~ N(0, weight_std^2 / fan_in)")
    d_model: int = field(128, positive, help="transformer residual width")
    n_heads: int = field(4, positive, help="transformer attention heads")
    d_mlp: int = field(512, positive, help="transformer MLP width")
    n_layers: int = field(1, positive, help="transformer blocks")


@config
class Train:
    steps: int = field(400, positive, help="budget of optimizer steps")
    lr: float = field(1e-2, positive, help="AdamW learning rate")
    weight_decay: float = field(2.0, at_least(0), help="AdamW decoupled weight decay: the lever of grokking")
    betas: tuple[float, float] = field((0.9, 0.98), between(0, 1, "[)"), help="AdamW betas")
    loss: Literal["mse", "ce"] = field("mse", help="MSE on one-hot targets (Gromov) or cross-entropy (Nanda)")
    batch_size: int | None = field(None, positive, help="examples per step; none = full batch")
    warmup_steps: int = field(0, at_least(0), help="linear learning-rate warm-up steps")
    log_every: int = field(4, positive, help="evaluate train/test metrics every this many steps")
    stop_when_generalized: bool = field(True, help="end the run once train and test accuracy are both >= 0.99")


@config
class Config:
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()
    seed: int = field(0, help="the run's seed")
    checkpoint: bool = field(False, help="save the final weights as model.safetensors in the run folder")


PRESETS = {
    "smoke": Config(data=Data(p=41, train_fraction=0.4), model=Model(width=128), train=Train(steps=300)),
    "quick": Config(),
    # Nanda et al. 2023, progress-measures-paper/transformers.py: p=113, 30% of pairs, 1-layer transformer
    # d_model 128 / 4 heads / d_mlp 512, no LayerNorm, AdamW lr 1e-3 wd 1 betas (0.9, 0.98), 10-step warm-up,
    # full batch, cross-entropy, 50,000 steps (grokking is over by ~14k, where the run stops). Differences: the loss
    # is computed in float32 (theirs in float64) and test accuracy is read every 100 steps.
    "paper": Config(
        data=Data(p=113, train_fraction=0.3),
        model=Model(kind="transformer"),
        train=Train(steps=50_000, lr=1e-3, weight_decay=1.0, loss="ce", warmup_steps=10, log_every=100),
    ),
}
COSTS = {"smoke": "~3 s", "quick": "~15 s on 2 CPU cores", "paper": "~1-2 h on CPU, minutes on a GPU"}


def unused(cfg: Config) -> tuple[str, ...]:
    """The model keys of the other architecture: they do not change the run."""
    mlp, transformer = ("width", "activation", "weight_std"), ("d_model", "n_heads", "d_mlp", "n_layers")
    return tuple(f"model.{k}" for k in (transformer if cfg.model.kind == "mlp" else mlp))


def build_model(cfg: Config, seed: int) -> torch.nn.Module:
    p = cfg.data.p
    if cfg.model.kind == "transformer":  # input [a, b, '='], '=' being token p
        m = cfg.model
        return TinyTransformer(
            p + 1, p, n_ctx=3, d_model=m.d_model, n_heads=m.n_heads, d_mlp=m.d_mlp, n_layers=m.n_layers, seed=seed
        )
    return MLP(
        0,
        p,
        width=cfg.model.width,
        depth=1,
        activation=cfg.model.activation,
        bias=False,
        weight_std=cfg.model.weight_std,
        vocab=p,
        tokens=2,
        seed=seed,
    )


def architecture(cfg: Config) -> torch.nn.Module:
    """The network a run of ``cfg`` trains (untrained weights; ``Result.model()`` loads the checkpoint into it)."""
    return build_model(cfg, seed=0)


def token_weights(model: torch.nn.Module, p: int) -> torch.Tensor:
    """Weights indexed by input token along the last axis: rows are (neuron, operand) or embedding dims."""
    if isinstance(model, TinyTransformer):
        return model.embed[:p].T
    first = model.layers[0].weight  # (width, 2p): columns are the one-hot codes of a, then of b
    return first.reshape(first.shape[0], 2, p)


def run(cfg: Config, ctx: RunContext) -> Result:
    data = modular_arithmetic(cfg.data.p, cfg.data.op, cfg.data.train_fraction, seed=ctx.stream_seed("data"))
    if cfg.model.kind == "transformer":
        eq = torch.full((1,), cfg.data.p)
        data = dataclasses.replace(
            data,
            x_train=torch.cat([data.x_train, eq.expand(data.n_train, 1)], 1),
            x_test=torch.cat([data.x_test, eq.expand(len(data.x_test), 1)], 1),
        )
    model = build_model(cfg, ctx.stream_seed("init"))
    loss_fn = loss_function(cfg.train.loss)
    optimizer = make_optimizer("adamw", model.parameters(), cfg.train.lr, cfg.train.weight_decay, betas=cfg.train.betas)
    params = list(model.parameters())

    def measure(m: torch.nn.Module) -> dict[str, float]:
        train_loss, train_acc = evaluate(m, data.x_train, data.y_train, loss_fn)
        test_loss, test_acc = evaluate(m, data.x_test, data.y_test, loss_fn)
        norm = torch.sqrt(sum(q.pow(2).sum() for q in params)).item()
        ipr = fourier_ipr(token_weights(m, cfg.data.p)).nanmean().item()
        return dict(
            train_loss=train_loss,
            train_acc=train_acc,
            test_loss=test_loss,
            test_acc=test_acc,
            weight_norm=norm,
            fourier_ipr=ipr,
        )

    def generalized(h) -> bool:
        return h.last("train_acc", 0.0) >= 0.99 and h.last("test_acc", 0.0) >= 0.99

    callbacks = [LogMetrics(cfg.train.log_every, measure)]
    if cfg.train.stop_when_generalized:
        callbacks.append(StopWhen(generalized, "train and test accuracy >= 0.99"))
    with ctx.progress(cfg.train.steps, desc="grokking") as bar:
        callbacks.append(Progress(bar, show=("train_acc", "test_acc"), every=cfg.train.log_every))
        history, state = fit(
            model,
            data,
            loss_fn,
            optimizer,
            cfg.train.steps,
            batch_size=cfg.train.batch_size,
            generator=ctx.generator("batches"),
            callbacks=callbacks,
            scheduler=warmup(optimizer, cfg.train.warmup_steps),
        )

    t_fit = history.first_step("train_acc", lambda v: v >= FIT_ACCURACY)
    t_gen = history.first_step("test_acc", lambda v: v >= GEN_ACCURACY)
    series = history.series()

    def at(name: str, step: int | None) -> float:
        if step is None:
            return math.nan
        steps, values = history.curves[name]
        return values[steps.index(step)]

    summary = {
        "t_fit": _num(t_fit),
        "t_gen": _num(t_gen),
        "delay": t_gen / t_fit if t_fit and t_gen else math.nan,
        "steps_run": float(state.step),
        "max_train_acc": max(history.curves["train_acc"][1]),
        "max_test_acc": max(history.curves["test_acc"][1]),
        "final_train_acc": history.last("train_acc"),
        "final_test_acc": history.last("test_acc"),
        "weight_norm_init": history.curves["weight_norm"][1][0],
        "weight_norm_at_fit": at("weight_norm", t_fit),
        "weight_norm_final": history.last("weight_norm"),
        "fourier_ipr_at_fit": at("fourier_ipr", t_fit),
        "fourier_ipr_final": history.last("fourier_ipr"),
    }
    summary["fourier_ipr_rise"] = summary["fourier_ipr_final"] / summary["fourier_ipr_at_fit"]
    artifacts = {}
    if cfg.checkpoint:
        artifacts["checkpoint"] = str(save_checkpoint(model, ctx.artifacts / "model.safetensors"))
    return ctx.result(cfg, summary, series, artifacts)


def verdict(result: Result) -> Verdict:
    s = result.summary
    return Verdict(
        (
            Check(
                f"train accuracy reaches {FIT_ACCURACY} (t_fit = {_step(s['t_fit'])})",
                s["max_train_acc"],
                ">=",
                FIT_ACCURACY,
            ),
            Check(
                f"test accuracy reaches {GEN_ACCURACY} (t_gen = {_step(s['t_gen'])})",
                s["max_test_acc"],
                ">=",
                GEN_ACCURACY,
            ),
            Check("delay t_gen / t_fit", s["delay"], ">=", MIN_DELAY, note="generalization comes long after fitting"),
            Check(
                "Fourier IPR rise, end / t_fit",
                s["fourier_ipr_rise"],
                ">=",
                MIN_IPR_RISE,
                note="token weights concentrate on a few frequencies",
            ),
        )
    )


def figure(result: Result):
    s = result.summary
    fig, axes = subplots(1, 3, width=3.8)
    acc, loss, norm = axes[0]
    for split in ("train", "test"):
        steps, values = result.curve(f"{split}_acc")
        acc.plot(_pos(steps), values, color=PALETTE[split], label=split)
        steps, values = result.curve(f"{split}_loss")
        loss.plot(_pos(steps), values, color=PALETTE[split], label=split)
    for ax in (acc, loss):
        ax.set_xscale("log")
        for key, style in (("t_fit", ":"), ("t_gen", "--")):
            if not math.isnan(s[key]):
                ax.axvline(s[key], color="k", linestyle=style, linewidth=0.8, label=key)
    acc.set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(-0.02, 1.02))
    loss.set(xlabel="step", ylabel="loss", yscale="log", title="loss")
    acc.legend(loc="center left")
    steps, values = result.curve("weight_norm")
    norm.plot(_pos(steps), values, color=PALETTE["accent"], label="weight norm")
    norm.set(xlabel="step", ylabel="‖θ‖", xscale="log", title="weight norm and Fourier IPR")
    twin = norm.twinx()
    steps, values = result.curve("fourier_ipr")
    twin.plot(_pos(steps), values, color=PALETTE["theory"], label="Fourier IPR")
    twin.set_ylabel("mean IPR (r=2)")
    norm.legend(handles=norm.get_lines() + twin.get_lines(), loc="center left")
    cfg = result.config
    fig.suptitle(
        f"grokking: {cfg.model.kind}, {cfg.data.op} mod {cfg.data.p}, {cfg.data.train_fraction:.0%} of "
        f"the table, wd {cfg.train.weight_decay:g} — "
        + (f"delay {s['delay']:.1f}x" if math.isfinite(s["delay"]) else "never generalized within the budget")
    )
    fig.tight_layout()
    return fig


def _pos(steps: list[int]) -> list[float]:
    """Step 0 cannot sit on a log axis; draw it at 0.5."""
    return [max(step, 0.5) for step in steps]


def _num(step: int | None) -> float:
    return math.nan if step is None else float(step)


def _step(value: float) -> str:
    return "never" if math.isnan(value) else f"{int(value)}"


ENTRY = Entry(
    name="grokking",
    model=architecture,
    summary="generalization arrives long after the training set has been fit",
    papers=(
        "Power, Burda, Edwards, Babuschkin, Misra 2022 — Grokking: generalization beyond overfitting on small "
        "algorithmic datasets",
        "Nanda, Chan, Lieberum, Smith, Steinhardt 2023 — Progress measures for grokking via mechanistic "
        "interpretability",
        "Gromov 2023 — Grokking modular arithmetic",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("t_fit", "t_gen", "delay"),
    controls=(
        Control(
            "no weight decay",
            {"train.weight_decay": 0},
            must_fail=("test accuracy reaches", "delay", "Fourier IPR rise"),
            why="without weight decay the memorizing solution is never pruned: test accuracy stays near chance "
            "and the token weights stay dense in frequency",
        ),
    ),
    references=(
        Reference(
            "Nanda et al. 2023, §5 (memorization 0-1.4k, circuit formation 1.4k-9.4k, cleanup 9.4k-14k steps)",
            preset="paper",
            metric="t_gen",
            value=11_700,
            tol=2_300,
            note="the test-accuracy jump lies in the cleanup phase, 9.4k-14k steps: t_gen within it",
        ),
    ),
    calibration=Calibration(
        seeds=tuple(range(100, 110)),
        note="quick, one thread: every check passes on all 10 seeds with margin (delay 8.2-9.2 vs 3; IPR rise "
        "5.7-6.2 vs 2; test accuracy 0.990-0.995 vs 0.95). The thresholds are definitions fixed before these "
        "runs (fit = 0.99, generalize = 0.95, 'long after' = 3x, 'periodic' = IPR doubles). The control (weight "
        "decay 0) fails test accuracy (max 0.013-0.024), delay (never generalizes) and IPR rise (1.35-1.66) on "
        "seeds 100-104."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (make_optimizer's AdamW, for fit: "
        "the same rule, rounded differently in the last bits, which re-draws the runs; `phenomena verify grokking "
        "--calibration`, AVX-512 kernels): every seed passes and every control fails 10/10; `observed` holds these "
        "values.",
        observed={
            "t_fit": (20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0),
            "t_gen": (164.0, 176.0, 180.0, 180.0, 184.0, 184.0, 184.0, 172.0, 176.0, 172.0),
            "delay": (8.2, 8.8, 9.0, 9.0, 9.2, 9.2, 9.2, 8.6, 8.8, 8.6),
            "max_test_acc": (0.9915, 0.9928, 0.9914, 0.9948, 0.9923, 0.9933, 0.9942, 0.996, 0.9916, 0.9906),
            "fourier_ipr_rise": (5.68, 5.773, 5.812, 5.916, 5.985, 6.166, 5.814, 5.839, 5.898, 5.772),
        },
    ),
    unused=unused,
)
