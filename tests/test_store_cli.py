"""The store as the command line meets it: homes that cannot hold a store, damaged and empty databases and their
repair (``doctor``), read-only commands that create nothing, validation before anything is written, prefixes,
``show``/``runs`` output, ``rm``/``gc``, stale runs and the migration of the first database layout.

Real runs are ``grokking -p smoke -s train.steps=20`` (seconds); a module-wide template store holding three of
them is copied into each test's home where finished runs are needed, and other records are made directly with
:class:`phenomena.store.Store`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import types
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from phenomena.result import encode_float
from phenomena.store import Store

FAST = ("-p", "smoke", "-s", "train.steps=20")
DEAD_PID = 2**22 + 12345  # above Linux's largest pid_max (2**22): no process has it


def invoke(*args: str, env: dict | None = None, input: str | None = None):
    """The real CLI in-process with an explicit environment: ``(exit_code, stdout, stderr)``."""
    from phenomena.cli import main

    result = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def one_error_line(err: str) -> str:
    """Assert ``err`` is exactly one line starting ``error: `` with no traceback; return it."""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err.rstrip("\n")


def file_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A store made by three real smoke runs, built once: (root, {name: run id})."""
    root = tmp_path_factory.mktemp("template") / "store"
    variants = {
        "plain": (),
        "wd": ("-s", "train.weight_decay=0.5"),
        "seed2": ("--seed", "2", "-s", "train.weight_decay=0.5"),
    }
    ids = {}
    for name, extra in variants.items():
        code, out, err = invoke("run", "grokking", *FAST, *extra, "--json", env={"PHENOMENA_HOME": str(root)})
        assert code == 0, err
        ids[name] = json.loads(out)["run_id"]
    assert len(set(ids.values())) == 3
    return root, ids


@pytest.fixture
def stocked(home, template) -> dict[str, str]:
    """``home`` holds a copy of the template store; returns its run ids by name."""
    root, ids = template
    shutil.copytree(root, home)
    for suffix in ("-wal", "-shm"):
        assert not (home / f"phenomena.db{suffix}").exists()
    return ids


def _unwritable_homes(tmp_path: Path) -> dict[str, Path]:
    regular = tmp_path / "f"
    regular.write_text("not a folder")
    return {"uncreatable": Path("/proc/nohome"), "a file": regular, "under a file": regular / "x"}


# -- homes that cannot hold a store -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["uncreatable", "a file", "under a file"])
@pytest.mark.parametrize("how", ["env", "option"])
@pytest.mark.parametrize(
    "command", [("runs",), ("sweeps",), ("run", "grokking", "-p", "smoke")], ids=["runs", "sweeps", "run"]
)
def test_a_home_that_cannot_hold_a_store_is_one_error_line_exit_2(tmp_path, monkeypatch, kind, how, command):
    monkeypatch.delenv("PHENOMENA_HOME", raising=False)
    path = _unwritable_homes(tmp_path)[kind]
    if how == "env":
        code, out, err = invoke(*command, env={"PHENOMENA_HOME": str(path)})
    else:
        code, out, err = invoke("--home", str(path), *command)
    line = one_error_line(err)
    assert code == 2 and out == ""
    assert f"the store home {path} " in line
    assert not path.exists() or path.is_file()  # nothing was created in its place


@pytest.mark.parametrize("kind", ["uncreatable", "a file", "under a file"])
def test_doctor_on_a_home_that_cannot_hold_a_store_is_an_error(tmp_path, monkeypatch, kind):
    monkeypatch.delenv("PHENOMENA_HOME", raising=False)
    path = _unwritable_homes(tmp_path)[kind]
    code, out, err = invoke("--home", str(path), "doctor")
    assert code == 2 and out == "" and f"the store home {path} " in one_error_line(err)


_UNWRITABLE_CASES = [
    pytest.param(("runs",), "", id="runs-locked"),
    pytest.param(("sweeps",), "", id="sweeps-locked"),
    pytest.param(("run", "grokking", "-p", "smoke"), "", id="run-locked"),
    pytest.param(("runs",), "x", id="runs-below-locked"),
    pytest.param(("sweeps",), "x", id="sweeps-below-locked"),
    pytest.param(("run", "grokking", "-p", "smoke"), "x", id="run-below-locked"),
]


def _check_unwritable(locked: Path, below: str, command: tuple[str, ...]) -> None:
    path = locked / below if below else locked
    code, out, err = invoke("--home", str(path), *command)
    assert code == 2 and out == ""
    assert f"the store home {path} " in one_error_line(err) and "ermission denied" in err
    assert os.listdir(locked) == []


@pytest.fixture
def locked(tmp_path, monkeypatch):
    monkeypatch.delenv("PHENOMENA_HOME", raising=False)
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    yield folder
    folder.chmod(0o700)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root may write into a chmod 0o500 folder, so it cannot be tested as root"
)
@pytest.mark.parametrize("command, below", _UNWRITABLE_CASES)
def test_an_unwritable_home_is_one_error_line_exit_2(locked, command, below):
    _check_unwritable(locked, below, command)


@pytest.mark.parametrize("command, below", _UNWRITABLE_CASES)
def test_an_unwritable_home_is_one_error_line_exit_2_simulated(locked, monkeypatch, command, below):
    """The same as above, runnable as root: the two ways the store learns that a folder refuses writes (os.access
    and a probe folder made by tempfile.mkdtemp) are made to say so for the locked folder."""
    import tempfile

    real_access, real_mkdtemp = os.access, tempfile.mkdtemp

    def access(path, mode, *args, **kwargs):
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    def mkdtemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == locked:
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    _check_unwritable(locked, below, command)


# -- damaged and empty databases --------------------------------------------------------------------------------
def _truncate(db: Path) -> None:
    with db.open("r+b") as f:
        f.truncate(5000)


def _scramble(db: Path) -> None:
    db.write_bytes(os.urandom(db.stat().st_size))


@pytest.mark.parametrize("damage", [_truncate, _scramble], ids=["truncated", "random-bytes"])
@pytest.mark.parametrize(
    "command",
    [("runs",), ("run", "grokking", *FAST), ("show", "{id}")],
    ids=["runs", "run", "show"],
)
def test_a_damaged_database_is_reported_and_left_untouched(cli, home, stocked, damage, command):
    db = home / "phenomena.db"
    damage(db)
    before = sha256(db)
    code, out, err = cli(*(a.format(id=stocked["plain"]) for a in command))
    line = one_error_line(err)
    assert code == 2 and out == ""
    assert f"the store {db} is damaged" in line and "phenomena doctor" in line
    assert sha256(db) == before
    assert not (home / "phenomena.db-wal").exists() or (home / "phenomena.db-wal").stat().st_size == 0


def test_an_empty_index_with_run_folders_is_rebuilt_by_doctor(cli, cli_json, home, stocked):
    before = {i: cli_json("show", i) for i in stocked.values()}
    (home / "phenomena.db").write_bytes(b"")

    code, out, err = cli("runs")
    assert code == 0 and err == ""
    assert out == (
        f"no runs stored: the index {home / 'phenomena.db'} is empty but 3 run folders exist under "
        f"{home / 'runs'}; rebuild the index with `phenomena doctor --rebuild`\n"
    )
    code, out, _ = cli("doctor")
    assert code == 1
    assert out.splitlines() == [
        f"database {home / 'phenomena.db'}: empty",
        "3 run folders not in the index (3 with a record.json to restore them from)",
        "repair: phenomena doctor --rebuild",
    ]

    code, out, _ = cli("doctor", "--rebuild")
    assert code == 0 and f"restored 3 runs into {home / 'phenomena.db'}" in out
    aside = sorted(home.glob("phenomena.db.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b""  # moved aside, not deleted
    listing = cli_json("runs")
    assert sorted(r["run_id"] for r in listing) == sorted(stocked.values())
    assert {r["status"] for r in listing} == {"finished"}
    for run_id, shown in before.items():
        again = cli_json("show", run_id)
        assert again["summary"] == shown["summary"] and again["verdict"] == shown["verdict"]
        assert again["config"] == shown["config"]
    code, out, _ = cli("doctor")
    assert code == 0 and out == f"database {home / 'phenomena.db'}: ok, 3 runs\n"


def test_doctor_rebuild_moves_a_damaged_database_aside(cli, cli_json, home, stocked):
    db = home / "phenomena.db"
    _scramble(db)
    damaged = db.read_bytes()
    code, out, _ = cli("doctor")
    assert code == 1 and out.startswith(f"database {db}: damaged (file is not a database)\n")
    code, out, _ = cli("doctor", "--rebuild")
    assert code == 0 and f"restored 3 runs into {db}" in out
    (aside,) = home.glob("phenomena.db.damaged-*")
    assert aside.read_bytes() == damaged
    assert sorted(r["run_id"] for r in cli_json("runs")) == sorted(stocked.values())


def test_two_rebuilds_in_one_second_keep_both_damaged_databases(home, stocked, monkeypatch):
    from phenomena.store import doctor

    monkeypatch.setattr(doctor, "time", types.SimpleNamespace(strftime=lambda *_: "20250101-000000"))
    db = home / "phenomena.db"
    first, second = os.urandom(8192), os.urandom(8192)
    db.write_bytes(first)
    assert doctor.rebuild(Store(home)) == 3
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(second)
    assert doctor.rebuild(Store(home)) == 3
    kept = {p.read_bytes() for p in home.glob("phenomena.db.damaged-*")}
    assert first in kept and second in kept


def test_doctor_reports_an_indexed_run_whose_folder_is_gone(cli, home, stocked):
    shutil.rmtree(home / "runs" / stocked["wd"])
    code, out, _ = cli("doctor")
    assert code == 0  # nothing doctor can repair
    assert out.splitlines() == [
        f"database {home / 'phenomena.db'}: ok, 3 runs",
        "1 indexed runs have no folder (their figures are gone)",
    ]


# -- read-only commands create nothing --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command, code, message",
    [
        (("runs",), 0, "no runs stored in phenomena-runs yet; try `phenomena run grokking`\n"),
        (("sweeps",), 0, "no sweeps stored in phenomena-runs yet; try `phenomena sweep grokking"),
        (("show", "abc"), 2, "error: no stored run or sweep 'abc' in phenomena-runs (see `phenomena runs`)\n"),
        (("doctor",), 0, "database phenomena-runs/phenomena.db: absent\n"),
    ],
)
def test_read_only_commands_create_nothing(tmp_path, monkeypatch, command, code, message):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)
    monkeypatch.delenv("PHENOMENA_HOME", raising=False)
    got, out, err = invoke(*command)
    assert got == code
    assert (out + err).startswith(message)
    assert os.listdir(fresh) == []


# -- validation before the store ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command, message",
    [
        (
            ("run", "grokking", "-p", "smoke", "-s", "model.activation=foo"),
            "error: model.activation must be one of relu, ",
        ),
        (
            ("run", "lottery-ticket", "-p", "smoke", "-s", "data.source=mnist"),
            "error: data.source=mnist needs -s data.directory=PATH",
        ),
        (
            ("sweep", "grokking", "-p", "smoke", "--grid", "model.activation=quadratic,foo"),
            "error: model.activation must be one of relu, ",
        ),
    ],
    ids=["run-bad-value", "run-bad-combination", "sweep-bad-point"],
)
def test_bad_input_is_rejected_before_the_store_is_touched(cli, home, stocked, command, message):
    before = file_hashes(home)
    code, out, err = cli(*command)
    assert code == 2 and out == ""
    assert one_error_line(err).startswith(message)
    assert file_hashes(home) == before


# -- prefixes and names ---------------------------------------------------------------------------------------------
def _finished(store: Store, run_id: str, config: dict | None = None) -> None:
    store.begin(run_id, "grokking", "smoke", config or {"seed": 0}, {})
    store.finish(run_id, "finished", summary={}, verdict={"passed": True, "checks": []})


def test_show_with_a_prefix_of_two_runs_lists_both(cli, home):
    store = Store(home)
    for run_id in ("ee11aa", "ee22bb"):
        _finished(store, run_id)
    code, out, err = cli("show", "ee")
    assert code == 2 and out == ""
    assert one_error_line(err) == (
        "error: ambiguous prefix 'ee': it starts run ee11aa (grokking), run ee22bb (grokking); give more characters"
    )


def test_show_with_a_prefix_of_a_run_and_a_sweep_lists_both(cli, home):
    store = Store(home)
    _finished(store, "ff11aa")
    store.begin_sweep("ff22bb", "grokking", "smoke", {"train.lr": [0.01]}, [0], {}, [(0, 0, "ff11aa")])
    code, out, err = cli("show", "ff")
    assert code == 2 and out == ""
    assert one_error_line(err) == (
        "error: ambiguous prefix 'ff': it starts run ff11aa (grokking), sweep ff22bb (grokking); give more characters"
    )


@pytest.mark.parametrize("command", ["runs", "sweeps"])
def test_listing_an_unknown_experiment_is_an_error(cli, home, command):
    code, out, err = cli(command, "-e", "nosuch")
    assert code == 2 and out == ""
    assert one_error_line(err).startswith("error: unknown experiment 'nosuch'; choose one of ")
    assert not home.exists()


# -- options of run and sweep ------------------------------------------------------------------------------------
def test_seed_option_and_seed_override_must_agree(cli, home):
    code, out, err = cli("run", "grokking", *FAST, "--seed", "3", "-s", "seed=4")
    assert code == 2 and out == ""
    assert one_error_line(err) == ("error: conflicting values for the seed: --seed 3 and seed=4 in the overrides")
    assert not home.exists()
    code, out, err = cli("run", "grokking", *FAST, "--seed", "3", "-s", "seed=3", "--json")
    assert code == 0, err
    assert json.loads(out)["config"]["seed"] == 3


def test_a_grid_without_values_names_the_grid(cli, home):
    code, out, err = cli("sweep", "grokking", "-p", "smoke", "--grid", "train.lr")
    assert code == 2 and out == ""
    assert one_error_line(err).startswith("error: grid 'train.lr' is not of the form key.path=v1,v2,...")
    assert not home.exists()


@pytest.mark.parametrize("flag", ["--workers", "-j", "-w"])
def test_workers_on_a_run_without_pieces_is_noted_and_has_no_effect(cli, home, stocked, flag):
    code, out, err = cli("run", "grokking", *FAST, flag, "4", "--json")
    assert code == 0
    assert err == "note: grokking has no independent pieces to spread; --workers 4 has no effect\n"
    done = json.loads(out)
    assert (done["run_id"], done["status"]) == (stocked["plain"], "finished")


# -- show, runs and run output -------------------------------------------------------------------------------------
def test_show_text_names_preset_seed_overrides_and_environment(cli, home, stocked):
    code, out, err = cli("show", stocked["wd"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"grokking [smoke] run {stocked['wd']}: finished"
    assert "config: preset smoke, seed 0, overrides: train.steps=20 train.weight_decay=0.5" in lines
    (env_line,) = [line for line in lines if line.startswith("environment: ")]
    assert env_line.startswith("environment: phenomena ") and f", torch {torch.__version__}, " in env_line


def test_show_json_has_reuse_environment_overrides_seed_and_curves(cli, cli_json, home, stocked):
    from phenomena.api import load

    run_id = stocked["wd"]
    shown = cli_json("show", run_id)
    assert shown["reused"] is False and shown["seed"] == 0 and shown["status"] == "finished"
    assert shown["overrides"] == "train.steps=20 train.weight_decay=0.5"
    assert shown["environment"]["torch"] == torch.__version__
    assert "curves" not in shown
    with_curves = cli_json("show", run_id, "--curves")
    steps, values = load(run_id, home).curve("test_acc")
    assert len(steps) > 1
    assert with_curves["curves"]["test_acc"] == {"steps": steps, "values": [encode_float(v) for v in values]}


def test_run_json_says_whether_the_run_was_reused(cli_json, home):
    first = cli_json("run", "grokking", *FAST)
    assert first["reused"] is False and first["status"] == "finished"
    assert first["environment"]["torch"] == torch.__version__
    second = cli_json("run", "grokking", *FAST)
    assert second["reused"] is True and second["run_id"] == first["run_id"]


def test_a_diverged_run_json_is_one_object_with_its_id(cli, cli_json, home):
    code, out, err = cli("run", "grokking", "-p", "smoke", "-s", "train.lr=1e9", "-s", "train.steps=30", "--json")
    assert code == 2
    assert "diverged" in one_error_line(err)
    assert out.count("\n") == 1
    reported = json.loads(out)
    assert reported["status"] == "diverged" and reported["experiment"] == "grokking"
    (listed,) = cli_json("runs")
    assert listed["run_id"] == reported["run_id"] and listed["status"] == "diverged"


def test_runs_lists_seed_and_overrides(cli, cli_json, home, stocked):
    code, out, err = cli("runs")
    assert code == 0 and err == ""
    header, *rows = out.splitlines()
    assert header.split() == ["run", "id", "experiment", "preset", "status", "verdict", "seed", "created", "overrides"]
    (row,) = [r for r in rows if r.startswith(stocked["seed2"])]
    fields = row.split()
    assert fields[1:4] == ["grokking", "smoke", "finished"] and fields[5] == "2"
    assert row.endswith(" train.steps=20 train.weight_decay=0.5")
    listing = {r["run_id"]: r for r in cli_json("runs")}
    assert (listing[stocked["seed2"]]["seed"], listing[stocked["seed2"]]["overrides"]) == (
        2,
        "train.steps=20 train.weight_decay=0.5",
    )
    assert (listing[stocked["plain"]]["seed"], listing[stocked["plain"]]["overrides"]) == (0, "train.steps=20")


# -- rm and gc ----------------------------------------------------------------------------------------------------
def test_rm_yes_removes_the_run_record_and_folder(cli, home, stocked):
    run_id = stocked["plain"]
    code, out, _ = cli("rm", run_id, "--yes")
    assert code == 0
    assert out == f"run {run_id} (grokking, finished)\nremoved 1\n"
    store = Store(home)
    assert store.get(run_id) is None and store.metrics(run_id) == {}
    assert not store.run_dir(run_id).exists()
    assert sorted(r.id for r in store.runs()) == sorted([stocked["wd"], stocked["seed2"]])


def test_rm_answered_no_keeps_the_run(home, stocked):
    run_id = stocked["plain"]
    code, out, err = invoke("rm", run_id, input="n\n")
    assert code == 130 and err == "aborted\n"
    assert out.startswith(f"run {run_id} (grokking, finished)\nremove this? [y/N]: ")
    store = Store(home)
    assert store.get(run_id).status == "finished" and store.run_dir(run_id).is_dir()


def test_rm_a_sweep_keeps_its_runs(cli, home, stocked):
    store = Store(home)
    members = [(0, 0, stocked["plain"]), (1, 0, stocked["wd"])]
    store.begin_sweep("5eeb5eeb5eeb", "grokking", "smoke", {"train.weight_decay": [2.0, 0.5]}, [0], {}, members)
    store.finish_sweep("5eeb5eeb5eeb", "finished")
    code, out, _ = cli("rm", "5eeb", "--yes")
    assert code == 0 and out == "sweep 5eeb5eeb5eeb (grokking, finished)\nremoved 1\n"
    assert store.get_sweep("5eeb5eeb5eeb") is None and store.sweeps() == []
    assert len(store.runs()) == 3
    assert all(store.run_dir(r).is_dir() for r in stocked.values())


def test_gc_removes_failed_interrupted_runs_and_folders_without_record(cli, home):
    store = Store(home)
    _finished(store, "keep01")
    store.begin("fail01", "grokking", "smoke", {"seed": 0}, {})
    store.finish("fail01", "failed", error="boom")
    store.begin("intr01", "grokking", "smoke", {"seed": 0}, {})
    store.finish("intr01", "interrupted", error="interrupted by the user")
    (home / "runs" / "orphan").mkdir()
    (home / "runs" / "orphan" / "figure.png").write_bytes(b"x")

    code, out, _ = cli("gc", "--yes")
    assert code == 0
    lines = out.splitlines()
    assert sorted(lines[:2]) == ["run fail01 (grokking, failed)", "run intr01 (grokking, interrupted)"]
    assert lines[2:] == [f"folder {home / 'runs' / 'orphan'} (no record)", "removed 2 runs and 1 folders"]
    assert [r.id for r in store.runs()] == ["keep01"]
    assert sorted(os.listdir(home / "runs")) == ["keep01"]
    code, out, _ = cli("gc", "--yes")
    assert code == 0 and out == f"nothing to collect in {home}\n"


# -- stale runs ------------------------------------------------------------------------------------------------------
def test_a_running_row_whose_process_is_gone_reads_stale(cli, cli_json, home):
    store = Store(home)
    store.begin("stale1", "grokking", "smoke", {"seed": 0}, {})
    store.begin("live01", "grokking", "smoke", {"seed": 0}, {})
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET pid = ? WHERE id = 'stale1'", (DEAD_PID,))
    assert {r["run_id"]: r["status"] for r in cli_json("runs")} == {"stale1": "stale", "live01": "running"}
    code, out, _ = cli("runs")
    assert code == 0
    statuses = {line.split()[0]: line.split()[3] for line in out.splitlines()[1:]}
    assert statuses == {"stale1": "stale", "live01": "running"}
    assert store.get("stale1").status == "running"  # only shown so; the record is unchanged


# -- the shared folders of sweeps killed outright --------------------------------------------------------------------
def test_the_shared_folder_of_a_killed_sweep_is_reported_and_collected_and_no_other(cli, home, killed_sweeps_folder):
    import socket
    import time

    store = Store(home)
    store.begin("keep01", "grokking", "smoke", {"seed": 0}, {})
    store.finish("keep01", "finished")
    killed = killed_sweeps_folder()
    elsewhere = home / "shared-elsewhere"  # another host's sweep: its process cannot be seen from here
    elsewhere.mkdir()
    (elsewhere / "owner.json").write_text(json.dumps({"host": socket.gethostname() + "-other", "pid": DEAD_PID}))
    old, young = home / "shared-old", home / "shared-young"  # no owner file (an older version's, or killed early)
    old.mkdir(), young.mkdir()
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    with store.shared_folder() as live:
        assert store.leftover_shared_folders() == sorted([killed, old])
        code, out, _ = cli("doctor")
        assert code == 0 and "2 shared folders were left by sweeps that were killed" in out
        code, out, _ = cli("gc", "--yes")
        assert code == 0
        assert out.splitlines() == [
            *sorted(f"folder {f} (left by a killed sweep)" for f in (killed, old)),
            "removed 0 runs and 2 folders",
        ]
        assert sorted(p.name for p in home.glob("shared-*")) == sorted([live.name, "shared-elsewhere", "shared-young"])
        assert [r.id for r in store.runs()] == ["keep01"]
    assert not live.exists()
    code, out, _ = cli("doctor")
    assert "shared folders" not in out


# -- migration of the first layout ---------------------------------------------------------------------------------
_LAYOUT_0 = """
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT,
    config      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'diverged')),
    created     REAL NOT NULL,
    finished    REAL,
    summary     TEXT,
    verdict     TEXT,
    environment TEXT,
    error       TEXT,
    sweep       TEXT
);
CREATE TABLE metrics (
    run   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name  TEXT NOT NULL,
    step  INTEGER NOT NULL,
    value REAL
);
CREATE INDEX metrics_by_run ON metrics(run, name, step);
CREATE INDEX runs_by_experiment ON runs(experiment, created);
CREATE TABLE sweeps (
    id          TEXT PRIMARY KEY,
    experiment  TEXT NOT NULL,
    preset      TEXT,
    grid        TEXT NOT NULL,
    seeds       TEXT NOT NULL,
    overrides   TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'incomplete', 'interrupted')),
    created     REAL NOT NULL,
    finished    REAL
);
CREATE TABLE sweep_runs (
    sweep TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    point INTEGER NOT NULL,
    seed  INTEGER NOT NULL,
    run   TEXT NOT NULL,
    PRIMARY KEY (sweep, point, seed)
);
CREATE INDEX sweep_runs_by_run ON sweep_runs(run);
"""


def test_a_layout_0_database_is_migrated_keeping_its_runs_and_metrics(tmp_path):
    root = tmp_path / "old"
    root.mkdir()
    db = sqlite3.connect(root / "phenomena.db")
    db.executescript(_LAYOUT_0)
    db.execute(
        "INSERT INTO runs (id, experiment, preset, config, status, created, finished, summary, verdict, environment) "
        "VALUES ('old001', 'grokking', 'smoke', '{\"seed\": 0}', 'finished', 1.0, 2.0, '{\"t_fit\": 5.0}', "
        "'{\"passed\": true, \"checks\": []}', '{}')"
    )
    db.executemany(
        "INSERT INTO metrics (run, name, step, value) VALUES ('old001', 'loss', ?, ?)", [(0, 1.0), (1, 0.5), (2, 0.25)]
    )
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()

    store = Store(root)
    (record,) = store.runs()
    assert (record.id, record.status, record.summary, record.pid) == ("old001", "finished", {"t_fit": 5.0}, None)
    assert store.metrics("old001") == {"loss": ([0, 1, 2], [1.0, 0.5, 0.25])}
    with sqlite3.connect(root / "phenomena.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM metrics").fetchone()[0] == 3
    store.begin("new001", "grokking", "smoke", {"seed": 0}, {})
    store.interrupt()
    assert Store(root).get("new001").status == "interrupted"
    assert Store(root).get("old001").status == "finished"
