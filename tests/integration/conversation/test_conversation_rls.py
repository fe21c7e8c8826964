"""Row-level security on the inbox: Postgres itself keeps tenants apart, even for a query that forgets its filter.

Everything runs through the conversation service's own role (owner of its schema, NOBYPASSRLS).
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from parley.conversation.crm_models import PipelineStage
from parley.conversation.models import Contact, Conversation, Message, Note, data_keys
from parley.kit.auth import Principal
from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration

# The kit's own tables carry tenant_id too but are read across tenants by the relay and rebuild (system scope).
KIT_TABLES = {"event_store", "outbox", "inbox"}


async def _two_tenants(inbox: Inbox) -> tuple[uuid.UUID, uuid.UUID]:
    """Tenant A and tenant B each with a contact, a conversation, messages, a note, a stage and a data key."""
    tenants = []
    for _ in range(2):
        inbox.principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")
        customer = digits()
        await inbox.receive(customer, "hello")
        await inbox.receive(customer, "again")
        conversation = await inbox.conversation_of(customer)
        note = await inbox.client.post(f"/v1/conversations/{conversation['id']}/notes", json={"body": "vip"})
        assert note.status_code == 201, note.text
        stage = await inbox.client.post("/v1/pipeline/stages", json={"name": "New"})
        assert stage.status_code == 201, stage.text
        tenants.append(inbox.tenant_id)
    return tenants[0], tenants[1]


async def _tenants_seen(inbox: Inbox, table: object, **scope: object) -> set[uuid.UUID]:
    """The tenants whose rows one transaction sees, queried WITHOUT a tenant filter."""
    async with inbox.service.db.unit_of_work(**scope) as session:  # type: ignore[arg-type]
        return set((await session.execute(select(table.tenant_id).distinct())).scalars())  # type: ignore[attr-defined]


async def test_an_unfiltered_query_sees_only_the_scoped_tenants_rows(inbox: Inbox) -> None:
    a, b = await _two_tenants(inbox)
    for table in (Contact, Conversation, Message, Note, PipelineStage, data_keys.c):
        everyone = await _tenants_seen(inbox, table, system=True)
        assert {a, b} <= everyone, table
        assert await _tenants_seen(inbox, table, tenant_id=a) == {a}, table
        assert await _tenants_seen(inbox, table, tenant_id=b) == {b}, table
        assert await _tenants_seen(inbox, table) == set(), f"{table}: an unscoped transaction sees no tenant's rows"

    async with inbox.service.db.unit_of_work(tenant_id=a) as session:
        renamed = await session.execute(update(Contact).values(profile_name="Renamed"))
        assert renamed.rowcount == 1, "an unfiltered UPDATE reaches only the scoped tenant's contact"
    async with inbox.service.db.unit_of_work(tenant_id=b) as session:
        names = set((await session.execute(select(Contact.profile_name))).scalars())
    assert "Renamed" not in names, "tenant B's contact is untouched"


async def test_the_api_still_serves_each_tenant_its_own_inbox(inbox: Inbox) -> None:
    a, b = await _two_tenants(inbox)
    for tenant in (a, b):
        inbox.principal = Principal(tenant, uuid.uuid4(), "owner")
        conversations = (await inbox.client.get("/v1/conversations")).json()["data"]
        assert len(conversations) == 1
        assert [m["text"] for m in await inbox.messages(conversations[0]["id"])] == ["hello", "again"]
        notes = (await inbox.client.get(f"/v1/conversations/{conversations[0]['id']}/notes")).json()["data"]
        assert [n["body"] for n in notes] == ["vip"], "sealed notes open with the tenant's own data key"
    inbox.principal = Principal(a, uuid.uuid4(), "owner")
    export = await inbox.client.get("/v1/exports/contacts", params={"format": "ndjson"})
    assert export.status_code == 200 and export.text.count("\n") == 1, "the export streams tenant A's contact only"


async def test_writing_another_tenants_row_is_refused(inbox: Inbox) -> None:
    a, b = await _two_tenants(inbox)
    async with inbox.service.db.unit_of_work(system=True) as session:
        contact_of_b = (await session.execute(select(Contact).where(Contact.tenant_id == b))).scalar_one()
        session.expunge(contact_of_b)

    with pytest.raises(DBAPIError, match="row-level security"):
        async with inbox.service.db.unit_of_work(tenant_id=a) as session:
            await session.execute(Contact.__table__.insert().values(
                id=uuid.uuid4(), tenant_id=b, wa_id=digits(), created_at=contact_of_b.created_at))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with inbox.service.db.unit_of_work(tenant_id=a) as session:  # moving B's row into A is refused too
            await session.execute(update(Contact).where(Contact.tenant_id == a).values(tenant_id=b))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with inbox.service.db.unit_of_work() as session:
            await session.execute(Contact.__table__.insert().values(
                id=uuid.uuid4(), tenant_id=a, wa_id=digits(), created_at=contact_of_b.created_at))
    async with inbox.service.db.unit_of_work(tenant_id=a) as session:
        deleted = await session.execute(Contact.__table__.delete().where(Contact.id == contact_of_b.id))
        assert deleted.rowcount == 0, "tenant A cannot delete tenant B's contact even by its id"
    async with inbox.service.db.unit_of_work(system=True) as session:
        count = (await session.execute(select(func.count()).select_from(Contact).where(Contact.tenant_id == b)))
        assert count.scalar_one() == 1


async def test_every_tenant_table_of_the_service_is_under_a_forced_policy(inbox: Inbox) -> None:
    async with inbox.service.db.unit_of_work() as session:
        rows = (await session.execute(text(
            "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity, "
            "       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
            "WHERE n.nspname = 'conversation' AND c.relkind IN ('r', 'p')"))).all()
        bypass = (await session.execute(text(
            "SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user"))).scalar_one()
    unprotected = sorted(name for name, forced, policy in rows if not (forced and policy) and name not in KIT_TABLES)
    assert {name for name, *_ in rows} >= {"contacts", "messages", "data_keys", "blocked_numbers"}
    assert unprotected == []
    assert bypass is False, "the conversation role must not bypass row-level security"
