"""The deployment path: the same data and downloads on PostgreSQL, served by gunicorn workers."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner

from db.datasets import DATASETS
from db.engine import make_engine
from etl.cli import cli
from etl.pipeline import run_embedded
from etl.traces import load_trace_file
from tests.conftest import ROOT, SAMPLE_TRACES
from tests.http_fixture import unused_port

# Trace rows name their load time; everything else must match byte for byte across backends.
VOLATILE = {"loaded_at", "citation"}


@pytest.fixture
def loaded_postgres_url(postgres_url: str) -> str:
    from db.migrate import upgrade

    engine = make_engine(postgres_url)
    upgrade(engine)
    assert not [o for o in run_embedded(engine) if o.error]
    load_trace_file(engine, SAMPLE_TRACES)
    engine.dispose()
    return postgres_url


def _rows(url: str, name: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(cli, ["export", name], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_export_is_identical_on_postgresql_and_sqlite(
    loaded_postgres_url, loaded_db_url, name
):
    assert _rows(loaded_postgres_url, name) == _rows(loaded_db_url, name)


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read(), dict(response.headers)


def test_serve_with_workers_runs_gunicorn_processes_against_postgresql(loaded_postgres_url):
    port = unused_port()
    env = {**os.environ, "DATABASE_URL": loaded_postgres_url, "IRONRIVER_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base + "/api/v1/datasets.json")
                break
            except OSError:
                assert server.poll() is None, (server.stderr.read() or b"").decode()[-2000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        workers = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) == 2
        status, body, headers = _get(base + "/api/v1/source-states.csv")
        assert status == 200 and "ironriver-source-states-" in headers["Content-Disposition"]
        assert b"P1" in body and b"UNVERIFIED" in body
        status, body, _ = _get(base + "/sources")
        assert status == 200
        assert b"react-entry-point" in body
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_db_backup_writes_a_consistent_copy_with_the_same_content(loaded_db_url, tmp_path):
    import sqlite3

    target = tmp_path / "backups" / "ironriver.sqlite"
    result = CliRunner().invoke(
        cli, ["db", "backup", str(target)], env={"DATABASE_URL": loaded_db_url}
    )
    assert result.exit_code == 0, result.output
    assert not target.with_name(target.name + ".part").exists()
    source = sqlite3.connect(loaded_db_url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    for table in ("facts", "sources", "traces", "etl_runs", "alembic_version"):
        query = f"SELECT * FROM {table} ORDER BY 1"
        assert copy.execute(query).fetchall() == source.execute(query).fetchall(), table
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_db_backup_on_postgresql_prints_the_pg_dump_command_and_exits_1():
    url = "postgresql+psycopg://ironriver@db.example:5433/ironriver"
    result = CliRunner().invoke(cli, ["db", "backup", "out.dump"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert "pg_dump --format=custom --file=out.dump --host=db.example --port=5433" in result.output
