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
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from phenomena.errors import StoreError
from phenomena.result import encode_float

STATUSES = ("running", "finished", "failed", "diverged", "interrupted")
# running (in progress, or killed), finished (every run finished), incomplete (some runs diverged or failed),
# interrupted (stopped by the user or by an error in the driving process)
SWEEP_STATUSES = ("running", "finished", "incomplete", "interrupted")
SCHEMA_VERSION = 1  # PRAGMA user_version; 0 is the first layout (no interrupted status, no owner columns)
# A running row whose owner is on another host is stale once its heartbeat is this old (on this host the
# owner's pid says it directly). The driving process beats every HEARTBEAT_SECONDS.
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 10 * HEARTBEAT_SECONDS
SHARED_OWNER = "owner.json"  # in a sweep's shared folder: {"host", "pid"} of the sweep's process
ORPHAN_SHARED_SECONDS = 24 * 3600.0  # a shared folder with no readable owner is left over once this old

_RUNS_TABLE = """
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT,
    config      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'diverged', 'interrupted')),
    created     REAL NOT NULL,
    finished    REAL,
    summary     TEXT,
    verdict     TEXT,
    environment TEXT,
    error       TEXT,
    sweep       TEXT,
    pid         INTEGER,
    host        TEXT,
    heartbeat   REAL
);
"""
_RUN_COLUMNS = (
    "id, experiment, preset, config, status, created, finished, summary, verdict, environment, error, sweep, "
    "pid, host, heartbeat"
)
_OTHER_TABLES = """
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
# SQLite's messages for a file that is not (or no longer) a sound database
_DAMAGE = ("file is not a database", "malformed", "disk image", "file is encrypted")


def default_root() -> Path:
    """``$PHENOMENA_HOME`` if set, else ``./phenomena-runs``."""
    return Path(os.environ.get("PHENOMENA_HOME", "phenomena-runs"))


@dataclass
class RunRecord:
    """One row of the runs table, with JSON columns decoded.

    ``pid``, ``host`` and ``heartbeat`` name the process that owns a ``running`` row (the one that will record
    its outcome) and when it last said it was alive; :attr:`stale` tells a killed run from a live one.
    """

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
    pid: int | None = None
    host: str | None = None
    heartbeat: float | None = None

    @property
    def stale(self) -> bool:
        """A ``running`` row whose owner is gone: its process is dead (same host), or its heartbeat is older
        than ``STALE_AFTER_SECONDS`` (another host, whose processes this one cannot see)."""
        if self.status != "running":
            return False
        if self.host == socket.gethostname() and self.pid:
            return not _alive(self.pid)
        return time.time() - (self.heartbeat or self.created) > STALE_AFTER_SECONDS

    @property
    def shown_status(self) -> str:
        """The status for people: ``running`` rows whose owner is gone read ``stale``."""
        return "stale" if self.stale else self.status


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

    Nothing touches the disk until it is needed: reading a store that does not exist finds nothing and creates
    nothing; the first write creates the root, the database and its tables. A home that cannot hold a store
    (a file, a path under a file, a folder that cannot be created or written) and a damaged database raise
    :class:`StoreError`, one line naming the path and what to do; a damaged database is never written to.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.path = self.root / "phenomena.db"
        self._ready = False  # the tables exist and have the current layout

    # -- opening -------------------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        """Whether the database file exists (a store that was never written has none); the home is checked
        first (:meth:`check_home`)."""
        self.check_home()
        return self.path.is_file()

    def check_home(self) -> None:
        """Raise StoreError unless the home can hold a store: not a file, not under one, writable, and, if it does
        not exist yet, creatable (reading such a home would wrongly report an empty store)."""
        self._check_root()
        if not self.root.exists():
            _check_creatable(self.root)
        elif not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"the store home {self.root} is not writable (permission denied)")

    def _check_root(self) -> None:
        """Raise StoreError if the root is not a directory or lies under a file."""
        try:
            if self.root.exists() and not self.root.is_dir():
                raise StoreError(f"the store home {self.root} is a file, not a directory; choose another --home")
        except NotADirectoryError:
            raise StoreError(f"the store home {self.root} lies under a file; choose another --home") from None
        except PermissionError:
            raise StoreError(f"the store home {self.root} cannot be read (permission denied)") from None
        for parent in self.root.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise StoreError(f"the store home {self.root} lies under a file ({parent}); choose another --home")
                break

    def _create(self) -> None:
        """Create the root folder and the database (tables at the current layout, migrating an older one)."""
        self._check_root()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store home {self.root}: {e.strerror or e}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"the store home {self.root} is not writable (permission denied)")
        with self._open(write=True) as db:
            # off outside the transaction: dropping the old runs table (a migration) must not cascade into metrics
            db.execute("PRAGMA foreign_keys=OFF")
            # the write lock first, then look: processes that create one store at once take turns, and each sees
            # what the one before it made
            db.execute("BEGIN IMMEDIATE")
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the store {self.path} was written by a newer phenomena (layout {version}, this one knows "
                        f"{SCHEMA_VERSION}); upgrade phenomena or choose another --home"
                    )
                has_runs = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
                if has_runs and version == 0:
                    _migrate_v0(db)
                elif not has_runs:
                    db.execute(_RUNS_TABLE)
                for statement in _OTHER_TABLES.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("PRAGMA foreign_keys=ON")
        self._ready = True

    @contextmanager
    def _open(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (foreign keys, a 60 s busy timeout; ``write`` also puts the database in WAL mode, which
        writes its header, so reads leave it alone); SQLite's damage errors become StoreError."""
        try:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as e:
            raise self._error(e) from None
        try:
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA foreign_keys=ON")
            if write and db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            yield db
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        finally:
            db.close()

    def _error(self, e: sqlite3.Error) -> Exception:
        text = str(e)
        if any(marker in text for marker in _DAMAGE):
            return StoreError(
                f"the store {self.path} is damaged ({text}); it was left untouched: run `phenomena doctor` to "
                f"check it and rebuild its index from the run folders, or restore it from a backup"
            )
        if isinstance(e, sqlite3.OperationalError) and "unable to open" in text:
            return StoreError(f"cannot open the store {self.path} ({text})")
        return e

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to a store that exists (for reads; see :meth:`_reading`)."""
        if not self._ready:
            self._create()
        with self._open(write=True) as db:
            yield db

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """A connection for reads, or None when there is no database yet (nothing is created). A database
        without tables (e.g. an empty file) reads as empty; an older layout is first migrated in place."""
        if not self.exists:
            yield None
            return
        if not self._ready:
            with self._open() as db:
                has_runs = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
                version = db.execute("PRAGMA user_version").fetchone()[0]
            if not has_runs:
                yield None
                return
            if version == SCHEMA_VERSION:
                self._ready = True
            else:
                self._create()
        with self._open() as db:
            yield db

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
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the cache folder {path}: {e.strerror or e}") from None
        return path

    @contextmanager
    def shared_folder(self) -> Iterator[Path]:
        """A fresh folder in the store root (``shared-*``) for the pieces one sweep's runs share
        (``RunContext.shared``), removed when the block ends. It names its owner (this host and process), so a
        folder left by a sweep that was killed outright (SIGKILL, the out-of-memory killer) is found by
        :meth:`leftover_shared_folders` and removed by the next sweep or ``phenomena gc``."""
        folder = Path(tempfile.mkdtemp(prefix="shared-", dir=self.root))
        try:
            (folder / SHARED_OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def leftover_shared_folders(self) -> list[Path]:
        """The ``shared-*`` folders whose sweep is gone: its process on this host has exited. A folder of another
        host is never taken (this host cannot see its processes); one without an owner file (its sweep was killed
        before it wrote one, or an older version made it) is taken once it is older than a day."""
        try:
            folders = sorted(p for p in self.root.glob("shared-*") if p.is_dir())
        except OSError:
            return []
        return [f for f in folders if _left_over(f)]

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
        """Record a run as ``running`` (replacing any earlier record and metrics of that id), owned by this process
        (pid, host, heartbeat: see :attr:`RunRecord.stale`); returns its folder."""
        now = time.time()
        with self._transaction() as db:
            db.execute("DELETE FROM metrics WHERE run = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            db.execute(
                "INSERT INTO runs (id, experiment, preset, config, status, created, environment, sweep, pid, host, "
                "heartbeat) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    experiment,
                    preset,
                    json.dumps(config),
                    now,
                    json.dumps(environment),
                    sweep,
                    os.getpid(),
                    socket.gethostname(),
                    now,
                ),
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
        host and thread count). A finished run's record is also written to ``record.json`` in its folder (before
        the transaction), from which :func:`phenomena.store.doctor.rebuild` can restore a lost index.
        """
        if status not in STATUSES or status == "running":
            raise ValueError(f"finish status must be one of {', '.join(STATUSES[1:])}; got {status!r}")
        rows = [
            (run_id, name, int(step), _finite_or_none(value))
            for name, (steps, values) in (metrics or {}).items()
            for step, value in zip(steps, values, strict=True)
        ]
        with self._transaction() as db:
            found = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
            if not found:
                raise KeyError(f"no run {run_id!r} to finish")
            if status == "finished":
                record = _record(found)
                write_record_file(
                    self.run_dir(run_id),
                    {
                        "id": run_id,
                        "experiment": record.experiment,
                        "preset": record.preset,
                        "config": record.config,
                        "created": record.created,
                        "finished": time.time(),
                        "summary": None if summary is None else _json_safe(summary),
                        "verdict": verdict,
                        "environment": environment if environment is not None else record.environment,
                        "sweep": record.sweep,
                        "metrics": {
                            name: [list(map(int, st)), [encode_float(v) for v in va]]
                            for name, (st, va) in (metrics or {}).items()
                        },
                    },
                )
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

    def restore(self, record: dict, metrics: dict[str, tuple[list[int], list[float]]]) -> None:
        """Insert a finished run from its ``record.json`` (see :func:`phenomena.store.doctor.rebuild`); a run
        the index already has is left as it is."""
        rows = [
            (record["id"], name, int(step), _finite_or_none(value))
            for name, (steps, values) in metrics.items()
            for step, value in zip(steps, values, strict=True)
        ]
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", (record["id"],)).fetchone():
                return
            db.execute(
                "INSERT INTO runs (id, experiment, preset, config, status, created, finished, summary, verdict, "
                "environment, sweep) VALUES (?, ?, ?, ?, 'finished', ?, ?, ?, ?, ?, ?)",
                (
                    record["id"],
                    record["experiment"],
                    record["preset"],
                    json.dumps(record["config"]),
                    record["created"],
                    record.get("finished", record["created"]),
                    None if record["summary"] is None else json.dumps(record["summary"]),
                    None if record["verdict"] is None else json.dumps(record["verdict"]),
                    json.dumps(record["environment"]),
                    record.get("sweep"),
                ),
            )
            db.executemany("INSERT INTO metrics (run, name, step, value) VALUES (?, ?, ?, ?)", rows)

    def heartbeat(self, run_ids: Iterable[str]) -> None:
        """Say that this process is still computing these ``running`` runs."""
        ids = list(run_ids)
        if not ids:
            return
        with self._transaction() as db:
            db.executemany(
                "UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", [(time.time(), i) for i in ids]
            )

    def interrupt(self, reason: str = "interrupted by the user") -> None:
        """Mark every run this process owns that is still ``running`` as ``interrupted`` (the process is
        stopping, so no one will record them)."""
        if not self._ready and not self.exists:
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'interrupted', finished = ?, error = ? "
                "WHERE status = 'running' AND pid = ? AND host = ?",
                (time.time(), reason, os.getpid(), socket.gethostname()),
            )

    def delete(self, run_id: str) -> None:
        """Remove a run, its metrics and its folder (used when a run turns out never to have started)."""
        with self._transaction() as db:
            db.execute("DELETE FROM metrics WHERE run = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            db.execute("DELETE FROM sweep_runs WHERE run = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def delete_sweep(self, sweep_id: str) -> None:
        """Remove a sweep's record and figure (its runs stay: other sweeps may share them)."""
        with self._transaction() as db:
            db.execute("DELETE FROM sweep_runs WHERE sweep = ?", (sweep_id,))
            db.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,))
        shutil.rmtree(self.sweep_dir(sweep_id), ignore_errors=True)

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        """The record of a run by full id or unique prefix (None if absent or ambiguous: see :meth:`find`)."""
        found = self.find(run_id)
        return found[0] if len(found) == 1 else None

    def find(self, prefix: str) -> list[RunRecord]:
        """The runs whose id is ``prefix`` (then only that one) or starts with it, oldest first."""
        if not _encodable(prefix):
            return []  # an id is hex text: one that cannot even be encoded matches nothing
        with self._reading() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY created",
                (_escape_like(prefix) + "%",),
            ).fetchall()
        exact = [r for r in rows if r[0] == prefix]
        return [_record(r) for r in (exact or rows)]

    def runs(
        self, experiment: str | None = None, status: str | None = None, sweep: str | None = None
    ) -> list[RunRecord]:
        """All runs, newest first, optionally filtered by experiment, status and sweep (a full sweep id)."""
        query, args = f"SELECT {_RUN_COLUMNS} FROM runs WHERE 1=1", []
        if experiment:
            query, args = query + " AND experiment = ?", [*args, experiment]
        if status:
            query, args = query + " AND status = ?", [*args, status]
        if sweep:
            query, args = query + " AND id IN (SELECT run FROM sweep_runs WHERE sweep = ?)", [*args, sweep]
        with self._reading() as db:
            return [] if db is None else [_record(r) for r in db.execute(query + " ORDER BY created DESC", args)]

    def metrics(self, run_id: str) -> dict[str, tuple[list[int], list[float]]]:
        """All metric curves of a run: name -> (steps, values); unmeasured values come back as nan."""
        with self._reading() as db:
            if db is None:
                return {}
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
        with self._reading() as db:
            for start in range(0, len(ids) if db is not None else 0, 500):  # SQLite caps the bound parameters
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id IN ({marks})", chunk).fetchall():
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
        """A sweep by full id or unique prefix (None if absent or ambiguous: see :meth:`find_sweeps`), with its
        members."""
        found = self.find_sweeps(sweep_id)
        if len(found) != 1:
            return None
        with self._reading() as db:
            members = db.execute(
                "SELECT point, seed, run FROM sweep_runs WHERE sweep = ? ORDER BY point, seed", (found[0].id,)
            ).fetchall()
        found[0].members = [tuple(m) for m in members]
        return found[0]

    def find_sweeps(self, prefix: str) -> list[SweepRecord]:
        """The sweeps whose id is ``prefix`` (then only that one) or starts with it, oldest first (members left
        empty)."""
        if not _encodable(prefix):
            return []
        with self._reading() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT * FROM sweeps WHERE id LIKE ? ESCAPE '\\' ORDER BY created", (_escape_like(prefix) + "%",)
            ).fetchall()
        exact = [r for r in rows if r[0] == prefix]
        return [_sweep_record(r, []) for r in (exact or rows)]

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
        with self._reading() as db:
            rows = [] if db is None else db.execute("SELECT * FROM verifications ORDER BY created DESC").fetchall()
        return [
            VerificationRecord(i, p, json.loads(seeds), json.loads(names), bool(ok), created, json.loads(result))
            for i, p, seeds, names, ok, created, result in rows
        ]

    def sweeps(self, experiment: str | None = None) -> list[SweepRecord]:
        """All sweeps, newest first (optionally of one experiment), members left empty."""
        query, args = "SELECT * FROM sweeps", []
        if experiment:
            query, args = query + " WHERE experiment = ?", [experiment]
        with self._reading() as db:
            if db is None:
                return []
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
    (id_, experiment, preset, config, status, created, finished, summary, verdict, env, error, sweep, *owner) = row

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
        *owner,
    )


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(summary: dict) -> dict:
    return {k: encode_float(v) for k, v in summary.items()}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def write_record_file(folder: Path, record: dict) -> None:
    """Write ``record.json`` into a run's folder atomically (a temporary file renamed over it)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "record.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, folder / "record.json")


def _left_over(folder: Path) -> bool:
    """Whether a ``shared-*`` folder's owner is gone (:meth:`Store.leftover_shared_folders`)."""
    try:
        owner = json.loads((folder / SHARED_OWNER).read_text())
        return owner["host"] == socket.gethostname() and not _alive(int(owner["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        try:
            return time.time() - folder.stat().st_mtime > ORPHAN_SHARED_SECONDS
        except OSError:
            return False


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _migrate_v0(db: sqlite3.Connection) -> None:
    """Layout 0 -> 1 inside the caller's transaction: the runs table gains the ``interrupted`` status and the
    owner columns (SQLite cannot alter a CHECK constraint, so the table is rebuilt, as SQLite's docs advise; the
    caller turns foreign keys off first, so that dropping the old table keeps the metrics)."""
    old = "id, experiment, preset, config, status, created, finished, summary, verdict, environment, error, sweep"
    db.execute(_RUNS_TABLE.replace("CREATE TABLE runs", "CREATE TABLE runs_new"))
    db.execute(f"INSERT INTO runs_new ({old}) SELECT {old} FROM runs")
    db.execute("DROP TABLE runs")
    db.execute("ALTER TABLE runs_new RENAME TO runs")


def _check_creatable(root: Path) -> None:
    """Raise StoreError unless ``root``'s nearest existing ancestor accepts a new folder (probed with a
    temporary folder that is removed at once, so nothing is left behind)."""
    ancestor = next((p for p in root.absolute().parents if p.exists()), None)
    if ancestor is None:
        return
    try:
        probe = tempfile.mkdtemp(prefix=".phenomena-probe-", dir=ancestor)
    except OSError as e:
        raise StoreError(f"the store home {root} does not exist and cannot be created: {e.strerror or e}") from None
    os.rmdir(probe)


def _encodable(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (command-line bytes that are not UTF-8 arrive as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
