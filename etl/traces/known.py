"""A refused batch's rows that traces already holds: counted, tallied and left out in SQL.

A batch the unique trace_number stops (a reload of an overlapping file, a re-export) is sorted
into new rows and known ones by the database: the known rows are counted by owner (another
file: a duplicate; this file: a repeat within it) and their aggregates summed per year and key,
so that no known row comes back to Python, only counts bounded by years x keys. The one
exception is a repeat within the file, a rejected row the ledger records by line and number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
# with the load's transaction. CREATE TABLE AS copies no NOT NULL: a copy may leave columns out.
REFUSED_TABLE = "ironriver_refused_batch"
CREATE_REFUSED_TABLE = (
    f"CREATE TEMPORARY TABLE {REFUSED_TABLE} ON COMMIT DROP AS "
    f"SELECT {_NAMES}, 0::bigint AS line FROM {_TRACES} WITH NO DATA"
)


def copy_refused(columns: list[str]) -> str:
    """The COPY of a refused batch's `columns` and line numbers (the others are left NULL)."""
    return f"COPY {REFUSED_TABLE} ({', '.join(columns)}, line) FROM STDIN (FORMAT csv)"


_US_SOURCED = f"s.source_category IN ({', '.join(repr(name) for name in sorted(US_SOURCED))})"
_BAND = (
    f"CASE WHEN s.time_to_crime_days IS NULL THEN '{TTC_UNKNOWN_BAND}' "
    + "".join(f"WHEN s.time_to_crime_days < {limit} THEN '{label}' " for limit, label in TTC_BANDS)
    + f"ELSE '{TTC_TOP_BAND}' END"
)
_JOIN = f"FROM {{staged}} AS s JOIN {_TRACES} AS t ON t.trace_number = s.trace_number {{where}}"
_OWNERS = f"SELECT count(*), count(*) FILTER (WHERE t.trace_file_id = :file_id) {_JOIN}"
# What AggregateCounts.add counts, per dimension: (year, key) of every row with a key.
_KEYS = {
    "recovery_state": "recovery_state",
    "firearm_type": "firearm_type",
    "source_category": "source_category",
    "source_state": "us_source_state",
    "us_sourced_by_mx_state": "us_sourced_mx_state",
    "time_to_crime_band": "band",
}
# The known rows are read once (a CTE named more than once is materialised by both SQLite and
# PostgreSQL) and grouped per dimension. SQLite sorts to group: ~35 ms for a batch of 16,384
# known rows, where counting them by owner takes ~4 ms; so a batch whose rows are all known
# (a reload's usual one) takes away its own counts, and only a batch partly new is tallied.
_TALLY = (
    "WITH known AS (SELECT s.recovery_year AS year, s.recovery_state, s.firearm_type, "
    f"s.source_category, CASE WHEN {_US_SOURCED} THEN s.source_state END AS us_source_state, "
    f"CASE WHEN {_US_SOURCED} THEN s.recovery_state END AS us_sourced_mx_state, "
    f"{_BAND} AS band {_JOIN}) "
    "SELECT 'total' AS dimension, year, NULL AS key, count(*) FROM known GROUP BY year "
    + "".join(
        f"UNION ALL SELECT '{dimension}', year, {key}, count(*) FROM known "
        f"WHERE {key} IS NOT NULL GROUP BY year, {key} "
        for dimension, key in _KEYS.items()
    )
)
_REPEATS = f"SELECT s.line, s.trace_number {_JOIN} AND t.trace_file_id = :file_id"
_MOVE_NEW = (
    f"INSERT INTO {_TRACES} ({_NAMES}) SELECT {_NAMES} FROM {{staged}} AS s {{where}} "
    f"AND NOT EXISTS (SELECT 1 FROM {_TRACES} AS t WHERE t.trace_number = s.trace_number)"
)


class RefusedBatch:
    """One refused batch where the database can read it: `staged` rows filtered by `where`.

    `where` starts with WHERE and names the staged table `s`; `params` binds it; `rows` is how
    many rows the batch has, `counts` their aggregates.
    """

    def __init__(
        self,
        connection: Connection,
        staged: str,
        where: str,
        params: Mapping[str, Any],
        rows: int,
        counts: AggregateCounts,
    ) -> None:
        self.connection = connection
        self.staged = staged
        self.where = where
        self.params = dict(params)
        self.rows = rows
        self.counts = counts

    def _run(self, template: str, **params: Any) -> Any:
        statement = text(template.format(staged=self.staged, where=self.where))
        return self.connection.execute(statement, {**self.params, **params})

    def owners(self, file_id: int) -> tuple[int, int]:
        """How many rows have a trace number traces holds, and how many of those this file's."""
        known, repeats = self._run(_OWNERS, file_id=file_id).one()
        return known, repeats

    def tally(self) -> AggregateCounts:
        """The aggregates of the rows whose trace number traces holds."""
        counts = AggregateCounts()
        for dimension, year, key, firearms in self._run(_TALLY):
            counts.counters[dimension][year if dimension == "total" else (year, key)] += firearms
        return counts

    def repeats(self, file_id: int) -> list[tuple[int, str]]:
        """(line, trace number) of the rows whose number this file's earlier rows hold."""
        return [(line, number) for line, number in self._run(_REPEATS, file_id=file_id)]

    def move_new(self) -> None:
        """Insert the rows whose trace number traces does not hold."""
        self._run(_MOVE_NEW)
