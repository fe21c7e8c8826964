"""Concurrent writes to the same team, agent or contact: each request succeeds or answers 409, never 5xx,
and what is left is what the stored events say."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration

RACERS = 20


async def _race(*requests: Any) -> list[httpx.Response]:
    responses = await asyncio.gather(*requests)
    statuses = Counter(r.status_code for r in responses)
    assert not [r for r in responses if r.status_code >= 500], f"server errors: {statuses}"
    for response in responses:
        if response.status_code == 409:
            body = response.json()
            assert body["success"] is False and body["error"]["code"] == "conflict", body
    return list(responses)


async def _team_events(inbox: Inbox, team_id: str) -> list[dict[str, Any]]:
    return [e for e in await inbox.events("team.saved", "team.deleted", "team.member-added", "team.member-removed")
            if e["data"]["team_id"] == team_id]


async def test_creating_the_same_team_at_once_makes_one_team(inbox: Inbox) -> None:
    responses = await _race(*(inbox.client.post("/v1/teams", json={"name": "Support"}) for _ in range(RACERS)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * (RACERS - 1)
    [created] = [r.json() for r in responses if r.status_code == 201]
    teams = (await inbox.client.get("/v1/teams")).json()
    assert [(t["id"], t["name"]) for t in teams] == [(created["id"], "Support")]
    assert len(await inbox.events("team.saved")) == 1, "the losers left no event behind"


async def test_renaming_a_team_many_times_at_once_keeps_the_last_stored_name(inbox: Inbox) -> None:
    team_id = (await inbox.client.post("/v1/teams", json={"name": "Sales"})).json()["id"]
    other = (await inbox.client.post("/v1/teams", json={"name": "Taken"})).json()["id"]
    names = [f"Sales {i}" for i in range(RACERS - 1)] + ["Taken"]
    responses = await _race(*(inbox.client.patch(f"/v1/teams/{team_id}", json={"name": n}) for n in names))
    statuses = [r.status_code for r in responses]
    assert statuses[:-1] == [200] * (RACERS - 1) and statuses[-1] == 409, statuses
    saved = [e["data"]["name"] for e in await _team_events(inbox, team_id) if e["type"] == "team.saved"]
    assert sorted(saved[1:]) == sorted(names[:-1]), "every rename that succeeded is stored, in one order"
    teams = {t["id"]: t["name"] for t in (await inbox.client.get("/v1/teams")).json()}
    assert teams == {team_id: saved[-1], other: "Taken"}


async def test_adding_and_removing_members_at_once_loses_nobody(inbox: Inbox) -> None:
    team_id = (await inbox.client.post("/v1/teams", json={"name": "Billing"})).json()["id"]
    agents = [await inbox.user("agent") for _ in range(RACERS // 2)]
    url = f"/v1/teams/{team_id}/members"
    adds = [inbox.client.post(url, json={"user_id": str(a)}) for a in agents]
    twice = [inbox.client.post(url, json={"user_id": str(a)}) for a in agents]  # the same agents again
    responses = await _race(*adds, *twice)
    assert {r.status_code for r in responses} == {200}
    team = (await inbox.client.get(f"/v1/teams/{team_id}")).json()
    assert sorted(team["member_ids"]) == sorted(str(a) for a in agents)
    added = [e for e in await _team_events(inbox, team_id) if e["type"] == "team.member-added"]
    assert len(added) == len(agents), "an agent added twice at once is added once"

    removals = await _race(*(inbox.client.delete(f"{url}/{a}") for a in agents for _ in range(2)))
    assert Counter(r.status_code for r in removals) == {200: len(agents), 404: len(agents)}
    assert (await inbox.client.get(f"/v1/teams/{team_id}")).json()["member_ids"] == []


async def test_deleting_a_team_while_it_is_changed_leaves_no_trace_of_it(inbox: Inbox) -> None:
    team_id = (await inbox.client.post("/v1/teams", json={"name": "Night shift"})).json()["id"]
    agents = [await inbox.user("agent") for _ in range(5)]
    url = f"/v1/teams/{team_id}"
    changes = [inbox.client.post(f"{url}/members", json={"user_id": str(a)}) for a in agents]
    changes += [inbox.client.patch(url, json={"name": f"Night {i}"}) for i in range(5)]
    responses = await _race(inbox.client.delete(url), *changes, inbox.client.delete(url))
    assert {r.status_code for r in responses} <= {200, 204, 404}
    assert [r.status_code for r in responses].count(204) == 1, "one delete wins; the other finds no team"
    assert (await inbox.client.get(url)).status_code == 404
    assert (await inbox.client.get("/v1/teams")).json() == []
    events = await _team_events(inbox, team_id)
    assert events[-1]["type"] == "team.deleted", "nothing was recorded on the team after its deletion"


async def test_agents_and_managers_changing_an_agent_at_once(inbox: Inbox) -> None:
    agent = await inbox.user("agent")
    caps = list(range(1, RACERS + 1))
    responses = await _race(*(inbox.client.patch(f"/v1/agents/{agent}",
                                                 json={"max_open": cap, "available": cap % 2 == 0})
                              for cap in caps))
    assert {r.status_code for r in responses} == {200}
    changes = [e["data"] for e in await inbox.events("agent.settings-changed") if e["data"]["user_id"] == str(agent)]
    assert sorted(c["max_open"] for c in changes) == caps
    [shown] = [a for a in (await inbox.client.get("/v1/agents")).json() if a["user_id"] == str(agent)]
    assert (shown["max_open"], shown["available"]) == (changes[-1]["max_open"], changes[-1]["available"])


async def test_patching_one_contact_at_once_keeps_every_attribute(inbox: Inbox) -> None:
    customer = digits()
    await inbox.receive(customer, "hi")
    [contact] = (await inbox.client.get("/v1/contacts", params={"q": customer})).json()["data"]
    url = f"/v1/contacts/{contact['id']}"
    responses = await _race(*(inbox.client.patch(url, json={"attributes": {f"k{i}": i}}) for i in range(RACERS)))
    assert {r.status_code for r in responses} == {200}
    attributes = (await inbox.client.get(url)).json()["attributes"]
    assert attributes == {f"k{i}": i for i in range(RACERS)}


async def test_a_racing_write_from_another_tenant_sees_nothing(inbox: Inbox) -> None:
    team_id = (await inbox.client.post("/v1/teams", json={"name": "Ours"})).json()["id"]
    inbox.principal = type(inbox.principal)(uuid.uuid4(), uuid.uuid4(), "owner")
    responses = await _race(*(inbox.client.patch(f"/v1/teams/{team_id}", json={"name": "Theirs"})
                              for _ in range(5)))
    assert {r.status_code for r in responses} == {404}


async def test_deleting_a_team_while_conversations_move_into_it_leaves_none_there(inbox: Inbox) -> None:
    team_id = (await inbox.client.post("/v1/teams", json={"name": "Closing"})).json()["id"]
    conversations = []
    for _ in range(8):
        customer = digits()
        await inbox.receive(customer, "hi")
        conversations.append((await inbox.conversation_of(customer))["id"])
    moves = [inbox.client.patch(f"/v1/conversations/{c}", json={"team_id": team_id}) for c in conversations]
    responses = await _race(*moves[:4], inbox.client.delete(f"/v1/teams/{team_id}"), *moves[4:])
    for response in responses:
        assert response.status_code in (200, 204) or response.json()["error"]["code"] == "unknown_team", response.text
    listed = (await inbox.client.get("/v1/conversations", params={"limit": 50})).json()["data"]
    assert [c["id"] for c in listed if c["team_id"] == team_id] == [], "no conversation is left in a deleted team"
