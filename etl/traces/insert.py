"""Inserting one file's checked rows in batches, and its rejected rows with their reasons."""

from __future__ import annotations

import csv
import gc
import logging
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from json import dumps
from operator import itemgetter
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, insert

from db.models import RejectedRow, TraceAggregate
from etl.traces.aggregates import AggregateCounts
from etl.traces.arrays import column, from_numpy, to_numpy
from etl.traces.checks import Batch, Progress, RawCells, kept_fields, repeat_reason
from etl.traces.columns import ALLOWED_COLUMNS
from etl.traces.copying import (
    TRACES_COPY,
    CopyGroup,
    copy_stream,
    copy_text,
    copy_tuples,
    unique_violations,
)
from etl.traces.known import (
    COPY_NUMBERS,
    CREATE_NUMBERS_TABLE,
    DUPLICATE,
    MOVE_STAGED,
    NEW,
    NUMBERS_TABLE,
    REPEAT,
    RefusedBatch,
    owner_codes,
    owner_codes_in_range,
)
from etl.traces.parallel import parse_in_worker
from etl.traces.parsing import ParseJob, parse
from etl.traces.privacy import Header
from etl.traces.reading import LineFeed
from etl.traces.staging import StagedBatch, Staging

log = logging.getLogger(__name__)

# Lines per batch: long enough for the columnar checks, short enough that the parser's and the
# inserter's batches in flight keep the load under 300 MB of peak RSS.
BATCH_ROWS = 16_384
# On PostgreSQL, batches per COPY (and savepoint): the server idles between two COPYs, and a
# group's batches are held until its COPY ends, in case it is refused and they go in again.
COPY_GROUP_BATCHES = 4
_REJECT_COLUMNS = ("run_id", "file_name", "line_number", "reason", "fields")
_COPY_REJECTS = (
    f"COPY {RejectedRow.__tablename__} ({', '.join(_REJECT_COLUMNS)}) FROM STDIN (FORMAT csv)"
)
_AGGREGATE_COLUMNS = ("trace_file_id", "dimension", "year", "key", "firearms")
_COPY_AGGREGATES = (
    f"COPY {TraceAggregate.__tablename__} ({', '.join(_AGGREGATE_COLUMNS)}) FROM STDIN"
)
_TRACE_NUMBER_AT = ALLOWED_COLUMNS.index("trace_number")
# SQLite: staged batches whose aggregates are kept until they move (see FileLoader).
STAGED_COUNTS_KEPT = 16
# Staged batches moved after each batch staged: more than one, so that the batches of a sealed
# staging file are all moved before the next file is sealed.
MOVES_PER_BATCH = 2


class WrongTraceFile(Exception):
    """A batch holds rows naming a trace file other than the one this load inserted."""


class StagedRowsMissing(Exception):
    """A move found fewer staged rows than were written: the staging file is not the one written
    (replaced or cut short by someone else), so the load must fail, not count rows it lost."""


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


def _walk_at_most(numbers: pa.ChunkedArray) -> int:
    """PostgreSQL: how many stored rows a batch's lookup walks at most over its numbers' range
    before it looks them up one by one: a quarter more than the batch, so that a range holding
    the batch's own rows and a few others still counts as side by side."""
    return len(numbers) + len(numbers) // 4 + 1


def prepared_for_copy(batch: Batch) -> Batch:
    """PostgreSQL: a batch's rows in trace-number order and encoded as COPY's tuples, work done
    in the parser's thread so that the inserting thread only sends them."""
    if batch.rows.num_rows:
        batch.rows, batch.lines = in_trace_number_order(batch.rows, batch.lines)
        batch.copy_tuples = copy_tuples(batch.rows)
    return batch


class FileLoader:
    """Inserts the checked rows of one file in batches and records the bad ones with reasons.

    On PostgreSQL each batch is streamed into traces as it arrives, a few batches to a COPY
    (see `CopyGroup`), its tuples encoded beside the parser. On SQLite each batch is
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
        # The lines of the good rows the database refused as repeats of an earlier batch's, their
        # reasons and cells read again at the end: 8 bytes a row, where a reason string each grew
        # the loader's memory with the file (~3 MB for the ~18,000 of a 10M-row file).
        self._repeated_lines = array("q")
        self._numbers_table = False  # PostgreSQL: whether this transaction created it yet
        # PostgreSQL: whether the last batch looked up held a known trace number; the next is
        # then looked up too, not streamed into a COPY the unique key would likely refuse.
        self._known_seen = False
        # PostgreSQL: whether the stored rows between a looked-up batch's least and greatest
        # trace number have been few enough to walk (`known.owner_codes_in_range`); once they are
        # not, the file's numbers interleave with stored ones, and each is looked up alone.
        self._ranges_dense = True
        # SQLite: staged batches' aggregates, until moved, by StagedBatch.line (the line of its
        # last row, unique in the file): a batch whose rows traces all holds takes them away
        # whole. At most STAGED_COUNTS_KEPT of them (~0.3-0.6 MB each): a file's first staging file
        # holds 2/9 of its rows, so keeping all would make the peak RSS grow with the file
        # (+36-60 MB at 10M rows); a later batch, if refused whole, is counted from its rows
        # read back instead (~30 ms a batch, where taking its kept counts away costs nothing).
        self._staged_counts: dict[int, AggregateCounts] = {}
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
        """Record the good rows the database refused as repeats, with their cells read again
        (the trace number in the reason among them: the one stored is the cell stripped)."""
        if not self._repeated_lines:
            return
        left = set(self._repeated_lines)
        self._repeated_lines = array("q")
        with self.reopen() as stream:
            for line, values in allowed_cells_at(stream, self.header, left):
                left.discard(line)
                reason = repeat_reason(values[_TRACE_NUMBER_AT])
                self._rejects.append(self._ledger_row(line, reason, values))
        for line in sorted(left):  # not found again: the file changed; no cells
            self._rejects.append(self._ledger_row(line, repeat_reason(None), None))
        self._write_rejects()

    def _repeat(self, line: int) -> None:
        """Reject a row whose trace number an earlier batch of this file holds."""
        self._repeated_lines.append(line)
        self.rows_rejected += 1

    def _move_new_rows(self, refused: RefusedBatch) -> None:
        """SQLite: move a refused batch's new rows; count the others, in SQL, as duplicates
        (another file holds them) or rejected repeats (this file does), and take their
        aggregates away."""
        known, repeats = refused.owners(self.file_id)
        if repeats:
            for line, _ in refused.repeats(self.file_id):
                self._repeat(line)
        self.rows_duplicate += known - repeats
        if known == refused.rows:  # a reload's usual batch: every row is known, nothing to move
            counts = refused.counts if refused.counts is not None else refused.tally()
            self._counts.merge(counts, sign=-1)
        else:
            if known:
                self._counts.merge(refused.tally(), sign=-1)
            refused.move_new()
        self.rows_loaded += refused.rows - known

    def flush(self, batch: Batch) -> None:
        """Insert (or stage) a batch's rows, but those whose trace number the database has."""
        rows: pa.Table = batch.rows
        lines: np.ndarray = batch.lines
        if rows.num_rows:
            if not self.postgres:
                rows, lines = in_trace_number_order(rows, lines)
            elif batch.copy_tuples is None:  # parsed in this thread
                rows, lines = prepared_for_copy(batch).rows, batch.lines
            # traces.trace_file_id has no foreign key (migration 0004): this check is what keeps
            # every stored trace pointing at this load's own trace_files row.
            file_ids = pc.min_max(rows.column("trace_file_id")).as_py()
            if file_ids != {"min": self.file_id, "max": self.file_id}:
                raise WrongTraceFile(f"a batch names a trace file other than {self.file_id}")
            self._counts.merge(batch.counts)
            if self.postgres and self._known_seen:
                self._known_seen = self._copy_new(rows, lines, batch.counts, try_whole=False)
            elif self.postgres:
                self._stream(rows, lines, batch.copy_tuples, batch.counts)
            else:
                if len(self._staged_counts) < STAGED_COUNTS_KEPT:
                    self._staged_counts[int(lines[-1])] = batch.counts
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

    def _stream(
        self, rows: pa.Table, lines: np.ndarray, tuples: bytes, counts: AggregateCounts
    ) -> None:
        """PostgreSQL: send a batch into the open COPY, opening one (and its savepoint) if none."""
        if self._group is None:
            self._group = CopyGroup(self.connection)
        self._group.write(rows, lines, tuples, counts)

    def _end_group(self) -> None:
        """PostgreSQL: end the open COPY; if the unique constraint refused it, its batches go in
        again one by one, without the rows whose trace number the database has."""
        group, self._group = self._group, None
        if group is None:
            return
        if group.end():
            self.rows_loaded += group.rows
            return
        # A batch of a refused group is likely to hold a known number (a reload's every batch
        # does): its numbers are looked up before it is copied, not tried in a COPY again.
        for rows, lines, counts in group.batches:
            self._known_seen = self._copy_new(rows, lines, counts, try_whole=False)

    def _abandon_copy(self, error: BaseException) -> None:
        """PostgreSQL: stop an open COPY, the load failing with `error`."""
        group, self._group = self._group, None
        if group is not None:
            group.abandon(error)

    def _copy_new(
        self, rows: pa.Table, lines: np.ndarray, counts: AggregateCounts, *, try_whole: bool = True
    ) -> bool:
        """Copy a batch into traces, without the rows whose trace number the database holds:
        tried whole first (`try_whole`), those rows looked up only if the unique key refuses.
        Whether any row's trace number was known."""
        if try_whole and self._insert_if_all_new(rows, lines):
            self.rows_loaded += rows.num_rows
            return False
        numbers = rows.column("trace_number")
        owners = self._owners_of(numbers)
        for index in np.flatnonzero(owners == REPEAT).tolist():
            self._repeat(int(lines[index]))
        self.rows_duplicate += int(np.count_nonzero(owners == DUPLICATE))
        new = owners == NEW
        if not new.any():  # a reload's usual batch: every row is known
            self._counts.merge(counts, sign=-1)
            return True
        if new.all():
            self._insert(rows, lines)
            self.rows_loaded += rows.num_rows
            return False
        dropped = AggregateCounts()
        dropped.add(rows.filter(from_numpy(~new)))
        self._counts.merge(dropped, sign=-1)
        self._insert(rows.filter(from_numpy(new)), lines[new])
        self.rows_loaded += int(np.count_nonzero(new))
        return True

    def _owners_of(self, numbers: pa.ChunkedArray) -> np.ndarray:
        """PostgreSQL: who holds each trace number (see `known.owner_codes`): the stored rows
        over the numbers' range if they are few (`known.owner_codes_in_range`), else the
        numbers go in by COPY, written by Arrow, and one code a row comes back, no row."""
        if self._ranges_dense:
            most = _walk_at_most(numbers)
            codes = owner_codes_in_range(self.connection, numbers, self.file_id, most)
            if codes is not None:
                return codes
            self._ranges_dense = False
        if self._numbers_table:
            self.connection.exec_driver_sql(f"TRUNCATE {NUMBERS_TABLE}")
        else:
            self.connection.exec_driver_sql(CREATE_NUMBERS_TABLE)
            self._numbers_table = True
        positions = from_numpy(np.arange(len(numbers), dtype=np.int32))
        text = copy_text(pa.table([numbers, positions], ["n", "p"]))
        driver = self.connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(COPY_NUMBERS) as copy:  # type: ignore[union-attr]
            copy.write(text)
        return owner_codes(self.connection, self.file_id)

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
            copy.write(copy_stream(rows))

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
        driver = self.connection.connection.driver_connection
        first, last = staged.first, staged.last
        counts = self._staged_counts.pop(staged.line, None)
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            try:
                with self.connection.begin_nested():
                    cursor.execute(
                        MOVE_STAGED.format(staged=staged.table), {"first": first, "last": last}
                    )
                if cursor.rowcount != last - first + 1:
                    raise StagedRowsMissing(
                        f"{cursor.rowcount} of the {last - first + 1} rows staged were found"
                    )
                self.rows_loaded += last - first + 1
                return
            except unique_violations(self.connection):
                pass
            self._move_new_rows(RefusedBatch(self.connection, staged.table, first, last, counts))
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
            pa.table(
                {
                    name: column(values, types.get(name, pa.string()))
                    for name, values in columns.items()
                }
            )
        )
