"""The gateway's state is its event store: a replay reproduces tenants and users; seeding is idempotent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from parley.contracts import Envelope
from parley.contracts.binding import from_record
from parley.contracts.events.tenants import TenantCreated
from parley.devstack.stack import Platform
from parley.gateway import plans
from parley.gateway import service as gateway_service
from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import GATEWAY, Credentials, login


async def rows(gateway: Service) -> dict[str, list[Any]]:
    async with gateway.db.unit_of_work(system=True) as session:
        return {table: [tuple(r) for r in (await session.execute(text(f"SELECT * FROM {table} ORDER BY id")))]
                for table in ("tenants", "users", "invitations", "api_keys")}


def gateway_command(platform: Platform, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parley.gateway", command],
                          env={**platform.service_env(GATEWAY), **env}, capture_output=True, text=True,
                          timeout=120)


async def test_rebuild_reproduces_tenants_and_users_exactly(gateway: Service, running_platform: Platform,
                                                           member: Credentials, demo: Credentials,
                                                           http: httpx.AsyncClient) -> None:
    async with gateway.db.unit_of_work(tenant_id=member.tenant_id) as session:
        await gateway_service.change_tenant_status(session, gateway.store, member.tenant_id, "suspended")
    before = await rows(gateway)

    result = gateway_command(running_platform, "rebuild")

    assert result.returncode == 0, result.stderr
    assert "replayed" in result.stdout
    after = await rows(gateway)
    # Every row that existed before is reproduced exactly; rows other tests' traffic adds meanwhile
    # (the running platform is shared by the session) are not this rebuild's doing.
    for table, table_rows in before.items():
        rebuilt = {row[0]: row for row in after[table]}
        differing = [(row, rebuilt.get(row[0])) for row in table_rows if rebuilt.get(row[0]) != row]
        assert not differing, f"{table}: rows before and after the rebuild: {differing}"
    assert any(row[0] == member.tenant_id and row[3] == "suspended" for row in after["tenants"])
    assert any(row[2] == member.email.lower() for row in after["users"])
    assert await login(http, demo)


async def test_seed_demo_is_idempotent_even_when_run_concurrently(
        running_platform: Platform, http: httpx.AsyncClient) -> None:
    who = Credentials(f"owner-{uuid.uuid4().hex[:8]}@demo.example", f"pw-{uuid.uuid4().hex}", uuid.uuid4())
    env = {"PARLEY_DEMO_TENANT_ID": str(who.tenant_id), "PARLEY_DEMO_EMAIL": who.email,
           "PARLEY_DEMO_PASSWORD": who.password}

    results = await asyncio.gather(*(asyncio.to_thread(gateway_command, running_platform, "seed-demo", **env)
                                     for _ in range(3)))
    again = gateway_command(running_platform, "seed-demo", **env)

    assert all(r.returncode == 0 for r in [*results, again]), [r.stderr[-2000:] for r in results]
    assert "already present" in again.stdout
    token = await login(http, who)
    assert token


async def test_tenant_created_is_published_for_other_services(
        running_platform: Platform, topic_prefix: str, member: Credentials) -> None:
    consumer = AIOKafkaConsumer(f"{topic_prefix}tenant.changed", group_id=None, auto_offset_reset="earliest",
                                bootstrap_servers=running_platform.infra.kafka_bootstrap,
                                enable_auto_commit=False)
    await consumer.start()
    seen: list[Envelope] = []
    try:
        async with asyncio.timeout(30):
            while not any(e.tenantid == member.tenant_id for e in seen):
                batches = await consumer.getmany(timeout_ms=500)
                seen += [from_record(m.value, m.headers) for ms in batches.values() for m in ms]
    finally:
        await consumer.stop()

    event = next(e for e in seen if e.tenantid == member.tenant_id)
    assert event.type == "tenant.created"
    limits, features = plans.plan("starter")
    assert event.payload() == TenantCreated(tenant_id=member.tenant_id, name="Acme", plan="starter",
                                            limits=limits, features=features)
