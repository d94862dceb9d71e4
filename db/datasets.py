"""The dataset catalogue shared by the pages, the `/api/v1` downloads and `ironriver export`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pandas as pd
from sqlalchemy import Engine

from db import queries, rates
from db.facts import FactsOf, published_facts
from db.message import Message
from db.queries import Filters, InvalidRequest

__all__ = ["DATASETS", "Dataset", "Filters", "InvalidRequest", "Selection", "write_rows"]

# A dataset's query: (engine, filters) -> rows; queries of published figures also take `facts`, a
# source of a published dataset's every row (the dashboard's per-version cache).
Query = Callable[..., pd.DataFrame]

# The URL filters each kind of dataset applies; any other is refused, never echoed as applied.
FACT_FILTERS = ("from", "to", "year", "measure", "period", "release", "state")
TRACE_FILTERS = ("from", "to", "year", "release", "state")
# Traces by state also take `measure`: count, share or a rate (db/rates.py).
STATE_TRACE_FILTERS = (*TRACE_FILTERS, "measure")
# The measures a page, the API and `ironriver export --measure` offer besides a dataset's own.
MEASURES = ("count", "share", *rates.RATES)


@dataclass(frozen=True)
class Dataset:
    """A named, downloadable dataset: published figures or aggregates of loaded trace files."""

    name: str
    title: str
    query: Query
    published: bool = True
    # URL names of the filters `query` applies.
    filters: tuple[str, ...] = FACT_FILTERS
    # Whether `query` takes `facts` (published datasets' rows, which a cache may supply).
    reads_facts: bool = False

    def refuse_unapplied(self, filters: Filters) -> None:
        """`InvalidRequest` naming any filter this dataset would not apply."""
        ignored = [name for name in filters.as_params() if name not in self.filters]
        if ignored:
            takes = ", ".join(self.filters) if self.filters else Message("no filters")
            raise InvalidRequest(
                Message(
                    "dataset {name} does not filter by {ignored} (it takes {takes})",
                    name=self.name,
                    ignored=", ".join(ignored),
                    takes=takes,
                )
            )


def _facts_query(dataset: str) -> Query:
    def query(engine: Engine, filters: Filters, facts: FactsOf | None = None) -> pd.DataFrame:
        if filters.measure in rates.RATES:
            return rates.published_rates(engine, dataset, filters, facts=facts)
        return published_facts(engine, dataset, filters, facts=facts)

    return query


def _traces_query(dimension: str) -> Query:
    def query(engine: Engine, filters: Filters, facts: FactsOf | None = None) -> pd.DataFrame:
        if filters.measure in rates.RATES:
            return rates.trace_rates(engine, dimension, filters, facts=facts)
        if filters.measure not in (None, "count", "share"):
            raise InvalidRequest(
                Message(
                    "measure {value} is not one of {measures}",
                    value=repr(filters.measure),
                    measures=", ".join(MEASURES),
                )
            )
        return queries.traces_by(engine, dimension, filters)

    return query


_CATALOGUE = (
    Dataset(
        "trace-totals",
        "ATF traces of firearms recovered in Mexico",
        _facts_query("trace-totals"),
        reads_facts=True,
    ),
    Dataset(
        "source-states",
        "US source states of firearms recovered in Mexico",
        _facts_query("source-states"),
        reads_facts=True,
    ),
    Dataset(
        "recovery-states",
        "Firearms seized by Mexican state",
        _facts_query("recovery-states"),
        reads_facts=True,
    ),
    Dataset(
        "corridors",
        "US-state to Mexican-state corridors",
        _facts_query("corridors"),
        reads_facts=True,
    ),
    Dataset(
        "firearm-types",
        "Types of traced firearms and time-to-crime",
        _facts_query("firearm-types"),
        reads_facts=True,
    ),
    Dataset(
        "mx-seizures-national",
        "National firearm seizures in Mexico",
        _facts_query("mx-seizures-national"),
        reads_facts=True,
    ),
    Dataset(
        "us-supply-context",
        "US counties and licensed dealers",
        _facts_query("us-supply-context"),
        reads_facts=True,
    ),
    Dataset(
        "denominators",
        "Denominators for rates: population and licensed dealers by state",
        _facts_query("denominators"),
        reads_facts=True,
    ),
    Dataset(
        "merida-funding",
        "Mérida Initiative funding for Mexico",
        _facts_query("merida-funding"),
        reads_facts=True,
    ),
    Dataset(
        "estimates",
        "Estimates of trafficking: how many, what share, what value",
        queries.estimates,
        filters=("from", "to", "year", "measure"),
    ),
    Dataset(
        "events",
        "GC-Armas and US-Mexico arms-trafficking timeline",
        queries.events,
        filters=("from", "to", "year", "kinds"),
    ),
    Dataset(
        "sources", "Sources: every publication a figure comes from", queries.sources, filters=()
    ),
    Dataset(
        "traces-by-source-state",
        "Loaded traces by US source state",
        _traces_query("source_state"),
        False,
        STATE_TRACE_FILTERS,
        reads_facts=True,
    ),
    Dataset(
        "traces-by-recovery-state",
        "Loaded traces by Mexican recovery state",
        _traces_query("recovery_state"),
        False,
        STATE_TRACE_FILTERS,
        reads_facts=True,
    ),
    Dataset(
        "traces-by-firearm-type",
        "Loaded traces by firearm type",
        _traces_query("firearm_type"),
        False,
        ("from", "to", "year", "release"),  # `state` would be compared with the firearm type
    ),
    Dataset(
        "traces-by-time-to-crime",
        "Loaded traces by time-to-crime band",
        _traces_query("time_to_crime_band"),
        False,
        ("from", "to", "year", "release"),  # `state` would be compared with the time to crime band
    ),
    Dataset(
        "traces-by-year",
        "Loaded traces by recovery year",
        queries.traces_by_year,
        False,
        TRACE_FILTERS,
    ),
)
DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in _CATALOGUE}


@dataclass(frozen=True)
class Selection:
    """A chart's data as one value: a dataset and the filters it applies.

    The rows a chart is drawn from (`rows`) and the download link under it (`url`) both come
    from this value, so a link cannot disagree with its rows; the API parses a link back into the
    same value (`from_query`).
    """

    dataset: str
    filters: Filters = field(default_factory=Filters)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise InvalidRequest(f"unknown dataset {self.dataset!r}")
        DATASETS[self.dataset].refuse_unapplied(self.filters)

    @classmethod
    def from_query(cls, dataset: str, query: Mapping[str, object]) -> Selection:
        """The selection a download link names, or `InvalidRequest` (a 400) for any bad filter."""
        return cls(dataset, Filters.from_args(query))

    def rows(self, engine: Engine, facts: FactsOf | None = None) -> pd.DataFrame:
        """Exactly the rows a chart of this selection draws and its download returns.

        `facts` may supply published datasets' every row (a cache of `dataset_facts`);
        the rows are the same either way.
        """
        dataset = DATASETS[self.dataset]
        if facts is not None and dataset.reads_facts:
            return dataset.query(engine, self.filters, facts)
        return dataset.query(engine, self.filters)

    def url(self, fmt: str = "csv") -> str:
        """`/api/v1/<dataset>.<fmt>?<filters>`: the download of exactly `rows`."""
        query = urlencode(self.filters.as_params())
        return f"/api/v1/{self.dataset}.{fmt}" + (f"?{query}" if query else "")


# Spreadsheet programs run cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with a quote; numbers pass."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def _jsonable(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[union-attr]
    if hasattr(value, "item"):
        return value.item()  # type: ignore[union-attr]
    return value


def write_rows(
    frame: pd.DataFrame,
    fmt: str,
    *,
    bom: bool = False,
    meta: Mapping[str, object] | None = None,
    chunk_rows: int = 2000,
) -> Iterator[str]:
    """Serialise `frame` as CSV (formula-safe) or JSON, in chunks, so large results stream."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff" if bom else "")
        writer.writerow(frame.columns)
        # At least one pass, so an empty result still yields its header.
        for start in range(0, max(len(frame), 1), chunk_rows):
            for row in frame.iloc[start : start + chunk_rows].itertuples(index=False):
                writer.writerow(["" if _jsonable(v) is None else neutralise(v) for v in row])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        return
    if fmt != "json":
        raise InvalidRequest(f"unknown format {fmt!r}; use csv or json")
    yield (
        "{"
        + "".join(f"{json.dumps(k)}: {json.dumps(v)}, " for k, v in (meta or {}).items())
        + '"rows": ['
    )
    columns = list(frame.columns)
    for index, row in enumerate(frame.itertuples(index=False)):
        record = {c: _jsonable(v) for c, v in zip(columns, row, strict=True)}
        yield ("," if index else "") + json.dumps(record, ensure_ascii=False)
    yield "]}\n"
