"""Per-frequency error of a function sampled on a uniform grid, and when each frequency is learned: the
measurements of spectral bias (Rahaman et al. 2019; Xu et al. 2019)."""

from __future__ import annotations

import math

import numpy as np

from phenomena.analysis.curves import first_below


def relative_spectral_error(output: np.ndarray, target: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """|ĥ_k − λ̂_k| / |λ̂_k| at integer frequencies ``ks``, from the real FFT of samples on a uniform grid.

    Args:
        output: the network's values h(x_i) on the grid, shape (..., N) (leading axes are batched).
        target: the target's values λ(x_i), shape (N,).
        ks: integer frequencies (cycles over the grid), each below N/2, with λ̂_k ≠ 0.

    Returns:
        The relative error of each frequency, shape (..., len(ks)).

    Example: a network that outputs the target has error 0 at every k; one that outputs 0 has error 1.
    """
    h = np.fft.rfft(output, axis=-1)[..., ks]
    lam = np.fft.rfft(target)[ks]
    return np.abs(h - lam) / np.abs(lam)


def learning_steps(steps: np.ndarray, errors: np.ndarray, threshold: float) -> np.ndarray:
    """The first step at which each frequency's error is below ``threshold``: NaN where it never is, or where a
    non-finite error comes first (:func:`~phenomena.analysis.curves.first_below`, column by column).

    Args:
        steps: increasing steps, shape (T,).
        errors: relative errors, shape (T, K).
        threshold: the level a frequency's error must fall below to count as learned.

    Returns:
        Shape (K,) float array of steps.

    Example: ``learning_steps([0, 1, 2], [[1, 1], [0.4, 1], [0.3, 0.2]], 0.5)`` is ``[1, 2]``.
    """
    steps, errors = np.asarray(steps, float), np.asarray(errors, float)
    first = [first_below(column, threshold) for column in errors.T]
    return np.array([math.nan if i is None else steps[i] for i in first])
