"""An agent sees the contacts of the conversations they see; owners, admins and managers see every contact."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration


async def _customer(inbox: Inbox, name: str) -> tuple[str, str]:
    """A customer's contact id and conversation id."""
    wa_id = digits()
    await inbox.receive(wa_id, "hello", name=name)
    conversation = await inbox.conversation_of(wa_id)
    return conversation["contact"]["id"], conversation["id"]


async def test_an_agent_cannot_see_a_contact_whose_only_conversation_is_someone_elses(inbox: Inbox) -> None:
    owner = inbox.principal
    agent_a, agent_b = await inbox.user("agent"), await inbox.user("agent")
    team = (await inbox.client.post("/v1/teams", json={"name": "Support"})).json()["id"]
    assert (await inbox.client.post(f"/v1/teams/{team}/members", json={"user_id": str(agent_a)})).status_code == 200
    mine, my_conversation = await _customer(inbox, "Ana")
    theirs, their_conversation = await _customer(inbox, "Bruno")
    queued, queued_conversation = await _customer(inbox, "Carla")
    nobody, _ = await _customer(inbox, "Davi")  # unassigned, in no team
    for conversation_id, body in ((my_conversation, {"assignee_id": str(agent_a)}),
                                  (their_conversation, {"assignee_id": str(agent_b), "team_id": team}),
                                  (queued_conversation, {"team_id": team})):
        assert (await inbox.client.patch(f"/v1/conversations/{conversation_id}", json=body)).status_code == 200

    inbox.act_as("agent", agent_a)
    listed = (await inbox.client.get("/v1/contacts")).json()["data"]
    assert {c["id"] for c in listed} == {mine, queued}
    assert (await inbox.client.get("/v1/contacts", params={"q": "Bruno"})).json()["data"] == []
    for hidden in (theirs, nobody):
        got = await inbox.client.get(f"/v1/contacts/{hidden}")
        assert got.status_code == 404 and got.json()["error"]["code"] == "not_found"
        patched = await inbox.client.patch(f"/v1/contacts/{hidden}", json={"labels": ["mine-now"]})
        assert patched.status_code == 404
    assert (await inbox.client.get(f"/v1/contacts/{mine}")).json()["profile_name"] == "Ana"
    assert (await inbox.client.patch(f"/v1/contacts/{queued}", json={"labels": ["callback"]})).status_code == 200

    page = (await inbox.client.get("/v1/contacts", params={"limit": 1})).json()
    following = (await inbox.client.get("/v1/contacts", params={"limit": 1,
                                                                "cursor": page["pagination"]["next_cursor"]})).json()
    assert [c["id"] for c in page["data"] + following["data"]] == [queued, mine], "pages stay within what is visible"
    assert following["pagination"]["has_more"] is False

    inbox.act_as("agent", agent_b)
    assert {c["id"] for c in (await inbox.client.get("/v1/contacts")).json()["data"]} == {theirs}
    inbox.act_as("manager")
    assert {c["id"] for c in (await inbox.client.get("/v1/contacts")).json()["data"]} == {mine, theirs, queued, nobody}
    inbox.principal = owner
    assert (await inbox.client.get(f"/v1/contacts/{theirs}")).status_code == 200
    assert (await inbox.client.get(f"/v1/contacts/{uuid.uuid4()}")).status_code == 404
