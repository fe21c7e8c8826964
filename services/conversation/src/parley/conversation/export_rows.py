"""Where exports read their rows: one function per entity, each a server-side cursor over the tenant's rows.

This is the one place that knows which tables and columns an export reads, so a change of the
conversation tables (e.g. message bodies encrypted at rest, decrypted here with the tenant's key)
is made here and nowhere else. Each function yields plain dicts with exactly ``COLUMNS[entity]`` keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, case, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation.crm_models import BlockedNumber, ContactConsent
from parley.conversation.models import Contact, Conversation, Message
from parley.conversation.sealing import Sealer, message_context

Entity = Literal["contacts", "conversations", "messages"]

#: Rows fetched per round trip from the server-side cursor: memory stays bounded whatever the export's size.
FETCH_SIZE = 500

COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": ("id", "wa_id", "profile_name", "created_at", "opted_out", "opted_out_at", "blocked", "labels"),
    "conversations": ("id", "contact_id", "wa_id", "profile_name", "phone_number_id", "status", "opened_at",
                      "last_message_at", "last_message_preview", "window_expires_at", "priority", "labels",
                      "assignee_id", "team_id"),
    "messages": ("id", "conversation_id", "wa_id", "direction", "type", "wamid", "text", "content",
                 "reply_to_wamid", "sent_at"),
}


@dataclass(frozen=True)
class Assignment:
    """Which conversations rows come from: by assignee, and those the caller may see at all."""

    assignee_id: UUID | None = None
    unassigned: bool = False
    #: ``service.visibility``: None for owners, admins and managers (every conversation).
    visible: ColumnElement[bool] | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        """Conditions on ``Conversation``."""
        clauses = [] if self.visible is None else [self.visible]
        if self.assignee_id:
            clauses.append(Conversation.assignee_id == self.assignee_id)
        if self.unassigned:
            clauses.append(Conversation.assignee_id.is_(None))
        return clauses


@dataclass(frozen=True)
class ContactFilters:
    opted_out: bool | None = None
    blocked: bool | None = None
    q: str | None = None
    label: str | None = None
    #: Contacts with at least one such conversation.
    assignment: Assignment = Assignment()


@dataclass(frozen=True)
class ConversationFilters:
    status: str | None = None
    phone_number_id: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    label: str | None = None
    assignment: Assignment = Assignment()


@dataclass(frozen=True)
class MessageFilters:
    conversation_id: UUID | None = None
    sent_from: datetime | None = None
    sent_to: datetime | None = None
    #: The conversation's label.
    label: str | None = None
    assignment: Assignment = Assignment()


Opener = Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]]


async def _stream(session: AsyncSession, query: Select[Any], opener: Opener | None = None,
                  ) -> AsyncIterator[dict[str, Any]]:
    result = await session.stream(query.execution_options(yield_per=FETCH_SIZE))
    async for partition in result.mappings().partitions():  # one await per fetch, not one per row
        rows = [dict(row) for row in partition]
        for row in (await opener(rows) if opener else rows):
            yield row


def contact_rows(session: AsyncSession, tenant_id: UUID, filters: ContactFilters) -> AsyncIterator[dict[str, Any]]:
    """Contacts oldest first, with their opt-out and blocklist state."""
    consent = and_(ContactConsent.tenant_id == Contact.tenant_id, ContactConsent.wa_id == Contact.wa_id)
    blocked = exists().where(BlockedNumber.tenant_id == Contact.tenant_id, BlockedNumber.wa_id == Contact.wa_id)
    opted_out = ContactConsent.opted_out.is_(True)
    query = (select(Contact.id, Contact.wa_id, Contact.profile_name, Contact.created_at,
                    opted_out.label("opted_out"),
                    case((opted_out, ContactConsent.changed_at), else_=None).label("opted_out_at"),
                    blocked.label("blocked"), Contact.labels)
             .outerjoin(ContactConsent, consent).where(Contact.tenant_id == tenant_id))
    if filters.opted_out is not None:
        query = query.where(opted_out if filters.opted_out else or_(ContactConsent.opted_out.is_(None),
                                                                    ContactConsent.opted_out.is_(False)))
    if filters.blocked is not None:
        query = query.where(blocked if filters.blocked else ~blocked)
    if filters.q:
        escaped = filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(or_(Contact.wa_id.ilike(pattern), Contact.profile_name.ilike(pattern)))
    if filters.label:
        query = query.where(Contact.labels.contains([filters.label]))
    if conversation := filters.assignment.clauses():
        query = query.where(exists().where(Conversation.tenant_id == Contact.tenant_id,
                                           Conversation.contact_id == Contact.id, *conversation))
    return _stream(session, query.order_by(Contact.created_at, Contact.id))


def conversation_rows(session: AsyncSession, sealer: Sealer, tenant_id: UUID,
                      filters: ConversationFilters) -> AsyncIterator[dict[str, Any]]:
    """Conversations in the order they were opened, with their contact's number and name.

    The last message's preview is sealed at rest: opened here, a page at a time, with the tenant's key.
    """
    query = (select(Conversation.id, Conversation.contact_id, Conversation.wa_id, Contact.profile_name,
                    Conversation.phone_number_id, Conversation.status, Conversation.opened_at,
                    Conversation.last_message_at, Conversation.last_message_id, Conversation.last_message_sealed,
                    Conversation.window_expires_at, Conversation.priority, Conversation.labels,
                    Conversation.assignee_id, Conversation.team_id)
             .join(Contact, Contact.id == Conversation.contact_id)
             .where(Conversation.tenant_id == tenant_id, *filters.assignment.clauses()))
    if filters.status:
        query = query.where(Conversation.status == filters.status)
    if filters.phone_number_id:
        query = query.where(Conversation.phone_number_id == filters.phone_number_id)
    if filters.opened_from:
        query = query.where(Conversation.opened_at >= filters.opened_from)
    if filters.opened_to:
        query = query.where(Conversation.opened_at < filters.opened_to)
    if filters.label:
        query = query.where(Conversation.labels.contains([filters.label]))

    async def open_previews(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        bodies = await sealer.open_many(session, tenant_id, [
            (row["last_message_sealed"], message_context(row["last_message_id"]) if row["last_message_id"] else b"")
            for row in rows])
        return [{column: row[column] for column in COLUMNS["conversations"] if column in row}
                | {"last_message_preview": (body or {}).get("text")} for row, body in zip(rows, bodies, strict=True)]

    return _stream(session, query.order_by(Conversation.opened_at, Conversation.id), open_previews)


def message_rows(session: AsyncSession, sealer: Sealer, tenant_id: UUID,
                 filters: MessageFilters) -> AsyncIterator[dict[str, Any]]:
    """Messages in WhatsApp time order; bodies are sealed at rest and opened here a page at a time."""
    query = (select(Message.id, Message.conversation_id, Conversation.wa_id, Message.direction, Message.type,
                    Message.wamid, Message.body_sealed, Message.reply_to_wamid, Message.sent_at)
             .join(Conversation, Conversation.id == Message.conversation_id)
             .where(Message.tenant_id == tenant_id, *filters.assignment.clauses()))
    if filters.conversation_id:
        query = query.where(Message.conversation_id == filters.conversation_id)
    if filters.sent_from:
        query = query.where(Message.sent_at >= filters.sent_from)
    if filters.sent_to:
        query = query.where(Message.sent_at < filters.sent_to)
    if filters.label:
        query = query.where(Conversation.labels.contains([filters.label]))

    async def open_bodies(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        bodies = await sealer.open_many(session, tenant_id,
                                        [(row["body_sealed"], message_context(row["id"])) for row in rows])
        return [{column: row[column] for column in COLUMNS["messages"] if column in row}
                | {"text": (body or {}).get("text"), "content": (body or {}).get("content")}
                for row, body in zip(rows, bodies, strict=True)]

    return _stream(session, query.order_by(Message.sent_at, Message.id), open_bodies)
