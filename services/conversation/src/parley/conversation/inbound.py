"""What arrives from WhatsApp: customer messages, reactions, number changes and delivery statuses."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope, new_event_id
from parley.contracts.events.contacts import ContactCreated, ContactNumberChanged, ContactUpdated
from parley.contracts.events.conversations import (
    ConversationMessageAdded,
    ConversationMessageUpdated,
    ConversationOpened,
    ConversationUpdated,
)
from parley.contracts.events.messages import MessageReceived, MessageStatus
from parley.conversation import repository
from parley.conversation.inbound_bulk import BulkInbound, bulk_capable
from parley.conversation.models import Contact, Conversation
from parley.conversation.projections import STATUS_RANK
from parley.conversation.received import content, e164, media_of, preview
from parley.conversation.sealing import Sealer, message_context
from parley.conversation.status_bulk import BulkStatuses, client_message_id
from parley.kit.eventstore import Append, EventStore
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

@dataclass
class Opened:
    """The conversation a message joins, its version before this message, and the events opening it."""

    conversation_id: UUID
    version: int
    appends: list[Append]
    assignee_id: UUID | None = None
    team_id: UUID | None = None


class Inbound:
    """Turns WhatsApp's events into this service's events, in the consumer's transaction."""

    def __init__(self, store: EventStore, sealer: Sealer) -> None:
        self.store = store
        self.sealer = sealer
        self.bulk = BulkInbound(store, sealer)
        self.statuses = BulkStatuses(store)

    async def record_messages(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        """A batch of one tenant's messages (offset order): runs of plain messages in bulk, the rest one by one.

        A tenant with agents to auto-assign goes one by one: round robin reads the assignments made before."""
        tenant_id = envelopes[0].tenantid
        if tenant_id is None:
            return
        messages = [_received(envelope) for envelope in envelopes]
        one_by_one = await repository.auto_assigns(session, tenant_id)
        run: list[MessageReceived] = []
        for message in messages:
            if not one_by_one and bulk_capable(message):
                run.append(message)
                continue
            if run:
                await self.bulk.record(session, tenant_id, run)
                run = []
            session.expire_all()  # rows the bulk statements changed are read afresh
            await self._record(session, tenant_id, message)
        if run:
            await self.bulk.record(session, tenant_id, run)

    async def record_message(self, session: AsyncSession, envelope: Envelope) -> None:
        """Put a customer's message on its conversation's timeline (opening or reopening it); duplicates change
        nothing."""
        if envelope.tenantid is not None:
            await self._record(session, envelope.tenantid, _received(envelope))

    async def _record(self, session: AsyncSession, tenant_id: UUID, message: MessageReceived) -> None:
        if message.type == "reaction" and message.reaction is not None:
            await self._react(session, tenant_id, message)
            return
        if await repository.message_exists(session, tenant_id, message.wamid):
            return
        wa_id = message.wa_id
        if message.system and message.system.type == "user_changed_number" and message.system.wa_id:
            await self._change_number(session, tenant_id, message)
            wa_id = message.system.wa_id
        contact, appends = await self._contact(session, tenant_id, message, wa_id)
        conversation = await repository.conversation_of(session, tenant_id, contact.id, message.phone_number_id)
        opened = await self._open(session, tenant_id, contact, wa_id, message, conversation)
        conversation_id, version = opened.conversation_id, opened.version
        appends += opened.appends
        message_id = new_event_id()
        sealed = await self.sealer.seal(session, tenant_id, {"text": preview(message), "content": content(message)},
                                        message_context(message_id))
        appends.append(Append(ConversationMessageAdded(
            conversation_id=conversation_id, message_id=message_id, wa_id=wa_id, direction="inbound",
            wamid=message.wamid, type=message.type, sent_at=message.timestamp, media=media_of(message),
            reply_to_wamid=message.context.id if message.context else None, profile_name=message.profile_name,
            sealed_body=sealed, assignee_id=opened.assignee_id, team_id=opened.team_id,
        ), "conversation", str(conversation_id), version + len(opened.appends), tenant_id))
        parked = await repository.parked_reactions(session, tenant_id, [message.wamid])
        if parked:  # reactions that came before this message: the newest is attached now
            appends.append(Append(ConversationMessageUpdated(
                conversation_id=conversation_id, message_id=message_id, wa_id=wa_id, wamid=message.wamid,
                reaction=parked[-1].emoji or None, changed=["reaction"], at=parked[-1].reacted_at,
                assignee_id=opened.assignee_id, team_id=opened.team_id),
                "conversation", str(conversation_id), version + len(opened.appends) + 1, tenant_id))
        await self.store.record_many(session, appends)

    async def _contact(self, session: AsyncSession, tenant_id: UUID, message: MessageReceived,
                       wa_id: str) -> tuple[Contact, list[Append]]:
        contact = await repository.contact_by_wa_id(session, tenant_id, wa_id, lock=True)
        if contact is None:
            contact_id = new_event_id()
            await self.store.record(session, ContactCreated(
                contact_id=contact_id, wa_id=wa_id, phone_e164=e164(wa_id), profile_name=message.profile_name,
                created_at=message.timestamp), aggregate_type="contact", aggregate_id=str(contact_id),
                expected_version=0, tenant_id=tenant_id)
            contact = await repository.contact_by_wa_id(session, tenant_id, wa_id)
            assert contact is not None
            return contact, []
        if message.profile_name and message.profile_name != contact.profile_name:
            renamed = ContactUpdated(contact_id=contact.id, wa_id=wa_id, profile_name=message.profile_name,
                                     changed=["profile_name"])
            return contact, [Append(renamed, "contact", str(contact.id), contact.version, tenant_id)]
        return contact, []

    async def _open(self, session: AsyncSession, tenant_id: UUID, contact: Contact, wa_id: str,
                    message: MessageReceived, conversation: Conversation | None) -> Opened:
        """Open a new conversation or reopen a resolved/snoozed one; either way try to auto-assign it."""
        if conversation is None:
            conversation_id = new_event_id()
            opened = Opened(conversation_id, 0, [Append(ConversationOpened(
                conversation_id=conversation_id, contact_id=contact.id, wa_id=wa_id,
                phone_number_id=message.phone_number_id, opened_at=message.timestamp),
                "conversation", str(conversation_id), 0, tenant_id)])
        else:
            opened = Opened(conversation.id, conversation.version, [], conversation.assignee_id, conversation.team_id)
            if conversation.status not in ("resolved", "snoozed"):
                return opened
            opened.appends.append(Append(ConversationUpdated(
                conversation_id=conversation.id, wa_id=wa_id, status="open", assignee_id=opened.assignee_id,
                team_id=opened.team_id,
                changed=["status", "snoozed_until"] if conversation.snoozed_until else ["status"]),
                "conversation", str(conversation.id), opened.version, tenant_id))
        if opened.assignee_id is None:
            opened.assignee_id = await repository.next_agent(session, tenant_id, opened.team_id)
            if opened.assignee_id is not None:
                opened.appends.append(Append(ConversationUpdated(
                    conversation_id=opened.conversation_id, wa_id=wa_id, status="open",
                    assignee_id=opened.assignee_id, team_id=opened.team_id, changed=["assignee_id"]),
                    "conversation", str(opened.conversation_id), opened.version + len(opened.appends), tenant_id))
        return opened

    async def _react(self, session: AsyncSession, tenant_id: UUID, message: MessageReceived) -> None:
        """Attach (or withdraw) the customer's reaction on the message it targets."""
        assert message.reaction is not None
        target = await repository.message_by(session, tenant_id, wamid=message.reaction.message_id)
        if target is None:
            await self._park(session, tenant_id, message)
            return
        emoji = message.reaction.emoji or None
        if target.reaction_at is not None and (target.reaction_at > message.timestamp or (
                target.reaction_at == message.timestamp and target.reaction == emoji)):
            return  # a newer reaction already replaced this one, or Meta delivered this one again
        conversation = await repository.lock_conversation(session, tenant_id, target.conversation_id)
        assert conversation is not None
        await self.store.record(session, ConversationMessageUpdated(
            conversation_id=conversation.id, message_id=target.id, wa_id=conversation.wa_id, wamid=target.wamid,
            reaction=emoji, changed=["reaction"], at=message.timestamp,
            assignee_id=conversation.assignee_id, team_id=conversation.team_id),
            aggregate_type="conversation", aggregate_id=str(conversation.id), expected_version=conversation.version,
            tenant_id=tenant_id)

    async def _park(self, session: AsyncSession, tenant_id: UUID, message: MessageReceived) -> None:
        """The target has not arrived yet (Meta guarantees no order): keep the reaction until it does."""
        assert message.reaction is not None
        if await repository.reaction_parked(session, tenant_id, message.wamid):
            return  # Meta delivered this reaction again
        await self.store.record_internal(session, "conversation.reaction-parked", {
            "reaction_wamid": message.wamid, "target_wamid": message.reaction.message_id, "wa_id": message.wa_id,
            "emoji": message.reaction.emoji or None, "reacted_at": message.timestamp.isoformat()},
            aggregate_type="reaction", aggregate_id=message.wamid, expected_version=0, tenant_id=tenant_id)

    async def _change_number(self, session: AsyncSession, tenant_id: UUID, message: MessageReceived) -> None:
        assert message.system is not None and message.system.wa_id
        new_wa_id = message.system.wa_id
        old = await repository.contact_by_wa_id(session, tenant_id, message.wa_id, lock=True)
        if old is None or new_wa_id == message.wa_id:
            return
        existing = await repository.contact_by_wa_id(session, tenant_id, new_wa_id)
        await self.store.record(session, ContactNumberChanged(
            contact_id=old.id, wa_id=new_wa_id, previous_wa_id=message.wa_id, phone_e164=e164(new_wa_id),
            changed_at=message.timestamp, merged_into=existing.id if existing else None),
            aggregate_type="contact", aggregate_id=str(old.id), expected_version=old.version, tenant_id=tenant_id)
        session.expire_all()

    async def record_statuses(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        """A batch of one tenant's statuses (offset order), in bulk: the same events as one by one."""
        await self.statuses.record(session, envelopes)

    async def record_status(self, session: AsyncSession, envelope: Envelope) -> None:
        """Move an outbound message's status forward (never back; ``failed`` is final)."""
        status = envelope.payload()
        assert isinstance(status, MessageStatus)
        tenant_id = envelope.tenantid
        if tenant_id is None or status.status not in STATUS_RANK:
            return
        message = await repository.message_by(session, tenant_id, client_message_id=client_message_id(status))
        if message is None and status.wamid:
            message = await repository.message_by(session, tenant_id, wamid=status.wamid)
        if message is None or message.direction != "outbound":
            return
        current = STATUS_RANK.get(message.status or "pending", 0)
        if message.status == "failed" or STATUS_RANK[status.status] <= current:
            return
        conversation = await repository.lock_conversation(session, tenant_id, message.conversation_id)
        assert conversation is not None
        error = status.errors[0] if status.errors else None
        await self.store.record(session, ConversationMessageUpdated(
            conversation_id=conversation.id, message_id=message.id, wa_id=conversation.wa_id,
            wamid=status.wamid or message.wamid, status=status.status, changed=["status"], at=status.timestamp,
            error_code=error.code if error else None,
            error_message=(error.details or error.message or error.title) if error else None,
            assignee_id=conversation.assignee_id, team_id=conversation.team_id),
            aggregate_type="conversation", aggregate_id=str(conversation.id), expected_version=conversation.version,
            tenant_id=tenant_id)


def _received(envelope: Envelope) -> MessageReceived:
    message = envelope.payload()
    assert isinstance(message, MessageReceived)
    return message
