"""Accepted sends: Meta's answer, every message type, limits per number and per recipient, introspection."""

from __future__ import annotations

import httpx

from parley.sandbox.service import Sandbox
from tests.unit.sandbox.sandbox_harness import NUMBER, customer_says, error_of, send

CUSTOMER = "16505551234"


async def test_an_accepted_send_answers_like_meta(client: httpx.AsyncClient) -> None:
    await customer_says(client, CUSTOMER)
    response = await send(client, {"to": "+1 (650) 555-1234", "type": "text", "text": {"body": "Hello"}})
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+1 (650) 555-1234", "wa_id": CUSTOMER}]
    assert body["messages"][0]["id"].startswith("wamid.")


async def test_every_outbound_type_is_accepted_inside_the_window(client: httpx.AsyncClient) -> None:
    inbound = await customer_says(client, CUSTOMER)
    upload = await client.post(f"/v23.0/{NUMBER}/media", headers={"Authorization": "Bearer dev-only-sandbox-token"},
                               files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf"),
                                      "messaging_product": (None, "whatsapp"), "type": (None, "application/pdf")})
    media_id = upload.json()["id"]
    messages = [
        {"type": "text", "text": {"body": "Hi", "preview_url": True}, "context": {"message_id": inbound["wamid"]}},
        {"type": "image", "image": {"link": "https://cdn.example/a.jpg", "caption": "look"}},
        {"type": "video", "video": {"link": "https://cdn.example/a.mp4"}},
        {"type": "audio", "audio": {"link": "https://cdn.example/a.ogg"}},
        {"type": "document", "document": {"id": media_id, "filename": "invoice.pdf", "caption": "Invoice"}},
        {"type": "sticker", "sticker": {"link": "https://cdn.example/a.webp"}},
        {"type": "reaction", "reaction": {"message_id": inbound["wamid"], "emoji": "👍"}},
        {"type": "location", "location": {"latitude": 52.52, "longitude": 13.4, "name": "Office"}},
        {"type": "contacts", "contacts": [{"name": {"formatted_name": "Ann Lee"}}]},
        {"type": "interactive", "interactive": {"type": "list", "body": {"text": "Choose"}, "action": {
            "button": "Options", "sections": [{"title": "Sizes", "rows": [{"id": "s", "title": "Small"},
                                                                          {"id": "m", "title": "Medium"}]}]}}},
    ]
    for message in messages:
        response = await send(client, {"to": CUSTOMER, **message})
        assert response.status_code == 200, (message, response.text)
    sends = (await client.get("/sandbox/sends")).json()
    assert [s["type"] for s in sends["sends"]] == [m["type"] for m in messages]


async def test_mark_as_read_and_typing_indicator(client: httpx.AsyncClient) -> None:
    inbound = await customer_says(client, CUSTOMER)
    read = await send(client, {"status": "read", "message_id": inbound["wamid"]})
    typing = await send(client, {"status": "read", "message_id": inbound["wamid"],
                                 "typing_indicator": {"type": "text"}})
    assert read.json() == {"success": True} and typing.json() == {"success": True}
    unknown = await send(client, {"status": "read", "message_id": "wamid.unknown"})
    assert error_of(unknown)["code"] == 100
    receipts = (await client.get("/sandbox/read-receipts")).json()["read_receipts"]
    assert [r["typing_indicator"] for r in receipts] == [False, True]
    assert (await client.get("/sandbox/sends")).json()["total"] == 0  # reads are not sends


async def test_the_number_throughput_is_enforced_per_sliding_second(client: httpx.AsyncClient, clock) -> None:
    await client.patch(f"/sandbox/numbers/{NUMBER}", json={"throughput": 5})
    recipients = [f"1650555{i:04d}" for i in range(7)]
    for wa_id in recipients:
        await customer_says(client, wa_id)
    answers = [await send(client, {"to": wa_id, "type": "text", "text": {"body": "x"}}) for wa_id in recipients[:6]]
    assert [a.status_code for a in answers] == [200] * 5 + [400]
    assert error_of(answers[-1])["code"] == 130429
    clock.advance(1.0)
    assert (await send(client, {"to": recipients[6], "type": "text", "text": {"body": "x"}})).status_code == 200
    stats = (await client.get("/sandbox/stats")).json()["sends"]["numbers"][NUMBER]
    assert stats["total"] == 6
    assert stats["max_in_any_1s_window"] == 5
    assert stats["rejected"] == {"130429": 1}


async def test_the_same_recipient_too_often_is_131056(client: httpx.AsyncClient, sandbox: Sandbox, clock) -> None:
    sandbox.settings.pair_burst, sandbox.settings.pair_interval_seconds = 3, 6.0
    await customer_says(client, CUSTOMER)
    texts = [await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": f"m{i}"}}) for i in range(4)]
    assert [t.status_code for t in texts] == [200, 200, 200, 400]
    assert error_of(texts[-1])["code"] == 131056
    await customer_says(client, "16505550000")
    other = await send(client, {"to": "16505550000", "type": "text", "text": {"body": "x"}})
    assert other.status_code == 200  # only that pair is limited
    clock.advance(6.0)
    assert (await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": "later"}})).status_code == 200


async def test_duplicates_are_counted_by_client_reference_or_identical_content(
        client: httpx.AsyncClient, clock) -> None:
    await customer_says(client, CUSTOMER)
    by_reference = {"to": CUSTOMER, "type": "text", "biz_opaque_callback_data": "client-msg-1"}
    await send(client, {**by_reference, "text": {"body": "first"}})
    clock.advance(60)
    await send(client, {**by_reference, "text": {"body": "retry, other words"}})  # same reference: duplicate
    await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": "same"}})
    await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": "same"}})  # identical, 0 s apart
    clock.advance(30)
    await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": "same"}})  # identical, outside the window
    stats = (await client.get("/sandbox/stats")).json()["sends"]
    assert stats["duplicates"] == 2 and stats["numbers"][NUMBER]["duplicates"] == 2
    sends = (await client.get("/sandbox/sends", params={"payloads": "false"})).json()["sends"]
    assert [s["duplicate_of"] is not None for s in sends] == [False, True, False, True, False]
    assert sends[1]["duplicate_of"] == sends[0]["wamid"]
    assert sends[0]["biz_opaque_callback_data"] == "client-msg-1"


async def test_stats_count_per_second_and_reset_forgets_activity(client: httpx.AsyncClient, clock) -> None:
    await customer_says(client, CUSTOMER)
    for step in range(4):
        await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": f"m{step}"}})
        clock.advance(0.4)
    stats = (await client.get("/sandbox/stats", params={"per_second": "true"})).json()["sends"]["numbers"][NUMBER]
    assert sum(stats["per_second"].values()) == 4
    assert stats["max_in_any_1s_window"] == 3
    await client.post("/sandbox/reset")
    assert (await client.get("/sandbox/sends")).json()["total"] == 0
    assert error_of(await send(client, {"to": CUSTOMER, "type": "text", "text": {"body": "x"}}))["code"] == 131047
