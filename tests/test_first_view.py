"""A cold page's first view: laid out into the page, its files preloaded and served compressed."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import dash
import pytest

from dashboard import compressed, first_view
from tests.reliability import web

FIRST_VIEW = re.compile(
    rb'<script id="ironriver-first-view" type="application/json">(.*?)</script>', re.S
)
PRELOAD = re.compile(rb'<link rel="preload" href="([^"]+)" as="(script|fetch)"')


def view_in(html: bytes) -> dict[str, Any]:
    found = FIRST_VIEW.search(html)
    assert found, "the page carries no first view"
    view: dict[str, Any] = json.loads(found.group(1))
    return view


def router_answer(client: Any, app: Any, path: str, search: str) -> dict[str, Any]:
    """What Dash Pages' router callback answers for the URL: the page and its title."""
    body = web.callback_body(app, web.ROUTER_OUTPUT, [path, search])
    response = client.post(web.CALLBACK_PATH, json=body)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json["response"]
    return answer


@pytest.mark.parametrize(
    ("path", "search"),
    [("/", ""), ("/", "?measure=share"), ("/es/", ""), ("/trends", "?state=TX"), ("/sources", "")],
)
def test_the_first_view_is_what_the_router_would_answer(
    client: Any, app: Any, path: str, search: str
) -> None:
    view = view_in(client.get(path + search).data)
    assert view["pathname"] == path
    assert view["search"] == search
    answer = router_answer(client, app, path, search)
    assert view["content"] == answer["_pages_content"]["children"]
    assert view["store"] == answer["_pages_store"]["data"]


def test_the_spanish_map_page_carries_its_spanish_view(client: Any) -> None:
    view = view_in(client.get("/es/").data)
    spanish = next(p for p in dash.page_registry.values() if p["path"] == "/es/")
    assert view["store"]["title"] == spanish["title"] != "Iron River · Map"


def test_a_page_that_is_not_registered_carries_no_first_view(client: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not FIRST_VIEW.search(response.data)
    assert not PRELOAD.search(response.data)


def test_no_text_in_the_view_can_close_its_element(client: Any) -> None:
    # A query value with markup ends up in the page's layout (the copy-link field, the notices).
    html = client.get("/?us=</script><script>alert(1)</script>").data
    block = FIRST_VIEW.search(html)
    assert block is not None
    assert b"<" not in block.group(1)
    assert b"<script>alert(1)" not in html


def test_the_map_page_preloads_exactly_the_files_its_view_fetches(client: Any) -> None:
    html = client.get("/").data
    view = view_in(html)
    preloaded = {url.decode(): kind.decode() for url, kind in PRELOAD.findall(html)}
    graph = next(
        c for c in first_view._components(view["content"]) if c["props"].get("id") == "map-graph"
    )
    boundaries = {
        t["geojson"] for t in graph["props"]["figure"]["data"] if t["type"] == "choropleth"
    }
    assert len(boundaries) == 2  # US and Mexican states
    assert {u for u, kind in preloaded.items() if kind == "fetch"} == {
        *boundaries,
        "/assets/topojson/north-america_110m.json",
        "/_dash-layout",
        "/_dash-dependencies",
    }
    assert {u for u, kind in preloaded.items() if kind == "script"} == set()
    for url in preloaded:
        assert client.get(url).status_code == 200, url
    # The map files, drawn right after plotly.js by the first screen, are asked for before any
    # script; Dash's layout and callbacks with Dash's scripts, once the maps are drawn (they wait
    # with them in the page's <template>, first_screen.later).
    scripts = html.index(b"<script src=")
    for url, _kind in PRELOAD.findall(html):
        before = url.decode() in boundaries or url.endswith(b"_110m.json")
        assert (html.index(b'<link rel="preload" href="' + url) < scripts) is before, url
    later = html.index(b'<template id="ironriver-later">')
    assert (
        later
        < html.index(b'<link rel="preload" href="/_dash-layout"')
        < html.index(b"dash_renderer")
    )


def test_the_lazy_chunks_of_the_first_view_run_with_dash_scripts(client: Any) -> None:
    html = client.get("/").data.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    chunks = [first_view.DCC_CHUNK_PATH + name for name in ("async-dropdown.js", "async-slider.js")]
    chunks.append(first_view.DCC_CHUNK_PATH + "async-graph.js")
    assert [s for s in scripts if "/async-" in s] == chunks
    # After dcc's own bundle and before the renderer starts, each once.
    dcc = next(i for i, s in enumerate(scripts) if "dash_core_components.v" in s)
    assert all(scripts.index(chunk) > dcc for chunk in chunks)
    assert html.rindex("async-graph.js") < html.index("new DashRenderer")
    for chunk in chunks:
        assert client.get(chunk).status_code == 200, chunk


def test_pages_load_no_polyfill_bundle_but_the_runtime_dash_needs(client: Any) -> None:
    html = client.get("/").data.decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert not [s for s in scripts if "polyfill" in s]
    runtime = next(i for i, s in enumerate(scripts) if "regenerator-runtime" in s)
    renderer = next(i for i, s in enumerate(scripts) if "dash_renderer" in s)
    assert runtime < renderer
    assert b"regeneratorRuntime" in client.get(scripts[runtime]).data


def test_pages_load_no_dash_table_bundle(client: Any) -> None:
    # Dash lists it because it imports dash_table; no page lays out a DataTable.
    for path in ("/", "/trends", "/sources"):
        html = client.get(path).data.decode()
        assert "dash_table" not in " ".join(re.findall(r'<script src="([^"]+)"', html)), path
        assert '"namespace":"dash_table"' not in html.replace(" ", ""), path


@pytest.mark.parametrize(
    ("path", "current"), [("/", "Map"), ("/trends", "Trends"), ("/es/sources", "Datos y fuentes")]
)
def test_the_first_view_marks_its_own_navigation_link_as_the_current_page(
    client: Any, path: str, current: str
) -> None:
    # A plain link with aria-current, laid out by the server: no callback marks it in the browser.
    nav = next(
        c
        for c in first_view._components(view_in(client.get(path).data)["content"])
        if c["props"].get("id") == "site-nav"
    )
    links = nav["props"]["children"]
    marked = [link for link in links if link["props"].get("aria-current") == "page"]
    assert [(m["type"], m["props"]["children"], m["props"]["href"]) for m in marked] == [
        ("A", current, path)
    ]
    assert all(link["type"] == "Link" for link in links if link not in marked)


def test_static_files_are_compressed_once_and_revalidate(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    compress = compressed._compress_data

    def counted(app: Any, data: bytes, algorithm: str) -> bytes:
        calls.append(algorithm)
        return compress(app, data, algorithm)

    monkeypatch.setattr(compressed, "_compress_data", counted)
    path = "/assets/plotly-custom.min.js"
    first = client.get(path, headers={"Accept-Encoding": "zstd, br, gzip"})
    second = client.get(path, headers={"Accept-Encoding": "zstd, br, gzip"})
    assert calls == ["zstd"]
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "zstd"
        assert response.headers["Content-Length"] == str(len(response.data))
        assert "Accept-Encoding" in response.headers["Vary"]
    assert first.data == second.data
    raw = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in raw.headers
    etag = first.headers["ETag"]
    assert etag.endswith(':zstd"')
    again = client.get(path, headers={"Accept-Encoding": "zstd", "If-None-Match": etag})
    assert again.status_code == 304
    # gzip for a client that takes only gzip, compressed once too.
    gzipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gzipped.data) == raw.data
    assert calls == ["zstd", "gzip"]


def test_a_url_is_laid_out_once_per_data_version_and_each_url_gets_its_own_view(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    laid_out: list[str] = []
    lay_out = first_view._laid_out

    def counting(page: dict[str, Any], request: Any) -> first_view.FirstView:
        laid_out.append(request.full_path)
        return lay_out(page, request)

    monkeypatch.setattr(first_view, "_laid_out", counting)
    first = view_in(client.get("/trends?state=TX").data)
    assert view_in(client.get("/trends?state=TX").data) == first
    assert len(laid_out) == 1
    other = view_in(client.get("/trends?state=CA").data)
    spanish = view_in(client.get("/es/trends?state=TX").data)
    assert len(laid_out) == 3
    assert other["search"] == "?state=CA" and first["search"] == "?state=TX"
    assert spanish["pathname"] == "/es/trends"
