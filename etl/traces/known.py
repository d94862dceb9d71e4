"""A refused batch's rows that traces already holds: counted, tallied and left out in SQL.

A batch the unique trace_number stops (a reload of an overlapping file, a re-export) is sorted
into new rows and known ones by the database: the known rows are counted by owner (another
file: a duplicate; this file: a repeat within it) and their aggregates summed per year and key,
so that no known row comes back to Python, only counts bounded by years x keys. The one
exception is a repeat within the file, a rejected row the ledger records by line and number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from db.models import Trace
from etl.traces.aggregates import AggregateCounts
from etl.traces.columns import (
    INSERT_COLUMNS,
    TTC_BANDS,
    TTC_TOP_BAND,
    TTC_UNKNOWN_BAND,
    US_SOURCED,
)

_TRACES = Trace.__tablename__
_NAMES = ", ".join(INSERT_COLUMNS)
# PostgreSQL: a refused batch is copied here, with its line numbers, to be sorted in SQL. It
# holds checked, allow-listed values only (what traces holds), one batch at a time, and goes
# with the load's transaction.
REFUSED_TABLE = "ironriver_refused_batch"
CREATE_REFUSED_TABLE = (
    f"CREATE TEMPORARY TABLE {REFUSED_TABLE} ON COMMIT DROP AS "
    f"SELECT {_NAMES}, 0::bigint AS line FROM {_TRACES} WITH NO DATA"
)
COPY_REFUSED = f"COPY {REFUSED_TABLE} ({_NAMES}, line) FROM STDIN (FORMAT csv)"

_DUPLICATE, _REPEAT = "duplicate", "repeat"
_US_SOURCED = f"s.source_category IN ({', '.join(repr(name) for name in sorted(US_SOURCED))})"
_BAND = (
    f"CASE WHEN s.time_to_crime_days IS NULL THEN '{TTC_UNKNOWN_BAND}' "
    + "".join(f"WHEN s.time_to_crime_days < {limit} THEN '{label}' " for limit, label in TTC_BANDS)
    + f"ELSE '{TTC_TOP_BAND}' END"
)
# What AggregateCounts.add counts, per dimension: (year, key) of every row with a key.
_KEYS = {
    "recovery_state": "recovery_state",
    "firearm_type": "firearm_type",
    "source_category": "source_category",
    "source_state": "us_source_state",
    "us_sourced_by_mx_state": "us_sourced_mx_state",
    "time_to_crime_band": "band",
}
# One statement: the known rows are read once (a CTE named more than once is materialised by
# both SQLite and PostgreSQL) and grouped per dimension; the owner rows have no year.
_TALLY = (
    "WITH known AS (SELECT s.recovery_year AS year, s.recovery_state, s.firearm_type, "
    f"s.source_category, CASE WHEN {_US_SOURCED} THEN s.source_state END AS us_source_state, "
    f"CASE WHEN {_US_SOURCED} THEN s.recovery_state END AS us_sourced_mx_state, {_BAND} AS band, "
    f"CASE WHEN t.trace_file_id = :file_id THEN '{_REPEAT}' ELSE '{_DUPLICATE}' END AS owner "
    f"FROM {{staged}} AS s JOIN {_TRACES} AS t ON t.trace_number = s.trace_number {{where}}) "
    "SELECT 'owner' AS dimension, NULL AS year, owner AS key, count(*) FROM known GROUP BY owner "
    "UNION ALL SELECT 'total', year, NULL, count(*) FROM known GROUP BY year "
    + "".join(
        f"UNION ALL SELECT '{dimension}', year, {key}, count(*) FROM known "
        f"WHERE {key} IS NOT NULL GROUP BY year, {key} "
        for dimension, key in _KEYS.items()
    )
)
_REPEATS = (
    f"SELECT s.line, s.trace_number FROM {{staged}} AS s "
    f"JOIN {_TRACES} AS t ON t.trace_number = s.trace_number {{where}} "
    "AND t.trace_file_id = :file_id"
)
_MOVE_NEW = (
    f"INSERT INTO {_TRACES} ({_NAMES}) SELECT {_NAMES} FROM {{staged}} AS s {{where}} "
    f"AND NOT EXISTS (SELECT 1 FROM {_TRACES} AS t WHERE t.trace_number = s.trace_number)"
)


class KnownRows(NamedTuple):
    """A refused batch's rows whose trace number traces already holds, as counts only."""

    duplicates: int  # held by another file's rows
    repeats: int  # held by this file's own rows: the number came earlier in the file
    counts: AggregateCounts  # the aggregates of both, to take away from the batch's


class RefusedBatch:
    """One refused batch where the database can read it: `staged` rows filtered by `where`.

    `where` starts with WHERE and names the staged table `s`; `params` binds it.
    """

    def __init__(
        self, connection: Connection, staged: str, where: str, params: Mapping[str, Any]
    ) -> None:
        self.connection = connection
        self.staged = staged
        self.where = where
        self.params = dict(params)

    def _sql(self, template: str) -> Any:
        return text(template.format(staged=self.staged, where=self.where))

    def known(self, file_id: int) -> KnownRows:
        """Count and tally the rows whose trace number traces holds, by owner."""
        result = self.connection.execute(self._sql(_TALLY), {**self.params, "file_id": file_id})
        owners = {_DUPLICATE: 0, _REPEAT: 0}
        counts = AggregateCounts()
        for dimension, year, key, firearms in result:
            if dimension == "owner":
                owners[key] = firearms
            elif dimension == "total":
                counts.counters[dimension][year] += firearms
            else:
                counts.counters[dimension][(year, key)] += firearms
        return KnownRows(owners[_DUPLICATE], owners[_REPEAT], counts)

    def repeats(self, file_id: int) -> list[tuple[int, str]]:
        """(line, trace number) of the rows whose number this file's earlier rows hold."""
        result = self.connection.execute(self._sql(_REPEATS), {**self.params, "file_id": file_id})
        return [(line, number) for line, number in result]

    def move_new(self) -> None:
        """Insert the rows whose trace number traces does not hold."""
        self.connection.execute(self._sql(_MOVE_NEW), self.params)
