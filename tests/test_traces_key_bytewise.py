"""Migration 0007: trace_number compared bytewise on both backends, no index on trace_file_id."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import Engine, inspect, text
from sqlalchemy.dialects import postgresql

from bench.synthetic import generate
from db.integrity import orphan_trace_file_ids
from db.migrate import upgrade
from db.models import RunStatus, Trace
from etl.traces import load_trace_file
from etl.traces.insert import in_trace_number_order
from tests.conftest import SAMPLE_TRACES, migrate_down_to
from tests.test_traces import dump

FILE_INDEX = "ix_traces_trace_file_id"
# ASCII trace numbers whose order differs between bytes and a linguistic collation (case,
# punctuation, digits against letters): "C" and C.UTF-8 both order them by their bytes.
AWKWARD_NUMBERS = ["a-10", "A-2", "a_1", "B.7", "b7", "Z~1", "z0", "9z", "10", "1-0", "~x", "-x"]


def _key_collation(engine: Engine) -> str | None:
    """The collation the database declares for traces.trace_number (None: its default)."""
    (column,) = [c for c in inspect(engine).get_columns("traces") if c["name"] == "trace_number"]
    return getattr(column["type"], "collation", None)


def _file_index_names(engine: Engine) -> list[str | None]:
    return [index["name"] for index in inspect(engine).get_indexes("traces")]


def _insert_numbers(engine: Engine, numbers: list[str]) -> None:
    """Traces with the given numbers, copies of a stored one otherwise."""
    with engine.begin() as connection:
        for number in numbers:
            connection.execute(
                text(
                    "INSERT INTO traces (trace_file_id, trace_number, recovery_date,"
                    " recovery_year, recovery_country, recovery_state, firearm_type,"
                    " source_category) SELECT trace_file_id, :number, recovery_date,"
                    " recovery_year, recovery_country, recovery_state, firearm_type,"
                    " source_category FROM traces ORDER BY trace_number LIMIT 1"
                ),
                {"number": number},
            )


def test_the_model_declares_the_collation_the_migrations_give_the_key(engine):
    """Alembic's comparison ignores a collation only one side declares: checked here."""
    declared = Trace.__table__.c.trace_number.type.dialect_impl(postgresql.dialect())
    assert declared.collation == "C"
    if engine.dialect.name == "postgresql":
        assert _key_collation(engine) == "C"
    else:  # SQLite declares none: its BINARY default compares bytes
        assert _key_collation(engine) is None
    assert FILE_INDEX not in _file_index_names(engine)


def test_the_key_orders_trace_numbers_by_their_bytes_as_the_loader_sorts_them(engine):
    load_trace_file(engine, SAMPLE_TRACES)
    _insert_numbers(engine, AWKWARD_NUMBERS)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT trace_number FROM traces")).scalars().all()
        ordered = (
            connection.execute(text("SELECT trace_number FROM traces ORDER BY trace_number"))
            .scalars()
            .all()
        )
        below = connection.execute(
            text("SELECT trace_number FROM traces WHERE trace_number < 'a' ORDER BY 1")
        ).scalars()
        below_a = list(below)
    by_bytes = sorted(stored, key=str.encode)
    assert ordered == by_bytes
    rows = pa.table({"trace_number": stored})
    loader_sorted, _ = in_trace_number_order(rows, pa.array(range(len(stored))).to_numpy())
    assert loader_sorted.column("trace_number").to_pylist() == by_bytes
    assert below_a == [number for number in by_bytes if number.encode() < b"a"]
    assert "A-2" in below_a and "a-10" not in below_a


def test_a_migration_down_to_0006_and_up_keeps_every_trace_and_its_answers(engine, tmp_path):
    load_trace_file(engine, SAMPLE_TRACES)
    exported = generate(tmp_path / "s.csv", 400, seed=13, bad_rate=0.05).path
    first = load_trace_file(engine, exported)
    loaded = dump(engine)
    assert orphan_trace_file_ids(engine) == []

    migrate_down_to(engine, "0006")

    assert _key_collation(engine) is None
    assert FILE_INDEX in _file_index_names(engine)
    assert dump(engine) == loaded

    upgrade(engine)

    assert _key_collation(engine) == ("C" if engine.dialect.name == "postgresql" else None)
    assert FILE_INDEX not in _file_index_names(engine)
    assert dump(engine) == loaded
    # Every stored number is still found through the key: a re-export of the file (another
    # checksum, CRLF line ends) is all duplicates; a new file goes in beside them.
    reexport = generate(tmp_path / "again.csv", 400, seed=13, bad_rate=0.05, crlf=True).path
    again = load_trace_file(engine, reexport)
    assert again.status == RunStatus.LOADED
    assert (again.rows_loaded, again.rows_duplicate) == (0, first.rows_loaded)
    new = load_trace_file(engine, generate(tmp_path / "new.csv", 300, seed=14).path)
    assert new.status == RunStatus.LOADED and new.rows_loaded > 0
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM traces")).scalar_one()
    assert stored == len(loaded["traces"]) + new.rows_loaded
    assert orphan_trace_file_ids(engine) == []


def test_an_orphan_is_found_with_or_without_the_file_index(engine):
    """The orphan check answers the same whether the index on trace_file_id exists or not."""
    load_trace_file(engine, SAMPLE_TRACES)
    _insert_numbers(engine, ["ORPHAN-1"])
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE traces SET trace_file_id = 777 WHERE trace_number = 'ORPHAN-1'")
        )
    assert orphan_trace_file_ids(engine) == [777]
    migrate_down_to(engine, "0006")
    assert orphan_trace_file_ids(engine) == [777]
