"""Max margin: the hard-margin SVM against the primal solved another way, the smoke pipeline, the weight-decay
control failing the rate checks, and quick on a held-out seed (slow)."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from phenomena.analysis.max_margin import angle, hard_margin_svm
from phenomena.catalog.max_margin import ENTRY, Config, make_data
from phenomena.errors import UserError


def test_the_dual_solution_is_the_primal_hard_margin_svm():
    x, y = make_data(Config(), seed=3)
    w = hard_margin_svm(x, y)
    z = y[:, None] * x
    primal = minimize(
        lambda v: (0.5 * v @ v, v),
        np.ones(x.shape[1]),
        jac=True,
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda v: z @ v - 1, "jac": lambda v: z}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert np.linalg.norm(w - primal.x) < 1e-4 * np.linalg.norm(w)
    assert (z @ w).min() == pytest.approx(1, abs=1e-4)  # the margin constraints are tight at the support vectors


def test_non_separable_data_have_no_hard_margin_direction():
    x, y = make_data(Config(), seed=3)
    y[0] = -y[0]
    x[1], y[1] = x[0], -y[0]  # the same point with both labels: no direction separates them
    with pytest.raises(UserError, match="not linearly separable"):
        hard_margin_svm(x, y)


def test_angle_is_zero_for_parallel_and_pi_over_2_for_orthogonal_vectors():
    assert angle(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(0, abs=1e-7)
    assert angle(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(math.pi / 2)


def test_smoke_through_the_cli_measures_the_rates(cli_json):
    res = cli_json("run", "max-margin", "-p", "smoke")
    s = res["summary"]
    assert -1.3 < s["loss_slope"] < -0.7 and 0.6 < s["norm_rate_over_w_hat"] < 1.2
    assert s["angle_fall"] < 1 and len(res["verdict"]["checks"]) == 4
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_weight_decay_stops_the_growth_and_fails_the_rate_checks(cli_json):
    (control,) = ENTRY.controls
    res = cli_json("run", "max-margin", "-p", "smoke", "-s", "train.weight_decay=0.001")
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and not check["passed"], check  # measured, and failing
    assert abs(res["summary"]["loss_slope"]) < 0.3  # the loss is levelling off, far from the slope -1 without it


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "max-margin", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
