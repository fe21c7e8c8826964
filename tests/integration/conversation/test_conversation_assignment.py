"""Status, snooze, priority, labels, assignment (manual and round robin), teams, agents, notes, and who sees what."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from parley.conversation import service
from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration


async def _conversation(inbox: Inbox, name: str = "Ana") -> tuple[str, str]:
    customer = digits()
    await inbox.receive(customer, "hello", name=name)
    return customer, (await inbox.conversation_of(customer))["id"]


async def test_patch_changes_status_priority_labels_and_a_reply_reopens(inbox: Inbox) -> None:
    customer, conversation_id = await _conversation(inbox)
    url = f"/v1/conversations/{conversation_id}"
    patched = await inbox.client.patch(url, json={"status": "resolved", "priority": "high",
                                                  "labels": [" VIP ", "billing", "vip"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "resolved" and patched.json()["priority"] == "high"
    assert patched.json()["labels"] == ["vip", "billing"]
    [updated] = [e for e in await inbox.events("conversation.updated")
                 if e["data"]["conversation_id"] == conversation_id]
    assert sorted(updated["data"]["changed"]) == ["labels", "priority", "status"]
    assert updated["data"]["actor_id"] == str(inbox.principal.user_id)

    await inbox.receive(customer, "one more thing")
    reopened = (await inbox.client.get(url)).json()
    assert reopened["status"] == "open" and reopened["id"] == conversation_id, "one conversation per contact"

    by_label = (await inbox.client.get("/v1/conversations", params={"label": "VIP"})).json()["data"]
    assert [c["id"] for c in by_label] == [conversation_id]
    bad = await inbox.client.patch(url, json={"status": "closed"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


async def test_snooze_until_a_time_then_reopen_on_reply_or_when_due(inbox: Inbox) -> None:
    customer, conversation_id = await _conversation(inbox)
    url = f"/v1/conversations/{conversation_id}"
    past = await inbox.client.patch(url, json={"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["error"]["code"] == "invalid_snooze"
    until = datetime.now(UTC) + timedelta(hours=1)
    snoozed = await inbox.client.patch(url, json={"status": "snoozed", "snoozed_until": until.isoformat()})
    assert snoozed.json()["status"] == "snoozed" and snoozed.json()["snoozed_until"] is not None
    await inbox.receive(customer, "hello again")
    woke = (await inbox.client.get(url)).json()
    assert woke["status"] == "open" and woke["snoozed_until"] is None

    await inbox.client.patch(url, json={"status": "snoozed",
                                        "snoozed_until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()})
    deadline = time.monotonic() + 30
    while (await inbox.client.get(url)).json()["status"] == "snoozed":
        assert time.monotonic() < deadline, "the snooze never ran out"
        async with inbox.service.db.unit_of_work(system=True) as session:
            await service.reopen_due_snoozes(session, inbox.service.store)
        await asyncio.sleep(0.1)
    assert (await inbox.client.get(url)).json()["snoozed_until"] is None


async def test_assign_to_an_agent_or_a_team_and_unassign(inbox: Inbox) -> None:
    agent = await inbox.user("agent")
    _, conversation_id = await _conversation(inbox)
    url = f"/v1/conversations/{conversation_id}"
    team = (await inbox.client.post("/v1/teams", json={"name": f"Sales {uuid.uuid4().hex[:6]}"})).json()
    assigned = await inbox.client.patch(url, json={"assignee_id": str(agent), "team_id": team["id"]})
    assert assigned.json()["assignee_id"] == str(agent) and assigned.json()["team_id"] == team["id"]
    mine = (await inbox.client.get("/v1/conversations", params={"assignee": str(agent)})).json()["data"]
    assert [c["id"] for c in mine] == [conversation_id]
    assert [c["id"] for c in (await inbox.client.get("/v1/conversations", params={"team": team["id"]})).json()["data"]]\
        == [conversation_id]

    unassigned = await inbox.client.patch(url, json={"assignee_id": None})
    assert unassigned.json()["assignee_id"] is None and unassigned.json()["team_id"] == team["id"]
    event = (await inbox.events("conversation.updated"))[-1]["data"]
    assert event["changed"] == ["assignee_id"] and "assignee_id" not in event, "named but absent: cleared"
    nobody = await inbox.client.patch(url, json={"assignee_id": str(uuid.uuid4())})
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "unknown_agent"
    no_team = await inbox.client.patch(url, json={"team_id": str(uuid.uuid4())})
    assert no_team.status_code == 422 and no_team.json()["error"]["code"] == "unknown_team"


async def test_round_robin_assigns_available_agents_under_their_cap(inbox: Inbox) -> None:
    first, second, away = await inbox.user("agent"), await inbox.user("agent"), await inbox.user("agent")
    for agent, cap in ((first, 2), (second, 1)):
        response = await inbox.client.patch(f"/v1/agents/{agent}", json={"available": True, "max_open": cap})
        assert response.status_code == 200 and response.json()["available"] is True
    assignees = [(await _conversation(inbox))[1] for _ in range(4)]
    got = [(await inbox.client.get(f"/v1/conversations/{c}")).json()["assignee_id"] for c in assignees]
    assert got[:3] in ([str(first), str(second), str(first)], [str(second), str(first), str(first)])
    assert got[3] is None, "everyone is at their cap: the conversation waits unassigned"
    assert str(away) not in got
    added = {e["data"]["conversation_id"]: e["data"] for e in await inbox.events("conversation.message-added")}
    assert added[assignees[0]]["assignee_id"] == got[0], "realtime learns who may see the new message"
    load = {a["user_id"]: a["open_conversations"] for a in (await inbox.client.get("/v1/agents")).json()}
    assert load[str(first)] == 2 and load[str(second)] == 1 and load[str(away)] == 0


async def test_an_agent_sees_only_their_own_and_their_teams_unassigned(inbox: Inbox) -> None:
    agent, colleague = await inbox.user("agent"), await inbox.user("agent")
    team = (await inbox.client.post("/v1/teams", json={"name": f"Support {uuid.uuid4().hex[:6]}"})).json()
    assert (await inbox.client.post(f"/v1/teams/{team['id']}/members", json={"user_id": str(agent)})).status_code \
        == 200
    _, assigned = await _conversation(inbox)
    _, team_queue = await _conversation(inbox)
    _, colleagues = await _conversation(inbox)
    _, elsewhere = await _conversation(inbox)
    await inbox.client.patch(f"/v1/conversations/{assigned}", json={"assignee_id": str(agent)})
    await inbox.client.patch(f"/v1/conversations/{team_queue}", json={"team_id": team["id"]})
    await inbox.client.patch(f"/v1/conversations/{colleagues}", json={"assignee_id": str(colleague),
                                                                       "team_id": team["id"]})

    inbox.act_as("agent", agent)
    listed = {c["id"] for c in (await inbox.client.get("/v1/conversations")).json()["data"]}
    assert listed == {assigned, team_queue}
    for hidden in (colleagues, elsewhere):
        for path in ("", "/messages", "/notes"):
            assert (await inbox.client.get(f"/v1/conversations/{hidden}{path}")).status_code == 404
        assert (await inbox.client.patch(f"/v1/conversations/{hidden}", json={"priority": "low"})).status_code == 404
    took = await inbox.client.patch(f"/v1/conversations/{team_queue}", json={"assignee_id": str(agent)})
    assert took.status_code == 200 and took.json()["assignee_id"] == str(agent)
    give = await inbox.client.patch(f"/v1/conversations/{assigned}", json={"assignee_id": str(colleague)})
    assert give.status_code == 403 and give.json()["error"]["code"] == "forbidden"
    assert (await inbox.client.post("/v1/teams", json={"name": "mine"})).status_code == 403
    cap = await inbox.client.patch(f"/v1/agents/{agent}", json={"max_open": 99})
    assert cap.status_code == 403
    assert (await inbox.client.patch(f"/v1/agents/{agent}", json={"available": True})).status_code == 200


async def test_private_notes_are_kept_on_the_conversation(inbox: Inbox) -> None:
    _, conversation_id = await _conversation(inbox)
    url = f"/v1/conversations/{conversation_id}/notes"
    created = await inbox.client.post(url, json={"body": "Customer is a reseller, offer the B2B price"})
    assert created.status_code == 201, created.text
    assert (await inbox.client.post(url, json={"body": ""})).status_code == 422
    notes = (await inbox.client.get(url)).json()["data"]
    assert [n["body"] for n in notes] == ["Customer is a reseller, offer the B2B price"]
    assert notes[0]["author_id"] == str(inbox.principal.user_id)
    [event] = [e for e in await inbox.events("conversation.note-added") if e["data"]["conversation_id"] ==
               conversation_id]
    assert "reseller" not in str(event), "the published event carries the note sealed"


async def test_teams_crud_and_membership(inbox: Inbox) -> None:
    agent = await inbox.user("agent")
    name = f"Billing {uuid.uuid4().hex[:6]}"
    created = await inbox.client.post("/v1/teams", json={"name": name})
    assert created.status_code == 201
    team_id = created.json()["id"]
    duplicate = await inbox.client.post("/v1/teams", json={"name": name})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"
    renamed = await inbox.client.patch(f"/v1/teams/{team_id}", json={"name": name + " EU"})
    assert renamed.json()["name"] == name + " EU"
    added = await inbox.client.post(f"/v1/teams/{team_id}/members", json={"user_id": str(agent)})
    assert added.json()["member_ids"] == [str(agent)]
    stranger = await inbox.client.post(f"/v1/teams/{team_id}/members", json={"user_id": str(uuid.uuid4())})
    assert stranger.status_code == 422
    removed = await inbox.client.delete(f"/v1/teams/{team_id}/members/{agent}")
    assert removed.json()["member_ids"] == []
    assert (await inbox.client.delete(f"/v1/teams/{team_id}")).status_code == 204
    assert (await inbox.client.get(f"/v1/teams/{team_id}")).status_code == 404


async def test_contacts_list_search_and_patch_attributes_and_labels(inbox: Inbox) -> None:
    customer = digits()
    await inbox.receive(customer, "hi", name="Beatriz Lima")
    found = (await inbox.client.get("/v1/contacts", params={"q": "beatriz"})).json()["data"]
    assert [c["wa_id"] for c in found] == [customer]
    contact_id = found[0]["id"]
    url = f"/v1/contacts/{contact_id}"
    patched = await inbox.client.patch(url, json={"attributes": {"plan": "gold", "city": "Recife"},
                                                  "labels": ["Lead"]})
    assert patched.json()["attributes"] == {"plan": "gold", "city": "Recife"} and patched.json()["labels"] == ["lead"]
    again = await inbox.client.patch(url, json={"attributes": {"city": None}})
    assert again.json()["attributes"] == {"plan": "gold"}
    assert [c["id"] for c in (await inbox.client.get("/v1/contacts", params={"label": "lead"})).json()["data"]] \
        == [contact_id]
    by_phone = (await inbox.client.get("/v1/conversations", params={"q": customer[-6:]})).json()["data"]
    assert [c["contact"]["id"] for c in by_phone] == [contact_id]
    unknown = await inbox.client.patch(url, json={"profile_name": "x"})
    assert unknown.status_code == 422
    assert (await inbox.client.get(f"/v1/contacts/{uuid.uuid4()}")).status_code == 404


async def test_conversations_filter_by_the_pipeline_stage_of_their_contact(inbox: Inbox) -> None:
    _, talking_id = await _conversation(inbox, name="Talking Tina")
    _, won_id = await _conversation(inbox, name="Won Walter")
    stages = {}
    for name in (f"Talking {uuid.uuid4().hex[:6]}", f"Won {uuid.uuid4().hex[:6]}"):
        created = await inbox.client.post("/v1/pipeline/stages", json={"name": name})
        assert created.status_code == 201, created.text
        stages[name.split()[0]] = created.json()["id"]
    for conversation_id, stage in ((talking_id, "Talking"), (won_id, "Won")):
        contact_id = (await inbox.client.get(f"/v1/conversations/{conversation_id}")).json()["contact"]["id"]
        lead = await inbox.client.post("/v1/pipeline/leads", json={"contact_id": contact_id,
                                                                   "stage_id": stages[stage]})
        assert lead.status_code == 201, lead.text
    in_won = (await inbox.client.get("/v1/conversations", params={"stage": stages["Won"]})).json()["data"]
    assert [c["id"] for c in in_won] == [won_id]
    nowhere = await inbox.client.get("/v1/conversations", params={"stage": str(uuid.uuid4())})
    assert nowhere.status_code == 200 and nowhere.json()["data"] == []
    bad = await inbox.client.get("/v1/conversations", params={"stage": "won"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
