"""The parallel parser: row checks in a forked process while this one inserts (2 cores)."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from etl.traces.checks import Batch, Progress
from etl.traces.parsing import ParseJob, parse

# A file at least this big is parsed in a forked process while this one inserts (2 cores);
# for a smaller file, starting a process would cost more than it saves.
PARALLEL_MIN_BYTES = 8 << 20


class ParserDied(RuntimeError):
    """The parsing process ended without sending its result."""


@dataclass
class _Failure:
    """What the parsing process sends instead of a batch when reading the file fails."""

    error: BaseException
    line: int


def can_fork() -> bool:
    """A worker is forked only where that is cheap and safe: Linux-like, 2+ CPUs, one thread."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) > 1 and threading.active_count() == 1


def worth_a_worker(size: int) -> bool:
    """Whether a file of `size` bytes is parsed in a worker process."""
    return can_fork() and size >= PARALLEL_MIN_BYTES


def _die_with_parent(parent: int) -> None:
    """A killed loader must not leave its parser behind (it shares the writer lock's file)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _portable(error: BaseException) -> BaseException:
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__} in the parsing process")
    return error


def _parse_worker(send: Any, job: ParseJob, parent: int) -> None:
    _die_with_parent(parent)
    progress = Progress()
    try:
        for batch in parse(job, progress):
            send.send(batch)
    except BrokenPipeError:  # the loader is gone: nobody to tell
        return
    except BaseException as error:
        with contextlib.suppress(OSError):
            send.send(_Failure(_portable(error), progress.line))
    finally:
        send.close()


def parse_in_worker(job: ParseJob, progress: Progress) -> Iterator[Batch]:
    """`parse` run in a forked process, its batches received here as this process inserts.

    The fork inherits the open feed where the header left it. At most one batch waits in
    the pipe while the next is parsed, so memory stays bounded.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    worker = context.Process(
        target=_parse_worker,
        args=(send, job, os.getpid()),
        name="ironriver-trace-parser",
        daemon=True,
    )
    worker.start()
    send.close()
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError:
                worker.join(5)
                raise ParserDied(
                    f"the parsing process ended without a result (exit code {worker.exitcode})"
                ) from None
            if isinstance(message, _Failure):
                progress.line = message.line
                raise message.error
            yield message
            if message.last:
                return
    finally:
        # Closing the pipe ends a worker still sending (BrokenPipeError); one that hangs is killed.
        receive.close()
        worker.join(5)
        if worker.is_alive():
            worker.kill()
            worker.join()
