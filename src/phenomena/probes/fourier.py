"""Fourier sparsity of weights over a cyclic input: the progress measure of grokking on modular arithmetic.

Nanda et al. (2023) and Gromov (2023) show that networks that grok ``a + b mod p`` represent tokens by a few
frequencies 2πk/p. The inverse participation ratio of each neuron's spectrum measures it (Doshi et al.'s
``calculate_ipr`` with r = 2): IPR_r(v) = Σ_k (|v̂_k| / ‖v̂‖₂)^{2r}, which is 1 for a single frequency and about
1/(number of frequencies) for a spread spectrum.
"""

from __future__ import annotations

import torch


def fourier_ipr(weight: torch.Tensor, dim: int = -1, r: int = 2) -> torch.Tensor:
    """Per-row inverse participation ratio of the one-sided DFT of ``weight`` along ``dim`` (the token axis).

    The spectrum is ``torch.fft.rfft`` magnitudes: frequencies 0..⌊p/2⌋, each non-zero frequency standing for
    the pair ±k, so a pure cosine of any phase has IPR 1. Returns a tensor with ``dim`` removed; rows that are
    all zero give nan.

    >>> p = 97; n = torch.arange(p)
    >>> fourier_ipr(torch.cos(2 * torch.pi * 5 * n / p + 0.3)).item()   # ≈ 1.0
    """
    spectrum = torch.fft.rfft(weight.double(), dim=dim).abs()
    norm = spectrum.pow(2).sum(dim=dim, keepdim=True).sqrt()
    return (spectrum / norm).pow(2 * r).sum(dim=dim)
