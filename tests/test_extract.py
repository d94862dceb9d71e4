"""Downloading raw files: conditional requests, retries, truncated bodies, offline fallback."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from etl.extract import ExtractError, FetchRecord, fetch, filename_for, latest_record, meta_path
from tests.http_fixture import Reply, Request, serve, unused_port

V1 = b"year,count\n2023,100\n"
V2 = b"year,count\n2023,100\n2024,120\n"
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
FAST = {"timeout": 2.0, "backoff": 0.01}


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def versioned(body: bytes, etag: str):
    """A server that honours If-None-Match and If-Modified-Since for one version of a file."""

    def respond(request: Request) -> Reply:
        if request.headers.get("If-None-Match") == etag or (
            "If-None-Match" not in request.headers
            and request.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            return Reply(304)
        return Reply(200, body, {"ETag": etag, "Last-Modified": LAST_MODIFIED})

    return respond


def test_a_new_file_is_downloaded_with_its_metadata_beside_it(tmp_path):
    with serve([Reply(200, V1, {"ETag": '"v1"', "Last-Modified": LAST_MODIFIED})]) as server:
        result = fetch(
            server.url("/data/traces.csv"), tmp_path, "atf_traces", previous=None, **FAST
        )

    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert result.status == "downloaded"
    assert result.path == tmp_path / "atf_traces" / today / "traces.csv"
    assert result.path.read_bytes() == V1
    meta = json.loads(meta_path(result.path).read_text(encoding="utf-8"))
    assert meta["sha256"] == hashlib.sha256(V1).hexdigest()
    assert meta["size"] == len(V1)
    assert meta["url"] == server.url("/data/traces.csv")
    assert (meta["etag"], meta["last_modified"], meta["http_status"]) == (
        '"v1"',
        LAST_MODIFIED,
        200,
    )
    accessed = dt.datetime.fromisoformat(meta["date_accessed"])
    assert accessed.utcoffset() == dt.timedelta(0)
    assert result.record == FetchRecord('"v1"', LAST_MODIFIED, meta["sha256"], result.path)
    assert latest_record(tmp_path, "atf_traces") == result.record
    assert set(files_under(tmp_path)) == {
        f"atf_traces/{today}/traces.csv",
        f"atf_traces/{today}/traces.csv.meta.json",
    }


def test_an_unchanged_file_is_not_downloaded_again_and_nothing_is_written(tmp_path):
    with serve(versioned(V1, '"v1"')) as server:
        first = fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, **FAST)
        before = files_under(tmp_path)
        previous = latest_record(tmp_path, "atf_traces")
        second = fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=previous, **FAST)

    assert second.status == "unchanged"
    assert second.path == first.path
    assert "unchanged" in second.message
    assert server.requests[1].headers["If-None-Match"] == '"v1"'
    assert server.requests[1].headers["If-Modified-Since"] == LAST_MODIFIED
    assert files_under(tmp_path) == before


def test_if_modified_since_alone_is_enough_for_a_304(tmp_path):
    with serve(versioned(V1, '"v1"')) as server:
        previous = FetchRecord(None, LAST_MODIFIED, hashlib.sha256(V1).hexdigest())
        result = fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=previous, **FAST)

    assert result.status == "unchanged"
    assert "If-None-Match" not in server.requests[0].headers
    assert files_under(tmp_path) == {}


def test_a_changed_file_replaces_the_copy_and_the_record(tmp_path):
    with serve([Reply(200, V1, {"ETag": '"v1"'}), Reply(200, V2, {"ETag": '"v2"'})]) as server:
        fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, **FAST)
        previous = latest_record(tmp_path, "atf_traces")
        result = fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=previous, **FAST)

    assert result.status == "downloaded"
    assert result.path.read_bytes() == V2
    assert latest_record(tmp_path, "atf_traces") == FetchRecord(
        '"v2"', None, hashlib.sha256(V2).hexdigest(), result.path
    )


def test_a_server_ignoring_conditional_requests_still_counts_as_unchanged(tmp_path):
    with serve([Reply(200, V1), Reply(200, V1)]) as server:
        fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, **FAST)
        before = files_under(tmp_path)
        previous = latest_record(tmp_path, "atf_traces")
        result = fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=previous, **FAST)

    assert result.status == "unchanged"
    assert result.path == previous.path
    assert files_under(tmp_path) == before


def test_server_errors_are_retried_until_the_file_arrives(tmp_path):
    with serve([Reply(500), Reply(500), Reply(200, V1)]) as server:
        result = fetch(
            server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, retries=3, **FAST
        )

    assert result.status == "downloaded"
    assert result.path.read_bytes() == V1
    assert len(server.requests) == 3


def test_persistent_server_errors_leave_the_committed_copy_in_use(tmp_path):
    with serve([Reply(503)] * 3) as server:
        result = fetch(
            server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, retries=2, **FAST
        )

    assert result.status == "offline"
    assert "HTTP 503" in result.message
    assert "committed copy will be used" in result.message
    assert len(server.requests) == 3
    assert files_under(tmp_path) == {}


def test_a_timeout_is_retried_and_then_succeeds(tmp_path):
    with serve([Reply(200, V1, delay=1.0), Reply(200, V1)]) as server:
        result = fetch(
            server.url("/traces.csv"),
            tmp_path,
            "atf_traces",
            previous=None,
            timeout=0.2,
            retries=2,
            backoff=0.01,
        )

    assert result.status == "downloaded"
    assert len(server.requests) == 2


def test_a_server_that_keeps_timing_out_is_offline(tmp_path):
    with serve([Reply(200, V1, delay=1.0)] * 2) as server:
        result = fetch(
            server.url("/traces.csv"),
            tmp_path,
            "atf_traces",
            previous=None,
            timeout=0.2,
            retries=1,
            backoff=0.01,
        )

    assert result.status == "offline"
    assert "timed out" in result.message
    assert len(server.requests) == 2
    assert files_under(tmp_path) == {}


def test_a_truncated_body_is_not_saved_and_is_fetched_again(tmp_path):
    with serve([Reply(200, V2, truncate_to=10), Reply(200, V2)]) as server:
        result = fetch(
            server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, retries=2, **FAST
        )

    assert result.status == "downloaded"
    assert result.path.read_bytes() == V2
    assert len(server.requests) == 2


def test_a_body_that_is_always_truncated_is_never_saved(tmp_path):
    with serve([Reply(200, V2, truncate_to=10)] * 3) as server:
        result = fetch(
            server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, retries=2, **FAST
        )

    assert result.status == "offline"
    assert "body incomplete: 10 bytes read" in result.message
    assert len(server.requests) == 3
    assert files_under(tmp_path) == {}  # no body, no metadata, no partial file left behind
    assert latest_record(tmp_path, "atf_traces") is None


def test_connection_refused_is_offline_with_a_message(tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/traces.csv"
    result = fetch(url, tmp_path, "atf_traces", previous=None, retries=2, **FAST)

    assert result.status == "offline"
    assert result.path is None and result.record is None
    assert "connection refused" in result.message
    assert "the committed copy will be used" in result.message


def test_a_client_error_raises_a_one_line_extract_error(tmp_path):
    with (
        serve([Reply(404, b"gone")]) as server,
        pytest.raises(ExtractError, match="HTTP 404") as raised,
    ):
        fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, **FAST)

    assert "\n" not in str(raised.value)
    assert len(server.requests) == 1
    assert files_under(tmp_path) == {}


def test_a_non_http_url_is_refused(tmp_path):
    with pytest.raises(ExtractError, match="not an http"):
        fetch("file:///etc/passwd", tmp_path, "atf_traces", previous=None)


def test_latest_record_passes_over_a_copy_that_no_longer_matches_its_hash(tmp_path):
    with serve([Reply(200, V1, {"ETag": '"v1"'})]) as server:
        result = fetch(server.url("/traces.csv"), tmp_path, "atf_traces", previous=None, **FAST)
    result.path.write_bytes(b"edited by hand")

    assert latest_record(tmp_path, "atf_traces") is None


def test_latest_record_of_a_source_never_downloaded_is_none(tmp_path):
    assert latest_record(tmp_path, "atf_traces") is None


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://example.org/files/Mexico%20Data.csv?x=1", "Mexico_Data.csv"),
        ("https://example.org/", "download"),
        ("https://example.org/../..%2F.hidden", "hidden"),
    ],
)
def test_filenames_come_from_the_url_and_are_safe(url, name):
    assert filename_for(url) == name
