"""Queries of inbound hooks. Tenant-facing reads always filter by tenant."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.ingest.hooks.models import InboundHook


async def get_hook(session: AsyncSession, hook_id: UUID) -> InboundHook | None:
    """Any tenant's hook: for the receiver (the hook id is the address) and the processor."""
    return await session.get(InboundHook, hook_id, populate_existing=True)


async def get_tenant_hook(session: AsyncSession, tenant_id: UUID, hook_id: UUID) -> InboundHook | None:
    return await session.scalar(select(InboundHook).where(InboundHook.tenant_id == tenant_id,
                                                          InboundHook.id == hook_id))


async def name_taken(session: AsyncSession, tenant_id: UUID, name: str, *, other_than: UUID | None = None) -> bool:
    query = select(InboundHook.id).where(InboundHook.tenant_id == tenant_id, InboundHook.name == name)
    if other_than is not None:
        query = query.where(InboundHook.id != other_than)
    return await session.scalar(query.limit(1)) is not None


async def list_hooks(session: AsyncSession, tenant_id: UUID, *, limit: int, before: UUID | None) -> list[InboundHook]:
    """Newest first (ids are UUIDv7); one extra row tells whether there is another page."""
    query = select(InboundHook).where(InboundHook.tenant_id == tenant_id)
    if before is not None:
        query = query.where(InboundHook.id < before)
    return list(await session.scalars(query.order_by(InboundHook.id.desc()).limit(limit + 1)))


async def upsert_hook(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = insert(InboundHook).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[InboundHook.id], set_={k: statement.excluded[k] for k in values if k != "id"},
    ))


async def delete_hook(session: AsyncSession, hook_id: UUID) -> None:
    await session.execute(delete(InboundHook).where(InboundHook.id == hook_id))
