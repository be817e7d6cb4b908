"""Spectral bias: the per-frequency error against a least-squares Fourier fit, the target's spectrum in closed form,
the learning steps against a loop, the smoke pipeline, the Fourier-feature control failing the ordering checks,
and quick on a held-out seed (slow)."""

import math

import numpy as np
import pytest
import torch

from phenomena.analysis.spectral import learning_steps, relative_spectral_error
from phenomena.catalog import spectral_bias as sb
from phenomena.catalog.spectral_bias import (
    ENTRY,
    Config,
    Data,
    FourierFeatures,
    Train,
    make_target,
    target_frequencies,
)
from phenomena.experiment import RunContext


def _sin_cos_fit(values: np.ndarray, x: np.ndarray, k: int) -> complex:
    """The (a, b) of the least-squares fit a cos 2πkx + b sin 2πkx, as the complex number a − ib."""
    basis = np.stack([np.cos(2 * math.pi * k * x), np.sin(2 * math.pi * k * x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, values, rcond=None)
    return complex(a, -b)


def test_relative_error_matches_a_least_squares_fourier_fit():
    data = Data(points=120, frequencies=6, k_first=4, k_step=7)
    x, y = make_target(data, seed=1)
    rng = np.random.default_rng(0)
    output = 0.6 * y + rng.standard_normal(len(x))  # partly fitted, plus noise at every frequency
    ks = target_frequencies(data)
    fitted = np.array(
        [abs(_sin_cos_fit(output, x, k) - _sin_cos_fit(y, x, k)) / abs(_sin_cos_fit(y, x, k)) for k in ks]
    )
    np.testing.assert_allclose(relative_spectral_error(output, y, ks), fitted, rtol=1e-9)
    np.testing.assert_allclose(relative_spectral_error(y, y, ks), 0, atol=1e-12)
    np.testing.assert_allclose(relative_spectral_error(np.zeros_like(y), y, ks), 1, rtol=1e-12)


@pytest.mark.parametrize("amplitudes", ["equal", "increasing"])
def test_the_target_has_its_amplitudes_at_its_frequencies_and_nothing_else(amplitudes):
    data = Data(points=200, amplitudes=amplitudes)
    x, y = make_target(data, seed=5)
    spectrum = np.abs(np.fft.rfft(y)) * 2 / len(x)  # a sin of amplitude A has |X_k| = A N / 2
    ks = target_frequencies(data)
    expected = np.ones(len(ks)) if amplitudes == "equal" else np.arange(1, len(ks) + 1) / len(ks)
    np.testing.assert_allclose(spectrum[ks], expected, rtol=1e-9)
    assert np.delete(spectrum, ks).max() < 1e-9
    assert list(ks) == list(range(2, 21, 2))


def test_frequencies_at_or_above_nyquist_are_refused():
    with pytest.raises(ValueError, match="Nyquist"):
        make_target(Data(points=40), seed=0)


def test_learning_steps_match_a_loop_and_never_learned_is_nan():
    rng = np.random.default_rng(3)
    steps = np.sort(rng.choice(1000, 50, replace=False))
    errors = rng.uniform(0.3, 2.0, (50, 6))
    errors[:, 5] = 0.9  # never below the threshold
    found = learning_steps(steps, errors, 0.5)
    for j in range(6):
        expected = next((float(s) for s, e in zip(steps, errors[:, j], strict=True) if e < 0.5), math.nan)
        assert found[j] == expected or (math.isnan(found[j]) and math.isnan(expected))
    assert math.isnan(found[5])
    np.testing.assert_array_equal(learning_steps([0, 1, 2], [[1, 1], [0.4, 1], [0.3, 0.2]], 0.5), [1, 2])


def test_fourier_features_lie_on_unit_circles_at_the_drawn_frequencies():
    emb = FourierFeatures(30.0, 16, torch.Generator().manual_seed(0))
    x = torch.linspace(0, 1, 50)[:, None]
    z = emb(x)
    assert z.shape == (50, 32)
    torch.testing.assert_close(z[:, :16] ** 2 + z[:, 16:] ** 2, torch.ones(50, 16))
    torch.testing.assert_close(z[:, :16], torch.cos(2 * math.pi * x * emb.b))


def test_the_run_records_what_a_hand_written_adam_loop_sees(tmp_path):
    """The entry trains through phenomena.training.fit and records the grid output inside the loss; a plain Adam
    loop (forward, record, step) from the same seeds must see the same outputs, hence the same learning steps."""
    cfg = Config(data=Data(points=64, frequencies=4), train=Train(steps=300, lr=1e-2, points=10))
    ctx = RunContext("t", seed=7, artifacts=tmp_path, cache=tmp_path, show_progress=False, experiment="spectral-bias")
    res = sb.run(cfg, ctx)
    x, y = make_target(cfg.data, ctx.stream_seed("data"))
    net = sb.make_model(cfg, ctx.generator("init"))
    xt, yt = torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.lr)
    outputs = []
    for step in range(cfg.train.steps + 1):
        out = net(xt)[:, 0]
        outputs.append(out.detach().numpy().astype(np.float64))
        if step < cfg.train.steps:
            opt.zero_grad()
            ((out - yt) ** 2).mean().backward()
            opt.step()
    ks = target_frequencies(cfg.data)
    errors = relative_spectral_error(np.array(outputs), y, ks)
    expected = learning_steps(np.arange(cfg.train.steps + 1), errors, cfg.train.threshold)
    found = [res.summary[f"learned_step_k{k}"] for k in ks]
    np.testing.assert_array_equal(found, expected)
    assert np.isfinite(expected).sum() >= 2  # some frequencies are learned: the comparison has steps to compare
    final = errors[-1].max()
    assert res.summary["final_max_error"] == pytest.approx(final, rel=1e-5)


def test_smoke_through_the_cli_measures_the_learning_steps(cli_json):
    res = cli_json("run", "spectral-bias", "-p", "smoke")
    s = res["summary"]
    ks = target_frequencies(Config().data)[:4]
    assert all(f"learned_step_k{k}" in s for k in ks) and len(res["verdict"]["checks"]) == 3
    assert 0 < s["fraction_learned"] <= 1
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_random_fourier_features_fail_the_ordering_checks(cli_json):
    (control,) = ENTRY.controls
    overrides = [f"{key}={value}" for key, value in control.overrides.items()]
    res = cli_json("run", "spectral-bias", "-p", "smoke", *[t for o in overrides for t in ("-s", o)])
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and not check["passed"], check  # measured, and failing
    assert res["summary"]["fraction_learned"] == 1  # every frequency is learned, just not in order


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "spectral-bias", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
