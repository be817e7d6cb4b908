"""The one schema every data set has: train/test tensors in memory plus metadata."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


@dataclasses.dataclass(frozen=True)
class Dataset:
    """An in-memory supervised data set.

    ``x_*`` are float features (N, ...) or integer tokens (N, T); ``y_*`` are integer class labels (N,), integer
    tokens (N, L) for a multi-token output (``meta["output_tokens"] = L``, each a ``num_classes``-way label) or
    float regression targets (N, K). ``meta`` says what it is: ``name``, ``num_classes`` (None for regression),
    ``input`` ("features" or "tokens"), ``vocab`` for tokens, and task-specific facts (e.g. ``noisy`` indices).
    Models index these tensors directly: small data sets need no DataLoader.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError("x and y must have the same number of rows in each split")

    @property
    def num_classes(self) -> int | None:
        return self.meta.get("num_classes")

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    def to(self, device: str | torch.device) -> Dataset:
        """The same data on another device."""
        moved = {f: getattr(self, f).to(device) for f in ("x_train", "y_train", "x_test", "y_test")}
        return dataclasses.replace(self, **moved)

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` / ``n_test`` rows (data sets are stored shuffled)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )
