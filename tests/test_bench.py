"""A tiny run of the benchmark harness (`python -m bench.run --quick`): every benchmark reports."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import first_page, load, measure, page, report
from bench.callbacks import split_output, spread
from bench.measure import Run, percentile, run_measured
from bench.synthetic import ensure

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The harness on 2,000 rows, one run of everything, results in a temporary directory."""
    base = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--data-dir",
            str(base / "data"),
            "--out-dir",
            str(base / "results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((base / "results" / "latest.json").read_text(encoding="utf-8"))
    results["_markdown"] = (base / "results" / "latest.md").read_text(encoding="utf-8")
    results["_data"] = base / "data"
    return results


def by_id(results: dict) -> dict[str, dict]:
    return {row["id"]: row for row in results["benchmarks"]}


def test_quick_run_reports_every_benchmark_with_numbers_and_ratios(quick_run):
    rows = by_id(quick_run)
    with_peer = [
        "load-vs-sqlite3-import",
        "load-vs-sqlite-utils",
        "load-peak-rss",
        "reload-vs-first-load",
        "api-traces-by-source-state-rps",
        "api-traces-by-source-state-p99",
        "api-source-states-rps",
        "api-source-states-p99",
    ]
    own_only = ["rss-flat", "scaling-linear"]
    # The larger scaling size ran by rounds with new runs at the load size, and as many
    # reloads ran as first loads.
    assert quick_run["scaling"]["base"]["rows"] == quick_run["settings"]["load_rows"]
    reps = quick_run["settings"]["repetitions"]
    assert quick_run["reload"]["sqlite"]["repetitions"] == reps
    assert quick_run["reload"]["sqlite"]["first_load"]["repetitions"] == reps
    for ident in with_peer + own_only:
        assert ident in rows, ident
        row = rows[ident]
        assert isinstance(row["ours"], int | float) and row["ours"] > 0, row
        assert isinstance(row["peer"], int | float) and row["peer"] > 0, row
        assert isinstance(row["ratio"], int | float) and row["ratio"] > 0, row
        assert row["met"] in (True, False, None), row
        assert row["met"] is not False or row["why"], row
    callbacks = [r for r in rows.values() if r["id"].startswith("callback-")]
    assert callbacks, "no dashboard callback was timed"
    assert all(isinstance(r["ours"], int | float) and r["ours"] > 0 for r in callbacks)


def test_quick_run_times_the_map_page_cold_and_warm(quick_run):
    reason = page.available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    rows = by_id(quick_run)
    for ident in ("page-cold-time", "page-cold-bytes", "page-warm-time", "page-warm-bytes"):
        assert rows[ident]["ours"] > 0, rows[ident]
    measured = quick_run["page"]
    assert measured["cold_runs"][0]["map_layers"] >= page.MIN_MAP_LAYERS
    # The floor page drew the same choropleth layers with the same plotly.js, in the same run.
    floor = measured["floor"]
    assert floor["cold_runs"][0]["map_layers"] == measured["cold_runs"][0]["map_layers"]
    assert measured["plotly_script"] == "/assets/plotly-custom.min.js"
    # Complete (what the app renders after the maps is in place) is never before drawn; the
    # floor renders nothing after its maps.
    for run in measured["cold_runs"] + measured["warm_runs"]:
        assert run["complete_ms"] >= run["maps_drawn_ms"] > 0, run
    for run in floor["cold_runs"] + floor["warm_runs"]:
        assert run["complete_ms"] == run["maps_drawn_ms"], run
    for phase in ("cold", "warm"):
        row = rows[f"page-{phase}-time"]
        assert row["peer"] == floor[f"{phase}_maps_drawn_ms"] > 0, row
        assert row["ratio"] == pytest.approx(row["ours"] / row["peer"], rel=1e-3)
        assert row["met"] is not False or row["why"], row
    assert rows["page-cold-bytes"]["target"] == "<= 1.0 MB"
    # Nothing in any load asked for Dash's full plotly.js.
    for run in measured["cold_runs"] + measured["warm_runs"]:
        assert not [u for u in run["largest"] if "package_data/plotly.min.js" in u["url"]]


def test_our_api_and_datasette_answer_with_the_same_rows(quick_run):
    for endpoint in quick_run["api"]["endpoints"]:
        assert endpoint["equivalence"]["same"], endpoint["equivalence"]
        assert endpoint["ours"]["non_2xx"] == 0
        assert endpoint["peer"]["non_2xx"] == 0


def test_every_server_callback_is_timed_or_said_why_not(quick_run):
    callbacks = quick_run["callbacks"]["callbacks"]
    assert any(c["output"] == "map-view.children" for c in callbacks)
    for callback in callbacks:
        if callback["exercised"]:
            assert callback["cold_p95_ms"] > 0
        else:
            assert callback["reason"], callback


def test_first_answers_after_a_load_are_timed_warmed_and_as_before(quick_run):
    after = quick_run["callbacks"]["after_load"]
    assert (
        after["warmed"]["warmed_in_background"] and not after["on_request"]["warmed_in_background"]
    )
    rows = [r for r in quick_run["benchmarks"] if r["id"].startswith("after-load-")]
    # Each page container the harness found, and the download.
    assert {r["id"] for r in rows} >= {
        "after-load-map-view.children",
        "after-load-trends-view.children",
        "after-load-api-v1-traces-by-source-state.csv",
    }
    for row in rows:
        assert row["ours"] > 0 and row["peer"] > 0 and row["ratio"] > 0, row
        assert row["met"] is not False or row["why"], row
    for measured in after["warmed"]["requests"].values():
        assert measured["served_after_median_ms"] > 0
    assert "## First answers after a load" in quick_run["_markdown"]


def test_quick_run_reads_during_a_load_and_judges_api_and_callbacks(quick_run):
    sqlite = quick_run["readers"]["backends"]["sqlite"]
    assert sqlite["load_returncode"] == 0 and sqlite["server_alive"], sqlite
    assert "accepted" in sqlite["load_summary"]
    for phase in ("idle", "during_load"):
        assert sqlite[phase]["requests"] > 0 and sqlite[phase]["errors"] == 0, sqlite[phase]
    rows = by_id(quick_run)
    for kind in ("api", "callback"):
        row = rows[f"readers-sqlite-{kind}"]
        assert row["target"] == "<= 3x idle, 0 errors"
        assert row["met"] is not False or row["why"], row
        if row["ratio"] is not None:
            assert row["ratio"] == pytest.approx(row["ours"] / row["peer"], abs=0.01)
    assert "## Readers during a load" in quick_run["_markdown"]


def test_quick_run_times_a_first_page_from_a_fresh_clone(quick_run):
    measured = quick_run["first_page"]
    assert measured["quick"] and measured["rev"]
    serve = measured["setups"]["serve"]
    assert serve["seconds"] >= serve["clone_seconds"] > 0
    assert serve["venv_bytes"] > 0 and serve["packages"] >= 1
    rows = by_id(quick_run)
    assert rows["first-page-time"]["ours"] == serve["seconds"]
    assert rows["first-page-venv"]["met"] is True
    assert "## A newcomer's first page" in quick_run["_markdown"]


def test_a_first_page_that_never_answers_ends_its_server_and_removes_its_clone(tmp_path):
    import psutil

    quick = (f"BIN={Path(sys.executable).parent}", "PIP=:")
    with pytest.raises(RuntimeError, match="did not answer"):
        first_page.measure(
            first_page.SERVE,
            rev=first_page.head_commit(),
            work=tmp_path,
            make_overrides=quick,
            timeout=2.0,
        )
    assert list(tmp_path.iterdir()) == []
    left = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        if str(tmp_path) in (process.info["cwd"] or "") + " ".join(process.info["cmdline"] or []):
            left.append(process.info)
    assert not left, left


def test_what_serving_needs_follows_requirements_and_their_extras():
    installed = first_page.installed_distributions(Path(sys.prefix))
    needed = first_page.needed_to_serve(installed)
    # This venv has every extra: the serving dependencies, through psycopg[binary]'s own extra,
    # and not what only tests, benchmarks or the trace loader use.
    assert {"ironriver", "dash", "flask", "psycopg", "psycopg-binary"} <= needed
    assert not {"pytest", "ruff", "datasette", "pyarrow", "playwright"} & needed
    assert {"pytest", "pyarrow"} <= set(installed)


def _readers_results(idle_ms: float, load_ms: float, errors: int = 0) -> dict:
    def measured(p99: float, failed: int) -> dict:
        return {
            "seconds": 10.0,
            "requests": 300,
            "errors": failed,
            "statuses": {"200": 300 - failed, **({"500": failed} if failed else {})},
            "p50_ms": p99 / 3,
            "p99_ms": p99,
            "max_ms": p99 * 2,
            "by_kind": {
                kind: {"requests": 100, "p50_ms": p99 / 3, "p99_ms": p99, "max_ms": p99 * 2}
                for kind in ("page", "callback", "api")
            },
            "failures": ["POST /_dash-update-component: 500"] * failed,
        }

    kinds = {
        kind: {
            "idle_p99_ms": idle_ms,
            "during_load_p99_ms": load_ms,
            "ratio": round(load_ms / idle_ms, 2),
        }
        for kind in ("page", "callback", "api")
    }
    backend = {
        "clients": 4,
        "idle": measured(idle_ms, 0),
        "during_load": measured(load_ms, errors),
        "kinds": kinds,
        "server_alive": True,
        "load_returncode": 0,
        "load_summary": "accepted",
        "load_average_before": [1.0, 1.0, 1.0],
        "load_average_after": [1.5, 1.0, 1.0],
    }
    return {
        "readers": {
            "rows": 1_000_000,
            "phases": {"clients": 4, "warmup_seconds": 3.0, "idle_seconds": 15.0},
            "backends": {"sqlite": backend, "postgresql": {"skipped": "no server"}},
        }
    }


def test_report_judges_readers_by_the_ratio_to_idle_and_by_errors():
    calm = by_id({"benchmarks": report.benchmarks(_readers_results(40.0, 100.0))})
    assert calm["readers-sqlite-api"]["ratio"] == 2.5 and calm["readers-sqlite-api"]["met"]
    assert calm["readers-sqlite-callback"]["peer"] == 40.0
    assert calm["readers-postgresql"]["met"] is None  # not measured is not "met"
    slow = by_id({"benchmarks": report.benchmarks(_readers_results(40.0, 130.0))})
    assert (
        slow["readers-sqlite-api"]["met"] is False and "3.25x" in slow["readers-sqlite-api"]["why"]
    )
    failing = by_id({"benchmarks": report.benchmarks(_readers_results(40.0, 50.0, errors=2))})
    assert failing["readers-sqlite-callback"]["met"] is False
    assert "2 error(s)" in failing["readers-sqlite-callback"]["why"]


def test_report_says_which_packages_make_run_installed_that_serving_does_not_need():
    def setup(name: str, seconds: float, size: int, extra: list[str]) -> dict:
        return {
            "label": f"make {name}",
            "what": name,
            "seconds": seconds,
            "clone_seconds": 0.5,
            "venv_bytes": size,
            "packages": 60 + len(extra),
            "not_needed_to_serve": extra,
        }

    results = {
        "first_page": {
            "rev": "abc",
            "pip": "warm",
            "setups": {
                "serve": setup("run", 20.0, 430_000_000, ["pytest"]),
                "contributor": setup("venv run", 80.0, 1_000_000_000, ["pytest", "ruff"]),
            },
        }
    }
    rows = by_id({"benchmarks": report.benchmarks(results)})
    assert rows["first-page-time"]["ratio"] == 0.25
    assert rows["first-page-venv"]["ours"] == 430 and rows["first-page-venv"]["peer"] == 1000
    assert rows["first-page-venv"]["met"] is False
    assert "pytest" in rows["first-page-venv"]["why"]


def test_the_readme_performance_table_is_the_one_of_latest_json(tmp_path):
    from cogapp import Cog

    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    shutil.copy(ROOT / "bench" / "results" / "latest.json", results / "latest.json")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    assert Cog().main(["cog", "--check", str(tmp_path / "README.md")]) == 0
    text = (results / "latest.json").read_text(encoding="utf-8")
    measured = json.loads(text)
    measured["load"]["tools"]["ours"]["median_seconds"] *= 2
    (results / "latest.json").write_text(json.dumps(measured), encoding="utf-8")
    assert Cog().main(["cog", "--check", str(tmp_path / "README.md")]) != 0


def test_results_markdown_has_the_table_the_machine_and_the_reasons(quick_run):
    text = quick_run["_markdown"]
    assert "| Benchmark | Ours | Peer | Ratio | Target | Met? |" in text
    assert quick_run["machine"]["cpu_model"] in text
    assert "## Targets not met, and why" in text
    assert quick_run["machine"]["python_sqlite"] in text


def test_synthetic_inputs_are_reused_and_named_synthetic(quick_run):
    data = quick_run["_data"]
    files = sorted(p.name for p in data.glob("*.csv"))
    assert files and all(name.startswith("SYNTHETIC-") for name in files)
    before = (data / files[0]).stat().st_mtime_ns
    rows = int(files[0].split("-")[2])
    again = ensure(data, rows)
    assert again.path.stat().st_mtime_ns == before
    assert again.bad_rows > 0
    assert not list(data.glob("work"))  # databases are removed after the run


def test_every_timed_load_run_of_every_tool_starts_after_a_sync(quick_run):
    """Ours, `.import`, sqlite-utils (and psql with a server), first loads, reloads and every
    scaling size: each run kept what `settle` found just before it."""
    settled = report._settled_runs(quick_run)

    def runs_under(value: object) -> list[dict]:
        """Every run of every summary anywhere under `value`."""
        if isinstance(value, list):
            return [run for item in value for run in runs_under(item)]
        if isinstance(value, dict):
            own = value.get("runs", [])
            return own + [run for v in value.values() for run in runs_under(v)]
        return []

    timed = runs_under([quick_run[key] for key in ("load", "load_postgres", "reload", "scaling")])
    assert {"ours", "sqlite3_import"} <= set(quick_run["load"]["tools"])
    assert len(settled) == len(timed) > 0
    for run in timed:
        assert run["settled"]["pause_seconds"] == measure.SETTLE_SECONDS, run
        assert run["settled"]["sync_seconds"] >= 0, run
    assert "`sync`" in quick_run["_markdown"]


def test_settle_syncs_and_pauses_before_the_command_starts(monkeypatch, tmp_path):
    events: list[tuple[str, float]] = []
    real_sync, real_popen = measure.os.sync, measure.subprocess.Popen

    def sync() -> None:
        events.append(("sync", measure.time.perf_counter()))
        real_sync()

    def popen(*args, **kwargs):
        events.append(("start", measure.time.perf_counter()))
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(measure.os, "sync", sync)
    monkeypatch.setattr(measure.subprocess, "Popen", popen)
    run = run_measured(["true"], settle_first=True)
    assert [name for name, _ in events] == ["sync", "start"]
    assert events[1][1] - events[0][1] >= measure.SETTLE_SECONDS
    assert run.settled is not None and run.as_dict()["settled"]["pause_seconds"] > 0
    events.clear()
    assert run_measured(["true"]).settled is None
    assert events == [("start", events[0][1])]  # no sync unless asked for


def _fake_run(seconds: float, cpu: float | None = None) -> Run:
    return Run(
        seconds=seconds,
        returncode=0,
        peak_rss_bytes=100_000_000,
        peak_pss_bytes=90_000_000,
        main_max_rss_bytes=100_000_000,
        cpu_seconds=seconds if cpu is None else cpu,
    )


def test_larger_sizes_are_measured_by_rounds_with_the_load_size(tmp_path):
    calls: list[tuple[str, str]] = []

    def tool(name: str) -> load.Tool:
        def run(csv_path: Path, database: Path) -> tuple[Run, int]:
            calls.append((csv_path.name, name))
            return _fake_run(1.0 if csv_path.name == "small.csv" else 10.0), 7

        return load.Tool(name, name, run)

    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    for path in (small, large):
        path.write_text("header\n", encoding="utf-8")
    measured = load.measure_sizes(
        [(small, 100), (large, 1000)], [tool("ours"), tool("peer")], tmp_path, 3, log=print
    )
    one_round = [("small.csv", "ours"), ("small.csv", "peer"), ("large.csv", "ours")]
    assert calls == [*one_round, ("large.csv", "peer")] * 3
    assert measured[100]["ours"]["repetitions"] == 3
    assert measured[1000]["peer"]["median_seconds"] == 10.0


def _summary(seconds: list[float], cpu: list[float] | None = None) -> dict:
    cpus = cpu or seconds
    return load.summarise([(_fake_run(s, c), 1) for s, c in zip(seconds, cpus, strict=True)], 1)


def test_the_reload_rows_are_medians_of_their_runs_against_first_loads_beside_them():
    earlier = _summary([3.0, 3.1, 3.2])  # the load benchmark's, made minutes before
    results = {
        "load": {"rows": 1_000_000, "tools": {"ours": earlier}},
        "load_postgres": {"rows": 1_000_000, "tools": {"ours": earlier}},
        "reload": {
            "rows": 1_000_000,
            # One slow run of three (another job on the machine) moves the median not at all.
            "sqlite": {**_summary([1.8, 1.7, 3.9]), "first_load": _summary([2.0, 2.2, 2.4])},
            "postgres": {**_summary([2.1, 2.6, 2.3]), "first_load": _summary([2.2, 2.1, 2.3])},
        },
    }
    rows = by_id({"benchmarks": report.benchmarks(results)})
    sqlite, postgres = rows["reload-vs-first-load"], rows["reload-vs-first-load-postgres"]
    assert sqlite["ours"] == 1.8 and sqlite["peer"] == 2.2 and sqlite["met"] is True
    assert (
        "(median of 3 reloads, 1.7–3.9 s, each just after a first load: 2.0–2.4 s)"
        in (sqlite["name"])
    )
    assert sqlite["peer_name"] == "first loads, by rounds with the reloads"
    assert postgres["ratio"] == pytest.approx(2.3 / 2.2, rel=1e-3) and postgres["met"] is False
    assert "1.045x" in postgres["why"]
    # Older results without first loads of their own: the load benchmark's, as before.
    for backend in ("sqlite", "postgres"):
        del results["reload"][backend]["first_load"]
    old = by_id({"benchmarks": report.benchmarks(results)})["reload-vs-first-load"]
    assert old["peer"] == 3.1 and old["name"].endswith("vs their first load")


def test_each_reload_follows_a_first_load_into_the_database_it_left(monkeypatch, tmp_path):
    calls: list[tuple[str, str]] = []

    def first_load(csv_path: Path, database: Path) -> tuple[Run, int]:
        calls.append(("first load", str(database)))
        database.write_bytes(b"loaded")
        return _fake_run(2.0), 9

    def load_traces(csv_path: Path, env: dict[str, str]) -> tuple[Run, int]:
        database = env["DATABASE_URL"].removeprefix("sqlite:///")
        assert Path(database).read_bytes() == b"loaded"  # the first load's, not a new one
        assert csv_path.read_bytes().startswith(codecs.BOM_UTF8)  # a re-export of the file
        calls.append(("reload", database))
        run = _fake_run(1.5)
        run.stdout = "x.csv: accepted — read 10, loaded 0, rejected 1, duplicate 9"
        return run, 0

    monkeypatch.setattr(load, "_load_traces", load_traces)
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("header\n", encoding="utf-8")
    tool = load.Tool("ours", "ours", first_load)
    measured = load.measure_reload(csv_path, 10, tool, tmp_path, 3, log=print)
    database = str((tmp_path / "reload.sqlite").resolve())
    assert calls == [("first load", str(tmp_path / "reload.sqlite")), ("reload", database)] * 3
    assert measured["median_seconds"] == 1.5 and measured["repetitions"] == 3
    assert measured["first_load"]["median_seconds"] == 2.0
    assert measured["first_load"]["repetitions"] == 3


def test_the_per_row_ratio_compares_the_runs_made_by_rounds_with_the_large_size():
    load_size = {
        "rows": 1_000_000,
        "ours": _summary([3.0, 3.1, 3.2]),
        "sqlite3_import": _summary([2.0] * 3),
    }
    results = {
        "settings": {"repetitions": 3, "load_rows": 1_000_000, "large_repetitions": 3},
        "load": {
            "rows": 1_000_000,
            "tools": {"ours": load_size["ours"], "sqlite3_import": load_size["sqlite3_import"]},
        },
        "scaling": {
            "sizes": [
                load_size,
                {
                    "rows": 10_000_000,
                    "ours": _summary([24.0, 25.0, 30.0], [33.0, 34.0, 36.0]),
                    "sqlite3_import": _summary([20.0, 20.5, 21.0]),
                },
            ],
            "base": {
                "rows": 1_000_000,
                "ours": _summary([2.4, 2.5, 2.6], [3.3, 3.4, 3.5]),
                "sqlite3_import": _summary([2.0, 2.1, 2.2]),
            },
        },
    }
    row = by_id({"benchmarks": report.benchmarks(results)})["scaling-linear"]
    # 25 s per 10M (the median, not the slow 30 s) against 2.5 s per 1M made beside it, not
    # the load benchmark's 3.1 s.
    assert row["ours"] == 2.5 and row["peer"] == 2.5 and row["ratio"] == 1.0
    assert row["met"] is True
    assert "median of 3 runs of each, interleaved; 2.40–3.00 s per 1M rows" in row["name"]
    assert "CPU per row 1.0x" in row["name"] and "`.import`: 0.976x" in row["name"]
    assert row["peer_name"] == "ours at 1,000,000 rows, interleaved"
    text = "\n".join(report._scaling_table(results["scaling"]))
    assert "| 1,000,000 (by rounds with the larger) | 3 | 2.5 (2.4–2.6) |" in text
    # Slower at 10M with the same CPU per row (the machine busy): not met, and the reason says
    # what the CPU and the load average were.
    slow = results["scaling"]["sizes"][1]["ours"] = _summary([31.0, 32.0, 40.0], [33.0] * 3)
    for run, load_average in zip(slow["runs"], (4.2, 4.8, 4.5), strict=True):
        run["settled"] = {"load_average": load_average}
    missed = by_id({"benchmarks": report.benchmarks({**results, "machine": {"cores": 2}})})
    row = missed["scaling-linear"]
    assert row["ratio"] == 1.28 and row["met"] is False
    assert row["why"] == (
        "per-row time grew 1.28x, CPU per row 0.971x; the one-minute load average before the "
        "10,000,000-row runs was 4.20–4.80 on 2 cores"
    )
    # Without runs made by rounds (older results), the load size's own runs, as before.
    del results["scaling"]["base"]
    old = by_id({"benchmarks": report.benchmarks(results)})["scaling-linear"]
    assert old["peer"] == 3.1 and old["name"].endswith("(`.import`: 1.025x)")


def test_a_command_that_ends_before_the_first_poll_still_has_a_peak_rss():
    # `true` ends within microseconds of its exec, long before the sampler's 50 ms poll.
    for _ in range(10):
        run = run_measured(["true"])
        assert run.returncode == 0
        assert run.peak_rss_bytes > 0, run.as_dict()
        assert run.peak_rss_source == "ru_maxrss (upper bound)"
        assert run.peak_rss_bytes == run.main_max_rss_bytes


def test_a_command_seen_running_keeps_its_sampled_peak_rss(tmp_path):
    # Python holding 64 MB for three poll intervals: the samples see it, not ru_maxrss alone.
    holder = (
        "import time; block = bytearray(64_000_000); block[::4096] = b'x' * 15625; time.sleep(0.2)"
    )
    run = run_measured([sys.executable, "-c", holder])
    assert run.returncode == 0, run.stderr
    assert run.peak_rss_source == "samples"
    assert run.peak_rss_bytes >= 64_000_000


def test_the_report_says_when_the_peer_peak_is_an_upper_bound():
    runs = [{"peak_rss_source": "samples"}, {"peak_rss_source": "ru_maxrss (upper bound)"}]
    assert "upper bound" in report._rss_bound_note({"runs": runs})
    assert report._rss_bound_note({"runs": runs[:1]}) == ""
    assert report._rss_bound_note(None) == ""


def test_percentiles_interpolate_like_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert percentile([7], 99) == 7


def test_callback_outputs_split_like_dash_names_them():
    assert split_output("..a.b...c.d@x1..") == ([("a", "b"), ("c", "d")], True)
    assert split_output("url.href@abc") == ([("url", "href")], False)
    assert spread(list(range(10)), most=4) == [9, 0, 3, 6]


def _page_results(ours_ms: float, floor_ms: float, cold_bytes: int) -> dict:
    def run(ms: float, size: int) -> dict:
        return {
            "maps_drawn_ms": ms,
            "map_layers": 4,
            "dom_content_loaded_ms": 100.0,
            "bytes_transferred": size,
            "requests": 20,
            "from_cache": 0,
            "compressed_responses": 18,
            "responses": 20,
            "largest": [{"url": "/assets/plotly-custom.min.js", "bytes": 450_000}],
        }

    def pages(ms: float, size: int) -> dict:
        return {
            "cold_maps_drawn_ms": ms,
            "cold_bytes_transferred": size,
            "warm_maps_drawn_ms": ms / 2,
            "warm_bytes_transferred": 20_000,
            "cold_runs": [run(ms, size)],
            "warm_runs": [run(ms / 2, 20_000)],
        }

    return {"page": {**pages(ours_ms, cold_bytes), "floor": pages(floor_ms, 2_000_000)}}


def test_report_judges_the_cold_map_page_against_its_floor_and_one_megabyte():
    slow = by_id({"benchmarks": report.benchmarks(_page_results(1300.0, 500.0, 1_200_000))})
    assert slow["page-cold-time"]["ratio"] == 2.6
    assert slow["page-cold-time"]["met"] is False
    assert "static floor page" in slow["page-cold-time"]["why"]
    assert slow["page-cold-bytes"]["met"] is False
    near = by_id({"benchmarks": report.benchmarks(_page_results(640.0, 500.0, 950_000))})
    assert near["page-cold-time"]["met"] is True  # 1.28x
    assert near["page-cold-bytes"]["met"] is True


def test_report_marks_a_missed_target_and_keeps_its_reason():
    rows = report.benchmarks(
        {
            "settings": {"repetitions": 3, "load_rows": 100, "large_repetitions": 1},
            "load": {
                "rows": 100,
                "tools": {
                    name: {
                        "median_seconds": seconds,
                        "median_cpu_seconds": seconds,
                        "max_peak_rss_mb": 50.0,
                    }
                    for name, seconds in (
                        ("ours", 3.0),
                        ("sqlite3_import", 1.0),
                        ("sqlite_utils", 6.0),
                    )
                },
            },
        }
    )
    found = {row["id"]: row for row in rows}
    assert found["load-vs-sqlite3-import"]["ratio"] == 3.0
    assert found["load-vs-sqlite3-import"]["met"] is False
    assert found["load-vs-sqlite3-import"]["why"]
    assert found["load-vs-sqlite-utils"]["met"] is True
    assert found["load-vs-sqlite-utils"]["why"] is None


def test_the_schema_floor_on_postgresql_copies_exactly_the_rows_our_loader_stores(
    postgres_url, tmp_path
):
    """The floor peer's `traces` holds our loader's rows, value for value, and both are timed."""
    from sqlalchemy import create_engine, text

    from bench import load

    server = postgres_url.rsplit("/", 1)[0]
    generated = ensure(tmp_path / "data", 2_000, seed=3)
    tools = load.postgres_tools(server, tmp_path / "datadir")
    measured = load.measure_load(
        generated.path, 2_000, list(tools.values()), tmp_path, 1, log=lambda _: None
    )

    def stored(name: str) -> list[tuple]:
        engine = create_engine(f"{server}/{name}")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM traces ORDER BY trace_number")).all()
        engine.dispose()
        return [tuple(row) for row in rows]

    try:
        ours, floor = stored("bench_load_ours"), stored("bench_load_checked")
    finally:  # the bench names its databases on the server; this test's are not left behind
        admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in ("ours", "copy", "checked", "checked_source"):
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "bench_load_{name}" WITH (FORCE)')
                )
        admin.dispose()
    assert len(ours) == 2_000 - generated.bad_rows
    assert floor == ours
    assert measured["psql_copy_checked"]["rows_stored"] == len(ours)
    assert measured["psql_copy_checked"]["median_seconds"] > 0
    assert measured["psql_copy"]["rows_stored"] == 2_000


def test_each_reload_on_postgresql_follows_a_first_load_into_its_database(postgres_url, tmp_path):
    from sqlalchemy import create_engine, text

    server = postgres_url.rsplit("/", 1)[0]
    generated = ensure(tmp_path / "data", 2_000, seed=3)
    first_load = load.postgres_tools(server, tmp_path / "datadir")["ours"]
    try:
        measured = load.measure_reload(
            generated.path, 2_000, first_load, tmp_path, 2, server_url=server, log=lambda _: None
        )
    finally:  # the bench names its databases on the server; this test's are not left behind
        admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(
                text(f'DROP DATABASE IF EXISTS "{load.OURS_POSTGRES_DATABASE}" WITH (FORCE)')
            )
        admin.dispose()
    # Each round: a first load storing the good rows, then a reload storing none of them again.
    assert measured["first_load"]["repetitions"] == measured["repetitions"] == 2
    assert measured["first_load"]["rows_stored"] == 2_000 - generated.bad_rows
    assert measured["rows_stored"] == 0
    assert all("settled" in run for run in measured["runs"] + measured["first_load"]["runs"])
