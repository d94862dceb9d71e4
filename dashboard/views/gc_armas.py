"""The GC-Armas timeline as a value: chosen event kinds -> the events, figure and summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboard import figures
from dashboard.data import AppData, ChartData
from dashboard.i18n import _, ngettext
from dashboard.views import chosen_kinds, known_kinds, source_labels
from db.datasets import Filters, Selection
from db.viewstate import ViewState, parse

DEFAULT_KINDS = ("gc_armas", "bilateral_dialogue")


@dataclass(frozen=True, eq=False)
class TimelineView:
    """Everything the GC-Armas page shows for one choice of kinds."""

    state: ViewState
    figure: dict[str, Any]
    summary: str
    events: ChartData | None
    sources: pd.DataFrame

    @property
    def charts(self) -> tuple[ChartData, ...]:
        return (self.events,) if self.events is not None else ()

    @property
    def rows(self) -> pd.DataFrame:
        return self.events.rows if self.events is not None else pd.DataFrame()


def normalise(data: AppData, asked: ViewState) -> tuple[ViewState, list[str]]:
    """Known kinds only, in one order; unknown ones listed as problems."""
    problems: list[str] = []
    kinds = chosen_kinds(asked.kinds, known_kinds(data), DEFAULT_KINDS, problems)
    return ViewState(kinds=kinds), problems


def state_from_url(data: AppData, query: dict[str, object]) -> tuple[ViewState, list[str]]:
    parsed = parse(query, allowed=("kinds",))
    state, problems = normalise(data, parsed.state)
    return state, [*parsed.problems, *problems]


def _summary(events: pd.DataFrame) -> str:
    if events.empty:
        return _("No events of the chosen kinds.")
    unverified = int((events["status"] == "UNVERIFIED").sum())
    dated = events.dropna(subset=["date_start"]).sort_values("date_start")
    undated = len(events) - len(dated)
    first = dated["date_label"].iloc[0] if len(dated) else ""
    last = dated["date_label"].iloc[-1] if len(dated) else ""
    return (
        ngettext(
            "{count} dated event, {first}",
            "{count} dated events from {first} to {last}",
            len(dated),
        ).format(count=len(dated), first=first, last=last)
        + (
            "; "
            + ngettext(
                "{count} undated account, in the table only",
                "{count} undated accounts, in the table only",
                undated,
            ).format(count=undated)
            if undated
            else ""
        )
        + (
            "; "
            + ngettext(
                "{count} UNVERIFIED (hollow marker)",
                "{count} UNVERIFIED (hollow markers)",
                unverified,
            ).format(count=unverified)
            if unverified
            else ""
        )
        + "."
    )


def build_view(data: AppData, state: ViewState) -> TimelineView:
    """The timeline of the chosen kinds (none chosen: an empty timeline, no download)."""
    sources = data.dataset("sources")
    kinds = state.kinds or ()
    events = (
        ChartData.of(data, Selection("events", Filters(kinds=kinds)), "events") if kinds else None
    )
    rows = events.rows if events is not None else data.dataset("events").head(0)
    figure = figures.timeline_figure(rows, sources=source_labels(data))
    return TimelineView(state, figure, _summary(rows), events, sources)
