"""The shipped 12-bit information-bottleneck task: identical to Shwartz-Ziv & Tishby's var_u.mat, split cleanly."""

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

from phenomena.data.ib import ib_arrays, ib_task
from phenomena.errors import UserError

MAT = SHARED_DATA / "ib_var_u.mat"


@pytest.mark.skipif(not MAT.exists(), reason="the original var_u.mat is not in ../shared/data")
def test_shipped_tables_equal_the_original_mat_file():
    from scipy.io import loadmat

    raw = loadmat(MAT)
    f, y = ib_arrays()
    assert f.dtype == raw["F"].dtype == np.uint8 and np.array_equal(f, raw["F"])
    assert np.array_equal(y, raw["y"].ravel())


def test_inputs_are_every_12_bit_pattern_in_counting_order():
    f, _ = ib_arrays()
    weights = 1 << np.arange(11, -1, -1)  # most significant bit first
    assert np.array_equal(f.astype(np.int64) @ weights, np.arange(4096))


def test_labels_are_balanced_as_published():
    _, y = ib_arrays()
    assert int(y.sum()) == 2118  # P(y=1) = 0.517, as in Shwartz-Ziv & Tishby 2017
    # The label depends on the pattern, and mostly on how many bits are set: always 0 for popcount <= 4,
    # always 1 for popcount >= 8 (measured on var_u.mat; a structural check that the bits were not scrambled).
    popcount = ib_arrays()[0].sum(1)
    assert y[popcount <= 4].max() == 0 and y[popcount >= 8].min() == 1


def test_split_partitions_the_patterns_and_is_seeded():
    a, b = ib_task(0.8, seed=3), ib_task(0.8, seed=3)
    assert a.n_train == round(0.8 * 4096) and len(a.x_test) == 4096 - a.n_train
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, ib_task(0.8, seed=4).x_train)
    index = torch.cat([a.meta["index_train"], a.meta["index_test"]])
    assert torch.equal(index.sort().values, torch.arange(4096))
    f, y = ib_arrays()
    assert torch.equal(a.x_train, torch.as_tensor(f[a.meta["index_train"].numpy()], dtype=torch.float32))
    assert torch.equal(a.y_test, torch.as_tensor(y[a.meta["index_test"].numpy()], dtype=torch.int64))
    assert a.num_classes == 2 and a.x_train.dtype == torch.float32


def test_bad_fraction_is_a_user_error():
    with pytest.raises(UserError, match="train_fraction"):
        ib_task(1.0)
