"""Closes this replica's realtime sockets as soon as their tenant is suspended or their session revoked.

The gateway announces each revocation on a Valkey channel (``parley.kit.revocation``); every replica listens
and drops the matching sockets at once. A replica that was not listening (a Valkey reconnect) catches up with
a sweep that checks every open socket's token, on (re)subscribing and every ``sweep_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

from redis.asyncio import Redis

from parley.gateway.realtime_hub import RealtimeClient, RealtimeHub
from parley.kit.revocation import CHANNEL, Revocation, RevocationCheck
from parley.kit.service import Service
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

TENANT_SUSPENDED = "tenant_suspended"
TOKEN_REVOKED = "token_revoked"


def _matches(client: RealtimeClient, revocation: Revocation) -> bool:
    return str(client.claims.get(revocation.kind, "")) == revocation.value


class RevocationWatch:
    def __init__(self, redis: Redis, hub: RealtimeHub, check: RevocationCheck, *, sweep_seconds: float = 15.0) -> None:
        self.redis = redis  # a subscription holds its connection: a client of its own
        self.hub = hub
        self.check = check
        self.sweep_seconds = sweep_seconds

    def apply(self, revocation: Revocation) -> int:
        """Drop the sockets a revocation covers; returns how many."""
        self.check.forget(revocation.kind, revocation.value)  # this replica's HTTP checks see it at once too
        if not revocation.active:
            return 0
        reason = TENANT_SUSPENDED if revocation.kind == "tid" else TOKEN_REVOKED
        dropped = 0
        for client in self.hub.sockets():
            if _matches(client, revocation):
                client.drop(reason)
                dropped += 1
        return dropped

    async def sweep(self) -> None:
        """Check every open socket's token against the revocations (the checker's cache spares Valkey)."""
        for client in self.hub.sockets():
            revoked = await self.check.revoked_keys(client.claims)
            if revoked:
                client.drop(TENANT_SUSPENDED if "tid" in revoked else TOKEN_REVOKED)

    async def run(self, _: Service) -> None:
        """Listen until cancelled; a lost connection is retried, then swept for what it missed."""
        failures = 0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watch outlives a Valkey outage
                failures += 1
                log.warning("revocation watch failed; retrying", error=f"{type(exc).__name__}: {exc}",
                            attempt=failures)
                await asyncio.sleep(min(0.2 * 2 ** failures, 5.0))

    async def _listen(self) -> None:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            await self.sweep()
            swept = time.monotonic()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.sweep_seconds)
                if message is not None and message.get("type") == "message":
                    revocation = Revocation.decode(message["data"])
                    if revocation is not None and self.apply(revocation):
                        log.info("realtime sockets closed", kind=revocation.kind)
                if time.monotonic() - swept >= self.sweep_seconds:
                    await self.sweep()
                    swept = time.monotonic()

    async def close(self, _: Service) -> None:
        with suppress(Exception):
            await self.redis.aclose()
