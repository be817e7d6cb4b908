"""Every benchmark in ``benchmarks/`` in one go (``make bench``): scaled settings, one summary table, one JSON file.

Each script runs as a fresh subprocess with the arguments of ``SCRIPTS`` below (scaled down from its defaults so
that the whole harness takes a few minutes: about 5-8 on an idle 2-core machine), its own output streamed under a
header line ``== NAME (args)``, and writes its compared pairs as JSON (``--json``, see ``benchmarks/common.py``).
The float32 GEMM peak (``torch.mm``) is measured once at the start at 1 and 2 threads; the scripts measure the
peak they compare against themselves, in the same process, at their own thread count. At the end: one table
(benchmark, case, ours vs baseline, both times, ratio = ours / baseline (< 1: ours is faster), GFLOP/s and
fraction of the GEMM peak for GEMM-bound work, target met), and the machine, date, peaks, every script's rows,
exit status and wall time as JSON in ``<store home>/benchmarks.json`` (``$PHENOMENA_HOME`` or ``phenomena-runs``),
which ``phenomena report`` shows. A script that fails is reported as a failed row and the others still run; the
exit code is then 1.

    python benchmarks/run_all.py                          # everything, scaled
    python benchmarks/run_all.py --only ntk,grokking      # a subset
    python benchmarks/run_all.py --out bench.json         # somewhere else than the store home
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import gemm_peak

HERE = Path(__file__).resolve().parent

# script -> its arguments here, scaled down from its defaults where those take long (see each docstring); [] = defaults
SCRIPTS: dict[str, list[str]] = {
    "grokking": ["--threads", "2"],
    # best of 3, as the GEMM peak it is divided by is the best of its measurements: a single run's fraction of
    # peak varies from run to run on unchanged code
    "ensemble": ["--members", "16", "--steps", "200", "--repeats", "3", "--methods", "bmm"],
    "double_descent": ["--epochs", "10"],
    "ntk": [],  # N = 256, about 40 s
    "representations": ["--n", "20000", "--repeats", "1", "--papyan-n", "1000"],
    "curvature": ["--repeats", "2"],
    "kernels_throughput": [],  # N = 1000, 2000, 4000, about a minute
    "sparsity": ["--rounds", "2", "--steps", "100", "--wm-steps", "100"],
    "weight_spectra": ["--steps", "100"],
    "optimizer": [],  # a few seconds
}
PEAK_THREADS = (1, 2)
COLUMNS = (
    "benchmark",
    "case",
    "ours vs baseline",
    "ours s",
    "baseline s",
    "ratio",
    "GFLOP/s",
    "of peak GFLOP/s",
    "target",
)
TAIL = 20  # lines of a script's output kept to explain a failure


def default_out() -> Path:
    """``<store home>/benchmarks.json``: the store home as the package resolves it (``$PHENOMENA_HOME`` or
    ``phenomena-runs``)."""
    try:
        from phenomena.store import default_root
    except ImportError:  # the package is not importable: the same rule, spelled out
        return Path(os.environ.get("PHENOMENA_HOME", "phenomena-runs")) / "benchmarks.json"
    return default_root() / "benchmarks.json"


def machine() -> dict[str, Any]:
    """What the numbers depend on: platform, CPU model and count, Python, torch and its ATen CPU capability."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def run_script(name: str, args: list[str], json_path: Path) -> dict[str, Any]:
    """Run ``benchmarks/NAME.py ARGS --json JSON_PATH`` as a subprocess, streaming its output; its result."""
    script = HERE / f"{name}.py"
    cmd = [sys.executable, str(script), *args, "--json", str(json_path)]
    src = str(HERE.parent / "src")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p),
    }
    print(f"== {name} ({' '.join(args) or 'defaults'})", flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL)
    start = time.perf_counter()
    if not script.is_file():
        code = 127
        tail.append(f"no such script: {script}")
    else:
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
        ) as proc:
            try:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    tail.append(line.rstrip("\n"))
            except KeyboardInterrupt:
                proc.terminate()
                raise
            code = proc.wait()
    wall = time.perf_counter() - start
    summary, problem = None, None
    if json_path.is_file():
        try:
            summary = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problem = f"its JSON summary cannot be read: {exc}"
    return {"name": name, "args": args, "exit_code": code, "wall_s": wall, "summary": summary, "tail": list(tail)} | (
        {"problem": problem} if problem else {}
    )


# -- assembly (pure: tested without running any benchmark) ------------------------------------------------------
def assemble(
    results: list[dict[str, Any]],
    peaks: dict[int, float],
    machine_info: dict[str, Any],
    date: str,
    wall_s: float,
) -> dict[str, Any]:
    """The JSON document of one harness run from the scripts' results (as :func:`run_script` returns them).

    A benchmark is ``ok`` when its script exited 0 and wrote a readable summary, else ``failed`` with an
    ``error`` line: the reason, and the last line the script printed."""
    benchmarks = []
    for res in results:
        summary = res.get("summary")
        code = res.get("exit_code")
        entry: dict[str, Any] = {
            "name": res["name"],
            "args": list(res.get("args", [])),
            "exit_code": code,
            "wall_s": res.get("wall_s"),
            "status": "ok",
            "rows": [],
            "extra": {},
        }
        if isinstance(summary, dict):
            rows = summary.get("rows")
            entry["rows"] = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
            entry["extra"] = {k: v for k, v in summary.items() if k not in ("benchmark", "rows")}
        last = next((line.strip() for line in reversed(res.get("tail", [])) if line.strip()), "")
        if code != 0:
            reason = res.get("problem") or f"exit code {code}"
        elif res.get("problem"):
            reason = res["problem"]
        elif not isinstance(summary, dict):
            reason = "exit code 0 but it wrote no JSON summary"
        else:
            reason = None
        if reason is not None:
            entry["status"] = "failed"
            entry["error"] = reason + (f": {last}" if last else "")
        benchmarks.append(entry)
    return {
        "date": date,
        "machine": machine_info,
        "peaks_gflops": {str(t): _finite(v) for t, v in sorted(peaks.items())},
        "peak_kind": "float32 torch.mm, best over square sizes 1024 and 2048, per torch thread count",
        "wall_s": wall_s,
        "failed": [b["name"] for b in benchmarks if b["status"] != "ok"],
        "benchmarks": benchmarks,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _num(value: Any, fmt: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return format(value, fmt)


def _seconds(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 100:
        return f"{value:.0f}"
    return _num(value, ".3g")


def _fraction(frac: Any, peak: Any) -> str:
    """ "62% of 95": the fraction of the peak (GFLOP/s) that the row was measured against."""
    if _num(frac, ".0%") == "–":
        return "–"
    return f"{frac:.0%}" + ("" if _num(peak, ".0f") == "–" else f" of {peak:.0f}")


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """The summary table's cells (strings), one list per row, in the order of :data:`COLUMNS`."""
    out = []
    for bench in report["benchmarks"]:
        name = bench["name"]
        if bench["status"] != "ok":  # its rows, if it wrote any before failing, follow
            out.append([name, f"FAILED: {bench.get('error', '')}"] + ["–"] * (len(COLUMNS) - 2))
        elif not bench["rows"]:
            why = bench["extra"].get("skipped") or "no compared pairs"
            out.append([name, f"skipped: {why}"] + ["–"] * (len(COLUMNS) - 2))
        for row in bench["rows"]:
            frac = row.get("peak_fraction")
            target = row.get("target")
            met = row.get("met")
            shown_target = "–" if not target else f"{target}: {'yes' if met else 'NO' if met is False else '?'}"
            out.append(
                [
                    name,
                    str(row.get("case", "")),
                    f"{row.get('ours', '?')} vs {row.get('baseline', '?')}",
                    _seconds(row.get("ours_s")),
                    _seconds(row.get("baseline_s")),
                    _num(row.get("ratio"), ".3g"),
                    _num(row.get("gflops"), ".1f"),
                    _fraction(frac, row.get("peak_gflops")),
                    shown_target,
                ]
            )
    return out


def format_table(report: dict[str, Any], width: int = 46) -> str:
    """The summary table as aligned text; cells longer than ``width`` are cut with an ellipsis."""
    rows = [list(COLUMNS)] + [[c if len(c) <= width else c[: width - 1] + "…" for c in r] for r in table_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    numeric = {3, 4, 5, 6, 7}
    lines = []
    for k, r in enumerate(rows):
        cells = [
            c.rjust(w) if i in numeric and k else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def peaks_line(peaks: dict[int, float]) -> str:
    shown = ", ".join(f"{t} thread{'s' if t > 1 else ''} {v:.1f} GFLOP/s" for t, v in sorted(peaks.items()))
    return f"GEMM peak (float32 torch.mm, best of n = 1024, 2048): {shown}"


# -- main ---------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]", help=f"a subset of: {', '.join(SCRIPTS)}")
    parser.add_argument(
        "--out", default=None, metavar="PATH", help="the JSON file (default: <store home>/benchmarks.json)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = list(SCRIPTS)
    if args.only is not None:
        names = [n.strip().removesuffix(".py") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCRIPTS]
        if unknown or not names:
            what = ", ".join(unknown) if unknown else "(none given)"
            print(f"run_all: unknown benchmark {what}; choose from {', '.join(SCRIPTS)}", file=sys.stderr)
            return 2
    out = Path(args.out) if args.out else default_out()
    if out.is_dir():
        print(f"run_all: --out {out} is a folder; give a file path", file=sys.stderr)
        return 2
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"run_all: cannot write {out}: {exc}", file=sys.stderr)
        return 2

    start = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cpu_count']} CPUs, {info['platform']}, torch {info['torch']} "
        f"({info['cpu_capability']})",
        flush=True,
    )
    peaks = {t: gemm_peak(t) for t in PEAK_THREADS}
    print(peaks_line(peaks), flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="phenomena-bench-") as tmp:
        for name in names:
            res = run_script(name, SCRIPTS[name], Path(tmp) / f"{name}.json")
            print(f"-- {name}: exit {res['exit_code']}, {res['wall_s']:.1f} s\n", flush=True)
            results.append(res)
    report = assemble(results, peaks, info, date, time.perf_counter() - start)
    print("== summary (ratio = ours / baseline: < 1 is faster)")
    print(peaks_line(peaks))
    print(format_table(report))
    for bench in report["benchmarks"]:
        if bench["status"] != "ok":
            print(f"{bench['name']} FAILED: {bench['error']}")
    try:
        out.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"run_all: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    failed = report["failed"]
    print(
        f"\nwrote {out} ({len(names)} benchmarks, {report['wall_s']:.0f} s"
        + (f"; FAILED: {', '.join(failed)})" if failed else ")")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
