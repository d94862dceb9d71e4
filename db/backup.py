"""Online backups of the SQLite database, consistent even while the dashboard reads it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine


def backup_sqlite(engine: Engine, target: Path) -> int:
    """Copy the live SQLite database to `target` with SQLite's backup API; returns its size."""
    source_path = engine.url.database
    if engine.dialect.name != "sqlite" or not source_path:
        raise ValueError("online backup is for SQLite files; use pg_dump for PostgreSQL")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    source = sqlite3.connect(f"file:{Path(source_path).resolve()}?mode=ro", uri=True)
    destination = sqlite3.connect(partial)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    # Rename last, so a failed backup never leaves a file that looks complete.
    partial.replace(target)
    return target.stat().st_size
