"""Neural collapse metrics (Papyan, Han & Donoho 2020) and the CDNV (Galanti, György & Hutter 2022).

Conventions, pinned to Papyan et al. 2020 (PNAS) and their reference code, because other repositories differ
(``tding1/Neural-Collapse`` takes the sample mean as global mean, ``rhubarbwu/neural-collapse`` offers several
NC1 variants, some MNIST-1D code uses Tr Σ_W / Tr Σ_T):

- ``h_i`` are penultimate features, ``μ_c`` the class means, ``C`` the number of classes, ``N`` the number
  of examples. The global mean is ``μ_G = (1/C) Σ_c μ_c``, the mean of the class means, as in the
  reference code (``muG = torch.mean(M, dim=1)``). Papyan et al. train on balanced sets, where this equals
  the data mean; on imbalanced data the mean of class means keeps Σ_B and the simplex-ETF geometry
  independent of class frequencies, so perfectly collapsed imbalanced features still score 0.
- ``Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ`` (example-weighted) and ``Σ_B = (1/C) Σ_c M̃_c M̃_cᵀ`` with
  ``M̃_c = μ_c − μ_G``.
- **NC1** ``= Tr(Σ_W Σ_B⁺)/C``. The pseudo-inverse keeps the top ``min(C−1, d)`` eigenvalues of Σ_B (the
  reference code's ``svds(Sb, k=C-1)``), dropping any that are zero to working precision. Papyan's paper
  divides by C; their demo notebook does not; ``tding1`` divides by C. We divide by C.
- **NC2** equinorm: ``std/mean`` of ``‖M̃_c‖`` and of the classifier row norms ``‖w_c‖`` (std with Bessel's
  correction, ``torch.std``'s default as in the reference code). Equiangularity, two forms from the paper:
  ``Avg_{c<c'} |cos(M̃_c, M̃_c') + 1/(C−1)|`` (Fig. 4, "maximal-angle"; the reference code's ``coherence``,
  which averages over ordered pairs, equal to the average over unordered ones) and
  ``Std_{c<c'} cos(M̃_c, M̃_c')`` (Fig. 3; population std over the C(C−1)/2 pairs, so it is defined for C = 2).
- **NC3** self-duality: ``‖W/‖W‖_F − M̃/‖M̃‖_F‖²_F`` with W the (C, d) classifier weight and M̃ the (C, d)
  centred class means (squared Frobenius norm, as in the reference code).
- **NC4**: the fraction of examples whose classifier prediction ``argmax_c (W h + b)_c`` differs from the
  nearest-class-centre prediction ``argmin_c ‖h − μ_c‖`` (the reference code's ``1 − NCC_match/N``).
- **CDNV** (Galanti et al. 2022): the mean over class pairs c < c' of ``(σ_c² + σ_c'²)/(2‖μ_c − μ_c'‖²)`` with
  ``σ_c² = (1/n_c) Σ_{i∈c} ‖h_i − μ_c‖²``.

Two companions on the classifier: :func:`classifier_cosines` (mean pairwise cosines of majority and minority
rows, for minority collapse, Fang et al. 2021) and :func:`mse_decomposition` (Han, Papyan & Donoho 2022's split
of the regularized MSE into L_NC1 + L_NC2/3 + L_⊥, for MSE training).

Everything is accumulated in float64. :class:`CollapseAccumulator` holds exact one-pass sufficient
statistics (per-class counts and means, the total within-class scatter and per-class scatter traces, merged
batch by batch with Chan et al.'s pairwise update), so features never need to fit in memory; NC4 needs the
final class means, hence a second pass over the data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable

import torch

from phenomena.errors import UserError

_DTYPE = torch.float64
_CHUNK = 8192


def _features(features, what: str = "features") -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise UserError(f"{what} must be a torch.Tensor of shape (N, d), got {type(features).__name__}.")
    if features.ndim < 2:
        raise UserError(
            f"{what} must have shape (N, d) (or (N, ...), flattened per example), got shape {tuple(features.shape)}."
        )
    # Finiteness is checked on the small accumulated statistics instead (NaN and inf propagate into them),
    # which spares a full pass over the features.
    return features.detach().reshape(features.shape[0], -1).to(_DTYPE)


def _check_finite(*stats: torch.Tensor) -> None:
    if not all(bool(torch.isfinite(s).all()) for s in stats):
        raise UserError("features contain NaN or infinite values (or values too large to square in float64).")


def _labels(labels, n: int) -> torch.Tensor:
    y = torch.as_tensor(labels).detach()
    if y.ndim != 1 or y.shape[0] != n:
        raise UserError(f"labels must have shape ({n},) to match the features, got {tuple(y.shape)}.")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise UserError("labels must be integer class indices, got non-integer values.")
    elif y.dtype == torch.bool or y.is_complex():
        raise UserError(f"labels must be integer class indices, got dtype {y.dtype}.")
    y = y.to(torch.long)
    if n and int(y.min()) < 0:
        raise UserError("labels must be non-negative class indices 0..C-1.")
    return y


def _classifier(weight, bias, num_classes: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise UserError("classifier_weight must be a (C, d) tensor, e.g. the last nn.Linear's .weight.")
    if tuple(weight.shape) != (num_classes, dim):
        raise UserError(
            f"classifier_weight has shape {tuple(weight.shape)} but the features imply "
            f"({num_classes}, {dim}) (C classes, d feature dimensions)."
        )
    w = weight.detach().to(_DTYPE)
    if bias is None:
        b = torch.zeros(num_classes, dtype=_DTYPE, device=w.device)
    else:
        b = torch.as_tensor(bias).detach().to(_DTYPE)
        if tuple(b.shape) != (num_classes,):
            raise UserError(f"classifier_bias must have shape ({num_classes},), got {tuple(b.shape)}.")
    return w, b


def _coefficient_of_variation(norms: torch.Tensor) -> float:
    mean = norms.mean()
    return float(norms.std() / mean) if mean > 0 else math.nan


def _angle_metrics(rows: torch.Tensor) -> tuple[float, float]:
    """(Avg |cos + 1/(C-1)|, population Std cos) over unordered pairs of the rows."""
    c = rows.shape[0]
    norms = rows.norm(dim=1)
    if not bool((norms > 0).all()):
        return math.nan, math.nan
    unit = rows / norms[:, None]
    iu = torch.triu_indices(c, c, offset=1, device=rows.device)
    cos = (unit @ unit.T)[iu[0], iu[1]]
    return float((cos + 1.0 / (c - 1)).abs().mean()), float(cos.std(correction=0))


class CollapseAccumulator:
    """Streaming neural-collapse statistics: feed batches, then :meth:`compute`.

    Pass 1 calls :meth:`update` on every batch of (features, labels). It keeps exact float64 sufficient
    statistics in O(C·d + d²) memory: per-class counts and means, the total within-class scatter
    ``Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ`` and per-class scatter traces (for the CDNV), merged with the
    pairwise update of Chan, Golub & LeVeque 1979 so that large feature offsets do not cancel
    catastrophically. The result equals :func:`neural_collapse` on the concatenated data up to
    floating-point summation order.

    NC4 compares each example with the *final* class means, so it needs a second pass: after pass 1, call
    :meth:`update_agreement` on every batch again (same features), then :meth:`compute`. Conventions are
    those of the module docstring (Papyan, Han & Donoho 2020).

    Args:
        num_classes: C. If None, it is the largest label seen plus one (or the classifier's row count).

    Example:
        >>> acc = CollapseAccumulator(num_classes=10)
        >>> for h, y in batches: acc.update(h, y)
        >>> for h, y in batches: acc.update_agreement(h, model.fc.weight, model.fc.bias)
        >>> acc.compute(model.fc.weight, model.fc.bias)["nc1"]
    """

    def __init__(self, num_classes: int | None = None):
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
            raise UserError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
        self.num_classes = num_classes
        self._counts: torch.Tensor | None = None  # (C,)
        self._means: torch.Tensor | None = None  # (C, d)
        self._class_ss: torch.Tensor | None = None  # (C,) Σ_{i∈c} ‖h_i − μ_c‖²
        self._scatter: torch.Tensor | None = None  # (d, d) total within-class scatter
        self._agreement_seen = 0
        self._agreement_mismatch = 0

    @property
    def num_examples(self) -> int:
        """Examples seen in pass 1."""
        return 0 if self._counts is None else int(self._counts.sum())

    def _grow(self, num_classes: int, dim: int, device) -> None:
        if self.num_classes is not None and num_classes > self.num_classes:
            raise UserError(f"a label {num_classes - 1} is out of range for num_classes={self.num_classes}.")
        if self._means is None:
            size = max(num_classes, self.num_classes or 0)
            self._counts = torch.zeros(size, dtype=_DTYPE, device=device)
            self._means = torch.zeros(size, dim, dtype=_DTYPE, device=device)
            self._class_ss = torch.zeros(size, dtype=_DTYPE, device=device)
            self._scatter = torch.zeros(dim, dim, dtype=_DTYPE, device=device)
            return
        if dim != self._means.shape[1]:
            raise UserError(
                f"features have {dim} dimensions per example but earlier batches had {self._means.shape[1]}."
            )
        extra = num_classes - self._means.shape[0]
        if extra > 0:
            self._counts = torch.cat([self._counts, self._counts.new_zeros(extra)])
            self._means = torch.cat([self._means, self._means.new_zeros(extra, dim)])
            self._class_ss = torch.cat([self._class_ss, self._class_ss.new_zeros(extra)])

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Pass 1: add a batch of features (N, d) (or (N, ...), flattened) with integer labels (N,)."""
        if self._agreement_seen:
            raise UserError(
                "update() was called after update_agreement(): pass 1 (update) must see every "
                "batch before pass 2 (update_agreement) starts."
            )
        h = _features(features)
        y = _labels(labels, h.shape[0]).to(h.device)
        if h.shape[0] == 0:
            return
        self._grow(int(y.max()) + 1, h.shape[1], h.device)
        size = self._means.shape[0]
        nb = torch.bincount(y, minlength=size).to(_DTYPE)
        sums = torch.zeros(size, h.shape[1], dtype=_DTYPE, device=h.device).index_add_(0, y, h)
        mb = sums / nb.clamp(min=1)[:, None]
        dev = h - mb[y]
        ss_b = torch.zeros(size, dtype=_DTYPE, device=h.device).index_add_(
            0, y, torch.linalg.vector_norm(dev, dim=1).square()
        )
        _check_finite(ss_b)
        # Chan et al.'s merge of (n_a, μ_a, S_a) with (n_b, μ_b, S_b):
        # S = S_a + S_b + n_a n_b/n (μ_a−μ_b)(μ_a−μ_b)ᵀ; within-class scatters of different classes
        # simply add, so one d×d matrix suffices.
        na = self._counts
        n = na + nb
        delta = mb - self._means
        w = torch.where(n > 0, na * nb / n.clamp(min=1), torch.zeros_like(n))
        self._scatter += dev.T @ dev + (delta * w[:, None]).T @ delta
        self._class_ss += ss_b + w * (delta * delta).sum(1)
        self._means += delta * torch.where(n > 0, nb / n.clamp(min=1), torch.zeros_like(n))[:, None]
        self._counts = n

    def _check_classes(self, classifier_weight=None) -> int:
        if self._counts is None:
            raise UserError("no examples were added: call update(features, labels) on at least one batch.")
        size = max(self._counts.shape[0], self.num_classes or 0)
        weight_rows = classifier_weight.shape[0] if isinstance(classifier_weight, torch.Tensor) else 0
        if self.num_classes is None and weight_rows:
            size = max(size, weight_rows)
        if size > self._counts.shape[0]:
            self._grow(size, self._means.shape[1], self._means.device)
        empty = torch.nonzero(self._counts == 0).flatten().tolist()
        if empty:
            raise UserError(
                f"classes {empty} have no examples; every class 0..{size - 1} needs at least one "
                "(pass num_classes to match the labels that occur)."
            )
        if size < 2:
            raise UserError("neural collapse needs at least 2 classes, got 1.")
        return size

    def update_agreement(
        self, features: torch.Tensor, classifier_weight: torch.Tensor, classifier_bias: torch.Tensor | None = None
    ) -> None:
        """Pass 2 (for NC4): count examples whose classifier and nearest-class-centre predictions differ.

        Call it on the same batches as pass 1, after all :meth:`update` calls. ``classifier_weight`` is (C, d)
        and ``classifier_bias`` (C,) or None (zero).
        """
        c = self._check_classes(classifier_weight)
        h = _features(features)
        w, b = _classifier(classifier_weight, classifier_bias, c, self._means.shape[1])
        logits, ncc_scores = h @ w.T + b, (self._means * self._means).sum(1) - 2.0 * h @ self._means.T
        _check_finite(logits, ncc_scores)
        self._agreement_seen += h.shape[0]
        # argmin_c ‖h − μ_c‖² = argmin_c (‖μ_c‖² − 2 hᵀμ_c); ‖h‖² is common to all classes.
        self._agreement_mismatch += int((logits.argmax(1) != ncc_scores.argmin(1)).sum())

    def compute(
        self, classifier_weight: torch.Tensor | None = None, classifier_bias: torch.Tensor | None = None
    ) -> dict[str, float]:
        """The metrics as a dict of floats (keys below); classifier keys only when a weight is given.

        Keys: ``nc1``, ``nc2_equinorm_means``, ``nc2_equiangular_means``, ``nc2_angle_std_means``, ``cdnv``,
        ``sw_trace`` (Tr Σ_W), ``sb_trace`` (Tr Σ_B); with ``classifier_weight``: ``nc2_equinorm_weights``,
        ``nc2_equiangular_weights``, ``nc2_angle_std_weights``, ``nc3``; and ``nc4`` after a complete pass 2
        (a pass 2 that saw a different number of examples than pass 1 raises UserError). A metric that is
        undefined for these statistics (e.g. all class means equal) is NaN, and a RuntimeWarning names it.
        """
        c = self._check_classes(classifier_weight)
        counts, means = self._counts, self._means
        d = means.shape[1]
        n_total = counts.sum()
        centred = means - means.mean(0)
        sigma_w = self._scatter / n_total
        out: dict[str, float] = {}

        # Σ_B = M̃ᵀM̃/C, so its eigenpairs come from the SVD of the small (C, d) matrix M̃.
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        rank = min(c - 1, d)
        keep = s[:rank] > max(c, d) * torch.finfo(_DTYPE).eps * (s[0] if s.numel() else 0.0)
        if bool(keep.any()):
            v = vh[:rank][keep]
            lam = s[:rank][keep] ** 2 / c
            out["nc1"] = float((((v @ sigma_w) * v).sum(1) / lam).sum() / c)
        else:
            out["nc1"] = math.nan
        out["nc2_equinorm_means"] = _coefficient_of_variation(centred.norm(dim=1))
        out["nc2_equiangular_means"], out["nc2_angle_std_means"] = _angle_metrics(centred)

        variances = self._class_ss / counts
        dist2 = torch.cdist(means, means, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        iu = torch.triu_indices(c, c, offset=1, device=means.device)
        pair_d2 = dist2[iu[0], iu[1]]
        out["cdnv"] = (
            float(((variances[iu[0]] + variances[iu[1]]) / (2 * pair_d2)).mean())
            if bool((pair_d2 > 0).all())
            else math.nan
        )
        out["sw_trace"] = float(sigma_w.trace())
        out["sb_trace"] = float((centred * centred).sum() / c)

        if classifier_weight is not None:
            w, _ = _classifier(classifier_weight, classifier_bias, c, d)
            out["nc2_equinorm_weights"] = _coefficient_of_variation(w.norm(dim=1))
            out["nc2_equiangular_weights"], out["nc2_angle_std_weights"] = _angle_metrics(w)
            wn, mn = w.norm(), centred.norm()
            out["nc3"] = float(((w / wn - centred / mn) ** 2).sum()) if wn > 0 and mn > 0 else math.nan
        if self._agreement_seen:
            if self._agreement_seen != self.num_examples:
                raise UserError(
                    f"update_agreement() saw {self._agreement_seen} examples but update() saw "
                    f"{self.num_examples}: pass 2 must cover the same data as pass 1."
                )
            out["nc4"] = self._agreement_mismatch / self._agreement_seen

        undefined = sorted(k for k, v in out.items() if math.isnan(v))
        if undefined:
            warnings.warn(
                f"neural collapse metrics {undefined} are undefined here (coinciding class means "
                "or a zero classifier) and are NaN.",
                RuntimeWarning,
                stacklevel=2,
            )
        return out


def neural_collapse(
    features: torch.Tensor,
    labels: torch.Tensor,
    classifier_weight: torch.Tensor | None = None,
    classifier_bias: torch.Tensor | None = None,
    num_classes: int | None = None,
) -> dict[str, float]:
    """Neural collapse metrics NC1-NC4 and the CDNV of features held in memory (Papyan, Han & Donoho 2020).

    See the module docstring for the exact definitions (NC1 = Tr(Σ_W Σ_B⁺)/C with a rank-(C−1)
    pseudo-inverse; global mean = mean of class means). Papyan et al. measure them on the training set.

    Args:
        features: (N, d) penultimate features (or (N, ...), flattened per example).
        labels: (N,) integer class labels 0..C−1; every class must occur.
        classifier_weight: optional (C, d) last-layer weight; enables the NC2 weight metrics, NC3 and NC4.
        classifier_bias: optional (C,) last-layer bias, used by NC4's classifier prediction (zero if None).
        num_classes: C; defaults to the classifier's row count, else the largest label plus one.

    Returns:
        dict of floats; keys as in :meth:`CollapseAccumulator.compute` (``nc4`` when a weight is given).

    Example:
        >>> m = neural_collapse(h, y, model.fc.weight, model.fc.bias)
        >>> m["nc1"], m["nc3"], m["nc4"]
    """
    if not isinstance(features, torch.Tensor) or features.ndim < 2:
        _features(features)  # raises the shape/type error
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        _labels(labels, features.shape[0])  # raises the shape error
    # Row chunks bound the float64 temporaries to _CHUNK·d values whatever N is.
    feats, labs = torch.split(features, _CHUNK), torch.split(labels, _CHUNK)
    acc = CollapseAccumulator(num_classes)
    for h, y in zip(feats, labs, strict=True):
        acc.update(h, y)
    if classifier_weight is not None:
        for h in feats:
            acc.update_agreement(h, classifier_weight, classifier_bias)
    return acc.compute(classifier_weight, classifier_bias)


def neural_collapse_from_batches(
    batches,
    classifier_weight: torch.Tensor | None = None,
    classifier_bias: torch.Tensor | None = None,
    num_classes: int | None = None,
) -> dict[str, float]:
    """Neural collapse metrics streamed over batches of (features, labels), never holding all features.

    With a classifier weight, the data is read twice (NC4 needs the final class means), so ``batches`` must be
    re-iterable: a list/tuple of ``(features, labels)`` pairs, a single such pair, or a zero-argument callable
    returning a fresh iterable (e.g. a generator function that runs the network on the training set). Results
    equal :func:`neural_collapse` on the concatenated data up to floating-point summation order.

    Args:
        batches: the data, as above.
        classifier_weight, classifier_bias, num_classes: as in :func:`neural_collapse`.

    Returns:
        dict of floats, as :func:`neural_collapse`.

    Example:
        >>> def feats():
        ...     for x, y in data_batches:
        ...         yield penultimate(x), y
        >>> neural_collapse_from_batches(feats, model.fc.weight, model.fc.bias)["nc1"]
    """
    passes = _reiterable(batches, need_two=classifier_weight is not None)
    acc = CollapseAccumulator(num_classes)
    for h, y in _pairs(passes()):
        acc.update(h, y)
    if classifier_weight is not None:
        for h, _ in _pairs(passes()):
            acc.update_agreement(h, classifier_weight, classifier_bias)
    return acc.compute(classifier_weight, classifier_bias)


def _reiterable(batches, need_two: bool) -> Callable[[], Iterable]:
    if callable(batches):
        return batches
    if isinstance(batches, tuple) and len(batches) == 2 and isinstance(batches[0], torch.Tensor):
        return lambda: [batches]
    try:
        one_shot = iter(batches) is batches
    except TypeError:
        raise UserError(
            "batches must be a list of (features, labels) pairs, one such pair, or a "
            "zero-argument callable returning an iterable of them."
        ) from None
    if one_shot and need_two:
        raise UserError(
            "batches is a one-shot iterator but NC4 needs two passes over the data; pass a list "
            "or a zero-argument callable that returns a fresh iterable."
        )
    return lambda: batches


def _pairs(items: Iterable):
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise UserError("each batch must be a (features, labels) pair.")
        yield item


def classifier_cosines(weight: torch.Tensor, minority: int) -> tuple[float, float]:
    """Mean pairwise cosine of the majority rows (all but the last ``minority``) and of the minority rows (the
    last ``minority``) of a (C, d) classifier weight. A simplex ETF gives −1/(C−1) for both; minority collapse
    (Fang et al. 2021) drives the minority value toward 1."""
    w = weight.detach().to(torch.float64)
    unit = w / w.norm(dim=1, keepdim=True)
    cos = unit @ unit.T

    def mean_pair(block: torch.Tensor) -> float:
        k = block.shape[0]
        iu = torch.triu_indices(k, k, offset=1)
        return float(block[iu[0], iu[1]].mean())

    split = w.shape[0] - minority
    return mean_pair(cos[:split, :split]), mean_pair(cos[split:, split:])


def mse_decomposition(
    features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, ridge: float
) -> dict[str, float]:
    """Han, Papyan & Donoho's (2022) split of the regularized MSE of a linear classifier on fixed features.

    With ``f(W, b) = (1/2N) Σ_i ‖W h_i + b − e_{y_i}‖² + (λ/2)(‖W‖² + ‖b‖²)`` (λ = ``ridge``), the least-squares
    classifier (W_LS, b_LS) minimizes f, and ``f = L_NC1 + L_NC2/3 + L_⊥`` with ``L_⊥ = ½ tr(ΔA Δᵀ)``, Δ the
    distance of [W b] from [W_LS b_LS] and A the (regularized) second-moment matrix of [h; 1]. ``L_NC1`` is the
    part due to within-class variability and ``L_NC2/3`` the part due to the class means (their demo code's
    formulas; the split assumes balanced classes). Returns ``total`` (= f), ``l_nc1``, ``l_nc23``, ``l_perp``.
    """
    h = features.detach().to(torch.float64)
    y = labels.detach()
    w, b = weight.detach().to(torch.float64), bias.detach().to(torch.float64)
    n, d = h.shape
    c = w.shape[0]
    onehot = torch.nn.functional.one_hot(y, c).to(torch.float64)
    total = 0.5 * float(((h @ w.T + b - onehot) ** 2).sum()) / n + 0.5 * ridge * float((w**2).sum() + (b**2).sum())
    means = torch.stack([h[y == k].mean(0) for k in range(c)])  # (C, d)
    mu_g = means.mean(0)
    centred = h - means[y]
    sigma_w = centred.T @ centred / n
    mt = means - mu_g
    sigma_t = sigma_w + mt.T @ mt / c
    eye = torch.eye(d, dtype=torch.float64)
    # a pseudo-inverse: without weight decay, dead or constant ReLU features make the matrix singular, and the
    # min-norm least-squares classifier is then the one the split is about
    inv = torch.linalg.pinv(sigma_t + ridge / (ridge + 1) * torch.outer(mu_g, mu_g) + ridge * eye, hermitian=True)
    w_ls = (means - mu_g / (1 + ridge)) @ inv / c
    b_ls = (torch.full((c,), 1.0 / c, dtype=torch.float64) - w_ls @ mu_g) / (1 + ridge)
    l_nc1 = 0.5 * (float(torch.trace(w_ls @ (sigma_w + ridge * eye) @ w_ls.T)) + ridge * float(b_ls @ b_ls))
    l_nc23 = 0.5 / c * float(((w_ls @ means.T + b_ls[:, None] - torch.eye(c, dtype=torch.float64)) ** 2).sum())
    a = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    a[:d, :d] = sigma_t + torch.outer(mu_g, mu_g) + ridge * eye
    a[:d, d] = a[d, :d] = mu_g
    a[d, d] = 1 + ridge
    delta = torch.cat([w - w_ls, (b - b_ls)[:, None]], 1)
    l_perp = 0.5 * float(torch.trace(delta @ a @ delta.T))
    return {"total": total, "l_nc1": l_nc1, "l_nc23": l_nc23, "l_perp": l_perp}
