"""Invitations, the role matrix at the gateway, the plan's seat limit, users published to other services."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from aiokafka import AIOKafkaConsumer

from parley.contracts import Envelope
from parley.contracts.binding import from_record
from parley.devstack.stack import Platform
from tests.integration.gateway.gateway_harness import Account, assert_error, sign_up


async def join(http: httpx.AsyncClient, owner: Account, role: str) -> dict[str, str]:
    """Invite someone with ``role`` and accept for them; their auth headers."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    invited = await http.post("/v1/invitations", json={"email": email, "role": role}, headers=owner.headers)
    assert invited.status_code == 201, invited.text
    assert invited.json()["delivery"] == "token_returned"
    accepted = await http.post("/v1/auth/accept-invitation", json={"token": invited.json()["token"],
                                                                   "password": "a-good-password", "name": role})
    assert accepted.status_code == 201, accepted.text
    return {"authorization": f"Bearer {accepted.json()['access_token']}"}


async def test_an_invited_agent_joins_and_logs_in_with_their_password(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    email = f"ana-{uuid.uuid4().hex[:8]}@example.com"
    invited = await http.post("/v1/invitations", json={"email": email}, headers=owner.headers)
    token = invited.json()["token"]

    accepted = await http.post("/v1/auth/accept-invitation", json={"token": token, "password": "ana-password"})
    again = await http.post("/v1/auth/accept-invitation", json={"token": token, "password": "ana-password"})
    login = await http.post("/v1/auth/login", json={"email": email, "password": "ana-password"})

    assert accepted.status_code == 201 and login.status_code == 200
    assert_error(again, 404, "invitation_not_found")
    users = (await http.get("/v1/users", headers=owner.headers)).json()["data"]
    assert {(u["email"], u["role"]) for u in users} == {(owner.credentials.email, "owner"), (email, "agent")}


async def test_the_free_plan_seat_limit_names_the_limit(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)  # free: 2 seats, the owner holds one
    first = await http.post("/v1/invitations", json={"email": f"a-{uuid.uuid4().hex[:6]}@example.com"},
                            headers=owner.headers)
    second = await http.post("/v1/invitations", json={"email": f"b-{uuid.uuid4().hex[:6]}@example.com"},
                             headers=owner.headers)

    assert first.status_code == 201
    error = assert_error(second, 403, "plan_limit_reached")
    assert error["details"] == {"limit": "agents", "allowed": 2, "plan": "free"}
    assert "agents" in str(error["message"])


async def test_the_role_matrix_is_enforced_per_route(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    agent = await join(http, owner, "agent")

    assert (await http.get("/v1/conversations", headers=agent)).status_code == 200
    assert (await http.get("/v1/users", headers=agent)).status_code == 200
    for method, path in [("POST", "/v1/invitations"), ("POST", "/v1/channels"), ("GET", "/v1/hooks"),
                         ("POST", "/v1/hooks"), ("GET", "/v1/api-keys"), ("PATCH", f"/v1/users/{uuid.uuid4()}"),
                         ("POST", "/v1/teams"), ("GET", "/v1/exports")]:
        response = await http.request(method, path, json={}, headers=agent)
        error = assert_error(response, 403, "insufficient_role")
        assert error["details"]["role"] == "agent", (method, path)  # type: ignore[index]


async def test_nobody_grants_a_role_above_their_own_and_the_last_owner_stays(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    users = (await http.get("/v1/users", headers=owner.headers)).json()["data"]
    owner_id = users[0]["id"]

    demote = await http.patch(f"/v1/users/{owner_id}", json={"role": "agent"}, headers=owner.headers)
    remove = await http.delete(f"/v1/users/{owner_id}", headers=owner.headers)

    assert_error(demote, 409, "last_owner")
    assert_error(remove, 409, "last_owner")


async def test_a_removed_user_cannot_refresh_and_changes_are_published(
        http: httpx.AsyncClient, running_platform: Platform, topic_prefix: str) -> None:
    owner = await sign_up(http)
    email = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    invited = await http.post("/v1/invitations", json={"email": email, "role": "agent"}, headers=owner.headers)
    joined = (await http.post("/v1/auth/accept-invitation", json={"token": invited.json()["token"],
                                                                   "password": "a-good-password"})).json()
    user_id = next(u["id"] for u in (await http.get("/v1/users", headers=owner.headers)).json()["data"]
                   if u["email"] == email)

    promoted = await http.patch(f"/v1/users/{user_id}", json={"role": "manager"}, headers=owner.headers)
    removed = await http.delete(f"/v1/users/{user_id}", headers=owner.headers)

    assert promoted.status_code == 200 and promoted.json()["role"] == "manager"
    assert removed.status_code == 204
    assert_error(await http.get(f"/v1/users/{user_id}", headers=owner.headers), 404, "user_not_found")
    assert (await http.post("/v1/auth/refresh", json={"refresh_token": joined["refresh_token"]})).status_code == 401
    still_held = {"authorization": f"Bearer {joined['access_token']}"}
    assert_error(await http.get("/v1/conversations", headers=still_held), 401, "token_revoked")
    assert (await http.post("/v1/auth/login", json={"email": email, "password": "a-good-password"})
            ).status_code == 401
    types = [e.type for e in await events_of(running_platform, topic_prefix, owner.credentials.tenant_id, 4)]
    assert types == ["user.created", "user.created", "user.updated", "user.removed"]


async def events_of(platform: Platform, topic_prefix: str, tenant_id: uuid.UUID, count: int) -> list[Envelope]:
    consumer = AIOKafkaConsumer(f"{topic_prefix}user.changed", group_id=None, auto_offset_reset="earliest",
                                bootstrap_servers=platform.infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: list[Envelope] = []
    try:
        async with asyncio.timeout(30):
            while len([e for e in seen if e.tenantid == tenant_id]) < count:
                batches = await consumer.getmany(timeout_ms=500)
                seen += [from_record(m.value, m.headers) for ms in batches.values() for m in ms]
    finally:
        await consumer.stop()
    return [e for e in seen if e.tenantid == tenant_id]
