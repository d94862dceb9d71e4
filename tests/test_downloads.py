"""Downloads that travel: the zip's Frictionless Data Package, its READMEs, and codes kept as text."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import frictionless
import pandas as pd
import pytest

from db import queries
from db.datapackage import FIELDS
from db.datasets import DATASETS
from db.engine import make_engine

pytestmark = pytest.mark.usefixtures("csv_field_limit_restored")

ZIP_FILES = {"data.csv", "datapackage.json", "README.md", "LEEME.md"}


def _unzip(client: Any, url: str, into: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert set(archive.namelist()) == ZIP_FILES
        archive.extractall(into)
    return into


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_zip_is_a_valid_frictionless_data_package(
    client: Any, tmp_path: Path, name: str
) -> None:
    folder = _unzip(client, f"/api/v1/{name}.zip", tmp_path)
    report = frictionless.validate(folder / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert (
        descriptor["licenses"] and descriptor["version"] == descriptor["iron_river"]["data_version"]
    )
    fields = descriptor["resources"][0]["schema"]["fields"]
    assert all(f["description"] and f["type"] for f in fields)
    assert (folder / "data.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_rate_zip_cites_itself_in_english_and_spanish(client: Any, tmp_path: Path) -> None:
    url = "/api/v1/source-states.zip?measure=per_100k"
    folder = _unzip(client, url, tmp_path)
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    version = descriptor["version"]
    assert descriptor["iron_river"]["filters"] == {"measure": "per_100k"}
    assert descriptor["iron_river"]["permalink"].endswith(url)
    # The denominator's source travels with the rates.
    assert any("census.gov" in s["path"] for s in descriptor["sources"])
    for readme, words in (("README.md", "How to cite"), ("LEEME.md", "Cómo citar")):
        text = (folder / readme).read_text(encoding="utf-8")
        assert words in text and version in text and url in text
        assert "MIT" in text and "2020" in text


def test_state_codes_stay_text_and_travel_with_name_and_iso(client: Any, tmp_path: Path) -> None:
    folder = _unzip(client, "/api/v1/traces-by-recovery-state.zip", tmp_path)
    package = frictionless.Package(folder / "datapackage.json")
    rows = package.get_resource("traces-by-recovery-state").read_rows()
    mexico_city = [r for r in rows if r["state_iso"] == "MX-CMX"]
    assert mexico_city and mexico_city[0]["recovery_state"] == "09"
    assert mexico_city[0]["state_name"] == "Ciudad de México"


def test_every_downloadable_column_is_described(loaded_db_url: str) -> None:
    engine = make_engine(loaded_db_url, read_only=True)
    columns: set[str] = set()
    for name, dataset in DATASETS.items():
        columns |= set(dataset.query(engine, queries.Filters()).columns)
        if "measure" in dataset.filters and name != "estimates":
            for measure in ("per_100k", "per_100_dealers"):
                columns |= set(dataset.query(engine, queries.Filters(measure=measure)).columns)
    assert sorted(columns - set(FIELDS)) == []


def test_the_catalogue_lists_each_zip(client: Any) -> None:
    listing = client.get("/api/v1/datasets.json").get_json()["datasets"]
    assert all(d["zip"] == f"/api/v1/{d['name']}.zip" for d in listing)


def test_merida_funding_mixes_whole_and_decimal_values_as_numbers(client: Any) -> None:
    rows = pd.read_csv(io.BytesIO(client.get("/api/v1/merida-funding.csv").data))
    values = rows["value"].dropna()
    assert (values % 1 != 0).any() and (values % 1 == 0).any()
