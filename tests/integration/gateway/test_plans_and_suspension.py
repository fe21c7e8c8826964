"""Plans gate features with an error naming them; a suspended tenant is refused everywhere at once."""

from __future__ import annotations

import asyncio

import httpx
from aiokafka import AIOKafkaConsumer

from parley.contracts import Envelope
from parley.contracts.binding import from_record
from parley.contracts.events.tenants import TenantPlanChanged
from parley.devstack.stack import Platform
from parley.gateway.commands import reactivate, set_plan, suspend
from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import assert_error, sign_up


async def test_features_outside_the_plan_are_refused_naming_the_feature(http: httpx.AsyncClient) -> None:
    account = await sign_up(http)  # free: no campaigns, flows or outbound webhooks

    for path, feature in [("/v1/campaigns", "campaigns"), ("/v1/flows", "flows"),
                          ("/v1/webhooks", "outbound_webhooks")]:
        error = assert_error(await http.get(path, headers=account.headers), 403, "feature_not_in_plan")
        assert error["details"] == {"feature": feature, "plan": "free"}


async def test_a_plan_change_applies_on_the_next_request_and_is_published(
        http: httpx.AsyncClient, gateway: Service, running_platform: Platform, topic_prefix: str) -> None:
    account = await sign_up(http)
    assert_error(await http.get("/v1/campaigns", headers=account.headers), 403, "feature_not_in_plan")

    await set_plan(gateway, [str(account.credentials.tenant_id), "growth"])

    after = await http.get("/v1/campaigns", headers=account.headers)
    assert after.status_code != 403, after.text  # reaches the campaign service now
    tenant = (await http.get("/v1/tenant", headers=account.headers)).json()
    assert tenant["plan"] == "growth" and "campaigns" in tenant["features"] and tenant["limits"]["agents"] == 20
    event = await tenant_event(running_platform, topic_prefix, account.credentials.tenant_id, "tenant.plan-changed")
    payload = event.payload()
    assert isinstance(payload, TenantPlanChanged)
    assert payload.plan == "growth" and payload.limits.numbers == 5


async def test_unknown_plan_is_refused(gateway: Service, http: httpx.AsyncClient) -> None:
    account = await sign_up(http)
    try:
        await set_plan(gateway, [str(account.credentials.tenant_id), "platinum"])
    except Exception as exc:  # noqa: BLE001 - the command's error is what an operator sees
        assert "platinum" in str(exc)
    else:
        raise AssertionError("an unknown plan was accepted")


async def test_suspension_refuses_tokens_everywhere_and_reactivation_restores_them(
        http: httpx.AsyncClient, gateway: Service) -> None:
    account = await sign_up(http)
    assert (await http.get("/v1/conversations", headers=account.headers)).status_code == 200
    key = await http.post("/v1/api-keys", json={"name": "crm", "scopes": ["*"]}, headers=account.headers)
    api_key = {"authorization": f"Bearer {key.json()['key']}"}

    await suspend(gateway, [str(account.credentials.tenant_id), "unpaid"])

    for path in ("/v1/conversations", "/v1/users", "/v1/tenant", "/v1/channels", "/v1/hooks"):
        assert_error(await http.get(path, headers=account.headers), 403, "tenant_suspended")
    assert_error(await http.get("/v1/conversations", headers=api_key), 403, "tenant_suspended")
    assert_error(await http.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token}),
                 403, "tenant_suspended")

    await reactivate(gateway, [str(account.credentials.tenant_id)])
    assert (await http.get("/v1/conversations", headers=account.headers)).status_code == 200


async def tenant_event(platform: Platform, topic_prefix: str, tenant_id: object, event_type: str) -> Envelope:
    consumer = AIOKafkaConsumer(f"{topic_prefix}tenant.changed", group_id=None, auto_offset_reset="earliest",
                                bootstrap_servers=platform.infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: list[Envelope] = []
    try:
        async with asyncio.timeout(30):
            while not any(e.tenantid == tenant_id and e.type == event_type for e in seen):
                batches = await consumer.getmany(timeout_ms=500)
                seen += [from_record(m.value, m.headers) for ms in batches.values() for m in ms]
    finally:
        await consumer.stop()
    return next(e for e in seen if e.tenantid == tenant_id and e.type == event_type)
