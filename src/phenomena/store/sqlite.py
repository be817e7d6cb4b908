"""The run store: one SQLite file (WAL) of run records and long-format metrics, plus a folder per run.

Layout under the store root (``PHENOMENA_HOME``, default ``./phenomena-runs``)::

    phenomena.db          runs(id, experiment, preset, config, status, ...), metrics(run, name, step, value),
                          sweeps(id, experiment, preset, grid, seeds, ...), sweep_runs(sweep, point, seed, run)
    runs/<run_id>/        artifacts: figure.png, checkpoints (.safetensors), ...
    sweeps/<sweep_id>/    the sweep figure
    cache/                derived data sets (e.g. MNIST-1D arrays), safe to delete; $PHENOMENA_CACHE moves it

A run is written in two transactions: ``begin`` records it as ``running``; ``finish`` writes its metrics,
summary, verdict and status in one transaction, so a run killed in between stays ``running`` (or ``failed``)
and never appears ``finished`` with half its data.

A sweep is a row in ``sweeps`` plus its members in ``sweep_runs`` (grid point index, seed, run id). Membership
is many-to-many: a run shared by two sweeps (same config) is computed once and listed by both. Only the process
that drives a sweep writes; workers compute and hand their results back.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from phenomena.result import encode_float

STATUSES = ("running", "finished", "failed", "diverged")
# running (in progress, or killed), finished (every run finished), incomplete (some runs diverged or failed),
# interrupted (stopped by the user or by an error in the driving process)
SWEEP_STATUSES = ("running", "finished", "incomplete", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT,
    config      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'diverged')),
    created     REAL NOT NULL,
    finished    REAL,
    summary     TEXT,
    verdict     TEXT,
    environment TEXT,
    error       TEXT,
    sweep       TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name  TEXT NOT NULL,
    step  INTEGER NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run, name, step);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, created);
CREATE TABLE IF NOT EXISTS sweeps (
    id          TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT,
    grid        TEXT NOT NULL,
    seeds       TEXT NOT NULL,
    overrides   TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'incomplete', 'interrupted')),
    created     REAL NOT NULL,
    finished    REAL
);
CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    point INTEGER NOT NULL,
    seed  INTEGER NOT NULL,
    run   TEXT NOT NULL,
    PRIMARY KEY (sweep, point, seed)
);
CREATE INDEX IF NOT EXISTS sweep_runs_by_run ON sweep_runs(run);
CREATE TABLE IF NOT EXISTS verifications (
    id        TEXT PRIMARY KEY,
    preset    TEXT NOT NULL,
    seeds     TEXT NOT NULL,
    names     TEXT NOT NULL,
    passed    INTEGER,
    created   REAL NOT NULL,
    result    TEXT NOT NULL
);
"""


def default_root() -> Path:
    """``$PHENOMENA_HOME`` if set, else ``./phenomena-runs``."""
    return Path(os.environ.get("PHENOMENA_HOME", "phenomena-runs"))


@dataclass
class RunRecord:
    """One row of the runs table, with JSON columns decoded."""

    id: str
    experiment: str
    preset: str | None
    config: dict
    status: str
    created: float
    finished: float | None
    summary: dict | None
    verdict: dict | None
    environment: dict | None
    error: str | None
    sweep: str | None


@dataclass
class SweepRecord:
    """One row of the sweeps table, with JSON columns decoded; ``members`` are (point, seed, run id)."""

    id: str
    experiment: str
    preset: str | None
    grid: dict
    seeds: list
    overrides: dict
    status: str
    created: float
    finished: float | None
    members: list[tuple[int, int, str]]


class Store:
    """Run records, metrics and artifact folders under one root directory.

    >>> store = Store("phenomena-runs")
    >>> store.begin("abc123", "grokking", "quick", {"seed": 0}, environment={})
    >>> store.finish("abc123", "finished", summary={...}, verdict={...}, metrics={"loss": ([0, 10], [1.0, .5])})
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "phenomena.db"
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- paths ---------------------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """The artifacts folder of a run (not created)."""
        return self.root / "runs" / run_id

    def sweep_dir(self, sweep_id: str) -> Path:
        """The folder of a sweep's figure (not created)."""
        return self.root / "sweeps" / sweep_id

    @property
    def cache_dir(self) -> Path:
        """Derived data sets (generated MNIST-1D arrays, ...): ``$PHENOMENA_CACHE`` if set, so several stores
        can share one cache, else ``<root>/cache``. Entries are keyed by every argument and written atomically."""
        path = Path(os.environ["PHENOMENA_CACHE"]) if os.environ.get("PHENOMENA_CACHE") else self.root / "cache"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- writes --------------------------------------------------------------------------------------------
    def begin(
        self,
        run_id: str,
        experiment: str,
        preset: str | None,
        config: dict,
        environment: dict,
        sweep: str | None = None,
    ) -> Path:
        """Record a run as ``running`` (replacing any earlier record and metrics of that id); returns its folder."""
        with self._transaction() as db:
            db.execute("DELETE FROM metrics WHERE run = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            db.execute(
                "INSERT INTO runs (id, experiment, preset, config, status, created, environment, sweep) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, experiment, preset, json.dumps(config), time.time(), json.dumps(environment), sweep),
            )
        folder = self.run_dir(run_id)
        if folder.exists():  # artifacts of an earlier attempt (--force or a crashed run) are stale
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def finish(
        self,
        run_id: str,
        status: str,
        summary: dict | None = None,
        verdict: dict | None = None,
        metrics: dict[str, tuple[Iterable[int], Iterable[float]]] | None = None,
        error: str | None = None,
        environment: dict | None = None,
    ) -> None:
        """Write a run's outcome (status, summary, verdict, all metric rows) in one transaction.

        ``environment``, if given, replaces the one recorded by :meth:`begin` (a sweep worker reports its own
        host and thread count).
        """
        if status not in STATUSES or status == "running":
            raise ValueError(f"finish status must be one of finished, failed, diverged; got {status!r}")
        rows = [
            (run_id, name, int(step), _finite_or_none(value))
            for name, (steps, values) in (metrics or {}).items()
            for step, value in zip(steps, values, strict=True)
        ]
        with self._transaction() as db:
            found = db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
            if not found:
                raise KeyError(f"no run {run_id!r} to finish")
            db.execute("DELETE FROM metrics WHERE run = ?", (run_id,))
            db.executemany("INSERT INTO metrics (run, name, step, value) VALUES (?, ?, ?, ?)", rows)
            db.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ?, verdict = ?, error = ? WHERE id = ?",
                (
                    status,
                    time.time(),
                    None if summary is None else json.dumps(_json_safe(summary)),
                    None if verdict is None else json.dumps(verdict),
                    error,
                    run_id,
                ),
            )
            if environment is not None:
                db.execute("UPDATE runs SET environment = ? WHERE id = ?", (json.dumps(environment), run_id))

    def delete(self, run_id: str) -> None:
        """Remove a run, its metrics and its folder (used when a run turns out never to have started)."""
        with self._transaction() as db:
            db.execute("DELETE FROM metrics WHERE run = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        """The record of a run by full id or unique prefix (None if absent or ambiguous)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY created", (_escape_like(run_id) + "%",)
            ).fetchall()
        if len(rows) != 1:
            exact = [r for r in rows if r[0] == run_id]
            rows = exact
        return _record(rows[0]) if len(rows) == 1 else None

    def runs(
        self, experiment: str | None = None, status: str | None = None, sweep: str | None = None
    ) -> list[RunRecord]:
        """All runs, newest first, optionally filtered by experiment, status and sweep (a full sweep id)."""
        query, args = "SELECT * FROM runs WHERE 1=1", []
        if experiment:
            query, args = query + " AND experiment = ?", [*args, experiment]
        if status:
            query, args = query + " AND status = ?", [*args, status]
        if sweep:
            query, args = query + " AND id IN (SELECT run FROM sweep_runs WHERE sweep = ?)", [*args, sweep]
        with self._connect() as db:
            return [_record(r) for r in db.execute(query + " ORDER BY created DESC", args).fetchall()]

    def metrics(self, run_id: str) -> dict[str, tuple[list[int], list[float]]]:
        """All metric curves of a run: name -> (steps, values); unmeasured values come back as nan."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, step, value FROM metrics WHERE run = ? ORDER BY name, step", (run_id,)
            ).fetchall()
        out: dict[str, tuple[list[int], list[float]]] = {}
        for name, step, value in rows:
            steps, values = out.setdefault(name, ([], []))
            steps.append(step)
            values.append(math.nan if value is None else value)
        return out

    def records(self, run_ids: Iterable[str]) -> dict[str, RunRecord]:
        """The records of these exact run ids (absent ones are left out): id -> record."""
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, RunRecord] = {}
        with self._connect() as db:
            for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.execute(f"SELECT * FROM runs WHERE id IN ({marks})", chunk).fetchall():
                    out[row[0]] = _record(row)
        return out

    # -- sweeps --------------------------------------------------------------------------------------------
    def begin_sweep(
        self,
        sweep_id: str,
        experiment: str,
        preset: str | None,
        grid: dict,
        seeds: list[int],
        overrides: dict,
        members: Iterable[tuple[int, int, str]],
    ) -> None:
        """Record a sweep as ``running`` with its members (point, seed, run id), in one transaction.

        Starting a sweep that exists (a rerun, e.g. to resume) keeps its creation time and replaces its members.
        """
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sweeps (id, experiment, preset, grid, seeds, overrides, status, created) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', ?) "
                "ON CONFLICT(id) DO UPDATE SET status = 'running', finished = NULL, grid = excluded.grid",
                (sweep_id, experiment, preset, json.dumps(grid), json.dumps(seeds), json.dumps(overrides), time.time()),
            )
            db.execute("DELETE FROM sweep_runs WHERE sweep = ?", (sweep_id,))
            db.executemany(
                "INSERT INTO sweep_runs (sweep, point, seed, run) VALUES (?, ?, ?, ?)",
                [(sweep_id, int(point), int(seed), run) for point, seed, run in members],
            )

    def finish_sweep(self, sweep_id: str, status: str) -> None:
        """Set a sweep's final status (finished, incomplete or interrupted)."""
        if status not in SWEEP_STATUSES or status == "running":
            raise ValueError(f"finish_sweep status must be one of finished, incomplete, interrupted; got {status!r}")
        with self._transaction() as db:
            db.execute("UPDATE sweeps SET status = ?, finished = ? WHERE id = ?", (status, time.time(), sweep_id))

    def get_sweep(self, sweep_id: str) -> SweepRecord | None:
        """A sweep by full id or unique prefix (None if absent or ambiguous), with its members."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM sweeps WHERE id LIKE ? ESCAPE '\\' ORDER BY created", (_escape_like(sweep_id) + "%",)
            ).fetchall()
            if len(rows) != 1:
                rows = [r for r in rows if r[0] == sweep_id]
            if len(rows) != 1:
                return None
            members = db.execute(
                "SELECT point, seed, run FROM sweep_runs WHERE sweep = ? ORDER BY point, seed", (rows[0][0],)
            ).fetchall()
        return _sweep_record(rows[0], [tuple(m) for m in members])

    # -- verifications -------------------------------------------------------------------------------------
    def save_verification(
        self, verification_id: str, preset: str, seeds: list[int], names: list[str], passed: bool, result: dict
    ) -> None:
        """Record (or replace) a verification and its result."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO verifications (id, preset, seeds, names, passed, created, result) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    verification_id,
                    preset,
                    json.dumps(seeds),
                    json.dumps(names),
                    int(passed),
                    time.time(),
                    json.dumps(result),
                ),
            )

    def verifications(self) -> list[VerificationRecord]:
        """All verifications, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM verifications ORDER BY created DESC").fetchall()
        return [
            VerificationRecord(i, p, json.loads(seeds), json.loads(names), bool(ok), created, json.loads(result))
            for i, p, seeds, names, ok, created, result in rows
        ]

    def sweeps(self, experiment: str | None = None) -> list[SweepRecord]:
        """All sweeps, newest first (optionally of one experiment), members left empty."""
        query, args = "SELECT * FROM sweeps", []
        if experiment:
            query, args = query + " WHERE experiment = ?", [experiment]
        with self._connect() as db:
            return [_sweep_record(r, []) for r in db.execute(query + " ORDER BY created DESC", args).fetchall()]


@dataclass
class VerificationRecord:
    """One ``phenomena verify``: which entries, preset and seeds, whether it passed, and its full result (the
    JSON of :class:`phenomena.runner.verify.Verification`, which names the sweeps it ran)."""

    id: str
    preset: str
    seeds: list
    names: list
    passed: bool
    created: float
    result: dict


def _sweep_record(row: tuple, members: list[tuple[int, int, str]]) -> SweepRecord:
    id_, experiment, preset, grid, seeds, overrides, status, created, finished = row
    return SweepRecord(
        id_,
        experiment,
        preset,
        json.loads(grid),
        json.loads(seeds),
        json.loads(overrides or "{}"),
        status,
        created,
        finished,
        members,
    )


def _record(row: tuple) -> RunRecord:
    (id_, experiment, preset, config, status, created, finished, summary, verdict, env, error, sweep) = row

    def load(text):
        return None if text is None else json.loads(text)

    return RunRecord(
        id_,
        experiment,
        preset,
        json.loads(config),
        status,
        created,
        finished,
        load(summary),
        load(verdict),
        load(env),
        error,
        sweep,
    )


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(summary: dict) -> dict:
    return {k: encode_float(v) for k, v in summary.items()}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
