"""A stored sweep read back: one row per grid point with its runs, the sweep table and the sweep figure.

Headline values per point are the mean and sample standard deviation (ddof 1) over the seeds whose run finished
and measured the value (``nan`` summaries, e.g. "never generalized", are left out and the count is shown).
A catalog entry names its headline summary keys in ``Entry.sweep_metrics`` (those its runs measured are shown); without
it, or when its runs measured none of them (another mode), the first three keys of its summary.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phenomena.errors import UserError
from phenomena.result import Result, decode_float
from phenomena.store import Store

MAX_METRICS = 3
MAX_ERRORS_SHOWN = 10


@dataclasses.dataclass(frozen=True)
class SweepRun:
    """One seed of a grid point: its run id, status (finished, diverged, failed, running, or pending when it
    never started), whether its verdict passed, its summary and, if it did not finish, why."""

    run_id: str
    seed: int
    status: str
    passed: bool | None
    summary: dict[str, float]
    error: str | None


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """A grid point: its values (key -> value) and its runs, one per seed."""

    values: dict[str, Any]
    runs: tuple[SweepRun, ...]

    @property
    def passed(self) -> int:
        """How many of its runs finished with a passing verdict."""
        return sum(bool(r.passed) for r in self.runs)

    def values_of(self, metric: str) -> list[float]:
        """The finite values of ``metric`` over the finished runs."""
        out = [r.summary.get(metric) for r in self.runs if r.status == "finished"]
        return [float(v) for v in out if isinstance(v, int | float) and math.isfinite(v)]

    def stat(self, metric: str) -> tuple[float, float, int]:
        """(mean, sample std, count) of ``metric`` over finished runs; std is nan for fewer than two values."""
        values = self.values_of(metric)
        n = len(values)
        if n == 0:
            return math.nan, math.nan, 0
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        return mean, std, n

    def never(self, metric: str) -> int:
        """How many finished runs left ``metric`` unmeasured (NaN: e.g. a threshold never reached)."""
        return sum(
            1
            for r in self.runs
            if r.status == "finished"
            and metric in r.summary
            and not (isinstance(r.summary[metric], int | float) and math.isfinite(r.summary[metric]))
        )

    def stat_text(self, metric: str) -> str:
        """``mean ± std`` of ``metric`` over the seeds, "never" where finished runs never reached it, ``n/a``
        where none measured it (the count shown when some seeds are missing)."""
        return _fmt_stat(*self.stat(metric), seeds=len(self.runs), never=self.never(metric))

    def status_text(self) -> str:
        """E.g. '3 finished' or '2 finished, 1 diverged'."""
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        order = ("finished", "diverged", "failed", "running", "pending")
        return ", ".join(f"{counts[s]} {s}" for s in order if s in counts)


@dataclasses.dataclass
class SweepResult:
    """A sweep as stored: its definition, status, points (with runs) and headline ``metrics``.

    >>> res = phenomena.load_sweep("3f2a")          # or the return value of phenomena.sweep(...)
    >>> print(res.table()); res.rows()[0]["delay"]["mean"]; res.figure()
    """

    sweep_id: str
    experiment: str
    preset: str | None
    grid: dict[str, list]
    seeds: list[int]
    overrides: dict[str, Any]
    status: str
    points: list[SweepPoint]
    metrics: tuple[str, ...]
    store: Store = dataclasses.field(repr=False)
    lookup: Callable[[str], Any] = dataclasses.field(repr=False)
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """JSON-ready rows: grid values, run ids and statuses, pass count, and mean/std/n per metric."""
        rows = []
        for point in self.points:
            row: dict[str, Any] = {
                "values": point.values,
                "passed": point.passed,
                "runs": [
                    {"run_id": r.run_id, "seed": r.seed, "status": r.status, "passed": r.passed} for r in point.runs
                ],
            }
            for metric in self.metrics:
                mean, std, n = point.stat(metric)
                row[metric] = {"mean": _json(mean), "std": _json(std), "n": n}
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: sweep_id, experiment, preset, grid, seeds, overrides, status, metrics, rows, artifacts."""
        return {
            "sweep_id": self.sweep_id,
            "experiment": self.experiment,
            "preset": self.preset,
            "grid": self.grid,
            "seeds": self.seeds,
            "overrides": self.overrides,
            "status": self.status,
            "metrics": list(self.metrics),
            "rows": self.rows(),
            "artifacts": dict(self.artifacts),
        }

    def table(self) -> str:
        """A plain-text table, one row per grid point, then the reason of every run that did not finish."""
        keys = list(self.grid)
        header = [*keys, "runs", "pass", *self.metrics]
        body = []
        for point in self.points:
            cells = [_fmt(point.values[k]) for k in keys]
            cells += [point.status_text(), f"{point.passed}/{len(point.runs)}"]
            for metric in self.metrics:
                cells.append(point.stat_text(metric))
            body.append(cells)
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        fixed = ", ".join(f"{k}={_fmt(v)}" for k, v in self.overrides.items())
        title = (
            f"sweep {self.sweep_id}: {self.experiment} [{self.preset}]{' ' + fixed if fixed else ''}, "
            f"{len(self.points)} point{'s' * (len(self.points) != 1)} x {len(self.seeds)} "
            f"seed{'s' * (len(self.seeds) != 1)}, {self.status}"
        )
        problems = [(p, r) for p in self.points for r in p.runs if r.status in ("diverged", "failed")]
        notes = []
        for point, run in problems[:MAX_ERRORS_SHOWN]:
            where = ", ".join(f"{k}={_fmt(v)}" for k, v in point.values.items())
            notes.append(f"  {run.status}: run {run.run_id} ({where}, seed {run.seed}): {_last_line(run.error)}")
        if len(problems) > MAX_ERRORS_SHOWN:
            notes.append(f"  ... and {len(problems) - MAX_ERRORS_SHOWN} more (phenomena runs --sweep {self.sweep_id})")
        return "\n".join([title, *lines, *(["runs that did not finish:", *notes] if notes else [])])

    def results(self) -> list[Result]:
        """Every stored run of the sweep as a full :class:`Result` (with curves), in point then seed order."""
        from phenomena.runner.execute import load

        return [load(r.run_id, self.store, self.lookup) for p in self.points for r in p.runs if r.status != "pending"]

    def figure(self):
        """Each headline metric against the first grid key (seeds as dots, mean ± std, "never" markers for
        values never reached), the pass rate per point, and a heatmap for a two-key grid
        (:func:`~phenomena.runner.sweep_figure.sweep_figure`)."""
        from phenomena.runner.sweep_figure import sweep_figure

        return sweep_figure(self)

    def write_figure(self, store: Store | None = None) -> Path:
        """Save :meth:`figure` as ``<store>/sweeps/<id>/figure.png`` and return the path."""
        from phenomena.report import save

        store = store if store is not None else self.store
        path = store.sweep_dir(self.sweep_id) / "figure.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save(self.figure(), path)
        self.artifacts["figure"] = str(path)
        return path


def load_sweep(sweep_id: str, store: Store, lookup: Callable[[str], Any]) -> SweepResult:
    """The stored sweep with this id (or unique prefix), with the current state of its runs (``lookup`` finds
    an experiment's Entry by name)."""
    record = store.get_sweep(sweep_id)
    if record is None:
        raise UserError(f"no stored sweep {sweep_id!r} in {store.root} (see `phenomena sweeps`)")
    runs = store.records(run for _, _, run in record.members)
    by_point: dict[int, list[SweepRun]] = {}
    for point, seed, run_id in record.members:
        stored = runs.get(run_id)
        if stored is None:
            run = SweepRun(run_id, seed, "pending", None, {}, None)
        else:
            passed = (stored.verdict or {}).get("passed") if stored.status == "finished" else None
            summary = {k: decode_float(v) for k, v in (stored.summary or {}).items()}
            run = SweepRun(run_id, seed, stored.status, passed, summary, stored.error)
        by_point.setdefault(point, []).append(run)
    combos = itertools.product(*record.grid.values())
    points = [
        SweepPoint(dict(zip(record.grid, combo, strict=True)), tuple(by_point.get(i, ())))
        for i, combo in enumerate(combos)
    ]
    figure = store.sweep_dir(record.id) / "figure.png"
    return SweepResult(
        record.id,
        record.experiment,
        record.preset,
        record.grid,
        record.seeds,
        record.overrides,
        record.status,
        points,
        _metrics(_declared_metrics(record.experiment, lookup), points),
        store,
        lookup,
        {"figure": str(figure)} if figure.exists() else {},
    )


def _declared_metrics(experiment: str, lookup: Callable[[str], Any]) -> tuple[str, ...]:
    try:
        return tuple(lookup(experiment).sweep_metrics)
    except UserError:  # an entry no longer in the catalog: its stored sweeps still show
        return ()


def _metrics(declared: tuple[str, ...], points: list[SweepPoint]) -> tuple[str, ...]:
    """The entry's ``sweep_metrics`` that the runs measured, else the first summary keys of a finished run."""
    summaries = [run.summary for point in points for run in point.runs if run.status == "finished" and run.summary]
    # an entry's modes measure different things (double-descent's epoch mode has no peak width): keep the declared
    # keys that the sweep's runs have, else fall back to the runs' own first keys
    present = tuple(k for k in declared or () if any(k in s for s in summaries))
    if present or (declared and not summaries):
        return present or tuple(declared)
    return tuple(k for k in summaries[0] if k != "wall_seconds")[:MAX_METRICS] if summaries else ()


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ",".join(map(_fmt, value)) if isinstance(value, list) else str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _fmt_stat(mean: float, std: float, n: int, seeds: int, never: int = 0) -> str:
    if n == 0:
        return "never" if never else "n/a"
    text = f"{mean:.4g}" if math.isnan(std) else f"{mean:.4g} ± {std:.2g}"
    if never:
        return f"{text} ({never} never)"
    return text if n == seeds else f"{text} (n={n})"


def _json(x: float) -> float | None:
    return None if math.isnan(x) else x


def _last_line(error: str | None) -> str:
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else "no reason recorded"
