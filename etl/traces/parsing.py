"""Reading the records of a file in batches: plain lines column by column, the rest one by one."""

from __future__ import annotations

import csv
import gc
import heapq
import io
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, repeat
from typing import Any, TextIO

import numpy as np
import pyarrow as pa

from etl.traces.aggregates import AggregateCounts
from etl.traces.arrays import from_numpy, to_numpy
from etl.traces.checks import (
    Batch,
    Checked,
    Progress,
    Reject,
    RowChecks,
    repeat_reason,
    wrong_width,
)
from etl.traces.columnar import FIELD_LIMIT, Accepted, ColumnarChecks, Stretch
from etl.traces.privacy import Header
from etl.traces.reading import LineFeed
from etl.traces.rows import rows_table

# Fewer lines than this in a stretch are checked one by one: the reader's fixed cost is not worth it.
COLUMNAR_MIN_LINES = 64


@dataclass(frozen=True)
class ParseJob:
    """A file to parse from where its header left the feed, and how its rows are checked."""

    feed: LineFeed
    header: Header
    file_id: int
    batch_rows: int


def parse(job: ParseJob, progress: Progress, *, columnar: bool = True) -> Iterator[Batch]:
    """Check every record after the header; yield good and bad rows in batches of `batch_rows` lines.

    Pure work on the text: it touches no database, so it can run in a second thread. A plain
    line (no quote, NUL or bad byte; the header's number of cells; no cell over the
    csv limit) has exactly the cells `str.split` gives, so a stretch of them is read by Arrow's
    CSV reader and checked column by column; every other line, and every plain row that path
    does not accept, is read by the csv module and checked by `RowChecks`, which gives every
    reason. Rows whose trace number is already in the database are told apart later, by the
    inserter. Every non-blank line is one record, counted as read, and either kept or rejected.
    `columnar=False` checks every line one by one (the reference the tests compare against).

    Where it can, the file is read in stretches of text, never cut into a Python string per
    line: a stretch with no quote, NUL, lone carriage return or blank line goes to Arrow's
    reader whole, which tells the lines of the wrong width apart itself. Any other stretch is cut into
    lines and checked as above.
    """
    feed, header, batch_rows = job.feed, job.header, job.batch_rows
    checks = RowChecks(header, job.file_id)
    fast = ColumnarChecks(checks) if columnar else None
    check_utf8 = feed.check_utf8
    stream = feed.stream
    # Lines with undecodable bytes are told apart line by line; a layout exposed to shifts is
    # checked with each line's text (where its last named cell ends): both go line by line.
    in_stretches = (
        fast is not None and stream is not None and not check_utf8 and not header.left_exposed
    )
    stretches = _stretches(stream, feed.line, batch_rows) if in_stretches else None  # type: ignore[arg-type]
    lines = feed.numbered_lines()
    rows_read = 0
    line = feed.line
    stretch: Stretch | None = None
    chunk: list[tuple[int, str]] = []
    while True:
        source: Stretch | list[tuple[int, str]]
        if stretches is not None:
            stretch = next(stretches, None)
            if stretch is None:
                break
            source, line = stretch, stretch.first + stretch.count - 1
        else:
            chunk = list(islice(lines, batch_rows))
            if not chunk:
                break
            source, line = chunk, chunk[-1][0]
        feed.line = line
        # Checked in a function of its own, so that the stretch's text and columns are let go
        # before the batch is handed over: a parser waiting for the inserter holds the batch only.
        batch = _checked(source, checks, fast, progress, check_utf8=check_utf8)
        progress.line = line
        del source
        stretch, chunk = None, []
        rows_read += batch.rows_read
        batch.rows_read = rows_read
        batch.line = line
        yield batch
        del batch
        gc.collect(1)  # the load runs without automatic collection (see FileLoader.load)
    yield Batch(rows_table([]), np.empty(0, np.int64), [], rows_read, line, last=True)


def _checked(
    source: Stretch | list[tuple[int, str]],
    checks: RowChecks,
    fast: ColumnarChecks | None,
    progress: Progress,
    *,
    check_utf8: bool,
) -> Batch:
    """A stretch, or numbered lines, checked: a batch whose `rows_read` counts its records."""
    read: Read | None = None
    if isinstance(source, Stretch):
        if fast is not None and source.count >= COLUMNAR_MIN_LINES:
            read = fast.read_stretch(source)
        if read is None:
            text = bytes(source.data).decode("utf-8", "surrogateescape")
            source = list(enumerate(io.StringIO(text, newline=""), source.first))
    if read is None:
        read = _read_lines(source, checks.header, fast, check_utf8)  # type: ignore[arg-type]
    checked, accepted, plain_lines, careful = read
    if careful:
        one_by_one = LineFeed(careful, check_utf8=check_utf8)
        checks.run(one_by_one, csv.reader(one_by_one), checked, progress)
    batch = _merge(checked, accepted, plain_lines)
    batch.rows_read = checked.records
    return batch


# Bytes read from the file at a time when it is read in stretches (characters, when it is not UTF-8).
READ_SIZE = 1 << 20
# What checking a stretch gave before the one-by-one checks: their results so far (rejects,
# records), the rows the columnar path accepted, the line of each row it read, and the lines
# left for `RowChecks`.
Read = tuple[Checked, Accepted | None, Any, list[tuple[int, str]]]


def _stretches(stream: TextIO, read: int, batch_rows: int) -> Iterator[Stretch]:
    """The rest of `stream`, after its first `read` lines, in stretches of `batch_rows` lines (the
    last one perhaps fewer).

    Lines end as the text reader ends them (LF, CR LF or a lone CR), so the stretches hold the
    same lines as `batch_rows` lines read one by one. Each part read is scanned for line ends
    once, in C (numpy), and a stretch is cut where its last line ends: no Python work per line.
    """
    first = read + 1
    parts: list[bytes] = []
    part_ends: list[np.ndarray] = []
    size = 0  # bytes in parts
    found = 0  # line ends in parts
    for data in _utf8_parts(stream, read):
        part_ends.append(_line_ends(data) + size)
        parts.append(data)
        size += len(data)
        found += len(part_ends[-1])
        if found < batch_rows:
            continue
        buffer = b"".join(parts) if len(parts) > 1 else parts[0]
        ends = np.concatenate(part_ends) if len(part_ends) > 1 else part_ends[0]
        ascii = buffer.isascii()  # the usual text: every stretch of it valid at once
        start = taken = 0
        while found - taken >= batch_rows:
            cut = int(ends[taken + batch_rows - 1]) + 1
            yield _stretch(
                first, buffer, start, cut, ends[taken : taken + batch_rows] - start, ascii
            )
            first += batch_rows
            start, taken = cut, taken + batch_rows
        parts = [buffer[start:]]
        part_ends = [ends[taken:] - start]
        size, found = len(parts[0]), found - taken
    if size:
        buffer = b"".join(parts)
        ends = np.concatenate(part_ends)
        if not buffer.endswith((b"\n", b"\r")):  # the file's last line, without its line end
            ends = np.append(ends, len(buffer) - 1)
        yield _stretch(first, buffer, 0, len(buffer), ends, buffer.isascii())


def _stretch(
    first: int, buffer: bytes, start: int, stop: int, ends: np.ndarray, ascii: bool
) -> Stretch:
    """Lines read, in place, marked strict if they are valid UTF-8 (`ascii`: all of `buffer` is)."""
    strict = ascii or _valid_utf8(memoryview(buffer)[start:stop])
    return Stretch(first, buffer, start, stop, ends, strict)


def _valid_utf8(data: bytes | memoryview) -> bool:
    """Whether `data` is valid UTF-8, checked by Arrow in place (no text is made)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(
            full=True
        )
    except pa.ArrowInvalid:
        return False
    return True


# The encodings whose bytes are the UTF-8 the stretches hold: read as they are, never decoded.
_UTF8 = frozenset({"utf-8", "utf-8-sig"})


def _utf8_parts(stream: TextIO, read: int) -> Iterator[bytes]:
    """The rest of `stream`, after its first `read` lines, as UTF-8, READ_SIZE bytes or characters at a time; a
    part never ends in a CR unless the file does, so each part's line ends are its own (a LF may
    follow a CR).

    A UTF-8 file (its BOM in the first line) is read again from its start as bytes, which are
    already what the stretches hold: decoding it and encoding it again would cost a tenth of the
    parser's time. Bytes that are not UTF-8 (the file changed after its inspection) are found
    per stretch, as before. Other text (cp1252) is read on from the text reader and encoded.
    """
    binary = getattr(stream, "buffer", None)
    parts: Iterator[bytes]
    if (
        binary is not None
        and getattr(stream, "encoding", "").lower() in _UTF8
        and binary.seekable()
    ):
        binary.seek(0)
        parts = iter(lambda: binary.read(READ_SIZE), b"")
        parts = _after_lines(parts, read)
    else:
        parts = (_encoded(text) for text in iter(lambda: stream.read(READ_SIZE), ""))
    held = b""
    for data in parts:
        data = held + data if held else data
        held = b""
        if data.endswith(b"\r"):
            data, held = data[:-1], b"\r"
        if data:
            yield data
    if held:
        yield held


def _after_lines(parts: Iterator[bytes], lines: int) -> Iterator[bytes]:
    """`parts` without their first `lines` lines (ended as the text reader ends them)."""
    data = b""
    for part in parts:
        data += part
        if data.endswith(b"\r"):
            continue  # a LF may follow
        ends = _line_ends(data)
        if len(ends) >= lines:
            if lines:
                data = data[int(ends[lines - 1]) + 1 :]
            break
    else:
        ends = _line_ends(data)
        if len(ends) < lines:  # the file ended (changed since its header was read)
            return
        data = data[int(ends[lines - 1]) + 1 :] if lines else data
    if data:
        yield data
    yield from parts


def _encoded(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a byte that is not UTF-8 (the file changed after its inspection)
        return text.encode("utf-8", "surrogateescape")


def _line_ends(data: bytes) -> np.ndarray:
    """Where each line of `data` ends (its last byte): a LF, or a CR that no LF follows."""
    codes = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(codes == 10)
    if b"\r" not in data:  # the usual text: one pass
        return newlines
    after_cr = newlines[newlines > 0]
    if np.count_nonzero(codes == 13) == np.count_nonzero(codes[after_cr - 1] == 13):
        return newlines  # every CR is in a CR LF: the LFs end the lines
    following = np.zeros_like(codes)
    following[:-1] = codes[1:]
    return np.flatnonzero((codes == 10) | ((codes == 13) & (following != 10)))


def _read_lines(
    chunk: list[tuple[int, str]], header: Header, fast: ColumnarChecks | None, check_utf8: bool
) -> Read:
    """A stretch of numbered lines: plain ones checked by columns, the others left one by one."""
    commas = header.width - 1
    plain_texts: list[str] = []
    plain_lines: list[int] = []
    careful: list[tuple[int, str]] = []
    rejects: list[Reject] = []
    records = 0
    numbers, texts = zip(*chunk, strict=True)
    if _all_plain_characters(texts, check_utf8):
        # The usual stretch: only the number of cells is left to tell apart, line by line.
        cells_per_line = np.fromiter(map(str.count, texts, repeat(",")), np.int64, len(texts))
        aligned = cells_per_line == commas
        if aligned.all():
            plain_texts, plain_lines = list(texts), list(numbers)
            chunk = []
        else:
            plain = np.flatnonzero(aligned).tolist()
            plain_texts = [texts[i] for i in plain]
            plain_lines = [numbers[i] for i in plain]
            chunk = [chunk[i] for i in np.flatnonzero(~aligned).tolist()]
    for number, text in chunk:
        if (
            '"' in text
            or "\x00" in text
            or len(text) > FIELD_LIMIT
            or (check_utf8 and not text.isascii())
        ):
            careful.append((number, text))
            continue
        cells = text.count(",")
        if cells == commas:
            plain_texts.append(text)
            plain_lines.append(number)
        elif cells or text.strip("\r\n"):
            # Without quotes a line's cells are what split gives: the count needs no reader.
            records += 1
            rejects.append((number, wrong_width(cells + 1, header.width), None))
        # else a blank line: not a record
    checked = Checked(rejects=rejects, records=records)
    accepted = None
    if fast is not None and len(plain_texts) >= COLUMNAR_MIN_LINES:
        accepted = fast.accept(plain_texts)
    if accepted is None:
        careful = list(heapq.merge(careful, zip(plain_lines, plain_texts, strict=True)))
    else:
        checked.records += len(accepted.positions)  # the others are counted one by one
        refused = np.ones(len(plain_texts), dtype=bool)
        refused[accepted.positions] = False
        careful = list(
            heapq.merge(
                careful,
                ((plain_lines[i], plain_texts[i]) for i in np.flatnonzero(refused).tolist()),
            )
        )
    return checked, accepted, plain_lines, careful


def _all_plain_characters(texts: tuple[str, ...], check_utf8: bool) -> bool:
    """Whether no line of `texts` has a quote, NUL, over-long line or bad byte."""
    joined = "".join(texts)
    return (
        '"' not in joined
        and "\x00" not in joined
        and max(map(len, texts)) <= FIELD_LIMIT
        and (not check_utf8 or joined.isascii())
    )


def _merge(checked: Checked, accepted: Accepted | None, plain_lines: Any) -> Batch:
    """Good rows of both paths in line order, as one Arrow table; a trace number repeated in the
    batch rejected (the first one is kept)."""
    rejects = checked.rejects
    if accepted is not None and len(accepted) and not checked.rows:
        # The usual stretch: every good row came from the columns, in line order; the table is
        # built once, without the repeats.
        lines = np.asarray(plain_lines, dtype=np.int64)[accepted.positions]
        numbers = accepted.trace_numbers
        repeated = _repeated(numbers)
        repeats = np.flatnonzero(repeated)
        if len(repeats):
            repeated_numbers = numbers.take(from_numpy(repeats)).to_pylist()
            for line, number, cells in zip(
                lines[repeats].tolist(),
                repeated_numbers,
                accepted.raw_cells_at(repeats),
                strict=True,
            ):
                rejects.append((line, repeat_reason(number), cells))
        if repeated.any():
            kept = np.flatnonzero(~repeated)
            table, lines = accepted.rows_at(kept), lines[kept]
            counts = accepted.counts_at(kept)
        else:
            table, counts = accepted.table, accepted.counts_at(None)
    else:
        table, lines = _merge_both(checked, accepted, plain_lines)
        counts = AggregateCounts()
        counts.add(table)
    rejects.sort(key=lambda reject: reject[0])
    table = table.combine_chunks()
    return Batch(table, lines, rejects, 0, 0, counts=counts)


def _merge_both(
    checked: Checked, accepted: Accepted | None, plain_lines: Any
) -> tuple[pa.Table, np.ndarray]:
    """Rows from both paths (or the one-by-one checks alone) put in line order, without repeats;
    the repeats are added to `checked.rejects`."""
    tables = []
    lines = np.empty(0, np.int64)
    if accepted is not None and len(accepted):
        lines = np.asarray(plain_lines, dtype=np.int64)[accepted.positions]
        tables.append(accepted.table)
    fast = len(lines)
    if checked.rows:
        lines = np.concatenate((lines, np.asarray(checked.lines, dtype=np.int64)))
        tables.append(rows_table(checked.rows))
    table = pa.concat_tables(tables) if tables else rows_table([])
    if not len(lines):
        return table, lines

    order = np.argsort(lines, kind="stable")
    numbers = table.column("trace_number")
    repeated = _repeated(numbers.take(from_numpy(order)).combine_chunks())
    repeats = np.sort(order[repeated])
    from_columns = repeats[repeats < fast]  # the others are rows of the one-by-one checks
    cells_of = (
        dict(zip(from_columns.tolist(), accepted.raw_cells_at(from_columns), strict=True))
        if accepted is not None and len(from_columns)
        else {}
    )
    for index in repeats.tolist():
        cells = cells_of[index] if index < fast else checked.values[index - fast]
        checked.rejects.append((int(lines[index]), _repeat(numbers[index]), cells))
    order = order[~repeated]
    if checked.rows or repeated.any():
        table = table.take(from_numpy(order))
        lines = lines[order]
    return table, lines


def _repeated(numbers: pa.Array) -> np.ndarray:
    """For trace numbers in line order: whether each one came earlier (the first one is kept)."""
    encoded = numbers.dictionary_encode()
    repeated = np.zeros(len(numbers), dtype=bool)
    if len(encoded.dictionary) < len(numbers):
        codes = to_numpy(encoded.indices)
        repeated[:] = True
        repeated[np.unique(codes, return_index=True)[1]] = False
    return repeated


def _repeat(number: pa.Scalar) -> str:
    return repeat_reason(number.as_py())
