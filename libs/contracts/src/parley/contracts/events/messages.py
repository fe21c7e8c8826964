"""Inbound messages, send requests and delivery statuses (Meta's shapes, typed)."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from parley.contracts.events.base import Payload

InboundType = Literal[
    "text", "image", "video", "audio", "document", "sticker", "location", "contacts",
    "interactive", "button", "reaction", "order", "system", "unsupported",
]


class Text(Payload):
    body: str


class Media(Payload):
    """image / video / audio / document / sticker: the media id is what Meta lets us download later."""

    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class Location(Payload):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class Interactive(Payload):
    type: Literal["button_reply", "list_reply", "nfm_reply"] | str
    reply_id: str | None = None
    title: str | None = None
    description: str | None = None
    response_json: str | None = None
    flow_name: str | None = None
    body: str | None = None


class ButtonReply(Payload):
    """Quick-reply button of a template message."""

    payload: str | None = None
    text: str | None = None


class Reaction(Payload):
    message_id: str
    emoji: str | None = Field(default=None, description="None when the customer withdrew the reaction")


class Order(Payload):
    catalog_id: str | None = None
    text: str | None = None
    product_items: list[dict[str, Any]] = Field(default_factory=list)


class SystemNotice(Payload):
    type: str | None = None
    body: str | None = None
    wa_id: str | None = Field(default=None, description="The customer's new wa_id on user_changed_number")


class ReplyContext(Payload):
    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class MetaError(Payload):
    code: int
    title: str | None = None
    message: str | None = None
    details: str | None = None


class MessageReceived(Payload):
    """A customer's message to a business number, routed to its tenant."""

    wamid: str
    phone_number_id: str
    display_phone_number: str | None = None
    waba_id: str | None = None
    wa_id: str = Field(description="The customer's WhatsApp id (contacts[].wa_id, else messages[].from)")
    from_: str = Field(alias="from")
    profile_name: str | None = None
    timestamp: datetime = Field(description="Meta's message time, not our processing time")
    type: InboundType | str
    text: Text | None = None
    media: Media | None = None
    location: Location | None = None
    contacts: list[dict[str, Any]] | None = None
    interactive: Interactive | None = None
    button: ButtonReply | None = None
    reaction: Reaction | None = None
    order: Order | None = None
    system: SystemNotice | None = None
    context: ReplyContext | None = None
    referral: dict[str, Any] | None = None
    errors: list[MetaError] = Field(default_factory=list)
    webhook_id: UUID | None = None


OutboundType = Literal["text", "template", "image", "video", "audio", "document", "interactive", "reaction"]


class Requester(Payload):
    kind: Literal["agent", "campaign", "flow", "api", "system"]
    id: str | None = None


class MessageRequested(Payload):
    """A request to send one WhatsApp message; ``client_message_id`` makes it exactly-once.

    The sending number is ``phone_number_id``, or the sender picks one from the tenant's pool ``pool_id``.
    """

    client_message_id: UUID
    phone_number_id: str | None = Field(default=None, description="The business number to send from")
    pool_id: UUID | None = Field(default=None, description="A sender pool to pick the number from instead")
    to: str = Field(description="Recipient wa_id")
    type: OutboundType | str
    content: dict[str, Any] = Field(description="The Graph API object for ``type`` (e.g. {'body': ...})")
    reply_to_wamid: str | None = None
    conversation_id: UUID | None = None
    requested_by: Requester

    @model_validator(mode="after")
    def _one_sender(self) -> "MessageRequested":
        if (self.phone_number_id is None) == (self.pool_id is None):
            raise ValueError("name exactly one of phone_number_id or pool_id")
        return self


StatusValue = Literal["accepted", "sent", "delivered", "read", "played", "failed"]


class MessageStatus(Payload):
    """A delivery status: ``accepted``/``failed`` from the sender, the rest from Meta's webhooks."""

    status: StatusValue | str
    wamid: str | None = None
    client_message_id: UUID | None = None
    phone_number_id: str
    recipient_id: str
    timestamp: datetime
    origin: Literal["meta", "sender"] = "meta"
    errors: list[MetaError] = Field(default_factory=list)
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    biz_opaque_callback_data: str | None = None
