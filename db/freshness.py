"""Freshness of the data: the ETL runs, each source's last success, interrupted runs."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, Select, and_, func, select

from db.models import DatasetInfo, EtlRun, RunStatus
from db.queries import read_frame


def latest_runs_by_source(engine: Engine) -> pd.DataFrame:
    """The newest successful run of every source, for freshness on the sources page."""
    newest = (
        select(EtlRun.source, func.max(EtlRun.id).label("run_id"))
        .where(EtlRun.status == RunStatus.LOADED)
        .group_by(EtlRun.source)
        .subquery()
    )
    query: Select = select(EtlRun.source, EtlRun.finished_at, EtlRun.rows_loaded).join(
        newest, and_(newest.c.run_id == EtlRun.id)
    )
    return read_frame(engine, query)


# A run left `running` by a process that died: shown so, and counted as a failure.
INTERRUPTED = "interrupted"


def _shown_status(frame: pd.DataFrame, writer_active: bool) -> pd.Series:
    """Status values as text; `running` becomes `interrupted` when no writer can own the run
    (the writer lock is free) or a later writer already marked it (its error is set)."""
    status = frame["status"].map(lambda s: getattr(s, "value", s))
    dead = (status == RunStatus.RUNNING.value) & (frame["error"].notna() | (not writer_active))
    return status.mask(dead, INTERRUPTED)


def recent_runs(engine: Engine, limit: int = 50, *, writer_active: bool = False) -> pd.DataFrame:
    """The newest `limit` ETL runs, newest first (what `ironriver etl status` prints).

    `writer_active` says whether a writer holds the lock now (`db.lock.writer_active`)."""
    query: Select = (
        select(
            EtlRun.id.label("run"),
            EtlRun.kind,
            EtlRun.source,
            EtlRun.status,
            EtlRun.started_at,
            EtlRun.finished_at,
            EtlRun.rows_loaded.label("loaded"),
            EtlRun.rows_rejected.label("rejected"),
            EtlRun.rows_duplicate.label("duplicate"),
            EtlRun.error,
        )
        .order_by(EtlRun.id.desc())
        .limit(limit)
    )
    frame = read_frame(engine, query)
    frame["status"] = _shown_status(frame, writer_active)
    return frame


def source_freshness(
    engine: Engine,
    stale_after_days: int,
    now: dt.datetime | None = None,
    *,
    writer_active: bool = False,
) -> pd.DataFrame:
    """Per embedded source: last successful run (a load, or a check that found it unchanged),
    its age, the rows of its last load, failures (interrupted runs included) since, whether the
    newest run was interrupted, and whether it is stale."""
    runs = read_frame(
        engine,
        select(
            EtlRun.id,
            EtlRun.source,
            EtlRun.status,
            EtlRun.finished_at,
            EtlRun.rows_loaded,
            EtlRun.error,
        )
        .where(EtlRun.kind == "embedded")
        .order_by(EtlRun.id),
    )
    datasets = read_frame(
        engine, select(DatasetInfo.name.label("dataset"), DatasetInfo.source_module.label("source"))
    )
    now = now or dt.datetime.now(dt.UTC)
    runs["status"] = _shown_status(runs, writer_active)
    runs["error"] = runs["error"].mask(
        (runs["status"] == INTERRUPTED) & runs["error"].isna(),
        "interrupted: the process ended before the run finished",
    )
    runs["finished_at"] = pd.to_datetime(runs["finished_at"], utc=True)
    records = []
    for source, group in runs.groupby("source", sort=True):
        ok = group[group.status.isin([RunStatus.LOADED.value, RunStatus.SKIPPED.value])]
        loaded = group[group.status == RunStatus.LOADED.value]
        last_ok_id = ok["id"].max() if not ok.empty else -1
        failures = group[
            group.status.isin([RunStatus.FAILED.value, INTERRUPTED]) & (group["id"] > last_ok_id)
        ]
        last_success = ok["finished_at"].max() if not ok.empty else pd.NaT
        age = (now - last_success).total_seconds() / 86400 if pd.notna(last_success) else None
        records.append(
            {
                "source": source,
                "last_success": last_success,
                "age_days": None if age is None else round(age, 1),
                "rows": int(loaded["rows_loaded"].iloc[-1]) if not loaded.empty else None,
                "failures_since": len(failures),
                "last_error": failures["error"].iloc[-1] if not failures.empty else None,
                "interrupted": bool(
                    not failures.empty and failures["status"].iloc[-1] == INTERRUPTED
                ),
                "stale": age is None or age > stale_after_days,
            }
        )
    frame = pd.DataFrame(
        records,
        columns=[
            "source",
            "last_success",
            "age_days",
            "rows",
            "failures_since",
            "last_error",
            "interrupted",
            "stale",
        ],
    )
    return frame.merge(datasets, on="source", how="left")
