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
    memory stays bounded; closing this iterator (the load ending, or failing) stops the thread.
    """
    own = Progress()
    parsed = parse(job, own)
    try:
        # One batch parsed ahead, and the next being parsed, while this thread inserts one.
        yield from read_ahead(
            parsed if prepare is None else map(prepare, parsed), "ironriver-trace-parser", bound=2
        )
    except Exception:
        progress.line = own.line  # reading the file failed there
        raise
