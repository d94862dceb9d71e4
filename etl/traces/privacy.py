"""The allow-list: which header columns are read, which are sensitive, and error texts without values."""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy.exc import DBAPIError

from db.models import Trace
from etl.traces.columns import ALLOWED_COLUMNS, FREE_TEXT_COLUMNS, REQUIRED_COLUMNS, Refused

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
# How many cells a row may be shifted by and still keep the header's width unnoticed: a missing
# cell (or two) made up by trailing commas, an extra one made up by a dropped blank last cell.
SHIFT_REACH = 2
# Kept columns no vocabulary checks: a dropped value shifted into one of them would be stored.
SHIFT_EXPOSED: tuple[str, ...] = ("trace_number", *FREE_TEXT_COLUMNS)
# Required checked columns, and the checked columns whose values can pass their check too (a
# purchase date is a date; a country cell may read "México", a time-to-crime "9", both states).
# A row shifted left moves each later cell into the column on its left: a required column
# reading a cell from any other checked column, or the blank made up at the row's end, fails.
SHIFT_SHIELDS: dict[str, frozenset[str]] = {
    "recovery_date": frozenset({"purchase_date"}),
    "recovery_state": frozenset({"recovery_country", "source_state", "time_to_crime_days"}),
    "firearm_type": frozenset(),
    "source_category": frozenset(),
}


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
    left_exposed, exposure = _shift_exposure(names, positions)
    named = [index for index, name in enumerate(names) if name]
    return Header(
        width=width,
        indices=tuple(positions.get(name, width) for name in ALLOWED_COLUMNS),
        present=tuple(name in positions for name in ALLOWED_COLUMNS),
        ignored=tuple(_shown_name(n) for n in others if not is_sensitive(n)),
        sensitive=tuple(_shown_name(n) for n in others if is_sensitive(n)),
        left_exposed=left_exposed,
        exposure=exposure,
        unnamed_tail=width - 1 - named[-1],
    )


def _shift_exposure(
    names: list[str], positions: dict[str, int]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which unchecked kept columns a shift of up to SHIFT_REACH cells could fill with a dropped
    column's value: those with one on their right (a left shift), and all of them, described.

    Every named column off the allow-list counts, sensitive or not: the loader cannot know what
    an unknown column holds, and none of its values may be stored. Unnamed columns (a header
    ending in a comma, as every line may) are padding, not a source.
    """
    kept = set(positions.values()) | {index for index, name in enumerate(names) if not name}
    left: list[str] = []
    described: list[str] = []
    for name in SHIFT_EXPOSED:
        at = positions.get(name)
        if at is None:
            continue
        right = [
            i for i in range(at + 1, min(at + SHIFT_REACH, len(names) - 1) + 1) if i not in kept
        ]
        left_of = [i for i in range(max(at - SHIFT_REACH, 0), at) if i not in kept]
        if any(not _shielded(names, at, i - at) for i in right):
            left.append(name)
        if right or left_of:
            near = ", ".join(_shown_name(names[i]) for i in sorted(left_of + right))
            described.append(f"{name} (near {near})")
    return tuple(left), tuple(described)


def _shielded(names: list[str], at: int, shift: int) -> bool:
    """Whether a left shift by `shift` cells into column `at` always fails a check: some
    required checked column after it would read a cell its check refuses."""
    for index in range(at + 1, len(names)):
        compatible = SHIFT_SHIELDS.get(names[index])
        if compatible is None:
            continue
        source = index + shift
        if source >= len(names):
            return True  # a required column reads a blank made up at the row's end
        other = names[source]
        if other in ALLOWED_COLUMNS and other not in SHIFT_EXPOSED and other not in compatible:
            return True
    return False


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
            SHIFT_REACH,
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
