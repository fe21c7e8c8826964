"""Queries of the conversation service. Every query is scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation.crm_models import PipelineLead
from parley.conversation.models import (
    Agent,
    Contact,
    Conversation,
    Message,
    Note,
    ParkedReaction,
    Team,
    TeamMember,
)

Keyset = tuple[datetime, UUID]

#: Statuses that count against an agent's cap.
ACTIVE = ("open", "pending", "snoozed")


async def contact_by_wa_id(session: AsyncSession, tenant_id: UUID, wa_id: str, *, lock: bool = False) -> Contact | None:
    """``lock``: for appending to the contact's events (its version is read from the row)."""
    query = select(Contact).where(Contact.tenant_id == tenant_id, Contact.wa_id == wa_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def contact(session: AsyncSession, tenant_id: UUID, contact_id: UUID, *, lock: bool = False,
                  visible: ColumnElement[bool] | None = None) -> Contact | None:
    """``visible``: a ``contact_visibility`` clause (None: any contact of the tenant)."""
    query = select(Contact).where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    if visible is not None:
        query = query.where(visible)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def conversation_of(session: AsyncSession, tenant_id: UUID, contact_id: UUID,
                          phone_number_id: str) -> Conversation | None:
    """The contact's conversation on this number, locked: its events are appended in order."""
    return await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.contact_id == contact_id,
        Conversation.phone_number_id == phone_number_id).with_for_update())


async def message_exists(session: AsyncSession, tenant_id: UUID, wamid: str) -> bool:
    found = await session.scalar(select(Message.id).where(Message.tenant_id == tenant_id, Message.wamid == wamid))
    return found is not None


async def message_by(session: AsyncSession, tenant_id: UUID, *, wamid: str | None = None,
                     client_message_id: UUID | None = None) -> Message | None:
    if client_message_id is not None:
        query = select(Message).where(Message.tenant_id == tenant_id, Message.client_message_id == client_message_id)
    elif wamid is not None:
        query = select(Message).where(Message.tenant_id == tenant_id, Message.wamid == wamid)
    else:
        return None
    return await session.scalar(query)


# -- bulk reads of the batch consumers (plain rows, locked where events are appended) ----------------------------


async def known_wamids(session: AsyncSession, tenant_id: UUID, wamids: list[str]) -> set[str]:
    rows = await session.scalars(select(Message.wamid).where(Message.tenant_id == tenant_id,
                                                             Message.wamid.in_(wamids)))
    return set(rows)


async def message_ids_by_wamid(session: AsyncSession, tenant_id: UUID, wamids: list[str]) -> dict[str, UUID]:
    if not wamids:
        return {}
    rows = await session.execute(select(Message.wamid, Message.id).where(Message.tenant_id == tenant_id,
                                                                         Message.wamid.in_(wamids)))
    return {wamid: message_id for wamid, message_id in rows}


async def lock_contacts(session: AsyncSession, tenant_id: UUID, wa_ids: list[str]) -> list[Any]:
    """The contacts with these numbers, locked in id order (their events are appended)."""
    return list(await session.execute(select(Contact.id, Contact.wa_id, Contact.profile_name, Contact.version)
                                      .where(Contact.tenant_id == tenant_id, Contact.wa_id.in_(wa_ids))
                                      .order_by(Contact.id).with_for_update()))


async def lock_conversations_of(session: AsyncSession, tenant_id: UUID, contact_ids: list[UUID]) -> list[Any]:
    """The contacts' conversations (every number), locked in id order."""
    if not contact_ids:
        return []
    return list(await session.execute(select(Conversation.__table__)
                                      .where(Conversation.tenant_id == tenant_id,
                                             Conversation.contact_id.in_(contact_ids))
                                      .order_by(Conversation.id).with_for_update()))


async def auto_assigns(session: AsyncSession, tenant_id: UUID) -> bool:
    """Whether any agent of the tenant could take a new conversation (else ``next_agent`` finds nobody)."""
    query = select(Agent.user_id).where(Agent.tenant_id == tenant_id, Agent.available.is_(True),
                                        Agent.status == "active", Agent.max_open > 0).limit(1)
    return await session.scalar(query) is not None


async def parked_reactions(session: AsyncSession, tenant_id: UUID, target_wamids: list[str]) -> list[Any]:
    """Reactions waiting for these messages, oldest first."""
    if not target_wamids:
        return []
    return list(await session.execute(select(ParkedReaction.__table__)
                                      .where(ParkedReaction.tenant_id == tenant_id,
                                             ParkedReaction.target_wamid.in_(target_wamids))
                                      .order_by(ParkedReaction.reacted_at, ParkedReaction.reaction_wamid)))


async def reaction_parked(session: AsyncSession, tenant_id: UUID, reaction_wamid: str) -> bool:
    found = await session.scalar(select(ParkedReaction.reaction_wamid).where(
        ParkedReaction.tenant_id == tenant_id, ParkedReaction.reaction_wamid == reaction_wamid))
    return found is not None


async def lock_conversation(session: AsyncSession, tenant_id: UUID, conversation_id: UUID) -> Conversation | None:
    return await session.scalar(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id)
        .with_for_update().execution_options(populate_existing=True))


async def team_ids_of(session: AsyncSession, tenant_id: UUID, user_id: UUID) -> list[UUID]:
    return list(await session.scalars(select(TeamMember.team_id).where(TeamMember.tenant_id == tenant_id,
                                                                       TeamMember.user_id == user_id)))


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    assignee_id: UUID | None = None
    unassigned: bool = False
    team_id: UUID | None = None
    label: str | None = None
    phone_number_id: str | None = None
    q: str | None = None
    stage_id: UUID | None = None


def _filter_clauses(tenant_id: UUID, f: ConversationFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [Conversation.tenant_id == tenant_id]
    if f.status:
        clauses.append(Conversation.status == f.status)
    if f.assignee_id:
        clauses.append(Conversation.assignee_id == f.assignee_id)
    if f.unassigned:
        clauses.append(Conversation.assignee_id.is_(None))
    if f.team_id:
        clauses.append(Conversation.team_id == f.team_id)
    if f.label:
        clauses.append(Conversation.labels.contains([f.label]))
    if f.phone_number_id:
        clauses.append(Conversation.phone_number_id == f.phone_number_id)
    if f.stage_id:  # the contact's lead card is in that kanban stage
        clauses.append(exists().where(PipelineLead.tenant_id == Conversation.tenant_id,
                                      PipelineLead.contact_id == Conversation.contact_id,
                                      PipelineLead.stage_id == f.stage_id))
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(Contact.profile_name.ilike(pattern) | Contact.wa_id.like(pattern.replace("+", ""))
                       | Contact.phone_e164.like(pattern))
    return clauses


def agent_visibility(user_id: UUID, team_ids: list[UUID]) -> ColumnElement[bool]:
    """What an agent may see: assigned to them, or unassigned in one of their teams."""
    mine = Conversation.assignee_id == user_id
    if not team_ids:
        return mine
    return or_(mine, and_(Conversation.assignee_id.is_(None), Conversation.team_id.in_(team_ids)))


def contact_visibility(visible: ColumnElement[bool] | None) -> ColumnElement[bool] | None:
    """The contacts a caller may see: those with a conversation the caller may see (``visible``, None: all)."""
    if visible is None:
        return None
    return exists().where(Conversation.tenant_id == Contact.tenant_id, Conversation.contact_id == Contact.id, visible)


CONVERSATION_LISTED = ("id", "status", "priority", "labels", "assignee_id", "team_id", "snoozed_until",
                       "phone_number_id", "opened_at", "last_message_at", "last_message_id", "last_message_type",
                       "last_message_sealed", "window_expires_at")
#: What a conversation list shows of the contact, as plain rows (no ORM objects on the hottest read).
CONTACT_LISTED = (Contact.id.label("contact_id"), Contact.wa_id, Contact.phone_e164, Contact.profile_name,
                  Contact.attributes, Contact.labels.label("contact_labels"),
                  Contact.created_at.label("contact_created_at"))


async def list_conversations(session: AsyncSession, tenant_id: UUID, f: ConversationFilter, *, limit: int,
                             after: Keyset | None, visible: ColumnElement[bool] | None = None) -> list[Any]:
    """Most recent activity first; keyset pagination on (last_message_at, id). Plain rows.

    The page is cut before contacts are joined (unless the filter searches them), so a filter matching
    thousands of conversations joins only the page's contacts."""
    clauses = _filter_clauses(tenant_id, f)
    if visible is not None:
        clauses.append(visible)
    if after:
        at, last_id = after
        clauses.append(or_(Conversation.last_message_at < at,
                           and_(Conversation.last_message_at == at, Conversation.id < last_id)))
    newest = (Conversation.last_message_at.desc(), Conversation.id.desc())
    if f.q:  # the search is on the contact: filter the join itself
        query = (select(*(Conversation.__table__.c[n] for n in CONVERSATION_LISTED), *CONTACT_LISTED)
                 .join(Contact, Contact.id == Conversation.contact_id).where(*clauses)
                 .order_by(*newest).limit(limit + 1))
        return list(await session.execute(query))
    page = (select(*(Conversation.__table__.c[n] for n in CONVERSATION_LISTED), Conversation.contact_id)
            .where(*clauses).order_by(*newest).limit(limit + 1).subquery("page"))
    query = (select(*(page.c[n] for n in CONVERSATION_LISTED), *CONTACT_LISTED)
             .join(Contact, Contact.id == page.c.contact_id)
             .order_by(page.c.last_message_at.desc(), page.c.id.desc()))
    return list(await session.execute(query))


async def conversation_with_contact(session: AsyncSession, tenant_id: UUID, conversation_id: UUID,
                                    visible: ColumnElement[bool] | None = None) -> tuple[Conversation, Contact] | None:
    query = (select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
             .where(Conversation.tenant_id == tenant_id, Conversation.id == conversation_id))
    if visible is not None:
        query = query.where(visible)
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row else None


async def conversation_visible(session: AsyncSession, tenant_id: UUID, conversation_id: UUID,
                               visible: ColumnElement[bool] | None = None) -> bool:
    query = select(Conversation.id).where(Conversation.tenant_id == tenant_id, Conversation.id == conversation_id)
    if visible is not None:
        query = query.where(visible)
    return await session.scalar(query) is not None


async def list_messages(session: AsyncSession, tenant_id: UUID, conversation_id: UUID, *, limit: int,
                        cursor: Keyset | None, newer: bool, visible: ColumnElement[bool] | None = None) -> list[Any]:
    """``newer``: oldest first after the cursor; else newest first before it (the latest page without one).

    Plain rows (attribute access like a ``Message``), not ORM objects: this is the hottest read. ``visible``
    (an agent's) is checked in the same statement: no row when the conversation is not theirs."""
    query = select(Message.__table__).where(Message.tenant_id == tenant_id, Message.conversation_id == conversation_id)
    if visible is not None:
        query = query.where(exists().where(Conversation.tenant_id == tenant_id, Conversation.id == conversation_id,
                                           visible))
    key = (Message.sent_at, Message.id)
    if newer:
        if cursor:
            query = query.where(or_(key[0] > cursor[0], and_(key[0] == cursor[0], key[1] > cursor[1])))
        return list(await session.execute(query.order_by(key[0].asc(), key[1].asc()).limit(limit + 1)))
    if cursor:
        query = query.where(or_(key[0] < cursor[0], and_(key[0] == cursor[0], key[1] < cursor[1])))
    return list(await session.execute(query.order_by(key[0].desc(), key[1].desc()).limit(limit + 1)))


async def list_notes(session: AsyncSession, tenant_id: UUID, conversation_id: UUID, *, limit: int,
                     cursor: Keyset | None, newer: bool) -> list[Note]:
    """``newer``: oldest first after the cursor (the first page without one); else newest first before it."""
    query = select(Note).where(Note.tenant_id == tenant_id, Note.conversation_id == conversation_id)
    key = tuple_(Note.created_at, Note.id)
    if cursor:
        query = query.where(key > tuple_(*cursor) if newer else key < tuple_(*cursor))
    order = (Note.created_at.asc(), Note.id.asc()) if newer else (Note.created_at.desc(), Note.id.desc())
    return list(await session.scalars(query.order_by(*order).limit(limit + 1)))


async def list_contacts(session: AsyncSession, tenant_id: UUID, *, q: str | None, label: str | None, limit: int,
                        after: Keyset | None, visible: ColumnElement[bool] | None = None) -> list[Contact]:
    """Newest first; ``visible``: a ``contact_visibility`` clause."""
    query = select(Contact).where(Contact.tenant_id == tenant_id)
    if visible is not None:
        query = query.where(visible)
    if q:
        query = query.where(*_filter_clauses(tenant_id, ConversationFilter(q=q))[1:])
    if label:
        query = query.where(Contact.labels.contains([label]))
    if after:
        query = query.where(or_(Contact.created_at < after[0],
                                and_(Contact.created_at == after[0], Contact.id < after[1])))
    return list(await session.scalars(query.order_by(Contact.created_at.desc(), Contact.id.desc()).limit(limit + 1)))


async def agent(session: AsyncSession, tenant_id: UUID, user_id: UUID) -> Agent | None:
    return await session.scalar(select(Agent).where(Agent.tenant_id == tenant_id, Agent.user_id == user_id))


async def list_agents(session: AsyncSession, tenant_id: UUID) -> list[tuple[Agent, int]]:
    """Every agent with the number of active conversations assigned to them."""
    load = (select(func.count()).where(Conversation.tenant_id == tenant_id, Conversation.assignee_id == Agent.user_id,
                                       Conversation.status.in_(ACTIVE)).scalar_subquery())
    rows = await session.execute(select(Agent, load).where(Agent.tenant_id == tenant_id).order_by(Agent.email))
    return [(row[0], int(row[1])) for row in rows]


async def next_agent(session: AsyncSession, tenant_id: UUID, team_id: UUID | None) -> UUID | None:
    """Round robin: the available, active agent under their cap who was assigned least recently (locked)."""
    load = (select(func.count()).where(Conversation.tenant_id == tenant_id, Conversation.assignee_id == Agent.user_id,
                                       Conversation.status.in_(ACTIVE)).scalar_subquery())
    query = select(Agent.user_id).where(Agent.tenant_id == tenant_id, Agent.available.is_(True),
                                        Agent.status == "active", load < Agent.max_open)
    if team_id is not None:
        query = query.where(exists().where(TeamMember.team_id == team_id, TeamMember.user_id == Agent.user_id))
    query = query.order_by(Agent.last_assigned_at.asc().nulls_first(), Agent.user_id).limit(1)
    return await session.scalar(query.with_for_update(of=Agent))


async def team(session: AsyncSession, tenant_id: UUID, team_id: UUID) -> Team | None:
    return await session.scalar(select(Team).where(Team.tenant_id == tenant_id, Team.id == team_id))


async def lock_team(session: AsyncSession, tenant_id: UUID, team_id: UUID, *, share: bool = False) -> Team | None:
    """The team, locked: its events are appended one writer at a time (``None`` once it is deleted).

    ``share``: only kept from being deleted meanwhile (a conversation is moved into it)."""
    return await session.scalar(select(Team).where(Team.tenant_id == tenant_id, Team.id == team_id)
                                .with_for_update(read=share).execution_options(populate_existing=True))


async def lock_agent(session: AsyncSession, tenant_id: UUID, user_id: UUID) -> Agent | None:
    """The agent, locked: its events are appended one writer at a time."""
    return await session.scalar(select(Agent).where(Agent.tenant_id == tenant_id, Agent.user_id == user_id)
                                .with_for_update().execution_options(populate_existing=True))


async def team_by_name(session: AsyncSession, tenant_id: UUID, name: str) -> Team | None:
    return await session.scalar(select(Team).where(Team.tenant_id == tenant_id, Team.name == name))


async def list_teams(session: AsyncSession, tenant_id: UUID) -> list[tuple[Team, list[UUID]]]:
    rows = await session.execute(
        select(Team, func.array_remove(func.array_agg(TeamMember.user_id), None))
        .outerjoin(TeamMember, TeamMember.team_id == Team.id).where(Team.tenant_id == tenant_id)
        .group_by(Team.id).order_by(Team.name))
    return [(row[0], list(row[1] or [])) for row in rows]


async def due_snoozes(session: AsyncSession, now: datetime, limit: int) -> list[Conversation]:
    """Snoozed conversations whose time has come, locked (replicas skip each other's)."""
    return list(await session.scalars(select(Conversation).where(
        Conversation.status == "snoozed", Conversation.snoozed_until <= now)
        .order_by(Conversation.snoozed_until).limit(limit).with_for_update(skip_locked=True)))

