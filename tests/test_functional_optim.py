"""FunctionalOptimizer with one set of hyper-parameters (the uniform path, packed or not) is torch.optim's foreach
rule, bit for bit, as its comment claims."""

import pytest
import torch

from phenomena.training.functional_optim import FunctionalOptimizer
from phenomena.training.packed import packed_copy

SHAPES = [(4, 40, 33), (4, 33), (4, 33, 10), (4, 10)]
RULES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _tensors(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in SHAPES]


@pytest.mark.parametrize(
    "name,hyper",
    [
        ("sgd", {"momentum": 0.9}),
        ("sgd", {"momentum": 0.9, "weight_decay": 5e-4}),
        ("sgd", {}),
        ("sgd", {"weight_decay": 5e-4}),
        ("adam", {"weight_decay": 1e-3}),
        ("adamw", {"weight_decay": 1e-2}),
    ],
)
@pytest.mark.parametrize("pack", [False, True])
def test_uniform_step_is_bitwise_torch_foreach(name, hyper, pack):
    lr = 0.05 if name == "sgd" else 3e-3
    ours = packed_copy(_tensors(0)) if pack else _tensors(0)
    theirs = [torch.nn.Parameter(t) for t in _tensors(0)]
    opt = FunctionalOptimizer(name, ours, lr=lr, **hyper)
    reference = RULES[name](theirs, lr=lr, foreach=True, **hyper)
    for step in range(12):
        grads = _tensors(100 + step)
        for p, g in zip(theirs, grads, strict=True):
            p.grad = g.clone()
        reference.step()
        opt.step(packed_copy(grads) if pack else [g.clone() for g in grads])
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b.detach())
