"""`ironriver export` and `ironriver datasets`: golden CSVs, filters, formats, bad requests."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from db.datasets import DATASETS
from etl.cli import cli

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "exports"
# Trace aggregates name the file's load date, so their golden copies blank that one column.
VOLATILE_COLUMNS = {"loaded_at", "citation"}


def _export(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["export", *args], env={"DATABASE_URL": url})
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def _stable(text: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return text
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: (
                    "<volatile>"
                    if k in VOLATILE_COLUMNS and row.get("status") in ("LOADED_FILE", "SYNTHETIC")
                    else v
                )
                for k, v in row.items()
            }
        )
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_export_matches_its_golden_csv(loaded_db_url, name, update_golden):
    code, output = _export(loaded_db_url, name)
    assert code == 0, output
    rendered = _stable(output)
    path = GOLDEN / f"{name}.csv"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_exported_row_carries_status_source_and_citation(loaded_db_url, name):
    _, output = _export(loaded_db_url, name)
    rows = list(csv.DictReader(io.StringIO(output)))
    assert rows, f"{name} exported no rows"
    for row in rows:
        assert row["status"] and row["source_id"] and row["citation"], row


def test_export_year_window_keeps_only_rows_inside_it(loaded_db_url):
    _, output = _export(loaded_db_url, "trace-totals", "--from", "2009", "--to", "2011")
    rows = list(csv.DictReader(io.StringIO(output)))
    assert rows
    assert all(int(r["year_start"]) >= 2009 and int(r["year_end"]) <= 2011 for r in rows)
    assert {"2009", "2010", "2011"} <= {r["period"] for r in rows}


def test_export_json_has_the_same_rows_as_csv(loaded_db_url, tmp_path):
    target = tmp_path / "out.json"
    code, _ = _export(loaded_db_url, "corridors", "--format", "json", "-o", str(target))
    assert code == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    _, output = _export(loaded_db_url, "corridors")
    assert len(document["rows"]) == len(list(csv.DictReader(io.StringIO(output))))
    assert document["rows"][0]["source_id"]


def test_traces_by_source_state_names_states_and_counts(loaded_db_url):
    _, output = _export(loaded_db_url, "traces-by-source-state")
    rows = list(csv.DictReader(io.StringIO(output)))
    counts = {r["source_state"]: int(r["firearms"]) for r in rows}
    assert counts["TX"] == 6  # sample file: six loaded US-sourced traces first sold in Texas
    assert sum(counts.values()) == 15


def test_export_refuses_an_unknown_dataset_with_usage_exit_code(loaded_db_url):
    code, output = _export(loaded_db_url, "guns-by-moon-phase")
    assert code == 2
    assert "unknown dataset" in output


def test_export_refuses_a_reversed_year_window(loaded_db_url):
    code, output = _export(loaded_db_url, "trace-totals", "--from", "2014", "--to", "2009")
    assert code == 2
    assert "after" in output


def test_datasets_lists_every_catalogue_name(loaded_db_url):
    result = CliRunner().invoke(cli, ["datasets"], env={"DATABASE_URL": loaded_db_url})
    assert result.exit_code == 0
    for name in DATASETS:
        assert name in result.output


@pytest.mark.parametrize("name", ["trace-totals", "source-states", "recovery-states", "estimates"])
def test_whole_numbers_export_without_a_decimal_point(loaded_db_url, name):
    _, output = _export(loaded_db_url, name)
    cells = [cell for row in csv.reader(io.StringIO(output)) for cell in row]
    assert not [cell for cell in cells if cell.endswith(".0") and cell[:-2].isdigit()]
    assert "17352" in cells or name != "trace-totals"


def _members(body: bytes) -> dict[str, bytes]:
    """A zip's members in order; `datapackage.json` without `created`, the moment it was built."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    package = json.loads(members["datapackage.json"])
    assert package.pop("created")
    members["datapackage.json"] = json.dumps(package).encode("utf-8")
    return members


@pytest.mark.parametrize(
    ("name", "options", "query"),
    [
        *[(name, [], "") for name in sorted(DATASETS)],
        ("source-states", ["--measure", "per_100k"], "?measure=per_100k"),
        ("trace-totals", ["--from", "2009", "--to", "2011"], "?from=2009&to=2011"),
    ],
)
def test_export_zip_is_the_apis_zip_member_for_member(
    loaded_db_url: str, client: Any, tmp_path: Path, name: str, options: list[str], query: str
) -> None:
    target = tmp_path / "out.zip"
    site = "http://localhost/"  # the test client's address, which the API's permalink names
    args = [name, *options, "--format", "zip", "--site", site, "-o", str(target)]
    code, output = _export(loaded_db_url, *args)
    assert code == 0, output
    response = client.get(f"/api/v1/{name}.zip{query}")
    assert response.status_code == 200, response.data[:300]
    ours, api = _members(target.read_bytes()), _members(response.data)
    assert list(ours) == list(api) == ["data.csv", "datapackage.json", "README.md", "LEEME.md"]
    assert ours == api
    assert f"Permalink: {site}api/v1/{name}.zip{query}" in ours["README.md"].decode("utf-8")


def test_export_zip_without_a_site_cites_the_downloads_path_on_stdout(loaded_db_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["export", "corridors", "--format", "zip"], env={"DATABASE_URL": loaded_db_url}
    )
    assert result.exit_code == 0, result.output
    readme = _members(result.stdout_bytes)["README.md"].decode("utf-8")
    assert "Permalink: /api/v1/corridors.zip\n" in readme
