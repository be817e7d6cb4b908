"""``Result.model()``: a run saved with ``-s checkpoint=true`` gives back its trained network, so the probes can be
applied to the catalog's own models; without a checkpoint the error says how to get one."""

import pytest

import phenomena as ph
from phenomena.catalog.grokking import token_weights
from phenomena.errors import UserError
from phenomena.probes.fourier import fourier_ipr


def test_the_loaded_model_is_the_trained_one(tmp_path):
    run = ph.run("grokking", "smoke", {"checkpoint": True, "train.steps": 40}, store=tmp_path, progress=False)
    model = ph.load(run.run_id, tmp_path).model()
    # the progress measure recomputed on the loaded weights is the one logged at the last step of training
    ipr = fourier_ipr(token_weights(model, run.config.data.p)).nanmean().item()
    assert run.summary["steps_run"] == 40 and ipr == pytest.approx(run.summary["fourier_ipr_final"], rel=1e-6)
    assert not model.training


def test_a_run_without_a_checkpoint_says_how_to_save_one(tmp_path):
    run = ph.run("grokking", "smoke", {"train.steps": 20}, store=tmp_path, progress=False)
    with pytest.raises(UserError, match="saved no checkpoint .run it with -s checkpoint=true"):
        run.model()
