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

All seeds of one activation train at once (:class:`SeedStack`: stacked weights, batched matrix products written
out without autograd, one elementwise Adam, exactly as separate networks up to rounding), which makes the tiny
network cheap enough for several seeds.

Verdict, for the deepest ``DEEP_LAYERS`` hidden layers (4 and 3 units), with compression = max over epochs of
I(X;T) − final I(X;T) in bits (binning; per seed the mean over those layers, then the mean over the seeds that
fit, i.e. whose last hidden layer ends with I(T;Y) ≥ ``MIN_FINAL_ITY``, or over all seeds if none did): tanh
compresses by at least ``MIN_COMPRESSION``; ReLU's fall stays below ``MAX_RELU_FALL``; and at least
``MIN_FITTED`` of the seeds of each activation fit, so that "no compression" is not "no learning" (a narrow ReLU
network can die). The networks of a run are ``seeds`` independent draws (initialization, minibatch order, from
streams of the run's seed), and the train/test split also follows the run's seed: runs with different seeds
share no network.

Controls. The tanh check claims a mechanism (saturation of the double-sided nonlinearity, seen through bins):
``-s estimate.tanh_binning=preactivations`` bins the same layers of the same networks before tanh, in unbounded
bins of the same width (2/num_bins). Near 0 tanh is the identity, so this removes only the saturation, and the
deep layers no longer compress. The ReLU check is backed by the estimator control ``-s
estimate.relu_binning=range`` (bins over [0, max], Saxe et al.'s artifact), which the check must see as a fall.
Every run computes both binnings of each activation, each named (``compression_tanh_activations``,
``compression_tanh_preactivations``, ``compression_relu_size``, ``compression_relu_range``, each averaged over the
seeds that fit under that binning), and the verdict reads the one the config chooses; so both controls are
derived: ``phenomena verify`` judges the main runs under them instead of training the same networks again.

The thresholds were first set on quick with seeds 0 and 1, which are now the held-out seeds; they were
re-checked on calibration seeds 100-104 (``ENTRY.calibration``, 25 networks per activation), where 0.5 bit
holds for tanh and the ReLU bound moved from 0.4 to 0.3 (see the constants). Judged on held-out seeds 0-2.
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
from phenomena.experiment import Calibration, Control, Entry, RunContext
from phenomena.probes.information import binned_information, kde_information
from phenomena.report import subplots
from phenomena.result import Check, Result, Series, Verdict
from phenomena.training.bmm_step import BmmStep
from phenomena.training.functional_optim import FunctionalOptimizer, per_member
from phenomena.training.packed import packed_copy

DEEP_LAYERS = 2  # the last hidden layers (4 and 3 units), where Shwartz-Ziv & Tishby's compression is clearest
# Margins (bits), from quick on calibration seeds 100-104 (5 runs x 5 networks; ENTRY.calibration). The 25 tanh
# networks compressed 0.00-5.40 (run means 0.72-2.54; networks vary a lot, as Saxe et al. note); the 24 ReLU
# networks that fit fell by 0.00-0.53 (run means 0.07-0.22; one died). Bootstrapped 5-network means of these:
# tanh's is below 0.5 in 0.5% of resamples; 0.5 is also the anchor's "falls by >= 0.5 bit" (anchors-repros §5).
# The ReLU bound was set where both errors of the bootstrapped means were near 1% (under autograd training, whose
# 24 ReLU networks fell by 0.00-0.38: ReLU's mean reached 0.3 in 0.4% of resamples, the [0, max]-binned control's
# (run means 0.60-1.19) fell below it in 1.3%; at 0.4, the value set earlier on seeds 0-1: 0.0% and 4.3%). With the
# written-out step the ReLU mean reaches 0.3 in 2.2% of resamples; the bound was kept. The pre-activation control's
# run means were 0.00-0.11.
MIN_COMPRESSION = 0.5
MAX_RELU_FALL = 0.3
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
    tanh_binning: Literal["activations", "preactivations"] = field(
        "activations",
        help='tanh: bin the activations (num_bins on [-1, 1]), or "preactivations": the same layer before tanh, '
        "in unbounded bins of the same width 2/num_bins (no saturation: the control)",
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
    # Shwartz-Ziv & Tishby 2017 (their code ravidziv/IDNNs, tanh network 1, -net 1): Adam 4e-4, 8000 epochs,
    # batch 512, 80% of the patterns for training, MI at 400 log-spaced epochs, 50 runs averaged; their bins are
    # np.digitize with edges np.linspace(-1, 1, 30), i.e. 29 intervals (num_bins=29). The ReLU arm is trained
    # the same way so the comparison stays paired (Saxe et al.'s own ReLU runs used 10,000 epochs, batch 256) and
    # binned as Saxe et al. (bin size 0.07); the KDE (Saxe et al., on all patterns) is data only. Neither paper
    # gives its information-plane values as numbers, so no reference is declared.
    "paper": Config(
        train=Train(epochs=8000, batch_size=512),
        estimate=Estimate(num_bins=29, points=400, kde_points=40, kde_patterns=4096),
        seeds=50,
    ),
}
COSTS = {"smoke": "~5 s", "quick": "~50 s at one thread", "paper": "~10 h on CPU"}


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


ESTIMATORS = {"tanh": ("activations", "preactivations"), "relu": ("size", "range")}  # (default, alternative)


def estimators(activation: str, est: Estimate) -> tuple[str, str]:
    """(the binning the verdict reads, the other one, recorded as data) for ``activation``."""
    chosen = est.tanh_binning if activation == "tanh" else est.relu_binning
    return chosen, next(b for b in ESTIMATORS[activation] if b != chosen)


def binned(post: torch.Tensor, pre: torch.Tensor, y: torch.Tensor, activation: str, est: Estimate, how: str) -> dict:
    """The binning estimate for one layer (``post`` its activations, ``pre`` the same before the nonlinearity).

    tanh: ``num_bins`` bins on [−1, 1] ("activations"), or the pre-activations in unbounded bins of the same
    width 2/num_bins ("preactivations"; near 0 tanh is the identity, so the two differ only where tanh
    saturates). ReLU: bins of ``relu_bin_size`` ("size") or ``num_bins`` bins over [0, max] ("range").
    Non-finite activations (a diverged network) give NaN: unmeasured, never binned.
    """
    t = pre if how == "preactivations" else post
    if not bool(torch.isfinite(t).all()):
        return {"i_xt": math.nan, "i_ty": math.nan}
    if how == "activations":
        return binned_information(t, y, est.num_bins, bin_range=(-1.0, 1.0))
    if how == "preactivations":
        return binned_information(t, y, bin_size=2.0 / est.num_bins)
    if how == "size":
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

    The 12-bit network is so small that a step costs Python and autograd overhead, not arithmetic: batched matrix
    products train all seeds for the price of one, and the step is written out (:class:`BmmStep`: forward,
    cross-entropy and backward into buffers, no autograd graph). Adam is elementwise, so one Adam over the stacked
    tensors (:class:`FunctionalOptimizer`), minimizing the sum of the members' mean losses, is exactly one
    independent Adam per member.
    """

    def __init__(self, widths: tuple[int, ...], activation: str, seeds: list[int], dtype=torch.float32):
        nets = [build_network(widths, activation, s) for s in seeds]
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        self.params: dict[str, torch.Tensor] = {}
        self.plan: list[tuple] = []  # train_ensemble's layer plan: linear layers with the activation between
        self.act = torch.tanh if activation == "tanh" else torch.relu
        for i in range(len(widths) + 1):
            self.params[f"{i}.weight"] = torch.stack([ls[i].weight.detach().T for ls in linears]).to(dtype)
            self.params[f"{i}.bias"] = torch.stack([ls[i].bias.detach() for ls in linears]).to(dtype)
            self.plan += [("linear", str(i), 1.0, 1.0)] + ([("act", self.act, activation)] if i < len(widths) else [])
        # one buffer for all of them: the optimizer updates the twelve small tensors with one kernel per rule
        self.params = dict(zip(self.params, packed_copy(list(self.params.values())), strict=True))
        self.weights = [self.params[f"{i}.weight"] for i in range(len(widths) + 1)]
        self.biases = [self.params[f"{i}.bias"] for i in range(len(widths) + 1)]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x`` (S, B, 12) -> logits (S, B, 2) and the hidden activations (S, B, width) of every layer."""
        logits, _, hidden = self.layers(x)
        return logits, hidden

    def layers(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """``x`` (S, B, 12) -> logits, and every hidden layer before and after its nonlinearity."""
        pre, post, h = [], [], x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h, w)
            if i < len(self.weights) - 1:
                pre.append(h)
                h = self.act(h)
                post.append(h)
        return h, pre, post


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
    names = list(stack.params)
    step = BmmStep(stack.plan, stack.params, names)
    optimizer = FunctionalOptimizer("adam", [stack.params[k] for k in names], lr=per_member(lr, members, "lr"))
    on_epoch(0)
    for epoch in range(1, epochs + 1):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators])  # (S, n)
        for lo in range(0, n, batch_size):
            idx = order[:, lo : lo + batch_size]
            rows = idx.reshape(-1)  # index_select on the flat index: a third of the time of x[idx]
            xb, yb = x.index_select(0, rows).view(*idx.shape, -1), y.index_select(0, rows).view(idx.shape)
            _, grads = step(xb, yb, batched=True)
            optimizer.step(grads)
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
    series: dict[str, Series] = {}
    summary: dict[str, float] = {}
    with ctx.progress(len(ACTIVATIONS) * cfg.train.epochs, desc="information-plane") as bar:
        for activation in ACTIVATIONS:
            chosen_est, other = estimators(activation, est)
            # (seed, epoch index, layer) arrays of bits, for the binning the verdict reads and for the other one
            ixt, ity, ixt_other, ity_other = (np.zeros((cfg.seeds, len(epochs), n_layers)) for _ in range(4))
            kde_xt, kde_ty = (np.zeros((cfg.seeds, len(kde_at), n_layers)) for _ in range(2))
            # the same init seeds for both activations: the comparison is paired
            stack = SeedStack(cfg.widths, activation, [ctx.stream_seed(f"init-{k}") for k in range(cfg.seeds)])

            def on_epoch(
                epoch,
                stack=stack,
                activation=activation,
                chosen_est=chosen_est,
                other=other,
                ixt=ixt,
                ity=ity,
                ixt_other=ixt_other,
                ity_other=ity_other,
                kde_xt=kde_xt,
                kde_ty=kde_ty,
            ):
                if epoch:
                    bar.update(1)
                i = recorded.get(epoch)
                if i is None:
                    return
                with torch.no_grad():
                    _, pres, posts = stack.layers(x_all.expand(cfg.seeds, -1, -1))
                for k in range(cfg.seeds):
                    for layer, (pre, post) in enumerate(zip(pres, posts, strict=True)):
                        mi = binned(post[k], pre[k], y_all, activation, est, chosen_est)
                        ixt[k, i, layer], ity[k, i, layer] = mi["i_xt"], mi["i_ty"]
                        mi = binned(post[k], pre[k], y_all, activation, est, other)
                        ixt_other[k, i, layer], ity_other[k, i, layer] = mi["i_xt"], mi["i_ty"]
                        if epoch in kde_at:
                            j = kde_at.index(epoch)
                            t = post[k][kde_rows]
                            if bool(torch.isfinite(t).all()):
                                mi = kde_information(t, y_all[kde_rows], est.kde_noise_variance)
                            else:  # a diverged network: unmeasured
                                mi = {"i_xt": math.nan, "i_ty": math.nan}
                            kde_xt[k, j, layer], kde_ty[k, j, layer] = mi["i_xt"], mi["i_ty"]

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
                series[f"ixt_{activation}_{other}_l{layer + 1}"] = Series(
                    epochs, ixt_other[:, :, layer].mean(0).tolist()
                )
                if kde_at:
                    series[f"kde_ixt_{name}"] = Series(kde_at, kde_xt[:, :, layer].mean(0).tolist())
                    series[f"kde_ity_{name}"] = Series(kde_at, kde_ty[:, :, layer].mean(0).tolist())
            # per binning: the compressions average the seeds that fit under it (if none did, all seeds, and the
            # fit check fails); a NaN compression (a diverged seed among them) stays NaN: unmeasured. Each binning
            # is named ("compression_tanh_activations"), so the verdict can judge either (its controls are derived);
            # the unnamed keys repeat the chosen one's
            for suffixes, x_t, y_t in ((("", f"_{chosen_est}"), ixt, ity), ((f"_{other}",), ixt_other, ity_other)):
                per_seed = compression(x_t)
                fitted = y_t[:, -1, -1] >= MIN_FINAL_ITY  # NaN (diverged) is not fitted
                chosen = fitted if fitted.any() else np.ones_like(fitted)
                for suffix in suffixes:
                    for k in range(cfg.seeds):
                        summary[f"compression_{activation}{suffix}_seed{k}"] = float(per_seed[k])
                        summary[f"final_ity_{activation}{suffix}_seed{k}"] = float(y_t[k, -1, -1])
                    summary[f"fitted_{activation}{suffix}"] = float(fitted.mean())
                    summary[f"compression_{activation}{suffix}"] = float(per_seed[chosen].mean())
            per_seed, fitted = compression(ixt), ity[:, -1, -1] >= MIN_FINAL_ITY
            chosen = fitted if fitted.any() else np.ones_like(fitted)
            summary[f"compression_{activation}_sd"] = (
                float(per_seed[chosen].std(ddof=1)) if chosen.sum() > 1 else math.nan
            )
            summary[f"compression_{activation}_all_seeds"] = float(per_seed.mean())
            summary[f"peak_ixt_{activation}"] = float(ixt[:, :, -DEEP_LAYERS:].max(1).mean())
            summary[f"final_ixt_{activation}"] = float(ixt[:, -1, -DEEP_LAYERS:].mean())
            summary[f"final_ity_{activation}"] = float(ity[:, -1, -1].mean())
            if kde_at:
                summary[f"kde_compression_{activation}"] = float(compression(kde_xt)[chosen].mean())
                summary[f"kde_final_ixt_{activation}"] = float(kde_xt[:, -1, -DEEP_LAYERS:].mean())
            summary[f"test_acc_{activation}"] = float(acc.mean())
    return ctx.result(cfg, summary, series)


def describe(activation: str, est: Estimate) -> str:
    """The binning the verdict reads for ``activation``, in words."""
    return {
        "activations": f"{est.num_bins} bins on [-1, 1]",
        "preactivations": f"pre-activations in bins of width 2/{est.num_bins}",
        "size": f"bin size {est.relu_bin_size:g}",
        "range": f"{est.num_bins} bins over [0, max]",
    }[estimators(activation, est)[0]]


def verdict(result: Result) -> Verdict:
    s, est = result.summary, result.config.estimate
    kde = {a: s.get(f"kde_compression_{a}", math.nan) for a in ACTIVATIONS}
    # the binning the config chooses, by name: every run measures both binnings of each activation
    judged = {a: estimators(a, est)[0] for a in ACTIVATIONS}
    compressions = {a: s[f"compression_{a}_{judged[a]}"] for a in ACTIVATIONS}
    fitted = {a: s[f"fitted_{a}_{judged[a]}"] for a in ACTIVATIONS}
    return Verdict(
        (
            Check(
                f"tanh, {describe('tanh', est)}: compression of the deepest layers, max I(X;T) - final (bits)",
                compressions["tanh"],
                ">=",
                MIN_COMPRESSION,
                note=f"Shwartz-Ziv & Tishby's claim; KDE (data only) {kde['tanh']:.2f} bits",
            ),
            Check(
                f"ReLU, {describe('relu', est)}: fall of I(X;T) of the deepest layers after its peak (bits)",
                compressions["relu"],
                "<",
                MAX_RELU_FALL,
                note=f"Saxe et al.'s critique; KDE (data only) {kde['relu']:.2f} bits",
            ),
            Check(
                f"both fit: fraction of seeds whose last hidden layer ends with I(T;Y) >= {MIN_FINAL_ITY} bit, "
                "smaller of tanh and ReLU",
                min(fitted["tanh"], fitted["relu"]),
                ">=",
                MIN_FITTED,
                note=f"tanh {fitted['tanh']:.2f}, ReLU {fitted['relu']:.2f}; compressions average these seeds",
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
    binnings = {a: describe(a, cfg.estimate) for a in ACTIVATIONS}
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
            detail = binnings[activation] if not prefix else label
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
    calibration=Calibration(
        seeds=(100, 101, 102, 103, 104),
        note="quick at one thread, 5 networks per activation per seed (25 in all), with the written-out training "
        "step (before it, under autograd, the same seeds gave tanh 0.72-2.54 and ReLU 0.08-0.22: the rounding change "
        "re-draws the ReLU trajectories most). Both controls' values come from the same runs (each alternative "
        "binning is computed in every run and averaged over the seeds that fit under it, as the control run reports "
        "it): each fails its check on 5/5. Per-network tanh compressions: 0.31 1.67 2.54 1.56 1.48 | 1.94 1.70 1.60 "
        "1.87 0.53 | 1.02 5.40 4.37 0.94 0.99 | 0.60 1.25 1.97 0.56 1.40 | 0.00 1.20 0.68 1.67 0.05; ReLU (fitted): "
        "0.05 0.53 0.07 0.06 0.00 | 0.07 0.00 0.00 0.00 0.28 | 0.07 0.36 0.41 0.01 0.11 | 0.01 0.15 0.01 0.23 0.30 | "
        "0.26 0.22 0.05 0.35. MAX_RELU_FALL moved from 0.4 to 0.3 here (under autograd)."
        " Re-checked (issue 19) after the ensemble trainer's written-out step took its cross-entropy on the (M, "
        "classes, B) layout, which rounds differently and re-draws the members it trains (`phenomena verify "
        "information-plane --calibration`, AVX-512 kernels): all 5 pass and both controls fail 5/5; tanh compression "
        "0.72-2.55, ReLU fall 0.07-0.18. `observed` holds these values."
        " Re-checked (issue 19) after Adam and AdamW moved to torch's fused kernel (the ensemble trainer's Adam step,"
        " for members that share their hyper-parameters: the same rule, rounded differently in the last bits, which "
        "re-draws the runs; `phenomena verify information-plane --calibration`, AVX-512 kernels): every seed passes "
        "and every control fails 5/5; `observed` holds these values.",
        observed={
            "compression_tanh": (1.51, 1.527, 2.544, 1.155, 0.7196),
            "compression_relu": (0.1209, 0.0711, 0.1821, 0.1409, 0.223),
            "fitted_tanh": (1.0, 1.0, 1.0, 1.0, 1.0),
            "fitted_relu": (1.0, 1.0, 1.0, 1.0, 0.8),
            "compression_tanh_preactivations": (0.0435, 0.04491, 0.1177, 0.02194, 0.0),
            "fitted_tanh_preactivations": (1.0, 1.0, 1.0, 1.0, 1.0),
            "compression_relu_range": (0.8245, 0.4859, 1.213, 0.8368, 0.7198),
            "fitted_relu_range": (1.0, 0.6, 1.0, 1.0, 0.8),
            "kde_compression_tanh": (0.9665, 1.07, 1.886, 0.7233, 0.4551),
            "kde_compression_relu": (0.0, 0.0, 0.07957, 0.03178, 0.03529),
        },
    ),
    controls=(
        Control(
            "tanh pre-activations (no saturation)",
            {"estimate.tanh_binning": "preactivations"},
            must_fail=("tanh",),
            why="the same tanh networks, binned before the nonlinearity in bins of the same width (2/num_bins, "
            "unbounded): near 0 tanh is the identity, so this removes only the saturation, which Saxe et al. "
            "name as the source of the compression; the deep layers must then not compress",
            derived=True,
        ),
        Control(
            "ReLU binned over [0, max]",
            {"estimate.relu_binning": "range"},
            must_fail=("ReLU",),
            why="bins over [0, max activation] widen as the largest ReLU activation grows, so I(X;T) falls by the "
            "estimator alone (Saxe et al.'s artifact): the ReLU no-compression check must see it",
            derived=True,
        ),
    ),
)
