"""Conversation changes, for the realtime gateway, the flow engine and egress."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from parley.contracts.events.base import Payload

ConversationStatus = Literal["open", "pending", "resolved", "snoozed"]


class ConversationOpened(Payload):
    conversation_id: UUID
    contact_id: UUID
    wa_id: str
    phone_number_id: str
    status: ConversationStatus = "open"
    opened_at: datetime


class ConversationUpdated(Payload):
    """Status, assignment or window change; only the fields that changed are set."""

    conversation_id: UUID
    wa_id: str
    status: ConversationStatus | None = None
    assignee_id: UUID | None = None
    team_id: UUID | None = None
    window_expires_at: datetime | None = None


class ConversationMessageAdded(Payload):
    """A message joined a conversation's timeline (inbound or outbound)."""

    conversation_id: UUID
    message_id: UUID
    wa_id: str
    direction: Literal["inbound", "outbound"]
    wamid: str | None = None
    type: str
    text: str | None = Field(default=None, description="Preview text for notifications and realtime lists")
    sent_at: datetime = Field(description="WhatsApp's timestamp of the message: the timeline's order")
    content: dict[str, Any] | None = Field(default=None, description="The typed message content, as received")
    reply_to_wamid: str | None = None
    profile_name: str | None = None
