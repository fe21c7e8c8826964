"""Kafka subscriptions of ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.ingest import service
from parley.kit.consumer import Subscription
from parley.kit.eventstore import EventStore

NORMALIZER_LAG = Histogram(
    "parley_ingest_normalizer_lag_seconds", "From a webhook's receipt to its normalization",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def subscriptions(store: EventStore, generic: service.GenericProcessor | None) -> list[Subscription]:
    async def normalize(session: AsyncSession, envelopes: list[Envelope]) -> None:
        # Each webhook's events continue its own trace (the batch's span only links them).
        traceparents = {UUID(str(e.data["webhook_id"])): e.traceparent for e in envelopes}
        await service.process_webhooks(session, store, list(traceparents), generic, traceparents)
        now = datetime.now(UTC)
        for envelope in envelopes:
            received_at = datetime.fromisoformat(str(envelope.data["received_at"]))
            NORMALIZER_LAG.observe(max(0.0, (now - received_at).total_seconds()))

    async def learn_route(session: AsyncSession, envelope: Envelope) -> None:
        await service.apply_channel_event(session, store, envelope, generic)

    return [
        # A batch handler: a fetch of webhooks costs a handful of statements, not a handful per webhook.
        Subscription("ingest.normalizer", ("webhook.received",), batch_handler=normalize,
                     event_types=frozenset({"webhook.received"})),
        Subscription("ingest.routes", ("channel.changed",), learn_route,
                     event_types=frozenset({"channel.registered", "channel.updated", "channel.deregistered"})),
    ]
