"""PostgreSQL: checked rows streamed into traces by binary COPY, a few batches per COPY and savepoint."""

from __future__ import annotations

import io
from contextlib import ExitStack
from typing import Any

import numpy as np
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from pyarrow import csv as arrow_csv
from sqlalchemy import BigInteger, Connection, Date, Integer, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeEngine

from db.models import Trace
from etl.traces.aggregates import AggregateCounts
from etl.traces.columns import INSERT_COLUMNS

# A batch of traces goes in as binary COPY, encoded from its Arrow columns in Rust by pgpq: the
# server then parses no text (backend CPU of a 1M-row load 1.63 -> 1.34 s; bench/README.md, the
# loader on PostgreSQL, ninth round).
TRACES_COPY = f"COPY {Trace.__tablename__} ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT binary)"


def _sent_as(kind: TypeEngine[Any]) -> pa.DataType:
    """The Arrow type pgpq encodes as the binary form of a traces column of type `kind`."""
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Integer) and not isinstance(kind, BigInteger):
        return pa.int32()
    if isinstance(kind, String):
        return pa.string()
    raise TypeError(f"no binary COPY form chosen for a {kind!r} column")


# Each value is sent as the column's own binary form, so the columns are cast to what the table
# declares (its integer is 4 bytes, its date a day count): a NULL is sent as a NULL (length -1)
# and an empty text as an empty text (length 0), as the CSV did with "" and an empty cell.
COPY_SCHEMA = pa.schema(
    [pa.field(name, _sent_as(Trace.__table__.c[name].type)) for name in INSERT_COLUMNS]
)
# The binary format's header (signature, no flags, no extension) and trailer (a tuple of -1
# fields), from PostgreSQL's COPY documentation: a COPY spanning several batches sends the header
# once, then each batch's tuples, then the trailer.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_CSV = arrow_csv.WriteOptions(include_header=False)


def copy_text(rows: pa.Table) -> bytes:
    """A table's rows as the CSV text a `COPY ... (FORMAT csv)` of its columns reads (the
    ledger's and the numbers' COPYs)."""
    data = io.BytesIO()
    arrow_csv.write_csv(rows, data, _CSV)
    return data.getvalue()


def copy_tuples(rows: pa.Table) -> bytes:
    """Rows of ROW_SCHEMA (etl.traces.rows) as the tuples of a binary `TRACES_COPY`, without the
    header and trailer. Dates go from ISO text to days; a date or an integer the table could not
    take raises here (pyarrow.ArrowInvalid), as the server would have refused it."""
    encoder = ArrowToPostgresBinaryEncoder(COPY_SCHEMA)
    if encoder.write_header() != COPY_HEADER:  # the two constants hold only for this header
        raise RuntimeError("pgpq wrote a binary COPY header other than PostgreSQL's plain one")
    parts = [encoder.write_batch(batch) for batch in rows.cast(COPY_SCHEMA).to_batches()]
    rest = encoder.finish()  # what the encoder still held, then the trailer
    if not rest.endswith(COPY_TRAILER):
        raise RuntimeError("pgpq ended a binary COPY without PostgreSQL's trailer")
    parts.append(rest[: -len(COPY_TRAILER)])
    # A batch's tuples usually come whole from write_batch: join then returns them uncopied.
    return b"".join(part for part in parts if part)


def copy_stream(rows: pa.Table) -> bytes:
    """Rows of ROW_SCHEMA as the whole data of one binary `TRACES_COPY`."""
    return COPY_HEADER + copy_tuples(rows) + COPY_TRAILER


def unique_violations(connection: Connection) -> tuple[type[Exception], ...]:
    """What a refusal of the unique constraint raises, through SQLAlchemy or the driver."""
    return (IntegrityError, connection.dialect.dbapi.IntegrityError)  # type: ignore[union-attr]


class CopyGroup:
    """One savepoint and one COPY into traces, kept open while a few batches stream into it.

    The server parses and stores each batch's text as it arrives, while the client checks the
    next: a COPY and a savepoint per batch left the server idle for the round trips of four
    statements and the client's work in between each time. A batch the unique constraint
    refuses undoes its whole group (the savepoint), whose batches are kept until the COPY ends
    so that they can go in again one by one, without the rows the database already holds.
    """

    def __init__(self, connection: Connection) -> None:
        from psycopg.copy import LibpqWriter  # here: an SQLite load never imports psycopg (~45 ms)

        self._refused = unique_violations(connection)
        with ExitStack() as opening:  # what is entered is left again if opening fails
            opening.enter_context(connection.begin_nested())
            driver = connection.connection.driver_connection
            cursor = opening.enter_context(driver.cursor())  # type: ignore[union-attr]
            # Each batch is pushed to the server as it is written: psycopg would otherwise keep
            # up to 1 MB of it in libpq's buffer, unsent while the next batch is awaited.
            sending = LibpqWriter(cursor, flush_threshold=0)
            self._copy = opening.enter_context(cursor.copy(TRACES_COPY, writer=sending))
            self._copy.write(COPY_HEADER)
            self._open = opening.pop_all()
        self.batches: list[tuple[pa.Table, np.ndarray, AggregateCounts]] = []
        self.rows = 0

    def write(
        self, rows: pa.Table, lines: np.ndarray, tuples: bytes, counts: AggregateCounts
    ) -> None:
        """Send a batch's tuples (`copy_tuples` of `rows`), keeping the batch and its aggregates
        until the COPY ends."""
        self._copy.write(tuples)
        self.batches.append((rows, lines, counts))
        self.rows += rows.num_rows

    def end(self) -> bool:
        """End the COPY: True if its rows are in (the savepoint released), False if the unique
        constraint refused one of them (all of them undone, back to the savepoint)."""
        try:
            self._copy.write(COPY_TRAILER)
        except BaseException as error:  # the connection failed: the COPY cannot end normally
            self.abandon(error)
            raise
        try:
            self._open.close()
        except self._refused:
            return False
        return True

    def abandon(self, error: BaseException) -> None:
        """Stop the COPY because of `error` (the server discards what it received) and go back
        to the savepoint, leaving the connection ready for the load's rollback."""
        self._open.__exit__(type(error), error, error.__traceback__)
