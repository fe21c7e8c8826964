"""Fixtures of the gateway tests: the real gateway process of ``running_platform`` and its data."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from parley.devstack.stack import Platform
from parley.gateway import service as gateway_service
from parley.gateway.main import build
from parley.gateway.settings import GatewaySettings
from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import (
    GATEWAY,
    Credentials,
    ProxyRig,
    RecordingUpstream,
    free_port,
    start_gateway,
    wait_alive,
)


@pytest.fixture(scope="session")
def gateway_env(platform: Platform) -> dict[str, str]:
    """Exactly the environment the platform starts the gateway with."""
    return platform.service_env(GATEWAY)


@pytest.fixture(scope="session")
def gateway_url(running_platform: Platform) -> str:
    return running_platform.url("gateway")


@pytest.fixture(scope="session")
def demo(gateway_env: dict[str, str]) -> Credentials:
    return Credentials(gateway_env["PARLEY_DEMO_EMAIL"], gateway_env["PARLEY_DEMO_PASSWORD"],
                       uuid.UUID(gateway_env["PARLEY_DEMO_TENANT_ID"]))


@pytest.fixture(scope="session")
def signing_key(gateway_env: dict[str, str]) -> Ed25519PrivateKey:
    """The running gateway's own private key (read from the file the platform gave it)."""
    pem = Path(gateway_env["GATEWAY_JWT_PRIVATE_KEY_FILE"]).read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


@pytest.fixture(scope="session")
async def gateway(gateway_env: dict[str, str], running_platform: Platform) -> AsyncIterator[Service]:
    """The gateway's domain in-process, on the same database as the running gateway (for setup and rows)."""
    settings = GatewaySettings(
        database_url=gateway_env["GATEWAY_DATABASE_URL"],
        kafka_bootstrap_servers=gateway_env["KAFKA_BOOTSTRAP_SERVERS"],
        jwt_private_key_file=gateway_env["GATEWAY_JWT_PRIVATE_KEY_FILE"],
        service_urls=gateway_env["GATEWAY_SERVICE_URLS"],
        redis_url=gateway_env["REDIS_URL"],
    )
    service = build(settings)
    yield service
    await service.db.dispose()
    await service.definition.extra_state["gateway"].close()  # type: ignore[attr-defined]


@pytest.fixture
async def member(gateway: Service) -> Credentials:
    """A fresh tenant with one agent, created through the gateway's use cases."""
    email, password = f"Agent-{uuid.uuid4().hex[:8]}@Example.com", f"pw-{uuid.uuid4().hex}"
    tenant_id = uuid.uuid4()
    async with gateway.db.unit_of_work(tenant_id=tenant_id) as session:
        await gateway_service.create_tenant(session, gateway.store, name="Acme", plan="starter", tenant_id=tenant_id)
        await gateway_service.create_user(session, gateway.store, tenant_id=tenant_id, email=email,
                                          password=password, role="agent")
    return Credentials(email, password, tenant_id)


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="session")
def proxy_rig(running_platform: Platform) -> Iterator[ProxyRig]:
    """Two extra gateways: one whose conversation service is a recorder, one whose is unreachable."""
    upstream = RecordingUpstream()
    server = upstream.serve()
    dead = f"http://127.0.0.1:{free_port()}"
    recorder, recorder_url = start_gateway(running_platform, "gateway-recorder",
                                           f"conversation={upstream.url}")
    orphan, orphan_url = start_gateway(running_platform, "gateway-orphan", f"conversation={dead}")
    try:
        wait_alive(recorder, recorder_url)
        wait_alive(orphan, orphan_url)
        yield ProxyRig(upstream, recorder_url, orphan_url)
    finally:
        for process in (recorder, orphan):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        server.shutdown()

