"""Label noise: replace a fraction of training labels, once, at data-creation time."""

from __future__ import annotations

import dataclasses

import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError


def with_label_noise(data: Dataset, fraction: float, seed: int = 0, mode: str = "other") -> Dataset:
    """Corrupt ``round(fraction * n_train)`` training labels chosen at random; the test set stays clean.

    ``mode="other"`` (Nakkiran et al. 2019; Zhang et al. 2017) draws each new label uniformly among the
    *other* classes, so every chosen label is wrong; ``mode="any"`` draws uniformly among all classes (the
    MNIST-1D notebook's convention, where about 1/C of the chosen labels stay right). The corrupted indices are
    kept in ``meta["noisy"]``.
    """
    if not 0.0 <= fraction <= 1.0:
        raise UserError(f"label-noise fraction must lie in [0, 1]; got {fraction}")
    if mode not in ("other", "any"):
        raise UserError(f"label-noise mode must be 'other' or 'any'; got {mode!r}")
    classes = data.num_classes
    if not classes or data.y_train.dtype not in (torch.int64, torch.int32):
        raise UserError("label noise needs a classification data set with integer labels")
    if fraction == 0.0:
        return data
    g = torch.Generator().manual_seed(seed)
    n = data.n_train
    idx = torch.randperm(n, generator=g)[: round(fraction * n)]
    y = data.y_train.clone()
    if mode == "other":
        shift = torch.randint(1, classes, (len(idx),), generator=g)
        y[idx] = (y[idx] + shift) % classes
    else:
        y[idx] = torch.randint(0, classes, (len(idx),), generator=g)
    meta = {**data.meta, "label_noise": fraction, "noisy": idx.sort().values}
    return dataclasses.replace(data, y_train=y, meta=meta)
