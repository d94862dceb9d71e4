"""Checks of what the schema leaves to the loader: traces that name a trace file that is gone."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

# traces.trace_file_id has no foreign key (migration 0004). The distinct ids are walked through
# the trace_file_id index, one `min(...) > previous` lookup per file, so the check costs one
# index descent per loaded file rather than a scan of millions of traces; same SQL on SQLite and
# PostgreSQL.
_ORPHAN_FILE_IDS = text(
    """
    WITH RECURSIVE file_ids(id) AS (
        SELECT min(trace_file_id) FROM traces
        UNION ALL
        SELECT (SELECT min(t.trace_file_id) FROM traces t WHERE t.trace_file_id > file_ids.id)
        FROM file_ids WHERE file_ids.id IS NOT NULL
    )
    SELECT id FROM file_ids
    WHERE id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM trace_files f WHERE f.id = file_ids.id)
    ORDER BY id
    """
)


def orphan_trace_file_ids(bind: Engine | Connection) -> list[int]:
    """The trace_file_id values of traces whose trace_files row does not exist (empty when sound)."""
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return orphan_trace_file_ids(connection)
    return list(bind.execute(_ORPHAN_FILE_IDS).scalars())
