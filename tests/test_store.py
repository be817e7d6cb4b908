import math
import sqlite3

import pytest

from phenomena.store import Store


def test_run_lifecycle_and_metrics(tmp_path):
    store = Store(tmp_path)
    folder = store.begin("abc123def456", "grokking", "quick", {"seed": 0}, {"torch": "x"})
    assert folder.is_dir() and store.get("abc123def456").status == "running"
    metrics = {"loss": ([0, 10, 20], [1.0, 0.5, float("nan")]), "acc": ([0, 10], [0.1, 0.9])}
    store.finish(
        "abc123def456", "finished", {"t": 1.5, "missing": float("nan")}, {"passed": True, "checks": []}, metrics
    )
    record = store.get("abc1")  # a unique prefix is enough
    assert record.status == "finished" and record.summary == {"t": 1.5, "missing": "nan"}  # reloads as NaN
    got = store.metrics("abc123def456")
    assert got["acc"] == ([0, 10], [0.1, 0.9])
    assert got["loss"][0] == [0, 10, 20] and math.isnan(got["loss"][1][2])
    assert [r.id for r in store.runs("grokking")] == ["abc123def456"] and store.runs("other") == []


def test_finish_is_atomic(tmp_path):
    """A failure while writing the outcome leaves the run 'running' with no metrics, never half 'finished'."""
    store = Store(tmp_path)
    store.begin("r1", "grokking", "quick", {}, {})
    bad = {"loss": ([0, 1, 2], [1.0, 2.0, 3.0]), "broken": ([0, 1], [1.0])}  # lengths differ
    with pytest.raises(ValueError):
        store.finish("r1", "finished", {"x": 1.0}, None, bad)
    assert store.get("r1").status == "running" and store.metrics("r1") == {}
    with pytest.raises(ValueError):
        store.finish("r1", "running")


def test_begin_replaces_a_stale_attempt(tmp_path):
    store = Store(tmp_path)
    folder = store.begin("r1", "grokking", "quick", {}, {})
    (folder / "old.png").write_text("stale")
    store.finish("r1", "failed", error="boom", metrics={"loss": ([0], [1.0])})
    folder = store.begin("r1", "grokking", "quick", {}, {})
    assert not (folder / "old.png").exists() and store.metrics("r1") == {}
    assert store.get("r1").status == "running" and store.get("r1").error is None


def test_prefix_lookup_is_exact_about_ambiguity(tmp_path):
    store = Store(tmp_path)
    for rid in ("aa11", "aa22"):
        store.begin(rid, "grokking", "quick", {}, {})
    assert store.get("aa") is None and store.get("aa2").id == "aa22" and store.get("zz") is None
    assert store.get("a%") is None  # LIKE wildcards in user input are literal


def test_wal_mode_and_delete(tmp_path):
    store = Store(tmp_path)
    store.begin("r1", "grokking", "quick", {}, {})
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.delete("r1")
    assert store.get("r1") is None and not store.run_dir("r1").exists()


def test_cache_dir_follows_phenomena_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHENOMENA_CACHE", str(tmp_path / "shared"))
    assert Store(tmp_path / "a").cache_dir == Store(tmp_path / "b").cache_dir == tmp_path / "shared"
    monkeypatch.delenv("PHENOMENA_CACHE")
    assert Store(tmp_path / "a").cache_dir == tmp_path / "a" / "cache"
