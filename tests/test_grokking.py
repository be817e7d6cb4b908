"""Grokking end to end: the smoke preset through the CLI, the weight-decay control, and the quick preset (slow)."""

import json

import pytest
import torch

from phenomena.catalog import get_entry
from phenomena.catalog.grokking import build_model, token_weights


def test_smoke_through_the_cli_passes_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "grokking", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)  # --json prints one JSON object and nothing else
    assert res["verdict"]["passed"], res["verdict"]
    assert set(res) >= {"run_id", "config", "summary", "verdict", "artifacts"}
    assert res["summary"]["delay"] >= 3 and res["summary"]["t_fit"] < res["summary"]["t_gen"]
    figure = res["artifacts"]["figure"]
    with open(figure, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    code, out, _ = cli("show", res["run_id"][:6])
    assert code == 0 and "verdict: PASS" in out and "t_gen" in out


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_without_weight_decay_the_verdict_fails_on_the_same_budget(cli_json):
    (control,) = get_entry("grokking").controls  # the declared control: no weight decay
    assert control.overrides == {"train.weight_decay": 0}
    res = cli_json("run", "grokking", "--preset", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    checks = {c["name"].split(" (")[0]: c for c in res["verdict"]["checks"]}
    assert checks["train accuracy reaches 0.99"]["passed"]  # it memorizes...
    assert not checks["test accuracy reaches 0.95"]["passed"]  # ...but does not generalize in the budget
    assert res["summary"]["steps_run"] == 300  # it used the whole budget


def test_keys_of_the_other_architecture_do_not_enter_the_run_id():
    entry = get_entry("grokking")
    mlp = entry.resolve("smoke")
    assert entry.run_id(entry.resolve("smoke", {"model.d_model": 64}), "v") == entry.run_id(mlp, "v")
    assert entry.run_id(entry.resolve("smoke", {"model.width": 64}), "v") != entry.run_id(mlp, "v")
    transformer = entry.resolve("paper")
    assert entry.run_id(entry.resolve("paper", {"model.width": 7}), "v") == entry.run_id(transformer, "v")
    assert entry.run_id(entry.resolve("paper", {"model.d_model": 64}), "v") != entry.run_id(transformer, "v")


def test_the_transformer_path_trains_and_measures(cli_json):
    res = cli_json(
        "run",
        "grokking",
        "-p",
        "paper",
        "-s",
        "data.p=7",
        "-s",
        "model.d_model=8",
        "-s",
        "model.d_mlp=16",
        "-s",
        "train.steps=6",
        "-s",
        "train.log_every=3",
    )
    assert res["summary"]["steps_run"] == 6 and 0 <= res["summary"]["final_test_acc"] <= 1
    assert len(res["verdict"]["checks"]) == 4


def test_checkpoint_round_trips(cli_json):
    from phenomena.training import load_checkpoint

    res = cli_json("run", "grokking", "-p", "smoke", "-s", "train.steps=8", "-s", "checkpoint=true")
    cfg = get_entry("grokking").resolve("smoke", {"train.steps": 8, "checkpoint": True})
    model = load_checkpoint(build_model(cfg, seed=123), res["artifacts"]["checkpoint"])
    fresh = build_model(cfg, seed=123)
    assert not torch.equal(model.layers[0].weight, fresh.layers[0].weight)  # trained weights were loaded


def test_token_weights_index_tokens_along_the_last_axis():
    cfg = get_entry("grokking").resolve("smoke", {"data.p": 5, "model.width": 3})
    model = build_model(cfg, seed=0)
    w = token_weights(model, 5)
    assert w.shape == (3, 2, 5)
    a, b = 2, 4  # the first layer's output for input (a, b) is the a-th column of operand 0 plus b-th of 1
    h = model.layers[0](torch.tensor([[a, b]]))
    assert torch.allclose(h[0], w[:, 0, a] + w[:, 1, b])


@pytest.mark.slow
def test_quick_preset_groks_and_the_control_does_not(cli_json):
    res = cli_json("run", "grokking")
    assert res["verdict"]["passed"], res["verdict"]
    (control,) = get_entry("grokking").controls
    out = cli_json("run", "grokking", *_sets(control.overrides))
    failed = {c["name"] for c in out["verdict"]["checks"] if not c["passed"]}
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    assert out["summary"]["max_test_acc"] < 0.5
