"""What a catalog entry is, and what its ``run`` may use: :class:`Entry`, :class:`Control`, :class:`Reference`,
:class:`Calibration` and :class:`RunContext`.

A catalog file reads top to bottom like a short paper (docstring, config, presets, ``run``, ``verdict``,
``figure``) and ends in one ``ENTRY = Entry(...)`` that names all of it. The runner executes an Entry; it never
reads a module's globals. See ``CONTRIBUTING.md`` for adding one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any, TypeVar

from phenomena.config import apply_overrides, flat, run_id
from phenomena.errors import UserError
from phenomena.result import Check, Result, Series, Verdict

T = TypeVar("T")
PRESET_ROLES = ("smoke", "quick")  # every entry has these; the third is "paper" (published) or "full"


@dataclasses.dataclass(frozen=True)
class Control:
    """A run that removes the mechanism a check claims, so that check must fail.

    ``overrides`` are dotted config keys applied to the preset being judged; ``must_fail`` names the checks
    (each a prefix of a check's name, e.g. ``"delay"``) that must fail under them; ``why`` says what the
    control removes.

    ``derived``: the overrides change only what the verdict reads (which estimator, which trained arm is judged),
    never what a run computes: every run already measures the control's quantity. ``phenomena verify`` then
    judges the main runs' results under the control's config instead of training them again; a test runs each
    derived control directly on smoke and requires the same verdict (``tests/test_derived_controls.py``).
    """

    name: str
    overrides: Mapping[str, Any]
    must_fail: tuple[str, ...]
    why: str = ""
    derived: bool = False

    def __post_init__(self):
        if not self.must_fail:
            raise ValueError(f"control {self.name!r} names no check that must fail")


@dataclasses.dataclass(frozen=True)
class Reference:
    """A published number: ``metric`` (a summary key) measured at ``value`` in ``source`` for the setting of
    ``preset``; a run of that preset should land within ``tol`` (absolute) of it, for the reason ``note``."""

    source: str
    preset: str
    metric: str
    value: float
    tol: float
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The seeds a verdict's thresholds were chosen on (never the seeds it is judged on) and what was observed
    there: ``observed`` maps a summary key to its values over those seeds."""

    seeds: tuple[int, ...]
    note: str = ""
    observed: Mapping[str, tuple[float, ...]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One phenomenon of the catalog.

    ``config`` is the entry's config class; ``presets`` maps ``smoke``, ``quick`` and ``paper`` (the published
    setting) or ``full`` (a larger CPU transposition) to configs, and ``costs`` gives each one's rough cost.
    ``run(cfg, ctx) -> Result`` trains and measures, ``verdict(result) -> Verdict`` judges, ``figure(result)``
    draws. ``smoke_holds`` declares whether the smoke preset's verdict is expected to hold (on any CPU, with
    margin) or the smoke run only proves the pipeline. ``sweep_metrics`` are the summary keys a sweep table
    shows. ``controls`` remove a mechanism and must make the checks they name fail; ``references`` are published
    numbers, judged as extra checks on runs of their preset's exact setting; ``calibration`` records the seeds
    the thresholds were chosen on. ``unused(cfg)`` names the dotted keys or sections that this config's run does
    not read; they are left out of the run id. ``preflight(cfg)`` checks what the config alone cannot (a data
    folder on disk, a size against the data generated) and raises UserError; the runner calls it for every run
    before anything is written. ``pieces`` names what the run spreads over ``RunContext.map``'s workers (e.g.
    "widths"); empty when it has no independent pieces (``--workers`` then has no effect). ``model(cfg)`` builds
    the (untrained) network a run of ``cfg`` trains, so that a run saved with ``-s checkpoint=true`` can be loaded
    back (:meth:`load_model`).
    """

    name: str
    summary: str
    papers: tuple[str, ...]
    config: type
    presets: Mapping[str, Any]
    costs: Mapping[str, str]
    run: Callable[[Any, RunContext], Result]
    verdict: Callable[[Result], Verdict]
    figure: Callable[[Result], Any]
    smoke_holds: bool
    sweep_metrics: tuple[str, ...] = ()
    controls: tuple[Control, ...] = ()
    references: tuple[Reference, ...] = ()
    calibration: Calibration | None = None
    unused: Callable[[Any], Iterable[str]] | None = None
    preflight: Callable[[Any], None] | None = None
    pieces: str = ""
    model: Callable[[Any], Any] | None = None

    def __post_init__(self):
        for ref in self.references:
            if ref.preset not in self.presets:
                raise ValueError(f"{self.name}: reference {ref.source!r} names no preset {ref.preset!r}")
        missing = [p for p in PRESET_ROLES if p not in self.presets]
        if missing or set(self.presets) - {*PRESET_ROLES, "paper", "full"}:
            raise ValueError(f"{self.name}: presets must be smoke, quick and paper or full; got {list(self.presets)}")
        if set(self.costs) != set(self.presets):
            raise ValueError(f"{self.name}: costs must name exactly the presets {list(self.presets)}")
        for preset, cfg in self.presets.items():
            if not isinstance(cfg, self.config):
                raise TypeError(f"{self.name}: preset {preset!r} is not a {self.config.__name__}")

    @property
    def module(self) -> str:
        """The module that defines the entry (a sweep worker imports it by this name)."""
        return self.run.__module__

    def resolve(
        self, preset: str = "quick", overrides: Mapping[str, Any] | Iterable[str] = (), seed: int | None = None
    ) -> Any:
        """The resolved config: the preset, then the overrides, then ``seed`` (if given)."""
        if preset not in self.presets:
            choices = ", ".join(self.presets)
            raise UserError(f"experiment {self.name!r} has no preset {preset!r}; choose one of {choices}")
        cfg = apply_overrides(self.presets[preset], overrides)
        if seed is not None:
            if _sets_seed(overrides) and cfg.seed != seed:
                raise UserError(f"conflicting values for the seed: --seed {seed} and seed={cfg.seed} in the overrides")
            cfg = apply_overrides(cfg, {"seed": seed})
        return cfg

    def load_model(self, result: Result):
        """The trained network of ``result``: ``model(config)`` with the weights of its ``checkpoint`` artifact."""
        from phenomena.training import load_checkpoint

        path = result.artifacts.get("checkpoint")
        if self.model is None:
            raise UserError(f"{self.name} does not save its trained model")
        if not path or not Path(path).is_file():
            keys = {f.name for f in dataclasses.fields(self.config)}
            hint = " (run it with -s checkpoint=true)" if "checkpoint" in keys else ""
            raise UserError(f"run {result.run_id} saved no checkpoint{hint}")
        return load_checkpoint(self.model(result.config), path).eval()

    def judge(self, result: Result) -> Verdict:
        """The verdict's checks, then one check per reference whose preset is this run's setting (seed aside):
        ``|measured - published| <= tol``."""
        checks = list(self.verdict(result).checks)
        for ref in self.references:
            preset = self.presets[ref.preset]
            if dataclasses.replace(result.config, seed=preset.seed) != preset:
                continue
            measured = result.summary.get(ref.metric, math.nan)
            checks.append(
                Check(
                    f"reference: {ref.metric} vs {ref.value:g} ({ref.source})",
                    abs(measured - ref.value),
                    "<=",
                    ref.tol,
                    note=ref.note,
                )
            )
        return Verdict(tuple(checks))

    def run_id(self, cfg: Any, version: str) -> str:
        """The id of the run of ``cfg``: keys the run does not read do not enter it."""
        return run_id(self.name, cfg, version, self.unused(cfg) if self.unused else ())


@dataclasses.dataclass
class RunContext:
    """Handed to ``run(cfg, ctx)``.

    ``seed`` is the run's seed; ``generator(stream)`` gives an independent, reproducible ``torch.Generator`` per
    named stream ("data", "init", "batches", ...) so adding one random draw never shifts another. ``artifacts`` is
    the run's own folder (write checkpoints there), ``cache`` a shared folder for derived data sets. ``workers``
    is how many processes the run may use for independent pieces (:meth:`map`): 1 by default and inside sweep
    workers (the sweep already fills the cores), ``phenomena run --workers K`` to spread one run.
    ``experiment`` is the entry's name, which :meth:`result` gives the result. ``shared_dir`` holds the pieces
    that runs computed together share (:meth:`shared`; None outside a sweep or verify), ``reused`` names those
    this run took from another.
    """

    run_id: str
    seed: int
    artifacts: Path
    cache: Path
    show_progress: bool = True
    workers: int = 1
    experiment: str = ""
    shared_dir: Path | None = None
    reused: list[str] = dataclasses.field(default_factory=list)  # the pieces this run took from another

    def shared(self, piece: str, cfg: Any, compute: Callable[[], T], ignore: Iterable[str] = ()) -> T:
        """``compute()``, or the value that another run computed together with this one (the same sweep or
        ``verify``) returned for the same piece.

        A control often repeats part of its main run bit for bit: flat-minima's "small SAM radius" retrains the
        small- and large-batch networks of the main run. The piece is keyed by its name, the entry and ``cfg``
        (the run's whole config, seed included) without the fields in ``ignore`` that the piece does not read:
        dotted keys (``"train.rho"``) or whole sections (``"noise"``: every ``noise.*`` key). ``compute`` must
        take its randomness only from generators it makes (``self.generator``) and change nothing but what it
        returns, so that skipping it leaves the rest of the run as it was; then a run that reuses a piece gets
        the same bits as one that computes it.

        Outside a sweep or verify (``shared_dir`` None), ``compute()`` runs every time. Raises ValueError for an
        ignored name that is neither a key nor a section of the config (a typo would otherwise share nothing,
        silently).
        """
        if self.shared_dir is None:
            return compute()
        fields = flat(cfg)
        ignore = tuple(ignore)
        unknown = [name for name in ignore if not any(_within(key, name) for key in fields)]
        if unknown:
            raise ValueError(f"shared piece {piece!r} ignores keys the config does not have: {', '.join(unknown)}")
        kept = {k: v for k, v in fields.items() if not any(_within(k, name) for name in ignore)}
        key = json.dumps([self.experiment, piece, kept], sort_keys=True)
        path = self.shared_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"
        try:
            with open(path, "rb") as f:
                value = pickle.load(f)
            self.reused.append(piece)
            return value
        except FileNotFoundError:
            pass
        value = compute()
        # written whole, then renamed: a sibling computing the same piece at the same time finds all or nothing
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with open(partial, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
        return value

    def result(
        self,
        cfg: Any,
        summary: dict[str, float],
        series: dict[str, Series] | None = None,
        artifacts: dict[str, str] | None = None,
    ) -> Result:
        """The run's :class:`Result`, named after the entry being run."""
        return Result(self.experiment, cfg, summary=summary, series=series or {}, artifacts=artifacts or {})

    def generator(self, stream: str = ""):
        """A ``torch.Generator`` seeded for ``stream``."""
        import torch

        return torch.Generator().manual_seed(self.stream_seed(stream))

    def stream_seed(self, stream: str = "") -> int:
        """A seed for ``stream`` derived from the run's seed (stable across processes, unlike ``hash``)."""
        mix = sum((i + 1) * ord(c) for i, c in enumerate(stream))
        return (self.seed * 1_000_003 + mix) % (2**63)

    def progress(self, total: int, desc: str = ""):
        """A tqdm bar on stderr; off when progress is off (``--quiet``) or stderr is not a terminal."""
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            desc=desc,
            file=sys.stderr,
            disable=not (self.show_progress and sys.stderr.isatty()),
            leave=False,
            dynamic_ncols=True,
        )

    def map(
        self,
        fn: Callable,
        items: Sequence,
        cost: Sequence[float] | None = None,
        done: Callable[[int, object], None] | None = None,
    ) -> list:
        """``[fn(item) for item in items]``, spread over ``workers`` processes when there are more than one.

        Workers are spawned (no state is inherited, as with the sweep's process executor) with one torch thread
        each, so ``fn`` must be a module-level function and items picklable; the largest ``cost`` first keeps
        the processes evenly busy. ``done(i, result)`` runs in this process as item i finishes (progress bars).
        Results are in the order of ``items`` and, computed at one thread, equal those of a one-thread run. A
        failed piece (or Ctrl-C) fails the map and stops the pieces not yet finished.
        """
        from phenomena.parallel import SpawnPool

        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            out = []
            for i, item in enumerate(items):
                out.append(fn(item))
                if done is not None:
                    done(i, out[-1])
            return out
        order = sorted(range(len(items)), key=lambda i: -cost[i]) if cost is not None else range(len(items))
        out: list = [None] * len(items)
        with SpawnPool(min(self.workers, len(items)), threads=1) as pool:
            futures = {pool.submit(fn, items[i]): i for i in order}
            for future in as_completed(futures):
                i = futures[future]
                out[i] = future.result()
                if done is not None:
                    done(i, out[i])
        return out


def _within(key: str, name: str) -> bool:
    """Whether the dotted ``key`` is ``name`` or lies in the section ``name``."""
    return key == name or key.startswith(name + ".")


def _sets_seed(overrides: Mapping[str, Any] | Iterable[str]) -> bool:
    """Whether ``overrides`` (a mapping, or ``key=value`` strings) set the ``seed`` key."""
    keys = overrides.keys() if isinstance(overrides, Mapping) else (str(o).partition("=")[0] for o in overrides)
    return any(str(k).strip() == "seed" for k in keys)
