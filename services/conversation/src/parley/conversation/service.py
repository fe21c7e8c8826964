"""Use cases of the conversation service: inbound messages become contacts, conversations and a timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope, new_event_id
from parley.contracts.events.conversations import ConversationMessageAdded, ConversationOpened
from parley.contracts.events.messages import MessageReceived
from parley.conversation import repository
from parley.conversation.models import Contact
from parley.kit.eventstore import EventStore

#: WhatsApp's customer service window: free-form replies are allowed this long after the customer writes.
SERVICE_WINDOW = timedelta(hours=24)


def preview(message: MessageReceived) -> str:
    """One line for inbox lists and notifications."""
    if message.text:
        return message.text.body[:512]
    if message.media and message.media.caption:
        return f"[{message.type}] {message.media.caption}"[:512]
    if message.reaction:
        return f"[reaction] {message.reaction.emoji or 'removed'}"
    if message.interactive and message.interactive.title:
        return message.interactive.title[:512]
    if message.button and message.button.text:
        return message.button.text[:512]
    return f"[{message.type}]"


def _content(message: MessageReceived) -> dict[str, Any]:
    typed = message.model_dump(mode="json", exclude_none=True, include={
        "text", "media", "location", "contacts", "interactive", "button", "reaction", "order", "system",
        "context", "referral", "errors"})
    return {k: v for k, v in typed.items() if v not in ([], None)}


async def _contact(session: AsyncSession, store: EventStore, tenant_id: UUID, message: MessageReceived) -> Contact:
    contact = await repository.contact_by_wa_id(session, tenant_id, message.wa_id)
    aggregate_id = f"{tenant_id}:{message.wa_id}"
    if contact is None:
        await store.record_internal(session, "contact.created", {
            "contact_id": str(new_event_id()), "wa_id": message.wa_id, "profile_name": message.profile_name,
            "created_at": message.timestamp.isoformat(),
        }, aggregate_type="contact", aggregate_id=aggregate_id, expected_version=0, tenant_id=tenant_id)
        contact = await repository.contact_by_wa_id(session, tenant_id, message.wa_id)
        assert contact is not None
    elif message.profile_name and message.profile_name != contact.profile_name:
        version = await store.version_of(session, "contact", aggregate_id)
        await store.record_internal(session, "contact.profile-updated", {
            "contact_id": str(contact.id), "profile_name": message.profile_name,
        }, aggregate_type="contact", aggregate_id=aggregate_id, expected_version=version, tenant_id=tenant_id)
    return contact


async def record_inbound(session: AsyncSession, store: EventStore, envelope: Envelope) -> None:
    """Put a customer's message on its conversation's timeline (opening one if needed); duplicates are ignored."""
    message = envelope.payload()
    assert isinstance(message, MessageReceived)
    tenant_id = envelope.tenantid
    if tenant_id is None or await repository.message_exists(session, tenant_id, message.wamid):
        return
    contact = await _contact(session, store, tenant_id, message)
    conversation = await repository.open_conversation(session, tenant_id, contact.id, message.phone_number_id)
    if conversation is None:
        conversation_id = new_event_id()
        await store.record(session, ConversationOpened(
            conversation_id=conversation_id, contact_id=contact.id, wa_id=message.wa_id,
            phone_number_id=message.phone_number_id, opened_at=message.timestamp,
        ), aggregate_type="conversation", aggregate_id=str(conversation_id), expected_version=0, tenant_id=tenant_id)
    else:
        conversation_id = conversation.id
    version = await store.version_of(session, "conversation", str(conversation_id))
    await store.record(session, ConversationMessageAdded(
        conversation_id=conversation_id, message_id=new_event_id(), wa_id=message.wa_id, direction="inbound",
        wamid=message.wamid, type=message.type, text=preview(message), sent_at=message.timestamp,
        content=_content(message), reply_to_wamid=message.context.id if message.context else None,
        profile_name=message.profile_name,
    ), aggregate_type="conversation", aggregate_id=str(conversation_id), expected_version=version,
        tenant_id=tenant_id)


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """The one place projections change: at write time and during ``rebuild``."""
    data, tenant_id = envelope.data, envelope.tenantid
    if envelope.type == "contact.created":
        await repository.insert_contact(session, id=UUID(data["contact_id"]), tenant_id=tenant_id,
                                        wa_id=data["wa_id"], profile_name=data.get("profile_name"),
                                        created_at=datetime.fromisoformat(data["created_at"]))
    elif envelope.type == "contact.profile-updated":
        await repository.rename_contact(session, UUID(data["contact_id"]), data.get("profile_name"))
    elif envelope.type == "conversation.opened":
        opened = ConversationOpened.model_validate(data)
        await repository.insert_conversation(
            session, id=opened.conversation_id, tenant_id=tenant_id, contact_id=opened.contact_id,
            wa_id=opened.wa_id, phone_number_id=opened.phone_number_id, status=opened.status,
            opened_at=opened.opened_at, last_message_at=opened.opened_at)
    elif envelope.type == "conversation.message-added":
        added = ConversationMessageAdded.model_validate(data)
        await repository.insert_message(
            session, id=added.message_id, tenant_id=tenant_id, conversation_id=added.conversation_id,
            wamid=added.wamid, direction=added.direction, type=added.type, text=added.text, content=added.content,
            reply_to_wamid=added.reply_to_wamid, sent_at=added.sent_at)
        window = added.sent_at + SERVICE_WINDOW if added.direction == "inbound" else None
        await repository.touch_conversation(session, added.conversation_id, added.sent_at, added.text, window)
