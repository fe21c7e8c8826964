"""The shared inbox: sealed bodies, statuses, reactions, labels, assignment, notes, agents and teams.

Plaintext ``messages.text/content`` and ``conversations.last_message_preview`` are dropped: bodies are only
stored sealed from now on (development data written before this revision loses its bodies).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.kit.crypto import create_data_keys_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "conversation"
LABELS = postgresql.ARRAY(sa.String(64))


def _contacts() -> None:
    op.add_column("contacts", sa.Column("phone_e164", sa.String(32)), schema=SCHEMA)
    op.add_column("contacts", sa.Column("attributes", postgresql.JSONB(), nullable=False,
                                        server_default=sa.text("'{}'::jsonb")), schema=SCHEMA)
    op.add_column("contacts", sa.Column("labels", LABELS, nullable=False, server_default=sa.text("'{}'")),
                  schema=SCHEMA)
    op.add_column("contacts", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("0")),
                  schema=SCHEMA)


def _conversations() -> None:
    op.drop_column("conversations", "last_message_preview", schema=SCHEMA)
    for column in (
        sa.Column("priority", sa.String(16), nullable=False, server_default="none"),
        sa.Column("labels", LABELS, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("assignee_id", sa.Uuid()),
        sa.Column("team_id", sa.Uuid()),
        sa.Column("snoozed_until", sa.DateTime(timezone=True)),
        sa.Column("last_message_id", sa.Uuid()),
        sa.Column("last_message_type", sa.String(32)),
        sa.Column("last_message_sealed", sa.LargeBinary()),
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    ):
        op.add_column("conversations", column, schema=SCHEMA)
    op.create_unique_constraint("uq_conversations_tenant_id_contact_id_phone_number_id", "conversations",
                                ["tenant_id", "contact_id", "phone_number_id"], schema=SCHEMA)
    for name, column in (("status", "status"), ("assignee", "assignee_id"), ("team", "team_id"),
                         ("channel", "phone_number_id")):
        op.create_index(f"ix_conversations_tenant_{name}_last", "conversations",
                        ["tenant_id", column, "last_message_at", "id"], schema=SCHEMA)
    # Existing conversations carry their event-store version, so new events append after it.
    op.execute(f"""UPDATE {SCHEMA}.conversations c SET version = COALESCE((
        SELECT max(e.version) FROM {SCHEMA}.event_store e
        WHERE e.aggregate_type = 'conversation' AND e.aggregate_id = c.id::text), 0)""")
    op.create_index("ix_conversations_labels", "conversations", ["labels"], postgresql_using="gin", schema=SCHEMA)
    op.create_index("ix_conversations_snoozed", "conversations", ["snoozed_until"],
                    postgresql_where=sa.text("status = 'snoozed'"), schema=SCHEMA)


def _messages() -> None:
    op.drop_column("messages", "text", schema=SCHEMA)
    op.drop_column("messages", "content", schema=SCHEMA)
    for column in (
        sa.Column("client_message_id", sa.Uuid()),
        sa.Column("status", sa.String(16)),
        sa.Column("status_at", sa.DateTime(timezone=True)),
        sa.Column("error_code", sa.Integer()),
        sa.Column("error_message", sa.Text()),
        sa.Column("body_sealed", sa.LargeBinary()),
        sa.Column("media", postgresql.JSONB()),
        sa.Column("reply_to_message_id", sa.Uuid()),
        sa.Column("reaction", sa.String(32)),
        sa.Column("reaction_at", sa.DateTime(timezone=True)),
        sa.Column("author_id", sa.Uuid()),
    ):
        op.add_column("messages", column, schema=SCHEMA)
    op.create_index("uq_messages_tenant_client_message_id", "messages", ["tenant_id", "client_message_id"],
                    unique=True, postgresql_where=sa.text("client_message_id IS NOT NULL"), schema=SCHEMA)


def _people() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("body_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_notes_conversation_id", "notes", ["conversation_id"], schema=SCHEMA)
    op.create_table(
        "agents",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("max_open", sa.Integer(), nullable=False, server_default=sa.text("10")),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_teams_tenant_id_name"),
        schema=SCHEMA,
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_team_members_tenant_user", "team_members", ["tenant_id", "user_id"], schema=SCHEMA)


def upgrade() -> None:
    _contacts()
    _conversations()
    _messages()
    _people()
    create_data_keys_table(SCHEMA)


def downgrade() -> None:
    """Back to 0002's shape; sealed bodies do not come back as plaintext (replay the event store for that)."""
    op.drop_table("data_keys", schema=SCHEMA)
    for table in ("team_members", "teams", "agents", "notes"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_index("uq_messages_tenant_client_message_id", "messages", schema=SCHEMA)
    for column in ("client_message_id", "status", "status_at", "error_code", "error_message", "body_sealed", "media",
                   "reply_to_message_id", "reaction", "reaction_at", "author_id"):
        op.drop_column("messages", column, schema=SCHEMA)
    op.add_column("messages", sa.Column("text", sa.Text()), schema=SCHEMA)
    op.add_column("messages", sa.Column("content", postgresql.JSONB()), schema=SCHEMA)
    op.drop_constraint("uq_conversations_tenant_id_contact_id_phone_number_id", "conversations", schema=SCHEMA)
    for index in ("status", "assignee", "team", "channel"):
        op.drop_index(f"ix_conversations_tenant_{index}_last", "conversations", schema=SCHEMA)
    op.drop_index("ix_conversations_labels", "conversations", schema=SCHEMA)
    op.drop_index("ix_conversations_snoozed", "conversations", schema=SCHEMA)
    for column in ("priority", "labels", "assignee_id", "team_id", "snoozed_until", "last_message_id",
                   "last_message_type", "last_message_sealed", "version"):
        op.drop_column("conversations", column, schema=SCHEMA)
    op.add_column("conversations", sa.Column("last_message_preview", sa.String(512)), schema=SCHEMA)
    for column in ("phone_e164", "attributes", "labels", "version"):
        op.drop_column("contacts", column, schema=SCHEMA)
