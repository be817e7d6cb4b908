"""Run one experiment: resolve its config, reuse a finished run or train, judge, draw, and record it.

The pieces are separate so that a sweep can put them in different processes: :func:`resolve` and the store
writes (``store.begin``, :func:`finish_run`) happen in the driving process, :func:`compute` (train and judge)
in a worker, which hands back a picklable :class:`Result`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from phenomena import __version__
from phenomena.config import from_dict, to_dict
from phenomena.errors import DivergedError, UserError
from phenomena.experiment import Entry, RunContext
from phenomena.result import Result, Series, Verdict, decode_float
from phenomena.runner.collect import collect_only_new
from phenomena.store import RunRecord, Store
from phenomena.store.sqlite import HEARTBEAT_SECONDS

Lookup = Callable[[str], Entry]  # experiment name -> its Entry (the catalog's, handed down by the api)


def environment(seed: int) -> dict[str, Any]:
    """Versions, host and threads: what is needed to judge whether two runs are comparable."""
    import numpy
    import torch

    return {
        "phenomena": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "argv": sys.argv,
    }


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to compute one run; picklable (the config is a frozen dataclass).

    ``module`` names the module that defines the Entry (``ENTRY``), so a worker imports it directly and does not
    depend on the registry of the process that made the spec. ``artifacts`` is the run's folder (created by
    ``store.begin``), ``cache`` the store's shared cache folder, ``shared`` the folder of the pieces that the runs
    computed together share (``RunContext.shared``; None: nothing is shared).
    """

    experiment: str
    module: str
    config: Any
    run_id: str
    artifacts: str
    cache: str
    shared: str | None = None


def resolve(
    entry: Entry, preset: str = "quick", overrides: Mapping[str, Any] | Iterable[str] = (), seed: int | None = None
) -> tuple[Any, str]:
    """The resolved config and the run id of one run of ``entry``; raises UserError on bad input (the config's
    own rules, then the entry's ``preflight``)."""
    cfg = entry.resolve(preset, overrides, seed)
    if entry.preflight is not None:
        entry.preflight(cfg)
    return cfg, entry.run_id(cfg, __version__)


def compute(entry: Entry, cfg: Any, ctx: RunContext) -> Result:
    """Train and judge one run (``run(cfg, ctx)`` then ``verdict``); touches neither the store nor the figure.

    The one place a run is timed (``summary["wall_seconds"]``). This is the part of a run that a sweep worker
    executes; exceptions (DivergedError included) propagate. While the entry runs, the garbage collector skips
    the objects that existed before it (:func:`~phenomena.runner.collect.collect_only_new`).
    """
    start = time.perf_counter()
    with collect_only_new():
        result = entry.run(cfg, ctx)
    result.run_id = ctx.run_id
    result.summary["wall_seconds"] = time.perf_counter() - start
    result.verdict = entry.judge(result)
    result.entry = entry
    return result


def finish_run(
    store: Store, entry: Entry, result: Result, environment: dict | None = None, figure: bool = True
) -> Result:
    """Draw the figure of a computed run into its folder (unless ``figure`` is false: it is then drawn when first
    shown, :func:`stored_figure`) and record the run as finished (one transaction).

    Runs in the process that owns the store (the sweep driver), never in a worker.
    """
    result.entry = entry
    if figure:
        draw_figure(store, result)
    result.artifacts = {**result.artifacts, "record": str(store.path)}
    metrics = {k: (s.steps, s.values) for k, s in result.series.items()}
    store.finish(
        result.run_id,
        "finished",
        result.summary,
        _verdict_with_artifacts(result),
        metrics=metrics,
        environment=environment,
    )
    return result


def draw_figure(store: Store, result: Result) -> Path:
    """Draw the figure of ``result`` (whose ``entry`` is set) into its run folder as ``figure.png``; the path."""
    from phenomena.report import save

    path = store.run_dir(result.run_id) / "figure.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    save(result.entry.figure(result), path)
    result.artifacts = {**result.artifacts, "figure": str(path)}
    return path


def stored_figure(store: Store, record: RunRecord, lookup: Lookup) -> Path | None:
    """The figure of a stored run: its ``figure.png``, drawn now from the stored result if the run was recorded
    without one (``phenomena verify`` leaves its runs' figures to be drawn when first shown). None for a run that
    did not finish or whose experiment is not in the catalog; the figure's own error propagates."""
    path = store.run_dir(record.id) / "figure.png"
    if path.is_file():
        return path
    if record.status != "finished":
        return None
    result = record_to_result(record, store, lookup)
    return draw_figure(store, result) if result.entry is not None else None


def execute(
    entry: Entry,
    preset: str = "quick",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    seed: int | None = None,
    force: bool = False,
    store: Store | None = None,
    progress: bool = True,
    sweep: str | None = None,
    workers: int = 1,
) -> Result:
    """Run ``entry`` and record it in ``store``; return its :class:`Result`.

    User errors (unknown experiment, preset or key; ill-typed or impossible values) are raised as
    :class:`UserError` before anything is written. A finished run with the same id is loaded, not recomputed,
    unless ``force``. ``workers``: processes the run may use for independent pieces (``RunContext.map``; only
    some entries have such pieces, e.g. double-descent's widths). A run that diverges is recorded as
    ``diverged`` and raises :class:`DivergedError`; any other exception marks it ``failed`` (with the traceback)
    and propagates.
    """
    cfg, rid = resolve(entry, preset, overrides, seed)
    if not (isinstance(workers, int) and workers >= 1):
        raise UserError(f"workers must be a positive integer; got {workers!r}")
    store = store if store is not None else Store()
    existing = store.get(rid)
    if existing is not None and existing.id == rid and existing.status == "finished" and not force:
        result = record_to_result(existing, store, lambda _: entry)
        result.meta["reused"] = True
        return result

    env = environment(cfg.seed)
    folder = store.begin(rid, entry.name, preset, to_dict(cfg), env, sweep=sweep)
    ctx = RunContext(
        rid, cfg.seed, folder, store.cache_dir, show_progress=progress, workers=workers, experiment=entry.name
    )
    try:
        with Heartbeat(store, [rid]):
            result = compute(entry, cfg, ctx)
    except DivergedError as e:
        store.finish(rid, "diverged", error=str(e))
        e.run_id = rid
        raise
    except UserError:
        # bad input only the run could see (e.g. a truncated data file): it never really started
        store.delete(rid)
        raise
    except KeyboardInterrupt:
        store.interrupt()
        raise
    except BaseException as e:
        store.finish(rid, "failed", error="".join(traceback.format_exception(e)))
        raise
    try:
        finish_run(store, entry, result)
    except BaseException as e:
        store.finish(rid, "failed", error="".join(traceback.format_exception(e)))
        raise
    result.meta["environment"] = env
    return result


class Heartbeat:
    """While open, a daemon thread tells the store every ``HEARTBEAT_SECONDS`` that this process still computes
    ``run_ids`` (so another process can tell a live ``running`` row from a stale one)."""

    def __init__(self, store: Store, run_ids: Iterable[str]):
        self.store, self.run_ids = store, list(run_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="phenomena-heartbeat")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):  # a busy or vanished store must not kill the run; retried next beat
                self.store.heartbeat(self.run_ids)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _verdict_with_artifacts(result: Result) -> dict:
    return {**result.verdict.to_dict(), "artifacts": result.artifacts}


def record_to_result(record: RunRecord, store: Store, lookup: Lookup) -> Result:
    """Rebuild a :class:`Result` from a stored record and its metrics (``lookup`` finds the record's Entry)."""
    try:
        entry = lookup(record.experiment)
    except UserError:  # a record written outside the catalog (e.g. a Monitor's): its config stays a dict
        entry = None
    config = record.config if entry is None else from_dict(entry.config, record.config)
    verdict_dict = dict(record.verdict or {})
    artifacts = verdict_dict.pop("artifacts", {})
    drawn = store.run_dir(record.id) / "figure.png"  # drawn after the run was recorded (stored_figure)
    if "figure" not in artifacts and drawn.is_file():
        artifacts = {**artifacts, "figure": str(drawn)}
    series = {k: Series(s, v) for k, (s, v) in store.metrics(record.id).items()}
    summary = {k: decode_float(v) for k, v in (record.summary or {}).items()}
    return Result(
        experiment=record.experiment,
        config=config,
        summary=summary,
        series=series,
        verdict=Verdict.from_dict(verdict_dict) if verdict_dict else None,
        artifacts=artifacts,
        run_id=record.id,
        status=record.status,
        meta={"environment": record.environment, "error": record.error, "preset": record.preset},
        entry=entry,
    )


def load(run_id_or_prefix: str, store: Store, lookup: Lookup) -> Result:
    """The stored run with this id (or unique id prefix) as a :class:`Result`."""
    record = store.get(run_id_or_prefix)
    if record is None:
        raise UserError(f"no stored run {run_id_or_prefix!r} in {store.root} (see `phenomena runs`)")
    return record_to_result(record, store, lookup)
