"""The site around every page: each page registered in both languages, and the frame (skip link,
header with navigation and language switch, main, footer) drawn in the page's language.

A page module calls `register_page` once; its English URL stays exactly as it was and its Spanish
twin lives under `/es` with the same slug and the same query parameters. The frame is part of
each page's layout, so in-app navigation redraws it in the language of the page shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import dash
from dash import State, dcc, html

from dashboard import i18n
from dashboard.i18n import _

# The Dash Pages router's location component: its pathname names the page being laid out.
ROUTER_PATHNAME = "_pages_location.pathname"
# What a page's callback reads its language from: the path of the page it updates.
PAGE_PATH = State("url", "pathname")


def register_page(
    module: str, *, path: str | None, title: str, name: str, order: int | None = None
) -> None:
    """Register page `module` (its `layout(**query)`) at `path` and at `/es` + `path`.

    `title` and `name` are English msgids (marked with `N_`); the Spanish registration carries
    their translations. The 404 page (no `path`) is registered once and speaks its URL's language.
    """
    if path is None:
        dash.register_page(
            module, title=_router_language(title), name=name, layout=_framed(module, None, "")
        )
        return
    for lang in i18n.LANGUAGES:
        with i18n.use(lang):
            dash.register_page(
                module if lang == i18n.DEFAULT else f"{module}.{lang}",
                path=i18n.localised(path),
                title=_(title),
                name=_(name),
                order=order,
                layout=_framed(module, path, lang),
                language=lang,
            )


def _framed(module: str, path: str | None, lang: str) -> Callable[..., html.Div]:
    def layout(**query: Any) -> html.Div:
        page_lang = lang or i18n.language_of(_router_pathname())
        with i18n.use(page_lang):
            return frame(sys.modules[module].layout(**query), path, query)

    return layout


def page_language(pathname: object) -> str:
    """The language of the page a callback updates, from its `PAGE_PATH` value."""
    return i18n.language_of(pathname) if isinstance(pathname, str) else i18n.DEFAULT


def _router_language(title: str) -> Callable[..., str]:
    def translated(**_path_variables: Any) -> str:
        with i18n.use(i18n.language_of(_router_pathname())):
            return _(title)

    return translated


def _router_pathname() -> str:
    """The path the router is laying out (in a callback), or "" (an import-time validation)."""
    try:
        return str(dash.ctx.inputs.get(ROUTER_PATHNAME) or "")
    except Exception:  # outside a callback, Dash raises rather than answering "no context"
        return ""


def frame(content: Any, path: str | None, query: dict[str, Any]) -> html.Div:
    """The page `content` inside the site's header, main landmark and footer."""
    return html.Div(
        [
            html.A(_("Skip to content"), href="#main", className="skip-link"),
            html.Header(
                [
                    dcc.Link("Iron River", href=i18n.localised("/"), className="brand"),
                    html.Nav(nav_links(path), id="site-nav", **{"aria-label": _("Pages")}),
                    language_switch(path, query),
                ],
                className="site-header",
            ),
            html.Main(content, id="main"),
            html.Footer(
                [
                    _("Every figure carries its source; see "),
                    dcc.Link(_("Data & sources"), href=i18n.localised("/sources")),
                    _(" for citations, licences and caveats. ATF traces are not a random sample."),
                ],
                className="site-footer",
            ),
        ],
        className="site",
    )


def nav_links(current: str | None) -> list[dcc.Link | html.A]:
    """One link per registered page with an `order`, in that order and the current language:
    adding a page adds its link. The page shown is marked `current` and `aria-current`, so its
    link is a plain link (dcc.Link takes no aria attributes): the frame is part of each page's
    layout, so every page, opened or navigated to, comes with its own link marked, and a page
    load runs no callback for it."""
    lang = i18n.language()
    pages = sorted(
        (
            page
            for page in dash.page_registry.values()
            if page.get("order") is not None and page.get("language") == lang
        ),
        key=lambda page: page["order"],
    )
    here = None if current is None else i18n.localised(current)
    return [
        html.A(
            page["name"],
            href=page["path"],
            className="nav-link current",
            **{"aria-current": "page"},
        )
        if _same_path(page["path"], here)
        else dcc.Link(page["name"], href=page["path"], className="nav-link")
        for page in pages
    ]


def _same_path(a: str, b: str | None) -> bool:
    return b is not None and a.rstrip("/") == b.rstrip("/")


def language_switch(path: str | None, query: dict[str, Any]) -> html.Nav:
    """Links to this view in the other languages, with the same query parameters.

    `assets/ironriver.js` keeps each link's query equal to the address bar as the view changes.
    """
    search = "?" + urlencode(query, doseq=True) if query else ""
    here = i18n.language()
    links = [
        html.A(
            i18n.NAMES[lang],
            href=i18n.localised(path or "/", lang) + search,
            lang=lang,
            hrefLang=lang,
            className="language-link",
            **{"data-prefix": i18n.PREFIXES[lang]},
        )
        for lang in i18n.LANGUAGES
        if lang != here
    ]
    return html.Nav(links, className="language-switch", **{"aria-label": _("Language")})
