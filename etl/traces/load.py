"""Loading one trace file: checksum, skip if seen, header, rows, aggregates, in one transaction."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select

from db.models import RunStatus, TraceFile
from etl.first_pass import Begun
from etl.runs import fail_run, finish_run, now, record_skip, start_run
from etl.traces.columns import Refused
from etl.traces.insert import FileLoader
from etl.traces.parallel import worth_a_worker
from etl.traces.privacy import describe_error, log_dropped_columns, read_header
from etl.traces.reading import header_row, inspect_file, open_text, record_reader
from etl.traces.staging import Staging, staging_plan
from etl.traces.write_back import log_path, written_back

log = logging.getLogger(__name__)

KIND = "traces"
_SAMPLE_BYTES = 1 << 20
_STAGING_CACHE_PAGES = 64


@dataclass(frozen=True)
class TraceLoadResult:
    """What one call of `load_trace_file` did; `summary()` is the line the CLI prints."""

    file_name: str
    checksum: str | None
    status: RunStatus
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    message: str | None = None
    run_id: int | None = None
    trace_file_id: int | None = None
    encoding: str | None = None

    def summary(self) -> str:
        """The one line the CLI prints for this file."""
        if self.status == RunStatus.LOADED:
            return (
                f"{self.file_name}: accepted — read {self.rows_read}, loaded {self.rows_loaded}, "
                f"rejected {self.rows_rejected}, duplicate {self.rows_duplicate}"
            )
        if self.status == RunStatus.SKIPPED:
            return f"{self.file_name}: skipped — {self.message}"
        return f"{self.file_name}: {self.status.value.upper()} — {self.message}"


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def shown_file_name(path: Path) -> str:
    """The file's name as logged, printed and stored: control characters escaped, so a name with a
    newline cannot forge a log line, and undecodable bytes cannot break a UTF-8 log."""
    return _UNPRINTABLE.sub(
        lambda m: m.group(0).encode("unicode_escape").decode("ascii"), path.name
    )


def load_trace_file(
    engine: Engine, path: str | Path, first_passes: Begun | None = None
) -> TraceLoadResult:
    """Load one eTrace-style CSV in one transaction; an identical file loaded before is skipped.

    `first_passes`: the checksum passes the CLI began as it started (`etl.first_pass`); the one
    over this file, if it is there and the file unchanged, saves reading it again.
    """
    path = Path(path)
    file_name = shown_file_name(path)[:200]
    try:
        inspection = inspect_file(path, first_passes)
    except Refused as refusal:  # not a regular file, or not CSV text: refused before hashing
        run_id = start_run(engine, KIND, file_name, None)
        with engine.begin() as connection:
            finish_run(connection, run_id, RunStatus.REFUSED, error=str(refusal))
        log.error("%s: REFUSED, %s", file_name, refusal)
        return TraceLoadResult(
            file_name, None, RunStatus.REFUSED, message=str(refusal), run_id=run_id
        )
    except OSError as error:
        message = f"cannot read the file: {type(error).__name__}: {error.strerror}"
        run_id = start_run(engine, KIND, file_name, None)
        fail_run(engine, run_id, message)
        log.error("%s: FAILED, %s", file_name, message)
        return TraceLoadResult(file_name, None, RunStatus.FAILED, message=message, run_id=run_id)
    checksum, encoding = inspection.checksum, inspection.encoding

    previous = _loaded_file(engine, checksum)
    if previous is not None:
        message = f"no change: identical to {previous[1]} already loaded (trace file {previous[0]})"
        run_id = record_skip(engine, KIND, file_name, checksum, message)
        log.info("%s: %s", file_name, message)
        return TraceLoadResult(
            file_name, checksum, RunStatus.SKIPPED, message=message, run_id=run_id
        )

    run_id = start_run(engine, KIND, file_name, checksum)
    loader: FileLoader | None = None
    try:
        with (
            engine.connect() as connection,
            _staging_for(connection, _expected_rows(path)) as staging,
            connection.begin(),
            open_text(path, inspection) as stream,
        ):
            feed, reader = record_reader(stream, inspection)
            try:
                header = read_header(header_row(feed, reader))
            except Refused as refusal:
                finish_run(connection, run_id, RunStatus.REFUSED, error=str(refusal))
                log.error("%s: REFUSED, %s", file_name, refusal)
                return TraceLoadResult(
                    file_name,
                    checksum,
                    RunStatus.REFUSED,
                    message=str(refusal),
                    run_id=run_id,
                    encoding=encoding,
                )
            log_dropped_columns(file_name, header)
            file_id = connection.execute(
                insert(TraceFile)
                .values(
                    file_name=shown_file_name(path)[:255],
                    checksum=checksum,
                    loaded_at=now(),
                    run_id=run_id,
                    encoding=encoding,
                    synthetic="synthetic" in path.name.lower(),
                )
                .returning(TraceFile.id)
            ).scalar_one()
            parallel = worth_a_worker(path.stat().st_size)
            if parallel and staging is not None:
                staging.write_in_background()
            loader = FileLoader(
                connection,
                header,
                file_id,
                run_id,
                file_name,
                lambda: open_text(path, inspection),
                staging=staging,
                parallel=parallel,
            )
            with written_back(log_path(connection) if parallel else None):
                loader.load(feed)
                loader.write_aggregates()
            finish_run(
                connection,
                run_id,
                RunStatus.LOADED,
                rows_read=loader.rows_read,
                rows_loaded=loader.rows_loaded,
                rows_rejected=loader.rows_rejected,
                rows_duplicate=loader.rows_duplicate,
            )
    except Exception as error:  # the transaction rolled back; record why, without row values
        where = f" near line {loader.line}" if loader is not None and loader.line else ""
        message = f"{describe_error(error)}{where}; nothing from this file was kept"
        fail_run(engine, run_id, message)
        log.error("%s: FAILED, %s", file_name, message)
        return TraceLoadResult(
            file_name, checksum, RunStatus.FAILED, message=message, run_id=run_id
        )
    log.info(
        "%s: loaded %d of %d rows (%d rejected, %d duplicate), encoding %s, run %d",
        file_name,
        loader.rows_loaded,
        loader.rows_read,
        loader.rows_rejected,
        loader.rows_duplicate,
        encoding,
        run_id,
    )
    return TraceLoadResult(
        file_name,
        checksum,
        RunStatus.LOADED,
        rows_read=loader.rows_read,
        rows_loaded=loader.rows_loaded,
        rows_rejected=loader.rows_rejected,
        rows_duplicate=loader.rows_duplicate,
        run_id=run_id,
        trace_file_id=file_id,
        encoding=encoding,
    )


@contextmanager
def _staging_for(connection: Connection, expected_rows: int) -> Iterator[Staging | None]:
    """On SQLite, staging files attached to `connection` for the load, detached and removed after.

    SQLite refuses ATTACH and DETACH inside a transaction: both run around the load's.
    """
    if connection.dialect.name != "sqlite":
        yield None
        return
    driver = connection.connection.driver_connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)  # type: ignore[union-attr]
    staging = Staging(staging_plan(expected_rows, limit))
    attached: list[str] = []
    try:
        for index, staging_file in enumerate(staging.files):
            alias = staging.alias(index)
            connection.exec_driver_sql(f"ATTACH DATABASE ? AS {alias}", (str(staging_file.path),))
            attached.append(alias)
            # Read once, in rowid order: a few pages of cache do, where SQLite's default would
            # keep up to 2 MB per attached file until the load ends (RSS, issue 13).
            connection.exec_driver_sql(f"PRAGMA {alias}.cache_size={_STAGING_CACHE_PAGES}")
        connection.commit()
        yield staging
    finally:
        if connection.in_transaction():
            connection.rollback()
        for alias in attached:
            connection.exec_driver_sql(f"DETACH DATABASE {alias}")
        connection.commit()
        staging.remove()


def _expected_rows(path: Path) -> int:
    """About how many lines the file has, from the length of the lines of its first MiB."""
    with path.open("rb") as stream:
        sample = stream.read(_SAMPLE_BYTES)
    return path.stat().st_size * (sample.count(b"\n") + 1) // max(1, len(sample))


def _loaded_file(engine: Engine, checksum: str) -> tuple[int, str] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(TraceFile.id, TraceFile.file_name).where(TraceFile.checksum == checksum)
        ).first()
    return None if row is None else (row[0], row[1])
