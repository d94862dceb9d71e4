"""Home: US states and Mexico's 32 states on one North America map, with the corridors between."""

from functools import cache
from typing import Any

import dash
import pandas as pd
from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard import components, figures, i18n, text
from dashboard.data import current
from dashboard.i18n import N_, _
from dashboard.site import PAGE_PATH, page_language, register_page
from dashboard.views import shown
from dashboard.views.map import (
    COUNTRY_NAMES,
    MEASURES,
    RATE_MEASURES,
    MapView,
    Series,
    Side,
    build_view,
    catalogue,
    for_country,
    state_from_controls,
    state_from_url,
    years_of,
)
from db.vocabulary import GEO_LEVELS, STATE_LEVELS, label
from geo.states import mx_state_code, normalize_name, us_state_code

register_page(__name__, path="/", title=N_("Iron River · Map"), name=N_("Map"), order=0)

# Every geo graph reads plotly's base topojson from our assets, never from a CDN.
GRAPH_CONFIG = components.graph_config(
    topojsonURL="/assets/topojson/",
    scrollZoom=False,
    modeBarButtonsToRemove=["select2d", "lasso2d"],
)


def _not_drawn(side: Side) -> html.Div | None:
    """Figures of the series that are not single states (groups, municipalities), listed."""
    rows = side.rows
    if rows.empty or "geo_level" not in rows:
        return None
    level = STATE_LEVELS["US" if side.series and side.series.country == "US" else "MX"]
    other = rows[rows["geo_level"] != level]
    if other.empty:
        return None
    note_word = _("Note")
    items = [
        html.Li(
            f"{r.geo_name}: "
            f"{text.with_category(text.format_value(r.value, r.unit, r.value_qualifier), r.category)} "
            f"({r.period}; {text.status_text(r.status)})"
            + (f". {note_word}: {r.note}" if r.note else "")
        )
        for r in other.itertuples(index=False)
    ]
    return html.Div(
        [
            html.P(_("Also in this series, not drawn on the map (not a single state):")),
            html.Ul(items),
        ],
        className="not-drawn",
    )


SHARE_LABEL = MEASURES["share"]


def _side_footer(side: Side, country: str, measure: str, sources: pd.DataFrame) -> html.Div:
    if side.series is None:
        return components.notice(
            _("No series available for {country}.").format(country=_(COUNTRY_NAMES[country]))
        )
    parts: list[Any] = [
        html.H2(
            [_(COUNTRY_NAMES[country]), ": ", side.series.label],
            className="series-title",
        )
    ]
    if measure == "share" and not side.series.has("share"):
        parts.append(
            components.notice(
                _(
                    "This series publishes counts, not shares: the colours are DERIVED shares, "
                    "each state's count divided by the total of the states in this series. The "
                    "download gives the published counts."
                ),
                "info",
            )
        )
    elif measure in RATE_MEASURES and side.series.has(measure):
        parts.append(
            components.notice(
                _(
                    "Rates are DERIVED: each state's count divided by the years it covers and by "
                    "its 2020 census population (or, for 8 US states, its licensed dealers in Nov "
                    "2020), never estimated where no denominator is published. The hover, the "
                    "table and the download give the count, the denominator, its year and both "
                    "sources."
                ),
                "info",
            )
        )
    elif not side.series.has(measure):
        parts.append(
            components.notice(
                _(
                    "This series publishes no count; its states are shown grey. Switch the "
                    "measure to “{measure}”."
                ).format(measure=_(SHARE_LABEL)),
                "warning",
            )
        )
    elif figures.drawn(side.layer).empty and side.series.annual:
        parts.append(
            components.notice(
                _("No traces in {year} in this file.").format(year=side.year), "warning"
            )
        )
    elif figures.drawn(side.layer).empty:
        parts.append(components.notice(_("No figure for any state in this selection."), "warning"))
    parts.append(components.chart_footer(side.chart, sources))
    extra = _not_drawn(side)
    if extra is not None:
        parts.append(extra)
    return html.Div(parts, className=f"side side-{country.lower()}")


def _state_table(side: Side, country: str) -> html.Div | None:
    frame = figures.drawn(side.layer).sort_values("value", ascending=False)
    if frame.empty:
        return None
    frame["state"] = [
        dcc.Link(name, href=i18n.localised(f"/trends?state={code}"))
        for name, code in zip(frame["name"], frame["code"], strict=True)
    ]
    # A source id is shown only as the label of the link to its entry.
    frame["source"] = [
        html.Span(
            [
                text.removesuffix(f" [{sid}]"),
                " [",
                dcc.Link(sid, href=i18n.localised(f"/sources#{sid}")),
                "]",
            ]
        )
        if sid
        else text
        for text, sid in zip(frame["source"], frame["source_id"], strict=True)
    ]
    rate = [("count", _("Count")), ("denominator", _("Denominator"))]
    return components.table(
        frame,
        [
            ("state", _("State")),
            ("text", _("Figure")),
            *(rate if "denominator" in frame else []),
            ("period", _("Period")),
            ("status", text.status_heading()),
            ("note", _("Note")),
            ("source", _("Source")),
        ],
        caption=_("{country}: states with a figure (each links to its trend)").format(
            country=_(COUNTRY_NAMES[country])
        ),
    )


def render(view: MapView) -> list[Any]:
    """The page's changing part for one view: what the layout and the callback both return."""
    corridor_footer: Any = None
    if view.corridors is not None:
        filters = view.corridors.selection.filters
        corridor_footer = html.Div(
            [
                html.H2(
                    _("Corridors: {period} · {release}").format(
                        period=filters.period, release=filters.release
                    ),
                    className="series-title",
                ),
                components.chart_footer(view.corridors, view.sources),
            ],
            className="side side-corridors",
        )
    tables = [t for t in (_state_table(view.us, "US"), _state_table(view.mx, "MX")) if t]
    return [
        html.Figure(
            [
                dcc.Graph(
                    id="map-graph",
                    figure=view.figure,
                    config=components.in_language(GRAPH_CONFIG),
                    className="map-graph",
                    responsive=True,
                    style={"height": "min(680px, 80vh)", "minHeight": "460px"},
                ),
                # Filled by a tap on a touch or narrow screen (openStateTrend in ironriver.js).
                html.Div(
                    [
                        html.Span(
                            [
                                html.Strong(id="map-picked-name"),
                                ": ",
                                html.Span(id="map-picked-value"),
                            ]
                        ),
                        dcc.Link(
                            [_("Open trend for "), html.Span(id="map-picked-link-name")],
                            id="map-picked-open",
                            href=i18n.localised("/trends"),
                            className="button",
                        ),
                    ],
                    id="map-picked",
                    className="map-picked",
                    hidden=True,
                    **{"aria-live": "polite"},
                ),
                html.Figcaption(
                    [
                        html.Span(className="swatch swatch-none"),
                        _(
                            " grey: no published figure (never zero). Alaska, Hawaii and Puerto "
                            "Rico are outside this view; their figures are in the table and the "
                            "downloads."
                        ),
                    ],
                    className="map-legend",
                ),
                components.summary(view.summary, id="map-summary"),
            ],
            className="chart",
            **components.chart_name(
                "Map of US states and Mexican states, coloured by the chosen series",
                "map-summary",
            ),
        ),
        html.Div(
            [
                html.Div(
                    _side_footer(view.us, "US", view.measure, view.sources), id="map-us-footer"
                ),
                html.Div(
                    _side_footer(view.mx, "MX", view.measure, view.sources), id="map-mx-footer"
                ),
                html.Div(corridor_footer, id="map-corridor-footer"),
            ],
            className="footers",
        ),
        html.Details(
            [
                html.Summary(_("Table of the figures on this map")),
                html.Div(
                    tables or [html.P(_("No state has a figure in this view."))],
                    id="map-tables",
                    # Rendered once the maps are drawn (assets/ironriver.js): a closed <details>.
                    **{"data-deferred": "true"},
                ),
            ],
            className="table-details",
        ),
        dcc.Store(id="map-search", data=view.state.query_string()),
    ]


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


def _state_finder() -> html.Div:
    """Every state by name, with or without a figure: choosing one opens its trend, as a click on
    the map does, for readers who cannot point at the map."""
    names = text.state_names()
    # The vocabulary's words for each state's geographic level (US state, Mexican state).
    levels = {code: STATE_LEVELS["MX" if code.isdigit() else "US"] for code in names}
    return html.Div(
        [
            html.Label(_("Open a state's trend"), htmlFor="map-state-name"),
            html.Div(
                [
                    dcc.Input(
                        id="map-state-name",
                        type="text",
                        list="map-state-names",
                        autoComplete="off",
                        placeholder=_("Type a US or Mexican state"),
                        n_submit=0,
                        className="state-name",
                    ),
                    html.Button(
                        _("Open trend"), id="map-state-open", n_clicks=0, className="button"
                    ),
                ],
                className="state-row",
            ),
            html.Datalist(
                [
                    html.Option(value=names[code], label=_(label(GEO_LEVELS, levels[code])))
                    for code in sorted(names, key=lambda c: text.state_sort_key(names[c]))
                ],
                id="map-state-names",
                # Rendered once the maps are drawn (assets/ironriver.js): a datalist is unseen.
                **{"data-deferred": "true"},
            ),
            html.Span(id="map-state-status", className="copy-status", role="status"),
        ],
        className="control control-wide",
    )


def state_code_of(typed: object) -> str | None:
    """The state a reader typed or picked (a name in either language, an alias or a code), or
    None: a Spanish reader picks "Nuevo México" from the list, an English one "New Mexico"."""
    if not isinstance(typed, str) or not typed.strip():
        return None
    return (
        us_state_code(typed)
        or mx_state_code(typed)
        or _translated_names().get(normalize_name(typed))
    )


@cache
def _translated_names() -> dict[str, str]:
    """Each state's name in every language, folded for matching -> its code."""
    return {
        normalize_name(name): code
        for lang in i18n.LANGUAGES
        for code, name in text.state_names(lang).items()
    }


def _series_control(
    country: str, label: str, options: dict[str, Series], chosen: Series | None
) -> html.Div:
    """The series dropdown of one country (`country` is the id suffix: us or mx)."""
    return html.Div(
        [
            html.Label(label, htmlFor=f"map-{country}", id=f"map-{country}-label"),
            dcc.Dropdown(
                id=f"map-{country}",
                # Short values (option keys), labels as they read: the callbacks turn a value back
                # into the series' URL value (`state_from_controls`).
                options=[{"label": s.label, "value": s.option} for s in options.values()],
                value=chosen.option if chosen else None,
                clearable=False,
                searchable=False,
            ),
        ],
        className="control control-wide",
    )


def layout(**query: object) -> html.Div:
    data = current()
    state, problems = state_from_url(data, query)
    view, content = shown(data, "map", state, build_view, render)
    series = catalogue(data)
    us_options, mx_options = for_country(series, "US"), for_country(series, "MX")
    slider = _slider_props(list(view.years), view.state.year)
    return components.view_page(
        "map",
        data=data,
        problems=problems,
        heading=_("Where traced guns come from, and where guns are seized"),
        lede=_(
            "US states coloured by a published series of traced firearms' US source state; "
            "Mexican states by a published series of seizures (or both by a loaded trace file). "
            "Each series comes from one release only; grey means no published figure. "
            "Click a state, or use the table below, to open its trend."
        ),
        controls=[
            _series_control("us", _("US states"), us_options, view.us.series),
            _series_control("mx", _("Mexican states"), mx_options, view.mx.series),
            html.Fieldset(
                [
                    html.Legend(_("Measure")),
                    dcc.RadioItems(
                        id="map-measure",
                        options=[{"label": _(v), "value": k} for k, v in MEASURES.items()],
                        value=view.measure,
                        inline=True,
                        className="radio",
                    ),
                ],
                className="control",
            ),
            html.Div(
                [
                    html.Label(_("Year (loaded trace files are annual)"), htmlFor="map-year"),
                    html.Div(
                        [
                            html.Button(
                                _("▶ Play"),
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
                    # The page's words and prefix for the browser-side callbacks below.
                    dcc.Store(
                        id="map-locale",
                        data={
                            "play": _("▶ Play"),
                            "pause": _("❚❚ Pause"),
                            "prefix": i18n.PREFIXES[i18n.language()],
                        },
                    ),
                ],
                id="map-year-box",
                className="control control-wide",
                style=slider["style"],
            ),
            _state_finder(),
        ],
        controls_label=_("Map controls"),
        content=content,
        search=view.state.query_string(),
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
    # A series the data no longer has (a page opened before a new load) shows the default, as
    # its URL would; only malformed input is refused (`state_from_controls`).
    state, _ = state_from_controls(current(), us=us, mx=mx, year=year)
    series = catalogue(current())
    years = years_of(
        *(for_country(series, c).get(k or "") for c, k in (("US", state.us), ("MX", state.mx)))
    )
    props = _slider_props(years, state.year)
    return props["min"], props["max"], props["marks"], props["value"], props["style"]


@dash.callback(
    Output("map-view", "children"),
    Input("map-us", "value"),
    Input("map-mx", "value"),
    Input("map-measure", "value"),
    Input("map-year", "value"),
    PAGE_PATH,
    prevent_initial_call=True,
)
def update_map(
    us: object, mx: object, measure: object, year: object, pathname: object
) -> list[Any]:
    data = current()
    state, _ = state_from_controls(data, us=us, mx=mx, measure=measure, year=year)
    with i18n.use(page_language(pathname)):
        return shown(data, "map", state, build_view, render)[1]


@dash.callback(
    Output("url", "href", allow_duplicate=True),
    Output("map-state-status", "children"),
    Input("map-state-open", "n_clicks"),
    Input("map-state-name", "n_submit"),
    State("map-state-name", "value"),
    PAGE_PATH,
    prevent_initial_call=True,
)
def open_state(clicks: object, submits: object, typed: object, pathname: object) -> tuple[Any, Any]:
    # Dash Pages inserts the page with a callback, which fires this one once with no action.
    if not (clicks or submits):
        return dash.no_update, dash.no_update
    code = state_code_of(typed)
    lang = page_language(pathname)
    if code is None:
        with i18n.use(lang):
            return dash.no_update, _("No such state: choose one from the list.")
    return i18n.localised(f"/trends?state={code}", lang), ""


# A click on a state opens its trend; a tap on a touch or narrow screen first shows the value.
# Runs in the browser, so it costs no round trip.
dash.clientside_callback(
    ClientsideFunction("ironriver", "openStateTrend"),
    Output("url", "href", allow_duplicate=True),
    Output("map-picked", "hidden"),
    Output("map-picked-name", "children"),
    Output("map-picked-value", "children"),
    Output("map-picked-open", "href"),
    Output("map-picked-link-name", "children"),
    Output("map-graph", "clickData"),
    Input("map-graph", "clickData"),
    State("map-picked-open", "href"),
    State("map-locale", "data"),
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
    State("map-locale", "data"),
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
    State("map-locale", "data"),
    prevent_initial_call=True,
)

components.register_url_sync("map")
