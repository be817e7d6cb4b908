"""The information plane: tanh layers compress under binning, ReLU layers do not (the claim and its critique).

Shwartz-Ziv & Tishby (2017) trained a 12-10-7-5-4-3-2 tanh network on a 12-bit task and tracked, for each
hidden layer T, the mutual informations I(X;T) and I(T;Y) estimated by binning the activations (30 bins on
[−1, 1]). They saw a short fitting phase (both rise) and then a long compression phase in which I(X;T) of the
deeper layers falls, and proposed compression as the mechanism of generalization. Saxe et al. (2018) repeated
the experiment with ReLU and found no compression; they traced the tanh compression to the saturation of the
double-sided nonlinearity. For ReLU their binning uses bins of a fixed size (0.07, ``bin_calc_information2``):
bins over [0, max activation] of each epoch widen as the largest activation grows, which by itself makes
I(X;T) fall (an estimator artifact, kept here as data and as the ``relu_binning="range"`` option).

This entry trains both activations from the same seeds in one run on the shipped ``var_u`` task
(:func:`phenomena.data.ib_task`: 80% of the 4096 patterns for training, as ``-inds 80``) with Adam (lr 4e-4)
and TruncatedNormal(0, 1/sqrt(fan_in)) weights, zero biases (``ravidziv/IDNNs``). Activations of every hidden
layer on all 4096 inputs are recorded at log-spaced epochs; I(X;T), I(T;Y) come from
:func:`phenomena.probes.information.binned_information` (tanh: 30 bins on [−1, 1]; ReLU: bin size 0.07) and,
at a few of those epochs on a fixed subsample of patterns, from Saxe et al.'s KDE upper bound with noise
variance 1e-3 (:func:`phenomena.probes.information.kde_information`), reported as data only.

All seeds of one activation train at once (:class:`SeedStack`: stacked weights, batched matrix products, one
elementwise Adam, exactly as separate networks), which makes the tiny network cheap enough for several seeds.

Verdict, for the deepest ``DEEP_LAYERS`` hidden layers (4 and 3 units), with compression = max over epochs of
I(X;T) − final I(X;T) in bits (binning; per seed the mean over those layers, then the mean over the seeds that
fit, i.e. whose last hidden layer ends with I(T;Y) ≥ ``MIN_FINAL_ITY``, or over all seeds if none did): tanh
compresses by at least ``MIN_COMPRESSION``; ReLU's fall stays below ``MAX_RELU_FALL``; and at least
``MIN_FITTED`` of the seeds of each activation fit, so that "no compression" is not "no learning" (a narrow ReLU
network can die).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from phenomena.config import at_least, between, config, field, positive, require
from phenomena.data import ib_task
from phenomena.data.ib import ib_arrays
from phenomena.experiment import Control, Entry, RunContext
from phenomena.probes.information import binned_information, kde_information
from phenomena.report import subplots
from phenomena.result import Check, Result, Series, Verdict

DEEP_LAYERS = 2  # the last hidden layers (4 and 3 units), where Shwartz-Ziv & Tishby's compression is clearest
# Margins (bits), from the per-seed spread of the quick setting (2000 epochs, 10 seeds: quick with seed=0 and
# seed=1). tanh compressed 0.12, 0.63, 0.77, 0.77, 0.96, 1.08, 1.63, 1.69, 2.37, 4.68 (mean 1.47, sd 1.29; runs
# vary a lot, as Saxe et al. note); the 9 ReLU networks that fit fell by 0.00-0.48 (mean 0.14, sd 0.15; one died).
# Bootstrapping 5-seed means from these: tanh's is below 0.5 in 0.5% of resamples (1st percentile 0.55), ReLU's
# above 0.4 in 0.05% (99th percentile 0.31). 0.5 is also the anchor's "falls by >= 0.5 bit" (anchors-repros §5).
MIN_COMPRESSION = 0.5
MAX_RELU_FALL = 0.4
MIN_FINAL_ITY = 0.8  # anchors-repros §5: I(T;Y) of the last hidden layer ends >= 0.8 bit (H(Y) = 0.999)
MIN_FITTED = 0.5  # fraction of seeds per activation that must fit (narrow ReLU nets can die: one of 5 did)
ACTIVATIONS = ("tanh", "relu")


@config
class Train:
    epochs: int = field(2000, positive, help="passes over the training set")
    lr: float = field(4e-4, positive, help="Adam learning rate, as in ravidziv/IDNNs and artemyk/ibsgd")
    batch_size: int = field(256, positive, help="examples per step: Saxe et al.'s replica (IDNNs: 512)")
    train_fraction: float = field(0.8, between(0, 1), help="fraction of the 4096 patterns used for training")


@config
class Estimate:
    num_bins: int = field(30, at_least(2), help="tanh: Shwartz-Ziv & Tishby's 30 bins on [-1, 1]")
    relu_bin_size: float = field(0.07, positive, help="ReLU: Saxe et al.'s bin size (bin_calc_information2)")
    relu_binning: Literal["size", "range"] = field(
        "size", help='ReLU bins of relu_bin_size, or "range": num_bins over [0, max] per epoch (the artifact)'
    )
    points: int = field(60, at_least(2), help="log-spaced epochs at which activations are recorded")
    kde_points: int = field(8, at_least(0), help="of those, this many log-spaced ones also get the KDE; 0 = never")
    kde_patterns: int = field(
        1024, between(2, 4096, "[]"), help="the KDE uses a fixed random subsample of the 4096 patterns"
    )
    kde_noise_variance: float = field(1e-3, positive, help="noise variance of the KDE upper bound (Saxe et al.)")


@config
class Config:
    widths: tuple[int, ...] = field(
        (10, 7, 5, 4, 3), positive, help="hidden layer widths (Shwartz-Ziv & Tishby's network 1)"
    )
    train: Train = Train()
    estimate: Estimate = Estimate()
    seeds: int = field(5, positive, help="networks per activation, trained at once from their own seeds")
    seed: int = field(0, help="the run's seed")

    def __post_init__(self):
        require(
            len(self.widths) >= DEEP_LAYERS,
            f"widths needs at least {DEEP_LAYERS} positive hidden widths; got {self.widths}",
        )


PRESETS = {
    "smoke": Config(train=Train(epochs=20), estimate=Estimate(points=6, kde_points=2, kde_patterns=256), seeds=1),
    "quick": Config(),
    # Shwartz-Ziv & Tishby 2017 (ravidziv/IDNNs): 8000 epochs, batch 512, MI at 400 log-spaced epochs, 50 runs
    # averaged in the paper; Saxe et al. (artemyk/ibsgd): 10,000 epochs, batch 256, KDE on all patterns.
    "paper": Config(
        train=Train(epochs=8000, batch_size=512),
        estimate=Estimate(points=400, kde_points=40, kde_patterns=4096),
        seeds=50,
    ),
}
COSTS = {"smoke": "~5 s", "quick": "~2 min on 2 CPU cores", "paper": "~10 h on CPU"}


def build_network(widths: tuple[int, ...], activation: str, seed: int) -> nn.Sequential:
    """12-w1-...-wk-2 with TruncatedNormal(0, 1/sqrt(fan_in)) weights (±2 std) and zero biases, as in IDNNs."""
    g = torch.Generator().manual_seed(seed)
    act = nn.Tanh if activation == "tanh" else nn.ReLU
    layers: list[nn.Module] = []
    fan = 12
    for i, out in enumerate((*widths, 2)):
        linear = nn.Linear(fan, out)
        std = 1.0 / math.sqrt(fan)
        with torch.no_grad():
            nn.init.trunc_normal_(linear.weight, std=std, a=-2 * std, b=2 * std, generator=g)
            linear.bias.zero_()
        layers.append(linear)
        if i < len(widths):
            layers.append(act())
        fan = out
    return nn.Sequential(*layers)


def hidden_activations(net: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every hidden nonlinearity on ``x`` (no grad)."""
    out, h = [], x
    with torch.no_grad():
        for module in net:
            h = module(h)
            if isinstance(module, nn.Tanh | nn.ReLU):
                out.append(h)
    return out


def log_epochs(epochs: int, points: int) -> list[int]:
    """About ``points`` distinct epochs log-spaced in [1, epochs], plus epoch 0 (IDNNs' ``np.logspace``)."""
    grid = np.unique(np.round(np.logspace(0, np.log10(epochs), points)).astype(int))
    return [0, *grid.tolist()]


def binned(t: torch.Tensor, y: torch.Tensor, activation: str, est: Estimate, relu_binning: str) -> dict:
    """The binning estimate for one layer: tanh 30 bins on [−1, 1]; ReLU bin size 0.07 or bins over [0, max]."""
    if activation == "tanh":
        return binned_information(t, y, est.num_bins, bin_range=(-1.0, 1.0))
    if relu_binning == "size":
        return binned_information(t, y, bin_size=est.relu_bin_size)
    return binned_information(t, y, est.num_bins, bin_range=(0.0, max(float(t.max()), 1e-12)))


def compression(ixt: np.ndarray, deep: int = DEEP_LAYERS) -> np.ndarray:
    """Per seed: mean over the last ``deep`` layers of max over epochs of I(X;T) − final I(X;T).

    ``ixt`` is (seeds, epochs, layers) in bits; returns (seeds,).
    """
    last = ixt[:, :, -deep:]
    return (last.max(1) - last[:, -1]).mean(1)


class SeedStack:
    """``len(seeds)`` copies of :func:`build_network`, one per seed, as stacked (S, in, out) weights.

    The 12-bit network is so small that a step costs Python overhead, not arithmetic: batched matrix products
    train all seeds for the price of one. Adam is elementwise, so one ``torch.optim.Adam`` over the stacked
    tensors, minimizing the sum of the members' mean losses, is exactly one independent Adam per member.
    """

    def __init__(self, widths: tuple[int, ...], activation: str, seeds: list[int], dtype=torch.float32):
        nets = [build_network(widths, activation, s) for s in seeds]
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        self.weights = [
            torch.stack([ls[i].weight.detach().T for ls in linears]).to(dtype).requires_grad_()
            for i in range(len(widths) + 1)
        ]
        self.biases = [
            torch.stack([ls[i].bias.detach()[None] for ls in linears]).to(dtype).requires_grad_()
            for i in range(len(widths) + 1)
        ]
        self.act = torch.tanh if activation == "tanh" else torch.relu

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x`` (S, B, 12) -> logits (S, B, 2) and the hidden activations (S, B, width) of every layer."""
        hidden, h = [], x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.weights) - 1:
                h = self.act(h)
                hidden.append(h)
        return h, hidden


def train_stack(
    stack: SeedStack,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    generators: list[torch.Generator],
    on_epoch,
) -> None:
    """Adam on every member for ``epochs`` passes over (x, y), as Keras does in Saxe et al.'s replica.

    Each member shuffles with its own generator every epoch and takes consecutive slices of ``batch_size``
    (the last one smaller); ``on_epoch(epoch)`` runs at epoch 0 (before training) and after each epoch.
    """
    n, members = len(x), len(generators)
    optimizer = torch.optim.Adam(stack.parameters(), lr=lr)
    on_epoch(0)
    for epoch in range(1, epochs + 1):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators])  # (S, n)
        for lo in range(0, n, batch_size):
            idx = order[:, lo : lo + batch_size]
            logits, _ = stack.forward(x[idx])
            loss = (
                nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[idx].reshape(-1), reduction="none")
                .view(members, -1)
                .mean(1)
                .sum()
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        on_epoch(epoch)


def run(cfg: Config, ctx: RunContext) -> Result:
    est = cfg.estimate
    data = ib_task(cfg.train.train_fraction, seed=ctx.stream_seed("data"))
    f, y = ib_arrays()
    x_all, y_all = torch.tensor(f, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
    kde_rows = torch.randperm(len(x_all), generator=ctx.generator("kde-subsample"))[: est.kde_patterns]
    epochs = log_epochs(cfg.train.epochs, est.points)
    kde_at = sorted(
        {epochs[int(i)] for i in np.unique(np.round(np.geomspace(1, len(epochs), est.kde_points)) - 1)}
        if est.kde_points
        else set()
    )
    recorded = {e: i for i, e in enumerate(epochs)}
    n_layers = len(cfg.widths)
    other = "range" if est.relu_binning == "size" else "size"
    series: dict[str, Series] = {}
    summary: dict[str, float] = {}
    with ctx.progress(len(ACTIVATIONS) * cfg.train.epochs, desc="information-plane") as bar:
        for activation in ACTIVATIONS:
            # (seed, epoch index, layer) arrays of bits; for ReLU also the other binning (data)
            ixt, ity, ixt_other = (np.zeros((cfg.seeds, len(epochs), n_layers)) for _ in range(3))
            kde_xt, kde_ty = (np.zeros((cfg.seeds, len(kde_at), n_layers)) for _ in range(2))
            # the same init seeds for both activations: the comparison is paired
            stack = SeedStack(cfg.widths, activation, [ctx.stream_seed(f"init-{k}") for k in range(cfg.seeds)])

            def on_epoch(
                epoch,
                stack=stack,
                activation=activation,
                ixt=ixt,
                ity=ity,
                ixt_other=ixt_other,
                kde_xt=kde_xt,
                kde_ty=kde_ty,
            ):
                if epoch:
                    bar.update(1)
                i = recorded.get(epoch)
                if i is None:
                    return
                with torch.no_grad():
                    _, acts = stack.forward(x_all.expand(cfg.seeds, -1, -1))
                for k in range(cfg.seeds):
                    for layer, t in enumerate(acts):
                        mi = binned(t[k], y_all, activation, est, est.relu_binning)
                        ixt[k, i, layer], ity[k, i, layer] = mi["i_xt"], mi["i_ty"]
                        if activation == "relu":
                            ixt_other[k, i, layer] = binned(t[k], y_all, activation, est, other)["i_xt"]
                        if epoch in kde_at:
                            mi = kde_information(t[k][kde_rows], y_all[kde_rows], est.kde_noise_variance)
                            kde_xt[k, kde_at.index(epoch), layer], kde_ty[k, kde_at.index(epoch), layer] = (
                                mi["i_xt"],
                                mi["i_ty"],
                            )

            generators = [ctx.generator(f"batches-{activation}-{k}") for k in range(cfg.seeds)]
            train_stack(
                stack, data.x_train, data.y_train, epochs[-1], cfg.train.batch_size, cfg.train.lr, generators, on_epoch
            )
            with torch.no_grad():
                logits, _ = stack.forward(data.x_test.expand(cfg.seeds, -1, -1))
                acc = (logits.argmax(-1) == data.y_test).double().mean(1)
            for k in range(cfg.seeds):
                summary[f"test_acc_{activation}_seed{k}"] = float(acc[k])
            for layer in range(n_layers):
                name = f"{activation}_l{layer + 1}"
                series[f"ixt_{name}"] = Series(epochs, ixt[:, :, layer].mean(0).tolist())
                series[f"ity_{name}"] = Series(epochs, ity[:, :, layer].mean(0).tolist())
                if activation == "relu":
                    series[f"ixt_relu_{other}_l{layer + 1}"] = Series(epochs, ixt_other[:, :, layer].mean(0).tolist())
                if kde_at:
                    series[f"kde_ixt_{name}"] = Series(kde_at, kde_xt[:, :, layer].mean(0).tolist())
                    series[f"kde_ity_{name}"] = Series(kde_at, kde_ty[:, :, layer].mean(0).tolist())
            per_seed = compression(ixt)
            fitted = ity[:, -1, -1] >= MIN_FINAL_ITY
            # the compressions average the seeds that fit; if none did (the fit check fails), all seeds
            chosen = fitted if fitted.any() else np.ones_like(fitted)
            for k in range(cfg.seeds):
                summary[f"compression_{activation}_seed{k}"] = float(per_seed[k])
                summary[f"final_ity_{activation}_seed{k}"] = float(ity[k, -1, -1])
            summary[f"fitted_{activation}"] = float(fitted.mean())
            summary[f"compression_{activation}"] = float(per_seed[chosen].mean())
            summary[f"compression_{activation}_sd"] = (
                float(per_seed[chosen].std(ddof=1)) if chosen.sum() > 1 else math.nan
            )
            summary[f"compression_{activation}_all_seeds"] = float(per_seed.mean())
            summary[f"peak_ixt_{activation}"] = float(ixt[:, :, -DEEP_LAYERS:].max(1).mean())
            summary[f"final_ixt_{activation}"] = float(ixt[:, -1, -DEEP_LAYERS:].mean())
            summary[f"final_ity_{activation}"] = float(ity[:, -1, -1].mean())
            if activation == "relu":
                summary[f"compression_relu_{other}"] = float(compression(ixt_other)[chosen].mean())
            if kde_at:
                summary[f"kde_compression_{activation}"] = float(compression(kde_xt)[chosen].mean())
                summary[f"kde_final_ixt_{activation}"] = float(kde_xt[:, -1, -DEEP_LAYERS:].mean())
            summary[f"test_acc_{activation}"] = float(acc.mean())
    return ctx.result(cfg, summary, series)


def verdict(result: Result) -> Verdict:
    s = result.summary
    binning = result.config.estimate.relu_binning
    relu_est = "bin size 0.07" if binning == "size" else "bins over [0, max]"
    kde = {a: s.get(f"kde_compression_{a}", math.nan) for a in ACTIVATIONS}
    return Verdict(
        (
            Check(
                "tanh, 30 bins on [-1, 1]: compression of the deepest layers, max I(X;T) - final (bits)",
                s["compression_tanh"],
                ">=",
                MIN_COMPRESSION,
                note=f"Shwartz-Ziv & Tishby's claim; KDE (data only) {kde['tanh']:.2f} bits",
            ),
            Check(
                f"ReLU, {relu_est}: fall of I(X;T) of the deepest layers after its peak (bits)",
                s["compression_relu"],
                "<",
                MAX_RELU_FALL,
                note=f"Saxe et al.'s critique; KDE (data only) {kde['relu']:.2f} bits",
            ),
            Check(
                f"both fit: fraction of seeds whose last hidden layer ends with I(T;Y) >= {MIN_FINAL_ITY} bit, "
                "smaller of tanh and ReLU",
                min(s["fitted_tanh"], s["fitted_relu"]),
                ">=",
                MIN_FITTED,
                note=f"tanh {s['fitted_tanh']:.2f}, ReLU {s['fitted_relu']:.2f}; compressions average these seeds",
            ),
        )
    )


def figure(result: Result):
    import matplotlib as mpl

    cfg = result.config
    n_layers = len(cfg.widths)
    has_kde = "kde_ixt_tanh_l1" in result.series
    fig, axes = subplots(2 if has_kde else 1, 2, width=4.4, height=3.8, layout="constrained")
    norm = mpl.colors.LogNorm(vmin=1, vmax=max(cfg.train.epochs, 2))
    relu_est = "bin size 0.07" if cfg.estimate.relu_binning == "size" else f"{cfg.estimate.num_bins} bins on [0, max]"
    estimators = {"tanh": f"{cfg.estimate.num_bins} bins on [-1, 1]", "relu": relu_est}
    rows = [("", "binning")] + (
        [("kde_", f"KDE, σ²={cfg.estimate.kde_noise_variance:g}, {cfg.estimate.kde_patterns} patterns")]
        if has_kde
        else []
    )
    for (prefix, label), row in zip(rows, axes, strict=True):
        for ax, activation in zip(row, ACTIVATIONS, strict=True):
            for layer in range(1, n_layers + 1):
                epochs, ixt = result.curve(f"{prefix}ixt_{activation}_l{layer}")
                _, ity = result.curve(f"{prefix}ity_{activation}_l{layer}")
                ax.plot(ixt, ity, color="0.7", linewidth=0.6, zorder=1)
                points = ax.scatter(ixt, ity, c=[max(e, 1) for e in epochs], cmap="viridis", norm=norm, s=10, zorder=2)
                ax.annotate(f"T{layer}", (ixt[-1], ity[-1]), textcoords="offset points", xytext=(4, -8), fontsize=7)
            key = f"{prefix}compression_{activation}" if prefix else f"compression_{activation}"
            detail = estimators[activation] if not prefix else label
            ax.set(xlabel="I(X;T) (bits)", ylabel="I(T;Y) (bits)", xlim=(0, 12.3), ylim=(0, 1.05))
            ax.set_title(
                f"{activation}, {detail}\ncompression of T{n_layers - 1}-T{n_layers}: {result.summary[key]:.2f} bits",
                fontsize=9,
            )
    fig.colorbar(points, ax=axes.ravel().tolist(), label="epoch")
    fig.suptitle(
        f"information plane of 12-{'-'.join(map(str, cfg.widths))}-2: curves are means over all "
        f"{cfg.seeds} seeds, compressions over the seeds that fit"
    )
    return fig


ENTRY = Entry(
    name="information-plane",
    summary="tanh layers compress under binning, ReLU layers do not (the claim and its critique)",
    papers=(
        "Shwartz-Ziv, Tishby 2017 — Opening the black box of deep neural networks via information",
        "Saxe, Bansal, Dapello, Advani, Kolchinsky, Tracey, Cox 2018 — On the information bottleneck theory of "
        "deep learning",
    ),
    config=Config,
    presets=PRESETS,
    costs=COSTS,
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=False,
    sweep_metrics=("compression_tanh", "compression_relu", "final_ity_tanh", "final_ity_relu"),
    controls=(
        Control(
            "ReLU binned over [0, max]",
            {"estimate.relu_binning": "range"},
            must_fail=("ReLU",),
            why="bins over [0, max activation] widen as the largest ReLU activation grows, so I(X;T) falls by the "
            "estimator alone (Saxe et al.'s artifact): the ReLU no-compression check must see it",
        ),
    ),
)
