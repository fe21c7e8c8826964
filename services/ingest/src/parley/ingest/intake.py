"""Persist-first intake: concurrent webhooks are committed together, and each 200 waits for its commit.

Requests put their raw body on a queue and wait. Writer tasks take everything queued since
their last commit and write it in one synchronously committed transaction (rows + events),
so fsync cost is shared by the batch instead of paid per request (group commit). A failed
batch fails every request in it with a 503; Meta (or the hook's sender) retries those.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from prometheus_client import Histogram
from sqlalchemy import insert

from parley.contracts import new_event_id
from parley.contracts.events.webhooks import WebhookReceived
from parley.ingest.models import WebhookRecord
from parley.kit.db import Database
from parley.kit.eventstore import Append, EventStore
from parley.kit.telemetry import current_traceparent, get_logger

log = get_logger(__name__)

BATCH_SIZE = Histogram("parley_ingest_batch_size", "Webhooks committed per transaction",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
COMMIT_SECONDS = Histogram("parley_ingest_commit_seconds", "Time to durably commit one batch of webhooks",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))

#: Headers never worth keeping with a raw webhook.
_DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}


@dataclass
class Arrival:
    """One authentic webhook waiting for its commit."""

    kind: str
    body: bytes
    headers: dict[str, str]
    payload: object
    phone_number_ids: list[str]
    inline: bool
    sha256: str = ""
    tenant_id: UUID | None = None
    hook_id: UUID | None = None
    hook_name: str | None = None
    webhook_id: UUID = field(default_factory=new_event_id)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = field(default_factory=current_traceparent)
    done: asyncio.Future[UUID] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class IntakeUnavailable(Exception):
    """The batch holding this webhook could not be committed: nothing was stored, the sender must retry."""


class WebhookIntake:
    def __init__(self, db: Database, store: EventStore, *, writers: int = 2, max_batch: int = 256) -> None:
        self.db = db
        self.store = store
        self.writers = writers
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Arrival] = asyncio.Queue()

    async def submit(self, kind: str, body: bytes, headers: Mapping[str, str], *, payload: object,
                     phone_number_ids: list[str], inline_limit: int, tenant_id: UUID | None = None,
                     hook_id: UUID | None = None, hook_name: str | None = None) -> UUID:
        """Store one authentic webhook; returns its id once it is durable. Raises ``IntakeUnavailable``."""
        arrival = Arrival(
            kind=kind, body=body, payload=payload, phone_number_ids=phone_number_ids,
            headers={k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS},
            # WhatsApp bodies are read back from the database by ingest's own normalizer (the only consumer of
            # their webhook.received); inlining them would serialise every body twice on the hot path.
            inline=kind != "whatsapp" and isinstance(payload, dict) and len(body) <= inline_limit,
            sha256=hashlib.sha256(body).hexdigest(),
            tenant_id=tenant_id, hook_id=hook_id, hook_name=hook_name,
        )
        self._queue.put_nowait(arrival)
        return await arrival.done

    async def run(self) -> None:
        """Writer tasks, until cancelled; what is queued when they stop fails so senders retry."""
        writers = [asyncio.create_task(self._write_forever()) for _ in range(self.writers)]
        try:
            await asyncio.gather(*writers)
        finally:
            for writer in writers:
                writer.cancel()
            while not self._queue.empty():
                arrival = self._queue.get_nowait()
                if not arrival.done.done():
                    arrival.done.set_exception(IntakeUnavailable("ingest is shutting down"))

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[Arrival]) -> None:
        started = time.perf_counter()
        try:
            async with self.db.unit_of_work() as session:  # synchronous_commit=on for every ingest connection
                await session.execute(insert(WebhookRecord.__table__), [_record(a) for a in batch])
                await self.store.record_many(session, [
                    Append(_event(a), "webhook", str(a.webhook_id), 0, a.tenant_id, traceparent=a.traceparent)
                    for a in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter learns its webhook was not stored
            log.exception("webhook batch not committed", size=len(batch))
            for arrival in batch:
                if not arrival.done.done():
                    arrival.done.set_exception(IntakeUnavailable(f"{type(exc).__name__}: {exc}"))
            return
        COMMIT_SECONDS.observe(time.perf_counter() - started)
        BATCH_SIZE.observe(len(batch))
        for arrival in batch:
            if not arrival.done.done():
                arrival.done.set_result(arrival.webhook_id)


def _record(arrival: Arrival) -> dict[str, object]:
    return {"id": arrival.webhook_id, "kind": arrival.kind, "received_at": arrival.received_at, "body": arrival.body,
            "headers": arrival.headers, "content_sha256": arrival.sha256, "size_bytes": len(arrival.body),
            "status": "received", "tenant_id": arrival.tenant_id, "hook_id": arrival.hook_id}


def _event(arrival: Arrival) -> WebhookReceived:
    return WebhookReceived(
        webhook_id=arrival.webhook_id, kind=arrival.kind, hook=arrival.hook_name, received_at=arrival.received_at,
        content_sha256=arrival.sha256, size_bytes=len(arrival.body),
        phone_number_ids=arrival.phone_number_ids,
        payload=arrival.payload if arrival.inline else None,  # type: ignore[arg-type]
    )
