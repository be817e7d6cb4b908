"""Shared fixtures. Every test gets its own store root; torch uses one thread (tests run tiny nets, for which
one thread is fastest and immune to oversubscription when other processes share the cores)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def shared_data_cache(tmp_path_factory):
    """One data cache for the whole session: each test has its own store, but generated data sets (MNIST-1D
    takes seconds) are made once. Worker processes of sweeps inherit it through the environment."""
    import os

    path = tmp_path_factory.mktemp("data-cache")
    old = os.environ.get("PHENOMENA_CACHE")
    os.environ["PHENOMENA_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PHENOMENA_CACHE", None)
    else:
        os.environ["PHENOMENA_CACHE"] = old


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh store root, also exported as PHENOMENA_HOME."""
    root = tmp_path / "store"
    monkeypatch.setenv("PHENOMENA_HOME", str(root))
    return root


@pytest.fixture
def cli(home):
    """Invoke the real CLI in-process: ``cli("run", "grokking", ...) -> (exit_code, stdout, stderr)``."""
    from phenomena.cli import main

    def invoke(*args: str):
        runner = CliRunner()
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def cli_json(cli):
    def invoke(*args: str) -> dict:
        code, out, err = cli(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    return invoke


@pytest.fixture
def killed_sweeps_folder(home):
    """``make()`` -> a ``shared-*`` folder in ``home`` as a sweep leaves it when SIGKILL stops it: made by a
    process that is then killed, so no ``finally`` removed it."""

    def make() -> Path:
        home.mkdir(parents=True, exist_ok=True)
        code = (
            "import sys, time; from phenomena.store import Store; "
            "block = Store(sys.argv[1]).shared_folder(); print(block.__enter__(), flush=True); time.sleep(120)"
        )
        child = subprocess.Popen([sys.executable, "-c", code, str(home)], stdout=subprocess.PIPE, text=True)
        folder = Path(child.stdout.readline().strip())
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert folder.is_dir() and folder.parent == home
        return folder

    return make
