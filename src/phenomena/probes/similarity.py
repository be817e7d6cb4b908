"""Centred kernel alignment (CKA) between representations, and layer-by-layer CKA between two models.

- CKA (Kornblith, Norouzi, Lee & Hinton 2019): ``HSIC(K, L)/sqrt(HSIC(K, K) HSIC(L, L))`` for Gram matrices
  ``K`` of x and ``L`` of y over the same N examples. ``estimator="biased"`` uses ``HSIC_0 ∝ tr(KHLH)``
  (H the centring matrix), the paper's estimator; for the linear kernel this is
  ``‖X̃ᵀỸ‖²_F/(‖X̃ᵀX̃‖_F ‖ỸᵀỸ‖_F)`` with column-centred X̃, Ỹ. ``estimator="unbiased"`` uses the unbiased HSIC of
  Song et al. 2012 (Kornblith et al.'s "debiased" CKA; Nguyen, Raghu & Kornblith 2021), which can be
  slightly negative for unrelated representations and needs N ≥ 4.
- Minibatch CKA (Nguyen et al. 2021): the unbiased HSIC averaged over batches of a fixed size, then
  normalized: ``mean_b HSIC_1(K_b, L_b) / sqrt(mean_b HSIC_1(K_b, K_b) · mean_b HSIC_1(L_b, L_b))``.

Degenerate input: CKA with a representation that has zero variance over the examples (constant or all-zero
features) is 0/0. :func:`cka` raises :class:`~phenomena.errors.UserError` for it; :class:`MinibatchCKA` and
:func:`cka_matrix`, which compare many layers at once, put NaN in the undefined entries and emit one
RuntimeWarning naming them, so that one dead layer does not abort the whole matrix. A representation counts
as constant when its centred sum of squares is below ``(16·N·eps)²`` times its raw sum of squares, i.e. at
the level of the rounding error of centring. Rank-deficient features are fine.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from phenomena.errors import UserError

_DTYPE = torch.float64
_KERNELS = ("linear", "rbf")
_ESTIMATORS = ("biased", "unbiased")


def _centred(x, what: str) -> torch.Tensor:
    """Validated, column-centred float64 copy of x as (N, features); exactly zero for a constant x."""
    if not isinstance(x, torch.Tensor):
        raise UserError(f"{what} must be a torch.Tensor of shape (N, ...), got {type(x).__name__}.")
    if x.ndim < 1:
        raise UserError(f"{what} must have a leading example dimension, got a scalar.")
    m = x.detach().reshape(x.shape[0], -1)
    xc = m.to(_DTYPE, copy=True)  # a fresh buffer, so centring in place never touches the caller's tensor
    mean = xc.mean(0, keepdim=True)
    xc.sub_(mean)
    # Sums of squares without temporaries; Σ x² = ‖x − mean‖² + N‖mean‖² spares a pass over the raw data.
    ss = torch.linalg.vector_norm(xc).square()
    ss_raw = ss + m.shape[0] * torch.linalg.vector_norm(mean).square()
    if not torch.isfinite(ss_raw):
        raise UserError(f"{what} contains NaN or infinite values (or values too large to square in float64).")
    # Constant rows leave only the rounding error of centring (~N·eps relative): treat that as exactly zero.
    if ss <= (16 * m.shape[0] * torch.finfo(_DTYPE).eps) ** 2 * ss_raw:
        xc.zero_()
    return xc


def _centre_gram(k: torch.Tensor) -> torch.Tensor:
    """H K H (double centring), for the biased HSIC_0 = tr(HKH HLH)/(N−1)²."""
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def _u_centre_gram(k: torch.Tensor) -> torch.Tensor:
    """U-centred Gram (Székely & Rizzo 2014): ⟨U(K), U(L)⟩/(N(N−3)) is Song et al.'s unbiased HSIC."""
    n = k.shape[0]
    k = k.clone()
    k.fill_diagonal_(0.0)
    means = k.sum(0) / (n - 2)
    means = means - means.sum() / (2 * (n - 1))
    k -= means[:, None]
    k -= means[None, :]
    k.fill_diagonal_(0.0)
    return k


def _median(v: torch.Tensor) -> torch.Tensor:
    v = v.flatten()
    k = v.numel()
    return 0.5 * (v.kthvalue((k + 1) // 2).values + v.kthvalue(k // 2 + 1).values)


def _rbf_gram(x: torch.Tensor, sigma: float, what: str) -> torch.Tensor:
    sq = (x * x).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)
    d2.fill_diagonal_(0.0)
    # Kornblith et al.'s gram_rbf: bandwidth² = threshold² · median of all N² squared distances.
    med = _median(d2)
    if med <= 0:
        raise UserError(
            f"the median pairwise distance of {what} is zero (most of its rows coincide), so the "
            "RBF bandwidth is undefined; use kernel='linear'."
        )
    return torch.exp(-d2 / (2.0 * sigma**2 * med))


def _linear_hsic_features(xc: torch.Tensor, yc: torch.Tensor, estimator: str):
    """(HSIC(x,y), HSIC(x,x), HSIC(y,y)) up to a common factor, from centred features in O(N·p·q)."""
    xty = (xc.T @ yc).square().sum()
    xtx = (xc.T @ xc).square().sum()
    yty = (yc.T @ yc).square().sum()
    if estimator == "biased":
        return xty, xtx, yty
    # Song et al.'s formula with K = XXᵀ, L = YYᵀ of centred X, Y (K1 = 0): tr(K̃L̃) = ‖XᵀY‖² − dₓ·d_y,
    # 1ᵀK̃1 = −Σdₓ, 1ᵀK̃L̃1 = dₓ·d_y, with dₓ = diag K. The unbiased HSIC is translation invariant, so centring
    # first changes nothing but the rounding.
    n = xc.shape[0]
    dx, dy = torch.linalg.vector_norm(xc, dim=1).square(), torch.linalg.vector_norm(yc, dim=1).square()

    def unbiased(cross, a, b):
        return cross - n / (n - 2) * (a @ b) + a.sum() * b.sum() / ((n - 1) * (n - 2))

    return unbiased(xty, dx, dy), unbiased(xtx, dx, dx), unbiased(yty, dy, dy)


def _gram_hsic(k: torch.Tensor, lm: torch.Tensor, estimator: str):
    centre = _centre_gram if estimator == "biased" else _u_centre_gram
    kc, lc = centre(k), centre(lm)
    return (kc * lc).sum(), (kc * kc).sum(), (lc * lc).sum()


def cka(
    x: torch.Tensor, y: torch.Tensor, kernel: str = "linear", estimator: str = "biased", sigma: float | None = None
) -> float:
    """Centred kernel alignment between two representations of the same N examples (Kornblith et al. 2019).

    Args:
        x: (N, p) features (or (N, ...), flattened per example).
        y: (N, q) features of the same examples, in the same order.
        kernel: ``"linear"`` (k(a, b) = aᵀb) or ``"rbf"`` (exp(−‖a − b‖²/(2σ²))).
        estimator: ``"biased"`` (HSIC_0, Kornblith et al.) or ``"unbiased"`` (Song et al. 2012; "debiased").
        sigma: RBF bandwidth as a multiple of the median pairwise distance of each representation
            (Kornblith et al.'s ``threshold``; None means 1.0). Ignored for the linear kernel.

    Returns:
        CKA as a float: 1 for identical representations, in [0, 1] for the biased estimator. Linear CKA is
        invariant to orthogonal transforms and isotropic scaling of either input, not to general linear maps.
        Linear CKA costs O(N·(p+q)²) or O(N²·(p+q)), whichever is smaller; RBF CKA builds N×N Gram matrices.

    Raises:
        UserError: mismatched N, unknown kernel or estimator, too few examples, or a zero-variance input.

    Example:
        >>> cka(h1, h2)                               # linear, biased
        >>> cka(h1, h2, kernel="rbf", sigma=0.8)
        >>> cka(h1, h2, estimator="unbiased")
    """
    if kernel not in _KERNELS:
        raise UserError(f"unknown CKA kernel {kernel!r}; choose one of {', '.join(_KERNELS)}.")
    if estimator not in _ESTIMATORS:
        raise UserError(f"unknown CKA estimator {estimator!r}; choose one of {', '.join(_ESTIMATORS)}.")
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.ndim and y.ndim and x.shape[0] != y.shape[0]:
        raise UserError(f"x and y must hold the same examples, got {x.shape[0]} and {y.shape[0]} rows.")
    xc, yc = _centred(x, "x"), _centred(y, "y")
    n = xc.shape[0]
    min_n = 4 if estimator == "unbiased" else 2
    if n < min_n:
        raise UserError(f"the {estimator} CKA estimator needs at least {min_n} examples, got {n}.")
    if sigma is not None and not (isinstance(sigma, int | float) and sigma > 0):
        raise UserError(f"sigma must be a positive number (a multiple of the median distance), got {sigma}.")
    for what, m in (("x", xc), ("y", yc)):
        if not bool(m.any()):
            raise UserError(f"{what} has zero variance over the examples (all rows equal); CKA is undefined.")
    if kernel == "linear":
        p, q = xc.shape[1], yc.shape[1]
        if p * q + p * p + q * q <= n * (p + q + 3):  # feature form O(N(p+q)²) vs Gram form O(N²(p+q))
            hxy, hxx, hyy = _linear_hsic_features(xc, yc, estimator)
        else:
            hxy, hxx, hyy = _gram_hsic(xc @ xc.T, yc @ yc.T, estimator)
    else:
        s = 1.0 if sigma is None else float(sigma)
        hxy, hxx, hyy = _gram_hsic(_rbf_gram(xc, s, "x"), _rbf_gram(yc, s, "y"), estimator)
    for what, h in (("x", hxx), ("y", hyy)):
        if not h > 0:
            raise UserError(
                f"the {estimator} HSIC of {what} with itself is not positive ({float(h):.3g}), "
                "so CKA is undefined for this input."
            )
    return float(hxy / torch.sqrt(hxx * hyy))


class MinibatchCKA:
    """Linear CKA accumulated over minibatches with the unbiased HSIC (Nguyen, Raghu & Kornblith 2021).

    Each :meth:`update` takes one batch of the same B ≥ 4 examples seen by every representation and adds
    ``HSIC_1`` (Song et al. 2012) for all pairs; :meth:`compute` returns
    ``mean_b HSIC_1(x_i, y_j) / sqrt(mean_b HSIC_1(x_i, x_i) · mean_b HSIC_1(y_j, y_j))``, batches weighted
    equally (use a fixed batch size). On a single batch it equals ``cka(x, y, estimator="unbiased")``; over
    many batches it estimates the population CKA with O(B²) memory per representation.

    ``xs`` and ``ys`` are each a tensor (one representation) or a list of tensors (several layers). Entries
    whose self-HSIC is zero (a constant representation) are NaN with a RuntimeWarning.

    Example:
        >>> mb = MinibatchCKA()
        >>> for xb in batches: mb.update(net_a_features(xb), net_b_features(xb))
        >>> mb.compute()          # a float, or an (La, Lb) tensor when lists were passed
    """

    def __init__(self):
        self._xy: torch.Tensor | None = None
        self._xx: torch.Tensor | None = None
        self._yy: torch.Tensor | None = None
        self._single: bool | None = None
        self.num_batches = 0

    @staticmethod
    def _u_grams(reps, n: int | None, what: str) -> tuple[torch.Tensor, int]:
        grams = []
        for i, r in enumerate(reps):
            xc = _centred(r, f"{what}[{i}]")
            if n is None:
                n = xc.shape[0]
            if xc.shape[0] != n:
                raise UserError(
                    f"every representation in a batch must have the same examples; {what}[{i}] "
                    f"has {xc.shape[0]} rows, expected {n}."
                )
            if n < 4:
                raise UserError(f"minibatch CKA needs batches of at least 4 examples (unbiased HSIC), got {n}.")
            grams.append(_u_centre_gram(xc @ xc.T).flatten())
        return torch.stack(grams), n

    def update(self, xs, ys) -> None:
        """Add one batch: ``xs``/``ys`` a tensor (B, ...) or a list of them, all over the same B examples."""
        single = isinstance(xs, torch.Tensor) and isinstance(ys, torch.Tensor)
        if self._single is not None and single != self._single:
            raise UserError("update() must be called consistently with tensors or with lists of tensors.")
        xs_list = [xs] if isinstance(xs, torch.Tensor) else list(xs)
        ys_list = [ys] if isinstance(ys, torch.Tensor) else list(ys)
        if not xs_list or not ys_list:
            raise UserError("update() needs at least one representation on each side.")
        ux, n = self._u_grams(xs_list, None, "xs")
        uy, _ = self._u_grams(ys_list, n, "ys")
        scale = 1.0 / (n * (n - 3))
        xy, xx, yy = (ux @ uy.T) * scale, (ux * ux).sum(1) * scale, (uy * uy).sum(1) * scale
        if self._xy is None:
            self._xy, self._xx, self._yy, self._single = xy, xx, yy, single
        else:
            if xy.shape != self._xy.shape:
                raise UserError(
                    f"update() got {tuple(xy.shape)} representation pairs, earlier batches had {tuple(self._xy.shape)}."
                )
            self._xy += xy
            self._xx += xx
            self._yy += yy
        self.num_batches += 1

    def compute(self) -> float | torch.Tensor:
        """CKA: a float for tensor updates, an (La, Lb) float64 tensor for list updates."""
        if self._xy is None:
            raise UserError("MinibatchCKA.compute() needs at least one update().")
        denom = torch.sqrt(self._xx[:, None] * self._yy[None, :])
        bad = ~(denom > 0)
        out = torch.where(bad, torch.full_like(denom, math.nan), self._xy / torch.where(bad, 1.0, denom))
        if bool(bad.any()):
            rows = torch.nonzero(~(self._xx > 0)).flatten().tolist()
            cols = torch.nonzero(~(self._yy > 0)).flatten().tolist()
            warnings.warn(
                f"CKA is undefined (zero variance) for xs {rows} and ys {cols}; those entries are NaN.",
                RuntimeWarning,
                stacklevel=2,
            )
        return float(out[0, 0]) if self._single else out


class CKAMatrix(NamedTuple):
    """Layer-by-layer CKA: ``values[i, j]`` compares ``layers_a[i]`` with ``layers_b[j]``."""

    values: torch.Tensor
    layers_a: list[str]
    layers_b: list[str]


def _batch_inputs(batch):
    return batch[0] if isinstance(batch, tuple | list) else batch


def _record(model: torch.nn.Module, inputs, names: list[str] | None) -> dict[str, list]:
    """Run ``model(inputs)`` without grad; return every hooked module's outputs (one list entry per call)."""
    modules = dict(model.named_modules())
    if names is None:
        chosen = [n for n, m in modules.items() if not any(True for _ in m.children())]
    else:
        missing = [n for n in names if n not in modules]
        if missing:
            leaves = [n for n, m in modules.items() if n and not any(True for _ in m.children())]
            raise UserError(
                f"unknown layer names {missing}; valid names include {leaves[:12]} (any name "
                "from model.named_modules(), '' for the model output)."
            )
        chosen = list(names)
    seen: dict[str, list] = {n: [] for n in chosen}
    handles = []
    for n in chosen:

        def hook(_module, _inp, out, n=n):
            seen[n].append(out.detach() if isinstance(out, torch.Tensor) else None)

        handles.append(modules[n].register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return seen


def _select(seen: dict[str, list], batch_size: int, explicit: bool, which: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, outs in seen.items():
        ok = len(outs) == 1 and outs[0] is not None and outs[0].ndim >= 1 and outs[0].shape[0] == batch_size
        if ok:
            out[name] = outs[0]
        elif explicit:
            raise UserError(
                f"layer {name!r} of model {which} must be called exactly once per forward pass "
                "and return a tensor with the batch dimension first (it was called "
                f"{len(outs)} times)."
            )
    if not out:
        raise UserError(
            f"model {which} has no leaf module that returns a batch tensor exactly once per "
            "forward pass; name the layers explicitly."
        )
    return out


def cka_matrix(
    model_a: torch.nn.Module, model_b: torch.nn.Module, inputs_batches, layers_a=None, layers_b=None
) -> CKAMatrix:
    """Linear minibatch CKA between every layer of ``model_a`` and every layer of ``model_b``.

    The models are run as they are (call ``.eval()`` first if they have dropout or batch norm) under
    ``torch.no_grad()``, with forward hooks that are removed afterwards. Each layer's output is flattened per
    example and the unbiased HSIC is accumulated over batches (:class:`MinibatchCKA`, Nguyen et al. 2021).

    Args:
        model_a, model_b: any ``nn.Module`` (may be the same object).
        inputs_batches: a tensor (one batch), or a list of input tensors or of ``(inputs, targets)`` pairs;
            every batch needs at least 4 examples.
        layers_a, layers_b: module names from ``named_modules()`` (``''`` is the model output). Default: every
            leaf module called exactly once per forward pass with a tensor output, in ``named_modules`` order.

    Returns:
        :class:`CKAMatrix` ``(values, layers_a, layers_b)`` with ``values`` a (La, Lb) float64 tensor; entries
        with a constant layer are NaN (with a RuntimeWarning).

    Example:
        >>> res = cka_matrix(net1, net2, [x[i:i + 256] for i in range(0, len(x), 256)])
        >>> res.values.shape, res.layers_a
    """
    if isinstance(inputs_batches, torch.Tensor):
        inputs_batches = [inputs_batches]
    batches = list(inputs_batches)
    if not batches:
        raise UserError("inputs_batches is empty; pass at least one batch of inputs.")
    names = {"a": None if layers_a is None else list(layers_a), "b": None if layers_b is None else list(layers_b)}
    acc = MinibatchCKA()
    for batch in batches:
        inputs = _batch_inputs(batch)
        size = inputs.shape[0]
        reps = {}
        for which, model in (("a", model_a), ("b", model_b)):
            explicit = names[which] is not None
            reps[which] = _select(_record(model, inputs, names[which]), size, explicit, which)
            if names[which] is None:
                names[which] = list(reps[which])  # the first batch fixes the default layer list
        acc.update([reps["a"][n] for n in names["a"]], [reps["b"][n] for n in names["b"]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = acc.compute()
    if caught:
        dead_a = [n for n, v in zip(names["a"], acc._xx.tolist(), strict=True) if not v > 0]
        dead_b = [n for n, v in zip(names["b"], acc._yy.tolist(), strict=True) if not v > 0]
        warnings.warn(
            f"CKA is undefined (constant output) for layers {dead_a} of model a and {dead_b} of "
            "model b; those entries are NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
    return CKAMatrix(values, names["a"], names["b"])
