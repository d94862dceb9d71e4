"""GC-Armas: the arms-trafficking working group's meetings and milestones, as timeline and table."""

from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import components, i18n, text
from dashboard.data import AppData, current
from dashboard.i18n import N_, _
from dashboard.site import PAGE_PATH, page_language, register_page
from dashboard.views import known_kinds, shown
from dashboard.views.gc_armas import TimelineView, build_view, normalise, state_from_url
from db.datasets import Filters
from db.viewstate import InvalidInput, from_callback

register_page(
    __name__, path="/gc-armas", title=N_("Iron River · GC-Armas"), name=N_("GC-Armas"), order=3
)

GRAPH_CONFIG = components.graph_config(modeBarButtonsToRemove=["select2d", "lasso2d"])


def _title(event: Any) -> str:
    """An event's title in the page's language: its Spanish title on Spanish pages, when it has one."""
    if i18n.language() == "es" and isinstance(event.title_es, str) and event.title_es.strip():
        return str(event.title_es)
    return str(event.title_en)


def _what(event: Any) -> html.Div:
    # English pages show both published titles; Spanish pages the Spanish one (English without it).
    if i18n.language() == i18n.DEFAULT:
        return html.Div(
            [html.Strong(event.title_en), html.Br(), html.Span(event.title_es, lang="es")]
        )
    title = _title(event)
    # An event without a Spanish title keeps its English one, marked as English for screen readers.
    attributes = {} if title == event.title_es else {"lang": "en"}
    return html.Div(html.Strong(title, **attributes))


def _table(events: pd.DataFrame) -> html.Table | html.P:
    if events.empty:
        return html.P(_("No events of the chosen kinds."))
    frame = events.copy()
    frame["what"] = [_what(r) for r in events.itertuples(index=False)]
    frame["kind_label"] = events["kind"].map(text.kind_label)
    frame["status_cell"] = [components.status_badge(s) or s for s in events["status"]]
    frame["source"] = [
        dcc.Link(s, href=i18n.localised(f"/sources#{s}")) for s in events["source_id"]
    ]
    return components.table(
        frame,
        [
            ("date_label", _("When")),
            ("kind_label", _("Kind")),
            ("what", _("What")),
            ("description", _("Details")),
            ("participants", _("Who")),
            # A status of figures is "Estatus" in Spanish; "Estado" names the Status page.
            ("status_cell", _("Status: ").rstrip(": ")),
            ("source", _("Source")),
        ],
        caption=_(
            "Meetings and milestones, oldest first; accounts the sources do not date come last"
        ),
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
                html.H3(f"{r.date_label}: {_title(r)}"),
                html.P(r.description or ""),
                html.P(
                    [
                        _("Source: "),
                        dcc.Link(r.citation, href=i18n.localised(f"/sources#{r.source_id}")),
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
            html.H2(_("Where the accounts differ")),
            html.Ul([html.Li(n) for n in notes], className="caveats"),
            html.Div(cards, className="origin-accounts"),
        ]
    )


def _dataset_infos(data: AppData) -> pd.DataFrame:
    from db import queries

    return queries.dataset_infos(data.engine)


def render(view: TimelineView) -> list[Any]:
    """The page's changing part for one view: what the layout and the callback both return."""
    return [
        html.Figure(
            [
                dcc.Graph(
                    id="gc-graph", figure=view.figure, config=components.in_language(GRAPH_CONFIG)
                ),
                components.summary(view.summary, id="gc-summary"),
            ],
            className="chart",
            **components.chart_name("Timeline of GC-Armas events", "gc-summary"),
        ),
        html.Div([components.chart_footer(c, view.sources) for c in view.charts], id="gc-footer"),
        html.H2(_("Table")),
        html.Div(_table(view.rows), id="gc-table"),
        dcc.Store(id="gc-search", data=view.state.query_string()),
    ]


def layout(**query: object) -> html.Div:
    data = current()
    state, problems = state_from_url(data, query)
    view, content = shown(data, "gc_armas", state, build_view, render)
    return components.view_page(
        "gc",
        data=data,
        problems=problems,
        heading=_("GC-Armas: the arms-trafficking coordination group"),
        lede=_(
            "Meetings and milestones of GC-Armas and the bilateral dialogues around it. "
            "Mexico's 2010 report to the UN calls it the Grupo de Coordinación "
            "Interinstitucional para la Prevención y el Control del Tráfico Ilícito de Armas "
            "de Fuego, created in 1995; a U.S. Embassy cable of 2009 describes a bilateral "
            "implementation group of that name born in March 2009; the 2019 Taskforce white "
            "paper gives a name ending “Tráfico de Armas de Fuego, Municiones, y Explosivos”. The "
            "sources differ and this page does not choose between them. Hollow markers are "
            "UNVERIFIED; the dotted band is the 2012–2015 suspension, which only the white "
            "paper reports. Accounts without a date are in the table, not on the time axis."
        ),
        controls=components.events_checklist("gc-kinds", known_kinds(data), view.state.kinds or ()),
        controls_label=_("Timeline controls"),
        content=content,
        search=view.state.query_string(),
        after=[_origin_accounts(data)],
        name="gc-armas",
    )


@dash.callback(
    Output("gc-view", "children"), Input("gc-kinds", "value"), PAGE_PATH, prevent_initial_call=True
)
def update_timeline(kinds: object, pathname: object) -> list[Any]:
    data = current()
    state, problems = normalise(data, from_callback(kinds=kinds))
    if problems:
        raise InvalidInput(problems)
    with i18n.use(page_language(pathname)):
        return shown(data, "gc_armas", state, build_view, render)[1]


components.register_url_sync("gc")
