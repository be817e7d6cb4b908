"""A decoder-only transformer over real-valued tokens with a read-out at every position, for in-context
regression (Garg et al. 2022's GPT-2-style model in miniature), built from the project's :class:`Block`."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from phenomena.errors import UserError
from phenomena.models.transformer import Block


class ICLTransformer(nn.Module):
    """Tokens (B, T, d_in) -> one scalar per position (B, T).

    A linear read-in, learned positional embeddings (N(0, 0.02²) as in GPT-2), ``n_layers`` pre-LayerNorm blocks
    (causal attention + a 4x ReLU MLP), a final LayerNorm and a linear read-out.

    Args:
        d_in: token dimension.
        n_ctx: the longest sequence.
        d_model, n_heads, n_layers: sizes (Garg et al.'s "tiny" model is 64 / 2 / 3).
        attention: ``"causal"``, or ``"diagonal"``: each position attends only to itself, so nothing passes between
            positions (a control: the model cannot read the examples in its context).
        seed: initialization seed.

    Example: ``ICLTransformer(5, 22)(torch.zeros(2, 22, 5)).shape`` is ``(2, 22)``.
    """

    def __init__(
        self,
        d_in: int,
        n_ctx: int,
        d_model: int = 64,
        n_heads: int = 2,
        n_layers: int = 3,
        attention: Literal["causal", "diagonal"] = "causal",
        seed: int = 0,
    ):
        super().__init__()
        if min(d_in, n_ctx, d_model, n_heads, n_layers) < 1:
            raise UserError("transformer sizes (d_in, n_ctx, d_model, n_heads, n_layers) must be positive")
        if d_model % n_heads:
            raise UserError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if attention not in ("causal", "diagonal"):
            raise UserError(f"attention must be 'causal' or 'diagonal', got {attention!r}")
        g = torch.Generator().manual_seed(seed)
        self.read_in = nn.Linear(d_in, d_model)
        self.pos = nn.Parameter(torch.randn(n_ctx, d_model, generator=g) * 0.02)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, 4 * d_model, n_ctx, True, g) for _ in range(n_layers))
        if attention == "diagonal":
            for block in self.blocks:
                block.mask = torch.eye(n_ctx, dtype=torch.bool)
        self.ln = nn.LayerNorm(d_model)
        self.read_out = nn.Linear(d_model, 1)
        with torch.no_grad():
            for lin in (self.read_in, self.read_out):
                lin.weight.normal_(0, 1 / lin.in_features**0.5, generator=g)
                lin.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.read_in(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.read_out(self.ln(h))[..., 0]
