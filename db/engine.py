"""Engines and sessions: read-write for the ETL, read-only for the dashboard.

SQLite runs in WAL mode, set by every writer and kept by the file: readers keep reading the last
committed snapshot while a load writes, and a killed writer leaves nothing a reader must undo
(its uncommitted WAL frames are ignored). Files from before WAL may still hold a rollback journal
left by a killed writer; the first reader or writer that can write rolls it back.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool

# After a big load the WAL can hold hundreds of MB; once checkpointed it is cut back to this.
WAL_SIZE_LIMIT_BYTES = 64 << 20
# One connection per request thread (Werkzeug starts a thread per request): a few kept, more
# opened under a burst. SQLite read connections are cheap, and WAL readers never block each other.
READ_POOL_SIZE = 8
READ_POOL_OVERFLOW = 56
# Errors that mean "this process may not write here", as opposed to "someone else is writing".
_NOT_WRITABLE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")


class DatabaseUnreadable(RuntimeError):
    """The SQLite file is in a state this process cannot read; the message says what to run."""


def make_engine(database_url: str, *, read_only: bool = False) -> Engine:
    """An engine for `database_url`; `read_only=True` refuses every write at the driver."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url.database or "", read_only=read_only)
    connect_args: dict[str, Any] = {}
    if read_only:
        connect_args["options"] = "-c default_transaction_read_only=on"
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_engine(path: str, *, read_only: bool) -> Engine:
    if path in ("", ":memory:"):
        engine = create_engine("sqlite://")
    elif read_only:
        engine = _read_only_engine(Path(path).resolve())
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A file URL gets SQLAlchemy's QueuePool (one connection per thread at a time).
        engine = create_engine(f"sqlite:///{path}")
        event.listen(engine, "connect", _write_ahead_log)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL readers never wait for a writer; writers may still wait for each other briefly.
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """Every writer puts the file in WAL mode (a no-op once it is); the file keeps it."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    finally:
        cursor.close()


class _FrozenSnapshot(sqlite3.Connection):
    """A reader opened with `immutable=1`, because nothing could open the WAL index (see below)."""


def _read_only_engine(path: Path) -> Engine:
    """Threads of one server share this engine: a QueuePool, never SingletonThreadPool.

    A `sqlite://` URL with a `creator` makes SQLAlchemy pick SingletonThreadPool, which closes
    connections other request threads still use (500s, then a segfault). The pool class is named
    here because a `creator` bypasses the choice SQLAlchemy makes from a file URL.
    """

    def connect() -> sqlite3.Connection:
        uri, frozen = reader_uri(path)
        factory = _FrozenSnapshot if frozen else sqlite3.Connection
        return sqlite3.connect(uri, uri=True, check_same_thread=False, factory=factory)

    engine = create_engine(
        f"sqlite:///{path}",
        creator=connect,
        poolclass=QueuePool,
        pool_size=READ_POOL_SIZE,
        max_overflow=READ_POOL_OVERFLOW,
    )

    @event.listens_for(engine, "checkout")
    def _reopen_once_a_writer_appears(
        dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        # A frozen snapshot would never see the writer's commits: drop it and open a live one.
        if isinstance(dbapi_connection, _FrozenSnapshot) and _sidecar(path, "-shm").exists():
            raise DisconnectionError("a writer created the WAL index: reopen as a live reader")

    return engine


def reader_uri(path: Path) -> tuple[str, bool]:
    """The SQLite URI a read-only connection to `path` opens, and whether it is frozen.

    Handles what a killed writer can leave behind:
    - a rollback journal (files from before WAL): a `mode=ro` connection cannot roll it back
      ("attempt to write a readonly database"), so it is rolled back here, by a read-write
      connection that also switches the file to WAL, or a clear error says who can;
    - a WAL file and its `-shm` index: `mode=ro` readers use them and ignore uncommitted frames;
    - a WAL-mode file without `-shm` in a directory this process cannot write: SQLite cannot
      build the index, so with no WAL content the file is read as `immutable` until a writer
      creates the index (the checkout hook then reopens); with WAL content left, only a writer
      can fold it in, and the error says so.
    """
    recover_rollback_journal(path)
    uri = f"{path.as_uri()}?mode=ro"
    # The header is read last, and only here: closing any descriptor of the database file drops
    # every POSIX lock this process holds on it, the SHARED locks of its live SQLite connections
    # included; a writer then believes it is alone and removes the WAL index under them (stale
    # and "malformed" reads). Where the index can be created, no writer can be missing it.
    if _sidecar(path, "-shm").exists() or _can_create_in(path.parent) or not _is_wal_file(path):
        return uri, False
    wal = _sidecar(path, "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise DatabaseUnreadable(
            f"{path}: committed data waits in {wal.name}, but {path.name}-shm is missing and "
            f"{path.parent} is not writable by this user; run `ironriver db upgrade` as the "
            "user who writes the database, then read again"
        )
    return f"{uri}&immutable=1", True


def recover_rollback_journal(path: Path) -> None:
    """Roll back a journal a killed pre-WAL writer left, and switch the file to WAL for good.

    A journal that belongs to a live writer is not touched (SQLite sees its lock); that writer
    switches the file to WAL itself. Raises `DatabaseUnreadable` when this process may not write.
    """
    journal = _sidecar(path, "-journal")
    if not journal.exists() or journal.stat().st_size == 0:
        return
    try:
        # Short: a hot journal needs only the readers of the moment to finish their query.
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=2)
        try:
            # Reading the header rolls back a hot journal; the mode change keeps it from recurring.
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        if getattr(error, "sqlite_errorname", "").startswith(_NOT_WRITABLE):
            raise DatabaseUnreadable(
                f"{path}: a writer was killed and left {journal.name}, which only a read-write "
                f"connection can roll back ({error}); run `ironriver db upgrade` as the user "
                "who writes the database, then read again"
            ) from error
        # Busy: a live writer owns the journal, and readers wait for it as they always did.


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _is_wal_file(path: Path) -> bool:
    """Bytes 18 and 19 of the SQLite header are 2 in WAL mode (see `reader_uri` before use)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2


def _can_create_in(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions used as `with factory.begin() as session:`."""
    return sessionmaker(engine, expire_on_commit=False)
