"""Every chart of every page: the rows it is drawn from are the CSV and the JSON at its own link."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import plotly.graph_objects as go
import pytest

from dashboard.app import create_app
from dashboard.data import current
from dashboard.views import estimates, gc_armas, map, trends
from db.datasets import write_rows
from db.settings import Settings
from tests.test_dashboard import links, render

NFCTA = "source-states.atf-nfcta-vol-iv.2022-2023"
FGR = "recovery-states.fgr-seizures-2006-2024-el-universal-1-aug-2024.2006-2024"
# Stands for the loaded trace file's series key, known only once the database is built.
TRACE_FILE = "<trace file>"

VIEWS: dict[str, ModuleType] = {
    "/": map,
    "/trends": trends,
    "/estimates": estimates,
    "/gc-armas": gc_armas,
}
CASES: list[tuple[str, dict[str, str]]] = [
    ("/", {}),
    ("/", {"measure": "share"}),
    ("/", {"us": NFCTA, "mx": FGR, "measure": "count"}),
    ("/", {"us": NFCTA, "mx": FGR, "measure": "share"}),  # a DERIVED share: counts downloaded
    ("/", {"us": TRACE_FILE, "mx": TRACE_FILE, "measure": "count"}),
    ("/", {"us": TRACE_FILE, "mx": TRACE_FILE, "year": "first"}),
    ("/trends", {}),
    ("/trends", {"from": "2012", "to": "2014"}),
    ("/trends", {"from": "2009"}),
    ("/trends", {"to": "2010"}),
    ("/trends", {"state": "TX"}),
    ("/trends", {"state": "TX", "from": "2010", "to": "2016"}),
    ("/trends", {"state": "14"}),
    ("/trends", {"state": "CA", "kinds": "gc_armas,legal", "from": "2008", "to": "2020"}),
    ("/trends", {"kinds": ""}),
    ("/estimates", {}),
    ("/estimates", {"question": "us_sourced_share"}),
    ("/gc-armas", {}),
    ("/gc-armas", {"kinds": "gc_armas,legal,report"}),
]


@pytest.fixture(scope="module")
def app(loaded_db_template: Any) -> Any:
    # The template is only read: views and downloads never write.
    return create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{loaded_db_template}"}))


def _query(app: Any, query: dict[str, str]) -> dict[str, str]:
    """`query` with the trace file's series key and first year filled in."""
    with app.server.test_request_context("/"):
        file = next(s for s in map.catalogue(current()).values() if s.annual)
    filled = {k: file.key if v == TRACE_FILE else v for k, v in query.items()}
    if filled.get("year") == "first":
        filled["year"] = str(file.years[0])
    return filled


@pytest.mark.parametrize(("path", "query"), CASES, ids=[f"{p}?{q}" for p, q in CASES])
def test_every_chart_draws_exactly_the_rows_its_links_return_and_its_figure_is_valid(
    app: Any, path: str, query: dict[str, str]
) -> None:
    query = _query(app, query)
    client = app.server.test_client()
    with app.server.test_request_context(path):
        state, problems = VIEWS[path].state_from_url(current(), query)
        assert problems == []
        view = VIEWS[path].build_view(current(), state)
    # Figures are built without plotly's per-property checks; reading them back runs them all.
    drawn = [view.figure] if hasattr(view, "figure") else []
    drawn += [c.figure for q in getattr(view, "questions", ()) for c in q.charts]
    for figure in drawn:
        go.Figure(figure)
    shown = links(render(app, path, **query))
    assert view.charts, "every case draws at least one chart"
    for chart in view.charts:
        for fmt in ("csv", "json"):
            url = chart.selection.url(fmt)
            assert url in shown, f"{url} is not the link under the chart"
            response = client.get(url)
            assert response.status_code == 200, response.data[:200]
            drawn = "".join(write_rows(chart.rows, fmt))
            if fmt == "csv":
                assert response.data.decode("utf-8") == drawn
            else:
                assert response.json["rows"] == json.loads(drawn)["rows"]


def test_a_year_window_narrows_the_trends_table_and_downloads(app: Any) -> None:
    client = app.server.test_client()
    everything = client.get("/api/v1/trace-totals.json").json["rows"]
    layout = render(app, "/trends", **{"from": "2012", "to": "2014"})
    link = next(h for h in links(layout) if h.startswith("/api/v1/trace-totals.json"))
    rows = client.get(link).json["rows"]
    assert 0 < len(rows) < len(everything)
    assert all(r["year_start"] >= 2012 and r["year_end"] <= 2014 for r in rows)
    with app.server.test_request_context("/trends"):
        state, _ = trends.state_from_url(current(), {"from": "2012", "to": "2014"})
        view = trends.build_view(current(), state)
    assert len(view.published.rows) == len(rows)
    assert view.window == (2012, 2014)
