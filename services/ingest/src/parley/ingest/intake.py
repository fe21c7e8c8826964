"""Persist-first intake: concurrent webhooks are committed together, and each 200 waits for its commit.

Requests put their raw body on a queue and wait on one future each. Writer tasks take everything
queued since their last commit and store it with ONE statement: a data-modifying CTE inserts the
raw rows and their ``webhook.received`` events (the outbox) from arrays, and PostgreSQL commits
that statement on its own with ``synchronous_commit=on``. So a batch costs one round trip and one
WAL flush, shared by every request in it (group commit). A failed batch fails every request in it
with a 503; Meta (or the hook's sender) retries those.

This is the hottest write path of the platform, so it skips the ORM and pydantic: each writer holds
one connection from the service's engine and talks to asyncpg directly, and the event envelope is
built as the JSON ``Envelope.wrap(WebhookReceived(...))`` would produce (``tests/unit/ingest`` holds
the two to each other). ``webhook.received`` has no projection inside ingest, so nothing is skipped
by not going through ``EventStore.record_many``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from parley.contracts import new_event_id
from parley.contracts.envelope import SPEC_VERSION
from parley.contracts.events.webhooks import WebhookReceived
from parley.contracts.registry import spec_for_model
from parley.kit import metrics
from parley.kit.eventstore import OUTBOX_CHANNEL
from parley.kit.telemetry import current_traceparent, get_logger

log = get_logger(__name__)

BATCH_SIZE = Histogram("parley_ingest_batch_size", "Webhooks committed per transaction",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
COMMIT_SECONDS = Histogram("parley_ingest_commit_seconds", "Time to durably commit one batch of webhooks",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))

#: Headers never worth keeping with a raw webhook.
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

_SPEC = spec_for_model(WebhookReceived)
_APPENDED = metrics.EVENTS_APPENDED.labels(event_type=_SPEC.type)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: Raw rows and their events in one statement (one round trip, one commit). Columns not listed take their
#: defaults exactly as the ORM insert did (status_reason/processed_at NULL, recorded_at now()).
_STORE = """
WITH stored AS (
    INSERT INTO {schema}.webhook_events
        (id, kind, received_at, body, headers, content_sha256, size_bytes, status, tenant_id, hook_id)
    SELECT id, kind, received_at, body, headers::jsonb, sha, size, 'received', tenant_id, hook_id
    FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::bytea[], $5::text[], $6::text[], $7::int[],
                $8::uuid[], $9::uuid[]) AS t(id, kind, received_at, body, headers, sha, size, tenant_id, hook_id)
    RETURNING 1
)
INSERT INTO {schema}.event_store
    (event_id, aggregate_type, aggregate_id, version, tenant_id, event_type, topic, partition_key, envelope)
SELECT event_id, 'webhook', aggregate_id, 1, tenant_id, $10, $11, partition_key, envelope::jsonb
FROM unnest($12::uuid[], $13::text[], $9::uuid[], $14::text[], $15::text[])
    AS t(event_id, aggregate_id, tenant_id, partition_key, envelope)
"""

#: Wakes the outbox relay (it LISTENs between polls) once a batch is committed. A statement of its own, not part
#: of _STORE: PostgreSQL serialises the commits of NOTIFYing transactions (one lock per database, held through
#: the commit's WAL flush), which would stop the writers' commits sharing flushes. This one writes no WAL.
_WAKE_RELAY = f"SELECT pg_notify({OUTBOX_CHANNEL.text}, '')"


class Arrival:
    """One authentic webhook waiting for its commit."""

    __slots__ = ("kind", "body", "headers", "payload", "phone_number_ids", "inline", "sha256", "tenant_id",
                 "hook_id", "hook_name", "webhook_id", "event_id", "received_at", "traceparent", "done")

    def __init__(self, kind: str, body: bytes, headers: dict[str, str], payload: object, phone_number_ids: list[str],
                 inline: bool, *, tenant_id: UUID | None = None, hook_id: UUID | None = None,
                 hook_name: str | None = None, traceparent: str | None = None) -> None:
        self.kind = kind
        self.body = body
        self.headers = headers
        self.payload = payload
        self.phone_number_ids = phone_number_ids
        self.inline = inline
        self.sha256 = hashlib.sha256(body).hexdigest()
        self.tenant_id = tenant_id
        self.hook_id = hook_id
        self.hook_name = hook_name
        self.webhook_id = new_event_id()
        self.event_id = new_event_id()
        self.received_at = datetime.now(UTC)
        self.traceparent = traceparent
        self.done: asyncio.Future[UUID] = asyncio.get_running_loop().create_future()


class IntakeUnavailable(Exception):
    """The batch holding this webhook could not be committed: nothing was stored, the sender must retry."""


class WebhookIntake:
    def __init__(self, engine: AsyncEngine, schema: str, *, source: str, writers: int = 2,
                 max_batch: int = 256) -> None:
        self.engine = engine
        self.statement = _STORE.format(schema=_quoted(schema))
        self.source = source
        self.writers = writers
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Arrival] = asyncio.Queue()
        self._unanswered = 0

    @property
    def unanswered(self) -> int:
        """Webhooks submitted and not yet answered: queued or in a batch being committed."""
        return self._unanswered

    async def submit(self, kind: str, body: bytes, headers: Mapping[str, str], *, payload: object,
                     phone_number_ids: list[str], inline_limit: int, tenant_id: UUID | None = None,
                     hook_id: UUID | None = None, hook_name: str | None = None,
                     traceparent: str | None = None) -> UUID:
        """Store one authentic webhook; returns its id once it is durable. Raises ``IntakeUnavailable``.

        ``traceparent`` defaults to the active span's.
        """
        arrival = Arrival(
            kind, body, {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}, payload,
            phone_number_ids,
            # WhatsApp bodies are read back from the database by ingest's own normalizer (the only consumer of
            # their webhook.received); inlining them would serialise every body twice on the hot path.
            # PostgreSQL's jsonb refuses the NUL character: such a body stays in the database only, or its batch fails.
            kind != "whatsapp" and isinstance(payload, dict) and len(body) <= inline_limit and b"\\u0000" not in body,
            tenant_id=tenant_id, hook_id=hook_id, hook_name=hook_name,
            traceparent=traceparent or current_traceparent(),
        )
        self._queue.put_nowait(arrival)
        self._unanswered += 1
        try:
            return await arrival.done
        finally:
            self._unanswered -= 1

    async def run(self) -> None:
        """Writer tasks, until cancelled; what is queued when they stop fails so senders retry."""
        writers = [asyncio.create_task(self._write_forever()) for _ in range(self.writers)]
        try:
            await asyncio.gather(*writers)
        finally:
            for writer in writers:
                writer.cancel()
            await asyncio.gather(*writers, return_exceptions=True)
            while not self._queue.empty():
                arrival = self._queue.get_nowait()
                if not arrival.done.done():
                    arrival.done.set_exception(IntakeUnavailable("ingest is shutting down"))

    async def _write_forever(self) -> None:
        """One connection per writer, held across batches; a failed batch drops it and the next reconnects."""
        held = _Held()
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self.max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                await self._commit(held, batch)
        finally:
            if held.connection is not None:
                await asyncio.shield(_release(held.connection))

    async def _commit(self, held: _Held, batch: list[Arrival]) -> None:
        started = time.perf_counter()
        try:
            if held.connection is None:
                held.connection = await self.engine.connect()
                held.raw = (await held.connection.get_raw_connection()).driver_connection
            # Outside a transaction block: the single statement is its own transaction, committed
            # synchronously (synchronous_commit=on for every ingest connection) before execute returns.
            await held.raw.execute(self.statement, *batch_arguments(batch, self.source))
        except asyncio.CancelledError:  # shutting down mid-commit: unknown outcome, so no 200 (the sender retries)
            _fail(batch, "ingest is shutting down")
            if held.connection is not None:
                await asyncio.shield(_discard(held.connection))
            held.connection = held.raw = None
            raise
        except Exception as exc:  # noqa: BLE001 - every waiter learns its webhook was not stored
            log.exception("webhook batch not committed", size=len(batch))
            _fail(batch, f"{type(exc).__name__}: {exc}")
            if held.connection is not None:
                await _discard(held.connection)
            held.connection = held.raw = None
            return
        COMMIT_SECONDS.observe(time.perf_counter() - started)
        BATCH_SIZE.observe(len(batch))
        _APPENDED.inc(len(batch))
        for arrival in batch:
            if not arrival.done.done():
                arrival.done.set_result(arrival.webhook_id)
        await self._wake_relay(held)

    @staticmethod
    async def _wake_relay(held: _Held) -> None:
        """The relay publishes the batch's events now rather than at its next poll (which still covers a miss)."""
        try:
            await held.raw.execute(_WAKE_RELAY)
        except asyncio.CancelledError:  # shutting down: the connection may be mid-statement, never reuse it
            if held.connection is not None:
                await asyncio.shield(_discard(held.connection))
            held.connection = held.raw = None
            raise
        except Exception:  # noqa: BLE001 - the batch is durable and answered; the next batch reconnects
            log.warning("outbox relay not woken; it will find the events at its next poll")
            if held.connection is not None:
                await _discard(held.connection)
            held.connection = held.raw = None


def _fail(batch: list[Arrival], reason: str) -> None:
    for arrival in batch:
        if not arrival.done.done():
            arrival.done.set_exception(IntakeUnavailable(reason))


class _Held:
    """A writer's connection: SQLAlchemy's (to give back to the pool) and the asyncpg one under it."""

    __slots__ = ("connection", "raw")

    def __init__(self) -> None:
        self.connection: AsyncConnection | None = None
        self.raw: Any = None


async def _discard(connection: AsyncConnection) -> None:
    """Never reuse a connection a batch failed on (it may be broken or mid-transaction)."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:  # noqa: BLE001 - already unusable
        log.warning("could not close a failed intake connection")


async def _release(connection: AsyncConnection) -> None:
    try:
        await connection.close()
    except Exception:  # noqa: BLE001 - shutting down
        log.warning("could not return an intake connection to the pool")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _time(moment: datetime) -> str:
    """A UTC datetime as pydantic writes it in JSON mode (``Z``, microseconds only when non-zero)."""
    return moment.isoformat().replace("+00:00", "Z")


def envelope_json(arrival: Arrival, source: str) -> str:
    """The ``webhook.received`` envelope exactly as ``Envelope.wrap(...).model_dump(mode="json")`` would be."""
    data: dict[str, Any] = {"webhook_id": str(arrival.webhook_id), "kind": arrival.kind}
    if arrival.hook_name is not None:
        data["hook"] = arrival.hook_name
    data["received_at"] = _time(arrival.received_at)
    data["content_sha256"] = arrival.sha256
    data["size_bytes"] = len(arrival.body)
    data["phone_number_ids"] = arrival.phone_number_ids
    if arrival.inline:
        data["payload"] = arrival.payload
    return _dumps({
        "specversion": SPEC_VERSION, "id": str(arrival.event_id), "type": _SPEC.type, "source": source,
        "time": data["received_at"], "subject": f"webhook/{arrival.webhook_id}", "datacontenttype": "application/json",
        "tenantid": str(arrival.tenant_id) if arrival.tenant_id is not None else None,
        "traceparent": arrival.traceparent, "schemaversion": _SPEC.version, "data": data,
    })


def partition_key(arrival: Arrival) -> str:
    """The registry's key for webhook.received: the first business number, else the webhook id."""
    return arrival.phone_number_ids[0] if arrival.phone_number_ids else str(arrival.webhook_id)


def batch_arguments(batch: list[Arrival], source: str) -> tuple[object, ...]:
    """The arrays ``_STORE`` takes, in parameter order."""
    ids = [a.webhook_id for a in batch]
    return (
        ids, [a.kind for a in batch], [a.received_at for a in batch], [a.body for a in batch],
        [_dumps(a.headers) for a in batch], [a.sha256 for a in batch], [len(a.body) for a in batch],
        [a.tenant_id for a in batch], [a.hook_id for a in batch],
        _SPEC.type, _SPEC.topic,
        [a.event_id for a in batch], [str(i) for i in ids], [partition_key(a) for a in batch],
        [envelope_json(a, source) for a in batch],
    )
