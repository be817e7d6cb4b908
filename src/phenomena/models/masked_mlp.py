"""Masked MLPs: a wide MLP whose extra hidden units are dead computes and trains exactly like a narrow one, so
nets of several widths can share one vectorized ensemble (:func:`~phenomena.training.train_ensemble`)."""

from __future__ import annotations

import math

import torch

from phenomena.errors import UserError
from phenomena.models.mlp import MLP


def masked_mlp(width: int, max_width: int, depth: int, seed: int, in_features: int = 40, classes: int = 10) -> MLP:
    """A ``max_width`` MLP that computes and trains exactly like a ``width`` one: the hidden units past ``width`` have
    zero incoming weights, bias and outgoing weights, and the live weights past the first layer are scaled by
    √(max_width/width) so that they are drawn as N(0, 1/width) (standard parameterization, fan-in ``width``).

    A dead ReLU unit has pre-activation 0 and ReLU'(0) = 0 in torch, so every weight touching it gets a zero gradient
    and Adam (or SGD) leaves it at zero: members of different widths can then share one vectorized ensemble.

    Args:
        width: the live width (≤ max_width).
        max_width: the built width.
        depth: hidden layers.
        seed: the initialization seed.
        in_features, classes: input and output sizes.

    Returns:
        An :class:`~phenomena.models.MLP` of width ``max_width``.

    Example:
        >>> m = masked_mlp(4, 16, 2, seed=0)
        >>> int((m.layers[2].weight != 0).sum())  # the live 4 x 4 block of the second layer
        16
    """
    if not 1 <= width <= max_width:
        raise UserError(f"masked_mlp needs 1 <= width <= max_width; got {width}, {max_width}")
    model = MLP(in_features, classes, width=max_width, depth=depth, seed=seed)
    linears = [layer for layer in model.layers if isinstance(layer, torch.nn.Linear)]
    with torch.no_grad():
        for i, layer in enumerate(linears):
            live_out = width if i < depth else classes
            layer.weight[live_out:] = 0
            if layer.bias is not None:
                layer.bias[live_out:] = 0
            if i > 0:
                layer.weight[:, width:] = 0
                layer.weight.mul_(math.sqrt(max_width / width))
    return model


def mlp_parameters(width: int, depth: int, in_features: int = 40, classes: int = 10) -> int:
    """Weights and biases of a ``depth``-hidden-layer MLP of ``width`` with biases (what a width law's N counts).

    Args:
        width: hidden units per layer.
        depth: hidden layers (≥ 1).
        in_features, classes: input and output sizes.

    Returns:
        The parameter count.

    Example:
        >>> mlp_parameters(4, 2)  # 41·4 + 5·4 + 5·10
        234
    """
    if width < 1 or depth < 1:
        raise UserError(f"mlp_parameters needs width >= 1 and depth >= 1; got {width}, {depth}")
    return (in_features + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * classes
