"""The matrix-completion problem generator and its error measure against direct numpy computations."""

import numpy as np
import pytest

from phenomena.analysis.matrix_completion import masked_relative_error
from phenomena.data.low_rank import low_rank_completion
from phenomena.errors import UserError


def test_the_truth_has_the_rank_and_norm_asked_for_and_the_mask_its_count():
    truth, mask = low_rank_completion(30, 3, 200, truth_seed=4, mask_seed=5)
    s = np.linalg.svd(truth, compute_uv=False)
    assert s[2] > 1e-6 * s[0] and s[3] < 1e-10 * s[0]  # rank exactly 3
    assert np.linalg.norm(truth) == pytest.approx(30.0) and mask.dtype == bool and mask.sum() == 200
    same, other = low_rank_completion(30, 3, 200, 4, 6)
    assert np.array_equal(same, truth) and not np.array_equal(other, mask)  # one truth, another mask
    assert not np.array_equal(low_rank_completion(30, 3, 200, 7, 5)[0], truth)


def test_masked_relative_error_is_the_norm_ratio_over_the_masked_entries():
    rng = np.random.default_rng(0)
    x, truth = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    where = rng.random((6, 6)) < 0.4
    num = sum((x[i, j] - truth[i, j]) ** 2 for i in range(6) for j in range(6) if where[i, j])
    den = sum(truth[i, j] ** 2 for i in range(6) for j in range(6) if where[i, j])
    assert masked_relative_error(x, truth, where) == pytest.approx((num / den) ** 0.5, rel=1e-12)


@pytest.mark.parametrize("args", [(10, 10, 5), (10, 0, 5), (10, 2, 100), (10, 2, 0), (10.0, 2, 5)])
def test_bad_sizes_are_refused(args):
    with pytest.raises(UserError, match="low_rank_completion"):
        low_rank_completion(*args, truth_seed=0, mask_seed=0)
    with pytest.raises(UserError, match="masked_relative_error"):
        masked_relative_error(np.zeros((2, 2)), np.zeros((2, 3)), np.ones((2, 2), dtype=bool))
