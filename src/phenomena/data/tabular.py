"""Small classic data sets shipped with packages or generated: scikit-learn digits, teacher-student data."""

from __future__ import annotations

import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError


def digits(train_fraction: float = 0.8, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with the package), features scaled to [0, 1]
    and flattened to 64, split at random with its own generator."""
    from sklearn.datasets import load_digits

    if not 0.0 < train_fraction < 1.0:
        raise UserError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")
    raw = load_digits()
    x = torch.as_tensor(raw.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(raw.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n = round(train_fraction * len(x))
    tr, te = order[:n], order[n:]
    return Dataset(x[tr], y[tr], x[te], y[te], {"name": "digits", "num_classes": 10, "input": "features"})


def teacher_student(
    n_train: int = 1000,
    n_test: int = 1000,
    dim: int = 20,
    outputs: int = 1,
    teacher_width: int = 0,
    noise_std: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Gaussian inputs x ~ N(0, I_dim) labelled by a random teacher.

    ``teacher_width=0`` gives a linear teacher y = x W / sqrt(dim); otherwise a one-hidden-layer tanh teacher of
    that width. Training targets get Gaussian noise of std ``noise_std``; test targets are clean.
    """
    if min(n_train, n_test, dim, outputs) < 1 or teacher_width < 0 or noise_std < 0:
        raise UserError("teacher_student needs positive sizes and non-negative teacher_width and noise_std")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, dim, generator=g)
    if teacher_width == 0:
        y = x @ torch.randn(dim, outputs, generator=g) / dim**0.5
    else:
        w1 = torch.randn(dim, teacher_width, generator=g) / dim**0.5
        w2 = torch.randn(teacher_width, outputs, generator=g) / teacher_width**0.5
        y = torch.tanh(x @ w1) @ w2
    y_train = y[:n_train] + noise_std * torch.randn(n_train, outputs, generator=g)
    meta = {"name": "teacher-student", "num_classes": None, "input": "features", "noise_std": noise_std}
    return Dataset(x[:n_train], y_train, x[n_train:], y[n_train:], meta)
