"""SQLite: the load's write-ahead log written to disk while the load goes on, not all at its commit.

A load writes its ~150 MB of pages per 1M rows into the write-ahead log as it goes, and the
commit makes them durable with one fsync of the log (`synchronous=FULL`): with nothing written
back before, that fsync writes all of them while the command waits (median 0.17 s here).
Syncing the log every fraction of a second from a thread of its own writes them while the rows
are still being parsed, and leaves the commit only the last ones. It adds no write and weakens
nothing: the commit still syncs the log itself before it returns.

The log file is opened here read-only, and closed: SQLite takes no lock on it (its WAL locks are
on the `-shm` index and the database file), so closing this descriptor cannot drop one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection

# How often the log is synced during a load: ~40 MB of log a second at most, so each sync has a
# few MB to write.
INTERVAL_SECONDS = 0.25


def log_path(connection: Connection) -> Path | None:
    """The write-ahead log of the SQLite database `connection` writes, if it has one on disk."""
    if connection.dialect.name != "sqlite":
        return None
    for _, name, file in connection.exec_driver_sql("PRAGMA database_list").all():
        if name == "main" and file:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            return Path(f"{file}-wal") if str(mode).lower() == "wal" else None
    return None


@contextmanager
def written_back(path: Path | None) -> Iterator[None]:
    """Sync the log at `path` every INTERVAL_SECONDS while the block runs (nothing if None).

    The thread is only told to stop at the end, not waited for: a sync under way then runs on
    beside the commit's own.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY) if path is not None else None
    except FileNotFoundError:  # not created yet: nothing to write back
        descriptor = None
    if descriptor is None:
        yield
        return
    stop = threading.Event()
    interval = INTERVAL_SECONDS

    def sync_until_stopped() -> None:
        try:
            while not stop.wait(interval):
                os.fdatasync(descriptor)
        except OSError:
            pass  # the commit's own sync of the log sees the same error and fails the load
        finally:
            os.close(descriptor)

    thread = threading.Thread(
        target=sync_until_stopped, name="ironriver-wal-write-back", daemon=True
    )
    try:
        thread.start()
    except BaseException:
        os.close(descriptor)
        raise
    try:
        yield
    finally:
        stop.set()
