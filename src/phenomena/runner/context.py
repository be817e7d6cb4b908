"""What a catalog entry's ``run(cfg, ctx)`` may use from the runner: seeds, folders, progress bars."""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm.auto import tqdm


@dataclasses.dataclass
class RunContext:
    """Handed to ``run(cfg, ctx)``.

    ``seed`` is the run's seed; ``generator(stream)`` gives an independent, reproducible ``torch.Generator`` per
    named stream ("data", "init", "batches", ...) so adding one random draw never shifts another. ``artifacts`` is
    the run's own folder (write checkpoints there), ``cache`` a shared folder for derived data sets. ``workers``
    is how many processes the run may use for independent pieces (:meth:`map`): 1 by default and inside sweep
    workers (the sweep already fills the cores), ``phenomena run --workers K`` to spread one run.
    """

    run_id: str
    seed: int
    artifacts: Path
    cache: Path
    show_progress: bool = True
    workers: int = 1

    def generator(self, stream: str = "") -> torch.Generator:
        return torch.Generator().manual_seed(self.stream_seed(stream))

    def stream_seed(self, stream: str = "") -> int:
        """A seed for ``stream`` derived from the run's seed (stable across processes, unlike ``hash``)."""
        mix = sum((i + 1) * ord(c) for i, c in enumerate(stream))
        return (self.seed * 1_000_003 + mix) % (2**63)

    def progress(self, total: int, desc: str = ""):
        """A tqdm bar on stderr; off when progress is off (``--quiet``) or stderr is not a terminal."""
        return tqdm(
            total=total,
            desc=desc,
            file=sys.stderr,
            disable=not (self.show_progress and sys.stderr.isatty()),
            leave=False,
            dynamic_ncols=True,
        )

    def map(self, fn: Callable, items: Sequence, cost: Sequence[float] | None = None,
            done: Callable[[int, object], None] | None = None) -> list:
        """``[fn(item) for item in items]``, spread over ``workers`` processes when there are more than one.

        Workers are spawned (no state is inherited, as with the sweep's process executor) with one torch thread
        each, so ``fn`` must be a module-level function and items picklable; the largest ``cost`` first keeps
        the processes evenly busy. ``done(i, result)`` runs in this process as item i finishes (progress bars).
        Results are in the order of ``items`` and, computed at one thread, equal those of a one-thread run.
        """
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            out = []
            for i, item in enumerate(items):
                out.append(fn(item))
                if done is not None:
                    done(i, out[-1])
            return out
        order = sorted(range(len(items)), key=lambda i: -cost[i]) if cost is not None else range(len(items))
        out: list = [None] * len(items)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(items)), mp_context=ctx, initializer=torch.set_num_threads,
                                 initargs=(1,)) as pool:  # fmt: skip
            futures = {pool.submit(fn, items[i]): i for i in order}
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    out[i] = future.result()
                    if done is not None:
                        done(i, out[i])
            except BaseException:  # a failed piece (or Ctrl-C) fails the run: drop what has not started
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return out
