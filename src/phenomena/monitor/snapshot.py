"""What a probe could change, saved before it runs and put back after: the Monitor's no-side-effects guarantee."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import Tensor, nn


class Snapshot:
    """Everything a probe could change about the model and the process's random state, and its restoration."""

    def __init__(self, model: nn.Module):
        self.modes = [(m, m.training) for m in model.modules()]
        self.tables: list[tuple[dict, dict]] = []  # (module._parameters or ._buffers, a copy of its entries)
        self.values: dict[int, tuple[Tensor, Tensor, bool]] = {}  # id -> (tensor, saved value, requires_grad)
        self.grads: dict[int, tuple[Tensor, Tensor | None, Tensor | None]] = {}  # id -> (param, grad, saved)
        with torch.no_grad():
            for m in model.modules():
                for table in (m._parameters, m._buffers):
                    self.tables.append((table, dict(table)))
                    for t in table.values():
                        if t is None or id(t) in self.values:
                            continue
                        self.values[id(t)] = (t, t.detach().clone(), t.requires_grad)
                        if isinstance(t, nn.Parameter):
                            g = t.grad
                            self.grads[id(t)] = (t, g, None if g is None else g.detach().clone())
        self.grad_enabled = torch.is_grad_enabled()
        self.dtype = torch.get_default_dtype()
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.python_rng = random.getstate()
        self.numpy_rng = np.random.get_state()

    def restore(self) -> None:
        """Put everything back (in place where the same tensor objects are still there)."""
        torch.set_grad_enabled(self.grad_enabled)
        torch.set_default_dtype(self.dtype)
        for m, flag in self.modes:
            m.training = flag
        for table, saved in self.tables:  # the same tensor objects under the same names, in the same order
            if list(table) != list(saved) or any(table[k] is not v for k, v in saved.items()):
                table.clear()
                table.update(saved)
        with torch.no_grad():
            for t, saved, requires_grad in self.values.values():
                if t.requires_grad != requires_grad:
                    t.requires_grad_(requires_grad)
                if not _same(t, saved):
                    t.copy_(saved)
            for p, grad, saved in self.grads.values():
                if grad is None:
                    p.grad = None
                    continue
                if not _same(grad, saved):
                    grad.copy_(saved)
                if p.grad is not grad:
                    p.grad = grad
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        random.setstate(self.python_rng)
        np.random.set_state(self.numpy_rng)

    def release(self) -> None:
        """Drop the saved copies."""
        self.values.clear()
        self.grads.clear()
        self.tables.clear()


def _same(t: Tensor, saved: Tensor) -> bool:
    """Equality with NaNs equal to NaNs, so an unchanged tensor is not rewritten (its version stays)."""
    if t.shape != saved.shape or t.dtype != saved.dtype:
        return False
    if t.is_floating_point() or t.is_complex():
        return bool(((t == saved) | (torch.isnan(t) & torch.isnan(saved))).all())
    return bool(torch.equal(t, saved))
