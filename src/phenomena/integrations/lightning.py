"""A Lightning callback that runs a :class:`~phenomena.monitor.Monitor` during ``Trainer.fit``.

>>> from phenomena.monitor import Monitor, sharpness
>>> from phenomena.integrations.lightning import ProbeCallback
>>> monitor = Monitor(module, {"sharpness": sharpness(F.cross_entropy, batches=(x, y))}, every=50, store="runs")
>>> Trainer(max_steps=1000, callbacks=[ProbeCallback(monitor)]).fit(module, loader)
>>> monitor.curve("sharpness")
"""

from __future__ import annotations

from typing import Any

from phenomena.errors import UserError
from phenomena.monitor import Monitor, to_device

try:
    from lightning.pytorch import Callback
except ImportError:
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise UserError(
            "phenomena.integrations.lightning needs Lightning; install it with pip install 'phenomena[lightning]'."
        ) from None


class ProbeCallback(Callback):
    """Run ``monitor.step(trainer.global_step, batch)`` after every optimizer step and close it when training ends.

    The step is Lightning's ``trainer.global_step``, the number of optimizer steps taken, so the first training
    batch ends at step 1 (a step repeated under gradient accumulation is measured once). With a fixed ``batch``
    the monitor also measures the model before training (at the starting step, 0 unless resumed); without one,
    each measurement uses the training batch that just ended. The probes run on ``monitor.model`` (give the
    Monitor the LightningModule you fit, or a submodule of it), on the global-zero process only, and
    ``monitor.close()`` (which writes the run record when the Monitor has a store) runs at ``on_train_end``;
    its run id is then ``callback.run_id``.

    Args:
        monitor: the :class:`~phenomena.monitor.Monitor` to drive.
        batch: fixed data for the probes (moved once to the model's device), or None for the training batch.
    """

    def __init__(self, monitor: Monitor, batch: Any = None):
        super().__init__()
        if not isinstance(monitor, Monitor):
            raise UserError(f"ProbeCallback needs a phenomena.monitor.Monitor, got {type(monitor).__name__}.")
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

    def on_train_start(self, trainer, pl_module) -> None:
        """Measure the model before its first step (only with a fixed batch)."""
        if trainer.is_global_zero and self.batch is not None:
            self.monitor.step(trainer.global_step, batch=self._fixed())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Measure after the optimizer step, on the fixed batch or else this training batch."""
        if trainer.is_global_zero:
            self.monitor.step(trainer.global_step, batch=self._fixed() if self.batch is not None else batch)

    def on_train_end(self, trainer, pl_module) -> None:
        """Close the monitor (writing its record when it has a store)."""
        if trainer.is_global_zero:
            self.run_id = self.monitor.close()
