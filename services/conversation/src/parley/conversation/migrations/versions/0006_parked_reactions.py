"""Reactions that arrive before their target message are parked until it arrives (under row-level security).

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from parley.kit.rls import disable_tenant_rls, enable_tenant_rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "conversation"


def upgrade() -> None:
    op.create_table(
        "parked_reactions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("reaction_wamid", sa.String(256), nullable=False),
        sa.Column("target_wamid", sa.String(256), nullable=False),
        sa.Column("wa_id", sa.String(32), nullable=False),
        sa.Column("emoji", sa.String(32)),
        sa.Column("reacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "reaction_wamid", name="pk_parked_reactions"),
        schema=SCHEMA,
    )
    op.create_index("ix_parked_reactions_target", "parked_reactions", ["tenant_id", "target_wamid"], schema=SCHEMA)
    enable_tenant_rls(op, "parked_reactions")


def downgrade() -> None:
    disable_tenant_rls(op, "parked_reactions")
    op.drop_table("parked_reactions", schema=SCHEMA)
