"""Denominators as a cited dataset, and the DERIVED rates the read side, API and export compute."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from db import queries
from db.datasets import DATASETS, Filters
from db.engine import make_engine
from etl.cli import cli

NFCTA = {"release": "ATF NFCTA Vol IV", "period": "2022-2023"}


@pytest.fixture
def engine(loaded_db_url: str) -> Iterator[Engine]:
    engine = make_engine(loaded_db_url, read_only=True)
    yield engine
    engine.dispose()


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_state_populations_add_up_to_each_census_national_total(engine: Engine) -> None:
    rows = DATASETS["denominators"].query(engine, Filters(measure="population"))
    for level, total_code, states in (("us_state", "US", 51), ("mx_state", "MX", 32)):
        own = rows[rows["geo_level"] == level]
        total = rows[(rows["geo_level"] == "country") & (rows["geo_code"] == total_code)]
        assert len(own) == states
        assert own["value"].sum() == total["value"].item()
    assert set(rows["source_id"]) == {"S97", "S98"}
    assert rows["citation"].str.len().min() > 40


def test_licensed_dealers_exist_only_where_published(engine: Engine) -> None:
    rows = DATASETS["denominators"].query(engine, Filters(measure="licensed_dealers"))
    states = rows[rows["geo_level"] == "us_state"]
    assert sorted(states["geo_code"]) == ["AZ", "CA", "FL", "NC", "NM", "OH", "PA", "TX"]
    assert set(rows["source_id"]) == {"S78"}


def test_denominators_are_not_offered_as_a_map_series(engine: Engine) -> None:
    assert "denominators" not in set(queries.map_series(engine)["dataset"])


def test_a_rate_is_the_count_per_year_over_the_denominator_with_both_citations(
    engine: Engine,
) -> None:
    rows = DATASETS["source-states"].query(engine, Filters(measure="per_100k", **NFCTA))
    arizona = rows[rows["geo_code"] == "AZ"].iloc[0]
    texas = rows[rows["geo_code"] == "TX"].iloc[0]
    # 2022-2023 is two years; the denominators are the 2020 census counts.
    assert arizona["rate"] == pytest.approx(arizona["count"] / 2 / 7_151_502 * 100_000, rel=1e-3)
    assert arizona["denominator"] == 7_151_502 and arizona["denominator_year"] == 2020
    assert arizona["status"] == "DERIVED" and arizona["count_status"] == "VERIFIED"
    assert "Census" in arizona["denominator_citation"] and arizona["citation"]
    assert arizona["rate_unit"] == "per 100,000 residents per year"
    # Texas leads by count, Arizona per resident (the "about twice").
    assert texas["count"] > arizona["count"]
    assert 1.7 < arizona["rate"] / texas["rate"] < 2.3
    assert "apart" not in arizona["rate_note"]


def test_a_rate_far_in_time_from_its_denominator_says_so(engine: Engine) -> None:
    rows = DATASETS["source-states"].query(engine, Filters(measure="per_100k", period="2007"))
    assert "13 years apart" in rows.iloc[0]["rate_note"]


def test_a_state_without_a_dealer_count_gets_no_rate_not_an_estimate(engine: Engine) -> None:
    rows = DATASETS["traces-by-source-state"].query(engine, Filters(measure="per_100_dealers"))
    no_dealers = rows[~rows["source_state"].isin(["AZ", "CA", "FL", "NC", "NM", "OH", "PA", "TX"])]
    assert not no_dealers.empty
    assert no_dealers["rate"].isna().all() and no_dealers["denominator"].isna().all()
    assert no_dealers["rate_note"].str.startswith("no denominator").all()
    texas = rows[rows["source_state"] == "TX"].iloc[0]
    assert texas["denominator"] == 5938 and texas["denominator_source_id"] == "S78"


def test_trace_rates_use_the_years_the_file_covers(engine: Engine) -> None:
    files = queries.trace_files(engine)
    years = int(files["year_max"].iloc[0]) - int(files["year_min"].iloc[0]) + 1
    rows = DATASETS["traces-by-recovery-state"].query(engine, Filters(measure="per_100k"))
    first = rows.dropna(subset=["rate"]).iloc[0]
    expected = first["count"] / years / first["denominator"] * 100_000
    assert first["rate"] == pytest.approx(expected, rel=5e-3)
    assert first["source_id"].startswith("trace-file:")


def test_api_and_export_carry_the_measure(client: Any, loaded_db_url: str) -> None:
    response = client.get("/api/v1/source-states.csv?measure=per_100_dealers")
    assert response.status_code == 200
    rows = _csv(response.get_data(as_text=True))
    assert rows and {"count", "denominator", "denominator_year", "rate", "rate_note"} <= set(
        rows[0]
    )
    result = CliRunner().invoke(
        cli,
        ["export", "traces-by-source-state", "--measure", "per_100k"],
        env={"DATABASE_URL": loaded_db_url},
    )
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in _csv(result.stdout)} == {"DERIVED"}
    refused = client.get("/api/v1/traces-by-firearm-type.csv?measure=per_100k")
    assert refused.status_code == 400
    unknown = client.get("/api/v1/traces-by-source-state.csv?measure=per_capita")
    assert unknown.status_code == 400


def test_the_rate_layer_hover_names_count_denominator_rate_and_both_sources(
    engine: Engine,
) -> None:
    from dashboard import figures

    rows = DATASETS["source-states"].query(engine, Filters(measure="per_100k", **NFCTA))
    layer = figures.rate_layer(rows, country="US", sources={"S97": "U.S. Census Bureau (2021)"})
    arizona = layer[layer["code"] == "AZ"].iloc[0]
    assert arizona["text"].startswith("27.7") or arizona["text"].startswith("27.8")
    assert "per 100,000 residents per year (DERIVED)" in arizona["text"]
    assert "Count: 3,969 firearms" in arizona["note"]
    assert "7,151,502 residents (2020)" in arizona["note"]
    assert "U.S. Census Bureau (2021) [S97]" in arizona["source"] and "[S20a]" in arizona["source"]


def test_a_rate_of_synthetic_traces_still_says_synthetic(engine: Engine) -> None:
    from dashboard import figures

    rows = DATASETS["traces-by-source-state"].query(engine, Filters(measure="per_100k"))
    layer = figures.rate_layer(rows, country="US", sources={})
    assert set(layer["status"]) == {"DERIVED from SYNTHETIC"}
