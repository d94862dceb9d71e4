"""The app's read-only data access: cached dataset queries keyed by the data version."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
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
log = logging.getLogger(__name__)
# The version is one cheap query, but every callback needs it; a short memo keeps it off the hot path.
VERSION_TTL_SECONDS = 2.0
# How often a watching process reads the version (`AppData.watch`): well inside the memo's
# lifetime, so while the watcher runs no request reads it.
WATCH_SECONDS = VERSION_TTL_SECONDS / 2
# How long before a shared value expires a watching process recomputes it (`refresh_shared`):
# several ticks of the watcher, so the request after it finds the value recomputed.
REFRESH_AHEAD_SECONDS = 10 * WATCH_SECONDS
# How many page views (and their rendered components) a process keeps, least recently used out.
KEPT_VIEWS = 256
# Selections every view reads whole (source records, the event kinds): shared per data version.
SHARED_SELECTIONS = frozenset({Selection("sources"), Selection("events")})
# Where a request keeps the data version it read first (flask.g, with the app's id): every value
# in one answer is of that version, even when a load commits while the request runs.
_REQUEST_VERSION = "ironriver_data_version"
# The data version a warming thread computes values for, ahead of serving it.
_warming: ContextVar[str | None] = ContextVar("warming_data_version", default=None)


@dataclass(frozen=True, slots=True)
class _SharedValue:
    """A shared value, when it was computed and how to compute it again (`refresh_shared`)."""

    computed_at: float
    value: object
    compute: Callable[[], object]


@dataclass
class AppData:
    """Per-app state kept on the Flask app (never module globals): engine, cache, settings."""

    engine: Engine
    cache: Cache
    export_max_rows: int
    stale_after_days: int = 30
    # (when it was read, the version served): the memo every request starts from.
    _version: tuple[float, str] = field(default=(0.0, ""))
    _kept: OrderedDict[str, object] = field(default_factory=OrderedDict)
    # (version, language, key) -> the value, for the versions in `_live` only.
    _shared: dict[tuple[str, str, str], _SharedValue] = field(default_factory=dict)
    # The versions whose shared values are kept: the one served and, while it is warmed, the next.
    _live: frozenset[str] = frozenset()
    # Encoded API downloads, keyed by data version and normalised request (dashboard/api.py).
    responses: ResponseCache = field(default_factory=ResponseCache)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Set by `watch`: lays out what a new version's first views need, with that version pinned.
    _warm: Callable[[], None] | None = None
    # Set by `watch`: the context shared values are recomputed in (the app's).
    _app_context: Callable[[], AbstractContextManager[object]] = nullcontext
    _watcher: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def version(self) -> str:
        """The data version this request reads: the one served when it first asked, so values of
        two versions never meet in one answer (and, in a warming thread, the version warmed)."""
        warming = _warming.get()
        if warming is not None:
            return warming
        in_context = flask.has_app_context()
        # Per app: a test may hold two apps' data in one context.
        pin = f"{_REQUEST_VERSION}:{id(self)}"
        if in_context:
            pinned = flask.g.get(pin)
            if pinned is not None:
                return str(pinned)
        checked, version = self._version
        if time.monotonic() - checked > VERSION_TTL_SECONDS:
            # No watcher keeps the memo fresh (none asked for, not started yet, or failing).
            version = queries.data_version(self.engine)
            self._publish(version)
            self._start_watching()
        if in_context:
            setattr(flask.g, pin, version)
        return version

    @property
    def served_version(self) -> str:
        """The data version new requests read now, as last read from the database (no query)."""
        return self._version[1]

    def watch(
        self,
        warm: Callable[[], None],
        app_context: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        """Follow the data version in a background thread (one per process, started by the
        first request, so after gunicorn's fork) and serve a new version only once `warm` has
        computed, in that thread, what its views share: the first request after a load finds
        them ready. `warm` runs with the new version pinned (`version()` answers it). The thread
        also recomputes, inside `app_context()`, the shared values about to expire
        (`refresh_shared`)."""
        self._warm = warm
        self._app_context = app_context
        self._stop.clear()

    def stop_watching(self) -> None:
        """End the watcher thread (tests; a server's ends with its process)."""
        self._stop.set()
        watcher = self._watcher
        if watcher is not None:
            watcher.join()

    def _start_watching(self) -> None:
        if self._warm is None or self._stop.is_set():
            return
        with self._lock:
            # A forked worker inherits no running thread: is_alive() is False there.
            if self._watcher is not None and self._watcher.is_alive():
                return
            self._watcher = threading.Thread(
                target=_watch,
                args=(weakref.ref(self), self._stop),
                name="ironriver-data-version",
                daemon=True,
            )
            self._watcher.start()

    def follow_version(self) -> None:
        """Read the database's data version; a new one is warmed first, then served (what the
        watcher does every `WATCH_SECONDS`)."""
        version = queries.data_version(self.engine)
        served = self._version[1]
        if version == served or self._warm is None:
            self._publish(version)
            return
        with self._lock:
            self._live = self._live | {version}
            # The previous version is served until the new one is ready.
            self._version = (time.monotonic(), served)
        token = _warming.set(version)
        try:
            self._warm()
        except Exception:
            log.exception("warming data version %s failed; requests compute its values", version)
        finally:
            _warming.reset(token)
        self._publish(version)

    def _publish(self, version: str) -> None:
        """Serve `version` from now on, dropping what other versions left here (the query
        cache's entries are unreachable and age out with its timeout)."""
        with self._lock:
            changed = version != self._version[1]
            self._version = (time.monotonic(), version)
            if not changed and version in self._live:
                return
            self._live = frozenset({version})
            self._shared = {k: v for k, v in self._shared.items() if k[0] == version}
            for key in [k for k in self._kept if not k.startswith(f"{version}:")]:
                del self._kept[key]
        self.responses.keep_only(version)

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
        version = self.version()
        full_key = f"{version}:{i18n.language()}:{key}"
        with self._lock:
            if full_key in self._kept:
                self._kept.move_to_end(full_key)
                return self._kept[full_key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if version not in self._live:
                return value  # a request still reading an older version keeps nothing
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
        full_key = (version, i18n.language(), key)
        with self._lock:
            kept = self._shared.get(full_key)
            if kept is not None and now - kept.computed_at < timeout:
                return kept.value  # type: ignore[return-value]
        value = compute()
        with self._lock:
            # A request still reading an older version computes for itself, keeping nothing.
            if version in self._live:
                self._shared[full_key] = _SharedValue(now, value, compute)
        return value

    def refresh_shared(self) -> None:
        """Recompute the served version's shared values that expire within
        `REFRESH_AHEAD_SECONDS` (or have expired), so requests only read them (what the watcher
        does every `WATCH_SECONDS`). Their age counts from before the computation, so a request
        still never reads one older than the cache's timeout. The values are the few every view
        shares, a fixed set per version: recomputing them all costs a warm-up per timeout."""
        timeout = self.cache.cache.default_timeout
        if not timeout:
            return  # kept for the whole data version: nothing expires
        ahead = min(REFRESH_AHEAD_SECONDS, timeout / 2)
        now = time.monotonic()
        with self._lock:
            served = self._version[1]
            due = [
                (key, kept)
                for key, kept in self._shared.items()
                if key[0] == served and now - kept.computed_at >= timeout - ahead
            ]
        for key, kept in due:
            version, lang, name = key
            computed_at = time.monotonic()
            token = _warming.set(version)
            try:
                with self._app_context(), i18n.use(lang):
                    value = kept.compute()
            except Exception:
                log.warning("cannot recompute the shared value %s", name, exc_info=True)
                # Dropped, not retried every tick: the next request computes it (or fails) itself.
                with self._lock:
                    if self._shared.get(key) is kept:
                        del self._shared[key]
                continue
            finally:
                _warming.reset(token)
            with self._lock:
                current = self._shared.get(key)
                # Unless a request computed it meanwhile, or it was forgotten (a new version).
                if current is not None and current.computed_at < computed_at:
                    self._shared[key] = _SharedValue(computed_at, value, kept.compute)


@dataclass(frozen=True, eq=False)
class ChartData:
    """A chart's selection and the rows drawn from it: its footer cites and links exactly these."""

    selection: Selection
    rows: pd.DataFrame
    what: str

    @classmethod
    def of(cls, data: AppData, selection: Selection, what: str) -> ChartData:
        return cls(selection, data.rows(selection), what)


def _watch(ref: weakref.ref[AppData], stop: threading.Event) -> None:
    """The watcher thread: follows the version until stopped or its app is gone."""
    failing = False
    while not stop.wait(WATCH_SECONDS):
        data = ref()
        if data is None:
            return
        try:
            data.follow_version()
            data.refresh_shared()
        except Exception:
            # Requests read the version themselves meanwhile (the memo goes stale).
            if not failing:
                log.warning("cannot read the data version; retrying", exc_info=True)
            failing = True
        else:
            failing = False
        del data


def current() -> AppData:
    """The data access of the app serving this request."""
    return flask.current_app.extensions[EXTENSION]
