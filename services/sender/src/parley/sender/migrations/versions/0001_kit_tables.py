"""Event store (also the outbox) and inbox of the sender service.

Revision ID: 0001
"""

from parley.kit.migrations import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables("sender")


def downgrade() -> None:
    drop_kit_tables("sender")
