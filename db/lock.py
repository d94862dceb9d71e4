"""One writer at a time: `etl run`, `etl load-traces` and inbox runs take this lock.

SQLite uses an OS file lock beside the database file, PostgreSQL a session advisory lock. Both
are released by the operating system or the server when the holder dies, so a killed run never
blocks the next one, and a free lock tells readers that a run still marked `running` was
interrupted. It lives in `db` because readers (the Status page, `etl status`) ask about it too.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

# An arbitrary, fixed key: every Iron River writer on one PostgreSQL database asks for this one.
ADVISORY_LOCK_KEY = 0x1_2077_5EED
# How long a writer asks again before it gives up: `writer_active` holds SQLite's shared lock
# for microseconds, and PostgreSQL releases a killed holder's advisory lock only once its
# backend notices the closed connection, a moment after the holder died.
PROBE_GRACE_SECONDS = 0.5
RETRY_SECONDS = 0.02


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


def writer_active(engine: Engine) -> bool:
    """True while some process holds the writer lock; never takes it from a writer.

    On PostgreSQL a holder that was just killed still counts until its backend notices the
    closed connection and exits, a moment later: ask again to see it released.
    """
    if engine.dialect.name == "sqlite":
        return _file_lock_held(_lock_path(Path(engine.url.database or "ironriver.sqlite")))
    # Advisory locks on a bigint key show in pg_locks as classid (high half) and objid (low half).
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND classid = :high AND objid = :low AND objsubid = 1"
                ),
                {"high": ADVISORY_LOCK_KEY >> 32, "low": ADVISORY_LOCK_KEY & 0xFFFF_FFFF},
            ).scalar_one()
        )


def _lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def _file_lock_held(path: Path) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False  # no writer ever ran here
    try:
        # A shared lock is refused only while a writer holds the exclusive one.
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing releases the shared lock at once
    return False


@contextmanager
def _file_lock(database: Path) -> Iterator[None]:
    path = _lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        deadline = time.monotonic() + PROBE_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as error:
                if time.monotonic() < deadline:
                    time.sleep(RETRY_SECONDS)  # perhaps only a reader's probe: ask again
                    continue
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
        deadline = time.monotonic() + PROBE_GRACE_SECONDS
        while not _try_advisory_lock(connection):
            if time.monotonic() >= deadline:
                raise LockBusy("another Iron River ETL holds the PostgreSQL advisory lock")
            time.sleep(RETRY_SECONDS)  # perhaps a holder that just died: ask again
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()


def _try_advisory_lock(connection: Connection) -> bool:
    taken = connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
    ).scalar_one()
    connection.commit()
    return bool(taken)
