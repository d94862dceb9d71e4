"""What the ETL did lately: recent runs for `ironriver etl status` and the dashboard."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from db.models import EtlRun


def recent_runs(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The newest `limit` runs, newest first."""
    query = (
        select(
            EtlRun.id.label("run"),
            EtlRun.kind,
            EtlRun.source,
            EtlRun.status,
            EtlRun.started_at,
            EtlRun.finished_at,
            EtlRun.rows_loaded.label("loaded"),
            EtlRun.rows_rejected.label("rejected"),
            EtlRun.rows_duplicate.label("duplicate"),
            EtlRun.error,
        )
        .order_by(EtlRun.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    frame["status"] = frame["status"].map(lambda s: getattr(s, "value", s))
    return frame
