"""The migrated schema is the model: every table, key and index, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from db.models import Base


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
