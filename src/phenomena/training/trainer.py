"""One small training loop with callbacks.

The loop indexes in-memory tensors (no DataLoader), draws minibatches from an explicit ``torch.Generator``,
and calls its callbacks after every step. Callbacks do everything else: log metrics every k steps, run probes on
a schedule, stop early, update a progress bar. Divergence (a non-finite loss) is checked whenever metrics are
logged, and at the end, and raises :class:`~phenomena.errors.DivergedError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Protocol

import torch
from torch import nn

from phenomena.data.dataset import Dataset
from phenomena.errors import DivergedError
from phenomena.result import Series
from phenomena.training.losses import predictions


@dataclasses.dataclass
class History:
    """Metric curves recorded during training: name -> (steps, values)."""

    curves: dict[str, tuple[list[int], list[float]]] = dataclasses.field(default_factory=dict)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            steps, values = self.curves.setdefault(name, ([], []))
            steps.append(step)
            values.append(float(value))

    def last(self, name: str, default: float = math.nan) -> float:
        curve = self.curves.get(name)
        return curve[1][-1] if curve and curve[1] else default

    def first_step(self, name: str, predicate: Callable[[float], bool]) -> int | None:
        """The first logged step at which ``predicate(value)`` holds, or None."""
        steps, values = self.curves.get(name, ([], []))
        return next((s for s, v in zip(steps, values, strict=True) if predicate(v)), None)

    def series(self, suffix: str = "") -> dict[str, Series]:
        """Every curve as a :class:`~phenomena.result.Series`, named ``name + suffix`` (e.g. ``"_sgd"`` for one
        of several conditions of a run)."""
        return {name + suffix: Series(list(s), list(v)) for name, (s, v) in self.curves.items()}


@dataclasses.dataclass
class TrainState:
    """What callbacks see after each step. Setting ``stop`` ends training after this step."""

    step: int
    total_steps: int
    model: nn.Module
    loss: torch.Tensor
    history: History
    stop: bool = False
    stop_reason: str = ""


class Callback(Protocol):
    def __call__(self, state: TrainState) -> None: ...


class Every:
    """Call ``fn(state)`` at step 0 (before training), every ``k`` steps, and at the last step."""

    def __init__(self, k: int, fn: Callable[[TrainState], None]):
        self.k, self.fn = max(1, k), fn

    def __call__(self, state: TrainState) -> None:
        if state.step % self.k == 0 or state.step == state.total_steps or state.stop:
            self.fn(state)


class LogMetrics(Every):
    """Every ``k`` steps: check the loss is finite, then log ``evaluate(model)`` (a dict of floats) into the
    history. ``evaluate`` runs under ``torch.no_grad`` with the model in eval mode."""

    def __init__(self, k: int, evaluate: Callable[[nn.Module], dict[str, float]]):
        super().__init__(k, self._log)
        self.evaluate = evaluate

    def _log(self, state: TrainState) -> None:
        loss = state.loss.item()
        if not math.isfinite(loss):
            raise DivergedError(state.step, loss)
        was_training = state.model.training
        state.model.eval()
        with torch.no_grad():
            metrics = self.evaluate(state.model)
        state.model.train(was_training)
        state.history.log(state.step, metrics)


class StopWhen:
    """Stop once ``predicate(history)`` holds at a logging step (checked after each new log entry)."""

    def __init__(self, predicate: Callable[[History], bool], reason: str):
        self.predicate, self.reason, self._seen = predicate, reason, -1

    def __call__(self, state: TrainState) -> None:
        n = sum(len(s) for s, _ in state.history.curves.values())
        if n != self._seen:
            self._seen = n
            if self.predicate(state.history):
                state.stop, state.stop_reason = True, self.reason


class Progress:
    """Advance a tqdm-like bar (``update``, ``set_postfix``) and show the latest values of ``show`` metrics."""

    def __init__(self, bar, show: Iterable[str] = (), every: int = 1):
        self.bar, self.show, self.every, self._done = bar, tuple(show), max(1, every), 0

    def __call__(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.step == state.total_steps or state.stop:
            self.bar.update(state.step - self._done)
            self._done = state.step
            post = {name: f"{state.history.last(name):.3g}" for name in self.show if name in state.history.curves}
            if post:
                self.bar.set_postfix(post, refresh=False)


def fit(
    model: nn.Module,
    data: Dataset,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    callbacks: Iterable[Callback] = (),
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    history: History | None = None,
) -> tuple[History, TrainState]:
    """Train ``model`` on ``data.x_train, data.y_train`` for ``steps`` optimizer steps.

    ``batch_size=None`` (or >= n_train) takes full-batch steps; otherwise minibatches are consecutive slices of
    a fresh permutation each epoch, drawn from ``generator``. Callbacks run once before the first step (step 0,
    with the loss of the untrained model) and after every step. Returns the history and the final state
    (``state.stop_reason`` says why training ended early, if it did).
    """
    history = history if history is not None else History()
    callbacks = list(callbacks)
    x, y = data.x_train, data.y_train
    n = len(x)
    full = batch_size is None or batch_size >= n
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    order, cursor = None, n

    model.train()
    with torch.no_grad():
        initial = loss_fn(model(x if full else x[:batch_size]), y if full else y[:batch_size])
    state = TrainState(0, steps, model, initial, history)
    for cb in callbacks:
        cb(state)
    for step in range(1, steps + 1):
        if state.stop:
            break
        if full:
            xb, yb = x, y
        else:
            if cursor + batch_size > n:
                # drawn on the CPU generator, then moved: a CPU generator cannot drive a CUDA randperm
                order, cursor = torch.randperm(n, generator=generator).to(x.device), 0
            idx = order[cursor : cursor + batch_size]
            cursor += batch_size
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)  # the rows x[idx] gives, in half the time

        def closure(xb=xb, yb=yb) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            batch_loss = loss_fn(model(xb), yb)
            batch_loss.backward()
            return batch_loss

        # torch.optim's closure protocol: plain optimizers call it once; SAM (and LBFGS) re-evaluate with it
        loss = optimizer.step(closure)
        if scheduler is not None:
            scheduler.step()
        state.step, state.loss = step, loss.detach()
        for cb in callbacks:
            cb(state)
    final = state.loss.item()
    if not math.isfinite(final):
        raise DivergedError(state.step, final)
    return history, state


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int = 8192,
) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on ``(x, y)``, in chunks of ``batch_size`` rows; accuracy is nan for
    float (regression) targets."""
    total_loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size])
        yb = y[i : i + batch_size]
        total_loss += loss_fn(out, yb).item() * len(yb)
        if not yb.is_floating_point():
            correct += (predictions(out) == yb).sum().item()
    n = max(len(x), 1)
    return total_loss / n, (math.nan if y.is_floating_point() else correct / n)
