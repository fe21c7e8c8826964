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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parley-state")


@pytest.fixture(scope="session")
def platform(state_dir: Path) -> Iterator[Platform]:
    """Infrastructure up, roles/schemas provisioned, topics created; services not started.

    Each test session gets its own topic prefix, so a shared external broker stays clean.
    """
    environ = {**os.environ, "KAFKA_TOPIC_PREFIX": os.environ.get("KAFKA_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:6]}.")}
    infra = Infra(state_dir, InfraPorts(free_port(), free_port(), free_port()), environ=environ)
    ports = {spec.name: free_port() for spec in SERVICES}
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
    platform.wait_ready(timeout=120)
    platform.seed_demo()
    return platform
