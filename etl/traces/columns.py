"""The eTrace-style format declared once: its columns, vocabularies, limits and the stored row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple


class Refused(Exception):
    """The file as a whole cannot be loaded (not CSV text, no header, a missing required column)."""


REQUIRED_COLUMNS: tuple[str, ...] = (
    "trace_number",
    "recovery_date",
    "recovery_state",
    "firearm_type",
    "source_category",
)


class Cells(NamedTuple):
    """The allow-list: one row's cells as read, by column name; the only declaration of them."""

    trace_number: str
    recovery_date: str
    recovery_country: str
    recovery_state: str
    recovery_city: str
    firearm_type: str
    manufacturer: str
    caliber: str
    country_of_manufacture: str
    source_category: str
    source_state: str
    purchase_date: str
    time_to_crime_days: str


# The format's columns, in the order the loader reads them. Nothing else ever leaves the reader.
ALLOWED_COLUMNS: tuple[str, ...] = Cells._fields

# The columns whose cells are stored as text with no vocabulary to check them against: a value
# shifted in from a neighbouring dropped column passes here unless its shape gives it away.
FREE_TEXT_COLUMNS: tuple[str, ...] = (
    "recovery_city",
    "manufacturer",
    "caliber",
    "country_of_manufacture",
)


class TraceRow(NamedTuple):
    """One checked row as the traces table stores it; dates are ISO text until the database.

    The declaration of the stored row's columns and their order. Rows travel to the inserter as
    an Arrow table of these columns (`rows.ROW_SCHEMA`); the one-by-one checks build a row as a
    plain tuple with `as_row`, from a dict keyed by these names.
    """

    trace_file_id: int
    trace_number: str
    recovery_date: dt.date | str
    recovery_year: int
    recovery_country: str
    recovery_state: str
    recovery_city: str | None
    firearm_type: str
    manufacturer: str | None
    caliber: str | None
    country_of_manufacture: str | None
    source_category: str
    source_state: str | None
    purchase_date: dt.date | str | None
    time_to_crime_days: int | None


INSERT_COLUMNS: tuple[str, ...] = TraceRow._fields
Row = tuple[Any, ...]  # a TraceRow as a plain tuple

# A dict keyed by INSERT_COLUMNS -> the plain tuple; a missing column raises KeyError.
as_row: Callable[[dict[str, Any]], Row] = itemgetter(*INSERT_COLUMNS)


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

# Recovery and purchase dates must fall between this day and today: anything earlier is a typo
# (or a spreadsheet's zero date), and pages must never have to draw year 1 or year 9999.
EARLIEST_DATE = dt.date(1900, 1, 1)

# Column widths of the traces table: a longer value is rejected, never truncated.
MAX_LENGTHS = {
    "trace_number": 64,
    "recovery_city": 120,
    "manufacturer": 120,
    "caliber": 40,
    "country_of_manufacture": 60,
}
