"""``phenomena export``: every format read back equals the store (runs table and every metric point), a sweep
exports exactly its runs, and bad input is one line, exit code 2, and writes nothing."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenomena.cli import main
from phenomena.cli.export import export_cmd
from phenomena.config import flat
from phenomena.errors import UserError
from phenomena.export import RUN_COLUMNS, export, metrics_table, resolve_ids, runs_table
from phenomena.result import decode_float
from phenomena.store import Store

if "export" not in main.commands:  # the maintainer registers it in phenomena.cli for good
    main.add_command(export_cmd)

RUN = ("run", "grokking", "-p", "smoke", "-s", "train.steps=40")
SWEEP = (
    "sweep",
    "grokking",
    "-p",
    "smoke",
    "-s",
    "train.steps=40",
    "--grid",
    "train.weight_decay=0.5,1",
    "-x",
    "serial",
)
# two runs restored into the store beside the real ones: a second experiment (other config keys, a key whose type
# differs from grokking's), NaN metric points, infinite summary values, and a shared prefix for the ambiguity test
SYNTHETIC = ("abc000000001", "abc000000002")


def _synthetic(run_id: str, n: int) -> tuple[dict, dict]:
    record = {
        "id": run_id,
        "experiment": "toy",
        "preset": "quick",
        "config": {
            "seed": n,
            "model": {"width": [64, 32], "tags": ["a", True]},
            "train": {"lr": 0.1 * n, "note": 'x,y "q"'},
        },
        "created": 1000.0 + n,
        "finished": 1001.5 + n,
        "summary": {"score": "inf", "gap": "-inf", "t_gen": "nan", "t_fit": 3.0 + n},
        "verdict": None
        if n == 1
        else {
            "passed": False,
            "checks": [{"name": "gap", "value": "-inf", "op": ">=", "threshold": 0.0, "note": "", "passed": False}],
        },
        "environment": {},
        "sweep": None,
    }
    metrics = {
        "loss": ([0, 10, 20], [1.0 / 3.0, math.nan, 0.25 * n]),
        "acc": ([5, 15], [0.1 + 1e-15, math.inf]),  # the store keeps no infinity in metrics: it reads back NaN
    }
    return record, metrics


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """A store with one real run, a real two-run sweep and two restored synthetic runs (computed once; each test
    gets a copy through ``stored``)."""
    root = tmp_path_factory.mktemp("export-store") / "store"

    def cli_json(*args: str) -> dict:
        result = CliRunner().invoke(main, ["--home", str(root), *args, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    run = cli_json(*RUN)
    sweep = cli_json(*SWEEP)
    store = Store(root)
    for n, run_id in enumerate(SYNTHETIC, start=1):
        store.restore(*_synthetic(run_id, n))
    members = [m[2] for m in store.get_sweep(sweep["sweep_id"]).members]
    return {"root": root, "run": run["run_id"], "sweep": sweep["sweep_id"], "members": members}


@pytest.fixture
def stored(built, home) -> dict:
    """A fresh copy of the built store at ``home`` (the store the ``cli`` fixture uses)."""
    shutil.copytree(built["root"], home)
    return {**built, "store": Store(home), "home": home}


def _snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


# -- what the store holds --------------------------------------------------------------------------------------
def _same(a: float, b: float, tol: float = 1e-12) -> bool:
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(b))


def _expected_points(store: Store, ids: list[str]) -> dict:
    points = {}
    for run_id in ids:
        for name, (steps, values) in store.metrics(run_id).items():
            for step, value in zip(steps, values, strict=True):
                points[(run_id, name, step)] = value
    return points


def assert_metrics_equal(rows: list[dict], store: Store, ids: list[str]) -> None:
    """Every metric point of every run, once, with its value (NaN where the store has NaN)."""
    expected = _expected_points(store, ids)
    assert expected and any(math.isnan(v) for v in expected.values())  # the comparison below covers NaN
    experiments = {r.id: r.experiment for r in store.runs()}
    got = {}
    for row in rows:
        key = (row["run_id"], row["name"], int(row["step"]))
        assert key not in got, f"point {key} exported twice"
        assert row["experiment"] == experiments[row["run_id"]]
        got[key] = float(row["value"])
    assert len(rows) == len(expected)
    assert set(got) == set(expected)
    bad = [(k, got[k], v) for k, v in expected.items() if not _same(got[k], v)]
    assert not bad, bad[:5]


def assert_runs_equal(rows: list[dict], store: Store, ids: list[str], cell) -> None:
    """One row per run, in order, whose config, summary and checks equal the store's, and no other config or
    summary values; ``cell(value)`` is how the format writes a stored config value (CSV: as text)."""
    records = store.records(ids)
    assert [row["run_id"] for row in rows] == ids
    for row in rows:
        record = records[row["run_id"]]
        assert row["experiment"] == record.experiment
        assert row["status"] == record.status
        config = {f"config.{k}": json.dumps(v) if isinstance(v, list) else v for k, v in flat(record.config).items()}
        assert config, record.id
        for key, value in config.items():
            assert row[key] == cell(value), (record.id, key, row[key], value)
        assert not {k for k in row if k.startswith("config.") and row[k] not in ("", None)} - set(config)
        summary = {f"summary.{k}": float(decode_float(v)) for k, v in record.summary.items()}
        assert summary, record.id
        for key, value in summary.items():
            assert _same(float(row[key]), value, 0.0), (record.id, key, row[key], value)
        assert not {k for k in row if k.startswith("summary.") and row[k] not in ("", None)} - set(summary)
        if record.verdict is None:
            assert row["checks"] in ("", None)
        else:
            assert json.loads(row["checks"]) == record.verdict["checks"]
            assert row["passed"] == cell(record.verdict["passed"])
        assert float(row["created"]) == record.created


def _csv_cell(value) -> str:
    return "" if value is None else str(value)


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _all_ids(store: Store) -> list[str]:
    return [r.id for r in reversed(store.runs())]


# -- round trips -----------------------------------------------------------------------------------------------
def test_csv_round_trip(stored, cli, tmp_path):
    out = tmp_path / "csv"
    code, stdout, err = cli("export", "--all", "-o", str(out))
    assert code == 0, err
    assert str(out / "runs.csv") in stdout and str(out / "metrics.csv") in stdout
    store, ids = stored["store"], _all_ids(stored["store"])
    assert len(ids) == 5
    assert_runs_equal(_read_csv(out / "runs.csv"), store, ids, _csv_cell)
    assert_metrics_equal(_read_csv(out / "metrics.csv"), store, ids)


def test_parquet_round_trip(stored, cli, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "pq"
    code, stdout, err = cli("export", "--all", "--format", "parquet", "--out", str(out))
    assert code == 0, err
    store, ids = stored["store"], _all_ids(stored["store"])
    runs = pq.read_table(out / "runs.parquet")
    metrics = pq.read_table(out / "metrics.parquet")
    assert str(metrics.schema.field("value").type) == "double" and str(metrics.schema.field("step").type) == "int64"
    assert str(runs.schema.field("summary.t_fit").type) == "double"
    rows = runs.to_pylist()
    # grokking's model.width is an int, the toy's a list: a column of mixed types is written as JSON text
    width = {row["run_id"]: row["config.model.width"] for row in rows}
    assert width[SYNTHETIC[0]] == "[64, 32]" and width[stored["run"]] == "128"
    for row in rows:
        text = row["config.model.width"]
        row["config.model.width"] = text if text.startswith("[") else json.loads(text)

    def cell(value):
        return value

    assert_runs_equal(rows, store, ids, cell)
    assert_metrics_equal(metrics.to_pylist(), store, ids)


def test_json_round_trip(stored, cli, tmp_path):
    out = tmp_path / "json"
    code, stdout, err = cli("export", "--all", "-f", "json", "-o", str(out))
    assert code == 0, err

    def strict(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    document = json.loads((out / "export.json").read_text(), parse_constant=strict)
    assert set(document) == {"runs", "metrics"}
    store, ids = stored["store"], _all_ids(stored["store"])
    toy = next(r for r in document["runs"] if r["run_id"] == SYNTHETIC[0])
    assert (toy["summary.score"], toy["summary.gap"], toy["summary.t_gen"]) == ("inf", "-inf", "nan")
    # a summary key of another experiment is null (absent), not NaN
    assert toy["summary.final_test_acc"] is None
    runs = [
        {k: decode_float(v) if k.startswith("summary.") and v is not None else v for k, v in r.items()}
        for r in document["runs"]
    ]
    metrics = [{**m, "value": decode_float(m["value"])} for m in document["metrics"]]
    assert_runs_equal(runs, store, ids, lambda value: value)
    assert_metrics_equal(metrics, store, ids)


def test_tensorboard_round_trip(stored, cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    run_id, store = stored["run"], stored["store"]
    for _ in range(2):  # a second export replaces the first, it does not add to it
        code, stdout, err = cli("export", run_id[:7], SYNTHETIC[1], "-f", "tensorboard", "-o", str(out))
        assert code == 0, err
    assert stdout.strip().splitlines()[-1] == f"tensorboard --logdir {out}"
    assert str(out / "grokking" / run_id) in stdout
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*")) == sorted(
        [f"grokking/{run_id}", f"toy/{SYNTHETIC[1]}"]
    )

    def load(folder: Path) -> EventAccumulator:
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
        events.Reload()
        return events

    events = load(out / "grokking" / run_id)
    curves = store.metrics(run_id)
    assert set(curves) <= set(events.Tags()["scalars"])
    for name, (steps, values) in curves.items():
        points = events.Scalars(name)
        assert [p.step for p in points] == steps, name
        assert all(_same(p.value, v, 1e-6) for p, v in zip(points, values, strict=True)), name  # float32
    record = store.records([run_id])[run_id]
    for key, value in record.summary.items():
        (point,) = events.Scalars(f"summary/{key}")
        assert point.step == 0 and _same(point.value, float(decode_float(value)), 1e-6), key
    (text,) = events.Tensors("verdict/text_summary")
    shown = text.tensor_proto.string_val[0].decode()
    assert ("verdict: PASS" if record.verdict["passed"] else "verdict: FAIL") in shown
    assert all(check["name"] in shown for check in record.verdict["checks"])

    toy = load(out / "toy" / SYNTHETIC[1])
    loss = [(p.step, p.value) for p in toy.Scalars("loss")]
    assert [s for s, _ in loss] == [0, 10, 20] and math.isnan(loss[1][1]) and _same(loss[2][1], 0.5, 1e-6)
    assert toy.Scalars("summary/score")[0].value == math.inf


def test_sweep_exports_exactly_its_runs(stored, cli, tmp_path):
    out = tmp_path / "sweep"
    code, stdout, err = cli("export", stored["sweep"][:8], "-o", str(out))
    assert code == 0, err
    members = stored["members"]
    assert len(members) == 2 and stored["run"] not in members
    runs = _read_csv(out / "runs.csv")
    assert [r["run_id"] for r in runs] == members
    assert sorted(float(r["config.train.weight_decay"]) for r in runs) == [0.5, 1.0]
    metrics = _read_csv(out / "metrics.csv")
    assert {m["run_id"] for m in metrics} == set(members)
    assert len(metrics) == len(_expected_points(stored["store"], members))


def test_resolve_ids(stored):
    store, run_id, members = stored["store"], stored["run"], stored["members"]
    everything = resolve_ids(store, [], all_runs=True)
    assert everything == [r.id for r in sorted(store.runs(), key=lambda r: r.created)]
    assert len(everything) == 5
    # a sweep stands for its runs; repeats (a run named twice, or also by its sweep) are dropped, order kept
    assert resolve_ids(store, [run_id[:6], stored["sweep"], members[0], run_id], False) == [run_id, *members]
    assert resolve_ids(store, [SYNTHETIC[0]], False) == [SYNTHETIC[0]]  # an exact id beats a longer match


def test_runs_table_columns(stored):
    store = stored["store"]
    rows = runs_table(store, [stored["run"], SYNTHETIC[0], SYNTHETIC[1]])
    columns = list(rows[0])
    assert all(list(row) == columns for row in rows)
    assert columns[: len(RUN_COLUMNS)] == list(RUN_COLUMNS) and columns[-1] == "checks"
    config = [c for c in columns if c.startswith("config.")]
    assert config == sorted(config)
    grokking, toy, toy2 = rows
    assert grokking["config.train.betas"] == "[0.9, 0.98]" and grokking["config.data.p"] == 41
    assert toy["config.model.tags"] == '["a", true]' and toy["config.train.note"] == 'x,y "q"'
    assert toy["config.data.p"] is None
    assert toy["summary.score"] == math.inf and toy["summary.gap"] == -math.inf and math.isnan(toy["summary.t_gen"])
    assert (toy["checks"], toy["passed"], toy2["passed"]) == (None, None, False)
    assert grokking["seed"] == 0 and toy2["seed"] == 2
    points = [(m["experiment"], m["name"], m["step"], m["value"]) for m in metrics_table(store, [SYNTHETIC[0]])]
    assert points[0] == ("toy", "acc", 5, 0.1 + 1e-15) and points[2] == ("toy", "loss", 0, 1.0 / 3.0)
    assert [p[:3] for p in points] == [
        ("toy", "acc", 5),
        ("toy", "acc", 15),
        ("toy", "loss", 0),
        ("toy", "loss", 10),
        ("toy", "loss", 20),
    ]
    assert math.isnan(points[1][3]) and math.isnan(points[3][3]) and points[4][3] == 0.25


def test_export_overwrites_only_its_files(stored, cli, tmp_path):
    out = tmp_path / "again"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli("export", "--all", "-o", str(out))[0] == 0
    assert cli("export", SYNTHETIC[1], "-o", str(out))[0] == 0
    assert [r["run_id"] for r in _read_csv(out / "runs.csv")] == [SYNTHETIC[1]]  # replaced, not appended
    assert {m["run_id"] for m in _read_csv(out / "metrics.csv")} == {SYNTHETIC[1]}
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "notes.txt", "runs.csv"]  # no temporary files
    assert (out / "notes.txt").read_text() == "mine"


# -- bad input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("zzzz",), "no stored run or sweep 'zzzz'"),
        (("abc",), "ambiguous prefix 'abc'"),
        ((), "name the runs to export"),
        (("RUN", "-f", "xlsx"), "'xlsx' is not one of"),
        (("RUN", "--all"), "not both"),
        (("RUN", "-o", "FILE"), "is a file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(stored, cli, tmp_path, args, says):
    out, a_file = tmp_path / "nothing", tmp_path / "a-file"
    a_file.write_text("keep")
    args = [{"RUN": stored["run"], "FILE": str(a_file)}.get(a, a) for a in args]
    if "-o" not in args:
        args += ["-o", str(out)]
    before = _snapshot(stored["home"])
    code, stdout, err = cli("export", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:") and says in err, err
    assert stdout == ""
    assert not out.exists() and a_file.read_text() == "keep"
    assert _snapshot(stored["home"]) == before


def test_no_store_is_not_created(home, cli, tmp_path):
    code, _, err = cli("export", "--all", "-o", str(tmp_path / "out"))
    assert code == 2 and "no runs stored" in err
    assert not home.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("fmt", "module", "extra"),
    [("parquet", "pyarrow", "phenomena[export]"), ("tensorboard", "torch.utils.tensorboard", "phenomena[tensorboard]")],
)
def test_missing_dependency_names_the_extra(stored, cli, tmp_path, monkeypatch, fmt, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as when it is not installed
    if module == "pyarrow":
        monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "out"
    code, _, err = cli("export", stored["run"], "-f", fmt, "-o", str(out))
    assert code == 2 and f"install {extra} (pip install '{extra}')" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_api_rejects_unknown_format_and_ids(stored, tmp_path):
    store, out = stored["store"], tmp_path / "out"
    with pytest.raises(UserError, match="choose one of csv, parquet, json, tensorboard"):
        export(store, [stored["run"]], "xlsx", out)
    with pytest.raises(UserError, match="no stored run 'feedfeedfeed'"):
        export(store, [stored["run"], "feedfeedfeed"], "csv", out)
    with pytest.raises(UserError, match="no runs stored"):
        resolve_ids(Store(tmp_path / "empty"), [], all_runs=True)
    assert not out.exists() and not (tmp_path / "empty").exists()
