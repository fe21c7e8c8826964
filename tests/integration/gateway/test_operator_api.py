"""The gateway's operator API: suspend, reactivate and re-plan tenants with the operator token, never a tenant's."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from parley.devstack.stack import Platform
from tests.integration.gateway.gateway_harness import assert_error, sign_up, start_gateway, wait_alive

pytestmark = pytest.mark.integration

OPERATOR_TOKEN = f"op-{uuid.uuid4().hex}{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def operated_gateway(running_platform: Platform) -> Iterator[str]:
    """A gateway replica with the operator API on (the platform's own has none configured)."""
    process, url = start_gateway(running_platform, "gateway-operator", GATEWAY_OPERATOR_TOKEN=OPERATOR_TOKEN)
    try:
        wait_alive(process, url, timeout=180)  # a loaded machine starts a process slowly
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def operator(operated_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=operated_gateway, timeout=15,
                                 headers={"authorization": f"Bearer {OPERATOR_TOKEN}"}) as client:
        yield client


async def test_suspend_reactivate_and_replan_a_tenant(http: httpx.AsyncClient, operator: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    tenant = owner.credentials.tenant_id

    suspended = await operator.post(f"/admin/tenants/{tenant}/suspend", json={"reason": "unpaid"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended", suspended.text
    assert_error(await http.get("/v1/tenant", headers=owner.headers), 403, "tenant_suspended")

    reactivated = await operator.post(f"/admin/tenants/{tenant}/reactivate")
    assert reactivated.status_code == 200 and reactivated.json()["status"] == "active"
    assert (await http.get("/v1/tenant", headers=owner.headers)).status_code == 200

    replanned = await operator.put(f"/admin/tenants/{tenant}/plan", json={"plan": "pro"})
    assert replanned.status_code == 200 and replanned.json()["plan"] == "pro", replanned.text
    assert (await http.get("/v1/tenant", headers=owner.headers)).json()["plan"] == "pro"
    assert (await operator.get(f"/admin/tenants/{tenant}")).json()["plan"] == "pro"


async def test_bad_requests_get_clear_errors(operator: httpx.AsyncClient, http: httpx.AsyncClient) -> None:
    tenant = (await sign_up(http)).credentials.tenant_id

    assert_error(await operator.post(f"/admin/tenants/{uuid.uuid4()}/suspend", json={}), 404, "tenant_not_found")
    assert_error(await operator.get(f"/admin/tenants/{uuid.uuid4()}"), 404, "tenant_not_found")
    unknown_plan = await operator.put(f"/admin/tenants/{tenant}/plan", json={"plan": "platinum"})
    assert unknown_plan.status_code == 422 and unknown_plan.json()["success"] is False, unknown_plan.text
    assert_error(await operator.put(f"/admin/tenants/{tenant}/plan", json={}), 422, "validation_error")


async def test_only_the_operator_token_opens_it(http: httpx.AsyncClient, operated_gateway: str) -> None:
    owner = await sign_up(http)
    path = f"/admin/tenants/{owner.credentials.tenant_id}/suspend"
    async with httpx.AsyncClient(base_url=operated_gateway, timeout=15) as client:
        assert_error(await client.post(path, json={}), 401, "missing_token")
        assert_error(await client.post(path, json={}, headers={"authorization": "Bearer guess"}), 401,
                     "invalid_token")
        assert_error(await client.post(path, json={}, headers=owner.headers), 401, "invalid_token")
    assert_error(await http.post(path, json={}, headers={"authorization": f"Bearer {OPERATOR_TOKEN}"}), 401,
                 "operator_api_disabled")  # the platform's gateway has no operator token configured
    assert (await http.get("/v1/tenant", headers=owner.headers)).json()["status"] == "active"
