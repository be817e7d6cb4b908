"""One spawn-process pool for everything that runs pieces in other processes: a sweep's process executor and
:meth:`phenomena.experiment.RunContext.map`.

Workers are *spawned* (CUDA cannot be re-initialized in a forked child, and spawn is what Python 3.14
defaults to), each with a capped number of torch threads so that workers x threads <= cores, and each ignores
Ctrl-C: the driving process stops them itself (otherwise every worker prints its own KeyboardInterrupt
traceback). A pool whose workers die while starting (typically a script that starts work at import time, which
every spawned worker re-imports) raises one clear :class:`UserError`; a worker that dies in a piece (killed,
out of memory) fails that piece, and a fresh pool takes the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from phenomena.errors import UserError
from phenomena.memory import retain_freed_memory


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def set_threads(threads: int) -> None:
    """Cap this process's intra-op threads; the environment variables reach OpenMP/MKL pools that read them
    when first used."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _init_worker(threads: int, started) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_threads(threads)
    retain_freed_memory()  # a worker's process is phenomena's: keep freed tensors' memory for the next step
    # tqdm guards its bars with a multiprocessing lock, a named semaphore that a terminated worker (Ctrl-C in
    # the driver) never unlinks ("leaked semaphore objects"); a worker's bars are silent, a thread lock will do
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    with started.get_lock():
        started.value += 1


class SpawnPool:
    """``workers`` spawned processes with ``threads`` torch threads each; started on the first :meth:`submit`.

    Use as a context manager: leaving it by an exception (a failed piece, Ctrl-C) cancels what is queued and
    terminates the pieces in flight.
    """

    def __init__(self, workers: int, threads: int = 1):
        self.workers, self.threads = workers, threads
        self._pool: ProcessPoolExecutor | None = None
        self._started = None

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        self._started = context.Value("i", 0)  # workers of this pool that got through start-up
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init_worker, initargs=(self.threads, self._started)
        )
        return self._pool

    def submit(self, fn: Callable, *args) -> Future:
        """``fn(*args)`` in a worker (``fn`` must be a module-level function, ``args`` picklable)."""
        pool = self._pool or self._start()
        try:
            return pool.submit(fn, *args)
        except BrokenProcessPool:
            self.raise_if_never_started()  # a new pool would die the same way, for every piece
            self.shutdown(cancel=True)
            return self._start().submit(fn, *args)

    def raise_if_never_started(self) -> None:
        """Raise UserError if the pool was started and none of its workers got through start-up (after a
        piece's future raised BrokenProcessPool: the workers are dead, not slow)."""
        if self._started is not None and self._started.value == 0 and self._broken():
            self.shutdown(cancel=True)
            raise UserError(
                "the process pool's workers died while starting (their error is printed above); a script "
                "that runs phenomena in worker processes must do so under `if __name__ == '__main__':`, or "
                "use one process (the serial executor, workers=1)"
            )

    def _broken(self) -> bool:
        return self._pool is not None and bool(getattr(self._pool, "_broken", False))

    def shutdown(self, cancel: bool = False) -> None:
        """Release the workers; with ``cancel``, drop queued pieces and stop running ones."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not cancel:
            pool.shutdown(wait=True)
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
        pool.shutdown(wait=True)  # the pool's own thread sees the workers gone and releases its queues

    def __enter__(self) -> SpawnPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.shutdown(cancel=exc_type is not None)
