"""A refused batch's rows that traces already holds: found in SQL, their counts taken away, left out.

A batch the unique trace_number stops (a reload of an overlapping file, a re-export) is sorted
into new rows and known ones by the database, by owner: another file (a duplicate) or this file
(a repeat within it, a rejected row the ledger records by line and number). On SQLite the batch
is in a staging file: SQL counts the known rows and moves the new ones. On PostgreSQL the batch
is still an Arrow table: the stored rows over its numbers' range come back and Arrow matches
them (a re-export), or its numbers are copied to a temporary table and SQL answers with one
owner code per row; the new rows are then copied in.

The known rows' aggregates are taken away as `AggregateCounts.add` counts them, the one place
the dimensions and bands are defined: on PostgreSQL from the batch's Arrow table; on SQLite
from the batch's own counts, kept while it waits to move, or, when they were not kept (or only
some rows are known), from the known rows' counted columns read back, a batch at most.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from sqlalchemy import Connection, text

from db.models import Trace
from etl.traces.aggregates import COUNTED_COLUMNS, AggregateCounts
from etl.traces.arrays import to_numpy
from etl.traces.columns import INSERT_COLUMNS

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
# number, when fewer than `most` rows lie there: a re-export's batch finds its rows side by side
# (backend CPU of a 1M-row re-export's lookups: 1.8 s by number, 1.1 s walked). If more rows lie
# there (the file's numbers interleave with stored ones), the walk stops after `most` rows.
# The rows walked come back as one CSV text (every number quoted), read by Arrow and matched to
# the batch there: no numbers table to fill, join and sort on the server for each batch, and one
# value to fetch, where a COPY TO's rows reach Python one at a time (reload backend CPU
# 1.40 -> 0.72 s; bench/README.md, the loader on PostgreSQL, ninth round).
_STORED_IN_RANGE = (
    "SELECT count(*), string_agg("
    """'"' || replace(trace_number, '"', '""') || '",' || trace_file_id, E'\\n') """
    f"FROM (SELECT trace_number, trace_file_id FROM {_TRACES} WHERE trace_number "
    "BETWEEN :least AND :greatest ORDER BY trace_number LIMIT :most) AS walked"
)
_STORED_NAMES = arrow_csv.ReadOptions(column_names=["trace_number", "trace_file_id"])
_STORED_CELLS = arrow_csv.ParseOptions(newlines_in_values=True)
_STORED_TYPES = arrow_csv.ConvertOptions(
    column_types={"trace_number": pa.string(), "trace_file_id": pa.int64()},
    strings_can_be_null=False,
)


def owner_codes(connection: Connection, file_id: int) -> np.ndarray:
    """PostgreSQL: NEW, DUPLICATE or REPEAT for each trace number copied to NUMBERS_TABLE."""
    codes = connection.execute(text(_OWNER_CODES), {"file_id": file_id}).scalar_one()
    return _codes(codes)


def owner_codes_in_range(
    connection: Connection, numbers: pa.ChunkedArray, file_id: int, most: int
) -> np.ndarray | None:
    """PostgreSQL: NEW, DUPLICATE or REPEAT for each of a batch's trace `numbers`, found by
    walking the key's index between the least and the greatest of them; None, nothing found, if
    that range holds `most` stored rows or more."""
    bounds = pc.min_max(numbers).as_py()
    walk = {"least": bounds["min"], "greatest": bounds["max"], "most": most}
    count, walked = connection.execute(text(_STORED_IN_RANGE), walk).one()
    if count >= most:
        return None
    if not count:
        return np.full(len(numbers), NEW, dtype=np.uint8)
    stored = arrow_csv.read_csv(
        pa.py_buffer(walked.encode()), _STORED_NAMES, _STORED_CELLS, _STORED_TYPES
    )
    found = pc.index_in(numbers, value_set=stored.column("trace_number").combine_chunks())
    owners = to_numpy(pc.take(stored.column("trace_file_id"), found), null=0)
    codes = np.full(len(numbers), NEW, dtype=np.uint8)
    codes[owners == file_id] = REPEAT
    codes[(owners != 0) & (owners != file_id)] = DUPLICATE
    return codes


def _codes(codes: str) -> np.ndarray:
    return np.frombuffer(codes.encode("ascii"), dtype=np.uint8)


_STAGED_RANGE = "WHERE s.rowid BETWEEN :first AND :last"
# SQLite: a staged batch, rows :first to :last of its staging table, moves into traces with one
# statement; if the unique trace_number stops it, its new rows move by the same statement with
# the known ones left out (`RefusedBatch.move_new`).
MOVE_STAGED = (
    f"INSERT INTO {_TRACES} ({_NAMES}) SELECT {_NAMES} FROM {{staged}} AS s {_STAGED_RANGE}"
)
_JOIN = f"FROM {{staged}} AS s JOIN {_TRACES} AS t ON t.trace_number = s.trace_number {{where}}"
_OWNERS = f"SELECT count(*), count(*) FILTER (WHERE t.trace_file_id = :file_id) {_JOIN}"
_KNOWN_COUNTED = f"SELECT {', '.join(f's.{name}' for name in COUNTED_COLUMNS)} {_JOIN}"
_REPEATS = f"SELECT s.line, s.trace_number {_JOIN} AND t.trace_file_id = :file_id"
_MOVE_NEW = (
    f"{MOVE_STAGED} "
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
        """The aggregates of the rows whose trace number traces holds, counted by
        `AggregateCounts.add` from their counted columns, read back (a batch's rows at most)."""
        statement = _KNOWN_COUNTED.format(staged=self.table, where=_STAGED_RANGE)
        # The driver's own cursor: SQLAlchemy's rows take twice as long to read. A batch of
        # 16,384 known rows: ~15 ms read, ~13 ms counted (a SQL GROUP BY per dimension: ~35 ms).
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            known = cursor.execute(statement, self.range).fetchall()
        finally:
            cursor.close()
        counts = AggregateCounts()
        counts.add_tuples(known)
        return counts

    def repeats(self, file_id: int) -> list[tuple[int, str]]:
        """(line, trace number) of the rows whose number this file's earlier rows hold."""
        return [(line, number) for line, number in self._run(_REPEATS, file_id=file_id)]

    def move_new(self) -> None:
        """Insert the rows whose trace number traces does not hold."""
        self._run(_MOVE_NEW)
