"""The loader's Arrow conversions give what pyarrow's own converters give, without pandas."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from bench.synthetic import generate
from db.engine import make_engine
from db.migrate import upgrade
from etl.traces.arrays import (
    column,
    empty_strings,
    fixed_width_strings,
    fixed_width_texts,
    from_numpy,
    strings,
    to_numpy,
)
from etl.traces.rows import ROW_SCHEMA, rows_table
from tests.conftest import sqlite_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, -1, 0, 2**40], dtype=np.int64),
        np.array([5, 7, 9], dtype=np.int32),
        np.array([0.5, -2.0, np.inf]),
        np.array([True, False, True, True, False, False, True, True, False, True, True]),
        np.array([], dtype=np.int64),
        np.arange(20, dtype=np.int64)[::3],  # not contiguous
    ],
)
def test_numpy_arrays_become_the_arrow_arrays_pyarrow_makes(values: np.ndarray) -> None:
    assert from_numpy(values).equals(pa.array(values))


def test_nulls_are_where_the_mask_says_as_pyarrow_puts_them() -> None:
    values = np.arange(11, dtype=np.int64)
    nulls = values % 3 == 0
    made = from_numpy(values, nulls=nulls)
    assert made.equals(pa.array(values, mask=nulls))
    assert made.null_count == 4


@pytest.mark.parametrize(
    "values", [["a", "", None, "Edo. de México", "🙂", None], [], ["only"], [None]]
)
def test_texts_become_the_arrow_strings_pyarrow_makes(values: list[str | None]) -> None:
    assert strings(values).equals(pa.array(values, type=pa.string()))


def test_texts_of_one_width_are_found_with_their_bytes_and_come_back_as_arrow_strings() -> None:
    # "Michoacán!" is 10 characters but 11 bytes.
    texts = ["2019-03-04", "", "04/03/2019", "x", "Michoacán!", "2019-03-045", "1999-12-31"]
    array = pa.array(["skipped", *texts], type=pa.string()).slice(1)  # an offset, as slices have
    chosen, chars = fixed_width_texts(array, 10)

    ten_bytes = [len(text.encode()) == 10 for text in texts]
    assert chosen.tolist() == ten_bytes
    assert [bytes(row).decode() for row in chars] == [t for t in texts if len(t.encode()) == 10]
    made = fixed_width_strings(chars, np.array([True, False, True]))
    made.validate(full=True)
    assert made.equals(pa.array(["2019-03-04", None, "1999-12-31"], type=pa.string()))
    assert fixed_width_texts(pa.array(["", "ab"], type=pa.string()), 10)[1].shape == (0, 10)


def test_columns_of_python_values_are_typed_as_rows_are_stored() -> None:
    assert column([1, None, 365], pa.int64()).equals(pa.array([1, None, 365], pa.int64()))
    assert column(["MX", None], pa.string()).equals(pa.array(["MX", None], pa.string()))
    with pytest.raises(TypeError):
        column([1.5], pa.float64())
    assert empty_strings(3).equals(pa.array(["", "", ""]))
    assert rows_table([]).equals(ROW_SCHEMA.empty_table())


@pytest.mark.parametrize(
    "array",
    [
        pa.array([4, 8, 15, 16, 23, 42], pa.int32()).slice(2, 3),  # an offset into its buffers
        pa.array([2**63 - 1, 0], pa.uint64()),
        pa.array([1.5, -0.25]),
        pa.array([True, False, True] * 5).slice(3, 10),  # a bit offset that is not a whole byte
        pa.chunked_array([pa.array([1, 2], pa.int64()), pa.array([3], pa.int64())]),
    ],
)
def test_arrow_arrays_come_back_as_the_numpy_arrays_pyarrow_gives(array: pa.Array) -> None:
    expected = array.to_numpy(zero_copy_only=False)
    got = to_numpy(array)
    assert got.dtype == expected.dtype
    assert got.tolist() == expected.tolist()


def test_nulls_come_back_as_the_value_given_for_them_and_never_silently() -> None:
    array = pa.array([1.0, None, 3.0]).slice(1)
    assert np.isnan(to_numpy(array, null=np.nan)[0])
    assert to_numpy(array, null=0.0).tolist() == [0.0, 3.0]
    with pytest.raises(ValueError, match="nulls"):
        to_numpy(array)
    with pytest.raises(TypeError):
        to_numpy(pa.array(["text"]))


def _load_reporting_imports(database_url: str, traces: Path) -> subprocess.CompletedProcess[str]:
    """`ironriver etl load-traces` in a new process that says which of pandas and Alembic it
    imported, and which database drivers (psycopg, ADBC's SQLite driver)."""
    report = (
        "import sys\n"
        "from etl.launcher import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print('imported:', [m for m in ('pandas', 'alembic') if m in sys.modules])\n"
        "    drivers = ('psycopg', 'adbc_driver_sqlite')\n"
        "    print('drivers:', [m for m in drivers if m in sys.modules])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", report, "etl", "load-traces", str(traces)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_trace_load_imports_neither_pandas_nor_alembic_on_both_backends(
    backend_url: str, tmp_path: Path
) -> None:
    # Enough plain rows for the columnar checks; the same layout as the benchmark's files.
    traces = generate(tmp_path / "SYNTHETIC-traces.csv", 2_000).path
    completed = _load_reporting_imports(backend_url, traces)
    assert completed.returncode == 0, completed.stderr
    assert "accepted — read 2000" in completed.stdout
    assert "imported: []" in completed.stdout
    # Each backend's own driver only (importing psycopg alone is ~35 ms of CPU).
    sqlite = backend_url.startswith("sqlite")
    assert f"drivers: {['adbc_driver_sqlite'] if sqlite else ['psycopg']}" in completed.stdout


def test_a_trace_load_closes_its_connection_so_no_write_ahead_log_is_left(tmp_path: Path) -> None:
    database = tmp_path / "ironriver.sqlite"
    engine = make_engine(sqlite_url(database))
    upgrade(engine)
    engine.dispose()  # the load's connection is then the only one
    traces = generate(tmp_path / "SYNTHETIC-traces.csv", 2_000).path
    completed = _load_reporting_imports(sqlite_url(database), traces)
    assert completed.returncode == 0, completed.stderr
    assert "accepted — read 2000" in completed.stdout
    # Closed before the process ended: SQLite checkpointed the log into the file and removed it.
    assert not Path(f"{database}-wal").exists()
    loaded = re.search(r"loaded (\d+),", completed.stdout)
    assert loaded is not None
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT count(*) FROM traces").fetchone() == (int(loaded[1]),)
