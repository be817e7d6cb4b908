"""Packed tensors (one flat buffer) and the optimizer's one-kernel-per-rule step over them."""

import pytest
import torch

from phenomena.training.functional_optim import FunctionalOptimizer
from phenomena.training.packed import ALIGN, mirror, packed, packed_copy, span

SHAPES = [(3, 12, 10), (3, 10), (3, 10, 7), (3, 7), (3, 7, 2), (3, 2)]


def _tensors(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in SHAPES]


def test_packed_views_are_aligned_zeros_of_one_buffer():
    views = packed(_tensors(0))
    base = views[0]._base
    assert base is not None and all(v._base is base for v in views)
    assert [tuple(v.shape) for v in views] == SHAPES
    assert all(v.storage_offset() % ALIGN == 0 and bool((v == 0).all()) for v in views)
    flat = span(views)
    end = views[-1].storage_offset() + views[-1].numel()
    assert flat is not None and flat.numel() == -(-end // ALIGN) * ALIGN  # with the padding after the last view
    assert flat.numel() % ALIGN == 0 and end % ALIGN != 0  # (the shapes leave some)
    flat.fill_(2.0)  # the span is the buffer itself: writing it writes every view
    assert all(bool((v == 2).all()) for v in views)


def test_packed_copy_and_mirror_keep_values_and_layout():
    src = _tensors(1)
    copies = packed_copy(src)
    assert all(torch.equal(a, b) for a, b in zip(copies, src, strict=True))
    flat = span(copies)
    twins = mirror(copies, flat)
    twin_flat = span(twins)
    assert twin_flat is not None and twin_flat.numel() == flat.numel()
    offsets = [t.storage_offset() - twin_flat.storage_offset() for t in twins]
    assert offsets == [c.storage_offset() - flat.storage_offset() for c in copies]


def test_span_refuses_what_is_not_one_ordered_buffer():
    views = packed(_tensors(0))
    assert span(_tensors(0)) is None  # separate allocations
    assert span(views[::-1]) is None  # out of order
    assert span([views[0], views[0]]) is None  # overlapping
    assert span([views[0], packed(_tensors(0))[1]]) is None  # two buffers
    assert span([views[0].transpose(1, 2)]) is None  # not contiguous
    run = span(views[2:4])  # a run of consecutive views is a span of its own, without the gap after it
    assert run is not None and run.numel() == views[3].storage_offset() + views[3].numel() - views[2].storage_offset()


@pytest.mark.parametrize(
    "name,hyper,dtype",
    [
        ("sgd", {"momentum": 0.9, "weight_decay": 1e-3}, torch.float32),
        ("sgd", {}, torch.float32),
        ("sgd", {"momentum": 0.5}, torch.float64),
        ("adam", {"weight_decay": 1e-3}, torch.float32),
        ("adamw", {}, torch.float32),
    ],
)
def test_packed_step_is_bitwise_the_per_tensor_step(name, hyper, dtype, monkeypatch):
    """The flat update gives the per-tensor update's bits (SGD's by torch's fused kernel over the whole padded
    buffer; Adam's is torch's fused kernel on each tensor either way), with the gradients packed like the
    parameters, packed differently, or not packed at all."""
    apart, flat, mixed = ([t.to(dtype) for t in ts] for ts in (_tensors(2), packed_copy(_tensors(2)), _tensors(2)))
    flat, mixed = packed_copy(flat), packed_copy(mixed)
    fused_calls, fused = [], torch._fused_sgd_

    def counted(params, *args, **kwargs):
        assert len(params) == 1 and params[0].numel() % ALIGN == 0
        fused_calls[:] = [fused_calls[0] + 1] if fused_calls else [1]
        return fused(params, *args, **kwargs)

    monkeypatch.setattr(torch, "_fused_sgd_", counted)
    opts = [FunctionalOptimizer(name, ps, lr=3e-3, **hyper) for ps in (apart, flat, mixed)]
    grad_buffers = packed(apart)
    spaced = packed([apart[0], torch.empty(40), *apart[1:]])  # packed, with a wider gap after the first
    other_layout = [spaced[0], *spaced[2:]]
    for step in range(25):
        grads = [g.to(dtype) for g in _tensors(100 + step)]
        for g, buf in zip(grads, grad_buffers, strict=True):
            buf.copy_(g)
        opts[0].step([g.clone() for g in grads])
        opts[1].step(grad_buffers)
        for g, buf in zip(grads, other_layout, strict=True):
            buf.copy_(g)
        opts[2].step(other_layout)
    assert opts[1]._flat_grads(grad_buffers) is not None  # the flat path ran
    assert fused_calls == ([25] if name == "sgd" else [])  # the flat SGD steps went through the fused kernel
    assert opts[2]._flat_grads(other_layout) is None  # elements would not line up: the per-tensor path ran
    for a, b, c in zip(apart, flat, mixed, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_per_member_hyper_parameters_on_packed_tensors_match_apart():
    apart, flat = _tensors(3), packed_copy(_tensors(3))
    lrs = [1e-3, 2e-3, 5e-3]
    opts = [FunctionalOptimizer("adam", ps, lr=lrs) for ps in (apart, flat)]
    for step in range(10):
        grads = _tensors(200 + step)
        opts[0].step([g.clone() for g in grads])
        opts[1].step(packed_copy(grads))
    assert all(torch.equal(a, b) for a, b in zip(apart, flat, strict=True))
