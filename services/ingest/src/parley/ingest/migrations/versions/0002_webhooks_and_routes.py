"""Raw webhooks, channel routes and parked webhooks.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(2000)),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_events_status_received_at", "webhook_events", ["status", "received_at"],
                    schema=SCHEMA)
    op.create_table(
        "channel_routes",
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("waba_id", sa.String(64)),
        sa.Column("display_phone_number", sa.String(32)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "parked_webhooks",
        sa.Column("webhook_id", sa.Uuid(), primary_key=True),
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_parked_webhooks_phone_number_id", "parked_webhooks", ["phone_number_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("parked_webhooks", schema=SCHEMA)
    op.drop_table("channel_routes", schema=SCHEMA)
    op.drop_table("webhook_events", schema=SCHEMA)
