"""collect_only_new: a run's garbage collections skip the objects that existed before it, and only during it."""

import dataclasses
import gc
import weakref

import pytest

from phenomena.catalog import get_entry
from phenomena.experiment import RunContext
from phenomena.runner.collect import collect_only_new
from phenomena.runner.execute import compute


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_an_old_cycle_waits_until_the_block_ends_and_a_new_one_is_freed_within_it():
    old = Node()
    old_ref = weakref.ref(old)
    with collect_only_new():
        assert gc.get_freeze_count() > 0
        del old
        new = Node()
        new_ref = weakref.ref(new)
        del new
        gc.collect()
        assert new_ref() is None  # created inside: collected as usual
        assert old_ref() is not None  # existed before: not walked while frozen
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert old_ref() is None


def test_an_exception_still_unfreezes():
    with pytest.raises(RuntimeError), collect_only_new():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_someone_else_stays_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collect_only_new():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_compute_runs_the_entry_inside_the_block(tmp_path):
    seen = []
    entry = get_entry("stepwise-learning")

    def run(cfg, ctx):
        seen.append(gc.get_freeze_count())
        return entry.run(cfg, ctx)

    patched = dataclasses.replace(entry, run=run)
    cfg = entry.resolve("smoke")
    ctx = RunContext(
        run_id="r", seed=cfg.seed, experiment=entry.name, artifacts=tmp_path, cache=tmp_path, show_progress=False
    )
    result = compute(patched, cfg, ctx)
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0
    assert result.verdict is not None
