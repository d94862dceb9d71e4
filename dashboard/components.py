"""Shared page pieces: source lines read from the database, download links, badges, summaries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dash
import flask
import pandas as pd
from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard import i18n, text
from dashboard.data import AppData, ChartData
from dashboard.i18n import N_, _, ngettext
from dashboard.text import status_text, translated
from db.datasets import Selection

# How many sources a source line names before it points at the sources page for the rest.
SOURCES_SHOWN = 4
TRACE_FILES_ANCHOR = "trace-files"


# plotly.js 3 shows a "Share chart..." button that uploads the figure to Plotly's cloud by default;
# nothing the app draws may offer to send data elsewhere.
NO_UPLOAD_BUTTONS = ("sendChartToCloud", "sendDataToCloud", "editInChartStudio")


def graph_config(**options: object) -> dict[str, object]:
    """A dcc.Graph `config`: no plotly logo, no upload to any cloud, plus `options`."""
    removed = [*options.pop("modeBarButtonsToRemove", ()), *NO_UPLOAD_BUTTONS]  # type: ignore[misc]
    return {
        "displaylogo": False,
        "showSendToCloud": False,
        "showEditInChartStudio": False,
        "showLink": False,
        "plotlyServerURL": "",
        **options,
        "modeBarButtonsToRemove": removed,
    }


def in_language(config: dict[str, object]) -> dict[str, object]:
    """A graph `config` for the current language: plotly's es-MX locale on Spanish pages
    (assets/plotly-locale-es-mx.js: Spanish months and modebar, 7,825 and 68.3)."""
    return {**config, "locale": i18n.PLOTLY_LOCALES[i18n.language()]}


# The page prefix of each view with a chart -> its name in `/chart/<page>` and `/embed/<page>`.
CHART_PAGES = {"map": "map", "trends": "trends", "estimates": "estimates", "gc": "gc-armas"}
# (link text, format) of each download under a chart. The workbook is what a spreadsheet opens
# right: accents, codes as text ("09" stays 09) and its sources (db/workbook.py); a CSV opened in
# Excel or LibreOffice turns "09" into 9. The zip cites itself too (db/datapackage.py). The API
# still gives the CSV with a BOM (`?bom=1`) to whoever asks.
DOWNLOADS = (
    (N_("Download CSV"), "csv"),
    (N_("Excel workbook"), "xlsx"),
    ("JSON", "json"),
    (N_("ZIP (data, Data Package, README)"), "zip"),
)


def download_links(selection: Selection, what: str = "") -> html.Span:
    """ "Download CSV · Excel workbook · JSON · ZIP" of one selection; `what` names the chart."""
    dataset = selection.dataset
    links: list[object] = []
    for link_text, fmt in DOWNLOADS:
        url = selection.url(fmt)
        if links:
            links.append(" · ")
        shown = _(link_text)
        label = _("{link} ({chart})").format(link=shown, chart=_(what)) if what else shown
        links.append(
            html.A(
                shown,
                href=url,
                className="download-link",
                **{"aria-label": label, "data-dataset": dataset, "data-format": fmt},
            )
        )
    return html.Span(links, className="downloads")


def chart_links(page: str, search: str) -> html.Div:
    """ "Chart image: PNG / SVG · Embed" for a page's chart, with the iframe code to copy.

    `search` is the view's query string; `assets/ironriver.js` keeps the links equal to the
    address bar as the view changes.
    """
    from dashboard.embed import iframe_code, page_name

    root = flask.request.host_url if flask.has_request_context() else "/"
    title = _("Iron River: {page} chart").format(page=page_name(page))
    template = iframe_code(root, page, "{search}", title)
    return html.Div(
        [
            _("Chart image: "),
            html.A(
                "PNG",
                href=i18n.localised(f"/chart/{page}.png") + search,
                className="chart-image-link",
                **{"data-format": "png"},
            ),
            " / ",
            html.A(
                "SVG",
                href=i18n.localised(f"/chart/{page}.svg") + search,
                className="chart-image-link",
                **{"data-format": "svg"},
            ),
            html.Details(
                [
                    html.Summary(_("Embed")),
                    html.Label(_("Paste this into your page:"), htmlFor=f"{page}-embed-code"),
                    html.Textarea(
                        template.replace("{search}", search),
                        id=f"{page}-embed-code",
                        readOnly="readOnly",
                        rows=4,
                        className="embed-code",
                        **{"data-template": template},
                    ),
                ],
                className="embed-details",
            ),
        ],
        className="chart-links",
        # The modebar camera's title in this language (plotly's locale), which the script
        # recognises to give the server's chart image instead (assets/ironriver.js).
        # `data-prefix`: the language's path prefix, which the chart's image URL starts with.
        **{
            "data-page": page,
            "data-prefix": i18n.PREFIXES[i18n.language()],
            "data-camera-title": _("Download plot"),
        },
    )


def source_labels(sources: pd.DataFrame) -> dict[str, str]:
    """Short labels "Publisher (date)" per source id, for hover text."""
    return {
        row.source_id: f"{row.publisher} ({row.date_published})"
        for row in sources.itertuples(index=False)
    }


def _cited_ids(rows: pd.DataFrame) -> list[str]:
    """Source ids of `rows` in first-seen order, primary before the `also_source_ids` they add."""
    seen: dict[str, None] = {}
    if "source_id" not in rows:
        return []
    for value in rows["source_id"].dropna():
        seen.setdefault(str(value), None)
    # A rate cites its denominator's source too.
    if "denominator_source_id" in rows:
        for value in rows["denominator_source_id"].dropna():
            seen.setdefault(str(value), None)
    if "also_source_ids" in rows:
        for value in rows["also_source_ids"].dropna():
            for part in str(value).replace(";", ",").split(","):
                if part.strip():
                    seen.setdefault(part.strip(), None)
    return list(seen)


def source_line(rows: pd.DataFrame, sources: pd.DataFrame, *, dataset: str = "") -> html.P:
    """ "Source: producer, title (date)" for every source the rows cite, linked to /sources."""
    ids = _cited_ids(rows)
    if not ids:
        return html.P(_("Source: no figures in this view."), className="source-line")
    by_id = sources.set_index("source_id") if not sources.empty else pd.DataFrame()
    parts: list[object] = []
    trace_rows = rows[rows["source_id"].astype(str).str.startswith("trace-file:")]
    for source_id in ids[:SOURCES_SHOWN]:
        if parts:
            parts.append("; ")
        if source_id.startswith("trace-file:"):
            citation = trace_rows.loc[trace_rows["source_id"] == source_id, "citation"]
            text = translated(citation.iloc[0]) if len(citation) else source_id
            parts.append(dcc.Link(text, href=i18n.localised(f"/sources#{TRACE_FILES_ANCHOR}")))
        elif source_id in by_id.index:
            record = by_id.loc[source_id]
            parts.append(
                dcc.Link(
                    f"{record['publisher']}, “{record['title']}” ({record['date_published']})",
                    href=i18n.localised(f"/sources#{source_id}"),
                )
            )
            parts += [" [", dcc.Link(source_id, href=i18n.localised(f"/sources#{source_id}")), "]"]
        else:
            parts.append(f"[{source_id}]")
    rest = len(ids) - SOURCES_SHOWN
    if rest > 0:
        anchor = f"dataset-{dataset}" if dataset else ""
        parts.append("; ")
        parts.append(
            dcc.Link(
                ngettext("and {count} more source", "and {count} more sources", rest).format(
                    count=rest
                ),
                href=i18n.localised(f"/sources#{anchor}"),
            )
        )
    return html.P([_("Source: "), *parts, "."], className="source-line")


def status_badge(status: str | None) -> html.Span | None:
    """A visible mark for figures that are not plainly verified (and for loaded files)."""
    if status in (None, "", "VERIFIED"):
        return None
    return html.Span(status_text(status), className=f"badge badge-{str(status).lower()}")


def summary(text: str, **attributes: str) -> html.P:
    """A short plain-language reading of a chart, for screen readers and everyone else."""
    return html.P(text, className="chart-summary", **attributes)


def chart_name(name: str, summary_id: str) -> dict[str, str]:
    """ARIA attributes of a chart's container: its accessible name, and the id of its summary."""
    return {"aria-label": name, "aria-describedby": summary_id}


def chart_footer(chart: ChartData, sources: pd.DataFrame) -> html.Div:
    """Source line and the downloads of exactly the rows drawn, under a chart."""
    dataset = chart.selection.dataset
    return html.Div(
        [
            source_line(chart.rows, sources, dataset=dataset),
            stale_notice(dataset),
            download_links(chart.selection, chart.what),
        ],
        className="chart-footer",
    )


def stale_notice(dataset: str) -> html.P | None:
    """A warning under a chart whose source has not been refreshed within the stale limit."""
    from dashboard.data import current
    from db.freshness import source_freshness

    data = current()
    freshness = data.cached(
        "freshness", lambda: source_freshness(data.engine, data.stale_after_days)
    )
    row = freshness[(freshness["dataset"] == dataset) & freshness["stale"]]
    if row.empty:
        return None
    record = row.iloc[0]
    when = (
        _("last refreshed {days} days ago").format(days=f"{record['age_days']:.0f}")
        if record["age_days"] is not None and pd.notna(record["age_days"])
        else _("never loaded successfully")
    )
    return html.P(
        [
            html.Span("STALE", className="badge badge-stale"),
            _(" Source {source} {when} (limit {limit} days); see ").format(
                source=record["source"], when=when, limit=data.stale_after_days
            ),
            dcc.Link(_("Status"), href=i18n.localised("/status")),
            ".",
        ],
        className="stale-notice",
        role="status",
    )


def synthetic_notice(trace_files: pd.DataFrame) -> html.Div | None:
    """A visible SYNTHETIC label whenever a loaded trace file holds synthetic records."""
    if trace_files.empty or not trace_files["synthetic"].any():
        return None
    names = ", ".join(trace_files.loc[trace_files["synthetic"], "file_name"])
    return html.Div(
        [
            html.Span("SYNTHETIC", className="badge badge-synthetic"),
            _(
                " This database holds synthetic trace records ({names}). "
                "Figures drawn from them are not data about the world."
            ).format(names=names),
        ],
        className="notice notice-synthetic",
        role="note",
    )


def page_notices(data: AppData, problems: Sequence[str] = ()) -> list[html.Div]:
    """Notices every page shows on top: synthetic data, and URL parameters that were ignored."""
    from db import queries

    notices: list[html.Div] = []
    synthetic = synthetic_notice(
        data.cached("trace_files", lambda: queries.trace_files(data.engine))
    )
    if synthetic is not None:
        notices.append(synthetic)
    if problems:
        notices.append(
            html.Div(
                [
                    _("Some link parameters were ignored: "),
                    "; ".join(translated(p) for p in problems),
                    ".",
                ],
                className="notice notice-warning",
                role="status",
            )
        )
    return notices


def table(
    frame: pd.DataFrame, columns: Iterable[tuple[str, str]], *, caption: str = "", **attrs: str
) -> html.Div:
    """A plain HTML table of `frame` with (column, header) pairs; cells may be components.

    A table wider than the screen (a phone) scrolls sideways in its own region, named by its
    caption and reachable by keyboard, so the page itself never does.
    """
    columns = list(columns)
    header = html.Thead(html.Tr([html.Th(label, scope="col") for _, label in columns]))
    body = html.Tbody(
        [
            html.Tr([html.Td(_cell(row.get(column))) for column, _ in columns])
            for row in frame.to_dict("records")
        ]
    )
    parts: list[object] = [html.Caption(caption)] if caption else []
    return html.Div(
        html.Table([*parts, header, body], className="data-table", **attrs),
        className="table-scroll",
        role="region",
        tabIndex="0",
        **{"aria-label": caption or _("Table")},
    )


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return value


def notice(text: object, kind: str = "info") -> html.Div:
    """A boxed note, e.g. "No published figure for this selection"."""
    return html.Div(text, className=f"notice notice-{kind}", role="status")


def events_checklist(
    component_id: str, kinds: Sequence[str], chosen: Sequence[str], class_name: str = "control"
) -> html.Fieldset:
    """ "Events shown": one checkbox per event kind (in the order given), `chosen` ticked."""
    return html.Fieldset(
        [
            html.Legend(_("Events shown")),
            dcc.Checklist(
                id=component_id,
                options=[{"label": text.kind_label(k), "value": k} for k in kinds],
                value=list(chosen),
                inline=True,
                className="checklist",
            ),
        ],
        className=class_name,
    )


def copy_link(id_prefix: str, href: str) -> html.Div:
    """The "Copy link" control: the permalink in a read-only field and a button that copies it."""
    return html.Div(
        [
            html.Label(_("Link to this view"), htmlFor=f"{id_prefix}-permalink"),
            dcc.Input(
                id=f"{id_prefix}-permalink",
                value=href,
                readOnly=True,
                type="text",
                className="permalink",
                debounce=True,
            ),
            html.Button(_("Copy link"), id=f"{id_prefix}-copy", className="button", n_clicks=0),
            # What the copy button says afterwards, in the page's language (assets/ironriver.js).
            html.Span(
                id=f"{id_prefix}-copy-status",
                className="copy-status",
                role="status",
                **{
                    "data-copied": _("Link copied."),
                    "data-select": _("Select the link and copy it."),
                },
            ),
        ],
        className="copy-link",
    )


def register_url_sync(prefix: str) -> None:
    """Keep the address bar equal to the view (`<prefix>-search` store) and wire "Copy link".

    The functions live in `assets/ironriver.js`; reopening the URL runs `layout(**query)` to the
    same view.
    """
    dash.clientside_callback(
        ClientsideFunction("ironriver", "syncUrl"),
        Output(f"{prefix}-permalink", "value"),
        Input(f"{prefix}-search", "data"),
    )
    dash.clientside_callback(
        ClientsideFunction("ironriver", "copyLink"),
        Output(f"{prefix}-copy-status", "children"),
        Input(f"{prefix}-copy", "n_clicks"),
        State(f"{prefix}-permalink", "value"),
        State(f"{prefix}-permalink", "id"),
        prevent_initial_call=True,
    )


def view_page(
    prefix: str,
    *,
    data: AppData,
    problems: Sequence[str],
    heading: str,
    lede: str,
    controls: object,
    controls_label: str | None,
    content: Sequence[object],
    search: str,
    after: Sequence[object] = (),
    name: str = "",
) -> html.Div:
    """A page with a view: notices, heading, lede, its controls (in a labelled section unless
    `controls_label` is None), the `<prefix>-view` container (what `render(view)` returns, and
    what the page's callback replaces), then the chart links and "Copy link" (`<prefix>-links`);
    `name` is the page's CSS name."""
    if controls_label is not None:
        controls = html.Section(controls, className="controls", **{"aria-label": controls_label})
    return html.Div(
        [
            *page_notices(data, problems),
            html.H1(heading),
            html.P(lede, className="lede"),
            controls,
            html.Div(list(content), id=f"{prefix}-view"),
            *after,
            html.Div(
                [
                    *([chart_links(CHART_PAGES[prefix], search)] if prefix in CHART_PAGES else []),
                    copy_link(prefix, search),
                ],
                id=f"{prefix}-links",
                # Below the view: rendered once its charts are drawn (assets/ironriver.js).
                **{"data-deferred": "true"},
            ),
        ],
        className=f"page page-{name or prefix}",
    )
