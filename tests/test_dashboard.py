"""The dashboard without a browser: queries and figures as plain functions, routes via Flask."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import html
from plotly.io.json import to_json_plotly
from sqlalchemy import Engine, insert, select

from dashboard import components, figures, text
from dashboard.app import create_app
from dashboard.data import current
from dashboard.views.map import catalogue, for_country, option_key
from db import freshness, queries
from db.datasets import DATASETS, Filters, InvalidRequest, Selection, neutralise
from db.engine import make_engine
from db.facts import published_facts
from db.models import EtlRun, Fact
from db.settings import Settings
from tests.conftest import SAMPLE_TRACES

NFCTA = {"release": "ATF NFCTA Vol IV", "period": "2022-2023"}
FGR = {"release": "FGR seizures 2006-2024 (El Universal, 1 Aug 2024)", "period": "2006-2024"}


@pytest.fixture
def engine(loaded_db_url: str) -> Iterator[Engine]:
    engine = make_engine(loaded_db_url, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture
def writable(loaded_db_url: str) -> Iterator[Engine]:
    engine = make_engine(loaded_db_url)
    yield engine
    engine.dispose()


def page(path: str) -> Any:
    """The page module Dash Pages loaded for `path` (loaded by `create_app`)."""
    names = {
        "/": "map",
        "/trends": "trends",
        "/estimates": "estimates",
        "/gc-armas": "gc_armas",
        "/sources": "sources",
        "/status": "status",
    }
    return sys.modules[f"pages.{names[path]}"]


def render(app: Any, path: str, **query: str) -> Any:
    """A page's layout for a URL, as Dash Pages would build it for the browser."""
    with app.server.test_request_context(path):
        return page(path).layout(**query)


def texts(component: Any) -> str:
    """Every string inside a Dash component tree, joined: what a reader would see."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(texts(c) for c in component)
    out = [texts(getattr(component, "children", None))]
    for prop in ("value", "label", "options"):
        value = getattr(component, prop, None)
        if isinstance(value, str):
            out.append(value)
    return " ".join(t for t in out if t)


def find(component: Any, component_id: str) -> Any:
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = find(child, component_id)
            if found is not None:
                return found
    return None


def links(component: Any) -> list[str]:
    found = []
    href = getattr(component, "href", None)
    if isinstance(href, str):
        found.append(href)
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found += links(child)
    return found


def as_strings(frame: pd.DataFrame) -> list[list[str]]:
    """Rows as a CSV would carry them: NULL empty, numbers as printed, formulas neutralised."""
    return [
        [
            "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(neutralise(v))
            for v in row
        ]
        for row in frame.itertuples(index=False)
    ]


def read_csv(body: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    return rows[0], rows[1:]


# ---------------------------------------------------------------------------- queries


def test_count_measure_keeps_figures_and_share_keeps_percents(engine: Engine) -> None:
    counts = published_facts(engine, "source-states", Filters(measure="count", **NFCTA))
    shares = published_facts(engine, "corridors", Filters(measure="share", **NFCTA))
    assert set(counts["unit"]) == {"firearms"}
    assert set(counts["geo_code"]) >= {"TX", "AZ", "CA", "NM"}
    assert set(shares["unit"]) == {"percent"}


def test_fact_measure_names_still_filter_exactly(engine: Engine) -> None:
    rows = published_facts(engine, "trace-totals", Filters(measure="traced_firearms"))
    assert set(rows["measure"]) == {"traced_firearms"}


def test_missing_published_figures_stay_null_never_zero(engine: Engine) -> None:
    rows = published_facts(engine, "recovery-states", Filters(**FGR))
    missing = rows[rows["value"].isna()]
    assert len(missing) == 9
    assert not (rows["value"] == 0).any()


def test_trace_queries_select_one_file_by_its_checksum(engine: Engine) -> None:
    files = queries.trace_files(engine)
    assert len(files) == 1
    prefix = files["checksum"].iloc[0][:12]
    rows = queries.traces_by(engine, "source_state", Filters(release=prefix, year=2014))
    assert set(rows["source_id"]) == {f"trace-file:{prefix}"}
    assert rows["firearms"].sum() == 3
    assert queries.traces_by(engine, "source_state", Filters(release="ffffffffffff")).empty


def test_trace_share_is_of_the_whole_file_even_for_one_state(engine: Engine) -> None:
    everyone = queries.traces_by(engine, "source_state", Filters())
    texas = queries.traces_by(engine, "source_state", Filters(state="TX"))
    assert list(texas["source_state"]) == ["TX"]
    assert texas["share_pct"].iloc[0] == everyone.set_index("source_state").loc["TX", "share_pct"]
    assert texas["share_pct"].iloc[0] < 100


def test_traces_by_year_for_a_state_counts_that_states_traces(engine: Engine) -> None:
    texas = queries.traces_by_year(engine, Filters(state="TX"))
    sonora = queries.traces_by_year(engine, Filters(state="26"))
    assert dict(zip(texas["year"], texas["firearms"], strict=True))[2014] == 1
    assert (texas["us_sourced"] == texas["firearms"]).all()  # a source state means US-sourced
    assert dict(zip(sonora["year"], sonora["firearms"], strict=True))[2014] == 1


def test_map_series_lists_each_release_and_period_separately(engine: Engine) -> None:
    series = queries.map_series(engine)
    nfcta = series[(series["dataset"] == "source-states") & (series["release"] == NFCTA["release"])]
    assert set(nfcta["period"]) >= {"2022-2023"}
    fgr = series[(series["release"] == FGR["release"]) & (series["dataset"] == "recovery-states")]
    assert int(fgr["states"].max()) == 23  # the nine unpublished states do not count


def test_recent_runs_lists_newest_first(engine: Engine) -> None:
    runs = freshness.recent_runs(engine, 5)
    assert len(runs) == 5
    assert list(runs["run"]) == sorted(runs["run"], reverse=True)


# ---------------------------------------------------------------------------- figures


def test_format_value_never_prints_a_missing_figure_as_zero() -> None:
    assert text.format_value(None, "firearms") == "no published figure"
    assert text.format_value(float("nan"), "percent") == "no published figure"
    assert text.format_value(4800, "firearms", "approx") == "≈4,800 firearms"
    assert text.format_value(40, "percent", "more_than") == ">40%"


def test_map_layer_keeps_unpublished_states_grey_not_zero(engine: Engine) -> None:
    rows = published_facts(engine, "recovery-states", Filters(**FGR))
    layer = figures.map_layer(rows, country="MX", measure="count", sources={})
    figure = go.Figure(
        figures.map_figure(
            layer.head(0),
            layer,
            us_title="",
            mx_title="firearms",
            geojson_urls=figures.geojson_urls(),
        )
    )
    grey, coloured = [t for t in figure.data if t.type == "choropleth" and "/mx." in t.geojson]
    assert len(coloured.locations) == 23
    assert 0 not in list(coloured.z)
    assert len(grey.locations) == 9  # unpublished states are drawn, but grey
    # Each grey state's hover says there is no figure and gives its row's reason.
    unpublished = rows[rows["value"].isna()]
    notes = dict(zip(unpublished["geo_code"], unpublished["note"], strict=True))
    hover = {custom[-1]: custom[1] for custom in grey.customdata}
    assert set(hover) == set(notes)
    for code, note in notes.items():
        assert hover[code].startswith(figures.MISSING_TEXT)
        assert note[:90] in hover[code].replace("<br>", " ")
    assert "09" in coloured.locations  # Ciudad de México
    assert all(
        isinstance(t.geojson, str) and t.geojson.startswith("/geo/") for t in (grey, coloured)
    )


def nfcta_map(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame, go.Figure]:
    """NFCTA Vol IV's US layer of counts, its corridors, and the map drawn from the two."""
    us_rows = published_facts(engine, "source-states", Filters(measure="count", **NFCTA))
    corridors = published_facts(engine, "corridors", Filters(measure="count", **NFCTA))
    us = figures.map_layer(us_rows, country="US", measure="count", sources={})
    figure = go.Figure(
        figures.map_figure(
            us,
            us.head(0),
            us_title="t",
            mx_title="t",
            geojson_urls=figures.geojson_urls(),
            corridors=corridors,
        )
    )
    return us, corridors, figure


def test_map_figure_draws_both_countries_in_one_north_america_projection(engine: Engine) -> None:
    _, corridors, figure = nfcta_map(engine)
    assert figure.layout.geo.scope == "north america"
    assert figure.layout.geo.projection.type != "albers usa"
    lines = [t for t in figure.data if t.type == "scattergeo" and t.mode.startswith("lines")]
    assert len(lines) == len(corridors)
    drawn = dict(zip(figure.data[1].locations, figure.data[1].z, strict=True))
    assert drawn["TX"] == 7825


def test_trends_figure_never_joins_two_releases_in_one_line(engine: Engine) -> None:
    rows = published_facts(engine, "trace-totals")
    rows = rows[rows["measure"].isin(["traced_firearms", "us_sourced_pct"])]
    figure = go.Figure(figures.trends_figure(rows, pd.DataFrame(), pd.DataFrame(), sources={}))
    releases_per_line = [
        {c[4] for c in trace.customdata} for trace in figure.data if trace.customdata is not None
    ]
    assert releases_per_line and all(len(r) == 1 for r in releases_per_line)
    names = {t.name for t in figure.data}
    assert any("CY2007-2011" in n for n in names)
    assert any("June 2011" in n for n in names)


def test_trends_figure_shades_the_gc_armas_suspension(engine: Engine) -> None:
    events = queries.events(engine, Filters(kinds=("gc_armas",)))
    figure = go.Figure(figures.trends_figure(pd.DataFrame(), pd.DataFrame(), events, sources={}))
    bands = [s for s in figure.layout.shapes if s.type == "rect"]
    assert bands and str(bands[0].x0).startswith("2012") and str(bands[0].x1).startswith("2015")
    assert any("suspended" in (a.text or "") for a in figure.layout.annotations)


def test_estimates_figure_draws_ranges_and_marks_unverified(engine: Engine) -> None:
    rows = queries.estimates(engine, Filters(measure="how_many_per_year"))
    rows = rows[rows["measure"] == "firearms_trafficked_per_year"]
    figure = go.Figure(figures.estimates_figure(rows, sources={}))
    ranges = [t for t in figure.data if t.mode == "lines+markers"]
    ranged = rows.dropna(subset=["low", "high"])
    assert len(ranges) == len(ranged)
    assert sorted(tuple(t.x) for t in ranges) == sorted(
        (float(r.low), float(r.high)) for r in ranged.itertuples()
    )
    shares = queries.estimates(engine, Filters(measure="us_sourced_share"))
    figure = go.Figure(figures.estimates_figure(shares, sources={}))
    labels = " ".join(str(t.text) for t in figure.data if t.text is not None)
    assert "UNVERIFIED" in labels


# ---------------------------------------------------------------------------- pages


@pytest.mark.parametrize("path", ["/", "/trends", "/estimates", "/gc-armas", "/sources", "/status"])
def test_every_page_is_served_and_renders_from_the_database(
    app: Any, client: Any, path: str
) -> None:
    assert client.get(path).status_code == 200
    layout = render(app, path)
    assert texts(layout)


def test_unknown_page_is_a_friendly_404(client: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b"Traceback" not in response.data


def test_map_layout_reads_its_view_from_the_query_string(app: Any) -> None:
    key = "source-states.atf-nfcta-vol-iv.2022-2023"
    layout = render(app, "/", us=key, measure="count")
    assert find(layout, "map-us").value == option_key(key)
    assert find(layout, "map-measure").value == "count"
    summary = texts(find(layout, "map-summary"))
    assert "Texas 7,825 firearms" in summary
    assert "9 of 32 states have no published figure" in summary
    assert find(layout, "map-search").data.startswith(f"?us={key}")


def test_map_layout_ignores_bad_parameters_and_says_so(app: Any) -> None:
    layout = render(app, "/", us="nonsense", year="abc", measure="weird")
    shown = texts(layout)
    assert "us=nonsense is not a series" in shown
    assert "year=abc is not a year" in shown
    assert find(layout, "map-measure").value == "count"


def test_every_geo_graph_reads_topojson_from_local_assets(app: Any) -> None:
    graph = find(render(app, "/"), "map-graph")
    assert graph.config["topojsonURL"] == "/assets/topojson/"
    assert (
        Path(__file__).parents[1] / "dashboard/assets/topojson/north-america_110m.json"
    ).exists()


def test_map_draws_exactly_the_rows_its_download_link_returns(app: Any, client: Any) -> None:
    key = "source-states.atf-nfcta-vol-iv.2022-2023"
    layout = render(app, "/", us=key, measure="count")
    href = next(
        h for h in links(find(layout, "map-us-footer")) if h.endswith(".csv") or ".csv?" in h
    )
    response = client.get(href)
    assert response.status_code == 200
    header, rows = read_csv(response.data)
    # Views are cached as plain dicts; a go.Figure reads them back the way plotly.js would.
    drawn = go.Figure(find(layout, "map-graph").figure)
    coloured = next(t for t in drawn.data if t.type == "choropleth" and t.showscale is not False)
    from_csv = {
        r[header.index("geo_code")]: float(r[header.index("value")])
        for r in rows
        if r[header.index("geo_level")] == "us_state"
    }
    assert dict(zip(coloured.locations, map(float, coloured.z), strict=True)) == from_csv


def test_trends_for_a_state_reads_that_states_rows(app: Any) -> None:
    layout = render(app, "/trends", state="TX")
    assert texts(find(layout, "trends-title")) == "Trends: Texas"
    shown = links(find(layout, "trends-footers"))
    assert "/api/v1/source-states.csv?state=TX" in shown


def test_trends_event_kinds_come_from_the_url(app: Any) -> None:
    layout = render(app, "/trends", kinds="gc_armas,legal")
    assert find(layout, "trends-kinds").value == ["gc_armas", "legal"]
    assert "kinds=gc_armas%2Clegal" in find(layout, "trends-search").data


def test_estimates_mark_unverified_figures(app: Any) -> None:
    layout = render(app, "/estimates")
    shown = texts(layout)
    assert "UNVERIFIED" in shown
    assert "How many guns are trafficked" in shown


def test_gc_armas_page_shows_both_origin_accounts(app: Any) -> None:
    shown = texts(render(app, "/gc-armas"))
    assert "1995" in shown and "2009" in shown
    assert "Sources differ on GC-Armas' origin" in shown


def test_sources_page_lists_every_dataset_with_downloads_and_citations(
    app: Any, engine: Engine
) -> None:
    layout = render(app, "/sources")
    hrefs = links(layout)
    for name in DATASETS:
        assert f"/api/v1/{name}.csv" in hrefs, name
    shown = texts(layout)
    citation = queries.sources(engine)["citation"].iloc[0]
    assert citation in shown
    assert "not a random sample" in shown


def test_status_page_lists_recent_runs(app: Any) -> None:
    shown = texts(render(app, "/status"))
    assert "ATF traces of firearms recovered in Mexico" in shown and "loaded" in shown
    assert "atf_trace_totals" not in shown


def test_a_synthetic_trace_file_is_labelled_on_every_page(
    loaded_db_url: str, writable: Engine, tmp_path: Path
) -> None:
    from etl.traces import load_trace_file

    synthetic = tmp_path / "synthetic-more.csv"
    shutil.copy(SAMPLE_TRACES, synthetic)
    text = synthetic.read_text().replace("SYN-00", "SYX-00")
    synthetic.write_text(text)
    load_trace_file(writable, synthetic)
    app = create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}))
    for path in ("/", "/trends", "/sources", "/status"):
        assert "SYNTHETIC" in texts(render(app, path)), path


def test_source_line_links_every_cited_source_to_the_sources_page(engine: Engine) -> None:
    rows = published_facts(engine, "source-states", Filters(**NFCTA))
    line = components.source_line(rows, queries.sources(engine))
    assert "/sources#S20a" in links(line)
    assert isinstance(line, html.P)


# ---------------------------------------------------------------------------- downloads


def test_csv_download_equals_the_query_function_rows(client: Any, engine: Engine) -> None:
    params = {"measure": "count", **NFCTA}
    response = client.get("/api/v1/source-states.csv", query_string=params)
    assert response.status_code == 200
    header, rows = read_csv(response.data)
    expected = DATASETS["source-states"].query(engine, Filters.from_args(params))
    assert header == list(expected.columns)
    assert rows == as_strings(expected)
    assert {"status", "source_id", "citation"} <= set(header)


def test_json_download_equals_the_query_function_rows(client: Any, engine: Engine) -> None:
    response = client.get("/api/v1/events.json?kinds=gc_armas")
    body = json.loads(response.data)
    expected = DATASETS["events"].query(engine, Filters(kinds=("gc_armas",)))
    assert len(body["rows"]) == len(expected)
    assert [r["title_en"] for r in body["rows"]] == list(expected["title_en"])
    assert body["filters"] == {"kinds": "gc_armas"}


def test_download_names_the_dataset_and_the_data_version(client: Any, engine: Engine) -> None:
    response = client.get("/api/v1/corridors.csv")
    version = queries.data_version(engine)
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="ironriver-corridors-{version}.csv"'
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["X-Data-Version"] == version


def test_bom_parameter_prefixes_the_csv_for_excel(client: Any) -> None:
    assert client.get("/api/v1/corridors.csv?bom=1").data.startswith(b"\xef\xbb\xbf")
    assert not client.get("/api/v1/corridors.csv").data.startswith(b"\xef\xbb\xbf")


def test_a_download_over_the_export_row_limit_is_a_400(loaded_db_url: str, client: Any) -> None:
    _, rows = read_csv(client.get("/api/v1/corridors.csv").data)

    def limited(limit: int) -> Any:
        env = {"DATABASE_URL": loaded_db_url, "IRONRIVER_EXPORT_MAX_ROWS": str(limit)}
        return create_app(Settings.from_env(env)).server.test_client()

    refused = limited(len(rows) - 1).get("/api/v1/corridors.csv")
    assert refused.status_code == 400
    assert str(len(rows) - 1) in refused.get_data(as_text=True)
    allowed = limited(len(rows)).get("/api/v1/corridors.csv")
    assert allowed.status_code == 200
    assert read_csv(allowed.data)[1] == rows


def test_trace_downloads_name_their_file_on_every_row(client: Any) -> None:
    header, rows = read_csv(client.get("/api/v1/traces-by-source-state.csv?year=2014").data)
    status = {r[header.index("status")] for r in rows}
    assert status == {"SYNTHETIC"}  # the sample fixture is synthetic and says so
    assert all(r[header.index("source_id")].startswith("trace-file:") for r in rows)


def test_formula_cells_are_neutralised_in_downloads(loaded_db_url: str, writable: Engine) -> None:
    with writable.begin() as connection:
        run = connection.execute(select(EtlRun.id).limit(1)).scalar_one()
        connection.execute(
            insert(Fact).values(
                dataset="corridors",
                measure="corridor_firearms",
                period="2099",
                year_start=2099,
                year_end=2099,
                release="=cmd|' /C calc'!A0",
                geo_level="us_state",
                geo_code="TX",
                geo_name="@SUM(1+1)",
                value=1,
                value_qualifier="exact",
                unit="firearms",
                status="VERIFIED",
                source_id="S20a",
                note='=HYPERLINK("http://example.invalid","click")',
                run_id=run,
            )
        )
    client = create_app(Settings.from_env({"DATABASE_URL": loaded_db_url})).server.test_client()
    header, rows = read_csv(client.get("/api/v1/corridors.csv?year=2099").data)
    (row,) = rows
    assert row[header.index("note")] == '\'=HYPERLINK("http://example.invalid","click")'
    assert row[header.index("release")].startswith("'=")
    assert row[header.index("geo_name")] == "'@SUM(1+1)"
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(prefix + "1") == "'" + prefix + "1"
    assert neutralise(-5) == -5  # numbers are numbers, not formulas


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/no-such-dataset.csv", "unknown dataset"),
        ("/api/v1/corridors.csv?year=abc", "year=abc is not a year"),
        ("/api/v1/corridors.csv?from=2015&to=2010", "is after"),
        ("/api/v1/corridors.csv?colour=red", "unknown parameter"),
        ("/api/v1/corridors.xls", "unknown format"),
    ],
)
def test_bad_parameters_get_a_one_line_400(client: Any, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    body = response.data.decode()
    assert message in body
    assert body.count("\n") == 1 and "Traceback" not in body


def test_filters_from_args_refuse_what_pages_also_refuse() -> None:
    with pytest.raises(InvalidRequest):
        Filters.from_args({"year": "20x4"})
    assert Filters.from_args({"measure": "share"}).as_params() == {"measure": "share"}


def test_boundaries_are_served_locally_with_long_cache_headers(client: Any) -> None:
    url = figures.geojson_urls()["US"]
    response = client.get(url)
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]
    body = json.loads(response.data)
    assert len(body["features"]) == 52
    assert client.get("/geo/xx.geojson").status_code == 404


# ---------------------------------------------------------------------------- callbacks


def props(node: object, component_id: str) -> Any:
    """The props of component `component_id` in a callback's JSON answer."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node["props"]
        node = node.get("props", {}).get("children")
    for child in node if isinstance(node, list) else [node] if isinstance(node, dict) else []:
        found = props(child, component_id)
        if found is not None:
            return found
    return None


def callback(
    client: Any,
    output: str,
    outputs: object,
    inputs: list[dict[str, Any]],
    state: list[dict[str, Any]] | None = None,
) -> Any:
    payload = {
        "output": output,
        "outputs": outputs,
        "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        "state": state or [],
    }
    return client.post("/_dash-update-component", json=payload)


def test_map_callback_answers_with_a_small_figure_that_references_the_geometry(
    app: Any, client: Any
) -> None:
    outputs = {"id": "map-view", "property": "children"}
    output = "map-view.children"
    response = callback(
        client,
        output,
        outputs,
        [
            {
                "id": "map-us",
                "property": "value",
                "value": "source-states.atf-nfcta-vol-iv.2022-2023",
            },
            {"id": "map-mx", "property": "value", "value": "x"},
            {"id": "map-measure", "property": "value", "value": "share"},
            {"id": "map-year", "property": "value", "value": None},
        ],
        state=[{"id": "url", "property": "pathname", "value": "/"}],
    )
    assert response.status_code == 200, response.data[:300]
    # One container answers: every output of the view comes back in it.
    content = response.json["response"]["map-view"]["children"]
    assert props(content, "map-search")["data"].endswith("measure=share")
    figure = json.dumps(props(content, "map-graph")["figure"])
    assert "/geo/us.geojson" in figure
    assert len(figure) < 60_000  # the geometry is a URL, not inlined


def map_callback(client: Any, us: object, mx: object, measure: str) -> Any:
    """The map's content for the controls' values, posted as the browser posts them from `/`."""
    inputs = [
        {"id": "map-us", "property": "value", "value": us},
        {"id": "map-mx", "property": "value", "value": mx},
        {"id": "map-measure", "property": "value", "value": measure},
        {"id": "map-year", "property": "value", "value": None},
    ]
    state = [{"id": "url", "property": "pathname", "value": "/"}]
    outputs = {"id": "map-view", "property": "children"}
    response = callback(client, "map-view.children", outputs, inputs, state=state)
    assert response.status_code == 200, response.data[:300]
    return response.json["response"]["map-view"]["children"]


def footer_links(content: object) -> list[str]:
    """Every href of the map's footers (downloads, sources) in a JSON answer, in order."""
    return [
        href
        for footer in ("map-us-footer", "map-mx-footer", "map-corridor-footer")
        for href in re.findall(r'"href": "([^"]+)"', json.dumps(props(content, footer)))
    ]


def map_series(app: Any, country: str) -> list[Any]:
    """The map's series of one country, in the dropdown's order."""
    with app.server.test_request_context("/"):
        return list(for_country(catalogue(current()), country).values())


def test_map_dropdowns_hold_short_option_keys_and_the_same_labels(app: Any) -> None:
    layout = render(app, "/")
    for dropdown, country in (("map-us", "US"), ("map-mx", "MX")):
        series = map_series(app, country)
        options = find(layout, dropdown).options
        assert [o["label"] for o in options] == [s.label for s in series]
        values = [o["value"] for o in options]
        assert values == [option_key(s.key) for s in series]
        assert len(set(values)) == len(values)
        # Short, because the dropdown indexes every substring of every value when it mounts.
        assert all(len(v) <= 6 for v in values), values
        assert max(len(s.key) for s in series) > 20  # what the values were: the URL's


def test_map_keeps_todays_url_values_in_links_and_downloads_with_short_option_keys(
    app: Any, client: Any
) -> None:
    """Old URL values in; the dropdowns' option keys to the callback; the same values out."""
    us = "source-states.atf-nfcta-vol-iv.2022-2023"
    mx = map_series(app, "MX")[1].key  # not the default
    query = f"?us={us}&mx={mx}&measure=share"
    layout = render(app, "/", us=us, mx=mx, measure="share")
    assert find(layout, "map-search").data == query
    assert find(layout, "map-permalink").value == query
    assert {"/chart/map.png" + query, "/chart/map.svg" + query} <= set(links(layout))
    chosen = find(layout, "map-us").value, find(layout, "map-mx").value
    assert chosen == (option_key(us), option_key(mx))
    content = map_callback(client, *chosen, measure="share")
    assert props(content, "map-search")["data"] == query
    from_url = json.loads(to_json_plotly(find(layout, "map-view").children))
    assert footer_links(content) == footer_links(from_url)
    assert any(".csv?" in h and "release=ATF+NFCTA+Vol+IV" in h for h in footer_links(content))


def test_map_callback_still_reads_a_series_key_and_defaults_an_unknown_value(client: Any) -> None:
    """A page opened before the options were short sends series keys: the same view."""
    us = "source-states.atf-nfcta-vol-iv.2022-2023"
    by_key = map_callback(client, us, None, "count")
    assert props(by_key, "map-search")["data"].startswith(f"?us={us}&mx=")
    by_option = map_callback(client, option_key(us), None, "count")
    assert props(by_option, "map-search")["data"] == props(by_key, "map-search")["data"]
    unknown = map_callback(client, "abcdef", None, "count")
    default = map_callback(client, None, None, "count")
    assert props(unknown, "map-search")["data"] == props(default, "map-search")["data"]


def test_query_params_of_download_links_round_trip_through_filters() -> None:
    filters = Filters(release="ATF NFCTA Vol IV", period="2022-2023", measure="count")
    url = Selection("source-states", filters).url()
    query = dict(parse_qsl(urlsplit(url).query))
    assert Filters.from_args(query) == filters


@pytest.mark.parametrize(
    ("path", "empty_notice"),
    [
        ("/", "no series to show"),
        ("/trends", "no published figures in this view"),
        ("/estimates", "no estimates are loaded"),
        ("/gc-armas", "no events of the chosen kinds"),
        ("/sources", "last successful load never"),
        ("/status", "no etl runs yet"),
    ],
)
def test_pages_say_so_when_the_database_is_empty(
    db_url: str, app: Any, path: str, empty_notice: str
) -> None:
    empty = create_app(Settings.from_env({"DATABASE_URL": db_url}))
    assert empty_notice in texts(render(empty, path)).lower()
    # The notice belongs to the empty state: the loaded database's page does not show it.
    assert empty_notice not in texts(render(app, path)).lower()


def test_every_dashboard_query_runs_on_each_backend(backend_url: str) -> None:
    from etl.pipeline import run_embedded
    from etl.traces import load_trace_file

    engine = make_engine(backend_url)
    try:
        assert not [o for o in run_embedded(engine) if o.error]
        load_trace_file(engine, SAMPLE_TRACES)
        prefix = queries.trace_files(engine)["checksum"].iloc[0][:12]
        for name, dataset in DATASETS.items():
            assert isinstance(dataset.query(engine, Filters()), pd.DataFrame), name
        counts = published_facts(engine, "source-states", Filters(measure="count", **NFCTA))
        assert dict(zip(counts["geo_code"], counts["value"], strict=True))["TX"] == 7825
        assert not queries.map_series(engine).empty
        assert queries.trace_file_years(engine)["year"].min() == 2014
        assert queries.traces_by_year(engine, Filters(state="TX", release=prefix))["firearms"].sum()
        assert queries.traces_by(
            engine, "recovery_state", Filters(release=prefix, year=2015)
        ).shape[0]
        assert set(queries.dataset_status_counts(engine)["status"]) <= {
            "VERIFIED",
            "DERIVED",
            "UNVERIFIED",
            "NO_FIGURE",
        }
        assert len(freshness.recent_runs(engine, 3)) == 3
    finally:
        engine.dispose()


def test_boundaries_and_scripts_are_served_compressed(client: Any) -> None:
    boundaries = client.get("/geo/mx.geojson", headers={"Accept-Encoding": "gzip"})
    assert boundaries.status_code == 200
    assert boundaries.headers["Content-Encoding"] == "gzip"
    assert "immutable" in boundaries.headers["Cache-Control"]
    import gzip
    import json

    assert len(json.loads(gzip.decompress(boundaries.data))["features"]) == 32
    plotly_js = client.get(
        "/_dash-component-suites/plotly/package_data/plotly.min.js",
        headers={"Accept-Encoding": "gzip"},
    )
    assert plotly_js.headers["Content-Encoding"] == "gzip"
    assert len(plotly_js.data) < 2_000_000


@pytest.mark.parametrize("state", ["TX", "AZ", "26", "28"])
def test_a_states_traces_per_year_match_the_loaded_rows(engine: Engine, state: str) -> None:
    from db.models import Trace
    from db.queries import traces_by_year

    with engine.connect() as connection:
        traces = pd.read_sql(select(Trace), connection)
    column = "recovery_state" if state.isdigit() else "source_state"
    mine = traces[traces[column] == state]
    us = mine["source_category"].isin(["us_manufactured", "us_imported"])
    expected = {
        int(year): (len(group), int(us[group.index].sum()))
        for year, group in mine.groupby("recovery_year")
    }
    got = traces_by_year(engine, Filters(state=state))
    assert expected, f"the sample has no traces for {state}"
    assert {int(r.year): (r.firearms, r.us_sourced) for r in got.itertuples()} == expected
