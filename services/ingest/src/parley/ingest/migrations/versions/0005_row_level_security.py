"""Row-level security on the tenant-owned tables: inbound hooks and the data keys sealing their secrets.

Revision ID: 0005

Left out on purpose: ``webhook_events`` (no tenant for WhatsApp webhooks; written by the raw asyncpg intake)
and ``channel_routes`` (looked up across tenants by phone number id to route a webhook, and a number can move
from one tenant to another). A hook delivery finds its hook by id in system scope, then checks its signature.
"""

from alembic import op

from parley.kit.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("inbound_hooks", "data_keys")


def upgrade() -> None:
    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
