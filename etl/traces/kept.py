"""Lookups' results kept across a file's batches: vocabulary, free-text, date and day-count cells.

The columnar checks (`columnar.ColumnarChecks`) ask these for each batch's cells: a cell whose
text was seen before costs one hash probe, and only new texts go through `RowChecks`' lookups,
so each column gets exactly the verdicts and values the row-wise checks give its texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.traces.arrays import fixed_width_strings, fixed_width_texts, from_numpy, strings, to_numpy
from etl.traces.checks import BLANK, CACHE_LIMIT, Lookup

_INT = np.int64


@dataclass(frozen=True)
class _Dates:
    """A date column through the date lookup: per row, valid or blank, year and day; its ISO
    texts are taken only for the rows stored (one `take` of text, not two)."""

    valid: np.ndarray
    blank: np.ndarray
    year: np.ndarray
    ordinal: np.ndarray
    at: np.ndarray  # each row's place among the kept texts
    texts: pa.Array  # the ISO text of each kept text, null if it is not a date

    def value_at(self, rows: np.ndarray) -> pa.Array:
        """The ISO text (null if none) of these rows."""
        return self.texts.take(from_numpy(self.at[rows]))


class KeptResults:
    """A lookup's results kept as arrays, one entry per distinct text seen in the file.

    Texts repeat across batches, so the results are kept from batch to batch: a batch then costs
    one hash probe per cell against the texts seen (Arrow's `index_in`, in C), and only texts not
    seen before go through the lookup and are appended. Past `limit` texts the arrays start
    again: that bounds their memory, and the work of `index_in`, which hashes its value set
    again at every call.
    """

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._start_again()

    @property
    def limit(self) -> int:
        """How many texts are kept before the arrays start again."""
        return CACHE_LIMIT

    def _fields(self, texts: list[str], results: list[Any]) -> list[Any]:
        """The lookup's results for new texts as arrays (numpy, or Arrow for text), one per field."""
        raise NotImplementedError

    def _start_again(self) -> None:
        self._seen = strings([])  # each text seen, at its position in the arrays
        self._kept = self._fields_of(self._seen)

    def _fields_of(self, texts: pa.Array) -> list[Any]:
        """The fields of texts not seen before, each text through the lookup."""
        listed = texts.to_pylist()
        return self._fields(listed, [self.lookup[text] for text in listed])

    def _learn(self, texts: pa.Array) -> None:
        """Look up texts not seen before and append their results."""
        added = self._fields_of(texts)
        self._kept = [
            pa.concat_arrays([kept, more])
            if isinstance(kept, pa.Array)
            else np.concatenate((kept, more))
            for kept, more in zip(self._kept, added, strict=True)
        ]
        self._seen = pa.concat_arrays([self._seen, texts])

    def _positions(self, column: pa.Array) -> np.ndarray:
        """Where each cell's text is in the kept arrays."""
        if len(self._seen) > self.limit:
            self._start_again()
        found = pc.index_in(column, value_set=self._seen)
        if not found.null_count:
            return to_numpy(found)
        # Texts not seen before: looked up, appended, and found among those alone.
        unseen = to_numpy(found.is_null())
        new_cells = column.filter(from_numpy(unseen))
        new_texts = pc.unique(new_cells)
        known = len(self._seen)
        self._learn(new_texts)
        positions = np.empty(len(column), dtype=_INT)
        positions[~unseen] = to_numpy(found.drop_null())
        added = to_numpy(pc.index_in(new_cells, value_set=new_texts))
        positions[unseen] = added + known
        return positions


# Texts a vocabulary or free-text column keeps across batches. Its value set is hashed again for
# each batch, so past a few thousand texts (a column of mostly distinct cells) it costs more than
# hashing the batch's cells alone: then the kept texts start again.
VALUE_SET_LIMIT = 4096


@dataclass(frozen=True)
class _Coded:
    """A vocabulary column of one batch: each cell's place among the kept texts, and per text
    the lookup's verdict, the value stored and that value's place among `keys`."""

    at: np.ndarray  # each cell's text, as its place in the arrays below
    known: np.ndarray  # the lookup read the text (a value, or blank where blank is allowed)
    blank: np.ndarray  # the text is blank
    key: np.ndarray  # the value's place in `keys`; -1 for none (blank or unread)
    stored: pa.Array  # the value stored, null for none
    keys: tuple[str, ...]  # every value met, each once

    def of_keys(self, flags: list[bool]) -> np.ndarray:
        """A flag per key (in `keys` order) as a flag per text: False for a text with no value."""
        return np.append(np.asarray(flags, dtype=bool), False)[self.key]

    def stored_at(self, rows: np.ndarray) -> pa.Array:
        """The values stored for these rows, taken in C."""
        return self.stored.take(from_numpy(self.at[rows]))

    def keys_at(self, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """These rows' values for the aggregates: (a code per row, -1 for none; the keys)."""
        return self.key[self.at[rows]], list(self.keys)


class KeptCodes(KeptResults):
    """A vocabulary column's cells through its lookup (a value, BLANK or None), kept across batches.

    Hashing a batch's cells against the texts already seen costs less than encoding them afresh
    (Arrow's `dictionary_encode` builds a new dictionary each batch, which then goes through the
    lookups in Python again), and the values stored are taken from one kept Arrow array.
    """

    def __init__(self, lookup: Lookup) -> None:
        self._keys: tuple[str, ...] = ()
        self._key_at: dict[str, int] = {}
        super().__init__(lookup)

    @property
    def limit(self) -> int:
        return VALUE_SET_LIMIT

    def _start_again(self) -> None:
        self._key_at = {}  # `_fields` then makes `_keys` from it
        super()._start_again()

    def _fields(self, texts: list[str], results: list[Any]) -> list[Any]:
        size = len(results)
        for value in results:
            if isinstance(value, str) and value not in self._key_at:
                self._key_at[value] = len(self._key_at)
        self._keys = tuple(self._key_at)
        return [
            np.fromiter((r is not None for r in results), bool, size),
            np.fromiter((r is BLANK for r in results), bool, size),
            np.fromiter(
                (self._key_at[r] if isinstance(r, str) else -1 for r in results), np.intp, size
            ),
            strings([r if isinstance(r, str) else None for r in results]),
        ]

    def coded(self, column: pa.Array) -> _Coded:
        """The column's cells as places among the texts seen, with the kept results."""
        at = self._positions(column)
        known, blank, key, stored = self._kept
        return _Coded(at, known, blank, key, stored, self._keys)


@dataclass(frozen=True)
class _Texts:
    """A free-text column of one batch: each cell's place among the kept texts, and per text
    whether it fits the column, whether it is given, and the text stored."""

    at: np.ndarray
    fits: np.ndarray  # not over the column's width, not shaped like an identifier
    given: np.ndarray  # not blank
    stored: pa.Array  # the text stripped, null if blank

    def stored_at(self, rows: np.ndarray) -> pa.Array:
        """The texts stored for these rows, taken in C."""
        return self.stored.take(from_numpy(self.at[rows]))


class KeptTexts(KeptResults):
    """A free-text column's cells (stripped, None if blank), with the column's width and its
    identifier check, kept across batches."""

    def __init__(self, lookup: Lookup, identifier: Lookup, width: int) -> None:
        self.identifier = identifier
        self.width = width
        super().__init__(lookup)

    @property
    def limit(self) -> int:
        return VALUE_SET_LIMIT

    def _fields(self, texts: list[str], results: list[Any]) -> list[Any]:
        size, width, identifier = len(results), self.width, self.identifier
        return [
            np.fromiter(
                (
                    (text is None or len(text) <= width) and not identifier[raw]
                    for text, raw in zip(results, texts, strict=True)
                ),
                bool,
                size,
            ),
            np.fromiter((text is not None for text in results), bool, size),
            strings(results),
        ]

    def coded(self, column: pa.Array) -> _Texts:
        """The column's cells as places among the texts seen, with the kept results."""
        at = self._positions(column)
        fits, given, stored = self._kept
        return _Texts(at, fits, given, stored)


class DateColumns(KeptResults):
    """Date cells through the date lookup (a date's ISO text, year and day, or blank or None)."""

    def _fields_of(self, texts: pa.Array) -> list[Any]:
        """The results of texts not seen before. A file holds thousands of distinct days, each a
        regular expression and a `date` in Python through the lookup (41 ms for the 19,202 of
        the 1M-row bench file): those written exactly `YYYY-MM-DD` or `DD/MM/YYYY` in ASCII
        digits, the usual shapes, are read in numpy at once; the others go through the lookup."""
        count = len(texts)
        valid, blank = np.zeros(count, dtype=bool), np.zeros(count, dtype=bool)
        year, ordinal = np.zeros(count, dtype=_INT), np.zeros(count, dtype=_INT)
        iso = np.zeros((count, _ISO_WIDTH), dtype=np.uint8)
        ten, chars = fixed_width_texts(texts, _ISO_WIDTH)
        shaped = np.zeros(count, dtype=bool)
        if len(chars):
            read = _read_dates(chars)
            at = np.flatnonzero(ten)[read.shaped]
            shaped[at] = True
            valid[at], year[at], ordinal[at], iso[at] = (
                read.valid,
                read.year,
                read.ordinal,
                read.iso,
            )
        rest = np.flatnonzero(~shaped)
        if len(rest):
            results = [self.lookup[text] for text in texts.take(from_numpy(rest)).to_pylist()]
            dates = [result for result in results if isinstance(result, tuple)]
            parsed = rest[np.fromiter((isinstance(r, tuple) for r in results), bool, len(rest))]
            blank[rest] = np.fromiter((r is BLANK for r in results), bool, len(rest))
            valid[parsed] = True
            if dates:
                year[parsed] = [date[1] for date in dates]
                ordinal[parsed] = [date[2] for date in dates]
                texts_read = "".join(date[0] for date in dates).encode("ascii")
                iso[parsed] = np.frombuffer(texts_read, np.uint8).reshape(-1, _ISO_WIDTH)
        # ISO text of each, null if not a date
        return [valid, blank, year, ordinal, fixed_width_strings(iso, valid)]

    def rows(self, column: pa.Array) -> _Dates:
        """The results for each cell of `column`."""
        return self.rows_of([column])[0]

    def rows_of(self, columns: list[pa.Array]) -> list[_Dates]:
        """The results for each cell of each column, found together (one probe of the texts seen)."""
        at = self._positions(pa.concat_arrays(columns) if len(columns) > 1 else columns[0])
        valid, blank, year, ordinal, values = self._kept
        dates = []
        start = 0
        for column in columns:
            here = at[start : start + len(column)]
            start += len(column)
            dates.append(_Dates(valid[here], blank[here], year[here], ordinal[here], here, values))
        return dates


# A date's ISO text is always 10 bytes: `date.isoformat()` writes years 1 to 9999 in 4 digits.
_ISO_WIDTH = 10
# The digits of each shape, by position in its 10 bytes; the rest are its two separators.
_ISO_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]
_DMY_DIGITS = [0, 1, 3, 4, 6, 7, 8, 9]
# Where the bytes of a `DD/MM/YYYY` text go in its ISO text (the separators then made `-`).
_DMY_TO_ISO = [6, 7, 8, 9, 2, 3, 4, 5, 0, 1]
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=_INT)
_DAYS_BEFORE_MONTH = np.concatenate(([0], np.cumsum(_DAYS_IN_MONTH)[:-1]))


@dataclass(frozen=True)
class _ReadDates:
    """Texts of 10 bytes read as dates; for those `shaped`, whether each is a real day, its year,
    its day ordinal (`date.toordinal()`) and its ISO text's bytes."""

    shaped: np.ndarray
    valid: np.ndarray
    year: np.ndarray
    ordinal: np.ndarray
    iso: np.ndarray


def _read_dates(chars: np.ndarray) -> _ReadDates:
    """`checks.parse_date` of texts of 10 bytes (one row of bytes each), in numpy: a text shaped
    exactly `YYYY-MM-DD` or `DD/MM/YYYY` in ASCII digits is a date if it names a real day (year
    1 to 9999, month 1 to 12, day within its month); any other text is not `shaped`, for the
    lookup to read (it may be a date after its spaces are stripped)."""
    digits = chars.astype(_INT) - ord("0")
    is_digit = (digits >= 0) & (digits <= 9)
    iso_shaped = (chars[:, 4] == ord("-")) & (chars[:, 7] == ord("-"))
    iso_shaped &= is_digit[:, _ISO_DIGITS].all(axis=1)
    dmy_shaped = (chars[:, 2] == ord("/")) & (chars[:, 5] == ord("/"))
    dmy_shaped &= is_digit[:, _DMY_DIGITS].all(axis=1)
    shaped = iso_shaped | dmy_shaped
    chars, digits, iso_shaped = chars[shaped], digits[shaped], iso_shaped[shaped]
    iso = np.where(iso_shaped[:, None], chars, chars[:, _DMY_TO_ISO])
    iso[:, [4, 7]] = ord("-")
    digits = np.where(iso_shaped[:, None], digits, digits[:, _DMY_TO_ISO])
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 5] * 10 + digits[:, 6]
    day = digits[:, 8] * 10 + digits[:, 9]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    known_month = (month >= 1) & (month <= 12)
    month_at = np.where(known_month, month - 1, 0)
    in_month = _DAYS_IN_MONTH[month_at] + (leap & (month == 2))
    valid = (year >= 1) & known_month & (day >= 1) & (day <= in_month)
    before = year - 1
    ordinal = (
        before * 365
        + before // 4
        - before // 100
        + before // 400
        + _DAYS_BEFORE_MONTH[month_at]
        + (leap & (month > 2))
        + day
    )
    return _ReadDates(shaped, valid, np.where(valid, year, 0), np.where(valid, ordinal, 0), iso)


class DayCounts(KeptResults):
    """Day-count cells through the integer lookup (a number, or blank, or None)."""

    def _fields(self, texts: list[str], results: list[Any]) -> list[Any]:
        size = len(results)
        return [
            np.fromiter((r is not None for r in results), bool, size),
            np.fromiter((r is BLANK for r in results), bool, size),
            np.fromiter((r if isinstance(r, int) else 0 for r in results), _INT, size),
        ]

    def rows(self, column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each cell of `column`: whether it reads as a number or blank, whether it is blank,
        and its number (0 if none). Cells of 1 to 9 ASCII digits, and empty ones, are read by
        Arrow at once; the others (signs, spaces, words) through the lookup."""
        count = len(column)
        lengths = to_numpy(pc.binary_length(column))
        blank = lengths == 0
        digits = to_numpy(pc.ascii_is_decimal(column)) & (lengths <= _MAX_DIGITS)
        readable = blank | digits
        days = np.zeros(count, dtype=_INT)
        at = np.flatnonzero(digits)
        if len(at):
            days[at] = to_numpy(column.take(from_numpy(at)).cast(pa.int64()))
        rest = np.flatnonzero(~readable)
        if len(rest):  # other shapes: the lookup's results, kept across batches
            found = self._positions(column.take(from_numpy(rest)))
            kept_readable, kept_blank, kept_days = self._kept
            readable[rest], blank[rest], days[rest] = (
                kept_readable[found],
                kept_blank[found],
                kept_days[found],
            )
        return readable, blank, days


_MAX_DIGITS = 9  # `checks._INTEGER`: nine digits at most
