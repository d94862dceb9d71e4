"""Estimates: one question answered by GAO, ATF, researchers and governments, side by side."""

from typing import Any

import pandas as pd
from dash import dcc, html

from dashboard import components, i18n, text
from dashboard.data import current
from dashboard.i18n import N_, _
from dashboard.site import register_page
from dashboard.views import shown
from dashboard.views.estimates import EstimatesView, Question, build_view, state_from_url
from db.vocabulary import ESTIMATE_QUESTIONS, label

register_page(
    __name__, path="/estimates", title=N_("Iron River · Estimates"), name=N_("Estimates"), order=2
)

GRAPH_CONFIG = components.graph_config(
    staticPlot=False, modeBarButtonsToRemove=["select2d", "lasso2d"]
)


def _ledger_table(rows: pd.DataFrame) -> html.Table:
    frame = rows.copy()
    frame["estimate"] = [
        html.Span(
            [
                text.estimate_text(r.low, r.central, r.high, r.unit, r.value_qualifier),
                " ",
                components.status_badge(r.status),
            ]
        )
        for r in rows.itertuples(index=False)
    ]
    frame["source"] = [dcc.Link(s, href=i18n.localised(f"/sources#{s}")) for s in rows["source_id"]]
    frame["what"] = rows["measure"].map(text.measure_label)
    return components.table(
        frame,
        [
            ("producer", _("Who")),
            ("estimate", _("Estimate")),
            ("what", _("Measure")),
            ("period", _("Period")),
            ("method_note", _("Method")),
            ("why_differs", _("Why it differs")),
            ("caveats", _("Caveats")),
            ("source", _("Source")),
        ],
        caption=_("The ledger: every answer to this question"),
    )


def _section(question: Question, sources: pd.DataFrame) -> html.Section:
    several = len(question.charts) > 1
    charts: list[Any] = []
    for chart in question.charts:
        if several:
            charts.append(html.H3(text.measure_label(chart.measure)))
        graph_id = f"estimates-{question.question}-{chart.measure}"
        name = label(ESTIMATE_QUESTIONS, question.question)
        if several:
            name += f": {text.measure_label(chart.measure)}"
        charts.append(
            html.Figure(
                [
                    dcc.Graph(
                        figure=chart.figure,
                        config=components.in_language(GRAPH_CONFIG),
                        id=graph_id,
                    ),
                    components.summary(chart.reading, id=f"{graph_id}-summary"),
                ],
                className="chart",
                **components.chart_name(f"Chart: {name}", f"{graph_id}-summary"),
            )
        )
    return html.Section(
        [
            html.H2(_(label(ESTIMATE_QUESTIONS, question.question)), id=question.question),
            *charts,
            components.chart_footer(question.data, sources),
            _ledger_table(question.data.rows),
        ],
        className="question",
    )


def render(view: EstimatesView) -> list[Any]:
    """The page's changing part for one view."""
    data = current()
    # A question's section is the same in every view that shows it: rendered once per version.
    sections = [
        data.shared(f"estimates-section:{q.question}", lambda q=q: _section(q, view.sources))
        for q in view.questions
    ]
    return [
        *(sections or [components.notice(_("No estimates are loaded."), "warning")]),
        dcc.Store(id="estimates-search", data=view.state.query_string()),
    ]


def layout(**query: object) -> html.Div:
    data = current()
    state, problems = state_from_url(data, query)
    view, content = shown(data, "estimates", state, build_view, render)
    return components.view_page(
        "estimates",
        data=data,
        problems=problems,
        heading=_("The estimates ledger"),
        lede=_(
            "The same questions answered by different producers, with different methods "
            "and periods. Ranges are drawn as ranges and central values as dots; UNVERIFIED "
            "figures (recalled or inferred, or reported only by a secondary paper whose own "
            "source could not be read) are hollow, dotted and labelled. Shares with different "
            "denominators (guns successfully traced, guns submitted for tracing, guns seized) "
            "are drawn in separate charts. "
            "Read the method note and the “why it differs” line before comparing."
        ),
        controls=html.Nav(
            html.Ul(
                [
                    html.Li(
                        dcc.Link(
                            _(label(ESTIMATE_QUESTIONS, q)),
                            href=i18n.localised(f"/estimates?question={q}"),
                        )
                    )
                    for q in view.known
                ]
            ),
            **{"aria-label": _("Questions")},
            className="question-index",
        ),
        controls_label=None,
        content=content,
        search=view.state.query_string(),
    )


components.register_url_sync("estimates")
