"""Kafka subscriptions of the conversation service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.conversation import service
from parley.kit.consumer import Subscription
from parley.kit.eventstore import EventStore


def subscriptions(store: EventStore) -> list[Subscription]:
    async def inbound(session: AsyncSession, envelope: Envelope) -> None:
        await service.record_inbound(session, store, envelope)

    return [Subscription("conversation.inbound", ("message.received",), inbound,
                         event_types=frozenset({"message.received"}))]
