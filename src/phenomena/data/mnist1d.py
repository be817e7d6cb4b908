"""MNIST-1D (Greydanus & Kobak 2024): 40-sample 1-D signals of the ten digits, generated, never downloaded.

``mnist1d.data.make_dataset`` reseeds Python's and NumPy's *global* random generators; this wrapper saves and
restores both, so generating data never changes anybody else's randomness. Generated arrays are cached as
``.npz`` files keyed by every argument, because generation costs seconds (2.5 s for 5000 samples).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from pathlib import Path

import numpy as np
import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError


def train_size(num_samples: int, train_split: float) -> int:
    """How many of ``num_samples`` MNIST-1D examples the split puts in the training set (as ``mnist1d`` splits)."""
    return int(num_samples * train_split)


def _generate(num_samples: int, train_split: float, seed: int, shuffle_seq: bool) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed, args.shuffle_seq = num_samples, train_split, seed, shuffle_seq
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {k: raw[k] for k in ("x", "y", "x_test", "y_test")}


def mnist1d(
    num_samples: int = 5000,
    train_split: float = 0.8,
    seed: int = 42,
    shuffle_seq: bool = False,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """The MNIST-1D data set as float32 features (N, 40) and integer labels.

    Defaults are the package's (5000 samples, 80/20 split, seed 42: the frozen public data set). The double
    descent notebook uses ``num_samples=16000, train_split=0.25`` (4000 train / 12000 test).
    ``cache_dir`` (e.g. the store's cache folder) keeps generated arrays between runs.
    """
    if num_samples < 20:
        raise UserError(f"MNIST-1D needs at least 20 samples (2 per class); got {num_samples}")
    if not 0.0 < train_split < 1.0:
        raise UserError(f"train_split must lie strictly between 0 and 1; got {train_split}")
    key = json.dumps([num_samples, train_split, seed, shuffle_seq])
    path = None
    if cache_dir is not None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"mnist1d-{digest}.npz"
    if path is not None and path.exists():
        arrays = dict(np.load(path))
    else:
        arrays = _generate(num_samples, train_split, seed, shuffle_seq)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # a name of its own per writer (sweep workers may generate the same set at once), then an atomic
            # rename: a concurrent reader never sees half a file
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
    meta = {"name": "mnist1d", "num_classes": 10, "input": "features"}
    return Dataset(
        torch.as_tensor(arrays["x"], dtype=torch.float32),
        torch.as_tensor(arrays["y"], dtype=torch.int64),
        torch.as_tensor(arrays["x_test"], dtype=torch.float32),
        torch.as_tensor(arrays["y_test"], dtype=torch.int64),
        meta,
    )
