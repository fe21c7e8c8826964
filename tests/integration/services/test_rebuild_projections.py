"""`rebuild` replays a service's own event store into emptied projections and reproduces them exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelDeregistered, ChannelRegistered
from parley.contracts.events.messages import MessageReceived
from parley.conversation import service as conversation
from parley.conversation.main import build as build_conversation
from parley.conversation.models import Contact, Conversation, Message
from parley.conversation.settings import ConversationSettings
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.ingest import service as ingest
from parley.ingest.main import build as build_ingest
from parley.ingest.models import ChannelRoute
from parley.ingest.settings import IngestSettings
from parley.kit.service import Service

pytestmark = pytest.mark.integration


def _spec(name: str) -> Any:
    return next(s for s in SERVICES if s.name == name)


async def _snapshot(service: Service, tables: list[Table]) -> dict[str, list[tuple[Any, ...]]]:
    async with service.db.unit_of_work() as session:
        return {t.name: sorted(tuple(row) for row in await session.execute(select(t))) for t in tables}


def _inbound(tenant_id: uuid.UUID, wa_id: str, body: str, at: datetime, name: str) -> Envelope:
    message = MessageReceived.model_validate({
        "wamid": f"wamid.{uuid.uuid4().hex}", "phone_number_id": "106540352242922", "wa_id": wa_id, "from": wa_id,
        "profile_name": name, "timestamp": at, "type": "text", "text": {"body": body}})
    return Envelope.wrap(message, source="/parley/ingest", tenant_id=tenant_id)


async def test_conversation_rebuild_reproduces_contacts_conversations_and_timeline(platform: Platform) -> None:
    service = build_conversation(ConversationSettings(database_url=platform.database_url(_spec("conversation"))))
    await service.migrate()
    tenant = uuid.uuid4()
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    inbound = [
        _inbound(tenant, "5511911110001", "first", start, "Ana"),
        _inbound(tenant, "5511911110002", "hello", start + timedelta(minutes=1), "Bruno"),
        # Arrives later but happened earlier: the timeline and last activity follow WhatsApp's time.
        _inbound(tenant, "5511911110001", "second", start + timedelta(minutes=5), "Ana Souza"),
        _inbound(tenant, "5511911110001", "between", start + timedelta(minutes=3), "Ana Souza"),
    ]
    try:
        for envelope in inbound:
            async with service.db.unit_of_work() as session:
                await conversation.record_inbound(session, service.store, envelope)
        tables = [Contact.__table__, Conversation.__table__, Message.__table__]
        before = await _snapshot(service, tables)
        ana = [c for c in before["contacts"] if "5511911110001" in c]
        assert len(ana) == 1 and "Ana Souza" in ana[0], "the profile name follows WhatsApp's latest"

        replayed = await service.rebuild()
        assert replayed >= len(inbound)
        assert await _snapshot(service, tables) == before
    finally:
        await service.db.dispose()


async def test_ingest_rebuild_reproduces_channel_routes(platform: Platform) -> None:
    service = build_ingest(IngestSettings(database_url=platform.database_url(_spec("ingest"))))
    await service.migrate()
    tenant = uuid.uuid4()
    number, other = f"9{uuid.uuid4().int % 10**14:014d}", f"8{uuid.uuid4().int % 10**14:014d}"
    events = [
        Envelope.wrap(ChannelRegistered(phone_number_id=number, waba_id="1", display_phone_number="15550001"),
                      source="/parley/sender", tenant_id=tenant),
        Envelope.wrap(ChannelRegistered(phone_number_id=other, waba_id="1", display_phone_number="15550002"),
                      source="/parley/sender", tenant_id=tenant),
        Envelope.wrap(ChannelDeregistered(phone_number_id=other, reason="moved"), source="/parley/sender",
                      tenant_id=tenant),
    ]
    try:
        for envelope in events:
            async with service.db.unit_of_work() as session:
                await ingest.apply_channel_event(session, service.store, envelope)
        before = await _snapshot(service, [ChannelRoute.__table__])
        mine = {row[0]: row for row in before["channel_routes"] if row[0] in {number, other}}
        assert mine[number][4] is True and mine[other][4] is False

        await service.rebuild()
        assert await _snapshot(service, [ChannelRoute.__table__]) == before
    finally:
        await service.db.dispose()
