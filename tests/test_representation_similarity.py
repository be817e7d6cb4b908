"""Representation similarity end to end: smoke through the CLI, the declared controls (untrained nets; CKA through as
many units as a narrow net has, slow), NaN handling, the CKA wiring against cka_matrix, and quick (slow)."""

import math

import pytest
import torch

from phenomena.catalog.representation_similarity import (
    ENTRY,
    MIN_WIDTH_GAIN,
    cka_between,
    diagonal_hits,
    layer_names,
    representations,
    verdict,
)
from phenomena.models import MLP
from phenomena.probes.similarity import cka, cka_matrix
from phenomena.result import Result


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _control(name: str):
    return next(c for c in ENTRY.controls if c.name == name)  # the declared control


def _fails(checks: list[dict], prefixes) -> None:
    for prefix in prefixes:
        matching = [c["passed"] for c in checks if c["name"].startswith(prefix)]
        assert matching and not any(matching), prefix


def test_smoke_through_the_cli_passes_and_writes_matrices_and_a_figure(cli_json):
    res = cli_json("run", "representation-similarity", "--preset", "smoke")
    assert res["verdict"]["passed"], res["verdict"]  # smoke_holds: 0.75-1.0 hits, gain 0.31-0.74 on seeds 0-4
    s = res["summary"]
    assert len(res["verdict"]["checks"]) == 2
    assert s["diagonal_hits_wide"] > s["diagonal_hits_narrow"]
    assert s["mean_diag_cka_wide"] > s["mean_diag_cka_narrow"] + MIN_WIDTH_GAIN
    assert s["width_gain"] == pytest.approx(s["mean_diag_cka_wide"] - s["mean_diag_cka_narrow"])
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_untrained_networks_fail_the_layer_correspondence_check(cli_json):
    # At initialization every hidden layer of a random ReLU MLP looks alike to CKA: the correspondence is learned.
    control = _control("untrained")
    assert control.overrides == {"train.epochs": 0}
    res = cli_json("run", "representation-similarity", "--preset", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    _fails(res["verdict"]["checks"], control.must_fail)
    assert res["summary"]["diagonal_hits_wide"] == pytest.approx(0.25)  # one row of four (0.25 on seeds 0-4)


@pytest.mark.slow
def test_seen_through_as_many_units_as_a_narrow_net_wide_nets_are_no_more_similar(cli_json):
    # Smoke (10 epochs, narrow 8) keeps a gain from its barely trained narrow logits, so the control runs on quick.
    control = _control("narrow-many units")
    assert control.overrides == {"cka_units": "narrow"}
    res = cli_json("run", "representation-similarity", *_sets(control.overrides))
    _fails(res["verdict"]["checks"], control.must_fail)
    s = res["summary"]
    assert s["hidden_width_gain"] < 0  # the subsampled wide layers are less alike than the whole narrow ones
    assert s["logit_cka_wide"] > s["logit_cka_narrow"]  # the logits are not subsampled


def test_diagonal_hits_counts_rows_whose_maximum_is_on_the_diagonal():
    values = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.8], [0.0, 0.1, 0.7]])
    assert diagonal_hits(values) == pytest.approx(2 / 3)


def test_an_undefined_cka_is_unmeasured_not_a_hit():
    # argmax ranks a NaN first: a NaN on the diagonal would count as a hit
    values = torch.tensor([[math.nan, 0.1], [0.2, 0.9]])
    assert torch.equal(values.argmax(1), torch.tensor([0, 1]))
    assert math.isnan(diagonal_hits(values))
    summary = {  # the verdict reads the named keys of the cka_units its config chooses
        "diagonal_hits_wide_cka_units_all": math.nan,
        "diagonal_hits_narrow_cka_units_all": 0.3,
        "width_gain_cka_units_all": math.nan,
        "mean_diag_cka_wide_cka_units_all": math.nan,
        "mean_diag_cka_narrow_cka_units_all": 0.8,
    }
    checks = verdict(Result(ENTRY.name, ENTRY.resolve("quick"), summary=summary)).checks
    assert [c.passed for c in checks] == [False, False]


def test_a_constant_layer_gives_a_nan_cka_and_no_hit():
    model = MLP(6, 3, width=12, depth=2, seed=1).double()
    with torch.no_grad():
        model.layers[2].weight.zero_()  # the second hidden layer outputs relu(bias): constant over inputs
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reps = representations(model, [x], 2, 0, torch.Generator())
    values = cka_between(reps, reps)
    assert values[1].isnan().all() and values[0, 0] == pytest.approx(1.0)
    assert math.isnan(diagonal_hits(values))


def test_layer_names_are_the_hidden_activations_and_the_logits():
    model = MLP(5, 3, width=4, depth=3)
    modules = dict(model.named_modules())
    names = layer_names(3)
    assert [type(modules[n]).__name__ for n in names] == ["Activation"] * 3 + ["ScaledLinear"]
    assert modules[names[-1]] is model.readout


def test_representations_match_cka_matrix_and_subsampling_picks_units():
    # Oracle for the wiring: with every unit, the CKA of two nets' representations equals cka_matrix on the same
    # layers (hooks), a net against itself has unit diagonal, and cka() of single layers agrees off the diagonal.
    a, b = MLP(6, 3, width=12, depth=2, seed=1).double(), MLP(6, 3, width=12, depth=2, seed=2).double()
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(40, 6, generator=g, dtype=torch.float64) for _ in range(2)]
    names = layer_names(2)
    ra, rb = (representations(m, batches, 2, 0, torch.Generator()) for m in (a, b))
    torch.testing.assert_close(cka_between(ra, rb), cka_matrix(a, b, batches, names, names).values)
    mat = cka_between(ra, ra)
    assert torch.allclose(mat.diagonal(), torch.ones(3, dtype=torch.float64), atol=1e-12)
    h1, h2 = a.layers[:2](batches[0]), a.layers[:4](batches[0])
    one = cka_between(ra[:1], ra[:1])
    assert one[0, 1].item() == pytest.approx(cka(h1, h2, estimator="unbiased"), abs=1e-10)
    sub = representations(a, batches, 2, 5, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    keep = [torch.randperm(12, generator=g)[:5] for _ in range(2)]  # per hidden layer, the same on every batch
    for full, part in zip(ra, sub, strict=True):
        assert [r.shape[1] for r in part] == [5, 5, 3]  # hidden layers subsampled, logits whole
        for i in range(2):
            assert torch.equal(part[i], full[i][:, keep[i]])
        assert torch.equal(part[2], full[2])


@pytest.mark.slow
def test_quick_preset_passes(cli_json):
    res = cli_json("run", "representation-similarity")  # seed 0, held out (calibration: 100-109)
    assert res["verdict"]["passed"], res["verdict"]
