"""The parallel parser: row checks in a second thread while this one inserts (2 cores)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from etl.traces.checks import Batch, Progress
from etl.traces.handoff import read_ahead
from etl.traces.parsing import ParseJob, parse

# A file at least this big is parsed in a second thread while this one inserts (2 cores); for a
# smaller file, the hand-over would cost more than it saves.
PARALLEL_MIN_BYTES = 8 << 20


def two_cores() -> bool:
    """Whether this process may run on two CPUs at once."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) > 1


def worth_a_worker(size: int) -> bool:
    """Whether a file of `size` bytes is parsed in a second thread."""
    return two_cores() and size >= PARALLEL_MIN_BYTES


class ParsedInWorker:
    """`parse` run in a second thread from now on, its batches received here as this thread
    inserts.

    `prepare`, if given, runs on each batch in that thread too (PostgreSQL: the rows sorted and
    written as COPY's tuples, so that this thread only sends them).

    A thread, not a forked process: the work of both sides is in C that lets go of the GIL
    (Arrow's reader and kernels, ADBC's ingest, SQLite, libpq), and a forked process would
    count every page of the libraries and modules this process holds a second time (the
    process tree's peak RSS, issue 13). At most one batch waits while the next is parsed, so
    memory stays bounded; `close` (the load ending, or failing) stops the thread and joins it.
    `progress.line` is the line where reading the file failed, if it did.
    """

    def __init__(self, job: ParseJob, prepare: Callable[[Batch], Batch] | None = None) -> None:
        self.progress = Progress()
        self._own = Progress()  # written by the parser's thread
        parsed = parse(job, self._own)
        # One batch parsed ahead, and the next being parsed, while this thread inserts one.
        self._batches = read_ahead(
            parsed if prepare is None else map(prepare, parsed), "ironriver-trace-parser", bound=2
        )

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        try:
            return next(self._batches)
        except StopIteration:
            raise
        except Exception:
            self.progress.line = self._own.line  # reading the file failed there
            raise

    def close(self) -> None:
        """Stop parsing and end the thread (waiting for the batch being parsed, if one is)."""
        self._batches.close()
