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

from etl.traces.aggregates import AggregateCounts, band_codes, year_codes
from etl.traces.arrays import empty_strings, from_numpy, to_numpy
from etl.traces.checks import Checked, RawCells, Reject, RowChecks, wrong_width
from etl.traces.columns import ALLOWED_COLUMNS, FREE_TEXT_COLUMNS, MAX_LENGTHS, US_SOURCED
from etl.traces.kept import DateColumns, DayCounts, KeptCodes, KeptTexts
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
                band_codes(days[chosen], has_days[chosen]),
            )
            return counts

        return Accepted(pick, trace_numbers, rows_at, cells, counts_at)
