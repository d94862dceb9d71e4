"""What every figure shares: colours, line styles, fonts."""

from __future__ import annotations

from collections import namedtuple
from functools import cache
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.text import wrap

# Colour-blind-safe single-hue sequential scales (ColorBrewer), trimmed so the lightest value
# still reads as a colour next to the grey of "no published figure".
US_SCALE = [
    [0.0, "#c6dbef"],
    [0.25, "#9ecae1"],
    [0.5, "#6baed6"],
    [0.75, "#2171b5"],
    [1.0, "#08306b"],
]
MX_SCALE = [
    [0.0, "#fdd0a2"],
    [0.25, "#fdae6b"],
    [0.5, "#f16913"],
    [0.75, "#d94801"],
    [1.0, "#7f2704"],
]
NO_FIGURE = "#d4d4d4"
INK = "#222222"
MUTED = "#666666"
# Okabe-Ito hues, darkened where needed so every line has >= 3:1 contrast on white (WCAG
# non-text contrast); colour is never the only cue: each line also has its own dash and symbol.
SERIES_COLOURS = (
    "#0072B2",
    "#C04000",
    "#00785A",
    "#B8407F",
    "#8C6D00",
    "#000000",
    "#7A5195",
    "#5B5B5B",
)
# Cycle lengths 8, 5 and 7 are coprime: two lines sharing a colour differ in dash and symbol.
SERIES_DASHES = ("solid", "dash", "longdash", "dashdot", "longdashdot")
SERIES_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "triangle-down", "star")
# "dot" is kept for UNVERIFIED lines only.
UNVERIFIED_DASH = "dot"
LAYER_COLUMNS = ["code", "name", "value", "text", "period", "status", "source", "note", "source_id"]
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=13, color=INK)


def rows_of(frame: pd.DataFrame) -> list[Any]:
    """A frame's rows as named tuples (typed loosely: columns differ per dataset).

    What `itertuples(index=False)` gives, read a column at a time: on the small frames figures
    draw, itertuples' own set-up costs more than the rows.
    """
    if frame.empty:
        return []
    columns = tuple(str(c) for c in frame.columns)
    if not all(c.isidentifier() and not c.startswith("_") for c in columns) or len(
        set(columns)
    ) != len(columns):
        return list(frame.itertuples(index=False))
    row = _row_type(columns)
    values = [frame[name].tolist() for name in frame.columns]
    return list(map(row._make, zip(*values, strict=True)))


def is_missing(value: object) -> bool:
    """NULL in a row read from the database (None, NaN, NaT or NA), as `dropna` sees it."""
    return value is None or bool(pd.isna(value))  # type: ignore[call-overload]


@cache
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("Pandas", columns)


# A figure is built as the dict plotly.js reads (`{"data": [...], "layout": {...}}`), never through
# plotly's graph objects: their property checks, copies and `update_*` walks were most of the time
# a view took. The tests read every figure back with `go.Figure(...)`, which runs all the checks.
Figure = dict[str, Any]


@cache
def default_template() -> dict[str, Any]:
    """The layout template plotly gives a new figure (`plotly` unless configured otherwise).

    Shared by every figure, never changed: built once per process.
    """
    return go.Figure().to_dict()["layout"]["template"]


@cache
def _skeleton(
    rows: int, row_heights: tuple[float, ...] | None, titled: tuple[bool, ...]
) -> dict[str, Any]:
    # Keyed by which rows have a title, not by the titles (a state's name is in them): the
    # layout is the same, and make_subplots costs more than the rest of a figure.
    figure = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=rows > 1,
        row_heights=list(row_heights) if row_heights else None,
        vertical_spacing=0.05 if rows > 1 else None,
        subplot_titles=tuple("title" if t else "" for t in titled) or None,
    )
    return figure.to_dict()["layout"]


def stacked(
    rows: int, *, row_heights: tuple[float, ...] | None = None, titles: tuple[str, ...] = ()
) -> Figure:
    """Rows of charts on one shared x axis, as `make_subplots` lays them out (computed once per
    arguments): a figure with no traces whose axes and titles are this figure's own dicts."""
    skeleton = _skeleton(rows, row_heights, tuple(bool(t) for t in titles))
    layout = {
        key: (dict(value) if isinstance(value, dict) and key != "template" else value)
        for key, value in skeleton.items()
        if key != "annotations"
    }
    if "annotations" in skeleton:
        # make_subplots writes one annotation per non-empty title, in order.
        layout["annotations"] = [
            {**annotation, "font": dict(annotation["font"]), "text": title}
            for annotation, title in zip(
                skeleton["annotations"], [t for t in titles if t], strict=True
            )
        ]
    return {"data": [], "layout": layout}


def axis_name(letter: str, row: int) -> str:
    """A row's axis as a trace names it: `x`, `x2`, `y3`..."""
    return letter if row == 1 else f"{letter}{row}"


def for_narrow_screens(
    figure: Figure, layout: dict[str, Any], traces: dict[int, dict[str, Any]] | None = None
) -> Figure:
    """`figure`, carrying what a phone-width screen changes in it (`layout.meta.narrow`).

    Plotly cannot see the reader's screen when the server builds a figure: assets/ironriver.js
    merges these changes (nested dicts merge, anything else replaces) into the layout and the
    traces by index before plotly draws, when the viewport is at most 600 px wide.
    """
    narrow = {"layout": layout, "traces": {str(i): t for i, t in (traces or {}).items()}}
    figure["layout"]["meta"] = {"narrow": narrow}
    return figure


def wrapped_for_narrow(figure: Figure, width: int = 44) -> tuple[dict[str, Any], dict[int, Any]]:
    """Layout and trace changes that break long annotations and legend names into lines that fit
    a phone (plotly never wraps text): for `for_narrow_screens`."""
    traces = {
        index: {"name": wrap(trace["name"], width)}
        for index, trace in enumerate(figure["data"])
        if trace.get("name") and len(trace["name"]) > width and trace.get("showlegend") is not False
    }
    notes = figure["layout"].get("annotations", [])
    if not any(len(str(note.get("text") or "")) > width for note in notes):
        return {}, traces
    wrapped = [
        {**n, "text": wrap(n.get("text"), width), "font": {**n.get("font", {}), "size": 11}}
        for n in notes
    ]
    return {"annotations": wrapped}, traces
