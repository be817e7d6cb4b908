"""Example forgetting (Toneva, Sordoni, Combes, Trischler, Bengio & Gordon 2019, "An empirical study of example
forgetting during deep neural network learning", ICLR; reference code ``mtoneva/example_forgetting``).

Conventions, pinned to the paper and its reference code:

- Statistics are kept **per presentation**: an example's record changes only when it is in a minibatch, from
  the model's outputs on that minibatch *before* the optimizer step (the forward pass the training step already
  does; ``run_cifar.py`` reads ``predicted == targets`` from the training forward pass, in train mode).
- An example is classified correctly when the arg-max of its logits is its target (``torch.max(outputs, 1)``
  in the reference code; ties go to the first maximal class). Binary logits of shape (B,) or (B, 1) predict
  class 1 when the logit is positive.
- A **forgetting event** is a correct → incorrect transition between two consecutive presentations of the same
  example (``transitions == -1``); a **learning event** is incorrect → correct. The first presentation is no
  transition, so it is neither.
- **first learned** is the 0-based index of the first presentation at which the example was correct
  (``first_learned``; -1 where the reference code has NaN); **presentations to learn** is one past the last
  presentation at which it was incorrect (0 if it never was: ``presentations_needed_to_learn``).
- **Never learned**: presented, but never classified correctly. **Unforgettable**: learned at some presentation
  and never forgotten afterwards (zero forgetting events). The two are disjoint; an example that was learned and
  forgotten at least once is **forgotten**. Together the three partition the presented examples.
- **Ranking** (``sort_examples_by_forgetting``, used for the removal experiment): sort by forgetting count,
  ascending, where a never-learned example counts as the maximum possible (the reference code adds
  ``npresentations``, the number of epochs); over several runs, the per-run counts are summed. Here the maximum
  is the largest number of presentations of any example in the run, which equals the number of epochs when
  every example is shown once per epoch, and is larger than any learned example's count in general (n
  presentations allow at most ⌊n/2⌋ forgetting events), so never-learned examples always rank last in one run.
  Ties are broken by example index (the reference code's ``np.argsort`` leaves them unspecified).

The state is a handful of (N,) tensors on one device, updated without Python loops over examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

from phenomena.errors import UserError

_STATE = ("presentations", "correct_presentations", "forgetting_events", "learning_events", "first_learned")
_STATE += ("last_incorrect", "last_correct")


def _stat(name: str, doc: str) -> property:
    """A read-only property returning a copy of one (N,) state tensor."""
    return property(lambda self: self._state[name].clone(), doc=doc)


def _integer_vector(t, what: str) -> Tensor:
    if not isinstance(t, Tensor) or t.ndim != 1 or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        dtype = f" {t.dtype}" if isinstance(t, Tensor) else ""
        raise UserError(f"{what} must be a 1-D integer tensor (a LongTensor), got{dtype} {shape}.")
    return t.long()


class ForgettingTracker:
    """Per-example forgetting statistics over the presentations of a training run (Toneva et al. 2019).

    Call :meth:`update` after every forward pass of training, before the optimizer step, with the minibatch's
    example indices (positions in the training set), the logits of that forward pass and the targets; or
    :meth:`record` with your own per-example correctness. Conventions are those of the module docstring.

    Args:
        num_examples: N, the size of the training set; indices must lie in [0, N).
        device: where the state lives; None moves it to the device of the first update's logits (or ``correct``).

    Attributes (all (N,) tensors, copies of the state):
        presentations: times each example was presented.
        correct_presentations: presentations at which it was classified correctly.
        forgetting_events: correct → incorrect transitions between consecutive presentations.
        learning_events: incorrect → correct transitions.
        first_learned: 0-based index of its first correct presentation, -1 if none.
        presentations_to_learn: one past its last incorrect presentation (0 if it never was incorrect).

    Example:
        >>> import torch
        >>> tracker = ForgettingTracker(4)
        >>> idx, y = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1])
        >>> _ = tracker.update(idx, torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), y)
        >>> _ = tracker.update(idx, torch.tensor([[0.0, 2.0], [0.0, 1.0], [0.0, 1.0]]), y)
        >>> tracker.forgetting_events.tolist(), tracker.never_learned.tolist()
        ([1, 0, 0, 0], [False, False, False, False])
        >>> tracker.unforgettable.tolist()
        [False, True, True, False]
        >>> tracker.ranking()[0].tolist()    # least forgettable first; example 3 was never presented
        [1, 2, 0]
    """

    def __init__(self, num_examples: int, device: torch.device | str | None = None):
        if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
            raise UserError(f"num_examples must be a positive integer (the training set's size), got {num_examples!r}.")
        self.num_examples = num_examples
        self._fixed_device = device is not None
        self._device = torch.device(device if device is not None else "cpu")
        self._reset()

    def _reset(self) -> None:
        n, dev = self.num_examples, self._device
        counts = {k: torch.zeros(n, dtype=torch.long, device=dev) for k in _STATE[:4]}
        self._state = {
            **counts,
            "first_learned": torch.full((n,), -1, dtype=torch.long, device=dev),
            "last_incorrect": torch.full((n,), -1, dtype=torch.long, device=dev),
            "last_correct": torch.zeros(n, dtype=torch.bool, device=dev),
        }

    def __repr__(self) -> str:
        return f"ForgettingTracker(num_examples={self.num_examples}, presented={int(self.presented.sum())})"

    @property
    def device(self) -> torch.device:
        """The device the state lives on."""
        return self._device

    def to(self, device: torch.device | str) -> ForgettingTracker:
        """Move the state to ``device`` (in place) and keep it there; returns self."""
        self._device = torch.device(device)
        self._fixed_device = True
        self._state = {k: v.to(self._device) for k, v in self._state.items()}
        return self

    # --- recording -------------------------------------------------------------------------------------------

    def update(self, indices: Tensor, logits: Tensor, targets: Tensor) -> Tensor:
        """Record one presentation of each example of a minibatch from its logits before the update.

        Args:
            indices: (B,) integer tensor, the examples' positions in the training set, in [0, N).
            logits: (B, C) outputs with C ≥ 2 classes (correct = arg-max equals the target), or (B,) / (B, 1)
                binary logits (correct = (logit > 0) equals a 0/1 target). Detached; any device.
            targets: (B,) integer class labels in [0, C) (in {0, 1} for binary logits).

        Returns:
            The (B,) boolean tensor of correctness that was recorded.
        """
        if not isinstance(logits, Tensor) or not logits.is_floating_point():
            raise UserError(f"logits must be a floating-point tensor of shape (B, C), got {_describe(logits)}.")
        y = _integer_vector(targets, "targets")
        out = logits.detach()
        binary = out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)
        if out.ndim not in (1, 2) or (out.ndim == 2 and out.shape[1] == 0):
            raise UserError(
                f"logits must have shape (B, C) with C >= 2 classes, or (B,) / (B, 1) binary logits; got "
                f"{tuple(out.shape)}."
            )
        if out.shape[0] != y.shape[0]:
            raise UserError(f"logits have {out.shape[0]} rows but targets have {y.shape[0]} entries.")
        classes = 2 if binary else out.shape[1]
        if y.numel() and not bool(((y >= 0) & (y < classes)).all()):
            bad = y[(y < 0) | (y >= classes)][0].item()
            raise UserError(f"target {bad} is out of range for {classes} classes (targets lie in [0, {classes})).")
        y = y.to(out.device)
        pred = (out.reshape(-1) > 0).long() if binary else out.argmax(1)
        correct = pred == y
        self.record(indices, correct)
        return correct

    def record(self, indices: Tensor, correct: Tensor) -> None:
        """Record one presentation of each example with a given correctness (for your own notion of correct).

        Args:
            indices: (B,) integer tensor of example indices in [0, N). An index that occurs several times in one
                call counts as several presentations, in the order given.
            correct: (B,) boolean tensor, True where the example was classified correctly.
        """
        idx = _integer_vector(indices, "indices")
        if not isinstance(correct, Tensor) or correct.dtype != torch.bool or correct.shape != idx.shape:
            raise UserError(
                f"correct must be a boolean tensor with one entry per index ({idx.shape[0]}), got {_describe(correct)}."
            )
        if idx.numel() == 0:
            return
        lo, hi = torch.aminmax(idx)
        lo, hi = int(lo), int(hi)
        if lo < 0 or hi >= self.num_examples:
            bad = lo if lo < 0 else hi
            raise UserError(f"index {bad} is out of range for num_examples={self.num_examples} (indices in [0, N)).")
        if not self._fixed_device:  # the first update: keep the state next to the outputs
            self.to(correct.device)
        idx, correct = idx.to(self._device), correct.to(self._device)
        rank = _occurrence(idx)
        rounds = int(rank.max()) + 1
        for r in range(rounds):  # repeated indices: one round per occurrence, in the order given
            mask = rank == r if rounds > 1 else slice(None)
            self._present(idx[mask], correct[mask])

    def _present(self, idx: Tensor, correct: Tensor) -> None:
        """One presentation of distinct examples ``idx``."""
        s = self._state
        seen = s["presentations"][idx]
        was = s["last_correct"][idx] & (seen > 0)
        wasnt = ~s["last_correct"][idx] & (seen > 0)
        s["forgetting_events"][idx] += (was & ~correct).long()
        s["learning_events"][idx] += (wasnt & correct).long()
        first = s["first_learned"][idx]
        s["first_learned"][idx] = torch.where((first < 0) & correct, seen, first)
        s["last_incorrect"][idx] = torch.where(correct, s["last_incorrect"][idx], seen)
        s["correct_presentations"][idx] += correct.long()
        s["last_correct"][idx] = correct
        s["presentations"][idx] = seen + 1

    # --- per-example statistics --------------------------------------------------------------------------------

    presentations = _stat("presentations", "(N,) times each example was presented.")
    correct_presentations = _stat("correct_presentations", "(N,) presentations at which it was correct.")
    forgetting_events = _stat("forgetting_events", "(N,) correct -> incorrect transitions (forgetting events).")
    learning_events = _stat("learning_events", "(N,) incorrect -> correct transitions (learning events).")
    first_learned = _stat("first_learned", "(N,) 0-based index of its first correct presentation, -1 if none.")

    @property
    def presentations_to_learn(self) -> Tensor:
        """(N,) one past its last incorrect presentation (0 if it never was incorrect)."""
        return self._state["last_incorrect"] + 1

    @property
    def presented(self) -> Tensor:
        """(N,) bool: presented at least once."""
        return self._state["presentations"] > 0

    @property
    def learned(self) -> Tensor:
        """(N,) bool: classified correctly at some presentation."""
        return self._state["first_learned"] >= 0

    @property
    def never_learned(self) -> Tensor:
        """(N,) bool: presented, but never classified correctly."""
        return self.presented & ~self.learned

    @property
    def unforgettable(self) -> Tensor:
        """(N,) bool: learned, and never forgotten (zero forgetting events)."""
        return self.learned & (self._state["forgetting_events"] == 0)

    @property
    def forgotten(self) -> Tensor:
        """(N,) bool: learned, and forgotten at least once."""
        return self._state["forgetting_events"] > 0

    # --- rankings and summaries --------------------------------------------------------------------------------

    def scores(self) -> Tensor:
        """(N,) float64 forgetting counts as Toneva ranks them: the count of forgetting events for a learned
        example, the largest number of presentations of any example for a never-learned one (more than any
        learned example can have), NaN for an example never presented."""
        s = self._state
        worst = s["presentations"].max()
        score = torch.where(self.learned, s["forgetting_events"], worst).double()
        return torch.where(self.presented, score, torch.full_like(score, float("nan")))

    def ranking(self) -> tuple[Tensor, Tensor]:
        """The presented examples from least to most forgettable: ``(indices, scores)``.

        Toneva et al.'s ``sort_examples_by_forgetting`` for this run (see :func:`rank_by_forgetting`); the
        removal experiment drops the first k of ``indices``. Examples never presented are left out.
        """
        return rank_by_forgetting([self])

    def histogram(self) -> Tensor:
        """LongTensor ``h`` with ``h[k]`` = number of learned examples with exactly k forgetting events (length
        one past the largest count; empty when nothing was learned). Never-learned examples are not in it; see
        ``never_learned`` and :meth:`summary`."""
        events = self._state["forgetting_events"][self.learned]
        return torch.bincount(events.cpu()) if events.numel() else torch.zeros(0, dtype=torch.long)

    def summary(self) -> dict[str, float]:
        """Scalars over the presented examples: ``presented`` (their number), the fractions ``unforgettable``,
        ``forgotten`` and ``never_learned`` (which sum to 1; NaN before any presentation), ``forgetting_events``
        (their total) and ``mean_forgetting`` (the mean count over learned examples, NaN if none)."""
        presented = int(self.presented.sum())
        learned = int(self.learned.sum())
        total = int(self._state["forgetting_events"].sum())

        def fraction(mask: Tensor) -> float:
            return int(mask.sum()) / presented if presented else float("nan")

        return {
            "presented": float(presented),
            "unforgettable": fraction(self.unforgettable),
            "forgotten": fraction(self.forgotten),
            "never_learned": fraction(self.never_learned),
            "forgetting_events": float(total),
            "mean_forgetting": total / learned if learned else float("nan"),
        }

    # --- checkpointing ---------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Tensor | int]:
        """The state as a dict of (N,) tensors plus ``num_examples`` (for ``torch.save``)."""
        return {"num_examples": self.num_examples, **{k: v.clone() for k, v in self._state.items()}}

    def load_state_dict(self, state: Mapping[str, Tensor | int]) -> None:
        """Restore a :meth:`state_dict` (of a tracker with the same ``num_examples``), onto this tracker's
        device."""
        if not isinstance(state, Mapping) or set(state) != {"num_examples", *_STATE}:
            keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise UserError(f"not a ForgettingTracker state_dict: expected keys num_examples and {_STATE}, got {keys}.")
        if state["num_examples"] != self.num_examples:
            raise UserError(
                f"the state_dict is for num_examples={state['num_examples']}, this tracker has {self.num_examples}."
            )
        loaded = {}
        for k in _STATE:
            v = state[k]
            if not isinstance(v, Tensor) or v.shape != (self.num_examples,) or v.dtype != self._state[k].dtype:
                raise UserError(
                    f"state_dict entry {k!r} must be a ({self.num_examples},) {self._state[k].dtype} tensor."
                )
            loaded[k] = v.detach().to(self._device).clone()
        self._state = loaded


def rank_by_forgetting(trackers: ForgettingTracker | Iterable[ForgettingTracker]) -> tuple[Tensor, Tensor]:
    """Examples ordered from least to most forgettable over one or several training runs (Toneva et al. 2019).

    The reference code's ``sort_examples_by_forgetting``: each example's score is the sum over runs of its
    forgetting count, where a run in which it was never learned contributes that run's maximum (the largest
    number of presentations of any example; ``npresentations`` = epochs in the reference code). Examples are
    sorted by score ascending, ties by index; unforgettable examples (score 0) come first, and removing the
    first k is Toneva's removal experiment.

    Args:
        trackers: one :class:`ForgettingTracker` or several (one per run), all with the same ``num_examples``.
            An example must have been presented in every run or in none (those are left out).

    Returns:
        ``(indices, scores)``: a LongTensor of example indices and their float64 summed scores, on CPU.

    Example:
        >>> import torch
        >>> a, b = ForgettingTracker(3), ForgettingTracker(3)
        >>> for t, pattern in ((a, [[1, 1, 0], [0, 1, 0]]), (b, [[1, 0, 0], [1, 1, 0]])):
        ...     for row in pattern:
        ...         t.record(torch.arange(3), torch.tensor(row, dtype=torch.bool))
        >>> rank_by_forgetting([a, b])   # example 2 never learned: 2 presentations per run
        (tensor([1, 0, 2]), tensor([0., 1., 4.], dtype=torch.float64))
    """
    runs = [trackers] if isinstance(trackers, ForgettingTracker) else list(trackers)
    if not runs or not all(isinstance(t, ForgettingTracker) for t in runs):
        raise UserError("rank_by_forgetting needs one ForgettingTracker or a non-empty list of them.")
    sizes = {t.num_examples for t in runs}
    if len(sizes) > 1:
        raise UserError(f"the trackers have different num_examples {sorted(sizes)}; rank runs on the same data set.")
    presented = torch.stack([t.presented.cpu() for t in runs])
    everywhere, somewhere = presented.all(0), presented.any(0)
    if not bool((everywhere == somewhere).all()):
        bad = int(torch.nonzero(somewhere & ~everywhere)[0])
        raise UserError(
            f"example {bad} was presented in some runs but not in others; rank runs that saw the same data."
        )
    keep = torch.nonzero(everywhere).flatten()
    total = torch.stack([t.scores().cpu() for t in runs]).sum(0)[keep]
    order = torch.argsort(total, stable=True)  # keep is ascending, so ties stay in index order
    return keep[order], total[order]


def _occurrence(idx: Tensor) -> Tensor:
    """For each position, how many earlier positions hold the same index (0 for a first occurrence)."""
    values, order = torch.sort(idx, stable=True)
    _, counts = torch.unique_consecutive(values, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(idx.numel(), device=idx.device) - torch.repeat_interleave(starts, counts)
    return torch.empty_like(rank).scatter_(0, order, rank)


def _describe(x) -> str:
    return f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else f"a {type(x).__name__}"
