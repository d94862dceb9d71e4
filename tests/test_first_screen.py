"""The map page's first view as static HTML: what the server writes (the browser side is in
test_browser.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from dash import dcc, html
from plotly.io.json import to_json_plotly

from dashboard import first_screen
from tests.test_first_view import view_in

SCREEN = re.compile(rb'<div id="ironriver-first-screen"(.*?)(?=<div id="react-entry-point")', re.S)


def serialized(component: Any) -> Any:
    """A component as the first-view data block carries it."""
    return json.loads(to_json_plotly(component))


def test_the_map_page_carries_its_first_view_as_inert_html_without_ids(client: Any) -> None:
    page = client.get("/").data
    screen = SCREEN.search(page)
    assert screen is not None
    copy = screen.group(1)
    # Hidden from assistive technology and from the keyboard; ids stay Dash's page's alone.
    assert copy.startswith(b' inert aria-hidden="true">')
    assert b" id=" not in copy and b" for=" not in copy
    # The view's own words and the graph's box, with its size as Dash's page gives it.
    assert b"Where traced guns come from" in copy
    assert copy.count(b'data-early-graph="map-graph"') == 1
    assert b'class="dash-graph map-graph" style="height: min(680px, 80vh); min-height: 460px;"' in (
        copy
    )
    # What the page renders after the maps (data-deferred) is empty in the copy, as in Dash's
    # first render.
    assert re.search(rb'<datalist data-deferred="true"></datalist>', copy)


def test_the_copy_shows_each_dropdowns_chosen_series_and_the_checked_measure(client: Any) -> None:
    page = client.get("/es/?measure=share").data
    screen = SCREEN.search(page)
    assert screen is not None
    copy = screen.group(1).decode()
    view = view_in(page)
    for dropdown in first_screen_components(view["content"], "Dropdown"):
        props = dropdown["props"]
        label = next(o["label"] for o in props["options"] if o["value"] == props["value"])
        assert f"<span>{label}</span>" in copy.replace("&#x27;", "'")
    checked = re.findall(r'<input type="radio"[^>]*value="([^"]+)" checked>', copy)
    assert checked == ["share"]


def first_screen_components(node: object, kind: str) -> list[Any]:
    if isinstance(node, list):
        return [c for n in node for c in first_screen_components(n, kind)]
    if not isinstance(node, dict) or not isinstance(node.get("props"), dict):
        return []
    found = [node] if node.get("type") == kind else []
    return found + first_screen_components(node["props"].get("children"), kind)


def test_the_copy_comes_with_dccs_stylesheets_and_its_scripts_first(client: Any) -> None:
    page = client.get("/").data.decode()
    head = page[: page.index("</head>")]
    # dcc's stylesheets (which its scripts inject only when they run), where they put them:
    # before the site's, which may override them.
    style = head.index("<style>")
    assert style < head.index("/assets/style.css")
    assert first_screen.HIDE_LIVE_PAGE in head
    assert ".dash-dropdown {" in head and ".dash-options-list-option {" in head
    # What draws the copy's maps runs before React and Dash.
    scripts = re.findall(r'<script src="([^"?]+)', page)
    drawing = [s for s in scripts if s.startswith("/assets/")][:4]
    assert drawing == [
        "/assets/first-screen.js",
        "/assets/plotly-custom.min.js",
        "/assets/plotly-locale-es-mx.js",
        "/assets/ironriver.js",
    ]
    assert scripts.index("/assets/ironriver.js") < min(
        i for i, s in enumerate(scripts) if "/_dash-component-suites/" in s
    )
    # Everything else (React, Dash, its inline scripts and the preloads of its layout and
    # callbacks) waits in an inert <template> until the maps are drawn: nothing in a template is
    # fetched or run. The drawing scripts are outside it, and nothing else is.
    start = page.index(f'<template id="{first_screen.LATER_ID}">')
    end = page.index("</template>", start)
    later, outside = page[start:end], page[:start] + page[end:]
    assert re.findall(r'<script src="([^"?]+)', outside) == drawing
    assert "new DashRenderer" in later and "new DashRenderer" not in outside
    assert (
        "_dashprivate_clientside_funcs" in later and "_dashprivate_clientside_funcs" not in outside
    )
    assert '<link rel="preload" href="/_dash-layout"' in later
    assert [s for s in scripts if "/_dash-component-suites/" in s] == [
        s for s in re.findall(r'<script src="([^"?]+)', later) if "/_dash-component-suites/" in s
    ]


def test_pages_the_copy_cannot_render_exactly_load_as_before(client: Any) -> None:
    page = client.get("/trends").data.decode()
    assert 'id="ironriver-first-screen"' not in page
    assert first_screen.HIDE_LIVE_PAGE not in page
    assert f'id="{first_screen.LATER_ID}"' not in page
    scripts = re.findall(r'<script src="([^"?]+)', page)
    assert scripts.index("/assets/ironriver.js") < scripts.index("/assets/plotly-custom.min.js")


def test_a_view_without_a_graph_or_with_a_component_not_rendered_here_has_no_copy() -> None:
    graph = dcc.Graph(id="g", figure={"data": []}, responsive=True)
    assert first_screen.render(serialized(html.Div([html.H1("x"), graph])), []) is not None
    assert first_screen.render(serialized(html.Div([html.H1("x")])), []) is None
    checklist = dcc.Checklist(id="c", options=["a"], value=["a"])
    assert first_screen.render(serialized(html.Div([checklist, graph])), []) is None
    searchable = dcc.Dropdown(id="d", options=["a"], value="a", clearable=False)
    assert first_screen.render(serialized(html.Div([searchable, graph])), []) is None
    # Unseen (display: none), it takes no room: what it holds is not drawn.
    hidden = html.Div([checklist], style={"display": "none"})
    assert first_screen.render(serialized(html.Div([hidden, graph])), []) is not None


def test_no_text_in_the_view_can_become_markup() -> None:
    graph = dcc.Graph(id="g", figure={"data": []}, responsive=True)
    rendered = first_screen.render(
        serialized(html.Div([html.P("</div><script>alert(1)</script>", title='"x'), graph])), []
    )
    assert rendered is not None
    screen, _styles = rendered
    assert "<script>" not in screen and "&lt;/div&gt;&lt;script&gt;" in screen
    assert 'title="&quot;x"' in screen
