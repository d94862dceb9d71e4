"""The parallel parser: row checks in a second thread while this one inserts (2 cores)."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from etl.traces.checks import Batch, Progress
from etl.traces.parsing import ParseJob, parse

# A file at least this big is parsed in a second thread while this one inserts (2 cores); for a
# smaller file, the hand-over would cost more than it saves.
PARALLEL_MIN_BYTES = 8 << 20
_HANDOFF_POLL_SECONDS = 0.1


@dataclass
class _Failure:
    """What the parsing thread hands over instead of a batch when reading the file fails."""

    error: BaseException
    line: int


def two_cores() -> bool:
    """Whether this process may run on two CPUs at once."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) > 1


def worth_a_worker(size: int) -> bool:
    """Whether a file of `size` bytes is parsed in a second thread."""
    return two_cores() and size >= PARALLEL_MIN_BYTES


def parse_in_worker(
    job: ParseJob, progress: Progress, prepare: Callable[[Batch], Batch] | None = None
) -> Iterator[Batch]:
    """`parse` run in a second thread, its batches received here as this thread inserts.

    `prepare`, if given, runs on each batch in that thread too (PostgreSQL: the rows sorted and
    written as COPY's text, so that this thread only sends them).

    A thread, not a forked process: the work of both sides is in C that lets go of the GIL
    (Arrow's reader and kernels, ADBC's ingest, SQLite, libpq), and a forked process would
    count every page of the libraries and modules this process holds a second time (the
    process tree's peak RSS, issue 13). At most one batch waits while the next is parsed, so
    memory stays bounded.
    """
    handoff: queue.Queue[Batch | _Failure] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(message: Batch | _Failure) -> bool:
        while not stop.is_set():
            try:
                handoff.put(message, timeout=_HANDOFF_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False  # the loader stopped receiving

    def work() -> None:
        own = Progress()
        try:
            for batch in parse(job, own):
                if not hand_over(batch if prepare is None else prepare(batch)):
                    return
        except BaseException as error:
            hand_over(_Failure(error, own.line))

    worker = threading.Thread(target=work, name="ironriver-trace-parser", daemon=True)
    worker.start()
    try:
        while True:
            message = handoff.get()
            if isinstance(message, _Failure):
                progress.line = message.line
                raise message.error
            yield message
            if message.last:
                return
    finally:
        stop.set()
        worker.join()
