"""traces.trace_file_id without a row-level foreign key: the loader guarantees and checks it

PostgreSQL checks a foreign key with a trigger query per inserted row: for a 1M-row load that
was about half of the server's work (COPY of the same checked rows: 5.1-6.1 s with it, 2.6-2.9 s
without; bench/README.md). Every row of a load carries the id of the trace_files row the same
transaction inserted, and nothing deletes trace files; the loader refuses a batch naming any
other file, and `ironriver etl status --check` reports orphans (db/integrity.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:45:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_traces_trace_file_id_trace_files"


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode, once); PostgreSQL drops the constraint in place.
    with op.batch_alter_table("traces") as batch_op:
        batch_op.drop_constraint(op.f(FOREIGN_KEY), type_="foreignkey")


def downgrade() -> None:
    # Fails, and changes nothing, if an orphan trace exists: the constraint is checked on creation.
    with op.batch_alter_table("traces") as batch_op:
        batch_op.create_foreign_key(op.f(FOREIGN_KEY), "trace_files", ["trace_file_id"], ["id"])
