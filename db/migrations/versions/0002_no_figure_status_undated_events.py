"""a "no published figure" status of its own; undated events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD = ("VERIFIED", "DERIVED", "UNVERIFIED")
NEW = (*OLD, "NO_FIGURE")
STATUS_CHECKS = (
    ("facts", "fact_status"),
    ("estimates", "estimate_status"),
    ("events", "event_status"),
)


def _status_check(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace_checks(values: tuple[str, ...]) -> None:
    for table, name in STATUS_CHECKS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
            batch_op.create_check_constraint(name, _status_check(values))


def upgrade() -> None:
    _replace_checks(NEW)
    with op.batch_alter_table("events") as batch_op:
        batch_op.alter_column("date_start", existing_type=sa.Date(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM facts WHERE status = 'NO_FIGURE'")
    op.execute("DELETE FROM events WHERE date_start IS NULL")
    with op.batch_alter_table("events") as batch_op:
        batch_op.alter_column("date_start", existing_type=sa.Date(), nullable=False)
    _replace_checks(OLD)
