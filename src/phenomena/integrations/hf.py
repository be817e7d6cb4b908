"""A Hugging Face ``Trainer`` callback that runs a :class:`~phenomena.monitor.Monitor` during training.

>>> from phenomena.monitor import Monitor, effective_rank
>>> from phenomena.integrations.hf import ProbeCallback
>>> monitor = Monitor(model, {"emb_rank": effective_rank(model.transformer.wte)}, every=100, store="runs")
>>> trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[ProbeCallback(monitor, batch)])
>>> trainer.train(); monitor.curve("emb_rank")
"""

from __future__ import annotations

from typing import Any

from phenomena.errors import UserError
from phenomena.monitor import Monitor, to_device

try:
    from transformers import TrainerCallback
except ImportError:
    raise UserError(
        "phenomena.integrations.hf needs Hugging Face transformers; install it with pip install 'phenomena[hf]'."
    ) from None


class ProbeCallback(TrainerCallback):
    """Run ``monitor.step(state.global_step, batch)`` before training and after every optimizer step.

    The Trainer hands no batch to its callbacks, so the probes measure a fixed ``batch`` (for a language model,
    e.g. ``{"input_ids": ..., "labels": ...}``, or an ``(inputs, targets)`` pair for the curvature probes; it is
    moved once to the model's device). Steps are ``state.global_step``: 0 before training, then 1, 2, ... after
    each optimizer step (a step repeated under gradient accumulation is measured once). The probes run on
    ``monitor.model`` (the model given to the Trainer), on the main process only; ``monitor.close()`` runs at
    ``on_train_end`` and its run id is then ``callback.run_id``.

    Args:
        monitor: the :class:`~phenomena.monitor.Monitor` to drive.
        batch: the data the probes measure.
    """

    def __init__(self, monitor: Monitor, batch: Any):
        if not isinstance(monitor, Monitor):
            raise UserError(f"ProbeCallback needs a phenomena.monitor.Monitor, got {type(monitor).__name__}.")
        if batch is None:
            raise UserError("the Hugging Face Trainer gives callbacks no batch; pass the batch the probes measure.")
        self.monitor = monitor
        self.batch = batch
        self.run_id: str | None = None
        self._moved = False

    def _fixed(self) -> Any:
        if not self._moved:
            param = next(self.monitor.model.parameters(), None)
            if param is not None:
                self.batch = to_device(self.batch, param.device)
            self._moved = True
        return self.batch

    def on_train_begin(self, args, state, control, model=None, **kwargs) -> None:
        """Measure the model before its first step."""
        if state.is_world_process_zero:
            self.monitor.step(state.global_step, batch=self._fixed())

    def on_step_end(self, args, state, control, model=None, **kwargs) -> None:
        """Measure after an optimizer step."""
        if state.is_world_process_zero:
            self.monitor.step(state.global_step, batch=self._fixed())

    def on_train_end(self, args, state, control, model=None, **kwargs) -> None:
        """Close the monitor (writing its record when it has a store)."""
        if state.is_world_process_zero:
            self.run_id = self.monitor.close()
