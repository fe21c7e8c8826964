"""Exports filtered by label and assignee, and limited to what an agent may see."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import pytest

from parley.contracts import Envelope
from parley.contracts.events.users import UserCreated
from parley.conversation import directory
from parley.kit.auth import Principal
from tests.integration.conversation_crm.conftest import Crm, new_wa_id

pytestmark = pytest.mark.integration


async def _agent(crm: Crm) -> uuid.UUID:
    """A gateway user as the users consumer mirrors it."""
    user_id, tenant = uuid.uuid4(), crm.principal.tenant_id
    envelope = Envelope.wrap(UserCreated(tenant_id=tenant, user_id=user_id, email=f"{user_id.hex[:8]}@example.com",
                                         role="agent"), source="/parley/gateway", tenant_id=tenant)
    async with crm.service.db.unit_of_work(tenant_id=tenant) as session:
        await directory.sync_user(session, crm.service.store, envelope)
    return user_id


async def _patch(crm: Crm, url: str, body: dict[str, Any]) -> None:
    response = await crm.client.patch(url, json=body)
    assert response.status_code == 200, response.text


async def _wa_ids(crm: Crm, entity: str, **params: Any) -> list[str]:
    response = await crm.client.get(f"/v1/exports/{entity}", params=params)
    assert response.status_code == 200, response.text
    return [row["wa_id"] for row in csv.DictReader(io.StringIO(response.text))]


async def _inbox(crm: Crm) -> dict[str, Any]:
    """Three customers: ana's conversation is labelled vip and assigned to one agent, bruno's labelled billing
    and assigned to another, carla's labelled vip, unassigned, in a team the first agent belongs to."""
    first, second = await _agent(crm), await _agent(crm)
    team = (await crm.client.post("/v1/teams", json={"name": "Support"})).json()["id"]
    assert (await crm.client.post(f"/v1/teams/{team}/members", json={"user_id": str(first)})).status_code == 200
    ana, bruno, carla = new_wa_id(), new_wa_id(), new_wa_id()
    contacts = {wa_id: await crm.contact(wa_id, name=name) for wa_id, name in ((ana, "Ana"), (bruno, "Bruno"),
                                                                                 (carla, "Carla"))}
    conversations = {wa_id: await crm.conversation_of(wa_id) for wa_id in contacts}
    await _patch(crm, f"/v1/conversations/{conversations[ana]}", {"labels": ["VIP"], "assignee_id": str(first)})
    await _patch(crm, f"/v1/conversations/{conversations[bruno]}", {"labels": ["billing"],
                                                                    "assignee_id": str(second)})
    await _patch(crm, f"/v1/conversations/{conversations[carla]}", {"labels": ["vip"], "team_id": team})
    await _patch(crm, f"/v1/contacts/{contacts[ana]}", {"labels": ["gold"]})
    return {"first": first, "second": second, "ana": ana, "bruno": bruno, "carla": carla, "contacts": contacts,
            "conversations": conversations}


async def test_exports_filter_by_label_and_assignee(crm: Crm) -> None:
    s = await _inbox(crm)
    ana, bruno, carla, first, second = s["ana"], s["bruno"], s["carla"], str(s["first"]), str(s["second"])

    assert await _wa_ids(crm, "conversations", label=" VIP ") == [ana, carla]
    assert await _wa_ids(crm, "conversations", assignee=first) == [ana]
    assert await _wa_ids(crm, "conversations", assignee="none") == [carla]
    assert await _wa_ids(crm, "conversations", label="vip", assignee="none") == [carla]
    assert await _wa_ids(crm, "conversations", assignee="me") == [], "the owner has nothing assigned"
    rows = json.loads((await crm.client.get("/v1/exports/conversations",
                                            params={"format": "json", "assignee": second})).text)
    assert [(r["wa_id"], r["labels"], r["assignee_id"]) for r in rows] == [(bruno, ["billing"], second)]

    assert await _wa_ids(crm, "messages", label="billing") == [bruno]
    assert await _wa_ids(crm, "messages", assignee=first) == [ana]
    assert await _wa_ids(crm, "messages", assignee="none", label="billing") == []

    assert await _wa_ids(crm, "contacts", label="GOLD") == [ana], "a contact's own labels"
    assert await _wa_ids(crm, "contacts", assignee=second) == [bruno], "contacts with a conversation assigned"
    assert await _wa_ids(crm, "contacts", assignee="none") == [carla]

    for entity in ("contacts", "conversations", "messages"):
        bad = await crm.client.get(f"/v1/exports/{entity}", params={"assignee": "someone"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error", bad.text


async def test_an_agent_exports_only_what_they_see(crm: Crm) -> None:
    s = await _inbox(crm)
    ana, bruno, carla = s["ana"], s["bruno"], s["carla"]
    owner = crm.principal
    crm.principal = Principal(owner.tenant_id, s["first"], "agent")

    assert await _wa_ids(crm, "contacts") == [ana, carla]
    assert await _wa_ids(crm, "conversations") == [ana, carla]
    assert await _wa_ids(crm, "messages") == [ana, carla]
    assert await _wa_ids(crm, "conversations", assignee="me") == [ana]
    assert await _wa_ids(crm, "contacts", assignee=str(s["second"])) == [], "not even when asked by assignee"
    hidden = await crm.client.get("/v1/exports/messages", params={"conversation_id": str(s["conversations"][bruno])})
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"

    crm.principal = Principal(owner.tenant_id, uuid.uuid4(), "manager")
    assert await _wa_ids(crm, "contacts") == [ana, bruno, carla], "managers see every contact"
