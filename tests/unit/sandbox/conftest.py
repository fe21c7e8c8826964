"""The sandbox in-process (ASGI transport) on a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from parley.sandbox.app import create_app
from parley.sandbox.service import Sandbox
from tests.unit.sandbox.sandbox_harness import FrozenClock, settings


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(clock: FrozenClock) -> FastAPI:
    """The sandbox on a frozen clock; its webhook dispatcher is not running (no lifespan)."""
    return create_app(settings(), clock=clock)


@pytest.fixture
def sandbox(app: FastAPI) -> Sandbox:
    return app.state.sandbox


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sandbox") as http:
        yield http
