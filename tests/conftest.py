"""Shared fixtures: throw-away databases, migrated and optionally loaded with the embedded data."""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text

from dashboard.app import create_app
from db.engine import make_engine
from db.migrate import MIGRATIONS, upgrade
from db.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_TRACES = FIXTURES / "SYNTHETIC-etrace-style-sample.csv"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A migrated, empty SQLite database."""
    url = sqlite_url(tmp_path / "ironriver.sqlite")
    upgrade(make_engine(url))
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the throw-away server `.ci/pg.sh` starts (`make test` does)."""
    server = os.environ.get("PYTEST_POSTGRES_URL")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("PYTEST_POSTGRES_URL is not set: run the suite through `make test`")
        pytest.skip("no PostgreSQL server: run the suite through `make test`")
    name = f"ironriver_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{server}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database on each backend Iron River supports."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "ironriver.sqlite")
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(make_engine(url))
    return url


@pytest.fixture
def engine(backend_url: str) -> Iterator[Engine]:
    engine = make_engine(backend_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def loaded_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session: the embedded datasets plus the sample trace file."""
    from etl.pipeline import run_embedded
    from etl.traces import load_trace_file

    path = tmp_path_factory.mktemp("template") / "ironriver.sqlite"
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    outcomes = run_embedded(engine)
    failed = [o for o in outcomes if o.error]
    assert not failed, failed
    load_trace_file(engine, SAMPLE_TRACES)
    engine.dispose()
    return path


@pytest.fixture
def loaded_db_url(loaded_db_template: Path, tmp_path: Path) -> str:
    """A private copy of the loaded database, so a test may write to it."""
    path = tmp_path / "loaded.sqlite"
    shutil.copy(loaded_db_template, path)
    return sqlite_url(path)


@pytest.fixture
def app(loaded_db_url: str) -> Any:
    """The dashboard over a private copy of the loaded database."""
    return create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}))


@pytest.fixture
def client(app: Any) -> Any:
    """Flask's test client of `app`."""
    return app.server.test_client()


@pytest.fixture
def csv_field_limit_restored() -> Iterator[None]:
    """frictionless raises the process-wide CSV field size limit when it first reads a CSV; the
    trace loader's tests expect Python's default in the same worker."""
    limit = csv.field_size_limit()
    yield
    csv.field_size_limit(limit)


# Files whose tests share a costly fixture (one dashboard process and Chromium; the bench harness's
# quick run): under `--dist loadgroup` each runs whole on one worker, every other test spreads.
ONE_WORKER_FILES = {
    "tests/test_browser.py",
    "tests/test_browser_kit.py",
    "tests/test_bench.py",
    "tests/test_accessibility.py",
}


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` grouping by file: pytest-xdist 3.8 drops xdist_group marks under
    pytest 9.2 (pytest-dev/pytest-xdist#1386), so the groups are named here by path."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else nodeid

    return FileGroupScheduling(config, log)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite golden files from the current output."
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def migrate_down_to(engine: Engine, revision: str) -> None:
    """Downgrade `engine`'s database to migration `revision` (tests of a migration's way back)."""
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
