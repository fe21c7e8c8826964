"""Background loops every service runs the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from parley.kit.telemetry import get_logger

log = get_logger(__name__)


async def run_forever(name: str, step: Callable[[], Awaitable[int]], idle_seconds: float,
                      idle: Callable[[float], Awaitable[None]] | None = None) -> None:
    """Run ``step`` until cancelled; pause when it did nothing (returned 0), back off when it failed.

    The pause is ``idle_seconds``, or ``idle(idle_seconds)`` when given (which may end it sooner, on a wake-up).

    A database or broker outage never ends the loop: it is logged and retried with capped backoff.
    """
    failures = 0
    while True:
        try:
            done = await step()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the loop outlives a database or network outage
            failures += 1
            log.warning(f"{name} failed; retrying", error=f"{type(exc).__name__}: {exc}", attempt=failures)
            await asyncio.sleep(min(0.2 * 2 ** failures, 5.0))
            continue
        if not done:
            await (idle(idle_seconds) if idle is not None else asyncio.sleep(idle_seconds))
