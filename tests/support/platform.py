"""Helpers for tests that drive the running platform over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform


def demo_env(platform: Platform) -> dict[str, str]:
    """The environment the services run with: demo credentials, app secret, verify token."""
    return platform.service_env(SERVICES[0])


def login(platform: Platform) -> dict[str, str]:
    """Authorization header of the seeded demo owner."""
    env = demo_env(platform)
    response = httpx.post(f"{platform.url('gateway')}/v1/auth/login",
                          json={"email": env["PARLEY_DEMO_EMAIL"], "password": env["PARLEY_DEMO_PASSWORD"]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def eventually(probe: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Poll until ``probe`` returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
