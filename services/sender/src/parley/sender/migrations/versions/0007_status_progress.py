"""How far the sender has consumed Meta's statuses, so an in-doubt send is resent only once they are in.

Revision ID: 0007

``status_progress``: per partition of ``message.status``, a time before which every status published
has been processed. ``outbound_messages.watermark_passed_at``: when the sweeper first saw a later Meta
status of the message's number; the send is resent only once every partition is processed past it.
Operational rows (no tenant data): not under row-level security.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "sender"


def upgrade() -> None:
    op.create_table(
        "status_progress",
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.add_column("outbound_messages", sa.Column("watermark_passed_at", sa.DateTime(timezone=True)), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("outbound_messages", "watermark_passed_at", schema=SCHEMA)
    op.drop_table("status_progress", schema=SCHEMA)
