"""phenomena verify on stand-in entries whose verdicts are known functions of the seed and config: pass rates,
control fail rates, the 80% rule, the exit code, resumption, and the calibration seeds it refuses."""

import dataclasses
import json
import math
import sys

import pytest

from phenomena import catalog
from phenomena.experiment import Calibration, Control, Entry
from phenomena.result import Check, Series, Verdict
from phenomena.runner.calibration import _control_key
from phenomena.runner.verify import PASS_RATE, Verification, control_failed
from phenomena.store import Store


@dataclasses.dataclass(frozen=True)
class Config:
    gain: float = 1.0  # the "mechanism": y = gain * (seed + 1); the claim is y >= 2
    bad_seed: int = -1  # this seed's run measures nothing (y = nan)
    seed: int = 0


SHARED_PIECES: list[int] = []  # the seeds whose shared piece was computed (not reused), in this process


def run(cfg, ctx):
    # seed + 1 does not read the gain (the control's override): the control reuses its main run's piece
    base = ctx.shared("seed + 1", cfg, lambda: SHARED_PIECES.append(cfg.seed) or cfg.seed + 1, ignore=("gain",))
    y = math.nan if cfg.seed == cfg.bad_seed else cfg.gain * base
    return ctx.result(cfg, {"y": y}, {"y": Series([0], [0.0])})


def verdict(result):
    y = result.summary["y"]
    return Verdict((Check(f"y reaches 2 (y = {y:g})", y, ">=", 2.0), Check("always", 1.0, ">=", 0.0)))


def figure(result):
    from phenomena.report import subplots

    fig, _ = subplots()
    return fig


PRESETS = {"smoke": Config(gain=2.0), "quick": Config(gain=2.0), "full": Config(gain=0.9)}
ENTRY = Entry(
    name="fake-verify",
    summary="y grows with the gain",
    papers=("none",),
    config=Config,
    presets=PRESETS,
    costs={k: "0 s" for k in PRESETS},
    run=run,
    verdict=verdict,
    figure=figure,
    smoke_holds=True,
    sweep_metrics=("y",),
    controls=(Control("no gain", {"gain": 0.0}, must_fail=("y reaches 2",), why="y = 0"),),
    calibration=Calibration(seeds=(100, 101)),
)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(catalog.ENTRIES, "fake-verify", __name__)


def test_a_verdict_that_holds_and_a_control_that_fails_pass_verification(fake, cli, home):
    code, out, err = cli("verify", "fake-verify", "--seeds", "4", "-x", "serial", "--json")
    assert code == 0, err
    v = json.loads(out)
    (entry,) = v["entries"]
    assert entry["verdicts"] == [True] * 4 and entry["checks"][0]["values"] == [2.0, 4.0, 6.0, 8.0]
    assert entry["checks"][0]["name"] == "y reaches 2 (...)" and entry["checks"][1]["name"] == "always"
    (control,) = entry["controls"]
    assert control["failed"] == [True] * 4 and v["passed"]
    code, out, _ = cli("verify", "fake-verify", "--seeds", "4", "-x", "serial")
    assert code == 0 and "verify: PASS" in out and "fails 4/4" in out and "4/4" in out


def test_a_control_reuses_the_pieces_its_main_runs_computed_and_their_folder_goes(fake, home, killed_sweeps_folder):
    from phenomena.runner.verify import verify as verify_entries
    from phenomena.store import Store

    SHARED_PIECES.clear()
    killed = killed_sweeps_folder()  # a verify killed by SIGKILL left its folder: this one takes it away
    result = verify_entries([ENTRY], "quick", [5, 6, 7], executor="serial", progress=False, store=Store(home))
    assert not killed.exists()
    assert result.passed and result.entries[0].checks[0].values == (12.0, 14.0, 16.0)
    assert SHARED_PIECES == [5, 6, 7]  # once per seed: the "no gain" control runs reused them
    reused = {r.config["gain"]: r.environment.get("reused_pieces") for r in Store(home).runs()}
    assert reused == {2.0: None, 0.0: ["seed + 1"]}  # recorded with the run that reused them
    assert not list(home.glob("shared-*"))
    SHARED_PIECES.clear()
    verify_entries([ENTRY], "quick", [8], executor="serial", progress=False, store=Store(home), force=True)
    assert SHARED_PIECES == [8]  # a new verify shares nothing with the last one


def test_verify_leaves_figures_to_be_drawn_when_a_run_is_first_shown(fake, cli, home):
    """Drawing a figure per run took the workers' CPU in a verify; a run's figure is drawn from its stored result
    the first time it is shown (``phenomena show``, ``ph.figure``, the site), and kept."""
    import phenomena as ph
    from phenomena.store import Store

    code, _, err = cli("verify", "fake-verify", "--seeds", "2", "-x", "serial")
    assert code == 0, err
    records = Store(home).runs()
    assert len(records) == 4 and not list(home.glob("runs/*/figure.png"))
    code, out, _ = cli("show", records[0].id)
    drawn = home / "runs" / records[0].id / "figure.png"
    assert code == 0 and f"figure: {drawn}" in out and drawn.is_file()
    assert ph.figure(records[1].id, store=home) == home / "runs" / records[1].id / "figure.png"
    assert ph.load(records[1].id, store=home).figure_path is not None  # found again without drawing
    code, _, err = cli("run", "fake-verify", "-p", "smoke", "--seed", "3")
    assert code == 0, err
    assert len(list(home.glob("runs/*/figure.png"))) == 3  # a plain run still draws its figure as it ends


def test_below_80_percent_fails_and_says_which_entry(fake, cli):
    # full preset: y = 0.9 (seed + 1) >= 2 holds for seeds 2, 3, 4 of 0..4: 3/5 = 60% < 80%
    code, out, _ = cli("verify", "fake-verify", "-p", "full", "--seeds", "5", "-x", "serial")
    assert code == 1 and "fake-verify  <- FAIL" in out and "3/5" in out and "verify: FAIL" in out


def test_an_unmeasured_value_is_a_failed_seed_not_a_skipped_one(home):
    from phenomena.runner.verify import verify as verify_entries

    bad = dataclasses.replace(ENTRY, presets={**PRESETS, "quick": Config(gain=2.0, bad_seed=1)})
    five = verify_entries([bad], "quick", 5, executor="serial", progress=False)
    assert five.entries[0].verdicts == (True, False, True, True, True) and five.passed  # 4/5 = 80%
    check = five.entries[0].checks[0]
    assert math.isnan(check.values[1]) and check.passed[1] is False and "(1 unmeasured)" in check.spread()
    three = verify_entries([bad], "quick", 3, executor="serial", progress=False)
    assert not three.passed  # 2/3 < 80%: the unmeasured seed counts as a failure


def test_a_control_that_does_not_fail_fails_verification(fake, home):
    from phenomena.runner.verify import verify as verify_entries

    weak = dataclasses.replace(
        ENTRY, controls=(Control("half gain", {"gain": 1.0}, must_fail=("y reaches 2",), why="y = seed + 1"),)
    )
    result = verify_entries([weak], "quick", 3, executor="serial", progress=False)
    (control,) = result.entries[0].controls
    assert control.failed == (True, False, False) and not control.ok and not result.passed
    assert PASS_RATE == 0.8


def test_a_control_naming_no_check_does_not_count_as_failed():
    verdict = Verdict((Check("a", 0.0, ">=", 1.0),))
    assert control_failed(Control("c", {}, must_fail=("a",)), verdict) == (True, ())
    assert control_failed(Control("c", {}, must_fail=("a", "zz")), verdict) == (False, ("zz",))
    assert control_failed(Control("c", {}, must_fail=("a",)), Verdict((Check("a", 2.0, ">=", 1.0),)))[0] is False


def test_calibration_seeds_are_refused_and_nothing_is_written(fake, cli, home):
    from phenomena.api import verify
    from phenomena.errors import UserError

    with pytest.raises(UserError, match=r"thresholds were chosen on seeds \[100\]"):
        verify(["fake-verify"], seeds=[99, 100], executor="serial", store=home)
    assert not (home / "phenomena.db").exists() or not json.loads(cli("runs", "--json")[1])


def test_the_verification_is_stored_and_reloads_identical(fake, home):
    from phenomena.api import verify
    from phenomena.store import Store

    result = verify(["fake-verify"], seeds=2, executor="serial", progress=False, store=home)
    (record,) = Store(home).verifications()
    assert record.id == result.id and record.passed == result.passed
    assert Verification.from_dict(record.result).to_dict() == result.to_dict()
    again = verify(["fake-verify"], seeds=2, executor="serial", progress=False, store=home)  # reuses the runs
    assert again.to_dict()["entries"] == result.to_dict()["entries"]


def test_a_run_of_a_references_exact_setting_gets_a_judged_reference_row(fake, home):
    from phenomena.experiment import Reference

    ref = Reference("Somebody 2020, Fig. 1", preset="full", metric="y", value=1.8, tol=0.5, note="y = 0.9 (s + 1)")
    entry = dataclasses.replace(ENTRY, references=(ref,))
    result = run(entry.presets["full"], _ctx(entry, seed=0))
    assert [c.name for c in entry.judge(result).checks][-1] == "reference: y vs 1.8 (Somebody 2020, Fig. 1)"
    assert entry.judge(result).checks[-1].value == pytest.approx(0.9) and not entry.judge(result).passed
    on_target = run(dataclasses.replace(entry.presets["full"], seed=1), _ctx(entry, seed=1))  # y = 1.8
    assert entry.judge(on_target).checks[-1].passed
    other = run(entry.presets["quick"], _ctx(entry, seed=0))  # not the published setting: no reference row
    assert len(entry.judge(other).checks) == 2


def _ctx(entry, seed):
    from pathlib import Path

    from phenomena.experiment import RunContext

    return RunContext("r", seed, Path("."), Path("."), show_progress=False, experiment=entry.name)


def test_the_calibration_recheck_judges_its_seeds_and_compares_what_was_recorded(fake, cli, home, monkeypatch):
    observed = {"y": (202.0, 203.0), "no_gain_y": (0.0, 0.0), "z": (1.0, 1.0)}
    recorded = Calibration(seeds=(100, 101), observed=observed)
    monkeypatch.setattr(sys.modules[__name__], "ENTRY", dataclasses.replace(ENTRY, calibration=recorded))
    code, out, err = cli("verify", "fake-verify", "--calibration", "-x", "serial")
    assert code == 0, err
    assert "on the calibration seeds (not a verification)" in out and "seeds 100-101" in out
    assert "fails 2/2" in out  # the control, run on the same seeds
    assert "y: recorded 202 to 203; now 202 to 204  (202, 204)" in out  # y = 2 (seed + 1): the second one moved
    assert "no_gain_y: recorded 0; now 0  (0, 0) [control 'no gain': y]" in out  # read from the control's runs
    assert "z: recorded 1; not matched (see the checks above)" in out
    assert Store(home).verifications() == []
    # a derived control trains nothing: the main runs' y is the preset's value, never read as the control's
    derived = Control("no gain", {"gain": 0.0}, must_fail=("y reaches 2",), why="y = 0", derived=True)
    monkeypatch.setattr(
        sys.modules[__name__], "ENTRY", dataclasses.replace(ENTRY, calibration=recorded, controls=(derived,))
    )
    code, out, err = cli("verify", "fake-verify", "--calibration", "-x", "serial")
    assert "no_gain_y: recorded 0; not matched (see the checks above)" in out


def test_the_calibration_recheck_fails_like_verify_and_needs_calibration_seeds(fake, cli, home, monkeypatch):
    weak = dataclasses.replace(ENTRY, presets={**PRESETS, "quick": Config(gain=0.001)})
    monkeypatch.setattr(sys.modules[__name__], "ENTRY", weak)
    code, out, _ = cli("verify", "fake-verify", "--calibration", "-x", "serial")
    assert code == 1 and "verify: FAIL" in out
    monkeypatch.setattr(sys.modules[__name__], "ENTRY", dataclasses.replace(ENTRY, calibration=None))
    code, _, err = cli("--home", str(home / "other"), "verify", "fake-verify", "--calibration", "-x", "serial")
    assert code == 2 and "no calibration seeds recorded for fake-verify" in err
    assert not (home / "other").exists()
    code, _, err = cli("--home", str(home / "other"), "verify", "fake-verify", "--calibration", "--json")
    assert code == 2 and "--calibration prints tables only" in err and "\n" not in err.strip()
    assert not (home / "other").exists()


def test_a_controls_recorded_value_is_found_by_its_key_and_its_name_or_left_unmatched():
    runs = [
        ("tiny data", [{"width_drop": 1.0, "exact_alpha": 1.5}]),
        ("ridge", [{"width_drop": math.nan, "exact_alpha": 0.9}]),
    ]
    assert _control_key("control_tiny_width_drop", runs) == ("tiny data", "width_drop")
    assert _control_key("control_ridge_exact_alpha", runs) == ("ridge", "exact_alpha")
    assert _control_key("old_design_width_drop", runs) == (None, "")  # both controls have it, neither is named
    assert _control_key("early_width_drop", runs[:1]) == ("tiny data", "width_drop")  # the only one that has it
    assert _control_key("width_drop", runs) == (None, "")  # a key is a control's only under a prefix
