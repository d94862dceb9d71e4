"""sources.cites_source_id references sources.id on PostgreSQL too, as on SQLite and in the model

0001 declared the key with `use_alter` (a table referring to itself), which Alembic's
create_table leaves to a later ALTER that was never written: SQLite got the key inline, while
PostgreSQL had none, so a secondary source could name a source that does not exist there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:40:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_sources_cites_source_id_sources"


def upgrade() -> None:
    # Fails, and changes nothing, if a source already names a missing one: checked on creation.
    if op.get_context().dialect.name == "postgresql":
        op.create_foreign_key(op.f(FOREIGN_KEY), "sources", "sources", ["cites_source_id"], ["id"])


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint(op.f(FOREIGN_KEY), "sources", type_="foreignkey")
