"""Load benchmarks: `ironriver etl load-traces` vs `sqlite3 .import` and `sqlite-utils insert`."""

from __future__ import annotations

import codecs
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Run, median, run_measured

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SQLITE_UTILS = BIN / "sqlite-utils"
_SUMMARY = re.compile(r"accepted — read (\d+), loaded (\d+), rejected (\d+), duplicate (\d+)")


class BenchError(RuntimeError):
    """A benchmark could not run as designed; the message says why."""


def ironriver_command() -> list[str]:
    script = BIN / "ironriver"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from etl.launcher import main; main()"]


def run_ironriver(env: dict[str, str], *args: str) -> None:
    """One `ironriver` command the bench needs to succeed; its error's tail if it does not."""
    completed = subprocess.run(
        [*ironriver_command(), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"ironriver {' '.join(args)} failed: {completed.stderr[-2000:]}")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def app_env(database: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment our CLI and server run with: a bench database, never the default one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONRIVER_")}
    env.update(
        DATABASE_URL=sqlite_url(database),
        IRONRIVER_DATA_DIR=str(data_dir),
        IRONRIVER_LOG_LEVEL="INFO",
        IRONRIVER_FETCH_REMOTE="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def remove_database(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)


TEMPLATE_NAME = "template.sqlite"


def build_template(work: Path) -> Path:
    """A database at the newest schema with the embedded published datasets: what a user has."""
    template = work / TEMPLATE_NAME
    remove_database(template)
    env = app_env(template, work / "datadir")
    run_ironriver(env, "db", "upgrade")
    run_ironriver(env, "etl", "run")
    Path(str(template) + ".lock").unlink(missing_ok=True)
    return template


def warm_file(path: Path) -> None:
    """Read a file once so every tool finds it in the page cache, not only the second one."""
    with path.open("rb") as stream:
        while stream.read(1 << 23):
            pass


def count_rows(database: Path, table: str) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@dataclass
class Tool:
    """One way of loading a CSV file into a fresh SQLite database."""

    name: str
    label: str
    run: Callable[[Path, Path], tuple[Run, int]]  # (csv, database) -> run, rows stored


def _load_traces(csv_path: Path, env: dict[str, str]) -> tuple[Run, int]:
    """`ironriver etl load-traces` of `csv_path`, measured; the rows it says it loaded."""
    result = run_measured(
        [*ironriver_command(), "etl", "load-traces", csv_path], env=env, settle_first=True
    )
    match = _SUMMARY.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise BenchError(
            f"ironriver etl load-traces exited {result.returncode}: "
            f"{(result.stdout + result.stderr)[-2000:]}"
        )
    return result, int(match.group(2))


def _ours(template: Path, data_dir: Path) -> Callable[[Path, Path], tuple[Run, int]]:
    def run(csv_path: Path, database: Path) -> tuple[Run, int]:
        remove_database(database)
        shutil.copyfile(template, database)
        env = app_env(database, data_dir)
        return _load_traces(csv_path, env)

    return run


def _sqlite_import(csv_path: Path, database: Path) -> tuple[Run, int]:
    remove_database(database)
    result = run_measured(["sqlite3", database, f".import --csv {csv_path} raw"], settle_first=True)
    if result.returncode != 0:
        raise BenchError(f"sqlite3 .import exited {result.returncode}: {result.stderr[-2000:]}")
    return result, count_rows(database, "raw")


def _sqlite_utils(csv_path: Path, database: Path) -> tuple[Run, int]:
    remove_database(database)
    result = run_measured(
        [SQLITE_UTILS, "insert", database, "raw", csv_path, "--csv"], settle_first=True
    )
    if result.returncode != 0:
        raise BenchError(f"sqlite-utils exited {result.returncode}: {result.stderr[-2000:]}")
    return result, count_rows(database, "raw")


def tools(template: Path, data_dir: Path) -> dict[str, Tool]:
    found = {
        "ours": Tool("ours", "ironriver etl load-traces", _ours(template, data_dir)),
    }
    if shutil.which("sqlite3"):
        found["sqlite3_import"] = Tool("sqlite3_import", "sqlite3 .import --csv", _sqlite_import)
    if SQLITE_UTILS.exists():
        found["sqlite_utils"] = Tool("sqlite_utils", "sqlite-utils insert --csv", _sqlite_utils)
    return found


def summarise(runs: list[tuple[Run, int]], file_rows: int) -> dict[str, Any]:
    """Median time and memory of repeated runs of one tool on one file, with every run kept."""
    seconds = [run.seconds for run, _ in runs]
    peaks = [run.peak_rss_bytes for run, _ in runs]
    mains = [run.main_max_rss_bytes for run, _ in runs]
    rows_stored = runs[-1][1]
    med = median(seconds)
    return {
        "repetitions": len(runs),
        "median_seconds": round(med, 3),
        "min_seconds": round(min(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "file_rows_per_second": round(file_rows / med) if med else None,
        "rows_stored": rows_stored,
        "median_peak_rss_mb": round(median(peaks) / 1e6, 1),
        "max_peak_rss_mb": round(max(peaks) / 1e6, 1),
        "median_main_max_rss_mb": round(median(mains) / 1e6, 1),
        "max_main_max_rss_mb": round(max(mains) / 1e6, 1),
        "max_peak_pss_mb": round(max(run.peak_pss_bytes for run, _ in runs) / 1e6, 1),
        "median_cpu_seconds": round(median([run.cpu_seconds for run, _ in runs]), 3),
        "median_system_seconds": round(median([run.system_seconds for run, _ in runs]), 3),
        "runs": [run.as_dict() for run, _ in runs],
    }


def measure_load(
    csv_path: Path,
    file_rows: int,
    chosen: list[Tool],
    work: Path,
    repetitions: int,
    *,
    keep_ours: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Each tool `repetitions` times on one file, interleaved so drift hits every tool alike."""
    measured = measure_sizes(
        [(csv_path, file_rows)], chosen, work, repetitions, keep_ours=keep_ours, log=log
    )
    return measured[file_rows]


def measure_sizes(
    files: list[tuple[Path, int]],
    chosen: list[Tool],
    work: Path,
    repetitions: int,
    *,
    keep_ours: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[int, dict[str, dict[str, Any]]]:
    """Each tool `repetitions` times on each (file, rows), by rounds: every file and tool once
    per round, so drift on the machine hits every size and tool alike. By rows, then tool.

    `keep_ours` keeps our last database of the first file.
    """
    for csv_path, _ in files:
        warm_file(csv_path)
    results: dict[int, dict[str, list[tuple[Run, int]]]] = {
        rows: {tool.name: [] for tool in chosen} for _, rows in files
    }
    for repetition in range(repetitions):
        for index, (csv_path, file_rows) in enumerate(files):
            for tool in chosen:
                database = work / f"load-{tool.name}.sqlite"
                run, stored = tool.run(csv_path, database)
                results[file_rows][tool.name].append((run, stored))
                log(
                    f"  {tool.label}: {file_rows:,} rows, run {repetition + 1}/{repetitions}: "
                    f"{run.seconds:.2f} s, peak RSS {run.peak_rss_bytes / 1e6:.0f} MB"
                )
                last_of_first = index == 0 and repetition == repetitions - 1
                if tool.name == "ours" and keep_ours is not None and last_of_first:
                    remove_database(keep_ours)
                    database.rename(keep_ours)
                else:
                    remove_database(database)
    return {
        file_rows: {name: summarise(runs, file_rows) for name, runs in by_tool.items()}
        for file_rows, by_tool in results.items()
    }


def recreate_database(server_url: str, name: str, template: str | None = None) -> str:
    """A fresh PostgreSQL database `name` on the server, empty or a copy of `template`;
    returns its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return f"{server_url}/{name}"


def _libpq_url(sqlalchemy_url: str) -> str:
    """The same database as a URL psql understands (no `+driver`)."""
    scheme, rest = sqlalchemy_url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _migrated_postgres(server_url: str, name: str, data_dir: Path) -> dict[str, str]:
    """A fresh database `name` at our newest migration; the environment our CLI uses on it."""
    url = recreate_database(server_url, name)
    env = {**app_env(Path("unused"), data_dir), "DATABASE_URL": url}
    run_ironriver(env, "db", "upgrade")
    return env


OURS_POSTGRES_DATABASE = "bench_load_ours"  # where our loader's runs on PostgreSQL load


def _ours_postgres(server_url: str, data_dir: Path) -> Callable[[Path, Path], tuple[Run, int]]:
    def run(csv_path: Path, _database: Path) -> tuple[Run, int]:
        env = _migrated_postgres(server_url, OURS_POSTGRES_DATABASE, data_dir)
        return _load_traces(csv_path, env)

    return run


def _psql(url: str, command: str) -> str:
    """One psql command that must succeed (`-At`: its rows as bare text)."""
    done = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", command],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchError(f"psql {command[:60]!r} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def _timed_psql(url: str, command: str) -> Run:
    """One psql command, measured as every tool is; it must succeed."""
    result = run_measured(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", command], settle_first=True
    )
    if result.returncode != 0:
        raise BenchError(
            f"psql {command[:60]!r} exited {result.returncode}: {result.stderr[-2000:]}"
        )
    return result


def _psql_copy(server_url: str) -> Callable[[Path, Path], tuple[Run, int]]:
    def run(csv_path: Path, _database: Path) -> tuple[Run, int]:
        url = _libpq_url(recreate_database(server_url, "bench_load_copy"))
        # One text column per line: the file's misaligned rows make a 16-column COPY refuse
        # the whole file, and no CSV parsing at all is the lower floor.
        _psql(url, "CREATE TABLE raw (line text)")
        copy = (
            f"\\copy raw FROM '{csv_path}' "
            "WITH (FORMAT csv, HEADER true, DELIMITER E'\\x1f', QUOTE E'\\x1e')"
        )
        return _timed_psql(url, copy), int(_psql(url, "SELECT count(*) FROM raw"))

    return run


def _psql_copy_checked(server_url: str, data_dir: Path) -> Callable[[Path, Path], tuple[Run, int]]:
    """`psql \\copy` of the rows our loader stores, already checked, into the same `traces`
    table (key, collation, CHECK): what storing them costs the server, whoever sends them."""
    exported: dict[Path, Path] = {}

    def checked_rows(csv_path: Path, work: Path) -> Path:
        if csv_path not in exported:  # made once per file, not timed
            env = _migrated_postgres(server_url, "bench_load_checked_source", data_dir)
            _load_traces(csv_path, env)
            rows = work / f"checked-{csv_path.name}"
            _psql(_libpq_url(env["DATABASE_URL"]), f"\\copy traces TO '{rows}' (FORMAT csv)")
            exported[csv_path] = rows
        return exported[csv_path]

    def run(csv_path: Path, database: Path) -> tuple[Run, int]:
        rows = checked_rows(csv_path, database.parent)
        url = _libpq_url(
            _migrated_postgres(server_url, "bench_load_checked", data_dir)["DATABASE_URL"]
        )
        copy = f"\\copy traces FROM '{rows}' (FORMAT csv)"
        return _timed_psql(url, copy), int(_psql(url, "SELECT count(*) FROM traces"))

    return run


def postgres_tools(server_url: str, data_dir: Path) -> dict[str, Tool]:
    """Our loader, `psql \\copy` into a bare table and `psql \\copy` of our checked rows into
    `traces`, on a PostgreSQL server (no database name)."""
    found = {
        "ours": Tool(
            "ours", "ironriver etl load-traces (PostgreSQL)", _ours_postgres(server_url, data_dir)
        )
    }
    if shutil.which("psql"):
        found["psql_copy"] = Tool("psql_copy", "psql \\copy (bare table)", _psql_copy(server_url))
        found["psql_copy_checked"] = Tool(
            "psql_copy_checked",
            "psql \\copy of the checked rows into traces",
            _psql_copy_checked(server_url, data_dir),
        )
    return found


def reexport(csv_path: Path, work: Path) -> Path:
    """The same rows under another checksum, as a re-export is: the file behind a UTF-8 BOM."""
    path = work / f"reexport-{csv_path.name}"
    with csv_path.open("rb") as source, path.open("wb") as target:
        target.write(codecs.BOM_UTF8)
        shutil.copyfileobj(source, target, 1 << 23)
    return path


def _reloaded(run: Run) -> Run:
    """A reload's run, checked: every good row was already loaded, so none is loaded again."""
    match = _SUMMARY.search(run.stdout)
    if match is None or int(match.group(2)) != 0 or int(match.group(4)) == 0:
        raise BenchError(f"the reload loaded rows or found no duplicate: {run.stdout[-500:]}")
    return run


def measure_reload(
    csv_path: Path,
    file_rows: int,
    first_load: Tool,
    work: Path,
    repetitions: int,
    *,
    server_url: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """By rounds: a first load of `csv_path` by `first_load` (our loader, on SQLite or on
    `server_url`), then `ironriver etl load-traces` of a re-export of it into the database
    that load left, the path where every batch meets rows the database already holds. Both are
    timed, so the reload is compared with first loads made beside it (`first_load`)."""
    again = reexport(csv_path, work)
    firsts: list[tuple[Run, int]] = []
    reloads: list[tuple[Run, int]] = []
    suffix = " (PostgreSQL)" if server_url else ""
    try:
        for repetition in range(repetitions):
            database = work / "reload.sqlite"
            firsts.append(first_load.run(csv_path, database))
            if server_url is None:
                env = app_env(database, work / "datadir")
            else:
                url = f"{server_url}/{OURS_POSTGRES_DATABASE}"
                env = {**app_env(Path("unused"), work / "datadir"), "DATABASE_URL": url}
            run, stored = _load_traces(again, env)
            reloads.append((_reloaded(run), stored))
            log(
                f"  first load, then reload of the same rows{suffix}, run {repetition + 1}/"
                f"{repetitions}: {firsts[-1][0].seconds:.2f} s, then {run.seconds:.2f} s "
                f"({run.cpu_seconds:.2f} s CPU)"
            )
            remove_database(database)
    finally:
        again.unlink(missing_ok=True)
    return {**summarise(reloads, file_rows), "first_load": summarise(firsts, file_rows)}
