"""Published figures: every row of a dataset read once, and the selections a view or download makes of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, select

from db.models import Fact, Source
from db.queries import MEASURE_UNITS, Filters, state_iso_codes, whole_numbers


@dataclass(frozen=True)
class FactRows:
    """Every row of one published dataset as the database returned them (a few hundred at
    most), in load order, and the ISO codes of the states: what `published_facts` selects from."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    iso: Mapping[str, str]


def dataset_facts(engine: Engine, dataset: str) -> FactRows:
    """Every row of published dataset `dataset`, with each row's source and citation."""
    query: Select = (
        select(
            Fact.measure,
            Fact.period,
            Fact.year_start,
            Fact.year_end,
            Fact.release,
            Fact.geo_level,
            Fact.geo_code,
            Fact.geo_name,
            Fact.partner_code,
            Fact.partner_name,
            Fact.category,
            Fact.value,
            Fact.value_qualifier,
            Fact.unit,
            Fact.status,
            Fact.source_id,
            Fact.also_source_ids,
            Source.citation,
            Source.url.label("source_url"),
            Fact.note,
        )
        .join(Source, Source.id == Fact.source_id)
        .where(Fact.dataset == dataset)
        .order_by(Fact.id)
    )
    with engine.connect() as connection:
        result = connection.execute(query)
        columns = tuple(result.keys())
        rows = tuple(tuple(row) for row in result)
    return FactRows(columns, rows, state_iso_codes(engine))


def _kept_by(filters: Filters, columns: tuple[str, ...]) -> Callable[[tuple[Any, ...]], bool]:
    """Whether a row of `columns` passes `filters`, as SQL's WHERE would say: NULL matches none."""
    at = {name: columns.index(name) for name in columns}
    tests: list[Callable[[tuple[Any, ...]], bool]] = []
    start, end = at["year_start"], at["year_end"]
    if filters.year is not None:
        year = filters.year
        tests.append(lambda r: r[start] is not None and r[start] == year and r[end] == year)
    if filters.year_from is not None:
        first = filters.year_from
        tests.append(lambda r: r[start] is not None and r[start] >= first)
    if filters.year_to is not None:
        last = filters.year_to
        tests.append(lambda r: r[end] is not None and r[end] <= last)
    unit = at["unit"]
    if filters.measure == "count":
        tests.append(lambda r: r[unit] is not None and r[unit] != "percent")
    elif filters.measure == "share":
        tests.append(lambda r: r[unit] == "percent")
    for column, wanted in (
        ("measure", None if filters.measure in MEASURE_UNITS else filters.measure),
        ("period", filters.period),
        ("release", filters.release),
        ("geo_code", filters.state),
    ):
        if wanted is not None:
            tests.append(_equals(at[column], wanted))
    return lambda row: all(test(row) for test in tests)


def _equals(index: int, wanted: str) -> Callable[[tuple[Any, ...]], bool]:
    return lambda row: row[index] is not None and row[index] == wanted


# Every row of a published dataset by its name, as `dataset_facts` reads them: a cache (the
# dashboard's, per data version) can supply them, so that a selection of them costs no query.
FactsOf = Callable[[str], FactRows]


def published_facts(
    engine: Engine,
    dataset: str,
    filters: Filters = Filters(),
    *,
    facts: FactsOf | None = None,
) -> pd.DataFrame:
    """Rows of one published dataset with each row's source and citation.

    The rows are selected from the dataset's every row (`dataset_facts`, or `facts` if given)
    and typed as `pd.read_sql` types the rows of a query that selects them.
    """
    every = facts(dataset) if facts is not None else dataset_facts(engine, dataset)
    kept = _kept_by(filters, every.columns)
    frame = pd.DataFrame.from_records(
        [row for row in every.rows if kept(row)], columns=list(every.columns), coerce_float=True
    )
    for name in ("value", "year_start", "year_end"):
        frame[name] = whole_numbers(frame[name])
    frame["status"] = frame["status"].map(str)
    single_state = frame["geo_level"].isin(("us_state", "mx_state"))
    frame.insert(
        list(frame.columns).index("geo_name") + 1,
        "geo_iso",
        frame["geo_code"].map(every.iso).where(single_state, None),
    )
    frame.insert(
        list(frame.columns).index("partner_name") + 1,
        "partner_iso",
        frame["partner_code"].map(every.iso),
    )
    return frame
