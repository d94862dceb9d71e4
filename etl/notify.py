"""Tell someone an ETL run failed: one JSON POST to a webhook, which never breaks the run itself."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from etl.extract import user_agent

log = logging.getLogger(__name__)

FAILURE_EVENT = "etl_failed"


def failure_payload(
    *,
    failed_sources: Sequence[str],
    errors: Mapping[str, str],
    run_ids: Sequence[int],
    host: str | None = None,
    interrupted: bool = False,
) -> dict[str, Any]:
    """The JSON body `notify_failure` sends after a run with failures.

    `interrupted` marks the alert the next writer sends for runs a killed process left behind.
    """
    return {
        "event": FAILURE_EVENT,
        "host": host or socket.gethostname(),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "failed_sources": list(failed_sources),
        "errors": dict(errors),
        "run_ids": list(run_ids),
        "interrupted": interrupted,
    }


def notify_failure(
    webhook_url: str | None, payload: Mapping[str, Any], *, timeout: float = 10
) -> bool:
    """POST `payload` as JSON to `webhook_url`; True if it answered 2xx.

    Never raises: any failure is a logged warning and False, because a broken alert channel must
    not turn into a broken ETL run. No URL (None or "") means notifications are off: False, no
    request. The URL is never logged whole; webhook URLs often carry their secret in the path.
    """
    if not webhook_url:
        return False
    where = _redacted(webhook_url)
    try:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        response = requests.post(
            webhook_url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": user_agent()},
            timeout=timeout,
            # A redirected POST becomes a GET without the body; better to say it did not arrive.
            allow_redirects=False,
        )
        response.close()
    except Exception as error:  # whatever went wrong, the run's own outcome stands
        log.warning("failure notification to %s not sent: %s", where, type(error).__name__)
        return False
    if not 200 <= response.status_code < 300:
        log.warning("failure notification to %s refused: HTTP %d", where, response.status_code)
        return False
    log.info("failure notification sent to %s", where)
    return True


def _redacted(url: str) -> str:
    """Scheme and host only: `https://hooks.example.org/…`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid webhook URL)"
    return f"{parts.scheme}://{host}{port}/…"
