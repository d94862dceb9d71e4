"""Hostile requests against the web app: the fuzz campaign at CI scale, and one test per bug."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dash
import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from dashboard import site
from dashboard.app import create_app
from dashboard.guard import QuietRequestHandler
from dashboard.views.map import option_key
from db.engine import make_engine
from db.settings import Settings
from db.viewstate import InvalidInput, ViewState, from_callback, parse
from etl.cli import cli
from tests.reliability import web

PAGES = ["/", "/trends", "/estimates", "/gc-armas", "/sources", "/status"]
TRENDS = "trends-view.children"
MAP = "map-view.children"


@pytest.fixture
def client(app: Any) -> Any:
    client = app.server.test_client()
    client.get("/")  # sets up Dash Pages' router callback, as a browser's first visit does
    return client


@pytest.fixture
def edge_app(loaded_db_url: str) -> Any:
    """The app over a database holding rows dated years 1, 1899 and 9999."""
    engine = make_engine(loaded_db_url)
    web.add_extreme_rows(engine)
    engine.dispose()
    return create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}))


def output_key(app: Any, prefix: str) -> str:
    return next(k for k in app.callback_map if k.startswith(prefix))


def render(client: Any, app: Any, path: str, search: str = "") -> Any:
    """What the browser posts to draw a page: Dash Pages' router callback."""
    body = web.callback_body(app, web.ROUTER_OUTPUT, [path, search])
    return client.post(web.CALLBACK_PATH, json=body)


def texts(node: object) -> str:
    """Every string in a JSON component tree."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return " ".join(texts(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(texts(v) for v in node)
    return ""


def find(node: object, component_id: str) -> dict[str, Any] | None:
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node["props"]
        for value in node.values():
            found = find(value, component_id)
            if found is not None:
                return found
    if isinstance(node, list):
        for value in node:
            found = find(value, component_id)
            if found is not None:
                return found
    return None


def page_content(response: Any) -> Any:
    assert response.status_code == 200, response.data[:300]
    return response.json["response"]["_pages_content"]["children"]


# ---------------------------------------------------------------------------- the campaign


def test_web_fuzz_campaign_answers_every_hostile_request_without_a_5xx() -> None:
    outcome = web.run("ci")
    assert outcome.tried >= 2000
    assert outcome.passed, outcome


# ---------------------------------------------------------------------------- the parser


@pytest.mark.parametrize("value", ["²", "٣٠٠٠", "9" * 5000, "-5", "+7", " 2009x", "10000", "0"])
def test_parser_takes_years_of_ascii_digits_in_range_only(value: str) -> None:
    parsed = parse({"year": value, "from": value})
    assert parsed.state.year is None and parsed.state.year_from is None
    assert len(parsed.problems) == 2
    assert all(len(problem) < 120 for problem in parsed.problems)


def test_parser_lists_a_repeated_parameter_and_keeps_its_first_value() -> None:
    parsed = parse({"measure": ["share", "count"]})
    assert parsed.state.measure == "share"
    assert parsed.problems == ("measure was given 2 times (share, count); using share",)
    assert parse({"measure": ["share", "share"]}).problems == ()


def test_parser_ignores_tracking_parameters_silently_and_lists_unknown_ones() -> None:
    parsed = parse({"utm_source": "x", "fbclid": "y", "gclid": "z", "colour": "red"})
    assert parsed.problems == ("unknown parameter colour",)


def test_view_state_is_written_back_to_the_query_string_it_came_from() -> None:
    query = "state=TX&kinds=&from=2009"
    state = ViewState(state="TX", kinds=(), year_from=2009)
    assert state.query_string() == "?" + query
    assert parse({"state": "TX", "kinds": "", "from": "2009"}).state == state


def test_callback_inputs_of_the_wrong_type_are_refused() -> None:
    for inputs in ({"state": ["TX"]}, {"kinds": [1]}, {"year": 10**12}, {"year": 2009.5}):
        with pytest.raises(InvalidInput):
            from_callback(**inputs)
    assert from_callback(state="TX", kinds=["gc_armas"], year=2009.0).year == 2009


# ---------------------------------------------------------------------------- API and export


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/sources.csv?from=²", "from=² is not a year"),
        ("/api/v1/trace-totals.csv?year=" + "9" * 4301, "is not a year"),
        ("/api/v1/events.csv?state=TX", "dataset events does not filter by state"),
        ("/api/v1/sources.csv?from=1977", "dataset sources does not filter by from"),
        ("/api/v1/corridors.csv?measure=share&measure=count", "measure was given 2 times"),
    ],
)
def test_api_answers_400_for_parameters_it_cannot_apply(
    client: Any, url: str, message: str
) -> None:
    response = client.get(url, buffered=True)
    assert response.status_code == 400
    assert message in response.data.decode()


def test_api_metadata_echoes_only_the_filters_applied(client: Any) -> None:
    body = client.get("/api/v1/events.json?from=2010&utm_source=newsletter", buffered=True).json
    assert body["filters"] == {"from": "2010"}


def test_row_cap_error_of_a_dataset_without_filters_does_not_say_narrow_them(
    loaded_db_url: str,
) -> None:
    settings = Settings.from_env({"DATABASE_URL": loaded_db_url, "IRONRIVER_EXPORT_MAX_ROWS": "1"})
    client = create_app(settings).server.test_client()
    sources = client.get("/api/v1/sources.csv", buffered=True)
    assert sources.status_code == 400
    assert "narrow the filters" not in sources.data.decode()
    assert (
        "narrow the filters" in client.get("/api/v1/trace-totals.csv", buffered=True).data.decode()
    )


def test_csv_content_type_names_its_charset_once(client: Any) -> None:
    response = client.get("/api/v1/trace-totals.csv", buffered=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_downloads_are_cached_by_data_version_and_revalidated(client: Any) -> None:
    first = client.get("/api/v1/trace-totals.csv", buffered=True)
    assert first.headers["Cache-Control"] == "public, no-cache"
    again = client.get(
        "/api/v1/trace-totals.csv", headers={"If-None-Match": first.headers["ETag"]}, buffered=True
    )
    assert again.status_code == 304 and again.data == b""


def hrefs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["href"]] if isinstance(node.get("href"), str) else []
        return found + [h for value in node.values() for h in hrefs(value)]
    if isinstance(node, list):
        return [h for value in node for h in hrefs(value)]
    return []


@pytest.mark.parametrize(
    "path",
    [
        *[p for p in PAGES if p != "/status"],  # the status page offers no download
        "/?measure=share",
        "/?us=traces.c24c5c6f11da&mx=traces.c24c5c6f11da&year=2019",
        "/trends?state=TX&kinds=gc_armas,legal&from=2010&to=2020",
        "/trends?state=14",
    ],
)
def test_every_download_link_a_page_draws_is_answered(app: Any, client: Any, path: str) -> None:
    page, _, search = path.partition("?")
    content = page_content(render(client, app, page, "?" + search if search else ""))
    links = [h for h in hrefs(content) if h.startswith("/api/v1/")]
    assert links
    for link in links:
        response = client.get(link, buffered=True)
        assert response.status_code == 200, (link, response.data[:200])


def test_the_catalogue_lists_each_datasets_filters_and_is_revalidated(client: Any) -> None:
    first = client.get("/api/v1/datasets.json")
    by_name = {d["name"]: d for d in first.json["datasets"]}
    assert by_name["sources"]["filters"] == []
    assert by_name["events"]["filters"] == ["from", "to", "year", "kinds"]
    again = client.get("/api/v1/datasets.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_export_refuses_filters_its_dataset_does_not_apply(loaded_db_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["export", "sources", "--from", "1977"], env={"DATABASE_URL": loaded_db_url}
    )
    assert result.exit_code == 2
    assert "does not filter by from" in result.output


# ---------------------------------------------------------------------------- pages and callbacks


@pytest.mark.parametrize(
    ("path", "search", "notice"),
    [
        ("/", "?year=²", "year=² is not a year"),
        ("/trends", "?from=²", "from=² is not a year"),
        ("/trends", "?from=" + "9" * 4301, "is not a year"),
        ("/", "?measure=share&measure=count", "measure was given 2 times"),
    ],
)
def test_pages_show_a_notice_for_hostile_parameters(
    app: Any, client: Any, path: str, search: str, notice: str
) -> None:
    assert notice in texts(page_content(render(client, app, path, search)))


def test_a_repeated_measure_leaves_the_map_and_its_callback_working(app: Any, client: Any) -> None:
    content = page_content(render(client, app, "/", "?measure=share&measure=count"))
    radio = find(content, "map-measure")
    assert radio is not None and radio["value"] == "share"
    us = find(content, "map-us")
    assert us is not None
    body = web.callback_body(app, output_key(app, MAP), [us["value"], None, "share", None])
    assert client.post(web.CALLBACK_PATH, json=body).status_code == 200


def test_a_lone_from_is_honoured_and_written_back(app: Any, client: Any) -> None:
    content = page_content(render(client, app, "/trends", "?state=TX&from=2009"))
    search = find(content, "trends-search")
    assert search is not None
    assert "from=2009" in search["data"] and "state=TX" in search["data"]
    window = find(content, "trends-window")
    assert window is not None and window["value"][0] == 2009
    assert "ignored" not in texts(content)


@pytest.mark.parametrize(
    "body",
    [
        {"state": ["TX"], "kinds": "x", "window": [2000, 2020]},
        {"state": "TX", "kinds": [], "window": [0, 2000]},
        {"state": "TX", "kinds": [], "window": [2000, 10**12]},
        {"state": {"a": 1}, "kinds": [[["deep"]]], "window": "x"},
    ],
)
def test_hostile_callback_values_get_a_400_and_one_warning_line(
    app: Any, client: Any, caplog: pytest.LogCaptureFixture, body: dict[str, Any]
) -> None:
    post = web.callback_body(
        app, output_key(app, TRENDS), [body["state"], body["kinds"], body["window"]]
    )
    with caplog.at_level(logging.WARNING):
        response = client.post(web.CALLBACK_PATH, json=post)
    assert response.status_code == 400
    assert b"Traceback" not in response.data
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "\n" not in record.getMessage()


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"{",
        b'{"output": "nope", "inputs": [], "outputs": []}',
        b'{"output": "map-permalink.value", "inputs": [], "outputs": {}}',
        b"[1, 2]",
    ],
)
def test_malformed_callback_bodies_get_a_400(
    client: Any, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    with caplog.at_level(logging.WARNING):
        response = client.post(web.CALLBACK_PATH, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert [r.exc_info for r in caplog.records] == [None]


def test_callbacks_refuse_unknown_outputs_and_mismatched_inputs(app: Any, client: Any) -> None:
    body = web.callback_body(app, output_key(app, TRENDS), ["TX", [], [2000, 2020]])
    body["inputs"][0]["id"] = "map-us"
    assert client.post(web.CALLBACK_PATH, json=body).status_code == 400
    body = web.callback_body(app, output_key(app, TRENDS), ["TX", [], [2000, 2020]])
    body["output"] = "..trends-view.children...nope.figure.."
    assert client.post(web.CALLBACK_PATH, json=body).status_code == 400


@pytest.mark.parametrize("path", [*PAGES, "/trends?state=TX", "/trends?state=14"])
def test_every_page_and_callback_survives_dates_at_the_edges_of_the_columns(
    edge_app: Any, path: str
) -> None:
    client = edge_app.server.test_client()
    client.get("/")
    page, _, search = path.partition("?")
    content = page_content(render(client, edge_app, page, "?" + search if search else ""))
    assert "Traceback" not in texts(content)
    if page == "/trends":
        values = [find(content, i) for i in ("trends-state", "trends-kinds", "trends-window")]
        body = web.callback_body(
            edge_app, output_key(edge_app, TRENDS), [v["value"] for v in values if v]
        )
        assert client.post(web.CALLBACK_PATH, json=body).status_code == 200
    if page == "/":
        us = find(content, "map-us")
        assert us is not None
        edge_key = option_key(f"traces.{web.EXTREME_FILE_CHECKSUM[:12]}")
        assert edge_key in [o["value"] for o in us["options"]]
        for year in (*web.EXTREME_YEARS, None):
            body = web.callback_body(
                edge_app, output_key(edge_app, MAP), [edge_key, None, "count", year]
            )
            assert client.post(web.CALLBACK_PATH, json=body).status_code == 200
            slider = web.callback_body(
                edge_app, output_key(edge_app, "..map-year.min"), [edge_key, None, year]
            )
            assert client.post(web.CALLBACK_PATH, json=slider).status_code == 200


def test_every_dataset_downloads_with_dates_at_the_edges_of_the_columns(edge_app: Any) -> None:
    client = edge_app.server.test_client()
    catalogue = client.get("/api/v1/datasets.json").json["datasets"]
    assert len(catalogue) > 10
    for name in (d["name"] for d in catalogue):
        for fmt in ("csv", "json"):
            response = client.get(f"/api/v1/{name}.{fmt}", buffered=True)
            assert response.status_code == 200, (name, response.data[:200])


# ---------------------------------------------------------------------------- limits and headers


class CountingStream(io.RawIOBase):
    """A 200 MB body that counts how much of it the server reads."""

    def __init__(self, size: int) -> None:
        self.size, self.read_bytes = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b"x" * n
        self.read_bytes += n
        return n


@pytest.mark.parametrize("path", [web.CALLBACK_PATH, "/", "/api/v1/sources.csv"])
def test_a_200_mb_body_is_refused_with_413_before_it_is_read(client: Any, path: str) -> None:
    size = 200 * 1024 * 1024
    stream = CountingStream(size)
    environ = EnvironBuilder(path, method="POST", content_type="application/json").get_environ()
    environ.update({"wsgi.input": stream, "CONTENT_LENGTH": str(size)})
    _, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status.startswith("413")
    assert stream.read_bytes == 0  # refused from the Content-Length header alone


ROUTES = [
    "/",
    "/trends?state=TX",
    "/no-such-page",
    "/api/v1/trace-totals.csv",
    "/api/v1/datasets.json",
    "/api/v1/nope.csv",
    "/_dash-layout",
    "/_dash-dependencies",
    "/assets/style.css",
    "/assets/ironriver.js",
    "/geo/us.geojson",
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_sends_the_security_headers(client: Any, path: str) -> None:
    headers = client.get(path, buffered=True).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "Cache-Control" in headers


def test_callback_answers_are_never_stored(app: Any, client: Any) -> None:
    body = web.callback_body(app, output_key(app, TRENDS), ["TX", [], [2000, 2020]])
    assert client.post(web.CALLBACK_PATH, json=body).headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/", "/trends", "/status"])
def test_pages_revalidate_and_allow_only_their_own_inline_scripts(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.headers["Cache-Control"] == "no-cache"
    policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    inline = re.findall(rb"<script>(.*?)</script>", response.data, re.S)
    inline = [s for s in inline if b"Internet Explorer" not in s]  # inside an IE-only comment
    assert inline  # Dash's renderer bootstrap
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_client_side_callbacks_live_in_assets_not_in_python_strings(app: Any) -> None:
    ours = [c for c in app._callback_list if c.get("clientside_function")]
    assert ours
    for callback in ours:
        if callback["output"].startswith("_pages_dummy"):
            continue  # Dash Pages' own document.title setter
        assert callback["clientside_function"]["namespace"] == "ironriver", callback["output"]
    script = (Path(__file__).parents[2] / "dashboard/assets/ironriver.js").read_text()
    for callback in ours:
        name = callback["clientside_function"]["function_name"]
        assert callback["output"].startswith("_pages_dummy") or f"{name}: function" in script


def test_no_graph_offers_to_send_its_data_to_a_cloud(app: Any) -> None:
    for path in PAGES:
        module = next(
            sys.modules[p["module"]] for p in dash.page_registry.values() if p["path"] == path
        )
        with app.server.test_request_context(path):
            layout = module.layout()
        graphs = [c for c in layout._traverse() if type(c).__name__ == "Graph"]
        for graph in graphs:
            assert graph.config["showSendToCloud"] is False
            assert "sendChartToCloud" in graph.config["modeBarButtonsToRemove"]
            assert graph.config["plotlyServerURL"] == ""


def test_the_404_page_is_the_sites_page_with_its_language_and_viewport(client: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.data.decode()
    assert '<html lang="en">' in page
    assert 'name="viewport"' in page
    assert "/assets/style.css" in page and "react-entry-point" in page
    assert "Page not found" in page


def test_navigation_is_built_from_the_page_registry_in_order(app: Any) -> None:
    with app.server.test_request_context("/"):
        nav = site.nav_links("/trends")
    ordered = sorted(
        (
            p
            for p in dash.page_registry.values()
            if p.get("language") == "en" and p.get("order") is not None
        ),
        key=lambda p: p["order"],
    )
    assert [link.href for link in nav] == [p["path"] for p in ordered]
    assert [link.className for link in nav if "current" in link.className] == ["nav-link current"]


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    server = make_server(
        "127.0.0.1", 0, app.server, threaded=True, request_handler=QuietRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()


def test_the_server_header_names_no_python_version(live_server: str) -> None:
    with urllib.request.urlopen(live_server + "/") as response:
        server = response.headers.get_all("Server")
        body = response.read().decode()
    assert server == ["ironriver"]
    assert "Python/" not in body and sys.version.split()[0] not in body
