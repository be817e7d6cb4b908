"""The Python API: ``run``, ``sweep``, ``load``, ``load_sweep``, ``runs``, ``list_experiments``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from phenomena.catalog import EXPERIMENTS, describe
from phenomena.result import Result
from phenomena.runner.execute import execute, record_to_result
from phenomena.runner.execute import load as _load
from phenomena.runner.sweep import sweep as sweep
from phenomena.runner.sweep_result import SweepResult as SweepResult
from phenomena.runner.sweep_result import load_sweep as load_sweep
from phenomena.store import Store


def run(
    name: str,
    preset: str = "quick",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    seed: int | None = None,
    force: bool = False,
    store: str | Path | Store | None = None,
    progress: bool = True,
    workers: int = 1,
) -> Result:
    """Reproduce the phenomenon ``name`` and return its :class:`Result` (verdict, summary, curves, figure).

    >>> res = run("grokking", preset="smoke", overrides={"train.weight_decay": 0.0})
    >>> res.verdict.passed, res.summary["t_gen"], res.figure_path

    ``overrides`` are dotted keys (``{"train.lr": 3e-3}`` or ``["train.lr=3e-3"]``); ``store`` is the store root
    (default ``$PHENOMENA_HOME`` or ``./phenomena-runs``). A finished run of the same config is loaded from the
    store instead of recomputed unless ``force=True``. Raises :class:`phenomena.UserError` for bad input and
    :class:`phenomena.errors.DivergedError` when training diverges (the run is recorded as diverged).
    ``workers`` > 1 lets a run spread independent pieces over processes (double-descent's widths).
    """
    return execute(name, preset, overrides, seed=seed, force=force, store=_store(store), progress=progress,
                   workers=workers)  # fmt: skip


def load(run_id: str, store: str | Path | Store | None = None) -> Result:
    """A stored run by id (or unique id prefix)."""
    return _load(run_id, _store(store))


def runs(experiment: str | None = None, store: str | Path | Store | None = None) -> list[Result]:
    """All stored runs, newest first (optionally of one experiment)."""
    s = _store(store)
    return [record_to_result(r, s) for r in s.runs(experiment)]


def list_experiments() -> list[dict[str, Any]]:
    """The catalog: name, one-line summary, papers, presets with their cost."""
    return [describe(name) for name in EXPERIMENTS]


def _store(store: str | Path | Store | None) -> Store:
    return store if isinstance(store, Store) else Store(store)
