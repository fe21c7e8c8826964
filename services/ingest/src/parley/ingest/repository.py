"""Queries of the ingest service."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ingest.models import ChannelRoute, ParkedWebhook, WebhookRecord


async def get_webhook(session: AsyncSession, webhook_id: UUID) -> WebhookRecord | None:
    return await session.get(WebhookRecord, webhook_id)


async def set_webhook_status(session: AsyncSession, webhook_id: UUID, status: str, reason: str | None,
                             at: datetime | None) -> None:
    await session.execute(update(WebhookRecord).where(WebhookRecord.id == webhook_id)
                          .values(status=status, status_reason=reason, processed_at=at))


async def routes_for(session: AsyncSession, numbers: list[str]) -> dict[str, ChannelRoute]:
    rows = await session.scalars(select(ChannelRoute).where(ChannelRoute.phone_number_id.in_(numbers)))
    return {row.phone_number_id: row for row in rows}


async def upsert_route(session: AsyncSession, values: dict[str, object]) -> None:
    statement = insert(ChannelRoute).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ChannelRoute.phone_number_id],
        set_={k: statement.excluded[k] for k in values if k != "phone_number_id"},
    ))


async def park(session: AsyncSession, webhook_id: UUID, phone_number_id: str) -> None:
    await session.execute(insert(ParkedWebhook).values(webhook_id=webhook_id, phone_number_id=phone_number_id)
                          .on_conflict_do_nothing())


async def take_parked(session: AsyncSession, phone_number_id: str) -> list[UUID]:
    """Remove and return the webhooks parked for a number (they are about to be processed)."""
    result = await session.execute(delete(ParkedWebhook).where(ParkedWebhook.phone_number_id == phone_number_id)
                                   .returning(ParkedWebhook.webhook_id))
    return sorted(set(result.scalars()))


async def still_parked(session: AsyncSession, webhook_id: UUID) -> bool:
    found = await session.scalar(select(ParkedWebhook.webhook_id).where(ParkedWebhook.webhook_id == webhook_id)
                                 .limit(1))
    return found is not None
