"""Loads the embedded sources: skips unchanged inputs, replaces a changed source in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, update

from db.models import (
    DatasetInfo,
    Estimate,
    Event,
    Fact,
    MxState,
    MxStateAlias,
    RunStatus,
    Source,
    UsState,
)
from etl import sources
from etl.runs import fail_run, finish_run, last_loaded_checksum, record_skip, start_run
from etl.source import SourceModule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    source: str
    status: RunStatus
    run_id: int
    rows_loaded: int = 0
    error: str | None = None


def run_embedded(
    engine: Engine,
    *,
    only: Sequence[str] = (),
    force: bool = False,
    refresh: Callable[[SourceModule], SourceModule] | None = None,
) -> list[Outcome]:
    """Load every registered source (or those in `only`); a failing source does not stop the rest.

    `refresh`, when given, may swap a source's committed file for a newer download first.
    """
    modules = [sources.get(name) for name in only] if only else list(sources.REGISTRY)
    outcomes = []
    for module in modules:
        if refresh is not None and module.remote is not None:
            try:
                module = refresh(module)
            except Exception as error:  # a download that fails for good is that source's failure
                run_id = start_run(engine, "embedded", module.name, None)
                outcomes.append(_failed(engine, module, run_id, error))
                continue
        outcomes.append(_run_one(engine, module, force=force))
    return outcomes


def _failed(engine: Engine, module: SourceModule, run_id: int, error: Exception) -> Outcome:
    message = f"{type(error).__name__}: {error}"
    fail_run(engine, run_id, message)
    log.error("source %s FAILED, previous rows kept: %s", module.name, message)
    return Outcome(module.name, RunStatus.FAILED, run_id, error=message)


def _run_one(engine: Engine, module: SourceModule, *, force: bool) -> Outcome:
    checksum = module.checksum()
    if not force and last_loaded_checksum(engine, module.name) == checksum:
        run_id = record_skip(engine, "embedded", module.name, checksum, "input unchanged")
        log.info("source %s: unchanged, skipped", module.name)
        return Outcome(module.name, RunStatus.SKIPPED, run_id)
    run_id = start_run(engine, "embedded", module.name, checksum)
    try:
        tables = module.rows()
        loaded = sum(len(rows) for rows in tables.values())
        with engine.begin() as connection:
            _replace(connection, module, tables, run_id)
            finish_run(connection, run_id, RunStatus.LOADED, rows_read=loaded, rows_loaded=loaded)
    except Exception as error:  # any failure of one source is recorded, reported and survived
        return _failed(engine, module, run_id, error)
    log.info("source %s: loaded %d rows (run %d)", module.name, loaded, run_id)
    return Outcome(module.name, RunStatus.LOADED, run_id, rows_loaded=loaded)


def _records(rows: pd.DataFrame, **extra: object) -> list[dict[str, object]]:
    return [
        {str(key): value for key, value in record.items()} | extra
        for record in rows.to_dict("records")
    ]


def _replace(
    connection: Connection, module: SourceModule, tables: dict[str, pd.DataFrame], run_id: int
) -> None:
    for table, rows in tables.items():
        if table == "sources":
            _upsert_sources(connection, rows)
        elif table == "facts":
            connection.execute(delete(Fact).where(Fact.dataset == module.dataset))
            connection.execute(insert(Fact), _records(rows, dataset=module.dataset, run_id=run_id))
        elif table in ("estimates", "events"):
            model = Estimate if table == "estimates" else Event
            connection.execute(delete(model))
            connection.execute(insert(model), _records(rows, run_id=run_id))
        elif table not in ("us_states", "mx_states", "mx_state_aliases"):
            raise ValueError(f"source {module.name} returned rows for unknown table {table!r}")
    if module.dataset:
        connection.execute(delete(DatasetInfo).where(DatasetInfo.name == module.dataset))
        connection.execute(
            insert(DatasetInfo).values(
                name=module.dataset,
                title=module.title,
                description=module.description,
                caveats=list(module.caveats),
                source_module=module.name,
                run_id=run_id,
            )
        )
    if "mx_states" in tables:
        connection.execute(delete(MxStateAlias))
        connection.execute(delete(MxState))
        connection.execute(delete(UsState))
        connection.execute(insert(UsState), _records(tables["us_states"]))
        connection.execute(insert(MxState), _records(tables["mx_states"]))
        connection.execute(insert(MxStateAlias), _records(tables["mx_state_aliases"]))


def _upsert_sources(connection: Connection, rows: pd.DataFrame) -> None:
    """Sources are updated in place, never deleted: figures of other datasets point at them."""
    existing = set(
        connection.execute(Source.__table__.select().with_only_columns(Source.id)).scalars()
    )
    records = _records(rows)
    # Self-references are set in a second pass so insertion order never matters.
    for record in records:
        values = {**record, "cites_source_id": None}
        if record["id"] in existing:
            connection.execute(update(Source).where(Source.id == record["id"]).values(values))
        else:
            connection.execute(insert(Source).values(values))
    for record in records:
        connection.execute(
            update(Source)
            .where(Source.id == record["id"])
            .values(cites_source_id=record["cites_source_id"])
        )


def remote_refresher(raw_dir: Path, **fetch_options: Any) -> Callable[[SourceModule], SourceModule]:
    """A `refresh` for `run_embedded` that downloads each remote file into `raw_dir`.

    `fetch_options` (timeout, retries, backoff) go to `etl.extract.fetch`.

    Offline, the committed copy is used and the log says so; a download that no longer parses
    then fails its source like any bad input, and the previous rows stay.
    """
    from etl.extract import fetch, latest_record

    def refresh(module: SourceModule) -> SourceModule:
        assert module.remote is not None
        previous = latest_record(raw_dir, module.name)
        result = fetch(module.remote.url, raw_dir, module.name, previous=previous, **fetch_options)
        if result.status == "offline" or result.path is None:
            log.warning("%s", result.message)
            return module
        log.info("source %s: remote file %s (%s)", module.name, result.status, result.path)
        return module.with_input(module.remote.replaces, result.path)

    return refresh
