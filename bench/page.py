"""Page benchmark: the map page in headless Chromium, time until the maps are drawn, and bytes.

Cold is a new browser context (empty cache); warm is a reload in that same context. The time
is read in the page: `performance.now()` (milliseconds since the navigation started) at the
first animation frame where every choropleth trace of every Plotly graph the reader can see has
its paths drawn. The app's map page shows its first view as static HTML with its maps drawn by
plotly.js before Dash renders the page behind it, hidden (dashboard/first_screen.py): those are
the maps the reader sees first. A second time says when the page is complete: Dash's page shown
in place of that copy, its maps drawn, all that it lays out for its first view rendered (its
`data-deferred` containers) and no Dash component loading; the floor page is complete when
drawn.
Bytes are what Chromium's network layer received (`encodedDataLength`: headers and bodies as
sent, compressed or not), summed over every request of the load.

The peer is the floor of this approach: a bare static page (`floor_site`) that draws the same
choropleth traces, with the same layout and config, with the same plotly.js file the app page
ran and the same boundary files, all from files served by Python's static file server.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.measure import median
from dashboard.screenshots import CHROMIUM, CHROMIUM_ARGS

MIN_MAP_LAYERS = 2  # the map page draws US states and Mexican states
QUIET_S = 0.5  # a load is over when the network has been quiet this long (as "networkidle")
QUIET_TIMEOUT_S = 60.0

# Every Plotly graph the reader can see has drawn each of its choropleth traces; records the time
# once. A graph laid out but hidden (the app's page while its first screen is shown in front of it,
# dashboard/first_screen.py) is not seen, drawn or not.
DRAWN_JS = """
(minLayers) => {
  const graphs = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(gd => gd.getClientRects().length && getComputedStyle(gd).visibility === 'visible');
  let expected = 0, drawn = 0;
  for (const gd of graphs) {
    const traces = (gd._fullData || []).filter(t => t.type === 'choropleth' && t.visible === true);
    expected += traces.length;
    for (const layer of gd.querySelectorAll('.choroplethlayer .trace')) {
      if (layer.querySelector('path')) drawn += 1;
    }
  }
  if (expected >= minLayers && drawn >= expected) {
    if (window.__benchDrawnAt === undefined) {
      window.__benchDrawnAt = performance.now();
      window.__benchLayers = drawn;
    }
    return true;
  }
  return false;
}
"""


# The maps are drawn (DRAWN_JS records when), the page shown is Dash's (its first screen has made
# way for it), every container the page renders after them (assets/ironriver.js) is filled and no
# Dash component is loading; records the time once, the drawing's own if both came in the same
# frame.
COMPLETE_JS = f"""
(minLayers) => {{
  const drawnNow = window.__benchDrawnAt === undefined;
  if (!({DRAWN_JS})(minLayers)) return false;
  if (document.getElementById('ironriver-first-screen')) return false;
  const deferred = [...document.querySelectorAll('[data-deferred]')];
  if (!deferred.every(d => d.hasChildNodes())) return false;
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  if (window.__benchCompleteAt === undefined) {{
    window.__benchCompleteAt = drawnNow ? window.__benchDrawnAt : performance.now();
  }}
  return true;
}}
"""


# What the floor page needs from the app's map page: the choropleth traces with their layout and
# config, the graph's size, and which plotly.js script and data files the page fetched.
EXTRACT_JS = """
async () => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(g => (g.data || []).some(t => t.type === 'choropleth'));
  // The graph's config: whatever differs from plotly's defaults, read from a blank plot.
  const blank = document.createElement('div');
  document.body.appendChild(blank);
  await window.Plotly.newPlot(blank, [], {});
  const config = {};
  for (const [key, value] of Object.entries(gd._context)) {
    if (typeof value !== 'function'
        && JSON.stringify(value) !== JSON.stringify(blank._context[key])) config[key] = value;
  }
  window.Plotly.purge(blank);
  blank.remove();
  const box = gd.getBoundingClientRect();
  return {
    data: gd.data.filter(t => t.type === 'choropleth'),
    layout: gd.layout,
    config,
    width: Math.round(box.width),
    height: Math.round(box.height),
    resources: performance.getEntriesByType('resource').map(e => e.name),
  };
}
"""
# A script whose file name holds the first and ends with the second.
PLOTLY_SCRIPT = ("plotly", ".js")
DATA_FILES = (".json", ".geojson")
FLOOR_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Floor: the same maps, static</title></head>
<body style="margin:0">
<div id="map" style="width:{width}px;height:{height}px"></div>
<script src="/{script}"></script>
<script src="/figure.js"></script>
</body></html>
"""


def available() -> str | None:
    """None if the page benchmark can run here, else why not."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return "no Chromium at /usr/bin/chromium (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


class _Traffic:
    """Bytes and requests of one page load, from Chromium's own network events."""

    def __init__(self, cdp: Any) -> None:
        self.urls: dict[str, str] = {}
        self.encoded: dict[str, int] = {}
        self.decoded: dict[str, int] = {}
        self.from_cache: set[str] = set()
        self.encodings: dict[str, str] = {}
        self.done: set[str] = set()
        self.last_event = time.monotonic()
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.loadingFailed", self._failed)
        cdp.on("Network.requestServedFromCache", self._cached)

    def reset(self) -> None:
        self.done.clear()
        self.urls.clear()
        self.encoded.clear()
        self.decoded.clear()
        self.from_cache.clear()
        self.encodings.clear()

    def in_flight(self) -> list[str]:
        return [url for rid, url in self.urls.items() if rid not in self.done]

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]
        self.last_event = time.monotonic()

    def _response(self, event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["response"].get("headers", {}).items()}
        self.encodings[event["requestId"]] = headers.get("content-encoding", "")

    def _data(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        self.decoded[rid] = self.decoded.get(rid, 0) + int(event.get("dataLength", 0))

    def _finished(self, event: dict[str, Any]) -> None:
        self.encoded[event["requestId"]] = int(event.get("encodedDataLength", 0))
        self.done.add(event["requestId"])
        self.last_event = time.monotonic()

    def _failed(self, event: dict[str, Any]) -> None:
        self.done.add(event["requestId"])
        self.last_event = time.monotonic()

    def _cached(self, event: dict[str, Any]) -> None:
        self.from_cache.add(event["requestId"])

    def summary(self, base: str) -> dict[str, Any]:
        biggest = sorted(self.encoded.items(), key=lambda item: -item[1])[:6]
        return {
            "bytes_transferred": sum(self.encoded.values()),
            "bytes_decoded": sum(self.decoded.values()),
            "requests": len(self.urls),
            "from_cache": len(self.from_cache),
            "compressed_responses": sum(1 for e in self.encodings.values() if e),
            "responses": len(self.encodings),
            "largest": [
                {
                    "url": self.urls.get(rid, "?").replace(base, ""),
                    "bytes": size,
                    "content_encoding": self.encodings.get(rid) or None,
                }
                for rid, size in biggest
            ],
        }


def _wait_for_quiet_network(page: Any, traffic: _Traffic) -> None:
    """Until no request of the load is in flight and none started or ended for QUIET_S.

    From Chromium's own network events: Playwright's "networkidle" sometimes never fires on a
    page that has long finished (seen on the static floor page with the full plotly.js).
    """
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    while traffic.in_flight() or time.monotonic() - traffic.last_event < QUIET_S:
        if time.monotonic() > deadline:
            raise TimeoutError(f"requests still in flight: {traffic.in_flight()}")
        page.wait_for_timeout(50)  # lets Playwright deliver the network events meanwhile


def _load(page: Any, traffic: _Traffic, base: str, url: str | None) -> dict[str, Any]:
    """Open `url` in `page`, or reload it when `url` is None, and wait for the maps."""
    traffic.reset()
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    page.wait_for_function(COMPLETE_JS, arg=MIN_MAP_LAYERS, polling="raf", timeout=60_000)
    drawn_ms = page.evaluate("window.__benchDrawnAt")
    layers = page.evaluate("window.__benchLayers")
    complete_ms = page.evaluate("window.__benchCompleteAt")
    # Requests still under way when the maps appear count too (their bytes were needed).
    _wait_for_quiet_network(page, traffic)
    timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0] || {})")
    navigation = json.loads(timing)
    return {
        "maps_drawn_ms": round(float(drawn_ms), 1),
        "complete_ms": round(float(complete_ms), 1),
        "map_layers": layers,
        "dom_content_loaded_ms": round(float(navigation.get("domContentLoadedEventEnd", 0)), 1),
        **traffic.summary(base),
    }


VIEWPORT = {"width": 1280, "height": 900}


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def _is_plotly_script(path: str) -> bool:
    """The plotly.js bundle; not a locale it registers (assets/plotly-locale-es-mx.js), which
    needs the bundle loaded first and draws nothing itself."""
    name = path.rsplit("/", 1)[-1]
    return PLOTLY_SCRIPT[0] in name and name.endswith(PLOTLY_SCRIPT[1]) and "locale" not in name


def write_floor_site(base: str, extracted: dict[str, Any], root: Path) -> str:
    """Write the floor page into `root` from what the app's page drew; returns the script path.

    The plotly.js script and the boundary and topojson files are fetched from the app at the
    paths the app page used, so the floor draws the same maps with the same bytes of code.
    """
    script = ""
    for url in extracted["resources"]:
        parts = urlsplit(url)
        if not url.startswith(base) or parts.path.startswith("/_dash-update"):
            continue
        if _is_plotly_script(parts.path):
            script = parts.path.lstrip("/")
        elif not parts.path.endswith(DATA_FILES):
            continue
        target = root / parts.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_fetch(base + parts.path + (f"?{parts.query}" if parts.query else "")))
    if not script:
        raise RuntimeError(f"the page at {base} loaded no plotly.js script")
    figure = {k: extracted[k] for k in ("data", "layout", "config")}
    (root / "figure.js").write_text(
        "Plotly.newPlot('map', ...(f => [f.data, f.layout, f.config])("
        + json.dumps(figure)
        + "));\n",
        encoding="utf-8",
    )
    (root / "index.html").write_text(
        FLOOR_HTML.format(width=extracted["width"], height=extracted["height"], script=script),
        encoding="utf-8",
    )
    return script


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as browsers and gunicorn use

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Python's static file server over `root` on a free loopback port, in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def _watched_page(browser: Any) -> Iterator[tuple[Any, _Traffic]]:
    """A page in a fresh context (empty cache), with Chromium's network events counted."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        yield page, _Traffic(cdp)
    finally:
        context.close()


def _extract(browser: Any, url: str) -> dict[str, Any]:
    """What the floor page needs, from one load of the app's page in a context of its own."""
    with _watched_page(browser) as (page, traffic):
        page.goto(url, wait_until="commit")
        # Dash's own graph, not the first screen's copy of it.
        page.wait_for_function(COMPLETE_JS, arg=MIN_MAP_LAYERS, polling="raf", timeout=60_000)
        _wait_for_quiet_network(page, traffic)
        extracted: dict[str, Any] = page.evaluate(EXTRACT_JS)
        return extracted


def _cold_and_warm(browser: Any, base: str, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    with _watched_page(browser) as (page, traffic):
        return _load(page, traffic, base, url), _load(page, traffic, base, None)


def _medians(runs: dict[str, list[dict[str, Any]]], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase in ("cold", "warm"):
        for key in ("maps_drawn_ms", "complete_ms", "bytes_transferred"):
            out[f"{prefix}{phase}_{key}"] = median([run[key] for run in runs[phase]])
        out[f"{prefix}{phase}_runs"] = runs[phase]
    return out


def measure_page(base: str, path: str, repetitions: int) -> dict[str, Any]:
    """Cold and warm loads of `base + path` and of its floor page, interleaved, with medians."""
    from playwright.sync_api import sync_playwright

    ours: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    floor: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="ironriver-floor-") as site,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            script = write_floor_site(base, _extract(browser, base + path), Path(site))
            with static_server(Path(site)) as floor_base:
                for _ in range(repetitions):
                    for runs, origin, url in (
                        (ours, base, base + path),
                        (floor, floor_base, floor_base + "/"),
                    ):
                        cold, warm = _cold_and_warm(browser, origin, url)
                        runs["cold"].append(cold)
                        runs["warm"].append(warm)
        finally:
            browser.close()
    return {
        "url_path": path,
        "repetitions": repetitions,
        "plotly_script": "/" + script,
        **_medians(ours),
        "floor": {
            "what": (
                "a static page drawing the same choropleth traces with the same layout, config "
                "and plotly.js file, served by Python's http.server"
            ),
            **_medians(floor),
        },
    }
