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
    paused: bool | None = Field(default=None, description="Sending paused by Parley (repeated failures) or by a "
                                                          "manager; false once resumed")
    health_score: float | None = Field(default=None, description="Parley's 0-100 health of the number's sends")
    reason: str | None = Field(default=None, description="Why it changed, e.g. why sending was paused")
    quality_rating: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] | None = None
    messaging_limit: str | None = Field(default=None, description="Meta's tier, e.g. TIER_1K")


class ChannelDeregistered(Payload):
    phone_number_id: str
    reason: str | None = None
