"""The one place projections change: at write time and during ``rebuild`` (SQLAlchemy core, few statements)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.contacts import ContactCreated, ContactNumberChanged, ContactUpdated
from parley.contracts.events.conversations import (
    ConversationMessageAdded,
    ConversationMessageUpdated,
    ConversationNoteAdded,
    ConversationOpened,
    ConversationUpdated,
)
from parley.conversation.models import Agent, Contact, Conversation, Message, Note, ParkedReaction, Team, TeamMember
from parley.conversation.sealing import unb64

#: WhatsApp's customer service window: free-form replies are allowed this long after the customer writes.
SERVICE_WINDOW = timedelta(hours=24)

#: Delivery statuses only move forward; ``failed`` is final.
STATUS_RANK = {"pending": 0, "accepted": 1, "sent": 2, "delivered": 3, "read": 4, "played": 5, "failed": 9}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Apply = Callable[[AsyncSession, Envelope], Awaitable[None]]


def status_rank(column: Any) -> Any:
    return case(STATUS_RANK, value=column, else_=-1)


async def _contact_created(session: AsyncSession, envelope: Envelope) -> None:
    created = ContactCreated.model_validate(envelope.data)
    await session.execute(insert(Contact).values(
        id=created.contact_id, tenant_id=envelope.tenantid, wa_id=created.wa_id, phone_e164=created.phone_e164,
        profile_name=created.profile_name, created_at=created.created_at, version=1))


async def _contact_renamed(session: AsyncSession, envelope: Envelope) -> None:
    """Events of the first release (internal ``contact.profile-updated``)."""
    await session.execute(update(Contact).where(Contact.id == UUID(envelope.data["contact_id"]))
                          .values(profile_name=envelope.data.get("profile_name"), version=Contact.version + 1))


def _changes(payload: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The columns an update event changes: those it names in ``changed`` (absent = cleared), else those set."""
    named = payload.changed or [f for f in fields if getattr(payload, f) is not None]
    return {f: getattr(payload, f) for f in named if f in fields}


async def _contact_updated(session: AsyncSession, envelope: Envelope) -> None:
    updated = ContactUpdated.model_validate(envelope.data)
    values = _changes(updated, ("profile_name", "attributes", "labels"))
    values = {k: (v if v is not None or k == "profile_name" else ({} if k == "attributes" else []))
              for k, v in values.items()}
    await session.execute(update(Contact).where(Contact.id == updated.contact_id)
                          .values(**values, version=Contact.version + 1))


async def _contact_number_changed(session: AsyncSession, envelope: Envelope) -> None:
    changed = ContactNumberChanged.model_validate(envelope.data)
    old, target = changed.contact_id, changed.merged_into
    if target is None:
        await session.execute(update(Contact).where(Contact.id == old).values(
            wa_id=changed.wa_id, phone_e164=changed.phone_e164, version=Contact.version + 1))
        await session.execute(update(Conversation).where(Conversation.contact_id == old).values(wa_id=changed.wa_id))
        return
    # Merge into the contact that already had the new number: per number, its conversation absorbs the old one.
    o, t = Conversation.__table__.alias("o"), Conversation.__table__.alias("t")
    same_number = and_(o.c.contact_id == old, t.c.contact_id == target, t.c.phone_number_id == o.c.phone_number_id)
    for table in (Message.__table__, Note.__table__):
        await session.execute(update(table).values(conversation_id=t.c.id)
                              .where(same_number, table.c.conversation_id == o.c.id))
    newer = o.c.last_message_at > t.c.last_message_at
    await session.execute(update(t).values(
        last_message_at=func.greatest(t.c.last_message_at, o.c.last_message_at),
        **{f"last_message_{f}": case((newer, o.c[f"last_message_{f}"]), else_=t.c[f"last_message_{f}"])
           for f in ("id", "type", "sealed")},
        window_expires_at=func.greatest(t.c.window_expires_at, o.c.window_expires_at),
    ).where(same_number))
    await session.execute(delete(o).where(same_number))
    await session.execute(update(Conversation).where(Conversation.contact_id == old)
                          .values(contact_id=target, wa_id=changed.wa_id))
    await session.execute(delete(Contact).where(Contact.id == old))


async def _conversation_opened(session: AsyncSession, envelope: Envelope) -> None:
    opened = ConversationOpened.model_validate(envelope.data)
    await session.execute(insert(Conversation).values(
        id=opened.conversation_id, tenant_id=envelope.tenantid, contact_id=opened.contact_id, wa_id=opened.wa_id,
        phone_number_id=opened.phone_number_id, status=opened.status, opened_at=opened.opened_at,
        last_message_at=opened.opened_at, version=1))


CONVERSATION_FIELDS = ("status", "priority", "labels", "assignee_id", "team_id", "snoozed_until", "window_expires_at")


async def _conversation_updated(session: AsyncSession, envelope: Envelope) -> None:
    updated = ConversationUpdated.model_validate(envelope.data)
    values = _changes(updated, CONVERSATION_FIELDS)
    if "labels" in values and values["labels"] is None:
        values["labels"] = []
    if values.get("priority", "") is None:
        values["priority"] = "none"
    await session.execute(update(Conversation).where(Conversation.id == updated.conversation_id)
                          .values(**values, version=Conversation.version + 1))
    if values.get("assignee_id") is not None:  # round robin: the longest without a new conversation goes next
        await session.execute(update(Agent).where(Agent.tenant_id == envelope.tenantid,
                                                  Agent.user_id == values["assignee_id"])
                              .values(last_assigned_at=envelope.time))


async def _message_added(session: AsyncSession, envelope: Envelope) -> None:
    added = ConversationMessageAdded.model_validate(envelope.data)
    tenant_id = envelope.tenantid
    quoted = (select(Message.id).where(Message.tenant_id == tenant_id, Message.wamid == added.reply_to_wamid)
              .scalar_subquery() if added.reply_to_wamid else None)
    sealed = unb64(added.sealed_body)
    await session.execute(insert(Message).values(
        id=added.message_id, tenant_id=tenant_id, conversation_id=added.conversation_id, wamid=added.wamid,
        client_message_id=added.client_message_id, direction=added.direction, type=added.type,
        status=added.status, status_at=added.sent_at if added.status else None, body_sealed=sealed,
        media=added.media, reply_to_wamid=added.reply_to_wamid, reply_to_message_id=quoted,
        author_id=added.author_id, sent_at=added.sent_at).on_conflict_do_nothing())
    newest = Conversation.last_message_at <= added.sent_at
    values: dict[str, Any] = {
        "last_message_at": func.greatest(Conversation.last_message_at, added.sent_at),
        "last_message_id": case((newest, added.message_id), else_=Conversation.last_message_id),
        "last_message_type": case((newest, added.type), else_=Conversation.last_message_type),
        "last_message_sealed": case((newest, sealed), else_=Conversation.last_message_sealed),
        "version": Conversation.version + 1,
    }
    if added.direction == "inbound":
        window = added.sent_at + SERVICE_WINDOW
        values["window_expires_at"] = func.greatest(func.coalesce(Conversation.window_expires_at, window), window)
    await session.execute(update(Conversation).where(Conversation.id == added.conversation_id).values(**values))


async def _message_updated(session: AsyncSession, envelope: Envelope) -> None:
    updated = ConversationMessageUpdated.model_validate(envelope.data)
    changed = updated.changed or []
    target = Message.id == updated.message_id
    if "status" in changed and updated.status:
        forward = and_(target, status_rank(Message.status) < STATUS_RANK.get(updated.status, -1),
                       Message.status != "failed")
        await session.execute(update(Message).where(forward).values(
            status=updated.status, status_at=updated.at, wamid=func.coalesce(Message.wamid, updated.wamid),
            error_code=updated.error_code, error_message=updated.error_message))
    if "reaction" in changed:
        newer = and_(target, func.coalesce(Message.reaction_at, EPOCH) <= updated.at)
        await session.execute(update(Message).where(newer).values(reaction=updated.reaction, reaction_at=updated.at))
        if updated.wamid:  # reactions parked before their target arrived are attached now
            await session.execute(delete(ParkedReaction).where(ParkedReaction.tenant_id == envelope.tenantid,
                                                               ParkedReaction.target_wamid == updated.wamid))
    await session.execute(update(Conversation).where(Conversation.id == updated.conversation_id)
                          .values(version=Conversation.version + 1))


async def _reaction_parked(session: AsyncSession, envelope: Envelope) -> None:
    """Internal: a reaction whose target message has not arrived yet."""
    data = envelope.data
    await session.execute(insert(ParkedReaction).values(
        tenant_id=envelope.tenantid, reaction_wamid=data["reaction_wamid"], target_wamid=data["target_wamid"],
        wa_id=data["wa_id"], emoji=data.get("emoji"), reacted_at=datetime.fromisoformat(data["reacted_at"]))
        .on_conflict_do_nothing())


async def _note_added(session: AsyncSession, envelope: Envelope) -> None:
    note = ConversationNoteAdded.model_validate(envelope.data)
    await session.execute(insert(Note).values(id=note.note_id, tenant_id=envelope.tenantid,
                                              conversation_id=note.conversation_id, author_id=note.author_id,
                                              body_sealed=unb64(note.sealed_body), created_at=note.created_at))
    await session.execute(update(Conversation).where(Conversation.id == note.conversation_id)
                          .values(version=Conversation.version + 1))


async def _agent_synced(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.data
    values = {"email": data["email"], "name": data.get("name"), "role": data["role"], "status": data["status"]}
    await session.execute(insert(Agent).values(tenant_id=envelope.tenantid, user_id=UUID(data["user_id"]), **values)
                          .on_conflict_do_update(index_elements=[Agent.tenant_id, Agent.user_id], set_=values))


async def _agent_removed(session: AsyncSession, envelope: Envelope) -> None:
    user_id = UUID(envelope.data["user_id"])
    await session.execute(delete(Agent).where(Agent.tenant_id == envelope.tenantid, Agent.user_id == user_id))
    await session.execute(delete(TeamMember).where(TeamMember.tenant_id == envelope.tenantid,
                                                   TeamMember.user_id == user_id))


async def _agent_settings(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.data
    values = {k: data[k] for k in ("available", "max_open") if k in data}
    await session.execute(update(Agent).where(Agent.tenant_id == envelope.tenantid,
                                              Agent.user_id == UUID(data["user_id"])).values(**values))


async def _team_saved(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.data
    await session.execute(insert(Team).values(id=UUID(data["team_id"]), tenant_id=envelope.tenantid,
                                              name=data["name"], created_at=envelope.time)
                          .on_conflict_do_update(index_elements=[Team.id], set_={"name": data["name"]}))


async def _team_deleted(session: AsyncSession, envelope: Envelope) -> None:
    team_id = UUID(envelope.data["team_id"])
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    await session.execute(update(Conversation).where(Conversation.tenant_id == envelope.tenantid,
                                                     Conversation.team_id == team_id).values(team_id=None))
    await session.execute(delete(Team).where(Team.id == team_id))


async def _member_added(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(insert(TeamMember).values(team_id=UUID(envelope.data["team_id"]),
                                                    user_id=UUID(envelope.data["user_id"]),
                                                    tenant_id=envelope.tenantid).on_conflict_do_nothing())


async def _member_removed(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(delete(TeamMember).where(TeamMember.team_id == UUID(envelope.data["team_id"]),
                                                   TeamMember.user_id == UUID(envelope.data["user_id"])))


PROJECTORS: dict[str, Apply] = {
    "contact.created": _contact_created,
    "contact.profile-updated": _contact_renamed,
    "contact.updated": _contact_updated,
    "contact.number-changed": _contact_number_changed,
    "conversation.opened": _conversation_opened,
    "conversation.updated": _conversation_updated,
    "conversation.message-added": _message_added,
    "conversation.message-updated": _message_updated,
    "conversation.reaction-parked": _reaction_parked,
    "conversation.note-added": _note_added,
    "agent.synced": _agent_synced,
    "agent.removed": _agent_removed,
    "agent.settings-changed": _agent_settings,
    "team.saved": _team_saved,
    "team.deleted": _team_deleted,
    "team.member-added": _member_added,
    "team.member-removed": _member_removed,
}


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """Apply one stored event to the projections (events this service does not project are skipped)."""
    apply = PROJECTORS.get(envelope.type)
    if apply is not None:
        await apply(session, envelope)
