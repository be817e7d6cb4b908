"""The report's Benchmarks section: shown from ``<store home>/benchmarks.json`` (written by ``make bench``), absent
without the file, one line when the file cannot be read; the rest of the report is built in every case."""

from __future__ import annotations

import json

from phenomena.catalog import get_entry
from phenomena.site import build_site
from phenomena.store import Store

SUMMARY = {
    "date": "2025-01-01T12:00:00+00:00",
    "machine": {"platform": "Linux-x", "cpu": "Test CPU", "cpu_count": 2, "torch": "2.13.0", "cpu_capability": "AVX2"},
    "peaks_gflops": {"1": 101.5, "2": 190.25},
    "wall_s": 321.0,
    "failed": ["curvature"],
    "benchmarks": [
        {
            "name": "ntk",
            "args": ["--n", "128"],
            "exit_code": 0,
            "wall_s": 20.0,
            "status": "ok",
            "extra": {},
            "rows": [
                {
                    "case": "traced eNTK <N=128>",
                    "ours": "empirical_ntk method=jacobian",
                    "ours_s": 1.5,
                    "baseline": "naive loop",
                    "baseline_s": 6.0,
                    "ratio": 0.25,
                    "gflops": 63.0,
                    "peak_gflops": 100.0,
                    "peak_fraction": 0.63,
                    "target": "peak_fraction >= 0.6",
                    "met": True,
                }
            ],
        },
        {
            "name": "curvature",
            "args": ["--suite"],
            "exit_code": 2,
            "wall_s": 1.0,
            "status": "failed",
            "rows": [],
            "extra": {},
            "error": "exit code 2: unrecognized arguments",
        },
    ],
}


def _index(tmp_path, content: str | None) -> str:
    home = tmp_path / "store"
    home.mkdir(parents=True)
    if content is not None:
        (home / "benchmarks.json").write_text(content, encoding="utf-8")
    index = build_site(Store(home), tmp_path / "site", get_entry)
    assert not (home / "phenomena.db").exists()  # the report reads, never creates a store
    return index.read_text(encoding="utf-8")


def test_the_index_shows_the_benchmark_summary(tmp_path):
    html = _index(tmp_path, json.dumps(SUMMARY))
    section = html[html.index("<h2>Benchmarks</h2>") :]
    assert "Test CPU, 2 CPUs, Linux-x, torch 2.13.0 (ATen CPU capability AVX2)" in section
    assert "1 thread 101.5 GFLOP/s, 2 threads 190.2 GFLOP/s" in section
    assert "traced eNTK &lt;N=128&gt;" in section  # escaped
    assert '<td class="num">0.25</td>' in section and '<td class="num">63% of 100</td>' in section
    assert '<td class="pass">peak_fraction &gt;= 0.6: met</td>' in section
    assert '<span class="fail">FAILED</span> exit code 2: unrecognized arguments' in section
    assert "<h2>Catalog</h2>" in html and "<h2>Runs</h2>" in html


def test_no_summary_file_no_section_and_a_malformed_one_is_one_line(tmp_path):
    assert "Benchmarks" not in _index(tmp_path / "a", None)
    for k, bad in enumerate(("{not json", json.dumps({"benchmarks": [{"status": "ok"}]}), "[1, 2]")):
        html = _index(tmp_path / f"b{k}", bad)
        section = html[html.index("<h2>Benchmarks</h2>") :]
        assert section.count("<p") == 1 and "cannot be read" in section and "<table" not in section
        assert "<h2>Catalog</h2>" in html
