"""A tiny run of the benchmark harness (`python -m bench.run --quick`): every benchmark reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import page, report
from bench.callbacks import split_output, spread
from bench.measure import percentile, run_measured
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
