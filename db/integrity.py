"""Checks of what the schema leaves to the loader: traces that name a trace file that is gone."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

# traces.trace_file_id has no foreign key (migration 0004) and no index (migration 0007): the
# check reads traces once, each row's file looked up by trace_files' primary key (~50 ms per 1M
# traces on PostgreSQL, ~100 ms on SQLite), where an index would cost every load its upkeep.
# Same SQL on SQLite and PostgreSQL.
_ORPHAN_FILE_IDS = text(
    """
    SELECT DISTINCT t.trace_file_id FROM traces AS t
    WHERE NOT EXISTS (SELECT 1 FROM trace_files AS f WHERE f.id = t.trace_file_id)
    ORDER BY t.trace_file_id
    """
)


def orphan_trace_file_ids(bind: Engine | Connection) -> list[int]:
    """The trace_file_id values of traces whose trace_files row does not exist (empty when sound)."""
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return orphan_trace_file_ids(connection)
    return list(bind.execute(_ORPHAN_FILE_IDS).scalars())
