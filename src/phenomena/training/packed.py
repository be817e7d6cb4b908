"""Tensors packed into one flat buffer, so that an element-wise update of all of them is one kernel call.

An optimizer step over a small network is many tiny element-wise kernels: Adam runs about eight per parameter
tensor, and a 12-bit information-plane network has twelve tensors. Laid end to end in one buffer, every tensor
is a view of it and the step runs each kernel once over the whole buffer (:func:`span` finds that buffer again
from the views). Each view starts at a multiple of :data:`ALIGN` elements, the alignment the allocator gives a
tensor of its own, so a matrix product reads a view exactly as it read a separate tensor; the gaps between
views are zeros that belong to no tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

ALIGN = 16  # elements: 64 bytes of float32, the CPU allocator's alignment


def packed(like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Zero tensors shaped like ``like`` (its dtype and device), in order, as views of one flat buffer (see
    :func:`span`)."""
    if not like:
        return []
    offsets, end = [], 0
    for t in like:
        offsets.append(end)
        end += -(-t.numel() // ALIGN) * ALIGN
    flat = torch.zeros(end, dtype=like[0].dtype, device=like[0].device)
    return [flat[o : o + t.numel()].view(t.shape) for o, t in zip(offsets, like, strict=True)]


def mirror(tensors: Sequence[torch.Tensor], flat: torch.Tensor) -> list[torch.Tensor]:
    """Zero tensors laid out in a new buffer exactly as ``tensors`` lie in ``flat`` (their :func:`span`)."""
    new = torch.zeros_like(flat)
    offsets = [t.storage_offset() - flat.storage_offset() for t in tensors]
    return [new[o : o + t.numel()].view(t.shape) for o, t in zip(offsets, tensors, strict=True)]


def packed_copy(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Copies of ``tensors`` (same dtype) packed into one flat buffer."""
    out = packed(tensors)
    for o, t in zip(out, tensors, strict=True):
        o.copy_(t.detach())
    return out


def span(tensors: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The 1-D slice of one flat buffer that ``tensors`` lie in, in order and without overlap, or None if they
    are not contiguous views of one such buffer. Element-wise work on the slice also touches the gaps between
    the tensors, which belong to none of them; when the last one ends less than :data:`ALIGN` elements before the
    buffer does (the padding :func:`packed` leaves), the slice runs to the buffer's end, so that a packed buffer's
    span is a whole number of vectors (see :class:`~phenomena.training.functional_optim.FunctionalOptimizer`)."""
    if not tensors:
        return None
    base = tensors[0]._base
    if base is None or base.dim() != 1 or not base.is_contiguous():
        return None
    start = end = tensors[0].storage_offset()
    for t in tensors:
        if t._base is not base or not t.is_contiguous() or t.storage_offset() < end:
            return None
        end = t.storage_offset() + t.numel()
    first = start - base.storage_offset()
    last = first + end - start
    if base.numel() - last < ALIGN:
        last = base.numel()
    return base[first:last]
