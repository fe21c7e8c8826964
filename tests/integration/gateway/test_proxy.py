"""Public API calls the gateway forwards to the conversation service."""

from __future__ import annotations

import secrets
import uuid

import httpx

from parley.devstack.stack import Platform
from tests.integration.gateway.gateway_harness import Credentials, ProxyRig, login


async def test_forwards_path_query_credentials_and_trace_context(proxy_rig: ProxyRig,
                                                                 demo: Credentials) -> None:
    async with httpx.AsyncClient(base_url=proxy_rig.to_upstream, timeout=15) as client:
        token = await login(client, demo)
        trace_id = secrets.token_hex(16)
        proxy_rig.upstream.requests.clear()

        response = await client.get("/v1/conversations", params={"status": "open", "limit": "2"}, headers={
            "authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})

    assert response.status_code == 200
    assert response.json() == proxy_rig.upstream.body
    [(path, headers)] = proxy_rig.upstream.requests
    assert path == "/v1/conversations?status=open&limit=2"
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["traceparent"].split("-")[1] == trace_id


async def test_upstream_status_and_body_come_back_as_is(proxy_rig: ProxyRig, demo: Credentials) -> None:
    conversation_id = uuid.uuid4()
    proxy_rig.upstream.status, proxy_rig.upstream.body = 404, {"success": False, "error": {
        "code": "conversation_not_found", "message": "no such conversation", "details": None}}
    try:
        async with httpx.AsyncClient(base_url=proxy_rig.to_upstream, timeout=15) as client:
            token = await login(client, demo)
            proxy_rig.upstream.requests.clear()
            response = await client.get(f"/v1/conversations/{conversation_id}/messages",
                                        params={"cursor": "xyz"},
                                        headers={"authorization": f"Bearer {token}"})
    finally:
        proxy_rig.upstream.status, proxy_rig.upstream.body = 200, {"data": []}

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"
    [(path, _)] = proxy_rig.upstream.requests
    assert path == f"/v1/conversations/{conversation_id}/messages?cursor=xyz"


async def test_unauthenticated_requests_never_reach_the_service(proxy_rig: ProxyRig) -> None:
    proxy_rig.upstream.requests.clear()
    async with httpx.AsyncClient(base_url=proxy_rig.to_upstream, timeout=15) as client:
        response = await client.get("/v1/conversations", headers={"authorization": "Bearer not.a.token"})

    assert response.status_code == 401
    assert proxy_rig.upstream.requests == []


async def test_unreachable_service_is_502_in_the_standard_shape(proxy_rig: ProxyRig,
                                                                demo: Credentials) -> None:
    async with httpx.AsyncClient(base_url=proxy_rig.to_nowhere, timeout=15) as client:
        token = await login(client, demo)
        response = await client.get("/v1/conversations", headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 502
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "upstream_unavailable"
    assert body["error"]["details"]["service"] == "conversation"


async def test_gateway_answers_what_the_conversation_service_answers(
        http: httpx.AsyncClient, running_platform: Platform, demo: Credentials) -> None:
    token = await login(http, demo)
    headers = {"authorization": f"Bearer {token}"}

    via_gateway = await http.get("/v1/conversations", params={"limit": "1"}, headers=headers)
    async with httpx.AsyncClient(base_url=running_platform.url("conversation"), timeout=15) as direct:
        straight = await direct.get("/v1/conversations", params={"limit": "1"}, headers=headers)

    assert via_gateway.status_code == straight.status_code
    assert via_gateway.json() == straight.json()
