"""A throwaway tenant table under row-level security, to prove the kit's RLS primitives.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import UUID

from parley.kit.rls import disable_tenant_rls, enable_tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = str(context.config.attributes["schema"])
    op.create_table(
        "tenant_notes",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("body", sa.String(256), nullable=False),
        schema=schema,
    )
    enable_tenant_rls(op, "tenant_notes", schema=schema)


def downgrade() -> None:
    schema = str(context.config.attributes["schema"])
    disable_tenant_rls(op, "tenant_notes", schema=schema)
    op.drop_table("tenant_notes", schema=schema)
