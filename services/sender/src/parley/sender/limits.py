"""Send limits shared by every sender replica, in Valkey: per number, per recipient, per tenant plan.

One script decides for one send, atomically, against Valkey's own clock (``TIME``) so replicas on
different hosts agree:

- the number's throughput and the (number, recipient) pair rate are GCRA: each key holds a
  theoretical arrival time (TAT); a send may go when TAT minus the burst tolerance has passed. With
  a burst of 1 the number's sends are evenly spaced, so no sliding second ever holds more than its
  limit (what Meta counts for 130429);
- the tenant's plan quotas are fixed windows (calendar minute, hour and day, UTC) counted per tenant.

Nothing is counted unless every limit lets the send go, so a send that waits for one limit does
not use up another. A send that may not go is told how long to wait and which limit holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

#: KEYS: number TAT, pair TAT, quota prefix. ARGV: number interval, number tolerance, pair interval,
#: pair tolerance (µs; pair interval 0 = no pair limit), then per-minute, per-hour, per-day quotas (-1 = none).
#: Returns {0, 0} when the send may go (and is counted), else {µs to wait, index of the limit that holds it}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local waits = {0, 0, 0, 0, 0}
local tats = {}
for i = 1, 2 do
  local interval = tonumber(ARGV[2 * i - 1])
  if interval > 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local allowed_at = tat - tonumber(ARGV[2 * i])
    if now < allowed_at then waits[i] = allowed_at - now end
    tats[i] = tat + interval
  end
end
local seconds = tonumber(t[1])
local windows = {60, 3600, 86400}
local quota_keys = {}
for i = 1, 3 do
  local limit = tonumber(ARGV[4 + i])
  if limit >= 0 then
    local window = windows[i]
    local key = KEYS[3] .. ':' .. window .. ':' .. math.floor(seconds / window)
    quota_keys[i] = key
    if tonumber(redis.call('GET', key) or 0) >= limit then
      waits[2 + i] = ((math.floor(seconds / window) + 1) * window) * 1000000 - now
    end
  end
end
local longest, which = 0, 0
for i = 1, 5 do
  if waits[i] > longest then longest, which = waits[i], i end
end
if longest > 0 then return {longest, which} end
for i = 1, 2 do
  if tats[i] then
    redis.call('SET', KEYS[i], tats[i], 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
  end
end
for i = 1, 3 do
  if quota_keys[i] then
    redis.call('INCR', quota_keys[i])
    redis.call('EXPIRE', quota_keys[i], windows[i] + 60)
  end
end
return {0, 0}
"""

#: The limit that holds a send, by the script's index.
HELD_BY = {1: "number_throughput", 2: "recipient_pair_rate", 3: "messages_per_minute", 4: "messages_per_hour",
           5: "messages_per_day"}


@dataclass(frozen=True)
class PairRate:
    """Meta's pair limit: about one message per ``interval_seconds`` to a user, bursts borrow from the future."""

    interval_seconds: float = 6.0
    burst: int = 45


@dataclass(frozen=True)
class Quotas:
    """A tenant's plan quotas; ``None`` = unlimited."""

    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None


@dataclass(frozen=True)
class Verdict:
    wait_seconds: float
    held_by: str | None = None


class SendLimits:
    """Decides, for one send, whether it may go now (and counts it) or how long it waits and why."""

    def __init__(self, redis: Redis, *, pair: PairRate | None = None, prefix: str = "parley:sender:") -> None:
        self.redis = redis
        self.pair = pair
        self.prefix = prefix
        self._script = redis.register_script(_ADMIT)

    async def admit(self, phone_number_id: str, per_second: float, *, recipient: str | None = None,
                    tenant_id: UUID | None = None, quotas: Quotas | None = None) -> Verdict:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        number_interval = round(1_000_000 / per_second)
        pair_interval = pair_tolerance = 0
        if self.pair is not None and recipient is not None:
            pair_interval = round(self.pair.interval_seconds * 1_000_000)
            pair_tolerance = pair_interval * (self.pair.burst - 1)
        quotas = quotas or Quotas()
        keys = [f"{self.prefix}pace:{phone_number_id}", f"{self.prefix}pair:{phone_number_id}:{recipient}",
                f"{self.prefix}quota:{tenant_id}"]
        args = [number_interval, 0, pair_interval, pair_tolerance,
                *(-1 if q is None else q for q in (quotas.per_minute, quotas.per_hour, quotas.per_day))]
        wait_us, which = await self._script(keys=keys, args=args)
        return Verdict(int(wait_us) / 1_000_000, HELD_BY.get(int(which)))

    async def close(self) -> None:
        await self.redis.aclose()


class NumberPacer:
    """Only the per-number throughput of :class:`SendLimits` (one fixed rate for every number)."""

    def __init__(self, redis: Redis, *, per_second: float, prefix: str = "parley:sender:") -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.limits = SendLimits(redis, prefix=prefix)
        self.per_second = per_second

    async def wait_seconds(self, phone_number_id: str) -> float:
        """0.0 when this send may go now (and is counted); otherwise seconds until it may (not counted)."""
        return (await self.limits.admit(phone_number_id, self.per_second)).wait_seconds

    async def close(self) -> None:
        await self.limits.close()
