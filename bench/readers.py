"""Readers during a big load: request latency and errors of the served app, idle and while loading.

    python -m bench.readers --rows 1000000 --out bench/results/readers.json

Builds a fresh SQLite database (or uses --database-url), starts `ironriver serve` (one process,
as `make run`), and has CLIENTS threads send the pages, callbacks and API downloads a browser
sends: first with nothing else running, then while `ironriver etl load-traces` loads a synthetic
file of --rows rows. The query cache lives 1 s, so readers reach the database instead of
answering from memory. The loader runs at nice 10, as the shipped systemd unit runs it.
Issue 8 item 2 / issue 13 item 4 target: 0 errors and p99 during the load <= 3x idle.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.synthetic import ensure
from tests.reliability.concurrency import Tally, discover_calls, hammer, percentile
from tests.reliability.serving import CLI, ROOT, build_database, served

TARGET_RATIO = 3.0


def phase(tally: Tally, seconds: float) -> dict[str, Any]:
    """Counts and latency percentiles of one phase, overall and per kind of request."""
    total = sum(tally.statuses.values())
    errors = sum(n for status, n in tally.statuses.items() if not status.startswith("2"))
    kinds = {
        kind: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50), 1),
            "p99_ms": round(percentile(values, 99), 1),
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


def measure(database_url: str, log_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    big = ensure(args.data_dir, args.rows, seed=args.seed)
    with served(database_url, log_dir / "serve.log", {"IRONRIVER_CACHE_SECONDS": "1"}) as server:
        calls = discover_calls(server.url)
        hammer(server.url, calls, clients=args.clients, seconds=3)  # warm up: imports, first views
        idle = hammer(server.url, calls, clients=args.clients, seconds=args.idle_seconds)
        env = {**os.environ, "DATABASE_URL": database_url}
        started = time.monotonic()
        load = subprocess.Popen(
            ["nice", "-n", "10", *CLI, "etl", "load-traces", str(big.path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        during = hammer(
            server.url,
            calls,
            clients=args.clients,
            seconds=24 * 3600,
            stop=lambda: load.poll() is not None,
        )
        load_seconds = time.monotonic() - started
        summary = load.stdout.read().strip() if load.stdout else ""
        load.wait()
        alive = server.alive()
    idle_phase, load_phase = phase(idle, args.idle_seconds), phase(during, load_seconds)
    ratio = load_phase["p99_ms"] / idle_phase["p99_ms"] if idle_phase["p99_ms"] else None
    return {
        "database": database_url.split(":", 1)[0],
        "rows": args.rows,
        "clients": args.clients,
        "load_returncode": load.returncode,
        "load_summary": summary,
        "server_alive": alive,
        "idle": idle_phase,
        "during_load": load_phase,
        "p99_ratio": round(ratio, 2) if ratio else None,
        "target": f"0 errors, p99 during the load <= {TARGET_RATIO}x idle",
        "met": bool(
            ratio is not None
            and ratio <= TARGET_RATIO
            and load_phase["errors"] == 0
            and idle_phase["errors"] == 0
            and alive
        ),
    }


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
    with tempfile.TemporaryDirectory(prefix="ironriver-readers-") as folder:
        database_url = args.database_url or f"sqlite:///{Path(folder) / 'ironriver.sqlite'}"
        build_database(database_url)
        result = measure(database_url, Path(folder), args)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
