"""Tenant and hook of a stored webhook (generic hooks), and replay by time range.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column("webhook_events",
                  sa.Column("tenant_id", sa.Uuid(), comment="Known at receipt for generic hooks only"),
                  schema=SCHEMA)
    op.add_column("webhook_events", sa.Column("hook_id", sa.Uuid()), schema=SCHEMA)
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_webhook_events_received_at", "webhook_events", schema=SCHEMA)
    op.drop_column("webhook_events", "hook_id", schema=SCHEMA)
    op.drop_column("webhook_events", "tenant_id", schema=SCHEMA)
