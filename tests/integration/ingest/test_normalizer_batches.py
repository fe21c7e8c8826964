"""The normalizer consumer against real Postgres: whole fetches of webhook.received in one transaction.

Records are handed to the ``ingest.normalizer`` subscription's runner as Kafka would hand a fetch
(``handle_batch``): inbox claim, batch handler and commit together, Meta's duplicates absorbed
whether they arrive in one batch or in two.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select

from parley.contracts import Envelope, new_event_id
from parley.contracts.binding import to_record
from parley.contracts.events.channels import ChannelRegistered
from parley.contracts.events.webhooks import WebhookReceived
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.ingest import service, subscribers
from parley.ingest.main import build
from parley.ingest.models import ParkedWebhook, WebhookRecord, kit_tables
from parley.ingest.settings import IngestSettings
from parley.kit.consumer import ConsumerRunner
from parley.kit.service import Service
from tests.support import meta

pytestmark = pytest.mark.integration


@pytest.fixture
async def ingest(platform: Platform) -> AsyncIterator[Service]:
    spec = next(s for s in SERVICES if s.name == "ingest")
    built = build(IngestSettings(database_url=platform.database_url(spec)))
    await built.migrate()
    yield built
    await built.db.dispose()


def _runner(ingest: Service) -> ConsumerRunner:
    [normalizer] = [s for s in subscribers.subscriptions(ingest.store, None) if s.consumer == "ingest.normalizer"]
    return ConsumerRunner(ingest.db, ingest.store.tables, None, normalizer)  # type: ignore[arg-type]


def _number() -> str:
    return f"7{uuid.uuid4().int % 10**14:014d}"


async def _store(ingest: Service, payload: dict[str, Any] | bytes) -> uuid.UUID:
    """What the intake commits for an authentic WhatsApp webhook: the raw row."""
    body = payload if isinstance(payload, bytes) else meta.encode(payload)
    webhook_id = new_event_id()
    async with ingest.db.unit_of_work() as session:
        session.add(WebhookRecord(id=webhook_id, kind="whatsapp", body=body, headers={}, content_sha256="0" * 64,
                                  size_bytes=len(body), status="received"))
    return webhook_id


def _received(webhook_id: uuid.UUID) -> Envelope:
    return Envelope.wrap(WebhookReceived(webhook_id=webhook_id, kind="whatsapp", received_at=datetime.now(UTC),
                                         content_sha256="0" * 64, size_bytes=1),
                         source="/parley/ingest", tenant_id=None, subject=f"webhook/{webhook_id}",
                         traceparent=f"00-{webhook_id.hex}-00000000000000a1-01")  # each webhook its own trace


def _records(webhook_ids: list[uuid.UUID], first_offset: int = 0) -> list[ConsumerRecord]:
    records = []
    for offset, webhook_id in enumerate(webhook_ids, start=first_offset):
        key, value, headers = to_record(_received(webhook_id))
        records.append(ConsumerRecord("webhook.received", 0, offset, 0, 0, key, value, None, len(key), len(value),
                                      list(headers)))
    return records


async def _register(ingest: Service, number: str, tenant: uuid.UUID, waba_id: str = "102290129340398") -> None:
    envelope = Envelope.wrap(ChannelRegistered(phone_number_id=number, waba_id=waba_id, display_phone_number="1555"),
                             source="/parley/sender", tenant_id=tenant)
    async with ingest.db.unit_of_work(system=True) as session:
        await service.apply_channel_event(session, ingest.store, envelope)


async def _events(ingest: Service, event_type: str, **data: str) -> list[dict[str, Any]]:
    es = kit_tables.event_store
    async with ingest.db.unit_of_work() as session:
        rows = await session.scalars(select(es.c.envelope).where(es.c.event_type == event_type)
                                     .order_by(es.c.position))
        return [r for r in rows if all(r["data"].get(k) == v for k, v in data.items())]


async def _statuses(ingest: Service, *webhook_ids: uuid.UUID) -> list[tuple[str, str | None]]:
    async with ingest.db.unit_of_work() as session:
        rows = {r.id: r for r in await session.scalars(select(WebhookRecord).where(WebhookRecord.id.in_(webhook_ids)))}
    return [(rows[w].status, rows[w].status_reason) for w in webhook_ids]


async def test_meta_resending_a_message_inside_one_batch_yields_one_event_per_wamid(ingest: Service) -> None:
    number, tenant = _number(), uuid.uuid4()
    await _register(ingest, number, tenant)
    message = meta.inbound("text", {"body": "hello once"})
    statuses = [meta.status("wamid.out-" + number, s) for s in ("sent", "delivered", "sent")]
    payload = meta.notification(number, messages=[message], statuses=statuses)
    resent = [await _store(ingest, payload) for _ in range(3)]

    await _runner(ingest).handle_batch(_records(resent))

    [event] = await _events(ingest, "message.received", wamid=message["id"])
    assert (event["tenantid"], event["data"]["webhook_id"]) == (str(tenant), str(resent[0])), "the first one wins"
    assert event["traceparent"].split("-")[1] == resent[0].hex, "the event continues its webhook's trace"
    delivery = await _events(ingest, "message.status", wamid="wamid.out-" + number)
    assert [e["data"]["status"] for e in delivery] == ["sent", "delivered"]
    assert await _statuses(ingest, *resent) == [("processed", None)] * 3


async def test_a_duplicate_in_a_later_batch_finds_its_event_taken(ingest: Service) -> None:
    number = _number()
    await _register(ingest, number, uuid.uuid4())
    message = meta.inbound("text", {"body": "sent twice, a minute apart"})
    other = meta.inbound("text", {"body": "new in the second batch"})
    first = await _store(ingest, meta.notification(number, messages=[message]))
    await _runner(ingest).handle_batch(_records([first]))

    again = await _store(ingest, meta.notification(number, messages=[message, other]))
    await _runner(ingest).handle_batch(_records([again], first_offset=1))

    [event] = await _events(ingest, "message.received", wamid=message["id"])
    assert event["data"]["webhook_id"] == str(first)
    [new] = await _events(ingest, "message.received", wamid=other["id"])
    assert new["data"]["webhook_id"] == str(again), "the webhook's new message still gets through"
    assert await _statuses(ingest, first, again) == [("processed", None)] * 2


async def test_a_mixed_batch_routes_parks_and_quarantines_each_webhook_on_its_own(ingest: Service) -> None:
    known, unknown, tenant = _number(), _number(), uuid.uuid4()
    await _register(ingest, known, tenant)
    routed_message, waiting_message = meta.inbound("text", {"body": "routed"}), meta.inbound("text", {"body": "wait"})
    routed = await _store(ingest, meta.notification(known, messages=[routed_message]))
    parked = await _store(ingest, meta.notification(unknown, messages=[waiting_message]))
    broken = await _store(ingest, b'{"object":"page","entry":[]}')
    garbage = await _store(ingest, b"\xff not json")

    await _runner(ingest).handle_batch(_records([routed, parked, broken, garbage]))

    assert await _statuses(ingest, routed, parked, broken, garbage) == [
        ("processed", None), ("parked", f"waiting for a channel: {unknown}"),
        ("quarantined", "not a whatsapp_business_account notification"),
        ("quarantined", "not a whatsapp_business_account notification")]
    [event] = await _events(ingest, "message.received", wamid=routed_message["id"])
    assert event["tenantid"] == str(tenant)
    assert await _events(ingest, "message.received", wamid=waiting_message["id"]) == []
    async with ingest.db.unit_of_work() as session:
        waiting = list(await session.scalars(select(ParkedWebhook.phone_number_id)
                                             .where(ParkedWebhook.webhook_id == parked)))
    assert waiting == [unknown]

    other_tenant = uuid.uuid4()
    await _register(ingest, unknown, other_tenant)  # the channel arrives: the parked webhook goes out
    [late] = await _events(ingest, "message.received", wamid=waiting_message["id"])
    assert late["tenantid"] == str(other_tenant)
    assert await _statuses(ingest, parked) == [("processed", None)]


async def test_a_redelivered_fetch_changes_nothing(ingest: Service) -> None:
    number = _number()
    await _register(ingest, number, uuid.uuid4())
    message = meta.inbound("text", {"body": "once"})
    webhook_id = await _store(ingest, meta.notification(number, messages=[message]))
    records = _records([webhook_id])
    await _runner(ingest).handle_batch(records)
    await _runner(ingest).handle_batch(records)  # Kafka redelivers after a crash before the offset commit
    assert len(await _events(ingest, "message.received", wamid=message["id"])) == 1


async def test_a_batch_naming_a_webhook_not_stored_fails_whole_so_the_kit_retries_it_event_by_event(
        ingest: Service) -> None:
    number = _number()
    await _register(ingest, number, uuid.uuid4())
    message = meta.inbound("text", {"body": "fine"})
    stored, lost = await _store(ingest, meta.notification(number, messages=[message])), new_event_id()
    with pytest.raises(LookupError, match=str(lost)):
        async with ingest.db.unit_of_work(system=True) as session:
            await service.process_webhooks(session, ingest.store, [stored, lost])
    assert await _events(ingest, "message.received", wamid=message["id"]) == [], "rolled back together"
    async with ingest.db.unit_of_work(system=True) as session:
        assert await service.process_webhooks(session, ingest.store, [stored]) == {stored: "processed"}
    assert len(await _events(ingest, "message.received", wamid=message["id"])) == 1
