"""Real MNIST read from a local directory the user names (IDX files, gzipped or not). Never downloaded."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise UserError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UserError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {data.size}")
    return data.reshape(shape).copy()  # frombuffer is read-only; torch wants writable memory


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    return None


def mnist_files(directory: str | Path) -> dict[str, list[Path | None]]:
    """The IDX files in ``directory``: split -> [images, labels] paths (None where absent); raises UserError
    unless the directory exists and holds at least the test files."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise UserError(f"MNIST directory {directory} does not exist")
    found = {split: [_find(directory, s) for s in stems] for split, stems in _FILES.items()}
    if not all(found["test"]):
        raise UserError(f"{directory} has no {_FILES['test'][0]}[.gz] and {_FILES['test'][1]}[.gz]")
    return found


def mnist(directory: str | Path, n_train: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """MNIST from ``directory``: images flattened to 784 floats in [0, 1], integer labels.

    With both the train and test files present, they are used as given. With only the test files (10,000
    images), they are split at random: ``test_fraction`` of them become the test set. ``n_train`` keeps the
    first ``n_train`` training images (after the seeded shuffle).
    """
    found = mnist_files(directory)

    def load(split):
        images, labels = (_read_idx(p) for p in found[split])
        x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0
        return x, torch.as_tensor(labels, dtype=torch.int64)

    g = torch.Generator().manual_seed(seed)
    x_te, y_te = load("test")
    if all(found["train"]):
        x_tr, y_tr = load("train")
        order = torch.randperm(len(x_tr), generator=g)
        x_tr, y_tr = x_tr[order], y_tr[order]
    else:
        order = torch.randperm(len(x_te), generator=g)
        n_test = round(test_fraction * len(x_te))
        x_tr, y_tr = x_te[order[n_test:]], y_te[order[n_test:]]
        x_te, y_te = x_te[order[:n_test]], y_te[order[:n_test]]
    if n_train is not None:
        x_tr, y_tr = x_tr[:n_train], y_tr[:n_train]
    return Dataset(x_tr, y_tr, x_te, y_te, {"name": "mnist", "num_classes": 10, "input": "features"})
