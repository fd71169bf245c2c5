"""Work spread over forked processes: results in order, a bounded number in flight.

Where one process is what a command waits on over many runs (parsing records into the index,
grep decompressing and searching every run's text and log), the work is handed to one process
a core. Forked, not spawned: a worker inherits the imported modules and whatever the caller
prepared in module globals, so nothing starts up and nothing is pickled but the jobs and their
results.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from journal.errors import StoreError

Job = TypeVar("Job")
Result = TypeVar("Result")

MAX_WORKERS = 8
_PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 1.0         # how often a wait for a result looks whether a worker died


def ordered_map(function: Callable[[Job], Result], jobs: Iterable[Job], *, in_flight: int,
                parallel_from: int, chunksize: int = 1,
                started: Callable[[], None] | None = None) -> Generator[Result, None, None]:
    """`function` of each job, in the jobs' order. Run here, one by one, when there are fewer
    than `parallel_from` jobs; else by a pool of forked workers (each running `started` first)
    that holds at most `in_flight` jobs or results at a time, so a consumer slower than the
    workers (a pager) bounds the memory, and jobs may come from a scan still under way.
    `function` must be a module-level function (the pool names it to its workers)."""
    import threading

    jobs = iter(jobs)
    first = list(itertools.islice(jobs, parallel_from))
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    # A process with other threads (a program using journal's API, a test runner) works
    # alone: a forked worker may inherit a lock another thread held at the fork, and wait on it
    # for ever (Python 3.12 warns of exactly this).
    if len(first) < parallel_from or workers < 2 or threading.active_count() > 1:
        for job in itertools.chain(first, jobs):
            yield function(job)
        return
    import multiprocessing

    # Jobs go in batches of `chunksize` (one message a batch), counted in flight a batch at a
    # time. Batched here, not by imap: its own batching hands back a plain generator, whose
    # wait cannot be given a timeout (to notice a dead worker).
    room = threading.Semaphore(max(1, in_flight // chunksize))
    stop = threading.Event()

    def fed() -> Iterator[tuple[Callable[[Job], Result], list[Job]]]:
        # Run by the pool's feeding thread, which would otherwise take every job at once.
        rest = itertools.chain(first, jobs)
        while batch := list(itertools.islice(rest, chunksize)):
            while not room.acquire(timeout=0.1):
                if stop.is_set():
                    return
            yield function, batch

    pool = multiprocessing.get_context("fork").Pool(
        workers, initializer=_worker_started, initargs=(started,))
    try:
        workers_at_start = _worker_pids(pool)
        results = pool.imap(_batch, fed())
        while True:
            try:
                done = results.next(WATCH_SECONDS)
            except StopIteration:
                break
            except multiprocessing.TimeoutError:
                # A worker killed (the OOM killer, a kill -9) takes its jobs with it and the
                # pool waits for them for ever: a replaced worker is the sign.
                if _worker_pids(pool) != workers_at_start:
                    _unstick(pool)
                    raise StoreError("a worker process died before its work was done",
                                     hint="out of memory? run the command again") from None
                continue
            room.release()
            yield from done
        pool.close()
    finally:
        stop.set()
        # Joined, not only terminated (as `with Pool` does): the pool's handler threads end
        # here, so no later fork (another pool, a keeper) copies a lock one of them holds.
        pool.terminate()
        pool.join()


def _batch(work: tuple[Callable[[Job], Result], list[Job]]) -> list[Result]:
    function, jobs = work
    return [function(job) for job in jobs]


def _unstick(pool: Any) -> None:
    """A worker killed while it took a job holds the job queue's lock for ever, and the pool's
    terminate would wait on that lock: every worker is killed, then the lock let go."""
    processes = list(getattr(pool, "_pool", ()))
    for process in processes:
        process.kill()
    for process in processes:
        process.join(5)
    lock = getattr(getattr(pool, "_inqueue", None), "_rlock", None)
    if lock is not None:
        lock.acquire(False)     # held by the dead (or now by us): either way, free after this
        lock.release()


def _worker_pids(pool: Any) -> set[int]:
    return {process.pid for process in getattr(pool, "_pool", ())}


def die_with_parent() -> Callable[[], None] | None:
    """A call that has the kernel kill the process that makes it when its parent dies:
    prctl(PR_SET_PDEATHSIG, SIGKILL). None where that cannot be had (not Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (ImportError, OSError, AttributeError):
        return None

    def ask() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return ask


def _worker_started(started: Callable[[], None] | None) -> None:
    import gc

    # Ctrl-C reaches the whole foreground group: the caller stops the pool (terminate), and
    # a worker must not print its own KeyboardInterrupt traceback meanwhile. A parent killed
    # outright (SIGTERM, timeout, kill -9) takes its workers with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ask = die_with_parent()
    if ask is not None:
        ask()
    # Reading commands turn the cyclic GC off (cli/main.py) as they hold little for long; a
    # worker goes through every run, so a cycle made per run must not pile up.
    gc.enable()
    if started is not None:
        started()
