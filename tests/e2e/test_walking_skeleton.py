"""A signed Meta webhook travels ingest → Kafka → conversation and is readable through the gateway.

Everything here goes through the running platform's public HTTP endpoints only.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from tests.support import meta
from tests.support.platform import demo_env, eventually, login

pytestmark = pytest.mark.e2e


def _conversation_of(platform: Platform, auth: dict[str, str], wa_id: str) -> dict[str, Any] | None:
    response = httpx.get(f"{platform.url('gateway')}/v1/conversations", headers=auth, params={"limit": 200})
    assert response.status_code == 200, response.text
    return next((c for c in response.json()["data"] if c["contact"]["wa_id"] == wa_id), None)


def _post_webhook(platform: Platform, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{platform.url('ingest')}/webhooks/whatsapp", content=body, headers=headers)


def test_signed_text_message_is_readable_through_the_gateway(running_platform: Platform) -> None:
    env = demo_env(running_platform)
    customer = f"55119{uuid.uuid4().int % 10**8:08d}"
    sent_at = int(time.time()) - 120
    body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], customer,
                                              "Olá! Does it come in another color? 🎨", timestamp=sent_at,
                                              name="Ana Souza"))

    stored = _post_webhook(running_platform, body, meta.signed_headers(body, env["INGEST_APP_SECRETS"]))
    assert stored.status_code == 200, stored.text

    auth = login(running_platform)
    conversation = eventually(lambda: _conversation_of(running_platform, auth, customer), "the conversation")
    assert conversation["contact"]["profile_name"] == "Ana Souza"
    assert conversation["status"] == "open"
    assert conversation["last_message_preview"] == "Olá! Does it come in another color? 🎨"

    messages = httpx.get(f"{running_platform.url('gateway')}/v1/conversations/{conversation['id']}/messages",
                         headers=auth)
    assert messages.status_code == 200, messages.text
    [message] = messages.json()["data"]
    assert message["direction"] == "inbound"
    assert message["text"] == "Olá! Does it come in another color? 🎨"
    assert message["content"]["text"]["body"] == "Olá! Does it come in another color? 🎨"
    # WhatsApp's time, not the time Parley processed it.
    assert message["sent_at"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent_at)))


def test_a_duplicate_delivery_from_meta_shows_once(running_platform: Platform) -> None:
    env = demo_env(running_platform)
    customer = f"55219{uuid.uuid4().int % 10**8:08d}"
    body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], customer, "only once"))
    headers = meta.signed_headers(body, env["INGEST_APP_SECRETS"])
    for _ in range(3):
        assert _post_webhook(running_platform, body, headers).status_code == 200

    second = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], customer, "and then this"))
    second_headers = meta.signed_headers(second, env["INGEST_APP_SECRETS"])
    assert _post_webhook(running_platform, second, second_headers).status_code == 200

    auth = login(running_platform)

    def both_messages() -> list[dict[str, Any]] | None:
        conversation = _conversation_of(running_platform, auth, customer)
        if conversation is None:
            return None
        data = httpx.get(f"{running_platform.url('gateway')}/v1/conversations/{conversation['id']}/messages",
                         headers=auth).json()["data"]
        return data if len(data) >= 2 else None

    messages = eventually(both_messages, "both messages")
    assert [m["text"] for m in messages] == ["only once", "and then this"]


def test_unsigned_and_forged_webhooks_are_refused(running_platform: Platform) -> None:
    env = demo_env(running_platform)
    body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], "5511900000000", "forged"))
    missing = _post_webhook(running_platform, body, {"Content-Type": "application/json"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "signature_missing"
    forged = _post_webhook(running_platform, body, meta.signed_headers(body, "not-the-app-secret"))
    assert forged.status_code == 403
    assert forged.json() == {"success": False, "error": {"code": "signature_invalid",
                                                         "message": "the signature does not match the body",
                                                         "details": None}}


def test_verification_handshake(running_platform: Platform) -> None:
    env = demo_env(running_platform)
    url = f"{running_platform.url('ingest')}/webhooks/whatsapp"
    ok = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": env["INGEST_VERIFY_TOKEN"],
                                "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (200, "1158201444", "text/plain")
    wrong = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403


def test_gateway_readiness_covers_the_whole_stack(running_platform: Platform) -> None:
    ready = httpx.get(f"{running_platform.url('gateway')}/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert {"database", "kafka"} <= set(checks)
    assert {s.name for s in SERVICES if s.name != "gateway"} <= set(checks)
    assert all(value == "ok" for value in checks.values())
