"""The migrated schema is the model: every table, key and index, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from db.engine import make_engine
from db.migrate import MIGRATIONS, head_revision, is_current, upgrade
from db.models import Base
from tests.conftest import migrate_down_to, sqlite_url


def test_the_migrated_schema_is_the_model_on_both_backends(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_a_source_cannot_cite_a_source_that_does_not_exist(engine: Engine) -> None:
    keys = inspect(engine).get_foreign_keys("sources")
    assert [(k["constrained_columns"], k["referred_table"]) for k in keys] == [
        (["cites_source_id"], "sources")
    ]
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sources (id, publisher, title, url, date_published, date_accessed,"
                " license, citation, source_type, cites_source_id) VALUES ('X1', 'p', 't', 'u',"
                " 'n.d.', '2026-11-29', 'l', 'c', 'secondary', 'NO-SUCH-SOURCE')"
            )
        )


# ------------------------------------------------ whether the schema is current, without Alembic


def _alembic_scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_head_revision_read_from_the_files_is_alembics_own_head() -> None:
    assert head_revision() == _alembic_scripts().get_current_head()


def _migration(versions: Path, revision: str, down: str) -> None:
    (versions / f"{revision}_step.py").write_text(
        f"revision: str = {revision!r}\ndown_revision = {down}\nbranch_labels = None\n",
        encoding="utf-8",
    )


def test_head_revision_follows_merges_as_alembic_does_and_refuses_two_heads(
    tmp_path: Path,
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    _migration(versions, "a1", "None")
    _migration(versions, "b2", "'a1'")
    _migration(versions, "c3", "'a1'")
    with pytest.raises(RuntimeError, match="2 heads"):
        head_revision(versions)
    _migration(versions, "d4", "('b2', 'c3')")  # a merge of the two branches
    assert head_revision(versions) == "d4" == ScriptDirectory(str(tmp_path)).get_current_head()


def test_is_current_only_at_the_newest_migration_on_both_backends(
    engine: Engine, tmp_path: Path
) -> None:
    assert is_current(engine)
    previous = _alembic_scripts().get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    migrate_down_to(engine, previous)
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    empty = make_engine(sqlite_url(tmp_path / "empty.sqlite"))
    try:
        assert not is_current(empty)  # no version table at all
    finally:
        empty.dispose()
