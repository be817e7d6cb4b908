"""Model checkpoints as safetensors files: safe to load (no pickle) and readable from any framework."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_checkpoint(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model.state_dict()`` (contiguous CPU copies) to ``path`` atomically; returns the path."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)
    return path


def load_checkpoint(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (strict: every key must match)."""
    model.load_state_dict(load_file(str(path)))
    return model
