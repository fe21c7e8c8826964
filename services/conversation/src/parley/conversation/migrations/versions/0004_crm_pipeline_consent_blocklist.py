"""Kanban pipeline (stages, lead cards), consent (opt-outs, keywords) and the blocklist.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "conversation"


def upgrade() -> None:
    op.create_table(
        "pipeline_stages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "position", name="uq_pipeline_stages_tenant_id_position",
                            deferrable=True, initially="DEFERRED"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_pipeline_stages_tenant_id_name"),
        schema=SCHEMA,
    )
    op.create_table(
        "pipeline_leads",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("wa_id", sa.String(32), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200)),
        sa.Column("value", sa.Numeric(14, 2)),
        sa.Column("currency", sa.String(3)),
        sa.Column("owner_id", sa.Uuid()),
        sa.Column("custom_fields", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "contact_id", name="uq_pipeline_leads_tenant_id_contact_id"),
        sa.UniqueConstraint("stage_id", "position", name="uq_pipeline_leads_stage_id_position",
                            deferrable=True, initially="DEFERRED"),
        schema=SCHEMA,
    )
    op.create_index("ix_pipeline_leads_tenant_stage_position", "pipeline_leads",
                    ["tenant_id", "stage_id", "position"], schema=SCHEMA)
    op.create_table(
        "contact_consents",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("wa_id", sa.String(32), primary_key=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("keyword", sa.String(64)),
        sa.Column("wamid", sa.String(256)),
        sa.Column("reason", sa.String(500)),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_contact_consents_opted_out", "contact_consents", ["tenant_id", "changed_at", "wa_id"],
                    postgresql_where=sa.text("opted_out"), schema=SCHEMA)
    op.create_table(
        "opt_out_keywords",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("opt_out", postgresql.JSONB(), nullable=False),
        sa.Column("opt_in", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "blocked_numbers",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("wa_id", sa.String(32), primary_key=True),
        sa.Column("reason", sa.String(500)),
        sa.Column("blocked_by", sa.Uuid()),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_blocked_numbers_tenant_blocked_at", "blocked_numbers", ["tenant_id", "blocked_at", "wa_id"],
                    schema=SCHEMA)


def downgrade() -> None:
    for table in ("blocked_numbers", "opt_out_keywords", "contact_consents", "pipeline_leads", "pipeline_stages"):
        op.drop_table(table, schema=SCHEMA)
