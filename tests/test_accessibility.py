"""axe-core on every page, both widths, with and without a trace file; and the keyboard-only journey."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.screenshots import NetworkLog, browser, wait_for_drawn
from db import queries
from db.engine import make_engine
from db.migrate import upgrade
from tests.conftest import sqlite_url
from tests.test_browser import dashboard_process

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# Installed from tests/axe/package-lock.json by `make pytest` (npm ci).
AXE_JS = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Every page exists once per language prefix: "" is English; the Spanish pages add "/es".
LANGUAGE_PREFIXES: tuple[str, ...] = ("",)
PAGES = (
    "/",
    "/trends",
    "/trends?state=TX",
    "/estimates",
    "/gc-armas",
    "/sources",
    "/status",
    "/no-such-page",
)
# The framable charts carry no site chrome and no language prefix.
EMBEDS = ("/embed/map", "/embed/trends?state=TX", "/embed/estimates", "/embed/gc-armas")
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
FAILING_IMPACTS = ("critical", "serious")
# The map over the loaded trace file: the only view with a year slider and Play.
TRACE_MAP = "/?us={key}&mx={key}"


def page_paths() -> list[str]:
    return [prefix + path for prefix in LANGUAGE_PREFIXES for path in PAGES] + list(EMBEDS)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on `page` as it is now: rule id, impact, help and node targets."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        """async () => {
            const result = await axe.run(document);
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' ')),
            }));
        }"""
    )


def wait_until_ready(page: Any) -> None:
    """Until the page's charts have drawn (an embed draws one graph without Dash's container)."""
    if "/embed/" in page.url:
        page.wait_for_selector("#embed-graph .main-svg", timeout=20_000)
    else:
        wait_for_drawn(page)


@pytest.fixture(scope="session")
def axe_js() -> Path:
    if not AXE_JS.exists():
        message = f"{AXE_JS} is missing: run `make pytest` (it runs npm ci in tests/axe)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_JS


@pytest.fixture(scope="session")
def embedded_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded datasets only: the site as it is before anyone loads a trace file."""
    from etl.pipeline import run_embedded

    path = tmp_path_factory.mktemp("embedded") / "ironriver.sqlite"
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    failed = [o for o in run_embedded(engine) if o.error]
    engine.dispose()
    assert not failed, failed
    return path


@pytest.fixture(scope="module", params=["embedded only", "with a trace file"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    """(base URL, the trace file's map key or None) of a dashboard over each kind of database."""
    template = request.getfixturevalue(
        "embedded_db_template" if request.param == "embedded only" else "loaded_db_template"
    )
    path = tmp_path_factory.mktemp("a11y") / "ironriver.sqlite"
    shutil.copy(template, path)
    engine = make_engine(sqlite_url(path), read_only=True)
    files = queries.trace_files(engine)
    engine.dispose()
    key = None if files.empty else "traces." + files["checksum"].iloc[0][:12]
    with dashboard_process(sqlite_url(path), tmp_path_factory.mktemp("server")) as url:
        yield url, key


# Module scope: Playwright's sync API keeps an event loop on this thread while the browser lives.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as instance:
        yield instance


def open_at(chromium: Any, url: str, viewport: dict[str, int]) -> tuple[Any, Any, NetworkLog]:
    context = chromium.new_context(viewport=viewport)
    context.set_default_navigation_timeout(90_000)
    page = context.new_page()
    log = NetworkLog()
    log.watch(page)
    page.goto(url, wait_until="networkidle")
    wait_until_ready(page)
    return context, page, log


def assert_no_serious_violations(chromium: Any, url: str, path: str, width: str) -> None:
    context, page, log = open_at(chromium, url, VIEWPORTS[width])
    try:
        violations = axe_violations(page)
    finally:
        context.close()
    serious = [
        f"{path} at {width}: {v['impact']} {v['id']} ({v['help']}) on {target}"
        for v in violations
        if v["impact"] in FAILING_IMPACTS
        for target in v["targets"]
    ]
    assert not serious, "\n".join(serious)
    assert log.external == [], log.external


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("path", page_paths())
def test_no_critical_or_serious_axe_violation(
    axe_js: Path, site: tuple[str, str | None], chromium: Any, path: str, width: str
) -> None:
    base, _ = site
    assert_no_serious_violations(chromium, base + path, path, width)


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("prefix", LANGUAGE_PREFIXES)
def test_no_critical_or_serious_axe_violation_on_the_trace_file_map(
    axe_js: Path, site: tuple[str, str | None], chromium: Any, prefix: str, width: str
) -> None:
    base, key = site
    if key is None:
        pytest.skip("this database holds no trace file")
    path = prefix + TRACE_MAP.format(key=key)
    assert_no_serious_violations(chromium, base + path, path, width)
