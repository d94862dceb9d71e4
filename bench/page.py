"""Page benchmark: the map page in headless Chromium, time until the maps are drawn, and bytes.

Cold is a new browser context (empty cache); warm is a reload in that same context. The time
is read in the page: `performance.now()` (milliseconds since the navigation started) at the
first animation frame where every choropleth trace of every Plotly graph has its paths drawn.
Bytes are what Chromium's network layer received (`encodedDataLength`: headers and bodies as
sent, compressed or not), summed over every request of the load.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.measure import median
from dashboard.screenshots import CHROMIUM, CHROMIUM_ARGS

MIN_MAP_LAYERS = 2  # the map page draws US states and Mexican states

# Every Plotly graph has drawn each of its choropleth traces; records the time once.
DRAWN_JS = """
(minLayers) => {
  const graphs = Array.from(document.querySelectorAll('.js-plotly-plot'));
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
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.requestServedFromCache", self._cached)

    def reset(self) -> None:
        self.urls.clear()
        self.encoded.clear()
        self.decoded.clear()
        self.from_cache.clear()
        self.encodings.clear()

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]

    def _response(self, event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["response"].get("headers", {}).items()}
        self.encodings[event["requestId"]] = headers.get("content-encoding", "")

    def _data(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        self.decoded[rid] = self.decoded.get(rid, 0) + int(event.get("dataLength", 0))

    def _finished(self, event: dict[str, Any]) -> None:
        self.encoded[event["requestId"]] = int(event.get("encodedDataLength", 0))

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


def _load(page: Any, traffic: _Traffic, base: str, url: str | None) -> dict[str, Any]:
    """Open `url` in `page`, or reload it when `url` is None, and wait for the maps."""
    traffic.reset()
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    page.wait_for_function(DRAWN_JS, arg=MIN_MAP_LAYERS, polling="raf", timeout=60_000)
    drawn_ms = page.evaluate("window.__benchDrawnAt")
    layers = page.evaluate("window.__benchLayers")
    # Requests still under way when the maps appear count too (their bytes were needed).
    page.wait_for_load_state("networkidle", timeout=60_000)
    timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0] || {})")
    navigation = json.loads(timing)
    return {
        "maps_drawn_ms": round(float(drawn_ms), 1),
        "map_layers": layers,
        "dom_content_loaded_ms": round(float(navigation.get("domContentLoadedEventEnd", 0)), 1),
        **traffic.summary(base),
    }


def measure_page(base: str, path: str, repetitions: int) -> dict[str, Any]:
    """Cold and warm loads of `base + path`, `repetitions` of each, with medians."""
    from playwright.sync_api import sync_playwright

    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            for _ in range(repetitions):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                try:
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Network.enable")
                    traffic = _Traffic(cdp)
                    url = base + path
                    cold.append(_load(page, traffic, base, url))
                    warm.append(_load(page, traffic, base, None))
                finally:
                    context.close()
        finally:
            browser.close()

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return median([run[key] for run in runs])

    return {
        "url_path": path,
        "repetitions": repetitions,
        "cold_maps_drawn_ms": med(cold, "maps_drawn_ms"),
        "cold_bytes_transferred": med(cold, "bytes_transferred"),
        "warm_maps_drawn_ms": med(warm, "maps_drawn_ms"),
        "warm_bytes_transferred": med(warm, "bytes_transferred"),
        "cold_runs": cold,
        "warm_runs": warm,
    }
