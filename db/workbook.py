"""The downloads that cite themselves: one dataset's rows as an Excel workbook (or the zip).

A CSV opened in Excel or LibreOffice loses what a journalist needs most: "09" (Ciudad de
México's INEGI code) becomes the number 9, and the file may be read in the wrong encoding. The
workbook stores each column as its Table Schema type says (db/datapackage.py `FIELDS`): codes
and other text as text cells, counts and figures as numbers, dates as dates. Its sheets:
`data` (the rows, the same as the CSV's), `columns` (each column's type and description),
`sources` (the source records the rows cite), `README` and `LEEME` (the zip's READMEs).
Written with XlsxWriter, which writes text cells as text: no cell is ever a formula.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from db.datapackage import FIELDS, Package, build_zip, dataset_package, readme
from db.datasets import Filters

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATA_SHEET = "data"
_WIDEST = 60  # characters: a column wider than this would push the others off screen
_NUMBERS = {"integer", "number"}


def build_workbook(frame: pd.DataFrame, package: Package) -> bytes:
    """The .xlsx of one download: sheets data, columns, sources, README and LEEME."""
    buffer = io.BytesIO()
    # Cells are written as their column's type says; nothing is guessed from what text looks
    # like (a text "=1+1" stays text, an address stays text, "09" stays "09").
    options = {
        "in_memory": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "strings_to_urls": False,
    }
    with xlsxwriter.Workbook(buffer, options) as workbook:
        workbook.set_properties(
            {
                "title": f"Iron River: {package.title}",
                "subject": f"data version {package.data_version}",
                "author": "Iron River",
                "comments": package.permalink,
                "created": dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None),
            }
        )
        bold = workbook.add_format({"bold": True})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        kinds = [FIELDS[column][0] for column in frame.columns]
        data = workbook.add_worksheet(DATA_SHEET)
        _table(data, list(frame.columns), frame.itertuples(index=False), kinds, bold, day)
        columns = workbook.add_worksheet("columns")
        described = [(column, *FIELDS[column]) for column in frame.columns]
        _table(columns, ["column", "type", "description"], described, None, bold, day)
        cited = workbook.add_worksheet("sources")
        _table(
            cited,
            list(package.sources.columns),
            package.sources.itertuples(index=False),
            None,
            bold,
            day,
        )
        for sheet_name, language in (("README", "en"), ("LEEME", "es")):
            sheet = workbook.add_worksheet(sheet_name)
            sheet.set_column(0, 0, 120)
            for row, line in enumerate(readme(frame, package, language).splitlines()):
                sheet.write_string(row, 0, line, bold if line.startswith("#") else None)
    return buffer.getvalue()


def _table(
    sheet: Worksheet,
    header: list[str],
    rows: Any,
    kinds: list[str] | None,
    bold: Any,
    day: Any,
) -> None:
    """A header in bold, frozen and filterable, then the rows, each cell as its column's kind."""
    widths = [len(name) for name in header]
    for column, name in enumerate(header):
        sheet.write_string(0, column, name, bold)
    row_number = 0
    for row_number, row in enumerate(rows, 1):
        for column, value in enumerate(row):
            kind = kinds[column] if kinds else "string"
            shown = _write(sheet, row_number, column, value, kind, day)
            widths[column] = max(widths[column], shown)
    sheet.freeze_panes(1, 0)
    if header:
        sheet.autofilter(0, 0, row_number, len(header) - 1)
    for column, width in enumerate(widths):
        sheet.set_column(column, column, min(width, _WIDEST) + 2)


def _write(sheet: Worksheet, row: int, column: int, value: Any, kind: str, day: Any) -> int:
    """Write one cell as `kind`; the width it takes, in characters. Missing stays empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return 0
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if kind in _NUMBERS and isinstance(value, int | float):
        sheet.write_number(row, column, value)
        return len(f"{value:,}")
    if kind == "date":
        date = value if isinstance(value, dt.date) else _iso_date(str(value))
        if date is not None:
            sheet.write_datetime(row, column, dt.datetime.combine(date, dt.time()), day)
            return 10
    text = str(value)
    sheet.write_string(row, column, text)
    return len(text)


def _iso_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def self_citing_download(
    fmt: str,
    name: str,
    filters: Filters,
    frame: pd.DataFrame,
    *,
    infos: pd.DataFrame,
    sources: pd.DataFrame,
    data_version: str,
    site: str,
) -> bytes:
    """The zip or workbook (`fmt`, a key of SELF_CITING) of dataset `name`'s rows `frame`, the one
    both `/api/v1/<name>.<fmt>` and `ironriver export --format <fmt>` give."""
    package = dataset_package(
        name,
        filters,
        frame,
        infos=infos,
        sources=sources,
        data_version=data_version,
        site=site,
        layout=fmt,
    )
    return SELF_CITING[fmt](frame, package)


# The downloads that carry their READMEs and sources with the rows: format -> builder.
SELF_CITING = {"zip": build_zip, "xlsx": build_workbook}
