"""Meta's notification JSON → typed messages and statuses. Pure functions, no I/O.

Every ``entry × change × messages / statuses`` is visited; anything Parley cannot read raises
``Unreadable`` so the caller quarantines the webhook instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from parley.contracts.events.messages import MessageReceived, MessageStatus

MEDIA_TYPES = {"image", "video", "audio", "document", "sticker"}


class Unreadable(ValueError):
    """The payload is authentic but not something this normalizer understands."""


@dataclass(frozen=True)
class Inbound:
    phone_number_id: str
    message: MessageReceived


@dataclass(frozen=True)
class Status:
    phone_number_id: str
    status: MessageStatus


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError) as exc:
        raise Unreadable(f"bad timestamp {value!r}") from exc


def _interactive(raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw.get("type", "")
    reply = raw.get(kind) or {}
    return {"type": kind, "reply_id": reply.get("id"), "title": reply.get("title"),
            "description": reply.get("description"), "response_json": reply.get("response_json"),
            "flow_name": reply.get("name"), "body": reply.get("body")}


def _content(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The typed part of a message, keyed as MessageReceived expects."""
    if kind in MEDIA_TYPES:
        return {"media": raw.get(kind) or {}}
    if kind == "interactive":
        return {"interactive": _interactive(raw.get("interactive") or {})}
    if kind == "reaction":
        reaction = dict(raw.get("reaction") or {})
        reaction["emoji"] = reaction.get("emoji") or None
        return {"reaction": reaction}
    if kind in {"text", "location", "contacts", "button", "order", "system"}:
        return {kind: raw.get(kind)}
    return {}


def _message(value: dict[str, Any], raw: dict[str, Any], webhook_id: Any) -> MessageReceived:
    metadata = value.get("metadata") or {}
    sender = raw.get("from")
    contacts = value.get("contacts") or []
    contact = next((c for c in contacts if c.get("wa_id") == sender), contacts[0] if contacts else {})
    fields = {
        "wamid": raw.get("id"),
        "phone_number_id": metadata.get("phone_number_id"),
        "display_phone_number": metadata.get("display_phone_number"),
        "wa_id": contact.get("wa_id") or sender,
        "from": sender,
        "profile_name": (contact.get("profile") or {}).get("name"),
        "timestamp": _timestamp(raw.get("timestamp")),
        "type": raw.get("type"),
        "context": raw.get("context"),
        "referral": raw.get("referral"),
        "errors": [_error(e) for e in raw.get("errors") or []],
        "webhook_id": webhook_id,
        **_content(raw.get("type", ""), raw),
    }
    try:
        return MessageReceived.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise Unreadable(f"message {raw.get('id')!r}: {exc.errors(include_url=False)}") from exc


def _error(raw: dict[str, Any]) -> dict[str, Any]:
    return {"code": raw.get("code", 0), "title": raw.get("title"), "message": raw.get("message"),
            "details": (raw.get("error_data") or {}).get("details")}


def _status(value: dict[str, Any], raw: dict[str, Any]) -> MessageStatus:
    metadata = value.get("metadata") or {}
    fields = {
        "status": raw.get("status"), "wamid": raw.get("id"), "phone_number_id": metadata.get("phone_number_id"),
        "recipient_id": raw.get("recipient_id"), "timestamp": _timestamp(raw.get("timestamp")), "origin": "meta",
        "errors": [_error(e) for e in raw.get("errors") or []], "conversation": raw.get("conversation"),
        "pricing": raw.get("pricing"), "biz_opaque_callback_data": raw.get("biz_opaque_callback_data"),
    }
    try:
        return MessageStatus.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise Unreadable(f"status {raw.get('id')!r}: {exc.errors(include_url=False)}") from exc


def normalize(payload: Any, webhook_id: Any = None) -> list[Inbound | Status]:
    """Every message and status in a WhatsApp Business Account notification, in payload order."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise Unreadable("not a whatsapp_business_account notification")
    items: list[Inbound | Status] = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            if change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            number = (value.get("metadata") or {}).get("phone_number_id")
            if not number:
                raise Unreadable("change without metadata.phone_number_id")
            for raw in value.get("messages") or []:
                message = _message(value, raw, webhook_id)
                items.append(Inbound(number, message.model_copy(update={"waba_id": entry.get("id")})))
            items.extend(Status(number, _status(value, raw)) for raw in value.get("statuses") or [])
    return items


def phone_number_ids(payload: Any) -> list[str]:
    """The business numbers a notification is about (for routing and the event's partition key)."""
    if not isinstance(payload, dict):
        return []
    numbers = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            number = ((change.get("value") or {}).get("metadata") or {}).get("phone_number_id")
            if number and number not in numbers:
                numbers.append(number)
    return numbers
