"""Per-number throughput and pause, sender pools, health statistics, customer windows, tenant plans, and
the in-doubt watermark (attempt times, latest Meta status time per number).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "sender"


def upgrade() -> None:
    op.add_column("channels", sa.Column("throughput_per_second", sa.Float()), schema=SCHEMA)
    op.add_column("channels", sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
                  schema=SCHEMA)
    op.add_column("channels", sa.Column("paused_reason", sa.Text()), schema=SCHEMA)
    op.add_column("outbound_messages", sa.Column("pool_id", sa.Uuid()), schema=SCHEMA)
    op.add_column("outbound_messages", sa.Column("attempted_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.create_table(
        "pools",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.create_table(
        "pool_members",
        sa.Column("pool_id", sa.Uuid(), primary_key=True),
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "channel_health",
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False, index=True),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in ("accepted", "failed", "delivered", "read", "consecutive_failures")),
        sa.Column("health_score", sa.Float(), nullable=False, server_default="100"),
        sa.Column("last_error_code", sa.Integer()),
        sa.Column("last_failure_at", sa.DateTime(timezone=True)),
        sa.Column("slowed_until", sa.DateTime(timezone=True)),
        sa.Column("slowed_reason", sa.Text()),
        sa.Column("status_watermark", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "customer_contacts",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("wa_id", sa.String(32), primary_key=True),
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True)),
        sa.Column("last_outbound_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "tenant_plans",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("limits", postgresql.JSONB(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("tenant_plans", "customer_contacts", "channel_health", "pool_members", "pools"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("outbound_messages", "attempted_at", schema=SCHEMA)
    op.drop_column("outbound_messages", "pool_id", schema=SCHEMA)
    for column in ("paused_reason", "paused", "throughput_per_second"):
        op.drop_column("channels", column, schema=SCHEMA)
