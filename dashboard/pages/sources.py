"""Data & sources: every dataset with its sources, licence, status, last load and downloads."""

from typing import Any

import pandas as pd
from dash import dcc, html

from dashboard import components, glossary, i18n, text
from dashboard.data import AppData, current
from dashboard.i18n import N_, _, ngettext
from dashboard.site import register_page
from db import freshness, queries
from db.datasets import DATASETS, Selection
from db.viewstate import parse

register_page(
    __name__,
    path="/sources",
    title=N_("Iron River · Data & sources"),
    name=N_("Data & sources"),
    order=4,
)

# A source's type (bibliography's `source_type`) in words.
SOURCE_TYPES = {"primary": N_("primary"), "secondary": N_("secondary")}


def _cached(data: AppData, name: str) -> pd.DataFrame:
    query = getattr(queries, name)
    return data.cached(name, lambda: query(data.engine))


def _status_text(counts: pd.DataFrame, dataset: str) -> list[Any]:
    rows = counts[counts["dataset"] == dataset]
    if rows.empty:
        return [_("no rows")]
    parts: list[Any] = []
    for status in ("VERIFIED", "DERIVED", "UNVERIFIED"):
        n = int(rows.loc[rows["status"] == status, "rows"].sum())
        if n:
            parts += [", " if parts else "", f"{n} ", components.status_badge(status) or status]
    # Placeholders for places without a figure are not figures: counted apart, in words.
    missing = int(rows.loc[rows["status"] == "NO_FIGURE", "rows"].sum())
    if missing:
        parts += [
            "; " if parts else "",
            ngettext(
                "{count} place with no published figure",
                "{count} places with no published figure",
                missing,
            ).format(count=missing),
        ]
    return parts


def _dataset_card(
    name: str,
    info: pd.Series | None,
    cited: pd.DataFrame,
    sources: pd.DataFrame,
    counts: pd.DataFrame,
) -> html.Section:
    dataset = DATASETS[name]
    # Titles and descriptions are the app's words about its datasets (dashboard/dataset_words.py).
    title = info["title"] if info is not None else dataset.title
    description = info["description"] if info is not None else ""
    title, description = _(title), _(description) if description else ""
    caveats = list(info["caveats"]) if info is not None and info["caveats"] is not None else []
    loaded = text.format_when(info["loaded_at"]) if info is not None else _("never")
    ids = cited.loc[cited["dataset"] == name].sort_values("rows", ascending=False)
    by_id = sources.set_index("source_id")
    licences = sorted({by_id.loc[s, "license"] for s in ids["source_id"] if s in by_id.index})
    return html.Section(
        [
            html.H3([title, " ", html.Code(name)]),
            html.P(description),
            html.P(
                [
                    html.Strong(_("Status: ")),
                    *_status_text(counts, name),
                    html.Br(),
                    html.Strong(_("Last ETL run: ")),
                    _("{loaded} (run {run})").format(loaded=loaded, run=info["run_id"])
                    if info is not None
                    else loaded,
                    html.Br(),
                    html.Strong(_("Licence: ")),
                    "; ".join(licences) or _("see each source"),
                    html.Br(),
                    html.Strong(_("Download: ")),
                    components.download_links(Selection(name), what=name),
                ],
                className="meta",
            ),
            html.Details(
                [
                    html.Summary(
                        ngettext("{count} source cited", "{count} sources cited", len(ids)).format(
                            count=len(ids)
                        )
                    ),
                    html.Ul(
                        [
                            html.Li(
                                [
                                    dcc.Link(s, href=f"#{s}"),
                                    " "
                                    + ngettext("({count} row)", "({count} rows)", int(n)).format(
                                        count=int(n)
                                    )
                                    + " ",
                                    by_id.loc[s, "citation"] if s in by_id.index else "",
                                ]
                            )
                            for s, n in zip(ids["source_id"], ids["rows"], strict=True)
                        ]
                    ),
                ]
            )
            if len(ids)
            else None,
            html.Ul([html.Li(c) for c in caveats], className="caveats") if caveats else None,
        ],
        className="dataset-card",
        id=f"dataset-{name}",
    )


def _trace_section(files: pd.DataFrame) -> html.Section:
    trace_sets = [d for d in DATASETS.values() if not d.published]
    if files.empty:
        body: Any = html.P(
            _(
                "No trace files are loaded. Load eTrace-style exports with "
                "`ironriver etl load-traces FILE.csv`; they appear here and on the map as their "
                "own series, never merged with published figures."
            )
        )
    else:
        frame = files.copy()
        frame["status"] = [
            components.status_badge("SYNTHETIC" if s else "LOADED_FILE") for s in files["synthetic"]
        ]
        frame["loaded"] = files["loaded_at"].map(text.format_when)
        frame["years"] = files["year_min"].astype(str) + "–" + files["year_max"].astype(str)
        body = components.table(
            frame,
            [
                ("file_name", _("File")),
                ("source_id", _("Source id")),
                ("checksum", "sha256"),
                ("years", _("Recovery years")),
                ("firearms", _("Traces")),
                ("loaded", _("Loaded")),
                # A status of figures is "Estatus" in Spanish; "Estado" names the Status page.
                ("status", _("Status: ").rstrip(": ")),
            ],
            caption=_("Loaded trace files"),
        )
    return html.Section(
        [
            html.H2(_("Loaded trace files")),
            html.P(
                _(
                    "Record-level traces are not public. Files loaded here are counted per file; "
                    "each row of a trace dataset names its file and checksum. Synthetic files are "
                    "labelled."
                )
            ),
            body,
            html.Ul(
                [
                    html.Li(
                        [
                            html.Code(d.name),
                            f": {_(d.title)} — ",
                            components.download_links(Selection(d.name)),
                        ]
                    )
                    for d in trace_sets
                ]
            ),
        ],
        id=components.TRACE_FILES_ANCHOR,
        className="dataset-card",
    )


def _source_entry(row: Any) -> html.Div:
    cites = (
        [
            _(" Reports on / cites "),
            dcc.Link(row.cites_source_id, href=f"#{row.cites_source_id}"),
            ".",
        ]
        if isinstance(row.cites_source_id, str) and row.cites_source_id
        else []
    )
    return html.Div(
        [
            html.Strong([dcc.Link(row.source_id, href=f"#{row.source_id}"), " "]),
            row.citation,
            html.Br(),
            html.Span(
                [
                    _(
                        "Publisher: {publisher}. Published {published}; accessed {accessed}. "
                        "Licence: {licence}. Type: {type}."
                    ).format(
                        publisher=row.publisher,
                        published=row.date_published,
                        accessed=row.date_accessed,
                        licence=row.license,
                        type=_(SOURCE_TYPES.get(row.source_type, row.source_type)),
                    ),
                    *cites,
                    " ",
                    html.A(_("Original"), href=row.url, rel="noopener noreferrer", target="_blank"),
                ],
                className="meta",
            ),
            html.P(row.caveats, className="meta") if isinstance(row.caveats, str) else None,
        ],
        id=row.source_id,
        className="source-entry",
        tabIndex="-1",
    )


def _glossary_section() -> html.Section:
    """The glossary in the page's language, each term beside its other-language twin and linked to
    the sources that use it (`dashboard/locale/glossary.csv`)."""
    lang = i18n.language()
    other = next(code for code in i18n.LANGUAGES if code != lang)
    anchor = glossary.anchor(lang)
    used_by, unused = _("Used by: "), _("No source in Iron River's data uses this term.")
    entries: list[Any] = []
    for term in glossary.terms():
        sources: list[Any] = []
        for source_id in term.source_ids:
            sources += [", " if sources else "", dcc.Link(source_id, href=f"#{source_id}")]
        entries += [
            html.Dt(
                [
                    html.Dfn(html.Strong(term.term(lang))),
                    " (",
                    html.Span(term.term(other), lang=other),
                    ")",
                ],
                id=f"{anchor}-{term.slug}",
            ),
            html.Dd(
                [
                    term.definition(lang),
                    " ",
                    html.Span([used_by, *sources, "."] if sources else unused, className="meta"),
                ]
            ),
        ]
    return html.Section(
        [
            html.H2(_("Glossary")),
            html.P(
                _(
                    "The words this site uses in English and in Spanish, and the sources in its "
                    "data that use each one."
                )
            ),
            html.Dl(entries, className="glossary"),
        ],
        id=anchor,
    )


def layout(**query: object) -> html.Div:
    data = current()
    problems = list(parse(query, allowed=()).problems)
    # The page depends on nothing but the data: built once per data version.
    body = data.shared("sources-page", lambda: _body(data))
    return html.Div(
        [*components.page_notices(data, problems), *body.children], className=body.className
    )


def _body(data: AppData) -> html.Div:
    sources = data.dataset("sources")
    infos = _cached(data, "dataset_infos")
    cited = _cached(data, "dataset_source_ids")
    counts = _cached(data, "dataset_status_counts")
    files = _cached(data, "trace_files")
    runs = data.cached(
        "latest_runs_by_source", lambda: freshness.latest_runs_by_source(data.engine)
    )
    published = [d.name for d in DATASETS.values() if d.published and d.name != "sources"]
    cards = []
    for name in published:
        match = infos[infos["name"] == name]
        cards.append(
            _dataset_card(name, match.iloc[0] if len(match) else None, cited, sources, counts)
        )
    caveats = list(dict.fromkeys(c for row in infos["caveats"] if row is not None for c in row))
    last_run = runs["finished_at"].max() if not runs.empty else None
    return html.Div(
        [
            html.H1(_("Data & sources")),
            html.P(
                [
                    _(
                        "Data version {version}; last successful load {when}. Every figure keeps "
                        "its source and its status. The "
                    ).format(
                        version=data.version(),
                        when=text.format_when(last_run) if last_run is not None else _("never"),
                    ),
                    html.Code("/api/v1/<dataset>.csv"),
                    _(" downloads take the same filters as the pages ("),
                    html.Code("from, to, year, measure, period, release, state, kinds"),
                    "); ",
                    html.A(_("the catalogue"), href="/api/v1/datasets.json"),
                    _(" lists them."),
                ],
                className="lede",
            ),
            html.Section(
                [
                    html.H2(_("What each status means")),
                    html.Dl(
                        [
                            html.Dt("VERIFIED"),
                            html.Dd(
                                _(
                                    "The figure was read, as written, in a public copy of the "
                                    "page whose address is given. The page may be a secondary "
                                    "report of a primary source: see each source's type."
                                )
                            ),
                            html.Dt(components.status_badge("DERIVED")),
                            html.Dd(_("Arithmetic on verified figures; the method is stated.")),
                            html.Dt(components.status_badge("UNVERIFIED")),
                            html.Dd(
                                _(
                                    "Recalled or inferred, or reported only by a secondary paper "
                                    "whose own source could not be read. It does not mean the "
                                    "figure was found to be wrong."
                                )
                            ),
                            html.Dt(components.status_badge("NO_FIGURE")),
                            html.Dd(
                                _(
                                    "The source gives no figure for this place. Shown grey, never "
                                    "as zero, and never counted as a figure."
                                )
                            ),
                        ],
                        className="status-legend",
                    ),
                ],
                id="status-legend",
            ),
            html.Section(
                [
                    html.H2(_("Methodology: read before comparing")),
                    html.Ul([html.Li(c) for c in caveats], className="methodology"),
                ],
                id="methodology",
            ),
            _glossary_section(),
            html.H2(_("Published datasets")),
            *cards,
            _trace_section(files),
            html.Section(
                [
                    html.H2(_("Sources ({count})").format(count=len(sources))),
                    html.P(
                        [
                            _("Full citations. "),
                            components.download_links(Selection("sources"), what="sources"),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label(_("Filter sources"), htmlFor="sources-filter"),
                            # Filtered in the browser by assets/sources-anchor.js: no round trip.
                            dcc.Input(
                                id="sources-filter",
                                type="search",
                                placeholder=_("publisher, title, year or id"),
                                debounce=False,
                                autoComplete="off",
                            ),
                            html.Span(id="sources-filter-count", role="status"),
                        ],
                        className="control sources-filter",
                    ),
                    *[_source_entry(r) for r in sources.itertuples(index=False)],
                ],
                id="sources",
            ),
        ],
        className="page page-sources",
    )
