"""Queries of the conversation service. Every query is scoped by tenant."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation.models import Contact, Conversation, Message


async def contact_by_wa_id(session: AsyncSession, tenant_id: UUID, wa_id: str) -> Contact | None:
    return await session.scalar(select(Contact).where(Contact.tenant_id == tenant_id, Contact.wa_id == wa_id))


async def open_conversation(session: AsyncSession, tenant_id: UUID, contact_id: UUID,
                            phone_number_id: str) -> Conversation | None:
    return await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.contact_id == contact_id,
        Conversation.phone_number_id == phone_number_id, Conversation.status != "resolved",
    ))


async def message_exists(session: AsyncSession, tenant_id: UUID, wamid: str) -> bool:
    found = await session.scalar(select(Message.id).where(Message.tenant_id == tenant_id, Message.wamid == wamid))
    return found is not None


async def insert_contact(session: AsyncSession, **values: object) -> None:
    await session.execute(insert(Contact).values(**values))


async def rename_contact(session: AsyncSession, contact_id: UUID, profile_name: str | None) -> None:
    await session.execute(update(Contact).where(Contact.id == contact_id).values(profile_name=profile_name))


async def insert_conversation(session: AsyncSession, **values: object) -> None:
    await session.execute(insert(Conversation).values(**values))


async def insert_message(session: AsyncSession, **values: object) -> None:
    await session.execute(insert(Message).values(**values).on_conflict_do_nothing())


async def touch_conversation(session: AsyncSession, conversation_id: UUID, at: datetime, preview: str | None,
                             window_expires_at: datetime | None) -> None:
    """Last activity only moves forward: an older message arriving late does not rewind it."""
    values: dict[str, object] = {
        "last_message_at": func.greatest(Conversation.last_message_at, at),
        "last_message_preview": func.coalesce(
            select(Message.text).where(Message.conversation_id == conversation_id)
            .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1).scalar_subquery(), preview),
    }
    if window_expires_at is not None:
        values["window_expires_at"] = func.greatest(func.coalesce(Conversation.window_expires_at, window_expires_at),
                                                    window_expires_at)
    await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(**values))


async def list_conversations(session: AsyncSession, tenant_id: UUID, *, status: str | None, limit: int,
                             after: tuple[datetime, UUID] | None) -> list[tuple[Conversation, Contact]]:
    """Most recent activity first; keyset pagination on (last_message_at, id)."""
    query = (select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
             .where(Conversation.tenant_id == tenant_id))
    if status:
        query = query.where(Conversation.status == status)
    if after:
        at, last_id = after
        query = query.where(or_(Conversation.last_message_at < at,
                                and_(Conversation.last_message_at == at, Conversation.id < last_id)))
    query = query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit + 1)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def get_conversation(session: AsyncSession, tenant_id: UUID, conversation_id: UUID) -> Conversation | None:
    return await session.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                           Conversation.id == conversation_id))


async def list_messages(session: AsyncSession, tenant_id: UUID, conversation_id: UUID, *, limit: int,
                        after: tuple[datetime, UUID] | None, before: tuple[datetime, UUID] | None) -> list[Message]:
    """Oldest first by WhatsApp time. ``after`` pages forward, ``before`` pages backward (newest page by default)."""
    query = select(Message).where(Message.tenant_id == tenant_id, Message.conversation_id == conversation_id)
    key = (Message.sent_at, Message.id)
    if after:
        query = query.where(or_(key[0] > after[0], and_(key[0] == after[0], key[1] > after[1])))
        query = query.order_by(key[0].asc(), key[1].asc()).limit(limit + 1)
        return list(await session.scalars(query))
    if before:
        query = query.where(or_(key[0] < before[0], and_(key[0] == before[0], key[1] < before[1])))
    query = query.order_by(key[0].desc(), key[1].desc()).limit(limit + 1)
    return list(await session.scalars(query))
