"""Chart images and embeds: the source, status, permalink and data version travel inside them."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest

from dashboard.images import read_text_chunks
from db import queries
from db.engine import make_engine


@pytest.fixture
def version(loaded_db_url: str) -> str:
    return queries.data_version(make_engine(loaded_db_url, read_only=True))


def test_map_png_carries_title_source_status_permalink_and_version(
    client: Any, version: str
) -> None:
    response = client.get("/chart/map.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")
    texts = read_text_chunks(response.data)
    assert texts["Software"] == "Iron River" and texts["Data version"] == version
    assert texts["Source"].startswith("Source: ") and "[S20a]" in texts["Source"]
    assert texts["Comment"].startswith("Status: ") and "VERIFIED" in texts["Comment"]
    # The permalink is the view's canonical URL: it reopens the same map.
    permalink = urlsplit(texts["URL"])
    assert permalink.path == "/" and "us=source-states" in permalink.query
    # Unchanged data: the copy is confirmed without drawing again.
    again = client.get("/chart/map.png", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("page", ["trends", "estimates", "gc-armas"])
def test_every_chart_page_has_an_svg_with_its_source_and_link(
    client: Any, version: str, page: str
) -> None:
    response = client.get(f"/chart/{page}.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = unescape(response.get_data(as_text=True))
    assert "Iron River" in svg and f"data version {version}" in svg
    assert "Source: " in svg and "Status: " in svg
    assert re.search(rf"http://localhost/{page}\??", svg)


def test_an_image_of_a_view_the_page_would_partly_ignore_is_refused(client: Any) -> None:
    assert client.get("/chart/map.png?bogus=1").status_code == 400
    assert client.get("/chart/sources.png").status_code == 400
    assert client.get("/chart/map.gif").status_code == 400


def test_only_embeds_may_be_framed(client: Any) -> None:
    embed = client.get("/embed/trends?state=TX")
    assert embed.status_code == 200
    assert "X-Frame-Options" not in embed.headers
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    body = embed.get_data(as_text=True)
    assert 'href="http://localhost/trends?state=TX' in body and "source-line" in body
    assert "<nav" not in body and 'id="embed-figure"' in body
    page = client.get("/trends?state=TX")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_each_view_names_itself_and_previews_its_png(client: Any) -> None:
    body = client.get("/trends?state=AZ").get_data(as_text=True)
    assert "<title>Trends: Arizona" in body
    image = re.search(r'<meta property="og:image" content="([^"]+)">', body)
    assert image and unescape(image.group(1)).startswith(
        "http://localhost/chart/trends.png?state=AZ"
    )
    description = re.search(r'<meta name="description" content="([^"]*)">', body)
    assert description and description.group(1)


def test_two_urls_of_one_view_share_one_drawing(client: Any) -> None:
    # The map shows the last year of the chosen files for a year they do not span.
    first = client.get("/chart/map.svg?year=1990")
    second = client.get("/chart/map.svg?year=1991")
    assert first.status_code == second.status_code == 200
    assert first.headers["ETag"] == second.headers["ETag"]
