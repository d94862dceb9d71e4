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
from tests.test_browser import coloured, dashboard_process

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# Installed from tests/axe/package-lock.json by `make pytest` (npm ci).
AXE_JS = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Every page exists once per language prefix: "" is English, "/es" Spanish.
LANGUAGE_PREFIXES: tuple[str, ...] = ("", "/es")
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
# The framable charts carry no site chrome; each has its Spanish twin.
EMBEDS = tuple(
    prefix + path
    for prefix in LANGUAGE_PREFIXES
    for path in ("/embed/map", "/embed/trends?state=TX", "/embed/estimates", "/embed/gc-armas")
)
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
FAILING_IMPACTS = ("critical", "serious")
EMBEDDED_ONLY, WITH_TRACES = "embedded only", "with a trace file"
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


@pytest.fixture(scope="module", params=[EMBEDDED_ONLY, WITH_TRACES])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    """(base URL, the trace file's map key or None) of a dashboard over each kind of database."""
    template = request.getfixturevalue(
        "embedded_db_template" if request.param == EMBEDDED_ONLY else "loaded_db_template"
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
    # axe is injected as an inline script, which the pages' Content-Security-Policy forbids.
    context = chromium.new_context(viewport=viewport, bypass_csp=True)
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
    found = serious(violations, f"{path} at {width}")
    assert not found, "\n".join(found)
    assert log.external == [], log.external


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("path", page_paths())
def test_no_critical_or_serious_axe_violation(
    axe_js: Path, site: tuple[str, str | None], chromium: Any, path: str, width: str
) -> None:
    base, _ = site
    assert_no_serious_violations(chromium, base + path, path, width)


@pytest.mark.parametrize("site", [WITH_TRACES], indirect=True)
@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("prefix", LANGUAGE_PREFIXES)
def test_no_critical_or_serious_axe_violation_on_the_trace_file_map(
    axe_js: Path, site: tuple[str, str | None], chromium: Any, prefix: str, width: str
) -> None:
    base, key = site
    assert key is not None
    path = prefix + TRACE_MAP.format(key=key)
    assert_no_serious_violations(chromium, base + path, path, width)


# ---------------------------------------------------------------------------- keyboard only

# The element that has focus: its id, role, tag, and the colours of its focus ring and page.
FOCUSED = """() => {
    const e = document.activeElement;
    const style = getComputedStyle(e);
    // The first opaque background behind the ring (a translucent one is looked through).
    let back = e.parentElement, colour = 'rgb(255, 255, 255)';
    for (; back; back = back.parentElement) {
        const c = getComputedStyle(back).backgroundColor;
        if (c.startsWith('rgb(')) { colour = c; break; }
    }
    const labelled = (e.getAttribute('aria-labelledby') || '').split(' ')
        .map(id => document.getElementById(id)).filter(Boolean).map(n => n.innerText);
    return {id: e.id, role: e.getAttribute('role') || '', tag: e.tagName,
            name: e.getAttribute('aria-label') || labelled.join(' ') || e.innerText || e.value || '',
            outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
            ring: style.outlineColor, behind: colour};
}"""


def _luminance(css: str) -> float:
    channels = [int(c) / 255 for c in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS `rgb(...)` colours."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def tab_through(page: Any, presses: int) -> list[dict[str, Any]]:
    """What each Tab focuses, from the top of the page until focus leaves the page's last stop."""
    reached = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["tag"] == "BODY":
            break
        reached.append(focused)
    return reached


def tab_to(page: Any, element_id: str, presses: int = 60) -> None:
    """Tab from where focus is until `element_id` has it."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


def assert_visible_focus(reached: list[dict[str, Any]], path: str) -> None:
    for r in reached:
        where = f"{path}: {r['tag']}#{r['id']} {r['name'][:40]!r}"
        assert r["outline"] != "none" and r["width"] >= 2, f"no focus ring on {where}: {r}"
        ratio = contrast(r["ring"], r["behind"])
        assert ratio >= 3, f"focus ring of {where} has contrast {ratio:.2f} on {r['behind']}"


@pytest.mark.parametrize("site", [WITH_TRACES], indirect=True)
@pytest.mark.parametrize("path", [TRACE_MAP, *page_paths()])
def test_every_tab_stop_shows_a_focus_ring_of_at_least_3_to_1(
    site: tuple[str, str | None], chromium: Any, path: str
) -> None:
    base, key = site
    path = path.format(key=key)
    context, page, log = open_at(chromium, base + path, VIEWPORTS["desktop"])
    try:
        reached = tab_through(page, 400)
        assert log.external == []
    finally:
        context.close()
    assert reached, f"{path}: nothing takes keyboard focus"
    assert_visible_focus(reached, path)


@pytest.mark.parametrize("site", [WITH_TRACES], indirect=True)
def test_a_keyboard_reader_reaches_and_uses_every_map_control(
    site: tuple[str, str | None], chromium: Any
) -> None:
    base, key = site
    context, page, log = open_at(chromium, base + TRACE_MAP.format(key=key), VIEWPORTS["desktop"])
    try:
        reached = tab_through(page, 100)
        page.keyboard.press("Shift+Tab")  # back from the page's end to its start
        tab_to(page, "map-play")
        page.keyboard.press("Space")
        page.wait_for_selector("#map-play[aria-pressed='true']", timeout=15_000)
        page.keyboard.press("Space")
        page.wait_for_selector("#map-play[aria-pressed='false']", timeout=15_000)
        tab_to(page, "map-copy", presses=100)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('#map-copy-status').innerText !== ''", timeout=15_000
        )
        assert log.errors == [] and log.external == []
    finally:
        context.close()
    ids = {r["id"] for r in reached}
    wanted = {"map-us", "map-mx", "map-state-name", "map-state-open", "map-play"}
    assert wanted | {"map-permalink", "map-copy"} <= ids, (wanted - ids, reached)
    by_id = {r["id"]: r for r in reached}
    # Each series dropdown says what it chooses, then what is chosen.
    assert by_id["map-us"]["name"].startswith("US states")
    assert by_id["map-mx"]["name"].startswith("Mexican states")
    sliders = [r for r in reached if r["role"] == "slider"]
    assert sliders and all(r["name"].startswith("Year") for r in sliders), reached
    assert any(r["tag"] == "INPUT" and r["role"] == "" for r in reached)  # the measure radios
    assert any(r["tag"] == "A" and "Download CSV" in r["name"] for r in reached), reached
    assert any(r["tag"] == "A" and r["name"] == "PNG" for r in reached), reached


@pytest.mark.parametrize("prefix", LANGUAGE_PREFIXES)
def test_a_keyboard_reader_opens_a_state_without_a_figure_from_the_state_list(
    site: tuple[str, str | None], chromium: Any, prefix: str
) -> None:
    base, _ = site
    context, page, log = open_at(chromium, base + prefix + "/", VIEWPORTS["phone"])
    try:
        options = page.eval_on_selector_all("#map-state-names option", "os => os.map(o => o.value)")
        # All 52 US entries and 32 Mexican states, with a figure or not.
        assert len(options) == 84 and "Vermont" in options and "Campeche" in options
        assert "04" not in coloured(page, "mx")  # Campeche: no published figure on this map
        tab_to(page, "map-state-name")
        page.keyboard.type("Campeche")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}{prefix}/trends?state=04**", timeout=15_000)
        page.wait_for_function(
            "() => (document.querySelector('#trends-title') || {}).innerText?.includes('Campeche')",
            timeout=15_000,
        )
        assert log.errors == [] and log.external == []
        page.go_back()
        page.wait_for_selector("#map-state-name", timeout=15_000)
        page.focus("#map-state-name")
        assert page.inner_text("#map-state-status") == ""
        page.keyboard.type("Atlantis")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('#map-state-status').innerText !== ''", timeout=15_000
        )
        assert "/trends" not in page.url  # the status says why; the reader stays on the map
    finally:
        context.close()


def serious(violations: list[dict[str, Any]], where: str) -> list[str]:
    """One line per node of a critical or serious violation: impact, rule, help, target, page."""
    return [
        f"{where}: {v['impact']} {v['id']} ({v['help']}) on {target}"
        for v in violations
        if v["impact"] in FAILING_IMPACTS
        for target in v["targets"]
    ]


# Whether the open dropdown lists exactly one option, and it reads `arg`.
OPEN_LIST_SHOWS_ONLY = """(wanted) => {
    const options = [...document.querySelectorAll(
        ".dash-dropdown-content[data-state='open'] .dash-dropdown-option")];
    return options.length === 1 && options[0].innerText.includes(wanted);
}"""


@pytest.mark.parametrize("site", [WITH_TRACES], indirect=True)
def test_an_open_dropdown_is_named_and_chosen_from_by_keyboard(
    axe_js: Path, site: tuple[str, str | None], chromium: Any
) -> None:
    base, _ = site
    context, page, log = open_at(chromium, base + "/trends", VIEWPORTS["desktop"])
    try:
        tab_to(page, "trends-state")
        page.keyboard.press("ArrowDown")
        page.wait_for_selector(".dash-dropdown-content[data-state='open']", timeout=15_000)
        found = serious(axe_violations(page), "/trends with the state list open")
        # Type only once the list's search box has the focus, and choose only once the list
        # shows what was typed: a busy machine runs keys ahead of the list otherwise.
        page.wait_for_function(
            "() => document.activeElement?.classList.contains('dash-dropdown-search')",
            timeout=15_000,
        )
        page.keyboard.type("Texas")
        page.wait_for_function(OPEN_LIST_SHOWS_ONLY, arg="Texas", timeout=15_000)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => (document.querySelector('#trends-title') || {}).innerText?.includes('Texas')",
            timeout=15_000,
        )
        page.wait_for_function("() => location.search.includes('state=TX')", timeout=15_000)
        assert log.errors == [] and log.external == []
    finally:
        context.close()
    assert not found, "\n".join(found)


# ---------------------------------------------------------------------------- charts

# Each plotly chart: the accessible name of its nearest named container and the text of what
# that container's aria-describedby points at.
CHART_NAMES = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
    const box = plot.closest('[aria-describedby]');
    const described = box && document.getElementById(box.getAttribute('aria-describedby'));
    const labelledby = box && box.getAttribute('aria-labelledby');
    const name = box && (box.getAttribute('aria-label')
        || (labelledby && document.getElementById(labelledby).innerText) || '');
    return {name: name || '', summary: described ? described.innerText : '',
            summaryClass: described ? described.className : ''};
})"""
CHART_PAGES = ("/", "/trends", "/trends?state=TX", "/estimates", "/gc-armas", *EMBEDS)


@pytest.mark.parametrize("site", [WITH_TRACES], indirect=True)
@pytest.mark.parametrize("path", CHART_PAGES)
def test_every_chart_has_a_name_and_is_described_by_its_summary(
    site: tuple[str, str | None], chromium: Any, path: str
) -> None:
    base, _ = site
    context, page, _log = open_at(chromium, base + path, VIEWPORTS["desktop"])
    try:
        charts = page.evaluate(CHART_NAMES)
    finally:
        context.close()
    assert charts, f"{path} draws no chart"
    for chart in charts:
        assert chart["name"].strip(), f"{path}: a chart without an accessible name: {chart}"
        assert "chart-summary" in chart["summaryClass"] and chart["summary"].strip(), chart
