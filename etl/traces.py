"""Load eTrace-style trace exports: allow-listed columns only, bad rows set aside, one transaction per file."""

from __future__ import annotations

import codecs
import contextlib
import csv
import ctypes
import datetime as dt
import hashlib
import logging
import multiprocessing
import os
import pickle
import re
import signal
import sys
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, literal, null, select
from sqlalchemy.exc import DBAPIError

from db.models import RejectedRow, RunStatus, Trace, TraceAggregate, TraceFile
from etl.runs import fail_run, finish_run, now, record_skip, start_run
from geo.states import mx_state_code, us_state_code

log = logging.getLogger(__name__)

KIND = "traces"

# The format's columns, in the order the loader reads them. Nothing else ever leaves the reader.
ALLOWED_COLUMNS: tuple[str, ...] = (
    "trace_number",
    "recovery_date",
    "recovery_country",
    "recovery_state",
    "recovery_city",
    "firearm_type",
    "manufacturer",
    "caliber",
    "country_of_manufacture",
    "source_category",
    "source_state",
    "purchase_date",
    "time_to_crime_days",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "trace_number",
    "recovery_date",
    "recovery_state",
    "firearm_type",
    "source_category",
)
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

FIREARM_TYPES: tuple[str, ...] = (
    "pistol",
    "rifle",
    "revolver",
    "shotgun",
    "machine_gun",
    "derringer",
    "other",
    "unknown",
)
SPANISH_FIREARM_TYPES = {
    "pistola": "pistol",
    "revolver": "revolver",  # "revólver" once accents are folded
    "escopeta": "shotgun",
    "ametralladora": "machine_gun",
}
SOURCE_CATEGORIES: tuple[str, ...] = ("us_manufactured", "us_imported", "non_us", "undetermined")
US_SOURCED = frozenset({"us_manufactured", "us_imported"})

# Time-to-crime bands in days; a year is counted as 365 days.
TTC_BANDS: tuple[tuple[int, str], ...] = (
    (365, "<1y"),
    (3 * 365, "1-3y"),
    (5 * 365, "3-5y"),
    (10 * 365, "5-10y"),
)
TTC_TOP_BAND = "10y+"
TTC_UNKNOWN_BAND = "unknown"
MAX_TTC_DAYS = 150 * 365  # beyond this a value is a typo, and it must still fit a 32-bit integer

# Column widths of the traces table: a longer value is rejected, never truncated.
MAX_LENGTHS = {
    "trace_number": 64,
    "recovery_city": 120,
    "manufacturer": 120,
    "caliber": 40,
    "country_of_manufacture": 60,
}

BATCH_ROWS = 10_000
CACHE_LIMIT = 100_000  # distinct raw values remembered per lookup; bounds memory on hostile input
READ_CHUNK = 1 << 20
SQLITE_IN_CHUNK = 900  # SQLite before 3.32 allowed 999 variables per statement

# Undefined cp1252 bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode as their Latin-1 code points.
_LATIN1_FALLBACK = "ironriver-latin1-fallback"


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)

_INSERT_COLUMNS: tuple[str, ...] = (
    "trace_file_id",
    "trace_number",
    "recovery_date",
    "recovery_year",
    "recovery_country",
    "recovery_state",
    "recovery_city",
    "firearm_type",
    "manufacturer",
    "caliber",
    "country_of_manufacture",
    "source_category",
    "source_state",
    "purchase_date",
    "time_to_crime_days",
)


@dataclass(frozen=True)
class TraceLoadResult:
    """What one call of `load_trace_file` did; `summary()` is the line the CLI prints."""

    file_name: str
    checksum: str | None
    status: RunStatus
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    message: str | None = None
    run_id: int | None = None
    trace_file_id: int | None = None
    encoding: str | None = None

    def summary(self) -> str:
        if self.status == RunStatus.LOADED:
            return (
                f"{self.file_name}: accepted — read {self.rows_read}, loaded {self.rows_loaded}, "
                f"rejected {self.rows_rejected}, duplicate {self.rows_duplicate}"
            )
        if self.status == RunStatus.SKIPPED:
            return f"{self.file_name}: skipped — {self.message}"
        return f"{self.file_name}: {self.status.value.upper()} — {self.message}"


class Refused(Exception):
    """The file as a whole cannot be loaded (a missing required column, no header)."""


# ---------------------------------------------------------------------------- reading


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


@dataclass(frozen=True)
class _Header:
    """Where each allow-listed column sits in a row, and what the header held besides."""

    width: int
    indices: tuple[int, ...]  # one per ALLOWED_COLUMNS entry; `width` when the column is absent
    present: tuple[bool, ...]
    ignored: tuple[str, ...]
    sensitive: tuple[str, ...]


def _is_sensitive(name: str) -> bool:
    return name in SENSITIVE_COLUMNS or any(part in name for part in SENSITIVE_PARTS)


def read_header(row: list[str] | None) -> _Header:
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
    return _Header(
        width=width,
        indices=tuple(positions.get(name, width) for name in ALLOWED_COLUMNS),
        present=tuple(name in positions for name in ALLOWED_COLUMNS),
        ignored=tuple(_shown_name(n) for n in others if not _is_sensitive(n)),
        sensitive=tuple(_shown_name(n) for n in others if _is_sensitive(n)),
    )


def _shown_name(name: str) -> str:
    return repr(name[:60]) if not re.fullmatch(r"[a-z0-9_ .-]{1,60}", name) else name


# ---------------------------------------------------------------------------- value lookups


class _Lookup(dict[Any, Any]):
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


def _date_lookup(as_text: bool) -> _Lookup:
    # Cached as (value to bind, year, day ordinal); SQLite gets ISO text, PostgreSQL a date.
    def compute(raw: str) -> Any:
        if not raw.strip():
            return BLANK
        value = parse_date(raw)
        if value is None:
            return None
        return (value.isoformat() if as_text else value, value.year, value.toordinal())

    return _Lookup(compute)


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


def _show(text: str) -> str:
    """A cell of an allow-listed column quoted for a reason text, cut short."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:40] + "…")


# ---------------------------------------------------------------------------- loading


def load_trace_file(engine: Engine, path: str | Path) -> TraceLoadResult:
    """Load one eTrace-style CSV in one transaction; an identical file loaded before is skipped."""
    path = Path(path)
    file_name = path.name[:200]
    try:
        checksum, encoding = inspect_file(path)
    except OSError as error:
        message = f"cannot read the file: {type(error).__name__}: {error.strerror}"
        run_id = start_run(engine, KIND, file_name, None)
        fail_run(engine, run_id, message)
        log.error("%s: FAILED, %s", file_name, message)
        return TraceLoadResult(file_name, None, RunStatus.FAILED, message=message, run_id=run_id)

    previous = _loaded_file(engine, checksum)
    if previous is not None:
        message = f"no change: identical to {previous[1]} already loaded (trace file {previous[0]})"
        run_id = record_skip(engine, KIND, file_name, checksum, message)
        log.info("%s: %s", file_name, message)
        return TraceLoadResult(
            file_name, checksum, RunStatus.SKIPPED, message=message, run_id=run_id
        )

    run_id = start_run(engine, KIND, file_name, checksum)
    loader: _FileLoader | None = None
    try:
        with engine.begin() as connection, _open_text(path, encoding) as stream:
            reader = csv.reader(stream)
            try:
                header = read_header(next(reader, None))
            except Refused as refusal:
                finish_run(connection, run_id, RunStatus.REFUSED, error=str(refusal))
                log.error("%s: REFUSED, %s", file_name, refusal)
                return TraceLoadResult(
                    file_name,
                    checksum,
                    RunStatus.REFUSED,
                    message=str(refusal),
                    run_id=run_id,
                    encoding=encoding,
                )
            _log_dropped_columns(file_name, header)
            file_id = connection.execute(
                insert(TraceFile)
                .values(
                    file_name=path.name[:255],
                    checksum=checksum,
                    loaded_at=now(),
                    run_id=run_id,
                    encoding=encoding,
                    synthetic="synthetic" in path.name.lower(),
                )
                .returning(TraceFile.id)
            ).scalar_one()
            parallel = _can_fork() and path.stat().st_size >= PARALLEL_MIN_BYTES
            loader = _FileLoader(connection, header, file_id, run_id, file_name, parallel=parallel)
            loader.load(reader)
            loader.write_aggregates()
            finish_run(
                connection,
                run_id,
                RunStatus.LOADED,
                rows_read=loader.rows_read,
                rows_loaded=loader.rows_loaded,
                rows_rejected=loader.rows_rejected,
                rows_duplicate=loader.rows_duplicate,
            )
    except Exception as error:  # the transaction rolled back; record why, without row values
        where = f" near line {loader.line}" if loader is not None and loader.line else ""
        message = f"{describe_error(error)}{where}; nothing from this file was kept"
        fail_run(engine, run_id, message)
        log.error("%s: FAILED, %s", file_name, message)
        return TraceLoadResult(
            file_name, checksum, RunStatus.FAILED, message=message, run_id=run_id
        )
    log.info(
        "%s: loaded %d of %d rows (%d rejected, %d duplicate), encoding %s, run %d",
        file_name,
        loader.rows_loaded,
        loader.rows_read,
        loader.rows_rejected,
        loader.rows_duplicate,
        encoding,
        run_id,
    )
    return TraceLoadResult(
        file_name,
        checksum,
        RunStatus.LOADED,
        rows_read=loader.rows_read,
        rows_loaded=loader.rows_loaded,
        rows_rejected=loader.rows_rejected,
        rows_duplicate=loader.rows_duplicate,
        run_id=run_id,
        trace_file_id=file_id,
        encoding=encoding,
    )


def _open_text(path: Path, encoding: str) -> Any:
    if encoding == "cp1252":
        return path.open(encoding="cp1252", errors=_LATIN1_FALLBACK, newline="")
    return path.open(encoding=encoding, newline="")


def _loaded_file(engine: Engine, checksum: str) -> tuple[int, str] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(TraceFile.id, TraceFile.file_name).where(TraceFile.checksum == checksum)
        ).first()
    return None if row is None else (row[0], row[1])


def _log_dropped_columns(file_name: str, header: _Header) -> None:
    if header.ignored:
        log.info("%s: ignoring columns not in the format: %s", file_name, ", ".join(header.ignored))
    if header.sensitive:
        log.info(
            "%s: sensitive columns dropped at the header: %s",
            file_name,
            ", ".join(header.sensitive),
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


# ---------------------------------------------------------------------------- parsing


@dataclass
class _Batch:
    """A stretch of the file, read and checked: good rows ready to insert, and bad rows."""

    rows: list[tuple[Any, ...]]  # in _INSERT_COLUMNS order
    lines: list[int]  # the line each good row starts on
    values: list[Any]  # each good row's allow-listed cells, should it be rejected later
    rejects: list[tuple[int, str, tuple[str, ...] | None]]  # line, reason, cells
    rows_read: int  # rows read from the start of the file to the end of this batch
    line: int  # the line of the last row read
    last: bool = False  # the file has no more rows


class _Progress:
    """The line the parser is reading, for the "near line N" of a failure."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line = 0


def _parse(
    reader: Iterator[list[str]],
    header: _Header,
    file_id: int,
    postgres: bool,
    batch_rows: int,
    progress: _Progress,
) -> Iterator[_Batch]:
    """Check every row after the header; yield good and bad rows in batches of `batch_rows`.

    Pure work on the text: it touches no database, so it can run in a worker process. Rows
    whose trace number is already in the database are told apart later, by the inserter.
    """
    # One long loop on purpose: per-row function calls would cost more than the checks.
    width = header.width
    pad = not all(header.present)
    pick = itemgetter(*header.indices)
    today = dt.datetime.now(dt.UTC).date().toordinal()
    dates = _date_lookup(as_text=not postgres)
    countries = _Lookup(_country)
    mx_states = _Lookup(mx_state_code)
    us_states = _Lookup(_blank_or(us_state_code))
    firearms = _Lookup(firearm_type_code)
    categories = _Lookup(source_category_code)
    integers = _Lookup(_integer)
    texts = _Lookup(_optional_text)
    pending: list[tuple[Any, ...]] = []
    pending_lines: list[int] = []
    pending_values: list[tuple[str, ...]] = []
    rejects: list[tuple[int, str, tuple[str, ...] | None]] = []
    rows_read = 0

    def reject(line: int, reason: str, values: tuple[str, ...] | None) -> None:
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
            yield _Batch(pending, pending_lines, pending_values, rejects, rows_read - 1, line)
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
        (
            tn,
            r_date,
            r_country,
            r_state,
            city,
            f_type,
            maker,
            calibre,
            made_in,
            category,
            s_state,
            p_date,
            ttc,
        ) = values
        tn = tn.strip()
        if not tn:
            reject(line, "trace_number is blank", values)
            continue
        if len(tn) > max_tn:
            reject(line, f"trace_number longer than {max_tn} characters", values)
            continue
        recovered = dates[r_date]
        if not recovered:
            if recovered is None:
                reject(
                    line,
                    f"bad recovery_date {_show(r_date)}: not a real YYYY-MM-DD or DD/MM/YYYY date",
                    values,
                )
            else:
                reject(line, "recovery_date is blank", values)
            continue
        if recovered[2] > today:
            reject(line, f"recovery_date {recovered[0]} is in the future", values)
            continue
        country = countries[r_country]
        if country is None:
            reject(
                line,
                f"recovery_country {_show(r_country)} is not MX: only recoveries in Mexico load",
                values,
            )
            continue
        state = mx_states[r_state]
        if state is None:
            if r_state.strip():
                reject(line, f"unknown Mexican state {_show(r_state)} in recovery_state", values)
            else:
                reject(line, "recovery_state is blank", values)
            continue
        firearm = firearms[f_type]
        if firearm is None:
            reject(line, f"unknown firearm_type {_show(f_type)}", values)
            continue
        source = categories[category]
        if source is None:
            reject(line, f"unknown source_category {_show(category)}", values)
            continue
        us_state = us_states[s_state]
        if us_state is None:
            reject(line, f"unknown source_state {_show(s_state)}: not a US state code", values)
            continue
        if us_state is BLANK:
            us_state = None
        elif source not in US_SOURCED:
            article = "an" if source[0] in "aeiou" else "a"
            reject(line, f"source_state {_show(s_state)} given for {article} {source} row", values)
            continue
        purchased = dates[p_date]
        if purchased is None:
            reject(
                line,
                f"bad purchase_date {_show(p_date)}: not a real YYYY-MM-DD or DD/MM/YYYY date",
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
        days = integers[ttc]
        if days is None:
            reject(line, f"time_to_crime_days {_show(ttc)} is not a whole number", values)
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
        city = texts[city]
        maker = texts[maker]
        calibre = texts[calibre]
        made_in = texts[made_in]
        if (
            (city and len(city) > max_city)
            or (maker and len(maker) > max_manufacturer)
            or (calibre and len(calibre) > max_caliber)
            or (made_in and len(made_in) > max_country)
        ):
            reject(line, "a text field is longer than its column allows", values)
            continue
        if tn in seen:
            reject(line, f"duplicate trace_number {_show(tn)} within this file", values)
            continue
        seen.add(tn)
        pending.append(
            (
                file_id,
                tn,
                recovered[0],
                recovered[1],
                country,
                state,
                city,
                firearm,
                maker,
                calibre,
                made_in,
                source,
                us_state,
                purchased[0] if purchased else None,
                days,
            )
        )
        pending_lines.append(line)
        pending_values.append(values)
        if len(pending) >= batch_rows:
            yield _Batch(pending, pending_lines, pending_values, rejects, rows_read, line)
            pending, pending_lines, pending_values, rejects = [], [], [], []
            seen.clear()
    yield _Batch(pending, pending_lines, pending_values, rejects, rows_read, line, last=True)


class ParserDied(RuntimeError):
    """The parsing process ended without sending its result."""


@dataclass
class _Failure:
    """What the parsing process sends instead of a batch when reading the file fails."""

    error: BaseException
    line: int


# A file at least this big is parsed in a forked process while this one inserts (2 cores);
# for a smaller file, starting a process would cost more than it saves.
PARALLEL_MIN_BYTES = 8 << 20


def _can_fork() -> bool:
    """A worker is forked only where that is cheap and safe: Linux-like, 2+ CPUs, one thread."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) > 1 and threading.active_count() == 1


def _die_with_parent(parent: int) -> None:
    """A killed loader must not leave its parser behind (it shares the writer lock's file)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _portable(error: BaseException) -> BaseException:
    try:
        pickle.dumps(error)
    except Exception:
        return RuntimeError(f"{type(error).__name__} in the parsing process")
    return error


# Cells of a row travel to the inserter as one string (a tuple of 13 costs it 3x as much to
# unpickle); they are only unpacked for the rare row the database then rejects.
_SEPARATOR = "\x1f"


def _pack(values: tuple[str, ...]) -> tuple[str, ...] | str:
    text = _SEPARATOR.join(values)
    return text if text.count(_SEPARATOR) == len(values) - 1 else values


def _unpack(values: tuple[str, ...] | str) -> tuple[str, ...]:
    return tuple(values.split(_SEPARATOR)) if isinstance(values, str) else values


def _parse_worker(
    send: Any,
    reader: Iterator[list[str]],
    header: _Header,
    file_id: int,
    postgres: bool,
    batch_rows: int,
    parent: int,
) -> None:
    _die_with_parent(parent)
    progress = _Progress()
    try:
        for batch in _parse(reader, header, file_id, postgres, batch_rows, progress):
            batch.values = list(map(_pack, batch.values))
            send.send(batch)
    except BrokenPipeError:  # the loader is gone: nobody to tell
        return
    except BaseException as error:
        with contextlib.suppress(OSError):
            send.send(_Failure(_portable(error), progress.line))
    finally:
        send.close()


def _parse_in_worker(
    reader: Iterator[list[str]],
    header: _Header,
    file_id: int,
    postgres: bool,
    batch_rows: int,
    progress: _Progress,
) -> Iterator[_Batch]:
    """`_parse` run in a forked process, its batches received here as this process inserts.

    The fork inherits the open reader where the header left it. At most one batch waits in
    the pipe while the next is parsed, so memory stays bounded.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    worker = context.Process(
        target=_parse_worker,
        args=(send, reader, header, file_id, postgres, batch_rows, os.getpid()),
        name="ironriver-trace-parser",
        daemon=True,
    )
    worker.start()
    send.close()
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError:
                worker.join(5)
                raise ParserDied(
                    f"the parsing process ended without a result (exit code {worker.exitcode})"
                ) from None
            if isinstance(message, _Failure):
                progress.line = message.line
                raise message.error
            yield message
            if message.last:
                return
    finally:
        # Closing the pipe ends a worker still sending (BrokenPipeError); one that hangs is killed.
        receive.close()
        worker.join(5)
        if worker.is_alive():
            worker.kill()
            worker.join()


class _FileLoader:
    """Inserts the checked rows of one file in batches and records the bad ones with reasons."""

    def __init__(
        self,
        connection: Connection,
        header: _Header,
        file_id: int,
        run_id: int,
        file_name: str,
        *,
        parallel: bool = False,
    ) -> None:
        self.connection = connection
        self.header = header
        self.file_id = file_id
        self.run_id = run_id
        self.file_name = file_name
        self.parallel = parallel
        self.postgres = connection.dialect.name == "postgresql"
        self.line = 0
        self.rows_read = 0
        self.rows_loaded = 0
        self.rows_rejected = 0
        self.rows_duplicate = 0
        self._rejects: list[dict[str, Any]] = []
        self._counts = _AggregateCounts()
        placeholder = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_sql = (
            f"INSERT INTO {Trace.__tablename__} ({', '.join(_INSERT_COLUMNS)}) "
            f"VALUES ({', '.join([placeholder] * len(_INSERT_COLUMNS))})"
        )

    def reject(self, line: int, reason: str, values: tuple[str, ...] | None) -> None:
        fields = {}
        if values is not None:
            fields = {
                name: values[i] for i, name in enumerate(ALLOWED_COLUMNS) if self.header.present[i]
            }
        self._rejects.append(
            {
                "run_id": self.run_id,
                "file_name": self.file_name,
                "line_number": line,
                "reason": reason,
                "fields": fields,
            }
        )
        self.rows_rejected += 1
        log.debug("%s line %d rejected: %s", self.file_name, line, reason)
        if len(self._rejects) >= BATCH_ROWS:  # a file of nothing but bad rows stays bounded too
            self._write_rejects()

    def load(self, reader: Iterator[list[str]]) -> None:
        """Parse (here or in a worker process) and insert every batch of the file."""
        progress = _Progress()
        parse = _parse_in_worker if self.parallel else _parse
        batches = parse(reader, self.header, self.file_id, self.postgres, BATCH_ROWS, progress)
        try:
            for batch in batches:
                self.rows_read = batch.rows_read
                self.line = batch.line
                for line, reason, values in batch.rejects:
                    self.reject(line, reason, values)
                self.flush(batch)
                if self.rows_read % 100_000 < BATCH_ROWS:
                    log.debug("%s: %d rows read", self.file_name, self.rows_read)
        except BaseException:
            # A failure while reading is at the parser's line; one while inserting, the batch's.
            self.line = max(self.line, progress.line)
            raise
        finally:
            batches.close()  # type: ignore[attr-defined]
        self.line = 0  # what fails from here on (aggregates, commit) is not at a line

    def _already_loaded(self, numbers: list[str]) -> dict[str, int]:
        """Trace number -> trace file id, for those of `numbers` already in the traces table."""
        found: dict[str, int] = {}
        table = Trace.__tablename__
        if self.postgres:
            query = f"SELECT trace_number, trace_file_id FROM {table} WHERE trace_number = ANY(%s)"
            found.update(self.connection.exec_driver_sql(query, (numbers,)).tuples().all())
            return found
        # Plain driver SQL: compiling a 900-item IN through the ORM layer costs more than running it.
        for start in range(0, len(numbers), SQLITE_IN_CHUNK):
            chunk = numbers[start : start + SQLITE_IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = (
                f"SELECT trace_number, trace_file_id FROM {table} WHERE trace_number IN ({marks})"
            )
            found.update(self.connection.exec_driver_sql(query, tuple(chunk)).tuples().all())
        return found

    def flush(self, batch: _Batch) -> None:
        """Insert a batch's rows, but those whose trace number the database already has."""
        rows = batch.rows
        if rows:
            existing = self._already_loaded(list(map(_TRACE_NUMBER, rows)))
            if existing:
                keep = []
                for line, row, values in zip(batch.lines, rows, batch.values, strict=True):
                    owner = existing.get(row[1])
                    if owner is None:
                        keep.append(row)
                    elif owner == self.file_id:
                        reason = f"duplicate trace_number {_show(row[1])} within this file"
                        self.reject(line, reason, _unpack(values))
                    else:
                        self.rows_duplicate += 1
                rows = keep
            if rows:
                self._insert(rows)
                self._counts.add(rows)
                self.rows_loaded += len(rows)
        self._write_rejects()

    def write_aggregates(self) -> None:
        """Replace this file's rows of trace_aggregates with the counts of what was inserted."""
        table = TraceAggregate
        self.connection.execute(delete(table).where(table.trace_file_id == self.file_id))
        rows = self._counts.rows(self.file_id)
        if rows:
            self.connection.execute(insert(table), rows)

    def _write_rejects(self) -> None:
        if self._rejects:
            self.connection.execute(insert(RejectedRow), self._rejects)
            self._rejects.clear()

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:
            # COPY is the fast path on PostgreSQL; it runs inside the same transaction.
            driver = self.connection.connection.driver_connection
            statement = f"COPY {Trace.__tablename__} ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            self.connection.exec_driver_sql(self._insert_sql, rows)


# ---------------------------------------------------------------------------- aggregates

AGGREGATE_DIMENSIONS: tuple[str, ...] = (
    "total",
    "recovery_state",
    "firearm_type",
    "source_category",
    "source_state",
    "us_sourced_by_mx_state",
    "time_to_crime_band",
)
# Positions in an insert row (see _INSERT_COLUMNS) of what the aggregates count by.
_YEAR = itemgetter(3)
_YEAR_AND = {
    "recovery_state": itemgetter(3, 5),
    "firearm_type": itemgetter(3, 7),
    "source_category": itemgetter(3, 11),
}
_DAYS = itemgetter(14)
_TRACE_NUMBER = itemgetter(1)


def ttc_band(days: int | None) -> str:
    """The time-to-crime band of a number of days, the same as `refresh_aggregates` gives in SQL."""
    if days is None:
        return TTC_UNKNOWN_BAND
    for limit, label in TTC_BANDS:
        if days < limit:
            return label
    return TTC_TOP_BAND


class _AggregateCounts:
    """One file's inserted rows counted per year and dimension, batch by batch, as they go in.

    The numbers `refresh_aggregates` gets in SQL, without scanning the file's rows once per
    dimension after the load (a fifth of the load time at 1M rows). Memory is bounded by
    years x keys, not by rows.
    """

    def __init__(self) -> None:
        self.counters: dict[str, Counter[Any]] = {name: Counter() for name in AGGREGATE_DIMENSIONS}
        self._bands = _Lookup(ttc_band)

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        # Counter.update over map/zip counts in C; only source_state needs a per-row test.
        counters = self.counters
        years = list(map(_YEAR, rows))
        counters["total"].update(years)
        for dimension, pick in _YEAR_AND.items():
            counters[dimension].update(map(pick, rows))
        counters["source_state"].update(
            (row[3], row[12]) for row in rows if row[12] is not None and row[11] in US_SOURCED
        )
        # A Mexican state's US-sourced share needs this pair; the trends page reads it per state.
        counters["us_sourced_by_mx_state"].update(
            (row[3], row[5]) for row in rows if row[11] in US_SOURCED
        )
        bands = map(self._bands.__getitem__, map(_DAYS, rows))
        counters["time_to_crime_band"].update(zip(years, bands, strict=True))

    def rows(self, trace_file_id: int) -> list[dict[str, Any]]:
        """trace_aggregates rows, by dimension, year and key."""
        rows: list[dict[str, Any]] = []
        for dimension in AGGREGATE_DIMENSIONS:
            counts = self.counters[dimension]
            if dimension == "total":
                items = sorted(((year, None), n) for year, n in counts.items())
            else:
                items = sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] or ""))
            rows.extend(
                {
                    "trace_file_id": trace_file_id,
                    "dimension": dimension,
                    "year": year,
                    "key": key,
                    "firearms": firearms,
                }
                for (year, key), firearms in items
            )
        return rows


def _ttc_band() -> Any:
    days = Trace.time_to_crime_days
    return case(
        (days.is_(None), literal(TTC_UNKNOWN_BAND)),
        *[(days < limit, literal(label)) for limit, label in TTC_BANDS],
        else_=literal(TTC_TOP_BAND),
    )


def refresh_aggregates(connection: Connection, trace_file_id: int) -> None:
    """Recount one file's traces per year and dimension into trace_aggregates, in SQL.

    The loader counts as it inserts instead (`_AggregateCounts`); this is the recount from the
    stored rows, for repairs and for checking the loader's counts.
    """
    connection.execute(delete(TraceAggregate).where(TraceAggregate.trace_file_id == trace_file_id))
    of_file = Trace.trace_file_id == trace_file_id
    dimensions: list[tuple[str, Any, tuple[Any, ...]]] = [
        ("total", null(), ()),
        ("recovery_state", Trace.recovery_state, ()),
        ("firearm_type", Trace.firearm_type, ()),
        ("source_category", Trace.source_category, ()),
        (
            "source_state",
            Trace.source_state,
            (Trace.source_state.is_not(None), Trace.source_category.in_(sorted(US_SOURCED))),
        ),
        (
            "us_sourced_by_mx_state",
            Trace.recovery_state,
            (Trace.source_category.in_(sorted(US_SOURCED)),),
        ),
        ("time_to_crime_band", _ttc_band(), ()),
    ]
    target = [
        TraceAggregate.trace_file_id,
        TraceAggregate.dimension,
        TraceAggregate.year,
        TraceAggregate.key,
        TraceAggregate.firearms,
    ]
    for dimension, key, conditions in dimensions:
        # Keys are computed in a subquery so GROUP BY names plain columns on every backend.
        keyed = (
            select(Trace.recovery_year.label("year"), key.label("key"))
            .where(of_file, *conditions)
            .subquery()
        )
        counts = select(
            literal(trace_file_id),
            literal(dimension),
            keyed.c.year,
            keyed.c.key,
            func.count(),
        ).group_by(keyed.c.year, keyed.c.key)
        connection.execute(insert(TraceAggregate).from_select(target, counts))
