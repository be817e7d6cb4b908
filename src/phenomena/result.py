"""What a run produces: measured curves, a flat summary, a verdict of checks, and artifacts.

A :class:`Check` compares one measured value against a threshold and can fail; a :class:`Verdict` is the list
of checks of one run. The verdict is data: a run whose verdict fails has still finished.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from pathlib import Path
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclasses.dataclass(frozen=True)
class Check:
    """One claim of a phenomenon, measured: ``value <op> threshold``.

    ``name`` says what is checked in words a reader of the paper recognizes. A value that could not be measured
    (e.g. the test accuracy never reached its level, so there is no step t_gen) is ``nan``; any non-finite value
    (``nan``, ``±inf``) is *unmeasured* and fails whatever the comparison, with that reason (:attr:`reason`).
    """

    name: str
    value: float
    op: str
    threshold: float
    note: str = ""

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {sorted(_OPS)}, got {self.op!r}")

    @property
    def measured(self) -> bool:
        """Whether the value is a finite number (anything else is unmeasured, and fails)."""
        return isinstance(self.value, int | float) and math.isfinite(self.value)

    @property
    def passed(self) -> bool:
        return self.measured and bool(_OPS[self.op](self.value, self.threshold))

    @property
    def reason(self) -> str:
        """Why it failed, in words ('' when it passed)."""
        if self.passed:
            return ""
        if not self.measured:
            return f"unmeasured ({encode_float(self.value)})"
        return f"{_fmt(self.value)} is not {self.op} {_fmt(self.threshold)}"

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "value": encode_float(self.value), "passed": self.passed}

    @classmethod
    def from_dict(cls, d: dict) -> Check:
        return cls(d["name"], decode_float(d["value"]), d["op"], d["threshold"], d["note"])


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The checks of one run; it passes when every check passes."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, d: dict | None) -> Verdict | None:
        return None if d is None else cls(tuple(Check.from_dict(c) for c in d["checks"]))

    def table(self) -> str:
        """A plain-text table: check, measured value, threshold, pass/fail."""
        rows = [("check", "measured", "threshold", "")]
        for c in self.checks:
            shown = _fmt(c.value) if c.measured else f"unmeasured ({encode_float(c.value)})"
            rows.append((c.name, shown, f"{c.op} {_fmt(c.threshold)}", "PASS" if c.passed else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"verdict: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


@dataclasses.dataclass
class Series:
    """A named metric curve: values measured at steps."""

    steps: list[int]
    values: list[float]


@dataclasses.dataclass
class Result:
    """A run's outcome.

    Attributes: ``experiment`` and ``run_id``; ``config`` (the resolved frozen config); ``summary`` (flat dict of
    floats); ``series`` (name -> :class:`Series`); ``verdict``; ``artifacts`` (name -> path); ``status``
    (finished, diverged, failed) and ``meta`` (environment, timings).
    """

    experiment: str
    config: Any
    summary: dict[str, float] = dataclasses.field(default_factory=dict)
    series: dict[str, Series] = dataclasses.field(default_factory=dict)
    verdict: Verdict | None = None
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)
    run_id: str = ""
    status: str = "finished"
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    entry: Any = dataclasses.field(default=None, repr=False, compare=False)  # the catalog Entry, set by the runner

    def __getstate__(self) -> dict:
        # a worker hands its Result back without the Entry (the driver has its own)
        return {**self.__dict__, "entry": None}

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        """(steps, values) of a metric; raises KeyError naming the available ones."""
        if name not in self.series:
            raise KeyError(f"no series {name!r}; available: {', '.join(sorted(self.series))}")
        s = self.series[name]
        return s.steps, s.values

    def figure(self):
        """The experiment's figure for this result (a matplotlib Figure)."""
        if self.entry is None:
            raise RuntimeError("this Result was not made by the runner (no entry to draw it); use phenomena.run")
        return self.entry.figure(self)

    def model(self):
        """The trained network of a run that saved a checkpoint (``-s checkpoint=true`` where the entry has the
        key), rebuilt by its entry and loaded from ``model.safetensors``: apply the probes to it."""
        if self.entry is None:
            raise RuntimeError("this Result was not made by the runner (no entry to rebuild its model)")
        return self.entry.load_model(self)

    @property
    def figure_path(self) -> Path | None:
        path = self.artifacts.get("figure")
        return Path(path) if path else None

    def to_dict(self) -> dict:
        """JSON-ready: run_id, experiment, status, config, summary, verdict, artifacts."""
        from phenomena.config import to_dict

        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "status": self.status,
            "config": to_dict(self.config) if dataclasses.is_dataclass(self.config) else self.config,
            "summary": {k: encode_float(v) for k, v in self.summary.items()},
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "artifacts": dict(self.artifacts),
        }


def encode_float(x: Any) -> Any:
    """JSON has no NaN or infinity: a non-finite float is written as the string ``"nan"``, ``"inf"`` or
    ``"-inf"`` (so that it reloads as the same value: an infinite value read back as NaN could flip a verdict);
    anything else is returned as it is."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def decode_float(x: Any) -> Any:
    """The inverse of :func:`encode_float`; ``None`` (how older records wrote any non-finite value) is NaN."""
    if x is None:
        return math.nan
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return float(x)
    return x


def _fmt(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e6):
        return f"{int(x)}"
    return f"{x:.4g}"
