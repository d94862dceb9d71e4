"""The eTrace-style format declared once: its columns, vocabularies, limits and the stored row."""

from __future__ import annotations

import datetime as dt
from operator import attrgetter
from typing import Any, NamedTuple

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


class Cells(NamedTuple):
    """One row's allow-listed cells as read, addressed by column name (ALLOWED_COLUMNS order)."""

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


assert Cells._fields == ALLOWED_COLUMNS, "Cells must list exactly the allow-listed columns"


class TraceRow(NamedTuple):
    """One checked row as the traces table stores it; dates are ISO text on SQLite."""

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


def fields_of(*names: str) -> Any:
    """A getter of the named fields of a TraceRow (a C-level attrgetter: cheap per row)."""
    unknown = set(names) - set(INSERT_COLUMNS)
    if unknown:
        raise KeyError(f"not a traces column: {', '.join(sorted(unknown))}")
    return attrgetter(*names)


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
