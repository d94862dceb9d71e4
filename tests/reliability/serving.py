"""The real `ironriver serve` as a subprocess over a throw-away database, for the campaigns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.api import stop

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "etl.cli"]
SAMPLE_TRACES = ROOT / "tests" / "fixtures" / "SYNTHETIC-etrace-style-sample.csv"
STARTUP_SECONDS = 90


def ironriver(
    database_url: str, *args: str, timeout: float = 600, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One `ironriver` command on `database_url`, as a user runs it."""
    environment = {**os.environ, **(env or {}), "DATABASE_URL": database_url}
    return subprocess.run(
        [*CLI, *args], env=environment, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def build_database(database_url: str) -> None:
    """Schema, every embedded source and the sample trace file: what `make run` serves, plus traces."""
    for command in (("db", "upgrade"), ("etl", "run"), ("etl", "load-traces", str(SAMPLE_TRACES))):
        result = ironriver(database_url, *command)
        if result.returncode != 0:
            raise RuntimeError(f"ironriver {' '.join(command)} failed: {result.stderr[-2000:]}")


def free_port() -> int:
    """A port the OS says is free now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running `ironriver serve` process and where its output goes."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def served(
    database_url: str, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """`ironriver serve` (one process, the `make run` server) on a free port, stopped on exit."""
    port = free_port()
    env = {**os.environ, **(env or {}), "DATABASE_URL": database_url}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop(process)


def wait_until_answering(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"ironriver serve exited at start:\n{server.log()[-3000:]}")
        try:
            if requests.get(f"{server.url}/api/v1/datasets.json", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"ironriver serve did not answer in {STARTUP_SECONDS} s")
