"""The trends figure: published series per release and loaded trace files over time, with events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from dashboard import i18n
from dashboard.figures.events import add_events
from dashboard.figures.style import (
    FONT,
    MUTED,
    SERIES_COLOURS,
    SERIES_DASHES,
    SERIES_SYMBOLS,
    UNVERIFIED_DASH,
    Figure,
    axis_name,
    for_narrow_screens,
    is_missing,
    rows_of,
    stacked,
    wrapped_for_narrow,
)
from dashboard.i18n import N_, _, ngettext
from dashboard.text import (
    format_value,
    is_part_year,
    measure_label,
    status_text,
    with_category,
    wrap,
)
from db.vocabulary import MEASURES


def _mid_year(year: object) -> dt.date:
    return dt.date(int(year), 7, 1)  # type: ignore[call-overload]


def series_style(index: int) -> tuple[str, str, str]:
    """Colour, dash and marker symbol of the `index`-th line: no two lines share all three."""
    return (
        SERIES_COLOURS[index % len(SERIES_COLOURS)],
        SERIES_DASHES[index % len(SERIES_DASHES)],
        SERIES_SYMBOLS[index % len(SERIES_SYMBOLS)],
    )


def gapped(
    years: list[int], values: list[float]
) -> tuple[list[dt.date | None], list[float | None]]:
    """Points of one line, with a break (None) wherever a year is missing between two points."""
    xs: list[dt.date | None] = []
    ys: list[float | None] = []
    for index, (year, value) in enumerate(zip(years, values, strict=True)):
        if index and year != years[index - 1] + 1:
            xs.append(None)
            ys.append(None)
        xs.append(_mid_year(year))
        ys.append(value)
    return xs, ys


def _on_row(trace: dict[str, Any], row: int) -> dict[str, Any]:
    """`trace` drawn in row `row` of a `stacked` figure."""
    trace["xaxis"], trace["yaxis"] = axis_name("x", row), axis_name("y", row)
    return trace


def _published_series(
    traces: list[dict[str, Any]],
    rows: pd.DataFrame,
    *,
    row: int,
    percent: bool,
    colours: dict[str, int],
    shown: set[str],
    main_measures: tuple[str, ...] = (),
    count_spans: bool = False,
) -> int:
    """Each release, measure and category is its own line: vintages are never joined.

    Single years are points joined only to the next year of the same release (a missing year
    breaks the line); part-year figures are hollow, labelled points never joined to the line.
    Shares over several years are bars across those years; counts over several years are bars
    too when `count_spans` (a state's totals), labelled as totals, never as yearly counts.
    Appends the traces to `traces`; returns how many.
    """
    drawn = 0
    # The rows once, as tuples, grouped in Python (first appearance first, as pandas' groupby
    # with sort=False): a few rows per line, where pandas' per-call cost would dominate.
    groups: dict[tuple[Any, Any, str], list[Any]] = {}
    for r in rows_of(rows):
        if (
            (r.unit == "percent") != percent
            or is_missing(r.value)
            or is_missing(r.year_start)
            or is_missing(r.year_end)
        ):
            continue
        category = getattr(r, "category", None)
        category = "" if is_missing(category) else str(category)
        release = None if is_missing(r.release) else r.release
        groups.setdefault((release, r.measure, category), []).append(r)
    template = (
        "<b>%{customdata[0]}</b>: %{customdata[1]}<br>%{customdata[4]}<br>"
        + _("Status: ")
        + "%{customdata[2]} · "
        + _("Source")
        + " [%{customdata[3]}]%{customdata[5]}<extra></extra>"
    )
    only, in_total = _("{category} only"), _(" in total over the period (not per year)")
    note_word, part_year = _("Note"), _("{period}: part year")
    for (release, measure, category), records in groups.items():
        key = f"{release}|{measure}|{category}"
        style = colours.setdefault(key, len(colours))
        colour, dash, symbol = series_style(style)
        unverified = all(r.status == "UNVERIFIED" for r in records)
        name = str(release)
        if str(measure) not in main_measures:
            name += f" — {measure_label(str(measure))}"
        if category:
            name += " — " + only.format(category=category)
        if unverified:
            name += " (UNVERIFIED)"
        partial = [is_part_year(r.period, r.year_start, r.year_end) for r in records]
        single = sorted(
            (
                r
                for r, part in zip(records, partial, strict=True)
                if r.year_start == r.year_end and not part
            ),
            key=lambda r: r.year_start,
        )
        parts = [r for r, part in zip(records, partial, strict=True) if part]
        spans = [r for r in records if r.year_start != r.year_end] if percent or count_spans else []

        def hover(
            frame: list[Any],
            release: object = release,
            category: str = category,
            total: bool = False,
        ) -> list[list[str]]:
            return [
                [
                    str(r.period),
                    with_category(format_value(r.value, r.unit, r.value_qualifier), category)
                    + (in_total if total else ""),
                    status_text(r.status),
                    str(r.source_id),
                    str(release),
                    f"<br>{note_word}: {wrap(r.note)}" if getattr(r, "note", None) else "",
                ]
                for r in frame
            ]

        line_dash = UNVERIFIED_DASH if unverified else dash
        if single:
            xs, ys = gapped([int(r.year_start) for r in single], [float(r.value) for r in single])
            custom = hover(single)
            # A break point is never hovered; it carries the line's release so rows stay uniform.
            blank = ["", "", "", "", str(release), ""]
            points = iter(custom)
            traces.append(
                _on_row(
                    {
                        "type": "scatter",
                        "x": xs,
                        "y": ys,
                        "connectgaps": False,
                        "mode": "lines+markers",
                        "name": name,
                        "legendgroup": key,
                        "showlegend": name not in shown,
                        "line": {"color": colour, "width": 2, "dash": line_dash},
                        "marker": {
                            "size": 8,
                            "color": colour,
                            "line": {"color": colour, "width": 2},
                            "symbol": [
                                symbol + ("-open" if r.status == "UNVERIFIED" else "")
                                for r in single
                            ],
                        },
                        "customdata": [blank if x is None else next(points) for x in xs],
                        "hovertemplate": template,
                    },
                    row,
                )
            )
            shown.add(name)
            drawn += 1
        if parts:
            traces.append(
                _on_row(
                    {
                        "type": "scatter",
                        "x": [_mid_year(r.year_start) for r in parts],
                        "y": [float(r.value) for r in parts],
                        "mode": "markers+text",
                        "name": f"{name} — " + _("part year only"),
                        "legendgroup": key,
                        "showlegend": True,
                        "marker": {
                            "symbol": f"{symbol}-open",
                            "size": 11,
                            "color": colour,
                            "line": {"width": 2},
                        },
                        "text": [part_year.format(period=r.period) for r in parts],
                        "textposition": "top center",
                        "textfont": {"size": 11, "color": colour},
                        "customdata": hover(parts),
                        "hovertemplate": template,
                    },
                    row,
                )
            )
            drawn += 1
        for span in spans:
            start, end = dt.date(int(span.year_start), 1, 1), dt.date(int(span.year_end), 12, 31)
            total = not percent
            span_name = name + (" — " + _("total over the period") if total else "")
            # The hover of the first span of this period (one per period in the data).
            first = next(r for r in spans if r.period == span.period)
            traces.append(
                _on_row(
                    {
                        "type": "scatter",
                        "x": [start, end],
                        "y": [float(span.value)] * 2,
                        "mode": "lines+markers",
                        "name": span_name,
                        "legendgroup": key,
                        "showlegend": span_name not in shown,
                        "line": {
                            "color": colour,
                            "width": 4,
                            "dash": UNVERIFIED_DASH if span.status == "UNVERIFIED" else dash,
                        },
                        "marker": {
                            "symbol": "line-ns",
                            "size": 10,
                            "line": {"color": colour, "width": 2},
                        },
                        "customdata": hover([first], total=total) * 2,
                        "hovertemplate": template,
                    },
                    row,
                )
            )
            shown.add(span_name)
            drawn += 1
    return drawn


def _trace_file_series(
    traces: list[dict[str, Any]], files: pd.DataFrame, *, shares: bool = True
) -> int:
    """Each loaded trace file's yearly counts (row 1) and US-sourced shares (row 2, if `shares`),
    a line broken at every year without traces."""
    drawn = 0
    by_file: dict[object, list[Any]] = {}
    for r in rows_of(files):
        by_file.setdefault(r.file_checksum, []).append(r)
    for index, (checksum, records) in enumerate(by_file.items()):
        colour = SERIES_COLOURS[-(index % 3) - 2]
        status = str(records[0].status)
        name = _("Loaded file {file}").format(file=records[0].trace_file) + f" ({status})"
        records = sorted(records, key=lambda r: r.year)
        years = [int(r.year) for r in records]
        # The count's words are written here, not by plotly.js's template: only the catalogue
        # knows that 1 reads "1 traced firearm" and 2 "2 traced firearms" in each language.
        points = iter(
            [
                int(r.year),
                ngettext(
                    "{count} traced firearm", "{count} traced firearms", int(r.firearms)
                ).format(count=f"{int(r.firearms):,}"),
                f"{r.us_sourced_pct:.1f}",
                status,
                str(checksum)[:12],
            ]
            for r in records
        )
        x = gapped(years, [0.0] * len(years))[0]
        # A year without traces in the file breaks the line; the break point is never hovered.
        custom = [
            ["", "", "", status, str(checksum)[:12]] if d is None else next(points) for d in x
        ]
        rows = [(1, "firearms", "%{customdata[1]}")]
        if shares:
            rows.append(
                (
                    2,
                    "us_sourced_pct",
                    _("{share}% US-sourced").format(share="%{customdata[2]}"),
                )
            )
        for row, column, text in rows:
            traces.append(
                _on_row(
                    {
                        "type": "scatter",
                        "x": x,
                        "y": gapped(years, [float(getattr(r, column)) for r in records])[1],
                        "connectgaps": False,
                        "mode": "lines+markers",
                        "name": name,
                        "legendgroup": name,
                        "showlegend": row == 1,
                        "line": {"color": colour, "width": 2, "dash": "dash"},
                        "marker": {"symbol": "square", "size": 7, "color": colour},
                        "customdata": custom,
                        "hovertemplate": "<b>%{customdata[0]}</b>: "
                        + text
                        + "<br>"
                        + name
                        + "<br>"
                        + _("Status: ")
                        + "%{customdata[3]}<extra></extra>",
                    },
                    row,
                )
            )
            drawn += 1
    return drawn


def trends_figure(
    published: pd.DataFrame,
    traces: pd.DataFrame,
    events: pd.DataFrame,
    *,
    sources: dict[str, str],
    count_title: str = MEASURES["traced_firearms"].en,
    share_title: str = N_("US-sourced share (%)"),
    x_range: tuple[int, int] | None = None,
    main_measures: tuple[str, ...] = (),
    trace_shares: bool = True,
    count_spans: bool = False,
) -> Figure:
    """Counts, shares and the event timeline on one time axis; one line per release."""
    figure = stacked(
        3, row_heights=(0.4, 0.34, 0.26), titles=(_(count_title), _(share_title), _("Events"))
    )
    colours: dict[str, int] = {}
    shown: set[str] = set()
    drawn = {1: 0, 2: 0}
    lines = figure["data"]
    if not published.empty:
        for row, percent in ((1, False), (2, True)):
            drawn[row] = _published_series(
                lines,
                published,
                row=row,
                percent=percent,
                colours=colours,
                shown=shown,
                main_measures=main_measures,
                count_spans=count_spans,
            )
    if not traces.empty:
        files = _trace_file_series(lines, traces, shares=trace_shares)
        drawn[1] += files
        drawn[2] += files if trace_shares else 0
    layout = figure["layout"]
    # An empty panel says so in words rather than showing bare axes.
    empty = {1: _("No published counts in this view"), 2: _("No published shares in this view")}
    for row in (1, 2):
        if not drawn[row]:
            layout.setdefault("annotations", []).append(
                {
                    "text": empty[row],
                    "xref": f"{axis_name('x', row)} domain",
                    "yref": f"{axis_name('y', row)} domain",
                    "x": 0.5,
                    "y": 0.5,
                    "showarrow": False,
                    "font": {"size": 13, "color": MUTED},
                }
            )
    add_events(figure, events, sources, row=3, band_rows=(1, 2, 3))
    layout["yaxis"].update(rangemode="tozero", tickformat=",")
    layout["yaxis2"].update(range=[0, 100], ticksuffix=i18n.percent_sign())
    window = (
        [dt.date(x_range[0], 1, 1), dt.date(x_range[1], 12, 31)] if x_range is not None else None
    )
    for row in (1, 2, 3):
        layout[axis_name("xaxis", row)].update(showgrid=True, gridcolor="#ececec")
        layout[axis_name("yaxis", row)]["gridcolor"] = "#ececec"
        if window is not None:
            layout[axis_name("xaxis", row)]["range"] = list(window)
    layout.update(
        height=760,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font=dict(FONT),
        legend={"orientation": "h", "y": -0.06, "yanchor": "top", "x": 0, "font": {"size": 11}},
        hovermode="closest",
        plot_bgcolor="#ffffff",
        paper_bgcolor="rgba(0,0,0,0)",
        uirevision="trends",
    )
    title = _(count_title)
    for annotation in layout.get("annotations", []):
        if annotation.get("text") == title:
            annotation["font"] = {**annotation.get("font", {}), "size": 13}
    narrow, names = wrapped_for_narrow(figure, width=36)
    # On a phone the legend, one entry a line, is as tall as the charts: the figure grows by it.
    legend_lines = sum(
        1 + str(names.get(index, {}).get("name", trace.get("name"))).count("<br>")
        for index, trace in enumerate(lines)
        if trace.get("showlegend") is not False
    )
    # A touch screen always shows the modebar: the top margin keeps it off the first title.
    narrow.update(
        height=620 + 20 * legend_lines,
        legend={"font": {"size": 10}, "maxheight": 1},  # whole, not in a scrolling box
        margin={"t": 56},
    )
    return for_narrow_screens(figure, narrow, names)
