"""Channels (business numbers).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "sender"


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("waba_id", sa.String(64), nullable=False),
        sa.Column("display_phone_number", sa.String(32), nullable=False),
        sa.Column("verified_name", sa.String(256)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_channels_tenant_id", "channels", ["tenant_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("channels", schema=SCHEMA)
