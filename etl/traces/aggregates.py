"""Aggregates of one loaded file per year and dimension, counted as its rows are inserted."""

from __future__ import annotations

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
_BAND_DAYS = np.array([limit for limit, _ in TTC_BANDS], dtype=np.int64)
_BAND_LABELS = np.array([*(label for _, label in TTC_BANDS), TTC_TOP_BAND], dtype=object)


_BAND_KEYS = [*_BAND_LABELS.tolist(), TTC_UNKNOWN_BAND]
# The one key of the "total" dimension (stored as no key): every row of a year.
_ALL = "*"


def _band_codes(days: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each number of days' position in `_BAND_KEYS` (`ttc_band`, at once)."""
    return band_codes(to_numpy(days, null=0), to_numpy(days.is_valid()))


def band_codes(days: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each whole number of days as its band's position in the band keys; where not `known`
    (no number), the unknown band's."""
    codes = np.searchsorted(_BAND_DAYS, days, side="right")
    codes[~known] = len(_BAND_KEYS) - 1
    return codes


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """(code per row, the distinct values) of a column; a null's code is -1."""
    encoded = column.combine_chunks().dictionary_encode(null_encoding="encode")
    codes = to_numpy(encoded.indices).astype(np.intp)
    keys = encoded.dictionary.to_pylist()
    if None in keys:  # the nulls' entry: no key
        codes[codes == keys.index(None)] = -1
    return codes, keys


def year_codes(years: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(code per row, the years coded) of recovery years: each year's offset from the earliest,
    found without hashing (the years of a file span a few decades)."""
    if not len(years):
        return np.zeros(0, np.intp), []
    earliest = int(years.min())
    return (years - earliest).astype(np.intp), list(range(earliest, int(years.max()) + 1))


class _Grid:
    """Counts per (year, key) of one dimension, a numpy array grown as years and keys appear:
    a batch is added with a few array operations, never a Python step per (year, key)."""

    __slots__ = ("cells", "key_at", "keys", "year_at", "years")

    def __init__(self) -> None:
        self.years: list[int] = []
        self.year_at: dict[int, int] = {}
        self.keys: list[Any] = []
        self.key_at: dict[Any, int] = {}
        self.cells = np.zeros((0, 0), dtype=np.int64)

    def _places(self, values: list[Any], at: dict[Any, int], known: list[Any]) -> np.ndarray:
        for value in values:
            if value not in at:
                at[value] = len(known)
                known.append(value)
        return np.fromiter((at[value] for value in values), np.intp, len(values))

    def add(self, years: list[int], keys: list[Any], counts: np.ndarray, sign: int = 1) -> None:
        """Add `counts` (one row per year of `years`, one column per key of `keys`; keys may
        repeat, a None key is no key and not counted)."""
        has_key = np.fromiter((key is not None for key in keys), bool, len(keys))
        if not has_key.all():
            keys = [key for key in keys if key is not None]
            counts = counts[:, has_key]
        rows = self._places(years, self.year_at, self.years)
        columns = self._places(keys, self.key_at, self.keys)
        if self.cells.shape != (len(self.years), len(self.keys)):
            grown = np.zeros((len(self.years), len(self.keys)), dtype=np.int64)
            grown[: self.cells.shape[0], : self.cells.shape[1]] = self.cells
            self.cells = grown
        np.add.at(self.cells, np.ix_(rows, columns), counts if sign > 0 else -counts)

    def items(self) -> list[tuple[tuple[int, Any], int]]:
        """((year, key), count) of every count not zero."""
        years, keys = self.years, self.keys
        return [
            ((years[row], keys[column]), int(self.cells[row, column]))
            for row, column in zip(*np.nonzero(self.cells), strict=True)
        ]


def _grid_counts(
    year_codes: np.ndarray,
    years: list[int],
    codes: np.ndarray,
    keys: list[Any],
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Rows counted per (year, key code) with one `np.bincount` (a code of -1: not counted)."""
    if rows is not None:
        year_codes, codes = year_codes[rows], codes[rows]
    known = codes >= 0
    if not known.all():
        year_codes, codes = year_codes[known], codes[known]
    flat = year_codes * len(keys) + codes
    return np.bincount(flat, minlength=len(years) * len(keys)).reshape(len(years), len(keys))


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
        self.grids: dict[str, _Grid] = {name: _Grid() for name in AGGREGATE_DIMENSIONS}

    def add(self, rows: pa.Table) -> None:
        """Count a batch of rows (a table of TraceRow's columns): each text column is
        dictionary-encoded once and every dimension is one `np.bincount` of (year, key) codes."""
        if not rows.num_rows:
            return
        self.add_coded(
            year_codes(to_numpy(rows.column("recovery_year"))),
            {
                dimension: _codes(rows.column(dimension))
                for dimension in (
                    "recovery_state",
                    "firearm_type",
                    "source_category",
                    "source_state",
                )
            },
            _band_codes(rows.column("time_to_crime_days")),
        )

    def add_coded(
        self,
        years: tuple[np.ndarray, list[int]],
        coded: dict[str, tuple[np.ndarray, list[Any]]],
        band_codes: np.ndarray,
    ) -> None:
        """Count rows given as codes: their (year code, years), per text dimension (code per
        row, the value of each code: values may repeat, a code of -1 or a None value is no
        value), and their time-to-crime bands' positions in the band keys."""
        year_code, year_list = years
        if not len(year_code):
            return
        grids = self.grids
        per_year = np.bincount(year_code, minlength=len(year_list))
        grids["total"].add(year_list, [_ALL], per_year.reshape(-1, 1))
        for dimension in ("recovery_state", "firearm_type", "source_category"):
            codes, keys = coded[dimension]
            grids[dimension].add(year_list, keys, _grid_counts(year_code, year_list, codes, keys))
        category_codes, category_keys = coded["source_category"]
        us_sourced = np.flatnonzero(
            np.array([key in US_SOURCED for key in category_keys], dtype=bool)[category_codes]
        )
        # Rows without a US state have no code: they are counted in no state.
        codes, keys = coded["source_state"]
        grids["source_state"].add(
            year_list, keys, _grid_counts(year_code, year_list, codes, keys, us_sourced)
        )
        # A Mexican state's US-sourced share needs this pair; the trends page reads it per state.
        codes, keys = coded["recovery_state"]
        grids["us_sourced_by_mx_state"].add(
            year_list, keys, _grid_counts(year_code, year_list, codes, keys, us_sourced)
        )
        grids["time_to_crime_band"].add(
            year_list, _BAND_KEYS, _grid_counts(year_code, year_list, band_codes, _BAND_KEYS)
        )

    def add_tuples(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Count rows given as plain tuples of COUNTED_COLUMNS (rows read back from a database)."""
        self.add(rows_table(rows, _COUNTED_SCHEMA))

    def merge(self, other: AggregateCounts, *, sign: int = 1) -> None:
        """Add (or, with sign=-1, take away) the counts of `other`."""
        for dimension, grid in other.grids.items():
            self.grids[dimension].add(grid.years, grid.keys, grid.cells, sign)

    def rows(self, trace_file_id: int) -> list[dict[str, Any]]:
        """trace_aggregates rows, by dimension, year and key."""
        rows: list[dict[str, Any]] = []
        for dimension in AGGREGATE_DIMENSIONS:
            counts = self.grids[dimension].items()
            items = sorted(counts, key=lambda item: (item[0][0], item[0][1] or ""))
            rows.extend(
                {
                    "trace_file_id": trace_file_id,
                    "dimension": dimension,
                    "year": year,
                    "key": None if dimension == "total" else key,
                    "firearms": firearms,
                }
                for (year, key), firearms in items
                if firearms  # a count taken back to zero is no row
            )
        return rows
