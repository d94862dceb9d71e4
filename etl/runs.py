"""The ETL run log: every attempt to load an input is a row in `etl_runs`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, insert, select, update

from db.models import EtlRun, RunStatus


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_run(engine: Engine, kind: str, source: str, checksum: str | None) -> int:
    """Record a run as started, in its own transaction, so a killed run still leaves a trace."""
    with engine.begin() as connection:
        return connection.execute(
            insert(EtlRun)
            .values(
                kind=kind,
                source=source,
                started_at=now(),
                status=RunStatus.RUNNING,
                input_checksum=checksum,
                rows_read=0,
                rows_loaded=0,
                rows_rejected=0,
                rows_duplicate=0,
            )
            .returning(EtlRun.id)
        ).scalar_one()


def finish_run(
    connection: Connection,
    run_id: int,
    status: RunStatus,
    *,
    rows_read: int = 0,
    rows_loaded: int = 0,
    rows_rejected: int = 0,
    rows_duplicate: int = 0,
    error: str | None = None,
) -> None:
    connection.execute(
        update(EtlRun)
        .where(EtlRun.id == run_id)
        .values(
            finished_at=now(),
            status=status,
            rows_read=rows_read,
            rows_loaded=rows_loaded,
            rows_rejected=rows_rejected,
            rows_duplicate=rows_duplicate,
            error=error,
        )
    )


def fail_run(engine: Engine, run_id: int, error: str) -> None:
    """Mark a run failed after its data transaction was rolled back."""
    with engine.begin() as connection:
        finish_run(connection, run_id, RunStatus.FAILED, error=error)


def record_skip(engine: Engine, kind: str, source: str, checksum: str, reason: str) -> int:
    run_id = start_run(engine, kind, source, checksum)
    with engine.begin() as connection:
        finish_run(connection, run_id, RunStatus.SKIPPED, error=reason)
    return run_id


def last_loaded_checksum(engine: Engine, source: str) -> str | None:
    """The input checksum of the newest successful load of `source`, if any."""
    with engine.connect() as connection:
        return connection.execute(
            select(EtlRun.input_checksum)
            .where(EtlRun.source == source, EtlRun.status == RunStatus.LOADED)
            .order_by(EtlRun.id.desc())
            .limit(1)
        ).scalar_one_or_none()
