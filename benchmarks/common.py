"""Shared helpers of the scripts in ``benchmarks/``: the machine's GEMM peak, and the JSON summary each script
writes for ``benchmarks/run_all.py`` (``make bench``) when it is given ``--json PATH``.

Scripts are run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path`` and ``from common import ...``
works. A summary is ``{"benchmark": NAME, "rows": [...], **extra}``; a row is one compared pair the script prints:

- ``case`` (str), ``ours`` (label), ``ours_s`` (seconds), ``baseline`` (label), ``baseline_s`` (seconds),
  ``ratio`` = ours_s / baseline_s (< 1: ours is faster);
- for GEMM-bound work, ``gflops`` (achieved by ours, flops counted from shapes), ``peak_gflops`` (:func:`gemm_peak`
  measured in the same run at the same thread count) and ``peak_fraction`` = gflops / peak_gflops;
- optional ``target`` (str, e.g. "ratio <= 0.5") with ``met`` (bool), and ``note`` (str).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any


def best_rate(work, flops: float, threads: int, repeats: int = 3) -> float:
    """Best GFLOP/s of ``work()`` (which does ``flops`` flops) over ``repeats`` timings at ``threads`` torch threads,
    after one untimed call that warms the thread pool, the BLAS's packing buffers and the caches. The process's torch
    thread count is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    best = 0.0
    try:
        work()
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            elapsed = time.perf_counter() - start
            if elapsed > 0:
                best = max(best, flops / elapsed / 1e9)
    finally:
        torch.set_num_threads(before)
    return best


def gemm_peak(threads: int, sizes=(1024, 2048), repeats: int = 3, dtype=None) -> float:
    """Best float32 ``torch.mm`` GFLOP/s over square sizes (2n³ flops), at ``threads`` torch threads, measured now.

    ``dtype`` (a torch dtype, float32 when None) measures another precision's peak, e.g. float64 for work done in
    float64. The process's torch thread count is restored afterwards."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    gen = torch.Generator().manual_seed(0)
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, generator=gen, dtype=dtype)
        b = torch.randn(n, n, generator=gen, dtype=dtype)
        out = torch.empty(n, n, dtype=dtype)
        best = max(best, best_rate(lambda a=a, b=b, out=out: torch.mm(a, b, out=out), 2.0 * n**3, threads, repeats))
    return best


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """Adds ``--json PATH``: where the script writes its summary (see :func:`write_summary`)."""
    parser.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="also write the compared pairs as a JSON summary to PATH (benchmarks/run_all.py collects it)",
    )


def gemm_fields(flops: float, seconds: float, peak: float) -> dict[str, float]:
    """``gflops``, ``peak_gflops`` and ``peak_fraction`` of a row: ``flops`` done in ``seconds`` against ``peak``."""
    gflops = flops / seconds / 1e9 if seconds > 0 else math.nan
    return {"gflops": gflops, "peak_gflops": peak, "peak_fraction": gflops / peak if peak > 0 else math.nan}


def row(case: str, ours: str, ours_s: float, baseline: str, baseline_s: float, **fields: Any) -> dict[str, Any]:
    """One row of a summary, with ``ratio`` = ours_s / baseline_s (NaN when the baseline took no time)."""
    ratio = ours_s / baseline_s if baseline_s > 0 else math.nan
    return {
        "case": case,
        "ours": ours,
        "ours_s": ours_s,
        "baseline": baseline,
        "baseline_s": baseline_s,
        "ratio": ratio,
        **fields,
    }


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite floats -> None, tuples -> lists, numpy/torch scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # a numpy or torch scalar
        return _plain(value.item())
    return str(value)


def write_summary(path: str | None, benchmark: str, rows: list[dict], **extra: Any) -> None:
    """No-op when path is None. Else writes ``{"benchmark": ..., "rows": rows, **extra}`` as JSON (non-finite ->
    null), creating the parent folder."""
    if path is None:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = _plain({"benchmark": benchmark, "rows": rows, **extra})
    target.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
