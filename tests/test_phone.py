"""Every page on a 390 x 844 touch phone in real headless Chromium: no sideways scroll, a map that
fills the width with its legends below it, labels apart, sensible time axes, a tap journey."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.screenshots import wait_for_drawn
from dashboard.views.gc_armas import DEFAULT_KINDS
from db.datasets import DATASETS, Filters
from tests import test_browser as journeys
from tests.test_browser import PAGES, coloured

# The journeys' fixtures (one dashboard process and one Chromium per module), by reference.
database = journeys.database
base_url = journeys.base_url
chromium = journeys.chromium
engine = journeys.engine

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# Every page is checked under each language's path prefix.
LANGUAGES = ("", "/es")


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    context.set_default_navigation_timeout(90_000)
    yield context
    context.close()


@pytest.fixture
def open_phone_page(phone: Any, base_url: str) -> Iterator[Any]:
    """Opens a path on the phone and waits for its charts; the network log must stay clean."""
    with journeys.watched_pages(phone, base_url) as opener:
        yield opener


# Tables wider than the screen, and whether each sits in a labelled, focusable scroll region.
WIDE_TABLES = """() => [...document.querySelectorAll('table')]
    .filter(t => t.getBoundingClientRect().width > document.documentElement.clientWidth)
    .map(t => {
        const box = t.parentElement;
        return {scrolls: getComputedStyle(box).overflowX === 'auto', role: box.getAttribute('role'),
                tabindex: box.getAttribute('tabindex'), label: box.getAttribute('aria-label')};
    })"""


@pytest.mark.parametrize("prefix", LANGUAGES)
@pytest.mark.parametrize("path", PAGES)
def test_no_page_scrolls_sideways_on_a_phone(open_phone_page: Any, prefix: str, path: str) -> None:
    page = open_phone_page(prefix + path)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    for table in page.evaluate(WIDE_TABLES):
        assert table["scrolls"] and table["role"] == "region" and table["tabindex"] == "0", table
        assert table["label"], table


GEO_BOX = """() => {
    const r = document.querySelector('#map-graph .geo .bg rect').getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};
}"""
COLOUR_BARS = """() => [...document.querySelectorAll('#map-graph .colorbar')].map(bar => {
    const r = bar.getBoundingClientRect();
    return {top: r.top, right: r.right};
})"""


@pytest.mark.parametrize("prefix", LANGUAGES)
def test_the_map_fills_a_phone_with_both_countries_and_its_colour_bars_below(
    open_phone_page: Any, prefix: str
) -> None:
    page = open_phone_page(prefix + "/")
    geo = page.evaluate(GEO_BOX)
    assert geo["width"] >= 340, geo
    assert coloured(page, "us") and coloured(page, "mx")
    bars = page.evaluate(COLOUR_BARS)
    assert len(bars) == 2
    for bar in bars:
        assert bar["top"] >= geo["bottom"] - 1 and bar["right"] <= PHONE["width"], (bar, geo)


LABEL_BOXES = """() => [...document.querySelectorAll('#map-graph .scatterlayer .trace.scattergeo text')]
    .map(t => t.getBoundingClientRect())
    .filter(r => r.width > 0)
    .map(r => [r.left, r.top, r.right, r.bottom])"""


@pytest.mark.parametrize("prefix", LANGUAGES)
def test_map_value_labels_do_not_overlap_on_a_phone(open_phone_page: Any, prefix: str) -> None:
    page = open_phone_page(prefix + "/")
    boxes = page.evaluate(LABEL_BOXES)
    assert len(boxes) >= 4  # the 2022-2023 series' four US states
    for index, a in enumerate(boxes):
        for b in boxes[index + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (a, b)


X_RANGE = """id => document.querySelector('#' + id + ' .js-plotly-plot')._fullLayout.xaxis.range"""


@pytest.mark.parametrize("prefix", LANGUAGES)
def test_the_gc_armas_timeline_spans_its_events_on_a_phone(
    open_phone_page: Any, engine: Engine, prefix: str
) -> None:
    page = open_phone_page(prefix + "/gc-armas")
    start, end = (dt.date.fromisoformat(v[:10]) for v in page.evaluate(X_RANGE, "gc-graph"))
    events = DATASETS["events"].query(engine, Filters(kinds=DEFAULT_KINDS))
    dated = pd.concat([events["date_start"], events["date_end"]]).dropna().astype(str)
    first, last = int(dated.min()[:4]), int(dated.max()[:4])
    assert first - 1 <= start.year <= first and last <= end.year <= last + 1


# The first and last year of everything drawn on a graph's time axis.
DRAWN_YEARS = """id => {
    const years = document.querySelector('#' + id + ' .js-plotly-plot').data
        .flatMap(t => Array.from(t.x || [])).filter(Boolean).map(x => Number(String(x).slice(0, 4)));
    return [Math.min(...years), Math.max(...years)];
}"""


@pytest.mark.parametrize("prefix", LANGUAGES)
@pytest.mark.parametrize("path", ["/trends", "/trends?state=TX"])
def test_trend_axes_span_the_years_drawn_on_a_phone(
    open_phone_page: Any, prefix: str, path: str
) -> None:
    page = open_phone_page(prefix + path)
    start, end = (dt.date.fromisoformat(v[:10]) for v in page.evaluate(X_RANGE, "trends-graph"))
    first, last = page.evaluate(DRAWN_YEARS, "trends-graph")
    assert first - 1 <= start.year <= first and last <= end.year <= last + 1


# A point inside a state's shape, found with the SVG geometry rather than a guessed offset.
INSIDE = """code => {
    const path = [...document.querySelectorAll('#map-graph .choroplethlayer path')]
        .find(p => p.__data__ && p.__data__.loc === code);
    const r = path.getBoundingClientRect();
    const back = path.getScreenCTM().inverse();
    for (let step = 0; step < 9; step += 1) {
        for (const [sx, sy] of [[1, 1], [-1, 1], [1, -1], [-1, -1]]) {
            const x = r.x + r.width * (0.5 + sx * step * 0.05);
            const y = r.y + r.height * (0.5 + sy * step * 0.05);
            if (path.isPointInFill(new DOMPoint(x, y).matrixTransform(back))) return {x, y};
        }
    }
    return null;
}"""


def _tap_state(page: Any, code: str) -> None:
    page.locator("#map-graph").scroll_into_view_if_needed()
    point = page.evaluate(INSIDE, code)
    assert point is not None
    page.touchscreen.tap(point["x"], point["y"])


def _wait_for_trend(page: Any, name: str) -> None:
    page.wait_for_function(
        "n => document.querySelector('#trends-title') &&"
        " document.querySelector('#trends-title').innerText.includes(n)",
        arg=name,
        timeout=15_000,
    )


# Guerrero: a Mexican state with a figure, away from the corridor lines (a line under the finger
# is a tap on the line).
@pytest.mark.parametrize("prefix", LANGUAGES)
def test_a_tap_shows_a_state_value_and_a_second_tap_opens_its_trend(
    open_phone_page: Any, prefix: str
) -> None:
    page = open_phone_page(prefix + "/")
    _tap_state(page, "12")
    panel = page.locator("#map-picked")
    panel.wait_for(state="visible")
    assert "Guerrero" in panel.inner_text() and "11,150" in panel.inner_text()
    assert "/trends" not in page.url  # the first tap only shows the value
    _tap_state(page, "12")
    page.wait_for_url(f"**{prefix}/trends?state=12**", timeout=15_000)
    _wait_for_trend(page, "Guerrero")


@pytest.mark.parametrize("prefix", LANGUAGES)
def test_a_tap_then_the_button_opens_the_trend(open_phone_page: Any, prefix: str) -> None:
    page = open_phone_page(prefix + "/")
    _tap_state(page, "12")
    button = page.locator("#map-picked-open")
    assert "Guerrero" in button.inner_text()
    button.tap()
    page.wait_for_url(f"**{prefix}/trends?state=12**", timeout=15_000)
    _wait_for_trend(page, "Guerrero")
    wait_for_drawn(page)
