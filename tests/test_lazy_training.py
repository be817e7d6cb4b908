"""Lazy training end to end: the smoke preset through the CLI, the two declared controls (the μP run fails the lazy
claims while passing the rich ones; the NTK run fails the rich claims), the μP/NTK kernel identity behind the
lr ∝ width rule, unmeasured widths, and the quick presets (slow)."""

import dataclasses
import json
import math

import pytest
import torch

from phenomena.catalog import get_entry
from phenomena.catalog.lazy_training import ENTRY, build_model, effective_lr, loglog_fit, measure_width, verdict
from phenomena.data.dataset import Dataset
from phenomena.errors import ConfigError
from phenomena.probes.ntk import empirical_ntk
from phenomena.result import Result


def _checks(res: dict) -> list[tuple[str, bool]]:
    return [(c["name"], c["passed"]) for c in res["verdict"]["checks"]]


def _rejudged(res: dict, rich: bool):
    """The verdict of the same measurements under the other regime's claims (``regime`` chooses them)."""
    summary = {k: (math.nan if v is None else v) for k, v in res["summary"].items()}
    config = ENTRY.config(regime="rich" if rich else "lazy")
    return verdict(Result(ENTRY.name, config, summary=summary))


def _control(name: str):
    return next(c for c in ENTRY.controls if c.name == name)  # the declared control


def _fails(res: dict, prefixes) -> None:
    for prefix in prefixes:
        matching = [ok for name, ok in _checks(res) if name.startswith(prefix)]
        assert matching and not any(matching), prefix


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_smoke_through_the_cli_passes_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "lazy-training", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    assert s["rich_regime"] == 0 and s["n_diverged"] == 0 and s["width_decades"] > 1.5
    # everything moves less at larger width, and the measures are relative changes, so bounded here
    assert s["slope_ntk_change"] < s["slope_feature_change"] < 0 and 0 < s["ntk_change_widest"] < 0.1
    assert 0 < s["weight_change_widest"] < s["feature_change_widest"] < 0.2
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    code, out, _ = cli("show", res["run_id"][:6])
    assert code == 0 and "verdict: PASS" in out and "lazy regime" in out


def test_the_ntk_run_fails_the_rich_claims(cli_json):
    control = _control("ntk, rich claims")
    assert control.overrides == {"regime": "rich"}
    res = cli_json("run", "lazy-training", "-p", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"] and res["summary"]["rich_regime"] == 1
    _fails(res, control.must_fail)
    assert len(_checks(res)) == 3  # every rich claim fails: features and kernel freeze, the net stays linear
    assert _rejudged(res, rich=False).passed  # the same measurements pass the lazy claims


def test_mup_fails_the_lazy_claims_and_passes_the_rich_ones(cli_json):
    control = _control("mup")  # judged on the lazy claims
    assert control.overrides == {"model.parameterization": "mup", "regime": "lazy"}
    res = cli_json("run", "lazy-training", "-p", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    _fails(res, control.must_fail)
    assert len(_checks(res)) == 4 and not any(ok for _, ok in _checks(res))
    s = res["summary"]
    assert s["slope_feature_change"] > -0.2 and s["feature_change_widest"] > 0.3  # features move O(1)
    rich = _rejudged(res, rich=True)  # the claims regime=auto would check for mup
    assert rich.passed, rich.table()


def test_mup_network_ntk_is_the_ntk_network_kernel_over_width():
    """Why lr ∝ width: at the same raw weights, Θ_mup = Θ_ntk / n exactly (only the readout multiplier differs,
    σ/n instead of σ/√n, and f_mup = f_ntk / √n)."""
    entry = get_entry("lazy-training")
    x = torch.randn(5, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    kernels = {}
    for param in ("ntk", "mup"):
        cfg = entry.resolve("smoke", {"model.parameterization": param, "model.depth": 2})
        kernels[param] = empirical_ntk(build_model(cfg, 24, seed=3).double(), x, trace=True, method="jacobian")
    torch.testing.assert_close(kernels["mup"] * 24, kernels["ntk"], rtol=1e-12, atol=0)
    cfg = entry.resolve("smoke", {"model.parameterization": "mup"})
    assert effective_lr(cfg, 24) == 24 * cfg.train.lr
    assert effective_lr(entry.resolve("smoke"), 24) == entry.resolve("smoke").train.lr


def test_loglog_fit_recovers_a_power_law_and_refuses_unmeasured_widths():
    widths = [16, 64, 256, 1024]
    slope, r2 = loglog_fit(widths, [3.0 * w**-0.5 for w in widths])
    assert slope == pytest.approx(-0.5, abs=1e-12) and r2 == pytest.approx(1.0, abs=1e-12)
    # a diverged (nan), infinite or zero value at one width makes the slope unmeasured: no width is left out
    for bad in (math.nan, math.inf, 0.0):
        assert all(math.isnan(v) for v in loglog_fit(widths, [2.0 * w**0.25 if w != 64 else bad for w in widths]))
    assert math.isnan(loglog_fit(widths[:2], [1.0, 0.5])[0])  # two points are no fit


def test_a_diverging_width_is_recorded_and_fails_the_verdict():
    cfg = get_entry("lazy-training").resolve(
        "smoke",
        {
            "model.parameterization": "standard",
            "train.lr": 1e4,
            "train.steps": 20,
            "train.log_every": 1,
            "data.n_probe": 4,
        },
    )
    g = torch.Generator().manual_seed(0)
    data = Dataset(
        torch.randn(16, 40, generator=g),
        torch.randint(0, 10, (16,), generator=g),
        torch.randn(4, 40, generator=g),
        torch.randint(0, 10, (4,), generator=g),
    )
    values, _ = measure_width(cfg, data, 32, seed=0)
    assert values == {"diverged": 1.0}
    summary = {
        "rich_regime": 0.0,
        "width_max": 32.0,
        "slope_feature_change": math.nan,
        "slope_ntk_change": math.nan,
        "slope_lin_gap": math.nan,
        "lin_gap_widest": math.nan,
    }
    assert not verdict(Result(ENTRY.name, cfg, summary=summary)).passed


def test_too_few_widths_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 3 distinct"):
        get_entry("lazy-training").resolve("smoke", {"model.widths": "64,64,128"})


@pytest.mark.slow
def test_quick_preset_is_lazy_and_its_mup_variant_is_rich(cli_json):
    res = cli_json("run", "lazy-training")  # seed 0, held out (calibration: 100-104)
    assert res["verdict"]["passed"], res["verdict"]
    mup = cli_json("run", "lazy-training", "-s", "model.parameterization=mup")
    assert mup["verdict"]["passed"], mup["verdict"]
    assert all("rich regime" in c["name"] for c in mup["verdict"]["checks"])
    assert dataclasses.is_dataclass(get_entry("lazy-training").resolve("quick"))
