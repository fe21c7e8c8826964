"""API shapes of the conversation service."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class ContactOut(BaseModel):
    id: UUID
    wa_id: str
    profile_name: str | None


class ConversationOut(BaseModel):
    id: UUID
    status: str
    phone_number_id: str
    contact: ContactOut
    opened_at: datetime
    last_message_at: datetime
    last_message_preview: str | None
    window_expires_at: datetime | None


class MessageOut(BaseModel):
    id: UUID
    conversation_id: UUID
    wamid: str | None
    direction: str
    type: str
    text: str | None
    content: dict[str, Any] | None
    reply_to_wamid: str | None
    sent_at: datetime
