"""``Idempotency-Key`` on the gateway's own creating POSTs: API keys, invitations, sign-up, accepting an invitation."""

from __future__ import annotations

import uuid

import httpx
from redis.asyncio import Redis

from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import assert_error, decode_claims, sign_up


async def test_a_retried_api_key_creation_returns_the_first_key_and_creates_one(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    headers = {**owner.headers, "idempotency-key": str(uuid.uuid4())}
    body = {"name": "crm-sync", "scopes": ["conversations:read"]}

    first = await http.post("/v1/api-keys", json=body, headers=headers)
    retry = await http.post("/v1/api-keys", json=body, headers=headers)
    other_body = await http.post("/v1/api-keys", json={**body, "name": "another"}, headers=headers)

    assert first.status_code == 201, first.text
    assert retry.status_code == 201 and retry.json() == first.json(), "the same key, secret shown again to its owner"
    assert retry.headers["idempotent-replayed"] == "true"
    assert_error(other_body, 422, "idempotency_key_reused")
    listed = (await http.get("/v1/api-keys", headers=owner.headers)).json()
    assert [k["id"] for k in listed] == [first.json()["id"]], "created once"
    works = await http.get("/v1/conversations", headers={"authorization": f"Bearer {first.json()['key']}"})
    assert works.status_code == 200, works.text


async def test_kept_answers_are_sealed_in_valkey(http: httpx.AsyncClient, gateway: Service) -> None:
    owner = await sign_up(http)
    key = f"sealed-{uuid.uuid4()}"
    created = await http.post("/v1/api-keys", json={"name": "x", "scopes": ["*"]},
                              headers={**owner.headers, "idempotency-key": key})
    assert created.status_code == 201, created.text

    redis: Redis = gateway.definition.extra_state["gateway"].redis  # type: ignore[attr-defined]
    kept = [await redis.get(name) async for name in redis.scan_iter("parley:gateway:idempotency:*", count=1000)]
    assert kept, "the answer is kept"
    assert not any(created.json()["key"].encode() in value or key.encode() in value for value in kept if value)


async def test_idempotency_keys_of_account_posts_are_per_caller(http: httpx.AsyncClient) -> None:
    one, two = await sign_up(http), await sign_up(http)
    key, body = str(uuid.uuid4()), {"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "role": "agent"}

    first = await http.post("/v1/invitations", json=body, headers={**one.headers, "idempotency-key": key})
    again = await http.post("/v1/invitations", json=body, headers={**one.headers, "idempotency-key": key})
    second = await http.post("/v1/invitations", json=body, headers={**two.headers, "idempotency-key": key})

    assert first.status_code == again.status_code == second.status_code == 201, second.text
    assert again.json() == first.json() and second.json()["id"] != first.json()["id"]


async def test_a_retried_sign_up_returns_the_first_tenant(http: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"tenant_name": "Acme", "email": f"o-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-long-enough-1"}

    first = await http.post("/v1/auth/signup", json=body, headers={"idempotency-key": key})
    retry = await http.post("/v1/auth/signup", json=body, headers={"idempotency-key": key})
    without_key = await http.post("/v1/auth/signup", json=body)

    assert first.status_code == 201, first.text
    assert retry.status_code == 201 and retry.json() == first.json()
    assert decode_claims(retry.json()["access_token"])["tid"] == decode_claims(first.json()["access_token"])["tid"]
    assert_error(without_key, 409, "email_taken")  # the first sign-up happened, once


async def test_anonymous_keys_are_per_body(http: httpx.AsyncClient) -> None:
    """Sign-up has no caller to scope the key to: a key reused with another body is another request."""
    key = str(uuid.uuid4())
    bodies = [{"tenant_name": name, "email": f"o-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-long-enough-1"}
              for name in ("One", "Two")]

    answers = [await http.post("/v1/auth/signup", json=body, headers={"idempotency-key": key}) for body in bodies]

    assert [a.status_code for a in answers] == [201, 201]
    assert len({decode_claims(a.json()["access_token"])["tid"] for a in answers}) == 2


async def test_a_retried_invitation_acceptance_returns_the_first_session(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    invited = await http.post("/v1/invitations", headers=owner.headers,
                              json={"email": f"a-{uuid.uuid4().hex[:8]}@example.com", "role": "agent"})
    body = {"token": invited.json()["token"], "password": "pw-long-enough-2"}
    headers = {"idempotency-key": str(uuid.uuid4())}

    first = await http.post("/v1/auth/accept-invitation", json=body, headers=headers)
    retry = await http.post("/v1/auth/accept-invitation", json=body, headers=headers)
    bad_key = await http.post("/v1/auth/accept-invitation", json=body, headers={"idempotency-key": "k" * 300})

    assert first.status_code == 201, first.text
    assert retry.status_code == 201 and retry.json() == first.json()
    assert_error(bad_key, 400, "invalid_idempotency_key")
    users = (await http.get("/v1/users", headers=owner.headers)).json()["data"]
    assert len(users) == 2, "the invitee joined once"
