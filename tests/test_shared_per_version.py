"""What every view of a data version shares is computed once per version; views are forgotten apart."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dashboard import i18n
from dashboard.app import create_app
from dashboard.data import EXTENSION, AppData
from dashboard.figures.style import rows_of
from dashboard.responses import ResponseCache
from db import queries
from db.engine import make_engine
from db.settings import Settings
from etl.traces import load_trace_file
from tests.conftest import SAMPLE_TRACES


def _data(app: Any) -> Any:
    return app.server.extensions[EXTENSION]


def test_a_shared_value_is_computed_once_per_data_version(app: Any) -> None:
    data = _data(app)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    # Each app context is one request: it reads at the version served when it first asks.
    with app.server.app_context():
        assert data.shared("thing", compute) == 1
        assert data.shared("thing", compute) == 1
    data.forget_views()  # a view's caches go, what all views share stays
    with app.server.app_context():
        assert data.shared("thing", compute) == 1
    data._publish("another-version")  # as a new load's version is, once read
    with app.server.app_context():
        assert data.shared("thing", compute) == 2
    data.clear()
    with app.server.app_context():
        assert data.shared("thing", compute) == 3


def test_a_shared_value_expires_with_the_cache_timeout(app: Any, monkeypatch: Any) -> None:
    data = _data(app)
    values = iter(range(10))
    with app.server.app_context():
        first = data.shared("clocked", lambda: next(values))
        monkeypatch.setattr(data.cache.cache, "default_timeout", 0.000001)
        assert data.shared("clocked", lambda: next(values)) != first


def test_forgetting_views_drops_kept_views_and_responses(app: Any) -> None:
    data = _data(app)
    client = app.server.test_client()
    client.get("/api/v1/source-states.csv")
    with app.server.app_context():
        data.kept("a-view", lambda: "view")
    assert len(data.responses) == 1
    data.forget_views()
    assert len(data.responses) == 0
    with app.server.app_context():
        assert data.kept("a-view", lambda: "rebuilt") == "rebuilt"


def test_rows_of_gives_what_itertuples_gives() -> None:
    frame = pd.DataFrame(
        {
            "code": ["TX", None, "02"],
            "value": [1.5, np.nan, 3.0],
            "year_start": [2010, 2011, 2012],
            "when": [dt.date(2020, 1, 1), None, dt.date(2021, 6, 5)],
            "stamp": pd.to_datetime(["2020-01-01", None, "2021-01-01"]),
            "flag": [True, False, True],
            "count": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    expected = list(frame.itertuples(index=False))
    got = rows_of(frame)
    assert [r._fields for r in got] == [r._fields for r in expected]
    for ours, theirs in zip(got, expected, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert pd.isna(a) == pd.isna(b)
            assert pd.isna(a) or a == b
    # Columns that are not field names fall back to itertuples' own renaming.
    odd = frame.rename(columns={"code": "state code"})
    assert [r._fields for r in rows_of(odd)] == [r._fields for r in odd.itertuples(index=False)]
    assert rows_of(frame.head(0)) == []


# ---------------------------------------------------------------------------- after a new load


@pytest.fixture
def served(loaded_db_url: str) -> Iterator[Any]:
    """The app as `ironriver serve` and gunicorn make it: new data versions warmed first."""
    app = create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}), warm_new_versions=True)
    yield app
    _data(app).stop_watching()


def _load_another_file(database_url: str, tmp_path: Path, prefix: str) -> str:
    """Load a trace file of new trace numbers: a new data version, which it returns."""
    second = tmp_path / f"SYNTHETIC-{prefix}.csv"
    second.write_text(
        SAMPLE_TRACES.read_text(encoding="utf-8").replace("SYN-", f"{prefix}-"), encoding="utf-8"
    )
    engine = make_engine(database_url)
    load_trace_file(engine, second)
    version = queries.data_version(engine)
    engine.dispose()
    return version


def _wait_until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_after_a_load_the_new_version_is_warmed_then_served_and_the_old_dropped(
    served: Any, loaded_db_url: str, tmp_path: Path
) -> None:
    data: AppData = _data(served)
    client = served.server.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/traces-by-source-state.csv").status_code == 200
    old = data.served_version
    assert {key[0] for key in data._shared} == {old}
    new = _load_another_file(loaded_db_url, tmp_path, "SYN2")
    assert new != old
    data.follow_version()  # what the watcher does every second
    assert data.served_version == new
    # Only the new version's values are kept, and what every view shares was computed (in
    # both languages) before it was served.
    assert {key[0] for key in data._shared} == {new}
    assert {key[1] for key in data._shared} == {"en", "es"}
    assert all(key.startswith(f"{new}:") for key in data._kept)
    assert len(data.responses) == 0
    download = client.get("/api/v1/traces-by-source-state.csv")
    assert download.headers["X-Data-Version"] == new
    assert b"SYNTHETIC-SYN2.csv" in download.data


def test_the_first_requests_after_a_load_compute_nothing_every_view_shares(
    served: Any, loaded_db_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    data: AppData = _data(served)
    client = served.server.test_client()
    client.get("/")
    _load_another_file(loaded_db_url, tmp_path, "SYN3")
    data.follow_version()
    computed: list[str] = []
    shared = data.shared

    def recording(key: str, compute: Any) -> Any:
        def counted() -> Any:
            computed.append(key)
            return compute()

        return shared(key, counted)

    monkeypatch.setattr(data, "shared", recording)
    for path in ("/", "/es/", "/trends", "/es/estimates", "/gc-armas", "/sources", "/status"):
        assert client.get(path).status_code == 200
    # A view nobody asked for yet is built, from what the warm-up already computed.
    assert client.get("/es/?measure=share").status_code == 200
    assert computed == []


def test_a_new_version_is_served_only_once_warmed_and_the_warm_up_reads_it(
    app: Any, loaded_db_url: str, tmp_path: Path
) -> None:
    data: AppData = _data(app)
    with app.server.app_context():
        old = data.version()
    seen: list[tuple[str, str]] = []

    def warm() -> None:
        with app.server.app_context():
            seen.append((data.version(), data.served_version))
            data.shared("warmed", lambda: "value")

    data.watch(warm)
    new = _load_another_file(loaded_db_url, tmp_path, "SYN4")
    data.follow_version()
    assert seen == [(new, old)]  # warmed for the new version while the old was served
    assert data.served_version == new
    assert data._shared[(new, "en", "warmed")].value == "value"
    data.follow_version()  # no new load: nothing is warmed again
    assert len(seen) == 1


def test_one_request_reads_one_version_even_when_a_load_commits_meanwhile(app: Any) -> None:
    data: AppData = _data(app)
    with app.server.test_request_context("/"):
        first = data.version()
        data._publish("a-newer-version")
        assert data.version() == first
        # A value it computes now is of a version no longer served: given, never kept.
        assert data.shared("late", lambda: "old") == "old"
        assert (first, "en", "late") not in data._shared
        assert data.kept("late-view", lambda: "old view") == "old view"
        assert not any(key.startswith(f"{first}:") for key in data._kept)
    with app.server.test_request_context("/"):
        assert data.version() == "a-newer-version"
        assert data.shared("late", lambda: "new") == "new"
        assert data.shared("late", lambda: "recomputed") == "new"


def test_the_watcher_starts_with_the_first_request_and_follows_a_load(
    served: Any, loaded_db_url: str, tmp_path: Path
) -> None:
    data: AppData = _data(served)
    assert data._watcher is None
    served.server.test_client().get("/api/v1/datasets.json")
    assert data._watcher is not None and data._watcher.is_alive()
    new = _load_another_file(loaded_db_url, tmp_path, "SYN5")
    _wait_until(lambda: data.served_version == new)
    assert {key[0] for key in data._shared} == {new}
    data.stop_watching()
    assert not data._watcher.is_alive()
    assert not any(
        t.name == "ironriver-data-version" and t is data._watcher for t in threading.enumerate()
    )


def _age(data: AppData, key: tuple[str, str, str], seconds: float) -> None:
    """Make a shared value `seconds` older, as the clock would."""
    data._shared[key] = dataclasses.replace(
        data._shared[key], computed_at=data._shared[key].computed_at - seconds
    )


def _recomputed_by_a_request() -> Any:
    pytest.fail("a request recomputed a value the watcher keeps fresh")


def test_a_read_shared_value_about_to_expire_is_recomputed_off_the_request_path(
    app: Any, monkeypatch: Any
) -> None:
    data: AppData = _data(app)
    monkeypatch.setattr(data.cache.cache, "default_timeout", 300)
    computed: list[tuple[str, str, float]] = []

    def runs() -> int:
        computed.append((data.version(), i18n.language(), time.monotonic()))
        return len(computed)

    with app.server.app_context(), i18n.use("es"):
        version = data.version()
        assert data.shared("runs", runs) == 1
        data.shared("fresh", lambda: "fresh")
    runs_key, fresh_key = (version, "es", "runs"), (version, "es", "fresh")
    fresh = data._shared[fresh_key]
    _age(data, runs_key, 295)  # expires in 5 s
    data.refresh_shared()  # what the watcher does every second
    # Recomputed for its version and language; its age counts from before the computation.
    assert [(v, lang) for v, lang, _ in computed] == [(version, "es"), (version, "es")]
    assert data._shared[runs_key].computed_at <= computed[-1][2]
    assert data._shared[fresh_key] is fresh  # far from expiring: left alone
    _age(data, runs_key, 400)  # expired (the watcher was held up): recomputed all the same
    data.refresh_shared()
    assert len(computed) == 3
    with app.server.app_context(), i18n.use("es"):
        assert data.shared("runs", _recomputed_by_a_request) == 3
    assert data._watcher is None  # no watch asked for: no thread, requests compute as before


def test_a_request_never_reads_a_shared_value_older_than_the_timeout(
    app: Any, monkeypatch: Any
) -> None:
    data: AppData = _data(app)
    monkeypatch.setattr(data.cache.cache, "default_timeout", 300)
    with app.server.app_context():
        version = data.version()
        data.shared("runs", lambda: "old")
        data.shared("failing", lambda: "old")
    runs, failing = (version, "en", "runs"), (version, "en", "failing")
    _age(data, runs, 300)
    with app.server.app_context():
        assert data.shared("runs", lambda: "new") == "new"  # expired: never read

    def unreachable() -> str:
        raise RuntimeError("the database is away")

    data._shared[failing] = dataclasses.replace(data._shared[failing], compute=unreachable)
    _age(data, failing, 299)
    data.refresh_shared()  # fails (logged): dropped, so the next request computes it
    with app.server.app_context():
        assert data.shared("failing", lambda: "new") == "new"


def test_the_watcher_keeps_the_status_pages_values_fresh_and_its_requests_compute_nothing(
    served: Any, monkeypatch: Any
) -> None:
    data: AppData = _data(served)
    client = served.server.test_client()
    assert client.get("/status").status_code == 200  # starts the watcher
    monkeypatch.setattr(data.cache.cache, "default_timeout", 6)  # the watcher refreshes at 3 s
    with data._lock:  # the watcher writes meanwhile
        before = {key: kept.computed_at for key, kept in data._shared.items()}
    assert any("freshness" in key[2] for key in before)
    data.forget_views()  # the next request lays the page out again, from the shared values

    def refreshed() -> bool:
        with data._lock:
            now = {key: data._shared.get(key) for key in before}
        return all(kept is not None and kept.computed_at > before[k] for k, kept in now.items())

    _wait_until(refreshed)
    computed: list[str] = []
    shared = data.shared

    def recording(key: str, compute: Any) -> Any:
        def counted() -> Any:
            if threading.current_thread() is threading.main_thread():
                computed.append(key)
            return compute()

        return shared(key, counted)

    monkeypatch.setattr(data, "shared", recording)
    assert client.get("/status").status_code == 200
    assert computed == []


def test_the_response_cache_keeps_only_the_bodies_of_one_version() -> None:
    cache = ResponseCache()
    cache.put("20261129-r1-aaa", b"old")
    cache.put("20261129-r12-bbb", b"new")
    cache.keep_only("20261129-r12")
    assert cache.get("20261129-r1-aaa") is None
    assert cache.get("20261129-r12-bbb") == b"new"
    assert cache.size == 3
