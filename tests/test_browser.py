"""Journeys in real headless Chromium (Debian's), with every request beyond 127.0.0.1 aborted."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Engine

from dashboard.screenshots import NetworkLog, browser, wait_for_drawn
from db import queries
from db.datasets import DATASETS, Filters, neutralise
from db.engine import make_engine

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["/", "/trends", "/trends?state=TX", "/estimates", "/gc-armas", "/sources", "/status"]
SERVE = (
    "import sys\n"
    "from dashboard.app import create_app\n"
    "from db.settings import Settings\n"
    "app = create_app(Settings.from_env({'DATABASE_URL': sys.argv[1]}))\n"
    "app.run(host='127.0.0.1', port=int(sys.argv[2]))\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def database(loaded_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("browser") / "ironriver.sqlite"
    shutil.copy(loaded_db_template, path)
    return f"sqlite:///{path}"


@contextmanager
def dashboard_process(database: str, log_dir: Path) -> Iterator[str]:
    """The app in its own process on a free loopback port over `database`; yields its base URL."""
    port = free_port()
    # A file, not a pipe nobody reads: the server logs every request, and once a pipe's buffer
    # is full its next log line blocks it, and every later page waits forever.
    server_log = log_dir / "stderr.log"
    stderr = server_log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, database, str(port)],
        cwd=ROOT,
        env={**os.environ, "IRONRIVER_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "dashboard did not start: " + server_log.read_text(errors="replace")[-2000:]
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


@pytest.fixture(scope="session")
def base_url(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app in its own process on a free loopback port, over a copy of the loaded database."""
    with dashboard_process(database, tmp_path_factory.mktemp("server")) as url:
        yield url


# Module scope: Playwright's sync API keeps an event loop on this thread while the browser lives,
# and Dash layouts run through asgiref when it is installed, which refuses a running loop.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as instance:
        yield instance


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    # The suite runs these journeys beside CPU-heavy campaigns on two cores: a slow load is not a
    # failure, a load that never finishes is.
    context.set_default_navigation_timeout(90_000)
    yield context
    context.close()


@contextmanager
def watched_pages(context: Any, base_url: str) -> Iterator[Callable[[str], Any]]:
    """An opener of paths in `context` that waits for their charts; on leaving, every page's
    network log must be clean (no request beyond the app, none failed, no console error)."""
    logs: list[tuple[str, NetworkLog]] = []

    def opener(path: str) -> Any:
        page = context.new_page()
        log = NetworkLog()
        log.watch(page)
        logs.append((path, log))
        page.goto(base_url + path, wait_until="networkidle")
        wait_for_drawn(page)
        return page

    yield opener
    for path, log in logs:
        assert log.external == [], f"{path} tried to reach the network: {log.external}"
        assert log.failed == [], f"{path} had failed requests: {log.failed}"
        assert log.errors == [], f"{path} logged errors: {log.errors}"


@pytest.fixture
def open_page(context: Any, base_url: str) -> Iterator[Any]:
    """Opens a path and waits for its charts; every page's network log must stay clean."""
    with watched_pages(context, base_url) as opener:
        yield opener


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    engine = make_engine(database, read_only=True)
    yield engine
    engine.dispose()


def plot_data(page: Any, graph_id: str) -> list[dict[str, Any]]:
    return page.evaluate(
        """id => document.querySelector('#' + id + ' .js-plotly-plot').data.map(t => ({
            type: t.type, name: t.name, geojson: t.geojson, showscale: t.showscale,
            locations: t.locations ? Array.from(t.locations) : null,
            z: t.z ? Array.from(t.z) : null}))""",
        graph_id,
    )


def coloured(page: Any, country: str) -> dict[str, float]:
    """The states a country's choropleth colours, with their values (grey ones excluded)."""
    for trace in plot_data(page, "map-graph"):
        ours = trace["type"] == "choropleth" and f"/{country}." in trace["geojson"]
        if ours and trace["showscale"] is not False:
            return dict(zip(trace["locations"], trace["z"], strict=True))
    return {}


# What a map draws, as one string: it changes exactly when plotly receives a new figure.
DRAWN_DATA = """id => JSON.stringify(document.querySelector('#' + id + ' .js-plotly-plot').data
    .map(t => [t.locations, t.z]))"""


def wait_for_redraw(page: Any, graph_id: str, before: str) -> None:
    """Until the graph draws other data than `before` (a DRAWN_DATA value) and nothing loads."""
    page.wait_for_function(
        f"""before => ({DRAWN_DATA})({graph_id!r}) !== before
            && !document.querySelector('[data-dash-is-loading="true"]')""",
        arg=before,
        timeout=15_000,
    )
    wait_for_drawn(page)


def wait_for_query(page: Any, text: str) -> None:
    page.wait_for_function("t => window.location.search.includes(t)", arg=text, timeout=15_000)


def trace_key(engine: Engine) -> str:
    return "traces." + queries.trace_files(engine)["checksum"].iloc[0][:12]


# ---------------------------------------------------------------------------- journeys


def test_map_draws_both_choropleths_offline(open_page: Any) -> None:
    page = open_page("/")
    paths = page.locator(".choroplethlayer path").count()
    assert paths >= 52 + 32
    assert coloured(page, "us") and coloured(page, "mx")
    assert "no published figure" in page.inner_text("#map-summary")


@pytest.mark.parametrize("path", ["/", "/es/?measure=share"])
def test_a_cold_map_page_draws_its_first_view_without_the_router_callback(
    open_page: Any, context: Any, path: str
) -> None:
    posts: list[str] = []
    fetched: list[str] = []
    context.on(
        "request",
        lambda r: posts.append(r.post_data or "") if r.method == "POST" else fetched.append(r.url),
    )
    page = open_page(path)
    assert coloured(page, "us") and coloured(page, "mx")
    assert page.locator("#map-measure input:checked").get_attribute("value") == (
        "share" if "share" in path else "count"
    )
    # The page came with the page: Dash Pages' router was never asked for it.
    assert not [body for body in posts if "_pages_content" in body]
    # Each preloaded file was fetched once: the preload was the request the page used; and each
    # lazy dcc chunk once, as a script of the page (webpack finds it loaded, not fetching it).
    preloaded = page.eval_on_selector_all("link[rel=preload]", "ls => ls.map(l => l.href)")
    assert len(preloaded) == 5  # Dash's layout and callbacks, 3 map files
    chunks = page.eval_on_selector_all("script[src*='/dcc/async-']", "ss => ss.map(s => s.src)")
    assert len(chunks) == 3  # dropdown, slider, graph
    for url in preloaded + chunks:
        assert fetched.count(url) == 1, url
    # The address stays the view's as it changes (the router's location was set up before).
    page.check(
        "#map-measure input[value=count]" if "share" in path else "#map-measure input[value=share]"
    )
    wait_for_query(page, "measure=count" if "share" in path else "measure=share")


# When the maps' first paths, the first table row and the first datalist option appeared; and
# every call that makes plotly draw, by name (wrapped when plotly.js defines window.Plotly).
ORDER_WATCH = """
(() => {
  const seen = {};
  new MutationObserver(() => {
    for (const [name, selector] of [['maps', '.choroplethlayer path'],
        ['tables', '#map-tables tr'], ['names', '#map-state-names option'],
        ['links', '#map-links .copy-link']]) {
      if (seen[name] === undefined && document.querySelector(selector)) {
        seen[name] = performance.now();
        if (name === 'maps') {
          const box = document.querySelector(selector).closest('.dash-graph').getBoundingClientRect();
          window.__mapBox = [box.x, box.y, box.width, box.height];
        }
      }
    }
  }).observe(document, {subtree: true, childList: true});
  window.__seen = seen;
  window.__plotCalls = [];
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: value => {
    plotly = value;
    for (const name of ['newPlot', 'react', 'redraw']) {
      const draw = value[name];
      value[name] = function () { window.__plotCalls.push(name); return draw.apply(this, arguments); };
    }
  }});
})();
"""


def first_view(base_url: str, path: str) -> Any:
    """The first view the page at `path` carries (the JSON data block the server laid out)."""
    with urllib.request.urlopen(base_url + path, timeout=30) as response:
        page_html = response.read().decode("utf-8")
    block = re.search(
        r'<script id="ironriver-first-view" type="application/json">(.*?)</script>', page_html, re.S
    )
    assert block is not None
    return json.loads(block.group(1))


def laid_out(node: object, component_id: str) -> Any:
    """The component `component_id` of a serialized layout."""
    if isinstance(node, list):
        return next((f for n in node if (f := laid_out(n, component_id)) is not None), None)
    if not isinstance(node, dict) or not isinstance(node.get("props"), dict):
        return None
    if node["props"].get("id") == component_id:
        return node
    return laid_out(node["props"].get("children"), component_id)


def components_of(node: object, kind: str) -> list[Any]:
    """Every component of type `kind` in a serialized layout, in document order."""
    if isinstance(node, list):
        return [c for n in node for c in components_of(n, kind)]
    if not isinstance(node, dict) or not isinstance(node.get("props"), dict):
        return []
    return [node] * (node.get("type") == kind) + components_of(node["props"].get("children"), kind)


def count_type(node: object, kind: str) -> int:
    if isinstance(node, list):
        return sum(count_type(n, kind) for n in node)
    if not isinstance(node, dict) or not isinstance(node.get("props"), dict):
        return 0
    return (node.get("type") == kind) + count_type(node["props"].get("children"), kind)


MAP_BOX = """() => {
    const box = document.querySelector('#map-graph').getBoundingClientRect();
    return [box.x, box.y, box.width, box.height];
}"""


# What a cold load shows before Dash's page: when the first screen's maps have their paths (and
# whether Dash had rendered anything then), every animation frame after that with no map shown,
# and, as the copy is removed, each of its elements against Dash's (tag, classes, box) until the
# first container Dash fills that the copy leaves empty (what follows may move down, what holds
# it grows), with both
# graphs' traces, layout and drawn text.
SWAP_WATCH = """
(() => {
  window.__early = null;
  window.__swap = null;
  window.__framesWithoutMaps = 0;
  const rect = e => [...Object.values(e.getBoundingClientRect().toJSON())].slice(0, 4)
    .map(v => Math.round(v * 2) / 2);
  const name = e => e.tagName + '.' + [...e.classList].join('.');
  function compare(screen) {
    const mismatches = [];
    let compared = 0, stopped = false;
    (function walk(copy, live) {
      if (stopped) return;
      compared += 1;
      const [a, b] = [rect(copy), rect(live)];
      if (name(copy) !== name(live) || a.slice(0, 3).join() !== b.slice(0, 3).join()) {
        mismatches.push([name(copy), a, name(live), b]);
      }
      if (!copy.classList.contains('dash-graph')) {
        if (!copy.children.length && live.children.length) {
          stopped = live.getBoundingClientRect().height > 0;
        } else if (copy.children.length !== live.children.length) {
          mismatches.push([name(copy), copy.children.length, live.children.length]);
        } else {
          for (let i = 0; i < copy.children.length; i += 1) walk(copy.children[i], live.children[i]);
        }
      }
      // A box holding what Dash filled grows by it; any other keeps its height.
      if (!stopped && a[3] !== b[3]) mismatches.push([name(copy), a, name(live), b]);
    }(screen.firstElementChild.firstElementChild.firstElementChild,
      document.getElementById('_pages_content')));
    const early = screen.querySelector('.js-plotly-plot');
    const live = document.querySelector('#map-graph .js-plotly-plot');
    const drawn = gd => ({
      data: JSON.stringify(gd.data), layout: JSON.stringify(gd.layout),
      text: gd.querySelector('.main-svg').textContent,
      paths: gd.querySelectorAll('.choroplethlayer path').length,
    });
    return {compared, mismatches: mismatches.slice(0, 5), early: drawn(early), live: drawn(live)};
  }
  const remove = Element.prototype.remove;
  Element.prototype.remove = function () {
    if (this.id === 'ironriver-first-screen' && window.__swap === null) {
      try {
        window.__swap = compare(this);
      } catch (error) {
        window.__swap = {error: String(error)};
      }
    }
    return remove.apply(this, arguments);
  };
  new MutationObserver(() => {
    const screen = document.getElementById('ironriver-first-screen');
    const path = screen && screen.querySelector('.choroplethlayer path');
    if (window.__early || !path) return;
    const gd = path.closest('.js-plotly-plot');
    window.__early = {
      at: performance.now(),
      box: rect(path.closest('.dash-graph')),
      dashRendered: Boolean(document.querySelector('#_pages_content > *')),
      traces: gd.data.filter(t => t.type === 'choropleth')
        .map(t => ({geojson: t.geojson, locations: Array.from(t.locations), z: Array.from(t.z)})),
    };
    (function frame() {
      const shown = [...document.querySelectorAll('.choroplethlayer path')]
        .some(p => getComputedStyle(p).visibility === 'visible');
      if (!shown) window.__framesWithoutMaps += 1;
      if (document.getElementById('ironriver-first-screen') || !window.__swap) {
        requestAnimationFrame(frame);
      }
    }());
  }).observe(document, {subtree: true, childList: true});
})();
"""


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]
)
@pytest.mark.parametrize("path", ["/", "/es/?measure=share"])
def test_a_cold_map_page_shows_the_urls_maps_before_dash_then_the_same_page_live(
    chromium: Any, base_url: str, viewport: dict[str, int], path: str
) -> None:
    context = chromium.new_context(viewport=viewport)
    context.set_default_navigation_timeout(90_000)
    context.add_init_script(SWAP_WATCH)
    with watched_pages(context, base_url) as opener:
        page = opener(path)
    early, swap = page.evaluate("window.__early"), page.evaluate("window.__swap")
    # The maps were drawn from the page's HTML before Dash had rendered anything, and before any
    # of React's and Dash's files or Dash's layout was asked for: they wait until then.
    assert early is not None and early["dashRendered"] is False
    dash_files = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => /\\/_dash-|react/.test(e.name))"
        ".map(e => [e.name, e.startTime])"
    )
    assert len(dash_files) >= 10
    assert [name for name, started in dash_files if started < early["at"]] == []
    # They are the URL's maps: the traces of the figure the server laid out for it.
    graph = laid_out(first_view(base_url, path)["content"], "map-graph")
    assert early["traces"] == [
        {"geojson": t["geojson"], "locations": t["locations"], "z": t["z"]}
        for t in graph["props"]["figure"]["data"]
        if t["type"] == "choropleth"
    ]
    # When Dash's page took their place, it looked the same: every element of the copy down to
    # the maps and their sources, and the graph drawn from the same traces and layout, with the
    # same words on it.
    assert swap is not None and swap.get("compared", 0) > 60, swap
    assert swap["mismatches"] == [], json.dumps(swap["mismatches"])
    assert swap["early"] == swap["live"] and swap["live"]["paths"] >= 52 + 32
    # No frame showed the page without its maps, and the maps' box never moved.
    assert page.evaluate("window.__framesWithoutMaps") == 0
    assert early["box"] == page.evaluate(
        "[...Object.values(document.querySelector('#map-graph').getBoundingClientRect().toJSON())]"
        ".slice(0, 4).map(v => Math.round(v * 2) / 2)"
    )
    # Then only Dash's page is left: nothing inert, nothing hidden, every id once.
    assert page.evaluate("document.querySelectorAll('[inert], [data-early-graph]').length") == 0
    assert page.evaluate(
        "getComputedStyle(document.getElementById('react-entry-point')).visibility"
    ) == ("visible")
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))
    context.close()


# Whether the first screen was still in the page when Dash's page first rendered its map's box.
COPY_WHEN_DASH_RENDERS = """
(() => {
  window.__copyWhenDashRendered = null;
  new MutationObserver((_, observer) => {
    if (document.querySelector('#react-entry-point #map-graph')) {
      window.__copyWhenDashRendered = Boolean(document.getElementById('ironriver-first-screen'));
      observer.disconnect();
    }
  }).observe(document, {subtree: true, childList: true});
})();
"""


def test_a_first_screen_that_cannot_draw_makes_way_and_dash_still_starts(
    chromium: Any, base_url: str
) -> None:
    # plotly.js never arrives: the copy cannot draw its maps. React and Dash, which wait for the
    # copy's maps (first_screen.later), start all the same, and the copy, mapless, is gone before
    # Dash's page appears rather than covering it.
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_navigation_timeout(90_000)
    context.add_init_script(COPY_WHEN_DASH_RENDERS)
    context.route("**/plotly-custom.min.js*", lambda route: route.abort())
    page = context.new_page()
    page.goto(base_url + "/")
    page.wait_for_function(
        "() => window.__copyWhenDashRendered !== null && !document.getElementById('ironriver-later')",
        timeout=60_000,
    )
    assert page.evaluate("window.__copyWhenDashRendered") is False
    assert (
        page.evaluate("document.querySelectorAll('#ironriver-first-screen, [inert]').length") == 0
    )
    assert page.evaluate(
        "getComputedStyle(document.getElementById('react-entry-point')).visibility"
    ) == ("visible")
    assert "Where traced guns come from" in page.inner_text("#react-entry-point h1")
    context.close()


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}]
)
def test_a_cold_map_page_draws_the_maps_once_then_the_unseen_as_laid_out_without_moving_them(
    chromium: Any, base_url: str, viewport: dict[str, int]
) -> None:
    context = chromium.new_context(viewport=viewport)
    context.set_default_navigation_timeout(90_000)
    context.add_init_script(ORDER_WATCH)
    with watched_pages(context, base_url) as opener:
        page = opener("/")
    view = first_view(base_url, "/")
    # What the server laid out is all there, after the maps: the state tables (in a closed
    # <details>) and the state names of the datalist are no longer rendered before the maps.
    tables, names = (
        laid_out(view["content"], "map-tables"),
        laid_out(view["content"], "map-state-names"),
    )
    rows = page.locator("#map-tables tr").count()
    assert rows == count_type(tables, "Tr") and rows > 20
    options = page.eval_on_selector_all("#map-state-names option", "os => os.map(o => o.value)")
    assert options == [o["props"]["value"] for o in names["props"]["children"]]
    assert "Texas" in (page.text_content("#map-tables") or "")
    # The chart links and "Copy link" below the view, as laid out, with the view's permalink
    # (what syncUrl gives) in the field and in the address bar.
    links = laid_out(view["content"], "map-links")
    hrefs = page.eval_on_selector_all("#map-links a.chart-image-link", "as => as.map(a => a.href)")
    assert [h.replace(base_url, "") for h in hrefs] == [
        a["props"]["href"] for a in components_of(links, "A")
    ]
    search = laid_out(view["content"], "map-search")["props"]["data"]
    assert search.startswith("?us=") and "&mx=" in search
    assert page.evaluate("window.location.href") == base_url + "/" + search
    assert page.input_value("#map-permalink") == base_url + "/" + search
    seen = page.evaluate("window.__seen")
    assert seen["maps"] <= seen["tables"] and seen["maps"] <= seen["names"], seen
    assert seen["maps"] <= seen["links"], seen
    # One graph, drawn twice: in the first screen's copy, then by Dash behind it; no callback
    # re-renders it on a cold load, and nothing rendered after it moves or resizes it.
    assert page.evaluate("window.__plotCalls") == ["react", "react"]
    assert page.evaluate("window.__mapBox") == page.evaluate(MAP_BOX)
    context.close()


def test_year_slider_and_play_change_the_trace_file_view(open_page: Any, engine: Engine) -> None:
    key = trace_key(engine)
    page = open_page(f"/?us={key}&mx={key}&year=2014")
    before = coloured(page, "mx")
    assert set(before) == {"28", "02", "26"}  # the sample's 2014 recoveries
    drawn_2014 = page.evaluate(DRAWN_DATA, "map-graph")
    thumb = page.locator("#map-year [role=slider]")
    thumb.focus()
    page.keyboard.press("ArrowRight")
    wait_for_query(page, "year=2015")
    wait_for_redraw(page, "map-graph", drawn_2014)
    assert "Michoacán" in page.inner_text("#map-summary")
    assert set(coloured(page, "mx")) == {"16", "09"}
    page.click("#map-play")
    wait_for_query(page, "year=2016")
    page.click("#map-play")  # pause again


def click_texas(page: Any) -> None:
    """A mouse click on Texas's panhandle: inside Texas, away from its label and the corridors."""
    box = page.evaluate(
        """() => {
            const path = [...document.querySelectorAll('.choroplethlayer path')]
                .find(p => p.__data__ && p.__data__.loc === 'TX');
            const r = path.getBoundingClientRect();
            return {x: r.x, y: r.y, width: r.width, height: r.height};
        }"""
    )
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.12)


def test_clicking_texas_opens_its_trend(open_page: Any) -> None:
    page = open_page("/")
    click_texas(page)
    page.wait_for_url("**/trends?state=TX**", timeout=15_000)
    page.wait_for_function(
        "() => document.querySelector('#trends-title') &&"
        " document.querySelector('#trends-title').innerText.includes('Texas')"
    )
    wait_for_drawn(page)
    assert page.locator("#trends-graph .main-svg").count() > 0


def test_downloaded_csv_equals_the_rows_the_map_draws(
    open_page: Any, engine: Engine, base_url: str
) -> None:
    page = open_page("/")
    link = page.locator("#map-us-footer a", has_text="Download CSV")
    href = link.get_attribute("href")
    with page.expect_download() as download:
        link.click()
    body = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    header, rows = rows[0], rows[1:]
    name = urlsplit(href).path.rsplit("/", 1)[-1].removesuffix(".csv")
    assert download.value.suggested_filename.startswith(f"ironriver-{name}-")
    expected = DATASETS[name].query(
        engine, Filters.from_args(dict(parse_qsl(urlsplit(href).query)))
    )
    assert rows == [
        ["" if v is None or v != v else str(neutralise(v)) for v in r]
        for r in expected.itertuples(index=False)
    ]
    drawn = {
        r[header.index("geo_code")]: float(r[header.index("value")])
        for r in rows
        if r[header.index("geo_level")] == "us_state" and r[header.index("value")]
    }
    assert coloured(page, "us") == drawn


def test_a_permalink_reopens_the_same_view(open_page: Any, context: Any) -> None:
    page = open_page("/")
    counts = page.evaluate(DRAWN_DATA, "map-graph")
    page.get_by_label("Share of the period's total").check()
    wait_for_query(page, "measure=share")
    wait_for_redraw(page, "map-graph", counts)
    summary, drawn = page.inner_text("#map-summary"), coloured(page, "us")
    link = page.input_value("#map-permalink")
    assert link == page.url
    page.click("#map-copy")
    page.wait_for_function("() => document.querySelector('#map-copy-status').innerText !== ''")
    assert page.inner_text("#map-copy-status") in ("Link copied.", "Select the link and copy it.")

    again = open_page(urlsplit(link).path + "?" + urlsplit(link).query)
    assert again.inner_text("#map-summary") == summary
    assert coloured(again, "us") == drawn
    assert again.get_by_label("Share of the period's total").is_checked()


def test_trend_event_kinds_live_in_the_url(open_page: Any) -> None:
    page = open_page("/trends?kinds=gc_armas")
    page.get_by_label("Court cases").check()
    wait_for_query(page, "kinds=gc_armas%2Clegal")
    link = page.input_value("#trends-permalink")
    again = open_page(urlsplit(link).path + "?" + urlsplit(link).query)
    assert again.get_by_label("Court cases").is_checked()
    assert again.get_by_label("GC-Armas").is_checked()
    assert not again.get_by_label("Funding").is_checked()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_works_with_the_network_off(open_page: Any, path: str) -> None:
    page = open_page(path)
    assert page.locator("h1").count() >= 1
    # `open_page` asserts no request left 127.0.0.1, none failed, and nothing was logged.


# Every trace plotly was asked to draw, as the type asked for and the type drawn: plotly quietly
# turns a trace whose type its bundle lacks into an invisible scatter.
TRACE_TYPES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    svg: gd.querySelectorAll('.main-svg').length,
    traces: gd._fullData.map(t => [t._input.type || 'scatter', t.type, Boolean(t._module)]),
}))"""
PAGES_WITH_GRAPHS = {"/", "/trends", "/trends?state=TX", "/estimates", "/gc-armas"}
FULL_PLOTLY = "/_dash-component-suites/plotly/package_data/plotly.min.js"


@pytest.mark.parametrize("path", PAGES)
def test_every_graph_draws_with_the_custom_plotly_bundle(open_page: Any, path: str) -> None:
    page = open_page(path)
    graphs = page.evaluate(TRACE_TYPES_JS)
    assert bool(graphs) == (path in PAGES_WITH_GRAPHS), graphs
    for graph in graphs:
        assert graph["svg"] > 0 and graph["traces"], graph
        for asked, drawn, has_module in graph["traces"]:
            assert asked == drawn and has_module, f"{path}: no {asked!r} in the bundle"
    fetched = page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    assert not [url for url in fetched if FULL_PLOTLY in url]
    assert [url for url in fetched if "/assets/plotly-custom.min.js" in url]
    # `open_page` asserts no console error, no failed request and nothing beyond 127.0.0.1.


def test_map_controls_are_reachable_by_keyboard(open_page: Any, engine: Engine) -> None:
    key = trace_key(engine)
    page = open_page(f"/?us={key}&mx={key}")
    reached = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return (e.id || '') + '|' + (e.getAttribute('role') || '') + '|' + e.tagName; }"
            )
        )
    joined = " ".join(reached)
    for wanted in ("map-us|", "map-mx|", "|INPUT", "map-play|", "|slider|"):
        assert wanted in joined, (wanted, reached)
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_under_its_content_security_policy_without_a_cloud_button(
    context: Any, base_url: str, path: str
) -> None:
    page = context.new_page()
    log = NetworkLog()
    log.watch(page)
    response = page.goto(base_url + path, wait_until="networkidle")
    wait_for_drawn(page)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # A script the policy blocked, or a callback that failed for it, is a console error.
    assert log.errors == []
    # The modebar is drawn on hover.
    if page.locator(".js-plotly-plot").count():
        page.locator(".js-plotly-plot").first.hover()
    titles = page.eval_on_selector_all(".modebar-btn", "els => els.map(e => e.dataset.title)")
    assert not [t for t in titles if "Share" in t or "Cloud" in t or "Studio" in t]


def test_navigation_marks_the_current_page_as_the_user_moves(open_page: Any) -> None:
    page = open_page("/trends")
    current = page.locator("#site-nav a[aria-current='page']")
    current.wait_for()
    assert current.inner_text() == "Trends"
    page.locator("#site-nav a", has_text="Status").click()
    page.wait_for_selector("#site-nav a[aria-current='page']:text('Status')")
    assert page.locator("#site-nav a[aria-current='page']").count() == 1


IN_VIEW = """id => {
    const entry = document.getElementById(id);
    if (!entry || !entry.classList.contains('anchor-target')) return false;
    const box = entry.getBoundingClientRect();
    return box.top >= 0 && box.top < window.innerHeight / 2;
}"""


def test_a_citation_link_from_outside_lands_on_its_entry(open_page: Any) -> None:
    page = open_page("/sources#S14c")
    page.wait_for_function(IN_VIEW, arg="S14c", timeout=15_000)
    assert page.evaluate("() => window.scrollY") > 2000  # far down a long page, not its top


def test_a_citation_link_inside_the_app_lands_on_its_entry(open_page: Any) -> None:
    page = open_page("/")
    link = page.locator("#map-us-footer a[href^='/sources#S']").first
    target = link.get_attribute("href").split("#", 1)[1]
    link.click()
    page.wait_for_url(f"**/sources#{target}", timeout=15_000)
    page.wait_for_function(IN_VIEW, arg=target, timeout=15_000)


def test_the_sources_filter_box_narrows_the_list(open_page: Any) -> None:
    page = open_page("/sources")
    total = page.locator(".source-entry").count()
    page.fill("#sources-filter", "el paso times")
    page.wait_for_function(
        "() => document.querySelector('#sources-filter-count').innerText.includes(' of ')"
    )
    visible = page.locator(".source-entry:not([hidden])")
    assert 0 < visible.count() < total
    assert all("el paso times" in t.lower() for t in visible.all_inner_texts())
    page.fill("#sources-filter", "")
    page.wait_for_function(
        "n => document.querySelectorAll('.source-entry:not([hidden])').length === n", arg=total
    )


# ---------------------------------------------------------------------------- Spanish pages


def test_a_spanish_map_plays_copies_and_opens_a_spanish_trend(
    open_page: Any, engine: Engine
) -> None:
    key = trace_key(engine)
    page = open_page(f"/es/?us={key}&mx={key}&year=2014")
    assert page.inner_text("#map-play") == "▶ Reproducir"
    page.click("#map-play")
    page.wait_for_function("() => document.querySelector('#map-play').innerText === '❚❚ Pausa'")
    page.click("#map-play")
    page.wait_for_function("() => document.querySelector('#map-play').innerText === '▶ Reproducir'")
    page.click("#map-copy")
    page.wait_for_function("() => document.querySelector('#map-copy-status').innerText !== ''")
    assert page.inner_text("#map-copy-status") in (
        "Enlace copiado.",
        "Seleccione el enlace y cópielo.",
    )
    # The modebar camera, titled in Spanish, gives the server's Spanish image of the view.
    page.locator("#map-graph .js-plotly-plot").hover()
    with page.expect_download(timeout=60_000) as download:
        page.locator(".modebar-btn[data-title^='Descargar gráfica']").first.click()
    assert urlsplit(download.value.url).path == "/es/chart/map.png"
    click_texas(page)
    page.wait_for_url("**/es/trends?state=TX**", timeout=15_000)
    page.wait_for_function(
        "() => document.querySelector('#trends-title') &&"
        " document.querySelector('#trends-title').innerText === 'Tendencias: Texas'"
    )
