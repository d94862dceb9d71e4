"""The checksum pass the CLI begins before its imports decides exactly what the loader's own would."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from db.models import EtlRun, RunStatus, Trace, TraceFile
from etl import first_pass
from etl.first_pass import Begun, paths_to_load
from etl.traces import load_trace_file
from etl.traces.insert import FileLoader
from etl.traces.reading import inspect_file

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from etl.launcher import main; main()"]
HEADER = (
    "trace_number,recovery_date,recovery_country,recovery_state,recovery_city,firearm_type,"
    "manufacturer,caliber,country_of_manufacture,source_category,source_state,purchase_date,"
    "time_to_crime_days"
)


def rows(count: int, city: str = "Culiacán", start: int = 0) -> list[str]:
    return [
        f"FP-{start + n:06d},2019-03-04,MX,Sinaloa,{city},pistol,Example Works,9mm,AT,"
        "us_imported,TX,2018-01-02,"
        for n in range(count)
    ]


def write(path: Path, lines: list[str], encoding: str = "utf-8", ending: str = "\n") -> Path:
    path.write_bytes(ending.join(lines).encode(encoding) + ending.encode())
    return path


@pytest.mark.parametrize(
    ("argv", "files"),
    [
        (["ironriver", "etl", "load-traces", "a.csv", "b.csv"], ["a.csv", "b.csv"]),
        (["-c", "--log-format", "json", "etl", "load-traces", "a.csv"], ["a.csv"]),
        (["ironriver", "etl", "load-traces", "--", "-odd.csv"], ["-odd.csv"]),
        (["ironriver", "etl", "load-traces", "--help"], []),
        (["ironriver", "etl", "run"], []),
        (["ironriver", "export", "etl", "load-traces"], []),
        (["pytest", "-q", "tests/test_traces.py"], []),
        (["ironriver"], []),
    ],
)
def test_only_a_load_traces_command_line_names_files_to_pass_over(argv, files):
    assert paths_to_load(argv) == files


def test_the_begun_pass_decides_what_the_loaders_own_pass_decides(tmp_path):
    files = [
        write(tmp_path / "ascii.csv", [HEADER, *rows(3, city="Culiacan")]),
        write(tmp_path / "utf8.csv", [HEADER, *rows(3)]),
        write(tmp_path / "bom.csv", [HEADER, *rows(3)], encoding="utf-8-sig"),
        write(tmp_path / "cp1252.csv", [HEADER, *rows(3)], encoding="cp1252", ending="\r\n"),
        write(tmp_path / "cr-only.csv", [HEADER, *rows(3)], ending="\r"),
        tmp_path / "empty.csv",
    ]
    files[-1].write_bytes(b"")
    stray = tmp_path / "one-stray-byte.csv"
    stray.write_bytes(
        ("\n".join([HEADER, *rows(3)]) + "\n").encode() + b"FP-9,Yucat\xe1n\n"
    )  # a file UTF-8 but for one line: only that line is rejected
    files.append(stray)

    begun = Begun(files)
    from_thread = [inspect_file(path, begun) for path in files]
    own = [inspect_file(path) for path in files]

    assert from_thread == own
    assert [inspection.encoding for inspection in own] == [
        "utf-8",
        "utf-8",
        "utf-8-sig",
        "cp1252",
        "utf-8",
        "utf-8",
        "utf-8",
    ]
    assert own[-1].bad_lines == 1
    read_here = []
    for path in files:
        with first_pass.open_regular(path) as stream:
            read_here.append(first_pass.read_first_pass(stream))
    assert [begun.result_for(path) for path in files] == read_here


def test_a_file_changed_after_its_pass_is_hashed_again(tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, *rows(3)])
    begun = Begun([path])
    assert begun.result_for(path) is not None
    write(path, [HEADER, *rows(4)])

    inspection = inspect_file(path, begun)

    assert inspection.checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_put_in_place_of_the_one_passed_over_is_hashed_again(tmp_path):
    """Same size, same modification time, other bytes: a new file at the path is a new inode."""
    path = write(tmp_path / "export.csv", [HEADER, *rows(3)])
    begun = Begun([path])
    assert begun.result_for(path) is not None
    other = write(tmp_path / "other.csv", [HEADER, *rows(3, start=500)])
    status = path.stat()
    os.utime(other, ns=(status.st_atime_ns, status.st_mtime_ns))
    os.replace(other, path)

    inspection = inspect_file(path, begun)

    assert inspection.checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_paths_that_are_no_regular_text_file_leave_no_pass_and_are_refused_as_before(
    engine, tmp_path
):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # no writer: opening it to read without O_NONBLOCK would block the thread
    archive = tmp_path / "export.csv"
    archive.write_bytes(gzip.compress((HEADER + "\n").encode()))
    begun = Begun([fifo, archive, tmp_path])

    results = [begun.result_for(path) for path in (fifo, archive, tmp_path)]
    loads = [load_trace_file(engine, path, begun) for path in (fifo, archive)]

    assert results == [None, None, None]
    assert [(load.status, load.message) for load in loads] == [
        (RunStatus.REFUSED, "not a regular file: a named pipe (FIFO)"),
        (RunStatus.REFUSED, "not a CSV text file: a gzip archive: decompress it first"),
    ]
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(TraceFile)) == 0


def counts(engine: Engine) -> tuple[int, int, list[str]]:
    with engine.connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(Trace)),
            connection.scalar(select(func.count()).select_from(TraceFile)),
            list(connection.scalars(select(EtlRun.status).order_by(EtlRun.id))),
        )


def test_a_failure_after_a_begun_pass_keeps_nothing_and_the_file_loads_afterwards(
    engine, tmp_path, monkeypatch
):
    path = write(tmp_path / "export.csv", [HEADER, *rows(50)])
    begun = Begun([path])

    def broken(self, feed):
        raise OSError("the disk went away")

    with monkeypatch.context() as patched:
        patched.setattr(FileLoader, "load", broken)
        failed = load_trace_file(engine, path, begun)
    loaded = load_trace_file(engine, path, begun)

    assert failed.status == RunStatus.FAILED
    assert failed.message.endswith("nothing from this file was kept")
    assert (loaded.status, loaded.rows_loaded) == (RunStatus.LOADED, 50)
    assert loaded.checksum == failed.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert counts(engine) == (50, 1, ["failed", "loaded"])


def run_cli(database_url: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "etl", "load-traces", *map(str, files)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_cli_loads_a_file_once_and_skips_it_unchanged_then_loads_it_changed(
    backend_url, engine, tmp_path
):
    """The command line begins the pass as it starts (sys.argv): its checksum decides as before."""
    path = write(tmp_path / "export.csv", [HEADER, *rows(40)])

    first = run_cli(backend_url, path)
    again = run_cli(backend_url, path)
    after_again = counts(engine)
    write(path, [HEADER, *rows(40), *rows(2, start=40)])
    changed = run_cli(backend_url, path)

    assert first.returncode == 0, first.stderr
    assert "accepted — read 40, loaded 40, rejected 0, duplicate 0" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "skipped — no change: identical to export.csv already loaded" in again.stdout
    assert after_again == (40, 1, ["loaded", "skipped"])
    assert changed.returncode == 0, changed.stderr
    assert "accepted — read 42, loaded 2, rejected 0, duplicate 40" in changed.stdout
    with engine.connect() as connection:
        checksums = list(connection.scalars(select(TraceFile.checksum).order_by(TraceFile.id)))
    assert checksums[-1] == hashlib.sha256(path.read_bytes()).hexdigest()


# Prints, in order, when a thread starts and when `etl.cli` begins to import, with whether the
# cyclic collector was on at that moment.
_WATCH_THE_LAUNCHER = """
import gc, sys, threading

started = threading.Thread.start

def start(thread):
    print("thread", thread.name, flush=True)
    started(thread)

threading.Thread.start = start

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "etl.cli":
            print("import etl.cli, collector on:", gc.isenabled(), flush=True)
        return None

sys.meta_path.insert(0, Watch())
from etl.launcher import main
main()
"""


@pytest.mark.parametrize("command", [["etl", "load-traces"], ["etl", "status"]])
def test_the_entry_point_begins_a_loads_first_pass_before_the_cli_imports(
    command, backend_url, tmp_path
):
    path = write(tmp_path / "export.csv", [HEADER, *rows(5)])
    arguments = [str(path)] if command[-1] == "load-traces" else []

    ran = subprocess.run(
        [sys.executable, "-c", _WATCH_THE_LAUNCHER, *command, *arguments],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": backend_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    events = [line for line in ran.stdout.splitlines() if line.startswith(("thread", "import"))]

    assert ran.returncode == 0, ran.stderr
    if command[-1] == "load-traces":
        assert events[:2] == [
            "thread ironriver-first-pass",
            "import etl.cli, collector on: False",
        ]
        assert "export.csv: accepted — read 5, loaded 5, rejected 0" in ran.stdout
    else:
        assert events[0] == "import etl.cli, collector on: True"
        assert "thread ironriver-first-pass" not in events
