"""The loader fuzz campaign at CI scale: no crash, no lost row, no canary, on each backend."""

from __future__ import annotations

from tests.reliability.loader import BAD_ROWS, run


def test_malformed_trace_files_crash_nothing_lose_nothing_and_leak_no_canary(backend_url):
    outcome = run("ci", database_url=backend_url)

    assert BAD_ROWS["ci"] >= 10_000
    assert outcome.tried >= 2 * BAD_ROWS["ci"]
    assert (outcome.crashed, outcome.lost, outcome.canary_hits) == (0, 0, 0), outcome.detail
    assert outcome.clean == outcome.tried, outcome.detail


def test_the_campaign_catches_a_loader_that_keeps_the_raw_cells_of_rejected_rows(
    db_url, monkeypatch
):
    from etl.traces import insert
    from etl.traces.columns import ALLOWED_COLUMNS

    def keep_everything(values, present):
        return dict(zip(ALLOWED_COLUMNS, values, strict=True))

    monkeypatch.setattr(insert, "kept_fields", keep_everything)

    outcome = run("ci", database_url=db_url)

    assert outcome.canary_hits > 0, outcome.detail
    assert "in the database" in outcome.detail
