"""Shared facts for the packaging/deployment tests (Dockerfile, docker-compose.yml, deploy/k8s)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

# The platform's port plan (one port per service). A new service directory under services/
# must be given a port here, and then in the Dockerfile, docker-compose.yml and deploy/k8s:
# the tests fail until it is.
SERVICE_PORTS = {
    "gateway": 8080,
    "ingest": 8081,
    "conversation": 8082,
    "sender": 8083,
    "campaign": 8084,
    "flow-engine": 8085,
    "egress": 8086,
}


def discover_service_dirs() -> list[str]:
    """Every service of the workspace: a directory under services/ with a pyproject.toml."""
    return sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/pyproject.toml"))


def env_prefix(service: str) -> str:
    """flow-engine -> FLOW_ENGINE_"""
    return service.upper().replace("-", "_") + "_"


def module_name(service: str) -> str:
    """flow-engine -> flow_engine (python -m parley.flow_engine)"""
    return service.replace("-", "_")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def service_dirs() -> list[str]:
    dirs = discover_service_dirs()
    assert dirs, "no services found under services/"
    return dirs


@pytest.fixture(scope="session")
def service_ports(service_dirs: list[str]) -> dict[str, int]:
    missing = sorted(set(service_dirs) - set(SERVICE_PORTS))
    assert not missing, f"services without a port in tests/unit/deploy/conftest.py: {missing}"
    return {s: SERVICE_PORTS[s] for s in service_dirs}
