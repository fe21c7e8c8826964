"""Kafka subscriptions of the sender: requests, Meta statuses, customers' messages, tenants' plans, quality."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageStatus
from parley.kit.consumer import Subscription
from parley.kit.crypto import TenantCipher
from parley.kit.eventstore import EventStore
from parley.sender import health, outbound, plans, quality, windows


def subscriptions(store: EventStore, cipher: TenantCipher, policy: health.HealthPolicy,
                  on_queued: Callable[[], None] | None = None) -> list[Subscription]:
    """``on_queued`` is called after a transaction that queued requests commits (it wakes the send loops)."""

    async def queue(session: AsyncSession, envelopes: list[Envelope]) -> None:
        await outbound.accept_requests(session, store, cipher, envelopes)
        wake = on_queued
        if wake is not None and not session.info.get("wakes_send_loops"):
            session.info["wakes_send_loops"] = True
            event.listen(session.sync_session, "after_commit", lambda _: wake(), once=True)

    async def statuses(session: AsyncSession, envelopes: list[Envelope]) -> None:
        """Meta's statuses (one tenant's, in order) settle in-doubt sends and feed each number's health."""
        tenant_id = envelopes[0].tenantid
        if tenant_id is None:
            return  # statuses are always a tenant's: nothing here to settle or count
        from_meta = [s for s in (MessageStatus.model_validate(e.data) for e in envelopes) if s.origin == "meta"]
        await outbound.reconcile_many(session, store, tenant_id, from_meta)
        if from_meta:
            await health.apply_meta_statuses(session, store, policy, from_meta, tenant_id)

    async def tenants(session: AsyncSession, envelope: Envelope) -> None:
        await plans.apply_tenant_event(session, envelope)

    async def quality_notices(session: AsyncSession, envelope: Envelope) -> None:
        await quality.apply_quality_update(session, store, envelope)

    return [
        Subscription("sender.requests", ("message.requested",), batch_handler=queue,
                     event_types=frozenset({"message.requested"})),
        Subscription("sender.statuses", ("message.status",), batch_handler=statuses,
                     event_types=frozenset({"message.status"}), on_progress=outbound.record_status_progress),
        Subscription("sender.inbound", ("message.received",), batch_handler=windows.record_inbound,
                     event_types=frozenset({"message.received"})),
        Subscription("sender.tenants", ("tenant.changed",), tenants, event_types=plans.EVENT_TYPES),
        Subscription("sender.quality", ("waba.updated",), quality_notices, event_types=quality.EVENT_TYPES),
    ]
