"""Two tenants, from the outside: no route lets tenant B read or change tenant A's data, even with its ids.

A's ids answer exactly like made-up ids (404 with the same code), so B cannot even learn they exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from parley.devstack.stack import Platform
from tests.support import meta
from tests.support.platform import demo_env, eventually, login

pytestmark = pytest.mark.e2e


def _sign_up(gateway: str) -> dict[str, str]:
    response = httpx.post(f"{gateway}/v1/auth/signup", json={
        "tenant_name": "Tenant B", "email": f"b-{uuid.uuid4().hex[:10]}@example.com", "password": "b-password-1"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _tenant_a_data(platform: Platform, auth: dict[str, str]) -> dict[str, Any]:
    """A conversation, an inbound hook, an API key, an invitation and the owner of tenant A (the demo)."""
    gateway, env = platform.url("gateway"), demo_env(platform)
    customer = f"55319{uuid.uuid4().int % 10**8:08d}"
    body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], customer, "private to A"))
    stored = httpx.post(f"{platform.url('ingest')}/webhooks/whatsapp", content=body,
                        headers=meta.signed_headers(body, env["INGEST_APP_SECRETS"]))
    assert stored.status_code == 200, stored.text

    def conversation() -> dict[str, Any] | None:
        listed = httpx.get(f"{gateway}/v1/conversations", headers=auth, params={"limit": 200}).json()["data"]
        return next((c for c in listed if c["contact"]["wa_id"] == customer), None)

    hook = httpx.post(f"{gateway}/v1/hooks", headers=auth, json={
        "name": f"a-{uuid.uuid4().hex[:8]}", "event": "lead.created", "signature": {"scheme": "hmac-sha256"}})
    key = httpx.post(f"{gateway}/v1/api-keys", headers=auth, json={"name": "a-key", "scopes": ["*"]})
    owner = next(u for u in httpx.get(f"{gateway}/v1/users", headers=auth).json()["data"] if u["role"] == "owner")
    assert hook.status_code == 201 and key.status_code == 201, (hook.text, key.text)
    return {"conversation": eventually(conversation, "tenant A's conversation")["id"], "hook": hook.json()["id"],
            "api_key": key.json()["id"], "user": owner["id"], "phone_number_id": env["PARLEY_DEMO_PHONE_NUMBER_ID"]}


def _attempts(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/v1/conversations/{ids['conversation']}/messages", None),
        ("GET", f"/v1/hooks/{ids['hook']}", None),
        ("PATCH", f"/v1/hooks/{ids['hook']}", {"active": False}),
        ("POST", f"/v1/hooks/{ids['hook']}/rotate-secret", {}),
        ("DELETE", f"/v1/hooks/{ids['hook']}", None),
        ("GET", f"/v1/users/{ids['user']}", None),
        ("PATCH", f"/v1/users/{ids['user']}", {"role": "agent"}),
        ("DELETE", f"/v1/users/{ids['user']}", None),
        ("DELETE", f"/v1/api-keys/{ids['api_key']}", None),
    ]


def test_tenant_b_cannot_read_or_change_tenant_a_data_even_with_its_ids(running_platform: Platform) -> None:
    gateway = running_platform.url("gateway")
    a_auth = login(running_platform)
    a_ids = _tenant_a_data(running_platform, a_auth)
    b_auth = _sign_up(gateway)
    guessed = {name: str(uuid.uuid4()) for name in a_ids}

    with httpx.Client(base_url=gateway, timeout=15) as client:
        for (method, path, body), (_, guessed_path, _) in zip(_attempts(a_ids), _attempts(guessed), strict=True):
            real = client.request(method, path, json=body, headers=b_auth)
            made_up = client.request(method, guessed_path, json=body, headers=b_auth)
            assert real.status_code == 404, (method, path, real.text)
            assert real.json()["error"]["code"] == made_up.json()["error"]["code"], (method, path)

        b_lists = {path: client.get(path, headers=b_auth).json()["data"]
                   for path in ("/v1/conversations", "/v1/hooks", "/v1/users", "/v1/channels")}
        b_keys = client.get("/v1/api-keys", headers=b_auth).json()
        # A's things are all still there, unchanged.
        assert client.get(f"/v1/hooks/{a_ids['hook']}", headers=a_auth).json()["active"] is True
        assert client.get(f"/v1/users/{a_ids['user']}", headers=a_auth).json()["role"] == "owner"
        assert a_ids["api_key"] in {k["id"] for k in client.get("/v1/api-keys", headers=a_auth).json()}

    assert b_lists["/v1/conversations"] == [] and b_lists["/v1/hooks"] == [] and b_lists["/v1/channels"] == []
    assert len(b_lists["/v1/users"]) == 1 and b_keys == []
