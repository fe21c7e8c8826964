"""The sandbox process posts signed notifications in Meta's shape, retries them, and survives ingest outages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.sandbox.sandbox_process import NUMBER, TOKEN, WebhookReceiver, wait_for

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = "16505551234"


def customer_says(sandbox: httpx.Client, text: str, wa_id: str = CUSTOMER) -> str:
    response = sandbox.post(f"/sandbox/customers/{wa_id}/messages", json={"type": "text", "text": {"body": text}})
    response.raise_for_status()
    return response.json()["wamid"]


def send(sandbox: httpx.Client, message: dict[str, Any], to: str = CUSTOMER) -> str:
    response = sandbox.post(f"/v23.0/{NUMBER}/messages", headers=AUTH,
                            json={"messaging_product": "whatsapp", "to": to, **message})
    assert response.status_code == 200, response.text
    return response.json()["messages"][0]["id"]


def statuses_of(receiver: WebhookReceiver, wamid: str) -> list[str]:
    return [s["status"] for s in receiver.statuses() if s["id"] == wamid]


def test_signed_inbound_and_status_webhooks_arrive_in_metas_shape(
        sandbox: httpx.Client, receiver: WebhookReceiver) -> None:
    inbound = customer_says(sandbox, "Does it come in blue?")
    text = send(sandbox, {"type": "text", "text": {"body": "Yes!"}, "context": {"message_id": inbound},
                          "biz_opaque_callback_data": "client-1"})
    template = send(sandbox, {"type": "template", "template": {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"},
                                                       {"type": "text", "text": "#1001"}]}]}})
    wait_for(lambda: len(statuses_of(receiver, text)) == 3 and len(statuses_of(receiver, template)) == 3,
             what="sent, delivered and read of both messages")

    assert all(r.signed for r in receiver.received)
    assert all(r.headers["content-type"] == "application/json" for r in receiver.received)
    # Meta guarantees no order between webhooks (the sandbox neither): find the one carrying the inbound message.
    [first] = [r.json() for r in receiver.received if inbound.encode() in r.body and b'"messages"' in r.body]
    value = first["entry"][0]["changes"][0]["value"]
    assert first["object"] == "whatsapp_business_account" and first["entry"][0]["id"] == "200000000000001"
    assert value["metadata"] == {"display_phone_number": "15550100001", "phone_number_id": NUMBER}
    assert value["contacts"][0]["wa_id"] == CUSTOMER and value["contacts"][0]["profile"]["name"]
    assert value["messages"][0] == {"from": CUSTOMER, "id": inbound, "timestamp": value["messages"][0]["timestamp"],
                                    "type": "text", "text": {"body": "Does it come in blue?"}}

    by_key = {(s["id"], s["status"]): s for s in receiver.statuses()}
    sent_text, sent_template = by_key[(text, "sent")], by_key[(template, "sent")]
    assert set(sent_text) == {"id", "status", "timestamp", "recipient_id", "conversation", "pricing",
                              "biz_opaque_callback_data"}
    assert sent_text["recipient_id"] == CUSTOMER and sent_text["biz_opaque_callback_data"] == "client-1"
    assert sent_text["pricing"] == {"billable": False, "pricing_model": "PMP", "type": "free_customer_service",
                                    "category": "service"}
    assert sent_template["conversation"]["origin"] == {"type": "utility"}
    assert sent_template["pricing"]["category"] == "utility"
    assert set(by_key[(text, "read")]) == {"id", "status", "timestamp", "recipient_id", "biz_opaque_callback_data"}


def test_a_receiver_answering_500_gets_the_same_signed_batch_until_it_accepts(
        sandbox: httpx.Client, receiver: WebhookReceiver) -> None:
    receiver.answer(500, 500)
    inbound = customer_says(sandbox, "hello?")
    wait_for(lambda: len(receiver.received) >= 3, what="two refusals and the accepted retry")
    attempts = [r for r in receiver.received if inbound.encode() in r.body]
    assert len(attempts) == 3
    assert len({r.body for r in attempts}) == 1 and all(r.signed for r in attempts)
    stats = wait_for(lambda: (s := sandbox.get("/sandbox/stats").json()["webhooks"])["posts_delivered"] and s,
                     what="the delivery to be counted")
    assert (stats["failed_attempts"], stats["pending_batches"], stats["undelivered_batches"]) == (2, 0, 0)


def test_statuses_wait_while_ingest_is_down_and_arrive_when_it_is_back(
        sandbox: httpx.Client, receiver: WebhookReceiver) -> None:
    customer_says(sandbox, "hi")
    wait_for(lambda: receiver.received, what="the inbound message")
    sandbox.put("/sandbox/webhook", json={"url": f"http://127.0.0.1:{free_port()}/webhooks/whatsapp"})
    wamid = send(sandbox, {"type": "text", "text": {"body": "while you were down"}})
    wait_for(lambda: sandbox.get("/sandbox/stats").json()["webhooks"]["failed_attempts"] >= 2,
             what="failed attempts against the closed port")
    assert statuses_of(receiver, wamid) == []
    sandbox.put("/sandbox/webhook", json={"url": receiver.url})
    wait_for(lambda: sorted(statuses_of(receiver, wamid)) == ["delivered", "read", "sent"],
             what="the held statuses after ingest came back")


def test_a_blocked_business_gets_a_failed_status_with_131026(
        sandbox: httpx.Client, receiver: WebhookReceiver) -> None:
    customer_says(sandbox, "hi")
    sandbox.post(f"/sandbox/customers/{CUSTOMER}/block", json={"phone_number_id": NUMBER}).raise_for_status()
    wamid = send(sandbox, {"type": "text", "text": {"body": "hello?"}})
    failed = wait_for(lambda: [s for s in receiver.statuses() if s["id"] == wamid], what="the failed status")
    assert failed[0]["status"] == "failed"
    assert failed[0]["errors"][0]["code"] == 131026 and failed[0]["errors"][0]["error_data"]["details"]
