"""Checked rows as Arrow tables: the one shape they travel in from the checks to the database."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from etl.traces.columns import INSERT_COLUMNS, Row

_INTEGER_COLUMNS = frozenset({"trace_file_id", "recovery_year", "time_to_crime_days"})
# TraceRow's columns as Arrow stores them: dates as ISO text, which both databases take (SQLite
# keeps them as text; PostgreSQL's COPY parses them into its date column).
ROW_SCHEMA = pa.schema(
    [
        pa.field(name, pa.int64() if name in _INTEGER_COLUMNS else pa.string())
        for name in INSERT_COLUMNS
    ]
)


def rows_table(rows: Sequence[Row]) -> pa.Table:
    """Rows checked one by one (plain tuples in TraceRow order) as a table of ROW_SCHEMA."""
    if not rows:
        return ROW_SCHEMA.empty_table()
    columns = list(zip(*rows, strict=True))
    return pa.table(
        [
            pa.array(column, type=field.type)
            for column, field in zip(columns, ROW_SCHEMA, strict=True)
        ],
        schema=ROW_SCHEMA,
    )
