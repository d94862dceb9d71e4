"""The API's response cache: one entry and one strong ETag per data version and normalised request."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dashboard.data import EXTENSION
from dashboard.responses import ResponseCache
from db.engine import make_engine
from etl.traces import load_trace_file
from tests.conftest import SAMPLE_TRACES

URL = "/api/v1/source-states.csv"


def _data(app: Any) -> Any:
    return app.server.extensions[EXTENSION]


def test_spellings_of_one_request_share_one_body_and_one_etag(client: Any) -> None:
    plain = client.get(f"{URL}?state=TX&measure=count")
    for spelling in (
        f"{URL}?measure=count&state=TX",  # reordered
        f"{URL}?state=tx&measure=count&utm_source=news",  # case, a tracking parameter
        f"{URL}?state=TX&measure=count&bom=0&year=",  # the defaults written out
    ):
        other = client.get(spelling)
        assert other.status_code == 200
        assert (other.data, other.headers["ETag"]) == (plain.data, plain.headers["ETag"])


def test_different_bodies_have_different_strong_etags(client: Any) -> None:
    responses = [
        client.get(url)
        for url in (URL, f"{URL}?bom=1", f"{URL}?state=TX", URL.replace(".csv", ".json"))
    ]
    assert len({r.data for r in responses}) == len(responses)
    etags = [r.headers["ETag"] for r in responses]
    assert len(set(etags)) == len(etags)
    assert not any(tag.startswith("W/") for tag in etags)


@pytest.mark.parametrize("sent", ['"{}"', 'W/"{}"', '"other", "{}"', "*"])
def test_if_none_match_answers_304_without_a_body(client: Any, sent: str) -> None:
    etag = client.get(f"{URL}?state=TX").headers["ETag"].strip('"')
    again = client.get(f"{URL}?state=TX", headers={"If-None-Match": sent.format(etag)})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == f'"{etag}"'


def test_an_etag_of_other_filters_is_not_a_match(client: Any) -> None:
    etag = client.get(f"{URL}?state=TX").headers["ETag"]
    other = client.get(f"{URL}?state=CA", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.data


def test_a_repeated_request_is_answered_from_the_cache(app: Any, monkeypatch: Any) -> None:
    client = app.server.test_client()
    first = client.get(f"{URL}?state=TX")

    def no_query(*_args: object) -> None:
        raise AssertionError("the query ran again")

    monkeypatch.setattr(_data(app), "rows", no_query)
    again = client.get(f"{URL}?measure=&state=TX")
    assert again.status_code == 200 and again.data == first.data


def test_new_data_gets_a_new_body_and_etag(app: Any, loaded_db_url: str, tmp_path: Path) -> None:
    client = app.server.test_client()
    url = "/api/v1/traces-by-source-state.csv"
    before = client.get(url)
    # A second file (other trace numbers) changes the data version and the rows.
    second = tmp_path / "SYNTHETIC-second.csv"
    second.write_text(
        SAMPLE_TRACES.read_text(encoding="utf-8").replace("SYN-", "SYN2-"), encoding="utf-8"
    )
    engine = make_engine(loaded_db_url)
    load_trace_file(engine, second)
    engine.dispose()
    _data(app)._version = (0.0, "")  # the version memo lasts seconds; do not wait for it
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.data != before.data and b"SYNTHETIC-second.csv" in after.data


def test_a_zip_has_a_weak_etag_and_revalidates(client: Any) -> None:
    url = "/api/v1/source-states.zip?state=TX"
    first = client.get(url)
    # Its package says when it was made, so only the meaning, not the bytes, is promised.
    assert first.headers["ETag"].startswith('W/"')
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_zip_permalink_is_the_normalised_address(client: Any) -> None:
    response = client.get("/api/v1/source-states.zip?state=tx&utm_source=news&measure=")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        readme = archive.read("README.md").decode("utf-8")
    assert "http://localhost/api/v1/source-states.zip?state=TX" in readme
    assert "utm_source" not in readme


def test_response_cache_is_bounded_by_bytes_least_recently_used_out() -> None:
    cache = ResponseCache(max_bytes=10, max_entry_bytes=6)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now "b" is the least recently used
    cache.put("c", b"cccc")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"aaaa", None, b"cccc")
    assert cache.size == 8
    cache.put("big", b"x" * 7)  # over the per-entry bound: served by the caller, never kept
    assert cache.get("big") is None and len(cache) == 2
    cache.put("a", b"aa")  # replacing an entry counts its new size only
    assert cache.size == 6
