"""``phenomena verify``: each entry's preset on held-out seeds, and each declared control on the same seeds.

A verdict earns trust when it passes on seeds that were not used to choose its thresholds (an Entry's
``calibration`` seeds are refused here) and when removing the mechanism makes the claimed check fail. Every run
goes through the sweep machinery: one sweep per entry and one per control, all computed on one executor,
resumable, and reusing finished runs; a derived control (:attr:`Control.derived`) trains nothing and judges the
main runs' results under its config. An entry passes verification when its verdict passes on at least
:data:`PASS_RATE` of the seeds and each control fails its ``must_fail`` checks on at least that share too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from phenomena import __version__
from phenomena.errors import UserError
from phenomena.experiment import Control, Entry
from phenomena.result import Verdict, decode_float, encode_float
from phenomena.runner.execute import record_to_result
from phenomena.runner.grid import SweepPlan, plan_sweep, seed_list
from phenomena.runner.sweep import run_plans
from phenomena.store import Store

PASS_RATE = 0.8  # an entry's verdict, and each control's failure, must hold on at least this share of seeds


@dataclasses.dataclass(frozen=True)
class CheckStats:
    """One check over the seeds: its measured values (``nan`` where a run did not finish) and pass flags."""

    name: str
    op: str
    threshold: float
    values: tuple[float, ...]
    passed: tuple[bool, ...]

    @property
    def finite(self) -> list[float]:
        return [v for v in self.values if math.isfinite(v)]

    def spread(self) -> str:
        """'mean ± sd' of the finite values, and how many were unmeasured."""
        vals = self.finite
        text = "unmeasured" if not vals else f"{statistics.fmean(vals):.4g}"
        if len(vals) > 1:
            text += f" ± {statistics.stdev(vals):.2g}"
        missing = len(self.values) - len(vals)
        return text + (f" ({missing} unmeasured)" if missing and vals else "")


@dataclasses.dataclass(frozen=True)
class ControlStats:
    """A control over the seeds: ``failed[i]`` is whether every check it names failed on seed i (a run that did
    not finish, or a prefix that names no check, does not count as a failure)."""

    name: str
    overrides: dict
    must_fail: tuple[str, ...]
    sweep_id: str
    failed: tuple[bool, ...]
    unmatched: tuple[str, ...]  # must_fail prefixes that named no check of some run
    derived: bool = False  # judged on the main runs' results under the control's config (Control.derived)

    @property
    def rate(self) -> float:
        return sum(self.failed) / len(self.failed) if self.failed else 0.0

    @property
    def ok(self) -> bool:
        return self.rate >= PASS_RATE


@dataclasses.dataclass(frozen=True)
class EntryStats:
    """One entry's verification: its preset's runs over the seeds, each check, and each control."""

    name: str
    sweep_id: str
    statuses: tuple[str, ...]
    verdicts: tuple[bool, ...]
    checks: tuple[CheckStats, ...]
    controls: tuple[ControlStats, ...]
    wall_seconds: float

    @property
    def rate(self) -> float:
        return sum(self.verdicts) / len(self.verdicts) if self.verdicts else 0.0

    @property
    def ok(self) -> bool:
        return self.rate >= PASS_RATE and all(c.ok for c in self.controls)


@dataclasses.dataclass
class Verification:
    """The result of ``phenomena verify``: per entry, the pass rates and spreads over held-out seeds, and the
    fail rates of its controls."""

    id: str
    preset: str
    seeds: list[int]
    entries: list[EntryStats]
    wall_seconds: float

    @property
    def passed(self) -> bool:
        return bool(self.entries) and all(e.ok for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite values as 'nan'/'inf' strings)."""
        out = dataclasses.asdict(self)
        for entry in out["entries"]:
            for check in entry["checks"]:
                check["values"] = [encode_float(v) for v in check["values"]]
        return {**out, "passed": self.passed}

    @classmethod
    def from_dict(cls, d: dict) -> Verification:
        entries = []
        for e in d["entries"]:
            checks = tuple(
                CheckStats(
                    c["name"], c["op"], c["threshold"], tuple(decode_float(v) for v in c["values"]), tuple(c["passed"])
                )
                for c in e["checks"]
            )
            controls = tuple(
                ControlStats(
                    c["name"],
                    c["overrides"],
                    tuple(c["must_fail"]),
                    c["sweep_id"],
                    tuple(c["failed"]),
                    tuple(c["unmatched"]),
                    c.get("derived", False),
                )
                for c in e["controls"]
            )
            entries.append(
                EntryStats(
                    e["name"],
                    e["sweep_id"],
                    tuple(e["statuses"]),
                    tuple(e["verdicts"]),
                    checks,
                    controls,
                    e["wall_seconds"],
                )
            )
        return cls(d["id"], d["preset"], list(d["seeds"]), entries, d["wall_seconds"])

    def table(self) -> str:
        """One row per entry (verdict pass rate over seeds), per check (pass rate, mean ± sd vs threshold) and per
        control (fail rate of the checks it must fail), then the overall result."""
        n = len(self.seeds)
        rows = [("entry / check", "pass", "measured (mean ± sd)", "threshold", "wall")]
        for e in self.entries:
            flag = "" if e.ok else "  <- FAIL"
            rows.append((f"{e.name}{flag}", f"{sum(e.verdicts)}/{n}", "", "", f"{e.wall_seconds:.0f} s"))
            for c in e.checks:
                rows.append((f"  {c.name}", f"{sum(c.passed)}/{n}", c.spread(), f"{c.op} {c.threshold:g}", ""))
            for c in e.controls:
                setting = ", ".join(f"{k}={_text(v)}" for k, v in c.overrides.items())
                setting += "; the main runs, judged under it" if c.derived else ""
                rows.append((f"  control {c.name!r} ({setting})", f"fails {sum(c.failed)}/{n}", "", "", ""))
                rows.append((f"    must fail: {'; '.join(c.must_fail)}",))
                if c.unmatched:
                    rows.append((f"    names no check: {'; '.join(c.unmatched)}",))
        # notes (one cell) run on past the columns instead of widening the first one
        widths = [max(len(r[i]) for r in rows if len(r) > 1) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        controls = sum(len(e.controls) for e in self.entries)
        seeds = (
            f"seeds {self.seeds[0]}-{self.seeds[-1]}"
            if self.seeds == list(range(self.seeds[0], self.seeds[-1] + 1))
            else f"seeds {self.seeds}"
        )
        head = (
            f"verify {self.id} [{self.preset}]: {len(self.entries)} entries x {seeds}, {controls} controls; "
            f"an entry passes when its verdict holds on >= {PASS_RATE:.0%} of seeds and each control fails "
            f"on >= {PASS_RATE:.0%}"
        )
        compute = sum(e.wall_seconds for e in self.entries) / 60
        tail = (
            f"verify: {'PASS' if self.passed else 'FAIL'} in {self.wall_seconds / 60:.1f} min; its runs took "
            f"{compute:.1f} min of compute in all (finished runs are reused)"
        )
        return "\n".join([head, *lines, tail])


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def verification_id(names: Sequence[str], preset: str, seeds: Sequence[int]) -> str:
    payload = json.dumps({"names": list(names), "preset": preset, "seeds": list(seeds), "version": __version__})
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def plan_verification(
    entries: Sequence[Entry], preset: str, seeds: list[int]
) -> list[tuple[Entry, SweepPlan, list[SweepPlan]]]:
    """Per entry: the plan of its preset over ``seeds`` and one plan per control; raises UserError for a preset
    an entry lacks or seeds it was calibrated on."""
    for entry in entries:
        used = sorted(set(seeds) & set(entry.calibration.seeds if entry.calibration else ()))
        if used:
            raise UserError(f"{entry.name}'s thresholds were chosen on seeds {used}: verify on other seeds")
    return plan_entries(entries, preset, seeds)


def plan_entries(
    entries: Sequence[Entry], preset: str, seeds: list[int]
) -> list[tuple[Entry, SweepPlan, list[SweepPlan]]]:
    """Per entry: the plan of its preset over ``seeds`` and one plan per control (any seeds); raises UserError
    for a preset an entry lacks."""
    planned = []
    for entry in entries:
        if preset not in entry.presets:
            raise UserError(
                f"experiment {entry.name!r} has no preset {preset!r}; choose one of {', '.join(entry.presets)}"
            )
        main = plan_sweep(entry, {}, seeds, preset, {}, require_grid=False)
        controls = [plan_sweep(entry, {}, seeds, preset, dict(c.overrides), require_grid=False) for c in entry.controls]
        planned.append((entry, main, controls))
    return planned


def verify(
    entries: Sequence[Entry],
    preset: str = "quick",
    seeds: int | Sequence[int] = 3,
    executor: str = "process",
    workers: int | None = None,
    ray_address: str | None = None,
    force: bool = False,
    store: Store | None = None,
    progress: bool = True,
    on_start: Callable | None = None,
) -> Verification:
    """Run ``entries`` on ``seeds`` at ``preset`` with their controls, judge them, store and return the result."""
    if not entries:
        raise UserError("nothing to verify: name one or more experiments, or none for the whole catalog")
    chosen = seed_list(seeds)
    store = store if store is not None else Store()
    planned = plan_verification(entries, preset, chosen)
    start = time.perf_counter()
    run_plans(
        trained_plans(planned), executor, workers, ray_address, force, store, progress, f"verify [{preset}]", on_start
    )
    stats = [entry_stats(store, entry, main, controls) for entry, main, controls in planned]
    names = [e.name for e in entries]
    result = Verification(verification_id(names, preset, chosen), preset, chosen, stats, time.perf_counter() - start)
    store.save_verification(result.id, preset, chosen, names, result.passed, result.to_dict())
    return result


def trained_plans(planned: list[tuple[Entry, SweepPlan, list[SweepPlan]]]) -> list[SweepPlan]:
    """The plans that train: each entry's main plan and those of its controls that are not derived (figures are
    left to be drawn when a run is first shown)."""
    return [
        dataclasses.replace(p, figures=False)
        for entry, main, controls in planned
        for p in (main, *(c for control, c in zip(entry.controls, controls, strict=True) if not control.derived))
    ]


def _verdicts(store: Store, plan: SweepPlan) -> tuple[list[str], list[Verdict | None], float]:
    """Per seed of a one-point plan: run status and verdict (None unless finished); and the runs' wall time."""
    records = store.records(j.run_id for j in plan.jobs)
    statuses, verdicts, wall = [], [], 0.0
    for job in plan.jobs:
        record = records.get(job.run_id)
        status = record.status if record else "pending"
        statuses.append(status)
        finished = status == "finished" and record.verdict
        verdicts.append(Verdict.from_dict(record.verdict) if finished else None)
        wall += float((record.summary or {}).get("wall_seconds") or 0.0) if record else 0.0
    return statuses, verdicts, wall


def _derived_verdicts(store: Store, entry: Entry, main: SweepPlan, plan: SweepPlan) -> list[Verdict | None]:
    """Per seed: the verdict of the main run's result judged under the control plan's config (None unless the
    main run finished)."""
    records = store.records(j.run_id for j in main.jobs)
    verdicts: list[Verdict | None] = []
    for main_job, job in zip(main.jobs, plan.jobs, strict=True):
        record = records.get(main_job.run_id)
        if record is None or record.status != "finished":
            verdicts.append(None)
            continue
        result = record_to_result(record, store, lambda _: entry)
        verdicts.append(entry.judge(dataclasses.replace(result, config=job.config, verdict=None)))
    return verdicts


def entry_stats(store: Store, entry: Entry, main: SweepPlan, controls: list[SweepPlan]) -> EntryStats:
    """Judge one entry's finished runs: its verdicts and checks over the seeds, and its controls' failures."""
    statuses, verdicts, wall = _verdicts(store, main)
    control_stats = []
    for control, plan in zip(entry.controls, controls, strict=True):
        if control.derived:
            control_verdicts = _derived_verdicts(store, entry, main, plan)
        else:
            _, control_verdicts, control_wall = _verdicts(store, plan)
            wall += control_wall
        # a derived control's runs are the main sweep's
        control_stats.append(_control_stats(control, main if control.derived else plan, control_verdicts))
    return EntryStats(
        entry.name,
        main.id,
        tuple(statuses),
        tuple(bool(v and v.passed) for v in verdicts),
        _check_stats(verdicts),
        tuple(control_stats),
        wall,
    )


def _check_stats(verdicts: list[Verdict | None]) -> tuple[CheckStats, ...]:
    """The checks of the finished runs, matched by position (a verdict lists the same checks on every seed; their
    names may carry measured values, e.g. 't_gen = 188', so the shown name is what the seeds' names share)."""
    done = [v for v in verdicts if v is not None]
    if not done:
        return ()
    out = []
    for i in range(max(len(v.checks) for v in done)):
        at = [v.checks[i] if v is not None and i < len(v.checks) else None for v in verdicts]
        first = next(c for c in at if c is not None)
        values = tuple(c.value if c is not None else math.nan for c in at)
        passed = tuple(bool(c and c.passed) for c in at)
        out.append(CheckStats(_shared_name([c.name for c in at if c]), first.op, first.threshold, values, passed))
    return tuple(out)


def _shared_name(names: list[str]) -> str:
    if len(set(names)) == 1:
        return names[0]
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    cut = prefix.find(" (") if " (" in prefix else prefix.rfind(" ")
    return (prefix[:cut] if cut > 0 else prefix).rstrip(" (=:,") + " (...)"


def _control_stats(control: Control, plan: SweepPlan, verdicts: list[Verdict | None]) -> ControlStats:
    judged = [control_failed(control, v) if v is not None else (False, ()) for v in verdicts]
    unmatched = sorted({p for _, missing in judged for p in missing})
    return ControlStats(
        control.name,
        dict(control.overrides),
        tuple(control.must_fail),
        plan.id,
        tuple(ok for ok, _ in judged),
        tuple(unmatched),
        control.derived,
    )


def control_failed(control: Control, verdict: Verdict) -> tuple[bool, tuple[str, ...]]:
    """Whether ``verdict`` (of a run under ``control``'s overrides) fails every check the control names, and the
    prefixes that name no check (each must name at least one, or the control does not count as failed)."""
    missing = tuple(p for p in control.must_fail if not any(c.name.startswith(p) for c in verdict.checks))
    named = [c for c in verdict.checks if any(c.name.startswith(p) for p in control.must_fail)]
    return (not missing and not any(c.passed for c in named)), missing
