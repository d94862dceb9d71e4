"""Status: the most recent ETL runs (what `ironriver etl status` prints), newest first."""

import dash
from dash import html

from dashboard import components, queries
from dashboard.data import current

dash.register_page(__name__, path="/status", title="Iron River · Status", name="Status", order=5)

RUNS_SHOWN = 50


def layout(**other: object) -> html.Div:
    data = current()
    problems = [f"unknown parameter {k}" for k in other]
    runs = data.cached("recent_runs", lambda: queries.recent_runs(data.engine, RUNS_SHOWN))
    frame = runs.copy()
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
                ("error", "Error"),
            ],
            caption=f"The {min(len(runs), RUNS_SHOWN)} most recent ETL runs",
        )
        if not runs.empty
        else components.notice("No ETL runs yet: run `ironriver etl run`.", "warning")
    )
    return html.Div(
        [
            *components.page_notices(data, problems),
            html.H1("Status"),
            html.P(f"Data version {data.version()}.", className="lede"),
            body,
        ],
        className="page page-status",
    )
