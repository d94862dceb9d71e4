"""DERIVED rates: a state's count per 100,000 residents or per 100 licensed dealers, per year.

A rate is count / years counted / denominator x scale. Every rate row keeps the count, the
denominator, the denominator's year and both citations; a state without a published denominator
gets no rate (never an estimated one), and a count far in time from its denominator says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from db import queries
from db.facts import FactsOf, published_facts
from db.message import Message
from db.queries import DENOMINATORS, Filters

# Count and denominator years further apart than this are named in the rate's note.
CLOSE_YEARS = 3
STATE_LEVELS = ("us_state", "mx_state")
# The rate columns every rate download has, after the columns of the counts it comes from.
RATE_COLUMNS = [
    "count",
    "count_years",
    "denominator",
    "denominator_unit",
    "denominator_year",
    "denominator_source_id",
    "denominator_citation",
    "rate",
    "rate_unit",
    "rate_note",
]


@dataclass(frozen=True)
class RateMeasure:
    """One rate: which published denominator it divides by, and its scale and words."""

    name: str
    denominator: str  # the `measure` of the denominator rows in the `denominators` dataset
    scale: int
    unit: str
    denominator_unit: str


RATES: dict[str, RateMeasure] = {
    rate.name: rate
    for rate in (
        RateMeasure(
            "per_100k",
            "population",
            100_000,
            Message("per 100,000 residents per year"),
            Message("residents"),
        ),
        RateMeasure(
            "per_100_dealers",
            "licensed_dealers",
            100,
            Message("per 100 licensed dealers per year"),
            Message("licensed dealers"),
        ),
    )
}


def denominators(engine: Engine, rate: RateMeasure, facts: FactsOf | None = None) -> pd.DataFrame:
    """The published denominators of `rate` by state code (code, value, year, source, citation);
    `facts` may supply the denominators dataset's rows (see `published_facts`)."""
    rows = published_facts(engine, DENOMINATORS, Filters(measure=rate.denominator), facts=facts)
    rows = rows[rows["geo_level"].isin(STATE_LEVELS) & rows["value"].notna()]
    return rows.rename(columns={"geo_code": "code"})[
        ["code", "value", "year_end", "source_id", "citation"]
    ].drop_duplicates("code")


def _span(start: object, end: object) -> tuple[int, int] | None:
    years = [int(y) for y in (start, end) if y is not None and not pd.isna(y)]  # type: ignore[call-overload]
    return (min(years), max(years)) if years else None


def _years_apart(span: tuple[int, int], year: int) -> int:
    return 0 if span[0] <= year <= span[1] else min(abs(year - span[0]), abs(year - span[1]))


def _significant(value: float, digits: int = 3) -> float:
    """Three significant digits: 16.5 per 100,000 and 0.00412 per 100,000 both keep their meaning."""
    if value == 0:
        return 0.0
    return round(value, max(2, digits - 1 - math.floor(math.log10(abs(value)))))


def _rate_row(
    count: object, span: tuple[int, int] | None, denominator: pd.Series | None, rate: RateMeasure
) -> dict[str, object]:
    years_text = (
        "" if span is None else f"{span[0]}" + (f"–{span[1]}" if span[1] != span[0] else "")
    )
    out: dict[str, object] = {"count": count, "count_years": years_text}
    out.update(dict.fromkeys(RATE_COLUMNS[2:], None))
    out["rate_unit"] = rate.unit
    if denominator is None:
        out["rate_note"] = Message(
            "no denominator: no published count of {unit} for this state, so no rate",
            unit=rate.denominator_unit,
        )
        return out
    year = int(denominator["year_end"])
    out.update(
        denominator=denominator["value"],
        denominator_unit=rate.denominator_unit,
        denominator_year=year,
        denominator_source_id=denominator["source_id"],
        denominator_citation=denominator["citation"],
    )
    if count is None or pd.isna(count):  # type: ignore[call-overload]
        out["rate_note"] = Message("no published count for this state, so no rate")
        return out
    if span is None:
        out["rate_note"] = Message("the count has no stated years, so no yearly rate")
        return out
    n_years = span[1] - span[0] + 1
    value = float(count) / n_years / float(denominator["value"]) * rate.scale  # type: ignore[arg-type]
    out["rate"] = _significant(value)
    note = Message(
        "DERIVED: {count} firearms / {years} / {denominator} {unit} ({year}) x {scale}",
        count=count,
        years=Message("{count} years", count=n_years)
        if n_years > 1
        else Message("{count} year", count=n_years),
        denominator=f"{denominator['value']:,}",
        unit=rate.denominator_unit,
        year=year,
        scale=f"{rate.scale:,}",
    )
    apart = _years_apart(span, year)
    if apart > CLOSE_YEARS:
        note = Message(
            "{note}; the count ({count_years}) and the denominator ({year}) are {apart} years "
            "apart, so the rate is only indicative",
            note=note,
            count_years=years_text,
            year=year,
            apart=apart,
        )
    out["rate_note"] = note
    return out


def with_rates(
    counts: pd.DataFrame,
    codes: pd.Series,
    spans: list[tuple[int, int] | None],
    count_values: pd.Series,
    denominators: pd.DataFrame,
    rate: RateMeasure,
) -> pd.DataFrame:
    """`counts` with the rate columns appended; `status` becomes DERIVED, the count's is kept."""
    by_code = denominators.set_index("code")
    rows = [
        _rate_row(value, span, by_code.loc[code] if code in by_code.index else None, rate)
        for code, span, value in zip(codes, spans, count_values, strict=True)
    ]
    out = counts.reset_index(drop=True).copy()
    out["count_status"] = out["status"]
    out["status"] = "DERIVED"
    extra = pd.DataFrame(rows, columns=RATE_COLUMNS, dtype=object)
    for column in RATE_COLUMNS:
        out[column] = extra[column]
    return out


def published_rates(
    engine: Engine, dataset: str, filters: Filters, *, facts: FactsOf | None = None
) -> pd.DataFrame:
    """Rates of a published dataset's state counts (firearms), with count and denominator;
    `facts` may supply published datasets' rows (see `published_facts`)."""
    rate = RATES[filters.measure or ""]
    rows = published_facts(engine, dataset, _counts_of(filters), facts=facts)
    rows = rows[rows["geo_level"].isin(STATE_LEVELS) & (rows["unit"] == "firearms")]
    rows = rows.drop(columns=["unit"]).rename(columns={"value_qualifier": "count_qualifier"})
    spans = [_span(s, e) for s, e in zip(rows["year_start"], rows["year_end"], strict=True)]
    out = with_rates(
        rows, rows["geo_code"], spans, rows["value"], denominators(engine, rate, facts), rate
    )
    return out.drop(columns=["value"])


def trace_rates(
    engine: Engine, dimension: str, filters: Filters, *, facts: FactsOf | None = None
) -> pd.DataFrame:
    """Rates of loaded traces by US source state or Mexican recovery state, per trace file.

    Without a year filter the count spans every year the file has traces for; `facts` may supply
    the denominators' rows (see `published_facts`).
    """
    rate = RATES[filters.measure or ""]
    rows = queries.traces_by(engine, dimension, _counts_of(filters))
    files = queries.trace_files(engine).set_index("checksum")
    spans: list[tuple[int, int] | None] = []
    for checksum, start, end in zip(
        rows["file_checksum"], rows["year_from"], rows["year_to"], strict=True
    ):
        whole = files.loc[checksum] if checksum in files.index else None
        span = _span(start, end)
        if span is None and whole is not None:
            span = _span(whole["year_min"], whole["year_max"])
        elif span is not None and whole is not None:
            # `from`/`to` may reach past the file's years; it counts only the years it has.
            span = (max(span[0], int(whole["year_min"])), min(span[1], int(whole["year_max"])))
            span = span if span[0] <= span[1] else None
        spans.append(span)
    out = with_rates(
        rows.drop(columns=["share_pct"]),
        rows[dimension],
        spans,
        rows["firearms"],
        denominators(engine, rate, facts),
        rate,
    )
    return out.drop(columns=["firearms"])


def _counts_of(filters: Filters) -> Filters:
    """The same filters asking for the counts a rate divides."""
    return Filters.build(**{**vars(filters), "measure": "count"})
