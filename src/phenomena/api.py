"""The Python API: ``run``, ``sweep``, ``verify``, ``recheck_calibration``, ``load``, ``load_sweep``, ``runs``,
``list_experiments``, ``config``.

Each call resolves an experiment's name to its catalog :class:`~phenomena.experiment.Entry` and hands the Entry
to the runner (which never imports the catalog).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from phenomena.catalog import ENTRIES, get_entry, listing
from phenomena.config import FieldInfo, describe_fields
from phenomena.errors import UserError
from phenomena.result import Result
from phenomena.runner.calibration import Recheck as Recheck
from phenomena.runner.calibration import recheck_calibration as _recheck_calibration
from phenomena.runner.execute import execute as _execute
from phenomena.runner.execute import load as _load
from phenomena.runner.execute import record_to_result, stored_figure
from phenomena.runner.sweep import sweep as _sweep
from phenomena.runner.sweep_result import SweepResult as SweepResult
from phenomena.runner.sweep_result import load_sweep as _load_sweep
from phenomena.runner.verify import Verification as Verification
from phenomena.runner.verify import verify as _verify
from phenomena.store import Store

StoreLike = str | Path | Store | None


def run(
    name: str,
    preset: str = "quick",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    seed: int | None = None,
    force: bool = False,
    store: StoreLike = None,
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
    entry = get_entry(name)
    entry.resolve(preset, overrides, seed)  # bad input fails here, before a store is created
    return _execute(
        entry,
        preset,
        overrides,
        seed=seed,
        force=force,
        store=_store(store),
        progress=progress,
        workers=workers,
    )


def sweep(
    name: str,
    grid: Mapping[str, Any],
    seeds: int | Sequence[int] = 1,
    executor: str = "process",
    workers: int | None = None,
    preset: str = "quick",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    force: bool = False,
    store: StoreLike = None,
    progress: bool = True,
    ray_address: str | None = None,
    on_start: Callable | None = None,
) -> SweepResult:
    """Run ``name`` at every point of ``grid`` x ``seeds`` and return the :class:`SweepResult`.

    >>> res = sweep("grokking", grid={"train.weight_decay": [0, 1, 2]}, seeds=3, preset="smoke")
    >>> print(res.table()); res.figure()

    ``grid`` maps dotted config keys to lists of values; ``seeds`` is a count N (seeds 0..N-1) or a list;
    ``overrides`` are fixed for every point. ``executor`` is ``serial`` (this process), ``process`` (a local
    pool of ``workers`` processes, default one per core) or ``ray`` (``ray_address`` joins a cluster). Every
    point is validated before anything runs (UserError otherwise); finished runs are reused unless ``force``;
    a run that diverges or fails is recorded so and the sweep goes on. In a script, call it under
    ``if __name__ == "__main__":`` (process workers re-import the script).
    """
    return _sweep(
        get_entry(name),
        grid,
        seeds=seeds,
        executor=executor,
        workers=workers,
        preset=preset,
        overrides=overrides,
        force=force,
        store=_store(store),
        progress=progress,
        ray_address=ray_address,
        on_start=on_start,
        lookup=get_entry,
    )


def verify(
    names: Sequence[str] | None = None,
    preset: str = "quick",
    seeds: int | Sequence[int] = 3,
    executor: str = "process",
    workers: int | None = None,
    force: bool = False,
    store: StoreLike = None,
    progress: bool = True,
    ray_address: str | None = None,
    on_start: Callable | None = None,
) -> Verification:
    """Run each named entry (default: the whole catalog) at ``preset`` on held-out ``seeds`` (a count N means
    0..N-1) together with its declared controls, and return the :class:`Verification` (``.passed``,
    ``.table()``): an entry passes when its verdict holds on >= 80% of the seeds and each control fails the checks
    it names on >= 80%. Runs go through the sweep machinery (resumable, finished runs reused); the result is
    stored.

    >>> v = verify(["grokking"], seeds=3); print(v.table()); v.passed
    """
    entries = [get_entry(n) for n in (names or list(ENTRIES))]
    return _verify(
        entries,
        preset,
        seeds,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        force=force,
        store=_store(store),
        progress=progress,
        on_start=on_start,
    )


def recheck_calibration(
    names: Sequence[str] | None = None,
    preset: str = "quick",
    executor: str = "process",
    workers: int | None = None,
    force: bool = False,
    store: StoreLike = None,
    progress: bool = True,
    ray_address: str | None = None,
) -> list[Recheck]:
    """For maintainers, after a change that re-draws an entry's runs: each named entry (default: the whole
    catalog) at ``preset`` with its controls on its own calibration seeds, judged as :func:`verify` judges, and
    its recorded ``Calibration.observed`` values against today's; one :class:`Recheck` (``.passed``,
    ``.table()``) per set of calibration seeds. Not a verification (those seeds chose the thresholds): nothing
    is stored as one.
    """
    entries = [get_entry(n) for n in (names or list(ENTRIES))]
    return _recheck_calibration(
        entries,
        preset,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        force=force,
        store=_store(store),
        progress=progress,
    )


def load(run_id: str, store: StoreLike = None) -> Result:
    """A stored run by id (or unique id prefix)."""
    return _load(run_id, _store(store), get_entry)


def figure(run_id: str, store: StoreLike = None) -> Path | None:
    """The figure (PNG path) of a stored run by id or unique prefix, drawn now from the stored result if the run
    was recorded without one (``phenomena verify`` leaves its runs' figures to be drawn when first shown); None
    for a run that did not finish."""
    s = _store(store)
    record = s.get(run_id)
    if record is None:
        raise UserError(f"no stored run {run_id!r} in {s.root} (see `phenomena runs`)")
    return stored_figure(s, record, get_entry)


def load_sweep(sweep_id: str, store: StoreLike = None) -> SweepResult:
    """A stored sweep by id (or unique id prefix), with the current state of its runs."""
    return _load_sweep(sweep_id, _store(store), get_entry)


def runs(experiment: str | None = None, store: StoreLike = None) -> list[Result]:
    """All stored runs, newest first (optionally of one experiment)."""
    s = _store(store)
    return [record_to_result(r, s, get_entry) for r in s.runs(experiment)]


def list_experiments() -> list[dict[str, Any]]:
    """The catalog: name, one-line summary, papers, presets with their cost, published presets."""
    return listing()


def config(name: str, preset: str = "quick") -> list[FieldInfo]:
    """Every dotted key of ``name``'s config at ``preset``: type, value, constraints and help."""
    return describe_fields(get_entry(name).resolve(preset))


def presets(name: str) -> dict[str, Any]:
    """``name``'s presets (preset -> resolved config)."""
    return dict(get_entry(name).presets)


def _store(store: StoreLike) -> Store:
    return store if isinstance(store, Store) else Store(store)
