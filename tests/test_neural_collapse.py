"""Neural collapse: smoke through the CLI, the controls that must fail (no weight decay, too few epochs, too little
imbalance), the MSE and imbalanced code paths, oracles for the helpers (terminal-phase start, classifier cosines,
Han et al.'s MSE decomposition and its ridge), and the quick preset on a held-out seed with both variants (slow).
"""

import math

import pytest
import torch

from phenomena.catalog.neural_collapse import (
    ENTRY,
    MIN_MINORITY_COS,
    MIN_NC1_FALL,
    central_path_ridge,
    class_counts,
    probe_epochs,
)
from phenomena.models import CollapseNet
from phenomena.probes.collapse import classifier_cosines, mse_decomposition
from phenomena.result import decode_float
from phenomena.training import loss_function


def _failed(res) -> list[str]:
    return [c["name"] for c in res["verdict"]["checks"] if not c["passed"]]


def _control(name: str):
    """The declared control ``name`` and its overrides as CLI arguments."""
    ctrl = next(c for c in ENTRY.controls if c.name == name)
    return ctrl, [arg for k, v in ctrl.overrides.items() for arg in ("-s", f"{k}={v}")]


def _must_fail_failed(ctrl, res) -> bool:
    failed = _failed(res)
    return all(any(name.startswith(prefix) for name in failed) for prefix in ctrl.must_fail)


def test_smoke_through_the_cli_collapses_and_draws(cli_json, home):
    from phenomena.api import load

    res = cli_json("run", "neural-collapse", "--preset", "smoke")
    s = res["summary"]
    epochs, errors = load(res["run_id"], store=home).curve("train_error")
    # the TPT starts at the first zero training error: every probed epoch before it still errs
    assert all(e > 0 for ep, e in zip(epochs, errors, strict=True) if ep < s["tpt_epoch"])
    assert s["tpt_epoch"] in epochs
    assert len(res["verdict"]["checks"]) == 9 and res["verdict"]["passed"], res["verdict"]
    assert 0 < s["tpt_epoch"] < 1000 and s["tpt_fraction"] == pytest.approx((1000 - s["tpt_epoch"]) / 1000)
    assert s["train_error_at_tpt"] == 0 and s["nc1_at_tpt"] > s["nc1_final"] > 0
    assert s["nc1_fall"] == pytest.approx(s["nc1_at_tpt"] / s["nc1_final"]) and s["nc1_fall"] >= MIN_NC1_FALL
    assert s["n_train"] == 300 and s["lr"] == 0.1 and s["etf_cosine"] == pytest.approx(-1 / 9)
    assert "l_perp_final" not in s and "cos_minority_final" not in s
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_weight_decay_nc1_does_not_fall_tenfold(cli_json):
    # Measured on smoke (seeds 0, 100-102): the net still fits, but NC1 falls only 1.5-1.9x and NC3 1.3-1.4x.
    ctrl, overrides = _control("no weight decay")
    res = cli_json("run", "neural-collapse", "-p", "smoke", *overrides)
    s = res["summary"]
    assert s["train_error_final"] == 0 and s["tpt_fraction"] > 0.9  # a long terminal phase, yet no collapse
    assert s["nc1_fall"] < 3
    assert _must_fail_failed(ctrl, res), _failed(res)


def test_too_few_epochs_never_reach_the_terminal_phase(cli_json):
    # Measured on smoke (seeds 0, 100-104): training error 0.47-0.64, classifier CoV 0.049-0.099 (threshold
    # 0.025), classifier Avg|cos + 1/9| 0.137-0.162 (0.075), NC4 0.46-0.62 (0.02): no ETF without a TPT
    ctrl, overrides = _control("no terminal phase")
    res = cli_json("run", "neural-collapse", "-p", "smoke", *overrides)
    s = res["summary"]
    unmeasured = [math.isnan(decode_float(s[k])) for k in ("tpt_epoch", "nc1_fall")]  # no TPT: nothing to measure
    assert s["train_error_final"] > 0 and all(unmeasured)
    assert not res["verdict"]["passed"] and _must_fail_failed(ctrl, res), _failed(res)


def test_mse_variant_splits_the_loss_and_adds_the_central_path_check(cli_json):
    res = cli_json("run", "neural-collapse", "-p", "smoke", "-s", "train.loss=mse", "-s", "train.lr=0")
    s, checks = res["summary"], res["verdict"]["checks"]
    assert s["lr"] == 0.2  # train.lr=0: the MSE default
    assert len(checks) == 10 and "L_⊥" in checks[-1]["name"]
    assert s["total_final"] == pytest.approx(s["l_nc1_final"] + s["l_nc23_final"] + s["l_perp_final"], rel=1e-9)
    assert s["l_perp_fraction_final"] == pytest.approx(s["l_perp_final"] / s["total_final"])
    assert s["nc1_fall"] >= MIN_NC1_FALL


def test_minority_collapse_on_smoke_and_its_control(cli_json):
    # Measured (seeds 0-1, wd 0.04): R = 30 leaves one example per minority class and their classifiers collapse
    # (cosine 0.99); at R = 10 (three examples each) the cosine stays at 0.04.
    res = cli_json("run", "neural-collapse", "-p", "smoke", "-s", "data.imbalance=30", "-s", "train.weight_decay=0.04")
    s = res["summary"]
    assert len(res["verdict"]["checks"]) == 3 and res["verdict"]["passed"], res["verdict"]
    assert s["n_train"] == 5 * 30 + 5 and s["cos_minority_final"] > 0.9 and s["angle_minority_deg"] < 25
    assert s["cos_majority_final"] < s["etf_cosine"] and s["train_error_majority_final"] == 0
    control = cli_json(
        "run", "neural-collapse", "-p", "smoke", "-s", "data.imbalance=10", "-s", "train.weight_decay=0.04"
    )
    assert control["summary"]["cos_minority_final"] < MIN_MINORITY_COS
    assert [name.startswith("minority collapse") for name in _failed(control)] == [True]


def test_more_examples_than_a_class_has_is_a_user_error(cli):
    code, out, err = cli("run", "neural-collapse", "-p", "smoke", "-s", "data.per_class=1000")
    assert code == 2 and err.count("\n") == 1 and "data.per_class" in err, err


def test_probe_epochs_are_dense_early_and_cover_the_run():
    e = probe_epochs(3000, 80)
    assert e[:4] == [0, 1, 2, 3] and e[-1] == 3000 and e == sorted(set(e))
    assert 60 <= len(e) <= 82 and max(b - a for a, b in zip(e, e[1:], strict=False)) <= 3000 / 40 + 1
    assert probe_epochs(1, 4) == [0, 1]


def test_class_counts_give_the_minority_one_rth():
    assert class_counts(100, 1.0, 5) == [100] * 10
    assert class_counts(100, 10.0, 5) == [100] * 5 + [10] * 5
    assert class_counts(100, 30.0, 3) == [100] * 7 + [3] * 3
    assert class_counts(100, 1000.0, 5)[-1] == 1  # never an empty class


def test_classifier_cosines_of_an_etf_and_of_a_minority_collapse():
    c = 10
    g = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    etf = (torch.eye(c, dtype=torch.float64) - 1 / c)[:, :c] @ rotation[:c]  # simplex ETF rows in R^16
    scaled = etf * torch.linspace(0.5, 3.0, c, dtype=torch.float64)[:, None]  # cosines ignore row norms
    for weight in (etf, scaled):
        majority, minority = classifier_cosines(weight, 5)
        assert majority == pytest.approx(-1 / 9) and minority == pytest.approx(-1 / 9)
    # five majority rows forming a 5-class simplex, five identical minority rows orthogonal to them
    collapsed = torch.zeros(c, 16, dtype=torch.float64)
    collapsed[:5, :5] = torch.eye(5, dtype=torch.float64) - 1 / 5
    collapsed[5:, 7] = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=torch.float64)
    majority, minority = classifier_cosines(collapsed, 5)
    assert majority == pytest.approx(-1 / 4) and minority == pytest.approx(1.0)
    majority, minority = classifier_cosines(collapsed, 2)  # the split moves with the minority count
    assert minority == pytest.approx(1.0) and majority < 0.5


def _balanced_features(n_per_class=12, c=4, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(c).repeat(n_per_class)
    noise = torch.randn(len(y), d, generator=g, dtype=torch.float64)
    h = noise + 2 * torch.randn(c, d, generator=g, dtype=torch.float64)[y]  # noise first, then the class centres
    return h, y, g


def _least_squares(h, y, c, ridge):
    """The ridge least-squares classifier by solving the normal equations of f_λ on [h, 1] directly."""
    aug = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1)
    onehot = torch.nn.functional.one_hot(y, c).to(h.dtype)
    n = len(h)
    theta = torch.linalg.solve(aug.T @ aug / n + ridge * torch.eye(aug.shape[1], dtype=h.dtype), aug.T @ onehot / n)
    return theta[:-1].T, theta[-1]


@pytest.mark.parametrize("ridge", [0.0, 0.01, 0.5])
def test_mse_decomposition_sums_to_the_loss_and_vanishes_at_least_squares(ridge):
    h, y, g = _balanced_features()
    w, b = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    d = mse_decomposition(h, y, w, b, ridge)
    direct = 0.5 * ((h @ w.T + b - torch.nn.functional.one_hot(y, 4)) ** 2).sum(1).mean() + 0.5 * ridge * (
        (w**2).sum() + (b**2).sum()
    )
    assert d["total"] == pytest.approx(float(direct), rel=1e-12)
    assert d["l_nc1"] + d["l_nc23"] + d["l_perp"] == pytest.approx(d["total"], rel=1e-10)
    assert d["l_perp"] > 0.5 * d["total"]  # a random classifier is far from least squares
    w_ls, b_ls = _least_squares(h, y, 4, ridge)
    at_ls = mse_decomposition(h, y, w_ls, b_ls, ridge)
    assert at_ls["l_perp"] == pytest.approx(0.0, abs=1e-12 * at_ls["total"])
    assert at_ls["l_nc1"] + at_ls["l_nc23"] == pytest.approx(at_ls["total"], rel=1e-10)
    assert at_ls["l_nc1"] > 0 and at_ls["l_nc23"] > 0


def test_mse_decomposition_without_ridge_survives_dead_and_constant_features():
    # ReLU features can be 0 or constant for every example; with λ = 0 the moment matrix is then singular
    h, y, g = _balanced_features(d=8)
    h[:, 2], h[:, 5] = 0.0, 0.7
    w, b = torch.randn(4, 8, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    d = mse_decomposition(h, y, w, b, 0.0)
    assert all(math.isfinite(v) for v in d.values())
    assert d["l_nc1"] + d["l_nc23"] + d["l_perp"] == pytest.approx(d["total"], rel=1e-9)
    aug = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1)
    theta = torch.linalg.pinv(aug) @ torch.nn.functional.one_hot(y, 4).to(h.dtype)  # a least-squares solution
    at_ls = mse_decomposition(h, y, theta[:-1].T, theta[-1], 0.0)
    assert at_ls["l_perp"] == pytest.approx(0.0, abs=1e-10 * at_ls["total"])


def test_central_path_ridge_is_the_one_the_trainer_minimizes():
    # At the least-squares classifier for λ = C·wd/2, the gradient of the training objective (our MSE averaged
    # over outputs, plus SGD's coupled weight decay wd/2·‖θ‖²) vanishes; at Han et al.'s demo λ = wd/2 it does not.
    h, y, _ = _balanced_features(c=5)
    wd = 0.05
    mse = loss_function("mse")

    def grad_norm(ridge: float) -> float:
        w, b = (t.clone().requires_grad_() for t in _least_squares(h, y, 5, ridge))
        objective = mse(h @ w.T + b, y) + wd / 2 * ((w**2).sum() + (b**2).sum())
        gw, gb = torch.autograd.grad(objective, (w, b))
        return math.hypot(gw.norm().item(), gb.norm().item())

    assert grad_norm(central_path_ridge(5, wd)) < 1e-12 and grad_norm(wd / 2) > 1e-4


def test_collapse_net_initializes_from_its_own_generator():
    # the weights depend on the seed only, not on the global RNG's state
    torch.manual_seed(1)
    a = CollapseNet(40, 10, 16, 3, True, seed=3)
    torch.manual_seed(2)
    b = CollapseNet(40, 10, 16, 3, True, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = CollapseNet(40, 10, 16, 3, True, seed=4)
    assert not torch.equal(a.head.weight, c.head.weight)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in a.body) == 3
    assert a.body(torch.zeros(2, 40)).shape == (2, 16) and a(torch.zeros(2, 40)).shape == (2, 10)


@pytest.mark.slow
def test_quick_preset_passes_on_a_held_out_seed(cli_json):
    assert 0 not in ENTRY.calibration.seeds
    res = cli_json("run", "neural-collapse", "--seed", "0")
    assert res["verdict"]["passed"], res["verdict"]


@pytest.mark.slow
def test_quick_mse_variant_passes(cli_json):
    res = cli_json("run", "neural-collapse", "-s", "train.loss=mse")
    assert res["summary"]["lr"] == 0.2 and res["verdict"]["passed"], res["verdict"]


@pytest.mark.slow
def test_quick_imbalanced_variant_shows_minority_collapse(cli_json):
    res = cli_json("run", "neural-collapse", "-s", "data.imbalance=100", "-s", "train.weight_decay=0.02")
    assert res["verdict"]["passed"], res["verdict"]
