"""Dormant and dead units of ReLU-family layers (Sokar, Agarwal, Castro & Evci 2023, "The dormant neuron
phenomenon in deep reinforcement learning")."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from phenomena.errors import UserError

RELU_FAMILY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish)


@dataclasses.dataclass(frozen=True)
class LayerDormancy:
    """One activation layer's units: ``scores`` (per unit: mean |activation| over the inputs divided by the
    layer's mean of that quantity; all 0 when the whole layer is silent), ``dormant_fraction`` (share of units
    with score ≤ τ), ``dead_fraction`` (share never active: output ≤ 0 on every input), ``n_units``."""

    scores: np.ndarray
    dormant_fraction: float
    dead_fraction: float
    n_units: int


def dormant_units(
    model: nn.Module, batches: Iterable, tau: float = 0.0, layers: Iterable[str] | None = None
) -> dict[str, LayerDormancy]:
    """τ-dormant and dead units of every ReLU-family activation module of ``model``, over some inputs.

    Sokar et al. (2023) score unit i of a layer with H units by s_i = E_x|h_i(x)| / ((1/H) Σ_k E_x|h_k(x)|) and
    call it τ-dormant when s_i ≤ τ (τ = 0: a unit whose activation is zero on every input; they use τ of 0 to
    0.1). A unit is *dead* when it is never active, i.e. its output is ≤ 0 on every input (for ReLU: exactly
    zero; the same as τ = 0 dormancy). Activations are read by forward hooks on the activation modules (the
    ``nn.ReLU``-like modules in :data:`RELU_FAMILY`; activations applied functionally inside ``forward`` are not
    seen); a unit is a feature of a (B, H) output or a channel (dim 1) of a (B, C, ...) output, averaged over the
    batch and the other dimensions. The model is run in eval mode under ``torch.no_grad`` and put back.

    Args:
        model: any ``nn.Module`` with activation modules.
        batches: an iterable of inputs, each a tensor (or a tuple/list whose first item is the input, as a
            DataLoader yields).
        tau: the dormancy threshold τ ≥ 0.
        layers: names (as in ``model.named_modules()``) of the activation modules to probe; all by default.

    Returns:
        ``{module name: LayerDormancy}`` in the model's module order.

    Raises:
        UserError: for τ < 0, no activation module, no inputs, or a named layer that is not an activation.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> report = dormant_units(net, [torch.randn(64, 3)], tau=0.1)
        >>> report["1"].n_units, 0 <= report["1"].dormant_fraction <= 1
        (4, True)
    """
    if not tau >= 0:
        raise UserError(f"tau must be >= 0; got {tau}")
    named = dict(model.named_modules())
    if layers is None:
        names = [n for n, m in named.items() if isinstance(m, RELU_FAMILY)]
    else:
        names = list(layers)
        bad = [n for n in names if not isinstance(named.get(n), RELU_FAMILY)]
        if bad:
            raise UserError(f"not ReLU-family activation modules of the model: {bad}")
    if not names:
        raise UserError("the model has no ReLU-family activation module (nn.ReLU, nn.LeakyReLU, ...) to probe")
    sums: dict[str, torch.Tensor] = {}
    active: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(names, 0)

    def hook(name):
        def record(_module, _inputs, out):
            h = out.detach().double()
            h = h.unsqueeze(1) if h.ndim == 1 else h
            flat = h.transpose(0, 1).reshape(h.shape[1], -1)  # (units, batch x other dims)
            a, on = flat.abs().sum(1), (flat > 0).any(1)
            sums[name] = sums[name] + a if name in sums else a
            active[name] = active[name] | on if name in active else on
            counts[name] += flat.shape[1]

        return record

    handles = [named[n].register_forward_hook(hook(n)) for n in names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch[0] if isinstance(batch, tuple | list) else batch)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if not any(counts.values()):
        raise UserError("no inputs: batches was empty")
    report = {}
    for n in names:
        if n not in sums:
            continue  # a module the inputs never reached
        mean_abs = (sums[n] / counts[n]).numpy()
        scores = dormancy_scores(mean_abs)
        report[n] = LayerDormancy(
            scores=scores,
            dormant_fraction=float((scores <= tau).mean()),
            dead_fraction=float((~active[n]).double().mean()),
            n_units=len(scores),
        )
    return report


def dormancy_scores(mean_abs: np.ndarray) -> np.ndarray:
    """Sokar et al.'s scores from each unit's mean |activation| (last axis = units): s_i = a_i / mean_k a_k,
    0 for every unit of a layer whose units are all silent.

    Example:
        >>> dormancy_scores(np.array([0.0, 1.0, 2.0])).tolist()
        [0.0, 1.0, 2.0]
    """
    a = np.asarray(mean_abs, dtype=np.float64)
    layer = a.mean(-1, keepdims=True)
    return np.divide(a, layer, out=np.zeros_like(a), where=layer > 0)
