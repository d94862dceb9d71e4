"""Reading a trace file: only regular CSV text files, their checksum, encoding and records, one per line."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from etl import first_pass
from etl.traces.columns import Refused

# Undefined cp1252 bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as their Latin-1 code points.
_LATIN1_FALLBACK = "ironriver-latin1-fallback"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)


class NotCsvText(Refused):
    """The file is not a CSV text file at all (a device, a directory, an archive, UTF-16...)."""


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for binary reading, refused unless it is a regular file (see
    `first_pass.open_regular`)."""
    try:
        return first_pass.open_regular(path)
    except first_pass.NotText as refusal:
        raise NotCsvText(str(refusal)) from None


@dataclass(frozen=True)
class Inspection:
    """What the first pass over a file found: its checksum and how to decode it."""

    checksum: str
    encoding: str  # "utf-8-sig", "utf-8" or "cp1252"
    bad_lines: int = 0  # lines that are not UTF-8 in a file otherwise UTF-8: rejected one by one


def inspect_file(path: Path, begun: first_pass.Begun | None = None) -> Inspection:
    """Checksum a regular text file and decide its encoding; raise NotCsvText if it is not one.

    A file is read as cp1252 only when it is consistently not UTF-8: no line with non-ASCII
    bytes is valid UTF-8. One stray byte in a UTF-8 file rejects only its line. `begun`: the
    passes the CLI began as it started; the one over this very file, unchanged, is taken from
    there instead of reading the file again.
    """
    found = begun.result_for(path) if begun is not None else None
    if found is None:
        try:
            with first_pass.open_regular(path) as stream:
                found = first_pass.read_first_pass(stream)
        except first_pass.NotText as refusal:
            raise NotCsvText(str(refusal)) from None
    if found.not_utf8_lines and not found.utf8_blocks:
        return Inspection(found.checksum, "cp1252")
    encoding = "utf-8-sig" if found.bom else "utf-8"
    return Inspection(found.checksum, encoding, found.not_utf8_lines)


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
