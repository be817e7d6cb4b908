"""What a sweep worker does: compute one run from its :class:`RunSpec` and hand back an :class:`Outcome`.

A worker never writes the store: the driving process records every outcome, so there is a single writer and no
lock contention however many workers there are. Errors inside a run become data (a ``diverged`` or ``failed``
outcome with the reason), so one bad grid point never stops a sweep.
"""

from __future__ import annotations

import dataclasses
import importlib
import traceback
from pathlib import Path
from typing import Any

from phenomena.parallel import set_threads
from phenomena.result import Result


@dataclasses.dataclass
class Outcome:
    """The result of computing one run in a worker.

    ``status`` is ``finished`` (``result`` holds the judged :class:`Result`), ``diverged`` or ``failed``
    (``error`` says why: the divergence step and loss, or the traceback). ``environment`` describes the
    worker (host, threads), which may differ from the driving process.
    """

    run_id: str
    status: str
    result: Result | None = None
    error: str | None = None
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)


def work(spec) -> Outcome:
    """Compute the run described by ``spec`` (a :class:`~phenomena.runner.execute.RunSpec`); never raises for
    errors inside the run (KeyboardInterrupt and SystemExit still propagate).

    >>> outcome = work(spec)            # in a worker process
    >>> outcome.status, outcome.result.summary
    """
    from phenomena.errors import DivergedError
    from phenomena.experiment import RunContext
    from phenomena.runner.execute import compute, environment

    env = environment(spec.config.seed)
    try:
        entry = importlib.import_module(spec.module).ENTRY  # the worker need not share the driver's registry
        ctx = RunContext(
            spec.run_id,
            spec.config.seed,
            Path(spec.artifacts),
            Path(spec.cache),
            show_progress=False,
            experiment=entry.name,
            shared_dir=Path(spec.shared) if spec.shared else None,
        )
        result = compute(entry, spec.config, ctx)
    except DivergedError as e:
        return Outcome(spec.run_id, "diverged", error=str(e), environment=env)
    except Exception as e:
        return Outcome(spec.run_id, "failed", error="".join(traceback.format_exception(e)), environment=env)
    if ctx.reused:  # provenance: these pieces' values (and their cost) belong to a sibling run
        env["reused_pieces"] = list(ctx.reused)
    return Outcome(spec.run_id, "finished", result=result, environment=env)


def work_with_threads(spec, threads: int) -> Outcome:
    """:func:`work` after capping torch's threads (for executors whose workers have no initializer, e.g. Ray)."""
    set_threads(threads)
    return work(spec)
