"""The loader fuzz campaign at CI scale: no crash, no lost row, no canary, on each backend."""

from __future__ import annotations

from tests.reliability.loader import BAD_ROWS, run


def test_malformed_trace_files_crash_nothing_lose_nothing_and_leak_no_canary(backend_url):
    outcome = run("ci", database_url=backend_url)

    assert BAD_ROWS["ci"] >= 10_000
    assert outcome.tried >= 2 * BAD_ROWS["ci"]
    assert (outcome.crashed, outcome.lost, outcome.canary_hits) == (0, 0, 0), outcome.detail
    assert outcome.clean == outcome.tried, outcome.detail
