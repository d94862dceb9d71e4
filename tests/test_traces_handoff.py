"""The loader's hand-off to a worker thread: order, bound, failures both ways, no thread left."""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import closing

import pytest

from etl.traces.handoff import HandOff, read_ahead

NAME = "ironriver-test-worker"


def worker_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == NAME]


def wait_until(condition) -> None:
    """Wait on state: poll `condition` until it holds."""
    while not condition():
        time.sleep(0.001)


def counted(started: list[int]) -> Iterator[int]:
    """0, 1, 2... without end, each recorded in `started` as it is made."""
    for number in itertools.count():
        started.append(number)
        yield number


def fail_in_the_worker() -> int:
    raise OSError(28, "No space left on device")


def test_calls_are_made_in_the_worker_thread_and_taken_back_in_the_order_handed_over():
    made: list[tuple[int, str]] = []

    def square(number: int) -> int:
        made.append((number, threading.current_thread().name))
        return number * number

    results = []
    with HandOff[int](NAME, bound=3) as worker:
        for number in range(40):
            if number >= worker.bound:  # `bound` calls pending: take the oldest back first
                results.append(worker.take())
            worker.hand_over(square, number)
        results.extend(worker.take() for _ in range(worker.bound))
    assert results == [number * number for number in range(40)]
    assert made == [(number, NAME) for number in range(40)]
    assert list(read_ahead(iter(range(1000)), NAME, bound=2)) == list(range(1000))
    assert worker_threads() == []


def test_handing_over_beyond_the_bound_waits_for_the_oldest_call_to_finish():
    finished: list[int] = []

    def slow(number: int) -> None:
        time.sleep(0.002)  # a call's work, so that an unbounded hand-off would run ahead
        finished.append(number)

    with HandOff[None](NAME, bound=2) as worker:
        for number in range(30):
            worker.hand_over(slow, number)
            # Calls 0..number handed over; all but the last `bound` of them are finished.
            assert len(finished) >= number + 1 - worker.bound
        worker.finish()
    assert finished == list(range(30))
    assert worker_threads() == []


def test_read_ahead_makes_at_most_bound_items_ahead_of_the_one_the_caller_holds():
    started: list[int] = []
    items = read_ahead(counted(started), NAME, bound=2)
    with closing(items):
        for taken in range(20):
            assert next(items) == taken
            # The thread makes the next two items and then waits for this one to be let go.
            wait_until(lambda taken=taken: len(started) >= taken + 3)
            assert started == list(range(taken + 3))
    assert worker_threads() == []


def test_a_call_failing_in_the_worker_is_raised_in_the_caller_with_its_traceback_and_stops_it():
    after: list[str] = []
    with HandOff[object](NAME, bound=4) as worker:
        worker.hand_over(int, "7")
        worker.hand_over(fail_in_the_worker)
        worker.hand_over(after.append, "made after the failure")
        assert worker.take() == 7
        with pytest.raises(OSError, match="No space left") as raised:
            worker.take()
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "fail_in_the_worker" in frames
    assert after == []
    assert worker_threads() == []


def test_finish_raises_the_first_failure_and_ends_the_thread():
    worker = HandOff[object](NAME, bound=3)
    worker.hand_over(int, "1")
    worker.hand_over(fail_in_the_worker)
    with pytest.raises(OSError, match="No space left"):
        worker.finish()
    assert worker_threads() == []


def test_an_item_failing_in_the_worker_comes_after_the_items_made_before_it():
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad byte at line 3")

    received = []
    with pytest.raises(ValueError, match="line 3") as raised:
        for item in read_ahead(items(), NAME, bound=2):
            received.append(item)
    assert received == [1, 2]
    assert "items" in [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert worker_threads() == []


def test_a_failure_of_the_caller_stops_the_worker_and_ends_its_thread():
    started: list[int] = []
    items = read_ahead(counted(started), NAME, bound=2)
    with pytest.raises(RuntimeError, match="the caller failed"), closing(items):
        for item in items:
            if item == 5:
                raise RuntimeError("the caller failed")
    assert worker_threads() == []
    assert started == list(range(len(started)))
    assert len(started) <= 5 + 1 + 2  # the items up to 5, and at most two made ahead

    made: list[int] = []
    with (
        pytest.raises(RuntimeError, match="the caller failed"),
        HandOff[None](NAME, bound=3) as worker,
    ):
        for number in range(3):
            worker.hand_over(made.append, number)
        raise RuntimeError("the caller failed")
    assert made == list(range(len(made)))  # what was made before the stop, in order
    assert worker_threads() == []
