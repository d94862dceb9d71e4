"""ISO 3166-2 codes of Mexican states, so downloads name each INEGI code's state unambiguously

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mx_states") as batch_op:
        batch_op.add_column(sa.Column("iso_3166_2", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mx_states") as batch_op:
        batch_op.drop_column("iso_3166_2")
