"""Every page's figures, over a broad set of views, are exactly the pinned ones (golden digests).

The figures are built as plain dicts for speed; these digests were written by the plotly
graph-object builders they replaced, so any change in what a chart draws (a trace, a hover, an
axis, a band, a phone-width layout) fails here. After a deliberate change, check the new figures
and rewrite the digests with `pytest tests/test_figure_goldens.py --update-golden`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import plotly.io as pio
import pytest

from dashboard import i18n
from dashboard.app import create_app
from dashboard.data import current
from dashboard.views import estimates, gc_armas, map, trends
from db.engine import make_engine
from db.migrate import upgrade
from db.settings import Settings
from tests.conftest import sqlite_url

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "figures.json"
# The trends' default axis reaches the current year: pinned, so the digests do not age.
YEAR = 2026
PAGES: dict[str, ModuleType] = {
    "map": map,
    "trends": trends,
    "estimates": estimates,
    "gc-armas": gc_armas,
}
KINDS = ("", "gc_armas", "gc_armas,bilateral_dialogue,data_release,policy,legal,report")
WINDOWS = ({}, {"from": "2010", "to": "2015"}, {"to": "2012"}, {"from": "2000"})


@pytest.fixture(scope="module")
def embedded_only(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The dashboard over the embedded datasets alone: no trace file loaded."""
    from etl.pipeline import run_embedded

    path = tmp_path_factory.mktemp("embedded") / "ironriver.sqlite"
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    run_embedded(engine)
    engine.dispose()
    return create_app(Settings.from_env({"DATABASE_URL": sqlite_url(path)}))


@pytest.fixture(scope="module")
def with_traces(loaded_db_template: Path) -> Any:
    """The dashboard over the embedded datasets and the sample trace file (only read)."""
    return create_app(Settings.from_env({"DATABASE_URL": sqlite_url(loaded_db_template)}))


def _canonical(value: Any) -> Any:
    """JSON as plotly.js reads it: numbers as floats, typed arrays as lists, keys sorted later."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if set(value) in ({"bdata", "dtype"}, {"bdata", "dtype", "shape"}):
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return _canonical(array.tolist())
    return {key: _canonical(v) for key, v in value.items()}


def digest(figure: dict[str, Any]) -> str:
    """A figure's digest: of the JSON Dash sends, with equal meanings written one way."""
    drawn = _canonical(json.loads(pio.json.to_json_plotly(figure)))
    return hashlib.sha256(json.dumps(drawn, sort_keys=True).encode()).hexdigest()[:20]


def _views(app: Any, full: bool) -> list[tuple[str, dict[str, str], str]]:
    """(page, query, language) of the views to pin: every state, series and measure, every kind
    of window and event choice, both languages."""
    with app.server.test_request_context("/"):
        series = list(map.catalogue(current()).values())
        states = [""]
        for dataset in ("source-states", "recovery-states"):
            rows = current().dataset(dataset)
            states += sorted(set(rows.loc[rows["geo_level"].str.endswith("_state"), "geo_code"]))
    views: list[tuple[str, dict[str, str], str]] = []
    for lang in i18n.LANGUAGES:
        for state in states if full and lang == i18n.DEFAULT else ["", "TX", "02", "14"]:
            views.append(("trends", {"state": state} if state else {}, lang))
        for state in ["", "TX", "CA", "02"] if full else [""]:
            for kinds in KINDS:
                for window in WINDOWS:
                    query = {"kinds": kinds, **window}
                    views.append(("trends", {**query, "state": state} if state else query, lang))
        us = [s for s in series if s.country == "US"]
        mx = [s for s in series if s.country == "MX"]
        for chosen in us + mx:
            for measure in ("count", "share", "per_100k", "per_100_dealers"):
                other = mx[0] if chosen.country == "US" else us[0]
                pair = (chosen, other) if chosen.country == "US" else (other, chosen)
                query = {"us": pair[0].key, "mx": pair[1].key, "measure": measure}
                for year in chosen.years[:1] + chosen.years[-1:] if chosen.years else [None]:
                    views.append(("map", {**query, **({"year": str(year)} if year else {})}, lang))
        views.append(("map", {}, lang))
        for kinds in (None, *KINDS):
            views.append(("gc-armas", {} if kinds is None else {"kinds": kinds}, lang))
        views.append(("estimates", {}, lang))
        views.append(("estimates", {"question": "us_sourced_share"}, lang))
    return views


def _digests(app: Any, name: str, full: bool) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for page, query, lang in _views(app, full):
        with app.server.test_request_context("/"), i18n.use(lang):
            state, problems = PAGES[page].state_from_url(current(), query)
            assert problems == [], (page, query, problems)
            view = PAGES[page].build_view(current(), state)
        drawn = [view.figure] if hasattr(view, "figure") else []
        drawn += [chart.figure for q in getattr(view, "questions", ()) for chart in q.charts]
        key = f"{name} {lang} {page}?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        found[key] = [digest(figure) for figure in drawn]
    return found


def test_every_figure_is_the_pinned_one(
    with_traces: Any, embedded_only: Any, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trends, "this_year", lambda: YEAR)
    found = {
        **_digests(with_traces, "with-traces", full=True),
        **_digests(embedded_only, "embedded-only", full=False),
    }
    if update_golden:
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(found) == sorted(pinned), "the set of views changed: rewrite the digests"
    changed = [key for key in pinned if found[key] != pinned[key]]
    assert changed == [], f"{len(changed)} of {len(pinned)} views draw other figures: {changed[:5]}"
    assert len(pinned) > 300
