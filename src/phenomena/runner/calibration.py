"""``phenomena verify --calibration``: each entry's preset and controls re-run on the seeds its thresholds were
chosen on, for maintainers.

A change that rounds differently (a faster kernel, another layout) re-draws every chaotic training run it
touches, so the values an entry's ``Calibration`` recorded no longer describe its code. Before such a change
lands, the entry is run again where its thresholds were chosen: do the checks still hold on the calibration seeds
and do the controls still fail there, and where did the recorded values move? The thresholds are not re-chosen
here (that would be tuning them to the new draw); the held-out verdict is still ``phenomena verify``'s.

Nothing here is a verification: it is not stored as one, and its seeds are the ones verify refuses.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

from phenomena.errors import UserError
from phenomena.experiment import Entry
from phenomena.result import decode_float
from phenomena.runner.sweep import run_plans
from phenomena.runner.verify import Verification, entry_stats, plan_entries, trained_plans
from phenomena.store import Store


@dataclasses.dataclass(frozen=True)
class Observed:
    """One key of an entry's ``Calibration.observed``: the values recorded, and those measured now by the main
    runs on the same seeds (None when the key is not in their summaries: a control's value, recorded under a
    name of the entry's choosing, which the checks of the control rows show instead)."""

    key: str
    recorded: tuple[float, ...]
    measured: tuple[float, ...] | None

    def row(self) -> str:
        if self.measured is None:
            return f"  {self.key}: recorded {_span(self.recorded)}; not a summary key of the preset's runs"
        values = ", ".join(_short(v) for v in self.measured)
        return f"  {self.key}: recorded {_span(self.recorded)}; now {_span(self.measured)}  ({values})"


@dataclasses.dataclass(frozen=True)
class Recheck:
    """The calibration seeds of some entries (those that share them), judged as verify judges, and per entry the
    recorded values against today's."""

    verification: Verification
    observed: dict[str, tuple[Observed, ...]]

    @property
    def passed(self) -> bool:
        return self.verification.passed

    def table(self) -> str:
        lines = [f"on the calibration seeds (not a verification): {self.verification.table()}"]
        for name, rows in self.observed.items():
            if rows:
                lines += [f"{name}: Calibration.observed, recorded vs now", *(r.row() for r in rows)]
        return "\n".join(lines)


def recheck_calibration(
    entries: Sequence[Entry],
    preset: str = "quick",
    executor: str = "process",
    workers: int | None = None,
    ray_address: str | None = None,
    force: bool = False,
    store: Store | None = None,
    progress: bool = True,
    on_start: Callable | None = None,
) -> list[Recheck]:
    """Run ``entries`` at ``preset`` with their controls on each one's own calibration seeds (all runs on one
    executor, finished runs reused) and judge them as :func:`~phenomena.runner.verify.verify` does; one
    :class:`Recheck` per set of seeds. Raises UserError for an entry that records no calibration."""
    if not entries:
        raise UserError("nothing to re-check: name one or more experiments, or none for the whole catalog")
    missing = [e.name for e in entries if e.calibration is None or not e.calibration.seeds]
    if missing:
        raise UserError(f"no calibration seeds recorded for {', '.join(missing)}")
    groups: dict[tuple[int, ...], list[Entry]] = {}
    for entry in entries:
        groups.setdefault(tuple(entry.calibration.seeds), []).append(entry)
    planned = {seeds: plan_entries(group, preset, list(seeds)) for seeds, group in groups.items()}
    store = store if store is not None else Store()
    start = time.perf_counter()
    plans = [p for group in planned.values() for p in trained_plans(group)]
    run_plans(plans, executor, workers, ray_address, force, store, progress, f"calibration [{preset}]", on_start)
    wall = time.perf_counter() - start
    out = []
    for seeds, group in planned.items():
        stats = [entry_stats(store, entry, main, controls) for entry, main, controls in group]
        verification = Verification("calibration", preset, list(seeds), stats, wall)
        out.append(Recheck(verification, {entry.name: _observed(store, entry, main) for entry, main, _ in group}))
    return out


def _observed(store: Store, entry: Entry, main) -> tuple[Observed, ...]:
    records = store.records(j.run_id for j in main.jobs)
    summaries = [
        (records[j.run_id].summary or {}) if j.run_id in records and records[j.run_id].status == "finished" else {}
        for j in main.jobs
    ]
    rows = []
    for key, recorded in entry.calibration.observed.items():
        known = any(key in s for s in summaries)
        measured = tuple(float(decode_float(s.get(key, math.nan))) for s in summaries) if known else None
        rows.append(Observed(key, tuple(recorded), measured))
    return tuple(rows)


def _short(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _span(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "unmeasured"
    low, high = min(finite), max(finite)
    text = _short(low) if low == high else f"{_short(low)} to {_short(high)}"
    missing = len(values) - len(finite)
    return text + (f" ({missing} unmeasured)" if missing else "")
