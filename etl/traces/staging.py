"""SQLite's way in: checked rows written to a staging file by ADBC, in C, then moved into traces.

Python's sqlite3 binds one Python object per cell (1.7 s of CPU per 1M rows before SQLite does
any work). ADBC's SQLite driver writes Arrow tables without that, but on its own connection: so
the rows go to a constraint-free staging file first, and the load's own connection moves each
batch with one `INSERT INTO traces ... SELECT` inside the load's one transaction, where every
constraint of `traces` applies. The file only ever holds checked, allow-listed values; it is
removed after the load, and one left by a killed load is removed by the next load.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

TABLE = "checked_rows"
ATTACHED_AS = "ironriver_staging"
_PREFIX = "ironriver-staging-"
_NAME = re.compile(re.escape(_PREFIX) + r"(\d+)-[^/]*\.sqlite(-journal)?")
_CREATE_APPEND = "adbc.ingest.mode.create_append"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove the staging files of loads whose process is gone (killed); return what was removed."""
    removed = []
    for path in directory.glob(f"{_PREFIX}*"):
        match = _NAME.fullmatch(path.name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


class StagingFile:
    """One load's staging file: batches appended by ADBC, moved into traces by rowid range.

    Rows are appended and never deleted, so the n-th row appended has rowid n: a batch is the
    range of rowids its rows got, and each move reads it through the rowid index.
    """

    def __init__(self, directory: Path | None = None) -> None:
        directory = Path(directory or tempfile.gettempdir())
        remove_leftovers(directory)
        descriptor, name = tempfile.mkstemp(
            prefix=f"{_PREFIX}{os.getpid()}-", suffix=".sqlite", dir=directory
        )
        os.close(descriptor)
        self.path = Path(name)
        self.rows = 0
        self._database: Any = None
        self._connection: Any = None
        self._ingest: Any = None

    def append(self, rows: pa.Table, lines: np.ndarray) -> tuple[int, int]:
        """Write a batch's rows with their line numbers; return its (first, last) rowid."""
        if self._connection is None:
            self._connect()
        self._ingest.bind_stream(rows.append_column("line", pa.array(lines)))
        self._ingest.execute_update()
        first = self.rows + 1
        self.rows += rows.num_rows
        return first, self.rows

    def _connect(self) -> None:
        # ADBC's driver manager directly, not its DB-API module (which imports pandas), and
        # only when a load stages its first batch.
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
                StatementOptions.INGEST_MODE.value: _CREATE_APPEND,
            }
        )

    def remove(self) -> None:
        """Close the ADBC connection and delete the file."""
        if self._connection is not None:
            for handle in (self._ingest, self._connection, self._database):
                with contextlib.suppress(Exception):
                    handle.close()
            self._connection = None
        for path in (self.path, Path(f"{self.path}-journal")):
            path.unlink(missing_ok=True)
