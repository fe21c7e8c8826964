"""Per-tenant API keys: shown once, stored hashed, narrowed by scopes, rate-limited per key, revocable."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import text

from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import Account, assert_error, sign_up


async def new_key(http: httpx.AsyncClient, owner: Account, scopes: list[str], **extra: object) -> dict[str, object]:
    response = await http.post("/v1/api-keys", json={"name": "crm-sync", "scopes": scopes, **extra},
                               headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_key_is_shown_once_and_stored_only_as_its_hash(http: httpx.AsyncClient, gateway: Service) -> None:
    owner = await sign_up(http)
    created = await new_key(http, owner, ["conversations:read"])
    secret = str(created["key"])

    listed = (await http.get("/v1/api-keys", headers=owner.headers)).json()
    async with gateway.db.unit_of_work(tenant_id=owner.credentials.tenant_id) as session:
        stored = (await session.execute(text("SELECT key_hash FROM api_keys WHERE id = :id"),
                                        {"id": created["id"]})).scalar_one()

    assert secret.startswith("pk_") and secret not in str(listed)
    assert [k["id"] for k in listed] == [created["id"]] and listed[0]["prefix"] == secret[:10]
    assert stored == hashlib.sha256(secret.encode()).hexdigest()


async def test_scopes_limit_what_a_key_reaches(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    key = {"authorization": f"Bearer {(await new_key(http, owner, ['conversations:read']))['key']}"}

    allowed = await http.get("/v1/conversations", headers=key)
    not_scoped = await http.get("/v1/channels", headers=key)
    not_writable = await http.post("/v1/conversations", json={}, headers=key)
    account_api = await http.get("/v1/users", headers=key)

    assert allowed.status_code == 200, allowed.text
    assert assert_error(not_scoped, 403, "insufficient_scope")["details"] == {"required_scope": "channels:read"}
    assert_error(not_writable, 403, "insufficient_scope")
    assert_error(account_api, 403, "user_session_required")


async def test_unknown_scopes_are_422(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)

    response = await http.post("/v1/api-keys", json={"name": "x", "scopes": ["everything:please"]},
                               headers=owner.headers)

    assert_error(response, 422, "invalid_scopes")


async def test_a_revoked_or_made_up_key_is_401(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    created = await new_key(http, owner, ["*"])
    key = {"authorization": f"Bearer {created['key']}"}
    assert (await http.get("/v1/conversations", headers=key)).status_code == 200

    revoked = await http.delete(f"/v1/api-keys/{created['id']}", headers=owner.headers)

    assert revoked.status_code == 204
    assert_error(await http.get("/v1/conversations", headers=key), 401, "invalid_api_key")
    made_up = {"authorization": "Bearer pk_not-a-key-anyone-issued"}
    assert_error(await http.get("/v1/conversations", headers=made_up), 401, "invalid_api_key")


async def test_a_key_over_its_rate_gets_429_with_retry_after(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    key = {"authorization": f"Bearer {(await new_key(http, owner, ['*'], rate_per_minute=1))['key']}"}

    first = await http.get("/v1/conversations", headers=key)
    second = await http.get("/v1/conversations", headers=key)

    assert first.status_code == 200
    error = assert_error(second, 429, "rate_limited")
    assert error["details"]["limit"] == "API key"  # type: ignore[index]
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert (await http.get("/v1/conversations", headers=owner.headers)).status_code == 200  # the tenant is fine
