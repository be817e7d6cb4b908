"""Ready-made probes for the Monitor: thin wrappers over :mod:`phenomena.probes` for a schedule (warm starts, the
kernel at the first call, forward hooks), with no mathematics of their own."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from phenomena import probes as pr
from phenomena.errors import UserError
from phenomena.probes.forgetting import ForgettingTracker

Probe = Callable[..., Any]


# --- data helpers for the factories --------------------------------------------------------------------------


def _inputs(batch: Any, what: str) -> Tensor:
    """The input tensor of a batch: the tensor itself, the first element of a pair, or ``batch["input_ids"]``."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, tuple | list) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    if isinstance(batch, Mapping) and isinstance(batch.get("input_ids"), Tensor):
        return batch["input_ids"]
    if batch is None:
        raise UserError(f"{what} needs inputs: pass a batch to monitor.step, or fixed inputs to the probe factory.")
    raise UserError(f"{what} needs a tensor of inputs or an (inputs, targets) pair, got a {type(batch).__name__}.")


def _pairs(batch: Any, what: str) -> list[tuple[Tensor, Any]]:
    """A batch as a list of (inputs, targets) pairs (one pair or a list of pairs)."""
    if batch is None:
        raise UserError(f"{what} needs data: pass a batch to monitor.step, or fixed batches to the probe factory.")
    try:
        return [(x, y) for x, y, _ in pr.as_batches(batch)]
    except UserError as e:
        raise UserError(f"{what}: {e}") from None


def _detached(batch: Any) -> Any:
    """A copy of a batch's tensors, detached (kept as the fixed data of the probes that use the first batch)."""
    if isinstance(batch, Tensor):
        return batch.detach().clone()
    if isinstance(batch, tuple | list):
        return type(batch)(_detached(b) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _detached(v) for k, v in batch.items()}
    return batch


def _module_name(model: nn.Module, layer: str | nn.Module, what: str) -> str:
    if isinstance(layer, str):
        return layer
    for name, m in model.named_modules():
        if m is layer:
            return name
    raise UserError(f"{what}: the layer is not a submodule of the model; pass its name from named_modules().")


def _capture(model: nn.Module, module: nn.Module, x: Tensor, where: str, what: str) -> Tensor:
    """``module``'s output (or input) during one forward pass of ``model`` on ``x``, by a temporary hook."""
    if not isinstance(module, nn.Module):
        raise UserError(f"{what} needs an nn.Module to hook, got {type(module).__name__}.")
    seen: list[Tensor] = []

    def hook(_m, inp, out):
        t = out if where == "output" else (inp[0] if inp else None)
        seen.append(t.detach() if isinstance(t, Tensor) else None)

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if len(seen) != 1 or seen[0] is None or seen[0].ndim < 1 or seen[0].shape[0] != x.shape[0]:
        raise UserError(
            f"{what}: the hooked module must be called once per forward pass with a (batch, ...) tensor "
            f"{where}; it was called {len(seen)} times."
        )
    return seen[0].reshape(x.shape[0], -1)


# --- ready-made probes ---------------------------------------------------------------------------------------


class _Sharpness:
    def __init__(self, loss_fn, k, batches, params, curvature, tol, max_hvps, seed):
        self.loss_fn, self.k, self.batches, self.params = loss_fn, k, batches, params
        self.curvature, self.tol, self.max_hvps, self.seed = curvature, tol, max_hvps, seed
        self.last: pr.EigenResult | None = None

    def __call__(self, model: nn.Module, batch: Any = None, **context: Any) -> float | dict[str, float]:
        data = self.batches if self.batches is not None else batch
        _pairs(data, "sharpness")
        warm = self.last
        if warm is not None:
            names = pr.select_param_names(model, self.params)
            shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
            if warm.space.names != tuple(names) or warm.space.shapes != tuple(shapes[n] for n in names):
                warm = None  # the parameters changed (e.g. a layer was frozen): start cold
        res = pr.hessian_eigenvalues(
            model,
            self.loss_fn,
            data,
            k=self.k,
            params=self.params,
            curvature=self.curvature,
            tol=self.tol,
            warm_start=warm,
            max_hvps=self.max_hvps,
            generator=torch.Generator().manual_seed(self.seed),
        )
        self.last = res
        values = [float(v) for v in res.values] + [math.nan] * (self.k - len(res.values))
        return values[0] if self.k == 1 else {f"lambda_{i + 1}": v for i, v in enumerate(values)}


def sharpness(
    loss_fn: Callable,
    k: int = 1,
    *,
    batches: Any = None,
    params: pr.ParamFilter = None,
    curvature: str = "hessian",
    tol: float = 1e-4,
    max_hvps: int | None = None,
    seed: int = 0,
) -> Probe:
    """A probe of the sharpness: the top eigenvalue of the loss Hessian (units of loss per parameter²).

    Each call runs :func:`phenomena.probes.hessian_eigenvalues` (Lanczos) warm-started from the previous call's
    eigenvectors, so tracking it through training costs a few Hessian-vector products per measurement; the
    first call (or one after the selected parameters changed) starts from a Gaussian vector drawn from a
    generator seeded with ``seed``. The last :class:`~phenomena.probes.EigenResult` is kept as ``probe.last``.

    Args:
        loss_fn: ``loss_fn(outputs, targets)``, a mean over the batch.
        k: eigenvalues to track: k = 1 returns a float, k > 1 a dict ``{"lambda_1": ..., "lambda_k": ...}``
            (descending; NaN where Lanczos did not converge within ``max_hvps``).
        batches: fixed ``(inputs, targets)`` batch(es) to measure on (recommended: the same data every time);
            None uses the batch given to ``monitor.step``.
        params, curvature, tol, max_hvps: as in :func:`phenomena.probes.hessian_eigenvalues`.
        seed: seed of the cold-start vector.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}.")
    return _Sharpness(loss_fn, k, batches, params, curvature, tol, max_hvps, seed)


def hessian_trace(
    loss_fn: Callable,
    probes: int = 20,
    *,
    method: str = "hutch++",
    batches: Any = None,
    params: pr.ParamFilter = None,
    curvature: str = "hessian",
    seed: int = 0,
    stderr: bool = False,
) -> Probe:
    """A probe of the trace of the loss Hessian (the sum of its eigenvalues; units of loss per parameter²).

    Each call runs :func:`phenomena.probes.hessian_trace` with ``probes`` Rademacher products (Hutch++ by
    default) from a generator seeded with ``seed``: the same probe vectors every time (common random numbers),
    so changes along training are not masked by probe noise.

    Args:
        loss_fn: ``loss_fn(outputs, targets)``, a mean over the batch.
        probes: Hessian-vector products per estimate (at least 4 for Hutch++, 2 for Hutchinson).
        method: ``"hutch++"`` or ``"hutchinson"``.
        batches: fixed ``(inputs, targets)`` batch(es); None uses the batch given to ``monitor.step``.
        params, curvature: as in :func:`phenomena.probes.hessian_trace`.
        seed: seed of the probe vectors.
        stderr: return ``{"estimate": ..., "stderr": ...}`` instead of the estimate alone.
    """

    def probe(model: nn.Module, batch: Any = None, **context: Any) -> float | dict[str, float]:
        data = batches if batches is not None else batch
        _pairs(data, "hessian_trace")
        est = pr.hessian_trace(
            model,
            loss_fn,
            data,
            method=method,
            n_probes=probes,
            params=params,
            curvature=curvature,
            generator=torch.Generator().manual_seed(seed),
        )
        return {"estimate": est.estimate, "stderr": est.stderr} if stderr else est.estimate

    return probe


class _NTKVelocity:
    def __init__(self, inputs, params, method, batch_size):
        self.inputs, self.params, self.method, self.batch_size = inputs, params, method, batch_size
        self.k0: Tensor | None = None
        self.previous: tuple[Tensor, int] | None = None
        self.calls = 0

    def __call__(self, model: nn.Module, batch: Any = None, step: int | None = None, **context: Any):
        if self.inputs is None:
            self.inputs = _detached(_inputs(batch, "ntk_velocity"))
        x = _inputs(self.inputs, "ntk_velocity")
        kernel = pr.empirical_ntk(
            model, x, trace=True, method=self.method, batch_size=self.batch_size, params=self.params
        ).detach()
        now = step if step is not None else self.calls
        self.calls += 1
        if self.k0 is None:
            self.k0 = kernel
        velocity = math.nan
        if self.previous is not None and now > self.previous[1]:
            velocity = pr.kernel_distance(self.previous[0], kernel) / (now - self.previous[1])
        self.previous = (kernel, now)
        return {
            "distance": pr.kernel_distance(self.k0, kernel),
            "relative_change": pr.kernel_relative_change(self.k0, kernel),
            "velocity": velocity,
        }


def ntk_velocity(
    inputs: Tensor | None = None,
    *,
    params: pr.ParamFilter = None,
    method: str = "auto",
    batch_size: int | None = None,
) -> Probe:
    """A probe of how far the empirical NTK has moved since the first call (Fort et al. 2020).

    Each call computes the logit-summed eNTK (:func:`phenomena.probes.empirical_ntk`, ``trace=True``) on fixed
    inputs and returns a dict of dimensionless numbers: ``distance`` = kernel distance
    S(K_first, K_now) = 1 − cos(K_first, K_now) in [0, 2] (:func:`phenomena.probes.kernel_distance`),
    ``relative_change`` = ‖K_now − K_first‖_F / ‖K_first‖_F, and ``velocity`` = S(K_previous, K_now) per step
    between the last two measurements (NaN at the first). The model must be deterministic per example (dropout
    off, BatchNorm in eval mode: use ``Monitor(..., eval_mode=True)``).

    Args:
        inputs: the (N, ...) inputs the kernel is computed on; None keeps the inputs of the first batch seen.
            The cost grows as N² (keep N in the tens or hundreds).
        params, method, batch_size: as in :func:`phenomena.probes.empirical_ntk`.
    """
    return _NTKVelocity(inputs, params, method, batch_size)


def ntk_alignment(
    inputs: Tensor | None = None,
    labels: Tensor | None = None,
    *,
    centered: bool = True,
    params: pr.ParamFilter = None,
    method: str = "auto",
    batch_size: int | None = None,
) -> Probe:
    """A probe of the kernel-target alignment of the empirical NTK (dimensionless, in [-1, 1]).

    Each call computes the logit-summed eNTK K on fixed inputs and returns the centred alignment
    ⟨K_c, L_c⟩ / (‖K_c‖ ‖L_c‖) with L = Y Yᵀ (:func:`phenomena.probes.kernel_alignment`; Cortes et al. 2012).
    It rises as the kernel learns the task (Baratin et al. 2021; Kopitkov & Indelman 2020).

    Args:
        inputs, labels: the (N, ...) inputs and their labels ((N,) class indices or (N, C) targets); None keeps
            the first batch seen (an (inputs, labels) pair).
        centered: centred (default) or uncentred alignment.
        params, method, batch_size: as in :func:`phenomena.probes.empirical_ntk`.
    """
    fixed: dict[str, Any] = {"x": inputs, "y": labels}
    if (inputs is None) != (labels is None):
        raise UserError("ntk_alignment needs both inputs and labels, or neither (then the first batch is kept).")

    def probe(model: nn.Module, batch: Any = None, **context: Any) -> float:
        if fixed["x"] is None:
            (x, y), *_ = _pairs(batch, "ntk_alignment")
            fixed["x"], fixed["y"] = x.detach().clone(), _detached(y)
        kernel = pr.empirical_ntk(model, fixed["x"], trace=True, method=method, batch_size=batch_size, params=params)
        return pr.kernel_alignment(kernel.detach(), fixed["y"], centered=centered)

    return probe


def neural_collapse(
    feature_module: nn.Module,
    classifier: nn.Linear | None = None,
    *,
    where: str = "output",
    batches: Any = None,
    num_classes: int | None = None,
    metrics: Sequence[str] | None = None,
) -> Probe:
    """A probe of neural collapse (Papyan, Han & Donoho 2020) of the features a module produces.

    Each call runs the model on the data without gradients, captures ``feature_module``'s output (or its input,
    ``where="input"``) with a temporary forward hook, and returns :func:`phenomena.probes.neural_collapse` of
    those features and the batch's labels: ``nc1`` = Tr(Σ_W Σ_B⁺)/C (within-class variability relative to the
    between-class spread, dimensionless, → 0 at collapse), the NC2 equinorm/equiangularity measures, the CDNV,
    ``sw_trace``/``sb_trace`` (in squared feature units) and, with ``classifier``, ``nc3`` (self-duality) and
    ``nc4`` (fraction of examples where the classifier and the nearest class mean disagree).

    Args:
        feature_module: the module whose output are the penultimate features (e.g. the last activation), or,
            with ``where="input"``, whose input they are (e.g. the classifier itself).
        classifier: the last ``nn.Linear`` (C outputs), for the NC2 weight metrics, NC3 and NC4.
        where: ``"output"`` or ``"input"`` of ``feature_module``.
        batches: fixed ``(inputs, labels)`` batch(es); None uses the batch given to ``monitor.step``. Every
            class must occur in the data.
        num_classes: C, if not every label seen is wanted from the labels or the classifier.
        metrics: the keys to return (default all of them).
    """
    if where not in ("output", "input"):
        raise UserError(f"where must be 'output' or 'input', got {where!r}.")
    if classifier is not None and not isinstance(getattr(classifier, "weight", None), Tensor):
        raise UserError("classifier must be the last layer (an nn.Linear with a .weight of shape (C, d)).")

    def probe(model: nn.Module, batch: Any = None, **context: Any) -> dict[str, float]:
        pairs = _pairs(batches if batches is not None else batch, "neural_collapse")
        feats = torch.cat([_capture(model, feature_module, x, where, "neural_collapse") for x, _ in pairs])
        labels = torch.cat([torch.as_tensor(y).reshape(-1) for _, y in pairs])
        weight = None if classifier is None else classifier.weight.detach()
        bias = None if classifier is None or classifier.bias is None else classifier.bias.detach()
        out = pr.neural_collapse(feats, labels.to(feats.device), weight, bias, num_classes=num_classes)
        if metrics is None:
            return out
        missing = [m for m in metrics if m not in out]
        if missing:
            raise UserError(f"neural_collapse has no metrics {missing}; choose from {sorted(out)}.")
        return {m: out[m] for m in metrics}

    return probe


def cka_to(
    reference_model: nn.Module,
    layer: str | nn.Module,
    *,
    reference_layer: str | None = None,
    inputs: Tensor | None = None,
) -> Probe:
    """A probe of the linear CKA between a layer of the model and a layer of a reference model (in [0, 1]).

    Each call runs both models on the inputs (without gradients, forward hooks removed afterwards) and returns
    :func:`phenomena.probes.cka_matrix`'s entry for the two layers: linear CKA with the unbiased HSIC
    (Kornblith et al. 2019; Nguyen et al. 2021), 1 for representations equal up to rotation and scale. With
    ``reference_model = copy.deepcopy(model).eval()`` taken before training it measures how far a layer's
    representation has moved from initialization. Put the reference model in eval mode yourself (the Monitor
    guards only ``model``).

    Args:
        reference_model: the model to compare with (e.g. a copy at initialization).
        layer: the layer of the model, a name from ``named_modules()`` or the module itself.
        reference_layer: the reference model's layer name (default: the same name).
        inputs: fixed inputs (N ≥ 4 examples); None uses the inputs of the batch given to ``monitor.step``.
    """
    if not isinstance(reference_model, nn.Module):
        raise UserError(f"cka_to needs a reference nn.Module, got {type(reference_model).__name__}.")

    def probe(model: nn.Module, batch: Any = None, **context: Any) -> float:
        x = _inputs(inputs if inputs is not None else batch, "cka_to")
        name = _module_name(model, layer, "cka_to")
        res = pr.cka_matrix(model, reference_model, [x], [name], [reference_layer or name])
        return float(res.values[0, 0])

    return probe


def effective_rank(module: nn.Module, *, of: str = "weight", inputs: Tensor | None = None) -> Probe:
    """A probe of the effective rank exp(H(σ/Σσ)) of a module's weight or output (Roy & Vetterli 2007).

    A dimension count in [1, min(rows, columns)] (:func:`phenomena.probes.effective_rank`): ``of="weight"``
    uses the module's weight as a matrix (out, in·...) as it is; ``of="output"`` captures the module's output
    on the batch (a forward hook, no gradients) and uses the centred (N, features) matrix, the effective
    dimensionality of the representation.

    Args:
        module: a module with a ``.weight`` (for ``of="weight"``) or any submodule of the model.
        of: ``"weight"`` or ``"output"``.
        inputs: fixed inputs for ``of="output"``; None uses the batch given to ``monitor.step``.
    """
    if of not in ("weight", "output"):
        raise UserError(f"of must be 'weight' or 'output', got {of!r}.")
    if of == "weight" and not isinstance(getattr(module, "weight", None), Tensor):
        raise UserError("effective_rank(of='weight') needs a module with a .weight tensor.")

    def probe(model: nn.Module, batch: Any = None, **context: Any) -> float:
        if of == "weight":
            w = module.weight.detach()
            return pr.effective_rank(w.reshape(w.shape[0], -1) if w.ndim > 1 else w.reshape(1, -1))
        x = _inputs(inputs if inputs is not None else batch, "effective_rank")
        return pr.effective_rank(_capture(model, module, x, "output", "effective_rank"), center=True)

    return probe


class _Forgetting:
    def __init__(self, tracker: ForgettingTracker):
        self.tracker = tracker
        self.last_step: int | None = None

    def __call__(
        self,
        model: nn.Module,
        batch: Any = None,
        step: int | None = None,
        *,
        indices: Tensor | None = None,
        logits: Tensor | None = None,
        **context: Any,
    ) -> dict[str, float]:
        if indices is None:
            raise UserError(
                "forgetting needs the minibatch's example indices: call monitor.step(step, (x, y), indices=idx)."
            )
        if step is not None and self.last_step is not None and step != self.last_step + 1:
            raise UserError(
                f"forgetting must see every presentation, but the step went from {self.last_step} to {step}: use "
                "Monitor(..., every=1) and call monitor.step at every training step."
            )
        pairs = _pairs(batch, "forgetting")
        if len(pairs) != 1:
            raise UserError(f"forgetting needs one (inputs, targets) minibatch, got a list of {len(pairs)}.")
        x, y = pairs[0]
        if logits is None:
            with torch.no_grad():
                logits = model(x)
        self.tracker.update(indices, logits, torch.as_tensor(y))
        self.last_step = step
        return self.tracker.summary()


def forgetting(num_examples: int | ForgettingTracker) -> Probe:
    """A probe of example forgetting (Toneva et al. 2019): :class:`~phenomena.probes.forgetting.ForgettingTracker`
    fed at every training step, returning its :meth:`~phenomena.probes.forgetting.ForgettingTracker.summary`
    (the fractions ``unforgettable``, ``forgotten``, ``never_learned`` of the examples presented so far, and
    ``presented``, ``forgetting_events``, ``mean_forgetting``). The tracker is ``probe.tracker``.

    The statistics are per presentation, so the probe must see every minibatch: use ``Monitor(..., every=1)``
    and pass the minibatch's example indices in the context, ``monitor.step(step, (x, y), indices=idx)``
    (a gap in the steps is refused). Toneva et al. record the predictions of the training forward pass, before
    the optimizer step: pass them as ``logits=outputs`` in the context (the exact convention, wherever the
    call is). Without ``logits`` the probe runs the model on the batch's inputs itself (no gradients, in the
    Monitor's train/eval mode), which is the same only when ``monitor.step`` is called before
    ``optimizer.step()``.

    Args:
        num_examples: the training set's size N (a new tracker), or a tracker to feed.
    """
    tracker = num_examples if isinstance(num_examples, ForgettingTracker) else ForgettingTracker(num_examples)
    return _Forgetting(tracker)


def to_device(batch: Any, device) -> Any:
    """``batch`` (a tensor, or tuples, lists and dicts of them) moved to ``device``; other values as they are."""
    if hasattr(batch, "to") and callable(batch.to) and not isinstance(batch, type):
        return batch.to(device)
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
