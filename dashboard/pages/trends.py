"""Trends: traced firearms and the US-sourced share per year, one line per release, with events."""

import datetime as dt
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import components, figures
from dashboard.data import AppData, current, memoized_view
from db.datasets import Filters
from db.viewstate import InvalidInput, ViewState, from_callback, parse, window_inputs

dash.register_page(__name__, path="/trends", title="Iron River · Trends", name="Trends", order=1)

DEFAULT_KINDS = ("gc_armas", "bilateral_dialogue", "data_release")
# National trend: the measures that are annual counts of traced firearms or the US-sourced share.
NATIONAL_MEASURES = (
    "traced_firearms",
    "trace_requests",
    "us_sourced_pct",
    "us_sourced_of_successful_traces_pct",
)
# Rows about a state that are not source-state or seizure figures of that state (a transit claim,
# one seizure, a four-country total): listed in words, never drawn on the state's axes.
CONTEXT_PREFIXES = ("transit_", "single_seizure_", "four_country_")
EARLIEST, LATEST = 1980, dt.date.today().year + 1
GRAPH_CONFIG = components.graph_config(modeBarButtonsToRemove=["select2d", "lasso2d"])


def _state_label(code: str) -> str:
    return figures.state_names().get(code, code)


def _published_dataset(state: str | None) -> str:
    if state is None:
        return "trace-totals"
    return "recovery-states" if state.isdigit() else "source-states"


def _drawable(published: pd.DataFrame, state: str | None) -> pd.DataFrame:
    """Rows the time chart can place: national annual trends, or a state's own figures."""
    if published.empty:
        return published
    if state is None:
        return published[published["measure"].isin(NATIONAL_MEASURES)]
    return published[~published["measure"].str.startswith(CONTEXT_PREFIXES)]


def _context(published: pd.DataFrame) -> pd.DataFrame:
    """A state's rows that are not comparable with its trend (see CONTEXT_PREFIXES)."""
    if published.empty:
        return published
    return published[published["measure"].str.startswith(CONTEXT_PREFIXES)]


def _default_window(published: pd.DataFrame, traces: pd.DataFrame) -> tuple[int, int]:
    years = [*published["year_start"].dropna(), *published["year_end"].dropna()]
    years += list(traces["year"]) if not traces.empty else []
    if not years:
        return 2004, dt.date.today().year
    # Within the slider's years, whatever the database holds (a year 1 would make year 0).
    start = min(max(int(min(years)) - 1, EARLIEST), LATEST)
    return start, min(max(int(max(years)) + 1, dt.date.today().year, start), LATEST)


def _year_param(year: int | None, name: str, problems: list[str]) -> int | None:
    if year is None or EARLIEST <= year <= LATEST:
        return year
    problems.append(f"{name}={year} is outside the chart's years {EARLIEST} to {LATEST}")
    return None


def _kinds_param(
    wanted: tuple[str, ...] | None, known: list[str], problems: list[str]
) -> tuple[str, ...]:
    if wanted is None:
        return tuple(k for k in DEFAULT_KINDS if k in known)
    unknown = [k for k in wanted if k not in known]
    if unknown:
        problems.append(f"unknown event kind(s): {', '.join(unknown)}")
    return tuple(k for k in wanted if k in known)


def _state_param(code: str | None, problems: list[str]) -> str | None:
    if code is None or code in figures.state_names():
        return code
    problems.append(f"state={code} is not a USPS or INEGI state code")
    return None


def _known_kinds(data: AppData) -> list[str]:
    kinds = set(data.dataset("events")["kind"])
    return [k for k in figures.KIND_LABELS if k in kinds] + sorted(kinds - set(figures.KIND_LABELS))


def search_string(state: str | None, kinds: tuple[str, ...], window: tuple[int, int]) -> str:
    return ViewState(
        state=state, kinds=kinds, year_from=window[0], year_to=window[1]
    ).query_string()


def _fill_window(
    asked: tuple[int | None, int | None] | None, default: tuple[int, int]
) -> tuple[int, int]:
    """The window drawn: each end asked for is honoured, a missing end is the default's."""
    start, end = asked or (None, None)
    if start is None:
        start = default[0] if end is None else min(default[0], end)
    if end is None:
        end = max(default[1], start)
    return start, end


def _span(group: pd.DataFrame) -> str:
    """ "68.3%–76.8% (2007–2011)" or "41% (2009-2014, UNVERIFIED)" for one release's rows."""
    group = group.dropna(subset=["value"])
    low, high = (
        group.loc[group["value"].astype(float).idxmin()],
        group.loc[group["value"].astype(float).idxmax()],
    )
    values = figures.format_value(low.value, low.unit, low.value_qualifier)
    if len(group) > 1 and low.value != high.value:
        first = figures.QUALIFIER_PREFIX.get(str(low.value_qualifier), "")
        values = (
            f"{first}{figures.format_number(low.value)}–"
            f"{figures.format_value(high.value, high.unit, high.value_qualifier)}"
        )
    periods = sorted(
        f"{p} ({c} only)" if c else str(p)
        for p, c in zip(group["period"], group["category"].fillna(""), strict=True)
    )
    when = periods[0] if len(periods) == 1 else f"{periods[0]}–{periods[-1]}"
    flags = sorted(figures.status_text(s) for s in set(group["status"]) - {"VERIFIED"})
    return f"{values} ({when}{', ' + '/'.join(flags) if flags else ''})"


def _summary(published: pd.DataFrame, traces: pd.DataFrame, state: str | None) -> str:
    """One sentence per measure, one clause per release, so no vintages are merged in words."""
    where = _state_label(state) if state else "Mexico"
    parts = []
    if not published.empty:
        valued = published.dropna(subset=["value"])
        single = valued["year_start"] == valued["year_end"]
        counts = valued[(valued["unit"] != "percent") & single]
        totals = valued[(valued["unit"] != "percent") & ~single]
        shares = valued[valued["unit"] == "percent"]
        totals_label = (
            "totals over several years (in the table, not drawn)"
            if state is None
            else "totals over several years (drawn as bars across their years, not per year)"
        )
        groups = (
            ("counts of single years", counts),
            ("shares", shares),
            (totals_label, totals),
        )
        for label, rows in groups:
            clauses = [
                f"{release}: {_span(group)}"
                for release, group in rows.groupby("release", sort=False)
            ]
            if clauses:
                parts.append(f"{label[:1].upper()}{label[1:]} — {'; '.join(clauses)}.")
    if not traces.empty:
        parts.append(f"Loaded trace files: {int(traces['firearms'].sum()):,} traces.")
    if not parts:
        return f"{where}: no published figure in this view."
    return f"{where}. " + " ".join(parts)


def _context_text(context: pd.DataFrame, where: str) -> str | None:
    """Figures about a state that are not comparable with its trend, said in words."""
    if context.empty:
        return None
    items = "; ".join(
        f"{figures.measure_label(r.measure)}: "
        f"{figures.format_value(r.value, r.unit, r.value_qualifier)} ({r.period}, {r.release})"
        for r in context.itertuples(index=False)
    )
    return (
        f"Also about {where}, not drawn because it is not comparable with the lines above: {items}."
    )


def _figures_table(published: pd.DataFrame) -> html.Table | html.P:
    if published.empty:
        return html.P("No published figures in this view.")
    frame = published.copy()
    frame["figure"] = [
        figures.with_category(figures.format_value(v, u, q), c)
        for v, u, q, c in zip(
            frame["value"], frame["unit"], frame["value_qualifier"], frame["category"], strict=True
        )
    ]
    frame["what"] = frame["measure"].map(figures.measure_label)
    frame["status_cell"] = [components.status_badge(s) or s for s in frame["status"]]
    frame["source"] = [dcc.Link(s, href=f"/sources#{s}") for s in frame["source_id"]]
    return components.table(
        frame,
        [
            ("period", "Period"),
            ("what", "Measure"),
            ("figure", "Figure"),
            ("release", "Release"),
            ("status_cell", "Status"),
            ("note", "Note"),
            ("source", "Source"),
        ],
        caption="Every figure in this view, with its note",
    )


@memoized_view("trends")
def build_view(
    data: AppData,
    state: str | None,
    kinds: tuple[str, ...],
    window: tuple[int | None, int | None] | None,
) -> dict[str, Any]:
    """The chart, its text and its downloads for one URL; layout and callback both call this."""
    sources = data.dataset("sources")
    labels = components.source_labels(sources)
    published_name = _published_dataset(state)
    published_filters = Filters(state=state)
    published = data.dataset(published_name, published_filters)
    trace_filters = Filters(state=state)
    traces = data.dataset("traces-by-year", trace_filters)
    window = _fill_window(window, _default_window(_drawable(published, state), traces))
    event_filters = Filters(kinds=kinds, year_from=window[0], year_to=window[1])
    events = data.dataset("events", event_filters) if kinds else data.dataset("events").head(0)
    where = _state_label(state) if state else "Mexico (national)"
    count_title = (
        "Traced firearms per year"
        if state is None
        else f"{where}: counts (single years as points, multi-year totals as bars)"
    )
    share_title = (
        "US-sourced share (%): of guns submitted for tracing unless the line says otherwise"
        if state is None
        else f"{where}: shares (%)"
    )
    figure = figures.trends_figure(
        _drawable(published, state),
        traces,
        events,
        sources=labels,
        count_title=count_title,
        share_title=share_title,
        x_range=window,
        main_measures=("traced_firearms", "us_sourced_pct") if state is None else (),
        # A state's shares are shares of traces or seizures; the files' US-sourced share is not.
        trace_shares=state is None,
        # A state's figures are mostly multi-year totals: drawn as bars, so its trend is not empty.
        count_spans=state is not None,
    )
    footers = [
        components.chart_footer(
            published, sources, published_name, published_filters, "published figures"
        ),
        components.chart_footer(traces, sources, "traces-by-year", trace_filters, "loaded traces")
        if not traces.empty
        else None,
        components.chart_footer(events, sources, "events", event_filters, "events")
        if kinds
        else None,
    ]
    notices = []
    if published.empty and traces.empty:
        notices.append(
            components.notice(f"No published figure for {where} in the database.", "warning")
        )
    context = _context_text(_context(published), where) if state else None
    return {
        "figure": figure,
        "title": f"Trends: {where}",
        "summary": " ".join(
            t for t in (_summary(_drawable(published, state), traces, state), context) if t
        ),
        "footers": [f for f in footers if f is not None],
        "notices": notices,
        "table": _figures_table(published),
        "search": search_string(state, kinds, window),
        "window": window,
    }


def _state_options(data: AppData) -> list[dict[str, str]]:
    options = [{"label": "Mexico, national (all states)", "value": ""}]
    for dataset, country in (("source-states", "US"), ("recovery-states", "MX")):
        rows = data.dataset(dataset)
        codes = sorted(set(rows.loc[rows["geo_level"].str.endswith("_state"), "geo_code"]))
        options += [
            {"label": f"{_state_label(c)} ({'US' if country == 'US' else 'MX'} state)", "value": c}
            for c in sorted(codes, key=_state_label)
        ]
    return options


def layout(**query: object) -> html.Div:
    data = current()
    parsed = parse(query, allowed=("state", "kinds", "from", "to"))
    problems = list(parsed.problems)
    code = _state_param(parsed.state.state, problems)
    known = _known_kinds(data)
    chosen = _kinds_param(parsed.state.kinds, known, problems)
    start = _year_param(parsed.state.year_from, "from", problems)
    end = _year_param(parsed.state.year_to, "to", problems)
    window = (start, end) if start is not None or end is not None else None
    view = build_view(data, code, chosen, window)
    options = _state_options(data)
    if code and code not in {o["value"] for o in options}:
        options.append({"label": _state_label(code), "value": code})
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1(view["title"], id="trends-title"),
            html.P(
                "Each line is one release: the same year is counted differently by different "
                "releases, so vintages are never joined, and a line breaks wherever a year is "
                "missing. Part-year figures are hollow points labelled with their months. "
                "Multi-year shares (and a state's multi-year totals) are drawn as bars across "
                "their years. Events share the time axis; the dotted band marks the 2012-2015 "
                "GC-Armas suspension, which only the 2019 Taskforce white paper reports "
                "(UNVERIFIED).",
                className="lede",
            ),
            html.Section(
                [
                    html.Div(
                        [
                            html.Label("State", htmlFor="trends-state"),
                            dcc.Dropdown(
                                id="trends-state",
                                options=options,
                                value=code or "",
                                clearable=False,
                            ),
                        ],
                        className="control",
                    ),
                    html.Fieldset(
                        [
                            html.Legend("Events shown"),
                            dcc.Checklist(
                                id="trends-kinds",
                                options=[
                                    {"label": figures.KIND_LABELS.get(k, k), "value": k}
                                    for k in known
                                ],
                                value=list(chosen),
                                inline=True,
                                className="checklist",
                            ),
                        ],
                        className="control control-wide",
                    ),
                    html.Div(
                        [
                            html.Label("Years", htmlFor="trends-window"),
                            dcc.RangeSlider(
                                id="trends-window",
                                min=EARLIEST,
                                max=LATEST,
                                step=1,
                                value=list(view["window"]),
                                marks={y: str(y) for y in range(EARLIEST, LATEST + 1, 10)},
                                tooltip={"placement": "bottom"},
                                allow_direct_input=False,
                            ),
                        ],
                        className="control control-wide",
                    ),
                ],
                className="controls",
                **{"aria-label": "Trend controls"},
            ),
            html.Div(view["notices"], id="trends-notices"),
            html.Figure(
                [
                    dcc.Graph(id="trends-graph", figure=view["figure"], config=GRAPH_CONFIG),
                    components.summary(view["summary"], id="trends-summary"),
                ],
                className="chart",
            ),
            html.Div(view["footers"], id="trends-footers"),
            html.Details(
                [
                    html.Summary("Table of every figure in this view"),
                    html.Div(view["table"], id="trends-table"),
                ],
                className="table-details",
            ),
            components.chart_links("trends", view["search"]),
            components.copy_link("trends", view["search"]),
            dcc.Store(id="trends-search", data=view["search"]),
        ],
        className="page page-trends",
    )


@dash.callback(
    Output("trends-title", "children"),
    Output("trends-graph", "figure"),
    Output("trends-summary", "children"),
    Output("trends-footers", "children"),
    Output("trends-notices", "children"),
    Output("trends-table", "children"),
    Output("trends-search", "data"),
    Input("trends-state", "value"),
    Input("trends-kinds", "value"),
    Input("trends-window", "value"),
    prevent_initial_call=True,
)
def update_trends(state: object, kinds: object, window: object) -> tuple[Any, ...]:
    start, end = window_inputs(window)
    asked = from_callback(state=state or None, kinds=kinds, **{"from": start, "to": end})
    data = current()
    code = asked.state if asked.state in figures.state_names() else None
    known = _known_kinds(data)
    chosen = tuple(k for k in known if k in (asked.kinds or ()))
    span = (asked.year_from, asked.year_to) if window is not None else None
    if span and not all(EARLIEST <= year <= LATEST for year in span if year is not None):
        raise InvalidInput([f"window={span} is outside the slider's {EARLIEST} to {LATEST}"])
    view = build_view(data, code, chosen, span)
    return (
        view["title"],
        view["figure"],
        view["summary"],
        view["footers"],
        view["notices"],
        view["table"],
        view["search"],
    )


components.register_url_sync("trends")
