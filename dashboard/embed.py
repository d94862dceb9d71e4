"""`/chart/<page>.png|svg` and `/embed/<page>`: a view's chart as an image, or alone in an iframe.

Both read the chart from the page's own layout for the same query (`layout(**query)`), so the
image and the embed show exactly what the page shows: its first chart, the source lines and
downloads beside it, and the view's canonical permalink. Like every page, each has a Spanish twin
under `/es` with the same page name and query (`/es/chart/map.png`, `/es/embed/trends?state=TX`),
drawn from the Spanish page and captioned in Spanish; the English URLs are unchanged.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dash
import flask
import plotly
from plotly.utils import PlotlyJSONEncoder

from dashboard import i18n, images, text
from dashboard.data import AppData, current
from dashboard.i18n import N_, _
from db.datasets import DATASETS, Filters, InvalidRequest

HERE = Path(__file__).parent
# URL name of each page that has a chart -> its Dash Pages path.
PAGES = {"map": "/", "trends": "/trends", "estimates": "/estimates", "gc-armas": "/gc-armas"}
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
EMBED_JS = HERE / "embed.js"
# The notice's words in components.page_notices; matched in the language the layout was drawn in.
IGNORED_NOTICE = N_("Some link parameters were ignored: ")
# Static files of the embed are versioned by the package, so browsers may keep them a day.
STATIC_CACHE = "public, max-age=86400"
CHART_HEIGHTS = {"map": 560}
DEFAULT_HEIGHT = 460
# plotly.js's es-MX locale (Spanish months, modebar and number format), as the pages load it.
PLOTLY_LOCALE_SCRIPTS = {"es": "/assets/plotly-locale-es-mx.js"}


@dataclass(frozen=True)
class Chart:
    """One view's chart and the words that must travel with it."""

    page: str
    title: str
    figure: dict[str, Any]
    source: str
    statuses: str
    search: str
    summary: str
    subtitle: str = ""
    lang: str = i18n.DEFAULT

    @property
    def page_title(self) -> str:
        """What a browser tab and a shared link call the view."""
        full = f"{self.title}: {self.subtitle}" if self.subtitle else self.title
        return (full if len(full) <= 150 else full[:149] + "…") + " · Iron River"

    def permalink(self, root: str) -> str:
        """The view on the site, in the chart's language."""
        return root.rstrip("/") + i18n.localised(PAGES[self.page], self.lang) + self.search

    def caption(self, root: str, version: str) -> images.Caption:
        return images.Caption(
            self.title, self.source, self.statuses, self.permalink(root), version, self.subtitle
        )


def _children(component: Any) -> list[Any]:
    children = getattr(component, "children", None)
    if children is None:
        return []
    return list(children) if isinstance(children, list | tuple) else [children]


def _walk(component: Any, ancestors: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    yield component, ancestors
    for child in _children(component):
        if child is not None and not isinstance(child, str | int | float):
            yield from _walk(child, (*ancestors, component))


def text_of(component: Any) -> str:
    """The visible text of a component tree, spaces normalised."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    parts = [text_of(child) for child in _children(component)]
    return " ".join("".join(parts).split())


def _classes(component: Any) -> set[str]:
    return set(str(getattr(component, "className", "") or "").split())


def _statuses(data: AppData, downloads: list[str], figure: dict[str, Any]) -> str:
    """ "Status: 12 VERIFIED · 2 UNVERIFIED" over the rows the chart's downloads return, in the
    current language ("Estatus: 12 VERIFIED ..."; statuses read as the pages write them)."""
    counts: Counter[str] = Counter()
    underlying: Counter[str] = Counter()
    for href in downloads:
        url = urlsplit(href)
        name = url.path.removeprefix("/api/v1/").removesuffix(".csv")
        if name not in DATASETS:
            continue
        rows = data.dataset(name, Filters.from_args(parse_qs(url.query)))
        counts.update(str(s) for s in rows.get("status", []))
        # A rate's own status is DERIVED; what it was computed from is named too.
        underlying.update(str(s) for s in rows.get("count_status", []))
    marks = [f"{n} {text.status_text(s)}" for s, n in counts.most_common()]
    if underlying:
        marks.append(
            _("computed from {statuses}").format(
                statuses=", ".join(
                    f"{n} {text.status_text(s)}" for s, n in underlying.most_common()
                )
            )
        )
    if "DERIVED" not in counts and "DERIVED" in _json(figure):
        # A share or rate the page computes from published counts: no row says DERIVED.
        marks.append(_("DERIVED (computed here from the published figures)"))
    return _("Status: ") + (" · ".join(marks) if marks else _("no figures"))


def _registered(page: str) -> dict[str, Any]:
    """The Dash Pages entry of chart page `page` in the current language."""
    path = i18n.localised(PAGES[page])
    return next(p for p in dash.page_registry.values() if p["path"] == path)


def page_name(page: str) -> str:
    """What the navigation calls chart page `page` in the current language ("Tendencias")."""
    return str(_registered(page)["name"])


def _layout(page: str, query: dict[str, list[str]]) -> Any:
    flat = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
    return _registered(page)["layout"](**flat)


def chart_of(data: AppData, page: str, query: dict[str, list[str]]) -> Chart:
    """The first chart of `page` for `query` with its title, sources and statuses.

    A query the page would partly ignore is refused (`InvalidRequest`): an image says exactly
    which view it is.
    """
    if page not in PAGES:
        raise InvalidRequest(f"no chart page {page!r}; use one of {', '.join(PAGES)}")
    layout = _layout(page, query)
    title, heading, search, graph, scope = "", "", "", None, layout
    # A Spanish layout's notice is in Spanish once the shared notice is translated.
    ignored = {IGNORED_NOTICE.strip(), i18n._(IGNORED_NOTICE).strip()}
    for component, ancestors in _walk(layout):
        kind = type(component).__name__
        if "notice-warning" in _classes(component) and any(
            words in text_of(component) for words in ignored
        ):
            raise InvalidRequest(text_of(component))
        if kind == "H1" and not title:
            title = text_of(component)
        elif kind in ("H2", "H3") and graph is None:
            heading = text_of(component)
        elif kind == "Store" and str(getattr(component, "id", "")).endswith("-search"):
            search = str(component.data or "")
        elif kind == "Graph" and graph is None:
            graph = component
            # The chart's scope: its nearest ancestor that also holds a source line.
            for ancestor in reversed(ancestors):
                if any("source-line" in _classes(c) for c, _ in _walk(ancestor)):
                    scope = ancestor
                    break
    if graph is None:
        raise InvalidRequest(f"the {page} page has no chart for this view")
    figure = graph.figure if isinstance(graph.figure, dict) else graph.figure.to_plotly_json()
    sources, downloads, series, summary = [], [], [], ""
    for component, _ancestors in _walk(scope):
        classes = _classes(component)
        if "series-title" in classes:
            series.append(text_of(component))
        elif "source-line" in classes:
            sources.append(text_of(component))
        elif "download-link" in classes and str(component.href).split("?")[0].endswith(".csv"):
            downloads.append(str(component.href))
        elif "chart-summary" in classes and not summary:
            summary = text_of(component)
    # The heading over the chart names the view (a state's trend, an estimates question).
    if heading.startswith(title):
        title = heading
    elif heading and heading not in title:
        title = f"{title}: {heading}"
    return Chart(
        page=page,
        title=title,
        figure=figure,
        source=" ".join(dict.fromkeys(sources)) or _("Source: no figures in this view."),
        statuses=_statuses(data, downloads, figure),
        search=search,
        summary=summary,
        subtitle=" | ".join(series),
        lang=i18n.language(),
    )


def _query() -> dict[str, list[str]]:
    return flask.request.args.to_dict(flat=False)


def _cached_chart(data: AppData, page: str, query: dict[str, list[str]]) -> Chart:
    return data.memo(f"chart:{page}:{sorted(query.items())!r}", lambda: chart_of(data, page, query))


def chart_image(page: str, fmt: str) -> flask.Response:
    """`/chart/<page>.<png|svg>`: the view's chart with its source, drawn on the server."""
    if fmt not in images.FORMATS:
        raise InvalidRequest(f"unknown image format {fmt!r}: use .png or .svg")
    data = current()
    version = data.version()
    root = flask.request.host_url
    chart = _cached_chart(data, page, _query())
    # Keyed by the view's canonical query and language, so two URLs of one view share one
    # drawing, and the ways to ask for new drawings are only as many as the views.
    key = f"image:{root}:{chart.lang}:{page}:{fmt}:{chart.search}"
    # The data version and the view name the image: a cached copy is confirmed without drawing.
    etag = f"{version}-{page}-{fmt}-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    if etag in flask.request.if_none_match:
        unchanged = flask.Response(status=304)
        unchanged.set_etag(etag)
        return unchanged

    def draw() -> bytes:
        return images.image(chart.figure, chart.caption(root, version), fmt)

    response = flask.Response(data.memo(key, draw), mimetype=images.FORMATS[fmt])
    response.headers["Cache-Control"] = "public, no-cache"
    response.headers["X-Data-Version"] = version
    response.set_etag(etag)
    return response


def _json(value: object) -> str:
    """JSON as plotly writes it (dates, numpy values)."""
    return json.dumps(value, cls=PlotlyJSONEncoder, ensure_ascii=False)


def _json_for_script(value: object) -> str:
    # Inside <script>, "</" would end the element; JSON allows "\/" for "/".
    return _json(value).replace("</", "<\\/")


def embed_page(page: str) -> flask.Response:
    """`/embed/<page>`: the chart alone, its source line and a link back; framable anywhere."""
    data = current()
    chart = _cached_chart(data, page, _query())
    root = flask.request.host_url
    permalink = chart.permalink(root)
    figure = dict(chart.figure)
    layout = dict(figure.get("layout", {}))
    layout.update(autosize=True, height=CHART_HEIGHTS.get(page, DEFAULT_HEIGHT))
    layout.pop("width", None)
    figure["layout"] = layout
    lang = i18n.language()
    locale_script = PLOTLY_LOCALE_SCRIPTS.get(lang)
    full_view = _("Full view on Iron River")
    data_version = _("data version {version}").format(version=data.version())
    body = f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(chart.page_title)}</title>
{_embed_alternates(root, page, chart.search)}
<link rel="stylesheet" href="/embed/embed.css">
</head>
<body class="embed">
<main>
<figure class="embed-chart" aria-labelledby="embed-title">
<figcaption class="embed-title"><h1 id="embed-title">{html.escape(chart.title)}</h1>
<span class="embed-subtitle">{html.escape(chart.subtitle)}</span></figcaption>
<div id="embed-graph" role="group" aria-labelledby="embed-title" aria-describedby="embed-summary" data-locale="{i18n.PLOTLY_LOCALES[lang]}"></div>
<p class="chart-summary" id="embed-summary">{html.escape(chart.summary)}</p>
<p class="source-line">{html.escape(chart.source)}</p>
<p class="embed-meta">{html.escape(chart.statuses)} · {html.escape(data_version)} ·
<a href="{html.escape(permalink)}" target="_blank" rel="noopener">{html.escape(full_view)}</a></p>
</figure>
</main>
<script type="application/json" id="embed-figure">{_json_for_script(figure)}</script>
<script src="/embed/plotly.min.js"></script>
{f'<script src="{locale_script}"></script>' if locale_script else ""}
<script src="/embed/embed.js"></script>
</body>
</html>
"""
    response = flask.Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _embed_alternates(root: str, page: str, search: str) -> str:
    """`<link rel="alternate" hreflang>` to this embed in every language (x-default: English),
    as every page has, with the view's canonical query."""
    base = root.rstrip("/")
    links = [
        (lang, f"{base}{i18n.localised(f'/embed/{page}', lang)}{search}") for lang in i18n.LANGUAGES
    ]
    links.append(("x-default", f"{base}/embed/{page}{search}"))
    return "\n".join(
        f'<link rel="alternate" hreflang="{lang}" href="{html.escape(href)}">'
        for lang, href in links
    )


def iframe_code(root: str, page: str, search: str, title: str) -> str:
    """The HTML a host page pastes: the iframe and the listener that sets its height. The
    iframe shows the embed in the current language (`/es/embed/...` from a Spanish page)."""
    src = f"{root.rstrip('/')}{i18n.localised(f'/embed/{page}')}{search}"
    return (
        f'<iframe src="{html.escape(src)}" title="{html.escape(title)}" '
        f'style="width:100%;border:0;min-height:400px" scrolling="no"></iframe>'
        "<script>window.addEventListener('message',function(e){var h=e.data&&"
        "e.data['iron-river-height'];if(!h)return;document.querySelectorAll('iframe')"
        ".forEach(function(f){if(f.contentWindow===e.source)f.style.height=h+'px';});});"
        "</script>"
    )


def _static(path: Path, mimetype: str) -> flask.Response:
    response = flask.Response(path.read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = STATIC_CACHE
    return response


def page_meta(path: str) -> tuple[str, str, str] | None:
    """(title, description, image URL) of the view at `path` and this request's query."""
    english = i18n.unprefixed(path)
    page = next((name for name, p in PAGES.items() if p == (english.rstrip("/") or "/")), None)
    if page is None:
        return None
    data = current()
    try:
        chart = _cached_chart(data, page, _query())
    except InvalidRequest:
        return None
    root = flask.request.host_url
    image = f"{root.rstrip('/')}{i18n.localised(f'/chart/{page}.png')}{chart.search}"
    description = chart.summary or chart.source
    return chart.page_title, description, image


def install(app: dash.Dash) -> None:
    """Register the image and embed routes on `app`'s server, in every language: the request's
    path sets its language (app.py), so `/es/chart/...` and `/es/embed/...` speak Spanish."""
    server = app.server
    for lang in i18n.LANGUAGES:
        suffix = "" if lang == i18n.DEFAULT else f"_{lang}"
        server.add_url_rule(
            i18n.localised("/chart/<page>.<fmt>", lang), f"chart_image{suffix}", chart_image
        )
        server.add_url_rule(
            i18n.localised("/embed/<page>", lang), f"embed_page{suffix}", embed_page
        )
    server.add_url_rule(
        "/embed/plotly.min.js", "embed_plotly", lambda: _static(PLOTLY_JS, "text/javascript")
    )
    server.add_url_rule("/embed/embed.js", "embed_js", lambda: _static(EMBED_JS, "text/javascript"))
    server.add_url_rule(
        "/embed/embed.css", "embed_css", lambda: _static(HERE / "embed.css", "text/css")
    )
