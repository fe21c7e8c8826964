"""Fixtures of the kit integration tests: a freshly provisioned scratch service per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from parley.devstack.stack import Platform
from parley.kit.migrations import upgrade_async
from parley.kit.provision import Grant, provision
from tests.integration.kit.kit_harness import (
    SCRATCH_MIGRATIONS,
    Scratch,
    Worker,
    open_scratch,
    service_database_url,
)


def _admin_dsn(platform: Platform) -> str:
    return make_url(platform.infra.admin_database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


async def provision_scratch(platform: Platform) -> Scratch:
    """Own role + schema (provisioned like a real service), migrated from the scratch Alembic tree.

    Topics are not created here: each test creates the (prefixed) topics it uses.
    """
    suffix = uuid.uuid4().hex[:8]
    schema = role = f"kit_scratch_{suffix}"
    password = f"scratch-{uuid.uuid4().hex}"
    await provision(platform.infra.admin_database_url, [Grant(role, password, schema)])
    url = service_database_url(platform.infra.admin_database_url, role, password)
    await upgrade_async(SCRATCH_MIGRATIONS, url, schema)
    prefix = f"{platform.environ['KAFKA_TOPIC_PREFIX']}kit{suffix}."
    return open_scratch(schema, url, prefix, platform.infra.kafka_bootstrap)


async def drop_scratch(platform: Platform, scratch: Scratch) -> None:
    await scratch.db.dispose()
    with suppress(Exception):
        admin = await asyncpg.connect(_admin_dsn(platform))
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{scratch.schema}" CASCADE')
            await admin.execute(f'DROP OWNED BY "{scratch.schema}" CASCADE')
            await admin.execute(f'DROP ROLE IF EXISTS "{scratch.schema}"')
        finally:
            await admin.close()


@pytest.fixture
async def scratch(platform: Platform) -> AsyncIterator[Scratch]:
    """A scratch service of this test's own (role and schema share one name)."""
    scratch = await provision_scratch(platform)
    try:
        yield scratch
    finally:
        await drop_scratch(platform, scratch)


@pytest.fixture(scope="module")
async def module_scratch(platform: Platform) -> AsyncIterator[Scratch]:
    """A scratch service shared by one module's tests (for a consumer group joined once)."""
    scratch = await provision_scratch(platform)
    try:
        yield scratch
    finally:
        await drop_scratch(platform, scratch)


@pytest.fixture
async def workers(scratch: Scratch, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Worker]]]:
    """Starts ``kit_worker`` processes against the test's scratch service; stops leftovers at the end."""
    started: list[Worker] = []

    async def start(role: str, faults: str = "", **env: str) -> Worker:
        worker = Worker(scratch, tmp_path / f"worker-{len(started)}-{role}.log", role, faults, **env)
        started.append(await worker.start())
        return worker

    try:
        yield start
    finally:
        for worker in started:
            await worker.stop()
