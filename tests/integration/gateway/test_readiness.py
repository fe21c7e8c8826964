"""One readiness probe for the whole platform, and a gateway that refuses to run unsafely."""

from __future__ import annotations

import subprocess
import sys

import httpx

from parley.devstack.stack import Platform
from tests.integration.gateway.gateway_harness import GATEWAY


async def test_gateway_readiness_covers_every_service(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")

    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    expected = {"database", "kafka", "ingest", "conversation", "sender", "campaign", "flow-engine", "egress"}
    assert set(checks) == expected
    assert all(state == "ok" for state in checks.values()), checks


def test_gateway_outside_development_refuses_to_start_without_a_signing_key(platform: Platform) -> None:
    env = {k: v for k, v in platform.service_env(GATEWAY).items() if not k.startswith("GATEWAY_JWT_")}
    env |= {"PARLEY_ENV": "production", "GATEWAY_DATABASE_URL": "postgresql+asyncpg://gw:real-secret@db/parley"}

    result = subprocess.run([sys.executable, "-m", "parley.gateway", "migrate"], env=env, capture_output=True,
                            text=True, timeout=60)

    assert result.returncode != 0
    assert "GATEWAY_JWT_PRIVATE_KEY" in result.stderr
