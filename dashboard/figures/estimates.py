"""The estimates ledger's figure: answers to one question side by side, ranges as ranges."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard import i18n
from dashboard.figures.style import FONT, Figure, default_template, for_narrow_screens, rows_of
from dashboard.i18n import _
from dashboard.text import (
    estimate_text,
    format_value,
    status_text,
    unit_label,
    wrap,
)


def estimates_figure(rows: pd.DataFrame, *, sources: dict[str, str]) -> Figure:
    """One answer per row, side by side: ranges as ranges, central values as dots."""
    rows = rows.reset_index(drop=True)
    labels = [
        f"{r.producer[:58]}{'…' if len(r.producer) > 58 else ''}<br><sub>{r.period}</sub>"
        for r in rows_of(rows)
    ]
    # Plotly needs unique category labels; two rows of one producer and period get a suffix.
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[index] = f"{label} ({seen[label]})"
    traces: list[dict[str, Any]] = []
    # Translated once, not per row.
    status_line, source_line = _("Status: {status}"), _("Source: {source} [{id}]")
    caveats_line, range_only = _("Caveats: {caveats}"), _("range only")
    for index, r in enumerate(rows_of(rows)):
        unverified = r.status == "UNVERIFIED"
        colour = "#D55E00" if unverified else "#0072B2"
        low, central, high = (None if pd.isna(v) else float(v) for v in (r.low, r.central, r.high))
        hover = "<br>".join(
            [
                f"<b>{r.producer}</b>",
                f"{r.period}: {estimate_text(r.low, r.central, r.high, r.unit, r.value_qualifier)}",
                status_line.format(status=status_text(r.status)),
                source_line.format(source=sources.get(r.source_id, r.source_id), id=r.source_id),
                *([caveats_line.format(caveats=wrap(r.caveats))] if r.caveats else []),
            ]
        )
        if low is not None and high is not None:
            traces.append(
                {
                    "type": "scatter",
                    "x": [low, high],
                    "y": [labels[index]] * 2,
                    "mode": "lines+markers",
                    "line": {"color": colour, "width": 6, "dash": "dot" if unverified else "solid"},
                    "marker": {
                        "symbol": "line-ns",
                        "size": 14,
                        "line": {"width": 2, "color": colour},
                    },
                    "hovertext": [hover, hover],
                    "hoverinfo": "text",
                    "showlegend": False,
                    "opacity": 0.55 if central is not None else 0.9,
                }
            )
            if central is None:
                traces.append(
                    {
                        "type": "scatter",
                        "x": [high],
                        "y": [labels[index]],
                        "mode": "text",
                        "text": ["  " + range_only + (" · UNVERIFIED" if unverified else "")],
                        "textposition": "middle right",
                        "textfont": {"size": 11, "color": colour},
                        "hoverinfo": "skip",
                        "showlegend": False,
                    }
                )
        if central is not None:
            traces.append(
                {
                    "type": "scatter",
                    "x": [central],
                    "y": [labels[index]],
                    "mode": "markers+text",
                    "marker": {
                        "size": 12,
                        "color": "#ffffff" if unverified else colour,
                        "line": {"width": 2.5, "color": colour},
                        "symbol": "diamond-open" if unverified else "circle",
                    },
                    "text": [
                        format_value(central, r.unit, r.value_qualifier)
                        + (" UNVERIFIED" if unverified else "")
                    ],
                    "textposition": "middle right",
                    "textfont": {"size": 11, "color": colour},
                    "hovertext": [hover],
                    "hoverinfo": "text",
                    "showlegend": False,
                }
            )
    unit = rows["unit"].iloc[0] if len(rows) else ""
    # Room on the right for the value labels, so none is cut.
    top = (
        pd.concat([rows["high"], rows["central"]]).dropna().astype(float).max() if len(rows) else 1
    )
    layout = {
        "template": default_template(),
        "height": 90 + 58 * max(len(rows), 1),
        "margin": {"l": 10, "r": 40, "t": 10, "b": 40},
        "font": dict(FONT),
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {
            "rangemode": "tozero",
            "gridcolor": "#ececec",
            "title": {"text": unit_label(unit)},
            "ticksuffix": i18n.percent_sign() if unit == "percent" else "",
            "tickformat": ",",
            "range": [0, 118 if unit == "percent" else float(top) * 1.3],
        },
        "yaxis": {"autorange": "reversed", "categoryorder": "array", "categoryarray": labels},
    }
    # On a phone the answers' names beside the axis would leave the chart no width: each name
    # goes on one short line above its own row instead.
    above = [
        {
            "text": _name_and_period(str(r.producer), str(r.period), 56),
            "x": 0,
            "xref": "paper",
            "xanchor": "left",
            "y": label,
            "yref": "y",
            "yanchor": "bottom",
            "yshift": 7,
            "showarrow": False,
            "font": {"size": 10},
        }
        for r, label in zip(rows_of(rows), labels, strict=True)
    ]
    # The value labels are as wide on a phone as on a desktop: more room on the right for them.
    narrow_top = 160 if unit == "percent" else float(top) * 2
    return for_narrow_screens(
        {"data": traces, "layout": layout},
        {
            "yaxis": {"showticklabels": False},
            "xaxis": {"range": [0, narrow_top], "nticks": 4},
            "annotations": above,
            "margin": {"r": 10, "t": 40},  # t: the modebar, always shown on a touch screen
        },
    )


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _name_and_period(producer: str, period: str, width: int) -> str:
    """ "Producer · period" in `width` characters: the producer is cut before the period is."""
    period = _shortened(period, 24)
    return f"{_shortened(producer, width - len(period) - 3)} · {period}"
