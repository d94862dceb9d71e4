"""Killed writers: the data stays, readers keep answering, and every state they leave is readable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bench.synthetic import ensure
from db import engine as engine_module
from db.engine import DatabaseUnreadable, make_engine
from db.models import EtlRun, Fact, RunStatus, Trace
from etl.cli import cli

from .kill import TRIALS, run
from .serving import CLI, ROOT


def test_killed_loads_and_runs_leave_the_data_and_readers_untouched():
    outcome = run("ci")
    backends = 2 if os.environ.get("PYTEST_POSTGRES_URL") else 1
    assert outcome.tried == TRIALS["ci"] * backends, outcome.detail
    assert outcome.crashed == 0, outcome.detail
    assert outcome.lost == 0, outcome.detail
    assert outcome.clean == outcome.tried, outcome.detail


def _writer(commit_first: bool = False) -> str:
    """A writer that (optionally commits one change, then) deletes every fact and fills the file
    until its small cache spills into it, and waits to be killed."""
    committed = "connection.execute('DELETE FROM facts WHERE id = (SELECT min(id) FROM facts)')"
    return f"""
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size=20")
{committed if commit_first else ""}
connection.execute("BEGIN")
connection.execute("DELETE FROM facts")
connection.execute("CREATE TABLE filler (x)")
connection.executemany("INSERT INTO filler VALUES (?)", (("x" * 500,) for _ in range(20000)))
print("spilled", flush=True)
time.sleep(60)
"""


def _kill_writer(path: Path, script: str) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "spilled"
    writer.send_signal(signal.SIGKILL)
    writer.wait()


def _facts(url: str) -> int:
    reader = make_engine(url, read_only=True)
    try:
        with reader.connect() as connection:
            return connection.execute(select(func.count()).select_from(Fact)).scalar_one()
    finally:
        reader.dispose()


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_a_reader_rolls_back_the_journal_a_killed_pre_wal_writer_left(loaded_db_url):
    path = _path(loaded_db_url)
    facts = _facts(loaded_db_url)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    _kill_writer(path, _writer())
    journal = path.with_name(path.name + "-journal")
    assert journal.stat().st_size > 0
    # The state of issue 8 item 2: a plain read-only connection cannot read past it.
    plain = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        plain.execute("SELECT count(*) FROM facts").fetchone()
    plain.close()

    exported = CliRunner().invoke(
        cli, ["export", "traces-by-year"], env={"DATABASE_URL": loaded_db_url}
    )
    assert exported.exit_code == 0, exported.output
    assert _facts(loaded_db_url) == facts
    assert not journal.exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_wal_and_index_a_killed_writer_left_are_read_as_the_last_commit(loaded_db_url):
    path = _path(loaded_db_url)
    facts = _facts(loaded_db_url)
    _kill_writer(path, _writer())
    assert path.with_name(path.name + "-wal").stat().st_size > 0
    assert path.with_name(path.name + "-shm").exists()
    assert _facts(loaded_db_url) == facts
    result = subprocess.run(
        [*CLI, "export", "traces-by-year"],
        env={**os.environ, "DATABASE_URL": loaded_db_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_a_wal_file_without_index_in_a_folder_readers_cannot_write_is_read_then_followed(
    loaded_db_url, monkeypatch
):
    path = _path(loaded_db_url)
    facts = _facts(loaded_db_url)
    # The last writer to close folds the WAL into the file and removes it and its index.
    writer = sqlite3.connect(path)
    writer.execute("SELECT count(*) FROM facts").fetchone()
    writer.close()
    assert not path.with_name(path.name + "-shm").exists()
    # Root may write anywhere, so the web user's view of the folder is what is replaced here.
    monkeypatch.setattr(engine_module, "_can_create_in", lambda folder: False)
    reader = make_engine(loaded_db_url, read_only=True)
    with reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Fact)).scalar_one() == facts
    # A writer arrives (and keeps its connection, so its WAL and index stay): readers follow it.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("DELETE FROM facts WHERE id IN (SELECT id FROM facts LIMIT 1)")
    with reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Fact)).scalar_one() == facts - 1
    reader.dispose()
    writer.close()


def test_committed_wal_content_without_its_index_gives_a_clear_error_not_old_data(
    loaded_db_url, monkeypatch
):
    path = _path(loaded_db_url)
    _kill_writer(path, _writer(commit_first=True))
    path.with_name(path.name + "-shm").unlink()
    monkeypatch.setattr(engine_module, "_can_create_in", lambda folder: False)
    with pytest.raises(DatabaseUnreadable, match="run `ironriver db upgrade`"):
        _facts(loaded_db_url)
    exported = CliRunner().invoke(
        cli, ["export", "traces-by-year"], env={"DATABASE_URL": loaded_db_url}
    )
    assert exported.exit_code == 1
    assert "is not writable by this user" in exported.output


def test_readers_answer_from_the_last_commit_while_a_big_load_writes(db_url, tmp_path):
    big = ensure(tmp_path, 100_000, seed=4)
    path = _path(db_url)
    wal = path.with_name(path.name + "-wal")
    reader = make_engine(db_url, read_only=True)
    load = subprocess.Popen(
        [*CLI, "etl", "load-traces", str(big.path)],
        env={**os.environ, "DATABASE_URL": db_url},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answered_during_load = 0
    stop = threading.Event()
    try:
        while load.poll() is None:
            if wal.exists() and wal.stat().st_size > 4_000_000:  # uncommitted rows in the file
                with reader.connect() as connection, connection.begin():
                    # One snapshot: the load's run row and its rows are seen together.
                    status = connection.execute(
                        select(EtlRun.status).order_by(EtlRun.id.desc()).limit(1)
                    ).scalar_one()
                    count = connection.execute(select(func.count()).select_from(Trace)).scalar_one()
                if status == RunStatus.RUNNING:
                    assert count == 0  # not committed yet: the previous snapshot, at once
                    answered_during_load += 1
            stop.wait(0.05)
    finally:
        if load.poll() is None:
            load.kill()
        load.wait()
    assert load.returncode == 0
    assert answered_during_load > 0
    with reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Trace)).scalar_one() > 0
    reader.dispose()


def test_readers_opened_during_loads_keep_seeing_each_commit(db_url, tmp_path):
    path = _path(db_url)
    long_lived = make_engine(db_url, read_only=True)
    env = {**os.environ, "DATABASE_URL": db_url}
    for seed in range(3):
        with long_lived.connect() as connection:
            connection.execute(select(func.count()).select_from(Trace)).scalar_one()
        big = ensure(tmp_path, 20_000, seed=seed)
        load = subprocess.run(
            [*CLI, "etl", "load-traces", str(big.path)], env=env, cwd=ROOT, capture_output=True
        )
        assert load.returncode == 0
        # A new reader in this process (a pool opening one more connection does the same) must
        # not release the locks that tell writers the long-lived readers are there.
        fresh = make_engine(db_url, read_only=True)
        with fresh.connect() as connection:
            expected = connection.execute(select(func.count()).select_from(Trace)).scalar_one()
        fresh.dispose()
        assert path.with_name(path.name + "-shm").exists()
        with long_lived.connect() as connection:
            assert connection.execute(select(func.count()).select_from(Trace)).scalar_one() == (
                expected
            )
    long_lived.dispose()
