"""RunContext.map: in order, in other processes when workers > 1, a failure fails the whole map. RunContext.shared:
a piece is computed once per key within a shared folder, and its key is the whole config but the ignored keys."""

import operator
import os
from pathlib import Path

import pytest

from phenomena.config import config, field
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


@config
class Train:
    lr: float = field(0.1)
    batch: int = field(10)


@config
class Cfg:
    train: Train = Train()
    seed: int = field(0)


def _shared_ctx(folder, run_id="r", experiment="e"):
    return RunContext(run_id, 0, Path("."), Path("."), show_progress=False, experiment=experiment, shared_dir=folder)


def test_a_shared_piece_is_computed_once_per_key_and_ignores_only_the_named_keys(tmp_path):
    calls = []

    def piece(cfg, ctx, name="net", ignore=("train.batch",)):
        def compute():
            calls.append(cfg)
            return {"lr": cfg.train.lr, "calls": len(calls)}

        return ctx.shared(name, cfg, compute, ignore=ignore)

    main, control = _shared_ctx(tmp_path, "main"), _shared_ctx(tmp_path, "control")
    first = piece(Cfg(), main)
    assert piece(Cfg(train=Train(batch=99)), control) == first == {"lr": 0.1, "calls": 1}  # batch is not read
    assert len(calls) == 1
    assert piece(Cfg(train=Train(lr=0.2)), control) == {"lr": 0.2, "calls": 2}  # lr is read
    assert piece(Cfg(seed=1), control)["calls"] == 3  # another seed draws other streams
    assert piece(Cfg(), control, name="other net")["calls"] == 4
    assert piece(Cfg(), _shared_ctx(tmp_path, experiment="other"))["calls"] == 5
    assert piece(Cfg(train=Train(batch=99)), control, ignore=())["calls"] == 6
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(ValueError, match="train.batchsize"):
        piece(Cfg(), control, ignore=("train.batchsize",))
    with pytest.raises(ValueError, match="trai"):  # a section name must be whole, not a prefix of one
        piece(Cfg(), control, ignore=("trai",))


def test_a_section_ignores_every_key_under_it(tmp_path):
    calls = []
    main, control = _shared_ctx(tmp_path, "main"), _shared_ctx(tmp_path, "control")
    for cfg, ctx in ((Cfg(), main), (Cfg(train=Train(lr=0.5, batch=3)), control)):
        ctx.shared("seed only", cfg, lambda: calls.append(1), ignore=("train",))
    assert len(calls) == 1 and control.reused == ["seed only"]


def test_without_a_shared_folder_every_run_computes_its_pieces():
    calls = []
    ctx = RunContext("r", 0, Path("."), Path("."), show_progress=False)
    for _ in range(2):
        assert ctx.shared("net", Cfg(), lambda: calls.append(1) or len(calls)) == len(calls)
    assert len(calls) == 2
