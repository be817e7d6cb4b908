"""Build the report: a static, self-contained HTML site of the store (``phenomena report``).

``index.html`` shows the catalog (each entry's claim, papers, presets, the latest verdict per preset, its pass
rates from the latest ``phenomena verify``, its references as measured, its latest figure), then every sweep and
run, and the latest ``make bench`` summary when the store home holds one (``benchmarks.json``). Each run gets a
page (verdict, figure, config as the difference from its preset, environment, every metric curve as a small plot)
and each sweep one (its table, figure and runs). Figures are copied into the site, so the
folder can be moved, zipped or served as it is.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phenomena.catalog import get_entry, listing, preset_difference
from phenomena.errors import StoreError
from phenomena.result import decode_float
from phenomena.runner.execute import stored_figure
from phenomena.runner.sweep_result import load_sweep
from phenomena.site.html import esc, number, page, table, verdict_cell
from phenomena.store import RunRecord, Store
from phenomena.store.sqlite import SweepRecord

MAX_CURVES = 24  # small plots per run page (a run logs a handful; the rest are listed)
BENCHMARKS = "benchmarks.json"  # written into the store home by benchmarks/run_all.py (make bench)


def build_site(
    store: Store,
    out: str | Path,
    lookup: Callable[[str], Any],
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Write the site of ``store`` into ``out`` (created; pages it wrote before are replaced) and return the
    path of ``index.html``. ``lookup`` finds an entry by name (to load sweeps); ``progress`` is told each page;
    ``warn`` is told, one line per run, each finished run whose figure could not be drawn from its stored result
    (its page says why)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"the report folder {out} is a file; choose another --out")
    for sub in ("runs", "sweeps", "assets"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    runs = store.runs()
    sweeps = store.sweeps()
    verifications = store.verifications()
    note = progress or (lambda _: None)
    for record in runs:
        note(f"run {record.id}")
        html = _run_page(store, record, out, warn or (lambda _: None))
        (out / "runs" / f"{record.id}.html").write_text(html, encoding="utf-8")
    for sweep in sweeps:
        note(f"sweep {sweep.id}")
        (out / "sweeps" / f"{sweep.id}.html").write_text(_sweep_page(store, sweep, out, lookup), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_index_page(store, runs, sweeps, verifications, out), encoding="utf-8")
    return index


# -- index -----------------------------------------------------------------------------------------------------
def _index_page(store: Store, runs: list[RunRecord], sweeps: list[SweepRecord], verifications, out: Path) -> str:
    latest_verify = _latest_verification_by_entry(verifications)
    parts = [
        "<h1>phenomena report</h1>",
        f'<p class="muted">store <code>{esc(store.root.resolve())}</code> · {len(runs)} runs · {len(sweeps)} sweeps '
        f"· built {esc(time.strftime('%Y-%m-%d %H:%M'))}</p>",
        "<h2>Catalog</h2>",
        _overview(listing(), runs, latest_verify),
    ]
    for item in listing():
        parts.append(_entry_block(store, item, [r for r in runs if r.experiment == item["name"]], latest_verify, out))
    parts.append("<h2>Sweeps</h2>")
    if sweeps:
        rows = [
            (
                f'<a href="sweeps/{esc(s.id)}.html"><code>{esc(s.id)}</code></a>',
                esc(s.experiment),
                esc(s.preset or "–"),
                esc(s.status),
                esc(" ".join(f"{k}={','.join(map(str, v))}" for k, v in s.grid.items())),
                esc(len(s.seeds)),
            )
            for s in sweeps
        ]
        parts.append(table(("sweep", "experiment", "preset", "status", "grid", "seeds"), rows))
    else:
        parts.append('<p class="muted">no sweeps stored</p>')
    parts.append("<h2>Runs</h2>")
    parts.append(_runs_table(runs, prefix="runs/") if runs else '<p class="muted">no runs stored</p>')
    parts.append(_benchmarks_section(store.root / BENCHMARKS))
    return page("phenomena report", "".join(parts))


def _overview(items: list[dict], runs: list[RunRecord], latest_verify: dict) -> str:
    """One line per entry: its latest verdict per preset and its held-out pass rate, linked to its block."""
    rows = []
    for item in items:
        name = item["name"]
        cells = [f'<a href="#{esc(name)}">{esc(name)}</a>']
        for preset in ("smoke", "quick", "published"):
            chosen = item["published"][0] if preset == "published" and item["published"] else preset
            if preset == "published" and not item["published"]:
                cells.append('<td class="none">none</td>')
                continue
            last = next((r for r in runs if r.experiment == name and r.preset == chosen and _as_preset(r)), None)
            cells.append(verdict_cell(None if last is None else bool((last.verdict or {}).get("passed"))))
        verify = latest_verify.get(name)
        if verify is None:
            cells.append('<span class="none">–</span>')
        else:
            entry, preset, _ = verify
            controls_ok = all(sum(c["failed"]) >= 0.8 * len(c["failed"]) for c in entry["controls"])
            cells.append(
                f"{sum(entry['verdicts'])}/{len(entry['verdicts'])} seeds [{esc(preset)}]"
                + ("" if controls_ok else ' <span class="fail">a control held</span>')
            )
        rows.append(cells)
    legend = (
        '<p class="muted">latest verdict of each preset run as it is (controls and sweep points aside); – not run '
        "yet; none: the entry has no published preset</p>"
    )
    return table(("entry", "smoke", "quick", "published preset", "verify (held-out)"), rows) + legend


def _entry_block(store: Store, item: dict, runs: list[RunRecord], latest_verify: dict, out: Path) -> str:
    name = item["name"]
    presets = []
    for preset, cost in item["presets"].items():
        published = " · published setting" if preset in item["published"] else ""
        finished = [r for r in runs if r.preset == preset and _as_preset(r)]
        if finished:
            last = finished[0]
            verdict = "PASS" if (last.verdict or {}).get("passed") else "FAIL"
            cls = "pass" if verdict == "PASS" else "fail"
            shown = f'<a href="runs/{esc(last.id)}.html" class="{cls}">{verdict}</a>'
        else:
            shown = '<span class="none">not run</span>'
        presets.append(f"<li><b>{esc(preset)}</b> ({esc(cost)}{published}): latest {shown}</li>")
    verify = latest_verify.get(name)
    if verify is not None:
        entry, preset, when = verify
        seeds = len(entry["verdicts"])
        rate = sum(entry["verdicts"]) / seeds if seeds else math.nan
        controls = "; ".join(
            f"control {esc(c['name'])} fails {sum(c['failed'])}/{len(c['failed'])}" for c in entry["controls"]
        )
        verify_line = (
            f"<p><b>verify</b> [{esc(preset)}, {esc(when)}]: verdict holds on {sum(entry['verdicts'])}/{seeds} "
            f"held-out seeds ({rate:.0%}){'; ' + controls if controls else ''}</p>"
        )
    else:
        verify_line = f'<p class="muted">not verified yet (<code>phenomena verify {esc(name)}</code>)</p>'
    references = _references([r for r in runs if r.status == "finished"])
    figure = ""
    # the preset's own setting, not a control or a sweep point (whose verdict may fail by design); quick first,
    # the setting the catalog's claims are about
    as_preset = [r for r in runs if _as_preset(r)]
    done = [r for r in runs if r.status == "finished"]
    latest = next((r for r in as_preset if r.preset == "quick"), (as_preset or done or [None])[0])
    if latest is not None:
        src, _ = _run_figure(store, latest, out, f"{latest.id}.png")  # why not: said on the run's page
        if src:
            figure = f'<a href="runs/{esc(latest.id)}.html"><img src="{src}" alt="latest figure of {esc(name)}"></a>'
    papers = "".join(f"<li>{esc(p)}</li>" for p in item["papers"])
    return (
        f'<div class="entry" id="{esc(name)}"><div><h3>{esc(name)}</h3><p>{esc(item["summary"])}</p>'
        f'<ul class="papers">{papers}</ul><ul>{"".join(presets)}</ul>{verify_line}{references}</div>'
        f"<div>{figure}</div></div>"
    )


def _references(finished: list[RunRecord]) -> str:
    """Published vs measured: the reference rows of the latest run that has any."""
    for record in finished:
        rows = [c for c in (record.verdict or {}).get("checks", []) if c["name"].startswith("reference:")]
        if rows:
            body = [
                (esc(c["name"].removeprefix("reference: ")), number(decode_float(c["value"])), esc(c["threshold"]))
                + (verdict_cell(c["passed"]),)
                for c in rows
            ]
            return (
                f'<p>references (run <a href="runs/{esc(record.id)}.html"><code>{esc(record.id)}</code></a>):</p>'
                + table(("published value", "|measured − published|", "tolerance", ""), body, numeric=(1, 2))
            )
    return ""


def _latest_verification_by_entry(verifications) -> dict[str, tuple[dict, str, str]]:
    out: dict[str, tuple[dict, str, str]] = {}
    for v in verifications:  # newest first
        for entry in v.result.get("entries", []):
            out.setdefault(entry["name"], (entry, v.preset, time.strftime("%Y-%m-%d", time.localtime(v.created))))
    return out


def _runs_table(runs: list[RunRecord], prefix: str) -> str:
    rows = []
    for r in runs:
        passed = (r.verdict or {}).get("passed") if r.status == "finished" else None
        rows.append(
            (
                f'<a href="{prefix}{esc(r.id)}.html"><code>{esc(r.id)}</code></a>',
                esc(r.experiment),
                esc(r.preset or "–"),
                esc(r.shown_status),
                verdict_cell(passed),
                esc(r.config.get("seed", "–")),
                esc(_overrides(r)),
                esc(time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))),
            )
        )
    return table(("run", "experiment", "preset", "status", "verdict", "seed", "overrides", "created"), rows)


def _as_preset(record: RunRecord) -> bool:
    """A finished run of its preset exactly as published in the catalog (any seed, no other override)."""
    return record.status == "finished" and all(k == "seed" for k in _config_diff(record))


def _overrides(record: RunRecord) -> str:
    diff = _config_diff(record)
    return " ".join(f"{k}={_plain(v)}" for k, v in diff.items() if k != "seed") or "–"


def _config_diff(record: RunRecord) -> dict[str, Any]:
    return preset_difference(record.experiment, record.preset, record.config) or {}


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(_plain, value))
    return "none" if value is None else str(value)


# -- benchmarks ------------------------------------------------------------------------------------------------
def _benchmarks_section(path: Path) -> str:
    """The latest ``make bench`` run: machine, GEMM peaks, the summary table; "" when there is none, one line
    when the file cannot be read (the rest of the report is built either way)."""
    if not path.is_file():
        return ""
    head = "<h2>Benchmarks</h2>"
    try:
        body = _benchmarks_body(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            head + f'<p class="fail">{esc(path)} cannot be read ({esc(reason)}); run <code>make bench</code> again</p>'
        )
    return head + body


def _bench_number(value: Any, fmt: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return '<span class="none">–</span>'
    return format(value, fmt)


def _bench_fraction(frac: Any, peak: Any) -> str:
    """ "62% of 95": the fraction of the GEMM peak (GFLOP/s, measured by the script at its threads and dtype)."""
    if isinstance(frac, bool) or not isinstance(frac, int | float) or not math.isfinite(frac):
        return '<span class="none">–</span>'
    return f"{frac:.0%}" + (f" of {peak:.0f}" if isinstance(peak, int | float) and math.isfinite(peak) else "")


def _benchmarks_body(doc: Any) -> str:
    if not isinstance(doc, dict) or not isinstance(doc["benchmarks"], list):
        raise TypeError("not a make bench summary")
    m = doc.get("machine") or {}
    peaks = doc.get("peaks_gflops") or {}
    machine = (
        f"{m.get('cpu', '?')}, {m.get('cpu_count', '?')} CPUs, {m.get('platform', '?')}, torch {m.get('torch', '?')} "
        f"(ATen CPU capability {m.get('cpu_capability', '?')})"
    )
    wall = doc.get("wall_s")
    lines = [
        f"<p>{esc(machine)}</p>",
        f'<p class="muted">measured {esc(doc.get("date", "?"))}'
        + (f" in {wall:.0f} s" if isinstance(wall, int | float) else "")
        + " by <code>make bench</code>; ratio = ours / baseline (&lt; 1: ours is faster), GFLOP/s and fraction of the "
        "GEMM peak for GEMM-bound work</p>",
        "<p>GEMM peak (float32 <code>torch.mm</code>): "
        + esc(", ".join(f"{t} thread{'' if str(t) == '1' else 's'} {_peak(v)}" for t, v in peaks.items()))
        + "</p>",
    ]
    rows = []
    for bench in doc["benchmarks"]:
        name = esc(bench["name"])
        if bench.get("status") != "ok":  # its rows, if it wrote any before failing, follow
            rows.append([name, f'<span class="fail">FAILED</span> {esc(bench.get("error", ""))}'] + ["–"] * 7)
        elif not bench.get("rows"):
            why = (bench.get("extra") or {}).get("skipped") or "no compared pairs"
            rows.append([name, f'<span class="none">skipped: {esc(why)}</span>'] + ["–"] * 7)
        for r in bench.get("rows") or []:
            frac = r.get("peak_fraction")
            met = r.get("met")
            target = '<span class="none">–</span>'
            if r.get("target"):
                cls, word = {True: ("pass", "met"), False: ("fail", "NOT met")}.get(met, ("none", "?"))
                target = f'<td class="{cls}">{esc(r["target"])}: {word}</td>'
            rows.append(
                [
                    name,
                    esc(r.get("case", ""))
                    + (f'<br><span class="muted">{esc(r["note"])}</span>' if r.get("note") else ""),
                    f'{esc(r.get("ours", "?"))} <span class="muted">vs</span> {esc(r.get("baseline", "?"))}',
                    _bench_number(r.get("ours_s"), ".3g"),
                    _bench_number(r.get("baseline_s"), ".3g"),
                    _bench_number(r.get("ratio"), ".3g"),
                    _bench_number(r.get("gflops"), ".1f"),
                    _bench_fraction(frac, r.get("peak_gflops")),
                    target,
                ]
            )
    header = (
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
    return "".join(lines) + table(header, rows, numeric=(3, 4, 5, 6, 7))


def _peak(value: Any) -> str:
    return f"{value:.1f} GFLOP/s" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


# -- run pages -------------------------------------------------------------------------------------------------
def _run_page(store: Store, record: RunRecord, out: Path, warn: Callable[[str], None]) -> str:
    parts = [
        f"<h1>{esc(record.experiment)} <code>{esc(record.id)}</code></h1>",
        f'<p class="muted">preset {esc(record.preset)} · seed {esc(record.config.get("seed"))} · '
        f"{esc(record.shown_status)} · created {esc(time.strftime('%Y-%m-%d %H:%M', time.localtime(record.created)))}"
        "</p>",
    ]
    if record.error:
        parts.append(f'<p class="fail">{esc(record.error.strip().splitlines()[-1])}</p>')
    checks = (record.verdict or {}).get("checks", [])
    if checks:
        body = [
            (esc(c["name"]), number(decode_float(c["value"])), esc(f"{c['op']} {c['threshold']:g}"))
            + (verdict_cell(c["passed"]),)
            for c in checks
        ]
        parts += ["<h2>Verdict</h2>", table(("check", "measured", "threshold", ""), body, numeric=(1,))]
    src, unshown = _run_figure(store, record, out, f"{record.id}.png", prefix="../")
    if src:
        parts += ["<h2>Figure</h2>", f'<img class="figure" src="{src}" alt="figure of run {esc(record.id)}">']
    elif unshown:
        parts += ["<h2>Figure</h2>", f'<p class="fail">not drawn from the stored result: {esc(unshown)}</p>']
        warn(f"the figure of run {record.id} ({record.experiment}) was not drawn: {unshown}")
    curves = store.metrics(record.id)
    if curves:
        name = _curves_figure(curves, out / "assets" / f"{record.id}-curves.png")
        parts += ["<h2>Curves</h2>", f'<img class="figure" src="../assets/{name}" alt="metric curves">']
        if len(curves) > MAX_CURVES:
            parts.append(f'<p class="muted">{len(curves) - MAX_CURVES} more curves: phenomena export {record.id}</p>')
    diff = _config_diff(record)
    parts.append("<h2>Config</h2>")
    parts.append(
        (f"<p>the <b>{esc(record.preset)}</b> preset" if record.preset else "<p>not a catalog run (no preset)")
        + (", with:" if diff else " as it is." if record.preset else ".")
        + "</p>"
        + (
            table(("key", "value"), [(f"<code>{esc(k)}</code>", esc(_plain(v))) for k, v in diff.items()])
            if diff
            else ""
        )
    )
    parts.append(
        f"<details><summary>every key</summary><pre>{esc(json.dumps(record.config, indent=1))}</pre></details>"
    )
    if record.summary:
        rows = [(esc(k), number(decode_float(v))) for k, v in record.summary.items()]
        parts += ["<h2>Summary</h2>", table(("key", "value"), rows, numeric=(1,))]
    if record.environment:
        rows = [
            (esc(k), esc(v if not isinstance(v, list) else " ".join(map(str, v))))
            for k, v in record.environment.items()
        ]
        parts += ["<h2>Environment</h2>", table(("", ""), rows)]
    return page(f"{record.experiment} {record.id}", "".join(parts), root="../")


def _curves_figure(curves: dict[str, tuple[list[int], list[float]]], path: Path) -> str:
    """Small multiples of every logged curve (up to MAX_CURVES); returns the file name."""
    from phenomena.report import PALETTE, save, subplots

    names = sorted(curves)[:MAX_CURVES]
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = subplots(rows, cols, width=2.9, height=2.1)
    for ax, name in zip(axes.flat, names, strict=False):
        steps, values = curves[name]
        ax.plot(steps, values, color=PALETTE["train"], linewidth=1.2, marker="o" if len(steps) < 12 else None, ms=2)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    save(fig, path)
    return path.name


# -- sweep pages -----------------------------------------------------------------------------------------------
def _sweep_page(store: Store, record: SweepRecord, out: Path, lookup: Callable[[str], Any]) -> str:
    sweep = load_sweep(record.id, store, lookup)
    figure = sweep.write_figure(store)
    src = _copy_figure(figure.parent, out, f"sweep-{record.id}.png", prefix="../")
    keys = list(sweep.grid)
    rows = []
    for point in sweep.points:
        cells = [esc(_plain(point.values[k])) for k in keys]
        cells.append(esc(point.status_text()))
        cells.append(f"{point.passed}/{len(point.runs)}")
        cells += [esc(point.stat_text(metric)) for metric in sweep.metrics]
        cells.append(" ".join(f'<a href="../runs/{esc(r.run_id)}.html">{esc(r.seed)}</a>' for r in point.runs))
        rows.append(cells)
    header = (*keys, "runs", "pass", *sweep.metrics, "seeds (runs)")
    fixed = ", ".join(f"{k}={_plain(v)}" for k, v in sweep.overrides.items())
    parts = [
        f"<h1>{esc(record.experiment)} sweep <code>{esc(record.id)}</code></h1>",
        f'<p class="muted">preset {esc(record.preset)}{" · " + esc(fixed) if fixed else ""} · '
        f"{len(sweep.points)} points × {len(sweep.seeds)} seeds · {esc(sweep.status)}</p>",
        table(header, rows, numeric=tuple(range(len(keys) + 1, len(header) - 1))),
    ]
    if src:
        parts.append(f'<img class="figure" src="{src}" alt="figure of sweep {esc(record.id)}">')
    return page(f"{record.experiment} sweep {record.id}", "".join(parts), root="../")


def _run_figure(
    store: Store, record: RunRecord, out: Path, name: str, prefix: str = ""
) -> tuple[str | None, str | None]:
    """(:func:`_copy_figure` of a run's figure, drawn first if the run was recorded without one (verify's runs),
    None); (None, None) if the run has none (not finished, not a catalog entry); (None, why in one line) if its
    stored result no longer draws."""
    try:
        source = stored_figure(store, record, get_entry)
    except Exception as e:  # e.g. a run stored by another version whose series the figure no longer finds
        return None, f"{type(e).__name__}: {e}".splitlines()[0]
    return (_copy_figure(source.parent, out, name, prefix) if source is not None else None), None


def _copy_figure(folder: Path, out: Path, name: str, prefix: str = "") -> str | None:
    """Copy ``folder/figure.png`` into the site's assets as ``name``; the relative src, or None if absent."""
    source = Path(folder) / "figure.png"
    if not source.is_file():
        return None
    shutil.copyfile(source, out / "assets" / name)
    return f"{prefix}assets/{name}"
