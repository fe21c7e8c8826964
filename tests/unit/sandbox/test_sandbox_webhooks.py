"""Notifications in-process: statuses and inbound messages signed, batched, retried, counted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from parley.sandbox.app import create_app
from parley.sandbox.notifications import signature_valid
from parley.sandbox.settings import ChaosSettings
from tests.unit.sandbox.sandbox_harness import AUTH, NUMBER, Receiver, eventually, settings

SECRET = "dev-only-app-secret"
CUSTOMER = "16505551234"


@asynccontextmanager
async def running(receiver: Receiver, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox with its dispatcher running on the real clock, posting webhooks into ``receiver``."""
    app = create_app(settings(**overrides), webhook_client=httpx.AsyncClient(transport=httpx.ASGITransport(receiver)))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://sandbox") as client:
        yield client


def notifications(receiver: Receiver) -> list[dict[str, Any]]:
    for headers, body in receiver.requests:
        assert signature_valid(body, headers.get("x-hub-signature-256"), SECRET)
    return [json.loads(body) for _, body in receiver.requests]


def statuses(receiver: Receiver) -> list[dict[str, Any]]:
    return [s for n in notifications(receiver) for e in n["entry"] for c in e["changes"]
            for s in c["value"].get("statuses", [])]


async def text(client: httpx.AsyncClient, body: str, **extra: Any) -> str:
    response = await client.post(f"/v23.0/{NUMBER}/messages", headers=AUTH, json={
        "messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": body}, **extra})
    assert response.status_code == 200, response.text
    return response.json()["messages"][0]["id"]


async def test_statuses_arrive_signed_batched_and_shaped_like_meta() -> None:
    receiver = Receiver()
    async with running(receiver) as client:
        await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "hi"}})
        wamid = await text(client, "Hello", biz_opaque_callback_data="ref-1")
        await eventually(lambda: len(statuses(receiver)) == 3, message="sent, delivered and read")
    inbound, batch = notifications(receiver)
    assert inbound["entry"][0]["changes"][0]["value"]["messages"][0]["text"] == {"body": "hi"}
    assert batch["object"] == "whatsapp_business_account"
    entry = batch["entry"][0]
    assert entry["id"] == "200000000000001"
    value = entry["changes"][0]["value"]
    assert entry["changes"][0]["field"] == "messages"
    assert value["metadata"] == {"display_phone_number": "15550100001", "phone_number_id": NUMBER}
    sent, delivered, read = value["statuses"]  # due together: one POST
    assert [s["status"] for s in (sent, delivered, read)] == ["sent", "delivered", "read"]
    assert {s["id"] for s in value["statuses"]} == {wamid}
    assert all(s["recipient_id"] == CUSTOMER and s["timestamp"].isdigit() for s in value["statuses"])
    assert sent["conversation"]["origin"] == {"type": "service"} and "expiration_timestamp" in sent["conversation"]
    assert delivered["conversation"]["id"] == sent["conversation"]["id"]
    assert sent["pricing"] == {"billable": False, "pricing_model": "PMP", "type": "free_customer_service",
                               "category": "service"}
    assert sent["biz_opaque_callback_data"] == "ref-1"
    assert "pricing" not in read


async def test_statuses_falling_due_within_the_window_share_one_post() -> None:
    receiver = Receiver()
    async with running(receiver, webhook_batch_window_ms=400) as client:
        await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "hi"}})
        await eventually(lambda: len(receiver.requests) == 1, message="the customer's message, on its own")
        wamids = [await text(client, f"Update {n}") for n in range(5)]  # sent one by one, not due together
        await eventually(lambda: len(statuses(receiver)) == 15, message="sent, delivered and read of each")
    [_, batch] = notifications(receiver)
    assert {s["id"] for s in batch["entry"][0]["changes"][0]["value"]["statuses"]} == set(wamids)


async def test_a_failing_receiver_gets_the_same_batch_again_until_it_answers_200() -> None:
    receiver = Receiver(answers=[500, 503, 404])
    async with running(receiver) as client:
        await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "hi"}})
        await eventually(lambda: len(receiver.requests) == 4, message="three failures, then success")
        stats = (await client.get("/sandbox/stats")).json()["webhooks"]
        deliveries = (await client.get("/sandbox/webhooks")).json()["deliveries"]
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # retried with the very same bytes (and signature)
    assert (stats["attempts"], stats["failed_attempts"], stats["posts_delivered"]) == (4, 3, 1)
    assert [a["status"] for a in deliveries[0]["history"]] == [500, 503, 404, 200]


async def test_a_batch_past_the_retry_horizon_is_counted_undelivered() -> None:
    receiver = Receiver(answers=[500] * 1000)
    async with running(receiver, webhook_retry_horizon_seconds=0.05) as client:
        await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "hi"}})

        async def undelivered() -> dict[str, Any] | None:
            stats = (await client.get("/sandbox/stats")).json()["webhooks"]
            return stats if stats["undelivered_batches"] else None

        stats = await eventually(undelivered, message="the batch given up")
        listed = (await client.get("/sandbox/webhooks", params={"state": "undelivered"})).json()["deliveries"]
    assert (stats["undelivered_batches"], stats["undelivered_events"], stats["pending_batches"]) == (1, 1, 0)
    assert listed[0]["attempts"] == len(receiver.requests)


async def test_a_customer_who_blocked_the_business_yields_a_failed_status() -> None:
    receiver = Receiver()
    async with running(receiver) as client:
        await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "hi"}})
        await client.post(f"/sandbox/customers/{CUSTOMER}/block", json={})
        wamid = await text(client, "are you there?")
        failed = await eventually(lambda: [s for s in statuses(receiver) if s["status"] == "failed"])
    assert failed[0]["id"] == wamid
    assert failed[0]["errors"][0]["code"] == 131026
    assert failed[0]["errors"][0]["title"] == "Message undeliverable"
    assert not [s for s in statuses(receiver) if s["status"] == "sent"]


async def test_chaos_duplicates_every_event() -> None:
    receiver = Receiver()
    async with running(receiver, chaos=ChaosSettings(duplicate_probability=1.0, seed=7)) as client:
        await client.post(f"/sandbox/customers/{CUSTOMER}/messages", json={"type": "text", "text": {"body": "hi"}})
        await text(client, "Hello")
        await eventually(lambda: len(statuses(receiver)) == 6, message="each status twice")
    counted = {(s["id"], s["status"]) for s in statuses(receiver)}
    assert len(counted) == 3
    inbound = [n for n in notifications(receiver) if "messages" in n["entry"][0]["changes"][0]["value"]]
    assert len(inbound) == 2 and inbound[0] == inbound[1]
