"""The whole reply loop on the running platform: a simulated customer writes, an agent answers from the inbox,
the sender sends it through the Cloud API sandbox, and the sandbox's status webhooks move the reply forward."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from tests.support.platform import eventually, login

pytestmark = pytest.mark.e2e


def test_an_agent_reply_is_sent_and_its_delivery_shows_in_the_timeline(running_platform: Platform) -> None:
    env = running_platform.service_env(SERVICES[0])
    customer = f"55519{uuid.uuid4().int % 10**8:08d}"
    sent = httpx.post(f"{running_platform.sandbox_url()}/sandbox/customers/{customer}/messages", json={
        "phone_number_id": env["PARLEY_DEMO_PHONE_NUMBER_ID"], "type": "text", "profile_name": "Davi Rocha",
        "text": {"body": "Do you deliver on Sundays?"}})
    assert sent.status_code in (200, 201, 202), sent.text
    auth = login(running_platform)
    inbox = running_platform.url("conversation")

    def conversation() -> dict[str, Any] | None:
        listed = httpx.get(f"{inbox}/v1/conversations", headers=auth, params={"q": customer}).json()["data"]
        return listed[0] if listed else None

    found = eventually(conversation, "the customer's conversation")
    assert found["window_open"] is True
    reply = httpx.post(f"{inbox}/v1/conversations/{found['id']}/messages", headers=auth,
                       json={"type": "text", "text": {"body": "Yes, from 9 to 13."}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "pending"

    def delivered() -> dict[str, Any] | None:
        messages = httpx.get(f"{inbox}/v1/conversations/{found['id']}/messages", headers=auth).json()["data"]
        mine = next(m for m in messages if m["id"] == reply.json()["id"])
        return mine if mine["status"] in ("delivered", "read") else None

    message = eventually(delivered, "the sandbox's delivery status on the reply", timeout=90)
    assert message["wamid"], "the wamid Meta gave the send is on the message"
    assert message["text"] == "Yes, from 9 to 13."
