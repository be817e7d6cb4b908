"""The command line as a user meets it: bad input, reuse, listing, JSON, divergence."""

import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "grokkin"], "unknown experiment 'grokkin'; choose one of "),
        (["run", "grokking", "-p", "fast"], "has no preset 'fast'; choose one of smoke, quick, paper"),
        (["run", "grokking", "-s", "train.widht=3"], "unknown config key 'train.widht'; valid keys: train.steps"),
        (["run", "grokking", "-s", "model.width=-4"], "model.width must be a positive integer; got -4"),
        (["run", "grokking", "-s", "model.width=wide"], "model.width must be an integer; got 'wide'"),
        (["run", "grokking", "-s", "data.op=%"], "data.op must be one of '+', '-', '*', '/'"),
        (["run", "grokking", "-s", "train.lr"], "not of the form key.path=value"),
        (["run", "grokking", "--seed", "x"], "'x' is not a valid integer"),
        (["run", "grokking", "--bogus"], "No such option"),
        (["show", "nosuchrun"], "no stored run or sweep 'nosuchrun'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, home, args, message):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    code, out, _ = cli("runs", "--json")
    assert json.loads(out) == []


def test_a_finished_run_is_reused_unless_forced(cli, cli_json):
    first = cli_json("run", "grokking", "-p", "smoke", "-s", "train.steps=20")
    code, out, _ = cli("run", "grokking", "-p", "smoke", "-s", "train.steps=20")
    assert code == 0 and "reused the finished run" in out and first["run_id"] in out
    code, out, _ = cli("run", "grokking", "-p", "smoke", "-s", "train.steps=20", "--force", "--quiet")
    assert code == 0 and "finished in" in out
    listing = cli_json("runs")
    assert [r["run_id"] for r in listing] == [first["run_id"]] and listing[0]["status"] == "finished"
    # the run id does not depend on how a value was spelled
    again = cli_json("run", "grokking", "-p", "smoke", "-s", "train.steps=20.0", "-s", "seed=0")
    assert again["run_id"] == first["run_id"]


def test_a_diverged_run_is_recorded_and_reported_in_one_line(cli, cli_json):
    code, out, err = cli("run", "grokking", "-p", "smoke", "-s", "train.lr=1e9", "-s", "train.steps=30")
    assert code == 2 and err.count("\n") == 1 and "diverged" in err, err
    (run,) = cli_json("runs")
    assert run["status"] == "diverged"
    shown = cli_json("show", run["run_id"])
    assert shown["status"] == "diverged" and "diverged at step" in shown["error"]


def test_list_names_every_experiment_with_papers_and_costs(cli, cli_json):
    catalog = cli_json("list")
    grokking = next(e for e in catalog if e["name"] == "grokking")
    assert set(grokking["presets"]) == {"smoke", "quick", "paper"} and len(grokking["papers"]) >= 2
    code, out, _ = cli("list")
    assert code == 0 and "grokking" in out and "Gromov 2023" in out


def test_help_is_instant_because_torch_is_not_imported():
    """Neither torch nor tqdm (whose version lookup through importlib.metadata took ~0.1 s of every command)."""
    probe = (
        "import sys; from phenomena.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m in ('torch', 'tqdm')]\n"
        "assert not heavy, f'imported by --help: {heavy}'"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Reproduce phenomenon" in done.stdout or "run" in done.stdout.split("Commands:")[1]


def test_the_console_script_reports_errors_with_exit_code_2(home):
    done = subprocess.run([sys.executable, "-m", "phenomena", "run", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: unknown experiment 'nope'; choose one of ") and "grokking" in done.stderr
