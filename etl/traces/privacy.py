"""The allow-list: which header columns are read, which are sensitive, and error texts without values."""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy.exc import DBAPIError

from db.models import Trace
from etl.traces import shifts
from etl.traces.columns import ALLOWED_COLUMNS, REQUIRED_COLUMNS, Refused

log = logging.getLogger(__name__)

SENSITIVE_COLUMNS = frozenset(
    {
        "serial_number",
        "purchaser_name",
        "purchaser_address",
        "possessor_name",
        "ffl_name",
        "ffl_number",
    }
)
SENSITIVE_PARTS: tuple[str, ...] = ("name", "address", "dob", "serial")


@dataclass(frozen=True)
class Header:
    """Where each allow-listed column sits in a row, and what the header held besides."""

    width: int
    indices: tuple[int, ...]  # one per ALLOWED_COLUMNS entry; `width` when the column is absent
    present: tuple[bool, ...]
    ignored: tuple[str, ...]
    sensitive: tuple[str, ...]
    # Unchecked kept columns with a dropped column at most SHIFT_REACH cells to their right: a
    # row shifted left (a missing cell, trailing commas) moves the dropped value into them.
    left_exposed: tuple[str, ...] = ()
    # Each unchecked kept column within SHIFT_REACH cells of a dropped one, on either side.
    exposure: tuple[str, ...] = ()
    # Unnamed columns after the last named one (a header ending in commas): a left-shifted row
    # ends blank under the last named column, the cell the shift check reads.
    unnamed_tail: int = 0


def is_sensitive(name: str) -> bool:
    """Whether a (lower-cased) column name is one whose values must never be kept."""
    return name in SENSITIVE_COLUMNS or any(part in name for part in SENSITIVE_PARTS)


def read_header(row: list[str] | None) -> Header:
    """Match the header row against the format; raise Refused naming what is missing."""
    if row is None:
        raise Refused("the file is empty: no header row")
    names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in row]
    width = len(names)
    positions: dict[str, int] = {}
    repeated: list[str] = []
    for index, name in enumerate(names):
        if name in ALLOWED_COLUMNS:
            if name in positions:
                repeated.append(name)
            positions[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        # The header's own cells are not echoed: a file without a header has a data row there.
        plural = "s" if len(missing) > 1 else ""
        raise Refused(f"missing required column{plural} {', '.join(missing)}")
    if repeated:
        raise Refused(
            f"column(s) named more than once in the header: {', '.join(sorted(set(repeated)))}"
        )
    others = [name for name in names if name not in positions]
    left_exposed, near = shifts.exposure(names, positions)
    named = [index for index, name in enumerate(names) if name]
    return Header(
        width=width,
        indices=tuple(positions.get(name, width) for name in ALLOWED_COLUMNS),
        present=tuple(name in positions for name in ALLOWED_COLUMNS),
        ignored=tuple(_shown_name(n) for n in others if not is_sensitive(n)),
        sensitive=tuple(_shown_name(n) for n in others if is_sensitive(n)),
        left_exposed=left_exposed,
        exposure=tuple(
            f"{name} (near {', '.join(_shown_name(names[i]) for i in indices)})"
            for name, indices in near
        ),
        unnamed_tail=width - 1 - named[-1],
    )


def _shown_name(name: str) -> str:
    return repr(name[:60]) if not re.fullmatch(r"[a-z0-9_ .-]{1,60}", name) else name


def log_dropped_columns(file_name: str, header: Header) -> None:
    """Say once per file which columns were ignored and which sensitive ones were dropped."""
    if header.ignored:
        log.info("%s: ignoring columns not in the format: %s", file_name, ", ".join(header.ignored))
    if header.sensitive:
        log.info(
            "%s: sensitive columns dropped at the header: %s",
            file_name,
            ", ".join(header.sensitive),
        )
    if header.exposure:
        log.warning(
            "%s: unchecked columns within %d cells of a dropped column, so a shifted row could "
            "put a dropped value in them; rows that look shifted are rejected (remove the "
            "dropped columns from the export, or move them away, to keep those rows): %s",
            file_name,
            shifts.SHIFT_REACH,
            "; ".join(header.exposure),
        )


_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


@cache
def _schema_names() -> frozenset[str]:
    """Names a driver may quote that are not data: tables, columns, constraints and indexes."""
    names: set[str] = set()
    for table in Trace.metadata.sorted_tables:
        names.add(table.name)
        names.update(column.name for column in table.columns)
        names.update(f"{table.name}.{column.name}" for column in table.columns)
        names.update(str(c.name) for c in table.constraints if c.name)
        names.update(str(i.name) for i in table.indexes if i.name)
    return frozenset(names)


def describe_error(error: BaseException) -> str:
    """The error's type and a message that cannot carry row values (drivers may quote them)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        lines = str(error.orig).strip().splitlines()
        first = lines[0] if lines else ""
        known = _schema_names()
        redacted = _QUOTED.sub(
            lambda m: m.group(0) if (m.group(1) or m.group(2)) in known else "'…'", first
        )
        return f"{type(error.orig).__name__}: {redacted}"
    if isinstance(error, csv.Error):  # the csv module's messages name no cell
        return f"{type(error).__name__}: {error}"
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror}"
    return type(error).__name__
