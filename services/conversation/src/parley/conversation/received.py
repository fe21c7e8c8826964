"""How a received message is kept: its number as E.164, its one-line preview, its content and media metadata."""

from __future__ import annotations

from typing import Any

import phonenumbers

from parley.contracts.events.messages import MessageReceived


def e164(wa_id: str) -> str | None:
    """``wa_id`` as E.164 when it is a possible phone number (WhatsApp ids are digits with the country code)."""
    try:
        number = phonenumbers.parse("+" + wa_id.lstrip("+"))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def preview(message: MessageReceived) -> str:
    """One line for inbox lists and notifications."""
    if message.text:
        return message.text.body[:512]
    if message.media and message.media.caption:
        return f"[{message.type}] {message.media.caption}"[:512]
    if message.interactive and message.interactive.title:
        return message.interactive.title[:512]
    if message.button and message.button.text:
        return message.button.text[:512]
    if message.system and message.system.body:
        return message.system.body[:512]
    return f"[{message.type}]"


def content(message: MessageReceived) -> dict[str, Any]:
    typed = message.model_dump(mode="json", exclude_none=True, include={
        "text", "media", "location", "contacts", "interactive", "button", "order", "system", "context", "referral",
        "errors"})
    return {k: v for k, v in typed.items() if v not in ([], None)}


def media_of(message: MessageReceived) -> dict[str, Any] | None:
    """Media id and metadata stay readable (no caption): enough to fetch the file from Meta later."""
    if message.media is None:
        return None
    return message.media.model_dump(mode="json", exclude_none=True, exclude={"caption"})
