"""Plans on tenants, user names and status, invitations, API keys and refresh-token sessions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "gateway"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], [f"{SCHEMA}.tenants.id"], name=f"fk_{table}_tenant_id_tenants")


def upgrade() -> None:
    op.add_column("tenants", sa.Column("limits", JSONB, nullable=False, server_default="{}"), schema=SCHEMA)
    op.add_column("tenants", sa.Column("features", JSONB, nullable=False, server_default="[]"), schema=SCHEMA)
    op.alter_column("users", "password_hash", nullable=True, schema=SCHEMA)
    op.add_column("users", sa.Column("name", sa.String(200), nullable=True), schema=SCHEMA)
    op.add_column("users", sa.Column("status", sa.String(16), nullable=False, server_default="active"),
                  schema=SCHEMA)
    op.create_table(
        "invitations",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", UUID(as_uuid=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        _tenant_fk("invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
        schema=SCHEMA,
    )
    op.create_index("ix_invitations_tenant_id", "invitations", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "api_keys",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", JSONB, nullable=False),
        sa.Column("rate_per_minute", sa.Integer, nullable=True),
        sa.Column("created_by", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        _tenant_fk("api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        schema=SCHEMA,
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("family_id", UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        # No foreign key to tenants: ``rebuild`` truncates the projections and keeps the sessions.
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
        schema=SCHEMA,
    )
    for column in ("family_id", "tenant_id", "user_id"):
        op.create_index(f"ix_refresh_tokens_{column}", "refresh_tokens", [column], schema=SCHEMA)


def downgrade() -> None:
    for table in ("refresh_tokens", "api_keys", "invitations"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("users", "status", schema=SCHEMA)
    op.drop_column("users", "name", schema=SCHEMA)
    op.alter_column("users", "password_hash", nullable=False, schema=SCHEMA)
    op.drop_column("tenants", "features", schema=SCHEMA)
    op.drop_column("tenants", "limits", schema=SCHEMA)
