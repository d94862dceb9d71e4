"""The app factory: Dash Pages over a read-only database, the download API and the page shell."""

from __future__ import annotations

import re
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
import flask
from dash import dcc, html
from flask_caching import Cache

from dashboard import compressed, embed, first_screen, first_view, guard, i18n
from dashboard.api import api, not_found
from dashboard.data import EXTENSION, AppData
from dashboard.figures import geojson_urls
from dashboard.i18n import N_, _
from db.datasets import DATASETS
from db.engine import make_engine
from db.settings import Settings
from db.viewstate import is_tracking
from geo.states import BOUNDARY_FILES, boundary_path

HERE = Path(__file__).parent
# Paths Dash and Flask serve themselves; anything else must be a registered page or it is a 404.
_INTERNAL_PREFIXES = (
    "/_dash",
    "/_reload",
    "/_favicon",
    "/assets/",
    "/api/",
    "/geo/",
    "/chart/",
    "/embed/",
    # The Spanish twins of chart images and embeds (dashboard/embed.py).
    "/es/chart/",
    "/es/embed/",
)
NOT_FOUND_TITLE = N_("Iron River · Page not found")
# Bundles Dash lists on every page that no page here needs. Dash's first script, @babel/polyfill
# (core-js and regenerator-runtime: 34 KB compressed and ~75 ms of a cold load's CPU), is for
# browsers without ES2015+; plotly.js's es2016 bundle needs them anyway. The one global Dash's
# scripts still use comes alone: assets/regenerator-runtime.min.js. dash_table's bundle (9 KB
# compressed, run on every load) comes because Dash imports it; no page uses a DataTable.
UNUSED_BUNDLES = ("/deps/polyfill@", "/dash_table/")
# What draws a first screen's graphs (first_screen.py), in the order they must run.
DRAWING_SCRIPTS = (
    "/assets/first-screen.js",
    "/assets/plotly-custom.min.js",
    "/assets/plotly-locale-",
    "/assets/ironriver.js",
)
# Boundary files are versioned by `?v=<sha>` in their URL, so browsers may keep them a year.
GEO_CACHE_SECONDS = 365 * 24 * 3600


class _Dash(dash.Dash):
    """Dash without the server's Python version in every page's front-end config.

    Dash 4 writes `sys.version` (and its version-check URL, used only by dev tools) into the
    `_dash-config` script of each page; the renderer does not need either in production.
    """

    def interpolate_index(self, **kwargs: Any) -> str:
        """Each view's own title, description and preview image (its chart's PNG)."""
        meta = embed.page_meta(flask.request.path) if flask.has_request_context() else None
        if meta is not None:
            title, description, image = (html_escape(v) for v in meta)
            kwargs["title"] = title
            metas = kwargs.get("metas", "")
            for names, value in (
                (
                    (
                        'name="description"',
                        'property="twitter:description"',
                        'property="og:description"',
                    ),
                    description,
                ),
                (('property="og:image"', 'property="twitter:image"'), image),
                (('property="og:title"', 'property="twitter:title"'), title),
            ):
                for name in names:
                    metas = re.sub(
                        f'<meta {name} content="[^"]*">', f'<meta {name} content="{value}">', metas
                    )
            kwargs["metas"] = metas
        if flask.has_request_context():
            kwargs["metas"] = kwargs.get("metas", "") + _alternates(flask.request)
            view = first_view.for_request(flask.request)
            if view is not None:
                kwargs["config"] = kwargs.get("config", "") + view.data
                kwargs["scripts"] = kwargs.get("scripts", "") + view.scripts
                if view.screen:
                    # The view drawn before Dash starts (first_screen.py): what draws its graphs
                    # runs first (assets/first-screen.js); React, Dash and what they fetch first
                    # are fetched and run once its maps are drawn (first_screen.later).
                    # Before the site's stylesheet, as dcc puts its own: the site's overrides them.
                    kwargs["metas"] = kwargs.get("metas", "") + view.styles
                    kwargs["css"] = kwargs.get("css", "") + view.map_preloads
                    kwargs["app_entry"] = view.screen + kwargs.get("app_entry", "")
                    kwargs["scripts"], dash_scripts = _drawing_first(kwargs["scripts"])
                    kwargs["renderer"] = first_screen.later(
                        view.preloads + dash_scripts + kwargs.get("renderer", "")
                    )
                else:
                    # After the scripts: what the page needs first is fetched first.
                    kwargs["renderer"] = kwargs.get("renderer", "") + view.preloads
        page = str(super().interpolate_index(**kwargs))
        return page.replace('<html lang="en">', f'<html lang="{i18n.language()}">', 1)

    def _collect_and_register_resources(
        self, resources: Any, include_async: bool = True, url_attr: str = "src"
    ) -> list[Any]:
        srcs: list[Any] = super()._collect_and_register_resources(
            resources, include_async, url_attr
        )
        return [
            src
            for src in srcs
            if not (isinstance(src, str) and any(bundle in src for bundle in UNUSED_BUNDLES))
        ]

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()
        config.pop("python_version", None)
        config.pop("dash_version_url", None)
        return config


def create_app(settings: Settings | None = None, *, warm_new_versions: bool = False) -> dash.Dash:
    """A new dashboard app reading `settings.database_url` read-only.

    `warm_new_versions` (what serving asks for) follows the data version in a thread per
    process and lays out every page's first view of a new version before serving it.
    """
    settings = settings or Settings.from_env()
    server = flask.Flask(__name__)
    cache = Cache(
        server,
        config={"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": settings.cache_seconds},
    )
    data = AppData(
        engine=make_engine(settings.database_url, read_only=True),
        cache=cache,
        export_max_rows=settings.export_max_rows,
        stale_after_days=settings.stale_after_days,
    )
    server.extensions[EXTENSION] = data
    if warm_new_versions:
        data.watch(lambda: _warm(server), server.app_context)
    # Dash serves its bundles (plotly.js: 4.8 MB raw) as text/javascript.
    server.config["COMPRESS_MIMETYPES"] = [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/geo+json",
    ]
    # Bundles are fingerprinted and cached by browsers for a year, so each visitor compresses
    # plotly.js once: level 6 costs ~60 ms against ~25 ms and saves ~110 KB of its 1.4 MB.
    server.config["COMPRESS_ZSTD_LEVEL"] = 6
    server.config["COMPRESS_BR_LEVEL"] = 6
    # Assets (plotly-custom.min.js: 1.4 MB) stream through Flask-Compress, which answers
    # If-None-Match only on the endpoints named here: with Dash's, a reload gets 304s.
    server.config["COMPRESS_STREAMING_ENDPOINT_CONDITIONAL"] = ["static", "_dash_assets.static"]
    server.register_blueprint(api)
    _serve_boundaries(server)
    app = _Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        serve_locally=True,
        # gzip: plotly.js alone is 4.8 MB raw, about 1.4 MB compressed.
        compress=True,
        title="Iron River",
        update_title=None,
        suppress_callback_exceptions=True,
        # Dash turns async on whenever asgiref is importable (Datasette, a bench extra, brings
        # it): Pages' router then runs in a new thread on every request, ~1 ms each. No
        # callback here is async, so the app behaves the same whatever else is installed.
        use_async=False,
        hooks=first_view.RENDERER_HOOKS,  # type: ignore[arg-type]
    )
    compressed.install(server, server.config["COMPRESS_MIMETYPES"])
    app.layout = _shell
    # Screen readers pick their voice from the page language (interpolate_index sets it per URL).
    app.index_string = app.index_string.replace("<html>", '<html lang="en">', 1)
    # Dash wraps its scripts in a second <footer>: one contentinfo landmark per page is ours.
    app.index_string = app.index_string.replace("<footer>", "<div>", 1).replace(
        "</footer>", "</div>", 1
    )
    guard.install(app)
    embed.install(app)
    _answer_unknown_paths_with_404(app)
    # Dash collects `dash.callback`s from a process-wide list at an app's first request; taking
    # them now binds this app's page callbacks to it, so a second app (tests) never sees them twice.
    app._setup_server()
    return app


def _warm(server: flask.Flask) -> None:
    """What the views of the data version being warmed share: every published dataset's rows
    (a few hundred each; any view may select from them) and each page's first view, in each
    language."""
    data: AppData = server.extensions[EXTENSION]
    with server.app_context():
        for lang in i18n.LANGUAGES:
            with i18n.use(lang):
                for dataset in DATASETS.values():
                    if dataset.reads_facts:
                        data.facts(dataset.name)
    first_view.warm(server)


def _serve_boundaries(server: flask.Flask) -> None:
    """`/geo/us.geojson`, `/geo/mx.geojson`: the committed boundaries, fetched once per browser."""

    @server.get("/geo/<country>.geojson")
    def boundaries(country: str) -> flask.Response:
        code = country.upper()
        if code not in BOUNDARY_FILES:
            flask.abort(404)
        # A plain response, not send_file: Flask-Compress skips file pass-through, and GeoJSON
        # shrinks about fivefold with gzip.
        path = boundary_path(code)  # type: ignore[arg-type]
        response = flask.Response(path.read_bytes(), mimetype="application/geo+json")
        response.headers["Cache-Control"] = f"public, max-age={GEO_CACHE_SECONDS}, immutable"
        response.set_etag(geojson_urls()[code].rsplit("=", 1)[-1])
        return response.make_conditional(flask.request)


def _alternates(request: flask.Request) -> str:
    """`<link rel="alternate" hreflang>` to this view in every language (and x-default: English)."""
    path = i18n.unprefixed(request.path)
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if not is_tracking(k)])
    search = f"?{html_escape(query)}" if query else ""
    root = request.host_url.rstrip("/")
    links = [
        f'<link rel="alternate" hreflang="{lang}" href="{root}{i18n.localised(path, lang)}{search}">'
        for lang in i18n.LANGUAGES
    ]
    links.append(f'<link rel="alternate" hreflang="x-default" href="{root}{path}{search}">')
    return "\n".join(links)


def _drawing_first(scripts: str) -> tuple[str, str]:
    """Dash's `<script>` tags, one a line, split in two: what draws a first screen's graphs, in
    the order it must run, and the rest (React, Dash, ...) in their order."""
    lines = scripts.split("\n")
    first = [line for name in DRAWING_SCRIPTS for line in lines if name in line]
    return "\n".join(first), "\n".join(line for line in lines if line not in first)


def _shell() -> html.Div:
    """What Dash lays out once per page load; each page draws the site's frame in its language."""
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dash.page_container,
        ]
    )


def _answer_unknown_paths_with_404(app: dash.Dash) -> None:
    server = app.server

    def not_found_page(_error: Exception | None = None) -> flask.Response:
        path = flask.request.path
        if path.startswith("/api/"):
            return not_found()
        if path.startswith(_INTERNAL_PREFIXES) or flask.request.method != "GET":
            return flask.Response("not found\n", status=404, mimetype="text/plain")
        # The site's own page (header, language, viewport): Dash Pages renders its 404 layout.
        page = app.index().replace(
            f"<title>{app.title}</title>", f"<title>{html_escape(_(NOT_FOUND_TITLE))}</title>", 1
        )
        return flask.Response(page, status=404, mimetype="text/html")

    server.register_error_handler(404, not_found_page)

    @server.teardown_request
    def _language_ends(_error: BaseException | None) -> None:
        # The thread serves other requests next (and a test client's caller goes on in it).
        token = flask.g.pop("language_token", None)
        if token is not None:
            i18n.restore_language(token)

    @server.before_request
    def _unknown_page() -> flask.Response | None:
        path = flask.request.path
        # A page's language is its URL's; a callback sets its own from the page's path.
        flask.g.language_token = i18n.set_language(i18n.language_of(path))
        if path.startswith("/api/") and flask.request.blueprint != api.name:
            return not_found()  # Dash's catch-all route would answer with the page shell
        if path.startswith(_INTERNAL_PREFIXES):
            return None
        known = {page["path"].rstrip("/") or "/" for page in dash.page_registry.values()}
        if (path.rstrip("/") or "/") in known:
            return None
        return not_found_page()
