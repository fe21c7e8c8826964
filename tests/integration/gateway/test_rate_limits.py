"""GCRA rate limits and the login throttle against the real Valkey every gateway replica shares."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from parley.devstack.stack import Platform
from parley.gateway.ratelimit import LoginThrottle, RateLimited, RateLimiter


@pytest.fixture
async def valkey(platform: Platform) -> AsyncIterator[Redis]:
    client = Redis.from_url(platform.infra.redis_url)
    yield client
    await client.aclose()


async def test_a_tenant_gets_its_burst_then_429_until_the_next_slot(valkey: Redis) -> None:
    limiter, tenant = RateLimiter(valkey), f"tenant:{uuid.uuid4()}"

    for _ in range(5):
        await limiter.check(tenant, per_minute=60, burst=5, what="tenant")
    with pytest.raises(RateLimited) as refused:
        await limiter.check(tenant, per_minute=60, burst=5, what="tenant")

    assert refused.value.retry_after == 1  # one slot per second at 60/min
    assert refused.value.details["limit"] == "tenant"
    await limiter.check(f"tenant:{uuid.uuid4()}", per_minute=60, burst=5, what="tenant")  # others unaffected


async def test_two_replicas_share_one_budget(valkey: Redis, platform: Platform) -> None:
    other = Redis.from_url(platform.infra.redis_url)
    key = f"tenant:{uuid.uuid4()}"
    try:
        await RateLimiter(valkey).check(key, per_minute=1, burst=1, what="tenant")
        with pytest.raises(RateLimited):
            await RateLimiter(other).check(key, per_minute=1, burst=1, what="tenant")
    finally:
        await other.aclose()


async def test_the_address_limit_covers_every_account_from_it(valkey: Redis) -> None:
    throttle = LoginThrottle(valkey, per_account=100, per_address=3, window_seconds=60)
    address = f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"

    for n in range(3):
        await throttle.check(f"user{n}@example.com", address)
        await throttle.failed(f"user{n}@example.com", address)

    with pytest.raises(RateLimited) as refused:
        await throttle.check("someone-new@example.com", address)
    assert refused.value.details["limit"] == "login_per_address"
    await throttle.check("someone-new@example.com", "198.51.100.7")  # another address may still try
