"""Webhook payloads in Meta's shape, their wire encoding and signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any


def new_wamid(wa_id: str) -> str:
    """A message id in Meta's style: ``wamid.`` + base64 of the user's number and random bytes."""
    raw = b"\x15\x02\x00\x11\x18" + wa_id.encode() + os.urandom(16)
    return "wamid.HBgL" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_numeric_id() -> str:
    """A Graph object id (media, conversation): 15-16 digits."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def status_item(wamid: str, status: str, timestamp: int, recipient_id: str, *,
                conversation: dict[str, Any] | None = None, pricing: dict[str, Any] | None = None,
                biz_opaque_callback_data: str | None = None,
                errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": recipient_id}
    if conversation is not None:
        item["conversation"] = conversation
    if pricing is not None:
        item["pricing"] = pricing
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if errors is not None:
        item["errors"] = errors
    return item


def pricing(category: str, *, free: bool) -> dict[str, Any]:
    """Per-message pricing (PMP): service replies and utility templates inside the window are free."""
    return {"billable": not free, "pricing_model": "PMP",
            "type": "free_customer_service" if free else "regular", "category": category}


def notification(waba_id: str, phone_number_id: str, display_phone_number: str,
                 value: dict[str, Any]) -> dict[str, Any]:
    """One webhook POST: ``entry[].changes[].value`` with ``metadata`` and the given lists."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
            **value,
        }}]}],
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Meta's wire form: compact JSON with non-ASCII escaped (what the signature covers)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for these exact bytes."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    return header is not None and hmac.compare_digest(header, sign(body, app_secret))
