"""What decides a reload: a source's checksum covers every input its rows depend on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from db.engine import make_engine
from db.models import RunStatus
from etl import source as source_module
from etl import sources
from etl.pipeline import run_embedded

# Sources whose rows go through the shared facts transform and its geo lookups, and two that do not.
SAMPLE = ("reference", "bibliography", "corridors", "events")


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of the shared inputs the checksum reads, swapped in so a test may edit them."""
    shared = (tmp_path / "etl" / "source.py", tmp_path / "db" / "vocabulary.py")
    for original, copy in zip(source_module.SHARED_CODE, shared, strict=True):
        copy.parent.mkdir()
        shutil.copy(original, copy)
    geo = tmp_path / "geo"
    geo.mkdir()
    for path in [source_module.GEO_DIR / "states.py", *source_module.GEO_DIR.glob("*.csv")]:
        shutil.copy(path, geo / path.name)
    data = shutil.copytree(source_module.DATA_DIR, tmp_path / "data")
    monkeypatch.setattr(source_module, "SHARED_CODE", shared)
    monkeypatch.setattr(source_module, "GEO_DIR", geo)
    monkeypatch.setattr(source_module, "DATA_DIR", data)
    return tmp_path


def _checksums() -> dict[str, str]:
    return {module.name: module.checksum() for module in sources.REGISTRY}


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(text)


@pytest.mark.parametrize(
    ("edited", "addition"),
    [
        ("etl/source.py", '\nTRACES_NOT_RANDOM = "a reworded caveat"\n'),
        ("db/vocabulary.py", '\nNEW_EVENT_KIND = "an accepted code"\n'),
        ("geo/states.py", "\n# a changed lookup rule\n"),
        ("geo/us_state_aliases.csv", "Tejas,TX\n"),
        ("geo/mx_state_aliases.csv", "Edomex,15\n"),
    ],
)
def test_editing_a_shared_input_changes_every_sources_checksum(inputs, edited, addition):
    before = _checksums()
    _append(inputs / edited, addition)
    after = _checksums()
    assert [name for name in before if before[name] == after[name]] == []


def test_a_file_beside_a_sources_csv_changes_that_source_only(inputs):
    before = _checksums()
    caveats = inputs / "data" / "corridors.caveats.txt"
    caveats.write_text("A first caveat.\n", encoding="utf-8")
    added = _checksums()
    caveats.write_text("A reworded caveat.\n", encoding="utf-8")
    reworded = _checksums()
    changed = {name for name in before if before[name] != added[name]}
    assert changed == {"corridors"}
    assert reworded["corridors"] != added["corridors"]


def test_unchanged_inputs_keep_the_checksum(inputs):
    assert _checksums() == _checksums()


@pytest.mark.parametrize(
    ("edited", "addition"),
    [
        ("etl/source.py", '\nSECONDARY_COPIES = "a reworded caveat"\n'),
        ("geo/mx_state_aliases.csv", "Edomex,15\n"),
    ],
)
def test_etl_run_reloads_sources_after_a_shared_input_changed(inputs, db_url, edited, addition):
    engine = make_engine(db_url)
    first = run_embedded(engine, only=SAMPLE)
    assert {o.status for o in first} == {RunStatus.LOADED}
    unchanged = run_embedded(engine, only=SAMPLE)
    assert {o.status for o in unchanged} == {RunStatus.SKIPPED}
    _append(inputs / edited, addition)
    reloaded = run_embedded(engine, only=SAMPLE)
    assert {o.source: o.status for o in reloaded} == dict.fromkeys(SAMPLE, RunStatus.LOADED)
    engine.dispose()
