"""Representation similarity end to end: smoke through the CLI, the untrained control, and quick (slow)."""

import pytest
import torch

from phenomena.catalog.representation_similarity import ENTRY, diagonal_hits, layer_names
from phenomena.models import MLP
from phenomena.probes.similarity import cka


def test_smoke_through_the_cli_writes_matrices_and_a_figure(cli_json):
    res = cli_json("run", "representation-similarity", "--preset", "smoke")
    s = res["summary"]
    assert len(res["verdict"]["checks"]) == 2
    for label in ("narrow", "wide"):
        assert 0 <= s[f"diagonal_hits_{label}"] <= 1 and -0.1 <= s[f"mean_diag_cka_{label}"] <= 1.0 + 1e-9
    assert s["width_gain"] == pytest.approx(s["mean_diag_cka_wide"] - s["mean_diag_cka_narrow"])
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_untrained_networks_fail_the_layer_correspondence_check(cli_json):
    # At initialization every layer of a random ReLU MLP looks alike to CKA, so the correspondence is learned.
    control = next(c for c in ENTRY.controls if c.name == "untrained")  # the declared control
    assert control.overrides == {"train.epochs": 0}
    res = cli_json("run", "representation-similarity", "--preset", "smoke", *_sets(control.overrides))
    checks = res["verdict"]["checks"]
    assert not res["verdict"]["passed"] and not checks[0]["passed"]
    for prefix in control.must_fail:
        matching = [c["passed"] for c in checks if c["name"].startswith(prefix)]
        assert matching and not any(matching), prefix
    assert res["summary"]["diagonal_hits_wide"] < 0.75


def test_layer_names_are_the_hidden_activations_and_the_logits():
    model = MLP(5, 3, width=4, depth=3)
    modules = dict(model.named_modules())
    names = layer_names(3)
    assert [type(modules[n]).__name__ for n in names] == ["Activation"] * 3 + ["ScaledLinear"]
    assert modules[names[-1]] is model.readout


def test_diagonal_hits_counts_rows_whose_maximum_is_on_the_diagonal():
    values = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.8], [0.0, 0.1, 0.7]])
    assert diagonal_hits(values) == pytest.approx(2 / 3)


def test_a_network_compared_with_itself_has_unit_diagonal():
    # Oracle for the matrix wiring: cka_matrix(net, net) must give CKA 1 on the diagonal, as cka() of a layer
    # with itself does, and match cka() off the diagonal (minibatch CKA with one batch = unbiased CKA).
    from phenomena.probes.similarity import cka_matrix

    model = MLP(6, 3, width=12, depth=2, seed=1).double()
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    names = layer_names(2)
    mat = cka_matrix(model, model, [x], names, names).values
    assert torch.allclose(mat.diagonal(), torch.ones(3, dtype=torch.float64), atol=1e-12)
    h1, h2 = model.layers[:2](x), model.layers[:4](x)
    assert mat[0, 1].item() == pytest.approx(cka(h1, h2, estimator="unbiased"), abs=1e-10)


@pytest.mark.slow
def test_quick_preset_passes(cli_json):
    res = cli_json("run", "representation-similarity")
    assert res["verdict"]["passed"], res["verdict"]
