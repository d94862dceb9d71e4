"""The estimates ledger as a value: a question (or all) -> each answer's rows, figures and words."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import pandas as pd

from dashboard import figures, text
from dashboard.data import AppData, ChartData
from dashboard.i18n import _, ngettext
from dashboard.views import optional_number, source_labels
from db.datasets import Filters, Selection
from db.viewstate import ViewState, parse
from db.vocabulary import ESTIMATE_QUESTIONS


@dataclass(frozen=True, eq=False)
class MeasureChart:
    """One measure's answers to a question, drawn side by side."""

    measure: str
    figure: dict[str, Any]
    reading: str


@dataclass(frozen=True, eq=False)
class Question:
    question: str
    data: ChartData
    charts: tuple[MeasureChart, ...]


@dataclass(frozen=True, eq=False)
class EstimatesView:
    state: ViewState
    known: tuple[str, ...]  # every question in the ledger, in the vocabulary's order
    questions: tuple[Question, ...]  # the ones shown
    sources: pd.DataFrame

    @property
    def charts(self) -> tuple[ChartData, ...]:
        return tuple(q.data for q in self.questions)


def _known(data: AppData) -> tuple[str, ...]:
    order = list(ESTIMATE_QUESTIONS)
    return tuple(
        sorted(
            dict.fromkeys(data.dataset("estimates")["question"]),
            key=lambda q: (order.index(q) if q in order else len(order), q),
        )
    )


def state_from_url(data: AppData, query: dict[str, object]) -> tuple[ViewState, list[str]]:
    parsed = parse(query, allowed=("question",))
    problems = list(parsed.problems)
    question = parsed.state.question
    if question is not None and question not in _known(data):
        problems.append(
            _("question={question} is not a question in the ledger").format(question=question)
        )
        question = None
    return ViewState(question=question), problems


class _Answer(NamedTuple):
    """One estimate as a question's reading words it."""

    producer: str
    low: float | None
    central: float | None
    high: float | None
    unit: str
    value_qualifier: str
    period: str
    status: str

    @classmethod
    def rows(cls, frame: pd.DataFrame) -> list[_Answer]:
        """The frame's estimates, each cell converted here once."""
        return [
            cls(
                producer=str(r["producer"]),
                low=optional_number(r["low"]),
                central=optional_number(r["central"]),
                high=optional_number(r["high"]),
                unit=str(r["unit"]),
                value_qualifier=str(r["value_qualifier"]),
                period=str(r["period"]),
                status=str(r["status"]),
            )
            for r in frame.to_dict("records")
        ]


def _reading(group: pd.DataFrame) -> str:
    unverified = int((group["status"] == "UNVERIFIED").sum())
    ranged = group.dropna(subset=["low", "high"])
    answers = ", ".join(
        f"{r.producer.split(' (')[0]}: "
        f"{text.estimate_text(r.low, r.central, r.high, r.unit, r.value_qualifier)}"
        f" ({r.period}{', ' + r.status if r.status != 'VERIFIED' else ''})"
        for r in _Answer.rows(group)
    )
    return (
        ngettext("{count} answer: {answers}", "{count} answers: {answers}", len(group)).format(
            count=len(group), answers=answers
        )
        + (
            ". "
            + ngettext("{count} drawn as a range", "{count} drawn as ranges", len(ranged)).format(
                count=len(ranged)
            )
            if len(ranged)
            else ""
        )
        + (
            "; "
            + ngettext(
                "{count} UNVERIFIED, drawn hollow and dotted",
                "{count} UNVERIFIED, drawn hollow and dotted",
                unverified,
            ).format(count=unverified)
            + "."
            if unverified
            else "."
        )
    )


def _question(data: AppData, question: str, labels: dict[str, str]) -> Question:
    # The estimates dataset's `measure` filter selects a question.
    chart = ChartData.of(
        data,
        Selection("estimates", Filters(measure=question)),
        _(ESTIMATE_QUESTIONS[question].en) if question in ESTIMATE_QUESTIONS else question,
    )
    charts = tuple(
        MeasureChart(str(measure), figures.estimates_figure(group, sources=labels), _reading(group))
        for measure, group in chart.rows.groupby("measure", sort=False)
    )
    return Question(question, chart, charts)


def build_view(data: AppData, state: ViewState) -> EstimatesView:
    """One question's section, or every question's when none is chosen."""
    sources = data.dataset("sources")
    labels = source_labels(data)
    known = _known(data)
    shown = (state.question,) if state.question else known
    # A question's section is the same in every view that shows it: built once per data version.
    questions = tuple(
        data.shared(f"estimates-question:{q}", partial(_question, data, q, labels))
        for q in shown
        if q is not None
    )
    return EstimatesView(state, known, questions, sources)
