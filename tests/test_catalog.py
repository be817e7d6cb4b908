"""The catalog contract, checked on each Entry object: a docstring that reads like a short paper, a summary and
papers, smoke/quick and paper-or-full presets of the entry's config with their costs, controls and references
that name real config keys and presets, a listing that is current, and a smoke run through the CLI."""

import ast
import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from phenomena.catalog import ENTRIES, describe_entry, get_entry, listing
from phenomena.config import apply_overrides, describe_fields
from phenomena.experiment import Entry


@pytest.mark.parametrize("name", list(ENTRIES))
def test_entry_is_complete(name):
    entry = get_entry(name)
    assert isinstance(entry, Entry) and entry.name == name
    module = importlib.import_module(ENTRIES[name])
    assert len((module.__doc__ or "").strip().splitlines()) >= 5, "the docstring explains the phenomenon"
    assert entry.summary and entry.summary == entry.summary.strip() and entry.papers
    assert {"smoke", "quick"} <= set(entry.presets) and len({"paper", "full"} & set(entry.presets)) == 1
    assert set(entry.costs) == set(entry.presets) and all(entry.costs.values())
    for preset in entry.presets.values():
        assert type(preset) is entry.config and isinstance(preset.seed, int)
    for fn in (entry.run, entry.verdict, entry.figure):
        assert callable(fn) and fn.__module__ == ENTRIES[name], "no entry borrows another entry's functions"
    keys = {f.key for f in describe_fields(entry.presets["quick"])}
    assert all(isinstance(m, str) and m for m in entry.sweep_metrics)
    for field in describe_fields(entry.presets["quick"]):
        assert field.help, f"{name}: config key {field.key} has no help text"
    for control in entry.controls:
        assert control.must_fail and control.why, control
        assert set(control.overrides) <= keys, f"{name}: control {control.name!r} sets unknown keys"
        for preset in entry.presets.values():
            apply_overrides(preset, control.overrides)  # valid on every preset
    for reference in entry.references:
        assert reference.preset in entry.presets and reference.tol > 0
    if entry.unused is not None:
        for preset in entry.presets.values():
            assert set(entry.unused(preset)) <= keys | {k.split(".")[0] for k in keys}


def test_entries_import_no_other_entry():
    for name, module in ENTRIES.items():
        spec = importlib.util.find_spec(module)
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        others = {m for m in imported if m.startswith("phenomena.catalog")}
        assert not others, f"{name} imports {others}"


def test_the_listing_is_current():
    fresh = [describe_entry(get_entry(name)) for name in ENTRIES]
    assert listing() == json.loads(json.dumps(fresh)), "run `python -m phenomena.catalog` to remake listing.json"


def test_listing_imports_neither_torch_nor_an_entry():
    probe = (
        "import sys; from phenomena.cli import main\n"
        "try:\n    main(['list'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m in ('torch', 'tqdm') or m.startswith('phenomena.catalog.')]\n"
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "grokking" in done.stdout


@pytest.mark.parametrize("name", list(ENTRIES))
def test_smoke_runs_through_the_cli_and_stores_what_it_showed(name, cli, cli_json):
    code, out, err = cli("run", name, "-p", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["experiment"] == name and res["status"] == "finished" and res["verdict"]["checks"]
    assert res["summary"]["wall_seconds"] > 0  # the runner times every run
    entry = get_entry(name)
    if entry.smoke_holds:  # declared to hold on any CPU, with margin; otherwise smoke only proves the pipeline
        assert res["verdict"]["passed"], res["verdict"]
    code, out, _ = cli("run", name, "-p", "smoke")  # reused from the store: the table, and the note if any
    assert code == 0 and ("not expected to hold" in out) == (not entry.smoke_holds), out
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # the figure draws from the stored result alone, as it is drawn for verify's runs (which store none)
    Path(res["artifacts"]["figure"]).unlink()
    shown = cli_json("show", res["run_id"])
    with open(shown["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert shown["verdict"]["passed"] == res["verdict"]["passed"]
    assert [c["name"] for c in shown["verdict"]["checks"]] == [c["name"] for c in res["verdict"]["checks"]]


def test_config_command_shows_every_key_with_type_default_constraint_and_help(cli, cli_json):
    code, out, _ = cli("config", "grokking")
    assert code == 0
    for key in ("train.weight_decay", "data.train_fraction", "model.width", "seed"):
        assert key in out
    assert "in (0, 1)" in out and ">= 0" in out and "presets (keys where they differ)" in out
    shown = cli_json("config", "grokking", "--preset", "paper")
    by_key = {k["key"]: k for k in shown["keys"]}
    assert by_key["train.lr"] == {
        "key": "train.lr",
        "type": "float",
        "default": 1e-3,
        "constraints": ["> 0"],
        "help": "AdamW learning rate",
    }
    assert "train.lr" in shown["differ"] and "seed" not in shown["differ"]
    assert set(shown["presets"]) == {"smoke", "quick", "paper"}


@pytest.mark.parametrize(
    "args, message",
    [
        (("config", "nope"), "unknown experiment 'nope'"),
        (("config", "grokking", "-p", "huge"), "has no preset 'huge'"),
        (("run", "grokking", "-s", "train.lr=-1"), "train.lr must be positive; got -1.0"),
        (("run", "grokking", "-s", "train.steps=0"), "train.steps must be a positive integer; got 0"),
        (("run", "grokking", "-s", "train.betas=0.9,1"), "train.betas must lie in [0, 1); got (0.9, 1.0)"),
        (("run", "grokking", "-s", "train.stepz=3"), "unknown config key 'train.stepz'"),
        (("run", "grokking", "-s", "train.steps=many"), "train.steps must be an integer"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(cli, home, args, message):
    code, out, err = cli(*args)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert not (home / "phenomena.db").exists()


def test_entries_are_frozen_and_picklable():
    import pickle

    entry = get_entry("grokking")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "x"
    assert pickle.loads(pickle.dumps(entry)).name == "grokking"
