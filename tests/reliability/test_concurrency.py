"""The single-process server under 16 concurrent clients: zero errors, and still alive after."""

from __future__ import annotations

from .concurrency import campaign


def test_sixteen_concurrent_clients_get_only_good_answers_and_the_server_survives():
    report = campaign("ci")
    outcome = report.outcome
    assert report.server_alive, outcome.detail
    assert outcome.crashed == 0, (outcome.detail, report.failures)
    assert outcome.lost == 0, (outcome.detail, report.failures)
    # Several requests per client, so request threads met each other in the database (kept low:
    # the count depends on the machine's load, the errors and the survival do not).
    assert outcome.clean >= 16 * 3, outcome.detail
