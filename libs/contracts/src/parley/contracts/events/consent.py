"""A customer's consent to be messaged: opt-outs (keyword or manual) and the tenant's blocklist.

Published on ``contact.changed`` so the campaign service and the flow engine skip these customers.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from parley.contracts.events.base import Payload

ConsentSource = Literal["keyword", "manual", "api"]


class ContactOptedOut(Payload):
    """The customer asked not to be messaged any more (or an agent recorded that they did)."""

    wa_id: str
    source: ConsentSource
    keyword: str | None = Field(default=None, description="The configured keyword the customer's message matched")
    wamid: str | None = Field(default=None, description="The inbound message that carried the keyword")
    reason: str | None = None
    actor_id: UUID | None = Field(default=None, description="The user who recorded a manual opt-out")
    opted_out_at: datetime = Field(description="When the customer opted out (the message's WhatsApp time)")


class ContactOptedIn(Payload):
    """The customer may be messaged again (an opt-in keyword, or an agent reversed the opt-out)."""

    wa_id: str
    source: ConsentSource
    keyword: str | None = None
    wamid: str | None = None
    actor_id: UUID | None = None
    opted_in_at: datetime


class ContactBlocked(Payload):
    """The tenant put the number on its blocklist: nothing is sent to it."""

    wa_id: str
    reason: str | None = None
    actor_id: UUID | None = None
    blocked_at: datetime


class ContactUnblocked(Payload):
    wa_id: str
    actor_id: UUID | None = None
    unblocked_at: datetime
