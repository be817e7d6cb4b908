"""FunctionalOptimizer with one set of hyper-parameters (the uniform path, packed or not) is torch.optim's rule, bit
for bit, as its comment claims: SGD's foreach rule, Adam's and AdamW's fused one (make_optimizer's choices for fit).
The shapes leave partial vectors at the ends of the separate tensors, where a kernel's scalar tail could round
differently from the packed buffer's vector body."""

import pytest
import torch

from phenomena.training import make_optimizer
from phenomena.training.functional_optim import FunctionalOptimizer
from phenomena.training.packed import packed_copy

SHAPES = [(4, 40, 33), (4, 33), (4, 33, 10), (4, 10)]


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
def test_uniform_step_is_bitwise_torch_optim(name, hyper, pack):
    lr = 0.05 if name == "sgd" else 3e-3
    ours = packed_copy(_tensors(0)) if pack else _tensors(0)
    theirs = [torch.nn.Parameter(t) for t in _tensors(0)]
    opt = FunctionalOptimizer(name, ours, lr=lr, **hyper)
    reference = make_optimizer(name, theirs, lr, **hyper)
    assert reference.defaults["foreach" if name == "sgd" else "fused"]
    for step in range(12):
        grads = _tensors(100 + step)
        for p, g in zip(theirs, grads, strict=True):
            p.grad = g.clone()
        reference.step()
        opt.step(packed_copy(grads) if pack else [g.clone() for g in grads])
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b.detach())


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_uniform_adam_takes_a_gradient_in_another_memory_layout(name):
    """torch's fused kernel walks each tensor in memory order; a gradient laid out otherwise than its parameter (a
    transposed one, as torch.func returns under vmap) is the same update as its contiguous copy."""
    a, b = _tensors(0), _tensors(0)
    opts = [FunctionalOptimizer(name, ps, lr=3e-3, weight_decay=1e-2) for ps in (a, b)]
    for step in range(5):
        grads = _tensors(100 + step)
        opts[0].step([g.clone() for g in grads])
        opts[1].step([g.transpose(1, 2).contiguous().transpose(1, 2) if g.ndim == 3 else g.clone() for g in grads])
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("pack", [False, True])
def test_per_member_adam_is_bitwise_solo_fused_optimizers(name, pack):
    """Members with their own lr, weight decay and beta1 step as M solo torch.optim.Adam/AdamW(fused=True) on their
    own tensors, bit for bit: the fused kernel is given each member's slices with its scalars."""
    lrs, wds, beta1s = [1e-3, 3e-3, 1e-2, 2e-3], [0.0, 1e-2, 1e-3, 5e-2], [0.9, 0.8, 0.9, 0.95]
    ours = packed_copy(_tensors(0)) if pack else _tensors(0)
    opt = FunctionalOptimizer(name, ours, lr=lrs, weight_decay=wds, betas=(beta1s, 0.999))
    assert not opt.uniform
    solos = [[torch.nn.Parameter(t[m].clone()) for t in _tensors(0)] for m in range(4)]
    refs = [make_optimizer(name, ps, lrs[m], wds[m], betas=(beta1s[m], 0.999)) for m, ps in enumerate(solos)]
    for step in range(12):
        grads = _tensors(100 + step)
        for m, (ps, ref) in enumerate(zip(solos, refs, strict=True)):
            for p, g in zip(ps, grads, strict=True):
                p.grad = g[m].clone()
            ref.step()
        opt.step(packed_copy(grads) if pack else [g.clone() for g in grads])
    for m, ps in enumerate(solos):
        assert all(torch.equal(t[m], p.detach()) for t, p in zip(ours, ps, strict=True))
