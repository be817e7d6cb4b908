"""A control that shares pieces with its main run (``RunContext.shared``) must get the bits it would compute alone.

For every entry that shares pieces and each of its trained controls, on smoke: the main run computes its pieces
in a shared folder, the control then runs in the same folder and reuses some of them, and its summary and
series must equal those of the control run with nothing shared. A piece keyed too loosely (an ``ignore`` that
names a key the piece reads) or one that draws from a generator the rest of the run uses shows up here.
"""

import inspect
import math
from pathlib import Path

import pytest

from phenomena.catalog import entries
from phenomena.experiment import RunContext

SHARING = [e for e in entries() if "ctx.shared(" in inspect.getsource(inspect.getmodule(e.run))]
CASES = [(e, c) for e in SHARING for c in e.controls if not c.derived]
# the controls that must find something to reuse (the others change what every shared piece reads, or, as
# cue-conflict's equal difficulty, train only pieces of their own: its two arms at contrast 0.26, no probe)
REUSING = {
    ("flat-minima", "moderate batch ratio"),
    ("flat-minima", "small SAM radius"),
    ("mode-connectivity", "one shared step"),
    ("mup-transfer", "SP in the μP arm"),
    ("example-forgetting", "random removal"),
    ("cue-conflict", "shape randomized instead"),
    ("critical-batch-size", "no lr retuning"),
    ("critical-batch-size", "no training on the noise run"),
    ("implicit-sparsity", "linear parameterization"),
}


def test_the_catalog_shares_the_pieces_its_controls_repeat():
    assert {(e.name, c.name) for e, c in CASES} >= REUSING


def _run(entry, overrides: dict, root: Path, name: str, shared: Path | None):
    cfg = entry.resolve("smoke", overrides, seed=3)
    ctx = RunContext(
        name, cfg.seed, root / name, root / "cache", show_progress=False, experiment=entry.name, shared_dir=shared
    )
    (root / name).mkdir()
    return entry.run(cfg, ctx), ctx.reused


def _same(a: float, b: float) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("entry,control", CASES, ids=[f"{e.name}:{c.name}" for e, c in CASES])
def test_a_control_that_reuses_pieces_equals_the_control_alone(entry, control, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    _, main_reused = _run(entry, {}, tmp_path, "main", shared)
    assert main_reused == []
    reusing, reused = _run(entry, dict(control.overrides), tmp_path, "control", shared)
    alone, _ = _run(entry, dict(control.overrides), tmp_path, "alone", None)
    assert bool(reused) == ((entry.name, control.name) in REUSING), reused
    assert reusing.summary.keys() == alone.summary.keys()
    differ = [k for k in alone.summary if not _same(reusing.summary[k], alone.summary[k])]
    assert not differ, [(k, reusing.summary[k], alone.summary[k]) for k in differ]
    assert reusing.series.keys() == alone.series.keys()
    for key, series in alone.series.items():
        mine = reusing.series[key]
        assert mine.steps == series.steps, key
        assert all(_same(a, b) for a, b in zip(mine.values, series.values, strict=True)), key


def test_every_pair_of_children_spawned_at_a_common_step_is_shared(tmp_path):
    # mode-connectivity with two pairs per spawn step: the one-shared-step control reuses both pairs at k = 0
    entry = next(e for e in SHARING if e.name == "mode-connectivity")
    control = next(c for c in entry.controls if c.name == "one shared step")
    overrides = {**control.overrides, "spawn.pairs": 2}
    shared = tmp_path / "shared"
    shared.mkdir()
    _run(entry, {"spawn.pairs": 2}, tmp_path, "main", shared)
    reusing, reused = _run(entry, overrides, tmp_path, "control", shared)
    alone, _ = _run(entry, overrides, tmp_path, "alone", None)
    assert len(reused) == 2, reused
    differ = [k for k in alone.summary if not _same(reusing.summary[k], alone.summary[k])]
    assert not differ, differ
