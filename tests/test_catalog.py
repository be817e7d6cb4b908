"""Every catalog entry is complete: a docstring that reads like a short paper, papers, the three presets with
their costs, the four functions, and a smoke test that runs it end to end through the CLI."""

import dataclasses
from pathlib import Path

import pytest

from phenomena.catalog import EXPERIMENTS, get_experiment

TESTS = Path(__file__).parent


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_entry_is_complete(name):
    exp = get_experiment(name)
    module = exp.module
    assert len((module.__doc__ or "").strip().splitlines()) >= 5, "the docstring explains the phenomenon"
    assert exp.summary and exp.papers
    assert set(exp.presets) == {"smoke", "quick", "paper"} and set(exp.costs) == {"smoke", "quick", "paper"}
    for preset in exp.presets.values():
        assert dataclasses.is_dataclass(preset) and isinstance(preset.seed, int)
    for fn in ("run", "verdict", "figure"):
        assert callable(getattr(module, fn))
    test_file = TESTS / f"test_{module.__name__.rsplit('.', 1)[1]}.py"
    assert test_file.exists(), f"{name} needs {test_file.name}"
    source = test_file.read_text()
    assert f'"{name}"' in source and '"smoke"' in source, f"{test_file.name} must run the smoke preset"
    assert "pytest.mark.slow" in source, f"{test_file.name} must run the quick preset under -m slow"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_listing_read_from_source_matches_the_imported_module(name):
    from phenomena.catalog import describe

    exp = get_experiment(name)
    assert describe(name) == {"name": name, "summary": exp.summary, "papers": list(exp.papers),
                              "presets": exp.costs}  # fmt: skip
