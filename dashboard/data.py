"""The app's read-only data access: cached dataset queries keyed by the data version."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import flask
import pandas as pd
from flask_caching import Cache
from sqlalchemy import Engine

from db import queries
from db.datasets import Filters, Selection

EXTENSION = "ironriver"
T = TypeVar("T")
# The version is one cheap query, but every callback needs it; a short memo keeps it off the hot path.
VERSION_TTL_SECONDS = 2.0


@dataclass
class AppData:
    """Per-app state kept on the Flask app (never module globals): engine, cache, settings."""

    engine: Engine
    cache: Cache
    export_max_rows: int
    stale_after_days: int = 30
    _version: tuple[float, str] = field(default=(0.0, ""))

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

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Any value computed once per data version (page views: figures, text, footers)."""
        full_key = f"{self.version()}:{key}"
        value = self.cache.get(full_key)
        if value is None:
            value = compute()
            self.cache.set(full_key, value)
        return value


def current() -> AppData:
    """The data access of the app serving this request."""
    return flask.current_app.extensions[EXTENSION]
