"""Freshness: stale and failing sources are flagged in `etl status`, the Status page and charts."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlalchemy import update

from dashboard.app import create_app
from db.engine import make_engine
from db.models import EtlRun
from db.queries import source_freshness
from db.settings import Settings
from etl.cli import cli
from etl.runs import fail_run, start_run
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
    assert "1 source(s) stale: US source states of firearms recovered in Mexico" in status
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
