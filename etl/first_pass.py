"""The first pass over a trace file (checksum, encoding), begun by the CLI before its imports.

A load must finish this pass before its first row: the file's SHA-256 says whether it was
loaded before, and its non-ASCII lines say how to decode it. `ironriver etl load-traces`
spends about half a second importing its libraries first, with one core idle; `begin_for`
(called by the entry point, `etl.launcher`, before those imports) runs the pass in a thread
meanwhile. Reading, hashing and Arrow's UTF-8 check let go of the GIL, so the imports hardly
wait for it.

This module imports only the standard library (pyarrow only inside the pass, for the UTF-8
check): importing it costs nothing, and the thread starts at once. A result is used only for
the very file it read, unchanged since (`Begun.result_for`); otherwise the loader runs the pass
itself, so what a load decides is the same either way.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import stat
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1 << 20
LONGEST_SCANNED_LINE = 4 << 20  # a longer stretch without a line break is checked as one line

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


class NotText(ValueError):
    """The file is not a CSV text file at all; the message says what it is instead."""


@dataclass(frozen=True)
class FirstPass:
    """What one pass over a file found: its checksum, and how its lines decode."""

    checksum: str  # SHA-256 of every byte, hex
    bom: bool  # starts with UTF-8's byte-order mark
    utf8_blocks: int  # stretches of whole lines with non-ASCII bytes, all of it valid UTF-8
    not_utf8_lines: int  # lines with bytes that are not valid UTF-8


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


def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for binary reading; NotText unless it is a regular file.

    Checked before opening (a FIFO would block the open, /dev/zero never ends) and again on the
    open descriptor, so a path swapped in between is caught too.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotText(f"not a regular file: {_kind_of(mode)}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotText(f"not a regular file: {_kind_of(mode)}")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def refuse_unless_text(head: bytes) -> None:
    """NotText if the file's first bytes say it is not CSV text, naming what it is."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise NotText(f"not a CSV text file: {what}")
    sample = head[:65536]
    if not sample:
        return
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 4 and (even.count(0) > len(even) // 2 or odd.count(0) > len(odd) // 2):
        raise NotText(
            "not a CSV text file: UTF-16 text without a byte-order mark: "
            "save it as UTF-8 or Windows-1252 CSV"
        )
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls * 20 > len(sample):  # one in twenty bytes a control character: not text
        raise NotText("not a CSV text file: binary data")


def is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8, as Python's strict decoder has it (no surrogates, no overlong
    forms). Arrow checks it in C without building a string, and without the GIL: a tenth of the
    time of a decode."""
    import pyarrow as pa  # the `traces` extra; not imported until a pass needs it

    offsets = pa.py_buffer(struct.pack("<qq", 0, len(data)))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


class _EncodingTally:
    """Counts stretches of lines with non-ASCII bytes that are valid UTF-8, and lines that are not."""

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


def read_first_pass(stream: BinaryIO) -> FirstPass:
    """Hash a file opened by `open_regular` and tally its encoding; NotText if it is not text.

    The encoding is tallied on whole lines, so a character split between two reads is not
    taken as invalid.
    """
    digest = hashlib.sha256()
    tally = _EncodingTally()
    chunk = stream.read(READ_CHUNK)
    refuse_unless_text(chunk)
    bom = chunk.startswith(codecs.BOM_UTF8)
    carry = b""
    while chunk:
        digest.update(chunk)
        data = carry + chunk
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        if cut == 0 and len(data) < LONGEST_SCANNED_LINE:
            carry = data
        else:
            cut = cut or len(data)
            tally.add(data[:cut])
            carry = data[cut:]
        chunk = stream.read(READ_CHUNK)
    tally.add(carry)
    return FirstPass(digest.hexdigest(), bom, tally.utf8, tally.not_utf8)


def _identity(status: os.stat_result) -> tuple[int, ...]:
    """What tells one state of a file from another: a changed byte changes its mtime or size, a
    file put in its place changes its inode, and a write or rename changes its ctime."""
    return (
        status.st_dev,
        status.st_ino,
        status.st_size,
        status.st_mtime_ns,
        status.st_ctime_ns,
    )


class Begun:
    """First passes run in a thread of their own over `paths`, in order, for the loader to take.

    A pass that fails in any way (not a regular file, not text, unreadable, changed while read,
    no pyarrow) leaves no result: the loader then runs it itself, and fails as it always did.
    """

    def __init__(self, paths: Sequence[Path | str]) -> None:
        self._results: dict[tuple[int, ...], FirstPass] = {}
        self._done = threading.Condition()
        self._finished = False
        self._thread = threading.Thread(
            target=self._run, args=(list(paths),), name="ironriver-first-pass", daemon=True
        )
        self._thread.start()

    def _run(self, paths: list[Path | str]) -> None:
        try:
            for path in paths:
                with contextlib.suppress(Exception), open_regular(path) as stream:
                    before = _identity(os.fstat(stream.fileno()))
                    found = read_first_pass(stream)
                    if _identity(os.fstat(stream.fileno())) == before:
                        with self._done:
                            self._results[before] = found
                            self._done.notify_all()
        finally:
            with self._done:
                self._finished = True
                self._done.notify_all()

    def result_for(self, path: Path | str) -> FirstPass | None:
        """The pass over `path` as it is now, waiting for it if it is under way; None if the
        thread did not read this file in this state."""
        try:
            now = _identity(os.stat(path))
        except OSError:
            return None
        with self._done:
            self._done.wait_for(lambda: now in self._results or self._finished)
            return self._results.get(now)


def paths_to_load(argv: Sequence[str]) -> list[str]:
    """The files of an `ironriver etl load-traces FILE...` command line, read before click
    parses it (it is imported after the pass begins); none for any other command."""
    words = list(argv[1:])
    while words and words[0].startswith("-"):  # the group's options: --log-format X, --help...
        option = words.pop(0)
        if option == "--log-format" and words:
            words.pop(0)
    if words[:2] != ["etl", "load-traces"]:
        return []
    files = []
    options_end = False
    for word in words[2:]:
        if word == "--" and not options_end:
            options_end = True
        elif options_end or not word.startswith("-"):
            files.append(word)
    return files


def begin_for(argv: Sequence[str]) -> Begun | None:
    """The first passes over the files of a load-traces command line, begun; None for any other."""
    files = paths_to_load(argv)
    return Begun(files) if files else None
