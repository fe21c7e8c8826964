"""Row-level security on every tenant table: Postgres shows and accepts only the scoped tenant's rows.

Revision ID: 0005

The send workers, the in-doubt sweeper and the channel gauges work across tenants and declare system scope;
requests and consumers are scoped to their tenant. ``data_keys`` is read by the kit cipher inside those
transactions, so it is protected too.
"""

from alembic import op

from parley.kit.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("channels", "outbound_messages", "pools", "pool_members", "channel_health", "customer_contacts",
          "tenant_plans", "data_keys")


def upgrade() -> None:
    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
