"""Bodies are sealed at rest, and ``rebuild`` reproduces every projection exactly from the event store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select, text

from parley.conversation.models import PROJECTIONS
from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration

SECRET = "my card number is 4111 1111 1111 1111"


async def _snapshot(inbox: Inbox, tables: list[Table]) -> dict[str, list[tuple[Any, ...]]]:
    """This test's tenant's rows (a running platform's conversation service may project other tenants meanwhile)."""
    async with inbox.service.db.unit_of_work(tenant_id=inbox.tenant_id) as session:
        return {t.name: sorted((tuple(row) for row in await session.execute(select(t))), key=repr) for t in tables}


async def test_bodies_captions_and_notes_are_never_stored_in_plaintext(inbox: Inbox) -> None:
    customer = digits()
    await inbox.receive(customer, SECRET)
    await inbox.receive(customer, None, type="image", media={"id": "55", "mime_type": "image/png",
                                                             "caption": "caption " + SECRET})
    conversation = await inbox.conversation_of(customer)
    reply = await inbox.client.post(f"/v1/conversations/{conversation['id']}/messages",
                                    json={"type": "text", "text": {"body": "reply " + SECRET}})
    assert reply.status_code == 201
    await inbox.client.post(f"/v1/conversations/{conversation['id']}/notes", json={"body": "note " + SECRET})
    texts = [m["text"] for m in await inbox.messages(conversation["id"])]
    assert texts == [SECRET, "[image] caption " + SECRET, "reply " + SECRET], "the API reads them back"

    needle = "4111 1111"
    async with inbox.service.db.unit_of_work(tenant_id=inbox.tenant_id) as session:
        for table in ("messages", "conversations", "notes"):
            dump = (await session.execute(text(f"SELECT string_agg(t::text, '|') FROM conversation.{table} t "
                                               "WHERE tenant_id = :tenant"), {"tenant": inbox.tenant_id})).scalar_one()
            assert dump and needle not in dump and needle.encode().hex() not in dump, table
        events = (await session.execute(text(
            "SELECT string_agg(envelope::text, '|') FROM conversation.event_store WHERE tenant_id = :tenant "
            "AND event_type <> 'message.requested'"), {"tenant": inbox.tenant_id})).scalar_one()
    assert needle not in events, "conversation and contact events carry bodies sealed"


async def test_rebuild_reproduces_every_projection(inbox: Inbox) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    agent, other = await inbox.user("agent"), await inbox.user("manager")
    await inbox.client.patch(f"/v1/agents/{agent}", json={"available": True, "max_open": 5})
    team = (await inbox.client.post("/v1/teams", json={"name": f"T {uuid.uuid4().hex[:6]}"})).json()
    await inbox.client.post(f"/v1/teams/{team['id']}/members", json={"user_id": str(other)})
    ana, bruno, moved = digits(), digits(), digits()
    first = await inbox.receive(ana, "first", at=start, name="Ana")
    await inbox.receive(bruno, "hello", at=start + timedelta(minutes=1), name="Bruno")
    await inbox.receive(ana, "later", at=start + timedelta(minutes=5), name="Ana Souza")
    await inbox.receive(ana, "earlier", at=start + timedelta(minutes=3), name="Ana Souza",
                        context={"id": first})
    await inbox.receive(ana, None, at=start + timedelta(minutes=6), type="reaction",
                        reaction={"message_id": first, "emoji": "\U0001f44d"})
    conversation = await inbox.conversation_of(ana)
    url = f"/v1/conversations/{conversation['id']}"
    reply = (await inbox.client.post(f"{url}/messages", json={"type": "text", "text": {"body": "ok"}})).json()
    await inbox.status("sent", client_message_id=uuid.UUID(reply["client_message_id"]), wamid="wamid.rebuild1")
    await inbox.client.patch(url, json={"labels": ["vip"], "priority": "urgent", "team_id": team["id"],
                                        "status": "pending"})
    await inbox.client.post(f"{url}/notes", json={"body": "call back"})
    await inbox.client.patch(f"/v1/contacts/{conversation['contact']['id']}", json={"attributes": {"tier": 2}})
    await inbox.receive(bruno, None, at=start + timedelta(minutes=8), type="system",
                        system={"type": "user_changed_number", "body": "changed", "wa_id": moved})
    before = await _snapshot(inbox, PROJECTIONS)
    assert any(row for row in before["messages"] if "\U0001f44d" in row), "the scenario reached the tables"

    assert await inbox.service.rebuild() > 0
    after = await _snapshot(inbox, PROJECTIONS)
    for table in before:
        assert after[table] == before[table], table
