"""traces: trace_number compared bytewise on PostgreSQL, and no index on trace_file_id

PostgreSQL compared the key with the database's collation: a libc locale (even C.UTF-8 in
PostgreSQL 15) goes through strcoll for every btree comparison, where "C" compares bytes; the
loader sorts each batch bytewise, and a reload looks every trace number up in the key's index
(backend CPU for the lookups of a 1M-row re-export: 1.95 -> 1.66 s). SQLite already compares
text bytewise (BINARY): nothing changes there. Trace numbers are ASCII, which C.UTF-8 and C
order alike.

The index on trace_file_id served only `ironriver etl status --check` (orphans, db/integrity.py),
and cost every load's backend a fifth of its CPU (COPY of 1M checked rows: 1.91 -> 1.51 s); the
check now scans traces instead (~50 ms per 1M traces on PostgreSQL, ~100 ms on SQLite).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FILE_INDEX = "ix_traces_trace_file_id"


def upgrade() -> None:
    # Both in place, rows untouched: dropping the index first leaves only the primary key's
    # index to be rebuilt by the collation change (the table itself is not rewritten).
    op.drop_index(op.f(FILE_INDEX), table_name="traces")
    if op.get_context().dialect.name == "postgresql":
        op.alter_column(
            "traces",
            "trace_number",
            type_=sa.String(64, collation="C"),
            existing_type=sa.String(64),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        # Without COLLATE the column takes the database's default collation again.
        op.alter_column(
            "traces",
            "trace_number",
            type_=sa.String(64),
            existing_type=sa.String(64, collation="C"),
            existing_nullable=False,
        )
    op.create_index(op.f(FILE_INDEX), "traces", ["trace_file_id"], unique=False)
