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
from adbc_driver_sqlite import dbapi as adbc_sqlite

TABLE = "checked_rows"
ATTACHED_AS = "ironriver_staging"
_PREFIX = "ironriver-staging-"
_NAME = re.compile(re.escape(_PREFIX) + r"(\d+)-[^/]*\.sqlite(-journal)?")


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
        self._connection: Any = None

    def append(self, rows: pa.Table, lines: np.ndarray) -> tuple[int, int]:
        """Write a batch's rows with their line numbers; return its (first, last) rowid."""
        if self._connection is None:
            self._connection = adbc_sqlite.connect(str(self.path), autocommit=True)
            with self._connection.cursor() as cursor:
                # A scratch file: no journal, no fsync; a crash loses nothing the load keeps.
                cursor.execute("PRAGMA journal_mode=OFF")
                cursor.execute("PRAGMA synchronous=OFF")
        with self._connection.cursor() as cursor:
            cursor.adbc_ingest(
                TABLE, rows.append_column("line", pa.array(lines)), mode="create_append"
            )
        first = self.rows + 1
        self.rows += rows.num_rows
        return first, self.rows

    def remove(self) -> None:
        """Close the ADBC connection and delete the file."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        for path in (self.path, Path(f"{self.path}-journal")):
            path.unlink(missing_ok=True)
