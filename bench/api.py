"""API benchmark: our `/api/v1/*.csv` under gunicorn vs Datasette serving the same SQL, on 127.0.0.1.

Load comes from wrk when it is installed (Debian's `wrk`), else from a small asyncio client
in this module; both keep a fixed number of keep-alive connections busy for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import ROOT, BenchError, app_env
from bench.measure import percentile

HOST = "127.0.0.1"

# The SQL our app runs for each benchmarked endpoint, written for Datasette as canned queries
# that return the same columns and rows (checked at run time against our CSV).
TRACES_BY_SOURCE_STATE_SQL = """
SELECT a.key AS source_state,
       u.name AS state_name,
       'US-' || a.key AS state_iso,
       sum(a.firearms) AS firearms,
       round(100.0 * sum(a.firearms) / sum(sum(a.firearms)) OVER (PARTITION BY f.checksum), 2)
         AS share_pct,
       f.file_name AS trace_file,
       f.checksum AS file_checksum,
       f.loaded_at AS loaded_at,
       NULL AS year_from,
       NULL AS year_to,
       CASE WHEN f.synthetic THEN 'SYNTHETIC' ELSE 'LOADED_FILE' END AS status,
       'trace-file:' || substr(f.checksum, 1, 12) AS source_id,
       'eTrace-style export ' || f.file_name || ' (sha256 ' || f.checksum || '), loaded '
         || substr(f.loaded_at, 1, 10) || '; record-level traces, not a published figure'
         AS citation
FROM trace_aggregates a JOIN trace_files f ON f.id = a.trace_file_id
LEFT JOIN us_states u ON u.usps = a.key
WHERE a.dimension = 'source_state'
GROUP BY a.key, f.id
ORDER BY f.id, firearms DESC, a.key
"""

PUBLISHED_SQL = """
SELECT f.measure, f.period, f.year_start, f.year_end, f.release, f.geo_level, f.geo_code,
       f.geo_name,
       CASE f.geo_level WHEN 'us_state' THEN 'US-' || f.geo_code
                        WHEN 'mx_state' THEN m.iso_3166_2 END AS geo_iso,
       f.partner_code, f.partner_name, p.iso_3166_2 AS partner_iso, f.category,
       CASE WHEN f.value = CAST(f.value AS INTEGER) THEN CAST(f.value AS INTEGER) ELSE f.value END
         AS value,
       f.value_qualifier, f.unit, f.status, f.source_id, f.also_source_ids,
       s.citation, s.url AS source_url, f.note
FROM facts f JOIN sources s ON s.id = f.source_id
LEFT JOIN mx_states m ON m.cve_ent = f.geo_code
LEFT JOIN mx_states p ON p.cve_ent = f.partner_code
WHERE f.dataset = :dataset
ORDER BY f.id
"""

PUBLISHED_DATASET = "source-states"


@dataclass(frozen=True)
class Endpoint:
    """One thing both servers answer: our path and Datasette's path for the same rows."""

    name: str
    ours: str
    datasette: str


def endpoints(database_name: str) -> list[Endpoint]:
    return [
        Endpoint(
            "traces-by-source-state",
            "/api/v1/traces-by-source-state.csv",
            f"/{database_name}/traces_by_source_state.csv",
        ),
        Endpoint(
            PUBLISHED_DATASET,
            f"/api/v1/{PUBLISHED_DATASET}.csv",
            f"/{database_name}/published_dataset.csv?dataset={PUBLISHED_DATASET}",
        ),
    ]


def datasette_metadata(database_name: str) -> dict[str, Any]:
    return {
        "databases": {
            database_name: {
                "queries": {
                    "traces_by_source_state": {"sql": TRACES_BY_SOURCE_STATE_SQL.strip()},
                    "published_dataset": {"sql": PUBLISHED_SQL.strip()},
                }
            }
        }
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"server exited {process.returncode} before answering {url}")
        with contextlib.suppress(OSError):
            status, _ = get(url, timeout=5)
            if status == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"no answer from {url} within {timeout:.0f} s")


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], ready_path: str, log: Path) -> Iterator[str]:
    """Start a server on a free loopback port; yield its base URL; stop it (by its own pid)."""
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://{HOST}:{port}"
        try:
            wait_ready(base + ready_path, process)
            yield base
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a server still running and wait; SIGKILL it after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ours_server(database: Path, data_dir: Path, workers: int, log: Path) -> Any:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"{HOST}:{{port}}",
        "--log-level",
        "warning",
        "dashboard.wsgi:server",
    ]
    env = app_env(database, data_dir, IRONRIVER_LOG_LEVEL="WARNING")
    return server(command, env, "/api/v1/datasets.json", log)


def datasette_server(database: Path, metadata_path: Path, log: Path) -> Any:
    command = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        "--immutable",
        str(database),
        "--host",
        HOST,
        "--port",
        "{port}",
        "--metadata",
        str(metadata_path),
    ]
    env = app_env(database, database.parent)
    return server(command, env, f"/{database.stem}.json", log)


# ---------------------------------------------------------------------------- equivalence


def _normalise(text: str) -> list[tuple[str, ...]]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))

    def cell(value: str) -> str:
        try:
            number = float(value)
        except ValueError:
            return value
        return repr(round(number, 6))

    return [tuple(cell(v) for v in row) for row in rows]


def same_rows(ours: bytes, theirs: bytes) -> dict[str, Any]:
    """Whether both CSVs carry the same header and rows (numbers compared as numbers)."""
    a = _normalise(ours.decode("utf-8"))
    b = _normalise(theirs.decode("utf-8"))
    return {
        "same": a == b,
        "ours_rows": max(len(a) - 1, 0),
        "peer_rows": max(len(b) - 1, 0),
        "ours_header": list(a[0]) if a else [],
        "peer_header": list(b[0]) if b else [],
    }


# ---------------------------------------------------------------------------- load generation


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "python-asyncio"


_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _wrk_seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def run_wrk(url: str, seconds: float, connections: int) -> dict[str, Any]:
    completed = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
    )
    out = completed.stdout
    if completed.returncode != 0:
        raise BenchError(f"wrk exited {completed.returncode}: {completed.stderr or out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.+)", out)
    if not (rate and total and p50 and p99):
        raise BenchError(f"cannot read wrk output: {out}")
    return {
        "tool": "wrk",
        "requests": int(total.group(1)),
        "requests_per_second": round(float(rate.group(1)), 1),
        "p50_ms": round(_wrk_seconds(p50.group(1)) * 1000, 2),
        "p99_ms": round(_wrk_seconds(p99.group(1)) * 1000, 2),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1).strip() if errors else None,
    }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; return its status and whether the server keeps the socket."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = None
    chunked = False
    keep = True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep = False
    return status, keep


async def _client(
    host: str, port: int, target: str, deadline: float, latencies: list[float], bad: list[int]
) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    reader = writer = None
    while time.perf_counter() < deadline:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        assert reader is not None
        started = time.perf_counter()
        writer.write(request)
        try:
            status, keep = await _read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            reader = writer = None
            bad.append(0)
            continue
        latencies.append(time.perf_counter() - started)
        if status >= 400:
            bad.append(status)
        if not keep:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run_python_load(url: str, seconds: float, connections: int) -> dict[str, Any]:
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    if not match:
        raise BenchError(f"not a loopback URL: {url}")
    host, port, target = match.group(1), int(match.group(2)), match.group(3)
    latencies: list[float] = []
    bad: list[int] = []

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_client(host, port, target, deadline, latencies, bad) for _ in range(connections))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return {
        "tool": "python-asyncio",
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "non_2xx": len(bad),
        "socket_errors": None,
    }


def hammer(url: str, seconds: float, connections: int) -> dict[str, Any]:
    """Keep `connections` connections busy on `url` for `seconds`; rate and latency."""
    if shutil.which("wrk"):
        return run_wrk(url, seconds, connections)
    return run_python_load(url, seconds, connections)


def write_metadata(path: Path, database_name: str) -> Path:
    path.write_text(json.dumps(datasette_metadata(database_name), indent=2), encoding="utf-8")
    return path
