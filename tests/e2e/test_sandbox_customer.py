"""The Cloud API sandbox stands in for Meta: a simulated customer's message reaches the inbox."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from tests.support.platform import eventually, login

pytestmark = pytest.mark.e2e


def test_a_simulated_customer_message_arrives_in_the_inbox(running_platform: Platform) -> None:
    env = running_platform.service_env(SERVICES[0])
    customer = f"55419{uuid.uuid4().int % 10**8:08d}"
    sent = httpx.post(f"{running_platform.sandbox_url()}/sandbox/customers/{customer}/messages", json={
        "phone_number_id": env["PARLEY_DEMO_PHONE_NUMBER_ID"], "type": "text", "profile_name": "Carla Dias",
        "text": {"body": "Vi o anúncio, ainda tem?"},
        "referral": {"source_url": "https://fb.me/ad1", "source_id": "120", "source_type": "ad", "ctwa_clid": "X"}})
    assert sent.status_code in (200, 201, 202), sent.text

    auth = login(running_platform)

    def listed() -> dict | None:
        conversations = httpx.get(f"{running_platform.url('gateway')}/v1/conversations", headers=auth,
                                  params={"limit": 200}).json()["data"]
        return next((c for c in conversations if c["contact"]["wa_id"] == customer), None)

    conversation = eventually(listed, "the sandbox's webhook to reach the inbox")
    assert conversation["contact"]["profile_name"] == "Carla Dias"
    [message] = httpx.get(f"{running_platform.url('gateway')}/v1/conversations/{conversation['id']}/messages",
                          headers=auth).json()["data"]
    assert message["text"] == "Vi o anúncio, ainda tem?"
    assert message["content"]["referral"]["source_url"] == "https://fb.me/ad1"


def test_an_image_a_customer_sent_is_downloaded_through_the_gateway(running_platform: Platform) -> None:
    """The timeline keeps the media id; the bytes come from Meta (the sandbox) through the sender, never stored."""
    env = running_platform.service_env(SERVICES[0])
    number, customer = env["PARLEY_DEMO_PHONE_NUMBER_ID"], f"55419{uuid.uuid4().int % 10**8:08d}"
    sent = httpx.post(f"{running_platform.sandbox_url()}/sandbox/customers/{customer}/messages", json={
        "phone_number_id": number, "type": "image", "image": {"mime_type": "image/jpeg", "caption": "o comprovante"}})
    assert sent.status_code in (200, 201, 202), sent.text
    auth, gateway = login(running_platform), running_platform.url("gateway")

    def listed() -> dict | None:
        conversations = httpx.get(f"{gateway}/v1/conversations", headers=auth, params={"limit": 200}).json()["data"]
        return next((c for c in conversations if c["contact"]["wa_id"] == customer), None)

    conversation = eventually(listed, "the customer's image to reach the inbox")
    [message] = httpx.get(f"{gateway}/v1/conversations/{conversation['id']}/messages", headers=auth).json()["data"]
    media = message["media"]
    assert message["type"] == "image" and media["mime_type"] == "image/jpeg"

    downloaded = httpx.get(f"{gateway}/v1/channels/{number}/media/{media['id']}", headers=auth)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"] == "image/jpeg"
    meta = {"Authorization": "Bearer dev-only-sandbox-token"}  # what Meta holds, asked directly
    url = httpx.get(f"{running_platform.sandbox_url()}/v23.0/{media['id']}", headers=meta).json()["url"]
    assert downloaded.content == httpx.get(url, headers=meta).content
    assert hashlib.sha256(downloaded.content).hexdigest() == media["sha256"]

    unknown = httpx.get(f"{gateway}/v1/channels/{number}/media/12345", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "media_not_found"
    assert httpx.get(f"{gateway}/v1/channels/{number}/media/{media['id']}").status_code == 401
