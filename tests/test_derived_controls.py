"""A derived control (``Control.derived``) is judged on the main run's result under the control's config; it is
only sound if the run under that config measures the same thing. Here every derived control of the catalog is
run directly on smoke and must give the verdict that judging the main smoke run under its config gives."""

import dataclasses
import math

import pytest

from phenomena.catalog import entries
from phenomena.experiment import Control
from phenomena.runner.verify import verify

DERIVED = [(e, c) for e in entries() for c in e.controls if c.derived]


def test_the_catalog_has_derived_controls():
    names = {e.name for e, _ in DERIVED}
    assert {"information-plane", "lottery-ticket"} <= names


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("entry,control", DERIVED, ids=[f"{e.name}:{c.name}" for e, c in DERIVED])
def test_derived_verdict_equals_a_direct_run(entry, control, tmp_path):
    from phenomena.api import run

    main = run(entry.name, preset="smoke", store=tmp_path, progress=False)
    direct = run(entry.name, preset="smoke", overrides=dict(control.overrides), store=tmp_path, progress=False)
    assert direct.run_id != main.run_id  # the control's run is a run of its own
    derived = entry.judge(dataclasses.replace(main, config=direct.config, verdict=None))
    assert [c.name for c in derived.checks] == [c.name for c in direct.verdict.checks]
    for mine, theirs in zip(derived.checks, direct.verdict.checks, strict=True):
        assert _same(mine.value, theirs.value), (mine.name, mine.value, theirs.value)
        assert mine.passed == theirs.passed


def test_verify_judges_a_derived_control_without_running_it(tmp_path, monkeypatch):
    from phenomena.catalog import get_entry
    from phenomena.store import Store

    entry = get_entry("information-plane")
    store = Store(tmp_path)
    result = verify([entry], preset="smoke", seeds=[7], executor="serial", store=store, progress=False)
    # only the main runs were trained
    assert {r.experiment for r in store.runs()} == {"information-plane"} and len(store.runs()) == 1
    stats = result.entries[0]
    assert [c.derived for c in stats.controls] == [True, True]
    assert all(c.sweep_id == stats.sweep_id for c in stats.controls)
    # the same result judged by hand under each control's config
    (record,) = store.runs()
    from phenomena.runner.execute import record_to_result

    main = record_to_result(record, store, lambda _: entry)
    for control, control_stats in zip(entry.controls, stats.controls, strict=True):
        cfg = entry.resolve("smoke", dict(control.overrides), seed=7)
        judged = entry.judge(dataclasses.replace(main, config=cfg, verdict=None))
        named = [c for c in judged.checks if any(c.name.startswith(p) for p in control.must_fail)]
        assert control_stats.failed == (bool(named) and not any(c.passed for c in named),)
    assert "judged under it" in result.table()
    roundtrip = type(result).from_dict(result.to_dict())
    assert [c.derived for c in roundtrip.entries[0].controls] == [True, True]


def test_a_control_is_not_derived_by_default():
    assert Control("x", {"a": 1}, must_fail=("y",)).derived is False
