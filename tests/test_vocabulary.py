"""Vocabularies are declared once (db/vocabulary.py), and the ETL refuses codes they do not hold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from db import vocabulary
from etl.source import DATA_DIR, SourceError, facts_transform

ROOT = Path(__file__).parents[1]
APP_DIRS = ("dashboard", "db", "etl", "geo")


def _app_sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for folder in APP_DIRS
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "vocabulary.py"
    }


@pytest.mark.parametrize(
    "name", ["UNITS", "EVENT_KINDS", "ESTIMATE_QUESTIONS", "MEASURES", "GEO_LEVELS"]
)
def test_no_label_of_a_vocabulary_is_written_again_elsewhere(name: str) -> None:
    entries = getattr(vocabulary, name)
    labels = {entry.en for entry in entries.values() if len(entry.en) > 12}
    repeated = {
        f"{path.relative_to(ROOT)}: {text}"
        for path, source in _app_sources().items()
        for text in labels
        if f'"{text}"' in source
    }
    assert repeated == set()


def test_every_code_in_the_embedded_data_is_declared() -> None:
    for path in DATA_DIR.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column, declared in (
            ("measure", vocabulary.MEASURES),
            ("unit", vocabulary.UNITS),
            ("geo_level", vocabulary.GEO_LEVELS),
            ("kind", vocabulary.EVENT_KINDS),
            ("question", vocabulary.ESTIMATE_QUESTIONS),
        ):
            if column in frame:
                assert set(frame[column]) - set(declared) == set(), (path.name, column)


def test_an_undeclared_measure_is_refused_by_the_etl() -> None:
    row = {
        "measure": "guns_per_wish",
        "period": "2000",
        "year_start": "2000",
        "year_end": "2000",
        "release": "r",
        "geo_level": "us_state",
        "geo_name": "Texas",
        "partner_geo_name": "",
        "category": "",
        "value": "5",
        "value_qualifier": "exact",
        "unit": "firearms",
        "status": "VERIFIED",
        "source_id": "S01",
        "also_source_ids": "",
        "note": "",
    }
    with pytest.raises(SourceError, match="measure"):
        facts_transform({"f.csv": pd.DataFrame([row])})


def test_every_measure_reads_as_its_declared_label() -> None:
    from dashboard import text

    for code, measure in vocabulary.MEASURES.items():
        assert text.measure_label(code) == measure.en
        assert measure.unit in vocabulary.UNITS
