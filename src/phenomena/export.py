"""Stored runs as tables for other tools: CSV, Parquet, JSON, or TensorBoard logs.

Two tables describe a set of runs. The *runs table* has one row per run: its id, experiment, preset, status,
seed, times and whether its verdict passed, then one ``config.<dotted key>`` column per config key (tuples as
JSON text), one ``summary.<key>`` column per summary value (floats, NaN where unmeasured) and ``checks`` (the
verdict's checks as JSON text). The *metrics table* is long format: one row per measured point (run_id,
experiment, name, step, value), NaN where a value was not measured. Runs of different experiments share one
runs table; a column a run does not have is empty (None) in its row.

Exports only read the store and write only inside the chosen output folder.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from phenomena.config import flat
from phenomena.errors import UserError
from phenomena.result import Verdict, decode_float, encode_float
from phenomena.store import Store

FORMATS = ("csv", "parquet", "json", "tensorboard")  # what export() writes
# the runs table's first columns (config.*, summary.* and checks follow), and the metrics table's columns
RUN_COLUMNS = ("run_id", "experiment", "preset", "status", "seed", "created", "finished", "passed")
METRIC_COLUMNS = ("run_id", "experiment", "name", "step", "value")
_SHOWN_MATCHES = 8


# -- which runs ------------------------------------------------------------------------------------------------
def resolve_ids(store: Store, targets: list[str], all_runs: bool) -> list[str]:
    """The run ids that ``targets`` name (run or sweep ids, or unique prefixes of them; a sweep stands for its
    stored member runs), in the order given without repeats; with ``all_runs``, every stored run, oldest first.

    Raises :class:`UserError` for a target that names nothing or more than one thing, for targets given with
    ``all_runs``, and when nothing is named at all.
    """
    targets = list(targets)
    if all_runs:
        if targets:
            raise UserError(f"give run or sweep ids or --all, not both (got --all and {', '.join(targets)})")
        ids = [r.id for r in reversed(store.runs())]
        if not ids:
            raise UserError(f"no runs stored in {store.root}; nothing to export")
        return ids
    if not targets:
        raise UserError("name the runs to export: run or sweep ids (or prefixes), or --all for every stored run")
    ids: list[str] = []
    for target in targets:
        runs, sweeps = store.find(target), store.find_sweeps(target)
        found = [("run", r.id, r.experiment) for r in runs] + [("sweep", s.id, s.experiment) for s in sweeps]
        exact = [f for f in found if f[1] == target]
        found = exact or found
        if not found:
            raise UserError(f"no stored run or sweep {target!r} in {store.root} (see `phenomena runs`)")
        if len(found) > 1:
            shown = ", ".join(f"{kind} {i} ({experiment})" for kind, i, experiment in found[:_SHOWN_MATCHES])
            more = f" and {len(found) - _SHOWN_MATCHES} more" if len(found) > _SHOWN_MATCHES else ""
            raise UserError(f"ambiguous prefix {target!r}: it starts {shown}{more}; give more characters")
        kind, found_id, _ = found[0]
        if kind == "run":
            ids.append(found_id)
            continue
        sweep = store.get_sweep(found_id)
        members = [run for _, _, run in (sweep.members if sweep else [])]
        stored = store.records(members)
        if not stored:
            raise UserError(f"sweep {found_id} has no stored runs (see `phenomena runs --sweep {found_id}`)")
        ids.extend(run for run in members if run in stored)
    return list(dict.fromkeys(ids))


def _records(store: Store, run_ids: Iterable[str]) -> list:
    """The records of these exact run ids, in that order; an id the store does not have is a UserError."""
    ids = list(dict.fromkeys(run_ids))
    found = store.records(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise UserError(f"no stored run {', '.join(map(repr, missing))} in {store.root} (see `phenomena runs`)")
    return [found[i] for i in ids]


# -- the tables ------------------------------------------------------------------------------------------------
def runs_table(store: Store, run_ids: Iterable[str]) -> list[dict]:
    """One row per run (in the order of ``run_ids``): run_id, experiment, preset, status, seed, created,
    finished, passed, then ``config.<key>`` for every dotted config key (tuples and lists as JSON text),
    ``summary.<key>`` (floats; non-finite values as float nan/inf) and ``checks`` (the verdict's checks as JSON
    text, None without a verdict). Every row has every column; a key another run lacks is None."""
    rows = []
    for record in _records(store, run_ids):
        verdict = record.verdict or {}
        row: dict[str, Any] = {
            "run_id": record.id,
            "experiment": record.experiment,
            "preset": record.preset,
            "status": record.shown_status,
            "seed": record.config.get("seed"),
            "created": record.created,
            "finished": record.finished,
            "passed": verdict.get("passed"),
        }
        for key, value in flat(record.config).items():
            row[f"config.{key}"] = json.dumps(value) if isinstance(value, list | tuple) else value
        for key, value in (record.summary or {}).items():
            row[f"summary.{key}"] = _summary_value(value)
        row["checks"] = json.dumps(verdict["checks"]) if "checks" in verdict else None
        rows.append(row)
    return _rectangular(rows)


def _summary_value(value: Any) -> Any:
    value = decode_float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _rectangular(rows: list[dict]) -> list[dict]:
    """Every row with the same columns: the fixed ones, config keys sorted, summary keys in order of first
    appearance, then checks."""
    config_keys: set[str] = set()
    summary_keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith("config."):
                config_keys.add(key)
            elif key.startswith("summary."):
                summary_keys[key] = None
    columns = [*RUN_COLUMNS, *sorted(config_keys), *summary_keys, "checks"]
    return [{c: row.get(c) for c in columns} for row in rows]


def _columns(rows: list[dict], default: Iterable[str]) -> list[str]:
    return list(rows[0]) if rows else list(default)


def metrics_table(store: Store, run_ids: Iterable[str]) -> list[dict]:
    """Every measured point of these runs in long format: run_id, experiment, name, step, value (a float, NaN
    where the value was not measured), by run (in the order of ``run_ids``), then metric name, then step."""
    rows = []
    for record in _records(store, run_ids):
        for name, (steps, values) in store.metrics(record.id).items():
            for step, value in zip(steps, values, strict=True):
                rows.append(
                    {
                        "run_id": record.id,
                        "experiment": record.experiment,
                        "name": name,
                        "step": int(step),
                        "value": math.nan if value is None else float(value),
                    }
                )
    return rows


# -- writing ---------------------------------------------------------------------------------------------------
def export(store: Store, run_ids: Iterable[str], fmt: str, out: str | os.PathLike) -> list[Path]:
    """Write these runs in format ``fmt`` into the folder ``out`` (created if needed) and return the paths
    written.

    ``csv``: ``runs.csv`` and ``metrics.csv``; ``json``: ``export.json`` (``{"runs": [...], "metrics": [...]}``,
    non-finite numbers as the strings ``"nan"``, ``"inf"``, ``"-inf"``); ``parquet``: ``runs.parquet`` and
    ``metrics.parquet`` (needs ``phenomena[export]``); ``tensorboard``: one log folder per run,
    ``<experiment>/<run_id>/``, with every metric curve, the summary under ``summary/<key>`` at step 0 and the
    verdict and config as text (needs ``phenomena[tensorboard]``). Files of an earlier export into the same
    folder are replaced; nothing outside ``out`` is touched. Bad input (an unknown format, a missing optional
    dependency, an unknown run id, an output path that is a file) raises :class:`UserError` before anything is
    written.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writer = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet, "tensorboard": _write_tensorboard}
    write = writer[fmt]()  # imports the optional dependency first, so a missing one writes nothing
    records = _records(store, run_ids)
    ids = [r.id for r in records]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"the export folder {out} is a file; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the export folder {out}: {e.strerror or e}") from None
    return write(store, records, ids, out)


def _write_csv() -> Callable:
    def write(store: Store, records: list, ids: list[str], out: Path) -> list[Path]:
        paths = []
        for name, rows, default in (
            ("runs.csv", runs_table(store, ids), RUN_COLUMNS),
            ("metrics.csv", metrics_table(store, ids), METRIC_COLUMNS),
        ):

            def dump(f, rows=rows, default=default):
                table = csv.DictWriter(f, fieldnames=_columns(rows, default))
                table.writeheader()
                table.writerows(rows)

            paths.append(_atomic(out / name, dump, newline=""))
        return paths

    return write


def _write_json() -> Callable:
    def write(store: Store, records: list, ids: list[str], out: Path) -> list[Path]:
        document = {
            "runs": [_encoded(row) for row in runs_table(store, ids)],
            "metrics": [_encoded(row) for row in metrics_table(store, ids)],
        }
        return [_atomic(out / "export.json", lambda f: json.dump(document, f, allow_nan=False))]

    return write


def _encoded(row: dict) -> dict:
    return {key: encode_float(value) for key, value in row.items()}


def _write_parquet() -> Callable:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            "the parquet format needs pyarrow: install phenomena[export] (pip install 'phenomena[export]')"
        ) from None

    def column(values: list) -> Any:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            # a key whose values have different types in different runs (or experiments): JSON text
            return pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())

    types = {
        "run_id": pa.string(),
        "experiment": pa.string(),
        "preset": pa.string(),
        "status": pa.string(),
        "name": pa.string(),
        "step": pa.int64(),
        "value": pa.float64(),
        "created": pa.float64(),
        "finished": pa.float64(),
        "passed": pa.bool_(),
        "checks": pa.string(),
    }

    def table(rows: list[dict], default: Iterable[str]) -> Any:
        data = {}
        for name in _columns(rows, default):
            values = [row[name] for row in rows]
            data[name] = pa.array(values, types[name]) if name in types else column(values)
        return pa.table(data)

    def write(store: Store, records: list, ids: list[str], out: Path) -> list[Path]:
        paths = []
        for name, rows, default in (
            ("runs.parquet", runs_table(store, ids), RUN_COLUMNS),
            ("metrics.parquet", metrics_table(store, ids), METRIC_COLUMNS),
        ):
            data = table(rows, default)
            paths.append(_atomic(out / name, lambda f, data=data: pq.write_table(data, f), binary=True))
        return paths

    return write


def _write_tensorboard() -> Callable:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(
            "the tensorboard format needs tensorboard: install phenomena[tensorboard] "
            "(pip install 'phenomena[tensorboard]')"
        ) from None

    def write(store: Store, records: list, ids: list[str], out: Path) -> list[Path]:
        paths = []
        for record in records:
            folder = out / _safe(record.experiment) / _safe(record.id)
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("events.out.tfevents.*"):  # an earlier export of this run: replaced
                old.unlink()
            writer = SummaryWriter(log_dir=str(folder))
            try:
                for name, (steps, values) in store.metrics(record.id).items():
                    for step, value in zip(steps, values, strict=True):
                        writer.add_scalar(name, value, int(step))
                for key, value in (record.summary or {}).items():
                    value = _summary_value(value)
                    if isinstance(value, float):
                        writer.add_scalar(f"summary/{key}", value, 0)
                writer.add_text("verdict", _verdict_text(record), 0)
                writer.add_text("config", _code(json.dumps(record.config, indent=2, sort_keys=True)), 0)
            finally:
                writer.close()
            paths.append(folder)
        return paths

    return write


def _verdict_text(record) -> str:
    """The verdict table as TensorBoard's text plugin shows it (markdown; a code block keeps the columns)."""
    head = f"{record.experiment} [{record.preset}] run {record.id}: {record.shown_status}"
    verdict = Verdict.from_dict(record.verdict) if record.verdict and "checks" in record.verdict else None
    return f"{head}\n\n" + _code(verdict.table() if verdict is not None else "no verdict")


def _code(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _safe(name: str) -> str:
    """A folder name made from a stored name (never a path that leaves the export folder)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" if cleaned in ("", ".", "..") else cleaned


def _atomic(path: Path, dump: Callable, binary: bool = False, newline: str | None = None) -> Path:
    """Write a file through a temporary file in its folder renamed over it: a reader (or an interrupted export)
    never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", newline=newline, encoding="utf-8") as f:
            dump(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
