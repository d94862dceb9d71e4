"""The app's read-only data access: cached dataset queries keyed by the data version."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import flask
import pandas as pd
import plotly.graph_objects as go
from flask_caching import Cache
from sqlalchemy import Engine

from db import queries
from db.datasets import DATASETS, Filters, InvalidRequest

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

    def dataset(self, name: str, filters: Filters | None = None) -> pd.DataFrame:
        """Rows of dataset `name`: exactly what a chart draws and a download returns."""
        if name not in DATASETS:
            raise InvalidRequest(f"unknown dataset {name!r}")
        filters = filters or Filters()
        return self.cached(
            f"dataset:{name}:{filters}", lambda: DATASETS[name].query(self.engine, filters)
        )

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


def memoized_view(
    page: str,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Cache a page's `build_view(data, *args)` per arguments and data version.

    Layouts and callbacks rebuild the same view for the same URL; building the plotly figures is
    most of their time. Figures are kept as plain dicts: a pickled go.Figure is validated again
    on every load, a dict is not.
    """

    def decorate(build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(build)
        def cached(data: AppData, *args: object) -> dict[str, Any]:
            return data.memo(f"view:{page}:{args!r}", lambda: _plain(build(data, *args)))

        return cached

    return decorate


def _plain(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v.to_plotly_json() if isinstance(v, go.Figure) else v for k, v in view.items()}


def current() -> AppData:
    """The data access of the app serving this request."""
    return flask.current_app.extensions[EXTENSION]
