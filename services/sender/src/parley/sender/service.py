"""Use cases of the sender service: channels (sending arrives with the sender issue)."""

from __future__ import annotations

import os
from uuid import UUID

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelRegistered
from parley.kit.errors import Conflict
from parley.kit.eventstore import ConcurrencyError, EventStore
from parley.kit.service import Service
from parley.sender.models import Channel


async def register_channel(session: AsyncSession, store: EventStore, tenant_id: UUID,
                           registration: ChannelRegistered) -> None:
    """Connect a number to a tenant and tell ingest and conversation (``channel.registered``)."""
    try:
        await store.record(session, registration, aggregate_type="channel",
                           aggregate_id=registration.phone_number_id, expected_version=0, tenant_id=tenant_id)
    except ConcurrencyError:
        raise Conflict(f"phone number {registration.phone_number_id} is already registered") from None


async def project(session: AsyncSession, envelope: Envelope) -> None:
    if envelope.type == "channel.registered":
        registered = ChannelRegistered.model_validate(envelope.data)
        await session.execute(insert(Channel).values(
            phone_number_id=registered.phone_number_id, tenant_id=envelope.tenantid, waba_id=registered.waba_id,
            display_phone_number=registered.display_phone_number, verified_name=registered.verified_name,
            status="active", registered_at=envelope.time,
        ))


async def seed_demo(service: Service, _: list[str]) -> str:
    """Register the demo tenant's sandbox number (development only; idempotent)."""
    await service.migrate()
    number = os.environ["PARLEY_DEMO_PHONE_NUMBER_ID"]
    async with service.db.unit_of_work() as session:
        if await session.get(Channel, number) is not None:
            return f"sender: demo channel {number} already registered"
        await register_channel(session, service.store, UUID(os.environ["PARLEY_DEMO_TENANT_ID"]), ChannelRegistered(
            phone_number_id=number, waba_id=os.environ["PARLEY_DEMO_WABA_ID"],
            display_phone_number=os.environ["PARLEY_DEMO_DISPLAY_NUMBER"], verified_name="Parley Demo",
        ))
    return f"sender: demo channel {number} registered"
