"""Example forgetting: the training loop's forgetting counts against a brute-force recount of every presentation,
the smoke pipeline, the two controls failing their checks on measured values, and quick on a held-out seed (slow)."""

import math

import pytest
import torch
from conftest import SHARED_DATA

from phenomena.catalog import example_forgetting as ef
from phenomena.catalog.example_forgetting import ENTRY, Config, Data, Train
from phenomena.data.dataset import Dataset


def _toy_data(n=60, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, 5, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + 1.5 * torch.randn(n, 5, generator=g)
    y[:10] = (y[:10] + 1) % classes  # some flipped labels, so that examples are forgotten
    return Dataset(x, y, x[:20], y[:20], {"num_classes": classes})


def test_forgetting_counts_match_a_brute_force_recount_of_the_presentations(monkeypatch):
    """Log each presentation's correctness from the logits the loop passes, then count correct -> incorrect
    transitions per example by hand (an independent count from the tracker's vectorized state)."""
    log = []
    original = ef.ForgettingTracker.update

    def spy(self, indices, logits, targets):
        log.append((indices.clone(), (logits.argmax(1) == targets).clone()))
        return original(self, indices, logits, targets)

    monkeypatch.setattr(ef.ForgettingTracker, "update", spy)
    data = _toy_data()
    cfg = Config(train=Train(width=16, epochs=15, batch=8, lr=0.2))
    tracker, acc = ef.train_run(data, torch.arange(data.n_train), cfg, init_seed=1, batch_seed=2, track=True)
    history = {i: [] for i in range(data.n_train)}
    for idx, correct in log:
        for i, c in zip(idx.tolist(), correct.tolist(), strict=True):
            history[i].append(c)
    forgot = [
        sum(a and not b for a, b in zip(h[:-1], h[1:], strict=True)) for h in (history[i] for i in range(data.n_train))
    ]
    assert all(len(h) == 15 for h in history.values())  # every example once per epoch
    assert tracker.forgetting_events.tolist() == forgot
    assert sum(forgot) > 0  # the test can fail: there are events to count
    never = [not any(h) for h in history.values()]
    assert tracker.never_learned.tolist() == never
    assert 0.0 <= acc <= 1.0


def test_train_run_on_a_subset_presents_only_the_kept_examples():
    data = _toy_data()
    keep = torch.arange(0, data.n_train, 2)
    tracker, _ = ef.train_run(data, keep, Config(train=Train(width=8, epochs=3, batch=7)), 0, 0, track=True)
    assert tracker.presentations.tolist() == [3 if i % 2 == 0 else 0 for i in range(data.n_train)]


def test_smoke_through_the_cli_counts_forgetting(cli_json):
    res = cli_json("run", "example-forgetting", "-p", "smoke")
    s = res["summary"]
    fractions = s["unforgettable_fraction"] + s["forgotten_fraction"] + s["never_learned_fraction"]
    assert fractions == pytest.approx(1.0)
    assert s["unforgettable_fraction"] > 0.1 and s["marked_over_clean"] > 1.2
    assert all(math.isfinite(s[k]) for k in ("rank_correlation", "removal_drop", "removal_advantage"))
    assert len(res["verdict"]["checks"]) == 5
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# The random-removal control needs quick's measurement precision (6000 test examples, 3 retrains per arm): on smoke
# (1500 test examples) its advantage is noise, 0.007-0.016 on seeds 0-1, so it runs on quick and is marked slow.
_PRESET = {"labels kept": "smoke", "random removal": "quick"}


@pytest.mark.parametrize(
    "control",
    [c if _PRESET[c.name] == "smoke" else pytest.param(c, marks=pytest.mark.slow) for c in ENTRY.controls],
    ids=lambda c: c.name,
)
def test_each_control_fails_its_checks_on_measured_values(cli_json, control):
    overrides = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in control.overrides.items()]
    args = [a for o in overrides for a in ("-s", o)]
    res = cli_json("run", "example-forgetting", "-p", _PRESET[control.name], "--seed", "1", *args)
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]), check  # measured
        assert not check["passed"], check


def test_nan_values_fail_the_checks():
    from phenomena.result import Result

    keys = ("unforgettable_fraction", "marked_over_clean", "rank_correlation", "removal_drop", "removal_advantage")
    res = Result("example-forgetting", Config(data=Data(noise=0.0)), summary={k: math.nan for k in keys})
    assert not any(c.passed for c in ef.verdict(res).checks)


def _no_runs(home) -> bool:
    return not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_the_full_preset_without_a_directory_is_one_line_exit_2_and_writes_nothing(cli, home):
    code, out, err = cli("run", "example-forgetting", "-p", "full")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "data.directory=PATH" in err, err
    assert _no_runs(home)


@pytest.mark.parametrize("made", [False, True], ids=["missing", "empty"])
def test_a_missing_or_empty_mnist_directory_is_refused_before_training(cli, home, tmp_path, made):
    where = tmp_path / "mnist"
    if made:
        where.mkdir()
    code, out, err = cli("run", "example-forgetting", "-p", "full", "-s", f"data.directory={where}")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and ("does not exist" in err or "t10k" in err), err
    assert _no_runs(home)


def test_the_full_preset_is_toneva_s_optimizer_on_the_t10k_split():
    cfg = ENTRY.resolve("full")
    assert (cfg.data.source, cfg.data.test_fraction, cfg.data.noise) == ("mnist", 0.2, 0.1)
    assert (cfg.train.lr, cfg.train.momentum, cfg.train.batch) == (0.01, 0.5, 64)  # run_mnist.py's defaults
    assert "data.num_samples" in ef.unused(cfg) and "data.directory" in ef.unused(ENTRY.resolve("quick"))


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="no local MNIST files")
def test_the_mnist_pipeline_on_real_mnist(cli_json):
    # the full preset's code path, cut short: 784 inputs, the t10k half split 8000 train / 2000 test
    res = cli_json(
        "run",
        "example-forgetting",
        "-p",
        "full",
        "-s",
        f"data.directory={SHARED_DATA / 'mnist'}",
        "-s",
        "train.epochs=2",
        "-s",
        "train.width=32",
        "-s",
        "removal.repeats=1",
    )
    s = res["summary"]
    assert s["presented"] == 8000 and res["config"]["data"]["source"] == "mnist"
    assert s["test_acc_full"] > 0.5  # chance is 0.1: a small MLP after two epochs of SGD on 8000 images (0.78)
    assert s["marked_over_clean"] > 1  # flipped labels are forgotten (or never learned) more than clean ones


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "example-forgetting", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
