"""Inserting one file's checked rows in batches, and its rejected rows with their reasons."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import chain, islice
from operator import itemgetter
from typing import Any, TextIO

from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import IntegrityError

from db.models import RejectedRow, Trace, TraceAggregate
from etl.traces.aggregates import AggregateCounts
from etl.traces.checks import Batch, Progress, RawCells, kept_fields, show
from etl.traces.columns import INSERT_COLUMNS
from etl.traces.parallel import parse_in_worker
from etl.traces.parsing import ParseJob, parse, pick
from etl.traces.privacy import Header
from etl.traces.reading import LineFeed

log = logging.getLogger(__name__)

# Lines per batch: long enough for the columnar checks, short enough that the two processes
# (parser and inserter) stay under 300 MB of peak RSS together.
BATCH_ROWS = 7_500
SQLITE_IN_CHUNK = 900  # SQLite before 3.32 allowed 999 variables per statement
# Rows per INSERT statement on SQLite (64 x 15 columns = 960 variables, under that limit): one
# statement step per 64 rows instead of one per row, about a tenth of the INSERT's CPU.
SQLITE_ROWS_PER_INSERT = 64
_TRACE_NUMBER = INSERT_COLUMNS.index("trace_number")
_TRACE_FILE_ID = INSERT_COLUMNS.index("trace_file_id")
# Binary COPY on PostgreSQL: psycopg's C dumpers write ints and dates without formatting them as
# text (client CPU of COPY per 1M rows 1.2 s -> 0.45 s, bench/README.md). Binary needs each
# column's type up front; they come from the model, so a schema change cannot leave them stale.
_BINARY_TYPES = {int: "int4", str: "text", dt.date: "date"}
_COPY_TYPES = [_BINARY_TYPES[Trace.__table__.c[name].type.python_type] for name in INSERT_COLUMNS]
Columns = list[list[Any]]  # TraceRow's columns, each with one value per row


def _take(columns: Columns, picked: list[int]) -> Columns:
    return [pick(column, picked) for column in columns]


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


class FileLoader:
    """Inserts the checked rows of one file in batches and records the bad ones with reasons."""

    def __init__(
        self,
        connection: Connection,
        header: Header,
        file_id: int,
        run_id: int,
        file_name: str,
        reopen: Callable[[], AbstractContextManager[TextIO]],
        *,
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
        self.line = 0
        self.rows_read = 0
        self.rows_loaded = 0
        self.rows_rejected = 0
        self.rows_duplicate = 0
        self._rejects: list[dict[str, Any]] = []
        self._counts = AggregateCounts()
        placeholder = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
        values = f"({', '.join([placeholder] * len(INSERT_COLUMNS))})"
        self._insert_sql = (
            f"INSERT INTO {Trace.__tablename__} ({', '.join(INSERT_COLUMNS)}) VALUES {values}"
        )
        self._insert_many_sql = (
            f"INSERT INTO {Trace.__tablename__} ({', '.join(INSERT_COLUMNS)}) "
            f"VALUES {', '.join([values] * SQLITE_ROWS_PER_INSERT)}"
        )

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
        """Parse (here or in a worker process) and insert every batch of the file."""
        progress = Progress()
        run_parser = parse_in_worker if self.parallel else parse
        # Batches hold millions of small objects: the automatic cyclic garbage collector would
        # rescan them again and again (a third of the CPU time). Instead the young generations
        # are collected once per batch, which keeps memory flat. A forked parser inherits this;
        # it is restored after the load.
        collecting = gc.isenabled()
        gc.disable()
        job = ParseJob(feed, self.header, self.file_id, self.postgres, BATCH_ROWS)
        batches = run_parser(job, progress)
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
        except BaseException:
            # A failure while reading is at the parser's line; one while inserting, the batch's.
            self.line = max(self.line, progress.line)
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

    def flush(self, batch: Batch) -> None:
        """Insert a batch's rows, but those whose trace number the database already has."""
        columns = batch.columns
        if batch.lines:
            # traces.trace_file_id has no foreign key (migration 0004): this check is what keeps
            # every stored trace pointing at this load's own trace_files row. C-speed list.count.
            file_ids = columns[_TRACE_FILE_ID]
            if file_ids.count(self.file_id) != len(file_ids):
                raise WrongTraceFile(f"a batch names a trace file other than {self.file_id}")
            self._counts.merge(batch.counts)
            if self._insert_if_all_new(columns):
                self.rows_loaded += len(batch.lines)
                self._write_rejects()
                return
            numbers = columns[_TRACE_NUMBER]
            existing = self._already_loaded(numbers)
            if existing:
                keep: list[int] = []
                left_out: list[int] = []
                for index, (line, number) in enumerate(zip(batch.lines, numbers, strict=True)):
                    owner = existing.get(number)
                    if owner is None:
                        keep.append(index)
                        continue
                    left_out.append(index)
                    if owner == self.file_id:
                        reason = f"duplicate trace_number {show(number)} within this file"
                        self._refused_later[line] = reason
                        self.rows_rejected += 1
                    else:
                        self.rows_duplicate += 1
                dropped = AggregateCounts()
                dropped.add(_take(columns, left_out))
                self._counts.merge(dropped, sign=-1)
                columns = _take(columns, keep)
            if columns[0]:
                self._insert(columns)
                self.rows_loaded += len(columns[0])
        self._write_rejects()

    def _insert_if_all_new(self, columns: Columns) -> bool:
        """Insert the rows in a savepoint; False, with nothing inserted, if a trace number is known.

        The usual batch has no trace number the database already holds: asking first, for every
        row, would cost more than undoing the rare batch the unique constraint stops.
        """
        unique_violation = (IntegrityError, self.connection.dialect.dbapi.IntegrityError)  # type: ignore[union-attr]
        try:
            with self.connection.begin_nested():
                self._insert(columns)
        except unique_violation:
            return False
        return True

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

    def _insert(self, columns: Columns) -> None:
        rows = zip(*columns, strict=True)  # tuples made as the driver binds them, in C
        driver = self.connection.connection.driver_connection
        if self.postgres:
            # COPY is the fast path on PostgreSQL; it runs inside the same transaction.
            names = ", ".join(INSERT_COLUMNS)
            statement = f"COPY {Trace.__tablename__} ({names}) FROM STDIN (FORMAT BINARY)"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                copy.set_types(_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        else:
            # The DB-API cursor, which takes an iterator (SQLAlchemy wants a list); same
            # connection, so the same transaction and savepoint.
            cursor = driver.cursor()  # type: ignore[union-attr]
            try:
                count = len(columns[0])
                whole = count - count % SQLITE_ROWS_PER_INSERT
                if whole:
                    # The rows' values in one flat list, bound SQLITE_ROWS_PER_INSERT rows at a time.
                    values = list(chain.from_iterable(islice(rows, whole)))
                    step = SQLITE_ROWS_PER_INSERT * len(INSERT_COLUMNS)
                    cursor.executemany(
                        self._insert_many_sql,
                        (values[start : start + step] for start in range(0, len(values), step)),
                    )
                cursor.executemany(self._insert_sql, rows)  # the rows left over, one by one
            finally:
                cursor.close()
