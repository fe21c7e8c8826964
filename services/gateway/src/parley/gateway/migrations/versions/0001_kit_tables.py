"""Event store (also the outbox) and inbox of the gateway service.

Revision ID: 0001
"""

from parley.kit.migrations import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables("gateway")


def downgrade() -> None:
    drop_kit_tables("gateway")
