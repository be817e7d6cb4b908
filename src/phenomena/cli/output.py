"""Plain-text pieces the commands share: value formatting, aligned columns, where a run's files are."""

from __future__ import annotations

import math
import time
from typing import Any

import click


def value_text(value: Any) -> str:
    """A config value as a user would type it after ``-s key=``: tuples comma-joined, None as ``none``."""
    if isinstance(value, tuple | list):
        return ",".join(map(value_text, value))
    return "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def number(value: Any) -> str:
    """A summary value: six significant digits, ``n/a`` for NaN."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def columns(rows: list[tuple]) -> str:
    """Rows as left-aligned columns, a rule under the first (header) row."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def when(timestamp: float | None) -> str:
    """A stored time as local ``YYYY-MM-DD HH:MM``."""
    return "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def echo_sweep(result, home: str) -> None:
    """The sweep table, its figure and how to see it again."""
    click.echo(result.table())
    figure = result.artifacts.get("figure")
    if figure:
        click.echo(f"figure: {figure}")
    click.echo(
        f"record: {home}/phenomena.db  (phenomena show {result.sweep_id}; phenomena runs --sweep {result.sweep_id})"
    )


def echo_artifacts(result, home: str) -> None:
    """Where a run's figure and record are."""
    figure = result.artifacts.get("figure")
    if figure:
        click.echo(f"figure: {figure}")
    click.echo(f"record: {home}/phenomena.db  (phenomena show {result.run_id})")
