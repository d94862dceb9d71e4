"""A bounded hand-off to one worker thread: the loader's parser and its staging writer."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")


class _Skipped(Exception):
    """A call handed over after one that failed: not made. The caller takes that failure first."""


def _name_thread(name: str) -> None:
    # The executor would call its thread `name_0`; tests and profiles look for `name` itself.
    threading.current_thread().name = name


class HandOff(Generic[R]):
    """A thread of its own that makes the calls handed to it, one after another in order, while
    the thread that hands them over goes on; their results are taken back in the same order.

    At most `bound` calls are handed over and not yet taken back: handing one more over first
    takes back the oldest (waiting for it), so the batches in flight, and memory, stay bounded.
    A call that fails has its failure raised, traceback and all, where it is taken back, and no
    call after it is made. Closing (leaving the `with` block, also on a failure of the caller's)
    drops the calls not started, waits for the one running, and ends the thread.

    concurrent.futures (the standard library) runs the thread and carries each call's result or
    failure back; this adds the bound, the stop after a failure and the thread's name.
    """

    def __init__(self, name: str, *, bound: int) -> None:
        self.bound = bound
        self._failed = False
        self._pending: deque[Future[R]] = deque()
        self._pool = ThreadPoolExecutor(1, initializer=_name_thread, initargs=(name,))

    def __enter__(self) -> HandOff[R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def hand_over(self, call: Callable[..., R], *args: Any) -> None:
        """Have the thread make `call(*args)` after the calls handed over before; if `bound` are
        pending, the oldest is taken back first (its result dropped, its failure raised here)."""
        while len(self._pending) >= self.bound:
            self.take()
        self._pending.append(self._pool.submit(self._make, call, args))

    def take(self) -> R:
        """The oldest pending call's result, once it is made; its failure is raised here."""
        return self._pending.popleft().result()

    def finish(self) -> None:
        """Take back every pending call (the first failure is raised here), and end the thread."""
        try:
            while self._pending:
                self.take()
        finally:
            self.close()

    def close(self) -> None:
        """Drop the calls not started, wait for the one running, and end the thread."""
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _make(self, call: Callable[..., R], args: tuple[Any, ...]) -> R:
        if self._failed:
            raise _Skipped
        try:
            return call(*args)
        except BaseException:
            self._failed = True
            raise


def read_ahead(items: Iterator[T], name: str, *, bound: int) -> Iterator[T]:
    """`items`, each made in a thread of its own (`HandOff`) while the caller works on the ones
    before: at most `bound` made or being made ahead of the one the caller holds. A failure to
    make one is raised where it would have been received; closing this iterator stops the
    thread."""
    with HandOff[T](name, bound=bound) as worker:
        for _ in range(bound):
            worker.hand_over(next, items)
        while True:
            try:
                item = worker.take()
            except StopIteration:
                return
            worker.hand_over(next, items)
            yield item
