"""The Cloud API sandbox stands in for Meta: a simulated customer's message reaches the inbox."""

from __future__ import annotations

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
