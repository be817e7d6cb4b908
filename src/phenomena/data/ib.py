"""The 12-bit information-bottleneck task of Shwartz-Ziv & Tishby (2017), shipped with the package.

Source: ``data/var_u.mat`` of Shwartz-Ziv & Tishby's code (``ravidziv/IDNNs``), the data of "Opening the black
box of deep neural networks via information" (Shwartz-Ziv & Tishby 2017), also used by Saxe et al. (2018). Inputs
``F`` are all 4096 binary patterns of 12 bits, in counting order (row k is k written in binary, most significant
bit first); labels ``y`` are binary, P(y=1) = 2118/4096 ≈ 0.517. The paper describes the label as a thresholded
spherically symmetric function of 12 points on a sphere. The package stores the two tables as packed bits
(``ib_var_u.npz``: ``F_bits`` (4096, 2) and ``y_bits`` (512,), uint8), exactly the ``.mat`` file's contents.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError

_FILE = Path(__file__).with_name("ib_var_u.npz")
NUM_PATTERNS = 4096
NUM_BITS = 12


@cache
def ib_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The raw tables ``(F, y)`` of ``var_u.mat``: F (4096, 12) uint8 bits and y (4096,) uint8 labels."""
    with np.load(_FILE) as raw:
        f = np.unpackbits(raw["F_bits"], axis=1)[:, :NUM_BITS]
        y = np.unpackbits(raw["y_bits"])[:NUM_PATTERNS]
    f.flags.writeable = y.flags.writeable = False
    return f, y


def ib_task(train_fraction: float = 0.8, seed: int = 0) -> Dataset:
    """Shwartz-Ziv & Tishby's 12-bit task split at random into train and test (their ``-inds 80``: 80% train).

    Inputs are float32 bits (N, 12) in {0, 1} as in the paper's code, labels int64 in {0, 1}. The split uses its
    own ``torch.Generator(seed)``. ``meta["index_train"]``/``meta["index_test"]`` give the pattern numbers
    (row indices of the full table), so the full 4096-pattern set is ``x_train`` and ``x_test`` together.

    Example:
        >>> data = ib_task(0.8, seed=0)
        >>> data.x_train.shape, data.num_classes
        (torch.Size([3277, 12]), 2)
    """
    if not 0.0 < train_fraction < 1.0:
        raise UserError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")
    f, y = ib_arrays()
    x = torch.as_tensor(f.astype(np.float32))
    labels = torch.as_tensor(y.astype(np.int64))
    order = torch.randperm(NUM_PATTERNS, generator=torch.Generator().manual_seed(seed))
    n = round(train_fraction * NUM_PATTERNS)
    tr, te = order[:n], order[n:]
    meta = {"name": "ib-12bit", "num_classes": 2, "input": "features", "index_train": tr, "index_test": te}
    return Dataset(x[tr], labels[tr], x[te], labels[te], meta)
