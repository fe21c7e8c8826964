"""Limits a sender enforces before Meta would: per-number throughput, pair rate, plan quotas, the 24 h window."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageReceived
from parley.contracts.events.tenants import PlanLimits, TenantCreated, TenantPlanChanged
from parley.kit.auth import Principal
from parley.sender.limits import PairRate, SendLimits
from parley.sender.worker import Sender
from tests.integration.sender.conftest import Harness, unique_digits

pytestmark = pytest.mark.integration


async def _plan(sender: Harness, *, at: datetime | None = None, created: bool = False, **limits: int) -> None:
    tenant_id = sender.principal.tenant_id
    payload = TenantCreated(tenant_id=tenant_id, name="Acme", plan="starter", limits=PlanLimits(**limits)) \
        if created else TenantPlanChanged(tenant_id=tenant_id, plan="growth", limits=PlanLimits(**limits), features=[])
    await sender.consume("sender.tenants", payload, time=at)


def _with_limits(sender: Harness, limits: SendLimits) -> Sender:
    own = sender.sender
    return Sender(own.db, own.store, own.cipher, own.graph, own.settings,
                  dataclasses.replace(own.admission, limits=limits))


async def _send_rounds(sender: Harness, rounds: int, engine: Sender | None = None) -> None:
    for _ in range(rounds):
        await (engine or sender.sender).send_due()
        await asyncio.sleep(0.05)


async def test_a_numbers_own_throughput_setting_paces_its_sends(sender: Harness) -> None:
    number = await sender.channel()
    changed = await sender.client.patch(f"/v1/channels/{number}", json={"throughput_per_second": 2})
    assert changed.status_code == 200 and changed.json()["throughput_per_second"] == 2, changed.text
    ids = [await sender.request(number) for _ in range(4)]
    await sender.sender.send_due()
    first = [await sender.message(i) for i in ids]
    assert sum(m.status == "accepted" for m in first) == 1, "2/s evenly spaced: one goes now, the others wait"
    waiting = [m for m in first if m.status == "queued"]
    assert all(m.attempts == 0 and "number_throughput" in (m.last_error or "") for m in waiting)
    for i in ids:
        await sender.settle(i, "accepted", within=20)
    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert stats["throughput_per_second"] == 2 and stats["accepted"] == 4 and stats["queued"] == 0

    reset = await sender.client.patch(f"/v1/channels/{number}", json={"throughput_per_second": None})
    assert reset.json()["throughput_per_second"] is None
    assert (await sender.client.get(f"/v1/channels/{number}/stats")).json()["throughput_per_second"] == 80


async def test_throughput_changes_are_validated_and_tenant_scoped(sender: Harness) -> None:
    number = await sender.channel()
    bad = await sender.client.patch(f"/v1/channels/{number}", json={"throughput_per_second": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    sender.principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")
    for response in (await sender.client.patch(f"/v1/channels/{number}", json={"throughput_per_second": 5}),
                     await sender.client.get(f"/v1/channels/{number}/stats")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "channel_not_found"


async def test_the_pair_limit_holds_one_recipient_without_slowing_the_others(sender: Harness) -> None:
    number = await sender.channel()
    limits = SendLimits(Redis.from_url(sender.sender.settings.redis_url), pair=PairRate(3600, burst=2))
    engine = _with_limits(sender, limits)
    try:
        customer = unique_digits("1", 11)
        ids = [await sender.request(number, to=customer) for _ in range(3)]
        other = await sender.request(number)
        await _send_rounds(sender, 6, engine)
        statuses = [(await sender.message(i)).status for i in ids]
        assert statuses.count("accepted") == 2 and statuses.count("queued") == 1
        held = next(m for m in [await sender.message(i) for i in ids] if m.status == "queued")
        assert "recipient_pair_rate" in (held.last_error or "") and held.attempts == 0
        assert held.next_attempt_at > datetime.now(UTC) + timedelta(minutes=50), "waits for the pair interval"
        assert (await sender.message(other)).status == "accepted"
    finally:
        await limits.close()


async def test_plan_quotas_hold_messages_over_the_days_allowance(sender: Harness) -> None:
    number = await sender.channel()
    await _plan(sender, messages_per_day=2)
    ids = [await sender.request(number) for _ in range(3)]
    await _send_rounds(sender, 6)
    messages = [await sender.message(i) for i in ids]
    assert [m.status for m in messages].count("accepted") == 2
    [held] = [m for m in messages if m.status == "queued"]
    assert "messages_per_day" in (held.last_error or "") and held.attempts == 0, "it waits; it is not failed"
    assert await sender.statuses(held.client_message_id) == []


async def test_an_older_plan_event_arriving_late_does_not_undo_a_newer_one(sender: Harness) -> None:
    number = await sender.channel()
    now = datetime.now(UTC)
    await _plan(sender, at=now, messages_per_day=1000)  # plan-changed (newer) first
    await _plan(sender, at=now - timedelta(minutes=5), created=True, messages_per_day=1)  # then the signup
    ids = [await sender.request(number) for _ in range(3)]
    for i in ids:
        await sender.settle(i, "accepted")


async def test_the_plans_number_limit_refuses_another_channel(sender: Harness) -> None:
    await _plan(sender, numbers=1)
    await sender.channel()
    number, token = await sender.sandbox_number()
    refused = await sender.client.post("/v1/channels", json={
        "phone_number_id": number, "waba_id": "4000009", "display_phone_number": "+1 555 0109", "access_token": token})
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "plan_limit_exceeded" and "1 WhatsApp number" in error["message"]
    assert error["details"] == {"limit": "numbers", "allowed": 1, "current": 1, "plan": "growth"}
    assert len((await sender.client.get("/v1/channels")).json()["data"]) == 1


async def test_free_form_outside_the_window_is_refused_before_meta_and_templates_still_go(sender: Harness) -> None:
    number = await sender.channel()
    customer = unique_digits("1", 11)
    refused_id = await sender.request(number, to=customer, text="Hello again!")
    refused = await sender.settle(refused_id, "failed")
    assert refused.error_code == 131047 and refused.error_title == "outside_customer_window"
    assert "24 hours" in (refused.last_error or "") and refused.attempts == 0
    assert await sender.sends(refused_id) == [], "Meta never saw it"
    [status] = await sender.statuses(refused_id)
    assert status["status"] == "failed" and status["errors"][0]["code"] == 131047

    template_id = await sender.request(number, to=customer)
    await sender.settle(template_id, "accepted")


async def test_free_form_inside_the_window_goes_and_an_old_message_does_not_open_it(sender: Harness) -> None:
    number = await sender.channel()
    customer, stale = unique_digits("1", 11), unique_digits("1", 11)
    await sender.sandbox.post(f"/sandbox/customers/{customer}/messages",
                              json={"phone_number_id": number, "type": "text", "text": {"body": "hi"}})
    for wa_id, at in ((customer, datetime.now(UTC)), (stale, datetime.now(UTC) - timedelta(hours=25))):
        await sender.consume("sender.inbound", MessageReceived.model_validate({
            "wamid": f"wamid.{uuid.uuid4().hex}", "phone_number_id": number, "wa_id": wa_id, "from": wa_id,
            "timestamp": at, "type": "text", "text": {"body": "hi"}}))
    accepted = await sender.settle(await sender.request(number, to=customer, text="Here you go"), "accepted")
    assert accepted.wamid
    late = await sender.settle(await sender.request(number, to=stale, text="Sorry for the wait"), "failed")
    assert late.error_code == 131047


async def test_a_customers_latest_message_in_a_batch_opens_the_window_whatever_the_order(sender: Harness) -> None:
    number = await sender.channel()
    customer = unique_digits("1", 11)
    now = datetime.now(UTC)
    await sender.sandbox.post(f"/sandbox/customers/{customer}/messages",  # so Meta's side knows the window too
                              json={"phone_number_id": number, "type": "text", "text": {"body": "hi"}})

    def received(at: datetime) -> Envelope:
        return Envelope.wrap(MessageReceived.model_validate({
            "wamid": f"wamid.{uuid.uuid4().hex}", "phone_number_id": number, "wa_id": customer, "from": customer,
            "timestamp": at, "type": "text", "text": {"body": "hi"}}), source="/tests",
            tenant_id=sender.principal.tenant_id)

    # Meta's order is not WhatsApp's: the newest message first, then two from the day before, in one batch.
    await sender.consume_batch("sender.inbound", [received(now), received(now - timedelta(hours=30)),
                                                  received(now - timedelta(hours=26))])
    accepted = await sender.settle(await sender.request(number, to=customer, text="Here you go"), "accepted")
    assert accepted.wamid, "the older messages processed after it did not close the window"
