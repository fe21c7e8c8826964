"""Row-level security on the gateway's tables: Postgres keeps tenants apart even for a query that forgets its filter.

Everything runs through the gateway's own role (owner of its schema, NOBYPASSRLS), on the running platform's
database, with tenants, users, invitations, API keys and sessions made through the public API.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.exc import DBAPIError

from parley.gateway.models import ApiKey, Invitation, RefreshToken, Tenant, User
from parley.kit import rls
from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import Account, sign_up

pytestmark = pytest.mark.integration

KIT_TABLES = {"event_store", "outbox", "inbox"}


async def _account_with_everything(http: httpx.AsyncClient) -> Account:
    """A signed-up tenant with an open invitation, an API key and a second session."""
    owner = await sign_up(http)
    invited = await http.post("/v1/invitations", headers=owner.headers,
                              json={"email": f"agent-{uuid.uuid4().hex[:8]}@example.com", "role": "agent"})
    assert invited.status_code == 201, invited.text
    key = await http.post("/v1/api-keys", headers=owner.headers,
                          json={"name": "sync", "scopes": ["conversations:read"]})
    assert key.status_code == 201, key.text
    again = await http.post("/v1/auth/login", json={"email": owner.credentials.email,
                                                     "password": owner.credentials.password})
    assert again.status_code == 200, again.text
    return owner


class _Undo(Exception):
    """Rolls back a transaction whose writes were only there to be looked at."""


async def _tenants_seen(gateway: Service, table: Any, **scope: Any) -> set[uuid.UUID]:
    """The tenants whose rows one transaction sees, queried WITHOUT a tenant filter."""
    column = table.id if table is Tenant else table.tenant_id
    async with gateway.db.unit_of_work(**scope) as session:
        return set((await session.execute(select(column).distinct())).scalars())


async def test_an_unfiltered_query_sees_only_the_scoped_tenants_rows(http: httpx.AsyncClient,
                                                                     gateway: Service) -> None:
    a = (await _account_with_everything(http)).credentials.tenant_id
    b = (await _account_with_everything(http)).credentials.tenant_id
    for table in (Tenant, User, Invitation, ApiKey, RefreshToken):
        assert {a, b} <= await _tenants_seen(gateway, table, system=True), table
        assert await _tenants_seen(gateway, table, tenant_id=a) == {a}, table
        assert await _tenants_seen(gateway, table, tenant_id=b) == {b}, table
        assert await _tenants_seen(gateway, table) == set(), f"{table}: an unscoped transaction sees no tenant's rows"

    # Written straight into the projection, so rolled back at the end: only the projector writes these
    # tables for real, and a rebuild (another test) must find them as the events left them.
    with pytest.raises(_Undo):
        async with gateway.db.unit_of_work(tenant_id=a) as session:
            renamed = await session.execute(update(User).values(name="Renamed"))
            assert renamed.rowcount == 1, "an unfiltered UPDATE reaches only the scoped tenant's owner"
            revoked = await session.execute(update(RefreshToken).values(revoked_at=func.now()))
            assert revoked.rowcount == 2, "and only its own two sessions"
            await rls.scope_to_tenant(session, b)  # the same transaction, which would see its own writes
            names = set((await session.execute(select(User.name))).scalars())
            live = (await session.execute(select(func.count()).select_from(RefreshToken)
                                          .where(RefreshToken.revoked_at.is_(None)))).scalar_one()
            assert "Renamed" not in names and live == 2, "tenant B's rows are untouched"
            raise _Undo


async def test_writing_another_tenants_row_is_refused(http: httpx.AsyncClient, gateway: Service) -> None:
    a = (await sign_up(http)).credentials.tenant_id
    b = (await sign_up(http)).credentials.tenant_id
    users: Table = User.__table__  # type: ignore[assignment]

    def a_user_of(tenant: uuid.UUID) -> Any:
        return users.insert().values(id=uuid.uuid4(), tenant_id=tenant, email=f"x-{uuid.uuid4().hex}@example.com",
                                     role="agent", status="active", created_at=func.now())

    with pytest.raises(DBAPIError, match="row-level security"):
        async with gateway.db.unit_of_work(tenant_id=a) as session:
            await session.execute(a_user_of(b))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with gateway.db.unit_of_work(tenant_id=a) as session:  # moving A's owner into B is refused too
            await session.execute(update(User).values(tenant_id=b))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with gateway.db.unit_of_work() as session:
            await session.execute(a_user_of(a))
    async with gateway.db.unit_of_work(tenant_id=a) as session:
        deleted = await session.execute(users.delete().where(User.tenant_id == b))
        assert deleted.rowcount == 0, "tenant A cannot delete tenant B's users even by naming them"
        suspended = await session.execute(update(Tenant).where(Tenant.id == b).values(status="suspended"))
        assert suspended.rowcount == 0, "nor suspend tenant B"


async def test_every_tenant_table_of_the_gateway_is_under_a_forced_policy(gateway: Service) -> None:
    async with gateway.db.unit_of_work() as session:
        rows = (await session.execute(text(
            "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity, "
            "       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'gateway' AND c.relkind IN ('r', 'p') AND (c.relname = 'tenants' OR EXISTS ("
            "  SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' "
            "  AND NOT a.attisdropped))"))).all()
        bypass = (await session.execute(text(
            "SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user"))).scalar_one()
    unprotected = sorted(name for name, forced, policy in rows if not (forced and policy) and name not in KIT_TABLES)
    assert {name for name, *_ in rows} >= {"tenants", "users", "invitations", "api_keys", "refresh_tokens"}
    assert unprotected == []
    assert bypass is False, "the gateway role must not bypass row-level security"
