"""Dohare et al.'s slowly changing regression stream (the "bit-flipping" problem), many runs at once.

Dohare, Hernandez-Garcia, Lan, Rahman, Mahmood & Sutton (2024, "Loss of plasticity in deep continual learning",
Nature; reference code ``shibhansh/loss-of-plasticity``, ``lop/slowly_changing_regression``). Inputs are ``m``
bits in {0, 1}; the first ``n_flipping`` are held fixed for ``flip_after`` examples and then all redrawn at
random, the other ``m - n_flipping`` are drawn fresh for every example. The target is a fixed network of
``n_features`` linear threshold units (LTUs): weights, biases, output weights and output bias all uniform in
{−1, +1}; unit j fires (1) when its pre-activation ``w_j·x + b_j`` exceeds ``τ_j = β(m + 1) − S_j`` with
``S_j = (m − Σ_i w_ji + b_j) / 2`` (the reference's formula: roughly the number of −1 input weights, so each unit
fires on about the inputs that agree with the sign pattern of its weights), and y = Σ_j v_j f_j(x) + c.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from phenomena.errors import UserError


@dataclasses.dataclass(frozen=True)
class LTUTarget:
    """The fixed target networks of R runs: ``w`` (R, k, m) and ``b`` (R, k) ±1 input weights and biases, ``tau``
    (R, k) thresholds, ``v`` (R, k) ±1 output weights, ``c`` (R,) ±1 output biases."""

    w: np.ndarray
    b: np.ndarray
    tau: np.ndarray
    v: np.ndarray
    c: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Targets for inputs ``x`` of shape (R, N, m): (R, N)."""
        y = np.empty(x.shape[:2])
        for r in range(x.shape[0]):  # one run at a time: the (N, k) pre-activations of all runs can be large
            fires = (x[r] @ self.w[r].T + self.b[r] > self.tau[r]).astype(x.dtype)
            y[r] = fires @ self.v[r] + self.c[r]
        return y


def ltu_target(runs: int, n_inputs: int = 20, n_features: int = 100, beta: float = 0.7, seed: int = 0) -> LTUTarget:
    """Draw R independent target networks of linear threshold units (Dohare et al.'s ``FixLTUNet``).

    Args:
        runs: how many independent targets R.
        n_inputs: input bits m.
        n_features: threshold units k (100 in the paper).
        beta: the threshold parameter β (0.7 in the paper).
        seed: numpy seed.

    Returns:
        An :class:`LTUTarget`; call it on (R, N, m) inputs.

    Example:
        >>> t = ltu_target(4, seed=1)
        >>> t(np.ones((4, 3, 20))).shape
        (4, 3)
    """
    if runs < 1 or n_inputs < 1 or n_features < 1:
        raise UserError(f"runs, n_inputs and n_features must be positive; got {runs}, {n_inputs}, {n_features}")
    rng = np.random.default_rng(seed)

    def signs(*shape):
        return rng.integers(0, 2, size=shape).astype(np.float64) * 2 - 1

    w, b = signs(runs, n_features, n_inputs), signs(runs, n_features)
    v, c = signs(runs, n_features), signs(runs)
    s = (n_inputs - w.sum(-1) + b) / 2
    return LTUTarget(w=w, b=b, tau=beta * (n_inputs + 1) - s, v=v, c=c)


def slowly_changing_regression(
    n_examples: int,
    runs: int = 1,
    *,
    flip_after: int = 10_000,
    n_flipping: int = 15,
    n_inputs: int = 20,
    n_features: int = 100,
    beta: float = 0.7,
    chunk: int = 10_000,
    seed: int = 0,
    target: LTUTarget | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream R independent slowly changing regression problems, in chunks of examples.

    Example t of run r has its first ``n_flipping`` bits equal to the bits of period ``t // flip_after`` (drawn
    at random in {0, 1} for each period; consecutive periods are independent draws, as in the reference) and
    its other bits fresh uniform draws; the label is the run's LTU target (:func:`ltu_target`) on those bits.

    Args:
        n_examples: total examples per run.
        runs: independent problems R (each its own target, flipping bits and inputs).
        flip_after: examples per period of the slowly changing bits (10,000 in the paper).
        n_flipping: how many bits change slowly (15 of 20 in the paper).
        n_inputs, n_features, beta: the target network (see :func:`ltu_target`).
        chunk: examples per yielded piece (the last piece may be shorter).
        seed: numpy seed for everything.
        target: use these target networks instead of drawing new ones (``seed`` still draws the inputs).

    Yields:
        ``(x, y)``: x float64 (R, n, n_inputs) bits in {0, 1}, y float64 (R, n) targets.

    Example:
        >>> x, y = next(slowly_changing_regression(30_000, runs=2, chunk=1000))
        >>> x.shape, y.shape
        ((2, 1000, 20), (2, 1000))
    """
    if not 0 <= n_flipping <= n_inputs:
        raise UserError(f"n_flipping must lie in [0, n_inputs={n_inputs}]; got {n_flipping}")
    if flip_after < 1 or chunk < 1 or n_examples < 0:
        raise UserError("flip_after and chunk must be positive and n_examples non-negative")
    rng = np.random.default_rng([seed, 1])
    if target is None:
        target = ltu_target(runs, n_inputs, n_features, beta, seed=seed)
    elif target.w.shape[0] != runs or target.w.shape[2] != n_inputs:
        raise UserError(f"target is for {target.w.shape[0]} runs of {target.w.shape[2]} inputs")
    periods = (max(n_examples, 1) - 1) // flip_after + 1
    slow = rng.integers(0, 2, size=(runs, periods, n_flipping)).astype(np.float64)
    for start in range(0, n_examples, chunk):
        n = min(chunk, n_examples - start)
        period = (start + np.arange(n)) // flip_after
        fast = rng.integers(0, 2, size=(runs, n, n_inputs - n_flipping)).astype(np.float64)
        x = np.concatenate([slow[:, period], fast], axis=2)
        yield x, target(x)
