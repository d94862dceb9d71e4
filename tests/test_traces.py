"""The trace loader: format rules, rejected rows, idempotence, privacy, crash safety and aggregates."""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from bench import synthetic
from bench.synthetic import file_name, generate
from db.engine import make_engine
from db.models import Base, EtlRun, RunStatus
from etl.traces import describe_error, firearm_type_code, load_trace_file, parse_date
from etl.traces.shifts import identifier_shaped

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = FIXTURES / "SYNTHETIC-etrace-style-sample.csv"
ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from etl.launcher import main; main()"]

CANARY_SERIAL = "CANARY-SN-7Q9X4Z"
CANARY_NAME = "Zebulon Canarypurchaser"
CANARY_ADDRESS = "1 Canary Lane Secretville"
CANARY_NOTE = "canary-note-8812"
CANARIES = (CANARY_SERIAL, CANARY_NAME, CANARY_ADDRESS, CANARY_NOTE)


def dump(engine: Engine, *, skip: tuple[str, ...] = ("etl_runs",)) -> dict[str, list[tuple]]:
    """Every row of every table (except `skip`), in a stable order: the database's logical content."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name not in skip
        }


def runs(engine: Engine) -> list[tuple]:
    columns = (
        EtlRun.id,
        EtlRun.status,
        EtlRun.rows_read,
        EtlRun.rows_loaded,
        EtlRun.rows_rejected,
        EtlRun.error,
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(*columns).order_by(EtlRun.id))]


def run_cli(
    *args: str, database_url: str, log_level: str = "INFO"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "IRONRIVER_LOG_LEVEL": log_level}
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


HEADER = (
    "trace_number,recovery_date,recovery_country,recovery_state,recovery_city,firearm_type,"
    "manufacturer,caliber,country_of_manufacture,source_category,source_state,purchase_date,"
    "time_to_crime_days"
)


# --------------------------------------------------------------------------- the sample


def test_sample_loads_17_rows_and_rejects_8_each_with_its_line_and_reason(engine):
    result = load_trace_file(engine, SAMPLE)

    assert result.status == RunStatus.LOADED
    assert (result.rows_read, result.rows_loaded, result.rows_rejected, result.rows_duplicate) == (
        25,
        17,
        8,
        0,
    )
    assert (
        result.summary()
        == "SYNTHETIC-etrace-style-sample.csv: accepted — read 25, loaded 17, rejected 8, duplicate 0"
    )
    rejected = pd.read_sql("SELECT line_number, reason, fields FROM rejected_rows", engine)
    expected = {
        17: "bad recovery_date '2019-02-30'",
        18: "unknown Mexican state in recovery_state",  # a name that failed is never echoed
        19: "unknown firearm_type",
        20: "negative time_to_crime_days -5",
        21: "recovery_date 2099-01-01 is in the future",
        22: "source_state 'TX' given for a non_us row",
        23: "duplicate trace_number 'SYN-0002'",
        24: "unknown source_state 'ZZ'",
    }
    assert sorted(rejected["line_number"]) == sorted(expected)
    for line, reason in zip(rejected["line_number"], rejected["reason"], strict=True):
        assert expected[line] in reason, (line, reason)


def test_sample_rows_are_stored_as_codes_with_derived_time_to_crime(engine):
    load_trace_file(engine, SAMPLE)

    traces = pd.read_sql("SELECT * FROM traces", engine).set_index("trace_number")
    assert len(traces) == 17
    first = traces.loc["SYN-0001"]
    assert (first.recovery_state, first.source_state, first.time_to_crime_days) == ("28", "TX", 102)
    assert str(traces.loc["SYN-0003", "recovery_date"]) == "2014-08-14"  # DD/MM/YYYY
    assert traces.loc["SYN-0004", "recovery_state"] == "16"  # Michoacán
    assert traces.loc["SYN-0006", "recovery_state"] == "09"  # Distrito Federal
    assert traces.loc["SYN-0008", "firearm_type"] == "shotgun"  # escopeta
    assert traces.loc["SYN-0010", "firearm_type"] == "pistol"  # pistola
    assert traces.loc["SYN-0011", "time_to_crime_days"] == 5778  # derived from the two dates
    assert pd.isna(traces.loc["SYN-0003", "time_to_crime_days"])  # no purchase date: unknown
    assert set(traces["recovery_country"]) == {"MX"}
    assert not {"serial_number", "purchaser_name"} & set(traces.columns)


def test_loading_the_same_file_twice_changes_nothing(engine):
    load_trace_file(engine, SAMPLE)
    before = dump(engine)
    runs_before = runs(engine)

    again = load_trace_file(engine, SAMPLE)

    assert again.status == RunStatus.SKIPPED
    assert "no change" in again.summary()
    assert dump(engine) == before
    runs_after = runs(engine)
    assert runs_after[: len(runs_before)] == runs_before
    assert [run[1] for run in runs_after[len(runs_before) :]] == ["skipped"]


# --------------------------------------------------------------------------- refusals and rules


def test_file_missing_recovery_state_is_refused_with_exit_2_and_writes_only_the_run_row(engine):
    load_trace_file(engine, SAMPLE)
    before = dump(engine)
    runs_before = runs(engine)
    url = engine.url.render_as_string(hide_password=False)

    completed = run_cli(
        "etl", "load-traces", str(FIXTURES / "missing-recovery-state.csv"), database_url=url
    )

    assert completed.returncode == 2, completed.stderr
    assert (
        "missing-recovery-state.csv: REFUSED — missing required column recovery_state"
        in completed.stdout
    )
    assert dump(engine) == before
    new_runs = runs(engine)[len(runs_before) :]
    assert [(run[1], run[5]) for run in new_runs] == [
        ("refused", "missing required column recovery_state")
    ]


def test_refusal_names_every_missing_required_column(engine, tmp_path):
    path = write_csv(tmp_path / "few.csv", ["trace_number,recovery_date", "A-1,2019-01-01"])

    result = load_trace_file(engine, path)

    assert result.status == RunStatus.REFUSED
    assert (
        result.message == "missing required columns recovery_state, firearm_type, source_category"
    )


def test_empty_file_and_a_column_named_twice_are_refused(engine, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    twice = write_csv(tmp_path / "twice.csv", [HEADER + ",Trace_Number", "A-1" + "," * 13])

    assert load_trace_file(engine, empty).message == "the file is empty: no header row"
    assert load_trace_file(engine, twice).message == (
        "column(s) named more than once in the header: trace_number"
    )
    assert dump(engine)["trace_files"] == []


def test_small_batches_give_the_same_result_as_one_batch(engine, monkeypatch):
    from etl.traces import insert

    monkeypatch.setattr(insert, "BATCH_ROWS", 3)

    result = load_trace_file(engine, SAMPLE)

    assert (result.rows_loaded, result.rows_rejected, result.rows_duplicate) == (17, 8, 0)
    rejected = dict(pd.read_sql("SELECT line_number, reason FROM rejected_rows", engine).values)
    # SYN-0002 of line 3 went in an earlier batch: the database tells the repeat apart.
    assert rejected[23] == "duplicate trace_number 'SYN-0002' within this file"
    assert len(rejected) == 8


def test_a_repeat_the_database_finds_is_recorded_like_one_found_in_its_batch(
    engine, monkeypatch, tmp_path
):
    """Batches carry no cells of good rows: a repeat only the unique index catches (an earlier
    batch holds the first) has its cells read again from the file, and keeps the same ones."""
    from etl.traces import insert

    path = write_csv(
        tmp_path / "repeats.csv",
        [
            # No caliber column (an optional one): rows are padded when read again.
            "trace_number,recovery_date,recovery_country,recovery_state,recovery_city,"
            "firearm_type,manufacturer,serial_number,country_of_manufacture,source_category,"
            "source_state,purchase_date,time_to_crime_days",
            f"R-1,2019-01-01,MX,Jalisco,Guadalajara,pistola,Acme,{CANARY_SERIAL},US,"
            "us_manufactured,TX,2018-01-01,",
            f"R-2,2019-01-02,MX,Sonora,,rifle,,{CANARY_SERIAL},,non_us,,,",
            f"R-3,2019-01-03,MX,Sonora,,rifle,,{CANARY_SERIAL},,non_us,,,",
            f" R-1 ,04/03/2019,MEX,14,Zapopan,PISTOL,Acme,{CANARY_SERIAL},US,US_IMPORTED, az ,,365",
        ],
    )

    def ledger() -> list[tuple]:
        rows = pd.read_sql(
            "SELECT line_number, reason, fields FROM rejected_rows ORDER BY line_number", engine
        ).itertuples(index=False)
        return [(n, r, json.loads(f) if isinstance(f, str) else f) for n, r, f in rows]

    one_batch = load_trace_file(engine, path)
    in_one_batch = ledger()
    with engine.begin() as connection:
        for table in ("trace_aggregates", "traces", "rejected_rows", "trace_files"):
            connection.execute(text(f"DELETE FROM {table}"))
    monkeypatch.setattr(insert, "BATCH_ROWS", 2)  # the first R-1 goes in an earlier batch
    split = load_trace_file(engine, path)

    assert (
        ledger()
        == in_one_batch
        == [
            (
                5,
                "duplicate trace_number 'R-1' within this file",
                {
                    "trace_number": "R-1",
                    "recovery_date": "04/03/2019",
                    "recovery_country": "MEX",
                    "recovery_state": "14",
                    "firearm_type": "PISTOL",
                    "source_category": "US_IMPORTED",
                    "source_state": "az",
                    "time_to_crime_days": "365",
                },
            )
        ]
    )
    for result in (one_batch, split):
        assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 3, 1)
    assert CANARY_SERIAL not in repr(dump(engine))


def test_a_repeat_whose_line_is_gone_when_read_again_is_recorded_without_cells(
    engine, monkeypatch, tmp_path
):
    """The loader keeps only the line of a repeat the database refuses (issue 13: a reason
    string each grew its memory with the file); its reason and cells are read again at the end.
    A line the file no longer has (it changed during the load) is still recorded, with no cells
    and so no number."""
    from etl.traces import insert

    rows = [f"R-{n},2019-01-01,MX,Sonora,,pistol,,,,undetermined,,," for n in (1, 2, 3, 1)]
    path = write_csv(tmp_path / "repeat.csv", [HEADER, *rows])
    monkeypatch.setattr(insert, "BATCH_ROWS", 2)  # the first R-1 goes in an earlier batch
    monkeypatch.setattr(insert, "allowed_cells_at", lambda stream, header, wanted: iter(()))

    result = load_trace_file(engine, path)

    ledger = pd.read_sql("SELECT line_number, reason, fields FROM rejected_rows", engine)
    fields = ledger["fields"][0]
    assert list(ledger["line_number"]) == [5]
    assert list(ledger["reason"]) == ["duplicate trace_number within this file"]
    assert (json.loads(fields) if isinstance(fields, str) else fields) == {}
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 3, 1)


def test_rows_breaking_the_other_rules_are_rejected_with_their_reason(engine, tmp_path):
    path = write_csv(
        tmp_path / "rules.csv",
        [
            HEADER,
            "R-01,2019-01-01,MX,Sonora,,pistol,,,,us_manufactured,AZ,2019-06-01,",
            "R-02,2019-01-01,MX,Sonora,,pistol,,,,domestic,,,",
            "R-03,2019-01-01,MX,Sonora,,pistol,,,,us_manufactured,AZ,01/13/2018,",
            "R-04,2019-01-01,MX,Sonora,,pistol,,,,us_manufactured,AZ,,ten",
            "R-05,2019-01-01,US,Sonora,,pistol,,,,us_manufactured,AZ,,",
            "R-06,2019-01-01,MX,Sonora,,pistol,,,,undetermined,AZ,,",
            "R-07,2019-01-01,MX,,,pistol,,,,undetermined,,,",
            ",2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,",
            "R-09,2019-01-01,MX,Sonora,pistol,,,,undetermined,,,",
            '"R-10","2019-01-01","MX","Sonora","Nogales,',
            'Sonora","pistol","","","","undetermined","","",""',
            "R-11,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,,,",
            "R-12,2019-01-01,MX,Sonora,,pistol,,,,us_manufactured,AZ,2018-01-01,5",
        ],
    )

    result = load_trace_file(engine, path)

    rejected = dict(pd.read_sql("SELECT line_number, reason FROM rejected_rows", engine).values)
    assert rejected == {
        2: "purchase_date 2019-06-01 is after recovery_date 2019-01-01",
        3: "unknown source_category",
        4: "bad purchase_date '01/13/2018': not a real YYYY-MM-DD or DD/MM/YYYY date",
        5: "time_to_crime_days is not a whole number of at most 9 digits",
        6: "recovery_country 'US' is not MX: only recoveries in Mexico load",
        7: "source_state 'AZ' given for an undetermined row",
        8: "recovery_state is blank",
        9: "trace_number is blank",
        10: "row has 12 fields, the header has 13",
        # No field may hold a line break: the open quote is this record's error only, and the
        # next line is read as a record of its own.
        11: "a quoted field is not closed on its line: a record cannot span lines",
        12: "row has 9 fields, the header has 13",
        13: "row has 15 fields, the header has 13",  # blank extra cells too
    }
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (13, 1, 12)
    loaded = pd.read_sql(
        "SELECT trace_number, recovery_city, time_to_crime_days FROM traces", engine
    )
    assert set(loaded["trace_number"]) == {"R-12"}
    # A given time-to-crime is kept as given, even when the dates would say otherwise.
    assert loaded.set_index("trace_number").loc["R-12", "time_to_crime_days"] == 5


def test_rejected_rows_keep_only_allow_listed_fields_and_misaligned_rows_keep_none(
    engine, tmp_path
):
    path = write_csv(
        tmp_path / "pii.csv",
        [
            HEADER + ",serial_number,purchaser_name",
            f"P-1,2019-02-30,MX,Sonora,,pistol,,,,undetermined,,,,{CANARY_SERIAL},{CANARY_NAME}",
            f"P-2,2019-01-01,MX,Sonora,pistol,,,,undetermined,,,,{CANARY_SERIAL},{CANARY_NAME}",
        ],
    )

    load_trace_file(engine, path)

    fields = pd.read_sql(
        "SELECT line_number, fields FROM rejected_rows ORDER BY line_number", engine
    )
    first, second = (
        json.loads(value) if isinstance(value, str) else value for value in fields["fields"]
    )
    # Only cells that passed their column's check; the trace number only on an aligned row.
    assert first == {
        "recovery_country": "MX",
        "recovery_state": "Sonora",
        "firearm_type": "pistol",
        "source_category": "undetermined",
    }
    assert second == {}


def test_dates_are_iso_or_day_first_and_must_exist():
    assert str(parse_date("2019-02-28")) == "2019-02-28"
    assert str(parse_date("05/06/2017")) == "2017-06-05"
    assert parse_date("2019-02-30") is None
    assert parse_date("06-05-2017") is None
    assert parse_date("2019-2-3") is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Pistola", "pistol"),
        ("REVÓLVER", "revolver"),
        ("revolver", "revolver"),
        ("escopeta", "shotgun"),
        ("Ametralladora", "machine_gun"),
        ("machine gun", "machine_gun"),
        (" Derringer ", "derringer"),
        ("laser", None),
    ],
)
def test_firearm_types_accept_english_and_spanish_in_any_case(raw, canonical):
    assert firearm_type_code(raw) == canonical


# --------------------------------------------------------------------------- encodings


def test_cp1252_file_with_accents_and_crlf_loads_and_maps_states(engine):
    result = load_trace_file(engine, FIXTURES / "latin1-crlf.csv")

    assert (result.status, result.encoding, result.rows_loaded, result.rows_rejected) == (
        RunStatus.LOADED,
        "cp1252",
        6,
        0,
    )
    traces = pd.read_sql("SELECT * FROM traces", engine).set_index("trace_number")
    assert traces["recovery_state"].to_dict() == {
        "LAT-0001": "16",
        "LAT-0002": "19",
        "LAT-0003": "22",
        "LAT-0004": "15",
        "LAT-0005": "24",
        "LAT-0006": "31",
    }
    assert traces.loc["LAT-0001", "recovery_city"] == "Apatzingán"
    assert traces.loc["LAT-0006", "recovery_city"] == "Mérida"  # no stray "\r" from CRLF
    assert traces["firearm_type"].to_dict() == {
        "LAT-0001": "revolver",
        "LAT-0002": "pistol",
        "LAT-0003": "shotgun",
        "LAT-0004": "machine_gun",
        "LAT-0005": "rifle",
        "LAT-0006": "revolver",
    }
    assert traces.loc["LAT-0002", "time_to_crime_days"] == 365
    assert traces.loc["LAT-0005", "source_state"] == "TX"
    assert traces.loc["LAT-0005", "recovery_country"] == "MX"  # blank means Mexico
    assert pd.read_sql("SELECT encoding FROM trace_files", engine)["encoding"].tolist() == [
        "cp1252"
    ]


def test_utf8_file_with_bom_and_a_reordered_mixed_case_header_loads(engine, caplog):
    caplog.set_level(logging.INFO, logger="etl.traces")

    result = load_trace_file(engine, FIXTURES / "utf8-bom.csv")

    assert (result.status, result.encoding, result.rows_loaded, result.rows_rejected) == (
        RunStatus.LOADED,
        "utf-8-sig",
        3,
        0,
    )
    traces = pd.read_sql("SELECT * FROM traces ORDER BY trace_number", engine)
    assert traces["recovery_state"].tolist() == ["09", "09", "30"]
    assert traces["firearm_type"].tolist() == ["pistol", "rifle", "revolver"]
    assert traces["source_category"].tolist() == ["us_manufactured", "undetermined", "us_imported"]
    assert traces["source_state"].fillna("-").tolist() == ["TX", "-", "AZ"]
    ignored = [r.getMessage() for r in caplog.records if "not in the format" in r.getMessage()]
    assert ignored == ["utf8-bom.csv: ignoring columns not in the format: notes"]


# --------------------------------------------------------------------------- duplicates across files


def test_trace_number_seen_in_an_earlier_file_counts_as_duplicate_in_a_later_one(engine, tmp_path):
    load_trace_file(engine, SAMPLE)
    later = write_csv(
        tmp_path / "later.csv",
        [
            HEADER,
            "SYN-0001,2021-01-01,MX,Jalisco,,rifle,,,,undetermined,,,",
            "NEW-0001,2021-01-02,MX,Jalisco,,rifle,,,,undetermined,,,",
        ],
    )

    result = load_trace_file(engine, later)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected, result.rows_duplicate) == (
        2,
        1,
        0,
        1,
    )
    owners = pd.read_sql(
        "SELECT t.trace_number, f.file_name, t.recovery_state FROM traces t "
        "JOIN trace_files f ON f.id = t.trace_file_id WHERE t.trace_number IN ('SYN-0001', 'NEW-0001')",
        engine,
    ).set_index("trace_number")
    assert owners.loc["SYN-0001"].tolist() == [
        "SYNTHETIC-etrace-style-sample.csv",
        "28",
    ]  # the first file's row stays
    assert owners.loc["NEW-0001", "file_name"] == "later.csv"


# --------------------------------------------------------------------------- aggregates


def test_source_state_aggregate_equals_a_pandas_groupby_of_the_loaded_traces(engine):
    load_trace_file(engine, SAMPLE)

    traces = pd.read_sql("SELECT * FROM traces", engine)
    aggregates = pd.read_sql("SELECT dimension, year, key, firearms FROM trace_aggregates", engine)

    def dimension(name: str) -> pd.Series:
        rows = aggregates[aggregates["dimension"] == name]
        return rows.set_index(["year", "key"])["firearms"].sort_index().rename(None)

    us = traces[traces["source_category"].isin(["us_manufactured", "us_imported"])].dropna(
        subset=["source_state"]
    )
    expected = us.groupby(["recovery_year", "source_state"]).size().sort_index()
    expected.index.names = ["year", "key"]
    pd.testing.assert_series_equal(dimension("source_state"), expected, check_names=False)

    totals = (
        aggregates[aggregates["dimension"] == "total"].set_index("year")["firearms"].sort_index()
    )
    assert aggregates.loc[aggregates["dimension"] == "total", "key"].isna().all()
    assert totals.to_dict() == traces.groupby("recovery_year").size().to_dict()
    for name in ("recovery_state", "firearm_type", "source_category", "time_to_crime_band"):
        assert dimension(name).groupby(level="year").sum().to_dict() == totals.to_dict(), name

    bands = pd.cut(
        traces["time_to_crime_days"],
        bins=[-1, 364, 3 * 365 - 1, 5 * 365 - 1, 10 * 365 - 1, 10**9],
        labels=["<1y", "1-3y", "3-5y", "5-10y", "10y+"],
    )
    traces["band"] = bands.astype(object).where(bands.notna(), "unknown")
    expected_bands = traces.groupby(["recovery_year", "band"]).size().sort_index()
    expected_bands.index.names = ["year", "key"]
    pd.testing.assert_series_equal(
        dimension("time_to_crime_band"), expected_bands, check_names=False
    )


# --------------------------------------------------------------------------- privacy


def canary_file(directory: Path, prefix: str = "C") -> Path:
    """A file whose sensitive and unknown columns carry canaries, on good, bad and misaligned rows."""
    header = HEADER + ",serial_number,purchaser_name,purchaser_address,notes,possessor_dob"
    pii = f"{CANARY_SERIAL},{CANARY_NAME},{CANARY_ADDRESS},{CANARY_NOTE},1970-01-01"
    return write_csv(
        directory / f"{prefix.lower()}-canary.csv",
        [
            header,
            f"{prefix}-1,2019-01-01,MX,Sonora,Nogales,pistol,,,,us_manufactured,AZ,2018-01-01,,{pii}",
            f"{prefix}-2,2019-02-30,MX,Sonora,Nogales,pistol,,,,us_manufactured,AZ,,,{pii}",
            f"{prefix}-3,2019-01-01,MX,Sonora,pistol,,,,us_manufactured,AZ,,,{pii}",  # a cell short
            f"{prefix}-1,2019-01-01,MX,Sonora,,pistol,,,,us_manufactured,AZ,,,{pii}",
            f"{prefix}-4,2019-01-01,MX,Atlantis,,pistol,,,,us_manufactured,AZ,,,{pii}",
        ],
    )


def headerless_canary_file(directory: Path) -> Path:
    """A file whose first line is a data row: its cells must not be echoed as column names."""
    return write_csv(
        directory / "headerless.csv",
        [f"C-9,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,,{CANARY_SERIAL},{CANARY_NAME}"],
    )


def assert_no_canary(text: str | bytes, where: str) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    for canary in CANARIES:
        assert canary.encode("utf-8") not in data, f"{canary!r} leaked into {where}"


def sqlite_file_bytes(engine: Engine) -> bytes:
    """The raw bytes of a SQLite database and its journal or WAL, if any."""
    path = Path(engine.url.database or "")
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def test_a_shifted_row_never_stores_a_serial_in_the_free_text_column_left_of_it(engine, tmp_path):
    # Column order is free: here manufacturer, a free-text column, sits left of serial_number.
    header = (
        "trace_number,recovery_date,recovery_country,recovery_state,firearm_type,"
        "source_category,source_state,manufacturer,serial_number,caliber,recovery_city"
    )
    path = write_csv(
        tmp_path / "shifted.csv",
        [
            header,
            f"S-1,2019-01-01,MX,Sonora,pistol,us_manufactured,AZ,Glock,{CANARY_SERIAL},9mm,Nogales",
            # The manufacturer cell is missing and a trailing comma restores the header's width:
            # manufacturer reads the serial, caliber the city, recovery_city the blank.
            f"S-2,2019-01-01,MX,Sonora,pistol,us_manufactured,AZ,{CANARY_SERIAL},9mm,Nogales,",
        ],
    )

    result = load_trace_file(engine, path)

    assert CANARY_SERIAL not in repr(dump(engine))
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 1, 1)


# Checked columns first (the shift never reaches them), then the free-text columns with a dropped
# one among them: a shift there moves cells between unchecked columns only, so no check sees it.
CHECKED_FIRST = (
    "trace_number,recovery_date,recovery_country,recovery_state,firearm_type,source_category,"
    "source_state,purchase_date,time_to_crime_days"
)
CHECKED_CELLS = "2019-01-01,MX,Sonora,pistol,us_manufactured,AZ,2018-01-01,"
FREE_TEXT = {
    "recovery_city": "Nogales",
    "manufacturer": "Glock",
    "caliber": "9mm",
    "country_of_manufacture": "Austria",
}


def shifted_layout(target: str, offset: int, dropped: str) -> list[str]:
    """The free-text block: `dropped` in the middle, `target` `offset` cells left of it (a
    negative offset: right of it), the other free-text columns around them in a fixed order."""
    block: list[str | None] = [None] * 5
    block[2] = dropped
    block[2 - offset] = target
    others = iter(name for name in FREE_TEXT if name != target)
    return [name if name is not None else next(others) for name in block]


def shifted_cells(block: list[str], target: str, dropped_value: str) -> tuple[str, str]:
    """A good row's block of cells, and the same row shifted so `target` reads `dropped_value`.

    Left of the dropped column: the cells from `target` on go missing and trailing commas make
    up the width. Right of it: blank cells appear before it and the row's last (blank) cells
    are dropped.
    """
    at_dropped, at_target = block.index(block[2]), block.index(target)
    shift = at_dropped - at_target
    good = [dropped_value if name == block[2] else FREE_TEXT[name] for name in block]
    if shift > 0:
        shifted = good[:at_target] + good[at_target + shift :] + [""] * shift
    else:
        source = good[:shift] + [""] * -shift  # the cells that go are blank ones
        shifted = (source[:at_dropped] + [""] * -shift + source[at_dropped:])[: len(good)]
    assert shifted[at_target] == dropped_value  # the test's own premise
    return ",".join(good), ",".join(shifted)


@pytest.mark.parametrize("offset", [2, 1, -1, -2], ids=["left-2", "left-1", "right-1", "right-2"])
@pytest.mark.parametrize("target", list(FREE_TEXT))
def test_a_serial_shifted_into_any_free_text_column_from_either_side_is_never_stored(
    engine, tmp_path, target, offset
):
    block = shifted_layout(target, offset, "serial_number")
    good, shifted = shifted_cells(block, target, CANARY_SERIAL)
    path = write_csv(
        tmp_path / "shifted.csv",
        [
            f"{CHECKED_FIRST},{','.join(block)}",
            f"S-1,{CHECKED_CELLS},{good}",
            f"S-2,{CHECKED_CELLS},{shifted}",
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 1, 1)
    [(line, reason, fields)] = rejected_rows(engine)
    assert line == 3 and fields == {}  # a row that may be shifted keeps none of its cells
    assert "shift" in reason
    assert_no_canary(repr(dump(engine, skip=())), "the database")


@pytest.mark.parametrize("offset", [1, 2], ids=["left-1", "left-2"])
@pytest.mark.parametrize("target", ["recovery_city", "manufacturer"])
def test_a_name_shifted_left_into_free_text_by_trailing_commas_is_never_stored(
    engine, tmp_path, caplog, target, offset
):
    # A name has the shape of a city or a maker: only the row's shape can give the shift away.
    block = shifted_layout(target, offset, "purchaser_name")
    good, shifted = shifted_cells(block, target, CANARY_NAME)
    header = f"{CHECKED_FIRST},{','.join(block)}"
    path = write_csv(
        tmp_path / "named.csv",
        [header, f"N-1,{CHECKED_CELLS},{good}", f"N-2,{CHECKED_CELLS},{shifted}"],
    )

    with caplog.at_level(logging.INFO, logger="etl.traces"):
        result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 1, 1)
    [(line, reason, fields)] = rejected_rows(engine)
    assert (line, fields) == (3, {})
    assert reason.startswith("the row ends in a blank cell and ") and target in reason
    assert_no_canary(repr(dump(engine, skip=())), "the database")
    # The file's layout is reported once, by column names only.
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{target} (near purchaser_name)" in warning
    assert_no_canary(warning, "the log")


def test_rows_that_end_blank_load_when_no_exposed_column_could_hold_a_shifted_value(
    engine, tmp_path
):
    # recovery_city sits left of purchaser_name: a blank last cell is harmless when the city
    # is blank too. With no unchecked column left of a dropped one, blank last cells are fine.
    exposed = f"{CHECKED_FIRST},recovery_city,purchaser_name,manufacturer"
    safe = f"purchaser_name,{CHECKED_FIRST},manufacturer,recovery_city"
    first = write_csv(
        tmp_path / "exposed.csv",
        [
            exposed,
            f"E-1,{CHECKED_CELLS},,Pat Example,",
            f"E-2,{CHECKED_CELLS},Nogales,Pat Example,",
            f"E-3,{CHECKED_CELLS},Nogales,Pat Example,Glock",
        ],
    )
    second = write_csv(tmp_path / "safe.csv", [safe, f"Pat Example,F-1,{CHECKED_CELLS},Glock,"])

    loaded = [load_trace_file(engine, path).rows_loaded for path in (first, second)]

    assert loaded == [2, 1]
    stored = pd.read_sql("SELECT trace_number FROM traces ORDER BY trace_number", engine)
    assert stored["trace_number"].tolist() == ["E-1", "E-3", "F-1"]
    assert [line for line, _, _ in rejected_rows(engine)] == [3]


def test_a_header_ending_in_a_comma_checks_the_last_named_cell_for_a_shift(engine, tmp_path):
    # Every line ends in a comma (an unnamed last column, always blank): the shift check reads
    # the cell under purchaser_name, the last named column, not the always-blank one.
    header = f"{CHECKED_FIRST},recovery_city,purchaser_name,"
    path = write_csv(
        tmp_path / "commas.csv",
        [
            header,
            f"U-1,{CHECKED_CELLS},Nogales,Pat Example,",
            f"U-2,{CHECKED_CELLS},,,",
            f"U-3,{CHECKED_CELLS},{CANARY_NAME},,",  # the city missing, a trailing comma added
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.rows_loaded, [line for line, _, _ in rejected_rows(engine)]) == (2, [4])
    assert_no_canary(repr(dump(engine, skip=())), "the database")


def test_identifier_shaped_values_in_every_free_text_column_are_rejected_and_never_echoed(
    engine, tmp_path
):
    # No dropped column at all: the cell shapes alone keep identifiers out of free-text columns.
    rows = [HEADER]
    identifiers = [CANARY_SERIAL, CANARY_NOTE, "1970-01-01", "SN00A1B2C3D4", "9-99-123-01-FAKE"]
    for number, value in enumerate(identifiers):
        cells = [value] * 4  # recovery_city, manufacturer, caliber, country_of_manufacture
        rows.append(
            f"I-{number},2019-01-01,MX,Sonora,{cells[0]},pistol,{cells[1]},{cells[2]},{cells[3]},"
            "us_manufactured,AZ,,"
        )
    for column in range(4):  # the canary serial in one free-text column at a time
        cells = ["Nogales", "Glock", "9mm", "AT"]
        cells[column] = CANARY_SERIAL
        rows.append(
            f"J-{column},2019-01-01,MX,Sonora,{cells[0]},pistol,{cells[1]},{cells[2]},{cells[3]},"
            "us_manufactured,AZ,,"
        )
    rows.append("K-1,2019-01-01,MX,Sonora,Nogales,pistol,Glock,7.62x39,AT,us_manufactured,AZ,,")
    path = write_csv(tmp_path / "identifiers.csv", rows)

    result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_loaded) == (len(rows) - 1, 1)
    rejected = rejected_rows(engine)
    assert [reason.split(" ")[0] for _, reason, _ in rejected[len(identifiers) :]] == [
        "recovery_city",
        "manufacturer",
        "caliber",
        "country_of_manufacture",
    ]
    for _, reason, fields in rejected:
        assert "shaped like an identifier" in reason and fields == {}
    assert_no_canary(repr(dump(engine, skip=())), "the database")
    assert "1970-01-01" not in repr(dump(engine, skip=()))


@pytest.mark.parametrize(
    "value",
    [
        "9mm",
        ".223",
        "7.62x39",
        "5.56x45mm NATO",
        "7.62x54R",
        ".300 AAC Blackout",
        "300BLK",
        ".30-06",
        "7mm-08",
        "12 GA",
        ".223 REM",
        ".50 BMG",
        "12 gauge",
        ".22 LR",
        "6.5 Creedmoor",
    ],
)
def test_calibres_pass_the_identifier_shape_check(value):
    assert not identifier_shaped(value, caliber=True)


def test_values_of_the_sample_and_the_generator_pass_and_identifiers_do_not():
    sample = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    for column in ("recovery_city", "manufacturer", "caliber", "country_of_manufacture"):
        for value in set(sample[column]):
            assert not identifier_shaped(value, caliber=column == "caliber"), value
    for city in {city for cities in synthetic.CITIES.values() for city in cities}:
        assert not identifier_shaped(city)
    for value in (*synthetic.MANUFACTURERS, *synthetic.MADE_IN):
        assert not identifier_shaped(value)
    for value in synthetic.CALIBERS:
        assert not identifier_shaped(value, caliber=True)
    for value in (CANARY_SERIAL, CANARY_NOTE, "SN00A1B2C3D4", "123456", "AB 1234X", "1970-01-01"):
        assert identifier_shaped(value) and identifier_shaped(value, caliber=True), value


def test_canary_serials_and_names_appear_nowhere_in_the_database_or_the_logs(
    backend_url, tmp_path, caplog
):
    completed = run_cli(
        "etl",
        "load-traces",
        str(canary_file(tmp_path)),
        str(headerless_canary_file(tmp_path)),
        database_url=backend_url,
        log_level="DEBUG",
    )
    assert completed.returncode == 2, completed.stderr  # the headerless file is refused
    assert "c-canary.csv: accepted — read 5, loaded 1, rejected 4" in completed.stdout
    assert "headerless.csv: REFUSED — missing required columns" in completed.stdout
    assert_no_canary(completed.stdout + completed.stderr, "the CLI output")

    caplog.set_level(logging.DEBUG)
    engine = make_engine(backend_url)
    result = load_trace_file(engine, canary_file(tmp_path, prefix="D"))
    refused = load_trace_file(engine, headerless_canary_file(tmp_path))

    assert (result.rows_loaded, result.rows_rejected) == (1, 4)
    assert refused.status == RunStatus.REFUSED
    assert_no_canary(refused.summary(), "the refusal message")
    assert_no_canary("\n".join(r.getMessage() for r in caplog.records), "the log")
    assert_no_canary(repr(dump(engine, skip=())), "the database")
    if engine.dialect.name == "sqlite":
        engine.dispose()
        assert_no_canary(sqlite_file_bytes(engine), "the SQLite file")
    engine.dispose()


@pytest.mark.parametrize(
    "dataset", ["traces-by-source-state", "traces-by-recovery-state", "traces-by-year"]
)
def test_canaries_appear_in_no_export(dataset, backend_url, tmp_path):
    loaded = run_cli("etl", "load-traces", str(canary_file(tmp_path)), database_url=backend_url)
    assert loaded.returncode == 0, loaded.stderr

    for fmt in ("csv", "json"):
        completed = run_cli("export", dataset, "--format", fmt, database_url=backend_url)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip()
        assert_no_canary(completed.stdout + completed.stderr, f"export {dataset} {fmt}")


def test_an_error_part_way_rolls_back_and_keeps_row_values_out_of_the_message(
    engine, monkeypatch, tmp_path
):
    from etl.traces import insert
    from etl.traces.insert import FileLoader

    load_trace_file(engine, SAMPLE)
    before = dump(engine)
    path = generate(tmp_path / "big.csv", 25_000, seed=11, bad_rate=0.0).path
    calls = []

    def broken_insert(self, rows, lines, *text):
        calls.append(rows.num_rows)
        if len(calls) == 2:
            raise ValueError(f"cannot store {rows.column('trace_number')[0]} {CANARY_SERIAL}")
        original(self, rows, lines, *text)

    # A batch goes into PostgreSQL's open COPY (`_stream`), or SQLite's staging file (`_insert`).
    inserting = "_stream" if engine.dialect.name == "postgresql" else "_insert"
    original = getattr(FileLoader, inserting)
    monkeypatch.setattr(FileLoader, inserting, broken_insert)
    monkeypatch.setattr(insert, "BATCH_ROWS", 10_000)  # the file is three batches

    result = load_trace_file(engine, path)

    assert result.status == RunStatus.FAILED
    assert re.fullmatch(
        r"ValueError near line \d+; nothing from this file was kept", result.message
    )
    assert_no_canary(result.summary(), "the failure message")
    assert "SYN-11-" not in result.summary()
    assert dump(engine) == before
    assert runs(engine)[-1][1] == "failed"


def test_driver_errors_are_reported_without_the_values_they_quote():
    class DriverError(Exception):
        pass

    orig = DriverError(
        'duplicate key value violates unique constraint "pk_traces"\n'
        "DETAIL:  Key (trace_number)=(SYN-0001) already exists."
    )
    error = IntegrityError("INSERT INTO traces ...", (CANARY_SERIAL,), orig)
    bad_date = IntegrityError(
        "INSERT", (), DriverError('invalid input syntax for type date: "CANARY"')
    )

    assert describe_error(error) == (
        'DriverError: duplicate key value violates unique constraint "pk_traces"'
    )
    assert describe_error(bad_date) == "DriverError: invalid input syntax for type date: '…'"
    assert describe_error(KeyError(CANARY_NAME)) == "KeyError"


# --------------------------------------------------------------------------- crash safety


def test_a_load_killed_part_way_leaves_the_database_unchanged_and_a_rerun_succeeds(
    backend_url, tmp_path
):
    engine = make_engine(backend_url)
    load_trace_file(engine, SAMPLE)
    big = generate(tmp_path / file_name(300_000, 3), 300_000, seed=3)
    before = dump(engine)
    runs_before = runs(engine)
    under_way = progress_probe(engine)

    env = {**os.environ, "DATABASE_URL": backend_url}
    process = subprocess.Popen(
        [*CLI, "etl", "load-traces", str(big.path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None and not under_way():
            time.sleep(0.02)
        assert process.poll() is None, "the load ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL

    assert dump(engine) == before
    runs_after = runs(engine)
    assert runs_after[: len(runs_before)] == runs_before
    assert [run[1] for run in runs_after[len(runs_before) :]] == ["running"]

    completed = run_cli("etl", "load-traces", str(big.path), database_url=backend_url)
    assert completed.returncode == 0, completed.stderr
    assert f"loaded {300_000 - big.bad_rows}, rejected {big.bad_rows}" in completed.stdout
    engine.dispose()


def progress_probe(engine: Engine) -> Callable[[], bool]:
    """A check that a load's transaction has written a good part of its rows, not yet committed."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        wal = path.with_name(path.name + "-wal")

        def written() -> int:
            return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

        start = written()
        # A big transaction spills pages into the file (or the WAL) long before it commits.
        return lambda: written() > start + 4_000_000

    def copying() -> bool:
        with engine.connect() as connection:
            return bool(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query LIKE 'COPY traces%'"
                    )
                ).scalar()
            )

    return copying


# --------------------------------------------------------------------------- synthetic files


def test_synthetic_files_are_deterministic_have_bad_rows_and_load_with_rejects(engine, tmp_path):
    (tmp_path / "a").mkdir()
    first = generate(tmp_path / "a" / file_name(4000, 5), 4000, seed=5)
    second = generate(tmp_path / "b.csv", 4000, seed=5)
    other = generate(tmp_path / "c.csv", 4000, seed=6)

    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()
    assert 0.01 * 4000 <= first.bad_rows <= 0.03 * 4000
    header = first.path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"serial_number", "purchaser_name"} <= set(header)

    result = load_trace_file(engine, first.path)

    assert result.rows_read == 4000
    assert result.rows_rejected == first.bad_rows > 0
    assert result.rows_loaded == 4000 - first.bad_rows
    assert pd.read_sql("SELECT synthetic FROM trace_files", engine)["synthetic"].tolist() == [1]


def test_synthetic_cp1252_crlf_file_loads_like_the_utf8_one(engine, tmp_path):
    utf8 = generate(tmp_path / "u.csv", 2000, seed=9)
    cp1252 = generate(tmp_path / "w.csv", 2000, seed=9, encoding="cp1252", crlf=True)
    assert b"\r\n" in cp1252.path.read_bytes()

    result = load_trace_file(engine, cp1252.path)

    assert (result.encoding, result.rows_rejected) == ("cp1252", utf8.bad_rows)
    states = pd.read_sql("SELECT recovery_state, recovery_city FROM traces", engine)
    assert states["recovery_state"].str.fullmatch(r"\d\d").all()
    assert not states["recovery_city"].dropna().str.contains("\r|Ã").any()


def test_synthetic_command_names_files_by_rows_and_seed(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.synthetic",
            "--rows",
            "50",
            "--seed",
            "4",
            "-o",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    target = tmp_path / "SYNTHETIC-etrace-50-4.csv"
    assert str(target) in completed.stdout
    assert len(target.read_text(encoding="utf-8").splitlines()) == 51


def test_every_aggregate_dimension_name_fits_its_column():
    from db.models import TraceAggregate
    from etl.traces import AGGREGATE_DIMENSIONS

    width = TraceAggregate.__table__.c.dimension.type.length
    assert all(len(name) <= width for name in AGGREGATE_DIMENSIONS)


# --------------------------------------------------------------------------- hostile input (issue 8)

PII_HEADER = HEADER + ",serial_number,purchaser_name,purchaser_address"
PII = f"{CANARY_SERIAL},{CANARY_NAME},{CANARY_ADDRESS}"


def rejected_rows(engine: Engine) -> list[tuple[int, str, dict]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT line_number, reason, fields FROM rejected_rows ORDER BY line_number")
        ).all()
    return [
        (line, reason, json.loads(fields) if isinstance(fields, str) else fields)
        for line, reason, fields in rows
    ]


def test_an_unbalanced_quote_rejects_only_its_line_and_the_next_line_is_its_own_record(
    engine, tmp_path
):
    path = write_csv(
        tmp_path / "quote.csv",
        [
            PII_HEADER,
            f"Q-1,2019-01-01,MX,Sonora,,pistol,Example Works,,,undetermined,,,,{PII}",
            f'Q-2,2019-01-01,MX,Sonora,,pistol,"Example Works,,,undetermined,,,,{PII}',
            f"Q-3,2019-01-01,MX,Sonora,,rifle,Example Works,,,undetermined,,,,{PII}",
            f"Q-4,2019-01-01,MX,Jalisco,,rifle,Demo,,,undetermined,,,,{PII}",
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 3, 1)
    assert rejected_rows(engine) == [
        (3, "a quoted field is not closed on its line: a record cannot span lines", {})
    ]
    stored = pd.read_sql("SELECT trace_number, manufacturer FROM traces", engine)
    assert sorted(stored["trace_number"]) == ["Q-1", "Q-3", "Q-4"]
    assert set(stored["manufacturer"]) == {"Example Works", "Demo"}
    assert_no_canary(repr(dump(engine, skip=())), "the database")


def test_a_row_short_of_a_cell_but_with_a_trailing_comma_keeps_none_of_its_shifted_cells(
    engine, tmp_path
):
    # The caliber cell is missing and a trailing comma restores the header's width: every cell
    # after it shifts left, so the serial lands under time_to_crime_days and the name under
    # serial_number.
    path = write_csv(
        tmp_path / "shift.csv",
        [
            PII_HEADER,
            f"S-1,2019-01-01,MX,Sonora,Nogales,pistol,Demo,US,us_manufactured,AZ,,,{PII},",
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_rejected) == (1, 1)
    [(line, reason, fields)] = rejected_rows(engine)
    assert line == 2
    assert_no_canary(reason + json.dumps(fields), "the rejected row")
    assert "Nogales" not in json.dumps(fields) and "Demo" not in json.dumps(fields)  # free text
    assert "trace_number" not in fields  # its cells are misaligned: the id is not trusted
    assert_no_canary(repr(dump(engine, skip=())), "the database")


def test_counts_add_up_to_the_data_records_of_the_file(engine, tmp_path):
    lines = [
        HEADER,
        "N-1,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,",
        "",
        "N-2,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,,",
        '"N-3,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,',
        "N-4,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,",
        "N-1,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,",
    ]
    path = write_csv(tmp_path / "counts.csv", lines)
    data_records = sum(1 for line in lines[1:] if line)

    result = load_trace_file(engine, path)

    assert result.rows_read == data_records == 5
    assert result.rows_read == result.rows_loaded + result.rows_rejected + result.rows_duplicate
    assert [line for line, _, _ in rejected_rows(engine)] == [4, 5, 7]


@pytest.mark.parametrize(
    ("recovered", "purchased", "days", "reason"),
    [
        ("0001-01-01", "", "", "recovery_date 0001-01-01 is before 1900-01-01"),
        ("31/12/1899", "", "", "recovery_date 1899-12-31 is before 1900-01-01"),
        ("2019-01-01", "1850-06-01", "", "purchase_date 1850-06-01 is before 1900-01-01"),
        (
            "2019-01-01",
            "",
            "50000",
            "time_to_crime_days '50000' puts the first retail sale before 1900-01-01",
        ),
    ],
)
def test_dates_and_time_to_crime_outside_1900_to_today_are_rejected(
    engine, tmp_path, recovered, purchased, days, reason
):
    path = write_csv(
        tmp_path / "dates.csv",
        [
            HEADER,
            f"D-1,{recovered},MX,Sonora,,pistol,,,,us_manufactured,AZ,{purchased},{days}",
            "D-2,1900-01-01,MX,Sonora,,pistol,,,,us_manufactured,AZ,1900-01-01,",
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert [(line, text) for line, text, _ in rejected_rows(engine)] == [(2, reason)]


def test_one_invalid_byte_in_a_utf8_file_rejects_only_its_line(engine, tmp_path):
    good = [
        f"U-{n},2019-01-01,MX,Michoacán,Apatzingán,revólver,,,,undetermined,,,".encode()
        for n in range(1, 6)
    ]
    stray = b"U-9,2019-01-01,MX,Yucat\xe1n,M\xe9rida,pistol,,,,undetermined,,,"  # cp1252 bytes
    path = tmp_path / "stray.csv"
    path.write_bytes(b"\n".join([HEADER.encode(), *good[:3], stray, *good[3:]]) + b"\n")

    result = load_trace_file(engine, path)

    assert (result.encoding, result.rows_loaded, result.rows_rejected) == ("utf-8", 5, 1)
    assert [(line, text) for line, text, _ in rejected_rows(engine)] == [
        (5, "the row has bytes that are not valid UTF-8 (the rest of the file is UTF-8)")
    ]
    stored = pd.read_sql("SELECT recovery_state, recovery_city, firearm_type FROM traces", engine)
    assert set(map(tuple, stored.values)) == {("16", "Apatzingán", "revolver")}


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: path.mkdir(), "not a regular file: a directory"),
        (lambda path: os.mkfifo(path), "not a regular file: a named pipe (FIFO)"),
    ],
    ids=["directory", "fifo"],
)
def test_a_path_that_is_not_a_regular_file_is_refused_without_reading_it(
    engine, tmp_path, make, kind
):
    path = tmp_path / "input.csv"
    make(path)

    result = load_trace_file(engine, path)  # a FIFO with no writer: reading it would block

    assert (result.status, result.message) == (RunStatus.REFUSED, kind)
    assert dump(engine)["trace_files"] == []


def test_the_cli_refuses_dev_zero_with_exit_2_instead_of_hashing_it_forever(db_url):
    completed = subprocess.run(
        [*CLI, "etl", "load-traces", "/dev/zero"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2, completed.stderr
    assert "zero: REFUSED — not a regular file: a character device" in completed.stdout


def write_xlsx(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")


@pytest.mark.parametrize(
    ("write", "what"),
    [
        (
            lambda p: p.write_text(HEADER + "\n", encoding="utf-16"),
            "not a CSV text file: UTF-16 text: save it as UTF-8 or Windows-1252 CSV",
        ),
        (
            lambda p: p.write_bytes((HEADER + "\n").encode("utf-16-le")),
            "not a CSV text file: UTF-16 text without a byte-order mark: "
            "save it as UTF-8 or Windows-1252 CSV",
        ),
        (
            lambda p: p.write_bytes(gzip.compress((HEADER + "\n").encode())),
            "not a CSV text file: a gzip archive: decompress it first",
        ),
        (
            write_xlsx,
            "not a CSV text file: a ZIP archive (an .xlsx workbook is one): export the sheet as CSV",
        ),
        (
            lambda p: p.write_bytes(bytes(range(256)) * 64),
            "not a CSV text file: binary data",
        ),
    ],
    ids=["utf-16", "utf-16-no-bom", "gzip", "xlsx", "binary"],
)
def test_files_that_are_not_csv_text_are_refused_saying_what_they_are(
    engine, tmp_path, write, what
):
    path = tmp_path / "export.csv"
    write(path)

    result = load_trace_file(engine, path)

    assert (result.status, result.message) == (RunStatus.REFUSED, what)
    assert dump(engine)["trace_files"] == []


def test_a_file_name_with_a_newline_cannot_forge_a_log_line(engine, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="etl.traces")
    forged = "a.csv\n2026-11-29 10:00:00,000 ERROR etl.traces: forged.csv: FAILED"
    path = write_csv(
        tmp_path / forged, [HEADER, "F-1,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,"]
    )

    result = load_trace_file(engine, path)

    assert result.status == RunStatus.LOADED
    assert "\n" not in result.summary()
    assert result.summary().startswith("a.csv\\n2026-11-29 10:00:00,000 ERROR")
    messages = [record.getMessage() for record in caplog.records]
    assert messages and not any("\n" in message for message in messages)


@pytest.mark.parametrize("state", ["-5", "+7", "Jalisco!!", "１４", "0" * 5000 + "1"])
def test_state_cells_that_are_not_a_code_or_a_name_are_rejected(engine, tmp_path, state):
    path = write_csv(
        tmp_path / "states.csv",
        [
            HEADER,
            f"T-1,2019-01-01,MX,{state},,pistol,,,,undetermined,,,",
            f"T-2,2019-01-01,MX,Sonora,,pistol,,,,us_manufactured,{state},,",
            "T-3,2019-01-01,MX,Edo. de México,,pistol,,,,us_manufactured,tx,,",
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.rows_loaded, result.rows_rejected) == (1, 2)
    reasons = [reason for _, reason, _ in rejected_rows(engine)]
    assert reasons[0].startswith("unknown Mexican state")
    assert reasons[1].startswith("unknown source_state")


def test_a_row_with_a_nul_byte_is_rejected_and_the_others_load(engine, tmp_path):
    path = write_csv(
        tmp_path / "nul.csv",
        [
            HEADER,
            "Z-1,2019-01-01,MX,Sonora,Nog\x00ales,pistol,,,,undetermined,,,",
            "Z-2,2019-01-01,MX,Sonora,Nogales,pistol,,,,undetermined,,,",
        ],
    )

    result = load_trace_file(engine, path)

    assert (result.status, result.rows_loaded, result.rows_rejected) == (RunStatus.LOADED, 1, 1)
    assert rejected_rows(engine) == [(2, "the row contains a NUL byte", {})]


def test_cr_only_and_mixed_line_endings_read_one_record_per_line(engine, tmp_path):
    rows = [f"E-{n},2019-01-01,MX,Sonora,,pistol,,,,undetermined,,," for n in range(1, 5)]
    path = tmp_path / "endings.csv"
    path.write_bytes(
        (HEADER + "\r" + rows[0] + "\r\n" + rows[1] + "\n" + rows[2] + "\r" + rows[3]).encode()
    )

    result = load_trace_file(engine, path)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 4, 0)
