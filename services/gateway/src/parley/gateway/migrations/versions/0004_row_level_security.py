"""Row-level security on every gateway table that belongs to a tenant: Postgres shows and accepts only the
scoped tenant's rows.

Revision ID: 0004
Revises: 0003

``tenants`` is keyed by ``id`` (a tenant sees only its own row). Requests of an authenticated caller run in
the caller's tenant scope; the few lookups that must find a row before its tenant is known (login by e-mail,
an API key or a refresh or invitation token by its hash, the platform-wide unique e-mail) declare system scope
for that one query (``parley.gateway.scopes``). The kit's event store, outbox and inbox stay readable across
tenants for the relay and ``rebuild``, as in every service.
"""

from alembic import op

from parley.kit.rls import disable_tenant_rls, enable_tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("users", "invitations", "api_keys", "refresh_tokens")


def upgrade() -> None:
    enable_tenant_rls(op, "tenants", column="id")
    for table in TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(op, table)
    disable_tenant_rls(op, "tenants")
