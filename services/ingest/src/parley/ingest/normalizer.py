"""Meta's notification JSON → typed messages and statuses. Pure functions, no I/O.

Every ``entry × change × messages / statuses`` is visited; anything Parley cannot read raises
``Unreadable`` so the caller quarantines the webhook instead of guessing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from parley.contracts.events import accounts
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


@dataclass(frozen=True)
class AccountNotice:
    """A notification about the business account rather than one message; routed by WABA id."""

    waba_id: str
    payload: accounts.TemplateStatusUpdated | accounts.TemplateQualityUpdated | accounts.PhoneNumberQualityUpdated \
        | accounts.AccountUpdated | accounts.ErrorsReported | accounts.FieldReceived
    key: str


Item = Inbound | Status | AccountNotice


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


def _message(value: dict[str, Any], raw: dict[str, Any], webhook_id: Any, waba_id: str) -> MessageReceived:
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
        "waba_id": waba_id,
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


def normalize(payload: Any, webhook_id: Any = None) -> list[Item]:
    """Every message, status and account notice in a WhatsApp Business Account notification, in payload order."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise Unreadable("not a whatsapp_business_account notification")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise Unreadable("notification without an entry list")
    items: list[Item] = []
    for entry in entries:
        waba_id = str(entry.get("id") or "")
        for change in entry.get("changes") or []:
            field, value = change.get("field"), change.get("value")
            if not isinstance(value, dict) and field == "messages":
                raise Unreadable("messages change without a value object")
            if field == "messages":
                items.extend(_messages_change(waba_id, value, webhook_id))
            else:
                key = _content_key(waba_id, field, value, entry.get("time"))
                items.append(_account_notice(waba_id, str(field), value, key))
    return items


def _messages_change(waba_id: str, value: dict[str, Any], webhook_id: Any) -> list[Item]:
    number = (value.get("metadata") or {}).get("phone_number_id")
    if not number:
        raise Unreadable("change without metadata.phone_number_id")
    items: list[Item] = []
    for raw in value.get("messages") or []:
        items.append(Inbound(number, _message(value, raw, webhook_id, waba_id)))
    items.extend(Status(number, _status(value, raw)) for raw in value.get("statuses") or [])
    if value.get("errors"):
        errors = accounts.ErrorsReported(waba_id=waba_id, phone_number_id=number,
                                         errors=[_error(e) for e in value["errors"]])
        items.append(AccountNotice(waba_id, errors, _content_key(waba_id, number, value["errors"], None)))
    return items


def _account_notice(waba_id: str, field: str, value: Any, key: str) -> AccountNotice:
    """Typed events for the account fields Parley acts on; any other field passes on raw with its name."""
    data = value if isinstance(value, dict) else {}
    try:
        payload: Any
        if field == "message_template_status_update":
            payload = accounts.TemplateStatusUpdated(
                waba_id=waba_id, template_id=_str(data.get("message_template_id")),
                template_name=data.get("message_template_name"), language=data.get("message_template_language"),
                event=data["event"], reason=data.get("reason"))
        elif field == "message_template_quality_update":
            payload = accounts.TemplateQualityUpdated(
                waba_id=waba_id, template_id=_str(data.get("message_template_id")),
                template_name=data.get("message_template_name"), language=data.get("message_template_language"),
                previous_quality_score=data.get("previous_quality_score"),
                new_quality_score=data["new_quality_score"])
        elif field == "phone_number_quality_update":
            payload = accounts.PhoneNumberQualityUpdated(
                waba_id=waba_id, display_phone_number=data.get("display_phone_number"), event=data["event"],
                current_limit=data.get("current_limit"))
        elif field == "account_update":
            payload = accounts.AccountUpdated(waba_id=waba_id, event=data.get("event"), details=data)
        else:
            payload = accounts.FieldReceived(waba_id=waba_id, field=field, value=value)
    except (KeyError, ValidationError) as exc:
        raise Unreadable(f"{field} notification: {exc}") from exc
    return AccountNotice(waba_id, payload, key)


def _content_key(*parts: Any) -> str:
    """Account notices carry no id: the same content (and entry time) from a duplicate delivery is the same notice."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


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
