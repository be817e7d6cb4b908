"""RunContext.map: in order, in other processes when workers > 1, a failure fails the whole map."""

import operator
import os
from pathlib import Path

import pytest

from phenomena.experiment import RunContext


def _ctx(workers):
    return RunContext("r", 0, Path("."), Path("."), show_progress=False, workers=workers)


def test_one_worker_maps_in_this_process_in_order():
    seen = []
    assert _ctx(1).map(abs, [-3, 2, -1], done=lambda i, r: seen.append((i, r))) == [3, 2, 1]
    assert seen == [(0, 3), (1, 2), (2, 1)]
    assert _ctx(1).map(operator.call, [os.getpid]) == [os.getpid()]


def test_two_workers_run_elsewhere_and_keep_the_order_of_items():
    pids = _ctx(2).map(operator.call, [os.getpid] * 4, cost=[1, 4, 2, 3])
    assert len(pids) == 4 and os.getpid() not in pids
    assert _ctx(2).map(abs, [-5, 4, -3, 2], cost=[1, 2, 3, 4]) == [5, 4, 3, 2]  # largest cost submitted first


def test_a_failing_piece_fails_the_map():
    with pytest.raises(TypeError):
        _ctx(2).map(abs, [-1, "not a number", 3])
