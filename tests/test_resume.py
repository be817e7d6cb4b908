"""Resume: kill -9 a sweep while it runs, rerun the same command, and lose nothing that had finished."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

STEPS = [20, 22, 24, 26]  # 4 points, each well under a second


def _finished(db_path) -> dict[str, float]:
    """run id -> finished timestamp of the finished runs, read while the sweep may be writing (WAL allows it)."""
    if not db_path.exists():
        return {}
    try:
        with sqlite3.connect(db_path, timeout=10) as db:
            return dict(db.execute("SELECT id, finished FROM runs WHERE status = 'finished'").fetchall())
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}


def test_kill_9_mid_sweep_then_rerun_keeps_finished_runs_and_completes(tmp_path):
    home = tmp_path / "store"
    db_path = home / "phenomena.db"
    command = [
        sys.executable,
        "-m",
        "phenomena",
        "--home",
        str(home),
        "sweep",
        "grokking",
        "--preset",
        "smoke",
        "-s",
        "data.p=11",
        "--grid",
        "train.steps=" + ",".join(map(str, STEPS)),
        "--executor",
        "serial",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not _finished(db_path):
            assert sweep.poll() is None, sweep.stderr.read().decode()
            assert time.monotonic() < deadline, "no run finished within 2 minutes"
            time.sleep(0.02)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
        sweep.stderr.close()
    before = _finished(db_path)
    assert 1 <= len(before) < len(STEPS), "the kill should land mid-sweep"
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT status FROM sweeps").fetchall() == [("running",)]

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(STEPS)} runs: {len(before)} reused, {len(STEPS) - len(before)} to compute" in rerun.stdout
    after = _finished(db_path)
    assert {rid: after[rid] for rid in before} == before  # finished runs were kept, not recomputed
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        members = db.execute("SELECT run FROM sweep_runs").fetchall()
        statuses = db.execute("SELECT status FROM runs").fetchall()
        assert db.execute("SELECT status FROM sweeps").fetchall() == [("finished",)]
    assert len(members) == len(STEPS) and {m for (m,) in members} == set(after)
    assert statuses == [("finished",)] * len(STEPS)
