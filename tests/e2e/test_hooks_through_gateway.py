"""A tenant manages inbound hooks through the gateway; senders deliver to ingest's public hook URL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid

import httpx
import pytest

from parley.devstack.stack import Platform
from tests.support.kafka import collect
from tests.support.platform import login

pytestmark = pytest.mark.e2e


def test_hook_lifecycle_through_the_gateway(running_platform: Platform) -> None:
    gateway, ingest = running_platform.url("gateway"), running_platform.url("ingest")
    auth = login(running_platform)
    name = f"shop-{uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{gateway}/v1/hooks", headers=auth, json={
        "name": name, "event": "purchase.approved", "default_region": "BR",
        "signature": {"scheme": "hmac-sha256", "header": "X-Shop-Signature", "prefix": "sha256="},
        "mapping": {"phone": "data.buyer.phone", "variables": {"product": "data.product.name"}}})
    assert created.status_code == 201, created.text
    hook = created.json()
    secret, path = hook["secret"], hook["receive_path"]

    shown = httpx.get(f"{gateway}/v1/hooks/{hook['id']}", headers=auth)
    assert shown.status_code == 200 and "secret" not in shown.json()
    assert name in {h["name"] for h in httpx.get(f"{gateway}/v1/hooks", headers=auth).json()["data"]}
    invalid = httpx.post(f"{gateway}/v1/hooks", headers=auth, json={
        "name": f"{name}-bad", "event": "lead.created", "signature": {"scheme": "hmac-sha256"},
        "mapping": {"phone": "data..phone"}})
    assert invalid.status_code == 422 and invalid.json()["success"] is False
    assert httpx.get(f"{gateway}/v1/hooks", params={"limit": 1}).status_code == 401, "no token, no hooks"

    body = json.dumps({"data": {"buyer": {"phone": "(11) 98765-4321"}, "product": {"name": "Curso"}}}).encode()
    digest = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    delivered = httpx.post(f"{ingest}{path}", content=body,
                           headers={"Content-Type": "application/json", "X-Shop-Signature": digest})
    assert delivered.status_code == 200, delivered.text
    webhook_id = delivered.json()["webhook_id"]

    prefix = running_platform.environ["KAFKA_TOPIC_PREFIX"]
    records = asyncio.run(collect(running_platform.infra.kafka_bootstrap, f"{prefix}webhook.received",
                            lambda rs: any(r["data"].get("webhook_id") == webhook_id and "event" in r["data"]
                                           for r in rs)))
    [mapped] = [r["data"] for r in records if r["data"].get("webhook_id") == webhook_id and "event" in r["data"]]
    assert (mapped["event"], mapped["phone"], mapped["variables"]) == (
        "purchase.approved", "5511987654321", {"product": "Curso"})

    assert httpx.delete(f"{gateway}/v1/hooks/{hook['id']}", headers=auth).status_code == 204
    gone = httpx.post(f"{ingest}{path}", content=body,
                      headers={"Content-Type": "application/json", "X-Shop-Signature": digest})
    assert gone.status_code == 404
