"""One writer at a time: `etl run`, `etl load-traces` and inbox runs take this lock.

SQLite uses an OS file lock beside the database file, PostgreSQL a session advisory lock. Both
are released by the operating system or the server when the holder dies, so a killed run never
blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# An arbitrary, fixed key: every Iron River writer on one PostgreSQL database asks for this one.
ADVISORY_LOCK_KEY = 0x1_2077_5EED


class LockBusy(RuntimeError):
    """Another Iron River writer holds the lock."""


@contextmanager
def writer_lock(engine: Engine) -> Iterator[None]:
    """Hold the ETL writer lock for the block; raise `LockBusy` at once if it is taken."""
    if engine.dialect.name == "sqlite":
        with _file_lock(Path(engine.url.database or "ironriver.sqlite")):
            yield
    else:
        with _advisory_lock(engine):
            yield


@contextmanager
def _file_lock(database: Path) -> Iterator[None]:
    path = database.with_name(database.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise LockBusy(f"another Iron River ETL holds {path} (pid {holder})") from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect() as connection:
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        ).scalar_one()
        connection.commit()
        if not taken:
            raise LockBusy("another Iron River ETL holds the PostgreSQL advisory lock")
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()
