"""traces.trace_file_id without a foreign key: the loader keeps it sound, and orphans are found."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from db.engine import make_engine
from db.integrity import orphan_trace_file_ids
from db.migrate import upgrade
from db.models import RunStatus, Trace, TraceFile
from etl.cli import cli
from etl.traces import load_trace_file
from etl.traces.checks import Batch
from etl.traces.columns import INSERT_COLUMNS
from tests.conftest import SAMPLE_TRACES, migrate_down_to
from tests.test_traces import dump, runs

FOREIGN_KEY = "fk_traces_trace_file_id_trace_files"
TRACE_FILE_ID = INSERT_COLUMNS.index("trace_file_id")


def _trace_foreign_keys(engine: Engine) -> list[str | None]:
    return [key["name"] for key in inspect(engine).get_foreign_keys("traces")]


def _add_orphans(engine: Engine, file_id: int, count: int) -> None:
    """Copies of stored traces under a trace file id nobody inserted: what the schema now allows."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO traces (trace_file_id, trace_number, recovery_date, recovery_year,"
                " recovery_country, recovery_state, firearm_type, source_category)"
                " SELECT :file_id, :prefix || trace_number, recovery_date, recovery_year,"
                " recovery_country, recovery_state, firearm_type, source_category"
                " FROM traces ORDER BY trace_number LIMIT :count"
            ),
            {"file_id": file_id, "prefix": f"ORPHAN-{file_id}-", "count": count},
        )


def test_traces_have_no_foreign_key_and_a_migration_down_and_up_keeps_every_row(engine):
    load_trace_file(engine, SAMPLE_TRACES)
    loaded = dump(engine)
    assert _trace_foreign_keys(engine) == []

    migrate_down_to(engine, "0003")
    assert _trace_foreign_keys(engine) == [FOREIGN_KEY]
    upgrade(engine)

    assert _trace_foreign_keys(engine) == []
    assert dump(engine) == loaded


def test_the_foreign_key_cannot_come_back_over_an_orphan(engine):
    load_trace_file(engine, SAMPLE_TRACES)
    _add_orphans(engine, 4242, 1)

    with pytest.raises(IntegrityError):
        migrate_down_to(engine, "0003")

    assert _trace_foreign_keys(engine) == []
    assert orphan_trace_file_ids(engine) == [4242]


def test_every_loaded_trace_names_the_trace_file_its_load_inserted(engine, tmp_path):
    from bench.synthetic import generate

    first = load_trace_file(engine, SAMPLE_TRACES)
    second = load_trace_file(engine, generate(tmp_path / "s.csv", 2_000, seed=5).path)
    assert first.status == second.status == RunStatus.LOADED

    with engine.connect() as connection:
        counted = select(Trace.trace_file_id, func.count()).group_by(Trace.trace_file_id)
        per_file = {file_id: count for file_id, count in connection.execute(counted)}
        files = set(connection.execute(select(TraceFile.id)).scalars())
    assert per_file == {
        first.trace_file_id: first.rows_loaded,
        second.trace_file_id: second.rows_loaded,
    }
    assert set(per_file) <= files
    assert orphan_trace_file_ids(engine) == []


def test_a_batch_naming_another_trace_file_fails_the_load_and_keeps_nothing(
    engine, monkeypatch, tmp_path
):
    """Without a foreign key, the loader's own check is what stops an orphan from being stored."""
    from etl.traces import insert

    load_trace_file(engine, SAMPLE_TRACES)
    before = dump(engine)
    renumbered = tmp_path / "SYNTHETIC-renumbered.csv"
    renumbered.write_text(
        SAMPLE_TRACES.read_text(encoding="utf-8").replace("SYN-", "NEW-"), encoding="utf-8"
    )
    real_parse = insert.parse

    def parse_with_a_wrong_second_batch(job, progress, **options) -> Iterator[Batch]:
        for number, batch in enumerate(real_parse(job, progress, **options)):
            if number == 1 and len(batch.lines):
                wrong = pa.array([job.file_id + 1] * len(batch.lines), type=pa.int64())
                batch.rows = batch.rows.set_column(TRACE_FILE_ID, "trace_file_id", wrong)
            yield batch

    monkeypatch.setattr(insert, "parse", parse_with_a_wrong_second_batch)
    monkeypatch.setattr(insert, "BATCH_ROWS", 4)  # the first batch goes in before the bad one

    result = load_trace_file(engine, renumbered)

    assert result.status == RunStatus.FAILED
    assert result.message.startswith("WrongTraceFile near line ")
    assert result.message.endswith("; nothing from this file was kept")
    assert dump(engine) == before
    assert orphan_trace_file_ids(engine) == []
    assert runs(engine)[-1][1] == "failed"


def test_orphans_are_found_among_files_below_and_above_every_file_id(engine, tmp_path):
    from bench.synthetic import generate

    load_trace_file(engine, SAMPLE_TRACES)
    load_trace_file(engine, generate(tmp_path / "s.csv", 500, seed=3).path)
    assert orphan_trace_file_ids(engine) == []

    _add_orphans(engine, 0, 2)  # below every file id
    _add_orphans(engine, 999_999, 1)  # above every file id
    assert orphan_trace_file_ids(engine) == [0, 999_999]


def _status_check(url: str):
    return CliRunner().invoke(cli, ["etl", "status", "--check"], env={"DATABASE_URL": url})


def test_etl_status_check_fails_and_names_traces_of_a_missing_trace_file(loaded_db_url):
    engine = make_engine(loaded_db_url)
    try:
        assert _status_check(loaded_db_url).exit_code == 0
        _add_orphans(engine, 4242, 3)
    finally:
        engine.dispose()

    result = _status_check(loaded_db_url)

    assert result.exit_code == 1
    assert "traces naming a trace file that does not exist: trace_file_id 4242" in result.output
