"""Probes inside anyone's training loop: a ``Monitor`` runs named probes every k steps and keeps their curves.

>>> import torch.nn.functional as F, phenomena as ph
>>> from phenomena.monitor import Monitor, sharpness, neural_collapse
>>> monitor = Monitor(model, {"sharpness": sharpness(F.cross_entropy),
...                           "nc": neural_collapse(model[-2], classifier=model[-1])}, every=50, store="runs")
>>> for step, (x, y) in enumerate(loader):
...     loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
...     monitor.step(step, (x, y))
>>> monitor.curve("sharpness"), monitor.figure()
>>> run_id = monitor.close()                 # one run record (experiment "monitor") and its figure

A probe is any callable ``probe(model, batch, **context) -> float | dict[str, float]``; the context is what the
caller passed to :meth:`Monitor.step`, plus ``step`` for probes that accept it (a ``step`` parameter or
``**kwargs``). The factories below wrap the pure probes of :mod:`phenomena.probes` for a schedule (warm starts,
the kernel at the first call, forward hooks) and add no mathematics of their own.

Guarantee: whatever a probe does, the training loop continues exactly as if it had not run. Before the probes
of a step the Monitor snapshots the model's train/eval flags (every module), its parameters and buffers
(values and the tensor objects themselves, and ``requires_grad``), every ``.grad`` (None or a tensor, with its
value), the global RNG states (torch CPU, CUDA when initialized, Python ``random``, NumPy's legacy global
generator), autograd's grad mode and the default dtype; after each probe it restores them (a value is copied
back only where it changed, so tensors saved by a live autograd graph keep their version). This costs one copy
of the parameters, buffers and gradients per measured step.
"""

from __future__ import annotations

import inspect
import math
import numbers
import platform
import random
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phenomena import probes as pr
from phenomena.errors import UserError
from phenomena.store import Store

Probe = Callable[..., Any]


# --- the monitor ---------------------------------------------------------------------------------------------


class Monitor:
    """Run named probes on ``model`` every ``every`` steps of any training loop and keep a tidy history.

    Args:
        model: the ``nn.Module`` being trained (the probes' first argument).
        probes: name -> probe, a callable ``probe(model, batch, **context)`` returning a float or a dict of
            floats (the factories of this module, or your own). Names must not contain ``"."``; a dict-valued
            probe ``p`` gives one curve per key, named ``"p.key"``.
        every: measure when ``step % every == 0`` (step 0 included).
        store: where :meth:`close` writes one run record (experiment ``"monitor"``) and its figure: a store
            root (str or Path) or a :class:`~phenomena.store.Store`; None writes nothing.
        name: a label for the run record's config (e.g. your model's name).
        eval_mode: run the probes with the model in eval mode (dropout off, BatchNorm on its running
            statistics); the train/eval flags are restored afterwards either way.

    Attributes:
        history: one row ``{"step": int, "probe": str, "value": float}`` per measured value, in order.
        run_id: the id of the stored record once :meth:`close` wrote one, else None.
    """

    def __init__(
        self,
        model: nn.Module,
        probes: Mapping[str, Probe],
        every: int = 100,
        store: str | Path | Store | None = None,
        name: str = "monitor",
        *,
        eval_mode: bool = False,
    ):
        if not isinstance(model, nn.Module):
            raise UserError(f"Monitor needs an nn.Module to probe, got {type(model).__name__}.")
        if not isinstance(probes, Mapping) or not probes:
            raise UserError("probes must be a non-empty dict name -> probe(model, batch, **context).")
        for key, probe in probes.items():
            if not isinstance(key, str) or not key or "." in key:
                raise UserError(f"probe names must be non-empty strings without '.', got {key!r}.")
            if not callable(probe):
                raise UserError(f"probe {key!r} is not callable; give a function probe(model, batch, **context).")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise UserError(f"every must be a positive integer (steps between measurements), got {every!r}.")
        if store is not None and not isinstance(store, str | Path | Store):
            raise UserError(f"store must be a store root (str or Path) or a Store, got {type(store).__name__}.")
        if not isinstance(name, str) or not name:
            raise UserError(f"name must be a non-empty string, got {name!r}.")
        self.model = model
        self.probes = dict(probes)
        self.every = every
        self.store = Store(store) if isinstance(store, str | Path) else store
        self.name = name
        self.eval_mode = bool(eval_mode)
        self.history: list[dict[str, Any]] = []
        self.run_id: str | None = None
        self._wants_step = {key: _accepts_step(p) for key, p in self.probes.items()}
        self._last_step: int | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Monitor({self.name!r}, probes={list(self.probes)}, every={self.every}, measured={len(self.steps)})"

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def step(self, step: int, batch: Any = None, **context: Any) -> dict[str, float] | None:
        """Measure every probe if ``step % every == 0``; return ``{curve name: value}`` then, else None.

        ``batch`` (e.g. ``(inputs, targets)``) and ``context`` are handed to every probe. A step equal to the
        last measured one is skipped (None): trainers repeat their step counter during gradient accumulation.
        Non-finite values are recorded as they are. The model, its gradients and the global RNGs are left as
        they were (see the module docstring); a probe that raises leaves them restored too.
        """
        if self._closed:
            raise UserError("this Monitor is closed; create a new one to keep measuring.")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise UserError(f"step must be a non-negative integer, got {step!r}.")
        step = int(step)
        if step % self.every or step == self._last_step:
            return None
        measured: dict[str, float] = {}
        snapshot = _Snapshot(self.model)
        try:
            for key, probe in self.probes.items():
                kwargs = {**context, "step": step} if self._wants_step[key] else context
                try:
                    if self.eval_mode:
                        self.model.eval()
                    with torch.enable_grad():  # curvature and kernel probes differentiate
                        value = probe(self.model, batch, **kwargs)
                finally:
                    snapshot.restore()
                measured.update(_values(key, value))
        finally:
            snapshot.release()
        self._last_step = step
        self.history.extend({"step": step, "probe": k, "value": v} for k, v in measured.items())
        return measured

    @property
    def names(self) -> list[str]:
        """The curve names measured so far, in order of first appearance (``"probe"`` or ``"probe.key"``)."""
        return list(dict.fromkeys(row["probe"] for row in self.history))

    @property
    def steps(self) -> list[int]:
        """The steps at which the probes ran, in order."""
        return list(dict.fromkeys(row["step"] for row in self.history))

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of one curve: a probe name, or ``"probe.key"`` for a dict-valued probe."""
        steps = [row["step"] for row in self.history if row["probe"] == name]
        if steps:
            return steps, [row["value"] for row in self.history if row["probe"] == name]
        keys = [n for n in self.names if n.startswith(f"{name}.")]
        if keys:
            raise UserError(f"probe {name!r} returns several values; ask for one of {keys}.")
        if name in self.probes:
            return [], []
        raise UserError(f"no curve {name!r}; the curves are {self.names or list(self.probes)}.")

    def curves(self) -> dict[str, tuple[list[int], list[float]]]:
        """Every curve, name -> ``(steps, values)`` (the form of a run record's metrics)."""
        return {n: self.curve(n) for n in self.names}

    def summary(self) -> dict[str, float]:
        """The last measured value of every curve."""
        return {n: values[-1] for n, (_, values) in self.curves().items()}

    def figure(self):
        """A matplotlib figure with one panel per probe (one line per key of a dict-valued probe) against the
        step; a panel whose values are all positive and span more than two decades uses a log axis."""
        from phenomena.report import PALETTE, subplots

        cols = min(3, len(self.probes))
        rows = -(-len(self.probes) // cols)
        fig, axes = subplots(rows, cols)
        colors = list(PALETTE.values())
        for ax, key in zip(axes.flat, self.probes, strict=False):
            lines = [n for n in self.names if n == key or n.startswith(f"{key}.")]
            finite = []
            for i, n in enumerate(lines):
                steps, values = self.curve(n)
                label = n[len(key) + 1 :] if n != key else None
                ax.plot(steps, values, marker="o", markersize=2.5, color=colors[i % len(colors)], label=label)
                finite += [v for v in values if math.isfinite(v)]
            if finite and min(finite) > 0 and max(finite) > 100 * min(finite):
                ax.set_yscale("log")
            if lines and lines != [key]:  # a dict-valued probe: name its keys
                ax.legend()
            if not lines:
                ax.text(0.5, 0.5, "not measured yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(key)
            ax.set_xlabel("step")
        for ax in list(axes.flat)[len(self.probes) :]:
            ax.set_visible(False)
        fig.suptitle(self.name)
        fig.tight_layout()
        return fig

    def close(self) -> str | None:
        """Finish: with a store, write one run record and its figure and return the run id (else None).

        The record has experiment ``"monitor"``, preset None, config ``{"name", "every", "probes",
        "eval_mode"}``, the curves as metrics and the last value of each as summary; the figure is
        ``figure.png`` in the run's folder. Closing again returns the same id and writes nothing.
        """
        if self._closed:
            return self.run_id
        self._closed = True
        if self.store is None:
            return None
        from phenomena.report import save

        run_id = uuid.uuid4().hex[:12]
        config = {"name": self.name, "every": self.every, "probes": list(self.probes), "eval_mode": self.eval_mode}
        folder = self.store.begin(run_id, "monitor", None, config, environment=_environment())
        try:
            save(self.figure(), folder / "figure.png")
        except BaseException as e:
            self.store.finish(run_id, "failed", error=f"the figure could not be drawn: {e}")
            raise
        self.store.finish(run_id, "finished", summary=self.summary(), metrics=self.curves())
        self.run_id = run_id
        return run_id


def _accepts_step(probe: Probe) -> bool:
    try:
        params = inspect.signature(probe).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD or (p.name == "step" and p.kind is not p.POSITIONAL_ONLY) for p in params)


def _number(value: Any, what: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise UserError(f"{what} returned a tensor of shape {tuple(value.shape)}; return a float.")
        return float(value.detach().item())
    if isinstance(value, numbers.Real | np.number):
        return float(value)
    raise UserError(f"{what} returned a {type(value).__name__}; a probe returns a float or a dict of floats.")


def _values(key: str, value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        if not value:
            raise UserError(f"probe {key!r} returned an empty dict.")
        return {f"{key}.{k}": _number(v, f"probe {key!r} (key {k!r})") for k, v in value.items()}
    return {key: _number(value, f"probe {key!r}")}


def _environment() -> dict[str, Any]:
    from phenomena import __version__

    return {
        "phenomena": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "threads": torch.get_num_threads(),
    }


class _Snapshot:
    """Everything a probe could change about the model and the process's random state, and its restoration."""

    def __init__(self, model: nn.Module):
        self.modes = [(m, m.training) for m in model.modules()]
        self.tables: list[tuple[dict, dict]] = []  # (module._parameters or ._buffers, a copy of its entries)
        self.values: dict[int, tuple[Tensor, Tensor, bool]] = {}  # id -> (tensor, saved value, requires_grad)
        self.grads: dict[int, tuple[Tensor, Tensor | None, Tensor | None]] = {}  # id -> (param, grad, saved)
        with torch.no_grad():
            for m in model.modules():
                for table in (m._parameters, m._buffers):
                    self.tables.append((table, dict(table)))
                    for t in table.values():
                        if t is None or id(t) in self.values:
                            continue
                        self.values[id(t)] = (t, t.detach().clone(), t.requires_grad)
                        if isinstance(t, nn.Parameter):
                            g = t.grad
                            self.grads[id(t)] = (t, g, None if g is None else g.detach().clone())
        self.grad_enabled = torch.is_grad_enabled()
        self.dtype = torch.get_default_dtype()
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.python_rng = random.getstate()
        self.numpy_rng = np.random.get_state()

    def restore(self) -> None:
        """Put everything back (in place where the same tensor objects are still there)."""
        torch.set_grad_enabled(self.grad_enabled)
        torch.set_default_dtype(self.dtype)
        for m, flag in self.modes:
            m.training = flag
        for table, saved in self.tables:  # the same tensor objects under the same names, in the same order
            if list(table) != list(saved) or any(table[k] is not v for k, v in saved.items()):
                table.clear()
                table.update(saved)
        with torch.no_grad():
            for t, saved, requires_grad in self.values.values():
                if t.requires_grad != requires_grad:
                    t.requires_grad_(requires_grad)
                if not _same(t, saved):
                    t.copy_(saved)
            for p, grad, saved in self.grads.values():
                if grad is None:
                    p.grad = None
                    continue
                if not _same(grad, saved):
                    grad.copy_(saved)
                if p.grad is not grad:
                    p.grad = grad
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        random.setstate(self.python_rng)
        np.random.set_state(self.numpy_rng)

    def release(self) -> None:
        """Drop the saved copies."""
        self.values.clear()
        self.grads.clear()
        self.tables.clear()


def _same(t: Tensor, saved: Tensor) -> bool:
    """Equality with NaNs equal to NaNs, so an unchanged tensor is not rewritten (its version stays)."""
    if t.shape != saved.shape or t.dtype != saved.dtype:
        return False
    if t.is_floating_point() or t.is_complex():
        return bool(((t == saved) | (torch.isnan(t) & torch.isnan(saved))).all())
    return bool(torch.equal(t, saved))


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


__all__ = [
    "Monitor",
    "cka_to",
    "effective_rank",
    "hessian_trace",
    "neural_collapse",
    "ntk_alignment",
    "ntk_velocity",
    "sharpness",
]


def to_device(batch: Any, device) -> Any:
    """``batch`` (a tensor, or tuples, lists and dicts of them) moved to ``device``; other values as they are."""
    if hasattr(batch, "to") and callable(batch.to) and not isinstance(batch, type):
        return batch.to(device)
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
