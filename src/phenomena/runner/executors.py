"""Where a sweep's runs compute: in this process, in a local process pool, or on Ray (local or a cluster).

All executors share one small interface, modelled on ``concurrent.futures``: ``submit(spec) -> Future`` of an
:class:`~phenomena.runner.work.Outcome`, ``capacity`` (how many runs to keep in flight), and ``shutdown``. The
driver waits on the futures with ``concurrent.futures.wait``; Ray's object refs become such futures through
``ObjectRef.future()``. Workers are started on the first ``submit``, so a sweep with nothing left to run
starts nothing.

- ``serial``: computes inside ``submit``, in this process (breakpoints and ``pdb`` work; the replacement for
  Ray's removed ``local_mode``).
- ``process``: :class:`phenomena.parallel.SpawnPool` (spawned workers, torch threads capped per worker so
  workers x threads <= cores; Ctrl-C and broken-pool handling shared with ``RunContext.map``).
- ``ray``: ``ray.init()`` (a local cluster) or ``ray.init(address=...)`` to join one; each run is a task with
  ``num_cpus=threads``. Ray is imported only here, and only when asked for.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from phenomena.errors import UserError
from phenomena.parallel import SpawnPool, available_cores
from phenomena.runner.work import work, work_with_threads

EXECUTORS = ("serial", "process", "ray")


class Executor:
    """The interface: ``submit(spec) -> Future[Outcome]``, ``capacity``, ``shutdown(cancel=False)``.

    Use as a context manager; leaving it by an exception (e.g. KeyboardInterrupt) cancels what is queued.
    """

    name = ""
    capacity = 1
    local = False  # every run is computed on this machine (and can read the driver's folders)

    def submit(self, spec) -> Future:  # pragma: no cover - interface
        raise NotImplementedError

    def shutdown(self, cancel: bool = False) -> None:
        """Release the workers; with ``cancel``, drop queued runs and stop running ones."""

    def raise_if_never_started(self) -> None:
        """Raise UserError if this executor's workers all died while starting (nothing can run on it)."""

    def describe(self) -> str:
        """A few words for the user, e.g. 'process pool, 4 workers x 2 threads'."""
        return self.name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.shutdown(cancel=exc_type is not None)


class SerialExecutor(Executor):
    """Computes each run inside ``submit``, in this process; the returned future is already done."""

    name = "serial"
    local = True

    def submit(self, spec) -> Future:
        future: Future = Future()
        try:
            future.set_result(work(spec))
        except Exception as e:  # work() turns run errors into outcomes; this is anything beyond that
            future.set_exception(e)
        return future

    def describe(self) -> str:
        return "serial, in this process"


class ProcessExecutor(Executor):
    """A local pool of ``workers`` spawned processes with ``threads`` torch threads each
    (:class:`phenomena.parallel.SpawnPool`, shared with ``RunContext.map``)."""

    name = "process"
    local = True

    def __init__(self, workers: int, threads: int):
        self.capacity = self.workers = workers
        self.threads = threads
        self._pool = SpawnPool(workers, threads)

    def submit(self, spec) -> Future:
        return self._pool.submit(work, spec)

    def raise_if_never_started(self) -> None:
        self._pool.raise_if_never_started()

    def shutdown(self, cancel: bool = False) -> None:
        # with cancel, the runs in flight stop too: the user asked to stop, and those stay 'running' to be redone
        self._pool.shutdown(cancel=cancel)

    def describe(self) -> str:
        return f"process pool, {self.workers} worker{'s' * (self.workers > 1)} x {self.threads} thread" + (
            "s" * (self.threads > 1)
        )


class RayExecutor(Executor):
    """Ray tasks: a local Ray instance (``address=None``) or an existing cluster (``address='auto'``,
    ``'ray://host:10001'``, ...). Each run asks for ``threads`` CPUs; ``capacity`` runs are kept in flight.

    The store stays with the driver; on a multi-node cluster, runs that write artifacts of their own
    (checkpoints) write them on the node that computed them, so give the store a shared filesystem.
    """

    name = "ray"

    def __init__(self, workers: int | None, threads: int, address: str | None):
        self.workers, self.threads, self.address = workers, threads, address
        self.capacity = workers if workers is not None else max(1, available_cores() // threads)
        self._remote = None
        self._owns_ray = False

    def _start(self):
        import ray

        if not ray.is_initialized():
            # ray logs its start-up chatter at WARNING; errors still surface as exceptions from the tasks
            options = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
            if self.address is None:
                ray.init(num_cpus=self.capacity * self.threads, **options)
            else:
                ray.init(address=self.address, **options)
            self._owns_ray = True
        if self.workers is None and self.address is not None:
            self.capacity = max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))
        self._remote = ray.remote(num_cpus=self.threads)(work_with_threads)
        return self._remote

    def submit(self, spec) -> Future:
        remote = self._remote or self._start()
        return remote.remote(spec, self.threads).future()

    def shutdown(self, cancel: bool = False) -> None:
        if self._remote is None:
            return
        import ray

        self._remote = None
        if self._owns_ray:
            ray.shutdown()  # also stops the tasks still running, which then stay 'running' to be redone
            self._owns_ray = False

    def describe(self) -> str:
        where = "local" if self.address is None else f"cluster at {self.address}"
        return f"ray ({where}), {self.capacity} runs at a time x {self.threads} CPU" + "s" * (self.threads > 1)


def make_executor(
    kind: str = "process", workers: int | None = None, ray_address: str | None = None, runs: int | None = None
) -> Executor:
    """The executor called ``kind`` (serial, process or ray), sized for ``runs`` runs on this machine.

    ``workers`` defaults to one per core (never more than ``runs``); each worker gets ``cores // workers`` torch
    threads. Raises UserError for an unknown kind, a non-positive ``workers``, ``ray_address`` without Ray, or
    ``kind='ray'`` when Ray is not installed. Nothing is started here.

    >>> make_executor("process", workers=4).describe()
    'process pool, 4 workers x 1 thread'     # on a 4-core machine
    """
    if kind not in EXECUTORS:
        raise UserError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise UserError(f"workers must be a positive integer; got {workers}")
    if ray_address is not None and kind != "ray":
        raise UserError(f"a Ray address only applies to the ray executor; got executor {kind!r}")
    cores = available_cores()
    if kind == "serial":
        return SerialExecutor()
    if kind == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UserError(
                "the ray executor needs Ray: install phenomena[ray] (pip install 'phenomena[ray]')"
            ) from None
        threads = max(1, cores // workers) if (workers and ray_address is None) else 1
        return RayExecutor(workers, threads, ray_address)
    workers = workers if workers is not None else max(1, min(cores, runs if runs else cores))
    return ProcessExecutor(workers, max(1, cores // workers))
