"""Failure notifications: the JSON arrives at the webhook; a broken webhook never raises."""

from __future__ import annotations

import datetime as dt
import json
import logging

from etl.notify import failure_payload, notify_failure
from tests.http_fixture import Reply, serve, unused_port


def test_the_payload_arrives_at_the_webhook_as_json():
    payload = failure_payload(
        failed_sources=["atf_trace_totals"],
        errors={"atf_trace_totals": "SourceError: bad file"},
        run_ids=[7],
        host="etl-1",
    )
    with serve([Reply(204)]) as server:
        sent = notify_failure(server.url("/hooks/T0123/secret"), payload, timeout=2)

    assert sent is True
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/hooks/T0123/secret")
    assert request.headers["Content-Type"] == "application/json"
    arrived = json.loads(request.body)
    assert arrived == payload
    assert arrived["event"] == "etl_failed"
    assert (arrived["host"], arrived["failed_sources"], arrived["run_ids"]) == (
        "etl-1",
        ["atf_trace_totals"],
        [7],
    )


def test_values_json_cannot_hold_are_sent_as_text():
    when = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    with serve([Reply(200)]) as server:
        assert notify_failure(server.url("/hook"), {"finished_at": when}, timeout=2)

    assert json.loads(server.requests[0].body) == {"finished_at": str(when)}


def test_an_unreachable_webhook_returns_false_without_raising_or_logging_its_secret(caplog):
    url = f"http://127.0.0.1:{unused_port()}/hooks/secret-token"
    with caplog.at_level(logging.WARNING, logger="etl.notify"):
        assert notify_failure(url, {"event": "etl_failed"}, timeout=1) is False

    assert "not sent" in caplog.text
    assert "secret-token" not in caplog.text


def test_a_webhook_answering_an_error_returns_false():
    with serve([Reply(500)]) as server:
        assert notify_failure(server.url("/hook"), {"event": "etl_failed"}, timeout=2) is False
    assert len(server.requests) == 1  # an alert is not retried: a duplicate is worse than late


def test_a_timed_out_webhook_returns_false():
    with serve([Reply(200, delay=1.0)]) as server:
        assert notify_failure(server.url("/hook"), {"event": "etl_failed"}, timeout=0.2) is False


def test_no_webhook_url_means_no_notification():
    assert notify_failure(None, {"event": "etl_failed"}) is False
    assert notify_failure("", {"event": "etl_failed"}) is False


def test_a_malformed_webhook_url_returns_false():
    assert notify_failure("not a url", {"event": "etl_failed"}) is False
