"""Run every benchmark of issues 5 and 13 and write `bench/results/latest.json` and `latest.md`.

    python -m bench.run                 # the full suite (what `make bench` runs)
    python -m bench.run --quick         # a tiny smoke run of the harness (seconds)
    python -m bench.run --only load,api # some benchmarks only
    python -m bench.run --only readers,first_page   # issue 13's targets 4 and 7

Each measurement is the median of several runs (`--repetitions`, default 3; the scaling
sizes above the load size run `--large-repetitions` times, default 3, by rounds with as many new
runs at the load size) and every peer is measured in the same run, interleaved with ours; each
timed load starts after `sync` and a short pause (`bench.measure.settle`). Synthetic inputs are
written once under `bench/data/` and reused; databases live in `bench/data/work/` and are
removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import api, first_page, load, machine, page, readers, report
from bench.measure import median
from bench.synthetic import ensure

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("load", "scaling", "api", "callbacks", "page", "readers", "first_page")


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def parse_sizes(text: str) -> list[int]:
    return sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 run: a smoke test")
    parser.add_argument("--rows", help="scaling sizes, e.g. 100000,1000000,10000000")
    parser.add_argument("--load-rows", type=int, help="rows of the load benchmark (1000000)")
    parser.add_argument("--repetitions", type=int, help="runs per measurement (3)")
    parser.add_argument(
        "--large-repetitions",
        type=int,
        help="runs per scaling size above --load-rows, by rounds with as many at it (3)",
    )
    parser.add_argument(
        "--api-seconds", type=float, help="load per endpoint and server, seconds (10)"
    )
    parser.add_argument("--api-connections", type=int, default=8, help="open connections (8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--callback-repeat", type=int, help="calls per callback variant (7)")
    parser.add_argument("--callback-variants", type=int, help="variants per callback (6)")
    parser.add_argument(
        "--callback-random", type=int, help="random variants per callback, all inputs at once (10)"
    )
    parser.add_argument(
        "--after-load-rounds", type=int, help="new loads per request timed right after one (3)"
    )
    parser.add_argument("--page-repetitions", type=int, help="cold and warm page loads (5)")
    parser.add_argument(
        "--readers-idle-seconds",
        type=float,
        help="readers' idle phase before the load, seconds (15); the load phase lasts the load",
    )
    parser.add_argument("--readers-clients", type=int, help="reader threads (4)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed (1)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL"),
        help="PostgreSQL server for the load and readers benchmarks on PostgreSQL, without a "
        "database name (postgresql+psycopg://user@host:port; default $BENCH_POSTGRES_URL; "
        "skipped if unset)",
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument(
        "--without",
        default="",
        help="comma-separated load peers to leave out, e.g. sqlite_utils (about 65 s a run)",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "rows": "1000,2000,4000" if quick else "100000,1000000,10000000",
        "load_rows": 2000 if quick else 1_000_000,
        "repetitions": 1 if quick else 3,
        "large_repetitions": 1 if quick else 3,
        "api_seconds": 1.0 if quick else 10.0,
        "callback_repeat": 2 if quick else 7,
        "callback_variants": 2 if quick else 6,
        "callback_random": 1 if quick else 10,
        "after_load_rounds": 1 if quick else 3,
        "page_repetitions": 1 if quick else 5,
        "readers_idle_seconds": 1.0 if quick else 15.0,
        "readers_clients": 2 if quick else 4,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.sizes = parse_sizes(args.rows)
    args.only = [b.strip() for b in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}")
    return args


def run_load_and_scaling(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> Path:
    """The load benchmark, then the other scaling sizes; returns the database kept for serving."""
    log("building the template database (schema + embedded published datasets)")
    template = load.build_template(work)
    tools = load.tools(template, work / "datadir")
    left_out = sorted({name.strip() for name in args.without.split(",")} - {"", "ours"})
    serve_db = work / "serve.sqlite"
    if "load" not in args.only and "scaling" not in args.only:
        # Only the database the other benchmarks serve: one run of our loader, no peers.
        generated = ensure(args.data_dir, args.load_rows, seed=args.seed)
        load.measure_load(
            generated.path, args.load_rows, [tools["ours"]], work, 1, keep_ours=serve_db, log=log
        )
        return serve_db
    missing = [name for name in ("sqlite3_import", "sqlite_utils") if name not in tools]
    tools = {name: tool for name, tool in tools.items() if name not in left_out}
    results["load"] = {
        "rows": args.load_rows,
        "missing_tools": missing,
        "left_out": left_out,
        "tools": {},
    }
    generated = ensure(args.data_dir, args.load_rows, seed=args.seed)
    results["load"]["file"] = generated.path.name
    results["load"]["file_bytes"] = generated.path.stat().st_size
    results["load"]["bad_rows"] = generated.bad_rows
    log(f"load: {args.load_rows:,} rows, {args.repetitions} runs of each tool")
    by_tool = load.measure_load(
        generated.path,
        args.load_rows,
        list(tools.values()),
        work,
        args.repetitions,
        keep_ours=serve_db,
        log=log,
    )
    results["load"]["tools"] = by_tool
    expected = args.load_rows - generated.bad_rows
    if by_tool["ours"]["rows_stored"] != expected:
        raise load.BenchError(
            f"our loader stored {by_tool['ours']['rows_stored']} rows, expected {expected}"
        )
    # Reloads by rounds with first loads of their own (~6 s a round at 1M rows): the ratio is
    # of two medians of runs made side by side, not of one run that any other job can slow.
    reloads = args.repetitions
    log(f"first load, then reload of the same rows: {reloads} round(s)")
    results["reload"] = {
        "rows": args.load_rows,
        "sqlite": load.measure_reload(
            generated.path, args.load_rows, tools["ours"], work, reloads, log=log
        ),
    }

    if args.postgres_url:
        log(f"load on PostgreSQL: {args.load_rows:,} rows, {args.repetitions} runs of each tool")
        pg_tools = load.postgres_tools(args.postgres_url, work / "datadir")
        results["load_postgres"] = {
            "rows": args.load_rows,
            "tools": load.measure_load(
                generated.path,
                args.load_rows,
                list(pg_tools.values()),
                work,
                args.repetitions,
                log=log,
            ),
        }
        results["reload"]["postgres"] = load.measure_reload(
            generated.path,
            args.load_rows,
            pg_tools["ours"],
            work,
            reloads,
            server_url=args.postgres_url,
            log=log,
        )
    else:
        results["load_postgres"] = {"skipped": "no server: set BENCH_POSTGRES_URL"}

    if "scaling" in args.only:
        results["scaling"] = measure_scaling(args, tools, by_tool, work)
    return serve_db


def measure_scaling(
    args: argparse.Namespace,
    tools: dict[str, load.Tool],
    at_load_size: dict[str, dict[str, Any]],
    work: Path,
) -> dict[str, Any]:
    """Our loader and `.import` at each scaling size. Sizes up to the load size run
    `--repetitions` times (the load size's runs are the load benchmark's); the larger ones run
    `--large-repetitions` times, by rounds with as many new runs at the load size (`base`): the
    per-row ratio compares runs made side by side, not minutes apart."""
    chosen = [tools[name] for name in ("ours", "sqlite3_import") if name in tools]
    scaling: dict[str, Any] = {
        "sizes": [],
        "repetitions": args.repetitions,
        "large_repetitions": args.large_repetitions,
    }
    for size in (s for s in args.sizes if s <= args.load_rows):
        if size == args.load_rows:
            measured = {k: v for k, v in at_load_size.items() if k in ("ours", "sqlite3_import")}
        else:
            log(f"scaling: {size:,} rows, {args.repetitions} run(s) each")
            file = ensure(args.data_dir, size, seed=args.seed).path
            measured = load.measure_load(file, size, chosen, work, args.repetitions, log=log)
        scaling["sizes"].append({"rows": size, **measured})
    large = [size for size in args.sizes if size > args.load_rows]
    if large:
        log(
            f"scaling: {', '.join(f'{size:,}' for size in large)} rows by rounds with "
            f"{args.load_rows:,}, {args.large_repetitions} run(s) each"
        )
        files = [(ensure(args.data_dir, size, seed=args.seed).path, size) for size in large]
        base_file = ensure(args.data_dir, args.load_rows, seed=args.seed).path
        measured_by_size = load.measure_sizes(
            [(base_file, args.load_rows), *files], chosen, work, args.large_repetitions, log=log
        )
        scaling["base"] = {"rows": args.load_rows, **measured_by_size[args.load_rows]}
        scaling["sizes"] += [{"rows": size, **measured_by_size[size]} for size in large]
    return scaling


def run_api_and_page(
    args: argparse.Namespace, work: Path, db: Path, results: dict[str, Any]
) -> None:
    metadata = api.write_metadata(work / "datasette-metadata.json", db.stem)
    endpoints = api.endpoints(db.stem)
    want_api = "api" in args.only
    want_page = "page" in args.only
    datasette_ok = shutil.which("datasette") or _importable("datasette")
    with api.ours_server(db, work / "datadir", args.workers, work / "gunicorn.log") as ours:
        peer_cm = (
            api.datasette_server(db, metadata, work / "datasette.log")
            if want_api and datasette_ok
            else _null_context()
        )
        with peer_cm as peer:
            if want_api:
                results["api"] = _measure_api(args, endpoints, ours, peer)
        if want_page:
            reason = page.available()
            if reason:
                results["page"] = {"skipped": reason}
            else:
                log(f"page: {args.page_repetitions} cold and warm loads of / in Chromium")
                results["page"] = page.measure_page(ours, "/", args.page_repetitions)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class _null_context:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _measure_api(
    args: argparse.Namespace, endpoints: list[api.Endpoint], ours: str, peer: str | None
) -> dict[str, Any]:
    tool = api.load_tool()
    out: dict[str, Any] = {
        "tool": tool,
        "connections": args.api_connections,
        "seconds": args.api_seconds,
        "workers": args.workers,
        "repetitions": args.repetitions,
        "peer": "datasette" if peer else None,
        "endpoints": [],
    }
    warmup = min(2.0, args.api_seconds)
    for endpoint in endpoints:
        entry: dict[str, Any] = {"name": endpoint.name, "ours_path": endpoint.ours}
        ours_status, ours_body = api.get(ours + endpoint.ours)
        entry["ours_status"] = ours_status
        servers = {"ours": ours + endpoint.ours}
        if peer:
            entry["peer_path"] = endpoint.datasette
            peer_status, peer_body = api.get(peer + endpoint.datasette)
            entry["peer_status"] = peer_status
            entry["equivalence"] = api.same_rows(ours_body, peer_body)
            servers["peer"] = peer + endpoint.datasette
        for url in servers.values():
            api.hammer(url, warmup, args.api_connections)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for repetition in range(args.repetitions):
            for name, url in servers.items():
                measured = api.hammer(url, args.api_seconds, args.api_connections)
                runs[name].append(measured)
                log(
                    f"  api {endpoint.name} {name} run {repetition + 1}/{args.repetitions}: "
                    f"{measured['requests_per_second']:.0f} req/s, p99 {measured['p99_ms']:.1f} ms"
                )
        for name, server_runs in runs.items():
            entry[name] = {
                "requests_per_second": median([m["requests_per_second"] for m in server_runs]),
                "p50_ms": median([m["p50_ms"] for m in server_runs]),
                "p99_ms": median([m["p99_ms"] for m in server_runs]),
                "non_2xx": sum(m["non_2xx"] for m in server_runs),
                "runs": server_runs,
            }
        out["endpoints"].append(entry)
    return out


def run_callbacks(args: argparse.Namespace, work: Path, db: Path, results: dict[str, Any]) -> None:
    out = work / "callbacks.json"
    env = load.app_env(db, work / "datadir", IRONRIVER_LOG_LEVEL="WARNING")
    log(f"callbacks: every server callback, {args.callback_repeat} cold + warm calls per variant")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.callbacks",
            "--out",
            str(out),
            "--repeat",
            str(args.callback_repeat),
            "--max-variants",
            str(args.callback_variants),
            "--random",
            str(args.callback_random),
            # Loads into this run's copy of the database, after the callbacks are timed.
            "--after-load",
            str(args.after_load_rounds),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if completed.returncode != 0:
        results["callbacks"] = {"error": completed.stderr[-3000:]}
        return
    results["callbacks"] = json.loads(out.read_text(encoding="utf-8"))


def run_readers(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    """Readers idle and during a load of the load benchmark's file, on each backend."""
    phases = readers.Phases(
        clients=args.readers_clients,
        # Long enough for the server's imports and each page's first view.
        warmup_seconds=min(3.0, args.readers_idle_seconds),
        idle_seconds=args.readers_idle_seconds,
    )
    results["readers"] = readers.measure_backends(
        rows=args.load_rows,
        seed=args.seed,
        data_dir=args.data_dir,
        work=work,
        template=work / load.TEMPLATE_NAME,
        phases=phases,
        postgres_url=args.postgres_url,
        log=log,
    )


def run_first_page(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    """Fresh clones of this checkout's HEAD: `make run`, then `make venv run` as the peer."""
    try:
        results["first_page"] = first_page.measure_both(work=work, quick=args.quick, log=log)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        results["first_page"] = {"error": str(error)[-3000:]}
        log(f"first page failed: {error}")


def compile_sources() -> None:
    """Our packages' bytecode, written once before anything is timed. The tools run with
    PYTHONDONTWRITEBYTECODE (as this machine's shell does), and an installed, scheduled loader
    runs from compiled modules: without this, every run would compile a module whose cached
    bytecode is missing or stale, ~0.1-0.3 s of CPU and ~15 MB that no user pays twice."""
    packages = [str(ROOT / name) for name in ("db", "etl", "geo", "dashboard")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    work = args.data_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "datadir").mkdir(parents=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "schema": 1,
        "quick": args.quick,
        "machine": machine.describe(),
        "settings": {
            "load_rows": args.load_rows,
            "scaling_rows": args.sizes,
            "repetitions": args.repetitions,
            "large_repetitions": args.large_repetitions,
            "api_seconds": args.api_seconds,
            "api_connections": args.api_connections,
            "workers": args.workers,
            "callback_repeat": args.callback_repeat,
            "callback_variants": args.callback_variants,
            "callback_random": args.callback_random,
            "after_load_rounds": args.after_load_rounds,
            "page_repetitions": args.page_repetitions,
            "readers_clients": args.readers_clients,
            "readers_idle_seconds": args.readers_idle_seconds,
            "seed": args.seed,
            "only": args.only,
        },
    }
    log(f"machine: {results['machine']['cpu_model']}, {results['machine']['cores']} cores")
    compile_sources()
    try:
        db = run_load_and_scaling(args, work, results)
        if "api" in args.only or "page" in args.only:
            run_api_and_page(args, work, db, results)
        if "callbacks" in args.only:
            run_callbacks(args, work, db, results)
        if "readers" in args.only:
            run_readers(args, work, results)
        if "first_page" in args.only:
            run_first_page(args, work, results)
    finally:
        results["duration_seconds"] = round(time.perf_counter() - started, 1)
        results["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results["load_average_at_end"] = machine.load_average()
        results["benchmarks"] = report.benchmarks(results)
        _write(args.out_dir / "latest.json", json.dumps(results, indent=2, default=str) + "\n")
        _write(args.out_dir / "latest.md", report.markdown(results))
        shutil.rmtree(work, ignore_errors=True)
    log(f"done in {results['duration_seconds']:.0f} s: {args.out_dir / 'latest.md'}")
    print(report.table(results["benchmarks"]))
    return 0


def _write(path: Path, text: str) -> None:
    """Write beside the target, then rename: a results file is never half written."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())
