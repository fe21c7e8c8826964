"""`rebuild` replays a service's own event store into emptied projections and reproduces them exactly.

The conversation service's is in tests/integration/conversation/test_conversation_at_rest.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Table, select

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelDeregistered, ChannelRegistered
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
        # Only this test's numbers: a running platform's ingest may route other numbers meanwhile.
        after = await _snapshot(service, [ChannelRoute.__table__])
        assert {row[0]: row for row in after["channel_routes"] if row[0] in {number, other}} == mine
    finally:
        await service.db.dispose()
