"""The documentation site (``make docs``): ``mkdocs build --strict`` succeeds, every catalog entry has its page
with its config keys and controls, the CLI reference lists every command of the click group, the API page
documents the probes, and nothing is generated into the source tree.

The default build here leaves the figures out (``PHENOMENA_DOCS_FIGURES=0``: seconds); the slow test builds
with them, as ``make docs`` does (each entry's smoke preset once, about a minute)."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("material", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, int]:
    """Relative path -> modification time (ns) of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def build(site: Path, figures: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "PHENOMENA_DOCS_FIGURES": "1" if figures else "0", "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def text_of(page: Path) -> str:
    """A built page's visible text: tags dropped, entities decoded, whitespace collapsed."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    docs_before = _tree(ROOT / "docs")
    src_before = _tree(ROOT / "src")
    site = tmp_path_factory.mktemp("docs") / "site"
    proc = build(site, figures=False)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    assert _tree(ROOT / "docs") == docs_before, "the build wrote into docs/ (generated pages must stay virtual)"
    new_in_src = {p for p in set(_tree(ROOT / "src")) - set(src_before) if p.endswith((".md", ".png", ".html"))}
    assert not new_in_src, f"the build wrote pages into src/: {new_in_src}"
    return site


def test_build_makes_the_hand_written_and_generated_pages(site):
    for page in ("index.html", "adding-a-phenomenon/index.html", "api/index.html", "cli/index.html"):
        assert (site / page).is_file(), page
    assert (site / "catalog" / "index.html").is_file()


def test_one_page_per_catalog_entry_with_its_keys_and_controls(site):
    from phenomena.catalog import ENTRIES, get_entry
    from phenomena.config import describe_fields

    index = text_of(site / "catalog" / "index.html")
    for name in ENTRIES:
        page = site / "catalog" / name / "index.html"
        assert page.is_file(), f"no page for catalog entry {name}"
        assert f'href="{name}/"' in (site / "catalog" / "index.html").read_text(encoding="utf-8"), name
        entry = get_entry(name)
        assert entry.summary in index
        text = text_of(page)
        for field in describe_fields(entry.presets["quick"]):
            assert field.key in text, f"{name}: config key {field.key} missing from its page"
        for control in entry.controls:
            assert control.name in text, f"{name}: control {control.name!r} missing from its page"
            for check in control.must_fail:
                assert check in text
        for preset, cost in entry.costs.items():
            assert cost in text, f"{name}: cost of {preset} missing"
        for ref in entry.references:
            assert ref.metric in text and f"{ref.value:g} ± {ref.tol:g}" in text
        if entry.calibration is not None:
            assert "Calibration" in text
        assert "PHENOMENA_DOCS_FIGURES=0" in text, "a page built without figures says how to get them"


def test_cli_page_lists_every_command(site):
    from phenomena.cli import main

    text = text_of(site / "cli" / "index.html")
    assert main.commands, "the click group has commands"
    for name, command in main.commands.items():
        assert f"phenomena {name}" in text, f"CLI command {name} missing from the CLI reference"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and not getattr(param, "hidden", False):
                    assert opt in text, f"option {opt} of {name} missing from the CLI reference"


def test_api_page_documents_the_public_names(site):
    raw = (site / "api" / "index.html").read_text(encoding="utf-8")
    text = text_of(site / "api" / "index.html")
    assert 'id="phenomena.probes.hessian_eigenvalues"' in raw
    for name in ("hessian_eigenvalues", "empirical_ntk", "cka", "gradient_descent_mse", "fit", "run", "sweep"):
        assert name in text
    assert ":func:`" not in text and ":class:`" not in text, "reST roles are rewritten as code"
    assert "<blockquote>" not in raw, "doctest lines are fenced, not read as block quotes"


@pytest.mark.slow
def test_figures_are_rendered_from_the_smoke_presets(tmp_path):
    from phenomena.catalog import ENTRIES

    site = tmp_path / "site"
    proc = build(site, figures=True)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    for name in ENTRIES:
        png = site / "catalog" / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        page = (site / "catalog" / name / "index.html").read_text(encoding="utf-8")
        assert f'src="../{name}.png"' in page, name
