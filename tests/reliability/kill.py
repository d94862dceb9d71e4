"""Issue 8 item 2: SIGKILL a writer at random points; the data stays, and readers never notice.

Each trial starts `ironriver etl load-traces BIG` or `ironriver etl run --force` (with BIG in the
inbox) and kills its process group after a random delay within the time a complete load takes.
Throughout, reader threads fetch every dataset from a running `ironriver serve`; every answer
must be the one from before the trials (or, when a kill landed after the commit, the complete
new load). After each kill, `ironriver export` must work and every table must hold exactly the
rows it held (or those plus every row of the committed load). SQLite always, PostgreSQL when
PYTEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select, text

from bench.synthetic import ensure
from db.engine import make_engine
from db.models import Base, EtlRun, RunStatus
from db.queries import data_version

from . import Outcome, Scale
from .serving import CLI, ROOT, build_database, ironriver, served

TRIALS: dict[Scale, int] = {"ci": 5, "long": 20}
ROWS: dict[Scale, int] = {"ci": 100_000, "long": 300_000}
READERS = 3
# Readers pause like visitors between pages: a writer that finds gaps between readers can spill
# its transaction into the file, which is what leaves a rollback journal behind when it is killed.
READER_PAUSE_SECONDS = (0.05, 0.3)
# Kill points are drawn from the time a complete load takes: most land before the commit, some
# after it (the load is then complete, and checked to be).
KILL_WINDOW = 1.0
EXPORTS = ("traces-by-year",)


@dataclass
class Readers:
    """Threads fetching every dataset from the server, checking each answer against the bodies
    it may have: the one before the trials, plus those after any load that did commit."""

    base_url: str
    acceptable: dict[str, set[str]]
    requests: int = 0
    errors: int = 0
    failures: list[str] = field(default_factory=list)
    # Judged at the end: a load killed just after its commit legitimately changes the answers.
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, path: str, body: bytes) -> None:
        with self._lock:
            self.acceptable[path].add(_digest(body))

    def changed(self) -> int:
        with self._lock:
            return sum(1 for path, digest in self.unexpected if digest not in self.acceptable[path])

    def _read(self, seed: int) -> None:
        chooser = random.Random(seed)
        paths = sorted(self.acceptable)
        with requests.Session() as session:
            while not self._stop.is_set():
                path = chooser.choice(paths)
                try:
                    response = session.get(self.base_url + path, timeout=60)
                    status = response.status_code
                    digest = _digest(response.content)
                except requests.RequestException as error:
                    status, digest = 0, type(error).__name__
                with self._lock:
                    self.requests += 1
                    if status != 200:
                        self.errors += 1
                        if len(self.failures) < 10:
                            self.failures.append(f"{path}: {status or digest}")
                    elif digest not in self.acceptable[path]:
                        self.unexpected.append((path, digest))
                self._stop.wait(chooser.uniform(*READER_PAUSE_SECONDS))

    @contextmanager
    def running(self) -> Iterator[Readers]:
        threads = [threading.Thread(target=self._read, args=(seed,)) for seed in range(READERS)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()


@dataclass
class Tally:
    trials: int = 0
    killed_clean: int = 0
    committed_first: int = 0
    data_changed: int = 0
    export_failures: int = 0
    reader_requests: int = 0
    reader_errors: int = 0
    reader_changed: int = 0
    server_deaths: int = 0
    notes: list[str] = field(default_factory=list)


def run(scale: Scale) -> Outcome:
    tally = Tally()
    seed = random.randrange(1 << 30)
    with tempfile.TemporaryDirectory(prefix="ironriver-kill-") as folder:
        work = Path(folder)
        backends = [f"sqlite:///{work / 'ironriver.sqlite'}"]
        server_url = os.environ.get("PYTEST_POSTGRES_URL")
        with _postgres_database(server_url) as postgres_url:
            if postgres_url:
                backends.append(postgres_url)
            for database_url in backends:
                trials(database_url, work, scale, random.Random(seed), tally)
    detail = (
        f"{tally.trials} SIGKILLs ({', '.join(_backend(u) for u in backends)}; seed {seed}), "
        f"{tally.committed_first} after the load had committed (its rows all there), "
        f"{tally.data_changed} changed the data, {tally.export_failures} failed exports; readers: "
        f"{tally.reader_requests:,} requests, {tally.reader_errors} errors, "
        f"{tally.reader_changed} answers that were neither the previous nor the committed data, "
        f"{tally.server_deaths} server deaths"
        + (f"; {'; '.join(tally.notes[:5])}" if tally.notes else "")
    )
    return Outcome(
        campaign="kill",
        tried=tally.trials,
        crashed=tally.reader_errors + tally.export_failures + tally.server_deaths,
        clean=tally.killed_clean,
        lost=tally.data_changed + tally.reader_changed,
        detail=detail,
    )


@dataclass
class State:
    """What the data looks like: row counts of every table and two exports."""

    counts: dict[str, int]
    exports: dict[str, str | None]

    @classmethod
    def read(cls, database_url: str) -> State:
        exports = {dataset: _export(database_url, dataset) for dataset in EXPORTS}
        return cls(table_counts(database_url), exports)


def trials(
    database_url: str, work: Path, scale: Scale, chooser: random.Random, tally: Tally
) -> None:
    """`TRIALS[scale]` killed writers on one database, with readers on a running server."""
    name = _backend(database_url)
    build_database(database_url)
    # A complete load first: it sizes the kill window (and makes the database less trivial).
    calibration = ensure(work / "files", ROWS[scale], seed=1)
    started = time.monotonic()
    loaded = ironriver(database_url, "etl", "load-traces", str(calibration.path))
    if loaded.returncode != 0:
        raise RuntimeError(f"calibration load failed: {loaded.stderr[-2000:]}")
    window = (time.monotonic() - started) * KILL_WINDOW
    next_seed = 2
    big = ensure(work / "files", ROWS[scale], seed=next_seed)
    inbox = work / f"inbox-{name}"
    inbox.mkdir()
    before = State.read(database_url)
    with served(database_url, work / f"serve-{name}.log") as server:
        paths = _dataset_paths(server.url)
        readers = Readers(server.url, {path: {_digest(_get(server.url + path))} for path in paths})
        with readers.running():
            for number in range(TRIALS[scale]):
                command = ["etl", "load-traces", str(big.path)]
                if number % 2:
                    (inbox / big.path.name).write_bytes(big.path.read_bytes())
                    command = ["etl", "run", "--force"]
                delay = chooser.uniform(0, window)
                returncode = kill_after(database_url, command, delay, inbox)
                tally.trials += 1
                after = State.read(database_url)
                problems = []
                if returncode not in (-signal.SIGKILL, 0):  # 75 would mean a lock left behind
                    problems.append(f"{command[1]} exited {returncode} instead")
                committed = _committed_rows(database_url, big.path.name)
                if committed is not None:
                    # Killed after its commit: a complete load, every row of it and no other.
                    tally.committed_first += 1
                    if after.counts["traces"] != before.counts["traces"] + committed:
                        problems.append("a committed load is missing rows")
                    _wait_for_version(server.url, database_url)
                    for path in paths:
                        readers.accept(path, _get(server.url + path))
                    next_seed += 1
                    big = ensure(work / "files", ROWS[scale], seed=next_seed)
                elif after.counts != before.counts:
                    problems.append("table rows changed")
                if problems:
                    tally.data_changed += 1
                failed = [dataset for dataset, text in after.exports.items() if text is None]
                if failed or (committed is None and after.exports != before.exports):
                    tally.export_failures += 1
                    problems.append(f"exports failed or differ: {failed}")
                if not server.alive():
                    tally.server_deaths += 1
                    problems.append("server died")
                if problems:
                    tally.notes.append(f"{name} trial {number} at {delay:.1f} s: {problems}")
                else:
                    tally.killed_clean += 1
                before = after
                if not server.alive():
                    break
        tally.reader_requests += readers.requests
        tally.reader_errors += readers.errors
        tally.reader_changed += readers.changed()
        tally.notes.extend(f"{name} reader {failure}" for failure in readers.failures[:3])
    # After the last kill, before any writer repairs anything: a new server starts and answers.
    with served(database_url, work / f"serve-after-{name}.log") as fresh:
        path = paths[0]
        if _digest(_get(fresh.url + path)) not in readers.acceptable[path]:
            tally.data_changed += 1
            tally.notes.append(f"{name}: a server started after the kills answered differently")
    for leftover in inbox.glob("*.csv"):
        leftover.unlink()


def kill_after(database_url: str, command: list[str], delay: float, inbox: Path) -> int | None:
    """Start `ironriver COMMAND`, SIGKILL its whole process group after `delay` seconds."""
    env = {**os.environ, "DATABASE_URL": database_url, "IRONRIVER_INBOX_DIR": str(inbox)}
    process = subprocess.Popen(
        [*CLI, *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the loader's forked parser dies with it
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode


def table_counts(database_url: str) -> dict[str, int]:
    """Rows in every table but the run log (each killed run adds its `running` row there)."""
    engine = make_engine(database_url, read_only=True)
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in Base.metadata.sorted_tables
                if table.name != "etl_runs"
            }
    finally:
        engine.dispose()


def _committed_rows(database_url: str, file_name: str) -> int | None:
    """Rows loaded by a committed load of `file_name`, None if no load of it committed."""
    engine = make_engine(database_url, read_only=True)
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(EtlRun.rows_loaded).where(
                    EtlRun.source == file_name, EtlRun.status == RunStatus.LOADED
                )
            ).scalar_one_or_none()
    finally:
        engine.dispose()


def _wait_for_version(base_url: str, database_url: str, timeout: float = 30) -> None:
    """Until the server answers from the database's current data version (it memoises the
    version for a moment, so right after a commit it may still serve the previous answers)."""
    engine = make_engine(database_url, read_only=True)
    try:
        current = data_version(engine)
    finally:
        engine.dispose()
    deadline = time.monotonic() + timeout
    answered = ""
    while time.monotonic() < deadline:
        answered = requests.get(f"{base_url}/api/v1/datasets.json", timeout=60).json()
        answered = answered["data_version"]
        if answered == current:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the server answers data version {answered}, the database {current}")


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _export(database_url: str, dataset: str) -> str | None:
    result = ironriver(database_url, "export", dataset, timeout=120)
    return result.stdout if result.returncode == 0 else None


def _dataset_paths(base_url: str) -> list[str]:
    catalogue = requests.get(base_url + "/api/v1/datasets.json", timeout=60).json()
    return [dataset["csv"] for dataset in catalogue["datasets"]]


def _get(url: str) -> bytes:
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    return response.content


def _backend(database_url: str) -> str:
    return database_url.split(":", 1)[0].split("+", 1)[0]


@contextmanager
def _postgres_database(server_url: str | None) -> Iterator[str | None]:
    """A fresh database on the throw-away server, dropped afterwards; None without a server."""
    if not server_url:
        yield None
        return
    name = f"ironriver_kill_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
