"""What a catalog entry's ``run(cfg, ctx)`` may use from the runner: seeds, folders, progress bars."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm


@dataclasses.dataclass
class RunContext:
    """Handed to ``run(cfg, ctx)``.

    ``seed`` is the run's seed; ``generator(stream)`` gives an independent, reproducible ``torch.Generator`` per
    named stream ("data", "init", "batches", ...) so adding one random draw never shifts another. ``artifacts`` is
    the run's own folder (write checkpoints there), ``cache`` a shared folder for derived data sets.
    """

    run_id: str
    seed: int
    artifacts: Path
    cache: Path
    show_progress: bool = True

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
