"""Agent replies: pending with a client_message_id, requested from the sender, then moved forward by statuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conversation.conftest import Inbox, digits, wamid

pytestmark = pytest.mark.integration


async def _open_conversation(inbox: Inbox, *, hours_ago: float = 0) -> tuple[str, str]:
    customer = digits()
    await inbox.receive(customer, "hello?", at=datetime.now(UTC) - timedelta(hours=hours_ago))
    return customer, (await inbox.conversation_of(customer))["id"]


async def test_a_reply_is_stored_pending_and_requested_from_the_sender(inbox: Inbox) -> None:
    customer, conversation_id = await _open_conversation(inbox)
    inbound = (await inbox.messages(conversation_id))[0]
    response = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json={
        "type": "text", "text": {"body": "Yes, in blue too!"}, "context": {"message_id": inbound["wamid"]}})
    assert response.status_code == 201, response.text
    reply = response.json()
    assert reply["status"] == "pending" and reply["direction"] == "outbound" and reply["wamid"] is None
    assert reply["client_message_id"] and reply["text"] == "Yes, in blue too!"
    assert reply["reply_to_message_id"] == inbound["id"] and reply["author_id"] == str(inbox.principal.user_id)

    [requested] = [e for e in await inbox.events("message.requested")
                   if e["data"]["client_message_id"] == reply["client_message_id"]]
    assert requested["data"]["to"] == customer and requested["data"]["content"] == {"body": "Yes, in blue too!"}
    assert requested["data"]["requested_by"] == {"kind": "agent", "id": str(inbox.principal.user_id)}
    assert requested["data"]["reply_to_wamid"] == inbound["wamid"]
    timeline = await inbox.messages(conversation_id)
    assert [m["direction"] for m in timeline] == ["inbound", "outbound"]


async def test_a_repeated_client_message_id_returns_the_first_reply_and_sends_once(inbox: Inbox) -> None:
    _, conversation_id = await _open_conversation(inbox)
    body = {"type": "text", "text": {"body": "once"}, "client_message_id": str(uuid.uuid4())}
    first = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json=body)
    again = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    requests = [e for e in await inbox.events("message.requested")
                if e["data"]["client_message_id"] == body["client_message_id"]]
    assert len(requests) == 1


async def test_statuses_only_move_forward_whatever_order_they_arrive_in(inbox: Inbox) -> None:
    _, conversation_id = await _open_conversation(inbox)
    reply = (await inbox.client.post(f"/v1/conversations/{conversation_id}/messages",
                                     json={"type": "text", "text": {"body": "hi"}})).json()
    client_message_id, sent_wamid, now = uuid.UUID(reply["client_message_id"]), wamid(), datetime.now(UTC)
    await inbox.status("accepted", client_message_id=client_message_id, wamid=sent_wamid, origin="sender")
    await inbox.status("read", wamid=sent_wamid, at=now + timedelta(seconds=3))
    await inbox.status("delivered", client_message_id=client_message_id, wamid=sent_wamid,
                       at=now + timedelta(seconds=2))
    await inbox.status("sent", client_message_id=client_message_id, wamid=sent_wamid, at=now + timedelta(seconds=1))
    await inbox.status("read", wamid=sent_wamid, at=now + timedelta(seconds=3))  # duplicate
    [message] = [m for m in await inbox.messages(conversation_id) if m["id"] == reply["id"]]
    assert message["status"] == "read" and message["wamid"] == sent_wamid
    updates = [e["data"]["status"] for e in await inbox.events("conversation.message-updated")
               if e["data"]["message_id"] == reply["id"]]
    assert updates == ["accepted", "read"], "a status that does not move forward records nothing"


async def test_a_failed_send_is_final_and_says_why(inbox: Inbox) -> None:
    _, conversation_id = await _open_conversation(inbox)
    reply = (await inbox.client.post(f"/v1/conversations/{conversation_id}/messages",
                                     json={"type": "text", "text": {"body": "hi"}})).json()
    client_message_id = uuid.UUID(reply["client_message_id"])
    await inbox.status("failed", client_message_id=client_message_id, origin="sender", errors=[
        {"code": 131026, "title": "Message undeliverable", "details": "the number is not on WhatsApp"}])
    await inbox.status("delivered", client_message_id=client_message_id, wamid=wamid())
    [message] = [m for m in await inbox.messages(conversation_id) if m["id"] == reply["id"]]
    assert message["status"] == "failed"
    assert message["error"] == {"code": 131026, "message": "the number is not on WhatsApp"}


async def test_outside_the_24_hour_window_only_templates_go(inbox: Inbox) -> None:
    _, conversation_id = await _open_conversation(inbox, hours_ago=25)
    conversation = (await inbox.client.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["window_open"] is False
    refused = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages",
                                      json={"type": "text", "text": {"body": "are you there?"}})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "service_window_closed" and "template" in error["message"]
    template = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json={
        "type": "template", "template": {"name": "follow_up", "language": {"code": "en_US"}}})
    assert template.status_code == 201, template.text
    assert template.json()["text"] == "[template] follow_up"


@pytest.mark.parametrize(("body", "fragment"), [
    ({"type": "text", "text": {"body": ""}}, "text.body"),
    ({"type": "text"}, "`text` object"),
    ({"type": "image", "image": {"caption": "no media"}}, "media `id`"),
    ({"type": "template", "template": {"name": "x"}}, "language"),
    ({"type": "interactive", "interactive": {"type": "button"}}, "action"),
])
async def test_malformed_replies_get_a_clear_error(inbox: Inbox, body: dict, fragment: str) -> None:
    _, conversation_id = await _open_conversation(inbox)
    response = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["success"] is False and fragment in response.json()["error"]["message"]
    unknown = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json={"type": "fax"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "validation_error"


async def test_media_and_interactive_replies_are_requested_as_graph_objects(inbox: Inbox) -> None:
    customer, conversation_id = await _open_conversation(inbox)
    image = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages", json={
        "type": "image", "image": {"id": "998877", "caption": "the blue one"}})
    buttons = {"type": "button", "body": {"text": "Which size?"},
               "action": {"buttons": [{"type": "reply", "reply": {"id": "s", "title": "S"}}]}}
    interactive = await inbox.client.post(f"/v1/conversations/{conversation_id}/messages",
                                          json={"type": "interactive", "interactive": buttons})
    assert image.status_code == interactive.status_code == 201
    assert image.json()["media"] == {"id": "998877"} and interactive.json()["text"] == "Which size?"
    requested = {e["data"]["client_message_id"]: e["data"] for e in await inbox.events("message.requested")}
    assert requested[image.json()["client_message_id"]]["content"] == {"id": "998877", "caption": "the blue one"}
    assert requested[interactive.json()["client_message_id"]]["content"] == buttons
    assert requested[interactive.json()["client_message_id"]]["to"] == customer
