"""The ETL run log: every attempt to load an input is a row in `etl_runs`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, exists, insert, select, update
from sqlalchemy.orm import aliased

from db.models import EtlRun, RunStatus

# Written by the next writer into a run no process finished; the row keeps status `running`,
# which readers show as `interrupted` (see `db.freshness.recent_runs`).
INTERRUPTED_ERROR = (
    "interrupted: the process ended before the run finished (killed or crashed); "
    "its transaction was rolled back and the previous rows kept"
)
# What makes an interrupted run of a source resolved: a later run that loaded or found no change.
_SUCCESS = (RunStatus.LOADED, RunStatus.SKIPPED)


@dataclass(frozen=True)
class InterruptedRun:
    run_id: int
    kind: str
    source: str


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


def claim_interrupted(engine: Engine) -> list[InterruptedRun]:
    """Runs a dead process left `running`, not reported before; marks them reported.

    Only a writer holding the writer lock may call this: then no other run is under way, so every
    `running` row is one whose process died. Each is returned once, for one failure alert.
    """
    with engine.begin() as connection:
        rows = connection.execute(
            select(EtlRun.id, EtlRun.kind, EtlRun.source)
            .where(EtlRun.status == RunStatus.RUNNING, EtlRun.error.is_(None))
            .order_by(EtlRun.id)
        ).all()
        if rows:
            connection.execute(
                update(EtlRun)
                .where(EtlRun.id.in_([row.id for row in rows]))
                .values(error=INTERRUPTED_ERROR)
            )
    return [InterruptedRun(row.id, row.kind, row.source) for row in rows]


def unresolved_interrupted(engine: Engine, *, writer_active: bool) -> list[InterruptedRun]:
    """Interrupted runs of any kind with no later successful run of the same input.

    While a writer holds the lock, an unreported `running` row may be its own run, so only runs
    a writer already marked as interrupted count then.
    """
    later = aliased(EtlRun)
    succeeded_since = exists().where(
        later.kind == EtlRun.kind,
        later.source == EtlRun.source,
        later.id > EtlRun.id,
        later.status.in_(_SUCCESS),
    )
    query = select(EtlRun.id, EtlRun.kind, EtlRun.source).where(
        EtlRun.status == RunStatus.RUNNING, ~succeeded_since
    )
    if writer_active:
        query = query.where(EtlRun.error.is_not(None))
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(EtlRun.id)).all()
    return [InterruptedRun(row.id, row.kind, row.source) for row in rows]
