"""Status: how fresh each source is, and the most recent ETL runs (as `ironriver etl status`)."""

from typing import Any

import pandas as pd
from dash import html

from dashboard import components, text
from dashboard.data import current
from dashboard.i18n import N_, _, ngettext
from dashboard.site import register_page
from db import queries
from db.freshness import recent_runs, source_freshness
from db.lock import writer_active
from db.viewstate import parse

register_page(__name__, path="/status", title=N_("Iron River · Status"), name=N_("Status"), order=5)

RUNS_SHOWN = 50
# Embedded sources without a dataset of their own, by what readers would call them.
READABLE_SOURCES = {"reference": N_("State codes (USPS, INEGI)")}
# A run's kind and status codes (db.models, db.freshness) in words.
RUN_WORDS = {
    "embedded": N_("embedded"),
    "traces": N_("traces"),
    "running": N_("running"),
    "loaded": N_("loaded"),
    "skipped": N_("skipped"),
    "failed": N_("failed"),
    "refused": N_("refused"),
    "interrupted": N_("interrupted"),
    # The message db.freshness gives a run that ended without finishing.
    "interrupted: the process ended before the run finished": N_(
        "interrupted: the process ended before the run finished"
    ),
}


def _words(value: object) -> object:
    """A run code (or the interrupted-run message) in words of the page's language."""
    return _(RUN_WORDS[value]) if isinstance(value, str) and value in RUN_WORDS else value


def _duration(started: object, finished: object) -> str:
    """How long a finished run took: "0.4 s", "12 s", "3 min 5 s", "1 h 2 min"."""
    if started is None or finished is None or pd.isna(started) or pd.isna(finished):  # type: ignore[call-overload]
        return ""
    seconds = (pd.Timestamp(finished) - pd.Timestamp(started)).total_seconds()
    if seconds < 10:
        return f"{max(seconds, 0):.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _readable(data: Any) -> dict[str, str]:
    """Source module -> the title of the dataset it loads: readers never see module names."""
    infos = data.cached("dataset_infos", lambda: queries.dataset_infos(data.engine))
    names = {
        module: _(title)
        for module, title in zip(infos["source_module"], infos["title"], strict=True)
    }
    return {**{k: _(v) for k, v in READABLE_SOURCES.items()}, **names}


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
    frame["duration"] = [
        _duration(s, f) for s, f in zip(frame["started_at"], frame["finished_at"], strict=True)
    ]
    for column in ("started_at", "finished_at"):
        frame[column] = [text.format_when(v) for v in frame[column]]
    for column in ("kind", "status", "error"):
        frame[column] = [_words(v) for v in frame[column]]
    body = (
        components.table(
            frame,
            [
                ("run", _("Run")),
                ("kind", _("Kind")),
                ("source", _("Source")),
                ("status", _("Status")),
                ("started_at", _("Started (UTC)")),
                ("finished_at", _("Finished (UTC)")),
                ("duration", _("Duration")),
                ("loaded", _("Rows loaded")),
                ("rejected", _("Rejected")),
                ("duplicate", _("Duplicate")),
                ("error", _("Message")),
            ],
            caption=ngettext(
                "The most recent ETL run",
                "The {count} most recent ETL runs",
                min(len(runs), RUNS_SHOWN),
            ).format(count=min(len(runs), RUNS_SHOWN)),
        )
        if not runs.empty
        else components.notice(_("No ETL runs yet: run `ironriver etl run`."), "warning")
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
        else _("fresh")
        for was_interrupted, is_stale in zip(
            freshness["interrupted"], freshness["stale"], strict=True
        )
    ]
    freshness["last_success"] = [
        text.format_when(v) or _("never") for v in freshness["last_success"]
    ]
    freshness["last_error"] = [_words(v) for v in freshness["last_error"]]
    sources_table = components.table(
        freshness,
        [
            ("source", _("Source")),
            ("dataset", _("Dataset")),
            ("state", _("State")),
            ("last_success", _("Last successful run (UTC)")),
            ("age_days", _("Age (days)")),
            ("rows", _("Rows")),
            ("failures_since", _("Failures since")),
            ("last_error", _("Last error")),
        ],
        caption=_("Sources: stale after {days} days without a successful run").format(
            days=data.stale_after_days
        ),
    )
    warning = (
        components.notice(
            ngettext(
                "{count} stale source: {sources}. Charts built on it carry a STALE mark.",
                "{count} stale sources: {sources}. Charts built on them carry a STALE mark.",
                len(stale),
            ).format(count=len(stale), sources=", ".join(stale["source"])),
            "warning",
        )
        if not stale.empty
        else None
    )
    interrupted_warning = (
        components.notice(
            ngettext(
                "{count} interrupted source: {sources}. Its last run ended without finishing; "
                "its previous rows are still shown.",
                "{count} interrupted sources: {sources}. Their last run ended without "
                "finishing; the previous rows are still shown.",
                len(interrupted),
            ).format(count=len(interrupted), sources=", ".join(interrupted["source"])),
            "warning",
        )
        if not interrupted.empty
        else None
    )
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1(_("Status")),
            html.P(_("Data version {version}.").format(version=data.version()), className="lede"),
            warning,
            interrupted_warning,
            html.H2(_("Sources")),
            sources_table,
            html.H2(_("Recent runs")),
            body,
        ],
        className="page page-status",
    )
