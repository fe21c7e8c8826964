"""The Cloud API sandbox stands in for Meta: a simulated customer's message reaches the inbox."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform

pytestmark = pytest.mark.e2e


def test_a_simulated_customer_message_arrives_in_the_inbox(running_platform: Platform) -> None:
    env = running_platform.service_env(SERVICES[0])
    customer = f"55419{uuid.uuid4().int % 10**8:08d}"
    sent = httpx.post(f"{running_platform.sandbox_url()}/sandbox/customers/{customer}/messages", json={
        "phone_number_id": env["PARLEY_DEMO_PHONE_NUMBER_ID"], "type": "text", "profile_name": "Carla Dias",
        "text": {"body": "Vi o anúncio, ainda tem?"},
        "referral": {"source_url": "https://fb.me/ad1", "source_id": "120", "source_type": "ad", "ctwa_clid": "X"}})
    assert sent.status_code in (200, 201, 202), sent.text

    login = httpx.post(f"{running_platform.url('gateway')}/v1/auth/login", json={
        "email": env["PARLEY_DEMO_EMAIL"], "password": env["PARLEY_DEMO_PASSWORD"]})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 60
    conversation = None
    while conversation is None:
        assert time.monotonic() < deadline, "the sandbox's webhook never reached the inbox"
        listed = httpx.get(f"{running_platform.url('gateway')}/v1/conversations", headers=auth,
                           params={"limit": 200}).json()["data"]
        conversation = next((c for c in listed if c["contact"]["wa_id"] == customer), None)
        time.sleep(0.25)
    assert conversation["contact"]["profile_name"] == "Carla Dias"
    [message] = httpx.get(f"{running_platform.url('gateway')}/v1/conversations/{conversation['id']}/messages",
                          headers=auth).json()["data"]
    assert message["text"] == "Vi o anúncio, ainda tem?"
    assert message["content"]["referral"]["source_url"] == "https://fb.me/ad1"
