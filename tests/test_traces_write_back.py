"""SQLite: a load's write-ahead log is synced while the load goes on, by a thread that then ends."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench.synthetic import file_name, generate
from db.engine import make_engine
from db.models import RunStatus
from etl.traces import load_trace_file, parallel, write_back

THREAD = "ironriver-wal-write-back"


def write_back_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD]


def wait_for(condition, what: str) -> None:
    """Wait on a state the thread reaches, never for a fixed time (10 s at most)."""
    reached = threading.Event()
    for _ in range(1000):
        if condition():
            return
        reached.wait(0.01)
    pytest.fail(f"never reached: {what}")


def test_the_log_is_the_wal_file_of_an_sqlite_database_and_postgresql_has_none(engine: Engine):
    with engine.connect() as connection:
        found = write_back.log_path(connection)
    if engine.dialect.name == "sqlite":
        assert found == Path(f"{engine.url.database}-wal").resolve()
    else:
        assert found is None


def test_the_log_is_synced_while_the_block_runs_and_the_thread_ends_after(tmp_path, monkeypatch):
    log = tmp_path / "db.sqlite-wal"
    log.write_bytes(b"frames")
    synced: list[int] = []
    sync = os.fdatasync
    monkeypatch.setattr(write_back, "INTERVAL_SECONDS", 0.001)

    def spy(descriptor: int) -> None:
        synced.append(os.fstat(descriptor).st_ino)
        sync(descriptor)

    monkeypatch.setattr(write_back.os, "fdatasync", spy)
    with write_back.written_back(log):
        wait_for(lambda: len(synced) >= 3, "three syncs")
    wait_for(lambda: not write_back_threads(), "the thread ended")

    assert set(synced) == {log.stat().st_ino}


def test_without_a_log_the_block_runs_and_no_thread_starts(tmp_path):
    ran = []
    for missing in (None, tmp_path / "absent.sqlite-wal"):
        with write_back.written_back(missing):
            ran.append(write_back_threads())
    assert ran == [[], []]


def test_a_load_on_two_cores_syncs_its_log_as_it_goes_and_stores_the_same_rows(
    db_url, tmp_path, monkeypatch
):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "two_cores", lambda: True)
    monkeypatch.setattr(write_back, "INTERVAL_SECONDS", 0.001)
    synced: list[int] = []
    sync = os.fdatasync

    def spy(descriptor: int) -> None:
        synced.append(os.fstat(descriptor).st_ino)
        sync(descriptor)

    monkeypatch.setattr(write_back.os, "fdatasync", spy)
    engine = make_engine(db_url)
    source = generate(tmp_path / file_name(20_000, 43), 20_000, seed=43)
    log = Path(f"{engine.url.database}-wal")

    result = load_trace_file(engine, source.path)
    log_inode = log.stat().st_ino
    engine.dispose()
    wait_for(lambda: not write_back_threads(), "the thread ended")

    assert (result.status, result.rows_loaded) == (RunStatus.LOADED, 20_000 - source.bad_rows)
    assert synced and set(synced) == {log_inode}
