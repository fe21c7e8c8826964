"""Per-number health: auto-pause after repeated failures, manual resume, slow-down on 131048, Meta's feedback."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from parley.contracts import Envelope
from parley.contracts.events.accounts import PhoneNumberQualityUpdated
from parley.contracts.events.messages import MessageStatus, MetaError
from parley.sender.health import HealthPolicy
from parley.sender.worker import Sender
from tests.integration.sender.conftest import Harness

pytestmark = pytest.mark.integration


def _pausing_after(sender: Harness, failures: int) -> Sender:
    own = sender.sender
    admission = dataclasses.replace(own.admission, health=HealthPolicy(pause_after=failures))
    return Sender(own.db, own.store, own.cipher, own.graph, own.settings, admission)


def _meta_status(number: str, status: str, *, code: int | None = None) -> MessageStatus:
    return MessageStatus(status=status, wamid=f"wamid.{uuid.uuid4().hex}", phone_number_id=number,
                         recipient_id="16505550000", timestamp=datetime.now(UTC), origin="meta",
                         errors=[MetaError(code=code, title="failed")] if code else [])


async def test_repeated_failures_pause_a_number_until_a_manager_resumes_it(sender: Harness) -> None:
    number = await sender.channel()
    engine = _pausing_after(sender, 3)
    await sender.sandbox.post(f"/sandbox/numbers/{number}/faults", json={"code": 368, "times": 3})
    for _ in range(3):
        await sender.settle(await sender.request(number), "failed", sender=engine)
    listed = (await sender.client.get("/v1/channels")).json()["data"]
    assert listed[0]["paused"] is True
    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert stats["paused"] and "3 failed sends in a row" in stats["paused_reason"] and "368" in stats["paused_reason"]
    assert stats["failed"] == 3 and stats["consecutive_failures"] == 3 and stats["health_score"] < 75
    [paused] = [e["data"] for e in await sender.events("channel.updated", number) if e["data"].get("paused")]
    assert paused["paused"] is True and paused["health_score"] < 100

    waiting = await sender.request(number)
    for _ in range(3):
        await engine.send_due()
    assert (await sender.message(waiting)).status == "queued", "a paused number's messages wait"
    assert (await sender.client.get(f"/v1/channels/{number}/stats")).json()["queued"] >= 1

    resumed = await sender.client.post(f"/v1/channels/{number}/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    await sender.settle(waiting, "accepted", sender=engine)
    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert stats["accepted"] == 1 and stats["consecutive_failures"] == 0 and stats["healthy"]
    assert [e["data"].get("paused") for e in await sender.events("channel.updated", number)][-1] is False


async def test_recipient_errors_are_counted_but_do_not_pause_the_number(sender: Harness) -> None:
    number = await sender.channel()
    engine = _pausing_after(sender, 2)
    await sender.sandbox.post(f"/sandbox/numbers/{number}/faults", json={"code": 131026, "times": 3})
    for _ in range(3):
        await sender.settle(await sender.request(number), "failed", sender=engine)
    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert stats["failed"] == 3 and not stats["paused"] and stats["consecutive_failures"] == 0
    assert stats["last_error_code"] == 131026


async def test_the_spam_rate_limit_slows_the_number_down(sender: Harness) -> None:
    number = await sender.channel()
    await sender.sandbox.post(f"/sandbox/numbers/{number}/faults", json={"code": 131048, "times": 1})
    failed = await sender.settle(await sender.request(number), "failed")
    assert failed.error_code == 131048
    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert stats["throughput_per_second"] == 80 and stats["effective_throughput_per_second"] == 40
    assert stats["slowed_until"] and "131048" in stats["slowed_reason"]


async def test_metas_statuses_feed_the_numbers_statistics_and_health(sender: Harness) -> None:
    number = await sender.channel()
    for status in ("sent", "delivered", "delivered", "read"):
        await sender.consume("sender.statuses", _meta_status(number, status))
    await sender.consume("sender.statuses", _meta_status(number, "failed", code=131000))
    await sender.consume("sender.statuses", _meta_status(number, "failed", code=131000), tenant_id=uuid.uuid4())
    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert (stats["delivered"], stats["read"], stats["failed"]) == (2, 1, 1), "another tenant's status is ignored"
    assert stats["consecutive_failures"] == 1 and stats["last_error_code"] == 131000 and stats["health_score"] < 100

    await sender.consume("sender.statuses", _meta_status(number, "failed", code=131048))
    assert (await sender.client.get(f"/v1/channels/{number}/stats")).json()["effective_throughput_per_second"] == 40


async def test_a_manual_pause_holds_messages_and_is_tenant_scoped(sender: Harness) -> None:
    number = await sender.channel()
    paused = await sender.client.post(f"/v1/channels/{number}/pause")
    assert paused.json()["paused"] is True
    waiting = await sender.request(number)
    await sender.sender.send_due()
    assert (await sender.message(waiting)).status == "queued"
    owner = sender.principal
    sender.principal = dataclasses.replace(owner, tenant_id=uuid.uuid4())
    for path in ("resume", "pause"):
        response = await sender.client.post(f"/v1/channels/{number}/{path}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "channel_not_found"
    sender.principal = owner
    await sender.client.post(f"/v1/channels/{number}/resume")
    await sender.settle(waiting, "accepted")


async def test_a_quality_drop_reported_by_meta_slows_the_number_until_it_recovers(sender: Harness) -> None:
    number = await sender.channel()
    row = await sender.channel_row(number)

    async def notice(event: str) -> dict[str, object]:
        await sender.consume("sender.quality", PhoneNumberQualityUpdated(
            waba_id=row.waba_id, display_phone_number="15550100", event=event, current_limit="TIER_1K"))
        return (await sender.client.get(f"/v1/channels/{number}/stats")).json()

    flagged = await notice("FLAGGED")
    assert flagged["effective_throughput_per_second"] == 40 and "FLAGGED" in flagged["slowed_reason"]
    assert (await notice("UNFLAGGED"))["effective_throughput_per_second"] == 80
    reasons = [e["data"].get("reason") for e in await sender.events("channel.updated", number)]
    assert reasons == ["FLAGGED: sending slowed down", "UNFLAGGED: sending at full rate again"]


async def test_a_batch_of_statuses_counts_like_one_by_one_and_a_streak_it_ends_still_pauses(sender: Harness) -> None:
    """One consumer batch: 10 failures in a row (the pause threshold) then a delivery, and another number's."""
    number, other = await sender.channel(), await sender.channel()
    failures = [_meta_status(number, "failed", code=131000) for _ in range(10)]
    batch = [*failures, _meta_status(number, "delivered"), _meta_status(other, "delivered"),
             _meta_status(other, "read")]
    await sender.consume_batch("sender.statuses", [
        Envelope.wrap(s, source="/tests", tenant_id=sender.principal.tenant_id) for s in batch])

    stats = (await sender.client.get(f"/v1/channels/{number}/stats")).json()
    assert (stats["failed"], stats["delivered"], stats["consecutive_failures"]) == (10, 1, 0)
    assert stats["paused"] is True, "ten failures in a row pause the number even if a delivery follows them"
    others = (await sender.client.get(f"/v1/channels/{other}/stats")).json()
    assert (others["delivered"], others["read"], others["failed"], others["paused"]) == (1, 1, 0, False)
