"""A download that travels: one dataset's rows as a zip with a Frictionless Data Package and READMEs.

The zip holds `data.csv` (UTF-8 with a BOM, so Excel opens accents right), `datapackage.json`
(every field typed and described, codes declared as strings, the sources with their URLs, the
filters applied and the data version), `README.md` and `LEEME.md` (what the data is, its caveats,
how to cite it, the licence).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from db.datasets import DATASETS, Filters, Selection, write_rows
from db.rates import RATES

DATA_FILE = "data.csv"
# What a loaded trace file's aggregates are, for datasets that have no published record.
TRACE_DESCRIPTION = (
    "Aggregates of eTrace-style trace files loaded into this Iron River database: counts of "
    "traced firearms per file, never published figures; each row names its file and checksum."
)
LICENCE = {
    "name": "MIT",
    "path": "https://opensource.org/license/mit",
    "title": "Iron River's compilation: MIT licence; each figure keeps its source's terms "
    "(listed under sources and in the citation column)",
}
LICENCE_TEXT = {
    "en": "The compilation (selection, codes, derived columns) is published by the Iron River "
    "contributors under the MIT licence. Each figure remains the work of its source, cited on "
    "its own row; reuse it with that citation and under that source's terms.",
    "es": "La compilación (selección, claves, columnas derivadas) la publican las personas que "
    "contribuyen a Iron River bajo la licencia MIT. Cada cifra sigue siendo obra de su fuente, "
    "citada en su propia fila; reutilícela con esa cita y según los términos de esa fuente.",
}

# Codes stay text: "09" is Ciudad de México, and 9 is nothing.
CODE = "string"
# name -> (Table Schema type, description). Every column any dataset can download is here; a test
# sweeps every dataset so a new column cannot ship undescribed.
FIELDS: dict[str, tuple[str, str]] = {
    "measure": ("string", "What the figure measures (a measure name of this dataset)"),
    "period": ("string", "The period the figure covers, as the source states it"),
    "year_start": ("integer", "First calendar year the figure covers"),
    "year_end": ("integer", "Last calendar year the figure covers"),
    "release": ("string", "The publication (release) the figure comes from"),
    "geo_level": ("string", "What kind of place geo_code is (us_state, mx_state, country...)"),
    "geo_code": (CODE, "Place code: USPS code for a US state, INEGI CVE_ENT for a Mexican state"),
    "geo_name": ("string", "Place name as published"),
    "geo_iso": (CODE, "ISO 3166-2 code of the state in geo_code (single states only)"),
    "partner_code": (CODE, "INEGI CVE_ENT code of the Mexican state at the other end"),
    "partner_name": ("string", "Name of the Mexican state at the other end"),
    "partner_iso": (CODE, "ISO 3166-2 code of the state in partner_code"),
    "category": ("string", "Firearm category the figure counts, if the source restricts it"),
    "value": ("number", "The published figure, in `unit`; empty when not published (never 0)"),
    "value_qualifier": ("string", "exact, approx, more_than, less_than... as the source words it"),
    "unit": ("string", "Unit of value: firearms, percent, sites, persons, usd_millions, years"),
    "status": ("string", "VERIFIED, UNVERIFIED, DERIVED (computed here), LOADED_FILE, SYNTHETIC"),
    "source_id": (CODE, "Id of the source record (see the sources dataset and /sources)"),
    "also_source_ids": ("string", "Other sources that report the same figure"),
    "citation": ("string", "Full citation of the row's source"),
    "source_url": ("string", "Address of the row's source"),
    "note": ("string", "The source's wording or a caveat for this row"),
    "question": ("string", "Which question an estimate answers"),
    "low": ("number", "Low end of the estimate"),
    "central": ("number", "Central estimate"),
    "high": ("number", "High end of the estimate"),
    "producer": ("string", "Who produced the estimate"),
    "method_note": ("string", "How the estimate was made"),
    "why_differs": ("string", "Why this estimate differs from others"),
    "caveats": ("string", "Caveats of the record"),
    "date_start": ("date", "Date the event started (empty if undated)"),
    "date_end": ("date", "Date the event ended"),
    "date_precision": ("string", "How precise the date is: day, month, year, undated"),
    "date_label": ("string", "The date as the source gives it"),
    "kind": ("string", "Kind of event"),
    "title_en": ("string", "Title in English"),
    "title_es": ("string", "Title in Spanish"),
    "description": ("string", "Description"),
    "participants": ("string", "Who took part"),
    "publisher": ("string", "Publisher of the source"),
    "title": ("string", "Title of the source"),
    "report_id": ("string", "Report number of the source, if any"),
    "url": ("string", "Address of the source"),
    "date_published": ("string", "Publication date as given (year, year-month or date; n.d.)"),
    "date_accessed": ("date", "When the source was consulted"),
    "license": ("string", "Licence or terms of the source"),
    "source_type": ("string", "primary (the publisher's own document) or secondary (a copy)"),
    "cites_source_id": (CODE, "The source this secondary source reports"),
    "source_state": (CODE, "USPS code of the US state where the traced firearm was first sold"),
    "recovery_state": (CODE, "INEGI CVE_ENT code of the Mexican state where it was recovered"),
    "state_name": ("string", "Name of the state in the code column"),
    "state_iso": (CODE, "ISO 3166-2 code of the state in the code column"),
    "firearm_type": ("string", "Type of firearm as the trace file records it"),
    "time_to_crime_band": ("string", "Years from first retail sale to recovery, in bands"),
    "firearms": ("integer", "Traced firearms counted"),
    "share_pct": ("number", "Share of the trace file's firearms in the years asked (%)"),
    "us_sourced": ("integer", "Traced firearms manufactured in or imported into the US"),
    "us_sourced_pct": ("number", "us_sourced as a share of firearms (%)"),
    "year": ("integer", "Recovery year"),
    "year_from": ("integer", "First recovery year asked (empty: all years of the file)"),
    "year_to": ("integer", "Last recovery year asked (empty: all years of the file)"),
    "trace_file": ("string", "Name of the loaded trace file"),
    "file_checksum": (CODE, "sha256 of the loaded trace file"),
    "loaded_at": ("string", "When the trace file was loaded (UTC)"),
    "count": ("number", "The count the rate divides (firearms)"),
    "count_qualifier": ("string", "Qualifier of the count (exact, approx...)"),
    "count_status": ("string", "Status of the count the rate is computed from"),
    "count_years": ("string", "Years the count covers; the rate divides by their number"),
    "denominator": ("integer", "What the count is divided by (residents or licensed dealers)"),
    "denominator_unit": ("string", "residents or licensed dealers"),
    "denominator_year": ("integer", "Year of the denominator"),
    "denominator_source_id": (CODE, "Source id of the denominator"),
    "denominator_citation": ("string", "Full citation of the denominator"),
    "rate": ("number", "DERIVED rate: count / years / denominator x scale; empty without one"),
    "rate_unit": ("string", "What the rate is per (100,000 residents or 100 dealers, per year)"),
    "rate_note": ("string", "How the rate was computed, or why there is none"),
}


@dataclass(frozen=True)
class Package:
    """What a zip says about its rows besides the rows themselves."""

    dataset: str
    title: str
    description: str
    data_version: str
    permalink: str
    filters: Mapping[str, str] = field(default_factory=dict)
    caveats: Sequence[str] = ()
    # Source records (source_id, publisher, title, url, citation) the rows cite.
    sources: pd.DataFrame = field(default_factory=pd.DataFrame)
    # The download that carries the rows: "zip" (data.csv and datapackage.json) or "xlsx"
    # (db/workbook.py: sheets `data` and `columns`); the READMEs say where to find what.
    layout: str = "zip"


def schema(frame: pd.DataFrame) -> dict[str, object]:
    """The Table Schema of `frame`; `KeyError` for a column nobody described."""
    fields = []
    for column in frame.columns:
        kind, description = FIELDS[column]
        fields.append({"name": column, "type": kind, "description": description})
    return {"fields": fields, "missingValues": [""]}


def descriptor(frame: pd.DataFrame, package: Package) -> dict[str, object]:
    """The `datapackage.json` of one download (Frictionless Data Package, tabular profile)."""
    sources = [
        {"title": f"{row.publisher}, {row.title} [{row.source_id}]", "path": row.url}
        for row in package.sources.itertuples(index=False)
        if isinstance(row.url, str) and row.url
    ]
    return {
        "profile": "tabular-data-package",
        "name": f"ironriver-{package.dataset}",
        "title": f"Iron River: {package.title}",
        "description": package.description,
        "version": package.data_version,
        "homepage": package.permalink,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "licenses": [LICENCE],
        "sources": sources,
        "keywords": ["firearms", "trafficking", "United States", "Mexico"],
        "iron_river": {
            "dataset": package.dataset,
            "data_version": package.data_version,
            "filters": dict(package.filters),
            "permalink": package.permalink,
            "caveats": list(package.caveats),
        },
        "resources": [
            {
                "name": package.dataset,
                "path": DATA_FILE,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8-sig",
                "rows": len(frame),
                "schema": schema(frame),
            }
        ],
    }


def _filters_text(filters: Mapping[str, str], none: str) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.items()) or none


# Where a download's rows and column descriptions are, by layout and language.
DATA_LINES = {
    ("zip", "en"): "- Data file: `data.csv` ({rows} rows; UTF-8 with a BOM). Every column is "
    "described in\n  `datapackage.json` (a Frictionless Data Package); codes (INEGI, USPS, "
    "ISO 3166-2) are text.",
    ("zip", "es"): "- Archivo de datos: `data.csv` ({rows} filas; UTF-8 con BOM). Cada columna "
    "está descrita\n  en `datapackage.json` (Frictionless Data Package); las claves (INEGI, "
    "USPS, ISO 3166-2) son texto.",
    ("xlsx", "en"): "- Data: sheet `data` ({rows} rows). Every column is described in sheet "
    "`columns`; codes\n  (INEGI, USPS, ISO 3166-2) are text cells, so Ciudad de México's 09 "
    "keeps its zero.",
    ("xlsx", "es"): "- Datos: hoja `data` ({rows} filas). Cada columna está descrita en la hoja "
    "`columns`; las\n  claves (INEGI, USPS, ISO 3166-2) son celdas de texto: el 09 de la "
    "Ciudad de México conserva su cero.",
}


def readme(frame: pd.DataFrame, package: Package, language: str = "en") -> str:
    """README.md (English) or LEEME.md (Spanish): what, caveats, how to cite, licence."""
    today = dt.date.today().isoformat()
    data_line = DATA_LINES[package.layout, language].format(rows=len(frame))
    caveats = "\n".join(f"- {c}" for c in package.caveats) or (
        "- (none recorded)" if language == "en" else "- (ninguna registrada)"
    )
    source_lines = "\n".join(
        f"- [{row.source_id}] {row.citation}" for row in package.sources.itertuples(index=False)
    )
    if language == "es":
        return f"""# Iron River: {package.title}

{package.description}

{data_line}
- Filtros aplicados: {_filters_text(package.filters, "ninguno")}
- Versión de los datos: `{package.data_version}`
- Enlace permanente: {package.permalink}

## Advertencias

{caveats}

Cada fila lleva su estado (VERIFIED, UNVERIFIED, DERIVED...) y su fuente. Una cifra DERIVED
(una tasa, una proporción) la calcula Iron River a partir de cifras publicadas.

## Cómo citar

Iron River, «{package.title}», versión de datos {package.data_version}, {package.permalink}
(consultado el {today}). Cite además la fuente de cada cifra (columna `citation`).

## Fuentes

{source_lines}

## Licencia

{LICENCE_TEXT["es"]}
"""
    return f"""# Iron River: {package.title}

{package.description}

{data_line}
- Filters applied: {_filters_text(package.filters, "none")}
- Data version: `{package.data_version}`
- Permalink: {package.permalink}

## Caveats

{caveats}

Every row carries its status (VERIFIED, UNVERIFIED, DERIVED...) and its source. A DERIVED figure
(a rate, a share) is computed by Iron River from published figures.

## How to cite

Iron River, "{package.title}", data version {package.data_version}, {package.permalink}
(accessed {today}). Cite each figure's own source too (the `citation` column).

## Sources

{source_lines}

## Licence

{LICENCE_TEXT["en"]}
"""


def dataset_package(
    name: str,
    filters: Filters,
    frame: pd.DataFrame,
    *,
    infos: pd.DataFrame,
    sources: pd.DataFrame,
    data_version: str,
    site: str,
    layout: str = "zip",
) -> Package:
    """What a self-citing download of dataset `name`'s rows `frame` (its selection under
    `filters`) says besides the rows: title, caveats, sources, and its permalink.

    `infos` are the dataset records (`queries.dataset_infos`), `sources` the `sources` dataset's
    rows; the permalink is the download's own address on `site` (empty: the path alone), its
    format the `layout`.
    """
    record = infos[infos["name"] == name]
    caveats = _caveats(infos, name)
    if filters.measure in RATES:
        caveats += _caveats(infos, "denominators")
    # The permalink of exactly these rows, filters included, written as the parser reads them
    # (the same for every spelling of the request, as the API's ETag is).
    permalink = site.rstrip("/") + Selection(name, filters).url(layout)
    return Package(
        dataset=name,
        title=DATASETS[name].title,
        description=record["description"].iloc[0] if not record.empty else TRACE_DESCRIPTION,
        data_version=data_version,
        permalink=permalink,
        filters=filters.as_params(),
        caveats=caveats,
        sources=cited_sources(frame, sources),
        layout=layout,
    )


def _caveats(infos: pd.DataFrame, name: str) -> list[str]:
    record = infos[infos["name"] == name]
    if record.empty or not record["caveats"].iloc[0]:
        return []
    caveats = record["caveats"].iloc[0]
    return list(json.loads(caveats) if isinstance(caveats, str) else caveats)


def build_zip(frame: pd.DataFrame, package: Package) -> bytes:
    """The zip of one download: data.csv, datapackage.json, README.md, LEEME.md."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(DATA_FILE, "".join(write_rows(frame, "csv", bom=True)).encode("utf-8"))
        archive.writestr(
            "datapackage.json",
            json.dumps(descriptor(frame, package), ensure_ascii=False, indent=2) + "\n",
        )
        archive.writestr("README.md", readme(frame, package, "en"))
        archive.writestr("LEEME.md", readme(frame, package, "es"))
    return buffer.getvalue()


def cited_sources(frame: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """The source records `frame` cites (its own, `also_` and denominator sources)."""
    ids: set[str] = set()
    for column in ("source_id", "denominator_source_id", "cites_source_id"):
        if column in frame:
            ids.update(str(v) for v in frame[column].dropna())
    if "also_source_ids" in frame:
        for value in frame["also_source_ids"].dropna():
            ids.update(p.strip() for p in str(value).replace(";", ",").split(",") if p.strip())
    return sources[sources["source_id"].isin(ids)][
        ["source_id", "publisher", "title", "url", "citation"]
    ]
