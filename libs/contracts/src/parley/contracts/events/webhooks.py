"""Raw inbound webhooks, stored by ingest before anything else happens."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from parley.contracts.events.base import Payload


class WebhookReceived(Payload):
    """An authentic webhook was durably stored.

    ``payload`` is inlined for generic hooks when small enough; WhatsApp bodies are normalized by ingest
    from its own store into message.received / message.status / waba.updated.
    """

    webhook_id: UUID
    kind: Literal["whatsapp", "generic"] = "whatsapp"
    hook: str | None = Field(default=None, description="Name of the generic inbound hook, if any")
    received_at: datetime
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    phone_number_ids: list[str] = Field(default_factory=list)
    payload: dict[str, Any] | None = Field(
        default=None, description="The parsed JSON body; omitted above the inline limit (read it from ingest)"
    )


class HookEventMapped(Payload):
    """A tenant's inbound hook payload turned into a named business event by the hook's mapping."""

    webhook_id: UUID
    hook_id: UUID
    hook: str = Field(description="The hook's name")
    event: str = Field(description="Business event name, e.g. purchase.approved, lead.created, pix.generated")
    phone: str | None = Field(default=None, description="The customer's phone, digits only (E.164 without +)")
    variables: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime
