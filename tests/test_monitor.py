"""The Monitor in a plain PyTorch loop: its probes equal the pure probes called directly, it leaves no trace on the
model, its gradients or the global RNGs (training with it is bitwise training without it), and its record
round-trips through the store."""

import ast
import copy
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena import probes as pr
from phenomena.errors import UserError
from phenomena.monitor import (
    Monitor,
    cka_to,
    effective_rank,
    hessian_trace,
    neural_collapse,
    ntk_alignment,
    ntk_velocity,
    sharpness,
)
from phenomena.store import Store

DT = torch.float64


def mlp(seed=0, dropout=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 12), nn.Tanh(), nn.Linear(12, 3)]
    if dropout:
        layers = [nn.Linear(4, 12), nn.BatchNorm1d(12), nn.Tanh(), nn.Dropout(0.3), nn.Linear(12, 3)]
    return nn.Sequential(*layers).to(DT)


def data(n=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=DT)
    return x, torch.arange(n) % 3


def sgd_step(model, opt, x, y):
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()


def test_sharpness_equals_the_direct_probe_at_every_measured_step():
    model, (x, y) = mlp(), data()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    probe = sharpness(F.cross_entropy, tol=1e-10)
    monitor = Monitor(model, {"sharpness": probe}, every=2)
    compared = 0
    for step in range(7):
        got = monitor.step(step, (x, y))
        if got is not None:
            direct = pr.hessian_eigenvalues(model, F.cross_entropy, (x, y), k=1, tol=1e-10)  # cold start
            assert got["sharpness"] == pytest.approx(float(direct.values[0]), abs=1e-6)
            compared += 1
        sgd_step(model, opt, x, y)
    assert compared == 4 and monitor.curve("sharpness")[0] == [0, 2, 4, 6]
    top = sharpness(F.cross_entropy, k=2, tol=1e-10)(model, (x, y))
    direct = pr.hessian_eigenvalues(model, F.cross_entropy, (x, y), k=2, tol=1e-10).values
    assert [top["lambda_1"], top["lambda_2"]] == pytest.approx(list(direct), abs=1e-6)


def test_the_factories_are_the_pure_probes():
    model, (x, y) = mlp(), data()
    reference = copy.deepcopy(model).eval()
    tr = hessian_trace(F.cross_entropy, probes=8, seed=3, stderr=True)(model, (x, y))
    direct = pr.hessian_trace(model, F.cross_entropy, (x, y), n_probes=8, generator=torch.Generator().manual_seed(3))
    assert (tr["estimate"], tr["stderr"]) == (direct.estimate, direct.stderr)

    nc = neural_collapse(model[1], classifier=model[2])(model, (x, y))
    assert nc == pr.neural_collapse(model[1](model[0](x)).detach(), y, model[2].weight, model[2].bias)
    only = neural_collapse(model[2], where="input", metrics=["nc1"])(model, [(x[:12], y[:12]), (x[12:], y[12:])])
    assert only["nc1"] == pytest.approx(nc["nc1"], rel=1e-12)

    assert effective_rank(model[0])(model, None) == pr.effective_rank(model[0].weight)
    features = model[1](model[0](x)).detach()
    assert effective_rank(model[1], of="output")(model, (x, y)) == pr.effective_rank(features, center=True)
    assert cka_to(reference, "1")(model, (x, y)) == pytest.approx(1.0, abs=1e-12)

    velocity = ntk_velocity()
    first = velocity(model, (x[:6], y[:6]), step=0)
    # the kernel against itself: 0 up to rounding (1 - cos(K, K) is ~3e-16 with the scalar CPU kernels)
    assert first["distance"] == pytest.approx(0, abs=1e-12) and first["relative_change"] == pytest.approx(0, abs=1e-12)
    assert math.isnan(first["velocity"])
    with torch.no_grad():
        model[0].weight.mul_(1.5)
    later = velocity(model, (x[6:], y[6:]), step=10)  # the inputs of the first call are kept
    k0 = pr.empirical_ntk(reference, x[:6], trace=True)
    k1 = pr.empirical_ntk(model, x[:6], trace=True)
    assert later["distance"] == pytest.approx(pr.kernel_distance(k0, k1), rel=1e-10) and later["distance"] > 0
    assert later["velocity"] == pytest.approx(later["distance"] / 10, rel=1e-10)
    k2 = pr.empirical_ntk(model, x[:9], trace=True)
    assert ntk_alignment()(model, (x[:9], y[:9])) == pytest.approx(pr.kernel_alignment(k2, y[:9]), rel=1e-12)


def _vandal(model, batch, **context):
    """A probe that changes everything it can: the Monitor must undo all of it."""
    model.train()
    model[1].eval()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.add_(3.0)
    model[4].weight = nn.Parameter(torch.zeros_like(model[4].weight))  # a new Parameter object
    model[0].bias.requires_grad_(False)
    model.zero_grad(set_to_none=True)
    model[4].bias.grad = torch.ones_like(model[4].bias)  # was None
    F.cross_entropy(model(batch[0]), batch[1]).backward()  # dropout and BatchNorm in train mode: RNG, stats
    torch.rand(5), random.random(), np.random.rand()
    torch.set_grad_enabled(False)
    return 0.0


def _state(model):
    return {
        "modes": [m.training for m in model.modules()],
        "params": [(id(p), p.detach().clone(), p.requires_grad) for p in model.parameters()],
        "grads": [(None if p.grad is None else (id(p.grad), p.grad.clone())) for p in model.parameters()],
        "buffers": [(id(b), b.clone()) for b in model.buffers()],
        "rng": (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()),
        "grad_mode": torch.is_grad_enabled(),
    }


def _assert_same(a, b):
    assert a["modes"] == b["modes"] and a["grad_mode"] == b["grad_mode"]
    for (i, p, r), (j, q, s) in zip(a["params"], b["params"], strict=True):
        assert i == j and r == s and torch.equal(p, q)
    for g, h in zip(a["grads"], b["grads"], strict=True):
        assert (g is None) == (h is None)
        if g is not None:
            assert g[0] == h[0] and torch.equal(g[1], h[1])
    for (i, u), (j, v) in zip(a["buffers"], b["buffers"], strict=True):
        assert i == j and torch.equal(u, v)
    assert torch.equal(a["rng"][0], b["rng"][0]) and a["rng"][1] == b["rng"][1]
    assert np.array_equal(a["rng"][2], b["rng"][2])


def _train(monitor_probes, steps=5, eval_mode=True):
    """Train a dropout + BatchNorm net with Adam; return its parameters, grads and the RNG draws that follow."""
    model, (x, y) = mlp(seed=4, dropout=True), data()
    model[3].eval()  # mixed modes: one module in eval mode while the rest trains
    torch.manual_seed(7)
    random.seed(7)
    np.random.seed(7)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    monitor = Monitor(model, monitor_probes(model, x, y), every=2, eval_mode=eval_mode) if monitor_probes else None
    for step in range(steps):
        sgd_step(model, opt, x, y)
        model[0].bias.grad = None  # a None grad next to tensor grads
        if monitor is not None:
            before = _state(model)
            got = monitor.step(step, (x, y))
            _assert_same(before, _state(model))
            assert (got is not None) == (step % 2 == 0)
    return [p.detach().clone() for p in model.parameters()], torch.rand(3), random.random(), np.random.rand()


def test_probes_leave_no_trace_and_training_is_unchanged():
    def probes(model, x, y):
        reference = copy.deepcopy(model).eval()
        return {
            "vandal": _vandal,
            "sharpness": sharpness(F.cross_entropy),
            "trace": hessian_trace(F.cross_entropy, probes=4),
            "nc": neural_collapse(model[2], classifier=model[4], metrics=["nc1", "nc3"]),
            "cka": cka_to(reference, model[2]),
            "ntk": ntk_velocity(x[:5]),
            "rank": effective_rank(model[2], of="output"),
            "noise": lambda m, b, **c: float(m(b[0]).detach().sum() + torch.randn(()) + random.random()),
        }

    plain = _train(None)
    probed = _train(probes)
    for p, q in zip(plain[0], probed[0], strict=True):
        assert torch.equal(p, q)
    assert torch.equal(plain[1], probed[1]) and plain[2:] == probed[2:]


def test_a_failing_probe_leaves_no_trace_either():
    model, (x, y) = mlp(seed=4, dropout=True), data()

    def broken(m, b, **c):
        _vandal(m, b)
        raise RuntimeError("boom")

    before = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        Monitor(model, {"broken": broken}, every=1).step(0, (x, y))
    _assert_same(before, _state(model))


def test_history_curves_and_figure():
    model, (x, y) = mlp(), data()
    seen = []

    def stats(m, b, step):
        seen.append(step)
        return {"mean": float(m(b[0]).detach().mean()), "norm": torch.linalg.vector_norm(m[0].weight)}

    monitor = Monitor(model, {"stats": stats, "plain": lambda m, b: 2.0}, every=3, name="tiny")
    results = [monitor.step(s, (x, y)) for s in range(10)]
    assert [s for s, r in enumerate(results) if r is not None] == [0, 3, 6, 9] == seen
    assert set(results[3]) == {"stats.mean", "stats.norm", "plain"}
    assert monitor.step(9, (x, y)) is None  # a repeated step (gradient accumulation) is measured once
    assert monitor.history[:3] == [
        {"step": 0, "probe": "stats.mean", "value": results[0]["stats.mean"]},
        {"step": 0, "probe": "stats.norm", "value": results[0]["stats.norm"]},
        {"step": 0, "probe": "plain", "value": 2.0},
    ]
    assert monitor.curve("plain") == ([0, 3, 6, 9], [2.0] * 4)
    assert monitor.curve("stats.norm")[1] == [r["stats.norm"] for r in results if r]
    assert monitor.summary()["stats.mean"] == results[9]["stats.mean"]
    with pytest.raises(UserError, match="stats.mean"):
        monitor.curve("stats")
    with pytest.raises(UserError, match="no curve 'nope'"):
        monitor.curve("nope")
    fig = monitor.figure()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["stats", "plain"]
    assert len(panels[0].get_lines()) == 2 and len(panels[1].get_lines()) == 1
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"probes": {}}, "non-empty"),
        ({"probes": {"a.b": lambda m, b: 0.0}}, "without '.'"),
        ({"probes": {"a": 3}}, "not callable"),
        ({"every": 0}, "every"),
        ({"store": 3}, "store"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs, match):
    args = {"probes": {"a": lambda m, b: 0.0}, **kwargs}
    with pytest.raises(UserError, match=match):
        Monitor(mlp(), **args)


def test_bad_values_and_missing_batches_are_user_errors():
    model = mlp()
    with pytest.raises(UserError, match="returned a str"):
        Monitor(model, {"a": lambda m, b: "high"}, every=1).step(0)
    with pytest.raises(UserError, match="needs data"):
        Monitor(model, {"s": sharpness(F.cross_entropy)}, every=1).step(0)
    with pytest.raises(UserError, match="non-negative integer"):
        Monitor(model, {"a": lambda m, b: 0.0}).step(-1)


def test_the_record_round_trips_through_the_store(tmp_path):
    model, (x, y) = mlp(), data()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    root = tmp_path / "store"
    with Monitor(
        model,
        {"sharpness": sharpness(F.cross_entropy), "nc": neural_collapse(model[1], metrics=["nc1", "cdnv"])},
        every=2,
        store=root,
        name="mlp",
    ) as monitor:
        for step in range(5):
            monitor.step(step, (x, y))
            sgd_step(model, opt, x, y)
    run_id = monitor.run_id
    assert run_id and monitor.close() == run_id  # closing again writes nothing new
    store = Store(root)
    record = store.get(run_id)
    assert (record.experiment, record.preset, record.status) == ("monitor", None, "finished")
    assert record.config == {"name": "mlp", "every": 2, "probes": ["sharpness", "nc"], "eval_mode": False}
    assert record.summary == monitor.summary()
    assert store.metrics(run_id) == monitor.curves()
    assert set(store.metrics(run_id)) == {"sharpness", "nc.nc1", "nc.cdnv"}
    assert (store.run_dir(run_id) / "figure.png").stat().st_size > 0
    assert len(store.runs()) == 1
    with pytest.raises(UserError, match="closed"):
        monitor.step(6, (x, y))
    assert Monitor(model, {"a": lambda m, b: 0.0}).close() is None  # no store: nothing written


def test_the_monitor_keeps_its_layer():
    package = Path(__file__).parents[1] / "src" / "phenomena" / "monitor"
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
    ours = {m for m in imported if m.startswith("phenomena")}
    allowed = (
        "phenomena.monitor",
        "phenomena.probes",
        "phenomena.store",
        "phenomena.report",
        "phenomena.result",
        "phenomena.config",
    )
    assert all(
        m.startswith(allowed + ("phenomena.errors",)) or m in {"phenomena", "phenomena.__version__"} for m in ours
    ), ours
