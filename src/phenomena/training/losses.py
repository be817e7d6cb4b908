"""Losses by name, all means over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from phenomena.errors import UserError

LOSSES = ("ce", "mse")


def loss_function(name: str, num_classes: int | None = None):
    """``"ce"``: cross-entropy on integer labels. ``"mse"``: mean squared error, against one-hot codes of integer
    labels (Gromov 2023; Han et al. 2022, averaged over batch *and* outputs like ``nn.MSELoss``) or against float
    regression targets."""
    if name == "ce":
        return F.cross_entropy
    if name == "mse":

        def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            if not targets.is_floating_point():
                targets = F.one_hot(targets, outputs.shape[-1]).to(outputs.dtype)
            return F.mse_loss(outputs, targets.reshape(outputs.shape))

        return mse
    raise UserError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def predictions(outputs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The index of the largest output along ``dim``: ``argmax``'s indices (the first of tied maxima; a NaN counts as
    the largest), computed as ``torch.max(outputs, dim).indices``, whose CPU kernel takes a fraction of ``argmax``'s
    time when ``dim`` is not the innermost in memory (as for the transposed logits of ``train_ensemble``'s bmm
    step, or the classes-by-rows logits of a ridge fit), and somewhat less otherwise."""
    return outputs.max(dim).indices


@torch.no_grad()
def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max output is the label."""
    return (predictions(outputs) == labels).float().mean().item()
