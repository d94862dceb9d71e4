"""Row checks: every cell of an allow-listed column parsed to a code, date or number, or a reason."""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import Any

from etl.traces.columns import (
    ALLOWED_COLUMNS,
    EARLIEST_DATE,
    FIREARM_TYPES,
    FREE_TEXT_COLUMNS,
    MAX_LENGTHS,
    SOURCE_CATEGORIES,
    SPANISH_FIREARM_TYPES,
    US_SOURCED,
    Row,
    as_row,
)
from etl.traces.privacy import Header
from etl.traces.reading import LineFeed
from etl.traces.shifts import identifier_reason, identifier_shaped, trailing_blank_reason
from geo.states import mx_state_code, us_state_code

RawCells = tuple[str, ...]  # a row's allow-listed cells in Cells order, as a plain tuple
Reject = tuple[int, str, RawCells | None]  # line, reason, the row's allow-listed cells if aligned

CACHE_LIMIT = 100_000  # distinct raw values remembered per lookup; bounds memory on hostile input


class Lookup(dict[Any, Any]):
    """Raw cell text -> parsed value, computed once per distinct text (up to CACHE_LIMIT texts)."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: Any) -> Any:
        value = self.compute(key)
        if len(self) < CACHE_LIMIT:
            self[key] = value
        return value


class _Blank:
    """A blank cell: falsy like None, but told apart from None (unreadable)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "BLANK"


BLANK: Any = _Blank()
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DMY_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
# Nine digits at most: a day count fits easily, and int() never meets a 4,300-digit number.
_INTEGER = re.compile(r"[-+]?[0-9]{1,9}")
# What a state cell may look like before it is looked up: a 1-2 digit code, or words of letters
# joined by spaces, dots, hyphens or apostrophes ("Edo. de México"); not "-5", "+7", "Jalisco!!".
_STATE_SHAPE = re.compile(r"[0-9]{1,2}|[^\W\d_]+(?:[ .'\-]+[^\W\d_]+)*\.?")
_LONGEST_STATE = 60
# Shapes of the cells a reason may quote: dates, short codes and numbers cannot be a name, an
# address or a serial number; anything else that failed its check is never echoed.
_DATE_SHAPE = re.compile(r"[0-9]{1,4}[-/][0-9]{1,2}[-/][0-9]{1,4}")
_CODE_SHAPE = re.compile(r"[A-Za-z]{1,3}|[-+]?[0-9]{1,3}")
_SMALL_NUMBER = re.compile(r"[-+]?[0-9]{1,6}")


def identifier_lookups() -> dict[str, Lookup]:
    """Per free-text column: raw cell text -> whether it is identifier-shaped, remembered."""
    return {
        name: Lookup(partial(identifier_shaped, caliber=name == "caliber"))
        for name in FREE_TEXT_COLUMNS
    }


def parse_date(text: str) -> dt.date | None:
    """An ISO `YYYY-MM-DD` or `DD/MM/YYYY` date; None if unreadable or not a real day."""
    text = text.strip()
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
    elif match := _DMY_DATE.fullmatch(text):
        day, month, year = match.groups()
    else:
        return None
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _date_lookup() -> Lookup:
    # Cached as (ISO text, year, day ordinal): both databases take the ISO text.
    def compute(raw: str) -> Any:
        if not raw.strip():
            return BLANK
        value = parse_date(raw)
        if value is None:
            return None
        return (value.isoformat(), value.year, value.toordinal())

    return Lookup(compute)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    unaccented = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\s-]+", "_", unaccented)


_FIREARM_INDEX = {**{name: name for name in FIREARM_TYPES}, **SPANISH_FIREARM_TYPES}
_CATEGORY_INDEX = {name: name for name in SOURCE_CATEGORIES}


def firearm_type_code(raw: str) -> str | None:
    """The canonical English firearm type for an English or Spanish name, any case or accents."""
    return _FIREARM_INDEX.get(_fold(raw))


def source_category_code(raw: str) -> str | None:
    """The canonical source category for a name in any case; None if unknown."""
    return _CATEGORY_INDEX.get(_fold(raw))


def _state_shaped(raw: str) -> str | None:
    text = raw.strip()
    return text if len(text) <= _LONGEST_STATE and _STATE_SHAPE.fullmatch(text) else None


def mx_state(raw: str) -> str | None:
    """INEGI code of a recovery_state cell of the accepted shape; None if unknown or ill-formed."""
    text = _state_shaped(raw)
    return None if text is None else mx_state_code(text)


def us_state(raw: str) -> str | None:
    """USPS code of a source_state cell of the accepted shape; None if unknown or ill-formed."""
    text = _state_shaped(raw)
    return None if text is None else us_state_code(text)


def _blank_or(compute: Callable[[str], str | None]) -> Callable[[str], Any]:
    def wrapped(raw: str) -> Any:
        return BLANK if not raw.strip() else compute(raw)

    return wrapped


def _country(raw: str) -> str | None:
    text = raw.strip().upper()
    return "MX" if text in ("", "MX", "MEX", "MEXICO", "MÉXICO") else None


def _integer(raw: str) -> Any:
    text = raw.strip()
    if not text:
        return BLANK
    return int(text) if _INTEGER.fullmatch(text) else None


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def show(text: str) -> str:
    """A cell that passed its column's check, quoted for a reason text, cut short."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:40] + "…")


def repeat_reason(number: str | None) -> str:
    """The ledger's reason for a row whose trace number an earlier row of its file holds;
    without the number when the row could not be read again (the file changed)."""
    shown = "" if number is None else f" {show(number)}"
    return f"duplicate trace_number{shown} within this file"


def quoted(text: str, shape: re.Pattern[str]) -> str:
    """The cell, quoted after a space, if it has `shape` (so cannot be personal data); else ""."""
    text = text.strip()
    return f" {text!r}" if shape.fullmatch(text) else ""


def _is_date(cell: str) -> bool:
    return parse_date(cell) is not None


def _is_small_integer(cell: str) -> bool:
    return _SMALL_NUMBER.fullmatch(cell.strip()) is not None


def _is_country(cell: str) -> bool:
    return bool(cell.strip()) and _country(cell) is not None


def _known(lookup: Callable[[str], str | None]) -> Callable[[str], bool]:
    return lambda cell: lookup(cell) is not None


# The check a rejected row's cell must pass to be kept. Free-text columns (city, manufacturer,
# caliber, country of manufacture) have none: they are never kept for a rejected row.
_KEEPABLE: dict[str, Callable[[str], bool]] = {
    "recovery_date": _is_date,
    "recovery_country": _is_country,
    "recovery_state": _known(mx_state),
    "firearm_type": _known(firearm_type_code),
    "source_category": _known(source_category_code),
    "source_state": _known(us_state),
    "purchase_date": _is_date,
    "time_to_crime_days": _is_small_integer,
}
# The same checks remembered per cell text: a file's rejected rows repeat a few values.
_KEEPABLE_SEEN = {name: Lookup(check) for name, check in _KEEPABLE.items()}
_TRACE_NUMBER_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")


def wrong_width(cells: int, width: int) -> str:
    """Why a row of `cells` cells is rejected under a header of `width`; names no value."""
    return f"row has {cells} field{'' if cells == 1 else 's'}, the header has {width}"


def kept_fields(values: RawCells, present: tuple[bool, ...]) -> dict[str, str]:
    """The cells of a rejected row that may be stored: each passed its column's check.

    The trace number is free text: it is kept only when every other non-blank checked cell of
    the row passed, so a row whose cells shifted (a missing cell, a stray comma) keeps none of it.
    """
    kept: dict[str, str] = {}
    aligned = True
    trace_number = ""
    for name, cell, here in zip(ALLOWED_COLUMNS, values, present, strict=True):
        if not here:
            continue
        if name == "trace_number":
            trace_number = cell.strip()
            continue
        check = _KEEPABLE_SEEN.get(name)
        if check is None:
            continue
        if check[cell]:
            kept[name] = cell.strip()
        elif cell.strip():
            aligned = False
    if aligned and _TRACE_NUMBER_SHAPE.fullmatch(trace_number):
        kept["trace_number"] = trace_number
    return kept


@dataclass
class Batch:
    """A stretch of the file, read and checked: good rows ready to insert, and bad rows."""

    rows: Any  # the good rows, a pyarrow Table of ROW_SCHEMA (etl.traces.rows)
    lines: Any  # the line each good row is on, a numpy array of int64
    rejects: list[Reject]
    rows_read: int  # rows read from the start of the file to the end of this batch
    line: int  # the line of the last row read
    last: bool = False  # the file has no more rows
    counts: Any = None  # the AggregateCounts of the good rows
    copy_tuples: Any = None  # PostgreSQL: the good rows as binary COPY's, in the parser's thread


class Progress:
    """The line the parser is reading, for the "near line N" of a failure."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line = 0


@dataclass
class Checked:
    """What checking a stretch of records gave: good rows (with their lines and cells) and bad rows."""

    rows: list[Row] = field(default_factory=list)  # TraceRow's columns as plain tuples
    lines: list[int] = field(default_factory=list)  # the line each good row is on
    values: list[Any] = field(default_factory=list)  # each good row's allow-listed cells
    rejects: list[Reject] = field(default_factory=list)
    records: int = 0  # records read (blank lines are not records)


class RowChecks:
    """The format's rules applied one record at a time: the reference for every rule and reason.

    The columnar path (`etl.traces.columnar`) accepts the plain rows of a clean stretch at once;
    every record it does not accept is checked here, so each reason comes from this one place.
    Duplicate trace numbers are told apart afterwards, over the good rows of a whole batch.
    """

    def __init__(self, header: Header, file_id: int) -> None:
        self.header = header
        self.file_id = file_id
        self.today = dt.datetime.now(dt.UTC).date().toordinal()
        self.earliest = EARLIEST_DATE.toordinal()
        # Raw cell text -> parsed value, shared with the columnar path.
        self.dates = _date_lookup()
        self.countries = Lookup(_country)
        self.mx_states = Lookup(mx_state)
        self.us_states = Lookup(_blank_or(us_state))
        self.firearms = Lookup(firearm_type_code)
        self.categories = Lookup(source_category_code)
        self.integers = Lookup(_integer)
        self.texts = Lookup(_optional_text)
        self.identifiers = identifier_lookups()

    def run(
        self, feed: LineFeed, reader: Iterator[list[str]], out: Checked, progress: Progress
    ) -> None:
        """Check every record `reader` reads from `feed`, adding good and bad rows to `out`."""
        # One long loop on purpose: per-row function calls would cost more than the checks.
        header = self.header
        file_id = self.file_id
        width = header.width
        pad = not all(header.present)
        # A row shifted left by a missing cell and made up by trailing commas ends blank (under
        # its last named column).
        exposed_at = [header.indices[ALLOWED_COLUMNS.index(n)] for n in header.left_exposed]
        at_last_named = width - 1 - header.unnamed_tail
        ends_blank_reason = trailing_blank_reason(header.left_exposed)
        identifier_checks = [
            (header.indices[ALLOWED_COLUMNS.index(name)], lookup, identifier_reason(name))
            for name, lookup in self.identifiers.items()
            if header.present[ALLOWED_COLUMNS.index(name)]
        ]
        pick = itemgetter(*header.indices)  # a row's allow-listed cells, in Cells order
        # Where each column sits in a row. Cells are read by plain index: a Cells per row costs the
        # loop a fifth more (tuple subclasses stay tracked by the garbage collector).
        at = dict(zip(ALLOWED_COLUMNS, header.indices, strict=True))
        at_trace_number = at["trace_number"]
        at_recovery_date = at["recovery_date"]
        at_recovery_country = at["recovery_country"]
        at_recovery_state = at["recovery_state"]
        at_recovery_city = at["recovery_city"]
        at_firearm_type = at["firearm_type"]
        at_manufacturer = at["manufacturer"]
        at_caliber = at["caliber"]
        at_country_of_manufacture = at["country_of_manufacture"]
        at_source_category = at["source_category"]
        at_source_state = at["source_state"]
        at_purchase_date = at["purchase_date"]
        at_time_to_crime_days = at["time_to_crime_days"]
        today = self.today
        earliest = self.earliest
        dates = self.dates
        countries = self.countries
        mx_states = self.mx_states
        us_states = self.us_states
        firearms = self.firearms
        categories = self.categories
        integers = self.integers
        texts = self.texts
        pending = out.rows
        pending_lines = out.lines
        pending_values = out.values
        rejects = out.rejects

        def reject(line: int, reason: str, values: RawCells | None) -> None:
            rejects.append((line, reason, values))

        max_tn = MAX_LENGTHS["trace_number"]
        max_city = MAX_LENGTHS["recovery_city"]
        max_manufacturer = MAX_LENGTHS["manufacturer"]
        max_caliber = MAX_LENGTHS["caliber"]
        max_country = MAX_LENGTHS["country_of_manufacture"]
        next_record = reader.__next__
        records = 0

        while True:
            try:
                row = next_record()
            except StopIteration:
                break
            except csv.Error as error:  # a field over the csv module's limit: this record only
                feed.waiting = False
                feed.problem = None
                row = None
                problem: str | None = f"the row cannot be read as CSV: {error}"
            else:
                feed.waiting = False
                problem = feed.problem
                if problem is not None:
                    feed.problem = None
                elif not row:
                    continue  # a blank line is not a record
            line = feed.line
            progress.line = line
            records += 1
            if problem is not None or row is None:
                reject(line, problem or "the row cannot be read", None)
                continue
            if len(row) != width:
                # Cells that do not line up with the header may carry a sensitive value in an
                # allowed column: none of them is kept, not even blank trailing ones.
                reject(line, wrong_width(len(row), width), None)
                continue
            # Shift checks before any other: a shifted row's cells are not kept, whatever else fails.
            if (
                exposed_at
                and not row[at_last_named].strip()
                and any(row[i].strip() for i in exposed_at)
            ):
                reject(line, ends_blank_reason, None)
                continue
            shaped = next((why for at_, is_id, why in identifier_checks if is_id[row[at_]]), None)
            if shaped is not None:
                reject(line, shaped, None)
                continue
            if pad:
                row.append("")
            values = pick(row)
            tn = row[at_trace_number].strip()
            if not tn:
                reject(line, "trace_number is blank", values)
                continue
            if len(tn) > max_tn:
                reject(line, f"trace_number longer than {max_tn} characters", values)
                continue
            r_date = row[at_recovery_date]
            recovered = dates[r_date]
            if not recovered:
                if recovered is None:
                    reject(
                        line,
                        f"bad recovery_date{quoted(r_date, _DATE_SHAPE)}: "
                        "not a real YYYY-MM-DD or DD/MM/YYYY date",
                        values,
                    )
                else:
                    reject(line, "recovery_date is blank", values)
                continue
            if recovered[2] > today:
                reject(line, f"recovery_date {recovered[0]} is in the future", values)
                continue
            if recovered[2] < earliest:
                reject(line, f"recovery_date {recovered[0]} is before {EARLIEST_DATE}", values)
                continue
            r_country = row[at_recovery_country]
            country = countries[r_country]
            if country is None:
                reject(
                    line,
                    f"recovery_country{quoted(r_country, _CODE_SHAPE)} is not MX: "
                    "only recoveries in Mexico load",
                    values,
                )
                continue
            r_state = row[at_recovery_state]
            state = mx_states[r_state]
            if state is None:
                if r_state.strip():
                    reject(
                        line,
                        f"unknown Mexican state{quoted(r_state, _CODE_SHAPE)} in recovery_state",
                        values,
                    )
                else:
                    reject(line, "recovery_state is blank", values)
                continue
            f_type = row[at_firearm_type]
            firearm = firearms[f_type]
            if firearm is None:
                reject(line, f"unknown firearm_type{quoted(f_type, _CODE_SHAPE)}", values)
                continue
            category = row[at_source_category]
            source = categories[category]
            if source is None:
                reject(line, f"unknown source_category{quoted(category, _CODE_SHAPE)}", values)
                continue
            s_state = row[at_source_state]
            us_code = us_states[s_state]
            if us_code is None:
                reject(
                    line,
                    f"unknown source_state{quoted(s_state, _CODE_SHAPE)}: not a US state code",
                    values,
                )
                continue
            if us_code is BLANK:
                us_code = None
            elif source not in US_SOURCED:
                article = "an" if source[0] in "aeiou" else "a"
                reject(
                    line, f"source_state {show(s_state)} given for {article} {source} row", values
                )
                continue
            p_date = row[at_purchase_date]
            purchased = dates[p_date]
            if purchased is None:
                reject(
                    line,
                    f"bad purchase_date{quoted(p_date, _DATE_SHAPE)}: "
                    "not a real YYYY-MM-DD or DD/MM/YYYY date",
                    values,
                )
                continue
            if purchased:
                if purchased[2] > recovered[2]:
                    reject(
                        line,
                        f"purchase_date {purchased[0]} is after recovery_date {recovered[0]}",
                        values,
                    )
                    continue
                if purchased[2] < earliest:
                    reject(line, f"purchase_date {purchased[0]} is before {EARLIEST_DATE}", values)
                    continue
            ttc = row[at_time_to_crime_days]
            days = integers[ttc]
            if days is None:
                reject(line, "time_to_crime_days is not a whole number of at most 9 digits", values)
                continue
            if days is BLANK:
                days = recovered[2] - purchased[2] if purchased else None
            # Given or derived, a time-to-crime must put the first sale between 1900 and recovery.
            if days is not None:
                if days < 0:
                    shown = f" {days}" if days > -1_000_000 else ""  # a long number may be a serial
                    reject(line, f"negative time_to_crime_days{shown}", values)
                    continue
                if recovered[2] - days < earliest:
                    reject(
                        line,
                        f"time_to_crime_days{quoted(ttc, _SMALL_NUMBER)} puts the first retail sale "
                        f"before {EARLIEST_DATE}",
                        values,
                    )
                    continue
            # One shared object per distinct text: cheaper to send to the inserter and to bind.
            city = texts[row[at_recovery_city]]
            maker = texts[row[at_manufacturer]]
            calibre = texts[row[at_caliber]]
            made_in = texts[row[at_country_of_manufacture]]
            if (
                (city and len(city) > max_city)
                or (maker and len(maker) > max_manufacturer)
                or (calibre and len(calibre) > max_caliber)
                or (made_in and len(made_in) > max_country)
            ):
                reject(line, "a text field is longer than its column allows", values)
                continue
            pending.append(
                as_row(
                    {
                        "trace_file_id": file_id,
                        "trace_number": tn,
                        "recovery_date": recovered[0],
                        "recovery_year": recovered[1],
                        "recovery_country": country,
                        "recovery_state": state,
                        "recovery_city": city,
                        "firearm_type": firearm,
                        "manufacturer": maker,
                        "caliber": calibre,
                        "country_of_manufacture": made_in,
                        "source_category": source,
                        "source_state": us_code,
                        "purchase_date": purchased[0] if purchased else None,
                        "time_to_crime_days": days,
                    }
                )
            )
            pending_lines.append(line)
            pending_values.append(values)
        out.records += records
