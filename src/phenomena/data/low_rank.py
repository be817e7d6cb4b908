"""A low-rank matrix completion problem: a random rank-r ground truth and a random set of observed entries."""

from __future__ import annotations

import numpy as np

from phenomena.errors import UserError


def low_rank_completion(
    n: int, rank: int, observed: int, truth_seed: int, mask_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ground truth W* = UVᵀ (n × n, rank ``rank``, Gaussian U and V, scaled to ‖W*‖_F = n so its entries have
    unit rms) and a boolean mask of ``observed`` entries drawn uniformly without replacement: the setting of
    Arora et al. 2019 (deep matrix factorization) and Kleinman et al. 2024 (critical periods in deep linear nets).

    Args:
        n: the matrix is n × n.
        rank: rank of the ground truth, below n.
        observed: how many entries are observed, below n².
        truth_seed, mask_seed: seeds of the two draws (``numpy.random.default_rng``), so the same truth can be
            observed through different masks.

    Returns:
        ``(truth, mask)``: a float64 (n, n) array and a boolean (n, n) array with ``observed`` True entries.

    Example:
        >>> truth, mask = low_rank_completion(20, 2, 100, truth_seed=0, mask_seed=1)
        >>> np.linalg.matrix_rank(truth), int(mask.sum()), round(float(np.linalg.norm(truth)), 6)
        (2, 100, 20.0)
    """
    if not (isinstance(n, int) and isinstance(rank, int) and isinstance(observed, int)):
        raise UserError(f"low_rank_completion needs integer sizes; got n={n!r}, rank={rank!r}, observed={observed!r}")
    if not 0 < rank < n or not 0 < observed < n * n:
        raise UserError(f"low_rank_completion needs 0 < rank < n and 0 < observed < n²; got {n}, {rank}, {observed}")
    rng = np.random.default_rng(truth_seed)
    w = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, n))
    w *= n / np.linalg.norm(w)
    picked = np.random.default_rng(mask_seed).choice(n * n, observed, replace=False)
    mask = np.zeros(n * n, dtype=bool)
    mask[picked] = True
    return w, mask.reshape(n, n)
