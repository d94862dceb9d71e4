"""Row checks: every cell of an allow-listed column parsed to a code, date or number, or a reason."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from etl.traces.columns import (
    ALLOWED_COLUMNS,
    FIREARM_TYPES,
    MAX_LENGTHS,
    MAX_TTC_DAYS,
    SOURCE_CATEGORIES,
    SPANISH_FIREARM_TYPES,
    US_SOURCED,
    Row,
    as_row,
)
from etl.traces.privacy import Header
from geo.states import mx_state_code, us_state_code

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
_INTEGER = re.compile(r"[-+]?[0-9]+")


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


def _date_lookup(as_text: bool) -> Lookup:
    # Cached as (value to bind, year, day ordinal); SQLite gets ISO text, PostgreSQL a date.
    def compute(raw: str) -> Any:
        if not raw.strip():
            return BLANK
        value = parse_date(raw)
        if value is None:
            return None
        return (value.isoformat() if as_text else value, value.year, value.toordinal())

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
    """A cell of an allow-listed column quoted for a reason text, cut short."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:40] + "…")


RawCells = tuple[str, ...]  # a row's allow-listed cells in Cells order, as a plain tuple
Reject = tuple[int, str, RawCells | None]  # line, reason, the row's allow-listed cells if aligned


@dataclass
class Batch:
    """A stretch of the file, read and checked: good rows ready to insert, and bad rows."""

    rows: list[Row]  # TraceRow's columns as plain tuples
    lines: list[int]  # the line each good row starts on
    values: list[Any]  # each good row's allow-listed cells, should it be rejected later
    rejects: list[Reject]
    rows_read: int  # rows read from the start of the file to the end of this batch
    line: int  # the line of the last row read
    last: bool = False  # the file has no more rows


class Progress:
    """The line the parser is reading, for the "near line N" of a failure."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line = 0


def parse(
    reader: Iterator[list[str]],
    header: Header,
    file_id: int,
    postgres: bool,
    batch_rows: int,
    progress: Progress,
) -> Iterator[Batch]:
    """Check every row after the header; yield good and bad rows in batches of `batch_rows`.

    Pure work on the text: it touches no database, so it can run in a worker process. Rows
    whose trace number is already in the database are told apart later, by the inserter.
    """
    # One long loop on purpose: per-row function calls would cost more than the checks.
    width = header.width
    pad = not all(header.present)
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
    today = dt.datetime.now(dt.UTC).date().toordinal()
    dates = _date_lookup(as_text=not postgres)
    countries = Lookup(_country)
    mx_states = Lookup(mx_state_code)
    us_states = Lookup(_blank_or(us_state_code))
    firearms = Lookup(firearm_type_code)
    categories = Lookup(source_category_code)
    integers = Lookup(_integer)
    texts = Lookup(_optional_text)
    pending: list[Row] = []
    pending_lines: list[int] = []
    pending_values: list[RawCells] = []
    rejects: list[Reject] = []
    rows_read = 0

    def reject(line: int, reason: str, values: RawCells | None) -> None:
        rejects.append((line, reason, values))

    seen: set[str] = set()  # trace numbers of the current batch; earlier batches are in the DB
    max_tn = MAX_LENGTHS["trace_number"]
    max_city = MAX_LENGTHS["recovery_city"]
    max_manufacturer = MAX_LENGTHS["manufacturer"]
    max_caliber = MAX_LENGTHS["caliber"]
    max_country = MAX_LENGTHS["country_of_manufacture"]
    # csv counts physical lines, so a quoted newline still gives the right number.
    line_num = reader.line_num  # type: ignore[attr-defined]
    line = line_num

    for row in reader:
        line = line_num + 1
        line_num = reader.line_num  # type: ignore[attr-defined]
        progress.line = line
        if not row:
            continue
        rows_read += 1
        if len(rejects) >= batch_rows:  # a file of nothing but bad rows stays bounded too
            yield Batch(pending, pending_lines, pending_values, rejects, rows_read - 1, line)
            pending, pending_lines, pending_values, rejects = [], [], [], []
            seen.clear()
        if len(row) != width and (len(row) < width or any(cell.strip() for cell in row[width:])):
            # A row whose cells do not line up may carry a sensitive value in an allowed column.
            cells = f"{len(row)} field" + ("" if len(row) == 1 else "s")
            reject(line, f"row has {cells}, the header has {width}", None)
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
                    f"bad recovery_date {show(r_date)}: not a real YYYY-MM-DD or DD/MM/YYYY date",
                    values,
                )
            else:
                reject(line, "recovery_date is blank", values)
            continue
        if recovered[2] > today:
            reject(line, f"recovery_date {recovered[0]} is in the future", values)
            continue
        country = countries[row[at_recovery_country]]
        if country is None:
            reject(
                line,
                f"recovery_country {show(row[at_recovery_country])} is not MX: "
                "only recoveries in Mexico load",
                values,
            )
            continue
        r_state = row[at_recovery_state]
        state = mx_states[r_state]
        if state is None:
            if r_state.strip():
                reject(line, f"unknown Mexican state {show(r_state)} in recovery_state", values)
            else:
                reject(line, "recovery_state is blank", values)
            continue
        firearm = firearms[row[at_firearm_type]]
        if firearm is None:
            reject(line, f"unknown firearm_type {show(row[at_firearm_type])}", values)
            continue
        source = categories[row[at_source_category]]
        if source is None:
            reject(line, f"unknown source_category {show(row[at_source_category])}", values)
            continue
        s_state = row[at_source_state]
        us_state = us_states[s_state]
        if us_state is None:
            reject(line, f"unknown source_state {show(s_state)}: not a US state code", values)
            continue
        if us_state is BLANK:
            us_state = None
        elif source not in US_SOURCED:
            article = "an" if source[0] in "aeiou" else "a"
            reject(line, f"source_state {show(s_state)} given for {article} {source} row", values)
            continue
        p_date = row[at_purchase_date]
        purchased = dates[p_date]
        if purchased is None:
            reject(
                line,
                f"bad purchase_date {show(p_date)}: not a real YYYY-MM-DD or DD/MM/YYYY date",
                values,
            )
            continue
        if purchased and purchased[2] > recovered[2]:
            reject(
                line,
                f"purchase_date {purchased[0]} is after recovery_date {recovered[0]}",
                values,
            )
            continue
        ttc = row[at_time_to_crime_days]
        days = integers[ttc]
        if days is None:
            reject(line, f"time_to_crime_days {show(ttc)} is not a whole number", values)
            continue
        if days is BLANK:
            days = recovered[2] - purchased[2] if purchased else None
        elif days < 0:
            reject(line, f"negative time_to_crime_days {days}", values)
            continue
        elif days > MAX_TTC_DAYS:
            reject(line, f"time_to_crime_days {days} is over {MAX_TTC_DAYS} (150 years)", values)
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
        if tn in seen:
            reject(line, f"duplicate trace_number {show(tn)} within this file", values)
            continue
        seen.add(tn)
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
                    "source_state": us_state,
                    "purchase_date": purchased[0] if purchased else None,
                    "time_to_crime_days": days,
                }
            )
        )
        pending_lines.append(line)
        pending_values.append(values)
        if len(pending) >= batch_rows:
            yield Batch(pending, pending_lines, pending_values, rejects, rows_read, line)
            pending, pending_lines, pending_values, rejects = [], [], [], []
            seen.clear()
    yield Batch(pending, pending_lines, pending_values, rejects, rows_read, line, last=True)
