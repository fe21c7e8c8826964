"""Simulated WhatsApp users: they message a business number (→ a signed webhook), block it, opt out."""

from __future__ import annotations

import os
from typing import Any

from parley.sandbox.errors import GraphError
from parley.sandbox.notifications import new_wamid, notification
from parley.sandbox.service import Sandbox
from parley.sandbox.settings import DEMO_PHONE_NUMBER_ID
from parley.sandbox.store import BusinessNumber, Customer
from parley.sandbox.validation import normalize_wa_id
from parley.sandbox.webhooks import Sender, WebhookEvent

MEDIA_DEFAULT_MIME = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg; codecs=opus",
                      "document": "application/pdf", "sticker": "image/webp"}
INTERACTIVE_REPLIES = {"button_reply": ("id", "title"), "list_reply": ("id", "title"),
                       "nfm_reply": ("response_json",)}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("body",), "location": ("latitude", "longitude"), "button": ("payload", "text"),
    "reaction": ("message_id",), "order": ("catalog_id", "product_items"),
}
INBOUND_TYPES = {"text", "image", "video", "audio", "document", "sticker", "location", "contacts", "interactive",
                 "button", "reaction", "order", "system", "unsupported"}


class SandboxError(Exception):
    """A refused admin/customer request, rendered in Parley's error shape."""

    def __init__(self, code: str, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status_code = code, message, status_code


def customer(sandbox: Sandbox, wa_id: str) -> Customer:
    try:
        return sandbox.store.customer(normalize_wa_id(wa_id))
    except GraphError:
        raise SandboxError("invalid_wa_id", f"{wa_id!r} is not a phone number") from None


def business_number(sandbox: Sandbox, phone_number_id: str | None) -> BusinessNumber:
    """The number named, else the demo number, else the only registered one."""
    numbers = sandbox.store.numbers
    if phone_number_id is None:
        if DEMO_PHONE_NUMBER_ID in numbers:
            return numbers[DEMO_PHONE_NUMBER_ID]
        if len(numbers) == 1:
            return next(iter(numbers.values()))
        raise SandboxError("phone_number_id_required", "say which business number: phone_number_id")
    if phone_number_id not in numbers:
        raise SandboxError("unknown_number", f"phone number {phone_number_id} is not registered", 404)
    return numbers[phone_number_id]


def send_inbound(sandbox: Sandbox, wa_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The customer sends a message of any type to a business number; returns its wamid and notification."""
    user = customer(sandbox, wa_id)
    if not user.on_whatsapp:
        raise SandboxError("not_on_whatsapp", f"{user.wa_id} is not on WhatsApp and cannot send messages", 409)
    number = business_number(sandbox, body.get("phone_number_id"))
    if body.get("profile_name"):
        user.profile_name = str(body["profile_name"])
    now = sandbox.clock.time()
    message = _message(sandbox, number, user, body, int(now))
    contacts = ({"profile": {"name": user.profile_name}, "wa_id": user.wa_id},)
    if message["type"] != "system":
        user.last_message_at[number.phone_number_id] = now
    sandbox.store.inbound[message["id"]] = {"phone_number_id": number.phone_number_id, "wa_id": user.wa_id,
                                            "type": message["type"], "message": message}
    sender = Sender(number.waba_id, number.phone_number_id, number.display_phone_number)
    sandbox.outbox.enqueue(WebhookEvent("message", sender, message, contacts))
    payload = notification(number.waba_id, number.phone_number_id, number.display_phone_number,
                           {"contacts": list(contacts), "messages": [message]})
    return {"wamid": message["id"], "notification": payload}


def _message(sandbox: Sandbox, number: BusinessNumber, user: Customer, body: dict[str, Any],
             timestamp: int) -> dict[str, Any]:
    kind = body.get("type", "text")
    if kind not in INBOUND_TYPES:
        raise SandboxError("invalid_type", f"type must be one of {sorted(INBOUND_TYPES)}")
    message: dict[str, Any] = {"from": user.wa_id, "id": new_wamid(user.wa_id), "timestamp": str(timestamp),
                               "type": kind}
    content = body.get(kind)
    if kind == "unsupported":
        message["errors"] = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                              "error_data": {"details": "Message type is currently not supported."}}]
        message["unsupported"] = content if isinstance(content, dict) else {"type": "unknown"}
    elif kind == "system":
        message["system"] = _system(user, content or {})
    elif kind == "contacts":
        if not isinstance(content, list) or not content:
            raise SandboxError("invalid_message", "contacts must be a non-empty list")
        message["contacts"] = content
    else:
        if not isinstance(content, dict):
            raise SandboxError("invalid_message", f"the {kind} object is required")
        message[kind] = _content(sandbox, number, kind, dict(content))
    context = body.get("context")
    if isinstance(context, dict):
        message["context"] = {"from": number.display_phone_number, **context}
    if isinstance(body.get("referral"), dict):
        message["referral"] = body["referral"]
    return message


def _content(sandbox: Sandbox, number: BusinessNumber, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    missing = [f for f in REQUIRED_FIELDS.get(kind, ()) if f not in content]
    if missing:
        raise SandboxError("invalid_message", f"{kind} needs {', '.join(missing)}")
    if kind in MEDIA_DEFAULT_MIME:
        return _media(sandbox, number, kind, content)
    if kind == "interactive":
        reply_type = content.get("type")
        needed = INTERACTIVE_REPLIES.get(reply_type)
        reply = content.get(reply_type) if needed else None
        if needed is None or not isinstance(reply, dict) or any(f not in reply for f in needed):
            raise SandboxError("invalid_message", "interactive needs type button_reply{id,title}, "
                                                  "list_reply{id,title} or nfm_reply{response_json}")
        if reply_type == "nfm_reply":
            reply.setdefault("body", "Sent")
            reply.setdefault("name", "flow")
    return content


def _media(sandbox: Sandbox, number: BusinessNumber, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """Media the customer sends: an uploaded id, or fresh placeholder bytes the business can download."""
    media_id = content.get("id")
    media = sandbox.store.media.get(str(media_id)) if media_id else None
    if media is None:
        mime_type = content.get("mime_type", MEDIA_DEFAULT_MIME[kind])
        media = sandbox.add_media(number.phone_number_id, os.urandom(64), mime_type, content.get("filename"))
    content.update(id=media.id, mime_type=media.mime_type, sha256=media.sha256)
    if kind == "audio":
        content.setdefault("voice", False)
    if kind == "sticker":
        content.setdefault("animated", False)
    return content


def _system(user: Customer, content: dict[str, Any]) -> dict[str, Any]:
    new_wa_id = str(content.get("wa_id") or content.get("new_wa_id") or "")
    if not new_wa_id:
        raise SandboxError("invalid_message", "system needs wa_id (the customer's new number)")
    kind = content.get("type", "user_changed_number")
    body = content.get("body") or f"User {user.profile_name} changed from {user.wa_id} to {new_wa_id}"
    return {"body": body, "wa_id": new_wa_id, "type": kind}


def opt_out(sandbox: Sandbox, wa_id: str, phone_number_id: str | None, text: str = "STOP") -> dict[str, Any]:
    return send_inbound(sandbox, wa_id, {"phone_number_id": phone_number_id, "type": "text", "text": {"body": text}})


def set_blocked(sandbox: Sandbox, wa_id: str, phone_number_id: str | None, blocked: bool) -> Customer:
    """A blocked business's later messages fail with a 131026 status webhook."""
    user = customer(sandbox, wa_id)
    number = business_number(sandbox, phone_number_id)
    if blocked:
        user.blocked.add(number.phone_number_id)
    else:
        user.blocked.discard(number.phone_number_id)
    return user


def update(sandbox: Sandbox, wa_id: str, changes: dict[str, Any]) -> Customer:
    user = customer(sandbox, wa_id)
    for key in ("profile_name", "on_whatsapp", "reads_messages"):
        if key in changes:
            setattr(user, key, changes[key])
    return user


def describe(sandbox: Sandbox, user: Customer) -> dict[str, Any]:
    received = [r.describe() for r in sandbox.store.sends if r.recipient == user.wa_id]
    sent = [entry["message"] for entry in sandbox.store.inbound.values() if entry["wa_id"] == user.wa_id]
    return {**user.describe(sandbox.clock.time()), "received": received, "sent": sent}
