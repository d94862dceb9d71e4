"""The map: both countries' choropleths, labels and the corridor lines."""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import pandas as pd

from dashboard.figures.style import (
    FONT,
    LAYER_COLUMNS,
    MX_SCALE,
    NO_FIGURE,
    US_SCALE,
    Figure,
    default_template,
    for_narrow_screens,
    rows_of,
)
from dashboard.i18n import N_, _, ngettext
from dashboard.text import (
    NO_FIGURE_TEXT,
    format_number,
    format_rate,
    format_value,
    state_names,
    status_text,
    translated,
    with_category,
    wrap,
)
from db.vocabulary import STATE_LEVELS
from geo.states import BOUNDARY_FILES, all_codes, manifest, state_centroids


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
        level = STATE_LEVELS[country]
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
        loaded = _("Loaded file {file}")
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
                "period": years.str.replace("<NA>", _("all years")),
                "status": rows["status"],
                "source": [loaded.format(file=f) for f in rows["trace_file"]],
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
    method = ngettext(
        "DERIVED: this state's count divided by the total of the {count} state with a "
        "figure in this series ({total})",
        "DERIVED: this state's count divided by the total of the {count} states with a "
        "figure in this series ({total})",
        len(values),
    ).format(count=len(values), total=format_number(total))
    out["text"] = [f"{format_value(v, 'percent')} (DERIVED)" for v in out["value"]]
    out["status"] = "DERIVED"
    published = _("published figure")
    out["note"] = [
        f"{method}; {published}: {count}" + (f"; {note}" if note else "")
        for count, note in zip(values["text"], values["note"], strict=True)
    ]
    return out.reset_index(drop=True)


def _hover(layer: pd.DataFrame) -> list[list[str]]:
    rows = layer[["name", "text", "period", "status", "source", "code"]].astype(str).values.tolist()
    note_word = _("Note")
    return [
        [*row, f"<br>{note_word}: {wrap(note)}" if note else ""]
        for row, note in zip(rows, layer["note"].fillna(""), strict=True)
    ]


def hover_template() -> str:
    """A state's or corridor's hover in the current language (its values are in customdata)."""
    return (
        "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>"
        + _("Period")
        + ": %{customdata[2]}<br>"
        + _("Status: ")
        + "%{customdata[3]}<br>"
        + _("Source")
        + ": %{customdata[4]}%{customdata[6]}<extra></extra>"
    )


def drawn(layer: pd.DataFrame) -> pd.DataFrame:
    """The states of a layer that have a figure (a NULL figure is never drawn as a colour)."""
    # A mask rather than `dropna`, whose own set-up costs more than these few dozen rows.
    return layer[layer["value"].notna().to_numpy()]


MISSING_TEXT = N_("No published figure in this series")


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
) -> list[dict[str, Any]]:
    names = state_names()
    listed = {row["code"]: row for _, row in layer[layer["value"].isna()].iterrows()}
    layer = drawn(layer)
    coloured = set(layer["code"])
    missing = [code for code in all_codes(country) if code not in coloured]
    scale = US_SCALE if country == "US" else MX_SCALE
    traces: list[dict[str, Any]] = [
        {
            "type": "choropleth",
            "geojson": geojson,
            "locations": missing,
            "z": [0] * len(missing),
            "colorscale": [[0, NO_FIGURE], [1, NO_FIGURE]],
            "showscale": False,
            "marker": {"line": {"color": "#ffffff", "width": 0.6}},
            "customdata": [
                [names.get(c, c), _no_figure_reason(listed.get(c), missing_text), "", "", "", c]
                for c in missing
            ],
            "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]}<extra></extra>",
            "name": f"{country}: {_(NO_FIGURE_TEXT)}",
        }
    ]
    if not layer.empty:
        traces.append(
            {
                "type": "choropleth",
                "geojson": geojson,
                "locations": layer["code"].tolist(),
                "z": layer["value"].tolist(),
                "zmin": 0,
                "zmax": max(float(layer["value"].max()), 1.0),
                "colorscale": scale,
                "marker": {"line": {"color": "#ffffff", "width": 0.6}},
                "customdata": _hover(layer),
                "hovertemplate": hover_template(),
                "name": title,
                "colorbar": {
                    "title": {"text": title, "side": "top", "font": {"size": 12}},
                    "len": 0.42,
                    "y": colourbar_y,
                    "yanchor": "middle",
                    "x": 1.0,
                    "thickness": 14,
                    "tickfont": {"size": 11},
                },
            }
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


def _labels(layer: pd.DataFrame, country: str, limit: int = 12) -> dict[str, Any] | None:
    layer = drawn(layer)
    if layer.empty or len(layer) > limit:
        return None
    centroids = state_centroids()
    shown = layer[layer["code"].isin(centroids)]
    scale = US_SCALE if country == "US" else MX_SCALE
    top = max(float(layer["value"].max()), 1.0)
    inks = [label_colour(scale_colour(scale, float(v) / top)) for v in shown["value"]]
    return {
        "type": "scattergeo",
        "lon": [centroids[c][0] for c in shown["code"]],
        "lat": [centroids[c][1] for c in shown["code"]],
        "text": [t.split(" ")[0] for t in shown["text"]],
        "mode": "text",
        # The ink is chosen per fill for contrast; the halo keeps it legible over corridor lines.
        "textfont": {"size": 11, "color": inks, "shadow": "auto"},
        "hoverinfo": "skip",
        "showlegend": False,
        "name": "labels",
    }


def _along(start: tuple[float, float], end: tuple[float, float], t: float) -> tuple[float, float]:
    return (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)


# Corridors start and stop short of the centroids, where the value labels sit.
CORRIDOR_TRIM = (0.18, 0.82)


def corridor_traces(corridors: pd.DataFrame, sources: dict[str, str]) -> list[dict[str, Any]]:
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
    traces: list[dict[str, Any]] = []
    template, note_word = hover_template(), _("Note")
    name = _("Corridor (US state of purchase → Mexican state of recovery)")
    for index, row in enumerate(rows_of(rows)):
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
            f"<br>{note_word}: {wrap(row.note)}" if row.note else "",
        ]
        colour = "rgba(40,20,60,0.85)"
        traces.append(
            {
                "type": "scattergeo",
                "lon": [p[0] for p in points],
                "lat": [p[1] for p in points],
                "mode": "lines+markers",
                "line": {"width": 1 + 4 * float(row.value) / top, "color": colour},
                # The arrowhead at the Mexican end points along the line: purchase -> recovery.
                "marker": {
                    "symbol": ["circle", "circle", "arrow"],
                    "size": [4, 4, 13],
                    "angleref": "previous",
                    "color": colour,
                },
                "customdata": [hover] * 3,
                "hovertemplate": template,
                "name": name,
                "legendgroup": "corridors",
                "showlegend": index == 0,
            }
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
) -> Figure:
    """US and Mexican states in one North America projection; grey = no published figure.

    `missing` may say, per country, why a grey state has no figure (e.g. no traces that year).
    """
    traces: list[dict[str, Any]] = []
    for layer, country, title, y in ((us, "US", us_title, 0.76), (mx, "MX", mx_title, 0.26)):
        traces += _country_traces(
            layer,
            country=country,
            geojson=geojson_urls[country],
            title=title,
            colourbar_y=y,
            missing_text=(missing or {}).get(country, _(MISSING_TEXT)),
        )
    if corridors is not None and not corridors.empty:
        traces += corridor_traces(corridors, sources or {})
    for layer, country in ((us, "US"), (mx, "MX")):
        labels = _labels(layer, country)
        if labels is not None:
            traces.append(labels)
    figure = {"data": traces, "layout": _map_layout()}
    return for_narrow_screens(figure, *_narrow_map(traces))


def _map_layout() -> dict[str, Any]:
    """The map's layout: one North America projection, the same for every view."""
    return {
        "template": default_template(),
        "geo": {
            "scope": "north america",
            "projection": {"type": "albers", "parallels": [20, 45], "rotation": {"lon": -97}},
            "lonaxis": {"range": [-125, -67]},
            "lataxis": {"range": [14.3, 49.6]},
            "showland": True,
            "landcolor": "#f4f3ef",
            "showocean": True,
            "oceancolor": "#eef3f7",
            "showlakes": False,
            "showcountries": True,
            "countrycolor": "#8a8a8a",
            "countrywidth": 0.8,
            "showcoastlines": True,
            "coastlinecolor": "#9a9a9a",
            "showsubunits": False,
            "showframe": False,
            "bgcolor": "rgba(0,0,0,0)",
        },
        "margin": {"l": 0, "r": 0, "t": 8, "b": 0},
        "font": dict(FONT),
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": 0,
            "yanchor": "bottom",
            "bgcolor": "rgba(255,255,255,0.8)",
        },
        "paper_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": {"bgcolor": "#ffffff", "font": {"size": 13}},
        "uirevision": "map",
    }


# On a phone the colour bars beside the map would leave it a thumbnail: the map takes the full
# width at the top, the two bars lie side by side under it and the corridor legend under them.
NARROW_MAP_LAYOUT: dict[str, Any] = {
    "geo": {"domain": {"x": [0, 1], "y": [0.27, 1]}},
    "legend": {"y": 0, "yanchor": "bottom", "font": {"size": 11}},
    "hoverlabel": {"font": {"size": 12}},
    "margin": {"t": 36},  # a touch screen always shows the modebar: not over the map
}


def _narrow_map(
    data: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    traces: dict[int, dict[str, Any]] = {}
    bars = [
        i
        for i, t in enumerate(data)
        if t["type"] == "choropleth" and t.get("showscale") is not False
    ]
    for position, index in enumerate(bars):
        title = data[index].get("colorbar", {}).get("title", {}).get("text") or ""
        traces[index] = {
            "colorbar": {
                "orientation": "h",
                "x": 0.52 * position,
                "xanchor": "left",
                "y": 0.1,
                "yanchor": "bottom",
                "len": 0.46,
                "thickness": 10,
                # Half a phone's width each: a long title (Spanish ones are) takes two lines.
                "title": {"text": wrap(title, 30), "side": "top", "font": {"size": 11}},
                "tickfont": {"size": 10},
            }
        }
    for index, trace in enumerate(data):
        name = str(trace.get("name"))
        # Added to what a trace already changes (a choropleth's colour bar), never replacing it.
        if trace.get("showlegend") is not False and " → " in name and len(name) > 40:
            # The corridor legend entry, in two lines.
            traces.setdefault(index, {})["name"] = name.replace(" → ", " →<br>")
        if trace.get("name") == "labels":
            # Smaller value labels: at phone width neighbouring states' labels would overlap.
            traces.setdefault(index, {})["textfont"] = {"size": 9}
    return NARROW_MAP_LAYOUT, traces


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
    no_denominator, no_rate, denominator_word = _("no denominator"), _("no rate"), _("denominator")
    derived_from, count_word = _("DERIVED from {status}"), _("Count")
    denominators = [
        no_denominator if pd.isna(d) else f"{format_number(d)} {_(u)} ({int(y)})"
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
                f"{format_rate(r)} {_(u)} (DERIVED)" if pd.notna(r) else no_rate
                for r, u in zip(rows["rate"], rows["rate_unit"], strict=True)
            ],
            "period": periods.to_numpy(),
            # A rate of UNVERIFIED or SYNTHETIC counts keeps saying so.
            "status": [
                "DERIVED" if c == "VERIFIED" else derived_from.format(status=status_text(c))
                for c in rows["count_status"]
            ],
            "source": [
                f"{sources.get(s, s)} [{s}]"
                + (f"; {denominator_word}: {sources.get(d, d)} [{d}]" if isinstance(d, str) else "")
                for s, d in zip(rows["source_id"], rows["denominator_source_id"], strict=True)
            ],
            "note": [
                f"{count_word}: {c}; {denominator_word}: {d}. {translated(n)}"
                for c, d, n in zip(counts, denominators, rows["rate_note"], strict=True)
            ],
            "source_id": rows["source_id"].to_numpy(),
            "count": counts,
            "denominator": denominators,
        }
    )
    layer = layer.iloc[layer["value"].isna().to_numpy().argsort(kind="stable")]
    return layer.drop_duplicates("code").reset_index(drop=True)
