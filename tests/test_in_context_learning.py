"""In-context learning: the baselines against independent computations (numpy lstsq per prompt, ridge as an
augmented least-squares problem, brute-force neighbours, the optimal error by Monte Carlo), the prompt layout,
the model's attention masks, the smoke pipeline, the no-attention control failing on measured values, and quick
on a held-out seed (slow)."""

import numpy as np
import pytest
import torch

from phenomena.analysis.icl_baselines import (
    averaging_predictions,
    least_squares_predictions,
    nearest_neighbor_predictions,
    normalized_squared_error,
    optimal_noiseless_error,
    ridge_predictions,
)
from phenomena.catalog.in_context_learning import ENTRY
from phenomena.data.linear_regression_prompts import linear_regression_prompts
from phenomena.errors import UserError
from phenomena.models.icl_transformer import ICLTransformer


def _prompts(batch=6, n=9, d=4, noise=0.3, seed=0):
    return linear_regression_prompts(batch, n, d, torch.Generator().manual_seed(seed), noise=noise)


def test_least_squares_matches_numpy_lstsq_prompt_by_prompt():
    p = _prompts()
    pred = least_squares_predictions(p.x, p.y).numpy()
    x, y = p.x.double().numpy(), p.y.double().numpy()
    for b in range(x.shape[0]):
        assert pred[b, 0] == 0
        for i in range(1, x.shape[1]):
            w = np.linalg.lstsq(x[b, :i], y[b, :i], rcond=None)[0]  # min-norm when i < d
            assert pred[b, i] == pytest.approx(x[b, i] @ w, abs=1e-4)


def test_ridge_is_least_squares_on_the_augmented_system():
    p, alpha = _prompts(), 0.7
    pred = ridge_predictions(p.x, p.y, alpha).numpy()
    x, y = p.x.double().numpy(), p.y.double().numpy()
    d = x.shape[2]
    for b in range(x.shape[0]):
        for i in range(1, x.shape[1]):
            a = np.vstack([x[b, :i], np.sqrt(alpha) * np.eye(d)])
            w = np.linalg.lstsq(a, np.concatenate([y[b, :i], np.zeros(d)]), rcond=None)[0]
            assert pred[b, i] == pytest.approx(x[b, i] @ w, abs=1e-4)
    with pytest.raises(UserError):
        ridge_predictions(p.x, p.y, 0.0)


def test_averaging_and_nearest_neighbours_match_loops():
    p = _prompts(batch=3, n=8, d=3)
    avg, knn = averaging_predictions(p.x, p.y).numpy(), nearest_neighbor_predictions(p.x, p.y, 3).numpy()
    x, y = p.x.numpy(), p.y.numpy()
    for b in range(3):
        for i in range(1, 8):
            w = sum(y[b, j] * x[b, j] for j in range(i)) / i
            assert avg[b, i] == pytest.approx(x[b, i] @ w, abs=1e-4)
            order = sorted(range(i), key=lambda j: float(np.sum((x[b, j] - x[b, i]) ** 2)))
            assert knn[b, i] == pytest.approx(np.mean([y[b, j] for j in order[:3]]), abs=1e-5)


def test_optimal_noiseless_error_matches_monte_carlo_of_the_projection_residual():
    rng, d, trials = np.random.default_rng(1), 5, 4000
    for k in range(0, 8):
        err = 0.0
        for _ in range(trials):  # the posterior mean predicts the part of x_q in the span of the examples exactly
            xs, xq, w = rng.standard_normal((k, d)), rng.standard_normal(d), rng.standard_normal(d)
            w_hat = np.linalg.lstsq(xs, xs @ w, rcond=None)[0] if k else np.zeros(d)
            err += (xq @ (w - w_hat)) ** 2
        assert err / trials / d == pytest.approx(optimal_noiseless_error(d, k), abs=0.06)
    assert optimal_noiseless_error(5, 2) == pytest.approx(0.6) and optimal_noiseless_error(5, 9) == 0


def test_least_squares_error_curve_follows_the_optimal_error():
    p = linear_regression_prompts(3000, 9, 5, torch.Generator().manual_seed(2))
    curve = normalized_squared_error(least_squares_predictions(p.x, p.y), p.y, 5)
    for k, v in enumerate(curve.tolist()):
        assert v == pytest.approx(optimal_noiseless_error(5, k), abs=0.07)


def test_prompts_interleave_x_and_zero_padded_y():
    p = _prompts(noise=0.0)
    assert torch.allclose(p.y, (p.x @ p.w[:, :, None])[..., 0])
    z = p.tokens()
    assert torch.equal(z[:, 0::2], p.x) and torch.equal(z[:, 1::2, 0], p.y) and not z[:, 1::2, 1:].any()
    shuffled = p.tokens(shuffle_y=torch.Generator().manual_seed(0))[:, 1::2, 0]
    assert torch.equal(shuffled.sort(1).values, p.y.sort(1).values) and not torch.equal(shuffled, p.y)


def test_causal_model_ignores_the_future_and_the_no_attention_model_ignores_everything_else():
    z = torch.randn(2, 10, 4)
    changed = z.clone()
    changed[:, 5:] += 1.0
    causal, isolated = (
        ICLTransformer(4, 10, d_model=16, seed=0),
        ICLTransformer(4, 10, d_model=16, attention="diagonal"),
    )
    assert torch.allclose(causal(z)[:, :5], causal(changed)[:, :5], atol=1e-6)
    assert not torch.allclose(causal(z)[:, 5:], causal(changed)[:, 5:])
    early = z.clone()
    early[:, :5] += 1.0
    assert torch.allclose(isolated(z)[:, 5:], isolated(early)[:, 5:], atol=1e-6)
    assert not torch.allclose(causal(z)[:, 5:], causal(early)[:, 5:])


def test_smoke_through_the_cli_draws_the_error_curves(cli_json):
    res = cli_json("run", "in-context-learning", "-p", "smoke")
    s = res["summary"]
    assert s["late_error_least_squares"] < 1e-6 and 0 < s["late_error"] < 2
    assert len(res["verdict"]["checks"]) == 4
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_attention_across_positions_the_late_error_check_fails_on_a_measured_value(cli_json):
    control = next(c for c in ENTRY.controls if c.overrides == {"model.attention": "diagonal"})
    res = cli_json("run", "in-context-learning", "-p", "smoke", "-s", "model.attention=diagonal")
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and not check["passed"], check
    assert res["summary"]["late_error"] > 0.8  # about the no-context error 1: the examples are unused


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "in-context-learning", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
