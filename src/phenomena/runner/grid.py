"""A sweep's plan: the cartesian product of grid values x seeds, every point validated, and the sweep id.

The plan is made before anything runs or is written, so a bad key or value anywhere in the grid is one error
and nothing else happens. Grid values are canonicalized through the config (``20`` and ``20.0`` for an int
field are the same value), and so is the sweep id: the hash of the experiment, preset, fixed overrides, grid
(keys sorted) and seeds, plus the package version (like the run id).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from phenomena import __version__
from phenomena.config import parse_override, parse_overrides
from phenomena.errors import UserError
from phenomena.experiment import Entry
from phenomena.runner.execute import resolve


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of a sweep: the grid point it belongs to, its seed, resolved config and run id."""

    point: int
    seed: int
    config: Any
    run_id: str


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: ``points`` (grid values per point, in product order) x ``seeds`` = ``jobs``."""

    id: str
    entry: Entry
    preset: str
    grid: dict[str, list]
    seeds: list[int]
    overrides: dict[str, Any]
    points: list[dict[str, Any]]
    jobs: list[Job]
    # draw each run's figure as it is recorded; verify does not: its runs' figures are drawn when first shown
    # (:func:`~phenomena.runner.execute.stored_figure`), so that drawing them does not take the workers' CPU
    figures: bool = True

    @property
    def members(self) -> list[tuple[int, int, str]]:
        """(point, seed, run id) of every job: the sweep's rows in the store."""
        return [(j.point, j.seed, j.run_id) for j in self.jobs]

    def unique_jobs(self) -> list[Job]:
        """One job per run id (two points may resolve to the same config, e.g. a grid key the entry ignores)."""
        seen: dict[str, Job] = {}
        for job in self.jobs:
            seen.setdefault(job.run_id, job)
        return list(seen.values())


def split_values(text: str) -> list[str]:
    """Split ``'1,2,3'`` at the commas outside brackets, so tuple values can be swept: ``'(0.9,0.98),(0.8,0.9)'``.

    >>> split_values("(0.9,0.98),(0.8,0.9)")
    ['(0.9,0.98)', '(0.8,0.9)']
    """
    parts, depth, current = [], 0, []
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_grid(tokens: Iterable[str]) -> dict[str, list[str]]:
    """Command-line grid options (``['model.width=4,8,16', 'train.lr=1e-3,1e-2']``) as key -> raw values."""
    grid: dict[str, list[str]] = {}
    for token in tokens:
        if "=" not in token:
            raise UserError(f"grid {token!r} is not of the form key.path=v1,v2,... (e.g. train.lr=1e-3,1e-2)")
        key, raw = parse_override(token)
        if key in grid:
            raise UserError(f"grid key {key!r} is given twice; list all its values once, e.g. {key}=1,2,3")
        grid[key] = split_values(raw)
    return grid


def _values(key: str, values: Any) -> list:
    if isinstance(values, str):
        values = split_values(values)
    elif isinstance(values, Sequence | range):
        values = list(values)
    else:
        values = [values]
    if not values or any(isinstance(v, str) and not v for v in values):
        raise UserError(f"grid key {key!r} needs one or more values separated by commas, e.g. {key}=1,2,3")
    return values


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """A count N (seeds 0..N-1) or a list of distinct seeds, as a list; UserError otherwise."""
    if isinstance(seeds, bool) or not isinstance(seeds, int | Sequence | range):
        raise UserError(f"seeds must be a number of seeds or a list of seeds; got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise UserError(f"the number of seeds must be a positive integer; got {seeds}")
        return list(range(seeds))
    out = list(seeds)
    if not out or not all(isinstance(s, int) and not isinstance(s, bool) for s in out) or len(set(out)) < len(out):
        raise UserError(f"seeds must be a non-empty list of distinct integers; got {seeds!r}")
    return out


def value_at(config: Any, key: str) -> Any:
    """The value of dotted ``key`` in a config (tuples as lists, as in JSON)."""
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return list(value) if isinstance(value, tuple) else value


def plan_sweep(
    entry: Entry,
    grid: Mapping[str, Any],
    seeds: int | Sequence[int] = 1,
    preset: str = "quick",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    require_grid: bool = True,
) -> SweepPlan:
    """Expand and validate a sweep: every grid point x seed is resolved to a config and a run id.

    ``grid`` maps dotted config keys to their values (a list, or a string ``'1,2,3'`` as typed on the command
    line); ``seeds`` is a count N (seeds 0..N-1) or a list of seeds, set through the config's ``seed`` key;
    ``overrides`` are fixed for every point. Raises UserError (naming the key and value) if any point is
    invalid, if a value is listed twice, or if a key is both fixed and swept. ``require_grid=False`` allows an
    empty grid: one point, the seeds of one configuration (as ``phenomena verify`` runs them).

    >>> plan = plan_sweep(get_entry("grokking"), {"train.weight_decay": [0, 1, 2]}, seeds=3, preset="smoke")
    >>> len(plan.points), len(plan.jobs)
    (3, 9)
    """
    if not isinstance(grid, Mapping) or (require_grid and not grid):
        raise UserError("a sweep needs a grid of one or more keys, e.g. --grid train.weight_decay=0,1,2")
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    if "seed" in grid or "seed" in overrides:
        raise UserError("set a sweep's seeds with --seeds N (seeds=N or a list), not as a config key")
    for key in grid:
        if key in overrides:
            raise UserError(f"config key {key!r} is both set and swept; keep it in one place")
    raw = {key: _values(key, values) for key, values in grid.items()}
    base, _ = resolve(entry, preset, overrides)
    chosen = seed_list(seeds)

    canonical: dict[str, list] = {}
    for key, values in raw.items():  # each value alone first, so an error names the first bad value
        seen = []
        for value in values:
            cfg, _ = resolve(entry, preset, {**overrides, key: value})
            value = value_at(cfg, key)
            if value in seen:
                raise UserError(f"grid key {key!r} lists the value {value!r} twice")
            seen.append(value)
        canonical[key] = seen

    points, jobs = [], []
    for index, combo in enumerate(itertools.product(*(range(len(v)) for v in raw.values()))):
        point = {key: raw[key][i] for key, i in zip(raw, combo, strict=True)}
        points.append({key: canonical[key][i] for key, i in zip(raw, combo, strict=True)})
        for seed in chosen:
            cfg, rid = resolve(entry, preset, {**overrides, **point}, seed)
            jobs.append(Job(index, seed, cfg, rid))

    fixed = {key: value_at(base, key) for key in overrides}
    payload = {
        "experiment": entry.name,
        "preset": preset,
        "overrides": dict(sorted(fixed.items())),
        "grid": dict(sorted(canonical.items())),
        "seeds": chosen,
        "version": __version__,
    }
    sweep_id = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    return SweepPlan(sweep_id, entry, preset, canonical, chosen, fixed, points, jobs)
