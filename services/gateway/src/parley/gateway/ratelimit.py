"""Request rate limits (GCRA) and login throttling, shared by every gateway replica through Valkey."""

from __future__ import annotations

import math

from redis.asyncio import Redis

from parley.kit.errors import DomainError

#: KEYS[1] the TAT key; ARGV[1] emission interval (µs), ARGV[2] burst tolerance (µs).
#: Returns 0 when the request may go now (and counts it), else the microseconds until it may.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - tolerance
if now < allowed_at then return allowed_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class RateLimited(DomainError):
    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, retry_after: float, details: dict[str, object]) -> None:
        super().__init__(message, details={**details, "retry_after_seconds": math.ceil(retry_after)})
        self.retry_after = max(1, math.ceil(retry_after))


class RateLimiter:
    """GCRA over Valkey's clock: ``per_minute`` requests spread evenly, up to ``burst`` at once."""

    def __init__(self, redis: Redis, prefix: str = "parley:gateway:rate:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_GCRA)

    async def wait_seconds(self, key: str, *, per_minute: int, burst: int) -> float:
        """0.0 when allowed (and counted), else seconds to wait (not counted)."""
        interval_us = round(60_000_000 / per_minute)
        tolerance_us = interval_us * (max(burst, 1) - 1)
        wait_us = await self._script(keys=[self.prefix + key], args=[interval_us, tolerance_us])
        return int(wait_us) / 1_000_000

    async def check(self, key: str, *, per_minute: int, burst: int, what: str) -> None:
        """RateLimited (429) naming ``what`` when the budget of ``key`` is spent."""
        wait = await self.wait_seconds(key, per_minute=per_minute, burst=burst)
        if wait > 0:
            raise RateLimited(f"too many requests for this {what}; retry later", wait,
                              {"limit": what, "per_minute": per_minute})


class LoginThrottle:
    """Counts failed logins per account and per client address in fixed windows."""

    def __init__(self, redis: Redis, *, per_account: int, per_address: int, window_seconds: int,
                 prefix: str = "parley:gateway:login-failures:") -> None:
        self.redis = redis
        self.limits = {"account": per_account, "address": per_address}
        self.window_seconds = window_seconds
        self.prefix = prefix

    def _keys(self, email: str, address: str) -> dict[str, str]:
        return {"account": f"{self.prefix}account:{email}", "address": f"{self.prefix}address:{address}"}

    async def check(self, email: str, address: str) -> None:
        """RateLimited while either the account or the address has too many recent failures."""
        keys = self._keys(email, address)
        counts = await self.redis.mget(list(keys.values()))
        for (scope, key), count in zip(keys.items(), counts, strict=True):
            if count is not None and int(count) >= self.limits[scope]:
                ttl = await self.redis.ttl(key)
                raise RateLimited(f"too many failed logins for this {scope}; retry later",
                                  ttl if ttl > 0 else self.window_seconds, {"limit": f"login_per_{scope}"})

    async def failed(self, email: str, address: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self._keys(email, address).values():
                pipe.incr(key)
                pipe.expire(key, self.window_seconds, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str) -> None:
        await self.redis.delete(self._keys(email, "-")["account"])
