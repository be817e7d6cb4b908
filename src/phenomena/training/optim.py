"""Optimizers by name, with an optional linear warm-up."""

from __future__ import annotations

import torch

from phenomena.errors import UserError

OPTIMIZERS = ("sgd", "adam", "adamw")


def make_optimizer(
    name: str,
    params,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """``sgd`` (with ``momentum``; weight decay coupled, added to the gradient), ``adam`` (coupled) or ``adamw``
    (decoupled weight decay, Loshchilov & Hutter 2019 — the grokking papers' choice)."""
    if lr <= 0:
        raise UserError(f"learning rate must be positive; got {lr}")
    if weight_decay < 0:
        raise UserError(f"weight decay must be >= 0; got {weight_decay}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def warmup(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Linear warm-up over ``steps`` (Nanda et al.: ``min(step / 10, 1)``); None when ``steps`` is 0."""
    if steps <= 0:
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / steps, 1.0))
