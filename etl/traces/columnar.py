"""The columnar path: plain lines read by pandas' C parser and checked a column at a time."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from etl.traces.checks import BLANK, CACHE_LIMIT, Lookup, RawCells, RowChecks
from etl.traces.columns import ALLOWED_COLUMNS, FREE_TEXT_COLUMNS, MAX_LENGTHS, US_SOURCED

# The csv module's limit on one cell: a longer line may hold a longer cell, so it is not plain.
FIELD_LIMIT = csv.field_size_limit()
_INT = np.int64


@dataclass
class Accepted:
    """The rows of a stretch of plain lines that passed every check, in line order."""

    positions: np.ndarray  # the index of each accepted line in the stretch
    columns: list[list[Any]]  # TraceRow's columns, each a list with one value per accepted row
    cells: dict[str, np.ndarray]  # the stretch's allow-listed cells as read, by column

    def __len__(self) -> int:
        return len(self.positions)

    def raw_cells(self, index: int) -> RawCells:
        """The allow-listed cells of the `index`-th accepted row as read, should it be rejected."""
        line = self.positions[index]
        return tuple(str(self.cells[name][line]) for name in ALLOWED_COLUMNS)


def _per_value(lookup: Lookup, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lookup applied once per distinct cell text: (codes per row, results per distinct text)."""
    codes, uniques = pd.factorize(column)
    results = np.empty(len(uniques), dtype=object)
    for index, text in enumerate(uniques):
        results[index] = lookup[text]
    return codes, results


def _known(results: np.ndarray) -> np.ndarray:
    return np.fromiter((r is not None for r in results), bool, len(results))


def _is_blank(results: np.ndarray) -> np.ndarray:
    return np.fromiter((r is BLANK for r in results), bool, len(results))


class ColumnarChecks:
    """The plain rows of a stretch checked column by column, with the lookups of `RowChecks`.

    Accepting is all this path does: a row it does not accept, for any reason, goes to
    `RowChecks`, which accepts or rejects it and says why. So this path must only ever accept
    what `RowChecks` accepts, with the same values; a test holds the two paths to that.
    """

    def __init__(self, checks: RowChecks) -> None:
        self.checks = checks
        header = checks.header
        self.width = header.width
        # The allow-listed columns the header has, by their position in a line.
        self.present = [
            (name, index)
            for name, index, here in zip(
                ALLOWED_COLUMNS, header.indices, header.present, strict=True
            )
            if here
        ]
        self.read_columns = sorted(index for _, index in self.present)
        self.dates = DateColumns(checks.dates)

    def _read(self, texts: list[str]) -> dict[str, np.ndarray] | None:
        """The allow-listed cells of plain lines, by column; None if the parser disagrees."""
        data = "".join(texts).encode("utf-8")
        try:
            frame = pd.read_csv(
                io.BytesIO(data),
                header=None,
                names=range(self.width),
                usecols=self.read_columns,  # the other cells never become objects
                dtype=object,
                na_filter=False,
                keep_default_na=False,
                quoting=csv.QUOTE_NONE,
                skip_blank_lines=False,
                engine="c",
                encoding="utf-8",
            )
        except (ValueError, pd.errors.ParserError):
            return None
        if len(frame) != len(texts):
            return None
        empty = np.full(len(texts), "", dtype=object)
        by_index = {index: frame[index].to_numpy(dtype=object) for index in self.read_columns}
        found = dict(self.present)
        return {name: by_index[found[name]] if name in found else empty for name in ALLOWED_COLUMNS}

    def accept(self, texts: list[str]) -> Accepted | None:
        """The rows of `texts` (plain lines, each of the header's width) that pass every check.

        None when the C parser does not read the stretch as one row per line: then every line
        goes through `RowChecks`.
        """
        cells = self._read(texts)
        if cells is None:
            return None
        checks = self.checks
        count = len(texts)
        today, earliest = checks.today, checks.earliest

        stripped = np.empty(count, dtype=object)
        stripped[:] = [text.strip() for text in cells["trace_number"]]
        lengths = np.fromiter(map(len, stripped), _INT, count)
        ok = (lengths > 0) & (lengths <= MAX_LENGTHS["trace_number"])

        recovered = self.dates.rows(cells["recovery_date"])
        r_day = recovered.ordinal
        ok &= recovered.valid & (r_day <= today) & (r_day >= earliest)

        country_codes, countries = _per_value(checks.countries, cells["recovery_country"])
        ok &= _known(countries)[country_codes]
        state_codes, states = _per_value(checks.mx_states, cells["recovery_state"])
        ok &= _known(states)[state_codes]
        firearm_codes, firearms = _per_value(checks.firearms, cells["firearm_type"])
        ok &= _known(firearms)[firearm_codes]
        category_codes, categories = _per_value(checks.categories, cells["source_category"])
        ok &= _known(categories)[category_codes]
        us_sourced = np.fromiter((c in US_SOURCED for c in categories), bool, len(categories))
        us_codes, us_states = _per_value(checks.us_states, cells["source_state"])
        us_blank = _is_blank(us_states)
        ok &= _known(us_states)[us_codes]
        ok &= us_blank[us_codes] | us_sourced[category_codes]  # a US state only for US sources
        us_states[us_blank] = None

        purchased = self.dates.rows(cells["purchase_date"])
        p_day = purchased.ordinal
        ok &= purchased.valid | purchased.blank
        ok &= purchased.blank | ((p_day <= r_day) & (p_day >= earliest))

        day_codes, given = _per_value(checks.integers, cells["time_to_crime_days"])
        ok &= _known(given)[day_codes]
        given_blank = _is_blank(given)[day_codes]
        given_days = np.fromiter((d if isinstance(d, int) else 0 for d in given), _INT, len(given))[
            day_codes
        ]
        has_days = ~given_blank | purchased.valid
        days = np.where(given_blank, r_day - p_day, given_days)
        ok &= ~has_days | ((days >= 0) & (r_day - days >= earliest))

        text_columns = []
        exposed = checks.header.left_exposed
        filled: dict[str, np.ndarray] = {"trace_number": lengths > 0}  # for exposed columns
        for name in FREE_TEXT_COLUMNS:
            codes, uniques = pd.factorize(cells[name])
            texts_of = np.empty(len(uniques), dtype=object)
            texts_of[:] = [checks.texts[text] for text in uniques]
            identifier = checks.identifiers[name]
            fits = np.fromiter(
                (
                    (t is None or len(t) <= MAX_LENGTHS[name]) and not identifier[raw]
                    for t, raw in zip(texts_of, uniques, strict=True)
                ),
                bool,
                len(texts_of),
            )
            ok &= fits[codes]
            text_columns.append(texts_of[codes])
            if name in exposed:
                given = np.fromiter((t is not None for t in texts_of), bool, len(texts_of))
                filled[name] = given[codes]
        if exposed:
            tail = checks.header.unnamed_tail
            if tail:  # the cell under the last named column, found from the line's end
                last_named = (text.rsplit(",", tail + 1)[1] for text in texts)
                ends_blank = np.fromiter((not cell.strip() for cell in last_named), bool, count)
            else:  # the last cell is blank when the line ends in a comma, spaces aside
                ends_blank = np.fromiter(
                    map(str.endswith, map(str.rstrip, texts), repeat(",")), bool, count
                )
            any_filled = np.logical_or.reduce([filled[name] for name in exposed])
            ok &= ~(ends_blank & any_filled)

        pick = np.flatnonzero(ok)
        day_values = days[pick].astype(object)  # Python ints, and None where no days are known
        day_values[~has_days[pick]] = None
        # Columns, not row tuples: cheaper to build, to send to the inserter and to count.
        columns: list[list[Any]] = [
            [checks.file_id] * len(pick),
            stripped[pick].tolist(),
            recovered.value[pick].tolist(),
            recovered.year[pick].tolist(),
            countries[country_codes[pick]].tolist(),
            states[state_codes[pick]].tolist(),
            *(column[pick].tolist() for column in text_columns[:1]),
            firearms[firearm_codes[pick]].tolist(),
            *(column[pick].tolist() for column in text_columns[1:]),
            categories[category_codes[pick]].tolist(),
            us_states[us_codes[pick]].tolist(),
            purchased.value[pick].tolist(),
            day_values.tolist(),
        ]
        return Accepted(pick, columns, cells)


class _Dates:
    """A date column through the date lookup: per row, valid or blank, value, year and day."""

    def __init__(
        self,
        valid: np.ndarray,
        blank: np.ndarray,
        value: np.ndarray,
        year: np.ndarray,
        ordinal: np.ndarray,
    ) -> None:
        self.valid = valid
        self.blank = blank
        self.value = value
        self.year = year
        self.ordinal = ordinal


class DateColumns:
    """The date lookup's results kept as arrays, one entry per distinct text seen in the file.

    Dates repeat across batches but rarely within one, so the results are kept from batch to
    batch: a batch then costs one dict look-up per cell, in C (`map(dict.get)`), and only texts
    not seen before go through the lookup and are appended. A dict grows in place; a pandas
    Index appended to would rebuild its hash table of every text seen for each batch that brings
    new ones (a third of the columnar checks' time). At most CACHE_LIMIT texts are kept; past
    that the arrays start again.
    """

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._start_again()

    def _start_again(self) -> None:
        self._positions: dict[str, int] = {}  # each text seen -> its position in the arrays
        self._arrays: list[np.ndarray] = [
            np.empty(0, bool),
            np.empty(0, bool),
            np.empty(0, object),
            np.empty(0, object),
            np.empty(0, _INT),
        ]

    def _learn(self, texts: list[str]) -> None:
        """Look up texts not seen before and append their results."""
        new = [self.lookup[text] for text in texts]
        size = len(new)
        value = np.empty(size, dtype=object)
        year = np.empty(size, dtype=object)
        for index, result in enumerate(new):
            if isinstance(result, tuple):
                value[index], year[index] = result[0], result[1]
        added = (
            np.fromiter((isinstance(r, tuple) for r in new), bool, size),
            np.fromiter((r is BLANK for r in new), bool, size),
            value,
            year,
            np.fromiter((r[2] if isinstance(r, tuple) else 0 for r in new), _INT, size),
        )
        self._arrays = [
            np.concatenate((kept, more)) for kept, more in zip(self._arrays, added, strict=True)
        ]
        start = len(self._positions)
        self._positions.update(zip(texts, range(start, start + size), strict=True))

    def rows(self, column: np.ndarray) -> _Dates:
        """The results for each cell of `column`."""
        if len(self._positions) > CACHE_LIMIT:
            self._start_again()
        positions = self._positions
        at = np.fromiter(map(positions.get, column, repeat(-1)), np.intp, len(column))
        missing = np.flatnonzero(at < 0)
        if len(missing):
            unseen = column[missing]
            self._learn(list(dict.fromkeys(unseen.tolist())))
            at[missing] = np.fromiter(map(positions.__getitem__, unseen), np.intp, len(unseen))
        valid, blank, value, year, ordinal = self._arrays
        return _Dates(valid[at], blank[at], value[at], year[at], ordinal[at])
