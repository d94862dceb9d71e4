"""Values a binary COPY could get wrong (NULLs, empty text, non-ASCII, dates, integers), stored as read."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select, text

from db.models import RunStatus, Trace
from etl.traces import insert, load_trace_file
from etl.traces.copying import TRACES_COPY, copy_stream
from etl.traces.rows import ROW_SCHEMA
from tests.test_traces import HEADER, write_csv

# One line a row, in HEADER's order, and the stored values it must become: dates on both sides
# of Arrow's day 0 (1970-01-01) and PostgreSQL's (2000-01-01), the format's earliest day and a
# leap day; blank optional cells (NULL); text beyond ASCII, up to four bytes a character; a
# time-to-crime of 0, derived from the dates, and the largest one a date allows (back to 1900).
EDGE_LINES = [
    "EDGE-01,1900-01-01,MX,Jalisco,San Luis Río Colorado,rifle,,,,undetermined,,,0",
    "EDGE-02,1969-12-31,MX,Sonora,,pistol,Česká zbrojovka,.380 Auto,Česko,us_imported,TX,1969-12-30,",
    "EDGE-03,1970-01-01,MX,Sonora,Ciudad Obregón,pistol,Ñandú 𝔸rms,,,us_manufactured,AZ,1900-01-01,",
    "EDGE-04,1999-12-31,MX,Jalisco,,revolver,,.38,,undetermined,,,",
    "EDGE-05,2000-01-01,MX,Jalisco,,revolver,,,,undetermined,,1999-12-31,",
    "EDGE-06,2000-02-29,MX,Jalisco,León,shotgun,,12 ga,,non_us,,,36583",
]
D = dt.date
EDGE_STORED = [
    ("EDGE-01", D(1900, 1, 1), 1900, "San Luis Río Colorado", None, None, None, None, 0),
    (
        "EDGE-02",
        D(1969, 12, 31),
        1969,
        None,
        "Česká zbrojovka",
        ".380 Auto",
        "Česko",
        D(1969, 12, 30),
        1,
    ),
    (
        "EDGE-03",
        D(1970, 1, 1),
        1970,
        "Ciudad Obregón",
        "Ñandú 𝔸rms",
        None,
        None,
        D(1900, 1, 1),
        25567,
    ),
    ("EDGE-04", D(1999, 12, 31), 1999, None, None, ".38", None, None, None),
    ("EDGE-05", D(2000, 1, 1), 2000, None, None, None, None, D(1999, 12, 31), 1),
    ("EDGE-06", D(2000, 2, 29), 2000, "León", None, "12 ga", None, None, 36583),
]


def stored_edges(engine: Engine) -> list[tuple]:
    query = select(
        Trace.trace_number,
        Trace.recovery_date,
        Trace.recovery_year,
        Trace.recovery_city,
        Trace.manufacturer,
        Trace.caliber,
        Trace.country_of_manufacture,
        Trace.purchase_date,
        Trace.time_to_crime_days,
    ).where(Trace.trace_number.like("EDGE-%"))
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(query))


def test_edge_values_are_stored_as_read_when_streamed(engine, monkeypatch, tmp_path):
    """Every edge value goes in through the streamed COPY groups unchanged, on both backends."""
    monkeypatch.setattr(insert, "BATCH_ROWS", 2)
    path = write_csv(tmp_path / "edges.csv", [HEADER, *EDGE_LINES])

    result = load_trace_file(engine, path)

    assert (result.status, result.rows_loaded, result.rows_rejected) == (RunStatus.LOADED, 6, 0)
    assert stored_edges(engine) == EDGE_STORED


def test_edge_values_are_stored_as_read_when_their_refused_group_goes_in_again(
    engine, monkeypatch, tmp_path
):
    """A group the unique key refuses goes in again batch by batch, through a COPY of its own
    for each batch's new rows: the same values come out of it."""
    earlier = write_csv(
        tmp_path / "earlier.csv",
        [HEADER, "EDGE-04,2001-05-05,MX,Jalisco,,rifle,,,,undetermined,,,"],
    )
    assert load_trace_file(engine, earlier).rows_loaded == 1
    monkeypatch.setattr(insert, "BATCH_ROWS", 2)
    path = write_csv(tmp_path / "edges.csv", [HEADER, *EDGE_LINES])

    result = load_trace_file(engine, path)

    assert (result.rows_loaded, result.rows_duplicate) == (5, 1)
    kept_from_earlier = ("EDGE-04", D(2001, 5, 5), 2001, None, None, None, None, None, None)
    assert stored_edges(engine) == [
        kept_from_earlier if row[0] == "EDGE-04" else row for row in EDGE_STORED
    ]


@pytest.fixture
def postgres_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's")
    return engine


def one_row(**values: object) -> pa.Table:
    row = {
        "trace_file_id": 1,
        "trace_number": "ROW-1",
        "recovery_date": "2021-03-04",
        "recovery_year": 2021,
        "recovery_country": "MX",
        "recovery_state": "14",
        "recovery_city": None,
        "firearm_type": "rifle",
        "manufacturer": None,
        "caliber": None,
        "country_of_manufacture": None,
        "source_category": "undetermined",
        "source_state": None,
        "purchase_date": None,
        "time_to_crime_days": None,
        **values,
    }
    return pa.Table.from_pylist([row], schema=ROW_SCHEMA)


def copy_in(engine: Engine, data: bytes) -> None:
    with engine.begin() as connection:
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(TRACES_COPY) as copy:  # type: ignore[union-attr]
            copy.write(data)


def test_an_empty_text_and_a_null_stay_apart_in_the_binary_copy(postgres_engine):
    """The checks never keep an empty cell as text, but if a row carried one it would go in as
    an empty text, as the CSV COPY's quoted "" did, and a missing value as NULL."""
    rows = pa.concat_tables(
        [
            one_row(trace_number="EMPTY", recovery_city="", caliber=None),
            one_row(trace_number="NULL", recovery_city=None, caliber=""),
        ]
    )

    copy_in(postgres_engine, copy_stream(rows))

    query = text("SELECT trace_number, recovery_city, caliber FROM traces ORDER BY trace_number")
    with postgres_engine.connect() as connection:
        assert connection.execute(query).all() == [("EMPTY", "", None), ("NULL", None, "")]


def test_the_check_constraint_still_refuses_a_negative_time_to_crime(postgres_engine):
    """The table's CHECK holds for binary COPY as for CSV: nothing of the batch is stored."""
    rows = one_row(time_to_crime_days=-1)

    with pytest.raises(Exception, match="ttc_not_negative"):
        copy_in(postgres_engine, copy_stream(rows))

    with postgres_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM traces")).scalar_one() == 0


def test_a_date_that_is_not_iso_text_fails_before_the_server(postgres_engine):
    """Dates travel as ISO text until they are encoded: anything else cannot become a wrong day."""
    with pytest.raises(pa.ArrowInvalid):
        copy_stream(one_row(recovery_date="04/03/2021"))
