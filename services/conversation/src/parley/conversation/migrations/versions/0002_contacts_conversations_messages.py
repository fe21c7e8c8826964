"""Contacts, conversations and the message timeline.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "conversation"


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("wa_id", sa.String(32), nullable=False),
        sa.Column("profile_name", sa.String(256)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "wa_id", name="uq_contacts_tenant_id_wa_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_contacts_tenant_id", "contacts", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("wa_id", sa.String(32), nullable=False),
        sa.Column("phone_number_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_preview", sa.String(512)),
        sa.Column("window_expires_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("ix_conversations_tenant_last_message", "conversations",
                    ["tenant_id", "last_message_at", "id"], schema=SCHEMA)
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("wamid", sa.String(256)),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("content", postgresql.JSONB()),
        sa.Column("reply_to_wamid", sa.String(256)),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "wamid", name="uq_messages_tenant_id_wamid"),
        schema=SCHEMA,
    )
    op.create_index("ix_messages_conversation_sent_at", "messages", ["conversation_id", "sent_at", "id"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("messages", schema=SCHEMA)
    op.drop_table("conversations", schema=SCHEMA)
    op.drop_table("contacts", schema=SCHEMA)
