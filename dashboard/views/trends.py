"""Trends as a value: a state -> the rows, figure and words of one trends view."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd

from dashboard import figures, text
from dashboard.data import AppData, ChartData
from dashboard.figures.style import is_missing, rows_of
from dashboard.i18n import N_, _, ngettext
from dashboard.views import chosen_kinds, known_kinds, optional_number, source_labels
from db.datasets import Filters, Selection
from db.viewstate import ViewState, parse

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


def this_year() -> int:
    """The calendar's year: a trend's default axis reaches it."""
    return dt.date.today().year


EARLIEST, LATEST = 1980, this_year() + 1


def state_label(code: str) -> str:
    return text.state_names().get(code, code)


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
        return 2004, this_year()
    # Within the slider's years, whatever the database holds (a year 1 would make year 0).
    start = min(max(int(min(years)) - 1, EARLIEST), LATEST)
    return start, min(max(int(max(years)) + 1, this_year(), start), LATEST)


def _year_param(year: int | None, name: str, problems: list[str]) -> int | None:
    if year is None or EARLIEST <= year <= LATEST:
        return year
    problems.append(
        _("{name}={year} is outside the chart's years {first} to {last}").format(
            name=name, year=year, first=EARLIEST, last=LATEST
        )
    )
    return None


def _state_param(code: str | None, problems: list[str]) -> str | None:
    if code is None or code in text.state_names():
        return code
    problems.append(_("state={code} is not a USPS or INEGI state code").format(code=code))
    return None


def normalise(data: AppData, asked: ViewState) -> tuple[ViewState, list[str]]:
    """The view a request can show, each problem listed: unknown codes and kinds and years
    outside the chart are dropped, kinds put in one order, so one view has one cache key."""
    problems: list[str] = []
    kinds = chosen_kinds(asked.kinds, known_kinds(data), DEFAULT_KINDS, problems)
    state = ViewState(
        state=_state_param(asked.state, problems),
        kinds=kinds,
        year_from=_year_param(asked.year_from, "from", problems),
        year_to=_year_param(asked.year_to, "to", problems),
    )
    return state, problems


def _fill_window(
    asked: tuple[int | None, int | None], default_of: Callable[[], tuple[int, int]]
) -> tuple[int, int]:
    """The window drawn: each end asked for is honoured, a missing end is the default's (which
    is worked out from the data only then)."""
    start, end = asked
    if start is not None and end is not None:
        return start, end
    default = default_of()
    if start is None:
        start = default[0] if end is None else min(default[0], end)
    if end is None:
        end = max(default[1], start)
    return start, end


def _span(records: list[Any]) -> str:
    """ "68.3%–76.8% (2007–2011)" or "41% (2009-2014, UNVERIFIED)" for one release's rows."""
    # The first lowest and first highest row, as idxmin/idxmax pick.
    low = min(records, key=lambda r: float(r.value))
    high = max(records, key=lambda r: float(r.value))
    values = text.format_value(low.value, low.unit, low.value_qualifier)
    if len(records) > 1 and low.value != high.value:
        first = text.QUALIFIER_PREFIX.get(str(low.value_qualifier), "")
        values = (
            f"{first}{text.format_number(low.value)}–"
            f"{text.format_value(high.value, high.unit, high.value_qualifier)}"
        )
    only = _("{category} only")
    periods = sorted(
        f"{r.period} ({only.format(category=r.category)})"
        if not is_missing(r.category) and r.category
        else str(r.period)
        for r in records
    )
    when = periods[0] if len(periods) == 1 else f"{periods[0]}–{periods[-1]}"
    flags = sorted(text.status_text(s) for s in {r.status for r in records} - {"VERIFIED"})
    return f"{values} ({when}{', ' + '/'.join(flags) if flags else ''})"


def _by_release(records: list[Any]) -> dict[object, list[Any]]:
    """Rows grouped by release, first seen first; rows without a release are in no group."""
    groups: dict[object, list[Any]] = {}
    for r in records:
        if not is_missing(r.release):
            groups.setdefault(r.release, []).append(r)
    return groups


def _summary(published: pd.DataFrame, traces: pd.DataFrame, state: str | None) -> str:
    """One sentence per measure, one clause per release, so no vintages are merged in words."""
    where = state_label(state) if state else _("Mexico")
    parts = []
    if not published.empty:
        frame = published if "category" in published else published.assign(category=None)
        valued = [r for r in rows_of(frame) if not is_missing(r.value)]
        # A single year has both ends, equal (a row without years is a total, as it is drawn).
        single = [
            not is_missing(r.year_start)
            and not is_missing(r.year_end)
            and r.year_start == r.year_end
            for r in valued
        ]
        counts = [r for r, one in zip(valued, single, strict=True) if r.unit != "percent" and one]
        totals = [
            r for r, one in zip(valued, single, strict=True) if r.unit != "percent" and not one
        ]
        shares = [r for r in valued if r.unit == "percent"]
        totals_label = (
            _("totals over several years (in the table, not drawn)")
            if state is None
            else _("totals over several years (drawn as bars across their years, not per year)")
        )
        groups = (
            (_("counts of single years"), counts),
            (_("shares"), shares),
            (totals_label, totals),
        )
        for label, rows in groups:
            clauses = [f"{release}: {_span(group)}" for release, group in _by_release(rows).items()]
            if clauses:
                parts.append(f"{label[:1].upper()}{label[1:]} — {'; '.join(clauses)}.")
    if not traces.empty:
        traced = int(traces["firearms"].sum())
        parts.append(
            ngettext(
                "Loaded trace files: {count} trace.", "Loaded trace files: {count} traces.", traced
            ).format(count=f"{traced:,}")
        )
    if not parts:
        return _("{place}: no published figure in this view.").format(place=where)
    return f"{where}. " + " ".join(parts)


class _ContextFigure(NamedTuple):
    """A figure about a state that its trend does not draw, as the words list it."""

    measure: str
    value: float | None
    unit: str
    value_qualifier: str
    period: str
    release: str  # a NULL release reads "nan", as it always has

    @classmethod
    def rows(cls, frame: pd.DataFrame) -> list["_ContextFigure"]:
        """The frame's figures, each cell converted here once."""
        return [
            cls(
                measure=str(r["measure"]),
                value=optional_number(r["value"]),
                unit=str(r["unit"]),
                value_qualifier=str(r["value_qualifier"]),
                period=str(r["period"]),
                release=str(r["release"]),
            )
            for r in frame.to_dict("records")
        ]


def _context_text(context: pd.DataFrame, where: str) -> str | None:
    """Figures about a state that are not comparable with its trend, said in words."""
    if context.empty:
        return None
    items = "; ".join(
        f"{text.measure_label(r.measure)}: "
        f"{text.format_value(r.value, r.unit, r.value_qualifier)} ({r.period}, {r.release})"
        for r in _ContextFigure.rows(context)
    )
    return _(
        "Also about {place}, not drawn because it is not comparable with the lines above: {items}."
    ).format(place=where, items=items)


@dataclass(frozen=True, eq=False)
class TrendsView:
    """Everything the trends page shows for one state: a plain value, rendered by `render`."""

    state: ViewState  # as the URL writes it
    window: tuple[int, int]  # the years on the axis
    title: str
    figure: dict[str, Any]
    summary: str
    notices: tuple[str, ...]
    published: ChartData
    traces: ChartData | None
    events: ChartData | None
    sources: pd.DataFrame

    @property
    def charts(self) -> tuple[ChartData, ...]:
        return tuple(c for c in (self.published, self.traces, self.events) if c is not None)


def build_view(data: AppData, state: ViewState) -> TrendsView:
    """The chart, its text and its downloads for one normalised state."""
    sources = data.dataset("sources")
    code, kinds = state.state, state.kinds or ()
    published_name = _published_dataset(code)
    # The axis spans the years asked for, and the data's own years for an end not asked; the
    # rows (chart, table, downloads) are filtered by the ends asked only, so a row without years
    # stays in the default view.
    asked = (state.year_from, state.year_to)
    window = _fill_window(
        asked,
        lambda: _default_window(
            _drawable(data.dataset(published_name, Filters(state=code)), code),
            data.dataset("traces-by-year", Filters(state=code)),
        ),
    )
    span = Filters(state=code, year_from=asked[0], year_to=asked[1])
    published = ChartData.of(data, Selection(published_name, span), N_("published figures"))
    traces = ChartData.of(data, Selection("traces-by-year", span), N_("loaded traces"))
    events = (
        ChartData.of(
            data,
            Selection("events", Filters(kinds=kinds, year_from=window[0], year_to=window[1])),
            N_("events"),
        )
        if kinds
        else None
    )
    where = state_label(code) if code else _("Mexico (national)")
    count_title = (
        _("Traced firearms per year")
        if code is None
        else _("{place}: counts (single years as points, multi-year totals as bars)").format(
            place=where
        )
    )
    share_title = (
        _("US-sourced share (%): of guns submitted for tracing unless the line says otherwise")
        if code is None
        else _("{place}: shares (%)").format(place=where)
    )
    drawable = _drawable(published.rows, code)
    figure = figures.trends_figure(
        drawable,
        traces.rows,
        events.rows if events else data.dataset("events").head(0),
        sources=source_labels(data),
        count_title=count_title,
        share_title=share_title,
        x_range=window,
        main_measures=("traced_firearms", "us_sourced_pct") if code is None else (),
        # A state's shares are shares of traces or seizures; the files' US-sourced share is not.
        trace_shares=code is None,
        # A state's figures are mostly multi-year totals: drawn as bars, so its trend is not empty.
        count_spans=code is not None,
    )
    notices = (
        (_("No published figure for {place} in this view.").format(place=where),)
        if published.rows.empty and traces.rows.empty
        else ()
    )
    context = _context_text(_context(published.rows), where) if code else None
    summary = _summary(drawable, traces.rows, code)
    return TrendsView(
        state=state,
        window=window,
        title=_("Trends: {place}").format(place=where),
        figure=figure,
        summary=" ".join(t for t in (summary, context) if t),
        notices=notices,
        published=published,
        traces=traces if not traces.rows.empty else None,
        events=events,
        sources=sources,
    )


def state_from_url(data: AppData, query: dict[str, object]) -> tuple[ViewState, list[str]]:
    """A URL's state, normalised, with every problem of the URL listed."""
    parsed = parse(query, allowed=("state", "kinds", "from", "to"))
    state, problems = normalise(data, parsed.state)
    return state, [*parsed.problems, *problems]
