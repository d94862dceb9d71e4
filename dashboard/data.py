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
from dashboard.responses import ResponseCache
from db import queries
from db.datasets import Filters, Selection
from db.facts import FactRows, dataset_facts

EXTENSION = "ironriver"
T = TypeVar("T")
# The version is one cheap query, but every callback needs it; a short memo keeps it off the hot path.
VERSION_TTL_SECONDS = 2.0
# How many page views (and their rendered components) a process keeps, least recently used out.
KEPT_VIEWS = 256
# Selections every view reads whole (source records, the event kinds): shared per data version.
SHARED_SELECTIONS = frozenset({Selection("sources"), Selection("events")})


@dataclass
class AppData:
    """Per-app state kept on the Flask app (never module globals): engine, cache, settings."""

    engine: Engine
    cache: Cache
    export_max_rows: int
    stale_after_days: int = 30
    _version: tuple[float, str] = field(default=(0.0, ""))
    _kept: OrderedDict[str, object] = field(default_factory=OrderedDict)
    _shared: dict[str, tuple[float, object]] = field(default_factory=dict)
    _shared_version: str = ""
    # Encoded API downloads, keyed by data version and normalised request (dashboard/api.py).
    responses: ResponseCache = field(default_factory=ResponseCache)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def version(self) -> str:
        checked, version = self._version
        if time.monotonic() - checked > VERSION_TTL_SECONDS:
            version = queries.data_version(self.engine)
            self._version = (time.monotonic(), version)
        return version

    def rows(self, selection: Selection) -> pd.DataFrame:
        """The rows of `selection`: exactly what a chart draws and its download returns."""
        if selection in SHARED_SELECTIONS:
            return self.shared(f"rows:{selection!r}", lambda: selection.rows(self.engine)).copy()
        return self.cached(f"rows:{selection!r}", lambda: selection.rows(self.engine, self.facts))

    def facts(self, dataset: str) -> FactRows:
        """Every row of a published dataset (a few hundred at most), read once per data version:
        a selection of them (a year window, a release, a rate's denominators) costs no query."""
        return self.shared(f"facts:{dataset}", lambda: dataset_facts(self.engine, dataset))

    def dataset(self, name: str, filters: Filters | None = None) -> pd.DataFrame:
        """Rows of dataset `name` with `filters` (the selection of those)."""
        return self.rows(Selection(name, filters or Filters()))

    def cached(self, key: str, compute: object) -> pd.DataFrame:
        if not key.startswith("rows:"):
            # Not a selection's rows: a catalogue, freshness, dataset records, shared by every view.
            return self.shared(key, compute).copy()  # type: ignore[arg-type]
        full_key = f"{self.version()}:{key}"
        frame = self.cache.get(full_key)
        if frame is None:
            frame = compute()  # type: ignore[operator]
            self.cache.set(full_key, frame)
        return frame.copy()

    def clear(self) -> None:
        """Forget everything computed, as a change of data version does."""
        self.forget_views()
        with self._lock:
            self._shared.clear()

    def forget_views(self) -> None:
        """Forget every view, response and selection's rows, keeping what all views of this data
        version share: the next request of any state is its first (benchmarks measure those)."""
        self.cache.clear()
        self.responses.clear()
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

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        """A value every view of this data version shares (catalogues, labels, freshness, the
        events and sources), kept as it is in this process for the data version, language and
        at most the cache's timeout, as the cache would keep it (freshness and run lists age
        with the clock)."""
        version, now = self.version(), time.monotonic()
        timeout = self.cache.cache.default_timeout or float("inf")
        # Per language too: catalogue labels and page bodies carry words.
        full_key = f"{i18n.language()}:{key}"
        with self._lock:
            if self._shared_version != version:
                self._shared.clear()
                self._shared_version = version
            kept = self._shared.get(full_key)
            if kept is not None and now - kept[0] < timeout:
                return kept[1]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if self._shared_version == version:
                self._shared[full_key] = (now, value)
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
