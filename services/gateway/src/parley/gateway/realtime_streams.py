"""Per-tenant event streams in Valkey: what the realtime WebSocket pushes and resumes from.

The fan-in consumer (one consumer group shared by every gateway replica) appends each event once
to its tenant's stream; every replica reads the streams of its own sockets' tenants. A stream
entry id (``<ms>-<seq>``, monotonic per tenant) is the frame's ``id``, so resuming is "entries
after the client's last id": no gaps, no duplicates.

Each entry carries the frame (JSON without its id) and what the role filter needs: the topic and,
for conversation events, the conversation's assignee and team as known when it was appended.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from parley.contracts import Envelope
from parley.contracts.registry import EVENT_TYPES
from parley.gateway import realtime_metrics as metrics

# KEYS: seen marker, tenant stream, conversation state (or "" when the event names no conversation).
# ARGV: horizon ms, max length, frame, topic, conversation id, assignee set flag, assignee, team set flag,
#       team, conversation state ttl ms.
# Appends once per event id; returns the entry id, or false for a duplicate.
_APPEND = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return false end
local fields = {'frame', ARGV[3], 'topic', ARGV[4]}
if ARGV[5] ~= '' then
  table.insert(fields, 'conversation'); table.insert(fields, ARGV[5])
  if ARGV[6] == '1' then redis.call('HSET', KEYS[3], 'assignee', ARGV[7]) end
  if ARGV[8] == '1' then redis.call('HSET', KEYS[3], 'team', ARGV[9]) end
  local state = redis.call('HMGET', KEYS[3], 'assignee', 'team')
  if state[1] then
    redis.call('PEXPIRE', KEYS[3], ARGV[10])
    table.insert(fields, 'assignee'); table.insert(fields, state[1])
    table.insert(fields, 'team'); table.insert(fields, state[2] or '')
  end
end
local now = redis.call('TIME')
local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[1])
local id = redis.call('XADD', KEYS[2], 'MINID', '~', oldest, '*', unpack(fields))
redis.call('XTRIM', KEYS[2], 'MAXLEN', '~', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return id
"""

#: Conversation assignment state outlives the resume horizon: it is needed as long as the conversation lives.
CONVERSATION_STATE_TTL_MS = 90 * 86_400_000
ZERO_ID = "0-0"
#: Events whose payload is the conversation's whole assignment (an absent assignee or team means none).
WHOLE_ASSIGNMENT_EVENTS = frozenset({"conversation.assigned", "conversation.opened"})


def parse_id(entry_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` as a comparable pair; ValueError for anything else."""
    ms, sep, seq = entry_id.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"{entry_id!r} is not an event id (<milliseconds>-<sequence>)")
    return int(ms), int(seq)


@dataclass(frozen=True)
class StreamEntry:
    """One event of a tenant's stream, ready to be offered to that tenant's sockets."""

    id: str
    frame: str  # the frame's JSON without its id
    topic: str
    conversation_id: str | None = None
    assignee: str | None = None  # "" = unassigned, None = not known
    team: str | None = None

    @classmethod
    def from_fields(cls, entry_id: str, fields: dict[str, str]) -> StreamEntry:
        return cls(entry_id, fields["frame"], fields.get("topic", ""), fields.get("conversation"),
                   fields.get("assignee"), fields.get("team"))

    @cached_property
    def position(self) -> tuple[int, int]:
        return parse_id(self.id)

    @cached_property
    def _wire(self) -> str:
        return f'{{"id":"{self.id}",{self.frame[1:]}'

    def text(self) -> str:
        """The frame as sent: ``{"id": ..., "type": ..., "time": ..., "subject": ..., "data": ...}``; built once
        per entry and shared by every socket it goes to."""
        return self._wire


@dataclass(frozen=True)
class StreamState:
    """Where a tenant's stream stands: its newest id, its oldest kept id and whether it was ever trimmed."""

    last_id: str
    first_id: str | None
    trimmed: bool
    exists: bool

    def gap_after(self, last_seen: str) -> str | None:
        """Why resuming after ``last_seen`` could miss events (the client must resync), or None."""
        position = parse_id(last_seen)
        if not self.exists:
            return "no events are kept for this tenant any more" if position > (0, 0) else None
        if position > parse_id(self.last_id):
            return "the last event id is not one of this tenant's events"
        if self.trimmed and self.first_id is not None and position < parse_id(self.first_id):
            return "the last event id is older than the resume horizon"
        return None


def redis_unavailable(exc: Exception) -> ConnectionError:
    """Valkey errors as the builtin ConnectionError, which the kit consumer retries rather than dead-letters."""
    return ConnectionError(f"valkey unavailable: {type(exc).__name__}: {exc}")


class TenantStreams:
    """Appending to, reading and inspecting the per-tenant streams (one Valkey client, decoded responses)."""

    def __init__(self, redis: Redis, *, prefix: str = "parley:realtime:", horizon_seconds: int = 86_400,
                 max_len: int = 10_000) -> None:
        self.redis = redis
        self.prefix = prefix
        self.horizon_ms = horizon_seconds * 1000
        self.max_len = max_len
        self._append = redis.register_script(_APPEND)

    def stream_key(self, tenant_id: str) -> str:
        # The hash tag keeps a tenant's keys in one slot, so the append script also runs on a cluster.
        return f"{self.prefix}{{{tenant_id}}}:events"

    def tenant_of(self, key: str) -> str:
        return key[key.index("{") + 1:key.index("}")]

    async def append(self, envelope: Envelope) -> str | None:
        """Append ``envelope`` to its tenant's stream once; returns the entry id, None when skipped."""
        return (await self.append_many([envelope]))[0]

    async def append_many(self, envelopes: list[Envelope]) -> list[str | None]:
        """Append each envelope once, in order, in one round trip (a pipeline of the append script); the entry
        ids, None where skipped or a duplicate."""
        appends = [self._script_call(envelope) for envelope in envelopes]
        calls = [call for call in appends if call is not None]
        entry_ids: list[str | None] = []
        if calls:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for keys, args, _ in calls:
                        await self._append(keys=keys, args=args, client=pipe)
                    entry_ids = await pipe.execute()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise redis_unavailable(exc) from exc
        for entry_id, (_, _, age) in zip(entry_ids, calls, strict=True):
            metrics.EVENTS_FANNED_IN.labels("appended" if entry_id else "duplicate").inc()
            if entry_id:
                metrics.FAN_IN_DELAY.observe(max(age, 0.0))
        found = iter(entry_ids)
        return [(next(found) or None) if call is not None else None for call in appends]

    def _script_call(self, envelope: Envelope) -> tuple[list[str], list[Any], float] | None:
        """The append script's keys and arguments for ``envelope`` and the event's age (seconds); None (counted)
        when it is not appended."""
        if envelope.tenantid is None:
            metrics.EVENTS_FANNED_IN.labels("no_tenant").inc()
            return None
        age = time.time() - envelope.time.timestamp()
        if age * 1000 > self.horizon_ms:
            metrics.EVENTS_FANNED_IN.labels("stale").inc()  # beyond the horizon its id marker may be gone
            return None
        tenant = str(envelope.tenantid)
        spec = EVENT_TYPES.get((envelope.type, envelope.schemaversion))
        data: dict[str, Any] = envelope.data
        conversation_id = str(data.get("conversation_id") or "")
        frame = json.dumps({"type": envelope.type, "time": envelope.time.isoformat(), "subject": envelope.subject,
                            "data": data}, separators=(",", ":"), ensure_ascii=False)
        keys = [f"{self.prefix}{{{tenant}}}:seen:{envelope.id}", self.stream_key(tenant),
                f"{self.prefix}{{{tenant}}}:conversation:{conversation_id}"]
        args = [self.horizon_ms, self.max_len, frame, spec.topic if spec else "", conversation_id,
                *_assignment(envelope.type, data, "assignee_id"), *_assignment(envelope.type, data, "team_id"),
                CONVERSATION_STATE_TTL_MS]
        return keys, args, age

    async def state(self, tenant_id: str) -> StreamState:
        try:
            info = await self.redis.xinfo_stream(self.stream_key(tenant_id))
        except ResponseError:  # no such key: nothing appended within the horizon
            return StreamState(ZERO_ID, None, trimmed=False, exists=False)
        first = info.get("first-entry")
        return StreamState(info["last-generated-id"], first[0] if first else None,
                           trimmed=int(info["entries-added"]) > int(info["length"]), exists=True)

    async def entries_between(self, tenant_id: str, after: str, up_to: str, *, page: int = 500) -> list[StreamEntry]:
        """Entries with ``after < id <= up_to``, oldest first."""
        found: list[StreamEntry] = []
        start = f"({after}"
        while parse_id(after) < parse_id(up_to):
            batch = await self.redis.xrange(self.stream_key(tenant_id), min=start, max=up_to, count=page)
            found.extend(StreamEntry.from_fields(entry_id, fields) for entry_id, fields in batch)
            if len(batch) < page:
                break
            after = batch[-1][0]
            start = f"({after}"
        return found


def _assignment(event_type: str, data: dict[str, Any], field: str) -> tuple[str, str]:
    """(set flag, value) of an assignment field. Payloads leave out null fields, so an absent field means
    "unchanged" except in an event that states the whole assignment, where it means "cleared"."""
    if field in data:
        return "1", str(data[field] or "")
    return ("1", "") if event_type in WHOLE_ASSIGNMENT_EVENTS else ("0", "")
