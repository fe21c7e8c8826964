"""Per-number pacing in Valkey: replicas share one budget and never exceed it in any sliding second."""

from __future__ import annotations

import time
import uuid

import pytest
from redis.asyncio import Redis

from parley.devstack.stack import Platform
from parley.sender.limits import NumberPacer

pytestmark = pytest.mark.integration


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_two_replicas_share_a_numbers_budget_and_never_exceed_it(platform: Platform) -> None:
    number = f"pace-{uuid.uuid4().hex[:8]}"
    replicas = [NumberPacer(Redis.from_url(platform.infra.redis_url), per_second=40) for _ in range(2)]
    allowed: list[float] = []
    waits: list[float] = []
    try:
        deadline = time.monotonic() + 2.5
        turn = 0
        while time.monotonic() < deadline:
            wait = await replicas[turn % 2].wait_seconds(number)
            turn += 1
            if wait == 0:
                allowed.append(time.monotonic())
            else:
                waits.append(wait)
    finally:
        for pacer in replicas:
            await pacer.close()
    assert _max_in_any_second(allowed) <= 41, "an evenly paced budget of 40/s, whichever replica asks"
    assert len(allowed) >= 40, "the budget is actually used"
    assert waits and all(0 < w <= 1 / 40 + 0.001 for w in waits), "a paced send is told how long to wait"


async def test_numbers_do_not_share_budgets(platform: Platform) -> None:
    pacer = NumberPacer(Redis.from_url(platform.infra.redis_url), per_second=1)
    try:
        first, second = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
        assert await pacer.wait_seconds(first) == 0
        assert await pacer.wait_seconds(first) > 0.5, "the same number must wait about a second"
        assert await pacer.wait_seconds(second) == 0, "another number is not slowed by the first"
    finally:
        await pacer.close()
