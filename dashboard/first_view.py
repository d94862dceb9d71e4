"""A page's first view laid out into the page itself, and what it will fetch preloaded.

Without this, a cold visit runs in turn: the page and its scripts, Dash's layout (an empty page
container), Dash Pages' router callback (the page's layout), then the lazy dcc chunks of the
components that layout holds, then plotly.js's boundary and topojson files. With it, the page
carries what the router would answer for its URL (a JSON data block that the renderer's
`layout_post` hook in `assets/ironriver.js` puts into the layout), the lazy dcc chunks of its
components run with Dash's scripts (so they render, and dcc.Graph calls plotly.js, in the first
render rather than once each chunk has been fetched and run, one commit after another), and
`<link rel=preload>` tags fetch Dash's layout and callbacks and the map files alongside them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any

import dash
import flask
from plotly.io.json import to_json_plotly

from dashboard import first_screen
from dashboard.data import current

# The id of the data block; `assets/ironriver.js` reads it once.
ELEMENT_ID = "ironriver-first-view"
# Dash's renderer hook that puts the view into the layout (dash.Dash(hooks=...)).
RENDERER_HOOKS = {"layout_post": "window.ironriverRenderer.layoutPost"}
# What Dash's renderer fetches first, once its scripts have run: fetched alongside them instead.
RENDERER_REQUESTS = ("/_dash-layout", "/_dash-dependencies")
# dcc components that load their code lazily, and the chunk each loads (dcc's webpack build).
LAZY_CHUNKS = {
    "Dropdown": "async-dropdown.js",
    "Slider": "async-slider.js",
    "RangeSlider": "async-slider.js",
    "Graph": "async-graph.js",
}
DCC_NAMESPACE = "dash_core_components"
DCC_CHUNK_PATH = "/_dash-component-suites/dash/dcc/"
# plotly.js fetches a geo subplot's base map as <topojsonURL><scope>_<resolution>m.json.
GEO_DEFAULTS = {"scope": "world", "resolution": 110}


@dataclass(frozen=True)
class FirstView:
    """What a page's HTML carries for its first view."""

    preloads: str  # <link rel=preload> tags, for the head
    data: str  # the JSON data block
    scripts: str  # <script> tags of the view's lazy dcc chunks, run with Dash's scripts
    # The view as static HTML, drawn before Dash starts (first_screen.py), its stylesheets (for
    # the head, before the site's, as dcc puts its own) and its map files' preloads (for the head, before
    # any script); all empty when the view cannot be rendered so.
    screen: str = ""
    styles: str = ""
    map_preloads: str = ""


def for_request(request: flask.Request) -> FirstView | None:
    """The first view of the registered page at `request`'s URL, or None (no such page: the
    router answers as before, e.g. with the 404 page).

    Kept per data version, language and URL for the cache's timeout, as the router's answers
    are: laying out and serializing a page costs 5-15 ms, and every HTML request carries one.
    """
    page = page_at(request.path)
    if page is None:
        return None
    return current().memo(f"first-view:{request.full_path}", lambda: _laid_out(page, request))


def warm(server: flask.Flask) -> None:
    """Lay out every page's first view, in each language, as its plain URL asks for it: what
    the data version being warmed (`AppData.watch`) shares is then computed before it is served,
    and so is the most asked-for view of each page."""
    for page in list(dash.page_registry.values()):
        if page.get("path") is None:
            continue
        with server.test_request_context(page["path"]):
            for_request(flask.request)


def _laid_out(page: dict[str, Any], request: flask.Request) -> FirstView:
    query = {k: v[0] if len(v) == 1 else v for k, v in request.args.lists()}
    layout = page["layout"](**query) if callable(page["layout"]) else page["layout"]
    search = request.query_string.decode("latin-1")
    serialized = to_json_plotly(
        {
            "pathname": request.path,
            "search": f"?{search}" if search else "",
            "content": layout,
            "store": {"title": title() if callable(title := page["title"]) else title},
        }
    )
    view = json.loads(serialized)
    renderer_links = [
        f'<link rel="preload" href="{url}" as="fetch" crossorigin="anonymous">'
        for url in RENDERER_REQUESTS
    ]
    map_links = [
        f'<link rel="preload" href="{escape(url)}" as="fetch" crossorigin="anonymous">'
        for url in map_files(view)
    ]
    chunks = lazy_chunks(view)
    screen, styles = first_screen.render(view["content"], chunks) or ("", "")
    # A first screen draws its maps right after plotly.js: their files are asked for in the
    # head, before any script (a browser opens six connections to a server at most).
    links = renderer_links if screen else renderer_links + map_links
    # "<" escaped, so no text in the data can close the element; a data block is not run, so
    # the Content-Security-Policy needs no hash for it.
    data = serialized.replace("<", "\\u003c")
    return FirstView(
        preloads="\n".join(links),
        data=f'<script id="{ELEMENT_ID}" type="application/json">{data}</script>',
        # All of them, not only dcc.Graph's: a graph drawn before the dropdowns above it are
        # rendered would move down when they appear.
        scripts="".join(f'<script src="{escape(url)}"></script>' for url in chunks),
        screen=screen,
        styles=styles,
        map_preloads="\n".join(map_links) if screen else "",
    )


def page_at(path: str) -> dict[str, Any] | None:
    """The registered page at `path`, matched as Dash Pages' router matches it, or None."""
    wanted = path.strip("/")
    for page in dash.page_registry.values():
        if page.get("path") is not None and page["path"].strip("/") == wanted:
            return page
    return None


def _components(node: object) -> list[dict[str, Any]]:
    """Every serialized component in `node`, depth first (no recursion: layouts nest deeply)."""
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            if "namespace" in item and isinstance(item.get("props"), dict):
                found.append(item)
                stack.append(item["props"].get("children"))
            else:
                stack.extend(reversed(list(item.values())))
    return found


def lazy_chunks(view: dict[str, Any]) -> list[str]:
    """The lazy dcc chunks the view's components will load, each once, in order of use."""
    names = [
        LAZY_CHUNKS[c["type"]]
        for c in _components(view["content"])
        if c["namespace"] == DCC_NAMESPACE and c.get("type") in LAZY_CHUNKS
    ]
    return [DCC_CHUNK_PATH + name for name in dict.fromkeys(names)]


def map_files(view: dict[str, Any]) -> list[str]:
    """The boundary (geojson) and base-map (topojson) files the view's maps will fetch."""
    urls: list[str] = []
    for component in _components(view["content"]):
        if component.get("type") != "Graph" or component["namespace"] != DCC_NAMESPACE:
            continue
        props = component["props"]
        figure = props.get("figure") or {}
        urls += [
            trace["geojson"]
            for trace in figure.get("data", [])
            if trace.get("type") == "choropleth" and isinstance(trace.get("geojson"), str)
        ]
        topojson = (props.get("config") or {}).get("topojsonURL")
        layout = figure.get("layout", {})
        for key, geo in layout.items():
            if topojson and key.startswith("geo") and isinstance(geo, dict):
                scope = str(geo.get("scope", GEO_DEFAULTS["scope"])).replace(" ", "-")
                resolution = geo.get("resolution", GEO_DEFAULTS["resolution"])
                urls.append(f"{topojson}{scope}_{resolution}m.json")
    return list(dict.fromkeys(urls))
