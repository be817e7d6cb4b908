"""Reliability: what the command line and the store survive.

- Fuzzing (hypothesis): random experiment names, keys, values, presets, grid specs, ids and subcommands through
  the real CLI in-process, against a prepared store. Every input is rejected or cheap (run/sweep/verify always
  carry at least one invalid piece, so nothing trains). Exit code 0 or 2; on 2 exactly one ``error:`` line on
  stderr and no traceback; the store byte-identical afterwards. ``phenomena.api.run`` raises only UserError
  for bad names and overrides, and creates no store.
- kill -9: a process sweep killed (with its workers) at a random moment, then rerun: nothing that had finished
  is lost or recomputed, the database stays sound, the rerun completes the sweep (2 trials here, 20 in the
  slow version).
- Concurrent writers: two sweeps and a run on one store at once all finish, with no "database is locked".
- Ctrl-C: a run and a process sweep stop with exit 130 and one "interrupted" line, record what was in flight
  as interrupted and keep what had finished; a rerun completes the sweep.
- A script that starts a process sweep without an ``if __name__ == '__main__':`` guard gets the clear error.

The bugs this file found (an infinite integer, a non-UTF-8 id, a value nested past the parser, a note before an
error, a line break in an argument, two processes creating one store) are fixed; each keeps a test at the end,
and the fuzzers draw those inputs too.

Run ``pytest tests/test_reliability.py -s`` to see the figures each test prints; the 20-trial kill test is
``-m slow -k kill``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections import Counter
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phenomena.catalog import ENTRIES, listing
from phenomena.errors import UserError

PHENOMENA = [sys.executable, "-m", "phenomena"]
NAMES = sorted(ENTRIES)
PRESETS = ("smoke", "quick", "paper", "full")  # every preset name of any entry
ALL_KEYS = {key for item in listing() for config in item["configs"].values() for key in config}
INT_KEYS = ("train.steps", "model.width", "train.batch_size")  # integer keys of grokking
EXECUTORS = ("serial", "process", "ray")
# a process sweep of 8 short runs (~20 s on two cores): the subject of the kill and Ctrl-C tests
SWEEP = [
    "sweep",
    "grokking",
    "-p",
    "smoke",
    "-s",
    "train.steps=60",
    "--grid",
    "train.weight_decay=0.5,1,1.5,2",
    "--seeds",
    "2",
    "-x",
    "process",
    "-j",
    "2",
    "-q",
]
SWEEP_RUNS = 8
ANNOUNCE = re.compile(r"= (\d+) runs?: (?:(\d+) reused, (\d+) to compute|all finished before)")
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# how many inputs the fuzzers tried (printed by the tests; run with -s)
TRIED: Counter = Counter()


# -- helpers: child processes and the store -----------------------------------------------------------------
def _env(home: Path) -> dict[str, str]:
    # PHENOMENA_CACHE (the session's shared data cache, see conftest) is inherited from os.environ
    return {**os.environ, "PHENOMENA_HOME": str(home), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _default_sigint() -> None:
    """In the child, before exec: a background shell may have left SIGINT ignored, which exec inherits."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Child:
    """A ``phenomena`` process in its own session (so that its workers can be killed with it), its output in
    files (no pipe to fill up)."""

    proc: subprocess.Popen
    out: Path
    err: Path

    @classmethod
    def start(cls, args: list[str], home: Path, logs: Path, sigint: bool = False) -> Child:
        out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
        with out.open("w") as fout, err.open("w") as ferr:
            proc = subprocess.Popen(
                [*PHENOMENA, *args],
                env=_env(home),
                stdout=fout,
                stderr=ferr,
                start_new_session=True,
                preexec_fn=_default_sigint if sigint else None,
            )
        return cls(proc, out, err)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (the driver and its pool's workers)."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.proc.args} did not end within {timeout} s; stderr: {self.stderr()[-2000:]}")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


def _run_to_end(args: list[str], home: Path, logs: Path, timeout: float = 300) -> tuple[int, str, str]:
    child = Child.start(args, home, logs)
    try:
        code = child.wait(timeout)
    finally:
        child.kill()  # stray workers, if any
    return code, child.stdout(), child.stderr()


def _query(home: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` read while a sweep may be writing (WAL lets readers in); [] before the schema exists."""
    db = home / "phenomena.db"
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(db, timeout=30)) as con:
            return con.execute(sql).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise


def _finished(home: Path) -> dict[str, tuple[float, str]]:
    """run id -> (finished time, summary JSON) of the finished runs."""
    rows = _query(home, "SELECT id, finished, summary FROM runs WHERE status = 'finished'")
    return {rid: (when, summary) for rid, when, summary in rows}


def _statuses(home: Path) -> dict[str, str]:
    return dict(_query(home, "SELECT id, status FROM runs"))


def _integrity(home: Path) -> str:
    db = home / "phenomena.db"
    if not db.exists():
        return "ok"  # nothing was written yet: nothing to corrupt
    with closing(sqlite3.connect(db, timeout=30)) as con:
        return "; ".join(row[0] for row in con.execute("PRAGMA integrity_check").fetchall())


def _computed(stdout: str) -> int:
    """How many runs a sweep computed, from its announcement line."""
    match = ANNOUNCE.search(stdout)
    assert match, f"no announcement in the sweep's output: {stdout[:500]!r}"
    return int(match.group(3) or 0)


def _snapshot(root: Path) -> dict[str, str | None]:
    """Every path under the store (SQLite's -wal/-shm aside) -> sha256 of its bytes (None for a folder)."""
    out: dict[str, str | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.endswith(("-wal", "-shm")):
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return out


def _one_error_line(err: str) -> bool:
    return err.startswith("error: ") and err.endswith("\n") and len(err.splitlines()) == 1


# -- fuzzing: strategies -----------------------------------------------------------------------------------
def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


CHARS = st.characters(codec="utf-8")  # lone surrogates (non-UTF-8 argv bytes): a test of their own at the end
GARBAGE = st.text(CHARS, max_size=12)


@st.composite
def _mutated(draw, words: tuple[str, ...]) -> str:
    """A real word with one typo: a character dropped, doubled, recased, inserted, replaced, or a space added."""
    word = draw(st.sampled_from(words))
    i = draw(st.integers(0, len(word) - 1))
    char = draw(CHARS)
    op = draw(st.sampled_from(("drop", "double", "case", "insert", "replace", "space", "swap")))
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    if op == "case":
        return word[:i] + word[i].swapcase() + word[i + 1 :]
    if op == "insert":
        return word[:i] + char + word[i:]
    if op == "replace":
        return word[:i] + char + word[i + 1 :]
    if op == "space":
        return draw(st.sampled_from((" " + word, word + " ", word.replace("-", "_").replace(".", " "))))
    j = min(i + 1, len(word) - 1)
    return word[:i] + word[j] + word[i + 1 : j] + word[i] + word[j + 1 :]


def _positional(text: str) -> bool:
    # option-like garbage in a positional slot changes the command's shape (a bad NAME "-q" would leave verify
    # with no names, i.e. the whole catalog); unknown options are generated on purpose instead
    return not text.startswith("-")


REAL_NAME = st.sampled_from(NAMES)
BAD_NAME = st.one_of(_mutated(tuple(NAMES)), GARBAGE).filter(lambda s: s not in ENTRIES and _positional(s))
BAD_PRESET = st.one_of(_mutated(PRESETS), GARBAGE).filter(lambda s: s not in PRESETS)
NUMBER = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(lambda n: f"{n}e{n % 300}"),
)
SPECIAL = st.sampled_from(
    (
        "",
        " ",
        "-1",
        "0",
        "-0.0",
        "1e308",
        "-1e308",
        "9" * 400,
        "9" * 5000,
        "1e-320",
        "(",
        ")",
        "[",
        "]",
        "()",
        "(1,2)",
        "(0.9,0.98)",
        "[1,[2]]",
        "((((1))))",
        "{}",
        "{1: 2}",
        "None",
        "null",
        "true",
        "False",
        "nan",
        "inf",
        "-inf",
        "0x10",
        "1_000",
        "1j",
        "'x'",
        "b'x'",
        "ünïcødé",
        "名前",
        "🙂",
        " 1 ",
        "1,2",
        "a=b",
        "\n",
        "\t1",
        "%",
        "_",
        "\\",
        "\x00",
    )
)
VALUE = st.one_of(NUMBER, SPECIAL, GARBAGE)
NONE = ("none", "null")  # None is a valid value of an optional integer (train.batch_size)
NOT_A_NUMBER = st.one_of(
    st.sampled_from(("", "abc", "[", "true", "ünï", "{}", "1.5.2", "--1", "(1,", "x=1")),
    # stripped as the config parser strips it (" 1 " and "\t1" are the number 1 there)
    GARBAGE.filter(
        lambda s: not isinstance(_literal_or_none(s.strip()), int | float) and s.strip().lower() not in NONE
    ),
)
NOT_AN_INT = st.one_of(st.sampled_from(("", "x", "1.5", "1e3", "٣.", "--2")), GARBAGE).filter(lambda s: not _is_int(s))
BAD_COUNT = st.one_of(st.integers(-5, 0).map(str), NOT_AN_INT)
BAD_EXECUTOR = st.one_of(_mutated(EXECUTORS), GARBAGE).filter(lambda s: s not in EXECUTORS)
EXTRA = GARBAGE.filter(_positional)
UNKNOWN_OPTION = st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), max_size=6).map(
    lambda s: "--zz" + s
)


def _literal_or_none(text: str):
    try:
        return ast.literal_eval(text)
    except Exception:
        return None


def _bad_key() -> st.SearchStrategy[str]:
    """A key that is no config key of any entry (what is left of it once parsed: before any '=', stripped)."""
    words = tuple(sorted(ALL_KEYS))
    return st.one_of(_mutated(words), GARBAGE).filter(lambda k: k.partition("=")[0].strip() not in ALL_KEYS)


BAD_KEY = _bad_key()
BAD_TOKEN = st.one_of(
    GARBAGE.filter(lambda s: "=" not in s),  # no '='
    VALUE.map(lambda v: "=" + v),  # no key
    VALUE.map(lambda v: "  =" + v),
)


def _key(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A real key; half the time a numeric one, where parsing does the most work."""
    numeric = tuple(k for k in ("train.steps", "train.lr", "train.weight_decay", "seed", "train.betas") if k in keys)
    return st.one_of(st.sampled_from(numeric), st.sampled_from(keys))


def _override(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.builds(lambda k, v: f"{k}={v}", _key(keys), VALUE)


def _grid(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    values = st.lists(VALUE.filter(lambda v: "," not in v), min_size=1, max_size=3).map(",".join)
    return st.builds(lambda k, v: f"{k}={v}", _key(keys), values)


def _bad_grid(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    key = st.sampled_from(keys)
    return st.one_of(
        GARBAGE.filter(lambda s: "=" not in s),  # no '='
        key.map(lambda k: k + "="),  # no values
        key.map(lambda k: k + "=1,,2"),  # an empty value
        key.map(lambda k: k + "=1,"),
        st.sampled_from(INT_KEYS).map(lambda k: k + "=3,3"),  # a value twice
        st.builds(lambda k, v: f"{k}={v}", BAD_KEY, VALUE),  # unknown key
        st.sampled_from(("seed=0,1", "=1,2", " =1")),
    )


# which invalid pieces each training command can carry (at least one is always drawn)
BAD_PIECES = {
    "run": ("name", "preset", "key", "value", "token", "seed", "workers", "option", "extra"),
    "sweep": (
        "name",
        "preset",
        "key",
        "value",
        "token",
        "grid",
        "nogrid",
        "seeds",
        "executor",
        "workers",
        "rayaddr",
        "option",
        "extra",
    ),
    "verify": ("name", "preset", "seeds", "executor", "workers", "rayaddr", "option"),
}
DEEP_PIECES = {"run": ("key", "value", "token"), "sweep": ("key", "value", "grid", "rayaddr"), "verify": ("rayaddr",)}


@st.composite
def _training_args(draw, command: str, keys: tuple[str, ...]) -> list[str]:
    """run/sweep/verify with at least one invalid piece, so that nothing trains."""
    # half the time one invalid piece of those found last (after the name, preset and every other value have
    # been parsed), so that the rest of the input is exercised too
    deep = st.sets(st.sampled_from(DEEP_PIECES[command]), min_size=1, max_size=1)
    bad = draw(st.one_of(deep, st.sets(st.sampled_from(BAD_PIECES[command]), min_size=1, max_size=3)))
    if command == "verify":
        names = draw(st.lists(REAL_NAME, max_size=2))
        if "name" in bad:
            names.insert(draw(st.integers(0, len(names))), draw(BAD_NAME))
        head = [command, *names]
    else:
        head = [command, draw(BAD_NAME if "name" in bad else REAL_NAME)]
        if "extra" in bad:
            head.append(draw(EXTRA))
    opts: list[list[str]] = []
    if "preset" in bad:
        opts.append(["-p", draw(BAD_PRESET)])
    elif draw(st.booleans()):
        opts.append(["-p", draw(st.sampled_from(("smoke", "quick", "paper")))])
    if command != "verify":
        opts += [["-s", token] for token in draw(st.lists(_override(keys), max_size=3))]
        if "key" in bad:
            opts.append(["-s", f"{draw(BAD_KEY)}={draw(VALUE)}"])
        if "value" in bad:
            opts.append(["-s", f"{draw(st.sampled_from(INT_KEYS))}={draw(NOT_A_NUMBER)}"])
        if "token" in bad:
            opts.append(["-s", draw(BAD_TOKEN)])
    if command == "run":
        if "seed" in bad:
            opts.append(["--seed", draw(NOT_AN_INT)])
        elif draw(st.booleans()):
            opts.append(["--seed", str(draw(st.integers(-3, 10**12)))])
        if "workers" in bad:
            opts.append(["-j", draw(BAD_COUNT)])
        elif draw(st.booleans()):
            opts.append(["-j", draw(st.sampled_from(("1", "2", "64")))])
    else:
        if command == "sweep":
            if "nogrid" not in bad:
                opts += [["--grid", token] for token in draw(st.lists(_grid(keys), min_size=1, max_size=2))]
            if "grid" in bad:
                opts.append(["--grid", draw(_bad_grid(keys))])
        if "seeds" in bad:
            opts.append(["--seeds", draw(BAD_COUNT)])
        elif draw(st.booleans()):
            opts.append(["--seeds", str(draw(st.integers(1, 3)))])
        if "executor" in bad:
            opts.append(["-x", draw(BAD_EXECUTOR)])
        elif draw(st.booleans()):
            # a Ray address is only refused for the other executors (with -x ray it would start Ray)
            opts.append(["-x", draw(st.sampled_from(EXECUTORS[:2] if "rayaddr" in bad else EXECUTORS))])
        if "rayaddr" in bad:
            opts.append(["--ray-address", draw(st.one_of(st.just("auto"), GARBAGE))])
        if "workers" in bad:
            opts.append(["-j", draw(BAD_COUNT)])
        elif draw(st.booleans()):
            opts.append(["-j", draw(st.sampled_from(("1", "2")))])
    if "option" in bad:
        opts.append([draw(UNKNOWN_OPTION)])
    opts += [[flag] for flag in draw(st.lists(st.sampled_from(("--force", "-q", "--json")), unique=True))]
    return head + [arg for opt in draw(st.permutations(opts)) for arg in opt]


@st.composite
def _read_args(draw, command: str, ids: tuple[str, ...]) -> list[str]:
    """show/runs/sweeps/config with real, prefixed, mutated or garbage names and ids."""
    name = st.one_of(REAL_NAME, BAD_NAME)
    run_or_sweep = st.one_of(
        st.sampled_from(ids),
        st.sampled_from(ids).flatmap(lambda i: st.integers(0, len(i)).map(lambda n: i[:n])),
        _mutated(ids),
        GARBAGE,
    ).filter(_positional)
    flags = draw(st.lists(st.sampled_from(("--json",)), unique=True))
    if command == "show":
        extra = draw(st.lists(st.sampled_from(("--curves",)), unique=True))
        return [command, draw(run_or_sweep), *flags, *extra]
    if command == "config":
        preset = draw(st.lists(st.one_of(st.sampled_from(PRESETS), BAD_PRESET), max_size=1))
        return [command, draw(name), *(arg for p in preset for arg in ("-p", p)), *flags]
    opts = []
    if draw(st.booleans()):
        opts += ["-e", draw(name)]
    if command == "runs" and draw(st.booleans()):
        opts += ["--sweep", draw(run_or_sweep)]
    return [command, *opts, *flags]


def _cli_args(ids: tuple[str, ...], keys: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.one_of(
        *(_training_args(c, keys) for c in ("run", "sweep", "verify")),
        *(_read_args(c, ids) for c in ("show", "runs", "sweeps", "config")),
    )


# -- fuzzing: tests ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    """A store with 2 smoke runs and 1 sweep (2 more runs); its ids; grokking's real keys."""
    from phenomena import api
    from phenomena.cli import main

    root = tmp_path_factory.mktemp("fuzz") / "store"
    runs = [
        api.run("grokking", "smoke", {"train.steps": 40}, seed=seed, store=root, progress=False).run_id
        for seed in (0, 1)
    ]
    sweep = api.sweep(
        "grokking",
        {"train.weight_decay": [0.5, 1]},
        preset="smoke",
        overrides={"train.steps": 40},
        executor="serial",
        store=root,
        progress=False,
    )
    ids = (*runs, sweep.sweep_id, *(r.run_id for p in sweep.points for r in p.runs))
    result = CliRunner().invoke(main, ["config", "grokking", "--json"], catch_exceptions=False)
    keys = tuple(k["key"] for k in json.loads(result.stdout)["keys"])
    assert "train.weight_decay" in keys and not (root / "phenomena.db-wal").exists()
    return root, ids, keys


def _invoke(args: list[str], home: Path):
    from phenomena.cli import main

    return CliRunner().invoke(main, args, env={"PHENOMENA_HOME": str(home)}, catch_exceptions=True)


def _explain(args: list[str], result) -> str:
    tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
    return f"args={args!r} exit={result.exit_code} stdout={result.stdout[-800:]!r} stderr={result.stderr!r}\n{tb}"


def test_fuzzed_cli_input_exits_0_or_2_with_one_error_line_and_leaves_the_store_untouched(fuzz_store):
    root, ids, keys = fuzz_store
    before = _snapshot(root)
    exits: Counter = Counter()

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(args=_cli_args(ids, keys))
    def check(args):
        TRIED["cli"] += 1
        result = _invoke(args, root)
        exits[(args[0], result.exit_code)] += 1
        explain = _explain(args, result)
        assert result.exit_code in (0, 2), explain
        assert "Traceback" not in result.stdout + result.stderr, explain
        if result.exit_code == 0:
            assert args[0] in ("show", "runs", "sweeps", "config"), "an input meant to be rejected ran: " + explain
        else:
            assert _one_error_line(result.stderr), explain
        # rejected inputs leave the store byte-identical; so do the reads (a sweep's figure is redrawn the same)
        assert _snapshot(root) == before, explain

    check()
    print(f"\nfuzz (CLI): {TRIED['cli']} inputs tried; exit codes by command: {dict(sorted(exits.items()))}")
    assert TRIED["cli"] >= 100
    assert exits[("run", 2)] and exits[("sweep", 2)] and exits[("verify", 2)] and exits[("show", 0)]


API_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    VALUE,
    st.lists(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), GARBAGE), max_size=3),
    st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False)),
    st.dictionaries(GARBAGE, st.integers(), max_size=2),
)


@st.composite
def _api_call(draw, keys: tuple[str, ...]) -> tuple[str, str, object, int | None]:
    """(name, preset, overrides as a mapping or as tokens, seed) with at least one invalid piece."""
    bad = draw(st.sets(st.sampled_from(("name", "preset", "key", "value", "token")), min_size=1, max_size=2))
    name = draw(BAD_NAME if "name" in bad else REAL_NAME)
    preset = draw(BAD_PRESET if "preset" in bad else st.sampled_from(("smoke", "quick", "paper")))
    pairs = draw(st.lists(st.tuples(_key(keys), API_VALUE), max_size=3))
    if "key" in bad:
        pairs.append((draw(BAD_KEY), draw(API_VALUE)))
    if "value" in bad:
        not_a_number = st.one_of(NOT_A_NUMBER, st.lists(st.integers(), max_size=2), st.dictionaries(GARBAGE, GARBAGE))
        pairs.append((draw(st.sampled_from(INT_KEYS)), draw(not_a_number)))
    as_tokens = "token" in bad or draw(st.booleans())
    if as_tokens:
        overrides: object = [f"{k}={v}" for k, v in pairs]
        if "token" in bad:
            overrides.insert(draw(st.integers(0, len(overrides))), draw(BAD_TOKEN))
    else:
        overrides = dict(pairs)
        if "value" in bad or "key" in bad:  # a later pair of the same key must not replace the invalid one
            overrides[pairs[-1][0]] = pairs[-1][1]
    seed = draw(st.one_of(st.none(), st.integers(-5, 2**70)))
    return name, preset, overrides, seed


def test_fuzzed_api_run_raises_only_user_error_and_creates_no_store(tmp_path, fuzz_store):
    from phenomena import api

    _, _, keys = fuzz_store
    missing = tmp_path / "never-created"

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])
    @given(call=_api_call(keys))
    def check(call):
        TRIED["api"] += 1
        name, preset, overrides, seed = call
        with pytest.raises(UserError):
            api.run(name, preset, overrides, seed=seed, store=missing, progress=False)
        assert not missing.exists()

    check()
    print(f"\nfuzz (api.run): {TRIED['api']} calls tried")
    assert TRIED["api"] >= 100


# -- kill -9 -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep_seconds(tmp_path_factory) -> float:
    """How long the sweep takes from start to exit on this machine, now (measured once, uninterrupted)."""
    tmp = tmp_path_factory.mktemp("measure")
    start = time.monotonic()
    code, out, err = _run_to_end(SWEEP, tmp / "store", tmp / "sweep")
    seconds = time.monotonic() - start
    assert code == 0, err
    assert _computed(out) == SWEEP_RUNS and len(_finished(tmp / "store")) == SWEEP_RUNS
    return seconds


@dataclass
class KillTrial:
    kill_at: float
    mid_sweep: bool  # the driver was alive and its sweep recorded as running when the kill landed
    finished_at_kill: int
    in_flight_at_kill: int
    lost: list[str]  # finished before the kill, but afterwards not finished with the same summary and time
    integrity: list[str]  # PRAGMA integrity_check after the kill and after the rerun
    recomputed: int  # runs the rerun computed
    rerun_seconds: float
    problems: list[str]


def _kill_trial(tmp: Path, kill_at: float) -> KillTrial:
    """Start the sweep, SIGKILL its process group ``kill_at`` seconds later, check the store, rerun the same
    command to the end and check again."""
    home = tmp / "store"
    tmp.mkdir(parents=True)
    child = Child.start(SWEEP, home, tmp / "killed")
    try:
        start = time.monotonic()
        while child.alive() and time.monotonic() - start < kill_at:
            time.sleep(0.02)
        before = _finished(home)  # read just before the kill
        alive = child.alive()
    finally:
        child.kill()
    sweep_status = [s for (s,) in _query(home, "SELECT status FROM sweeps")]
    at_kill = _finished(home)
    in_flight = sum(s == "running" for s in _statuses(home).values())
    integrity = [_integrity(home)]
    lost = [rid for rid, record in before.items() if at_kill.get(rid) != record]

    problems = []
    start = time.monotonic()
    code, out, err = _run_to_end(SWEEP, home, tmp / "rerun")
    rerun_seconds = time.monotonic() - start
    if code != 0 or "Traceback" in err:
        problems.append(f"rerun exit {code}: {err[-1500:]}")
    recomputed = _computed(out) if code == 0 else 0
    if code == 0 and recomputed != SWEEP_RUNS - len(at_kill):
        problems.append(f"rerun computed {recomputed} runs, expected {SWEEP_RUNS - len(at_kill)}")
    after = _finished(home)
    lost += [rid for rid, record in at_kill.items() if after.get(rid) != record and rid not in lost]
    integrity.append(_integrity(home))
    statuses = _statuses(home)
    members = {rid for (rid,) in _query(home, "SELECT run FROM sweep_runs")}
    final = [s for (s,) in _query(home, "SELECT status FROM sweeps")]
    if final != ["finished"] or len(members) != SWEEP_RUNS or any(statuses.get(m) != "finished" for m in members):
        problems.append(f"after the rerun: sweep {final}, runs {statuses}, members {sorted(members)}")
    mid_sweep = alive and sweep_status == ["running"]
    return KillTrial(kill_at, mid_sweep, len(at_kill), in_flight, lost, integrity, recomputed, rerun_seconds, problems)


def _report_kills(results: list[KillTrial], duration: float) -> None:
    """Print the figures of the trials, then require that nothing was lost or corrupted."""
    lost = sum(len(t.lost) for t in results)
    corrupt = sum(v != "ok" for t in results for v in t.integrity)
    print(
        f"\nkill -9 over a {duration:.1f} s sweep: {len(results)} trials, {sum(t.mid_sweep for t in results)} kills "
        f"landed mid-sweep, {lost} finished runs lost, {corrupt} integrity failures, "
        f"{sum(t.recomputed for t in results)} runs recomputed by the reruns "
        f"({sum(t.in_flight_at_kill for t in results)} had been in flight at a kill, the rest not yet started)"
    )
    for t in results:
        print(
            f"  kill at {t.kill_at:5.1f} s: mid-sweep={t.mid_sweep!s:<5} finished {t.finished_at_kill}, "
            f"in flight {t.in_flight_at_kill}, recomputed {t.recomputed}, integrity {t.integrity}"
        )
    assert lost == 0, [t.lost for t in results]
    assert corrupt == 0, [t.integrity for t in results]
    assert not [p for t in results for p in t.problems], [p for t in results for p in t.problems]


def _kill_times(duration: float, trials: int, seed: int) -> list[float]:
    """One random time in each of ``trials`` equal slices of the sweep's duration, in random order."""
    rng = random.Random(seed)
    times = [duration * (i + rng.uniform(0.1, 0.9)) / trials for i in range(trials)]
    rng.shuffle(times)
    return times


def test_kill_9_a_process_sweep_at_random_times_then_rerun_loses_nothing_twice(tmp_path, sweep_seconds):
    times = _kill_times(sweep_seconds, trials=2, seed=10)
    results = [_kill_trial(tmp_path / f"trial-{i:02d}", t) for i, t in enumerate(times)]
    _report_kills(results, sweep_seconds)
    assert any(t.mid_sweep for t in results), "no kill landed while the sweep ran"


@pytest.mark.slow
def test_kill_9_a_process_sweep_at_random_times_then_rerun_loses_nothing_20_times(tmp_path, sweep_seconds):
    times = _kill_times(sweep_seconds, trials=20, seed=20)
    results = [_kill_trial(tmp_path / f"trial-{i:02d}", t) for i, t in enumerate(times)]
    _report_kills(results, sweep_seconds)
    assert sum(t.mid_sweep for t in results) >= 10


# -- concurrent writers ------------------------------------------------------------------------------------
def test_two_sweeps_and_a_run_started_together_on_one_store_all_finish_without_lock_errors(tmp_path):
    home = tmp_path / "store"  # none yet: the three processes create it together
    common = ["grokking", "-p", "smoke", "-s", "train.steps=60", "-q", "--json"]
    sweep = ["--seeds", "2", "-x", "process", "-j", "1"]
    jobs = {
        "sweep-a": ["sweep", *common, "--grid", "train.weight_decay=0.5,1", *sweep],
        "sweep-b": ["sweep", *common, "--grid", "train.weight_decay=1.5,2", *sweep],
        "run": ["run", *common, "-s", "train.weight_decay=3"],
    }
    children = {}
    try:
        for name, args in jobs.items():
            children[name] = Child.start(args, home, tmp_path / name)
        codes = {name: child.wait(300) for name, child in children.items()}
    finally:
        for child in children.values():
            child.kill()
    errs = {name: child.stderr() for name, child in children.items()}
    outs = {name: json.loads(child.stdout()) for name, child in children.items() if codes[name] == 0}
    expected = {outs["run"]["run_id"]} if "run" in outs else set()
    for name in ("sweep-a", "sweep-b"):
        if name in outs:
            expected |= {r["run_id"] for row in outs[name]["rows"] for r in row["runs"]}
    statuses = _statuses(home)
    conflicts = sum(
        err.count("database is locked") + err.count("database is busy") + err.count("Traceback")
        for err in errs.values()
    )
    written = sum(s == "finished" for s in statuses.values())
    print(f"\nconcurrent writers: 3 processes, {written} runs written, {conflicts} conflicts seen")
    assert codes == dict.fromkeys(jobs, 0), errs
    assert conflicts == 0, errs
    assert len(expected) == 2 * 2 * 2 + 1
    assert {rid: statuses.get(rid) for rid in expected} == dict.fromkeys(expected, "finished")
    assert _query(home, "SELECT status FROM sweeps") == [("finished",), ("finished",)]
    assert _integrity(home) == "ok"


# -- Ctrl-C ------------------------------------------------------------------------------------------------
def test_ctrl_c_stops_a_run_with_exit_130_and_records_it_interrupted(tmp_path):
    home = tmp_path / "store"
    child = Child.start(["run", "grokking", "-p", "quick", "-q"], home, tmp_path / "run", sigint=True)
    try:
        start = time.monotonic()
        while time.monotonic() - start < 4 or not _query(home, "SELECT id FROM runs WHERE status = 'running'"):
            assert child.alive(), child.stderr()
            assert time.monotonic() - start < 120, "the run was not recorded within 2 minutes"
            time.sleep(0.05)
        child.proc.send_signal(signal.SIGINT)
        code = child.wait(60)
    finally:
        child.kill()
    err = child.stderr()
    assert code == 130, err
    assert err.rstrip("\n").endswith("interrupted") and "Traceback" not in err, err
    code, out, err = _run_to_end(["runs", "--json"], home, tmp_path / "runs")
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)] == ["interrupted"]


def test_ctrl_c_stops_a_process_sweep_keeping_finished_runs_and_a_rerun_completes_it(tmp_path):
    home = tmp_path / "store"
    child = Child.start(SWEEP, home, tmp_path / "sweep", sigint=True)
    try:
        start = time.monotonic()
        while not _finished(home):
            assert child.alive(), child.stderr()
            assert time.monotonic() - start < 180, "no run finished within 3 minutes"
            time.sleep(0.05)
        finished = _finished(home)
        in_flight = {rid for rid, s in _statuses(home).items() if s == "running"}
        child.proc.send_signal(signal.SIGINT)
        code = child.wait(60)
    finally:
        child.kill()
    err = child.stderr()
    assert code == 130, err
    assert err.rstrip("\n").endswith("interrupted") and "Traceback" not in err, err
    assert "leaked semaphore" not in err, err
    statuses = _statuses(home)
    assert "running" not in statuses.values(), statuses
    assert in_flight and all(statuses[rid] in ("interrupted", "finished") for rid in in_flight), statuses
    assert "interrupted" in statuses.values(), statuses
    assert {rid: _finished(home).get(rid) for rid in finished} == finished
    assert _query(home, "SELECT status FROM sweeps") == [("interrupted",)]

    code, out, err = _run_to_end(SWEEP, home, tmp_path / "rerun")
    assert code == 0, err
    kept = len(_finished(home)) - _computed(out)
    assert kept >= len(finished)
    after = _finished(home)
    assert len(after) == SWEEP_RUNS and {rid: after[rid] for rid in finished} == finished
    assert _query(home, "SELECT status FROM sweeps") == [("finished",)]
    assert _integrity(home) == "ok"


# -- a script without the __main__ guard --------------------------------------------------------------------
NO_GUARD_SCRIPT = """
import phenomena

result = phenomena.sweep(
    "grokking",
    {{"train.weight_decay": [0.5, 1]}},
    preset="smoke",
    overrides={{"train.steps": 40}},
    executor="process",
    workers=2,
    store={store!r},
    progress=False,
)
print("SWEEP SUCCEEDED", result.status)
"""


def test_a_script_starting_a_process_sweep_without_a_main_guard_gets_the_clear_error(tmp_path):
    home = tmp_path / "store"
    script = tmp_path / "no_guard.py"
    script.write_text(NO_GUARD_SCRIPT.format(store=str(home)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    guard = "if __name__ == '__main__'"
    assert proc.returncode != 0 and "SWEEP SUCCEEDED" not in out, out + err
    last = [line for line in err.splitlines() if line.strip()][-1]
    # the error reached the script itself (the last line of its traceback), not only the workers' output
    assert last.startswith("phenomena.errors.UserError:") and guard in last, err[-3000:]
    assert [s for (s,) in _query(home, "SELECT status FROM sweeps")] in ([], ["interrupted"]), err[-2000:]
    statuses = _statuses(home)
    assert "finished" not in statuses.values() and "running" not in statuses.values(), statuses


# -- the bugs this suite found, each fixed and pinned by its own test ---------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["run", "grokking", "-p", "smoke", "-s", "train.steps=1e999"],
        ["run", "grokking", "-p", "smoke", "-s", "seed=-1e999"],
        ["sweep", "grokking", "-p", "smoke", "--grid", "train.steps=20,1e999"],
    ],
)
def test_an_integer_key_given_an_infinite_number_is_rejected_in_one_line(tmp_path, args):
    result = _invoke(args, tmp_path / "store")
    assert result.exit_code == 2 and _one_error_line(result.stderr), _explain(args, result)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_api_run_with_a_non_finite_integer_value_raises_user_error(tmp_path, value):
    from phenomena import api

    with pytest.raises(UserError):
        api.run("grokking", "smoke", {"train.steps": value}, store=tmp_path / "store", progress=False)


@pytest.mark.parametrize("args", [["show", "\udcff"], ["runs", "--sweep", "\udcff"]])
def test_an_id_that_is_not_utf8_is_rejected_in_one_line(fuzz_store, args):
    root, _, _ = fuzz_store
    result = _invoke(args, root)
    assert result.exit_code == 2 and _one_error_line(result.stderr), _explain(args, result)


def test_a_pathologically_nested_value_is_rejected_in_one_line(tmp_path):
    args = ["run", "grokking", "-p", "smoke", "-s", "train.lr=" + "-" * 10_000 + "1"]
    result = _invoke(args, tmp_path / "store")
    assert result.exit_code == 2 and _one_error_line(result.stderr), _explain(args, result)


@pytest.mark.parametrize(
    "args",
    [["run", "grokking", "-j", "2", "-p", "bogus"], ["run", "double-descent", "-j", "999", "-s", "nokey=1"]],
)
def test_a_rejected_run_with_workers_prints_only_the_error_line(tmp_path, args):
    result = _invoke(args, tmp_path / "store")
    assert result.exit_code == 2 and _one_error_line(result.stderr), _explain(args, result)


def test_an_extra_argument_with_a_line_break_is_rejected_in_one_line(tmp_path):
    args = ["show", "abc", "x\ny"]
    result = _invoke(args, tmp_path / "store")
    assert result.exit_code == 2 and _one_error_line(result.stderr), _explain(args, result)


def test_two_processes_creating_a_fresh_store_at_once_both_succeed(tmp_path):
    import threading

    from phenomena.store import Store
    from phenomena.store import sqlite as layout

    home = tmp_path / "store"
    home.mkdir()
    # the other process: it has begun creating the tables (write lock held, not yet committed) ...
    other = sqlite3.connect(home / "phenomena.db", isolation_level=None, check_same_thread=False)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    other.execute(layout._RUNS_TABLE)
    other.execute(f"PRAGMA user_version = {layout.SCHEMA_VERSION}")
    # ... and commits 2 s later, while this process waits for the lock after having looked at the layout
    commit = threading.Timer(2.0, other.execute, ["COMMIT"])
    commit.start()
    try:
        Store(home).delete("no-such-run")  # this process's first write
    finally:
        commit.join()
        other.close()
    assert Store(home).runs() == []
