"""Sweeps as a user meets them: the grid and its validation, the sweep table and figure, reuse across sweeps.

Runs are grokking's smoke preset shrunk to p = 11 and 20-30 steps (well under a second each), on the serial
executor so the tests are deterministic and need no extra processes.
"""

import math
import sqlite3
import statistics

import pytest

from phenomena.catalog import get_entry
from phenomena.runner.grid import parse_grid, plan_sweep, split_values

TINY = ("-p", "smoke", "-s", "data.p=11")

GROKKING = get_entry("grokking")


def _sweep(cli_json, *args):
    return cli_json("sweep", "grokking", *TINY, "--executor", "serial", *args)


def _tables(home):
    with sqlite3.connect(home / "phenomena.db") as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "sweeps", "sweep_runs")}


def test_the_grid_is_the_cartesian_product_times_seeds():
    plan = plan_sweep(GROKKING, parse_grid(["train.steps=20,30", "train.weight_decay=0,1,2"]), seeds=2, preset="smoke")
    assert plan.points == [{"train.steps": s, "train.weight_decay": w} for s in (20, 30) for w in (0.0, 1.0, 2.0)]
    assert [(j.point, j.seed) for j in plan.jobs] == [(p, s) for p in range(6) for s in (0, 1)]
    for job in plan.jobs:  # each job's config carries its point and seed, and nothing else changed
        point = plan.points[job.point]
        assert (job.config.train.steps, job.config.train.weight_decay) == tuple(point.values())
        assert job.config.seed == job.seed and job.config.data.p == 41 and job.config.model.width == 128
    assert len({j.run_id for j in plan.jobs}) == 12


def test_the_sweep_id_depends_on_what_is_swept_not_on_how_it_was_spelled():
    def sid(grid, seeds=1, **kw):
        return plan_sweep(GROKKING, grid, seeds=seeds, preset="smoke", **kw).id

    base = sid({"train.steps": [20, 30], "train.lr": [0.01]})
    assert base == sid({"train.lr": ["1e-2"], "train.steps": "20.0,30"})  # key order, text vs numbers
    assert (
        len(
            {
                base,
                sid({"train.steps": [20, 30]}),
                sid({"train.steps": [20, 30], "train.lr": [0.01]}, seeds=2),
                sid({"train.steps": [20, 30], "train.lr": [0.01]}, overrides=["data.p=11"]),
            }
        )
        == 4
    )
    assert plan_sweep(GROKKING, {"train.steps": [20]}, seeds=[3, 5], preset="smoke").jobs[1].config.seed == 5


def test_tuple_values_are_swept_in_brackets():
    assert split_values("(0.9,0.98),(0.8, 0.9)") == ["(0.9,0.98)", "(0.8, 0.9)"]
    plan = plan_sweep(GROKKING, parse_grid(["train.betas=(0.9,0.98),(0.8,0.9)"]), preset="smoke")
    assert [j.config.train.betas for j in plan.jobs] == [(0.9, 0.98), (0.8, 0.9)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "train.widht=1,2"], "unknown config key 'train.widht'; valid keys: train.steps"),
        (["--grid", "model.width=4,8,-4"], "model.width must be a positive integer; got -4"),
        (["--grid", "train.steps=20", "--grid", "model.width=4,wide"], "model.width must be an integer; got 'wide'"),
        (["--grid", "train.steps=20,20.0"], "grid key 'train.steps' lists the value 20 twice"),
        (["--grid", "train.steps=20", "--grid", "train.steps=30"], "grid key 'train.steps' is given twice"),
        (["--grid", "train.steps=20,"], "grid key 'train.steps' needs one or more values"),
        (["--grid", "seed=0,1"], "not as a config key"),
        (["--grid", "data.p=11,13"], "config key 'data.p' is both set and swept"),
        (["-s", "model.width=8", "-s", "model.width=16", "--grid", "train.steps=20"], "model.width is given twice"),
        (["--grid", "train.steps"], "grid 'train.steps' is not of the form key.path=v1,v2"),
        ([], "Missing option '--grid'"),
        (["--grid", "train.steps=20", "--seeds", "0"], "0 is not in the range x>=1"),
        (["--grid", "train.steps=20", "--executor", "dask"], "'dask' is not one of 'serial', 'process', 'ray'"),
        (["--grid", "train.steps=20", "--ray-address", "auto"], "a Ray address only applies to the ray executor"),
    ],
)
def test_a_bad_point_anywhere_is_one_line_exit_2_and_nothing_is_written(cli, cli_json, home, args, message):
    code, out, err = cli("sweep", "grokking", *TINY, *args)
    assert code == 2 and out == "", out
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert cli_json("runs") == [] and cli_json("sweeps") == []
    assert not (home / "runs").exists() and not (home / "sweeps").exists()


def test_sweep_table_show_and_figure(cli, cli_json, home):
    swept = _sweep(cli_json, "--grid", "train.steps=20,28", "--seeds", "2")
    sid = swept["sweep_id"]
    assert swept["status"] == "finished" and swept["grid"] == {"train.steps": [20, 28]} and swept["seeds"] == [0, 1]
    assert swept["metrics"] == ["t_fit", "t_gen", "delay"]  # grokking's SWEEP_METRICS
    assert _tables(home) == {"runs": 4, "sweeps": 1, "sweep_runs": 4}
    # oracle: each row's mean and std recomputed from the runs' own stored summaries
    for row, steps in zip(swept["rows"], (20, 28), strict=True):
        assert row["values"] == {"train.steps": steps} and [r["seed"] for r in row["runs"]] == [0, 1]
        shown = [cli_json("show", r["run_id"]) for r in row["runs"]]
        assert all(s["config"]["train"]["steps"] == steps and s["status"] == "finished" for s in shown)
        assert [s["config"]["seed"] for s in shown] == [0, 1]
        assert row["passed"] == sum(s["verdict"]["passed"] for s in shown)
        t_fit = [s["summary"]["t_fit"] for s in shown]
        assert row["t_fit"]["mean"] == pytest.approx(statistics.mean(t_fit), rel=1e-12)
        assert row["t_fit"]["std"] == pytest.approx(statistics.stdev(t_fit), rel=1e-12, abs=1e-12)
        assert row["t_gen"] == {"mean": None, "std": None, "n": 0}  # 20-30 steps never generalize

    code, out, _ = cli("show", sid[:6])
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"sweep {sid}: grokking [smoke] data.p=11, 2 points x 2 seeds, finished"
    assert lines[1].split() == ["train.steps", "runs", "pass", "t_fit", "t_gen", "delay"]
    assert lines[3].split()[:4] == ["20", "2", "finished", f"{swept['rows'][0]['passed']}/2"]
    figure = home / "sweeps" / sid / "figure.png"
    assert f"figure: {figure}" in out and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure.unlink()
    shown = cli_json("show", sid)  # show draws the figure again
    assert shown["rows"] == swept["rows"] and figure.exists() and shown["artifacts"]["figure"] == str(figure)
    in_sweep = cli_json("runs", "--sweep", sid[:5])
    assert sorted(r["run_id"] for r in in_sweep) == sorted(r["run_id"] for row in swept["rows"] for r in row["runs"])
    assert all(r["sweep"] == sid for r in in_sweep)


def test_finished_runs_are_reused_across_sweeps_and_force_recomputes(cli, cli_json, home):
    first = _sweep(cli_json, "--grid", "train.steps=20,24")
    ids = {row["values"]["train.steps"]: row["runs"][0]["run_id"] for row in first["rows"]}
    stamps = _finished(home)
    code, out, _ = cli("sweep", "grokking", *TINY, "-x", "serial", "--grid", "train.steps=24,28")
    assert code == 0 and "2 runs: 1 reused, 1 to compute on serial" in out.splitlines()[0]
    second = cli_json("sweeps")[0]["sweep_id"]
    assert second != first["sweep_id"]
    after = _finished(home)
    assert after[ids[20]] == stamps[ids[20]] and after[ids[24]] == stamps[ids[24]] and len(after) == 3
    # the shared run belongs to both sweeps
    assert {r["run_id"] for r in cli_json("runs", "--sweep", first["sweep_id"])} == {ids[20], ids[24]}
    assert ids[24] in {r["run_id"] for r in cli_json("runs", "--sweep", second)}
    # the same command again computes nothing; --force recomputes both of its runs
    code, out, _ = cli("sweep", "grokking", *TINY, "-x", "serial", "--grid", "train.steps=24,28")
    assert "2 runs: all finished before, nothing to compute" in out
    assert _finished(home) == after
    cli("sweep", "grokking", *TINY, "-x", "serial", "--grid", "train.steps=24,28", "--force")
    forced = _finished(home)
    assert forced[ids[20]] == stamps[ids[20]] and forced[ids[24]] > after[ids[24]]


def test_a_diverging_point_is_recorded_and_the_others_finish(cli, cli_json, home):
    code, out, err = cli(
        "sweep", "grokking", *TINY, "-x", "serial", "-s", "train.steps=20", "--grid", "train.lr=1e9,1e-2"
    )
    assert code == 0, err
    title = next(line for line in out.splitlines() if line.startswith("sweep "))
    assert title.endswith(", incomplete") and "1 diverged" in out and "1 finished" in out
    assert "diverged: run" in out and "training diverged at step" in out
    statuses = {r["status"] for r in cli_json("runs")}
    assert statuses == {"diverged", "finished"}
    sweep = cli_json("sweeps")[0]
    assert sweep["status"] == "incomplete"
    shown = cli_json("show", sweep["sweep_id"])
    bad, good = shown["rows"]
    assert bad["runs"][0]["status"] == "diverged" and bad["t_fit"]["n"] == 0
    assert good["runs"][0]["status"] == "finished" and math.isfinite(good["t_fit"]["mean"])


def test_show_says_when_a_prefix_is_both_a_run_and_a_sweep(cli, cli_json, home):
    swept = _sweep(cli_json, "--grid", "train.steps=20")
    with sqlite3.connect(home / "phenomena.db") as db:  # force a shared prefix
        db.execute("UPDATE sweeps SET id = 'abc' || id")
        db.execute("UPDATE sweep_runs SET sweep = 'abc' || sweep")
        db.execute("UPDATE runs SET id = 'abd' || id")
    code, _, err = cli("show", "ab")
    assert (
        code == 2 and "ambiguous prefix 'ab': it starts run abd" in err and "sweep abc" in err and err.count("\n") == 1
    )
    assert cli_json("show", "abc")["sweep_id"] == "abc" + swept["sweep_id"]
    code, _, err = cli("runs", "--sweep", "nope")
    assert code == 2 and "no stored sweep 'nope'" in err


def _finished(home) -> dict[str, float]:
    with sqlite3.connect(home / "phenomena.db") as db:
        return dict(db.execute("SELECT id, finished FROM runs WHERE status = 'finished'").fetchall())


def test_a_sweep_shows_the_declared_metrics_its_runs_measured_else_their_own_keys():
    from phenomena.runner.sweep_result import SweepPoint, SweepRun, _metrics

    def point(summary):
        return SweepPoint({"x": 1}, (SweepRun("r", 0, "finished", True, summary, None),))

    measured = [point({"wall_seconds": 1.0, "a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0})]
    assert _metrics(("b", "zz"), measured) == ("b",)  # declared and measured
    assert _metrics(("zz",), measured) == ("a", "b", "c")  # none measured: the runs' own first keys, untimed
    assert _metrics((), measured) == ("a", "b", "c")
    assert _metrics(("b",), []) == ("b",)  # nothing finished yet: the declared columns


def test_a_run_waits_while_a_sibling_of_its_experiment_and_seed_runs_if_another_can_start():
    # the sibling may be computing a piece the run could reuse (RunContext.shared); nothing is left idle for it
    from collections import deque
    from types import SimpleNamespace

    from phenomena.runner.sweep import _next_job

    def run(name, seed, plan):
        return SimpleNamespace(entry=SimpleNamespace(name=name), id=plan), SimpleNamespace(seed=seed)

    main0, main1, other0 = run("a", 0, "main"), run("a", 1, "main"), run("b", 0, "main")
    control0, control1 = run("a", 0, "control"), run("a", 1, "control")
    pending = deque([control0, control1, other0])
    assert _next_job(pending, [main0]) == control1  # control0 waits for main0
    assert _next_job(pending, [main0, main1]) == other0  # both controls wait
    assert _next_job(pending, [main0, main1]) == control0 and not pending  # nothing else: it starts anyway
