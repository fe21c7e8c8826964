"""Kafka subscriptions of the sender: requests to queue, Meta statuses to reconcile in-doubt sends."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.kit.consumer import Subscription
from parley.kit.eventstore import EventStore
from parley.sender import outbound


def subscriptions(store: EventStore) -> list[Subscription]:
    async def queue(session: AsyncSession, envelope: Envelope) -> None:
        await outbound.accept_request(session, store, envelope)

    async def reconcile(session: AsyncSession, envelope: Envelope) -> None:
        await outbound.reconcile(session, store, envelope)

    return [
        Subscription("sender.requests", ("message.requested",), queue,
                     event_types=frozenset({"message.requested"})),
        Subscription("sender.statuses", ("message.status",), reconcile, event_types=frozenset({"message.status"})),
    ]
