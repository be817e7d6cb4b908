"""The architecture holds: the import-linter contracts of pyproject.toml (layers point downward, training uses
only the probes' functional core), and no module imports another package's private (``_``-prefixed) module."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_the_import_contracts_are_kept():
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if linter is None:
        pytest.fail("import-linter is not installed: pip install -e '.[dev]'")
    done = subprocess.run([linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def _is_private_module(dotted: str, src: Path) -> bool:
    """Whether ``dotted`` names a module (file or package under ``src``) with a ``_``-prefixed part."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            where = src.joinpath(*parts[: i + 1])
            return where.with_suffix(".py").exists() or where.is_dir()
    return False


def _private_imports(source: str, src: Path) -> list[str]:
    """The private modules that ``source`` imports, as ``line: name``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        private = [n for n in names if n.startswith("phenomena.") and _is_private_module(n, src)]
        found += [f"{node.lineno}: {private[0]}"] if private else []
    return found


def test_no_module_imports_a_private_module():
    files = [p for d in ("src", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    found = [
        f"{p.relative_to(ROOT)}:{hit}" for p in files for hit in _private_imports(p.read_text("utf-8"), ROOT / "src")
    ]
    assert not found, "imports of private modules:\n" + "\n".join(found)


def test_the_private_import_check_can_fail(tmp_path):
    (tmp_path / "phenomena" / "probes").mkdir(parents=True)
    (tmp_path / "phenomena" / "probes" / "_operators.py").write_text("")
    (tmp_path / "phenomena" / "runner").mkdir()
    (tmp_path / "phenomena" / "runner" / "sweep_result.py").write_text("")
    source = (
        "from phenomena.probes._operators import as_batches\n"
        "from phenomena.probes import _operators\n"
        "import phenomena.probes._operators\n"
        "from phenomena.runner.sweep_result import _metrics\n"  # a private name, not a private module: allowed
    )
    assert [hit.split(":")[0] for hit in _private_imports(source, tmp_path)] == ["1", "2", "3"]
