"""Every probe that takes ``params=`` (and pruning's ``include=``) accepts the same forms of parameter selection,
from ``phenomena.probes.core``: each form selects the same parameters and gives exactly the result of passing
that selection as an explicit list of names, and an unknown name fails the same way everywhere."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.errors import UserError
from phenomena.probes import (
    empirical_ntk,
    ggn_operator,
    hessian_density,
    hessian_eigenvalues,
    hessian_operator,
    hessian_trace,
    hessian_vector_product,
    kernel_velocity,
    linearize,
    loss_slice,
    random_direction,
    select_param_names,
    select_params,
)
from phenomena.training.pruning import magnitude_prune, prunable_names, snip_scores, synflow_scores

DT = torch.float64
NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


class MLP2(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.8 * torch.randn(p.shape, generator=g))
        self.to(DT)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(5, 3, generator=g, dtype=DT), torch.tensor([0, 1, 1, 0, 1])


# (id, form as a function of the model, the names it selects)
FORMS = [
    ("none", lambda m: None, NAMES),
    ("module-name", lambda m: "fc1", ["fc1.weight", "fc1.bias"]),
    ("parameter-name", lambda m: "fc2.weight", ["fc2.weight"]),
    ("list-of-names", lambda m: ["fc2.bias", "fc1.weight"], ["fc1.weight", "fc2.bias"]),
    ("list-with-module-name", lambda m: ("fc2", "fc1.bias"), ["fc1.bias", "fc2.weight", "fc2.bias"]),
    ("module", lambda m: m.fc2, ["fc2.weight", "fc2.bias"]),
    ("list-of-modules-and-names", lambda m: [m.fc1, "fc2.bias"], ["fc1.weight", "fc1.bias", "fc2.bias"]),
    ("whole-model", lambda m: m, NAMES),
    ("predicate", lambda m: lambda n: n.endswith("weight"), ["fc1.weight", "fc2.weight"]),
]


def _gen():
    return torch.Generator().manual_seed(0)


def _ntk(method):
    return lambda m, p: empirical_ntk(m, data()[0], method=method, params=p)


def _vector(m, p):
    v = {n: torch.full_like(t, 0.5) for n, t in select_params(m, p).items()}
    return hessian_vector_product(m, F.cross_entropy, data(), v, params=p)


def _linearized(m, p):
    lin = linearize(m, params=p)
    with torch.no_grad():
        for t in lin.params.values():
            t.add_(0.1)
    return sorted(lin.params), lin(data()[0])


# (id, probe(model, params) -> anything comparable with _same)
PROBES = [
    (
        "hessian_eigenvalues",
        lambda m, p: hessian_eigenvalues(m, F.cross_entropy, data(), k=2, params=p, generator=_gen()),
    ),
    (
        "hessian_eigenvalues-layerwise",
        lambda m, p: hessian_eigenvalues(m, F.cross_entropy, data(), k=1, params=p, layerwise=True, generator=_gen()),
    ),
    ("hessian_trace", lambda m, p: hessian_trace(m, F.cross_entropy, data(), n_probes=6, params=p, generator=_gen())),
    (
        "hessian_density",
        lambda m, p: (
            hessian_density(m, F.cross_entropy, data(), n_probes=2, lanczos_steps=4, params=p, generator=_gen()).density
        ),
    ),
    ("hessian_operator", lambda m, p: hessian_operator(m, F.cross_entropy, data(), params=p).to_dense()),
    ("ggn_operator", lambda m, p: ggn_operator(m, F.cross_entropy, data(), params=p).to_dense()),
    ("hessian_vector_product", _vector),
    ("empirical_ntk-jacobian", _ntk("jacobian")),
    ("empirical_ntk-ntvp", _ntk("ntvp")),
    ("empirical_ntk-structured", _ntk("structured")),
    ("kernel_velocity", lambda m, p: kernel_velocity(m, MLP2(seed=1), data()[0], params=p)),
    ("linearize", _linearized),
    ("random_direction", lambda m, p: random_direction(m, params=p, ignore=None, generator=_gen())),
    (
        "loss_slice",
        lambda m, p: loss_slice(m, F.cross_entropy, data(), points=3, ignore=None, params=p, generator=_gen()).loss,
    ),
]


def _same(a, b):
    """Exact equality of probe results: tensors, arrays, dicts, tuples, dataclasses, numbers."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


@pytest.mark.parametrize(("form", "expected"), [(f, e) for _, f, e in FORMS], ids=[i for i, _, _ in FORMS])
def test_every_form_selects_its_parameters_in_model_order(form, expected):
    model = MLP2()
    assert select_param_names(model, form(model)) == expected
    assert list(select_params(model, form(model))) == expected


@pytest.mark.parametrize("probe", [p for _, p in PROBES], ids=[i for i, _ in PROBES])
@pytest.mark.parametrize(("form", "expected"), [(f, e) for _, f, e in FORMS], ids=[i for i, _, _ in FORMS])
def test_every_probe_gives_the_explicit_selections_result_for_every_form(probe, form, expected):
    model = MLP2()
    got, explicit = probe(model, form(model)), probe(model, list(expected))
    assert _same(got, explicit)
    if hasattr(got, "space"):
        assert list(got.space.names) == expected
    # and a different selection gives a different result (the comparison can fail)
    other = [n for n in NAMES if n not in expected] or ["fc1.bias"]
    assert not _same(probe(model, other), explicit)


BAD = [
    ("unknown-name", lambda m: "nope"),
    ("unknown-in-list", lambda m: ["fc1.weight", "fc3.weight"]),
    ("foreign-module", lambda m: nn.Linear(3, 4)),
    ("frozen", lambda m: "fc1.bias"),
]


@pytest.mark.parametrize("probe", [p for _, p in PROBES], ids=[i for i, _ in PROBES])
@pytest.mark.parametrize("bad", [b for _, b in BAD], ids=[i for i, _ in BAD])
def test_an_unknown_selection_fails_alike_naming_the_valid_choices(probe, bad):
    model = MLP2()
    model.fc1.bias.requires_grad_(False)
    with pytest.raises(UserError, match="unknown or frozen") as err:
        probe(model, bad(model))
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert all(n in message for n in ["fc1.weight", "fc2.weight", "fc2.bias"])
    assert "module name" in message


def test_an_empty_selection_and_a_bad_type_fail():
    model = MLP2()
    for bad in ([], lambda n: False):
        with pytest.raises(UserError, match="selection is empty"):
            select_param_names(model, bad)
    with pytest.raises(UserError, match="iterable of names and modules"):
        select_param_names(model, 3)
    with pytest.raises(UserError, match="entries must be"):
        select_param_names(model, [model.fc1.weight])


# --- pruning's include=: the same forms except None (default: weights with >= 2 dims) and the predicate, which
# takes (name, parameter) ---------------------------------------------------------------------------------------

PRUNERS = [
    ("prunable_names", lambda m, inc: prunable_names(m, inc)),
    ("magnitude_prune", lambda m, inc: dict(magnitude_prune(m, 0.5, include=inc))),
    ("snip_scores", lambda m, inc: snip_scores(m, F.cross_entropy, data(), include=inc)),
    ("synflow_scores", lambda m, inc: synflow_scores(m, (3,), include=inc)),
]
INCLUDE_FORMS = [f for f in FORMS if f[0] not in ("none", "predicate")] + [
    ("default", lambda m: None, ["fc1.weight", "fc2.weight"]),
    ("predicate-on-name-and-parameter", lambda m: lambda n, p: n.startswith("fc2"), ["fc2.weight", "fc2.bias"]),
]


@pytest.mark.parametrize("prune", [p for _, p in PRUNERS], ids=[i for i, _ in PRUNERS])
@pytest.mark.parametrize(
    ("form", "expected"), [(f, e) for _, f, e in INCLUDE_FORMS], ids=[i for i, _, _ in INCLUDE_FORMS]
)
def test_pruning_include_takes_the_same_forms(prune, form, expected):
    model = MLP2()
    assert prunable_names(model, form(model)) == expected
    assert _same(prune(model, form(model)), prune(model, list(expected)))


@pytest.mark.parametrize("prune", [p for _, p in PRUNERS], ids=[i for i, _ in PRUNERS])
@pytest.mark.parametrize("bad", [b for _, b in BAD], ids=[i for i, _ in BAD])
def test_pruning_include_fails_alike(prune, bad):
    model = MLP2()
    model.fc1.bias.requires_grad_(False)
    with pytest.raises(UserError, match="unknown or frozen") as err:
        prune(model, bad(model))
    assert all(n in str(err.value) for n in ["fc1.weight", "fc2.weight", "fc2.bias"])
