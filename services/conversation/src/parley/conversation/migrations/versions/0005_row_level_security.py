"""Row-level security on every tenant table: Postgres shows and accepts only the scoped tenant's rows.

Revision ID: 0005

``data_keys`` is included: the kit cipher reads and creates a tenant's key inside the caller's transaction,
which is already scoped to that tenant (request, consumer) or to the system (relay, rebuild).
"""

from alembic import op

from parley.kit.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("contacts", "conversations", "messages", "notes", "agents", "teams", "team_members", "data_keys",
          "pipeline_stages", "pipeline_leads", "contact_consents", "opt_out_keywords", "blocked_numbers")


def upgrade() -> None:
    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
