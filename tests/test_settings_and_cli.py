"""Settings and the CLI: declared once, documented in the README, strict about bad values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest

from db.settings import SETTINGS, Settings, attribute_name
from etl.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _command_paths(group: click.Group, prefix: str = "") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, f"{path} "))
        else:
            paths.append(path)
    return paths


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_readme_documents_every_setting(setting):
    assert f"`{setting.env}`" in README


@pytest.mark.parametrize("command", _command_paths(cli))
def test_readme_documents_every_cli_command(command):
    assert f"ironriver {command}" in README


def test_every_declared_setting_fills_one_settings_field():
    declared = {attribute_name(setting) for setting in SETTINGS}
    assert declared == {field.name for field in dataclasses.fields(Settings)}


def test_default_database_is_a_sqlite_file_in_the_data_directory(tmp_path):
    settings = Settings.from_env({"IRONRIVER_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'ironriver.sqlite'}"
    assert settings.is_sqlite


def test_database_url_overrides_the_default():
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/app"
    assert Settings.from_env({"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("IRONRIVER_LOG_FORMAT", "xml"),
        ("IRONRIVER_CACHE_SECONDS", "-1"),
        ("IRONRIVER_EXPORT_MAX_ROWS", "many"),
    ],
)
def test_settings_refuse_bad_values_naming_the_variable(env, value):
    with pytest.raises(ValueError, match=env):
        Settings.from_env({env: value})


@pytest.mark.parametrize(
    "command",
    [
        ["export", "trace-totals"],
        ["serve", "--port", "1"],
        ["datasets"],
        ["etl", "status"],
        ["etl", "status", "--check"],
    ],
)
def test_reading_commands_refuse_a_missing_database_in_one_line_without_creating_it(
    tmp_path, command
):
    from click.testing import CliRunner

    missing = tmp_path / "nowhere.sqlite"
    result = CliRunner().invoke(cli, command, env={"DATABASE_URL": f"sqlite:///{missing}"})
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: no Iron River database")
    assert not missing.exists()


@pytest.mark.parametrize("command", [["datasets"], ["etl", "status"]])
def test_reading_commands_leave_an_unmigrated_database_unmigrated(tmp_path, command):
    import sqlite3

    from click.testing import CliRunner

    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    result = CliRunner().invoke(cli, command, env={"DATABASE_URL": f"sqlite:///{empty}"})
    assert result.exit_code == 1
    assert "no Iron River database" in result.output
    with sqlite3.connect(empty) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nobody has migrated: a SQLite path not created yet, or an empty PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'ironriver.sqlite'}"
    return request.getfixturevalue("postgres_url")


def _schema(url: str) -> list[tuple[str, str]]:
    from sqlalchemy import inspect

    from db.engine import make_engine

    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return sorted(
            (table, column["name"])
            for table in inspector.get_table_names()
            for column in inspector.get_columns(table)
        )
    finally:
        engine.dispose()


def test_db_upgrade_command_migrates_a_new_database_and_a_second_run_changes_nothing(
    new_database_url,
):
    from click.testing import CliRunner

    from db.migrate import is_ready

    assert not is_ready(new_database_url)
    env = {"DATABASE_URL": new_database_url}
    first = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert first.exit_code == 0, first.output
    assert "database at the newest revision" in first.output
    assert is_ready(new_database_url)
    schema = _schema(new_database_url)
    assert ("sources", "citation") in schema and ("facts", "source_id") in schema
    second = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert second.exit_code == 0, second.output
    assert _schema(new_database_url) == schema


def test_db_upgrade_never_prints_the_database_password(postgres_url):
    from click.testing import CliRunner

    # The throw-away server trusts local connections, so a password is accepted and ignored.
    with_password = postgres_url.replace("postgres@", "postgres:hunter2-secret@", 1)
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": with_password})
    assert result.exit_code == 0, result.output
    assert "hunter2-secret" not in result.output


def _cog_check() -> int:
    from cogapp import Cog

    return Cog().main(["cog", "--check", str(ROOT / "README.md")])


def test_readme_tables_are_what_cog_generates_from_the_declarations():
    assert _cog_check() == 0, "README tables are stale: run `.venv/bin/cog -r README.md`"


def test_a_changed_setting_help_makes_the_readme_check_fail(monkeypatch):
    import db.settings

    changed = dataclasses.replace(db.settings.SETTINGS[0], help="A reworded help text.")
    monkeypatch.setattr(db.settings, "SETTINGS", (changed, *db.settings.SETTINGS[1:]))
    assert _cog_check() != 0


# Runs the CLI as `make run`'s venv has it: without the trace loader's extra (pyarrow, ADBC).
_WITHOUT_THE_TRACES_EXTRA = """
import importlib.util, sys
found = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "pyarrow" else found(name, *a)
from etl.launcher import main
sys.argv = ["ironriver", *sys.argv[1:]]
main()
"""


def test_load_traces_without_its_extra_says_how_to_install_it_in_one_line(tmp_path):
    import subprocess
    import sys

    database = tmp_path / "ironriver.sqlite"
    env = {"DATABASE_URL": f"sqlite:///{database}", "PATH": "/usr/bin:/bin"}
    sample = ROOT.parent / "shared" / "formats" / "etrace-style-sample.csv"
    upgrade = [sys.executable, "-c", _WITHOUT_THE_TRACES_EXTRA, "db", "upgrade"]
    subprocess.run(upgrade, env=env, check=True, capture_output=True, cwd=ROOT)
    load = [sys.executable, "-c", _WITHOUT_THE_TRACES_EXTRA, "etl", "load-traces", str(sample)]
    result = subprocess.run(load, env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: the trace loader needs the `traces` extra")
    assert "make venv" in line
