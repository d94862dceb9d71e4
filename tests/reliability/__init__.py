"""Reliability campaigns: the same code runs small in `make test` and long in `make fuzz`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

Scale = Literal["ci", "long"]
Handler = TypeVar("Handler", bound=logging.Handler)


@dataclass(frozen=True)
class Outcome:
    """One campaign's tally: a row of the table `make fuzz` prints.

    `crashed` counts tracebacks, 5xx answers and dead processes; `clean` the inputs handled as
    designed (loaded, rejected with a reason, answered 2xx/4xx); `lost` good rows or answers that
    went missing; `canary_hits` sensitive values found anywhere they must never be.
    """

    campaign: str
    tried: int
    crashed: int
    clean: int
    lost: int
    canary_hits: int = 0
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.crashed == 0 and self.lost == 0 and self.canary_hits == 0


@contextmanager
def root_logging_to(handler: Handler) -> Iterator[Handler]:
    """`handler` receives every log record, DEBUG included, while the block runs."""
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
