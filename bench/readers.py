"""Readers during a big load: request latency and errors of the served app, idle and while loading.

    python -m bench.run --only readers          # in `make bench`'s table, both backends
    python -m bench.readers --rows 1000000 --out /tmp/readers.json   # one backend, standalone

Prepares a database (schema, the embedded datasets, the small sample trace file), starts
`ironriver serve` (one process, as `make run`) and has CLIENTS threads send the pages, callbacks
and API downloads a browser sends (found from the app itself), chosen at random: a warm-up,
then an idle phase, then, right after it, the same while `ironriver etl load-traces` loads a
synthetic file of --rows rows. The idle phase is the peer: the same server, the same data (a
load's rows are invisible until it commits), the minute before. The query cache lives 1 s, so
readers reach the database instead of answering from memory. The loader runs at nice 10, as
the shipped systemd unit runs it.
Issue 8 item 2 / issue 13 target 4: 0 errors, and the API's and the callbacks' p99 during the
load <= 3x idle.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load, machine, report
from bench.synthetic import ensure
from tests.reliability.concurrency import Tally, discover_calls, hammer, percentile
from tests.reliability.serving import ROOT, SAMPLE_TRACES, served

TARGET_RATIO = report.READERS_P99_RATIO
# What issue 13 target 4 judges; pages are sent and reported too.
JUDGED_KINDS = tuple(report.READERS_JUDGED)


@dataclass(frozen=True)
class Phases:
    """How many readers, and how long they read before the load."""

    clients: int = 4
    warmup_seconds: float = 3.0
    idle_seconds: float = 15.0


def app_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """Our CLI's environment on `database_url`, with a data directory of the benchmark's own."""
    return {**load.app_env(Path("unused"), data_dir), "DATABASE_URL": database_url}


def prepare(database_url: str, data_dir: Path, *, migrated: bool = False) -> None:
    """Schema and embedded datasets (unless `migrated`: a copy of the benchmark's template
    database holds them), then the sample trace file: what `make run` serves, with traces."""
    env = app_env(database_url, data_dir)
    if not migrated:
        load.run_ironriver(env, "db", "upgrade")
        load.run_ironriver(env, "etl", "run")
    load.run_ironriver(env, "etl", "load-traces", str(SAMPLE_TRACES))


def phase(tally: Tally, seconds: float) -> dict[str, Any]:
    """Counts and latency percentiles of one phase, overall and per kind of request."""
    total = sum(tally.statuses.values())
    errors = sum(n for status, n in tally.statuses.items() if not status.startswith("2"))
    kinds = {
        kind: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50), 1),
            "p99_ms": round(percentile(values, 99), 1),
            "max_ms": round(max(values), 1),
        }
        for kind, values in sorted(tally.by_kind_ms.items())
    }
    return {
        "seconds": round(seconds, 1),
        "requests": total,
        "errors": errors,
        "statuses": dict(tally.statuses),
        "p50_ms": round(percentile(tally.latencies_ms, 50), 1),
        "p99_ms": round(percentile(tally.latencies_ms, 99), 1),
        "max_ms": round(max(tally.latencies_ms, default=0.0), 1),
        "by_kind": kinds,
        "failures": tally.failures[:10],
    }


def _ratio(during: float, idle: float) -> float | None:
    return round(during / idle, 2) if idle else None


def measure(
    database_url: str,
    csv_path: Path,
    rows: int,
    work: Path,
    phases: Phases,
    data_dir: Path,
) -> dict[str, Any]:
    """Readers idle, then during the load of `csv_path` into `database_url` (prepared)."""
    env = app_env(database_url, data_dir)
    load.warm_file(csv_path)
    settings = {"IRONRIVER_CACHE_SECONDS": "1", "IRONRIVER_DATA_DIR": str(data_dir)}
    with served(database_url, work / "readers-serve.log", settings) as server:
        calls = discover_calls(server.url)
        # Imports and first views; then the data as readers will find it during the load.
        hammer(server.url, calls, clients=phases.clients, seconds=phases.warmup_seconds)
        load_average_before = machine.load_average()
        idle = hammer(server.url, calls, clients=phases.clients, seconds=phases.idle_seconds)
        started = time.monotonic()
        loader = subprocess.Popen(
            ["nice", "-n", "10", *load.ironriver_command(), "etl", "load-traces", str(csv_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            during = hammer(
                server.url,
                calls,
                clients=phases.clients,
                seconds=24 * 3600,
                stop=lambda: loader.poll() is not None,
            )
        finally:
            if loader.poll() is None:  # the readers failed: no load left running behind
                loader.kill()
        load_seconds = time.monotonic() - started
        summary = loader.stdout.read().strip() if loader.stdout else ""
        loader.wait()
        alive = server.alive()
    idle_phase, load_phase = phase(idle, phases.idle_seconds), phase(during, load_seconds)
    kinds = {
        kind: {
            "idle_p99_ms": idle_phase["by_kind"].get(kind, {}).get("p99_ms", 0.0),
            "during_load_p99_ms": load_phase["by_kind"].get(kind, {}).get("p99_ms", 0.0),
        }
        for kind in sorted({*idle_phase["by_kind"], *load_phase["by_kind"]})
    }
    for measured in kinds.values():
        measured["ratio"] = _ratio(measured["during_load_p99_ms"], measured["idle_p99_ms"])
    judged = [kinds.get(kind, {}).get("ratio") for kind in JUDGED_KINDS]
    return {
        "database": database_url.split(":", 1)[0].split("+", 1)[0],
        "rows": rows,
        "file": csv_path.name,
        "clients": phases.clients,
        "warmup_seconds": phases.warmup_seconds,
        "load_returncode": loader.returncode,
        "load_summary": summary,
        "load_average_before": load_average_before,
        "load_average_after": machine.load_average(),
        "server_alive": alive,
        "idle": idle_phase,
        "during_load": load_phase,
        "p99_ratio": _ratio(load_phase["p99_ms"], idle_phase["p99_ms"]),
        "kinds": kinds,
        "target": f"0 errors, API and callback p99 during the load <= {TARGET_RATIO}x idle",
        "met": bool(
            all(ratio is not None and ratio <= TARGET_RATIO for ratio in judged)
            and load_phase["errors"] == 0
            and idle_phase["errors"] == 0
            and alive
            and loader.returncode == 0
        ),
    }


def measure_backends(
    *,
    rows: int,
    seed: int,
    data_dir: Path,
    work: Path,
    template: Path,
    phases: Phases,
    postgres_url: str | None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Readers on SQLite (a copy of `template`) and, given a server, on PostgreSQL; a backend
    whose harness fails is reported with the reason, the others still run."""
    csv_path = ensure(data_dir, rows, seed=seed).path
    out: dict[str, Any] = {"rows": rows, "phases": vars(phases), "backends": {}}
    backends: list[tuple[str, str | None]] = [("sqlite", None), ("postgresql", postgres_url)]
    for backend, server_url in backends:
        if backend == "postgresql" and not server_url:
            out["backends"][backend] = {"skipped": "no server: set BENCH_POSTGRES_URL"}
            continue
        log(
            f"readers on {backend}: {phases.clients} clients, {phases.idle_seconds:.0f} s idle, "
            f"then during a load of {rows:,} rows"
        )
        try:
            if server_url:
                url = load.recreate_database(server_url, "bench_readers")
                prepare(url, work / "datadir")
            else:
                shutil.copyfile(template, work / "readers.sqlite")
                url = load.sqlite_url(work / "readers.sqlite")
                prepare(url, work / "datadir", migrated=True)
            measured = measure(url, csv_path, rows, work, phases, work / "datadir")
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            out["backends"][backend] = {"error": f"{type(error).__name__}: {error}"[-3000:]}
            log(f"  readers on {backend} failed: {error}")
            continue
        finally:
            if not server_url:
                load.remove_database(work / "readers.sqlite")
        out["backends"][backend] = measured
        log(
            f"  {measured['during_load']['requests']:,} requests during the load "
            f"({measured['during_load']['seconds']:.1f} s), {measured['during_load']['errors']} "
            f"errors; p99 {measured['during_load']['p99_ms']} ms vs "
            f"{measured['idle']['p99_ms']} ms idle"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readers", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the loaded file")
    parser.add_argument("--clients", type=int, default=4, help="concurrent reader threads")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    args = parser.parse_args(argv)
    phases = Phases(clients=args.clients, idle_seconds=args.idle_seconds)
    big = ensure(args.data_dir, args.rows, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="ironriver-readers-") as folder:
        work = Path(folder)
        database_url = args.database_url or load.sqlite_url(work / "ironriver.sqlite")
        prepare(database_url, work / "datadir")
        result = measure(database_url, big.path, args.rows, work, phases, work / "datadir")
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
