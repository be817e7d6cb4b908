"""Exact learning dynamics of a two-layer linear network (Saxe, McClelland & Ganguli 2014).

The network ŷ = W₂W₁x is trained by gradient flow on L = ½ E‖y − W₂W₁x‖² with whitened inputs (E xxᵀ = I). Only
the input-output correlation Σ_yx = E yxᵀ = U S Vᵀ enters: the flow is τẆ₁ = W₂ᵀ(Σ_yx − W₂W₁),
τẆ₂ = (Σ_yx − W₂W₁)W₁ᵀ. From a balanced init aligned with the modes (W₁ = R diag(√a₀) Vᵀ, W₂ = U diag(√a₀) Rᵀ,
R with orthonormal columns) every mode keeps its own hidden direction and its strength a = uᵀW₂W₁v obeys

    τ ȧ = 2 a (s − a)    (a = b², τḃ = b(s − b²) for the hidden weight b of the mode on either side),

a logistic equation whose solution is a(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/a₀) = s / (1 + (s/a₀ − 1) e^{−2st/τ}):
a sigmoid that reaches s/2 at t½ = (τ / 2s) ln(s/a₀ − 1). Small a₀ gives long plateaus and modes learned one
after another in order of s (t½ ∝ ln(s/a₀)/s).

Time: gradient descent with step η on this (mean-over-samples) loss follows the flow with τ = 1/η steps (with the
sum over P samples instead of the mean, τ = 1/(ηP)); the discrete step's growth per step is ln(1 + ηs) instead of
ηs, so t½ is off by a relative O(ηs/2).

A small *random* init is not aligned; linearizing the flow around zero, a mode's hidden vectors b = W₁v and
c = W₂ᵀu obey τḃ = s c, τċ = s b, so b + c grows like e^{st/τ} and b − c decays: after a short alignment phase
a = cᵀb ≈ ‖b₀ + c₀‖²/4 · e^{2st/τ}, the closed form's early growth with a₀ = ‖b₀ + c₀‖²/4
(:func:`effective_initial_strength`). Modes learned earlier suppress a little of that vector (its component along
their hidden direction), so later modes lag the closed form slightly, by O(1/hidden width).
"""

from __future__ import annotations

import math

import numpy as np

from phenomena.errors import UserError


def mode_strength(t, s: float, a0: float, tau: float = 1.0) -> np.ndarray:
    """The closed-form strength a(t) of one input-output mode of a two-layer linear network trained by gradient
    flow from a small balanced init aligned with the modes: a(t) = s / (1 + (s/a₀ − 1) e^{−2st/τ}).

    Args:
        t: time(s), in the units of ``tau`` (gradient-descent steps when ``tau`` = 1/learning rate).
        s: the mode's singular value of Σ_yx (> 0).
        a0: its initial strength (> 0); a₀ > s decays to s from above.
        tau: the time constant of the flow τ (1/η for GD with step η on the mean loss).

    Returns:
        a(t), an array shaped like ``t``.

    Example:
        >>> round(float(mode_strength(0.0, 2.0, 1e-3)), 6), round(float(mode_strength(50.0, 2.0, 1e-3)), 6)
        (0.001, 2.0)
    """
    if not (s > 0 and a0 > 0 and tau > 0):
        raise UserError(f"mode_strength needs s, a0, tau > 0; got s={s}, a0={a0}, tau={tau}")
    x = 2.0 * s * np.asarray(t, dtype=float) / tau
    return s / (1.0 + (s / a0 - 1.0) * np.exp(-x))


def half_learning_time(s: float, a0: float, tau: float = 1.0) -> float:
    """When a mode's closed-form strength reaches half its singular value: t½ = (τ / 2s) ln(s/a₀ − 1).

    Args:
        s: the singular value (> 0).
        a0: the initial strength, 0 < a₀ < s (negative t½ when a₀ > s/2: the sigmoid crossed s/2 before t = 0).
        tau: the time constant of the flow (1/η steps for GD with step η on the mean loss).

    Returns:
        t½ in the units of ``tau``.

    Example:
        >>> round(half_learning_time(1.0, 1e-4, tau=100.0), 3)  # 50 ln(9999)
        460.512
    """
    if not (s > 0 and 0 < a0 < s and tau > 0):
        raise UserError(f"half_learning_time needs s > 0, 0 < a0 < s, tau > 0; got s={s}, a0={a0}, tau={tau}")
    return tau / (2.0 * s) * math.log(s / a0 - 1.0)


def mode_strengths(w: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The strengths a_i = u_iᵀ W v_i of a network's input-output map W (= W₂W₁, shape (out, in)) on the modes of
    Σ_yx = U S Vᵀ: the diagonal of UᵀWV.

    Args:
        w: the network's map, shape (n_out, n_in).
        u: left singular vectors as columns, shape (n_out, k).
        v: right singular vectors as columns, shape (n_in, k).

    Returns:
        a, shape (k,); equal to S's diagonal when the network has learned Σ_yx.

    Example:
        >>> u, v = np.eye(3)[:, :2], np.eye(2)
        >>> mode_strengths(np.diag([3.0, 1.0, 0.0])[:, :2], u, v)
        array([3., 1.])
    """
    w, u, v = np.asarray(w, float), np.asarray(u, float), np.asarray(v, float)
    return np.einsum("oi,ok,ik->k", w, u, v)


def effective_initial_strength(w1: np.ndarray, w2: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The a₀ that the closed form should use for each mode of a small, random (not aligned) init: ‖b₀ + c₀‖²/4
    with b₀ = W₁v_i and c₀ = W₂ᵀu_i, the amplitude of the growing solution of the linearized flow (τḃ = s c,
    τċ = s b) once the decaying part b − c has gone. For an aligned balanced init (b₀ = c₀) it is a₀ itself.

    Args:
        w1: first layer, shape (hidden, n_in).
        w2: second layer, shape (n_out, hidden).
        u: left singular vectors of Σ_yx as columns, shape (n_out, k).
        v: right singular vectors as columns, shape (n_in, k).

    Returns:
        a₀ per mode, shape (k,).

    Example:
        >>> w1, w2 = np.array([[0.1, 0.0]]), np.array([[0.1], [0.0]])
        >>> effective_initial_strength(w1, w2, np.eye(2), np.eye(2)).round(6)  # mode 1 aligned: a0 = 0.1²
        array([0.01, 0.  ])
    """
    b = np.asarray(w1, float) @ np.asarray(v, float)  # (hidden, k)
    c = np.asarray(w2, float).T @ np.asarray(u, float)
    return ((b + c) ** 2).sum(axis=0) / 4.0


def aligned_init(
    u: np.ndarray, v: np.ndarray, a0, hidden: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A balanced init aligned with the modes, W₁ = R diag(√a₀) Vᵀ and W₂ = U diag(√a₀) Rᵀ, R a random (hidden, k)
    matrix with orthonormal columns: each mode starts at strength a₀ (the closed form's exact setting).

    Args:
        u: left singular vectors as columns, shape (n_out, k).
        v: right singular vectors as columns, shape (n_in, k).
        a0: initial strength, one number or one per mode (> 0).
        hidden: the hidden width (≥ k).
        rng: the random generator for R.

    Returns:
        (W₁ of shape (hidden, n_in), W₂ of shape (n_out, hidden)).

    Example:
        >>> w1, w2 = aligned_init(np.eye(2), np.eye(2), 0.01, 4, np.random.default_rng(0))
        >>> (w2 @ w1).round(6)
        array([[0.01, 0.  ],
               [0.  , 0.01]])
    """
    k = u.shape[1]
    if hidden < k:
        raise UserError(f"aligned_init needs hidden >= the number of modes ({k}); got {hidden}")
    r, _ = np.linalg.qr(rng.standard_normal((hidden, k)))
    root = np.sqrt(np.broadcast_to(np.asarray(a0, float), (k,)))
    return (r * root) @ np.asarray(v, float).T, (np.asarray(u, float) * root) @ r.T
