"""Check a store and repair what can be repaired: ``phenomena doctor`` and ``phenomena gc``.

The database is the index; the run folders hold each finished run's ``record.json`` (written by
:meth:`Store.finish`), so a lost or damaged index can be rebuilt from them. A damaged database is never
written to: :func:`rebuild` moves it aside (``phenomena.db.damaged-<time>``) and builds a new one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from phenomena.errors import StoreError
from phenomena.result import decode_float
from phenomena.store.sqlite import RunRecord, Store


@dataclass
class Checkup:
    """What :func:`check` found: SQLite's integrity verdict, run folders the index does not know (``orphans``),
    indexed runs whose folder is gone (``missing_folders``), finished runs that could be restored from their
    ``record.json`` (``recoverable``), ``running`` rows whose process is gone (``stale``), and the shared folders
    of sweeps killed outright (``leftover_shared``; ``phenomena gc`` removes both)."""

    path: Path
    database: str  # "ok", "absent", "empty" or SQLite's message (damaged)
    runs: int = 0
    orphans: list[str] = field(default_factory=list)
    missing_folders: list[str] = field(default_factory=list)
    recoverable: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    leftover_shared: list[Path] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Nothing to repair: the database is sound (or absent with no run folders) and no folder is orphaned."""
        return self.database in ("ok", "absent", "empty") and not self.recoverable

    def lines(self) -> list[str]:
        """The findings, one line each, for people."""
        out = [f"database {self.path}: {self.database}" + (f", {self.runs} runs" if self.database == "ok" else "")]
        if self.orphans:
            out.append(
                f"{len(self.orphans)} run folders not in the index ({len(self.recoverable)} with a record.json "
                f"to restore them from)"
            )
        if self.missing_folders:
            out.append(f"{len(self.missing_folders)} indexed runs have no folder (their figures are gone)")
        if self.stale:
            out.append(f"{len(self.stale)} runs are marked running but their process is gone (stale)")
        if self.leftover_shared:
            out.append(
                f"{len(self.leftover_shared)} shared folders were left by sweeps that were killed "
                "(the next sweep or phenomena gc removes them)"
            )
        return out


def check(store: Store) -> Checkup:
    """Inspect ``store`` without changing it: ``PRAGMA integrity_check``, orphaned and missing folders. A home
    that cannot hold a store raises StoreError, as every command does."""
    store.check_home()
    folders = _run_folders(store)
    if not store.path.is_file():
        return Checkup(store.path, "absent", orphans=folders, recoverable=_with_record(store, folders))
    if store.path.stat().st_size == 0:
        return Checkup(store.path, "empty", orphans=folders, recoverable=_with_record(store, folders))
    try:
        with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as db:
            verdict = "; ".join(row[0] for row in db.execute("PRAGMA integrity_check").fetchall())
    except sqlite3.DatabaseError as e:
        verdict = str(e)
    if verdict != "ok":
        return Checkup(
            store.path, f"damaged ({verdict[:200]})", orphans=folders, recoverable=_with_record(store, folders)
        )
    records = store.runs()
    known = {r.id for r in records}
    orphans = [f for f in folders if f not in known]
    return Checkup(
        store.path,
        "ok",
        runs=len(records),
        orphans=orphans,
        missing_folders=[r.id for r in records if r.status == "finished" and not store.run_dir(r.id).is_dir()],
        recoverable=_with_record(store, orphans),
        stale=[r.id for r in records if r.stale],
        leftover_shared=store.leftover_shared_folders(),
    )


def rebuild(store: Store) -> int:
    """Restore the index from the run folders' ``record.json``; returns how many runs were restored.

    A damaged database is first moved aside (never deleted); a sound one keeps its rows and gains the
    orphaned runs.
    """
    found = check(store)
    if found.database.startswith("damaged") or found.database == "empty":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = store.path.with_name(f"{store.path.name}.damaged-{stamp}")
        for n in range(1, 1000):  # never replace an earlier damaged copy
            if not any(Path(str(aside) + s).exists() for s in ("", "-wal", "-shm")):
                break
            aside = store.path.with_name(f"{store.path.name}.damaged-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(store.path) + suffix)
            if part.exists():
                os.replace(part, Path(str(aside) + suffix))
        store = Store(store.root)
    restored = 0
    for run_id in found.recoverable:
        record = json.loads((store.run_dir(run_id) / "record.json").read_text())
        metrics = {
            name: (steps, [decode_float(v) for v in values]) for name, (steps, values) in record["metrics"].items()
        }
        store.restore(record, metrics)
        restored += 1
    return restored


def garbage(store: Store) -> tuple[list[RunRecord], list[str], list[Path]]:
    """What ``phenomena gc`` removes: failed, interrupted and stale runs, run folders with no record at all
    (neither in the index nor a ``record.json``), and the shared folders of sweeps that were killed outright
    (:meth:`Store.leftover_shared_folders`)."""
    runs = [r for r in store.runs() if r.status in ("failed", "interrupted") or r.stale]
    known = {r.id for r in store.runs()}
    orphans = [f for f in _run_folders(store) if f not in known and not (store.run_dir(f) / "record.json").is_file()]
    return runs, orphans, store.leftover_shared_folders()


def remove_folder(store: Store, run_id: str) -> None:
    """Delete one run folder that has no record."""
    shutil.rmtree(store.run_dir(run_id), ignore_errors=True)


def _run_folders(store: Store) -> list[str]:
    runs = store.root / "runs"
    try:
        return sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    except OSError as e:
        raise StoreError(f"cannot list {runs}: {e.strerror or e}") from None


def _with_record(store: Store, run_ids: list[str]) -> list[str]:
    return [r for r in run_ids if (store.run_dir(r) / "record.json").is_file()]
