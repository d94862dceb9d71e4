"""Status: how fresh each source is, and the most recent ETL runs (as `ironriver etl status`)."""

from typing import Any

from dash import html

from dashboard import components
from dashboard.data import current
from dashboard.i18n import N_
from dashboard.site import register_page
from db import queries
from db.freshness import recent_runs, source_freshness
from db.lock import writer_active
from db.viewstate import parse

register_page(__name__, path="/status", title=N_("Iron River · Status"), name=N_("Status"), order=5)

RUNS_SHOWN = 50
# Embedded sources without a dataset of their own, by what readers would call them.
READABLE_SOURCES = {"reference": "State codes (USPS, INEGI)"}


def _readable(data: Any) -> dict[str, str]:
    """Source module -> the title of the dataset it loads: readers never see module names."""
    infos = data.cached("dataset_infos", lambda: queries.dataset_infos(data.engine))
    names = dict(zip(infos["source_module"], infos["title"], strict=True))
    return {**READABLE_SOURCES, **names}


def layout(**query: object) -> html.Div:
    data = current()
    problems = list(parse(query, allowed=()).problems)
    # The lock, not the data version, tells a live run from a killed one: it is in every key.
    active = writer_active(data.engine)
    runs = data.cached(
        f"recent_runs:{active}",
        lambda: recent_runs(data.engine, RUNS_SHOWN, writer_active=active),
    )
    frame = runs.copy()
    readable = _readable(data)
    frame["source"] = [readable.get(s, s) for s in frame["source"]]
    for column in ("started_at", "finished_at"):
        frame[column] = frame[column].astype(str).str[:19].replace({"NaT": "", "None": ""})
    body = (
        components.table(
            frame,
            [
                ("run", "Run"),
                ("kind", "Kind"),
                ("source", "Source"),
                ("status", "Status"),
                ("started_at", "Started (UTC)"),
                ("finished_at", "Finished (UTC)"),
                ("loaded", "Rows loaded"),
                ("rejected", "Rejected"),
                ("duplicate", "Duplicate"),
                ("error", "Message"),
            ],
            caption=f"The {min(len(runs), RUNS_SHOWN)} most recent ETL runs",
        )
        if not runs.empty
        else components.notice("No ETL runs yet: run `ironriver etl run`.", "warning")
    )
    freshness = data.cached(
        f"freshness:{active}",
        lambda: source_freshness(data.engine, data.stale_after_days, writer_active=active),
    ).copy()
    freshness["source"] = [readable.get(s, s) for s in freshness["source"]]
    stale = freshness[freshness["stale"]]
    interrupted = freshness[freshness["interrupted"]]
    freshness["state"] = [
        components.status_badge("INTERRUPTED")
        if was_interrupted
        else components.status_badge("STALE")
        if is_stale
        else "fresh"
        for was_interrupted, is_stale in zip(
            freshness["interrupted"], freshness["stale"], strict=True
        )
    ]
    freshness["last_success"] = (
        freshness["last_success"].astype(str).str[:19].replace({"NaT": "never"})
    )
    sources_table = components.table(
        freshness,
        [
            ("source", "Source"),
            ("dataset", "Dataset"),
            ("state", "State"),
            ("last_success", "Last successful run (UTC)"),
            ("age_days", "Age (days)"),
            ("rows", "Rows"),
            ("failures_since", "Failures since"),
            ("last_error", "Last error"),
        ],
        caption=f"Sources: stale after {data.stale_after_days} days without a successful run",
    )
    warning = (
        components.notice(
            f"{len(stale)} source(s) stale: {', '.join(stale['source'])}. Charts built on them "
            "carry a STALE mark.",
            "warning",
        )
        if not stale.empty
        else None
    )
    interrupted_warning = (
        components.notice(
            f"{len(interrupted)} source(s) interrupted: {', '.join(interrupted['source'])}. "
            "Their last run ended without finishing; the previous rows are still shown.",
            "warning",
        )
        if not interrupted.empty
        else None
    )
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1("Status"),
            html.P(f"Data version {data.version()}.", className="lede"),
            warning,
            interrupted_warning,
            html.H2("Sources"),
            sources_table,
            html.H2("Recent runs"),
            body,
        ],
        className="page page-status",
    )
