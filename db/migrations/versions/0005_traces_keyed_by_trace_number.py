"""traces keyed by trace_number: the unused surrogate id and its sequence are gone

The trace number is a record's natural key, unique across loads, and nothing referenced
traces.id. On PostgreSQL the surrogate cost a sequence call and a second btree per inserted row:
the primary key now is the unique index trace_number already needed (bench/README.md, the
PostgreSQL loader). SQLite keeps a rowid table; its unique index on trace_number becomes the
primary key's, so a load maintains the same two indexes as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PRIMARY_KEY = "pk_traces"
UNIQUE_TRACE_NUMBER = "uq_traces_trace_number"


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode, once, rows copied in rowid order); PostgreSQL alters
    # it in place: dropping the column drops the sequence it owns, and only the new primary
    # key's index is built.
    with op.batch_alter_table("traces") as batch_op:
        batch_op.drop_constraint(op.f(UNIQUE_TRACE_NUMBER), type_="unique")
        batch_op.drop_constraint(op.f(PRIMARY_KEY), type_="primary")
        batch_op.drop_column("id")
        batch_op.create_primary_key(op.f(PRIMARY_KEY), ["trace_number"])


def downgrade() -> None:
    # The ids are numbered anew, in the table's physical order (the order rows were loaded in,
    # but for rows moved by updates, which the loader never makes).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f(PRIMARY_KEY), "traces", type_="primary")
        op.execute("ALTER TABLE traces ADD COLUMN id SERIAL")
        op.create_primary_key(op.f(PRIMARY_KEY), "traces", ["id"])
        op.create_unique_constraint(op.f(UNIQUE_TRACE_NUMBER), "traces", ["trace_number"])
        return
    # SQLite fills an INTEGER PRIMARY KEY column left out of the rebuild's INSERT from the rowid.
    with op.batch_alter_table("traces") as batch_op:
        batch_op.drop_constraint(op.f(PRIMARY_KEY), type_="primary")
        batch_op.add_column(
            sa.Column("id", sa.Integer(), nullable=False), insert_before="trace_file_id"
        )
        batch_op.create_primary_key(op.f(PRIMARY_KEY), ["id"])
        batch_op.create_unique_constraint(op.f(UNIQUE_TRACE_NUMBER), ["trace_number"])
