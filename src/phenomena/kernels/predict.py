"""Outputs of infinitely wide nets trained by gradient descent on MSE, in closed form (neural-tangents' ``predict``).

Time convention (neural-tangents' ``gradient_descent_mse``): the loss is 0.5 * mean over all n = y_train.numel()
entries, L = ||f(X) - Y||^2 / (2 n), and ``t`` counts gradient-descent steps of size ``lr`` in the continuous-time
limit, so with tau = lr * t the train outputs solve df/dtau = -(1/n) Theta (f - Y):

    f_train(t) = Y + exp(-tau Theta / n) (f_train(0) - Y)
    f_test(t)  = f_test(0) + Theta_*X Theta^{-1} (I - exp(-tau Theta / n)) (Y - f_train(0))

(Lee et al. 2019, "Wide neural networks of any depth evolve as linear models"). Everything is evaluated in the
eigenbasis of the train kernel (one ``torch.linalg.eigh``), so an array of times costs little more than one time.
``t=None`` (or inf) is the end of training: kernel (ridge) regression, with eigenvalues below
N * eps * lambda_max treated as zero (a pseudo-inverse). Multi-output targets (N, C) use Theta x I_C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from phenomena.errors import UserError

GETS = ("ntk", "nngp")
Times = float | Sequence[float] | Tensor | None


def gradient_descent_mse(
    ntk_train_train: Tensor,
    y_train: Tensor,
    t: Times = None,
    ntk_test_train: Tensor | None = None,
    *,
    lr: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    fx_train_0: float | Tensor = 0.0,
    fx_test_0: float | Tensor = 0.0,
) -> tuple[Tensor, Tensor | None]:
    """Train and test outputs of the linearized network after time ``t`` of gradient descent on MSE.

    Args:
        ntk_train_train: (N, N) kernel on the training inputs (the NTK; the NNGP gives readout-only training).
        y_train: targets, (N,) or (N, C).
        t: training time in steps: a float or an array of floats of any shape; ``None`` or inf for the limit.
        ntk_test_train: (M, N) kernel between test and training inputs; ``None`` for train outputs only.
        lr: learning rate; only lr * t matters.
        diag_reg: diagonal regularizer added to the train kernel, relative to its mean diagonal unless
            ``diag_reg_absolute_scale``. With it the train outputs are the test formula at the training points
            (kernel ridge regression at t = infinity), as neural-tangents returns for k_test_train=k_train_train.
        diag_reg_absolute_scale: take ``diag_reg`` in the kernel's own units.
        fx_train_0, fx_test_0: network outputs at initialization (0 for a centred or infinite ensemble).

    Returns:
        ``(fx_train, fx_test)``, shaped t.shape + y.shape and t.shape + (M,) + y.shape[1:]; ``fx_test`` is None
        without ``ntk_test_train``.

    Example:
        >>> k = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
        >>> y = torch.tensor([1.0, -1.0], dtype=torch.float64)
        >>> train, test = gradient_descent_mse(k, y, None, k[:1])
        >>> torch.allclose(test, y[:1]), torch.allclose(train, y)
        (True, True)
    """
    k, y, squeeze = _check_train(ntk_train_train, y_train)
    tau, t_shape = _times(t, lr, k)
    reg = _reg_amount(k, diag_reg, diag_reg_absolute_scale)
    evals, evecs = _eigh(k, reg)
    f0 = _broadcast(fx_train_0, y.shape, k, "fx_train_0")
    proj = evecs.T @ (y - f0)
    gain = _gain(evals, tau, y.numel())
    # Theta V = V diag(lambda - reg): the train outputs are the test formula with the unregularized Theta.
    fx_train = f0 + torch.einsum("ik,tk,kc->tic", evecs * (evals - reg).clamp_min(0.0), gain, proj)
    fx_test = None
    if ntk_test_train is not None:
        kt = _check_cross(ntk_test_train, k, "ntk_test_train")
        ft0 = _broadcast(fx_test_0, (kt.shape[0], y.shape[1]), k, "fx_test_0")
        fx_test = _shape(ft0 + torch.einsum("ik,tk,kc->tic", kt @ evecs, gain, proj), t_shape, squeeze)
    return _shape(fx_train, t_shape, squeeze), fx_test


def gradient_descent_mse_ensemble(
    k_train_train: tuple[Tensor, Tensor] | Tensor,
    y_train: Tensor,
    k_test_train: tuple[Tensor, Tensor] | Tensor,
    nngp_test_test: Tensor | None = None,
    t: Times = None,
    *,
    lr: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    get: str = "ntk",
) -> tuple[Tensor, Tensor | None]:
    """Mean and covariance of test outputs over an infinite ensemble of infinite-width nets trained on MSE.

    ``get="ntk"``: all layers trained (Lee et al. 2019, eq. 15-16): with A_t = Theta_*X Theta^{-1}
    (I - exp(-tau Theta / n)), mean = A_t Y and cov = K_** + A_t K_XX A_t^T - (A_t K_X* + K_*X A_t^T).
    ``get="nngp"``: readout only (their eq. S23): mean = K_*X K^{-1} (I - exp(-tau K / n)) Y and
    cov = K_** - K_*X K^{-1} (I - exp(-2 tau K / n)) K_X*, the GP posterior at t = infinity. The regularizer
    enters only the inverted kernel (the "noise" of the GP posterior), as in neural-tangents.

    Args:
        k_train_train: ``(nngp, ntk)`` on the training inputs, as returned by :func:`phenomena.kernels.fc`; for
            ``get="nngp"`` the NNGP alone is enough.
        y_train: targets, (N,) or (N, C).
        k_test_train: ``(nngp, ntk)`` between test and training inputs, (M, N) each (or the NNGP alone).
        nngp_test_test: NNGP on the test inputs: (M, M) for the covariance, (M,) for variances only, ``None``
            to skip it.
        t: training time in steps (float or array); ``None`` or inf for the end of training.
        lr, diag_reg, diag_reg_absolute_scale: as in :func:`gradient_descent_mse`.
        get: ``"ntk"`` or ``"nngp"``.

    Returns:
        ``(mean, cov)``: mean shaped t.shape + (M,) + y.shape[1:]; cov t.shape + (M, M) or t.shape + (M,)
        (the same for every output column), or ``None`` without ``nngp_test_test``.

    Example:
        >>> x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> from phenomena.kernels.fc import fc
        >>> mean, var = gradient_descent_mse_ensemble(fc(x[:4]), x[:4, 0], fc(x[4:], x[:4]),
        ...                                            fc(x[4:], diagonal=True)[0], t=[0.0, 10.0])
        >>> mean.shape, var.shape, float(mean[0, 0])
        (torch.Size([2, 1]), torch.Size([2, 1]), 0.0)
    """
    if get not in GETS:
        raise UserError(f"unknown get {get!r}; choose one of {', '.join(GETS)}.")
    nngp_dd, ntk_dd = _pair(k_train_train, get, "k_train_train")
    nngp_td, ntk_td = _pair(k_test_train, get, "k_test_train")
    kernel_dd = ntk_dd if get == "ntk" else nngp_dd
    kernel_td = ntk_td if get == "ntk" else nngp_td
    k, y, squeeze = _check_train(kernel_dd, y_train)
    kt = _check_cross(kernel_td, k, "k_test_train")
    tau, t_shape = _times(t, lr, k)
    evals, evecs = _eigh(k, _reg_amount(k, diag_reg, diag_reg_absolute_scale))
    n = y.numel()
    gain = _gain(evals, tau, n)
    w = kt @ evecs  # (M, N): the test-train kernel in the eigenbasis
    mean = _shape(torch.einsum("ik,tk,kc->tic", w, gain, evecs.T @ y), t_shape, squeeze)
    if nngp_test_test is None:
        return mean, None
    ktt = torch.as_tensor(nngp_test_test).to(k)
    m = kt.shape[0]
    full = ktt.shape == (m, m)
    if not full and ktt.shape != (m,):
        raise UserError(f"nngp_test_test must have shape ({m}, {m}) or ({m},), got {tuple(ktt.shape)}.")
    if get == "nngp":
        g2 = _gain(evals, 2 * tau, n)
        cov = torch.einsum("ik,tk,jk->tij", w, g2, w) if full else torch.einsum("ik,tk,ik->ti", w, g2, w)
        cov = ktt - cov
    else:
        nngp_dd = _check_square(nngp_dd, k.shape[0], k, "the train-train NNGP")
        knn = _check_cross(nngp_td, k, "the test-train NNGP")
        u = knn @ evecs  # (M, N)
        inner = evecs.T @ nngp_dd @ evecs
        if full:
            quad = torch.einsum("ik,tk,kl,tl,jl->tij", w, gain, inner, gain, w)
            cross = torch.einsum("ik,tk,jk->tij", w, gain, u)
            cov = ktt + quad - cross - cross.transpose(1, 2)
        else:
            quad = torch.einsum("ik,tk,kl,tl,il->ti", w, gain, inner, gain, w)
            cov = ktt + quad - 2 * torch.einsum("ik,tk,ik->ti", w, gain, u)
    return mean, cov.reshape(t_shape + cov.shape[1:])


def max_learning_rate(ntk_train_train: Tensor, y_train_size: int | None = None) -> float:
    """The largest stable learning rate of full-batch GD on the MSE loss above: 2 n / lambda_max(Theta).

    Args:
        ntk_train_train: (N, N) NTK on the training inputs.
        y_train_size: n = y_train.numel() (default N, one output).

    Returns:
        2 n / lambda_max, as neural-tangents' ``predict.max_learning_rate`` (without momentum).

    Example:
        >>> max_learning_rate(torch.eye(3, dtype=torch.float64) * 2.0)
        3.0
    """
    k = _check_square(ntk_train_train, None, None, "ntk_train_train")
    n = k.shape[0] if y_train_size is None else int(y_train_size)
    top = float(torch.linalg.eigvalsh(k)[-1])
    if top <= 0:
        raise UserError("ntk_train_train has no positive eigenvalue, so every learning rate is stable.")
    return 2.0 * n / top


def _gain(evals: Tensor, tau: Tensor, n: int) -> Tensor:
    """(T, N): the eigenvalues of Theta^{-1} (I - exp(-tau Theta / n)); its lambda -> 0 limit is tau / n."""
    lam = evals[None, :]
    finite = torch.isfinite(tau)
    tf = torch.where(finite, tau, torch.zeros_like(tau))[:, None]
    x = lam * tf / n
    ratio = torch.where(x > 1e-8, -torch.expm1(-x) / x.clamp_min(1e-300), 1.0 - x / 2)
    gain = (tf / n) * ratio
    cutoff = evals.shape[0] * torch.finfo(evals.dtype).eps * max(float(evals.max()), 0.0)
    pinv = torch.where(evals > cutoff, 1.0 / evals.clamp_min(torch.finfo(evals.dtype).tiny), 0.0)
    return torch.where(finite[:, None], gain, pinv[None, :])


def _eigh(k: Tensor, reg: float) -> tuple[Tensor, Tensor]:
    eye = torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    evals, evecs = torch.linalg.eigh((k + k.T) / 2 + reg * eye)
    # The kernel is PSD; negative eigenvalues are rounding, as neural-tangents assumes.
    return evals.clamp_min(0.0), evecs


def _reg_amount(k: Tensor, diag_reg: float, absolute: bool) -> float:
    if not isinstance(diag_reg, (int, float)) or not math.isfinite(diag_reg) or diag_reg < 0:
        raise UserError(f"diag_reg must be a finite number >= 0, got {diag_reg!r}.")
    return float(diag_reg) if absolute else float(diag_reg) * float(torch.diagonal(k).mean())


def _times(t: Times, lr: float, ref: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise UserError(f"lr must be a finite number > 0, got {lr!r}.")
    tt = torch.tensor(math.inf) if t is None else torch.as_tensor(t)
    tt = tt.to(dtype=ref.dtype, device=ref.device)
    if bool(torch.isnan(tt).any()) or bool((tt < 0).any()):
        raise UserError("t must contain times >= 0 (inf or None for the end of training).")
    return (tt * lr).reshape(-1), tuple(tt.shape)


def _shape(out: Tensor, t_shape: tuple[int, ...], squeeze: bool) -> Tensor:
    out = out.reshape(t_shape + out.shape[1:])
    return out.squeeze(-1) if squeeze else out


def _check_square(k: Tensor, n: int | None, ref: Tensor | None, name: str) -> Tensor:
    k = torch.as_tensor(k)
    if ref is not None:
        k = k.to(ref)
    elif not k.is_floating_point():
        k = k.to(torch.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or (n is not None and k.shape[0] != n):
        want = "a square matrix" if n is None else f"shape ({n}, {n})"
        raise UserError(f"{name} must be {want}, got {tuple(k.shape)}.")
    return k


def _check_train(k: Tensor, y: Tensor) -> tuple[Tensor, Tensor, bool]:
    k = _check_square(k, None, None, "the train-train kernel")
    y = torch.as_tensor(y).to(k)
    if y.ndim not in (1, 2) or y.shape[0] != k.shape[0]:
        raise UserError(f"y_train must have shape ({k.shape[0]},) or ({k.shape[0]}, C), got {tuple(y.shape)}.")
    return k, (y[:, None] if y.ndim == 1 else y), y.ndim == 1


def _check_cross(kt: Tensor, k: Tensor, name: str) -> Tensor:
    kt = torch.as_tensor(kt).to(k)
    if kt.ndim != 2 or kt.shape[1] != k.shape[0]:
        raise UserError(f"{name} must have shape (M, {k.shape[0]}), got {tuple(kt.shape)}.")
    return kt


def _broadcast(f0: float | Tensor, shape: tuple[int, ...], ref: Tensor, name: str) -> Tensor:
    f = torch.as_tensor(f0).to(ref)
    if f.ndim == 1 and len(shape) == 2 and shape[1] == 1 and f.shape[0] == shape[0]:
        f = f[:, None]
    try:
        return torch.broadcast_to(f, shape)
    except RuntimeError:
        raise UserError(f"{name} must broadcast to shape {tuple(shape)}, got {tuple(f.shape)}.") from None


def _pair(k: tuple[Tensor, Tensor] | Tensor, get: str, name: str) -> tuple[Tensor, Tensor | None]:
    if isinstance(k, (tuple, list)):
        if len(k) != 2:
            raise UserError(f"{name} must be an (nngp, ntk) pair as returned by kernels.fc.")
        return k[0], k[1]
    if get == "ntk":
        raise UserError(f"get='ntk' needs {name} as an (nngp, ntk) pair as returned by kernels.fc.")
    return k, None
