"""API shapes of the conversation service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["open", "pending", "resolved", "snoozed"]
Priority = Literal["none", "low", "medium", "high", "urgent"]
LabelList = list[str]


def clean_labels(labels: list[str] | None) -> list[str] | None:
    """Trimmed, lower-case, unique, in the order given."""
    if labels is None:
        return None
    seen: list[str] = []
    for label in labels:
        value = label.strip().lower()
        if not value or len(value) > 64:
            raise ValueError("a label is 1 to 64 characters")
        if value not in seen:
            seen.append(value)
    if len(seen) > 50:
        raise ValueError("at most 50 labels")
    return seen


class ContactOut(BaseModel):
    id: UUID
    wa_id: str
    phone_e164: str | None = None
    profile_name: str | None
    attributes: dict[str, Any] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] | None = Field(default=None, description="Merged in; a key set to null is removed")
    labels: LabelList | None = Field(default=None, description="Replaces the contact's labels")

    @field_validator("labels")
    @classmethod
    def _clean_labels(cls, labels: list[str] | None) -> list[str] | None:
        return clean_labels(labels)


class LastMessage(BaseModel):
    id: UUID
    type: str | None
    preview: str | None


class ConversationOut(BaseModel):
    id: UUID
    status: str
    priority: str
    labels: list[str]
    assignee_id: UUID | None
    team_id: UUID | None
    snoozed_until: datetime | None
    phone_number_id: str
    contact: ContactOut
    opened_at: datetime
    last_message_at: datetime
    last_message: LastMessage | None
    last_message_preview: str | None = Field(description="Same as last_message.preview")
    window_expires_at: datetime | None
    window_open: bool = Field(description="Free-form replies allowed; when false only templates can be sent")


class ConversationPatch(BaseModel):
    """Only the fields present change; ``null`` clears assignee, team or snooze."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    priority: Priority | None = None
    snoozed_until: datetime | None = None
    assignee_id: UUID | None = None
    team_id: UUID | None = None
    labels: LabelList | None = None

    @field_validator("labels")
    @classmethod
    def _clean_labels(cls, labels: list[str] | None) -> list[str] | None:
        return clean_labels(labels)


class MessageError(BaseModel):
    code: int | None
    message: str | None


class MessageOut(BaseModel):
    id: UUID
    conversation_id: UUID
    wamid: str | None
    client_message_id: UUID | None
    direction: str
    type: str
    status: str | None
    timestamp: datetime = Field(description="WhatsApp's time of the message (for a reply: when it was requested)")
    sent_at: datetime = Field(description="Same as timestamp (the first release's name)")
    text: str | None
    content: dict[str, Any] | None
    media: dict[str, Any] | None
    reply_to_wamid: str | None
    reply_to_message_id: UUID | None
    reaction: str | None
    error: MessageError | None
    author_id: UUID | None


class ReplyIn(BaseModel):
    """A Cloud-API-shaped message: ``{"type": "text", "text": {"body": "..."}}``, template, media, interactive."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "template", "image", "video", "audio", "document", "sticker", "interactive"]
    client_message_id: UUID | None = Field(default=None, description="Send the same id again to retry safely")
    context: dict[str, str] | None = Field(default=None, description='{"message_id": "<wamid>"} to quote a message')


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class NoteOut(BaseModel):
    id: UUID
    conversation_id: UUID
    author_id: UUID
    body: str
    created_at: datetime


class AgentOut(BaseModel):
    user_id: UUID
    email: str
    name: str | None
    role: str
    status: str
    available: bool
    max_open: int
    open_conversations: int


class AgentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    available: bool | None = None
    max_open: int | None = Field(default=None, ge=0, le=1000)


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)


class TeamOut(BaseModel):
    id: UUID
    name: str
    member_ids: list[UUID]
    created_at: datetime


class MemberIn(BaseModel):
    user_id: UUID
