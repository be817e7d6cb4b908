"""NNGP and NTK of an infinitely wide fully-connected network, in neural-tangents' ``stax`` convention.

The network is ``stax.serial(*[Dense(n, W_std, b_std), phi] * depth, Dense(1, W_std, b_std))``: ``depth`` hidden
layers and a scalar readout, all layers trained. With Sigma^0(x, x') = x.x'/d0 (inputs normalized by fan-in) the
kernels follow (Lee et al. 2018; Jacot et al. 2018; anchors-tools.md section 4.1):

    K^1 = W_std^2 Sigma^0 + b_std^2                    Theta^1 = K^1
    K^{l+1} = W_std^2 E[phi(u) phi(v)] + b_std^2        Theta^{l+1} = K^{l+1} + W_std^2 E[phi'(u) phi'(v)] Theta^l

with (u, v) ~ N(0, K^l on the pair). ``fc`` returns (K^{depth+1}, Theta^{depth+1}). Its cost is O(N1 N2 (d0 + depth))
for closed-form activations; kernel blocks of bounded size keep memory at the output plus a few megabytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from phenomena.errors import UserError
from phenomena.kernels.activations import Activation, resolve_activation
from phenomena.kernels.dual import default_tol, dual_block, dual_diag
from phenomena.kernels.quadrature import HermiteSeries

PARAMETERIZATIONS = ("ntk", "standard")
# Kernel entries per block: large enough to amortize Python overhead, small enough to stay in cache on a CPU.
_BLOCK_ELEMENTS = {"cpu": 1 << 16}
_DEFAULT_BLOCK_ELEMENTS = 1 << 22


def fc(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int = 1,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    weight_std: float = 1.0,
    bias_std: float | None = 0.0,
    parameterization: str = "ntk",
    widths: int | Sequence[int] | None = None,
    negative_slope: float | None = None,
    diagonal: bool = False,
    batch_size: int | None = None,
    dtype: torch.dtype | None = None,
    tol: float | None = None,
) -> tuple[Tensor, Tensor]:
    """NNGP and NTK of an infinitely wide fully-connected network (neural-tangents ``stax`` convention).

    Args:
        x1: inputs of shape (N1, ...); trailing dimensions are flattened into d0 features.
        x2: second inputs (N2, ...) or ``None`` for x2 = x1 (then only half the entries are computed, the result
            is exactly symmetric and its diagonal comes from the exact 1-D recursion). With an explicit x2, a
            point present in both is correlated from Gram entries that agree only to rounding, and near rho = 1 the
            relu-type duals turn a 1e-16 rounding into ~1e-8 (the sqrt(1 - rho^2) term), as in neural-tangents.
        depth: number of hidden layers L >= 0 (0 gives the linear model ``Dense(1)``).
        activation: ``relu``, ``leaky_relu``, ``abs``, ``erf``, ``identity`` (closed forms); ``tanh``, ``sigmoid``,
            ``gelu``, ``silu``, ``softplus``, ``elu``, ``selu``, ``sin``, ``cos``, ``mish`` or any elementwise torch
            callable (Hermite series and 2-D quadrature, see :mod:`phenomena.kernels.quadrature`).
        weight_std: W_std, the same for every layer.
        bias_std: b_std, the same for every layer; ``None`` means no bias parameters (it differs from 0.0 only in
            the standard parameterization, where a zero-initialized bias still adds 1 to the NTK per layer).
        parameterization: ``"ntk"`` (default; z = W_std/sqrt(n_in) W x + b_std b with W, b ~ N(0, 1)) or
            ``"standard"`` (z = W x + b with W ~ N(0, W_std^2/n_in), b ~ N(0, b_std^2); Sohl-Dickstein et al.
            2020). Both give the same NNGP; the standard NTK is Theta^{l+1} = n_l E[phi phi] +
            W_std^2 E[phi' phi'] Theta^l + 1[bias] with n_0 = d0, so it grows with the finite widths.
        widths: hidden widths n_1..n_L (an int for all layers); required for ``"standard"``, ignored for ``"ntk"``.
        negative_slope: slope of ``leaky_relu`` for x < 0 (default 0.01).
        diagonal: return only k(x_i, x_i), shape (N1,); needs ``x2=None``.
        batch_size: rows per kernel block (default: about 65k entries per block on CPU, 4M on accelerators).
        dtype: computation and output dtype; default float64 whatever the input dtype.
        tol: relative truncation tolerance of the Hermite series (quadrature activations only).

    Returns:
        ``(nngp, ntk)``, each of shape (N1, N2), or (N1,) with ``diagonal=True``, on x1's device.

    Example:
        >>> x = torch.tensor([[3 ** 0.5, 0, 0], [0.6 * 3 ** 0.5, 0.8 * 3 ** 0.5, 0]])
        >>> nngp, ntk = fc(x, depth=1, activation="relu", weight_std=2 ** 0.5)
        >>> round(float(nngp[0, 1]), 6), round(float(ntk[0, 1]), 6)  # anchors-tools.md section 4.4
        (1.355095, 2.200894)
    """
    act = resolve_activation(activation, negative_slope)
    x1, x2, dtype = _check_inputs(x1, x2, dtype, diagonal)
    depth = _check_int(depth, "depth", 0)
    wv, bv, has_bias = _check_stds(weight_std, bias_std)
    if parameterization not in PARAMETERIZATIONS:
        raise UserError(f"unknown parameterization {parameterization!r}; choose one of ntk, standard.")
    standard = parameterization == "standard"
    hidden = _check_widths(widths, depth) if standard else [0] * depth
    d0 = x1.shape[1]
    tol = default_tol(dtype) if tol is None else float(tol)

    cfg = _Recursion(act, wv, bv, has_bias, standard, [d0, *hidden])
    k1s, nngp1, ntk1 = cfg.diagonal((x1 * x1).sum(1) / d0)
    if diagonal:
        return nngp1, ntk1
    k2s = k1s if x2 is None else cfg.diagonal((x2 * x2).sum(1) / d0)[0]
    series1 = series2 = None
    if not act.closed_form:
        series1 = [HermiteSeries.fit(act, k) for k in k1s]
        series2 = series1 if x2 is None else [HermiteSeries.fit(act, k) for k in k2s]

    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    nngp = torch.empty(n1, n2, dtype=dtype, device=x1.device)
    ntk = torch.empty_like(nngp)
    budget = _BLOCK_ELEMENTS.get(x1.device.type, _DEFAULT_BLOCK_ELEMENTS)
    i0 = 0
    while i0 < n1:
        c0 = i0 if x2 is None else 0
        rows = batch_size or max(1, budget // max(1, n2 - c0))
        i1 = min(n1, i0 + rows)
        r, c = slice(i0, i1), slice(c0, n2)
        xb = x2[c] if x2 is not None else x1[c]
        sr = None if series1 is None else [s.take(r) for s in series1]
        sc = None if series2 is None else [s.take(c) for s in series2]
        fix = (nngp1[r], ntk1[r]) if x2 is None else None
        kb, tb = cfg.block(x1[r], xb, [k[r] for k in k1s], [k[c] for k in k2s], sr, sc, tol, fix)
        nngp[r, c], ntk[r, c] = kb, tb
        if x2 is None:
            _mirror(nngp, kb, i0, i1)
            _mirror(ntk, tb, i0, i1)
        i0 = i1
    return nngp, ntk


class _Recursion:
    """The layer recursion, shared by the diagonal pass and the kernel blocks."""

    def __init__(self, act: Activation, wv: float, bv: float, has_bias: bool, standard: bool, fan_in: list[int]):
        self.act, self.wv, self.bv, self.standard = act, wv, bv, standard
        self.fan_in = fan_in  # fan-in of each Dense layer: d0, n_1, ..., n_L
        self.bias_ntk = 1.0 if (standard and has_bias) else 0.0

    def _first(self, sigma0: Tensor, dots: Tensor) -> tuple[Tensor, Tensor]:
        k = self.wv * sigma0 + self.bv
        return k, (dots + self.bias_ntk if self.standard else k.clone())

    def _next(self, layer: int, sig: Tensor, dot: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        k = self.wv * sig + self.bv
        grad = self.fan_in[layer] * sig + self.bias_ntk if self.standard else k
        return k, grad + self.wv * dot * theta

    def diagonal(self, sigma0: Tensor) -> tuple[list[Tensor], Tensor, Tensor]:
        """Pre-activation variances K^1..K^L at each point, and the diagonal NNGP and NTK of the output."""
        k, theta = self._first(sigma0, sigma0 * self.fan_in[0])
        ks = []
        for layer in range(1, len(self.fan_in)):
            ks.append(k)
            sig, dot = dual_diag(self.act, k)
            k, theta = self._next(layer, sig, dot, theta)
        return ks, k, theta

    def block(
        self,
        xa: Tensor,
        xb: Tensor,
        ka: list[Tensor],
        kb: list[Tensor],
        sa: list[HermiteSeries] | None,
        sb: list[HermiteSeries] | None,
        tol: float,
        fix: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, Tensor]:
        """NNGP and NTK on the block xa x xb; ``fix`` pins the entries (i, i) of a diagonal block to exact values."""
        dots = xa @ xb.T
        k, theta = self._first(dots / self.fan_in[0], dots)
        for layer in range(1, len(self.fan_in)):
            if fix is not None:
                # Pre-activation variances on the diagonal, so that rho = 1 exactly there.
                _set_diag(k, ka[layer - 1])
            series = None if sa is None else (sa[layer - 1], sb[layer - 1])
            sig, dot = dual_block(self.act, ka[layer - 1], kb[layer - 1], k, series, tol, fix is not None)
            k, theta = self._next(layer, sig, dot, theta)
        if fix is not None:
            _set_diag(k, fix[0])
            _set_diag(theta, fix[1])
        return k, theta


def _set_diag(block: Tensor, values: Tensor) -> None:
    n = min(block.shape[0], block.shape[1], len(values))
    block.diagonal()[:n] = values[:n]


def _mirror(out: Tensor, block: Tensor, i0: int, i1: int) -> None:
    """Complete the symmetric matrix from the upper block rows [i0, i1) x [i0, N)."""
    b = i1 - i0
    square = block[:, :b]
    out[i0:i1, i0:i1] = torch.triu(square) + torch.triu(square, 1).T
    out[i1:, i0:i1] = block[:, b:].T


def _check_inputs(
    x1: Tensor, x2: Tensor | None, dtype: torch.dtype | None, diagonal: bool
) -> tuple[Tensor, Tensor | None, torch.dtype]:
    dtype = torch.float64 if dtype is None else dtype
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise UserError(f"dtype must be a floating torch dtype such as torch.float64, got {dtype!r}.")
    x1 = _as_matrix(x1, "x1", dtype)
    if x2 is not None:
        if diagonal:
            raise UserError("diagonal=True computes k(x_i, x_i) and needs x2=None.")
        x2 = _as_matrix(x2, "x2", dtype).to(x1.device)
        if x2.shape[1] != x1.shape[1]:
            raise UserError(f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}.")
    return x1, x2, dtype


def _as_matrix(x: Tensor, name: str, dtype: torch.dtype) -> Tensor:
    x = torch.as_tensor(x)
    if x.ndim < 2 or x.shape[0] == 0 or x[0].numel() == 0:
        raise UserError(f"{name} must have shape (N, features...) with N, features >= 1, got {tuple(x.shape)}.")
    x = x.reshape(x.shape[0], -1).to(dtype)
    if not bool(torch.isfinite(x).all()):
        raise UserError(f"{name} contains NaN or infinite values.")
    return x


def _check_int(value: int, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{name} must be an integer >= {low}, got {value!r}.")
    return value


def _check_stds(weight_std: float, bias_std: float | None) -> tuple[float, float, bool]:
    for name, v in (("weight_std", weight_std), ("bias_std", bias_std)):
        if v is None and name == "bias_std":
            continue
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise UserError(f"{name} must be a finite number >= 0, got {v!r}.")
    return float(weight_std) ** 2, (0.0 if bias_std is None else float(bias_std) ** 2), bias_std is not None


def _check_widths(widths: int | Sequence[int] | None, depth: int) -> list[int]:
    if widths is None:
        raise UserError("parameterization='standard' needs the finite hidden widths: pass widths=int or a list.")
    ws = [widths] * depth if isinstance(widths, int) else list(widths)
    if len(ws) != depth or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in ws):
        raise UserError(f"widths must be a positive int or a list of {depth} positive ints, got {widths!r}.")
    return ws
