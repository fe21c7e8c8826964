"""Logging out, removing a user and suspending a tenant take effect at once, everywhere: in the services that
verify tokens themselves (not only at the gateway) and on open realtime sockets of every gateway replica."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from parley.devstack.stack import Platform
from parley.gateway import service as gateway_service
from parley.gateway.access import API_KEY_ROLE
from parley.gateway.dependencies import FORWARDING_TOKEN_SECONDS
from parley.gateway.runtime import GatewayRuntime
from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import Account, assert_error, sign_up
from tests.integration.gateway.realtime_harness import (
    Reader,
    Replica,
    close_reason,
    socket,
    start_replica,
    stop_replica,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replicas(platform: Platform) -> Iterator[tuple[Replica, Replica]]:
    first = start_replica(platform, "gateway-revocation-1")
    try:
        second = start_replica(platform, "gateway-revocation-2")
    except BaseException:
        stop_replica(first)
        raise
    yield first, second
    stop_replica(first)
    stop_replica(second)


@pytest.fixture
async def conversation(running_platform: Platform) -> Callable[[str], Awaitable[httpx.Response]]:
    """A GET straight to the conversation service (bypassing the gateway) with a bearer token."""
    url = running_platform.url("conversation")

    async def get(token: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            return await client.get("/v1/conversations", headers={"authorization": f"Bearer {token}"})

    return get


async def eventually_status(get: Callable[[], Awaitable[httpx.Response]], status: int,
                            within: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await get()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


def _runtime(gateway: Service) -> GatewayRuntime:
    runtime = gateway.definition.extra_state["gateway"]
    assert isinstance(runtime, GatewayRuntime)
    return runtime


async def _suspend(gateway: Service, tenant_id: uuid.UUID, status: str = "suspended") -> None:
    """What ``python -m parley.gateway suspend`` does."""
    async with gateway.db.unit_of_work(tenant_id=tenant_id) as session:
        await gateway_service.change_tenant_status(session, gateway.store, tenant_id, status)  # type: ignore[arg-type]
    await _runtime(gateway).tenant_status_changed(tenant_id, status)


async def test_after_logout_the_access_token_is_refused_by_the_conversation_service(
        http: httpx.AsyncClient, conversation: Callable[[str], Awaitable[httpx.Response]]) -> None:
    owner = await sign_up(http)
    assert (await conversation(owner.access_token)).status_code == 200

    logout = await http.post("/v1/auth/logout", json={}, headers=owner.headers)
    assert logout.status_code == 204, logout.text

    refused = await eventually_status(lambda: conversation(owner.access_token), 401)
    assert_error(refused, 401, "token_revoked")
    assert_error(await http.get("/v1/users", headers=owner.headers), 401, "token_revoked")
    refresh = await http.post("/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert refresh.status_code == 401, "logging out without the refresh token still ends the session"


async def test_logout_ends_only_that_session(http: httpx.AsyncClient,
                                             conversation: Callable[[str], Awaitable[httpx.Response]]) -> None:
    owner = await sign_up(http)
    other = await http.post("/v1/auth/login", json={"email": owner.credentials.email,
                                                     "password": owner.credentials.password})
    other_token = other.json()["access_token"]

    assert (await http.post("/v1/auth/logout", json={}, headers=owner.headers)).status_code == 204

    await eventually_status(lambda: conversation(owner.access_token), 401)
    assert (await conversation(other_token)).status_code == 200, "the other login session goes on"


async def test_a_reused_refresh_token_revokes_its_sessions_access_tokens_everywhere(
        http: httpx.AsyncClient, conversation: Callable[[str], Awaitable[httpx.Response]]) -> None:
    owner = await sign_up(http)
    rotated = (await http.post("/v1/auth/refresh", json={"refresh_token": owner.refresh_token})).json()
    assert (await conversation(rotated["access_token"])).status_code == 200

    reused = await http.post("/v1/auth/refresh", json={"refresh_token": owner.refresh_token})

    assert_error(reused, 401, "refresh_token_reused")
    assert_error(await eventually_status(lambda: conversation(rotated["access_token"]), 401), 401, "token_revoked")


async def test_a_removed_user_is_refused_by_the_services(
        http: httpx.AsyncClient, conversation: Callable[[str], Awaitable[httpx.Response]]) -> None:
    owner = await sign_up(http)
    invited = await http.post("/v1/invitations", headers=owner.headers,
                              json={"email": f"a-{uuid.uuid4().hex[:8]}@example.com", "role": "agent"})
    joined = await http.post("/v1/auth/accept-invitation",
                             json={"token": invited.json()["token"], "password": "pw-long-enough-3"})
    agent_token = joined.json()["access_token"]
    agent_id = next(u["id"] for u in (await http.get("/v1/users", headers=owner.headers)).json()["data"]
                    if u["role"] == "agent")
    assert (await conversation(agent_token)).status_code == 200

    assert (await http.delete(f"/v1/users/{agent_id}", headers=owner.headers)).status_code == 204

    assert_error(await eventually_status(lambda: conversation(agent_token), 401), 401, "token_revoked")
    assert (await conversation(owner.access_token)).status_code == 200


async def test_a_suspended_tenants_tokens_are_refused_by_the_services_until_reactivated(
        http: httpx.AsyncClient, gateway: Service, conversation: Callable[[str], Awaitable[httpx.Response]]) -> None:
    owner, bystander = await sign_up(http), await sign_up(http)
    assert (await conversation(owner.access_token)).status_code == 200

    await _suspend(gateway, owner.credentials.tenant_id)

    assert_error(await eventually_status(lambda: conversation(owner.access_token), 403), 403, "tenant_suspended")
    assert (await conversation(bystander.access_token)).status_code == 200

    await _suspend(gateway, owner.credentials.tenant_id, "active")
    assert (await eventually_status(lambda: conversation(owner.access_token), 200)).status_code == 200


async def _connected(replica: Replica, account: Account) -> Reader:
    ws = await socket(replica, account.access_token)
    reader = Reader(ws)
    await reader.connected()
    return reader


async def test_suspension_closes_the_tenants_open_sockets_on_every_replica(
        http: httpx.AsyncClient, gateway: Service, replicas: tuple[Replica, Replica]) -> None:
    owner, bystander = await sign_up(http), await sign_up(http)
    readers = [await _connected(replica, owner) for replica in replicas]
    others = [await _connected(replica, bystander) for replica in replicas]
    try:
        await _suspend(gateway, owner.credentials.tenant_id)

        for reader in readers:
            code, reason = await close_reason(reader.ws, within=30)
            assert code == 4403 and reason.startswith("tenant_suspended"), (code, reason)
        async with socket(replicas[0], owner.access_token) as ws:
            code, reason = await close_reason(ws)
        assert code == 4403 and reason.startswith("tenant_suspended"), "a new socket is refused too"
        assert all(reader.ws.close_code is None for reader in others), "another tenant's sockets stay open"
    finally:
        for reader in readers + others:
            await reader.ws.close()


async def test_logout_closes_that_sessions_open_sockets(http: httpx.AsyncClient,
                                                         replicas: tuple[Replica, Replica]) -> None:
    owner = await sign_up(http)
    second = await http.post("/v1/auth/login", json={"email": owner.credentials.email,
                                                      "password": owner.credentials.password})
    other_session = Account(owner.credentials, second.json()["access_token"], second.json()["refresh_token"])
    logged_out = [await _connected(replica, owner) for replica in replicas]
    staying = await _connected(replicas[1], other_session)
    try:
        assert (await http.post("/v1/auth/logout", json={}, headers=owner.headers)).status_code == 204

        for reader in logged_out:
            code, reason = await close_reason(reader.ws, within=30)
            assert code == 4401 and reason.startswith("token_revoked"), (code, reason)
        assert staying.ws.close_code is None, "the user's other session keeps its socket"
    finally:
        for reader in logged_out + [staying]:
            await reader.ws.close()


async def test_a_revoked_api_keys_forwarded_tokens_are_refused_by_the_services(
        http: httpx.AsyncClient, gateway: Service,
        conversation: Callable[[str], Awaitable[httpx.Response]]) -> None:
    owner = await sign_up(http)
    created = await http.post("/v1/api-keys", json={"name": "zapier", "scopes": ["conversations:read"]},
                              headers=owner.headers)
    key_id = uuid.UUID(created.json()["id"])
    # What the gateway mints to forward one of the key's requests (FORWARDING_TOKEN_SECONDS long).
    forwarded = _runtime(gateway).issuer.issue(user_id=key_id, tenant_id=owner.credentials.tenant_id,
                                               role=API_KEY_ROLE, ttl_seconds=FORWARDING_TOKEN_SECONDS,
                                               extra={"akid": str(key_id)})
    assert (await conversation(forwarded)).status_code == 200

    assert (await http.delete(f"/v1/api-keys/{key_id}", headers=owner.headers)).status_code == 204

    assert_error(await eventually_status(lambda: conversation(forwarded), 401), 401, "token_revoked")
    assert (await conversation(owner.access_token)).status_code == 200, "the tenant's other credentials go on"
