"""Reading a trace file: its checksum, its encoding, and its text."""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path
from typing import Any

READ_CHUNK = 1 << 20

# Undefined cp1252 bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as their Latin-1 code points.
_LATIN1_FALLBACK = "ironriver-latin1-fallback"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)


def inspect_file(path: Path) -> tuple[str, str]:
    """The file's sha256 and its encoding: "utf-8-sig", "utf-8", or "cp1252" when not valid UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    head = b""
    with path.open("rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            if len(head) < 3:
                head += chunk[:3]
            digest.update(chunk)
            if is_utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
    if is_utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if not is_utf8:
        return digest.hexdigest(), "cp1252"
    return digest.hexdigest(), "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def open_text(path: Path, encoding: str) -> Any:
    """The file as text in `encoding`, newlines left to the csv reader."""
    if encoding == "cp1252":
        return path.open(encoding="cp1252", errors=_LATIN1_FALLBACK, newline="")
    return path.open(encoding=encoding, newline="")
