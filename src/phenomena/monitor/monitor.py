"""The Monitor: named probes every k steps of any training loop, their curves, figure and run record."""

from __future__ import annotations

import inspect
import math
import numbers
import platform
import socket
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phenomena.errors import UserError
from phenomena.monitor.snapshot import Snapshot
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
        snapshot = Snapshot(self.model)
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
