"""Engines and sessions: read-write for the ETL, read-only for the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


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
    else:
        if read_only:
            target = f"file:{Path(path).resolve()}?mode=ro"
            engine = create_engine("sqlite://", creator=_ro_creator(target))
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer and the dashboard's readers on one file need a busy wait, not an instant error.
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine


def _ro_creator(target: str) -> Any:
    import sqlite3

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(target, uri=True, check_same_thread=False)

    return connect


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions used as `with factory.begin() as session:`."""
    return sessionmaker(engine, expire_on_commit=False)
