"""The embedded sources: complete citations, loud failures, idempotent runs, and a pinned load."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, text

from db.models import EtlRun, Fact, RunStatus, Source
from etl import sources
from etl.pipeline import run_embedded
from etl.source import SourceError

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
REQUIRED_SOURCE_FIELDS = (
    "publisher",
    "title",
    "url",
    "date_published",
    "date_accessed",
    "license",
    "citation",
)


def _all_rows():
    return {source.name: source.rows() for source in sources.REGISTRY}


def _cited_ids(rows_by_source) -> set[str]:
    cited = set()
    for tables in rows_by_source.values():
        for table, frame in tables.items():
            if "source_id" in frame.columns and table != "sources":
                cited.update(frame["source_id"])
                for extra in frame.get("also_source_ids", pd.Series(dtype=object)).dropna():
                    cited.update(part.strip() for part in extra.split(";"))
    return cited


def test_every_cited_source_has_every_citation_field_filled():
    rows = _all_rows()
    bibliography = rows["bibliography"]["sources"].set_index("id")
    cited = _cited_ids(rows)
    missing = sorted(cited - set(bibliography.index))
    assert not missing, f"figures cite sources with no record: {missing}"
    empty = [
        (source_id, field)
        for source_id in sorted(cited)
        for field in REQUIRED_SOURCE_FIELDS
        if not str(bibliography.at[source_id, field] or "").strip()
    ]
    assert not empty, f"source records with empty fields: {empty}"


def test_every_registered_source_declares_title_description_and_files():
    for source in sources.REGISTRY:
        assert source.title and source.description, source.name
        assert source.files and all(path.exists() for path in source.files), source.name


def test_every_dataset_carries_at_least_one_methodology_caveat():
    for source in sources.REGISTRY:
        if source.dataset and source.dataset != "sources":
            assert source.caveats, f"{source.name} has no caveat"


def test_unverified_seed_paper_shares_keep_their_status_and_attribution():
    facts = sources.get("us_source_states").rows()["facts"]
    trio = facts[(facts.period == "2009-2014") & facts.geo_code.isin(["TX", "CA", "AZ"])]
    assert dict(zip(trio.geo_code, trio.value, strict=True)) == {"TX": 41, "CA": 19, "AZ": 15}
    assert set(trio.status) == {"UNVERIFIED"}
    assert set(trio.source_id) == {"P1"}


def test_missing_state_figures_are_null_never_zero():
    facts = sources.get("mx_recovery_states").rows()["facts"]
    fgr = facts[facts.period == "2006-2024"]
    assert fgr.geo_code.nunique() == 32
    assert fgr.value.notna().sum() == 23
    assert (fgr.value.dropna() > 0).all()


def test_a_second_run_skips_every_unchanged_source(engine):
    first = run_embedded(engine)
    assert {o.status for o in first} == {RunStatus.LOADED}
    before = _table_counts(engine)
    second = run_embedded(engine)
    assert {o.status for o in second} == {RunStatus.SKIPPED}
    assert _table_counts(engine) == before


def test_force_reloads_without_duplicating_rows(engine):
    run_embedded(engine)
    before = _table_counts(engine)
    outcomes = run_embedded(engine, force=True)
    assert {o.status for o in outcomes} == {RunStatus.LOADED}
    assert _table_counts(engine) == before


def test_a_broken_source_fails_loudly_and_keeps_its_previous_rows(engine, tmp_path, monkeypatch):
    run_embedded(engine)
    module = sources.get("corridors")
    broken = tmp_path / "corridors.csv"
    shutil.copy(module.files[0], broken)
    with broken.open("a", encoding="utf-8") as handle:
        handle.write(
            "corridor_firearms,2022-2023,2022,2023,x,us_state,Atlantis,Sonora,,5,exact,firearms,VERIFIED,S20a,,\n"
        )
    patched = dataclasses.replace(module, files=(broken,))
    monkeypatch.setattr(
        sources,
        "REGISTRY",
        tuple(patched if s.name == "corridors" else s for s in sources.REGISTRY),
    )
    before = _facts(engine, "corridors")
    (outcome,) = run_embedded(engine, only=["corridors"])
    assert outcome.status == RunStatus.FAILED
    assert "Atlantis" in (outcome.error or "")
    pd.testing.assert_frame_equal(_facts(engine, "corridors"), before)
    with engine.connect() as connection:
        status = connection.execute(
            select(EtlRun.status).order_by(EtlRun.id.desc()).limit(1)
        ).scalar_one()
    assert status == RunStatus.FAILED


def test_a_changed_source_replaces_only_its_own_rows(engine, tmp_path, monkeypatch):
    run_embedded(engine)
    module = sources.get("corridors")
    changed = tmp_path / "corridors.csv"
    lines = module.files[0].read_text(encoding="utf-8").splitlines()
    changed.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    patched = dataclasses.replace(module, files=(changed,))
    monkeypatch.setattr(
        sources,
        "REGISTRY",
        tuple(patched if s.name == "corridors" else s for s in sources.REGISTRY),
    )
    others_before = _table_counts(engine)
    run_embedded(engine)
    after = _table_counts(engine)
    assert after["facts:corridors"] == others_before["facts:corridors"] - 1
    assert {k: v for k, v in after.items() if k != "facts:corridors"} == {
        k: v for k, v in others_before.items() if k != "facts:corridors"
    }


def test_source_error_names_every_unknown_state_at_once():
    frame = pd.DataFrame(
        [
            dict.fromkeys(
                [
                    "measure",
                    "period",
                    "year_start",
                    "year_end",
                    "release",
                    "geo_level",
                    "geo_name",
                    "partner_geo_name",
                    "category",
                    "value",
                    "value_qualifier",
                    "unit",
                    "status",
                    "source_id",
                    "also_source_ids",
                    "note",
                ],
                "",
            )
            | {
                "measure": "source_state_firearms",
                "period": "2000",
                "geo_level": "us_state",
                "geo_name": name,
                "value_qualifier": "exact",
                "unit": "firearms",
                "status": "VERIFIED",
                "source_id": "S01",
            }
            for name in ("Atlantis", "Texas", "Lemuria")
        ]
    )
    from etl.source import facts_transform

    with pytest.raises(SourceError, match=r"Atlantis.*Lemuria"):
        facts_transform({"f.csv": frame})


def _facts(engine, dataset: str) -> pd.DataFrame:
    with engine.connect() as connection:
        frame = pd.read_sql(
            select(Fact).where(Fact.dataset == dataset).order_by(Fact.id), connection
        )
    return frame.drop(columns=["id", "run_id"])


def _table_counts(engine) -> dict[str, int]:
    counts = {}
    with engine.connect() as connection:
        for table in (
            "sources",
            "estimates",
            "events",
            "us_states",
            "mx_states",
            "mx_state_aliases",
            "datasets",
        ):
            counts[table] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for dataset, count in connection.execute(
            select(Fact.dataset, func.count()).group_by(Fact.dataset)
        ):
            counts[f"facts:{dataset}"] = count
    return counts


def test_etl_run_loads_exactly_the_pinned_content(engine, update_golden):
    """Golden: per table and dataset, the rows `ironriver etl run` loads, by status."""
    run_embedded(engine)
    summary: dict[str, object] = {"tables": _table_counts(engine)}
    with engine.connect() as connection:
        summary["facts_by_status"] = {
            f"{dataset}:{status}": count
            for dataset, status, count in connection.execute(
                select(Fact.dataset, Fact.status, func.count()).group_by(Fact.dataset, Fact.status)
            )
        }
        summary["sources"] = sorted(connection.execute(select(Source.id)).scalars())
    path = GOLDEN / "etl_run.json"
    rendered = json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")
