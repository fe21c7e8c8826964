"""WhatsApp Business Account notifications other than messages: templates, number quality, account."""

from typing import Any

from pydantic import Field

from parley.contracts.events.base import Payload
from parley.contracts.events.messages import MetaError


class TemplateStatusUpdated(Payload):
    """``message_template_status_update``: a template was approved, rejected, paused, disabled..."""

    waba_id: str
    template_id: str | None = None
    template_name: str | None = None
    language: str | None = None
    event: str
    reason: str | None = None


class TemplateQualityUpdated(Payload):
    """``message_template_quality_update``."""

    waba_id: str
    template_id: str | None = None
    template_name: str | None = None
    language: str | None = None
    previous_quality_score: str | None = None
    new_quality_score: str


class PhoneNumberQualityUpdated(Payload):
    """``phone_number_quality_update``: flagged/unflagged, messaging limit tier changes."""

    waba_id: str
    display_phone_number: str | None = None
    event: str
    current_limit: str | None = None


class AccountUpdated(Payload):
    """``account_update``: bans, restrictions, verification and other account events."""

    waba_id: str
    event: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="Meta's value, whole")


class ErrorsReported(Payload):
    """Value-level ``errors[]`` not tied to one message (e.g. 130429 for the whole number)."""

    waba_id: str
    phone_number_id: str | None = None
    errors: list[MetaError]


class FieldReceived(Payload):
    """Any other subscribed webhook field, passed on raw with its field name for consumers that care."""

    waba_id: str
    field: str
    value: dict[str, Any] | list[Any] | str | int | float | bool | None = None
