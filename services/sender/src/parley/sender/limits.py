"""Per-number send pacing shared by every sender replica, in Valkey (GCRA).

Each business number has a theoretical arrival time (TAT) in Valkey; a send may go when the TAT
minus the burst tolerance has passed, and moves the TAT one emission interval on. The clock is
Valkey's own (``TIME``), so replicas on different hosts agree. With a burst of 1 the sends are
evenly spaced, so no sliding one-second window ever holds more than the number's limit (what
Meta counts for 130429).
"""

from __future__ import annotations

from redis.asyncio import Redis

#: KEYS[1] the number's TAT key; ARGV[1] emission interval (µs), ARGV[2] burst tolerance (µs).
#: Returns 0 when the send may go now, else the microseconds to wait.
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


class NumberPacer:
    """Decides, for one send of a number, whether it may go now or how long it must wait."""

    def __init__(self, redis: Redis, *, per_second: float, burst: int = 1, prefix: str = "parley:sender:pace:") -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be positive and burst at least 1")
        self.redis = redis
        self.interval_us = round(1_000_000 / per_second)
        self.tolerance_us = self.interval_us * (burst - 1)
        self.prefix = prefix
        self._script = redis.register_script(_GCRA)

    async def wait_seconds(self, phone_number_id: str) -> float:
        """0.0 when this send may go now (and is counted); otherwise seconds until it may (not counted)."""
        wait_us = await self._script(keys=[self.prefix + phone_number_id], args=[self.interval_us, self.tolerance_us])
        return int(wait_us) / 1_000_000

    async def close(self) -> None:
        await self.redis.aclose()
