"""Meta-shaped webhook payloads and signatures, as the Cloud API sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any


def wamid() -> str:
    return "wamid.HBgL" + uuid.uuid4().hex.upper()


def text_notification(phone_number_id: str, wa_id: str, body: str, *, message_id: str | None = None,
                      timestamp: int | None = None, name: str = "Sheena Nelson",
                      display_phone_number: str = "15550100001", waba_id: str = "200000000000001") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": message_id or wamid(), "timestamp": str(timestamp or int(time.time())),
                          "type": "text", "text": {"body": body}}],
        }}]}],
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Meta's wire form: compact JSON with non-ASCII escaped."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, app_secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}


def notification(phone_number_id: str = "106540352242922", *, messages: list[dict[str, Any]] | None = None,
                 statuses: list[dict[str, Any]] | None = None, contacts: list[dict[str, Any]] | None = None,
                 errors: list[dict[str, Any]] | None = None, waba_id: str = "102290129340398") -> dict[str, Any]:
    """One ``messages`` change, shaped like Meta's."""
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id}}
    for name, items in (("contacts", contacts), ("messages", messages), ("statuses", statuses), ("errors", errors)):
        if items is not None:
            value[name] = items
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}]}


def account_notification(field: str, value: dict[str, Any], waba_id: str = "102290129340398",
                         time: int = 1763769600) -> dict[str, Any]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "time": time, "changes": [{"field": field, "value": value}]}]}


def inbound(kind: str, content: dict[str, Any] | None = None, *, sender: str = "16505551234",
            timestamp: int = 1749416383, **extra: Any) -> dict[str, Any]:
    message = {"from": sender, "id": wamid(), "timestamp": str(timestamp), "type": kind, **extra}
    if content is not None:
        message[kind] = content
    return message


def status(message_id: str, value: str, *, recipient: str = "16505551234", timestamp: int = 1749416400,
           **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "status": value, "timestamp": str(timestamp), "recipient_id": recipient, **extra}
