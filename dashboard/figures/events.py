"""Events on a time axis: markers in lanes by kind, shaded spans, and the GC-Armas timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from dashboard import i18n
from dashboard.figures.style import (
    FONT,
    INK,
    MUTED,
    Figure,
    axis_name,
    for_narrow_screens,
    is_missing,
    rows_of,
    stacked,
    wrapped_for_narrow,
)
from dashboard.i18n import _
from dashboard.text import kind_label, status_text, wrap
from db.vocabulary import EVENT_KINDS


def event_title(row: Any) -> str:
    """An event's title in the current language: its Spanish title on Spanish pages, where the
    data give one (`title_es`), else its English title."""
    spanish = getattr(row, "title_es", None) if i18n.language() == "es" else None
    return str(spanish) if isinstance(spanish, str) and spanish.strip() else str(row.title_en)


def _event_hover(row: Any, sources: dict[str, str]) -> str:
    source_id = row.source_id
    lines = [
        f"<b>{event_title(row)}</b>",
        f"{row.date_label} · {kind_label(row.kind)}",
        _("Status: ") + status_text(row.status),
        f"{_('Source')}: {sources.get(source_id, source_id)} [{source_id}]",
    ]
    # A missing description is NULL (NaN in the frame), never the word "nan".
    if isinstance(row.description, str) and row.description:
        lines.append(wrap(row.description))
    return "<br>".join(lines)


def _to_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def add_events(
    figure: Figure,
    events: pd.DataFrame,
    sources: dict[str, str],
    *,
    row: int,
    band_rows: tuple[int, ...],
    band_kinds: tuple[str, ...] = ("gc_armas",),
) -> None:
    """Events as markers in lanes by kind; ranged events of `band_kinds` shade every row of
    `band_rows` that has traces (as plotly's `add_vrect` leaves empty rows alone)."""
    # An undated account (its source gives no date) is listed in tables, never placed on the axis.
    if events.empty:
        return
    records = [r for r in rows_of(events) if not is_missing(r.date_start)]
    if not records:
        return
    found = {r.kind for r in records}
    kinds = [k for k in EVENT_KINDS if k in found] + sorted(found - set(EVENT_KINDS))
    lanes = {kind: kind_label(kind) for kind in kinds}
    data, layout = figure["data"], figure["layout"]
    x_axis, y_axis = axis_name("x", row), axis_name("y", row)
    for kind in kinds:
        group = [r for r in records if r.kind == kind]
        points = [r for r in group if pd.isna(r.date_end)]
        ink = INK if kind == "gc_armas" else MUTED
        symbol = EVENT_KINDS[kind].symbol if kind in EVENT_KINDS else "circle"
        data.append(
            {
                "type": "scatter",
                "x": [_to_date(r.date_start) for r in points],
                "y": [lanes[kind]] * len(points),
                "mode": "markers",
                "name": _("Events: {kind}").format(kind=lanes[kind]),
                "legendgroup": f"events-{kind}",
                "showlegend": False,
                "marker": {
                    "symbol": [
                        symbol + ("-open" if r.status == "UNVERIFIED" else "") for r in points
                    ],
                    "size": 11,
                    "color": ink,
                    "line": {"width": 1.5, "color": ink},
                },
                "text": [_event_hover(r, sources) for r in points],
                "hovertemplate": "%{text}<extra></extra>",
                "xaxis": x_axis,
                "yaxis": y_axis,
            }
        )
        for span in (r for r in group if not pd.isna(r.date_end)):
            start, end = _to_date(span.date_start), _to_date(span.date_end)
            hover = _event_hover(span, sources)
            data.append(
                {
                    "type": "scatter",
                    "x": [start, end],
                    "y": [lanes[kind]] * 2,
                    "mode": "lines",
                    "line": {"width": 7, "color": "rgba(90,90,90,0.55)"},
                    "showlegend": False,
                    "text": [hover, hover],
                    "hovertemplate": "%{text}<extra></extra>",
                    "name": event_title(span),
                    "xaxis": x_axis,
                    "yaxis": y_axis,
                }
            )
            if kind not in band_kinds:
                continue
            unverified_span = span.status == "UNVERIFIED"
            for band_row in band_rows:
                band_x, band_y = axis_name("x", band_row), axis_name("y", band_row)
                if not any(t.get("xaxis") == band_x and t.get("yaxis") == band_y for t in data):
                    continue
                # An UNVERIFIED span is drawn as an outline with a faint fill, never as fact.
                layout.setdefault("shapes", []).append(
                    {
                        "type": "rect",
                        "x0": start,
                        "x1": end,
                        "xref": band_x,
                        "y0": 0,
                        "y1": 1,
                        "yref": f"{band_y} domain",
                        "fillcolor": "rgba(120,120,120,0.07)"
                        if unverified_span
                        else "rgba(120,120,120,0.16)",
                        "line": {"color": MUTED, "width": 1, "dash": "dot"}
                        if unverified_span
                        else {"width": 0},
                        "layer": "below",
                    }
                )
            layout.setdefault("annotations", []).append(
                {
                    "x": start + (end - start) / 2,
                    "y": 1,
                    "yref": f"{y_axis} domain",
                    "xref": x_axis,
                    "text": event_title(span)
                    + (
                        " " + _("(UNVERIFIED: a single secondary source)")
                        if unverified_span
                        else ""
                    ),
                    "showarrow": False,
                    "yanchor": "top",
                    "font": {"size": 11, "color": MUTED},
                    "hovertext": hover,
                }
            )
    axis = layout[axis_name("yaxis", row)]
    axis["categoryorder"] = "array"
    axis["categoryarray"] = list(reversed(list(lanes.values())))


def timeline_figure(events: pd.DataFrame, *, sources: dict[str, str]) -> Figure:
    """The events alone on a time axis, lanes by kind; the GC-Armas suspension shaded."""
    figure = stacked(1)
    add_events(figure, events, sources, row=1, band_rows=(1,))
    lanes = events["kind"].nunique() if not events.empty else 1
    layout = figure["layout"]
    layout.update(
        height=140 + 46 * lanes,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        font=dict(FONT),
        plot_bgcolor="#ffffff",
        paper_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        hovermode="closest",
    )
    layout["xaxis"].update(showgrid=True, gridcolor="#ececec")
    span = dated_span(events)
    if span is not None:
        # Autorange pads by marker size in pixels: on a phone that is decades. The axis spans
        # the dated events, a year either side, whatever the width.
        first, last = max(span[0] - 1, dt.MINYEAR), min(span[1] + 1, dt.MAXYEAR)
        layout["xaxis"]["range"] = [dt.date(first, 1, 1), dt.date(last, 12, 31)]
    narrow, traces = wrapped_for_narrow(figure, width=24)
    # A touch screen always shows the modebar: the top margin keeps it off the lanes.
    return for_narrow_screens(figure, {**narrow, "margin": {"t": 48}}, traces)


def dated_span(events: pd.DataFrame) -> tuple[int, int] | None:
    """The first and last year of the dated events (starts and ends), or None if none is dated."""
    if events.empty:
        return None
    dates = [_to_date(d) for d in pd.concat([events["date_start"], events["date_end"]]).dropna()]
    if not dates:
        return None
    return min(dates).year, max(dates).year
