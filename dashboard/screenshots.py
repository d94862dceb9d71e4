"""`python -m dashboard.screenshots DIR`: PNGs of every page, from headless Debian Chromium, offline.

The app runs in this process on a free 127.0.0.1 port against the configured database; the
browser may reach that port only, and any other request is aborted and reported as an error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
LOOPBACK = "127.0.0.1"
VIEWPORT = {"width": 1280, "height": 900}
# Long pages (the sources list) are cut here: the top of a page is what a README needs.
MAX_HEIGHT = 2400
PHONE_VIEWPORT = {"width": 390, "height": 844}
# (file-name prefix, viewport, touch screen, cut at) of each screen; desktop shots have no prefix.
# A phone shot is its first two screens: a README gallery shows them side by side.
SCREENS: tuple[tuple[str, dict[str, int], bool, int], ...] = (
    ("", VIEWPORT, False, MAX_HEIGHT),
    ("phone-", PHONE_VIEWPORT, True, 2 * PHONE_VIEWPORT["height"]),
)
# (path prefix, file-name prefix) of each language the pages are published in.
LANGUAGES: tuple[tuple[str, str], ...] = (("", ""), ("/es", "es-"))


@dataclass
class NetworkLog:
    """What a page asked for that was not the app, and what went wrong while it loaded."""

    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bytes_by_url: dict[str, int] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.route("**/*", self._route)
        page.on("requestfailed", self._failed)
        page.on("download", lambda d: self.downloads.append(d.url))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("response", self._response)

    def _failed(self, request: Any) -> None:
        # A link that turns into a download ends its navigation as "aborted": that is success.
        if request.failure == "net::ERR_ABORTED" and "/api/v1/" in request.url:
            self.downloads.append(request.url)
            return
        self.failed.append(f"{request.url} {request.failure}")

    def _route(self, route: Any) -> None:
        if urlparse(route.request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def _response(self, response: Any) -> None:
        # A redirect or an aborted body has no size worth counting.
        with contextlib.suppress(Exception):
            self.bytes_by_url[response.url] = len(response.body())


@contextmanager
def serve(database_url: str | None = None) -> Iterator[str]:
    """The dashboard on a free loopback port, in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from db.settings import Settings

    settings = Settings.from_env()
    if database_url:
        settings = Settings.from_env({"DATABASE_URL": database_url})
    app = create_app(settings)
    server = make_server(LOOPBACK, 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; never a downloaded browser build."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def wait_for_charts(page: Any, timeout: float = 20_000) -> None:
    """Until every chart has drawn, then a moment for a picture: plotly's transitions settle."""
    wait_for_drawn(page, timeout)
    page.wait_for_timeout(400)


def wait_for_drawn(page: Any, timeout: float = 20_000) -> None:
    """Until Dash has rendered the page (in place of its first screen, if it had one), every
    plotly graph on it has drawn and what is rendered after the first plot (`data-deferred` containers, assets/ironriver.js) is in place."""
    page.wait_for_selector("#_pages_content > *", timeout=timeout)
    page.wait_for_function(
        """() => {
            // The first view's static copy (dashboard/first_screen.py) has made way for Dash's.
            if (document.getElementById('ironriver-first-screen')) return false;
            const loading = document.querySelector('[data-dash-is-loading="true"]');
            const graphs = [...document.querySelectorAll('.dash-graph')];
            const drawn = graphs.every(g => g.querySelector('.main-svg'));
            const maps = [...document.querySelectorAll('.geo')];
            const mapsDrawn = maps.every(m => m.querySelectorAll('.choroplethlayer path').length > 0);
            const deferred = [...document.querySelectorAll('[data-deferred]')];
            return !loading && drawn && mapsDrawn && deferred.every(d => d.hasChildNodes());
        }""",
        timeout=timeout,
    )


def pages(trace_key: str | None) -> list[tuple[str, str]]:
    shots = [
        ("map", "/"),
        ("trends", "/trends"),
        ("trends-texas", "/trends?state=TX"),
        ("estimates", "/estimates"),
        ("gc-armas", "/gc-armas"),
        ("sources", "/sources"),
        ("status", "/status"),
    ]
    if trace_key:
        shots.insert(1, ("map-trace-file", f"/?us={trace_key}&mx={trace_key}&measure=count"))
    return shots


def _trace_key(database_url: str | None) -> str | None:
    from db import queries
    from db.engine import make_engine
    from db.settings import Settings

    settings = Settings.from_env({"DATABASE_URL": database_url} if database_url else None)
    files = queries.trace_files(make_engine(settings.database_url, read_only=True))
    return None if files.empty else f"traces.{files['checksum'].iloc[-1][:12]}"


def take(out_dir: Path, database_url: str | None = None) -> list[Path]:
    """Write one PNG per page, language and screen into `out_dir` (`map.png`, `phone-map.png`...);
    raises if a page reached beyond loopback."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    problems: list[str] = []
    with serve(database_url) as base, browser() as chromium:
        shots = pages(_trace_key(database_url))
        for screen, viewport, touch, max_height in SCREENS:
            context = chromium.new_context(
                viewport=viewport, device_scale_factor=1, has_touch=touch, is_mobile=touch
            )
            for path_prefix, file_prefix in LANGUAGES:
                for name, path in shots:
                    target = out_dir / f"{file_prefix}{screen}{name}.png"
                    url = base + path_prefix + path
                    problems += _shoot(context, url, target, viewport["width"], max_height)
                    written.append(target)
            context.close()
    if problems:
        raise SystemExit("screenshots found problems:\n" + "\n".join(problems))
    return written


def _shoot(context: Any, url: str, target: Path, width: int, max_height: int) -> list[str]:
    """One page's PNG, cut at `max_height`; returns what went wrong while it loaded."""
    page = context.new_page()
    log = NetworkLog()
    log.watch(page)
    started = time.monotonic()
    page.goto(url, wait_until="networkidle")
    wait_for_charts(page)
    height = min(page.evaluate("document.body.scrollHeight"), max_height)
    page.screenshot(
        path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height}
    )
    weight = sum(log.bytes_by_url.values())
    print(
        f"{target}  {time.monotonic() - started:.1f}s  {weight:,} bytes  "
        f"{len(log.external)} external requests"
    )
    path = urlparse(url).path + (f"?{urlparse(url).query}" if urlparse(url).query else "")
    problems = [f"{path}: external request {u}" for u in log.external]
    problems += [f"{path}: {e}" for e in log.errors + log.failed]
    page.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="where the PNGs go, e.g. docs/screenshots")
    parser.add_argument("--database-url", help="defaults to DATABASE_URL / the default SQLite file")
    options = parser.parse_args(argv)
    take(options.out_dir, options.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
