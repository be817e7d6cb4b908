"""``make bench`` (benchmarks/run_all.py) and the scripts' shared helpers (benchmarks/common.py): the JSON summary
each script writes, the GEMM peak, the harness's table and JSON assembled from fake script results, and its
refusal of an unknown --only name. No benchmark runs here and nothing asserts a wall-clock time."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    """The benchmarks folder on sys.path (as when a script runs); returns (common, run_all)."""
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("common"), importlib.import_module("run_all")


def test_write_summary_writes_rows_and_extra_with_non_finite_values_as_null(bench, tmp_path):
    common, _ = bench
    common.write_summary(None, "x", [{"case": "a"}])  # no path: nothing happens
    row = common.row("case", "ours", 1.0, "base", 4.0, **common.gemm_fields(2e9, 1.0, 8.0), note="n")
    assert row["ratio"] == 0.25 and row["gflops"] == 2.0 and row["peak_fraction"] == 0.25
    path = tmp_path / "sub" / "s.json"
    common.write_summary(str(path), "demo", [row, common.row("c", "o", math.nan, "b", 0.0)], extra={"v": math.inf})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["benchmark"] == "demo" and doc["extra"] == {"v": None}
    assert doc["rows"][0] == {
        "case": "case",
        "ours": "ours",
        "ours_s": 1.0,
        "baseline": "base",
        "baseline_s": 4.0,
        "ratio": 0.25,
        "gflops": 2.0,
        "peak_gflops": 8.0,
        "peak_fraction": 0.25,
        "note": "n",
    }
    assert doc["rows"][1]["ours_s"] is None and doc["rows"][1]["ratio"] is None  # NaN, and 0 s baseline


def test_add_json_argument_adds_an_optional_path(bench):
    import argparse

    common, _ = bench
    parser = argparse.ArgumentParser()
    common.add_json_argument(parser)
    assert parser.parse_args([]).json is None
    assert parser.parse_args(["--json", "out.json"]).json == "out.json"


def test_gemm_peak_is_a_positive_finite_rate_and_restores_the_thread_count(bench):
    import torch

    common, _ = bench
    before = torch.get_num_threads()
    peak = common.gemm_peak(1, sizes=(32, 64), repeats=1)
    assert math.isfinite(peak) and peak > 0
    assert math.isfinite(common.gemm_peak(2, sizes=(32,), repeats=1, dtype=torch.float64))
    assert torch.get_num_threads() == before


def test_best_rate_warms_up_once_times_each_repeat_at_the_asked_threads_and_restores_them(bench):
    import torch

    common, _ = bench
    before = torch.get_num_threads()
    seen = []

    def work():
        seen.append(torch.get_num_threads())
        time.sleep(0.01)

    rate = common.best_rate(work, flops=1e7, threads=1, repeats=3)
    assert seen == [1] * 4  # one warm-up call, then the three timed ones
    assert 0 < rate <= 1e7 / 0.01 / 1e9  # no call took less than its 10 ms sleep
    assert torch.get_num_threads() == before

    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        common.best_rate(fails, flops=1.0, threads=1)
    assert torch.get_num_threads() == before


def fake_results():
    gemm_row = {
        "case": "traced eNTK, N=128",
        "ours": "jacobian",
        "ours_s": 2.0,
        "baseline": "naive loop",
        "baseline_s": 8.0,
        "ratio": 0.25,
        "gflops": 62.0,
        "peak_gflops": 100.0,
        "peak_fraction": 0.62,
        "target": "peak_fraction >= 0.6",
        "met": True,
    }
    plain_row = {"case": "c", "ours": "o", "ours_s": 1.0, "baseline": "b", "baseline_s": None, "ratio": None}
    return [
        {"name": "ntk", "args": ["--n", "128"], "exit_code": 0, "wall_s": 10.0, "tail": ["done"]}
        | {"summary": {"benchmark": "ntk", "rows": [gemm_row, plain_row], "threads": 1}},
        {"name": "curvature", "args": ["--suite"], "exit_code": 2, "wall_s": 1.0, "summary": None}
        | {"tail": ["usage: curvature.py", "curvature.py: error: unrecognized arguments: --suite", ""]},
        {"name": "sparsity", "args": [], "exit_code": 1, "wall_s": 2.0, "tail": ["DISAGREEMENT"]}
        | {"summary": {"benchmark": "sparsity", "rows": [plain_row], "agree": False}},
        {"name": "grokking", "args": [], "exit_code": 0, "wall_s": 3.0, "summary": None, "tail": []},
        {"name": "weight_spectra", "args": [], "exit_code": 0, "wall_s": 2.0, "tail": []}
        | {"summary": {"benchmark": "weight_spectra", "rows": [], "skipped": "weightwatcher is not installed"}},
    ]


def test_assemble_reports_rows_failures_and_skips(bench):
    _, run_all = bench
    machine = {"platform": "p", "cpu": "c", "cpu_count": 2, "torch": "t", "cpu_capability": "AVX2"}
    report = run_all.assemble(fake_results(), {1: 100.0, 2: math.nan}, machine, "2025-01-01T00:00:00", 16.0)
    json.dumps(report, allow_nan=False)  # storable as strict JSON
    assert report["peaks_gflops"] == {"1": 100.0, "2": None}
    assert report["failed"] == ["curvature", "sparsity", "grokking"]
    ntk, curvature, sparsity, grokking, spectra = report["benchmarks"]
    assert ntk["status"] == "ok" and len(ntk["rows"]) == 2 and ntk["extra"] == {"threads": 1}
    assert ntk["args"] == ["--n", "128"] and ntk["wall_s"] == 10.0 and ntk["exit_code"] == 0
    assert curvature["status"] == "failed"
    assert curvature["error"] == "exit code 2: curvature.py: error: unrecognized arguments: --suite"
    assert sparsity["status"] == "failed" and sparsity["error"] == "exit code 1: DISAGREEMENT"
    assert sparsity["rows"] == [fake_results()[2]["summary"]["rows"][0]] and sparsity["extra"] == {"agree": False}
    assert grokking["error"] == "exit code 0 but it wrote no JSON summary"
    assert spectra["status"] == "ok" and spectra["rows"] == []

    rows = run_all.table_rows(report)
    assert rows[0] == [
        "ntk",
        "traced eNTK, N=128",
        "jacobian vs naive loop",
        "2",
        "8",
        "0.25",
        "62.0",
        "62% of 100",
        "peak_fraction >= 0.6: yes",
    ]
    assert rows[1][4:8] == ["–", "–", "–", "–"] and rows[1][8] == "–"  # missing numbers, no target
    assert rows[2][1].startswith("FAILED: exit code 2")
    assert rows[3][:2] == ["sparsity", "FAILED: exit code 1: DISAGREEMENT"] and rows[4][:3] == [
        "sparsity",
        "c",
        "o vs b",
    ]
    assert rows[5][1].startswith("FAILED: exit code 0") and rows[6][1] == "skipped: weightwatcher is not installed"
    text = run_all.format_table(report)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["benchmark", "case"] and len(lines) == 2 + len(rows)


def test_every_script_is_in_the_harness_and_takes_json():
    names = {p.stem for p in BENCH.glob("*.py")} - {"common", "run_all"}
    text = (BENCH / "run_all.py").read_text(encoding="utf-8")
    assert all(f'"{n}":' in text for n in names), names
    owned = names - {"ensemble", "curvature"}  # the lead's two adopt the helpers themselves
    assert all("add_json_argument(" in (BENCH / f"{n}.py").read_text(encoding="utf-8") for n in owned)


def test_an_unknown_only_name_is_one_line_and_exit_2(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--only", "ntk,nope", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "unknown benchmark nope" in done.stderr and "ntk" in done.stderr
    assert done.stdout == "" and not out.exists()


def test_the_ensemble_step_products_are_the_written_out_steps(bench):
    # the benchmark's bound on the trainer is only meaningful if it times the products the trainer does: the same
    # flops as its count of a step, and the operand shapes of every batched product BmmStep makes in a step
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from phenomena.models import MLP
    from phenomena.training.bmm_step import BmmStep
    from phenomena.training.ensemble import _bmm_layers

    class Products(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket in (torch.ops.aten.bmm, torch.ops.aten.baddbmm):
                left, right = args[:2] if func.overloadpacket is torch.ops.aten.bmm else args[1:3]
                self.shapes.append((tuple(left.shape), tuple(right.shape)))
            return func(*args, **(kwargs or {}))

    ensemble = importlib.import_module("ensemble")
    for width in (8, 64):  # at width 8 the first layer is the narrow one
        ops, flops = ensemble.step_products(width, members=3, batch=5)
        assert flops == ensemble.training_flops(width, members=3, steps=1, batch=5, n_eval=0, logs=0)
        plan = _bmm_layers(MLP(40, 10, width=width, depth=2, seed=0))
        dims = [(40, width), (width, width), (width, 10)]
        linears = [op[1] for op in plan if op[0] == "linear"]
        params = {f"{n}.weight": torch.randn(3, *d) for n, d in zip(linears, dims, strict=True)}
        params |= {f"{n}.bias": torch.zeros(3, d[1]) for n, d in zip(linears, dims, strict=True)}
        step = BmmStep(plan, params, list(params))
        with Products() as seen:
            step(torch.randn(3, 5, 40), torch.zeros(3, 5, dtype=torch.long), batched=True)
        assert sorted(seen.shapes) == sorted((tuple(x.shape), tuple(y.shape)) for x, y in ops)
