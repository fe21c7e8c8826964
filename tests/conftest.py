"""Session-wide real infrastructure for the integration and end-to-end tiers.

Embedded PostgreSQL, Valkey and Tansu are started once per test session on free ports in a
fresh state directory, unless ``DATABASE_URL`` / ``REDIS_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` are
set (then those servers are used, e.g. by the testcontainers profile). Unit tests never
request these fixtures, so they run without any server.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Infra, InfraPorts, Platform


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``own_platform`` start a whole platform of their own (``make run``): they run right after the
    unit tier, before the session's shared servers and services exist, rather than beside them at the end
    (two platforms on a small CI machine made the one test 5x slower, 274 s instead of 56 s)."""
    own = [item for item in items if item.get_closest_marker("own_platform")]
    if not own:
        return
    rest = [item for item in items if not item.get_closest_marker("own_platform")]
    unit = Path(__file__).parent / "unit"
    servers_from = next((k for k, item in enumerate(rest) if unit not in item.path.parents), len(rest))
    items[:] = rest[:servers_from] + own + rest[servers_from:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parley-state")


@pytest.fixture(scope="session")
def external_servers() -> Iterator[dict[str, str]]:
    """With ``PARLEY_TEST_CONTAINERS=1`` (``make test-containers``): Apache Kafka, PostgreSQL and Redis images
    started by testcontainers, handed over as the URLs the stack would otherwise embed."""
    if os.environ.get("PARLEY_TEST_CONTAINERS") != "1":
        yield {}
        return
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.redis import RedisContainer

    with PostgresContainer("postgres:17", username="postgres", password="postgres", dbname="parley",
                           driver=None) as postgres, RedisContainer("redis:7") as redis, \
            KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka:
        yield {
            "DATABASE_URL": postgres.get_connection_url() + "?sslmode=disable",
            "REDIS_URL": f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "KAFKA_IDEMPOTENT_PRODUCER": "true",
        }


@pytest.fixture(scope="session")
def platform(state_dir: Path, external_servers: dict[str, str]) -> Iterator[Platform]:
    """Infrastructure up, roles/schemas provisioned, topics created; services not started.

    Each test session gets its own topic prefix, so a shared external broker stays clean.
    """
    environ = {**os.environ, **external_servers,
               "KAFKA_TOPIC_PREFIX": os.environ.get("KAFKA_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:6]}.")}
    infra = Infra(state_dir, InfraPorts(free_port(), free_port(), free_port()), environ=environ)
    ports = {spec.name: free_port() for spec in SERVICES} | {"sandbox": free_port()}
    stack = Platform(state_dir=state_dir, infra=infra, service_ports=ports, environ=environ)
    infra.start()
    try:
        stack.prepare()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def topic_prefix(platform: Platform) -> str:
    return platform.environ["KAFKA_TOPIC_PREFIX"]


@pytest.fixture(scope="session")
def running_platform(platform: Platform) -> Platform:
    """Every service running as its own process against the session's infrastructure, demo data seeded.

    Shared by the end-to-end tests: use fresh ids/tenants per test rather than restarting it.
    """
    platform.start_services()
    platform.start_sandbox()
    platform.wait_ready(timeout=120)
    platform.seed_demo()
    return platform
