"""Outbound message bodies encrypted at rest: ``body_sealed`` (AES-256-GCM under the tenant's data key).

Revision ID: 0006

New messages keep their Graph request body only sealed; ``body`` (JSON in clear) stays readable, and
nullable, for the messages queued before this revision, which are sent from it as before. A migration
cannot seal them itself: it has no access to the master key.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "sender"


def upgrade() -> None:
    op.add_column("outbound_messages", sa.Column("body_sealed", sa.LargeBinary()), schema=SCHEMA)
    op.alter_column("outbound_messages", "body", existing_type=postgresql.JSONB(), nullable=True, schema=SCHEMA)


def downgrade() -> None:
    # Sealed bodies cannot be put back in clear here: those messages lose their content.
    op.execute(f"UPDATE {SCHEMA}.outbound_messages SET body = '{{}}'::jsonb WHERE body IS NULL")
    op.alter_column("outbound_messages", "body", existing_type=postgresql.JSONB(), nullable=False, schema=SCHEMA)
    op.drop_column("outbound_messages", "body_sealed", schema=SCHEMA)
