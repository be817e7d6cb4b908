"""A tiny decoder-only transformer for sequence tasks (Nanda et al. 2023's grokking model by default)."""

from __future__ import annotations

import math

import torch
from torch import nn

from phenomena.errors import UserError


class Block(nn.Module):
    """Causal multi-head attention and a ReLU MLP, each added to the residual stream; LayerNorm optional
    (Nanda et al. use none)."""

    def __init__(self, d_model: int, n_heads: int, d_mlp: int, n_ctx: int, use_ln: bool, g: torch.Generator):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.mlp_in = nn.Linear(d_model, d_mlp)
        self.mlp_out = nn.Linear(d_mlp, d_model)
        self.ln1 = nn.LayerNorm(d_model) if use_ln else nn.Identity()
        self.ln2 = nn.LayerNorm(d_model) if use_ln else nn.Identity()
        self.register_buffer("mask", torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool)), persistent=False)
        with torch.no_grad():  # Nanda et al.: N(0, 1/d_model) weights, zero MLP biases
            for lin in (self.qkv, self.out, self.mlp_in):
                lin.weight.normal_(0, 1 / math.sqrt(d_model), generator=g)
            self.mlp_out.weight.normal_(0, 1 / math.sqrt(d_mlp), generator=g)
            self.mlp_in.bias.zero_()
            self.mlp_out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)
        scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.out(attended)
        return x + self.mlp_out(torch.relu(self.mlp_in(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Token sequences (N, T) -> logits at the last position (N, out_features).

    Defaults follow Nanda et al. (2023): one layer, d_model 128, 4 heads, d_mlp 512, ReLU, no LayerNorm, learned
    positional embeddings, untied embedding and unembedding (W_E ~ N(0, 1/d_model), W_U ~ N(0, 1/d_vocab)).
    """

    def __init__(
        self,
        vocab: int,
        out_features: int,
        n_ctx: int = 3,
        d_model: int = 128,
        n_heads: int = 4,
        d_mlp: int = 512,
        n_layers: int = 1,
        use_ln: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if min(vocab, out_features, n_ctx, d_model, n_heads, d_mlp, n_layers) < 1:
            raise UserError("transformer sizes (vocab, d_model, n_heads, d_mlp, n_layers) must be positive")
        if d_model % n_heads:
            raise UserError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        g = torch.Generator().manual_seed(seed)
        self.embed = nn.Parameter(torch.randn(vocab, d_model, generator=g) / math.sqrt(d_model))
        self.pos = nn.Parameter(torch.randn(n_ctx, d_model, generator=g) / math.sqrt(d_model))
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_mlp, n_ctx, use_ln, g) for _ in range(n_layers))
        self.unembed = nn.Parameter(torch.randn(d_model, out_features, generator=g) / math.sqrt(vocab))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed[tokens] + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return x[:, -1] @ self.unembed
