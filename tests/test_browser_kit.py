"""The journalist's kit in real headless Chromium: a rate, a zip, a chart image, an embed."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import frictionless
import pytest

from bench.page import static_server
from dashboard.images import read_text_chunks
from dashboard.screenshots import NetworkLog
from tests import test_browser as journeys
from tests.test_browser import DRAWN_DATA, coloured, wait_for_query, wait_for_redraw

# The journeys' fixtures (one dashboard process and one Chromium per module), by reference.
database = journeys.database
base_url = journeys.base_url
chromium = journeys.chromium
context = journeys.context
open_page = journeys.open_page

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("csv_field_limit_restored")]


def _to_rate(page: Any) -> None:
    before = page.evaluate(DRAWN_DATA, "map-graph")
    page.get_by_label("Per 100,000 residents a year (DERIVED)").check()
    wait_for_query(page, "measure=per_100k")
    wait_for_redraw(page, "map-graph", before)


def test_switching_the_map_to_a_rate_keeps_the_counts_in_words(open_page: Any) -> None:
    page = open_page("/")
    by_count = coloured(page, "us")
    assert by_count["TX"] > by_count["AZ"]
    _to_rate(page)
    by_rate = coloured(page, "us")
    # Per resident, Arizona's traced guns outnumber Texas's.
    assert by_rate["AZ"] > by_rate["TX"]
    summary = page.inner_text("#map-summary")
    assert "Arizona leads by rate, Texas by count" in summary and "By count:" in summary
    page.click("text=Table of the figures on this map")
    table = page.inner_text("#map-tables")
    assert "Denominator" in table and "7,151,502 residents (2020)" in table
    href = page.locator("#map-us-footer a", has_text="Download CSV").get_attribute("href")
    assert "measure=per_100k" in href


def test_the_zip_under_a_chart_is_a_valid_data_package_that_cites_itself(
    open_page: Any, tmp_path: Path
) -> None:
    page = open_page("/")
    _to_rate(page)
    link = page.locator("#map-us-footer a", has_text="ZIP")
    with page.expect_download() as download:
        link.click()
    with zipfile.ZipFile(download.value.path()) as archive:
        archive.extractall(tmp_path)
    report = frictionless.validate(tmp_path / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "note"])
    descriptor = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert descriptor["version"] in readme and descriptor["iron_river"]["permalink"] in readme
    assert descriptor["iron_river"]["filters"]["measure"] == "per_100k"


def test_png_svg_and_the_camera_carry_the_source_and_the_permalink(
    open_page: Any, context: Any
) -> None:
    page = open_page("/")
    _to_rate(page)
    permalink = page.input_value("#map-permalink")
    assert "measure=per_100k" in permalink
    # The modebar camera downloads the server's image of this view.
    page.locator("#map-graph .js-plotly-plot").hover()
    with page.expect_download(timeout=60_000) as download:
        page.locator(".modebar-btn[data-title*='Download plot']").first.click()
    texts = read_text_chunks(Path(download.value.path()).read_bytes())
    assert texts["URL"] == permalink
    assert "Census" in texts["Source"] and "DERIVED" in texts["Comment"]
    # The SVG link opens the same view's SVG, its words in it as text.
    with page.expect_navigation(timeout=60_000):
        page.locator("a.chart-image-link", has_text="SVG").click()
    assert urlsplit(page.url).path == "/chart/map.svg" and "measure=per_100k" in page.url
    svg = page.content()
    assert "Iron River" in svg and "U.S. Census Bureau" in svg
    assert permalink.replace("&", "&amp;") in svg


def test_an_embed_draws_in_a_host_pages_iframe_and_fits_its_height(
    open_page: Any, context: Any, base_url: str, tmp_path: Path
) -> None:
    page = open_page("/trends?state=AZ")
    page.click("text=Embed")
    code = page.input_value("#trends-embed-code")
    assert f"{base_url}/embed/trends?state=AZ" in code
    host = context.new_page()
    log = NetworkLog()
    log.watch(host)
    html = f"<!DOCTYPE html><html><body><h1>A story</h1><p>Text.</p>{code}</body></html>"
    with newsroom(html, tmp_path) as story:
        host.goto(story)
        _check_embed(host, base_url)
    assert log.external == [] and log.failed == [] and log.errors == []


def test_a_spanish_pages_embed_draws_in_spanish_in_a_host_pages_iframe(
    open_page: Any, context: Any, base_url: str, tmp_path: Path
) -> None:
    page = open_page("/es/trends?state=AZ")
    page.click("text=Insertar")
    code = page.input_value("#trends-embed-code")
    assert f"{base_url}/es/embed/trends?state=AZ" in code
    host = context.new_page()
    log = NetworkLog()
    log.watch(host)
    html = f"<!DOCTYPE html><html lang='es'><body><h1>Una nota</h1>{code}</body></html>"
    with newsroom(html, tmp_path) as story:
        host.goto(story)
        frame = host.frame_locator("iframe")
        frame.locator("body[data-drawn=true]").wait_for(timeout=30_000)
        assert frame.locator("html").get_attribute("lang") == "es"
        assert frame.locator("h1").inner_text() == "Tendencias: Arizona"
        assert frame.locator(".source-line").inner_text().startswith("Fuente:")
        back = frame.locator("a", has_text="Vista completa en Iron River").get_attribute("href")
        assert back.startswith(f"{base_url}/es/trends?state=AZ")
        # plotly.js speaks Spanish inside the embed too: its es-MX locale names the modebar.
        frame.locator(".main-svg").first.hover()
        camera = frame.locator(".modebar-btn[data-title='Descargar gráfica como PNG']")
        camera.wait_for(state="attached", timeout=15_000)
    assert log.external == [] and log.failed == [] and log.errors == []


@contextmanager
def newsroom(body: str, folder: Path) -> Iterator[str]:
    """A host page on another origin (a loopback port of its own), as a newsroom's story is."""
    (folder / "story.html").write_text(body, encoding="utf-8")
    with static_server(folder) as origin:
        yield f"{origin}/story.html"


def _check_embed(host: Any, base_url: str) -> None:
    frame = host.frame_locator("iframe")
    frame.locator("body[data-drawn=true]").wait_for(timeout=30_000)
    frame.locator(".main-svg").first.wait_for()
    assert "Source:" in frame.locator(".source-line").inner_text()
    back = frame.locator("a", has_text="Full view on Iron River").get_attribute("href")
    assert back.startswith(f"{base_url}/trends?state=AZ")
    # The embed posted its height, and the host's listener sized the iframe to it.
    host.wait_for_function(
        "() => parseInt(document.querySelector('iframe').style.height) > 400", timeout=15_000
    )
    inner = host.frames[1].evaluate("document.documentElement.getBoundingClientRect().height")
    outer = host.evaluate("parseInt(document.querySelector('iframe').style.height)")
    assert abs(outer - inner) <= 2
