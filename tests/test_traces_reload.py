"""Reloading trace numbers already loaded: the refused batches are sorted in SQL, with the counts,
ledger and aggregates the file would get loaded on its own."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select, text

from bench.synthetic import generate
from db.engine import make_engine
from db.migrate import upgrade
from db.models import RejectedRow, RunStatus, Trace, TraceAggregate
from etl.traces import insert as inserter
from etl.traces import known, load_trace_file
from etl.traces.aggregates import COUNTED_COLUMNS, AggregateCounts
from etl.traces.columns import SOURCE_CATEGORIES, TTC_BANDS, US_SOURCED
from tests.test_traces_parallel import overlapping_files, wipe_loads


def ledger(engine: Engine, run_id: int | None) -> list[tuple[int, str, dict[str, str]]]:
    """A run's rejected rows: line, reason and kept cells, in line order."""
    columns = (RejectedRow.line_number, RejectedRow.reason, RejectedRow.fields)
    with engine.connect() as connection:
        rows = connection.execute(
            select(*columns).where(RejectedRow.run_id == run_id).order_by(RejectedRow.line_number)
        ).all()
    return [(line, reason, json.loads(f) if isinstance(f, str) else f) for line, reason, f in rows]


def aggregates(engine: Engine, trace_file_id: int | None) -> list[tuple]:
    """The file's rows of trace_aggregates."""
    table = TraceAggregate
    columns = (table.dimension, table.year, table.key, table.firearms)
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).where(table.trace_file_id == trace_file_id))
        return sorted((tuple(row) for row in rows), key=repr)


def aggregates_of_stored_rows(engine: Engine, trace_file_id: int | None) -> list[tuple]:
    """The aggregates the file's rows in traces add up to, counted from scratch."""
    query = text(f"SELECT {', '.join(COUNTED_COLUMNS)} FROM traces WHERE trace_file_id = :id")
    with engine.connect() as connection:
        stored = connection.execute(query, {"id": trace_file_id}).all()
    counts = AggregateCounts()
    counts.add_tuples(stored)
    rows = counts.rows(trace_file_id or 0)
    return sorted(((r["dimension"], r["year"], r["key"], r["firearms"]) for r in rows), key=repr)


def not_repeats(rows: list[tuple[int, str, dict[str, str]]]) -> list[tuple]:
    return [row for row in rows if "within this file" not in row[1]]


def trace_numbers(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Trace.trace_number, Trace.trace_file_id)).all()
    return sorted(tuple(row) for row in rows)


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """(rows, known, of which this file's) of every refused batch the database sorted."""
    seen: list[tuple[int, int, int]] = []
    owners = known.RefusedBatch.owners  # SQLite
    owner_codes = known.owner_codes  # PostgreSQL
    owner_codes_in_range = known.owner_codes_in_range

    def sqlite_spy(self: known.RefusedBatch, file_id: int) -> tuple[int, int]:
        counted = owners(self, file_id)
        seen.append((self.rows, *counted))
        return counted

    def record(codes: np.ndarray) -> None:
        repeats = int(np.count_nonzero(codes == known.REPEAT))
        seen.append((len(codes), int(np.count_nonzero(codes != known.NEW)), repeats))

    def postgresql_spy(connection: Any, file_id: int) -> np.ndarray:
        codes = owner_codes(connection, file_id)
        record(codes)
        return codes

    def postgresql_range_spy(
        connection: Any, numbers: Any, file_id: int, most: int
    ) -> np.ndarray | None:
        codes = owner_codes_in_range(connection, numbers, file_id, most)
        if codes is not None:
            record(codes)
        return codes

    monkeypatch.setattr(known.RefusedBatch, "owners", sqlite_spy)
    monkeypatch.setattr(inserter, "owner_codes", postgresql_spy)
    monkeypatch.setattr(inserter, "owner_codes_in_range", postgresql_range_spy)
    return seen


def test_a_file_overlapping_a_loaded_one_gets_the_ledger_and_aggregates_it_gets_alone(
    engine, tmp_path, monkeypatch, refusals
):
    """Batches partly and wholly known, and repeats only the database finds, are counted in SQL:
    the file's ledger is the one it gets loaded alone, its loaded and duplicate rows add up to
    what it loads alone, and its aggregates are those of the rows it stored."""
    first, overlapping = overlapping_files(tmp_path)
    lines = overlapping.read_text(encoding="utf-8").splitlines(keepends=True)
    # Rows of the file's own first stretch again at its end: repeats within the file that only
    # the unique index catches, in a batch of new rows (and first-file rows) at that.
    first_lines = first.read_text(encoding="utf-8").splitlines(keepends=True)
    reloaded = tmp_path / "reloaded.csv"
    reloaded.write_text("".join(lines + lines[2:12] + first_lines[40:50]), encoding="utf-8")

    monkeypatch.setattr(inserter, "BATCH_ROWS", 100_000)  # alone, in one batch: nothing refused
    alone = load_trace_file(engine, reloaded)
    assert alone.status == RunStatus.LOADED
    assert refusals == []
    alone_ledger = ledger(engine, alone.run_id)
    assert any("within this file" in reason for _, reason, _ in alone_ledger)
    wipe_loads(engine)

    monkeypatch.setattr(inserter, "BATCH_ROWS", 97)
    before = load_trace_file(engine, first)
    stored_before = trace_numbers(engine)
    result = load_trace_file(engine, reloaded)

    assert result.status == RunStatus.LOADED
    whole = [r for r in refusals if r[0] == r[1]]
    partly = [r for r in refusals if 0 < r[1] < r[0]]
    assert whole and partly, refusals
    assert sum(repeats for _, _, repeats in refusals) > 0  # repeats found by the database
    assert ledger(engine, result.run_id) == alone_ledger
    assert (result.rows_read, result.rows_rejected) == (alone.rows_read, alone.rows_rejected)
    assert result.rows_loaded + result.rows_duplicate == alone.rows_loaded
    first_numbers = {number for number, _ in stored_before}
    stored = trace_numbers(engine)
    assert result.rows_duplicate == sum(
        1 for line in lines + first_lines[40:50] if line.split(",", 1)[0] in first_numbers
    )
    assert [row for row in stored if row[1] == before.trace_file_id] == stored_before
    assert sum(1 for _, owner in stored if owner == result.trace_file_id) == result.rows_loaded
    assert aggregates(engine, result.trace_file_id) == aggregates_of_stored_rows(
        engine, result.trace_file_id
    )
    assert aggregates(engine, result.trace_file_id)


@pytest.mark.parametrize(
    ("batch_rows", "counts_kept"),
    [(97, inserter.STAGED_COUNTS_KEPT), (97, 2), (100_000, inserter.STAGED_COUNTS_KEPT)],
)
def test_a_reexport_of_a_loaded_file_loads_nothing_and_records_the_same_rejects(
    engine, tmp_path, monkeypatch, refusals, batch_rows, counts_kept
):
    """The same rows with another checksum (CRLF line ends): every batch is wholly known. On
    SQLite, with 2 batches' aggregates kept, the others' are tallied in SQL: the same result."""
    monkeypatch.setattr(inserter, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(inserter, "STAGED_COUNTS_KEPT", counts_kept)
    original = generate(tmp_path / "export.csv", 600, seed=41, bad_rate=0.08).path
    reexport = generate(tmp_path / "reexport.csv", 600, seed=41, bad_rate=0.08, crlf=True).path
    first = load_trace_file(engine, original)
    stored = trace_numbers(engine)
    first_aggregates = aggregates(engine, first.trace_file_id)

    again = load_trace_file(engine, reexport)

    assert again.status == RunStatus.LOADED
    assert refusals and all(rows == known_rows for rows, known_rows, _ in refusals)
    assert (again.rows_read, again.rows_loaded, again.rows_duplicate) == (
        first.rows_read,
        0,
        first.rows_loaded,
    )
    first_ledger, again_ledger = ledger(engine, first.run_id), ledger(engine, again.run_id)
    assert again.rows_rejected == len(again_ledger)
    assert again.rows_rejected + again.rows_duplicate == first.rows_rejected + first.rows_loaded
    if batch_rows == 100_000:
        assert again_ledger == first_ledger
    else:
        # A repeat of a number whose first row went in an earlier batch meets, on a reload, the
        # first file's row: a duplicate, not a repeat within the file (as before SQL counted it).
        assert all(row in first_ledger for row in again_ledger)
        assert not_repeats(again_ledger) == not_repeats(first_ledger)
    assert trace_numbers(engine) == stored
    assert aggregates(engine, first.trace_file_id) == first_aggregates
    assert aggregates(engine, again.trace_file_id) == []


# Every edge of the aggregates' rules: each time-to-crime band's first and last day, none, and
# each source category, US-sourced with and without a US state.
BAND_EDGE_DAYS = ("", "0", *(str(limit + step) for limit, _ in TTC_BANDS for step in (-1, 0)))
SOURCES = [
    (category, state)
    for category in SOURCE_CATEGORIES
    for state in (("TX", "") if category in US_SOURCED else ("",))
]
HEADER = (
    "trace_number,recovery_date,recovery_country,recovery_state,recovery_city,firearm_type,"
    "manufacturer,caliber,country_of_manufacture,source_category,source_state,purchase_date,"
    "time_to_crime_days"
)


def edge_rows(prefix: str) -> list[str]:
    """One row for each (year, source, time-to-crime edge), across three states and two types."""
    combinations = itertools.product((2019, 2021), SOURCES, BAND_EDGE_DAYS)
    return [
        f"{prefix}-{number:04d},{year}-06-15,MX,{('Sonora', 'Jalisco', 'Tamaulipas')[number % 3]},"
        f",{('pistol', 'rifle')[number % 2]},,,,{category},{state},,{days}"
        for number, (year, (category, state), days) in enumerate(combinations)
    ]


def write_csv(path: Path, rows: list[str], *, crlf: bool = False) -> Path:
    end = "\r\n" if crlf else "\n"
    path.write_bytes(end.join([HEADER, *rows, ""]).encode("utf-8"))
    return path


@pytest.mark.parametrize("counts_kept", [0, inserter.STAGED_COUNTS_KEPT])
def test_known_rows_on_every_edge_of_the_aggregate_rules_are_taken_away_as_they_were_counted(
    engine, tmp_path, monkeypatch, refusals, counts_kept
):
    """The known rows' aggregates are taken away as the load counted them, on every band's edge
    and every source: a re-export nets to nothing, a partly new file to its stored rows' counts.
    On SQLite, with no batch's counts kept, every known row is counted again after reading."""
    monkeypatch.setattr(inserter, "BATCH_ROWS", 16)
    monkeypatch.setattr(inserter, "STAGED_COUNTS_KEPT", counts_kept)
    rows = edge_rows("EDGE")
    first = load_trace_file(engine, write_csv(tmp_path / "edges.csv", rows))
    assert (first.status, first.rows_loaded) == (RunStatus.LOADED, len(rows))

    again = load_trace_file(engine, write_csv(tmp_path / "reexport.csv", rows, crlf=True))
    assert (again.rows_loaded, again.rows_duplicate) == (0, len(rows))
    assert aggregates(engine, again.trace_file_id) == []

    # Three batches wholly known, then each batch half known, half new.
    new = edge_rows("FRESH")
    mixed = rows[:48] + [row for pair in zip(rows[48:], new, strict=False) for row in pair]
    overlapping = load_trace_file(engine, write_csv(tmp_path / "overlapping.csv", mixed))
    assert (overlapping.rows_loaded, overlapping.rows_duplicate) == (len(rows) - 48, len(rows))
    whole = [r for r in refusals if r[0] == r[1]]
    partly = [r for r in refusals if 0 < r[1] < r[0]]
    assert whole and partly, refusals
    assert aggregates(engine, overlapping.trace_file_id) == aggregates_of_stored_rows(
        engine, overlapping.trace_file_id
    )
    assert aggregates(engine, first.trace_file_id) == aggregates_of_stored_rows(
        engine, first.trace_file_id
    )


def test_postgresql_walks_the_key_over_a_batch_side_by_side_and_looks_up_interleaved_numbers(
    postgres_url, tmp_path, monkeypatch
):
    """A re-export's batches find their rows side by side in the key's order: one walk of the
    index each. A file whose numbers lie far apart among stored ones gets the same answers by
    looking each number up, from its first such batch on."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    walks: list[bool] = []  # per walk tried: whether it answered
    walk = known.owner_codes_in_range

    def walk_spy(connection: Any, numbers: Any, file_id: int, most: int) -> np.ndarray | None:
        codes = walk(connection, numbers, file_id, most)
        walks.append(codes is not None)
        return codes

    monkeypatch.setattr(inserter, "owner_codes_in_range", walk_spy)
    monkeypatch.setattr(inserter, "BATCH_ROWS", 50)
    original = generate(tmp_path / "export.csv", 1000, seed=51, bad_rate=0.05).path
    # Every 7th row of the file: each batch's numbers spread over ~7 times as many stored rows.
    header, *lines = original.read_text(encoding="utf-8").splitlines(keepends=True)
    sparse = tmp_path / "sparse.csv"
    sparse.write_text(header + "".join(lines[3::7]), encoding="utf-8")
    alone = load_trace_file(engine, sparse)
    assert alone.rows_loaded > 0
    alone_ledger = ledger(engine, alone.run_id)
    wipe_loads(engine)

    first = load_trace_file(engine, original)
    stored = trace_numbers(engine)
    assert walks == []  # nothing refused, nothing looked up
    reexport = generate(tmp_path / "reexport.csv", 1000, seed=51, bad_rate=0.05, crlf=True).path
    again = load_trace_file(engine, reexport)
    assert (again.rows_loaded, again.rows_duplicate) == (0, first.rows_loaded)
    assert len(walks) > 10 and all(walks)

    walks.clear()
    spread = load_trace_file(engine, sparse)
    assert walks == [False]  # tried once, then every number looked up
    assert (spread.rows_loaded, spread.rows_duplicate) == (0, alone.rows_loaded)
    assert ledger(engine, spread.run_id) == alone_ledger
    assert trace_numbers(engine) == stored
    engine.dispose()


def test_a_reexport_finds_its_stored_rows_whatever_characters_their_numbers_hold(
    engine, tmp_path, refusals
):
    """The trace numbers a re-export's batch finds stored come back from the database as CSV
    (PostgreSQL's walk of the key): numbers that CSV must quote, or that differ only past a
    shared prefix or by a non-ASCII letter, are each matched to their own stored row."""
    numbers = ["AB,1", 'AB"2', "AB 3", "ABñ4", "AB5", "AB5.1", "AB5,1", "AB'6"]

    def write(path: Path, chosen: list[str]) -> Path:
        with path.open("w", encoding="utf-8", newline="") as stream:
            stream.write(HEADER + "\n")
            writer = csv.writer(stream, lineterminator="\n")
            for number in chosen:
                writer.writerow(
                    [
                        number,
                        "2021-01-05",
                        "MX",
                        "Jalisco",
                        "",
                        "rifle",
                        "",
                        "",
                        "",
                        "undetermined",
                        "",
                        "",
                        "",
                    ]
                )
        return path

    first = load_trace_file(engine, write(tmp_path / "first.csv", numbers))
    assert (first.rows_loaded, first.rows_rejected) == (len(numbers), 0)
    # The same rows re-exported in another order, with one new number among them.
    again = load_trace_file(engine, write(tmp_path / "again.csv", [*numbers[::-1], "AB5,0"]))

    assert (again.rows_loaded, again.rows_duplicate, again.rows_rejected) == (1, len(numbers), 0)
    assert refusals == [(len(numbers) + 1, len(numbers), 0)]
    assert sorted(n for n, _ in trace_numbers(engine)) == sorted([*numbers, "AB5,0"])
