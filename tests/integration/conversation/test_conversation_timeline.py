"""Customer messages become contacts, conversations and a timeline in WhatsApp's order, without duplicates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from parley.kit.auth import Principal
from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def test_messages_are_ordered_by_whatsapp_time_and_never_duplicated(inbox: Inbox) -> None:
    customer = digits()
    late = await inbox.receive(customer, "second", at=T0 + timedelta(minutes=5))
    await inbox.receive(customer, "first", at=T0, name="Ana")
    await inbox.receive(customer, "second", at=T0 + timedelta(minutes=5), message_id=late)  # Meta redelivers
    await inbox.receive(customer, "between", at=T0 + timedelta(minutes=3), name="Ana Souza")

    conversation = await inbox.conversation_of(customer)
    assert conversation["status"] == "open"
    assert conversation["contact"]["profile_name"] == "Ana Souza", "the profile name follows WhatsApp's latest"
    assert conversation["contact"]["phone_e164"] == "+" + customer
    assert conversation["last_message"]["preview"] == "second", "an older message arriving late does not rewind"
    assert conversation["window_expires_at"].startswith("2026-11-02T12:05")
    messages = await inbox.messages(conversation["id"])
    assert [m["text"] for m in messages] == ["first", "between", "second"]
    assert all(m["direction"] == "inbound" and m["type"] == "text" and m["wamid"] for m in messages)
    assert messages[0]["timestamp"].startswith("2026-11-01T12:00:00")


async def test_media_keeps_its_id_and_metadata_and_replies_link_to_the_quoted_message(inbox: Inbox) -> None:
    customer = digits()
    first = await inbox.receive(customer, "which one?", at=T0)
    await inbox.receive(customer, None, at=T0 + timedelta(seconds=30), type="image",
                        media={"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc",
                               "caption": "this one"},
                        context={"from": customer, "id": first})
    conversation = await inbox.conversation_of(customer)
    quoted, image = await inbox.messages(conversation["id"])
    assert image["type"] == "image" and image["text"] == "[image] this one"
    assert image["media"] == {"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc"}
    assert image["content"]["media"]["caption"] == "this one"
    assert image["reply_to_wamid"] == first and image["reply_to_message_id"] == quoted["id"]


async def test_reactions_attach_to_their_message_and_go_away_when_withdrawn(inbox: Inbox) -> None:
    customer = digits()
    target = await inbox.receive(customer, "price?", at=T0)
    for _ in range(2):  # Meta may deliver the same reaction twice
        await inbox.receive(customer, None, at=T0 + timedelta(seconds=5), type="reaction",
                            reaction={"message_id": target, "emoji": "\U0001f44d"})
    conversation = await inbox.conversation_of(customer)
    [message] = await inbox.messages(conversation["id"])
    assert message["reaction"] == "\U0001f44d", "a reaction is not a timeline message of its own"
    assert len(await inbox.events("conversation.message-updated")) == 1

    await inbox.receive(customer, None, at=T0 + timedelta(seconds=9), type="reaction",
                        reaction={"message_id": target})
    # A reaction older than the withdrawal, delivered late, does not come back.
    await inbox.receive(customer, None, at=T0 + timedelta(seconds=7), type="reaction",
                        reaction={"message_id": target, "emoji": "\u2764\ufe0f"})
    [message] = await inbox.messages(conversation["id"])
    assert message["reaction"] is None


async def test_a_number_change_moves_the_history_to_the_new_wa_id(inbox: Inbox) -> None:
    old, new = digits(), digits()
    await inbox.receive(old, "hello from my old number", at=T0)
    await inbox.receive(old, None, at=T0 + timedelta(minutes=1), type="system",
                        system={"type": "user_changed_number", "body": "User A changed from old to new",
                                "wa_id": new})
    await inbox.receive(new, "hello from my new number", at=T0 + timedelta(minutes=2))

    response = await inbox.client.get("/v1/conversations", params={"q": old})
    assert response.json()["data"] == [], "nothing is left under the old number"
    conversation = await inbox.conversation_of(new)
    assert conversation["contact"]["phone_e164"] == "+" + new
    texts = [m["text"] for m in await inbox.messages(conversation["id"])]
    assert texts == ["hello from my old number", "User A changed from old to new", "hello from my new number"]
    [changed] = await inbox.events("contact.number-changed")
    assert changed["data"]["previous_wa_id"] == old and changed["data"]["wa_id"] == new


async def test_a_number_change_onto_a_known_contact_merges_both_histories(inbox: Inbox) -> None:
    old, new = digits(), digits()
    await inbox.receive(new, "I already wrote from here", at=T0)
    await inbox.receive(old, "and from here", at=T0 + timedelta(minutes=1))
    await inbox.receive(old, None, at=T0 + timedelta(minutes=2), type="system",
                        system={"type": "user_changed_number", "body": "changed", "wa_id": new})
    listed = (await inbox.client.get("/v1/conversations", params={"limit": 200})).json()["data"]
    mine = [c for c in listed if c["contact"]["wa_id"] in (old, new)]
    assert len(mine) == 1 and mine[0]["contact"]["wa_id"] == new
    texts = [m["text"] for m in await inbox.messages(mine[0]["id"])]
    assert texts == ["I already wrote from here", "and from here", "changed"]


async def test_messages_page_both_ways_with_cursors(inbox: Inbox) -> None:
    customer = digits()
    for i in range(7):
        await inbox.receive(customer, f"m{i}", at=T0 + timedelta(minutes=i))
    conversation = await inbox.conversation_of(customer)
    url = f"/v1/conversations/{conversation['id']}/messages"
    latest = (await inbox.client.get(url, params={"limit": 3})).json()
    assert [m["text"] for m in latest["data"]] == ["m4", "m5", "m6"] and latest["pagination"]["has_more"]
    older = (await inbox.client.get(url, params={"limit": 3, "cursor": latest["pagination"]["next_cursor"]})).json()
    assert [m["text"] for m in older["data"]] == ["m1", "m2", "m3"]
    newer = (await inbox.client.get(url, params={"limit": 3, "cursor": older["pagination"]["prev_cursor"],
                                                 "direction": "newer"})).json()
    assert [m["text"] for m in newer["data"]] == ["m4", "m5", "m6"] and not newer["pagination"]["has_more"]
    bad = await inbox.client.get(url, params={"cursor": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_another_tenants_conversation_is_not_found(inbox: Inbox) -> None:
    customer = digits()
    await inbox.receive(customer, "mine")
    conversation = await inbox.conversation_of(customer)
    inbox.principal = Principal(uuid.uuid4(), inbox.principal.user_id, "owner")
    for path in ("", "/messages", "/notes"):
        response = await inbox.client.get(f"/v1/conversations/{conversation['id']}{path}")
        assert response.status_code == 404, path
        assert response.json() == {"success": False, "error": {"code": "not_found",
                                                               "message": "no such conversation", "details": None}}
    assert (await inbox.client.get("/v1/conversations")).json()["data"] == []
    reply = await inbox.client.post(f"/v1/conversations/{conversation['id']}/messages",
                                    json={"type": "text", "text": {"body": "x"}})
    assert reply.status_code == 404
