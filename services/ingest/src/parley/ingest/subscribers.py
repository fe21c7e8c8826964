"""Kafka subscriptions of ingest."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.ingest import service
from parley.kit.consumer import Subscription
from parley.kit.eventstore import EventStore


def subscriptions(store: EventStore) -> list[Subscription]:
    async def normalize(session: AsyncSession, envelope: Envelope) -> None:
        await service.process_webhook(session, store, UUID(str(envelope.data["webhook_id"])))

    async def learn_route(session: AsyncSession, envelope: Envelope) -> None:
        await service.apply_channel_event(session, store, envelope)

    return [
        Subscription("ingest.normalizer", ("webhook.received",), normalize,
                     event_types=frozenset({"webhook.received"})),
        Subscription("ingest.routes", ("channel.changed",), learn_route,
                     event_types=frozenset({"channel.registered", "channel.updated", "channel.deregistered"})),
    ]
