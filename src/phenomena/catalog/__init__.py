"""The catalog: one module per phenomenon, registered by name in a plain dict.

Each entry module defines, top to bottom like a short paper:

- a module docstring (the phenomenon, the papers, what the verdict checks); its first line is the summary;
- ``PAPERS`` (short citations) and ``Config`` (a frozen dataclass) with ``PRESETS`` = {"smoke", "quick",
  "paper"} -> Config and ``COSTS`` = preset -> rough CPU cost;
- ``run(cfg, ctx) -> Result`` (summary and series), ``verdict(result) -> Verdict``, ``figure(result) -> Figure``.

No entry imports another; shared needs live in ``training/``, ``probes/``, ``data/``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from phenomena.config import apply_overrides
from phenomena.errors import UserError

# name -> module; imported on first use so that listing names costs nothing
EXPERIMENTS: dict[str, str] = {
    "grokking": "phenomena.catalog.grokking",
    "lazy-training": "phenomena.catalog.lazy_training",
    "signal-propagation": "phenomena.catalog.signal_propagation",
    "infinite-width": "phenomena.catalog.infinite_width",
    "double-descent": "phenomena.catalog.double_descent",
    "representation-similarity": "phenomena.catalog.representation_similarity",
    "edge-of-stability": "phenomena.catalog.edge_of_stability",
    "flat-minima": "phenomena.catalog.flat_minima",
    "re-basin": "phenomena.catalog.re_basin",
    "mode-connectivity": "phenomena.catalog.mode_connectivity",
    "lottery-ticket": "phenomena.catalog.lottery_ticket",
    "information-plane": "phenomena.catalog.information_plane",
    "neural-collapse": "phenomena.catalog.neural_collapse",
}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A catalog entry: its module plus the uniform operations the runner needs."""

    name: str
    module: ModuleType

    @property
    def summary(self) -> str:
        doc = (self.module.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def papers(self) -> tuple[str, ...]:
        return tuple(self.module.PAPERS)

    @property
    def presets(self) -> dict[str, Any]:
        return dict(self.module.PRESETS)

    @property
    def costs(self) -> dict[str, str]:
        return dict(self.module.COSTS)

    def config(
        self,
        preset: str = "quick",
        overrides: Mapping[str, Any] | Iterable[str] = (),
        seed: int | None = None,
    ):
        """The resolved config: the preset, then the overrides, then ``seed`` (if given)."""
        if preset not in self.module.PRESETS:
            raise UserError(
                f"experiment {self.name!r} has no preset {preset!r}; choose one of {', '.join(self.module.PRESETS)}"
            )
        cfg = apply_overrides(self.module.PRESETS[preset], overrides)
        if seed is not None:
            cfg = apply_overrides(cfg, {"seed": seed})
        return cfg

    def run(self, cfg, ctx):
        return self.module.run(cfg, ctx)

    def verdict(self, result):
        return self.module.verdict(result)

    def figure(self, result):
        return self.module.figure(result)


def get_experiment(name: str) -> Experiment:
    """The catalog entry called ``name``; raises UserError listing the known names."""
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    return Experiment(name, importlib.import_module(EXPERIMENTS[name]))


def describe(name: str) -> dict[str, Any]:
    """An entry's name, summary, papers and preset costs, read from its source without importing it (importing
    an entry imports torch and matplotlib: seconds, where ``phenomena list`` should be instant). ``PAPERS`` and
    ``COSTS`` are literals in every entry; should one ever not be, the module is imported instead."""
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    spec = importlib.util.find_spec(EXPERIMENTS[name])
    try:
        with open(spec.origin, encoding="utf-8") as f:  # type: ignore[union-attr]
            tree = ast.parse(f.read())
        found = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name) and t.id in ("PAPERS", "COSTS")}  # fmt: skip
        doc = (ast.get_docstring(tree) or "").strip()
        papers, costs = ast.literal_eval(found["PAPERS"]), ast.literal_eval(found["COSTS"])
    except (OSError, KeyError, ValueError, TypeError, SyntaxError, AttributeError):
        exp = get_experiment(name)
        return {"name": name, "summary": exp.summary, "papers": list(exp.papers), "presets": exp.costs}
    return {"name": name, "summary": doc.splitlines()[0] if doc else "", "papers": list(papers),
            "presets": dict(costs)}  # fmt: skip


def experiments() -> list[Experiment]:
    """All catalog entries, in registry order."""
    return [get_experiment(name) for name in EXPERIMENTS]
