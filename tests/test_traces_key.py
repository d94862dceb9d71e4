"""traces keyed by trace_number (migration 0005): the schema matches the model, and 0004 comes back."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from bench.synthetic import generate
from db.migrate import upgrade
from db.models import Base
from etl.traces import load_trace_file
from tests.conftest import SAMPLE_TRACES, migrate_down_to
from tests.test_traces import dump


def _names_traces(difference: Any) -> bool:
    """Whether one of Alembic's autogenerate differences is about the traces table."""
    if isinstance(difference, list):  # a column's changes, as (op, schema, table, column, ...)
        return any(change[2] == "traces" for change in difference)
    subject = difference[1]
    table = getattr(subject, "table", subject)
    return getattr(table, "name", None) == "traces"


def _traces_columns(engine: Engine) -> list[str]:
    return [column["name"] for column in inspect(engine).get_columns("traces")]


def _traces_rows(engine: Engine) -> list[tuple]:
    """Every trace by trace number, without any surrogate id: what a migration must keep."""
    columns = ", ".join(column.name for column in Base.metadata.tables["traces"].columns)
    with engine.connect() as connection:
        query = f"SELECT {columns} FROM traces ORDER BY trace_number"
        return [tuple(row) for row in connection.execute(text(query))]


def test_the_migrated_traces_table_is_the_model_keyed_by_trace_number(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata) if _names_traces(d)]
    assert differences == []

    schema = inspect(engine)
    primary_key = schema.get_pk_constraint("traces")
    assert (primary_key["name"], primary_key["constrained_columns"]) == (
        "pk_traces",
        ["trace_number"],
    )
    assert "id" not in _traces_columns(engine)
    assert schema.get_unique_constraints("traces") == []
    assert schema.get_indexes("traces") == []  # none on trace_file_id since migration 0007
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            sequences = connection.execute(text("SELECT relname FROM pg_class WHERE relkind = 'S'"))
            assert "traces_id_seq" not in set(sequences.scalars())
    else:  # a rowid table: WITHOUT ROWID would have to be declared in the table's SQL
        with engine.connect() as connection:
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'traces'")
            ).scalar_one()
        assert "WITHOUT ROWID" not in sql.upper()


def test_a_migration_down_to_0004_and_up_keeps_every_trace_and_its_values(engine, tmp_path):
    load_trace_file(engine, SAMPLE_TRACES)
    load_trace_file(engine, generate(tmp_path / "s.csv", 300, seed=11).path)
    loaded = dump(engine)
    traces = _traces_rows(engine)
    assert len(traces) > 300

    migrate_down_to(engine, "0004")

    columns = _traces_columns(engine)
    # SQLite rebuilds the table with id first, as 0001 made it; PostgreSQL appends the column.
    assert columns.index("id") == (len(columns) - 1 if engine.dialect.name == "postgresql" else 0)
    schema = inspect(engine)
    assert schema.get_pk_constraint("traces")["constrained_columns"] == ["id"]
    assert [(u["name"], u["column_names"]) for u in schema.get_unique_constraints("traces")] == [
        ("uq_traces_trace_number", ["trace_number"])
    ]
    assert _traces_rows(engine) == traces
    with engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM traces ORDER BY id")).scalars().all()
    assert ids == list(range(1, len(traces) + 1))

    # At 0004 a new trace gets the next id, and a repeated trace number is refused again.
    copy = (
        "INSERT INTO traces (trace_file_id, trace_number, recovery_date, recovery_year,"
        " recovery_country, recovery_state, firearm_type, source_category)"
        " SELECT trace_file_id, :number, recovery_date, recovery_year, recovery_country,"
        " recovery_state, firearm_type, source_category FROM traces WHERE id = 1"
    )
    with engine.begin() as connection:
        connection.execute(text(copy), {"number": "DOWNGRADED-1"})
        new_id = connection.execute(
            text("SELECT id FROM traces WHERE trace_number = 'DOWNGRADED-1'")
        ).scalar_one()
        assert new_id == len(traces) + 1
        connection.execute(text("DELETE FROM traces WHERE trace_number = 'DOWNGRADED-1'"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(copy), {"number": traces[0][1]})

    upgrade(engine)

    assert "id" not in _traces_columns(engine)
    assert dump(engine) == loaded
