"""Aggregates of one loaded file per year and dimension, counted as its rows are inserted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from etl.traces.arrays import integers, to_numpy
from etl.traces.columns import (
    TTC_BANDS,
    TTC_TOP_BAND,
    TTC_UNKNOWN_BAND,
    US_SOURCED,
)
from etl.traces.rows import ROW_SCHEMA, rows_table

AGGREGATE_DIMENSIONS: tuple[str, ...] = (
    "total",
    "recovery_state",
    "firearm_type",
    "source_category",
    "source_state",
    "us_sourced_by_mx_state",
    "time_to_crime_band",
)
# The columns `AggregateCounts.add` reads: a table of these alone can be counted.
COUNTED_COLUMNS: tuple[str, ...] = (
    "recovery_year",
    "recovery_state",
    "firearm_type",
    "source_category",
    "source_state",
    "time_to_crime_days",
)
_COUNTED_SCHEMA = pa.schema([ROW_SCHEMA.field(name) for name in COUNTED_COLUMNS])
_BAND_LIMITS = np.array([limit for limit, _ in TTC_BANDS], dtype=np.float64)
_BAND_LABELS = np.array([*(label for _, label in TTC_BANDS), TTC_TOP_BAND], dtype=object)


_BAND_KEYS = [*_BAND_LABELS.tolist(), TTC_UNKNOWN_BAND]


def _band_codes(days: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each number of days' position in `_BAND_KEYS` (`ttc_band`, at once)."""
    values = to_numpy(days.cast(pa.float64()), null=np.nan)
    codes = np.searchsorted(_BAND_LIMITS, np.nan_to_num(values), side="right")
    codes[np.isnan(values)] = len(_BAND_KEYS) - 1
    return codes


def _tally(
    counter: Counter[Any],
    year_codes: np.ndarray,
    years: list[int],
    codes: np.ndarray,
    keys: list[Any],
    rows: np.ndarray | None = None,
) -> None:
    """Count rows per (year, key) from codes (-1: no key, not counted), with `np.bincount`."""
    if rows is not None:
        year_codes, codes = year_codes[rows], codes[rows]
    known = codes >= 0
    flat = year_codes[known] * len(keys) + codes[known]
    tallies = np.bincount(flat, minlength=len(years) * len(keys))
    for index in np.flatnonzero(tallies).tolist():
        year, key = divmod(index, len(keys))
        counter[(years[year], keys[key])] += int(tallies[index])


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """(code per row, the distinct values) of a column; a null's code is -1."""
    encoded = column.combine_chunks().dictionary_encode(null_encoding="encode")
    codes = to_numpy(encoded.indices).astype(np.intp)
    keys = encoded.dictionary.to_pylist()
    if None in keys:  # the nulls' entry: no key
        codes[codes == keys.index(None)] = -1
    return codes, keys


def ttc_band(days: int | None) -> str:
    """The time-to-crime band of a number of days (a year counts 365 days), as the aggregates
    count it."""
    return _BAND_KEYS[int(_band_codes(integers([days]))[0])]


class AggregateCounts:
    """One file's inserted rows counted per year and dimension, batch by batch, as they go in.

    Counting while parsing avoids scanning the file's rows once per dimension after the load
    (a fifth of the load time at 1M rows): each batch is counted where it is parsed, and rows the
    inserter then leaves out are taken away. Memory is bounded by years x keys, not by rows.
    """

    def __init__(self) -> None:
        self.counters: dict[str, Counter[Any]] = {name: Counter() for name in AGGREGATE_DIMENSIONS}

    def add(self, rows: pa.Table) -> None:
        """Count a batch of rows (a table of TraceRow's columns): each column is dictionary-encoded
        once and every dimension is one `np.bincount` of (year, key) codes."""
        if not rows.num_rows:
            return
        year_codes, year_list = _codes(rows.column("recovery_year"))
        counters = self.counters
        per_year = np.bincount(year_codes, minlength=len(year_list))
        for year, count in zip(year_list, per_year.tolist(), strict=True):
            counters["total"][year] += count
        coded = {}
        for dimension in ("recovery_state", "firearm_type", "source_category", "source_state"):
            coded[dimension] = _codes(rows.column(dimension))
        for dimension in ("recovery_state", "firearm_type", "source_category"):
            _tally(counters[dimension], year_codes, year_list, *coded[dimension])
        category_codes, category_keys = coded["source_category"]
        us_sourced = np.flatnonzero(
            np.array([key in US_SOURCED for key in category_keys], dtype=bool)[category_codes]
        )
        # Rows without a US state have no code: they are counted in no state.
        _tally(counters["source_state"], year_codes, year_list, *coded["source_state"], us_sourced)
        # A Mexican state's US-sourced share needs this pair; the trends page reads it per state.
        _tally(
            counters["us_sourced_by_mx_state"],
            year_codes,
            year_list,
            *coded["recovery_state"],
            us_sourced,
        )
        _tally(
            counters["time_to_crime_band"],
            year_codes,
            year_list,
            _band_codes(rows.column("time_to_crime_days")),
            _BAND_KEYS,
        )

    def add_tuples(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Count rows given as plain tuples of COUNTED_COLUMNS (rows read back from a database)."""
        self.add(rows_table(rows, _COUNTED_SCHEMA))

    def merge(self, other: AggregateCounts, *, sign: int = 1) -> None:
        """Add (or, with sign=-1, take away) the counts of `other`."""
        for dimension, counts in other.counters.items():
            if sign > 0:
                self.counters[dimension].update(counts)
            else:
                self.counters[dimension].subtract(counts)

    def rows(self, trace_file_id: int) -> list[dict[str, Any]]:
        """trace_aggregates rows, by dimension, year and key."""
        rows: list[dict[str, Any]] = []
        for dimension in AGGREGATE_DIMENSIONS:
            counts = self.counters[dimension]
            if dimension == "total":
                items = sorted(((year, None), n) for year, n in counts.items())
            else:
                items = sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] or ""))
            rows.extend(
                {
                    "trace_file_id": trace_file_id,
                    "dimension": dimension,
                    "year": year,
                    "key": key,
                    "firearms": firearms,
                }
                for (year, key), firearms in items
                if firearms  # a count taken back to zero is no row
            )
        return rows
