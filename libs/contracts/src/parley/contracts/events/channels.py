"""WhatsApp numbers (channels) as seen by every service that routes by phone_number_id."""

from typing import Literal

from pydantic import Field

from parley.contracts.events.base import Payload


class ChannelRegistered(Payload):
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str | None = None


class ChannelUpdated(Payload):
    phone_number_id: str
    display_phone_number: str | None = None
    verified_name: str | None = None
    status: Literal["active", "needs_token", "restricted", "disabled"] | None = None
    quality_rating: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] | None = None
    messaging_limit: str | None = Field(default=None, description="Meta's tier, e.g. TIER_1K")


class ChannelDeregistered(Payload):
    phone_number_id: str
    reason: str | None = None
