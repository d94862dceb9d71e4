"""Estimates: one question answered by GAO, ATF, researchers and governments, side by side."""

from typing import Any

import dash
import pandas as pd
from dash import dcc, html

from dashboard import components, figures
from dashboard.data import current
from db.datasets import Filters
from db.viewstate import ViewState, parse

dash.register_page(
    __name__, path="/estimates", title="Iron River · Estimates", name="Estimates", order=2
)

QUESTIONS = {
    "how_many_per_year": "How many guns are trafficked from the US into Mexico?",
    "us_sourced_share": "What share of the guns Mexico traces is US-sourced?",
    "us_origin_share_of_seizures": "What share of the guns Mexico seizes is of US origin? "
    "(shares of seizures, not of traces)",
    "market_value_usd": "What is the traffic worth to US sellers?",
    "share_of_us_sales": "What share of US gun sales does it represent?",
    "dealer_dependence_share": "How many US dealers depend on it?",
    "share_intercepted": "What share is intercepted?",
}
GRAPH_CONFIG = components.graph_config(
    staticPlot=False, modeBarButtonsToRemove=["select2d", "lasso2d"]
)


def _ledger_table(rows: pd.DataFrame) -> html.Table:
    frame = rows.copy()
    frame["estimate"] = [
        html.Span(
            [
                figures.estimate_text(r.low, r.central, r.high, r.unit, r.value_qualifier),
                " ",
                components.status_badge(r.status),
            ]
        )
        for r in rows.itertuples(index=False)
    ]
    frame["source"] = [dcc.Link(s, href=f"/sources#{s}") for s in rows["source_id"]]
    frame["what"] = rows["measure"].map(figures.measure_label)
    return components.table(
        frame,
        [
            ("producer", "Who"),
            ("estimate", "Estimate"),
            ("what", "Measure"),
            ("period", "Period"),
            ("method_note", "Method"),
            ("why_differs", "Why it differs"),
            ("caveats", "Caveats"),
            ("source", "Source"),
        ],
        caption="The ledger: every answer to this question",
    )


def _question_section(question: str, rows: pd.DataFrame, sources: pd.DataFrame) -> html.Section:
    labels = components.source_labels(sources)
    charts: list[Any] = []
    for measure, group in rows.groupby("measure", sort=False):
        if len(rows["measure"].unique()) > 1:
            charts.append(html.H3(figures.measure_label(str(measure))))
        unverified = int((group["status"] == "UNVERIFIED").sum())
        ranged = group.dropna(subset=["low", "high"])
        text = (
            f"{len(group)} answer{'s' if len(group) > 1 else ''}: "
            + ", ".join(
                f"{r.producer.split(' (')[0]}: "
                f"{figures.estimate_text(r.low, r.central, r.high, r.unit, r.value_qualifier)}"
                f" ({r.period}{', ' + r.status if r.status != 'VERIFIED' else ''})"
                for r in group.itertuples(index=False)
            )
            + (f". {len(ranged)} drawn as ranges" if len(ranged) else "")
            + (f"; {unverified} UNVERIFIED, drawn hollow and dotted." if unverified else ".")
        )
        charts.append(
            dcc.Graph(
                # A plain dict: the section is cached, and a pickled go.Figure re-validates.
                figure=figures.estimates_figure(group, sources=labels).to_plotly_json(),
                config=GRAPH_CONFIG,
                id=f"estimates-{question}-{measure}",
            )
        )
        charts.append(components.summary(text))
    filters = Filters(measure=question)
    return html.Section(
        [
            html.H2(QUESTIONS.get(question, question.replace("_", " ")), id=question),
            *charts,
            components.chart_footer(
                rows, sources, "estimates", filters, QUESTIONS.get(question, "")
            ),
            _ledger_table(rows),
        ],
        className="question",
    )


def layout(**query: object) -> html.Div:
    data = current()
    parsed = parse(query, allowed=("question",))
    problems = list(parsed.problems)
    question = parsed.state.question
    rows = data.dataset("estimates")
    sources = data.dataset("sources")
    order = list(QUESTIONS)
    known = sorted(
        dict.fromkeys(rows["question"]),
        key=lambda q: (order.index(q) if q in order else len(order), q),
    )
    if question is not None and question not in known:
        problems.append(f"question={question} is not a question in the ledger")
        question = None
    shown = [question] if question else known
    search = ViewState(question=question).query_string()
    sections = data.memo(
        f"estimates-sections:{tuple(shown)!r}",
        lambda: [
            _question_section(str(q), data.dataset("estimates", Filters(measure=str(q))), sources)
            for q in shown
        ],
    )
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1("The estimates ledger"),
            html.P(
                "The same questions answered by different producers, with different methods "
                "and periods. Ranges are drawn as ranges and central values as dots; UNVERIFIED "
                "figures (recalled or inferred, or reported only by a secondary paper whose own "
                "source could not be read) are hollow, dotted and labelled. Shares with different "
                "denominators (guns successfully traced, guns submitted for tracing, guns seized) "
                "are drawn in separate charts. "
                "Read the method note and the “why it differs” line before comparing.",
                className="lede",
            ),
            html.Nav(
                html.Ul(
                    [
                        html.Li(dcc.Link(QUESTIONS.get(q, q), href=f"/estimates?question={q}"))
                        for q in known
                    ]
                ),
                **{"aria-label": "Questions"},
                className="question-index",
            ),
            *(sections or [components.notice("No estimates are loaded.", "warning")]),
            components.chart_links("estimates", search),
            components.copy_link("estimates", search),
            dcc.Store(id="estimates-search", data=search),
        ],
        className="page page-estimates",
    )


components.register_url_sync("estimates")
