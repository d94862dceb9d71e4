"""GC-Armas: the arms-trafficking working group's meetings and milestones, as timeline and table."""

from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import components, figures
from dashboard.data import AppData, current, memoized_view
from db.datasets import Filters
from db.viewstate import ViewState, from_callback, parse

dash.register_page(
    __name__, path="/gc-armas", title="Iron River · GC-Armas", name="GC-Armas", order=3
)

DEFAULT_KINDS = ("gc_armas", "bilateral_dialogue")
GRAPH_CONFIG = components.graph_config(modeBarButtonsToRemove=["select2d", "lasso2d"])


def _known_kinds(data: AppData) -> list[str]:
    kinds = set(data.dataset("events")["kind"])
    return [k for k in figures.KIND_LABELS if k in kinds] + sorted(kinds - set(figures.KIND_LABELS))


def _table(events: pd.DataFrame) -> html.Table | html.P:
    if events.empty:
        return html.P("No events of the chosen kinds.")
    frame = events.copy()
    frame["what"] = [
        html.Div([html.Strong(r.title_en), html.Br(), html.Span(r.title_es, lang="es")])
        for r in events.itertuples(index=False)
    ]
    frame["kind_label"] = events["kind"].map(lambda k: figures.KIND_LABELS.get(k, k))
    frame["status_cell"] = [components.status_badge(s) or s for s in events["status"]]
    frame["source"] = [dcc.Link(s, href=f"/sources#{s}") for s in events["source_id"]]
    return components.table(
        frame,
        [
            ("date_label", "When"),
            ("kind_label", "Kind"),
            ("what", "What"),
            ("description", "Details"),
            ("participants", "Who"),
            ("status_cell", "Status"),
            ("source", "Source"),
        ],
        caption="Meetings and milestones, oldest first; accounts the sources do not date come last",
    )


def _origin_accounts(data: AppData) -> html.Section | None:
    """The dataset's own caveats say where accounts differ; each account is an event row."""
    infos = data.cached("dataset_infos", lambda: _dataset_infos(data))
    caveats = infos.loc[infos["name"] == "events", "caveats"]
    notes = list(caveats.iloc[0]) if len(caveats) else []
    if not notes:
        return None
    gc = data.dataset("events", Filters(kinds=("gc_armas",)))
    accounts = gc.sort_values("date_start").head(0)
    origin = gc[gc["title_en"].str.contains("creat|born|origin", case=False, regex=True)]
    accounts = origin if not origin.empty else accounts
    cards = [
        html.Div(
            [
                html.H3(f"{r.date_label}: {r.title_en}"),
                html.P(r.description or ""),
                html.P(
                    [
                        "Source: ",
                        dcc.Link(r.citation, href=f"/sources#{r.source_id}"),
                        " ",
                        components.status_badge(r.status),
                    ],
                    className="source-line",
                ),
            ]
        )
        for r in accounts.itertuples(index=False)
    ]
    return html.Section(
        [
            html.H2("Where the accounts differ"),
            html.Ul([html.Li(n) for n in notes], className="caveats"),
            html.Div(cards, className="origin-accounts"),
        ]
    )


def _dataset_infos(data: AppData) -> pd.DataFrame:
    from db import queries

    return queries.dataset_infos(data.engine)


@memoized_view("gc_armas")
def build_view(data: AppData, kinds: tuple[str, ...]) -> dict[str, Any]:
    sources = data.dataset("sources")
    filters = Filters(kinds=kinds)
    events = data.dataset("events", filters) if kinds else data.dataset("events").head(0)
    figure = figures.timeline_figure(events, sources=components.source_labels(sources))
    unverified = int((events["status"] == "UNVERIFIED").sum())
    dated = events.dropna(subset=["date_start"]).sort_values("date_start")
    undated = len(events) - len(dated)
    first = dated["date_label"].iloc[0] if len(dated) else ""
    last = dated["date_label"].iloc[-1] if len(dated) else ""
    summary = (
        f"{len(dated)} dated events from {first} to {last}"
        + (
            f"; {undated} undated account{'s' if undated > 1 else ''}, in the table only"
            if undated
            else ""
        )
        + (f"; {unverified} UNVERIFIED (hollow markers)" if unverified else "")
        + "."
        if len(events)
        else "No events of the chosen kinds."
    )
    search = ViewState(kinds=kinds).query_string()
    footer = (
        components.chart_footer(events, sources, "events", filters, "events") if kinds else None
    )
    return {
        "figure": figure,
        "summary": summary,
        "footer": footer,
        "table": _table(events),
        "search": search,
    }


def layout(**query: object) -> html.Div:
    data = current()
    parsed = parse(query, allowed=("kinds",))
    problems = list(parsed.problems)
    known = _known_kinds(data)
    wanted = parsed.state.kinds
    if wanted is None:
        chosen = tuple(k for k in DEFAULT_KINDS if k in known)
    else:
        if any(k not in known for k in wanted):
            problems.append(
                "unknown event kind(s): " + ", ".join(k for k in wanted if k not in known)
            )
        chosen = tuple(k for k in known if k in wanted)
    view = build_view(data, chosen)
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1("GC-Armas: the arms-trafficking coordination group"),
            html.P(
                "Meetings and milestones of GC-Armas and the bilateral dialogues around it. "
                "Mexico's 2010 report to the UN calls it the Grupo de Coordinación "
                "Interinstitucional para la Prevención y el Control del Tráfico Ilícito de Armas "
                "de Fuego, created in 1995; a U.S. Embassy cable of 2009 describes a bilateral "
                "implementation group of that name born in March 2009; the 2019 Taskforce white "
                "paper gives a name ending “Tráfico de Armas de Fuego, Municiones, y Explosivos”. The "
                "sources differ and this page does not choose between them. Hollow markers are "
                "UNVERIFIED; the dotted band is the 2012–2015 suspension, which only the white "
                "paper reports. Accounts without a date are in the table, not on the time axis.",
                className="lede",
            ),
            html.Section(
                html.Fieldset(
                    [
                        html.Legend("Events shown"),
                        dcc.Checklist(
                            id="gc-kinds",
                            options=[
                                {"label": figures.KIND_LABELS.get(k, k), "value": k} for k in known
                            ],
                            value=list(chosen),
                            inline=True,
                            className="checklist",
                        ),
                    ],
                    className="control",
                ),
                className="controls",
                **{"aria-label": "Timeline controls"},
            ),
            html.Figure(
                [
                    dcc.Graph(id="gc-graph", figure=view["figure"], config=GRAPH_CONFIG),
                    components.summary(view["summary"], id="gc-summary"),
                ],
                className="chart",
            ),
            html.Div(view["footer"], id="gc-footer"),
            _origin_accounts(data),
            html.H2("Table"),
            html.Div(view["table"], id="gc-table"),
            components.chart_links("gc-armas", view["search"]),
            components.copy_link("gc", view["search"]),
            dcc.Store(id="gc-search", data=view["search"]),
        ],
        className="page page-gc-armas",
    )


@dash.callback(
    Output("gc-graph", "figure"),
    Output("gc-summary", "children"),
    Output("gc-footer", "children"),
    Output("gc-table", "children"),
    Output("gc-search", "data"),
    Input("gc-kinds", "value"),
    prevent_initial_call=True,
)
def update_timeline(kinds: object) -> tuple[Any, ...]:
    asked = from_callback(kinds=kinds).kinds or ()
    data = current()
    chosen = tuple(k for k in _known_kinds(data) if k in asked)
    view = build_view(data, chosen)
    return view["figure"], view["summary"], view["footer"], view["table"], view["search"]


components.register_url_sync("gc")
