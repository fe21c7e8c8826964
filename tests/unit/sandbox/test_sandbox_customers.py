"""Simulated customers: every inbound message type in Meta's notification shape, opt-out, block, off WhatsApp."""

from __future__ import annotations

from typing import Any

import httpx

from tests.unit.sandbox.sandbox_harness import AUTH, NUMBER, customer_says

CUSTOMER = "16505551234"


async def says(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json=body)
    assert response.status_code == 200, response.text
    value = response.json()["notification"]["entry"][0]["changes"][0]["value"]
    assert value["contacts"][0]["wa_id"] == CUSTOMER
    message = value["messages"][0]
    assert message["from"] == CUSTOMER and message["id"] == response.json()["wamid"]
    assert message["timestamp"].isdigit() and message["type"] == body.get("type", "text")
    return message


async def test_every_inbound_type_is_shaped_like_meta(client: httpx.AsyncClient) -> None:
    assert (await says(client, {"type": "text", "text": {"body": "Hi"}}))["text"] == {"body": "Hi"}
    image = (await says(client, {"type": "image", "image": {"caption": "my cat"}}))["image"]
    assert image["mime_type"] == "image/jpeg" and len(image["sha256"]) == 64 and image["caption"] == "my cat"
    download = (await client.get(f"/v23.0/{image['id']}", headers=AUTH)).json()  # the business can fetch it
    assert download["sha256"] == image["sha256"]
    for kind in ("video", "audio", "document", "sticker"):
        assert (await says(client, {"type": kind, kind: {}}))[kind]["id"]
    assert (await says(client, {"type": "audio", "audio": {"voice": True}}))["audio"]["voice"] is True
    location = {"latitude": 52.5, "longitude": 13.4, "name": "Office", "address": "Street 1"}
    assert (await says(client, {"type": "location", "location": location}))["location"] == location
    card = [{"name": {"formatted_name": "Ann Lee", "first_name": "Ann"}, "phones": [{"phone": "+1 650 555 0000"}]}]
    assert (await says(client, {"type": "contacts", "contacts": card}))["contacts"] == card
    for reply_type, reply in (("button_reply", {"id": "yes", "title": "Yes"}),
                              ("list_reply", {"id": "m", "title": "Medium", "description": "M size"}),
                              ("nfm_reply", {"response_json": "{\"flow_token\": \"t\"}"})):
        sent = await says(client, {"type": "interactive", "interactive": {"type": reply_type, reply_type: reply}})
        assert sent["interactive"]["type"] == reply_type and sent["interactive"][reply_type].items() >= reply.items()
    button = await says(client, {"type": "button", "button": {"payload": "STOP_PROMOS", "text": "Stop promotions"}})
    assert button["button"]["payload"] == "STOP_PROMOS"
    order = {"catalog_id": "c1", "text": "", "product_items": [{"product_retailer_id": "sku", "quantity": 1,
                                                                "item_price": 9.5, "currency": "USD"}]}
    assert (await says(client, {"type": "order", "order": order}))["order"] == order
    system = await says(client, {"type": "system", "system": {"wa_id": "16505559876"}})
    assert system["system"]["type"] == "user_changed_number" and system["system"]["wa_id"] == "16505559876"
    unsupported = await says(client, {"type": "unsupported"})
    assert unsupported["errors"][0]["code"] == 131051


async def test_replies_reactions_and_referrals(client: httpx.AsyncClient) -> None:
    template = await client.post(f"/v23.0/{NUMBER}/messages", headers=AUTH, json={
        "messaging_product": "whatsapp", "to": CUSTOMER, "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}})
    business_wamid = template.json()["messages"][0]["id"]
    reply = await says(client, {"type": "text", "text": {"body": "Thanks"}, "context": {"id": business_wamid}})
    assert reply["context"] == {"from": "15550100001", "id": business_wamid}
    reaction = await says(client, {"type": "reaction", "reaction": {"message_id": business_wamid, "emoji": "❤️"}})
    assert reaction["reaction"]["emoji"] == "❤️"
    removed = await says(client, {"type": "reaction", "reaction": {"message_id": business_wamid}})
    assert "emoji" not in removed["reaction"]
    referral = {"source_url": "https://fb.me/ad", "source_id": "123", "source_type": "ad", "ctwa_clid": "clid"}
    assert (await says(client, {"type": "text", "text": {"body": "From the ad"}, "referral": referral}))[
        "referral"] == referral


async def test_opt_out_sends_stop_and_opens_the_window(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/sandbox/customers/{CUSTOMER}/opt-out", json={})
    message = response.json()["notification"]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["text"] == {"body": "STOP"}
    state = (await client.get(f"/sandbox/customers/{CUSTOMER}")).json()
    assert state["open_windows"] == [NUMBER] and state["sent"][0]["id"] == message["id"]


async def test_profile_names_block_and_unblock(client: httpx.AsyncClient) -> None:
    await client.put(f"/sandbox/customers/{CUSTOMER}", json={"profile_name": "Sheena Nelson"})
    value = (await customer_says(client, CUSTOMER))["notification"]["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}]
    blocked = (await client.post(f"/sandbox/customers/{CUSTOMER}/block", json={"phone_number_id": NUMBER})).json()
    assert blocked["blocked"] == [NUMBER]
    assert (await client.delete(f"/sandbox/customers/{CUSTOMER}/block")).json()["blocked"] == []


async def test_bad_customer_requests_get_parleys_error_shape(client: httpx.AsyncClient) -> None:
    unknown_type = await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "fax"})
    assert unknown_type.status_code == 400 and unknown_type.json()["success"] is False
    no_number = await client.post(f"/sandbox/customers/{CUSTOMER}/messages",
                                  json={"phone_number_id": "1234567", "type": "text", "text": {"body": "x"}})
    assert no_number.status_code == 404 and no_number.json()["error"]["code"] == "unknown_number"
    await client.put(f"/sandbox/customers/{CUSTOMER}", json={"on_whatsapp": False})
    gone = await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "x"}})
    assert gone.status_code == 409
