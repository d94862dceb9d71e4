"""The loader's COPY stream on PostgreSQL: batches grouped per COPY, refusals, rejects, flushing."""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text

from db.models import RunStatus
from etl.traces import insert, load_trace_file
from etl.traces.checks import Batch
from etl.traces.columns import INSERT_COLUMNS
from tests.test_traces import HEADER, write_csv
from tests.test_traces_parallel import recount_aggregates_in_sql


def good_row(number: str, day: int) -> str:
    return f"{number},2021-01-{day:02d},MX,Jalisco,,rifle,,,,undetermined,,,"


def traces_of(engine: Engine, file_name: str) -> list[str]:
    return sorted(
        pd.read_sql(
            text(
                "SELECT t.trace_number FROM traces t JOIN trace_files f ON f.id = t.trace_file_id "
                "WHERE f.file_name = :name"
            ),
            engine,
            params={"name": file_name},
        )["trace_number"]
    )


def aggregates(engine: Engine) -> list[tuple]:
    query = text("SELECT trace_file_id, dimension, year, key, firearms FROM trace_aggregates")
    with engine.connect() as connection:
        return sorted(connection.execute(query).all(), key=repr)


def test_a_row_already_loaded_in_a_later_batch_of_a_copy_keeps_every_other_row_of_its_group(
    engine, monkeypatch, tmp_path
):
    """On PostgreSQL four batches share one COPY: the unique constraint refusing the third
    undoes all four, which must then go in again, without only the row already loaded."""
    earlier = write_csv(tmp_path / "earlier.csv", [HEADER, good_row("OLD-1", 1)])
    assert load_trace_file(engine, earlier).status == RunStatus.LOADED
    numbers = [f"NEW-{n}" for n in range(1, 9)]
    numbers[5] = "OLD-1"  # line 7: in the third batch of two rows
    later = write_csv(
        tmp_path / "later.csv",
        [HEADER, *(good_row(number, day) for day, number in enumerate(numbers, 1))],
    )
    monkeypatch.setattr(insert, "BATCH_ROWS", 2)

    result = load_trace_file(engine, later)

    counts = (result.rows_read, result.rows_loaded, result.rows_rejected, result.rows_duplicate)
    assert counts == (8, 7, 0, 1)
    assert traces_of(engine, "later.csv") == sorted(set(numbers) - {"OLD-1"})
    assert traces_of(engine, "earlier.csv") == ["OLD-1"]
    counted = aggregates(engine)
    with engine.begin() as connection:
        recount_aggregates_in_sql(connection, result.trace_file_id)
    assert counted == aggregates(engine)


def test_rejects_that_fill_a_batch_while_rows_stream_are_all_recorded_at_their_lines(
    engine, monkeypatch, tmp_path
):
    """No other statement can run during a COPY: the ledger waits for its COPY to end, which
    ends early once a batch's worth of rejects is waiting, so none is lost and memory stays
    bounded."""
    lines = [HEADER]
    bad_lines = []
    for n in range(1, 41):
        if n % 2:
            lines.append(good_row(f"G-{n}", n % 28 + 1))
        else:
            lines.append(f"B-{n},2021-01-01,MX,Atlantis,,rifle,,,,undetermined,,,")
            bad_lines.append(n + 1)  # the header is line 1
    path = write_csv(tmp_path / "half-bad.csv", lines)
    monkeypatch.setattr(insert, "BATCH_ROWS", 4)  # two rejects a batch: a batch's worth in two

    result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (40, 20, 20)
    ledger = pd.read_sql("SELECT line_number, reason FROM rejected_rows", engine)
    assert sorted(ledger["line_number"]) == bad_lines
    assert ledger["reason"].str.contains("recovery_state").all()
    assert len(traces_of(engine, "half-bad.csv")) == 20


def test_a_batch_reaches_the_server_before_the_next_one_is_awaited(
    engine, backend_url, monkeypatch, tmp_path
):
    """libpq keeps what it is given until a flush: the loader flushes each batch, so the server
    stores it while the next is parsed instead of waiting with nothing to do."""
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    path = write_csv(
        tmp_path / "two-batches.csv",
        [HEADER, *(good_row(f"F-{n}", n % 28 + 1) for n in range(1, 201))],
    )
    monkeypatch.setattr(insert, "BATCH_ROWS", 100)  # ~6 kB a batch, far below libpq's 1 MB
    observer = create_engine(backend_url)
    seen_before_second: list[int] = []
    real_parse = insert.parse

    def copied_rows() -> int:
        """Rows the loader's COPY has stored so far, as another session sees its progress."""
        query = text(
            "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy "
            "WHERE datname = current_database()"
        )
        with observer.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def parse_watching_the_server(job, progress, **options) -> Iterator[Batch]:
        for number, batch in enumerate(real_parse(job, progress, **options)):
            if number == 1:  # the first batch was sent: wait until the server has stored it
                deadline = time.monotonic() + 20
                while copied_rows() < 100 and time.monotonic() < deadline:
                    time.sleep(0.02)
                seen_before_second.append(copied_rows())
            yield batch

    monkeypatch.setattr(insert, "parse", parse_watching_the_server)
    try:
        result = load_trace_file(engine, path)
    finally:
        observer.dispose()

    assert result.rows_loaded == 200
    assert seen_before_second == [100]


def copied_tuples(data: bytes) -> list[tuple[bytes | None, ...]]:
    """The tuples of binary COPY data (no header or trailer), each field's bytes or None for
    NULL: read here by hand from PostgreSQL's documented format, not by the encoder's library."""
    tuples = []
    at = 0
    while at < len(data):
        (fields,) = struct.unpack_from("!h", data, at)
        at += 2
        values: list[bytes | None] = []
        for _ in range(fields):
            (length,) = struct.unpack_from("!i", data, at)
            at += 4
            values.append(None if length == -1 else data[at : at + length])
            at += max(length, 0)
        tuples.append(tuple(values))
    return tuples


def test_each_batch_is_sorted_and_encoded_for_copy_in_the_parsers_thread(
    engine, monkeypatch, tmp_path
):
    """With a second thread, a batch arrives sorted and as COPY's tuples (PostgreSQL), so the
    inserting thread only sends it; on SQLite batches arrive as parsed."""
    from etl.traces import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "two_cores", lambda: True)
    monkeypatch.setattr(insert, "BATCH_ROWS", 3)
    rows = [good_row(f"T-{n}", n) for n in (5, 3, 9, 1, 7, 2)]
    path = write_csv(tmp_path / "unsorted.csv", [HEADER, *rows])
    prepared_in: list[str] = []
    received: list[Batch] = []
    real_prepare, real_flush = insert.prepared_for_copy, insert.FileLoader.flush

    def recording_prepare(batch: Batch) -> Batch:
        prepared_in.append(threading.current_thread().name)
        return real_prepare(batch)

    def recording_flush(self, batch: Batch) -> None:
        received.append(batch)
        real_flush(self, batch)

    monkeypatch.setattr(insert, "prepared_for_copy", recording_prepare)
    monkeypatch.setattr(insert.FileLoader, "flush", recording_flush)

    assert load_trace_file(engine, path).rows_loaded == 6

    full = [batch for batch in received if batch.rows.num_rows]
    assert len(full) == 2
    if engine.dialect.name != "postgresql":
        assert prepared_in == []
        assert all(batch.copy_tuples is None for batch in full)
        return
    assert set(prepared_in) == {"ironriver-trace-parser"}
    for batch in full:
        numbers = batch.rows.column("trace_number").to_pylist()
        assert numbers == sorted(numbers)
        copied = copied_tuples(batch.copy_tuples)
        at = INSERT_COLUMNS.index("trace_number")
        assert [row[at].decode() for row in copied] == numbers


def test_after_a_refused_copy_batches_are_looked_up_first_until_one_holds_no_known_number(
    engine, monkeypatch, tmp_path
):
    """PostgreSQL: once a COPY group is refused, the next batches' trace numbers are looked up
    before any COPY (a reload would otherwise send every group twice for nothing); the first
    batch with no known number sends the load back to streaming, and what is stored is the
    same."""
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY groups are PostgreSQL's")
    known = [f"OLD-{n:02d}" for n in range(1, 21)]
    earlier = write_csv(
        tmp_path / "earlier.csv", [HEADER, *(good_row(n, 1 + i % 28) for i, n in enumerate(known))]
    )
    assert load_trace_file(engine, earlier).status == RunStatus.LOADED
    new = [f"NEW-{n:02d}" for n in range(1, 21)]
    later = write_csv(
        tmp_path / "later.csv",
        [HEADER, *(good_row(n, 1 + i % 28) for i, n in enumerate(known + new))],
    )
    monkeypatch.setattr(insert, "BATCH_ROWS", 2)
    calls: list[tuple[str, str]] = []  # (what, first trace number of the batch)
    stream, copy_new = insert.FileLoader._stream, insert.FileLoader._copy_new

    def streamed(self, rows, lines, text, counts):
        calls.append(("stream", rows.column("trace_number")[0].as_py()))
        stream(self, rows, lines, text, counts)

    def looked_up(self, rows, lines, counts, *, try_whole=True):
        calls.append(("look up" if not try_whole else "try whole", rows["trace_number"][0].as_py()))
        return copy_new(self, rows, lines, counts, try_whole=try_whole)

    monkeypatch.setattr(insert.FileLoader, "_stream", streamed)
    monkeypatch.setattr(insert.FileLoader, "_copy_new", looked_up)

    result = load_trace_file(engine, later)

    assert (result.rows_loaded, result.rows_duplicate) == (20, 20)
    assert traces_of(engine, "later.csv") == new
    kinds = [kind for kind, _ in calls]
    assert "try whole" not in kinds  # no batch of a refused group is sent in a COPY again
    # The first group (4 batches of known numbers) streams and is refused; every batch after it
    # is looked up while known numbers keep coming, then the new ones stream again.
    first_new_stream = calls.index(("stream", "NEW-03"))
    assert kinds[:4] == ["stream"] * 4
    assert set(kinds[4:first_new_stream]) == {"look up"}
    assert ("look up", "OLD-19") in calls and ("look up", "NEW-01") in calls
    assert set(kinds[first_new_stream:]) == {"stream"}
