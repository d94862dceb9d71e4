"""Issue 9: every chart, table, hover and download says exactly what its data says."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import dcc, html
from sqlalchemy import Engine

from dashboard import figures, messages
from db import queries
from db.datasets import DATASETS, Filters
from db.engine import make_engine
from db.facts import published_facts
from etl.sources import REGISTRY
from tests.test_dashboard import find, nfcta_map, render, texts

PAGES = ["/", "/trends", "/estimates", "/gc-armas", "/sources", "/status"]
SPANISH_PAGES = ["/es/", "/es/trends", "/es/estimates", "/es/gc-armas", "/es/sources", "/es/status"]
# Words from the team's working notes that must never reach a reader.
WORKING_NOTES = [
    "figures.md",
    "seed paper",
    "seed-documents",
    "stored text",
    "show only with an unverified mark",
    "excerpt cut",
    "(copy)",
    "n.d..",
    "as recalled",
]
# The same notes as a translator might have carried them into the Spanish pages.
WORKING_NOTES_ES = [
    "artículo semilla",
    "documento semilla",
    "documentos semilla",
    "texto guardado",
    "texto almacenado",
    "mostrar solo con una marca",
    "extracto cortado",
    "extracto recortado",
    "(copia)",
    "s.f..",
    "según se recuerda",
    "de memoria",
]
SOURCE_ID = re.compile(r"\b[SP]\d{1,2}[a-z]?\b")
# Download columns that are prose (ids live in their own columns, which is where they belong).
PROSE_COLUMNS = (
    "note",
    "description",
    "caveats",
    "method_note",
    "why_differs",
    "citation",
    "title",
    "title_en",
    "date_label",
    "period",
    "release",
)
LINK_TYPES = (dcc.Link, html.A)


@pytest.fixture
def engine(loaded_db_url: str) -> Iterator[Engine]:
    engine = make_engine(loaded_db_url, read_only=True)
    yield engine
    engine.dispose()


def graph(layout: Any, graph_id: str) -> go.Figure:
    """The figure of a page's graph as plotly objects (layouts may carry it as a dict)."""
    return go.Figure(find(layout, graph_id).figure)


def national_trends(engine: Engine) -> Any:
    rows = published_facts(engine, "trace-totals")
    rows = rows[rows["measure"].isin(["traced_firearms", "trace_requests", "us_sourced_pct"])]
    return go.Figure(
        figures.trends_figure(
            rows, pd.DataFrame(), pd.DataFrame(), sources={}, main_measures=("traced_firearms",)
        )
    )


def line_traces(figure: Any) -> list[Any]:
    return [
        t
        for t in figure.data
        if t.type == "scatter"
        and t.mode
        and "lines" in t.mode
        and t.x is not None
        and len(t.x) >= 2
        and t.marker.symbol != "line-ns"  # a period bar, not a line through years
    ]


def plain_strings(component: Any, inside_link: bool = False) -> list[str]:
    """Strings a reader sees that are not the label of a link."""
    if component is None:
        return []
    if isinstance(component, str):
        return [] if inside_link else [component]
    if isinstance(component, int | float):
        return []
    if isinstance(component, list | tuple):
        return [s for c in component for s in plain_strings(c, inside_link)]
    linked = inside_link or isinstance(component, LINK_TYPES)
    return plain_strings(getattr(component, "children", None), linked)


# ---------------------------------------------------------------------------- 1. gaps, part years


def test_trend_lines_break_at_every_missing_year(engine: Engine) -> None:
    joined = []
    for trace in line_traces(national_trends(engine)):
        points = list(trace.x)
        for left, right in itertools.pairwise(points):
            if left is not None and right is not None and right.year - left.year != 1:
                joined.append((trace.name, left.year, right.year))
    assert joined == []


def test_a_part_year_figure_is_hollow_labelled_and_never_joined(engine: Engine) -> None:
    figure = national_trends(engine)
    holders = [
        t
        for t in figure.data
        if t.customdata is not None and any("Jan-Aug" in str(c[0]) for c in t.customdata)
    ]
    assert holders, "the Jan-Aug 2018 figure is drawn"
    for trace in holders:
        assert "lines" not in trace.mode
        assert str(trace.marker.symbol).endswith("-open")
        assert any("Jan-Aug" in str(t) for t in trace.text)


# ---------------------------------------------------------------------------- 2. categories


def test_no_map_series_mixes_firearm_categories(engine: Engine) -> None:
    for dataset in ("source-states", "recovery-states"):
        rows = published_facts(engine, dataset)
        rows = rows[rows["geo_level"].isin(["us_state", "mx_state"])]
        mixed = rows.fillna({"category": ""}).groupby(["release", "period", "measure"])["category"]
        assert (mixed.nunique() <= 1).all(), mixed.unique()[mixed.nunique() > 1]


def test_a_category_is_in_the_map_label_of_its_figure(engine: Engine) -> None:
    rows = published_facts(engine, "recovery-states", Filters(period="2021"))
    layer = figures.map_layer(rows, country="MX", measure="count", sources={})
    texts_by_state = dict(zip(layer["name"], layer["text"], strict=True))
    assert texts_by_state["Tamaulipas"] == "1,316 firearms (long guns only)"
    assert texts_by_state["Guanajuato"] == "1,351 firearms (short guns only)"


# ---------------------------------------------------------------------------- 3./4. comparability


def test_rows_that_are_not_source_state_shares_say_what_they_are(engine: Engine) -> None:
    rows = published_facts(engine, "source-states")
    by_source = {s: g["release"].iloc[0] for s, g in rows.groupby("source_id")}
    assert by_source["S78"].startswith("Transit claim")
    assert "Mexico + Guatemala + El Salvador + Honduras" in by_source["S18"]
    assert by_source["S77"].startswith("One seizure")
    described = {s.dataset: s.description for s in REGISTRY}
    assert "first retail sale" not in described["source-states"]


def test_texas_trend_draws_none_of_the_non_comparable_rows(app: Any) -> None:
    layout = render(app, "/trends", state="TX")
    figure = graph(layout, "trends-graph")
    releases = {c[4] for t in figure.data if t.customdata is not None for c in t.customdata}
    assert not [r for r in releases if r.startswith(("Transit claim", "One seizure"))]
    summary = texts(find(layout, "trends-summary"))
    assert "not comparable" in summary and "Transit claim" in summary


def test_shares_of_successful_traces_are_named_apart_from_shares_of_requests(
    engine: Engine,
) -> None:
    rows = published_facts(engine, "trace-totals")
    gao = rows[rows["release"] == "GAO-09-709"]
    assert set(gao["measure"]) <= {
        "us_sourced_of_successful_traces_pct",
        "us_manufactured_of_successful_traces_pct",
        "us_imported_of_successful_traces_pct",
    }
    shares = queries.estimates(engine, Filters(measure="us_sourced_share"))
    assert not set(shares["source_id"]) & {"S26", "S91"}, "seizure shares sit apart"
    assert set(shares.loc[shares["source_id"].isin(["S08", "S08b"]), "measure"]) == {
        "us_sourced_of_successful_traces_pct"
    }


# ---------------------------------------------------------------------------- 5. unverified words


def test_the_suspension_is_called_unverified_wherever_it_is_drawn(app: Any, engine: Engine) -> None:
    lede = texts(render(app, "/trends"))
    assert "the shaded band is the GC-Armas suspension" not in lede
    assert "only the 2019 Taskforce white paper reports (UNVERIFIED)" in lede
    events = queries.events(engine, Filters(kinds=("gc_armas",)))
    figure = go.Figure(figures.timeline_figure(events, sources={"P1": "Taskforce white paper"}))
    band = [a.text for a in figure.layout.annotations if "suspended" in str(a.text)]
    assert band and all("UNVERIFIED" in t for t in band)


def test_undated_accounts_are_listed_but_never_placed_on_the_time_axis(engine: Engine) -> None:
    events = queries.events(engine, Filters())
    officials = events[events["title_en"].str.contains("70 to 100")]
    assert officials["date_start"].isna().all() and len(officials) == 1
    figure = go.Figure(figures.timeline_figure(events, sources={}))
    hovers = " ".join(str(t.text) for t in figure.data if t.text is not None)
    assert "70 to 100" not in hovers
    segob = events[events["description"].fillna("").str.contains("SEGOB")]
    assert (segob["status"] == "UNVERIFIED").any() and (segob["source_id"] == "P1").any()


def test_corrected_figures_say_what_their_sources_say(engine: Engine) -> None:
    estimates = queries.estimates(engine, Filters())
    assert not (estimates["low"] == 106700).any() and not (estimates["high"] == 468000).any()
    profit = estimates[(estimates["source_id"] == "P1") & (estimates["central"] == 127)]
    assert "revenue" in profit["method_note"].iloc[0]
    funding = published_facts(engine, "merida-funding")
    gao = funding[funding["source_id"] == "S13"]
    assert gao["geo_name"].tolist() == ["Mexico and Central American countries"]
    totals = published_facts(engine, "trace-totals")
    fifty_six = totals[totals["value"] == 56000]
    assert fifty_six["year_start"].isna().all()
    assert fifty_six["period"].str.startswith("not stated").all()


def test_the_etrace_caveat_is_dated(engine: Engine) -> None:
    caveats = " ".join(c for s in REGISTRY for c in s.caveats)
    assert "only Mexico's federal Attorney General's office submits requests." not in caveats
    assert "As of 2021" in caveats and "18 Mexican states" in caveats


# ---------------------------------------------------------------------------- 6. no published figure


def test_no_published_figure_is_a_status_of_its_own(app: Any, engine: Engine) -> None:
    rows = published_facts(engine, "recovery-states")
    placeholders = rows[rows["value_qualifier"] == "not_published"]
    assert len(placeholders) == 9 and set(placeholders["status"]) == {"NO_FIGURE"}
    card = texts(find(render(app, "/sources"), "dataset-recovery-states"))
    assert "9 places with no published figure" in card
    assert "9 UNVERIFIED" not in card


# ---------------------------------------------------------------------------- caveats in place


def test_a_rows_note_reaches_the_map_hover(engine: Engine) -> None:
    rows = published_facts(engine, "source-states")
    transit = rows[rows["source_id"] == "S78"]
    layer = figures.map_layer(transit, country="US", measure="share", sources={})
    figure = go.Figure(
        figures.map_figure(
            layer, layer.head(0), us_title="t", mx_title="t", geojson_urls=figures.geojson_urls()
        )
    )
    hovers = [
        " ".join(map(str, row))
        for t in figure.data
        if t.type == "choropleth" and t.customdata is not None
        for row in t.customdata
    ]
    assert any("not an ATF share" in h for h in hovers)


def test_tables_and_ledger_carry_notes_and_caveats(app: Any, engine: Engine) -> None:
    trends = texts(find(render(app, "/trends", state="TX"), "trends-table"))
    assert "Note" in trends and "from one seizure" in trends
    shares = queries.estimates(engine, Filters(measure="us_sourced_share"))
    figure = go.Figure(figures.estimates_figure(shares, sources={}))
    hovers = " ".join(str(t.hovertext) for t in figure.data if t.hovertext is not None)
    assert "Caveats:" in hovers


def test_gc_armas_page_takes_no_side_and_uses_the_sources_names(app: Any) -> None:
    page = texts(render(app, "/gc-armas"))
    assert "the bilateral arms-trafficking group" not in page
    assert "Grupo de Coordinación contra el Tráfico de Armas" not in page
    assert "Prevención y el Control del Tráfico Ilícito de Armas de Fuego" in page


def test_sources_page_says_reports_on_and_defines_statuses_as_the_data_does(app: Any) -> None:
    page = texts(render(app, "/sources"))
    assert "Secondary copy of" not in page
    assert "Reports on / cites" in page
    assert "Recalled or inferred, or reported only by a secondary paper" in page
    assert "no published figure" in page


# ---------------------------------------------------------------------------- working notes


@pytest.mark.parametrize("path", [*PAGES, "/trends?state=TX", "/trends?state=14"])
def test_no_working_notes_on_any_page(app: Any, path: str) -> None:
    route, _, query = path.partition("?")
    params = dict(p.split("=") for p in query.split("&") if p)
    layout = render(app, route, **params)
    shown = texts(layout)
    assert [w for w in WORKING_NOTES if w.lower() in shown.lower()] == []
    assert not re.search(r"\[[A-Z][a-z]+ [^\]]*\]", shown), "no bracketed placeholder titles"
    bare = [s for s in plain_strings(layout) if SOURCE_ID.search(s)]
    assert bare == [], "a source id appears only as the label of a link"


def render_spanish(app: Any, path: str, **query: str) -> Any:
    """A Spanish page's layout, frame included, as Dash Pages builds it for `/es/...`."""
    entry = next(e for e in dash.page_registry.values() if e["path"] == path)
    with app.server.test_request_context(path):
        return entry["layout"](**query)


@pytest.mark.parametrize("path", [*SPANISH_PAGES, "/es/trends?state=TX", "/es/trends?state=14"])
def test_no_working_notes_on_any_spanish_page(app: Any, path: str) -> None:
    route, _, query = path.partition("?")
    params = dict(p.split("=") for p in query.split("&") if p)
    layout = render_spanish(app, route, **params)
    shown = texts(layout).lower()
    assert "armas rastreadas" in shown or "fuentes" in shown, "the page is in Spanish"
    assert [w for w in WORKING_NOTES + WORKING_NOTES_ES if w.lower() in shown] == []
    assert not re.search(r"\[[A-ZÁÉÍÓÚ][a-záéíóúñ]+ [^\]]*\]", texts(layout)), "no placeholders"
    bare = [s for s in plain_strings(layout) if SOURCE_ID.search(s)]
    assert bare == [], "a source id appears only as the label of a link"


def test_no_working_notes_in_the_spanish_catalogue() -> None:
    # Every Spanish message reaches some reader, whichever page or state shows it.
    shown = [
        str(form)
        for m in messages.load()
        if m.id
        for form in (m.string if m.pluralizable else (m.string,))
        if form
    ]
    assert len(shown) > 400
    noted = [s for s in shown for w in WORKING_NOTES + WORKING_NOTES_ES if w.lower() in s.lower()]
    assert noted == []
    assert [s for s in shown if re.search(r"\[[A-ZÁÉÍÓÚ][a-záéíóúñ]+ [^\]]*\]", s)] == []
    assert [s for s in shown if SOURCE_ID.search(s)] == []


def test_status_page_names_sources_as_readers_know_them(app: Any) -> None:
    shown = texts(render(app, "/status"))
    # Dataset names (corridors, events...) are the download names readers use; modules are not.
    internal = [s.name for s in REGISTRY if s.name not in DATASETS]
    modules = [name for name in internal if re.search(rf"\b{name}\b", shown)]
    assert modules == []
    assert "ATF traces of firearms recovered in Mexico" in shown


@pytest.mark.parametrize("name", sorted(d for d, spec in DATASETS.items() if spec.published))
def test_no_working_notes_in_any_download(client: Any, name: str) -> None:
    body = client.get(f"/api/v1/{name}.csv").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    prose = " ".join(v for r in rows for k, v in r.items() if k in PROSE_COLUMNS and v)
    assert [w for w in WORKING_NOTES if w.lower() in prose.lower()] == []
    assert not re.search(r"\[[A-Z][a-z]+ [^\]]*\]", prose)
    assert SOURCE_ID.findall(prose) == []
    as_json = json.dumps(client.get(f"/api/v1/{name}.json").get_json())
    assert [w for w in WORKING_NOTES if w.lower() in as_json.lower()] == []


# ---------------------------------------------------------------------------- journeys


@pytest.mark.parametrize("state", ["14", "TX"])
def test_a_states_trend_is_never_empty(app: Any, state: str) -> None:
    layout = render(app, "/trends", state=state)
    figure = graph(layout, "trends-graph")
    counts = [t for t in figure.data if t.type == "scatter" and t.yaxis in (None, "y")]
    assert counts, "the count panel draws the state's figures"
    if state == "TX":
        assert any(7825.0 in list(t.y) for t in counts)
    summary = texts(find(layout, "trends-summary"))
    assert "drawn as bars across their years" in summary


def test_lines_differ_in_dash_and_symbol_and_contrast_on_white(engine: Engine) -> None:
    lines = line_traces(national_trends(engine))
    styles = [(t.line.color, t.line.dash, str(t.marker.symbol)) for t in lines]
    assert len(set(styles)) == len(styles)
    for colour in figures.SERIES_COLOURS:
        assert figures.contrast_ratio(colour, "#ffffff") >= 3.0, colour
    assert len({figures.series_style(i) for i in range(40)}) == 40
    for first in range(17):
        for second in range(first + 1, 17):
            a, b = figures.series_style(first), figures.series_style(second)
            assert sum(x != y for x, y in zip(a, b, strict=True)) >= 2


def test_map_labels_contrast_with_their_fill_and_corridors_point_and_hover(
    engine: Engine,
) -> None:
    layer, corridors, figure = nfcta_map(engine)
    labels = next(t for t in figure.data if t.name == "labels")
    top = float(layer["value"].max())
    for value, ink in zip(layer["value"], labels.textfont.color, strict=True):
        fill = figures.scale_colour(figures.US_SCALE, float(value) / top)
        assert figures.contrast_ratio(ink, fill) >= 4.5, (value, ink, fill)
    lines = [t for t in figure.data if t.type == "scattergeo" and "lines" in str(t.mode)]
    assert len(lines) == len(corridors)
    for line in lines:
        assert "arrow" in list(line.marker.symbol)
        assert line.hoverinfo != "skip" and "customdata[1]" in line.hovertemplate


def test_share_on_the_landing_view_colours_both_maps_with_a_labelled_derived_share(
    app: Any,
) -> None:
    layout = render(app, "/", measure="share")
    figure = graph(layout, "map-graph")
    scaled = [t for t in figure.data if t.type == "choropleth" and t.showscale is not False]
    assert len(scaled) == 2, "both countries are coloured"
    for trace in scaled:
        assert sum(trace.z) == pytest.approx(100, abs=0.5)
        assert all("DERIVED" in str(row[3]) for row in trace.customdata)
    assert "DERIVED" in texts(layout)


# ---------------------------------------------------------------------------- schema


UNDATED_EVENT = (
    "INSERT INTO events (date_start, date_precision, date_label, kind, title_en, title_es,"
    " status, source_id, run_id) VALUES (NULL, 'undated', 'no date given', 'policy', 't', 't',"
    " 'UNVERIFIED', 'P1', 1)"
)
NO_FIGURE_FACT = (
    "INSERT INTO facts (dataset, measure, period, release, geo_level, geo_code, geo_name,"
    " value_qualifier, unit, status, source_id, run_id) VALUES ('recovery-states',"
    " 'firearms_seized', '2006-2024', 'r', 'mx_state', '01', 'Aguascalientes', 'not_published',"
    " 'firearms', 'NO_FIGURE', 'S82', 1)"
)


def test_the_migration_admits_no_figure_rows_and_undated_events(tmp_path: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from db.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine, "0001")
    # Foreign keys off (pysqlite runs the PRAGMA before its lazy BEGIN): only the rules under
    # test, NOT NULL and CHECK, can refuse these rows.
    off = "PRAGMA foreign_keys=OFF"
    for statement, rule in ((UNDATED_EVENT, "NOT NULL"), (NO_FIGURE_FACT, "CHECK")):
        with pytest.raises(IntegrityError, match=rule), engine.begin() as connection:
            connection.execute(text(off))
            connection.execute(text(statement))
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text(off))
        connection.execute(text(UNDATED_EVENT))
        connection.execute(text(NO_FIGURE_FACT))
    with pytest.raises(IntegrityError, match="CHECK"), engine.begin() as connection:
        connection.execute(text("UPDATE facts SET status = 'MAYBE'"))
    engine.dispose()


def test_a_state_series_mixing_firearm_categories_is_refused() -> None:
    from etl.source import DATA_DIR, SourceError, facts_transform

    frame = pd.read_csv(
        DATA_DIR / "mx_recovery_states.csv", dtype=str, keep_default_na=False, encoding="utf-8"
    )
    assert facts_transform({"f": frame})["facts"].shape[0] == len(frame)
    inegi = frame["source_id"] == "S87"
    frame.loc[inegi, "release"] = "INEGI censos de procuración de justicia (one series)"
    with pytest.raises(SourceError, match="mixing firearm categories"):
        facts_transform({"f": frame})
