"""Row-level security on the sender: Postgres itself keeps tenants apart, even for a query that forgets its filter.

Everything runs through the sender service's own role (owner of its schema, NOBYPASSRLS). The send workers
serve every tenant at once (system scope); requests and consumers see only their tenant.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from parley.kit.auth import Principal
from parley.sender.models import Channel, ChannelHealth, OutboundMessage, data_keys
from tests.integration.sender.conftest import Harness

pytestmark = pytest.mark.integration

KIT_TABLES = {"event_store", "outbox", "inbox"}  # read across tenants by the relay and rebuild (system scope)


def _registration(number: str, token: str) -> dict[str, str]:
    return {"phone_number_id": number, "waba_id": "4000", "display_phone_number": "+1 555 0100",
            "access_token": token}


async def _two_tenants(sender: Harness) -> list[tuple[uuid.UUID, str, str]]:
    """Tenants A and B, each with a number (and its token) and a message the cross-tenant send loop has sent."""
    tenants = []
    for _ in range(2):
        sender.principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")
        number, token = await sender.sandbox_number()
        registered = await sender.client.post("/v1/channels", json=_registration(number, token))
        assert registered.status_code == 201, registered.text
        message = await sender.settle(await sender.request(number), "accepted")
        assert message.wamid
        tenants.append((sender.principal.tenant_id, number, token))
    return tenants


async def _tenants_seen(sender: Harness, column: object, **scope: object) -> set[uuid.UUID]:
    """The tenants whose rows one transaction sees, queried WITHOUT a tenant filter."""
    async with sender.service.db.unit_of_work(**scope) as session:  # type: ignore[arg-type]
        return set((await session.execute(select(column).distinct())).scalars())  # type: ignore[call-overload]


async def test_an_unfiltered_query_sees_only_the_scoped_tenants_rows(sender: Harness) -> None:
    (a, _, _), (b, _, _) = await _two_tenants(sender)
    for column in (Channel.tenant_id, OutboundMessage.tenant_id, ChannelHealth.tenant_id, data_keys.c.tenant_id):
        assert {a, b} <= await _tenants_seen(sender, column, system=True), column
        assert await _tenants_seen(sender, column, tenant_id=a) == {a}, column
        assert await _tenants_seen(sender, column, tenant_id=b) == {b}, column
        assert await _tenants_seen(sender, column) == set(), f"{column}: an unscoped transaction sees nothing"

    async with sender.service.db.unit_of_work(tenant_id=a) as session:
        paused = await session.execute(update(Channel).values(paused=True))
        assert paused.rowcount == 1, "an unfiltered UPDATE reaches only the scoped tenant's number"
    sender.principal = Principal(b, uuid.uuid4(), "owner")
    [channel] = (await sender.client.get("/v1/channels")).json()["data"]
    assert channel["paused"] is False, "tenant B's number is untouched"


async def test_writing_another_tenants_row_is_refused_and_a_taken_number_is_still_a_conflict(sender: Harness) -> None:
    (a, number_a, _), (b, number_b, token_b) = await _two_tenants(sender)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with sender.service.db.unit_of_work(tenant_id=a) as session:
            await session.execute(update(Channel).where(Channel.tenant_id == a).values(tenant_id=b))
    async with sender.service.db.unit_of_work(tenant_id=a) as session:
        assert await session.get(Channel, number_b) is None, "B's number is invisible to A, even by its key"
        gone = await session.execute(Channel.__table__.delete().where(Channel.phone_number_id == number_b))
        assert gone.rowcount == 0

    sender.principal = Principal(a, uuid.uuid4(), "owner")
    assert [c["phone_number_id"] for c in (await sender.client.get("/v1/channels")).json()["data"]] == [number_a]
    assert (await sender.client.post(f"/v1/channels/{number_b}/pause")).status_code == 404
    taken = await sender.client.post("/v1/channels", json=_registration(number_b, token_b))
    assert taken.status_code == 409, "B's number is still taken although A cannot see its row"
    assert taken.json()["success"] is False


async def test_every_tenant_table_of_the_service_is_under_a_forced_policy(sender: Harness) -> None:
    async with sender.service.db.unit_of_work() as session:
        rows = (await session.execute(text(
            "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity, "
            "       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
            "WHERE n.nspname = 'sender' AND c.relkind IN ('r', 'p')"))).all()
    unprotected = sorted(name for name, forced, policy in rows if not (forced and policy) and name not in KIT_TABLES)
    assert {name for name, *_ in rows} >= {"channels", "outbound_messages", "tenant_plans", "data_keys"}
    assert unprotected == []
