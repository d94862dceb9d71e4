"""The trace loader's two ways of running (issue 5): parsing in a second thread gives the same data."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import Connection, Engine, case, delete, func, insert, literal, null, select, text

from bench.synthetic import file_name, generate
from db.engine import make_engine
from db.models import Base, RunStatus, Trace, TraceAggregate
from etl.traces import AGGREGATE_DIMENSIONS, checks, load_trace_file, parallel, parsing, staging
from etl.traces import insert as inserter
from etl.traces import load as trace_load
from etl.traces.columns import TTC_BANDS, TTC_TOP_BAND, TTC_UNKNOWN_BAND, US_SOURCED

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from etl.launcher import main; main()"]


def content(engine: Engine) -> dict[str, list[tuple]]:
    """Every table but the run log and ids: what a load put in the database."""
    skip = {"etl_runs"}
    out = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            ids = ("id", "trace_file_id", "loaded_at", "run_id")  # sequences differ per backend
            columns = [c for c in table.columns if c.name not in ids]
            rows = connection.execute(select(*columns)).all()
            out[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return out


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file parsed in a second thread, and small batches so duplicates cross batches."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "two_cores", lambda: True)
    monkeypatch.setattr(inserter, "BATCH_ROWS", 97)


def wipe_loads(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in ("trace_aggregates", "traces", "rejected_rows", "trace_files"):
            connection.execute(text(f"DELETE FROM {table}"))


def test_parsing_in_a_worker_stores_exactly_what_one_process_stores(engine, tmp_path, monkeypatch):
    source = generate(tmp_path / file_name(3000, 21), 3000, seed=21, bad_rate=0.08)
    monkeypatch.setattr(parallel, "two_cores", lambda: True)
    monkeypatch.setattr(inserter, "BATCH_ROWS", 97)
    stored = []
    for threshold in (1 << 60, 0):  # one process, then a worker
        monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", threshold)
        result = load_trace_file(engine, source.path)
        assert result.status == RunStatus.LOADED
        assert result.rows_rejected == source.bad_rows
        counts = (result.rows_read, result.rows_loaded, result.rows_rejected, result.rows_duplicate)
        stored.append((counts, content(engine)))
        wipe_loads(engine)

    assert stored[0] == stored[1]
    rejected = stored[0][1]["rejected_rows"]
    assert any("duplicate trace_number" in repr(row) for row in rejected)


def recount_aggregates_in_sql(connection: Connection, trace_file_id: int) -> None:
    """The test's oracle: one file's aggregates recounted from its stored rows by GROUP BY."""
    connection.execute(delete(TraceAggregate).where(TraceAggregate.trace_file_id == trace_file_id))
    days = Trace.time_to_crime_days
    band = case(
        (days.is_(None), literal(TTC_UNKNOWN_BAND)),
        *[(days < limit, literal(label)) for limit, label in TTC_BANDS],
        else_=literal(TTC_TOP_BAND),
    )
    us_sourced = Trace.source_category.in_(sorted(US_SOURCED))
    dimensions = [
        ("total", null(), ()),
        ("recovery_state", Trace.recovery_state, ()),
        ("firearm_type", Trace.firearm_type, ()),
        ("source_category", Trace.source_category, ()),
        ("source_state", Trace.source_state, (Trace.source_state.is_not(None), us_sourced)),
        ("us_sourced_by_mx_state", Trace.recovery_state, (us_sourced,)),
        ("time_to_crime_band", band, ()),
    ]
    target = [
        TraceAggregate.trace_file_id,
        TraceAggregate.dimension,
        TraceAggregate.year,
        TraceAggregate.key,
        TraceAggregate.firearms,
    ]
    for dimension, key, conditions in dimensions:
        keyed = (
            select(Trace.recovery_year.label("year"), key.label("key"))
            .where(Trace.trace_file_id == trace_file_id, *conditions)
            .subquery()
        )
        counts = select(
            literal(trace_file_id), literal(dimension), keyed.c.year, keyed.c.key, func.count()
        ).group_by(keyed.c.year, keyed.c.key)
        connection.execute(insert(TraceAggregate).from_select(target, counts))


def test_aggregates_counted_while_loading_equal_the_sql_recount(engine, tmp_path, forced):
    source = generate(tmp_path / "agg.csv", 2500, seed=8)
    load_trace_file(engine, source.path)
    query = text("SELECT dimension, year, key, firearms FROM trace_aggregates")
    with engine.connect() as connection:
        counted = sorted(connection.execute(query).all(), key=repr)
    with engine.begin() as connection:
        file_id = connection.execute(text("SELECT id FROM trace_files")).scalar_one()
        recount_aggregates_in_sql(connection, file_id)
    with engine.connect() as connection:
        recounted = sorted(connection.execute(query).all(), key=repr)
    assert counted == recounted
    assert {row[0] for row in counted} == set(AGGREGATE_DIMENSIONS)


def test_a_read_failing_in_the_parsers_thread_is_reported_at_the_line_one_process_reports(
    engine, tmp_path, monkeypatch
):
    """A failure in the parser's thread is raised in the load's at the line the parser reached,
    as one process reports it, not at the end of the last batch the load received."""
    monkeypatch.setattr(parallel, "two_cores", lambda: True)
    monkeypatch.setattr(inserter, "BATCH_ROWS", 97)
    one_by_one = functools.partial(parsing.parse, columnar=False)  # every line through `run`
    monkeypatch.setattr(parallel, "parse", one_by_one)
    monkeypatch.setattr(inserter, "parse", one_by_one)
    run = checks.RowChecks.run

    def failing_at_line_250(self, feed, reader, out, progress):  # type: ignore[no-untyped-def]
        def rows() -> Iterator[list[str]]:
            for row in reader:
                if feed.line == 250:
                    raise OSError(5, "Input/output error")
                yield row

        return run(self, feed, rows(), out, progress)

    monkeypatch.setattr(checks.RowChecks, "run", failing_at_line_250)
    source = generate(tmp_path / file_name(600, 43), 600, seed=43)
    messages = []
    for threshold in (1 << 60, 0):  # one process, then a worker
        monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", threshold)
        result = load_trace_file(engine, source.path)
        assert result.status == RunStatus.FAILED
        messages.append(result.message)
    assert messages[0] == messages[1]
    assert "near line 249;" in messages[1]


@pytest.mark.parametrize("threshold", [1 << 60, 0], ids=["one process", "worker"])
def test_an_oversized_cell_or_number_rejects_its_row_at_its_line_and_keeps_the_rest(
    engine, tmp_path, forced, monkeypatch, threshold
):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", threshold)
    source = generate(tmp_path / "big-cell.csv", 400, seed=4, bad_rate=0.0)
    lines = source.path.read_text(encoding="utf-8").splitlines()
    cells = lines[300].split(",")
    cells[4] = "x" * 200_000  # over the csv module's field size limit
    lines[300] = ",".join(cells)
    cells = lines[350].split(",")
    cells[13] = "9" * 5000  # int() refuses numbers of 4,300+ digits
    lines[350] = ",".join(cells)
    source.path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = load_trace_file(engine, source.path)

    assert result.status == RunStatus.LOADED
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (400, 398, 2)
    with engine.connect() as connection:
        rejected = connection.execute(
            text("SELECT line_number, reason FROM rejected_rows ORDER BY line_number")
        ).all()
    # lines[300] is the file's line 301 (the header is line 1).
    assert [tuple(row) for row in rejected] == [
        (301, "the row cannot be read as CSV: field larger than field limit (131072)"),
        (351, "time_to_crime_days is not a whole number of at most 9 digits"),
    ]


def test_a_killed_load_leaves_its_staging_file_to_the_next_load_which_removes_it(db_url, tmp_path):
    """SQLite stages checked rows in a temporary file: a SIGKILL cannot remove it, the next load
    does, so killed loads do not pile files up."""
    if not db_url.startswith("sqlite"):
        pytest.skip("only SQLite loads through a staging file")
    big = generate(tmp_path / file_name(200_000, 6), 200_000, seed=6)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "DATABASE_URL": db_url, "TMPDIR": str(scratch)}
    command = [*CLI, "etl", "load-traces"]
    process = subprocess.Popen(
        [*command, str(big.path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        staged: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None and not staged:
            staged = [path for path in scratch.iterdir() if path.stat().st_size > 0]
            time.sleep(0.02)
        assert staged, "the load wrote no staging file"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert all(path.exists() for path in staged)  # nothing could remove it

    small = generate(tmp_path / "small.csv", 300, seed=7)
    completed = subprocess.run(
        [*command, str(small.path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    assert list(scratch.iterdir()) == []  # the leftover, and the new load's own file, are gone


def test_only_the_staging_files_of_ended_processes_are_removed(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    mine = tmp_path / f"ironriver-staging-{os.getpid()}-a.sqlite"
    gone = tmp_path / f"ironriver-staging-{finished.pid}-b.sqlite"
    other = tmp_path / f"notes-{finished.pid}.sqlite"
    for path in (mine, gone, other):
        path.write_bytes(b"")
    assert staging.remove_leftovers(tmp_path) == [gone]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([mine.name, other.name])


def test_a_live_loads_staging_file_is_kept_where_its_process_id_says_nothing(tmp_path, monkeypatch):
    """A load in another PID namespace (a container sharing the directory) looks gone by its
    process id: the lock each staging file is held with keeps another load's clean-up off it."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    foreign = tmp_path / f"ironriver-staging-{finished.pid}-held.sqlite"
    foreign.write_bytes(b"")
    held = os.open(foreign, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_SH)
    live = staging.StagingFile(tmp_path)
    monkeypatch.setattr(staging, "_alive", lambda pid: False)  # every process id looks gone
    try:
        assert staging.remove_leftovers(tmp_path) == []
        assert foreign.exists() and live.path.exists()
    finally:
        os.close(held)
    assert staging.remove_leftovers(tmp_path) == [foreign]  # let go of: a leftover
    live.remove()
    assert list(tmp_path.iterdir()) == []


def test_rows_go_in_the_same_however_many_rows_one_batch_carries(engine, tmp_path, monkeypatch):
    # Trace numbers of the first file in the middle of the second: its batches (staged on SQLite,
    # copied on PostgreSQL) meet the unique index, and the rows they carried are sorted into
    # duplicates and new rows.
    first, overlapping = overlapping_files(tmp_path)
    stored = []
    for batch_rows in (97, 401, 100_000):  # the whole file in one batch last
        monkeypatch.setattr(inserter, "BATCH_ROWS", batch_rows)
        results = [load_trace_file(engine, path) for path in (first, overlapping)]
        assert [r.status for r in results] == [RunStatus.LOADED, RunStatus.LOADED]
        stored.append(
            (
                [(r.rows_read, r.rows_loaded, r.rows_rejected, r.rows_duplicate) for r in results],
                content(engine),
            )
        )
        wipe_loads(engine)

    assert stored[0] == stored[1] == stored[2]
    counts = stored[0][0]
    assert counts[1][3] > 250  # the first file's rows came back as duplicates
    assert counts[1][1] > 1000


def overlapping_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two files; the second repeats 300 trace numbers of the first in its middle."""
    first = generate(tmp_path / "first.csv", 1000, seed=31, bad_rate=0.08)
    later = generate(tmp_path / "later.csv", 1500, seed=32, bad_rate=0.08)
    first_lines = first.path.read_text(encoding="utf-8").splitlines(keepends=True)
    later_lines = later.path.read_text(encoding="utf-8").splitlines(keepends=True)
    overlapping = tmp_path / "overlapping.csv"
    overlapping.write_text(
        "".join(later_lines[:700] + first_lines[300:600] + later_lines[700:]), encoding="utf-8"
    )
    return first.path, overlapping


def test_staged_rows_go_in_the_same_however_many_staging_files_carry_them(
    db_url, tmp_path, forced, monkeypatch
):
    """SQLite: staging files sealed and moved while parsing goes on store what one staging file
    stores, duplicates across files included; a file longer than estimated loads whole."""
    engine = make_engine(db_url)
    paths = overlapping_files(tmp_path)
    moved_at: list[tuple[str, int]] = []  # (staged table, rows read when it was moved)
    move = inserter.FileLoader._move

    def spy(self: inserter.FileLoader, staged: staging.StagedBatch) -> None:
        moved_at.append((staged.table, self.rows_read))
        move(self, staged)

    monkeypatch.setattr(inserter.FileLoader, "_move", spy)
    estimate = trace_load._expected_rows
    stored = []
    for way in ("one staging file", "files of a few batches", "estimate ten times too small"):
        with monkeypatch.context() as patch:
            if way == "one staging file":
                patch.setattr(trace_load, "staging_plan", lambda expected, limit: [])
            else:
                patch.setattr(staging, "MIN_ROWS_PER_FILE", 1)
            if way == "estimate ten times too small":
                patch.setattr(trace_load, "_expected_rows", lambda path: estimate(path) // 10)
            moved_at.clear()
            results = [load_trace_file(engine, path) for path in paths]
        assert [r.status for r in results] == [RunStatus.LOADED, RunStatus.LOADED]
        staged_in = {table for table, _ in moved_at}
        rows_read = results[-1].rows_read
        if way == "one staging file":
            assert len(staged_in) == 1  # every batch moved after the last one was read
            assert {read for _, read in moved_at[-10:]} == {rows_read}
        else:
            assert len(staged_in) > 3
            assert min(read for _, read in moved_at) < rows_read / 2  # moved while reading
        counts = [(r.rows_read, r.rows_loaded, r.rows_rejected, r.rows_duplicate) for r in results]
        stored.append((counts, content(engine)))
        wipe_loads(engine)
    engine.dispose()

    assert stored[0] == stored[1] == stored[2]
    assert stored[0][0][1][3] > 250  # the first file's rows came back as duplicates


def test_every_staging_file_holds_its_table_before_it_is_attached_and_appends_keep_its_schema(
    db_url, tmp_path, forced, monkeypatch
):
    """SQLite: the load's connection attaches the staging files before ADBC fills them, from
    another copy of SQLite whose locks it cannot see. A table made by the first append changed a
    file's schema under that connection, which then read every attached file's schema again,
    the one being written included ("database disk image is malformed" now and then)."""
    engine = make_engine(db_url)
    path = generate(tmp_path / "export.csv", 2_000, seed=41, bad_rate=0.05).path
    seen: list[tuple[Path, list[str], int, int]] = []  # file, tables and schema before, after
    attached: list[set[str]] = []
    append = staging.StagingFile.append
    attach = trace_load._staging_for

    def schema(file: Path) -> tuple[list[str], int]:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as reading:
            tables = [name for (name,) in reading.execute("SELECT name FROM sqlite_master")]
            return tables, reading.execute("PRAGMA schema_version").fetchone()[0]

    def watched_append(self, rows, lines):
        tables, before = schema(self.path)
        result = append(self, rows, lines)
        seen.append((self.path, tables, before, schema(self.path)[1]))
        return result

    @contextlib.contextmanager
    def watched_attach(connection, expected_rows):
        with attach(connection, expected_rows) as made:
            aliases = [made.alias(index) for index in range(len(made.files))] if made else []
            attached.append(
                {
                    alias
                    for alias in aliases
                    for (name,) in connection.exec_driver_sql(
                        f"SELECT name FROM {alias}.sqlite_master"
                    )
                    if name == staging.TABLE
                }
            )
            attached.append(set(aliases))
            connection.commit()  # the load begins its own transaction
            yield made

    monkeypatch.setattr(staging, "MIN_ROWS_PER_FILE", 1)
    monkeypatch.setattr(staging.StagingFile, "append", watched_append)
    monkeypatch.setattr(trace_load, "_staging_for", watched_attach)
    result = load_trace_file(engine, path)
    engine.dispose()

    assert result.status == RunStatus.LOADED
    with_table, every_alias = attached
    assert len(every_alias) > 3 and with_table == every_alias
    assert len({file for file, *_ in seen}) > 3
    assert all(tables == [staging.TABLE] for _, tables, _, _ in seen)
    assert all(before == after for _, _, before, after in seen)


@pytest.mark.parametrize("how", ["removed once attached", "shorter than written"])
def test_a_staging_file_that_is_not_what_was_written_fails_the_load_which_keeps_nothing(
    how, db_url, tmp_path, forced, monkeypatch
):
    """Another process's clean-up removing a live load's staging file, or a file holding fewer
    rows than were staged, fails the load loudly: no row is counted as loaded that is not."""
    engine = make_engine(db_url)
    path = generate(tmp_path / "export.csv", 2_000, seed=43, bad_rate=0.05).path
    attach = trace_load._staging_for
    move = inserter.FileLoader._move
    cut: list[int] = []

    @contextlib.contextmanager
    def then_removed(connection, expected_rows):
        with attach(connection, expected_rows) as made:
            made.files[1].path.unlink()
            yield made

    def cut_short_first(self, staged):
        if not cut:  # the first batch moved loses its last row before it is read
            index = int(staged.table.split(".")[0].rsplit("_", 1)[1])
            with contextlib.closing(sqlite3.connect(self.staging.files[index].path)) as other:
                other.execute(f"DELETE FROM {staging.TABLE} WHERE rowid = ?", (staged.last,))
                other.commit()
            cut.append(staged.last)
        move(self, staged)

    monkeypatch.setattr(staging, "MIN_ROWS_PER_FILE", 1)
    if how == "removed once attached":
        monkeypatch.setattr(trace_load, "_staging_for", then_removed)
    else:
        monkeypatch.setattr(inserter.FileLoader, "_move", cut_short_first)
    result = load_trace_file(engine, path)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(Trace)).scalar_one()
    engine.dispose()

    assert result.status == RunStatus.FAILED
    assert result.message.endswith("nothing from this file was kept")
    assert stored == 0
    if how == "shorter than written":
        assert result.message.startswith("StagedRowsMissing")


def test_the_staging_table_is_the_one_adbc_makes_for_the_staged_columns(tmp_path):
    """Made ahead with Python's sqlite3, it has the columns and declared types ADBC would give."""
    import adbc_driver_sqlite
    from adbc_driver_manager import AdbcConnection, AdbcStatement, StatementOptions

    def columns(path: Path) -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(path)) as reading:
            info = reading.execute(f"PRAGMA table_info({staging.TABLE})").fetchall()
        return [(name, declared) for _, name, declared, *_ in info]

    ours = tmp_path / "ours.sqlite"
    with contextlib.closing(sqlite3.connect(ours)) as creating:
        creating.execute(staging.CREATE_TABLE)
    adbcs = tmp_path / "adbc.sqlite"
    with (
        adbc_driver_sqlite.connect(str(adbcs)) as database,
        AdbcConnection(database) as connection,
        AdbcStatement(connection) as statement,
    ):
        statement.set_options(**{StatementOptions.INGEST_TARGET_TABLE.value: staging.TABLE})
        statement.bind_stream(staging.STAGED_COLUMNS.empty_table())
        statement.execute_update()

    assert columns(ours) == columns(adbcs)
    assert [name for name, _ in columns(ours)] == staging.STAGED_COLUMNS.names


def test_staging_files_shrink_towards_the_end_and_stay_within_sqlites_attach_limit():
    for expected in (0, 25, 100_000, 1_000_000, 10_000_000):
        seal_at = staging.staging_plan(expected, 10)
        assert len(seal_at) + 1 <= 9  # one attachment left free
        assert sum(seal_at) >= min(expected, staging.MIN_ROWS_PER_FILE * 8)
        assert seal_at == sorted(seal_at, reverse=True)
        assert all(later * 2 >= earlier for earlier, later in itertools.pairwise(seal_at))
    assert staging.staging_plan(10_000_000, 10)[-1] < 10_000_000 // 30
    assert staging.staging_plan(1_000_000, 2) == []  # one file, all rows moved at the end


def test_a_batch_is_sorted_by_trace_number_with_its_line_numbers_and_a_sorted_one_is_kept():
    rows = pa.table({"trace_number": ["T-3", "T-1", "T-2"], "recovery_year": [2021, 2019, 2020]})
    lines = np.array([10, 11, 12], dtype=np.int64)
    ordered, ordered_lines = inserter.in_trace_number_order(rows, lines)
    assert ordered.to_pydict() == {
        "trace_number": ["T-1", "T-2", "T-3"],
        "recovery_year": [2019, 2020, 2021],
    }
    assert ordered_lines.tolist() == [11, 12, 10]
    assert inserter.in_trace_number_order(ordered, ordered_lines)[0] is ordered


def test_a_file_out_of_trace_number_order_is_stored_the_same_sorted_or_not(
    engine, tmp_path, forced, monkeypatch
):
    """Sorting each batch before it goes in changes no row, line number, count or duplicate."""
    first, overlapping = overlapping_files(tmp_path)
    header, *records = overlapping.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(5).shuffle(records)
    overlapping.write_text(header + "".join(records), encoding="utf-8")
    stored = []
    for sort in (False, True):
        with monkeypatch.context() as patch:
            if not sort:
                patch.setattr(inserter, "in_trace_number_order", lambda rows, lines: (rows, lines))
            results = [load_trace_file(engine, path) for path in (first, overlapping)]
        assert [r.status for r in results] == [RunStatus.LOADED, RunStatus.LOADED]
        counts = [(r.rows_read, r.rows_loaded, r.rows_rejected, r.rows_duplicate) for r in results]
        stored.append((counts, content(engine)))
        wipe_loads(engine)

    assert stored[0] == stored[1]
    assert stored[0][0][1][3] > 250
    assert any("within this file" in repr(row) for row in stored[0][1]["rejected_rows"])


def test_staging_files_are_written_in_a_thread_of_their_own_beside_the_parser(
    db_url, tmp_path, forced, monkeypatch
):
    """SQLite: the load's thread only moves staged rows; ADBC's writes run beside it and the
    parser, so none of the three waits for another's work (issue 13's timeline)."""
    writers: set[str] = set()
    append = staging.StagingFile.append

    def spy(self: staging.StagingFile, rows: pa.Table, lines: np.ndarray) -> tuple[int, int]:
        writers.add(threading.current_thread().name)
        return append(self, rows, lines)

    monkeypatch.setattr(staging.StagingFile, "append", spy)
    engine = make_engine(db_url)
    source = generate(tmp_path / file_name(2000, 41), 2000, seed=41)
    result = load_trace_file(engine, source.path)
    engine.dispose()
    assert result.status == RunStatus.LOADED
    assert result.rows_loaded == 2000 - source.bad_rows
    assert writers == {"ironriver-staging-writer"}
    assert "ironriver-staging-writer" not in {t.name for t in threading.enumerate()}


def test_a_staging_write_failing_in_its_thread_fails_the_load_which_keeps_nothing(
    db_url, tmp_path, forced, monkeypatch
):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    append = staging.StagingFile.append
    calls = itertools.count()

    def failing(self: staging.StagingFile, rows: pa.Table, lines: np.ndarray) -> tuple[int, int]:
        if next(calls) == 3:
            raise OSError(28, "No space left on device")
        return append(self, rows, lines)

    monkeypatch.setattr(staging.StagingFile, "append", failing)
    engine = make_engine(db_url)
    before = content(engine)
    source = generate(tmp_path / file_name(2000, 42), 2000, seed=42)
    result = load_trace_file(engine, source.path)
    assert result.status == RunStatus.FAILED
    assert "No space left on device" in (result.message or "")
    assert content(engine) == before
    engine.dispose()
    assert list(scratch.iterdir()) == []  # every staging file removed
    assert "ironriver-staging-writer" not in {t.name for t in threading.enumerate()}
