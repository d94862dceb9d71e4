"""Inserting one file's checked rows in batches, and its rejected rows with their reasons."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, delete, insert

from db.models import RejectedRow, Trace, TraceAggregate
from etl.traces.aggregates import AggregateCounts
from etl.traces.checks import Batch, Progress, RawCells, kept_fields, parse, show
from etl.traces.columns import INSERT_COLUMNS, Row, fields_of
from etl.traces.parallel import parse_in_worker, unpack
from etl.traces.privacy import Header
from etl.traces.reading import LineFeed

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000
SQLITE_IN_CHUNK = 900  # SQLite before 3.32 allowed 999 variables per statement
_TRACE_NUMBER = fields_of("trace_number")


class FileLoader:
    """Inserts the checked rows of one file in batches and records the bad ones with reasons."""

    def __init__(
        self,
        connection: Connection,
        header: Header,
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
        self._counts = AggregateCounts()
        placeholder = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_sql = (
            f"INSERT INTO {Trace.__tablename__} ({', '.join(INSERT_COLUMNS)}) "
            f"VALUES ({', '.join([placeholder] * len(INSERT_COLUMNS))})"
        )

    def reject(self, line: int, reason: str, values: RawCells | None) -> None:
        """Set a row aside with its reason and the cells of the allow-listed columns it has."""
        fields = {} if values is None else kept_fields(values, self.header.present)
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

    def load(self, feed: LineFeed, reader: Iterator[list[str]]) -> None:
        """Parse (here or in a worker process) and insert every batch of the file."""
        progress = Progress()
        run_parser = parse_in_worker if self.parallel else parse
        batches = run_parser(
            feed, reader, self.header, self.file_id, self.postgres, BATCH_ROWS, progress
        )
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

    def flush(self, batch: Batch) -> None:
        """Insert a batch's rows, but those whose trace number the database already has."""
        rows = batch.rows
        if rows:
            existing = self._already_loaded(list(map(_TRACE_NUMBER, rows)))
            if existing:
                keep = []
                for line, row, values in zip(batch.lines, rows, batch.values, strict=True):
                    number = _TRACE_NUMBER(row)
                    owner = existing.get(number)
                    if owner is None:
                        keep.append(row)
                    elif owner == self.file_id:
                        reason = f"duplicate trace_number {show(number)} within this file"
                        self.reject(line, reason, unpack(values))
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

    def _insert(self, rows: list[Row]) -> None:
        if self.postgres:
            # COPY is the fast path on PostgreSQL; it runs inside the same transaction.
            driver = self.connection.connection.driver_connection
            statement = f"COPY {Trace.__tablename__} ({', '.join(INSERT_COLUMNS)}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            self.connection.exec_driver_sql(self._insert_sql, rows)
