"""Generic inbound hooks and the tenants' data keys that encrypt their secrets.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parley.kit.crypto import create_data_keys_table, drop_data_keys_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    create_data_keys_table(SCHEMA)
    op.create_table(
        "inbound_hooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("event", sa.String(128), nullable=False),
        sa.Column("signature_scheme", sa.String(32), nullable=False),
        sa.Column("signature_header", sa.String(100)),
        sa.Column("signature_encoding", sa.String(8)),
        sa.Column("signature_prefix", sa.String(32)),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False,
                  comment="AES-GCM under the tenant's data key"),
        sa.Column("previous_secret_ciphertext", sa.LargeBinary()),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("mapping", postgresql.JSONB(), nullable=False),
        sa.Column("default_region", sa.String(2)),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_hooks"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_inbound_hooks_tenant_id_name"),
        schema=SCHEMA,
    )
    op.create_index("ix_inbound_hooks_tenant_id_id", "inbound_hooks", ["tenant_id", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("inbound_hooks", schema=SCHEMA)
    drop_data_keys_table(SCHEMA)
