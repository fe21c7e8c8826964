"""Idle send loops wake when requests are queued in the process or a held message falls due, not a poll later."""

from __future__ import annotations

import asyncio
import time

from parley.sender.worker import Wakeup

AN_HOUR = 3600.0


async def test_a_pause_ends_when_requests_are_queued() -> None:
    wakeup = Wakeup()
    paused = asyncio.create_task(wakeup.pause(AN_HOUR))
    await asyncio.sleep(0)
    assert not paused.done()
    wakeup.set()
    await asyncio.wait_for(paused, timeout=30)  # a deadline for a hung test, not a measurement


async def test_a_pause_ends_when_a_held_message_falls_due() -> None:
    wakeup = Wakeup()
    wakeup.hold_until(time.monotonic() + 0.05)
    await asyncio.wait_for(wakeup.pause(AN_HOUR), timeout=30)


async def test_the_earliest_hold_wins_and_a_past_one_is_forgotten() -> None:
    wakeup = Wakeup()
    wakeup.hold_until(time.monotonic() + AN_HOUR)
    wakeup.hold_until(time.monotonic())  # sooner: replaces the hour
    await asyncio.wait_for(wakeup.pause(AN_HOUR), timeout=30)
    wakeup.hold_until(time.monotonic() + AN_HOUR)  # the earlier one has passed: this one counts now
    paused = asyncio.create_task(wakeup.pause(AN_HOUR))
    await asyncio.sleep(0.05)
    assert not paused.done(), "a passed hold does not keep waking the loops"
    paused.cancel()
