"""Sender pools: the API (tenant-scoped), round robin over healthy numbers, the sticky sender, rebuild."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from parley.contracts.events.messages import MessageReceived
from parley.kit.auth import Principal
from parley.sender.models import ChannelHealth, Pool, PoolMember
from tests.integration.sender.conftest import Harness, unique_digits

pytestmark = pytest.mark.integration


async def _pool(sender: Harness, *numbers: str, name: str = "Support") -> str:
    created = await sender.client.post("/v1/pools", json={"name": name, "phone_number_ids": list(numbers)})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def test_pools_are_created_listed_renamed_changed_and_deleted(sender: Harness) -> None:
    first, second, third = [await sender.channel() for _ in range(3)]
    pool_id = await _pool(sender, first, second)
    assert (await sender.client.get(f"/v1/pools/{pool_id}")).json()["phone_number_ids"] == [first, second]
    renamed = await sender.client.patch(f"/v1/pools/{pool_id}", json={"name": "Sales"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Sales"
    added = await sender.client.put(f"/v1/pools/{pool_id}/members/{third}")
    assert added.json()["phone_number_ids"] == [first, second, third]
    assert (await sender.client.put(f"/v1/pools/{pool_id}/members/{third}")).status_code == 200, "idempotent"
    removed = await sender.client.delete(f"/v1/pools/{pool_id}/members/{first}")
    assert removed.json()["phone_number_ids"] == [second, third]
    gone = await sender.client.delete(f"/v1/pools/{pool_id}/members/{first}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "pool_member_not_found"

    other = await _pool(sender, name="Night shift")
    page = (await sender.client.get("/v1/pools", params={"limit": 1})).json()
    assert page["pagination"]["has_more"] and len(page["data"]) == 1
    rest = (await sender.client.get("/v1/pools", params={"cursor": page["pagination"]["next_cursor"]})).json()
    assert {p["id"] for p in page["data"] + rest["data"]} == {pool_id, other}
    bad_cursor = await sender.client.get("/v1/pools", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"

    assert (await sender.client.delete(f"/v1/pools/{pool_id}")).status_code == 204
    missing = await sender.client.get(f"/v1/pools/{pool_id}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "pool_not_found"


async def test_pool_input_is_checked_and_other_tenants_see_nothing(sender: Harness) -> None:
    number = await sender.channel()
    pool_id = await _pool(sender, number)
    empty = await sender.client.post("/v1/pools", json={"name": ""})
    assert empty.status_code == 422 and empty.json()["success"] is False
    unknown = await sender.client.post("/v1/pools", json={"name": "X", "phone_number_ids": ["999"]})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "channel_not_found"

    owner = sender.principal
    sender.principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")
    for response in (await sender.client.get(f"/v1/pools/{pool_id}"),
                     await sender.client.patch(f"/v1/pools/{pool_id}", json={"name": "mine"}),
                     await sender.client.put(f"/v1/pools/{pool_id}/members/{number}"),
                     await sender.client.delete(f"/v1/pools/{pool_id}")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "pool_not_found"
    assert (await sender.client.get("/v1/pools")).json()["data"] == []
    own_pool = await _pool(sender)
    stolen = await sender.client.put(f"/v1/pools/{own_pool}/members/{number}")
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "channel_not_found"

    sender.principal = Principal(owner.tenant_id, uuid.uuid4(), "agent")
    forbidden = await sender.client.post("/v1/pools", json={"name": "agents cannot"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"


async def test_a_pool_spreads_new_customers_round_robin_and_each_customer_keeps_their_number(sender: Harness) -> None:
    numbers = [await sender.channel() for _ in range(3)]
    pool_id = uuid.UUID(await _pool(sender, *numbers))
    customers = [unique_digits("1", 11) for _ in range(6)]
    first = {c: await sender.request(None, to=c, pool_id=pool_id) for c in customers}
    picked = {c: (await sender.message(m)).phone_number_id for c, m in first.items()}
    assert Counter(picked.values()) == dict.fromkeys(numbers, 2), "round robin over the pool"
    for customer in customers[:3]:
        again = await sender.request(None, to=customer, pool_id=pool_id)
        assert (await sender.message(again)).phone_number_id == picked[customer], "sticky sender"
    redelivered = await sender.request(None, first[customers[4]], to=customers[4], pool_id=pool_id)
    assert (await sender.message(redelivered)).phone_number_id == picked[customers[4]], "a redelivery keeps its number"
    accepted = await sender.settle(first[customers[0]], "accepted")
    [sent] = await sender.sends(accepted.client_message_id)
    assert sent["phone_number_id"] == picked[customers[0]]
    [status] = await sender.statuses(accepted.client_message_id)
    assert status["phone_number_id"] == picked[customers[0]], "everyone learns which number was used"


async def test_a_customer_who_wrote_to_a_pool_number_hears_back_from_it(sender: Harness) -> None:
    numbers = [await sender.channel() for _ in range(3)]
    pool_id = uuid.UUID(await _pool(sender, *numbers))
    customer = unique_digits("1", 11)
    await sender.consume("sender.inbound", MessageReceived.model_validate({
        "wamid": f"wamid.{uuid.uuid4().hex}", "phone_number_id": numbers[2], "wa_id": customer, "from": customer,
        "timestamp": datetime.now(UTC), "type": "text", "text": {"body": "hello?"}}))
    reply = await sender.request(None, to=customer, pool_id=pool_id, text="Hi! How can we help?")
    assert (await sender.message(reply)).phone_number_id == numbers[2]


async def test_a_pool_skips_paused_and_unhealthy_numbers_and_refuses_when_none_can_send(sender: Harness) -> None:
    paused, unhealthy, healthy = [await sender.channel() for _ in range(3)]
    pool_id = uuid.UUID(await _pool(sender, paused, unhealthy, healthy))
    assert (await sender.client.post(f"/v1/channels/{paused}/pause")).json()["paused"] is True
    async with sender.service.db.unit_of_work(tenant_id=sender.principal.tenant_id) as session:
        session.add(ChannelHealth(phone_number_id=unhealthy, tenant_id=sender.principal.tenant_id, accepted=0,
                                  failed=6, delivered=0, read=0, consecutive_failures=6, health_score=40.0,
                                  updated_at=datetime.now(UTC)))
    ids = [await sender.request(None, pool_id=pool_id) for _ in range(4)]
    assert {(await sender.message(i)).phone_number_id for i in ids} == {healthy}

    await sender.client.post(f"/v1/channels/{healthy}/pause")
    await sender.client.post(f"/v1/channels/{unhealthy}/pause")
    refused = await sender.message(await sender.request(None, pool_id=pool_id))
    assert refused.status == "failed" and refused.error_title == "pool_unavailable"
    assert "no number that can send" in (refused.last_error or "")
    unknown = await sender.message(await sender.request(None, pool_id=uuid.uuid4()))
    assert unknown.status == "failed" and unknown.error_title == "pool_not_found"


async def test_a_rebuild_reproduces_pools_members_and_number_settings(sender: Harness) -> None:
    numbers = [await sender.channel() for _ in range(2)]
    pool_id = uuid.UUID(await _pool(sender, *numbers))
    await sender.client.delete(f"/v1/pools/{pool_id}/members/{numbers[0]}")
    await sender.client.patch(f"/v1/channels/{numbers[1]}", json={"throughput_per_second": 12})
    await sender.client.post(f"/v1/channels/{numbers[1]}/pause")

    async def state() -> tuple[object, ...]:
        async with sender.service.db.unit_of_work(tenant_id=sender.principal.tenant_id) as session:
            pools = (await session.execute(select(Pool.id, Pool.name).where(Pool.id == pool_id))).all()
            members = (await session.execute(select(PoolMember.phone_number_id)
                                             .where(PoolMember.pool_id == pool_id))).all()
        channels = {c["phone_number_id"]: (c["paused"], c["throughput_per_second"])
                    for c in (await sender.client.get("/v1/channels")).json()["data"]}
        return pools, members, channels

    before = await state()
    assert before[1] == [(numbers[1],)] and before[2][numbers[1]] == (True, 12)
    await sender.service.rebuild()
    assert await state() == before
