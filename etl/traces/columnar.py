"""The columnar path: plain lines read by pyarrow's CSV reader and checked a column at a time."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

from etl.traces.aggregates import AggregateCounts, day_band_codes, year_codes
from etl.traces.arrays import (
    empty_strings,
    fixed_width_strings,
    fixed_width_texts,
    from_numpy,
    strings,
    to_numpy,
)
from etl.traces.checks import (
    BLANK,
    CACHE_LIMIT,
    Checked,
    Lookup,
    RawCells,
    Reject,
    RowChecks,
    wrong_width,
)
from etl.traces.columns import ALLOWED_COLUMNS, FREE_TEXT_COLUMNS, MAX_LENGTHS, US_SOURCED
from etl.traces.rows import ROW_SCHEMA

# The csv module's limit on one cell: a longer line may hold a longer cell, so it is not plain.
FIELD_LIMIT = csv.field_size_limit()


def loader_memory_pool() -> pa.MemoryPool:
    """The allocator of every Arrow buffer a load makes: jemalloc where pyarrow has it.

    A load's parser thread allocates ~9,000 Arrow buffers of 64 KB to 2.3 MB per 1M rows (the
    CSV reader's parse and column buffers; take, hash and concatenate results), each freed a
    batch later. With glibc's malloc (the system pool) they share that thread's arena with
    numpy's and Python's buffers, and a thread's arena never gives back a page from the middle
    of its 64 MB heap: as chunks of other sizes take the places freed ones left, the buffers
    creep up the heap until nearly all of it is resident (37.6 -> 62.2 MB between 3 s and 18 s
    of a 10M-row load), so the loader's peak RSS grew with the file. jemalloc keeps each size
    class apart and returns freed pages to the system within a second (Arrow's configuration):
    that heap then stays at ~25 MB, and the peak is ~8 MB lower at 1M rows and at 10M, for the
    same CPU. mimalloc, pyarrow's default, keeps freed pages instead (+17 to +40 MB at 1M rows).
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc (Windows, some conda builds)
        return pa.system_memory_pool()


pa.set_memory_pool(loader_memory_pool())
_INT = np.int64
# What `str.strip()` strips (each character whose `isspace()` is true; a test holds the two
# together): Arrow's own whitespace trim follows another definition. Written out, because
# finding them among every code point costs 60 ms at each start.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class Stretch:
    """Lines of a file as UTF-8 text, and where each one ends.

    The lines are `buffer[start:stop]`, a part of the text read, kept in place: the stretches
    of one read share its buffer rather than each taking a copy of their part.
    """

    first: int  # the first line's number
    buffer: bytes
    start: int
    stop: int
    ends: np.ndarray  # the position of each line's last byte, from `start`
    strict: bool  # valid UTF-8

    @property
    def count(self) -> int:
        """How many lines the stretch holds."""
        return len(self.ends)

    @property
    def data(self) -> memoryview:
        """The stretch's bytes, in place."""
        return memoryview(self.buffer)[self.start : self.stop]

    def holds(self, text: bytes) -> bool:
        """Whether `text` occurs among the stretch's bytes."""
        return self.buffer.find(text, self.start, self.stop) >= 0

    def line(self, first_byte: int, last_byte: int) -> str:
        """The text of the line between these bytes of the stretch (from `start`)."""
        return self.buffer[self.start + first_byte : self.start + last_byte + 1].decode("utf-8")


@dataclass
class Accepted:
    """The rows of a stretch of plain lines that passed every check, in line order."""

    positions: np.ndarray  # the index of each accepted line in the stretch
    trace_numbers: pa.Array  # each accepted row's trace number, as stored
    # The accepted rows as stored (ROW_SCHEMA): all of them (None), or those at these indices
    # of `positions`; each column is taken once, from the per-value results, in C.
    rows_at: Callable[[np.ndarray | None], pa.Table]
    cells: dict[str, pa.Array]  # the stretch's allow-listed cells as read, by column
    # The aggregates of the same rows as `rows_at`'s, counted from the per-value codes (no
    # column of text hashed again).
    counts_at: Callable[[np.ndarray | None], AggregateCounts]

    def __len__(self) -> int:
        return len(self.positions)

    @cached_property
    def table(self) -> pa.Table:
        """Every accepted row as stored, one per position."""
        return self.rows_at(None)

    def raw_cells_at(self, indices: np.ndarray) -> list[RawCells]:
        """The allow-listed cells of these accepted rows as read, should they be rejected: each
        column taken once, not a cell at a time."""
        lines = from_numpy(self.positions[indices])
        columns = [self.cells[name].take(lines).to_pylist() for name in ALLOWED_COLUMNS]
        return [tuple(map(str, cells)) for cells in zip(*columns, strict=True)]


class ColumnarChecks:
    """The plain rows of a stretch checked column by column, with the lookups of `RowChecks`.

    Accepting is all this path does: a row it does not accept, for any reason, goes to
    `RowChecks`, which accepts or rejects it and says why. So this path must only ever accept
    what `RowChecks` accepts, with the same values; a test holds the two paths to that. No
    cell becomes a Python object here: each column is read by Arrow, and only its distinct
    texts go through the lookups.
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
        names = [str(index) for index in range(self.width)]
        read = sorted({str(index) for _, index in self.present})
        self._read_options = arrow_csv.ReadOptions(column_names=names, use_threads=False)
        self._parse_options = arrow_csv.ParseOptions(
            quote_char=False, newlines_in_values=False, ignore_empty_lines=False
        )
        self._convert_options = arrow_csv.ConvertOptions(
            include_columns=read,  # the other cells are never materialised
            column_types=dict.fromkeys(read, pa.string()),
            strings_can_be_null=False,
            null_values=[],
            # What reaches the reader was encoded from text by Python, strictly: valid UTF-8.
            check_utf8=False,
        )
        # A stretch: lines of the wrong width are set aside by `_set_aside`, not refused.
        self._wrong: list[tuple[int | None, int]] = []
        self._stretch_options = arrow_csv.ReadOptions(column_names=names, use_threads=False)
        self._stretch_parse_options = arrow_csv.ParseOptions(
            quote_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
            invalid_row_handler=self._set_aside,
        )
        self.dates = DateColumns(checks.dates)
        self.day_counts = DayCounts(checks.integers)
        self.countries = KeptCodes(checks.countries)
        self.mx_states = KeptCodes(checks.mx_states)
        self.firearms = KeptCodes(checks.firearms)
        self.categories = KeptCodes(checks.categories)
        self.us_states = KeptCodes(checks.us_states)
        self.texts = {
            name: KeptTexts(checks.texts, checks.identifiers[name], MAX_LENGTHS[name])
            for name in FREE_TEXT_COLUMNS
        }

    def _read(self, texts: list[str]) -> dict[str, pa.Array] | None:
        """The allow-listed cells of plain lines, by column; None if the reader disagrees."""
        data = "".join(texts).encode("utf-8")
        self._read_options.block_size = max(len(data) + 1, 1 << 20)  # one block: one chunk
        try:
            table = arrow_csv.read_csv(
                pa.py_buffer(data),
                read_options=self._read_options,
                parse_options=self._parse_options,
                convert_options=self._convert_options,
            )
        except (pa.ArrowInvalid, ValueError):
            return None
        if table.num_rows != len(texts):
            return None
        empty = empty_strings(len(texts))
        found = dict(self.present)
        return {
            name: table.column(str(found[name])).combine_chunks() if name in found else empty
            for name in ALLOWED_COLUMNS
        }

    def accept(self, texts: list[str]) -> Accepted | None:
        """The rows of `texts` (plain lines, each of the header's width) that pass every check.

        None when the CSV reader does not read the stretch as one row per line: then every line
        goes through `RowChecks`.
        """
        cells = self._read(texts)
        if cells is None:
            return None
        return self._check(cells, len(texts), texts)

    def read_stretch(
        self, stretch: Stretch
    ) -> tuple[Checked, Accepted, np.ndarray, list[tuple[int, str]]] | None:
        """A stretch of lines read and checked whole.

        None unless every line is plain but for its number of cells (no quote, NUL, lone
        carriage return, blank line or over-long line): then the caller reads it line by line. The reader
        sets aside the lines of the wrong width (rejected here with the same reason
        `RowChecks` gives); the rows it reads are checked by columns, and the lines of those
        this path does not accept are returned, with their line numbers, for `RowChecks`.
        """
        data, ends, first, count = stretch.data, stretch.ends, stretch.first, stretch.count
        if not stretch.strict or stretch.holds(b'"') or stretch.holds(b"\x00"):
            return None  # a byte that is not UTF-8, a quote or a NUL
        codes = np.frombuffer(data, np.uint8)
        last_bytes = codes[ends]
        if stretch.holds(b"\r") and (last_bytes == 13).any():
            return None  # a line ending in a lone CR
        lengths = np.diff(ends, prepend=-1)  # each line's bytes, its line end included
        newline_only = (lengths == 1) | ((lengths == 2) & (codes[ends - 1] == 13))
        if (newline_only & (last_bytes == 10)).any() or int(lengths.max()) > FIELD_LIMIT:
            return None  # a blank line, or one too long to be plain
        self._wrong.clear()
        self._stretch_options.block_size = len(data) + 1  # one block: one chunk per column
        try:
            table = arrow_csv.read_csv(
                pa.py_buffer(data),
                read_options=self._stretch_options,
                parse_options=self._stretch_parse_options,
                convert_options=self._convert_options,
            )
        except (pa.ArrowInvalid, ValueError):
            return None
        wrong = self._wrong
        if any(number is None for number, _ in wrong) or table.num_rows + len(wrong) != count:
            return None
        read = np.ones(count, dtype=bool)
        rejects: list[Reject] = []
        for number, cells_read in wrong:
            read[number - 1] = False  # type: ignore[operator]
            rejects.append((first + number - 1, wrong_width(cells_read, self.width), None))  # type: ignore[operator]
        at = np.flatnonzero(read)  # each row's line in the stretch
        found = dict(self.present)
        empty = empty_strings(table.num_rows)
        cells = {
            name: table.column(str(found[name])).chunk(0) if name in found else empty
            for name in ALLOWED_COLUMNS
        }
        accepted = self._check(cells, table.num_rows, None)
        checked = Checked(rejects=rejects, records=len(wrong) + len(accepted))
        refused = np.ones(table.num_rows, dtype=bool)
        refused[accepted.positions] = False
        starts = ends - lengths + 1
        careful = [
            (first + int(line), stretch.line(starts[line], ends[line]))
            for line in at[refused].tolist()
        ]
        return checked, accepted, first + at, careful

    def _set_aside(self, row: Any) -> str:
        """Arrow's handler of a line of the wrong width: only its number and width are kept."""
        self._wrong.append((row.number, row.actual_columns))
        return "skip"

    def _check(self, cells: dict[str, pa.Array], count: int, texts: list[str] | None) -> Accepted:
        """The rows of `cells` that pass every check; `texts`, each row's line, for exposed layouts."""
        checks = self.checks
        today, earliest = checks.today, checks.earliest

        stripped = pc.utf8_trim(cells["trace_number"], characters=PYTHON_WHITESPACE)
        lengths = to_numpy(pc.utf8_length(stripped))
        ok = (lengths > 0) & (lengths <= MAX_LENGTHS["trace_number"])

        recovered, purchased = self.dates.rows_of([cells["recovery_date"], cells["purchase_date"]])
        r_day = recovered.ordinal
        ok &= recovered.valid & (r_day <= today) & (r_day >= earliest)

        country = self.countries.coded(cells["recovery_country"])
        ok &= country.known[country.at]
        state = self.mx_states.coded(cells["recovery_state"])
        ok &= state.known[state.at]
        firearm = self.firearms.coded(cells["firearm_type"])
        ok &= firearm.known[firearm.at]
        category = self.categories.coded(cells["source_category"])
        ok &= category.known[category.at]
        us_sourced = category.of_keys([key in US_SOURCED for key in category.keys])
        us_state = self.us_states.coded(cells["source_state"])
        ok &= us_state.known[us_state.at]
        # A US state only for US sources.
        ok &= us_state.blank[us_state.at] | us_sourced[category.at]

        p_day = purchased.ordinal
        ok &= purchased.valid | purchased.blank
        ok &= purchased.blank | ((p_day <= r_day) & (p_day >= earliest))

        readable, given_blank, given_days = self.day_counts.rows(cells["time_to_crime_days"])
        ok &= readable
        has_days = ~given_blank | purchased.valid
        days = np.where(given_blank, r_day - p_day, given_days)
        ok &= ~has_days | ((days >= 0) & (r_day - days >= earliest))

        exposed = checks.header.left_exposed
        filled: dict[str, np.ndarray] = {"trace_number": lengths > 0}  # for exposed columns
        free_texts = {name: self.texts[name].coded(cells[name]) for name in FREE_TEXT_COLUMNS}
        for name, text in free_texts.items():
            ok &= text.fits[text.at]
            if name in exposed:
                filled[name] = text.given[text.at]
        if exposed:
            assert texts is not None, "an exposed layout is read line by line"
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
        trace_numbers = stripped.take(from_numpy(pick))

        def rows_at(at: np.ndarray | None) -> pa.Table:
            chosen = pick if at is None else pick[at]
            days_kept = from_numpy(days[chosen].astype(_INT), nulls=~has_days[chosen])
            # Arrow columns, not Python lists: no object per cell on the way to the database.
            columns = {
                "trace_file_id": from_numpy(np.full(len(chosen), checks.file_id, dtype=_INT)),
                "trace_number": trace_numbers if at is None else trace_numbers.take(from_numpy(at)),
                "recovery_date": recovered.value_at(chosen),
                "recovery_year": from_numpy(recovered.year[chosen].astype(_INT)),
                "recovery_country": country.stored_at(chosen),
                "recovery_state": state.stored_at(chosen),
                "firearm_type": firearm.stored_at(chosen),
                "source_category": category.stored_at(chosen),
                "source_state": us_state.stored_at(chosen),  # blank: null
                "purchase_date": purchased.value_at(chosen),
                "time_to_crime_days": days_kept,
                **{name: text.stored_at(chosen) for name, text in free_texts.items()},
            }
            return pa.table([columns[name] for name in ROW_SCHEMA.names], schema=ROW_SCHEMA)

        def counts_at(at: np.ndarray | None) -> AggregateCounts:
            chosen = pick if at is None else pick[at]
            counts = AggregateCounts()
            counts.add_coded(
                year_codes(recovered.year[chosen]),
                {
                    "recovery_state": state.keys_at(chosen),
                    "firearm_type": firearm.keys_at(chosen),
                    "source_category": category.keys_at(chosen),
                    "source_state": us_state.keys_at(chosen),  # blank: no key
                },
                day_band_codes(days[chosen], has_days[chosen]),
            )
            return counts

        return Accepted(pick, trace_numbers, rows_at, cells, counts_at)


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
