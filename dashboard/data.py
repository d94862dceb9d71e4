"""The app's read-only data access: cached dataset queries keyed by the data version."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import flask
import pandas as pd
from flask_caching import Cache
from sqlalchemy import Engine

from dashboard import i18n
from db import queries
from db.datasets import Filters, Selection

EXTENSION = "ironriver"
T = TypeVar("T")
# The version is one cheap query, but every callback needs it; a short memo keeps it off the hot path.
VERSION_TTL_SECONDS = 2.0
# How many page views (and their rendered components) a process keeps, least recently used out.
KEPT_VIEWS = 256


@dataclass
class AppData:
    """Per-app state kept on the Flask app (never module globals): engine, cache, settings."""

    engine: Engine
    cache: Cache
    export_max_rows: int
    stale_after_days: int = 30
    _version: tuple[float, str] = field(default=(0.0, ""))
    _kept: OrderedDict[str, object] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def version(self) -> str:
        checked, version = self._version
        if time.monotonic() - checked > VERSION_TTL_SECONDS:
            version = queries.data_version(self.engine)
            self._version = (time.monotonic(), version)
        return version

    def rows(self, selection: Selection) -> pd.DataFrame:
        """The rows of `selection`: exactly what a chart draws and its download returns."""
        return self.cached(f"rows:{selection!r}", lambda: selection.rows(self.engine))

    def dataset(self, name: str, filters: Filters | None = None) -> pd.DataFrame:
        """Rows of dataset `name` with `filters` (the selection of those)."""
        return self.rows(Selection(name, filters or Filters()))

    def cached(self, key: str, compute: object) -> pd.DataFrame:
        full_key = f"{self.version()}:{key}"
        frame = self.cache.get(full_key)
        if frame is None:
            frame = compute()  # type: ignore[operator]
            self.cache.set(full_key, frame)
        return frame.copy()

    def clear(self) -> None:
        """Forget every cached query result and kept view (benchmarks measure uncached views)."""
        self.cache.clear()
        with self._lock:
            self._kept.clear()

    def kept(self, key: str, compute: Callable[[], T]) -> T:
        """A value computed once per data version and language, kept in this process, unpickled.

        For page views: frozen values and rendered components that every request for the same
        state reuses as they are, so a repeated view costs a dictionary look-up.
        """
        full_key = f"{self.version()}:{i18n.language()}:{key}"
        with self._lock:
            if full_key in self._kept:
                self._kept.move_to_end(full_key)
                return self._kept[full_key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._kept[full_key] = value
            while len(self._kept) > KEPT_VIEWS:
                self._kept.popitem(last=False)
        return value

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Any value computed once per data version and language (figures, text, footers)."""
        full_key = f"{self.version()}:{i18n.language()}:{key}"
        value = self.cache.get(full_key)
        if value is None:
            value = compute()
            self.cache.set(full_key, value)
        return value


@dataclass(frozen=True, eq=False)
class ChartData:
    """A chart's selection and the rows drawn from it: its footer cites and links exactly these."""

    selection: Selection
    rows: pd.DataFrame
    what: str

    @classmethod
    def of(cls, data: AppData, selection: Selection, what: str) -> ChartData:
        return cls(selection, data.rows(selection), what)


def current() -> AppData:
    """The data access of the app serving this request."""
    return flask.current_app.extensions[EXTENSION]
