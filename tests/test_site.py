"""The HTML report: built from a store with runs, a sweep and a verification, every page links only to files that
exist, shows what the store holds (verdicts, never-reached points, config differences, pass rates), and, in a real
headless chromium, loads with no console error and no broken image."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

FAST = ("-p", "smoke", "-s", "train.steps=60")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store with two runs, a sweep whose wd=0 point never generalizes, and a verification; its report."""
    from click.testing import CliRunner

    from phenomena.cli import main

    root = tmp_path_factory.mktemp("report")
    home, out = root / "store", root / "site"

    def cli(*args):
        result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
        assert result.exit_code in (0, 1), result.output
        return result.output

    cli("run", "grokking", *FAST, "-q")
    cli("run", "grokking", *FAST, "-s", "train.weight_decay=0.5", "-q")
    cli("sweep", "grokking", *FAST, "--grid", "train.weight_decay=0,2", "-x", "serial", "-q")
    cli("verify", "grokking", "-p", "smoke", "--seeds", "1", "-x", "serial", "-q")
    printed = cli("report", "--out", str(out))
    assert printed.strip() == f"report: {out / 'index.html'}"
    return out


def _local_targets(page: Path) -> list[tuple[str, Path]]:
    html = page.read_text(encoding="utf-8")
    targets = re.findall(r'(?:src|href)="([^"#]+)', html)
    return [(t, (page.parent / unquote(t)).resolve()) for t in targets if not urlparse(t).scheme]


def test_every_link_and_image_of_every_page_exists(site):
    pages = [site / "index.html", *sorted((site / "runs").glob("*.html")), *sorted((site / "sweeps").glob("*.html"))]
    from phenomena.store import Store

    store = Store(site.parent / "store")
    assert len(pages) == 1 + len(store.runs()) + len(store.sweeps())  # index, a page per run and per sweep
    missing = [(p.name, t) for p in pages for t, path in _local_targets(p) if not path.exists()]
    assert missing == []
    assert all(t.startswith(("runs/", "sweeps/", "assets/", "../")) for p in pages for t, _ in _local_targets(p))


def test_the_index_shows_the_catalog_the_verification_and_every_run(site):
    from phenomena.catalog import ENTRIES

    index = (site / "index.html").read_text(encoding="utf-8")
    for name in ENTRIES:
        assert f'id="{name}"' in index
    assert "verdict holds on" in index and "1/1 seeds [smoke]" in index  # the stored verification
    from phenomena.store import Store

    store = Store(site.parent / "store")
    assert all(f'href="runs/{r.id}.html"' in index for r in store.runs())
    assert index.count('href="sweeps/') == len(store.sweeps()) == 3  # the grid, and verify's entry and control


def test_every_finished_run_page_has_its_figure_verifys_drawn_for_the_report(site):
    from phenomena.store import Store

    records = [r for r in Store(site.parent / "store").runs() if r.status == "finished"]
    assert any(r.preset == "smoke" and r.config["seed"] == 0 and r.sweep for r in records)  # verify's runs
    for record in records:
        html = (site / "runs" / f"{record.id}.html").read_text(encoding="utf-8")
        assert "<h2>Figure</h2>" in html and (site / "assets" / f"{record.id}.png").is_file()


def test_a_figure_that_no_longer_draws_is_said_on_its_page_and_by_the_command(cli, home, tmp_path):
    """A run stored by another version may lack a series its figure reads: the report says so (the run page and
    one line on stderr) instead of leaving the figure out without a word."""
    import sqlite3

    from phenomena.store import Store

    code, _, err = cli("run", "grokking", *FAST, "-q")
    assert code == 0, err
    (record,) = Store(home).runs()
    (home / "runs" / record.id / "figure.png").unlink()
    with sqlite3.connect(Store(home).path) as db:
        db.execute("DELETE FROM metrics WHERE run = ? AND name = 'weight_norm'", (record.id,))
    code, out, err = cli("report", "--out", str(tmp_path / "site"))
    assert code == 0 and out.strip() == f"report: {tmp_path / 'site' / 'index.html'}"
    (line,) = err.splitlines()
    assert line.startswith(f"report: the figure of run {record.id} (grokking) was not drawn: KeyError")
    html = (tmp_path / "site" / "runs" / f"{record.id}.html").read_text(encoding="utf-8")
    assert "not drawn from the stored result: KeyError" in html and "weight_norm" in html


def test_a_run_page_shows_its_verdict_config_difference_environment_and_curves(site):
    from phenomena.store import Store

    (record,) = [r for r in Store(site.parent / "store").runs() if r.config["train"]["weight_decay"] == 0.5]
    page = site / "runs" / f"{record.id}.html"
    html = page.read_text(encoding="utf-8")
    assert "<h2>Verdict</h2>" in html and "train accuracy reaches 0.99" in html
    assert "<code>train.weight_decay</code></td><td>0.5</td>" in html and "<code>train.steps</code>" in html
    assert "torch" in html and "<h2>Curves</h2>" in html
    assert (site / "assets" / f"{page.stem}-curves.png").stat().st_size > 10_000


def test_the_sweep_page_says_never_for_the_point_that_never_generalized(site):
    html = _grid_sweep_page(site).read_text(encoding="utf-8")
    row = re.search(r"<tr><td>0(\.0)?</td>.*?</tr>", html).group(0)  # the wd = 0 point
    assert ">never<" in row and "0/1" in row


def _grid_sweep_page(site: Path) -> Path:
    (page,) = [p for p in (site / "sweeps").glob("*.html") if "<th>train.weight_decay</th>" in p.read_text()]
    return page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_pages_load_in_chromium_without_errors_or_broken_images(site, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    shots = Path(os.environ.get("PHENOMENA_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    run_page = sorted((site / "runs").glob("*.html"))[0]
    sweep_page = _grid_sweep_page(site)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name, path in (("index", site / "index.html"), ("run", run_page), ("sweep", sweep_page)):
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
            )
            assert broken == [], (name, broken)
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # reads at 1280 px, no sideways
            page.screenshot(path=str(shots / f"report-{name}.png"), full_page=True)
        browser.close()
    assert errors == []
    assert all((shots / f"report-{n}.png").stat().st_size > 20_000 for n in ("index", "run", "sweep"))


def test_a_presets_latest_verdict_is_its_own_setting_not_a_control_or_a_sweep_point(site):
    from phenomena.store import Store

    newest = Store(site.parent / "store").runs()[0]  # verify ran the control last: weight decay 0, failing
    assert newest.config["train"]["weight_decay"] == 0 and not newest.verdict["passed"]
    index = (site / "index.html").read_text(encoding="utf-8")
    row = re.search(r'<tr><td><a href="#grokking">grokking</a></td>.*?</tr>', index).group(0)
    assert re.match(r'<tr><td><a href="#grokking">grokking</a></td><td class="pass">PASS</td>', row), row
