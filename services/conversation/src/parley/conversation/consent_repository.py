"""Queries of opt-outs, keywords and the blocklist. Every query is scoped by tenant."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation.crm_models import BlockedNumber, ContactConsent, OptOutKeywords


async def consent(session: AsyncSession, tenant_id: UUID, wa_id: str) -> ContactConsent | None:
    return await session.scalar(select(ContactConsent).where(ContactConsent.tenant_id == tenant_id,
                                                             ContactConsent.wa_id == wa_id)
                                .execution_options(populate_existing=True))


async def keywords(session: AsyncSession, tenant_id: UUID) -> OptOutKeywords | None:
    return await session.scalar(select(OptOutKeywords).where(OptOutKeywords.tenant_id == tenant_id)
                                .execution_options(populate_existing=True))


async def blocked(session: AsyncSession, tenant_id: UUID, wa_id: str) -> BlockedNumber | None:
    return await session.scalar(select(BlockedNumber).where(BlockedNumber.tenant_id == tenant_id,
                                                            BlockedNumber.wa_id == wa_id)
                                .execution_options(populate_existing=True))


async def list_opted_out(session: AsyncSession, tenant_id: UUID, *, limit: int,
                         after: tuple[datetime, str] | None) -> list[ContactConsent]:
    """Most recent opt-outs first; keyset on (changed_at, wa_id)."""
    query = select(ContactConsent).where(ContactConsent.tenant_id == tenant_id, ContactConsent.opted_out)
    if after:
        query = query.where(or_(ContactConsent.changed_at < after[0],
                                and_(ContactConsent.changed_at == after[0], ContactConsent.wa_id < after[1])))
    query = query.order_by(ContactConsent.changed_at.desc(), ContactConsent.wa_id.desc()).limit(limit + 1)
    return list(await session.scalars(query))


async def list_blocked(session: AsyncSession, tenant_id: UUID, *, limit: int,
                       after: tuple[datetime, str] | None) -> list[BlockedNumber]:
    query = select(BlockedNumber).where(BlockedNumber.tenant_id == tenant_id)
    if after:
        query = query.where(or_(BlockedNumber.blocked_at < after[0],
                                and_(BlockedNumber.blocked_at == after[0], BlockedNumber.wa_id < after[1])))
    query = query.order_by(BlockedNumber.blocked_at.desc(), BlockedNumber.wa_id.desc()).limit(limit + 1)
    return list(await session.scalars(query))


# -- projection writes ------------------------------------------------------------------------------------------


async def set_consent(session: AsyncSession, **values: object) -> None:
    statement = insert(ContactConsent).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ContactConsent.tenant_id, ContactConsent.wa_id],
        set_={k: statement.excluded[k] for k in values if k not in ("tenant_id", "wa_id")}))


async def set_keywords(session: AsyncSession, **values: object) -> None:
    statement = insert(OptOutKeywords).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[OptOutKeywords.tenant_id],
        set_={k: statement.excluded[k] for k in values if k != "tenant_id"}))


async def block(session: AsyncSession, **values: object) -> None:
    await session.execute(insert(BlockedNumber).values(**values).on_conflict_do_nothing())


async def unblock(session: AsyncSession, tenant_id: UUID, wa_id: str) -> None:
    await session.execute(delete(BlockedNumber).where(BlockedNumber.tenant_id == tenant_id,
                                                      BlockedNumber.wa_id == wa_id))
