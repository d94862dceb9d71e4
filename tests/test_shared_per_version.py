"""What every view of a data version shares is computed once per version; views are forgotten apart."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from dashboard.data import EXTENSION
from dashboard.figures.style import rows_of


def _data(app: Any) -> Any:
    return app.server.extensions[EXTENSION]


def test_a_shared_value_is_computed_once_per_data_version(app: Any) -> None:
    data = _data(app)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with app.server.app_context():
        assert data.shared("thing", compute) == 1
        assert data.shared("thing", compute) == 1
        data.forget_views()  # a view's caches go, what all views share stays
        assert data.shared("thing", compute) == 1
        # A new load changes the version; the memo is set so that it is not read again.
        data._version = (float("inf"), "another-version")
        assert data.shared("thing", compute) == 2
        data.clear()
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
