"""A page's first view as static HTML, shown (and its maps drawn) before Dash's renderer starts.

React and Dash's renderer take ~250 ms of a cold load's main thread before dcc.Graph asks
plotly.js to draw; the floor page draws right after plotly.js has run. So the page's HTML
carries its first view rendered here, markup for markup as React will render it (with dcc's
own stylesheets, which its scripts would otherwise only inject later), and `assets/ironriver.js`
draws its graphs from the first-view data block as soon as plotly.js has run. Dash renders the
same view behind it, hidden; once its graphs have drawn, this copy is removed in the same task,
so the reader sees no change. The copy is `inert` and hidden from assistive technology, and
carries no ids: the live page keeps every id once, for Dash, labels and scripts.

A view holding a component this module does not render exactly (anything that is not an
`html.*` element or one of the dcc components below, as configured here) gets no copy: the page
then loads as without one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

import dash

ELEMENT_ID = "ironriver-first-screen"
# Marks the element plotly.js draws an early graph into; its value is the dcc.Graph's id.
GRAPH_ATTRIBUTE = "data-early-graph"
HTML_NAMESPACE = "dash_html_components"
DCC_NAMESPACE = "dash_core_components"
DCC_FOLDER = Path(dash.__file__).parent / "dcc"
# dcc's main bundle injects its stylesheets when it runs; a lazy chunk, those of its components.
DCC_STYLED_BUNDLES = ("dash_core_components.js",)
# Hidden while the copy is shown: laid out (so dcc.Graph measures its box) but not painted.
HIDE_LIVE_PAGE = (
    f"#{ELEMENT_ID} + #react-entry-point"
    "{position:absolute;top:0;left:0;width:100%;visibility:hidden}"
)
_CLASSES = re.compile(r'class="([^"]*)"')
_CLASS_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
# dcc's style-loader entries: `.push([module.id, "<css>", ...` in its webpack bundles.
_STYLE_ENTRY = re.compile(r'\.push\(\[\w+\.id,("(?:[^"\\]|\\.)*")')
# Props of Dash's own (not the element's), and attributes naming an id, which the copy has not.
_SKIPPED_PROPS = frozenset(
    {
        "id",
        "key",
        "children",
        "n_clicks",
        "n_clicks_timestamp",
        "disable_n_clicks",
        "loading_state",
        "htmlFor",
        "list",
        "form",
        "headers",
        "aria-labelledby",
        "aria-describedby",
        "aria-controls",
        "aria-owns",
        "aria-activedescendant",
    }
)
_RENAMED_PROPS = {"className": "class"}
# React writes these CSS properties' numbers without a unit; any other number gets "px".
_UNITLESS = frozenset(
    {"opacity", "zIndex", "fontWeight", "lineHeight", "flex", "flexGrow", "flexShrink", "order"}
)
_VOID_ELEMENTS = frozenset({"area", "br", "col", "hr", "img", "input", "source", "track", "wbr"})
# What dcc.Dropdown draws beside its value (Dash 4's closed single-value dropdown).
_DROPDOWN_ICON = (
    '<svg width="15" height="15" viewBox="0 0 15 15" fill="none" '
    'xmlns="http://www.w3.org/2000/svg" class="dash-dropdown-trigger-icon"><path d="M4.18179 '
    "6.18181C4.35753 6.00608 4.64245 6.00608 4.81819 6.18181L7.49999 8.86362L10.1818 "
    "6.18181C10.3575 6.00608 10.6424 6.00608 10.8182 6.18181C10.9939 6.35755 10.9939 6.64247 "
    "10.8182 6.81821L7.81819 9.81821C7.73379 9.9026 7.61934 9.95001 7.49999 9.95001C7.38064 "
    "9.95001 7.26618 9.9026 7.18179 9.81821L4.18179 6.81821C4.00605 6.64247 4.00605 6.35755 "
    '4.18179 6.18181Z" fill="currentColor" fill-rule="evenodd" clip-rule="evenodd"></path>'
    "</svg>"
)


# The element that keeps a first screen's page's React, Dash and what they fetch first until its
# maps are drawn: a <template>, whose content no browser fetches or runs (assets/first-screen.js
# puts it into the page then).
LATER_ID = "ironriver-later"


def later(markup: str) -> str:
    """`markup` (`<script>` and `<link rel=preload>` tags) kept inert until first-screen.js
    starts it: fetched and run in order once the copy's maps are drawn.

    On a cold load, React, Dash's bundles and its layout and callbacks (15 requests, ~255 KB
    compressed) would otherwise be served, and compiled on the browser's background threads,
    while plotly.js is fetched, compiled and draws the maps: on two busy cores they compete for
    the same CPU (the renderer's CPU until the maps are drawn: ~475 ms with them, ~425 without;
    the floor page's ~375). They run only after the maps are drawn either way (they come after
    plotly.js in the page); Dash's page takes the copy's place about as soon as before (median
    +12 and +35 ms in two interleaved runs of 20-25 cold loads, up to ~200 ms on a busy machine)."""
    return f'<template id="{LATER_ID}">{markup}</template>'


class Unsupported(Exception):
    """The view holds something this module cannot render as React will."""


def render(content: object, chunks: Iterable[str]) -> tuple[str, str] | None:
    """The copy of a serialized first view and the stylesheets it needs, or None if the view
    has no graph or holds anything `_node` cannot render exactly; `chunks` are the lazy dcc
    chunks the page runs (their stylesheets come too)."""
    graphs: list[str] = []
    try:
        body = _node(content, graphs)
    except Unsupported:
        return None
    if not graphs:
        return None
    # Dash's page container: three nested <div>s around the page's own layout.
    screen = (
        f'<div id="{ELEMENT_ID}" inert aria-hidden="true"><div><div><div>{body}</div></div></div>'
        "</div>"
    )
    bundles = DCC_STYLED_BUNDLES + tuple(chunk.rsplit("/", 1)[-1] for chunk in chunks)
    # Those that style the copy's classes (dcc's are scoped by class) or set dcc's variables: the
    # rest would only cost the first paint their parsing.
    classes = {name for names in _CLASSES.findall(screen) for name in names.split()}
    styles = "".join(
        css
        for bundle in bundles
        for css in dcc_stylesheets(bundle)
        if ":root" in css or classes & set(_CLASS_SELECTOR.findall(css))
    )
    return screen, f"<style>{HIDE_LIVE_PAGE}{styles}</style>"


@functools.cache
def dcc_stylesheets(bundle: str) -> tuple[str, ...]:
    """The stylesheets a dcc bundle injects when it runs, read from the installed file."""
    source = (DCC_FOLDER / bundle).read_text(encoding="utf-8")
    # "</" escaped: no stylesheet can close the <style> element.
    return tuple(
        json.loads(literal).replace("</", "<\\/") for literal in _STYLE_ENTRY.findall(source)
    )


def _node(node: object, graphs: list[str]) -> str:
    if node is None or isinstance(node, bool):
        return ""
    if isinstance(node, str):
        return escape(node, quote=False)
    if isinstance(node, int | float):
        return escape(str(node))
    if isinstance(node, list):
        return "".join(_node(child, graphs) for child in node)
    if isinstance(node, dict) and isinstance(node.get("props"), dict):
        props: dict[str, Any] = node["props"]
        if node.get("namespace") == HTML_NAMESPACE:
            return _element(str(node["type"]), props, graphs)
        if node.get("namespace") == DCC_NAMESPACE:
            renderer = _DCC.get(str(node["type"]))
            if renderer is not None:
                return renderer(props, graphs)
    raise Unsupported(repr(node)[:80])


def _element(kind: str, props: dict[str, Any], graphs: list[str]) -> str:
    tag = kind.removesuffix("El").lower()
    attributes = _attributes(props)
    if tag in _VOID_ELEMENTS:
        return f"<{tag}{attributes}>"
    style = props.get("style") or {}
    # Nothing of a hidden element is seen; a deferred one is empty in Dash's first render too.
    shown = not (props.get("hidden") is True or style.get("display") == "none")
    if not shown or props.get("data-deferred"):
        return f"<{tag}{attributes}></{tag}>"
    return f"<{tag}{attributes}>{_node(props.get('children'), graphs)}</{tag}>"


def _attributes(props: dict[str, Any]) -> str:
    out = []
    for name, value in props.items():
        if name in _SKIPPED_PROPS or value is None:
            continue
        if name == "style":
            if value:
                out.append(f' style="{escape(_css(value))}"')
            continue
        data_or_aria = name.startswith(("data-", "aria-"))
        attribute = _RENAMED_PROPS.get(name, name if data_or_aria else name.lower())
        if isinstance(value, bool):
            if data_or_aria:
                out.append(f' {attribute}="{str(value).lower()}"')
            elif value:
                out.append(f' {attribute}=""')
        elif isinstance(value, str | int | float):
            out.append(f' {attribute}="{escape(str(value))}"')
        else:
            raise Unsupported(name)
    return "".join(out)


def _css(style: dict[str, Any]) -> str:
    rules = []
    for name, value in style.items():
        prop = re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value}" if name in _UNITLESS or value == 0 else f"{value}px"
        rules.append(f"{prop}: {value};")
    return " ".join(rules)


def _only(props: dict[str, Any], allowed: set[str]) -> None:
    """Props beyond `allowed` change what a dcc component draws: not rendered here."""
    extra = set(props) - allowed
    if extra:
        raise Unsupported(", ".join(sorted(extra)))


def _nothing(props: dict[str, Any], graphs: list[str]) -> str:
    return ""


def _link(props: dict[str, Any], graphs: list[str]) -> str:
    _only(props, {"id", "href", "className", "title", "children"})
    attributes: dict[str, Any] = {k: props[k] for k in ("className", "href", "title") if k in props}
    return f"<a{_attributes(attributes)}>{_node(props.get('children'), graphs)}</a>"


def _label_of(options: object, value: object) -> str:
    if not isinstance(options, list):
        raise Unsupported("options")
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            label = option.get("label")
            if isinstance(label, str) and not option.get("disabled"):
                return label
    raise Unsupported("value")


def _dropdown(props: dict[str, Any], graphs: list[str]) -> str:
    """Dash 4's dcc.Dropdown, closed, one value, neither clearable nor searchable."""
    _only(props, {"id", "options", "value", "clearable", "searchable"})
    if props.get("clearable") is not False or props.get("searchable") is not False:
        raise Unsupported("clearable or searchable dropdown")
    label = escape(_label_of(props.get("options"), props.get("value")))
    return (
        '<div class="dash-dropdown-wrapper"><input class="dash-dropdown-focus-target" '
        'tabindex="0" readonly=""><button type="button" tabindex="-1" class="dash-dropdown " '
        'aria-haspopup="dialog" aria-expanded="false" data-state="closed"><span '
        'class="dash-dropdown-grid-container dash-dropdown-trigger"><span '
        'class="dash-dropdown-value"><span class="dash-dropdown-value-item"><span>'
        f"{label}</span></span></span>{_DROPDOWN_ICON}</span></button></div>"
    )


def _radio_items(props: dict[str, Any], graphs: list[str]) -> str:
    """dcc.RadioItems laid out inline, with plain-text labels."""
    _only(props, {"id", "options", "value", "inline", "className"})
    options = props.get("options")
    if props.get("inline") is not True or not isinstance(options, list):
        raise Unsupported("radio items")
    labels = []
    for index, option in enumerate(options):
        if not isinstance(option, dict) or not isinstance(option.get("label"), str):
            raise Unsupported("option")
        if option.get("disabled"):
            raise Unsupported("disabled option")
        chosen = option.get("value") == props.get("value")
        labels.append(
            f'<label class="dash-options-list-option{" selected" if chosen else ""} '
            f'dash-radioitems-inline" data-option-index="{index}"><span '
            'class="dash-options-list-option-wrapper"><input type="radio" readonly="" '
            f'class="dash-options-list-option-checkbox" value="{escape(str(option["value"]))}"'
            f'{" checked" if chosen else ""}></span><span class="dash-options-list-option-text">'
            f"<span>{escape(option['label'])}</span></span></label>"
        )
    classes = escape(" ".join(["dash-options-list", "dash-radioitems", props.get("className", "")]))
    return f'<div class="{classes.strip()}">{"".join(labels)}</div>'


def _input(props: dict[str, Any], graphs: list[str]) -> str:
    """A text dcc.Input."""
    allowed = {"id", "type", "placeholder", "n_submit", "autoComplete", "list", "className"}
    _only(props, allowed | {"value", "readOnly", "debounce"})
    if props.get("type", "text") != "text":
        raise Unsupported("input type")
    classes = escape(" ".join(["dash-input-container", "dash-input", props.get("className", "")]))
    attributes = _attributes(
        {
            "class": "dash-input-element",
            "type": "text",
            "placeholder": props.get("placeholder"),
            "inputmode": "verbatim",
            "autoComplete": props.get("autoComplete"),
            "readOnly": props.get("readOnly"),
            "step": "any",
            "value": str(props.get("value") or ""),
        }
    )
    return f'<div class="{classes.strip()}"><input{attributes}></div>'


def _graph(props: dict[str, Any], graphs: list[str]) -> str:
    """dcc.Graph's boxes, responsive, with the element plotly.js draws the early copy into."""
    _only(props, {"id", "figure", "config", "className", "responsive", "style"})
    ident = props.get("id")
    if not isinstance(ident, str) or props.get("responsive") is not True:
        raise Unsupported("graph")
    graphs.append(ident)
    classes = " ".join(["dash-graph", props.get("className", "")]).strip()
    outer = _attributes({"className": classes, "style": props.get("style")})
    return (
        f"<div{outer}><div></div>"
        f'<div {GRAPH_ATTRIBUTE}="{escape(ident)}" style="height: 100%; width: 100%;"></div></div>'
    )


_DCC = {
    "Link": _link,
    "Dropdown": _dropdown,
    "RadioItems": _radio_items,
    "Input": _input,
    "Graph": _graph,
    "Store": _nothing,
    "Interval": _nothing,
    "Location": _nothing,
}
