"""A fetched batch of messages is projected in bulk with the same outcome as one by one, and reactions that
arrive before their message are kept until it does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from parley.conversation.models import PROJECTIONS
from tests.integration.conversation.conftest import Inbox, digits, wamid
from tests.integration.conversation.test_conversation_at_rest import _snapshot

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
THUMBS, HEART = "\U0001f44d", "\u2764\ufe0f"


async def test_a_batch_lands_like_its_messages_one_by_one_and_rebuild_reproduces_it(inbox: Inbox) -> None:
    ana, bruno, carla, moved = digits(), digits(), digits(), digits()
    await inbox.receive(carla, "before the batch", at=T0)
    resolved = await inbox.conversation_of(carla)
    response = await inbox.client.patch(f"/v1/conversations/{resolved['id']}", json={"status": "resolved"})
    assert response.status_code == 200
    first, late, quoted_later = wamid(), wamid(), wamid()
    await inbox.deliver([
        inbox.message(ana, "second", at=T0 + timedelta(minutes=5), message_id=late),
        inbox.message(ana, None, at=T0 + timedelta(minutes=6), type="reaction",
                      reaction={"message_id": quoted_later, "emoji": THUMBS}),  # its target comes later
        inbox.message(ana, "first", at=T0 + timedelta(minutes=1), message_id=first, name="Ana Souza"),
        inbox.message(ana, "second", at=T0 + timedelta(minutes=5), message_id=late),  # Meta redelivers
        inbox.message(bruno, "quoting ana?", at=T0 + timedelta(minutes=2), context={"id": first}, name="Bruno"),
        inbox.message(carla, "I'm back", at=T0 + timedelta(minutes=3)),
        inbox.message(bruno, None, at=T0 + timedelta(minutes=4), type="system",
                      system={"type": "user_changed_number", "body": "changed", "wa_id": moved}),
        inbox.message(moved, "new number", at=T0 + timedelta(minutes=7), name="Bruno"),
        inbox.message(ana, "the reacted one", at=T0 + timedelta(minutes=4), message_id=quoted_later,
                      name="Ana Souza"),
    ])

    conversation = await inbox.conversation_of(ana)
    assert conversation["contact"]["profile_name"] == "Ana Souza"
    assert conversation["last_message"]["preview"] == "second", "an older message in the batch does not rewind"
    assert conversation["window_expires_at"].startswith("2026-11-02T12:05")
    timeline = await inbox.messages(conversation["id"])
    assert [m["text"] for m in timeline] == ["first", "the reacted one", "second"], "WhatsApp order, no duplicate"
    assert timeline[1]["reaction"] == THUMBS, "the reaction that came first is attached to its message"
    assert (await inbox.conversation_of(carla))["status"] == "open", "a resolved conversation reopens"
    moved_conversation = await inbox.conversation_of(moved)
    bruno_timeline = await inbox.messages(moved_conversation["id"])
    assert [m["text"] for m in bruno_timeline] == ["quoting ana?", "changed", "new number"]
    assert bruno_timeline[0]["reply_to_message_id"] == timeline[0]["id"], "a quote of a message of the same batch"

    before = await _snapshot(inbox, PROJECTIONS)
    assert await inbox.service.rebuild() > 0
    after = await _snapshot(inbox, PROJECTIONS)
    for table in before:
        assert after[table] == before[table], table


async def test_a_reaction_before_its_message_is_kept_and_attached_when_the_message_arrives(inbox: Inbox) -> None:
    customer, target = digits(), wamid()
    for _ in range(2):  # Meta may deliver the same reaction twice
        await inbox.receive(customer, None, at=T0 + timedelta(seconds=5), type="reaction",
                            reaction={"message_id": target, "emoji": HEART})
    await inbox.receive(customer, None, at=T0 + timedelta(seconds=9), type="reaction",
                        reaction={"message_id": target, "emoji": THUMBS})
    await inbox.receive(customer, "what does this cost?", at=T0, message_id=target)

    conversation = await inbox.conversation_of(customer)
    [message] = await inbox.messages(conversation["id"])
    assert message["reaction"] == THUMBS, "the newest of the early reactions wins"
    [updated] = await inbox.events("conversation.message-updated")
    assert updated["data"]["reaction"] == THUMBS and updated["data"]["wamid"] == target, "realtime and egress hear it"

    # An older reaction delivered after the attachment does not replace it.
    await inbox.receive(customer, None, at=T0 + timedelta(seconds=7), type="reaction",
                        reaction={"message_id": target, "emoji": HEART})
    [message] = await inbox.messages(conversation["id"])
    assert message["reaction"] == THUMBS


async def test_an_early_reaction_is_attached_in_a_tenant_that_auto_assigns(inbox: Inbox) -> None:
    """Such a tenant's messages go one by one (round robin reads the assignments before it): same outcome."""
    agent = await inbox.user("agent")
    assert (await inbox.client.patch(f"/v1/agents/{agent}", json={"available": True})).status_code == 200
    customer, target = digits(), wamid()
    await inbox.deliver([
        inbox.message(customer, None, at=T0 + timedelta(seconds=5), type="reaction",
                      reaction={"message_id": target, "emoji": THUMBS}),
        inbox.message(customer, "hello", at=T0, message_id=target),
    ])
    conversation = await inbox.conversation_of(customer)
    assert conversation["assignee_id"] == str(agent)
    [message] = await inbox.messages(conversation["id"])
    assert message["reaction"] == THUMBS


async def test_a_batch_of_statuses_only_moves_forward_and_rebuild_reproduces_it(inbox: Inbox) -> None:
    customer, t0 = digits(), datetime.now(UTC) - timedelta(minutes=10)
    await inbox.receive(customer, "hello", at=t0)  # the service window is open: replies go out
    conversation = await inbox.conversation_of(customer)
    url = f"/v1/conversations/{conversation['id']}/messages"
    first = (await inbox.client.post(url, json={"type": "text", "text": {"body": "one"}})).json()
    second = (await inbox.client.post(url, json={"type": "text", "text": {"body": "two"}})).json()
    one, two = uuid.UUID(first["client_message_id"]), uuid.UUID(second["client_message_id"])
    wamid_two = wamid()
    await inbox.deliver_statuses([
        inbox.status_event("accepted", client_message_id=one, wamid="wamid.one", origin="sender"),
        inbox.status_event("read", wamid="wamid.one", at=t0 + timedelta(minutes=3)),  # Meta: read before sent
        inbox.status_event("sent", wamid="wamid.one", at=t0 + timedelta(minutes=1)),
        inbox.status_event("delivered", client_message_id=one, wamid="wamid.one", at=t0 + timedelta(minutes=2)),
        inbox.status_event("accepted", client_message_id=two, wamid=wamid_two, origin="sender"),
        inbox.status_event("sent", wamid=wamid_two, at=t0 + timedelta(minutes=1)),  # found by the wamid just set
        inbox.status_event("failed", wamid=wamid_two, at=t0 + timedelta(minutes=2),
                           errors=[{"code": 131047, "title": "Re-engagement message"}]),
        inbox.status_event("delivered", wamid=wamid_two, at=t0 + timedelta(minutes=3)),  # failed is final
        inbox.status_event("read", wamid="wamid.unknown"),  # not ours: nothing happens
    ])
    timeline = {m["id"]: m for m in await inbox.messages(conversation["id"])}
    assert timeline[first["id"]]["status"] == "read" and timeline[first["id"]]["wamid"] == "wamid.one"
    assert timeline[second["id"]]["status"] == "failed"
    assert timeline[second["id"]]["error"] == {"code": 131047, "message": "Re-engagement message"}
    updates = [e["data"]["status"] for e in await inbox.events("conversation.message-updated")]
    assert updates == ["accepted", "read", "accepted", "sent", "failed"], "one event per forward move"

    before = await _snapshot(inbox, PROJECTIONS)
    assert await inbox.service.rebuild() > 0
    after = await _snapshot(inbox, PROJECTIONS)
    for table in before:
        assert after[table] == before[table], table
