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
import re
import time
from collections.abc import Callable, Sequence

from phenomena.errors import UserError
from phenomena.experiment import Entry
from phenomena.result import decode_float
from phenomena.runner.grid import SweepPlan
from phenomena.runner.sweep import run_plans
from phenomena.runner.verify import Verification, entry_stats, plan_entries, trained_plans
from phenomena.store import Store


@dataclasses.dataclass(frozen=True)
class Observed:
    """One key of an entry's ``Calibration.observed``: the values recorded, and those measured now on the same
    seeds. ``source`` says where they were read: the preset's runs when the key is one of their summary keys;
    else a trained control's runs, whose summary key the recorded name ends with (an entry records a control's
    value under a name of its choosing, e.g. ``early_stopped_neural_slope`` for the ``neural_slope`` of its
    control ``early-stopped``: see :func:`_control_key`; the key read is named). ``measured`` is None when
    neither has it or the name is ambiguous (e.g. a derived control's value, which its runs store under a name
    only the entry's verdict knows, or a historical value no run computes any more)."""

    key: str
    recorded: tuple[float, ...]
    measured: tuple[float, ...] | None
    source: str | None = None

    def row(self) -> str:
        if self.measured is None:
            return f"  {self.key}: recorded {_span(self.recorded)}; not matched (see the checks above)"
        values = ", ".join(_short(v) for v in self.measured)
        where = f" [{self.source}]" if self.source else ""
        return f"  {self.key}: recorded {_span(self.recorded)}; now {_span(self.measured)}  ({values}){where}"


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
        out.append(
            Recheck(
                verification, {entry.name: _observed(store, entry, main, controls) for entry, main, controls in group}
            )
        )
    return out


def _observed(store: Store, entry: Entry, main: SweepPlan, controls: list[SweepPlan]) -> tuple[Observed, ...]:
    main_runs = _summaries(store, main)
    # a derived control's runs are the main ones, whose keys hold the preset's values, not the control's
    control_runs = [
        (control.name, _summaries(store, plan))
        for control, plan in zip(entry.controls, controls, strict=True)
        if not control.derived
    ]
    rows = []
    for key, recorded in entry.calibration.observed.items():
        if any(key in s for s in main_runs):
            rows.append(Observed(key, tuple(recorded), _values(main_runs, key)))
            continue
        control, k = _control_key(key, control_runs)
        if control is None:
            rows.append(Observed(key, tuple(recorded), None))
            continue
        rows.append(
            Observed(key, tuple(recorded), _values(dict(control_runs)[control], k), f"control {control!r}: {k}")
        )
    return tuple(rows)


def _control_key(key: str, control_runs: list[tuple[str, list[dict]]]) -> tuple[str | None, str]:
    """The trained control and its summary key that ``key`` records: the keys ``key`` ends with (after a prefix),
    narrowed to controls with a word of their name in that prefix when some have one; (None, "") unless that
    leaves a single control (two controls with the key and no name to choose: the recorded name is ambiguous)."""
    matches = [
        (name, k) for name, runs in control_runs for k in {k for s in runs for k in s} if key.endswith(k) and key != k
    ]

    def named(name: str, k: str) -> bool:
        prefix = set(re.split(r"[^a-z0-9]+", key[: -len(k)].lower()))
        return any(len(w) > 2 and w in prefix for w in re.split(r"[^a-z0-9]+", name.lower()))

    matches = [m for m in matches if named(*m)] or matches
    if len({name for name, _ in matches}) != 1:
        return None, ""
    return max(matches, key=lambda m: len(m[1]))


def _summaries(store: Store, plan: SweepPlan) -> list[dict]:
    """Per seed of a one-point plan: the summary of its finished run ({} otherwise)."""
    records = store.records(j.run_id for j in plan.jobs)
    out = []
    for job in plan.jobs:
        record = records.get(job.run_id)
        out.append((record.summary or {}) if record is not None and record.status == "finished" else {})
    return out


def _values(summaries: list[dict], key: str) -> tuple[float, ...]:
    return tuple(float(decode_float(s.get(key, math.nan))) for s in summaries)


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
