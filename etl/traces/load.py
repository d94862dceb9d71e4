"""Loading one trace file: checksum, skip if seen, header, rows, aggregates, in one transaction."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import Connection, Engine, insert, select

from db.models import RunStatus, TraceFile
from etl.first_pass import Begun
from etl.runs import fail_run, finish_run, now, record_skip, start_run
from etl.traces.columns import Refused
from etl.traces.insert import BATCH_ROWS, FileIdLater, FileLoader, prepared_once_known
from etl.traces.parallel import ParsedInWorker, worth_a_worker
from etl.traces.parsing import ParseJob
from etl.traces.privacy import Header, describe_error, log_dropped_columns, read_header
from etl.traces.reading import (
    Inspection,
    LineFeed,
    header_row,
    inspect_file,
    open_text,
    record_reader,
)
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


class StartedParse:
    """A file inspected, its header read and its parser started before its load has a
    trace_files row: the rows are given the row's id where they are written
    (`FileLoader.flush`, `prepared_once_known`). What it opens is closed by `closes`."""

    def __init__(
        self, path: Path, inspection: Inspection, *, postgres: bool, closes: ExitStack
    ) -> None:
        self.inspection = inspection
        self.file_id = FileIdLater()
        self.stream: TextIO = closes.enter_context(open_text(path, inspection))
        self.feed: LineFeed
        self.feed, reader = record_reader(self.stream, inspection)
        self.header: Header = read_header(header_row(self.feed, reader))
        job = ParseJob(self.feed, self.header, 0, BATCH_ROWS)  # 0: the id is not known yet
        self.parsed = ParsedInWorker(job, prepared_once_known(self.file_id) if postgres else None)
        closes.callback(self.parsed.close)  # the thread stopped before the file closes


class EarlyParse:
    """A file's parser, started while the CLI opens the database (issue 13): the engine, the
    writer lock, the schema check and the run rows take ~0.1 s of client Python with the
    second core idle, and the parser needs none of them. A thread of its own waits for the
    file's first pass (`etl.first_pass`: its encoding), reads the header and starts the parser,
    so that the database's start-up does not wait for the first pass either.

    `close` stops the parser, joins its threads and closes the file, on every path: the load
    done, failed, skipped, or never begun (the lock held by another load, say).
    """

    def __init__(self, path: Path, first_passes: Begun | None, *, postgres: bool) -> None:
        self.path = path
        self._closes = ExitStack()
        self._started: StartedParse | None = None
        self._starter = threading.Thread(
            target=self._start, args=(first_passes, postgres), name="ironriver-parser-start"
        )
        self._starter.start()

    def _start(self, first_passes: Begun | None, postgres: bool) -> None:
        try:
            inspection = inspect_file(self.path, first_passes)
            self._started = StartedParse(
                self.path, inspection, postgres=postgres, closes=self._closes
            )
        except Exception:
            # again without this, and records why (`load_trace_file`), as it always has.
            self._started = None

    def started(self) -> StartedParse | None:
        """The parser once started; None if it could not be (the load then starts over)."""
        self._starter.join()
        return self._started

    def close(self) -> None:
        """Stop the parser, join its threads, close the file (again: nothing more)."""
        self._starter.join()
        self._closes.close()


def begin_parsing(
    path: str | Path, first_passes: Begun | None = None, *, postgres: bool
) -> EarlyParse | None:
    """The file's parser starting now, before the database is opened, if the file is worth a
    second thread (`worth_a_worker`); None if not."""
    path = Path(path)
    try:
        if not worth_a_worker(path.stat().st_size):
            return None
    except OSError:  # the load says why
        return None
    return EarlyParse(path, first_passes, postgres=postgres)


def load_trace_file(
    engine: Engine,
    path: str | Path,
    first_passes: Begun | None = None,
    early: EarlyParse | None = None,
) -> TraceLoadResult:
    """Load one eTrace-style CSV in one transaction; an identical file loaded before is skipped.

    `first_passes`: the checksum passes the CLI began as it started (`etl.first_pass`); the one
    over this file, if it is there and the file unchanged, saves reading it again. `early`:
    this file's parser, begun before the database was opened (`begin_parsing`); closed here.
    """
    path = Path(path)
    if early is not None and early.path != path:
        raise ValueError(f"the parser begun is not over {path}")
    with closing(early) if early is not None else nullcontext():
        return _load(engine, path, first_passes, early.started() if early is not None else None)


def _load(
    engine: Engine, path: Path, first_passes: Begun | None, early: StartedParse | None
) -> TraceLoadResult:
    file_name = shown_file_name(path)[:200]
    try:
        inspection = early.inspection if early is not None else inspect_file(path, first_passes)
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
            (
                nullcontext(early.stream) if early is not None else open_text(path, inspection)
            ) as stream,
        ):
            try:
                if early is not None:
                    feed, header = early.feed, early.header
                else:
                    feed, reader = record_reader(stream, inspection)
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
            if early is not None:
                early.file_id.value = file_id
            parallel = early is not None or worth_a_worker(path.stat().st_size)
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
                loader.load(feed, early.parsed if early is not None else None)
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
