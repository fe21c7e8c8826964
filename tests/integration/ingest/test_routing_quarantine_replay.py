"""Ingest against real Postgres: parked webhooks wait for their channel, quarantined ones replay after a fix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from parley.contracts import Envelope, new_event_id
from parley.contracts.events.channels import ChannelRegistered
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.ingest import normalizer, service
from parley.ingest.main import build
from parley.ingest.models import WebhookRecord, kit_tables
from parley.ingest.settings import IngestSettings
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


def _number() -> str:
    return f"7{uuid.uuid4().int % 10**14:014d}"


async def _store(ingest: Service, payload: dict[str, Any]) -> uuid.UUID:
    """What the intake commits for an authentic webhook: the raw row (events are tested elsewhere)."""
    body = meta.encode(payload)
    webhook_id = new_event_id()
    async with ingest.db.unit_of_work() as session:
        session.add(WebhookRecord(id=webhook_id, kind="whatsapp", body=body, headers={}, content_sha256="0" * 64,
                                  size_bytes=len(body), status="received"))
    return webhook_id


async def _events(ingest: Service, event_type: str, **data: str) -> list[dict[str, Any]]:
    es = kit_tables.event_store
    async with ingest.db.unit_of_work() as session:
        rows = await session.scalars(select(es.c.envelope).where(es.c.event_type == event_type))
        return [r for r in rows if all(r["data"].get(k) == v for k, v in data.items())]


async def _status(ingest: Service, webhook_id: uuid.UUID) -> tuple[str, str | None]:
    async with ingest.db.unit_of_work() as session:
        record = await session.get(WebhookRecord, webhook_id)
        assert record is not None
        return record.status, record.status_reason


async def _register(ingest: Service, number: str, tenant: uuid.UUID, waba_id: str = "102290129340398") -> None:
    envelope = Envelope.wrap(ChannelRegistered(phone_number_id=number, waba_id=waba_id, display_phone_number="1555"),
                             source="/parley/sender", tenant_id=tenant)
    async with ingest.db.unit_of_work() as session:
        await service.apply_channel_event(session, ingest.store, envelope)


async def test_webhook_for_an_unknown_number_is_parked_then_delivered_to_the_right_tenant(ingest: Service) -> None:
    number, tenant = _number(), uuid.uuid4()
    message = meta.inbound("text", {"body": "anyone there?"})
    webhook_id = await _store(ingest, meta.notification(number, messages=[message]))
    async with ingest.db.unit_of_work() as session:
        assert await service.process_webhook(session, ingest.store, webhook_id) == "parked"
    assert await _events(ingest, "message.received", wamid=message["id"]) == []
    assert (await _status(ingest, webhook_id))[1] == f"waiting for a channel: {number}"

    await _register(ingest, number, tenant)

    [event] = await _events(ingest, "message.received", wamid=message["id"])
    assert event["tenantid"] == str(tenant)
    assert (await _status(ingest, webhook_id))[0] == "processed"


async def test_a_number_registered_by_another_tenant_never_receives_this_tenants_messages(ingest: Service) -> None:
    mine, theirs = _number(), _number()
    tenant, other = uuid.uuid4(), uuid.uuid4()
    await _register(ingest, mine, tenant)
    await _register(ingest, theirs, other)
    message = meta.inbound("text", {"body": "for tenant A"})
    webhook_id = await _store(ingest, meta.notification(mine, messages=[message]))
    async with ingest.db.unit_of_work() as session:
        await service.process_webhook(session, ingest.store, webhook_id)
    [event] = await _events(ingest, "message.received", wamid=message["id"])
    assert event["tenantid"] == str(tenant)


async def test_duplicates_and_statuses_are_absorbed_per_wamid_and_per_status(ingest: Service) -> None:
    number = _number()
    await _register(ingest, number, uuid.uuid4())
    message = meta.inbound("text", {"body": "once"})
    statuses = [meta.status("wamid.sent-" + number, s) for s in ("sent", "delivered", "read", "delivered")]
    payload = meta.notification(number, messages=[message, message], statuses=statuses)
    for _ in range(3):  # Meta re-delivers the same batch
        webhook_id = await _store(ingest, payload)
        async with ingest.db.unit_of_work() as session:
            await service.process_webhook(session, ingest.store, webhook_id)
    assert len(await _events(ingest, "message.received", wamid=message["id"])) == 1
    delivered = await _events(ingest, "message.status", wamid="wamid.sent-" + number)
    assert sorted(e["data"]["status"] for e in delivered) == ["delivered", "read", "sent"]


async def test_account_notices_wait_for_a_channel_of_their_waba(ingest: Service) -> None:
    waba, tenant = f"9{uuid.uuid4().int % 10**14:014d}", uuid.uuid4()
    payload = meta.account_notification("message_template_status_update", {
        "event": "REJECTED", "message_template_id": 7, "message_template_name": "promo",
        "message_template_language": "pt_BR", "reason": "INCORRECT_CATEGORY"}, waba_id=waba)
    webhook_id = await _store(ingest, payload)
    async with ingest.db.unit_of_work() as session:
        assert await service.process_webhook(session, ingest.store, webhook_id) == "parked"
    await _register(ingest, _number(), tenant, waba_id=waba)
    [event] = await _events(ingest, "template.status-updated", waba_id=waba)
    assert (event["tenantid"], event["data"]["reason"]) == (str(tenant), "INCORRECT_CATEGORY")


async def test_quarantined_webhook_replays_once_the_fix_lands(ingest: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    number = _number()
    await _register(ingest, number, uuid.uuid4())
    message = meta.inbound("text", {"body": "stuck behind a bug"})
    webhook_id = await _store(ingest, meta.notification(number, messages=[message]))

    real = normalizer.normalize

    def buggy(payload: object, webhook_id: object = None) -> list[normalizer.Item]:
        raise normalizer.Unreadable("text messages are not supported yet")

    monkeypatch.setattr(normalizer, "normalize", buggy)
    async with ingest.db.unit_of_work() as session:
        assert await service.process_webhook(session, ingest.store, webhook_id) == "quarantined"
    assert await _status(ingest, webhook_id) == ("quarantined", "text messages are not supported yet")

    monkeypatch.setattr(normalizer, "normalize", real)  # the fix lands
    async with ingest.db.unit_of_work() as session:
        assert await service.replay(session, ingest.store, [webhook_id]) == 1
    replays = await _events(ingest, "webhook.received", webhook_id=str(webhook_id))
    assert len(replays) == 1, "the replay is a new webhook.received event for the stored body"
    async with ingest.db.unit_of_work() as session:
        assert await service.process_webhook(session, ingest.store, webhook_id) == "processed"
    assert len(await _events(ingest, "message.received", wamid=message["id"])) == 1
