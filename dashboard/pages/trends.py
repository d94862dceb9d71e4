"""Trends page: controls, and one container rendering the trends view of the chosen state."""

from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import components, i18n, text
from dashboard.data import AppData, current
from dashboard.i18n import N_, _
from dashboard.site import PAGE_PATH, page_language, register_page
from dashboard.views import known_kinds, shown
from dashboard.views.trends import (
    EARLIEST,
    LATEST,
    TrendsView,
    build_view,
    normalise,
    state_from_url,
    state_label,
)
from db.viewstate import InvalidInput, from_callback, window_inputs

register_page(__name__, path="/trends", title=N_("Iron River · Trends"), name=N_("Trends"), order=1)

GRAPH_CONFIG = components.graph_config(modeBarButtonsToRemove=["select2d", "lasso2d"])


def _figures_table(published: pd.DataFrame) -> html.Table | html.P:
    if published.empty:
        return html.P(_("No published figures in this view."))
    frame = published.copy()
    frame["figure"] = [
        text.with_category(text.format_value(v, u, q), c)
        for v, u, q, c in zip(
            frame["value"], frame["unit"], frame["value_qualifier"], frame["category"], strict=True
        )
    ]
    frame["what"] = frame["measure"].map(text.measure_label)
    frame["status_cell"] = [components.status_badge(s) or s for s in frame["status"]]
    frame["source"] = [
        dcc.Link(s, href=i18n.localised(f"/sources#{s}")) for s in frame["source_id"]
    ]
    return components.table(
        frame,
        [
            ("period", _("Period")),
            ("what", _("Measure")),
            ("figure", _("Figure")),
            ("release", _("Release")),
            ("status_cell", text.status_heading()),
            ("note", _("Note")),
            ("source", _("Source")),
        ],
        caption=_("Every figure in this view, with its note"),
    )


def render(view: TrendsView) -> list[Any]:
    """The page's changing part for one view: what the layout and the callback both return."""
    return [
        html.H2(view.title, id="trends-title"),
        html.Div([components.notice(n, "warning") for n in view.notices], id="trends-notices"),
        html.Figure(
            [
                dcc.Graph(
                    id="trends-graph",
                    figure=view.figure,
                    config=components.in_language(GRAPH_CONFIG),
                ),
                components.summary(view.summary, id="trends-summary"),
            ],
            className="chart",
            **components.chart_name(f"Trend chart: {view.title}", "trends-summary"),
        ),
        html.Div(
            [components.chart_footer(c, view.sources) for c in view.charts], id="trends-footers"
        ),
        html.Details(
            [
                html.Summary(_("Table of every figure in this view")),
                html.Div(_figures_table(view.published.rows), id="trends-table"),
            ],
            className="table-details",
        ),
        dcc.Store(id="trends-search", data=view.state.query_string()),
    ]


def _state_options(data: AppData) -> list[dict[str, str]]:
    options = [{"label": _("Mexico, national (all states)"), "value": ""}]
    for dataset, kind in (("source-states", _("US state")), ("recovery-states", _("MX state"))):
        rows = data.dataset(dataset)
        codes = sorted(set(rows.loc[rows["geo_level"].str.endswith("_state"), "geo_code"]))
        options += [
            {"label": f"{state_label(c)} ({kind})", "value": c}
            for c in sorted(codes, key=lambda c: text.state_sort_key(state_label(c)))
        ]
    return options


def layout(**query: object) -> html.Div:
    data = current()
    state, problems = state_from_url(data, query)
    view, content = shown(data, "trends", state, build_view, render)
    code = view.state.state
    options = _state_options(data)
    if code and code not in {o["value"] for o in options}:
        options.append({"label": state_label(code), "value": code})
    return components.view_page(
        "trends",
        data=data,
        problems=problems,
        heading=_("Trends"),
        lede=_(
            "Each line is one release: the same year is counted differently by different "
            "releases, so vintages are never joined, and a line breaks wherever a year is "
            "missing. Part-year figures are hollow points labelled with their months. "
            "Multi-year shares (and a state's multi-year totals) are drawn as bars across "
            "their years. Events share the time axis; the dotted band marks the 2012-2015 "
            "GC-Armas suspension, which only the 2019 Taskforce white paper reports "
            "(UNVERIFIED). The table and the downloads hold the figures of the years shown."
        ),
        controls=[
            html.Div(
                [
                    html.Label(_("State"), htmlFor="trends-state"),
                    dcc.Dropdown(
                        id="trends-state",
                        options=options,
                        value=code or "",
                        clearable=False,
                    ),
                ],
                className="control",
            ),
            components.events_checklist(
                "trends-kinds", known_kinds(data), view.state.kinds or (), "control control-wide"
            ),
            html.Div(
                [
                    html.Label(_("Years"), htmlFor="trends-window"),
                    dcc.RangeSlider(
                        id="trends-window",
                        min=EARLIEST,
                        max=LATEST,
                        step=1,
                        value=list(view.window),
                        marks={y: str(y) for y in range(EARLIEST, LATEST + 1, 10)},
                        tooltip={"placement": "bottom"},
                        allow_direct_input=False,
                    ),
                ],
                className="control control-wide",
            ),
        ],
        controls_label=_("Trend controls"),
        content=content,
        search=view.state.query_string(),
    )


@dash.callback(
    Output("trends-view", "children"),
    Input("trends-state", "value"),
    Input("trends-kinds", "value"),
    Input("trends-window", "value"),
    PAGE_PATH,
    prevent_initial_call=True,
)
def update_trends(state: object, kinds: object, window: object, pathname: object) -> list[Any]:
    start, end = window_inputs(window)
    asked = from_callback(state=state or None, kinds=kinds, **{"from": start, "to": end})
    data = current()
    normal, problems = normalise(data, asked)
    if problems:
        raise InvalidInput(problems)
    with i18n.use(page_language(pathname)):
        return shown(data, "trends", normal, build_view, render)[1]


components.register_url_sync("trends")
