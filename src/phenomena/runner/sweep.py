"""Run a sweep: plan it, skip what has finished, compute the rest on an executor, record every outcome.

Only this (driving) process writes the store. For each run it calls ``store.begin`` when the run is submitted,
a worker computes it (:func:`~phenomena.runner.work.work`), and the outcome is recorded here as it arrives
(figure and ``store.finish`` in one transaction). Killing the driver at any moment loses nothing that had
finished: the runs in flight stay ``running`` and the same command later recomputes exactly those (and any
``failed`` or ``diverged`` ones), keeping the finished ones.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import nullcontext
from typing import Any

from tqdm.auto import tqdm

from phenomena.config import to_dict
from phenomena.errors import UserError
from phenomena.experiment import Entry
from phenomena.runner.execute import RunSpec, environment, finish_run
from phenomena.runner.executors import Executor, make_executor
from phenomena.runner.grid import Job, SweepPlan, plan_sweep
from phenomena.runner.sweep_result import SweepResult, load_sweep
from phenomena.runner.work import Outcome
from phenomena.store import Store
from phenomena.store.sqlite import HEARTBEAT_SECONDS


def sweep(
    entry: Entry,
    grid: Mapping[str, Any],
    seeds: int | Sequence[int] = 1,
    executor: str = "process",
    workers: int | None = None,
    preset: str = "quick",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    force: bool = False,
    store: Store | None = None,
    progress: bool = True,
    ray_address: str | None = None,
    on_start: Callable[[SweepPlan, int, Executor], None] | None = None,
    lookup: Callable[[str], Entry] | None = None,
) -> SweepResult:
    """Run ``entry`` at every point of ``grid`` x ``seeds`` and return the :class:`SweepResult`.

    >>> res = sweep(get_entry("grokking"), grid={"train.weight_decay": [0, 1, 2]}, seeds=3, preset="smoke")
    >>> print(res.table()); res.figure()

    ``grid`` maps dotted config keys to lists of values; ``seeds`` is a count N (seeds 0..N-1) or a list;
    ``overrides`` are fixed for every point. ``executor`` is ``serial`` (this process), ``process`` (a local
    pool of ``workers`` processes, default one per core) or ``ray`` (``ray_address`` joins a cluster). Every
    point is validated before anything runs (UserError otherwise); finished runs are reused unless ``force``
    (also across sweeps that share points); a run that diverges or fails is recorded so and the sweep goes on.
    ``on_start(plan, runs_to_compute, executor)`` is called once the plan is made, before any run starts.
    ``lookup`` finds other entries by name for the returned result (default: this entry only).
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # a spawned worker is re-importing a script that calls sweep() at top level: stop before writing anything
        raise UserError(
            "phenomena.sweep was called while a worker process was starting; a script that calls it must do so "
            "under `if __name__ == '__main__':`"
        )
    plan = plan_sweep(entry, grid, seeds, preset, overrides)
    store = store if store is not None else Store()
    run_plans([plan], executor, workers, ray_address, force, store, progress, f"sweep {entry.name}", on_start)
    result = load_sweep(plan.id, store, lookup or (lambda _: entry))
    result.write_figure(store)
    return result


def run_plans(
    plans: Sequence[SweepPlan],
    executor: str,
    workers: int | None,
    ray_address: str | None,
    force: bool,
    store: Store,
    progress: bool,
    desc: str,
    on_start: Callable[[SweepPlan, int, Executor], None] | None = None,
) -> dict[str, str]:
    """Record ``plans`` as sweeps and compute their runs that have not finished (all of them with ``force``) on
    one executor, keeping it full across plans; returns sweep id -> final status (finished, incomplete).

    A run shared by several plans is computed once. ``on_start(plan, runs_to_compute, executor)`` is called for
    the first plan once the executor is made, before any run starts.
    """
    unique: dict[str, tuple[SweepPlan, Job]] = {}
    for plan in plans:
        for job in plan.unique_jobs():
            unique.setdefault(job.run_id, (plan, job))
    records = store.records(unique)
    todo = [pj for rid, pj in unique.items() if force or getattr(records.get(rid), "status", None) != "finished"]
    pool = make_executor(executor, workers, ray_address, runs=len(todo))
    for plan in plans:
        store.begin_sweep(plan.id, plan.entry.name, plan.preset, plan.grid, plan.seeds, plan.overrides, plan.members)
    if on_start is not None and plans:
        on_start(plans[0], len(todo), pool)
    bar = tqdm(
        total=len(unique),
        initial=len(unique) - len(todo),
        desc=desc,
        unit="run",
        file=sys.stderr,
        disable=not (progress and sys.stderr.isatty()),
        dynamic_ncols=True,
    )
    # the pieces the runs share (RunContext.shared) live as long as this call, on local executors only; the
    # folders of sweeps that were killed outright (no finally ran) go first
    for folder in store.leftover_shared_folders():
        shutil.rmtree(folder, ignore_errors=True)
    try:
        # the folder outlives the pool: its workers are done with it before it goes
        with store.shared_folder() if pool.local else nullcontext() as shared, bar, pool:
            counts = _run_all(todo, pool, store, bar, str(shared) if shared else None)
    except BaseException:
        for plan in plans:
            store.finish_sweep(plan.id, "interrupted")
        raise
    statuses = {**{rid: r.status for rid, r in records.items()}, **counts}
    final = {}
    for plan in plans:
        complete = all(statuses.get(j.run_id) == "finished" for j in plan.jobs)
        final[plan.id] = "finished" if complete else "incomplete"
        store.finish_sweep(plan.id, final[plan.id])
    return final


def _run_all(
    todo: list[tuple[SweepPlan, Job]], pool: Executor, store: Store, bar, shared: str | None
) -> dict[str, str]:
    """Keep ``pool.capacity`` runs in flight until all are done; returns run id -> recorded status. ``shared``
    is the folder of the pieces the runs share (None: none)."""
    pending, in_flight = deque(todo), {}
    recorded: dict[str, str] = {}
    tally: Counter = Counter()
    beat = time.monotonic()
    try:
        while pending or in_flight:
            _step(pending, in_flight, pool, store, bar, recorded, tally, shared)
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                store.heartbeat(job.run_id for _, job in in_flight.values())
                beat = time.monotonic()
    except BaseException as e:
        # Ctrl-C, or an error of this process: the runs in flight will not be recorded by anyone
        why = "interrupted by the user" if isinstance(e, KeyboardInterrupt) else f"the sweep stopped: {e}"
        store.interrupt(why)
        raise
    return recorded


def _step(pending, in_flight, pool, store, bar, recorded, tally, shared) -> None:
    """Fill the pool up to its capacity, wait for the first run to end (or a heartbeat's time), record it."""
    while pending and len(in_flight) < pool.capacity:
        plan, job = _next_job(pending, in_flight.values()) if shared else pending.popleft()
        name = plan.entry.name
        folder = store.begin(job.run_id, name, plan.preset, to_dict(job.config), environment(job.seed), sweep=plan.id)
        spec = RunSpec(name, plan.entry.module, job.config, job.run_id, str(folder), str(store.cache_dir), shared)
        in_flight[pool.submit(spec)] = (plan, job)
    done, _ = wait(in_flight, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED)
    for future in done:
        plan, job = in_flight.pop(future)
        status = _record(store, plan, job, _outcome(future, job, pool))
        recorded[job.run_id] = status
        tally[status] += 1
        bar.set_postfix({k: v for k, v in tally.items() if k != "finished"}, refresh=False)
        bar.update(1)


def _next_job(pending: deque, in_flight: Iterable[tuple[SweepPlan, Job]]) -> tuple[SweepPlan, Job]:
    """Take the first pending run that shares its experiment and seed with no run in flight (else the first).

    Runs of one experiment and seed are the ones that can share pieces (``RunContext.shared``): started after
    the sibling that computes a piece has finished, a run reuses it instead of computing it alongside.
    """
    busy = {(plan.entry.name, job.seed) for plan, job in in_flight}
    for i, (plan, job) in enumerate(pending):
        if (plan.entry.name, job.seed) not in busy:
            del pending[i]
            return plan, job
    return pending.popleft()


def _outcome(future: Future, job: Job, pool: Executor) -> Outcome:
    """The worker's outcome, or a failed one if the worker itself broke (died, could not unpickle, ...).

    A pool none of whose workers ever started (a script that starts a sweep at import time, which every
    spawned worker re-imports) raises the pool's UserError instead: every run would fail the same way."""
    try:
        return future.result()
    except Exception as e:
        pool.raise_if_never_started()
        reason = "".join(traceback.format_exception(e))
        return Outcome(job.run_id, "failed", error=f"the worker computing this run broke: {reason}")


def _record(store: Store, plan: SweepPlan, job: Job, outcome: Outcome) -> str:
    """Write one outcome to the store; returns the status recorded."""
    # the worker's host and threads, with the command line that started the sweep
    env = {**outcome.environment, "argv": sys.argv} if outcome.environment else None
    if outcome.status == "finished":
        try:
            finish_run(store, plan.entry, outcome.result, environment=env, figure=plan.figures)
            return "finished"
        except Exception as e:  # e.g. the figure raised: the run is kept as failed, with the reason
            store.finish(job.run_id, "failed", error="".join(traceback.format_exception(e)), environment=env)
            return "failed"
    store.finish(job.run_id, outcome.status, error=outcome.error, environment=env)
    return outcome.status
