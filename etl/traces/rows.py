"""Checked rows as Arrow tables: the one shape they travel in from the checks to the database."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from db.models import Trace
from etl.traces.arrays import column
from etl.traces.columns import INSERT_COLUMNS, Row

# TraceRow's columns as Arrow stores them, typed from the model so that a schema change cannot
# leave them stale: integers as int64, the rest as text; dates as ISO text, which both databases
# take (SQLite keeps them as text; PostgreSQL's COPY parses them into its date column).
ROW_SCHEMA = pa.schema(
    [
        pa.field(
            name, pa.int64() if Trace.__table__.c[name].type.python_type is int else pa.string()
        )
        for name in INSERT_COLUMNS
    ]
)


def rows_table(rows: Sequence[Row], schema: pa.Schema = ROW_SCHEMA) -> pa.Table:
    """Rows checked one by one (plain tuples in TraceRow order) as a table of ROW_SCHEMA, or
    rows of some of its columns as a table of `schema`, those columns in that order."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table(
        [column(values, field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )
