"""Prompts of linear-regression examples for in-context learning (Garg, Tsipras, Liang & Valiant 2022).

A prompt is (x_1, y_1, …, x_n, y_n) with x_i ~ N(0, I_d) (times ``x_scale``), a task vector w ~ N(0, I_d) drawn
once per prompt, and y_i = x_iᵀw + noise. As a token sequence the x's and y's interleave, each y zero-padded to
d dimensions, so a decoder reading position 2i (the token x_{i+1}) has seen i examples: its output there is the
prediction of y_{i+1} from i in-context examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from phenomena.errors import UserError


@dataclass(frozen=True)
class Prompts:
    """A batch of linear-regression prompts: ``x`` (B, n, d), ``y`` (B, n), the task vectors ``w`` (B, d)."""

    x: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor

    def tokens(self, shuffle_y: torch.Generator | None = None) -> torch.Tensor:
        """The interleaved sequence (B, 2n, d): x_1, [y_1, 0, …], x_2, [y_2, 0, …], …

        Args:
            shuffle_y: if given, the y tokens are permuted within each prompt (a control: the pairs no longer
                match, so the examples carry no information about w).

        Returns:
            float tensor (B, 2n, d).

        Example: ``linear_regression_prompts(2, 3, 4, torch.Generator()).tokens().shape`` is ``(2, 6, 4)``.
        """
        b, n, d = self.x.shape
        y = self.y
        if shuffle_y is not None:
            perm = torch.rand(b, n, generator=shuffle_y).argsort(1)
            y = y.gather(1, perm)
        z = torch.zeros(b, 2 * n, d, dtype=self.x.dtype)
        z[:, 0::2] = self.x
        z[:, 1::2, 0] = y
        return z


def linear_regression_prompts(
    batch: int,
    n_points: int,
    d: int,
    generator: torch.Generator,
    *,
    noise: float = 0.0,
    x_scale: float = 1.0,
    active_dims: int | None = None,
) -> Prompts:
    """Fresh prompts: x ~ N(0, x_scale² I_d), w ~ N(0, I_d), y = xᵀw + N(0, noise²).

    Args:
        batch: prompts.
        n_points: (x, y) pairs per prompt.
        d: input dimension.
        generator: the torch generator the draws come from.
        noise: label noise standard deviation.
        x_scale: multiplies x (a distribution shift at test time when ≠ 1).
        active_dims: if given, only the first ``active_dims`` coordinates of x are non-zero (Garg et al.'s
            curriculum on the effective dimension).

    Returns:
        :class:`Prompts` in float32.

    Example: ``p = linear_regression_prompts(8, 11, 5, torch.Generator().manual_seed(0))`` has ``p.x.shape ==
    (8, 11, 5)`` and ``p.y == (p.x @ p.w[:, :, None])[..., 0]``.
    """
    if min(batch, n_points, d) < 1:
        raise UserError("batch, n_points and d must be positive")
    x = torch.randn(batch, n_points, d, generator=generator) * x_scale
    if active_dims is not None and active_dims < d:
        x[..., active_dims:] = 0
    w = torch.randn(batch, d, generator=generator)
    y = (x @ w[:, :, None])[..., 0]
    if noise > 0:
        y = y + noise * torch.randn(batch, n_points, generator=generator)
    return Prompts(x, y, w)
