"""Information-plane estimators: I(X;T) and I(T;Y) of a layer's activations T, in bits.

Setting (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018): X is the identity of each input example (every row a
distinct symbol, as in the 12-bit task with its 4096 patterns), T the activations of one layer on those
inputs, Y the labels. The empirical distribution over the N rows is used.

Binning (Shwartz-Ziv & Tishby's ``ravidziv/IDNNs``): each unit is discretized, and the vector of bin indices
of a row is one discrete symbol of T. A deterministic network gives H(T|X) = 0, hence I(X;T) = H(T), at most
log2 N; I(T;Y) = H(T) + H(Y) − H(T, Y) ≤ H(Y). Two binnings:

- ``"fixed"``: ``num_bins`` equal-width bins over ``bin_range`` (default: the range of all activations,
  e.g. [0, max] for ReLU as in Saxe et al.); values outside the range fall in the end bins. Shwartz-Ziv &
  Tishby use 30 bins on [−1, 1] for tanh; note that their code (``np.digitize`` with edges
  ``np.linspace(-1, 1, 30)``) yields 29 interior intervals, i.e. ``num_bins=29, bin_range=(-1, 1)`` here
  reproduces it exactly for activations inside (−1, 1).
- ``bin_size`` (with ``"fixed"``): bins of width ``bin_size`` anchored at 0, ``floor(a / bin_size)``, with no
  range and no cap on their number, as Saxe et al.'s ``bin_calc_information2`` (bin size 0.07). Unlike bins
  over [0, max], they do not widen as ReLU activations grow during training.
- ``"adaptive"``: equal-mass bins per unit, with edges at the unit's empirical quantiles k/num_bins (ties stay
  in one bin, so bins holding tied values can be larger), in the spirit of the adaptive binning of Chelombiev,
  Houghton & O'Donnell 2019.

KDE (Kolchinsky & Tracey 2017, as in Saxe et al.'s ``kde.py``): T is perturbed by Gaussian noise of
variance σ² (``noise_variance``, default 1e-3 as in Saxe et al.), making T + noise a mixture of N Gaussians.
Its entropy is bounded with pairwise distances: the "upper" (KL) bound gives
``I(X;T) = −(1/N) Σ_i log((1/N) Σ_j exp(−‖t_i − t_j‖²/(2σ²)))`` and the "lower" (Bhattacharyya) bound the same
with 8σ² in place of 2σ²; ``I(T;Y) = H(T) − Σ_y p(y) H(T|Y=y)`` with each entropy bounded the same way (as in
Saxe et al.'s code; for the lower bound this difference of bounds is not itself a bound). The upper bound's
I(T;Y) never exceeds H(Y).
"""

from __future__ import annotations

import math

import torch

from phenomena.errors import UserError

_DTYPE = torch.float64
_STRATEGIES = ("fixed", "adaptive")
_BOUNDS = ("upper", "lower")
_LN2 = math.log(2.0)


def _activations(activations) -> torch.Tensor:
    if not isinstance(activations, torch.Tensor) or activations.ndim < 1:
        raise UserError("activations must be a torch.Tensor of shape (N, d) (or (N,) for a single unit).")
    a = activations.detach().reshape(activations.shape[0], -1).to(_DTYPE)
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise UserError(f"activations need at least one example and one unit, got shape {tuple(a.shape)}.")
    if not torch.isfinite(a).all():
        raise UserError("activations contain NaN or infinite values.")
    return a


def _symbols(values: torch.Tensor) -> torch.Tensor:
    """Dense ids 0..k−1 of the distinct rows (2-D) or values (1-D)."""
    if values.ndim == 1:
        return torch.unique(values, return_inverse=True)[1]
    return torch.unique(values, dim=0, return_inverse=True)[1]


def _label_ids(labels, n: int) -> torch.Tensor:
    y = torch.as_tensor(labels).detach()
    if y.ndim != 1 or y.shape[0] != n:
        raise UserError(f"labels must have shape ({n},) to match the activations, got {tuple(y.shape)}.")
    return _symbols(y)


def _entropy_bits(ids: torch.Tensor) -> float:
    counts = torch.bincount(ids).to(_DTYPE)
    p = counts[counts > 0] / ids.numel()
    return float(-(p * torch.log2(p)).sum())


def bin_codes(
    activations: torch.Tensor,
    num_bins: int | None = None,
    strategy: str = "fixed",
    bin_range: tuple[float, float] | None = None,
    bin_size: float | None = None,
) -> torch.Tensor:
    """Discretize activations and return one symbol id per example (equal ids ⇔ equal binned vectors).

    Args:
        activations: (N, d) activations (or (N, ...), flattened; (N,) for one unit).
        num_bins: bins per unit (Shwartz-Ziv & Tishby: 30); None means 30 unless ``bin_size`` is given.
        strategy: ``"fixed"`` (equal width over ``bin_range``) or ``"adaptive"`` (equal mass per unit).
        bin_range: (low, high) for ``"fixed"``; None uses the min and max over all activations.
        bin_size: width of bins anchored at 0 (``floor(a / bin_size)``, Saxe et al.'s 0.07), for ``"fixed"``
            only and instead of ``num_bins``/``bin_range``.

    Returns:
        (N,) int64 tensor of ids 0..k−1, k the number of distinct binned vectors.

    Example:
        >>> bin_codes(torch.tanh(h), num_bins=30, bin_range=(-1, 1))
        >>> bin_codes(torch.relu(h), bin_size=0.07)
    """
    if strategy not in _STRATEGIES:
        raise UserError(f"unknown binning strategy {strategy!r}; choose one of {', '.join(_STRATEGIES)}.")
    if bin_size is not None:
        if num_bins is not None or bin_range is not None or strategy != "fixed":
            raise UserError("bin_size replaces num_bins and bin_range (strategy='fixed' only); give one or the other.")
        if not (isinstance(bin_size, int | float) and math.isfinite(bin_size) and bin_size > 0):
            raise UserError(f"bin_size must be a positive number, got {bin_size!r}.")
        a = _activations(activations)
        codes = torch.floor(a / float(bin_size)).to(torch.long)
        codes = codes - codes.min(0).values  # non-negative, so that rows pack into one integer
        return _pack(codes, int(codes.max()) + 1)
    num_bins = 30 if num_bins is None else num_bins
    if not isinstance(num_bins, int) or num_bins < 1:
        raise UserError(f"num_bins must be a positive integer, got {num_bins!r}.")
    a = _activations(activations)
    if strategy == "fixed":
        if bin_range is None:
            lo, hi = float(a.min()), float(a.max())
        else:
            lo, hi = (float(v) for v in bin_range)
            if not hi > lo:
                raise UserError(f"bin_range must be (low, high) with high > low, got {bin_range!r}.")
        width = (hi - lo) / num_bins
        codes = (
            torch.zeros_like(a, dtype=torch.long)
            if width == 0
            else torch.floor((a - lo) / width).clamp(0, num_bins - 1).to(torch.long)
        )
    else:
        if bin_range is not None:
            raise UserError("bin_range applies to strategy='fixed' only; adaptive bins follow the data.")
        n = a.shape[0]
        ordered = a.sort(dim=0).values
        cut = torch.tensor([math.ceil(k * n / num_bins) for k in range(1, num_bins)], dtype=torch.long)
        edges = ordered[cut.clamp(max=n - 1)]  # (num_bins − 1, d) order statistics
        codes = torch.searchsorted(edges.T.contiguous(), a.T.contiguous(), right=True).T
    return _pack(codes, num_bins)


def _pack(codes: torch.Tensor, num_bins: int) -> torch.Tensor:
    # Rows of small integers become one int64 when num_bins**d fits (unique on a vector is much faster);
    # otherwise unique over rows.
    d = codes.shape[1]
    if d * math.log2(max(num_bins, 2)) <= 62:
        packed = torch.zeros(codes.shape[0], dtype=torch.long)
        for j in range(d):
            packed = packed * num_bins + codes[:, j]
        return _symbols(packed)
    return _symbols(codes)


def binned_information(
    activations: torch.Tensor,
    labels: torch.Tensor,
    num_bins: int | None = None,
    strategy: str = "fixed",
    bin_range: tuple[float, float] | None = None,
    bin_size: float | None = None,
) -> dict[str, float]:
    """I(X;T) and I(T;Y) in bits by binning (Shwartz-Ziv & Tishby 2017), X the input identity.

    Args:
        activations: (N, d) activations of one layer on N distinct inputs.
        labels: (N,) labels (any discrete values).
        num_bins, strategy, bin_range, bin_size: as in :func:`bin_codes` (30 bins unless ``bin_size``).

    Returns:
        dict with ``i_xt`` (= H(T), T deterministic given X), ``i_ty``, ``h_t``, ``h_y`` (bits) and
        ``num_codes`` (distinct binned vectors).

    Example:
        >>> binned_information(torch.tanh(h), y, num_bins=30, bin_range=(-1, 1))["i_xt"]
        >>> binned_information(torch.relu(h), y, bin_size=0.07)["i_xt"]  # Saxe et al.'s bin_calc_information2
    """
    t = bin_codes(activations, num_bins, strategy, bin_range, bin_size)
    y = _label_ids(labels, t.numel())
    h_t, h_y = _entropy_bits(t), _entropy_bits(y)
    h_ty = _entropy_bits(t * (int(y.max()) + 1) + y)
    return {
        "i_xt": h_t,
        "i_ty": max(h_t + h_y - h_ty, 0.0),
        "h_t": h_t,
        "h_y": h_y,
        "num_codes": float(int(t.max()) + 1),
    }


def _kde_neg_mean_log(t: torch.Tensor, two_var: float, chunk: int = 1024) -> float:
    """−(1/N) Σ_i log((1/N) Σ_j exp(−‖t_i − t_j‖²/two_var)) in nats, N×N distances in row chunks."""
    n = t.shape[0]
    t = t - t.mean(0)  # smaller norms, smaller rounding error in the expansion below
    sq = (t * t).sum(1)
    total = t.new_zeros(())
    for start in range(0, n, chunk):
        d2 = torch.addmm(sq[start : start + chunk, None] + sq[None, :], t[start : start + chunk], t.T, alpha=-2.0)
        # The self-distance must be exactly 0: with small σ² the expansion's rounding error (~eps‖t‖²) would
        # otherwise drop the self term and push I(X;T) above log2 N. With it, every row's largest term is
        # exp(0) = 1 (up to rounding), so the plain sum cannot overflow or underflow to log(0); in-place ops
        # keep this O(N²) loop at one buffer.
        d2[:, start : start + chunk].fill_diagonal_(0.0)
        total = total + d2.mul_(-1.0 / two_var).exp_().sum(1).log_().sum()
    return float(math.log(n) - total / n)


def kde_information(
    activations: torch.Tensor, labels: torch.Tensor, noise_variance: float = 1e-3, bound: str = "upper"
) -> dict[str, float]:
    """I(X;T) and I(T;Y) in bits for T plus Gaussian noise, by pairwise-distance bounds (Kolchinsky & Tracey).

    This is Saxe et al. 2018's estimator (``kde.py``): the noise of variance ``noise_variance`` (σ², default
    1e-3) makes the information finite; H(T|X) is the noise entropy, so I(X;T) = H(T) − d/2·log(2πeσ²) (bounds
    of Kolchinsky & Tracey 2017). With the upper (KL) bound, I(X;T) ≤ log2 N and I(T;Y) ≤ H(Y); as σ² → 0 on
    distinct activations, I(X;T) → log2 N. Costs O(N²·d) time, O(1024·N) memory.

    Args:
        activations: (N, d) activations of one layer on N inputs.
        labels: (N,) labels (any discrete values).
        noise_variance: σ² > 0 of the added isotropic Gaussian noise, in the units of the activations squared.
        bound: ``"upper"`` (KL) or ``"lower"`` (Bhattacharyya).

    Returns:
        dict with ``i_xt`` and ``i_ty`` in bits.

    Example:
        >>> kde_information(torch.tanh(h), y)["i_xt"]
    """
    if bound not in _BOUNDS:
        raise UserError(f"unknown KDE bound {bound!r}; choose one of {', '.join(_BOUNDS)}.")
    if not (isinstance(noise_variance, int | float) and noise_variance > 0):
        raise UserError(f"noise_variance must be a positive number, got {noise_variance!r}.")
    t = _activations(activations)
    y = _label_ids(labels, t.shape[0])
    # KL between components: ‖Δμ‖²/(2σ²); Bhattacharyya: ‖Δμ‖²/(8σ²). The d/2·log terms cancel in both MIs.
    two_var = (2.0 if bound == "upper" else 8.0) * float(noise_variance)
    h_t = _kde_neg_mean_log(t, two_var)
    n = t.shape[0]
    h_t_given_y = 0.0
    for k in range(int(y.max()) + 1):
        members = t[y == k]
        h_t_given_y += members.shape[0] / n * _kde_neg_mean_log(members, two_var)
    return {"i_xt": h_t / _LN2, "i_ty": (h_t - h_t_given_y) / _LN2}
