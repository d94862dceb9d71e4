"""Freshness: stale and failing sources are flagged in `etl status`, the Status page and charts."""

from __future__ import annotations

import datetime as dt
import json

from click.testing import CliRunner
from sqlalchemy import update

from dashboard.app import create_app
from db.engine import make_engine
from db.freshness import recent_runs, source_freshness
from db.lock import writer_active, writer_lock
from db.models import EtlRun
from db.queries import dataset_infos
from db.settings import Settings
from etl.cli import cli
from etl.runs import fail_run, start_run
from tests.conftest import SAMPLE_TRACES
from tests.http_fixture import Reply, serve
from tests.test_dashboard import render, texts


def _age_runs_of(url: str, source: str, days: int) -> None:
    engine = make_engine(url)
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    with engine.begin() as connection:
        connection.execute(update(EtlRun).where(EtlRun.source == source).values(finished_at=when))
    engine.dispose()


def test_a_source_not_refreshed_within_the_limit_is_stale(loaded_db_url):
    _age_runs_of(loaded_db_url, "corridors", 45)
    freshness = source_freshness(make_engine(loaded_db_url), stale_after_days=30).set_index(
        "source"
    )
    assert bool(freshness.at["corridors", "stale"])
    assert freshness.at["corridors", "age_days"] >= 45
    assert freshness.at["corridors", "dataset"] == "corridors"
    assert not freshness.drop(index="corridors")["stale"].any()


def test_failures_after_the_last_success_are_counted_with_their_error(loaded_db_url):
    engine = make_engine(loaded_db_url)
    fail_run(engine, start_run(engine, "embedded", "events", None), "SourceError: bad date")
    freshness = source_freshness(engine, stale_after_days=30).set_index("source")
    assert freshness.at["events", "failures_since"] == 1
    assert freshness.at["events", "last_error"] == "SourceError: bad date"


def test_etl_status_check_exits_1_and_names_the_stale_source(loaded_db_url):
    _age_runs_of(loaded_db_url, "corridors", 45)
    result = CliRunner().invoke(
        cli, ["etl", "status", "--check"], env={"DATABASE_URL": loaded_db_url}
    )
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if line.strip().startswith("corridors"))
    assert "STALE" in line


def test_etl_status_check_passes_when_everything_is_fresh(loaded_db_url):
    result = CliRunner().invoke(
        cli, ["etl", "status", "--check"], env={"DATABASE_URL": loaded_db_url}
    )
    assert result.exit_code == 0, result.output
    assert "STALE" not in result.output


def test_the_status_page_and_the_charts_of_a_stale_source_warn(loaded_db_url):
    _age_runs_of(loaded_db_url, "us_source_states", 90)
    app = create_app(
        Settings.from_env({"DATABASE_URL": loaded_db_url, "IRONRIVER_STALE_AFTER_DAYS": "60"})
    )
    status = texts(render(app, "/status"))
    assert "1 stale source: US source states of firearms recovered in Mexico" in status
    assert "us_source_states" not in status
    estimates = texts(render(app, "/estimates"))
    assert "STALE" not in estimates
    fresh_app = create_app(
        Settings.from_env({"DATABASE_URL": loaded_db_url, "IRONRIVER_STALE_AFTER_DAYS": "120"})
    )
    assert "stale:" not in texts(render(fresh_app, "/status"))


def test_a_chart_built_on_a_stale_source_carries_a_stale_mark(loaded_db_url):
    _age_runs_of(loaded_db_url, "events", 90)
    app = create_app(
        Settings.from_env({"DATABASE_URL": loaded_db_url, "IRONRIVER_STALE_AFTER_DAYS": "60"})
    )
    page = texts(render(app, "/gc-armas"))
    assert "STALE" in page
    assert "Source events last refreshed 90 days ago (limit 60 days)" in page


# --------------------------------------------------------------------------- interrupted runs


def _status(url: str, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        cli, ["etl", "status", *args], env={"DATABASE_URL": url, **(env or {})}
    )


def test_a_run_left_running_with_the_lock_free_is_interrupted_and_fails_the_check(loaded_db_url):
    engine = make_engine(loaded_db_url)
    run_id = start_run(engine, "embedded", "events", None)  # what a SIGKILL leaves behind
    result = _status(loaded_db_url, "--check")
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("events"))
    assert "INTERRUPTED" in line
    runs = recent_runs(engine, 5).set_index("run")
    assert runs.at[run_id, "status"] == "interrupted"
    freshness = source_freshness(engine, stale_after_days=30).set_index("source")
    assert freshness.at["events", "failures_since"] == 1
    assert freshness.at["events", "last_error"].startswith("interrupted")


def test_a_run_whose_writer_still_holds_the_lock_is_running_not_interrupted(loaded_db_url):
    engine = make_engine(loaded_db_url)
    run_id = start_run(engine, "embedded", "events", None)
    with writer_lock(engine):
        assert writer_active(engine)
        result = _status(loaded_db_url, "--check")
        runs = recent_runs(engine, 5, writer_active=True).set_index("run")
    assert not writer_active(engine)
    assert result.exit_code == 0, result.output
    assert runs.at[run_id, "status"] == "running"


def test_an_interrupted_trace_load_fails_the_check_until_that_file_loads(loaded_db_url):
    engine = make_engine(loaded_db_url)
    start_run(engine, "traces", SAMPLE_TRACES.name, None)
    result = _status(loaded_db_url, "--check")
    assert result.exit_code == 1
    assert "interrupted, not since run successfully: run" in result.output
    assert SAMPLE_TRACES.name in result.output.splitlines()[-1]
    # The sample is already loaded, so loading it again is a successful "no change" run.
    load = CliRunner().invoke(
        cli, ["etl", "load-traces", str(SAMPLE_TRACES)], env={"DATABASE_URL": loaded_db_url}
    )
    assert load.exit_code == 0, load.output
    assert _status(loaded_db_url, "--check").exit_code == 0


def test_a_later_successful_run_of_the_source_clears_the_check_and_keeps_the_history(
    loaded_db_url,
):
    engine = make_engine(loaded_db_url)
    run_id = start_run(engine, "embedded", "events", None)
    rerun = CliRunner().invoke(
        cli, ["etl", "run", "--only", "events", "--force"], env={"DATABASE_URL": loaded_db_url}
    )
    assert rerun.exit_code == 0, rerun.output
    result = _status(loaded_db_url, "--check")
    assert result.exit_code == 0, result.output
    runs = recent_runs(engine, 10).set_index("run")
    assert runs.at[run_id, "status"] == "interrupted"
    assert runs.at[run_id, "error"].startswith("interrupted")


def test_the_next_run_sends_one_failure_alert_for_an_interrupted_run(loaded_db_url):
    engine = make_engine(loaded_db_url)
    run_id = start_run(engine, "embedded", "events", None)
    command = ["etl", "run", "--only", "reference"]
    with serve([Reply(204)]) as server:
        env = {"DATABASE_URL": loaded_db_url, "IRONRIVER_WEBHOOK_URL": server.url("/hook")}
        first = CliRunner().invoke(cli, command, env=env)
        second = CliRunner().invoke(cli, command, env=env)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    (request,) = server.requests  # one alert: the second run has nothing new to report
    payload = json.loads(request.body)
    assert payload["event"] == "etl_failed"
    assert payload["interrupted"] is True
    assert payload["run_ids"] == [run_id]
    assert payload["failed_sources"] == ["events"]


def test_the_status_page_shows_an_interrupted_run_and_its_source(loaded_db_url):
    engine = make_engine(loaded_db_url)
    start_run(engine, "embedded", "corridors", None)
    app = create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}))
    page = texts(render(app, "/status"))
    # Readers see the dataset's title, never the module name.
    infos = dataset_infos(engine)
    title = infos.loc[infos["source_module"] == "corridors", "title"].iloc[0]
    assert f"1 interrupted source: {title}" in page
    assert "INTERRUPTED" in page
    assert " interrupted " in f" {page} "
