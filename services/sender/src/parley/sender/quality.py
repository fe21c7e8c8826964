"""Meta's quality notices about a number (``phone-number.quality-updated`` on ``waba.updated``) slow it down.

FLAGGED (quality dropped) or DOWNGRADE (messaging limit lowered) slows the number to the slow factor
until UNFLAGGED or UPGRADE, for at most ``QUALITY_SLOWDOWN``; the change goes out as ``channel.updated``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.accounts import PhoneNumberQualityUpdated
from parley.contracts.events.channels import ChannelUpdated
from parley.kit.eventstore import EventStore
from parley.sender.models import Channel, ChannelHealth

EVENT_TYPES = frozenset({"phone-number.quality-updated"})
SLOWING, RESTORING = frozenset({"FLAGGED", "DOWNGRADE"}), frozenset({"UNFLAGGED", "UPGRADE"})
QUALITY_SLOWDOWN = timedelta(days=7)


def _digits(number: str | None) -> str:
    return re.sub(r"\D", "", number or "")


async def apply_quality_update(session: AsyncSession, store: EventStore, envelope: Envelope) -> None:
    notice = PhoneNumberQualityUpdated.model_validate(envelope.data)
    if notice.event not in SLOWING | RESTORING:
        return
    channels = (await session.execute(select(Channel).where(Channel.waba_id == notice.waba_id))).scalars()
    now = datetime.now(UTC)
    for channel in channels:
        if _digits(channel.display_phone_number) != _digits(notice.display_phone_number) or \
                (envelope.tenantid is not None and channel.tenant_id != envelope.tenantid):
            continue
        await session.execute(insert(ChannelHealth).values(phone_number_id=channel.phone_number_id,
                                                           tenant_id=channel.tenant_id, updated_at=now)
                              .on_conflict_do_nothing())
        health = await session.get(ChannelHealth, channel.phone_number_id, with_for_update=True,
                                   populate_existing=True)
        assert health is not None
        slowing = notice.event in SLOWING
        health.slowed_until = now + QUALITY_SLOWDOWN if slowing else None
        health.slowed_reason = f"Meta reported {notice.event} (limit {notice.current_limit})" if slowing else None
        health.updated_at = now
        version = await store.version_of(session, "channel", channel.phone_number_id)
        await store.record(session, ChannelUpdated(
            phone_number_id=channel.phone_number_id, messaging_limit=notice.current_limit,
            reason=f"{notice.event}: sending {'slowed down' if slowing else 'at full rate again'}"),
            aggregate_type="channel", aggregate_id=channel.phone_number_id, expected_version=version,
            tenant_id=channel.tenant_id)
