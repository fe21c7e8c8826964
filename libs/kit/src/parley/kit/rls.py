"""Row-level security: Postgres enforces tenant isolation again, even where a query forgets its filter.

Every service role owns its tables, so a policy only binds it when the table is FORCEd. The policy
reads two transaction-local settings that the kit sets for you:

- ``parley.tenant_id``: the tenant whose rows the transaction may see and write;
- ``parley.rls_bypass = 'on'``: system scope (relays, cross-tenant workers, operator tools): every row.

A transaction with neither sees no row and may write none. Both are set with ``set_config(..., true)``
(``SET LOCAL``), so they end with the transaction and never leak to the next user of a pooled connection.

For service authors:

- Migration: ``enable_tenant_rls(op, "contacts")`` after ``op.create_table(...)`` (``disable_tenant_rls``
  in ``downgrade``). The table needs a ``tenant_id uuid`` column (``column=`` names another).
- HTTP: take ``TenantSession`` (``parley.kit.service``) instead of ``Session``; its transaction is scoped to
  the authenticated principal's tenant. ``SystemSession`` is for the rare cross-tenant endpoint.
- Consumers: nothing to do. The runner scopes each event's work to ``envelope.tenantid`` (system scope
  for platform events without a tenant); a ``batch_handler`` is called once per tenant of a batch.
- Background jobs: ``db.unit_of_work(tenant_id=...)`` or ``db.unit_of_work(system=True)``; inside an
  open transaction ``await scope(session, tenant_id)`` switches scope for the statements that follow.
- The outbox relay and ``rebuild`` run in system scope.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

TENANT_SETTING = "parley.tenant_id"
BYPASS_SETTING = "parley.rls_bypass"
POLICY = "parley_tenant_isolation"

_SCOPE = text("select set_config('parley.tenant_id', :tenant, true), set_config('parley.rls_bypass', :bypass, true)")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def policy_predicate(column: str = "tenant_id") -> str:
    """True in system scope, or for rows of the scoped tenant; never for an unset or empty tenant."""
    return (f"(current_setting('{BYPASS_SETTING}', true) = 'on' OR "
            f"{_quote(column)} = nullif(current_setting('{TENANT_SETTING}', true), '')::uuid)")


def _qualified(table: str, schema: str | None) -> str:
    return f"{_quote(schema)}.{_quote(table)}" if schema else _quote(table)


def enable_tenant_rls(op: Any, table: str, column: str = "tenant_id", *, schema: str | None = None) -> None:
    """Alembic: ENABLE + FORCE row level security on ``table`` with the tenant isolation policy.

    ``schema`` defaults to the migration's search path (the service's own schema).
    """
    name = _qualified(table, schema)
    predicate = policy_predicate(column)
    op.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {name}")
    op.execute(f"CREATE POLICY {POLICY} ON {name} FOR ALL USING {predicate} WITH CHECK {predicate}")


def disable_tenant_rls(op: Any, table: str, *, schema: str | None = None) -> None:
    """Alembic downgrade of ``enable_tenant_rls``."""
    name = _qualified(table, schema)
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {name}")
    op.execute(f"ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {name} DISABLE ROW LEVEL SECURITY")


def scope_parameters(tenant_id: UUID | None) -> dict[str, str]:
    """Tenant scope for a tenant, system scope for ``None`` (a platform event, a relay, an operator)."""
    if tenant_id is None:
        return {"tenant": "", "bypass": "on"}
    return {"tenant": str(tenant_id), "bypass": "off"}


async def scope(session: AsyncSession | AsyncConnection, tenant_id: UUID | None) -> None:
    """Scope the rest of the open transaction to ``tenant_id`` (``None``: system scope)."""
    await session.execute(_SCOPE, scope_parameters(tenant_id))


async def scope_to_tenant(session: AsyncSession | AsyncConnection, tenant_id: UUID) -> None:
    """Only ``tenant_id``'s rows, for the rest of the open transaction."""
    if tenant_id is None:
        raise ValueError("a tenant scope needs a tenant id; use scope_to_system for cross-tenant work")
    await scope(session, tenant_id)


async def scope_to_system(session: AsyncSession | AsyncConnection) -> None:
    """Every tenant's rows, for the rest of the open transaction (declare it: it is never the default)."""
    await scope(session, None)
