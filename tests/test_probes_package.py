"""``phenomena.probes`` loads each probe's module on first use: its names, docs and type-checker view stay those of
the re-exports it lists, and importing one probe does not load the others (or SciPy)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import phenomena.probes as probes


def test_the_lazy_names_are_the_re_exports_the_docs_and_type_checkers_read():
    tree = ast.parse(Path(probes.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    eager = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module.startswith("phenomena.probes.")]
    listed = {}
    for node in [*block.body, *eager]:
        assert isinstance(node, ast.ImportFrom) and node.module.startswith("phenomena.probes.")
        for alias in node.names:
            assert alias.asname == alias.name  # a re-export, as `from X import name as name`
            listed[alias.name] = node.module.removeprefix("phenomena.probes.")
    assert listed == probes._SOURCE
    assert probes.__all__ == sorted(listed)


def test_every_name_resolves_to_its_modules_object_and_unknown_names_raise():
    # weight_spectra is a module and a function of it: the package's name must stay the function after the module
    # is imported on its own
    importlib.import_module("phenomena.probes.weight_spectra")
    assert callable(probes.weight_spectra)
    for name, module in probes._SOURCE.items():
        assert getattr(probes, name) is getattr(importlib.import_module(f"phenomena.probes.{module}"), name)
    assert set(probes.__all__) <= set(dir(probes))
    with pytest.raises(AttributeError, match="no attribute 'hessian_eigenvalue'"):
        probes.hessian_eigenvalue  # noqa: B018


def test_importing_one_probe_loads_neither_the_others_nor_scipy():
    probe = (
        "import sys, phenomena.probes.fourier\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('phenomena.probes.') or m == 'scipy')\n"
        "print(loaded)\n"
        "from phenomena.probes import hessian_eigenvalues\n"
        "print('scipy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "['phenomena.probes.core', 'phenomena.probes.fourier', 'phenomena.probes.weight_spectra']"
    assert second == "True"  # the probe that needs SciPy still gets it
