"""Every figure of the dashboard: plain functions from DataFrames to the dicts plotly.js draws."""

from dashboard.figures.estimates import estimates_figure
from dashboard.figures.events import timeline_figure
from dashboard.figures.maps import (
    MISSING_TEXT,
    contrast_ratio,
    derived_share,
    drawn,
    geojson_urls,
    map_figure,
    map_layer,
    rate_layer,
    scale_colour,
)
from dashboard.figures.style import LAYER_COLUMNS, SERIES_COLOURS, US_SCALE
from dashboard.figures.time import series_style, trends_figure

__all__ = [
    "LAYER_COLUMNS",
    "MISSING_TEXT",
    "SERIES_COLOURS",
    "US_SCALE",
    "contrast_ratio",
    "derived_share",
    "drawn",
    "estimates_figure",
    "geojson_urls",
    "map_figure",
    "map_layer",
    "rate_layer",
    "scale_colour",
    "series_style",
    "timeline_figure",
    "trends_figure",
]
