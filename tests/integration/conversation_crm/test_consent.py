"""Opt-out keywords, opted-out customers and the blocklist, on real Postgres (and Kafka for the published events)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import ConsumerRecord

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.conversation import crm as crm_wiring
from parley.conversation.main import build
from parley.devstack.stack import Platform
from parley.kit.auth import Principal, current_principal
from parley.kit.consumer import ConsumerRunner
from parley.kit.kafka import create_producer
from tests.integration.conversation_crm.conftest import Crm, conversation_settings, inbound, new_wa_id
from tests.support.kafka import collect

pytestmark = pytest.mark.integration


def _record(envelope: Envelope, offset: int = 0) -> ConsumerRecord:
    key, value, headers = to_record(envelope)
    return ConsumerRecord("message.received", 0, offset, 0, 0, key, value, None, len(key), len(value),
                          list(headers))


async def _deliver(crm: Crm, envelope: Envelope) -> str:
    """Hand one record to the opt-out consumer exactly as Kafka would (inbox + handler in one transaction)."""
    [subscription] = crm_wiring.subscriptions(crm.service.store)
    runner = ConsumerRunner(crm.service.db, crm.service.store.tables, None, subscription)  # type: ignore[arg-type]
    return await runner._process_once(envelope)  # the single-event path: scoped to the event's tenant


async def _opted_out(crm: Crm) -> dict[str, dict]:
    response = await crm.client.get("/v1/opt-outs")
    assert response.status_code == 200, response.text
    return {row["wa_id"]: row for row in response.json()["data"]}


async def test_a_keyword_opts_the_customer_out_once_even_when_redelivered(crm: Crm) -> None:
    tenant, wa_id = crm.principal.tenant_id, new_wa_id()
    stop = inbound(tenant, wa_id, text="  Stop! ")
    assert await _deliver(crm, stop) == "processed"
    assert await _deliver(crm, stop) == "duplicate"
    assert await _deliver(crm, inbound(tenant, wa_id, text="STOP")) == "processed"

    row = (await _opted_out(crm))[wa_id]
    assert (row["source"], row["keyword"], row["wamid"]) == ("keyword", "STOP", stop.data["wamid"])
    events = await crm.events(aggregate_id=f"{tenant}:{wa_id}")
    assert [e["type"] for e in events] == ["contact.opted-out"], "one opt-out, published once"


async def test_keywords_match_whole_messages_case_and_accent_insensitively(crm: Crm) -> None:
    tenant = crm.principal.tenant_id
    sair, button, chatty, image = new_wa_id(), new_wa_id(), new_wa_id(), new_wa_id()
    await _deliver(crm, inbound(tenant, sair, text="sáir"))
    await _deliver(crm, inbound(tenant, button, button={"text": "Parar", "payload": "stop-promos"}))
    await _deliver(crm, inbound(tenant, chatty, text="please stop calling me after 6pm"))
    await _deliver(crm, inbound(tenant, image, type="image", media={"id": "m1", "caption": "STOP"}))
    assert set(await _opted_out(crm)) == {sair, button}


async def test_opt_in_keyword_and_late_messages_follow_whatsapp_time(crm: Crm) -> None:
    tenant, wa_id = crm.principal.tenant_id, new_wa_id()
    start = datetime.now(UTC) - timedelta(minutes=10)
    await _deliver(crm, inbound(tenant, wa_id, text="SAIR", at=start))
    await _deliver(crm, inbound(tenant, wa_id, text="voltar", at=start + timedelta(minutes=2)))
    assert wa_id not in await _opted_out(crm)
    # A STOP sent before the VOLTAR but delivered after it does not undo it.
    await _deliver(crm, inbound(tenant, wa_id, text="STOP", at=start + timedelta(minutes=1)))
    assert wa_id not in await _opted_out(crm)

    other = new_wa_id()
    await _deliver(crm, inbound(tenant, other, text="START", at=start + timedelta(minutes=5)))
    await _deliver(crm, inbound(tenant, other, text="STOP", at=start + timedelta(minutes=4)))
    assert other not in await _opted_out(crm), "START came last in WhatsApp time, whatever the arrival order"
    types = [e["type"] for e in await crm.events(aggregate_id=f"{tenant}:{wa_id}")]
    assert types == ["contact.opted-out", "contact.opted-in"]


async def test_a_batch_of_messages_is_read_in_order_with_the_keywords_read_once(crm: Crm) -> None:
    tenant, wa_id, other, chatty = crm.principal.tenant_id, new_wa_id(), new_wa_id(), new_wa_id()
    start = datetime.now(UTC) - timedelta(minutes=10)
    batch = [inbound(tenant, wa_id, text="STOP", at=start), inbound(tenant, chatty, text="hello there"),
             inbound(tenant, other, text="Parar", at=start), inbound(tenant, wa_id, text="START",
                                                                    at=start + timedelta(minutes=1))]
    [subscription] = crm_wiring.subscriptions(crm.service.store)
    runner = ConsumerRunner(crm.service.db, crm.service.store.tables, None, subscription)  # type: ignore[arg-type]
    await runner.handle_batch([_record(envelope, offset) for offset, envelope in enumerate(batch)])

    assert set(await _opted_out(crm)) >= {other} and not {wa_id, chatty} & set(await _opted_out(crm))
    types = [e["type"] for e in await crm.events(aggregate_id=f"{tenant}:{wa_id}")]
    assert types == ["contact.opted-out", "contact.opted-in"], "the STOP, then the START after it"


async def test_tenant_keywords_replace_the_defaults(crm: Crm) -> None:
    defaults = (await crm.client.get("/v1/opt-outs/keywords")).json()
    assert defaults["default"] is True and {"STOP", "SAIR", "PARAR", "CANCELAR", "BAJA"} <= set(defaults["opt_out"])
    put = await crm.client.put("/v1/opt-outs/keywords", json={"opt_out": ["Chega", "Chega"], "opt_in": ["Quero"]})
    assert put.status_code == 200 and put.json() == {"opt_out": ["Chega"], "opt_in": ["Quero"], "default": False}

    tenant, stays, leaves = crm.principal.tenant_id, new_wa_id(), new_wa_id()
    await _deliver(crm, inbound(tenant, stays, text="STOP"))
    await _deliver(crm, inbound(tenant, leaves, text="chegá"))
    assert set(await _opted_out(crm)) == {leaves}

    for bad in ({"opt_out": []}, {"opt_out": ["Stop"], "opt_in": ["STOP"]}, {"opt_out": ["x" * 41]},
                {"opt_out": ["Stop"], "extra": 1}):
        response = await crm.client.put("/v1/opt-outs/keywords", json=bad)
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error", bad
    for unstorable in ("St\u0000op", "\ud8ee"):  # valid JSON, but no customer can type it (nor Postgres store it)
        response = await crm.client.put("/v1/opt-outs/keywords", content=json.dumps({"opt_out": [unstorable]}),
                                        headers={"content-type": "application/json"})
        assert response.status_code == 422 and response.json()["success"] is False, response.text
    crm.principal = Principal(tenant, uuid.uuid4(), "agent")
    assert (await crm.client.put("/v1/opt-outs/keywords", json={"opt_out": ["Fim"]})).status_code == 403
    assert (await crm.client.get("/v1/opt-outs/keywords")).json()["opt_out"] == ["Chega"]


async def test_manual_opt_out_and_back_in(crm: Crm) -> None:
    created = await crm.client.post("/v1/opt-outs", json={"wa_id": "+55 (11) 98765-4321", "reason": "asked by phone"})
    assert created.status_code == 201, created.text
    assert created.json()["wa_id"] == "5511987654321" and created.json()["source"] == "manual"
    duplicate = await crm.client.post("/v1/opt-outs", json={"wa_id": "5511987654321"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "already_opted_out"
    invalid = await crm.client.post("/v1/opt-outs", json={"wa_id": "call me"})
    assert invalid.status_code == 422 and invalid.json()["success"] is False

    owner = crm.as_other_tenant()
    assert await _opted_out(crm) == {}
    assert (await crm.client.delete("/v1/opt-outs/5511987654321")).status_code == 404
    crm.principal = owner
    assert (await crm.client.delete("/v1/opt-outs/+5511987654321")).status_code == 204
    assert await _opted_out(crm) == {}
    again = await crm.client.delete("/v1/opt-outs/5511987654321")
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    types = [e["type"] for e in await crm.events(aggregate_id=f"{owner.tenant_id}:5511987654321")]
    assert types == ["contact.opted-out", "contact.opted-in"]


async def test_the_blocklist_is_per_tenant_and_paginated(crm: Crm) -> None:
    numbers = [new_wa_id() for _ in range(5)]
    for number in numbers:
        response = await crm.client.post("/v1/blocklist", json={"wa_id": number, "reason": "spam"})
        assert response.status_code == 201 and response.json()["blocked_by"] == str(crm.principal.user_id)
    duplicate = await crm.client.post("/v1/blocklist", json={"wa_id": numbers[0]})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "already_blocked"

    seen, cursor = [], None
    while True:
        page = (await crm.client.get("/v1/blocklist", params={"limit": 2, **({"cursor": cursor} if cursor else {})}))
        seen += [row["wa_id"] for row in page.json()["data"]]
        cursor = page.json()["pagination"]["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(numbers)), "most recent first, each once"

    owner = crm.as_other_tenant()
    assert (await crm.client.get("/v1/blocklist")).json()["data"] == []
    assert (await crm.client.delete(f"/v1/blocklist/{numbers[0]}")).status_code == 404
    crm.principal = owner
    assert (await crm.client.delete(f"/v1/blocklist/{numbers[0]}")).status_code == 204
    assert (await crm.client.delete(f"/v1/blocklist/{numbers[0]}")).status_code == 404
    assert (await crm.client.delete("/v1/blocklist/abc")).status_code == 422
    types = [e["type"] for e in await crm.events(aggregate_id=f"{owner.tenant_id}:{numbers[0]}")]
    assert types == ["contact.blocked", "contact.unblocked"]


async def test_opt_outs_and_blocks_reach_kafka_for_campaigns_and_flows(platform: Platform, topic_prefix: str) -> None:
    """The running service: a STOP on message.received becomes contact.opted-out on contact.changed."""
    settings = conversation_settings(platform, kafka_bootstrap_servers=platform.infra.kafka_bootstrap,
                                     kafka_topic_prefix=topic_prefix, kafka_idempotent_producer=False)
    service = build(settings)
    app = service.create_app()
    principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")
    app.dependency_overrides[current_principal] = lambda: principal
    wa_id, blocked = new_wa_id(), new_wa_id()
    producer = create_producer(settings, client_id="test-optouts")
    await service.start()
    await producer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
            assert (await client.post("/v1/blocklist", json={"wa_id": blocked})).status_code == 201
            key, value, headers = to_record(inbound(principal.tenant_id, wa_id, text="Cancelar"))
            await producer.send_and_wait(f"{topic_prefix}message.received", value=value, key=key,
                                         headers=list(headers))
            for _ in range(360):
                if wa_id in [r["wa_id"] for r in (await client.get("/v1/opt-outs")).json()["data"]]:
                    break
                await asyncio.sleep(0.25)
            else:
                raise AssertionError("the STOP message never opted the customer out")

        def mine(records: list[dict]) -> list[dict]:
            return [r for r in records if r["headers"].get("ce_tenantid") == str(principal.tenant_id)]

        records = mine(await collect(platform.infra.kafka_bootstrap, f"{topic_prefix}contact.changed",
                                     lambda rs: len(mine(rs)) >= 2))
        by_type = {r["headers"]["ce_type"]: r for r in records}
        assert by_type["contact.opted-out"]["data"]["keyword"] == "CANCELAR"
        assert by_type["contact.opted-out"]["key"] == f"{principal.tenant_id}:{wa_id}".encode()
        assert by_type["contact.blocked"]["data"]["wa_id"] == blocked
    finally:
        await producer.stop()
        await service.stop()
