"""Kit tables plus two projections of the scratch service, in the schema the test chose.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import UUID

from parley.kit.migrations import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = str(context.config.attributes["schema"])
    create_kit_tables(schema)
    op.create_table(
        "counters",
        sa.Column("subject", sa.String(256), primary_key=True),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("last_event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("last_label", sa.String(256), nullable=True),
        schema=schema,
    )
    op.create_table(
        "effects",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("label", sa.String(256), nullable=True),
        schema=schema,
    )


def downgrade() -> None:
    schema = str(context.config.attributes["schema"])
    op.drop_table("effects", schema=schema)
    op.drop_table("counters", schema=schema)
    drop_kit_tables(schema)
