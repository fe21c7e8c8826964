"""Channels and exactly-once sends against real Postgres and the Cloud API sandbox process."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageReceived, MessageStatus
from parley.kit.auth import Principal
from parley.kit.cli import rewrap_keys
from parley.kit.crypto import Keyring
from parley.sender import outbound
from parley.sender.admission import claim_due
from parley.sender.graph import GraphClient
from parley.sender.models import kit_tables
from parley.sender.worker import Sender
from tests.integration.sender.conftest import Harness, unique_digits

pytestmark = pytest.mark.integration


async def test_a_channel_is_verified_stored_encrypted_and_never_shown(sender: Harness) -> None:
    number, token = await sender.sandbox_number()
    body = {"phone_number_id": number, "waba_id": "4000001", "display_phone_number": "+1 555 0101",
            "access_token": token}
    created = await sender.client.post("/v1/channels", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "active" and created.json()["verified_name"] == "Sender Test"
    listed = await sender.client.get("/v1/channels")
    assert [c["phone_number_id"] for c in listed.json()["data"]] == [number]
    assert token not in created.text + listed.text

    row = await sender.channel_row(number)
    assert row.access_token_ciphertext is not None and token.encode() not in row.access_token_ciphertext
    es = kit_tables.event_store
    async with sender.service.db.unit_of_work() as session:
        history = list(await session.scalars(select(es.c.envelope).where(es.c.aggregate_id == number)))
    assert [e["type"] for e in history] == ["channel.registered", "channel.token-set"]
    assert token not in json.dumps(history), "the event store holds ciphertext only"

    assert (await sender.client.post("/v1/channels", json=body)).status_code == 409


async def test_a_messages_content_is_stored_only_encrypted_and_sent_as_written(sender: Harness) -> None:
    number = await sender.channel()
    customer, words = unique_digits("1", 11), f"Your code is {uuid.uuid4().hex[:8]}, do not share it"
    await sender.sandbox.post(f"/sandbox/customers/{customer}/messages",
                              json={"phone_number_id": number, "type": "text", "text": {"body": "hi"}})
    await sender.consume("sender.inbound", MessageReceived.model_validate({
        "wamid": f"wamid.{uuid.uuid4().hex}", "phone_number_id": number, "wa_id": customer, "from": customer,
        "timestamp": datetime.now(UTC), "type": "text", "text": {"body": "hi"}}))
    # one alone, and two together (the consumer's batch path)
    alone = await sender.request(number, to=customer, text=words)
    together = [uuid.uuid4(), uuid.uuid4()]
    await sender.consume_batch("sender.requests", [
        Envelope.wrap(sender.requested(number, i, to=customer, text=words), source="/tests",
                      tenant_id=sender.principal.tenant_id) for i in together])

    async with sender.service.db.unit_of_work(system=True) as session:  # the table as a database reader sees it
        rows = (await session.execute(text(
            "SELECT body, body_sealed, row_to_json(m)::text AS whole FROM sender.outbound_messages m "
            "WHERE client_message_id = ANY(:ids)"), {"ids": [alone, *together]})).all()
    assert len(rows) == 3
    for row in rows:
        assert row.body is None and row.body_sealed and words.encode() not in row.body_sealed
        assert words not in row.whole and "do not share" not in row.whole

    for client_message_id in (alone, *together):
        await sender.settle(client_message_id, "accepted")
        response = await sender.sandbox.get("/sandbox/sends", params={"recipient": customer})
        [sent] = [s for s in response.json()["sends"] if s["biz_opaque_callback_data"] == str(client_message_id)]
        assert sent["payload"]["text"]["body"] == words


async def test_a_message_whose_tenant_key_was_shredded_fails_instead_of_sending(sender: Harness) -> None:
    number = await sender.channel()
    client_message_id = await sender.request(number)
    cipher = sender.service.definition.extra_state["tenant_cipher"]
    async with sender.service.db.unit_of_work(system=True) as session:
        assert await cipher.shred(session, sender.principal.tenant_id)
    failed = await sender.settle(client_message_id, "failed")
    assert failed.error_title == "content_unreadable" and "decrypted" in (failed.last_error or "")
    assert await sender.sends(client_message_id) == []


async def test_after_a_master_key_rotation_and_rewrap_tokens_and_queued_messages_open_without_the_old_key(
        sender: Harness) -> None:
    number = await sender.channel()
    queued = await sender.request(number)  # token and body sealed under a data key wrapped by the old master key
    cipher = sender.service.definition.extra_state["tenant_cipher"]
    old, rotated = cipher.keyring, Keyring.parse(Keyring.generate_entry("rotated")).current
    cipher.keyring = Keyring([rotated, *old.keys.values()])  # the new key first, the old one still there
    try:
        reported = await rewrap_keys(sender.service, [])
        assert reported.startswith("sender: ") and reported.endswith("under master key 'rotated'")
        cipher.keyring = Keyring([rotated])  # the old master key removed
        accepted = await sender.settle(queued, "accepted")
        assert [s["wamid"] for s in await sender.sends(queued)] == [accepted.wamid]
    finally:  # back under the session's key for the other tests
        cipher.keyring = Keyring([old.current, rotated])
        await rewrap_keys(sender.service, [])
        cipher.keyring = old


async def test_a_refused_token_or_a_non_manager_is_turned_away(sender: Harness) -> None:
    number, _ = await sender.sandbox_number()
    body = {"phone_number_id": number, "waba_id": "4000002", "display_phone_number": "+1 555 0102",
            "access_token": "not-the-token"}
    refused = await sender.client.post("/v1/channels", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_access_token"
    assert "190" in refused.json()["error"]["message"] and "not-the-token" not in refused.text

    sender.principal = Principal(sender.principal.tenant_id, uuid.uuid4(), "agent")
    forbidden = await sender.client.post("/v1/channels", json=body)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"


async def test_a_duplicate_request_is_sent_once_and_gets_the_original_outcome(sender: Harness) -> None:
    number = await sender.channel()
    client_message_id = await sender.request(number)
    await sender.request(number, client_message_id)  # redelivered before the first send
    accepted = await sender.settle(client_message_id, "accepted")
    await sender.request(number, client_message_id)  # requested again after the outcome

    sends = await sender.sends(client_message_id)
    assert len(sends) == 1 and sends[0]["wamid"] == accepted.wamid
    statuses = await sender.statuses(client_message_id)
    assert [(s["status"], s["wamid"], s["origin"]) for s in statuses] == [("accepted", accepted.wamid, "sender")] * 2
    assert statuses[0]["biz_opaque_callback_data"] == str(client_message_id)


async def test_a_batch_of_requests_queues_each_once_in_order_and_repeats_get_the_original_outcome(
        sender: Harness) -> None:
    """The consumer hands the sender a tenant's requests together: direct ones go in one insert, a pool request
    in the middle picks its number, a repeat (earlier or within the batch) is not queued again, and a number
    the tenant does not own fails its message, not the batch."""
    number, other = await sender.channel(), await sender.channel()
    pool = await sender.client.post("/v1/pools", json={"name": "Batch", "phone_number_ids": [other]})
    assert pool.status_code == 201, pool.text
    done = await sender.request(number)
    accepted = await sender.settle(done, "accepted")
    first, second, pooled, stray = (uuid.uuid4() for _ in range(4))
    tenant = sender.principal.tenant_id
    batch = [sender.requested(number, first), sender.requested(number, done), sender.requested(number, first),
             sender.requested(None, pooled, pool_id=uuid.UUID(pool.json()["id"])),
             sender.requested(number, second), sender.requested("15550009999", stray)]
    await sender.consume_batch("sender.requests", [Envelope.wrap(r, source="/tests", tenant_id=tenant) for r in batch])

    queued = [await sender.message(i) for i in (first, pooled, second)]
    assert [m.id for m in queued] == sorted(m.id for m in queued), "queued in the order requested"
    assert queued[1].phone_number_id == other
    refused = await sender.message(stray)
    assert refused.status == "failed" and "not registered" in (refused.last_error or "")
    for client_message_id in (first, pooled, second):
        await sender.settle(client_message_id, "accepted")
        assert len(await sender.sends(client_message_id)) == 1
    assert [s["status"] for s in await sender.statuses(done)] == ["accepted", "accepted"]
    assert len(await sender.sends(done)) == 1 and (await sender.message(done)).wamid == accepted.wamid
    assert [s["status"] for s in await sender.statuses(first)] == ["accepted"]


async def test_a_permanent_error_fails_the_message_with_metas_code(sender: Harness) -> None:
    number = await sender.channel()
    await sender.sandbox.post(f"/sandbox/numbers/{number}/faults", json={"code": 131026, "times": 1})
    client_message_id = await sender.request(number)
    failed = await sender.settle(client_message_id, "failed")
    assert failed.error_code == 131026 and failed.attempts == 1
    [status] = await sender.statuses(client_message_id)
    assert status["status"] == "failed" and status["errors"][0]["code"] == 131026
    assert await sender.sends(client_message_id) == []


async def test_throttling_and_service_errors_are_retried_until_accepted(sender: Harness) -> None:
    number = await sender.channel()
    for code in (130429, 131000, 131056):
        await sender.sandbox.post(f"/sandbox/numbers/{number}/faults", json={"code": code, "times": 1})
    client_message_id = await sender.request(number)
    accepted = await sender.settle(client_message_id, "accepted")
    assert accepted.attempts == 4
    assert len(await sender.sends(client_message_id)) == 1
    assert [s["status"] for s in await sender.statuses(client_message_id)] == ["accepted"]


async def test_an_expired_token_holds_the_channels_messages_until_a_new_token(sender: Harness) -> None:
    number = await sender.channel()
    await sender.sandbox.post(f"/sandbox/numbers/{number}/faults", json={"code": 190, "times": 1})
    client_message_id = await sender.request(number)
    held = await sender.settle(client_message_id, "queued")
    while (await sender.channel_row(number)).status != "needs_token":
        held = await sender.settle(client_message_id, "queued")
    assert held.attempts == 0 and "190" in (held.last_error or "")
    updates = await sender.events("channel.updated", number)
    assert [u["data"]["status"] for u in updates] == ["needs_token"]
    await sender.sender.send_due()
    assert (await sender.message(client_message_id)).status == "queued", "held, neither sent nor failed"
    assert await sender.statuses(client_message_id) == []

    token = f"renewed-{uuid.uuid4().hex}"
    await sender.sandbox.patch(f"/sandbox/numbers/{number}", json={"access_token": token})
    renewed = await sender.client.put(f"/v1/channels/{number}/access-token", json={"access_token": token})
    assert renewed.status_code == 200 and renewed.json()["status"] == "active", renewed.text
    await sender.settle(client_message_id, "accepted")
    assert len(await sender.sends(client_message_id)) == 1


class LostAnswer(httpx.AsyncBaseTransport):
    """Forwards the request to the sandbox (or not), then loses the answer like a dropped connection."""

    def __init__(self, deliver: bool) -> None:
        self.deliver = deliver
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.deliver:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        raise httpx.ReadTimeout("the answer was lost", request=request)


def lossy_sender(sender: Harness, *, deliver: bool) -> Sender:
    settings = sender.sender.settings
    graph = GraphClient(settings.graph_api_url, timeout_seconds=5, transport=LostAnswer(deliver))
    return Sender(sender.service.db, sender.service.store, sender.sender.cipher, graph, settings,
                  sender.sender.admission)


def meta_status(sender: Harness, number: str, wamid: str, client_message_id: uuid.UUID) -> Envelope:
    from datetime import UTC, datetime

    return Envelope.wrap(MessageStatus(status="sent", wamid=wamid, phone_number_id=number, recipient_id="1555",
                                       timestamp=datetime.now(UTC), origin="meta",
                                       biz_opaque_callback_data=str(client_message_id)),
                         source="/parley/ingest", tenant_id=sender.principal.tenant_id)


async def test_an_in_doubt_send_accepted_by_meta_is_reconciled_from_its_status_not_resent(sender: Harness) -> None:
    number = await sender.channel()
    client_message_id = await sender.request(number)
    await sender.settle(client_message_id, "in_doubt", sender=lossy_sender(sender, deliver=True))
    [sent] = await sender.sends(client_message_id)

    await sender.sender.sweep()  # inside the grace period: it waits for Meta's word
    assert (await sender.message(client_message_id)).status == "in_doubt"
    await sender.consume_batch("sender.statuses", [meta_status(sender, number, sent["wamid"], client_message_id)])
    reconciled = await sender.message(client_message_id)
    assert reconciled.status == "accepted" and reconciled.wamid == sent["wamid"]
    assert [(s["status"], s["wamid"]) for s in await sender.statuses(client_message_id)] == \
        [("accepted", sent["wamid"])]
    await sender.sender.send_due()
    assert len(await sender.sends(client_message_id)) == 1


def later_status(number: str, at: datetime) -> MessageStatus:
    """Another message's status from Meta for the number, stamped ``at`` (it moves the number's watermark)."""
    return MessageStatus(status="delivered", wamid=f"wamid.{uuid.uuid4().hex}", phone_number_id=number,
                         recipient_id="16505550000", timestamp=at, origin="meta")


async def record_progress(sender: Harness, caught_up: dict[int, datetime], partitions: int) -> None:
    """What the statuses consumer's loop reports (``Subscription.on_progress``) after processing its partitions."""
    async with sender.service.db.unit_of_work(system=True) as session:
        await outbound.record_status_progress(session, "message.status", caught_up, partitions)


async def test_an_in_doubt_send_meta_never_saw_is_sent_again_after_the_grace_period(sender: Harness) -> None:
    number = await sender.channel()
    client_message_id = await sender.request(number)
    await sender.settle(client_message_id, "in_doubt", sender=lossy_sender(sender, deliver=False))
    assert await sender.sends(client_message_id) == []

    impatient = Sender(sender.service.db, sender.service.store, sender.sender.cipher, sender.sender.graph,
                       sender.sender.settings.model_copy(update={"in_doubt_grace_seconds": 0}), sender.sender.admission)
    await impatient.sweep()
    assert (await sender.message(client_message_id)).status == "in_doubt", \
        "past the grace period, but no later status from Meta yet: the status pipeline may just be late"
    earlier = datetime.now(UTC)  # a status Meta stamped before (or at) our attempt proves nothing
    await sender.consume("sender.statuses", later_status(number, earlier))
    await impatient.sweep()
    assert (await sender.message(client_message_id)).status == "in_doubt"

    await sender.consume("sender.statuses", later_status(number, earlier + timedelta(seconds=10)))
    await impatient.sweep()
    message = await sender.message(client_message_id)
    assert message.status == "in_doubt" and message.watermark_passed_at is not None, \
        "a later status came in, but another partition of the statuses may still hold this send's own"

    # Partitions 0 and 1 are processed past that moment; partition 2 (this recipient's, say) is behind.
    past, behind = message.watermark_passed_at + timedelta(seconds=10), message.watermark_passed_at
    await record_progress(sender, {0: past, 1: past, 2: behind}, partitions=3)
    await impatient.sweep()
    assert (await sender.message(client_message_id)).status == "in_doubt", "one lagging partition holds it back"

    await record_progress(sender, {2: past}, partitions=3)
    await impatient.sweep()
    accepted = await sender.settle(client_message_id, "accepted")
    assert [s["wamid"] for s in await sender.sends(client_message_id)] == [accepted.wamid]


async def test_a_send_left_in_sending_by_a_dead_process_becomes_in_doubt(sender: Harness) -> None:
    number = await sender.channel()
    client_message_id = await sender.request(number)
    async with sender.service.db.unit_of_work(system=True) as session:  # claimed, then the process "died"
        claimed, _ = await claim_due(session, sender.service.store, sender.sender.cipher, 1000,
                                     sender.sender.admission)
    assert (await sender.message(client_message_id)).status == "sending"
    async with sender.service.db.unit_of_work(system=True) as session:
        await outbound.mark_in_doubt(session, 0)
    assert (await sender.message(client_message_id)).status == "in_doubt"
    async with sender.service.db.unit_of_work(system=True) as session:  # leave no other test's message in doubt
        for message in claimed:
            await session.execute(outbound.update(outbound.OutboundMessage)
                                  .where(outbound.OutboundMessage.id == message.id,
                                         outbound.OutboundMessage.status == "in_doubt")
                                  .values(status="queued"))


async def test_an_idle_send_loop_wakes_when_a_request_is_queued_not_a_poll_later(sender: Harness) -> None:
    number = await sender.channel()
    # The loop pauses for an hour when it finds nothing: only the wake-up of a committed request gets it going.
    loop = asyncio.create_task(sender.sender.run_send_loops(idle_seconds=3600))
    try:
        await asyncio.sleep(0.2)  # the loop finds nothing due and pauses
        client_message_id = await sender.request(number)
        deadline = time.monotonic() + 30
        while not await sender.sends(client_message_id):
            assert time.monotonic() < deadline, "the queued request was not sent: the loop slept through it"
            await asyncio.sleep(0.1)
        assert len(await sender.sends(client_message_id)) == 1
    finally:
        loop.cancel()
