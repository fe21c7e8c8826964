"""Queries of the ingest service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Uuid, and_, any_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import CollectionAggregate

from parley.ingest.models import ChannelRoute, ParkedWebhook, WebhookRecord


async def get_webhook(session: AsyncSession, webhook_id: UUID) -> WebhookRecord | None:
    return await session.get(WebhookRecord, webhook_id)


async def set_webhook_status(session: AsyncSession, webhook_id: UUID, status: str, reason: str | None,
                             at: datetime | None) -> None:
    await session.execute(update(WebhookRecord).where(WebhookRecord.id == webhook_id)
                          .values(status=status, status_reason=reason, processed_at=at))


def _any_id(name: str, ids: list[UUID]) -> CollectionAggregate[Any]:
    """``= ANY($1)`` over one array parameter: one cached statement whatever the number of ids."""
    return any_(bindparam(name, ids, type_=ARRAY(Uuid())))


async def raw_webhooks(session: AsyncSession, webhook_ids: list[UUID]) -> dict[UUID, tuple[str, bytes]]:
    """Kind and raw body of each stored webhook among ``webhook_ids`` (one query, no ORM objects)."""
    rows = await session.execute(select(WebhookRecord.id, WebhookRecord.kind, WebhookRecord.body)
                                 .where(WebhookRecord.id == _any_id("webhook_ids", webhook_ids)))
    return {webhook_id: (kind, body) for webhook_id, kind, body in rows}


async def set_webhook_statuses(session: AsyncSession, webhook_ids: list[UUID], status: str, reason: str | None,
                               at: datetime | None) -> None:
    """The same status (and reason) for many webhooks, in one statement."""
    if webhook_ids:
        # No ORM session sync: the normalizer never holds WebhookRecord objects it would need refreshed.
        await session.execute(update(WebhookRecord).where(WebhookRecord.id == _any_id("webhook_ids", webhook_ids))
                              .values(status=status, status_reason=reason, processed_at=at)
                              .execution_options(synchronize_session=False))


async def routes_for_numbers_and_wabas(session: AsyncSession, numbers: list[str], wabas: list[str]
                                       ) -> tuple[dict[str, ChannelRoute], dict[str, ChannelRoute]]:
    """One query for both lookups: the route of each number, and for each WABA its best route (active, newest)."""
    if not numbers and not wabas:
        return {}, {}
    rows = await session.scalars(select(ChannelRoute).where(or_(ChannelRoute.phone_number_id.in_(numbers),
                                                                ChannelRoute.waba_id.in_(wabas)))
                                 .order_by(ChannelRoute.active.desc(), ChannelRoute.updated_at.desc()))
    wanted_numbers, wanted_wabas = set(numbers), set(wabas)
    by_number: dict[str, ChannelRoute] = {}
    by_waba: dict[str, ChannelRoute] = {}
    for row in rows:
        if row.phone_number_id in wanted_numbers:
            by_number[row.phone_number_id] = row
        if row.waba_id in wanted_wabas:
            by_waba.setdefault(row.waba_id, row)
    return by_number, by_waba


async def get_webhooks(session: AsyncSession, webhook_ids: list[UUID]) -> list[WebhookRecord]:
    rows = await session.scalars(select(WebhookRecord).where(WebhookRecord.id.in_(webhook_ids))
                                 .order_by(WebhookRecord.received_at))
    return list(rows)


async def upsert_route(session: AsyncSession, values: dict[str, object]) -> None:
    statement = insert(ChannelRoute).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ChannelRoute.phone_number_id],
        set_={k: statement.excluded[k] for k in values if k != "phone_number_id"},
    ))


async def park_many(session: AsyncSession, parked: Iterable[tuple[UUID, str]]) -> None:
    """Park webhooks under the numbers (or WABA keys) they wait for, in one statement."""
    values = [{"webhook_id": webhook_id, "phone_number_id": key} for webhook_id, key in parked]
    if values:
        await session.execute(insert(ParkedWebhook).values(values).on_conflict_do_nothing())


async def take_parked(session: AsyncSession, phone_number_id: str) -> list[UUID]:
    """Remove and return the webhooks parked for a number (they are about to be processed)."""
    result = await session.execute(delete(ParkedWebhook).where(ParkedWebhook.phone_number_id == phone_number_id)
                                   .returning(ParkedWebhook.webhook_id))
    return sorted(set(result.scalars()))


async def still_parked(session: AsyncSession, webhook_id: UUID) -> bool:
    found = await session.scalar(select(ParkedWebhook.webhook_id).where(ParkedWebhook.webhook_id == webhook_id)
                                 .limit(1))
    return found is not None


async def list_webhooks(session: AsyncSession, *, status: str | None, limit: int,
                        after: tuple[datetime, UUID] | None) -> list[WebhookRecord]:
    query = select(WebhookRecord)
    if status:
        query = query.where(WebhookRecord.status == status)
    if after:
        query = query.where(or_(WebhookRecord.received_at < after[0],
                                and_(WebhookRecord.received_at == after[0], WebhookRecord.id < after[1])))
    query = query.order_by(WebhookRecord.received_at.desc(), WebhookRecord.id.desc()).limit(limit + 1)
    return list(await session.scalars(query))


async def select_webhook_ids(session: AsyncSession, *, status: str | None, received_from: datetime | None,
                             received_to: datetime | None, cap: int = 100_000) -> list[UUID]:
    query = select(WebhookRecord.id)
    if status:
        query = query.where(WebhookRecord.status == status)
    if received_from:
        query = query.where(WebhookRecord.received_at >= received_from)
    if received_to:
        query = query.where(WebhookRecord.received_at < received_to)
    return list(await session.scalars(query.order_by(WebhookRecord.received_at).limit(cap)))


async def counts_by_status(session: AsyncSession, statuses: tuple[str, ...]) -> dict[str, int]:
    """Counts of the (few) webhooks in the given states; served by the status index."""
    rows = await session.execute(select(WebhookRecord.status, func.count())
                                 .where(WebhookRecord.status.in_(statuses)).group_by(WebhookRecord.status))
    return {status: count for status, count in rows}
