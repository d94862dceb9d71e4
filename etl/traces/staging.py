"""SQLite's way in: checked rows written to staging files by ADBC, in C, then moved into traces.

Python's sqlite3 binds one Python object per cell (1.7 s of CPU per 1M rows before SQLite does
any work). ADBC's SQLite driver writes Arrow tables without that, but on its own connection: so
the rows go to constraint-free staging files first, and the load's own connection moves each
batch with one `INSERT INTO traces ... SELECT` inside the load's one transaction, where every
constraint of `traces` applies. The files only ever hold checked, allow-listed values; they are
removed after the load, and those left by a killed load are removed by the next load.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from etl.traces.arrays import from_numpy
from etl.traces.handoff import HandOff
from etl.traces.rows import ROW_SCHEMA

TABLE = "checked_rows"
# A staged batch: its checked rows, then the line each came from.
STAGED_COLUMNS = ROW_SCHEMA.append(pa.field("line", pa.int64()))
# The table ADBC's SQLite driver would make for those columns (a test holds the two together),
# made here with Python's sqlite3: loading ADBC's driver costs ~0.12 s, which its writing
# thread pays later beside the parser rather than the load before its first row.
_DECLARED = {pa.int64(): "INTEGER", pa.string(): "TEXT"}
CREATE_TABLE = (
    f'CREATE TABLE "{TABLE}" ('
    + ", ".join(f'"{field.name}" {_DECLARED[field.type]}' for field in STAGED_COLUMNS)
    + ")"
)
ATTACHED_AS = "ironriver_staging"
_PREFIX = "ironriver-staging-"
_NAME = re.compile(re.escape(_PREFIX) + r"(\d+)-[^/]*\.sqlite(-journal)?")
_APPEND = "adbc.ingest.mode.append"
# A staging file holds at least this many rows: fewer would only add files and statements.
MIN_ROWS_PER_FILE = 32_768


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _held(path: Path) -> bool:
    """Whether a live load holds `path` (its lock on the file, `StagingFile`): the lock is the
    kernel's, so it holds where the process id in the name says nothing, as for a load in
    another PID namespace (a container) sharing this directory."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # gone already: nothing to remove
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # and with it the lock this took, if it took one
    return False


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove the staging files of loads whose process is gone (killed) and which no live load
    holds; return what was removed."""
    removed = []
    for path in directory.glob(f"{_PREFIX}*"):
        match = _NAME.fullmatch(path.name)
        if match and not _alive(int(match.group(1))) and not _held(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


class StagingFile:
    """One load's staging file: batches appended by ADBC, moved into traces by rowid range.

    Rows are appended and never deleted, so the n-th row appended has rowid n: a batch is the
    range of rowids its rows got, and each move reads it through the rowid index.

    The file's table is made as the file is (`CREATE_TABLE`), before the load's connection
    attaches it, and appends never change its schema. A table made by the first append, while
    the load's connection had the file attached, changed the file's schema under it: the next
    statement of that connection to miss a table checked the schema of every attached file,
    reading each one's first page and schema, the file ADBC was filling at that moment included.
    ADBC's SQLite is another copy of the library, whose locks the load's connection does not see
    in this one process, so that read could catch a page half written and fail the load with
    "database disk image is malformed" (5 of 24 loads of 1M rows, two at a time under `strace
    -f`, always as a batch was moved; 0 of 48 since).
    """

    def __init__(self, directory: Path) -> None:
        descriptor, name = tempfile.mkstemp(
            prefix=f"{_PREFIX}{os.getpid()}-", suffix=".sqlite", dir=directory
        )
        # Held until the file is removed: another load's `remove_leftovers` leaves it alone.
        # (flock, not SQLite's own fcntl locks: the two kinds do not meet on Linux.)
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        self._held = descriptor
        self.path = Path(name)
        self.rows = 0
        self._database: Any = None
        self._connection: Any = None
        self._ingest: Any = None
        try:
            with contextlib.closing(sqlite3.connect(self.path)) as creating:
                creating.execute("PRAGMA journal_mode=OFF")  # a scratch file, as for its rows
                creating.execute(CREATE_TABLE)
        except BaseException:
            self.remove()
            raise

    def append(self, rows: pa.Table, lines: np.ndarray) -> tuple[int, int]:
        """Write a batch's rows with their line numbers; return its (first, last) rowid."""
        if self._connection is None:
            self._connect()
        self._ingest.bind_stream(rows.append_column("line", from_numpy(lines)))
        self._ingest.execute_update()
        first = self.rows + 1
        self.rows += rows.num_rows
        return first, self.rows

    def _connect(self) -> None:
        # ADBC's driver manager directly, not its DB-API module (which imports pandas), and
        # only when a load stages rows.
        import adbc_driver_sqlite
        from adbc_driver_manager import AdbcConnection, AdbcStatement, StatementOptions

        self._database = adbc_driver_sqlite.connect(str(self.path))
        self._connection = AdbcConnection(self._database)  # autocommit: one transaction a batch
        # A scratch file: no journal, no fsync; a crash loses nothing the load keeps.
        for pragma in ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF"):
            statement = AdbcStatement(self._connection)
            statement.set_sql_query(pragma)
            statement.execute_update()
            statement.close()
        self._ingest = AdbcStatement(self._connection)
        self._ingest.set_options(
            **{
                StatementOptions.INGEST_TARGET_TABLE.value: TABLE,
                StatementOptions.INGEST_MODE.value: _APPEND,
            }
        )

    def close(self) -> None:
        """Close the ADBC connection: every row appended is in the file."""
        if self._connection is not None:
            for handle in (self._ingest, self._connection, self._database):
                with contextlib.suppress(Exception):
                    handle.close()
            self._connection = None

    def remove(self) -> None:
        """Close the ADBC connection and delete the file."""
        self.close()
        for path in (self.path, Path(f"{self.path}-journal")):
            path.unlink(missing_ok=True)
        if self._held >= 0:
            os.close(self._held)
            self._held = -1


class StagedBatch(NamedTuple):
    """One batch in a staging file: the rowids its rows got, and the line of its last row."""

    table: str  # the staged table, qualified with the file's attached name
    first: int
    last: int
    line: int


def staging_plan(expected_rows: int, attach_limit: int) -> list[int]:
    """How many rows each staging file of a load of about `expected_rows` rows is sealed at.

    The last file is not in the list: it takes every row after the others, so a file longer
    than estimated still loads. The rows of the file being filled when the last batch arrives
    are moved after it, so files get smaller towards the end (sizes k, k-1, ... 1 parts):
    each is at least half its predecessor, so moving two batches per batch staged empties a
    sealed file before the next is sealed, and little is left for the end.
    """
    planned = max(0, attach_limit - 2)  # one attachment left for anyone else, one for the rest
    parts = planned * (planned + 1) // 2
    seal_at: list[int] = []
    covered = 0
    for weight in range(planned, 0, -1):
        if covered >= expected_rows:
            break
        rows = max(MIN_ROWS_PER_FILE, -(-expected_rows * weight // parts))
        seal_at.append(rows)
        covered += rows
    return seal_at


class Staging:
    """One load's staging files, attached to the load's connection and filled one after another.

    The load's connection reads a staging file's rows only once it is sealed (the
    ADBC side will never write to it again): a read keeps the snapshot it started with until the
    load's transaction ends, and holds a shared lock that a later write to that file would wait
    on. So each file is moved into traces while the next one fills and the parser goes on, and
    only the rows of the last file filled are left to move after the last batch. File `i` is
    sealed when it holds `seal_at[i]` rows; the file after those takes whatever rows come after.

    With `write_in_background`, the files are written by a thread of their own: the load's
    thread then only hands each batch over and moves sealed ones, and its own connection's
    moves, ADBC's writes and the parser's checks run at once (all three let go of the GIL in
    their C work). Without it, the load was bound by its one thread writing and moving while
    the parser waited (issue 13's timeline).
    """

    def __init__(self, seal_at: list[int], directory: Path | None = None) -> None:
        self._writer: HandOff[None] | None = None
        directory = Path(directory or tempfile.gettempdir())
        remove_leftovers(directory)
        self.seal_at = seal_at
        self.files: list[StagingFile] = []
        try:
            for _ in range(len(seal_at) + 1):
                self.files.append(StagingFile(directory))
        except BaseException:
            self.remove()
            raise
        self._filling = 0
        self._unsealed: list[StagedBatch] = []
        self.sealed: deque[StagedBatch] = deque()  # in file order, ready to move

    @staticmethod
    def alias(index: int) -> str:
        """The name the load's connection attaches file `index` as."""
        return f"{ATTACHED_AS}_{index}"

    def write_in_background(self) -> None:
        """From now on, batches appended are written by a second thread, one at a time, in order;
        at most one waits while one is written, so memory stays bounded; a failure to write one
        is raised by a later `append` or by `seal`."""
        self._writer = HandOff("ironriver-staging-writer", bound=2)

    def append(self, rows: pa.Table, lines: np.ndarray) -> None:
        """Stage a batch's rows with their line numbers; a file is sealed once it is full."""
        if self._writer is None:
            self._write(rows, lines)
        else:
            self._writer.hand_over(self._write, rows, lines)

    def _write(self, rows: pa.Table, lines: np.ndarray) -> None:
        staging_file = self.files[self._filling]
        first, last = staging_file.append(rows, lines)
        table = f"{self.alias(self._filling)}.{TABLE}"
        self._unsealed.append(StagedBatch(table, first, last, int(lines[-1])))
        if self._filling < len(self.seal_at) and staging_file.rows >= self.seal_at[self._filling]:
            self._seal_filling()
            self._filling += 1

    def seal(self) -> None:
        """Once every batch appended is written, hand the filling file's batches over to be
        moved: nothing writes to it again."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.finish()
        self._seal_filling()

    def _seal_filling(self) -> None:
        # Closed before its batches are handed over: the load's connection reads a whole file.
        self.files[self._filling].close()
        self.sealed.extend(self._unsealed)
        self._unsealed.clear()

    def remove(self) -> None:
        """Close every ADBC connection and delete every file (a write under way ends first; those
        not started are dropped)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        for staging_file in self.files:
            staging_file.remove()
