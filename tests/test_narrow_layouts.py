"""What the figures carry for a phone-width screen (`layout.meta.narrow`), and time axes that span
their data: plain functions, no browser (tests/test_phone.py draws them in Chromium)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go

from dashboard import figures
from dashboard.figures.style import LAYER_COLUMNS, wrapped_for_narrow


def _event(start: str | None, end: str | None = None, kind: str = "gc_armas") -> dict[str, object]:
    return {
        "date_start": dt.date.fromisoformat(start) if start else None,
        "date_end": dt.date.fromisoformat(end) if end else None,
        "date_label": start or "undated",
        "kind": kind,
        "title_en": f"Meeting {start}",
        "description": "",
        "status": "VERIFIED",
        "source_id": "S1",
    }


def test_a_timeline_axis_spans_its_dated_events_a_year_either_side() -> None:
    events = pd.DataFrame(
        [
            _event("1995-06-01"),
            _event("2012-01-01", "2015-12-31"),
            _event("2025-12-11", kind="bilateral_dialogue"),
            _event(None),  # undated: listed in the table, never on the axis
        ]
    )
    figure = go.Figure(figures.timeline_figure(events, sources={}))
    assert list(figure.layout.xaxis.range) == [dt.date(1994, 1, 1), dt.date(2026, 12, 31)]


def _layer(codes: dict[str, float]) -> pd.DataFrame:
    rows = [
        [code, code, value, f"{value:,.0f} firearms", "2022-2023", "VERIFIED", "S", "", "S"]
        for code, value in codes.items()
    ]
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


def test_on_a_narrow_screen_the_map_lays_both_colour_bars_side_by_side_under_it() -> None:
    figure = go.Figure(
        figures.map_figure(
            _layer({"TX": 7825, "AZ": 3969, "CA": 1575, "NM": 492}),
            _layer({"09": 21458, "16": 13371}),
            us_title="US",
            mx_title="MX",
            geojson_urls=figures.geojson_urls(),
        )
    )
    narrow = figure.layout.meta["narrow"]
    map_bottom = narrow["layout"]["geo"]["domain"]["y"][0]
    bars = [
        narrow["traces"][str(i)]["colorbar"]
        for i, trace in enumerate(figure.data)
        if trace.type == "choropleth" and trace.showscale is not False
    ]
    assert len(bars) == 2
    for bar in bars:
        assert bar["orientation"] == "h" and bar["y"] < map_bottom
    left, right = sorted(bars, key=lambda bar: bar["x"])
    assert left["x"] + left["len"] <= right["x"] and right["x"] + right["len"] <= 1
    labels = [str(i) for i, trace in enumerate(figure.data) if trace.name == "labels"]
    assert labels and all(narrow["traces"][i]["textfont"]["size"] < 11 for i in labels)


def test_on_a_narrow_screen_each_estimate_is_named_above_its_row() -> None:
    rows = pd.DataFrame(
        [
            {
                "producer": "McDougal, Shirk, Muggah, Patterson ('The Way of the Gun', "
                "Trans-Border Institute/USD + Igarapé Institute), 2013 working paper",
                "period": "2010-2012",
                "low": 106_700,
                "central": 253_000,
                "high": 468_000,
                "unit": "firearms",
                "value_qualifier": None,
                "status": "VERIFIED",
                "source_id": "S14a",
                "caveats": "",
            },
            {
                "producer": "Government of Mexico",
                "period": "per year",
                "low": None,
                "central": 200_000,
                "high": None,
                "unit": "firearms",
                "value_qualifier": "approx",
                "status": "VERIFIED",
                "source_id": "S09",
                "caveats": "",
            },
        ]
    )
    figure = go.Figure(figures.estimates_figure(rows, sources={}))
    narrow = figure.layout.meta["narrow"]["layout"]
    assert narrow["yaxis"]["showticklabels"] is False
    names = narrow["annotations"]
    assert [a["y"] for a in names] == list(figure.layout.yaxis.categoryarray)
    assert names[0]["text"].startswith("McDougal") and names[0]["text"].endswith(" · 2010-2012")
    assert len(names[0]["text"]) <= 56
    assert names[1]["text"] == "Government of Mexico · per year"


def test_long_legend_names_and_notes_are_broken_into_lines_for_a_narrow_screen() -> None:
    name = "GAO-09-709 — US-sourced share of guns successfully traced (%)"
    figure = {
        "data": [{"type": "scatter", "x": [1], "y": [1], "name": name}],
        "layout": {
            "annotations": [{"text": "GC-Armas meetings suspended (UNVERIFIED: a single source)"}]
        },
    }
    layout, traces = wrapped_for_narrow(figure, width=30)
    assert traces[0]["name"].replace("<br>", " ") == name
    assert all(len(line) <= 30 for line in traces[0]["name"].split("<br>"))
    note = layout["annotations"][0]["text"]
    assert "<br>" in note and all(len(line) <= 30 for line in note.split("<br>"))


def test_a_timeline_of_events_at_the_ends_of_the_calendar_keeps_a_valid_axis() -> None:
    events = pd.DataFrame([_event("0001-01-01"), _event("9999-12-31")])
    figure = go.Figure(figures.timeline_figure(events, sources={}))
    assert list(figure.layout.xaxis.range) == [dt.date(1, 1, 1), dt.date(9999, 12, 31)]
