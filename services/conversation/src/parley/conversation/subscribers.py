"""Kafka subscriptions of the conversation service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.conversation import directory
from parley.conversation.inbound import Inbound
from parley.kit.consumer import Subscription
from parley.kit.eventstore import EventStore


def subscriptions(store: EventStore, inbound: Inbound) -> list[Subscription]:
    async def users(session: AsyncSession, envelope: Envelope) -> None:
        await directory.sync_user(session, store, envelope)

    return [
        Subscription("conversation.inbound", ("message.received",), batch_handler=inbound.record_messages,
                     event_types=frozenset({"message.received"})),
        Subscription("conversation.statuses", ("message.status",), batch_handler=inbound.record_statuses,
                     event_types=frozenset({"message.status"})),
        Subscription("conversation.users", ("user.changed",), users,
                     event_types=frozenset({"user.created", "user.updated", "user.removed"})),
    ]
