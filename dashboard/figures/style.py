"""What every figure shares: colours, line styles, fonts."""

from __future__ import annotations

from typing import Any

import pandas as pd

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
    """A frame's rows as named tuples (typed loosely: columns differ per dataset)."""
    return list(frame.itertuples(index=False))
