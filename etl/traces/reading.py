"""Reading a trace file: only regular CSV text files, their checksum, encoding and records, one per line."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import stat
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import pyarrow as pa

from etl.traces.columns import Refused

READ_CHUNK = 1 << 20
LONGEST_SCANNED_LINE = 4 << 20  # a longer stretch without a line break is checked as one line

# Undefined cp1252 bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as their Latin-1 code points.
_LATIN1_FALLBACK = "ironriver-latin1-fallback"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)

# What a file that is not CSV text starts with, and what to tell the user it is.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32 text: save it as UTF-8 or Windows-1252 CSV"),
    (codecs.BOM_UTF32_BE, "UTF-32 text: save it as UTF-8 or Windows-1252 CSV"),
    (codecs.BOM_UTF16_LE, "UTF-16 text: save it as UTF-8 or Windows-1252 CSV"),
    (codecs.BOM_UTF16_BE, "UTF-16 text: save it as UTF-8 or Windows-1252 CSV"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one): export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook: export the sheet as CSV"),
    (b"%PDF-", "a PDF document"),
    (b"BZh", "a bzip2 archive: decompress it first"),
    (b"\xfd7zXZ\x00", "an xz archive: decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract it first"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f") + b"\x7f"


class NotCsvText(Refused):
    """The file is not a CSV text file at all (a device, a directory, an archive, UTF-16...)."""


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for binary reading, refused unless it is a regular file.

    Checked before opening (a FIFO would block the open, /dev/zero never ends) and again on the
    open descriptor, so a path swapped in between is caught too.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotCsvText(f"not a regular file: {_kind_of(mode)}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotCsvText(f"not a regular file: {_kind_of(mode)}")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _refuse_unless_text(head: bytes) -> None:
    """Refuse a file whose first bytes say it is not CSV text, naming what it is."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise NotCsvText(f"not a CSV text file: {what}")
    sample = head[:65536]
    if not sample:
        return
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 4 and (even.count(0) > len(even) // 2 or odd.count(0) > len(odd) // 2):
        raise NotCsvText(
            "not a CSV text file: UTF-16 text without a byte-order mark: "
            "save it as UTF-8 or Windows-1252 CSV"
        )
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls * 20 > len(sample):  # one in twenty bytes a control character: not text
        raise NotCsvText("not a CSV text file: binary data")


@dataclass(frozen=True)
class Inspection:
    """What the first pass over a file found: its checksum and how to decode it."""

    checksum: str
    encoding: str  # "utf-8-sig", "utf-8" or "cp1252"
    bad_lines: int = 0  # lines that are not UTF-8 in a file otherwise UTF-8: rejected one by one


class _EncodingTally:
    """Counts lines with non-ASCII bytes that are, and are not, valid UTF-8."""

    def __init__(self) -> None:
        self.utf8 = 0
        self.not_utf8 = 0

    def add(self, block: bytes) -> None:
        if block.isascii():
            return
        if is_utf8(block):
            self.utf8 += 1
            return
        for line in block.splitlines():
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                self.not_utf8 += 1
            else:
                self.utf8 += 1


def is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8, as Python's strict decoder has it (no surrogates, no overlong
    forms). Arrow checks it in C without building a string: a tenth of the time of a decode."""
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(data)))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def inspect_file(path: Path) -> Inspection:
    """Checksum a regular text file and decide its encoding; raise NotCsvText if it is not one.

    A file is read as cp1252 only when it is consistently not UTF-8: no line with non-ASCII
    bytes is valid UTF-8. One stray byte in a UTF-8 file rejects only its line.
    """
    digest = hashlib.sha256()
    tally = _EncodingTally()
    with open_regular(path) as stream:
        chunk = stream.read(READ_CHUNK)
        _refuse_unless_text(chunk)
        bom = chunk.startswith(codecs.BOM_UTF8)
        carry = b""
        while chunk:
            digest.update(chunk)
            data = carry + chunk
            # Whole lines only, so a character split between two reads is not taken as invalid.
            cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            if cut == 0 and len(data) < LONGEST_SCANNED_LINE:
                carry = data
            else:
                cut = cut or len(data)
                tally.add(data[:cut])
                carry = data[cut:]
            chunk = stream.read(READ_CHUNK)
        tally.add(carry)
    if tally.not_utf8 and not tally.utf8:
        return Inspection(digest.hexdigest(), "cp1252")
    return Inspection(digest.hexdigest(), "utf-8-sig" if bom else "utf-8", tally.not_utf8)


def open_text(path: Path, inspection: Inspection) -> TextIO:
    """The file as text; newlines are left to the record reader, undecodable bytes escaped."""
    binary = open_regular(path)
    if inspection.encoding == "cp1252":
        return io.TextIOWrapper(binary, encoding="cp1252", errors=_LATIN1_FALLBACK, newline="")
    # Invalid bytes become lone surrogates, found and rejected line by line (LineFeed).
    return io.TextIOWrapper(
        binary, encoding=inspection.encoding, errors="surrogateescape", newline=""
    )


class LineFeed:
    """Physical lines for the csv reader, so that one line is one record and a bad line one reject.

    The format allows no line break inside a field: a quote left open at the end of a line is
    closed there, and the record is rejected, so the next line is still read as its own
    record. A line with a NUL byte, or bytes that are not valid UTF-8 in a UTF-8 file, reaches
    the reader as a blank line and is rejected with its reason. After each record the reader
    returns, the consumer sets `waiting` to False, reads `line` (where the record is), and
    takes `problem` (what is wrong with it, or None) with `take_problem()`. Lines come numbered,
    so a feed may also carry a few chosen lines of a file (see `checks.parse`).
    """

    UNCLOSED_QUOTE = "a quoted field is not closed on its line: a record cannot span lines"
    NUL_BYTE = "the row contains a NUL byte"
    NOT_UTF8 = "the row has bytes that are not valid UTF-8 (the rest of the file is UTF-8)"

    __slots__ = ("_check_utf8", "_lines", "line", "problem", "stream", "waiting")

    def __init__(
        self,
        lines: Iterable[tuple[int, str]],
        *,
        check_utf8: bool,
        stream: TextIO | None = None,
    ) -> None:
        self._lines = iter(lines)  # (line number, text) pairs
        self._check_utf8 = check_utf8
        # The text the lines come from, when they are a whole file's: the rest of it may be read
        # in stretches instead (`parsing.parse`), and `line` then follows those.
        self.stream = stream
        self.waiting = False
        self.line = 0
        self.problem: str | None = None

    @property
    def check_utf8(self) -> bool:
        """Whether a line may hold bytes that are not UTF-8 (seen as lone surrogates)."""
        return self._check_utf8

    def numbered_lines(self) -> Iterator[tuple[int, str]]:
        """The lines not yet read, numbered: read straight from here, the csv reader is bypassed."""
        return self._lines

    def take_problem(self) -> str | None:
        """What is wrong with the record just returned, if anything; cleared for the next."""
        problem, self.problem = self.problem, None
        return problem

    def __iter__(self) -> Iterator[str]:
        # Per line as little as possible: this runs once for each of millions of lines.
        check_utf8 = self._check_utf8
        for number, text in self._lines:
            self.line = number
            if "\x00" in text:
                self.problem = self.NUL_BYTE
                text = "\n"
            elif check_utf8 and not text.isascii() and _has_surrogates(text):
                self.problem = self.NOT_UTF8
                text = "\n"
            self.waiting = True
            yield text
            if self.waiting:  # asked for more before returning a record: a quote is open
                self.problem = self.UNCLOSED_QUOTE
                yield '"\n'


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def record_reader(stream: TextIO, inspection: Inspection) -> tuple[LineFeed, Iterator[list[str]]]:
    """A csv reader over the file's lines, and the feed that says where each record is."""
    feed = LineFeed(enumerate(stream, 1), check_utf8=inspection.bad_lines > 0, stream=stream)
    return feed, csv.reader(feed)


def header_row(feed: LineFeed, reader: Iterator[list[str]]) -> list[str] | None:
    """The file's first record, its header; Refused if that line cannot be read as one."""
    try:
        row = next(reader, None)
    except csv.Error as error:  # the csv module's messages name no cell
        raise Refused(f"the header row cannot be read as CSV: {error}") from None
    feed.waiting = False
    problem = feed.take_problem()
    if problem:
        raise Refused(f"the header row cannot be read: {problem}")
    return row
