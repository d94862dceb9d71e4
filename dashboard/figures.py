"""Every figure of the dashboard: plain functions from query DataFrames to plotly figures."""

from __future__ import annotations

import datetime as dt
import itertools
import textwrap
from functools import cache
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import shapely
from plotly.subplots import make_subplots
from shapely.geometry import shape

from geo.states import BOUNDARY_FILES, load_boundaries, manifest, mx_states, us_states

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
NO_FIGURE_TEXT = "no published figure"
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
KIND_SYMBOLS = {
    "gc_armas": "diamond",
    "bilateral_dialogue": "circle",
    "policy": "square",
    "funding": "triangle-up",
    "enforcement": "x",
    "legal": "star",
    "data_release": "triangle-down",
    "report": "hexagon",
}
KIND_LABELS = {
    "gc_armas": "GC-Armas",
    "bilateral_dialogue": "Bilateral dialogue",
    "policy": "Policy",
    "funding": "Funding",
    "enforcement": "Enforcement",
    "legal": "Court cases",
    "data_release": "Data releases",
    "report": "Reports",
}
QUALIFIER_PREFIX = {
    "approx": "≈",
    "more_than": ">",
    "less_than": "<",
    "at_least": "≥",
    "at_most": "≤",
}
UNIT_WORDS = {
    "firearms": "firearms",
    "sites": "dealer sites",
    "years": "years",
    "usd_millions": "USD million",
}
LAYER_COLUMNS = ["code", "name", "value", "text", "period", "status", "source", "note", "source_id"]
STATUS_WORDS = {"NO_FIGURE": NO_FIGURE_TEXT}
MEASURE_LABELS = {
    "us_sourced_pct": "US-sourced share of guns submitted for tracing (%)",
    "us_sourced_of_successful_traces_pct": "US-sourced share of guns successfully traced (%)",
    "us_manufactured_of_successful_traces_pct": "US-made share of guns successfully traced (%)",
    "us_imported_of_successful_traces_pct": "US-imported share of guns successfully traced (%)",
    "us_origin_of_seized_pct": "US-origin share of seized guns (%)",
    "us_origin_of_seized_firearms": "Seized guns of US origin",
    "transit_state_pct": "Transit claim: share passing through the state (%)",
    "single_seizure_source_state_pct": "One seizure: share of its traced guns from the state (%)",
    "single_seizure_source_state_firearms": "One seizure: traced guns from the state",
    "four_country_source_state_pct": "Share of guns traced in Mexico + Guatemala + El Salvador + Honduras (%)",
    "four_country_source_state_firearms": "Guns traced in Mexico + Guatemala + El Salvador + Honduras",
}
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=13, color=INK)


# ---------------------------------------------------------------------------- formatting


def _rows(frame: pd.DataFrame) -> list[Any]:
    """A frame's rows as named tuples (typed loosely: columns differ per dataset)."""
    return list(frame.itertuples(index=False))


def format_value(value: object, unit: str | None, qualifier: str | None = None) -> str:
    """ "≈4,800 firearms", "41%", "USD 127.2 million"; a missing value says so, never 0."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return NO_FIGURE_TEXT
    text = format_number(value)
    prefix = QUALIFIER_PREFIX.get(qualifier or "", "")
    if unit == "percent":
        return f"{prefix}{text}%"
    if unit == "usd_millions":
        return f"{prefix}USD {text} million"
    word = UNIT_WORDS.get(unit or "", unit or "")
    return f"{prefix}{text} {word}".strip()


def format_number(value: object) -> str:
    """17352 -> "17,352"; 67.13 -> "67.13"; 68.40 -> "68.4"."""
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer():
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def status_text(status: object) -> str:
    """A status as readers see it: "NO_FIGURE" reads "no published figure"."""
    return STATUS_WORDS.get(str(status), str(status))


def with_category(text: str, category: object) -> str:
    """ "1,316 firearms" + "long guns" -> "1,316 firearms (long guns only)"; no category, no change."""
    if category is None or (isinstance(category, float) and pd.isna(category)) or not category:
        return text
    return f"{text} ({category} only)"


def is_part_year(period: object, year_start: float | None, year_end: float | None) -> bool:
    """A single-year row whose period is not the plain year ("2018 (Jan-Aug)", "FY2023 H1")."""
    if year_start is None or year_end is None or pd.isna(year_start) or pd.isna(year_end):
        return False
    if int(year_start) != int(year_end):
        return False
    return str(period).strip() != str(int(year_start))


def measure_label(measure: str) -> str:
    """`us_sourced_pct` -> "US-sourced %": readable names of fact measures for legends."""
    if measure in MEASURE_LABELS:
        return MEASURE_LABELS[measure]
    text = measure.replace("_pct", " %").replace("_", " ").replace("us ", "US-")
    return text[:1].upper() + text[1:]


@cache
def state_names() -> dict[str, str]:
    """USPS and CVE_ENT codes to state names (both code sets are disjoint)."""
    names = dict(zip(us_states()["usps"], us_states()["name"], strict=True))
    names.update(zip(mx_states()["cve_ent"], mx_states()["short_name"], strict=True))
    return names


@cache
def state_centroids() -> dict[str, tuple[float, float]]:
    """A point inside each state (lon, lat), for corridor lines and labels; computed once."""
    points: dict[str, tuple[float, float]] = {}
    for country in ("US", "MX"):
        for feature in load_boundaries(country)["features"]:  # type: ignore[arg-type]
            geometry = shape(feature["geometry"])
            largest = max(shapely.get_parts(geometry), key=lambda part: part.area)
            point = largest.centroid
            if not largest.contains(point):
                point = largest.representative_point()
            points[feature["properties"]["code"]] = (round(point.x, 3), round(point.y, 3))
    return points


@cache
def all_codes(country: str) -> tuple[str, ...]:
    return tuple(f["properties"]["code"] for f in load_boundaries(country)["features"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- map


@cache
def geojson_urls() -> dict[str, str]:
    """Where the app serves each country's boundaries; the version changes with the file."""
    digests = {entry["path"].rsplit("/", 1)[-1]: entry["sha256"] for entry in manifest()["files"]}
    return {
        country: f"/geo/{country.lower()}.geojson?v={digests.get(name, 'dev')[:12]}"
        for country, name in BOUNDARY_FILES.items()
    }


def map_layer(
    rows: pd.DataFrame, *, country: str, measure: str, sources: dict[str, str]
) -> pd.DataFrame:
    """One country's drawable rows (code, name, value, text, period, status, source).

    `rows` are the rows of a published dataset or of a `traces-by-*` dataset, exactly as the
    download returns them; rows for groups of states or other places are left out here and
    listed by the page instead.
    """
    names = state_names()
    if rows.empty:
        return pd.DataFrame(columns=LAYER_COLUMNS)
    if "geo_level" in rows:
        level = "us_state" if country == "US" else "mx_state"
        own = rows[rows["geo_level"] == level]
        layer = pd.DataFrame(
            {
                "code": own["geo_code"],
                "name": own["geo_code"].map(names).fillna(own["geo_name"]),
                "value": own["value"].astype(float),
                "text": [
                    with_category(format_value(v, u, q), c)
                    for v, u, q, c in zip(
                        own["value"],
                        own["unit"],
                        own["value_qualifier"],
                        own["category"],
                        strict=True,
                    )
                ],
                "period": own["period"] + " · " + own["release"].fillna(""),
                "status": own["status"].map(status_text),
                "source": [f"{sources.get(s, s)} [{s}]" for s in own["source_id"]],
                "note": own["note"].fillna(""),
                "source_id": own["source_id"],
            }
        )
    else:
        key = "source_state" if country == "US" else "recovery_state"
        share = measure == "share"
        value = rows["share_pct"] if share else rows["firearms"]
        years = (
            rows["year_from"].astype("Int64").astype(str)
            + "–"
            + rows["year_to"].astype("Int64").astype(str)
        )
        years = years.where(rows["year_from"] != rows["year_to"], rows["year_from"].astype(str))
        layer = pd.DataFrame(
            {
                "code": rows[key],
                "name": rows[key].map(names).fillna(rows[key]),
                "value": value.astype(float),
                "text": [format_value(v, "percent" if share else "firearms") for v in value],
                "period": years.str.replace("<NA>", "all years"),
                "status": rows["status"],
                "source": "Loaded file " + rows["trace_file"],
                "note": "",
                "source_id": "",
            }
        )
    # One colour per state: if a series gives a state twice, the first is drawn and both are
    # listed in its hover text, so nothing is silently dropped. Rows without a value stay, so the
    # map can say why a state is grey.
    layer = layer.iloc[layer["value"].isna().to_numpy().argsort(kind="stable")]
    if layer["code"].duplicated().any():
        texts = layer.groupby("code", sort=False)["text"].agg(" / ".join)
        layer = layer.drop_duplicates("code").assign(text=lambda f: f["code"].map(texts))
    return layer.reset_index(drop=True)[LAYER_COLUMNS]


def wrap(text: object, width: int = 60) -> str:
    """Long notes broken into hover-sized lines (plotly hover boxes do not wrap)."""
    return "<br>".join(textwrap.wrap(str(text or ""), width))


def derived_share(layer: pd.DataFrame) -> pd.DataFrame:
    """Each state's count as a DERIVED share of the series' own total (of the states drawn).

    For a series that publishes counts only: the share is arithmetic on its own figures, labelled
    as such, never presented as a published share.
    """
    values = drawn(layer)
    total = float(values["value"].sum())
    if values.empty or total <= 0:
        return layer.iloc[0:0]
    out = values.copy()
    out["value"] = (100 * values["value"] / total).round(1)
    method = (
        f"DERIVED: this state's count divided by the total of the {len(values)} states with a "
        f"figure in this series ({format_number(total)})"
    )
    out["text"] = [f"{format_number(v)}% (DERIVED)" for v in out["value"]]
    out["status"] = "DERIVED"
    out["note"] = [
        f"{method}; published figure: {count}" + (f"; {note}" if note else "")
        for count, note in zip(values["text"], values["note"], strict=True)
    ]
    return out.reset_index(drop=True)


def _hover(layer: pd.DataFrame) -> list[list[str]]:
    rows = layer[["name", "text", "period", "status", "source", "code"]].astype(str).values.tolist()
    return [
        [*row, f"<br>Note: {wrap(note)}" if note else ""]
        for row, note in zip(rows, layer["note"].fillna(""), strict=True)
    ]


HOVER = (
    "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>Period: %{customdata[2]}"
    "<br>Status: %{customdata[3]}<br>Source: %{customdata[4]}%{customdata[6]}<extra></extra>"
)


def drawn(layer: pd.DataFrame) -> pd.DataFrame:
    """The states of a layer that have a figure (a NULL figure is never drawn as a colour)."""
    return layer.dropna(subset=["value"])


MISSING_TEXT = "No published figure in this series"


def _no_figure_reason(row: pd.Series | None, missing: str) -> str:
    if row is None:
        return missing
    note = str(row["note"] or "")
    return missing + (f":<br>{wrap(note)}" if note else "")


def _country_traces(
    layer: pd.DataFrame,
    *,
    country: str,
    geojson: str,
    title: str,
    colourbar_y: float,
    missing_text: str = MISSING_TEXT,
) -> list[go.BaseTraceType]:
    names = state_names()
    listed = {row["code"]: row for _, row in layer.iterrows() if pd.isna(row["value"])}
    layer = drawn(layer)
    missing = [code for code in all_codes(country) if code not in set(layer["code"])]
    scale = US_SCALE if country == "US" else MX_SCALE
    traces: list[go.BaseTraceType] = [
        go.Choropleth(
            geojson=geojson,
            locations=missing,
            z=[0] * len(missing),
            colorscale=[[0, NO_FIGURE], [1, NO_FIGURE]],
            showscale=False,
            marker_line_color="#ffffff",
            marker_line_width=0.6,
            customdata=[
                [names.get(c, c), _no_figure_reason(listed.get(c), missing_text), "", "", "", c]
                for c in missing
            ],
            hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<extra></extra>",
            name=f"{country}: {NO_FIGURE_TEXT}",
        )
    ]
    if not layer.empty:
        traces.append(
            go.Choropleth(
                geojson=geojson,
                locations=layer["code"].tolist(),
                z=layer["value"].tolist(),
                zmin=0,
                zmax=max(float(layer["value"].max()), 1.0),
                colorscale=scale,
                marker_line_color="#ffffff",
                marker_line_width=0.6,
                customdata=_hover(layer),
                hovertemplate=HOVER,
                name=title,
                colorbar=dict(
                    title=dict(text=title, side="top", font=dict(size=12)),
                    len=0.42,
                    y=colourbar_y,
                    yanchor="middle",
                    x=1.0,
                    thickness=14,
                    tickfont=dict(size=11),
                ),
            )
        )
    return traces


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two "#rrggbb" colours (1 to 21)."""
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def scale_colour(scale: list[list[Any]], position: float) -> str:
    """The colour a plotly colourscale gives at `position` (0-1), interpolated in RGB."""
    position = min(max(position, 0.0), 1.0)
    for (x0, c0), (x1, c1) in itertools.pairwise(scale):
        if x0 <= position <= x1:
            t = 0 if x1 == x0 else (position - x0) / (x1 - x0)
            a = [int(c0[i : i + 2], 16) for i in (1, 3, 5)]
            b = [int(c1[i : i + 2], 16) for i in (1, 3, 5)]
            return "#" + "".join(f"{round(p + (q - p) * t):02x}" for p, q in zip(a, b, strict=True))
    return str(scale[-1][1])


def label_colour(fill: str) -> str:
    """Black or white, whichever reads better on `fill` (at least 4.5:1 on any fill)."""
    return max(("#000000", "#ffffff"), key=lambda ink: contrast_ratio(ink, fill))


def _labels(layer: pd.DataFrame, country: str, limit: int = 12) -> go.Scattergeo | None:
    layer = drawn(layer)
    if layer.empty or len(layer) > limit:
        return None
    centroids = state_centroids()
    shown = layer[layer["code"].isin(centroids)]
    scale = US_SCALE if country == "US" else MX_SCALE
    top = max(float(layer["value"].max()), 1.0)
    inks = [label_colour(scale_colour(scale, float(v) / top)) for v in shown["value"]]
    return go.Scattergeo(
        lon=[centroids[c][0] for c in shown["code"]],
        lat=[centroids[c][1] for c in shown["code"]],
        text=[t.split(" ")[0] for t in shown["text"]],
        mode="text",
        # The ink is chosen per fill for contrast; the halo keeps it legible over corridor lines.
        textfont=dict(size=11, color=inks, shadow="auto"),
        hoverinfo="skip",
        showlegend=False,
        name="labels",
    )


def _along(start: tuple[float, float], end: tuple[float, float], t: float) -> tuple[float, float]:
    return (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)


# Corridors start and stop short of the centroids, where the value labels sit.
CORRIDOR_TRIM = (0.18, 0.82)


def corridor_traces(corridors: pd.DataFrame, sources: dict[str, str]) -> list[go.Scattergeo]:
    """US-state -> Mexican-state corridors: lines with an arrowhead, width by value, hoverable."""
    centroids = state_centroids()
    rows = corridors[
        corridors["geo_code"].isin(centroids) & corridors["partner_code"].isin(centroids)
    ]
    rows = rows.dropna(subset=["value"])
    if rows.empty:
        return []
    top = float(rows["value"].max()) or 1.0
    names = state_names()
    traces: list[go.Scattergeo] = []
    for index, row in enumerate(_rows(rows)):
        start, end = centroids[row.geo_code], centroids[row.partner_code]
        points = [_along(start, end, t) for t in (CORRIDOR_TRIM[0], 0.5, CORRIDOR_TRIM[1])]
        hover = [
            f"{names.get(row.geo_code, row.geo_code)} → "
            f"{names.get(row.partner_code, row.partner_code)}",
            with_category(format_value(row.value, row.unit, row.value_qualifier), row.category),
            f"{row.period} · {row.release}",
            status_text(row.status),
            f"{sources.get(row.source_id, row.source_id)} [{row.source_id}]",
            "",
            f"<br>Note: {wrap(row.note)}" if row.note else "",
        ]
        colour = "rgba(40,20,60,0.85)"
        traces.append(
            go.Scattergeo(
                lon=[p[0] for p in points],
                lat=[p[1] for p in points],
                mode="lines+markers",
                line=dict(width=1 + 4 * float(row.value) / top, color=colour),
                # The arrowhead at the Mexican end points along the line: purchase -> recovery.
                marker=dict(
                    symbol=["circle", "circle", "arrow"],
                    size=[4, 4, 13],
                    angleref="previous",
                    color=colour,
                ),
                customdata=[hover] * 3,
                hovertemplate=HOVER,
                name="Corridor (US state of purchase → Mexican state of recovery)",
                legendgroup="corridors",
                showlegend=index == 0,
            )
        )
    return traces


def map_figure(
    us: pd.DataFrame,
    mx: pd.DataFrame,
    *,
    us_title: str,
    mx_title: str,
    geojson_urls: dict[str, str],
    corridors: pd.DataFrame | None = None,
    sources: dict[str, str] | None = None,
    missing: dict[str, str] | None = None,
) -> go.Figure:
    """US and Mexican states in one North America projection; grey = no published figure.

    `missing` may say, per country, why a grey state has no figure (e.g. no traces that year).
    """
    figure = go.Figure()
    for layer, country, title, y in ((us, "US", us_title, 0.76), (mx, "MX", mx_title, 0.26)):
        for trace in _country_traces(
            layer,
            country=country,
            geojson=geojson_urls[country],
            title=title,
            colourbar_y=y,
            missing_text=(missing or {}).get(country, MISSING_TEXT),
        ):
            figure.add_trace(trace)
    if corridors is not None and not corridors.empty:
        for trace in corridor_traces(corridors, sources or {}):
            figure.add_trace(trace)
    for layer, country in ((us, "US"), (mx, "MX")):
        labels = _labels(layer, country)
        if labels is not None:
            figure.add_trace(labels)
    figure.update_geos(
        scope="north america",
        projection=dict(type="albers", parallels=[20, 45], rotation=dict(lon=-97)),
        lonaxis_range=[-125, -67],
        lataxis_range=[14.3, 49.6],
        showland=True,
        landcolor="#f4f3ef",
        showocean=True,
        oceancolor="#eef3f7",
        showlakes=False,
        showcountries=True,
        countrycolor="#8a8a8a",
        countrywidth=0.8,
        showcoastlines=True,
        coastlinecolor="#9a9a9a",
        showsubunits=False,
        showframe=False,
        bgcolor="rgba(0,0,0,0)",
    )
    figure.update_layout(
        margin=dict(l=0, r=0, t=8, b=0),
        font=FONT,
        legend=dict(orientation="h", x=0, y=0, yanchor="bottom", bgcolor="rgba(255,255,255,0.8)"),
        paper_bgcolor="rgba(0,0,0,0)",
        hoverlabel=dict(bgcolor="#ffffff", font_size=13),
        uirevision="map",
    )
    return figure


# ---------------------------------------------------------------------------- trends


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


def _published_series(
    figure: go.Figure,
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
    """
    drawn = 0
    wanted = rows[(rows["unit"] == "percent") == percent]
    wanted = wanted.dropna(subset=["value", "year_start", "year_end"])
    if "category" not in wanted:
        wanted = wanted.assign(category=None)
    template = (
        "<b>%{customdata[0]}</b>: %{customdata[1]}<br>%{customdata[4]}"
        "<br>Status: %{customdata[2]} · Source [%{customdata[3]}]%{customdata[5]}<extra></extra>"
    )
    keys = ["release", "measure", "category"]
    for (release, measure, category), group in wanted.fillna({"category": ""}).groupby(
        keys, sort=False, dropna=False
    ):
        key = f"{release}|{measure}|{category}"
        style = colours.setdefault(key, len(colours))
        colour, dash, symbol = series_style(style)
        unverified = (group["status"] == "UNVERIFIED").all()
        name = str(release)
        if str(measure) not in main_measures:
            name += f" — {measure_label(str(measure))}"
        if category:
            name += f" — {category} only"
        if unverified:
            name += " (UNVERIFIED)"
        one_year = group["year_start"] == group["year_end"]
        partial = [
            is_part_year(p, a, b)
            for p, a, b in zip(group["period"], group["year_start"], group["year_end"], strict=True)
        ]
        single = group[one_year & ~pd.Series(partial, index=group.index)].sort_values("year_start")
        parts = group[pd.Series(partial, index=group.index)]
        spans = group[~one_year] if percent or count_spans else group.head(0)

        def hover(
            frame: pd.DataFrame, release: object = release, total: bool = False
        ) -> list[list[str]]:
            return [
                [
                    str(r.period),
                    with_category(format_value(r.value, r.unit, r.value_qualifier), r.category)
                    + (" in total over the period (not per year)" if total else ""),
                    status_text(r.status),
                    str(r.source_id),
                    str(release),
                    f"<br>Note: {wrap(r.note)}" if getattr(r, "note", None) else "",
                ]
                for r in _rows(frame)
            ]

        line_dash = UNVERIFIED_DASH if unverified else dash
        if len(single):
            xs, ys = gapped(
                [int(y) for y in single["year_start"]], single["value"].astype(float).tolist()
            )
            custom = hover(single)
            # A break point is never hovered; it carries the line's release so rows stay uniform.
            blank = ["", "", "", "", str(release), ""]
            points = iter(custom)
            padded = [blank if x is None else next(points) for x in xs]
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    connectgaps=False,
                    mode="lines+markers",
                    name=name,
                    legendgroup=key,
                    showlegend=name not in shown,
                    line=dict(color=colour, width=2, dash=line_dash),
                    marker=dict(
                        size=8,
                        color=colour,
                        line=dict(color=colour, width=2),
                        symbol=[
                            symbol + ("-open" if s == "UNVERIFIED" else "")
                            for s in single["status"]
                        ],
                    ),
                    customdata=padded,
                    hovertemplate=template,
                ),
                row=row,
                col=1,
            )
            shown.add(name)
            drawn += 1
        if len(parts):
            figure.add_trace(
                go.Scatter(
                    x=[_mid_year(y) for y in parts["year_start"]],
                    y=parts["value"].astype(float),
                    mode="markers+text",
                    name=f"{name} — part year only",
                    legendgroup=key,
                    showlegend=True,
                    marker=dict(symbol=f"{symbol}-open", size=11, color=colour, line=dict(width=2)),
                    text=[f"{p}: part year" for p in parts["period"]],
                    textposition="top center",
                    textfont=dict(size=11, color=colour),
                    customdata=hover(parts),
                    hovertemplate=template,
                ),
                row=row,
                col=1,
            )
            drawn += 1
        for span in _rows(spans):
            start, end = dt.date(int(span.year_start), 1, 1), dt.date(int(span.year_end), 12, 31)
            total = not percent
            span_name = name + (" — total over the period" if total else "")
            figure.add_trace(
                go.Scatter(
                    x=[start, end],
                    y=[float(span.value)] * 2,
                    mode="lines+markers",
                    name=span_name,
                    legendgroup=key,
                    showlegend=span_name not in shown,
                    line=dict(
                        color=colour,
                        width=4,
                        dash=UNVERIFIED_DASH if span.status == "UNVERIFIED" else dash,
                    ),
                    marker=dict(symbol="line-ns", size=10, line=dict(color=colour, width=2)),
                    customdata=hover(spans[spans["period"] == span.period].head(1), total=total)
                    * 2,
                    hovertemplate=template,
                ),
                row=row,
                col=1,
            )
            shown.add(span_name)
            drawn += 1
    return drawn


def _trace_file_series(figure: go.Figure, traces: pd.DataFrame, *, shares: bool = True) -> int:
    drawn = 0
    for index, (checksum, group) in enumerate(traces.groupby("file_checksum", sort=False)):
        colour = SERIES_COLOURS[-(index % 3) - 2]
        status = str(group["status"].iloc[0])
        name = f"Loaded file {group['trace_file'].iloc[0]} ({status})"
        group = group.sort_values("year")
        years = [int(y) for y in group["year"]]
        points = iter(
            [int(y), f"{int(n):,}", f"{p:.1f}", status, str(checksum)[:12]]
            for y, n, p in zip(
                group["year"], group["firearms"], group["us_sourced_pct"], strict=True
            )
        )
        x, _ = gapped(years, [0.0] * len(years))
        # A year without traces in the file breaks the line; the break point is never hovered.
        custom = [
            ["", "", "", status, str(checksum)[:12]] if d is None else next(points) for d in x
        ]
        rows = [(1, "firearms", "%{customdata[1]} traced firearms")]
        if shares:
            rows.append((2, "us_sourced_pct", "%{customdata[2]}% US-sourced"))
        for row, column, text in rows:
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=gapped(years, group[column].astype(float).tolist())[1],
                    connectgaps=False,
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    line=dict(color=colour, width=2, dash="dash"),
                    marker=dict(symbol="square", size=7, color=colour),
                    customdata=custom,
                    hovertemplate="<b>%{customdata[0]}</b>: "
                    + text
                    + "<br>"
                    + name
                    + "<br>Status: %{customdata[3]}<extra></extra>",
                ),
                row=row,
                col=1,
            )
            drawn += 1
    return drawn


def _event_hover(row: Any, sources: dict[str, str]) -> str:
    source_id = row.source_id
    lines = [
        f"<b>{row.title_en}</b>",
        f"{row.date_label} · {KIND_LABELS.get(row.kind, row.kind)}",
        f"Status: {status_text(row.status)}",
        f"Source: {sources.get(source_id, source_id)} [{source_id}]",
    ]
    if row.description:
        lines.append(wrap(row.description))
    return "<br>".join(lines)


def _to_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def add_events(
    figure: go.Figure,
    events: pd.DataFrame,
    sources: dict[str, str],
    *,
    row: int,
    band_rows: tuple[int, ...],
    band_kinds: tuple[str, ...] = ("gc_armas",),
) -> None:
    """Events as markers in lanes by kind; ranged events of `band_kinds` shade every row."""
    # An undated account (its source gives no date) is listed in tables, never placed on the axis.
    if events.empty:
        return
    events = events[events["date_start"].notna()]
    if events.empty:
        return
    kinds = [k for k in KIND_LABELS if k in set(events["kind"])] + sorted(
        set(events["kind"]) - set(KIND_LABELS)
    )
    lanes = {kind: KIND_LABELS.get(kind, kind) for kind in kinds}
    for kind in kinds:
        group = events[events["kind"] == kind]
        points = group[group["date_end"].isna()]
        unverified = points["status"] == "UNVERIFIED"
        figure.add_trace(
            go.Scatter(
                x=[_to_date(d) for d in points["date_start"]],
                y=[lanes[kind]] * len(points),
                mode="markers",
                name=f"Events: {lanes[kind]}",
                legendgroup=f"events-{kind}",
                showlegend=False,
                marker=dict(
                    symbol=[
                        KIND_SYMBOLS.get(kind, "circle") + ("-open" if u else "")
                        for u in unverified
                    ],
                    size=11,
                    color=INK if kind == "gc_armas" else MUTED,
                    line=dict(width=1.5, color=INK if kind == "gc_armas" else MUTED),
                ),
                text=[_event_hover(r, sources) for r in _rows(points)],
                hovertemplate="%{text}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        for span in _rows(group[group["date_end"].notna()]):
            start, end = _to_date(span.date_start), _to_date(span.date_end)
            hover = _event_hover(span, sources)
            figure.add_trace(
                go.Scatter(
                    x=[start, end],
                    y=[lanes[kind]] * 2,
                    mode="lines",
                    line=dict(width=7, color="rgba(90,90,90,0.55)"),
                    showlegend=False,
                    text=[hover, hover],
                    hovertemplate="%{text}<extra></extra>",
                    name=str(span.title_en),
                ),
                row=row,
                col=1,
            )
            if kind in band_kinds:
                unverified_span = span.status == "UNVERIFIED"
                for band_row in band_rows:
                    # An UNVERIFIED span is drawn as an outline with a faint fill, never as fact.
                    figure.add_vrect(
                        x0=start,
                        x1=end,
                        fillcolor="rgba(120,120,120,0.07)"
                        if unverified_span
                        else "rgba(120,120,120,0.16)",
                        line=dict(color=MUTED, width=1, dash="dot")
                        if unverified_span
                        else dict(width=0),
                        layer="below",
                        row=band_row,  # type: ignore[arg-type]
                        col=1,
                    )
                axis = "" if row == 1 else str(row)
                figure.add_annotation(
                    x=start + (end - start) / 2,
                    y=1,
                    yref=f"y{axis} domain",
                    xref=f"x{axis}",
                    text=str(span.title_en)
                    + (
                        " (UNVERIFIED: a single secondary source)"
                        if span.status == "UNVERIFIED"
                        else ""
                    ),
                    showarrow=False,
                    yanchor="top",
                    font=dict(size=11, color=MUTED),
                    hovertext=hover,
                )
    figure.update_yaxes(
        categoryorder="array",
        categoryarray=list(reversed(list(lanes.values()))),
        row=row,
        col=1,
    )


def trends_figure(
    published: pd.DataFrame,
    traces: pd.DataFrame,
    events: pd.DataFrame,
    *,
    sources: dict[str, str],
    count_title: str = "Traced firearms",
    share_title: str = "US-sourced share (%)",
    x_range: tuple[int, int] | None = None,
    main_measures: tuple[str, ...] = (),
    trace_shares: bool = True,
    count_spans: bool = False,
) -> go.Figure:
    """Counts, shares and the event timeline on one time axis; one line per release."""
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.4, 0.34, 0.26],
        vertical_spacing=0.05,
        subplot_titles=(count_title, share_title, "Events"),
    )
    colours: dict[str, int] = {}
    shown: set[str] = set()
    drawn = {1: 0, 2: 0}
    if not published.empty:
        for row, percent in ((1, False), (2, True)):
            drawn[row] = _published_series(
                figure,
                published,
                row=row,
                percent=percent,
                colours=colours,
                shown=shown,
                main_measures=main_measures,
                count_spans=count_spans,
            )
    if not traces.empty:
        files = _trace_file_series(figure, traces, shares=trace_shares)
        drawn[1] += files
        drawn[2] += files if trace_shares else 0
    # An empty panel says so in words rather than showing bare axes.
    for row, what in ((1, "counts"), (2, "shares")):
        if not drawn[row]:
            axis = "" if row == 1 else str(row)
            figure.add_annotation(
                text=f"No published {what} in this view",
                xref=f"x{axis} domain",
                yref=f"y{axis} domain",
                x=0.5,
                y=0.5,
                showarrow=False,
                font=dict(size=13, color=MUTED),
            )
    add_events(figure, events, sources, row=3, band_rows=(1, 2, 3))
    figure.update_yaxes(rangemode="tozero", row=1, col=1, tickformat=",")
    figure.update_yaxes(range=[0, 100], row=2, col=1, ticksuffix="%")
    figure.update_xaxes(showgrid=True, gridcolor="#ececec")
    figure.update_yaxes(gridcolor="#ececec")
    if x_range is not None:
        figure.update_xaxes(range=[dt.date(x_range[0], 1, 1), dt.date(x_range[1], 12, 31)])
    figure.update_layout(
        height=760,
        margin=dict(l=10, r=10, t=30, b=10),
        font=FONT,
        legend=dict(orientation="h", y=-0.06, yanchor="top", x=0, font=dict(size=11)),
        hovermode="closest",
        plot_bgcolor="#ffffff",
        paper_bgcolor="rgba(0,0,0,0)",
        uirevision="trends",
    )
    figure.update_annotations(font=dict(size=13), selector=dict(text=count_title))
    return figure


def timeline_figure(events: pd.DataFrame, *, sources: dict[str, str]) -> go.Figure:
    """The events alone on a time axis, lanes by kind; the GC-Armas suspension shaded."""
    figure = make_subplots(rows=1, cols=1)
    add_events(figure, events, sources, row=1, band_rows=(1,))
    lanes = events["kind"].nunique() if not events.empty else 1
    figure.update_layout(
        height=140 + 46 * lanes,
        margin=dict(l=10, r=10, t=30, b=30),
        font=FONT,
        plot_bgcolor="#ffffff",
        paper_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        hovermode="closest",
    )
    figure.update_xaxes(showgrid=True, gridcolor="#ececec")
    return figure


# ---------------------------------------------------------------------------- estimates


def estimates_figure(rows: pd.DataFrame, *, sources: dict[str, str]) -> go.Figure:
    """One answer per row, side by side: ranges as ranges, central values as dots."""
    rows = rows.reset_index(drop=True)
    labels = [
        f"{r.producer[:58]}{'…' if len(r.producer) > 58 else ''}<br><sub>{r.period}</sub>"
        for r in _rows(rows)
    ]
    # Plotly needs unique category labels; two rows of one producer and period get a suffix.
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[index] = f"{label} ({seen[label]})"
    figure = go.Figure()
    for index, r in enumerate(_rows(rows)):
        unverified = r.status == "UNVERIFIED"
        colour = "#D55E00" if unverified else "#0072B2"
        low, central, high = (None if pd.isna(v) else float(v) for v in (r.low, r.central, r.high))
        hover = "<br>".join(
            [
                f"<b>{r.producer}</b>",
                f"{r.period}: {estimate_text(r.low, r.central, r.high, r.unit, r.value_qualifier)}",
                f"Status: {status_text(r.status)}",
                f"Source: {sources.get(r.source_id, r.source_id)} [{r.source_id}]",
                *([f"Caveats: {wrap(r.caveats)}"] if r.caveats else []),
            ]
        )
        if low is not None and high is not None:
            figure.add_trace(
                go.Scatter(
                    x=[low, high],
                    y=[labels[index]] * 2,
                    mode="lines+markers",
                    line=dict(color=colour, width=6, dash="dot" if unverified else "solid"),
                    marker=dict(symbol="line-ns", size=14, line=dict(width=2, color=colour)),
                    hovertext=[hover, hover],
                    hoverinfo="text",
                    showlegend=False,
                    opacity=0.55 if central is not None else 0.9,
                )
            )
            if central is None:
                figure.add_trace(
                    go.Scatter(
                        x=[high],
                        y=[labels[index]],
                        mode="text",
                        text=["  range only" + (" · UNVERIFIED" if unverified else "")],
                        textposition="middle right",
                        textfont=dict(size=11, color=colour),
                        hoverinfo="skip",
                        showlegend=False,
                    )
                )
        if central is not None:
            figure.add_trace(
                go.Scatter(
                    x=[central],
                    y=[labels[index]],
                    mode="markers+text",
                    marker=dict(
                        size=12,
                        color="#ffffff" if unverified else colour,
                        line=dict(width=2.5, color=colour),
                        symbol="diamond-open" if unverified else "circle",
                    ),
                    text=[
                        format_value(central, r.unit, r.value_qualifier)
                        + (" UNVERIFIED" if unverified else "")
                    ],
                    textposition="middle right",
                    textfont=dict(size=11, color=colour),
                    hovertext=[hover],
                    hoverinfo="text",
                    showlegend=False,
                )
            )
    unit = rows["unit"].iloc[0] if len(rows) else ""
    figure.update_layout(
        height=90 + 58 * max(len(rows), 1),
        margin=dict(l=10, r=40, t=10, b=40),
        font=FONT,
        plot_bgcolor="#ffffff",
        paper_bgcolor="rgba(0,0,0,0)",
        xaxis=dict(
            rangemode="tozero",
            gridcolor="#ececec",
            title=dict(text=UNIT_WORDS.get(unit, "%" if unit == "percent" else unit)),
            ticksuffix="%" if unit == "percent" else "",
            tickformat=",",
        ),
        yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=labels),
    )
    # Room on the right for the value labels, so none is cut.
    top = (
        pd.concat([rows["high"], rows["central"]]).dropna().astype(float).max() if len(rows) else 1
    )
    figure.update_xaxes(range=[0, 118 if unit == "percent" else float(top) * 1.3])
    return figure


def estimate_text(
    low: object, central: object, high: object, unit: str, qualifier: str | None = None
) -> str:
    """ "253,000 firearms (range 89,816–359,205)"; missing parts are left out, never zeroed."""
    parts = []
    if central is not None and not pd.isna(central):  # type: ignore[call-overload]
        parts.append(format_value(central, unit, qualifier))
    has_range = all(v is not None and not pd.isna(v) for v in (low, high))  # type: ignore[call-overload]
    if has_range:
        span = f"{format_number(low)}–{format_value(high, unit)}"
        parts.append(f"(range {span})" if parts else span)
    return " ".join(parts) or NO_FIGURE_TEXT


# ---------------------------------------------------------------------------- rates


def format_rate(value: object) -> str:
    """Three significant digits, never scientific: 27.75 -> "27.8", 0.00412 -> "0.00412"."""
    number = float(value)  # type: ignore[arg-type]
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"


def rate_layer(rows: pd.DataFrame, *, country: str, sources: dict[str, str]) -> pd.DataFrame:
    """One country's DERIVED rates as a map layer; each hover names count, denominator and both
    sources. `rows` are a rate download's rows (db/rates.py); states without a denominator stay
    in the layer without a value, so the map says why they are grey."""
    if rows.empty:
        return pd.DataFrame(columns=[*LAYER_COLUMNS, "count", "denominator"])
    if "geo_level" in rows:
        rows = rows[rows["geo_level"] == ("us_state" if country == "US" else "mx_state")]
        codes = rows["geo_code"]
        periods = rows["period"] + " · " + rows["release"].fillna("")
        unit = "firearms"
    else:
        codes = rows["source_state" if country == "US" else "recovery_state"]
        periods = rows["count_years"].fillna("").astype(str)
        unit = "firearms"
    names = state_names()
    counts = [format_value(c, unit) for c in rows["count"]]
    denominators = [
        "no denominator" if pd.isna(d) else f"{format_number(d)} {u} ({int(y)})"
        for d, u, y in zip(
            rows["denominator"], rows["denominator_unit"], rows["denominator_year"], strict=True
        )
    ]
    layer = pd.DataFrame(
        {
            "code": codes.to_numpy(),
            "name": codes.map(names).fillna(codes).to_numpy(),
            "value": pd.to_numeric(rows["rate"], errors="coerce").to_numpy(),
            "text": [
                f"{format_rate(r)} {u} (DERIVED)" if pd.notna(r) else "no rate"
                for r, u in zip(rows["rate"], rows["rate_unit"], strict=True)
            ],
            "period": periods.to_numpy(),
            # A rate of UNVERIFIED or SYNTHETIC counts keeps saying so.
            "status": [
                "DERIVED" if c == "VERIFIED" else f"DERIVED from {status_text(c)}"
                for c in rows["count_status"]
            ],
            "source": [
                f"{sources.get(s, s)} [{s}]"
                + (f"; denominator: {sources.get(d, d)} [{d}]" if isinstance(d, str) else "")
                for s, d in zip(rows["source_id"], rows["denominator_source_id"], strict=True)
            ],
            "note": [
                f"Count: {c}; denominator: {d}. {n}"
                for c, d, n in zip(counts, denominators, rows["rate_note"], strict=True)
            ],
            "source_id": rows["source_id"].to_numpy(),
            "count": counts,
            "denominator": denominators,
        }
    )
    layer = layer.iloc[layer["value"].isna().to_numpy().argsort(kind="stable")]
    return layer.drop_duplicates("code").reset_index(drop=True)
