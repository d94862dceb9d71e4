"""Safe to schedule: the writer lock, JSON logs, and the shipped systemd / cron files."""

from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from db.settings import SETTINGS
from etl.cli import EXIT_LOCKED
from tests.conftest import sqlite_url

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
IRONRIVER = [sys.executable, "-m", "etl.cli"]

HOLD_LOCK = """
import sys, time
from db.engine import make_engine
from db.lock import writer_lock
with writer_lock(make_engine(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _ironriver(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [*IRONRIVER, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _hold_lock(url: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, url], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_exits_at_once_with_its_own_code_and_a_clear_message(backend_url):
    holder = _hold_lock(backend_url)
    try:
        started = time.monotonic()
        result = _ironriver(backend_url, "etl", "run")
        assert result.returncode == EXIT_LOCKED
        assert "another Iron River ETL" in result.stderr
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()


def _becomes_true(check: Callable[[], bool], within_seconds: float = 30) -> bool:
    """Ask `check` until it holds or the deadline passes: state, not a guessed sleep."""
    deadline = time.monotonic() + within_seconds
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_writer_takes_a_lock_its_holder_releases_a_moment_after_it_asked(backend_url):
    # PostgreSQL frees a killed holder's lock only once its backend notices the disconnect; a
    # writer that asks in that moment waits for it within the grace, not exits as locked.
    from db.engine import make_engine
    from db.lock import PROBE_GRACE_SECONDS, writer_lock

    engine = make_engine(backend_url)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(engine):
            holding.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    releaser = threading.Timer(PROBE_GRACE_SECONDS / 5, release.set)
    releaser.start()
    try:
        with writer_lock(engine):
            assert release.is_set()
    finally:
        release.set()
        releaser.cancel()
        holder.join()
        engine.dispose()


def test_a_lock_left_by_a_killed_process_does_not_block_the_next_run(backend_url):
    holder = _hold_lock(backend_url)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    result = _ironriver(backend_url, "etl", "run", "--only", "reference")
    assert result.returncode == 0, result.stderr


def test_readers_see_whether_a_writer_holds_the_lock_without_taking_it(backend_url):
    from db.engine import make_engine
    from db.lock import writer_active

    reader = make_engine(backend_url, read_only=True)
    assert not writer_active(reader)
    holder = _hold_lock(backend_url)
    try:
        assert writer_active(reader)
        # Asking never takes the lock: the holder keeps it, a second writer is still refused.
        assert _ironriver(backend_url, "etl", "run").returncode == EXIT_LOCKED
    finally:
        holder.kill()
        holder.wait()
    # PostgreSQL releases the lock when the server notices the disconnect, not at the kill.
    assert _becomes_true(lambda: not writer_active(reader))
    reader.dispose()


def test_json_log_format_writes_one_json_object_per_line(db_url):
    result = _ironriver(db_url, "--log-format", "json", "etl", "run", "--only", "reference")
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("reference" in line["message"] for line in lines)


def test_a_first_run_logs_no_line_of_alembics_internals(tmp_path):
    """A first run migrates a new database: Alembic's plugin set-up and dialect notes stay out."""
    new = sqlite_url(tmp_path / "new.sqlite")
    result = _ironriver(new, "--log-format", "json", "etl", "run", "--only", "reference")
    loggers = {json.loads(line)["logger"] for line in result.stderr.splitlines() if line.strip()}

    assert result.returncode == 0, result.stderr
    assert any(name.startswith("etl.") for name in loggers)
    assert not [name for name in loggers if name.startswith("alembic.runtime")]


def _exec_start(unit: str) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / unit)
    return parser["Service"]["ExecStart"].split()


def test_the_etl_service_runs_a_real_command_that_succeeds(db_url):
    command = _exec_start("ironriver-etl.service")
    assert command[0].endswith("/.venv/bin/ironriver")
    result = _ironriver(db_url, *command[1:])
    assert result.returncode == 0, result.stderr


def test_the_etl_service_treats_a_busy_lock_as_success():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(DEPLOY / "ironriver-etl.service")
    assert parser["Service"]["SuccessExitStatus"] == str(EXIT_LOCKED)


def test_the_timer_schedules_the_etl_service():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(DEPLOY / "ironriver-etl.timer")
    assert parser["Timer"]["OnCalendar"]
    assert parser["Timer"]["Persistent"] == "true"


def test_the_web_service_command_is_a_valid_serve_invocation():
    from click.testing import CliRunner

    from etl.cli import cli

    command = _exec_start("ironriver-web.service")
    result = CliRunner().invoke(cli, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "--workers" in command


def test_the_crontab_line_has_five_schedule_fields_and_runs_the_same_command():
    (line,) = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    fields = line.split(None, 5)
    assert fields[0] == "15" and fields[1] == "*/6" and fields[2:5] == ["*", "*", "*"]
    service = " ".join(_exec_start("ironriver-etl.service")[1:])
    assert service in fields[5]


def test_the_env_example_sets_only_declared_settings():
    declared = {setting.env for setting in SETTINGS}
    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "ironriver.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names <= declared, names - declared


@pytest.mark.parametrize("unit", ["ironriver-etl.service", "ironriver-web.service"])
def test_units_read_settings_from_the_documented_env_file(unit):
    text = (DEPLOY / unit).read_text()
    assert "EnvironmentFile=/etc/ironriver/ironriver.env" in text
