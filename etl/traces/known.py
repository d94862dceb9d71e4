"""A refused batch's rows that traces already holds: counted, tallied and left out in SQL.

A batch the unique trace_number stops (a reload of an overlapping file, a re-export) is sorted
into new rows and known ones by the database, by owner: another file (a duplicate) or this file
(a repeat within it, a rejected row the ledger records by line and number). No known row comes
back to Python. On SQLite the batch is in a staging file: SQL counts the known rows, tallies
their aggregates and moves the new ones. On PostgreSQL the batch is still an Arrow table: its
trace numbers are copied to a temporary table and SQL answers with one owner code per row, from
which Arrow takes the known rows' aggregates and the new rows are copied in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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

# PostgreSQL: who holds each trace number of a refused batch, one byte per row in batch order.
NEW, DUPLICATE, REPEAT = b"ndr"
NUMBERS_TABLE = "ironriver_refused_numbers"  # one batch at a time, gone with the transaction
# Compared bytewise, as traces.trace_number is (migration 0007): the batch's least and greatest
# numbers then bound its numbers in the key's index order.
CREATE_NUMBERS_TABLE = (
    f'CREATE TEMPORARY TABLE {NUMBERS_TABLE} (trace_number text COLLATE "C", position integer) '
    "ON COMMIT DROP"
)
COPY_NUMBERS = f"COPY {NUMBERS_TABLE} (trace_number, position) FROM STDIN (FORMAT csv)"
_CODES = (
    "SELECT string_agg(CASE WHEN k.trace_file_id IS NULL THEN 'n' "
    "WHEN k.trace_file_id = :file_id THEN 'r' ELSE 'd' END, '' ORDER BY s.position) "
    f"FROM {NUMBERS_TABLE} AS s LEFT JOIN known AS k ON k.trace_number = s.trace_number"
)
# The known rows are found by one index scan for the batch's numbers as an array, then matched
# to positions by hash. A plain join would do, but the planner, knowing the temporary table's
# size, may merge it with traces' whole index (~200 ms a batch, where this takes ~25 ms); a
# subquery per row costs it enough to compile with JIT.
_OWNER_CODES = (
    "WITH known AS MATERIALIZED (SELECT t.trace_number, t.trace_file_id "
    f"FROM {_TRACES} AS t WHERE t.trace_number = ANY(ARRAY(SELECT trace_number FROM "
    f"{NUMBERS_TABLE}))) {_CODES}"
)
# The same answer from one walk of the key's index between the batch's least and greatest
# number, when fewer than :most rows lie there: a re-export's batch finds its rows side by side
# (backend CPU of a 1M-row re-export's lookups: 1.8 s by number, 1.1 s walked). If more rows lie
# there (the file's numbers interleave with stored ones), the walk stops after :most rows and
# the answer is NULL.
_OWNER_CODES_IN_RANGE = (
    "WITH known AS MATERIALIZED (SELECT t.trace_number, t.trace_file_id "
    f"FROM {_TRACES} AS t WHERE t.trace_number BETWEEN (SELECT min(trace_number) FROM "
    f"{NUMBERS_TABLE}) AND (SELECT max(trace_number) FROM {NUMBERS_TABLE}) "
    f"ORDER BY t.trace_number LIMIT :most) {_CODES} "
    "WHERE (SELECT count(*) FROM known) < :most"
)


def owner_codes(connection: Connection, file_id: int) -> np.ndarray:
    """PostgreSQL: NEW, DUPLICATE or REPEAT for each trace number copied to NUMBERS_TABLE."""
    codes = connection.execute(text(_OWNER_CODES), {"file_id": file_id}).scalar_one()
    return _codes(codes)


def owner_codes_in_range(connection: Connection, file_id: int, most: int) -> np.ndarray | None:
    """PostgreSQL: `owner_codes`, found by walking the key's index over the range of the numbers
    copied to NUMBERS_TABLE; None, nothing found, if that range holds `most` stored rows or more."""
    codes = connection.execute(
        text(_OWNER_CODES_IN_RANGE), {"file_id": file_id, "most": most}
    ).scalar_one()
    return None if codes is None else _codes(codes)


def _codes(codes: str) -> np.ndarray:
    return np.frombuffer(codes.encode("ascii"), dtype=np.uint8)


_US_SOURCED = f"s.source_category IN ({', '.join(repr(name) for name in sorted(US_SOURCED))})"
_BAND = (
    f"CASE WHEN s.time_to_crime_days IS NULL THEN '{TTC_UNKNOWN_BAND}' "
    + "".join(f"WHEN s.time_to_crime_days < {limit} THEN '{label}' " for limit, label in TTC_BANDS)
    + f"ELSE '{TTC_TOP_BAND}' END"
)
_STAGED_RANGE = "WHERE s.rowid BETWEEN :first AND :last"
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
    """SQLite: one refused staged batch, rows `first` to `last` of `table`, and the aggregates
    its rows were counted in (`counts`; None if they were not kept)."""

    def __init__(
        self,
        connection: Connection,
        table: str,
        first: int,
        last: int,
        counts: AggregateCounts | None,
    ) -> None:
        self.connection = connection
        self.table = table
        self.range = {"first": first, "last": last}
        self.rows = last - first + 1
        self.counts = counts

    def _run(self, template: str, **params: Any) -> Any:
        statement = text(template.format(staged=self.table, where=_STAGED_RANGE))
        return self.connection.execute(statement, {**self.range, **params})

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
