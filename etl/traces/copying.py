"""PostgreSQL: checked rows streamed into traces by COPY, a few batches per COPY and savepoint."""

from __future__ import annotations

import io
from contextlib import ExitStack

import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from db.models import Trace
from etl.traces.aggregates import AggregateCounts
from etl.traces.columns import INSERT_COLUMNS

# A batch goes in as CSV text written by Arrow, in C: COPY's CSV reads an unquoted empty cell as
# NULL and a quoted one ("") as an empty text, which is how Arrow writes them.
TRACES_COPY = f"COPY {Trace.__tablename__} ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT csv)"
_CSV = arrow_csv.WriteOptions(include_header=False)


def copy_text(rows: pa.Table) -> bytes:
    """A table's rows as the CSV text a `COPY ... (FORMAT csv)` of its columns reads (for traces:
    `TRACES_COPY`)."""
    data = io.BytesIO()
    arrow_csv.write_csv(rows, data, _CSV)
    return data.getvalue()


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
            self._open = opening.pop_all()
        self.batches: list[tuple[pa.Table, np.ndarray, AggregateCounts]] = []
        self.rows = 0

    def write(
        self, rows: pa.Table, lines: np.ndarray, text: bytes, counts: AggregateCounts
    ) -> None:
        """Send a batch's text (`copy_text` of `rows`), keeping the batch and its aggregates
        until the COPY ends."""
        self._copy.write(text)
        self.batches.append((rows, lines, counts))
        self.rows += rows.num_rows

    def end(self) -> bool:
        """End the COPY: True if its rows are in (the savepoint released), False if the unique
        constraint refused one of them (all of them undone, back to the savepoint)."""
        try:
            self._open.close()
        except self._refused:
            return False
        return True

    def abandon(self, error: BaseException) -> None:
        """Stop the COPY because of `error` (the server discards what it received) and go back
        to the savepoint, leaving the connection ready for the load's rollback."""
        self._open.__exit__(type(error), error, error.__traceback__)
