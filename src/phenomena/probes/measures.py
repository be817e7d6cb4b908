"""Generalization measures of a trained classifier: the suite of Jiang et al. 2020 ("Fantastic generalization
measures and where to find them") as computed and normalized by Dziugaite, Drouin et al. 2020 ("In search of
robust measures of generalization", code ``nitarshan/robust-generalization-measures``, ``measures.py``), plus
curvature, input sensitivity, gradient signal-to-noise and two-seed disagreement.

- ``generalization_measures``: the whole suite as a dict name -> float, normalized as Dziugaite's code.
- The pieces usable alone: ``margins`` / ``margin_quantile``, ``weight_matrices``, ``spectral_product``,
  ``frobenius_product``, ``path_norm``, ``pac_bayes_sigma``, ``jacobian_norm``, ``gsnr``, ``inconsistency``.

Conventions (those of ``phenomena.probes.core``): ``batches`` is one ``(inputs, targets)`` pair or a list of them,
the model maps a batch of inputs to (N, K) logits, targets are integer class labels. "Weight matrices" are the
weights of the model's ``nn.Linear`` and ``nn.Conv1d/2d/3d`` layers in module order, a convolution kernel
reshaped to (out_channels, -1) as in the reference code (its "approximate" spectral norm; the exact FFT
spectral norm of a convolution operator is not computed). BatchNorm is not folded into the preceding layer
(the reference folds it); ``path_norm`` refuses models with BatchNorm. The user's model is never modified:
every measure evaluates a ``core.FunctionalModel`` snapshot, and every random draw comes from ``generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, jacrev, vmap
from torch.nn.modules.batchnorm import _BatchNorm

from phenomena.errors import UserError
from phenomena.probes.core import (
    WEIGHT_LAYERS,
    FunctionalModel,
    ParamFilter,
    as_batches,
    check_deterministic,
    scalar_loss,
    select_param_names,
)
from phenomena.probes.hessian import hessian_eigenvalues, hessian_trace

_BIG = 2**62  # range of the per-sample seeds drawn from the user's generator


# --- helpers -------------------------------------------------------------------------------------------------


def _snapshot(model: nn.Module, what: str, per_example: bool = False) -> FunctionalModel:
    if not isinstance(model, nn.Module):
        raise UserError(f"{what} needs an nn.Module, got {type(model).__name__}.")
    check_deterministic(model, what, per_example=per_example)
    return FunctionalModel(model, select_param_names(model))


def _logits(fm: FunctionalModel, x: Tensor, theta: dict[str, Tensor] | None = None) -> Tensor:
    with torch.no_grad():
        out = fm.forward(fm.theta if theta is None else theta, fm.buffers, x.to(fm.device))
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0] or out.shape[1] < 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise UserError(f"the model must return (N, K) logits with K >= 2 classes for N inputs; got {shape}.")
    return out


def _labels(y: Any, n: int, k: int | None = None) -> Tensor:
    if not isinstance(y, Tensor) or y.shape != (n,) or y.is_floating_point() or y.is_complex():
        raise UserError("targets must be a 1-D tensor of integer class labels, one per input.")
    if k is not None and (y.min() < 0 or y.max() >= k):
        raise UserError(f"targets must be class labels in [0, {k}); got values in [{int(y.min())}, {int(y.max())}].")
    return y


def _accuracy(fm: FunctionalModel, batches: list, theta: dict[str, Tensor] | None = None) -> float:
    correct, total = 0, 0
    for x, y, n in batches:
        out = _logits(fm, x, theta)
        correct += int((out.argmax(1).cpu() == _labels(y, n, out.shape[1]).cpu()).sum())
        total += n
    return correct / total


def _log(v: float) -> float:
    """log with log 0 = -inf (a model at its initialization has distance 0), as torch's log gives."""
    return math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)


def _check_generator(generator: Any) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise UserError(f"generator must be a torch.Generator or None, got {type(generator).__name__}.")


# --- margins --------------------------------------------------------------------------------------------------


def margins(model: nn.Module, batches: Any) -> Tensor:
    """Per-example output margins f(x)[y] - max_{j != y} f(x)[j] (negative where misclassified).

    Args:
        model: a classifier returning (N, K) logits, K >= 2.
        batches: ``(inputs, targets)`` or a list of them; targets are integer labels.

    Returns:
        A 1-D float64 tensor of the margins of all examples, in batch order.

    Example:
        >>> net = nn.Linear(2, 3, bias=False)
        >>> margins(net, (torch.randn(5, 2), torch.tensor([0, 1, 2, 0, 1]))).shape
        torch.Size([5])
    """
    fm = _snapshot(model, "margins")
    out = []
    for x, y, n in as_batches(batches):
        logits = _logits(fm, x).double()
        y = _labels(y, n, logits.shape[1]).to(logits.device)
        rows = torch.arange(n, device=logits.device)
        correct = logits[rows, y].clone()
        logits[rows, y] = -math.inf
        out.append((correct - logits.max(1).values).cpu())
    return torch.cat(out)


def margin_quantile(model: nn.Module, batches: Any, q: float = 0.1) -> float:
    """The q-quantile of the output margins: the k-th smallest margin with k = max(1, floor(q m)).

    Jiang et al. 2020 (Sec. 4 / eq. 22) use the 10th percentile (q = 0.1) as a margin robust to outliers;
    this is the reference code's ``kthvalue(m // 10)`` (with k >= 1 for m < 10). Signed: negative when more
    than a q fraction of the examples is misclassified; ``generalization_measures`` uses its absolute value,
    as the reference does.

    Args:
        model, batches: as in ``margins``.
        q: the quantile, in (0, 1].

    Returns:
        The margin quantile as a float.

    Example:
        >>> margin_quantile(nn.Linear(2, 3, bias=False), (torch.randn(20, 2), torch.randint(0, 3, (20,))), q=0.1)
    """
    if not (isinstance(q, int | float) and 0 < q <= 1):
        raise UserError(f"q must be a quantile in (0, 1], got {q!r}.")
    gamma = margins(model, batches)
    k = max(1, math.floor(q * gamma.numel()))
    return float(gamma.kthvalue(k).values)


# --- norms of the weight matrices -----------------------------------------------------------------------------


def weight_matrices(model: nn.Module) -> list[tuple[str, Tensor]]:
    """The weights of the model's ``nn.Linear`` and ``nn.Conv1d/2d/3d`` layers, in module order.

    Each is a detached float64 copy reshaped to a matrix (out, -1), as the reference code does for
    convolution kernels. Biases are excluded (the reference's ``get_weights_only``).

    Returns:
        A list of ``(module name, matrix)`` pairs.

    Example:
        >>> [(n, tuple(w.shape)) for n, w in weight_matrices(nn.Sequential(nn.Linear(3, 4), nn.ReLU(),
        ...                                                                   nn.Linear(4, 2)))]
        [('0', (4, 3)), ('2', (2, 4))]
    """
    if not isinstance(model, nn.Module):
        raise UserError(f"weight_matrices needs an nn.Module, got {type(model).__name__}.")
    out = [
        (name, mod.weight.detach().to(torch.float64).reshape(mod.weight.shape[0], -1).cpu().clone())
        for name, mod in model.named_modules()
        if isinstance(mod, WEIGHT_LAYERS)
    ]
    if not out:
        raise UserError("the model has no nn.Linear or nn.Conv layers, so it has no weight matrices to measure.")
    return out


def _paired_weights(model: nn.Module, init_model: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    w = [m for _, m in weight_matrices(model)]
    w0 = [m for _, m in weight_matrices(init_model)]
    if [t.shape for t in w] != [t.shape for t in w0]:
        raise UserError(
            "init_model must have the same weight layers as model; shapes "
            f"{[tuple(t.shape) for t in w]} vs {[tuple(t.shape) for t in w0]}."
        )
    return w, w0


def _spec(w: Tensor) -> Tensor:
    return torch.linalg.matrix_norm(w, ord=2)


def spectral_product(model: nn.Module) -> float:
    """Product over the weight matrices of their spectral norms, prod_i ||W_i||_2 (unnormalized).

    The norm-based capacity of Bartlett et al. 2017 / Neyshabur et al. 2018 without the margin; see
    ``weight_matrices`` for which layers count.

    Example:
        >>> spectral_product(nn.Linear(3, 3, bias=False))
    """
    return float(torch.stack([_spec(w) for _, w in weight_matrices(model)]).prod())


def frobenius_product(model: nn.Module) -> float:
    """Product over the weight matrices of their Frobenius norms, prod_i ||W_i||_F (unnormalized).

    Example:
        >>> frobenius_product(nn.Linear(3, 3, bias=False))
    """
    return float(torch.stack([torch.linalg.matrix_norm(w) for _, w in weight_matrices(model)]).prod())


# --- path norm ------------------------------------------------------------------------------------------------


def path_norm(model: nn.Module, input_shape: tuple[int, ...] | torch.Size) -> float:
    """The l2 path norm: sqrt of the summed output of the network with every parameter squared, on all-ones.

    Neyshabur et al. 2015 / Jiang et al. 2020 (eq. 44), computed as the reference code does: every parameter
    (biases included; frozen ones too, where the reference squares only trainable ones) is squared, an
    all-ones input of ``input_shape`` is fed through, and the output
    entries are summed. For a ReLU network this is the sum over input-output paths of the product of squared
    weights along the path, plus the paths that start at a bias (all pre-activations are then non-negative, so
    the ReLUs pass everything). Returns the square root of that sum (the reference's measure is the sum itself,
    which ``generalization_measures`` reports as sqrt(sum / m), i.e. this value over sqrt(m)).

    Args:
        model: the network; it must not contain BatchNorm (fold it into the preceding layer first).
        input_shape: the shape of one input example, without the batch dimension.

    Returns:
        The path norm as a float.

    Example:
        >>> path_norm(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), (3,))
    """
    fm = _snapshot(model, "path_norm")
    if any(isinstance(m, _BatchNorm) for m in model.modules()):
        raise UserError("path_norm does not handle BatchNorm; fold it into the preceding layer first.")
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError:
        raise UserError(f"input_shape must be a tuple of ints (one example's shape), got {input_shape!r}.") from None
    squared = {n: t * t for n, t in fm.theta.items()}
    frozen = {n: t * t for n, t in fm.frozen.items()}
    ones = torch.ones((1, *shape), dtype=fm.dtype, device=fm.device)
    with torch.no_grad():
        out = torch.func.functional_call(model, {**frozen, **fm.static, **fm.buffers, **squared}, (ones,))
    total = float(out.double().sum())
    if not total >= 0:
        raise UserError(f"the squared-weight network returned a negative or NaN sum ({total}); is it a ReLU net?")
    return math.sqrt(total)


# --- PAC-Bayes flatness ---------------------------------------------------------------------------------------


def _noise_scale(theta: dict[str, Tensor], sigma: float, magnitude_eps: float | None) -> dict[str, Tensor]:
    if magnitude_eps is None:
        return {n: torch.full_like(t, sigma) for n, t in theta.items()}
    return {n: torch.sqrt(sigma**2 * t * t + magnitude_eps**2) for n, t in theta.items()}


def _perturbed_accuracy(
    fm: FunctionalModel, batches: list, sigma: float, seeds: list[int], magnitude_eps: float | None
) -> float:
    """Mean training accuracy over the draws; draw i uses a generator seeded with seeds[i] (common random
    numbers: the same standard normals at every sigma, so the bisection sees a smooth function of sigma)."""
    scale = _noise_scale(fm.theta, sigma, magnitude_eps)
    accs = []
    for seed in seeds:
        gen = torch.Generator(device=fm.device).manual_seed(seed)
        theta = {
            n: t + scale[n] * torch.randn(t.shape, generator=gen, dtype=t.dtype, device=t.device)
            for n, t in fm.theta.items()
        }
        accs.append(_accuracy(fm, batches, theta))
    return sum(accs) / len(accs)


def pac_bayes_sigma(
    model: nn.Module,
    batches: Any,
    *,
    deviation: float = 0.1,
    magnitude_eps: float | None = None,
    n_samples: int = 10,
    search_depth: int = 15,
    upper: float = 2.0,
    tolerance: float = 1e-2,
    generator: torch.Generator | None = None,
) -> float:
    """The PAC-Bayes flatness scale: the largest sigma whose weight noise moves training accuracy by ``deviation``.

    Jiang et al. 2020 (Sec. 5, eqs. 48-61): every trainable parameter w gets independent Gaussian noise,
    N(0, sigma^2) or, magnitude-aware (``magnitude_eps`` given), N(0, sigma^2 w^2 + eps^2); sigma is found by
    bisection on [0, ``upper``] so that |E[accuracy of the noisy net] - accuracy| = ``deviation``, the
    expectation a Monte Carlo mean over ``n_samples`` draws. As in Dziugaite's ``_pacbayes_sigma``, the search
    stops after ``search_depth`` halvings or when the measured deviation is within ``tolerance`` of the target,
    and returns the last midpoint (``upper`` / 2 ... ``upper`` if even ``upper`` moves accuracy less). The
    noise is used as Jiang defines it, with standard deviation sigma (the reference passes sigma^2 as the
    standard deviation of ``torch.normal``). The draws use common random numbers: one seed per Monte Carlo
    sample is drawn from ``generator`` and reused at every sigma, so the result is deterministic given it.

    Args:
        model, batches: a classifier and its training data (``(inputs, targets)`` or a list of them).
        deviation: the target accuracy deviation (Jiang: 0.1).
        magnitude_eps: None for the plain noise; eps for the magnitude-aware noise (reference: 1e-3).
        n_samples: Monte Carlo draws per sigma.
        search_depth: maximum bisection steps.
        upper: the upper end of the search interval.
        tolerance: stop when |deviation measured - deviation| < tolerance.
        generator: torch generator for the noise seeds.

    Returns:
        sigma as a float.

    Example:
        >>> x = torch.randn(100, 4); y = (x[:, 0] > 0).long()
        >>> net = nn.Linear(4, 2, bias=False)
        >>> with torch.no_grad(): net.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        >>> pac_bayes_sigma(net, (x, y), generator=torch.Generator().manual_seed(0))   # about 0.2
    """
    for name, value in (("deviation", deviation), ("upper", upper), ("tolerance", tolerance)):
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            raise UserError(f"{name} must be a positive number, got {value!r}.")
    if magnitude_eps is not None and not (isinstance(magnitude_eps, int | float) and magnitude_eps >= 0):
        raise UserError(f"magnitude_eps must be None or a non-negative number, got {magnitude_eps!r}.")
    for name, value in (("n_samples", n_samples), ("search_depth", search_depth)):
        if not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}.")
    _check_generator(generator)
    fm = _snapshot(model, "pac_bayes_sigma")
    data = as_batches(batches)
    accuracy = _accuracy(fm, data)
    seeds = torch.randint(0, _BIG, (n_samples,), generator=generator).tolist()
    lower, sigma = 0.0, upper / 2
    for _ in range(search_depth):
        sigma = (lower + upper) / 2
        moved = abs(_perturbed_accuracy(fm, data, sigma, seeds, magnitude_eps) - accuracy)
        if abs(moved - deviation) < tolerance:
            break
        if moved > deviation:
            upper = sigma
        else:
            lower = sigma
    return sigma


# --- input sensitivity, gradient noise, disagreement ----------------------------------------------------------


def jacobian_norm(model: nn.Module, batches: Any, *, softmax: bool = False) -> float:
    """Mean over examples of the Frobenius norm of the input-output Jacobian, E_x ||d f(x) / d x||_F.

    Novak et al. 2018 ("Sensitivity and generalization in neural networks"), who use the Jacobian of the
    class probabilities (``softmax=True``); by default the Jacobian of the logits. Per-example Jacobians by
    ``torch.func`` (``vmap(jacrev)``), so BatchNorm must be in eval mode.

    Args:
        model, batches: a classifier and its data; targets are ignored.
        softmax: differentiate the softmax probabilities instead of the logits.

    Returns:
        The mean Jacobian norm as a float.

    Example:
        >>> jacobian_norm(nn.Linear(3, 2, bias=False), (torch.randn(4, 3), torch.zeros(4, dtype=torch.long)))
    """
    fm = _snapshot(model, "jacobian_norm", per_example=True)

    def f(x: Tensor) -> Tensor:
        out = fm.example_output({}, x)
        return out.softmax(-1) if softmax else out

    total, count = 0.0, 0
    for x, _, n in as_batches(batches):
        jac = vmap(jacrev(f))(x.to(device=fm.device, dtype=fm.dtype))
        total += float(jac.reshape(n, -1).double().norm(dim=1).sum())
        count += n
    return total / count


def gsnr(model: nn.Module, loss_fn: Callable, batches: Any, *, params: ParamFilter = None) -> float:
    """Gradient signal-to-noise ratio averaged over parameters (Liu et al. 2020, "Understanding why neural
    networks generalize well through GSNR of parameters").

    For each parameter j, r_j = mean_i(g_ij)^2 / var_i(g_ij) over the per-example gradients g_i of
    ``loss_fn`` on each example alone (sample variance, ddof=1); returns the mean of r_j over the parameters
    with non-zero variance (a parameter whose per-example gradients are all equal, e.g. of a dead unit, has
    no defined ratio and is left out). Per-example gradients by ``torch.func`` (``vmap(grad)``); the means and
    variances are pooled over batches exactly (Chan et al.'s parallel update).

    Args:
        model: the network (BatchNorm in eval mode, no dropout in training mode).
        loss_fn: ``loss_fn(outputs, targets)``, the mean over the batch; it is called on one example at a time.
        batches: ``(inputs, targets)`` or a list of them, at least 2 examples in all.
        params: which parameters (a ``ParamFilter``); default all trainable ones.

    Returns:
        The mean GSNR as a float.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> gsnr(net, F.cross_entropy, (torch.randn(32, 4), torch.randint(0, 3, (32,))))
    """
    check_deterministic(model, "gsnr", per_example=True)
    fm = FunctionalModel(model, select_param_names(model, params))
    data = as_batches(batches)
    if sum(n for _, _, n in data) < 2:
        raise UserError("gsnr needs at least 2 examples for a variance of the per-example gradients.")

    def one(theta: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return scalar_loss(loss_fn, fm.forward(theta, fm.buffers, x.unsqueeze(0)), y.unsqueeze(0))

    per_example = vmap(grad(one), in_dims=(None, 0, 0))
    count, mean, m2 = 0, None, None
    for x, y, n in data:
        g = per_example(fm.theta, x.to(fm.device), y.to(fm.device) if isinstance(y, Tensor) else y)
        flat = torch.cat([g[k].reshape(n, -1) for k in fm.names], dim=1).double()
        b_mean, b_m2 = flat.mean(0), ((flat - flat.mean(0)) ** 2).sum(0)
        if mean is None:
            count, mean, m2 = n, b_mean, b_m2
            continue
        delta, total = b_mean - mean, count + n
        mean = mean + delta * n / total
        m2 = m2 + b_m2 + delta**2 * count * n / total
        count = total
    var = m2 / (count - 1)
    keep = var > 0
    if not keep.any():
        raise UserError("every selected parameter has the same gradient on every example; the GSNR is undefined.")
    return float((mean[keep] ** 2 / var[keep]).mean())


def inconsistency(model_a: nn.Module, model_b: nn.Module, batches: Any) -> float:
    """Fraction of inputs on which two classifiers' predicted classes (argmax of the logits) differ.

    The disagreement of two networks trained with different seeds (Nakkiran & Bansal 2020; Jiang et al. 2022,
    "Assessing generalization of SGD via disagreement"); targets are ignored.

    Example:
        >>> inconsistency(nn.Linear(3, 2), nn.Linear(3, 2), (torch.randn(10, 3), torch.zeros(10, dtype=torch.long)))
    """
    fa, fb = _snapshot(model_a, "inconsistency"), _snapshot(model_b, "inconsistency")
    differ, total = 0, 0
    for x, _, n in as_batches(batches):
        differ += int((_logits(fa, x).argmax(1).cpu() != _logits(fb, x).argmax(1).cpu()).sum())
        total += n
    return differ / total


# --- the suite ------------------------------------------------------------------------------------------------


def _normalize(name: str, value: float, m: int) -> float:
    """Dziugaite's ``adjust_measure``: 0.5 (value - log m) for a log measure, sqrt(value / m) otherwise (NaN for
    a negative value, as NumPy's sqrt there: a magnitude-aware PAC-Bayes bound can be negative)."""
    if name.startswith("log_"):
        return 0.5 * (value - math.log(m))
    return math.sqrt(value / m) if value >= 0 else math.nan


def generalization_measures(
    model: nn.Module,
    init_model: nn.Module,
    batches: Any,
    *,
    loss_fn: Callable = F.cross_entropy,
    other_model: nn.Module | None = None,
    unlabeled: Tensor | None = None,
    deviation: float = 0.1,
    magnitude_eps: float = 1e-3,
    n_samples: int = 10,
    search_depth: int = 15,
    curvature: bool = True,
    n_probes: int = 30,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """The generalization-measure suite of Jiang et al. 2020, normalized as Dziugaite et al. 2020's code.

    With m training examples, w the flattened weight matrices (see ``weight_matrices``; biases excluded),
    w0 those of ``init_model``, d their number, gamma = |``margin_quantile``(q=0.1)|, and sigma, sigma' the
    plain and magnitude-aware ``pac_bayes_sigma``, the measures before normalization are (Jiang's equation
    numbers): params (20) = #w; inverse_margin (22) = 1/gamma^2; log_prod_of_spec (32) = sum_i log||W_i||_2^2;
    log_prod_of_spec_over_margin (31) = that - 2 log gamma; log_spec_init_main (29) = (31) +
    log sum_i ||W_i - W0_i||_F^2 / ||W_i||_2^2; fro_over_spec (33) = sum_i ||W_i||_F^2 / ||W_i||_2^2;
    log_spec_orig_main (30) = (31) + log (33); log_sum_of_spec[_over_margin] (35, 34) = log d + (32 [- 2 log
    gamma]) / d; the same four with Frobenius norms (37, 36, 39, 38); fro_dist (40) = sum_i ||W_i - W0_i||_F^2;
    dist_spec_init (41) = sum_i ||W_i - W0_i||_2^2; param_norm (42) = sum_i ||W_i||_F^2; path_norm (44) = the
    squared ``path_norm``; path_norm_over_margin (43) = (44) / gamma^2; pacbayes_init / _orig (48, 49) =
    ||w - w0||^2 or ||w||^2 over 4 sigma^2, + log(m / sigma) + 10; pacbayes_flatness (53) = 1 / sigma^2; the
    magnitude-aware pacbayes_mag_init / _orig / _flatness (56, 57, 61) as in the reference code; l2 = ||w||,
    l2_dist = ||w - w0||. Each is then normalized as Dziugaite's ``adjust_measure``: a ``log_`` measure v
    becomes (v - log m) / 2, any other v becomes sqrt(v / m).

    Added, not normalized (they are not in Dziugaite's suite): train_accuracy; lambda_max and hessian_trace of
    the training loss (``hessian_eigenvalues`` k=1 and ``hessian_trace`` Hutch++, only with ``curvature``);
    jacobian_norm (``jacobian_norm`` of the logits); gsnr (``gsnr``); inconsistency (``inconsistency`` with
    ``other_model``, only when it is given).

    Args:
        model: the trained classifier; init_model: the same architecture at initialization.
        batches: the training data, ``(inputs, targets)`` or a list of them (m = their total size).
        loss_fn: the training loss, for curvature and GSNR.
        other_model: a second network (e.g. another seed) for the inconsistency.
        unlabeled: inputs the inconsistency is measured on (held-out inputs, as Jiang et al. 2022 do; labels are
            not needed). Without them it is measured on the training inputs, where two networks that both fit
            their training labels always agree (0).
        deviation, magnitude_eps, n_samples, search_depth: passed to ``pac_bayes_sigma``.
        curvature: compute lambda_max and hessian_trace.
        n_probes: Hutch++ products for the Hessian trace.
        generator: torch generator for every random draw (PAC-Bayes noise, Lanczos start, trace probes).

    Returns:
        A dict measure name -> float.

    Example:
        >>> init = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> net = copy.deepcopy(init)                      # ... then train net on (x, y)
        >>> x = torch.randn(64, 4); y = net(x).argmax(1)
        >>> res = generalization_measures(net, init, (x, y), generator=torch.Generator().manual_seed(0))
        >>> res["pacbayes_flatness"], res["log_prod_of_spec_over_margin"]
    """
    _check_generator(generator)
    data = as_batches(batches)
    pairs = [(x, y) for x, y, _ in data]
    m = sum(n for _, _, n in data)
    w, w0 = _paired_weights(model, init_model)
    dw = [a - b for a, b in zip(w, w0, strict=True)]
    d = len(w)
    w_vec, dw_vec = torch.cat([t.reshape(-1) for t in w]), torch.cat([t.reshape(-1) for t in dw])
    fro = torch.stack([torch.linalg.matrix_norm(t) ** 2 for t in w])
    spec = torch.stack([_spec(t) ** 2 for t in w])
    dist_fro = torch.stack([torch.linalg.matrix_norm(t) ** 2 for t in dw])
    dist_spec = torch.stack([_spec(t) ** 2 for t in dw])
    gamma = abs(margin_quantile(model, pairs))
    if not gamma > 0:
        raise UserError("the 10th-percentile margin is zero, so the margin-normalized measures are undefined.")
    log_gamma2 = 2 * math.log(gamma)
    log_spec, log_fro = float(spec.log().sum()), float(fro.log().sum())
    x_shape = tuple(data[0][0].shape[1:])
    sigma = pac_bayes_sigma(
        model, pairs, deviation=deviation, n_samples=n_samples, search_depth=search_depth, generator=generator
    )
    mag_sigma = pac_bayes_sigma(
        model,
        pairs,
        deviation=deviation,
        magnitude_eps=magnitude_eps,
        n_samples=n_samples,
        search_depth=search_depth,
        generator=generator,
    )
    omega = w_vec.numel()

    def pacbayes(ref: Tensor) -> float:
        return float(ref.norm() ** 2) / (4 * sigma**2) + math.log(m / sigma) + 10

    def pacbayes_mag(ref: Tensor) -> float:
        num = magnitude_eps**2 + (mag_sigma**2 + 1) * float(ref.norm() ** 2) / omega
        den = magnitude_eps**2 + mag_sigma**2 * dw_vec**2
        return float(0.25 * (num / den).log().sum()) + math.log(m / mag_sigma) + 10

    path = path_norm(model, x_shape) ** 2
    raw = {
        "l2": float(w_vec.norm()),
        "l2_dist": float(dw_vec.norm()),
        "params": float(omega),
        "inverse_margin": 1 / gamma**2,
        "log_prod_of_spec": log_spec,
        "log_prod_of_spec_over_margin": log_spec - log_gamma2,
        "log_spec_init_main": log_spec - log_gamma2 + _log(float((dist_fro / spec).sum())),
        "fro_over_spec": float((fro / spec).sum()),
        "log_spec_orig_main": log_spec - log_gamma2 + _log(float((fro / spec).sum())),
        "log_sum_of_spec_over_margin": math.log(d) + (log_spec - log_gamma2) / d,
        "log_sum_of_spec": math.log(d) + log_spec / d,
        "log_prod_of_fro": log_fro,
        "log_prod_of_fro_over_margin": log_fro - log_gamma2,
        "log_sum_of_fro_over_margin": math.log(d) + (log_fro - log_gamma2) / d,
        "log_sum_of_fro": math.log(d) + log_fro / d,
        "fro_dist": float(dist_fro.sum()),
        "dist_spec_init": float(dist_spec.sum()),
        "param_norm": float(fro.sum()),
        "path_norm": path,
        "path_norm_over_margin": path / gamma**2,
        "pacbayes_init": pacbayes(dw_vec),
        "pacbayes_orig": pacbayes(w_vec),
        "pacbayes_flatness": 1 / sigma**2,
        "pacbayes_mag_init": pacbayes_mag(dw_vec),
        "pacbayes_mag_orig": pacbayes_mag(w_vec),
        "pacbayes_mag_flatness": 1 / mag_sigma**2,
    }
    out = {name: _normalize(name, value, m) for name, value in raw.items()}
    out["train_accuracy"] = _accuracy(_snapshot(model, "generalization_measures"), data)
    if curvature:
        out["lambda_max"] = float(hessian_eigenvalues(model, loss_fn, pairs, k=1, generator=generator).values[0])
        out["hessian_trace"] = hessian_trace(model, loss_fn, pairs, n_probes=n_probes, generator=generator)[0]
    out["jacobian_norm"] = jacobian_norm(model, pairs)
    out["gsnr"] = gsnr(model, loss_fn, pairs)
    if other_model is not None:
        if unlabeled is not None and not (isinstance(unlabeled, Tensor) and unlabeled.ndim >= 1 and len(unlabeled)):
            raise UserError("unlabeled must be a non-empty tensor of inputs, one per row.")
        where = pairs if unlabeled is None else (unlabeled, torch.zeros(len(unlabeled), dtype=torch.long))
        out["inconsistency"] = inconsistency(model, other_model, where)
    return out
