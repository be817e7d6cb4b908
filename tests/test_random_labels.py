"""Random labels: the chance band against a brute-force binomial sum, the smoke pipeline, each control failing
its checks (a narrow network cannot memorize; shuffled inputs leave no signal), and quick on a held-out seed
(slow)."""

import math

import pytest

from phenomena.catalog.random_labels import CHANCE_BAND, ENTRY, _chance_band


@pytest.mark.parametrize("n", [200, 2000])
def test_chance_band_is_the_binomial_interval_summed_by_hand(n):
    log_comb = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in range(n + 1)]
    pmf = [math.exp(c + k * math.log(0.1) + (n - k) * math.log(0.9)) for k, c in enumerate(log_comb)]
    tail = (1 - CHANCE_BAND) / 2
    cdf, lo = 0.0, None
    for k, q in enumerate(pmf):  # the smallest k with P(X <= k) >= tail, and likewise from above
        cdf += q
        if lo is None and cdf >= tail:
            lo = k
    sf, hi = 0.0, None
    for k in range(n, -1, -1):
        sf += pmf[k]
        if sf >= tail:
            hi = k
            break
    assert _chance_band(n) == pytest.approx(max(0.1 - lo / n, hi / n - 0.1), abs=1.5 / n)
    assert _chance_band(2000) < _chance_band(200)


def test_smoke_through_the_cli_fits_every_level(cli_json):
    res = cli_json("run", "random-labels", "-p", "smoke")
    s = res["summary"]
    assert s["min_train_acc"] >= 0.99  # a 256-wide MLP memorizes 500 random labels
    assert s["test_acc_0"] > s["test_acc_1"] + 0.1
    assert math.isfinite(s["noisy_over_clean"]) and len(res["verdict"]["checks"]) == 5
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("control", ENTRY.controls, ids=lambda c: c.name)
def test_each_control_fails_its_checks_on_measured_values(cli_json, control):
    overrides = [a for k, v in control.overrides.items() for a in ("-s", f"{k}={v}")]
    res = cli_json("run", "random-labels", "-p", "smoke", *overrides)
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    s = res["summary"]
    if control.name == "narrow network":
        assert s["train_acc_1"] < 0.8  # measured far from memorized
    else:
        # still memorizes (the levels it trains: data.compared_only skips the others), but nothing generalizes
        assert min(s[f"train_acc_{k}"] for k in ("0", "0.5", "1")) >= 0.99 and abs(s["test_drop"]) < 0.1


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "random-labels", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
