"""The catalog: one module per phenomenon, each ending in ``ENTRY = Entry(...)``, registered here by name.

Modules are imported on first use (an entry imports torch and matplotlib: seconds). ``phenomena list`` reads
``listing.json`` beside this file instead, so it imports nothing heavy; the listing is made from the imported
entries by ``python -m phenomena.catalog`` and a test checks that it is current. See ``CONTRIBUTING.md`` for
adding an entry.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from phenomena.errors import UserError

# name -> module defining ENTRY
ENTRIES: dict[str, str] = {
    "grokking": "phenomena.catalog.grokking",
    "lazy-training": "phenomena.catalog.lazy_training",
    "signal-propagation": "phenomena.catalog.signal_propagation",
    "infinite-width": "phenomena.catalog.infinite_width",
    "double-descent": "phenomena.catalog.double_descent",
    "epoch-wise-double-descent": "phenomena.catalog.epoch_wise_double_descent",
    "sample-wise-double-descent": "phenomena.catalog.sample_wise_double_descent",
    "random-features-double-descent": "phenomena.catalog.random_features_double_descent",
    "representation-similarity": "phenomena.catalog.representation_similarity",
    "edge-of-stability": "phenomena.catalog.edge_of_stability",
    "flat-minima": "phenomena.catalog.flat_minima",
    "re-basin": "phenomena.catalog.re_basin",
    "mode-connectivity": "phenomena.catalog.mode_connectivity",
    "lottery-ticket": "phenomena.catalog.lottery_ticket",
    "information-plane": "phenomena.catalog.information_plane",
    "neural-collapse": "phenomena.catalog.neural_collapse",
    "max-margin": "phenomena.catalog.max_margin",
    "implicit-sparsity": "phenomena.catalog.implicit_sparsity",
    "implicit-low-rank": "phenomena.catalog.implicit_low_rank",
    "stepwise-learning": "phenomena.catalog.stepwise_learning",
    "mup-transfer": "phenomena.catalog.mup_transfer",
    "tempered-overfitting": "phenomena.catalog.tempered_overfitting",
    "random-labels": "phenomena.catalog.random_labels",
    "spectral-bias": "phenomena.catalog.spectral_bias",
    "example-forgetting": "phenomena.catalog.example_forgetting",
    "generalization-measures": "phenomena.catalog.generalization_measures",
    "cue-conflict": "phenomena.catalog.cue_conflict",
    "scaling-laws": "phenomena.catalog.scaling_laws",
    "critical-batch-size": "phenomena.catalog.critical_batch_size",
    "heavy-tailed-spectra": "phenomena.catalog.heavy_tailed_spectra",
    "gradient-subspace": "phenomena.catalog.gradient_subspace",
    "emergence-mirage": "phenomena.catalog.emergence_mirage",
    "in-context-learning": "phenomena.catalog.in_context_learning",
    "loss-of-plasticity": "phenomena.catalog.loss_of_plasticity",
    "supermasks": "phenomena.catalog.supermasks",
    "critical-periods": "phenomena.catalog.critical_periods",
}

LISTING = Path(__file__).with_name("listing.json")


def _unknown(name: str) -> UserError:
    return UserError(f"unknown experiment {name!r}; choose one of {', '.join(sorted(ENTRIES))}")


def get_entry(name: str):
    """The :class:`~phenomena.experiment.Entry` called ``name``; raises UserError listing the known names."""
    if name not in ENTRIES:
        raise _unknown(name)
    entry = importlib.import_module(ENTRIES[name]).ENTRY
    if entry.name != name:
        raise RuntimeError(f"{ENTRIES[name]} defines the entry {entry.name!r}, registered as {name!r}")
    return entry


def entries() -> list:
    """All catalog entries, in registry order (imports every entry module)."""
    return [get_entry(name) for name in ENTRIES]


def describe_entry(entry) -> dict[str, Any]:
    """What ``phenomena list`` shows of an entry: name, summary, papers, presets with their cost, and which
    presets are published settings (``paper``); ``configs`` holds each preset's values as dotted keys (so that
    ``runs`` and ``show`` can print a run's config as a difference from its preset without importing it)."""
    from phenomena.config import flat

    return {
        "name": entry.name,
        "summary": entry.summary,
        "papers": list(entry.papers),
        "presets": dict(entry.costs),
        "published": [p for p in entry.presets if p == "paper"],
        "configs": {name: flat(cfg) for name, cfg in entry.presets.items()},
    }


def listing() -> list[dict[str, Any]]:
    """The catalog as ``phenomena list`` shows it, read from ``listing.json`` (no entry is imported)."""
    return json.loads(LISTING.read_text(encoding="utf-8"))


def describe(name: str) -> dict[str, Any]:
    """One entry's listing (see :func:`describe_entry`), without importing the entry."""
    for item in listing():
        if item["name"] == name:
            return item
    raise _unknown(name)


def preset_values(name: str, preset: str | None) -> dict[str, Any] | None:
    """The dotted key -> value of ``name``'s ``preset`` from the listing (None if either is unknown)."""
    for item in listing():
        if item["name"] == name:
            return item.get("configs", {}).get(preset) if preset else None
    return None


def preset_difference(name: str, preset: str | None, config: dict) -> dict[str, Any] | None:
    """The dotted keys where a stored run's ``config`` (a dict) differs from its preset, with the run's values;
    None when ``name`` or ``preset`` is not in the catalog (e.g. a Monitor's record)."""
    from phenomena.config import flat

    base = preset_values(name, preset)
    if base is None:
        return None
    return {k: v for k, v in flat(config).items() if base.get(k, object()) != v}


def write_listing() -> Path:
    """Remake ``listing.json`` from the imported entries (``python -m phenomena.catalog``)."""
    text = json.dumps([describe_entry(e) for e in entries()], indent=1, ensure_ascii=False) + "\n"
    LISTING.write_text(text, encoding="utf-8")
    return LISTING
