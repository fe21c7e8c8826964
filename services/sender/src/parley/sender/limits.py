"""Send limits shared by every sender replica, in Valkey: per number, per recipient, per tenant plan.

One script decides for one send, atomically, against Valkey's own clock (``TIME``) so replicas on
different hosts agree:

- the number's throughput is a schedule of evenly spaced slots (GCRA with a burst of 1: the key
  holds the next free slot). A send reserves the next slot when it is at most ``lookahead`` away and
  waits for it, so one claim can fill a number's next fraction of a second, and no sliding second
  ever holds more than the limit (what Meta counts for 130429);
- the (number, recipient) pair rate is GCRA with a burst (Meta lets bursts borrow from the future);
- the tenant's plan quotas are fixed windows (calendar minute, hour and day, UTC) counted per tenant.

Nothing is counted unless every limit lets the send go, so a send that waits for one limit does
not use up another. A send that may not go is told how long to wait and which limit holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

#: KEYS: number TAT, pair TAT, quota prefix. ARGV: number interval, number lookahead, pair interval, pair
#: tolerance (µs; pair interval 0 = no pair limit), then per-minute, per-hour, per-day quotas (-1 = none).
#: Returns {µs, 0} when the send is admitted (and counted) to go after that delay - the number's next free
#: slot, at most the lookahead away - else {µs to wait before asking again, index of the limit that holds it}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local waits = {0, 0, 0, 0, 0}
local number_interval = tonumber(ARGV[1])
local number_tat = tonumber(redis.call('GET', KEYS[1]) or now)
if number_tat < now then number_tat = now end
local delay = number_tat - now
if delay > tonumber(ARGV[2]) then waits[1] = delay - tonumber(ARGV[2]) end
local pair_interval = tonumber(ARGV[3])
local pair_tat = nil
if pair_interval > 0 then
  pair_tat = tonumber(redis.call('GET', KEYS[2]) or now)
  if pair_tat < now then pair_tat = now end
  local allowed_at = pair_tat - tonumber(ARGV[4])
  if now < allowed_at then waits[2] = allowed_at - now end
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
local next_tat = number_tat + number_interval
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now) / 1000) + 1000)
if pair_tat then
  pair_tat = pair_tat + pair_interval
  redis.call('SET', KEYS[2], pair_tat, 'PX', math.ceil((pair_tat - now) / 1000) + 1000)
end
for i = 1, 3 do
  if quota_keys[i] then
    redis.call('INCR', quota_keys[i])
    redis.call('EXPIRE', quota_keys[i], windows[i] + 60)
  end
end
return {delay, 0}
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
class Ask:
    """One send that asks to go: its number and rate, and the recipient and tenant the other limits count."""

    phone_number_id: str
    per_second: float
    recipient: str | None = None
    tenant_id: UUID | None = None
    quotas: Quotas | None = None


@dataclass(frozen=True)
class Verdict:
    """Admitted (``held_by`` None): send after ``wait_seconds`` (its reserved slot). Held: ask again then."""

    wait_seconds: float
    held_by: str | None = None

    @property
    def admitted(self) -> bool:
        return self.held_by is None


class SendLimits:
    """Decides, for one send, whether it may go now (and counts it) or how long it waits and why."""

    def __init__(self, redis: Redis, *, pair: PairRate | None = None, lookahead_seconds: float = 0.0,
                 prefix: str = "parley:sender:") -> None:
        self.redis = redis
        self.pair = pair
        self.lookahead_us = round(lookahead_seconds * 1_000_000)
        self.prefix = prefix
        self._script = redis.register_script(_ADMIT)

    async def admit(self, phone_number_id: str, per_second: float, *, recipient: str | None = None,
                    tenant_id: UUID | None = None, quotas: Quotas | None = None) -> Verdict:
        return (await self.admit_many([Ask(phone_number_id, per_second, recipient, tenant_id, quotas)]))[0]

    async def admit_many(self, asks: list[Ask]) -> list[Verdict]:
        """One verdict per ask, decided in order (each atomically) in one round trip to Valkey."""
        if not asks:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for ask in asks:
            keys, args = self._arguments(ask)
            await self._script(keys=keys, args=args, client=pipe)
        results = await pipe.execute()
        return [Verdict(int(wait_us) / 1_000_000, HELD_BY.get(int(which))) for wait_us, which in results]

    def _arguments(self, ask: Ask) -> tuple[list[str], list[int]]:
        if ask.per_second <= 0:
            raise ValueError("per_second must be positive")
        number_interval = round(1_000_000 / ask.per_second)
        pair_interval = pair_tolerance = 0
        if self.pair is not None and ask.recipient is not None:
            pair_interval = round(self.pair.interval_seconds * 1_000_000)
            pair_tolerance = pair_interval * (self.pair.burst - 1)
        quotas = ask.quotas or Quotas()
        keys = [f"{self.prefix}pace:{ask.phone_number_id}", f"{self.prefix}pair:{ask.phone_number_id}:{ask.recipient}",
                f"{self.prefix}quota:{ask.tenant_id}"]
        args = [number_interval, self.lookahead_us, pair_interval, pair_tolerance,
                *(-1 if q is None else q for q in (quotas.per_minute, quotas.per_hour, quotas.per_day))]
        return keys, args

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
        verdict = await self.limits.admit(phone_number_id, self.per_second)
        return 0.0 if verdict.admitted else verdict.wait_seconds

    async def close(self) -> None:
        await self.limits.close()
