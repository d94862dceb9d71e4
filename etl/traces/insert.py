"""Inserting one file's checked rows in batches, and its rejected rows with their reasons."""

from __future__ import annotations

import csv
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from json import dumps
from operator import itemgetter
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import IntegrityError

from db.models import RejectedRow, Trace, TraceAggregate
from etl.traces.aggregates import AggregateCounts
from etl.traces.arrays import to_numpy
from etl.traces.checks import Batch, Progress, RawCells, kept_fields, show
from etl.traces.columns import INSERT_COLUMNS
from etl.traces.copying import TRACES_COPY, CopyGroup, copy_text, unique_violations
from etl.traces.parallel import parse_in_worker
from etl.traces.parsing import ParseJob, parse
from etl.traces.privacy import Header
from etl.traces.reading import LineFeed
from etl.traces.rows import ROW_SCHEMA
from etl.traces.staging import StagedBatch, Staging

log = logging.getLogger(__name__)

# Lines per batch: long enough for the columnar checks, short enough that the parser's and the
# inserter's batches in flight keep the load under 300 MB of peak RSS.
BATCH_ROWS = 16_384
# On PostgreSQL, batches per COPY (and savepoint): the server idles between two COPYs, and a
# group's batches are held until its COPY ends, in case it is refused and they go in again.
COPY_GROUP_BATCHES = 4
_NAMES = ", ".join(INSERT_COLUMNS)
_REJECT_COLUMNS = ("run_id", "file_name", "line_number", "reason", "fields")
_COPY_REJECTS = (
    f"COPY {RejectedRow.__tablename__} ({', '.join(_REJECT_COLUMNS)}) FROM STDIN (FORMAT csv)"
)
_AGGREGATE_COLUMNS = ("trace_file_id", "dimension", "year", "key", "firearms")
_COPY_AGGREGATES = (
    f"COPY {TraceAggregate.__tablename__} ({', '.join(_AGGREGATE_COLUMNS)}) FROM STDIN"
)
# On SQLite a staged batch moves in with one statement; the rows the database already holds are
# found with a join on the unique trace_number, and left out with NOT EXISTS.
_MOVE = (
    f"INSERT INTO {Trace.__tablename__} ({_NAMES}) SELECT {_NAMES} FROM {{staged}} AS s "
    "WHERE s.rowid BETWEEN ? AND ?"
)
_MOVE_NEW = (
    f"{_MOVE} AND NOT EXISTS "
    f"(SELECT 1 FROM {Trace.__tablename__} AS t WHERE t.trace_number = s.trace_number)"
)
_COUNTED = (
    "recovery_year",
    "recovery_state",
    "firearm_type",
    "source_category",
    "source_state",
    "time_to_crime_days",
)
_KNOWN = (
    f"SELECT s.line, s.trace_number, t.trace_file_id, "
    f"{', '.join('s.' + name for name in _COUNTED)} FROM {{staged}} AS s "
    f"JOIN {Trace.__tablename__} AS t ON t.trace_number = s.trace_number "
    "WHERE s.rowid BETWEEN ? AND ?"
)
# Staged batches moved after each batch staged: more than one, so that the batches of a sealed
# staging file are all moved before the next file is sealed.
MOVES_PER_BATCH = 2


class WrongTraceFile(Exception):
    """A batch holds rows naming a trace file other than the one this load inserted."""


def allowed_cells_at(
    stream: TextIO, header: Header, wanted: set[int]
) -> Iterator[tuple[int, RawCells]]:
    """The allow-listed cells of the `wanted` lines of a file (each one good, one-line record)."""
    allowed = itemgetter(*header.indices)
    pad = not all(header.present)
    for number, text in enumerate(stream, 1):
        if number in wanted:
            row = next(csv.reader([text]))
            if pad:
                row.append("")
            yield number, allowed(row)


def in_trace_number_order(rows: pa.Table, lines: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """A batch's rows (and their lines) sorted by trace number, unless they already are.

    Both databases keep trace_number in a btree: rows in key order touch each of its pages
    once, rows in file order may touch one page per row. A file not in trace-number order
    loaded faster sorted (1M rows: SQLite's move 4.5 -> 2.2 s of CPU, PostgreSQL's
    COPY 4.2 -> 3.2 s of server CPU); the check costs ~0.1 ms a batch, the sort ~1 ms.
    """
    numbers = rows.column("trace_number").combine_chunks()
    if pc.any(pc.less(numbers[1:], numbers[:-1])).as_py() is not True:  # None: 0 or 1 row
        return rows, lines
    order = pc.sort_indices(numbers)
    return rows.take(order), lines[to_numpy(order)]


def prepared_for_copy(batch: Batch) -> Batch:
    """PostgreSQL: a batch's rows in trace-number order and written as COPY's text, work done
    in the parser's thread so that the inserting thread only sends it."""
    if batch.rows.num_rows:
        batch.rows, batch.lines = in_trace_number_order(batch.rows, batch.lines)
        batch.copy_text = copy_text(batch.rows)
    return batch


class FileLoader:
    """Inserts the checked rows of one file in batches and records the bad ones with reasons.

    On PostgreSQL each batch is streamed into traces as it arrives, a few batches to a COPY
    (see `CopyGroup`), its text written beside the parser. On SQLite each batch is
    written to `staging` as it arrives, and moved into traces once its staging file is sealed,
    while later batches are parsed and staged (see `Staging`); the last file's batches are
    moved after the last batch.
    """

    def __init__(
        self,
        connection: Connection,
        header: Header,
        file_id: int,
        run_id: int,
        file_name: str,
        reopen: Callable[[], AbstractContextManager[TextIO]],
        *,
        staging: Staging | None = None,
        parallel: bool = False,
    ) -> None:
        self.connection = connection
        self.header = header
        self.file_id = file_id
        self.run_id = run_id
        self.file_name = file_name
        self.parallel = parallel
        # The file opened again, to read the cells of the rare good row the database then
        # refuses: batches carry no row's cells, only its checked values.
        self.reopen = reopen
        self._refused_later: dict[int, str] = {}  # line -> reason, cells read at the end
        self.postgres = connection.dialect.name == "postgresql"
        if not self.postgres and staging is None:
            raise ValueError("SQLite loads go through a staging file attached to the connection")
        self.staging = staging
        self.line = 0
        self.rows_read = 0
        self.rows_loaded = 0
        self.rows_rejected = 0
        self.rows_duplicate = 0
        self._rejects: list[dict[str, Any]] = []
        self._counts = AggregateCounts()
        self._group: CopyGroup | None = None  # PostgreSQL: the COPY batches are streaming into
        # PostgreSQL: ledger rows written as COPY's text while a COPY was open, and how many.
        self._ledger_texts: list[bytes] = []
        self._ledger_rows = 0

    def reject(self, line: int, reason: str, values: RawCells | None) -> None:
        """Set a row aside with its reason and the cells of the allow-listed columns it has."""
        self._rejects.append(self._ledger_row(line, reason, values))
        self.rows_rejected += 1
        log.debug("%s line %d rejected: %s", self.file_name, line, reason)
        if len(self._rejects) >= BATCH_ROWS:  # a file of nothing but bad rows stays bounded too
            self._write_rejects()

    def _ledger_row(self, line: int, reason: str, values: RawCells | None) -> dict[str, Any]:
        fields = {} if values is None else kept_fields(values, self.header.present)
        return {
            "run_id": self.run_id,
            "file_name": self.file_name,
            "line_number": line,
            "reason": reason,
            "fields": fields,
        }

    def load(self, feed: LineFeed) -> None:
        """Parse (here or in a second thread) and insert every batch of the file."""
        progress = Progress()
        # The one-by-one checks make many small objects: the automatic cyclic garbage collector
        # would rescan them again and again. Instead the young generations are collected once
        # per batch, which keeps memory flat. It is restored after the load.
        collecting = gc.isenabled()
        gc.disable()
        job = ParseJob(feed, self.header, self.file_id, BATCH_ROWS)
        if self.parallel:
            batches = parse_in_worker(job, progress, prepared_for_copy if self.postgres else None)
        else:
            batches = parse(job, progress)
        try:
            for batch in batches:
                self.rows_read = batch.rows_read
                self.line = batch.line
                for line, reason, values in batch.rejects:
                    self.reject(line, reason, values)
                self.flush(batch)
                del batch
                gc.collect(1)
                if self.rows_read % 100_000 < BATCH_ROWS:
                    log.debug("%s: %d rows read", self.file_name, self.rows_read)
            if self.staging is not None:
                self.staging.seal()
                self._move_staged(len(self.staging.sealed))
            self._end_group()
            self._write_rejects()
        except BaseException as error:
            # A failure while reading is at the parser's line; one while inserting, the batch's.
            self.line = max(self.line, progress.line)
            self._abandon_copy(error)
            raise
        finally:
            batches.close()  # type: ignore[attr-defined]
            if collecting:
                gc.enable()
        self.line = 0  # what fails from here on (aggregates, commit) is not at a line
        self._reject_refused_later()

    def _reject_refused_later(self) -> None:
        """Record the good rows the database refused as repeats, with their cells read again."""
        refused = self._refused_later
        if not refused:
            return
        with self.reopen() as stream:
            for line, values in allowed_cells_at(stream, self.header, set(refused)):
                self._rejects.append(self._ledger_row(line, refused.pop(line), values))
        for line, reason in refused.items():  # not found again: the file changed; no cells
            self._rejects.append(self._ledger_row(line, reason, None))
        self._write_rejects()

    def _already_loaded(self, numbers: list[str]) -> dict[str, int]:
        """Trace number -> trace file id, for those of `numbers` already in the traces table."""
        query = (
            f"SELECT trace_number, trace_file_id FROM {Trace.__tablename__} "
            "WHERE trace_number = ANY(%s)"
        )
        return dict(self.connection.exec_driver_sql(query, (numbers,)).tuples().all())

    def _left_out(self, line: int, number: str, owner: int) -> None:
        """Count a row the database already holds: a repeat within this file, or a duplicate."""
        if owner == self.file_id:
            self._refused_later[line] = f"duplicate trace_number {show(number)} within this file"
            self.rows_rejected += 1
        else:
            self.rows_duplicate += 1

    def flush(self, batch: Batch) -> None:
        """Insert (or stage) a batch's rows, but those whose trace number the database has."""
        rows: pa.Table = batch.rows
        lines: np.ndarray = batch.lines
        if rows.num_rows:
            if not self.postgres:
                rows, lines = in_trace_number_order(rows, lines)
            elif batch.copy_text is None:  # parsed in this thread
                rows, lines = prepared_for_copy(batch).rows, batch.lines
            # traces.trace_file_id has no foreign key (migration 0004): this check is what keeps
            # every stored trace pointing at this load's own trace_files row.
            file_ids = pc.min_max(rows.column("trace_file_id")).as_py()
            if file_ids != {"min": self.file_id, "max": self.file_id}:
                raise WrongTraceFile(f"a batch names a trace file other than {self.file_id}")
            self._counts.merge(batch.counts)
            if self.postgres:
                self._stream(rows, lines, batch.copy_text)
            else:
                self._insert(rows, lines)
        group = self._group
        if group is not None and (
            len(group.batches) >= COPY_GROUP_BATCHES
            or len(self._rejects) + self._ledger_rows >= BATCH_ROWS
        ):
            self._end_group()
        if self.staging is not None:
            self._move_staged(MOVES_PER_BATCH)
        self._write_rejects()

    def _stream(self, rows: pa.Table, lines: np.ndarray, text: bytes) -> None:
        """PostgreSQL: send a batch into the open COPY, opening one (and its savepoint) if none."""
        if self._group is None:
            self._group = CopyGroup(self.connection)
        self._group.write(rows, lines, text)

    def _end_group(self) -> None:
        """PostgreSQL: end the open COPY; if the unique constraint refused it, its batches go in
        again one by one, without the rows whose trace number the database has."""
        group, self._group = self._group, None
        if group is None:
            return
        if group.end():
            self.rows_loaded += group.rows
            return
        for rows, lines in group.batches:
            self._copy_new(rows, lines)

    def _abandon_copy(self, error: BaseException) -> None:
        """PostgreSQL: stop an open COPY, the load failing with `error`."""
        group, self._group = self._group, None
        if group is not None:
            group.abandon(error)

    def _copy_new(self, rows: pa.Table, lines: np.ndarray) -> None:
        """Copy a batch into traces; if the unique constraint refuses it, without the repeats."""
        if self._insert_if_all_new(rows, lines):
            self.rows_loaded += rows.num_rows
            return
        numbers = rows.column("trace_number").to_pylist()
        existing = self._already_loaded(numbers)
        left_out = [index for index, number in enumerate(numbers) if number in existing]
        for index in left_out:
            self._left_out(int(lines[index]), numbers[index], existing[numbers[index]])
        dropped = AggregateCounts()
        dropped.add(rows.take(pa.array(left_out, type=pa.int64())))
        self._counts.merge(dropped, sign=-1)
        keep = np.ones(rows.num_rows, dtype=bool)
        keep[left_out] = False
        rows = rows.filter(pa.array(keep))
        if rows.num_rows:
            self._insert(rows, lines[keep])
            self.rows_loaded += rows.num_rows

    def _insert_if_all_new(self, rows: pa.Table, lines: np.ndarray) -> bool:
        """Copy the rows in a savepoint; False, with nothing inserted, if a trace number is known.

        The usual batch has no trace number the database already holds: asking first, for every
        row, would cost more than undoing the rare batch the unique constraint stops.
        """
        try:
            with self.connection.begin_nested():
                self._insert(rows, lines)
        except unique_violations(self.connection):
            return False
        return True

    def _insert(self, rows: pa.Table, lines: np.ndarray) -> None:
        """PostgreSQL: COPY the rows into traces. SQLite: append them to the staging file."""
        if self.staging is not None:
            self.staging.append(rows, lines)
            return
        driver = self.connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(TRACES_COPY) as copy:  # type: ignore[union-attr]
            copy.write(copy_text(rows))

    def _move_staged(self, most: int) -> None:
        """SQLite: move up to `most` batches of sealed staging files into traces, in this
        transaction, one statement each."""
        sealed = self.staging.sealed  # type: ignore[union-attr]
        line = self.line
        for _ in range(min(most, len(sealed))):
            staged = sealed.popleft()
            self.line = staged.line  # a failure is reported near the staged batch's last line
            self._move(staged)
        self.line = line

    def _move(self, staged: StagedBatch) -> None:
        """Move one staged batch into traces, but the rows whose trace number the database has."""
        unique_violation = (IntegrityError, self.connection.dialect.dbapi.IntegrityError)  # type: ignore[union-attr]
        driver = self.connection.connection.driver_connection
        first, last = staged.first, staged.last
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            try:
                with self.connection.begin_nested():
                    cursor.execute(_MOVE.format(staged=staged.table), (first, last))
                self.rows_loaded += last - first + 1
                return
            except unique_violation:
                pass
            known = cursor.execute(_KNOWN.format(staged=staged.table), (first, last)).fetchall()
            for row_line, number, owner, *_counted in known:
                self._left_out(row_line, number, owner)
            dropped = AggregateCounts()
            dropped.add(
                pa.table(
                    {
                        name: pa.array(
                            [row[3 + at] for row in known], type=ROW_SCHEMA.field(name).type
                        )
                        for at, name in enumerate(_COUNTED)
                    }
                )
            )
            self._counts.merge(dropped, sign=-1)
            cursor.execute(_MOVE_NEW.format(staged=staged.table), (first, last))
            self.rows_loaded += last - first + 1 - len(known)
        finally:
            cursor.close()

    def write_aggregates(self) -> None:
        """Replace this file's rows of trace_aggregates with the counts of what was inserted."""
        table = TraceAggregate
        self.connection.execute(delete(table).where(table.trace_file_id == self.file_id))
        rows = self._counts.rows(self.file_id)
        if not rows:
            return
        if self.postgres:
            # COPY: the ~1,500 rows of a 1M-row file took 0.1-0.2 s as executemany's INSERTs.
            driver = self.connection.connection.driver_connection
            with driver.cursor() as cursor, cursor.copy(_COPY_AGGREGATES) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row([row[name] for name in _AGGREGATE_COLUMNS])
        else:
            self.connection.execute(insert(table), rows)

    def _write_rejects(self) -> None:
        if not self.postgres:
            if self._rejects:
                self.connection.execute(insert(RejectedRow), self._rejects)
                self._rejects.clear()
            return
        # COPY, not an INSERT per row: a fifth of the client's CPU and a third of the wall of
        # SQLAlchemy's executemany for the ~20,000 rejects of a 1M-row file. No other statement
        # can run during a COPY: while one is open the rows are only written as text, so that
        # when it ends the server is not kept waiting while they are.
        if self._rejects:
            self._ledger_texts.append(self._ledger_text(self._rejects))
            self._ledger_rows += len(self._rejects)
            self._rejects.clear()
        if not self._ledger_texts or self._group is not None:
            return
        driver = self.connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(_COPY_REJECTS) as copy:  # type: ignore[union-attr]
            for text in self._ledger_texts:
                copy.write(text)
        self._ledger_texts.clear()
        self._ledger_rows = 0

    @staticmethod
    def _ledger_text(rows: list[dict[str, Any]]) -> bytes:
        """Ledger rows as the CSV text `_COPY_REJECTS` reads, written by Arrow; `fields`
        serialised as SQLAlchemy's JSON type does (json.dumps)."""
        columns = {name: [row[name] for row in rows] for name in _REJECT_COLUMNS[:-1]}
        columns["fields"] = [dumps(row["fields"]) for row in rows]
        types = {"run_id": pa.int64(), "line_number": pa.int64()}
        return copy_text(
            pa.table({name: pa.array(values, types.get(name)) for name, values in columns.items()})
        )
