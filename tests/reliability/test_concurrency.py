"""The single-process server under 16 concurrent clients: zero errors, and still alive after."""

from __future__ import annotations

from .concurrency import campaign


def test_sixteen_concurrent_clients_get_only_good_answers_and_the_server_survives():
    report = campaign("ci")
    outcome = report.outcome
    assert report.server_alive, outcome.detail
    assert outcome.crashed == 0, (outcome.detail, report.failures)
    assert outcome.lost == 0, (outcome.detail, report.failures)
    # Enough traffic that every request thread met others in the database, not a trickle.
    assert outcome.clean >= 16 * 10, outcome.detail
