"""The Excel workbook download: the CSV's rows with typed cells, codes as text, and its sources.

Read back with openpyxl, a second implementation of the format, as a spreadsheet program would.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from db.datapackage import FIELDS, Package
from db.datasets import DATASETS
from db.workbook import MIMETYPE, build_workbook
from etl.cli import cli

SHEETS = ["data", "columns", "sources", "README", "LEEME"]

pytestmark = pytest.mark.usefixtures("csv_field_limit_restored")


def _workbook(body: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(body))


def _sheet_rows(workbook: openpyxl.Workbook, name: str) -> list[tuple[Any, ...]]:
    return list(workbook[name].iter_rows(values_only=True))


def _as_csv_text(value: Any) -> str:
    """A workbook cell written as the CSV writes the same value."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_workbook_holds_the_csvs_rows_with_typed_cells(
    client: Any, name: str
) -> None:
    response = client.get(f"/api/v1/{name}.xlsx")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == MIMETYPE
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    workbook = _workbook(response.data)
    assert workbook.sheetnames == SHEETS
    rows = _sheet_rows(workbook, "data")
    csv_rows = list(csv.reader(io.StringIO(client.get(f"/api/v1/{name}.csv").data.decode())))
    assert list(rows[0]) == csv_rows[0]
    assert len(rows) == len(csv_rows)
    kinds = [FIELDS[column][0] for column in csv_rows[0]]
    for cells, csv_cells in zip(rows[1:], csv_rows[1:], strict=True):
        for cell, text, kind in zip(cells, csv_cells, kinds, strict=True):
            if kind in ("integer", "number") and cell is not None:
                assert isinstance(cell, int | float) and cell == float(text)
                continue
            elif kind == "string" and cell is not None:
                assert isinstance(cell, str)
                # The CSV quotes text a spreadsheet would run; the workbook keeps it as text.
                assert text in (cell, "'" + cell)
                continue
            assert _as_csv_text(cell) == text
    described = {row[0]: row[1:] for row in _sheet_rows(workbook, "columns")[1:]}
    assert described == {column: FIELDS[column] for column in csv_rows[0]}


def test_codes_stay_text_so_mexico_city_keeps_its_zero(client: Any) -> None:
    workbook = _workbook(client.get("/api/v1/traces-by-recovery-state.xlsx").data)
    rows = _sheet_rows(workbook, "data")
    header = rows[0]
    mexico_city = [r for r in rows[1:] if r[header.index("state_iso")] == "MX-CMX"]
    assert mexico_city and mexico_city[0][header.index("recovery_state")] == "09"
    assert mexico_city[0][header.index("state_name")] == "Ciudad de México"
    assert isinstance(mexico_city[0][header.index("firearms")], int)


def test_the_workbook_cites_itself_in_english_and_spanish(client: Any) -> None:
    url = "/api/v1/source-states.xlsx?measure=per_100k"
    workbook = _workbook(client.get(url).data)
    header, *sources = _sheet_rows(workbook, "sources")
    assert list(header) == ["source_id", "publisher", "title", "url", "citation"]
    data = _sheet_rows(workbook, "data")
    cited = {row[data[0].index("source_id")] for row in data[1:]}
    assert cited <= {row[0] for row in sources}
    # The denominator's source travels with the rates.
    assert any("census.gov" in (row[3] or "") for row in sources)
    for sheet, words in (("README", "How to cite"), ("LEEME", "Cómo citar")):
        text = "\n".join(row[0] or "" for row in _sheet_rows(workbook, sheet))
        assert words in text and f"http://localhost{url}" in text
        assert "sheet `data`" in text or "hoja `data`" in text
        assert "datapackage.json" not in text


def test_text_that_looks_like_a_formula_or_a_number_stays_text() -> None:
    frame = pd.DataFrame(
        {
            "geo_code": ["09", '=HYPERLINK("http://x")'],
            "note": ["+52 55 1234", "@SUM(A1)"],
            "value": [1.5, None],
            "date_start": [dt.date(2012, 3, 1), None],
        }
    )
    package = Package("events", "Events", "test rows", "v1", "/api/v1/events.xlsx", layout="xlsx")
    sheet = _workbook(build_workbook(frame, package))["data"]
    assert [c.value for c in sheet[2]][:3] == ["09", "+52 55 1234", 1.5]
    assert [c.value for c in sheet[3]][:2] == ['=HYPERLINK("http://x")', "@SUM(A1)"]
    assert [sheet[cell].data_type for cell in ("A2", "B2", "A3", "B3")] == ["s"] * 4
    assert (
        sheet["D2"].value == dt.datetime(2012, 3, 1) and sheet["D2"].number_format == "yyyy-mm-dd"
    )
    assert sheet["C3"].value is None and sheet["D3"].value is None


def test_export_xlsx_is_the_apis_workbook_sheet_for_sheet(
    loaded_db_url: str, client: Any, tmp_path: Path
) -> None:
    target = tmp_path / "out.xlsx"
    site = "http://localhost/"
    args = ["export", "source-states", "--measure", "share", "--format", "xlsx", "--site", site]
    result = CliRunner().invoke(
        cli, [*args, "-o", str(target)], env={"DATABASE_URL": loaded_db_url}
    )
    assert result.exit_code == 0, result.output
    ours = _workbook(target.read_bytes())
    api = _workbook(client.get("/api/v1/source-states.xlsx?measure=share").data)
    assert ours.sheetnames == api.sheetnames == SHEETS
    for name in SHEETS:
        assert _sheet_rows(ours, name) == _sheet_rows(api, name)


def _download_links(page: str) -> dict[str, set[str]]:
    """Format -> the (dataset, query) of each download link in a page's first view."""
    links: dict[str, set[str]] = {}
    for dataset, fmt, query in re.findall(
        r'api\\u002fv1\\u002f([a-z-]+)\.(csv|xlsx)(\?[^"]*)?"', page
    ):
        links.setdefault(fmt, set()).add(f"{dataset}{query}")
    return links


@pytest.mark.parametrize("path", ["/trends?state=TX", "/es/trends?state=TX", "/es/?year=2014"])
def test_pages_offer_the_workbook_of_exactly_the_csvs_rows(client: Any, path: str) -> None:
    page = client.get(path).data.decode("utf-8")
    links = _download_links(page)
    assert links["xlsx"] and links["xlsx"] == links["csv"]
    assert ("Libro de Excel" if path.startswith("/es") else "Excel workbook") in page
