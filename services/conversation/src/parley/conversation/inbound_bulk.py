"""Customer messages in bulk: a batch of one tenant's ``message.received`` as a few set-based statements.

The same events, in the same order, as ``Inbound.record_message`` appends one message at a time: the batch
is played in memory over the locked rows of its contacts and conversations, its events are appended with
one INSERT, and the rows they lead to are written with one statement per table. ``rebuild`` replays those
events one by one through ``projections`` and lands on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import new_event_id
from parley.contracts.events.contacts import ContactCreated, ContactUpdated
from parley.contracts.events.conversations import (
    ConversationMessageAdded,
    ConversationMessageUpdated,
    ConversationOpened,
    ConversationUpdated,
)
from parley.contracts.events.messages import MessageReceived
from parley.conversation import repository
from parley.conversation.models import Contact, Conversation, Message, ParkedReaction
from parley.conversation.projections import SERVICE_WINDOW
from parley.conversation.received import content, e164, media_of, preview
from parley.conversation.sealing import Sealer, message_context, unb64
from parley.kit.eventstore import Append, EventStore

CONTACTS, CONVERSATIONS, MESSAGES = Contact.__table__, Conversation.__table__, Message.__table__


def bulk_capable(message: MessageReceived) -> bool:
    """Reactions and number changes touch other rows than their own: they go one at a time."""
    if message.type == "reaction" and message.reaction is not None:
        return False
    return not (message.system and message.system.type == "user_changed_number" and message.system.wa_id)


@dataclass
class _Contact:
    id: UUID
    wa_id: str
    profile_name: str | None
    version: int
    created: dict[str, Any] | None = None  # the row to insert when the batch creates the contact
    renamed: bool = False


@dataclass
class _Conversation:
    row: dict[str, Any]
    created: bool = False
    touched: bool = False


@dataclass
class _Batch:
    """What one run of messages changes: events to append and rows to write."""

    appends: list[Append] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)  # target wamids whose parked reactions were attached


class BulkInbound:
    def __init__(self, store: EventStore, sealer: Sealer) -> None:
        # Appends without projecting event by event: this class writes the resulting rows itself.
        self.store = EventStore(store.tables, source=store.source)
        self.sealer = sealer

    async def record(self, session: AsyncSession, tenant_id: UUID, messages: list[MessageReceived]) -> None:
        """Messages with no reaction or number change, in offset order; duplicates (by wamid) change nothing."""
        known = await repository.known_wamids(session, tenant_id, list({m.wamid for m in messages}))
        todo: list[MessageReceived] = []
        for message in messages:
            if message.wamid not in known:
                known.add(message.wamid)
                todo.append(message)
        if not todo:
            return
        contacts = {row.wa_id: _Contact(row.id, row.wa_id, row.profile_name, row.version)
                    for row in await repository.lock_contacts(session, tenant_id, sorted({m.wa_id for m in todo}))}
        conversations = {(row.contact_id, row.phone_number_id): _Conversation(dict(row._mapping))
                         for row in await repository.lock_conversations_of(
                             session, tenant_id, sorted(c.id for c in contacts.values()))}
        quoted = await repository.message_ids_by_wamid(
            session, tenant_id, sorted({m.context.id for m in todo if m.context and m.context.id}))
        parked = {}
        for row in await repository.parked_reactions(session, tenant_id, [m.wamid for m in todo]):
            parked[row.target_wamid] = row  # the newest wins, as it would have on the message
        ids = [new_event_id() for _ in todo]
        sealed = await self.sealer.seal_many(session, tenant_id, [
            ({"text": preview(m), "content": content(m)}, message_context(i)) for m, i in zip(todo, ids, strict=True)])
        batch = _Batch()
        for message, message_id, body in zip(todo, ids, sealed, strict=True):
            contact = self._contact(batch, tenant_id, contacts, message)
            conversation = self._open(batch, tenant_id, conversations, contact, message)
            self._add(batch, tenant_id, conversation, message, message_id, body, media_of(message), quoted,
                      parked.get(message.wamid))
        await self.store.record_many(session, batch.appends)
        await self._write(session, tenant_id, contacts, conversations, batch)

    @staticmethod
    def _contact(batch: _Batch, tenant_id: UUID, contacts: dict[str, _Contact], message: MessageReceived) -> _Contact:
        contact = contacts.get(message.wa_id)
        if contact is None:
            contact = _Contact(new_event_id(), message.wa_id, message.profile_name, 1)
            contact.created = {"id": contact.id, "tenant_id": tenant_id, "wa_id": message.wa_id,
                               "phone_e164": e164(message.wa_id), "created_at": message.timestamp}
            contacts[message.wa_id] = contact
            batch.appends.append(Append(ContactCreated(
                contact_id=contact.id, wa_id=message.wa_id, phone_e164=contact.created["phone_e164"],
                profile_name=message.profile_name, created_at=message.timestamp),
                "contact", str(contact.id), 0, tenant_id))
        elif message.profile_name and message.profile_name != contact.profile_name:
            batch.appends.append(Append(ContactUpdated(
                contact_id=contact.id, wa_id=message.wa_id, profile_name=message.profile_name,
                changed=["profile_name"]), "contact", str(contact.id), contact.version, tenant_id))
            contact.profile_name, contact.version, contact.renamed = message.profile_name, contact.version + 1, True
        return contact

    @staticmethod
    def _open(batch: _Batch, tenant_id: UUID, conversations: dict[tuple[UUID, str], _Conversation],
              contact: _Contact, message: MessageReceived) -> _Conversation:
        """Open a new conversation or reopen a resolved/snoozed one (the tenant has nobody to auto-assign)."""
        key = (contact.id, message.phone_number_id)
        conversation = conversations.get(key)
        if conversation is None:
            conversation_id = new_event_id()
            conversation = _Conversation({
                "id": conversation_id, "tenant_id": tenant_id, "contact_id": contact.id, "wa_id": message.wa_id,
                "phone_number_id": message.phone_number_id, "status": "open", "priority": "none", "labels": [],
                "assignee_id": None, "team_id": None, "snoozed_until": None, "opened_at": message.timestamp,
                "last_message_at": message.timestamp, "last_message_id": None, "last_message_type": None,
                "last_message_sealed": None, "window_expires_at": None, "version": 1}, created=True)
            conversations[key] = conversation
            batch.appends.append(Append(ConversationOpened(
                conversation_id=conversation_id, contact_id=contact.id, wa_id=message.wa_id,
                phone_number_id=message.phone_number_id, opened_at=message.timestamp),
                "conversation", str(conversation_id), 0, tenant_id))
            return conversation
        row = conversation.row
        if row["status"] in ("resolved", "snoozed"):
            batch.appends.append(Append(ConversationUpdated(
                conversation_id=row["id"], wa_id=message.wa_id, status="open", assignee_id=row["assignee_id"],
                team_id=row["team_id"], changed=["status", "snoozed_until"] if row["snoozed_until"] else ["status"]),
                "conversation", str(row["id"]), row["version"], tenant_id))
            row.update(status="open", snoozed_until=None, version=row["version"] + 1)
            conversation.touched = True
        return conversation

    @staticmethod
    def _add(batch: _Batch, tenant_id: UUID, conversation: _Conversation, message: MessageReceived,
             message_id: UUID, sealed: str, media: dict[str, Any] | None, quoted: dict[str, UUID],
             parked: Any) -> None:
        """The message on the timeline, exactly as ``projections._message_added`` would fold it in."""
        row, at = conversation.row, message.timestamp
        reply_to = message.context.id if message.context else None
        batch.appends.append(Append(ConversationMessageAdded(
            conversation_id=row["id"], message_id=message_id, wa_id=message.wa_id, direction="inbound",
            wamid=message.wamid, type=message.type, sent_at=at, media=media, reply_to_wamid=reply_to,
            profile_name=message.profile_name, sealed_body=sealed, assignee_id=row["assignee_id"],
            team_id=row["team_id"]), "conversation", str(row["id"]), row["version"], tenant_id))
        if row["last_message_at"] <= at:
            row.update(last_message_id=message_id, last_message_type=message.type, last_message_sealed=unb64(sealed))
        window = at + SERVICE_WINDOW
        row.update(last_message_at=max(row["last_message_at"], at), version=row["version"] + 1,
                   window_expires_at=max(row["window_expires_at"] or window, window))
        conversation.touched = True
        quoted[message.wamid] = message_id  # later messages of the batch may quote this one
        batch.messages.append({
            "id": message_id, "tenant_id": tenant_id, "conversation_id": row["id"], "wamid": message.wamid,
            "client_message_id": None, "direction": "inbound", "type": message.type, "status": None,
            "status_at": None, "body_sealed": unb64(sealed), "media": media, "reply_to_wamid": reply_to,
            "reply_to_message_id": quoted.get(reply_to) if reply_to and reply_to != message.wamid else None,
            "reaction": None, "reaction_at": None, "author_id": None, "sent_at": at})
        if parked is not None:  # a reaction that came first: attach it now
            emoji = parked.emoji or None
            batch.appends.append(Append(ConversationMessageUpdated(
                conversation_id=row["id"], message_id=message_id, wa_id=message.wa_id, wamid=message.wamid,
                reaction=emoji, changed=["reaction"], at=parked.reacted_at, assignee_id=row["assignee_id"],
                team_id=row["team_id"]), "conversation", str(row["id"]), row["version"], tenant_id))
            row["version"] += 1
            batch.messages[-1].update(reaction=emoji, reaction_at=parked.reacted_at)
            batch.attached.append(message.wamid)

    @staticmethod
    async def _write(session: AsyncSession, tenant_id: UUID, contacts: dict[str, _Contact],
                     conversations: dict[tuple[UUID, str], _Conversation], batch: _Batch) -> None:
        created = [c.created | {"profile_name": c.profile_name, "version": c.version}
                   for c in contacts.values() if c.created is not None]
        if created:
            await session.execute(insert(CONTACTS), created)
        renamed = [{"b_id": c.id, "b_name": c.profile_name, "b_version": c.version}
                   for c in contacts.values() if c.created is None and c.renamed]
        if renamed:
            await session.execute(update(CONTACTS).where(CONTACTS.c.id == bindparam("b_id"))
                                  .values(profile_name=bindparam("b_name"), version=bindparam("b_version")), renamed)
        opened = [c.row for c in conversations.values() if c.created]
        if opened:
            await session.execute(insert(CONVERSATIONS), opened)
        changed = [{f"b_{k}": v for k, v in c.row.items() if k in _CONVERSATION_COLUMNS}
                   for c in conversations.values() if c.touched and not c.created]
        if changed:
            await session.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id"))
                                  .values({k: bindparam(f"b_{k}") for k in _CONVERSATION_COLUMNS if k != "id"}),
                                  changed)
        if batch.messages:
            await session.execute(insert(MESSAGES).on_conflict_do_nothing(), batch.messages)
        if batch.attached:
            await session.execute(ParkedReaction.__table__.delete().where(
                ParkedReaction.tenant_id == tenant_id, ParkedReaction.target_wamid.in_(batch.attached)))


#: What a message can change on an existing conversation.
_CONVERSATION_COLUMNS = ("id", "status", "snoozed_until", "last_message_at", "last_message_id", "last_message_type",
                         "last_message_sealed", "window_expires_at", "version")
