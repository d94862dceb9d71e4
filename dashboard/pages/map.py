"""Home: US states and Mexico's 32 states on one North America map, with the corridors between."""

import re
from dataclasses import dataclass
from typing import Any

import dash
import pandas as pd
from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard import components, figures
from dashboard.data import AppData, current, memoized_view
from db import queries
from db.datasets import Filters
from db.viewstate import ViewState, from_callback, parse, shown

dash.register_page(__name__, path="/", title="Iron River · Map", name="Map", order=0)

# Every geo graph reads plotly's base topojson from our assets, never from a CDN.
GRAPH_CONFIG = components.graph_config(
    topojsonURL="/assets/topojson/",
    scrollZoom=False,
    modeBarButtonsToRemove=["select2d", "lasso2d"],
)
COUNTRY_NAMES = {"US": "United States", "MX": "Mexico"}
# Which dataset a country's default comes from; other datasets with state figures are options.
PRIMARY = {"US": "source-states", "MX": "recovery-states"}
SHORT_TITLES = {
    "source-states": "US source states",
    "us-supply-context": "Licensed dealers",
    "recovery-states": "Seizures by Mexican state",
}
MEASURES = {
    "count": "Count",
    "share": "Share of the period's total",
    "per_100k": "Per 100,000 residents a year (DERIVED)",
    "per_100_dealers": "Per 100 licensed dealers a year (DERIVED; 8 US states)",
}
RATE_MEASURES = ("per_100k", "per_100_dealers")
OVERLAY = "corridors"


@dataclass(frozen=True)
class Series:
    """One choice of what colours a country: a published series or one loaded trace file."""

    key: str
    country: str
    dataset: str
    label: str
    release: str | None = None
    period: str | None = None
    years: tuple[int, ...] = ()
    units: tuple[str, ...] = ()
    synthetic: bool = False

    @property
    def annual(self) -> bool:
        return bool(self.years)

    def filters(self, measure: str, year: int | None) -> Filters:
        """Exactly the filters the chart and its download use."""
        if self.annual:
            rate = measure if measure in RATE_MEASURES else None
            return Filters(release=self.release, year=year, measure=rate)
        return Filters(release=self.release, period=self.period, measure=measure)

    def has(self, measure: str) -> bool:
        if self.annual:
            return True
        if measure in RATE_MEASURES:
            return "firearms" in self.units
        percent = "percent" in self.units
        return percent if measure == "share" else any(u != "percent" for u in self.units)


def slug(text: object) -> str:
    """A stable, readable URL token: "ATF NFCTA Vol IV" -> "atf-nfcta-vol-iv"."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:60] or "x"


def catalogue(data: AppData) -> dict[str, Series]:
    """Every series the map can draw, keyed by its URL token, defaults first per country."""
    rows = data.cached("map_series", lambda: queries.map_series(data.engine))
    rows = rows[rows["dataset"] != OVERLAY]
    found: dict[str, Series] = {}
    ranked: list[tuple[Any, ...]] = []
    for (dataset, release, period), group in rows.groupby(
        ["dataset", "release", "period"], sort=False, dropna=False
    ):
        country = "US" if (group["geo_level"] == "us_state").any() else "MX"
        units = tuple(sorted(set(group["unit"])))
        what = " & ".join(
            ["counts"] * any(u != "percent" for u in units) + ["shares"] * ("percent" in units)
        )
        unverified = " · UNVERIFIED" if group["unverified"].sum() else ""
        key = f"{dataset}.{slug(release)}.{slug(period)}"
        label = (
            f"{SHORT_TITLES.get(str(dataset), dataset)}: {period} · {release} "
            f"({int(group['states'].max())} states, {what}){unverified}"
        )
        found[key] = Series(key, country, str(dataset), label, release, period, units=units)
        end = group["year_end"].max()
        ranked.append(
            (
                country,
                dataset != PRIMARY[country],
                -(0 if pd.isna(end) else end),
                -int(group["states"].max()),
                key,
            )
        )
    ordered = {item[-1]: found[item[-1]] for item in sorted(ranked)}
    files = data.cached("trace_files", lambda: queries.trace_files(data.engine))
    years = data.cached("trace_file_years", lambda: queries.trace_file_years(data.engine))
    for file in files.itertuples(index=False):
        file_years = tuple(int(y) for y in years.loc[years["trace_file_id"] == file.id, "year"])
        tag = " · SYNTHETIC" if file.synthetic else ""
        span = f"{file_years[0]}–{file_years[-1]}" if file_years else "no years"
        for country, dataset, what in (
            ("US", "traces-by-source-state", "by US source state"),
            ("MX", "traces-by-recovery-state", "by Mexican recovery state"),
        ):
            key = f"traces.{file.checksum[:12]}"
            ordered[f"{country}:{key}"] = Series(
                key,
                country,
                dataset,
                f"Loaded trace file {file.file_name} {what}, {span}, annual{tag}",
                release=file.checksum[:12],
                years=file_years,
                synthetic=bool(file.synthetic),
            )
    return ordered


def _for_country(series: dict[str, Series], country: str) -> dict[str, Series]:
    return {s.key: s for s in series.values() if s.country == country}


def _pick(
    options: dict[str, Series], wanted: str | None, problems: list[str], name: str
) -> Series | None:
    if wanted in options:
        return options[wanted]
    if wanted is not None:
        problems.append(f"{name}={shown(wanted)} is not a series on this map; showing the default")
    return next(iter(options.values()), None)


def _years(*sides: Series | None) -> list[int]:
    return sorted({y for side in sides if side is not None for y in side.years})


def _resolve_year(year: float | None, *sides: Series | None) -> int | None:
    """The year to show: the one asked if the files span it (even with no traces), else the last."""
    years = _years(*sides)
    if not years:
        return None
    if year is not None and years[0] <= round(year) <= years[-1]:
        return round(year)
    return years[-1]


def search_string(us: Series | None, mx: Series | None, measure: str, year: int | None) -> str:
    return ViewState(
        us=us.key if us else None,
        mx=mx.key if mx else None,
        measure=measure,
        year=year if year is not None and _years(us, mx) else None,
    ).query_string()


# ---------------------------------------------------------------------------- the view


@dataclass
class Side:
    series: Series | None
    rows: pd.DataFrame
    layer: pd.DataFrame
    filters: Filters


def _side(
    data: AppData,
    series: Series | None,
    country: str,
    measure: str,
    year: int | None,
    labels: dict[str, str],
) -> Side:
    if series is None:
        empty = pd.DataFrame(columns=figures.LAYER_COLUMNS)
        return Side(None, empty, empty, Filters())
    if measure == "share" and not series.has("share"):
        # No published share: colour by a DERIVED share of the series' own total, labelled so;
        # the download is the published counts it is computed from.
        filters = series.filters("count", None)
        rows = data.dataset(series.dataset, filters)
        counts = figures.map_layer(rows, country=country, measure="count", sources=labels)
        return Side(series, rows, figures.derived_share(counts), filters)
    filters = series.filters(measure, year if series.annual else None)
    rows = data.dataset(series.dataset, filters)
    if measure in RATE_MEASURES:
        layer = figures.rate_layer(rows, country=country, sources=labels)
    else:
        layer = figures.map_layer(rows, country=country, measure=measure, sources=labels)
    return Side(series, rows, layer, filters)


def _unit_title(side: Side, measure: str) -> str:
    if side.series is None:
        return ""
    name = SHORT_TITLES.get(side.series.dataset, "Loaded traces")
    if measure == "share" and not side.series.has("share"):
        return f"{name}<br>% of the series' total<br>(DERIVED)"
    if measure == "share":
        return f"{name}<br>% share"
    if measure in RATE_MEASURES:
        per = (
            "per 100,000<br>residents a year"
            if measure == "per_100k"
            else "per 100<br>dealers a year"
        )
        return f"{name}<br>{per}<br>(DERIVED)"
    units = [u for u in side.series.units if u != "percent"] or ["firearms"]
    return f"{name}<br>{figures.UNIT_WORDS.get(units[0], units[0])}"


def _summary_text(side: Side, country: str, measure: str) -> str:
    if side.series is None:
        return f"{COUNTRY_NAMES[country]}: no series to show."
    total = len(figures.all_codes(country))
    ranked = figures.drawn(side.layer).sort_values("value", ascending=False)
    top = ", ".join(f"{r.name} {r.text}" for r in ranked.head(5).itertuples(index=False))
    more = f" and {len(ranked) - 5} more" if len(ranked) > 5 else ""
    missing = total - len(ranked)
    label = side.series.label
    if ranked.empty and side.series.annual:
        return f"{COUNTRY_NAMES[country]}, {label}: no traces in {side.filters.year} in this file."
    if ranked.empty and measure in RATE_MEASURES:
        return f"{COUNTRY_NAMES[country]}, {label}: no state has both a count and a denominator."
    if ranked.empty:
        kind = "share" if measure == "share" else "count"
        return f"{COUNTRY_NAMES[country]}, {label}: no published {kind} for any state."
    if measure in RATE_MEASURES:
        return _leaders_text(side, country, ranked)
    lacking = (
        f"no traces in {side.filters.year} in this file"
        if side.series.annual
        else "no published figure in this series"
    )
    return f"{COUNTRY_NAMES[country]}, {label}: {top}{more}. {missing} of {total} states have {lacking}."


def _leaders_text(side: Side, country: str, ranked: pd.DataFrame) -> str:
    """Rates never hide counts: the leaders by rate and by count, in words."""
    by_count = ranked.assign(
        number=pd.to_numeric(ranked["count"].str.replace(r"[^0-9.]", "", regex=True))
    ).sort_values("number", ascending=False)
    rate_leaders = ", ".join(f"{r.name} {r.text}" for r in ranked.head(3).itertuples(index=False))
    count_leaders = ", ".join(
        f"{r.name} {r.count}" for r in by_count.head(3).itertuples(index=False)
    )
    first_rate, first_count = ranked["name"].iloc[0], by_count["name"].iloc[0]
    lead = (
        f"{first_rate} leads both by rate and by count"
        if first_rate == first_count
        else f"{first_rate} leads by rate, {first_count} by count"
    )
    layer = side.layer
    counted = layer["count"] != figures.format_value(None, "firearms")
    missing = int((layer["value"].isna() & counted).sum())
    lacking = f" {missing} states with a count have no denominator, so no rate." if missing else ""
    return (
        f"{COUNTRY_NAMES[country]}, {side.series.label if side.series else ''}: {lead}. "
        f"By rate: {rate_leaders}. By count: {count_leaders}.{lacking}"
    )


def _not_drawn(side: Side) -> html.Div | None:
    """Figures of the series that are not single states (groups, municipalities), listed."""
    rows = side.rows
    if rows.empty or "geo_level" not in rows:
        return None
    level = "us_state" if side.series and side.series.country == "US" else "mx_state"
    other = rows[rows["geo_level"] != level]
    if other.empty:
        return None
    items = [
        html.Li(
            f"{r.geo_name}: "
            f"{figures.with_category(figures.format_value(r.value, r.unit, r.value_qualifier), r.category)} "
            f"({r.period}; {figures.status_text(r.status)})"
            + (f". Note: {r.note}" if r.note else "")
        )
        for r in other.itertuples(index=False)
    ]
    return html.Div(
        [html.P("Also in this series, not drawn on the map (not a single state):"), html.Ul(items)],
        className="not-drawn",
    )


def _side_footer(side: Side, country: str, measure: str, sources: pd.DataFrame) -> html.Div:
    if side.series is None:
        return components.notice(f"No series available for {COUNTRY_NAMES[country]}.")
    parts: list[Any] = [
        html.H3(
            [COUNTRY_NAMES[country], ": ", side.series.label],
            className="series-title",
        )
    ]
    if measure == "share" and not side.series.has("share"):
        parts.append(
            components.notice(
                "This series publishes counts, not shares: the colours are DERIVED shares, each "
                "state's count divided by the total of the states in this series. The download "
                "gives the published counts.",
                "info",
            )
        )
    elif measure in RATE_MEASURES and side.series.has(measure):
        parts.append(
            components.notice(
                "Rates are DERIVED: each state's count divided by the years it covers and by its "
                "2020 census population (or, for 8 US states, its licensed dealers in Nov 2020), "
                "never estimated where no denominator is published. The hover, the table and the "
                "download give the count, the denominator, its year and both sources.",
                "info",
            )
        )
    elif not side.series.has(measure):
        parts.append(
            components.notice(
                f"This series publishes no count; its states are shown grey. Switch the measure "
                f"to “{MEASURES['share']}”.",
                "warning",
            )
        )
    elif figures.drawn(side.layer).empty and side.series.annual:
        parts.append(
            components.notice(f"No traces in {side.filters.year} in this file.", "warning")
        )
    elif figures.drawn(side.layer).empty:
        parts.append(components.notice("No figure for any state in this selection.", "warning"))
    parts.append(
        components.chart_footer(
            side.rows, sources, side.series.dataset, side.filters, f"{COUNTRY_NAMES[country]} layer"
        )
    )
    extra = _not_drawn(side)
    if extra is not None:
        parts.append(extra)
    return html.Div(parts, className=f"side side-{country.lower()}")


def _corridors(
    data: AppData, us: Series | None, mx: Series | None, measure: str
) -> tuple[pd.DataFrame, Filters | None]:
    """The corridors of the same release and period as a drawn series, if the dataset has them."""
    for side in (us, mx):
        if side is None or side.annual:
            continue
        # Corridor lines are drawn as counts under a rate: a line has no population.
        shown_as = "count" if measure in RATE_MEASURES else measure
        filters = Filters(release=side.release, period=side.period, measure=shown_as)
        rows = data.dataset(OVERLAY, filters)
        if not rows.empty:
            return rows, filters
    return pd.DataFrame(), None


def _state_table(side: Side, country: str) -> html.Div | None:
    frame = figures.drawn(side.layer).sort_values("value", ascending=False)
    if frame.empty:
        return None
    frame["state"] = [
        dcc.Link(name, href=f"/trends?state={code}")
        for name, code in zip(frame["name"], frame["code"], strict=True)
    ]
    # A source id is shown only as the label of the link to its entry.
    frame["source"] = [
        html.Span(
            [text.removesuffix(f" [{sid}]"), " [", dcc.Link(sid, href=f"/sources#{sid}"), "]"]
        )
        if sid
        else text
        for text, sid in zip(frame["source"], frame["source_id"], strict=True)
    ]
    rate = ["count", "denominator"] if "denominator" in frame else []
    return components.table(
        frame,
        [
            ("state", "State"),
            ("text", "Figure"),
            *((column, column.capitalize()) for column in rate),
            ("period", "Period"),
            ("status", "Status"),
            ("note", "Note"),
            ("source", "Source"),
        ],
        caption=f"{COUNTRY_NAMES[country]}: states with a figure (each links to its trend)",
    )


@memoized_view("map")
def build_view(
    data: AppData, us: Series | None, mx: Series | None, measure: str, year: int | None
) -> dict[str, Any]:
    """Everything the map shows for one URL; the layout and the callback both call this."""
    sources = data.dataset("sources")
    labels = components.source_labels(sources)
    year = _resolve_year(year, us, mx)
    us_side = _side(data, us, "US", measure, year, labels)
    mx_side = _side(data, mx, "MX", measure, year, labels)
    corridor_rows, corridor_filters = _corridors(data, us, mx, measure)
    figure = figures.map_figure(
        us_side.layer,
        mx_side.layer,
        us_title=_unit_title(us_side, measure),
        mx_title=_unit_title(mx_side, measure),
        geojson_urls=figures.geojson_urls(),
        corridors=corridor_rows,
        sources=labels,
        missing={
            side.series.country: f"No traces in {year} in this file"
            for side in (us_side, mx_side)
            if side.series is not None and side.series.annual
        },
    )
    corridor_footer: Any = None
    if corridor_filters is not None:
        corridor_footer = html.Div(
            [
                html.H3(
                    f"Corridors: {corridor_filters.period} · {corridor_filters.release}",
                    className="series-title",
                ),
                components.chart_footer(
                    corridor_rows, sources, OVERLAY, corridor_filters, "corridor lines"
                ),
            ],
            className="side side-corridors",
        )
    summary = " ".join(
        [_summary_text(us_side, "US", measure), _summary_text(mx_side, "MX", measure)]
    )
    if corridor_filters is not None:
        summary += f" Lines: {len(corridor_rows)} corridors from the same release."
    tables = [t for t in (_state_table(us_side, "US"), _state_table(mx_side, "MX")) if t]
    return {
        "figure": figure,
        "summary": summary,
        "us_footer": _side_footer(us_side, "US", measure, sources),
        "mx_footer": _side_footer(mx_side, "MX", measure, sources),
        "corridor_footer": corridor_footer,
        "tables": tables or [html.P("No state has a figure in this view.")],
        "search": search_string(us, mx, measure, year),
        "year": year,
        "years": _years(us, mx),
    }


def _slider_props(years: list[int], year: int | None) -> dict[str, Any]:
    if not years:
        return {"min": 0, "max": 0, "marks": {}, "value": None, "style": {"display": "none"}}
    return {
        "min": years[0],
        "max": years[-1],
        "marks": {y: str(y) for y in years},
        "value": year,
        "style": {},
    }


# ---------------------------------------------------------------------------- layout


def _series_control(
    country: str, label: str, options: dict[str, Series], chosen: Series | None
) -> html.Div:
    """The series dropdown of one country (`country` is the id suffix: us or mx)."""
    return html.Div(
        [
            html.Label(label, htmlFor=f"map-{country}", id=f"map-{country}-label"),
            dcc.Dropdown(
                id=f"map-{country}",
                options=[{"label": s.label, "value": k} for k, s in options.items()],
                value=chosen.key if chosen else None,
                clearable=False,
                searchable=False,
            ),
        ],
        className="control control-wide",
    )


def layout(**query: object) -> html.Div:
    data = current()
    parsed = parse(query, allowed=("us", "mx", "measure", "year"))
    problems = list(parsed.problems)
    series = catalogue(data)
    us_options, mx_options = _for_country(series, "US"), _for_country(series, "MX")
    us_series = _pick(us_options, parsed.state.us, problems, "us")
    mx_series = _pick(mx_options, parsed.state.mx, problems, "mx")
    measure = parsed.state.measure
    if measure not in (None, *MEASURES):
        problems.append(f"measure={shown(measure)} is not one of {', '.join(MEASURES)}")
    measure = measure if measure in MEASURES else "count"
    view = build_view(data, us_series, mx_series, str(measure), parsed.state.year)
    slider = _slider_props(view["years"], view["year"])
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1("Where traced guns come from, and where guns are seized"),
            html.P(
                "US states coloured by a published series of traced firearms' US source state; "
                "Mexican states by a published series of seizures (or both by a loaded trace file). "
                "Each series comes from one release only; grey means no published figure. "
                "Click a state, or use the table below, to open its trend.",
                className="lede",
            ),
            html.Section(
                [
                    _series_control("us", "US states", us_options, us_series),
                    _series_control("mx", "Mexican states", mx_options, mx_series),
                    html.Fieldset(
                        [
                            html.Legend("Measure"),
                            dcc.RadioItems(
                                id="map-measure",
                                options=[{"label": v, "value": k} for k, v in MEASURES.items()],
                                value=measure,
                                inline=True,
                                className="radio",
                            ),
                        ],
                        className="control",
                    ),
                    html.Div(
                        [
                            html.Label("Year (loaded trace files are annual)", htmlFor="map-year"),
                            html.Div(
                                [
                                    html.Button(
                                        "▶ Play",
                                        id="map-play",
                                        n_clicks=0,
                                        className="button",
                                        **{"aria-pressed": "false"},
                                    ),
                                    html.Div(
                                        dcc.Slider(
                                            id="map-year",
                                            min=slider["min"],
                                            max=slider["max"],
                                            marks=slider["marks"],
                                            value=slider["value"],
                                            step=1,
                                            included=False,
                                        ),
                                        className="slider",
                                    ),
                                ],
                                className="year-row",
                            ),
                            dcc.Interval(id="map-interval", interval=1400, disabled=True),
                        ],
                        id="map-year-box",
                        className="control control-wide",
                        style=slider["style"],
                    ),
                ],
                className="controls",
                **{"aria-label": "Map controls"},
            ),
            html.Figure(
                [
                    dcc.Graph(
                        id="map-graph",
                        figure=view["figure"],
                        config=GRAPH_CONFIG,
                        className="map-graph",
                        responsive=True,
                        style={"height": "min(680px, 80vh)", "minHeight": "460px"},
                    ),
                    html.Figcaption(
                        [
                            html.Span(className="swatch swatch-none"),
                            " grey: no published figure (never zero). Alaska, Hawaii and Puerto "
                            "Rico are outside this view; their figures are in the table and the "
                            "downloads.",
                        ],
                        className="map-legend",
                    ),
                    components.summary(view["summary"], id="map-summary"),
                ],
                className="chart",
            ),
            html.Div(
                [
                    html.Div(view["us_footer"], id="map-us-footer"),
                    html.Div(view["mx_footer"], id="map-mx-footer"),
                    html.Div(view["corridor_footer"], id="map-corridor-footer"),
                ],
                className="footers",
            ),
            html.Details(
                [
                    html.Summary("Table of the figures on this map"),
                    html.Div(view["tables"], id="map-tables"),
                ],
                className="table-details",
            ),
            components.chart_links("map", view["search"]),
            components.copy_link("map", view["search"]),
            dcc.Store(id="map-search", data=view["search"]),
        ],
        className="page page-map",
    )


# ---------------------------------------------------------------------------- callbacks


@dash.callback(
    Output("map-year", "min"),
    Output("map-year", "max"),
    Output("map-year", "marks"),
    Output("map-year", "value"),
    Output("map-year-box", "style"),
    Input("map-us", "value"),
    Input("map-mx", "value"),
    State("map-year", "value"),
    prevent_initial_call=True,
)
def update_slider(us: object, mx: object, year: object) -> tuple[Any, ...]:
    chosen = from_callback(us=us, mx=mx, year=year)
    series = catalogue(current())
    us_series = _for_country(series, "US").get(chosen.us or "")
    mx_series = _for_country(series, "MX").get(chosen.mx or "")
    years = _years(us_series, mx_series)
    props = _slider_props(years, _resolve_year(chosen.year, us_series, mx_series))
    return props["min"], props["max"], props["marks"], props["value"], props["style"]


@dash.callback(
    Output("map-graph", "figure"),
    Output("map-summary", "children"),
    Output("map-us-footer", "children"),
    Output("map-mx-footer", "children"),
    Output("map-corridor-footer", "children"),
    Output("map-tables", "children"),
    Output("map-search", "data"),
    Input("map-us", "value"),
    Input("map-mx", "value"),
    Input("map-measure", "value"),
    Input("map-year", "value"),
    prevent_initial_call=True,
)
def update_map(us: object, mx: object, measure: object, year: object) -> tuple[Any, ...]:
    chosen = from_callback(us=us, mx=mx, measure=measure, year=year)
    data = current()
    series = catalogue(data)
    view = build_view(
        data,
        _for_country(series, "US").get(chosen.us or ""),
        _for_country(series, "MX").get(chosen.mx or ""),
        chosen.measure if chosen.measure in MEASURES else "count",
        chosen.year,
    )
    return (
        view["figure"],
        view["summary"],
        view["us_footer"],
        view["mx_footer"],
        view["corridor_footer"],
        view["tables"],
        view["search"],
    )


# A click on a state opens its trend; runs in the browser, so it costs no round trip.
dash.clientside_callback(
    ClientsideFunction("ironriver", "openStateTrend"),
    Output("url", "href", allow_duplicate=True),
    Input("map-graph", "clickData"),
    prevent_initial_call=True,
)

# Play steps the year slider through the file's years, then stops at the last one.
dash.clientside_callback(
    ClientsideFunction("ironriver", "togglePlay"),
    Output("map-interval", "disabled"),
    Output("map-play", "children"),
    Output("map-play", "aria-pressed"),
    Input("map-play", "n_clicks"),
    State("map-interval", "disabled"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("ironriver", "stepYear"),
    Output("map-year", "value", allow_duplicate=True),
    Output("map-interval", "disabled", allow_duplicate=True),
    Output("map-play", "children", allow_duplicate=True),
    Output("map-play", "aria-pressed", allow_duplicate=True),
    Input("map-interval", "n_intervals"),
    State("map-year", "marks"),
    State("map-year", "value"),
    prevent_initial_call=True,
)

components.register_url_sync("map")
