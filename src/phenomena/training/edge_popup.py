"""Edge-popup (Ramanujan et al. 2020): find a subnetwork of a randomly weighted network by training one score per
weight, with the weights frozen at their initialization.

Method (Ramanujan, Wortsman, Kembhavi, Farhadi, Rastegari 2020, "What's hidden in a randomly weighted neural
network?"; reference code ``allenai/hidden-networks``). Every weight w of a layer gets a score s. The forward pass
uses the weight matrix ``w ⊙ m`` where the mask m keeps the top-k fraction of the layer's weights by |s| (k is the
*kept* fraction, per layer, exactly ``round(k · numel)`` weights, ties broken by position). The top-k step has zero
gradient almost everywhere, so its backward pass is the straight-through estimator: the gradient of the loss with
respect to the mask is passed to |s| unchanged, i.e. ∂L/∂s = sign(s) · (∂L/∂(w ⊙ m)) · w. The weights never change
(they are buffers, not parameters). Conventions taken from the reference code: scores drawn Kaiming-uniform
(``a = √5``, i.e. U(±1/√fan_in)), no biases, weights either "signed constant" (σ·sign(N(0, 1)) with the Kaiming
σ = √2 / √fan_in, the paper's best) or Kaiming normal N(0, σ²); ``scale_fan`` multiplies the kept weights by
1/√k (the reference's ``--scale-fan``: the Kaiming σ of the fan-in the mask leaves).

Vectorized over kept fractions: an :class:`EdgePopupMLP` holds K members, one per k, that share the frozen weights
and the score initialization but each train their own scores; their losses are summed, which trains each member
exactly as alone (no parameter is shared). Inputs (N, d) broadcast to all members; outputs are (K, N, classes).

Example:
    >>> import torch
    >>> net = EdgePopupMLP((8, 16, 3), ks=(0.2, 0.5), seed=0)
    >>> net(torch.randn(5, 8)).shape
    torch.Size([2, 5, 3])
    >>> [round(m.float().mean().item(), 3) for m in net.layers[0].mask()]  # 26 and 64 of 128 weights kept
    [0.203, 0.5]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError
from phenomena.training.optim import SGD

WEIGHT_INITS = ("signed_constant", "kaiming_normal")


def kept_counts(numel: int, ks: Tensor) -> Tensor:
    """How many of ``numel`` weights a kept fraction keeps: ``round(k · numel)``, at least 1 (integer tensor)."""
    return torch.clamp(torch.round(ks.double() * numel).long(), min=1, max=numel)


def top_k_mask(scores: Tensor, ks: Tensor | float) -> Tensor:
    """The 0/1 mask keeping the largest ``round(k · numel)`` entries of each member's scores.

    Args:
        scores: (K, ...) one score tensor per member (or a single tensor of any shape, with a float ``ks``).
        ks: (K,) kept fractions in (0, 1], or one float.

    Returns:
        A float tensor of ``scores``' shape with exactly :func:`kept_counts` ones per member; ties are broken by
        position (the earlier entry is kept), never by keeping extra.

    Example:
        >>> top_k_mask(torch.tensor([0.3, -1.0, 2.0, 0.1]), 0.5)
        tensor([1., 0., 1., 0.])
    """
    single = not torch.is_tensor(ks)
    if single:
        scores, ks = scores.unsqueeze(0), torch.tensor([float(ks)])
    flat = scores.reshape(len(scores), -1)
    n = flat.shape[1]
    counts = kept_counts(n, ks).tolist()
    rows = []
    for row, count in zip(flat, counts, strict=True):
        # the count-th largest score is the threshold (a selection, much cheaper than a sort)
        keep = row >= torch.kthvalue(row, n - count + 1).values
        if int(keep.sum()) != count:  # ties at the threshold: rank by a stable sort instead
            order = torch.argsort(row, descending=True, stable=True)
            keep = torch.zeros_like(keep)
            keep[order[:count]] = True
        rows.append(keep)
    mask = torch.stack(rows).to(scores.dtype).reshape(scores.shape)
    return mask[0] if single else mask


def supermask(scores: Tensor, ks: Tensor | float) -> Tensor:
    """The top-k mask of ``|scores|`` in the forward pass, with the straight-through gradient in the backward one.

    The value is exactly :func:`top_k_mask` ``(|scores|, ks)``; the gradient of anything computed from it with
    respect to ``scores`` is ``sign(scores) · ∂/∂mask`` (the top-k step is treated as the identity, as in
    Ramanujan et al.'s ``GetSubnet``).

    Example:
        >>> s = torch.tensor([0.3, -1.0, 2.0, 0.1], requires_grad=True)
        >>> m = supermask(s, 0.5)
        >>> (m * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
        >>> m.detach(), s.grad
        (tensor([0., 1., 1., 0.]), tensor([ 1., -2.,  3.,  4.]))
    """
    magnitude = scores.abs()
    return top_k_mask(magnitude.detach(), ks) + (magnitude - magnitude.detach())


class EdgePopupLinear(nn.Module):
    """A bias-free linear layer with frozen random weights and one trainable score tensor per kept fraction.

    Args:
        in_features, out_features: the layer's sizes.
        ks: the kept fractions, one member each (a float is one member).
        weight_init: "signed_constant" (±σ) or "kaiming_normal" (N(0, σ²)), σ = √2/√in_features.
        scale_fan: multiply each member's kept weights by 1/√k (Kaiming σ of the fan-in the mask leaves).
        generator: the random source of the weights and the scores (the global RNG is never touched).

    ``weight`` is a buffer (out, in) shared by the members and never trained; ``scores`` (K, out, in) is the only
    parameter, every member starting from the same Kaiming-uniform draw. ``forward`` takes (N, in), broadcast to
    every member, or (K, N, in), and returns (K, N, out).

    Example:
        >>> layer = EdgePopupLinear(4, 3, ks=(0.25, 1.0), generator=torch.Generator().manual_seed(0))
        >>> layer(torch.ones(2, 4)).shape, [p for p, _ in layer.named_parameters()]
        (torch.Size([2, 2, 3]), ['scores'])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        ks: Sequence[float] | float,
        weight_init: str = "signed_constant",
        scale_fan: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        ks = (float(ks),) if isinstance(ks, int | float) else tuple(float(k) for k in ks)
        if not ks or any(not 0 < k <= 1 for k in ks):
            raise UserError(f"kept fractions must lie in (0, 1]; got {ks}")
        if weight_init not in WEIGHT_INITS:
            raise UserError(f"weight_init must be one of {', '.join(WEIGHT_INITS)}; got {weight_init!r}")
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        sigma = math.sqrt(2.0 / in_features)
        w = torch.randn(out_features, in_features, generator=g)
        w = sigma * (torch.sign(w) if weight_init == "signed_constant" else w)
        bound = 1.0 / math.sqrt(in_features)  # kaiming_uniform_(a=√5)
        s = (torch.rand(out_features, in_features, generator=g) * 2 - 1) * bound
        self.register_buffer("weight", w)
        self.register_buffer("ks", torch.tensor(ks))
        scale = torch.tensor([1 / math.sqrt(k) if scale_fan else 1.0 for k in ks])
        self.register_buffer("scale", scale)
        self.scores = nn.Parameter(s.expand(len(ks), -1, -1).clone())

    def effective_weight(self) -> Tensor:
        """(K, out, in): each member's masked (and, with ``scale_fan``, rescaled) weights."""
        return self.weight * supermask(self.scores, self.ks) * self.scale[:, None, None]

    def mask(self) -> Tensor:
        """(K, out, in) bool: the weights each member keeps now."""
        with torch.no_grad():
            return top_k_mask(self.scores.abs(), self.ks).bool()

    def forward(self, x: Tensor) -> Tensor:
        w = self.effective_weight()
        if x.dim() == 2:
            return torch.einsum("ni,koi->kno", x, w)
        return torch.bmm(x, w.transpose(1, 2))


class EdgePopupMLP(nn.Module):
    """A ReLU MLP of :class:`EdgePopupLinear` layers: ``sizes = (in, hidden..., out)``, one member per kept fraction.

    Args:
        sizes: layer widths, input first and classes last.
        ks: kept fractions (every layer of member i keeps the fraction ``ks[i]`` of its weights).
        weight_init, scale_fan: as :class:`EdgePopupLinear`.
        seed: every weight and score comes from ``torch.Generator(seed)``.

    Example:
        >>> net = EdgePopupMLP((4, 8, 2), ks=(0.5,), seed=1)
        >>> net(torch.randn(3, 4)).shape
        torch.Size([1, 3, 2])
    """

    def __init__(
        self,
        sizes: Sequence[int],
        ks: Sequence[float],
        weight_init: str = "signed_constant",
        scale_fan: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise UserError(f"sizes needs an input and an output size, all positive; got {tuple(sizes)}")
        g = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(
            EdgePopupLinear(a, b, ks, weight_init, scale_fan, generator=g)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    @torch.no_grad()
    def accuracy(self, x: Tensor, y: Tensor) -> Tensor:
        """(K,) each member's accuracy on (x, y)."""
        return (self(x).argmax(-1) == y).float().mean(-1)


@dataclasses.dataclass(frozen=True)
class EdgePopupHistory:
    """What :func:`train_edge_popup` measured: ``steps`` (T,), ``train_acc`` / ``test_acc`` / ``loss`` (T, K)."""

    steps: list[int]
    train_acc: Tensor
    test_acc: Tensor
    loss: Tensor


def train_edge_popup(
    model: EdgePopupMLP,
    data: Dataset,
    steps: int,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int | None = 128,
    log_every: int = 50,
    generator: torch.Generator | None = None,
    train_scores: bool = True,
) -> EdgePopupHistory:
    """Train the scores of every member with SGD (momentum, cosine-annealed lr), the weights staying frozen.

    Args:
        model: the network; only its ``scores`` are updated.
        data: a classification :class:`~phenomena.data.Dataset` with (N, in) features.
        steps, lr, momentum, weight_decay: SGD on the summed cross-entropy of the members; the lr decays from
            ``lr`` to 0 along a cosine over ``steps`` (Ramanujan et al.'s schedule).
        batch_size: examples per step (None: full batch); minibatches are slices of a fresh permutation per epoch.
        log_every: measure train/test accuracy and loss every this many steps (and at 0 and the end).
        generator: the batch order's random source.
        train_scores: False leaves the scores at their initialization (the masks stay the initial top-k of random
            scores: a random mask of each density), measuring only.

    Returns:
        An :class:`EdgePopupHistory`.

    Example:
        >>> from phenomena.data import digits
        >>> net = EdgePopupMLP((64, 32, 10), ks=(0.5,), seed=0)
        >>> h = train_edge_popup(net, digits(), steps=20, log_every=10)
        >>> h.steps, tuple(h.test_acc.shape)
        ([0, 10, 20], (3, 1))
    """
    x, y = data.x_train, data.y_train
    n = len(x)
    bs = n if batch_size is None or batch_size >= n else batch_size
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    params = [p for name, p in model.named_parameters() if name.endswith("scores")]
    opt = SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    logged: list[int] = []
    train_acc, test_acc, losses = [], [], []

    def log(step: int) -> None:
        with torch.no_grad():
            out = model(x)
            k = out.shape[0]
            loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(k), reduction="none")
            losses.append(loss.reshape(k, -1).mean(1))
            train_acc.append((out.argmax(-1) == y).float().mean(-1))
            test_acc.append(model.accuracy(data.x_test, data.y_test))
        logged.append(step)

    log(0)
    perm, cursor = None, n
    for step in range(1, steps + 1):
        if train_scores:
            if cursor + bs > n:
                perm, cursor = torch.randperm(n, generator=g), 0
            idx = perm[cursor : cursor + bs]
            cursor += bs
            out = model(x[idx])
            k = out.shape[0]
            loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y[idx].repeat(k)) * k
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if step % log_every == 0 or step == steps:
            log(step)
    return EdgePopupHistory(logged, torch.stack(train_acc), torch.stack(test_acc), torch.stack(losses))
