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
    """Status, assignment or window change. Without ``changed`` (older events) only the fields that changed are
    set; with it, ``changed`` names them and ``status``, ``assignee_id`` and ``team_id`` always give the state
    after the change (who may see the conversation)."""

    conversation_id: UUID
    wa_id: str
    status: ConversationStatus | None = None
    assignee_id: UUID | None = None
    team_id: UUID | None = None
    window_expires_at: datetime | None = None
    priority: Literal["none", "low", "medium", "high", "urgent"] | None = None
    labels: list[str] | None = Field(default=None, description="The whole label list after the change")
    snoozed_until: datetime | None = None
    changed: list[str] | None = Field(default=None, description=(
        "The fields that changed; a named field that is absent was cleared (e.g. unassigned). "
        "Empty on older events: then every set field changed"))
    actor_id: UUID | None = Field(default=None, description="The user who made the change; absent when automatic")


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
    status: str | None = Field(default=None, description="Delivery status of an outbound message (pending at first)")
    client_message_id: UUID | None = Field(default=None, description="Of an outbound message: its send request")
    author_id: UUID | None = Field(default=None, description="The agent who wrote an outbound message")
    media: dict[str, Any] | None = Field(default=None, description="Media id, mime_type, sha256, filename")
    sealed_body: str | None = Field(default=None, description=(
        "Body and content, AES-256-GCM under the tenant's data key (base64); only the conversation service opens "
        "it. Newer events carry this instead of `text` and `content`: bodies never travel in clear"))
    assignee_id: UUID | None = Field(default=None, description="The conversation's assignee now (who may see it)")
    team_id: UUID | None = Field(default=None, description="The conversation's team now (who may see it)")


class ConversationMessageUpdated(Payload):
    """A timeline message's delivery status moved forward, or a reaction to it was added or withdrawn."""

    conversation_id: UUID
    message_id: UUID
    wa_id: str
    wamid: str | None = None
    status: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    reaction: str | None = Field(default=None, description="The customer's reaction emoji; absent when withdrawn")
    changed: list[str] | None = Field(default=None, description="`status`, `reaction`")
    at: datetime = Field(description="WhatsApp's time of the status or reaction")
    assignee_id: UUID | None = Field(default=None, description="The conversation's assignee now (who may see it)")
    team_id: UUID | None = Field(default=None, description="The conversation's team now (who may see it)")


class ConversationNoteAdded(Payload):
    """An agent left a private note on a conversation (never sent to the customer)."""

    conversation_id: UUID
    note_id: UUID
    wa_id: str
    author_id: UUID
    created_at: datetime
    sealed_body: str = Field(description="The note, AES-256-GCM under the tenant's data key (base64)")
    assignee_id: UUID | None = Field(default=None, description="The conversation's assignee now (who may see it)")
    team_id: UUID | None = Field(default=None, description="The conversation's team now (who may see it)")
