"""Contacts (a tenant's customers, keyed by WhatsApp id), owned by the conversation service."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from parley.contracts.events.base import Payload


class ContactCreated(Payload):
    contact_id: UUID
    wa_id: str
    phone_e164: str | None = Field(default=None, description="wa_id as E.164 (+5511...), when it parses as a number")
    profile_name: str | None = None
    created_at: datetime


class ContactUpdated(Payload):
    """Profile name, attributes or labels changed. ``changed`` names the fields that changed; a named field that
    is absent was cleared."""

    contact_id: UUID
    wa_id: str
    profile_name: str | None = None
    attributes: dict[str, Any] | None = Field(default=None, description="The whole attribute map after the change")
    labels: list[str] | None = Field(default=None, description="The whole label list after the change")
    changed: list[str] | None = None


class ContactNumberChanged(Payload):
    """The customer moved to a new WhatsApp number (a ``user_changed_number`` system message): their history
    moves with them. ``merged_into`` is set when the new number already was a contact."""

    contact_id: UUID
    wa_id: str = Field(description="The new wa_id")
    previous_wa_id: str
    phone_e164: str | None = None
    changed_at: datetime
    merged_into: UUID | None = None
