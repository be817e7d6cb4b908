"""Executors: serial, process pool and Ray compute the same runs as a single in-process run, and a run that
raises, or a worker that dies, is recorded as failed while the sweep goes on.

The oracle for every executor is the plain single-run path (:func:`phenomena.api.run`) on the same
configs: identical summaries and curves (training on CPU is deterministic given the seeds).
"""

import dataclasses
import os
import sys
from concurrent.futures.process import BrokenProcessPool
from typing import Literal

import pytest

from phenomena import catalog
from phenomena.api import run as execute
from phenomena.api import sweep
from phenomena.errors import UserError
from phenomena.experiment import Entry
from phenomena.parallel import available_cores
from phenomena.result import Check, Series, Verdict
from phenomena.runner.execute import RunSpec
from phenomena.runner.executors import ProcessExecutor
from phenomena.store import Store

GRID = {"train.steps": [20, 28]}
TINY = {"data.p": 11}
TIMING = ("wall_seconds",)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The two runs computed one by one in this process: summaries (without timings) and curves by run id."""
    store = Store(tmp_path_factory.mktemp("reference"))
    out = {}
    for steps in GRID["train.steps"]:
        result = execute("grokking", "smoke", {**TINY, "train.steps": steps}, store=store, progress=False)
        out[result.run_id] = (_untimed(result.summary), store.metrics(result.run_id))
    return out


def _untimed(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in TIMING}


def _check_against_reference(result, store, reference):
    assert result.status == "finished" and [r.status for p in result.points for r in p.runs] == ["finished"] * 2
    for point in result.points:
        (run,) = point.runs
        summary, curves = reference[run.run_id]  # the same run ids as the single-run path
        assert _untimed(run.summary) == pytest.approx(summary, nan_ok=True, rel=0, abs=0)
        assert store.metrics(run.run_id) == curves
        assert (store.run_dir(run.run_id) / "figure.png").exists()
        assert store.get(run.run_id).sweep == result.sweep_id


def test_serial_executor(tmp_path, reference):
    store = Store(tmp_path)
    result = sweep("grokking", GRID, executor="serial", preset="smoke", overrides=TINY, store=store, progress=False)
    _check_against_reference(result, store, reference)


def test_process_executor_caps_threads_per_worker(tmp_path, reference):
    store = Store(tmp_path)
    result = sweep(
        "grokking", GRID, executor="process", workers=2, preset="smoke", overrides=TINY, store=store, progress=False
    )
    _check_against_reference(result, store, reference)
    for point in result.points:
        env = store.get(point.runs[0].run_id).environment
        assert env["threads"] == max(1, available_cores() // 2) and env["argv"] == sys.argv  # set in the worker


def test_ray_executor(tmp_path, reference):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'phenomena[ray]')")
    store = Store(tmp_path)
    result = sweep(
        "grokking", GRID, executor="ray", workers=2, preset="smoke", overrides=TINY, store=store, progress=False
    )
    _check_against_reference(result, store, reference)
    import ray

    assert not ray.is_initialized()  # the local Ray instance the sweep started is shut down


def test_ray_missing_is_one_line_exit_2_and_nothing_is_written(cli, cli_json, home, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if it were not installed
    code, out, err = cli("sweep", "grokking", "-p", "smoke", "--grid", "train.steps=20", "--executor", "ray")
    assert code == 2 and out == "" and err.count("\n") == 1 and "install phenomena[ray]" in err, err
    assert cli_json("runs") == [] and cli_json("sweeps") == []


# -- a stand-in catalog entry whose runs raise or kill their worker on demand -------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    x: float = 1.0
    mode: Literal["ok", "raise", "exit"] = "ok"
    seed: int = 0


def run(cfg, ctx):
    if cfg.mode == "raise":
        raise RuntimeError(f"boom at x={cfg.x}")
    if cfg.mode == "exit":
        os._exit(3)  # the worker process dies without a word
    y = cfg.x + cfg.seed
    return ctx.result(cfg, {"y": y, "z": -y}, {"y": Series([0, 1], [0.0, y])})


def verdict(result):
    return Verdict((Check("y at least 2", result.summary["y"], ">=", 2.0),))


def figure(result):
    from phenomena.report import subplots

    fig, axes = subplots()
    axes[0][0].plot(*result.curve("y"))
    return fig


ENTRY = Entry(
    name="fake",
    summary="a stand-in",
    papers=("none",),
    config=Config,
    presets={"smoke": Config(), "quick": Config(), "paper": Config()},
    costs={"smoke": "0 s", "quick": "0 s", "paper": "0 s"},
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("y",),
)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(catalog.ENTRIES, "fake", __name__)


def test_a_run_that_raises_is_failed_with_its_traceback_and_the_sweep_goes_on(fake, cli, cli_json):
    code, out, _ = cli("sweep", "fake", "-x", "serial", "--grid", "mode=raise,ok", "--grid", "x=1,2", "--seeds", "3")
    assert code == 1  # a run failed with an error: the sweep finished, but says so in its exit code
    assert "4 points x 3 seeds, incomplete" in out
    assert out.count("RuntimeError: boom at x=") == 6 and "3 failed" in out
    sweep_id = cli_json("sweeps")[0]["sweep_id"]
    rows = cli_json("show", sweep_id)["rows"]
    assert [r["values"] for r in rows] == [{"mode": m, "x": x} for m in ("raise", "ok") for x in (1.0, 2.0)]
    for row in rows[:2]:
        assert {r["status"] for r in row["runs"]} == {"failed"} and row["y"]["n"] == 0
    shown = cli_json("show", rows[0]["runs"][0]["run_id"])
    assert "Traceback" in shown["error"] and "RuntimeError: boom at x=1.0" in shown["error"]
    # exact oracle: y = x + seed over seeds 0, 1, 2 has mean x + 1 and sample std 1; the verdict y >= 2
    for row, x in zip(rows[2:], (1.0, 2.0), strict=True):
        assert row["y"] == {"mean": x + 1, "std": 1.0, "n": 3}
        assert row["passed"] == sum(x + s >= 2 for s in range(3))


def test_a_worker_that_dies_fails_its_run_and_a_new_pool_takes_the_rest(fake, tmp_path):
    store = Store(tmp_path)
    result = sweep(
        "fake", {"x": [1, 2], "mode": ["ok", "exit"]}, executor="process", workers=1, store=store, progress=False
    )
    runs = [p.runs[0] for p in result.points]
    assert [r.status for r in runs] == ["finished", "failed", "finished", "failed"] and result.status == "incomplete"
    assert all("the worker computing this run broke" in r.error for r in runs[1::2])
    assert [r.summary["y"] for r in runs[::2]] == [1.0, 2.0]


def test_workers_that_die_while_starting_stop_the_sweep_with_a_hint(tmp_path):
    spec = RunSpec("fake", __name__, Config(), "r1", str(tmp_path), str(tmp_path))
    pool = ProcessExecutor(workers=1, threads=0)  # torch refuses 0 threads: every worker dies in its initializer
    with pytest.raises(UserError, match="under `if __name__ == '__main__':`"), pool:
        with pytest.raises(BrokenProcessPool):
            pool.submit(spec).result(timeout=120)
        pool.submit(spec)  # rather than starting pool after pool that die the same way
