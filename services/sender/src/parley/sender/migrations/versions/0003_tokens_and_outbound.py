"""Encrypted channel tokens, tenant data keys and the outbound message queue.

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

SCHEMA = "sender"


def upgrade() -> None:
    op.add_column("channels", sa.Column("access_token_ciphertext", sa.LargeBinary(),
                                        comment="AES-GCM under the tenant's data key, AAD = phone_number_id"),
                  schema=SCHEMA)
    create_data_keys_table(SCHEMA)
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("client_message_id", sa.Uuid(), nullable=False),
        sa.Column("phone_number_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wamid", sa.String(256)),
        sa.Column("error_code", sa.Integer()),
        sa.Column("error_title", sa.String(256)),
        sa.Column("error_details", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "client_message_id",
                            name="uq_outbound_messages_tenant_id_client_message_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_outbound_messages_due", "outbound_messages", ["next_attempt_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'queued'"))
    op.create_index("ix_outbound_messages_in_flight", "outbound_messages", ["status", "updated_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status IN ('sending', 'in_doubt')"))


def downgrade() -> None:
    op.drop_table("outbound_messages", schema=SCHEMA)
    op.drop_table("data_keys", schema=SCHEMA)
    op.drop_column("channels", "access_token_ciphertext", schema=SCHEMA)
